"""Run history: what each run read and produced, when each fact and discrepancy was first and
last seen, and what changed since the previous run.

History lives in the warehouse's history tables and in their Parquet export
(``warehouse/parquet/<table>/``), which the next run reads: the export is written only after the
new warehouse is in place, so the history moves forward only with a published run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.frames import columns_by_key

RUN_COLUMNS = ["run_id", "started_at", "ended_at", "source_hashes", "row_counts", "severity_counts"]
FACT_COLUMNS = ["fact_key", "fact_table", "source_id", "mention", "label", "first_seen_run", "first_seen_at",
                "last_seen_run", "last_seen_at", "present"]
DISC_COLUMNS = ["discrepancy_id", "drug", "topic", "severity", "summary", "values_hash", "first_seen_run",
                "first_seen_at", "last_seen_run", "last_seen_at", "present"]
SECTION_COLUMNS = ["source_id", "section_key", "heading", "text_sha", "last_seen_run"]
HISTORY_TABLES = {"runs": RUN_COLUMNS, "fact_history": FACT_COLUMNS, "discrepancy_history": DISC_COLUMNS,
                  "section_history": SECTION_COLUMNS}
FACT_LABELS = {"adverse_effects": "category", "conditions": "stance", "interactions": "direction", "dosing": "phase",
               "statements": "topic"}


SOURCE_HASH_COLUMNS = ["source_id", "sha256"]


def empty_history() -> dict[str, pd.DataFrame]:
    """The history tables, and ``sources``: the source id and text hash of every source the
    last published run read (what the next run's changes are measured against)."""
    out = {name: pd.DataFrame(columns=cols) for name, cols in HISTORY_TABLES.items()}
    out["sources"] = pd.DataFrame(columns=SOURCE_HASH_COLUMNS)
    return out


def load_history(directory: Path) -> dict[str, pd.DataFrame]:
    """The history tables of the last published run, from its Parquet export (``directory`` is
    ``warehouse/parquet``; see ``pipeline.export``)."""
    from pipeline.export import read_exported

    out = empty_history()
    for name, columns in HISTORY_TABLES.items():
        frame = read_exported(directory, name)
        legacy = directory.parent / "history" / f"{name}.parquet"  # where runs before the export kept it
        if frame is None and legacy.exists():
            frame = pd.read_parquet(legacy)
        if frame is not None:
            out[name] = frame.reindex(columns=columns)
    folder = directory / "sources"
    if folder.is_dir() and any(folder.rglob("*.parquet")):  # two columns, not the texts
        out["sources"] = pd.read_parquet(folder, columns=SOURCE_HASH_COLUMNS)
    elif len(out["runs"]):  # an export from before the sources' hashes were read from it
        last = out["runs"]["source_hashes"].iloc[-1]
        out["sources"] = pd.DataFrame(list(json.loads(last).items()), columns=SOURCE_HASH_COLUMNS)
    return out


def hash_changes(before: dict[str, str], now: dict[str, str]) -> dict[str, str | None]:
    """What ``runs.source_hashes`` records: each source whose text hash is new or changed since
    ``before`` with its hash, and each source gone since then with None. A first run (nothing
    before) records every source; a run that changed nothing records {}. Recording every source
    on every run made the table grow by every source's hash a run (0.5 MB at 1,000 drugs)."""
    from pipeline.watch import changed_sources

    out: dict[str, str | None] = {s: now[s] for s in changed_sources(before, now)}
    out.update({s: None for s in before if s not in now})
    return out


def previous_hashes(prev: dict[str, pd.DataFrame]) -> dict[str, str]:
    """source_id -> text hash of every source of the last published run."""
    frame = prev.get("sources")
    if frame is None or not len(frame):
        return {}
    return dict(zip(frame["source_id"].tolist(), frame["sha256"].tolist()))


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def fact_keys(facts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per distinct fact: table, source and normalised wording with its label. Offsets are
    left out so an edit elsewhere in the source does not make every fact look new. Built column
    by column (one dict per row cost seconds at a few hundred thousand facts)."""
    cols: dict[str, list] = {"fact_key": [], "fact_table": [], "source_id": [], "mention": [], "label": []}
    for table, label_col in FACT_LABELS.items():
        frame = facts.get(table)
        if frame is None or frame.empty:
            continue
        labels = frame[label_col].map(str)
        if table == "dosing":  # map(str), not astype(str): pandas keeps a missing value missing
            labels = labels + " " + frame["route"].map(str) + " " + frame["daily_max_mg"].map(str)
        sids, mentions, labels = frame["source_id"].tolist(), frame["mention"].tolist(), labels.tolist()
        cols["fact_key"] += [_sha(f"{table}|{sid}|{' '.join(str(m).lower().split())}|{label}")
                             for sid, m, label in zip(sids, mentions, labels)]
        cols["fact_table"] += [table] * len(sids)
        cols["source_id"] += sids
        cols["mention"] += mentions
        cols["label"] += labels
    return pd.DataFrame(cols).drop_duplicates("fact_key")


def section_keys(sections: pd.DataFrame) -> pd.DataFrame:
    if sections.empty:
        return pd.DataFrame(columns=["source_id", "section_key", "heading", "text_sha"])
    s = sections.sort_values(["source_id", "section_index"]).copy()
    s["occurrence"] = s.groupby(["source_id", "heading"]).cumcount()
    s["section_key"] = s["heading"].astype(str) + "#" + s["occurrence"].astype(str)
    s["text_sha"] = s["text"].map(_sha)
    return s[["source_id", "section_key", "heading", "text_sha"]]


def advance_history(prev: pd.DataFrame, current: pd.DataFrame, key: str, run_id: str, now: str,
                    keep: list[str], previous: tuple[str, str] | None = None) -> pd.DataFrame:
    """Merge the current rows into the history: new rows get first_seen; rows the current run
    produced are ``present`` with no last sighting of their own (``last_seen_run`` and
    ``last_seen_at`` are empty: they were seen by the latest run, as a current row of a
    slowly changing dimension has no end), so a run that re-processes some drugs leaves every
    other drug's rows as they are. A row no longer produced keeps its last sighting: the
    ``previous`` run (run id, time) for a row that was present until now. Rows: the current ones
    in their order, then the earlier ones no longer present, in the history's order. A key seen
    twice before counts with its first row. Built column by column: a dict per row made a
    re-run take seconds."""
    if not len(current) and not len(prev):
        return pd.DataFrame()
    n = len(current)
    cur_keys = current[key].tolist() if key in current.columns else []
    old = prev.drop_duplicates(key) if len(prev) else prev
    old_keys = old[key].tolist() if len(old) else []
    where = {k: i for i, k in enumerate(old_keys)}
    pos = [where.get(k) for k in cur_keys]

    def old_col(name: str) -> list:
        return old[name].tolist() if len(old) and name in old.columns else [np.nan] * len(old_keys)

    first_run, first_at = old_col("first_seen_run"), old_col("first_seen_at")
    seen = set(cur_keys)
    gone = [i for i, k in enumerate(old_keys) if k not in seen]
    cols: dict[str, list] = {}
    for c in current.columns:
        values = current[c].tolist()
        if c == key or c in keep:
            source = old_col(c)
            values += [source[i] for i in gone]
        else:
            values += [np.nan] * len(gone)
        cols[c] = values
    for c in [key, *keep]:  # a column the current rows lack comes from the history alone
        if c not in cols:
            source = old_col(c)
            cols[c] = [np.nan] * n + [source[i] for i in gone]
    last_run, last_at = old_col("last_seen_run"), old_col("last_seen_at")
    ended = [i for i in gone if not isinstance(last_run[i], str)]  # present until the previous run
    if ended and previous is None:
        raise ValueError(f"{len(ended)} history row(s) were present ({key} {old_keys[ended[0]]!r}, ...) but "
                         "no previous run is known to date their last sighting")
    ended_set = set(ended)
    cols["first_seen_run"] = [run_id if i is None else first_run[i] for i in pos] + [first_run[i] for i in gone]
    cols["first_seen_at"] = [now if i is None else first_at[i] for i in pos] + [first_at[i] for i in gone]
    cols["last_seen_run"] = pd.array([None] * n + [previous[0] if i in ended_set else last_run[i] for i in gone],
                                     dtype="string")
    cols["last_seen_at"] = pd.array([None] * n + [previous[1] if i in ended_set else last_at[i] for i in gone],
                                    dtype="string")
    cols["present"] = [True] * n + [False] * len(gone)
    return pd.DataFrame(cols)


def previous_run(runs: pd.DataFrame) -> tuple[str, str] | None:
    """(run id, ended_at) of the last run in ``runs`` (the run that published the history being
    advanced), or None before the first run."""
    if not len(runs):
        return None
    last = runs.iloc[-1]
    return str(last["run_id"]), str(last["ended_at"])


def run_record(run_id: str, started_at: str, ended_at: str, source_hashes: dict, row_counts: dict,
               severity_counts: dict) -> dict:
    """One row of ``runs`` (the JSON columns with sorted keys, so equal runs give equal text)."""
    return {"run_id": run_id, "started_at": started_at, "ended_at": ended_at,
            "source_hashes": json.dumps(source_hashes, sort_keys=True),
            "row_counts": json.dumps(row_counts, sort_keys=True),
            "severity_counts": json.dumps(severity_counts, sort_keys=True)}


def update_history(prev: dict[str, pd.DataFrame], run_id: str, started_at: str, ended_at: str, sources: pd.DataFrame,
                   sections: pd.DataFrame, facts: dict[str, pd.DataFrame], discrepancies: pd.DataFrame,
                   row_counts: dict[str, int]) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """(new history tables, changes by drug). ``discrepancies`` must carry ``values_hash``."""
    hashes = dict(zip(sources["source_id"], sources["sha256"]))
    severity = discrepancies["severity"].value_counts().to_dict() if len(discrepancies) else {}
    run = run_record(run_id, started_at, ended_at, hash_changes(previous_hashes(prev), hashes), row_counts, severity)
    runs = pd.concat([prev["runs"], pd.DataFrame([run])], ignore_index=True) if len(prev["runs"]) else pd.DataFrame([run])

    fact_now = fact_keys(facts)
    previous = previous_run(prev["runs"])
    fact_hist = advance_history(prev["fact_history"], fact_now, "fact_key", run_id, ended_at,
                         ["fact_table", "source_id", "mention", "label"], previous)
    disc_now = discrepancies[["discrepancy_id", "drug", "topic", "severity", "summary", "values_hash"]] if len(discrepancies) \
        else pd.DataFrame(columns=["discrepancy_id", "drug", "topic", "severity", "summary", "values_hash"])
    disc_hist = advance_history(prev["discrepancy_history"], disc_now, "discrepancy_id", run_id, ended_at,
                         ["drug", "topic", "severity", "summary", "values_hash"], previous)
    sec_now = section_keys(sections).assign(last_seen_run=run_id)
    history = {"runs": runs.reindex(columns=RUN_COLUMNS), "fact_history": fact_hist.reindex(columns=FACT_COLUMNS),
               "discrepancy_history": disc_hist.reindex(columns=DISC_COLUMNS),
               "section_history": sec_now.reindex(columns=SECTION_COLUMNS)}
    return history, changes_by_drug(prev, sources, sec_now, disc_now, run_id, ended_at)


def is_unchanged(change: dict) -> bool:
    """True for a drug this run found no change in (no new, resolved or changed discrepancy, no
    changed source, not a first run)."""
    return bool(change) and not change.get("first_run") and not any(
        change.get(k) for k in ("new", "resolved", "changed", "sources"))


def changes_by_drug(prev: dict[str, pd.DataFrame], sources: pd.DataFrame, sections_now: pd.DataFrame,
             disc_now: pd.DataFrame, run_id: str = "", at: str = "") -> dict[str, dict]:
    """What changed since the previous run, per drug: new, resolved and changed discrepancies, and
    the sources whose text changed with their changed sections; each with the run and time."""
    drugs = sorted(set(sources["drug"])) if len(sources) else []
    if prev["runs"].empty:
        return {d: {"first_run": True, "items": ["First run: there is no earlier run to compare with."],
                    "new": [], "resolved": [], "changed": [], "sources": [], "run_id": run_id, "at": at}
                for d in drugs}
    old_hashes = previous_hashes(prev)
    old_disc = prev["discrepancy_history"]
    old_present = old_disc[old_disc["present"].astype(bool)] if len(old_disc) else old_disc
    old_by_id = old_present.set_index("discrepancy_id") if len(old_present) else pd.DataFrame()
    old_sections = prev["section_history"]
    drug_of = dict(zip(sources["source_id"], sources["drug"]))
    # every table read once and grouped by drug or source (one filter per drug made it quadratic)
    now_by_drug = columns_by_key(disc_now, disc_now["drug"].tolist(), ("discrepancy_id", "summary", "values_hash"))
    before_by_drug = columns_by_key(old_present, old_present["drug"].tolist(), ("discrepancy_id",)) if len(old_present) else {}
    old_hash_of = dict(zip(old_by_id.index.tolist(), old_by_id["values_hash"].tolist())) if len(old_by_id) else {}
    old_summary = old_by_id["summary"].to_dict() if len(old_by_id) else {}
    sha_of: dict[str, str] = {}
    for sid, sha in zip(sources["source_id"].tolist(), sources["sha256"].tolist()):
        sha_of.setdefault(sid, sha)
    old_sec_by = columns_by_key(old_sections, old_sections["source_id"].tolist(), ("section_key", "text_sha")) if len(old_sections) else {}
    now_sec_by = columns_by_key(sections_now, sections_now["source_id"].tolist(), ("section_key", "text_sha"))
    removed = sorted(s for s in old_hashes if s not in drug_of)
    sources_of: dict[str, list[str]] = {}
    for s, d in drug_of.items():
        sources_of.setdefault(d, []).append(s)
    out = {}
    for drug in drugs:
        now = now_by_drug.get(drug, {"discrepancy_id": [], "summary": [], "values_hash": []})
        before = before_by_drug.get(drug, {"discrepancy_id": []})
        now_ids, before_ids = set(now["discrepancy_id"]), set(before["discrepancy_id"])
        new = sorted(now_ids - before_ids)
        resolved = sorted(before_ids - now_ids)
        now_hash = dict(zip(now["discrepancy_id"], now["values_hash"]))
        changed = sorted(d for d in now_ids & before_ids if old_hash_of[d] != now_hash[d])
        src_changes = []
        for sid in sorted(sources_of.get(drug, [])):
            sha_now = sha_of[sid]
            if old_hashes.get(sid) == sha_now:
                continue
            if sid not in old_hashes:
                src_changes.append({"source_id": sid, "status": "new source", "sections": []})
                continue
            old_sec = old_sec_by.get(sid, {"section_key": [], "text_sha": []})
            now_sec = now_sec_by.get(sid, {"section_key": [], "text_sha": []})
            olds = dict(zip(old_sec["section_key"], old_sec["text_sha"]))
            nows = dict(zip(now_sec["section_key"], now_sec["text_sha"]))
            touched = sorted(k.rsplit("#", 1)[0] or "(untitled)" for k in set(olds) | set(nows) if olds.get(k) != nows.get(k))
            src_changes.append({"source_id": sid, "status": "text changed", "sections": touched})
        for sid in (s for s in removed if s.startswith(f"{drug}-")):
            src_changes.append({"source_id": sid, "status": "removed", "sections": []})
        summary_of = dict(zip(now["discrepancy_id"], now["summary"]))
        items = ([f"new: {summary_of[d]} ({d})" for d in new] + [f"resolved: {old_summary.get(d, d)} ({d})" for d in resolved]
                 + [f"changed: {summary_of[d]} ({d})" for d in changed]
                 + [f"source {c['source_id']}: {c['status']}" + (f" — sections changed: {', '.join(c['sections'])}" if c["sections"] else "")
                    for c in src_changes])
        out[drug] = {"first_run": False, "items": items or ["No change since the last run."], "new": new,
                     "resolved": resolved, "changed": changed, "sources": src_changes, "run_id": run_id, "at": at}
    return out
