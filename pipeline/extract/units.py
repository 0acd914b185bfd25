"""Reading units: the sentences and list items of a source, each with its context.

Extraction rules read units, not raw text. A unit knows its section (topic, heading, parent
heading), for a list item the line that leads into it and the enclosing item, and its order in
the source so that a rule can inherit route or population from earlier sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def build_units(source_id: str, text: str, sections: pd.DataFrame, items: pd.DataFrame) -> list[Unit]:
    """Units of one source in reading order. ``sections``/``items`` are that source's rows."""
    view = parsing_view(text)
    units: list[Unit] = []
    heading_of = dict(zip(sections["section_id"], sections["heading"]))
    items_by_section = {sid: grp.sort_values("item_index") for sid, grp in items.groupby("section_id")} if len(items) else {}
    for sec in sections.sort_values("section_index").itertuples(index=False):
        parent_heading = heading_of.get(sec.parent_section_id, "") if isinstance(sec.parent_section_id, str) else ""
        sec_items = items_by_section.get(sec.section_id)
        item_spans = [] if sec_items is None else list(zip(sec_items["char_start"], sec_items["char_end"]))
        item_rows = [] if sec_items is None else list(sec_items.itertuples(index=False))
        texts_by_index = {} if sec_items is None else dict(zip(sec_items["item_index"], sec_items["text"]))
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
                prow = next((r for r in item_rows if r.item_index == int(parent)), None)
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
            if any(a <= line.content_start < b or line.content_start <= a < line.content_end for a, b in item_spans):
                continue
            for s, e in sentence_spans(view, line.content_start, line.content_end):
                line_units.append(Unit(source_id, sec.section_id, sec.topic, sec.heading, parent_heading, "sentence",
                                       s, e, view[s:e], heading_is_title=sec.heading_kind == "title"))
        line_units.sort(key=lambda u: u.start)
        units += line_units
    for i, u in enumerate(units):
        u.order = i
    return units
