"""The benchmark command end to end on a small corpus: what it writes is what it measured."""

from __future__ import annotations

import json
import statistics

from pipeline import bench


def test_bench_reports_the_median_of_several_incremental_edits(tmp_path, capsys, vocabulary):
    # ``vocabulary`` builds the shared vocabulary cache first: the command copies it, not loads HPO
    out = tmp_path / "b"
    assert bench.main(["--drugs", "10", "--workers", "2", "--no-serial", "--no-dagster", "--no-matching",
                       "--incremental-runs", "3", "--out", str(out)]) == 0
    results = json.loads((out / "bench-10.json").read_text(encoding="utf-8"))
    runs = results["incremental_runs"]
    assert len(runs) == 3
    assert len({r["edited"] for r in runs}) >= 2  # other sources were edited
    inc = results["incremental"]
    assert inc["info"]["plan"]["mode"] == "incremental"
    assert inc["total_s"] == statistics.median(r["seconds"] for r in runs)
    assert inc["share_of_full"] == inc["total_s"] / results["full"]["total_s"]
    assert sum(inc["info"]["rows_inserted"].values()) > 0
    # the time run_incremental spends outside its named stages is a stage of its own, so the
    # total is the run's wall time (without the benchmark's memory samples)
    names = [s["name"] for s in inc["stages"]]
    assert names[0] == "plan" and names[-1] == "other" and "checks+publish" in names
    assert inc["total_s"] == sum(s["seconds"] for s in inc["stages"])
    printed = capsys.readouterr().out
    assert "median of 3 edits" in printed and "not incremental" not in printed


def test_the_memory_sampler_keeps_to_its_cpu_budget(monkeypatch):
    """A sample that costs CPU (a large process tree's smaps_rollup) stretches the pause after it:
    at a 10 % budget, samples costing 20 ms come at most about every 200 ms, not every 10 ms."""
    import time

    sizes = iter(range(1, 10**6))

    def costly_sample() -> int:
        end = time.thread_time() + 0.02
        while time.thread_time() < end:
            pass
        return next(sizes) * 1024

    monkeypatch.setattr(bench, "tree_rss", costly_sample)
    sampler = bench.MemorySampler(interval=0.01, cpu_budget=0.1)
    sampler.available = True
    sampler.start()
    time.sleep(1.5)
    sampler.stop()
    sampler._thread.join(5)
    assert 3 <= sampler.samples <= 12, sampler.samples
    assert sampler.cpu_seconds <= 0.3, sampler.cpu_seconds
    assert sampler.overall == sampler.samples * 1024  # every sample was kept: the peak is the last, largest one


def test_stage_timers_leave_the_memory_samples_out(monkeypatch):
    """A stage's time does not include the memory samples taken at its ends (tens of ms each for
    a large process tree); their cost is kept apart, for the incremental run's unstaged time."""
    import time

    def slow_sample() -> int:
        time.sleep(0.05)
        return 0

    monkeypatch.setattr(bench.SAMPLER, "sample", slow_sample)
    before = bench._Timer.sampling
    timer = bench._Timer()
    time.sleep(0.01)
    seconds, _ = timer.stop()
    assert 0.01 <= seconds < 0.045
    assert bench._Timer.sampling - before >= 0.1
