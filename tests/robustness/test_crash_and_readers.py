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
RUN_TIMEOUT = 240


# --- running the real pipeline in a subprocess ----------------------------------------------------

def shared_cache() -> Path:
    """The vocabulary cache shared with the other tests (set by tests/conftest.py); building the
    vocabulary takes ~30 s, so the runs reuse it. Its writes are atomic (temporary name + rename),
    so a killed run cannot leave a half entry in it."""
    return Path(os.environ.get("DRUG_FACTS_CACHE_DIR", ROOT / "warehouse" / "cache"))


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
                   DRUG_FACTS_CACHE_DIR=str(shared_cache()), PYTHONUNBUFFERED="1")
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
        time.sleep(0.2)
    seen.add(snapshot())
    print(json.dumps({"distinct": sorted(seen), "queries": n + 1}), flush=True)
    con.close()
""")


def _observe(work: Work) -> dict:
    """What a killed run left behind, looked at while nothing runs."""
    return {"exists": work.target.exists(), "sha": sha256(work.target) if work.target.exists() else "",
            "counts": row_counts(work.target) if work.target.exists() else {},
            "staging": [p.name for p in work.staging_files()]}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """The real pipeline, run as ``python -m pipeline.cli run`` in subprocesses on one tree:

    1. a first run publishes the warehouse (DAGSTER_HOME starts without dagster.yaml);
    2. one source is removed from the registry, so a later publication is visible;
    3. a second process opens the published warehouse read-only and keeps querying it;
    4. runs are killed with SIGKILL after 0.5 s, 2 s and 4 s, and once while publishing
       (as soon as a ``*.staging-*`` file appears beside the published file);
    5. the next run goes to the end, with the reader still attached;
    6. the reader is stopped and reports every distinct view it saw.

    The tests below assert on what was observed; the runs happen once, to keep the suite fast.
    """
    work = Work(tmp_path_factory.mktemp("crash"))
    shutil.copytree(ROOT / "raw", work.raw)
    obs: dict = {"work": work}
    work.run_to_end()
    obs["dagster_yaml"] = (work.dagster_home / "dagster.yaml").read_text(encoding="utf-8")
    obs["before"] = _observe(work)
    drop_last_source(work.raw)

    stop = work.root / "stop-reader"
    reader = subprocess.Popen([PYTHON, "-c", READER, str(work.target), str(stop)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        obs["reader_first"] = json.loads(reader.stdout.readline() or "null")
        obs["kills"] = []
        for delay in (0.5, 2.0, 4.0):
            proc = work.start()
            time.sleep(delay)
            alive = proc.poll() is None
            kill(proc)
            obs["kills"].append({"when": f"after {delay} s", "alive": alive, "rc": proc.returncode, **_observe(work)})

        proc = work.start()
        deadline = time.monotonic() + RUN_TIMEOUT
        seen: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None and not seen:
            seen = work.staging_files()
            if not seen:
                time.sleep(0.002)
        alive = proc.poll() is None
        kill(proc)
        obs["publish_kill"] = {"when": "while publishing", "alive": alive, "rc": proc.returncode,
                               "seen": [p.name for p in seen], **_observe(work),
                               "log": Path(proc.log_path).read_text(errors="replace")[-3000:]}
        obs["kills"].append(obs["publish_kill"])

        proc = work.start()
        try:
            proc.wait(timeout=RUN_TIMEOUT)
        finally:
            kill(proc)
        obs["next_run"] = {"rc": proc.returncode, "out": Path(proc.log_path).read_text(errors="replace"),
                           **_observe(work)}
        obs["reader_alive_after_run"] = reader.poll() is None
        stop.write_text("")
        obs["reader_summary"] = json.loads(reader.stdout.readline() or "null")
        reader.wait(timeout=30)
        obs["reader_rc"] = reader.returncode
        obs["reader_stderr"] = reader.stderr.read()
    finally:
        kill(reader)
    return obs


# --- (a) SIGKILL ----------------------------------------------------------------------------------

def test_first_run_published_a_full_warehouse(scenario):
    before = scenario["before"]
    assert before["exists"] and before["staging"] == []
    assert before["counts"]["sources"] == 5 and before["counts"]["adverse_effects"] > 0


@pytest.mark.parametrize("index", range(4), ids=["0.5s", "2s", "4s", "publishing"])
def test_sigkill_leaves_the_published_warehouse_intact(scenario, index):
    k = scenario["kills"][index]
    before = scenario["before"]
    assert k["alive"], f"the run had already ended {k['when']}; nothing was killed"
    assert k["rc"] == -signal.SIGKILL
    assert k["exists"], "the published warehouse disappeared"
    assert k["sha"] == before["sha"], f"the published warehouse was modified by a run killed {k['when']}"
    assert k["counts"] == before["counts"]


def test_kill_while_publishing_hit_the_staging_window(scenario):
    k = scenario["publish_kill"]
    assert k["seen"], "the run never reached publication:\n" + k["log"]
    assert k["staging"], "a run killed while publishing leaves its staging file behind"
    assert all(name.startswith("drug_facts.duckdb.staging-") for name in k["staging"])


def test_next_run_succeeds_cleans_staging_and_publishes_the_new_input(scenario):
    nxt, before = scenario["next_run"], scenario["before"]
    assert nxt["rc"] == 0 and "Run succeeded" in nxt["out"], nxt["out"][-4000:]
    assert nxt["staging"] == [], "stale staging files were not removed"
    assert nxt["sha"] != before["sha"]
    assert set(nxt["counts"]) == set(before["counts"])
    assert nxt["counts"]["sources"] == before["counts"]["sources"] - 1
    work = scenario["work"]
    con = duckdb.connect(str(work.target), read_only=True)  # a new connection sees the new file
    try:
        ids = {r[0] for r in con.execute("SELECT source_id FROM sources").fetchall()}
    finally:
        con.close()
    assert ids < set(scenario["reader_first"]["#source_ids"])


# --- (b) a reader holds the warehouse open while runs are killed and one publishes ----------------

def test_a_reader_keeps_its_consistent_view_while_a_run_publishes(scenario):
    first, summary = scenario["reader_first"], scenario["reader_summary"]
    assert first is not None and summary is not None, scenario.get("reader_stderr")
    assert {k: v for k, v in first.items() if not k.startswith("#")} == scenario["before"]["counts"]
    assert scenario["reader_alive_after_run"], scenario.get("reader_stderr")
    assert scenario["reader_rc"] == 0, scenario.get("reader_stderr")
    assert summary["queries"] >= 3
    assert [json.loads(s) for s in summary["distinct"]] == [first], "the reader saw the warehouse change under it"
    assert scenario["next_run"]["rc"] == 0  # the run published although a reader had the old file open


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


# --- (d) telemetry and SQL --------------------------------------------------------------------------

def test_repository_dagster_home_disables_telemetry():
    doc = yaml.safe_load((ROOT / ".dagster_home" / "dagster.yaml").read_text(encoding="utf-8"))
    assert doc["telemetry"]["enabled"] is False


def test_cli_creates_a_dagster_yaml_with_telemetry_off(tmp_path, monkeypatch, scenario):
    from pipeline import cli

    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    cli._ensure_dagster_home()
    assert yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8"))["telemetry"]["enabled"] is False
    # an existing file is left as the user wrote it
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n# mine\n", encoding="utf-8")
    cli._ensure_dagster_home()
    assert "# mine" in (home / "dagster.yaml").read_text(encoding="utf-8")
    # and the real subprocess run created one in its empty DAGSTER_HOME
    assert yaml.safe_load(scenario["dagster_yaml"])["telemetry"]["enabled"] is False


SQL_METHODS = {"execute", "executemany", "sql"}
QUOTING_HELPERS = {"_quote_ident", "_sql_literal"}
# Reviewed call sites whose SQL is a variable: (file, function, variable) -> why it is safe.
REVIEWED = {
    ("pipeline/warehouse.py", "write_database", "views_sql"):
        "the project's own pipeline/data/views.sql, passed in by the publish asset; never source text",
    ("pipeline/delta.py", "_check_unique", "unique_sql"):
        "SELECTs joined by UNION ALL, each interpolating only _quote_ident results and an int",
}


def _helper_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    return name in QUOTING_HELPERS


def _direct_nodes(scope: ast.AST):
    """Nodes of ``scope`` that are not inside a nested function (those are scopes of their own)."""
    for child in ast.iter_child_nodes(scope):
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _direct_nodes(child)


def _bound_to_helpers(nodes: list[ast.AST]) -> dict[str, bool]:
    """Names bound only to a quoting helper's result in a scope, e.g. ``ident = _quote_ident(name)``."""
    bound: dict[str, bool] = {}
    for n in nodes:
        if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in ast.walk(ast.Tuple(elts=targets, ctx=ast.Store())):
                if isinstance(t, ast.Name):
                    ok = isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) \
                        and _helper_call(n.value)
                    bound[t.id] = bound.get(t.id, True) and ok
        elif isinstance(n, (ast.For, ast.comprehension, ast.With, ast.NamedExpr)):
            for t in ast.walk(n.target if hasattr(n, "target") else n):
                if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store):
                    bound[t.id] = False
    return bound


