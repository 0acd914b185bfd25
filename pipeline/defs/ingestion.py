"""Ingestion: raw files -> sources -> sections and list items."""


import dagster as dg
import pandas as pd

from pipeline import paths
from pipeline.defs.checks import checked, schema_check_specs
from pipeline.defs.common import progress_bar, table_description_of, table_metadata
from pipeline.problems import problems_frame
from pipeline.registry import load_registry
from pipeline.schemas import RawSegmentsModel, SourcesModel, empty_frame
from pipeline.cache import stage_cache
from pipeline.delta import run_start_state
from pipeline.normalise import vocabulary_key
from pipeline.sections import section_all
from pipeline.split import split_all

INGESTION_GROUP = "ingestion"


@dg.multi_asset(
    group_name=INGESTION_GROUP,
    outs={
        "sources": dg.AssetOut(description=table_description_of("sources"), kinds={"pandas"}),
        "raw_segments": dg.AssetOut(description=table_description_of("raw_segments"), kinds={"pandas"}),
        "split_problems": dg.AssetOut(description="Problems found reading the registry and splitting raw files.",
                                      kinds={"pandas"}),
        "run_start": dg.AssetOut(description="Hashes of the code, rules, registry, decisions, vocabulary and raw files "
                                             "when this run started, for the manifest of pipeline/delta.py.",
                                 kinds={"python"}),
    },
    check_specs=schema_check_specs("sources", "raw_segments"),
)
def split_raw_files(context: dg.AssetExecutionContext):
    """Read raw/registry.toml and cut every raw file into its declared sources."""
    th = paths.thresholds()
    start = run_start_state(paths.raw_dir(), paths.decisions_path(), vocabulary_key(), paths.cache_dir())
    entries, problems = load_registry(paths.registry_path(), paths.cache_dir())
    sources, segments, split_problems = split_all(paths.raw_dir(), entries, th["raw_file_max_bytes"],
                                                  th["binary_control_char_ratio"])
    problems += split_problems
    if sources.empty:
        sources = empty_frame(SourcesModel)
    if segments.empty:
        segments = empty_frame(RawSegmentsModel)
    for p in problems:
        (context.log.error if p.severity == "error" else context.log.warning)(p.message())
    frame = problems_frame(problems)
    yield from checked(context, dg.Output(sources, "sources", metadata=table_metadata("sources", sources)))
    yield from checked(context, dg.Output(segments, "raw_segments", metadata=table_metadata("raw_segments", segments)))
    yield dg.Output(frame, "split_problems", metadata={"dagster/row_count": len(frame)})
    yield dg.Output(start, "run_start", metadata={"raw_files": len(start["files"])})


@dg.multi_asset(
    group_name=INGESTION_GROUP,
    ins={"sources": dg.AssetIn()},
    outs={
        "sections": dg.AssetOut(description=table_description_of("sections"), kinds={"pandas"}),
        "list_items": dg.AssetOut(description=table_description_of("list_items"), kinds={"pandas"}),
        "section_problems": dg.AssetOut(description="Problems found while sectioning sources.", kinds={"pandas"}),
    },
    check_specs=schema_check_specs("sections", "list_items"),
)
def section_sources(context: dg.AssetExecutionContext, sources: pd.DataFrame):
    """Split each source into headed sections and list items, with topics."""
    cache = stage_cache(paths.cache_dir(), "sections")
    sections, items, problems = section_all(sources, cache, progress_bar)
    context.log.info(f"sectioned {cache.misses} source(s), reused {cache.hits} unchanged; "
                     f"{cache.prune()} stale cache entries removed")
    for p in problems:
        context.log.error(p.message())
    frame = problems_frame(problems)
    yield from checked(context, dg.Output(sections, "sections", metadata={
        **table_metadata("sections", sections), "sources_parsed": cache.misses, "sources_reused": cache.hits}))
    yield from checked(context, dg.Output(items, "list_items", metadata=table_metadata("list_items", items)))
    yield dg.Output(frame, "section_problems", metadata={"dagster/row_count": len(frame)})
