"""The incremental job: one op that re-processes only the drugs whose raw files changed and
replaces their rows in the published warehouse and report (``pipeline.delta``). The sensor
launches it when ``plan_run`` says a run can be incremental, and ``refresh_job`` otherwise.

The plan is made again when the op starts: when it has turned full meanwhile (a second edit to
more drugs, a new vocabulary), the op tags its run with ``NEEDS_FULL_RUN_TAG`` and fails, and
``pipeline.defs.automation.full_run_fallback_sensor`` launches ``refresh_job`` for it."""

from datetime import datetime, timezone

import dagster as dg

from pipeline import paths
from pipeline.delta import plan_run, run_incremental
from pipeline.match import Matcher, ancestors_map
from pipeline.normalise import load_or_build_vocabulary


NEEDS_FULL_RUN_TAG = "drug_facts/needs_full_run"  # on an incremental run whose change needs a full run: why


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dg.op(description="Re-process the drugs whose raw files changed since the last published run and replace their "
                   "rows in a copy of the warehouse, which is then swapped in; rewrite their report pages and the "
                   "corpus-wide report files.")
def update_changed_drugs(context: dg.OpExecutionContext) -> None:
    th = paths.thresholds()
    started = _now()
    concepts, terms, info = load_or_build_vocabulary(paths.cache_dir())
    plan = plan_run(paths.raw_dir(), paths.warehouse_path(), paths.decisions_path(), info["key"],
                    th["incremental_max_drug_share"], paths.cache_dir())
    context.log.info(f"plan: {plan.mode} ({plan.reason})")
    if plan.mode == "unchanged":
        return
    if plan.mode != "incremental":
        # the tag is what the fallback sensor acts on: this failure, not any other, asks for a full run
        context.instance.add_run_tags(context.run_id, {NEEDS_FULL_RUN_TAG: plan.reason[:4000]})
        raise dg.Failure(description=f"this change needs a full run ({plan.reason}); the sensor "
                                     "full_run_fallback_sensor launches refresh_job for it", allow_retries=False)
    result = run_incremental(plan, paths.raw_dir(), paths.warehouse_path(), paths.reports_dir(), paths.cache_dir(),
                             concepts, Matcher(concepts, terms), context.run.run_id, started, None,
                             paths.decisions_path(), th, ancestors=ancestors_map(concepts))
    for p in result.problems:
        (context.log.error if p.severity == "error" else context.log.warning)(p.message())
    meta = {"drugs": dg.MetadataValue.json(list(result.drugs)), "raw_files": dg.MetadataValue.json(list(result.files)),
            "rows_inserted": dg.MetadataValue.json(result.rows_inserted),
            "rows_deleted": dg.MetadataValue.json(result.rows_deleted),
            "seconds": dg.MetadataValue.json({k: round(v, 3) for k, v in result.seconds.items()})}
    context.log_event(dg.AssetMaterialization("warehouse", description=f"incremental: {plan.reason}", metadata=meta))
    context.log_event(dg.AssetMaterialization(
        "discrepancy_report", description=f"pages of {len(result.drugs)} drug(s) and the corpus-wide files",
        metadata={"report_path": dg.MetadataValue.path(str(result.report_files["html"]))}))


@dg.job(description="Incremental refresh: only the drugs whose raw files changed (see pipeline/delta.py).",
        tags={"drug_facts/warehouse": "writer"})
def incremental_job():
    update_changed_drugs()
