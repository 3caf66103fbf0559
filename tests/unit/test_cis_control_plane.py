"""CIS control-plane checks (master 1.x, etcd 2.x, controlplane 3.x) on a real kubeadm control-plane node tree.

Every case edits a freshly materialized `control-plane:kubeadm-default` tree (flags in the static pod
manifests, file modes and owners, extra files) and asserts one check's status; the table covers every
control-plane check of cis-1.12 with a passing and a non-passing result.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue
from tests.conftest import COLLECTIONS, assert_valid_findings
from tests.testbed.nodetree import materialize

CATALOGUE = _catalogue.load("cis-1.12")
CATALOGUE_11 = _catalogue.load("cis-1.11")
ALL_TARGETS = ["master", "etcd", "controlplane", "node"]
MANIFESTS = {
    "apiserver": "etc/kubernetes/manifests/kube-apiserver.yaml",
    "cm": "etc/kubernetes/manifests/kube-controller-manager.yaml",
    "scheduler": "etc/kubernetes/manifests/kube-scheduler.yaml",
    "etcd": "etc/kubernetes/manifests/etcd.yaml",
}
CONTROL_PLANE_IDS = [str(c["id"]) for c in CATALOGUE["checks"] if str(c["id"]).split(".")[0] in ("1", "2", "3")]
MANUAL_IDS = {"1.2.20", "3.1.1", "3.1.2", "3.1.3"}  # kube-bench type: manual -> always WARN

# kube-bench on a fresh kubeadm v1.33 control plane (cis-1.12): what does not pass, and how.
KUBEADM_DEFAULT_PROBLEMS = {
    "1.1.9": "warn",
    "1.1.10": "warn",  # no CNI files in the tree (a real node has /etc/cni/net.d/*)
    "1.1.12": "fail",  # kubeadm leaves /var/lib/etcd owned by root, CIS wants etcd:etcd
    "1.2.1": "warn",
    "1.2.3": "warn",
    "1.2.5": "fail",
    "1.2.9": "warn",
    "1.2.11": "warn",
    "1.2.15": "fail",
    "1.2.16": "fail",
    "1.2.17": "fail",
    "1.2.18": "fail",
    "1.2.19": "fail",
    "1.2.20": "warn",
    "1.2.27": "warn",
    "1.2.28": "warn",
    "1.2.29": "warn",
    "1.2.30": "fail",
    "1.3.1": "warn",
    "1.3.2": "fail",
    "1.4.1": "fail",
    "3.1.1": "warn",
    "3.1.2": "warn",
    "3.1.3": "warn",
    "3.2.1": "warn",
    "3.2.2": "warn",
}
# the worker checks on the same node (the control-plane tree extends worker:kubeadm-default)
# (4.2.5 passes: kubeadm's streamingConnectionIdleTimeout: 0s means the 4h default; 4.3.1 warns: the kube-proxy
# ConfigMap was not given)
KUBEADM_DEFAULT_NODE_PROBLEMS = {
    "4.1.1": "fail",
    "4.1.3": "info",
    "4.1.4": "info",
    "4.1.9": "fail",
    "4.2.9": "warn",
    "4.2.12": "warn",
    "4.2.13": "warn",
    "4.2.14": "warn",
    "4.3.1": "warn",
}

STRONG = "TLS_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"
GOOD_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ["system:kube-proxy"]
    verbs: ["watch"]
    resources: [{group: "", resources: ["endpoints", "services"]}]
  - level: None
    userGroups: ["system:nodes"]
    resources: [{group: "", resources: ["secrets"]}]
  - level: Metadata
    resources:
      - {group: "", resources: ["secrets", "configmaps"]}
      - {group: authentication.k8s.io, resources: ["tokenreviews"]}
  - level: RequestResponse
    resources: [{group: "", resources: ["pods", "pods/exec", "pods/portforward"]}]
  - level: Metadata
"""
ENCRYPTION = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - {first}: {{keys: [{{name: key1, secret: dGVzdC1vbmx5LW5vdC1hLXJlYWwta2V5LTMyYnl0ZXM=}}]}}
      - identity: {{}}
"""


@pytest.fixture
def node(tmp_path):
    root = tmp_path / "cp"
    materialize(root, "control-plane:kubeadm-default", node="cp1")
    return root


def audit(root, catalogue=CATALOGUE, targets=ALL_TARGETS, **kwargs):
    findings, context = _cis.audit_node(str(root), catalogue, targets=targets, cluster="c1", node="cp1", **kwargs)
    assert_valid_findings(findings)
    return {f["id"].replace("CIS-", ""): f for f in findings}, context


def statuses(root, **kwargs):
    return audit(root, **kwargs)[0]


# ------------------------------------------------------------------------------------ node-tree edits


def load_manifest(root, which):
    return yaml.safe_load((Path(root) / MANIFESTS[which]).read_text())


def save_manifest(root, which, pod):
    (Path(root) / MANIFESTS[which]).write_text(yaml.safe_dump(pod, sort_keys=False))


def flags(which, **changes):
    """Edit flags of a manifest's container command: --a-b via a_b=value, None removes."""

    def apply(root):
        pod = load_manifest(root, which)
        command = pod["spec"]["containers"][0]["command"]
        for key, value in changes.items():
            name = "--" + key.replace("_", "-")
            command[:] = [c for c in command if c != name and not c.startswith(name + "=")]
            if value is not None:
                command.append(f"{name}={value}")
        save_manifest(root, which, pod)

    return apply


def env(which, **values):
    def apply(root):
        pod = load_manifest(root, which)
        pod["spec"]["containers"][0]["env"] = [{"name": k, "value": v} for k, v in values.items()]
        save_manifest(root, which, pod)

    return apply


