# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Pod Security Standard controls no older rule covered: KS-WL-022..028.

Private module_utils (leading underscore): the API may change between minor releases.

Allowed values are the upstream standard's (https://kubernetes.io/docs/concepts/security/pod-security-standards/)
and Pod Security Admission's checks (k8s.io/pod-security-admission/policy: check_capabilities_baseline,
check_windowsHostProcess, check_seccompProfile_baseline/_restricted, check_seLinuxOptions, check_procMount,
check_sysctls, check_restrictedVolumes). They are the parameters' defaults, so a stricter or looser site changes
data, not code. The controls the older rules already are (host namespaces and ports, privileged, restricted
capabilities, hostPath, AppArmor, privilege escalation, running as non-root) stay with those rules; their
``frameworks`` name the control. Standard library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils import _wl_cel as cel
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_cel import cel_list, cel_string
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import (
    as_dict,
    as_list,
    caps_added,
    is_true,
    param,
    short,
    violation,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_rule import rule

if TYPE_CHECKING:
    from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import Params, Setting, Variables, View, Violation

# PSS baseline "Capabilities": the capabilities a container may add.
BASELINE_CAPABILITIES = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
]
# PSS baseline "SELinux": the seLinuxOptions.type values allowed besides undefined/"" (container_engine_t: 1.31+).
SELINUX_TYPES = ["container_t", "container_init_t", "container_kvm_t", "container_engine_t"]
# PSS baseline "Sysctls": the safe set (kernel.shm_rmid_forced ... tcp_wmem as of Kubernetes 1.32).
SAFE_SYSCTLS = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
]
# PSS restricted "Volume Types": the inline volume sources allowed.
RESTRICTED_VOLUME_TYPES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"]
SECCOMP_TYPES = ["RuntimeDefault", "Localhost"]
# Seccomp annotations (clusters before 1.19; Pod Security Admission still checks them for those versions).
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"


# ---------------------------------------------------------------------------------------------------------
# KS-WL-022 capabilities_baseline


def check_capabilities_baseline(c: View, pod: View, p: Params) -> list[Violation]:
    out = []
    allowed = p["allowed_add"]
    for index, cap, name in caps_added(c):
        if name not in allowed:
            out.append(
                violation(
                    "%s.securityContext.capabilities.add[%d]" % (c["path"], index),
                    cap,
                    "capability %s is not in the Pod Security Standard's baseline set" % short(name, 64),
                    "only: %s" % ", ".join(sorted(allowed)),
                )
            )
    return out


