# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issues 14 and 15 for kube-bench: counters that disagree, old version fields, bad records, deep nesting, secrets.

The input is kube-bench's own JSON (fixtures from tests/fixtures/kube-bench, the shape of check/controls.go:
Controls with version/total_*, groups with pass/fail/warn/info, results with actual_value). Every test here failed
on the code before the fix.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _kube_bench
from tests.conftest import assert_valid_findings, run_playbook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kube-bench"


def load(name="node-cis-1.12.json"):
    return json.loads((FIXTURES / name).read_text())


# ------------------------------------------------------------------------------------------------ counters
def test_totals_that_agree_give_no_mismatch():
    _findings, info = _kube_bench.to_findings(load(), "kb.json")
    assert info["totals_mismatch"] == [] and info["counted"] == {"pass": 19, "fail": 2, "warn": 4, "info": 0}


def test_totals_that_disagree_with_the_results_are_flagged():
    doc = load()
    doc["Totals"]["total_fail"] = 0  # e.g. a hand-edited or merged file: "all clear" on top, two FAILs below
    doc["Controls"][0]["total_pass"] = 25
    doc["Controls"][0]["tests"][0]["fail"] = 1
    findings, info = _kube_bench.to_findings(doc, "kb.json")
    assert info["totals_mismatch"] == [
        "kb.json: Controls[0] section 4.1: fail says 1 but 2 FAIL result(s) are listed",
        "kb.json: Controls[0]: total_pass says 25 but 19 PASS result(s) are listed",
        "kb.json: Totals: total_fail says 0 but 2 FAIL result(s) are listed",
    ]
    assert sum(1 for f in findings if f["status"] == "fail") == 2  # findings follow the results, not the counters
    assert info["totals"]["total_fail"] == 0  # kube-bench's own numbers are still passed on, as they were


# ------------------------------------------------------------------------------------------------ version
@pytest.mark.parametrize(
    "version, benchmarks, warning",
    [
        ("cis-1.12", ["cis-1.12"], None),
        ("eks-1.7.0", ["eks-1.7.0"], None),
        ("1.15", ["cis-1.5"], "Kubernetes version (old kube-bench output): mapped to cis-1.5"),
        ("1.20", ["cis-1.20"], "mapped to cis-1.20"),
        ("1.11", [], "older than kube-bench's version mapping; its benchmark is unknown"),
    ],
)
def test_old_style_kubernetes_version_is_mapped_with_kube_benchs_table(version, benchmarks, warning):
    doc = load()
    doc["Controls"][0]["version"] = version
    findings, info = _kube_bench.to_findings(doc, "kb.json")
    assert info["benchmarks"] == benchmarks
    assert {f.get("benchmark") for f in findings} == {benchmarks[0] if benchmarks else None}
    assert "cis-1.15" not in json.dumps([findings, info])  # the benchmark that does not exist
    if warning:
        assert len(info["warnings"]) == 1 and warning in info["warnings"][0]
    else:
        assert info["warnings"] == []


# ------------------------------------------------------------------------------------------------ bad records
def test_a_record_of_the_wrong_type_keeps_the_others():
    doc = load()
    doc["Controls"][0]["tests"].append(42)  # tests: [..., 42]
    doc["Controls"][0]["tests"][1]["results"].insert(0, "not a result")
    doc["Controls"].append({"id": "5", "tests": "oops"})
    findings, info = _kube_bench.to_findings(doc, "kb.json")
    assert len(findings) == 25
    assert info["skipped"] == [
        "kb.json: Controls[0] section 4.2 result 0: not a kube-bench result (found str)",
        "kb.json: Controls[0] tests[3]: not a kube-bench group (found int)",
        "kb.json: Controls[1]: 'tests' is not an array",
    ]


@pytest.mark.parametrize(
    "document", [{"Controls": [{"tests": [42]}]}, [1, 2], {"Controls": [{"tests": [{"section": "1.1", "results": [{"status": "PASS"}]}]}]}]
)
def test_input_with_no_readable_record_is_an_error_naming_it(document):
    with pytest.raises(_kube_bench.KubeBenchError, match="kb.json: no kube-bench result could be read"):
        _kube_bench.to_findings(document, "kb.json")


def test_lone_surrogate_loses_one_record_not_the_file():
    text = json.dumps(load()).replace('"Ensure that the --anonymous-auth argument is set to false (Automated)"', '"bad \\ud800 text"')
    assert "\\ud800" in text
    findings, info = _kube_bench.to_findings(_kube_bench.loads(text, "kb.json"), "kb.json")
    assert len(findings) == 24 and "CIS-4.2.1" not in {f["id"] for f in findings}
    assert info["skipped"] == [
        "kb.json: Controls[0] section 4.2 result 0: record with text that is not valid Unicode (a lone UTF-16 surrogate escape such as \\ud800)"
    ]
    json.dumps([findings, info], ensure_ascii=False).encode("utf-8")  # what Ansible does: no crash


