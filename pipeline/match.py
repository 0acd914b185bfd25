"""Match mentions to vocabulary concepts and relate broader and narrower concepts.

``Matcher(concepts, terms)`` matches *distinct* normalised mentions once (a run's repeated
mentions are cache hits): exact label, then synonym (ontology or project), then the same
without grading words, then fuzzy scoring of candidates that share a word with the mention
(blocking, as record linkage does), refusing confusable pairs (hypo-/hyper-, tachy-/brady-,
...), then the longest sub-phrase that names a concept. Every result says how it was made and
what came second, so an editor can see why.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter

import numpy as np
import pandas as pd
import yaml
from rapidfuzz import fuzz, process

from pipeline.normalise import normalise_term, strip_modifiers
from pipeline.paths import DATA_DIR
from pipeline.perf import gc_paused_call

TABLE_DOMAINS = {
    "adverse_effects": ("phenotype",),
    "conditions": ("population", "condition", "phenotype"),
    "interactions": ("agent",),
}
_SHARED_HEAD = re.compile(r"^([\w-]+) (?:and|or) ([\w-]+ [\w -]+)$")
_TAIL = re.compile(r"\s(?:that|which|who|in|of|on|with|from|at)\s")
_TYPE_RANK = {"project_synonym": 0, "name": 1, "synonym": 2}
_STOP = {"of", "in", "the", "and", "or", "to", "with", "a", "an", "for", "on", "by", "that", "at", "from", "s"}


@lru_cache(maxsize=1)
def settings() -> dict:
    with open(DATA_DIR / "matching.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=1)
def confusable_pairs() -> list[tuple[str, str]]:
    with open(DATA_DIR / "confusable_pairs.tsv", encoding="utf-8", newline="") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.startswith("#")]
    return [(r["a"].lower(), r["b"].lower()) for r in csv.DictReader(lines, delimiter="\t")]


def confusable(a: str, b: str) -> bool:
    """True when one string has one side of a confusable pair and the other the other side."""
    a, b = a.lower(), b.lower()
    sides_a, sides_b = _sides_in(a), _sides_in(b)
    if not sides_a or not sides_b:  # each case needs a side in each string
        return False
    for x, y in confusable_pairs():
        if (x in sides_a and y in sides_b and y not in sides_a and x not in sides_b) or (
                y in sides_a and x in sides_b and x not in sides_a and y not in sides_b):
            return True
    return False


@lru_cache(maxsize=1 << 16)
def _sides_in(text: str) -> frozenset[str]:
    """The sides of confusable pairs that occur in ``text`` (memoised: vocabulary terms recur).
    Most texts hold no side at all: one search for any side answers those at once."""
    if not _any_side().search(text):
        return frozenset()
    return frozenset(s for pair in confusable_pairs() for s in pair if s in text)


@lru_cache(maxsize=1)
def _any_side() -> re.Pattern:
    sides = sorted({s for pair in confusable_pairs() for s in pair}, key=len, reverse=True)
    return re.compile("|".join(re.escape(s) for s in sides)) if sides else re.compile(r"(?!)")


def _tokens_align(a: str, b: str, a_words: list[str] | None = None) -> bool:
    """Every content word of each string has a close counterpart in the other (``a_words``: the
    content words of ``a`` when the caller has them already)."""
    limit = float(settings()["token_min_ratio"])
    ta = a_words if a_words is not None else [t for t in a.split() if t not in _STOP]
    tb = [t for t in b.split() if t not in _STOP]
    if not ta or not tb:
        return False
    if limit <= 0:
        return True
    if limit > 100:
        return False
    return _all_close(ta, tb, limit) and _all_close(tb, ta, limit)


def _all_close(xs: list[str], ys: list[str], limit: float) -> bool:
    """Every x has a y with fuzz.ratio(x, y) >= limit (ratio is symmetric; an equal word
    scores 100; rapidfuzz stops a comparison as soon as it cannot reach the limit)."""
    ys_set = set(ys)
    ratio = fuzz.ratio
    for x in xs:
        if x in ys_set:
            continue
        for y in ys:  # a plain loop: no generator frame per word (this runs for every candidate)
            if ratio(x, y, score_cutoff=limit):
                break
        else:
            return False
    return True


_SMALL_POSTINGS = 128  # up to this many postings, candidates are counted with a dict


def _sort_words(text: str) -> str:
    """The words of ``text`` sorted and joined by one space, as token_sort_ratio compares them."""
    return " ".join(sorted(text.split()))


@dataclass(frozen=True)
class MatchResult:
    concept_id: str
    concept_label: str
    match_method: str
    match_score: float
    runner_up_id: str
    runner_up_label: str
    runner_up_score: float
    match_note: str


UNMATCHED = MatchResult("", "", "unmatched", 0.0, "", "", 0.0, "")


class Matcher:
    """Matches normalised mentions of one domain group against the vocabulary."""

    def __init__(self, concepts: pd.DataFrame, terms: pd.DataFrame):
        self.labels = dict(zip(concepts["concept_id"], concepts["label"]))
        self._lookup: dict[tuple[str, str], list[tuple[int, str, str]]] = defaultdict(list)
        self._terms_by_domain: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        self._index: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        min_len = int(settings()["candidate_min_token_len"])
        for row in terms.itertuples(index=False):
            rank = _TYPE_RANK.get(row.term_type, 3)
            self._lookup[(row.domain, row.term_norm)].append((rank, row.concept_id, row.term_type))
            items = self._terms_by_domain[row.domain]
            items.append((row.term_norm, row.concept_id, row.term_type))
            for tok in set(row.term_norm.split()):
                if len(tok) >= min_len and tok not in _STOP:
                    self._index[row.domain][tok].add(len(items) - 1)
        self.cache: dict[tuple[tuple[str, ...], str], MatchResult] = {}
        self.hits = 0
        self.misses = 0
        # per domain, built on first use: each token's candidate list as an array (in the order
        # the token's set iterates, which fixes the order of equal counts), and every term with
        # its words sorted (token_sort_ratio is ratio of the sorted words)
        self._postings: dict[str, dict[str, np.ndarray]] = {}
        self._sorted_terms: dict[str, list[str]] = {}
        self._scratch: dict[str, np.ndarray] = {}

    def _candidates(self, domain: str, toks: list[str], limit: int) -> list[int] | None:
        """The ``limit`` terms sharing most tokens with the mention, ties in order of first
        encounter (token by token, each token's terms in its set's order); None when no term
        shares a token. Counted with numpy in a per-domain scratch array instead of a Python
        loop over every posting: a word such as "abnormality" names thousands of HPO terms."""
        postings = self._postings.get(domain)
        if postings is None:
            postings = self._postings[domain] = {tok: np.fromiter(ids, dtype=np.int64, count=len(ids))
                                                 for tok, ids in self._index[domain].items()}
            self._scratch[domain] = np.zeros(len(self._terms_by_domain[domain]), dtype=np.int32)
        arrays = [postings[t] for t in toks if t in postings]
        if not arrays:
            return None
        if len(arrays) == 1:  # every count is 1: the posting order is the order
            return arrays[0][:limit].tolist()
        if sum(len(a) for a in arrays) <= _SMALL_POSTINGS:  # few terms: a dict is quicker than numpy
            counts_of: dict[int, int] = {}
            for tok in toks:
                for i in self._index[domain].get(tok, ()):
                    counts_of[i] = counts_of.get(i, 0) + 1
            return sorted(counts_of, key=lambda i: -counts_of[i])[:limit]
        count = self._scratch[domain]
        firsts = []
        try:
            for arr in arrays:  # a token's terms are distinct, so the fancy-index update is exact
                seen = count[arr]
                firsts.append(arr[seen == 0])
                count[arr] = seen + 1
            ids = np.concatenate(firsts)  # each term once, in order of first encounter
            counts = count[ids]
        finally:
            for arr in arrays:
                count[arr] = 0
        out: list[int] = []
        for k in range(len(arrays), 0, -1):  # most shared tokens first; equal counts keep their order
            out += ids[counts == k][: limit - len(out)].tolist()
            if len(out) >= limit:
                break
        return out

    def prepare(self, domains=None) -> "Matcher":
        """Build the per-domain candidate structures now rather than on first use (benchmarks
        count this with the start-up, not with the first mentions)."""
        for domain in domains or list(self._terms_by_domain):
            self._candidates(domain, [], 1)
            self._sorted_words(domain)
        return self

    def _sorted_words(self, domain: str) -> list[str]:
        found = self._sorted_terms.get(domain)
        if found is None:
            found = self._sorted_terms[domain] = [_sort_words(t[0]) for t in self._terms_by_domain[domain]]
        return found

    # -- lookups -------------------------------------------------------------------------
    def _exact(self, domains: tuple[str, ...], norm: str) -> tuple[str, str] | None:
        for domain in domains:
            found = self._lookup.get((domain, norm))
            if found:
                rank, cid, ttype = sorted(found)[0]
                return cid, ("exact" if ttype == "name" else "synonym")
        return None

    def _fuzzy(self, domains: tuple[str, ...], norm: str) -> MatchResult | None:
        cfg = settings()
        scorer = getattr(fuzz, cfg["fuzzy_scorer"])
        cutoff = float(cfg["fuzzy_min_score"])
        toks = [t for t in norm.split() if len(t) >= int(cfg["candidate_min_token_len"]) and t not in _STOP]
        own_words = [t for t in norm.split() if t not in _STOP]
        for domain in domains:
            cand_ids = self._candidates(domain, toks, int(cfg["max_candidates"]))
            if cand_ids is None:
                continue
            items = self._terms_by_domain[domain]
            if scorer is fuzz.token_sort_ratio:
                # the same scores from fuzz.ratio on words sorted once per term, not per comparison
                sorted_terms = self._sorted_words(domain)
                choices = [sorted_terms[cand_ids[0]]] if len(cand_ids) == 1 else itemgetter(*cand_ids)(sorted_terms)
                scored = process.extract(_sort_words(norm), choices, scorer=fuzz.ratio, limit=10)
                scored = [(items[cand_ids[pos]][0], score, pos) for _, score, pos in scored]
            else:
                choices = [items[i][0] for i in cand_ids]
                scored = process.extract(norm, choices, scorer=scorer, limit=10)
            if not scored or scored[0][1] < cutoff:
                continue  # the best candidate already misses the cutoff: no candidate can be accepted
            ranked: list[tuple[float, str, str]] = []
            seen: set[str] = set()
            for text, score, pos in scored:
                cid = items[cand_ids[pos]][1]
                if cid in seen or confusable(norm, text) or not _tokens_align(norm, text, own_words):
                    continue
                seen.add(cid)
                ranked.append((score, cid, text))
                # only the best and the runner-up are used; a best under the cutoff decides alone
                if len(ranked) == 2 or ranked[0][0] < cutoff:
                    break
            if ranked and ranked[0][0] >= cutoff:
                best = ranked[0]
                second = ranked[1] if len(ranked) > 1 else (0.0, "", "")
                return MatchResult(best[1], self.labels.get(best[1], ""), "fuzzy", round(best[0], 1), second[1],
                                   self.labels.get(second[1], ""), round(second[0], 1), f"closest term {best[2]!r}")
        return None

    def _shared_head(self, domains: tuple[str, ...], norm: str) -> MatchResult | None:
        """Two modifiers sharing one head ("visual and auditory hallucinations"): the phrase
        read with its second modifier, then with its first, names the concept."""
        m = _SHARED_HEAD.match(norm)
        if not m:
            return None
        first, rest = m.group(1), m.group(2)
        for phrase in (rest, f"{first} {rest.split(' ', 1)[1]}"):
            hit = self._exact(domains, phrase)
            if hit and not confusable(norm, phrase):
                return MatchResult(hit[0], self.labels.get(hit[0], ""), "fuzzy", 100.0, "", "", 0.0,
                                   f"coordinated modifiers share the head: {phrase!r}")
        return None

    def _head_phrase(self, domains: tuple[str, ...], norm: str) -> MatchResult | None:
        words = norm.split()
        n = len(words)
        min_cov = float(settings()["head_phrase_min_coverage"])
        for size in range(n - 1, 0, -1):
            if size / n < min_cov:
                break
            for start in range(0, n - size + 1):
                sub = words[start:start + size]
                if all(w in _STOP for w in sub):
                    continue
                phrase = " ".join(sub)
                hit = self._exact(domains, phrase)
                if hit and not confusable(norm, phrase):
                    return MatchResult(hit[0], self.labels.get(hit[0], ""), "fuzzy", round(100 * size / n, 1), "", "",
                                       0.0, f"sub-phrase {phrase!r} names the concept")
        return None

    # -- public ----------------------------------------------------------------------------
    def match(self, mention: str, domains: tuple[str, ...]) -> MatchResult:
        norm = normalise_term(mention)
        key = (domains, norm)
        if key in self.cache:
            self.hits += 1
            return self.cache[key]
        self.misses += 1
        result = self._match_norm(norm, domains)
        self.cache[key] = result
        return result

    def _match_norm(self, norm: str, domains: tuple[str, ...]) -> MatchResult:
        if not norm:
            return UNMATCHED
        hit = self._exact(domains, norm)
        if hit:
            return MatchResult(hit[0], self.labels.get(hit[0], ""), hit[1], 100.0, "", "", 0.0, "")
        bare = strip_modifiers(norm)
        if bare and bare != norm:
            hit = self._exact(domains, bare)
            if hit:
                return MatchResult(hit[0], self.labels.get(hit[0], ""), hit[1], 100.0, "", "", 0.0,
                                   f"grading words dropped: {bare!r}")
        for candidate in (norm, bare) if bare and bare != norm else (norm,):
            fz = self._fuzzy(domains, candidate)
            if fz:
                return fz
        shared = self._shared_head(domains, bare or norm)
        if shared:
            return shared
        head = self._head_phrase(domains, bare or norm)
        if head:
            return head
        # "convulsions that are difficult to control", "malignant tumors in the central ...":
        # the noun phrase before a relative clause or a prepositional tail
        cut = _TAIL.split(bare or norm, maxsplit=1)[0].strip()
        if cut and cut != (bare or norm) and any(w not in _STOP for w in cut.split()):
            hit = self._exact(domains, cut) or self._exact(domains, strip_modifiers(cut))
            if hit:
                return MatchResult(hit[0], self.labels.get(hit[0], ""), "fuzzy", round(100 * len(cut.split()) / len((bare or norm).split()), 1),
                                   "", "", 0.0, f"head noun phrase {cut!r} names the concept")
        return UNMATCHED

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


def generic_wording(mention: str, drug: str) -> str:
    """The mention with the drug's own name replaced by "the drug" ("allergic to X")."""
    if not drug:
        return mention
    return re.sub(rf"\b{re.escape(drug)}\b", "the drug", mention, flags=re.I)


