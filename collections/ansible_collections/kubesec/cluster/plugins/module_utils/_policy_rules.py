# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster policy rules: RBAC abuse (KS-RB-*), network exposure (KS-NET-*) and literal secrets in ConfigMaps (KS-CM-*).

Private module_utils (leading underscore): the API may change between minor releases.

The rules are data (``RULES``: id, name, severity, title, description, remediation, parameters with defaults,
references); the evaluation is plain functions over the objects as the API returns them (dicts). Used by
``_cis_policies.py`` (CIS section 5 asks several of the same questions: one evaluation, two ids) and by the module
``cluster_policy_audit``. ``docs/cluster-policies.md`` is the human-readable table.

Public functions:

``resolve_settings(rules=None, exclude_namespaces=None)``
    Effective settings per rule id (enabled, params, exclude_namespaces); ``PolicyConfigError`` names the rule and
    the setting that is wrong.
``RbacIndex(objects)``
    The Roles, ClusterRoles and bindings of the input; ``grants(wanted, ...)`` answers "which bindings give which
    subjects these verbs on these resources".
``evaluate(objects, settings)``
    ``{rule id: [result, ...]}``: one result per offending object (``resource``, ``message``, ``evidence``,
    ``status``), for every enabled rule; a rule with no result passed.

Secret values never leave this module: the ConfigMap rule names the key, never the value.
Standard library only (node side rules; runs on Python 3.8+).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._redact import redact_count
from ansible_collections.kubesec.cluster.plugins.module_utils._workload import iter_workloads
from ansible_collections.kubesec.cluster.plugins.module_utils._workload_rules import (
    DEFAULT_EXCLUDED_NAMESPACES,
    RuleConfigError,
    as_dict,
    as_list,
    compile_names,
    literal_secret_env,
    match_names,
    short,
)

RBAC_GROUP = "rbac.authorization.k8s.io"
# Groups that stand for "everyone" (or every service account): never exempt as system subjects.
BROAD_GROUPS = ("system:authenticated", "system:unauthenticated", "system:serviceaccounts")
ANONYMOUS = ("system:anonymous", "system:unauthenticated")
SETTING_KEYS = ("enabled", "params", "exclude_namespaces")
# Cluster-scoped resources (and impersonation of users/groups): a RoleBinding cannot grant them, whatever its role says.
CLUSTER_SCOPED = frozenset(
    [
        "nodes",
        "nodes/proxy",
        "persistentvolumes",
        "certificatesigningrequests",
        "certificatesigningrequests/approval",
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
        "namespaces",
        "users",
        "groups",
        "uids",
        "userextras/*",
    ]
)
MAX_LISTED = 50  # objects named in one piece of evidence; the total is given beside
CVE = "https://www.cve.org/CVERecord?id="
RBAC_GOOD_PRACTICES = "https://kubernetes.io/docs/concepts/security/rbac-good-practices/"


class PolicyConfigError(KubesecError, ValueError):
    """A rule setting given by the user is wrong (the message names rule and setting)."""


def _grant(groups: List[str], resources: List[str], verbs: List[str]) -> Dict[str, List[str]]:
    return {"api_groups": groups, "resources": resources, "verbs": verbs}


_COMMON_RBAC_PARAMS: Dict[str, Any] = {
    "allowed_subjects": [],  # user/group names or system:serviceaccount:<ns>:<name>, exact or '^' regex
    "ignore_roles": ["cluster-admin"],  # bindings to these ClusterRoles are judged by CIS 5.1.1 / KS-WL-021
}

