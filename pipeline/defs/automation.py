"""Automation: a sensor on the raw files' content and a daily safety-net schedule. Both run by
default in `dagster dev`. The sensor launches the incremental job when ``pipeline.delta.plan_run``
allows it (only some drugs' raw files changed, nothing else did) and the full refresh otherwise.
A run-failure sensor launches the full refresh for an incremental run that found, when it
started, that the change had meanwhile come to need a full run."""

import json

import dagster as dg

from pipeline import paths
from pipeline.defs.incremental import NEEDS_FULL_RUN_TAG, incremental_job
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


def fallback_request(run: dg.DagsterRun) -> dg.RunRequest | dg.SkipReason:
    """What to do about a failed run: a refresh_job run when it is an incremental run that
    failed because its change needs a full run (its ``NEEDS_FULL_RUN_TAG``), nothing otherwise
    (an error is for a person to read; relaunching would repeat it)."""
    reason = run.tags.get(NEEDS_FULL_RUN_TAG)
    if run.job_name != incremental_job.name or reason is None:
        return dg.SkipReason(f"run {run.run_id} of {run.job_name} failed for another reason: not relaunched")
    return dg.RunRequest(run_key=f"fallback-{run.run_id}",  # one refresh per failed run, however often evaluated
                         tags={"drug_facts/fallback_for": run.run_id, "drug_facts/plan": f"full: {reason}"[:4000]})


@dg.run_failure_sensor(monitored_jobs=[incremental_job], request_job=refresh_job, minimum_interval_seconds=30,
                       default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Launches refresh_job for an incremental run that failed because, by the time "
                                   "it started, its change needed a full run (more drugs changed, another "
                                   "vocabulary); other failures are left for a person to read.")
def full_run_fallback_sensor(context: dg.RunFailureSensorContext):
    return fallback_request(context.dagster_run)
