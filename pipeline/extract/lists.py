"""Cut enumerations into mention spans: "nausea / vomiting", "rash; wheezing; swelling of the
lips, tongue, or throat", "numbness, tingling, or burning in your hands, arms, or feet".

Every function returns (start, end) offsets into the text it was given, so mentions keep their
provenance; nothing is rewritten.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.extract.cues import extraction_cues

_TRAIL = " \t\r\n.,;:!?•*-–—\"'“”’)"
_LEAD = " \t\r\n.,;:!?•*-–—\"'“”‘("


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s] in _LEAD:
        # keep an opening parenthesis only when its closing one is inside the span
        if text[s] == "(" and ")" in text[s:e]:
            break
        s += 1
    while e > s and text[e - 1] in _TRAIL:
        if text[e - 1] == ")" and "(" in text[s:e - 1]:
            break
        e -= 1
    return s, e


@lru_cache(maxsize=1)
def _patterns():
    cues = extraction_cues()
    return (re.compile(cues["leading_words"], re.I), re.compile(cues["body_site_tail"], re.I),
            re.compile(cues["place_tail"], re.I))


_BRACKET = re.compile(r"[()\[\]]")


@lru_cache(maxsize=64)
def _separators(seps: tuple[str, ...]) -> re.Pattern:
    # alternatives in the order given: at a position the first separator that fits wins, as below
    return re.compile("|".join(re.escape(sep) for sep in seps))


def _top_level_splits(text: str, s: int, e: int, seps: tuple[str, ...]) -> list[tuple[int, int]]:
    """Split [s, e) on any separator outside parentheses."""
    if not _BRACKET.search(text, s, e):
        # no bracket, so every separator is at top level: let the regex engine find them
        parts, start = [], s
        for m in _separators(seps).finditer(text, s, e):
            parts.append((start, m.start()))
            start = m.end()
        parts.append((start, e))
        return parts
    parts, depth, start, i = [], 0, s, s
    while i < e:
        ch = text[i]
        if ch in "([":
            depth += 1
        elif ch in ")]" and depth:
            depth -= 1
        elif depth == 0:
            for sep in seps:
                if text.startswith(sep, i) and i + len(sep) <= e:
                    parts.append((start, i))
                    start = i + len(sep)
                    i = start - 1
                    break
        i += 1
    parts.append((start, e))
    return parts


_ADJECTIVE_END = re.compile(r"(?:al|ic|ous|ive|ary)$", re.I)
_NO_SPLIT_AND = re.compile(r"\band (?:above|older|over|under|younger)\b", re.I)


_PARENTHESIS = re.compile(r"\([^()]*\)")
_LEADING_CONJ = re.compile(r"^(?:or|and)\s+")
_DASH = re.compile(r"\s[–—]\s|\s-\s")
_OR_OR_COMMA = re.compile(r"\bor\b|,")
_ABBREVIATION = re.compile(r"[A-Z][A-Za-z]{0,5}")


def _words_outside_parens(t: str) -> int:
    return len(_PARENTHESIS.sub(" ", t).split())


def _conj_split(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """Split on ' or ' and ' leading to ' always, and on ' and ' when every piece is short,
    unless the 'and' joins two objects of one 'of' ("ulcer of the stomach and duodenum") or
    closes an age range ("12 and above")."""
    out = []
    for a, b in _top_level_splits(text, s, e, (" or ", " leading to ")):
        if _NO_SPLIT_AND.search(text, a, b):
            out.append((a, b))
            continue
        pieces = _top_level_splits(text, a, b, (" and ",))
        shared_of = len(pieces) == 2 and len(text[pieces[1][0]:pieces[1][1]].split()) == 1 and " of " in text[pieces[0][0]:pieces[0][1]]
        # "central and peripheral nervous system": two adjectives sharing one noun
        shared_head = len(pieces) == 2 and bool(_ADJECTIVE_END.search(text[pieces[0][0]:pieces[0][1]].strip())) and len(
            text[pieces[1][0]:pieces[1][1]].split()) >= 2
        if len(pieces) > 1 and not shared_of and not shared_head and all(_words_outside_parens(text[x:y]) <= 8 for x, y in pieces):
            out += pieces
        else:
            out.append((a, b))
    return out


_PAREN = re.compile(r"\s*\(([^()]*)\)\s*$")


def trim_mention(text: str, s: int, e: int) -> tuple[int, int]:
    """Drop leading function words ("a", "any", "such as", "promotes") and closing punctuation."""
    lead = _patterns()[0]
    s, e = _strip(text, s, e)
    for _ in range(4):
        m = lead.match(text, s, e)
        if not m or m.end() >= e:
            break
        s = m.end()
        s, e = _strip(text, s, e)
    return s, e


def _cut_place_tail(text: str, s: int, e: int, max_words: int) -> int:
    """End of a mention too long to name one thing, without its closing place phrase: "weakens
    the response of sensory pathways on the surface of the lower spinal cord" names its effect
    before "on the ..."; a mention of a plausible length keeps its place ("pain in the chest")."""
    if len(text[s:e].split()) <= max_words:
        return e
    for m in _patterns()[2].finditer(text, s, e):
        if 2 <= len(text[s:m.start()].split()) <= max_words:
            return m.start()
    return e


def split_enumeration(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """Mention spans of an enumeration in text[s:e].

    A trailing parenthesis that lists items ("... organs (vomiting, colic, pain)") adds its
    items; one that comments ("coma (after the return of consciousness ...)") is dropped.
    """
    from pipeline.extract.cues import compiled

    site_tail = _patterns()[1]
    body_parts = compiled().body_parts
    spans: list[tuple[int, int]] = []
    def is_site(frag: tuple[int, int]) -> bool:
        return _LEADING_CONJ.sub("", text[frag[0]:frag[1]].strip().lower()) in body_parts

    for a, b in _top_level_splits(text, s, e, (";",)):
        in_site_list = False
        fragments = _top_level_splits(text, a, b, (",", " / ", "/ "))
        for k, (c, d) in enumerate(fragments):
            c, d = _strip(text, c, d)
            if c >= d:
                continue
            dash = _DASH.search(text[c:d])
            if dash:  # "with prolonged use – impaired renal function": the effect follows the dash
                c, d = _strip(text, c + dash.end(), d)
            bare = _LEADING_CONJ.sub("", text[c:d].strip().lower())
            if in_site_list and bare in body_parts:
                continue  # "arms", "or feet" after "numbness in your hands"
            in_site_list = False
            m = site_tail.search(text, c, d)
            # a tail listing several sites is dropped ("numbness in your hands, arms, or feet");
            # one site that defines the effect stays ("tightness in the chest")
            if m and (k + 1 < len(fragments) and is_site(fragments[k + 1]) or _OR_OR_COMMA.search(text[m.start():d])):
                in_site_list = True
                d = m.start()
            for x, y in _conj_split(text, c, d):
                x, y = _strip(text, x, y)
                paren = _PAREN.search(text, x, y)
                if paren and paren.end() == y:
                    inner = text[paren.start(1):paren.end(1)]
                    parts = inner.split(",")
                    if len(parts) > 1 and all(len(p.split()) <= 4 for p in parts):
                        spans += split_enumeration(text, paren.start(1), paren.end(1))
                        y = paren.start()
                    elif "," in inner or len(inner.split()) > 4 or _ABBREVIATION.fullmatch(inner.strip()):
                        y = paren.start()  # a comment, or an abbreviation: "multiple sclerosis (MS)"
                x, y = trim_mention(text, x, y)
                y = _cut_place_tail(text, x, y, compiled().max_words)
                if y > x and any(ch.isalpha() for ch in text[x:y]):
                    spans.append((x, y))
    return spans
