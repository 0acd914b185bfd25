"""Split one source into sections and list items.

``section_source(source_id, text, fmt)`` returns (sections, items, problems) as lists of dicts.
Headings are recognised by structure (short line, no closing full stop, a question, a
``Label:`` line, SmPC numbering) and named with a topic from ``data/section_cues.yaml``.
Navigation, tables of contents and advertising become ``boilerplate`` sections so no later stage
reads them as facts. Every offset is relative to the start of the source; a section's stored
``text`` is exactly ``source_text[char_start:char_end]`` and includes its heading line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from functools import lru_cache

import yaml
from rapidfuzz import fuzz

from pipeline.extract.prefilter import lowered, may_match
from pipeline.frames import column_rows
from pipeline.paths import DATA_DIR
from pipeline.perf import gc_paused_call
from pipeline.problems import Problem
from pipeline.textutil import Line, iter_lines, parsing_view

if TYPE_CHECKING:
    import pandas as pd

# "â€¢" is the bullet of a page saved as UTF-8 and read as Windows-1252 (mojibake, flagged at split)
BULLET = re.compile(r"^(?P<marker>[•·▪●◦‣∙*]|â€¢|[-–—](?=\s*\S)|\d{1,2}[.)](?=\s)|[a-z][.)](?=\s))\s*")
SMPC_HEADING = re.compile(r"^\d{1,2}(?:\.\d{1,2})+\.?\s+\S")
CAPS_NUMBERED_HEADING = re.compile(r"^\d{1,2}\.\s+[A-Z][A-Z0-9 ,;()/'-]{3,}$")
LEAD_IN_WORDS = re.compile(
    r"\b(include|includes|including|may|might|can|are|is|was|were|have|has|had|should|will|following|"
    r"such as|these|this|if|you|your|we|they)\b", re.I)
MAX_HEADING_WORDS = 14
MAX_LABEL_WORDS = 6


@dataclass
class _Cues:
    rules: list[tuple[str, re.Pattern]]
    cta: list[re.Pattern]
    phone: re.Pattern
    not_phone: re.Pattern
    phone_max_words: int
    neighbour_max_words: int
    growth_max_lines: int
    topics: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def cues() -> _Cues:
    with open(DATA_DIR / "section_cues.yaml", encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    return _Cues(
        rules=[(r["topic"], re.compile(r["pattern"], re.I)) for r in doc["rules"]],
        cta=[re.compile(r["pattern"], re.I) for r in doc["advertising_cta"]],
        phone=re.compile(doc["phone_pattern"]),
        not_phone=re.compile(doc["not_phone_pattern"]),
        phone_max_words=int(doc["phone_line_max_words"]),
        neighbour_max_words=int(doc["ad_neighbour_max_words"]),
        growth_max_lines=int(doc["ad_growth_max_lines"]),
        topics=list(doc["topics"]),
    )


@lru_cache(maxsize=1 << 16)
def heading_topic(heading: str) -> str | None:
    """Topic named by a heading's wording, or None when no rule applies (memoised: the same
    headings come back page after page)."""
    h = heading.strip().rstrip(":?").strip()
    low = lowered(h)  # rules whose required words are absent are not run
    for topic, pattern in cues().rules:
        if may_match(pattern, low) and pattern.search(h):
            return topic
    return None


def _title_case_share(words: list[str]) -> float:
    long_words = [w for w in words if len(w.strip("()[]\"'")) >= 4]
    if not long_words:
        return 1.0
    return sum(1 for w in long_words if w.strip("()[]\"'")[:1].isupper()) / len(long_words)


def _heading_kind(line: Line, is_first: bool) -> str | None:
    """'title', 'heading', 'label', 'weak' (a heading only if context agrees) or None."""
    s = line.stripped
    if not s:
        return None
    if is_first:
        return "title"
    if BULLET.match(s) and not (SMPC_HEADING.match(s) or CAPS_NUMBERED_HEADING.match(s)):
        return None
    if SMPC_HEADING.match(s) and len(s) <= 120 or CAPS_NUMBERED_HEADING.match(s):
        return "heading"
    words = s.split()
    if len(s) > 120 or len(words) > MAX_HEADING_WORDS:
        return None
    if s.endswith("?"):
        return "heading" if len(words) <= 15 else None
    if s.endswith(":"):
        if len(words) <= MAX_LABEL_WORDS and not LEAD_IN_WORDS.search(s) and (s[0].isupper() or s[0].isdigit()):
            return "label"
        return None
    if s[-1] in ".!;,":
        return None
    if not (s[0].isupper() or s[0].isdigit()):
        return None
    if ":" in s:
        label, _, value = s.partition(":")
        label_words, value_words = label.split(), value.split()
        sentence_case_label = len(label_words) >= 2 and all(w[:1].islower() for w in label_words[1:])
        if value_words and len(label_words) <= 3 and (sentence_case_label or _title_case_share(value_words) < 0.6):
            return None  # a "Field: value" line such as "Brand names: A, B" or "Drug class: ..."
    return "heading" if heading_topic(s) else "weak"


def _is_ad_line(s: str) -> bool:
    c = cues()
    low = lowered(s)  # patterns whose required words are absent are not run
    if any(may_match(p, low) and p.search(s) for p in c.cta):
        return True
    return (may_match(c.phone, low) and bool(c.phone.search(s)) and not c.not_phone.match(s.strip())
            and len(s.split()) <= c.phone_max_words)


def _short_unpunctuated(s: str, max_words: int) -> bool:
    s = BULLET.sub("", s).strip()
    return bool(s) and len(s.split()) <= max_words and s[-1] not in ".;:!?"


def _advert_lines(lines: list[Line], strong_headings: set[int]) -> set[int]:
    """Indexes of lines that form advertising runs: an ad line plus up to a few short
    unpunctuated lines around it, never past a heading that names a topic."""
    c = cues()
    marked: set[int] = set()
    for i, line in enumerate(lines):
        if line.stripped and _is_ad_line(line.stripped):
            marked.add(i)
    if not marked:
        return marked
    grown = set(marked)
    for i in sorted(marked):
        for step in (-1, 1):
            j, taken = i + step, 0
            while 0 <= j < len(lines) and taken < c.growth_max_lines:
                s = lines[j].stripped
                if not s or j in grown:
                    j += step
                    continue
                if j in strong_headings:
                    break
                if _short_unpunctuated(s, c.neighbour_max_words) or _is_ad_line(s):
                    grown.add(j)
                    taken += 1
                    j += step
                else:
                    break
    return grown


def _list_depths(indents: list[int]) -> list[int]:
    levels = sorted(set(indents))
    return [levels.index(i) for i in indents]


def section_source(source_id: str, text: str, fmt: str = "generic") -> tuple[list[dict], list[dict], list[Problem]]:
    """Sections and list items of one source (offsets relative to ``text``).

    ``fmt`` names the publisher template; the rules are structural and shared, so an unknown
    format gets the same generic sectioning. Returns (sections, items, problems).
    """
    view = parsing_view(text)
    lines = [ln for ln in iter_lines(view)]
    nonblank = [i for i, ln in enumerate(lines) if ln.stripped]
    if not nonblank:
        return [], [], [Problem("sections", "error", "", source_id, "source has no text", "check the raw file and markers")]
    kinds: dict[int, str | None] = {i: _heading_kind(lines[i], n == 0) for n, i in enumerate(nonblank)}
    adverts = _advert_lines(lines, {i for i, k in kinds.items() if k in ("heading", "title")})
    for i in adverts:
        kinds[i] = None

    # A weak heading directly under a heading that has no body yet is that heading's value
    # ("Latin name" / the name itself); a weak heading is kept when the next line is body text.
    heading_idx: list[tuple[int, str]] = []
    for n, i in enumerate(nonblank):
        k = kinds[i]
        if k is None:
            continue
        if k == "weak":
            prev = nonblank[n - 1] if n else None
            nxt = nonblank[n + 1] if n + 1 < len(nonblank) else None
            prev_is_empty_heading = prev is not None and heading_idx and heading_idx[-1][0] == prev
            next_is_heading = nxt is not None and kinds.get(nxt) in ("heading", "label", "title", "weak")
            if prev_is_empty_heading or nxt is None or next_is_heading and kinds.get(nxt) != "weak":
                continue
            k = "heading"
        heading_idx.append((i, k))

    # Section starts: headings, and the first/last line of every advertising run.
    starts: list[tuple[int, str]] = list(heading_idx)
    in_ad = False
    for i in nonblank:
        if i in adverts and not in_ad:
            starts.append((i, "advert"))
            in_ad = True
        elif i not in adverts and in_ad:
            if not any(h == i for h, _ in heading_idx):
                starts.append((i, "continuation"))
            in_ad = False
    starts.sort(key=lambda t: t[0])
    if not starts or starts[0][0] != nonblank[0]:
        starts.insert(0, (nonblank[0], "untitled"))

    sections: list[dict] = []
    items: list[dict] = []
    problems: list[Problem] = []
    last_top: dict | None = None
    for n, (i, kind) in enumerate(starts):
        stop_line = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        body_lines = [j for j in range(i + 1 if kind in ("title", "heading", "label") else i, stop_line) if lines[j].stripped]
        start = lines[i].content_start
        end = lines[body_lines[-1]].content_end if body_lines else lines[i].content_end
        has_heading = kind in ("title", "heading", "label")
        # stored as written; classified on the parsing view (tags and entities blanked)
        heading = text[lines[i].content_start:lines[i].content_end] if has_heading else ""
        heading_view = lines[i].stripped if has_heading else ""
        section_id = f"{source_id}#s{len(sections):03d}"
        topic = heading_topic(heading_view) if heading_view and kind != "title" else None
        basis = "heading" if topic else ""
        if kind == "advert":
            topic, basis = "boilerplate", "advertising"
        elif kind == "continuation" and last_top is not None:
            topic, basis = last_top["topic"], "continuation"
        elif topic is None and kind == "label" and last_top is not None:
            topic, basis = last_top["topic"], "parent"
        elif topic is None:
            topic, basis = ("overview", "default")
        level = 2 if kind == "label" else 1
        parent = last_top["section_id"] if level == 2 and last_top is not None else None
        section = {
            "source_id": source_id, "section_id": section_id, "section_index": len(sections),
            "heading": heading, "heading_kind": kind, "level": level, "parent_section_id": parent,
            "topic": topic, "topic_basis": basis, "char_start": start, "char_end": end,
            "body_start": lines[body_lines[0]].content_start if body_lines else end,
            "body_end": end, "text": text[start:end], "n_items": 0,
        }
        sec_items = _items_of(section, [lines[j] for j in body_lines], text)
        section["n_items"] = len(sec_items)
        items += sec_items
        sections.append(section)
        if level == 1 and kind not in ("advert",):
            last_top = section

    _mark_tables_of_contents(sections, items)
    return sections, items, problems


def _items_of(section: dict, body: list[Line], text: str) -> list[dict]:
    """List items ("•", "-", "1.") of a section with depth, parent and the lead-in line."""
    found: list[tuple[Line, str, int]] = []
    lead_in: dict[int, Line | None] = {}
    last_text_line: Line | None = None
    for ln in body:
        m = BULLET.match(ln.stripped)
        if m and not SMPC_HEADING.match(ln.stripped):
            found.append((ln, m.group("marker"), ln.content_start + m.end()))
            lead_in[len(found) - 1] = last_text_line
        else:
            last_text_line = ln
    if not found:
        return []
    depths = _list_depths([ln.indent for ln, _, _ in found])
    rows: list[dict] = []
    stack: list[tuple[int, int]] = []  # (depth, item_index)
    for k, ((ln, marker, start), depth) in enumerate(zip(found, depths)):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else None
        stack.append((depth, k))
        li = lead_in[k]
        end = ln.content_end
        rows.append({
            "source_id": section["source_id"], "section_id": section["section_id"], "item_index": k,
            "marker": marker, "depth": depth, "parent_item_index": parent,
            "char_start": start, "char_end": end, "text": text[start:end],
            "lead_in": text[li.content_start:li.content_end] if li else "", "lead_in_start": li.content_start if li else -1,
            "lead_in_end": li.content_end if li else -1,
        })
    return rows


def _mark_tables_of_contents(sections: list[dict], items: list[dict]) -> None:
    """A list whose items mostly reappear as later headings is a table of contents."""
    for sec in sections:
        if sec["topic"] == "boilerplate" or sec["n_items"] < 3:
            continue
        own = [it["text"].strip().lower() for it in items if it["section_id"] == sec["section_id"]]
        later = [s["heading"].lower() for s in sections if s["section_index"] > sec["section_index"] and s["heading"]]
        if not later:
            continue
        hits = sum(1 for t in own if any(fuzz.ratio(t, h) >= 80 or (len(t) > 8 and t in h) for h in later))
        if hits / len(own) >= 0.6:
            sec["topic"], sec["topic_basis"] = "boilerplate", "table_of_contents"


def _no_progress(iterable, **_):
    return iterable


def section_all(sources: "pd.DataFrame", cache=None, progress=_no_progress
                ) -> tuple["pd.DataFrame", "pd.DataFrame", list[Problem]]:
    """Section every source of a ``sources`` table. Returns (sections, list_items, problems);
    a source whose sectioning fails is reported and the others go on. ``cache`` (a
    ``pipeline.cache.SourceCache``) returns unchanged sources' sections without re-parsing."""
    all_sections, all_items, problems = section_rows(sources, cache, progress)
    return (*section_frames(all_sections, all_items), problems)


