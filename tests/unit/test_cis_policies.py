# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CIS section 5 from cluster objects (module_utils/_cis_policies.py, data/cis_policies/) and the cluster policy
rules KS-RB / KS-NET / KS-CM (module_utils/_policy_rules.py). Objects are in the shapes the API returns."""

import copy
import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis_policies as cp
from ansible_collections.kubesec.cluster.plugins.module_utils import _policy_rules as pr
from ansible_collections.kubesec.cluster.plugins.module_utils import _workload
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _policies_catalogue as catalogues
from tests.conftest import ROOT, assert_valid_findings

DEMO = ROOT / "inventories" / "demo" / "exports"
CIS_112 = catalogues.load("cis-1.12")
CIS_111 = catalogues.load("cis-1.11")
CIS_110 = catalogues.load("cis-1.10")
RBAC = "rbac.authorization.k8s.io/v1"
# kube-bench cfg/cis-1.12/policies.yaml: the ids, and the 11 checks with an audit command (the rest type: manual).
KUBE_BENCH_112 = (
    ["5.1.%d" % n for n in range(1, 14)]
    + ["5.2.%d" % n for n in range(1, 13)]
    + ["5.3.1", "5.3.2", "5.4.1", "5.4.2", "5.5.1", "5.6.1", "5.6.2", "5.6.3", "5.6.4"]
)
KUBE_BENCH_112_AUDITED = ["5.1.1", "5.1.2", "5.1.3", "5.1.4", "5.1.5", "5.1.6", "5.2.2", "5.2.3", "5.2.4", "5.2.5", "5.2.6"]


# ---------------------------------------------------------------------------------------------------------
# Builders (API shapes)


def cluster_role(name, rules, labels=None):
    meta = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": meta, "rules": rules}


def role(name, namespace, rules):
    return {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": rules}


def binding(name, role_name, subjects, namespace=None, role_kind="ClusterRole"):
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta = {"name": name, "namespace": namespace} if namespace else {"name": name}
    return {
        "apiVersion": RBAC,
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": subjects,
    }


def user(name):
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def group(name):
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


def sa(name, namespace):
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def rule(groups, resources, verbs, names=None):
    out = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


def deployment(name="web", namespace="shop", pod=None, container=None):
    spec = {"containers": [dict({"name": "app", "image": "registry.example.com/app:1.0"}, **(container or {}))]}
    spec.update(pod or {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
    }


def namespace(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def by_id(result):
    return {f["id"]: f for f in result["findings"]}


def policy(result, rule_id):
    return [f for f in result["policy_findings"] if f["id"] == rule_id]


def audit(objects, catalogue=CIS_112, **kwargs):
    result = cp.audit(copy.deepcopy(objects), catalogue, cluster="t", **kwargs)
    assert_valid_findings(result["findings"] + result["policy_findings"])
    return result


def demo_objects():
    objects, origins = [], []
    for folder in ("cluster", "manifests"):
        found, where, _warnings = _workload.load_manifests(str(DEMO / folder))
        objects += found
        origins += where
    return objects, origins


# ---------------------------------------------------------------------------------------------------------
# The catalogue data


def test_cis_112_section_5_has_kube_bench_ids_and_manual_count():
    ids = [check["id"] for check in CIS_112["checks"]]
    assert ids == KUBE_BENCH_112
    audited = [check["id"] for check in CIS_112["checks"] if check["kube_bench"] == "audit"]
    assert audited == KUBE_BENCH_112_AUDITED
    assert len(ids) - len(audited) == 23  # kube-bench: 23 of 34 manual
    assert sum(1 for c in CIS_112["checks"] if c["decided"] == "objects") == 29


def test_cis_111_adds_5_2_13_and_shifts_the_capability_checks():
    ids = [check["id"] for check in CIS_111["checks"]]
    assert len(ids) == 35 and ids[ids.index("5.2.12") + 1] == "5.2.13"
    checks = {c["id"]: c for c in CIS_111["checks"]}
    assert checks["5.2.9"]["title"] == "Minimize the admission of containers with added capabilities"
    assert checks["5.2.9"]["kube_bench"] == "audit"
    assert checks["5.2.13"]["title"] == "Minimize the admission of containers which use HostPorts"
    assert checks["5.2.11"]["test"]["type"] == "host_process"


def test_cis_110_numbers_the_general_policies_5_7():
    ids = [check["id"] for check in CIS_110["checks"]]
    assert len(ids) == 35 and ids[-4:] == ["5.7.1", "5.7.2", "5.7.3", "5.7.4"] and "5.6.1" not in ids
    assert {c["id"]: c["test"] for c in CIS_110["checks"]}["5.7.2"]["type"] == "seccomp"


def test_every_test_type_and_rule_named_by_the_catalogues_exists():
    for catalogue in (CIS_112, CIS_111, CIS_110):
        for check in catalogue["checks"]:
            assert check["test"]["type"] in cp.TESTS, check["id"]
            rule_id = check["test"].get("rule")
            if rule_id and rule_id.startswith("KS-WL"):
                assert rule_id in _workload.RULES_BY_ID, check["id"]
            elif rule_id:
                assert rule_id in pr.RULES_BY_ID, check["id"]


def test_catalogue_schema_names_the_bad_field(tmp_path):
    with open(os.path.join(catalogues.CATALOGUE_DIR, "cis-1.12.yml"), encoding="utf-8") as handle:
        bad = yaml.safe_load(handle)
    bad["checks"][0]["test"]["type"] = "guess"
    (tmp_path / "cis-1.12.yml").write_text(yaml.safe_dump(bad))
    with pytest.raises(catalogues.PoliciesCatalogueError, match=r"checks/0/test/type"):
        catalogues.load("cis-1.12", str(tmp_path))
    with pytest.raises(catalogues.PoliciesCatalogueError, match="no section-5 catalogue for benchmark 'cis-1.5'"):
        catalogues.for_benchmark("cis-1.5")


# ---------------------------------------------------------------------------------------------------------
# RBAC matching


@pytest.mark.parametrize(
    "granted, wanted, expected",
    [
        (
            rule([""], ["secrets"], ["get", "list"]),
            {"api_groups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
            ["get secrets", "list secrets"],
        ),
        (rule(["*"], ["*"], ["*"]), {"api_groups": [""], "resources": ["pods/exec"], "verbs": ["create"]}, ["create pods/exec"]),
        (rule([""], ["pods/*"], ["create"]), {"api_groups": [""], "resources": ["pods/exec"], "verbs": ["create"]}, ["create pods/exec"]),
        (rule([""], ["*/exec"], ["create"]), {"api_groups": [""], "resources": ["pods/exec"], "verbs": ["create"]}, ["create pods/exec"]),
        (rule([""], ["pods"], ["create"]), {"api_groups": [""], "resources": ["pods/exec"], "verbs": ["create"]}, []),
        (rule(["apps"], ["secrets"], ["get"]), {"api_groups": [""], "resources": ["secrets"], "verbs": ["get"]}, []),
        (rule([""], ["secrets"], ["get"], names=["app-tls"]), {"api_groups": [""], "resources": ["secrets"], "verbs": ["get"]}, []),
    ],
)
def test_rule_grants(granted, wanted, expected):
    assert pr.rule_grants(granted, wanted) == expected


def test_a_rolebinding_cannot_grant_cluster_scoped_resources():
    objects = [
        role("all", "team", [rule(["*"], ["*"], ["*"])]),
        binding("all", "all", [user("dev")], namespace="team", role_kind="Role"),
        cluster_role("proxy", [rule([""], ["nodes/proxy"], ["get"])]),
        binding("proxy-in-ns", "proxy", [user("dev")], namespace="team"),
    ]
    result = audit(objects)
    assert policy(result, "KS-RB-003") == []  # nodes/proxy is cluster-scoped
    assert [f["resource"]["name"] for f in policy(result, "KS-RB-004")] == ["all"]  # secrets of the namespace


@pytest.mark.parametrize(
    "subject, flagged",
    [
        (user("alice"), True),
        (group("system:authenticated"), True),  # everyone: never a system exemption
        (group("system:serviceaccounts:shop"), True),
        (user("system:kube-controller-manager"), False),
        (group("system:masters"), False),
        (sa("ingress", "kube-system"), False),  # excluded namespace
        (sa("ingress", "shop"), True),
    ],
)
def test_system_subjects_are_exempt_broad_groups_are_not(subject, flagged):
    objects = [cluster_role("read-secrets", [rule([""], ["secrets"], ["list"])]), binding("read-secrets", "read-secrets", [subject])]
    assert bool(policy(audit(objects), "KS-RB-004")) is flagged


def test_allowed_subjects_and_ignored_roles():
    objects = [
        cluster_role("read-secrets", [rule([""], ["secrets"], ["list"])]),
        binding("vault", "read-secrets", [sa("vault", "vault")]),
        binding("admin", "cluster-admin", [user("alice")]),
        cluster_role("cluster-admin", [rule(["*"], ["*"], ["*"])]),
    ]
    settings = {"KS-RB-004": {"params": {"allowed_subjects": ["system:serviceaccount:vault:vault"]}}}
    result = audit(objects, rules=settings)
    assert policy(result, "KS-RB-004") == []  # vault allowed; cluster-admin is left to CIS 5.1.1 / KS-WL-021
    assert by_id(result)["CIS-5.1.1"]["status"] == "fail"
    assert "ClusterRoleBinding admin -> User alice" in by_id(result)["CIS-5.1.1"]["evidence"]["offending"]


# ---------------------------------------------------------------------------------------------------------
# Each cluster policy rule: one offending and one clean object

RULE_CASES = {
    "KS-RB-001": (
        [cluster_role("esc", [rule(["rbac.authorization.k8s.io"], ["clusterroles"], ["escalate"])]), binding("esc", "esc", [user("bob")])],
        [cluster_role("esc", [rule(["rbac.authorization.k8s.io"], ["clusterroles"], ["get"])]), binding("esc", "esc", [user("bob")])],
    ),
    "KS-RB-002": (
        [cluster_role("x", [rule([""], ["pods/attach"], ["create"])]), binding("x", "x", [user("bob")])],
        [cluster_role("x", [rule([""], ["pods/log"], ["get"])]), binding("x", "x", [user("bob")])],
    ),
    "KS-RB-003": (
        [cluster_role("x", [rule([""], ["nodes/proxy"], ["get"])]), binding("x", "x", [user("bob")])],
        [cluster_role("x", [rule([""], ["nodes/metrics"], ["get"])]), binding("x", "x", [user("bob")])],
    ),
    "KS-RB-004": (
        [cluster_role("x", [rule([""], ["secrets"], ["watch"])]), binding("x", "x", [user("bob")])],
        [cluster_role("x", [rule([""], ["secrets"], ["get"], names=["tls"])]), binding("x", "x", [user("bob")])],
    ),
    "KS-RB-005": (
        [cluster_role("x", [rule(["certificates.k8s.io"], ["certificatesigningrequests/approval"], ["update"])]), binding("x", "x", [user("bob")])],
        [cluster_role("x", [rule(["certificates.k8s.io"], ["certificatesigningrequests"], ["create"])]), binding("x", "x", [user("bob")])],
    ),
    "KS-RB-006": (
        [cluster_role("x", [rule(["admissionregistration.k8s.io"], ["validatingwebhookconfigurations"], ["delete"])]), binding("x", "x", [user("bob")])],
        [cluster_role("x", [rule(["admissionregistration.k8s.io"], ["validatingwebhookconfigurations"], ["list"])]), binding("x", "x", [user("bob")])],
    ),
    "KS-RB-007": (
        [cluster_role("x", [rule(["discovery.k8s.io"], ["endpointslices"], ["patch"])]), binding("x", "x", [user("bob")])],
        [cluster_role("x", [rule([""], ["endpoints"], ["get", "list"])]), binding("x", "x", [user("bob")])],
    ),
    "KS-RB-008": (
        [cluster_role("x", [rule([""], ["pods"], ["list"])]), binding("x", "x", [user("system:anonymous")])],
        [cluster_role("system:public-info-viewer", []), binding("system:public-info-viewer", "system:public-info-viewer", [group("system:unauthenticated")])],
    ),
    "KS-RB-009": ([deployment()], [deployment(pod={"serviceAccountName": "web"})]),
    "KS-NET-001": (
        [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "s", "namespace": "shop"},
                "spec": {"externalIPs": ["198.51.100.7"], "ports": [{"port": 80}]},
            }
        ],
        [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "shop"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}],
    ),
    "KS-NET-002": (
        [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "i", "namespace": "shop", "annotations": {"nginx.ingress.kubernetes.io/server-snippet": "location /x { return 200; }"}},
                "spec": {"rules": [{"host": "shop.example.com"}]},
            }
        ],
        [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "i", "namespace": "shop", "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"}},
                "spec": {"rules": [{"host": "shop.example.com"}]},
            }
        ],
    ),
    "KS-NET-003": (
        [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "i", "namespace": "shop"},
                "spec": {"rules": [{"host": "*.example.com"}]},
            }
        ],
        [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "i", "namespace": "shop"},
                "spec": {"rules": [{"host": "www.example.com"}, {"http": {"paths": []}}]},
            }
        ],
    ),
    "KS-CM-001": (
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "shop"},
                "data": {"settings.ini": "[db]\npassword = hunter2-secret\n"},
            }
        ],
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "shop"},
                "data": {"PASSWORD_FILE": "/run/secrets/db", "LOG_LEVEL": "debug"},
            }
        ],
    ),
}


@pytest.mark.parametrize("rule_id", sorted(RULE_CASES))
def test_each_policy_rule_flags_the_bad_object_and_passes_the_good(rule_id):
    bad, good = RULE_CASES[rule_id]
    found = policy(audit(bad), rule_id)
    assert len(found) == 1 and found[0]["status"] == "fail", rule_id
    assert found[0]["source"] == "cluster-policy" and found[0]["severity"] == pr.RULES_BY_ID[rule_id]["severity"]
    assert policy(audit(good), rule_id) == []
    assert policy(audit(bad, rules={rule_id: False}), rule_id) == []  # toggle
    passed = policy(audit(good, include_passed=True), rule_id)
    assert [f["status"] for f in passed] == ["pass"]


@pytest.mark.parametrize("rule_id", ["KS-RB-009", "KS-NET-001", "KS-CM-001"])
def test_namespace_exclusions_per_rule_and_global(rule_id):
    bad, _good = RULE_CASES[rule_id]
    assert policy(audit(bad, rules={rule_id: {"exclude_namespaces": ["shop"]}}), rule_id) == []
    assert policy(audit(bad, exclude_namespaces=["sh*"]), rule_id) == []
    moved = copy.deepcopy(bad)
    moved[0]["metadata"]["namespace"] = "kube-system"
    assert policy(audit(moved), rule_id) == []  # system namespaces: excluded by default
    assert len(policy(audit(moved, exclude_namespaces=[]), rule_id)) == 1  # ... and can be audited


def test_configmap_secret_values_never_appear():
    bad = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "shop"},
            "data": {"API_KEY": "sk-live-0123456789abcdef", "dsn": "postgres://app:S3cr3t-pw@db:5432/app", "plain": "hello"},
        }
    ]
    result = audit(bad)
    text = json.dumps(result)
    for value in ("sk-live-0123456789abcdef", "S3cr3t-pw"):
        assert value not in text
    (finding,) = policy(result, "KS-CM-001")
    assert [k["key"] for k in finding["evidence"]["keys"]] == ["API_KEY", "dsn"]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"KS-XX-001": True}, "unknown rule 'KS-XX-001'"),
        ({"KS-RB-004": {"params": {"allowed_subject": []}}}, r"unknown parameter\(s\) allowed_subject"),
        ({"KS-NET-003": {"params": {"include_catch_all": "yes"}}}, "include_catch_all must be true or false"),
        ({"KS-NET-002": {"params": {"annotation_pattern": "("}}}, "not a valid regular expression"),
        ({"KS-RB-001": {"mode": "deny"}}, r"unknown setting\(s\) mode"),
        ({"KS-RB-001": {"exclude_namespaces": "shop"}}, "exclude_namespaces must be a list"),
    ],
)
def test_bad_rule_settings_name_rule_and_setting(settings, message):
    with pytest.raises(pr.PolicyConfigError, match=message):
        pr.resolve_settings(settings)


# ---------------------------------------------------------------------------------------------------------
# Section 5: one evaluation, two ids; not decided is never a pass


def test_workload_rule_checks_read_the_workload_rule_once():
    objects = [deployment(container={"securityContext": {"privileged": True}}), namespace("shop")]
    result = audit(objects)
    assert by_id(result)["CIS-5.2.2"]["status"] == "fail"
    assert by_id(result)["CIS-5.2.2"]["evidence"]["decided_by"] == "KS-WL-015"
    off = audit(objects, workload_rules={"KS-WL-015": False})
    assert by_id(off)["CIS-5.2.2"]["status"] == "warn"
    assert "KS-WL-015" in by_id(off)["CIS-5.2.2"]["description"]
    warn = audit(objects, workload_rules={"privileged": {"mode": "warn"}})
    assert by_id(warn)["CIS-5.2.2"]["status"] == "warn"


def test_host_namespace_checks_split_one_rule_by_field():
    result = audit([deployment(pod={"hostPID": True})])
    assert by_id(result)["CIS-5.2.3"]["status"] == "fail"
    assert by_id(result)["CIS-5.2.4"]["status"] == "pass"
    assert by_id(result)["CIS-5.2.5"]["status"] == "pass"


def test_checks_without_their_objects_are_not_decided():
    result = audit([namespace("shop")])
    for cid in ("5.1.1", "5.1.2", "5.1.3", "5.2.2", "5.6.2"):
        finding = by_id(result)["CIS-" + cid]
        assert finding["status"] == "warn" and finding["description"].startswith("Not decided"), cid


def test_an_unreadable_list_turns_a_pass_into_not_decided():
    objects = [
        cluster_role("view", [rule([""], ["pods"], ["get"])]),
        binding("v", "view", [user("bob")]),
        deployment(pod={"serviceAccountName": "web"}),
        namespace("shop"),
    ]
    assert by_id(audit(objects))["CIS-5.3.2"]["status"] == "fail"
    assert by_id(audit(objects))["CIS-5.1.8"]["status"] == "pass"
    blocked = audit(objects, unreadable={"ClusterRoleBinding": "403 forbidden"})
    assert by_id(blocked)["CIS-5.1.8"]["status"] == "warn"
    assert "ClusterRoleBinding: 403 forbidden" in by_id(blocked)["CIS-5.1.8"]["description"]


@pytest.mark.parametrize(
    "objects, status",
    [
        ([namespace("shop", {"pod-security.kubernetes.io/enforce": "restricted"})], "pass"),
        ([namespace("shop", {"pod-security.kubernetes.io/enforce": "privileged"})], "fail"),
        ([namespace("shop")], "fail"),
        (
            [
                namespace("shop"),
                {
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingWebhookConfiguration",
                    "metadata": {"name": "gatekeeper-validating-webhook-configuration"},
                    "webhooks": [{"name": "validation.gatekeeper.sh"}],
                },
            ],
            "pass",
        ),
        ([namespace("kube-system")], "pass"),
        (
            [namespace("shop", {"pod-security.kubernetes.io/enforce": "baseline"}), namespace("empty"), deployment(pod={"serviceAccountName": "web"})],
            "pass",
        ),  # only namespaces with user workloads count
        ([namespace("shop"), namespace("empty", {"pod-security.kubernetes.io/enforce": "baseline"}), deployment(pod={"serviceAccountName": "web"})], "fail"),
    ],
)
def test_policy_control_5_2_1(objects, status):
    assert by_id(audit(objects))["CIS-5.2.1"]["status"] == status


def apiserver(plugins):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kube-apiserver-cp", "namespace": "kube-system", "labels": {"component": "kube-apiserver"}},
        "spec": {
            "containers": [
                {
                    "name": "kube-apiserver",
                    "image": "registry.k8s.io/kube-apiserver:v1.33.4",
                    "command": ["kube-apiserver", "--enable-admission-plugins=" + plugins],
                }
            ]
        },
    }


@pytest.mark.parametrize(
    "objects, status",
    [
        ([apiserver("NodeRestriction,ImagePolicyWebhook")], "pass"),
        ([apiserver("NodeRestriction")], "fail"),
        ([], "warn"),
    ],
)
def test_image_provenance_5_5_1(objects, status):
    assert by_id(audit(objects))["CIS-5.5.1"]["status"] == status


@pytest.mark.parametrize(
    "container, pod, annotations, status",
    [
        ({}, {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}, None, "pass"),
        ({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}, {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}, None, "fail"),
        ({}, {}, {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}, "pass"),
        ({"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}}, {}, None, "pass"),
        ({}, {}, None, "fail"),
    ],
)
def test_seccomp_5_6_2(container, pod, annotations, status):
    obj = deployment(pod=pod, container=container)
    if annotations:
        obj["spec"]["template"]["metadata"]["annotations"] = annotations
    assert by_id(audit([obj]))["CIS-5.6.2"]["status"] == status


@pytest.mark.parametrize(
    "container, status",
    [
        ({"securityContext": {"capabilities": {"drop": ["ALL"]}}}, "pass"),
        ({"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}}, "pass"),
        ({"securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}}}, "fail"),
        ({}, "fail"),
    ],
)
def test_net_raw_5_2_8(container, status):
    assert by_id(audit([deployment(container=container)]))["CIS-5.2.8"]["status"] == status


def test_host_process_5_2_10_and_cni_5_3_1():
    obj = deployment(container={"securityContext": {"windowsOptions": {"hostProcess": True}}})
    assert by_id(audit([obj]))["CIS-5.2.10"]["status"] == "fail"
    flannel = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "kube-flannel-ds", "namespace": "kube-flannel"},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "kube-flannel", "image": "ghcr.io/flannel-io/flannel:v0.26.7"}]}}},
    }
    assert by_id(audit([flannel]))["CIS-5.3.1"]["status"] == "fail"
    cilium = copy.deepcopy(flannel)
    cilium["metadata"]["name"] = "cilium"
    assert by_id(audit([flannel, cilium]))["CIS-5.3.1"]["status"] == "pass"


def test_controls_waive_a_check():
    result = audit([namespace("shop")], controls={"5.4.2": {"enabled": False, "reason": "Vault via CSI, not exported"}})
    finding = by_id(result)["CIS-5.4.2"]
    assert finding["status"] == "waived" and finding["original_status"] == "warn"


def test_bad_input_is_named():
    with pytest.raises(cp.PolicyInputError, match="objects must be a list"):
        cp.audit({"kind": "Pod"}, CIS_112)
    result = cp.audit([["not", "an", "object"], {"metadata": {}}], CIS_112)
    assert result["input_errors"] == ["objects[0]: not a Kubernetes object (list)", "objects[1]: not a Kubernetes object (no kind)"]
    with pytest.raises(cp.PolicyInputError, match="unknown test type 'guess'"):
        cp.audit([], {"version": "x", "checks": [dict(CIS_112["checks"][0], test={"type": "guess"})]})


# ---------------------------------------------------------------------------------------------------------
# The demo: every section-5 id evaluated


def test_demo_evaluates_every_section_5_id():
    objects, origins = demo_objects()
    for catalogue in (CIS_112, CIS_111, CIS_110):
        result = audit(objects, catalogue, origins=origins)
        found = by_id(result)
        assert sorted(found, key=lambda i: [int(p) for p in i[4:].split(".")]) == ["CIS-" + c["id"] for c in catalogue["checks"]]
        undecided = [fid for fid, f in found.items() if f["description"].startswith("Not decided")]
        assert undecided == [], undecided
        assert result["input_errors"] == []
    result = audit(objects, CIS_112, origins=origins)
    statuses = {fid: f["status"] for fid, f in by_id(result).items()}
    assert statuses["CIS-5.1.1"] == "fail" and "ClusterRoleBinding ci-admin -> User ci-bot" in by_id(result)["CIS-5.1.1"]["evidence"]["offending"]
    assert [s for s in statuses.values()].count("warn") == 5  # the five checks a person decides
    assert {fid for fid, s in statuses.items() if s == "warn"} == {"CIS-5.1.4", "CIS-5.1.7", "CIS-5.1.9", "CIS-5.1.13", "CIS-5.4.2"}
    assert statuses["CIS-5.3.1"] == "pass" and statuses["CIS-5.5.1"] == "fail"
    rules = sorted({f["id"] for f in result["policy_findings"]})
    assert rules == sorted(pr.RULES_BY_ID)  # the demo shows every cluster policy rule once at least
    assert "demo-not-a-real-password" not in json.dumps(result)


# ---------------------------------------------------------------------------------------------------------
# Modules


def run_module(name, args):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "collections"))
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.kubesec.cluster.plugins.modules." + name],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return json.loads(proc.stdout)


def test_cis_node_audit_says_where_policies_are_evaluated(tmp_path):
    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue

    result = run_module("cis_node_audit", {"root": str(tmp_path), "targets": ["policies"], "catalogue": _catalogue.load("cis-1.12")})
    assert not result.get("failed"), result
    assert "cluster_policy_audit" in result["policies_note"]
    assert "CIS section 5 (target policies) is decided from cluster objects" in json.dumps(result["warnings"])
    assert result["findings"] == []


def test_cluster_policy_audit_module_reads_exports():
    result = run_module("cluster_policy_audit", {"path": [str(DEMO / "cluster"), str(DEMO / "manifests")], "catalogue": CIS_112, "cluster": "demo"})
    assert not result.get("failed"), result
    assert len(result["findings"]) == 34 and result["summary"]["review"] == 5
    assert result["inputs"] == [str(DEMO / "cluster"), str(DEMO / "manifests")]
    failed = run_module("cluster_policy_audit", {"path": [str(DEMO / "cluster")], "catalogue": CIS_112, "rules": {"KS-RB-004": {"params": {"nope": 1}}}})
    assert failed["failed"] and "KS-RB-004" in failed["msg"] and "nope" in failed["msg"]


def test_cluster_policy_audit_reads_the_fake_api_paged_like_the_exports(tmp_path):
    from tests.fakes.kube_api import FakeKubeAPI

    objects, origins = demo_objects()
    from_exports = audit(objects, CIS_112, origins=origins)
    with FakeKubeAPI() as api:
        api.add_objects(objects)
        kubeconfig = str(api.write_kubeconfig(tmp_path / "kubeconfig"))
        result = run_module("cluster_policy_audit", {"kubeconfig": kubeconfig, "limit": 2, "catalogue": CIS_112, "cluster": "t"})
        assert not result.get("failed"), result
        listed = [r for r in api.requests if r["path"] == "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"]
        assert len(listed) > 1 and listed[1]["query"].get("continue")  # paged with limit/continue
        assert not [r for r in api.requests if "secrets" in r["path"]]  # Secrets are never listed
        assert {f["id"]: f["status"] for f in result["findings"]} == {f["id"]: f["status"] for f in from_exports["findings"]}
        assert sorted(f["fingerprint"] for f in result["policy_findings"]) == sorted(f["fingerprint"] for f in from_exports["policy_findings"])
        assert "ValidatingAdmissionPolicyBinding: not served by this API server (none)" in result["inputs"]
        api.forbid("clusterrolebindings", verb="list")
        blocked = run_module("cluster_policy_audit", {"kubeconfig": kubeconfig, "catalogue": CIS_112, "cluster": "t"})
        assert "ClusterRoleBinding" in blocked["unreadable"] and "forbidden" in blocked["unreadable"]["ClusterRoleBinding"]
        statuses = {f["id"]: f for f in blocked["findings"]}
        assert statuses["CIS-5.1.12"]["status"] == "warn"  # its offending binding is a ClusterRoleBinding: not readable
        assert "could not read ClusterRoleBinding" in statuses["CIS-5.1.12"]["description"]
        passed = run_module("cluster_policy_audit", {"kubeconfig": kubeconfig, "catalogue": CIS_112, "cluster": "t", "include_passed": True})
        (undecided,) = [f for f in passed["policy_findings"] if f["id"] == "KS-RB-006"]
        assert undecided["status"] == "warn" and "ClusterRoleBinding" in undecided["description"]


def test_docs_list_every_rule_with_its_name_severity_and_parameters():
    text = (ROOT / "docs" / "cluster-policies.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| KS-")}
    assert sorted(rows) == sorted(pr.RULES_BY_ID)
    for rule in pr.RULES:
        cells = [cell.strip() for cell in rows[rule["id"]].split("|")]
        assert cells[2] == "`%s`" % rule["name"] and cells[3] == rule["severity"] and cells[4] == rule["title"]
        for name in rule["params"]:
            assert "`%s`" % name in cells[5], (rule["id"], name)
