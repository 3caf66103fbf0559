# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workload rules judged on the pod spec (host network and ports, hostPath, host namespaces, the service-account
token, the namespace): KS-WL-006, 007, 009, 012, 013.

Private module_utils (leading underscore): the API may change between minor releases.

Each rule is one ``rule()`` entry at the end of the file (metadata, check, admission-policy CEL). ``pod`` is the pod
view {"spec", "path", "annotations", "annotations_path", "namespace", "kind", "name", "containers" (the container
views not exempt by image), "service_account", "service_account_name"}. Standard library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ansible_collections.kubesec.cluster.plugins.module_utils import _wl_cel as cel
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_cel import cel_string
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import (
    RuleConfigError,
    as_dict,
    as_int,
    as_list,
    host_path_under,
    is_false,
    is_true,
    normalize_host_path,
    param,
    short,
    violation,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_rule import rule

if TYPE_CHECKING:
    from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import Params, Setting, Variables, View, Violation


# ---------------------------------------------------------------------------------------------------------
# Checks


def check_host_network(pod: View, p: Params) -> list[Violation]:
    if is_true(pod["spec"].get("hostNetwork")) and not p["allow_host_network"]:
        return [violation(pod["path"] + ".hostNetwork", True, "the pod uses the host network", "false")]
    return []


def check_host_ports(c: View, pod: View, p: Params) -> list[Violation]:
    out = []
    host_network = is_true(pod["spec"].get("hostNetwork"))
    for index, port in enumerate(as_list(c["spec"].get("ports"))):
        port = as_dict(port)
        host_port = as_int(port.get("hostPort"))
        field = "%s.ports[%d].hostPort" % (c["path"], index)
        if (host_port is None or host_port == 0) and host_network:
            host_port = as_int(port.get("containerPort"))
            field = "%s.ports[%d].containerPort" % (c["path"], index)
        if host_port is None or host_port == 0:
            continue
        if not (p["min_port"] <= host_port <= p["max_port"]):
            allowed = "none" if p["max_port"] == 0 else "%d-%d" % (p["min_port"], p["max_port"])
            out.append(violation(field, host_port, "host port %d is outside the allowed range" % host_port, "host ports: %s" % allowed))
    return out


def check_host_path(pod: View, p: Params) -> list[Violation]:
    out = []
    containers = pod.get("containers") or ()
    allowed = p["allowed_host_paths"]
    for index, volume in enumerate(as_list(pod["spec"].get("volumes"))):
        volume = as_dict(volume)
        if "hostPath" not in volume:
            continue
        raw = as_dict(volume.get("hostPath")).get("path")
        field = "%s.volumes[%d].hostPath.path" % (pod["path"], index)
        path = normalize_host_path(raw)
        expected = "one of: %s" % (", ".join(entry["path_prefix"] for entry in allowed) or "no hostPath volumes")
        if path is None:
            out.append(violation(field, raw, "hostPath volume %s has no absolute path" % short(volume.get("name"), 64), expected))
            continue
        matching = [entry for entry in allowed if host_path_under(path, entry["path_prefix"])]
        if not matching:
            out.append(violation(field, raw, "hostPath %s is not under an allowed prefix" % short(raw, 120), expected))
            continue
        if any(not entry["read_only"] for entry in matching):
            continue
        for c in containers:
            for mindex, mount in enumerate(as_list(c["spec"].get("volumeMounts"))):
                mount = as_dict(mount)
                if mount.get("name") == volume.get("name") and not is_true(mount.get("readOnly")):
                    out.append(
                        violation(
                            "%s.volumeMounts[%d].readOnly" % (c["path"], mindex),
                            mount.get("readOnly"),
                            "hostPath %s must be mounted read-only (container %s)" % (short(raw, 120), short(c["name"], 64)),
                            "true",
                        )
                    )
    return out


def check_host_namespaces(pod: View, p: Params) -> list[Violation]:
    out = []
    for key in ("hostPID", "hostIPC"):
        if is_true(pod["spec"].get(key)):
            out.append(violation("%s.%s" % (pod["path"], key), True, "the pod shares the host %s namespace" % key[4:], "false"))
    return out


def check_automount(pod: View, p: Params) -> list[Violation]:
    field = pod["path"] + ".automountServiceAccountToken"
    value = pod["spec"].get("automountServiceAccountToken")
    if is_false(value):
        return []
    if is_true(value):
        return [violation(field, True, "the pod spec mounts the service-account token", "false")]
    account = pod.get("service_account")
    name = pod.get("service_account_name") or "default"
    if account is not None and is_false(account.get("automountServiceAccountToken")):
        return []
    if account is None:
        reason = "unset, and ServiceAccount %s is not in the input" % short(name, 64)
    else:
        reason = "unset, and ServiceAccount %s does not disable it" % short(name, 64)
    return [violation(field, None, "automountServiceAccountToken is %s" % reason, "false")]


def check_default_namespace(pod: View, p: Params) -> list[Violation]:
    namespace = pod.get("namespace")
    if namespace == "default":
        return [violation("metadata.namespace", "default", "the workload is in the default namespace", "a dedicated namespace")]
    if namespace is None and p["include_unset"]:
        return [
            violation(
                "metadata.namespace", None, "the manifest sets no namespace (lands in the kubectl context's namespace, often default)", "a dedicated namespace"
            )
        ]
    return []


# ---------------------------------------------------------------------------------------------------------
# Admission policy CEL: (extra variables, CEL list<string> of violations)


def cel_host_network(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    extra = [("hostNetwork", cel.true_at("variables.spec", "hostNetwork"))]
    ports = "%s.filter(pt, type(pt) == map)\n  .map(pt, [%s, %s])" % (
        cel.get_or("c", "ports", "[]", "list"),
        cel.int_or_zero("pt", "hostPort"),
        cel.int_or_zero("pt", "containerPort"),
    )
    host = cel.bind("hp", "pp[0] != 0 ? pp[0] : (variables.hostNetwork ? pp[1] : 0)", "hp != 0 && !(%d <= hp && hp <= %d)" % (p["min_port"], p["max_port"]))
    allowed = "none" if p["max_port"] == 0 else "%d-%d" % (p["min_port"], p["max_port"])
    pod = "[]" if p["allow_host_network"] else "(variables.hostNetwork ? ['spec.hostNetwork is true'] : [])"
    containers = cel.per_container("%s\n  .exists(pp, %s)" % (ports, host), "host port outside the allowed range (%s)" % allowed)
    return extra, "%s\n+ %s" % (pod, containers)


def cel_host_path(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    extra = [("volumes", "%s.filter(v, type(v) == map && has(v.hostPath))" % cel.get_or("variables.spec", "volumes", "[]", "list"))]
    rw = [cel.host_path_regex(e["path_prefix"]) for e in p["allowed_host_paths"] if not e["read_only"]]
    ro = [cel.host_path_regex(e["path_prefix"]) for e in p["allowed_host_paths"] if e["read_only"]]
    rw_ok = " || ".join("path.matches(%s)" % cel_string(rx) for rx in rw) or "false"
    ro_ok = " || ".join("path.matches(%s)" % cel_string(rx) for rx in ro) or "false"
    read_only = "variables.containers.all(c, %s.all(m, !(type(m) == map && has(m.name) && has(v.name) && m.name == v.name) || %s))" % (
        cel.get_or("c", "volumeMounts", "[]", "list"),
        cel.true_at("m", "readOnly"),
    )
    checks = "path.matches('(^|/)\\\\.\\\\.(/|$)')\n    || !((%s) || ((%s) && %s))" % (rw_ok, ro_ok, read_only)
    bad = "type(v.hostPath) == map && has(v.hostPath.path) && type(v.hostPath.path) == string && v.hostPath.path.startsWith('/')\n  ? %s\n  : true" % cel.bind(
        "path", "v.hostPath.path", checks
    )
    allowed = ", ".join(e["path_prefix"] + (" (read-only)" if e["read_only"] else "") for e in p["allowed_host_paths"]) or "none"
    return extra, (
        "variables.volumes.filter(v,\n  %s)\n.map(v, 'hostPath volume ' + (has(v.name) && type(v.name) "
        "== string ? v.name : '?') + %s)" % (bad, cel_string(": path not allowed or not mounted read-only (allowed: %s)" % allowed))
    )


def cel_host_namespaces(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    return [], "\n+ ".join("(%s ? ['spec.%s is true'] : [])" % (cel.true_at("variables.spec", key), key) for key in ("hostPID", "hostIPC"))


def cel_default_namespace(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    given = (
        "has(object.metadata) && type(object.metadata) == map && has(object.metadata.namespace) && "
        "type(object.metadata.namespace) == string && object.metadata.namespace != ''"
    )
    unset = "true" if p["include_unset"] else "false"
    bad = "(%s\n  ? object.metadata.namespace == 'default'\n  : %s)" % (given, unset)
    return [], "%s ? ['the workload is in the default namespace'] : []" % bad


def validate_port_range(where: str, params: Params) -> None:
    if params["min_port"] > params["max_port"]:
        raise RuleConfigError("%s.params: min_port (%d) must not be greater than max_port (%d)" % (where, params["min_port"], params["max_port"]))


RULES = (
    rule(
        "KS-WL-006",
        "host_network_ports",
        "high",
        "pod+container",
        "Host networking and host ports are restricted",
        "Pods do not use the host network unless allowed, and host ports (hostPort, or containerPort under hostNetwork) stay inside the allowed range.",
        "Remove hostNetwork and hostPort; use a Service instead.",
        {
            "allow_host_network": param("bool", False, "Allow spec.hostNetwork: true."),
            "min_port": param("int", 0, "Lowest allowed host port.", minimum=0, maximum=65535),
            "max_port": param("int", 0, "Highest allowed host port (0 with min_port 0: no host ports).", minimum=0, maximum=65535),
        },
        pod_check=check_host_network,
        container_check=check_host_ports,
        validate=validate_port_range,
        cel=cel_host_network,
        cel_target="pod",
        ksv=("KSV-0009", "KSV-0024"),
        frameworks={
            "pss": ("baseline/host-namespaces", "baseline/host-ports"),
            "cis": ("5.2.5", "5.2.12"),
            "nsa": ("Kubernetes Pod security: Pod security enforcement",),
            "mitre": ("T1611",),
        },
        defender="Usage of host networking and ports should be restricted",
        azure_policy="82985f06 K8sAzureHostNetworkingPorts",
        gatekeeper="k8spsphostnetworkingports",
    ),
    rule(
        "KS-WL-007",
        "host_path",
        "high",
        "pod",
        "hostPath volumes are restricted to allowed paths",
        "hostPath volumes use only allowed path prefixes (after normalizing '..'), and are mounted read-only by "
        "every container when the matching entry requires it.",
        "Replace hostPath volumes with emptyDir, configMap, secret or PVC volumes.",
        {
            "allowed_host_paths": param("host_path_list", [], "Allowed host paths: list of {path_prefix: /var/log, read_only: true}."),
        },
        pod_check=check_host_path,
        cel=cel_host_path,
        cel_target="pod",
        enforcement_note="hostPath paths with a '..' segment are always denied: CEL cannot normalize them (the API server refuses such paths anyway).",
        ksv=("KSV-0023", "KSV-0121", "KSV-0006"),
        frameworks={
            "pss": ("baseline/hostpath-volumes",),
            "cis": ("5.2.11",),
            "nsa": ("Kubernetes Pod security: Pod security enforcement",),
            "mitre": ("T1611",),
        },
        defender="Usage of pod HostPath volume mounts should be restricted to a known list",
        azure_policy="098fc59e K8sAzureHostFilesystem",
        gatekeeper="k8spsphostfilesystem",
    ),
    rule(
        "KS-WL-009",
        "host_namespaces",
        "high",
        "pod",
        "Pods do not share the host PID or IPC namespace",
        "spec.hostPID and spec.hostIPC are not true.",
        "Remove hostPID and hostIPC from the pod spec.",
        pod_check=check_host_namespaces,
        cel=cel_host_namespaces,
        cel_target="pod",
        ksv=("KSV-0008", "KSV-0010"),
        frameworks={
            "pss": ("baseline/host-namespaces",),
            "cis": ("5.2.3", "5.2.4"),
            "nsa": ("Kubernetes Pod security: Pod security enforcement",),
            "mitre": ("T1611",),
        },
        defender="Containers sharing sensitive host namespaces should be avoided",
        azure_policy="47a1ee2f K8sAzureBlockHostNamespace",
        gatekeeper="k8spsphostnamespace",
    ),
    rule(
        "KS-WL-012",
        "automount_service_account_token",
        "medium",
        "pod",
        "Service-account token automount is disabled",
        "automountServiceAccountToken is false in the pod spec, or unset there and false on the pod's "
        "ServiceAccount (when that object is in the input). A pod-level true wins.",
        "Set automountServiceAccountToken: false on the pod spec or its ServiceAccount; mount a projected token only where the API is needed.",
        pod_check=check_automount,
        enforcement="none",
        enforcement_note="When the pod spec leaves automountServiceAccountToken unset, the verdict depends on the "
        "pod's ServiceAccount, a separate object an admission policy does not see (a policy "
        "requiring the pod-level field would deny pods the audit passes).",
        ksv=("KSV-0036",),
        frameworks={"cis": ("5.1.6",), "nsa": ("Kubernetes Pod security: Protecting Pod service account tokens",), "mitre": ("T1528", "T1552.007")},
        defender="Kubernetes clusters should disable automounting API credentials",
        azure_policy="423dd1ba K8sAzureBlockAutomountToken",
        gatekeeper="k8spspautomountserviceaccounttokenpod",
    ),
    rule(
        "KS-WL-013",
        "default_namespace",
        "low",
        "pod",
        "Workloads do not run in the default namespace",
        "Pod controllers are not in the 'default' namespace.",
        "Create a namespace per application and deploy there.",
        {
            "include_unset": param(
                "bool", False, "Also fail manifests without metadata.namespace (they land in the namespace of the kubectl context, often 'default')."
            ),
        },
        pod_check=check_default_namespace,
        cel=cel_default_namespace,
        cel_target="pod",
        enforcement_note="Checks the namespace the object is created in (metadata.namespace, which the API server "
        "fills from the request); include_unset only matters for manifests without a namespace.",
        ksv=("KSV-0110",),
        frameworks={"cis": ("5.6.4",), "nsa": ("Network separation and hardening: Namespaces",)},
        defender="Kubernetes clusters shouldn't use the default namespace",
        azure_policy="9f061a12 K8sAzureBlockDefault",
    ),
)
