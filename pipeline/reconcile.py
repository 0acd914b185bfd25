"""Compare what the sources say and score where they disagree.

``reconcile(tables)`` takes the fact tables (with concepts matched) and returns
``discrepancies`` (one row per point of disagreement), ``discrepancy_evidence`` (one row per
source on each) and ``source_dependencies`` (which source restates which). Scoring is in
``data/reconcile.yaml``: score = base(kind of disagreement) x support(weaker side's authority);
severity from the score. A discrepancy's id hashes drug, topic and comparison key only, never
the sources, so editors' decisions survive new sources.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict, namedtuple
from functools import lru_cache

import numpy as np
import pandas as pd
import yaml
from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq

from pipeline.frames import columns_by_key
from pipeline.paths import DATA_DIR
from pipeline.perf import gc_paused_call
from pipeline.textutil import sentence_spans

DISCREPANCY_COLUMNS = ["discrepancy_id", "drug", "topic", "kind", "comparison_key", "concept_id", "concept_label",
                       "severity", "score", "supported", "n_sources", "summary"]
EVIDENCE_COLUMNS = ["discrepancy_id", "source_id", "source_kind", "authority", "value", "mention", "quote",
                    "section_id", "char_start", "char_end", "quote_start", "quote_end", "independent"]


@lru_cache(maxsize=1)
def settings() -> dict:
    with open(DATA_DIR / "reconcile.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def discrepancy_id(drug: str, topic: str, key: str) -> str:
    return hashlib.sha1(f"{drug}|{topic}|{key}".encode()).hexdigest()[:16]


def severity_of(score: float) -> str:
    t = settings()["severity_thresholds"]
    if score >= t["critical"]:
        return "critical"
    if score >= t["major"]:
        return "major"
    if score >= t["minor"]:
        return "minor"
    return "info"


def _weight(tier: int) -> float:
    return float(settings()["authority_weight"].get(int(tier), 0.4))


def _fmt(x: float | None) -> str:
    if x is None or pd.isna(x):
        return "?"
    return f"{x:g}"


def _fmt_range(lo, hi, unit: str) -> str:
    if lo is None or pd.isna(lo):
        return "not stated"
    return f"{_fmt(lo)} {unit}" if hi is None or pd.isna(hi) or abs(hi - lo) < 1e-9 else f"{_fmt(lo)}–{_fmt(hi)} {unit}"


def _records(frame: pd.DataFrame) -> list:
    """The rows of ``frame`` as namedtuples with the values ``itertuples(index=False)`` gives,
    built from whole columns at once: per-group pandas access made reconciliation quadratic-
    looking on a large corpus (thousands of tiny groups, each sliced, sorted and iterated)."""
    fields = list(frame.columns)
    if not fields:
        return []
    row = namedtuple("Row", fields, rename=True)
    return [row._make(v) for v in zip(*(frame[c].tolist() for c in fields))]


def _is_na(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _group(rows: list, *fields: str) -> list[tuple[tuple, list]]:
    """``rows`` grouped by ``fields`` as ``DataFrame.groupby(list(fields))`` groups them: keys
    sorted, rows in their original order, rows with a missing key left out."""
    groups: dict[tuple, list] = {}
    for r in rows:
        key = tuple(getattr(r, f) for f in fields)
        if any(_is_na(k) for k in key):
            continue
        groups.setdefault(key, []).append(r)
    return sorted(groups.items(), key=lambda kv: kv[0])


class _Builder:
    def __init__(self, sources: pd.DataFrame, dependent: set[str]):
        self.rows: list[dict] = []
        self.evidence: list[dict] = []
        self.kind = dict(zip(sources["source_id"], sources["kind"]))
        self.tier = dict(zip(sources["source_id"], sources["authority"].astype(int)))
        self.dependent = dependent

    def support(self, source_ids) -> float:
        """Weight of a side: its best source's authority weight (restating sources count only
        when no independent source holds the side)."""
        ids = list(source_ids)
        independent = [s for s in ids if s not in self.dependent] or ids
        return max((_weight(self.tier[s]) for s in independent), default=0.0)

    def supported(self, source_ids) -> bool:
        return any(self.tier[s] <= settings()["supported_max_tier"] for s in source_ids)

    def add(self, drug: str, topic: str, kind: str, key: str, concept_id: str, concept_label: str, score: float,
            supported: bool, summary: str, evidence: list[dict]) -> None:
        did = discrepancy_id(drug, topic, key)
        self.rows.append({"discrepancy_id": did, "drug": drug, "topic": topic, "kind": kind, "comparison_key": key,
                          "concept_id": concept_id, "concept_label": concept_label, "severity": severity_of(score),
                          "score": round(score, 3), "supported": supported,
                          "n_sources": len({e["source_id"] for e in evidence}), "summary": summary})
        for e in evidence:
            self.evidence.append({"discrepancy_id": did, "source_kind": self.kind.get(e["source_id"], ""),
                                  "authority": self.tier.get(e["source_id"], 0),
                                  "independent": e["source_id"] not in self.dependent, **e})


def _ev(row, value: str) -> dict:
    return {"source_id": row.source_id, "value": value, "mention": row.mention, "quote": row.quote,
            "section_id": row.section_id, "char_start": int(row.char_start), "char_end": int(row.char_end),
            "quote_start": int(row.quote_start), "quote_end": int(row.quote_end)}


def _concept_key(row) -> tuple[str, str]:
    cid = getattr(row, "concept_id", "") or ""
    if cid:
        return cid, row.concept_label
    text = " ".join(str(row.mention).lower().split())
    return f"text:{text}", row.mention


# ---------------------------------------------------------------------------------------- doses
def _doses(b: _Builder, dosing: pd.DataFrame, drug_of: dict[str, str]) -> None:
    cfg = settings()["dose"]
    d = dosing[dosing["phase"].isin(cfg["phases"]) & dosing["daily_max_mg"].notna()]
    if d.empty:
        return
    d = d.assign(drug=d["source_id"].map(drug_of))
    if "indication_concept_id" not in d:
        d = d.assign(indication_concept_id="")
    d = d.assign(indication_concept_id=d["indication_concept_id"].fillna("").astype(str))
    for (drug, route, population, phase), whole in _group(_records(d), "drug", "route", "population", "phase"):
        # a dose stated for no indication is compared with the doses of every indication
        general = [r for r in whole if r.indication_concept_id == ""]
        specific = sorted({r.indication_concept_id for r in whole} - {""})
        checks = [(ind, [r for r in whole if r.indication_concept_id == ind] + general) for ind in specific]
        general_sources = {r.source_id for r in general}
        if not any(general_sources <= {r.source_id for r in g} for _, g in checks):
            checks.append(("", general))
        for indication_id, grp in checks:
            _dose_group(b, cfg, drug, route, population, phase, indication_id, grp)


def _dose_group(b: _Builder, cfg: dict, drug: str, route: str, population: str, phase: str, indication_id: str,
                grp: list) -> None:
    """``grp``: the dose rows (namedtuples) compared under one key."""
    per_source: dict[str, tuple[float, float]] = {}
    rows_of: dict[str, list] = defaultdict(list)
    for r in grp:
        value = (float(r.daily_min_mg), float(r.daily_max_mg))
        rows_of[r.source_id].append(r)
        # a source's statement for the key: its highest maximum, its lowest other dose
        if r.source_id not in per_source:
            per_source[r.source_id] = value
        elif phase == "maximum" and value[1] > per_source[r.source_id][1]:
            per_source[r.source_id] = value
        elif phase != "maximum" and value[0] < per_source[r.source_id][0]:
            per_source[r.source_id] = value
    if len(per_source) < 2:
        return
    groups: list[tuple[tuple[float, float], list[str]]] = []
    for sid, value in per_source.items():
        for gval, members in groups:
            if all(abs(a - c) <= cfg["tolerance"] * max(abs(c), 1e-9) for a, c in zip(value, gval)):
                members.append(sid)
                break
        else:
            groups.append((value, [sid]))
    if len(groups) < 2:
        return
    highs = [g[0][1] for g in groups]
    rel = (max(highs) - min(highs)) / max(min(highs), 1e-9)
    base = cfg["base_large" if rel >= cfg["large_difference"] else "base_small"].get(phase, 1.0)
    supports = sorted(b.support(m) for _, m in groups)
    score = base * supports[-2]  # the weaker of the two best-supported values
    groups.sort(key=lambda g: (-len(g[1]), g[0]))
    indications = sorted({r.indication for r in grp if isinstance(r.indication, str) and r.indication})
    label = (f"{phase.replace('_', ' ')} {route} daily dose ({population}"
             + (f"; for {', '.join(indications)}" if indication_id and indications else "") + ")")
    parts = [f"{_fmt_range(v[0], v[1], 'mg')} ({len(m)} source{'s' if len(m) > 1 else ''}: {', '.join(b.kind[s] for s in m)})"
             for v, m in groups]
    evidence = []
    for value, members in groups:
        for sid in members:
            chosen = next(r for r in rows_of[sid] if (float(r.daily_min_mg), float(r.daily_max_mg)) == per_source[sid])
            ev = _ev(chosen, _fmt_range(value[0], value[1], "mg/day"))
            if chosen.qualifier:
                ev["value"] += f" [{chosen.qualifier}]"
            evidence.append(ev)
    b.add(drug, "dose", "value_conflict", f"{route}|{population}|{phase}|{indication_id}", indication_id, label, score,
          all(b.supported(m) for _, m in groups[:2]), f"{label}: " + " vs ".join(parts), evidence)


# --------------------------------------------------------------------------------------- stance
def _stances(b: _Builder, conditions: pd.DataFrame, relations: pd.DataFrame, drug_of: dict[str, str],
             population_ids: set[str] = frozenset()) -> None:
    cfg = settings()
    rank = cfg["stance_rank"]
    c = conditions[~conditions["negated"].astype(bool)] if len(conditions) else conditions
    if c.empty:
        return
    c = c.assign(drug=c["source_id"].map(drug_of))
    keyed = [(r, *_concept_key(r)) for r in _records(c)]
    by_concept: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    labels: dict[tuple[str, str], str] = {}  # per drug: a drug's entry never takes another drug's wording
    for r, key, label in keyed:
        by_concept[(r.drug, key)][r.source_id].append(r)
        labels.setdefault((r.drug, key), label)

    def strongest(rows) -> tuple[str, object]:
        best = max(rows, key=lambda r: rank[r.stance])
        return best.stance, best

    def emit(drug, key, label, per_source: dict[str, list], kind: str, factor: float, prefix: str = "",
             must_include: set[str] | None = None):
        stance_of = {sid: strongest(rows) for sid, rows in per_source.items()}
        distinct = sorted({s for s, _ in stance_of.values()}, key=lambda s: -rank[s])
        if len(distinct) < 2:
            return
        sides = {s: [sid for sid, (st, _) in stance_of.items() if st == s] for s in distinct}
        # the worst pair decides: a marketing "indication" must not hide a reference conflict
        pairs = [(hi, lo) for i, hi in enumerate(distinct) for lo in distinct[i + 1:]]
        if must_include:  # broad/narrow: one side must be a source that names only the broad term
            pairs = [(hi, lo) for hi, lo in pairs if set(sides[hi]) & must_include or set(sides[lo]) & must_include]
            if not pairs:
                return
        scored = [(cfg["stance_base"].get(f"{hi}|{lo}", 1.0) * min(b.support(sides[hi]), b.support(sides[lo])) * factor, hi, lo)
                  for hi, lo in pairs]
        score, top, bottom = max(scored)
        supported = b.supported(sides[top]) and b.supported(sides[bottom])
        parts = [f"{s} in {', '.join(b.kind[x] for x in sides[s])}" for s in distinct]
        summary = f"{prefix}{label}: " + "; ".join(parts)
        if not supported:
            summary += " (one side is held only by SEO or marketing sources: unsupported)"
        evidence = [_ev(r, st) for sid, (st, r) in stance_of.items()]
        b.add(drug, "stance", kind, key, "" if key.startswith("text:") else key, label, score, supported, summary, evidence)

    for (drug, key), per_source in by_concept.items():
        if len(per_source) >= 2:
            emit(drug, key, labels[(drug, key)], per_source, "stance_conflict", 1.0)
    # a broad concept in one source against a narrow one in another ("kidney disease" / "chronic renal failure")
    if relations is not None and len(relations):
        for rel in _records(relations):
            if rel.broader_id in population_ids or rel.narrower_id in population_ids:
                continue  # age groups and other populations are disjoint subsets, not broader terms
            broad = by_concept.get((rel.drug, rel.broader_id))
            narrow = by_concept.get((rel.drug, rel.narrower_id))
            if not broad or not narrow:
                continue
            broad_only = set(broad) - set(narrow)
            if not broad_only:
                continue  # every source naming the broad term also names the narrow one
            merged: dict[str, list] = dict(narrow)
            for sid in sorted(broad_only):  # sorted: a set's order changes with the hash seed
                merged[sid] = broad[sid]
            emit(rel.drug, f"{rel.narrower_id}<{rel.broader_id}", f"{rel.narrower_label} (narrower) / {rel.broader_label} (broader)",
                 merged, "broader_narrower_conflict", cfg["broader_narrower_factor"], must_include=broad_only)

# ------------------------------------------------------------------------------------- coverage
def _coverage(b: _Builder, table: str, frame: pd.DataFrame, drug_of: dict[str, str], n_sources_of: dict[str, int]) -> None:
    cfg = settings()["coverage"]
    if frame.empty:
        return
    f = frame[frame["concept_id"].astype(str) != ""]
    if "negated" in f:
        f = f[~f["negated"].astype(bool)]
    if table == "conditions":
        f = f[f["stance"] != "indication"]  # a use stated by one source is compared as a stance, not coverage
    f = f.assign(drug=f["source_id"].map(drug_of))
    has_category = "category" in f.columns
    used = ("drug", "concept_id", "concept_label", "source_id", "category", "stance", "direction", "mention", "quote",
            "section_id", "char_start", "char_end", "quote_start", "quote_end")
    f = f[[c for c in f.columns if c in used]]  # only what is read below, converted once
    for (drug, cid), grp in _group(_records(f), "drug", "concept_id"):
        sources = sorted({r.source_id for r in grp})
        if n_sources_of.get(drug, 0) < 2:
            continue
        supported = b.supported(sources)
        label = grp[0].concept_label
        if len(sources) == 1 or not supported:
            categories = {r.category for r in grp} if has_category else set()
            alarming = table == "adverse_effects" and bool(categories & set(cfg["alarming_categories"]))
            base = cfg["base"] if supported else cfg["unsupported_base"] + (cfg["alarming_bonus"] if alarming else 0.0)
            score = base * (b.support(sources) if supported else 1.0)
            what = {"adverse_effects": "adverse effect", "conditions": "condition", "interactions": "interaction"}[table]
            first = grp[0]._asdict()
            value_col = {"adverse_effects": "category", "conditions": "stance", "interactions": "direction"}[table]
            if supported:
                summary = f"{what} '{label}' is stated only by {', '.join(b.kind[s] for s in sources)}"
            else:
                summary = (f"unsupported claim: {what} '{label}' ({first[value_col]}) is stated only by "
                           f"{', '.join(b.kind[s] + ' (tier ' + str(b.tier[s]) + ')' for s in sources)} and by no reference")
            first_of_source: dict[str, object] = {}
            for r in grp:
                first_of_source.setdefault(r.source_id, r)
            evidence = [_ev(r, f"{getattr(r, value_col)}") for r in first_of_source.values()]
            kind = "single_source" if supported else "unsupported_claim"
            b.add(drug, f"coverage_{table}", kind, cid, cid, label, score, supported, summary, evidence)


# ----------------------------------------------------------------------------------- statements
def _statements(b: _Builder, statements: pd.DataFrame, drug_of: dict[str, str]) -> None:
    cfg = settings()["statement"]
    s = statements[statements["topic"].isin(cfg["topics"]) & statements["value_min"].notna()] if len(statements) else statements
    if s.empty:
        return
    s = s.assign(drug=s["source_id"].map(drug_of))
    for (drug, topic), grp in _group(_records(s), "drug", "topic"):
        per_source = {}
        for r in grp:
            per_source.setdefault(r.source_id, r)
        if len(per_source) < 2:
            continue
        values = {sid: (r.value_min, r.value_max) for sid, r in per_source.items()}
        distinct = []
        for sid, v in values.items():
            if not any(_close(v, d[0], cfg["tolerance"]) for d in distinct):
                distinct.append((v, sid))
        if len(distinct) < 2:
            continue
        unit = grp[0].value_unit
        score = cfg["base"] * sorted(b.support([sid]) for sid in per_source)[-2]
        parts = [f"{r.value_text} ({b.kind[sid]})" for sid, r in per_source.items()]
        summary = f"{topic.replace('_', ' ')}: " + " vs ".join(parts)
        evidence = [_ev(r, f"{r.value_text} [{_fmt_range(r.value_min, r.value_max, unit)}]") for r in per_source.values()]
        b.add(drug, "statement", "value_conflict", topic, "", topic.replace("_", " "), score,
              all(b.supported([sid]) for sid in per_source), summary, evidence)


def _close(a, c, tol) -> bool:
    if any(x is None or pd.isna(x) for x in (*a, *c)):
        return all((x is None or pd.isna(x)) == (y is None or pd.isna(y)) for x, y in zip(a, c))
    return all(abs(x - y) <= tol * max(abs(y), 1e-9) for x, y in zip(a, c))


# --------------------------------------------------------------------------------- data quality
def _data_quality(b: _Builder, data_quality: pd.DataFrame, sources: pd.DataFrame, drug_of: dict[str, str]) -> None:
    if data_quality.empty:
        return
    text_of = dict(zip(sources["source_id"], sources["text"]))
    hiding = data_quality[data_quality["hides"].astype(str) != ""]
    for r in _records(hiding):
        drug = drug_of.get(r.source_id, "")
        ev = {"source_id": r.source_id, "value": r.issue, "mention": r.excerpt, "quote": text_of[r.source_id][r.char_start:r.char_end],
              "section_id": r.section_id, "char_start": int(r.char_start), "char_end": int(r.char_end),
              "quote_start": int(r.char_start), "quote_end": int(r.char_end)}
        summary = (f"{b.kind.get(r.source_id, r.source_id)}: {r.detail} — its {r.hides.replace('_', ' ')} "
                   f"cannot be compared on this point ({r.excerpt[:80]!r})")
        b.add(drug, "data_quality", r.issue, f"{r.source_id}|{r.section_id}|{r.issue}|{r.char_start}", "", r.hides,
              settings()["data_quality_base"], True, summary, [ev])


# -------------------------------------------------------------------------------- independence
def _lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two lists (rapidfuzz, in C)."""
    return int(LCSseq.similarity(a, b))


