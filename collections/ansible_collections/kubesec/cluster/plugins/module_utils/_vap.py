# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KS-WL rules as Kubernetes ValidatingAdmissionPolicies (admissionregistration.k8s.io/v1, CEL).

Private module_utils (leading underscore): the API may change between minor releases.

``build(rules=None, exclude_namespaces=None, cluster=None, audit_mode_policies=False)``
    Takes the same rule settings as ``workload_audit`` (``_workload.resolve_settings`` validates them) and returns
    one ValidatingAdmissionPolicy + ValidatingAdmissionPolicyBinding per enforceable rule in mode ``deny``
    (validationActions [Deny, Audit]) or ``warn`` ([Warn, Audit]); mode ``audit`` gives nothing unless
    ``audit_mode_policies`` ([Audit]). Rules that need more than the one object being admitted are listed in
    ``not_enforceable`` with the reason (``NOT_ENFORCEABLE``).
``render_files(result, cluster)``
    ``{file name: YAML text}``: one file per rule (policy and binding), deterministic.

Each rule's CEL lives with the rule (``cel`` of its ``rule()`` entry in ``_wl_rules_*.py``, built from
``_wl_cel``); this module wraps it into the policy: the pod-controller view (``pod_variables``), match
constraints, namespace exclusions, the UPDATE condition and the binding. ``POD_RULES``, ``ENFORCEABLE``,
``NOT_ENFORCEABLE``, ``PARTIAL`` and ``NOTES`` are derived from the rule objects.

How the settings are encoded:
- Parameters are inlined into the CEL as literals (``cel_string`` escapes every string; numbers are validated
  integers), so each policy is self-contained and a parameter change is a visible diff of the rendered file. No
  paramKind / ConfigMap.
- Excluded namespaces: exact names go to the binding's ``matchResources.namespaceSelector``
  (``kubernetes.io/metadata.name NotIn``); globs (``team-*``) and ``^`` regular expressions become a
  ``matchConditions`` entry on ``request.namespace`` (a label selector cannot express them).
- Excluded images are tested inside the CEL, with the audit's semantics (prefix at a ``/``, ``:`` or ``@``
  boundary or ``^`` regular expression, against the image as written and its normalized form). They exempt
  container-level fields only; pod-level fields (hostNetwork, hostPID, hostIPC, volumes) are always checked.
- Regular expressions are evaluated by RE2 in the API server (Go ``regexp``): patterns using constructs RE2 lacks
  (look-around, back references, possessive or atomic groups, ``\\Z``) are refused with an error naming them.

