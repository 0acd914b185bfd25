"""Property tests: every parser takes arbitrary text without crashing and keeps its offsets honest.

Offsets are code-point offsets into the text as given (no newline translation), so for every
span a parser reports, ``text[start:end]`` must be exactly what it stored.
"""

from __future__ import annotations

import os

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.extract import FACT_TABLES, extract_source
from pipeline.schemas import ListItemsModel, empty_frame
from pipeline.sections import section_source
from pipeline.registry import SourceEntry
from pipeline.split import DecodedFile, split_sources
from pipeline.textutil import iter_lines, parsing_view, sentence_spans

# ROBUST_EXAMPLES=3000 for a deeper search (about 90 s); 150 keeps the suite fast.
SETTINGS = settings(max_examples=int(os.environ.get("ROBUST_EXAMPLES", 150)), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Pieces that exercise the parsers' rules: headings, labels, bullets, numbering, doses, HTML.
FRAGMENTS = [
    "Side effects", "Side effects:", "Dosage", "Contraindications", "Who should not take this drug?",
    "Interactions", "1. INDICATIONS", "4.2 Posology and method of administration", "Common side effects include:",
    "• drowsiness", "  • dizziness", "    ◦ nausea", "- headache", "1) seizures", "a. rash", "•", "• ",
    "Take 5 mg three times a day.", "The maximum dose is 80 mg per day.", "Initial dose: 5 mg orally 3 times a day",
    "Do not take with alcohol.", "Alcohol may increase drowsiness.", "Do not use if you have epilepsy.",
    "Brand names: Lioresal, Gablofen", "Drug class: muscle relaxant", "Call 1-800-222-1222 now!", "Buy now",
    "<p>", "</li>", "<li>&bull; tremor</li>", "&nbsp;", "&amp;", "10&nbsp;mg", "<!-- c -->", "Противопоказания:",
    "Побочные действия", "e.g. 5 mg.", "Dr. Smith", "x", ":", "  ", "", "mg", "5", "0.5 mg/kg/day", "\t",
    "\u00a0", "\ufeff", "\u2028", "\x0c", "é", "😀", "Baclofen", "baclofen", "Copyright 2023",
    'He said "stop." Then', "(see below.) Next", "Avoid it.” Nausea",
]
NEWLINES = st.sampled_from(["\n", "\r\n", "\r", "\n\n", "\r\n\r\n", " \n"])
ALPHABET = st.characters(codec="utf-8") | st.sampled_from(list("\n\r\t •·-–:;.,?!()0123456789mgMG<>&#"))

structured = st.lists(st.tuples(st.sampled_from(FRAGMENTS), NEWLINES), max_size=40).map(
    lambda parts: "".join(a + b for a, b in parts))
free = st.text(alphabet=ALPHABET, max_size=400)
mixed = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=ALPHABET, max_size=30), NEWLINES),
                 max_size=50).map("".join)
TEXT = st.one_of(structured, free, mixed)
FORMATS = st.sampled_from(["generic", "us_monograph", "ru_reference", "medical_article", "overview_article",
                           "clinic_text", "no_such_format"])


# --- textutil ---------------------------------------------------------------------------------

@SETTINGS
@given(TEXT, st.integers(0, 50))
def test_iter_lines_cover_the_text_and_keep_offsets(text, base):
    lines = list(iter_lines(text, base=base))
    assert len(lines) == text.count("\n") + 1
    pos = 0
    for ln in lines:
        assert ln.start - base == pos
        assert ln.text == text[ln.start - base:ln.end - base]
        assert "\n" not in ln.text
        assert ln.start <= ln.content_start <= ln.content_end <= ln.end
        assert text[ln.content_start - base:ln.content_end - base] == ln.stripped
        nl = text.find("\n", ln.end - base)
        nxt = len(text) if nl == -1 else nl + 1
        assert text[ln.end - base:nxt] in ("", "\n", "\r\n") or (nl == -1 and text[ln.end - base:] == "\r")
        pos = nxt
    assert pos == len(text)


@SETTINGS
@given(TEXT)
def test_parsing_view_keeps_length_and_line_structure(text):
    view = parsing_view(text)
    assert len(view) == len(text)
    assert [i for i, c in enumerate(view) if c == "\n"] == [i for i, c in enumerate(text) if c == "\n"]
    assert [l.start for l in iter_lines(view)] == [l.start for l in iter_lines(text)]
    for i, (a, b) in enumerate(zip(text, view)):
        # a character is kept, blanked (markup) or replaced by what an entity stands for
        assert a == b or b == " " or text[i] in "&\u00a0", (i, a, b)
    assert len(parsing_view(view)) == len(text)


