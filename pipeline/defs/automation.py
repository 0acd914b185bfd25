"""Automation: a sensor on the raw files' content and a daily safety-net schedule. Both run by
default in `dagster dev`. The sensor launches the incremental job when ``pipeline.delta.plan_run``
allows it (only some drugs' raw files changed, nothing else did) and the full refresh otherwise."""

import json

import dagster as dg

from pipeline import paths
from pipeline.defs.incremental import incremental_job
from pipeline.delta import plan_run
from pipeline.normalise import vocabulary_key
from pipeline.watch import changed_sources, raw_snapshot, snapshot_key, source_hashes

refresh_job = dg.define_asset_job(
    "refresh_job", selection=dg.AssetSelection.all(), tags={"drug_facts/warehouse": "writer"},
    description="Materialise every asset: unchanged sources are reused from the content-hash cache.")

daily_refresh_schedule = dg.ScheduleDefinition(
    name="daily_refresh_schedule", job=refresh_job, cron_schedule="0 4 * * *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-runs everything once a day as a safety net for changes the sensor could not see.")


def evaluate_raw_files(cursor: str | None) -> tuple[dg.RunRequest | dg.SkipReason, str]:
    """(run request or skip reason, new cursor) for the raw tree as it is now."""
    th = paths.thresholds()
    raw = paths.raw_dir()
    snapshot = raw_snapshot(raw)
    key = snapshot_key(snapshot)
    previous = json.loads(cursor) if cursor else {}
    if previous.get("key") == key:
        return dg.SkipReason(f"raw/ unchanged (content hash {key})"), cursor or ""
    hashes = source_hashes(raw, th["raw_file_max_bytes"], th["binary_control_char_ratio"])
    changed = changed_sources(previous.get("sources", {}), hashes)
    files = sorted(f for f, h in snapshot.items() if previous.get("files", {}).get(f) != h)
    plan = plan_run(raw, paths.warehouse_path(), paths.decisions_path(), vocabulary_key(), th["incremental_max_drug_share"],
                    paths.cache_dir())
    job = incremental_job.name if plan.mode == "incremental" else refresh_job.name
    request = dg.RunRequest(
        run_key=f"raw-{key}", job_name=job,
        tags={"drug_facts/raw_hash": key, "drug_facts/changed_sources": ",".join(changed)[:4000],
              "drug_facts/changed_files": ",".join(files)[:4000], "drug_facts/plan": f"{plan.mode}: {plan.reason}"[:4000]})
    return request, json.dumps({"key": key, "files": snapshot, "sources": hashes})


@dg.sensor(jobs=[refresh_job, incremental_job], minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches a run when the content of any file under raw/ changes (the run key holds the "
                       "content hash, so touching a file without changing it launches nothing): incremental_job "
                       "when only some drugs' files changed since the last full run, refresh_job otherwise.")
def raw_files_sensor(context: dg.SensorEvaluationContext):
    result, cursor = evaluate_raw_files(context.cursor)
    context.update_cursor(cursor)
    return result