The CEL uses only what the Kubernetes CEL environment has offered since 1.28/1.29 (standard macros, the strings
extension, the Kubernetes regex ``find`` and ``quantity`` libraries) and ``has()`` guards everywhere, so an unset
field never raises "no such key". Standard library only (runs on Python 3.8+); PyYAML is optional (JSON documents
are written without it).
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._wl_cel import (  # noqa: F401 - re-exported  # pylint: disable=unused-import
    EnforcementError,
    cel_list,
    cel_string,
    check_re2,
    glob_to_re2,
    name_matches,
    pod_variables,
    re2_escape,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import RuleConfigError, compile_names
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_registry import RULES
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_settings import resolve_settings

from ansible_collections.kubesec.cluster.plugins.module_utils._safeyaml import HAS_YAML, yaml

API_VERSION = "admissionregistration.k8s.io/v1"
MIN_KUBERNETES = "1.30"
NAME_PREFIX = "kubesec"
FILE_RE = re.compile(r"^ks-wl-\d{3}-[a-z0-9-]+\.yaml$")
MANAGED_LABELS = {"app.kubernetes.io/managed-by": "kubesec", "app.kubernetes.io/part-of": "kubesec"}
VALIDATION_ACTIONS = {"deny": ["Deny", "Audit"], "warn": ["Warn", "Audit"], "audit": ["Audit"]}
OPERATIONS = ["CREATE", "UPDATE"]

# (API group, resources) admitted for the pod rules: every pod controller, the ephemeral-container subresource
# (kubectl debug adds ephemeral containers through it) and PodTemplates.
POD_RESOURCES = (
    ("", ("pods", "pods/ephemeralcontainers", "replicationcontrollers", "podtemplates")),
    ("apps", ("daemonsets", "deployments", "replicasets", "statefulsets")),
    ("batch", ("cronjobs", "jobs")),
)
TARGETS = {
    "pod": POD_RESOURCES,
    "Service": (("", ("services",)),),
    "Ingress": (("networking.k8s.io", ("ingresses",)),),
}

# The rules' admission-policy facts, derived from the rule objects (each rule's file holds its CEL and reasons).
POD_RULES = {rule["id"]: rule["cel"] for rule in RULES if rule["cel_target"] == "pod"}
OBJECT_RULES = {rule["id"]: (rule["cel_target"], rule["cel"]) for rule in RULES if rule["cel_target"] in ("Service", "Ingress")}
RBAC_RULES = tuple(rule["id"] for rule in RULES if rule["cel_target"] == "RBAC")
ENFORCEABLE = tuple(sorted(rule["id"] for rule in RULES if rule["enforcement"] != "none"))
NOT_ENFORCEABLE = {rule["id"]: rule["enforcement_note"] for rule in RULES if rule["enforcement"] == "none"}
PARTIAL = {rule["id"]: rule["enforcement_note"] for rule in RULES if rule["enforcement"] == "partial"}
NOTES = {rule["id"]: rule["enforcement_note"] for rule in RULES if rule["enforcement"] == "full" and rule["enforcement_note"]}


def enforceability() -> list[dict[str, Any]]:
    """[{id, name, enforceable, target, note}] for every rule: the table of docs/enforcement.md."""
    out: list[dict[str, Any]] = []
    for rule in RULES:
        rid = rule["id"]
        if rid in NOT_ENFORCEABLE:
            out.append({"id": rid, "name": rule["name"], "enforceable": False, "target": None, "note": NOT_ENFORCEABLE[rid]})
            continue
        target = {"pod": "pod controllers", "Service": "Services", "Ingress": "Ingresses", "RBAC": "(Cluster)RoleBindings, (Cluster)Roles"}[rule["cel_target"]]
        out.append(
            {
                "id": rid,
                "name": rule["name"],
                "enforceable": "partial" if rid in PARTIAL else True,
                "target": target,
                "note": PARTIAL.get(rid) or NOTES.get(rid),
            }
        )
    return out


# ---------------------------------------------------------------------------------------------------------
# Objects


def object_name(rule: dict[str, Any]) -> str:
    return "%s-%s-%s" % (NAME_PREFIX, rule["id"].lower(), rule["name"].replace("_", "-"))


def file_name(rule: dict[str, Any]) -> str:
    return "%s-%s.yaml" % (rule["id"].lower(), rule["name"].replace("_", "-"))


def _resource_rules(groups: Any) -> list[dict[str, Any]]:
    return [{"apiGroups": [group], "apiVersions": ["*"], "operations": list(OPERATIONS), "resources": list(resources)} for group, resources in groups]


def _rbac_resources(p: dict[str, Any]) -> Any:
    resources = ["clusterrolebindings", "rolebindings"]
    if not p["require_binding"]:
        resources = ["clusterrolebindings", "clusterroles", "rolebindings", "roles"]
    return (("rbac.authorization.k8s.io", tuple(resources)),)


_LABEL_VALUE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _namespace_split(names: Any, where: str) -> tuple[list[str], Optional[str]]:
    """(exact names for the binding's label selector, CEL match condition or None)."""
    exact, others = [], []
    for kind, text, _regex in compile_names(list(names), where):
        if kind == "prefix" and _LABEL_VALUE.match(text):
            if text not in exact:
                exact.append(text)
        else:
            others.append(text)
    condition = None
    if others:
        condition = "request.namespace == '' || !%s" % name_matches("request.namespace", others, where)
    return exact, condition


# Fields whose change makes an UPDATE worth checking, per target (the rest is metadata or status).
CHECKED_FIELDS = {
    "pod": (("spec", "{}"), ("template", "{}")),
    "Service": (("spec", "{}"),),
    "Ingress": (("spec", "{}"), ("metadata.annotations", "{}")),
    "RBAC": (("roleRef", "{}"), ("subjects", "[]"), ("rules", "[]")),
}


def _changed_condition(target: str) -> str:
    """UPDATEs are checked only when a checked field changes and the object is not being deleted.

    Otherwise a deny-mode policy would refuse metadata-only updates of objects created before it (labels,
    ownerReferences, the garbage collector removing the foregroundDeletion finalizer), as Pod Security
    Admission does not either.
    """
    changes = []
    for field, empty in CHECKED_FIELDS[target]:
        parts = field.split(".")
        sides = []
        for root in ("object", "oldObject"):
            guard = " && ".join("has(%s.%s)" % (".".join([root, *parts[: index - 1]]), key) for index, key in enumerate(parts, 1))
            sides.append("(%s ? %s.%s : %s)" % (guard, root, field, empty))
        changes.append("%s != %s" % tuple(sides))
    return "request.operation != 'UPDATE'\n|| (!(has(object.metadata) && has(object.metadata.deletionTimestamp)) && (\n  %s))" % "\n  || ".join(changes)


def _labels(rule: dict[str, Any], cluster: Optional[str], mode: str) -> dict[str, str]:
    labels = dict(MANAGED_LABELS)
    labels["kubesec.io/rule"] = rule["id"]
    labels["kubesec.io/mode"] = mode
    if cluster:
        labels["kubesec.io/cluster"] = cluster
    return labels


def _policy(rule: dict[str, Any], setting: dict[str, Any], cluster: Optional[str]) -> tuple[dict[str, Any], list[str]]:
    rid = rule["id"]
    where = "rules.%s (%s)" % (rid, rule["name"])
    params = setting["params"]
    kind = rule["cel_target"]
    extra, violations = rule["cel"](params, where, setting)
    if kind == "pod":
        variables = pod_variables(setting, where, rule["cel_containers"]) + list(extra)
        resources = TARGETS["pod"]
    elif kind == "RBAC":
        variables = list(extra)
        resources = _rbac_resources(params)
    else:
        variables = list(extra)
        resources = TARGETS[kind]
    variables = [*variables, ("violations", violations)]
    title = rule["title"]
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": _resource_rules(resources)},
        "variables": [{"name": name, "expression": expression} for name, expression in variables],
        "validations": [
            {
                "expression": "size(variables.violations) == 0",
                "message": "%s %s: %s" % (rid, rule["name"], title),
                "messageExpression": "%s + variables.violations.join('; ')" % cel_string("%s %s: " % (rid, title)),
                "reason": "Forbidden",
            }
        ],
    }
    exact, condition = _namespace_split(setting["exclude_namespaces"], where + ".exclude_namespaces")
    spec["matchConditions"] = [{"name": "changed-on-update", "expression": _changed_condition(kind)}]
    if condition:
        spec["matchConditions"].insert(0, {"name": "exclude-namespaces", "expression": condition})
    return spec, exact


