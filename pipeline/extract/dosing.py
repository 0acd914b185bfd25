"""Dose statements: amounts, frequency, duration, phase, route, population, daily mg.

Route, population and indication come from the unit itself, else from the section heading and
its parent ("Usual Pediatric Dose ..." / "12 years and older:" / "Oral:"), else from the nearest
earlier unit of the same section that named one: a bare "The maximum daily dose is N mg" after
"Inside, the initial dose is ..." is oral. A route never stated anywhere is set to 'oral' only for
mg/g amounts and recorded with ``route_basis='default'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import yaml

from pipeline.extract.prefilter import any_may_match, lowered, may_match
from pipeline.extract.units import Unit, table_rows
from pipeline.paths import DATA_DIR

NUMBER = r"\d+(?:[.,]\d+)*"
SKIP_TOPICS = {"overdose", "identifiers", "boilerplate", "misuse", "pharmacology", "storage"}


@dataclass(frozen=True)
class _Notation:
    units: dict[str, float]
    amount: re.Pattern
    frequency: list[tuple[re.Pattern, object]]
    per_day_after: re.Pattern
    per_day_before: re.Pattern
    routes: dict[str, re.Pattern]
    phases: list[tuple[str, re.Pattern]]
    populations: list[tuple[str, re.Pattern]]
    qualifier: re.Pattern


@lru_cache(maxsize=1)
def notation() -> _Notation:
    with open(DATA_DIR / "dose_notation.yaml", encoding="utf-8") as fh:
        d = yaml.safe_load(fh)
    unit_alt = "|".join(sorted((re.escape(u) for u in d["units_to_mg"]), key=len, reverse=True))
    amount = re.compile(
        rf"(?:between\s+)?(?P<a>{NUMBER})\s*(?P<ua>{unit_alt})?\s*(?:(?:–|-|—|to|and)\s*(?P<b>{NUMBER}))?\s*"
        rf"(?P<unit>{unit_alt})\b(?:\s*\((?:mg|mcg|µg)\))?(?P<perkg>\s*(?:/\s*kg|per (?:kilogram|kg)(?: \(mg/kg\))?))?(?!\s*/\s*\d*\s*m[lL])", re.I)
    return _Notation(
        units={k.lower(): float(v) for k, v in d["units_to_mg"].items()},
        amount=amount,
        frequency=[(re.compile(f["pattern"], re.I), f["per_day"]) for f in d["frequency"]],
        per_day_after=re.compile(d["per_day_after_unit"], re.I),
        per_day_before=re.compile(d["per_day_before_amount"], re.I),
        routes={k: re.compile(v, re.I) for k, v in d["routes"].items()},
        phases=[(p["phase"], re.compile(p["pattern"], re.I)) for p in d["phases"]],
        populations=[(p["population"], re.compile(p["pattern"], re.I)) for p in d["populations"]],
        qualifier=re.compile(d["qualifier"], re.I),
    )


def _num(text: str | None) -> float | None:
    if text is None:
        return None
    t = text.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", text) else text.replace(",", ".")
    try:
        return float(t)
    except ValueError:
        return None


def _routes_in(text: str) -> list[str]:
    return list(_routes_of(text))


# Memoised pure functions of a text: headings, lead-ins and labels repeat unit after unit.
@lru_cache(maxsize=1 << 16)
def _routes_of(text: str) -> tuple[str, ...]:
    low = lowered(text)  # route patterns whose required words are absent are not run
    if not any_may_match(_route_patterns(), low):
        return ()
    return tuple(r for r, p in notation().routes.items() if may_match(p, low) and p.search(text))


@lru_cache(maxsize=1)
def _route_patterns() -> list[re.Pattern]:
    return list(notation().routes.values())


@lru_cache(maxsize=1 << 16)
def _population(text: str) -> tuple[str, float | None, float | None] | None:
    if re.search(r"\badults? and (?:children|adolescents)\b", text, re.I):
        m = re.search(r"(\d+) years (?:and|or) older|aged (\d+)", text, re.I)
        return "adult", (float(next(g for g in m.groups() if g)) if m else None), None
    for pop, pattern in notation().populations:
        if pattern.search(text):
            lo = hi = None
            if pop == "pediatric":
                m = re.search(r"(\d+) years (?:and|or) older|aged (\d+)(?: and (?:above|older))?|at least (\d+) years", text, re.I)
                if m:
                    lo = float(next(g for g in m.groups() if g))
                m = re.search(r"(?:under|younger than|below|up to) (\d+)", text, re.I)
                if m:
                    hi = float(m.group(1))
            elif pop == "elderly":
                m = re.search(r"over (\d+)", text, re.I)
                lo = float(m.group(1)) if m else None
            return pop, lo, hi
    return None


@lru_cache(maxsize=1 << 16)
def _frequency(text: str) -> tuple[float, float] | None:
    for pattern, per_day in notation().frequency:
        m = pattern.search(text)
        if m:
            if per_day == "capture":
                n = float(next(g for g in m.groups() if g))
                return n, n
            if per_day == "once_up_to":  # "2 mg once; may repeat ... up to 3 doses in 24 hours"
                return 1.0, float(m.group(1))
            return float(per_day[0]), float(per_day[1])
    return None


@lru_cache(maxsize=1 << 16)
def _phase(text: str) -> str | None:
    """The phase whose cue stands nearest the end of ``text`` (the words just before an
    amount); a maximum cue anywhere wins, as "up to a maximum of" may be followed by more words."""
    best, best_pos = None, -1
    for phase, pattern in notation().phases:
        for m in pattern.finditer(text):
            if phase == "maximum":
                return phase
            if m.end() > best_pos:
                best, best_pos = phase, m.end()
    return best


def _nearest_route(text: str, pos: int) -> str | None:
    best, dist = None, None
    for route, pattern in notation().routes.items():
        for m in pattern.finditer(text):
            d = min(abs(m.start() - pos), abs(m.end() - pos))
            if dist is None or d < dist:
                best, dist = route, d
    return best


_DOSE_FOR = re.compile(r"\bdose for (.+?):?$", re.I)
_DOSE_WORD = re.compile(r"\bdos(?:e|es|age|ages|ing)\b", re.I)
_THEN = re.compile(r"\bthen\b", re.I)
_SINGLE_END = re.compile(r"\bsingle\s*$", re.I)
_FOR_DURATION = re.compile(r"\bfor (?:the next |another |a further )?(\d+) (day|days|week|weeks)\b", re.I)


def _indication_from_heading(heading: str) -> str:
    m = _DOSE_FOR.search(heading)
    return m.group(1).strip() if m else ""


@dataclass
class _Context:
    route: str = ""
    route_basis: str = ""
    population: tuple[str, float | None, float | None] | None = None  # from headings only
    indication: str = ""
    last_phase: str = ""
    step: int = 0


def dose_rows(units: list[Unit], sections=None) -> list[dict]:
    """Dose rows for one source's units in reading order.

    ``sections`` (that source's sections table) lets headings with no text of their own
    ("Usual Pediatric Dose for Spasticity:") set the context of the label sections after them.
    """
    rows: list[dict] = []
    ctx = _Context()
    headings = []
    if sections is not None and len(sections):
        headings = sorted(table_rows(sections), key=lambda r: r.section_index)  # unique within a source
    by_section: dict[str, list[Unit]] = {}
    for u in units:
        by_section.setdefault(u.section_id, []).append(u)
    order = [h.section_id for h in headings] or list(dict.fromkeys(u.section_id for u in units))
    level_of = {h.section_id: h.level for h in headings}
    heading_of = {h.section_id: h.heading for h in headings}
    for section_id in order:
        if level_of.get(section_id, 1) == 1:
            ctx = _Context()
        heading = heading_of.get(section_id, "")
        routes = _routes_in(heading)
        if len(routes) == 1:
            ctx.route, ctx.route_basis = routes[0], "heading"
        pop = _population(heading)
        if pop:
            ctx.population = pop
        ind = _indication_from_heading(heading)
        if ind:
            ctx.indication = ind
        for u in by_section.get(section_id, []):
            if u.topic in SKIP_TOPICS:
                continue
            rows += _unit_doses(u, ctx)
    return rows


def _unit_doses(u: Unit, ctx: _Context) -> list[dict]:
    rows: list[dict] = []
    amount = notation().amount
    amounts = list(amount.finditer(u.text)) if may_match(amount, lowered(u.text)) else []
    unit_routes = set(_routes_in(u.text))
    if len(unit_routes) == 1:
        ctx.route, ctx.route_basis = next(iter(unit_routes)), "stated"
    if not amounts:
        return rows
    population = _population(u.text) or ctx.population or ("adult", None, None)
    indication = u.item_label if u.item_label and not _phase(u.item_label) else ""
    indication_span = (u.start, u.start + len(u.item_label)) if indication else None
    indication = indication or ctx.indication
    dosing_section = u.topic in ("dosing", "administration", "pediatric", "geriatric") or bool(
        _DOSE_WORD.search(f"{u.lead_in} {u.item_label}"))
    prev_end = 0
    prev: dict | None = None
    for k, m in enumerate(amounts):
        unit_word = m.group("unit").lower()
        factor = notation().units.get(unit_word)
        if factor is None:
            continue
        window = u.text[prev_end:m.start()]
        following_end = amounts[k + 1].start() if k + 1 < len(amounts) else len(u.text)
        after = u.text[m.end():following_end]
        in_parens = u.text[:m.start()].count("(") > u.text[:m.start()].count(")")
        phase = _phase(window) or (_phase(u.item_label) if k == 0 and u.item_label else None)
        if phase is None and k == 0 and u.kind == "item":
            phase = _phase(u.lead_in)
        if phase is None:
            if not dosing_section:
                continue  # a strength or an amount in passing ("capsule (2 mg; 4 mg)")
            # the next step of a sequence begun in this unit ("300 mg on day 1, 300 mg twice on day 2")
            phase = "titration_step" if ctx.last_phase in ("initial", "titration_step") and (k > 0 or _THEN.search(window)) else "other"
        if k == 0 and _SINGLE_END.search(window):
            window += " once"
        a = _num(m.group("a"))
        b = _num(m.group("b")) if m.group("b") else a
        unit_a = (m.group("ua") or unit_word).lower()
        a_mg = a * notation().units.get(unit_a, factor) if a is not None else None
        b_mg = b * factor if b is not None else None
        per_kg = bool(m.group("perkg"))
        per = "day" if (notation().per_day_after.search(after) or notation().per_day_before.search(window)) else "dose"
        freq = None if per == "day" else _frequency(after.split(",")[0] if "then" in after or k + 1 < len(amounts) else after)
        if freq is None and per == "dose" and _SINGLE_END.search(window):
            freq = (1.0, 1.0)
        duration = None
        d = _FOR_DURATION.search(after)
        if d:
            duration = float(d.group(1)) * (7 if d.group(2).lower().startswith("week") else 1)
        daily_min = daily_max = None
        if not per_kg and a_mg is not None:
            if per == "day":
                daily_min, daily_max = a_mg, b_mg
            elif freq:
                daily_min, daily_max = a_mg * freq[0], b_mg * freq[1]
        if prev is not None and daily_min is not None and (daily_min, daily_max) == (prev["daily_min_mg"], prev["daily_max_mg"]) and (
                in_parens or phase in ("usual_range", "other", prev["phase"])):
            # "36 mg/day (9 mg orally 4 times a day)": the same dose restated
            if prev["times_per_day"] is None and freq:
                prev["times_per_day"], prev["times_per_day_min"] = freq[1], freq[0]
            continue
        if phase == "initial":
            ctx.step = 0
        elif phase == "titration_step":
            ctx.step += 1
        route = _nearest_route(u.text, m.start()) if len(unit_routes) > 1 else None
        basis = "stated" if route else ctx.route_basis
        route = route or ctx.route
        if not route:
            route, basis = ("oral", "default") if factor >= 1 else ("unspecified", "")
        q = notation().qualifier.search(u.text)
        row = {
            "unit_obj": u, "char_start": u.start + m.start(), "char_end": u.start + m.end(),
            "route": route, "route_basis": basis, "population": population[0],
            "age_min_years": population[1], "age_max_years": population[2], "indication": indication,
            "phase": phase, "step_index": ctx.step if phase in ("initial", "titration_step") else 0,
            "amount_min": a, "amount_max": b, "unit": m.group("unit") + ("/kg" if per_kg else ""), "per": per,
            "times_per_day": freq[1] if freq else None, "times_per_day_min": freq[0] if freq else None,
            "duration_days": duration, "daily_min_mg": daily_min, "daily_max_mg": daily_max,
            "qualifier": q.group(0).strip() if q else "",
            "indication_span": indication_span,
        }
        rows.append(row)
        ctx.last_phase = phase
        prev = row
        prev_end = m.end()
    return rows
