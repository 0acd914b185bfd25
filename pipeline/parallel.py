"""Splitting, sectioning and extraction over worker processes.

Each raw file's sources are independent of every other file's, so the work is cut into batches
of whole raw files (contiguous in the order ``split_all`` reads them) and each worker runs the
project's own serial functions on its batch: ``split_all`` on the batch's registry entries,
then ``section_rows`` and ``extract_rows`` (the row-producing halves of ``section_all`` and
``extract_all``). Each worker builds its batch's tables with the same code as the serial
functions, and the parent joins them in batch order (``joined_frames``: a column two batches typed
differently is typed again from all its values), so the result is the serial result: same rows,
same order, same dtypes (tests/bench/test_parallel.py checks this on the seed and on a synthetic
corpus; tests/unit/test_fast_paths.py checks the join against building from all rows).

Workers share the content-hash caches (``pipeline.cache.SourceCache`` directories): each batch's
new entries are written as one pack under a temporary name and renamed, so two processes never
see half a pack.

``exchange="parquet"`` makes each worker write its batch's tables as Parquet files in a
temporary folder (the parent reads them back) instead of sending rows through the pool's
pipe; the tables are re-typed from their values after concatenation, as the serial
functions type them. ``exchange="pipe"`` (the default) is exact by construction.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from pipeline.cache import SourceCache
from pipeline.extract import FACT_TABLES, extract_rows, frames_from_rows
from pipeline.extract.units import _row_type
from pipeline.perf import heap_frozen
from pipeline.problems import Problem
from pipeline.registry import SourceEntry
from pipeline.sections import section_frames, section_rows
from pipeline.split import split_all

BATCHES_PER_WORKER = 4  # several batches a worker, so a slow batch does not leave a core idle


@dataclass(frozen=True)
class CacheSpec:
    """What a worker needs to open the same ``SourceCache`` as the parent (a cache object holds
    hit counters, so each process opens its own)."""
    directory: str | None
    stage: str
    version: str

    @classmethod
    def of(cls, cache: SourceCache | None) -> "CacheSpec | None":
        if cache is None:
            return None
        directory = str(cache.directory.parent) if cache.directory is not None else None
        return cls(directory, cache.stage, cache.version)

    def open(self) -> SourceCache:
        return SourceCache(Path(self.directory) if self.directory else None, self.stage, self.version)


@dataclass
class ParseResult:
    """Everything the split, sections and extraction stages produce, as the serial functions
    return it, plus per-stage timings (seconds of worker time) and cache counters."""
    sources: pd.DataFrame
    segments: pd.DataFrame
    split_problems: list[Problem]
    sections: pd.DataFrame
    items: pd.DataFrame
    section_problems: list[Problem]
    facts: dict[str, pd.DataFrame]
    extract_problems: list[Problem]
    stage_seconds: dict[str, float] = field(default_factory=dict)   # summed over workers
    join_seconds: float = 0.0                                      # joining the batches' tables in the parent
    cache_hits: dict[str, int] = field(default_factory=dict)
    cache_misses: dict[str, int] = field(default_factory=dict)
    worker_peak_rss: int = 0                                       # bytes, largest worker
    workers: int = 1
    batches: int = 1


MIN_BATCH_SHARE = 0.01  # guided batches get no smaller than this share of the sources


def batch_ends(total: int, n_batches: int, workers: int | None = None) -> list[float]:
    """Cumulative source counts at which batches end. Without ``workers``: ``n_batches`` equal
    batches. With it, guided: none larger than total / ``n_batches``, then each a 1 / (2 x
    workers) share of the sources left (as guided self-scheduling cuts a loop), down to
    ``MIN_BATCH_SHARE`` of the total. The last batches are small, so the workers finish nearly
    together: with equal batches, the worker that drew the last one worked on alone for up to a
    batch's time (2.7 s of 32 s measured at 1,000 drugs, one core idle)."""
    cap = total / max(1, n_batches)
    if not workers:
        return [cap * (k + 1) for k in range(max(1, n_batches))]
    floor = max(1.0, total * MIN_BATCH_SHARE)
    ends, done = [], 0.0
    while done < total:
        done = min(float(total), done + min(cap, max(floor, (total - done) / (2 * workers))))
        ends.append(done)
    return ends or [float(total)]


