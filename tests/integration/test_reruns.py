"""Re-runs: the sensor, history across runs, editors' decisions, and adding a drug."""

import json
import shutil

import dagster as dg
import duckdb
import pandas as pd

from pipeline import paths
from pipeline.cache import stage_cache
from tests.conftest import FIXTURES


def _run():
    from pipeline.definitions import defs

    result = dg.materialize(list(defs.assets), raise_on_error=False)
    assert result.success, [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    return result


def _query(sql, *params):
    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchdf()
    finally:
        con.close()


def _edit(raw, old, new):
    path = raw / "baclofen_sources.txt"
    with open(path, encoding="utf-8", newline="") as fh:
        text = fh.read()
    assert old in text
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text.replace(old, new, 1))


# ----------------------------------------------------------------------------------- sensor
def test_sensor_launches_on_change_with_hash_in_run_key_and_skips_unchanged(workdirs):
    from pipeline.defs.automation import evaluate_raw_files

    first, cursor = evaluate_raw_files(None)
    assert isinstance(first, dg.RunRequest) and first.run_key.startswith("raw-")
    assert set(first.tags["drug_facts/changed_sources"].split(",")) == {
        "baclofen-overview_article", "baclofen-us_monograph", "baclofen-medical_article", "baclofen-clinic_text",
        "baclofen-ru_reference"}
    again, cursor2 = evaluate_raw_files(cursor)
    assert isinstance(again, dg.SkipReason)
    # touching without changing content launches nothing
    (workdirs / "raw" / "baclofen_sources.txt").touch()
    assert isinstance(evaluate_raw_files(cursor2)[0], dg.SkipReason)
    _edit(workdirs / "raw", "The maximum daily dose is 100 mg.", "The maximum daily dose is 120 mg.")
    changed, cursor3 = evaluate_raw_files(cursor2)
    assert isinstance(changed, dg.RunRequest)
    assert changed.tags["drug_facts/changed_sources"] == "baclofen-ru_reference"
    assert changed.run_key == f"raw-{json.loads(cursor3)['key']}" != first.run_key


def test_sensor_picks_up_a_new_source_file(workdirs):
    from pipeline.defs.automation import evaluate_raw_files

    _, cursor = evaluate_raw_files(None)
    second = FIXTURES / "secondDrug"
    shutil.copy(second / "tizanidine_sources.txt", workdirs / "raw")
    with open(workdirs / "raw" / "registry.toml", "a", encoding="utf-8") as fh:
        fh.write("\n" + (second / "registry_snippet.toml").read_text(encoding="utf-8"))
    request, _ = evaluate_raw_files(cursor)
    assert set(request.tags["drug_facts/changed_sources"].split(",")) == {"tizanidine-overview_article", "tizanidine-us_monograph"}


def test_sensor_and_schedule_are_on_by_default():
    from pipeline.definitions import defs

    repo = defs.get_repository_def()
    assert repo.get_sensor_def("raw_files_sensor").default_status == dg.DefaultSensorStatus.RUNNING
    assert repo.get_sensor_def("full_run_fallback_sensor").default_status == dg.DefaultSensorStatus.RUNNING
    assert repo.get_schedule_def("daily_refresh_schedule").default_status == dg.DefaultScheduleStatus.RUNNING


