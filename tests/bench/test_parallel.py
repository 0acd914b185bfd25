"""The worker pool (pipeline.parallel) returns exactly what the serial functions return: same
rows, same order, same dtypes, same problems, on the seed and on a small synthetic corpus."""

from pathlib import Path

import pandas as pd
import pytest

from pipeline.extract import extract_all
from pipeline.parallel import extract_all_parallel, file_batches, parse_sources, section_all_parallel
from pipeline.registry import load_registry
from pipeline.sections import section_all
from pipeline.synthetic import generate_corpus
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def synthetic_raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    return Path(generate_corpus(out, 6, seed=3)["raw_dir"])


def _same(a, b):
    for name in ("sources", "segments", "sections", "items"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.facts.keys() == b.facts.keys()
    for table in a.facts:
        pd.testing.assert_frame_equal(a.facts[table], b.facts[table])
    for name in ("split_problems", "section_problems", "extract_problems"):
        assert getattr(a, name) == getattr(b, name)


@pytest.mark.parametrize("corpus", ["seed", "synthetic"])
@pytest.mark.parametrize("exchange", ["pipe", "parquet"])
def test_worker_pool_equals_serial(corpus, exchange, synthetic_raw, tmp_path):
    raw = ROOT / "raw" if corpus == "seed" else synthetic_raw
    entries, problems = load_registry(raw / "registry.toml")
    assert not problems
    serial = parse_sources(raw, entries, 10**8, 0.05, workers=1)
    pooled = parse_sources(raw, entries, 10**8, 0.05, workers=2, batches=3, exchange=exchange, tmp_dir=tmp_path)
    assert len(serial.sources) == len(entries) and serial.facts["adverse_effects"].shape[0] > 0
    _same(serial, pooled)
    assert not list(tmp_path.iterdir()), "the Parquet exchange folder is removed"


def test_guided_batches_give_the_serial_result(synthetic_raw):
    """The default batches (guided: large first, small last) join into the serial tables."""
    entries, _ = load_registry(synthetic_raw / "registry.toml")
    pooled = parse_sources(synthetic_raw, entries, 10**8, 0.05, workers=2)
    assert pooled.batches == len(file_batches(entries, 2 * 4, workers=2)) > 1  # the guided cut
    _same(parse_sources(synthetic_raw, entries, 10**8, 0.05, workers=1), pooled)


@pytest.mark.parametrize("total,n_batches,workers", [(5000, 8, 2), (50, 8, 2), (7, 8, 2), (1000, 16, 4)])
def test_guided_batch_ends_shrink_to_the_end(total, n_batches, workers):
    from pipeline.parallel import MIN_BATCH_SHARE, batch_ends

    ends = batch_ends(total, n_batches, workers)
    sizes = [b - a for a, b in zip([0.0, *ends], ends)]
    assert ends[-1] == total and all(x > 0 for x in sizes)
    assert max(sizes) <= total / n_batches + 1e-9  # no batch larger than an equal share
    assert all(a >= b - 1e-9 for a, b in zip(sizes, sizes[1:]))  # never growing
    assert sizes[-1] <= max(1.0, total * MIN_BATCH_SHARE) + 1e-9  # the last is the smallest allowed (or less)
    assert batch_ends(total, n_batches) == [total / n_batches * (k + 1) for k in range(n_batches)]


def test_worker_pool_shares_the_content_hash_caches(synthetic_raw, tmp_path):
    from pipeline.cache import SourceCache

    entries, _ = load_registry(synthetic_raw / "registry.toml")
    sections_cache = SourceCache(tmp_path, "sections", "v1")
    facts_cache = SourceCache(tmp_path, "facts", "v1")
    first = parse_sources(synthetic_raw, entries, 10**8, 0.05, sections_cache, facts_cache, workers=2)
    again = parse_sources(synthetic_raw, entries, 10**8, 0.05, SourceCache(tmp_path, "sections", "v1"),
                          SourceCache(tmp_path, "facts", "v1"), workers=2)
    assert first.cache_misses == {"sections": len(entries), "facts": len(entries)}
    assert again.cache_hits == {"sections": len(entries), "facts": len(entries)}
    _same(first, again)
    # the keys the workers used reach the caller's caches, so pruning after the run keeps them
    assert len(sections_cache.used) == len(facts_cache.used) == len(entries)
    assert sections_cache.prune() == 0 and facts_cache.prune() == 0


def test_section_and_extract_parallel_equal_the_serial_functions(synthetic_raw):
    entries, _ = load_registry(synthetic_raw / "registry.toml")
    sources = parse_sources(synthetic_raw, entries, 10**8, 0.05, workers=1).sources
    sections, items, problems = section_all(sources)
    p_sections, p_items, p_problems = section_all_parallel(sources, workers=2)
    pd.testing.assert_frame_equal(sections, p_sections)
    pd.testing.assert_frame_equal(items, p_items)
    assert problems == p_problems
    facts, problems = extract_all(sources, sections, items)
    p_facts, p_problems = extract_all_parallel(sources, sections, items, workers=2)
    for table in facts:
        pd.testing.assert_frame_equal(facts[table], p_facts[table])
    assert problems == p_problems


def test_batches_keep_whole_files_in_read_order(synthetic_raw):
    entries, _ = load_registry(synthetic_raw / "registry.toml")
    for batches in (file_batches(entries, 4), file_batches(entries, 4, workers=2)):
        flat = [e for b in batches for e in b]
        assert sorted(flat, key=lambda e: e.source_id) == sorted(entries, key=lambda e: e.source_id)
        files = [e.raw_path for e in flat]
        assert files == sorted(files)  # the order split_all reads the files in
        assert all(len({e.raw_path for e in b} & {e.raw_path for e in other}) == 0
                   for i, b in enumerate(batches) for other in batches[i + 1:])


def _square_batch(state, a, b):
    if state.get("fail_at") is not None and a <= state["fail_at"] < b:
        raise ValueError(f"item {state['fail_at']} cannot be processed")
    return [x * x for x in state["items"][a:b]]


def test_fork_start_runs_while_the_caller_works_and_gives_the_serial_result():
    import os

    from pipeline.parallel import fork_start

    import gc

    from pipeline import parallel

    frozen_before = gc.get_freeze_count()
    state = {"items": list(range(37)), "fail_at": None, "parent": os.getpid()}
    job = fork_start(_square_batch, state, 37, 2)
    assert job.running and gc.get_freeze_count() > 0 and len(parallel._FORK_STATE) == 1
    state["items"] = []  # the workers forked already: they work on what the state was then
    batches = job.result()
    assert [x for b in batches for x in b] == [x * x for x in range(37)]
    assert len(batches) > 1 and not job.running
    assert gc.get_freeze_count() == frozen_before and parallel._FORK_STATE == {}  # nothing left held


def test_fork_start_raises_a_workers_error_and_declines_small_or_single_worker_jobs():
    import pytest

    from pipeline.parallel import fork_start

    job = fork_start(_square_batch, {"items": list(range(20)), "fail_at": 13}, 20, 2)
    with pytest.raises(ValueError, match="item 13"):
        job.result()
    assert fork_start(_square_batch, {"items": [1, 2]}, 2, 1).result() is None
    assert fork_start(_square_batch, {"items": [1]}, 1, 2).result() is None
    cancelled = fork_start(_square_batch, {"items": list(range(20)), "fail_at": None}, 20, 2)
    cancelled.cancel()
    assert not cancelled.running


def _pid_batch(state, a, b):
    import os

    return [(os.getpid(), x * x) for x in state["items"][a:b]]


def test_fork_one_takes_even_a_single_workers_job_out_of_this_process():
    import os

    from pipeline.parallel import fork_start

    job = fork_start(_pid_batch, {"items": list(range(6))}, 6, 1, min_items=1, fork_one=True)
    rows = [r for batch in job.result() for r in batch]
    assert [sq for _, sq in rows] == [x * x for x in range(6)]
    assert {pid for pid, _ in rows} != {os.getpid()} and len({pid for pid, _ in rows}) == 1  # one other process
    assert fork_start(_pid_batch, {"items": list(range(6))}, 6, 1, min_items=1).result() is None  # not asked
    assert fork_start(_pid_batch, {"items": []}, 0, 1, min_items=1, fork_one=True).result() is None  # nothing to do


def _sleepy_batch(state, a, b):
    import os
    import time

    (state["dir"] / f"worker-{os.getpid()}").write_text("started")
    time.sleep(120)
    return []


def _start_and_wait(state):
    import time

    from pipeline.parallel import fork_start

    fork_start(_sleepy_batch, state, 4, 2)
    time.sleep(120)


def test_workers_die_with_a_killed_parent(tmp_path):
    """A run killed while its workers work (out of memory, a forced stop) leaves no worker behind."""
    import multiprocessing as mp
    import os
    import signal
    import sys
    import time

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")

    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except FileNotFoundError:
            return False

    parent = mp.get_context("fork").Process(target=_start_and_wait, args=({"dir": tmp_path},))
    parent.start()
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("worker-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
    assert len(workers) == 2 and all(alive(w) for w in workers)
    os.kill(parent.pid, signal.SIGKILL)
    parent.join()
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [w for w in workers if alive(w)]
    for w in left:  # do not leave them behind if the test fails
        os.kill(w, signal.SIGKILL)
    assert not left
