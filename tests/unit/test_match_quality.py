"""Matching quality on the seed against tests/gold/baclofen_concepts.yaml, at the thresholds in
data/matching.yaml. The figures are the ones recorded in README "Matching quality"."""

import pytest
import yaml

from pipeline.evaluation import concept_accuracy
from pipeline.match import ancestors_map, settings
from tests.conftest import ROOT

GOLD_CONCEPTS = yaml.safe_load((ROOT / "tests" / "gold" / "baclofen_concepts.yaml").read_text(encoding="utf-8"))
# Deliberate deviation from the gold file, required by the matching brief: HPO's "Dizziness"
# synonym of Vertigo is denylisted, so dizziness maps to the project concept PRJ:dizziness.
DELIBERATE = {"dizziness", "extreme dizziness"}


@pytest.fixture(scope="module")
def ancestors(vocabulary):
    return ancestors_map(vocabulary[0])


def test_thresholds_are_the_recorded_ones():
    cfg = settings()
    assert (cfg["fuzzy_scorer"], cfg["fuzzy_min_score"], cfg["token_min_ratio"], cfg["head_phrase_min_coverage"]) == (
        "token_sort_ratio", 90, 80, 0.5)


def test_adverse_effect_matching_quality(seed_matched, ancestors):
    r = concept_accuracy(seed_matched["adverse_effects"], GOLD_CONCEPTS, "adverse_effects", ancestors)
    assert r["carried_share"] >= 0.95
    wrong = [w for w in r["wrong"] if w[0].lower() not in DELIBERATE]
    assert len(wrong) <= 1, wrong
    assert r["compatible_share"] >= 0.96
    assert (r["correct"] + len(r["wrong"]) - len(wrong)) / r["checked"] >= 0.95


def test_condition_matching_quality(seed_matched, ancestors):
    r = concept_accuracy(seed_matched["conditions"], GOLD_CONCEPTS, "conditions", ancestors)
    assert r["carried_share"] >= 0.90
    assert r["compatible_share"] >= 0.95, r["wrong"]


def test_no_discrepancy_pairs_opposite_concepts(seed_matched):
    """Every mention's concept must not be a confusable opposite of its wording."""
    from pipeline.match import confusable

    for table in ("adverse_effects", "conditions"):
        f = seed_matched[table]
        for mention, label in zip(f["mention"], f["concept_label"]):
            if label:
                assert not confusable(mention, label), (mention, label)
