# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CIS Kubernetes Benchmark section 5 (policies), decided from cluster objects.

Private module_utils (leading underscore): the API may change between minor releases.

The checks are data: ``data/cis_policies/<benchmark>.yml`` (resolved and validated on the controller by
``plugin_utils/_policies_catalogue.py``). Each check names a ``test.type``; ``TESTS`` maps it to a function here.
Where a check asks the same question as a rule, the rule is evaluated once and its results give both ids:
``workload_rule`` reads the findings of ``_workload.audit`` (KS-WL-*), ``policy_rule`` the results of
``_policy_rules.evaluate`` (KS-RB-*).

Public: ``audit(objects, catalogue, ...)`` -> ``{"findings", "policy_findings", "summary", "checks",
"input_errors", "warnings"}``. ``findings`` are one per check (source ``cis-policies``, id ``CIS-5.x.y``, resource
the cluster), with ``evidence.offending`` naming the objects; ``policy_findings`` one per offending object and rule
(source ``cluster-policy``, ids ``KS-RB-*``, ``KS-NET-*``, ``KS-CM-*``).
Standard library only (runs on Python 3.8+).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils import _policy_rules as pr
from ansible_collections.kubesec.cluster.plugins.module_utils import _workload
from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import apply_waiver, make_finding
from ansible_collections.kubesec.cluster.plugins.module_utils._workload_rules import as_dict, as_list, is_bootstrap_role, is_true, normalize_capability, short

SOURCE = "cis-policies"
RULE_SOURCE = "cluster-policy"
MAX_OFFENDING = 50  # objects named per check; evidence.offending_total counts them all
MAX_LIST_DEPTH = 4
CIS_REFERENCE = "https://www.cisecurity.org/benchmark/kubernetes"
PSA_LABEL = "pod-security.kubernetes.io/enforce"
WEBHOOK_GROUP = "admissionregistration.k8s.io"


class PolicyInputError(KubesecError, ValueError):
    """The objects or the catalogue given are not what the audit reads (the message says which and where)."""


Verdict = Tuple[str, str, Dict[str, Any]]  # status, one-line description, evidence


class Context:
    """What every test may read: the objects by kind, the rule results, settings."""

    def __init__(
        self,
        objects: List[Dict[str, Any]],
        policy_settings: Dict[str, Dict[str, Any]],
        workload_result: Dict[str, Any],
        policy_results: Dict[str, List[Dict[str, Any]]],
        index: pr.RbacIndex,
        exclude: Dict[str, Any],
    ) -> None:
        self.objects = objects
        self.policy_settings = policy_settings
        self.workload = workload_result
        self.policy_results = policy_results
        self.rbac = index
        self.exclude = exclude  # a setting-shaped dict for pr.excluded / pr.subject_exempt
        self.workloads = [w for w in _workload.iter_workloads(objects) if not w["owned_by"] and not pr.excluded(exclude, w["namespace"])]

    def of_kind(self, kind: str, groups: Tuple[str, ...] = ("",)) -> List[Dict[str, Any]]:
        return [obj for obj in self.objects if obj.get("kind") == kind and _group(obj.get("apiVersion")) in (None, *groups)]

    def excluded(self, namespace: Optional[str]) -> bool:
        return pr.excluded(self.exclude, namespace)


# the object helpers of the cluster policy rules: one reading of apiVersion / metadata for both modules
_group, _meta, _label = pr._group, pr._meta, pr._label


def _listed(items: List[str]) -> Dict[str, Any]:
    # messages: the first lines the report's evidence cell shows; offending: the objects, bounded
    shown = items[:3] if len(items) <= 3 else [*items[:2], "... and %d more (evidence.offending)" % (len(items) - 2)]
    out: Dict[str, Any] = {"offending": items[:MAX_OFFENDING], "messages": shown}
    if len(items) > MAX_OFFENDING:
        out["offending_total"] = len(items)
    return out


def _verdict(items: List[str], passed: str, failed: str, evidence: Optional[Dict[str, Any]] = None, status: str = "fail") -> Verdict:
    evidence = dict(evidence or {})
    if items:
        evidence.update(_listed(items))
        return status, "%s: %s%s." % (failed % len(items), "; ".join(items[:5]), " and %d more" % (len(items) - 5) if len(items) > 5 else ""), evidence
    evidence["offending"] = []
    return "pass", passed, evidence


# ---------------------------------------------------------------------------------------------------------
# Tests shared with rules


