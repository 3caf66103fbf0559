"""Issue 15 "Terminal and page safety": control and bidi-override characters from cluster data are shown escaped
in report.html, the PDF and the console summary, never emitted raw (they can clear a terminal or make
"exe.png" read as "gnp.exe")."""

from __future__ import annotations

import datetime
import shutil
import subprocess

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats, _render, _report

TODAY = datetime.date(2026, 11, 24)
RAW = ["\x1b", "\x07", "\x9b", "\u202e", "\u202a", "\u2066", "\u2069", "\x00"]
SPOOF = "evil\u202egnp.exe"
TERM = "\x1b[2J\x1b]0;pwned\x07x\x9b31m"


def hostile_model():
    findings = [
        make_finding(
            "CIS-4.2.1",
            "cis-node",
            "kubelet " + SPOOF,
            "fail",
            severity="high",
            cluster="c",
            node="node-" + SPOOF,
            resource={"kind": "Node", "name": "node-" + SPOOF},
            evidence={"expected": TERM, "actual": "\u2066isolate\u2069"},
            remediation="fix " + TERM,
        ),
        make_finding(
            "KSV-0001",
            "trivy-config",
            "title " + TERM,
            "fail",
            severity="critical",
            cluster="c",
            namespace="ns\u202a",
            resource={"kind": "Deployment", "name": SPOOF, "namespace": "ns\u202a"},
            evidence={"messages": [TERM]},
        ),
    ]
    return _report.build("c", "r1", findings, today=TODAY, waivers=[{"id": "KSV-0002", "reason": "r " + TERM}])


def test_safe_text_escapes_controls_and_bidi_in_linear_time():
    assert _formats.safe_text(SPOOF) == "evil\\u202egnp.exe"
    assert _formats.safe_text(TERM) == "\\x1b[2J\\x1b]0;pwned\\x07x\\u009b31m"
    assert _formats.safe_text("tab\tnewline\nü漢") == "tab\tnewline\nü漢"
    big = "\u202e" * 200000
    assert len(_formats.safe_text(big)) == 6 * 200000


def test_html_shows_control_and_bidi_characters_escaped():
    html = _render.render_html(hostile_model())
    for ch in RAW:
        assert ch not in html, repr(ch)
    assert "evil\\u202egnp.exe" in html and "\\x1b[2J" in html and "\\u2066isolate\\u2069" in html


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
def test_pdf_shows_control_and_bidi_characters_escaped(tmp_path):
    pytest.importorskip("weasyprint")
    path = tmp_path / "r.pdf"
    path.write_bytes(_render.render_pdf(hostile_model(), max_rows=10))
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for ch in RAW:
        assert ch not in text, repr(ch)
    assert "evil\\u202egnp.exe" in text


def test_console_summary_lines_are_escaped():
    model = hostile_model()
    model["areas"][0]["not_assessed"] = "kube_bench failed: " + TERM
    model["areas"][0]["assessed"] = False
    lines = _report.console_summary(model, {"html": "/r/" + SPOOF})
    assert len(lines) == 5
    for line in lines:
        for ch in RAW:
            assert ch not in line, (ch, line)
