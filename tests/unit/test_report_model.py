"""Report model at scale and in detail: streaming input, comparison, scores, gates, history, inputs, features."""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats, _inputs, _render, _report, _report_findings, _report_model, _scoring

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "report"))
import synth

TODAY = datetime.date(2026, 11, 24)


def f(fid, status="fail", source="cis-node", severity="high", node="n1", namespace=None, **kw):
    resource = kw.pop(
        "resource", {"kind": "Node", "name": node} if node and not namespace else {"kind": "Deployment", "name": kw.pop("name", "app"), "namespace": namespace}
    )
    return make_finding(
        fid,
        source,
        kw.pop("title", "title " + fid),
        status,
        severity=severity,
        cluster="c",
        node=node,
        namespace=namespace,
        resource=resource,
        evidence=kw.pop("evidence", {}),
        extra=kw.pop("extra", None),
        **kw,
    )


def build(findings, **kw):
    kw.setdefault("today", TODAY)
    return _report.build("c", kw.pop("run_id", "20261124T000000Z"), findings, **kw)


def area(model, key):
    return next(a for a in model["areas"] if a["area"] == key)


# ------------------------------------------------------------------------------------------------ streaming input
@pytest.mark.parametrize("indent", [None, 0, 1, 4])
def test_streamed_findings_file_equals_plain_json(tmp_path, monkeypatch, indent):
    findings = [f("CIS-%d" % i, title='tricky "]," title [%d] {}' % i, evidence={"actual": "a]b,c", "n": [1, {"x": "]"}]}) for i in range(60)]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(findings, indent=indent))
    monkeypatch.setattr(_report_findings, "_STREAM_THRESHOLD", 0)  # force the streaming parser
    monkeypatch.setattr(_report_findings, "_CHUNK", 37)  # and tiny reads, so items straddle chunk borders
    assert list(_report.iter_findings_file(str(path))) == findings


