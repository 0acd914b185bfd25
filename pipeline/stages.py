"""Stage bodies shared by the Dagster assets, the benchmark and the incremental run, so the
three run the same code: matching of every mention table, and the quarantine table."""

from __future__ import annotations

import pandas as pd

from pipeline.match import Matcher, concept_relations, match_table
from pipeline.problems import Problem, problems_frame

MATCHED_TABLES = ("adverse_effects", "conditions", "interactions")


def match_facts(facts: dict[str, pd.DataFrame], sources: pd.DataFrame, matcher: Matcher,
                concepts: pd.DataFrame, ancestors: dict[str, set[str]] | None = None
                ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """(matched adverse_effects / conditions / interactions, dosing with its indication's
    concept, concept relations by drug). ``facts`` holds the extraction tables by name;
    ``ancestors`` is ``match.ancestors_map(concepts)`` when the caller built it already."""
    drug_of = dict(zip(sources["source_id"], sources["drug"]))
    matched = {table: match_table(facts[table], table, matcher, drug_of) for table in MATCHED_TABLES}
    dosing = facts["dosing"].copy()
    dosing["indication_concept_id"] = [matcher.match(t, ("condition", "phenotype")).concept_id if t else ""
                                       for t in dosing["indication"].fillna("")] if len(dosing) else pd.Series(dtype=object)
    used = pd.concat([f[["source_id", "concept_id"]] for f in matched.values()], ignore_index=True)
    used["drug"] = used["source_id"].map(drug_of)
    return matched, dosing, concept_relations(used, concepts, ancestors)


def quarantine_table(*parts: list[Problem] | pd.DataFrame) -> pd.DataFrame:
    """One quarantine table from problem lists or problem frames, in the order given."""
    frames = [p if isinstance(p, pd.DataFrame) else problems_frame(p) for p in parts]
    kept = [f for f in frames if not f.empty]
    return pd.concat(kept, ignore_index=True) if kept else (frames[0] if frames else problems_frame([]))
