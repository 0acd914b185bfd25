"""Editors' decisions: a CSV file kept in git (reports/decisions.csv), one line per decision.

Columns: discrepancy_id, status, reviewer, decided_at, comment, values_hash. ``values_hash`` is
the fingerprint of the values and quotes the decision was made on (the report shows it beside
each discrepancy); when the current fingerprint differs, the decision is re-opened. A line with
an unknown id or status is reported with its line number and the other lines still apply.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pandas as pd

from pipeline.problems import Problem

STATUSES = ("confirmed", "dismissed", "fixed upstream", "needs expert")
COLUMNS = ["discrepancy_id", "status", "reviewer", "decided_at", "comment", "values_hash"]
REVIEW_COLUMNS = ["discrepancy_id", "status", "decided_status", "reviewer", "decided_at", "comment",
                  "values_hash_at_decision", "current_values_hash", "reopened", "line"]


def values_hash(evidence: pd.DataFrame) -> pd.Series:
    """discrepancy_id -> fingerprint of (source, value, quote) of its evidence, order-free (one
    pass over the rows: a pandas ``groupby.apply`` per discrepancy cost seconds at 30,000)."""
    if evidence.empty:
        return pd.Series(dtype=str)
    keys = (evidence["source_id"].astype(str) + "\x1f" + evidence["value"].astype(str) + "\x1f"
            + evidence["quote"].astype(str)).tolist()
    grouped: dict[str, list[str]] = {}
    for did, key in zip(evidence["discrepancy_id"].tolist(), keys):
        if isinstance(did, str):
            grouped.setdefault(did, []).append(key)
    ids = sorted(grouped)
    return pd.Series([hashlib.sha1("\x1e".join(sorted(grouped[d])).encode()).hexdigest()[:12] for d in ids],
                     index=pd.Index(ids, name="discrepancy_id"), dtype=object)


def read_decisions(path: Path) -> tuple[list[dict], list[Problem]]:
    """Parse the decisions file. A missing file means no decisions."""
    if not path.exists():
        return [], []
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    problems: list[Problem] = []
    missing = [c for c in ("discrepancy_id", "status") if c not in (reader.fieldnames or [])]
    if missing:
        return [], [Problem("decisions", "error", path.name, "", f"decisions file lacks column(s) {', '.join(missing)}",
                            f"the header must be: {','.join(COLUMNS)}")]
    rows = []
    for line_no, row in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k}
        row["line"] = line_no
        rows.append(row)
    return rows, problems


def apply_decisions(discrepancies: pd.DataFrame, evidence: pd.DataFrame, rows: list[dict], source_name: str,
                    others: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[Problem]]:
    """(discrepancies with ``status``, reviews table, problems). The last valid line for an id wins.
    ``others`` (columns discrepancy_id, values_hash): discrepancies not in ``discrepancies`` that
    lines may still name, with their current fingerprints (an incremental run passes the
    unchanged drugs' published ones, so the reviews table covers every decision)."""
    problems: list[Problem] = []
    hashes = values_hash(evidence)
    current = dict(zip(hashes.index.tolist(), hashes.tolist()))  # a dict: looked up once per discrepancy
    ids = discrepancies["discrepancy_id"].tolist() if len(discrepancies) else []
    known = set(ids)
    if others is not None and len(others):
        current = {**dict(zip(others["discrepancy_id"].tolist(), others["values_hash"].tolist())), **current}
        known.update(others["discrepancy_id"].tolist())
    decided: dict[str, dict] = {}
    for row in rows:
        did, status = row.get("discrepancy_id", ""), row.get("status", "").lower()
        where = f"line {row['line']}"
        if not did:
            problems.append(Problem("decisions", "error", source_name, "", f"{where}: no discrepancy_id",
                                    "fill in the id shown beside the discrepancy in the report; this line was skipped"))
            continue
        if did not in known:
            problems.append(Problem("decisions", "error", source_name, "", f"{where}: unknown discrepancy_id {did!r}",
                                    "check the id against reports/discrepancies.csv; this line was skipped"))
            continue
        if status not in STATUSES:
            problems.append(Problem("decisions", "error", source_name, "", f"{where}: status {row.get('status')!r} is not one of {', '.join(STATUSES)}",
                                    "use one of the listed statuses; this line was skipped"))
            continue
        decided[did] = {**row, "status": status}
    reviews = []
    status_of = {}
    for did, row in decided.items():
        now = current.get(did, "")
        made_on = row.get("values_hash", "")
        reopened = bool(made_on) and made_on != now
        effective = "reopened" if reopened else row["status"]
        status_of[did] = effective
        reviews.append({"discrepancy_id": did, "status": effective, "decided_status": row["status"],
                        "reviewer": row.get("reviewer", ""), "decided_at": row.get("decided_at", ""),
                        "comment": row.get("comment", ""), "values_hash_at_decision": made_on,
                        "current_values_hash": now, "reopened": reopened, "line": int(row["line"])})
    out = discrepancies.copy()
    out["status"] = [status_of.get(d, "open") for d in ids] if len(out) else pd.Series(dtype=str)
    out["values_hash"] = [current.get(d, "") for d in ids] if len(out) else pd.Series(dtype=str)
    return out, pd.DataFrame(reviews, columns=REVIEW_COLUMNS), problems