def mode(rel, value):
    def apply(root):
        os.chmod(Path(root) / rel, value)

    return apply


def owner(rel, uid, gid):
    def apply(root):
        os.chown(Path(root) / rel, uid, gid)

    return apply


def write(rel, text, file_mode=0o600):
    def apply(root):
        target = Path(root) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        os.chmod(target, file_mode)

    return apply


def remove(rel):
    def apply(root):
        os.unlink(Path(root) / rel)

    return apply


def chain(*steps):
    def apply(root):
        for step in steps:
            step(root)

    return apply


def nothing(root):
    del root


def audit_policy(text):
    return chain(write("etc/kubernetes/audit-policy.yaml", text), flags("apiserver", audit_policy_file="/etc/kubernetes/audit-policy.yaml"))


def encryption(first):
    return chain(
        write("etc/kubernetes/enc/config.yaml", ENCRYPTION.format(first=first)),
        flags("apiserver", encryption_provider_config="/etc/kubernetes/enc/config.yaml"),
    )


ETCD_USER = chain(
    write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\netcd:x:998:998::/var/lib/etcd:/sbin/nologin\n", 0o644),
    write("etc/group", "root:x:0:\netcd:x:998:\n", 0o644),
    owner("var/lib/etcd", 998, 998),
)
APISERVER = MANIFESTS["apiserver"]

