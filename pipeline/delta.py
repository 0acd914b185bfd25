"""Incremental runs by drug: when only some raw files changed, only their drugs are processed
again and only those drugs' rows are replaced in a copy of the warehouse.

A full run leaves a manifest (``warehouse/state/manifest.json``): the hash of every raw file it
read (from the ``sources`` table), of the code and rule files, of the registry, of the decisions
file and the vocabulary key. ``plan_run`` compares the tree with it and says what the next run
must be:

- ``unchanged``: nothing to do;
- ``full``: no manifest or warehouse yet, the code, rules, registry, decisions or vocabulary
  changed, there is a single drug, or more than ``incremental_max_drug_share`` of the drugs
  changed (a full run with the per-source caches is then as cheap);
- ``incremental``: the raw files that changed, closed over drugs (every file holding a source of
  a changed drug, and every drug with a source in such a file), so each re-read file is split
  exactly as a full run splits it.

``run_incremental`` then runs the same stage functions as the full pipeline on those drugs'
registry entries only (split, sections, extraction with the content-hash caches, matching,
reconciliation, editors' decisions), validates the new rows against the same pandera models,
copies the published warehouse beside itself, deletes the changed drugs' rows from every table
and inserts the new ones (``DELTA_KEYS`` says how each table's rows are tied to a drug), moves
the history forward (the changed drugs' facts and discrepancies are merged as a full run
merges them; the other drugs' rows stay as they are, since a present row's last sighting is the
latest run, stored as no value; the other sources' section fingerprints get this run, in SQL), checks key
uniqueness over the whole tables, swaps the file in, exports Parquet and rewrites the report
(the changed drugs' pages; the index, Markdown and CSVs from the saved parts and the whole
tables). Drugs are independent in every stage after splitting, which is what makes the
result equal to a full run's (``tests/integration/test_incremental.py`` compares every table
and report file with a full run on the same edit).
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.cache import file_sha256, fresh_code_version
from pipeline.perf import heap_frozen
from pipeline.registry import SourceEntry, load_registry
from pipeline.warehouse import _quote_ident, connect, remove_staging_file, staging_path

STATE_DIR = "state"
MANIFEST = "manifest.json"
REPORT_PARTS = "report_parts.pkl"

# How each warehouse table's rows belong to a drug, for deleting the changed drugs' rows:
# ("drug", col): rows whose col is a changed drug; ("source", col): col is one of their sources;
# ("file", col): col is a re-read raw file; ("discrepancy", col): col is a discrepancy of a
# changed drug; ("all", None): the table is rebuilt whole (it is small); ("append", None): one
# row per run is added; ("static", None): never changes without a full run.
DELTA_KEYS: dict[str, tuple[str, str | None]] = {
    "sources": ("drug", "drug"),
    "raw_segments": ("file", "raw_path"),
    "sections": ("source", "source_id"),
    "list_items": ("source", "source_id"),
    "quarantine": ("file", "raw_path"),  # plus every 'decisions' row: decisions are re-applied
    "dosing": ("source", "source_id"),
    "adverse_effects": ("source", "source_id"),
    "conditions": ("source", "source_id"),
    "interactions": ("source", "source_id"),
    "statements": ("source", "source_id"),
    "drug_profile": ("source", "source_id"),
    "data_quality": ("source", "source_id"),
    "concepts": ("static", None),
    "concept_terms": ("static", None),
    "concept_relations": ("drug", "drug"),
    "discrepancies": ("drug", "drug"),
    "discrepancy_evidence": ("discrepancy", "discrepancy_id"),
    "source_dependencies": ("drug", "drug"),
    "reviews": ("all", None),
    "runs": ("append", None),
    "fact_history": ("source", "source_id"),
    "discrepancy_history": ("drug", "drug"),
    "section_history": ("source", "source_id"),
}


# History tables whose every row records the latest run (section_history.last_seen_run): an
# incremental run updates rows of every drug in them, so their export is rewritten whole. (The
# fact and discrepancy histories' present rows record no run: see history.advance_history.)
SEEN_BY_EVERY_RUN = ("section_history",)


class DeltaError(RuntimeError):
    """The incremental run cannot go on (its plan no longer holds); nothing was published."""


@dataclass(frozen=True)
class Plan:
    mode: str                      # "unchanged" | "incremental" | "full"
    reason: str
    files: tuple[str, ...] = ()    # raw files to read again (incremental)
    drugs: tuple[str, ...] = ()    # drugs to process again (incremental)
    n_drugs: int = 0
    manifest: str = field(default="", compare=False, repr=False)        # manifest_key when planned
    entries: tuple = field(default=(), compare=False, repr=False)        # the registry as read


@dataclass
class DeltaResult:
    drugs: tuple[str, ...]
    files: tuple[str, ...]
    rows_inserted: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    problems: list = field(default_factory=list)
    report_files: dict = field(default_factory=dict)


def state_dir(warehouse_dir: Path) -> Path:
    return warehouse_dir / STATE_DIR


def parts_path(warehouse_dir: Path) -> Path:
    return state_dir(warehouse_dir) / REPORT_PARTS


def fingerprint(raw_dir: Path, decisions_path: Path, vocabulary_key: str) -> dict[str, str]:
    """What every drug's result depends on besides its own raw files, read from disk now (code,
    rule and template files, registry, decisions, vocabulary)."""
    return {"code": fresh_code_version("."), "registry": file_sha256(raw_dir / "registry.toml"),
            "decisions": file_sha256(decisions_path), "vocabulary": vocabulary_key}


def run_start_state(raw_dir: Path, decisions_path: Path, vocabulary_key: str, cache_dir: Path | None = None) -> dict:
    """Taken when a full run starts, before it reads anything: the fingerprint and the hash of
    every raw file the registry names. Anything edited after this point differs from what the
    manifest records, so the next plan picks it up (a later snapshot could hide such an edit)."""
    from pipeline.registry import raw_file_resolver

    entries, _ = load_registry(raw_dir / "registry.toml", cache_dir)
    resolve_raw_file = raw_file_resolver(raw_dir)
    files = {}
    for rel in sorted({e.raw_path for e in entries}):
        path = resolve_raw_file(rel)
        files[rel] = file_sha256(path) if path is not None else ""
    return {"fingerprint": fingerprint(raw_dir, decisions_path, vocabulary_key), "files": files}


def save_manifest(warehouse_dir: Path, start: dict, sources: pd.DataFrame, raw_dir: Path) -> Path:
    """Record what the run just published: ``start`` (``run_start_state``), with the hash of the
    bytes actually split for every file that yielded a source (``sources.raw_sha256``)."""
    files = dict(start["files"])
    files.update(dict(zip(sources["raw_path"], sources["raw_sha256"])) if len(sources) else {})
    return _write_manifest(warehouse_dir, start["fingerprint"], files, _stats(raw_dir, files))


RACY_SECONDS = 2.0  # a file modified this recently may change again within the same time stamp


def _stats(raw_dir: Path, files: dict[str, str]) -> dict[str, list[int]]:
    """(size, mtime in ns) of each file whose bytes still hash to what the run read: the next plan
    hashes only files whose size or time differ (as git's index does). A file edited since it
    was read gets no entry, and neither does one modified in the last ``RACY_SECONDS`` (an edit
    of the same size within the same time stamp would look unchanged): the next plan hashes them."""
    import time

    out = {}
    racy = time.time_ns() - int(RACY_SECONDS * 1e9)
    for rel, sha in files.items():
        path = raw_dir / rel
        try:
            st = path.stat()
        except OSError:
            continue
        if st.st_mtime_ns < racy and file_sha256(path) == sha:
            out[rel] = [st.st_size, st.st_mtime_ns]
    return out


def _write_manifest(warehouse_dir: Path, fingerprint_: dict[str, str], files: dict[str, str],
                    stats: dict[str, list[int]]) -> Path:
    out = state_dir(warehouse_dir) / MANIFEST
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint_, "files": dict(sorted(files.items())),
                               "stats": dict(sorted(stats.items()))}), encoding="utf-8")
    tmp.replace(out)
    return out


def drop_manifest(warehouse_dir: Path) -> None:
    """Remove the manifest, so the next plan is a full run (after a run that published the
    warehouse but could not finish what depends on it)."""
    (state_dir(warehouse_dir) / MANIFEST).unlink(missing_ok=True)


def update_manifest(warehouse_dir: Path, files: set[str], sources: pd.DataFrame, raw_dir: Path) -> None:
    """After an incremental run: the re-read files' hashes replace theirs (a file none of whose
    sources could be split drops out, so the next run reads it again)."""
    manifest = load_manifest(warehouse_dir)
    kept = {f: h for f, h in manifest["files"].items() if f not in files}
    stats = {f: st for f, st in manifest.get("stats", {}).items() if f not in files}
    new = dict(zip(sources["raw_path"], sources["raw_sha256"])) if len(sources) else {}
    kept.update(new)
    stats.update(_stats(raw_dir, new))
    _write_manifest(warehouse_dir, manifest["fingerprint"], kept, stats)


@contextlib.contextmanager
def warehouse_lock(warehouse_dir: Path, timeout: float = 3600.0):
    """Hold the lock every writer of the published state takes (the full run's publication and
    report, an incremental run from its plan check to its manifest): two runs never interleave
    their swaps, exports and manifests. Waits up to ``timeout`` seconds, then raises DeltaError."""
    import fcntl
    import time

    path = state_dir(warehouse_dir) / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        waited = time.monotonic()
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - waited > timeout:
                    raise DeltaError(f"another run has held {path} for over {timeout:.0f} s; nothing was "
                                     "published (if no run is active, delete the file)") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def manifest_key(warehouse_dir: Path) -> str:
    """Hash of the manifest file as it is now ('' when there is none)."""
    return file_sha256(state_dir(warehouse_dir) / MANIFEST)


def load_manifest(warehouse_dir: Path) -> dict | None:
    path = state_dir(warehouse_dir) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def drug_closure(entries: list[SourceEntry], changed_files: set[str]) -> tuple[set[str], set[str]]:
    """(raw files, drugs): the changed files' drugs, every file holding one of their sources,
    those files' drugs, and so on until nothing is added."""
    files, drugs = set(changed_files), set()
    while True:
        new_drugs = {e.drug for e in entries if e.raw_path in files}
        new_files = files | {e.raw_path for e in entries if e.drug in new_drugs}
        if new_drugs == drugs and new_files == files:
            return files, drugs
        files, drugs = new_files, new_drugs