def _workload_rule(ctx: Context, test: Dict[str, Any]) -> Verdict:
    rule_id = test["rule"]
    info = ctx.workload["rules"].get(rule_id)
    if info is None or not info["evaluated"]:
        why = "unknown rule" if info is None else (info.get("note") or "not evaluated")
        return "warn", "Not decided: workload rule %s is %s (kubesec_workload_rules)." % (rule_id, why), {"decided_by": rule_id, "not_evaluated": why}
    fields = [re.compile(text) for text in test.get("fields") or ()]
    offending, statuses = [], set()
    checked = ctx.workload["workloads"]["evaluated"]
    for finding in ctx.workload["findings"]:
        if finding["id"] != rule_id or finding["status"] not in ("fail", "warn"):
            continue
        res = finding["resource"]
        where = _label(res["kind"], res["namespace"], res["name"]) + (", container %s" % res["container"] if res.get("container") else "")
        if fields:
            evidence = finding["evidence"]
            violations = evidence.get("violations")
            if not violations:  # a single violation: its message is the finding's description
                if any(p.search(str(evidence.get("field") or "")) for p in fields):
                    offending.append(finding["description"].rstrip("."))
                    statuses.add(finding["status"])
                continue
            hits = [v for v in violations if any(p.search(str(v.get("field") or "")) for p in fields)]
            if not hits:
                continue
            offending.append("%s: %s" % (where, "; ".join(str(v.get("message") or v.get("field")) for v in hits)))
        else:
            offending.append(finding["description"].rstrip("."))
        statuses.add(finding["status"])
    status = "fail" if "fail" in statuses else "warn"
    return _verdict(
        offending,
        "No offending workload (%d workloads evaluated by %s)." % (checked, rule_id),
        "%%d offending (%s)" % rule_id,
        {"decided_by": rule_id, "evaluated": checked},
        status,
    )


def _policy_rule(ctx: Context, test: Dict[str, Any]) -> Verdict:
    rule_id = test["rule"]
    if rule_id not in ctx.policy_results:
        return "warn", "Not decided: rule %s is switched off (policy_rules)." % rule_id, {"decided_by": rule_id, "not_evaluated": "disabled"}
    items = [result["message"] for result in ctx.policy_results[rule_id]]
    return _verdict(items, "No binding grants it to a non-system subject (%s)." % rule_id, "%%d binding(s) (%s)" % rule_id, {"decided_by": rule_id})


def _rbac_grant(ctx: Context, test: Dict[str, Any]) -> Verdict:
    """A "minimize access" question no rule asks: broad groups FAIL; other holders are listed for a person (WARN)."""
    entries = ctx.rbac.grants(test["grants"], ctx.exclude)
    items = [
        "%s gives %s %s (%s %s)"
        % (
            _label(e["binding"]["kind"], e["binding"]["namespace"], e["binding"]["name"]),
            ", ".join(e["subjects"]),
            "; ".join(e["granted"][:3]),
            e["role"]["kind"],
            e["role"]["name"],
        )
        for e in entries
    ]
    broad = any(e["broad"] for e in entries)
    status, text, evidence = _verdict(
        items, "Only system components hold it.", "%d binding(s) to review", {"decided_by": "RBAC bindings", "broad": broad}, "fail" if broad else "warn"
    )
    if status == "warn":
        text += " Decide per subject whether it needs it (CIS: minimize)."
    return status, text, evidence


# ---------------------------------------------------------------------------------------------------------
# RBAC tests


def _cluster_admin_bindings(ctx: Context, test: Dict[str, Any]) -> Verdict:
    allowed = set(test.get("allowed_bindings") or ())
    items, expected = [], []
    for binding in ctx.rbac.bindings:
        kind, name = ctx.rbac.role_of(binding)[:2]
        if kind != "ClusterRole" or name != "cluster-admin":
            continue
        bname, namespace = _meta(binding)
        subjects = ", ".join("%s %s" % (s["kind"], s["identity"]) for s in ctx.rbac.subjects(binding)) or "no subjects"
        text = "%s -> %s" % (_label(binding.get("kind"), namespace, bname), subjects)
        if binding.get("kind") == "ClusterRoleBinding" and bname in allowed:
            expected.append(text)
        else:
            items.append(text)
    return _verdict(items, "Only the expected bindings use cluster-admin.", "%d binding(s) to cluster-admin", {"expected_bindings": expected})


def _wildcard_roles(ctx: Context, test: Dict[str, Any]) -> Verdict:
    items, builtin = [], 0
    for (kind, namespace, name), role in sorted(ctx.rbac.roles.items(), key=lambda item: str(item[0])):
        if kind == "Role" and ctx.excluded(namespace):
            continue
        wild = []
        for index, rule in enumerate(as_list(role.get("rules"))):
            for key in ("verbs", "resources", "apiGroups"):
                if "*" in [str(item) for item in as_list(as_dict(rule).get(key))]:
                    wild.append("rules[%d].%s" % (index, key))
        if not wild:
            continue
        if is_bootstrap_role(kind, name, namespace, as_dict(role.get("metadata")).get("labels")) or (kind == "ClusterRole" and name == "cluster-admin"):
            builtin += 1
            continue
        items.append("%s: '*' in %s" % (_label(kind, namespace, name), ", ".join(wild[:5])))
    return _verdict(items, "No role outside the built-in ones uses '*'.", "%d role(s) with wildcards", {"builtin_roles_with_wildcards": builtin})


