"""Cutting a table by a key (a drug, a source) in one pass.

Filtering a whole table once per key is quadratic in the number of keys; these functions read
the key column once and cut every group from it, keeping the rows' original order."""

from __future__ import annotations

from collections import namedtuple
from operator import itemgetter

import pandas as pd


def positions_by_key(keys: list) -> dict:
    """key -> row positions (ascending) of the rows carrying that key."""
    out: dict = {}
    for i, k in enumerate(keys):
        out.setdefault(k, []).append(i)
    return out


def rows_by_key(frame: pd.DataFrame, keys: list) -> dict:
    """key -> the rows of ``frame`` carrying that key (original order and index labels), cut
    from one reordered copy: a single take for the whole table, then a slice per key."""
    positions = positions_by_key(keys)
    grouped = frame.take([i for rows in positions.values() for i in rows])
    out, start = {}, 0
    for key, rows in positions.items():
        out[key] = grouped.iloc[start:start + len(rows)]
        start += len(rows)
    return out


def columns_by_key(frame: pd.DataFrame, keys: list, only: tuple[str, ...] | None = None) -> dict:
    """key -> {column: values of the rows carrying that key, in order} (``only`` those columns)."""
    return columns_by_positions(frame, positions_by_key(keys), only)


def columns_by_positions(frame: pd.DataFrame, positions: dict, only: tuple[str, ...] | None = None) -> dict:
    """``columns_by_key`` from the row positions of each key (``positions_by_key``)."""
    columns = {c: frame[c].tolist() for c in frame.columns if only is None or c in only}
    out = {}
    for key, rows in positions.items():
        pick = itemgetter(*rows)
        out[key] = {c: list(pick(values)) if len(rows) > 1 else [values[rows[0]]] for c, values in columns.items()}
    return out


def column_rows(frame: pd.DataFrame, columns: tuple[str, ...]) -> list:
    """The rows of ``frame`` as named tuples of ``columns``, read column by column
    (``itertuples`` converts every cell of every column, one at a time for Arrow-backed text)."""
    row = namedtuple("Row", columns)
    return [row(*values) for values in zip(*(frame[c].tolist() for c in columns))] if len(frame) else []
