"""Shared fixtures. The seed is split, sectioned and extracted once per session; the vocabulary
(HPO takes ~30 s to load) is built once into a session cache shared by every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "raw" / "baclofen_sources.txt"
GOLD = ROOT / "tests" / "gold" / "baclofen_gold.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "docs"


@pytest.fixture(scope="session", autouse=True)
def _isolated_dagster_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    cache = Path(os.environ.get("DRUG_FACTS_TEST_CACHE", ROOT / "warehouse" / "cache"))
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["DRUG_FACTS_CACHE_DIR"] = str(cache)
    yield


@pytest.fixture(scope="session")
def seed_split():
    from pipeline.registry import load_registry
    from pipeline.split import split_all

    entries, problems = load_registry(ROOT / "raw" / "registry.toml")
    assert not problems
    sources, segments, split_problems = split_all(ROOT / "raw", entries, 10**8, 0.05)
    return sources, segments, split_problems


@pytest.fixture(scope="session")
def seed_sections(seed_split):
    from pipeline.sections import section_all

    sources = seed_split[0]
    sections, items, problems = section_all(sources)
    assert not problems
    return sections, items


@pytest.fixture(scope="session")
def seed_facts(seed_split, seed_sections):
    from pipeline.extract import extract_all

    frames, problems = extract_all(seed_split[0], *seed_sections)
    assert not problems
    return frames


@pytest.fixture(scope="session")
def vocabulary():
    from pipeline.normalise import load_or_build_vocabulary

    concepts, terms, info = load_or_build_vocabulary(Path(os.environ["DRUG_FACTS_CACHE_DIR"]))
    return concepts, terms


@pytest.fixture(scope="session")
def matcher(vocabulary):
    from pipeline.match import Matcher

    return Matcher(*vocabulary)


@pytest.fixture(scope="session")
def seed_matched(seed_split, seed_facts, matcher):
    from pipeline.match import match_table

    sources = seed_split[0]
    drug_of = dict(zip(sources["source_id"], sources["drug"]))
    out = dict(seed_facts)
    for table in ("adverse_effects", "conditions", "interactions"):
        out[table] = match_table(seed_facts[table], table, matcher, drug_of)
    return out


@pytest.fixture(scope="session")
def gold():
    from pipeline.evaluation import load_gold

    return load_gold(GOLD)


@pytest.fixture()
def workdirs(tmp_path, monkeypatch):
    """A copy of raw/ and empty warehouse, reports and decisions locations for one test."""
    import shutil

    shutil.copytree(ROOT / "raw", tmp_path / "raw")
    monkeypatch.setenv("DRUG_FACTS_RAW_DIR", str(tmp_path / "raw"))
    monkeypatch.setenv("DRUG_FACTS_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DRUG_FACTS_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("DRUG_FACTS_DECISIONS", str(tmp_path / "decisions.csv"))
    return tmp_path