def _sql_call_sites():
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        scopes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for scope in scopes:
            nodes = list(_direct_nodes(scope))
            bound = _bound_to_helpers(nodes)
            for n in nodes:
                if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in SQL_METHODS
                        and n.args):
                    yield rel, getattr(scope, "name", "<module>"), n, bound


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
        bound = _bound_to_helpers(list(_direct_nodes(func)))
        call = next(n for n in ast.walk(func) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "execute")
        return _unsafe_reason("x.py", func.name, call.args[0], bound)

    assert check("def f(con, t):\n    con.execute(f\"SELECT * FROM x WHERE a = '{t}'\")\n")
    assert check("def f(con, t):\n    con.execute(\"SELECT * FROM x WHERE a = '%s'\" % t)\n")
    assert check("def f(con, t):\n    con.execute(\"SELECT \" + t)\n")
    assert check("def f(con, t):\n    q = t\n    con.execute(f'SELECT {q}')\n")
    assert check("def f(con, t):\n    con.execute(f'SELECT {t!r}')\n")
    assert check("def f(con, t):\n    i = _quote_ident(t)\n    i = t\n    con.execute(f'SELECT * FROM {i}')\n")
    assert check("def f(con, ts):\n    for i in ts:\n        con.execute(f'SELECT * FROM {i}')\n")
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


