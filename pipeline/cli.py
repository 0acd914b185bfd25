"""Command line: ``python -m pipeline.cli run`` materialises every asset once and prints a
summary (used by ``make run``)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pipeline import paths


# The Dagster instance settings written on first use: no telemetry, and at most one run that
# writes the warehouse at a time (the sensor's incremental runs and the refreshes queue behind
# each other; pipeline.delta.warehouse_lock guards the same sections inside the runs too).
DAGSTER_YAML = """telemetry:
  enabled: false
concurrency:
  runs:
    tag_concurrency_limits:
      - key: "drug_facts/warehouse"
        limit: 1
"""


def _ensure_dagster_home() -> None:
    home = Path(os.environ.get("DAGSTER_HOME", paths.PROJECT_ROOT / ".dagster_home"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")


def run_all(quiet: bool = False) -> int:
    """Materialise every asset and its checks in this process; returns a shell exit code."""
    _ensure_dagster_home()
    import dagster as dg

    from pipeline.definitions import defs
    from pipeline.warehouse import row_counts

    started = time.perf_counter()
    print(f"Materialising every asset (raw: {paths.raw_dir()}) ...", flush=True)
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            list(defs.assets), instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING" if quiet else "INFO"}}}},
        )
    elapsed = time.perf_counter() - started
    failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
    target = paths.warehouse_path()
    print()
    print(f"Run {'succeeded' if result.success and not failed_checks else 'FAILED'} in {elapsed:.1f} s")
    for check in failed_checks:
        print(f"  failed check: {check.asset_key.to_user_string()} / {check.check_name}")
    if target.exists():
        counts = row_counts(target)
        width = max(len(k) for k in counts) if counts else 10
        print(f"Warehouse: {target}")
        print(f"  {'table'.ljust(width)}  rows")
        for name, n in counts.items():
            print(f"  {name.ljust(width)}  {n:>6}")
        from pipeline.warehouse import connect

        con = connect(target, read_only=True)
        try:
            sev = con.execute("SELECT severity, count(*) FROM discrepancies GROUP BY severity "
                              "ORDER BY array_position(['critical','major','minor','info'], severity)").fetchall()
            status = con.execute("SELECT status, count(*) FROM discrepancies GROUP BY status ORDER BY 2 DESC").fetchall()
            problems = con.execute("SELECT severity, count(*) FROM quarantine GROUP BY severity").fetchall()
        finally:
            con.close()
        print("Discrepancies: " + ", ".join(f"{n} {s}" for s, n in sev) + "  (status: " + ", ".join(f"{n} {s}" for s, n in status) + ")")
        if problems:
            print("Quarantine: " + ", ".join(f"{n} {s}(s)" for s, n in problems) + " — see the quarantine table")
    report = paths.reports_dir() / "discrepancies.html"
    if report.exists():
        print(f"Report: {report}")
        print(f"        {paths.reports_dir() / 'discrepancies.md'}")
    return 0 if result.success and not failed_checks else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialise every asset once and publish the warehouse and report")
    run.add_argument("--quiet", action="store_true", help="only warnings from Dagster's log")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run_all(quiet=args.quiet)
    return 2


if __name__ == "__main__":
    sys.exit(main())
