"""Compiled wording cues from ``data/extraction_cues.yaml``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import yaml

from pipeline.extract.prefilter import any_may_match, lowered, may_match
from pipeline.paths import DATA_DIR

STANCE_ORDER = ["contraindicated", "avoid", "caution", "indication"]
# The functions below are pure functions of their text and the (fixed) rule files, and the same
# headings, lead-ins and list items come back unit after unit: their results are memoised.
_CACHE_SIZE = 1 << 16  # distinct wordings remembered per process (headings and lead-ins repeat)


@lru_cache(maxsize=1)
def extraction_cues() -> dict:
    with open(DATA_DIR / "extraction_cues.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@dataclass(frozen=True)
class Compiled:
    stance: dict[str, list[re.Pattern]]
    topic_stance: dict[str, str]
    heading_stance: list[tuple[re.Pattern, str]]
    ae_context: list[re.Pattern]
    ae_category: list[tuple[str, re.Pattern]]
    ae_category_sentence_wide: list[tuple[str, re.Pattern]]
    topic_ae_category: dict[str, str]
    interaction_context: list[re.Pattern]
    direction: dict[str, re.Pattern]
    negation: re.Pattern
    hedge: re.Pattern
    no_fact_strong: list[re.Pattern]
    no_fact_weak: list[re.Pattern]
    max_words: int
    bad_start: re.Pattern
    ae_bad_word: re.Pattern
    condition_bad_word: re.Pattern
    agent_bad_word: re.Pattern
    therapeutic_start: re.Pattern
    ae_phrases: list[re.Pattern]
    ae_phrase_rules: list["PhraseRule"]
    body_parts: frozenset
    umbrella: re.Pattern


@dataclass(frozen=True)
class PhraseRule:
    """One ``ae_phrases`` entry: a pattern whose group ``m`` is the effect; optionally the
    category it always has (dependence is a long-term effect wherever it is named) and whether
    it applies only inside a section about effects."""
    pattern: re.Pattern
    category: str | None = None
    effects_section_only: bool = False


def _phrase_rules(entries: list) -> list[PhraseRule]:
    rules = []
    for entry in entries:
        if isinstance(entry, str):
            rules.append(PhraseRule(re.compile(entry, re.I)))
        else:
            rules.append(PhraseRule(re.compile(entry["pattern"], re.I), entry.get("category"),
                                    bool(entry.get("effects_section_only", False))))
    return rules


@lru_cache(maxsize=1)
def compiled() -> Compiled:
    c = extraction_cues()
    flags = re.I
    phrase_rules = _phrase_rules(c["ae_phrases"])
    return Compiled(
        stance={k: [re.compile(p, flags) for p in v] for k, v in c["stance"].items()},
        topic_stance=dict(c["topic_stance"]),
        heading_stance=[(re.compile(h["pattern"], flags), h["stance"]) for h in c["heading_stance"]],
        ae_context=[re.compile(p, flags) for p in c["ae_context"]],
        ae_category=[(r["category"], re.compile(r["pattern"], flags)) for r in c["ae_category"]],
        ae_category_sentence_wide=[(r["category"], re.compile(r["pattern"], flags)) for r in c["ae_category"]
                                   if r.get("sentence_wide")],
        topic_ae_category=dict(c["topic_ae_category"]),
        interaction_context=[re.compile(p, flags) for p in c["interaction_context"]],
        direction={k: re.compile(v, flags) for k, v in c["direction"].items()},
        negation=re.compile(c["negation"], flags),
        hedge=re.compile(c["hedge"], flags),
        no_fact_strong=[re.compile(p, flags) for p in c["no_fact_context_strong"]],
        no_fact_weak=[re.compile(p, flags) for p in c["no_fact_context_weak"]],
        max_words=int(c["mention_max_words"]),
        bad_start=re.compile(c["mention_bad_start"], flags),
        ae_bad_word=re.compile(c["ae_bad_word"], flags),
        condition_bad_word=re.compile(c["condition_bad_word"], flags),
        agent_bad_word=re.compile(c["agent_bad_word"], flags),
        therapeutic_start=re.compile(c["therapeutic_start"], flags),
        ae_phrases=[r.pattern for r in phrase_rules],
        ae_phrase_rules=phrase_rules,
        body_parts=frozenset(w.lower() for w in c["body_parts"]),
        umbrella=re.compile(c["umbrella"], flags),
    )


def stances_in(text: str) -> list[tuple[str, str]]:
    """(stance, cue words) named in ``text``, strongest first, each stance once."""
    return list(_stances_in(text))


@lru_cache(maxsize=_CACHE_SIZE)
def _stances_in(text: str) -> tuple[tuple[str, str], ...]:
    found = []
    low = lowered(text)
    if not any_may_match(_all_stance_patterns(), low):
        return ()
    for stance in STANCE_ORDER:
        for pattern in compiled().stance[stance]:
            m = pattern.search(text) if may_match(pattern, low) else None
            if m:
                found.append((stance, m.group(0)))
                break
    return tuple(found)


@lru_cache(maxsize=_CACHE_SIZE)
def has_ae_context(text: str) -> bool:
    low = lowered(text)
    if not any_may_match(compiled().ae_context, low):
        return False
    return any(may_match(p, low) and p.search(text) for p in compiled().ae_context)


@lru_cache(maxsize=_CACHE_SIZE)
def has_interaction_context(text: str) -> bool:
    low = lowered(text)
    if not any_may_match(compiled().interaction_context, low):
        return False
    return any(may_match(p, low) and p.search(text) for p in compiled().interaction_context)


@lru_cache(maxsize=_CACHE_SIZE)
def ae_category_in(text: str) -> str | None:
    low = lowered(text)
    for category, pattern in compiled().ae_category:
        if may_match(pattern, low) and pattern.search(text):
            return category
    return None


def ae_category(contexts: list[str], sentence: str, default: str) -> str:
    """The highest-priority category whose cue appears in any context (or, for cues allowed
    anywhere in the sentence, in the whole sentence)."""
    wide = _wide_categories()
    hits = [_category_hits(c) for c in contexts if c]
    sentence_hits = None
    for i, (category, _) in enumerate(compiled().ae_category):
        if any(h[i] for h in hits):
            return category
        if category in wide:
            if sentence_hits is None:
                sentence_hits = _category_hits(sentence)
            if sentence_hits[i]:
                return category
    return default


@lru_cache(maxsize=1)
def _wide_categories() -> frozenset:
    return frozenset(cat for cat, _ in compiled().ae_category_sentence_wide)


@lru_cache(maxsize=_CACHE_SIZE)
def _category_hits(text: str) -> tuple[bool, ...]:
    """For each ae_category rule in order: whether its cue appears in ``text``."""
    low = lowered(text)
    if not any_may_match(_category_patterns(), low):
        return (False,) * len(compiled().ae_category)
    return tuple(bool(may_match(pattern, low) and pattern.search(text)) for _, pattern in compiled().ae_category)


@lru_cache(maxsize=1)
def _category_patterns() -> list:
    return [pattern for _, pattern in compiled().ae_category]


@lru_cache(maxsize=1)
def _all_stance_patterns() -> list:
    return [pattern for stance in STANCE_ORDER for pattern in compiled().stance[stance]]


@lru_cache(maxsize=_CACHE_SIZE)
def direction_in(text: str) -> str:
    low = lowered(text)
    for direction in ("increases", "decreases", "alters"):
        pattern = compiled().direction[direction]
        if may_match(pattern, low) and pattern.search(text):
            return direction
    return "unspecified"


@lru_cache(maxsize=_CACHE_SIZE)
def is_no_fact_context(text: str, strong: bool) -> bool:
    patterns = compiled().no_fact_strong if strong else compiled().no_fact_weak
    low = lowered(text)
    if not any_may_match(patterns, low):
        return False
    return any(may_match(p, low) and p.search(text) for p in patterns)


@lru_cache(maxsize=_CACHE_SIZE)
def plausible_mention(text: str, table: str, drug: str = "") -> bool:
    """Whether ``text`` can name an effect (table='adverse_effects') or a condition."""
    c = compiled()
    words = text.split()
    if not words or len(words) > c.max_words or c.bad_start.match(text) or c.umbrella.match(text):
        return False
    if drug and table in ("adverse_effects", "interactions") and drug.lower() in text.lower():
        return False
    if table == "interactions":
        return not c.agent_bad_word.search(text) and not c.umbrella.match(text)
    bad = c.ae_bad_word if table == "adverse_effects" else c.condition_bad_word
    return not bad.search(text)