_HIST_BINS = 32
_ODD_SPACE = re.compile(r"[^\S ]")


def _candidate_pairs(passages: list[str], owner: np.ndarray, cutoff: float, block: int = 256):
    """Pairs (i, j) of passages of different sources (``owner[i] < owner[j]``) whose
    ``fuzz.token_set_ratio`` may reach ``cutoff``, from an upper bound computed with token and
    character counts only (matrix products, no string comparison). Yields (i, j) index arrays.

    token_set_ratio compares S (the shared words joined), A and B (each side's other words
    joined): it is 100 when the words of one side are a subset of the other's, else the best of
    ratio(S, S+A), ratio(S, S+B), which depend on lengths only, and of ratio(S+A, S+B), whose
    Indel distance is at least len(A) + len(B) - 2 LCS(A, B). The LCS is at most min(len(A),
    len(B)), and at most the characters A and B share; those are the passages' shared counts
    minus S's own, so no per-pair string is ever built (and the character counts are compared
    only for pairs the length bound leaves open). Passages holding white space other than ' '
    are always compared, so the bound never depends on how words are split.
    """
    token_sets = [set(p.split()) for p in passages]
    # only words found in passages of two sources can be shared by a pair that is compared
    seen: set[str] = set()
    shared_words: set[str] = set()
    for o in np.unique(owner).tolist():
        words = set().union(*[token_sets[i] for i in np.flatnonzero(owner == o).tolist()])
        shared_words |= words & seen
        seen |= words
    words_in_order = list(shared_words)
    vocab = {t: k for k, t in enumerate(words_in_order)}
    n, v = len(passages), len(vocab)
    member = np.zeros((n, v), dtype=np.float32)  # counts stay far below 2**24: exact
    weight = np.zeros((n, v), dtype=np.float32)
    n_words = np.fromiter((len(toks) for toks in token_sets), dtype=np.float64, count=n)
    joined = ["".join(toks) for toks in token_sets]
    total_w = np.fromiter((len(j) for j in joined), dtype=np.float64, count=n) + n_words  # sum of (len + 1)
    cell_rows: list[int] = []
    cell_words: list[str] = []
    for i, toks in enumerate(token_sets):
        shared = toks & shared_words
        cell_rows += [i] * len(shared)
        cell_words += shared
    if cell_rows:
        cols = np.fromiter(map(vocab.__getitem__, cell_words), dtype=np.int64, count=len(cell_words))
        member[cell_rows, cols] = 1.0
        word_weight = np.fromiter(map(len, words_in_order), dtype=np.float32, count=v) + 1  # len + 1 a word
        weight[cell_rows, cols] = word_weight[cols]
    # character counts of each passage's words, in _HIST_BINS bins (merging bins only loosens the bound)
    codes = np.frombuffer("".join(joined).encode("utf-32-le"), dtype=np.uint32) % _HIST_BINS
    which = np.repeat(np.arange(n), [len(j) for j in joined])
    hist = np.bincount(which * _HIST_BINS + codes, minlength=n * _HIST_BINS).reshape(n, _HIST_BINS)
    # the narrowest type that holds every count: the pairwise minimum below reads a quarter of
    # the memory in one byte (counts are summed as int32)
    hist = hist.astype(np.uint8 if hist.max(initial=0) < 256 else np.int32)
    odd = np.array([bool(_ODD_SPACE.search(p)) for p in passages])
    floor_ = cutoff - 1e-6  # bounds are exact arithmetic on small integers; this only absorbs rounding
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        valid = owner[r0:r1, None] < owner[None, :]
        if not valid.any():
            continue
        shared_w = (weight[r0:r1] @ member.T).astype(np.float64)  # sum of (len + 1) over shared words
        k = (member[r0:r1] @ member.T).astype(np.float64)         # shared words
        has_shared = k > 0
        s_len = np.where(has_shared, shared_w - 1, 0.0)
        a_len = total_w[r0:r1, None] - shared_w - 1               # len(A) when A is not empty
        b_len = total_w[None, :] - shared_w - 1
        a_words = n_words[r0:r1, None] - k
        b_words = n_words[None, :] - k
        with np.errstate(divide="ignore", invalid="ignore"):
            ub_ab = np.where(has_shared, 100.0 * (1 - (1 + a_len) / (2 * s_len + 1 + a_len)), 0.0)
            ub_ba = np.where(has_shared, 100.0 * (1 - (1 + b_len) / (2 * s_len + 1 + b_len)), 0.0)
            lensum = np.where(has_shared, 2 * s_len + 2 + a_len + b_len, a_len + b_len)
            ub_len = 100.0 * (1 - np.abs(a_len - b_len) / lensum)  # LCS <= min(len A, len B)
        sure = (has_shared & ((a_words == 0) | (b_words == 0))) | (np.fmax(ub_ab, ub_ba) >= floor_)
        sure |= odd[r0:r1, None] | odd[None, :] | np.isnan(ub_len)
        sure &= valid
        open_ = valid & ~sure & (ub_len >= floor_)
        ii, jj = np.nonzero(open_)
        if len(ii):
            if len(ii) * 4 > (r1 - r0) * n:  # most pairs open: the block's counts at once
                mins = np.minimum(hist[r0:r1, None, :], hist[None, :, :]).sum(axis=2, dtype=np.int32)[ii, jj]
            else:
                mins = np.minimum(hist[ii + r0], hist[jj]).sum(axis=1, dtype=np.int32)
            shared_chars = mins - (shared_w[ii, jj] - k[ii, jj])
            spaces = np.maximum(np.minimum(a_words[ii, jj], b_words[ii, jj]) - 1, 0)
            a, b = a_len[ii, jj], b_len[ii, jj]
            lcs_max = np.minimum(np.minimum(a, b), shared_chars + spaces)
            with np.errstate(divide="ignore", invalid="ignore"):
                ub = 100.0 * (1 - (a + b - 2 * lcs_max) / lensum[ii, jj])
            keep = ~(ub < floor_)  # NaN stays a candidate
            ii, jj = ii[keep], jj[keep]
        si, sj = np.nonzero(sure)
        yield np.concatenate([si + r0, ii + r0]), np.concatenate([sj, jj])


