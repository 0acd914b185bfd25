"""The column-wise and bounded fast paths give what their plain definitions give.

Each test states the plain definition (a brute-force comparison, a row-by-row merge, a
grouped hash) and checks the project's function against it on generated inputs, so a
shortcut that drops a pair, a row or a value fails here.
"""

import hashlib
import random
import weakref

import numpy as np
import pandas as pd
import pytest
from rapidfuzz import fuzz

from pipeline.decisions import values_hash
from pipeline.history import advance_history, fact_keys
from pipeline.reconcile import _candidate_pairs, _restated_passages

WORDS = ("muscle weakness drowsiness dizziness nausea headache confusion seizures insomnia fatigue the of "
         "and may cause patients with kidney disease take tablets daily dose").split()


def _passages(rng: random.Random, n: int, near_copies: float) -> list[str]:
    """Sentences of random words; a share of them copies of an earlier one with a word changed."""
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < near_copies:
            words = rng.choice(out).split()
            words[rng.randrange(len(words))] = rng.choice(WORDS)
            if rng.random() < 0.3:
                words.append(rng.choice(WORDS))
        else:
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 14))]
        out.append(" ".join(words) if rng.random() > 0.05 else "\t".join(words))  # some odd white space
    return out


@pytest.mark.parametrize("near_copies", [0.0, 0.3, 0.9])  # few open pairs, some, most
@pytest.mark.parametrize("cutoff", [70.0, 85.0])
def test_candidate_pairs_keep_every_pair_that_reaches_the_cutoff(near_copies, cutoff):
    rng = random.Random(int(near_copies * 10 + cutoff))
    passages = _passages(rng, 90, near_copies)
    owner = np.array(sorted(rng.randrange(4) for _ in passages))
    candidates = set()
    for rows, cols in _candidate_pairs(passages, owner, cutoff, block=32):  # several blocks
        candidates |= set(zip(rows.tolist(), cols.tolist()))
    assert all(owner[i] < owner[j] for i, j in candidates)
    reaching = {(i, j) for i in range(len(passages)) for j in range(len(passages))
                if owner[i] < owner[j] and fuzz.token_set_ratio(passages[i], passages[j]) >= cutoff}
    assert reaching, "the generated passages must hold pairs over the cutoff"
    assert reaching <= candidates
    if near_copies == 0.0:
        assert len(candidates) < sum(1 for i in owner for j in owner if i < j)  # the bound prunes


def test_restated_passages_count_what_brute_force_counts():
    rng = random.Random(7)
    ids = ["a", "b", "c"]
    passages = {sid: _passages(rng, 30, 0.6) for sid in ids}
    passages["b"] += passages["a"][:5]  # b repeats part of a
    got = _restated_passages(passages, ids, 80.0)
    want: dict = {}
    for a in ids:
        for other in ids:
            if a != other:
                n = sum(1 for p in passages[a] if any(fuzz.token_set_ratio(p, q) >= 80.0 for q in passages[other]))
                if n:
                    want[(a, other)] = n
    assert got == want
    assert got[("b", "a")] >= 5


def _plain_advance(prev, current, key, run_id, now, keep, previous=None):
    """The history merge written row by row."""
    old = {r[key]: r for r in prev.to_dict("records")}
    rows = []
    for r in current.to_dict("records"):
        o = old.get(r[key])
        rows.append({**r, "first_seen_run": o["first_seen_run"] if o else run_id,
                     "first_seen_at": o["first_seen_at"] if o else now,
                     "last_seen_run": None, "last_seen_at": None, "present": True})
    now_keys = set(current[key])
    for k, o in old.items():
        if k not in now_keys:
            was_present = bool(o["present"])
            rows.append({key: k, **{c: o[c] for c in keep}, "first_seen_run": o["first_seen_run"],
                         "first_seen_at": o["first_seen_at"],
                         "last_seen_run": previous[0] if was_present else o["last_seen_run"],
                         "last_seen_at": previous[1] if was_present else o["last_seen_at"], "present": False})
    out = pd.DataFrame(rows)
    for c in ("last_seen_run", "last_seen_at"):
        out[c] = out[c].astype("string")
    return out


