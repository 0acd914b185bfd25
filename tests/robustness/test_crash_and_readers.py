"""Crashes and concurrent readers: the real pipeline (``python -m pipeline.cli run``) in a
subprocess, killed with SIGKILL at several points, and a second process reading the published
warehouse while a run replaces it. Also: telemetry stays off, and no SQL is built from text.

(Failed asset checks stopping publication is covered in tests/integration/test_pipeline.py.)
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from pipeline.warehouse import _quote_ident, _sql_literal, publish, remove_stale_staging, row_counts, write_database
from tests.conftest import ROOT

PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
CACHE = ROOT / "warehouse" / "cache"
RUN_TIMEOUT = 240


# --- running the real pipeline in a subprocess ----------------------------------------------------

class Work:
    """One isolated tree: raw/, warehouse/, reports/ and a DAGSTER_HOME without dagster.yaml."""

    def __init__(self, root: Path):
        self.root = root
        self.raw = root / "raw"
        self.warehouse_dir = root / "warehouse"
        self.target = self.warehouse_dir / "drug_facts.duckdb"
        self.dagster_home = root / "dagster_home"
        self.runs = 0

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(DRUG_FACTS_RAW_DIR=str(self.raw), DRUG_FACTS_WAREHOUSE_DIR=str(self.warehouse_dir),
                   DRUG_FACTS_REPORTS_DIR=str(self.root / "reports"), DAGSTER_HOME=str(self.dagster_home),
                   DRUG_FACTS_CACHE_DIR=str(CACHE), PYTHONUNBUFFERED="1")
        env.pop("DRUG_FACTS_DECISIONS", None)
        return env

    def start(self) -> subprocess.Popen:
        self.runs += 1
        log = open(self.root / f"run-{self.runs}.log", "wb")
        # its own session, so the kill reaches every process of this run and nothing else
        proc = subprocess.Popen([PYTHON, "-m", "pipeline.cli", "run", "--quiet"], cwd=ROOT, env=self.env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = log.name
        log.close()
        return proc

    def run_to_end(self) -> str:
        proc = self.start()
        try:
            proc.wait(timeout=RUN_TIMEOUT)
        finally:
            kill(proc)
        out = Path(proc.log_path).read_text(encoding="utf-8", errors="replace")
        assert proc.returncode == 0 and "Run succeeded" in out, out[-4000:]
        return out

    def staging_files(self) -> list[Path]:
        return sorted(self.warehouse_dir.glob("*.staging-*"))


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def drop_last_source(raw: Path) -> None:
    """Change the input so that a run which did publish would be visible (one source fewer)."""
    reg = raw / "registry.toml"
    text = reg.read_text(encoding="utf-8")
    reg.write_text(text[:text.rindex("[[source]]")], encoding="utf-8")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One successful run on a copy of raw/: the warehouse every test starts from."""
    work = Work(tmp_path_factory.mktemp("first_run"))
    shutil.copytree(ROOT / "raw", work.raw)
    work.run_to_end()
    yaml_file = work.dagster_home / "dagster.yaml"
    return work, row_counts(work.target), sha256(work.target), yaml_file.read_text(encoding="utf-8")


def fresh_copy(published, root: Path) -> Work:
    base = published[0]
    work = Work(root)
    shutil.copytree(base.raw, work.raw)
    shutil.copytree(base.warehouse_dir, work.warehouse_dir, ignore=shutil.ignore_patterns("*.staging-*"))
    return work


