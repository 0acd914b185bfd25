"""Export the published tables to Parquet for other tools (warehouse/parquet/<table>.parquet),
written by DuckDB from the published file, so full and incremental runs export the same way."""

from __future__ import annotations

from pathlib import Path


def export_from_database(db_path: Path, names: list[str], directory: Path) -> Path:
    """Write each named table of the DuckDB file to ``directory/<name>.parquet`` with DuckDB's
    own writer (each file written beside its final name and renamed)."""
    import duckdb

    from pipeline.warehouse import _quote_ident

    directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        for name in names:
            tmp = directory / f"{name}.parquet.tmp"
            con.execute(f"COPY (SELECT * FROM {_quote_ident(name)}) TO '{tmp.as_posix()}' (FORMAT PARQUET)")
            tmp.replace(directory / f"{name}.parquet")
    finally:
        con.close()
    return directory
