"""Fact extraction: sources + sections + list items -> dosing, adverse effects, conditions,
interactions, statements, drug profile and data-quality tables.

``extract_source`` works on one source and is what the content-hash cache and the worker pool
call; ``extract_all`` runs it over every source and concatenates. Every fact row carries the
mention's offsets and the quote (the sentence or list item) it stands in.
"""

from __future__ import annotations

import hashlib
import re

import pandas as pd

from pipeline.extract.dosing import dose_rows
from pipeline.extract.mentions import mentions_from_units
from pipeline.extract.profile import profile_rows
from pipeline.extract.quality import quality_rows
from pipeline.extract.statements import statement_rows
from pipeline.extract.units import build_units, table_rows
from pipeline.frames import column_rows
from pipeline.perf import gc_paused_call
from pipeline.problems import Problem
from pipeline.schemas import (AdverseEffectMentionsModel, ConditionMentionsModel, DataQualityModel, DoseStatementsModel,
                              DrugProfileModel, InteractionMentionsModel, StatementsModel, empty_frame)
from pipeline.textutil import parsing_view

FACT_TABLES = {
    "dosing": DoseStatementsModel, "adverse_effects": AdverseEffectMentionsModel, "conditions": ConditionMentionsModel,
    "interactions": InteractionMentionsModel, "statements": StatementsModel, "drug_profile": DrugProfileModel,
    "data_quality": DataQualityModel,
}


def _fact_id(source_id: str, table: str, start: int, end: int, extra: str = "") -> str:
    return hashlib.sha1(f"{source_id}|{table}|{start}|{end}|{extra}".encode()).hexdigest()[:16]


def _provenance(table: str, text: str, row: dict, extra: str = "") -> dict:
    u = row.pop("unit_obj")
    s, e = row["char_start"], row["char_end"]
    return {"source_id": u.source_id, "section_id": u.section_id, "section_topic": u.topic,
            "fact_id": _fact_id(u.source_id, table, s, e, extra), "mention": text[s:e],
            "quote": text[u.start:u.end], "quote_start": u.start, "quote_end": u.end, **row}


def extract_source(source_id: str, drug: str, text: str, sections: pd.DataFrame, items: pd.DataFrame
                   ) -> dict[str, list[dict]]:
    """Fact rows of one source, by table. ``sections``/``items`` are that source's rows
    (DataFrames, or lists of rows from ``pipeline.extract.units.table_rows``)."""
    sections, items = table_rows(sections), table_rows(items)
    view = parsing_view(text)
    units = build_units(source_id, text, sections, items)
    containers = set()
    if len(items):
        parents = [r for r in items if not pd.isna(r.parent_item_index)]
        idx = {(r.section_id, int(r.item_index)): int(r.char_start) for r in items}
        containers = {(r.section_id, idx[(r.section_id, int(r.parent_item_index))]) for r in parents}
    out: dict[str, list[dict]] = {t: [] for t in FACT_TABLES}
    for m in mentions_from_units(view, units, containers, drug):
        row = {"unit_obj": m.unit, "char_start": m.start, "char_end": m.end}
        if m.table == "adverse_effects":
            row.update(category=m.label, negated=m.negated, hedge=m.hedge)
        elif m.table == "conditions":
            row.update(stance=m.label, stance_alt=m.alt, stance_cue=m.cue, negated=m.negated)
        else:
            row.update(agent=text[m.start:m.end], effect=m.effect, direction=m.label)
        out[m.table].append(_provenance(m.table, text, row, m.label))
    for row in dose_rows(units, sections):
        span = row.pop("indication_span")
        if span is not None:
            # "Muscle spasm pain: 5-10 mg three times per day" names an indication of the drug
            out["conditions"].append(_provenance("conditions", text, {
                "unit_obj": row["unit_obj"], "char_start": span[0], "char_end": span[1], "stance": "indication",
                "stance_alt": "", "stance_cue": "dose stated for this indication", "negated": False}, "indication"))
        out["dosing"].append(_provenance("dosing", text, row, row["phase"]))
    for row in statement_rows(units):
        out["statements"].append(_provenance("statements", text, row, row["topic"]))
    for row in profile_rows(view, units):
        out["drug_profile"].append(_provenance("drug_profile", text, row, row["field"]))
    out["data_quality"] = quality_rows(source_id, drug, text, sections, units)
    for table in ("adverse_effects", "conditions", "interactions"):
        out[table] = _dedupe(out[table])
    for table in ("adverse_effects", "conditions"):
        _expand_elided(text, out[table])
    return out


