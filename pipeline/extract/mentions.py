"""Adverse effects, conditions with stance, and interactions from reading units.

Each unit gets a *frame* from the nearest context that says what its list is about: the
enclosing list item, the lead-in sentence, the heading, then the section topic. The unit's own
wording beats its heading: "may need to exercise caution or avoid" under a contraindications
heading is avoid (with caution as stance_alt), not contraindicated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pipeline.extract import cues as C
from pipeline.extract.lists import split_enumeration, trim_mention
from pipeline.extract.prefilter import any_may_match, lowered, may_match
from pipeline.extract.units import Unit
from pipeline.textutil import sentence_spans

# Words that make a sentence a statement rather than a bare enumeration.
_VERBS = re.compile(r"\b(?:is|are|was|were|be|been|should|may|might|can|could|will|would|must|have|has|had|"
                    r"do|does|did|use|take|taking|using|leads?|causes?|increase[sd]?|reduce[sd]?)\b", re.I)
_IF_CLAUSE = re.compile(r"\bif (?:you|they|the (?:person|patient))\s+(?:are|is|have ever had|have had|have|had|"
                        r"suffer from)\s+", re.I)
_USED_BY = re.compile(r"\b(?:should|must) not be (?:used|taken) by\s+", re.I)
_RELIEF_OF = re.compile(r"\b(?:relief|treatment|management|prevention) of\s+(?:the\s+)?", re.I)
_CONDITIONS_SUCH_AS = re.compile(r"\b(?:conditions|diseases|disorders)\s+(?:such as|like|including)\s+", re.I)
_CONTRA_IN = re.compile(r"\bcontraindicated\s+(?:in|for|with)\s+", re.I)
_PATIENTS_WITH = re.compile(r"\b(?:in|for)\s+(?:(?:patients|people|persons|individuals|those|adults|children)\s+(?:with|who have)\s+|"
                            r"(?=(?:patients|people|persons|individuals|adults|children)\s+(?:over|under|aged|older|younger)\b))", re.I)
_PRESCRIBE_FOR = re.compile(r"\bprescribe[sd]?\b[^.:]{0,40}?\b(?:for|to (?:help )?treat|to (?:help )?manage)\s+", re.I)
_USED_TO = re.compile(r"\b(?:used|approved|recommended|prescribed)\b[^.:]{0,60}?\bto\s+(?:help\s+)?(?:treat|relieve|manage|correct|control)\s+", re.I)
_LIST_INTRO = re.compile(r"(?:\bincluding\b|\bsuch as\b|\bmay include\b|\bcan include\b|\binclude\b|\b(?:may|can|might) cause\b|"
                         r"\bmay occur\b|\bbefore using\b|\beffects? of\b)[:\s]+", re.I)
_CLAUSE_END = re.compile(r"(?:,\s*(?:as|because|since|so|which|but|and then)\b|\s+(?:because|since|so that|as it|as this|"
                         r"to ensure|until|unless|while|when)\b|\s+(?:may|can|will|could|might|should|must|is|are|was|were|have|has)\s|"
                         r"\s+(?:that|which|who)\b|\s+to (?:treat|help|manage|relieve|determine|ensure|prevent)\b|"
                         r"\s+associated with (?=conditions|diseases|disorders)|\s+(?:they|you|he|she) (?:have|has|take|are)\b|\s+in (?:people|patients|persons|adults|children) with\b|\.\s|$)", re.I)
_INTERACTION_INTRO = re.compile(r"(?:\blike\b|\bsuch as\b|\bincluding\b|\bbefore using\b|\beffects? of\b)[:\s]+", re.I)
_POPULATION = re.compile(
    r"\b(?:pregnan(?:cy|t)|breast[- ]?feeding|breastfeed|lactation|nursing mothers|"
    r"(?:older|elderly) (?:adults|patients|people)|elderly|old age|"
    r"children at least \d+ years?(?: old| of age)?|"
    r"children(?: (?:under|younger than|below|aged|over|older than) \d+(?: years?(?: old| of age)?)?)?|"
    r"children's age(?: \([^)]*\))?|patients over \d+ years(?: of age)?|"
    r"(?:anyone|people|patients|persons|children) (?:younger|older) than \d+(?: years?(?: old| of age)?)?)", re.I)


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
    Memoised: every item of a list, every sentence of a section asks with the same contexts
    (the result is shared, and only read).
    """
    return _frame_of(tuple(contexts), topic)


