"""kube-bench JSON ingest: both documented shapes, same ids as the native audit, broken input named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _kube_bench
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue
from tests.conftest import assert_valid_findings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kube-bench"
CATALOGUE = _catalogue.load("cis-1.12")


def load(name):
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize("name", ["node-cis-1.12.json", "node-cis-1.12-nototals.json"])
def test_both_shapes_give_the_same_findings(name):
    findings, info = _kube_bench.to_findings(load(name), name, cluster="c", node="w1", catalogue=CATALOGUE)
    assert_valid_findings(findings)
    assert len(findings) == 25
    counts = {s: sum(1 for f in findings if f["status"] == s) for s in ("pass", "fail", "warn")}
    assert counts == {"pass": 19, "fail": 2, "warn": 4}
    assert info["benchmarks"] == ["cis-1.12"]
    assert {f["source"] for f in findings} == {"kube-bench"}


def test_totals_are_kept_and_match():
    info = _kube_bench.to_findings(load("node-cis-1.12.json"))[1]
    assert info["totals"] == {"total_pass": 19, "total_fail": 2, "total_warn": 4, "total_info": 0}


def test_ids_and_severities_match_the_native_catalogue():
    findings, _ = _kube_bench.to_findings(load("node-cis-1.12.json"), catalogue=CATALOGUE)
    native = {"CIS-" + str(c["id"]): c["severity"] for c in CATALOGUE["checks"] if str(c["id"]).startswith("4.")}
    assert {f["id"] for f in findings} == set(native)
    for finding in findings:
        assert finding["severity"] == native[finding["id"]]
    by_id = {f["id"]: f for f in findings}
    assert by_id["CIS-4.1.1"]["status"] == "fail"
    assert by_id["CIS-4.1.1"]["evidence"]["actual"] == "permissions=644"
    assert by_id["CIS-4.2.12"]["scored"] is False


def test_unknown_status_and_missing_numbers_are_counted_not_dropped():
    doc = load("node-cis-1.12.json")
    results = doc["Controls"][0]["tests"][0]["results"]
    results[0]["status"] = "MAYBE"
    del results[1]["test_number"]
    findings, info = _kube_bench.to_findings(doc, "kb.json")
    assert len(findings) == 23
    assert len(info["skipped"]) == 2
    assert "unknown status 'MAYBE'" in info["skipped"][0]
    assert info["skipped"][0].startswith("kb.json: Controls[0] section 4.1")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"Totals": {}}, "without 'Controls'"),
        ({"Controls": {"a": 1}}, "'Controls' must be an array"),
        ("text", "expected an object or an array"),
        ([1, 2], r"Controls\[0\] is not a kube-bench Controls object"),
    ],
)
def test_wrong_documents_are_named(document, message):
    with pytest.raises(_kube_bench.KubeBenchError, match=message):
        _kube_bench.to_findings(document, "input.json")


def test_truncated_json_names_the_input():
    text = (FIXTURES / "node-cis-1.12.json").read_text()[:500]
    with pytest.raises(_kube_bench.KubeBenchError, match="kb.json is not valid JSON"):
        _kube_bench.loads(text, "kb.json")


def test_hostile_strings_stay_text():
    doc = load("node-cis-1.12.json")
    doc["Controls"][0]["tests"][0]["results"][0]["test_desc"] = "<script>alert(1)</script>"
    findings, _ = _kube_bench.to_findings(doc)
    assert findings[0]["title"] == "<script>alert(1)</script>"
