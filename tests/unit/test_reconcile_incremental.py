"""The per-drug reconciliation cache returns exactly what a full reconciliation returns, and
re-compares only the drugs whose inputs changed."""

from pathlib import Path

import pandas as pd
import pytest

from pipeline.cache import SourceCache
from pipeline.match import concept_relations, match_table
from pipeline.parallel import parse_sources
from pipeline.reconcile import drug_input_keys, reconcile, reconcile_incremental
from pipeline.registry import load_registry
from pipeline.synthetic import generate_corpus


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, matcher, vocabulary):
    raw = Path(generate_corpus(tmp_path_factory.mktemp("corpus"), 5, seed=11)["raw_dir"])
    entries, problems = load_registry(raw / "registry.toml")
    assert not problems
    parsed = parse_sources(raw, entries, 10**8, 0.05, workers=1)
    drug_of = dict(zip(parsed.sources["source_id"], parsed.sources["drug"]))
    matched = {t: match_table(parsed.facts[t], t, matcher, drug_of) for t in ("adverse_effects", "conditions", "interactions")}
    used = pd.concat([f[["source_id", "concept_id"]] for f in matched.values()], ignore_index=True)
    used["drug"] = used["source_id"].map(drug_of)
    concepts = vocabulary[0]
    return {"sources": parsed.sources, "dosing": parsed.facts["dosing"], **matched,
            "statements": parsed.facts["statements"], "data_quality": parsed.facts["data_quality"],
            "relations": concept_relations(used, concepts),
            "population_ids": set(concepts.loc[concepts["kind"] == "population", "concept_id"])}


def _args(i):
    return (i["sources"], i["dosing"], i["adverse_effects"], i["conditions"], i["interactions"], i["statements"],
            i["data_quality"], i["relations"], i["population_ids"])


def _equal(a, b):
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y)


def test_cold_warm_and_one_drug_changed_equal_a_full_reconciliation(inputs, tmp_path):
    cache = SourceCache(tmp_path, "reconcile", "test")
    full = reconcile(*_args(inputs))
    assert len(full[0]) > 0 and full[0]["drug"].nunique() == 5
    cold = reconcile_incremental(*_args(inputs), cache=cache)
    _equal(full, cold[:3])
    assert cold[3] == {"drugs": 5, "recomputed": 5}
    warm = reconcile_incremental(*_args(inputs), cache=cache)
    _equal(full, warm[:3])
    assert warm[3] == {"drugs": 5, "recomputed": 0}

    # one drug loses an adverse effect: only it is compared again, and the result is the full one
    ae = inputs["adverse_effects"]
    drug_of = dict(zip(inputs["sources"]["source_id"], inputs["sources"]["drug"]))
    changed_drug = drug_of[ae["source_id"].iloc[0]]
    edited = {**inputs, "adverse_effects": ae.drop(ae.index[0]).reset_index(drop=True)}
    after = reconcile_incremental(*_args(edited), cache=cache)
    _equal(reconcile(*_args(edited)), after[:3])
    assert after[3] == {"drugs": 5, "recomputed": 1}
    keys_before, keys_after = drug_input_keys(inputs, inputs["population_ids"]), drug_input_keys(edited, edited["population_ids"])
    assert {d for d in keys_before if keys_before[d] != keys_after[d]} == {changed_drug}


def test_without_a_cache_every_drug_is_compared(inputs):
    out = reconcile_incremental(*_args(inputs), cache=None)
    _equal(reconcile(*_args(inputs)), out[:3])
    assert out[3]["recomputed"] == out[3]["drugs"] == 5


def test_report_pages_written_by_worker_processes_equal_the_serial_ones(inputs, tmp_path):
    import filecmp

    from pipeline.report import write_reports

    disc, ev, _ = reconcile(*_args(inputs))
    for workers in (1, 2):
        write_reports(tmp_path / f"w{workers}", inputs["sources"], disc, ev, inputs["conditions"],
                      inputs["adverse_effects"], {}, workers=workers)
    files = sorted(p.relative_to(tmp_path / "w1") for p in (tmp_path / "w1").rglob("*") if p.is_file())
    assert len([f for f in files if f.parts[0] == "drugs"]) == 5
    assert files == sorted(p.relative_to(tmp_path / "w2") for p in (tmp_path / "w2").rglob("*") if p.is_file())
    assert all(filecmp.cmp(tmp_path / "w1" / f, tmp_path / "w2" / f, shallow=False) for f in files)


