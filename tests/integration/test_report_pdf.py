"""The PDF as a person sees it: rasterised with pdftoppm, read with pdftotext, rows never cut in half.

Row check method: every row of a findings table carries a unique token at the start of its first cell (the id,
``RS0001``) and at the very end of its last cell (the remediation ends in ``RE0001``). pdftotext writes one form
feed per page, so the page of each token is known; a row is cut in half exactly when its start token and its
end token are on different pages. Rows have random heights so page breaks fall anywhere. The same check run on
a copy of the templates that allows rows to break must find cut rows, which shows the check can fail.
"""

from __future__ import annotations

import datetime
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _inputs, _render, _report, _report_sections

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "report"))
import synth  # noqa: E402

TODAY = datetime.date(2026, 11, 24)
pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None, reason="poppler-utils (pdftotext, pdftoppm) is not installed"
)
WORDS = "kubelet apiserver rotate certificate permission owner audit policy secret token namespace".split()


def pages_text(pdf_path):
    text = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")


def row_model(rows=90, seed=7):
    rng = random.Random(seed)
    findings = []
    for i in range(rows):
        words = " ".join(rng.choice(WORDS) for dummy in range(rng.randint(3, 30)))
        findings.append(
            make_finding(
                "RS%04d" % i,
                "trivy-config",
                "Check %d: %s" % (i, words[:120]),
                "fail",
                severity="medium",
                cluster="c",
                namespace="ns",
                resource={"kind": "Deployment", "name": "app-%d" % i, "namespace": "ns"},
                evidence={"messages": [" ".join(rng.choice(WORDS) for dummy in range(rng.randint(2, 25)))]},
                remediation=words[:200] + " RE%04d" % i,
            )
        )
    return _report.build("c", "r1", findings, today=TODAY)


def split_rows(pdf_path, rows):
    pages = pages_text(pdf_path)
    where = {}
    for number, text in enumerate(pages, 1):
        for token in re.findall(r"\b(R[SE]\d{4})\b", text):
            where.setdefault(token, set()).add(number)
    missing = [i for i in range(rows) if "RS%04d" % i not in where or "RE%04d" % i not in where]
    cut = [i for i in range(rows) if where.get("RS%04d" % i) != where.get("RE%04d" % i)]
    spread = set().union(*where.values()) if where else set()
    return missing, cut, spread


def test_no_table_row_is_cut_across_pages(tmp_path):
    rows = 90
    pdf = tmp_path / "rows.pdf"
    pdf.write_bytes(_render.render_pdf(row_model(rows), max_rows=rows))
    missing, cut, spread = split_rows(pdf, rows)
    assert not missing
    assert len(spread) >= 3, "the table must run over several pages for the check to mean something"
    assert not cut, "rows cut across pages: %s" % cut[:10]


def test_the_row_check_finds_cut_rows_when_rows_may_break(tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(_render.TEMPLATE_DIR, templates)
    for name in ("report.css", "report_print.css"):
        css = (templates / name).read_text()
        css = re.sub(r"break-inside:\s*avoid;?", "break-inside: auto;", css)
        css = css.replace("page-break-inside: avoid;", "")
        (templates / name).write_text(css)
    pdf = tmp_path / "rows-breaking.pdf"
    pdf.write_bytes(_render.render_pdf(row_model(90), template_dir=str(templates), max_rows=90))
    missing, cut, _spread = split_rows(pdf, 90)
    assert not missing and cut, "with break-inside:auto some row must straddle a page break"


@pytest.fixture(scope="module")
def synth_pdf(tmp_path_factory):
    base = tmp_path_factory.mktemp("pdf")
    run = base / "synth" / "20261124T000000Z"
    synth.write_run(str(run), workloads=20, vulns=300, hostile=True)
    model = _report.build(
        "synth",
        run.name,
        _report.FindingsDir(str(run / "findings")),
        today=TODAY,
        inputs=_inputs.read_meta(str(run)),
        actions=_inputs.read_actions(str(run.parent)),
        features={"falco": {"enabled": True, "channels": ["telegram"]}},
        waivers=[{"id": "CIS-4.2.13", "reason": "expired one", "expires": "2020-01-01"}],
    )
    pdf = run / "report.pdf"
    pdf.write_bytes(_render.render_pdf(model, max_rows=25))
    return pdf, model


def test_pdf_text_has_summary_sections_and_a_known_finding(synth_pdf):
    pdf, _model = synth_pdf
    pages = pages_text(pdf)
    text = "\n".join(pages)
    assert "Kubernetes security report" in pages[0] and "Contents" in pages[0]
    assert "Page " not in pages[0]  # the cover has no running footer
    for title in (
        "Executive Summary",
        "Score per area",
        "Changes since the last run",
        "CIS benchmark per node",
        "Control plane",
        "Audit logging",
        "Workloads",
        "Rule \u00d7 workload matrix",
        "Vulnerabilities",
        "Top CVEs",
        "RBAC",
        "Infrastructure assessment",
        "Runtime events (Falco)",
        "Feature state",
        "Containment actions",
        "Waivers",
        "Appendix: scoring method and inputs",
    ):
        assert title in text, title
    # a known finding: the exposed AWS key of the synthetic run, with its remediation
    assert "AWS Access Key" in text and "rotate it" in text
    # contents with page numbers: the TOC line of the vulnerabilities section points at the page that has it
    toc = re.search(r"Vulnerabilities\s*\.*\s*(\d+)", pages[0])
    assert toc and "Vulnerabilities" in pages[int(toc.group(1)) - 1]
    total = len(pages) - (1 if pages[-1].strip() == "" else 0)
    assert f"Page 2 of {total}" in pages[1]
    assert "synth" in pages[1].splitlines()[0] or "synth" in pages[1][:200]  # running header
    # cluster text stays text
    assert "<script>alert(1)</script>" in text
    # detail beyond the top N is left to the HTML/JSON, with a note
    assert "report.json" in text and "are shown" in text


def test_pdf_pages_rasterise_to_real_pictures(synth_pdf, tmp_path):
    pdf, _model = synth_pdf
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "3", str(pdf), str(tmp_path / "page")], check=True)
    pictures = sorted(tmp_path.glob("page-*.png"))
    assert len(pictures) == 3
    for picture in pictures:
        image = Image.open(picture).convert("L")
        width, height = image.size
        assert height > width  # portrait A4
        dark = sum(image.histogram()[:200])
        assert dark > 0.003 * width * height, picture.name  # text and charts, not a blank page
        assert dark < 0.6 * width * height, picture.name  # and not a black one


