"""Reconciliation: matched facts -> discrepancies with evidence, with editors' decisions applied."""

import dagster as dg
import pandas as pd

from pipeline import paths
from pipeline.decisions import apply_decisions, read_decisions
from pipeline.defs.checks import checked, schema_check_specs
from pipeline.defs.common import table_metadata
from pipeline.problems import problems_frame
from pipeline.cache import stage_cache
from pipeline.reconcile import reconcile_incremental
from pipeline.schemas import WAREHOUSE_MODELS, table_description

RECONCILIATION_GROUP = "reconciliation"


@dg.multi_asset(
    group_name=RECONCILIATION_GROUP,
    ins={name: dg.AssetIn() for name in ("sources", "dosing", "adverse_effects", "conditions", "interactions",
                                           "statements", "data_quality", "concept_relations", "concepts")},
    outs={**{name: dg.AssetOut(description=table_description(WAREHOUSE_MODELS[name]), kinds={"pandas"})
             for name in ("discrepancies", "discrepancy_evidence", "source_dependencies", "reviews")},
          "decision_problems": dg.AssetOut(description="Lines of reports/decisions.csv that could not be applied.",
                                           kinds={"pandas"})},
    check_specs=schema_check_specs("discrepancies", "discrepancy_evidence", "source_dependencies", "reviews"),
)
def reconcile_sources(context: dg.AssetExecutionContext, sources: pd.DataFrame, dosing: pd.DataFrame,
                      adverse_effects: pd.DataFrame, conditions: pd.DataFrame, interactions: pd.DataFrame,
                      statements: pd.DataFrame, data_quality: pd.DataFrame, concept_relations: pd.DataFrame,
                      concepts: pd.DataFrame):
    """Compare the sources of each drug, score every disagreement, and apply editors' decisions."""
    populations = set(concepts.loc[concepts["kind"] == "population", "concept_id"])
    cache = stage_cache(paths.cache_dir(), "reconcile")
    disc, evidence, deps, info = reconcile_incremental(sources, dosing, adverse_effects, conditions, interactions,
                                                       statements, data_quality, concept_relations, populations, cache)
    context.log.info(f"reconciled {info['recomputed']} of {info['drugs']} drugs; the others' inputs were unchanged; "
                     f"{cache.prune()} stale cache entries removed")
    decisions_file = paths.decisions_path()
    rows, problems = read_decisions(decisions_file)
    disc, reviews, more = apply_decisions(disc, evidence, rows, decisions_file.name)
    problems += more
    for p in problems:
        context.log.error(p.message())
    counts = disc["severity"].value_counts().to_dict() if len(disc) else {}
    yield from checked(context, dg.Output(disc, "discrepancies", metadata={
        **table_metadata("discrepancies", disc), **{f"severity/{k}": int(v) for k, v in counts.items()}}))
    yield from checked(context, dg.Output(evidence, "discrepancy_evidence",
                                          metadata=table_metadata("discrepancy_evidence", evidence)))
    yield from checked(context, dg.Output(deps, "source_dependencies", metadata=table_metadata("source_dependencies", deps)))
    yield from checked(context, dg.Output(reviews, "reviews", metadata={
        **table_metadata("reviews", reviews), "reopened": int(reviews["reopened"].sum()) if len(reviews) else 0}))
    frame = problems_frame(problems)
    yield dg.Output(frame, "decision_problems", metadata={"dagster/row_count": len(frame)})
