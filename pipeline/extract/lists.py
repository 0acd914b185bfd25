"""Cut enumerations into mention spans: "constipation / diarrhea", "hives; difficult breathing;
swelling of your face, lips, tongue, or throat", "itching, tingling, or twitching in your hands".

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
    return (re.compile(cues["leading_words"], re.I), re.compile(cues["body_site_tail"], re.I))


def _top_level_splits(text: str, s: int, e: int, seps: tuple[str, ...]) -> list[tuple[int, int]]:
    """Split [s, e) on any separator outside parentheses."""
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


_ADJECTIVE_END = re.compile(r"(?:al|ic|ous|ive|ary|ile|ent|ant)$", re.I)


def _conj_split(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """Split on ' or ' unless the left side is a lone adjective sharing the right side's noun
    ("acute renal or hepatic insufficiency"), and on ' and ' when neither side is an 'of'
    phrase and both are short."""
    out = []
    ors = _top_level_splits(text, s, e, (" or ",))
    if len(ors) == 2 and _ADJECTIVE_END.search(text[ors[0][0]:ors[0][1]].strip()) and len(text[ors[1][0]:ors[1][1]].split()) >= 2:
        ors = [(s, e)]
    for a, b in ors:
        pieces = _top_level_splits(text, a, b, (" and ",))
        if len(pieces) > 1 and all(" of " not in text[x:y] and len(text[x:y].split()) <= 3 for x, y in pieces):
            out += pieces
        else:
            out.append((a, b))
    return out


def trim_mention(text: str, s: int, e: int) -> tuple[int, int]:
    """Drop leading function words ("a", "any", "such as", "promotes") and closing punctuation."""
    lead, _ = _patterns()
    s, e = _strip(text, s, e)
    for _ in range(4):
        m = lead.match(text, s, e)
        if not m or m.end() >= e:
            break
        s = m.end()
        s, e = _strip(text, s, e)
    return s, e


def split_enumeration(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """Mention spans of an enumeration in text[s:e]."""
    _, site_tail = _patterns()
    spans: list[tuple[int, int]] = []
    for a, b in _top_level_splits(text, s, e, (";",)):
        in_site_list = False
        for c, d in _top_level_splits(text, a, b, (",", " / ", "/ ")):
            c, d = _strip(text, c, d)
            if c >= d:
                continue
            dash = re.search(r"\s[–—]\s|\s-\s", text[c:d])
            if dash:  # "with prolonged use – impaired renal function": the effect follows the dash
                c, d = _strip(text, c + dash.end(), d)
            words = text[c:d].split()
            if in_site_list and len(words) <= 2:
                continue  # "arms", "or legs" after "twitching in your hands"
            m = site_tail.search(text, c, d)
            if m:
                in_site_list = True
                d = m.start()
            for x, y in _conj_split(text, c, d):
                x, y = trim_mention(text, x, y)
                if y > x and any(ch.isalpha() for ch in text[x:y]):
                    spans.append((x, y))
    return spans
