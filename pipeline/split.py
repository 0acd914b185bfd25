"""Split raw files into sources.

``read_raw_text`` decodes one raw file (refusing binary junk and oversized files, noting any
repair); ``split_sources`` cuts a decoded file into the sources the registry declares for it and
accounts for every character: each character belongs to exactly one source or one unassigned
segment.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.problems import Problem
from pipeline.registry import SourceEntry, authority_label
from pipeline.textutil import iter_lines

# UTF-8 bytes read as Latin-1/Windows-1252: "Ã©", "â€™", "Ð°" and the like.
_MOJIBAKE = re.compile("(?:\u00c3[\u0080-\u00bf]|\u00e2\u20ac[\u0080-\u00bf\u2122\u0153\u201c\u201d\u02dc\u00a6\u00a2\u00a1\u2019\u2018]|[\u00d0\u00d1][\u0080-\u00bf\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122])")
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")


@dataclass(frozen=True)
class DecodedFile:
    raw_path: str
    text: str | None  # None when the file could not be read at all
    encoding: str
    sha256: str       # of the raw bytes
    n_bytes: int


# control characters other than tab, line feed and carriage return: a text file has few of them
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13))

def read_raw_text(path: Path | None, raw_rel: str, max_bytes: int, control_ratio: float) -> tuple[DecodedFile, list[Problem]]:
    """Decode a raw file. Offsets downstream are code points into the returned text, read with
    no newline translation. Returns text=None (and an error problem) for empty, binary,
    oversized or missing files; decodes cp1251 or strips a byte-order mark with a warning."""
    problems: list[Problem] = []

    def refuse(reason: str, action: str, sha: str = "", n: int = 0) -> tuple[DecodedFile, list[Problem]]:
        problems.append(Problem("split", "error", raw_rel, "", reason, action))
        return DecodedFile(raw_rel, None, "", sha, n), problems

    if path is None:
        return refuse(f"raw_path {raw_rel!r} resolves outside the raw folder",
                      "use a path relative to raw/ that is not a link leading out of it")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return refuse(f"raw file {raw_rel} does not exist", "add the file to raw/ or fix raw_path in the registry")
    if not path.is_file():
        return refuse(f"raw_path {raw_rel!r} is not a regular file", "point raw_path at a text file inside raw/")
    if size > max_bytes:
        return refuse(f"raw file is {size:,} bytes, over the limit of {max_bytes:,}",
                      "split the file into one file per source, or raise raw_file_max_bytes in pipeline/data/thresholds.yaml")
    try:
        data = path.read_bytes()
    except OSError as exc:
        return refuse(f"raw file cannot be read: {exc.strerror or exc}", "make the file readable; its sources were skipped")
    sha = hashlib.sha256(data).hexdigest()
    if not data.strip():
        return refuse("raw file is empty", "replace it with the page text; its sources were skipped", sha, len(data))
    sample = data[:65536]
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if b"\x00" in sample and not sample.startswith((b"\xff\xfe", b"\xfe\xff")) or controls / len(sample) > control_ratio:
        return refuse(f"raw file looks binary ({controls} control bytes in the first {len(sample)})",
                      "save the page as plain text (UTF-8); its sources were skipped", sha, len(data))

    encoding = "utf-8"
    if data.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
        problems.append(Problem("split", "warning", raw_rel, "", "file starts with a UTF-8 byte-order mark",
                                "the mark was removed before parsing; offsets count from the character after it"))
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
        problems.append(Problem("split", "warning", raw_rel, "", "file is UTF-16 with a byte-order mark",
                                "decoded as UTF-16; save it as UTF-8 to silence this"))
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        cp = data.decode("cp1251", errors="replace")
        if len(_CYRILLIC.findall(cp)) > 20:
            text, encoding = cp, "cp1251"
            at = exc.start  # one byte per character in Windows-1251
            problems.append(Problem("split", "warning", raw_rel, "",
                                    f"file is not UTF-8 (byte {exc.start}); decoded as Windows-1251 Cyrillic",
                                    "re-save the file as UTF-8 to silence this", at, at + 1, text[max(0, at - 20):at + 20]))
        else:
            text, encoding = data.decode("utf-8", errors="replace"), "utf-8-replace"
            at = text.find("\ufffd")
            problems.append(Problem("split", "warning", raw_rel, "",
                                    f"invalid UTF-8 at byte {exc.start}; undecodable bytes became U+FFFD",
                                    "re-save the file as UTF-8; facts near U+FFFD may be garbled",
                                    at, at + 1 if at >= 0 else -1, text[max(0, at - 20):at + 20] if at >= 0 else ""))
    for m in list(_MOJIBAKE.finditer(text))[:1]:
        problems.append(Problem("split", "warning", raw_rel, "", "text contains mojibake (UTF-8 read as Latin-1/1252)",
                                "re-export the page as UTF-8; affected words will not match vocabularies",
                                m.start(), m.end(), text[max(0, m.start() - 20):m.end() + 20]))
    return DecodedFile(raw_rel, text, encoding, sha, len(data)), problems


def _find_marker_lines(text: str, exact: str, prefix: str) -> list[tuple[int, int]]:
    """(content_start, content_end) of each line equal to ``exact`` or starting with ``prefix``.

    The marker is searched for with ``str.find`` and only the lines it occurs on are looked at
    (walking every line once per marker made splitting a large file slow)."""
    needles = [(m.strip(), whole) for m, whole in ((exact, True), (prefix, False)) if m]
    if any(not needle for needle, _ in needles):
        return _find_marker_lines_by_walking(text, exact, prefix)  # a blank marker: every line decides
    found: set[tuple[int, int]] = set()
    n = len(text)
    for needle, whole in needles:
        pos = text.find(needle)
        while pos != -1:
            line_start = text.rfind("\n", 0, pos) + 1
            line_end = text.find("\n", pos)
            line_end = n if line_end == -1 else line_end
            line = text[line_start:line_end]
            if line.endswith("\r"):
                line = line[:-1]
            content = line.strip()
            if content == needle if whole else content.startswith(needle):
                end = line_start + len(line.rstrip())
                found.add((min(line_start + len(line) - len(line.lstrip()), end), end))
                pos = text.find(needle, line_end)
            else:
                pos = text.find(needle, pos + 1)
    return sorted(found)


def _find_marker_lines_by_walking(text: str, exact: str, prefix: str) -> list[tuple[int, int]]:
    hits = []
    for line in iter_lines(text):
        s = line.stripped
        if (exact and s == exact.strip()) or (prefix and s.startswith(prefix.strip())):
            hits.append((line.content_start, line.content_end))
    return hits


def split_sources(decoded: DecodedFile, entries: list[SourceEntry]) -> tuple[list[dict], list[dict], list[Problem]]:
    """Cut one decoded raw file into its sources.

    Returns (sources, segments, problems). ``segments`` covers [0, len(text)) exactly, in order,
    each with the source_id it belongs to or None for unassigned text; a source's
    char_start/char_end are offsets into the raw file.
    """
    text = decoded.text or ""
    problems: list[Problem] = []
    starts: list[tuple[int, SourceEntry]] = []
    for entry in entries:
        hits = _find_marker_lines(text, entry.start_marker, entry.start_marker_prefix)
        marker = entry.start_marker or entry.start_marker_prefix + "…"
        if not hits:
            problems.append(Problem("split", "error", decoded.raw_path, entry.source_id,
                                    f"start marker {marker!r} not found in the file",
                                    "fix start_marker in raw/registry.toml (it must equal a whole line, or be its prefix "
                                    "with start_marker_prefix); this source was skipped"))
            continue
        if len(hits) > 1:
            problems.append(Problem("split", "error", decoded.raw_path, entry.source_id,
                                    f"start marker {marker!r} found {len(hits)} times (chars {', '.join(str(h[0]) for h in hits[:5])})",
                                    "make the marker unique (use a longer line); this source was skipped",
                                    hits[0][0], hits[0][1]))
            continue
        if any(s == hits[0][0] for s, _ in starts):
            problems.append(Problem("split", "error", decoded.raw_path, entry.source_id,
                                    "two sources start at the same line", "give each source its own marker; this one was skipped",
                                    hits[0][0], hits[0][1]))
            continue
        starts.append((hits[0][0], entry))
    starts.sort(key=lambda t: t[0])

    sources: list[dict] = []
    for i, (start, entry) in enumerate(starts):
        limit = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        end = limit
        if entry.end_marker or entry.end_marker_prefix:
            window = text[start:limit]
            found = _find_marker_lines(window, entry.end_marker, entry.end_marker_prefix)
            if found:
                end = start + found[0][1]
            else:
                problems.append(Problem("split", "warning", decoded.raw_path, entry.source_id,
                                        f"end marker {(entry.end_marker or entry.end_marker_prefix)!r} not found before the next source",
                                        "the source was taken up to the next source; the page may be truncated",
                                        start, limit))
        while end > start and text[end - 1].isspace():
            end -= 1
        body = text[start:end]
        sources.append({
            "source_id": entry.source_id, "drug": entry.drug, "kind": entry.kind, "format": entry.format,
            "title": entry.title, "publisher": entry.publisher, "country": entry.country,
            "language": entry.language, "authority": entry.authority,
            "authority_label": authority_label(entry.authority), "raw_path": decoded.raw_path,
            "char_start": start, "char_end": end, "n_chars": end - start,
            "sha256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
            "raw_sha256": decoded.sha256, "encoding": decoded.encoding, "text": body,
        })

    segments: list[dict] = []
    pos = 0
    for src in sources:
        if src["char_start"] > pos:
            segments.append(_unassigned(decoded, text, pos, src["char_start"], problems))
        segments.append({"raw_path": decoded.raw_path, "char_start": src["char_start"], "char_end": src["char_end"],
                         "source_id": src["source_id"], "is_whitespace": False})
        pos = src["char_end"]
    if pos < len(text):
        segments.append(_unassigned(decoded, text, pos, len(text), problems))
    for i, seg in enumerate(segments):
        seg["segment_index"] = i
    return sources, segments, problems


def _unassigned(decoded: DecodedFile, text: str, start: int, end: int, problems: list[Problem]) -> dict:
    chunk = text[start:end]
    blank = not chunk.strip()
    if not blank:
        problems.append(Problem("split", "warning", decoded.raw_path, "",
                                f"{end - start} characters belong to no declared source",
                                "declare a source for this text in raw/registry.toml, or remove it from the file",
                                start, end, chunk.strip()[:120]))
    return {"raw_path": decoded.raw_path, "char_start": start, "char_end": end, "source_id": None,
            "is_whitespace": blank}


def split_all(raw_root: Path, entries: list[SourceEntry], max_bytes: int, control_ratio: float
              ) -> tuple[pd.DataFrame, pd.DataFrame, list[Problem]]:
    """Read every raw file named in the registry and split it. Returns (sources, raw_segments,
    problems); a file that cannot be read costs only its own sources."""
    from pipeline.registry import raw_file_resolver

    resolve_raw_file = raw_file_resolver(raw_root)
    by_file: dict[str, list[SourceEntry]] = {}
    for e in entries:
        by_file.setdefault(e.raw_path, []).append(e)
    all_sources: list[dict] = []
    all_segments: list[dict] = []
    problems: list[Problem] = []
    for raw_rel, file_entries in sorted(by_file.items()):
        path = resolve_raw_file(raw_rel)
        decoded, probs = read_raw_text(path, raw_rel, max_bytes, control_ratio)
        problems += probs
        if decoded.text is None:
            for e in file_entries:
                problems.append(Problem("split", "error", raw_rel, e.source_id, "source skipped: its raw file could not be read",
                                        "see the file's own error above"))
            continue
        srcs, segs, probs = split_sources(decoded, file_entries)
        all_sources += srcs
        all_segments += segs
        problems += probs
    return pd.DataFrame(all_sources), pd.DataFrame(all_segments), problems