# (CIS id, change to the kubeadm-default control plane, expected status)
CASES = [
    ("1.1.1", nothing, "pass"),
    ("1.1.1", mode(APISERVER, 0o644), "fail"),
    ("1.1.2", nothing, "pass"),
    ("1.1.2", owner(APISERVER, 1000, 1000), "fail"),
    ("1.1.3", nothing, "pass"),
    ("1.1.3", mode(MANIFESTS["cm"], 0o640), "fail"),
    ("1.1.4", nothing, "pass"),
    ("1.1.4", owner(MANIFESTS["cm"], 0, 1000), "fail"),
    ("1.1.5", nothing, "pass"),
    ("1.1.5", mode(MANIFESTS["scheduler"], 0o604), "fail"),
    ("1.1.6", nothing, "pass"),
    ("1.1.6", owner(MANIFESTS["scheduler"], 1000, 0), "fail"),
    ("1.1.7", nothing, "pass"),
    ("1.1.7", mode(MANIFESTS["etcd"], 0o700), "fail"),
    ("1.1.8", nothing, "pass"),
    ("1.1.8", owner(MANIFESTS["etcd"], 1000, 1000), "fail"),
    ("1.1.9", write("etc/cni/net.d/10-flannel.conflist", "{}", 0o600), "pass"),
    ("1.1.9", write("etc/cni/net.d/10-flannel.conflist", "{}", 0o644), "warn"),
    ("1.1.9", write("var/lib/cni/networks/cbr0/10.244.0.5", "abc", 0o644), "warn"),
    ("1.1.10", write("etc/cni/net.d/10-flannel.conflist", "{}"), "pass"),
    ("1.1.10", chain(write("etc/cni/net.d/10-flannel.conflist", "{}"), owner("etc/cni/net.d/10-flannel.conflist", 1000, 0)), "warn"),
    ("1.1.11", nothing, "pass"),
    ("1.1.11", mode("var/lib/etcd", 0o755), "fail"),
    ("1.1.12", nothing, "fail"),
    ("1.1.12", ETCD_USER, "pass"),
    ("1.1.13", nothing, "pass"),
    ("1.1.13", mode("etc/kubernetes/super-admin.conf", 0o644), "fail"),
    ("1.1.13", remove("etc/kubernetes/super-admin.conf"), "pass"),  # only admin.conf on joined control planes
    ("1.1.14", nothing, "pass"),
    ("1.1.14", owner("etc/kubernetes/admin.conf", 1000, 1000), "fail"),
    ("1.1.15", nothing, "pass"),
    ("1.1.15", mode("etc/kubernetes/scheduler.conf", 0o644), "fail"),
    ("1.1.16", nothing, "pass"),
    ("1.1.16", owner("etc/kubernetes/scheduler.conf", 1000, 1000), "fail"),
    ("1.1.17", nothing, "pass"),
    ("1.1.17", mode("etc/kubernetes/controller-manager.conf", 0o660), "fail"),
    ("1.1.18", nothing, "pass"),
    ("1.1.18", owner("etc/kubernetes/controller-manager.conf", 1000, 1000), "fail"),
    ("1.1.19", nothing, "pass"),
    ("1.1.19", owner("etc/kubernetes/pki/etcd/ca.key", 1000, 1000), "fail"),
    ("1.1.19", owner("etc/kubernetes/pki/etcd", 1000, 0), "fail"),  # directories count too
    ("1.1.20", nothing, "pass"),
    ("1.1.20", mode("etc/kubernetes/pki/ca.crt", 0o666), "warn"),
    ("1.1.21", nothing, "pass"),
    ("1.1.21", mode("etc/kubernetes/pki/etcd/peer.key", 0o640), "warn"),
    ("1.2.1", nothing, "warn"),
    ("1.2.1", flags("apiserver", anonymous_auth="false"), "pass"),
    ("1.2.1", flags("apiserver", anonymous_auth="true"), "warn"),
    ("1.2.2", nothing, "pass"),
    ("1.2.2", flags("apiserver", token_auth_file="/etc/kubernetes/tokens.csv"), "fail"),
    ("1.2.3", nothing, "warn"),
    ("1.2.3", flags("apiserver", enable_admission_plugins="NodeRestriction,DenyServiceExternalIPs"), "pass"),
    ("1.2.4", nothing, "pass"),
    ("1.2.4", flags("apiserver", kubelet_client_key=None), "fail"),
    ("1.2.5", nothing, "fail"),
    ("1.2.5", flags("apiserver", kubelet_certificate_authority="/etc/kubernetes/pki/ca.crt"), "pass"),
    ("1.2.6", nothing, "pass"),
    ("1.2.6", flags("apiserver", authorization_mode="AlwaysAllow"), "fail"),
    ("1.2.6", flags("apiserver", authorization_mode=None), "fail"),  # the apiserver default is AlwaysAllow
    ("1.2.7", nothing, "pass"),
    ("1.2.7", flags("apiserver", authorization_mode="RBAC"), "fail"),
    ("1.2.8", nothing, "pass"),
    ("1.2.8", flags("apiserver", authorization_mode="Node,Webhook"), "fail"),
    ("1.2.9", nothing, "warn"),
    ("1.2.9", flags("apiserver", enable_admission_plugins="NodeRestriction,EventRateLimit"), "pass"),
    ("1.2.10", nothing, "pass"),
    ("1.2.10", flags("apiserver", enable_admission_plugins="NodeRestriction,AlwaysAdmit"), "fail"),
    ("1.2.10", flags("apiserver", enable_admission_plugins=None), "pass"),
    ("1.2.11", nothing, "warn"),
    ("1.2.11", flags("apiserver", enable_admission_plugins="AlwaysPullImages,NodeRestriction"), "pass"),
    ("1.2.12", nothing, "pass"),
    ("1.2.12", flags("apiserver", disable_admission_plugins="ServiceAccount"), "fail"),
    ("1.2.12", flags("apiserver", disable_admission_plugins="DefaultStorageClass"), "pass"),
    ("1.2.13", nothing, "pass"),
    ("1.2.13", flags("apiserver", disable_admission_plugins="PodSecurity,NamespaceLifecycle"), "fail"),
    ("1.2.14", nothing, "pass"),
    ("1.2.14", flags("apiserver", enable_admission_plugins=None), "fail"),
    ("1.2.15", nothing, "fail"),
    ("1.2.15", flags("apiserver", profiling="false"), "pass"),
    ("1.2.15", flags("apiserver", profiling="true"), "fail"),
    ("1.2.16", nothing, "fail"),
    ("1.2.16", flags("apiserver", audit_log_path="/var/log/kubernetes/audit/audit.log"), "pass"),
    ("1.2.17", nothing, "fail"),
    ("1.2.17", flags("apiserver", audit_log_maxage=30), "pass"),
    ("1.2.17", flags("apiserver", audit_log_maxage=7), "fail"),
    ("1.2.18", flags("apiserver", audit_log_maxbackup=10), "pass"),
    ("1.2.18", flags("apiserver", audit_log_maxbackup=5), "fail"),
    ("1.2.19", flags("apiserver", audit_log_maxsize=200), "pass"),
    ("1.2.19", flags("apiserver", audit_log_maxsize=50), "fail"),
    ("1.2.20", nothing, "warn"),
    ("1.2.20", flags("apiserver", request_timeout="300s"), "warn"),  # manual: always WARN
    ("1.2.21", nothing, "pass"),
    ("1.2.21", flags("apiserver", service_account_lookup="false"), "fail"),
    ("1.2.21", flags("apiserver", service_account_lookup="true"), "pass"),
    ("1.2.22", nothing, "pass"),
    ("1.2.22", flags("apiserver", service_account_key_file=None), "fail"),
    ("1.2.23", nothing, "pass"),
    ("1.2.23", flags("apiserver", etcd_keyfile=None), "fail"),
    ("1.2.24", nothing, "pass"),
    ("1.2.24", flags("apiserver", tls_cert_file=None), "fail"),
    ("1.2.25", nothing, "pass"),
    ("1.2.25", flags("apiserver", client_ca_file=None), "fail"),
    ("1.2.26", nothing, "pass"),
    ("1.2.26", flags("apiserver", etcd_cafile=None), "fail"),
    ("1.2.27", nothing, "warn"),
    ("1.2.27", flags("apiserver", encryption_provider_config="/etc/kubernetes/enc/config.yaml"), "pass"),
    ("1.2.28", nothing, "warn"),
    ("1.2.28", encryption("aescbc"), "pass"),
    ("1.2.28", encryption("secretbox"), "pass"),
    ("1.2.28", encryption("aesgcm"), "warn"),
    (
        "1.2.28",
        chain(
            write(
                "etc/kubernetes/enc/config.yaml", "kind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - identity: {}\n"
            ),
            flags("apiserver", encryption_provider_config="/etc/kubernetes/enc/config.yaml"),
        ),
        "warn",
    ),
    ("1.2.29", nothing, "warn"),
    ("1.2.29", flags("apiserver", tls_cipher_suites=STRONG), "pass"),
    ("1.2.29", flags("apiserver", tls_cipher_suites=STRONG + ",TLS_RSA_WITH_AES_128_CBC_SHA"), "warn"),
    ("1.2.29", flags("apiserver", tls_cipher_suites="TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"), "warn"),  # CBC: not in 1.12
    ("1.2.30", nothing, "fail"),
    ("1.2.30", flags("apiserver", service_account_extend_token_expiration="false"), "pass"),
    ("1.3.1", nothing, "warn"),
    ("1.3.1", flags("cm", terminated_pod_gc_threshold=10), "pass"),
    ("1.3.2", nothing, "fail"),
    ("1.3.2", flags("cm", profiling="false"), "pass"),
    ("1.3.3", nothing, "pass"),
    ("1.3.3", flags("cm", use_service_account_credentials="false"), "fail"),
    ("1.3.3", flags("cm", use_service_account_credentials=None), "fail"),  # the default is false
    ("1.3.4", nothing, "pass"),
    ("1.3.4", flags("cm", service_account_private_key_file=None), "fail"),
    ("1.3.5", nothing, "pass"),
    ("1.3.5", flags("cm", root_ca_file=None), "fail"),
    ("1.3.6", nothing, "pass"),
    ("1.3.6", flags("cm", feature_gates="RotateKubeletServerCertificate=false"), "fail"),
    ("1.3.6", flags("cm", feature_gates="Foo=true,RotateKubeletServerCertificate=true"), "pass"),
    ("1.3.7", nothing, "pass"),
    ("1.3.7", flags("cm", bind_address="0.0.0.0"), "fail"),
    ("1.3.7", flags("cm", bind_address=None), "pass"),
    ("1.4.1", nothing, "fail"),
    ("1.4.1", flags("scheduler", profiling="false"), "pass"),
    ("1.4.2", nothing, "pass"),
    ("1.4.2", flags("scheduler", bind_address="0.0.0.0"), "fail"),
    ("2.1", nothing, "pass"),
    ("2.1", flags("etcd", key_file=None), "fail"),
    ("2.1", chain(flags("etcd", key_file=None), env("etcd", ETCD_KEY_FILE="/etc/kubernetes/pki/etcd/server.key")), "pass"),
    ("2.2", nothing, "pass"),
    ("2.2", flags("etcd", client_cert_auth="false"), "fail"),
    ("2.2", flags("etcd", client_cert_auth=None), "fail"),
    ("2.3", nothing, "pass"),
    ("2.3", flags("etcd", auto_tls="true"), "fail"),
    ("2.3", flags("etcd", auto_tls="false"), "pass"),
    ("2.4", nothing, "pass"),
    ("2.4", flags("etcd", peer_cert_file=None), "fail"),
    ("2.5", nothing, "pass"),
    ("2.5", flags("etcd", peer_client_cert_auth="false"), "fail"),
    ("2.6", nothing, "pass"),
    ("2.6", flags("etcd", peer_auto_tls="true"), "fail"),
    ("2.7", nothing, "pass"),
    ("2.7", flags("etcd", trusted_ca_file=None), "warn"),
    ("3.1.1", nothing, "warn"),
    ("3.1.2", nothing, "warn"),
    ("3.1.3", nothing, "warn"),
    ("3.2.1", nothing, "warn"),
    ("3.2.1", flags("apiserver", audit_policy_file="/etc/kubernetes/audit-policy.yaml"), "pass"),
    ("3.2.2", nothing, "warn"),
    ("3.2.2", audit_policy(GOOD_POLICY), "pass"),
    ("3.2.2", audit_policy("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n"), "pass"),
    (
        "3.2.2",
        audit_policy(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n    resources: [{group: '', resources: [secrets]}]\n  - level: Metadata\n"
        ),
        "warn",
    ),
    (
        "3.2.2",
        audit_policy(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n    verbs: [get, list, watch]\n"
            "    resources: [{group: '', resources: [secrets]}]\n  - level: Metadata\n"
        ),
        "warn",
    ),  # reads dropped
    (
        "3.2.2",
        audit_policy(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n    resources: [{group: '', resources: [secrets, configmaps]}]\n"
        ),
        "warn",
    ),  # no tokenreviews
    ("3.2.2", audit_policy("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n  - level: Metadata\n"), "warn"),
    ("3.2.2", audit_policy("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n"), "warn"),
    ("3.2.2", audit_policy("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Everything\n"), "warn"),
    ("3.2.2", audit_policy("rules: [\n"), "warn"),
    ("3.2.2", flags("apiserver", audit_policy_file="/etc/kubernetes/nowhere.yaml"), "warn"),
]


