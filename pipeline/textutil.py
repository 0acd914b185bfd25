"""Offset-safe text helpers shared by the parsing stages.

All offsets are code-point offsets into the decoded text. Nothing here changes the length of a
string: views made for parsing keep every character at its original position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

_TAG = re.compile(r"<(?:/?[A-Za-z][^<>]{0,500}|!--.*?--)>", re.S)
_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9A-Fa-f]{1,6}|[A-Za-z]{2,10});")
_ENTITY_CHARS = {"&nbsp;": " ", "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'",
                 "&ndash;": "–", "&mdash;": "—", "&bull;": "•", "&rsquo;": "’", "&lsquo;": "‘"}


@dataclass(frozen=True)
class Line:
    start: int  # offset of the first character of the line
    end: int    # offset just past the last character, before any "\r\n" / "\n"
    text: str   # text[start:end]

    @property
    def stripped(self) -> str:
        return self.text.strip()

    @property
    def indent(self) -> int:
        return len(self.text) - len(self.text.lstrip())

    @property
    def content_start(self) -> int:
        # a blank line has an empty content span at its end, never an inverted one
        return min(self.start + self.indent, self.content_end)

    @property
    def content_end(self) -> int:
        return self.start + len(self.text.rstrip())


def iter_lines(text: str, base: int = 0) -> Iterator[Line]:
    """Lines split on "\\n" only (a trailing "\\r" is dropped from the line), with offsets.

    ``str.splitlines`` also splits on form feeds and Unicode separators, which would silently
    shift offsets, so it is not used.
    """
    pos = 0
    n = len(text)
    while pos <= n:
        nl = text.find("\n", pos)
        if nl == -1:
            nl = n
        end = nl - 1 if nl > pos and text[nl - 1] == "\r" else nl
        yield Line(base + pos, base + end, text[pos:end])
        if nl == n:
            break
        pos = nl + 1


def parsing_view(text: str) -> str:
    """A same-length copy of ``text`` in which HTML tags become spaces and common entities become
    their character padded with spaces, so parsers see words while offsets still point into the
    original text. Non-breaking spaces become spaces."""
    if "<" not in text and "&" not in text and "\u00a0" not in text:
        return text
    chars = list(text.replace("\u00a0", " "))
    for m in _TAG.finditer(text):
        for i in range(m.start(), m.end()):
            if chars[i] != "\n":
                chars[i] = " "
    for m in _ENTITY.finditer(text):
        repl = _ENTITY_CHARS.get(m.group(0).lower(), " ")
        chars[m.start()] = repl
        for i in range(m.start() + 1, m.end()):
            chars[i] = " "
    return "".join(chars)


def html_residue(text: str) -> list[tuple[int, int, str]]:
    """Spans of HTML tags and entities left in scraped text (start, end, matched text)."""
    spans = [(m.start(), m.end(), m.group(0)) for m in _TAG.finditer(text)]
    spans += [(m.start(), m.end(), m.group(0)) for m in _ENTITY.finditer(text)]
    return sorted(spans)


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) past surrounding white space."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


_SENTENCE_END = re.compile(r"(?<=[.!?])(?P<close>[\"”’)]*)\s+(?=[\"“(]?[A-Z0-9А-ЯЁ•])")
_ABBREVIATIONS = ("e.g", "i.e", "etc", "vs", "approx", "incl", "Dr", "Mr", "Mrs", "Ms", "St", "No", "Fig", "al", "ca")
_ABBREV = re.compile(r"(?:\b(?:" + "|".join(map(re.escape, _ABBREVIATIONS)) + r")|\b[A-Z])\.$")


_DIGIT_DOT_END = re.compile(r"\d\.$")
_DIGIT = re.compile(r"\d")
# _ABBREV and _DIGIT_DOT_END end at the end of the text before a sentence break (which ends in
# '.', '!' or '?', never a line break): a match starts within its last _ABBREV_REACH characters,
# so the search starts there (a search from the start tried every position of the sentence).
# Starting later leaves \b as it was: the engine still sees the character before the start.
_ABBREV_REACH = 1 + max(map(len, _ABBREVIATIONS))


def sentence_spans(text: str, start: int, end: int, reach: int | None = _ABBREV_REACH) -> list[tuple[int, int]]:
    """Sentence spans inside text[start:end], trimmed, never crossing the span's ends. ``reach``:
    how many characters before a break are searched for an abbreviation or a number (None: the
    whole sentence so far; the default reaches every abbreviation, so both give the same spans)."""
    spans: list[tuple[int, int]] = []
    seg_start = start
    chunk = text[start:end]
    for m in _SENTENCE_END.finditer(chunk):
        head = text[seg_start:start + m.start()]
        tail = 0 if reach is None else max(0, len(head) - reach)
        if (_ABBREV.search(head, tail) or _DIGIT_DOT_END.search(head, tail)
                and _DIGIT.match(text[start + m.end():start + m.end() + 1] or " ")):
            continue
        cut = start + m.end("close")  # a closing quote or bracket stays with its sentence
        s, e = trim_span(text, seg_start, cut)
        if e > s:
            spans.append((s, e))
        seg_start = start + m.end()
    s, e = trim_span(text, seg_start, end)
    if e > s:
        spans.append((s, e))
    return spans