def test_history_merge_keeps_first_sightings_and_marks_what_is_gone():
    from pipeline.schemas import FactHistoryModel

    rng = random.Random(3)
    cols = ["fact_table", "source_id", "mention", "label"]

    def facts(keys):
        return pd.DataFrame({"fact_key": keys, "fact_table": ["conditions"] * len(keys),
                             "source_id": [f"s{k % 3}" for k in keys], "mention": [f"m{k}" for k in keys],
                             "label": [rng.choice(["caution", "avoid"]) for _ in keys]})

    def valid(frame):  # the warehouse model holds: a last sighting exactly on the gone rows
        FactHistoryModel.validate(frame.assign(fact_key=frame["fact_key"].map(str)))
        return frame

    first = valid(advance_history(pd.DataFrame(), facts(list(range(10))), "fact_key", "r1", "t1", cols))
    assert first["present"].all() and set(first["first_seen_run"]) == {"r1"} and first["last_seen_run"].isna().all()
    now = facts([3, 4, 11, 12, 5])
    second = valid(advance_history(first, now, "fact_key", "r2", "t2", cols, ("r1", "t1")))
    pd.testing.assert_frame_equal(second, _plain_advance(first, now, "fact_key", "r2", "t2", cols, ("r1", "t1")))
    by = second.set_index("fact_key")
    assert by.loc[3, "first_seen_run"] == "r1" and pd.isna(by.loc[3, "last_seen_run"]) and by.loc[3, "present"]
    assert by.loc[11, "first_seen_run"] == "r2"
    assert not by.loc[0, "present"] and by.loc[0, "last_seen_run"] == "r1" and by.loc[0, "last_seen_at"] == "t1"
    assert by.loc[0, "mention"] == "m0"
    now = facts([0, 3])
    third = valid(advance_history(second, now, "fact_key", "r3", "t3", cols, ("r2", "t2")))
    pd.testing.assert_frame_equal(third, _plain_advance(second, now, "fact_key", "r3", "t3", cols, ("r2", "t2")))
    by = third.set_index("fact_key")
    assert by.loc[0, "present"] and by.loc[0, "first_seen_run"] == "r1" and pd.isna(by.loc[0, "last_seen_run"])
    assert not by.loc[11, "present"] and by.loc[11, "last_seen_run"] == "r2"  # present in r2, gone in r3
    assert not by.loc[1, "present"] and by.loc[1, "last_seen_run"] == "r1"  # gone since r2: its sighting stays
    assert list(third["fact_key"][:2]) == [0, 3]  # current rows first, in their order
    gone = valid(advance_history(third, facts([]), "fact_key", "r4", "t4", cols, ("r3", "t3")))  # a run that finds nothing
    assert len(gone) == len(third) and not gone["present"].any()
    assert list(gone["last_seen_run"]) == [r if isinstance(r, str) else "r3" for r in third["last_seen_run"].tolist()]
    # a history of present rows cannot move on without the run that last saw them
    with pytest.raises(ValueError, match="no previous run"):
        advance_history(third, facts([]), "fact_key", "r4", "t4", cols)
    # and the model refuses a present row with a sighting of its own, or a gone row without one
    for k, bad in ((0, {"last_seen_run": "r3"}), (11, {"last_seen_at": None})):
        broken = third.copy()
        for c, v in bad.items():
            broken.loc[broken["fact_key"] == k, c] = v
        with pytest.raises(Exception, match="last_sighting_only_when_gone"):
            valid(broken)


def test_fact_keys_ignore_case_spacing_and_offsets_but_not_labels():
    frame = pd.DataFrame({"source_id": ["s1", "s1", "s1", "s2"], "mention": ["Kidney  disease", "kidney disease",
                                                                             "kidney disease", "kidney disease"],
                          "stance": ["caution", "caution", "avoid", "caution"], "char_start": [1, 50, 80, 3]})
    keys = fact_keys({"conditions": frame})
    assert len(keys) == 3  # the first two are one fact; a new label or source is another
    assert set(keys["fact_table"]) == {"conditions"} and list(keys["source_id"]) == ["s1", "s1", "s2"]