def _objects_for(rule: dict[str, Any], setting: dict[str, Any], cluster: Optional[str], mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    spec, exact = _policy(rule, setting, cluster)
    name = object_name(rule)
    annotations = {"kubesec.io/title": rule["title"], "kubesec.io/severity": rule["severity"], "kubesec.io/remediation": rule["remediation"]}
    if rule["id"] in PARTIAL or rule["id"] in NOTES:
        annotations["kubesec.io/coverage"] = PARTIAL.get(rule["id"]) or NOTES[rule["id"]]
    policy = {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": _labels(rule, cluster, mode), "annotations": annotations},
        "spec": spec,
    }
    binding_spec: dict[str, Any] = {"policyName": name, "validationActions": list(VALIDATION_ACTIONS[mode])}
    if exact:
        binding_spec["matchResources"] = {
            "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": sorted(exact)}]}
        }
    binding = {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": _labels(rule, cluster, mode)},
        "spec": binding_spec,
    }
    return policy, binding


def build(
    rules: Any = None, exclude_namespaces: Any = None, cluster: Optional[str] = None, audit_mode_policies: bool = False, include_system_namespaces: bool = False
) -> dict[str, Any]:
    """Policies and bindings for the given rule settings (same shape as workload_audit's ``rules``)."""
    try:
        settings = resolve_settings(rules, exclude_namespaces, include_system_namespaces)
    except RuleConfigError as exc:
        raise EnforcementError(str(exc)) from None
    result: dict[str, Any] = {"objects": [], "policies": [], "not_enforceable": [], "not_generated": [], "absent": [], "files": {}}
    for rule in RULES:
        rid = rule["id"]
        setting = settings[rid]
        mode = setting["mode"]
        entry = {"id": rid, "name": rule["name"], "mode": mode}
        generate = setting["enabled"] and (mode in ("deny", "warn") or (mode == "audit" and audit_mode_policies))
        if generate and setting["missing"] and rid not in NOT_ENFORCEABLE:
            missing = ", ".join("rules.%s.params.%s" % (rid, name) for name in setting["missing"])
            if mode in ("deny", "warn"):  # a policy without its parameters would refuse every object
                raise EnforcementError(
                    "rules.%s (%s) is in mode %s but not configured: %s is empty, so the policy "
                    "would refuse every %s; set it or put the rule in mode audit"
                    % (rid, rule["name"], mode, missing, "image" if rid == "KS-WL-002" else "object")
                )
            generate = False
        if rid in NOT_ENFORCEABLE:
            if setting["enabled"] and mode in ("deny", "warn"):
                result["not_enforceable"].append(dict(entry, reason=NOT_ENFORCEABLE[rid]))
            generate = False
        if not generate:
            reason = (
                "disabled"
                if not setting["enabled"]
                else (
                    "not enforceable"
                    if rid in NOT_ENFORCEABLE
                    else "not configured (%s is empty)" % ", ".join("params." + name for name in setting["missing"])
                    if setting["missing"]
                    else "mode audit (the workload_audit module reports it)"
                )
            )
            result["not_generated"].append(dict(entry, reason=reason))
            for kind in ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"):
                result["absent"].append({"apiVersion": API_VERSION, "kind": kind, "name": object_name(rule)})
            continue
        policy, binding = _objects_for(rule, setting, cluster, mode)
        name = file_name(rule)
        result["objects"].extend([policy, binding])
        result["files"][name] = [policy, binding]
        result["policies"].append(
            dict(
                entry,
                policy=policy["metadata"]["name"],
                file=name,
                validation_actions=binding["spec"]["validationActions"],
                excluded_namespaces=sorted(setting["exclude_namespaces"]),
                excluded_images=list(setting["exclude_images"]),
                coverage=PARTIAL.get(rid) or NOTES.get(rid),
            )
        )
    return result