@pytest.mark.parametrize(("cis_id", "change", "expected"), CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_control_plane_check(node, cis_id, change, expected):
    change(node)
    finding = statuses(node)[cis_id]
    assert finding["status"] == expected, finding["evidence"]
    assert finding["source"] == "cis-control-plane"


def test_the_table_covers_every_control_plane_check_both_ways():
    outcomes = {}
    for cis_id, dummy, expected in CASES:
        outcomes.setdefault(cis_id, set()).add(expected == "pass")
    assert set(outcomes) == set(CONTROL_PLANE_IDS)
    for cis_id in CONTROL_PLANE_IDS:
        if cis_id in MANUAL_IDS:
            assert outcomes[cis_id] == {False}
        else:
            assert outcomes[cis_id] == {True, False}, cis_id


def test_kubeadm_default_control_plane_results(node):
    result, context = audit(node)
    problems = {k: v["status"] for k, v in result.items() if v["status"] != "pass"}
    cp_problems = {k: v for k, v in problems.items() if not k.startswith("4.")}
    assert cp_problems == KUBEADM_DEFAULT_PROBLEMS
    assert {k: v for k, v in problems.items() if k.startswith("4.")} == KUBEADM_DEFAULT_NODE_PROBLEMS
    cp = [f for k, f in result.items() if not k.startswith("4.")]
    assert len(cp) == 72 and len(result) == 97
    assert {f["source"] for f in cp} == {"cis-control-plane"}
    assert {f["source"] for k, f in result.items() if k.startswith("4.")} == {"cis-node"}
    counts = _cis.summarize(cp)
    assert counts == {"pass": 46, "fail": 10, "warn": 16, "info": 0, "waived": 0, "total": 72}
    assert context["skipped_targets"] == {}
    assert context["components"]["kube-apiserver"]["kind"] == "manifest"
    assert context["components"]["kube-apiserver"]["flags_source"] == "/etc/kubernetes/manifests/kube-apiserver.yaml"


def test_worker_checks_keep_their_source_and_default_results(node):
    result = statuses(node, targets=["node"])
    assert len(result) == 25 and {f["source"] for f in result.values()} == {"cis-node"}
    # a caller-chosen source still applies to worker checks only
    mixed = statuses(node, source="cis-node")
    assert mixed["4.2.1"]["source"] == "cis-node" and mixed["1.2.1"]["source"] == "cis-control-plane"


def test_evidence_names_the_flag_and_manifest(node):
    flags("apiserver", profiling="true")(node)
    finding = statuses(node)["1.2.15"]
    assert finding["evidence"]["source"] == "flag --profiling (/etc/kubernetes/manifests/kube-apiserver.yaml)"
    assert finding["evidence"]["actual"] == "true" and finding["evidence"]["expected"] == "== false"
    unset = statuses(node)["1.2.16"]["evidence"]
    assert unset["actual"] == "not set" and "/etc/kubernetes/manifests/kube-apiserver.yaml" in unset["source"]
    assert finding["severity"] == "low" and finding["scored"] is True and finding["section"] == "1.2"


def test_multi_file_checks_name_every_offending_file(node):
    mode("etc/kubernetes/pki/ca.crt", 0o666)(node)
    mode("etc/kubernetes/pki/etcd/server.crt", 0o664)(node)
    finding = statuses(node)["1.1.20"]
    evidence = finding["evidence"]
    assert finding["status"] == "warn"
    assert evidence["offending"] == [{"file": "/etc/kubernetes/pki/ca.crt", "actual": "666"}, {"file": "/etc/kubernetes/pki/etcd/server.crt", "actual": "664"}]
    assert evidence["actual"] == "2 of 9 files: /etc/kubernetes/pki/ca.crt (666), /etc/kubernetes/pki/etcd/server.crt (664)"
    assert evidence["checked"] == 9 and all(f.endswith(".crt") for f in evidence["files"])
    assert "find /etc/kubernetes/pki -type f -name '*.crt'" in evidence["searched"]
    keys = statuses(node)["1.1.21"]["evidence"]
    assert keys["checked"] == 10 and keys["actual"] == "all 10 files"  # sa.pub is neither .crt nor .key


def test_multi_file_owner_lists_ids(node):
    owner("etc/kubernetes/pki/sa.key", 1000, 1001)(node)
    evidence = statuses(node)["1.1.19"]["evidence"]
    assert evidence["offending"] == [{"file": "/etc/kubernetes/pki/sa.key", "actual": evidence["offending"][0]["actual"], "uid": 1000, "gid": 1001}]
    assert "/etc/kubernetes/pki" in evidence["files"] and "/etc/kubernetes/pki/etcd" in evidence["files"]


def test_admin_conf_missing_altogether(node):
    remove("etc/kubernetes/admin.conf")(node)
    remove("etc/kubernetes/super-admin.conf")(node)
    finding = statuses(node)["1.1.13"]
    assert finding["status"] == "fail" and finding["evidence"]["actual"] == "no matching files"


def test_symlinks_in_pki_are_skipped_not_judged(node):
    os.symlink("/etc/shadow", node / "etc/kubernetes/pki/evil.key")
    finding = statuses(node)["1.1.21"]
    assert finding["status"] == "pass"
    assert finding["evidence"]["skipped_symlinks"] == ["/etc/kubernetes/pki/evil.key"]


def test_etcd_data_dir_follows_the_flag(node):
    (node / "srv/etcd-data").mkdir(parents=True)
    os.chmod(node / "srv/etcd-data", 0o750)
    flags("etcd", data_dir="/srv/etcd-data")(node)
    finding = statuses(node)["1.1.11"]
    assert finding["status"] == "fail" and finding["evidence"]["file"] == "/srv/etcd-data"


def test_etcd_owner_names_come_from_the_node_passwd(node):
    ETCD_USER(node)
    finding = statuses(node)["1.1.12"]
    assert finding["status"] == "pass" and finding["evidence"]["actual"] == "etcd:etcd"


def test_malformed_manifest_is_reported_per_check(node):
    (node / APISERVER).write_text("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command: [kube-apiserver\n")
    result = statuses(node)
    finding = result["1.2.6"]
    assert finding["status"] == "fail"
    assert finding["evidence"]["actual"] == "cannot evaluate (/etc/kubernetes/manifests/kube-apiserver.yaml unreadable)"
    assert "not valid YAML (line" in finding["evidence"]["error"] and str(node) not in finding["evidence"]["error"]
    assert result["1.2.1"]["status"] == "warn"  # unscored
    assert result["1.1.1"]["status"] == "pass"  # the file itself is still there with mode 600
    assert result["1.3.3"]["status"] == "pass"  # the other components are unaffected
    assert result["3.2.2"]["status"] == "warn"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("- a\n- list\n", "must hold a Pod mapping"),
        ("apiVersion: v1\nkind: Deployment\n", "is not a Pod manifest"),
        ("apiVersion: v1\nkind: Pod\nspec: {}\n", "no spec.containers"),
        ("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    command: --oops\n", "must be a list"),
        (
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: apiserver\n    command: [kube-apiserver]\n",
            "no container named 'kube-apiserver' (containers: apiserver)",
        ),
        ("kind: Pod\n---\nkind: Pod\n", "not valid YAML"),
    ],
)
def test_manifest_that_is_not_a_usable_pod(node, content, error):
    (node / APISERVER).write_text(content)
    finding = statuses(node)["1.2.25"]
    assert finding["status"] == "fail" and error in finding["evidence"]["error"]


