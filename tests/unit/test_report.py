"""Report files: written whole, every piece of source text escaped."""

import pandas as pd

from pipeline.report import highlighted_source, write_reports

XSS = '<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>'


def _tables(text: str):
    sources = pd.DataFrame([{"source_id": "d-a", "drug": "drugx", "kind": "clinic_text", "title": XSS, "publisher": "p",
                             "country": "US", "authority": 5, "authority_label": "marketing", "raw_path": "r.txt",
                             "char_start": 0, "char_end": len(text), "sha256": "0" * 64, "text": text}])
    disc = pd.DataFrame([{"discrepancy_id": "abc", "drug": "drugx", "topic": "stance", "kind": "stance_conflict",
                          "comparison_key": "k", "concept_id": "", "concept_label": XSS, "severity": "major", "score": 2.0,
                          "supported": True, "n_sources": 1, "summary": "summary " + XSS, "status": "open"}])
    ev = pd.DataFrame([{"discrepancy_id": "abc", "source_id": "d-a", "source_kind": "clinic_text", "authority": 5,
                        "value": XSS, "mention": XSS, "quote": text[5:40], "section_id": "s", "char_start": 5,
                        "char_end": 10, "quote_start": 5, "quote_end": 40, "independent": True}])
    empty = pd.DataFrame(columns=["source_id", "concept_id", "concept_label", "stance", "negated", "category"])
    return sources, disc, ev, empty


def test_html_escapes_all_source_text(tmp_path):
    text = "Intro " + XSS + " more text after the payload."
    sources, disc, ev, empty = _tables(text)
    written = write_reports(tmp_path, sources, disc, ev, empty, empty)
    html = written["html"].read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "onerror=\"alert(2)\"" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # the page's own script is the only one
    assert html.count("<script>") == 1


def test_all_report_files_are_written_and_link_evidence_to_context(tmp_path):
    sources, disc, ev, empty = _tables("Some page text about drugx and its effects, long enough to quote.")
    written = write_reports(tmp_path, sources, disc, ev, empty, empty)
    assert {"html", "markdown", "csv", "evidence_csv"} <= set(written)
    html = written["html"].read_text(encoding="utf-8")
    assert 'href="#src-d-a-5"' in html and 'id="src-d-a-5"' in html
    csv = pd.read_csv(written["csv"])
    assert list(csv["discrepancy_id"]) == ["abc"] and csv["status"].iloc[0] == "open"
    assert "abc" in written["markdown"].read_text(encoding="utf-8")
    assert not list(tmp_path.glob("*.tmp"))


def test_several_drugs_get_an_index_and_one_page_each(tmp_path):
    s1, d1, e1, empty = _tables("Text one about the first drug for the report page.")
    s2 = s1.assign(source_id="e-a", drug="drugy")
    d2 = d1.assign(discrepancy_id="def", drug="drugy")
    e2 = e1.assign(discrepancy_id="def", source_id="e-a")
    written = write_reports(tmp_path, pd.concat([s1, s2]), pd.concat([d1, d2]), pd.concat([e1, e2]), empty, empty)
    index = written["html"].read_text(encoding="utf-8")
    assert 'href="drugs/drugx.html"' in index and 'href="drugs/drugy.html"' in index
    assert (tmp_path / "drugs" / "drugx.html").exists() and (tmp_path / "drugs" / "drugy.html").exists()


def test_overlapping_quotes_keep_every_anchor():
    html = str(highlighted_source("abcdefghij", [(0, 5), (3, 8)], "s"))
    assert 'id="src-s-0"' in html and 'id="src-s-3"' in html


def _many_drugs(n: int):
    s1, d1, e1, empty = _tables("Text about a drug for the report page, long enough to quote from it.")
    parts = [(s1.assign(source_id=f"s{k}", drug=f"drug{k:02d}"), d1.assign(discrepancy_id=f"d{k}", drug=f"drug{k:02d}"),
              e1.assign(discrepancy_id=f"d{k}", source_id=f"s{k}")) for k in range(n)]
    return (*(pd.concat([p[i] for p in parts], ignore_index=True) for i in range(3)), empty)


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_pages_rendered_while_the_caller_works_give_the_same_files_and_nothing_moves_before_it_returns(tmp_path):
    sources, disc, ev, empty = _many_drugs(12)
    plain = write_reports(tmp_path / "plain", sources, disc, ev, empty, empty, workers=2)
    seen = {}

    def meanwhile():  # the workers render every page while this runs; the report is still untouched
        import time

        root = tmp_path / "overlap"
        deadline = time.monotonic() + 30
        while len(list(root.rglob("*.html"))) < 12 and time.monotonic() < deadline:
            time.sleep(0.02)
        seen["staged"] = len([p for p in root.rglob("*.html") if "staging" in p.parent.name])
        seen["files"] = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                               if p.is_file() and "staging" not in p.parent.name)

    stale = tmp_path / "overlap" / ".drugs.staging-0123456789ab"  # left by a killed run
    stale.mkdir(parents=True)
    (stale / "drug00.html").write_text("half a page")
    overlap = write_reports(tmp_path / "overlap", sources, disc, ev, empty, empty, workers=2, meanwhile=meanwhile)
    assert seen["staged"] == 12 and seen["files"] == []
    assert _tree(tmp_path / "plain") == _tree(tmp_path / "overlap")
    assert {k: v.relative_to(tmp_path / "plain") for k, v in plain.items()} == \
           {k: v.relative_to(tmp_path / "overlap") for k, v in overlap.items()}
    assert not [p for p in (tmp_path / "overlap").iterdir() if "staging" in p.name]