RULES: Tuple[Dict[str, Any], ...] = (
    {
        "id": "KS-RB-001",
        "name": "rbac_escalate_bind_impersonate",
        "severity": "high",
        "kind": "rbac",
        "title": "No subject may escalate, bind or impersonate",
        "description": "No binding gives a non-system subject the escalate or bind verb on Roles/ClusterRoles, or "
        "impersonate on users, groups, service accounts or uids: each lets the holder act with "
        "permissions it was not granted.",
        "remediation": "Remove escalate, bind and impersonate from the role, or bind it only to the controllers that need them.",
        "grants": [
            _grant([RBAC_GROUP], ["roles", "clusterroles"], ["escalate", "bind"]),
            _grant([""], ["users", "groups", "serviceaccounts"], ["impersonate"]),
            _grant(["authentication.k8s.io"], ["uids", "userextras/*"], ["impersonate"]),
        ],
        "params": dict(_COMMON_RBAC_PARAMS),
        "references": [RBAC_GOOD_PRACTICES],
    },
    {
        "id": "KS-RB-002",
        "name": "rbac_pod_exec_attach",
        "severity": "high",
        "kind": "rbac",
        "title": "No subject may exec or attach into pods",
        "description": "No binding gives a non-system subject create on pods/exec or pods/attach: a shell in any "
        "pod of the scope, with that pod's service-account token and mounted secrets.",
        "remediation": "Remove create on pods/exec and pods/attach; use a break-glass role bound on demand.",
        "grants": [_grant([""], ["pods/exec", "pods/attach"], ["create"])],
        "params": dict(_COMMON_RBAC_PARAMS),
        "references": [RBAC_GOOD_PRACTICES],
    },
    {
        "id": "KS-RB-003",
        "name": "rbac_nodes_proxy",
        "severity": "high",
        "kind": "rbac",
        "title": "No subject may use the nodes/proxy sub-resource",
        "description": "No binding gives a non-system subject get or create on nodes/proxy: it reaches the kubelet "
        "API (exec in any pod of the node) past admission control and audit of the pod.",
        "remediation": "Remove nodes/proxy from the role (monitoring agents need nodes/metrics, not nodes/proxy).",
        "grants": [_grant([""], ["nodes/proxy"], ["get", "create"])],
        "params": dict(_COMMON_RBAC_PARAMS),
        "references": [RBAC_GOOD_PRACTICES],
    },
    {
        "id": "KS-RB-004",
        "name": "rbac_read_all_secrets",
        "severity": "high",
        "kind": "rbac",
        "title": "No subject may read all secrets",
        "description": "No binding gives a non-system subject get, list or watch on secrets without resourceNames "
        "(cluster-wide through a ClusterRoleBinding, or every secret of a namespace).",
        "remediation": "Grant get on the named secrets a workload needs (resourceNames), never list/watch on all.",
        "grants": [_grant([""], ["secrets"], ["get", "list", "watch"])],
        "params": dict(_COMMON_RBAC_PARAMS),
        "references": [RBAC_GOOD_PRACTICES],
    },
    {
        "id": "KS-RB-005",
        "name": "rbac_csr_approval",
        "severity": "high",
        "kind": "rbac",
        "title": "No subject may approve certificate signing requests",
        "description": "No binding gives a non-system subject update or patch on certificatesigningrequests/approval: "
        "with approve on a signer it issues client certificates for any user or group "
        "(system:masters included).",
        "remediation": "Leave CSR approval to the controller manager and a dedicated approver.",
        "grants": [_grant(["certificates.k8s.io"], ["certificatesigningrequests/approval"], ["update", "patch"])],
        "params": dict(_COMMON_RBAC_PARAMS),
        "references": [RBAC_GOOD_PRACTICES],
    },
    {
        "id": "KS-RB-006",
        "name": "rbac_webhook_configuration",
        "severity": "high",
        "kind": "rbac",
        "title": "No subject may change admission webhook configurations",
        "description": "No binding gives a non-system subject create, update, patch or delete on "
        "mutatingwebhookconfigurations or validatingwebhookconfigurations: it could switch policy "
        "off or read and change every object sent to the API.",
        "remediation": "Keep webhook configuration changes to the cluster administrators and the policy engine.",
        "grants": [
            _grant(
                ["admissionregistration.k8s.io"],
                ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
                ["create", "update", "patch", "delete", "deletecollection"],
            )
        ],
        "params": dict(_COMMON_RBAC_PARAMS),
        "references": [RBAC_GOOD_PRACTICES],
    },
    {
        "id": "KS-RB-007",
        "name": "rbac_endpoints_edit",
        "severity": "medium",
        "kind": "rbac",
        "title": "No subject may edit Endpoints or EndpointSlices (CVE-2021-25740)",
        "description": "No binding gives a non-system subject create, update or patch on endpoints or "
        "endpointslices: it can point a Service at any address, across namespace boundaries "
        "(CVE-2021-25740; Kubernetes 1.22 removed it from the default edit and admin roles).",
        "remediation": "Remove write access to endpoints and endpointslices from the role.",
        "grants": [_grant([""], ["endpoints"], ["create", "update", "patch"]), _grant(["discovery.k8s.io"], ["endpointslices"], ["create", "update", "patch"])],
        "params": dict(_COMMON_RBAC_PARAMS),
        "references": [CVE + "CVE-2021-25740"],
    },
    {
        "id": "KS-RB-008",
        "name": "rbac_anonymous_bindings",
        "severity": "critical",
        "kind": "anonymous",
        "title": "No role is bound to system:anonymous or system:unauthenticated",
        "description": "No (Cluster)RoleBinding names the user system:anonymous or the group system:unauthenticated, "
        "except the built-in read-only ones (allowed_roles).",
        "remediation": "Delete the binding, or bind the role to authenticated subjects only.",
        "params": {"allowed_roles": ["system:public-info-viewer"]},
        "references": [RBAC_GOOD_PRACTICES],
    },
    {
        "id": "KS-RB-009",
        "name": "default_service_account_used",
        "severity": "medium",
        "kind": "workload",
        "title": "Workloads do not use their namespace's default ServiceAccount",
        "description": "Every pod controller names its own ServiceAccount (serviceAccountName unset means default).",
        "remediation": "Create a ServiceAccount per application and set spec.serviceAccountName.",
        "params": {},
        "references": ["https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/"],
    },
    {
        "id": "KS-NET-001",
        "name": "service_external_ips",
        "severity": "high",
        "kind": "Service",
        "title": "Services set no externalIPs (CVE-2020-8554)",
        "description": "spec.externalIPs lets whoever creates a Service intercept traffic to any address in the "
        "cluster (CVE-2020-8554); only allowed addresses may appear.",
        "remediation": "Remove spec.externalIPs (use a LoadBalancer Service) and block the field with the DenyServiceExternalIPs admission plugin.",
        "params": {"allowed_ips": []},
        "references": [CVE + "CVE-2020-8554"],
    },
    {
        "id": "KS-NET-002",
        "name": "ingress_nginx_snippets",
        "severity": "high",
        "kind": "Ingress",
        "title": "Ingresses carry no ingress-nginx snippet annotations (CVE-2021-25742)",
        "description": "No nginx.ingress.kubernetes.io/*-snippet annotation: snippets inject raw NGINX "
        "configuration, which can read the controller's service-account token and every secret it "
        "can (CVE-2021-25742, and CVE-2025-1974's family).",
        "remediation": "Remove the snippet annotations and set allow-snippet-annotations: false in the controller's ConfigMap.",
        "params": {"annotation_pattern": r"^nginx\.ingress\.kubernetes\.io/[a-z0-9-]*snippet$"},
        "references": [CVE + "CVE-2021-25742"],
    },
    {
        "id": "KS-NET-003",
        "name": "ingress_wildcard_host",
        "severity": "medium",
        "kind": "Ingress",
        "title": "Ingresses use no wildcard hosts",
        "description": "No spec.rules[].host starts with '*' (it routes every name of the domain, including names "
        "another team owns); with include_catch_all also no rule without a host.",
        "remediation": "List each host name the application serves.",
        "params": {"include_catch_all": False},
        "references": ["https://kubernetes.io/docs/concepts/services-networking/ingress/#hostname-wildcards"],
    },
    {
        "id": "KS-CM-001",
        "name": "configmap_literal_secrets",
        "severity": "low",
        "kind": "ConfigMap",
        "title": "ConfigMaps hold no literal secrets",
        "description": "No ConfigMap data key named like a secret (PASSWORD, TOKEN, API_KEY...) holds a value, and "
        "no value contains a credential (password=..., a URL with a password, a private key, a "
        "token). The finding names the key, never the value.",
        "remediation": "Move the value into a Secret (better an external secret store) and reference it.",
        "params": {"exclude_names": ["kube-root-ca.crt"]},
        "references": ["https://kubernetes.io/docs/concepts/configuration/secret/"],
    },
)
RULES_BY_ID: Dict[str, Dict[str, Any]] = {rule["id"]: rule for rule in RULES}
RULES_BY_NAME: Dict[str, Dict[str, Any]] = {rule["name"]: rule for rule in RULES}


