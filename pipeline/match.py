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

import numpy as np
import pandas as pd
import yaml
from rapidfuzz import fuzz, process

from pipeline.frames import column_rows
from pipeline.normalise import modifiers, normalise_term, strip_modifiers
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
def _fuzzy_settings() -> tuple:
    """The fuzzy step's settings, converted once: scorer, cutoff, shortest blocking token,
    candidates per mention, token alignment limit."""
    cfg = settings()
    return (getattr(fuzz, cfg["fuzzy_scorer"]), float(cfg["fuzzy_min_score"]), int(cfg["candidate_min_token_len"]),
            int(cfg["max_candidates"]), float(cfg["token_min_ratio"]))


@lru_cache(maxsize=1)
def confusable_pairs() -> list[tuple[str, str]]:
    with open(DATA_DIR / "confusable_pairs.tsv", encoding="utf-8", newline="") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.startswith("#")]
    return [(r["a"].lower(), r["b"].lower()) for r in csv.DictReader(lines, delimiter="\t")]


def confusable(a: str, b: str) -> bool:
    """True when one string has one side of a confusable pair and the other the other side."""
    return _confusable_sides(_sides_in(a.lower()), _sides_in(b.lower()))


def _confusable_sides(sides_a: frozenset[str], sides_b: frozenset[str]) -> bool:
    """``confusable`` on the sides found in each string (the matcher finds a vocabulary term's
    sides once, not once per comparison)."""
    if not sides_a or not sides_b:  # each case needs a side in each string
        return False
    for x, y in confusable_pairs():
        if (x in sides_a and y in sides_b and y not in sides_a and x not in sides_b) or (
                y in sides_a and x in sides_b and x not in sides_a and y not in sides_b):
            return True
    return False


def _find_sides(text: str) -> frozenset[str]:
    """The sides of confusable pairs that occur in ``text``. Most texts hold no side at all: one
    search for any side answers those at once."""
    if not _any_side().search(text):
        return _NO_SIDES
    return frozenset(s for pair in confusable_pairs() for s in pair if s in text)


_NO_SIDES: frozenset[str] = frozenset()
# memoised for ``confusable`` (vocabulary terms recur); the matcher keeps its terms' sides itself
_sides_in = lru_cache(maxsize=1 << 16)(_find_sides)


def _sides_of_words(text: str) -> frozenset[str]:
    """``_sides_in(text.lower())`` word by word: no side holds a space, so a side occurs in the
    text only inside one word, and the words of unseen mentions are mostly vocabulary words
    whose sides are memoised (a new text otherwise costs a search for every side at every
    position)."""
    lowered = text.lower()
    if _sides_span_spaces():
        return _sides_in(lowered)
    found = [sides for sides in map(_sides_in, lowered.split()) if sides]
    if not found:
        return _NO_SIDES
    return found[0] if len(found) == 1 else frozenset().union(*found)


@lru_cache(maxsize=1)
def _sides_span_spaces() -> bool:
    return any(ch.isspace() for pair in confusable_pairs() for side in pair for ch in side)


@lru_cache(maxsize=1)
def _any_side() -> re.Pattern:
    sides = sorted({s for pair in confusable_pairs() for s in pair}, key=len, reverse=True)
    return re.compile("|".join(re.escape(s) for s in sides)) if sides else re.compile(r"(?!)")


_ratio = fuzz.ratio
_SMALL_POSTINGS = 128  # up to this many postings, candidates are counted with a dict


def _sort_words(text: str) -> str:
    """The words of ``text`` sorted and joined by one space, as token_sort_ratio compares them."""
    return " ".join(sorted(text.split()))


def _content_words(text: str) -> tuple[str, ...]:
    """The words of ``text`` that the token-alignment guard compares (stop words left out)."""
    return tuple([t for t in text.split() if t not in _STOP])


