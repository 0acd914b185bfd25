"""Blocking schema checks: one per warehouse table, declared by the asset that produces it.

Each producing op declares ``schema_check_specs(...)`` for its tables and passes every output
through ``checked``, which validates the frame it has in memory (no second step loads the table
back from storage) and yields the check result right after the output. A check validates the
whole table lazily, so every failing row is listed in its metadata at once; a failing blocking
check fails its step, which stops every asset downstream, the warehouse publication included.
Rows made invalid by bad input were already moved to ``quarantine`` by the domain stages: a
failure here means a defect in our own code.
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


def _model_of(table: str):
    return WAREHOUSE_MODELS.get(table) or MENTION_MODELS.get(table)


def schema_check_specs(*tables: str) -> list[dg.AssetCheckSpec]:
    """The blocking schema check of each of ``tables`` that has a model."""
    return [dg.AssetCheckSpec(schema_check_name(t), asset=t, blocking=True,
                              description=f"Every row of `{t}` satisfies {_model_of(t).__name__} "
                                          "(lazy validation; failing rows listed).")
            for t in tables if _model_of(t) is not None]


def schema_check_result(context, table: str, frame: pd.DataFrame) -> dg.AssetCheckResult:
    passed, cases = validate_frame(_model_of(table), frame)
    meta = {"rows_checked": int(len(frame)), "failing_cases": int(len(cases))}
    if not passed:
        meta["failures"] = dg.MetadataValue.md(preview_markdown(cases, MAX_FAILURES_SHOWN))
        for row in cases.head(MAX_FAILURES_SHOWN).itertuples(index=False):
            context.log.error(f"{table}: row {row.index} column {row.column}: {row.check} failed ({row.failure_case})")
    return dg.AssetCheckResult(asset_key=dg.AssetKey(table), check_name=schema_check_name(table), passed=passed,
                               metadata=meta, severity=dg.AssetCheckSeverity.ERROR)


def checked(context, output: dg.Output):
    """``output``, then its table's schema check result (when the table has a model)."""
    yield output
    if _model_of(output.output_name) is not None:
        yield schema_check_result(context, output.output_name, output.value)


def checked_tables() -> tuple[str, ...]:
    """Every table with a blocking schema check: the warehouse tables and the mention tables."""
    return (*WAREHOUSE_MODELS, *MENTION_MODELS)
