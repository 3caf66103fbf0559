# -*- coding: utf-8 -*-
"""control_plane_hardening, audit_logging and playbooks/audit_log.yml, run for real with ansible-playbook.

Two kinds of node:
* local node trees (tests/testbed/nodetree.py, control-plane:kubeadm-default) reached with the local connection and
  `kubesec_node_root`, with the test bed's kube-apiserver health check (node_double.check_apiserver_manifest, the
  same TEST DOUBLE the SSH test bed runs) served on a free 127.0.0.1 port: check mode, the merges, idempotence,
  switching audit logging on and off, the refusals, the rollback of a component that does not come back, and the
  query playbook's files;
* the SSH test bed (`testbed` fixture, its control-plane node): the rollback of an audit policy the stand-in
  API server refuses to load.
Nothing here talks to a real API server: what the stand-in does not model is listed in docs/control-plane.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis, _static_pod
from tests.conftest import COLLECTION, ROOT, assert_valid_findings, run_playbook
from tests.testbed import node_double
from tests.testbed.fixtures import testbed_fixture  # noqa: F401  (pytest fixture `testbed`)
from tests.testbed.nodetree import materialize

pytestmark = pytest.mark.slow

APISERVER = "etc/kubernetes/manifests/kube-apiserver.yaml"
CONTROLLER_MANAGER = "etc/kubernetes/manifests/kube-controller-manager.yaml"
SCHEDULER = "etc/kubernetes/manifests/kube-scheduler.yaml"
CATALOGUE = yaml.safe_load((COLLECTION / "data/cis/cis-1.12.yml").read_text())
AUDIT_LOGS = ROOT / "tests/fixtures/auditlog/basic"
FAST = {  # the stand-in re-reads the manifest on every request: no settle time, few retries
    "control_plane_hardening_health_settle": 0,
    "control_plane_hardening_health_retries": 2,
    "control_plane_hardening_health_delay": 1,
    "control_plane_hardening_component_health_urls": {},
    "audit_logging_health_settle": 0,
    "audit_logging_health_retries": 2,
    "audit_logging_health_delay": 1,
}


# ------------------------------------------------------------------ local node trees and the stand-in API server


class StandIn:
    """kube-apiserver health TEST DOUBLE for node trees: 200 while node_double finds no problem (and `reject` none)."""

    def __init__(self):
        self.roots = {}  # URL path prefix -> tree root
        self.reject = None  # optional callable(root) -> list of extra problems
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # http.server API name
                root = stand_in.roots.get(self.path.split("/")[1])
                problems = ["unknown node"] if root is None else node_double.check_apiserver_manifest(root=str(root))
                if root is not None and not problems and stand_in.reject:
                    problems = stand_in.reject(root)
                body = ("ok" if not problems else "kube-apiserver (test double) unhealthy: " + "; ".join(problems)).encode()
                self.send_response(500 if problems else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, node):
        return f"http://127.0.0.1:{self.server.server_address[1]}/{node}/livez"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in():
    server = StandIn()
    yield server
    server.close()


class Trees:
    """Control-plane node trees under tmp_path, an inventory for them, and ansible-playbook runs against it."""

    def __init__(self, tmp_path, stand_in):
        self.tmp = tmp_path
        self.stand_in = stand_in
        self.hosts = {}

    def add(self, name="cp1", profile="control-plane:kubeadm-default"):
        root = self.tmp / "nodes" / name
        materialize(root, profile, node=name)
        self.hosts[name] = root
        self.stand_in.roots[name] = root
        return root

    def inventory(self, extra=None):
        hostvars = {name: {"kubesec_node_root": str(root), "kubesec_apiserver_health_url": self.stand_in.url(name)} for name, root in self.hosts.items()}
        common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **FAST, **(extra or {})}
        data = {
            "all": {
                "vars": common,
                "children": {
                    "lab": {"vars": {"kubesec_cluster": "lab"}, "children": {"lab_control_plane": {"hosts": hostvars}}},
                    "control_plane": {"children": {"lab_control_plane": {}}},
                },
            }
        }
        path = self.tmp / "inventory.yml"
        path.write_text(yaml.safe_dump(data))
        return path

    def role(self, role, *args, extra=None, check=True):
        playbook = self.tmp / f"{role}.yml"
        playbook.write_text(yaml.safe_dump([{"name": f"Run {role}", "hosts": "control_plane", "gather_facts": False, "roles": [f"kubesec.cluster.{role}"]}]))
        return run_playbook(playbook, "-i", self.inventory(extra), *args, check=check)

    def playbook(self, path, *args, extra=None, check=True):
        return run_playbook(path, "-i", self.inventory(extra), *args, check=check)


@pytest.fixture
def trees(tmp_path, stand_in):
    return Trees(tmp_path, stand_in)


def snapshot(root):
    """path -> (sha256, mode, uid, gid) of every file and directory below root."""
    out = {}
    for path in sorted(Path(root).rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[str(path.relative_to(root))] = (digest, oct(info.st_mode & 0o7777), info.st_uid, info.st_gid)
    return out


def changed_count(output):
    recap = re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", output, re.M)
    assert recap, output[-3000:]
    return sum(int(n) for n in recap)


def flags(root, manifest=APISERVER):
    return _static_pod.manifest_flags(str(root), "/" + manifest)["flags"]


def pod(root, manifest=APISERVER):
    return yaml.safe_load((Path(root) / manifest).read_text())


def edit_flags(root, changes, manifest=APISERVER):
    _static_pod.apply(str(root), "/" + manifest, flags=changes, validate=False, backup_enabled=False)


def audit(root):
    findings, _context = _cis.audit_node(str(root), CATALOGUE, targets=["master", "controlplane", "etcd"])
    return {f["id"][4:]: f["status"] for f in findings}


# ------------------------------------------------------------------ control_plane_hardening


def test_control_plane_hardening_check_mode_changes_nothing_and_shows_the_diffs(trees):
    root = trees.add()
    os.chmod(root / SCHEDULER, 0o644)
    before = snapshot(root)
    proc = trees.role("control_plane_hardening", "--check", "--diff")
    assert snapshot(root) == before
    assert "+    - --profiling=false" in proc.stdout
    assert "1.1.x | PATCH" in proc.stdout and "changed: [cp1] => (item=1.1.5 /etc/kubernetes/manifests/kube-scheduler.yaml)" in proc.stdout
    assert not (root / "var/lib/kubesec").exists()  # no backup directory either


def test_control_plane_hardening_merges_lists_fixes_files_and_is_idempotent(trees):
    root = trees.add()
    edit_flags(root, {"--authorization-mode": "AlwaysAllow,Webhook", "--enable-admission-plugins": "PodSecurity,EventRateLimit"})
    os.chmod(root / SCHEDULER, 0o644)
    os.chmod(root / "etc/kubernetes/admin.conf", 0o640)
    os.chmod(root / "etc/kubernetes/pki/sa.key", 0o604)
    os.chmod(root / "etc/kubernetes/pki/ca.crt", 0o400)  # stricter than 644: must stay as it is
    before_cm = flags(root, CONTROLLER_MANAGER)

    proc = trees.role("control_plane_hardening")
    assert changed_count(proc.stdout) == 4  # files (one task), three static pods
    api = flags(root)
    assert api["--authorization-mode"] == "Node,RBAC,Webhook"  # AlwaysAllow out, Node first, RBAC after, Webhook kept
    assert api["--enable-admission-plugins"] == "PodSecurity,EventRateLimit,NodeRestriction"  # merged, nothing dropped
    assert api["--profiling"] == "false"
    assert "--anonymous-auth" not in api  # 1.2.1 is opt-in
    assert "--kubelet-certificate-authority" not in api  # 1.2.5: kubeadm kubelets serve self-signed certificates
    out = " ".join(proc.stdout.split())
    assert "serverTLSBootstrap is not true" in out and "opt-in (control_plane_hardening_disable_anonymous_auth)" in out
    assert flags(root, CONTROLLER_MANAGER) == {**before_cm, "--profiling": "false"}
    assert flags(root, SCHEDULER)["--profiling"] == "false"
    modes = {
        p: oct((root / p).stat().st_mode & 0o777) for p in (SCHEDULER, "etc/kubernetes/admin.conf", "etc/kubernetes/pki/sa.key", "etc/kubernetes/pki/ca.crt")
    }
    assert modes == {SCHEDULER: "0o600", "etc/kubernetes/admin.conf": "0o600", "etc/kubernetes/pki/sa.key": "0o600", "etc/kubernetes/pki/ca.crt": "0o400"}
    status = audit(root)
    for cis_id in ("1.1.5", "1.1.13", "1.1.20", "1.1.21", "1.2.6", "1.2.7", "1.2.8", "1.2.14", "1.2.15", "1.3.2", "1.4.1"):
        assert status[cis_id] == "pass", cis_id
    # backups outside the manifests directory, one per changed static pod; nothing left in the manifests directory
    assert len(list((root / "var/lib/kubesec/manifest-backups").iterdir())) == 3
    assert sorted(p.name for p in (root / "etc/kubernetes/manifests").iterdir()) == [
        "etcd.yaml",
        "kube-apiserver.yaml",
        "kube-controller-manager.yaml",
        "kube-scheduler.yaml",
    ]

    again = trees.role("control_plane_hardening")
    assert changed_count(again.stdout) == 0


def test_control_plane_hardening_opt_ins_toggles_and_tags(trees):
    root = trees.add()
    (root / "var/lib/kubelet/config.yaml").write_text((root / "var/lib/kubelet/config.yaml").read_text() + "serverTLSBootstrap: true\n")
    trees.role(
        "control_plane_hardening",
        "--skip-tags",
        "cis_1_3_2",
        extra={
            "control_plane_hardening_disable_anonymous_auth": True,
            "kubesec_cis_controls": {"1.4.1": {"enabled": False, "reason": "profiling needed by the perf team"}},
        },
    )
    api = flags(root)
    assert api["--anonymous-auth"] == "false"
    assert api["--kubelet-certificate-authority"] == "/etc/kubernetes/pki/ca.crt"
    assert "--profiling" not in flags(root, CONTROLLER_MANAGER)  # --skip-tags cis_1_3_2 skips that control only
    assert "--profiling" not in flags(root, SCHEDULER)  # waived in the toggles
    assert audit(root)["1.2.5"] == "pass"


def test_control_plane_hardening_only_the_tagged_control(trees):
    root = trees.add()
    trees.role("control_plane_hardening", "--tags", "cis_1_4_1")
    assert "--profiling" not in flags(root) and "--profiling" not in flags(root, CONTROLLER_MANAGER)
    assert flags(root, SCHEDULER)["--profiling"] == "false"


def test_control_plane_hardening_leaves_a_disabled_plugin_alone(trees):
    root = trees.add()
    edit_flags(root, {"--enable-admission-plugins": "PodSecurity", "--disable-admission-plugins": "NodeRestriction"})
    proc = trees.role("control_plane_hardening")
    assert flags(root)["--enable-admission-plugins"] == "PodSecurity"
    assert "NodeRestriction listed in --disable-admission-plugins" in " ".join(proc.stdout.split())


def test_control_plane_hardening_rolls_back_a_component_that_does_not_come_back(trees, stand_in):
    root = trees.add()
    original_cm = (root / CONTROLLER_MANAGER).read_bytes()
    original_scheduler = (root / SCHEDULER).read_bytes()
    # This stand-in fails once the controller manager runs with --profiling=false (a component that crashes).
    stand_in.reject = lambda r: ["kube-controller-manager is crash-looping"] if "--profiling=false" in (Path(r) / CONTROLLER_MANAGER).read_text() else []
    proc = trees.role("control_plane_hardening", check=False)
    assert proc.returncode == 2, proc.stdout[-3000:]
    out = " ".join(proc.stdout.split())
    assert "cp1: kube-controller-manager did not become healthy after hardening (changed --profiling;" in out
    assert "Restored /etc/kubernetes/manifests/kube-controller-manager.yaml from" in out
    assert "the control plane is healthy again" in out
    assert (root / CONTROLLER_MANAGER).read_bytes() == original_cm  # the backup, byte for byte
    assert flags(root)["--profiling"] == "false"  # the API server's change before it was healthy and stays
    assert (root / SCHEDULER).read_bytes() == original_scheduler  # the play stopped before the next static pod
    assert not [p for p in (root / "etc/kubernetes/manifests").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("breakage", ["unparseable", "unhealthy"])
def test_control_plane_hardening_changes_nothing_on_a_broken_control_plane(trees, stand_in, breakage):
    root = trees.add()
    os.chmod(root / SCHEDULER, 0o644)
    if breakage == "unparseable":
        (root / CONTROLLER_MANAGER).write_text("apiVersion: v1\nkind: Pod\nspec: [\n")
        expected = "not a control-plane node this role can harden safely"
    else:
        stand_in.reject = lambda r: ["etcd is down"]
        expected = "the API server is not healthy before hardening"
    before = snapshot(root)
    proc = trees.role("control_plane_hardening", check=False)
    assert proc.returncode == 2
    assert expected in " ".join(proc.stdout.split()) and "Nothing was changed" in proc.stdout
    assert snapshot(root) == before


# ------------------------------------------------------------------ audit_logging


def test_audit_logging_on_and_off_on_a_node_tree(trees):
    root = trees.add()
    original = (root / APISERVER).read_bytes()
    on = {"kubesec_audit_logging": {"enabled": True}}
    off = {"kubesec_audit_logging": {"enabled": False}}

    before = snapshot(root)
    proc = trees.role("audit_logging", "--check", "--diff", extra=on)
    assert snapshot(root) == before  # check mode: not a byte
    assert "+    - --audit-policy-file=/etc/kubernetes/audit/policy.yaml" in proc.stdout

    trees.role("audit_logging", extra=on)
    api = flags(root)
    assert {k: v for k, v in api.items() if k.startswith("--audit")} == {
        "--audit-policy-file": "/etc/kubernetes/audit/policy.yaml",
        "--audit-log-path": "/var/log/kubernetes/audit/audit.log",
        "--audit-log-maxage": "30",
        "--audit-log-maxbackup": "10",
        "--audit-log-maxsize": "100",
        "--audit-log-format": "json",
    }
    spec = pod(root)["spec"]
    volumes = {v["name"]: v["hostPath"] for v in spec["volumes"] if v["name"].startswith("kubesec-")}
    mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"] if m["name"].startswith("kubesec-")}
    policy_volume = next(name for name in volumes if name.startswith("kubesec-audit-policy-"))
    assert volumes == {
        policy_volume: {"path": "/etc/kubernetes/audit/policy.yaml", "type": "File"},
        "kubesec-audit-log": {"path": "/var/log/kubernetes/audit", "type": "DirectoryOrCreate"},
    }
    assert mounts[policy_volume] == {"mountPath": "/etc/kubernetes/audit/policy.yaml", "name": policy_volume, "readOnly": True}
    assert mounts["kubesec-audit-log"] == {"mountPath": "/var/log/kubernetes/audit", "name": "kubesec-audit-log"}
    policy = root / "etc/kubernetes/audit/policy.yaml"
    assert oct(policy.stat().st_mode & 0o777) == "0o600"
    assert node_double.check_audit_policy(policy.read_text()) == []
    assert yaml.safe_load(policy.read_text())["omitStages"] == ["RequestReceived"]
    status = audit(root)
    assert [status[i] for i in ("1.2.16", "1.2.17", "1.2.18", "1.2.19", "3.2.1", "3.2.2")] == ["pass"] * 6
    assert changed_count(trees.role("audit_logging", extra=on).stdout) == 0

    (root / "var/log/kubernetes/audit/audit.log").write_text('{"kind":"Event"}\n')
    before = snapshot(root)
    trees.role("audit_logging", "--check", extra=off)
    assert snapshot(root) == before

    trees.role("audit_logging", extra=off)
    assert (root / APISERVER).read_bytes() == original  # exactly what enabling added is gone, nothing else
    assert not (root / "etc/kubernetes/audit").exists()
    assert (root / "var/log/kubernetes/audit/audit.log").read_text() == '{"kind":"Event"}\n'  # the logs stay
    assert not (root / "var/lib/kubesec/audit-logging.json").exists()
    status = audit(root)
    assert (status["1.2.16"], status["3.2.1"]) == ("fail", "warn")
    assert changed_count(trees.role("audit_logging", extra=off).stdout) == 0


def test_audit_logging_off_restores_what_the_owner_had_and_a_new_policy_restarts_the_pod(trees):
    root = trees.add()
    edit_flags(root, {"--audit-log-maxage": 7, "--audit-log-format": "legacy"})
    original = (root / APISERVER).read_bytes()
    trees.role("audit_logging", extra={"kubesec_audit_logging": {"enabled": True, "maxage": 45}})
    assert flags(root)["--audit-log-maxage"] == "45" and flags(root)["--audit-log-format"] == "json"
    first = [v["name"] for v in pod(root)["spec"]["volumes"] if v["name"].startswith("kubesec-audit-policy-")]
    # another policy: the policy volume's name carries its checksum, so the pod changes and the kubelet restarts it
    trees.role("audit_logging", extra={"kubesec_audit_logging": {"enabled": True, "maxage": 45, "policy": "metadata"}})
    second = [v["name"] for v in pod(root)["spec"]["volumes"] if v["name"].startswith("kubesec-audit-policy-")]
    assert len(first) == len(second) == 1 and first != second
    assert 'preset "metadata"' in (root / "etc/kubernetes/audit/policy.yaml").read_text()
    assert sorted(p.name for p in (root / "etc/kubernetes/audit").iterdir()) == ["policy.yaml"]  # no backup left over
    trees.role("audit_logging")  # kubesec_audit_logging absent: off
    assert (root / APISERVER).read_bytes() == original  # maxage 7 and format legacy are back


def test_audit_logging_leaves_a_node_alone_that_it_never_configured(trees):
    root = trees.add()
    edit_flags(root, {"--audit-log-path": "/var/log/hand-made/audit.log"})
    before = snapshot(root)
    proc = trees.role("audit_logging", extra={"kubesec_audit_logging": {"enabled": False}})
    assert changed_count(proc.stdout) == 0 and snapshot(root) == before


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        # the role's argument spec
        ({"enabled": True, "formats": "json"}, "Validation of arguments failed: audit_logging_config.formats."),
        ({"enabled": True, "format": "xml"}, "value of format must be one of: json, legacy, got: xml"),
        ({"enabled": "yes please"}, "The value 'yes please' is not a valid boolean"),
        # the role's preflight
        ({"enabled": True, "maxage": -1}, "whole numbers >= 0"),
        ({"enabled": True, "policy": "verbose"}, "policy: one of default, metadata"),
        ({"enabled": True, "policy_file": "/etc/kubernetes/manifests/audit.yaml"}, "outside /etc/kubernetes/manifests"),
        ({"enabled": True, "log_path": "/var/log/kubernetes/audit/"}, "absolute file paths"),
    ],
)
def test_audit_logging_refuses_bad_settings(trees, settings, message):
    root = trees.add()
    before = snapshot(root)
    proc = trees.role("audit_logging", extra={"kubesec_audit_logging": settings}, check=False)
    assert proc.returncode == 2
    out = " ".join(proc.stdout.split())
    assert message in out, out[-2000:]
    assert "Nothing was changed" in out or "Validation of arguments failed" in out
    assert snapshot(root) == before


def test_audit_logging_refuses_to_mount_over_a_hand_made_audit_volume(trees):
    root = trees.add()
    _static_pod.apply(
        str(root),
        "/" + APISERVER,
        volumes=[{"name": "audit-log", "hostPath": "/var/log/kubernetes/audit/", "type": "DirectoryOrCreate", "readOnly": False}],
        validate=False,
        backup_enabled=False,
    )
    before = snapshot(root)
    proc = trees.role("audit_logging", extra={"kubesec_audit_logging": {"enabled": True}}, check=False)
    assert proc.returncode == 2
    assert "through volume(s) audit-log, which this role did not add" in " ".join(proc.stdout.split())
    assert snapshot(root) == before


def test_audit_logging_rolls_back_a_policy_update_the_api_server_refuses(trees):
    root = trees.add()
    trees.role("audit_logging", extra={"kubesec_audit_logging": {"enabled": True}})
    manifest = (root / APISERVER).read_bytes()
    policy = (root / "etc/kubernetes/audit/policy.yaml").read_bytes()
    proc = trees.role("audit_logging", extra={"kubesec_audit_logging": {"enabled": True, "policy": [{"level": "Verbose"}]}}, check=False)
    assert proc.returncode == 2
    out = " ".join(proc.stdout.split())
    assert "switching API-server audit logging on failed: kube-apiserver did not become healthy" in out
    assert "rules[0].level: Unsupported value: 'Verbose'" in out
    assert "restored the previous policy file; the API server is healthy again" in out
    assert "The health endpoint is set by kubesec_apiserver_health_url, the wait by kubesec_control_plane_health_settle" in out
    assert (root / APISERVER).read_bytes() == manifest
    assert (root / "etc/kubernetes/audit/policy.yaml").read_bytes() == policy
    assert sorted(p.name for p in (root / "etc/kubernetes/audit").iterdir()) == ["policy.yaml"]


# ------------------------------------------------------------------ playbooks/audit_log.yml


def test_audit_log_playbook_writes_results_findings_and_the_cluster_summary(trees, tmp_path):
    with_log = trees.add("cp1")
    trees.add("cp2")  # audit logging never switched on: no log
    with_log3 = trees.add("cp3")
    for root in (with_log, with_log3):
        shutil.copytree(AUDIT_LOGS, root / "var/log/kubernetes/audit", dirs_exist_ok=True)
    reports = tmp_path / "reports"
    proc = trees.playbook(
        ROOT / "playbooks/audit_log.yml",
        "-e",
        "from=2026-03-01T00:00:00Z",
        "-e",
        "to=2026-03-02T00:00:00Z",
        "-e",
        f"kubesec_reports_dir={reports}",
        "-e",
        "kubesec_run_id=r1",
        "-e",
        "verb=get,list,create,delete,patch,update,watch",
    )
    assert "failed=0" in proc.stdout
    run = reports / "lab" / "r1"
    files = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
    assert files == [
        "audit-log/cp1.json",
        "audit-log/cp2.json",
        "audit-log/cp3.json",
        "findings/audit-log-cp1.json",
        "findings/audit-log-cp2.json",
        "findings/audit-log-cp3.json",
        "meta/audit_log_summary.json",
    ]
    summary = json.loads((run / "meta/audit_log_summary.json").read_text())
    node = json.loads((run / "audit-log/cp1.json").read_text())
    assert {"period", "by_user", "by_verb", "by_resource", "denied", "secret_reads", "exec", "rbac_changes", "anonymous", "nodes", "total"} <= set(summary)
    assert summary["period"]["from"] == "2026-03-01T00:00:00.000000Z" and summary["period"]["to"] == "2026-03-02T00:00:00.000000Z"
    assert summary["query"]["filters"] == {"verb": ["get", "list", "create", "delete", "patch", "update", "watch"]}
    assert (summary["nodes_total"], summary["nodes_ok"]) == (3, 2)
    assert summary["nodes"]["cp2"]["status"] == "error" and "no audit log found" in summary["nodes"]["cp2"]["error"]
    one = node["summary"]
    assert one["total"] > 0 and summary["total"] == 2 * one["total"]
    assert summary["by_user"] == {user: 2 * n for user, n in one["by_user"].items()}
    assert summary["denied"]["count"] == 2 * one["denied"]["count"]
    assert summary["denied"]["top_users"] == [dict(item, count=2 * item["count"]) for item in one["denied"]["top_users"]]
    assert summary["secret_reads"]["non_system"] == 2 * one["secret_reads"]["non_system"]
    assert one["secret_access_denied"]["count"] > 0
    assert summary["secret_access_denied"]["count"] == 2 * one["secret_access_denied"]["count"]
    assert summary["exec"]["open"] == 2 * one["exec"]["open"]
    for name in ("cp1", "cp2", "cp3"):
        assert_valid_findings(json.loads((run / f"findings/audit-log-{name}.json").read_text()))
    assert json.loads((run / "findings/audit-log-cp2.json").read_text()) == []
    assert {f["source"] for f in json.loads((run / "findings/audit-log-cp1.json").read_text())} == {"audit-log"}


# ------------------------------------------------------------------ the SSH test bed


@pytest.mark.testbed
def test_audit_logging_rollback_on_the_testbed(testbed):
    host = testbed.control_planes[0]
    tree = testbed.tree(host)
    original = (tree / APISERVER).read_bytes()
    settings = {
        **FAST,
        "kubesec_state_dir": "/etc/kubernetes/kubesec-state",
        "kubesec_audit_logging": {"enabled": True, "policy": [{"level": "Verbose"}]},
    }
    try:
        proc = testbed.playbook(ROOT / "playbooks/features.yml", "--tags", "audit_logging", "--limit", host, "-e", json.dumps(settings), check=False)
        out = " ".join(proc.stdout.split())
        assert proc.returncode == 2, out[-3000:]
        assert f"{host}: switching API-server audit logging on failed: kube-apiserver did not become healthy" in out
        assert "loading audit policy file /etc/kubernetes/audit/policy.yaml: rules[0].level: Unsupported value: 'Verbose'" in out
        assert "Restored /etc/kubernetes/manifests/kube-apiserver.yaml from /etc/kubernetes/kubesec-state/manifest-backups/" in out
        assert "removed the new policy file; the API server is healthy again" in out
        assert (tree / APISERVER).read_bytes() == original
        assert not (tree / "etc/kubernetes/audit/policy.yaml").exists()
        assert testbed.apiserver_health(host) == (200, "ok")
        # and the same with a policy it accepts: on, then off, back to the original manifest
        settings["kubesec_audit_logging"] = {"enabled": True}
        testbed.playbook(ROOT / "playbooks/features.yml", "--tags", "audit_logging", "--limit", host, "-e", json.dumps(settings))
        assert testbed.apiserver_health(host) == (200, "ok")
        assert "--audit-policy-file" in flags(tree)
        settings["kubesec_audit_logging"] = {"enabled": False}
        testbed.playbook(ROOT / "playbooks/features.yml", "--tags", "audit_logging", "--limit", host, "-e", json.dumps(settings))
        assert (tree / APISERVER).read_bytes() == original
        assert testbed.apiserver_health(host) == (200, "ok")
    finally:
        testbed.reset(host)


def test_audit_logging_in_render_only_plans_nothing_on_the_nodes(trees):
    """kubesec_render_only never touches a node (issue 24): no read, no plan, no change, even where a node is gone."""
    root = trees.add()
    on = {"kubesec_audit_logging": {"enabled": True}, "kubesec_render_only": True}
    before = snapshot(root)
    proc = trees.role("audit_logging", "--check", "--diff", extra=on)
    assert snapshot(root) == before and changed_count(proc.stdout) == 0
    assert "--audit-policy-file" not in proc.stdout  # no planned diff of the API-server manifest
    assert "nothing was read, planned or changed on cp1" in " ".join(proc.stdout.split())
    proc = trees.role("audit_logging", extra=on)
    assert snapshot(root) == before and changed_count(proc.stdout) == 0
    # A node root that does not exist is not even looked at (before: "no kube-apiserver static pod manifest").
    shutil.rmtree(root)
    proc = trees.role("audit_logging", extra=on, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]


# ------------------------------------------------------------------ audit_log.yml: what it prints, where it writes (issue 24)


def test_audit_log_playbook_prints_the_result_and_each_query_gets_its_own_folder(trees, tmp_path):
    root = trees.add("cp1")
    shutil.copytree(AUDIT_LOGS, root / "var/log/kubernetes/audit", dirs_exist_ok=True)
    reports = tmp_path / "reports"
    window = ["-e", "from=2026-03-01T00:00:00Z", "-e", "to=2026-03-02T00:00:00Z", "-e", f"kubesec_reports_dir={reports}"]
    first = trees.playbook(ROOT / "playbooks/audit_log.yml", *window, "-e", "kubesec_audit_log_now=2026-03-02T00:00:00.000000Z")
    second = trees.playbook(ROOT / "playbooks/audit_log.yml", *window, "-e", "user=alice*", "-e", "kubesec_audit_log_now=2026-03-02T00:00:05.000000Z")
    # one folder per query, none of them a run of the report (no report.json, not under a run id)
    assert sorted(p.name for p in (reports / "lab").iterdir()) == ["audit-log-queries"]
    folders = sorted(p.name for p in (reports / "lab/audit-log-queries").iterdir())
    assert folders == ["20260302T000000Z", "20260302T000005Z"]
    summary = json.loads((reports / "lab/audit-log-queries/20260302T000000Z/meta/audit_log_summary.json").read_text())
    node = json.loads((reports / "lab/audit-log-queries/20260302T000000Z/audit-log/cp1.json").read_text())
    assert summary["run_id"] is None and summary["total"] > 0

    out = first.stdout
    assert f"Cluster lab: {summary['total']} matching {summary['counted']} from 2026-03-01T00:00:00.000000Z" in out
    top_user, top_count = next(iter(summary["by_user"].items()))
    assert f"By user: {top_user} {top_count}" in out
    top_verb, verb_count = next(iter(summary["by_verb"].items()))
    assert f"By verb: {top_verb} {verb_count}" in out
    first_event = node["events"][0]
    assert f"First 10 of {summary['total']} events" in out
    assert f"{first_event['request_received_time']} {first_event['user']} {first_event['action']}" in out
    assert f"Files: {reports}/lab/audit-log-queries/20260302T000000Z/meta/audit_log_summary.json" in out

    # the user pattern: only alice's requests, printed as such
    alice = json.loads((reports / "lab/audit-log-queries/20260302T000005Z/meta/audit_log_summary.json").read_text())
    assert alice["total"] > 0 and set(alice["by_user"]) == {"alice@example.com"}
    assert "filters user=alice*" in second.stdout