class _MentionGuards:
    """The confusable-pair and token-alignment guards of one mention, asked of many vocabulary
    terms: ``accepts`` answers whether the term is not confusable with the mention and every
    content word of each has a word of the other with ``fuzz.ratio`` at least
    ``token_min_ratio`` (tests/unit/test_match.py states that plainly and compares), but the mention's sides are found once, and each term word's closeness to the
    mention's words is computed once and remembered (a mention's candidates share words:
    "abnormality of the ..."), so a candidate costs a few dict look-ups, not word comparisons."""

    __slots__ = ("sides", "words", "lengths", "limit", "all_covered", "near")

    def __init__(self, norm: str, words: list[str], limit: float):
        self.sides = _sides_of_words(norm)
        self.words = words  # the mention's content words
        self.lengths = [len(x) for x in words]
        self.limit = limit
        self.all_covered = (1 << len(words)) - 1
        self.near: dict[str, int] = {}  # term word -> bit k set when it is close to mention word k

    def accepts(self, term_words: tuple[str, ...], term_sides: frozenset[str]) -> bool:
        """``term_words``: the term's content words; ``term_sides``: its confusable-pair sides.
        The alignment, with the mention's words: every term word is close
        to some mention word (its bits are not 0), and every mention word to some term word
        (the bits of all term words together cover every mention word). fuzz.ratio is
        symmetric, so one comparison per pair answers both directions."""
        if term_sides and self.sides and _confusable_sides(self.sides, term_sides):
            return False
        words, limit = self.words, self.limit
        if not words or not term_words:
            return False
        if limit <= 0:
            return True
        if limit > 100:
            return False
        near, covered = self.near, 0
        for y in term_words:
            bits = near.get(y)
            if bits is None:
                bits = 0
                len_y = len(y)
                for k, x in enumerate(words):
                    if x == y:  # an equal word scores 100, which every limit here passes
                        bits |= 1 << k
                        continue
                    # most word pairs differ in length too much to reach the limit (ratio is at most
                    # 100 * (1 - |len_x - len_y| / (len_x + len_y))): skip the comparison for those
                    # whose bound is half a point or more under it (clear of any rounding; rapidfuzz
                    # applies score_cutoff with a float tolerance that can drop a score equal to it)
                    len_x = self.lengths[k]
                    gap = len_x - len_y if len_x > len_y else len_y - len_x
                    if gap * 100 > (100.5 - limit) * (len_x + len_y):
                        continue
                    if _ratio(x, y, score_cutoff=limit):
                        bits |= 1 << k
                near[y] = bits
            if not bits:
                return False
            covered |= bits
        return covered == self.all_covered


@lru_cache(maxsize=1)
def _modifier_first_words() -> frozenset[str] | None:
    """The first word of each grading word as ``strip_modifiers`` looks for it (normalised,
    between spaces); None when one is empty or not single-spaced, so the shortcut is off."""
    found = set()
    for m in modifiers():
        norm = normalise_term(m)
        if not norm or norm != " ".join(norm.split()):
            return None
        found.add(norm.split(" ")[0])
    return frozenset(found)


