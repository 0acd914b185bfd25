"""Incremental runs (pipeline/delta.py): after one drug's raw file changes, re-processing that
drug alone and replacing its rows must publish exactly what a full run publishes."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline.bench import copy_vocabulary, run_incremental_pipeline, run_pipeline
from pipeline.delta import DELTA_KEYS, drug_closure, load_manifest, plan_run
from pipeline.normalise import vocabulary_key
from pipeline.schemas import WAREHOUSE_MODELS
from tests.conftest import FIXTURES, ROOT

SINGLE_DOCS = {  # fixture file -> (drug, kind, format, authority)
    "gabapentin_medical_article.txt": ("gabapentin", "medical_article", "medical_article", 3),
    "methocarbamol_smpc.txt": ("methocarbamol", "smpc", "smpc", 1),
    "orphenadrine_ru_reference.txt": ("orphenadrine", "ru_reference", "ru_reference", 2),
}
T1, T2 = "2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"


def _corpus(raw: Path) -> None:
    """Five drugs: the seed (5 sources in one file), tizanidine (2 sources in one file) and three
    one-source fixture documents."""
    shutil.copytree(ROOT / "raw", raw)
    shutil.copy(FIXTURES / "secondDrug" / "tizanidine_sources.txt", raw)
    registry = (raw / "registry.toml").read_text(encoding="utf-8")
    registry += "\n" + (FIXTURES / "secondDrug" / "registry_snippet.toml").read_text(encoding="utf-8")
    for name, (drug, kind, fmt, authority) in SINGLE_DOCS.items():
        shutil.copy(FIXTURES / name, raw)
        first_line = (FIXTURES / name).read_text(encoding="utf-8").splitlines()[0].strip()
        registry += (f'\n[[source]]\nsource_id = "{drug}-{kind}"\ndrug = "{drug}"\nkind = "{kind}"\nformat = "{fmt}"\n'
                     f'title = "{drug}"\npublisher = "test fixture"\ncountry = "US"\nlanguage = "en"\n'
                     f'authority = {authority}\nraw_path = "{name}"\nstart_marker = "{first_line}"\n')
    (raw / "registry.toml").write_text(registry, encoding="utf-8")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _tables(work: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(work / "warehouse" / "drug_facts.duckdb"), read_only=True)
    try:
        out = {}
        for name in WAREHOUSE_MODELS:
            frame = con.execute(f'SELECT * FROM "{name}"').df()
            out[name] = frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True) if len(frame) else frame
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def two_ways(tmp_path_factory):
    """(incremental work dir, full work dir, edited raw dir, plan) after the same edit."""
    base = tmp_path_factory.mktemp("delta")
    raw, cache = base / "raw", base / "cache"
    _corpus(raw)
    import os

    copy_vocabulary(Path(os.environ["DRUG_FACTS_CACHE_DIR"]), cache)
    first = run_pipeline(raw, base / "inc", cache, 1, "first", run_id="run-1", now=T1)
    assert "all passed" in first.stage("checks").note
    shutil.copytree(base / "inc", base / "full")
    shutil.copytree(cache, base / "cache_full")  # each path has its own caches: no result is shared
    # a new maximum dose in one of tizanidine's two pages: its facts and discrepancies change
    _edit(raw / "tizanidine_sources.txt", "Maximum: 36 mg in 24 hours", "Maximum: 48 mg in 24 hours")
    inc = run_incremental_pipeline(raw, base / "inc", cache, 1, "second", run_id="run-2", now=T2)
    run_pipeline(raw, base / "full", base / "cache_full", 1, "second", run_id="run-2", now=T2)
    return base / "inc", base / "full", raw, inc


def test_every_table_has_an_incremental_rule():
    assert set(DELTA_KEYS) == set(WAREHOUSE_MODELS)


def test_the_plan_names_only_the_edited_drug(two_ways):
    _, _, _, inc = two_ways
    assert inc.info["plan"]["mode"] == "incremental"
    assert inc.info["plan"]["drugs"] == ["tizanidine"] and inc.info["plan"]["files"] == ["tizanidine_sources.txt"]
    assert inc.info["rows_deleted"]["sources"] == 2 and inc.info["rows_inserted"]["sources"] == 2


def test_incremental_tables_equal_a_full_run(two_ways):
    inc_dir, full_dir, _, _ = two_ways
    inc, full = _tables(inc_dir), _tables(full_dir)
    for name in WAREHOUSE_MODELS:
        pd.testing.assert_frame_equal(inc[name], full[name], check_dtype=False, obj=name)
    assert len(full["runs"]) == 2 and len(full["discrepancies"]) > 0
    # runs.source_hashes: every source on the first run, then only the source whose text changed
    import json

    recorded = {r: json.loads(h) for r, h in zip(full["runs"]["run_id"], full["runs"]["source_hashes"])}
    assert len(recorded["run-1"]) == len(full["sources"]) > 5
    assert list(recorded["run-2"]) == ["tizanidine-overview_article"]
    assert recorded["run-2"]["tizanidine-overview_article"] == full["sources"].set_index("source_id").loc[
        "tizanidine-overview_article", "sha256"] != recorded["run-1"]["tizanidine-overview_article"]
    # the edit reached the tables: the overview page's maximum is the new one
    dosing = full["dosing"]
    tiz_max = dosing[(dosing["source_id"] == "tizanidine-overview_article") & (dosing["phase"] == "maximum")]
    assert set(tiz_max["daily_max_mg"]) == {48.0}


def test_incremental_report_files_equal_a_full_run(two_ways):
    inc_dir, full_dir, _, _ = two_ways
    names = sorted(p.relative_to(full_dir / "reports") for p in (full_dir / "reports").rglob("*") if p.is_file())
    assert Path("discrepancies.md") in names and Path("drugs/tizanidine.html") in names
    assert names == sorted(p.relative_to(inc_dir / "reports") for p in (inc_dir / "reports").rglob("*") if p.is_file())
    for rel in names:
        assert (inc_dir / "reports" / rel).read_bytes() == (full_dir / "reports" / rel).read_bytes(), rel
    md = (full_dir / "reports" / "discrepancies.md").read_text(encoding="utf-8")
    # the edited drug's block names this run; the others keep the run that last changed them
    tiz = md.split("## tizanidine", 1)[1].split("\n## ", 1)[0]
    assert "run `run-2`" in tiz and "tizanidine-overview_article: text changed" in tiz
    bac = md.split("## baclofen", 1)[1].split("\n## ", 1)[0]
    assert "run `run-1`" in bac and "First run" in bac


def test_parquet_export_and_manifest_follow_the_incremental_run(two_ways):
    inc_dir, full_dir, raw, _ = two_ways
    from pipeline.export import read_exported

    tables = _tables(full_dir)
    for name in WAREHOUSE_MODELS:  # the incremental run rewrote only its drugs' buckets
        a = read_exported(inc_dir / "warehouse" / "parquet", name)
        b = read_exported(full_dir / "warehouse" / "parquet", name)
        if not len(tables[name]):  # an empty table exports no row either way
            assert (a is None or not len(a)) and (b is None or not len(b)), name
            continue
        key = list(b.columns)
        a, b = (f.sort_values(key).reset_index(drop=True) for f in (a, b))
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_categorical=False, obj=name)
        assert len(b) == len(tables[name])
    assert load_manifest(inc_dir / "warehouse")["files"] == load_manifest(full_dir / "warehouse")["files"]
    # and nothing is left to do
    plan = plan_run(raw, inc_dir / "warehouse" / "drug_facts.duckdb", inc_dir / "reports" / "decisions.csv",
                    load_manifest(inc_dir / "warehouse")["fingerprint"]["vocabulary"], 0.2)
    assert plan.mode == "unchanged"


def test_plan_falls_back_to_a_full_run(two_ways, tmp_path):
    inc_dir, _, raw, _ = two_ways
    wh = inc_dir / "warehouse" / "drug_facts.duckdb"
    decisions = inc_dir / "reports" / "decisions.csv"
    vocab = load_manifest(inc_dir / "warehouse")["fingerprint"]["vocabulary"]
    assert plan_run(raw, tmp_path / "none.duckdb", decisions, vocab, 0.2).mode == "full"
    assert plan_run(raw, wh, decisions, "another-vocabulary", 0.2).reason.endswith("vocabulary")
    raw2 = tmp_path / "raw"
    shutil.copytree(raw, raw2)
    _edit(raw2 / "gabapentin_medical_article.txt", "Gabapentin is", "Gabapentin, a medicine, is")
    assert plan_run(raw2, wh, decisions, vocab, 0.2).drugs == ("gabapentin",)
    _edit(raw2 / "orphenadrine_ru_reference.txt", "Orphenadrine", "Orphenadrine (edited)")
    too_many = plan_run(raw2, wh, decisions, vocab, 0.2)
    assert too_many.mode == "full" and "2 of 5 drugs" in too_many.reason
    (raw2 / "registry.toml").write_text((raw2 / "registry.toml").read_text(encoding="utf-8") + "\n# note\n", encoding="utf-8")
    assert "registry" in plan_run(raw2, wh, decisions, vocab, 0.9).reason


def test_drug_closure_follows_shared_files():
    from pipeline.registry import SourceEntry

    def e(sid, drug, path):
        return SourceEntry(sid, drug, "k", "generic", "t", "p", "US", "en", 3, path)

    entries = [e("a1", "a", "f1"), e("b1", "b", "f1"), e("b2", "b", "f2"), e("c1", "c", "f3")]
    assert drug_closure(entries, {"f2"}) == ({"f1", "f2"}, {"a", "b"})
    assert drug_closure(entries, {"f3"}) == ({"f3"}, {"c"})


def test_vocabulary_key_is_what_the_manifest_records(two_ways):
    inc_dir, _, _, _ = two_ways
    assert load_manifest(inc_dir / "warehouse")["fingerprint"]["vocabulary"] == vocabulary_key()


# ------------------------------------------------------------------------------------ Dagster
def test_sensor_launches_the_incremental_job_and_it_publishes(workdirs, monkeypatch):
    """Through Dagster: a full materialisation, then an edit to one of five drugs; the sensor
    asks for incremental_job, which replaces that drug's rows in the published warehouse."""
    import dagster as dg

    from pipeline import paths
    from pipeline.defs.automation import evaluate_raw_files
    from pipeline.definitions import defs

    shutil.rmtree(workdirs / "raw")
    _corpus(workdirs / "raw")
    _, cursor = evaluate_raw_files(None)
    assert dg.materialize(list(defs.assets), raise_on_error=False).success
    _edit(workdirs / "raw" / "tizanidine_sources.txt", "Maximum: 36 mg in 24 hours", "Maximum: 48 mg in 24 hours")
    request, _ = evaluate_raw_files(cursor)
    assert request.job_name == "incremental_job", request.tags["drug_facts/plan"]
    result = defs.get_job_def("incremental_job").execute_in_process(instance=dg.DagsterInstance.get())
    assert result.success
    keys = {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("update_changed_drugs")}
    assert keys == {"warehouse", "discrepancy_report"}
    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        got = con.execute("SELECT daily_max_mg FROM dosing WHERE source_id = 'tizanidine-overview_article' "
                          "AND phase = 'maximum'").fetchall()
        runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        drugs = con.execute("SELECT count(DISTINCT drug) FROM sources").fetchone()[0]
    finally:
        con.close()
    assert got == [(48.0,)] and runs == 2 and drugs == 5
    # a change to the code's fingerprint (here: the vocabulary) sends the next edit to a full refresh
    _edit(workdirs / "raw" / "tizanidine_sources.txt", "Maximum: 48 mg in 24 hours", "Maximum: 40 mg in 24 hours")
    import pipeline.defs.automation as automation

    real = automation.vocabulary_key
    automation.vocabulary_key = lambda: "another-vocabulary"
    try:
        again, _ = evaluate_raw_files(cursor)
    finally:
        automation.vocabulary_key = real
    assert again.job_name == "refresh_job" and "vocabulary" in again.tags["drug_facts/plan"]

    # the sensor asked for incremental_job, but by the time it runs the change needs a full run:
    # the run fails with the reason on a tag, publishes nothing, and the fallback sensor asks for
    # refresh_job for that run (once: the run key is the failed run's)
    import pipeline.defs.incremental as incremental

    request, _ = evaluate_raw_files(cursor)
    assert request.job_name == "incremental_job"
    real_load = incremental.load_or_build_vocabulary

    def another_vocabulary(*args, **kwargs):
        concepts, terms, info = real_load(*args, **kwargs)
        return concepts, terms, {**info, "key": "another-vocabulary"}

    late, fallback = _failed_incremental_run(monkeypatch, "load_or_build_vocabulary", another_vocabulary)
    assert "vocabulary" in late.tags[incremental.NEEDS_FULL_RUN_TAG]
    assert isinstance(fallback, dg.RunRequest)
    assert fallback.run_key == f"fallback-{late.run_id}" and fallback.tags["drug_facts/fallback_for"] == late.run_id
    assert defs.get_sensor_def("full_run_fallback_sensor").targets[0].job_name == "refresh_job"
    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 2  # nothing published
    finally:
        con.close()

    # an incremental run that fails for another reason is left for a person to read
    _, skipped = _failed_incremental_run(monkeypatch, "run_incremental", _fail_matching)
    assert isinstance(skipped, dg.SkipReason)