def test_values_hash_is_order_free_and_per_discrepancy():
    ev = pd.DataFrame({"discrepancy_id": ["d1", "d1", "d2", "d1"], "source_id": ["a", "b", "a", "c"],
                       "value": ["80 mg", "100 mg", "x", "80 mg"], "quote": ["q1", "q2", "q3", "q4"]})
    got = values_hash(ev)
    assert list(got.index) == ["d1", "d2"]
    assert got.equals(values_hash(ev.iloc[::-1].reset_index(drop=True)))
    plain = hashlib.sha1("\x1e".join(sorted(["a\x1f80 mg\x1fq1", "b\x1f100 mg\x1fq2", "c\x1f80 mg\x1fq4"])).encode())
    assert got["d1"] == plain.hexdigest()[:12]
    assert values_hash(ev.assign(quote=["q1", "q2", "q3", "changed"]))["d1"] != got["d1"]
    assert values_hash(ev.assign(quote=["q1", "q2", "changed", "q4"]))["d1"] == got["d1"]


# ------------------------------------------------------------------ literal prefilters (gates)
def _texts() -> list[str]:
    """Lines and sentences of the seed, the fixture pages and a small synthetic corpus, with
    case and spacing variants: what the cue patterns are run on."""
    import re as _re
    import tempfile
    from pathlib import Path

    from pipeline.synthetic import generate_corpus

    root = Path(__file__).resolve().parents[2]
    pages = [(root / "raw" / "baclofen_sources.txt").read_text(encoding="utf-8")]
    pages += [p.read_text(encoding="utf-8") for p in sorted((root / "tests" / "fixtures" / "docs").glob("*.txt"))]
    with tempfile.TemporaryDirectory() as tmp:
        info = generate_corpus(tmp, 3, seed=11)
        pages += [p.read_text(encoding="utf-8") for p in sorted(Path(info["raw_dir"]).glob("*.txt"))]
    out = []
    for page in pages:
        for line in page.split("\n"):
            line = line.strip()
            if line:
                out += [line, line.upper(), line.title()]
                out += [s for s in _re.split(r"(?<=[.!?;:])\s+", line) if s]
    return list(dict.fromkeys(out))


def _pattern_groups() -> dict[str, list]:
    from pipeline.extract import cues as C
    from pipeline.extract.dosing import _route_patterns
    from pipeline.sections import cues as section_cues

    comp = C.compiled()
    return {"stance": C._all_stance_patterns(), "ae_context": comp.ae_context,
            "interaction_context": comp.interaction_context, "ae_category": C._category_patterns(),
            "ae_phrases": comp.ae_phrases, "no_fact_strong": comp.no_fact_strong, "no_fact_weak": comp.no_fact_weak,
            "routes": _route_patterns(), "advertising": section_cues().cta, "phone": [section_cues().phone],
            "heading_topics": [pattern for _, pattern in section_cues().rules]}


def test_gates_never_skip_a_text_a_pattern_of_the_group_matches():
    from pipeline.extract.prefilter import any_may_match, lowered, may_match

    texts = _texts()
    assert len(texts) > 1000
    for name, group in _pattern_groups().items():
        matched = 0
        for t in texts:
            low = lowered(t)
            hits = [p for p in group if p.search(t)]
            if hits:
                matched += 1
                assert any_may_match(group, low), (name, t)
                assert all(may_match(p, low) for p in hits), (name, t)
        assert matched, f"no text matched any {name} pattern: the test would prove nothing"


def test_gates_skip_texts_without_the_needles():
    from pipeline.extract.prefilter import any_may_match, lowered

    group = _pattern_groups()["interaction_context"]
    assert not any_may_match(group, lowered("The tablets are white and round."))


