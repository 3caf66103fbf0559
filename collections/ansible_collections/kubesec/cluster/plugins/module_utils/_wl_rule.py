# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape of one workload rule (``rule()``) and the framework catalogues its metadata points into.

Private module_utils (leading underscore): the API may change between minor releases.

A rule is ONE dict built by ``rule()`` in its family file (``_wl_rules_container.py``, ``_wl_rules_pod.py``,
``_wl_rules_cluster.py``, ``_wl_rules_pss.py``, ``_wl_rules_hygiene.py``); ``_wl_registry.py`` lists the
families. The dict holds, in one place:

- metadata: ``id``, ``name``, ``title``, ``severity``, ``scope``, ``description``, ``remediation``, ``params``
  (type, default, description per parameter), ``defender`` / ``azure_policy`` / ``gatekeeper`` counterparts;
- the check: ``container_check(c, pod, p)`` (per container), ``pod_check(pod, p)`` (per pod spec),
  ``object_check`` (``(kind, API groups, check(obj, p))`` for one non-pod object) or ``audit(collector, setting,
  context)`` for rules over several objects; ``validate(where, params)`` for checks across parameters;
- the Trivy overlap: ``ksv`` (KSV ids) and ``ksv_params`` (per KSV id: the parameters under which every Trivy
  failure is also ours, and a note);
