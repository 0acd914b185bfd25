"""Literal prefilters for regular expressions: skip a search that cannot match.

Most cue patterns need some word to be present ("interact", "side effect", "store"...). From a
compiled pattern, ``needles(pattern)`` derives a set of lower-case ASCII strings of which every
match contains at least one (the way RE2 and Hyperscan prefilter); when a text contains none of
them, the pattern cannot match it and is not run. The answer is never wrong, only sometimes
unhelpful: a pattern with no derivable literal (``\\d+ mg`` has one, ``[A-Z]\\w+`` has none) is
always run.

A pattern every match of which holds a decimal digit (a phone number, a dose) is also skipped,
with one search for a digit, in a text that has none (``needs_digit``).

Soundness: needles come only from the part of a pattern that consumes text (never from look-
around assertions, whose text may lie outside a match or outside ``pos:endpos``); every
alternative of a branch must contribute; a repeat counts only when it must occur at least once.
Texts are compared lower-cased; under ``re.IGNORECASE`` three characters (U+0130, U+0131,
U+017F) match an ASCII letter without lower-casing to it, so a text holding one of them is never
filtered.
"""

from __future__ import annotations

import re
from functools import lru_cache

try:  # Python 3.11+
    from re import _constants as _C
    from re import _parser as _P
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _C  # type: ignore[no-redef]
    import sre_parse as _P  # type: ignore[no-redef]

# Characters that IGNORECASE matches to an ASCII letter although str.lower() does not map them to it.
_UNSAFE = ("\u0130", "\u0131", "\u017f")
_REPEATS = {_C.MAX_REPEAT, _C.MIN_REPEAT}
if hasattr(_C, "POSSESSIVE_REPEAT"):
    _REPEATS.add(_C.POSSESSIVE_REPEAT)


def _best(candidates: list[frozenset[str]]) -> frozenset[str] | None:
    """The most selective requirement: the one whose shortest needle is longest, then fewest."""
    if not candidates:
        return None
    return max(candidates, key=lambda c: (min(len(s) for s in c), -len(c)))


def _required(seq) -> frozenset[str] | None:
    """A set of strings of which any match of the parsed sequence ``seq`` contains one, or None."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            candidates.append(frozenset(["".join(run)]))
            run.clear()

    for op, av in seq:
        if op is _C.LITERAL and av < 128:
            run.append(chr(av).lower())
            continue
        close_run()
        if op is _C.SUBPATTERN:
            sub = _required(av[-1])
        elif op is _C.BRANCH:
            branches = [_required(b) for b in av[1]]
            sub = frozenset().union(*branches) if branches and all(b for b in branches) else None
        elif op in _REPEATS:
            low, _high, body = av
            sub = _required(body) if low >= 1 else None
        elif getattr(_C, "ATOMIC_GROUP", None) is not None and op is _C.ATOMIC_GROUP:
            sub = _required(av)
        else:  # classes, categories, anchors, assertions, back references: no literal
            sub = None
        if sub:
            candidates.append(sub)
    close_run()
    best = _best(candidates)
    return best if best and all(best) else None


def _digits_only(items) -> bool:
    """Whether a character set (the items of an IN node) matches decimal digits only."""
    if not items:
        return False
    for op, av in items:
        if op is _C.CATEGORY and av is _C.CATEGORY_DIGIT:
            continue
        if op is _C.LITERAL and 48 <= av <= 57:
            continue
        if op is _C.RANGE and 48 <= av[0] <= av[1] <= 57:
            continue
        return False  # a negation, another class or character
    return True


def _requires_digit(seq) -> bool:
    """Whether every match of the parsed sequence ``seq`` holds a decimal digit (from the part
    that consumes text only, as for needles)."""
    for op, av in seq:
        if op is _C.LITERAL and 48 <= av <= 57:
            return True
        if op is _C.IN and _digits_only(av):
            return True
        if op is _C.SUBPATTERN and _requires_digit(av[-1]):
            return True
        if op is _C.BRANCH and av[1] and all(_requires_digit(b) for b in av[1]):
            return True
        if op in _REPEATS and av[0] >= 1 and _requires_digit(av[2]):
            return True
        if getattr(_C, "ATOMIC_GROUP", None) is not None and op is _C.ATOMIC_GROUP and _requires_digit(av):
            return True
    return False


@lru_cache(maxsize=4096)
def needs_digit(pattern: re.Pattern) -> bool:
    """True when every match of ``pattern`` holds a decimal digit (``\\d``, a digit, a range of them)."""
    try:
        return _requires_digit(_P.parse(pattern.pattern, pattern.flags))
    except Exception:  # an exotic pattern: never filter it
        return False


_ANY_DIGIT = re.compile(r"\d")


@lru_cache(maxsize=4096)
def needles(pattern: re.Pattern) -> tuple[str, ...] | None:
    """Lower-case strings of which every match of ``pattern`` contains one; None when unknown."""
    try:
        parsed = _P.parse(pattern.pattern, pattern.flags)
    except Exception:  # an exotic pattern: never filter it
        return None
    found = _required(parsed)
    return tuple(sorted(found, key=len, reverse=True)) if found else None


def lowered(text: str) -> str | None:
    """``text`` lower-cased for ``may_match``, or None when it must not be filtered."""
    if not text.isascii() and any(ch in text for ch in _UNSAFE):
        return None
    return text.lower()


# id(pattern) -> (pattern, needles). Keyed by identity: hashing a compiled pattern hashes its
# whole compiled code each time, which cost more than the check it guards.
_NEEDLES: dict[int, tuple] = {}


def may_match(pattern: re.Pattern, low: str | None) -> bool:
    """False only when ``pattern`` cannot match the text whose ``lowered`` form is ``low``."""
    if low is None:
        return True
    entry = _NEEDLES.get(id(pattern))
    if entry is None or entry[0] is not pattern:
        entry = _NEEDLES[id(pattern)] = (pattern, needles(pattern), needs_digit(pattern))
    if entry[2] and not _ANY_DIGIT.search(low):  # lower-casing changes no digit
        return False
    found = entry[1]
    if found is None:
        return True
    for n in found:
        if n in low:
            return True
    return False


_GATES: dict[int, tuple] = {}


def _gate_regex(patterns) -> re.Pattern | None:
    """One search for "any needle of the group is in the text": the needles as a trie of
    alternatives (each character compared once per position, where a flat alternation tries
    every needle), without the needles that contain a shorter one (that one is enough)."""
    found = [needles(p) for p in patterns]
    if not found or any(f is None for f in found):
        return None
    union = sorted({n for f in found for n in f}, key=len)
    minimal: list[str] = []
    for n in union:
        if not any(m in n for m in minimal):
            minimal.append(n)
    return re.compile(_trie_pattern(minimal))


def _trie_pattern(words: list[str]) -> str:
    """A regular expression matching exactly the given strings (none a prefix of another)."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        alternatives = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alternatives:
            return ""
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"

    return build(trie)


def any_may_match(patterns, low: str | None) -> bool:
    """False only when no pattern of the group ``patterns`` (a list kept for the process's
    life, such as a compiled cue list) can match the text whose ``lowered`` form is ``low``:
    one search for all the group's needles instead of one check per pattern."""
    if low is None:
        return True
    entry = _GATES.get(id(patterns))
    if entry is None or entry[0] is not patterns:
        entry = _GATES[id(patterns)] = (patterns, _gate_regex(patterns))
    return entry[1] is None or entry[1].search(low) is not None