@heap_frozen()  # the caller's heap is left out of the collector's walks (see perf.heap_frozen)
def plan_run(raw_dir: Path, warehouse_path: Path, decisions_path: Path, vocabulary_key: str,
             max_drug_share: float, cache_dir: Path | None = None) -> Plan:
    """What the next run must be (see the module docstring)."""
    manifest = load_manifest(warehouse_path.parent)
    if manifest is None:
        return Plan("full", "no manifest of a previous full run")
    if not warehouse_path.exists():
        return Plan("full", f"no published warehouse at {warehouse_path}")
    from pipeline.report import parts_usable

    unusable = parts_usable(parts_path(warehouse_path.parent))
    if unusable:
        return Plan("full", unusable)
    now = fingerprint(raw_dir, decisions_path, vocabulary_key)
    differs = [k for k in now if manifest["fingerprint"].get(k) != now[k]]
    if differs:
        return Plan("full", "changed since the last full run: " + ", ".join(differs))
    entries, _ = load_registry(raw_dir / "registry.toml", cache_dir)
    from pipeline.registry import raw_file_resolver

    resolve_raw_file = raw_file_resolver(raw_dir)
    known, stats = manifest["files"], manifest.get("stats", {})
    changed = set()
    for rel in sorted({e.raw_path for e in entries}):
        try:
            path = resolve_raw_file(rel)
            st = path.stat()
            if rel in known and stats.get(rel) == [st.st_size, st.st_mtime_ns]:
                continue  # same size and time as the bytes the last run read
            sha = file_sha256(path)
        except Exception:  # noqa: BLE001 - an unreadable path is a change; the split reports it
            sha = ""
        if known.get(rel) != sha:
            changed.add(rel)
    all_drugs = {e.drug for e in entries}
    if not changed:
        return Plan("unchanged", "no raw file changed", n_drugs=len(all_drugs))
    files, drugs = drug_closure(entries, changed)
    if len(all_drugs) < 2:
        return Plan("full", "a single drug: nothing to keep", tuple(sorted(files)), tuple(sorted(drugs)), len(all_drugs))
    if len(drugs) > max_drug_share * len(all_drugs):
        return Plan("full", f"{len(drugs)} of {len(all_drugs)} drugs changed (more than {max_drug_share:.0%})",
                    tuple(sorted(files)), tuple(sorted(drugs)), len(all_drugs))
    return Plan("incremental", f"{len(changed)} raw file(s) changed: {len(drugs)} of {len(all_drugs)} drugs",
                tuple(sorted(files)), tuple(sorted(drugs)), len(all_drugs), manifest_key(warehouse_path.parent),
                tuple(entries))