@gc_paused_call
def match_table(frame: pd.DataFrame, table: str, matcher: Matcher, drug_of_source: dict[str, str] | None = None,
                text_column: str = "mention") -> pd.DataFrame:
    """``frame`` with concept columns added (concept_id, concept_label, match_method,
    match_score, runner_up_id, runner_up_label, runner_up_score, match_note). Distinct
    wordings are matched once."""
    domains = TABLE_DOMAINS[table]
    out = frame.copy()
    if out.empty:
        for col in MatchResult.__dataclass_fields__:
            out[col] = pd.Series(dtype="float64" if col.endswith("score") else "object")
        return out
    drugs = (out["source_id"].map(drug_of_source) if drug_of_source else pd.Series("", index=out.index)).fillna("")
    texts = out[text_column]
    if "mention_expanded" in out:
        texts = [e if isinstance(e, str) and e else m for m, e in zip(out[text_column], out["mention_expanded"])]
    wording = [generic_wording(m, d) for m, d in zip(texts, drugs)]
    results = {w: matcher.match(w, domains) for w in dict.fromkeys(wording)}
    for col in MatchResult.__dataclass_fields__:
        out[col] = [getattr(results[w], col) for w in wording]
    return out


def ancestors_map(concepts: pd.DataFrame) -> dict[str, set[str]]:
    """concept_id -> every broader concept id (is-a parents transitively, and project groups'
    `covers` lists)."""
    parents = {cid: [p for p in str(ps).split("|") if p] for cid, ps in zip(concepts["concept_id"], concepts["parents"])}
    covered_by: dict[str, set[str]] = defaultdict(set)
    if "covers" in concepts:
        for cid, cov in zip(concepts["concept_id"], concepts["covers"]):
            for code in str(cov or "").split("|"):
                if code:
                    target = code if code.startswith("PRJ:") else f"ICD10:{code}"
                    covered_by[target].add(cid)

    memo: dict[str, set[str]] = {}

    def up(cid: str, depth: int = 0) -> set[str]:
        if cid in memo:
            return memo[cid]
        if depth > 60:
            return set()
        result: set[str] = set()
        for p in parents.get(cid, []) + sorted(covered_by.get(cid, ())):
            result.add(p)
            result |= up(p, depth + 1)
        memo[cid] = result
        return result

    return _LazyAncestors(up)