def _restated_passages(passages: dict[str, list[str]], ids: list[str], cutoff: float) -> dict[tuple[str, str], int]:
    """(a, other) -> how many passages of ``a`` have a passage of ``other`` with
    token_set_ratio >= cutoff. Pairs whose upper bound is under the cutoff are not compared;
    the others are compared exactly with fuzz.token_set_ratio (symmetric, so once a pair)."""
    owners = [sid for sid in ids for _ in passages[sid]]
    flat = [p for sid in ids for p in passages[sid]]
    out: dict[tuple[str, str], int] = {}
    if not flat:
        return out
    position = {sid: k for k, sid in enumerate(ids)}
    owner_idx = np.array([position[o] for o in owners])
    hit: set[tuple[int, str]] = set()
    for rows, cols in _candidate_pairs(flat, owner_idx, cutoff):
        for i, j in zip(rows.tolist(), cols.tolist()):
            if (i, owners[j]) in hit and (j, owners[i]) in hit:
                continue
            if fuzz.token_set_ratio(flat[i], flat[j]) >= cutoff:
                hit.add((i, owners[j]))
                hit.add((j, owners[i]))
    for i, other in hit:
        key = (owners[i], other)
        out[key] = out.get(key, 0) + 1
    return out


def source_dependencies(sources: pd.DataFrame, facts: pd.DataFrame | None = None, workers: int | None = None
                        ) -> pd.DataFrame:
    """Pairs (source, restated source) of the same drug where one source nearly repeats the
    other's passages, or states a large share of the other's matched facts in the same order
    (a paraphrase keeps the order of its model's lists). ``facts``: source_id, char_start, concept_id.
    Drugs are independent: with ``workers`` > 1 (default ``DRUG_FACTS_WORKERS``) batches of
    drugs run in forked processes, joined in drug order (the same rows)."""
    from pipeline.parallel import default_workers, fork_map

    cfg = settings()["independence"]
    sequences: dict[str, list[str]] = {}
    if facts is not None and len(facts):
        f = facts[facts["concept_id"].astype(str) != ""].sort_values(["source_id", "char_start"])
        for sid, cid in zip(f["source_id"].tolist(), f["concept_id"].tolist()):
            if not _is_na(sid):
                sequences.setdefault(sid, []).append(cid)
    text_of = dict(zip(sources["source_id"].tolist(), sources["text"].tolist()))
    groups = _group(_records(sources[["drug", "source_id", "authority"]]), "drug")
    state = (groups, text_of, sequences, cfg)
    parts = fork_map(_dependency_rows, state, len(groups), default_workers() if workers is None else workers,
                     min_items=50)
    rows = [r for part in parts for r in part] if parts is not None else _dependency_rows(state, 0, len(groups))
    return pd.DataFrame(rows, columns=["drug", "source_id", "restates_source_id", "shared_passages", "share",
                                       "fact_order_share"])