# ------------------------------------------------------------------------- history + decisions
def test_history_and_decisions_across_three_runs(workdirs):
    raw = workdirs / "raw"
    _run()
    disc1 = _query("SELECT discrepancy_id, summary, values_hash, status FROM discrepancies")
    runs = _query("SELECT * FROM runs")
    assert len(runs) == 1 and json.loads(runs["source_hashes"][0])
    changes = (paths.reports_dir() / "discrepancies.md").read_text(encoding="utf-8")
    assert "First run" in changes

    dose = disc1[disc1["summary"].str.startswith("maximum oral daily dose")].iloc[0]
    stance = disc1[disc1["summary"].str.startswith("Pregnancy:")].iloc[0]
    (workdirs / "decisions.csv").write_text(
        "discrepancy_id,status,reviewer,decided_at,comment,values_hash\n"
        f"{dose.discrepancy_id},confirmed,ed,2026-11-26,checked the labels,{dose.values_hash}\n"
        f"{stance.discrepancy_id},needs expert,ed,2026-11-26,,{stance.values_hash}\n"
        "0000000000000000,confirmed,ed,2026-11-26,,\n"
        f"{dose.discrepancy_id[:-1]}x,bogus,ed,,,\n", encoding="utf-8")

    # run 2: an unrelated edit (a caution list item of the monograph) leaves both decisions standing
    _edit(raw, "  • cerebral palsy;", "  • cerebral palsy or brain injury;")
    _run()
    st = _query("SELECT discrepancy_id, status FROM discrepancies").set_index("discrepancy_id")["status"]
    assert st[dose.discrepancy_id] == "confirmed" and st[stance.discrepancy_id] == "needs expert"
    q = _query("SELECT stage, reason FROM quarantine WHERE stage = 'decisions'")
    assert any("line 4" in r and "unknown discrepancy_id" in r for r in q["reason"])
    assert any("line 5" in r for r in q["reason"])
    md = (paths.reports_dir() / "discrepancies.md").read_text(encoding="utf-8")
    section = md.split("### Latest change", 1)[1].split("###", 1)[0]
    assert "baclofen-us_monograph: text changed" in section and "Before taking this medicine" in section
    assert "baclofen-ru_reference" not in section  # exactly the edit's effects

    # run 3: the maximum dose changes: the dose decision re-opens, the stance decision stands
    _edit(raw, "The maximum daily dose is 100 mg.", "The maximum daily dose is 120 mg.")
    _run()
    st = _query("SELECT discrepancy_id, status FROM discrepancies").set_index("discrepancy_id")["status"]
    assert st[dose.discrepancy_id] == "reopened" and st[stance.discrepancy_id] == "needs expert"
    reviews = _query("SELECT * FROM reviews").set_index("discrepancy_id")
    assert bool(reviews.loc[dose.discrepancy_id, "reopened"])
    md = (paths.reports_dir() / "discrepancies.md").read_text(encoding="utf-8")
    section = md.split("### Latest change", 1)[1].split("###", 1)[0]
    assert "changed: maximum oral daily dose" in section and "120 mg" in section
    assert "Dosage and administration" in section
    runs = _query("SELECT run_id, ended_at FROM runs ORDER BY rowid")
    assert len(runs) == 3
    # a present row stores no last sighting; the view fills in the latest run
    hist = _query("SELECT * FROM discrepancy_history WHERE discrepancy_id = ?", dose.discrepancy_id)
    assert bool(hist["present"][0]) and pd.isna(hist["last_seen_run"][0]) and pd.isna(hist["last_seen_at"][0])
    hist = _query("SELECT * FROM v_discrepancy_history WHERE discrepancy_id = ?", dose.discrepancy_id)
    assert hist["first_seen_run"][0] == runs["run_id"][0] and hist["last_seen_run"][0] == runs["run_id"][2]
    assert hist["last_seen_at"][0] == runs["ended_at"][2]
    # the old maximum was last seen by run 2, the run before the edit
    facts = _query("SELECT * FROM v_fact_history WHERE fact_table = 'dosing' AND mention = '100 mg'")
    assert len(facts) == 1 and not bool(facts["present"][0])
    assert facts["last_seen_run"][0] == runs["run_id"][1] and facts["last_seen_at"][0] == runs["ended_at"][1]
    # the per-source and per-drug caches hold this run's entries, and edited texts' old entries
    # only in packs most of whose bytes are still used; nothing of older code versions
    folder = paths.cache_dir() / "sources"
    for stage, n in (("sections", 5), ("facts", 5), ("reconcile", 1)):
        cache = stage_cache(paths.cache_dir(), stage)
        assert n <= len(cache.keys()) <= 2 * n, stage
        assert all(p.name.startswith(f"{stage}-{cache.version}-") for p in folder.glob(f"{stage}-*.pack"))
    assert not list(folder.glob("*.pkl"))


def test_adding_a_drug_is_dropping_files_and_declaring_them(workdirs):
    second = FIXTURES / "secondDrug"
    shutil.copy(second / "tizanidine_sources.txt", workdirs / "raw")
    with open(workdirs / "raw" / "registry.toml", "a", encoding="utf-8") as fh:
        fh.write("\n" + (second / "registry_snippet.toml").read_text(encoding="utf-8"))
    _run()
    drugs = _query("SELECT drug, count(*) AS n FROM sources GROUP BY drug ORDER BY drug")
    assert list(drugs["drug"]) == ["baclofen", "tizanidine"]
    tiz = _query("SELECT * FROM dosing d JOIN sources s USING (source_id) WHERE s.drug = 'tizanidine' AND phase = 'maximum'")
    assert 36.0 in set(tiz["daily_max_mg"])
    index = (paths.reports_dir() / "discrepancies.html").read_text(encoding="utf-8")
    assert "drugs/tizanidine.html" in index and "drugs/baclofen.html" in index
