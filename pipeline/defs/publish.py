"""Publication: the quarantine table, and the warehouse written whole and swapped in atomically.

The warehouse asset depends on every table asset; each has a blocking schema check, so a table
that fails validation stops the run before anything is published.
"""


import dagster as dg
import pandas as pd

from pipeline import paths
from pipeline.defs.common import table_description_of, table_metadata
from pipeline.schemas import WAREHOUSE_MODELS
from pipeline.warehouse import publish, remove_stale_staging, row_counts

PUBLISH_GROUP = "publish"


@dg.asset(group_name=PUBLISH_GROUP, kinds={"pandas"}, description=table_description_of("quarantine"))
def quarantine(split_problems: pd.DataFrame, section_problems: pd.DataFrame) -> dg.MaterializeResult:
    frames = [f for f in (split_problems, section_problems) if not f.empty]
    table = pd.concat(frames, ignore_index=True) if frames else split_problems
    return dg.MaterializeResult(value=table, metadata=table_metadata("quarantine", table))


@dg.asset(group_name=PUBLISH_GROUP, kinds={"duckdb"},
          description="The DuckDB warehouse (warehouse/drug_facts.duckdb), rebuilt beside the old file and swapped in "
                      "atomically once every table has passed its checks.")
def warehouse(context: dg.AssetExecutionContext, sources: pd.DataFrame, raw_segments: pd.DataFrame,
              sections: pd.DataFrame, list_items: pd.DataFrame, quarantine: pd.DataFrame) -> dg.MaterializeResult:
    tables = {"sources": sources, "raw_segments": raw_segments, "sections": sections,
              "list_items": list_items, "quarantine": quarantine}
    target = paths.warehouse_path()
    for stale in remove_stale_staging(target.parent):
        context.log.warning(f"removed staging file left by an interrupted run: {stale}")
    publish(tables, WAREHOUSE_MODELS, target)
    counts = row_counts(target)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(target)),
        "row_counts": dg.MetadataValue.json(counts),
        **{f"rows/{k}": v for k, v in counts.items()},
    })
