"""Run history: runs, first/last-seen of facts and discrepancies, and what changed since the last run."""

from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from pipeline import paths
from pipeline.defs.checks import checked, schema_check_specs
from pipeline.defs.common import table_metadata
from pipeline.history import load_history, update_history
from pipeline.schemas import WAREHOUSE_MODELS, table_description

HISTORY_GROUP = "history"
FACT_INPUTS = ("adverse_effects", "conditions", "interactions", "dosing", "statements")


def _iso(ts: float | None) -> str:
    when = datetime.fromtimestamp(ts, tz=timezone.utc) if ts else datetime.now(timezone.utc)
    return when.isoformat(timespec="seconds")


@dg.multi_asset(
    group_name=HISTORY_GROUP,
    ins={name: dg.AssetIn() for name in ("sources", "sections", "discrepancies", *FACT_INPUTS)},
    outs={**{name: dg.AssetOut(description=table_description(WAREHOUSE_MODELS[name]), kinds={"pandas"})
             for name in ("runs", "fact_history", "discrepancy_history", "section_history")},
          "changes_since_last_run": dg.AssetOut(description="New, resolved and changed discrepancies and changed "
                                                            "sources since the previous published run, by drug.",
                                                kinds={"python"})},
    check_specs=schema_check_specs("runs", "fact_history", "discrepancy_history", "section_history"),
)
def run_history(context: dg.AssetExecutionContext, sources: pd.DataFrame, sections: pd.DataFrame,
                discrepancies: pd.DataFrame, adverse_effects: pd.DataFrame, conditions: pd.DataFrame,
                interactions: pd.DataFrame, dosing: pd.DataFrame, statements: pd.DataFrame):
    """Compare this run with the history of published runs (read from warehouse/parquet)."""
    prev = load_history(paths.parquet_dir())
    record = context.instance.get_run_record_by_id(context.run.run_id)
    started = _iso(record.start_time if record is not None else None)
    facts = {"adverse_effects": adverse_effects, "conditions": conditions, "interactions": interactions,
             "dosing": dosing, "statements": statements}
    counts = {"sources": len(sources), "sections": len(sections), "discrepancies": len(discrepancies),
              **{k: len(v) for k, v in facts.items()}}
    history, changes = update_history(prev, context.run.run_id, started, _iso(None), sources, sections, facts,
                                      discrepancies, counts)
    for name in ("runs", "fact_history", "discrepancy_history", "section_history"):
        yield from checked(context, dg.Output(history[name], name, metadata=table_metadata(name, history[name])))
    flat = {f"{drug}/{k}": len(v) for drug, c in changes.items() for k, v in c.items() if isinstance(v, list)}
    yield dg.Output(changes, "changes_since_last_run", metadata=flat)
