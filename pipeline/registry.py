"""The source registry: which documents exist, what kind each is and where it starts.

``load_registry(path)`` returns the valid entries and a list of problems; one bad entry never
stops the others. No path may point outside the raw folder.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline.paths import DATA_DIR
from pipeline.problems import Problem

REQUIRED_FIELDS = ("source_id", "drug", "kind", "raw_path")
MARKER_FIELDS = ("start_marker", "start_marker_prefix")


@dataclass(frozen=True)
class SourceEntry:
    source_id: str
    drug: str
    kind: str
    format: str
    title: str
    publisher: str
    country: str
    language: str
    authority: int
    raw_path: str  # relative to the raw folder, POSIX separators
    start_marker: str = ""
    start_marker_prefix: str = ""
    end_marker: str = ""
    end_marker_prefix: str = ""
    extra: dict = field(default_factory=dict, hash=False, compare=False)


@lru_cache(maxsize=1)
def source_kinds() -> dict:
    with open(DATA_DIR / "source_kinds.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def authority_label(tier: int) -> str:
    return source_kinds()["authority_labels"].get(int(tier), "unknown")


def raw_file_resolver(raw_root: Path):
    """A function rel -> the file ``rel`` inside ``raw_root`` (resolved as ``Path.resolve`` does),
    or None when it would escape it. The folder is resolved once for all the files asked for;
    a plain file name that is no link then costs one ``lstat``, not a walk of the whole path."""
    root = raw_root.resolve()

    def resolve(rel: str) -> Path | None:
        if not rel or Path(rel).is_absolute():
            return None
        if "/" not in rel and rel not in (".", ".."):
            candidate = root / rel
            try:
                if not stat.S_ISLNK(os.lstat(candidate).st_mode):
                    return candidate
            except OSError:  # missing or unreadable: resolve() leaves such a name as it is
                return candidate
        candidate = (root / rel).resolve()
        try:
            candidate.relative_to(root)
        except ValueError:
            return None
        return candidate

    return resolve


def load_registry(path: Path, cache_dir: Path | None = None) -> tuple[list[SourceEntry], list[Problem]]:
    """Parse ``registry.toml`` next to the raw documents.

    Returns (entries, problems). A syntax error yields no entries and one problem naming the
    line; a bad entry is skipped with a problem naming its index and source_id. With
    ``cache_dir`` the result is kept there under the hash of the registry's bytes, of this
    module and of the source kinds, and read back while they are unchanged (parsing thousands
    of entries takes seconds; an incremental run reads the registry again).
    """
    if cache_dir is not None:
        import hashlib
        import pickle

        from pipeline.cache import fresh_code_version

        try:
            data = path.read_bytes()
        except OSError:
            return load_registry(path)
        key = hashlib.sha256(data + str(path.parent.resolve()).encode()
                             + fresh_code_version("registry.py", "problems.py", "data/source_kinds.yaml").encode()
                             ).hexdigest()[:24]
        cached = cache_dir / f"registry-{key}.pkl"
        try:
            with open(cached, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # noqa: BLE001 - no entry (or an unreadable one): parse
            pass
        source_kinds.cache_clear()  # the key holds the kinds file as it is now: parse with it
        result = load_registry(path)
        cache_dir.mkdir(parents=True, exist_ok=True)
        for old in cache_dir.glob("registry-*.pkl"):
            old.unlink(missing_ok=True)
        tmp = cached.with_name(cached.name + ".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cached)
        return result
    raw_root = path.parent
    rel_name = path.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], [Problem("registry", "error", rel_name, "", f"registry file {path} does not exist",
                            "create raw/registry.toml with one [[source]] table per source")]
    except OSError as exc:
        return [], [Problem("registry", "error", rel_name, "", f"registry file {path} cannot be read: {exc.strerror or exc}",
                            "make raw/registry.toml a readable text file; no source was read")]
    try:
        doc = tomllib.loads(data.decode("utf-8-sig"))  # a byte-order mark from a Windows editor is harmless
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return [], [Problem("registry", "error", rel_name, "",
                            f"registry is not UTF-8: undecodable byte 0x{data[exc.start]:02x} at line {line} (byte {exc.start})",
                            "re-save raw/registry.toml as UTF-8; no source was read")]
    except tomllib.TOMLDecodeError as exc:
        return [], [Problem("registry", "error", rel_name, "", f"registry is not valid TOML: {exc}",
                            "fix the syntax at the line named; no source was read")]

    kinds = source_kinds()["kinds"]
    entries: list[SourceEntry] = []
    problems: list[Problem] = []
    seen_ids: set[str] = set()
    inside: dict[str, bool] = {}  # raw_path -> inside the raw folder (a file holds several sources)
    resolve_inside = raw_file_resolver(raw_root)
    for index, item in enumerate(doc.get("source", []), start=1):
        label = f"[[source]] #{index}"
        if not isinstance(item, dict):
            problems.append(Problem("registry", "error", rel_name, "", f"{label} is not a table",
                                    "write each source as a [[source]] table"))
            continue
        sid = str(item.get("source_id", ""))
        missing = [f for f in REQUIRED_FIELDS if not str(item.get(f, "")).strip()]
        if missing:
            problems.append(Problem("registry", "error", rel_name, sid,
                                    f"{label} lacks required field(s) {', '.join(missing)}",
                                    "add the missing fields; this source was skipped"))
            continue
        if not any(str(item.get(f, "")).strip() for f in MARKER_FIELDS):
            problems.append(Problem("registry", "error", rel_name, sid,
                                    f"{label} has neither start_marker nor start_marker_prefix",
                                    "name the line that starts the source; this source was skipped"))
            continue
        if sid in seen_ids:
            problems.append(Problem("registry", "error", rel_name, sid, f"{label} repeats source_id {sid!r}",
                                    "give every source a unique source_id; the repeat was skipped"))
            continue
        raw_rel = str(item["raw_path"]).replace("\\", "/")
        if raw_rel not in inside:
            inside[raw_rel] = resolve_inside(raw_rel) is not None
        if not inside[raw_rel]:
            problems.append(Problem("registry", "error", rel_name, sid,
                                    f"{label} raw_path {raw_rel!r} points outside the raw folder",
                                    "use a path relative to raw/ without '..'; this source was skipped"))
            continue
        kind = str(item["kind"])
        known = kinds.get(kind)
        fmt = str(item.get("format") or (known["format"] if known else "generic"))
        if known is None:
            problems.append(Problem("registry", "warning", rel_name, sid,
                                    f"{label} has unknown kind {kind!r}",
                                    "processed with the generic section parser; add the kind to "
                                    "pipeline/data/source_kinds.yaml to give it a tier"))
        try:
            value = item.get("authority", known["authority"] if known else 4)
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            authority = int(value)
            if not 1 <= authority <= 5:  # SourcesModel allows 1-5 only; one bad tier must not block publication
                raise ValueError(value)
        except (TypeError, ValueError):
            problems.append(Problem("registry", "error", rel_name, sid,
                                    f"{label} authority {item.get('authority')!r} is not a tier 1-5",
                                    "set authority to a whole number 1-5; this source was skipped"))
            continue
        known_fields = set(SourceEntry.__dataclass_fields__) - {"extra"}
        entries.append(SourceEntry(
            source_id=sid, drug=str(item["drug"]).strip().lower(), kind=kind, format=fmt,
            title=str(item.get("title", "")), publisher=str(item.get("publisher", "")),
            country=str(item.get("country", "")), language=str(item.get("language", "")),
            authority=authority, raw_path=raw_rel,
            start_marker=str(item.get("start_marker", "")),
            start_marker_prefix=str(item.get("start_marker_prefix", "")),
            end_marker=str(item.get("end_marker", "")),
            end_marker_prefix=str(item.get("end_marker_prefix", "")),
            extra={k: v for k, v in item.items() if k not in known_fields},
        ))
        seen_ids.add(sid)
    if not entries and not problems:
        problems.append(Problem("registry", "warning", rel_name, "", "registry declares no [[source]]",
                                "declare sources to process"))
    return entries, problems