def _default_service_accounts(ctx: Context, test: Dict[str, Any]) -> Verdict:
    accounts = [sa for sa in ctx.of_kind("ServiceAccount") if _meta(sa)[0] == "default" and not ctx.excluded(_meta(sa)[1])]
    items = []
    for sa in accounts:
        if as_dict(sa).get("automountServiceAccountToken") is not False:
            items.append("ServiceAccount %s/default does not set automountServiceAccountToken: false" % _meta(sa)[1])
    for binding in ctx.rbac.bindings:
        bname, namespace = _meta(binding)
        for subject in ctx.rbac.subjects(binding):
            if subject["kind"] == "ServiceAccount" and subject["name"] == "default" and not ctx.excluded(subject["namespace"]):
                items.append("%s binds ServiceAccount %s/default" % (_label(binding.get("kind"), namespace, bname), subject["namespace"]))
    rule = test.get("rule")
    if rule in ctx.policy_results:
        items.extend(result["message"] for result in ctx.policy_results[rule])
    if not accounts and not items:
        return (
            "warn",
            "Not decided: no ServiceAccount named default is in the input (export or list serviceaccounts).",
            {"decided_by": "ServiceAccounts, bindings, %s" % rule, "service_accounts": 0},
        )
    return _verdict(
        items,
        "Every default ServiceAccount is unused and mounts no token.",
        "%d use(s) of default ServiceAccounts",
        {"decided_by": "ServiceAccounts, bindings, %s" % rule, "service_accounts": len(accounts)},
    )


def _system_masters(ctx: Context, test: Dict[str, Any]) -> Verdict:
    items = []
    for binding in ctx.rbac.bindings:
        bname, namespace = _meta(binding)
        if binding.get("kind") == "ClusterRoleBinding" and bname == "cluster-admin":
            continue  # the built-in binding that makes system:masters what it is
        if any(s["kind"] == "Group" and s["name"] == "system:masters" for s in ctx.rbac.subjects(binding)):
            items.append("%s names Group system:masters" % _label(binding.get("kind"), namespace, bname))
    if items:
        return _verdict(items, "", "%d binding(s) name system:masters")
    return (
        "warn",
        (
            "No binding besides the built-in cluster-admin names system:masters. Membership comes from client "
            "certificates (O=system:masters), which the API objects do not show: review the certificates "
            "issued (kubeadm's admin.conf uses kubeadm:cluster-admins since 1.29)."
        ),
        {"decided_by": "bindings; certificates need a person", "offending": []},
    )


# ---------------------------------------------------------------------------------------------------------
# Pod security tests


def _namespaces(ctx: Context) -> List[str]:
    names = [_meta(ns)[0] for ns in ctx.of_kind("Namespace")]
    if not names:
        names = sorted({str(w["namespace"]) for w in ctx.workloads if w["namespace"]})
    return [name for name in names if name and not ctx.excluded(name)]


def _webhooks(ctx: Context, prefixes: Iterable[str]) -> List[str]:
    prefixes = tuple(prefixes)
    found = []
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        for config in ctx.of_kind(kind, (WEBHOOK_GROUP,)):
            name = _meta(config)[0]
            names = [name] + [str(as_dict(hook).get("name") or "") for hook in as_list(config.get("webhooks"))]
            if any(candidate.startswith(prefixes) for candidate in names if candidate):
                found.append("%s %s" % (kind, name))
    return found


def _policy_control(ctx: Context, test: Dict[str, Any]) -> Verdict:
    engines = _webhooks(ctx, test.get("engines") or ())
    vap = ["ValidatingAdmissionPolicyBinding %s" % _meta(b)[0] for b in ctx.of_kind("ValidatingAdmissionPolicyBinding", (WEBHOOK_GROUP,))]
    mechanisms = engines + vap
    namespaces = {_meta(ns)[0]: as_dict(as_dict(ns.get("metadata")).get("labels")) for ns in ctx.of_kind("Namespace")}
    if mechanisms:
        return "pass", "Policy control in place: %s." % ", ".join(mechanisms[:5]), {"mechanisms": mechanisms, "offending": []}
    if not namespaces:
        return (
            "warn",
            "Not decided: no Namespace objects (for Pod Security Admission labels) and no policy engine "
            "webhook or ValidatingAdmissionPolicyBinding in the input.",
            {"mechanisms": []},
        )
    labelled, items = [], []
    # CIS: every namespace which contains user workloads (all namespaces when the input has no workloads)
    with_workloads = {w["namespace"] for w in ctx.workloads if w["namespace"]}
    for name in _namespaces(ctx):
        if with_workloads and name not in with_workloads:
            continue
        level = namespaces.get(name, {}).get(PSA_LABEL)
        if level in ("baseline", "restricted"):
            labelled.append("%s=%s" % (name, level))
        else:
            items.append("Namespace %s: %s" % (name, "enforce=privileged" if level else "no %s label" % PSA_LABEL))
    return _verdict(
        items, "Every namespace enforces a Pod Security Standard.", "%d namespace(s) without admission control", {"mechanisms": [], "enforced": labelled}
    )


def _capability(ctx: Context, test: Dict[str, Any]) -> Verdict:
    cap = normalize_capability(test["capability"])
    items = []
    for w in ctx.workloads:
        for c in w["containers"]:
            caps = as_dict(as_dict(c["spec"].get("securityContext")).get("capabilities"))
            added = [normalize_capability(item) for item in as_list(caps.get("add"))]
            dropped = [normalize_capability(item) for item in as_list(caps.get("drop"))]
            where = "%s, container %s" % (_label(w["kind"], w["namespace"], w["name"]), c["name"])
            if cap in added or "ALL" in added:
                items.append("%s adds %s" % (where, cap))
            elif cap not in dropped and "ALL" not in dropped:
                items.append("%s does not drop %s (container runtimes grant it by default)" % (where, cap))
    return _verdict(items, "Every container drops %s." % cap, "%%d container(s) with %s" % cap, {"evaluated": sum(len(w["containers"]) for w in ctx.workloads)})