def _failed_incremental_run(monkeypatch, name: str, replacement):
    """incremental_job run through Dagster with ``pipeline.defs.incremental.<name>`` replaced; it
    must fail. (the failed run, what full_run_fallback_sensor answers for it)."""
    import dagster as dg

    import pipeline.defs.incremental as incremental
    from pipeline.definitions import defs

    instance = dg.DagsterInstance.get()
    with monkeypatch.context() as patch:
        patch.setattr(incremental, name, replacement)
        result = defs.get_job_def("incremental_job").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    sensor = defs.get_sensor_def("full_run_fallback_sensor")
    return run, sensor(dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=result.get_run_failure_event(), dagster_instance=instance,
        dagster_run=run).for_run_failure())


def _fail_matching(*args, **kwargs):
    raise RuntimeError("matching made to fail")


@pytest.mark.parametrize("failing", ["checks", "matching"])
def test_failing_checks_publish_nothing(two_ways, tmp_path, monkeypatch, failing):
    """A new row that fails its pandera model stops the incremental run before the swap, and so
    does an error in an early stage, while the staging copy of the warehouse is being made: the
    published warehouse, its export and the report stay as they were, and no copy is left."""
    import pipeline.delta as delta
    import pipeline.stages as stages

    inc_dir, _, raw, _ = two_ways
    work, raw2 = tmp_path / "work", tmp_path / "raw"
    shutil.copytree(inc_dir, work)
    shutil.copytree(raw, raw2)
    kept = [work / "warehouse" / "drug_facts.duckdb", work / "reports" / "discrepancies.md",
            work / "warehouse" / "state" / "manifest.json",
            *sorted((work / "warehouse" / "parquet").rglob("*.parquet"))]
    before = {p: p.read_bytes() for p in kept}
    _edit(raw2 / "tizanidine_sources.txt", "Maximum: 48 mg in 24 hours", "Maximum: 40 mg in 24 hours")
    if failing == "checks":
        monkeypatch.setattr(delta, "validate_new_rows", lambda new: ["dosing: daily_max_mg out of range (made to fail)"])
    else:
        monkeypatch.setattr(stages, "match_facts", _fail_matching)
    cache = Path(__import__("os").environ["DRUG_FACTS_CACHE_DIR"])
    plan = plan_run(raw2, work / "warehouse" / "drug_facts.duckdb", work / "reports" / "decisions.csv",
                    vocabulary_key(), 0.2, None)
    assert plan.mode == "incremental"
    from pipeline import paths
    from pipeline.match import Matcher
    from pipeline.normalise import load_or_build_vocabulary

    concepts, terms, _ = load_or_build_vocabulary(cache)
    with pytest.raises((delta.DeltaError, RuntimeError), match="made to fail"):
        delta.run_incremental(plan, raw2, work / "warehouse" / "drug_facts.duckdb", work / "reports", None, concepts,
                              Matcher(concepts, terms), "run-x", T2, T2, work / "reports" / "decisions.csv",
                              paths.thresholds())
    assert all(p.read_bytes() == b for p, b in before.items())
    assert sorted((work / "warehouse" / "parquet").rglob("*.parquet")) == kept[3:]
    assert not list((work / "warehouse").glob("*.staging-*"))


