"""Score extracted facts against a hand-made gold file (tests/gold/*.yaml).

Matching is *lenient* in the i2b2 sense: a predicted mention matches a gold mention of the same
source when their normalised words are equal or one is a contiguous word sequence inside the
other ("severe drowsiness" ~ "drowsiness"). Each gold row matches at most one prediction. Both
sides are first reduced to distinct (normalised mention, label) pairs, as the gold lists each
pair once per source. ``strict=True`` also demands the label (category or stance) be equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

_WORD = re.compile(r"[a-z0-9]+")


def norm_words(text: str) -> tuple[str, ...]:
    t = text.lower().replace("’", "'").replace("‘", "'")
    words = []
    for w in _WORD.findall(t):
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        words.append(w)
    return tuple(words)


def lenient_match(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if not a or not b:
        return False
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    n = len(short)
    return any(long_[i:i + n] == short for i in range(len(long_) - n + 1))


@dataclass
class Score:
    tp: int
    n_pred: int
    n_gold: int
    missed: list[str]
    spurious: list[str]

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 1.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gold if self.n_gold else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_pairs(pred: list[tuple[str, str]], gold: list[tuple[str, str]], strict: bool) -> Score:
    """Score (mention, label) pairs of one source. Duplicates are collapsed first."""
    def distinct(pairs):
        seen, out = set(), []
        for mention, label in pairs:
            key = (norm_words(mention), label if strict else "")
            if key[0] and key not in seen:
                seen.add(key)
                out.append((key, mention))
        return out

    p, g = distinct(pred), distinct(gold)
    used: set[int] = set()
    tp = 0
    missed = []
    for (gw, gl), gtext in g:
        # prefer an exact word match, then a lenient one
        hit = next((i for i, ((pw, pl), _) in enumerate(p) if i not in used and pl == gl and pw == gw), None)
        if hit is None:
            hit = next((i for i, ((pw, pl), _) in enumerate(p) if i not in used and pl == gl and lenient_match(pw, gw)), None)
        if hit is None:
            missed.append(f"{gtext} [{gl}]" if strict else gtext)
        else:
            used.add(hit)
            tp += 1
    spurious = [f"{t} [{l}]" if strict else t for i, ((_, l), t) in enumerate(p) if i not in used]
    return Score(tp, len(p), len(g), missed, spurious)


def load_gold(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def score_table(frames: dict[str, pd.DataFrame], gold: dict, kind_of_source: dict[str, str], table: str,
                strict: bool) -> dict[str, Score]:
    """Per-source scores for ``table`` ('adverse_effects' or 'conditions')."""
    label_col = {"adverse_effects": "category", "conditions": "stance"}[table]
    frame = frames[table]
    if "negated" in frame:
        frame = frame[~frame["negated"].astype(bool)]
    out = {}
    for source_id, kind in kind_of_source.items():
        g = gold["sources"].get(kind, {}).get(table, []) or []
        gold_pairs = [(r["mention"], r[label_col]) for r in g if not r.get("negated")]
        rows = frame[frame["source_id"] == source_id]
        pred_pairs = list(zip(rows["mention"], rows[label_col]))
        out[kind] = score_pairs(pred_pairs, gold_pairs, strict)
    return out


def micro(scores: dict[str, Score]) -> Score:
    tp = sum(s.tp for s in scores.values())
    return Score(tp, sum(s.n_pred for s in scores.values()), sum(s.n_gold for s in scores.values()), [], [])


def concept_accuracy(matched: pd.DataFrame, gold_concepts: dict, table: str, ancestors=None) -> dict:
    """Share of rows carrying a concept, and how many carried concepts agree with the gold
    concept for that wording. Gold keys are lower-cased mentions; conditions' gold is an ICD-10
    code or a project concept name."""
    rows = matched
    if "negated" in rows:
        rows = rows[~rows["negated"].astype(bool)]
    carried = rows[rows["concept_id"].astype(str) != ""]
    section = gold_concepts["adverse_effects" if table == "adverse_effects" else "conditions"]
    checked = correct = compatible = 0
    wrong = []
    for r in carried.drop_duplicates("mention").itertuples(index=False):
        g = section.get(r.mention.lower())
        if g is None:
            continue
        if table == "adverse_effects":
            want = {g.get("hpo_id")} if g.get("hpo_id") else set()
        else:
            want = set()
            if g.get("icd10"):
                want.add(f"ICD10:{g['icd10']}")
            if g.get("project"):
                want.add(f"PRJ:{g['project']}")
        if not want:
            continue
        checked += 1
        if r.concept_id in want:
            correct += 1
            compatible += 1
            continue
        related = ancestors is not None and (bool(want & ancestors[r.concept_id])
                                             or any(r.concept_id in ancestors[w] for w in want))
        compatible += related
        if not related:
            wrong.append((r.mention, r.concept_id, r.concept_label, sorted(want)))
    return {"rows": len(rows), "carried": len(carried), "carried_share": len(carried) / len(rows) if len(rows) else 1.0,
            "checked": checked, "correct": correct, "accuracy": correct / checked if checked else 1.0,
            "compatible": compatible, "compatible_share": compatible / checked if checked else 1.0, "wrong": wrong}
