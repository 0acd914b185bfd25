"""Extraction: sections -> fact mention tables."""

import dagster as dg
import pandas as pd

from pipeline import paths
from pipeline.cache import stage_cache
from pipeline.defs.checks import checked, schema_check_specs
from pipeline.defs.common import progress_bar, table_metadata
from pipeline.extract import extract_all
from pipeline.problems import problems_frame
from pipeline.schemas import MENTION_MODELS, WAREHOUSE_MODELS, table_description

EXTRACTION_GROUP = "extraction"
# extraction table name -> asset name
OUTPUTS = {
    "adverse_effects": "adverse_effect_mentions",
    "conditions": "condition_mentions",
    "interactions": "interaction_mentions",
    "dosing": "dose_statements",
    "statements": "statements",
    "drug_profile": "drug_profile",
    "data_quality": "data_quality",
}


def _model(asset: str):
    return MENTION_MODELS.get(asset) or WAREHOUSE_MODELS[asset]


@dg.multi_asset(
    group_name=EXTRACTION_GROUP,
    ins={"sources": dg.AssetIn(), "sections": dg.AssetIn(), "list_items": dg.AssetIn()},
    outs={
        **{asset: dg.AssetOut(description=table_description(_model(asset)), kinds={"pandas"}) for asset in OUTPUTS.values()},
        "extract_problems": dg.AssetOut(description="Sources whose extraction failed.", kinds={"pandas"}),
    },
    check_specs=schema_check_specs(*OUTPUTS.values()),
)
def extract_facts(context: dg.AssetExecutionContext, sources: pd.DataFrame, sections: pd.DataFrame,
                  list_items: pd.DataFrame):
    """Read every source's sentences and list items into fact tables, each row with its quote and offsets."""
    cache = stage_cache(paths.cache_dir(), "facts")
    frames, problems = extract_all(sources, sections, list_items, cache, progress_bar)
    context.log.info(f"extracted {cache.misses} source(s), reused {cache.hits} unchanged; "
                     f"{cache.prune()} stale cache entries removed")
    for p in problems:
        context.log.error(p.message())
    for table, asset in OUTPUTS.items():
        frame = frames[table]
        yield from checked(context, dg.Output(frame, asset, metadata={
            **table_metadata(asset, frame), "sources_extracted": cache.misses, "sources_reused": cache.hits}))
    frame = problems_frame(problems)
    yield dg.Output(frame, "extract_problems", metadata={"dagster/row_count": len(frame)})