def _host_process(ctx: Context, test: Dict[str, Any]) -> Verdict:
    items = []
    for w in ctx.workloads:
        pod = w["pod"]
        if is_true(as_dict(as_dict(pod["spec"].get("securityContext")).get("windowsOptions")).get("hostProcess")):
            items.append("%s: %s.securityContext.windowsOptions.hostProcess" % (_label(w["kind"], w["namespace"], w["name"]), pod["path"]))
        for c in w["containers"]:
            if is_true(as_dict(as_dict(c["spec"].get("securityContext")).get("windowsOptions")).get("hostProcess")):
                items.append("%s: %s.securityContext.windowsOptions.hostProcess" % (_label(w["kind"], w["namespace"], w["name"]), c["path"]))
    return _verdict(items, "No HostProcess pod or container.", "%d HostProcess setting(s)", {"evaluated": len(ctx.workloads)})


def _seccomp_of(spec: Dict[str, Any]) -> Optional[str]:
    profile = as_dict(as_dict(spec.get("securityContext")).get("seccompProfile"))
    value = profile.get("type")
    return str(value) if value else None


_LEGACY_SECCOMP = {"runtime/default": "RuntimeDefault", "docker/default": "RuntimeDefault", "unconfined": "Unconfined"}


def _legacy_seccomp(annotation: Any) -> Optional[str]:
    if not isinstance(annotation, str):
        return None
    if annotation.startswith("localhost/"):
        return "Localhost"
    return _LEGACY_SECCOMP.get(annotation)


def _seccomp(ctx: Context, test: Dict[str, Any]) -> Verdict:
    allowed = set(test.get("allowed") or ("RuntimeDefault", "Localhost"))
    items = []
    for w in ctx.workloads:
        annotations = w["pod"]["annotations"]
        pod_profile = _seccomp_of(w["pod"]["spec"]) or _legacy_seccomp(annotations.get("seccomp.security.alpha.kubernetes.io/pod"))
        for c in w["containers"]:
            profile = _seccomp_of(c["spec"]) or _legacy_seccomp(annotations.get("container.seccomp.security.alpha.kubernetes.io/%s" % c["name"])) or pod_profile
            if profile not in allowed:
                items.append(
                    "%s, container %s: seccomp profile %s" % (_label(w["kind"], w["namespace"], w["name"]), c["name"], profile or "not set (Unconfined)")
                )
    return _verdict(
        items,
        "Every container runs with a %s seccomp profile." % " or ".join(sorted(allowed)),
        "%d container(s) without a seccomp profile",
        {"evaluated": len(ctx.workloads)},
    )


def _security_context(ctx: Context, test: Dict[str, Any]) -> Verdict:
    items = []
    for w in ctx.workloads:
        if as_dict(w["pod"]["spec"].get("securityContext")):
            continue
        bare = [c["name"] for c in w["containers"] if not as_dict(c["spec"].get("securityContext"))]
        if bare and len(bare) == len(w["containers"]):
            items.append("%s: no securityContext on the pod or its containers (%s)" % (_label(w["kind"], w["namespace"], w["name"]), ", ".join(bare[:5])))
    return _verdict(items, "Every workload sets a securityContext.", "%d workload(s) without a securityContext", {"evaluated": len(ctx.workloads)})


# ---------------------------------------------------------------------------------------------------------
# Network, secrets, admission, namespaces


def _cni(ctx: Context, test: Dict[str, Any]) -> Verdict:
    seen: Dict[str, str] = {}
    for kind, groups in (("DaemonSet", ("apps", "extensions")), ("Pod", ("",))):
        for obj in ctx.of_kind(kind, groups):
            name, namespace = _meta(obj)
            found = _workload.pod_spec_of(obj)
            images = [str(c["spec"].get("image") or "") for c in _workload.iter_containers(found[0], found[1])] if found else []
            for text in [name, *images]:
                seen.setdefault(text.lower(), _label(kind, namespace, name))
    supporting = sorted({"%s (%s)" % (where, word) for text, where in seen.items() for word in test.get("supporting") or () if word in text})
    other = sorted({"%s (%s)" % (where, word) for text, where in seen.items() for word in test.get("not_supporting") or () if word in text})
    if supporting:
        return (
            "pass",
            "A CNI that enforces NetworkPolicies runs: %s." % ", ".join(supporting[:3]),
            {"supporting": supporting[:MAX_OFFENDING], "not_supporting": other[:MAX_OFFENDING], "offending": []},
        )
    if other:
        return (
            "fail",
            "Only CNI plugins without NetworkPolicy support found: %s." % ", ".join(other[:3]),
            {"supporting": [], "not_supporting": other[:MAX_OFFENDING], "offending": other[:MAX_OFFENDING]},
        )
    return (
        "warn",
        (
            "Not decided: no known CNI among the %d DaemonSets and Pods of the input (include kube-system's, "
            "or check that the CNI enforces NetworkPolicies)." % len(ctx.of_kind("DaemonSet", ("apps",)) + ctx.of_kind("Pod"))
        ),
        {"offending": []},
    )