def test_each_drug_reconciled_alone_gives_its_rows_of_the_full_run(inputs):
    """Reconciliation only compares the sources of one drug: nothing of another drug (not even the
    wording chosen as a label) may reach a drug's rows, or the per-drug cache would go stale."""
    full_disc, full_ev, _ = reconcile(*_args(inputs))
    drug_of = dict(zip(inputs["sources"]["source_id"], inputs["sources"]["drug"]))
    for drug in sorted(set(drug_of.values())):
        def only(frame):
            if frame.empty:
                return frame
            drugs = frame["drug"] if "drug" in frame else frame["source_id"].map(drug_of)
            return frame[(drugs == drug).to_numpy()].reset_index(drop=True)

        alone = {**{k: only(v) if isinstance(v, pd.DataFrame) else v for k, v in inputs.items()}}
        disc, ev, _ = reconcile(*_args(alone))
        expected = full_disc[full_disc["drug"] == drug].reset_index(drop=True)
        pd.testing.assert_frame_equal(disc, expected)
        pd.testing.assert_frame_equal(ev, full_ev[full_ev["discrepancy_id"].isin(set(expected["discrepancy_id"]))]
                                      .reset_index(drop=True))


def test_batches_of_drugs_in_worker_processes_equal_a_full_reconciliation(inputs, tmp_path, monkeypatch):
    import pipeline.reconcile as rec

    monkeypatch.setattr(rec, "FORK_MIN_DRUGS", 2)
    cache = SourceCache(tmp_path, "reconcile", "test")
    out = reconcile_incremental(*_args(inputs), cache=cache, workers=2)
    _equal(reconcile(*_args(inputs)), out[:3])
    assert len(cache.used) == 5 and SourceCache(tmp_path, "reconcile", "test").keys() == cache.used
    assert len(list((tmp_path / "sources").glob("*.pack"))) >= 2  # one pack per worker batch
    warm = reconcile_incremental(*_args(inputs), cache=cache, workers=2)
    assert warm[3]["recomputed"] == 0
    _equal(out[:3], warm[:3])


def test_a_drugs_labels_come_from_its_own_wording(inputs):
    """Two drugs naming the same unmatched condition in different wording ("Angina" / "angina")
    each keep their own wording in their discrepancy labels."""
    cond = inputs["conditions"]
    sources = inputs["sources"]
    drug = sorted(sources["drug"])[0]
    ids = sources.loc[sources["drug"] == drug, "source_id"].tolist()
    row = cond[cond["source_id"] == ids[0]].iloc[[0]].copy()
    row[["concept_id", "concept_label", "mention", "stance"]] = ["", "", "made-up syndrome", "contraindicated"]
    other = row.copy()
    other[["source_id", "stance"]] = [ids[1], "indication"]
    twin_sources = sources[sources["drug"] == drug].copy()
    twin_sources["drug"] = "zz-twin"
    twin_sources["source_id"] = "zz-" + twin_sources["source_id"]
    twin = pd.concat([row, other]).assign(source_id=lambda f: "zz-" + f["source_id"], mention="MADE-UP SYNDROME")
    edited = {**inputs, "sources": pd.concat([sources, twin_sources], ignore_index=True),
              "conditions": pd.concat([cond, row, other, twin], ignore_index=True)}
    disc, _, _ = reconcile(*_args(edited))
    labels = dict(zip(disc.loc[disc["comparison_key"] == "text:made-up syndrome", "drug"],
                      disc.loc[disc["comparison_key"] == "text:made-up syndrome", "concept_label"]))
    assert labels == {drug: "made-up syndrome", "zz-twin": "MADE-UP SYNDROME"}
