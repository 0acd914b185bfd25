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
    printed = capsys.readouterr().out
    assert "median of 3 edits" in printed and "not incremental" not in printed
