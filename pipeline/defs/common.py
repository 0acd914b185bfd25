"""Metadata helpers shared by the assets: row counts, previews and column schemas that the
Dagster UI shows for every materialisation."""


import dagster as dg
import pandas as pd

from pipeline.schemas import WAREHOUSE_MODELS, column_descriptions, table_description

from functools import partial

from tqdm import tqdm

# A progress bar per stage on the terminal (hidden when the output is not a terminal).
progress_bar = partial(tqdm, disable=None, unit="source", leave=True)

PREVIEW_ROWS = 5
PREVIEW_CHARS = 80


def _short(value) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def preview_markdown(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    if frame.empty:
        return "_no rows_"
    cols = [c for c in frame.columns if c not in ("text",)][:10]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = "".join("| " + " | ".join(_short(v).replace("|", "\\|") for v in r) + " |\n"
                   for r in frame[cols].head(rows).itertuples(index=False))
    return head + body


def table_metadata(name: str, frame: pd.DataFrame) -> dict:
    meta: dict = {"dagster/row_count": int(len(frame)), "preview": dg.MetadataValue.md(preview_markdown(frame))}
    model = WAREHOUSE_MODELS.get(name)
    if model is not None:
        descs = column_descriptions(model)
        meta["dagster/column_schema"] = dg.TableSchema(columns=[
            dg.TableColumn(name=c, type=str(frame[c].dtype) if c in frame else "missing", description=descs.get(c, ""))
            for c in descs])
    return meta


def table_description_of(name: str, fallback: str = "") -> str:
    model = WAREHOUSE_MODELS.get(name)
    return table_description(model) if model is not None else fallback