# ------------------------------------------------------------------------------- the database
def _keys_frame(con, name: str, values) -> None:
    con.register(name, pd.DataFrame({"k": sorted(values)}, dtype=object))


# the registered key lists each DELTA_KEYS kind is matched against
KEY_VIEWS = {"drug": "delta_drugs", "source": "delta_sources", "file": "delta_files"}


def _delete(con, table: str, rule: tuple[str, str | None]) -> int:
    """Delete the changed drugs' rows of ``table``; the number deleted."""
    how, col = rule
    if how == "all":
        return con.execute(f"DELETE FROM {_quote_ident(table)}").fetchone()[0]
    if how == "discrepancy":
        return con.execute(f"DELETE FROM {_quote_ident(table)} WHERE {_quote_ident(col)} IN (SELECT discrepancy_id "
                           "FROM discrepancies WHERE drug IN (SELECT k FROM delta_drugs))").fetchone()[0]
    if how not in KEY_VIEWS:
        return 0
    n = con.execute(f"DELETE FROM {_quote_ident(table)} WHERE {_quote_ident(col)} IN "
                    f"(SELECT k FROM {_quote_ident(KEY_VIEWS[how])})").fetchone()[0]
    if table == "quarantine":  # decisions are re-applied to every discrepancy: their problems too
        n += con.execute("DELETE FROM quarantine WHERE stage = 'decisions'").fetchone()[0]
    return n