def assert_published_file_intact(work: Work, counts: dict, digest: str) -> None:
    assert work.target.exists()
    assert sha256(work.target) == digest, "the published warehouse was modified by a killed run"
    assert row_counts(work.target) == counts
    con = duckdb.connect(str(work.target), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM sources").fetchone()[0] == counts["sources"]
        assert con.execute("SELECT count(*) FROM v_open_discrepancies").fetchone()[0] >= 0
    finally:
        con.close()


# --- (a) SIGKILL ----------------------------------------------------------------------------------

def test_sigkill_at_any_point_leaves_the_published_warehouse_intact(published, tmp_path):
    _, counts, digest, _ = published
    assert counts["sources"] == 5 and counts["adverse_effects"] > 0
    work = fresh_copy(published, tmp_path)
    drop_last_source(work.raw)
    assert_published_file_intact(work, counts, digest)

    for delay in (0.5, 2.0, 4.0):
        proc = work.start()
        time.sleep(delay)
        assert proc.poll() is None, "the run ended before it could be killed"
        kill(proc)
        assert proc.returncode == -signal.SIGKILL
        assert_published_file_intact(work, counts, digest)

    # while publishing: the staging file beside the published one exists
    proc = work.start()
    deadline = time.monotonic() + RUN_TIMEOUT
    seen: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None and not seen:
        seen = work.staging_files()
        if not seen:
            time.sleep(0.002)
    kill(proc)
    assert seen, "the run never reached publication:\n" + Path(proc.log_path).read_text(errors="replace")[-3000:]
    assert proc.returncode == -signal.SIGKILL
    left = work.staging_files()
    assert left, "a run killed while publishing leaves its staging file"
    assert_published_file_intact(work, counts, digest)

    # the next run succeeds, removes the stale staging files and publishes the new input
    out = work.run_to_end()
    assert work.staging_files() == []
    assert not any(p.exists() for p in left)
    new_counts = row_counts(work.target)
    assert new_counts["sources"] == counts["sources"] - 1
    assert set(new_counts) == set(counts)
    assert "sources" in out


def test_publish_failing_before_the_swap_leaves_target_and_no_staging(tmp_path):
    target = tmp_path / "w.duckdb"
    frame = pd.DataFrame({"a": [1, 2]})
    publish({"t": frame}, {}, target)
    before = sha256(target)

    def refuse(path):
        assert path.exists() and path.name.startswith("w.duckdb.staging-")
        raise RuntimeError("checks failed")

    with pytest.raises(RuntimeError):
        publish({"t": pd.DataFrame({"a": [1, 2, 3]})}, {}, target, before_swap=refuse)
    assert sha256(target) == before and row_counts(target) == {"t": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]
    (tmp_path / "w.duckdb.staging-abc").write_bytes(b"x")
    (tmp_path / "w.duckdb.staging-abc.wal").write_bytes(b"x")
    removed = remove_stale_staging(tmp_path)
    assert len(removed) == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]


# --- (b) a reader holds the warehouse open while a run publishes ----------------------------------

READER = textwrap.dedent("""
    import duckdb, json, os, sys, time
    con = duckdb.connect(sys.argv[1], read_only=True)
    stop = sys.argv[2]
    def snapshot():
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1").fetchall()]
        counts = {n: con.execute('SELECT count(*) FROM "' + n + '"').fetchone()[0] for n in names}
        counts["#source_ids"] = [r[0] for r in con.execute("SELECT source_id FROM sources ORDER BY 1").fetchall()]
        return json.dumps(counts, sort_keys=True)
    first = snapshot()
    print(first, flush=True)
    seen, n = {first}, 1
    while not os.path.exists(stop):
        seen.add(snapshot())
        n += 1
        time.sleep(0.05)
    seen.add(snapshot())
    print(json.dumps({"distinct": sorted(seen), "queries": n + 1}), flush=True)
    con.close()
""")


def test_a_reader_keeps_its_consistent_view_while_a_run_publishes(published, tmp_path):
    _, counts, digest, _ = published
    work = fresh_copy(published, tmp_path)
    drop_last_source(work.raw)
    stop = tmp_path / "stop-reader"
    reader = subprocess.Popen([PYTHON, "-c", READER, str(work.target), str(stop)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = json.loads(reader.stdout.readline())
        assert {k: v for k, v in first.items() if not k.startswith("#")} == counts
        work.run_to_end()  # publishes while the reader has the old file open
        assert reader.poll() is None, reader.stderr.read()
        stop.write_text("")
        summary = json.loads(reader.stdout.readline())
        reader.wait(timeout=30)
    finally:
        kill(reader)
    assert reader.returncode == 0
    assert summary["queries"] >= 3
    assert [json.loads(s) for s in summary["distinct"]] == [first], "the reader saw the warehouse change under it"
    # a new connection sees the new file
    assert sha256(work.target) != digest
    new = row_counts(work.target)
    assert new["sources"] == counts["sources"] - 1
    con = duckdb.connect(str(work.target), read_only=True)
    try:
        ids = [r[0] for r in con.execute("SELECT source_id FROM sources ORDER BY 1").fetchall()]
    finally:
        con.close()
    assert len(ids) == len(first["#source_ids"]) - 1 and set(ids) < set(first["#source_ids"])
    assert work.staging_files() == []


# --- (d) telemetry and SQL --------------------------------------------------------------------------

def test_repository_dagster_home_disables_telemetry():
    doc = yaml.safe_load((ROOT / ".dagster_home" / "dagster.yaml").read_text(encoding="utf-8"))
    assert doc["telemetry"]["enabled"] is False


def test_cli_creates_a_dagster_yaml_with_telemetry_off(tmp_path, monkeypatch, published):
    from pipeline import cli

    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    cli._ensure_dagster_home()
    assert yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8"))["telemetry"]["enabled"] is False
    # an existing file is left as the user wrote it
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n# mine\n", encoding="utf-8")
    cli._ensure_dagster_home()
    assert "# mine" in (home / "dagster.yaml").read_text(encoding="utf-8")
    # and the real subprocess run (module fixture) created one in its empty DAGSTER_HOME
    assert yaml.safe_load(published[3])["telemetry"]["enabled"] is False


SQL_METHODS = {"execute", "executemany", "sql"}
QUOTING_HELPERS = {"_quote_ident", "_sql_literal"}
# Reviewed call sites whose SQL is a variable: (file, function, variable) -> why it is safe.
REVIEWED = {
    ("pipeline/warehouse.py", "write_database", "views_sql"):
        "the project's own pipeline/data/views.sql, passed in by the publish asset; never source text",
}


def _helper_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    return name in QUOTING_HELPERS


def _sql_call_sites():
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for func in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))] + [tree]:
            # names bound only to a quoting helper's result in this function, e.g. ident = _quote_ident(name)
            bound: dict[str, bool] = {}
            for n in ast.walk(func):
                if isinstance(n, ast.Assign):
                    for t in n.targets:
                        if isinstance(t, ast.Name):
                            bound[t.id] = bound.get(t.id, True) and _helper_call(n.value)
            for n in ast.walk(func):
                if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in SQL_METHODS
                        and n.args):
                    yield rel, getattr(func, "name", "<module>"), n, bound


