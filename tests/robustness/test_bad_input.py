"""Bad input: every case runs the real stages (registry -> split -> sections -> extraction) on a
temporary raw folder holding one good source beside the bad one, and checks that

(a) a Problem names the file, the place (character offsets or the source id) and what to do, and
(b) the good source of the same run is still processed with all its facts.

The last test runs the whole Dagster graph on a raw folder with a good source and broken ones and
checks what is published.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipeline import paths
from pipeline.extract import extract_all
from pipeline.problems import Problem
from pipeline.registry import load_registry
from pipeline.sections import section_all
from pipeline.split import split_all

GOOD_TITLE = "Tizanidine: uses and side effects"
GOOD = f"""{GOOD_TITLE}

Side effects

Common side effects of tizanidine include:
  • drowsiness
  • dry mouth
  • dizziness

Dosage

The usual starting dose is 2 mg orally every 6 to 8 hours. The maximum dose is 36 mg per day.

Who should not take tizanidine?

Do not take tizanidine if you have liver disease or if you take fluvoxamine or ciprofloxacin.
"""
GOOD_EFFECTS = {"drowsiness", "dry mouth", "dizziness"}
# The same page under another title, used as the body of most bad files.
BAD_TITLE = "Tizanidine tablets: what to know"
PAGE = GOOD.replace(GOOD_TITLE, BAD_TITLE)

RUSSIAN = """Баклофен – описание вещества

Баклофен – миорелаксант центрального действия, производное гамма-аминомасляной кислоты.

Противопоказания

Гиперчувствительность, эпилепсия, беременность, психоз, язвенная болезнь желудка.

Побочные действия

Сонливость, головокружение, тошнота, слабость, бессонница.
"""

HTML = """<div><h2>Tizanidine tablets: what to know</h2></div>

<h3>Side effects</h3>

<p>Common side effects of tizanidine include:</p>
<ul>
  <li>&bull; drowsiness</li>
  <li>&bull; dry&nbsp;mouth</li>
</ul>

<p>Dosage</p>

