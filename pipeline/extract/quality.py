"""What looks broken in a source: empty lists and sections, garbled tokens, duplicated or
truncated passages, HTML residue. Flagged with offsets; nothing is repaired."""

from __future__ import annotations

import re

import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import OSA

from pipeline.extract import cues as C
from pipeline.extract.units import Unit, table_rows
from pipeline.textutil import html_residue

_FORMULA_OK = re.compile(r"^(?:[A-Z][a-z]?\s?(?:[1-9]\d{0,2})?\s?)+$")
_ATTRIBUTE_RESIDUE = re.compile(r"[\"“”]\s?>|<\s?/?\w+")


_FORMULA_HEADING = re.compile(r"formula", re.I)


def misspelt_spans(text: str, drug: str) -> list[tuple[int, int]]:
    """Spans of the words one edit from ``drug`` (lower-cased; the name itself excluded), in text
    order: the words the search takes are runs of len(drug) - 1 to len(drug) + 1 ASCII letters.
    In an ASCII text, lower-casing keeps every offset and letter, so the candidate words are
    compared in one ``rapidfuzz`` call on the lower-cased text and only the hits are located;
    any other text is compared word by word."""
    pattern = r"[A-Za-z]{%d,%d}" % (len(drug) - 1, len(drug) + 1)
    if not text.isascii():
        return [m.span() for m in re.finditer(pattern, text)
                if m.group(0).lower() != drug and OSA.distance(m.group(0).lower(), drug) == 1]
    low = text.lower()
    lower_pattern = re.compile(r"[a-z]{%d,%d}" % (len(drug) - 1, len(drug) + 1))
    hits = {index for word, _, index in process.extract(drug, lower_pattern.findall(low), scorer=OSA.distance,
                                                          score_cutoff=1, limit=None) if word != drug}
    if not hits:
        return []
    return [m.span() for k, m in enumerate(lower_pattern.finditer(low)) if k in hits]


def _hides(text: str) -> str:
    if C.has_interaction_context(text):
        return "interactions"
    if C.has_ae_context(text):
        return "adverse_effects"
    if C.stances_in(text):
        return "conditions"
    return ""


def quality_rows(source_id: str, drug: str, text: str, sections: pd.DataFrame, units: list[Unit]) -> list[dict]:
    rows: list[dict] = []

    def add(section_id: str, issue: str, detail: str, s: int, e: int, hides: str = "") -> None:
        rows.append({"source_id": source_id, "section_id": section_id, "issue": issue, "detail": detail,
                     "hides": hides, "char_start": int(s), "char_end": int(e), "excerpt": text[s:e][:200]})

    # A lead-in that promises a list ("... may include:") with no item after it.
    for k, u in enumerate(units):
        if u.kind != "sentence" or not u.text.rstrip().endswith(":") or u.topic == "boilerplate":
            continue
        nxt = units[k + 1] if k + 1 < len(units) else None
        if nxt is None or nxt.kind != "item" or nxt.section_id != u.section_id:
            add(u.section_id, "empty_list", "a lead-in ends with ':' but no list follows", u.start, u.end, _hides(u.text))

    secs = sorted(table_rows(sections), key=lambda r: r.section_index)
    for i, sec in enumerate(secs):
        nxt = secs[i + 1] if i + 1 < len(secs) else None
        if (sec.topic != "boilerplate" and sec.heading and sec.body_start >= sec.char_end
                and sec.heading_kind in ("heading", "weak") and not (nxt and nxt.level == 2)):
            add(sec.section_id, "empty_section", f"heading {sec.heading!r} has no text under it",
                sec.char_start, sec.char_end)
        if nxt and sec.heading and sec.heading.strip().lower() == nxt.heading.strip().lower():
            add(nxt.section_id, "duplicated_passage", "the same heading twice in a row", nxt.char_start, nxt.char_end)
        if sec.topic == "identifiers" and _FORMULA_HEADING.search(sec.heading):
            body = text[sec.body_start:sec.body_end].strip()
            if body and not _FORMULA_OK.match(body):
                add(sec.section_id, "garbled_token", "the formula is not a valid element formula",
                    sec.body_start, sec.body_end)

    seen: dict[str, int] = {}
    markup = "<" in text or ">" in text  # every markup residue holds one of them
    for u in units:
        # an ASCII text's key is never longer than the text (lower-casing may lengthen others)
        if u.topic != "boilerplate" and (len(u.text) >= 40 or not u.text.isascii()):
            key = " ".join(u.text.lower().split())
            if len(key) >= 40:
                if key in seen:
                    add(u.section_id, "duplicated_passage", f"repeats the passage at offset {seen[key]}", u.start, u.end)
                else:
                    seen[key] = u.start
        if markup:
            for m in _ATTRIBUTE_RESIDUE.finditer(u.text):
                add(u.section_id, "garbled_token", "markup residue inside the text", u.start + m.start(),
                    u.start + m.end())

    # A misspelt drug name (two letters swapped) hides statements from name-based matching.
    if len(drug) >= 6:
        for s, e in misspelt_spans(text, drug):
            add("", "garbled_token", f"{text[s:e]!r} looks like a misspelling of {drug!r}", s, e)

    for s, e, tag in html_residue(text):
        add("", "html_residue", f"HTML left in the text: {tag[:40]!r}", s, e)

    last = max((u for u in units if u.topic != "boilerplate"), key=lambda x: x.end, default=None)
    if last is not None and last.text.rstrip()[-1:].isalpha() and len(last.text.split()) > 8:
        add(last.section_id, "truncated_passage", "the source's last passage stops mid-sentence", last.start, last.end)
    return rows
