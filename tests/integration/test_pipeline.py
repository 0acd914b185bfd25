"""The whole code location: loads, materialises in-process, publishes a documented warehouse,
and a failing blocking check stops publication."""

import os
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from pipeline import paths
from tests.conftest import ROOT


def _materialize():
    from pipeline.definitions import defs

    return dg.materialize(list(defs.assets), raise_on_error=False)


def test_code_location_loads_with_the_asset_graph():
    from pipeline.definitions import defs

    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"sources", "sections", "adverse_effects", "conditions", "dosing", "discrepancies", "warehouse",
            "discrepancy_report", "concepts"} <= keys
    graph = repo.asset_graph
    assert dg.AssetKey("sources") in graph.get(dg.AssetKey("sections")).parent_keys
    assert dg.AssetKey("warehouse") in graph.get(dg.AssetKey("discrepancy_report")).parent_keys
    checks = {c.name for c in repo.asset_graph.asset_check_keys}
    assert "sections_matches_schema" in checks and "discrepancies_matches_schema" in checks
    for key in keys:
        node = graph.get(dg.AssetKey(key.split("/")))
        assert node.description, f"{key} has no description"
        assert node.group_name in {"ingestion", "extraction", "matching", "reconciliation", "history", "publish"}, key
        assert node.kinds, f"{key} has no kinds"


def test_whole_graph_materialises_and_publishes_a_documented_warehouse(workdirs):
    result = _materialize()
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                  for t in ("sources", "sections", "adverse_effects", "conditions", "dosing", "discrepancies")}
        assert counts["sources"] == 5 and min(counts.values()) > 0
        undocumented = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND NOT internal AND (comment IS NULL OR comment = '')").fetchall()
        assert undocumented == []
        comment = dict(((t, c), x) for t, c, x in con.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE table_name LIKE '%fact_history'").fetchall())
        # a view's own column description wins over the table column's of the same name
        assert comment[("v_fact_history", "last_seen_run")] != comment[("fact_history", "last_seen_run")]
        assert "latest run" in comment[("v_fact_history", "last_seen_run")]
        assert comment[("v_fact_history", "mention")] == comment[("fact_history", "mention")]
        # the first run's facts are all present: none has a last sighting of its own, the view gives the run
        run_id = con.execute("SELECT run_id FROM runs").fetchall()
        assert len(run_id) == 1 and con.execute("SELECT count(*) FROM fact_history WHERE present AND "
                                                "last_seen_run IS NULL").fetchone()[0] > 0
        assert con.execute("SELECT DISTINCT last_seen_run FROM v_fact_history").fetchall() == run_id
        assert con.execute("SELECT count(*) FROM v_open_discrepancies").fetchone()[0] == counts["discrepancies"]
        row = con.execute("SELECT summary FROM discrepancies WHERE severity = 'critical'").fetchone()
        assert "80 mg" in row[0] and "100 mg" in row[0]
    finally:
        con.close()
    report = paths.reports_dir() / "discrepancies.html"
    assert report.exists() and "80 mg" in report.read_text(encoding="utf-8")
    by_key = {m.asset_key.to_user_string(): m for m in result.asset_materializations_for_node("publication")}
    assert set(by_key) == {"warehouse", "discrepancy_report"}
    report_meta = by_key["discrepancy_report"].metadata
    assert report_meta["report"].value == report.as_uri()
    sections_meta = result.asset_materializations_for_node("section_sources")[0].metadata
    assert "preview" in sections_meta and sections_meta["dagster/row_count"].value > 0
    from pipeline.export import read_exported

    assert len(read_exported(paths.parquet_dir(), "discrepancies")) == counts["discrepancies"]


def test_a_schema_violation_fails_the_check_and_nothing_is_published(workdirs, monkeypatch):
    from pipeline.defs import ingestion

    real = ingestion.section_all

    def corrupt(sources, cache=None, progress=None):
        sections, items, problems = real(sources)
        sections.loc[sections.index[0], "char_end"] += 5  # offsets no longer match the stored text
        return sections, items, problems

    monkeypatch.setattr(ingestion, "section_all", corrupt)
    result = _materialize()
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.check_name for e in failed] == ["sections_matches_schema"]
    assert "failures" in failed[0].metadata
    assert not paths.warehouse_path().exists()
    assert not (paths.reports_dir() / "discrepancies.html").exists()