@lru_cache(maxsize=1 << 16)
def _frame_of(contexts: tuple, topic: str) -> tuple[str, object] | None:
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
    for pattern, stance in comp.heading_stance:
        if any(ctx and pattern.search(ctx) for ctx in contexts):
            return ("condition", [(stance, pattern.pattern)])
    if topic in comp.topic_stance:
        return ("condition", [(comp.topic_stance[topic], f"section topic {topic}")])
    if topic in comp.topic_ae_category:
        return ("ae", None)
    if topic == "interactions":
        return ("interaction", None)
    return None


@lru_cache(maxsize=1 << 16)
def _last_sentence(text: str) -> str:
    spans = sentence_spans(text, 0, len(text))
    return text[spans[-1][0]:spans[-1][1]] if spans else text


def _category(texts: list[str], topic: str, sentence: str = "") -> str:
    return C.ae_category(texts, sentence, C.compiled().topic_ae_category.get(topic, "common"))


def _stance_pair(stances: list[tuple[str, str]]) -> tuple[str, str, str]:
    stance, cue = stances[0]
    alt = stances[1][0] if len(stances) > 1 else ""
    return stance, alt, cue


_NEGATION = re.compile(r"\b(?:no|without|never|nor|not (?:cause|causes|associated with|lead to|produce|result in)|"
                       r"(?:do|does|did) not (?:cause|prescribe|treat|cure))\b", re.I)


_CLAUSE_MARK = re.compile(r"[,;:]")
_MONITOR = re.compile(r"\bmonitor", re.I)
_COMMA_OR_SEMICOLON = re.compile(r"[,;]")
_AFTER_COLON = re.compile(r"(?<=:)\s+")
_SPACED_DASH = re.compile(r"\s[–—-]\s")
_SEMICOLON_OR_COLON = re.compile(r"[;:]")


def _negated(view: str, start: int, unit: Unit) -> bool:
    """A negation of the fact in the words just before the mention, within the same clause.
    Negations that belong to a stance ("should not use ... if") do not negate the fact."""
    before = view[max(unit.start, start - 60):start]
    before = _CLAUSE_MARK.split(before)[-1]
    return bool(_NEGATION.search(before))


def _labelled_effect(view: str, u: Unit, label_end: int, explanation: tuple[int, int]) -> list[tuple[int, int]]:
    """'Tolerance: some patients develop tolerance ...' names its effect in the label; an
    explanation that gives examples ('such as memory problems') names them instead; one about
    monitoring names no effect."""
    expl = view[explanation[0]:explanation[1]]
    if _MONITOR.search(expl):
        return []
    m = _LIST_INTRO.search(view, explanation[0], explanation[1])
    if m:
        return _span_mentions(view, m.end(), explanation[1])
    label = view[u.start:label_end]
    head = label.split()[-1].lower() if label.split() else ""
    return [trim_mention(view, u.start, label_end)] if head and head in expl.lower() else []


_ICD_CODE = re.compile(r"\s*[A-TV-Z]\d{2}(?:\.\s?\d{1,2})?\s+")  # "G95. 9 Disease of spinal cord, unspecified": one ICD title
# Word shapes of disease names (-osis, -itis, -pathy, palsy, injury, ...), to tell "spasticity in
# multiple sclerosis" (two indications) from "spastic reactions in various muscle groups" (one).
_DISEASE_WORD = re.compile(r"\w(?:osis|itis|pathy|plegia|algia|emia|aemia|oma|ism|sy|ia)\b|\b(?:disease|disorder|syndrome|"
                           r"palsy|injur(?:y|ies)|damage|trauma|failure|insufficiency|sclerosis|cancer|tumou?rs?)\b", re.I)
_IN_WITH = re.compile(r"\s+(?:in|with|due to|associated with)\s+", re.I)


