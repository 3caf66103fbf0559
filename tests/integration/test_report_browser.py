"""The HTML report in a real headless Chromium (Debian's chromium, driven by Playwright's Python package).

Checked as a person would see it: the page loads from a file with no console error (a CSP violation would be one),
no request leaves the page, nothing from the cluster runs as script, a screenshot is taken, and the optional table
sorting and filtering work. Needs ``/usr/bin/chromium`` (apt-get install chromium) and ``pip install playwright``;
``playwright install`` is never needed because the system browser is used.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
from pathlib import Path

import pytest

from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats, _inputs, _render, _report

playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
CHROMIUM = os.environ.get("KUBESEC_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="headless Chromium not installed (apt-get install chromium)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "report"))
import synth  # noqa: E402

TODAY = datetime.date(2026, 11, 24)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    cluster = base / "synth"
    for seed, run_id in ((1, "20261123T000000Z"), (2, "20261124T000000Z")):
        run = cluster / run_id
        synth.write_run(str(run), workloads=30, vulns=400, seed=seed, hostile=True)
        previous = _report.previous_run(str(cluster), run_id)
        model = _report.build(
            "synth",
            run_id,
            _report.FindingsDir(str(run / "findings")),
            today=TODAY,
            previous_run_id=previous,
            previous_findings=_formats.iter_report_findings(str(cluster / previous / "report.json")) if previous else None,
            history=_report.read_history(str(cluster), run_id),
            inputs=_inputs.read_meta(str(run)),
            actions=_inputs.read_actions(str(cluster)),
            features={"falco": {"enabled": True}},
            waivers=[{"id": "KSV-00*", "reason": "<img src=x onerror=alert(2)>"}],
        )
        _report.write_outputs(model, {"json": str(run / "report.json")})
        (run / "report.html").write_text(_render.render_html(model), encoding="utf-8")
    return cluster / "20261124T000000Z" / "report.html"


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, report_html):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, java_script_enabled=True)
    page = context.new_page()
    events = {"console": [], "errors": [], "requests": [], "dialogs": []}
    page.on("console", lambda m: events["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: events["errors"].append(str(e)))
    page.on("request", lambda r: events["requests"].append(r.url))
    page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
    page.goto(report_html.as_uri(), wait_until="load")
    page.events = events
    yield page
    context.close()


def test_page_loads_offline_without_errors_and_runs_no_cluster_text(page, report_html, tmp_path):
    events = page.events
    assert [m for m in events["console"] if m[0] in ("error", "warning")] == []
    assert events["errors"] == []
    assert events["requests"] == [report_html.as_uri()]  # the file itself, nothing else
    assert events["dialogs"] == []  # no alert() from cluster text
    assert page.evaluate("document.documentElement.classList.contains('js')")  # our script ran (CSP hash ok)
    assert page.locator("h2#summary").inner_text() == "Executive Summary"
    assert '<script>alert("x")</script>' in page.locator("section[data-section=cis]").inner_text()  # shown as text
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 20000
    from PIL import Image

    image = Image.open(shot)
    assert image.size == (1366, 900)
    colors = image.convert("RGB").resize((64, 64)).getcolors(64 * 64)
    assert colors is not None and len(colors) > 20  # not a blank page


def test_sorting_a_table_by_a_numeric_column(page):
    table = page.locator("section[data-section=vulnerabilities] table.js-table").first
    header = table.locator("thead th", has_text="Open").first
    column = table.locator("thead th").all_inner_texts().index(header.inner_text())

    def values():
        return [int(t) for t in table.locator("tbody tr td:nth-child(%d)" % (column + 1)).all_inner_texts()]

    assert len(values()) >= 3
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert values() == sorted(values())
    header.press("Enter")
    assert header.get_attribute("aria-sort") == "descending"
    assert values() == sorted(values(), reverse=True)


def test_sorting_by_severity_uses_its_rank_not_the_word(page):
    table = page.locator("section[data-section=vulnerabilities] table.findings").first
    header = table.locator("thead th", has_text="Severity").first
    header.click()
    words = [t.strip().lower() for t in table.locator("tbody tr td:nth-child(3)").all_inner_texts()]
    ranks = ["critical", "high", "medium", "low", "info", "unknown"]
    assert [ranks.index(w) for w in words] == sorted(ranks.index(w) for w in words)


def test_filtering_rows(page):
    table = page.locator("section[data-section=src-trivy-config] table.findings").first
    box = page.locator("section[data-section=src-trivy-config] .filter input").first
    total = table.locator("tbody tr").count()
    assert total > 8
    box.fill("KSV-0003")
    visible = table.locator("tbody tr:visible")
    assert 0 < visible.count() < total
    assert all("KSV-0003" in text for text in visible.all_inner_texts())
    assert "of %d rows" % total in page.locator("section[data-section=src-trivy-config] .filter-count").first.inner_text()
    box.fill("no such text anywhere")
    assert table.locator("tbody tr:visible").count() == 0
    box.fill("")
    assert table.locator("tbody tr:visible").count() == total


def test_page_reads_the_same_without_script(browser, report_html):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(report_html.as_uri())
    text = page.locator("main").inner_text()
    assert "Score per area" in text and "Top CVEs" in text and "Rule \u00d7 workload matrix" in text
    assert page.locator(".filter").count() == 0  # the filter boxes are added by the script only
    context.close()


def test_no_horizontal_overflow_at_1400_px(browser, tmp_path):
    """Issue 21: the page must not scroll sideways at 1400 px. The demo's kube-bench remediation for CIS-4.2.12
    (a cipher list with no space) made the findings table 2,289 px wide before td got overflow-wrap: anywhere."""
    import json

    fixtures = ROOT / "tests" / "fixtures" / "report" / "dedupe"
    findings = [f for name in ("cis-demo-worker-1.json", "kube-bench-demo-worker-1.json") for f in json.loads((fixtures / name).read_text())]
    assert any("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS" in (f.get("remediation") or "") for f in findings)
    page_file = tmp_path / "report.html"
    page_file.write_text(_render.render_html(_report.build("demo", "r1", findings, today=TODAY)), encoding="utf-8")
    for width in (1400, 1280):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(page_file.as_uri(), wait_until="load")
        sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        context.close()
        assert sizes[0] <= sizes[1], (width, sizes)
