"""Other checkable claims (taper duration, missed-dose rule, driving, alcohol, storage,
dependence, pharmacokinetics) from sentence patterns in ``data/statement_patterns.yaml``."""

from __future__ import annotations

import re
from functools import lru_cache

import yaml

from pipeline.extract.prefilter import any_may_match, lowered, may_match
from pipeline.extract.units import Unit
from pipeline.paths import DATA_DIR

_UNIT_DAYS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30}
_VAGUE = {"several days": (2, 7), "several weeks": (14, 56), "several months": (60, 180)}


@lru_cache(maxsize=1)
def _rules():
    with open(DATA_DIR / "statement_patterns.yaml", encoding="utf-8") as fh:
        d = yaml.safe_load(fh)
    return [(r["topic"], r["unit"], set(r["topics"]), re.compile(r["pattern"], re.I)) for r in d["rules"]]


def _value(text: str, unit: str) -> tuple[float | None, float | None]:
    if unit == "rule" or not text:
        return None, None
    t = text.lower()
    for vague, (lo, hi) in _VAGUE.items():
        if t.startswith(vague):
            if "or months" in t:
                hi = 180
            return float(lo), float(hi)
    nums = [float(n.replace(",", ".")) for n in re.findall(r"\d+(?:[.,]\d+)?", t)]
    if not nums:
        return None, None
    factor = 1.0
    if unit == "days":
        word = re.search(r"(days?|weeks?|months?)", t)
        factor = _UNIT_DAYS.get(word.group(1), 1) if word else 1
    return nums[0] * factor, nums[-1] * factor


@lru_cache(maxsize=1)
def _patterns() -> list:
    return [rule[3] for rule in _rules()]


def statement_rows(units: list[Unit]) -> list[dict]:
    rows: list[dict] = []
    seen: set[tuple[str, int]] = set()
    for u in units:
        if u.topic == "boilerplate":
            continue
        low = lowered(u.text)
        if not any_may_match(_patterns(), low):
            continue
        for topic, unit, topics, pattern in _rules():
            if topics and u.topic not in topics or not may_match(pattern, low):
                continue
            for m in pattern.finditer(u.text):
                key = (topic, u.start + m.start())
                if key in seen:
                    continue
                seen.add(key)
                group = next((g for g in ("v", "v2") if g in pattern.groupindex and m.group(g)), None)
                value_text = m.group(group) if group else m.group(0).strip()
                lo, hi = _value(value_text, unit)
                s, e = (m.start(group), m.end(group)) if group else (m.start(), m.end())
                rows.append({"unit_obj": u, "char_start": u.start + s, "char_end": u.start + len(u.text[:e].rstrip()),
                             "topic": topic, "value_text": value_text.strip(), "value_min": lo, "value_max": hi,
                             "value_unit": unit})
    return [r for r in rows if r["char_end"] > r["char_start"]]
