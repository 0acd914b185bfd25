"""The HTML report in a real browser: headless Chromium from Debian's packages, driven by
Playwright with executable_path (no browser download)."""

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.match import concept_relations
from pipeline.reconcile import reconcile
from pipeline.report import write_reports
from tests.conftest import ROOT

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "reports" / "artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory, seed_split, seed_matched, vocabulary):
    sources = seed_split[0]
    drug_of = dict(zip(sources["source_id"], sources["drug"]))
    used = seed_matched["conditions"][["source_id", "concept_id"]].assign(drug=lambda d: d["source_id"].map(drug_of))
    disc, ev, _ = reconcile(sources, seed_matched["dosing"], seed_matched["adverse_effects"], seed_matched["conditions"],
                            seed_matched["interactions"], seed_matched["statements"], seed_matched["data_quality"],
                            concept_relations(used, vocabulary[0]))
    out = tmp_path_factory.mktemp("report")
    write_reports(out, sources, disc.assign(status="open"), ev, seed_matched["conditions"], seed_matched["adverse_effects"])
    return out / "discrepancies.html", disc


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    return page, errors


def test_report_loads_without_console_errors_and_filters_work(browser, seed_report):
    path, disc = seed_report
    page, errors = _open(browser, path)
    total = page.locator("section.entry:visible").count()
    assert total == len(disc)
    page.select_option("#f-severity", "critical")
    assert page.locator("section.entry:visible").count() == int((disc["severity"] == "critical").sum())
    page.select_option("#f-severity", "")
    page.select_option("#f-topic", "dose")
    assert page.locator("section.entry:visible").count() == int((disc["topic"] == "dose").sum())
    page.select_option("#f-topic", "")
    page.select_option("#f-source", "baclofen-clinic_text")
    shown = page.locator("section.entry:visible").count()
    assert 0 < shown < total
    page.select_option("#f-source", "")
    assert page.locator("svg[role=img]").count() == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
    assert errors == []
    page.close()


def test_link_to_passage_in_context_scrolls_to_a_marked_quote(browser, seed_report):
    path, _ = seed_report
    page, errors = _open(browser, path)
    link = page.locator("a:has-text('in context')").first
    target = link.get_attribute("href")
    link.click()
    assert page.locator(f"mark{target}, a{target}").count() == 1
    assert errors == []
    page.close()


def test_hostile_source_text_does_not_run(browser, tmp_path):
    payload = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
               '<a id="js" href="javascript:window.__pwned = 3">click</a>')
    text = "Title line\n\nSide effects\n- " + payload + "\n- nausea\n"
    sources = pd.DataFrame([{"source_id": "x-a", "drug": "x", "kind": "clinic_text", "title": payload, "publisher": payload,
                             "country": "US", "authority": 5, "authority_label": "marketing", "raw_path": "r.txt",
                             "char_start": 0, "char_end": len(text), "sha256": "0" * 64, "text": text}])
    disc = pd.DataFrame([{"discrepancy_id": "d1", "drug": "x", "topic": "coverage_adverse_effects", "kind": "unsupported_claim",
                          "comparison_key": "k", "concept_id": "", "concept_label": payload, "severity": "major", "score": 2.0,
                          "supported": False, "n_sources": 1, "summary": payload, "status": "open"}])
    ev = pd.DataFrame([{"discrepancy_id": "d1", "source_id": "x-a", "source_kind": "clinic_text", "authority": 5,
                        "value": payload, "mention": payload, "quote": payload, "section_id": "s", "char_start": 27,
                        "char_end": 27 + len(payload), "quote_start": 27, "quote_end": 27 + len(payload), "independent": True}])
    empty = pd.DataFrame(columns=["source_id", "concept_id", "concept_label", "stance", "negated", "category"])
    written = write_reports(tmp_path, sources, disc, ev, empty, empty)
    page, errors = _open(browser, written["html"])
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#js").count() == 0  # the anchor is text, not an element
    assert "<script>window.__pwned" in page.inner_text("body")
    page.close()
