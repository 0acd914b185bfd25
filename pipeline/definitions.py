"""The code location: assembles assets, checks, schedules and sensors. Nothing else."""

import dagster as dg

from pipeline.defs import automation, extraction, history, incremental, ingestion, matching, publish, reconciliation

defs = dg.Definitions(
    assets=[
        ingestion.split_raw_files, ingestion.section_sources,
        extraction.extract_facts,
        matching.vocabulary, matching.match_facts,
        reconciliation.reconcile_sources,
        history.run_history,
        publish.quarantine, publish.publication,
    ],
    jobs=[automation.refresh_job, incremental.incremental_job],
    schedules=[automation.daily_refresh_schedule],
    sensors=[automation.raw_files_sensor, automation.full_run_fallback_sensor],
)