def _unsafe_reason(rel: str, fname: str, arg: ast.AST, bound: dict[str, bool]) -> str | None:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return None
    if isinstance(arg, ast.JoinedStr):
        for part in arg.values:
            if isinstance(part, ast.Constant):
                continue
            v = part.value
            if part.conversion != -1 or part.format_spec is not None:
                return f"formatted value {ast.unparse(v)} with a conversion or format spec"
            if _helper_call(v) or isinstance(v, ast.Name) and bound.get(v.id):
                continue
            return f"f-string interpolates {ast.unparse(v)}, not a _quote_ident/_sql_literal result"
        return None
    if isinstance(arg, ast.Name) and (rel, fname, arg.id) in REVIEWED:
        return None
    return f"SQL built as {type(arg).__name__}: {ast.unparse(arg)[:80]}"


def test_every_sql_call_site_uses_constants_or_the_quoting_helpers():
    sites = list(_sql_call_sites())
    assert len(sites) >= 5, "the scan found too few .execute( call sites to be working"
    unsafe = []
    for rel, fname, call, bound in sites:
        reason = _unsafe_reason(rel, fname, call.args[0], bound)
        if reason:
            unsafe.append(f"{rel}:{call.lineno} in {fname}(): {reason}")
    assert unsafe == [], "\n".join(unsafe)


def test_the_sql_scan_catches_pasted_text():
    def check(src: str) -> str | None:
        tree = ast.parse(textwrap.dedent(src))
        func = tree.body[0]
        bound = {}
        for n in ast.walk(func):
            if isinstance(n, ast.Assign):
                for t in n.targets:
                    if isinstance(t, ast.Name):
                        bound[t.id] = bound.get(t.id, True) and _helper_call(n.value)
        call = next(n for n in ast.walk(func) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "execute")
        return _unsafe_reason("x.py", func.name, call.args[0], bound)

    assert check("def f(con, t):\n    con.execute(f\"SELECT * FROM x WHERE a = '{t}'\")\n")
    assert check("def f(con, t):\n    con.execute(\"SELECT * FROM x WHERE a = '%s'\" % t)\n")
    assert check("def f(con, t):\n    con.execute(\"SELECT \" + t)\n")
    assert check("def f(con, t):\n    q = t\n    con.execute(f'SELECT {q}')\n")
    assert check("def f(con, t):\n    con.execute(f'SELECT {t!r}')\n")
    assert check("def f(con, t):\n    i = _quote_ident(t)\n    con.execute(f'SELECT * FROM {i}')\n") is None
    assert check("def f(con, t):\n    con.execute(f'COMMENT ON TABLE x IS {_sql_literal(t)}')\n") is None
    assert check("def f(con, t):\n    con.execute('SELECT * FROM x WHERE a = ?', [t])\n") is None


def test_quoting_helpers_refuse_or_neutralise_injection(tmp_path, monkeypatch):
    for bad in ('x"; DROP TABLE sources; --', "a b", "", "t-1", "x'"):
        with pytest.raises(ValueError):
            _quote_ident(bad)
    assert _quote_ident("adverse_effects") == '"adverse_effects"'
    assert _sql_literal("it's") == "'it''s'"
    evil = "'); DROP TABLE t; --"
    path = tmp_path / "w.duckdb"
    frame = pd.DataFrame({"text": [evil, "Robert'); DROP TABLE students;--"]})

    class Model:
        """A table whose description holds a quote: it's here."""

    import pipeline.warehouse as wh

    real = wh.column_descriptions
    monkeypatch.setattr(wh, "column_descriptions", lambda model: {"text": evil} if model is Model else real(model))
    write_database(path, {"t": frame}, {"t": Model})
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert [r[0] for r in con.execute("SELECT text FROM t ORDER BY 1").fetchall()] == sorted(frame["text"])
        assert con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 't'").fetchone()[0] == \
            "A table whose description holds a quote: it's here."
        assert con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 't' AND column_name = 'text'"
                           ).fetchone()[0] == evil
    finally:
        con.close()
