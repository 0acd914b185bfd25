"""Content-hash cache for per-source work (sectioning, extraction).

A source whose text and whose processing code are unchanged is not re-parsed: its result is
read back from ``<cache_dir>/sources/<stage>-<code_version>-<text sha256>.pkl``. The code version
hashes the modules and rule files of the stage, so a rule change invalidates every entry.
Entries are written to a temporary name and renamed, so a killed run leaves no half entry.
"""

from __future__ import annotations

import hashlib
import os
import pickle
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
    """Per-source results of one stage, keyed by the source text's hash and the stage's code."""

    def __init__(self, directory: Path | None, stage: str, version: str):
        self.directory = directory / "sources" if directory else None
        self.stage, self.version = stage, version
        self.hits = 0
        self.misses = 0
        self.used: set[str] = set()  # keys read or written by this run
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, text_sha: str) -> Path:
        return self.directory / f"{self.stage}-{self.version}-{text_sha}.pkl"

    def get(self, text_sha: str):
        if not self.directory:
            self.misses += 1
            return None
        path = self._path(text_sha)
        try:
            with open(path, "rb") as fh:
                value = pickle.load(fh)
        except FileNotFoundError:
            self.misses += 1
            return None
        except Exception:  # noqa: BLE001 - truncated, corrupt, or written by other library versions:
            self.misses += 1  # an entry is only ever a shortcut, so it is recomputed (and rewritten)
            return None
        self.hits += 1
        self.used.add(text_sha)
        return value

    def put(self, text_sha: str, value) -> None:
        if not self.directory:
            return
        self.used.add(text_sha)
        path = self._path(text_sha)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    def prune(self, stale_tmp_seconds: float = 3600.0) -> int:
        """Delete this stage's entries that this run neither read nor wrote: texts that are no
        longer in the corpus and entries of older code versions (otherwise the cache only
        grows, one entry per edit). Temporary files of interrupted writes older than
        ``stale_tmp_seconds`` go too. Call it after a stage has seen every current source.
        Returns the number of files removed."""
        if not self.directory:
            return 0
        keep = {self._path(key).name for key in self.used}
        removed = 0
        for path in self.directory.glob(f"{self.stage}-*.pkl"):
            if path.name not in keep:
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
        return removed
