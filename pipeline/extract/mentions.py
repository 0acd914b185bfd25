"""Adverse effects, conditions with stance, and interactions from reading units.

Each unit gets a *frame* from the nearest context that says what its list is about: the
enclosing list item, the lead-in sentence, the heading, then the section topic. The unit's own
wording beats its heading: "may need to exercise caution or avoid" under a contraindications
heading is avoid (with caution as stance_alt), not contraindicated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.extract import cues as C
from pipeline.extract.lists import split_enumeration, trim_mention
from pipeline.extract.units import Unit
from pipeline.textutil import sentence_spans

# Words that make a sentence a statement rather than a bare enumeration.
_VERBS = re.compile(r"\b(?:is|are|was|were|be|been|should|may|might|can|could|will|would|must|have|has|had|"
                    r"do|does|did|use|take|taking|using|leads?|causes?|increase[sd]?|reduce[sd]?)\b", re.I)
_IF_CLAUSE = re.compile(r"\bif (?:you|they|the (?:person|patient))\s+(?:are|have ever had|have had|have|had|"
                        r"develop|experience|suffer from)\s+", re.I)
_CONTRA_IN = re.compile(r"\bcontraindicated\s+(?:in|for|with)\s+", re.I)
_PATIENTS_WITH = re.compile(r"\b(?:in|for)\s+(?:(?:patients|people|persons|individuals|those|adults|children)\s+(?:with|who have)\s+|"
                            r"(?=(?:patients|people|persons|individuals|adults|children)\s+(?:over|under|aged|older|younger)\b))", re.I)
_PRESCRIBE_FOR = re.compile(r"\bprescribe[sd]?\b[^.:]{0,40}?\b(?:for|to (?:help )?treat|to (?:help )?manage)\s+", re.I)
_USED_TO = re.compile(r"\b(?:used|approved|recommended)\b[^.:]{0,60}?\bto\s+(?:help\s+)?(?:treat|relieve|manage|correct|control)\s+", re.I)
_LIST_INTRO = re.compile(r"(?:\bincluding\b|\bsuch as\b|\bmay include\b|\bcan include\b|\binclude\b|"
                         r"\bmay occur\b|\bbefore using\b|\beffects? of\b)[:\s]+", re.I)
_CLAUSE_END = re.compile(r"(?:,\s*(?:as|because|since|so|which|but|and then)\b|\s+(?:because|since|so that|as it|as this|"
                         r"to ensure|until|unless|while|when)\b|\s+(?:may|can|will|could|might|should|must|is|are|was|were|have|has)\s|"
                         r"\s+(?:that|which|who)\b|\s+to (?:treat|help|manage|relieve|determine|ensure|prevent)\b|\.\s|$)", re.I)
_INTERACTION_INTRO = re.compile(r"(?:\blike\b|\bsuch as\b|\bincluding\b|\bbefore using\b|\beffects? of\b)[:\s]+", re.I)
_POPULATION = re.compile(
    r"\b(?:pregnan(?:cy|t)|breast[- ]?feeding|breastfeed|lactation|nursing mothers|"
    r"(?:older|elderly) (?:adults|patients|people)|elderly|old age|"
    r"children(?: (?:under|younger than|below|aged|over|older than) \d+(?: years?(?: old| of age)?)?)?|"
    r"children's age(?: \([^)]*\))?|patients over \d+ years(?: of age)?)", re.I)


@dataclass
class Mention:
    table: str          # adverse_effects | conditions | interactions
    unit: Unit
    start: int
    end: int
    label: str          # category, stance or direction
    alt: str = ""       # stance_alt
    cue: str = ""
    negated: bool = False
    hedge: str = ""
    effect: str = ""


def _frame(contexts: list[str], topic: str) -> tuple[str, object] | None:
    """('ae', None) | ('condition', [(stance, cue), ...]) | ('interaction', None) | None.

    The first context that names what follows decides; a context that introduces something
    other than facts ("It works by:", "Examples of dosages include:") means no facts.
    """
    for ctx in contexts:
        if not ctx:
            continue
        if C.is_no_fact_context(ctx, strong=True):
            return None
        if C.has_interaction_context(ctx):
            return ("interaction", None)
        if C.has_ae_context(ctx):
            return ("ae", None)
        stances = C.stances_in(ctx)
        if stances:
            return ("condition", stances)
        if C.is_no_fact_context(ctx, strong=False):
            return None
    comp = C.compiled()
    if topic in comp.topic_stance:
        return ("condition", [(comp.topic_stance[topic], f"section topic {topic}")])
    if topic in comp.topic_ae_category:
        return ("ae", None)
    if topic == "interactions":
        return ("interaction", None)
    return None


def _last_sentence(text: str) -> str:
    spans = sentence_spans(text, 0, len(text))
    return text[spans[-1][0]:spans[-1][1]] if spans else text


def _category(texts: list[str], topic: str) -> str:
    for t in texts:
        if t:
            cat = C.ae_category_in(t)
            if cat:
                return cat
    return C.compiled().topic_ae_category.get(topic, "common")


def _stance_pair(stances: list[tuple[str, str]]) -> tuple[str, str, str]:
    stance, cue = stances[0]
    alt = stances[1][0] if len(stances) > 1 else ""
    return stance, alt, cue


def _negated(text: str, start: int, unit: Unit) -> bool:
    """A negation in the words just before the mention, within the same clause."""
    before = unit.text[max(0, start - unit.start - 40): start - unit.start]
    before = re.split(r"[,;:]", before)[-1]
    return bool(re.search(r"\b(?:no|not|never|without|nor)\b[^.]*$", before, re.I))


def _bare_list(view: str, u: Unit) -> bool:
    """A sentence that is only an enumeration of short noun phrases, with no verb."""
    if _VERBS.search(u.text):
        return False
    parts = split_enumeration(view, u.start, u.end)
    return len(parts) >= 2 and all(len(view[s:e].split()) <= 6 for s, e in parts)


def _span_mentions(view: str, s: int, e: int) -> list[tuple[int, int]]:
    m = _CLAUSE_END.search(view, s, e)
    stop = m.start() if m and m.start() > s else e
    return split_enumeration(view, s, stop)


def mentions_from_units(view: str, units: list[Unit], has_children: set[tuple[str, int]], drug: str = "") -> list[Mention]:
    """All adverse-effect, condition and interaction mentions of one source.

    ``view`` is the source's parsing view (same offsets as its text); ``has_children`` holds
    (section_id, start) of list items that introduce a nested list and so name no fact.
    """
    out: list[Mention] = []
    for u in units:
        if u.topic == "boilerplate":
            continue
        if u.kind == "item":
            found = _item_mentions(view, u, (u.section_id, u.start) in has_children)
        else:
            found = _sentence_mentions(view, u)
        out += [m for m in found if m.table == "interactions" or C.plausible_mention(view[m.start:m.end], m.table, drug)]
    return out


def _item_mentions(view: str, u: Unit, is_container: bool) -> list[Mention]:
    if is_container:
        return []
    # Nearest first: enclosing items, then the lead-in's last sentence, then the whole lead-in
    # ("... caution or avoid it. These include people with:"), then the headings.
    # A paragraph that does not end with ':' does not introduce the list.
    lead_parts = [p for p in re.split(r"(?<=:)\s+", u.lead_in) if p.rstrip().endswith(":")]
    contexts: list[str] = []
    for part in reversed(lead_parts):
        last = _last_sentence(part)
        contexts += [last, part] if last != part else [part]
    contexts += [u.context_heading, u.parent_heading]
    frame = _frame(contexts, u.topic)
    if frame is None:
        return []
    kind, stances = frame
    label_end = u.start + len(u.item_label) if u.item_label else None
    explanation = (label_end + 1, u.end) if label_end else None
    out: list[Mention] = []
    if kind == "ae":
        spans = [trim_mention(view, u.start, label_end)] if label_end else split_enumeration(view, u.start, u.end)
        # a category cue inside the item ("with prolonged use – impaired renal function") applies to it
        own_prefix = re.split(r"\s[–—-]\s", u.text)[0] if re.search(r"\s[–—-]\s", u.text) else ""
        cat = _category([own_prefix, *contexts], u.topic)
        for s, e in spans:
            if e > s:
                hedge = C.compiled().hedge.search(u.text)
                out.append(Mention("adverse_effects", u, s, e, cat, negated=_negated(view, s, u),
                                   hedge=hedge.group(0) if hedge else ""))
    elif kind == "condition":
        if label_end:
            # "Label: explanation" items in a caution list are advice; read the explanation.
            sub = Unit(u.source_id, u.section_id, u.topic, u.heading, u.parent_heading, "sentence",
                       explanation[0], explanation[1], view[explanation[0]:explanation[1]])
            return [Mention(m.table, u, m.start, m.end, m.label, m.alt, m.cue, m.negated)
                    for m in _sentence_mentions(view, sub) if m.table == "conditions"]
        stance, alt, cue = _stance_pair(stances)
        own = C.stances_in(u.text)
        if own and own[0][0] != stance and own[0][1] != "":
            stance, alt, cue = _stance_pair(own)
        for s, e in split_enumeration(view, u.start, u.end):
            out.append(Mention("conditions", u, s, e, stance, alt, cue, negated=_negated(view, s, u)))
    elif kind == "interaction":
        direction = C.direction_in(u.text)
        if label_end:
            out.append(Mention("interactions", u, *trim_mention(view, u.start, label_end), direction,
                               effect=view[explanation[0]:explanation[1]].strip()))
            m = _LIST_INTRO.search(view, explanation[0], explanation[1])
            if m:
                for s, e in _span_mentions(view, m.end(), explanation[1]):
                    out.append(Mention("interactions", u, s, e, direction, effect=view[explanation[0]:explanation[1]].strip()))
        else:
            for s, e in split_enumeration(view, u.start, u.end):
                out.append(Mention("interactions", u, s, e, direction))
    return out


def _sentence_mentions(view: str, u: Unit) -> list[Mention]:
    text = u.text
    out: list[Mention] = []
    own_stances = C.stances_in(text)
    section_frame = _frame([u.context_heading, u.parent_heading], u.topic)

    # Adverse effects: "<context>: a, b, c", "... including a, b and c", "Symptoms may include a, b".
    ae_here = C.has_ae_context(text) or (section_frame is not None and section_frame[0] == "ae")
    if ae_here and not C.has_interaction_context(text):
        spans: list[tuple[int, int]] = []
        list_start = None
        colon = text.find(":")
        in_ae_section = section_frame is not None and section_frame[0] == "ae"
        if colon != -1 and not C.is_no_fact_context(text[:colon], strong=True) and (
                C.has_ae_context(text[:colon]) or in_ae_section and len(text[:colon].split()) <= 8):
            list_start = u.start + colon + 1
            spans = split_enumeration(view, list_start, u.end)
        else:
            m = _LIST_INTRO.search(view, u.start, u.end)
            if m and (C.has_ae_context(text[: m.start() - u.start]) or in_ae_section):
                list_start = m.end()
                spans = _span_mentions(view, m.end(), u.end)
            elif in_ae_section and _bare_list(view, u):
                list_start = u.start
                spans = split_enumeration(view, u.start, u.end)
        prefix = view[u.start:list_start] if list_start else ""
        hedge = C.compiled().hedge.search(text)
        for s, e in spans:
            # the words opening the mention's own ';' clause ("with prolonged use – ...")
            segment = re.split(r"[;:]", view[list_start:s])[-1].split(",")[0] if list_start is not None else ""
            cat = C.sentence_wide_category(text) or _category([segment, prefix, u.context_heading, u.parent_heading], u.topic)
            out.append(Mention("adverse_effects", u, s, e, cat, negated=_negated(view, s, u),
                               hedge=hedge.group(0) if hedge else ""))
        if spans:
            return out

    # Interactions in prose.
    if C.has_interaction_context(text) or (section_frame and section_frame[0] == "interaction"):
        direction = C.direction_in(text)
        m = _INTERACTION_INTRO.search(view, u.start, u.end)
        if m:
            for s, e in _span_mentions(view, m.end(), u.end):
                out.append(Mention("interactions", u, s, e, direction, effect=text))
        elif section_frame and section_frame[0] == "interaction":
            verb = re.search(r"\s+(?:may |can |will )?(?:increase|decrease|enhance|reduce|potentiate|intensify|weaken)s?\b", text, re.I)
            if verb and verb.start() > 0:
                for s, e in split_enumeration(view, u.start, u.start + verb.start()):
                    out.append(Mention("interactions", u, s, e, direction, effect=text))
        if out:
            return out

    # Conditions. A lead-in ("tell your doctor if you have ever had:") names its list, not a fact.
    if text.rstrip().endswith(":"):
        return out
    stances = own_stances or (section_frame[1] if section_frame and section_frame[0] == "condition" else None)
    if not stances:
        return out
    stance, alt, cue = _stance_pair(stances)
    spans = []
    for pattern in (_IF_CLAUSE, _CONTRA_IN, _PRESCRIBE_FOR, _USED_TO):
        for m in pattern.finditer(view, u.start, u.end):
            spans += _span_mentions(view, m.end(), u.end)
    for m in _PATIENTS_WITH.finditer(view, u.start, u.end):
        spans += _span_mentions(view, m.end(), u.end)
    if not spans:
        colon = text.find(":")
        if colon != -1 and section_frame and section_frame[0] == "condition" and len(text[:colon].split()) <= 4:
            spans = split_enumeration(view, u.start + colon + 1, u.end)
        elif section_frame and section_frame[0] == "condition" and _bare_list(view, u):
            spans = split_enumeration(view, u.start, u.end)
    covered = [(s, e) for s, e in spans]
    for m in _POPULATION.finditer(view, u.start, u.end):
        if not any(s <= m.start() < e for s, e in covered) and (own_stances or u.topic in C.compiled().topic_stance):
            spans.append((m.start(), m.end()))
    seen = set()
    for s, e in spans:
        if (s, e) in seen or e <= s:
            continue
        seen.add((s, e))
        out.append(Mention("conditions", u, s, e, stance, alt, cue, negated=_negated(view, s, u)
                           or bool(re.search(r"\b(?:do|does) not (?:prescribe|treat|cure)\b", text, re.I))))
    return out