def _insert(con, table: str, frame: pd.DataFrame) -> int:
    if frame is None or not len(frame):
        return 0
    con.register("delta_rows", frame)
    try:
        # a table that was empty in the full run may have text columns where these rows carry
        # numbers or flags: inserting would store them as text, unlike a full run
        have = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {_quote_ident(table)})").fetchall())
        texted = []
        if not _surely_text(frame, [c for c in frame.columns if have.get(c) == "VARCHAR"]):
            got = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM delta_rows)").fetchall())
            texted = sorted(c for c, t in got.items() if have.get(c) == "VARCHAR" and t not in ("VARCHAR", '"NULL"', "NULL"))
        if texted:
            raise DeltaError(f"{table}: column(s) {', '.join(texted)} are text in the published warehouse (the table was "
                             "empty in the last full run) but not in the new rows; nothing was published (run refresh_job)")
        con.execute(f"INSERT INTO {_quote_ident(table)} BY NAME SELECT * FROM delta_rows").fetchall()  # done before more
    finally:
        con.unregister("delta_rows")
    return len(frame)


def _surely_text(frame: pd.DataFrame, columns: list) -> bool:
    """True when every one of ``columns`` can only reach DuckDB as text: a string dtype, or an
    object column holding nothing but strings and None. Otherwise DuckDB is asked (binding a
    frame to describe it costs about as much as inserting it)."""
    for c in columns:
        dtype = frame[c].dtype
        if isinstance(dtype, pd.StringDtype):
            continue
        if dtype != object or not all(v is None or isinstance(v, str) for v in frame[c].tolist()):
            return False
    return True


def _unique_columns(models: dict[str, type]) -> dict[str, list[str]]:
    """table -> the columns its model declares unique."""
    return {name: list(cols) for name, model in models.items() if (cols := _unique_of(model))}