def _passages(text: str, min_chars: int) -> list[str]:
    spans = [sp for line in text.split("\n") for sp in [line.strip()] if len(sp) >= min_chars]
    sents = []
    for p in spans:
        sents += [p[a:b] for a, b in sentence_spans(p, 0, len(p)) if b - a >= min_chars]
    return sents


def _dependency_rows(state: tuple, start: int, end: int) -> list[dict]:
    """source_dependencies' rows for the drugs ``groups[start:end]`` (in order)."""
    groups, text_of, sequences, cfg = state
    rows = []
    cutoff = cfg["passage_similarity"]
    for (drug,), grp in groups[start:end]:
        ids = [r.source_id for r in grp]
        passages = {sid: _passages(text_of[sid], cfg["min_passage_chars"]) for sid in ids}
        tier = {r.source_id: r.authority for r in grp}
        shared_of = _restated_passages(passages, ids, cutoff)
        lcs_of: dict[frozenset, int] = {}
        for a in ids:
            for other in ids:
                if a == other or not passages[a] or not passages[other]:
                    continue
                shared = shared_of.get((a, other), 0)
                share = shared / len(passages[a])
                seq_a, seq_b = sequences.get(a, []), sequences.get(other, [])
                order_share = 0.0
                if len(seq_a) >= cfg["min_facts"] and seq_b:
                    pair = frozenset((a, other))  # the LCS is symmetric: computed once a pair
                    if pair not in lcs_of:
                        lcs_of[pair] = _lcs_length(seq_a, seq_b)
                    order_share = lcs_of[pair] / len(seq_a)
                # the lower-authority source of the pair is the one that restates
                if (share >= cfg["restates_share"] or order_share >= cfg["fact_sequence_share"]) and tier[a] >= tier[other]:
                    rows.append({"drug": drug, "source_id": a, "restates_source_id": other, "shared_passages": shared,
                                 "share": round(share, 3), "fact_order_share": round(order_share, 3)})
    return rows


