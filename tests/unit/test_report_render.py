"""Report rendering details (issues 21 and 24): trend labels, score bars, feature state, gate line, polish."""

from __future__ import annotations

import datetime
import re

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _render, _report

TODAY = datetime.date(2026, 11, 24)


def f(fid, status="fail", severity="high", source="cis-node", node="n1"):
    return make_finding(fid, source, "t " + fid, status, severity=severity, cluster="c", node=node, resource={"kind": "Node", "name": node}, evidence={})


def test_trend_labels_of_runs_on_the_same_day_show_the_time():
    history = [
        {"run_id": rid, "open": n, "problems_by_severity": {}}
        for n, rid in enumerate(["20261205T230000Z", "20261206T031325Z", "20261206T091500Z", "20261206T152000Z"])
    ]
    svg = str(_render.trend_svg(history))
    labels = re.findall(r'font-size="10" fill="#374151">([^<]+)</text>', svg)
    assert labels == ["2026-12-05", "12-06 03:13", "12-06 09:15", "12-06 15:20"]
    assert _render.run_labels(["manual-run-1"]) == ["manual-run-1"]


def test_score_bars_say_what_they_mean_and_d_f_are_visibly_bad():
    findings = [f("CIS-%d" % i, "pass") for i in range(20)] + [f("CIS-99", "fail", "critical")]
    model = _report.build("c", "r1", findings, today=TODAY)
    nodes = next(a for a in model["areas"] if a["area"] == "nodes")
    assert nodes["grade"] == "F" and nodes["score"] > 90  # long bar, bad grade
    svg = str(_render.score_svg(model["areas"]))
    assert 'fill="#fef2f2"' in svg  # the F row is tinted red
    assert "score %.1f of 100, grade F" % nodes["score"] in svg
    assert svg.count("not assessed") >= 5  # every area has a row, unassessed ones say so
    assert ">score (0-100)<" in svg and ">100<" in svg  # the axis says what length means
    html = _render.render_html(model)
    assert "Bar length = score from 0 to 100" in html
    clean = _report.build("c", "r1", [f("CIS-1", "pass")], today=TODAY)
    assert 'fill="#fef2f2"' not in str(_render.score_svg(clean["areas"]))


def test_gate_line_in_the_page_says_what_was_not_counted():
    findings = [f("CIS-1.2.1", "warn", "critical", source="cis-control-plane", node="cp")]
    html = _render.render_html(_report.build("c", "r1", findings, today=TODAY, fail_on={"severity": "critical"}))
    assert "Gates passed" in html
    assert "1 critical WARN not counted by severity&gt;=critical; add statuses: [fail, warn] to count them" in html


def test_feature_only_rendered_says_rendered_not_applied(tmp_path):
    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _inputs

    cluster_dir = tmp_path / "c"
    (cluster_dir / "rendered" / "falco").mkdir(parents=True)
    (cluster_dir / "rendered" / "falco" / "values.yaml").write_text("# Helm values\nfalco:\n  applied: true\n")
    (cluster_dir / "rendered" / "trivy-operator").mkdir()
    # render.json as feature_values writes it beside the rendered files (render_only)
    (cluster_dir / "rendered" / "trivy-operator" / "render.json").write_text(
        '{"feature": "trivy_operator", "cluster": "c", "state": "enabled", "applied": false, "files": ["values.yaml"]}'
    )
    assert _inputs.rendered_applied(str(cluster_dir)) == {"trivy_operator": False}  # nested keys do not count
    (cluster_dir / "rendered" / "falco" / "metadata.yaml").write_text("feature: falco\napplied: false\n")
    applied = _inputs.rendered_applied(str(cluster_dir))
    assert applied == {"falco": False, "trivy_operator": False}
    features = {"falco": {"enabled": True, "ui": True}, "trivy_operator": {"enabled": True}, "audit_logging": {"enabled": True, "applied": False}}
    model = _report.build("c", "r1", [], today=TODAY, features=features, rendered_applied=applied)
    assert model["features"]["falco"]["applied"] is False
    html = _render.render_html(model)
    assert html.count("rendered, not applied</b>") == 3
    # this run applied falco (kubesec_render_only off): a render.json left from an earlier run does not override it
    features["falco"]["applied"] = True
    model = _report.build("c", "r1", [], today=TODAY, features=features, rendered_applied=applied)
    assert model["features"]["falco"]["applied"] is True
    model = _report.build("c", "r1", [], today=TODAY, features={"falco": {"enabled": True, "applied": True}})
    assert "rendered, not applied</b>" not in _render.render_html(model)


def test_the_kubesec_remediation_is_shown_beside_the_shell_command():
    finding = f("CIS-4.1.9")
    finding["remediation"] = "chmod 600 /var/lib/kubelet/config.yaml"
    finding["remediation_kubesec"] = "ansible-playbook playbooks/harden.yml --tags cis_4_1_9 -l n1"
    html = _render.render_html(_report.build("c", "r1", [finding], today=TODAY))
    assert "<b>kubesec:</b> <code>ansible-playbook playbooks/harden.yml --tags cis_4_1_9 -l n1</code>" in html