def test_an_error_in_the_callers_work_leaves_the_old_report_whole(tmp_path):
    import pytest

    sources, disc, ev, empty = _many_drugs(12)
    write_reports(tmp_path, sources, disc, ev, empty, empty, workers=2)
    before = _tree(tmp_path)

    def failing():
        raise RuntimeError("the warehouse could not be written")

    changed = disc.assign(summary="a different summary")
    for workers in (1, 2):
        with pytest.raises(RuntimeError, match="could not be written"):
            write_reports(tmp_path, sources, changed, ev, empty, empty, workers=workers, meanwhile=failing)
        assert _tree(tmp_path) == before
        assert not [p for p in tmp_path.iterdir() if "staging" in p.name]


def test_saved_parts_point_into_the_markdown_report_and_notice_when_it_changes(tmp_path):
    import os
    import shutil

    import pytest

    from pipeline.report import load_parts, parts_usable

    s1, d1, e1, empty = _tables("Text one about the first drug — non-ASCII on purpose: é, ü, 漢.")
    s2 = s1.assign(source_id="e-a", drug="drugy")
    d2 = d1.assign(discrepancy_id="def", drug="drugy", summary="another summary")
    e2 = e1.assign(discrepancy_id="def", source_id="e-a")
    sources, disc, ev = pd.concat([s1, s2]), pd.concat([d1, d2]), pd.concat([e1, e2])
    parts_file = tmp_path / "state" / "parts.pkl"
    written = write_reports(tmp_path / "r", sources, disc, ev, empty, empty, parts_file=parts_file)
    md = written["markdown"].read_bytes()
    assert parts_usable(parts_file) is None
    parts = load_parts(parts_file, markdown=True)
    assert "markdown" not in load_parts(parts_file)["drugx"]  # the blocks are read from the report, not saved twice
    blocks = {d: bytes(p["markdown"]) for d, p in parts.items()}
    assert b"## drugx" in blocks["drugx"] and b"## drugy" in blocks["drugy"]
    assert md.endswith(blocks["drugx"] + blocks["drugy"]) and "—".encode() in blocks["drugx"]  # spans count bytes
    # a copied project (reports and state side by side) reads its own report, not the original's
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "r", copy / "r")
    shutil.copytree(tmp_path / "state", copy / "state")
    assert parts_usable(copy / "state" / "parts.pkl") is None
    # someone edits the report: the parts no longer describe it (the copy's still do)
    with open(written["markdown"], "ab") as fh:
        fh.write(b"\nan editor's note\n")
    assert "was changed" in parts_usable(parts_file)
    copied = load_parts(copy / "state" / "parts.pkl", markdown=True)
    assert {d: bytes(p["markdown"]) for d, p in copied.items()} == blocks
    with pytest.raises(ValueError, match="missing or was changed"):
        load_parts(parts_file, markdown=True)
    os.remove(written["markdown"])
    assert "no Markdown report" in parts_usable(parts_file)
    assert "no saved report parts" in parts_usable(tmp_path / "none.pkl")
    (tmp_path / "cut.pkl").write_bytes(parts_file.read_bytes()[:20])
    assert "cannot be read" in parts_usable(tmp_path / "cut.pkl")