@gc_paused_call
def reconcile(sources: pd.DataFrame, dosing: pd.DataFrame, adverse_effects: pd.DataFrame, conditions: pd.DataFrame,
              interactions: pd.DataFrame, statements: pd.DataFrame, data_quality: pd.DataFrame,
              relations: pd.DataFrame | None = None, population_ids: set[str] = frozenset(),
              workers: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(discrepancies, discrepancy_evidence, source_dependencies) sorted by severity and score.
    ``workers``: processes for the source-independence comparison (see source_dependencies)."""
    matched = [f[["source_id", "char_start", "concept_id"]] for f in (conditions, adverse_effects)
               if len(f) and "concept_id" in f]
    deps = source_dependencies(sources, pd.concat(matched) if matched else None, workers)
    b = _Builder(sources, set(deps["source_id"]))
    drug_of = dict(zip(sources["source_id"], sources["drug"]))
    n_sources_of = sources.groupby("drug")["source_id"].nunique().to_dict()
    _doses(b, dosing, drug_of)
    _stances(b, conditions, relations, drug_of, population_ids)
    for table, frame in (("adverse_effects", adverse_effects), ("conditions", conditions), ("interactions", interactions)):
        _coverage(b, table, frame, drug_of, n_sources_of)
    _statements(b, statements, drug_of)
    _data_quality(b, data_quality, sources, drug_of)
    disc = pd.DataFrame(b.rows, columns=DISCREPANCY_COLUMNS)
    ev = pd.DataFrame(b.evidence, columns=EVIDENCE_COLUMNS)
    if not disc.empty:
        disc = _order_discrepancies(disc.drop_duplicates("discrepancy_id"))
        ev = _order_evidence(ev.drop_duplicates(["discrepancy_id", "source_id", "quote_start", "char_start"]), disc)
    return disc, ev, _order_dependencies(deps)


def _order_dependencies(deps: pd.DataFrame) -> pd.DataFrame:
    return deps.sort_values(["drug", "source_id", "restates_source_id"], kind="stable").reset_index(drop=True)


_SEVERITY_RANK = {"critical": 0, "major": 1, "minor": 2, "info": 3}


def _order_discrepancies(disc: pd.DataFrame) -> pd.DataFrame:
    """Most severe and highest-scored first; ties by topic, key, drug and id, so the order never
    depends on the order the rows were built in (a per-drug incremental run gives the same table)."""
    if disc.empty:
        return disc.reset_index(drop=True)
    return disc.sort_values(["severity", "score", "topic", "comparison_key", "drug", "discrepancy_id"], kind="stable",
                            key=lambda s: s.map(_SEVERITY_RANK) if s.name == "severity" else (-s if s.name == "score" else s)
                            ).reset_index(drop=True)


def _order_evidence(ev: pd.DataFrame, disc: pd.DataFrame) -> pd.DataFrame:
    """Evidence in the order of its discrepancies; within one, in the order it was gathered."""
    if ev.empty:
        return ev.reset_index(drop=True)
    rank = {d: i for i, d in enumerate(disc["discrepancy_id"])}
    pos = ev["discrepancy_id"].map(rank).fillna(len(rank)).to_numpy()
    return ev.iloc[pos.argsort(kind="stable")].reset_index(drop=True)


# ------------------------------------------------------------------ per-drug incremental runs
FORK_MIN_DRUGS = 50  # fewer drugs to compare than this: one process (a fork costs more than it saves)
INPUT_NAMES = ("sources", "dosing", "adverse_effects", "conditions", "interactions", "statements", "data_quality",
               "relations")


def drug_input_keys(inputs: dict[str, pd.DataFrame], population_ids: set[str]) -> dict[str, str]:
    """drug -> hash of every input row of that drug (and of the population concepts): two runs
    whose rows for a drug are equal, in the same order, reconcile that drug identically, since
    reconciliation only ever compares the sources of one drug."""
    sources = inputs["sources"]
    drug_of = dict(zip(sources["source_id"], sources["drug"]))
    base = hashlib.sha256(json.dumps(sorted(population_ids)).encode()).digest()
    digests = {d: hashlib.sha256(base) for d in sorted(set(sources["drug"]))}
    for name in INPUT_NAMES:
        frame = inputs.get(name)
        if frame is None or frame.empty:
            continue
        drugs = _drugs_of_rows(frame, drug_of).to_numpy()
        row_hash = pd.util.hash_pandas_object(frame.astype({c: str for c in frame.columns
                                                             if frame[c].dtype == object}), index=False).to_numpy()
        header = (name + "|" + ",".join(map(str, frame.columns))).encode()
        for drug, positions in pd.Series(range(len(frame))).groupby(drugs, sort=False).indices.items():
            if drug in digests:
                digests[drug].update(header)
                digests[drug].update(row_hash[positions].tobytes())
    return {d: h.hexdigest() for d, h in digests.items()}


def _drugs_of_rows(frame: pd.DataFrame, drug_of: dict[str, str]) -> pd.Series:
    """The drug of each row: its own ``drug`` column, else its source's drug."""
    return frame["drug"] if "drug" in frame else frame["source_id"].map(drug_of)


def _drug_parts(disc: pd.DataFrame, ev: pd.DataFrame, deps: pd.DataFrame, drugs: list[str]) -> dict[str, tuple]:
    """drug -> its rows of the three tables, each as {column: values} (cheap to pickle and to
    join again; a drug with no row of a table gets the table's columns, empty)."""
    drug_of_disc = dict(zip(disc["discrepancy_id"].tolist(), disc["drug"].tolist()))
    cut = [columns_by_key(disc, disc["drug"].tolist()),
           columns_by_key(ev, [drug_of_disc.get(d) for d in ev["discrepancy_id"].tolist()]),
           columns_by_key(deps, deps["drug"].tolist())]
    empty = [{c: [] for c in frame.columns} for frame in (disc, ev, deps)]
    return {drug: tuple(by.get(drug, none) for by, none in zip(cut, empty)) for drug in drugs}


def _frame_of_parts(parts: list[dict[str, list]]) -> pd.DataFrame:
    """The rows of several drugs' parts (``_drug_parts``) as one table, typed from all the values
    at once, as ``reconcile`` types the rows it builds."""
    columns = list(parts[0])
    return pd.DataFrame({c: [v for part in parts for v in part[c]] for c in columns}, columns=columns)


def _reconcile_batch(state: tuple, start: int, end: int, workers: int | None = 1) -> tuple:
    """Reconcile the drugs ``todo[start:end]`` together: their three tables, each drug's rows
    also put in the cache under the drug's input key."""
    inputs, todo, population_ids, has_relations, cache, keys = state
    wanted = set(todo[start:end])
    drug_of = dict(zip(inputs["sources"]["source_id"], inputs["sources"]["drug"]))
    sub = {}
    for name, frame in inputs.items():
        if frame is None or frame.empty:
            sub[name] = frame
            continue
        sub[name] = frame[_drugs_of_rows(frame, drug_of).isin(wanted).to_numpy()].reset_index(drop=True)
    disc, ev, deps = reconcile(sub["sources"], sub["dosing"], sub["adverse_effects"], sub["conditions"],
                               sub["interactions"], sub["statements"], sub["data_quality"],
                               sub["relations"] if has_relations else None, population_ids, workers)
    if cache is not None:
        for drug, part in _drug_parts(disc, ev, deps, todo[start:end]).items():
            cache.put(keys[drug], part)
        cache.flush()  # the batch's entries, as one pack
    return disc, ev, deps


def reconcile_incremental(sources: pd.DataFrame, dosing: pd.DataFrame, adverse_effects: pd.DataFrame,
                          conditions: pd.DataFrame, interactions: pd.DataFrame, statements: pd.DataFrame,
                          data_quality: pd.DataFrame, relations: pd.DataFrame | None = None,
                          population_ids: set[str] = frozenset(), cache=None, workers: int | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """``reconcile`` with a per-drug cache (``pipeline.cache.SourceCache`` or None): a drug whose
    input rows are unchanged since a cached run is not compared again. Returns the same three
    tables as ``reconcile`` (same rows, same order, same types) and {"drugs", "recomputed"}.

    The cached drugs' rows and each batch's tables are joined once, then ordered as
    ``reconcile`` orders them (a total order: the discrepancies by severity, score and keys
    down to their id; the evidence by its discrepancy, in the order it was gathered)."""
    from pipeline.parallel import joined_frames

    inputs = {"sources": sources, "dosing": dosing, "adverse_effects": adverse_effects, "conditions": conditions,
              "interactions": interactions, "statements": statements, "data_quality": data_quality,
              "relations": relations if relations is not None else pd.DataFrame(columns=["drug"])}
    keys = drug_input_keys(inputs, set(population_ids))
    hits: dict[str, tuple] = {}
    if cache is not None:
        for drug, key in keys.items():
            hit = cache.get(key)  # the stage's code version is in the key: an entry has this code's layout
            if hit is not None:
                hits[drug] = hit
    todo = [d for d in keys if d not in hits]
    batches: list[tuple] = []
    if todo:
        from pipeline.parallel import default_workers, fork_map

        n_workers = default_workers() if workers is None else workers
        state = (inputs, todo, population_ids, relations is not None, cache, keys)
        # drugs are independent: batches of drugs are reconciled in forked workers, each writing
        # its drugs' cache entries; one worker's reconciliation runs in one process
        done = fork_map(_reconcile_batch, state, len(todo), n_workers, min_items=FORK_MIN_DRUGS)
        if done is None:
            batches.append(_reconcile_batch(state, 0, len(todo), workers))
        else:
            batches += done
            if cache is not None:
                cache.used.update(keys[d] for d in todo)  # written by the workers
    if not keys:
        return reconcile(sources, dosing, adverse_effects, conditions, interactions, statements, data_quality,
                         relations, population_ids, workers) + ({"drugs": 0, "recomputed": 0},)
    cached = [hits[d] for d in keys if d in hits]
    tables = []
    for k in range(3):
        parts = ([_frame_of_parts([h[k] for h in cached])] if cached else []) + [b[k] for b in batches]
        tables.append(joined_frames(parts, parts[0].iloc[0:0]))
    disc = _order_discrepancies(tables[0])
    ev = _order_evidence(tables[1], disc)
    deps = _order_dependencies(tables[2])
    return disc, ev, deps, {"drugs": len(keys), "recomputed": len(todo)}