def test_digit_requirement_is_derived_soundly_and_skips_texts_without_digits():
    """``needs_digit``: true only when every match holds a decimal digit (checked on random texts
    against the patterns themselves); ``may_match`` then skips a text without one."""
    import re as _re

    from pipeline.extract.prefilter import lowered, may_match, needs_digit

    cases = {r"(?:\+?\d[\s().-]*){9,}": True, r"\d+ ?mg": True, r"24/7": True, r"[0-9]{2}": True,
             r"(\d{2}|\d{3})x": True, r"(?:\d|x)y": False, r"\d?x": False, r"(?=\d)x": False, r"a|\d": False,
             r"[^0-9]": False, r"[\d,]+": False, r"\d*": False}
    rng = random.Random(3)
    alphabet = "0123456789xy amg+()-/,\u0663"  # U+0663: a digit outside ASCII
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for source, requires in cases.items():
        pattern = _re.compile(source, _re.I)
        assert needs_digit(pattern) == requires, source
        for t in texts:
            m = pattern.search(t)
            if m and requires:
                assert _re.search(r"\d", m.group(0)), (source, t)  # the derivation's claim
            if m:
                assert may_match(pattern, lowered(t)), (source, t)  # never skips a matching text
    phone = _re.compile(r"(?:\+?\d[\s().-]*){9,}")
    assert not may_match(phone, lowered("Call us around the clock")) and may_match(phone, lowered("tel 1"))


def test_trie_pattern_matches_exactly_the_alternation():
    import re as _re

    from pipeline.extract.prefilter import _trie_pattern

    rng = random.Random(5)
    letters = "abcde "
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(2, 6))).strip() or "a" for _ in range(40)})
    minimal = [w for w in sorted(words, key=len) if w]
    minimal = [w for i, w in enumerate(minimal) if not any(m in w for m in minimal[:i])]
    trie = _re.compile(_trie_pattern(minimal))
    flat = _re.compile("|".join(_re.escape(w) for w in minimal))
    for _ in range(3000):
        text = "".join(rng.choice(letters + "xyz") for _ in range(rng.randint(0, 30)))
        assert (trie.search(text) is None) == (flat.search(text) is None), text


# ------------------------------------------------------------------ incremental insert guard
def test_insert_refuses_numbers_bound_for_a_text_column_and_skips_the_check_only_for_text():
    import duckdb

    from pipeline.delta import DeltaError, _insert, _surely_text

    con = duckdb.connect()
    con.execute("CREATE TABLE t (a VARCHAR, b VARCHAR)")  # as a table empty in the full run is typed
    text_rows = pd.DataFrame({"a": ["x", None], "b": pd.array(["1", None], dtype="string")})
    assert _surely_text(text_rows, ["a", "b"])
    assert _insert(con, "t", text_rows) == 2
    for bad in (pd.DataFrame({"a": ["y"], "b": [3]}),                      # an integer column
                pd.DataFrame({"a": ["y"], "b": pd.Series([3], dtype=object)}),  # numbers in an object column
                pd.DataFrame({"a": ["y"], "b": [True]})):                   # flags
        assert not _surely_text(bad, ["a", "b"])
        with pytest.raises(DeltaError, match="b"):
            _insert(con, "t", bad)
    assert con.execute("SELECT count(*) FROM t").fetchall() == [(2,)]  # nothing of the refused rows went in
    nan_rows = pd.DataFrame({"a": pd.Series(["z", np.nan], dtype=object), "b": ["w", "v"]})  # NaN: DuckDB is asked
    assert not _surely_text(nan_rows, ["a"])
    assert _insert(con, "t", nan_rows) == 2


def test_batch_tables_joined_equal_the_table_built_from_all_rows():
    from pipeline.parallel import joined_frames

    rng = random.Random(7)
    values = {  # per column, the kinds of value the stages' rows hold; a batch may also hold only None
        "text": ["a", "bb", "ccc"], "count": [1, 2, 30], "score": [0.5, 1.25], "flag": [True, False],
    }
    for trial in range(60):
        batches = []
        for _ in range(rng.randint(1, 5)):
            rows = []
            for _ in range(rng.randint(0, 6)):
                missing = {c for c in values if rng.random() < 0.3} if rng.random() < 0.5 else set()
                rows.append({c: (None if c in missing else rng.choice(v)) for c, v in values.items()})
            if rng.random() < 0.3:  # a batch where one column is missing throughout
                gone = rng.choice(list(values))
                for r in rows:
                    r[gone] = None
            batches.append(rows)
        every = [r for rows in batches for r in rows]
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in values})
        got = joined_frames([pd.DataFrame(rows) for rows in batches], empty)
        want = pd.DataFrame(every) if every else empty
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=f"trial {trial}")
        for col in want.columns:  # the same Python types too (assert_frame_equal takes 1 for 1.0, None for NaN)
            assert [type(v) for v in got[col].tolist()] == [type(v) for v in want[col].tolist()], (trial, col)