def test_missing_manifest(node):
    remove(APISERVER)(node)
    result, context = audit(node)
    assert result["1.1.1"]["status"] == "fail" and result["1.1.1"]["evidence"]["actual"] == "file not found"
    finding = result["1.2.6"]
    assert finding["status"] == "fail"
    assert finding["evidence"]["actual"] == "kube-apiserver not found on the node"
    assert "no static pod manifest at /etc/kubernetes/manifests/kube-apiserver.yaml" in finding["evidence"]["note"]
    assert result["1.2.1"]["status"] == "warn"
    assert result["1.3.2"]["status"] == "fail" and result["1.4.2"]["status"] == "pass"  # others still read
    assert context["skipped_targets"] == {} and context["components"]["kube-apiserver"]["flags_source"] is None


def test_flags_in_args_instead_of_command(node):
    pod = load_manifest(node, "apiserver")
    container = pod["spec"]["containers"][0]
    container["args"] = [*container["command"][1:], "--profiling=false", "--audit-log-maxage", "45"]
    container["command"] = ["kube-apiserver"]
    save_manifest(node, "apiserver", pod)
    result = statuses(node)
    assert result["1.2.15"]["status"] == "pass"
    assert result["1.2.17"]["status"] == "pass" and result["1.2.17"]["evidence"]["actual"] == "45"
    assert result["1.2.6"]["status"] == "pass" and result["1.2.5"]["status"] == "fail"