# ------------------------------------------------- a shared file, a failed split and decisions
def _shared_corpus(raw: Path) -> None:
    """Four files, five drugs: the seed, tizanidine, methocarbamol, and one file holding both
    gabapentin's and orphenadrine's pages."""
    _corpus(raw)
    shared = "".join((FIXTURES / name).read_text(encoding="utf-8") + "\n"
                     for name in ("gabapentin_medical_article.txt", "orphenadrine_ru_reference.txt"))
    (raw / "shared.txt").write_text(shared, encoding="utf-8")
    registry = (raw / "registry.toml").read_text(encoding="utf-8")
    for name in ("gabapentin_medical_article.txt", "orphenadrine_ru_reference.txt"):
        registry = registry.replace(f'raw_path = "{name}"', 'raw_path = "shared.txt"')
        (raw / name).unlink()
    (raw / "registry.toml").write_text(registry, encoding="utf-8")


@pytest.fixture(scope="module")
def shared_ways(tmp_path_factory):
    import os

    from pipeline.delta import parts_path

    base = tmp_path_factory.mktemp("shared")
    raw = base / "raw"
    _shared_corpus(raw)
    copy_vocabulary(Path(os.environ["DRUG_FACTS_CACHE_DIR"]), base / "cache")
    run_pipeline(raw, base / "inc", base / "cache", 1, "first", run_id="run-1", now=T1)
    # editors decide on a discrepancy of a drug the edit will break and of an untouched one
    con = duckdb.connect(str(base / "inc" / "warehouse" / "drug_facts.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT discrepancy_id, values_hash, drug FROM discrepancies WHERE drug IN "
                           "('tizanidine', 'baclofen') ORDER BY drug, discrepancy_id").fetchall()
    finally:
        con.close()
    picked = {drug: (did, vh) for did, vh, drug in rows}
    assert set(picked) == {"tizanidine", "baclofen"}
    (base / "inc" / "reports" / "decisions.csv").write_text(
        "discrepancy_id,status,reviewer,decided_at,comment,values_hash\n"
        + "".join(f"{did},confirmed,ed,2026-01-01,,{vh}\n" for did, vh in picked.values())
        + "ffffffffffffffff,confirmed,ed,2026-01-01,,\n", encoding="utf-8")
    run_pipeline(raw, base / "inc", base / "cache", 1, "decided", run_id="run-2", now=T2)
    shutil.copytree(base / "inc", base / "full")
    shutil.copytree(base / "cache", base / "cache_full")
    # gabapentin's page changes inside the shared file; tizanidine's pages lose their start lines
    _edit(raw / "shared.txt", "Gabapentin is", "Gabapentin, a medicine, is")
    tiz = (raw / "tizanidine_sources.txt").read_text(encoding="utf-8")
    (raw / "tizanidine_sources.txt").write_text(tiz.replace("About all", "About most").replace(
        "Tizanidine Uses, Dosage & Side Effects", "Tizanidine: uses and doses"), encoding="utf-8")
    t3 = "2026-01-03T00:00:00+00:00"
    inc = run_incremental_pipeline(raw, base / "inc", base / "cache", 1, "third", run_id="run-3", now=t3,
                                   max_drug_share=1.0)
    run_pipeline(raw, base / "full", base / "cache_full", 1, "third", run_id="run-3", now=t3)
    assert parts_path(base / "inc" / "warehouse").exists()
    return base / "inc", base / "full", inc


def test_shared_file_failed_split_and_decisions_equal_a_full_run(shared_ways):
    inc_dir, full_dir, inc = shared_ways
    assert inc.info["plan"]["mode"] == "incremental"
    assert inc.info["plan"]["drugs"] == ["gabapentin", "orphenadrine", "tizanidine"]
    inc_t, full_t = _tables(inc_dir), _tables(full_dir)
    for name in WAREHOUSE_MODELS:
        pd.testing.assert_frame_equal(inc_t[name], full_t[name], check_dtype=False, obj=name)
    assert "tizanidine" not in set(full_t["sources"]["drug"])              # its split failed ...
    assert full_t["quarantine"]["source_id"].str.startswith("tizanidine").any()  # ... and says so
    # the baclofen decision stands; the tizanidine one now names a discrepancy that is gone
    assert len(full_t["reviews"]) == 1
    decision_problems = full_t["quarantine"][full_t["quarantine"]["stage"] == "decisions"]
    assert len(decision_problems) == 2
    names = sorted(p.relative_to(full_dir / "reports") for p in (full_dir / "reports").rglob("*") if p.is_file())
    for rel in names:
        assert (inc_dir / "reports" / rel).read_bytes() == (full_dir / "reports" / rel).read_bytes(), rel
    md = (full_dir / "reports" / "discrepancies.md").read_text(encoding="utf-8")
    assert "## tizanidine" not in md
    # orphenadrine shares the edited file but did not change: its block still names run-2's
    orph = md.split("## orphenadrine", 1)[1].split("\n## ", 1)[0]
    assert "run `run-3`" not in orph


# ---------------------------------------------------------------- guards of the published state
def test_a_stale_plan_publishes_nothing(two_ways, tmp_path):
    """A plan made before another run published is refused inside the lock."""
    import pipeline.delta as delta
    from pipeline import paths

    inc_dir, _, raw, _ = two_ways
    work, raw2 = tmp_path / "work", tmp_path / "raw"
    shutil.copytree(inc_dir, work)
    shutil.copytree(raw, raw2)
    _edit(raw2 / "tizanidine_sources.txt", "Maximum: 48 mg in 24 hours", "Maximum: 40 mg in 24 hours")
    wh = work / "warehouse" / "drug_facts.duckdb"
    plan = plan_run(raw2, wh, work / "reports" / "decisions.csv", vocabulary_key(), 0.2, None)
    manifest = work / "warehouse" / "state" / "manifest.json"
    manifest.write_text(manifest.read_text(encoding="utf-8") + " ", encoding="utf-8")  # another run's manifest
    before = wh.read_bytes()
    with pytest.raises(delta.DeltaError, match="another run published"):
        delta.run_incremental(plan, raw2, wh, work / "reports", None, None, None, "run-x", T2, None,
                              work / "reports" / "decisions.csv", paths.thresholds())
    assert wh.read_bytes() == before


def test_the_lock_keeps_a_second_writer_out(tmp_path):
    import pipeline.delta as delta

    with delta.warehouse_lock(tmp_path):
        import subprocess
        import sys

        code = ("import sys, pathlib, pipeline.delta as d\n"
                "try:\n    d.warehouse_lock(pathlib.Path(sys.argv[1]), timeout=0.5).__enter__()\n"
                "except d.DeltaError as e:\n    print('refused:', e); sys.exit(3)\n")
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 3 and "refused" in done.stdout, done.stderr
    with delta.warehouse_lock(tmp_path, timeout=0.5):  # released: taken again at once
        pass


def test_recent_files_get_no_stat_shortcut(tmp_path):
    """A file modified within the racy window is hashed again by the next plan."""
    import os
    import time

    from pipeline.cache import file_sha256
    from pipeline.delta import RACY_SECONDS, _stats

    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("a", encoding="utf-8")
    new.write_text("b", encoding="utf-8")
    past = time.time() - 10 * RACY_SECONDS
    os.utime(old, (past, past))
    got = _stats(tmp_path, {"old.txt": file_sha256(old), "new.txt": file_sha256(new), "gone.txt": "x"})
    assert set(got) == {"old.txt"}


def test_templates_count_in_the_code_fingerprint():
    import hashlib

    from pipeline.cache import fresh_code_version

    assert fresh_code_version("report_templates") != hashlib.sha256().hexdigest()[:16]