def _namespace_network_policies(ctx: Context, test: Dict[str, Any]) -> Verdict:
    counts: Dict[str, int] = {}
    for policy in ctx.of_kind("NetworkPolicy", ("networking.k8s.io",)):
        namespace = _meta(policy)[1]
        if namespace:
            counts[namespace] = counts.get(namespace, 0) + 1
    names = _namespaces(ctx)
    items = ["Namespace %s has no NetworkPolicy" % name for name in names if not counts.get(name)]
    return _verdict(
        items,
        "All %d namespaces have NetworkPolicies." % len(names),
        "%d namespace(s) without one",
        {"network_policies": {name: counts.get(name, 0) for name in names[:MAX_OFFENDING]}},
    )


def _external_secrets(ctx: Context, test: Dict[str, Any]) -> Verdict:
    kinds = set(test.get("kinds") or ())
    annotations = tuple(test.get("annotations") or ())
    drivers = set(test.get("csi_drivers") or ())
    found = sorted({_label(obj.get("kind"), _meta(obj)[1], _meta(obj)[0]) for obj in ctx.objects if obj.get("kind") in kinds})
    for w in ctx.workloads:
        where = _label(w["kind"], w["namespace"], w["name"])
        if any(str(key).startswith(annotations) for key in w["pod"]["annotations"]):
            found.append("%s (annotation)" % where)
        for volume in as_list(w["pod"]["spec"].get("volumes")):
            if as_dict(as_dict(volume).get("csi")).get("driver") in drivers:
                found.append("%s (CSI volume)" % where)
    if found:
        return "pass", "External secret storage in use: %s." % ", ".join(found[:5]), {"found": found[:MAX_OFFENDING]}
    return (
        "warn",
        ("No external secret store found among the objects (External Secrets, Secrets Store CSI, Vault agent, Sealed Secrets): consider one."),
        {"found": [], "offending": []},
    )


def _apiserver_flags(ctx: Context) -> Optional[Dict[str, str]]:
    for pod in ctx.of_kind("Pod"):
        name, namespace = _meta(pod)
        labels = as_dict(as_dict(pod.get("metadata")).get("labels"))
        if namespace != "kube-system" or not (labels.get("component") == "kube-apiserver" or name.startswith("kube-apiserver")):
            continue
        flags: Dict[str, str] = {}
        for c in as_list(as_dict(pod.get("spec")).get("containers")):
            for arg in as_list(as_dict(c).get("command")) + as_list(as_dict(c).get("args")):
                text = str(arg)
                if text.startswith("--"):
                    key, _eq, value = text.partition("=")
                    flags[key] = value
        return flags
    return None


def _image_provenance(ctx: Context, test: Dict[str, Any]) -> Verdict:
    flags = _apiserver_flags(ctx)
    plugins = [p for p in (flags or {}).get("--enable-admission-plugins", "").split(",") if p]
    webhooks = _webhooks(ctx, test.get("webhooks") or ())
    if "ImagePolicyWebhook" in plugins:
        return "pass", "kube-apiserver enables the ImagePolicyWebhook admission plugin.", {"admission_plugins": plugins, "offending": []}
    if webhooks:
        return (
            "pass",
            "Image provenance is verified by admission webhook(s): %s." % ", ".join(webhooks[:3]),
            {"admission_plugins": plugins, "webhooks": webhooks, "offending": []},
        )
    if flags is None:
        return (
            "warn",
            ("Not decided: no kube-apiserver Pod in kube-system among the objects (a managed control plane hides it) and no image-verifying webhook."),
            {"offending": []},
        )
    return (
        "fail",
        "kube-apiserver does not enable ImagePolicyWebhook (--enable-admission-plugins=%s) and no image-"
        "verifying webhook is configured." % short(",".join(plugins) or "(unset)", 200),
        {"admission_plugins": plugins, "offending": ["kube-apiserver --enable-admission-plugins"]},
    )


def _namespace_boundaries(ctx: Context, test: Dict[str, Any]) -> Verdict:
    counts: Dict[str, int] = {}
    for w in ctx.workloads:
        key = w["namespace"] or "(unset)"
        counts[key] = counts.get(key, 0) + 1
    if counts and set(counts) <= {"default", "(unset)"}:
        return (
            "fail",
            "All %d user workloads are in the default namespace." % sum(counts.values()),
            {"workloads_by_namespace": counts, "offending": ["namespace default: %d workloads" % sum(counts.values())]},
        )
    return (
        "pass",
        "User workloads are spread over %d namespaces." % len(counts),
        {"workloads_by_namespace": dict(sorted(counts.items())[:MAX_OFFENDING]), "offending": []},
    )


def _default_namespace(ctx: Context, test: Dict[str, Any]) -> Verdict:
    status, _text, evidence = _workload_rule(ctx, {"rule": test.get("rule", "KS-WL-013")})
    items = list(evidence.get("offending") or [])
    allowed = set(test.get("allowed_services") or ())
    for svc in ctx.of_kind("Service"):
        name, namespace = _meta(svc)
        if namespace == "default" and name not in allowed:
            items.append("Service default/%s" % name)
    if status == "warn" and not items:
        return status, _text, evidence
    return _verdict(
        items,
        "Nothing but the kubernetes Service is in the default namespace.",
        "%d object(s) in the default namespace",
        {"decided_by": "%s, Services" % test.get("rule")},
    )