def test_flags_in_args_without_command(node):
    pod = load_manifest(node, "apiserver")
    container = pod["spec"]["containers"][0]
    container["args"] = [*container.pop("command")[1:], "--anonymous-auth=false"]
    save_manifest(node, "apiserver", pod)
    result = statuses(node)
    assert result["1.2.1"]["status"] == "pass" and result["1.2.8"]["status"] == "pass"


def test_a_bare_boolean_flag_does_not_take_the_next_item(node):
    """pflag: `--profiling false` as two items is --profiling=true plus a stray argument."""
    pod = load_manifest(node, "apiserver")
    pod["spec"]["containers"][0]["command"] += ["--profiling", "false"]
    save_manifest(node, "apiserver", pod)
    finding = statuses(node)["1.2.15"]
    assert finding["status"] == "fail" and finding["evidence"]["actual"] == "true"


def test_the_last_occurrence_of_a_flag_wins(node):
    flags("apiserver", profiling="false")(node)
    pod = load_manifest(node, "apiserver")
    pod["spec"]["containers"][0]["command"].append("--profiling=true")
    save_manifest(node, "apiserver", pod)
    assert statuses(node)["1.2.15"]["status"] == "fail"


def test_policy_path_is_translated_through_the_pod_mounts(node):
    """--audit-policy-file names the path inside the container; the file lives where the hostPath says."""
    write("srv/audit/policy.yaml", GOOD_POLICY)(node)
    pod = load_manifest(node, "apiserver")
    pod["spec"]["containers"][0]["command"].append("--audit-policy-file=/etc/kubernetes/audit/policy.yaml")
    pod["spec"]["containers"][0]["volumeMounts"].append({"mountPath": "/etc/kubernetes/audit", "name": "audit", "readOnly": True})
    pod["spec"]["volumes"].append({"hostPath": {"path": "/srv/audit", "type": "Directory"}, "name": "audit"})
    save_manifest(node, "apiserver", pod)
    finding = statuses(node)["3.2.2"]
    assert finding["status"] == "pass", finding["evidence"]
    assert finding["evidence"]["file"] == "/srv/audit/policy.yaml"
    assert finding["evidence"]["levels"]["secrets"] == {"level": "Metadata", "rule": 2}


def test_audit_policy_evidence_says_what_is_missing(node):
    audit_policy(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n    verbs: [get, list, watch]\n"
        "    resources: [{group: '', resources: [secrets]}]\n"
        "  - level: Metadata\n    resources: [{group: '', resources: [secrets, configmaps]}]\n"
    )(node)
    evidence = statuses(node)["3.2.2"]["evidence"]
    assert "tokenreviews.authentication.k8s.io at None (no rule matches)" in evidence["actual"]
    assert "secrets partly unaudited by rules[0] (level None, verbs=get,list,watch)" in evidence["actual"]
    assert evidence["note"].startswith("manual (unscored) check")


@pytest.mark.parametrize(
    ("rules", "level"),
    [
        ([{"level": "Request", "resources": [{"group": "", "resources": ["*"]}]}], "Request"),
        # checker.go: "secrets/*" matches the resource itself too; "*/status" only the status subresource
        ([{"level": "Metadata", "resources": [{"group": "", "resources": ["secrets/*"]}]}], "Metadata"),
        ([{"level": "Metadata", "resources": [{"group": "", "resources": ["*/status"]}]}], "None"),
        ([{"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"], "resourceNames": ["a"]}]}], "None"),
        ([{"level": "None", "nonResourceURLs": ["/healthz*"]}, {"level": "Metadata"}], "Metadata"),
        ([{"level": "RequestResponse", "resources": [{"group": "apps"}]}], "None"),  # other group
        ([{"level": "Metadata", "resources": [{"group": ""}]}], "Metadata"),  # a whole group
        ([{"level": "None", "namespaces": ["kube-system"]}, {"level": "Request"}], "Request"),
    ],
)
def test_audit_policy_first_match(rules, level):
    assert _cis.audit_policy_level({"rules": rules}, "", "secrets")[0] == level


def test_manual_checks_always_warn_with_what_to_review(node):
    flags("apiserver", request_timeout="300s")(node)
    result = statuses(node)
    for cis_id in MANUAL_IDS:
        assert result[cis_id]["status"] == "warn"
        assert "manual check" in result[cis_id]["evidence"]["note"] and result[cis_id]["evidence"]["review"]
    assert result["1.2.20"]["evidence"]["current"] == "300s"


