"""Generate docs/DATA_DICTIONARY.md from the pandera models and the view descriptions.

``python -m pipeline.docs`` rewrites the file; ``tests/unit/test_docs.py`` fails when the
committed file differs from what the models generate.
"""

from __future__ import annotations

import sys

from pipeline.paths import PROJECT_ROOT
from pipeline.schemas import WAREHOUSE_MODELS, table_description
from pipeline.views import DERIVED_COLUMN_COMMENTS, VIEW_COMMENTS

DICTIONARY = PROJECT_ROOT / "docs" / "DATA_DICTIONARY.md"


def _type(dtype) -> str:
    name = str(dtype).lower()
    for key, simple in (("int", "integer"), ("float", "double"), ("bool", "boolean"), ("str", "text")):
        if key in name:
            return simple
    return name


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render() -> str:
    lines = ["# Data dictionary", "",
             "Generated from the pandera models in `pipeline/schemas.py` by `python -m pipeline.docs`; the same "
             "text is stored in the warehouse as `COMMENT ON` (see `duckdb_columns()`). Do not edit by hand.", ""]
    lines += ["## Tables", ""]
    for name, model in WAREHOUSE_MODELS.items():
        schema = model.to_schema()
        lines += [f"### `{name}`", "", _cell(table_description(model)), "", "| column | type | nullable | description |",
                  "|---|---|---|---|"]
        for col_name, col in schema.columns.items():
            lines.append(f"| `{col_name}` | {_type(col.dtype)} | {'yes' if col.nullable else 'no'} | {_cell(col.description or '')} |")
        lines.append("")
    lines += ["## Views", "", "View columns take the description of the table column of the same name (of the "
                                  "table `v_<table>` is named after, if any); derived columns (`view.column`: that "
                                  "view's column only):", ""]
    for name, text in VIEW_COMMENTS.items():
        lines += [f"- `{name}`: {_cell(text)}"]
    lines += ["", "| derived column | description |", "|---|---|"]
    lines += [f"| `{c}` | {_cell(t)} |" for c, t in DERIVED_COLUMN_COMMENTS.items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    DICTIONARY.parent.mkdir(parents=True, exist_ok=True)
    DICTIONARY.write_text(render(), encoding="utf-8")
    print(f"wrote {DICTIONARY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