@functools.lru_cache(maxsize=None)
def _unique_of(model: type) -> tuple[str, ...]:
    """Building a pandera schema is slow: each model's answer is remembered for the process's life."""
    return tuple(c for c, col in model.to_schema().columns.items() if col.unique)


def _check_unique(con, models: dict[str, type], inserted: dict[str, pd.DataFrame]) -> list[str]:
    """Columns the models declare unique that are not unique over the whole updated tables.
    The published tables were unique (a full run checks every row, an incremental run this
    way), and deleting rows or moving the history's last-seen marks adds no duplicate, so only
    a value of an ``inserted`` row can now be held twice: only those values are counted."""
    checks: list[tuple[str, str]] = []
    for table, cols in _unique_columns(models).items():
        frame = inserted.get(table)
        if frame is None or not len(frame):
            continue
        checks += [(table, col) for col in cols if col in frame.columns]  # a missing column: the schema check reports it
    if not checks:
        return []
    names = [f"delta_unique_keys_{k}" for k in range(len(checks))]
    parts = []
    for k, (name, (table, col)) in enumerate(zip(names, checks)):
        con.register(name, inserted[table][[col]])
        keys, column = _quote_ident(name), _quote_ident(col)
        parts.append(f"SELECT {int(k)} AS k, count(*) - count(DISTINCT {column}) AS dup "
                     f"FROM {_quote_ident(table)} WHERE {column} IN (SELECT {column} FROM {keys})")
    unique_sql = " UNION ALL ".join(parts)  # every key in one statement: one round trip, its parts side by side
    try:
        dups = dict(con.execute(unique_sql).fetchall())  # fetched: DuckDB registers nothing meanwhile
    finally:
        for name in names:
            con.unregister(name)
    return [f"{table}.{col}: {dups[k]} duplicate value(s)" for k, (table, col) in enumerate(checks) if dups.get(k)]


def _changed_buckets(drugs: set[str], files: set[str]) -> dict[str, set[str] | None]:
    """table -> the Parquet buckets an incremental run over these drugs rewrites (None: the
    whole table; static tables are left out: they never change in an incremental run)."""
    from pipeline.export import bucket_of

    from pipeline.export import _rule

    out: dict[str, set[str] | None] = {}
    for table, (how, _) in DELTA_KEYS.items():
        if how == "static":
            continue
        rule = _rule(table)
        out[table] = None if rule is None else {bucket_of(k) for k in (files if rule[0] == "file" else drugs)}
    return out


def validate_new_rows(new: dict[str, pd.DataFrame]) -> list[str]:
    """Each table's new rows against its pandera model (the blocking checks of a full run); one
    line per failing table. An empty frame has no row to check and inserts nothing."""
    from pipeline.schemas import WAREHOUSE_MODELS

    failures = []
    for name, frame in new.items():
        if not len(frame):
            continue
        try:
            WAREHOUSE_MODELS[name].validate(frame, lazy=True)
        except Exception as exc:  # noqa: BLE001 - every failing table is listed, then the run stops
            failures.append(f"{name}: {str(exc)[:500]}")
    return failures


def _validate_tables(state: tuple, start: int, end: int) -> list[str]:
    """``validate_new_rows`` for the tables ``names[start:end]`` (a ``fork_start`` batch)."""
    new, names = state
    return validate_new_rows({name: new[name] for name in names[start:end]})