<p>The usual starting dose is 2&nbsp;mg orally every 6 to 8 hours.</p>
"""


def entry(source_id: str, raw_path: str, marker: str | None = None, *, kind: str = "us_monograph",
          drug: str = "tizanidine", prefix: bool = False, **extra) -> dict:
    e = {"source_id": source_id, "drug": drug, "kind": kind, "raw_path": raw_path}
    e["start_marker_prefix" if prefix else "start_marker"] = marker if marker is not None else BAD_TITLE
    e.update(extra)
    return e


GOOD_ENTRY = entry("good", "good.txt", GOOD_TITLE)


def toml(entries: list[dict]) -> str:
    out = []
    for e in entries:
        out.append("[[source]]")
        out += [f"{k} = {json.dumps(v)}" for k, v in e.items()]  # JSON scalars are valid TOML values
        out.append("")
    return "\n".join(out)


@dataclass
class Run:
    raw: Path
    entries: list
    sources: pd.DataFrame
    sections: pd.DataFrame
    items: pd.DataFrame
    facts: dict
    problems: list[Problem]

    def source(self, sid: str):
        rows = self.sources[self.sources["source_id"] == sid]
        assert len(rows) == 1, f"source {sid} was not produced; problems:\n{self.report()}"
        return rows.iloc[0]

    def facts_of(self, table: str, sid: str) -> pd.DataFrame:
        f = self.facts[table]
        return f[f["source_id"] == sid] if len(f) else f

    def report(self) -> str:
        return "\n".join(p.message() for p in self.problems)


def run_stages(raw: Path, files: dict[str, str | bytes], entries: list[dict] | str, max_bytes: int | None = None) -> Run:
    """Write ``files`` and the registry into ``raw`` and run the real stages on them."""
    raw.mkdir(parents=True, exist_ok=True)
    files = {"good.txt": GOOD, **files}
    for name, body in files.items():
        (raw / name).write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    (raw / "registry.toml").write_text(entries if isinstance(entries, str) else toml([GOOD_ENTRY, *entries]),
                                       encoding="utf-8")
    th = paths.thresholds()
    reg, problems = load_registry(raw / "registry.toml")
    sources, _segments, p_split = split_all(raw, reg, max_bytes or th["raw_file_max_bytes"],
                                            th["binary_control_char_ratio"])
    sections, items, p_sec = section_all(sources)
    facts, p_ext = extract_all(sources, sections, items)
    return Run(raw, reg, sources, sections, items, facts, problems + p_split + p_sec + p_ext)


def reported(run: Run, raw_path: str, *words: str, source_id: str | None = None, severity: str | None = None,
             offsets: bool = False) -> Problem:
    """The problem about ``raw_path`` whose reason holds ``words``; it must say what to do."""
    hits = [p for p in run.problems
            if p.raw_path == raw_path and all(w.lower() in p.reason.lower() for w in words)
            and (source_id is None or p.source_id == source_id) and (severity is None or p.severity == severity)]
    assert hits, f"no problem about {raw_path} {words} {source_id}; problems:\n{run.report()}"
    p = hits[0]
    assert p.action.strip() and "What to do: " + p.action in p.message()
    assert raw_path in p.message()
    if source_id:
        assert f"[{source_id}]" in p.message()
    if offsets:
        assert 0 <= p.char_start < p.char_end, p
        assert f"chars {p.char_start}-{p.char_end}" in p.message()
    return p


def assert_good_source_processed(run: Run) -> None:
    src = run.source("good")
    assert src.text == GOOD.rstrip()
    assert set(run.facts_of("adverse_effects", "good")["mention"]) == GOOD_EFFECTS
    assert len(run.facts_of("dosing", "good")) == 2
    assert "liver disease" in set(run.facts_of("conditions", "good")["mention"])
    assert not [p for p in run.problems if p.source_id == "good" or p.raw_path == "good.txt"], run.report()


def assert_offsets_round_trip(run: Run, raw_text: str, sid: str) -> None:
    """Every stored span of source ``sid`` is exactly the text at its offsets."""
    src = run.source(sid)
    assert raw_text[src.char_start:src.char_end] == src.text
    text = src.text
    secs = run.sections[run.sections["source_id"] == sid]
    assert len(secs)
    for s in secs.itertuples():
        assert text[s.char_start:s.char_end] == s.text
    for it in run.items[run.items["source_id"] == sid].itertuples():
        assert text[it.char_start:it.char_end] == it.text
    for table, frame in run.facts.items():
        for r in (frame[frame["source_id"] == sid] if len(frame) else frame).to_dict("records"):
            if "mention" in r:
                assert text[r["char_start"]:r["char_end"]] == r["mention"], (table, r)
                assert text[r["quote_start"]:r["quote_end"]] == r["quote"], (table, r)
            else:
                assert text[r["char_start"]:r["char_end"]][:200] == r["excerpt"], (table, r)


# --- unreadable files ---------------------------------------------------------------------------

def test_empty_file_is_refused_and_the_good_source_goes_on(tmp_path):
    run = run_stages(tmp_path, {"bad.txt": b"  \n\r\n"}, [entry("bad", "bad.txt")])
    reported(run, "bad.txt", "empty", severity="error")
    reported(run, "bad.txt", "could not be read", source_id="bad", severity="error")
    assert "bad" not in set(run.sources["source_id"])
    assert_good_source_processed(run)


@pytest.mark.parametrize("junk", [bytes(range(256)) * 40, os.urandom(50_000), b"%PDF-1.4\n" + bytes(range(32)) * 500],
                         ids=["all-bytes", "random", "pdf-like"])
def test_binary_junk_is_refused_and_the_good_source_goes_on(tmp_path, junk):
    run = run_stages(tmp_path, {"bad.txt": junk}, [entry("bad", "bad.txt")])
    reported(run, "bad.txt", "binary", severity="error")
    reported(run, "bad.txt", "could not be read", source_id="bad")
    assert "bad" not in set(run.sources["source_id"])
    assert_good_source_processed(run)


def test_raw_path_naming_a_directory_is_refused_not_a_crash(tmp_path):
    (tmp_path / "sub").mkdir(parents=True)
    run = run_stages(tmp_path, {}, [entry("bad", "sub"), entry("bad2", ".")])
    reported(run, "sub", "not a regular file")
    reported(run, ".", "not a regular file")
    reported(run, "sub", "could not be read", source_id="bad")
    assert_good_source_processed(run)


def test_missing_raw_file_names_the_file(tmp_path):
    run = run_stages(tmp_path, {}, [entry("bad", "nothere.txt")])
    p = reported(run, "nothere.txt", "does not exist", severity="error")
    assert "raw_path" in p.action
    reported(run, "nothere.txt", "could not be read", source_id="bad")
    assert_good_source_processed(run)


# --- encodings ------------------------------------------------------------------------------------

def test_cp1251_russian_source_is_decoded_with_a_warning(tmp_path):
    data = RUSSIAN.encode("cp1251")
    run = run_stages(tmp_path, {"ru.txt": data},
                     [entry("ru", "ru.txt", "Баклофен – описание вещества", kind="ru_reference", drug="baclofen")])
    p = reported(run, "ru.txt", "Windows-1251", severity="warning", offsets=True)
    assert p.char_start == 0 and "Баклофен" in p.excerpt  # first byte that is not UTF-8
    assert "UTF-8" in p.action
    src = run.source("ru")
    assert src.encoding == "cp1251"
    assert src.text == RUSSIAN.rstrip()
    headings = list(run.sections[run.sections["source_id"] == "ru"]["heading"])
    assert "Противопоказания" in headings and "Побочные действия" in headings
    assert_offsets_round_trip(run, data.decode("cp1251"), "ru")
    assert_good_source_processed(run)


def test_utf8_byte_order_mark_is_removed_and_offsets_count_after_it(tmp_path):
    data = b"\xef\xbb\xbf" + PAGE.encode("utf-8")
    run = run_stages(tmp_path, {"bad.txt": data}, [entry("bad", "bad.txt")])
    p = reported(run, "bad.txt", "byte-order mark", severity="warning")
    assert "offsets count from the character after it" in p.action
    src = run.source("bad")
    assert src.encoding == "utf-8-sig" and src.char_start == 0 and not src.text.startswith("\ufeff")
    assert_offsets_round_trip(run, data.decode("utf-8-sig"), "bad")
    assert set(run.facts_of("adverse_effects", "bad")["mention"]) == GOOD_EFFECTS
    assert_good_source_processed(run)


def test_mojibake_is_flagged_with_its_offsets(tmp_path):
    # UTF-8 text decoded as Windows-1252 and saved again as UTF-8: "•" becomes "â€¢", "’" becomes "â€™"
    garbled = PAGE.replace("dry mouth", "dry mouth (it’s common)").encode("utf-8").decode("cp1252", errors="replace")
    data = garbled.encode("utf-8")
    run = run_stages(tmp_path, {"bad.txt": data}, [entry("bad", "bad.txt")])
    p = reported(run, "bad.txt", "mojibake", severity="warning", offsets=True)
    assert garbled[p.char_start:p.char_end] in p.excerpt and garbled[p.char_start:p.char_end].startswith("â")
    assert "UTF-8" in p.action
    assert_offsets_round_trip(run, garbled, "bad")
    # garbled bullets are still list markers: the list facts are not lost
    assert len(run.facts_of("adverse_effects", "bad")) >= len(GOOD_EFFECTS)
    assert_good_source_processed(run)


def test_crlf_line_endings_keep_sections_facts_and_offsets(tmp_path):
    crlf = PAGE.replace("\n", "\r\n")
    run = run_stages(tmp_path, {"bad.txt": crlf, "lf.txt": PAGE.replace(BAD_TITLE, BAD_TITLE + " LF")},
                     [entry("bad", "bad.txt"), entry("lf", "lf.txt", BAD_TITLE + " LF")])
    assert not [p for p in run.problems if p.raw_path == "bad.txt"], run.report()
    with open(tmp_path / "bad.txt", encoding="utf-8", newline="") as fh:
        raw_text = fh.read()
    assert raw_text == crlf
    assert_offsets_round_trip(run, raw_text, "bad")
    crlf_secs = run.sections[run.sections["source_id"] == "bad"]
    lf_secs = run.sections[run.sections["source_id"] == "lf"]
    assert list(crlf_secs["topic"]) == list(lf_secs["topic"])
    assert list(crlf_secs["heading"])[1:] == list(lf_secs["heading"])[1:]
    assert not any(h.endswith("\r") for h in crlf_secs["heading"])
    for table in ("adverse_effects", "dosing", "conditions"):
        crlf_m = sorted(run.facts_of(table, "bad")["mention"])
        assert crlf_m == sorted(run.facts_of(table, "lf")["mention"]), table
        assert not any("\r" in m for m in crlf_m)
    assert_good_source_processed(run)


# --- HTML left in the text ------------------------------------------------------------------------

def test_html_residue_is_flagged_and_facts_still_point_into_the_raw_text(tmp_path):
    run = run_stages(tmp_path, {"bad.txt": HTML}, [entry("bad", "bad.txt", f"<div><h2>{BAD_TITLE}</h2></div>")])
    assert_offsets_round_trip(run, HTML, "bad")
    text = run.source("bad").text
    effects = run.facts_of("adverse_effects", "bad")
    assert "drowsiness" in set(effects["mention"])
    assert any(m.replace("&nbsp;", " ") == "dry mouth" for m in effects["mention"])
    assert len(run.facts_of("dosing", "bad")) >= 1
    topics = set(run.sections[run.sections["source_id"] == "bad"]["topic"])
    assert {"adverse_effects", "dosing"} <= topics
    dq = run.facts_of("data_quality", "bad")
    residue = dq[dq["issue"] == "html_residue"]
    assert len(residue) >= 10
    for r in residue.itertuples():
        assert text[r.char_start:r.char_end] == r.excerpt and r.excerpt[0] in "<&"
    assert {"<li>", "&bull;", "&nbsp;"} <= set(residue["excerpt"])
    assert_good_source_processed(run)


def test_html_entity_in_a_mention_does_not_stop_matching():
    from pipeline.normalise import normalise_term

    assert normalise_term("dry&nbsp;mouth") == normalise_term("dry mouth")


# --- registry entries -----------------------------------------------------------------------------

def test_missing_start_marker_names_the_source_and_keeps_the_text(tmp_path):
    run = run_stages(tmp_path, {"bad.txt": PAGE}, [entry("bad", "bad.txt", "No such line in the page")])
    p = reported(run, "bad.txt", "not found", source_id="bad", severity="error")
    assert "start_marker" in p.action and "registry.toml" in p.action
    # the page's text is not silently dropped: it is reported as belonging to no source
    u = reported(run, "bad.txt", "belong to no declared source", severity="warning", offsets=True)
    assert (u.char_start, u.char_end) == (0, len(PAGE)) and u.excerpt.startswith(BAD_TITLE)
    assert_good_source_processed(run)


def test_duplicated_start_marker_names_both_places(tmp_path):
    body = PAGE + "\n" + PAGE
    second = body.index(BAD_TITLE, 1)
    run = run_stages(tmp_path, {"bad.txt": body}, [entry("bad", "bad.txt")])
    p = reported(run, "bad.txt", "found 2 times", source_id="bad", severity="error", offsets=True)
    assert (p.char_start, p.char_end) == (0, len(BAD_TITLE))
    assert f"chars 0, {second}" in p.reason
    assert "unique" in p.action
    assert "bad" not in set(run.sources["source_id"])
    assert_good_source_processed(run)


def test_raw_path_outside_raw_is_never_read(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    secret = tmp_path / "outside.txt"
    secret.write_text(f"{BAD_TITLE}\nSECRET outside raw\n", encoding="utf-8")
    (raw / "link.txt").symlink_to(secret)
    (raw / "dir_link").symlink_to(tmp_path, target_is_directory=True)
    cases = {"dotdot": "../outside.txt", "absolute": str(secret), "symlink": "link.txt",
             "symlinked_dir": "dir_link/outside.txt", "backslash": "..\\outside.txt", "empty": " "}
    run = run_stages(raw, {}, [entry(sid, path) for sid, path in cases.items()])
    for sid in cases:
        if sid == "empty":
            reported(run, "registry.toml", "lacks required field", source_id=sid, severity="error")
            continue
        p = reported(run, "registry.toml", "outside the raw folder", source_id=sid, severity="error")
        assert f"#{list(cases).index(sid) + 2}" in p.reason and ".." in p.action
    assert list(run.sources["source_id"]) == ["good"]
    assert not any("SECRET" in t for t in run.sources["text"])
    assert_good_source_processed(run)


def test_symlink_swapped_after_the_registry_was_read_is_still_refused(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "inside.txt").write_text(PAGE, encoding="utf-8")
    (raw / "link.txt").symlink_to(raw / "inside.txt")
    (raw / "good.txt").write_text(GOOD, encoding="utf-8")
    (raw / "registry.toml").write_text(toml([GOOD_ENTRY, entry("bad", "link.txt")]), encoding="utf-8")
    entries, problems = load_registry(raw / "registry.toml")
    assert not problems and len(entries) == 2
    secret = tmp_path / "outside.txt"
    secret.write_text(f"{BAD_TITLE}\nSECRET\n", encoding="utf-8")
    (raw / "link.txt").unlink()
    (raw / "link.txt").symlink_to(secret)
    sources, _, split_problems = split_all(raw, entries, 10**6, 0.05)
    assert list(sources["source_id"]) == ["good"]
    assert any(p.raw_path == "link.txt" and "outside the raw folder" in p.reason and p.action for p in split_problems)
    assert any(p.source_id == "bad" and p.severity == "error" for p in split_problems)


def test_unknown_kind_uses_the_generic_format(tmp_path):
    run = run_stages(tmp_path, {"bad.txt": PAGE}, [entry("bad", "bad.txt", kind="pharmacy_leaflet")])
    p = reported(run, "registry.toml", "unknown kind", source_id="bad", severity="warning")
    assert "generic" in p.action and "source_kinds.yaml" in p.action
    e = next(e for e in run.entries if e.source_id == "bad")
    assert e.format == "generic" and 1 <= e.authority <= 5
    src = run.source("bad")
    assert src.format == "generic"
    assert set(run.facts_of("adverse_effects", "bad")["mention"]) == GOOD_EFFECTS
    assert_offsets_round_trip(run, PAGE, "bad")
    assert_good_source_processed(run)


@pytest.mark.parametrize("authority", [9, 0, True, 2.5, "high"])
def test_authority_outside_the_tiers_skips_only_that_source(tmp_path, authority):
    # Before the fix an authority of 9 passed the registry and then failed SourcesModel's blocking
    # check, which stopped the whole warehouse from being published.
    run = run_stages(tmp_path, {"bad.txt": PAGE}, [entry("bad", "bad.txt", authority=authority)])
    p = reported(run, "registry.toml", "is not a tier 1-5", source_id="bad", severity="error")
    assert "1-5" in p.action
    assert list(run.sources["source_id"]) == ["good"]
    assert_good_source_processed(run)


def test_truncated_source_without_its_end_marker_is_kept_with_a_warning(tmp_path):
    cut = PAGE.index("The usual starting dose") + 30  # the page stops mid-sentence, before "Copyright ..."
    body = PAGE[:cut]
    run = run_stages(tmp_path, {"bad.txt": body}, [entry("bad", "bad.txt", end_marker_prefix="Copyright")])
    p = reported(run, "bad.txt", "end marker", source_id="bad", severity="warning", offsets=True)
    assert (p.char_start, p.char_end) == (0, len(body)) and "truncated" in p.action
    src = run.source("bad")
    assert src.text == body.rstrip()
    assert set(run.facts_of("adverse_effects", "bad")["mention"]) == GOOD_EFFECTS
    assert_offsets_round_trip(run, body, "bad")
    assert_good_source_processed(run)


def test_registry_toml_syntax_error_names_the_line(tmp_path):
    reg = toml([GOOD_ENTRY]) + '\n[[source]]\nsource_id = "bad\ndrug = "x"\n'
    line = reg.splitlines().index('source_id = "bad') + 1
    run = run_stages(tmp_path, {"bad.txt": PAGE}, reg)
    p = reported(run, "registry.toml", "not valid TOML", f"line {line}", severity="error")
    assert "line" in p.action
    # the registry cannot be trusted at all, so no source is read (by design)
    assert run.entries == [] and run.sources.empty


def test_registry_not_in_utf8_names_the_line_instead_of_crashing(tmp_path):
    (tmp_path / "registry.toml").write_bytes((toml([GOOD_ENTRY]) + "# Баклофен\n").encode("cp1251"))
    entries, problems = load_registry(tmp_path / "registry.toml")
    assert entries == [] and len(problems) == 1
    line = toml([GOOD_ENTRY]).count("\n") + 1
    assert f"line {line}" in problems[0].reason and "UTF-8" in problems[0].action


def test_registry_with_a_byte_order_mark_is_read(tmp_path):
    (tmp_path / "good.txt").write_text(GOOD, encoding="utf-8")
    (tmp_path / "registry.toml").write_bytes(b"\xef\xbb\xbf" + toml([GOOD_ENTRY]).encode("utf-8"))
    entries, problems = load_registry(tmp_path / "registry.toml")
    assert [e.source_id for e in entries] == ["good"] and problems == []


# --- size limit -----------------------------------------------------------------------------------

def _write_big(path: Path, n_bytes: int) -> None:
    block = (PAGE * (1_048_576 // len(PAGE) + 1)).encode("utf-8")[:1_048_576]
    with open(path, "wb") as fh:
        fh.write(BAD_TITLE.encode() + b"\n")
        for _ in range(n_bytes // len(block) + 1):
            fh.write(block)


def test_configured_size_limit_is_64_mib():
    assert paths.thresholds()["raw_file_max_bytes"] == 64 * 1024 * 1024


def test_a_100_mb_file_is_refused_clearly_and_the_good_file_goes_on(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    _write_big(raw / "big.txt", 100 * 1024 * 1024)
    size = (raw / "big.txt").stat().st_size
    assert size > 100 * 1024 * 1024
    started = time.perf_counter()
    try:
        run = run_stages(raw, {}, [entry("big", "big.txt")])
    finally:
        elapsed = time.perf_counter() - started
        (raw / "big.txt").unlink()  # do not leave 100 MB in the kept pytest temp folders
    p = reported(run, "big.txt", "over the limit", f"{size:,}", f"{64 * 1024 * 1024:,}", severity="error")
    assert "raw_file_max_bytes" in p.action and "thresholds.yaml" in p.action
    reported(run, "big.txt", "could not be read", source_id="big")
    assert list(run.sources["source_id"]) == ["good"]
    assert_good_source_processed(run)
    assert elapsed < 20, "the oversized file must be refused without being parsed"


# --- the whole graph ------------------------------------------------------------------------------

def test_whole_graph_publishes_the_good_source_and_quarantines_the_broken_ones(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "good.txt").write_text(GOOD, encoding="utf-8")
    (raw / "junk.txt").write_bytes(bytes(range(256)) * 40)
    (raw / "page.txt").write_text(PAGE, encoding="utf-8")
    (raw / "sub").mkdir()
    (raw / "registry.toml").write_text(toml([
        GOOD_ENTRY,
        entry("junk", "junk.txt"),
        entry("nomarker", "page.txt", "This line is not in the page"),
        entry("badtier", "page.txt", authority=9),
        entry("escape", "../outside.txt"),
        entry("folder", "sub"),
    ]), encoding="utf-8")
    monkeypatch.setenv("DRUG_FACTS_RAW_DIR", str(raw))
    monkeypatch.setenv("DRUG_FACTS_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DRUG_FACTS_REPORTS_DIR", str(tmp_path / "reports"))
    from pipeline.definitions import defs

    result = dg.materialize(list(defs.assets), raise_on_error=False)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        assert [r[0] for r in con.execute("SELECT source_id FROM sources").fetchall()] == ["good"]
        effects = {r[0] for r in con.execute("SELECT mention FROM adverse_effects WHERE source_id = 'good'").fetchall()}
        assert effects == GOOD_EFFECTS
        assert con.execute("SELECT count(*) FROM dosing WHERE source_id = 'good'").fetchone()[0] == 2
        q = con.execute("SELECT stage, severity, raw_path, source_id, reason, action FROM quarantine").df()
    finally:
        con.close()

    def row(raw_path: str, words: str, source_id: str = "") -> pd.Series:
        hit = q[(q["raw_path"] == raw_path) & q["reason"].str.contains(words, regex=False)
                & ((q["source_id"] == source_id) if source_id else True)]
        assert len(hit) >= 1, f"{raw_path} / {words} not in quarantine:\n{q.to_string()}"
        r = hit.iloc[0]
        assert r["action"] and r["severity"] == "error"
        return r

    assert row("junk.txt", "binary")["stage"] == "split"
    row("junk.txt", "could not be read", "junk")
    row("page.txt", "not found", "nomarker")
    row("registry.toml", "not a tier", "badtier")
    row("registry.toml", "outside the raw folder", "escape")
    row("sub", "not a regular file")
    assert (paths.reports_dir() / "discrepancies.html").exists()
