"""Reading units: the sentences and list items of a source, each with its context.

Extraction rules read units, not raw text. A unit knows its section (topic, heading, parent
heading), for a list item the line that leads into it and the enclosing item, and its order in
the source so that a rule can inherit route or population from earlier sentences.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from pipeline.textutil import iter_lines, parsing_view, sentence_spans


@dataclass
class Unit:
    source_id: str
    section_id: str
    topic: str
    heading: str
    parent_heading: str
    kind: str            # "sentence" or "item"
    start: int           # offsets into the source text
    end: int
    text: str            # parsing view of text[start:end] (same length as the original)
    lead_in: str = ""    # items: the line introducing the list (with enclosing items' text)
    item_label: str = ""  # "Label" of an item written "Label: explanation"
    depth: int = 0
    order: int = 0
    heading_is_title: bool = False

    @property
    def context_heading(self) -> str:
        """The heading as context for rules; a page title names everything and so nothing."""
        return "" if self.heading_is_title else self.heading


@lru_cache(maxsize=64)
def _row_type(fields: tuple[str, ...]):
    return namedtuple("Row", fields, rename=True)


def table_rows(table) -> list:
    """The rows of a sections or list-items table as namedtuples holding the values that
    ``itertuples(index=False)`` gives, built from whole columns at once (row-by-row pandas
    access cost more than the extraction rules themselves). A list is returned as it is, so
    callers may pass rows already converted."""
    if isinstance(table, list):
        return table
    fields = tuple(table.columns)
    if not fields or not len(table):
        return []
    row = _row_type(fields)
    return [row._make(v) for v in zip(*(table[c].tolist() for c in fields))]


def build_units(source_id: str, text: str, sections: pd.DataFrame, items: pd.DataFrame) -> list[Unit]:
    """Units of one source in reading order. ``sections``/``items`` are that source's rows
    (DataFrames, or lists of rows from ``table_rows``)."""
    view = parsing_view(text)
    units: list[Unit] = []
    section_rows = table_rows(sections)
    heading_of = {r.section_id: r.heading for r in section_rows}
    items_by_section: dict[str, list] = {}
    for r in table_rows(items):
        if isinstance(r.section_id, str):
            items_by_section.setdefault(r.section_id, []).append(r)
    for rows in items_by_section.values():
        rows.sort(key=lambda r: r.item_index)  # item_index is unique within a section
    for sec in sorted(section_rows, key=lambda r: r.section_index):
        parent_heading = heading_of.get(sec.parent_section_id, "") if isinstance(sec.parent_section_id, str) else ""
        sec_items = items_by_section.get(sec.section_id)
        item_spans = [] if sec_items is None else [(r.char_start, r.char_end) for r in sec_items]
        item_rows = [] if sec_items is None else sec_items
        texts_by_index = {} if sec_items is None else {r.item_index: r.text for r in sec_items}
        row_by_index: dict = {}
        for r in item_rows:
            row_by_index.setdefault(r.item_index, r)
        # Non-item body lines become sentences; item lines become one unit each.
        body_start = int(sec.body_start)
        body_end = int(sec.body_end)
        line_units: list[Unit] = []
        covered = set()
        for row in item_rows:
            lead = row.lead_in
            parent = row.parent_item_index
            chain = []
            while parent is not None and not pd.isna(parent):
                ptxt = texts_by_index.get(int(parent), "")
                chain.append(ptxt)
                prow = row_by_index.get(int(parent))
                parent = prow.parent_item_index if prow is not None else None
            if chain:
                lead = " ".join([lead] + list(reversed(chain)))
            s, e = int(row.char_start), int(row.char_end)
            itext = view[s:e]
            label = ""
            if ":" in itext:
                head, _, rest = itext.partition(":")
                if 0 < len(head.split()) <= 6 and rest.strip():
                    label = head.strip()
            line_units.append(Unit(source_id, sec.section_id, sec.topic, sec.heading, parent_heading, "item",
                                   s, e, itext, lead_in=lead, item_label=label, depth=int(row.depth),
                                   heading_is_title=sec.heading_kind == "title"))
            covered.add(s)
        for line in iter_lines(view[body_start:body_end], base=body_start):
            if not line.stripped:
                continue
            cs, ce = line.content_start, line.content_end
            if any(a <= cs < b or cs <= a < ce for a, b in item_spans):
                continue
            for s, e in sentence_spans(view, cs, ce):
                line_units.append(Unit(source_id, sec.section_id, sec.topic, sec.heading, parent_heading, "sentence",
                                       s, e, view[s:e], heading_is_title=sec.heading_kind == "title"))
        line_units.sort(key=lambda u: u.start)
        units += line_units
    for i, u in enumerate(units):
        u.order = i
    return units