def test_encryption_config_errors_are_named(node):
    chain(write("etc/kubernetes/enc/config.yaml", "kind: Secret\n"), flags("apiserver", encryption_provider_config="/etc/kubernetes/enc/config.yaml"))(node)
    evidence = statuses(node)["1.2.28"]["evidence"]
    assert "is not an EncryptionConfiguration" in evidence["error"]
    encryption("kms")(node)
    assert statuses(node)["1.2.28"]["evidence"]["providers"] == {"secrets": "kms"}


def test_worker_node_gets_no_control_plane_findings(tmp_path):
    root = tmp_path / "w"
    materialize(root, "worker:kubeadm-default", node="w1")
    findings, context = _cis.audit_node(str(root), CATALOGUE, targets=ALL_TARGETS, node="w1")
    assert_valid_findings(findings)
    assert {f["id"].split("-")[1].split(".")[0] for f in findings} == {"4"}
    assert set(context["skipped_targets"]) == {"master", "etcd", "controlplane"}
    assert "none of kube-apiserver, kube-controller-manager, kube-scheduler found" in context["skipped_targets"]["master"]


def test_etcd_only_missing_skips_just_the_etcd_target(node):
    remove(MANIFESTS["etcd"])(node)
    result, context = audit(node)
    assert set(context["skipped_targets"]) == {"etcd"}
    assert "2.1" not in result and result["1.1.7"]["status"] == "fail"


def test_waiver_on_a_control_plane_check(node):
    result = statuses(node, controls={"1.2.15": {"enabled": False, "reason": "profiling needed for a perf study"}})
    assert result["1.2.15"]["status"] == "waived" and result["1.2.15"]["original_status"] == "fail"
    assert result["1.2.15"]["source"] == "cis-control-plane"


def test_broken_profile_tree(tmp_path):
    root = tmp_path / "b"
    materialize(root, "control-plane:broken", node="b1")
    result = statuses(root)
    assert result["1.2.6"]["status"] == "fail" and result["1.2.6"]["severity"] == "critical"
    assert result["1.2.1"]["status"] == "warn" and result["1.1.1"]["status"] == "fail"
    assert result["1.1.13"]["status"] == "fail" and "admin.conf (644)" in result["1.1.13"]["evidence"]["actual"]
    assert result["1.2.25"]["status"] == "fail"


def test_cis_1_11_differs_where_kube_bench_does(node):
    flags("apiserver", tls_cipher_suites="TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")(node)
    r11, r12 = audit(node, catalogue=CATALOGUE_11)[0], statuses(node)
    assert r11["1.2.29"]["status"] == "pass" and r12["1.2.29"]["status"] == "warn"
    assert r11["1.2.30"]["status"] == "warn" and r12["1.2.30"]["status"] == "fail"  # unscored in 1.11
    cp11 = {k for k in r11 if not k.startswith("4.")}
    assert cp11 == set(CONTROL_PLANE_IDS)
    problems11 = {k: v["status"] for k, v in r11.items() if v["status"] != "pass" and not k.startswith("4.")}
    expected = dict(KUBEADM_DEFAULT_PROBLEMS, **{"1.2.30": "warn"})
    del expected["1.2.29"]
    assert problems11 == expected


def test_control_plane_checks_are_well_formed():
    for catalogue in (CATALOGUE, CATALOGUE_11):
        for check in catalogue["checks"]:
            if str(check["id"]).split(".")[0] in ("1", "2", "3"):
                assert check["severity"] in ("critical", "high", "medium", "low")
                assert check["remediation"].strip() and check["title"].strip()
                assert _cis.target_of(catalogue, check) in ("master", "etcd", "controlplane")


# ------------------------------------------------------------------------------ hostile manifests

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.text(max_size=12),
    st.sampled_from(["--profiling=false", "--anonymous-auth", "-", "--", "--x=", "=", "--audit-log-maxage"]),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=_VALUES, args=_VALUES, env_=_VALUES, volumes=_VALUES, mounts=_VALUES)
def test_hostile_manifest_fields_never_crash_the_audit(node, command, args, env_, volumes, mounts):
    data = load_manifest(node, "apiserver")
    container = data["spec"]["containers"][0]
    container.update({"command": command, "args": args, "env": env_, "volumeMounts": mounts})
    data["spec"]["volumes"] = volumes
    save_manifest(node, "apiserver", data)
    result = statuses(node)
    assert len(result) == 97
    assert result["1.2.6"]["status"] in ("pass", "fail")


def test_a_component_without_manifest_falls_back_to_its_unit(tmp_path):
    """Non-kubeadm control planes run kube-apiserver from systemd: `unit:` is the fallback of `manifest:`."""
    root = tmp_path / "hard-way"
    unit = root / "etc/systemd/system/kube-apiserver.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/local/bin/kube-apiserver --authorization-mode=Node,RBAC --profiling=false\n")
    catalogue = {
        "version": "t",
        "components": {"kube-apiserver": {"manifest": "/etc/kubernetes/manifests/kube-apiserver.yaml", "unit": "kube-apiserver.service"}},
        "target_sections": {"1": "master"},
        "target_components": {"master": ["kube-apiserver"]},
        "checks": [
            {
                "id": "1.2.15",
                "title": "profiling",
                "scored": True,
                "remediation": "r",
                "test": {"type": "setting", "component": "kube-apiserver", "flag": "--profiling", "op": "eq", "value": False},
            }
        ],
    }
    findings, context = _cis.audit_node(str(root), catalogue, targets=["master"], node="n")
    assert findings[0]["status"] == "pass" and findings[0]["source"] == "cis-control-plane"
    assert context["components"]["kube-apiserver"]["kind"] == "unit"
    assert "kube-apiserver.service" in findings[0]["evidence"]["source"]