def _split_indication(view: str, s: int, e: int) -> list[tuple[int, int]]:
    """'muscle spasticity in multiple sclerosis' names a symptom and a disease, both treated."""
    m = _IN_WITH.search(view, s, e)
    if not m or view[s:e].count("(") != view[s:e].count(")"):
        return [(s, e)]
    left, right = (s, m.start()), (m.end(), e)
    if (len(view[left[0]:left[1]].split()) <= 5 and 0 < len(view[right[0]:right[1]].split()) <= 5
            and _DISEASE_WORD.search(view[right[0]:right[1]])):
        return [trim_mention(view, *left), trim_mention(view, *right)]
    return [(s, e)]


def _bare_list(view: str, u: Unit) -> bool:
    """A sentence that is only an enumeration of short noun phrases, with no verb."""
    if _VERBS.search(u.text) or not _COMMA_OR_SEMICOLON.search(u.text):
        return False
    parts = split_enumeration(view, u.start, u.end)
    return len(parts) >= 2 and all(len(view[s:e].split()) <= 8 for s, e in parts)


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
        out += [m for m in found if C.plausible_mention(view[m.start:m.end], m.table, drug)]
    return out


def _item_mentions(view: str, u: Unit, is_container: bool) -> list[Mention]:
    if is_container:
        return []
    # Nearest first: enclosing items, then the lead-in's last sentence, then the whole lead-in
    # ("... caution or avoid it. These include people with:"), then the headings.
    # A paragraph that does not end with ':' does not introduce the list.
    lead_parts = [p for p in _AFTER_COLON.split(u.lead_in) if p.rstrip().endswith(":")]
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
        if label_end:
            spans = _labelled_effect(view, u, label_end, explanation)
        elif C.compiled().therapeutic_start.match(u.text.strip()):
            spans = []  # "relieves muscle spasms": what the drug treats
        else:
            spans = split_enumeration(view, u.start, u.end)
        # a category cue inside the item ("with prolonged use – impaired renal function") applies to it
        own_prefix = _SPACED_DASH.split(u.text)[0] if _SPACED_DASH.search(u.text) else ""
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
            found = [Mention(m.table, u, m.start, m.end, m.label, m.alt, m.cue, m.negated)
                     for m in _sentence_mentions(view, sub) if m.table == "conditions"]
            if found:  # the label names the conditions too ("Pregnancy and breastfeeding: ...")
                found += [Mention("conditions", u, s, e, found[0].label, found[0].alt, found[0].cue)
                          for s, e in split_enumeration(view, u.start, label_end)]
            return found
        stance, alt, cue = _stance_pair(stances)
        own = C.stances_in(u.text)
        if own and own[0][0] != stance and own[0][1] != "":
            stance, alt, cue = _stance_pair(own)
        code = _ICD_CODE.match(u.text)
        spans = [trim_mention(view, u.start + code.end(), u.end)] if code else _span_mentions(view, u.start, u.end)
        for s, e in spans:
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


_ANAPHOR = re.compile(r"\s*(?:this|these|such|that)\s+(?:condition|state|reaction|effect|situation|symptoms?|"
                     r"complications?|manifestations?)\b", re.I)


