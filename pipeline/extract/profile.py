"""Drug identity facts: names, brands, dosage forms, class, CAS number, formula, ICD-10 codes.

Read from "Field: value" lines (consumer monographs) and from identifier sections whose heading
names the field (reference books print the value under the heading)."""

from __future__ import annotations

import re

from pipeline.extract.lists import split_enumeration
from pipeline.extract.units import Unit

FIELD_LABELS = [
    ("generic_name", r"generic name|international nonproprietary name|\binn\b|english (?:name|title)|russian name"),
    ("latin_name", r"latin name"),
    ("brand_name", r"brand names?|trade names?|other brands"),
    ("dosage_form", r"dosage forms?|pharmaceutical form"),
    ("drug_class", r"drug class|pharmacological group|pharmacotherapeutic group"),
    ("chemical_name", r"chemical name"),
    ("formula", r"(?:gross|general|molecular|empirical) formula"),
    ("cas_number", r"\bcas\b"),
    ("icd10_code", r"nosological|icd-?10"),
]
_LIST_FIELDS = {"brand_name", "dosage_form"}
ICD10 = re.compile(r"\b([A-TV-Z]\d{2})(?:\.\s?(\d{1,2}))?\b")
CAS = re.compile(r"\b\d{2,7}-\d{2}-\d\b")


_FIELD_PATTERNS = [(field, re.compile(pattern, re.I)) for field, pattern in FIELD_LABELS]


def _field_of(label: str) -> str | None:
    for field, pattern in _FIELD_PATTERNS:
        if pattern.search(label):
            return field
    return None


def profile_rows(view: str, units: list[Unit]) -> list[dict]:
    rows: list[dict] = []

    def add(u: Unit, field: str, s: int, e: int, value: str | None = None) -> None:
        if e > s:
            rows.append({"unit_obj": u, "char_start": s, "char_end": e, "field": field,
                         "value": value if value is not None else view[s:e].strip()})

    for u in units:
        text = u.text
        # "Field: value" lines anywhere outside navigation
        if u.topic != "boilerplate" and ":" in text:
            label, _, rest = text.partition(":")
            field = _field_of(label) if len(label.split()) <= 4 else None
            if field and rest.strip():
                vs = u.start + len(label) + 1
                if field in _LIST_FIELDS:
                    for s, e in split_enumeration(view, vs, u.end):
                        add(u, field, s, e)
                else:
                    value = rest.strip()
                    s = u.start + text.index(value, len(label) + 1)
                    add(u, field, s, s + len(value))
                continue
        # values printed under an identifier heading
        field = _field_of(u.heading) if u.topic in ("identifiers", "uses") and u.kind != "sentence" or u.topic == "identifiers" else None
        if field == "icd10_code":
            for m in ICD10.finditer(text):
                code = m.group(1) + (f".{m.group(2)}" if m.group(2) else "")
                add(u, field, u.start + m.start(), u.start + m.end(), code)
        elif field == "cas_number":
            for m in CAS.finditer(text):
                add(u, field, u.start + m.start(), u.start + m.end())
        elif field in _LIST_FIELDS:
            for s, e in split_enumeration(view, u.start, u.end):
                add(u, field, s, e)
        elif field:
            add(u, field, u.start, u.end)
    return rows
