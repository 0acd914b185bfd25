"""The code location: assembles assets, checks, schedules and sensors. Nothing else."""

import dagster as dg

from pipeline.defs import checks, ingestion, publish
from pipeline.schemas import WAREHOUSE_MODELS

defs = dg.Definitions(
    assets=[ingestion.split_raw_files, ingestion.section_sources, publish.quarantine, publish.warehouse],
    asset_checks=[checks.build_schema_check(t) for t in WAREHOUSE_MODELS if t in {
        "sources", "raw_segments", "sections", "list_items", "quarantine"}],
)