# ------------------------------------------------------------------------------------ the run
def run_incremental(plan: Plan, raw_dir: Path, warehouse_path: Path, reports_dir: Path, cache_dir: Path | None,
                    concepts: pd.DataFrame, matcher, run_id: str, started_at: str, ended_at: str | None,
                    decisions_path: Path, thresholds: dict, workers: int | None = None, timer=None,
                    ancestors: dict[str, set[str]] | None = None) -> DeltaResult:
    """Process ``plan.drugs`` again and publish them into the warehouse in place of their old
    rows (see the module docstring), holding ``warehouse_lock``. ``ended_at`` (None: when the
    results are assembled) is the time recorded as this run's sighting. ``timer(stage)`` may
    return a context manager that times each stage (the benchmark passes one). Raises
    ``DeltaError`` when the plan is not incremental, when another run published since the plan
    was made, or when the new rows fail their checks: nothing is published then. A failure after
    the warehouse was swapped in (export, report) removes the manifest, so the next run is full."""
    if plan.mode != "incremental":
        raise DeltaError(f"the plan is {plan.mode!r} ({plan.reason}), not incremental")
    # the caller's heap (vocabulary, matcher index) is left out of the collector's walks
    with heap_frozen(), warehouse_lock(warehouse_path.parent):
        if manifest_key(warehouse_path.parent) != plan.manifest:
            raise DeltaError("another run published since this plan was made; nothing was published (plan again)")
        with _StagingCopy(warehouse_path) as staging:
            return _run_locked(plan, raw_dir, warehouse_path, reports_dir, cache_dir, concepts, matcher, run_id,
                               started_at, ended_at, decisions_path, thresholds, workers, timer, ancestors, staging)


class _StagingCopy:
    """The copy of the published warehouse that the run updates and swaps in, made in a thread
    from the start of the run (the copy waits on the disk, not on Python), so it is ready, or
    nearly, by the time the new rows are. The warehouse lock is held throughout: the file copied
    is the one the run replaces. On leaving, the copy is awaited and whatever is left of it (a
    run that failed before the swap) is removed."""

    def __init__(self, warehouse_path: Path):
        self.path = staging_path(warehouse_path)
        self._source = warehouse_path
        self._pool = None
        self._copying = None

    def __enter__(self) -> "_StagingCopy":
        self._pool = ThreadPoolExecutor(1)
        self._copying = self._pool.submit(shutil.copyfile, self._source, self.path)
        return self

    def ready(self) -> Path:
        """The staging file's path, once copied (a failed copy raises its error here)."""
        self._copying.result()
        return self.path

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(wait=True)
        remove_staging_file(self.path)