def test_incremental_unique_check_counting_only_inserted_keys_finds_what_a_whole_table_count_finds():
    import duckdb

    from pipeline.delta import _check_unique

    class Model:  # the unique columns are all _check_unique asks of a model
        pass

    from pipeline import delta

    rng = random.Random(3)
    keys = {"adverse_effects": ["fact_id", "fact_key"], "conditions": ["fact_id"]}  # every key in one statement
    for trial in range(40):
        con = duckdb.connect()
        new, expected = {}, []
        for table, cols in keys.items():
            kept = rng.sample(range(200), rng.randint(1, 60))  # unique before the update
            new_keys = [rng.randrange(260) for _ in range(rng.randint(1, 20))]
            con.register("kept", pd.DataFrame({c: [f"{c}{k}" for k in kept] for c in cols} | {"x": range(len(kept))}))
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM kept").fetchall()
            con.unregister("kept")
            rows = pd.DataFrame({c: [f"{c}{k}" for k in new_keys] for c in cols} | {"x": range(len(new_keys))})
            if rng.random() < 0.3 and len(cols) > 1:  # the second key unique where the first is not
                rows[cols[1]] = [f"fresh{trial}-{k}" for k in range(len(rows))]
            new[table] = rows
            con.register("new_rows", rows)
            con.execute(f"INSERT INTO {table} SELECT * FROM new_rows").fetchall()
            con.unregister("new_rows")
            for col in cols:
                whole = con.execute(f"SELECT count(*) - count(DISTINCT {col}) FROM {table}").fetchall()[0][0]
                if whole:
                    expected.append(f"{table}.{col}: {whole} duplicate value(s)")
        original = delta._unique_columns
        delta._unique_columns = lambda models: keys
        try:
            bad = _check_unique(con, {t: Model for t in keys}, new)
        finally:
            delta._unique_columns = original
        assert bad == expected, trial
        assert not con.execute("SELECT * FROM duckdb_views() WHERE NOT internal AND view_name LIKE 'delta_unique%'"
                               ).fetchall()  # the key frames are unregistered
        con.close()


def test_raw_file_resolver_equals_resolving_each_path_whole(tmp_path):
    import os

    from pathlib import Path

    from pipeline.registry import raw_file_resolver

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    real_raw = tmp_path / "real_raw"
    (real_raw / "sub").mkdir(parents=True)
    for name in ("a.txt", "sub/b.txt"):
        (real_raw / name).write_text("x")
    os.symlink(outside / "secret.txt", real_raw / "out_link.txt")
    os.symlink(real_raw / "a.txt", real_raw / "in_link.txt")
    os.symlink(outside, real_raw / "out_dir")
    raw = tmp_path / "raw"  # the raw folder itself reached through a link
    os.symlink(real_raw, raw)

    def plain(rel):  # the definition: resolve the whole path, keep it only inside the folder
        if not rel or Path(rel).is_absolute():
            return None
        candidate = (raw / rel).resolve()
        try:
            candidate.relative_to(raw.resolve())
        except ValueError:
            return None
        return candidate

    rels = ["a.txt", "sub/b.txt", "missing.txt", "sub", "out_link.txt", "in_link.txt", "out_dir", "out_dir/secret.txt",
            "../outside/secret.txt", "sub/../a.txt", "..", ".", "", str(outside / "secret.txt"), "a.txt/", "nested/missing"]
    resolve = raw_file_resolver(raw)
    for rel in rels:
        assert resolve(rel) == plain(rel), rel


