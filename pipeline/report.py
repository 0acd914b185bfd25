"""Render the discrepancy report: Markdown (readable in a diff), CSV, and one self-contained
HTML page per drug (plus an index when there are several drugs).

All source text is escaped: the sources are scraped web pages. The templates use Jinja2's
autoescaping; the parts of a page built as text (the evidence sections, the highlighted
sources, the matrix) escape every value the same way (``_html``, tested against Jinja). The
HTML has no external assets; its filters are a few lines of inline JavaScript, and the
concept-by-source matrix at its top is inline SVG.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import uuid
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from pipeline.frames import positions_by_key
from pipeline.perf import gc_paused_call

TEMPLATES = Path(__file__).resolve().parent / "report_templates"
SEVERITY_ORDER = ["critical", "major", "minor", "info"]
STANCE_COLOURS = {"contraindicated": "#b2182b", "avoid": "#ef8a62", "caution": "#fddbc7", "indication": "#67a9cf"}
AE_COLOUR = "#5e3c99"


_NOT_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


@lru_cache(maxsize=1 << 14)
def _slug_of(text: str) -> str:
    return _NOT_SLUG.sub("-", text).strip("-") or "x"


def slug(text) -> str:
    """An id-safe form of ``text`` (source ids repeat on every evidence card: memoised)."""
    return _slug_of(str(text))


@lru_cache(maxsize=1)
def _env() -> Environment:
    """One environment per process, so each template is compiled once, not once per drug page."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["slug"] = slug
    return env


class DrugReport:
    """One drug's rows of the five tables a page reads, and its change block. The rows are
    kept as positions in the whole tables; the pages read them as column lists (cut once for
    every drug by ``DrugReports``), and a DataFrame of them is only built when asked for
    (a slice per drug and table cost seconds at 1,000 drugs)."""

    def __init__(self, drug: str, tables: dict[str, pd.DataFrame], positions: dict[str, list[int]], changes: dict,
                 columns: dict[str, dict[str, list]] | None = None):
        self.drug, self.changes = drug, changes
        self._tables, self._positions = tables, positions
        if columns is not None:
            self.__dict__["_columns"] = columns

    def rows(self, name: str) -> int:
        return len(self._positions.get(name, ()))

    def frame(self, name: str) -> pd.DataFrame:
        return self._tables[name].take(self._positions.get(name, []))

    sources = property(lambda self: self.frame("sources"))
    discrepancies = property(lambda self: self.frame("discrepancies"))
    evidence = property(lambda self: self.frame("evidence"))
    conditions = property(lambda self: self.frame("conditions"))
    adverse_effects = property(lambda self: self.frame("adverse_effects"))


_DICT_NAMES = frozenset(dir(dict))


class _Row(dict):
    """A row for the templates: a dict whose keys also read as attributes. Jinja looks ``e.topic``
    up as an attribute first and tries the key only after an AttributeError; a row whose keys
    are its attributes renders the same text without an exception per lookup. (A row with a
    key named like a dict method keeps the plain lookup, so such a key reads as before.)"""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if _DICT_NAMES.isdisjoint(self):
            self.__dict__ = self

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


_MATRIX_COLUMNS = ("concept_id", "concept_label", "source_id", "stance", "negated")  # what matrix_svg reads


def _columns(report: DrugReport, name: str) -> dict[str, list]:
    """The report's table ``name`` as lists by column: cut from whole-table lists by
    ``write_reports``, or read from the DataFrame (once per report)."""
    found = report.__dict__.setdefault("_columns", {})
    if name not in found:
        frame = report.frame(name)
        found[name] = {c: frame[c].tolist() for c in frame.columns}
    return found[name]


def _by_authority(report: DrugReport) -> list[int]:
    """Row positions of the report's sources in the order ``sort_values("authority")`` gives."""
    values = np.array(_columns(report, "sources")["authority"])
    if values.dtype.kind in "iu":  # no missing value: the argsort sort_values itself runs
        return values.argsort(kind="quicksort").tolist()
    order = report.sources.reset_index(drop=True).sort_values("authority").index
    return list(order)


def _severity_counts(report: DrugReport) -> dict:
    """severity -> discrepancies (the templates only look counts up by severity)."""
    severities = _columns(report, "discrepancies").get("severity", [])
    return {k: v for k, v in Counter(severities).items() if isinstance(k, str)}


