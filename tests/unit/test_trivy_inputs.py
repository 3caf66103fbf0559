# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issues 14 and 15 for Trivy: inputs other people wrote, read without silent loss or a misleading verdict.

Every test here failed on the code before the fix (checked with the previous _trivy.py). Shapes come from Trivy's
and the Trivy Operator's own docs and types (see tests/fixtures/trivy/README.md) or from the real Trivy 0.59 binary.
"""

import copy
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ansible_collections.kubesec.cluster.plugins.module_utils import _trivy, _trivy_cli, _trivy_operator  # noqa: E402
from tests.unit.test_trivy import (  # noqa: E402
    CLI,
    DEMO_OPERATOR,
    OPERATOR,
    TRIVY_GV,
    assert_schema_valid,
    by_id,
    subprocess_runner,
    trivy_bin,
    trivy_cache,
)

__all__ = ["trivy_bin", "trivy_cache"]  # pytest fixtures re-used from test_trivy

KINDS = OPERATOR / "kinds"
COMPLIANCE = KINDS / "clustercompliancereport-nsa.yaml"
SBOM = KINDS / "sbomreport.yaml"


# ---------------------------------------------------------------------------------------------------------
# trivy_scan: legacy trivy k8s JSON (v0.29-v0.41), never an empty success
# ---------------------------------------------------------------------------------------------------------
def test_legacy_trivy_k8s_report_is_parsed():
    """Before: {"ClusterName", "Vulnerabilities", "Misconfigurations"} went down the k8s branch and gave 0 findings."""
    result = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(CLI / "k8s-legacy-v0.41.json")), cluster="mk")
    assert_schema_valid(result["findings"])
    assert result["artifact"] == {"name": "minikube", "type": "kubernetes", "report": "legacy"}
    found = {
        (f["id"], f["source"], f["resource"]["kind"], f["resource"]["name"], f["resource"]["namespace"], f["resource"]["container"]) for f in result["findings"]
    }
    assert found == {
        ("CVE-2016-2781", "trivy-vulnerability", "Deployment", "app", "default", None),
        ("KSV-0001", "trivy-config", "Deployment", "app", "default", "app"),
        ("KSV-0003", "trivy-config", "Deployment", "app", "default", "app"),
    }
    ksv001 = by_id(result["findings"])["KSV-0001"][0]
    assert ksv001["evidence"]["start_line"] == 121  # IacMetadata, the pre-v0.30 name of CauseMetadata
    assert result["summary"]["misconfigurations"] == {"successes": 20, "failures": 2}
    assert result["warnings"] == ["trivy could not scan Deployment shop/web: unable to pull image: unauthorized"]
    assert result["assessed"] == ["trivy-config", "trivy-vulnerability"] and result["assessed_from"] == "results"


@pytest.mark.parametrize(
    "document, message",
    [
        ({"ClusterName": "c", "Vulnerabilities": {"not": "a list"}}, "ClusterName but none of Resources"),
        ({"ClusterName": "c", "Items": []}, "keys found: ClusterName, Items"),
        ({"kind": "List", "items": []}, "is not a Trivy JSON result.*keys found: items, kind"),
    ],
)
def test_input_not_understood_is_an_error_naming_the_input(document, message):
    with pytest.raises(_trivy.TrivyInputError, match=message):
        _trivy_cli.parse_cli_result(document, origin="scan.json")
    with pytest.raises(_trivy.TrivyInputError, match="scan.json"):
        _trivy_cli.parse_cli_result(document, origin="scan.json")


# ---------------------------------------------------------------------------------------------------------
# trivy_scan: one Kubernetes object = one resource identity
# ---------------------------------------------------------------------------------------------------------
def test_one_object_one_identity_in_a_config_scan():
    """Genuine trivy config result: the Deployment was spread over (ns None), (ns shop) and the file before."""
    result = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(CLI / "config-bad-workloads.json")))
    identities = {}
    for finding in result["findings"]:
        resource = finding["resource"]
        identities.setdefault((resource["kind"], resource["name"], resource["namespace"]), 0)
        identities[(resource["kind"], resource["name"], resource["namespace"])] += 1
    assert identities == {("Deployment", "legacy-api", "shop"): 39, ("Pod", "debug-shell", "default"): 17}
    assert all(f["namespace"] == f["resource"]["namespace"] for f in result["findings"])
    # the KSV118 form names the workload without its kind: "container legacy-api in shop namespace ..."
    ksv118 = by_id(result["findings"])["KSV-0118"][0]["resource"]
    assert (ksv118["kind"], ksv118["name"], ksv118["namespace"]) == ("Deployment", "legacy-api", "shop")


@pytest.mark.parametrize(
    "message, expected",
    [
        (
            "Container 'api' of Deployment 'web' should set 'securityContext.privileged' to false",
            {"kind": "Deployment", "name": "web", "namespace": None, "container": "api"},
        ),
        (
            'container "api" of deployment "web" in "shop" namespace should specify a seccomp profile',
            {"kind": "Deployment", "name": "web", "namespace": "shop", "container": "api"},
        ),
        (
            "deployment web in shop namespace should set metadata.namespace to a non-default namespace",
            {"kind": "Deployment", "name": "web", "namespace": "shop", "container": None},
        ),
        ("container web in shop namespace is using the default security context", {"kind": None, "name": "web", "namespace": "shop", "container": None}),
    ],
)
def test_message_forms(message, expected):
    assert _trivy_cli.resource_from_message(message) == expected


def test_messages_of_two_objects_in_one_chart_file_are_placed_by_lines():
    """A rendered chart template with two objects: unnamed messages go to the object whose lines hold them."""

    def misconf(check, message, start, end):
        return {
            "ID": check,
            "AVDID": "AVD-" + check[:3] + "-0" + check[3:],
            "Title": check,
            "Severity": "LOW",
            "Message": message,
            "Status": "FAIL",
            "CauseMetadata": {"StartLine": start, "EndLine": end},
        }

    document = {
        "SchemaVersion": 2,
        "ArtifactName": "chart",
        "ArtifactType": "filesystem",
        "Results": [
            {
                "Target": "templates/app.yaml",
                "Class": "config",
                "Type": "helm",
                "Misconfigurations": [
                    misconf("KSV001", "Container 'a' of Deployment 'one' should set 'securityContext.allowPrivilegeEscalation' to false", 20, 30),
                    misconf("KSV106", "container should drop all", 22, 22),
                    misconf("KSV104", 'container "b" of deployment "two" in "apps" namespace should specify a seccomp profile', 60, 70),
                    misconf("KSV106", "container should drop all", 62, 62),
                    misconf("KSV105", "securityContext.runAsUser should be set to a value greater than 0", 75, 75),
                    misconf("KSV003", "Container 'b' of Deployment 'two' should add 'ALL' to 'securityContext.capabilities.drop'", 60, 70),
                ],
            }
        ],
    }
    result = _trivy_cli.parse_cli_result(document)
    placed = [(f["id"], f["resource"]["name"], f["resource"]["namespace"]) for f in result["findings"]]
    assert placed == [
        ("KSV-0001", "one", None),
        ("KSV-0106", "one", None),
        ("KSV-0104", "two", "apps"),
        ("KSV-0106", "two", "apps"),
        ("KSV-0105", "two", "apps"),
        ("KSV-0003", "two", "apps"),
    ]


# ---------------------------------------------------------------------------------------------------------
# trivy_scan: VEX and ignore files (ExperimentalModifiedFindings) -> waived, with the reason
# ---------------------------------------------------------------------------------------------------------
def test_suppressed_findings_of_the_real_binary_are_waived():
    """Genuine `trivy fs --scanners misconfig,secret --show-suppressed --ignorefile` output (Trivy 0.59.1)."""
    result = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(CLI / "fs-show-suppressed.json")))
    assert_schema_valid(result["findings"])
    waived = [f for f in result["findings"] if f["status"] == "waived"]
    assert [(f["id"], f["resource"]["kind"], f["resource"]["name"], f["resource"]["container"]) for f in waived] == [("KSV-0017", "Deployment", "api", "api")]
    assert waived[0]["original_status"] == "fail"
    assert waived[0]["waiver"]["reason"] == "ignored according to ignore.txt (no statement given)"
    assert result["summary"]["modified"] == 1
    # the passed KSV017 of the ConfigMap that the ignore rule also matched is no finding at all
    assert not any(f["status"] == "pass" for f in result["findings"])


def test_vex_not_affected_vulnerability_is_waived_with_the_statement():
    """A vulnerability VEX took out, in the ModifiedFinding shape of pkg/types/finding.go."""
    document = json.loads((CLI / "image-vulns.json").read_text())
    result_entry = document["Results"][0]
    vuln = copy.deepcopy(result_entry["Vulnerabilities"][0])
    result_entry["ExperimentalModifiedFindings"] = [
        {
            "Type": "vulnerability",
            "Status": "not_affected",
            "Statement": "vulnerable_code_not_in_execute_path",
            "Source": "openvex.json (OpenVEX)",
            "Finding": vuln,
        }
    ]
    result_entry["Vulnerabilities"] = result_entry["Vulnerabilities"][1:]
    result = _trivy_cli.parse_cli_result(document)
    assert_schema_valid(result["findings"])
    waived = [f for f in result["findings"] if f["status"] == "waived"]
    assert [f["id"] for f in waived] == [vuln["VulnerabilityID"]]
    assert waived[0]["waiver"]["reason"] == ("not affected according to openvex.json (OpenVEX): vulnerable_code_not_in_execute_path")
    assert waived[0]["evidence"]["vex_status"] == "not_affected"
    assert waived[0]["resource"]["kind"] == "Image"
    before = _trivy_cli.parse_cli_result(json.loads((CLI / "image-vulns.json").read_text()))
    assert result["summary"]["findings"] == before["summary"]["findings"]  # nothing lost


def test_modified_findings_that_cannot_be_read_are_named():
    document = {
        "SchemaVersion": 2,
        "ArtifactName": "x",
        "ArtifactType": "filesystem",
        "Results": [
            {
                "Target": "a.yaml",
                "Class": "config",
                "ExperimentalModifiedFindings": [{"Type": "wasm", "Status": "ignored", "Finding": {"ID": "X1"}}, {"Type": "vulnerability"}],
            }
        ],
    }
    result = _trivy_cli.parse_cli_result(document, origin="scan.json")
    reasons = {s["reason"]: s["examples"][0] for s in result["skips"]}
    assert reasons == {
        "modified finding of an unknown Type (wasm)": "scan.json Results[0].ExperimentalModifiedFindings[0]",
        "modified finding without a Finding mapping": "scan.json Results[0].ExperimentalModifiedFindings[1]",
    }


# ---------------------------------------------------------------------------------------------------------
# trivy_scan: what was assessed (issue 15: a config-only scan must not claim vulnerabilities)
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "subcommand, extra, scanners",
    [
        ("config", [], ["misconfig"]),
        ("config", ["--scanners", "vuln"], ["misconfig"]),  # trivy config has no --scanners: misconfig is all it runs
        ("fs", [], ["vuln", "secret"]),
        ("image", ["--scanners=vuln"], ["vuln"]),
        ("fs", ["--security-checks", "config,secret"], ["misconfig", "secret"]),
        ("k8s", [], ["vuln", "misconfig", "secret", "rbac"]),
        ("k8s", ["--scanners", "misconfig,rbac"], ["misconfig", "rbac"]),
    ],
)
def test_scanners_of_a_command(subcommand, extra, scanners):
    assert _trivy_cli.scanners_of(subcommand, extra) == scanners


def test_unknown_scanner_is_an_error():
    with pytest.raises(_trivy.TrivyInputError, match="unknown Trivy scanner.*vulns"):
        _trivy_cli.scanners_of("fs", ["--scanners", "vulns"])


def test_config_only_results_do_not_claim_vulnerabilities():
    config = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(CLI / "config-bad-workloads.json")))
    assert config["assessed"] == ["trivy-config"] and config["summary"]["assessed"] == ["trivy-config"]
    image = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(CLI / "image-vulns.json")))
    assert image["assessed"] == ["trivy-exposed-secret", "trivy-vulnerability"]
    k8s = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(CLI / "k8s-report-all.json")))
    assert k8s["assessed"] == ["trivy-config", "trivy-rbac"]  # it ran with --scanners misconfig,rbac


def test_real_trivy_config_scan_assesses_configuration_only(trivy_bin, trivy_cache):
    offline = ["--skip-check-update", "--quiet", "--cache-dir", trivy_cache]
    result = _trivy_cli.run_scan(subprocess_runner, trivy_bin, "config", str(CLI.parent / "manifests" / "good"), offline)
    assert result["findings"] == [] and result["scanners"] == ["misconfig"]
    assert result["assessed"] == ["trivy-config"] and result["assessed_from"] == "command"


# ---------------------------------------------------------------------------------------------------------
# redaction of secrets quoted in config-audit messages
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message, secret",
    [
        ("Container 'api' of Deployment 'api' sets env DB_URL to 'password=Sup3rS3cret'", "Sup3rS3cret"),
        ("ConfigMap 'cfg' in 'shop' namespace stores secrets in value 'token=abc123def'", "abc123def"),
        ("container 'api' runs with args '--token=eyJhbGciOi --v=2'", "eyJhbGciOi"),
        ("container 'api' runs with args '--password hunter2'", "hunter2"),
    ],
)
def test_secrets_in_misconfiguration_messages_are_redacted(message, secret):
    document = json.loads((CLI / "fs-show-suppressed.json").read_text())
    document["Results"][0]["Misconfigurations"][0]["Message"] = message
    result = _trivy_cli.parse_cli_result(document)
    assert secret not in json.dumps(result)
    assert "<redacted>" in result["findings"][0]["evidence"]["message"]
    operator = _trivy_operator.ReportCollector()
    operator.add_object(
        {
            "apiVersion": TRIVY_GV,
            "kind": "ConfigAuditReport",
            "metadata": {
                "name": "deployment-api",
                "namespace": "shop",
                "labels": {_trivy_operator.LABEL_KIND: "Deployment", _trivy_operator.LABEL_NAME: "api"},
            },
            "report": {"checks": [{"checkID": "KSV109", "severity": "HIGH", "success": False, "messages": [message]}]},
        },
        "export.yaml document 1",
    )
    assert secret not in json.dumps(operator.result())


# ---------------------------------------------------------------------------------------------------------
# trivy_reports: SbomReport and ClusterComplianceReport are real kinds
# ---------------------------------------------------------------------------------------------------------
def test_sbom_and_compliance_reports_are_named_and_summarized():
    """Before: "not a Trivy Operator report kind (SbomReport)" and the compliance summary was lost."""
    result = _trivy_operator.collect_from_path(str(KINDS), cluster="demo", kinds=["SbomReport", "ClusterComplianceReport"])
    assert result["skips"] == []
    assert result["findings"] == []  # neither makes findings of its own
    sbom = [r for r in result["reports"] if r["kind"] == "SbomReport"]
    assert sbom == [
        {
            "kind": "SbomReport",
            "name": "pod-kube-apiserver-kind-control-plane-kube-apiserver",
            "namespace": "kube-system",
            "resource": {"kind": "Pod", "name": "kube-apiserver-kind-control-plane", "namespace": "kube-system", "container": "kube-apiserver"},
            "container": "kube-apiserver",
            "artifact": "k8s.gcr.io/kube-apiserver:v1.21.1",
            "summary": {"componentsCount": 5, "dependenciesCount": 5},
            "sbom": {"format": "CycloneDX", "spec_version": "1.4", "components_listed": 3},
            "scanner": "Trivy 0.62.1",
            "updated": "2023-07-10T09:37:21Z",
            "findings": 0,
            "origin": str(SBOM) + " document 1",
        }
    ]
    compliance = result["compliance"]
    assert result["summary"]["compliance"] == compliance  # summary goes to meta/trivy_reports.json
    assert [(c["name"], c["pass_count"], c["fail_count"]) for c in compliance] == [("nsa", 15, 12)]
    nsa = compliance[0]
    assert (nsa["id"], nsa["title"], nsa["version"]) == ("0001", "nsa", "1.0")
    controls = {c["id"]: c for c in nsa["controls"]}
    assert controls["1.0"] == {"id": "1.0", "name": "Non-root containers", "severity": "medium", "total_fail": 8, "status": "fail"}
    assert controls["1.3"]["status"] == "pass" and controls["1.3"]["total_fail"] == 0
    assert controls["3.0"]["status"] == "manual" and "total_fail" not in controls["3.0"]
    assert (nsa["controls_failed"], nsa["controls_manual"]) == (12, 4)
    assert result["summary"]["by_kind"]["ClusterComplianceReport"]["reports"] == 1


def test_compliance_report_with_only_a_detail_report_counts_its_failed_checks():
    obj = {
        "apiVersion": TRIVY_GV,
        "kind": "ClusterComplianceReport",
        "metadata": {"name": "cis"},
        "spec": {"reportType": "all", "compliance": {"id": "cis", "title": "CIS Kubernetes Benchmarks v1.23", "version": "1.0"}},
        "status": {
            "summary": {"failCount": 1, "passCount": 1},
            "detailReport": {
                "results": [
                    {
                        "id": "5.2.2",
                        "name": "Minimize the admission of privileged containers",
                        "severity": "HIGH",
                        "checks": [
                            {"checkID": "AVD-KSV-0017", "success": False, "target": "shop/deployment-api"},
                            {"checkID": "AVD-KSV-0017", "success": False, "target": "shop/deployment-web"},
                        ],
                    },
                    {
                        "id": "5.2.3",
                        "name": "Minimize the admission of containers sharing the host PID",
                        "severity": "HIGH",
                        "checks": [{"checkID": "", "severity": "", "success": True}],
                    },
                ]
            },
        },
    }
    collector = _trivy_operator.ReportCollector()
    collector.add_object(obj, "cis.yaml document 1")
    entry = collector.result()["compliance"][0]
    assert [(c["id"], c["total_fail"], c["status"]) for c in entry["controls"]] == [("5.2.2", 2, "fail"), ("5.2.3", 0, "pass")]
    assert entry["report_type"] == "all" and entry["title"] == "CIS Kubernetes Benchmarks v1.23"


def test_demo_exports_still_read_with_the_new_kinds():
    result = _trivy_operator.collect_from_path(str(DEMO_OPERATOR), cluster="demo")
    assert result["findings"] and not result["skips"]


# ---------------------------------------------------------------------------------------------------------
# issue 15: one bad record keeps the good ones; deep nesting is a clear error naming the file
# ---------------------------------------------------------------------------------------------------------
def _vuln_report_json(titles):
    vulns = [
        {"vulnerabilityID": "CVE-2024-%04d" % (index + 1), "resource": "openssl", "installedVersion": "3.0.1", "severity": "HIGH", "title": title}
        for index, title in enumerate(titles)
    ]
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": TRIVY_GV,
                "kind": "VulnerabilityReport",
                "metadata": {
                    "name": "replicaset-web-1-nginx",
                    "namespace": "shop",
                    "labels": {_trivy_operator.LABEL_KIND: "ReplicaSet", _trivy_operator.LABEL_NAME: "web-1", _trivy_operator.LABEL_CONTAINER: "nginx"},
                },
                "report": {"artifact": {"repository": "library/nginx", "tag": "1.25"}, "vulnerabilities": vulns},
            }
        ],
    }


def test_lone_surrogate_loses_one_record_not_the_source(tmp_path):
    path = tmp_path / "vulns.json"
    text = json.dumps(_vuln_report_json(["good one", "BAD", "good two"])).replace('"BAD"', '"bad \\ud800 title"')
    path.write_text(text)
    result = _trivy_operator.collect_from_path(str(path), cluster="demo")
    assert [f["id"] for f in result["findings"]] == ["CVE-2024-0001", "CVE-2024-0003"]
    json.dumps(result, ensure_ascii=False).encode("utf-8")  # what Ansible does with the result: no crash
    skip = result["skips"][0]
    assert skip["count"] == 1 and "lone UTF-16 surrogate" in skip["reason"]
    assert skip["examples"] == ["VulnerabilityReport shop/replicaset-web-1-nginx (%s document 1 item 1) .report.vulnerabilities[1]" % path]
    assert any("lone UTF-16 surrogate" in w and str(path) in w for w in result["warnings"])
    # a valid surrogate pair (an emoji written as \ud83d\ude00) is fine
    path.write_text(json.dumps(_vuln_report_json(["ok"])).replace('"ok"', '"ok \\ud83d\\ude00"'))
    assert _trivy_operator.collect_from_path(str(path))["skips"] == []


def test_lone_surrogate_in_report_metadata_skips_that_report(tmp_path):
    data = _vuln_report_json(["a"])
    data["items"].append(copy.deepcopy(data["items"][0]))
    data["items"][1]["metadata"]["name"] = "BADNAME"
    path = tmp_path / "vulns.json"
    path.write_text(json.dumps(data).replace('"BADNAME"', '"x\\udfff"'))
    result = _trivy_operator.collect_from_path(str(path))
    assert len(result["reports"]) == 1 and len(result["findings"]) == 1
    assert "item 2" in result["skips"][0]["examples"][0]
    json.dumps(result, ensure_ascii=False).encode("utf-8")


def test_lone_surrogate_in_a_cli_result_loses_one_record():
    document = json.loads(json.dumps(_trivy_cli.load_cli_file(str(CLI / "config-bad-workloads.json"))))
    document["Results"][0]["Misconfigurations"][3]["Title"] = "bad \ud800"
    result = _trivy_cli.parse_cli_result(document, origin="scan.json")
    assert result["summary"]["findings"] == 55 and result["summary"]["skipped"] == 1
    assert result["skips"][0]["examples"] == ["scan.json Results[0].Misconfigurations[3]"]
    json.dumps(result, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("name", ["deep.json", "deep.yaml"])
def test_deeply_nested_export_is_a_clear_error(tmp_path, name):
    path = tmp_path / name
    path.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(_trivy.TrivyInputError) as info:
        _trivy_operator.collect_from_path(str(path))
    assert str(path) in str(info.value) and "nested" in str(info.value)


def test_deeply_nested_cli_result_is_a_clear_error(tmp_path):
    path = tmp_path / "trivy.json"
    path.write_text('{"SchemaVersion": 2, "Results": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(_trivy.TrivyInputError, match="%s: nested deeper" % path):
        _trivy_cli.load_cli_file(str(path))
    with pytest.raises(_trivy.TrivyRunError, match="nested deeper"):
        _trivy_cli.decode_run(["trivy", "config"], 0, "[" * 100000 + "]" * 100000, "")


def test_empty_export_file_is_named(tmp_path):
    (tmp_path / "empty.yaml").write_text("# nothing exported\n")
    (tmp_path / "reports.json").write_text(json.dumps(_vuln_report_json(["a"])))
    result = _trivy_operator.collect_from_path(str(tmp_path))
    assert result["skips"] == [{"reason": "file without any YAML/JSON document", "count": 1, "examples": [str(tmp_path / "empty.yaml")]}]


def test_surrogate_check_runs_when_the_file_has_an_escape(tmp_path):
    """Strict UTF-8 lets no surrogate through, so only files with a \\ud8xx-\\udfff escape are checked per record."""
    document = _trivy_cli.load_cli_file(str(CLI / "config-bad-workloads.json"))
    document["Results"][0]["Misconfigurations"][0]["Title"] = "BAD"
    path = tmp_path / "scan.json"
    path.write_text(json.dumps(document).replace('"BAD"', '"bad \\udc00"'))
    flags = {}
    data = _trivy_cli.load_cli_file(str(path), flags)
    assert flags == {"surrogate_escapes": True}
    result = _trivy_cli.parse_cli_result(data, origin=str(path), check_text=flags["surrogate_escapes"])
    assert result["summary"]["skipped"] == 1 and result["summary"]["findings"] == 55
    flags = {}
    _trivy_cli.load_cli_file(str(CLI / "config-bad-workloads.json"), flags)
    assert flags == {"surrogate_escapes": False}
    assert _trivy.may_hold_surrogates('"\\U0000D800"') and not _trivy.may_hold_surrogates('"\\u00e9 \\ud7ff"')


def test_lone_surrogate_in_an_annotation_that_is_not_copied_loses_nothing(tmp_path):
    data = _vuln_report_json(["a", "b"])
    data["items"][0]["metadata"]["annotations"] = {"note": "BADNOTE"}
    path = tmp_path / "vulns.json"
    path.write_text(json.dumps(data).replace('"BADNOTE"', '"x\\ud800"'))
    result = _trivy_operator.collect_from_path(str(path))
    assert len(result["findings"]) == 2 and result["skips"] == []
    json.dumps(result, ensure_ascii=False).encode("utf-8")


def test_report_without_its_items_key_is_a_warning_not_a_silent_zero():
    collector = _trivy_operator.ReportCollector()
    obj = _vuln_report_json(["a"])["items"][0]
    obj["report"] = {"artifact": obj["report"]["artifact"], "findings": [{"id": "CVE-1"}]}  # not the operator's key
    collector.add_object(obj, "vulns.json document 1 item 1")
    result = collector.result()
    assert result["findings"] == []
    assert result["warnings"] == [
        "1 reports without .report.vulnerabilities were read as having none (first: "
        "VulnerabilityReport shop/replicaset-web-1-nginx (vulns.json document 1 item 1))"
    ]


def test_other_trivy_operator_kinds_are_named_as_such():
    collector = _trivy_operator.ReportCollector()
    collector.add_object({"apiVersion": TRIVY_GV, "kind": "ClusterComplianceDetailReport", "metadata": {"name": "nsa-details"}}, "old.yaml document 1")
    collector.add_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, "old.yaml document 2")
    reasons = [s["reason"] for s in collector.result()["skips"]]
    assert reasons == ["Trivy Operator kind that kubesec does not read (ClusterComplianceDetailReport)", "not a Trivy Operator report kind (ConfigMap)"]