def _strip_modifiers(norm: str) -> str:
    """``strip_modifiers(norm)``, answered at once for the many mentions that hold no grading
    word (it otherwise tries every modifier in turn). A modifier is replaced only where it
    stands between spaces, so its first word is then one of the text's space-separated words;
    when none is, no replacement changes the text and only the clean-up of the spaces is left."""
    first_words = _modifier_first_words()
    if first_words is None or not first_words.isdisjoint(norm.split(" ")):
        return strip_modifiers(norm)
    return " ".join(norm.split())


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
        self.labels = dict(zip(concepts["concept_id"].tolist(), concepts["label"].tolist()))
        self._lookup: dict[tuple[str, str], list[tuple[int, str, str]]] = defaultdict(list)
        self._terms_by_domain: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        self._index: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        self._term_norms: set[str] = set()  # every term of every domain: most sub-phrases are none
        min_len = int(settings()["candidate_min_token_len"])
        # read column by column: itertuples converts every Arrow-backed cell one at a time
        for row in column_rows(terms, ("domain", "term_norm", "concept_id", "term_type")):
            rank = _TYPE_RANK.get(row.term_type, 3)
            self._lookup[(row.domain, row.term_norm)].append((rank, row.concept_id, row.term_type))
            self._term_norms.add(row.term_norm)
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
        self._sorted_terms: dict[str, np.ndarray] = {}
        self._scratch: dict[str, np.ndarray] = {}
        # per domain, built on first use: every term's content words and confusable-pair sides,
        # which the guards ask of each scored candidate
        self._guard_data: dict[str, tuple[list[tuple[str, ...]], list[frozenset[str]]]] = {}

    def _candidates(self, domain: str, toks: list[str], limit: int) -> np.ndarray | None:
        """The ``limit`` terms sharing most tokens with the mention, ties in order of first
        encounter (token by token, each token's terms in its set's order), as an array of term
        positions (the scorer's choices are picked with it in one numpy index); None when no
        term shares a token. Counted with numpy in a per-domain scratch array instead of a
        Python loop over every posting: a word such as "abnormality" names thousands of HPO terms."""
        postings = self._postings.get(domain)
        if postings is None:
            postings = self._postings[domain] = {tok: np.fromiter(ids, dtype=np.int64, count=len(ids))
                                                 for tok, ids in self._index[domain].items()}
            self._scratch[domain] = np.zeros(len(self._terms_by_domain[domain]), dtype=np.uint8)
        arrays = [postings[t] for t in toks if t in postings]
        if not arrays:
            return None
        if len(arrays) == 1:  # every count is 1: the posting order is the order
            return arrays[0][:limit]
        # few terms: a dict is quicker than numpy (and counts any number of tokens: the scratch
        # array holds counts up to 255)
        if sum(map(len, arrays)) <= _SMALL_POSTINGS or len(arrays) > 255:
            counts_of: dict[int, int] = {}
            for tok in toks:
                for i in self._index[domain].get(tok, ()):
                    counts_of[i] = counts_of.get(i, 0) + 1
            return np.array(sorted(counts_of, key=lambda i: -counts_of[i])[:limit], dtype=np.int64)
        count = self._scratch[domain]
        firsts = [arrays[0]]
        ids = None
        try:
            count[arrays[0]] = 1  # the scratch array is all zeros: each term of the first token is new
            for arr in arrays[1:]:  # a token's terms are distinct, so the fancy-index update is exact
                seen = count[arr]
                firsts.append(arr[seen == 0])
                count[arr] = seen + 1
            ids = np.concatenate(firsts)  # each term once, in order of first encounter
            counts = count[ids]
        finally:  # every term counted is in ids: one reset instead of one per token, or one
            # write of the whole (small) array when many terms were counted
            if ids is None or len(ids) * 64 > len(count):
                count.fill(0)
            else:
                count[ids] = 0
        parts, n = [], 0
        for k in range(len(arrays), 0, -1):  # most shared tokens first; equal counts keep their order
            part = ids[counts == k][: limit - n]
            parts.append(part)
            n += len(part)
            if n >= limit:
                break
        return np.concatenate(parts)

    def prepare(self, domains=None) -> "Matcher":
        """Build the per-domain candidate structures now rather than on first use (benchmarks
        count this with the start-up, not with the first mentions)."""
        for domain in domains or list(self._terms_by_domain):
            self._candidates(domain, [], 1)
            self._sorted_words(domain)
            self._term_guards(domain)
        return self

    def _sorted_words(self, domain: str) -> np.ndarray:
        """Every term of ``domain`` with its words sorted, in an object array: a mention's
        candidates are picked from it with one numpy index, not one Python look-up each."""
        found = self._sorted_terms.get(domain)
        if found is None:
            found = np.empty(len(self._terms_by_domain[domain]), dtype=object)
            found[:] = [_sort_words(t[0]) for t in self._terms_by_domain[domain]]
            self._sorted_terms[domain] = found
        return found

    def _term_guards(self, domain: str) -> tuple[list[tuple[str, ...]], list[frozenset[str]]]:
        """Each term's content words and confusable-pair sides, found once per term instead of
        once per comparison with a mention."""
        found = self._guard_data.get(domain)
        if found is None:
            texts = [t[0] for t in self._terms_by_domain[domain]]
            found = self._guard_data[domain] = ([_content_words(t) for t in texts],
                                                [_sides_of_words(t) for t in texts])
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
        scorer, cutoff, min_len, max_candidates, token_limit = _fuzzy_settings()
        words = norm.split()
        toks = [t for t in words if len(t) >= min_len and t not in _STOP]
        # token_sort_ratio is fuzz.ratio on the words sorted: the mention's once, each term's once
        by_sorted_words = scorer is fuzz.token_sort_ratio
        query = guards = None  # made when first needed: many mentions share no token with a term
        for domain in domains:
            cand_ids = self._candidates(domain, toks, max_candidates)
            if cand_ids is None:
                continue
            if query is None:
                query = _sort_words(norm) if by_sorted_words else norm
            items = self._terms_by_domain[domain]
            if by_sorted_words:
                scored = process.extract(query, self._sorted_words(domain)[cand_ids].tolist(), scorer=fuzz.ratio,
                                         limit=10)
            else:
                scored = process.extract(query, [items[i][0] for i in cand_ids.tolist()], scorer=scorer, limit=10)
            if not scored or scored[0][1] < cutoff:
                continue  # the best candidate already misses the cutoff: no candidate can be accepted
            if guards is None:
                guards = _MentionGuards(norm, [t for t in words if t not in _STOP], token_limit)
            term_words, term_sides = self._term_guards(domain)
            hits = cand_ids[[pos for _, _, pos in scored]].tolist()
            # the best is the first candidate (best score first) the guards accept: it must reach
            # the cutoff, so the search ends at the first one under it, as every later one scores
            # no higher; the runner-up is the next accepted candidate of another concept
            best = second = -1
            best_score = second_score = 0.0
            for (_, score, _), i in zip(scored, hits):
                if best < 0:
                    if score < cutoff:
                        break
                    if guards.accepts(term_words[i], term_sides[i]):
                        best, best_score = i, score
                elif items[i][1] != items[best][1] and guards.accepts(term_words[i], term_sides[i]):
                    second, second_score = i, score
                    break
            if best >= 0:
                cid = items[best][1]
                second_id = items[second][1] if second >= 0 else ""
                return MatchResult(cid, self.labels.get(cid, ""), "fuzzy", round(best_score, 1), second_id,
                                   self.labels.get(second_id, ""), round(second_score, 1),
                                   f"closest term {items[best][0]!r}")
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
                phrase = " ".join(sub)
                if phrase not in self._term_norms or all(w in _STOP for w in sub):
                    continue
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
        bare = _strip_modifiers(norm)
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
            hit = self._exact(domains, cut) or self._exact(domains, _strip_modifiers(cut))
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
    if mention.isascii() and drug.isascii() and drug.lower() not in mention.lower():
        return mention  # most mentions: no need for the pattern (ASCII case-insensitivity is lower())
    return _drug_name_pattern(drug).sub("the drug", mention)


