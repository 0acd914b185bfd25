"""Publication: the quarantine table, the warehouse written whole and swapped in atomically, and
the report files, then the manifest an incremental run starts from (``pipeline.delta``).

The warehouse and the report are one step (``publication``): the report's pages are rendered in
worker processes while DuckDB writes, and no report file changes until the warehouse is in place.
It depends on every table asset; each has a blocking schema check, so a table that fails
validation stops the run before anything is published.
"""

import dagster as dg
import pandas as pd

from pipeline import paths
from pipeline.defs.checks import checked, schema_check_specs
from pipeline.defs.common import table_description_of, table_metadata
from pipeline.report import write_reports
from pipeline.schemas import WAREHOUSE_MODELS
from pipeline.stages import quarantine_table
from pipeline.views import DERIVED_COLUMN_COMMENTS, VIEW_COMMENTS, views_sql
from pipeline.delta import drop_manifest, parts_path, save_manifest, warehouse_lock
from pipeline.export import export_tables
from pipeline.warehouse import publish, remove_stale_staging, row_counts

PUBLISH_GROUP = "publish"
PUBLISHED_TABLES = tuple(WAREHOUSE_MODELS)


@dg.multi_asset(group_name=PUBLISH_GROUP,
                outs={"quarantine": dg.AssetOut(kinds={"pandas"}, description=table_description_of("quarantine"))},
                check_specs=schema_check_specs("quarantine"))
def quarantine(context: dg.AssetExecutionContext, split_problems: pd.DataFrame, section_problems: pd.DataFrame,
               extract_problems: pd.DataFrame, decision_problems: pd.DataFrame):
    table = quarantine_table(split_problems, section_problems, extract_problems, decision_problems)
    yield from checked(context, dg.Output(table, "quarantine", metadata=table_metadata("quarantine", table)))


REPORT_INPUTS = ("sources", "discrepancies", "discrepancy_evidence", "conditions", "adverse_effects")


@dg.multi_asset(
    group_name=PUBLISH_GROUP,
    ins={name: dg.AssetIn() for name in (*PUBLISHED_TABLES, "changes_since_last_run", "run_start")},
    specs=[
        dg.AssetSpec("warehouse", kinds={"duckdb"}, deps=list(PUBLISHED_TABLES),
                     description="The DuckDB warehouse (warehouse/drug_facts.duckdb), rebuilt beside the old file and "
                                 "swapped in atomically once every table has passed its checks."),
        dg.AssetSpec("discrepancy_report", kinds={"html"},
                     deps=["warehouse", *REPORT_INPUTS, "changes_since_last_run", "run_start"],
                     description="reports/discrepancies.{html,md,csv}: the editors' report, sorted by severity, with "
                                 "quotes side by side and a concept-by-source matrix. Its pages are rendered while the "
                                 "warehouse is written; no report file changes until the warehouse is in place."),
    ])
def publication(context: dg.AssetExecutionContext, changes_since_last_run: dict, run_start: dict, **tables):
    """The warehouse and the report in one step, so the report's page workers render while DuckDB
    writes (they are independent; done one after the other they took about twice as long). The
    two assets are always materialised together. When the report fails after the warehouse is in
    place, the warehouse's materialisation is still recorded before the step fails."""
    target = paths.warehouse_path()
    exported: list = []

    def publish_warehouse() -> None:
        for stale in remove_stale_staging(target.parent):
            context.log.warning(f"removed staging file left by an interrupted run: {stale}")
        publish({name: tables[name] for name in PUBLISHED_TABLES}, WAREHOUSE_MODELS, target, views_sql(),
                VIEW_COMMENTS, DERIVED_COLUMN_COMMENTS)
        # the history moves forward only once the warehouse that records it is in place: the next
        # run reads it from this export
        exported.append(export_tables(target, list(PUBLISHED_TABLES), paths.parquet_dir()))

    def warehouse_result() -> dg.MaterializeResult:
        counts = row_counts(target)
        return dg.MaterializeResult(asset_key="warehouse", metadata={
            "path": dg.MetadataValue.path(str(target)),
            "row_counts": dg.MetadataValue.json(counts),
            "parquet_dir": dg.MetadataValue.path(str(exported[0])),
            **{f"rows/{k}": v for k, v in counts.items()},
        })

    with warehouse_lock(paths.warehouse_dir()):  # no incremental run swaps or exports meanwhile
        try:
            written = write_reports(paths.reports_dir(), *(tables[name] for name in REPORT_INPUTS),
                                    changes_since_last_run, parts_file=parts_path(paths.warehouse_dir()),
                                    meanwhile=publish_warehouse)
        except Exception:
            if exported:  # the warehouse is in place, the report failed: record the warehouse, and
                # drop the manifest so the next run is a full one (it rewrites the report)
                drop_manifest(paths.warehouse_dir())
                yield warehouse_result()
            raise
        # what an incremental run compares the raw tree with (as it was when this run started):
        # written last, once everything is published
        save_manifest(paths.warehouse_dir(), run_start, tables["sources"], paths.raw_dir())
    yield warehouse_result()
    html = written["html"]
    yield dg.MaterializeResult(asset_key="discrepancy_report", metadata={
        "report": dg.MetadataValue.url(html.as_uri()),
        "report_path": dg.MetadataValue.path(str(html)),
        "files": dg.MetadataValue.json({k: str(v) for k, v in written.items()}),
        "discrepancies": len(tables["discrepancies"]),
    })