def file_batches(entries: list[SourceEntry], n_batches: int, workers: int | None = None) -> list[list[SourceEntry]]:
    """Registry entries cut into groups of whole raw files, in the order ``split_all`` reads the
    files (sorted by raw_path), sized by source count: at most ``n_batches`` equal ones, or
    guided batches for ``workers`` (see ``batch_ends``)."""
    by_file: dict[str, list[SourceEntry]] = {}
    for e in entries:
        by_file.setdefault(e.raw_path, []).append(e)
    files = sorted(by_file)
    if not files:
        return []
    ends = batch_ends(len(entries), max(1, min(n_batches, len(files))), workers)
    batches: list[list[SourceEntry]] = [[]]
    done = 0
    for f in files:
        if batches[-1] and done >= ends[len(batches) - 1] and len(batches) < len(ends):
            batches.append([])
        batches[-1] += by_file[f]
        done += len(by_file[f])
    return batches


def _rows_by_source_from_dicts(rows: list[dict]) -> dict[str, list]:
    """source_id -> rows as namedtuples (the form ``extract_rows`` reads), in order."""
    out: dict[str, list] = {}
    if not rows:
        return out
    row = _row_type(tuple(rows[0]))
    for d in rows:
        sid = d.get("source_id")
        if isinstance(sid, str):
            out.setdefault(sid, []).append(row(**d))
    return out


def _parse_batch(task: tuple) -> dict:
    """Worker: split, section and extract one batch of raw files."""
    (index, raw_root, entries, max_bytes, control_ratio, sec_spec, fact_spec, exchange_dir) = task
    _single_threaded_blas()
    t0 = time.perf_counter()
    sources, segments, split_problems = split_all(Path(raw_root), entries, max_bytes, control_ratio)
    t1 = time.perf_counter()
    sec_cache = sec_spec.open() if sec_spec else None
    fact_cache = fact_spec.open() if fact_spec else None
    if len(sources):
        sec_rows, item_rows, sec_problems = section_rows(sources, sec_cache)
    else:
        sec_rows, item_rows, sec_problems = [], [], []
    t2 = time.perf_counter()
    if len(sources):
        fact_rows, ext_problems = extract_rows(sources, _rows_by_source_from_dicts(sec_rows),
                                               _rows_by_source_from_dicts(item_rows), fact_cache)
    else:
        fact_rows, ext_problems = {t: [] for t in FACT_TABLES}, []
    t3 = time.perf_counter()
    out = {
        "index": index, "sources": sources, "segments": segments, "split_problems": split_problems,
        "sec_rows": sec_rows, "item_rows": item_rows, "sec_problems": sec_problems,
        "fact_rows": fact_rows, "ext_problems": ext_problems,
        "hits": {"sections": sec_cache.hits if sec_cache else 0, "facts": fact_cache.hits if fact_cache else 0},
        "misses": {"sections": sec_cache.misses if sec_cache else 0, "facts": fact_cache.misses if fact_cache else 0},
        "used": {"sections": sec_cache.used if sec_cache else set(), "facts": fact_cache.used if fact_cache else set()},
    }
    del sec_rows, item_rows, fact_rows  # held by ``out`` only: each list is freed once its table is built
    built = {"sections": 0.0, "extract": 0.0}
    if exchange_dir:
        out = _write_parquet(out, Path(exchange_dir) / f"batch-{index:05d}")
    else:  # the batch's tables built here, in parallel, rather than from every batch's rows in the parent
        t = time.perf_counter()
        out["sec_frames"] = section_frames(out.pop("sec_rows"), out.pop("item_rows"))
        built["sections"] = time.perf_counter() - t
        t = time.perf_counter()
        out["fact_frames"] = frames_from_rows(out.pop("fact_rows"))
        built["extract"] = time.perf_counter() - t
    out["seconds"] = {"split": t1 - t0, "sections": t2 - t1 + built["sections"], "extract": t3 - t2 + built["extract"]}
    out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


# ------------------------------------------------------------------------------------ parquet
_ROW_TABLES = ("sec_rows", "item_rows", *(f"fact:{t}" for t in FACT_TABLES))