def test_dagster_cli_loads_the_code_location_with_no_flags(tmp_path):
    """`dagster dev` and `dg dev` find the code location from pyproject.toml alone."""
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    validate = subprocess.run([str(bin_dir / "dagster"), "definitions", "validate"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
    assert validate.returncode == 0, validate.stderr[-2000:]
    assert "Validation successful for code location drug_facts" in validate.stderr + validate.stdout
    listed = subprocess.run([str(bin_dir / "dg"), "list", "defs"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "raw_files_sensor" in listed.stdout and "daily_refresh_schedule" in listed.stdout


def test_with_worker_processes_the_graph_renders_pages_while_publishing_and_publishes_the_same(workdirs, monkeypatch):
    """DRUG_FACTS_WORKERS=2 on five drugs: the publication step forks the page workers before it
    writes DuckDB, and the warehouse and the report equal those of a one-process run."""
    import shutil

    from pipeline import parallel
    from pipeline.schemas import WAREHOUSE_MODELS
    from tests.integration.test_incremental import _corpus

    shutil.rmtree(workdirs / "raw")
    _corpus(workdirs / "raw")
    started = []
    real_start = parallel.fork_start

    def recording_start(fn, state, n_items, workers, min_items=2):
        job = real_start(fn, state, n_items, workers, min_items)
        started.append((fn.__name__, job.running))
        return job

    monkeypatch.setattr(parallel, "fork_start", recording_start)
    outputs = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("DRUG_FACTS_WORKERS", workers)
        monkeypatch.setenv("DRUG_FACTS_WAREHOUSE_DIR", str(workdirs / f"warehouse{workers}"))
        monkeypatch.setenv("DRUG_FACTS_REPORTS_DIR", str(workdirs / f"reports{workers}"))
        assert _materialize().success
        con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
        try:
            tables = {name: con.execute(f'SELECT * FROM "{name}"').df() for name in WAREHOUSE_MODELS
                      if name != "runs" and not name.endswith("_history")}
        finally:
            con.close()
        reports = paths.reports_dir()
        assert not [p for p in reports.iterdir() if "staging" in p.name]
        outputs[workers] = (tables, sorted(p.name for p in (reports / "drugs").iterdir()),
                            {name: (reports / name).read_bytes() for name in ("discrepancies.csv",
                                                                             "discrepancy_evidence.csv")})
    assert ("_write_drug_pages", True) in started  # the pages were rendered in forked workers
    one, two = outputs["1"], outputs["2"]
    for name in one[0]:
        pd.testing.assert_frame_equal(one[0][name], two[0][name], obj=name)
    assert one[1] == two[1] and len(one[1]) == 5
    assert one[2] == two[2]


def test_a_report_failing_after_the_warehouse_is_in_place_still_records_the_warehouse(workdirs, monkeypatch):
    from pipeline.defs import publish as publish_defs
    from pipeline.delta import load_manifest

    assert _materialize().success
    assert load_manifest(paths.warehouse_dir()) is not None

    def publish_then_fail(*args, meanwhile=None, **kwargs):
        meanwhile()
        raise OSError("the reports folder is not writable")

    monkeypatch.setattr(publish_defs, "write_reports", publish_then_fail)
    result = _materialize()
    assert not result.success
    keys = [m.asset_key.to_user_string() for m in result.asset_materializations_for_node("publication")]
    assert keys == ["warehouse"]
    assert load_manifest(paths.warehouse_dir()) is None  # the next run is a full one