def cel_capabilities_baseline(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    bad = cel.caps_bad("!add.all(x, x in %s)" % cel_list(sorted(p["allowed_add"])))
    return [], cel.per_container(bad, "capabilities added beyond the baseline set")


# ---------------------------------------------------------------------------------------------------------
# KS-WL-023 windows_host_process


def check_host_process_pod(pod: View, p: Params) -> list[Violation]:
    options = as_dict(as_dict(pod["spec"].get("securityContext")).get("windowsOptions"))
    if is_true(options.get("hostProcess")):
        return [
            violation(
                pod["path"] + ".securityContext.windowsOptions.hostProcess",
                options.get("hostProcess"),
                "the pod runs Windows HostProcess containers",
                "false or unset",
            )
        ]
    return []


def check_host_process(c: View, pod: View, p: Params) -> list[Violation]:
    options = as_dict(as_dict(c["spec"].get("securityContext")).get("windowsOptions"))
    if is_true(options.get("hostProcess")):
        return [
            violation(
                c["path"] + ".securityContext.windowsOptions.hostProcess",
                options.get("hostProcess"),
                "the container is a Windows HostProcess container",
                "false or unset",
            )
        ]
    return []


def cel_host_process(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    pod = cel.bind("wo", cel.path_or("variables.spec", ["securityContext", "windowsOptions"], "{}", "map"), cel.true_at("wo", "hostProcess"))
    containers = cel.per_container(
        cel.bind("wo", cel.get_or("sc", "windowsOptions", "{}", "map"), cel.true_at("wo", "hostProcess")), "windowsOptions.hostProcess is true"
    )
    return [], "(%s\n  ? ['spec.securityContext.windowsOptions.hostProcess is true'] : [])\n+ %s" % (pod, containers)


# ---------------------------------------------------------------------------------------------------------
# KS-WL-024 seccomp


def _seccomp_annotation_ok(value: str, allowed: list[str]) -> bool:
    """check_seccompProfile_baseline 1.0: runtime/default, docker/default (RuntimeDefault) or localhost/* (Localhost)."""
    if value in ("runtime/default", "docker/default"):
        return "RuntimeDefault" in allowed
    return value.startswith("localhost/") and "Localhost" in allowed


def _seccomp_profile(security_context: Any) -> Optional[dict[str, Any]]:
    profile = as_dict(security_context).get("seccompProfile")
    return profile if isinstance(profile, dict) else None


def _seccomp_type_ok(profile: dict[str, Any], allowed: list[str]) -> bool:
    kind = profile.get("type")
    return isinstance(kind, str) and kind in allowed


def check_seccomp_pod(pod: View, p: Params) -> list[Violation]:
    out = []
    profile = _seccomp_profile(pod["spec"].get("securityContext"))
    if profile is not None and not _seccomp_type_ok(profile, p["allowed_types"]):
        out.append(
            violation(
                pod["path"] + ".securityContext.seccompProfile.type",
                profile.get("type"),
                "the pod's seccomp profile type %s is not allowed" % short(profile.get("type"), 64),
                "one of: %s" % ", ".join(p["allowed_types"]),
            )
        )
    value = as_dict(pod.get("annotations")).get(SECCOMP_POD_ANNOTATION)
    if value is not None and not (isinstance(value, str) and _seccomp_annotation_ok(value, p["allowed_types"])):
        out.append(
            violation(
                "%s['%s']" % (pod["annotations_path"], SECCOMP_POD_ANNOTATION),
                value,
                "the pod's seccomp annotation %s is not allowed" % short(value, 64),
                "runtime/default or localhost/<profile>",
            )
        )
    return out


def check_seccomp(c: View, pod: View, p: Params) -> list[Violation]:
    out = []
    allowed = p["allowed_types"]
    field = c["path"] + ".securityContext.seccompProfile.type"
    profile = _seccomp_profile(c["spec"].get("securityContext"))
    if profile is not None:
        if not _seccomp_type_ok(profile, allowed):
            out.append(
                violation(
                    field, profile.get("type"), "the seccomp profile type %s is not allowed" % short(profile.get("type"), 64), "one of: %s" % ", ".join(allowed)
                )
            )
    elif p["require_profile"]:
        pod_profile = _seccomp_profile(pod["spec"].get("securityContext"))
        if pod_profile is None or not _seccomp_type_ok(pod_profile, allowed):
            out.append(violation(field, None, "no seccomp profile: the container sets none and the pod no allowed one", "one of: %s" % ", ".join(allowed)))
    name = c["spec"].get("name")
    if isinstance(name, str):
        key = SECCOMP_CONTAINER_ANNOTATION + name
        value = as_dict(pod.get("annotations")).get(key)
        if value is not None and not (isinstance(value, str) and _seccomp_annotation_ok(value, allowed)):
            out.append(
                violation(
                    "%s['%s']" % (pod["annotations_path"], key),
                    value,
                    "the container's seccomp annotation %s is not allowed" % short(value, 64),
                    "runtime/default or localhost/<profile>",
                )
            )
    return out


def _cel_annotation_ok(expr: str, allowed: list[str]) -> str:
    tests = []
    if "RuntimeDefault" in allowed:
        tests.append("%s in ['runtime/default', 'docker/default']" % expr)
    if "Localhost" in allowed:
        tests.append("%s.startsWith('localhost/')" % expr)
    return "(%s)" % (" || ".join(tests) or "false")


def cel_seccomp(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    allowed = cel_list(p["allowed_types"])
    valid = "(has(s.type) && type(s.type) == string && s.type in %s)" % allowed
    psc = "variables.spec.securityContext"
    extra = [
        ("annotations", cel.get_or("variables.meta", "annotations", "{}", "map")),
        (
            "podSeccomp",
            "has(%s) && type(%s) == map && has(%s.seccompProfile) && type(%s.seccompProfile) == map\n  ? [%s.seccompProfile] : []" % (psc, psc, psc, psc, psc),
        ),
        ("podSeccompSet", "variables.podSeccomp.exists(s, %s)" % valid),
    ]
    pod_key = cel_string(SECCOMP_POD_ANNOTATION)
    pod_annotation = "(%s in variables.annotations && !(type(variables.annotations[%s]) == string && %s)\n  ? ['annotation %s is not allowed'] : [])" % (
        pod_key,
        pod_key,
        _cel_annotation_ok("variables.annotations[%s]" % pod_key, p["allowed_types"]),
        SECCOMP_POD_ANNOTATION,
    )
    pod_field = "(variables.podSeccomp.exists(s, !%s)\n  ? ['spec.securityContext.seccompProfile.type is not allowed'] : [])" % valid
    key = "%s + c.name" % cel_string(SECCOMP_CONTAINER_ANNOTATION)
    annotation = "(has(c.name) && type(c.name) == string && %s in variables.annotations &&\n    !(type(variables.annotations[%s]) == string && %s))" % (
        key,
        key,
        _cel_annotation_ok("variables.annotations[%s]" % key, p["allowed_types"]),
    )
    own = "has(sc.seccompProfile) && type(sc.seccompProfile) == map ? [sc.seccompProfile] : []"
    field = "sp.exists(s, !%s)" % valid
    if p["require_profile"]:
        field = "(%s || (size(sp) == 0 && !variables.podSeccompSet))" % field
    bad = "%s\n  || %s" % (cel.bind("sp", own, field), annotation)
    containers = cel.per_container(bad, "seccomp profile missing or not one of %s" % ", ".join(p["allowed_types"]))
    return extra, "%s\n+ %s\n+ %s" % (pod_field, pod_annotation, containers)


# ---------------------------------------------------------------------------------------------------------
# KS-WL-025 selinux


def _selinux_problems(options: Any, allowed: list[str]) -> list[tuple[str, Any, str]]:
    """(option, value, why) for the options PSS baseline forbids: a type outside the list, any user or role."""
    if not isinstance(options, dict):
        return []
    out = []
    kind = options.get("type")
    if not (kind is None or (isinstance(kind, str) and (kind == "" or kind in allowed))):
        out.append(("type", kind, "SELinux type %s is not allowed" % short(kind, 64)))
    for key in ("user", "role"):
        if options.get(key) not in (None, ""):
            out.append((key, options.get(key), "a custom SELinux %s is set" % key))
    return out


def check_selinux_pod(pod: View, p: Params) -> list[Violation]:
    options = as_dict(pod["spec"].get("securityContext")).get("seLinuxOptions")
    return [
        violation("%s.securityContext.seLinuxOptions.%s" % (pod["path"], key), value, why, "type one of: %s; no user or role" % ", ".join(p["allowed_types"]))
        for key, value, why in _selinux_problems(options, p["allowed_types"])
    ]


def check_selinux(c: View, pod: View, p: Params) -> list[Violation]:
    options = as_dict(c["spec"].get("securityContext")).get("seLinuxOptions")
    return [
        violation("%s.securityContext.seLinuxOptions.%s" % (c["path"], key), value, why, "type one of: %s; no user or role" % ", ".join(p["allowed_types"]))
        for key, value, why in _selinux_problems(options, p["allowed_types"])
    ]


def _cel_selinux_bad(options: str, allowed: list[str]) -> str:
    """CEL: `options` (a map expression) sets a type outside the list, a user or a role."""
    return cel.bind(
        "o",
        options,
        (
            "(has(o.type) && !(type(o.type) == string && (o.type == '' || o.type in %s)))\n"
            "    || (has(o.user) && !(type(o.user) == string && o.user == ''))\n"
            "    || (has(o.role) && !(type(o.role) == string && o.role == ''))" % cel_list(allowed)
        ),
    )


def cel_selinux(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    pod = _cel_selinux_bad(cel.path_or("variables.spec", ["securityContext", "seLinuxOptions"], "{}", "map"), p["allowed_types"])
    containers = cel.per_container(
        _cel_selinux_bad(cel.get_or("sc", "seLinuxOptions", "{}", "map"), p["allowed_types"]),
        "seLinuxOptions sets a type outside %s, a user or a role" % ", ".join(p["allowed_types"]),
    )
    return [], "(%s\n  ? ['spec.securityContext.seLinuxOptions sets a forbidden type, a user or a role'] : [])\n+ %s" % (pod, containers)


# ---------------------------------------------------------------------------------------------------------
# KS-WL-026 proc_mount


def check_proc_mount(c: View, pod: View, p: Params) -> list[Violation]:
    value = as_dict(c["spec"].get("securityContext")).get("procMount")
    if value is not None and value != "Default":
        return [violation(c["path"] + ".securityContext.procMount", value, "procMount %s unmasks /proc" % short(value, 64), "Default or unset")]
    return []


def cel_proc_mount(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    bad = "has(sc.procMount) && !(type(sc.procMount) == string && sc.procMount == 'Default')"
    return [], cel.per_container(bad, "procMount is not Default")


# ---------------------------------------------------------------------------------------------------------
# KS-WL-027 sysctls


def check_sysctls(pod: View, p: Params) -> list[Violation]:
    out = []
    entries = as_list(as_dict(pod["spec"].get("securityContext")).get("sysctls"))
    for index, entry in enumerate(entries):
        name = as_dict(entry).get("name")
        if not (isinstance(name, str) and name in p["allowed_sysctls"]):
            out.append(
                violation(
                    "%s.securityContext.sysctls[%d].name" % (pod["path"], index),
                    name,
                    "sysctl %s is not in the safe set" % short(name, 120),
                    "one of: %s" % ", ".join(p["allowed_sysctls"]),
                )
            )
    return out


def cel_sysctls(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    entries = cel.path_or("variables.spec", ["securityContext", "sysctls"], "[]", "list")
    return [], (
        "%s\n  .filter(s, !(type(s) == map && has(s.name) && type(s.name) == string && s.name in %s))\n"
        "  .map(s, 'sysctl ' + (type(s) == map && has(s.name) && type(s.name) == string ? s.name : '?') + "
        "' is not in the safe set')" % (entries, cel_list(p["allowed_sysctls"]))
    )


# ---------------------------------------------------------------------------------------------------------
# KS-WL-028 volume_types


def check_volume_types(pod: View, p: Params) -> list[Violation]:
    out = []
    for index, volume in enumerate(as_list(pod["spec"].get("volumes"))):
        if not isinstance(volume, dict):
            continue
        kinds = sorted(str(key) for key, value in volume.items() if key != "name" and value is not None)
        bad = [kind for kind in kinds if kind not in p["allowed_types"]]
        if bad:
            out.append(
                violation(
                    "%s.volumes[%d]" % (pod["path"], index),
                    bad,
                    "volume %s uses the restricted type %s" % (short(volume.get("name"), 64), ", ".join(bad)),
                    "one of: %s" % ", ".join(p["allowed_types"]),
                )
            )
    return out


def cel_volume_types(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    volumes = cel.get_or("variables.spec", "volumes", "[]", "list")
    return [], (
        "%s\n  .filter(v, type(v) == map && v.exists(k, k != 'name' && !(k in %s)))\n"
        "  .map(v, 'volume ' + (has(v.name) && type(v.name) == string ? v.name : '?') + "
        "' uses a restricted volume type')" % (volumes, cel_list(p["allowed_types"]))
    )


RULES = (
    rule(
        "KS-WL-022",
        "capabilities_baseline",
        "high",
        "container",
        "Containers add no capability beyond the Pod Security Standard's baseline set",
        "Every capabilities.add entry (containers, init and ephemeral containers) is one of the baseline set: "
        "AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, "
        "SETUID, SYS_CHROOT (compared upper case without a CAP_ prefix).",
        "Remove added capabilities outside the baseline set (NET_ADMIN, SYS_ADMIN, NET_RAW, ALL, ...).",
        {"allowed_add": param("cap_list", BASELINE_CAPABILITIES, "Capabilities a container may add.")},
        container_check=check_capabilities_baseline,
        cel=cel_capabilities_baseline,
        cel_target="pod",
        frameworks={"pss": ("baseline/capabilities",), "cis": ("5.2.9",), "nsa": ("Kubernetes Pod security: Pod security enforcement",), "mitre": ("T1611",)},
        gatekeeper="k8spspcapabilities",
    ),
    rule(
        "KS-WL-023",
        "windows_host_process",
        "high",
        "pod+container",
        "No Windows HostProcess containers",
        "spec.securityContext.windowsOptions.hostProcess and every container's securityContext.windowsOptions.hostProcess are false or unset.",
        "Remove windowsOptions.hostProcess: true; run node agents outside the workload namespaces.",
        pod_check=check_host_process_pod,
        container_check=check_host_process,
        cel=cel_host_process,
        cel_target="pod",
        ksv=("KSV-0103",),
        frameworks={"pss": ("baseline/hostprocess",), "cis": ("5.2.10",), "nsa": ("Kubernetes Pod security: Pod security enforcement",), "mitre": ("T1611",)},
    ),
    rule(
        "KS-WL-024",
        "seccomp",
        "medium",
        "pod+container",
        "Containers run with a seccomp profile",
        "A seccompProfile.type set on the pod or a container is RuntimeDefault or Localhost (Unconfined is "
        "forbidden, PSS baseline); with require_profile (PSS restricted, CIS 5.6.2) every container sets one or "
        "inherits an allowed one from the pod. The seccomp annotations of clusters before 1.19 "
        "(seccomp.security.alpha.kubernetes.io/pod, container.seccomp.security.alpha.kubernetes.io/<name>) must "
        "be runtime/default, docker/default or localhost/<profile> when present; they never count as setting a "
        "profile.",
        "Set securityContext.seccompProfile: {type: RuntimeDefault} in the pod spec.",
        {
            "require_profile": param(
                "bool", True, "Require a profile (PSS restricted); false forbids only disallowed types such as Unconfined (PSS baseline)."
            ),
            "allowed_types": param("str_list", SECCOMP_TYPES, "Allowed seccompProfile.type values."),
        },
        pod_check=check_seccomp_pod,
        container_check=check_seccomp,
        cel=cel_seccomp,
        cel_target="pod",
        ksv=("KSV-0030",),
        ksv_params={"KSV-0030": {"params": {"require_profile": True}}},
        frameworks={
            "pss": ("baseline/seccomp", "restricted/seccomp"),
            "cis": ("5.6.2",),
            "nsa": ("Kubernetes Pod security: Hardening container environments",),
            "mitre": ("T1611",),
        },
        gatekeeper="k8spspseccomp",
    ),
    rule(
        "KS-WL-025",
        "selinux",
        "medium",
        "pod+container",
        "No custom SELinux user, role or type",
        "seLinuxOptions (pod and every container) sets no user and no role, and a type only from the allowed "
        "list (container_t, container_init_t, container_kvm_t, container_engine_t) or empty.",
        "Remove seLinuxOptions.user and .role, and any type outside the allowed list.",
        {"allowed_types": param("str_list", SELINUX_TYPES, "Allowed seLinuxOptions.type values besides empty.")},
        pod_check=check_selinux_pod,
        container_check=check_selinux,
        cel=cel_selinux,
        cel_target="pod",
        ksv=("KSV-0025",),
        frameworks={"pss": ("baseline/selinux",), "nsa": ("Kubernetes Pod security: Hardening container environments",), "mitre": ("T1611",)},
        gatekeeper="k8spspselinuxv2",
    ),
    rule(
        "KS-WL-026",
        "proc_mount",
        "medium",
        "container",
        "Containers keep the default /proc mask",
        "securityContext.procMount is Default or unset on every container.",
        "Remove procMount: Unmasked.",
        container_check=check_proc_mount,
        cel=cel_proc_mount,
        cel_target="pod",
        ksv=("KSV-0027",),
        frameworks={"pss": ("baseline/proc-mount-type",), "mitre": ("T1611",)},
        gatekeeper="k8spspprocmount",
    ),
    rule(
        "KS-WL-027",
        "sysctls",
        "medium",
        "pod",
        "Pods set only safe sysctls",
        "Every spec.securityContext.sysctls[].name is in the safe set of the Pod Security Standard.",
        "Remove unsafe sysctls; set node-level kernel parameters on the node instead.",
        {"allowed_sysctls": param("str_list", SAFE_SYSCTLS, "Sysctls a pod may set (exact names).")},
        pod_check=check_sysctls,
        cel=cel_sysctls,
        cel_target="pod",
        ksv=("KSV-0026",),
        frameworks={"pss": ("baseline/sysctls",), "mitre": ("T1611",)},
        gatekeeper="k8spspforbiddensysctls",
    ),
    rule(
        "KS-WL-028",
        "volume_types",
        "medium",
        "pod",
        "Pods use only the restricted set of volume types",
        "Every volume is one of configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, "
        "projected, secret (PSS restricted: other storage goes through PersistentVolumes).",
        "Use a PersistentVolumeClaim instead of inline volume sources such as hostPath, nfs or gitRepo.",
        {"allowed_types": param("str_list", RESTRICTED_VOLUME_TYPES, "Allowed volume source keys.")},
        pod_check=check_volume_types,
        cel=cel_volume_types,
        cel_target="pod",
        ksv=("KSV-0028",),
        frameworks={"pss": ("restricted/volume-types",), "mitre": ("T1611",)},
        gatekeeper="k8spspvolumetypes",
    ),
)
