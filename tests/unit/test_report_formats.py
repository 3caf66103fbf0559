"""report.json against docs/report.schema.json, junit.xml structure, results.sarif against the OASIS SARIF 2.1.0 schema."""

from __future__ import annotations

import datetime
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats, _inputs, _report

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "report"))
import synth  # noqa: E402

TODAY = datetime.date(2026, 11, 24)
FINDING_SCHEMA = json.loads((ROOT / "docs" / "findings.schema.json").read_text())
REPORT_SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text())
SARIF_SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json").read_text())
CONTROL = 'bad\x00\x07\x1b[31mred <x> & "q"'


def report_validator():
    registry = Registry().with_resource(FINDING_SCHEMA["$id"], Resource.from_contents(FINDING_SCHEMA))
    return jsonschema.Draft202012Validator(REPORT_SCHEMA, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def assert_valid_report(data):
    errors = sorted(report_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "; ".join("%s: %s" % ("/".join(map(str, e.absolute_path)), e.message) for e in errors[:10])


def assert_valid_sarif(data):
    validator = jsonschema.Draft4Validator(SARIF_SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "; ".join("%s: %s" % ("/".join(map(str, e.absolute_path)), e.message) for e in errors[:10])


def finding(fid, status="fail", source="cis-node", severity="high", **kw):
    node = kw.pop("node", "n1")
    return make_finding(
        fid,
        source,
        kw.pop("title", "title " + fid),
        status,
        severity=severity,
        cluster="c1",
        node=node,
        namespace=kw.pop("namespace", None),
        resource=kw.pop("resource", {"kind": "Node", "name": node}),
        evidence=kw.pop("evidence", {"expected": "x", "actual": "y", "file": "/etc/kubernetes/a b.conf"}),
        **kw,
    )


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("reports")
    cluster = base / "synth"
    first = cluster / "20261123T000000Z"
    synth.write_run(str(first), workloads=15, vulns=150, seed=1)
    second = cluster / "20261124T000000Z"
    synth.write_run(str(second), workloads=15, vulns=150, seed=2, hostile=True)
    for run in (first, second):
        model = _report.build(
            "synth",
            run.name,
            _report.FindingsDir(str(run / "findings")),
            today=TODAY,
            waivers=[
                {"id": "KSV-0*", "reason": "tenant-owned, review 2027", "expires": "2027-06-30"},
                {"id": "CIS-4.2.13", "reason": "old", "expires": "2020-01-01"},
            ],
            previous_run_id=_report.previous_run(str(cluster), run.name),
            previous_findings=(
                _formats.iter_report_findings(str(cluster / _report.previous_run(str(cluster), run.name) / "report.json"))
                if _report.previous_run(str(cluster), run.name)
                else None
            ),
            history=_report.read_history(str(cluster), run.name),
            inputs=_inputs.read_meta(str(run)),
            actions=_inputs.read_actions(str(cluster)),
            features={"falco": {"enabled": True, "channels": ["telegram"]}},
            fail_on={"severity": "critical"},
        )
        _report.write_outputs(model, {"json": str(run / "report.json"), "junit": str(run / "junit.xml"), "sarif": str(run / "results.sarif")})
    return second


# ------------------------------------------------------------------------------------------------ report.json
def test_report_json_validates_and_holds_every_finding(synth_run):
    data = json.loads((synth_run / "report.json").read_text())
    assert_valid_report(data)
    written = sum(len(json.loads(p.read_text())) for p in (synth_run / "findings").glob("*.json"))
    # report.json keeps every source's finding; the summary counts one result per CIS check and node (issue 24:
    # kube-bench and the native audit reporting the same check on the same node used to be counted twice)
    assert len(data["findings"]) == written == data["summary"]["total"] + data["sections"]["cis_duplicates"]
    assert data["sections"]["cis_duplicates"] > 0
    assert data["previous_run_id"] == "20261123T000000Z" and data["delta"] is not None
    assert [h["run_id"] for h in data["history"]] == ["20261123T000000Z", "20261124T000000Z"]
    assert data["summary"]["by_status"]["waived"] > 0


def test_schema_rejects_what_it_should():
    model = _report.build("c1", "r1", [finding("A")], today=TODAY, generated_at="2026-11-24T00:00:00Z")
    data = json.loads(json.dumps(dict((k, v) for k, v in model.items() if not k.startswith("_"))))
    assert_valid_report(data)
    for broken in (
        {"schema_version": 1},
        {"unexpected": 1},
        {"features": {"falco": {"password": "x"}}},
        {"findings": [{"id": "A"}]},
        {"generated_at": "yesterday"},
    ):
        candidate = dict(data, **broken)
        assert list(report_validator().iter_errors(candidate)), broken


# ------------------------------------------------------------------------------------------------ JUnit
def test_junit_has_one_case_per_finding_failures_and_skips(synth_run):
    data = json.loads((synth_run / "report.json").read_text())
    root = ET.parse(synth_run / "junit.xml").getroot()  # a strict XML parser: well-formed
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    cases = suites[0].findall("testcase")
    # one case per finding of each source (the summary counts one result per CIS check and node)
    by_status = dict((s, sum(c[s] for c in data["summary"]["by_source"].values())) for s in ("fail", "warn", "waived"))
    assert len(cases) == len(data["findings"]) == int(root.get("tests")) == int(suites[0].get("tests"))
    failures = [c for c in cases if c.find("failure") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(failures) == by_status["fail"] == int(root.get("failures"))
    assert len(skipped) == by_status["waived"] + by_status["warn"] == int(root.get("skipped"))
    assert all(c.get("name") and c.get("classname").startswith("kubesec.synth.") for c in cases)
    waived = [c for c in skipped if c.find("skipped").get("message").startswith("waived")]
    assert len(waived) == by_status["waived"] and "tenant-owned" in waived[0].find("skipped").get("message")
    assert all(f.find("failure").get("type") in ("critical", "high", "medium", "low", "info", "unknown") for f in failures)


def test_junit_survives_control_characters_and_markup(tmp_path):
    model = _report.build(CONTROL, "r1", [finding(CONTROL, title=CONTROL, remediation=CONTROL)], today=TODAY)
    _report.write_outputs(model, {"junit": str(tmp_path / "junit.xml")})
    root = ET.parse(tmp_path / "junit.xml").getroot()
    case = root.find("testsuite/testcase")
    assert '<x> & "q"' in case.get("name") and "\x00" not in case.get("name")
    assert "<x>" in case.find("failure").text


def test_lone_surrogates_from_an_input_file_do_not_break_any_output(tmp_path):
    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _render

    item = finding("X", title="placeholder")
    text = json.dumps([item]).replace("placeholder", "bad \\ud800 text")
    (tmp_path / "findings").mkdir()
    (tmp_path / "findings" / "a.json").write_text(text)
    model = _report.build("c1", "r1", _report.FindingsDir(str(tmp_path / "findings")), today=TODAY)
    _report.write_outputs(model, {"json": str(tmp_path / "report.json"), "junit": str(tmp_path / "junit.xml"), "sarif": str(tmp_path / "results.sarif")})
    _report.write_atomic(str(tmp_path / "report.html"), _render.render_html(model))
    assert json.loads((tmp_path / "report.json").read_text())["findings"][0]["title"] == "bad \ud800 text"
    ET.parse(tmp_path / "junit.xml")
    assert_valid_sarif(json.loads((tmp_path / "results.sarif").read_text()))


# ------------------------------------------------------------------------------------------------ SARIF
def test_sarif_validates_against_the_oasis_schema(synth_run):
    data = json.loads((synth_run / "results.sarif").read_text())
    assert_valid_sarif(data)
    report = json.loads((synth_run / "report.json").read_text())
    run = data["runs"][0]
    results = run["results"]
    by_status = report["summary"]["by_status"]
    assert len(results) == by_status["fail"] + by_status["warn"] + by_status["waived"]
    rules = run["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    assert len({r["id"] for r in rules}) == len(rules)
    suppressed = [r for r in results if r.get("suppressions")]
    assert len(suppressed) == by_status["waived"]
    assert suppressed[0]["suppressions"][0]["justification"] == "tenant-owned, review 2027"
    fps = {f["fingerprint"] for f in report["findings"]}
    assert all(r["partialFingerprints"]["kubesecFingerprint/v1"] in fps for r in results)
    assert {r["level"] for r in results} <= {"error", "warning", "note"}
    assert run["automationDetails"]["id"] == "kubesec/synth/20261124T000000Z"


def test_sarif_with_hostile_text_and_no_results_still_validates(tmp_path):
    model = _report.build("c1", "r1", [finding(CONTROL, title=CONTROL, evidence={"file": '/etc/a b%"<>.conf'}), finding("P", status="pass")], today=TODAY)
    _report.write_outputs(model, {"sarif": str(tmp_path / "a.sarif")})
    data = json.loads((tmp_path / "a.sarif").read_text())
    assert_valid_sarif(data)
    location = data["runs"][0]["results"][0]["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "/etc/a%20b%25%22%3C%3E.conf"
    empty = _report.build("c1", "r1", [finding("P", status="pass")], today=TODAY)
    _report.write_outputs(empty, {"sarif": str(tmp_path / "b.sarif")})
    data = json.loads((tmp_path / "b.sarif").read_text())
    assert_valid_sarif(data)
    assert data["runs"][0]["results"] == []


def test_sarif_schema_is_the_official_one():
    assert SARIF_SCHEMA["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SARIF_SCHEMA).validate({"version": "2.1.0", "runs": [{"results": []}]})