- the admission policy: ``cel(params, where, setting) -> (variables, violations)``, ``cel_target`` (``pod``,
  ``Service``, ``Ingress``, ``RBAC``) and ``cel_containers`` (which containers a pod rule's CEL sees); or
  ``enforcement: "none"`` with ``enforcement_note`` saying why; ``partial`` with the note saying what the policy
  does not cover;
- frameworks: ``frameworks`` = ``{"pss": ["baseline/privileged-containers"], "cis": ["5.2.2"], "nsa": [...],
  "mitre": ["T1611"]}``, resolved against the catalogues below (``frameworks_of``).

Standard library only (the node may run Python 3.8+: generic aliases appear in annotations only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from typing import Dict

    Rule = Dict[str, Any]

SEVERITIES = ("critical", "high", "medium", "low", "info")
SCOPES = ("container", "pod", "pod+container", "Service", "Ingress", "Namespace", "RBAC", "cluster")
CEL_TARGETS = ("pod", "Service", "Ingress", "RBAC")
ENFORCEMENT = ("full", "partial", "none")
# the containers a pod rule's CEL sees as variables.containers: all kinds, without ephemeral ones (they cannot
# have resources), or only spec.containers (probes)
CEL_CONTAINERS = ("all", "no_ephemeral", "regular")

# Pod Security Standards: control slug (the control's name, lower case, hyphenated) -> (name, levels it is in).
PSS_URL = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
PSS_CONTROLS = {
    "hostprocess": ("HostProcess", ("baseline",)),
    "host-namespaces": ("Host Namespaces", ("baseline",)),
    "privileged-containers": ("Privileged Containers", ("baseline",)),
    "capabilities": ("Capabilities", ("baseline", "restricted")),
    "hostpath-volumes": ("HostPath Volumes", ("baseline",)),
    "host-ports": ("Host Ports", ("baseline",)),
    "apparmor": ("AppArmor", ("baseline",)),
    "selinux": ("SELinux", ("baseline",)),
    "proc-mount-type": ("/proc Mount Type", ("baseline",)),
    "seccomp": ("Seccomp", ("baseline", "restricted")),
    "sysctls": ("Sysctls", ("baseline",)),
    "volume-types": ("Volume Types", ("restricted",)),
    "privilege-escalation": ("Privilege Escalation", ("restricted",)),
    "running-as-non-root": ("Running as Non-root", ("restricted",)),
    "running-as-non-root-user": ("Running as Non-root user", ("restricted",)),
}
# CIS Kubernetes Benchmark v1.12, section 5 (Policies): the ids a workload rule decides (titles as in kube-bench's
# cfg/cis-1.12/policies.yaml).
CIS_VERSION = "cis-1.12"
CIS_URL = "https://www.cisecurity.org/benchmark/kubernetes"
CIS_CONTROLS = {
    "5.1.1": "Ensure that the cluster-admin role is only used where required",
    "5.1.3": "Minimize wildcard use in Roles and ClusterRoles",
    "5.1.6": "Ensure that Service Account Tokens are only mounted where necessary",
    "5.2.2": "Minimize the admission of privileged containers",
    "5.2.3": "Minimize the admission of containers wishing to share the host process ID namespace",
    "5.2.4": "Minimize the admission of containers wishing to share the host IPC namespace",
    "5.2.5": "Minimize the admission of containers wishing to share the host network namespace",
    "5.2.6": "Minimize the admission of containers with allowPrivilegeEscalation",
    "5.2.7": "Minimize the admission of root containers",
    "5.2.8": "Minimize the admission of containers with the NET_RAW capability",
    "5.2.9": "Minimize the admission of containers with capabilities assigned",
    "5.2.10": "Minimize the admission of Windows HostProcess containers",
    "5.2.11": "Minimize the admission of HostPath volumes",
    "5.2.12": "Minimize the admission of containers which use HostPorts",
    "5.3.2": "Ensure that all Namespaces have NetworkPolicies defined",
    "5.4.1": "Prefer using Secrets as files over Secrets as environment variables",
    "5.6.2": "Ensure that the seccomp profile is set to docker/default in your Pod definitions",
    "5.6.3": "Apply SecurityContext to your Pods and Containers",
    "5.6.4": "The default namespace should not be used",
}
# NSA/CISA Kubernetes Hardening Guide v1.2 (August 2022): section names.
NSA_URL = "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF"
NSA_SECTIONS = (
    "Kubernetes Pod security: Non-root containers and rootless container engines",
    "Kubernetes Pod security: Immutable container file systems",
    "Kubernetes Pod security: Building secure container images",
    "Kubernetes Pod security: Pod security enforcement",
    "Kubernetes Pod security: Protecting Pod service account tokens",
    "Kubernetes Pod security: Hardening container environments",
    "Network separation and hardening: Namespaces",
    "Network separation and hardening: Network policies",
    "Network separation and hardening: Resource policies",
    "Network separation and hardening: Secrets",
    "Authentication and authorization",
    "Upgrading and application security practices",
)
# MITRE ATT&CK for Containers: technique id -> name.
MITRE_CONTROLS = {
    "T1611": "Escape to Host",
    "T1610": "Deploy Container",
    "T1068": "Exploitation for Privilege Escalation",
    "T1499": "Endpoint Denial of Service",
    "T1204.003": "User Execution: Malicious Image",
    "T1525": "Implant Internal Image",
    "T1528": "Steal Application Access Token",
    "T1552.007": "Unsecured Credentials: Container API",
    "T1552.001": "Unsecured Credentials: Credentials In Files",
    "T1078": "Valid Accounts",
    "T1098.006": "Account Manipulation: Additional Container Cluster Roles",
    "T1046": "Network Service Discovery",
    "T1190": "Exploit Public-Facing Application",
    "T1557": "Adversary-in-the-Middle",
}
FRAMEWORK_KEYS = ("pss", "cis", "nsa", "mitre")


def mitre_url(technique: str) -> str:
    """https://attack.mitre.org/techniques/T1552/007/ for T1552.007."""
    return "https://attack.mitre.org/techniques/%s/" % technique.replace(".", "/")


def frameworks_of(rule: Rule) -> dict[str, list[dict[str, Any]]]:
    """The rule's framework mappings with names and source URLs (the report's framework view reads this)."""
    given = rule.get("frameworks") or {}
    out: dict[str, list[dict[str, Any]]] = {key: [] for key in FRAMEWORK_KEYS}
    for slug in given.get("pss", ()):
        level, _sep, control = slug.partition("/")
        out["pss"].append({"id": slug, "level": level, "control": control, "name": PSS_CONTROLS[control][0], "url": PSS_URL})
    for cis in given.get("cis", ()):
        out["cis"].append({"id": cis, "version": CIS_VERSION, "name": CIS_CONTROLS[cis], "url": CIS_URL})
    for section in given.get("nsa", ()):
        out["nsa"].append({"id": section, "name": section, "version": "1.2", "url": NSA_URL})
    for technique in given.get("mitre", ()):
        out["mitre"].append({"id": technique, "name": MITRE_CONTROLS[technique], "url": mitre_url(technique)})
    return out


def pss_text(slugs: Any) -> Optional[str]:
    """'baseline: Capabilities; restricted: Capabilities' for the slugs, None without any (the rules' ``pss``)."""
    by_level: dict[str, list[str]] = {}
    for slug in slugs or ():
        level, _sep, control = slug.partition("/")
        by_level.setdefault(level, []).append(PSS_CONTROLS[control][0])
    if not by_level:
        return None
    return "; ".join("%s: %s" % (level, ", ".join(names)) for level, names in by_level.items())


def rule(
    rid: str,
    name: str,
    severity: str,
    scope: str,
    title: str,
    description: str,
    remediation: str,
    params: Optional[dict[str, Any]] = None,
    *,
    container_check: Optional[Callable[..., Any]] = None,
    pod_check: Optional[Callable[..., Any]] = None,
    object_check: Optional[tuple[str, tuple[str, ...], Callable[..., Any]]] = None,
    audit: Optional[Callable[..., Any]] = None,
    validate: Optional[Callable[..., Any]] = None,
    cel: Optional[Callable[..., Any]] = None,
    cel_target: Optional[str] = None,
    cel_containers: str = "all",
    enforcement: str = "full",
    enforcement_note: Optional[str] = None,
    ksv: tuple[str, ...] = (),
    ksv_params: Optional[dict[str, dict[str, Any]]] = None,
    frameworks: Optional[dict[str, tuple[str, ...]]] = None,
    defender: Optional[str] = None,
    azure_policy: Optional[str] = None,
    gatekeeper: Optional[str] = None,
    severity_note: Optional[str] = None,
) -> Rule:
    """One workload rule as one dict (see the module docstring); ValueError when the definition is inconsistent,
    so a mistake in a new rule fails at import and in every test, not in a user's run."""
    where = "rule %s (%s)" % (rid, name)
    problems = []
    if severity not in SEVERITIES:
        problems.append("severity %r is not one of %s" % (severity, ", ".join(SEVERITIES)))
    if scope not in SCOPES:
        problems.append("scope %r is not one of %s" % (scope, ", ".join(SCOPES)))
    if not (container_check or pod_check or object_check or audit):
        problems.append("it has no check (container_check, pod_check, object_check or audit)")
    if cel_containers not in CEL_CONTAINERS:
        problems.append("cel_containers %r is not one of %s" % (cel_containers, ", ".join(CEL_CONTAINERS)))
    if enforcement not in ENFORCEMENT:
        problems.append("enforcement %r is not one of %s" % (enforcement, ", ".join(ENFORCEMENT)))
    if enforcement == "none":
        if cel is not None or not enforcement_note:
            problems.append("enforcement none needs an enforcement_note (why) and no cel")
    elif cel is None or cel_target not in CEL_TARGETS:
        problems.append("an enforceable rule needs cel and a cel_target in %s" % ", ".join(CEL_TARGETS))
    elif enforcement == "partial" and not enforcement_note:
        problems.append("enforcement partial needs an enforcement_note (what is not covered)")
    for key, values in (frameworks or {}).items():
        catalogue: Any = {
            "pss": [level + "/" + slug for slug, (_n, levels) in PSS_CONTROLS.items() for level in levels],
            "cis": CIS_CONTROLS,
            "nsa": NSA_SECTIONS,
            "mitre": MITRE_CONTROLS,
        }.get(key)
        if catalogue is None:
            problems.append("unknown framework %r" % key)
            continue
        problems.extend("%s %r is not in the catalogue" % (key, value) for value in values if value not in catalogue)
    for ksv_id in ksv_params or {}:
        if ksv_id not in ksv:
            problems.append("ksv_params names %s, which is not in ksv" % ksv_id)
    if problems:
        raise ValueError("%s: %s" % (where, "; ".join(problems)))
    frameworks = {key: tuple(values) for key, values in (frameworks or {}).items()}
    return {
        "id": rid,
        "name": name,
        "severity": severity,
        "scope": scope,
        "title": title,
        "description": description,
        "remediation": remediation,
        "params": dict(params or {}),
        "severity_note": severity_note,
        "container_check": container_check,
        "pod_check": pod_check,
        "object_check": object_check,
        "audit": audit,
        "validate": validate,
        "cel": cel,
        "cel_target": cel_target,
        "cel_containers": cel_containers,
        "enforcement": enforcement,
        "enforcement_note": enforcement_note,
        "ksv": tuple(ksv),
        "ksv_params": dict(ksv_params or {}),
        "frameworks": frameworks,
        "pss": pss_text(frameworks.get("pss")),
        "defender": defender,
        "azure_policy": azure_policy,
        "gatekeeper": gatekeeper,
    }
