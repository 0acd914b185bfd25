"""The data dictionary and the warehouse comments come from the same models and cannot drift."""

from pipeline.docs import DICTIONARY, render
from pipeline.schemas import WAREHOUSE_MODELS, column_descriptions, table_description


def test_data_dictionary_is_up_to_date():
    assert DICTIONARY.read_text(encoding="utf-8") == render(), "run: .venv/bin/python -m pipeline.docs"


def test_every_table_and_column_is_described():
    for name, model in WAREHOUSE_MODELS.items():
        assert table_description(model), name
        for column, text in column_descriptions(model).items():
            assert text and len(text) > 3, f"{name}.{column}"
