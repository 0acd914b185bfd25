"""Dose statements: amounts, frequency, duration, phase, route, population, daily mg.

Route, population and indication come from the unit itself, else from the section heading and
its parent ("Usual Pediatric Dose ..." / "12 years and older:" / "Oral:"), else from the nearest
earlier unit of the same section that named one: a bare "The maximum daily dose is 100 mg" after
"Inside, the initial dose is ..." is oral. A route never stated anywhere is set to 'oral' only for
mg/g amounts and recorded with ``route_basis='default'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import yaml

from pipeline.extract.units import Unit
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
        rf"(?P<unit>{unit_alt})\b(?:\s*\((?:mg|mcg|µg)\))?(?P<perkg>\s*/\s*kg)?(?!\s*/\s*\d*\s*m[lL])", re.I)
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
    return [r for r, p in notation().routes.items() if p.search(text)]


def _population(text: str) -> tuple[str, float | None, float | None] | None:
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


def _frequency(text: str) -> tuple[float, float] | None:
    for pattern, per_day in notation().frequency:
        m = pattern.search(text)
        if m:
            if per_day == "capture":
                n = float(next(g for g in m.groups() if g))
                return n, n
            return float(per_day[0]), float(per_day[1])
    return None


def _phase(text: str) -> str | None:
    for phase, pattern in notation().phases:
        if pattern.search(text):
            return phase
    return None


def _indication_from_heading(heading: str) -> str:
    m = re.search(r"\bdose for (.+?):?$", heading, re.I)
    return m.group(1).strip() if m else ""


@dataclass
class _Context:
    route: str = ""
    route_basis: str = ""
    population: tuple[str, float | None, float | None] | None = None
    indication: str = ""
    section_id: str = ""
    last_phase: str = ""
    step: int = 0


def dose_rows(units: list[Unit]) -> list[dict]:
    """Dose rows (without provenance columns' fact ids) for one source's units in order."""
    rows: list[dict] = []
    ctx = _Context()
    top_section = ""
    for u in units:
        if u.topic in SKIP_TOPICS:
            continue
        section_key = u.parent_heading or u.section_id
        if section_key != top_section:
            top_section = section_key
            ctx = _Context()
        head_ctx = f"{u.parent_heading} {u.heading}"
        head_routes = _routes_in(head_ctx)
        unit_routes = _routes_in(u.text)
        if len(set(unit_routes)) == 1:
            ctx.route, ctx.route_basis = unit_routes[0], "stated"
        elif not ctx.route and len(head_routes) == 1:
            ctx.route, ctx.route_basis = head_routes[0], "heading"
        pop = _population(u.text) or _population(head_ctx)
        if pop:
            ctx.population = pop
        amounts = list(notation().amount.finditer(u.text))
        if not amounts:
            continue
        indication = u.item_label if u.item_label and not _phase(u.item_label) else ""
        indication_span = (u.start, u.start + len(u.item_label)) if indication else None
        indication = indication or _indication_from_heading(u.heading) or _indication_from_heading(u.parent_heading)
        prev_end = 0
        prev_daily: tuple | None = None
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
            if phase is None and k == 0:
                phase = _phase(u.lead_in) if u.kind == "item" else None
            if phase is None:
                phase = ctx.last_phase if ctx.last_phase in ("titration_step",) else "other"
            if re.search(r"\bthen\b", window, re.I) and phase not in ("maximum",):
                phase = "titration_step"
            a = _num(m.group("a"))
            b = _num(m.group("b")) if m.group("b") else a
            unit_a = (m.group("ua") or unit_word).lower()
            a_mg = a * notation().units.get(unit_a, factor) if a is not None else None
            b_mg = b * factor if b is not None else None
            per_kg = bool(m.group("perkg"))
            per = "day" if (notation().per_day_after.search(after) or notation().per_day_before.search(window)) else "dose"
            freq = None if per == "day" else _frequency(after.split(",")[0] if "then" in after else after)
            duration = None
            d = re.search(r"\bfor (?:the next |another |a further )?(\d+) (day|days|week|weeks)\b", after, re.I)
            if d:
                duration = float(d.group(1)) * (7 if d.group(2).lower().startswith("week") else 1)
            daily_min = daily_max = None
            if not per_kg and a_mg is not None:
                if per == "day":
                    daily_min, daily_max = a_mg, b_mg
                elif freq:
                    daily_min, daily_max = a_mg * freq[0], b_mg * freq[1]
            if in_parens and prev_daily is not None and (daily_min, daily_max) == prev_daily:
                continue  # "80 mg/day (20 mg orally 4 times a day)": the same dose restated
            if prev_daily is not None and phase == rows[-1]["phase"] and (daily_min, daily_max) == prev_daily and daily_min is not None:
                continue
            if phase == "initial":
                ctx.step = 0
            elif phase == "titration_step":
                ctx.step += 1
            route, basis = ctx.route, ctx.route_basis
            if not route:
                route, basis = ("oral", "default") if factor >= 1 else ("unspecified", "")
            population = ctx.population or ("adult", None, None)
            q = notation().qualifier.search(u.text)
            rows.append({
                "unit_obj": u, "char_start": u.start + m.start(), "char_end": u.start + m.end(),
                "route": route, "route_basis": basis, "population": population[0],
                "age_min_years": population[1], "age_max_years": population[2], "indication": indication,
                "phase": phase, "step_index": ctx.step if phase in ("initial", "titration_step") else 0,
                "amount_min": a, "amount_max": b, "unit": m.group("unit") + ("/kg" if per_kg else ""), "per": per,
                "times_per_day": freq[1] if freq else None, "times_per_day_min": freq[0] if freq else None,
                "duration_days": duration, "daily_min_mg": daily_min, "daily_max_mg": daily_max,
                "qualifier": q.group(0).strip() if q else "",
                "indication_span": indication_span,
            })
            ctx.last_phase = phase
            prev_daily = (daily_min, daily_max)
            prev_end = m.end()
    return rows
