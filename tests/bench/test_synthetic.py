"""The synthetic corpus generator (pipeline.synthetic): deterministic, free of the seed's names,
and the real pipeline reads it unchanged. No timing here: the benchmark measures, tests check."""

import ast
import hashlib
import os
import re
from pathlib import Path

import pytest

from pipeline.synthetic import generate_corpus
from tests.conftest import SEED  # the seed pages (raw/baclofen_sources.txt)
from tests.unit.test_no_seed_specifics import SEED_NAMES  # the seed's drug, brand and publisher names



def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_other_seed_other_corpus(tmp_path):
    a = generate_corpus(tmp_path / "a", 4, seed=7)
    b = generate_corpus(tmp_path / "b", 4, seed=7)
    c = generate_corpus(tmp_path / "c", 4, seed=8)
    assert _digest(Path(a["raw_dir"])) == _digest(Path(b["raw_dir"]))
    assert _digest(Path(a["raw_dir"])) != _digest(Path(c["raw_dir"]))
    assert a["sources"] == 20 and len(a["names"]) == len(set(a["names"])) == 4


def test_a_small_corpus_is_the_start_of_a_large_one(tmp_path):
    small = generate_corpus(tmp_path / "s", 3, seed=1)
    large = generate_corpus(tmp_path / "l", 6, seed=1)
    assert large["names"][:3] == small["names"]
    for name in small["names"]:
        f = f"{name}_sources.txt"
        assert (Path(small["raw_dir"]) / f).read_bytes() == (Path(large["raw_dir"]) / f).read_bytes()


def test_no_seed_drug_brand_or_publisher_name(tmp_path):
    info = generate_corpus(tmp_path, 25, seed=0)
    for path in Path(info["raw_dir"]).iterdir():
        text = path.read_text(encoding="utf-8").lower()
        for name in SEED_NAMES:
            assert name not in text, f"{path.name} contains {name!r}"


def test_every_page_has_the_five_formats_and_varies(tmp_path):
    from pipeline.registry import load_registry

    info = generate_corpus(tmp_path, 5, seed=2)
    entries, problems = load_registry(Path(info["raw_dir"]) / "registry.toml")
    assert not problems
    kinds = {}
    for e in entries:
        kinds.setdefault(e.drug, set()).add(e.kind)
    assert all(k == {"overview_article", "us_monograph", "medical_article", "clinic_text", "ru_reference"}
               for k in kinds.values())
    texts = [Path(info["raw_dir"], f"{d}_sources.txt").read_text(encoding="utf-8") for d in info["names"]]
    assert len({len(t) for t in texts}) == len(texts)  # structure varies from drug to drug


@pytest.fixture(scope="module")
def run_on_three_drugs(tmp_path_factory, vocabulary):
    """The real stages (split, sections, extraction, matching, reconciliation, history, report,
    checks, publication) on a 3-drug corpus, as the benchmark runs them."""
    from pipeline import bench

    out = tmp_path_factory.mktemp("bench3")
    raw = Path(generate_corpus(out, 3, seed=5)["raw_dir"])
    cache = out / "cache"
    bench.copy_vocabulary(Path(os.environ["DRUG_FACTS_CACHE_DIR"]), cache)
    kept: dict = {}
    run = bench.run_pipeline(raw, out / "work", cache, workers=1, label="test", keep_outputs=kept)
    return run, kept["tables"], raw


def test_the_real_pipeline_finds_facts_for_every_drug(run_on_three_drugs):
    run, tables, raw = run_on_three_drugs
    drugs = set(tables["sources"]["drug"])
    assert len(drugs) == 3 and len(tables["sources"]) == 15
    assert not (tables["quarantine"]["severity"] == "error").any(), tables["quarantine"]
    drug_of = dict(zip(tables["sources"]["source_id"], tables["sources"]["drug"]))
    for table in ("adverse_effects", "conditions", "dosing", "interactions", "statements", "drug_profile"):
        assert set(tables[table]["source_id"].map(drug_of)) == drugs, f"{table} lacks a drug"
    matched = tables["adverse_effects"]
    assert (matched["concept_id"] != "").mean() > 0.5  # most effects carry a vocabulary concept
    assert set(tables["discrepancies"]["drug"]) == drugs


def test_the_benchmark_stages_all_ran_and_checked(run_on_three_drugs):
    run, tables, _ = run_on_three_drugs
    names = [s.name for s in run.stages]
    assert names[:5] == ["split", "sections", "extract", "match", "reconcile"]
    assert {"report", "publish", "checks"} <= set(names)
    assert run.stage("checks").note == "all passed"
    assert all(s.rows > 0 for s in run.stages)


# ------------------------------------------------------------------ no seed text in the templates
def _words(text: str) -> list[str]:
    """Lower-cased words, punctuation stripped, white space normalised. Numbers are left out, as
    in the rule-file check: they are the random part, and a pasted sentence with new numbers
    is still pasted."""
    return re.findall(r"[^\W\d_]+", text.lower())


def _runs(words: list[str], n: int = 8) -> set[str]:
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def _template_strings() -> list[str]:
    """Every string literal of pipeline/synthetic.py, f-string pieces included (a placeholder
    ends a run: it is filled with a random word)."""
    import pipeline.synthetic as synthetic

    tree = ast.parse(Path(synthetic.__file__).read_text(encoding="utf-8"))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_no_run_of_eight_seed_words_in_the_corpus_or_the_templates(tmp_path):
    """The templates are the project's own wording: no run of eight words of the seed pages
    appears in a generated corpus or in any string literal of the generator."""
    seed_runs = _runs(_words(SEED.read_text(encoding="utf-8")))
    info = generate_corpus(tmp_path, 5, seed=0)
    found: dict[str, set[str]] = {}
    for path in sorted(Path(info["raw_dir"]).glob("*_sources.txt")):
        found[path.name] = _runs(_words(path.read_text(encoding="utf-8"))) & seed_runs
    for k, literal in enumerate(_template_strings()):
        found[f"synthetic.py literal {k}"] = _runs(_words(literal)) & seed_runs
    found = {where: runs for where, runs in found.items() if runs}
    assert not found, "seed text in the synthetic corpus: " + "; ".join(
        f"{where}: {sorted(runs)[:3]}" for where, runs in list(found.items())[:5])