def test_text_columns_validate_exactly_as_pandera_str_columns():
    import pandera.pandas as pa
    from pandera.typing import Series

    from pipeline.schemas import Text

    class AsText(pa.DataFrameModel):
        class Config:
            coerce = True
        a: Series[Text] = pa.Field(nullable=True)
        b: Series[Text] = pa.Field(str_length={"min_value": 1})

    class AsStr(pa.DataFrameModel):
        class Config:
            coerce = True
        a: Series[str] = pa.Field(nullable=True)
        b: Series[str] = pa.Field(str_length={"min_value": 1})

    frames = [
        pd.DataFrame({"a": ["x", None, "y"], "b": ["p", "q", "r"]}),
        pd.DataFrame({"a": pd.Series([], dtype="str"), "b": pd.Series([], dtype="str")}),
        pd.DataFrame({"a": pd.Series([], dtype=object), "b": pd.Series([], dtype=object)}),
        pd.DataFrame({"a": [None, None], "b": ["x", None]}),          # a null where none may be
        pd.DataFrame({"a": [1, 2], "b": [3.5, True]}),                 # numbers and flags coerced to text
        pd.DataFrame({"a": pd.Series(["x", 1], dtype=object), "b": ["", "y"]}),  # an empty string fails a check
        pd.DataFrame({"a": ["x"]}),                                    # a column missing
    ]

    def outcome(model, frame):
        try:
            out = model.validate(frame.copy(), lazy=True)
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases.to_dict("records")
            return "fail", sorted((str(r["column"]).replace(model.__name__, "<model>"), str(r["check"]).replace("Text", "str"),
                                   str(r["failure_case"])) for r in cases)
        return "pass", out.dtypes.astype(str).tolist(), out.astype(object).where(out.notna(), None).values.tolist()

    class AsTextStrict(AsText):
        class Config:
            coerce = False

    class AsStrStrict(AsStr):
        class Config:
            coerce = False

    for frame in frames:
        assert outcome(AsText, frame) == outcome(AsStr, frame)
        assert outcome(AsTextStrict, frame) == outcome(AsStrStrict, frame)


def test_the_staging_copy_is_the_warehouse_and_is_removed_when_left(tmp_path):
    from pipeline.delta import _StagingCopy

    published = tmp_path / "w.duckdb"
    published.write_bytes(bytes(range(256)) * 4096)
    with _StagingCopy(published) as staging:
        path = staging.ready()
        assert path.parent == tmp_path and path != published
        assert path.read_bytes() == published.read_bytes()
        path.with_name(path.name + ".wal").write_bytes(b"log")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]
    # a copy that cannot be made raises where the run asks for it, and leaves nothing
    with pytest.raises(FileNotFoundError):
        with _StagingCopy(tmp_path / "missing.duckdb") as staging:
            staging.ready()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]


# ------------------------------------------------------------------ sentence breaks
def test_sentence_breaks_searched_from_the_sentence_end_equal_the_whole_sentence_search():
    from pipeline.textutil import sentence_spans

    rng = random.Random(7)
    # abbreviations whole and inside longer words (where \b must keep them from counting), initials,
    # numbers before and after a dot, quotes and brackets around the break
    pieces = ["e.g.", "i.e.", "etc.", "vs.", "approx.", "Dr.", "No.", "Fig.", "al.", "ca.", "A.", "x.", "2.", "3.5",
              "Devs.", "Inca.", "Normal.", "canvs.", "dose.", "weakness!", "why?", '"Stop."', "(see below.)",
              "Take", "It", "The", "tablets", "daily", "5", "mg", "Zorvamine", "Ёлка", "muscle"]
    for _ in range(400):
        words = [rng.choice(pieces) for _ in range(rng.randrange(1, 40))]
        text = rng.choice(["", "  ", "x"]) + " ".join(words) + rng.choice(["", ".", " "])
        start = rng.randrange(0, min(3, len(text)) + 1)
        # the plain definition: the abbreviation and number checks search the whole sentence so far
        assert sentence_spans(text, start, len(text)) == sentence_spans(text, start, len(text), reach=None), text


class _Node:
    pass