# ---------------------------------------------------------------------------------------------------------
# Files

if HAS_YAML:

    class _Dumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
        """No aliases; multi-line strings (CEL expressions) as literal blocks."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    def _str_representer(dumper: Any, data: str) -> Any:
        if "\n" in data:
            return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return dumper.represent_scalar("tag:yaml.org,2002:str", data)

    _Dumper.add_representer(str, _str_representer)


def dump_documents(documents: list[Any], header: str) -> str:
    """Deterministic multi-document YAML (sorted keys) with a comment header; JSON documents without PyYAML."""
    lines = [("# " + line).rstrip() for line in header.splitlines()]
    parts = ["\n".join(lines) + "\n" if lines else ""]
    for document in documents:
        if HAS_YAML:
            body = yaml.dump(document, Dumper=_Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True, width=120)
        else:  # pragma: no cover
            body = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        parts.append("---\n" + body)
    return "".join(parts)


def render_files(result: dict[str, Any], cluster: Optional[str]) -> dict[str, str]:
    """{file name: text} for build()'s result."""
    out = {}
    for name, documents in sorted(result["files"].items()):
        policy = documents[0]
        header = (
            "Rendered by kubesec.cluster.workload_enforcement for cluster %s: rule %s (%s), mode %s.\n"
            "ValidatingAdmissionPolicy + binding (admissionregistration.k8s.io/v1, Kubernetes >= %s).\n"
            "Do not edit: change the rule settings in the inventory and render again."
            % (
                cluster or "-",
                policy["metadata"]["labels"]["kubesec.io/rule"],
                policy["metadata"]["annotations"]["kubesec.io/title"],
                policy["metadata"]["labels"]["kubesec.io/mode"],
                MIN_KUBERNETES,
            )
        )
        out[name] = dump_documents(documents, header)
    return out


def owned_file(name: str) -> bool:
    """True for file names this module writes (other files in the directory are left alone)."""
    return bool(FILE_RE.match(name))
