"""The README's first command, end to end: site.yml on the demo inventory writes a real report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pypdf import PdfReader

from tests.conftest import ROOT, assert_valid_findings, run_playbook
from tests.testbed.nodetree import demo_trees


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    demo_trees(ROOT / "inventories/demo/hosts.yml", base / "nodes")
    # as `make demo` does: a day of API-server audit log on the control plane, ending now
    subprocess.run([sys.executable, str(ROOT / "scripts" / "demo_audit_log.py"), str(base / "nodes" / "demo-cp-1")], check=True, capture_output=True)
    reports = base / "reports"
    extra = json.dumps({"kubesec_node_root": str(base / "nodes") + "/{{ inventory_hostname }}", "kubesec_reports_dir": str(reports)})
    # as `make demo` does: the feature toggles (render-only on the demo) first, then harden, audit, report
    first = run_playbook(
        "--vault-id", "demo@%s" % (ROOT / "inventories/demo/vault-password.txt"), ROOT / "playbooks/features.yml", ROOT / "playbooks/site.yml", "-e", extra
    )
    # A second run a second later: same cluster, so it is compared with the first.
    second = run_playbook(ROOT / "playbooks/site.yml", "-e", extra, "-e", "kubesec_run_id=29991231T235959Z")
    runs = sorted(p for p in (reports / "demo").iterdir() if (p / "report.json").exists())
    return {"runs": runs, "first": first.stdout, "second": second.stdout, "reports": reports}


DEMO_SECRETS = ("Demo-UI-pass-7f3c9a", "7000000001:AAdemoTOKENnotREALxx9Q")  # vaulted in inventories/demo/group_vars/demo/main.yml


def test_features_are_rendered_not_applied_and_shown_in_the_report(demo_runs):
    rendered = demo_runs["reports"] / "demo" / "rendered"
    for feature in ("falco", "trivy-operator"):
        meta = json.loads((rendered / feature / "render.json").read_text())
        assert meta["applied"] is False, meta
        assert (rendered / feature / "values.yaml").is_file() and (rendered / feature / "application.yaml").is_file()
    assert "FILL-IN(" in (rendered / "falco" / "secrets.yaml").read_text()
    features = json.loads((demo_runs["runs"][0] / "report.json").read_text())["features"]
    assert features["falco"]["enabled"] and features["falco"]["ui"] and features["falco"]["channels"] == ["telegram"]
    assert features["trivy_operator"]["enabled"] and features["audit_logging"]["enabled"]
    assert "Files written per cluster" in demo_runs["first"]


def test_no_demo_secret_in_any_file_or_output(demo_runs):
    import base64

    texts = [demo_runs["first"], demo_runs["second"]]
    texts += [p.read_text(errors="replace") for p in demo_runs["reports"].rglob("*") if p.is_file() and p.suffix != ".pdf"]
    for secret in DEMO_SECRETS:
        for form in (secret, base64.b64encode(secret.encode()).decode()):
            assert not any(form in text for text in texts), form


def test_every_run_writes_json_html_pdf(demo_runs):
    assert len(demo_runs["runs"]) == 2
    for run in demo_runs["runs"]:
        for name in ("report.json", "report.html", "report.pdf"):
            assert (run / name).stat().st_size > 1000, name
        assert sorted(p.name for p in (run / "findings").iterdir()) == [
            "audit-log-demo-cp-1.json",
            "cis-demo-cp-1.json",
            "cis-demo-worker-1.json",
            "cis-demo-worker-2.json",
            "cis-policies-demo.json",
            "falco-demo.json",
            "kube-bench-demo-worker-1.json",
            "node-currency-demo-cp-1.json",
            "node-currency-demo-worker-1.json",
            "node-currency-demo-worker-2.json",
            "trivy-cli-bad-workloads.json",
            "trivy-operator-demo.json",
            "workload-demo.json",
        ]
        assert sorted(p.name for p in (run / "meta").iterdir()) >= [
            "audit_log_summary.json",
            "cis_policies.json",
            "falco_groups.json",
            "sources.json",
            "trivy_reports.json",
            "workload_rules.json",
        ]


def test_demo_report_shows_the_audit_log_incidents_of_the_last_hour(demo_runs):
    report = json.loads((demo_runs["runs"][0] / "report.json").read_text())
    audit = {f["id"]: f for f in report["findings"] if f["source"] == "audit-log"}
    assert {"KS-AUDIT-003", "KS-AUDIT-004", "KS-AUDIT-005", "KS-AUDIT-006", "KS-AUDIT-007"} <= set(audit)
    assert "payments/payments-db-0" in audit["KS-AUDIT-007"]["description"]
    area = next(a for a in report["areas"] if a["area"] == "audit_log")
    assert area["assessed"] is True
    html = (demo_runs["runs"][0] / "report.html").read_text()
    assert "Attempted secret access (denied)" in html and "still open" in html
    assert audit["KS-AUDIT-005"]["evidence"]["changes"][0]["name"] == "mallory-admin"


def test_report_json_counts_match_the_node_trees(demo_runs):
    report = json.loads((demo_runs["runs"][0] / "report.json").read_text())
    assert_valid_findings(report["findings"])
    native = [f for f in report["findings"] if f["source"] == "cis-node"]
    assert len(native) == 75  # 25 checks x 3 nodes, in one module call per node
    by_node = {}
    for f in native:
        by_node.setdefault(f["node"], {}).setdefault(f["status"], 0)
        by_node[f["node"]][f["status"]] += 1
    # kubeadm defaults: 4.1.1 and 4.1.9 fail; 4.2.9/12/13/14 warn (4.2.13 waived on worker-1 by the inventory;
    # the 4.2.14 waiver expired in 2025 so it no longer applies); 4.2.5 passes (kubeadm's 0s in config.yaml is
    # the kubelet's 4h default); 4.3.1 passes on every node (kube-proxy is a DaemonSet: judged from the demo's
    # export of its ConfigMap, metricsBindAddress "" = 127.0.0.1:10249), 4.1.3/4.1.4 are not applicable (info)
    assert by_node["demo-worker-1"] == {"pass": 17, "fail": 2, "warn": 3, "info": 2, "waived": 1}
    assert by_node["demo-cp-1"] == {"pass": 17, "fail": 2, "warn": 4, "info": 2}
    assert by_node["demo-worker-2"] == {"pass": 23, "info": 2}
    assert [w["id"] for w in report["waivers"]["expired"]] == ["CIS-4.2.14"]
    # the node-scoped waiver covers the kube-bench result of the same node too
    assert report["summary"]["by_source"]["kube-bench"] == {"pass": 19, "fail": 2, "warn": 3, "info": 0, "waived": 1}


def test_demo_shows_a_node_needing_a_reboot_and_a_current_one(demo_runs):
    """Node currency (issue 23), read in the same cis_node_audit call as the CIS checks."""
    report = json.loads((demo_runs["runs"][0] / "report.json").read_text())
    column = {row["node"]: row["currency"] for row in report["sections"]["per_node"]}
    assert column["demo-worker-1"] == "5 security updates, reboot, no auto updates, kubelet skew, old runc"
    assert column["demo-worker-2"] == "current"
    assert column["demo-cp-1"] == "not assessed"  # the control-plane tree carries no package data
    area = next(a for a in report["areas"] if a["area"] == "node_currency")
    assert area["assessed"] and area["grade"] == "D"
    html = (demo_runs["runs"][0] / "report.html").read_text()
    assert "Node needs a reboot to run its updated packages" in html


def test_report_json_has_every_collected_source(demo_runs):
    run = demo_runs["runs"][0]
    report = json.loads((run / "report.json").read_text())
    by_source = report["summary"]["by_source"]
    zero = {"pass": 0, "fail": 0, "warn": 0, "info": 0, "waived": 0}
    # Falco: 30 events in the demo window, grouped into 11 findings (4 Warning and above fail, the rest is info)
    assert by_source["falco"] == dict(zero, fail=4, info=7)
    # Trivy Operator exports (152 findings) and the Trivy CLI result (56 misconfigurations, all trivy-config)
    assert by_source["trivy-vulnerability"] == dict(zero, fail=51)
    assert by_source["trivy-exposed-secret"] == dict(zero, fail=5)
    assert by_source["trivy-rbac"] == dict(zero, fail=19)
    assert by_source["trivy-infra"] == dict(zero, fail=19)
    assert by_source["trivy-config"] == dict(zero, fail=58 + 56)
    workload = json.loads((run / "findings" / "workload-demo.json").read_text())
    assert by_source["workload"] == dict(zero, fail=len(workload)) and len(workload) > 30  # 017 depends on the date
    sources = json.loads((run / "meta" / "sources.json").read_text())["sources"]
    assert {name: entry["status"] for name, entry in sources.items()} == {
        "trivy_operator": "ok",
        "trivy_cli": "ok",
        "workloads": "ok",
        "falco": "ok",
        "kube_bench": "ok",
        "policies": "ok",
    }
    # CIS section 5 of the demo cluster: every cis-1.12 id, 5 of them for a person to decide (warn)
    assert by_source["cis-policies"] == dict(zero, **{"pass": 4, "fail": 25, "warn": 5})
    assert by_source["cluster-policy"]["fail"] == 18


def test_report_shows_cis_section_5_and_the_cluster_policy_rules(demo_runs):
    run = demo_runs["runs"][0]
    html = (run / "report.html").read_text()
    assert 'id="cis-policies"' in html and "CIS section 5 (policies)" in html and "CIS-5.1.1" in html
    assert 'id="cluster-policy"' in html and "KS-NET-001" in html
    assert "ClusterRoleBinding ci-admin -&gt; User ci-bot" in html  # the evidence cell names the objects
    report = json.loads((run / "report.json").read_text())
    areas = {area["area"]: area for area in report["areas"]}
    rbac = [
        f for f in report["findings"] if f["source"] in ("cis-policies", "cluster-policy") and (f["id"].startswith("CIS-5.1.") or f["id"].startswith("KS-RB-"))
    ]
    assert rbac and areas["rbac"]["counts"]["fail"] >= sum(1 for f in rbac if f["status"] == "fail")
    assert "demo-not-a-real-password" not in html


def test_demo_report_has_the_framework_view(demo_runs):
    # issue 17: every framework in report.json, the CIS benchmark whole (sections 1-5) and decided on the demo
    run = demo_runs["runs"][0]
    views = {f["id"]: f for f in json.loads((run / "report.json").read_text())["frameworks"]["frameworks"]}
    assert set(views) == {"cis-1.12", "pss-baseline", "pss-restricted", "nsa-cisa", "mitre-attack-containers"}
    assert views["cis-1.12"]["controls_total"] == 131 and views["cis-1.12"]["counts"]["not_assessed"] == 0
    for view in views.values():
        assert view["score"] is not None and view["counts"]["fail"] > 0, view["id"]
    html = (run / "report.html").read_text()
    assert 'id="frameworks"' in html and "MITRE ATT&amp;CK for Containers" in html
    pdf_text = "".join(page.extract_text() for page in PdfReader(str(run / "report.pdf")).pages[:3])
    assert "Compliance frameworks" in pdf_text and "NSA/CISA" in pdf_text


def test_second_run_is_compared_with_the_first(demo_runs):
    first, second = (json.loads((run / "report.json").read_text()) for run in demo_runs["runs"])
    assert first["previous_run_id"] is None and first["comparison"] is None
    assert second["previous_run_id"] == demo_runs["runs"][0].name
    assert second["comparison"] == {"new": [], "fixed": [], "regressed": [], "waived": []}
    assert "Since run " + demo_runs["runs"][0].name in demo_runs["second"]


def test_pdf_is_a_designed_document(demo_runs):
    pdf = demo_runs["runs"][0] / "report.pdf"
    reader = PdfReader(str(pdf))
    assert len(reader.pages) > 1
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in (
        "Kubernetes security report",
        "Summary",
        "CIS benchmark per node",
        "demo-worker-1",
        "Ensure that the kubelet service file permissions are set to 600 or more restrictive",
        "expired waiver",
    ):
        assert expected in text, expected
    assert f"Page 1 of {len(reader.pages)}" not in text  # the cover has no page footer
    assert f"Page 2 of {len(reader.pages)}" in text
    # issue 21: the whole story on paper too: every area graded, the audit-log incidents, the features switched on
    assert "not assessed" not in text.split("Contents", 1)[0]
    for expected in (
        "Attempted secret access",
        "still open",
        "mallory@example.com",
        "Feature state",
        "rendered, not applied",
        "shop, payments",
        "report ttl: 30m",
        "channels: telegram",
    ):
        assert expected in text, expected


def test_html_shows_matrix_evidence_and_remediation(demo_runs):
    html = (demo_runs["runs"][0] / "report.html").read_text()
    assert "CIS benchmark per node" in html
    assert "expected <code>600 or more restrictive</code>, actual <code>644</code>" in html
    assert "chmod 600 /var/lib/kubelet/config.yaml" in html


def test_demo_prints_where_the_report_is(demo_runs):
    assert "report.html" in demo_runs["first"] and "report.pdf" in demo_runs["first"]


def test_demo_report_json_validates_against_the_report_schema(demo_runs):
    from tests.unit.test_report_formats import assert_valid_report

    for run in demo_runs["runs"]:
        data = json.loads((run / "report.json").read_text())
        assert_valid_report(data)
    second = json.loads((demo_runs["runs"][1] / "report.json").read_text())
    assert [h["run_id"] for h in second["history"]] == [run.name for run in demo_runs["runs"]]
    assert second["delta"]["open"] == 0
    nodes = next(a for a in second["areas"] if a["area"] == "nodes")
    assert nodes["grade"] == "D" and nodes["score"] is not None  # open high CIS failures (4.1.9)


def test_demo_writes_junit_sarif_and_the_index(demo_runs):
    import xml.etree.ElementTree as ET

    from tests.unit.test_report_formats import assert_valid_sarif

    run = demo_runs["runs"][1]
    report = json.loads((run / "report.json").read_text())
    junit = ET.parse(run / "junit.xml").getroot()
    # one test case per finding of each source (the summary counts a CIS check reported by kube-bench and the
    # native audit on the same node once)
    assert int(junit.get("tests")) == len(report["findings"])
    assert int(junit.get("failures")) == sum(c["fail"] for c in report["summary"]["by_source"].values())
    assert_valid_sarif(json.loads((run / "results.sarif").read_text()))
    index = (run.parent.parent / "index.html").read_text()
    assert f'href="demo/{run.name}/report.html"' in index
    assert "Grades:" in demo_runs["second"] and "Gates: none configured" in demo_runs["second"]
