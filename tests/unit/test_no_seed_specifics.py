"""Nothing specific to the seed in extraction code or rule files: no drug or brand name, no dose
value, no page heading or sentence of the seed."""

import re

import pytest

from tests.conftest import ROOT, SEED

RULE_FILES = [*sorted((ROOT / "pipeline" / "extract").glob("*.py")), ROOT / "pipeline" / "sections.py",
              ROOT / "pipeline" / "split.py", ROOT / "pipeline" / "textutil.py",
              *(ROOT / "pipeline" / "data" / n for n in ("section_cues.yaml", "extraction_cues.yaml",
                                                         "dose_notation.yaml", "statement_patterns.yaml"))]
SEED_NAMES = ["baclofen", "baclosan", "balcofen", "lioresal", "gablofen", "ozobax", "fleqsuvy", "lyvispah", "cerner", "multum"]


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_file_names_no_seed_drug_or_brand(path):
    text = path.read_text(encoding="utf-8").lower()
    for name in SEED_NAMES:
        assert name not in text, f"{path.name} mentions {name!r}"


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_file_has_no_seed_dose_values(path):
    text = path.read_text(encoding="utf-8")
    for value in ("80 mg", "100 mg", "30-75", "20 mg", "1134-47-0", "1-800-222-1222", "150-85-96"):
        assert value not in text, f"{path.name} contains the seed value {value!r}"


def test_rule_files_quote_no_seed_sentence():
    """No run of eight words of the seed appears in a rule file (headings are matched by wording cues)."""
    words = re.findall(r"[a-z]+", SEED.read_text(encoding="utf-8").lower())
    shingles = {" ".join(words[i:i + 8]) for i in range(len(words) - 7)}
    for path in RULE_FILES:
        rule_words = re.findall(r"[a-z]+", path.read_text(encoding="utf-8").lower())
        for i in range(len(rule_words) - 7):
            assert " ".join(rule_words[i:i + 8]) not in shingles, f"{path.name} repeats seed text"
