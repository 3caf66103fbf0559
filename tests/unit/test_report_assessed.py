"""Issue 15 "Never a wrong grade": an area is graded only from sources that ran and succeeded for it."""

from __future__ import annotations

import copy
import datetime

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _report, _scoring

TODAY = datetime.date(2026, 11, 24)
EMPTY = {"findings": 0, "files": [], "inputs": [], "skips": [], "warnings": []}
# meta/sources.json as the collect role writes it (docs/collect.md), trimmed
SOURCES_OK = {
    "schema": "kubesec.collect.sources/v1",
    "cluster": "c",
    "run_id": "r",
    "sources": {
        "trivy_operator": dict(EMPTY, enabled=True, status="ok", findings=1, reports=3),
        "trivy_cli": dict(EMPTY, enabled=False, status="disabled"),
        "workloads": dict(EMPTY, enabled=True, status="ok"),
        "falco": dict(EMPTY, enabled=True, status="ok"),
        "kube_bench": dict(EMPTY, enabled=True, status="ok"),
    },
}


def f(fid, source, status="fail", severity="high", node=None, namespace="ns", **kw):
    resource = {"kind": "Node", "name": node} if node else {"kind": "Deployment", "name": "app", "namespace": namespace}
    return make_finding(
        fid, source, "t " + fid, status, severity=severity, cluster="c", node=node, namespace=None if node else namespace, resource=resource, evidence={}, **kw
    )


def areas_of(sources, findings=(), **kw):
    model = _report.build("c", "20261124T000000Z", list(findings), today=TODAY, inputs={"sources": {"data": sources, "status": "ok"}}, **kw)
    return dict((a["area"], a) for a in model["areas"]), model


def with_source(name, **entry):
    sources = copy.deepcopy(SOURCES_OK)
    sources["sources"][name] = dict(EMPTY, **entry)
    return sources


RBAC = f("KSV-0041", "trivy-rbac", severity="critical", namespace="ns")


def test_all_sources_ok_grades_every_collected_area():
    areas, _model = areas_of(SOURCES_OK, [RBAC])
    assert areas["vulnerabilities"]["grade"] == "A" and areas["rbac"]["grade"] == "F"
    assert areas["vulnerabilities"]["graded_by"] == ["trivy_operator"]


def test_failed_trivy_operator_makes_its_areas_not_assessed_and_says_why():
    # collect's failed.yml: status failed, error = the failing task's message
    sources = with_source("trivy_operator", enabled=True, status="failed", error="exports/vuln-3.json: not readable JSON (unexpected end of data at byte 812)")
    areas, model = areas_of(sources)
    for key in ("vulnerabilities", "rbac", "control_plane", "workloads"):
        assert areas[key]["assessed"] is False and areas[key]["grade"] is None, key
        assert "trivy_operator failed: exports/vuln-3.json" in areas[key]["not_assessed"]
        assert areas[key]["basis"].startswith("not assessed: source failed")
    assert areas["runtime"]["grade"] == "A"  # falco ran fine
    states = dict((c["collector"], c["state"]) for c in model["sections"]["collectors"])
    assert states["trivy_operator"] == "failed" and states["falco"] == "ok"


def test_failed_source_makes_area_not_assessed_even_with_findings_from_another_source():
    sources = with_source("kube_bench", enabled=True, status="partial", nodes=[{"node": "w3", "error": "kube-bench binary not found"}])
    areas, _model = areas_of(sources, [f("CIS-4.2.1", "cis-node", "pass", node="w1")])
    assert areas["nodes"]["assessed"] is False
    assert "kube_bench partial: w3: kube-bench binary not found" in areas["nodes"]["not_assessed"]


def test_trivy_cli_config_only_scan_does_not_grade_vulnerabilities():
    sources = with_source("trivy_cli", enabled=True, status="ok", findings=1, per_input=[{"input": "trivy config ...", "artifact": {"type": "filesystem"}}])
    sources["sources"]["trivy_operator"] = dict(EMPTY, enabled=False, status="disabled")
    config = f("KSV-0017", "trivy-config", severity="high")
    areas, _model = areas_of(sources, [config])
    assert areas["workloads"]["assessed"] is True
    assert areas["vulnerabilities"]["assessed"] is False and areas["vulnerabilities"]["grade"] is None
    assert "trivy_cli ran without assessing it" in areas["vulnerabilities"]["not_assessed"]
    assert "trivy_operator disabled" in areas["vulnerabilities"]["not_assessed"]
    # the trivy helper's field: which scanners / areas actually ran
    # trivy_scan's `assessed` (finding sources) as collect copies it into sources.json, also per input with scanners
    sources["sources"]["trivy_cli"]["per_input"][0].update(assessed=["trivy-config"], scanners=["misconfig"])
    sources["sources"]["trivy_cli"]["assessed"] = ["trivy-config"]
    areas, _model = areas_of(sources, [config])
    assert areas["vulnerabilities"]["assessed"] is False and "trivy_cli" in areas["workloads"]["graded_by"]
    del sources["sources"]["trivy_cli"]["per_input"][0]["assessed"]
    del sources["sources"]["trivy_cli"]["per_input"][0]["scanners"]
    for said in (["workloads"], ["misconfig"], "misconfig,secret", ["trivy-config", "trivy-exposed-secret"]):
        sources["sources"]["trivy_cli"]["assessed"] = said
        areas, _model = areas_of(sources, [config])
        assert areas["vulnerabilities"]["assessed"] is False, said
    sources["sources"]["trivy_cli"]["assessed"] = ["trivy-vulnerability", "trivy-config"]
    areas, _model = areas_of(sources, [config])
    assert areas["vulnerabilities"]["grade"] == "A" and areas["vulnerabilities"]["graded_by"] == ["trivy_cli"]
    del sources["sources"]["trivy_cli"]["assessed"]
    sources["sources"]["trivy_cli"]["per_input"][0]["assessed"] = ["vulnerabilities"]
    areas, _model = areas_of(sources, [config])
    assert areas["vulnerabilities"]["assessed"] is True


