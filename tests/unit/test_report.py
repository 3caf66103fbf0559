"""Report model (merge, waivers, run comparison) and rendering (escaping, self-contained HTML, PDF)."""

from __future__ import annotations

import datetime
import io
import json
import os
from html.parser import HTMLParser

import pytest
from pypdf import PdfReader

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _render, _report

TODAY = datetime.date(2026, 11, 24)


def finding(fid, status="fail", node="n1", severity="high", **kw):
    return make_finding(
        fid,
        kw.pop("source", "cis-node"),
        kw.pop("title", "title of " + fid),
        status,
        severity=severity,
        cluster="c1",
        node=node,
        resource={"kind": "Node", "name": node},
        evidence={"expected": "x", "actual": "y"},
        **kw,
    )


def test_waivers_apply_with_scope_prefix_and_expiry():
    findings = [
        finding("CIS-4.2.1", node="n1"),
        finding("CIS-4.2.1", node="n2"),
        finding("CIS-4.1.9"),
        finding("CIS-4.2.6", status="pass"),
        finding("KSV-0017", source="trivy-config"),
    ]
    waivers = [
        {"id": "4.2.1", "reason": "only on n2", "scope": {"node": "n2"}},
        {"id": "CIS-4.1.*", "reason": "files managed by image", "expires": "2027-01-01"},
        {"id": "KSV-0017", "reason": "old", "expires": "2026-01-01"},
        {"id": "CIS-4.2.6", "reason": "passes anyway"},
    ]
    result, info = _report.apply_waivers(findings, waivers, TODAY)
    status = [(f["id"], f["node"], f["status"]) for f in result]
    assert status == [
        ("CIS-4.2.1", "n1", "fail"),
        ("CIS-4.2.1", "n2", "waived"),
        ("CIS-4.1.9", "n1", "waived"),
        ("CIS-4.2.6", "n1", "pass"),
        ("KSV-0017", "n1", "fail"),
    ]
    assert result[1]["original_status"] == "fail" and result[1]["waiver"]["reason"] == "only on n2"
    assert [w["id"] for w in info["expired"]] == ["KSV-0017"]
    assert info["expired"][0]["matched"] == 1
    assert [w["matched"] for w in info["active"]] == [1, 1, 0]


@pytest.mark.parametrize("waiver", [{"id": "x"}, {"reason": "r"}, "CIS-1", {"id": "x", "reason": "r", "expires": "soon"}])
def test_bad_waivers_are_named(waiver):
    with pytest.raises(_report.ReportInputError, match="waiver"):
        _report.apply_waivers([finding("x")], [waiver], TODAY)


def test_comparison_by_fingerprint():
    before = [finding("A"), finding("B"), finding("C", status="pass"), finding("D")]
    after = [finding("A"), finding("B", status="pass"), finding("C"), finding("E")]
    diff = _report.compare(after, before)
    assert [f["id"] for f in diff["new"]] == ["E"]
    assert [f["id"] for f in diff["regressed"]] == ["C"]
    assert sorted(f["id"] for f in diff["fixed"]) == ["B", "D"]
    assert {f["id"]: f["status"] for f in diff["fixed"]} == {"B": "pass", "D": "gone"}
    assert _report.compare(after, None) is None


def test_load_findings_names_the_broken_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([finding("A")]))
    (tmp_path / "b.json").write_text('[{"id": "x"')
    with pytest.raises(_report.ReportInputError, match="b.json is not readable JSON"):
        _report.load_findings(str(tmp_path))
    (tmp_path / "b.json").write_text('[{"id": "x"}]')
    with pytest.raises(_report.ReportInputError, match="b.json: entry 0 is not a normalized finding"):
        _report.load_findings(str(tmp_path))
    (tmp_path / "b.json").write_text("{}")
    with pytest.raises(_report.ReportInputError, match="must hold a list"):
        _report.load_findings(str(tmp_path))
    with pytest.raises(_report.ReportInputError, match="does not exist"):
        _report.load_findings(str(tmp_path / "nope"))


def test_previous_run_is_the_newest_earlier_complete_run(tmp_path):
    for run, complete in (("20260101T000000Z", True), ("20260102T000000Z", True), ("20260103T000000Z", False), ("20260105T000000Z", True)):
        (tmp_path / run).mkdir()
        if complete:
            (tmp_path / run / "report.json").write_text("{}")
    assert _report.previous_run(str(tmp_path), "20260104T000000Z") == "20260102T000000Z"
    assert _report.previous_run(str(tmp_path), "20260101T000000Z") is None


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "r" / "report.json"
    _report.write_atomic(str(target), "old")

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        _report.write_atomic(str(target), "new")
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


class TagCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.names, self.urls = set(), []

    def handle_starttag(self, tag, attrs):
        self.names.add(tag)
        self.urls.extend(value or "" for key, value in attrs if key in ("src", "href", "data", "action"))


HOSTILE = '<script>alert("x")</script><img src=http://evil.invalid/x.png>'


def hostile_model():
    findings = [
        finding("CIS-4.2.1", node=HOSTILE, title=HOSTILE),
        finding("CIS-4.2.2", status="pass", node=HOSTILE),
        finding("KSV-0001", source="workload", namespace="shop", severity="critical", title="priv"),
        finding("CIS-4.1.1", status="warn", node="n2"),
    ]
    return _report.build("c1<b>", "20261124T000000Z", findings, today=TODAY, waivers=[{"id": "CIS-4.1.1", "reason": HOSTILE}])


def test_html_escapes_everything_from_the_cluster_and_is_self_contained():
    html = _render.render_html(hostile_model())
    # the only script is the report's own (sort/filter tables), allowed by its hash in the CSP
    own = "<script>" + _render.script_source() + "</script>"
    assert html.count("<script") == 1 and own in html
    assert f"script-src '{_render.csp_hash(_render.script_source())}'" in html
    rest = html.replace(own, "")
    assert "<script>" not in rest and "<img" not in rest
    assert "&lt;script&gt;alert(" in html
    assert "c1&lt;b&gt;" in html
    # self-contained: no element loads anything (only in-page #anchors)
    tags = TagCollector()
    tags.feed(html)
    assert {"img", "link", "iframe", "object"}.isdisjoint(tags.names)
    assert all(value.startswith("#") for value in tags.urls), tags.urls
    assert "svg" in tags.names  # charts are inline


def test_pdf_has_cover_summary_and_page_numbers():
    pdf = _render.render_pdf(hostile_model())
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 1
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Kubernetes security report" in text
    assert "Summary" in text
    assert f"Page 2 of {len(reader.pages)}" in text
    assert '<script>alert("x")</script>' in text  # shown as text, never interpreted
    assert "http://evil.invalid" in text


def test_pdf_caps_long_sections_and_says_where_the_rest_is():
    findings = [finding("CVE-2024-%04d" % i, source="trivy-vulnerability", namespace="ns", node=None, severity="medium") for i in range(40)]
    model = _report.build("c", "r", findings, today=TODAY)
    reader = PdfReader(io.BytesIO(_render.render_pdf(model, max_rows=10)))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "The top 10 of 40 are shown; the other 30 are in report.html and report.json." in text
    assert "CVE-2024-0039" not in text  # beyond the cap: only in HTML/JSON
    assert "CVE-2024-0039" in _render.render_html(model)


def test_summary_counts_are_computed_not_assumed():
    model = hostile_model()
    assert model["summary"]["by_status"] == {"pass": 1, "fail": 2, "warn": 0, "info": 0, "waived": 1}
    assert model["summary"]["problems_by_severity"]["critical"] == 1
    assert model["summary"]["by_source"]["workload"]["fail"] == 1