def test_a_range_of_drug_reports_reads_each_drugs_rows_in_order():
    """DrugReports reads a range's rows only (forked page workers build their own ranges): each
    report's columns are what filtering the whole table by its drug gives, rows in order."""
    from pipeline.report import DrugReports

    s1, d1, e1, _ = _tables("Text about the drug, long enough to quote from it here.")
    drugs = ["drugc", "druga", "drugb", "drugd"]
    sources = pd.concat([s1.assign(source_id=f"{d}-{k}", drug=d) for k in range(2) for d in drugs], ignore_index=True)
    disc = pd.concat([d1.assign(discrepancy_id=f"x{d}{k}", drug=d, score=float(k)) for k in range(3) for d in drugs],
                     ignore_index=True)
    ev = pd.concat([e1.assign(discrepancy_id=f"x{d}{k}", source_id=f"{d}-{k % 2}") for k in range(3) for d in drugs],
                   ignore_index=True)
    cond = pd.DataFrame([{"source_id": f"{d}-{k % 2}", "concept_id": f"C{k}", "concept_label": f"c{k}", "stance": "caution",
                          "negated": False, "category": ""} for k in range(5) for d in drugs[:3]])  # drugd: none
    whole = DrugReports(sources, disc, ev, cond, cond.iloc[0:0])
    assert whole.drugs == sorted(drugs)
    part = whole.reports(1, 3)
    assert [r.drug for r in part] == ["drugb", "drugc"]
    for r in part:
        assert r._columns["discrepancies"]["discrepancy_id"] == disc[disc["drug"] == r.drug]["discrepancy_id"].tolist()
        assert r._columns["sources"]["source_id"] == sources[sources["drug"] == r.drug]["source_id"].tolist()
        mine = cond[cond["source_id"].str.startswith(r.drug)]
        assert r._columns["conditions"]["concept_id"] == mine["concept_id"].tolist()
        assert r.rows("evidence") == 3 and "adverse_effects" not in r._columns
    assert [r._columns for r in part] == [r._columns for r in whole.reports()[1:3]]
    assert "conditions" not in whole.reports(3, 4)[0]._columns


# the evidence sections as drug.html.j2 wrote them through Jinja before entries_html built them
_ENTRIES_TEMPLATE = """{% for e in entries %}
<section class="entry" id="d-{{ e.discrepancy_id }}" data-severity="{{ e.severity }}" data-topic="{{ e.topic }}" data-sources="{{ e.sources_list }}">
<h3><span class="badge sev-{{ e.severity }}">{{ e.severity }}</span> {{ e.summary }}</h3>
<div class="meta">{{ e.topic }} · {{ e.kind }} · score {{ e.score }}{% if not e.supported %} · <strong>unsupported</strong>{% endif %}
 · id <code>{{ e.discrepancy_id }}</code>{% if e.values_hash is defined and e.values_hash %} · values <code>{{ e.values_hash }}</code>{% endif %}{% if e.status is defined and e.status %} · <span class="status">{{ e.status }}</span>{% endif %}</div>
<div class="evidence">
{% for ev in e.evidence %}
<div class="card">
<div><span class="value">{{ ev.value }}</span> — {{ ev.source_kind }} (tier {{ ev.authority }}){% if not ev.independent %}, restates another source{% endif %}</div>
<blockquote>{{ ev.quote }}</blockquote>
<div class="meta">section {{ ev.section_id }} · chars {{ ev.quote_start }}–{{ ev.quote_end }} · <a href="#src-{{ ev.source_id|slug }}-{{ ev.quote_start }}">in context</a></div>
</div>
{% endfor %}
</div>
</section>
{% endfor %}
"""


def test_entries_built_as_text_equal_the_template_and_escape_everything():
    import random

    from jinja2 import Environment
    from markupsafe import Markup, escape

    from pipeline.report import _Row, _html, entries_html, slug

    rng = random.Random(3)
    nasty = ["a & b", "<b>x</b>", "it's", 'say "no"', "é — 漢", "", "plain", XSS, "&amp; already"]
    for value in [*nasty, 3, 2.5, float("nan"), None, True, Markup("<i>kept</i>")]:
        assert _html(value) == str(escape(value))

    def ev():
        return _Row({"source_id": rng.choice(["d-a", "d b/<c>", "x'y"]), "value": rng.choice([*nasty, 4, 1.5]),
                     "source_kind": rng.choice(nasty), "authority": rng.randrange(1, 6), "independent": rng.random() < 0.5,
                     "quote": rng.choice(nasty), "section_id": rng.choice(nasty), "quote_start": rng.randrange(100),
                     "quote_end": rng.randrange(100, 200)})

    entries = []
    for k in range(60):
        e = {"discrepancy_id": rng.choice(nasty) + str(k), "severity": rng.choice(["major", "<x>"]),
             "topic": rng.choice(nasty), "sources_list": rng.choice(nasty), "summary": rng.choice(nasty),
             "kind": rng.choice(nasty), "score": rng.choice([1.0, 2.75, 3]), "supported": rng.random() < 0.5,
             "evidence": [ev() for _ in range(rng.randrange(0, 4))]}
        for optional in ("values_hash", "status"):  # absent, empty or set, as decisions leave them
            choice = rng.randrange(3)
            if choice:
                e[optional] = "" if choice == 1 else rng.choice(nasty)
        entries.append(_Row(e))
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["slug"] = slug
    expected = env.from_string(_ENTRIES_TEMPLATE).render(entries=entries)
    assert str(entries_html(entries)) == expected
    assert "<b>x</b>" not in expected and "&lt;b&gt;x&lt;/b&gt;" in expected
