"""Issue 15: a truncated previous report.json warns (naming the file) and the run is compared with nothing,
instead of blocking every later report of the cluster."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats, _render, _report

TODAY = datetime.date(2026, 11, 24)


def f(fid, status="fail"):
    return make_finding(fid, "cis-node", "t " + fid, status, severity="high", cluster="c", node="n1", resource={"kind": "Node", "name": "n1"}, evidence={})


def write_previous(tmp_path):
    model = _report.build("c", "r1", [f("CIS-%d" % i) for i in range(5)], today=TODAY)
    path = tmp_path / "c" / "r1" / "report.json"
    _report.write_outputs(model, {"json": str(path)})
    return path


@pytest.mark.parametrize("cut", ["mid-line", "line-boundary", "head-only"])
def test_truncated_previous_report_warns_and_compares_with_nothing(tmp_path, cut):
    path = write_previous(tmp_path)
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    findings_at = lines.index(_formats.FINDINGS_LINE + "\n")
    if cut == "mid-line":
        text = "".join(lines[: findings_at + 3]) + lines[findings_at + 3][:40]
    elif cut == "line-boundary":
        text = "".join(lines[: findings_at + 3])
    else:
        text = text[:200]
    path.write_text(text)
    model = _report.build("c", "r2", [f("CIS-1")], today=TODAY, previous_run_id="r1", previous_findings=_formats.iter_report_findings(str(path)))
    assert model["previous_run_id"] is None and model["comparison"] is None
    assert len(model["warnings"]) == 1
    assert "previous report of run r1 is unreadable" in model["warnings"][0]
    assert str(path) in model["warnings"][0]
    assert "compared with nothing" in _render.render_html(model)


def test_intact_previous_report_still_compares(tmp_path):
    path = write_previous(tmp_path)
    model = _report.build("c", "r2", [f("CIS-1")], today=TODAY, previous_run_id="r1", previous_findings=_formats.iter_report_findings(str(path)))
    assert model["warnings"] == [] and model["comparison_counts"]["fixed"] == 4