def test_lone_surrogate_in_an_id_is_named_escaped():
    doc = load()
    doc["Controls"][0]["tests"][0]["results"][0]["test_number"] = "4.1.1\udfff"
    findings, info = _kube_bench.to_findings(doc, "kb.json")
    assert len(findings) == 24
    json.dumps(info, ensure_ascii=False).encode("utf-8")
    assert info["skipped"][0].startswith("kb.json: Controls[0] section 4.1 result 0: ")
    assert "\\udfff" in info["skipped"][0]
    # a bad group name makes every record of that group bad: each is named, the other groups are kept
    doc = load()
    doc["Controls"][0]["tests"][0]["section"] = "4.1\udfff"
    findings, info = _kube_bench.to_findings(doc, "kb.json")
    assert len(findings) == 15 and len(info["skipped"]) == 10
    json.dumps(info, ensure_ascii=False).encode("utf-8")


# ------------------------------------------------------------------------------------------------ depth
def test_deeply_nested_json_is_a_clear_error():
    deep = "[" * 100000 + "]" * 100000
    for call in (
        lambda: _kube_bench.loads(deep, "kb.json"),
        lambda: _kube_bench.parse_run_output(deep, "kb.json"),
        lambda: _kube_bench.extract_job_result("%s\n%s\n%s rc=0\n" % (_kube_bench.JOB_MARKER_BEGIN, deep, _kube_bench.JOB_MARKER_END), "kb.json"),
    ):
        with pytest.raises(_kube_bench.KubeBenchError, match="kb.json.*nested deeper"):
            call()


def test_a_nested_value_in_a_text_field_stays_text():
    doc = load()
    nested = {"a": [1, {"b": 2}]}
    doc["Controls"][0]["tests"][0]["results"][0]["AuditConfig"] = nested
    doc["Controls"][0]["tests"][0]["results"][0]["actual_value"] = ["x"]
    findings, _info = _kube_bench.to_findings(doc, "kb.json")
    assert_valid_findings(findings)
    assert findings[0]["evidence"]["AuditConfig"] == '{"a": [1, {"b": 2}]}'
    assert findings[0]["evidence"]["actual"] == '["x"]'


# ------------------------------------------------------------------------------------------------ secrets
@pytest.mark.parametrize(
    "actual, secret",
    [
        ("root 1234 /usr/bin/kubelet --token=s3cr3t-T0ken --v=2", "s3cr3t-T0ken"),
        ("kube-apiserver --basic-auth-password hunter2 --secure-port=6443", "hunter2"),
        ("--etcd-password=abc123", "abc123"),
        ("token=eyJhbGciOiJSUzI1NiJ9.x.y", "eyJhbGciOiJSUzI1NiJ9"),
    ],
)
def test_secrets_in_actual_value_are_redacted(actual, secret):
    doc = load()
    result = doc["Controls"][0]["tests"][1]["results"][0]
    result["actual_value"] = actual
    result["reason"] = "found " + actual
    findings, _info = _kube_bench.to_findings(doc, "kb.json")
    text = json.dumps(findings)
    assert secret not in text and "<redacted>" in findings[10]["evidence"]["actual"]
    assert "--v=2" in text or "--secure-port=6443" in text or "<redacted>" in text


# ------------------------------------------------------------------------------------------------ the module
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Read a kube-bench file with bad records and counters that disagree
      kubesec.cluster.kube_bench:
        path: "{{ kb_path }}"
        node_name: worker-1
      register: kb
    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ kb | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def test_module_keeps_good_records_and_warns(tmp_path):
    doc = load()
    doc["Controls"][0]["tests"].append(42)
    doc["Totals"]["total_fail"] = 0
    doc["Controls"][0]["version"] = "1.15"
    text = json.dumps(doc).replace('"Ensure that the --anonymous-auth argument is set to false (Automated)"', '"bad \\ud800 text"')
    (tmp_path / "kb.json").write_text(text)
    (tmp_path / "kb.yml").write_text(PLAYBOOK)
    out = tmp_path / "out.json"
    proc = run_playbook(tmp_path / "kb.yml", "-e", json.dumps({"kb_path": str(tmp_path / "kb.json"), "out": str(out)}))
    result = json.loads(out.read_text())
    assert len(result["findings"]) == 24 and result["benchmarks"] == ["cis-1.5"]
    assert len(result["skips"]) == 2 and result["totals_mismatch"] == ["%s: Totals: total_fail says 0 but 2 FAIL result(s) are listed" % (tmp_path / "kb.json")]
    assert "disagree with the results it lists" in proc.stdout and "mapped to cis-1.5" in proc.stdout
    assert "2 kube-bench entries could not be read" in proc.stdout
    # counted: the results the file lists, the unreadable one included
    assert copy.deepcopy(result["counted"]) == {"pass": 19, "fail": 2, "warn": 4, "info": 0}