@lru_cache(maxsize=4096)
def _drug_name_pattern(drug: str) -> re.Pattern:
    """The drug's name as a whole word, any case, compiled once per drug (a corpus of many drugs
    outgrows ``re``'s own cache of patterns)."""
    return re.compile(rf"\b{re.escape(drug)}\b", re.I)


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
    # columns read as lists once: iterating Arrow-backed strings converts one cell at a time
    sources = out["source_id"].tolist()
    drugs = [d if isinstance(d, str) else "" for d in map(drug_of_source.get, sources)] if drug_of_source \
        else [""] * len(out)
    texts = out[text_column].tolist()
    if "mention_expanded" in out:
        texts = [e if isinstance(e, str) and e else m for m, e in zip(texts, out["mention_expanded"].tolist())]
    wording = [generic_wording(m, d) for m, d in zip(texts, drugs)]
    fields = list(MatchResult.__dataclass_fields__)
    results = {w: matcher.match(w, domains) for w in dict.fromkeys(wording)}
    results = {w: tuple(getattr(r, f) for f in fields) for w, r in results.items()}
    for col, values in zip(fields, zip(*map(results.__getitem__, wording))):
        out[col] = list(values)
    return out


def ancestors_map(concepts: pd.DataFrame) -> dict[str, set[str]]:
    """concept_id -> every broader concept id (is-a parents transitively, and project groups'
    `covers` lists)."""
    parents = {cid: [p for p in str(ps).split("|") if p]
               for cid, ps in zip(concepts["concept_id"].tolist(), concepts["parents"].tolist())}
    covered_by: dict[str, set[str]] = defaultdict(set)
    if "covers" in concepts:
        for cid, cov in zip(concepts["concept_id"].tolist(), concepts["covers"].tolist()):
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
    labels = dict(zip(concepts["concept_id"].tolist(), concepts["label"].tolist()))
    by_drug: dict[str, set[str]] = {}  # as groupby("drug") groups them: missing drugs left out, drugs sorted
    for drug, cid in zip(used["drug"].tolist(), used["concept_id"].tolist()):
        if isinstance(drug, str):
            found = by_drug.setdefault(drug, set())
            if cid:
                found.add(cid)
    rows = []
    for drug in sorted(by_drug):
        ids = sorted(by_drug[drug])
        idset = by_drug[drug]
        for narrow in ids:
            for broad in anc[narrow] & idset:
                if broad != narrow:
                    rows.append({"drug": drug, "broader_id": broad, "broader_label": labels.get(broad, ""),
                                 "narrower_id": narrow, "narrower_label": labels.get(narrow, ""), "relation": "broader_than"})
    return pd.DataFrame(rows, columns=["drug", "broader_id", "broader_label", "narrower_id", "narrower_label", "relation"])
