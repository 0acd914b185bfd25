"""Reconciliation on the seed finds what the editors must see, with stable ids and evidence."""

import pandas as pd
import pytest

from pipeline.match import concept_relations
from pipeline.reconcile import discrepancy_id, reconcile


@pytest.fixture(scope="module")
def seed_reconciled(seed_split, seed_matched, vocabulary):
    sources = seed_split[0]
    concepts = vocabulary[0]
    drug_of = dict(zip(sources["source_id"], sources["drug"]))
    used = pd.concat([seed_matched[t][["source_id", "concept_id"]] for t in ("conditions", "adverse_effects")])
    used["drug"] = used["source_id"].map(drug_of)
    rel = concept_relations(used, concepts)
    dosing = seed_matched["dosing"].assign(indication_concept_id="")
    populations = set(concepts.loc[concepts["kind"] == "population", "concept_id"])
    return reconcile(sources, dosing, seed_matched["adverse_effects"], seed_matched["conditions"],
                     seed_matched["interactions"], seed_matched["statements"], seed_matched["data_quality"], rel,
                     populations)


def _by_label(disc, topic, label_part):
    rows = disc[(disc["topic"] == topic) & disc["concept_label"].str.contains(label_part, case=False)]
    assert len(rows), f"no {topic} discrepancy about {label_part}"
    return rows.iloc[0]


def test_maximum_dose_80_vs_100_is_critical(seed_reconciled):
    disc, ev, _ = seed_reconciled
    dose = disc[(disc["topic"] == "dose") & disc["comparison_key"].str.startswith("oral|adult|maximum")]
    assert len(dose) == 1
    row = dose.iloc[0]
    assert row["severity"] == "critical"
    assert "80 mg (3 sources" in row["summary"] and "100 mg (1 source" in row["summary"]
    values = set(ev.loc[ev["discrepancy_id"] == row["discrepancy_id"], "value"].str.split(" ").str[0])
    assert values == {"80", "100"}


@pytest.mark.parametrize("label", ["Epilepsy", "Parkinson", "Pregnancy", "lactation", "psychosis"])
def test_contraindicated_versus_caution_is_found(seed_reconciled, label):
    disc, ev, _ = seed_reconciled
    row = _by_label(disc, "stance", label)
    values = set(ev.loc[ev["discrepancy_id"] == row["discrepancy_id"], "value"])
    assert "contraindicated" in values and "caution" in values
    assert row["severity"] in ("critical", "major")


def test_indication_versus_contraindication_of_epilepsy_names_the_marketing_side(seed_reconciled):
    disc, ev, _ = seed_reconciled
    row = _by_label(disc, "stance", "Epilepsy")
    e = ev[ev["discrepancy_id"] == row["discrepancy_id"]]
    assert set(e.loc[e["value"] == "indication", "source_kind"]) == {"clinic_text"}


def test_indication_versus_caution_is_found(seed_reconciled):
    disc, ev, _ = seed_reconciled
    row = _by_label(disc, "stance", "Cerebral palsy")
    assert {"indication", "caution"} <= set(ev.loc[ev["discrepancy_id"] == row["discrepancy_id"], "value"])


def test_broad_and_narrow_terms_are_aligned(seed_reconciled):
    disc, _, _ = seed_reconciled
    row = disc[(disc["kind"] == "broader_narrower_conflict") & disc["concept_label"].str.contains("Kidney disease")]
    assert len(row) == 1 and "Chronic kidney disease (narrower)" in row["concept_label"].iloc[0]


def test_withdrawal_taper_durations_are_compared(seed_reconciled):
    disc, ev, _ = seed_reconciled
    taper = disc[(disc["topic"] == "statement") & (disc["comparison_key"] == "withdrawal_taper")]
    assert len(taper) == 1
    assert "2–4 weeks" in taper["summary"].iloc[0] and "several weeks or months" in taper["summary"].iloc[0]


def test_marketing_claims_are_unsupported(seed_reconciled):
    disc, ev, _ = seed_reconciled
    claims = disc[disc["kind"] == "unsupported_claim"]
    labels = set(claims["concept_label"])
    assert {"Neoplasm", "Gastrointestinal hemorrhage", "Respiratory arrest"} <= labels
    assert not claims["supported"].any()
    for did in claims["discrepancy_id"]:
        assert set(ev.loc[ev["discrepancy_id"] == did, "authority"]) <= {4, 5}


def test_unsupported_stance_ranks_below_reference_conflict(seed_reconciled):
    disc, _, _ = seed_reconciled
    ref = _by_label(disc, "stance", "Pregnancy")
    marketing_only = disc[(disc["topic"] == "stance") & ~disc["supported"]]
    assert (marketing_only["score"] < ref["score"]).all()


def test_empty_side_effect_list_is_listed_for_editors(seed_reconciled):
    disc, _, _ = seed_reconciled
    dq = disc[disc["topic"] == "data_quality"]
    assert any("adverse effects cannot be compared" in s for s in dq["summary"])


def test_every_evidence_row_quotes_its_source(seed_split, seed_reconciled):
    _, ev, _ = seed_reconciled
    text_of = dict(zip(seed_split[0]["source_id"], seed_split[0]["text"]))
    for r in ev.itertuples():
        assert text_of[r.source_id][r.quote_start:r.quote_end] == r.quote


def test_ids_hash_drug_topic_and_key_not_sources(seed_split, seed_matched, seed_reconciled):
    disc, _, _ = seed_reconciled
    row = disc[disc["topic"] == "dose"].iloc[0]
    assert row["discrepancy_id"] == discrepancy_id(row["drug"], row["topic"], row["comparison_key"])
    # dropping a source that takes part does not change the id of what remains in dispute
    sources = seed_split[0]
    keep = sources[sources["kind"] != "overview_article"]
    facts = {t: f[f["source_id"].isin(set(keep["source_id"]))] for t, f in seed_matched.items()}
    disc2, _, _ = reconcile(keep, facts["dosing"].assign(indication_concept_id=""), facts["adverse_effects"],
                            facts["conditions"], facts["interactions"], facts["statements"], facts["data_quality"])
    assert row["discrepancy_id"] in set(disc2["discrepancy_id"])


def test_severity_counts_are_recorded(seed_reconciled):
    """The counts reviewed by hand (README 'Discrepancies on the seed')."""
    disc, _, _ = seed_reconciled
    counts = disc["severity"].value_counts().to_dict()
    assert counts.get("critical", 0) == 1
    assert 15 <= counts.get("major", 0) <= 30


def test_seo_page_that_follows_the_monograph_is_not_independent(seed_reconciled):
    disc, ev, deps = seed_reconciled
    pairs = set(zip(deps["source_id"], deps["restates_source_id"]))
    assert pairs == {("baclofen-overview_article", "baclofen-us_monograph")}
    overview = ev[ev["source_id"] == "baclofen-overview_article"]
    assert len(overview) and not overview["independent"].any()