def test_per_input_with_assessed_null_reads_its_scanners():
    # a per-input entry {"assessed": null, "scanners": [...]} crashed the report (TypeError: set | None)
    sources = with_source("trivy_cli", enabled=True, status="ok", findings=1,
                          per_input=[{"input": "trivy image ...", "assessed": None, "scanners": ["vuln"]}])
    areas, _model = areas_of(sources, [f("CVE-2024-0001", "trivy-vulnerability", severity="high")])
    assert areas["vulnerabilities"]["assessed"] is True and "trivy_cli" in areas["vulnerabilities"]["graded_by"]


def test_exposed_secrets_alone_do_not_grade_vulnerabilities():
    sources = with_source("trivy_operator", enabled=False, status="disabled")
    areas, _model = areas_of(sources, [f("aws-access-key-id", "trivy-exposed-secret", severity="critical")])
    assert areas["vulnerabilities"]["assessed"] is False


def test_incomplete_gate():
    sources = with_source("trivy_operator", enabled=True, status="failed", error="boom")
    _areas, model = areas_of(sources, fail_on={"incomplete": True})
    assert model["gates"]["failed"] is True
    hit = model["gates"]["hits"][0]
    assert hit["gate"] == "incomplete" and hit["count"] == 4 and "trivy_operator failed: boom" in hit["examples"][0]
    _areas, model = areas_of(SOURCES_OK, fail_on={"incomplete": True})
    assert model["gates"]["failed"] is False  # audit_log is off, not failed
    _areas, model = areas_of(SOURCES_OK, fail_on={"incomplete": ["audit_log"]})
    assert model["gates"]["failed"] is True
    with pytest.raises(_report.ReportInputError, match="fail_on.incomplete"):
        areas_of(SOURCES_OK, fail_on={"incomplete": ["vulns"]})
    # without the incomplete gate, a failed source no longer lets a severity gate pass on a clean-looking grade,
    # it still passes (nothing counted) but the areas say not assessed
    areas, model = areas_of(sources, fail_on={"severity": "high"})
    assert model["gates"]["failed"] is False and areas["vulnerabilities"]["grade"] is None


def test_gate_says_what_it_did_not_count():
    findings = [f("CIS-1.1.1", "cis-control-plane", "warn", "critical", node="cp"), f("CIS-1.1.2", "cis-control-plane", "pass", "critical", node="cp")]
    _areas, model = areas_of(SOURCES_OK, findings, fail_on={"severity": "critical"})
    gates = model["gates"]
    assert gates["failed"] is False
    assert gates["not_counted"] == [{"status": "warn", "severity": "critical", "count": 1}]
    assert gates["note"] == "1 critical WARN not counted by severity>=critical; add statuses: [fail, warn] to count them"
    assert _scoring.gate_line(gates).startswith("passed; 1 critical WARN not counted")
    _areas, model = areas_of(SOURCES_OK, findings, fail_on={"severity": "critical", "statuses": ["fail", "warn"]})
    assert model["gates"]["failed"] is True and model["gates"]["note"] == ""


def test_audit_log_summary_with_a_failed_node_is_not_a_grade():
    summary = {
        "kind": "AuditLogSummary",
        "version": 1,
        "nodes_total": 2,
        "nodes_ok": 1,
        "total": 10,
        "nodes": {"cp-1": {"status": "ok", "error": None}, "cp-2": {"status": "error", "error": "no log"}},
    }
    model = _report.build("c", "r", [], today=TODAY, inputs={"sources": {"data": SOURCES_OK}, "audit_log_summary": {"data": summary, "status": "ok"}})
    audit = next(a for a in model["areas"] if a["area"] == "audit_log")
    assert audit["assessed"] is False and "cp-2: no log" in audit["not_assessed"]
    summary.update(nodes_ok=2, nodes={})
    model = _report.build("c", "r", [], today=TODAY, inputs={"sources": {"data": SOURCES_OK}, "audit_log_summary": {"data": summary, "status": "ok"}})
    assert next(a for a in model["areas"] if a["area"] == "audit_log")["grade"] == "A"


def test_console_summary_says_not_assessed_never_none():
    sources = with_source("trivy_operator", enabled=True, status="failed", error="boom")
    _areas, model = areas_of(sources, [RBAC])
    lines = _report.console_summary(model, {"html": "/r/report.html"})
    assert len(lines) == 5 and "None" not in " ".join(lines)
    assert "Vulnerabilities not assessed (a source failed)" in lines[0]
    assert lines[2].startswith("Audit log: not assessed - no audit-log query in this run")
    assert lines[3] == "Gates: none configured. First run: nothing to compare with yet"