def _write_parquet(out: dict, folder: Path) -> dict:
    """Write a batch's tables as Parquet files; return the batch with paths instead of rows."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"sources": out.pop("sources"), "segments": out.pop("segments"),
              "sec_rows": pd.DataFrame(out.pop("sec_rows")), "item_rows": pd.DataFrame(out.pop("item_rows"))}
    for t, rows in out.pop("fact_rows").items():
        tables[f"fact:{t}"] = pd.DataFrame(rows)
    paths = {}
    for name, frame in tables.items():
        path = folder / (name.replace(":", "-") + ".parquet")
        frame.to_parquet(path, index=False)
        paths[name] = str(path)
    out["parquet"] = paths
    return out


def _retype(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns typed from their values as ``pd.DataFrame(list_of_dicts)`` types them (a batch
    whose column was all missing comes back as objects; joined with the others it must take
    their type)."""
    return pd.DataFrame({c: frame[c].tolist() for c in frame.columns}, columns=frame.columns)


def joined_frames(parts: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    """Batches' tables, each built by ``pd.DataFrame(rows)``, joined into the table
    ``pd.DataFrame(all rows)`` gives (``empty`` when no batch has a row). Concatenation keeps a
    column's type when every batch typed it alike; a column typed differently by two batches
    (missing everywhere in one, say) is typed again from the batches' values, as from all the
    rows. That is exact for the kinds of column the stages' rows hold (text, integers, numbers,
    flags, each possibly missing); a column mixing kinds, which no table has, would get its
    values as its batches typed them (1.0 for 1 where a batch made the column numbers)."""
    kept = [p for p in parts if len(p)]
    if not kept:
        return empty
    frame = pd.concat(kept, ignore_index=True)
    if len(kept) > 1:
        for col in frame.columns:
            if len({str(p[col].dtype) for p in kept}) > 1:
                frame[col] = pd.Series([v for p in kept for v in p[col].tolist()])
    return frame


def _read_parquet_batches(results: list[dict]) -> dict[str, pd.DataFrame]:
    joined: dict[str, pd.DataFrame] = {}
    for name in ("sources", "segments", *_ROW_TABLES):
        parts = [pd.read_parquet(r["parquet"][name]) for r in results]
        parts = [p for p in parts if len(p.columns)]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        joined[name] = _retype(frame) if len(frame) and name in _ROW_TABLES else frame
    return joined


# ------------------------------------------------------------------------------------ driver
def parse_sources(raw_root: Path, entries: list[SourceEntry], max_bytes: int, control_ratio: float,
                  sections_cache: SourceCache | None = None, facts_cache: SourceCache | None = None,
                  workers: int | None = None, batches: int | None = None, exchange: str = "pipe",
                  tmp_dir: Path | None = None) -> ParseResult:
    """``split_all`` + ``section_all`` + ``extract_all`` over ``workers`` processes. With one
    worker the serial functions run in this process. ``exchange``: "pipe" or "parquet"."""
    workers = default_workers() if workers is None else workers
    if workers <= 1:
        return _serial(raw_root, entries, max_bytes, control_ratio, sections_cache, facts_cache)
    # guided batches unless a count is asked for: large first, small last (see batch_ends)
    groups = file_batches(entries, batches) if batches else file_batches(entries, workers * BATCHES_PER_WORKER, workers)
    sec_spec, fact_spec = CacheSpec.of(sections_cache), CacheSpec.of(facts_cache)
    exchange_dir = None
    if exchange == "parquet":
        exchange_dir = tempfile.mkdtemp(prefix="drug-facts-batches-", dir=str(tmp_dir) if tmp_dir else None)
    elif exchange != "pipe":
        raise ValueError(f"exchange must be 'pipe' or 'parquet', not {exchange!r}")
    tasks = [(k, str(raw_root), g, max_bytes, control_ratio, sec_spec, fact_spec, exchange_dir)
             for k, g in enumerate(groups)]
    try:
        with heap_frozen(), _pool(workers) as pool:
            results = list(pool.map(_parse_batch, tasks))
        t_join = time.perf_counter()
        empty_sections, empty_items = section_frames([], [])
        empty_facts = frames_from_rows({})
        if exchange == "parquet":
            tables = _read_parquet_batches(results)
            sections = tables["sec_rows"] if len(tables["sec_rows"]) else empty_sections
            items = tables["item_rows"] if len(tables["item_rows"]) else empty_items
            facts = {t: tables[f"fact:{t}"] if len(tables[f"fact:{t}"]) else empty_facts[t] for t in FACT_TABLES}
            sources_parts = [tables["sources"]] if len(tables["sources"]) else []
            segment_parts = [tables["segments"]] if len(tables["segments"]) else []
        else:
            sections = joined_frames([res["sec_frames"][0] for res in results], empty_sections)
            items = joined_frames([res["sec_frames"][1] for res in results], empty_items)
            facts = {t: joined_frames([res["fact_frames"][t] for res in results], empty_facts[t]) for t in FACT_TABLES}
            sources_parts = [res["sources"] for res in results if len(res["sources"])]
            segment_parts = [res["segments"] for res in results if len(res["segments"])]
        sources = pd.concat(sources_parts, ignore_index=True) if sources_parts else pd.DataFrame()
        segments = pd.concat(segment_parts, ignore_index=True) if segment_parts else pd.DataFrame()
        join = time.perf_counter() - t_join
    finally:
        if exchange_dir:
            shutil.rmtree(exchange_dir, ignore_errors=True)
    seconds = {k: sum(r["seconds"][k] for r in results) for k in ("split", "sections", "extract")}
    # the keys the workers' caches used belong to the caller's caches (so that pruning keeps them)
    for name, cache in (("sections", sections_cache), ("facts", facts_cache)):
        if cache is not None:
            cache.used.update(*(r["used"][name] for r in results))
    return ParseResult(
        sources=sources, segments=segments, split_problems=[p for r in results for p in r["split_problems"]],
        sections=sections, items=items, section_problems=[p for r in results for p in r["sec_problems"]],
        facts=facts, extract_problems=[p for r in results for p in r["ext_problems"]],
        stage_seconds=seconds, join_seconds=join,
        cache_hits={k: sum(r["hits"][k] for r in results) for k in ("sections", "facts")},
        cache_misses={k: sum(r["misses"][k] for r in results) for k in ("sections", "facts")},
        worker_peak_rss=max((r["peak_rss"] for r in results), default=0), workers=workers, batches=len(groups))


def _serial(raw_root: Path, entries: list[SourceEntry], max_bytes: int, control_ratio: float,
            sections_cache: SourceCache | None, facts_cache: SourceCache | None) -> ParseResult:
    """The serial functions, timed: the reference the worker pool must equal."""
    from pipeline.extract import extract_all
    from pipeline.sections import section_all

    t0 = time.perf_counter()
    sources, segments, split_problems = split_all(raw_root, entries, max_bytes, control_ratio)
    t1 = time.perf_counter()
    if len(sources):
        sections, items, section_problems = section_all(sources, sections_cache)
    else:
        sections, items, section_problems = *section_frames([], []), []
    t2 = time.perf_counter()
    if len(sources):
        facts, extract_problems = extract_all(sources, sections, items, facts_cache)
    else:
        facts, extract_problems = frames_from_rows({}), []
    t3 = time.perf_counter()
    return ParseResult(
        sources=sources, segments=segments, split_problems=split_problems, sections=sections, items=items,
        section_problems=section_problems, facts=facts, extract_problems=extract_problems,
        stage_seconds={"split": t1 - t0, "sections": t2 - t1, "extract": t3 - t2},
        cache_hits={"sections": sections_cache.hits if sections_cache else 0,
                    "facts": facts_cache.hits if facts_cache else 0},
        cache_misses={"sections": sections_cache.misses if sections_cache else 0,
                      "facts": facts_cache.misses if facts_cache else 0},
        worker_peak_rss=0, workers=1, batches=1)


def section_all_parallel(sources: pd.DataFrame, cache: SourceCache | None = None, workers: int | None = None
                         ) -> tuple[pd.DataFrame, pd.DataFrame, list[Problem]]:
    """``pipeline.sections.section_all`` over worker processes (batches of sources): same result."""
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(sources) < 2:
        from pipeline.sections import section_all

        return section_all(sources, cache)
    spec = CacheSpec.of(cache)
    chunks = _source_chunks(sources, workers * BATCHES_PER_WORKER)
    with _pool(workers) as pool:
        results = list(pool.map(_section_chunk, [(c, spec) for c in chunks]))
    secs = [r for res in results for r in res[0]]
    items = [r for res in results for r in res[1]]
    problems = [p for res in results for p in res[2]]
    if cache is not None:
        cache.hits += sum(res[3] for res in results)
        cache.misses += sum(res[4] for res in results)
        cache.used.update(*(res[5] for res in results))
    return (*section_frames(secs, items), problems)


def _section_chunk(task):
    chunk, spec = task
    cache = spec.open() if spec else None
    secs, items, problems = section_rows(chunk, cache)
    return secs, items, problems, cache.hits if cache else 0, cache.misses if cache else 0, cache.used if cache else set()


def extract_all_parallel(sources: pd.DataFrame, sections: pd.DataFrame, items: pd.DataFrame,
                         cache: SourceCache | None = None, workers: int | None = None
                         ) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    """``pipeline.extract.extract_all`` over worker processes (batches of sources): same result.
    Each worker receives its sources' section and item rows with the values the serial function
    reads from the tables."""
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(sources) < 2:
        from pipeline.extract import extract_all

        return extract_all(sources, sections, items, cache)
    from pipeline.extract import _rows_by_source

    sec_by, item_by = _rows_by_source(sections), _rows_by_source(items)
    spec = CacheSpec.of(cache)
    sec_fields = tuple(sections.columns)
    item_fields = tuple(items.columns)
    tasks = []
    for chunk in _source_chunks(sources, workers * BATCHES_PER_WORKER):
        ids = list(chunk["source_id"])
        tasks.append((chunk, sec_fields, {s: [tuple(r) for r in sec_by.get(s, [])] for s in ids if s in sec_by},
                      item_fields, {s: [tuple(r) for r in item_by.get(s, [])] for s in ids if s in item_by}, spec))
    with _pool(workers) as pool:
        results = list(pool.map(_extract_chunk, tasks))
    rows = {t: [r for res in results for r in res[0][t]] for t in FACT_TABLES}
    problems = [p for res in results for p in res[1]]
    if cache is not None:
        cache.hits += sum(res[2] for res in results)
        cache.misses += sum(res[3] for res in results)
        cache.used.update(*(res[4] for res in results))
    return frames_from_rows(rows), problems


def _extract_chunk(task):
    from pipeline.extract.units import _row_type

    chunk, sec_fields, sec_by, item_fields, item_by, spec = task
    cache = spec.open() if spec else None
    sec_row, item_row = _row_type(sec_fields), _row_type(item_fields) if item_fields else None
    secs = {s: [sec_row._make(t) for t in rows] for s, rows in sec_by.items()}
    items = {s: [item_row._make(t) for t in rows] for s, rows in item_by.items()} if item_row else {}
    rows, problems = extract_rows(chunk, secs, items, cache)
    return rows, problems, cache.hits if cache else 0, cache.misses if cache else 0, cache.used if cache else set()


def _source_chunks(sources: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    n = max(1, min(n, len(sources)))
    bounds = [round(k * len(sources) / n) for k in range(n + 1)]
    return [sources.iloc[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


# ------------------------------------------------------------------------------- fork map
def default_workers() -> int:
    """Worker processes for the per-drug stages (reconciliation's source independence, the
    report pages): ``DRUG_FACTS_WORKERS``, else 1 (serial, as before)."""
    try:
        return max(1, int(os.environ.get("DRUG_FACTS_WORKERS", "1")))
    except ValueError:
        return 1


_LOG = logging.getLogger(__name__)
_FORK_STATE: dict[int, tuple] = {}


def fork_map(fn, state, n_items: int, workers: int, min_items: int = 2) -> list | None:
    """``[fn(state, a, b) for (a, b) in chunks of range(n_items)]`` in forked worker processes
    that inherit ``state`` (nothing is pickled on the way in), results in chunk order. None when
    a pool cannot or need not be used (one worker, few items, no fork, inside a daemon process);
    the caller then runs ``fn(state, 0, n_items)`` itself."""
    return fork_start(fn, state, n_items, workers, min_items).result()


def fork_start(fn, state, n_items: int, workers: int, min_items: int = 2, fork_one: bool = False) -> "ForkJob":
    """``fork_map`` started but not awaited: the workers are forked now (before this process
    starts anything else, such as a database's threads) and work while the caller goes on;
    ``result()`` waits for them. Its result is None in the cases ``fork_map`` gives None.
    ``fork_one``: fork even a single worker, to take Python work off this process while its own
    threads work (a thread of it would hold the GIL against them)."""
    return ForkJob(fn, state, n_items, workers, min_items, fork_one)


class ForkJob:
    """Batches of ``fn`` running in forked workers (see ``fork_start``). Its owner calls
    ``result()`` or ``cancel()``: until then the workers, the frozen heap and the state stay."""

    def __init__(self, fn, state, n_items: int, workers: int, min_items: int = 2, fork_one: bool = False):
        from concurrent.futures.process import BrokenProcessPool

        self.fn, self._pool, self._futures, self._frozen = fn, None, None, None
        self._key = id(self)
        if ((workers <= 1 and not fork_one) or workers < 1 or n_items < min_items
                or "fork" not in mp.get_all_start_methods() or mp.current_process().daemon):
            return
        _FORK_STATE[self._key] = (fn, state)
        n = max(1, min(n_items, workers * BATCHES_PER_WORKER))
        # guided chunks (see batch_ends): large first, small last, so the workers end together
        bounds = [0, *(round(e) for e in batch_ends(n_items, n, max(1, workers)))]
        tasks = [(self._key, a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
        self._frozen = heap_frozen()  # the workers' collections leave the inherited heap alone
        self._frozen.__enter__()
        try:
            self._pool = _pool(workers)
            self._futures = [self._pool.submit(_fork_call, t) for t in tasks]  # submitting forks the workers
        except (OSError, BrokenProcessPool) as exc:  # no processes to be had (limits, sandbox), or one died
            _LOG.warning("no worker processes (%s); running %s in this process", exc, fn.__name__)
            self._close()

    @property
    def running(self) -> bool:
        return self._futures is not None

    def result(self) -> list | None:
        """The batches' results in order (an error raised by ``fn`` in a worker is raised here, as
        serially), or None when no pool ran, or when a worker died: the caller then runs
        ``fn(state, 0, n_items)`` itself."""
        from concurrent.futures.process import BrokenProcessPool

        if self._futures is None:
            self._close()
            return None
        try:
            return [f.result() for f in self._futures]
        except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
            _LOG.warning("a worker process died (%s); running %s again in this process", exc, self.fn.__name__)
            return None
        finally:
            self._close()

    def cancel(self) -> None:
        """Drop the batches not started and wait for the running ones to end."""
        self._close()

    def _close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._futures = None
        if self._frozen is not None:
            self._frozen.__exit__(None, None, None)
            self._frozen = None
        _FORK_STATE.pop(self._key, None)


def _pool(workers: int) -> ProcessPoolExecutor:
    """A pool of forked workers where the system can fork (its default start method elsewhere),
    which die with the process that started them (see ``_die_with_parent``)."""
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_die_with_parent,
                               initargs=(os.getpid(),))


def _die_with_parent(parent: int) -> None:
    """Worker start-up: ask the kernel to kill this worker when its parent dies (Linux
    ``PR_SET_PDEATHSIG``), so a run killed while its workers work (out of memory, a forced stop)
    leaves none of them blocked on the pool's pipe, holding its copy of the parent's memory.
    The kernel sends the signal when the *thread* that forked the worker ends, so a pool must be
    started from a thread that outlives it (every caller here starts and awaits it in one call).
    Elsewhere nothing is done: the pool ends its workers when the parent exits normally."""
    try:
        import ctypes
        import signal

        if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) != 0:  # 1 = PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):  # no prctl on this system
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def _fork_call(task):
    key, a, b = task
    fn, state = _FORK_STATE[key]
    _single_threaded_blas()
    return fn(state, a, b)


@lru_cache(maxsize=1)
def _single_threaded_blas() -> bool:
    """One BLAS thread in a worker process. OpenBLAS would otherwise run (and, between calls,
    spin) as many threads as there are cores in every worker: two workers on two cores then
    spend most of their time contending (measured: 3-5x slower small matrix products).
    Best effort through the library's own call; False when no OpenBLAS is loaded."""
    import ctypes

    names = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
             "openblas_set_num_threads")
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            libs = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and ".so" in line})
    except OSError:
        return False
    for lib in libs:
        try:
            dll = ctypes.CDLL(lib)
        except OSError:
            continue
        for name in names:
            setter = getattr(dll, name, None)
            if setter is not None:
                setter(1)
                return True
    return False
