"""Export the published tables to Parquet for other tools (warehouse/parquet/<table>.parquet)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def export_parquet(tables: dict[str, pd.DataFrame], directory: Path) -> Path:
    """Write each table to ``directory/<name>.parquet`` (each file replaced atomically)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        tmp = directory / f"{name}.parquet.tmp"
        frame.to_parquet(tmp, index=False)
        tmp.replace(directory / f"{name}.parquet")
    return directory
