"""Export the published tables to Parquet for other tools, written by DuckDB from the published
file, so full and incremental runs export the same way.

Each table is a folder ``<directory>/<table>/``. Tables tied to drugs (see
``pipeline.delta.DELTA_KEYS``) are split into up to 16 hive partitions ``bucket=<c>/data_0.parquet``
by the first hex digit of the MD5 of the row's drug (through its source or discrepancy when the
table has no drug column) or, for raw segments, of its raw file, so an incremental run rewrites
only the bucket of each drug it re-processed. The others (history, quarantine, reviews, runs,
vocabularies) are one file, ``all.parquet``. Read a table whole with
``read_parquet('warehouse/parquet/<table>/**/*.parquet')`` in DuckDB or
``pandas.read_parquet('warehouse/parquet/<table>')`` (both add the ``bucket`` column).
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path

BUCKET_FILE = "data_0.parquet"
SINGLE_FILE = "all.parquet"


def bucket_of(key: str) -> str:
    """The bucket of a drug, source id or raw path: the same digit DuckDB's md5() gives."""
    return hashlib.md5((key or "").encode("utf-8")).hexdigest()[0]


def _rule(table: str) -> tuple[str, str] | None:
    """(key kind, column) the table is bucketed by: ("drug", col) for rows tied to a drug through
    col (the drug itself, a source of it or a discrepancy of it), ("file", col) for rows of a raw
    file; None for a table kept in one file (tables an incremental run rewrites whole)."""
    from pipeline.delta import DELTA_KEYS, SEEN_BY_EVERY_RUN

    how, col = DELTA_KEYS[table]
    if table in SEEN_BY_EVERY_RUN or table == "quarantine" or how not in ("drug", "source", "file", "discrepancy"):
        return None
    return ("file", col) if how == "file" else ("drug", col)


def _select(table: str) -> str | None:
    """SELECT of the table's rows with their ``bucket``; None for a table kept in one file."""
    from pipeline.delta import DELTA_KEYS
    from pipeline.warehouse import _quote_ident

    if _rule(table) is None:
        return None
    how, col = DELTA_KEYS[table]
    t = _quote_ident(table)
    if how in ("drug", "file"):
        return f"SELECT *, substr(md5(coalesce(CAST({_quote_ident(col)} AS VARCHAR), '')), 1, 1) AS bucket FROM {t}"
    lookup = "sources" if how == "source" else "discrepancies"
    return (f"SELECT x.*, substr(md5(coalesce(k.drug, '')), 1, 1) AS bucket FROM {t} x "
            f"LEFT JOIN (SELECT {_quote_ident(col)}, any_value(drug) AS drug FROM {lookup} "
            f"GROUP BY {_quote_ident(col)}) k USING ({_quote_ident(col)})")


def _bucket_rows(con, table: str, bucket: str) -> str:
    """SELECT of the rows of one bucket, without computing a hash per row: the drugs (or files)
    of the bucket are listed first and the rows found by key."""
    from pipeline.delta import DELTA_KEYS
    from pipeline.warehouse import _quote_ident

    how, col = DELTA_KEYS[table]
    t, c = _quote_ident(table), _quote_ident(col)
    if how in ("drug", "file"):
        keys = [k for (k,) in con.execute(f"SELECT DISTINCT CAST({c} AS VARCHAR) FROM {t}").fetchall()
                if bucket_of(k or "") == bucket]
        where = f"coalesce(CAST({c} AS VARCHAR), '') IN (SELECT unnest(?::VARCHAR[]))"
        return where, [[k or "" for k in keys]]
    lookup = "sources" if how == "source" else "discrepancies"
    drugs = [d for (d,) in con.execute(f"SELECT DISTINCT drug FROM {lookup}").fetchall() if bucket_of(d or "") == bucket]
    where = (f"{c} IN (SELECT {c} FROM {lookup} WHERE drug IN (SELECT unnest(?::VARCHAR[])))"
             + (f" OR {c} NOT IN (SELECT {c} FROM {lookup})" if bucket == bucket_of("") else ""))
    return where, [drugs]


def _lit(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"


def _swap_dir(new: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def export_from_database(db_path: Path, names: list[str], directory: Path,
                         buckets: dict[str, set[str] | None] | None = None) -> Path:
    """Write the named tables of the DuckDB file under ``directory`` (layout in the module
    docstring). ``buckets``: table -> the buckets to rewrite (None: the whole table); without it
    every table is written whole, into a new folder swapped in for the old one."""
    import duckdb

    from pipeline.warehouse import _quote_ident

    directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        for name in names:
            select = _select(name)
            final = directory / name
            only = None if buckets is None else buckets.get(name)
            if buckets is not None and name not in buckets:
                continue
            if only is None or select is None or not final.exists():
                tmp = directory / f".{name}.new-{uuid.uuid4().hex[:8]}"
                if select is None:
                    tmp.mkdir()
                    con.execute(f"COPY (SELECT * FROM {_quote_ident(name)}) TO {_lit(tmp / SINGLE_FILE)} (FORMAT PARQUET)")
                else:
                    con.execute(f"COPY ({select}) TO {_lit(tmp)} (FORMAT PARQUET, PARTITION_BY (bucket))")
                    tmp.mkdir(exist_ok=True)  # a table with no rows writes no partition
                _swap_dir(tmp, final)
                continue
            for b in sorted(only):
                where, params = _bucket_rows(con, name, b)
                part = final / f"bucket={b}"
                n = con.execute(f"SELECT count(*) FROM {_quote_ident(name)} WHERE {where}", params).fetchone()[0]
                if not n:
                    shutil.rmtree(part, ignore_errors=True)
                    continue
                part.mkdir(parents=True, exist_ok=True)
                tmp = part / ".data.parquet.tmp"
                con.execute(f"COPY (SELECT * FROM {_quote_ident(name)} WHERE {where}) TO {_lit(tmp)} (FORMAT PARQUET)",
                            params)
                tmp.replace(part / BUCKET_FILE)
                for other in part.glob("*.parquet"):  # a full export may have written several files
                    if other.name != BUCKET_FILE:
                        other.unlink()
    finally:
        con.close()
    return directory


def read_exported(directory: Path, name: str):
    """One exported table as a DataFrame (without the bucket column), or None when absent."""
    import pandas as pd

    folder = directory / name
    if not folder.is_dir() or not any(folder.rglob("*.parquet")):
        return None
    frame = pd.read_parquet(folder)
    return frame.drop(columns=["bucket"], errors="ignore")
