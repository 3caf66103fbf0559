"""scripts/check-demo-report (run by .ci/run right after `make demo`, before the test extras exist): it must count
the pages of a real WeasyPrint PDF as pypdf does, and fail naming what is missing."""

import json
import subprocess
import sys

from pypdf import PdfReader
from weasyprint import HTML

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "check-demo-report"


def _run(base):
    return subprocess.run([sys.executable, str(SCRIPT), str(base)], capture_output=True, text=True, timeout=60)


def _run_dir(tmp_path, pages):
    run = tmp_path / "demo" / "20261206T000000Z"
    run.mkdir(parents=True)
    html = "".join('<section style="page-break-after: always">page %d</section>' % i for i in range(pages))
    HTML(string="<html><body>%s</body></html>" % html).write_pdf(run / "report.pdf")
    (run / "report.html").write_text("<html><body>x</body></html>\n")
    (run / "report.json").write_text(json.dumps({"cluster": "demo"}))
    return run


def test_pages_are_counted_like_pypdf(tmp_path):
    run = _run_dir(tmp_path, 7)
    expected = len(PdfReader(str(run / "report.pdf")).pages)
    proc = _run(tmp_path / "demo")
    assert proc.returncode == 0, proc.stderr
    assert "report.pdf (%d pages)" % expected in proc.stdout


def test_streams_without_an_eol_before_endstream_are_read(tmp_path):
    """PDF allows the EOL before `endstream` to be left out, and WeasyPrint's object streams (which hold the page
    objects) sometimes end that way: the demo's 42-page report was counted as having no pages."""
    run = _run_dir(tmp_path, 5)
    expected = len(PdfReader(str(run / "report.pdf")).pages)
    data = (run / "report.pdf").read_bytes()
    (run / "report.pdf").write_bytes(data.replace(b"\nendstream", b"endstream").replace(b"\rendstream", b"endstream"))
    proc = _run(tmp_path / "demo")
    assert proc.returncode == 0 and "report.pdf (%d pages)" % expected in proc.stdout, proc.stdout + proc.stderr


def test_missing_or_broken_files_fail_by_name(tmp_path):
    run = _run_dir(tmp_path, 1)
    (run / "report.pdf").write_bytes(b"%PDF-1.7\n%%EOF\n")
    (run / "report.json").write_text("{")
    proc = _run(tmp_path / "demo")
    assert proc.returncode == 1
    assert "report.pdf has no pages" in proc.stderr and "report.json is not JSON" in proc.stderr
    assert _run(tmp_path / "nothing").returncode == 1
