"""Blocking schema checks: one per warehouse table, built by one factory.

A check validates the whole table lazily, so every failing row is listed in its metadata at
once; failing, it stops every asset downstream, the warehouse publication included. Rows made
invalid by bad input were already moved to ``quarantine`` by the domain stages: a failure here
means a defect in our own code.
"""


import dagster as dg
import pandas as pd
import pandera.pandas as pa

from pipeline.defs.common import preview_markdown
from pipeline.schemas import MENTION_MODELS, WAREHOUSE_MODELS

MAX_FAILURES_SHOWN = 50


def validate_frame(model, frame: pd.DataFrame) -> tuple[bool, pd.DataFrame]:
    """(passed, failure_cases) for ``frame`` against ``model``, validating lazily."""
    try:
        model.validate(frame, lazy=True)
        return True, pd.DataFrame()
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases[["schema_context", "column", "check", "failure_case", "index"]].copy()
        return False, cases


def schema_check_name(table: str) -> str:
    return f"{table}_matches_schema"


def build_schema_check(table: str) -> dg.AssetChecksDefinition:
    model = WAREHOUSE_MODELS.get(table) or MENTION_MODELS[table]

    @dg.asset_check(asset=table, name=schema_check_name(table), blocking=True,
                    description=f"Every row of `{table}` satisfies {model.__name__} (lazy validation; failing rows listed).")
    def _check(context: dg.AssetCheckExecutionContext, frame: pd.DataFrame) -> dg.AssetCheckResult:
        # The one parameter besides the context is loaded as the checked asset's value.
        passed, cases = validate_frame(model, frame)
        meta = {"rows_checked": int(len(frame)), "failing_cases": int(len(cases))}
        if not passed:
            meta["failures"] = dg.MetadataValue.md(preview_markdown(cases, MAX_FAILURES_SHOWN))
            for row in cases.head(MAX_FAILURES_SHOWN).itertuples(index=False):
                context.log.error(f"{table}: row {row.index} column {row.column}: {row.check} failed ({row.failure_case})")
        return dg.AssetCheckResult(passed=passed, metadata=meta, severity=dg.AssetCheckSeverity.ERROR)

    return _check


def all_schema_checks() -> list[dg.AssetChecksDefinition]:
    """A blocking schema check for every warehouse table and every mention table."""
    return [build_schema_check(t) for t in (*WAREHOUSE_MODELS, *MENTION_MODELS)]
