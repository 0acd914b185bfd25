"""Benchmark on a synthetic publisher-sized corpus: ``python -m pipeline.bench --drugs N``.

Measures, in one run (``make bench N=1000``):

* the corpus generation (``pipeline.synthetic``), reported apart from the pipeline;
* a floor: reading every raw file and one regular-expression pass over it;
* the domain pipeline, stage by stage (split, sections, extract, match, reconcile, history,
  report, publish, checks): wall seconds, documents and MB per second, peak resident memory
  (this process and its worker processes, sampled from /proc), rows produced. Split, sections
  and extraction run fused in worker processes (``pipeline.parallel``); their per-stage figures
  are the workers' summed seconds, shared out over the fused wall time;
* fixed start-up (vocabulary load, matcher index) reported apart;
* the same pipeline with one process (the 2-process speed-up);
* an incremental re-run after one source changed (content-hash caches for sections and
  extraction), as a share of the full run;
* matching: the project ``Matcher`` on distinct unseen mentions against the full vocabularies,
  beside ``process.extractOne`` with ``WRatio`` and a brute-force ``process.cdist``, with each
  method's accuracy on the gold concepts;
* a Dagster run of the real definitions on the generated tree, in a fresh process, to report
  what Dagster adds (start-up, per-step bookkeeping, IO manager) over the same work done directly.

Results are printed as tables and written to ``<out>/bench-<N>.json``. Timings are measurements
on the machine at hand; nothing here asserts a time (tests/bench checks only correctness).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from pipeline import paths

MB = 1024 * 1024


# ------------------------------------------------------------------------------------ memory
def _rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _descendants(pid: int) -> list[int]:
    """Child processes (recursively), from /proc/<pid>/task/*/children."""
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    kids = [int(x) for x in fh.read().split()]
            except OSError:
                continue
            out += kids
            stack += kids
    return out


def _pss_of(pid: int) -> int:
    """Proportional set size: resident memory with pages shared between processes (a forked
    worker shares its parent's) divided among them, so a process tree's PSS adds up."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return _rss_of(pid)


def tree_rss() -> int:
    """Memory of this process and all its descendants, in bytes (sum of PSS)."""
    me = os.getpid()
    return _pss_of(me) + sum(_pss_of(p) for p in _descendants(me))


class MemorySampler:
    """Samples ``tree_rss`` every ``interval`` seconds in a thread (and at every stage boundary);
    ``peak`` since ``reset``, ``overall`` since the start."""

    def __init__(self, interval: float = 0.25, cpu_budget: float = 0.05):
        self.interval = interval
        self.cpu_budget = cpu_budget  # the sampling thread's share of one core, at most
        self.cpu_seconds = 0.0  # the sampling thread's own CPU time (reading /proc costs the kernel work)
        self.samples = 0
        self.peak = 0
        self.overall = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.available = os.path.exists("/proc/self/statm")

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.thread_time()
            self.sample()
            cost = time.thread_time() - t0
            self.cpu_seconds += cost
            self.samples += 1
            # the kernel walks every page table of every process for smaps_rollup: 50 ms a sample
            # for a 1.5 GB tree, which would take a fifth of a core from the run it measures at
            # 4 samples a second; the pause is stretched so that sampling stays within its budget
            self._stop.wait(max(self.interval, cost * (1 - self.cpu_budget) / self.cpu_budget))

    def sample(self) -> int:
        rss = tree_rss() if self.available else 0
        self.peak = max(self.peak, rss)
        self.overall = max(self.overall, rss)
        self.phase_peak = max(getattr(self, "phase_peak", 0), rss)
        return rss

    def reset(self) -> None:
        self.peak = self.sample()

    def phase(self) -> int:
        """Peak since the previous call (a phase of the benchmark), then start a new phase."""
        peak, self.phase_peak = max(getattr(self, "phase_peak", 0), self.peak), self.sample()
        return peak

    def start(self) -> "MemorySampler":
        if self.available:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()


SAMPLER = MemorySampler(interval=0.25)  # up to 4 samples a second, within 5 % of one core


# ------------------------------------------------------------------------------------ results
@dataclass
class Stage:
    name: str
    seconds: float
    rows: int = 0
    peak_rss: int = 0
    worker_seconds: float | None = None
    note: str = ""


@dataclass
class Run:
    label: str
    workers: int
    stages: list[Stage] = field(default_factory=list)
    startup: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(s.seconds for s in self.stages)

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


class _Timer:
    """Times a stage; the memory samples taken at its ends are not part of its time, and their
    cost is kept in ``_Timer.sampling`` (20-50 ms a sample: the kernel walks every page table)."""

    sampling = 0.0

    def __init__(self):
        t = time.perf_counter()
        SAMPLER.reset()
        self.t0 = time.perf_counter()
        _Timer.sampling += self.t0 - t

    def stop(self) -> tuple[float, int]:
        t = time.perf_counter()
        seconds = t - self.t0
        SAMPLER.sample()
        _Timer.sampling += time.perf_counter() - t
        return seconds, SAMPLER.peak


# ------------------------------------------------------------------------------------ corpus
def calibrate() -> float:
    """Seconds for a fixed pure-Python loop: this machine's speed at the moment (shared hosts
    vary from minute to minute; compare runs through it)."""
    t0 = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return time.perf_counter() - t0


def corpus_stats(raw: Path) -> dict:
    files = [p for p in sorted(raw.iterdir()) if p.is_file() and p.name != "registry.toml"]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def floor(raw: Path) -> dict:
    """Reading every raw file and one regular-expression pass over its text: the least any
    pipeline must spend on the corpus."""
    pattern = re.compile(r"\d+\s*mg")
    t0 = time.perf_counter()
    n_bytes = hits = 0
    for p in sorted(raw.iterdir()):
        if p.is_file() and p.name != "registry.toml":
            text = p.read_bytes().decode("utf-8", errors="replace")
            n_bytes += len(text)
            hits += len(pattern.findall(text))
    return {"seconds": time.perf_counter() - t0, "chars": n_bytes, "matches": hits}


def copy_vocabulary(src_cache: Path, dst_cache: Path) -> list[str]:
    """Copy the vocabulary parquet files of the current vocabulary key (if built) into a bench
    cache folder, so the benchmark does not spend HPO's ~30 s load."""
    from pipeline.normalise import vocabulary_key

    key = vocabulary_key()
    dst_cache.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in (f"concepts-{key}.parquet", f"concept_terms-{key}.parquet"):
        if (src_cache / name).exists():
            shutil.copy2(src_cache / name, dst_cache / name)
            copied.append(name)
    return copied


# ------------------------------------------------------------------------------------ pipeline
def _caches(cache_dir: Path):
    from pipeline.cache import stage_cache

    return stage_cache(cache_dir, "sections"), stage_cache(cache_dir, "facts")  # as the Dagster assets


def _startup(run: Run, cache_dir: Path):
    """(concepts, terms, vocabulary info, prepared matcher), each timed into ``run.startup``:
    the fixed start-up of a run, whatever the corpus size."""
    from pipeline.match import Matcher
    from pipeline.normalise import load_or_build_vocabulary

    t = _Timer()
    concepts, terms, vocab_info = load_or_build_vocabulary(cache_dir)
    run.startup["vocabulary_load"] = t.stop()[0]
    t = _Timer()
    matcher = Matcher(concepts, terms).prepare()
    run.startup["matcher_index"] = t.stop()[0]
    return concepts, terms, vocab_info, matcher


def run_pipeline(raw: Path, work: Path, cache_dir: Path, workers: int, label: str, exchange: str = "pipe",
                 keep_outputs: dict | None = None, run_id: str | None = None, now: str | None = None) -> Run:
    """Every domain stage, in the order the Dagster graph runs them, timed one by one. ``run_id``
    and ``now`` (default: made up from the label and the clock) name the run in the history."""
    from pipeline.decisions import apply_decisions, read_decisions
    from pipeline.delta import parts_path, run_start_state, save_manifest
    from pipeline.export import export_tables
    from pipeline.history import load_history, update_history
    from pipeline.stages import match_facts as match_stage, quarantine_table
    from pipeline.parallel import parse_sources
    from pipeline.cache import stage_cache
    from pipeline.reconcile import reconcile_incremental
    from pipeline.registry import load_registry
    from pipeline.report import write_reports
    from pipeline.schemas import MENTION_MODELS, WAREHOUSE_MODELS, RawSegmentsModel, SourcesModel, empty_frame
    from pipeline.views import DERIVED_COLUMN_COMMENTS, VIEW_COMMENTS, views_sql
    from pipeline.warehouse import publish

    run = Run(label, workers)
    warehouse_dir, reports_dir = work / "warehouse", work / "reports"
    history_dir = warehouse_dir / "parquet"  # the export the next run reads its history from
    th = paths.thresholds()

    # ---- fixed start-up: vocabulary and matcher index (the same whatever the corpus size)
    concepts, terms, vocab_info, matcher = _startup(run, cache_dir)
    run.info["vocabulary_cache"] = vocab_info.get("cache")

    decisions_file = reports_dir / "decisions.csv"
    # ---- split + sections + extraction (fused in worker processes); the split asset first
    # records what the run starts from (fingerprint and raw file hashes, for the next plan)
    t = _Timer()
    start = run_start_state(raw, decisions_file, vocab_info["key"], cache_dir)  # before anything is read
    start_seconds = t.stop()[0]
    sections_cache, facts_cache = _caches(cache_dir)
    t = _Timer()
    entries, registry_problems = load_registry(raw / "registry.toml", cache_dir)
    parsed = parse_sources(raw, entries, th["raw_file_max_bytes"], th["binary_control_char_ratio"],
                           sections_cache, facts_cache, workers=workers, exchange=exchange, tmp_dir=work)
    wall, peak = t.stop()
    sources = parsed.sources if len(parsed.sources) else empty_frame(SourcesModel)
    segments = parsed.segments if len(parsed.segments) else empty_frame(RawSegmentsModel)
    split_problems = registry_problems + parsed.split_problems
    sections, items, facts = parsed.sections, parsed.items, parsed.facts
    ws = parsed.stage_seconds
    busy = sum(ws.values()) or 1.0
    rows = {"split": len(sources) + len(segments), "sections": len(sections) + len(items),
            "extract": sum(len(f) for f in facts.values())}
    for name in ("split", "sections", "extract"):
        share = wall * ws[name] / busy if workers > 1 else ws[name]
        if name == "split":
            share += start_seconds
        run.stages.append(Stage(name, share, rows[name], peak, ws[name] if workers > 1 else None,
                                f"fused in {workers} workers" if workers > 1 else ""))
    run.info["parse"] = {"fused_wall": wall, "run_start_state": start_seconds, "worker_seconds": ws, "join_seconds": parsed.join_seconds,
                         "batches": parsed.batches, "cache_hits": parsed.cache_hits,
                         "cache_misses": parsed.cache_misses, "worker_peak_rss": parsed.worker_peak_rss}

    # ---- match (as pipeline/defs/matching.py match_facts)
    t = _Timer()
    matched, dosing, relations = match_stage(facts, sources, matcher, concepts)
    seconds, peak = t.stop()
    run.stages.append(Stage("match", seconds, sum(len(f) for f in matched.values()) + len(relations), peak,
                            note=f"{matcher.misses} distinct wordings, cache hit rate {matcher.hit_rate:.1%}"))
    run.info["match_cache"] = {"distinct": matcher.misses, "hits": matcher.hits, "hit_rate": matcher.hit_rate}

    # ---- reconcile (as pipeline/defs/reconciliation.py)
    t = _Timer()
    populations = set(concepts.loc[concepts["kind"] == "population", "concept_id"])
    disc, evidence, deps, rec_info = reconcile_incremental(
        sources, dosing, matched["adverse_effects"], matched["conditions"], matched["interactions"],
        facts["statements"], facts["data_quality"], relations, populations,
        stage_cache(cache_dir, "reconcile"), workers=workers)
    decision_rows, decision_problems = read_decisions(decisions_file)
    disc, reviews, more = apply_decisions(disc, evidence, decision_rows, decisions_file.name)
    decision_problems += more
    seconds, peak = t.stop()
    run.stages.append(Stage("reconcile", seconds, len(disc) + len(evidence) + len(deps), peak,
                            note=f"{len(disc)} discrepancies; {rec_info['recomputed']} of {rec_info['drugs']} drugs compared"))

    # ---- history (as pipeline/defs/history.py)
    t = _Timer()
    prev = load_history(history_dir)
    fact_tables = {"adverse_effects": matched["adverse_effects"], "conditions": matched["conditions"],
                   "interactions": matched["interactions"], "dosing": dosing, "statements": facts["statements"]}
    counts = {"sources": len(sources), "sections": len(sections), "discrepancies": len(disc),
              **{k: len(v) for k, v in fact_tables.items()}}
    now = now or pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
    history, changes = update_history(prev, run_id or f"bench-{label}-{time.time_ns()}", now, now, sources, sections,
                                      fact_tables, disc, counts)
    seconds, peak = t.stop()
    run.stages.append(Stage("history", seconds, sum(len(h) for h in history.values()), peak))

    # ---- the tables, as the Dagster assets name them
    tables = {
        "sources": sources, "raw_segments": segments, "sections": sections, "list_items": items,
        "quarantine": quarantine_table(split_problems, parsed.section_problems, parsed.extract_problems,
                                       decision_problems),
        "dosing": dosing, "adverse_effects": matched["adverse_effects"], "conditions": matched["conditions"],
        "interactions": matched["interactions"], "statements": facts["statements"],
        "drug_profile": facts["drug_profile"], "data_quality": facts["data_quality"], "concepts": concepts,
        "concept_terms": terms, "concept_relations": relations, "discrepancies": disc,
        "discrepancy_evidence": evidence, "source_dependencies": deps, "reviews": reviews, **history,
    }
    mentions = {"adverse_effect_mentions": facts["adverse_effects"], "condition_mentions": facts["conditions"],
                "interaction_mentions": facts["interactions"], "dose_statements": facts["dosing"]}
    missing = [name for name in WAREHOUSE_MODELS if name not in tables]
    if missing:
        run.info["tables_not_benchmarked"] = missing

    # ---- checks: every table against its pandera model (the Dagster asset checks)
    t = _Timer()
    failures = {}
    for name, model in [*WAREHOUSE_MODELS.items(), *MENTION_MODELS.items()]:
        frame = tables.get(name, mentions.get(name))
        if frame is None:
            continue
        try:
            model.validate(frame, lazy=True)
        except Exception as exc:  # noqa: BLE001 - reported, not raised: a benchmark measures
            failures[name] = type(exc).__name__
    seconds, peak = t.stop()
    run.stages.append(Stage("checks", seconds, sum(len(f) for f in (*tables.values(), *mentions.values())), peak,
                            note="all passed" if not failures else f"FAILED: {failures}"))

    # ---- report and publish in one step (as pipeline/defs/publish.py publication): the report's
    # pages are rendered in worker processes while DuckDB is written, history saved, Parquet
    # exported; the manifest last. The report's figure is the wall time it adds to publishing.
    published = {name: tables[name] for name in WAREHOUSE_MODELS if name in tables}
    target = warehouse_dir / "drug_facts.duckdb"
    pub: dict = {}

    def publish_warehouse() -> None:
        t_pub = time.perf_counter()
        publish(published, WAREHOUSE_MODELS, target, views_sql(), VIEW_COMMENTS, DERIVED_COLUMN_COMMENTS)
        export_tables(target, list(published), history_dir)
        pub["seconds"] = time.perf_counter() - t_pub

    t = _Timer()
    written = write_reports(reports_dir, sources, disc, evidence, matched["conditions"], matched["adverse_effects"],
                            changes, workers=workers, parts_file=parts_path(warehouse_dir), meanwhile=publish_warehouse)
    save_manifest(warehouse_dir, start, sources, raw)
    seconds, peak = t.stop()
    run.stages.append(Stage("report", seconds - pub["seconds"], len(written), peak,
                            note=f"{len(written)} files; pages rendered while publishing (step wall {seconds:.2f} s)"
                            if workers > 1 else f"{len(written)} files"))
    run.stages.append(Stage("publish", pub["seconds"], sum(len(f) for f in published.values()), peak,
                            note=f"{target.stat().st_size / MB:.0f} MB DuckDB + Parquet"))
    run.info["rows"] = {name: len(f) for name, f in tables.items()}
    if keep_outputs is not None:
        keep_outputs.update(tables=tables, matcher=matcher)
    return run


def run_incremental_pipeline(raw: Path, work: Path, cache_dir: Path, workers: int, label: str,
                             run_id: str | None = None, now: str | None = None,
                             max_drug_share: float | None = None) -> Run:
    """What the sensor launches after an edit: ``plan_run``, then ``run_incremental`` when the plan
    allows it (the Dagster ``incremental_job``), each stage timed. Start-up (vocabulary, matcher)
    is reported apart, as for the full run."""
    from contextlib import contextmanager

    from pipeline.delta import plan_run, run_incremental
    from pipeline.match import ancestors_map

    run = Run(label, 1)  # one drug's work: forking would cost more than it saves
    warehouse_dir, reports_dir = work / "warehouse", work / "reports"
    th = paths.thresholds()
    concepts, terms, vocab_info, matcher = _startup(run, cache_dir)
    t = _Timer()
    ancestors = ancestors_map(concepts)
    run.startup["concept_ancestors"] = t.stop()[0]
    t = _Timer()
    plan = plan_run(raw, warehouse_dir / "drug_facts.duckdb", reports_dir / "decisions.csv", vocab_info["key"],
                    th["incremental_max_drug_share"] if max_drug_share is None else max_drug_share, cache_dir)
    seconds, peak = t.stop()
    run.stages.append(Stage("plan", seconds, len(plan.drugs), peak, note=f"{plan.mode}: {plan.reason}"))
    run.info["plan"] = {"mode": plan.mode, "reason": plan.reason, "drugs": list(plan.drugs), "files": list(plan.files)}
    if plan.mode != "incremental":
        return run

    @contextmanager
    def timer(name):
        t = _Timer()
        yield
        seconds, peak = t.stop()
        run.stages.append(Stage(name, seconds, 0, peak))

    now = now or pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
    staged, sampling = len(run.stages), _Timer.sampling
    t0 = time.perf_counter()
    result = run_incremental(plan, raw, warehouse_dir / "drug_facts.duckdb", reports_dir, cache_dir, concepts, matcher,
                             run_id or f"bench-{label}-{time.time_ns()}", now, now, reports_dir / "decisions.csv", th,
                             workers=1, timer=timer, ancestors=ancestors)
    seconds = time.perf_counter() - t0 - (_Timer.sampling - sampling)
    # what run_incremental spends outside its named stages (the lock, the staging copy's start,
    # assembling the tables) counts too; the stages' memory samples do not
    run.stages.append(Stage("other", max(0.0, seconds - sum(s.seconds for s in run.stages[staged:])), 0,
                            SAMPLER.peak))
    inserted = result.rows_inserted
    for st in run.stages:
        st.rows = {"parse": inserted.get("sources", 0) + inserted.get("sections", 0),
                   "match": sum(inserted.get(t, 0) for t in ("adverse_effects", "conditions", "interactions")),
                   "reconcile": inserted.get("discrepancies", 0) + inserted.get("discrepancy_evidence", 0),
                   "checks+publish": sum(inserted.values()), "export+report": len(result.report_files)}.get(st.name, st.rows)
    run.info["rows_inserted"], run.info["rows_deleted"] = result.rows_inserted, result.rows_deleted
    return run


# ------------------------------------------------------------------------------------ matching
def unseen_mentions(terms: pd.DataFrame, n: int, seed: int = 0) -> list[tuple[str, tuple[str, ...]]]:
    """``n`` distinct mentions whose normalised wording is no vocabulary term: vocabulary terms
    with a typo (two letters swapped, one dropped), words reordered, a grading word added, or a
    word dropped. Each with the domains its table would match against."""
    from pipeline.normalise import normalise_term

    rng = random.Random(seed)
    pool = terms[terms["domain"].isin(["phenotype", "condition"])][["term", "domain"]].drop_duplicates()
    pool = list(pool.itertuples(index=False, name=None))
    known = set(terms["term_norm"])
    out, seen = [], set()
    while len(out) < n:
        term, domain = rng.choice(pool)
        words = term.split()
        kind = rng.random()
        i = rng.randrange(len(words))
        w = words[i]
        if kind < 0.35 and len(w) >= 5:
            j = rng.randrange(1, len(w) - 2)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
        elif kind < 0.55 and len(w) >= 5:
            j = rng.randrange(1, len(w) - 1)
            words[i] = w[:j] + w[j + 1:]
        elif kind < 0.75 and len(words) >= 2:
            j = rng.randrange(len(words) - 1)
            words[j], words[j + 1] = words[j + 1], words[j]
        elif kind < 0.9:
            words.insert(0, rng.choice(["severe", "mild", "acute", "chronic", "recurrent", "progressive"]))
        elif len(words) >= 3:
            del words[i]
        mention = " ".join(words)
        norm = normalise_term(mention)
        if not norm or norm in known or norm in seen:
            continue
        seen.add(norm)
        domains = ("phenotype",) if domain == "phenotype" else ("population", "condition", "phenotype")
        out.append((mention, domains))
    return out


def _match_batch(state: tuple, start: int, end: int) -> list:
    matcher, mentions = state
    return [matcher.match(m, d) for m, d in mentions[start:end]]


def match_benchmark(concepts: pd.DataFrame, terms: pd.DataFrame, n: int = 5000, sample: int = 200,
                    cdist_sample: int = 1000, workers: int = 2, seed: int = 0) -> dict:
    """The project matcher against two brute-force baselines, on distinct unseen mentions, and
    the accuracy of each on the gold concepts (tests/gold/baclofen_concepts.yaml)."""
    import numpy as np
    import yaml
    from rapidfuzz import fuzz, process

    from pipeline.evaluation import concept_accuracy
    from pipeline.match import Matcher, ancestors_map, settings
    from pipeline.normalise import normalise_term

    out: dict = {"mentions": n}
    mentions = unseen_mentions(terms, n, seed)
    t0 = time.perf_counter()
    matcher = Matcher(concepts, terms).prepare()
    out["matcher_build_s"] = time.perf_counter() - t0
    from pipeline.perf import gc_paused

    # as in the pipeline's match_table: the collector is paused, so the timing is the matcher's,
    # not a walk over the tables this benchmark process still holds from the earlier runs
    with gc_paused():
        t0 = time.perf_counter()
        results = [matcher.match(m, d) for m, d in mentions]
        seconds = time.perf_counter() - t0
    methods = pd.Series([r.match_method for r in results]).value_counts().to_dict()
    out["matcher"] = {"seconds": seconds, "per_second": n / seconds, "methods": methods,
                      "cache": {"hits": matcher.hits, "misses": matcher.misses}}
    # the same distinct mentions on both cores: a fresh matcher (every mention unseen), inherited by
    # forked workers through fork_map
    if workers > 1:
        from pipeline.parallel import fork_map

        state = (Matcher(concepts, terms).prepare(), mentions)
        t0 = time.perf_counter()
        batches = fork_map(_match_batch, state, len(mentions), workers)
        par_seconds = time.perf_counter() - t0
        if batches is not None:
            par = [r for b in batches for r in b]
            out["matcher_parallel"] = {"workers": workers, "seconds": par_seconds, "per_second": n / par_seconds,
                                       "same_results": par == results}

    # baselines over the whole vocabulary of the allowed domains, on the normalised wording
    choices_all = {}
    for dom in (("phenotype",), ("population", "condition", "phenotype")):
        sub = terms[terms["domain"].isin(dom)].reset_index(drop=True)
        choices_all[dom] = (sub["term_norm"].tolist(), sub["concept_id"].tolist())
    rng = random.Random(seed + 1)
    picked = rng.sample(mentions, min(sample, len(mentions)))
    t0 = time.perf_counter()
    for m, d in picked:
        process.extractOne(normalise_term(m), choices_all[d][0], scorer=fuzz.WRatio)
    s_extract = time.perf_counter() - t0
    out["extractone_wratio"] = {"sample": len(picked), "seconds": s_extract, "ms_per_mention": 1000 * s_extract / len(picked),
                                "per_second": len(picked) / s_extract}
    picked = rng.sample(mentions, min(cdist_sample, len(mentions)))
    scorer = getattr(fuzz, settings()["fuzzy_scorer"])
    t0 = time.perf_counter()
    for dom in choices_all:
        queries = [normalise_term(m) for m, d in picked if d == dom]
        if queries:
            for k in range(0, len(queries), 200):  # 200 x 53,000 scores at a time
                scores = process.cdist(queries[k:k + 200], choices_all[dom][0], scorer=scorer, workers=-1,
                                       dtype=np.uint8)
                scores.argmax(axis=1)
    s_cdist = time.perf_counter() - t0
    out["cdist_bruteforce"] = {"sample": len(picked), "seconds": s_cdist, "per_second": len(picked) / s_cdist,
                               "scorer": settings()["fuzzy_scorer"], "threads": "all cores"}

    # accuracy on the gold concepts, each method on the same gold wordings
    gold = yaml.safe_load((paths.PROJECT_ROOT / "tests" / "gold" / "baclofen_concepts.yaml").read_text(encoding="utf-8"))
    anc = ancestors_map(concepts)
    labels = dict(zip(concepts["concept_id"], concepts["label"]))
    accuracy = {}
    for table, key, dom in (("adverse_effects", "adverse_effects", ("phenotype",)),
                            ("conditions", "conditions", ("population", "condition", "phenotype"))):
        words = list(gold[key])
        with_concept = sum(1 for g in gold[key].values()
                           if (g.get("hpo_id") if table == "adverse_effects" else (g.get("icd10") or g.get("project"))))
        fresh = Matcher(concepts, terms)
        predictions = {
            "matcher": [fresh.match(w, dom).concept_id for w in words],
            "extractone_wratio": [choices_all[dom][1][process.extractOne(normalise_term(w), choices_all[dom][0],
                                                                         scorer=fuzz.WRatio)[2]] for w in words],
            "cdist_argmax": [choices_all[dom][1][int(i)] for i in process.cdist(
                [normalise_term(w) for w in words], choices_all[dom][0], scorer=scorer, workers=-1,
                dtype=np.uint8).argmax(axis=1)],
        }
        accuracy[table] = {}
        for method, ids in predictions.items():
            frame = pd.DataFrame({"mention": words, "concept_id": ids, "concept_label": [labels.get(i, "") for i in ids]})
            r = concept_accuracy(frame, gold, table, anc)
            accuracy[table][method] = {"checked": r["checked"], "correct": r["correct"], "compatible": r["compatible"],
                                       "carried": r["carried"], "gold_wordings": len(words),
                                       "gold_with_concept": with_concept, "wrong": len(r["wrong"])}
    out["accuracy"] = accuracy
    return out


# ------------------------------------------------------------------------------------ dagster
def dagster_child(out_json: Path) -> int:
    """Run in a fresh process: materialise every asset and check of the real definitions, and
    record the run's wall time and each step's duration from the event log."""
    t_start = time.perf_counter()
    import dagster as dg

    from pipeline.definitions import defs

    t_import = time.perf_counter() - t_start
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    os.environ.setdefault("TQDM_DISABLE", "1")
    with dg.DagsterInstance.get() as instance:
        t0 = time.perf_counter()
        result = dg.materialize(list(defs.assets), instance=instance,
                                raise_on_error=False,
                                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
        t_run = time.perf_counter() - t0
        steps: dict[str, dict] = {}
        for event in instance.all_logs(result.run_id):
            dagster_event = event.dagster_event
            if dagster_event is None or not dagster_event.step_key:
                continue
            kind = dagster_event.event_type_value
            entry = steps.setdefault(dagster_event.step_key, {})
            if kind == "STEP_START":
                entry["start"] = event.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                entry["end"] = event.timestamp
        durations = {k: v["end"] - v["start"] for k, v in steps.items() if "start" in v and "end" in v}
    out_json.write_text(json.dumps({"import_s": t_import, "run_s": t_run, "success": result.success,
                                    "steps": durations, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024},
                                   indent=1), encoding="utf-8")
    return 0 if result.success else 1


def domain_child(out_json: Path, raw: Path, work: Path) -> int:
    """Run in a fresh process: the same stages without Dagster, one process, cold caches (the
    reference the Dagster run is compared with, measured under the same conditions)."""
    t0 = time.perf_counter()
    run = run_pipeline(raw, work, work / "cache", 1, "domain-child")
    out_json.write_text(json.dumps({"pipeline_s": time.perf_counter() - t0, "total_s": run.total,
                                    "startup": run.startup,
                                    "stages": {s.name: s.seconds for s in run.stages}}, indent=1), encoding="utf-8")
    return 0


def run_domain_process(raw: Path, work: Path, vocab_src: Path) -> dict:
    copy_vocabulary(vocab_src, work / "cache")
    out_json = work / "domain.json"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipeline.bench", "--domain-child", str(out_json), str(raw), str(work)],
                          env={**os.environ, "PYTHONHASHSEED": "0"}, cwd=str(paths.PROJECT_ROOT),
                          capture_output=True, text=True)
    info = json.loads(out_json.read_text(encoding="utf-8")) if out_json.exists() else {}
    info.update(process_wall_s=time.perf_counter() - t0, returncode=proc.returncode)
    if proc.returncode:
        info["stderr_tail"] = proc.stderr[-2000:]
    return info


def run_matching_process(cache: Path, work: Path, mentions: int, workers: int, seed: int) -> dict:
    """``match_benchmark`` in a fresh process (its result as JSON); raises when it fails."""
    out_json = work / "matching.json"
    proc = subprocess.run([sys.executable, "-m", "pipeline.bench", "--matching-child", str(out_json), str(cache),
                           "--mentions", str(mentions), "--workers", str(workers), "--seed", str(seed)],
                          cwd=str(paths.PROJECT_ROOT), capture_output=True, text=True)
    if proc.returncode or not out_json.exists():
        raise RuntimeError(f"the matching benchmark process failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(out_json.read_text(encoding="utf-8"))


def matching_child(out_json: Path, cache: Path, mentions: int, workers: int, seed: int) -> int:
    from pipeline.normalise import load_or_build_vocabulary

    concepts, terms, _ = load_or_build_vocabulary(cache)
    result = match_benchmark(concepts, terms, n=mentions, workers=workers, seed=seed)
    result["vocabulary"] = {"terms": len(terms), "phenotype": int((terms["domain"] == "phenotype").sum()),
                            "condition": int((terms["domain"] == "condition").sum())}
    out_json.write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0


def run_dagster(raw: Path, work: Path, vocab_src: Path) -> dict:
    cache = work / "cache"
    copy_vocabulary(vocab_src, cache)
    env = {**os.environ, "DRUG_FACTS_RAW_DIR": str(raw), "DRUG_FACTS_WAREHOUSE_DIR": str(work / "warehouse"),
           "DRUG_FACTS_REPORTS_DIR": str(work / "reports"), "DRUG_FACTS_CACHE_DIR": str(cache),
           "DRUG_FACTS_DECISIONS": str(work / "reports" / "decisions.csv"),
           "DAGSTER_HOME": str(work / "dagster_home"), "TQDM_DISABLE": "1", "PYTHONHASHSEED": "0"}
    out_json = work / "dagster.json"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipeline.bench", "--dagster-child", str(out_json)], env=env,
                          cwd=str(paths.PROJECT_ROOT), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    info = json.loads(out_json.read_text(encoding="utf-8")) if out_json.exists() else {}
    info.update(process_wall_s=wall, returncode=proc.returncode)
    if proc.returncode:
        info["stderr_tail"] = proc.stderr[-2000:]
    return info


# ------------------------------------------------------------------------------------ report
def _fmt_bytes(n: int) -> str:
    return f"{n / MB:,.0f} MB" if n else "-"


def stage_table(run: Run, n_docs: int, n_bytes: int) -> str:
    lines = [f"{'stage':<10} {'wall s':>8} {'docs/s':>9} {'MB/s':>7} {'peak mem':>9} {'rows':>10}  note"]
    for s in run.stages:
        dps = n_docs / s.seconds if s.seconds else float("inf")
        mbps = n_bytes / MB / s.seconds if s.seconds else float("inf")
        note = s.note + (f" ({s.worker_seconds:.1f} worker-s)" if s.worker_seconds is not None else "")
        lines.append(f"{s.name:<10} {s.seconds:>8.2f} {dps:>9,.0f} {mbps:>7.2f} {_fmt_bytes(s.peak_rss):>9} "
                     f"{s.rows:>10,}  {note}")
    total = run.total
    peak = max((s.peak_rss for s in run.stages), default=0)
    lines.append(f"{'TOTAL':<10} {total:>8.2f} {n_docs / total:>9,.0f} {n_bytes / MB / total:>7.2f} "
                 f"{_fmt_bytes(peak):>9} {sum(s.rows for s in run.stages):>10,}")
    lines.append("start-up (fixed): " + ", ".join(f"{k} {v:.2f} s" for k, v in run.startup.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--drugs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="folder for the corpus and results (default bench/out/N<drugs>)")
    parser.add_argument("--keep", action="store_true", help="keep the corpus, warehouses and reports")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exchange", choices=("pipe", "parquet"), default="pipe")
    parser.add_argument("--mentions", type=int, default=5000, help="distinct unseen mentions for the matching benchmark")
    parser.add_argument("--no-serial", action="store_true", help="skip the one-process run")
    parser.add_argument("--no-dagster", action="store_true", help="skip the Dagster run")
    parser.add_argument("--no-matching", action="store_true", help="skip the matching benchmark")
    parser.add_argument("--full-runs", type=int, default=1,
                        help="full runs (cold caches each); the median is reported, every run is listed")
    parser.add_argument("--incremental-runs", type=int, default=3,
                        help="incremental re-runs, each after editing another source; the median is reported")
    parser.add_argument("--repeat", type=int, default=1,
                        help="pairs of (no-Dagster, Dagster) fresh-process runs for the overhead (the minimum of each is used)")
    parser.add_argument("--dagster-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--domain-child", nargs=3, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--matching-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dagster_child:
        return dagster_child(args.dagster_child)
    if args.domain_child:
        return domain_child(*args.domain_child)
    if args.matching_child:
        return matching_child(*args.matching_child, args.mentions, args.workers, args.seed)

    from pipeline.synthetic import generate_corpus

    out = (args.out or paths.PROJECT_ROOT / "bench" / "out" / f"N{args.drugs}").resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    SAMPLER.start()
    results: dict = {"drugs": args.drugs, "workers": args.workers, "seed": args.seed, "exchange": args.exchange,
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "platform": platform.platform()}}
    vocab_src = paths.cache_dir()
    results["calibration_s"] = [calibrate()]
    results["loadavg_start"] = os.getloadavg()
    print(f"calibration: a 5M-step Python loop takes {results['calibration_s'][0]:.2f} s on this machine now "
          f"(load average {results['loadavg_start'][0]:.2f}: other processes share the cores)")

    t0 = time.perf_counter()
    info = generate_corpus(out / "corpus", args.drugs, args.seed)
    raw = Path(info["raw_dir"])
    results["generate_s"] = time.perf_counter() - t0
    stats = corpus_stats(raw)
    n_docs, n_bytes = info["sources"], stats["bytes"]
    results["corpus"] = {"drugs": args.drugs, "sources": n_docs, "files": stats["files"], "bytes": n_bytes}
    print(f"corpus: {args.drugs} drugs, {n_docs} sources, {n_bytes / MB:.1f} MB in {stats['files']} files "
          f"(generated in {results['generate_s']:.1f} s, not counted)")

    fl = floor(raw)
    results["floor"] = fl
    print(f"floor: read + one regex pass {fl['seconds']:.3f} s ({n_bytes / MB / fl['seconds']:.0f} MB/s)")

    # ---- full runs with the worker pool, cold caches (each in its own folders); the median is reported
    SAMPLER.phase()
    runs = []
    for k in range(max(1, args.full_runs)):
        suffix = "" if k == 0 else f"_{k}"
        cache_k = out / f"cache_parallel{suffix}"
        copy_vocabulary(vocab_src, cache_k)
        calib = calibrate()
        run = run_pipeline(raw, out / f"run_parallel{suffix}", cache_k, args.workers, "parallel", args.exchange)
        runs.append((run.total + sum(run.startup.values()), k, run, cache_k, calib, SAMPLER.phase()))
    ranked = sorted(runs, key=lambda r: r[0])
    e2e, k_med, full, cache_a = ranked[(len(ranked) - 1) // 2][:4]
    results["full"] = {**_run_json(full), "peak_mem": max(r[5] for r in runs)}
    results["full_runs"] = [{"end_to_end_s": r[0], "docs_per_s": n_docs / r[0], "calibration_s": r[4],
                             "peak_mem": r[5]} for r in sorted(runs, key=lambda r: r[1])]
    print(f"\n== full run, {args.workers} worker processes (cold caches)"
          + (f"; median of {len(runs)} runs: " + ", ".join(f"{r[0]:.1f} s" for r in sorted(runs, key=lambda r: r[1]))
             if len(runs) > 1 else "") + " ==")
    print(stage_table(full, n_docs, n_bytes))
    results["end_to_end_s"] = e2e
    print(f"end to end (start-up included) {e2e:.1f} s = {n_docs / e2e:,.0f} docs/s; pipeline / floor = "
          f"{full.total / fl['seconds']:,.0f}x; peak memory of the run {_fmt_bytes(results['full']['peak_mem'])}")

    # ---- incremental: one source edited, caches warm; K edits of different sources, one after
    # the other on the median full run's warehouse, the median reported
    incs = []
    for k in range(max(1, args.incremental_runs)):
        edited = _edit_one_source(raw, args.seed + k)
        inc = run_incremental_pipeline(raw, out / ("run_parallel" + ("" if k_med == 0 else f"_{k_med}")), cache_a,
                                       args.workers, "incremental")
        incs.append((inc.total, k, inc, edited))
    _, _, inc, edited = sorted(incs, key=lambda r: r[0])[(len(incs) - 1) // 2]
    results["incremental"] = {**_run_json(inc), "edited": edited,
                              "share_of_full": inc.total / full.total, "peak_mem": SAMPLER.phase()}
    results["incremental_runs"] = [{"seconds": r[0], "share_of_full": r[0] / full.total,
                                    "edited": r[3]["source_id"]} for r in sorted(incs, key=lambda r: r[1])]
    print(f"\n== incremental re-run after editing {edited['source_id']}"
          + (f"; median of {len(incs)} edits: " + ", ".join(f"{r[0]:.2f} s" for r in sorted(incs, key=lambda r: r[1]))
             if len(incs) > 1 else "") + " ==")
    print(stage_table(inc, n_docs, n_bytes))
    print(f"incremental / full = {inc.total / full.total:.1%} (start-up excluded from both: "
          f"{sum(inc.startup.values()):.2f} s)")
    not_incremental = [r for r in incs if r[2].info["plan"]["mode"] != "incremental"]
    if not_incremental:
        print(f"note: {len(not_incremental)} of {len(incs)} plans were not incremental (e.g. "
              f"{not_incremental[0][2].info['plan']['reason']}); those runs stopped after the plan")

    # ---- one process, cold caches (speed-up, and the reference for Dagster's overhead)
    if not args.no_serial:
        cache_b = out / "cache_serial"
        copy_vocabulary(vocab_src, cache_b)
        serial = run_pipeline(raw, out / "run_serial", cache_b, 1, "serial")
        results["serial"] = {**_run_json(serial), "peak_mem": SAMPLER.phase()}
        p_par = sum(full.stage(s).seconds for s in ("split", "sections", "extract"))
        p_ser = sum(serial.stage(s).seconds for s in ("split", "sections", "extract"))
        results["speedup_parse"] = p_ser / p_par
        results["speedup_total"] = serial.total / full.total
        print("\n== one process (cold caches) ==")
        print(stage_table(serial, n_docs, n_bytes))
        print(f"speed-up with {args.workers} processes: split+sections+extract {p_ser / p_par:.2f}x, "
              f"whole pipeline {serial.total / full.total:.2f}x")

    # ---- matching
    if not args.no_matching:
        # in a fresh process: forking the two matching workers from this one, which holds the
        # memory of the runs above (1.5 GB), costs several tenths of a second the Matcher is not to blame for
        mb = run_matching_process(cache_a, out, args.mentions, args.workers, args.seed)
        mb["pipeline_cache"] = full.info.get("match_cache")
        mb["peak_mem"] = SAMPLER.phase()
        results["matching"] = mb
        print("\n== matching: distinct unseen mentions against the full vocabularies ==")
        print(f"vocabulary: {mb['vocabulary']['terms']:,} terms ({mb['vocabulary']['phenotype']:,} HPO names and "
              f"synonyms, {mb['vocabulary']['condition']:,} condition terms); measured in a fresh process")
        print(f"project Matcher      {mb['matcher']['per_second']:>8,.0f} mentions/s  (1 process; "
              f"{mb.get('matcher_parallel', {}).get('per_second', 0):,.0f}/s on {args.workers})  {mb['matcher']['methods']}")
        print(f"extractOne WRatio    {mb['extractone_wratio']['per_second']:>8,.1f} mentions/s  "
              f"({mb['extractone_wratio']['ms_per_mention']:.0f} ms a mention, sample {mb['extractone_wratio']['sample']})")
        print(f"cdist brute force    {mb['cdist_bruteforce']['per_second']:>8,.0f} mentions/s  "
              f"(sample {mb['cdist_bruteforce']['sample']}, {mb['cdist_bruteforce']['scorer']}, all cores)")
        pc = full.info.get("match_cache") or {}
        print(f"pipeline match cache: {pc.get('distinct', 0):,} distinct wordings, hit rate {pc.get('hit_rate', 0):.1%}")
        for table, methods in mb["accuracy"].items():
            first = next(iter(methods.values()))
            print(f"gold {table} ({first['gold_with_concept']} wordings with a gold concept): " + "; ".join(
                f"{m} {v['correct']} correct, {v['compatible'] - v['correct']} broader/narrower, "
                f"{v['checked'] - v['compatible']} wrong, {first['gold_with_concept'] - v['checked']} left unmatched"
                for m, v in methods.items()))

    # ---- Dagster: fresh processes, the same work without and with Dagster, back to back
    if not args.no_dagster:
        import gc

        gc.collect()
        SAMPLER.phase()
        pairs = []
        for k in range(max(1, args.repeat)):
            domain = run_domain_process(raw, out / f"run_domain_{k}", vocab_src)
            dagster = run_dagster(raw, out / f"run_dagster_{k}", vocab_src)
            pairs.append({"domain": domain, "dagster": dagster})
        results["dagster"] = {"pairs": pairs, "peak_mem_tree": SAMPLER.phase()}
        ok = [p for p in pairs if p["domain"].get("returncode") == 0 and p["dagster"].get("returncode") == 0]
        if ok:
            d_wall = min(p["domain"]["process_wall_s"] for p in ok)
            g_best = min(ok, key=lambda p: p["dagster"]["process_wall_s"])["dagster"]
            g_wall = g_best["process_wall_s"]
            steps = sum(g_best.get("steps", {}).values())
            overhead = g_wall - d_wall
            results["dagster"].update(domain_process_s=d_wall, dagster_process_s=g_wall, overhead_s=overhead,
                                      overhead_share=overhead / g_wall, dagster_import_s=g_best.get("import_s"),
                                      between_steps_s=g_best["run_s"] - steps, dagster_peak_rss=g_best.get("peak_rss"))
            print(f"\n== Dagster: the real definitions vs the same stages without Dagster (fresh processes, one "
                  f"process each, cold caches, {len(ok)} pair(s), best of each) ==")
            print(f"without Dagster: {d_wall:.1f} s (process wall, imports and start-up included)")
            print(f"with Dagster:    {g_wall:.1f} s = imports {g_best['import_s']:.1f} s + materialise {g_best['run_s']:.1f} s "
                  f"(steps {steps:.1f} s, between steps {g_best['run_s'] - steps:.1f} s); peak {_fmt_bytes(g_best.get('peak_rss', 0))} RSS")
            print(f"Dagster overhead {overhead:.1f} s = {overhead / g_wall:.0%} of the Dagster run")
            slow = sorted(((k, v) for k, v in g_best.get("steps", {}).items()), key=lambda kv: -kv[1])[:6]
            print("slowest Dagster steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in slow))
        else:
            print(f"\nDagster comparison FAILED: {[{k: v.get('stderr_tail', '')[-300:] for k, v in p.items()} for p in pairs]}")

    results["calibration_s"].append(calibrate())
    results["loadavg"] = os.getloadavg()
    print(f"calibration at the end: {results['calibration_s'][-1]:.2f} s")
    results["peak_rss_overall"] = SAMPLER.overall
    results["ru_maxrss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    results["ru_maxrss_children"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    SAMPLER.stop()
    results["memory_sampler"] = {"samples": SAMPLER.samples, "cpu_s": SAMPLER.cpu_seconds}
    result_file = out / f"bench-{args.drugs}.json"
    result_file.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    print(f"\npeak memory (process tree, sum of PSS, sampled up to 4 times a second within 5 % of a core: "
          f"{SAMPLER.samples} samples, {SAMPLER.cpu_seconds:.1f} CPU-s): {_fmt_bytes(SAMPLER.overall)}; "
          f"largest single process (ru_maxrss) {_fmt_bytes(max(results['ru_maxrss_self'], results['ru_maxrss_children']))}; "
          f"results: {result_file}")
    if not args.keep:
        for child in out.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
    return 0


def _run_json(run: Run) -> dict:
    return {"label": run.label, "workers": run.workers, "total_s": run.total, "startup": run.startup,
            "stages": [asdict(s) for s in run.stages], "info": run.info}


def _edit_one_source(raw: Path, seed: int) -> dict:
    """Insert a sentence under the title of one source (a medical article): that source's text
    changes, nothing else in the corpus does."""
    from pipeline.registry import load_registry

    entries, _ = load_registry(raw / "registry.toml")
    candidates = [e for e in entries if e.kind == "medical_article" and e.start_marker] or \
                 [e for e in entries if e.start_marker]
    entry = candidates[random.Random(seed).randrange(len(candidates))]
    path = raw / entry.raw_path
    with open(path, encoding="utf-8", newline="") as fh:
        text = fh.read()
    at = text.index(entry.start_marker) + len(entry.start_marker)
    text = text[:at] + "\n\nThis page was revised: readers should read the package leaflet again." + text[at:]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return {"raw_path": entry.raw_path, "source_id": entry.source_id}


if __name__ == "__main__":
    sys.exit(main())