class _LazyAncestors(dict):
    def __init__(self, fn):
        super().__init__()
        self._fn = fn

    def __missing__(self, key):
        value = self._fn(key)
        self[key] = value
        return value


def concept_relations(used: pd.DataFrame, concepts: pd.DataFrame,
                      ancestors: dict[str, set[str]] | None = None) -> pd.DataFrame:
    """Broader/narrower pairs among the concepts ``used`` (columns drug, concept_id), within
    each drug: one row per (drug, broader_id, narrower_id). ``ancestors``: ``ancestors_map(concepts)``
    when the caller already holds it (an incremental run builds it once at start-up)."""
    anc = ancestors if ancestors is not None else ancestors_map(concepts)
    labels = dict(zip(concepts["concept_id"], concepts["label"]))
    rows = []
    for drug, grp in used.groupby("drug"):
        ids = sorted({c for c in grp["concept_id"] if c})
        idset = set(ids)
        for narrow in ids:
            for broad in anc[narrow] & idset:
                if broad != narrow:
                    rows.append({"drug": drug, "broader_id": broad, "broader_label": labels.get(broad, ""),
                                 "narrower_id": narrow, "narrower_label": labels.get(narrow, ""), "relation": "broader_than"})
    return pd.DataFrame(rows, columns=["drug", "broader_id", "broader_label", "narrower_id", "narrower_label", "relation"])