def _demo_findings():
    import json

    fixtures = ROOT / "tests" / "fixtures" / "report" / "dedupe"
    return [f for name in ("cis-demo-worker-1.json", "kube-bench-demo-worker-1.json") for f in json.loads((fixtures / name).read_text())]


def _synth_findings(tmp_path):
    run = tmp_path / "synth" / "r1"
    synth.write_run(str(run), workloads=12, vulns=120, seed=5)
    return list(_report.FindingsDir(str(run / "findings"))), _inputs.read_meta(str(run))


def test_first_run_folds_the_changes_page_into_the_summary(tmp_path):
    """Issue 21: a first run printed a near-empty "Changes since the last run" page; the summary says "first run"."""
    findings, inputs = _synth_findings(tmp_path)
    path = tmp_path / "first.pdf"
    path.write_bytes(_render.render_pdf(_report.build("c", "r1", findings, today=TODAY, inputs=inputs)))
    pages = pages_text(path)
    assert not any(
        page.strip().startswith("Changes since the last run") or "\nChanges since the last run\n" in page.split("Contents")[-1] for page in pages[1:]
    )
    summary = next(page for page in pages if "Executive Summary" in page and "Contents" not in page)
    assert "First run for this cluster" in summary
    assert "(first run: see the summary)" in pages[0]


# Results per source and status of the `make demo` run whose PDF printed 7 rows of this table on page 3.
DEMO_BY_SOURCE = {
    "cis-control-plane": {"pass": 46, "fail": 10, "warn": 16},
    "cis-node": {"pass": 52, "fail": 4, "warn": 9, "info": 9, "waived": 1},
    "falco": {"fail": 4, "info": 7},
    "kube-bench": {"pass": 19, "fail": 2, "warn": 3, "waived": 1},
    "trivy-config": {"fail": 114},
    "trivy-exposed-secret": {"fail": 5},
    "trivy-infra": {"fail": 19},
    "trivy-rbac": {"fail": 19},
    "trivy-vulnerability": {"fail": 51},
    "workload": {"fail": 33},
}


def test_results_per_source_table_is_never_split(tmp_path):
    """Issue 24: page 3 of the demo PDF held the last 7 rows of the summary's results-per-source table; the table
    is kept whole (with its heading) on one page."""
    severities = ["critical", "high", "medium", "low"]
    findings = []
    for source, counts in DEMO_BY_SOURCE.items():
        for status, count in counts.items():
            for i in range(count):
                node = "demo-worker-%d" % (i % 2) if source in ("cis-node", "kube-bench") else "demo-cp-1"
                findings.append(
                    make_finding(
                        "%s-%s-%d" % (source, status, i),
                        source,
                        "t",
                        status,
                        severity=severities[i % 4],
                        cluster="demo",
                        node=node if source.startswith(("cis", "kube")) else None,
                        namespace=None if source.startswith(("cis", "kube")) else "shop",
                        resource={"kind": "Node", "name": node}
                        if source.startswith(("cis", "kube"))
                        else {"kind": "Deployment", "name": "app%d" % i, "namespace": "shop"},
                    )
                )
    model = _report.build("demo", "20261206T031325Z", findings, today=TODAY)
    path = tmp_path / "r.pdf"
    path.write_bytes(_render.render_pdf(model))
    pages = pages_text(path)
    titles = [_report.SOURCE_TITLES[s] for s in DEMO_BY_SOURCE]
    where = [n for n, page in enumerate(pages) if "Results per source\n" in page]
    assert len(where) == 1
    assert all(title in pages[where[0]] for title in titles), [t for t in titles if t not in pages[where[0]]]

    # the summary is one page: the next page starts the next section (a first run: CIS), never a spill
    def lines(page):
        return [line for line in page.split("\n") if line.strip()]

    summary = next(n for n, page in enumerate(pages) if lines(page)[1:2] == ["Executive Summary"])  # running header
    first = _report_sections.SECTIONS[0].title  # the first section after the summary (Compliance frameworks)
    assert lines(pages[summary + 1])[1:3] == [first] * 2, pages[summary + 1][:300]