def matrix_svg(report: DrugReport, max_rows: int = 80) -> Markup:
    """Concept x source grid: stance colour for conditions, a dot for each adverse effect stated.
    Rows are the concepts in discrepancies first, then those stated by most sources."""
    src = _columns(report, "sources")
    sources = [src["source_id"][i] for i in _by_authority(report)]
    kinds = dict(zip(src["source_id"], src["kind"]))
    cells: dict[tuple[str, str], str] = {}
    rows: dict[str, tuple[str, str, int]] = {}
    rank = {"contraindicated": 4, "avoid": 3, "caution": 2, "indication": 1}
    in_disc = set(_columns(report, "discrepancies").get("concept_id", []))
    for name, table in (("conditions", "condition"), ("adverse_effects", "adverse effect")):
        if not report.rows(name):
            continue
        frame = _columns(report, name)
        n_rows = len(frame["concept_id"])
        # rows with a concept (astype(str) != "") and not negated (astype(bool)), read column-wise
        negated = frame["negated"] if "negated" in frame else [False] * n_rows
        stances = frame["stance"] if table == "condition" else [None] * n_rows
        for concept_id, concept_label, source_id, stance, neg in zip(
                frame["concept_id"], frame["concept_label"], frame["source_id"], stances, negated):
            if str(concept_id) == "" or bool(neg):
                continue
            key = f"{table}:{concept_id}"
            n = rows.get(key, (concept_label, table, 0))
            rows[key] = (concept_label, table, n[2])
            value = stance if table == "condition" else "stated"
            prev = cells.get((key, source_id))
            if prev is None or (table == "condition" and rank.get(value, 0) > rank.get(prev, 0)):
                cells[(key, source_id)] = value
    counts = {k: sum(1 for s in sources if (k, s) in cells) for k in rows}
    ordered = sorted(rows, key=lambda k: (0 if k.split(":", 1)[1] in in_disc else 1, rows[k][1] != "condition", -counts[k], rows[k][0]))
    ordered = ordered[:max_rows]
    cw, rh, left, top = 110, 16, 330, 70
    width, height = left + cw * len(sources) + 10, top + rh * len(ordered) + 40
    escaped: dict[str, str] = {}  # stance words, tables and legend names repeat cell after cell

    def esc(text: str) -> str:
        found = escaped.get(text)
        if found is None:
            found = escaped[text] = str(escape(text))
        return found

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="Which source says what about each concept" font-family="sans-serif" font-size="11">']
    for i, s in enumerate(sources):
        x = left + i * cw + cw / 2
        parts.append(f'<text x="{x}" y="{top - 10}" text-anchor="middle" font-weight="bold">{esc(kinds[s])}</text>')
    for j, key in enumerate(ordered):
        label, table, _ = rows[key]
        y = top + j * rh
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{esc(label[:48])} '
                     f'<tspan fill="#777">({esc(table)})</tspan></text>')
        for i, s in enumerate(sources):
            v = cells.get((key, s))
            x = left + i * cw
            if v is None:
                parts.append(f'<rect x="{x + 2}" y="{y + 2}" width="{cw - 4}" height="{rh - 3}" fill="#f4f4f4"/>')
            elif table == "condition":
                parts.append(f'<rect x="{x + 2}" y="{y + 2}" width="{cw - 4}" height="{rh - 3}" fill="{STANCE_COLOURS.get(v, "#ccc")}">'
                             f'<title>{esc(v)}</title></rect>')
                parts.append(f'<text x="{x + cw / 2}" y="{y + 12}" text-anchor="middle" font-size="9">{esc(v)}</text>')
            else:
                parts.append(f'<rect x="{x + 2}" y="{y + 2}" width="{cw - 4}" height="{rh - 3}" fill="#f4f4f4"/>'
                             f'<circle cx="{x + cw / 2}" cy="{y + rh / 2}" r="4" fill="{AE_COLOUR}"><title>stated</title></circle>')
    ly = top + rh * len(ordered) + 20
    for i, (name, colour) in enumerate([*STANCE_COLOURS.items(), ("adverse effect stated", AE_COLOUR)]):
        parts.append(f'<rect x="{left + i * 130}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{left + i * 130 + 14}" y="{ly}">{esc(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def highlighted_source(text: str, spans: list[tuple[int, int]], source_id: str) -> Markup:
    """The source text, escaped, with each quoted span marked and given an anchor id."""
    out: list[str] = []  # pieces as plain text, joined once (Markup pieces cost a Markup per join)
    pos = 0
    prefix = f"src-{slug(source_id)}-"
    for start, end in sorted(set(spans)):
        anchor = f"{prefix}{start}"
        if start < pos:  # overlaps an earlier mark: anchor only
            out.append(f'<a id="{anchor}"></a>')
            continue
        out.append(str(escape(text[pos:start])))
        out.append(f'<mark id="{anchor}">{escape(text[start:end])}</mark>')
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


def _html(value) -> str:
    """``value`` as Jinja's autoescaping writes it (markupsafe's escaping of ``str(value)``),
    without a ``Markup`` object per value: building one cost more than the escaping itself."""
    if hasattr(value, "__html__"):
        return value.__html__()
    text = str(value)
    if "&" in text or "<" in text or ">" in text or "'" in text or '"' in text:
        text = (text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;").replace("'", "&#39;")
                .replace('"', "&#34;"))
    return text


def entries_html(entries: list[dict]) -> Markup:
    """The page's discrepancy sections with their evidence cards, built as text (about a thousand
    escaped values a page: through the template each became a Markup object). The markup is the
    one ``drug.html.j2`` had for them; ``tests/unit/test_report.py`` renders both and compares."""
    out: list[str] = []
    for e in entries:
        did, severity = _html(e["discrepancy_id"]), _html(e["severity"])
        out.append(f'<section class="entry" id="d-{did}" data-severity="{severity}" data-topic="{_html(e["topic"])}" '
                   f'data-sources="{_html(e["sources_list"])}">\n'
                   f'<h3><span class="badge sev-{severity}">{severity}</span> {_html(e["summary"])}</h3>\n'
                   f'<div class="meta">{_html(e["topic"])} · {_html(e["kind"])} · score {_html(e["score"])}')
        if not e["supported"]:
            out.append(" · <strong>unsupported</strong>")
        out.append(f" · id <code>{did}</code>")
        if e.get("values_hash"):
            out.append(f' · values <code>{_html(e["values_hash"])}</code>')
        if e.get("status"):
            out.append(f' · <span class="status">{_html(e["status"])}</span>')
        out.append('</div>\n<div class="evidence">\n')
        for ev in e["evidence"]:
            start = _html(ev["quote_start"])
            out.append(f'<div class="card">\n<div><span class="value">{_html(ev["value"])}</span> — '
                       f'{_html(ev["source_kind"])} (tier {_html(ev["authority"])})')
            if not ev["independent"]:
                out.append(", restates another source")
            out.append(f'</div>\n<blockquote>{_html(ev["quote"])}</blockquote>\n'
                       f'<div class="meta">section {_html(ev["section_id"])} · chars {start}–{_html(ev["quote_end"])} · '
                       f'<a href="#src-{_html(slug(ev["source_id"]))}-{start}">in context</a></div>\n</div>\n')
        out.append("</div>\n</section>\n")
    return Markup("".join(out))


def _records(report: DrugReport, name: str) -> list[dict]:
    """The report's table ``name`` as ``to_dict("records")`` gives it (same native values),
    built from whole columns."""
    columns = _columns(report, name)
    cols = list(columns)
    return [_Row(zip(cols, values)) for values in zip(*columns.values())] if cols else []


def _entries(report: DrugReport) -> list[dict]:
    cached = report.__dict__.get("_entries")
    if cached is not None:  # the HTML page and the Markdown report read the same entries
        return cached
    # evidence of each discrepancy, ordered by authority then source (a stable sort, as
    # sort_values(["authority", "source_id"]) is), grouped in one pass instead of one slice,
    # sort and conversion per discrepancy
    ev_by: dict[str, list[dict]] = {}
    for e in _records(report, "evidence") if report.rows("evidence") else []:
        ev_by.setdefault(e["discrepancy_id"], []).append(e)
    for group in ev_by.values():
        group.sort(key=lambda e: (e["authority"], e["source_id"]))
    entries = []
    for d in _records(report, "discrepancies") if report.rows("discrepancies") else []:
        ev = ev_by.get(d["discrepancy_id"])
        evidence = [] if ev is None else ev
        entries.append(_Row({**d, "evidence": evidence,
                             "sources_list": " ".join(sorted({e["source_id"] for e in evidence}))}))
    report.__dict__["_entries"] = entries
    return entries


def render_drug_html(report: DrugReport) -> str:
    entries = _entries(report)
    quotes: dict[str, list[tuple[int, int]]] = {}
    for e in entries:
        for ev in e["evidence"]:
            quotes.setdefault(ev["source_id"], []).append((int(ev["quote_start"]), int(ev["quote_end"])))
    rows = _records(report, "sources")
    sources = [rows[i] for i in _by_authority(report)] if rows else []
    for s in sources:
        s["highlighted"] = highlighted_source(s["text"], quotes.get(s["source_id"], []), s["source_id"])
    counts = _severity_counts(report) if report.rows("discrepancies") else {}
    return _env().get_template("drug.html.j2").render(
        drug=report.drug, entries=entries, entries_html=entries_html(entries), sources=sources, matrix=matrix_svg(report),
        severities=SEVERITY_ORDER, counts=counts, topics=sorted({e["topic"] for e in entries}),
        changes=report.changes)


def render_index_html(drugs: list[dict]) -> str:
    return _env().get_template("index.html.j2").render(drugs=drugs, severities=SEVERITY_ORDER)


def render_markdown(reports: list[DrugReport]) -> str:
    return _env().get_template("discrepancies.md.j2").render(
        reports=[_Row({"drug": r.drug, "entries": _entries(r), "changes": r.changes,
                       "counts": _severity_counts(r) if r.rows("discrepancies") else {}})
                 for r in reports], severities=SEVERITY_ORDER)


def _write_atomically(path: Path, content: str | bytes) -> None:
    """Write ``content`` (text as UTF-8) beside ``path`` and rename it into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    tmp.replace(path)


def _write_drug_pages(state: tuple, start: int, end: int) -> tuple[list[Path], dict[str, dict]]:
    """Render and write the pages of the drugs ``start:end`` of ``reports``, and render their
    Markdown blocks (``drug_parts``) in the same process, which has each drug's entries at hand:
    (paths in order, parts)."""
    reports, pages_dir = state
    batch = reports.reports(start, end)
    out = []
    for r in batch:
        page = pages_dir / f"{slug(r.drug)}.html"
        _write_atomically(page, render_drug_html(r))
        out.append(page)
    return out, drug_parts(batch, out)


class DrugReports:
    """One ``DrugReport`` per drug of ``sources``, in drug order, built for a range of drugs when
    asked (``reports(start, end)``). The rows of each drug are found once per process (one pass
    over each table's keys, original order kept; filtering each table whole once per drug made
    the report quadratic in the number of drugs), and a range's columns are read from only its
    rows. Forked page workers each build their own ranges, so the parent starts publishing at
    once instead of first cutting every table for every drug (1 s at 1,000 drugs)."""

    def __init__(self, sources: pd.DataFrame, discrepancies: pd.DataFrame, evidence: pd.DataFrame,
                 conditions: pd.DataFrame, adverse_effects: pd.DataFrame, changes: dict | None = None):
        self.changes = changes or {}
        self.drugs = sorted(sources["drug"].unique()) if len(sources) else []
        self.tables = {"sources": sources, "discrepancies": discrepancies, "evidence": evidence,
                       "conditions": conditions, "adverse_effects": adverse_effects}
        self._positions: dict[str, dict] | None = None

    def __len__(self) -> int:
        return len(self.drugs)

    def positions(self) -> dict[str, dict]:
        """table -> drug -> the drug's row positions (ascending)."""
        if self._positions is None:
            sources, discrepancies, evidence = (self.tables[n] for n in ("sources", "discrepancies", "evidence"))
            drug_of_source = dict(zip(sources["source_id"], sources["drug"]))
            drug_of_disc = (dict(zip(discrepancies["discrepancy_id"], discrepancies["drug"]))
                            if len(discrepancies) else {})
            keys = {"sources": sources["drug"].tolist(), "discrepancies": discrepancies["drug"].tolist(),
                    "evidence": [drug_of_disc.get(d) for d in evidence["discrepancy_id"].tolist()],
                    "conditions": [drug_of_source.get(s) for s in self.tables["conditions"]["source_id"].tolist()],
                    "adverse_effects": [drug_of_source.get(s)
                                        for s in self.tables["adverse_effects"]["source_id"].tolist()]}
            self._positions = {name: positions_by_key(keys[name]) if len(table) else {}
                               for name, table in self.tables.items()}
        return self._positions

    def reports(self, start: int = 0, end: int | None = None) -> list[DrugReport]:
        drugs = self.drugs[start:end]
        positions = self.positions()
        columns: dict[str, dict] = {}
        for name, table in self.tables.items():
            by_drug = positions[name]
            rows = [i for d in drugs for i in by_drug.get(d, ())]
            if not rows:
                continue
            only = _MATRIX_COLUMNS if name in ("conditions", "adverse_effects") else None
            # every column read once for the range's rows, then cut by drug: the pages read these lists
            picked = {c: table[c].take(rows).tolist() for c in table.columns if only is None or c in only}
            at, cut = 0, {}
            for d in drugs:
                n = len(by_drug.get(d, ()))
                if n:
                    cut[d] = {c: values[at:at + n] for c, values in picked.items()}
                    at += n
            columns[name] = cut
        return [DrugReport(drug, self.tables, {name: by[drug] for name, by in positions.items() if drug in by},
                           self.changes.get(drug, {}),
                           {name: by[drug] for name, by in columns.items() if drug in by})
                for drug in drugs]


@lru_cache(maxsize=1)
def _markdown_header() -> str:
    """The Markdown report's text before the first drug's block (rendered once per process, as
    the templates are compiled once per process)."""
    return render_markdown([])


def drug_parts(reports: list[DrugReport], pages: list[Path]) -> dict[str, dict]:
    """drug -> what the corpus-wide files need of it: its Markdown block (UTF-8 bytes, so the
    report is written by joining bytes: joining and encoding 1,000 blocks as text took 0.15 s)
    and its index row. An incremental run keeps these for the drugs it does not re-render
    (``update_reports``)."""
    header = _markdown_header()
    parts = {}
    for r, page in zip(reports, pages):
        md = render_markdown([r])
        if not md.startswith(header):  # the template must stay "header, then one block per drug"
            raise ValueError("discrepancies.md.j2 no longer renders a header followed by one block per drug")
        parts[r.drug] = {"markdown": md[len(header):].encode("utf-8"), "page": page.name, "changes": r.changes,
                         "summary": {"drug": r.drug, "href": f"drugs/{page.name}", "n_sources": r.rows("sources"),
                                     "counts": _severity_counts(r) if r.rows("discrepancies") else {}}}
    return parts


CSV_COLUMNS = ["discrepancy_id", "values_hash", "drug", "topic", "kind", "severity", "score", "supported", "status",
               "concept_id", "concept_label", "n_sources", "summary"]


def write_corpus_files(out_dir: Path, parts: dict[str, dict], discrepancies: pd.DataFrame | None,
                       evidence: pd.DataFrame | None, single_page: str | None = None,
                       database: Path | None = None, csvs=None) -> dict[str, Path]:
    """The files that cover every drug: the index (or, for a single drug, its page as
    discrepancies.html), the Markdown report from the drugs' blocks, and the two CSVs
    (``write_csvs``; ``csvs``: a future of its result when the caller started it already)."""
    written: dict[str, Path] = {}

    def put(name: str, path: Path, content: str | bytes) -> None:
        _write_atomically(path, content)
        written[name] = path

    drugs = sorted(parts)
    if single_page is not None:
        put("html", out_dir / "discrepancies.html", single_page)
    else:
        put("html", out_dir / "discrepancies.html", render_index_html([_Row(parts[d]["summary"]) for d in drugs]))
    put("markdown", out_dir / "discrepancies.md", b"".join(_markdown_blocks(parts)))
    written.update(csvs.result() if csvs is not None else write_csvs(out_dir, discrepancies, evidence, database))
    return written


def write_csvs(out_dir: Path, discrepancies: pd.DataFrame | None, evidence: pd.DataFrame | None,
               database: Path | None = None) -> dict[str, Path]:
    """discrepancies.csv and discrepancy_evidence.csv, written by DuckDB from the frames in their
    order, or (with ``database``) from the published tables in the same order (that of
    ``reconcile._order_discrepancies``), so both ways give the same bytes. Each file is written
    beside its name and renamed."""
    from pipeline.warehouse import _sql_literal, connect

    written: dict[str, Path] = {}
    csv, ev_csv = out_dir / "discrepancies.csv", out_dir / "discrepancy_evidence.csv"
    csv_tmp, ev_tmp = (p.with_name(p.name + ".tmp") for p in (csv, ev_csv))
    if database is not None:
        con = connect(database, read_only=True)
        # the order of pipeline.reconcile._order_discrepancies; the columns of CSV_COLUMNS
        con.execute("CREATE TEMP VIEW csv_discrepancies AS SELECT discrepancy_id, values_hash, drug, topic, kind, "
                    "severity, score, supported, status, concept_id, concept_label, n_sources, summary, "
                    "row_number() OVER (ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 "
                    "WHEN 'minor' THEN 2 WHEN 'info' THEN 3 END, score DESC, topic, comparison_key, drug, "
                    "discrepancy_id) AS rank_ FROM discrepancies")
        con.execute("CREATE TEMP VIEW csv_evidence AS SELECT e.* FROM discrepancy_evidence e "
                    "JOIN csv_discrepancies d USING (discrepancy_id) ORDER BY d.rank_, e.rowid")
        con.execute("CREATE TEMP VIEW csv_discrepancies_ordered AS SELECT * EXCLUDE (rank_) FROM csv_discrepancies "
                    "ORDER BY rank_")
    else:
        con = connect()
        frame = discrepancies.copy()
        if "status" not in frame:
            frame["status"] = "open"
        con.register("csv_discrepancies_ordered", frame.reindex(columns=CSV_COLUMNS))
        con.register("csv_evidence", evidence)
    try:
        con.execute(f"COPY (SELECT * FROM csv_discrepancies_ordered) TO {_sql_literal(csv_tmp.as_posix())} "
                    "(FORMAT CSV, HEADER)")
        con.execute(f"COPY (SELECT * FROM csv_evidence) TO {_sql_literal(ev_tmp.as_posix())} (FORMAT CSV, HEADER)")
    finally:
        con.close()
    for name, path, tmp in (("csv", csv, csv_tmp), ("evidence_csv", ev_csv, ev_tmp)):
        tmp.replace(path)
        written[name] = path
    return written


def _write_pages(reports: "DrugReports", pages_dir: Path, workers: int | None, meanwhile=None
                 ) -> tuple[list[Path], dict[str, dict]]:
    """Every drug's page written and its ``drug_parts`` entry rendered, in batches of drugs in
    forked workers when ``workers`` > 1: (page paths in drug order, parts by drug).

    ``meanwhile``: a callable this process runs while the workers render (a full run publishes
    the warehouse then). The pages are then rendered into a staging folder beside ``pages_dir``
    and moved in, each by an atomic rename, only once it has returned: if it raises, the staging
    folder is removed and the pages already in place stay as they were. Without workers it runs
    first and the pages are rendered after it."""
    from pipeline.parallel import default_workers, fork_start

    pages_dir.mkdir(parents=True, exist_ok=True)
    n_workers = default_workers() if workers is None else workers

    def pages_of(job, state) -> tuple[list[Path], dict[str, dict]]:  # in this process when no worker ran
        batches = job.result()
        return _joined(batches) if batches is not None else _write_drug_pages(state, 0, len(reports))

    if meanwhile is None:
        state = (reports, pages_dir)
        return pages_of(fork_start(_write_drug_pages, state, len(reports), n_workers, min_items=4), state)
    for stale in pages_dir.parent.glob(f".{pages_dir.name}.staging-*"):  # left by a killed run (writers
        shutil.rmtree(stale, ignore_errors=True)                           # hold the warehouse lock)
    staging = pages_dir.with_name(f".{pages_dir.name}.staging-{uuid.uuid4().hex[:12]}")
    staging.mkdir()
    try:
        state = (reports, staging)
        job = fork_start(_write_drug_pages, state, len(reports), n_workers, min_items=4)
        try:
            meanwhile()
        except BaseException:
            job.cancel()
            raise
        staged, parts = pages_of(job, state)
        pages = []
        for page in staged:
            final = pages_dir / page.name
            page.replace(final)
            pages.append(final)
        return pages, parts
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _joined(batches: list) -> tuple[list[Path], dict[str, dict]]:
    pages, parts = [], {}
    for batch_pages, batch_parts in batches:
        pages += batch_pages
        parts.update(batch_parts)
    return pages, parts


def _markdown_blocks(parts: dict[str, dict]) -> list:
    """The Markdown report's chunks: the header, then each drug's block in drug order."""
    return [_markdown_header().encode("utf-8"), *(parts[d]["markdown"] for d in sorted(parts))]


def save_parts(path: Path, parts: dict[str, dict], markdown: Path) -> None:
    """Save ``parts`` for the next incremental run. The Markdown blocks are not saved: each
    part keeps its block's byte span in ``markdown`` (the report just written from these parts),
    and the file's size and modification time are kept to tell whether it is still that file.
    Pickling the 17 MB of blocks, then replacing the file, took 0.13 s of every incremental run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = _markdown_blocks(parts)
    spans, at = {}, len(chunks[0])
    for drug, block in zip(sorted(parts), chunks[1:]):
        spans[drug] = (at, at + len(block))
        at += len(block)
    stat = markdown.stat()
    if stat.st_size != at:
        raise ValueError(f"{markdown} holds {stat.st_size} bytes, not the {at} of the parts being saved")
    try:  # relative to the parts file: a copied or moved project keeps pointing at its own report
        where = os.path.relpath(markdown.resolve(), path.parent.resolve())
    except ValueError:  # another drive (Windows)
        where = str(markdown.resolve())
    saved = {"markdown_file": {"path": where, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
             "drugs": {d: {**{k: v for k, v in part.items() if k != "markdown"}, "md_span": spans[d]}
                       for d, part in parts.items()}}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(saved, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def carry_forward(changes: dict[str, dict], previous_parts: dict[str, dict]) -> dict[str, dict]:
    """A drug this run found unchanged keeps the change block of the run that last changed it
    (with that run's id and time), so its page says what last happened to it, and a page an
    incremental run leaves alone reads exactly as a full run would write it."""
    from pipeline.history import is_unchanged

    out = dict(changes)
    for drug, change in changes.items():
        before = previous_parts.get(drug, {}).get("changes")
        if is_unchanged(change) and before:
            out[drug] = before
    return out


def _load_parts_or_none(path: Path) -> dict | None:
    try:
        return load_parts(path)
    except Exception:  # noqa: BLE001 - parts from another code version or a cut file: start afresh
        return None


def load_parts(path: Path, markdown: bool = False) -> dict[str, dict]:
    """drug -> its saved part. With ``markdown``, each part gets its Markdown block back from
    the report file it was saved with; a ValueError if that file is gone or was changed since."""
    with open(path, "rb") as fh:
        saved = pickle.load(fh)
    parts = saved["drugs"]
    if markdown:
        text = _saved_markdown(saved, path)
        if text is None:
            raise ValueError(f"the Markdown report {_markdown_of(saved['markdown_file'], path)} is missing or was changed "
                             "after the last run; run the full pipeline")
        view = memoryview(text)
        for part in parts.values():
            start, end = part["md_span"]
            part["markdown"] = view[start:end]
    return parts


def _markdown_of(meta: dict, parts_file: Path) -> Path:
    return parts_file.parent / meta["path"]  # an absolute path stays itself


def _markdown_changed(meta: dict, parts_file: Path) -> str | None:
    """Why the Markdown report the parts were saved with is no longer that file (gone, or another
    size or modification time), or None."""
    path = _markdown_of(meta, parts_file)
    try:
        stat = path.stat()
    except OSError:
        return f"no Markdown report at {path}, beside the saved report parts"
    if (stat.st_size, stat.st_mtime_ns) != (meta["size"], meta["mtime_ns"]):
        return f"the Markdown report {path} was changed after the last run"
    return None


def _saved_markdown(saved: dict, parts_file: Path) -> bytes | None:
    """The Markdown report the parts were saved with, or None when it is gone or changed."""
    meta = saved["markdown_file"]
    if _markdown_changed(meta, parts_file) is not None:
        return None
    try:
        text = _markdown_of(meta, parts_file).read_bytes()
    except OSError:
        return None
    return text if len(text) == meta["size"] else None


def parts_usable(path: Path) -> str | None:
    """Why the saved parts cannot serve an incremental report (None: they can)."""
    try:
        with open(path, "rb") as fh:
            saved = pickle.load(fh)
        meta = saved["markdown_file"]
    except FileNotFoundError:
        return "no saved report parts"
    except Exception as exc:  # noqa: BLE001 - a cut or foreign file: the reason is reported, a full run mends it
        return f"the saved report parts cannot be read ({type(exc).__name__})"
    return _markdown_changed(meta, path)


@gc_paused_call
def write_reports(out_dir: Path, sources: pd.DataFrame, discrepancies: pd.DataFrame, evidence: pd.DataFrame,
                  conditions: pd.DataFrame, adverse_effects: pd.DataFrame, changes: dict | None = None,
                  workers: int | None = None, parts_file: Path | None = None, meanwhile=None) -> dict[str, Path]:
    """Write every report file into ``out_dir``; returns their paths by name. Files are written
    beside their final name and renamed, so a reader never sees half a report. The drug pages
    are independent: with ``workers`` > 1 (default ``DRUG_FACTS_WORKERS``) forked processes
    render and write them in batches (the same files). With ``parts_file`` the drugs' Markdown
    blocks and index rows are saved there for ``update_reports``.

    ``meanwhile``: a callable run in this process while the workers render the pages (the full
    run publishes the warehouse then, so the two overlap). No report file changes before it has
    returned; if it raises, the error propagates and the report is left as it was."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if parts_file is not None and parts_file.exists():
        changes = carry_forward(changes or {}, _load_parts_or_none(parts_file) or {})
    reports = DrugReports(sources, discrepancies, evidence, conditions, adverse_effects, changes)
    pages, parts = _write_pages(reports, out_dir / "drugs", workers, meanwhile)
    written = {f"html:{drug}": page for drug, page in zip(reports.drugs, pages)}
    single = render_drug_html(reports.reports(0, 1)[0]) if len(reports) == 1 else None
    written.update(write_corpus_files(out_dir, parts, discrepancies, evidence, single))
    if parts_file is not None:
        save_parts(parts_file, parts, written["markdown"])
    return written


@gc_paused_call
def update_reports(out_dir: Path, parts_file: Path, sources: pd.DataFrame, discrepancies: pd.DataFrame,
                   evidence: pd.DataFrame, conditions: pd.DataFrame, adverse_effects: pd.DataFrame, changes: dict,
                   database: Path, drugs: set[str], workers: int | None = None) -> dict[str, Path]:
    """``write_reports`` for an incremental run: the first five tables hold only the changed
    drugs' rows; their pages are re-rendered and their blocks replaced in the saved parts, the
    other drugs' pages are left as they are, and the corpus-wide files are rewritten from the
    parts and the published ``database``. ``drugs``: every drug re-processed; one left with no
    source (all its pages failed to split) leaves the corpus-wide files, as in a full run."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        # DuckDB writes the CSVs from the published tables (without the GIL) while the pages and
        # the other files are made here
        csvs = pool.submit(write_csvs, out_dir, None, None, database)
        parts = load_parts(parts_file, markdown=True)
        for drug in drugs - set(sources["drug"]):
            parts.pop(drug, None)
        reports = DrugReports(sources, discrepancies, evidence, conditions, adverse_effects,
                              carry_forward(changes, parts))
        pages, new_parts = _write_pages(reports, out_dir / "drugs", workers)
        parts.update(new_parts)
        if len(parts) < 2:
            raise ValueError("an incremental report needs at least two drugs; run the full pipeline")
        written = {f"html:{drug}": page for drug, page in zip(reports.drugs, pages)}
        written.update(write_corpus_files(out_dir, parts, None, None, database=database, csvs=csvs))
        save_parts(parts_file, parts, written["markdown"])
    return written
