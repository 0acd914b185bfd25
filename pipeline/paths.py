"""Where the pipeline reads and writes. Every location can be moved with an environment
variable so tests and benchmarks run the real code on their own trees."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"


def raw_dir() -> Path:
    """Folder holding the raw documents and ``registry.toml``."""
    return Path(os.environ.get("DRUG_FACTS_RAW_DIR", PROJECT_ROOT / "raw")).resolve()


def warehouse_dir() -> Path:
    return Path(os.environ.get("DRUG_FACTS_WAREHOUSE_DIR", PROJECT_ROOT / "warehouse")).resolve()


def reports_dir() -> Path:
    return Path(os.environ.get("DRUG_FACTS_REPORTS_DIR", PROJECT_ROOT / "reports")).resolve()


def cache_dir() -> Path:
    """Vocabulary and per-source caches (git-ignored); shared between runs."""
    return Path(os.environ.get("DRUG_FACTS_CACHE_DIR", warehouse_dir() / "cache")).resolve()


def parquet_dir() -> Path:
    """The Parquet export of the published tables (``pipeline.export``); the next run reads the
    history tables from it."""
    return warehouse_dir() / "parquet"


def warehouse_path() -> Path:
    return warehouse_dir() / "drug_facts.duckdb"


def registry_path() -> Path:
    return raw_dir() / "registry.toml"


def decisions_path() -> Path:
    """Editors' decisions file (CSV), kept in git beside the reports."""
    return Path(os.environ.get("DRUG_FACTS_DECISIONS", reports_dir() / "decisions.csv")).resolve()


def thresholds() -> dict:
    """Limits and thresholds from ``data/thresholds.yaml`` (each documented there)."""
    import yaml

    with open(DATA_DIR / "thresholds.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)