@pytest.mark.parametrize("layout", ["indent1", "indent1-newline", "indent1-crlf", "wrapped", "mixed"])
def test_fast_path_and_fallbacks_give_the_same_findings(tmp_path, monkeypatch, layout):
    findings = [f("CIS-%d" % i, title="t\n }, {x}" * (i % 3), evidence={"nested": {"a": [1, {"b": "}"}]}}) for i in range(25)]
    text = json.dumps(findings, indent=1)
    if layout == "indent1-newline":
        text += "\n"
    elif layout == "indent1-crlf":
        text = text.replace("\n", "\r\n")
    elif layout == "wrapped":
        text = json.dumps({"findings": findings}, indent=1)
    elif layout == "mixed":  # indent=1 for a while, then something else: the generic parser finishes the file
        text = json.dumps(findings[:10], indent=1)[:-2] + ", " + json.dumps(findings[10:])[1:]
    (tmp_path / "a.json").write_text(text)
    monkeypatch.setattr(_report_findings, "_STREAM_THRESHOLD", 0)
    monkeypatch.setattr(_report_findings, "_CHUNK", 50)
    assert list(_report.iter_findings_file(str(tmp_path / "a.json"))) == findings


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(titles=st.lists(st.text(min_size=0, max_size=40), min_size=0, max_size=12), chunk=st.integers(1, 64))
def test_streaming_parser_handles_any_text(tmp_path_factory, monkeypatch, titles, chunk):
    findings = [f("X-%d" % i, title=t) for i, t in enumerate(titles)]
    path = tmp_path_factory.mktemp("s") / "x.json"
    path.write_text(json.dumps(findings, indent=1, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(_report_findings, "_STREAM_THRESHOLD", 0)
    monkeypatch.setattr(_report_findings, "_CHUNK", chunk)
    assert list(_report.iter_findings_file(str(path))) == findings


@pytest.mark.parametrize(
    "text, message",
    [
        ('[{"id": "x"', "is not readable JSON"),
        ('{"a": 1}', "must hold a list"),
        ('[{"id": "x"}]', "entry 0 is not a normalized finding"),
        ("[", "is not readable JSON"),
    ],
)
def test_streaming_errors_name_the_file(tmp_path, monkeypatch, text, message):
    (tmp_path / "bad.json").write_text(text)
    monkeypatch.setattr(_report_findings, "_STREAM_THRESHOLD", 0)
    with pytest.raises(_report.ReportInputError, match="bad.json.*" + message):
        list(_report.FindingsDir(str(tmp_path)))


def test_streaming_build_equals_list_build(tmp_path, monkeypatch):
    run = tmp_path / "c" / "20261124T000000Z"
    synth.write_run(str(run), workloads=12, vulns=120)
    findings, _files = _report.load_findings(str(run / "findings"))
    monkeypatch.setattr(_report_findings, "_STREAM_THRESHOLD", 0)
    streamed = build(_report.FindingsDir(str(run / "findings")), generated_at="2026-11-24T00:00:00Z")
    listed = build(findings, generated_at="2026-11-24T00:00:00Z")
    for key in ("summary", "areas", "sections", "headline", "gates"):
        assert streamed[key] == listed[key], key
    assert [x["fingerprint"] for x in streamed["_top"]["trivy-vulnerability"]] == [x["fingerprint"] for x in listed["_top"]["trivy-vulnerability"]]


def test_top_rows_are_the_most_severe_whatever_the_order():
    findings = [f("L-%03d" % i, severity="low") for i in range(300)] + [f("C-1", severity="critical")] + [f("P-%d" % i, status="pass") for i in range(50)]
    model = build(findings, rows=20)
    top = model["_top"]["cis-node"]
    assert len(top) == 20 and top[0]["id"] == "C-1"
    assert all(x["status"] != "pass" for x in top)


def test_vulnerabilities_fixable_first_per_namespace_images_cves():
    def v(cve, ns, image, severity, fixed):
        return f(
            cve,
            source="trivy-vulnerability",
            node=None,
            namespace=ns,
            severity=severity,
            evidence={"package": "openssl", "installed_version": "1.0", "fixed_version": fixed, "image": image},
        )

    findings = [
        v("CVE-1", "shop", "img-a", "critical", ""),
        v("CVE-2", "shop", "img-a", "medium", "1.1"),
        v("CVE-2", "pay", "img-b", "medium", "1.1"),
        v("CVE-3", "pay", "img-b", "high", "2.0"),
        v("CVE-4", "pay", "img-c", "low", ""),
    ]
    model = build(findings, waivers=[{"id": "CVE-4", "reason": "accepted"}])
    top = model["_top"]["trivy-vulnerability"]
    assert [x["id"] for x in top[:3]] == ["CVE-3", "CVE-2", "CVE-2"]  # fixable first, then severity
    vs = model["sections"]["vulnerabilities"]
    assert vs["open"] == 4 and vs["fixable"] == 3
    assert {e["namespace"]: (e["open"], e["fixable"], e["images"]) for e in vs["namespaces"]} == {"shop": (2, 1, 1), "pay": (2, 2, 2)}
    assert vs["images"][0]["image"] == "img-b"  # one fixable high
    assert [c["id"] for c in vs["cves"]] == ["CVE-3", "CVE-2", "CVE-1"]
    assert vs["cves"][1]["images"] == 2
    # 3 images known (img-c only waived), img-a and img-b carry an open critical/high
    assert area(model, "vulnerabilities")["score"] == pytest.approx(33.3, abs=0.1)


# ------------------------------------------------------------------------------------------------ comparison
def test_comparison_keeps_sources_apart_when_fingerprints_collide():
    # kube-bench and the native audit report the same id on the same node: equal fingerprints
    before = [f("CIS-4.2.5", status="warn"), f("CIS-4.2.5", status="pass", source="kube-bench")]
    assert before[0]["fingerprint"] == before[1]["fingerprint"]
    model = build(list(before), previous_findings=before, previous_run_id="r0")
    assert model["comparison_counts"] == {"new": 0, "fixed": 0, "regressed": 0, "waived": 0}
    after = [f("CIS-4.2.5", status="pass"), f("CIS-4.2.5", status="warn", source="kube-bench")]
    model = build(after, previous_findings=before, previous_run_id="r0")
    assert model["comparison_counts"] == {"new": 0, "fixed": 1, "regressed": 1, "waived": 0}
    assert model["comparison"]["fixed"][0]["source"] == "cis-node"
    assert model["comparison"]["regressed"][0]["source"] == "kube-bench"


def test_comparison_counts_and_fingerprints_are_complete_beyond_the_detail_cap(monkeypatch):
    monkeypatch.setattr(_report_model, "COMPARISON_DETAILS", 5)
    before = [f("A-%d" % i) for i in range(20)] + [f("P-%d" % i, status="pass") for i in range(10)]
    after = [f("B-%d" % i) for i in range(30)] + [f("P-%d" % i) for i in range(10)]
    model = build(after, previous_findings=before, previous_run_id="r0")
    assert model["comparison_counts"] == {"new": 30, "fixed": 20, "regressed": 10, "waived": 0}
    assert {k: len(v) for k, v in model["comparison"].items()} == {"new": 5, "fixed": 5, "regressed": 5, "waived": 0}
    assert len(model["comparison_fingerprints"]["new"]) == 30
    assert {x["status"] for x in model["comparison"]["fixed"]} == {"gone"}
    # the list-based compare() agrees
    diff = _report.compare(after, before)
    assert {k: len(v) for k, v in diff.items()} == model["comparison_counts"]


# ------------------------------------------------------------------------------------------------ scores
SCORE_CASES = [
    # findings, area, grade, score
    ([f("A", "pass"), f("B", "pass"), f("C", "pass"), f("D", "fail", severity="medium")], "nodes", "C", 84.0),
    ([f("A", "pass", severity="low"), f("B", "warn", severity="critical")], "nodes", "F", 10.0),
    ([f("A", "pass"), f("B", "waived"), f("C", "info")], "nodes", "A", 100.0),
    ([f("A", "fail", severity="low"), f("B", "pass", severity="low")], "nodes", "B", 50.0),
    ([f("K", "fail", source="trivy-rbac", node=None, namespace="ns")], "rbac", "D", None),
    ([f("R", "warn", source="falco", node=None, namespace="ns", severity="medium")], "runtime", "C", None),
    ([f("A", "fail", source="kube-bench", extra={"section": "1.2"}), f("B", "pass", source="cis-control-plane")], "control_plane", "D", 50.0),
    ([f("A", "fail", source="kube-bench", extra={"section": "5.1"})], "rbac", "D", None),
]


@pytest.mark.parametrize("findings, key, grade, score", SCORE_CASES)
def test_area_grade_and_score_follow_the_stated_method(findings, key, grade, score):
    row = area(build(findings), key)
    assert row["grade"] == grade
    assert row["score"] == (pytest.approx(score, abs=0.05) if score is not None else None)


def test_unassessed_areas_and_collected_sources():
    model = build([f("A", "pass")])
    assert area(model, "runtime")["assessed"] is False and area(model, "runtime")["grade"] is None
    inputs = {"sources": {"data": {"sources": {"falco": {"status": "ok", "findings": 0}, "audit-log": {"status": "failed: no log"}}}}}
    model = build([f("A", "pass")], inputs=inputs)
    assert area(model, "runtime")["grade"] == "A"  # collected, no event: clean
    assert area(model, "audit_log")["assessed"] is False  # collection failed: not assessed
    # the collect role's sources.json names collectors (docs/collect.md)
    inputs = {
        "sources": {
            "data": {
                "schema": "kubesec.collect.sources/v1",
                "sources": {
                    "trivy_operator": {"enabled": True, "status": "ok", "findings": 0, "inputs": ["https://api.invalid"]},
                    "falco": {"enabled": False, "status": "disabled"},
                    "kube_bench": {"enabled": True, "status": "rendered"},
                },
            }
        }
    }
    model = build([f("A", "pass")], inputs=inputs)
    assert area(model, "vulnerabilities")["assessed"] is True and area(model, "rbac")["grade"] == "A"
    assert area(model, "runtime")["assessed"] is False
    rows = dict((r["source"], r) for r in model["sections"]["sources"])
    assert rows["falco"]["collected"] is False and rows["kube_bench"]["collected"] is False
    assert "https://api.invalid" not in json.dumps(model["sections"]["sources"])


def test_vulnerability_denominator_from_trivy_reports_meta():
    v = f("CVE-1", source="trivy-vulnerability", node=None, namespace="ns", severity="high", evidence={"image": "img-a", "fixed_version": "2"})
    rows = [{"kind": "VulnerabilityReport", "artifact": "img-%s" % c, "summary": {"highCount": 1 if c == "a" else 0}} for c in "abcd"]
    model = build([v], inputs={"trivy_reports": {"data": {"reports": rows}}})
    assert area(model, "vulnerabilities")["score"] == 75.0
    assert "lower bound" not in area(model, "vulnerabilities")["basis"]
    assert "lower bound" in area(build([v]), "vulnerabilities")["basis"]


# ------------------------------------------------------------------------------------------------ gates
GATE_CASES = [
    ({"severity": "high"}, ["severity>=high"], 2),
    ({"severity": "critical"}, ["severity>=critical"], 1),
    ({"severity": "high", "statuses": ["fail", "warn"]}, ["severity>=high"], 3),
    ({"cis_fail": True}, ["cis_fail"], 3),
    ({"severity": "high", "sources": ["trivy-vulnerability"]}, [], 0),
    ({"max_open": 3}, ["max_open 3"], 4),
    ({"min_score": 90}, ["min_score 90"], 1),
    ({"expired_waivers": True}, ["expired_waivers"], 1),
    ({}, [], 0),
]


@pytest.mark.parametrize("config, gates, first_count", GATE_CASES)
def test_gates(config, gates, first_count):
    findings = [f("A", severity="critical"), f("B", severity="high"), f("C", severity="medium"), f("D", status="warn", severity="high"), f("E", status="pass")]
    model = build(findings, fail_on=config, waivers=[{"id": "Z", "reason": "old", "expires": "2020-01-01"}])
    result = model["gates"]
    assert [hit["gate"] for hit in result["hits"]] == gates
    assert result["failed"] is bool(gates)
    if gates:
        assert result["hits"][0]["count"] == first_count
        assert model["headline"]["gates_failed"] is True
        message = _scoring.gate_summary("c", result)
        assert "cluster c" in message and gates[0] in message


def test_new_only_gate_counts_only_new_and_regressed():
    before = [f("A", severity="critical"), f("B", status="pass", severity="high")]
    after = [f("A", severity="critical"), f("B", severity="high"), f("C", severity="high")]
    model = build(after, previous_findings=before, previous_run_id="r0", fail_on={"severity": "high", "new_only": True})
    assert model["gates"]["hits"][0]["count"] == 2  # B regressed, C new; A was already open
    first = build(after, fail_on={"severity": "high", "new_only": True})
    assert first["gates"]["hits"][0]["count"] == 3  # a first run: everything is new


@pytest.mark.parametrize(
    "config, message",
    [
        ({"severty": "high"}, "unknown key"),
        ({"severity": "severe"}, "fail_on.severity"),
        ({"new_only": "maybe"}, "new_only"),
        ({"statuses": ["pass"]}, "statuses"),
        ({"min_score": 120}, "min_score"),
        ({"max_open": "many"}, "max_open"),
    ],
)
def test_gate_config_errors_are_named(config, message):
    with pytest.raises(_report.ReportInputError, match=message):
        build([f("A")], fail_on=config)


# ------------------------------------------------------------------------------------------------ history, head
def _write_run(cluster_dir, run_id, findings, **kw):
    model = _report.build(
        "c",
        run_id,
        findings,
        today=TODAY,
        generated_at=run_id[:4] + "-01-01T00:00:00Z",
        history=_report.read_history(str(cluster_dir), run_id),
        previous_run_id=_report.previous_run(str(cluster_dir), run_id),
        **kw,
    )
    _report.write_outputs(model, {"json": str(cluster_dir / run_id / "report.json")})
    return model


def test_history_reads_only_headlines_and_delta_uses_the_previous_one(tmp_path):
    cluster = tmp_path / "c"
    _write_run(cluster, "20260101T000000Z", [f("A"), f("B"), f("C", status="pass")])
    _write_run(cluster, "20260102T000000Z", [f("A"), f("C", status="pass")])
    # break the findings part of the first report: the history must not need it
    path = cluster / "20260101T000000Z" / "report.json"
    text = path.read_text()
    path.write_text(text[: text.index(_formats.FINDINGS_LINE) + len(_formats.FINDINGS_LINE)] + "\n{broken")
    history = _report.read_history(str(cluster), "20260103T000000Z")
    assert [h["run_id"] for h in history] == ["20260101T000000Z", "20260102T000000Z"]
    assert [h["open"] for h in history] == [2, 1]
    model = _write_run(cluster, "20260103T000000Z", [f("A"), f("B"), f("D"), f("C", status="pass")])
    assert [h["open"] for h in model["history"]] == [2, 1, 3]
    assert model["delta"]["open"] == 2 and model["delta"]["run_id"] == "20260102T000000Z"
    assert model["delta"]["areas"]["nodes"]["open"] == 2
    assert model["delta"]["areas"]["nodes"]["score"] == pytest.approx(25.0 - 50.0)
    assert _render.trend_svg(model["history"]).count("<circle") == 6


def test_history_accepts_schema_1_reports(tmp_path):
    run = tmp_path / "c" / "20250101T000000Z"
    run.mkdir(parents=True)
    summary = {"total": 3, "by_status": {"pass": 1, "fail": 2, "warn": 0, "info": 0, "waived": 0}, "problems_by_severity": {"high": 2}}
    (run / "report.json").write_text(
        json.dumps({"schema_version": 1, "run_id": run.name, "summary": summary, "findings": [f("A"), f("B")]}, indent=1, sort_keys=True)
    )
    history = _report.read_history(str(tmp_path / "c"), "20260101T000000Z")
    assert history[0]["open"] == 2 and history[0]["areas"] == {}
    assert len(list(_formats.iter_report_findings(str(run / "report.json")))) == 2


def test_report_head_and_findings_round_trip(tmp_path):
    findings = [f("A", title='new\nline \u2028 and "quotes"'), f("B", status="pass")]
    model = build(findings)
    path = tmp_path / "report.json"
    _report.write_outputs(model, {"json": str(path)})
    data = json.loads(path.read_text())
    assert data["findings"] == findings
    head = _formats.read_report_head(str(path))
    assert "findings" not in head and head["headline"] == data["headline"] and head["summary"] == data["summary"]
    assert list(_formats.iter_report_findings(str(path))) == findings
    assert not any(key.startswith("_") for key in data)


def test_failed_write_leaves_previous_files(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    path.write_text("old")

    def boom(*args):
        raise OSError("disk full")

    model = build([f("A")])
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        _report.write_outputs(model, {"json": str(path), "junit": str(tmp_path / "junit.xml")})
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


# ------------------------------------------------------------------------------------------------ inputs
def test_meta_files_absent_invalid_ok(tmp_path):
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "sources.json").write_text("{not json")
    (tmp_path / "meta" / "falco_groups.json").write_text(json.dumps({"groups": [{"count": 3}, {"count": 4}, "x"]}))
    (tmp_path / "meta" / "extra.json").write_text("{}")
    meta = _inputs.read_meta(str(tmp_path))
    assert meta["workload_rules"]["status"] == "absent"
    assert meta["sources"]["status"] == "invalid" and meta["sources"]["error"]
    assert _inputs.normalize_falco_groups(meta["falco_groups"]["data"]) == {"groups": 2, "events": 7}
    rows = {r["file"]: r["status"] for r in _inputs.meta_status(meta)}
    assert rows["meta/extra.json"] == "not read" and rows["meta/sources.json"] == "invalid"
    model = build([f("A")], inputs=meta)
    assert model["sections"]["sources"] == [] and model["sections"]["workload_rules"] is None


def test_audit_summary_shapes():
    rows = [{"user": "u%d" % (i % 700), "verb": ["get", "list"][i % 2], "resource": "pods", "count": 1} for i in range(50000)]
    out = _inputs.normalize_audit_summary({"period": {"from": "a", "to": "b"}, "rows": rows, "denied": {"count": 4, "top_users": [{"user": "x", "count": 4}]}})
    assert out["rows"] == 50000 and out["total"] == 50000 and out["period"]["text"] == "a to b"
    assert out["dimensions"]["user"]["distinct"] == 700 and len(out["dimensions"]["user"]["top"]) == _inputs.TOP
    assert out["dimensions"]["verb"]["top"] == [["get", 25000], ["list", 25000]]
    assert out["denied"] == {"count": 4, "top": [["x", 4]], "top_kind": "top_users"}
    query_shape = {
        "window": {"from": "a", "to": "b"},
        "by_user": {"alice": 3, "bob": 5},
        "by_verb": {"get": 8},
        "by_resource": [{"resource": "secrets", "count": 8}],
        "exec": 2,
        "anonymous": "bad",
    }
    out = _inputs.normalize_audit_summary(query_shape)
    assert out["dimensions"]["user"]["top"] == [["bob", 5], ["alice", 3]] and out["total"] == 8
    assert out["exec"] == {"count": 2, "top": []} and out["anonymous"] is None
    assert _inputs.normalize_audit_summary(["not", "a", "dict"]) is None


def test_workload_rules_shapes_and_global_exclusions():
    data = {
        "rules": {
            "KS-WL-001": {"id": "KS-WL-001", "mode": "deny", "params": {"max_cpu": "2"}, "exclude_namespaces": ["kube-system", "team-a"]},
            "KS-WL-002": "garbage",
        },
        "exclude_namespaces": ["kube-system"],
    }
    out = _inputs.normalize_workload_rules(data)
    assert out["exclude_namespaces"] == ["kube-system"]
    assert out["rules"] == [
        {
            "id": "KS-WL-001",
            "name": "",
            "title": "",
            "severity": "",
            "enabled": True,
            "evaluated": True,
            "note": None,
            "mode": "deny",
            "params": [["max_cpu", "2"]],
            "exclude_namespaces": ["team-a"],
            "exclude_images": [],
        }
    ]
    assert [r["id"] for r in _inputs.normalize_workload_rules([{"id": "KS-WL-003"}])["rules"]] == ["KS-WL-003"]


def test_actions_are_listed_newest_first_and_broken_ones_named(tmp_path):
    actions = tmp_path / "actions"
    actions.mkdir()
    for name, started in (("20261120T000000Z-cordon-n1.json", "2026-11-20T00:00:00Z"), ("20261124T000000Z-isolate-shop-cart.json", "2026-11-24T00:00:00Z")):
        (actions / name).write_text(
            json.dumps(
                {
                    "schema": "kubesec.action/v1",
                    "action": name.split("-")[1],
                    "target": {"kind": "Node", "name": "n1"},
                    "started": started,
                    "reason": "<b>why</b>",
                    "result": "applied",
                    "changes": [{}, {}],
                }
            )
        )
    (actions / "20261125T000000Z-broken.json").write_text("{")
    out = _inputs.read_actions(str(tmp_path), since="2026-11-22T00:00:00Z")
    assert [r["action"] for r in out["records"]] == ["isolate", "cordon"]
    assert out["records"][0]["target"] == "Node/n1" and out["records"][0]["changes"] == 2
    assert out["since_previous"] == 1 and out["unreadable"][0]["file"] == "20261125T000000Z-broken.json"
    assert _inputs.read_actions(str(tmp_path / "nope"))["present"] is False


FEATURE_CASES = [
    (
        {"falco": {"enabled": True, "password": "hunter2", "channels": ["telegram", "hunter2"], "ui": False}},
        {"falco": {"enabled": True, "channels": ["telegram"], "ui": False}},
        ["falco.password", "falco.channels (unknown channel names)"],
    ),
    (
        {"trivy_operator": {"enabled": True, "scanners": {"exposed_secrets": False, "vulnerability": True}}},
        {"trivy_operator": {"enabled": True, "scanners": {"exposed_secrets": False, "vulnerability": True}}},
        [],
    ),
    ({"trivy_operator": {"scanners": {"token": "abc"}}}, {"trivy_operator": {}}, ["trivy_operator.scanners"]),
    ({"audit_logging": True, "x y": True, "falco": "on"}, {"audit_logging": {"enabled": True}}, ["(invalid feature name)", "falco"]),
    ({"falco": {"alerts": {"telegram": {"token": "123:ABC"}}}}, {"falco": {}}, ["falco.alerts"]),
    ("not a dict", {}, ["features"]),
    # where and how: only names, durations and keywords; anything else is dropped by path
    (
        {
            "trivy_operator": {"enabled": True, "namespaces": ["shop", "payments"], "exclude_namespaces": ["kube-*"], "report_ttl": "30m"},
            "falco": {"driver": "modern_ebpf", "minimum_priority": "warning"},
            "audit_logging": {"policy": "default"},
        },
        {
            "trivy_operator": {"enabled": True, "namespaces": ["shop", "payments"], "exclude_namespaces": ["kube-*"], "report_ttl": "30m"},
            "falco": {"driver": "modern_ebpf", "minimum_priority": "warning"},
            "audit_logging": {"policy": "default"},
        },
        [],
    ),
    ({"trivy_operator": {"namespaces": "all", "report_ttl": None}}, {"trivy_operator": {"namespaces": "all"}}, []),
    (
        {"trivy_operator": {"namespaces": ["hunter2 x"], "report_ttl": "hunter2"}, "falco": {"driver": "Abc:123"}},
        {"trivy_operator": {}, "falco": {}},
        ["trivy_operator.namespaces", "trivy_operator.report_ttl", "falco.driver"],
    ),
]


@pytest.mark.parametrize("given_, clean, dropped", FEATURE_CASES)
def test_features_keep_only_flags_and_channel_names(given_, clean, dropped):
    assert _inputs.sanitize_features(given_) == (clean, dropped)
    model = build([f("A")], features=given_)
    text = json.dumps(model["features"])
    assert "hunter2" not in text and "123:ABC" not in text and "abc" not in text


def test_rendered_files_listing(tmp_path):
    assert _inputs.list_rendered(str(tmp_path)) is None
    (tmp_path / "rendered" / "falco").mkdir(parents=True)
    (tmp_path / "rendered" / "falco" / "values.yaml").write_text("x")
    (tmp_path / "rendered" / ".hidden").write_text("x")
    assert _inputs.list_rendered(str(tmp_path)) == [os.path.join("falco", "values.yaml")]


# ------------------------------------------------------------------------------------------------ caps and notes
def test_html_caps_each_section_and_says_the_rest_is_in_json():
    findings = [f("CVE-%04d" % i, source="trivy-vulnerability", node=None, namespace="ns", severity="medium") for i in range(40)]
    model = build(findings, rows=15)
    html = _render.render_html(model)
    assert "The top 15 of 40 are shown (most severe first); the other 25 are in report.json." in html
    print_html = _render.render_print_html(model, max_rows=10)
    assert "The top 10 of 40 are shown; report.html shows the top 15 and report.json holds all 40." in print_html


def test_every_section_says_what_was_not_collected():
    html = _render.render_html(build([f("A", status="pass")]))
    for text in (
        "No vulnerability results (source trivy-vulnerability) in this run.",
        "No Falco events (source falco) in this run.",
        "No audit-log summary (meta/audit_log_summary.json) in this run.",
        "No containment actions in this run.",
        "No feature state in this run.",
        "No control-plane CIS results (source cis-control-plane) in this run.",
    ):
        assert text in html, text


def test_synthetic_run_renders_every_section(tmp_path):
    run = tmp_path / "c" / "20261124T000000Z"
    synth.write_run(str(run), workloads=10, vulns=99, hostile=True)
    model = _report.build(
        "c",
        run.name,
        _report.FindingsDir(str(run / "findings")),
        today=TODAY,
        inputs=_inputs.read_meta(str(run)),
        actions=_inputs.read_actions(str(run.parent)),
        features={"falco": {"enabled": True, "channels": ["email"]}, "audit_logging": True},
    )
    html = _render.render_html(model)
    for text in (
        "Rule &times; workload matrix",
        "Parameters in force",
        "Top CVEs",
        "Top images",
        "Per namespace",
        "Audit log summary of the period",
        "Top users",
        "Runtime events (Falco)",
        "first seen",
        "Containment actions",
        "isolate",
        "Feature state",
        "email",
        "Score per area",
        "Excluded namespaces (all rules)",
        "deny",
    ):
        assert text.lower() in html.lower(), text
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<img src=x" not in html