def section_frames(all_sections: list[dict], all_items: list[dict]) -> tuple["pd.DataFrame", "pd.DataFrame"]:
    """The sections and list_items tables made of the rows ``section_rows`` returns."""
    import pandas as pd

    from pipeline.schemas import ListItemsModel, SectionsModel, empty_frame

    sections = pd.DataFrame(all_sections) if all_sections else empty_frame(SectionsModel)
    items = pd.DataFrame(all_items) if all_items else empty_frame(ListItemsModel)
    return sections, items


@gc_paused_call
def section_rows(sources: "pd.DataFrame", cache=None, progress=_no_progress
                 ) -> tuple[list[dict], list[dict], list[Problem]]:
    """``section_all`` before its rows become tables: (section rows, item rows, problems).
    The worker pool (pipeline.parallel) runs it on batches of sources and joins the rows."""
    all_sections: list[dict] = []
    all_items: list[dict] = []
    problems: list[Problem] = []
    source_rows = column_rows(sources, ("source_id", "format", "sha256", "text", "raw_path"))
    for row in progress(source_rows, total=len(sources), desc="sections"):
        key = f"{row.format}-{row.source_id}-{row.sha256}"
        cached = cache.get(key) if cache is not None else None
        if cached is not None:
            all_sections += cached[0]
            all_items += cached[1]
            continue
        try:
            secs, items, probs = section_source(row.source_id, row.text, row.format)
        except Exception as exc:  # a parser defect on one page must not cost the others
            problems.append(Problem("sections", "error", row.raw_path, row.source_id,
                                    f"sectioning failed: {type(exc).__name__}: {exc}",
                                    "report this page to the pipeline's maintainers; the source has no sections"))
            continue
        all_sections += secs
        all_items += items
        if cache is not None and not probs:
            cache.put(key, (secs, items))
        problems += [Problem(p.stage, p.severity, row.raw_path, p.source_id, p.reason, p.action,
                             p.char_start, p.char_end, p.excerpt) for p in probs]
    if cache is not None:
        cache.flush()  # the batch's new entries, as one pack
    return all_sections, all_items, problems