def test_connections_are_opened_one_at_a_time(tmp_path, monkeypatch):
    """DuckDB's Python client can lose ``pandas_scan`` on one of two connections opened to one
    file at the same moment (a CI run failed so); ``warehouse.connect`` serialises the opening."""
    import threading

    from pipeline import warehouse

    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).execute("CREATE TABLE t AS SELECT range::VARCHAR AS k FROM range(50)").close()
    real, inside, most = duckdb.connect, [0], [0]
    guard = threading.Lock()

    def slow_connect(*args, **kwargs):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.02)  # long enough for the other threads to arrive while this one opens
        try:
            return real(*args, **kwargs)
        finally:
            with guard:
                inside[0] -= 1

    monkeypatch.setattr(duckdb, "connect", slow_connect)
    errors, counts = [], []

    def work():
        try:
            con = warehouse.connect(db, read_only=True)
            con.register("wanted", pd.DataFrame({"k": ["1", "2", "x"]}, dtype=object))
            counts.append(con.execute("SELECT count(*) FROM t WHERE k IN (SELECT k FROM wanted)").fetchone()[0])
            con.close()
        except Exception as exc:  # noqa: BLE001 - every failure is reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counts == [2] * 6
    assert most[0] == 1, f"{most[0]} connections were being opened at once"


def test_every_pipeline_connection_is_opened_through_the_helper():
    direct = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=rel)):
            if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "connect"
                    and isinstance(n.func.value, ast.Name) and n.func.value.id == "duckdb"):
                direct.append(f"{rel}:{n.lineno}")
    assert direct and all(site.startswith("pipeline/warehouse.py:") for site in direct), direct
    assert len(direct) == 2, direct  # the helper's two calls, in memory and on a file