def test_a_file_test_without_file_or_find_is_a_catalogue_error(node):
    catalogue = {
        "checks": [{"id": "1.1.99", "title": "t", "scored": True, "remediation": "r", "test": {"type": "file_mode", "max": "600"}}],
        "target_sections": {"1": "master"},
    }
    with pytest.raises(_cis.CatalogueError, match="needs file"):
        _cis.audit_node(str(node), catalogue, targets=["master"])


# CIS 3.2.2 lists what the policy must cover (kube-bench cfg/cis-1.12/controlplane.yaml, type manual): Secrets,
# ConfigMaps and TokenReviews at Metadata only; modification of Pods and Deployments; pods/exec, pods/portforward,
# pods/proxy and services/proxy. Each row was PASS before (only secrets/configmaps/tokenreviews >= Metadata counted).
POLICY_HEAD = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"
POLICY_GAPS = [
    (
        "  - level: RequestResponse\n",
        [
            "secrets at RequestResponse (above Metadata: the log would hold their contents)",
            "configmaps at RequestResponse",
            "tokenreviews.authentication.k8s.io at RequestResponse",
        ],
    ),
    ("  - level: None\n    resources: [{group: '', resources: [pods/exec]}]\n  - level: Metadata\n", ["pods/exec at None"]),
    (
        "  - level: None\n    resources: [{group: '', resources: ['pods/*']}]\n  - level: Metadata\n",
        ["pods/exec at None", "pods/portforward at None", "pods/proxy at None"],
    ),
    ("  - level: None\n    resources: [{group: '', resources: ['*/proxy']}]\n  - level: Metadata\n", ["pods/proxy at None", "services/proxy at None"]),
    (
        "  - level: None\n    verbs: [update, patch]\n    resources: [{group: apps, resources: [deployments]}]\n  - level: Metadata\n",
        ["update deployments.apps at None", "patch deployments.apps at None"],
    ),
    ("  - level: None\n    resources: [{group: '', resources: [pods]}]\n  - level: Metadata\n", ["create pods at None", "deletecollection pods at None"]),
    # logs only reads of pods: every modifying verb falls through to no rule
    (
        "  - level: Metadata\n    verbs: [get, list, watch]\n  - level: Metadata\n    resources: [{group: '', resources: "
        "[secrets, configmaps, pods/exec, pods/portforward, pods/proxy, services/proxy]}, {group: authentication.k8s.io, "
        "resources: [tokenreviews]}]\n",
        ["create pods at None (no rule matches)", "delete deployments.apps at None"],
    ),
]


@pytest.mark.parametrize(("rules", "problems"), POLICY_GAPS, ids=[str(i) for i in range(len(POLICY_GAPS))])
def test_audit_policy_checks_every_area_cis_lists(node, rules, problems):
    audit_policy(POLICY_HEAD + rules)(node)
    finding = statuses(node)["3.2.2"]
    assert finding["status"] == "warn", finding["evidence"]
    for problem in problems:
        assert problem in finding["evidence"]["actual"], (problem, finding["evidence"]["actual"])


def test_audit_policy_covering_every_area_passes_with_evidence_per_area(node):
    audit_policy(GOOD_POLICY)(node)
    finding = statuses(node)["3.2.2"]
    assert finding["status"] == "pass", finding["evidence"]
    levels = finding["evidence"]["levels"]
    assert set(levels) == {
        "secrets",
        "configmaps",
        "tokenreviews.authentication.k8s.io",
        "pods (create,update,patch,delete,deletecollection)",
        "deployments.apps (create,update,patch,delete,deletecollection)",
        "pods/exec",
        "pods/portforward",
        "pods/proxy",
        "services/proxy",
    }
    assert levels["pods/exec"] == {"level": "RequestResponse", "rule": 3}
    assert levels["services/proxy"] == {"level": "Metadata", "rule": 4}  # the catch-all
    assert levels["pods (create,update,patch,delete,deletecollection)"]["by_verb"]["delete"] == {"level": "RequestResponse", "rule": 3}
    assert "secrets at Metadata" in finding["evidence"]["actual"]


@pytest.mark.parametrize("preset", ["default", "metadata"])
def test_the_audit_logging_role_policies_cover_every_area(node, preset):
    """kubesec's own policies (roles/audit_logging/templates/policy) must pass what we audit."""
    text = (COLLECTIONS / "ansible_collections/kubesec/cluster/roles/audit_logging/templates/policy" / f"{preset}.yaml.j2").read_text()
    audit_policy(text)(node)
    finding = statuses(node)["3.2.2"]
    assert finding["status"] == "pass", finding["evidence"]["actual"]


@pytest.mark.parametrize(
    ("resource", "verb", "rules", "level"),
    [
        ("pods/exec", None, [{"level": "Request", "resources": [{"group": "", "resources": ["*"]}]}], "Request"),
        ("pods/exec", None, [{"level": "Request", "resources": [{"group": "", "resources": ["pods"]}]}], "None"),
        ("pods/exec", None, [{"level": "Request", "resources": [{"group": "", "resources": ["*/exec"]}]}], "Request"),
        ("pods/exec", None, [{"level": "Request", "resources": [{"group": "", "resources": ["pods/*"]}]}], "Request"),
        ("pods", "delete", [{"level": "None", "verbs": ["get"]}, {"level": "Metadata"}], "Metadata"),
        ("pods", "delete", [{"level": "None", "verbs": ["delete"]}, {"level": "Metadata"}], "None"),
        ("pods", "delete", [{"level": "Request", "verbs": ["*"]}], "Request"),
    ],
)
def test_audit_policy_subresources_and_verbs(resource, verb, rules, level):
    assert _cis.audit_policy_level({"rules": rules}, "", resource, verb)[0] == level