def test_heap_frozen_hides_the_callers_heap_for_a_while_and_the_runs_use_it(tmp_path, monkeypatch):
    import gc
    from contextlib import contextmanager

    from pipeline import delta
    from pipeline.perf import heap_frozen

    if gc.get_freeze_count():
        pytest.skip("this test process froze its heap already")
    with heap_frozen():
        assert gc.get_freeze_count() > 0
        with heap_frozen():
            pass
        assert gc.get_freeze_count() > 0  # an inner use keeps the outer's freeze
        node = _Node()  # a cycle made meanwhile is collected as usual
        node.itself = node
        ref = weakref.ref(node)
        del node
        gc.collect()
        assert ref() is None
    assert gc.get_freeze_count() == 0
    # the plan and the incremental run keep the collector off their caller's heap
    seen = []

    def manifest(*_):
        seen.append(gc.get_freeze_count())
        return None

    monkeypatch.setattr(delta, "load_manifest", manifest)
    assert delta.plan_run(tmp_path, tmp_path / "w.duckdb", tmp_path / "d.csv", "v", 0.2).mode == "full"

    @contextmanager
    def lock(*_):
        seen.append(gc.get_freeze_count())
        raise delta.DeltaError("stop here")
        yield

    monkeypatch.setattr(delta, "warehouse_lock", lock)
    with pytest.raises(delta.DeltaError, match="stop here"):
        delta.run_incremental(delta.Plan("incremental", "test"), tmp_path, tmp_path / "w.duckdb", tmp_path, None,
                              pd.DataFrame(), None, "r", "t", "t", tmp_path / "d.csv", {})
    assert len(seen) == 2 and all(seen) and gc.get_freeze_count() == 0


def test_misspelt_spans_are_what_the_word_by_word_search_finds():
    """``quality.misspelt_spans`` (the candidate words compared in one rapidfuzz call, on the
    lower-cased text when it is ASCII) gives the spans the plain word-by-word search finds, one
    edit from the drug's name: on generated texts with the name as written, changed by
    one edit (swap, drop, add, change) or two, in other cases, and with non-ASCII letters."""
    import re

    from rapidfuzz.distance import OSA

    from pipeline.extract.quality import misspelt_spans

    def plain(text: str, drug: str) -> list:
        return [m.span() for m in re.finditer(r"[A-Za-z]{%d,%d}" % (len(drug) - 1, len(drug) + 1), text)
                if m.group(0).lower() != drug and OSA.distance(m.group(0).lower(), drug) == 1]

    rng = random.Random(7)
    drug = "tolperisone"

    def variant(word: str) -> str:
        i = rng.randrange(len(word) - 1)
        kind = rng.randrange(6)
        if kind == 0:
            return word[:i] + word[i + 1] + word[i] + word[i + 2:]  # two letters swapped
        if kind == 1:
            return word[:i] + word[i + 1:]
        if kind == 2:
            return word[:i] + rng.choice("aeiouxz") + word[i:]
        if kind == 3:
            return word[:i] + rng.choice("aeiouxz") + word[i + 1:]
        if kind == 4:
            return word.upper() if rng.random() < 0.5 else word.capitalize()
        return variant(variant(word))  # two edits: no longer one

    found = 0
    for _ in range(400):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 30))]
        for _ in range(rng.randint(0, 2)):
            words.insert(rng.randrange(len(words) + 1), variant(drug) if rng.random() < 0.8 else drug)
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words) + 1), rng.choice(["Kelvin \u212a", "\u0130stanbul", "tolp\u00e9risone"]))
        text = " ".join(words)
        assert misspelt_spans(text, drug) == plain(text, drug), text
        found += bool(plain(text, drug))
    assert 50 < found < 350  # both answers were asked for


def test_run_hash_changes_rebuild_every_runs_hashes():
    """``history.hash_changes`` records only what changed between runs: folding the records of a
    sequence of runs gives back, at each run, exactly the hashes that run read (sources added,
    edited, removed, added again)."""
    from pipeline.history import hash_changes

    rng = random.Random(5)
    before: dict[str, str] = {}
    folded: dict[str, str] = {}
    for run in range(40):
        now = dict(before)
        for _ in range(rng.randint(0, 4)):
            sid = f"s{rng.randrange(12)}"
            if rng.random() < 0.25:
                now.pop(sid, None)
            else:
                now[sid] = f"h{rng.randrange(1000)}"
        record = hash_changes(before, now)
        assert run or record == now  # the first run records every source
        if now == before:
            assert record == {}
        for sid, h in record.items():
            if h is None:
                folded.pop(sid)
            else:
                folded[sid] = h
        assert folded == now
        before = now