def _now_iso() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _run_locked(plan: Plan, raw_dir: Path, warehouse_path: Path, reports_dir: Path, cache_dir: Path | None,
                concepts: pd.DataFrame, matcher, run_id: str, started_at: str, ended_at: str | None,
                decisions_path: Path, thresholds: dict, workers: int | None, timer,
                ancestors: dict[str, set[str]] | None, staging_copy: "_StagingCopy") -> DeltaResult:
    import time

    from pipeline.cache import stage_cache
    from pipeline.decisions import apply_decisions, read_decisions
    from pipeline.export import ExportJob
    from pipeline.history import (DISC_COLUMNS, FACT_COLUMNS, SECTION_COLUMNS, advance_history, changes_by_drug,
                                  fact_keys, hash_changes, previous_hashes, previous_run, run_record, section_keys)
    from pipeline.parallel import fork_start, parse_sources
    from pipeline.reconcile import reconcile_incremental
    from pipeline.report import update_reports
    from pipeline.schemas import WAREHOUSE_MODELS
    from pipeline.stages import match_facts, quarantine_table
    from pipeline.warehouse import publish_file

    result = DeltaResult(plan.drugs, plan.files)

    @contextlib.contextmanager
    def stage(name):
        t0 = time.perf_counter()
        with timer(name) if timer is not None else contextlib.nullcontext():
            yield
        result.seconds[name] = result.seconds.get(name, 0.0) + time.perf_counter() - t0

    drugs, files = set(plan.drugs), set(plan.files)
    with stage("registry"):
        subset = [e for e in plan.entries if e.drug in drugs]
        if file_sha256(raw_dir / "registry.toml") != load_manifest(warehouse_path.parent)["fingerprint"]["registry"]:
            raise DeltaError("the registry changed since the plan was made; nothing was published (run refresh_job)")
        source_ids = {e.source_id for e in subset}
    with stage("parse"):
        parsed = parse_sources(raw_dir, subset, thresholds["raw_file_max_bytes"], thresholds["binary_control_char_ratio"],
                               stage_cache(cache_dir, "sections"), stage_cache(cache_dir, "facts"), workers=workers)
    sources = parsed.sources
    with stage("match"):
        matched, dosing, relations = match_facts(parsed.facts, sources, matcher, concepts, ancestors)
    with stage("reconcile"):
        populations = set(concepts.loc[concepts["kind"] == "population", "concept_id"])
        disc, evidence, deps, _ = reconcile_incremental(
            sources, dosing, matched["adverse_effects"], matched["conditions"], matched["interactions"],
            parsed.facts["statements"], parsed.facts["data_quality"], relations, populations,
            stage_cache(cache_dir, "reconcile"), workers=workers)
        con0 = connect(warehouse_path, read_only=True)
        try:
            _keys_frame(con0, "delta_drugs", drugs)
            _keys_frame(con0, "delta_sources", source_ids)
            others = con0.execute("SELECT discrepancy_id, values_hash FROM discrepancies "
                                  "WHERE drug NOT IN (SELECT k FROM delta_drugs)").df()
            prev = {"fact_history": con0.execute("SELECT * FROM fact_history WHERE source_id IN "
                                                 "(SELECT k FROM delta_sources)").df(),
                    "discrepancy_history": con0.execute("SELECT * FROM discrepancy_history WHERE drug IN "
                                                        "(SELECT k FROM delta_drugs)").df(),
                    "section_history": con0.execute("SELECT * FROM section_history WHERE source_id IN "
                                                    "(SELECT k FROM delta_sources)").df(),
                    # what the last run read of these sources (the other sources keep their hashes)
                    "sources": con0.execute("SELECT source_id, sha256 FROM sources WHERE source_id IN "
                                            "(SELECT k FROM delta_sources)").df(),
                    # the last run only (the previous one): the history needs no earlier run
                    "runs": con0.execute("SELECT * FROM v_latest_run").df()}
        finally:
            con0.close()
        rows, decision_problems = read_decisions(decisions_path)
        disc, reviews, more = apply_decisions(disc, evidence, rows, decisions_path.name, others=others)
        decision_problems += more
    with stage("history"):
        ended_at = ended_at or _now_iso()
        fact_tables = {"adverse_effects": matched["adverse_effects"], "conditions": matched["conditions"],
                       "interactions": matched["interactions"], "dosing": dosing, "statements": parsed.facts["statements"]}
        previous = previous_run(prev["runs"])
        fact_hist = advance_history(prev["fact_history"], fact_keys(fact_tables), "fact_key", run_id, ended_at,
                                    ["fact_table", "source_id", "mention", "label"], previous)
        disc_cols = ["discrepancy_id", "drug", "topic", "severity", "summary", "values_hash"]
        disc_now = disc[disc_cols] if len(disc) else pd.DataFrame(columns=disc_cols)
        disc_hist = advance_history(prev["discrepancy_history"], disc_now, "discrepancy_id", run_id, ended_at,
                                    disc_cols[1:], previous)
        sec_now = section_keys(parsed.sections).assign(last_seen_run=run_id)
        changes = changes_by_drug(prev, sources, sec_now, disc_now, run_id, ended_at)
        source_changes = hash_changes(previous_hashes(prev), dict(zip(sources["source_id"], sources["sha256"])))
    # registry problems name registry.toml, not a raw file: an incremental run (same registry) keeps them
    quarantine_new = quarantine_table(parsed.split_problems, parsed.section_problems, parsed.extract_problems,
                                      decision_problems)
    result.problems = parsed.split_problems + parsed.section_problems + parsed.extract_problems + decision_problems
    new = {
        "sources": sources, "raw_segments": parsed.segments, "sections": parsed.sections, "list_items": parsed.items,
        "quarantine": quarantine_new, "dosing": dosing, **matched, "statements": parsed.facts["statements"],
        "drug_profile": parsed.facts["drug_profile"], "data_quality": parsed.facts["data_quality"],
        "concept_relations": relations, "discrepancies": disc, "discrepancy_evidence": evidence,
        "source_dependencies": deps, "reviews": reviews,
        "fact_history": fact_hist.reindex(columns=FACT_COLUMNS),
        "discrepancy_history": disc_hist.reindex(columns=DISC_COLUMNS),
        "section_history": sec_now.reindex(columns=SECTION_COLUMNS),
    }
    missing = set(WAREHOUSE_MODELS) - set(DELTA_KEYS)
    if missing:
        raise DeltaError(f"no incremental rule for table(s) {sorted(missing)}: add them to DELTA_KEYS")
    with stage("checks+publish"), contextlib.ExitStack() as cleanup:
        # the blocking checks run in a forked process while the staging copy is updated here
        # (pandera's Python in a thread of this process held the GIL against every DuckDB
        # statement: 0.8 s of statements took 1.2 s); nothing is committed or swapped in before
        # they have passed
        checked = [name for name, frame in new.items() if len(frame)]
        # every model's schema is built here, before the fork (0.12 s in a fresh process): the
        # unique check below needs them too, and the checks process inherits them built
        _unique_columns(WAREHOUSE_MODELS)
        checks = fork_start(_validate_tables, (new, checked), len(checked), 1, min_items=1, fork_one=True)
        cleanup.callback(checks.cancel)
        staging = staging_copy.ready()
        con = connect(staging)
        try:
            con.execute("BEGIN TRANSACTION")
            _keys_frame(con, "delta_drugs", drugs)
            _keys_frame(con, "delta_sources", source_ids)
            _keys_frame(con, "delta_files", files)
            # the other sources' section fingerprints were recorded by this run too (the fact and
            # discrepancy histories' present rows carry no run of their own: nothing to move)
            con.execute("UPDATE section_history SET last_seen_run = ? WHERE "
                        "source_id NOT IN (SELECT k FROM delta_sources)", [run_id])
            # evidence before its discrepancies: its rule looks the drug up in discrepancies
            order = ["discrepancy_evidence"] + [t for t in DELTA_KEYS if t != "discrepancy_evidence"]
            for table in order:
                result.rows_deleted[table] = _delete(con, table, DELTA_KEYS[table])
            for table in order:
                if table in new:
                    result.rows_inserted[table] = _insert(con, table, new[table])
            counts = {t: con.execute(f"SELECT count(*) FROM {_quote_ident(t)}").fetchone()[0]
                      for t in ("sources", "sections", "discrepancies", *fact_tables)}
            severity = dict(con.execute("SELECT severity, count(*) FROM discrepancies GROUP BY severity").fetchall())
            run_row = pd.DataFrame([run_record(run_id, started_at, ended_at, source_changes, counts, severity)])
            result.rows_inserted["runs"] = _insert(con, "runs", run_row)
            bad = _check_unique(con, WAREHOUSE_MODELS, {**new, "runs": run_row})
            parts = checks.result()
            failures = [f for part in parts for f in part] if parts is not None else validate_new_rows(new)
            if failures:
                raise DeltaError("new rows failed their schema checks; nothing was published:\n"
                                 + "\n".join(failures))
            if bad:
                raise DeltaError("keys are no longer unique after the update; nothing was published: "
                                 + "; ".join(bad))
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        publish_file(staging, warehouse_path)
    with stage("export+report"):
        try:
            # DuckDB writes the Parquet buckets in two threads, half of the tables each, while
            # this thread renders the report: all three overlap
            exported = ExportJob(warehouse_path, list(WAREHOUSE_MODELS), warehouse_path.parent / "parquet",
                                 _changed_buckets(drugs, files))
            try:
                result.report_files = update_reports(
                    reports_dir, parts_path(warehouse_path.parent), sources, disc, evidence, matched["conditions"],
                    matched["adverse_effects"], changes, warehouse_path, drugs, workers=1)
            finally:
                exported.result()
            update_manifest(warehouse_path.parent, files, sources, raw_dir)
        except BaseException as exc:
            # the warehouse is already in place: without a manifest the next run is a full one,
            # which rewrites the export, the report and the manifest from it
            drop_manifest(warehouse_path.parent)
            raise DeltaError(f"the warehouse was published, but writing the Parquet export or the report failed "
                             f"({type(exc).__name__}: {exc}); the manifest was removed, so the next run is a "
                             "full refresh") from exc
    return result