@SETTINGS
@given(TEXT, st.data())
def test_sentence_spans_stay_inside_their_range_in_order(text, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    spans = sentence_spans(text, start, end)
    prev = start
    for s, e in spans:
        assert prev <= s < e <= end
        assert not text[s].isspace() and not text[e - 1].isspace()
        prev = e
    # nothing but white space is dropped between sentences (a closing quote stays with its sentence)
    covered = set()
    for s, e in spans:
        covered.update(range(s, e))
    dropped = [text[i] for i in range(start, end) if i not in covered and not text[i].isspace()]
    assert dropped == [], dropped


# --- split ------------------------------------------------------------------------------------

def _entry(sid: str, marker: str, prefix: bool, end_marker: str = "") -> SourceEntry:
    return SourceEntry(source_id=sid, drug="x", kind="generic", format="generic", title="", publisher="", country="",
                       language="", authority=3, raw_path="f.txt",
                       start_marker="" if prefix else marker, start_marker_prefix=marker if prefix else "",
                       end_marker_prefix=end_marker)


@SETTINGS
@given(TEXT, st.data())
def test_split_segments_cover_the_file_exactly(text, data):
    stripped_lines = [l.stripped for l in iter_lines(text) if l.stripped]
    marker = st.sampled_from(stripped_lines) if stripped_lines else st.just("nothing")
    n = data.draw(st.integers(0, 4))
    entries = [_entry(f"s{i}", data.draw(marker | st.text(max_size=5).filter(str.strip)), data.draw(st.booleans()),
                      data.draw(st.sampled_from(["", "Copyright", "Side"])))
               for i in range(n)]
    sources, segments, problems = split_sources(DecodedFile("f.txt", text, "utf-8", "", 0), entries)
    pos = 0
    for i, seg in enumerate(segments):
        assert seg["segment_index"] == i
        assert seg["char_start"] == pos and seg["char_end"] > seg["char_start"]
        pos = seg["char_end"]
    assert pos == len(text)
    ids = [s["source_id"] for s in sources]
    assert len(ids) == len(set(ids))
    for src in sources:
        assert text[src["char_start"]:src["char_end"]] == src["text"]
        assert src["n_chars"] == len(src["text"]) >= 1
        assert [seg for seg in segments if seg["source_id"] == src["source_id"]] != []
    for p in problems:
        assert p.raw_path == "f.txt" and p.action
        if p.char_start >= 0:
            assert 0 <= p.char_start <= p.char_end <= len(text)


# --- sections ---------------------------------------------------------------------------------

@SETTINGS
@given(TEXT, FORMATS)
def test_sections_slice_the_text_they_store(text, fmt):
    sections, items, problems = section_source("src", text, fmt)
    prev_end = 0
    for sec in sections:
        s, e = sec["char_start"], sec["char_end"]
        assert 0 <= s <= e <= len(text)
        assert sec["text"] == text[s:e]
        assert s >= prev_end, "sections overlap or are out of order"
        assert s <= sec["body_start"] <= e and sec["body_end"] == e
        prev_end = e
    by_id = {s["section_id"]: s for s in sections}
    for it in items:
        sec = by_id[it["section_id"]]
        assert sec["char_start"] <= it["char_start"] <= it["char_end"] <= sec["char_end"]
        assert it["text"] == text[it["char_start"]:it["char_end"]]
        if it["lead_in_start"] >= 0:
            # the lead-in is stored as written, at its offsets into the text (like every other quote)
            assert text[it["lead_in_start"]:it["lead_in_end"]] == it["lead_in"]
            assert sec["char_start"] <= it["lead_in_start"] < it["lead_in_end"] <= it["char_start"]
    assert sum(s["n_items"] for s in sections) == len(items)
    if not text.strip():
        assert sections == [] and problems


# --- extraction -------------------------------------------------------------------------------

@SETTINGS
@given(TEXT, FORMATS, st.sampled_from(["baclofen", "tizanidine", "x"]))
def test_extraction_offsets_point_at_what_was_stored(text, fmt, drug):
    sections, items, _ = section_source("src", text, fmt)
    if not sections:
        return
    secs = pd.DataFrame(sections)
    its = pd.DataFrame(items) if items else empty_frame(ListItemsModel)
    out = extract_source("src", drug, text, secs, its)
    assert set(out) == set(FACT_TABLES)
    for table, rows in out.items():
        for r in rows:
            s, e = r["char_start"], r["char_end"]
            assert 0 <= s <= e <= len(text), (table, r)
            if "mention" in r:
                assert text[s:e] == r["mention"], (table, r)
            if "quote" in r:
                qs, qe = r["quote_start"], r["quote_end"]
                assert 0 <= qs <= qe <= len(text)
                assert text[qs:qe] == r["quote"], (table, r)
                assert qs <= s and e <= qe, (table, r)
            if "excerpt" in r:
                assert text[s:e][:200] == r["excerpt"], (table, r)


def test_heading_and_lead_in_are_stored_as_written():
    text = "Side&nbsp;effects\n\nCommon side effects&nbsp;include:\n• drowsiness\n"
    sections, items, _ = section_source("src", text, "generic")
    assert items
    for sec in sections:
        assert sec["text"].startswith(sec["heading"])
    for it in items:
        assert text[it["lead_in_start"]:it["lead_in_end"]] == it["lead_in"]