# ---------------------------------------------------------------------------------------------------------
# Settings


def _rule_for(key: Any) -> Dict[str, Any]:
    if isinstance(key, str):
        rule = RULES_BY_ID.get(key.strip().upper()) or RULES_BY_NAME.get(key.strip().lower())
        if rule is not None:
            return rule
    raise PolicyConfigError("policy_rules: unknown rule %r; known rules: %s" % (short(key, 80), ", ".join("%s (%s)" % (r["id"], r["name"]) for r in RULES)))


def _names(value: Any, where: str) -> List[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise PolicyConfigError("%s must be a list of non-empty strings, got %r" % (where, short(value, 80)))
    return list(value)


def _param(rule: Dict[str, Any], name: str, value: Any, where: str) -> Any:
    default = rule["params"][name]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise PolicyConfigError("%s.params.%s must be true or false, got %r" % (where, name, short(value, 80)))
        return value
    if isinstance(default, list):
        return _names(value, "%s.params.%s" % (where, name))
    if not isinstance(value, str) or not value:
        raise PolicyConfigError("%s.params.%s must be a non-empty string, got %r" % (where, name, short(value, 80)))
    try:
        re.compile(value)
    except re.error as exc:
        raise PolicyConfigError("%s.params.%s %r is not a valid regular expression: %s" % (where, name, value, exc)) from None
    return value


def resolve_settings(rules: Optional[Dict[str, Any]] = None, exclude_namespaces: Optional[List[str]] = None) -> Dict[str, Dict[str, Any]]:
    """Effective settings per rule id. `exclude_namespaces` None = kubesec's system namespaces; [] = none."""
    if rules is None:
        rules = {}
    if not isinstance(rules, dict):
        raise PolicyConfigError("policy_rules must be a mapping keyed by rule id (KS-RB-001) or short name, got %s" % type(rules).__name__)
    global_ns = list(DEFAULT_EXCLUDED_NAMESPACES) if exclude_namespaces is None else _names(exclude_namespaces, "exclude_namespaces")
    given: Dict[str, Tuple[Any, Dict[str, Any]]] = {}
    for key, value in rules.items():
        rule = _rule_for(key)
        if rule["id"] in given:
            raise PolicyConfigError("policy_rules: %r and %r both configure %s" % (given[rule["id"]][0], key, rule["id"]))
        if value is None:
            value = {}
        elif isinstance(value, bool):
            value = {"enabled": value}
        if not isinstance(value, dict):
            raise PolicyConfigError("policy_rules.%s must be a mapping with keys %s (or true/false), got %r" % (key, ", ".join(SETTING_KEYS), short(value, 80)))
        unknown = sorted(str(item) for item in value if item not in SETTING_KEYS)
        if unknown:
            raise PolicyConfigError("policy_rules.%s (%s): unknown setting(s) %s; expected %s" % (key, rule["id"], ", ".join(unknown), ", ".join(SETTING_KEYS)))
        given[rule["id"]] = (key, value)
    settings: Dict[str, Dict[str, Any]] = {}
    for rule in RULES:
        key, cfg = given.get(rule["id"], (rule["id"], {}))
        where = "policy_rules.%s (%s)" % (rule["id"], rule["name"])
        enabled = cfg.get("enabled", True)
        if not isinstance(enabled, bool):
            raise PolicyConfigError("%s.enabled must be true or false, got %r" % (where, short(enabled, 80)))
        user = cfg.get("params") or {}
        if not isinstance(user, dict):
            raise PolicyConfigError("%s.params must be a mapping, got %r" % (where, short(user, 80)))
        unknown = sorted(str(item) for item in user if item not in rule["params"])
        if unknown:
            raise PolicyConfigError(
                "%s.params: unknown parameter(s) %s; this rule takes %s" % (where, ", ".join(unknown), ", ".join(sorted(rule["params"])) or "none")
            )
        params = {name: _param(rule, name, user[name], where) if name in user else default for name, default in rule["params"].items()}
        namespaces = global_ns + [name for name in _names(cfg.get("exclude_namespaces"), where + ".exclude_namespaces") if name not in global_ns]
        try:
            compiled_ns = compile_names(namespaces, where + ".exclude_namespaces")
            subjects = compile_names(params.get("allowed_subjects", []), where + ".params.allowed_subjects")
        except RuleConfigError as exc:
            raise PolicyConfigError(str(exc)) from None
        settings[rule["id"]] = {"enabled": enabled, "params": params, "exclude_namespaces": namespaces, "_ns": compiled_ns, "_subjects": subjects}
    return settings


def base_setting(exclude_namespaces: Optional[List[str]] = None) -> Dict[str, Any]:
    """A setting-shaped dict for questions no rule owns (CIS 5.1.4, 5.1.9, 5.1.13): the same namespace exclusions,
    bindings to cluster-admin left to CIS 5.1.1."""
    namespaces = list(DEFAULT_EXCLUDED_NAMESPACES) if exclude_namespaces is None else _names(exclude_namespaces, "exclude_namespaces")
    try:
        compiled = compile_names(namespaces, "exclude_namespaces")
    except RuleConfigError as exc:
        raise PolicyConfigError(str(exc)) from None
    return {
        "enabled": True,
        "params": {"ignore_roles": ["cluster-admin"], "allowed_subjects": []},
        "exclude_namespaces": namespaces,
        "_ns": compiled,
        "_subjects": [],
    }


def excluded(setting: Dict[str, Any], namespace: Optional[str]) -> bool:
    return namespace is not None and match_names(namespace, setting["_ns"]) is not None


# ---------------------------------------------------------------------------------------------------------
# RBAC


def _group(api_version: Any) -> Optional[str]:
    if not isinstance(api_version, str):
        return None
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _meta(obj: Dict[str, Any]) -> Tuple[str, Optional[str]]:
    meta = as_dict(obj.get("metadata"))
    name, namespace = meta.get("name"), meta.get("namespace")
    return (str(name) if name is not None else "", namespace if isinstance(namespace, str) and namespace else None)


def _label(kind: Any, namespace: Optional[str], name: Any) -> str:
    return "%s %s/%s" % (kind, namespace, name) if namespace else "%s %s" % (kind, name)


def _resource_matches(granted: str, wanted: str) -> bool:
    """RBAC resource matching: '*' all, 'pods/*' every sub-resource of pods, '*/scale' that sub-resource of all."""
    if granted in ("*", wanted):
        return True
    base, _slash, sub = wanted.partition("/")
    if sub:
        return granted in (base + "/*", "*/" + sub)
    return False


def rule_grants(rule: Dict[str, Any], wanted: Dict[str, List[str]], namespaced: bool = False) -> List[str]:
    """'verb resource' pairs of `wanted` that one PolicyRule grants (resourceNames narrows it: not counted);
    `namespaced`: granted through a RoleBinding, which cannot reach cluster-scoped resources."""
    if as_list(rule.get("resourceNames")):
        return []
    groups = [str(item) for item in as_list(rule.get("apiGroups"))]
    if "*" not in groups and not any(group in groups for group in wanted["api_groups"]):
        return []
    verbs = [str(item) for item in as_list(rule.get("verbs"))]
    resources = [str(item) for item in as_list(rule.get("resources"))]
    out = []
    for resource in wanted["resources"]:
        if namespaced and resource in CLUSTER_SCOPED:
            continue
        if not any(_resource_matches(granted, resource) for granted in resources):
            continue
        for verb in wanted["verbs"]:
            if "*" in verbs or verb in verbs:
                out.append("%s %s" % (verb, resource))
    return out


class RbacIndex:
    """Roles, ClusterRoles and bindings of the input, for grant questions."""

    def __init__(self, objects: Iterable[Dict[str, Any]]) -> None:
        self.roles: Dict[Tuple[str, Optional[str], str], Dict[str, Any]] = {}
        self.bindings: List[Dict[str, Any]] = []
        for obj in objects:
            if not isinstance(obj, dict) or _group(obj.get("apiVersion")) not in (None, RBAC_GROUP):
                continue
            kind = obj.get("kind")
            name, namespace = _meta(obj)
            if kind == "ClusterRole":
                self.roles[("ClusterRole", None, name)] = obj
            elif kind == "Role":
                self.roles[("Role", namespace, name)] = obj
            elif kind in ("RoleBinding", "ClusterRoleBinding"):
                self.bindings.append(obj)

    def role_of(self, binding: Dict[str, Any]) -> Tuple[str, str, Optional[Dict[str, Any]]]:
        """(roleRef kind, name, the role object or None when it is not in the input)."""
        ref = as_dict(binding.get("roleRef"))
        kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        _bname, namespace = _meta(binding)
        key = ("ClusterRole", None, name) if kind == "ClusterRole" else ("Role", namespace, name)
        return kind, name, self.roles.get(key)

    @staticmethod
    def subjects(binding: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Subjects of a binding: kind, name, namespace, identity (what the API server authorizes)."""
        _name, binding_ns = _meta(binding)
        out = []
        for subject in as_list(binding.get("subjects")):
            subject = as_dict(subject)
            kind, name = str(subject.get("kind") or ""), str(subject.get("name") or "")
            namespace = subject.get("namespace") or binding_ns
            identity = "system:serviceaccount:%s:%s" % (namespace, name) if kind == "ServiceAccount" else name
            out.append({"kind": kind, "name": name, "namespace": namespace if kind == "ServiceAccount" else None, "identity": identity})
        return out

    def grants(self, wanted: List[Dict[str, List[str]]], setting: Dict[str, Any]) -> List[Dict[str, Any]]:
        """One entry per binding that gives a non-exempt subject any of `wanted`: binding, role, subjects,
        granted ('verb resource' with the role's rule index), broad (a group standing for everyone is among them)."""
        ignore = set(setting["params"].get("ignore_roles") or ())
        out = []
        for binding in self.bindings:
            name, namespace = _meta(binding)
            if binding.get("kind") == "RoleBinding" and excluded(setting, namespace):
                continue
            role_kind, role_name, role = self.role_of(binding)
            if role is None or (role_kind == "ClusterRole" and role_name in ignore):
                continue
            granted = []
            for index, rule in enumerate(as_list(role.get("rules"))):
                for want in wanted:
                    for pair in rule_grants(as_dict(rule), want, binding.get("kind") == "RoleBinding"):
                        text = "%s (rules[%d])" % (pair, index)
                        if text not in granted:
                            granted.append(text)
            if not granted:
                continue
            holders = [s for s in self.subjects(binding) if not subject_exempt(s, setting)]
            if not holders:
                continue
            out.append(
                {
                    "binding": {"kind": binding.get("kind"), "name": name, "namespace": namespace},
                    "role": {"kind": role_kind, "name": role_name},
                    "scope": namespace if binding.get("kind") == "RoleBinding" else "cluster",
                    "subjects": ["%s %s" % (s["kind"], s["identity"]) for s in holders],
                    "broad": any(
                        (s["kind"] == "Group" and s["name"] in BROAD_GROUPS) or (s["kind"] == "User" and s["name"] == "system:anonymous") for s in holders
                    ),
                    "granted": granted[:MAX_LISTED],
                }
            )
        return out


def subject_exempt(subject: Dict[str, Any], setting: Dict[str, Any]) -> bool:
    """System components (system:* users and groups, service accounts of excluded namespaces) and allowed
    subjects are exempt; groups standing for everyone never are."""
    kind, name = subject["kind"], subject["name"]
    if kind in ("Group", "User") and (name in BROAD_GROUPS or name == "system:anonymous" or name.startswith("system:serviceaccounts:")):
        return match_names(subject["identity"], setting["_subjects"]) is not None
    if kind == "ServiceAccount":
        if excluded(setting, subject["namespace"]):
            return True
    elif name.startswith("system:"):
        return True
    return match_names(subject["identity"], setting["_subjects"]) is not None


# ---------------------------------------------------------------------------------------------------------
# Evaluation


def _result(resource: Dict[str, Any], message: str, evidence: Dict[str, Any], status: str = "fail") -> Dict[str, Any]:
    return {"resource": resource, "message": message, "evidence": evidence, "status": status}


def _rbac_results(rule: Dict[str, Any], setting: Dict[str, Any], index: RbacIndex) -> List[Dict[str, Any]]:
    out = []
    for entry in index.grants(rule["grants"], setting):
        binding = entry["binding"]
        message = "%s gives %s %s through %s %s" % (
            _label(binding["kind"], binding["namespace"], binding["name"]),
            ", ".join(entry["subjects"]),
            "; ".join(entry["granted"][:5]),
            entry["role"]["kind"],
            entry["role"]["name"],
        )
        out.append(
            _result(
                binding,
                message,
                {"role": entry["role"], "subjects": entry["subjects"], "granted": entry["granted"], "scope": entry["scope"], "broad": entry["broad"]},
            )
        )
    return out


def _anonymous_results(setting: Dict[str, Any], index: RbacIndex) -> List[Dict[str, Any]]:
    allowed = set(setting["params"]["allowed_roles"])
    out = []
    for binding in index.bindings:
        name, namespace = _meta(binding)
        if binding.get("kind") == "RoleBinding" and excluded(setting, namespace):
            continue
        role_kind, role_name, _role = index.role_of(binding)
        if role_name in allowed:
            continue
        anonymous = ["%s %s" % (s["kind"], s["name"]) for s in index.subjects(binding) if s["kind"] in ("User", "Group") and s["name"] in ANONYMOUS]
        if anonymous:
            resource = {"kind": binding.get("kind"), "name": name, "namespace": namespace}
            out.append(
                _result(
                    resource,
                    "%s binds %s %s to %s" % (_label(str(binding.get("kind")), namespace, name), role_kind, role_name, ", ".join(anonymous)),
                    {"role": {"kind": role_kind, "name": role_name}, "subjects": anonymous},
                )
            )
    return out


def default_service_account_users(objects: List[Dict[str, Any]], setting: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Pod controllers (not owned by another of the input) that run as their namespace's default ServiceAccount."""
    out = []
    for workload in iter_workloads(objects):
        if workload["owned_by"] or excluded(setting, workload["namespace"]):
            continue
        spec = workload["pod"]["spec"]
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or None
        if account in (None, "default"):
            resource = {"kind": workload["kind"], "name": workload["name"], "namespace": workload["namespace"]}
            out.append(
                _result(
                    resource,
                    "%s runs as the default ServiceAccount (%s)"
                    % (
                        _label(workload["kind"], workload["namespace"], str(workload["name"])),
                        "serviceAccountName unset" if account is None else "serviceAccountName: default",
                    ),
                    {"field": workload["pod"]["path"] + ".serviceAccountName", "value": account, "expected": "a dedicated ServiceAccount"},
                )
            )
    return out


def _of_kind(objects: List[Dict[str, Any]], kind: str, groups: Tuple[str, ...]) -> Iterable[Dict[str, Any]]:
    for obj in objects:
        if isinstance(obj, dict) and obj.get("kind") == kind and _group(obj.get("apiVersion")) in (None, *groups):
            yield obj


def _service_results(setting: Dict[str, Any], objects: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    allowed = set(setting["params"]["allowed_ips"])
    out = []
    for svc in _of_kind(objects, "Service", ("",)):
        name, namespace = _meta(svc)
        if excluded(setting, namespace):
            continue
        ips = [str(ip) for ip in as_list(as_dict(svc.get("spec")).get("externalIPs")) if str(ip) not in allowed]
        if ips:
            out.append(
                _result(
                    {"kind": "Service", "name": name, "namespace": namespace},
                    "%s sets spec.externalIPs %s" % (_label("Service", namespace, name), ", ".join(ips[:10])),
                    {"field": "spec.externalIPs", "value": ips[:MAX_LISTED], "expected": "none"},
                )
            )
    return out


def _ingresses(setting: Dict[str, Any], objects: List[Dict[str, Any]]) -> Iterable[Tuple[Dict[str, Any], str, Optional[str]]]:
    for ing in _of_kind(objects, "Ingress", ("networking.k8s.io", "extensions")):
        name, namespace = _meta(ing)
        if not excluded(setting, namespace):
            yield ing, name, namespace


def _snippet_results(setting: Dict[str, Any], objects: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    pattern = re.compile(setting["params"]["annotation_pattern"])
    out = []
    for ing, name, namespace in _ingresses(setting, objects):
        keys = sorted(str(key) for key in as_dict(as_dict(ing.get("metadata")).get("annotations")) if pattern.search(str(key)))
        if keys:
            out.append(
                _result(
                    {"kind": "Ingress", "name": name, "namespace": namespace},
                    "%s carries snippet annotation(s) %s" % (_label("Ingress", namespace, name), ", ".join(keys)),
                    {"field": "metadata.annotations", "annotations": keys, "expected": "no *-snippet annotation"},
                )
            )
    return out


def _wildcard_results(setting: Dict[str, Any], objects: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    out = []
    for ing, name, namespace in _ingresses(setting, objects):
        found: List[Dict[str, Any]] = []
        for index, rule in enumerate(as_list(as_dict(ing.get("spec")).get("rules"))):
            host = as_dict(rule).get("host")
            if isinstance(host, str) and host.startswith("*"):
                found.append({"field": "spec.rules[%d].host" % index, "value": host})
            elif not host and setting["params"]["include_catch_all"]:
                found.append({"field": "spec.rules[%d].host" % index, "value": None})
        if found:
            hosts = ", ".join(str(item["value"]) if item["value"] else "(any host)" for item in found)
            out.append(
                _result(
                    {"kind": "Ingress", "name": name, "namespace": namespace},
                    "%s routes wildcard host(s) %s" % (_label("Ingress", namespace, name), hosts),
                    {"field": found[0]["field"], "hosts": found, "expected": "explicit host names"},
                )
            )
    return out


def configmap_secret_keys(data: Any) -> List[Dict[str, str]]:
    """[{key, why}] of ConfigMap data entries that hold a secret literally. Never returns a value."""
    out = []
    for key, value in sorted(as_dict(data).items(), key=lambda item: str(item[0])):
        if not isinstance(value, str):
            continue
        why = literal_secret_env({"name": str(key), "value": value})
        if why == "name":
            out.append({"key": str(key), "why": "the key is named like a secret and holds a value"})
        elif why == "url" or redact_count(value)[1]:
            out.append({"key": str(key), "why": "the value contains a credential"})
    return out


def _configmap_results(setting: Dict[str, Any], objects: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    skip = set(setting["params"]["exclude_names"])
    out = []
    for cm in _of_kind(objects, "ConfigMap", ("",)):
        name, namespace = _meta(cm)
        if name in skip or excluded(setting, namespace):
            continue
        keys = configmap_secret_keys(cm.get("data"))
        if keys:
            out.append(
                _result(
                    {"kind": "ConfigMap", "name": name, "namespace": namespace},
                    "%s holds secret(s) literally under key(s) %s" % (_label("ConfigMap", namespace, name), ", ".join(item["key"] for item in keys[:10])),
                    {"field": "data", "keys": keys[:MAX_LISTED], "values": "redacted", "expected": "secrets in Secrets"},
                )
            )
    return out


def evaluate(objects: List[Dict[str, Any]], settings: Dict[str, Dict[str, Any]], index: Optional[RbacIndex] = None) -> Dict[str, List[Dict[str, Any]]]:
    """{rule id: [results]} for every enabled rule (an empty list: the rule passed)."""
    if index is None:
        index = RbacIndex(objects)
    out: Dict[str, List[Dict[str, Any]]] = {}
    for rule in RULES:
        setting = settings[rule["id"]]
        if not setting["enabled"]:
            continue
        if rule["kind"] == "rbac":
            out[rule["id"]] = _rbac_results(rule, setting, index)
        elif rule["kind"] == "anonymous":
            out[rule["id"]] = _anonymous_results(setting, index)
        elif rule["kind"] == "workload":
            out[rule["id"]] = default_service_account_users(objects, setting)
        elif rule["id"] == "KS-NET-001":
            out[rule["id"]] = _service_results(setting, objects)
        elif rule["id"] == "KS-NET-002":
            out[rule["id"]] = _snippet_results(setting, objects)
        elif rule["id"] == "KS-NET-003":
            out[rule["id"]] = _wildcard_results(setting, objects)
        else:
            out[rule["id"]] = _configmap_results(setting, objects)
    return out