# What each test reads: every tuple needs at least one object of its kinds in the input, else the check is not
# decided (WARN naming what to export) rather than passed on an empty input.
RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
WORKLOAD_KINDS = tuple(_workload.POD_CONTROLLERS)
NEEDS: Dict[str, Tuple[Tuple[str, ...], ...]] = {
    "workload_rule": (WORKLOAD_KINDS,),
    "capability": (WORKLOAD_KINDS,),
    "host_process": (WORKLOAD_KINDS,),
    "seccomp": (WORKLOAD_KINDS,),
    "security_context": (WORKLOAD_KINDS,),
    "namespace_boundaries": (WORKLOAD_KINDS,),
    "rbac_grant": (RBAC_KINDS,),
    "cluster_admin_bindings": (RBAC_KINDS,),
    "wildcard_roles": (RBAC_KINDS,),
    "system_masters": (RBAC_KINDS,),
    "default_service_accounts": (RBAC_KINDS,),
    "namespace_network_policies": (("Namespace", *WORKLOAD_KINDS),),
    "cni": (("DaemonSet", "Pod"),),
    "default_namespace": ((*WORKLOAD_KINDS, "Service"),),
    "policy_control": (),
    "external_secrets": (),
    "image_provenance": (),
}
# Kinds a test also reads whose absence is an answer (no NetworkPolicy), but whose unreadable list is not.
ALSO_READS: Dict[str, Tuple[str, ...]] = {
    "namespace_network_policies": ("NetworkPolicy",),
    "default_service_accounts": ("ServiceAccount",),
    "policy_control": ("Namespace", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicyBinding"),
    "image_provenance": ("Pod", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"),
    "default_namespace": ("Service",),
}


def _needs(test: Dict[str, Any]) -> Tuple[Tuple[str, ...], ...]:
    if test.get("type") == "policy_rule":
        rule = pr.RULES_BY_ID.get(str(test.get("rule")), {})
        return (WORKLOAD_KINDS,) if rule.get("kind") == "workload" else (RBAC_KINDS,)
    return NEEDS.get(str(test.get("type")), ())


def _undecided(ctx: Context, test: Dict[str, Any], status: str, unreadable: Dict[str, str]) -> Optional[str]:
    """Why a verdict cannot stand: the input lacks what the test reads, or a list it reads failed."""
    present = {obj.get("kind") for obj in ctx.objects}
    needs = _needs(test)
    for kinds in needs:
        if not present.intersection(kinds):
            reasons = ["%s: %s" % (kind, unreadable[kind]) for kind in kinds if kind in unreadable]
            return "the input has no %s objects%s" % ("/".join(kinds[:4]) + ("..." if len(kinds) > 4 else ""), " (%s)" % "; ".join(reasons) if reasons else "")
    if status == "pass":
        read = [kind for kinds in needs for kind in kinds] + list(ALSO_READS.get(str(test.get("type")), ()))
        if test.get("type") == "policy_rule" and str(test.get("rule")).startswith("KS-RB"):
            read += list(RBAC_KINDS)
        failed = ["%s: %s" % (kind, unreadable[kind]) for kind in dict.fromkeys(read) if kind in unreadable]
        if failed:
            return "could not read %s" % "; ".join(failed)
    return None


TESTS: Dict[str, Callable[[Context, Dict[str, Any]], Verdict]] = {
    "workload_rule": _workload_rule,
    "policy_rule": _policy_rule,
    "rbac_grant": _rbac_grant,
    "cluster_admin_bindings": _cluster_admin_bindings,
    "wildcard_roles": _wildcard_roles,
    "default_service_accounts": _default_service_accounts,
    "system_masters": _system_masters,
    "policy_control": _policy_control,
    "capability": _capability,
    "host_process": _host_process,
    "seccomp": _seccomp,
    "security_context": _security_context,
    "cni": _cni,
    "namespace_network_policies": _namespace_network_policies,
    "external_secrets": _external_secrets,
    "image_provenance": _image_provenance,
    "namespace_boundaries": _namespace_boundaries,
    "default_namespace": _default_namespace,
}


# ---------------------------------------------------------------------------------------------------------
# Entry point


def flatten(objects: Any, origins: Optional[List[Dict[str, Any]]] = None) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Objects with List kinds expanded; (objects, problems) - a non-mapping or kind-less document is a problem."""
    if objects is None:
        return [], []
    if not isinstance(objects, (list, tuple)):
        raise PolicyInputError("objects must be a list of Kubernetes objects (mappings), got %s" % type(objects).__name__)
    out: List[Dict[str, Any]] = []
    problems: List[str] = []

    def where(index: int) -> str:
        origin = (origins or [])[index] if origins and index < len(origins) else {"input": "objects[%d]" % index}
        if "file" in origin:
            return "%s, document %s" % (origin["file"], origin.get("document"))
        return str(origin.get("input"))

    def walk(obj: Any, place: str, depth: int) -> None:
        if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str) or not obj.get("kind"):
            problems.append("%s: not a Kubernetes object (%s)" % (place, "no kind" if isinstance(obj, dict) else type(obj).__name__))
            return
        if obj["kind"].endswith("List") and isinstance(obj.get("items"), list):
            if depth >= MAX_LIST_DEPTH:
                problems.append("%s: Lists nested deeper than %d" % (place, MAX_LIST_DEPTH))
                return
            for index, item in enumerate(obj["items"]):
                walk(item, "%s.items[%d]" % (place, index), depth + 1)
            return
        out.append(obj)

    for index, obj in enumerate(objects):
        walk(obj, where(index), 0)
    return out, problems


def _controls(controls: Any) -> Dict[str, Dict[str, Any]]:
    if controls is None:
        return {}
    if not isinstance(controls, dict):
        raise PolicyInputError("controls must be a mapping keyed by CIS id ({'5.1.1': {enabled: false, reason: ...}})")
    return {str(key): as_dict(value) for key, value in controls.items()}


# What each cluster policy rule reads (by the rule's kind), for rules whose lists failed.
RULE_READS: Dict[str, Tuple[str, ...]] = {
    "rbac": RBAC_KINDS,
    "anonymous": RBAC_KINDS,
    "workload": WORKLOAD_KINDS,
    "Service": ("Service",),
    "Ingress": ("Ingress",),
    "ConfigMap": ("ConfigMap",),
}


def _policy_findings(
    results: Dict[str, List[Dict[str, Any]]],
    settings: Dict[str, Dict[str, Any]],
    cluster: Optional[str],
    include_passed: bool,
    unreadable: Optional[Dict[str, str]] = None,
) -> List[Dict[str, Any]]:
    out = []
    for rule in pr.RULES:
        if rule["id"] not in results:
            continue
        for result in results[rule["id"]]:
            res = result["resource"]
            evidence = dict(result["evidence"])
            evidence["exclude_namespaces"] = settings[rule["id"]]["exclude_namespaces"]
            evidence.setdefault("messages", [result["message"]])
            out.append(
                make_finding(
                    rule["id"],
                    RULE_SOURCE,
                    rule["title"],
                    result["status"],
                    severity=rule["severity"],
                    cluster=cluster,
                    namespace=res.get("namespace"),
                    resource=res,
                    description=result["message"] + ".",
                    remediation=rule["remediation"],
                    references=rule["references"],
                    evidence=evidence,
                )
            )
        failed = ["%s: %s" % (kind, (unreadable or {})[kind]) for kind in RULE_READS.get(rule["kind"], ()) if kind in (unreadable or {})]
        if include_passed and not results[rule["id"]] and failed:
            out.append(
                make_finding(
                    rule["id"],
                    RULE_SOURCE,
                    rule["title"],
                    "warn",
                    severity=rule["severity"],
                    cluster=cluster,
                    resource={"kind": "Cluster", "name": cluster},
                    remediation=rule["remediation"],
                    description="Not decided: could not read %s." % "; ".join(failed),
                    references=rule["references"],
                    evidence={"not_evaluated": failed},
                )
            )
        elif include_passed and not results[rule["id"]]:
            out.append(
                make_finding(
                    rule["id"],
                    RULE_SOURCE,
                    rule["title"],
                    "pass",
                    severity=rule["severity"],
                    cluster=cluster,
                    resource={"kind": "Cluster", "name": cluster},
                    description="No offending object.",
                    remediation=rule["remediation"],
                    references=rule["references"],
                    evidence={},
                )
            )
    return out


def audit(
    objects: Any,
    catalogue: Dict[str, Any],
    rules: Optional[Dict[str, Any]] = None,
    workload_rules: Optional[Dict[str, Any]] = None,
    exclude_namespaces: Optional[List[str]] = None,
    cluster: Optional[str] = None,
    controls: Any = None,
    include_passed: bool = False,
    origins: Optional[List[Dict[str, Any]]] = None,
    unreadable: Optional[Dict[str, str]] = None,
) -> Dict[str, Any]:
    """Evaluate every section-5 check of `catalogue` and every cluster policy rule over `objects`.

    `unreadable` maps kinds whose list failed (API 403/404) to the reason: a check reading them is not passed."""
    unreadable = dict(unreadable or {})
    if not isinstance(catalogue, dict) or not isinstance(catalogue.get("checks"), list):
        raise PolicyInputError("catalogue must be a resolved section-5 catalogue with a list of checks (data/cis_policies/<benchmark>.yml)")
    toggles = _controls(controls)
    items, problems = flatten(objects, origins)
    settings = pr.resolve_settings(rules, exclude_namespaces)
    index = pr.RbacIndex(items)
    results = pr.evaluate(items, settings, index)
    extra_ns = [name for name in (exclude_namespaces or []) if name not in _workload.global_excluded_namespaces()]
    # pass findings are not needed: the CIS checks count the workloads evaluated (workloads.evaluated)
    workload = _workload.audit(items, rules=workload_rules, exclude_namespaces=extra_ns, cluster=cluster)
    exclude = pr.base_setting(exclude_namespaces)
    ctx = Context(items, settings, workload, results, index, exclude)
    findings, checks = [], []
    benchmark = catalogue.get("version")
    for check in catalogue["checks"]:
        cid = str(check["id"])
        test = check["test"]
        func = TESTS.get(test.get("type"))
        if func is None:
            raise PolicyInputError("catalogue %s, check %s: unknown test type %r (known: %s)" % (benchmark, cid, test.get("type"), ", ".join(sorted(TESTS))))
        status, text, evidence = func(ctx, test)
        why = _undecided(ctx, test, status, unreadable)
        if why is not None:
            status, text = "warn", "Not decided: %s. Export or grant list access to them." % why
            evidence = {"not_evaluated": why, "decided_by": evidence.get("decided_by")}
        evidence = dict(evidence, decided=check.get("decided"), kube_bench=check.get("kube_bench"))
        finding = make_finding(
            "CIS-" + cid,
            SOURCE,
            check["title"],
            status,
            severity=check.get("severity", "medium"),
            cluster=cluster,
            resource={"kind": "Cluster", "name": cluster},
            description=text,
            remediation=check["remediation"],
            references=[CIS_REFERENCE],
            evidence=evidence,
            extra={"scored": bool(check.get("scored", False)), "benchmark": benchmark, "section": cid.rsplit(".", 1)[0], "level": int(check.get("level", 1))},
        )
        toggle = toggles.get(cid)
        if toggle is not None and toggle.get("enabled") is False:
            finding = apply_waiver(finding, str(toggle.get("reason") or "disabled in kubesec_cis_controls"))
        findings.append(finding)
        checks.append({"id": cid, "status": finding["status"], "decided": check.get("decided"), "test": test.get("type"), "rule": test.get("rule")})
    policy_findings = _policy_findings(results, settings, cluster, include_passed, unreadable)
    summary: Dict[str, Any] = {
        "checks": len(findings),
        "objects": len(items),
        "by_status": {},
        "rules": {rid: len(found) for rid, found in results.items()},
        "policy_findings": len(policy_findings),
        "automated": sum(1 for c in catalogue["checks"] if c.get("decided") == "objects"),
        "review": sum(1 for c in catalogue["checks"] if c.get("decided") == "review"),
    }
    for finding in findings:
        summary["by_status"][finding["status"]] = summary["by_status"].get(finding["status"], 0) + 1
    input_errors = [record["message"] for record in workload["input_errors"] if record.get("kind")]
    return {
        "findings": findings,
        "policy_findings": policy_findings,
        "summary": summary,
        "checks": checks,
        "input_errors": problems + input_errors,
        "warnings": workload["warnings"],
        "settings": {rid: {"enabled": s["enabled"], "params": s["params"], "exclude_namespaces": s["exclude_namespaces"]} for rid, s in settings.items()},
    }


# ---------------------------------------------------------------------------------------------------------
# Reading the API

# (apiVersion, plural, kind) listed from the API, every namespace, paged. Never Secrets: the checks need none.
API_RESOURCES: Tuple[Tuple[str, str, str], ...] = (
    ("v1", "namespaces", "Namespace"),
    ("v1", "serviceaccounts", "ServiceAccount"),
    ("v1", "pods", "Pod"),
    ("v1", "services", "Service"),
    ("v1", "configmaps", "ConfigMap"),
    ("v1", "replicationcontrollers", "ReplicationController"),
    ("apps/v1", "deployments", "Deployment"),
    ("apps/v1", "replicasets", "ReplicaSet"),
    ("apps/v1", "statefulsets", "StatefulSet"),
    ("apps/v1", "daemonsets", "DaemonSet"),
    ("batch/v1", "jobs", "Job"),
    ("batch/v1", "cronjobs", "CronJob"),
    ("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy"),
    ("networking.k8s.io/v1", "ingresses", "Ingress"),
    ("rbac.authorization.k8s.io/v1", "roles", "Role"),
    ("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding"),
    ("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1", "validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding"),
)


def read_api(
    client: Any,
    list_all: Callable[..., Dict[str, Any]],
    forbidden: Tuple[type[BaseException], ...],
    not_served: Tuple[type[BaseException], ...],
    limit: int = 500,
) -> Tuple[List[Dict[str, Any]], Dict[str, str], List[str]]:
    """(objects, unreadable {kind: reason}, inputs) from the API. `list_all` is ``_kube.list_all``. A list that
    fails with `forbidden` (403) makes its kind unreadable (checks reading it are not decided); one the server does
    not serve (404: e.g. ValidatingAdmissionPolicyBinding before Kubernetes 1.30) has no objects, which is an answer."""
    objects: List[Dict[str, Any]] = []
    unreadable: Dict[str, str] = {}
    inputs: List[str] = []
    for api_version, plural, kind in API_RESOURCES:
        try:
            listed = list_all(client, api_version, plural, limit=limit)
        except forbidden as exc:
            unreadable[kind] = short(str(exc), 300)
            continue
        except not_served:
            inputs.append("%s: not served by this API server (none)" % kind)
            continue
        objects.extend(listed["items"])
        inputs.append("%s: %d objects (API, %d pages)" % (kind, len(listed["items"]), listed.get("pages", 1)))
    return objects, unreadable, inputs
