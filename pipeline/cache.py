"""Content-hash cache for per-source work (sectioning, extraction).

A source whose text and whose processing code are unchanged is not re-parsed: its result is
read back from a pack file ``<cache_dir>/sources/<stage>-<code_version>-<token>.pack`` that holds
the entries of one batch, each under its key (the text's hash and what else the stage keys on).
The code version hashes the modules and rule files of the stage, so a rule change invalidates
every entry. Packs are written to a temporary name and renamed, so a killed run leaves no half
pack.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import pickle
import struct
import time
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=8)
def code_version(*relative_paths: str) -> str:
    """Hash of the files (and folders, recursively) named relative to the package (memoised for
    the process: stage caches ask for it once per source)."""
    return fresh_code_version(*relative_paths)


def fresh_code_version(*relative_paths: str) -> str:
    """``code_version`` read from disk now (a long-lived process such as the sensor's must see a
    rule file edited after it started)."""
    digest = hashlib.sha256()
    for rel in relative_paths:
        path = PACKAGE / rel
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".py", ".yaml", ".tsv", ".sql", ".j2")) \
            if path.is_dir() else [path]
        for f in files:
            digest.update(str(f.relative_to(PACKAGE)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks; '' when it cannot be read (missing, a folder,
    no permission): '' differs from every hash, so a caller comparing hashes sees a change."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


# The code and rule files each cached stage depends on: a change to any of them re-runs the stage.
STAGE_CODE = {
    "sections": ("sections.py", "textutil.py", "data/section_cues.yaml"),
    "facts": ("extract", "sections.py", "textutil.py", "schemas.py", "data"),
    "reconcile": ("reconcile.py", "textutil.py", "data/reconcile.yaml"),
}


def stage_cache(directory: Path | None, stage: str) -> "SourceCache":
    """The content-hash cache of ``stage`` (one of STAGE_CODE) under ``directory``."""
    return SourceCache(directory, stage, code_version(*STAGE_CODE[stage]))


class SourceCache:
    """Per-source results of one stage, keyed by the source text's hash and the stage's code.

    Entries are kept in pack files, ``<stage>-<version>-<token>.pack``: ``put`` holds an entry
    in memory and ``flush`` writes every held entry as one pack (a worker's batch of sources is
    one file, not one file per source: creating a small file costs more than pickling it). A
    pack is the pickled entries one after another, then an index (key -> offset, length), then
    a footer (the index's offset and a magic tag), so ``get`` reads one entry, not the pack.
    Packs are written to a temporary name and renamed. When two packs hold a key, the newer
    (by name: the token starts with the time in nanoseconds) wins."""

    PENDING_LIMIT = 32 << 20     # bytes held before ``put`` writes a pack on its own
    SMALL_PACK_BYTES = 1 << 20   # packs under this size ...
    MAX_SMALL_PACKS = 8          # ... are joined by ``prune`` when there are more than this many

    def __init__(self, directory: Path | None, stage: str, version: str):
        self.directory = directory / "sources" if directory else None
        self.stage, self.version = stage, version
        self.hits = 0
        self.misses = 0
        self.used: set[str] = set()  # keys read or written by this run
        self._pending: dict[str, bytes] = {}
        self._pending_bytes = 0
        self._where: dict[str, tuple[Path, int, int]] | None = None  # key -> (pack, offset, length)
        self._read: set[str] = set()  # the packs read into ``_where``
        self._mtime: int | None = None  # the folder's modification time when it was last listed
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ reading
    def _packs(self, version: str | None = None) -> list[Path]:
        """This stage's packs (of ``version``, or of every version), oldest first."""
        pattern = f"{self.stage}-{version}-*.pack" if version else f"{self.stage}-*.pack"
        return sorted(self.directory.glob(pattern), key=lambda p: p.name)

    def _locations(self) -> dict[str, tuple[Path, int, int]]:
        """key -> (pack, offset, length) for this stage and version. Packs written since the
        folder was last read (by workers, or by another run) are read in when the folder's
        modification time has changed: a stat per look-up, a listing only after a write."""
        try:
            mtime = os.stat(self.directory).st_mtime_ns  # before the listing: a pack written meanwhile
        except OSError:                                  # is read now and again next time, not missed
            mtime = None
        if self._where is None or mtime != self._mtime:
            if self._where is None:
                self._where, self._read = {}, set()
            for pack in self._packs(self.version):  # oldest first, so the newest holder of a key wins
                if pack.name not in self._read:
                    self._read.add(pack.name)
                    for key, (offset, length) in read_pack_index(pack).items():
                        self._where[key] = (pack, offset, length)
            coarse = mtime is not None and mtime % 1_000_000_000 == 0  # a file system with whole-second times
            recent = coarse and time.time_ns() - mtime < 2_000_000_000  # may change again within the second
            self._mtime = None if recent else mtime
        return self._where

    def get(self, text_sha: str):
        if not self.directory:
            self.misses += 1
            return None
        try:
            if text_sha in self._pending:
                value = pickle.loads(self._pending[text_sha])
            else:
                where = self._locations().get(text_sha)
                if where is None:
                    self.misses += 1
                    return None
                pack, offset, length = where
                with open(pack, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read(length)
                value = pickle.loads(data)
        except Exception:  # noqa: BLE001 - a pack removed meanwhile, a truncated or corrupt entry, or one
            self.misses += 1  # written by other library versions: an entry is only ever a shortcut, so it
            return None       # is recomputed (and rewritten, in a newer pack that wins)
        self.hits += 1
        self.used.add(text_sha)
        return value

    # ------------------------------------------------------------------ writing
    def put(self, text_sha: str, value) -> None:
        if not self.directory:
            return
        self.used.add(text_sha)
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self._pending_bytes += len(data) - len(self._pending.get(text_sha, b""))
        self._pending[text_sha] = data
        if self._pending_bytes >= self.PENDING_LIMIT:
            self.flush()

    def flush(self) -> Path | None:
        """Write the entries ``put`` holds as one pack; returns its path (None when none was held)."""
        if not self.directory or not self._pending:
            return None
        pending, self._pending, self._pending_bytes = self._pending, {}, 0
        return write_pack(self.directory, f"{self.stage}-{self.version}", pending)  # read in on the next look-up

    # ------------------------------------------------------------------ pruning
    def prune(self, stale_tmp_seconds: float = 3600.0, compact_below: float = 0.5) -> int:
        """Delete this stage's entries that this run neither read nor wrote: texts that are no
        longer in the corpus and entries of older code versions (otherwise the cache only
        grows, one entry per edit). Call it after a stage has seen every current source (and
        after the workers that wrote for it have finished). Returns the number of entries deleted
        (an unused entry in a pack that is kept stays until its pack is rewritten).

        A pack none of whose entries is kept is deleted. A pack whose kept entries are under
        ``compact_below`` of its bytes is rewritten with those only, so at most about half of
        the cache's bytes are dead; and when more than ``MAX_SMALL_PACKS`` packs are under
        ``SMALL_PACK_BYTES`` (the few entries each incremental run writes), their kept entries
        are joined into one pack, so reading the folder stays cheap. Temporary files of
        interrupted writes older than ``stale_tmp_seconds`` go too, and so do single-entry
        files of the earlier layout."""
        if not self.directory:
            return 0
        self.flush()
        packs = self._packs()  # listed now: workers may have written packs since this object read the folder
        indexes = {pack: read_pack_index(pack) for pack in packs}
        owner: dict[str, Path] = {}  # key -> the newest pack of this version holding it (the one ``get`` reads)
        for pack in packs:
            if pack.name.startswith(f"{self.stage}-{self.version}-"):
                owner.update(dict.fromkeys(indexes[pack], pack))
        removed = 0
        rewrite: list[tuple[Path, dict]] = []
        small: list[tuple[Path, dict, dict]] = []
        for pack in packs:
            index = indexes[pack]
            live = {k: v for k, v in index.items() if k in self.used and owner.get(k) == pack}
            if not live:
                removed += len(index) or 1  # an unreadable pack counts as one entry
                pack.unlink(missing_ok=True)
                continue
            size = pack.stat().st_size
            if len(live) < len(index) and sum(n for _, n in live.values()) < compact_below * size:
                rewrite.append((pack, live))
                removed += len(index) - len(live)
            elif size < self.SMALL_PACK_BYTES:
                small.append((pack, index, live))
        if len(small) > self.MAX_SMALL_PACKS:
            rewrite += [(pack, live) for pack, _, live in small]
            removed += sum(len(index) - len(live) for _, index, live in small)
        if rewrite:
            entries: dict[str, bytes] = {}
            for pack, live in rewrite:
                with open(pack, "rb") as fh:
                    for key, (offset, length) in live.items():
                        fh.seek(offset)
                        entries[key] = fh.read(length)
            write_pack(self.directory, f"{self.stage}-{self.version}", entries)
            for pack, _ in rewrite:
                pack.unlink(missing_ok=True)
        for path in self.directory.glob(f"{self.stage}-*.pkl"):  # the one-file-per-entry layout
            path.unlink(missing_ok=True)
            removed += 1
        for path in self.directory.glob(f"{self.stage}-*.tmp"):
            try:
                old = time.time() - path.stat().st_mtime > stale_tmp_seconds
            except FileNotFoundError:
                continue
            if old:
                path.unlink(missing_ok=True)
                removed += 1
        self._where = None
        return removed

    def keys(self) -> set[str]:
        """The keys this stage and code version hold on disk (and in memory)."""
        if not self.directory:
            return set()
        self._where = None
        return set(self._locations()) | set(self._pending)


_PACK_MAGIC = b"SCPACK1\n"
_FOOTER = struct.Struct("<Q8s")  # the index's offset, then the magic tag
_pack_counter = itertools.count()


def write_pack(directory: Path, prefix: str, entries: dict[str, bytes]) -> Path:
    """Write pickled ``entries`` (key -> bytes) as one pack ``<prefix>-<token>.pack`` in
    ``directory``, through a temporary name; returns its path."""
    token = f"{time.time_ns():020d}-{os.getpid()}-{next(_pack_counter)}"
    path = directory / f"{prefix}-{token}.pack"
    tmp = path.with_name(f"{path.name}.tmp")
    index: dict[str, tuple[int, int]] = {}
    with open(tmp, "wb") as fh:
        fh.write(_PACK_MAGIC)
        offset = len(_PACK_MAGIC)
        for key, data in entries.items():
            fh.write(data)
            index[key] = (offset, len(data))
            offset += len(data)
        fh.write(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
        fh.write(_FOOTER.pack(offset, _PACK_MAGIC))
    os.replace(tmp, path)
    return path


def read_pack_index(path: Path) -> dict[str, tuple[int, int]]:
    """A pack's index (key -> (offset, length)); {} when the pack is gone or is not a whole pack."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size < len(_PACK_MAGIC) + _FOOTER.size:
                return {}
            fh.seek(size - _FOOTER.size)
            offset, magic = _FOOTER.unpack(fh.read(_FOOTER.size))
            if magic != _PACK_MAGIC or not len(_PACK_MAGIC) <= offset <= size - _FOOTER.size:
                return {}
            fh.seek(offset)
            index = pickle.loads(fh.read(size - _FOOTER.size - offset))
    except Exception:  # noqa: BLE001 - missing, unreadable or corrupt: the pack holds nothing usable
        return {}
    return index if isinstance(index, dict) else {}