_HEAD_FIRST = re.compile(r"^(?:difficulty|trouble|problems? with|pain in|loss of)\s", re.I)
_ADJ_LAST = re.compile(r"(?:al|ic|ous|ive|ary)$", re.I)


def _expand_elided(text: str, rows: list[dict]) -> None:
    """Fill ``mention_expanded`` where coordination elided a shared word: "difficulty breathing
    or swallowing" -> "difficulty swallowing"; "acute renal or hepatic insufficiency" ->
    "acute renal insufficiency". The mention itself stays exactly as written."""
    for r in rows:
        r.setdefault("mention_expanded", "")
    ordered = sorted(rows, key=lambda r: r["char_start"])
    for a, b in zip(ordered, ordered[1:]):
        if not re.fullmatch(r",?\s+(?:or|and)\s+", text[a["char_end"]:b["char_start"]]):
            continue
        wa, wb = a["mention"].split(), b["mention"].split()
        if len(wb) == 1 and len(wa) >= 2 and _HEAD_FIRST.match(a["mention"]):
            head = _HEAD_FIRST.match(a["mention"]).group(0)
            b["mention_expanded"] = f"{head}{b['mention']}"
        elif len(wa) <= 2 and len(wb) >= 2 and _ADJ_LAST.search(wa[-1]):
            a["mention_expanded"] = f"{a['mention']} {wb[-1]}"


def _dedupe(rows: list[dict]) -> list[dict]:
    seen, kept = set(), []
    for r in rows:
        if r["fact_id"] in seen:
            continue
        seen.add(r["fact_id"])
        kept.append(r)
    return kept


def frames_from_rows(rows: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    frames = {}
    for table, model in FACT_TABLES.items():
        frames[table] = pd.DataFrame(rows[table]) if rows.get(table) else empty_frame(model)
    return frames


def _rows_by_source(table: pd.DataFrame) -> dict[str, list]:
    """source_id -> that source's rows (as ``table_rows``), in table order; one pass over the
    whole table instead of one DataFrame slice per source."""
    out: dict[str, list] = {}
    if len(table):
        for r in table_rows(table):
            if isinstance(r.source_id, str):
                out.setdefault(r.source_id, []).append(r)
    return out


def _no_progress(iterable, **_):
    return iterable


def extract_all(sources: pd.DataFrame, sections: pd.DataFrame, items: pd.DataFrame, cache=None, progress=_no_progress
                ) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    """Extract every source; a source whose extraction fails is reported and skipped.
    ``cache`` (a ``pipeline.cache.SourceCache``) returns unchanged sources' facts without
    re-reading them."""
    rows, problems = extract_rows(sources, sections, items, cache, progress)
    return frames_from_rows(rows), problems


@gc_paused_call
def extract_rows(sources: pd.DataFrame, sections, items, cache=None, progress=_no_progress
                 ) -> tuple[dict[str, list[dict]], list[Problem]]:
    """``extract_all`` before its rows become tables: (rows by table, problems).
    ``sections``/``items``: tables, or dicts source_id -> that source's rows (as
    ``pipeline.extract.units.table_rows`` gives them). The worker pool (pipeline.parallel) runs
    it on batches of sources and joins the rows."""
    rows: dict[str, list[dict]] = {t: [] for t in FACT_TABLES}
    problems: list[Problem] = []
    sec_by = sections if isinstance(sections, dict) else _rows_by_source(sections)
    item_by = items if isinstance(items, dict) else _rows_by_source(items)
    source_rows = column_rows(sources, ("source_id", "format", "drug", "sha256", "text", "raw_path"))
    for src in progress(source_rows, total=len(sources), desc="extract"):
        secs = sec_by.get(src.source_id)
        if secs is None:
            continue
        its = item_by.get(src.source_id, [])
        key = f"{src.format}-{src.source_id}-{src.drug}-{src.sha256}"
        got = cache.get(key) if cache is not None else None
        if got is not None:
            for t in FACT_TABLES:
                rows[t] += got[t]
            continue
        try:
            got = extract_source(src.source_id, src.drug, src.text, secs, its)
        except Exception as exc:  # one page's defect must not cost the others
            problems.append(Problem("extract", "error", src.raw_path, src.source_id,
                                    f"extraction failed: {type(exc).__name__}: {exc}",
                                    "report this page to the pipeline's maintainers; no facts were taken from it"))
            continue
        if cache is not None:
            cache.put(key, got)
        for t in FACT_TABLES:
            rows[t] += got[t]
    if cache is not None:
        cache.flush()  # the batch's new entries, as one pack
    return rows, problems