def _antecedent(view: str, u: Unit) -> str:
    """The sentences before ``u`` in its paragraph when ``u`` opens by pointing back to them
    ("This condition requires ..."), else "": what the sentence is about is said there."""
    if not _ANAPHOR.match(u.text):
        return ""
    para = view.rfind("\n\n", 0, u.start)
    return view[max(para, u.start - 400, 0):u.start]


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
        if colon != -1 and C.is_no_fact_context(text[:colon], strong=True):
            return out  # "Treatment: induction of vomiting, ...": not effects
        if colon != -1 and (
                C.has_ae_context(text[:colon]) or in_ae_section and len(text[:colon].split()) <= 8):
            list_start = u.start + colon + 1
            intro = _LIST_INTRO.search(view, list_start, u.end)
            if intro:  # "Symptoms: overdose, with alcohol, may cause nausea, ..."
                list_start = intro.end()
            spans = split_enumeration(view, list_start, u.end)
        else:
            m = _LIST_INTRO.search(view, u.start, u.end)
            if m and (C.has_ae_context(text[: m.start() - u.start]) or in_ae_section):
                list_start = m.end()
                spans = _span_mentions(view, m.end(), u.end)
            elif in_ae_section and _bare_list(view, u):
                list_start = u.start
                spans = split_enumeration(view, u.start, u.end)
        # a list that names only non-effects ("The effect of the drug on ..., which is manifested
        # by ...") leaves the sentence to the prose phrases below
        if any(C.plausible_mention(view[s:e], "adverse_effects") for s, e in spans):
            prefix = view[u.start:list_start] if list_start else ""
            hedge = C.compiled().hedge.search(text)
            for s, e in spans:
                # the words opening the mention's own ';' clause ("with prolonged use – ...")
                segment = _SEMICOLON_OR_COLON.split(view[list_start:s])[-1].split(",")[0] if list_start is not None else ""
                cat = _category([segment, prefix, u.context_heading, u.parent_heading], u.topic, text)
                out.append(Mention("adverse_effects", u, s, e, cat, negated=_negated(view, s, u),
                                   hedge=hedge.group(0) if hedge else ""))
            return out
    if not C.has_interaction_context(text) and u.topic != "interactions":
        low = lowered(text)  # text is view[u.start:u.end]
        comp = C.compiled()
        rules = comp.ae_phrase_rules if any_may_match(comp.ae_phrases, low) else ()
        in_effects = section_frame is not None and section_frame[0] == "ae"
        taken: list[tuple[int, int]] = []
        for rule in rules:
            pattern = rule.pattern
            if not may_match(pattern, low) or rule.effects_section_only and not in_effects:
                continue
            for m in pattern.finditer(view, u.start, u.end):
                if any(a < m.end("m") and m.start("m") < b for a, b in taken):
                    continue  # one wording, one mention
                taken.append((m.start("m"), m.end("m")))
                if rule.category:
                    cat = rule.category
                else:
                    cat = _category([view[u.start:m.start()], _antecedent(view, u), u.context_heading,
                                     u.parent_heading], u.topic, text)
                    if cat == "common" and u.topic != "adverse_effects":
                        cat = "other" if "risk" in m.group(0).lower() else cat
                for s, e in split_enumeration(view, m.start("m"), m.end("m")):
                    out.append(Mention("adverse_effects", u, s, e, cat, negated=_negated(view, s, u)))

    # Interactions in prose.
    if C.is_no_fact_context(text, strong=True):
        return out
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

    # Conditions.
    stances = own_stances or (section_frame[1] if section_frame and section_frame[0] == "condition" else None)
    if not stances:
        return out
    stance, alt, cue = _stance_pair(stances)
    spans = []
    indication_patterns = (_PRESCRIBE_FOR, _USED_TO, _CONDITIONS_SUCH_AS, _RELIEF_OF) if stance == "indication" else ()
    low = lowered(text)  # text is view[u.start:u.end]; patterns whose words are absent are not run
    for pattern in (_IF_CLAUSE, _CONTRA_IN, _USED_BY, *indication_patterns, _PATIENTS_WITH):
        if not may_match(pattern, low):
            continue
        for m in pattern.finditer(view, u.start, u.end):
            spans += _span_mentions(view, m.end(), u.end)
    if not spans:
        colon = text.find(":")
        if colon != -1 and section_frame and section_frame[0] == "condition" and len(text[:colon].split()) <= 4:
            spans = split_enumeration(view, u.start + colon + 1, u.end)
        elif section_frame and section_frame[0] == "condition" and _bare_list(view, u):
            spans = split_enumeration(view, u.start, u.end)
    covered = [(s, e) for s, e in spans]
    for m in _POPULATION.finditer(view, u.start, u.end) if may_match(_POPULATION, low) else ():
        if not any(s <= m.start() < e for s, e in covered) and (own_stances or u.topic in C.compiled().topic_stance):
            spans.append((m.start(), m.end()))
    if stance == "indication":
        spans = [p for s, e in spans for p in _split_indication(view, s, e)]
    seen = set()
    for s, e in spans:
        if (s, e) in seen or e <= s:
            continue
        seen.add((s, e))
        out.append(Mention("conditions", u, s, e, stance, alt, cue, negated=_negated(view, s, u)
                           or bool(re.search(r"\b(?:do|does) not (?:prescribe|treat|cure)\b", text, re.I))))
    return out
