# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workload rules over other objects than pod specs: Services (KS-WL-005), Ingresses (011), the cluster version
(017), NetworkPolicies per namespace (018) and RBAC (021).

Private module_utils (leading underscore): the API may change between minor releases.

Each rule is one ``rule()`` entry at the end of the file. 005 and 011 judge one object (``object_check``); 017, 018
and 021 look at several objects (``audit(collector, rule, setting, context)``, context = {"items", "workloads",
"kubernetes_version", "today", "cluster", "warnings"}). Standard library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible_collections.kubesec.cluster.plugins.module_utils import _k8s_releases as releases
from ansible_collections.kubesec.cluster.plugins.module_utils import _wl_cel as cel
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_cel import cel_list, cel_string
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import (
    RuleConfigError,
    api_group,
    as_dict,
    as_int,
    as_list,
    host_matches_tls,
    match_names,
    meta_of,
    ns_excluded,
    param,
    parse_port_list,
    port_allowed,
    short,
    violation,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_rule import rule

if TYPE_CHECKING:
    from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import Params, Rule, Setting, Variables, Violation

RBAC_GROUP = "rbac.authorization.k8s.io"

# The roles the API server creates itself (plugin/pkg/auth/authorizer/rbac/bootstrappolicy: cluster-roles,
# controller-roles and namespace-roles, plus the controllers added up to 1.35). KS-WL-021 exempts a role only when
# its name is one of these *and* it carries BOOTSTRAP_LABEL: anyone may name a role "system:x".
BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")
BOOTSTRAP_CLUSTER_ROLES = frozenset(
    [
        "system:" + name
        for name in (
            "aggregate-to-admin",
            "aggregate-to-edit",
            "aggregate-to-view",
            "auth-delegator",
            "basic-user",
            "certificates.k8s.io:certificatesigningrequests:nodeclient",
            "certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            "certificates.k8s.io:kube-apiserver-client-approver",
            "certificates.k8s.io:kube-apiserver-client-kubelet-approver",
            "certificates.k8s.io:kubelet-serving-approver",
            "certificates.k8s.io:legacy-unknown-approver",
            "discovery",
            "heapster",
            "kube-aggregator",
            "kube-controller-manager",
            "kube-dns",
            "kube-scheduler",
            "kubelet-api-admin",
            "monitoring",
            "node",
            "node-bootstrapper",
            "node-problem-detector",
            "node-proxier",
            "persistent-volume-provisioner",
            "public-info-viewer",
            "service-account-issuer-discovery",
            "volume-scheduler",
        )
    ]
    + [
        "system:controller:" + name
        for name in (
            "attachdetach-controller",
            "certificate-controller",
            "clusterrole-aggregation-controller",
            "cronjob-controller",
            "daemon-set-controller",
            "deployment-controller",
            "disruption-controller",
            "endpoint-controller",
            "endpointslice-controller",
            "endpointslicemirroring-controller",
            "ephemeral-volume-controller",
            "expand-controller",
            "generic-garbage-collector",
            "horizontal-pod-autoscaler",
            "job-controller",
            "legacy-service-account-token-cleaner",
            "namespace-controller",
            "node-controller",
            "persistent-volume-binder",
            "pod-garbage-collector",
            "pv-protection-controller",
            "pvc-protection-controller",
            "replicaset-controller",
            "replication-controller",
            "resourcequota-controller",
            "root-ca-cert-publisher",
            "route-controller",
            "service-account-controller",
            "service-controller",
            "statefulset-controller",
            "ttl-after-finished-controller",
            "ttl-controller",
            "validatingadmissionpolicy-status-controller",
        )
    ]
)
BOOTSTRAP_ROLES = {  # namespace -> Role names
    "kube-system": frozenset(
        [
            "extension-apiserver-authentication-reader",
            "system::leader-locking-kube-controller-manager",
            "system::leader-locking-kube-scheduler",
            "system:controller:bootstrap-signer",
            "system:controller:cloud-provider",
            "system:controller:token-cleaner",
        ]
    ),
    "kube-public": frozenset(["system:controller:bootstrap-signer"]),
}


def is_bootstrap_role(kind: Any, name: Any, namespace: Any, labels: Any) -> bool:
    """A role the API server created (exact bootstrap name and the rbac-defaults label), not one named like it."""
    if as_dict(labels).get(BOOTSTRAP_LABEL[0]) != BOOTSTRAP_LABEL[1]:
        return False
    if kind == "ClusterRole":
        return name in BOOTSTRAP_CLUSTER_ROLES
    return kind == "Role" and name in BOOTSTRAP_ROLES.get(namespace, ())


# ---------------------------------------------------------------------------------------------------------
# Checks


def check_service(obj: dict[str, Any], p: Params) -> list[Violation]:
    spec = as_dict(obj.get("spec"))
    kind = spec.get("type") or "ClusterIP"
    out = []
    if kind == "NodePort" and not p["allow_node_port"]:
        out.append(violation("spec.type", kind, "the Service is of type NodePort (opens a port on every node)", "ClusterIP or LoadBalancer"))
    if kind not in p["service_types"]:
        return out
    for index, port in enumerate(as_list(spec.get("ports"))):
        number = as_int(as_dict(port).get("port"))
        if number is None or not port_allowed(number, p["allowed_ports"]):
            out.append(
                violation(
                    "spec.ports[%d].port" % index,
                    as_dict(port).get("port"),
                    "Service port %s is not allowed" % (number if number is not None else "?"),
                    "one of: %s" % ", ".join(str(item) for item in p["_raw_allowed_ports"]),
                )
            )
    return out


def check_ingress(obj: dict[str, Any], p: Params) -> list[Violation]:
    spec = as_dict(obj.get("spec"))
    annotations = as_dict(as_dict(obj.get("metadata")).get("annotations"))
    out = []
    tls = [as_dict(entry) for entry in as_list(spec.get("tls"))]
    tls_hosts = [host for entry in tls for host in as_list(entry.get("hosts")) if isinstance(host, str)]
    # Ingress API: an entry without hosts "defaults to the wildcard host setting for the loadbalancer controller",
    # i.e. the controller's default certificate serves every host of the Ingress.
    default_cert = any(isinstance(entry, dict) and not as_list(entry.get("hosts")) for entry in as_list(spec.get("tls")))
    hosts: list[tuple[Any, Any]] = []
    for index, ingress_rule in enumerate(as_list(spec.get("rules"))):
        host = as_dict(ingress_rule).get("host")
        hosts.append((index, host if isinstance(host, str) and host else None))
    if not hosts and spec.get("defaultBackend", spec.get("backend")) is not None:
        hosts.append((None, None))
    if not tls:
        out.append(violation("spec.tls", None, "the Ingress has no TLS section: it serves plain HTTP", "spec.tls for every host"))
    else:
        for index, host in hosts:
            if host is None or default_cert:
                continue  # a catch-all rule is served with the TLS entries' (or the default) certificate
            if not any(host_matches_tls(host, tls_host) for tls_host in tls_hosts):
                out.append(
                    violation("spec.rules[%d].host" % index, host, "host %s is not covered by spec.tls" % short(host, 120), "listed in spec.tls[].hosts")
                )
    redirect = p["ssl_redirect_annotations"]
    good = False
    for key, wanted in sorted(redirect.items()):
        if key in annotations:
            actual = annotations.get(key)
            actual_text = ("true" if actual else "false") if isinstance(actual, bool) else str(actual)
            if actual_text.strip().lower() == wanted.lower():
                good = True
            else:
                out.append(violation("metadata.annotations['%s']" % key, actual, "annotation %s turns HTTPS-only off" % key, wanted))
    if p["require_ssl_redirect"] and not good:
        out.append(
            violation(
                "metadata.annotations",
                None,
                "no HTTPS redirect annotation is set",
                "one of: %s" % ", ".join("%s=%s" % item for item in sorted(redirect.items())),
            )
        )
    return out


def _selects_all(policy_spec: dict[str, Any]) -> bool:
    selector = as_dict(policy_spec.get("podSelector"))
    return not as_dict(selector.get("matchLabels")) and not as_list(selector.get("matchExpressions"))


def _policy_types(spec: dict[str, Any]) -> list[str]:
    types = spec.get("policyTypes")
    if isinstance(types, list) and types:
        return [str(item) for item in types]
    out = ["Ingress"]
    if spec.get("egress") is not None:
        out.append("Egress")
    return out


def audit_network_policies(collector: Any, rule: Rule, setting: Setting, context: dict[str, Any]) -> None:
    """KS-WL-018 over the Namespaces, NetworkPolicies and audited workloads of the input."""
    items, workloads = context["items"], context["workloads"]
    params = setting["_compiled"]
    namespaces: list[str] = []
    policies: dict[Any, list[tuple[Any, dict[str, Any]]]] = {}
    origins: dict[str, Any] = {}
    for obj, origin in items:
        kind = obj.get("kind")
        name, namespace = meta_of(obj)
        if kind == "Namespace" and api_group(obj.get("apiVersion")) in (None, "") and name:
            if name not in namespaces:
                namespaces.append(name)
            origins[name] = origin
        elif kind == "NetworkPolicy" and api_group(obj.get("apiVersion")) in (None, "networking.k8s.io", "extensions"):
            policies.setdefault(namespace, []).append((name, as_dict(obj.get("spec"))))
    for workload in workloads:
        if workload["namespace"] and workload["namespace"] not in namespaces:
            namespaces.append(workload["namespace"])
    for namespace in namespaces:
        if ns_excluded(setting, namespace):
            continue
        resource = {"kind": "Namespace", "name": namespace, "namespace": namespace}
        found = []
        listed = policies.get(namespace, [])
        if not listed:
            found.append(
                violation(
                    "NetworkPolicy", None, "the namespace has no NetworkPolicy: every pod accepts traffic from everywhere", "a default-deny NetworkPolicy"
                )
            )
        else:
            deny = {"Ingress": False, "Egress": False}
            for name, spec in listed:
                if not _selects_all(spec):
                    continue
                types = _policy_types(spec)
                for direction, key in (("Ingress", "ingress"), ("Egress", "egress")):
                    if direction in types and not as_list(spec.get(key)):
                        deny[direction] = True
                if "Ingress" in types:
                    for index, entry in enumerate(as_list(spec.get("ingress"))):
                        entry = as_dict(entry)
                        if not as_list(entry.get("from")) and not as_list(entry.get("ports")):
                            found.append(
                                violation(
                                    "NetworkPolicy/%s.spec.ingress[%d]" % (name, index),
                                    entry,
                                    "NetworkPolicy %s allows all ingress to every pod" % name,
                                    "no allow-all rule",
                                )
                            )
            if params["require_default_deny_ingress"] and not deny["Ingress"]:
                found.append(
                    violation(
                        "NetworkPolicy",
                        sorted(str(name) for name, _spec in listed),
                        "no NetworkPolicy denies ingress by default",
                        "podSelector: {} with policyTypes [Ingress] and no ingress rules",
                    )
                )
            if params["require_default_deny_egress"] and not deny["Egress"]:
                found.append(
                    violation(
                        "NetworkPolicy",
                        sorted(str(name) for name, _spec in listed),
                        "no NetworkPolicy denies egress by default",
                        "podSelector: {} with policyTypes [Egress] and no egress rules",
                    )
                )
        extra = {"network_policies": sorted(str(name) for name, _spec in listed)}
        if found:
            collector.violation(rule, resource, found, origins.get(namespace), extra=extra)
        else:
            collector.passed(rule, resource, origins.get(namespace), extra)


def audit_rbac(collector: Any, rule: Rule, setting: Setting, context: dict[str, Any]) -> None:
    """KS-WL-021 over the (Cluster)Roles and (Cluster)RoleBindings of the input."""
    items = context["items"]
    params = setting["_compiled"]
    roles, bindings = [], []
    for obj, origin in items:
        if api_group(obj.get("apiVersion")) not in (None, RBAC_GROUP):
            continue
        kind = obj.get("kind")
        if kind in ("Role", "ClusterRole"):
            roles.append((obj, origin))
        elif kind in ("RoleBinding", "ClusterRoleBinding"):
            bindings.append((obj, origin))

    def subjects_of(binding: dict[str, Any]) -> list[tuple[str, bool]]:
        """[(identity, is_system_or_allowed)] of a binding's subjects."""
        _name, binding_ns = meta_of(binding)
        out = []
        for subject in as_list(binding.get("subjects")):
            subject = as_dict(subject)
            kind, name = subject.get("kind"), subject.get("name")
            name = name if isinstance(name, str) else str(name)
            if kind == "ServiceAccount":
                namespace = subject.get("namespace") or binding_ns
                identity = "system:serviceaccount:%s:%s" % (namespace, name)
                system = isinstance(namespace, str) and ns_excluded(setting, namespace)
            else:
                identity = name
                system = name.startswith("system:")
            exempt = (params["ignore_system_subjects"] and system) or match_names(identity, params["allowed_subjects"]) is not None
            out.append(("%s %s" % (kind, identity), exempt))
        return out

    def skipped(obj: dict[str, Any]) -> bool:
        _name, namespace = meta_of(obj)
        return obj.get("kind") in ("Role", "RoleBinding") and ns_excluded(setting, namespace)

    admin_roles = set(params["admin_roles"])
    # (roleRef kind, roleRef name) -> [(binding namespace, its non-exempt subjects)]: one pass over the bindings,
    # so that a cluster with thousands of roles and bindings is not judged in roles x bindings steps
    by_role: dict[tuple[str, Any], list[tuple[Any, list[str]]]] = {}
    for binding, origin in bindings:
        if skipped(binding):
            continue
        name, namespace = meta_of(binding)
        resource = {"kind": binding.get("kind"), "name": name, "namespace": namespace}
        ref = as_dict(binding.get("roleRef"))
        ref_kind, ref_name = ref.get("kind"), ref.get("name")
        risky = [identity for identity, exempt in subjects_of(binding) if not exempt]
        if isinstance(ref_kind, str) and (ref_name is None or isinstance(ref_name, str)):  # else it names no role
            by_role.setdefault((ref_kind, ref_name), []).append((namespace, risky))
        if ref_kind == "ClusterRole" and isinstance(ref_name, str) and ref_name in admin_roles and risky:
            collector.violation(
                rule,
                resource,
                [
                    violation(
                        "roleRef.name",
                        ref.get("name"),
                        "grants ClusterRole %s to %s" % (ref.get("name"), ", ".join(risky)),
                        "no admin role for non-system subjects",
                    )
                ],
                origin,
                extra={"subjects": risky},
            )
        else:
            collector.passed(rule, resource, origin)

    for role, origin in roles:
        if skipped(role):
            continue
        name, namespace = meta_of(role)
        kind = role.get("kind")
        if kind == "ClusterRole" and name in admin_roles and params["require_binding"]:
            continue  # judged through its bindings above
        if params["ignore_system_subjects"] and is_bootstrap_role(kind, name, namespace, as_dict(role.get("metadata")).get("labels")):
            continue
        resource = {"kind": kind, "name": name, "namespace": namespace}
        wild = []
        for index, entry in enumerate(as_list(role.get("rules"))):
            entry = as_dict(entry)
            for key in ("verbs", "resources"):
                if "*" in as_list(entry.get(key)):
                    wild.append(violation("rules[%d].%s" % (index, key), entry.get(key), "rule %d allows '*' %s" % (index, key), "explicit %s" % key))
        if not wild:
            collector.passed(rule, resource, origin)
            continue
        risky = []
        for binding_namespace, subjects in by_role.get((kind, name), ()):
            if kind == "Role" and binding_namespace != namespace:
                continue
            risky.extend(subjects)
        if risky or not params["require_binding"]:
            if risky:
                wild[0] = dict(wild[0], message=wild[0]["message"] + ", bound to " + ", ".join(sorted(set(risky))))
            collector.violation(rule, resource, wild, origin, extra={"subjects": sorted(set(risky))})
        else:
            collector.passed(rule, resource, origin, {"wildcards": len(wild), "bound_to_non_system": False})


def audit_version(collector: Any, rule: Rule, setting: Setting, context: dict[str, Any]) -> None:
    """KS-WL-017: the cluster's Kubernetes version against the upstream support window."""
    kubernetes_version, today, cluster = context["kubernetes_version"], context["today"], context["cluster"]
    warnings = context["warnings"]
    if kubernetes_version is None:
        return
    params = setting["_compiled"]
    try:
        status = releases.support_status(kubernetes_version, today, params["warn_days_before_eol"])
    except ValueError as exc:
        raise RuleConfigError("kubernetes_version: %s" % exc) from None
    table_age = (today - releases.parse_date(releases.TABLE_DATE)).days
    if table_age > 183:
        warnings.append(
            "the Kubernetes release table (module_utils/_k8s_releases.py) was last checked on %s, "
            "%d days before %s: update it" % (releases.TABLE_DATE, table_age, today.isoformat())
        )
    resource = {"kind": "Cluster", "name": cluster, "namespace": None}
    evidence = {
        "kubernetes_version": kubernetes_version,
        "minor": status["minor"],
        "today": today.isoformat(),
        "release_date": status["release_date"],
        "end_of_life": status["end_of_life"],
        "eol_kind": status["eol_kind"],
        "days_left": status["days_left"],
        "table_date": releases.TABLE_DATE,
        "supported_minors": releases.supported_minors(today),
    }
    state = status["state"]
    label = "Kubernetes %s" % status["minor"]
    if state == "supported":
        collector.passed(rule, resource, None, evidence)
    elif state == "ending":
        message = "%s reaches its upstream end of life on %s (%s days)" % (label, status["end_of_life"], status["days_left"])
        collector.violation(
            rule,
            resource,
            [violation("kubernetes_version", kubernetes_version, message, "a minor with more than %d days of support" % params["warn_days_before_eol"])],
            None,
            extra=evidence,
            status="warn",
        )
    elif state in ("end_of_life", "unknown_older"):
        if state == "end_of_life":
            message = "%s reached its upstream end of life on %s" % (label, status["end_of_life"])
        else:
            message = "%s is older than every release in the table (oldest %s): out of support" % (label, releases.oldest_minor())
        collector.violation(
            rule,
            resource,
            [violation("kubernetes_version", kubernetes_version, message, "one of: %s" % ", ".join(evidence["supported_minors"]))],
            None,
            extra=evidence,
        )
    elif state == "unreleased":
        collector.info(rule, resource, "%s is not released yet on %s (release date %s)." % (label, today.isoformat(), status["release_date"]), evidence)
    else:
        collector.info(
            rule,
            resource,
            "%s is newer than the release table (newest %s, table checked %s): update "
            "module_utils/_k8s_releases.py." % (label, releases.newest_minor(), releases.TABLE_DATE),
            evidence,
        )


# ---------------------------------------------------------------------------------------------------------
# Admission policy CEL: (extra variables, CEL list<string> of violations)


def cel_service_ports(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    extra = [
        ("spec", cel.get_or("object", "spec", "{}", "map")),
        ("serviceType", "has(variables.spec.type) && variables.spec.type != null && variables.spec.type != '' ? variables.spec.type : 'ClusterIP'"),
    ]
    ranges = " || ".join("(%d <= n && n <= %d)" % (low, high) for low, high in parse_port_list(p["allowed_ports"], where + ".params.allowed_ports"))
    port = "type(pt) == map && has(pt.port) && %s" % cel.is_int("pt.port")
    listed = "(variables.serviceType in %s\n  ? %s.filter(pt, !(%s && %s))\n    .map(pt, 'port ' + (%s ? string(%s) : '?') + ' is not allowed')\n  : [])" % (
        cel_list(p["service_types"]),
        cel.get_or("variables.spec", "ports", "[]", "list"),
        port,
        cel.bind("n", cel.as_int("pt.port"), ranges or "false"),
        port,
        cel.as_int("pt.port"),
    )
    node_port = "[]" if p["allow_node_port"] else "(variables.serviceType == 'NodePort' ? ['type NodePort'] : [])"
    return extra, "%s\n+ %s" % (node_port, listed)


def cel_ingress_https(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    extra = [
        ("spec", cel.get_or("object", "spec", "{}", "map")),
        ("annotations", cel.path_or("object", ["metadata", "annotations"], "{}", "map")),
        ("tls", cel.get_or("variables.spec", "tls", "[]", "list")),
    ]
    # host_matches_tls: lower case, trailing dots removed (Kubernetes regex library find), '*.' covers one label
    covered = cel.bind(
        "h",
        "r.host.lowerAscii().find('^.*[^.]')",
        (
            "variables.tls.exists(t, type(t) == map && has(t.hosts) && type(t.hosts) == list &&\n"
            "    t.hosts.exists(th, type(th) == string && %s))"
            % cel.bind(
                "tk",
                "th.lowerAscii().find('^.*[^.]')",
                "h == tk || (tk.startsWith('*.') && h.indexOf('.') > 0 && h.substring(h.indexOf('.') + 1) == tk.substring(2))",
            )
        ),
    )
    uncovered = (
        "%s\n    .filter(r, type(r) == map && has(r.host) && type(r.host) == string && r.host != '' && "
        "!%s)\n    .map(r, 'host ' + r.host + ' is not covered by spec.tls')" % (cel.get_or("variables.spec", "rules", "[]", "list"), covered)
    )
    # a TLS entry without hosts covers every host with the controller's default certificate (Ingress API)
    default_cert = "variables.tls.exists(t, type(t) == map && !(has(t.hosts) && type(t.hosts) == list && size(t.hosts) > 0))"
    parts = ["(size(variables.tls) == 0\n  ? ['no spec.tls: the Ingress serves plain HTTP']\n  : %s ? []\n  : %s)" % (default_cert, uncovered)]
    good = []
    for key, wanted in sorted(p["ssl_redirect_annotations"].items()):
        value = "variables.annotations[%s]" % cel_string(key)
        matches = cel.bind("a", value, "(type(a) == bool ? (a ? 'true' : 'false') : string(a)).trim().lowerAscii() == %s" % cel_string(wanted.lower()))
        present = "%s in variables.annotations" % cel_string(key)
        good.append("(%s && %s)" % (present, matches))
        parts.append("(%s && !%s\n  ? [%s] : [])" % (present, matches, cel_string("annotation %s turns HTTPS-only off (expected %s)" % (key, wanted))))
    if p["require_ssl_redirect"]:
        parts.append("(%s ? [] : ['no HTTPS redirect annotation is set'])" % (" || ".join(good) or "false"))
    return extra, "\n+ ".join(parts)


def cel_rbac(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    excluded = setting["exclude_namespaces"]
    extra = [
        (
            "bindingNamespace",
            "has(object.metadata) && type(object.metadata) == map && "
            "has(object.metadata.namespace) && type(object.metadata.namespace) == string ? "
            "object.metadata.namespace : ''",
        ),
        ("roleRef", cel.get_or("object", "roleRef", "{}", "map")),
    ]
    # subjects: (identity, system?) like _workload._audit_rbac's subjects_of
    system = "sa ? ns != '' && %s : name.startsWith('system:')" % cel.name_matches("ns", excluded, where + ".exclude_namespaces")
    exempt = cel.subject_matches("id", p["allowed_subjects"], where + ".params.allowed_subjects")
    if p["ignore_system_subjects"]:
        exempt = "(%s) || %s" % (system, exempt)
    identity = cel.bind(
        "sa",
        "has(s.kind) && s.kind == 'ServiceAccount'",
        cel.bind(
            "name",
            "has(s.name) && type(s.name) == string ? s.name : ''",
            cel.bind(
                "ns",
                "has(s.namespace) && type(s.namespace) == string && s.namespace != '' ? s.namespace : variables.bindingNamespace",
                cel.bind("id", "sa ? 'system:serviceaccount:' + ns + ':' + name : name", "!(%s)" % exempt),
            ),
        ),
    )
    subjects = cel.get_or("object", "subjects", "[]", "list")
    extra.append(
        (
            "risky",
            "has(object.roleRef)\n  ? %s\n    .filter(s, type(s) != map || %s)\n    "
            ".map(s, type(s) == map && has(s.name) && type(s.name) == string ? s.name : '?')\n  : []" % (subjects, identity),
        )
    )
    admin = "has(variables.roleRef.kind) && variables.roleRef.kind == 'ClusterRole' && has(variables.roleRef.name) && variables.roleRef.name in %s" % cel_list(
        p["admin_roles"]
    )
    parts = [
        "(has(object.roleRef) && %s && size(variables.risky) > 0\n  ? ['grants ClusterRole ' + "
        "string(variables.roleRef.name) + ' to ' + variables.risky.join(', ')]\n  : [])" % admin
    ]
    if not p["require_binding"]:
        role_name = (
            "(has(object.metadata) && type(object.metadata) == map && has(object.metadata.name) && "
            "type(object.metadata.name) == string ? object.metadata.name : '')"
        )
        # admin_roles are wildcard roles like any other here; only the API server's own roles are exempt, by exact
        # name and the rbac-defaults label (_workload_rules.is_bootstrap_role)
        skip = "false"
        if p["ignore_system_subjects"]:
            role_ns = (
                "(has(object.metadata) && type(object.metadata) == map && has(object.metadata.namespace) && "
                "type(object.metadata.namespace) == string ? object.metadata.namespace : '')"
            )
            labelled = (
                "(has(object.metadata) && type(object.metadata) == map && has(object.metadata.labels) && "
                "type(object.metadata.labels) == map && %s in object.metadata.labels && "
                "object.metadata.labels[%s] == %s)" % (cel_string(BOOTSTRAP_LABEL[0]), cel_string(BOOTSTRAP_LABEL[0]), cel_string(BOOTSTRAP_LABEL[1]))
            )
            roles = sorted("%s/%s" % (ns, name) for ns, names in BOOTSTRAP_ROLES.items() for name in names)
            skip = "(%s && (request.kind.kind == 'ClusterRole' ? %s in %s\n    : %s + '/' + %s in %s))" % (
                labelled,
                role_name,
                cel_list(sorted(BOOTSTRAP_CLUSTER_ROLES)),
                role_ns,
                role_name,
                cel_list(roles),
            )
        wild = (
            "%s.exists(r, type(r) == map && ((has(r.verbs) && type(r.verbs) == list && '*' in r.verbs) || "
            "(has(r.resources) && type(r.resources) == list && '*' in r.resources)))" % cel.get_or("object", "rules", "[]", "list")
        )
        parts.append("(!has(object.roleRef) && !%s && %s\n  ? ['a rule allows * verbs or resources'] : [])" % (skip, wild))
    return extra, "\n+ ".join(parts)


RULES = (
    rule(
        "KS-WL-005",
        "service_ports",
        "medium",
        "Service",
        "Services listen on allowed ports only",
        "Every Service port is in the allowed list; NodePort Services are refused unless allowed.",
        "Expose services on the approved ports only; put HTTP(S) behind an Ingress instead of NodePorts.",
        {
            "allowed_ports": param("port_list", [80, 443], "Allowed Service ports: numbers or 'low-high' ranges."),
            "allow_node_port": param("bool", False, "Allow Services of type NodePort."),
            "service_types": param(
                "str_list", ["ClusterIP", "NodePort", "LoadBalancer"], "Service types whose ports are checked (ExternalName has no listener)."
            ),
        },
        object_check=("Service", ("",), check_service),
        cel=cel_service_ports,
        cel_target="Service",
        frameworks={"nsa": ("Network separation and hardening: Network policies",), "mitre": ("T1046",)},
        defender="Services should listen on allowed ports only",
        azure_policy="233a2a17 K8sAzureServiceAllowedPorts",
    ),
    rule(
        "KS-WL-011",
        "ingress_https",
        "medium",
        "Ingress",
        "Ingresses are served over HTTPS only",
        "spec.tls covers every host of the Ingress (wildcards match one label); no annotation turns the "
        "HTTP-to-HTTPS redirect off; optionally one redirect annotation is required.",
        "Add spec.tls entries (hosts and secretName) for every host and keep HTTP redirected.",
        {
            "require_ssl_redirect": param("bool", False, "Also require one of ssl_redirect_annotations with its value."),
            "ssl_redirect_annotations": param(
                "str_dict",
                {
                    "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                    "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
                    "kubernetes.io/ingress.allow-http": "false",
                },
                "Annotations that keep traffic on HTTPS, with the value that does; another value on one of them fails the rule.",
            ),
        },
        object_check=("Ingress", ("networking.k8s.io", "extensions"), check_ingress),
        cel=cel_ingress_https,
        cel_target="Ingress",
        frameworks={"nsa": ("Network separation and hardening: Network policies",), "mitre": ("T1557",)},
        defender="Kubernetes clusters should be accessible only over HTTPS",
        azure_policy="1a5b4dca K8sAzureIngressHttpsOnly",
        gatekeeper="k8shttpsonly",
    ),
    rule(
        "KS-WL-017",
        "kubernetes_version",
        "high",
        "cluster",
        "Kubernetes version is inside the upstream support window",
        "The cluster's minor version has not passed its upstream end-of-life date (table in "
        "module_utils/_k8s_releases.py). Needs the kubernetes_version option.",
        "Upgrade the control plane and nodes to a supported minor release.",
        {
            "warn_days_before_eol": param("int", 60, "Report status 'warn' this many days before end of life.", minimum=0, maximum=3650),
        },
        audit=audit_version,
        enforcement="none",
        enforcement_note="A property of the cluster (its Kubernetes version and the support window), not of an admitted object.",
        frameworks={"nsa": ("Upgrading and application security practices",), "mitre": ("T1190",)},
    ),
    rule(
        "KS-WL-018",
        "network_policy",
        "medium",
        "Namespace",
        "Namespaces have a default-deny NetworkPolicy",
        "Every namespace (Namespace objects in the input, else namespaces of the workloads) has NetworkPolicies, "
        "one of which selects all pods and denies ingress (and egress if required); no policy allows all ingress "
        "to all pods.",
        "Add a NetworkPolicy with podSelector: {} and policyTypes: [Ingress, Egress] and no rules, then allow the flows each application needs.",
        {
            "require_default_deny_ingress": param("bool", True, "Require a default-deny for ingress."),
            "require_default_deny_egress": param("bool", False, "Require a default-deny for egress."),
        },
        audit=audit_network_policies,
        enforcement="none",
        enforcement_note="Needs the namespace's NetworkPolicies, other objects than the one being admitted; a "
        "namespace is never created with its policies in the same request.",
        frameworks={"cis": ("5.3.2",), "nsa": ("Network separation and hardening: Network policies",), "mitre": ("T1046",)},
    ),
    rule(
        "KS-WL-021",
        "rbac_admin",
        "high",
        "RBAC",
        "No cluster-admin or wildcard RBAC for non-system subjects",
        "No (Cluster)RoleBinding grants an admin ClusterRole to a non-system subject, and no (Cluster)Role with '*' in verbs or resources is bound to one.",
        "Bind narrowly scoped Roles; keep cluster-admin for break-glass groups.",
        {
            "admin_roles": param("str_list", ["cluster-admin"], "ClusterRoles that count as admin."),
            "ignore_system_subjects": param(
                "bool",
                True,
                "Ignore users and groups named system:* and service accounts in excluded "
                "namespaces (also the built-in system:* roles: exact bootstrap names "
                "with the kubernetes.io/bootstrapping: rbac-defaults label).",
            ),
            "allowed_subjects": param(
                "pattern_list",
                [],
                "Subjects allowed to hold admin or wildcard roles: user/group names or system:serviceaccount:<ns>:<name>, exact or a '^' regular expression.",
            ),
            "require_binding": param(
                "bool",
                True,
                "Flag wildcard roles (admin_roles included) only when the input binds them to a non-system subject; false flags every wildcard role itself.",
            ),
        },
        audit=audit_rbac,
        cel=cel_rbac,
        cel_target="RBAC",
        enforcement="partial",
        enforcement_note="Enforced on (Cluster)RoleBindings that grant an admin_roles ClusterRole, and on wildcard "
        "(Cluster)Roles (admin_roles included; the API server's own roles, by exact name and the "
        "rbac-defaults label, exempt) only with require_binding: false; a wildcard Role bound by a "
        "separate binding needs both objects and stays with the audit.",
        ksv=("KSV-0044", "KSV-0045", "KSV-0046", "KSV-0111", "KSV-0112"),
        ksv_params={
            "KSV-0044": {"params": {"require_binding": False}},
            "KSV-0045": {"params": {"require_binding": False}},
            "KSV-0046": {"params": {"require_binding": False}},
            "KSV-0111": {
                "params": {"admin_roles": ["cluster-admin", "admin", "edit"], "ignore_system_subjects": False},
                "note": "Trivy also flags bindings to admin/edit and the built-in system:masters binding.",
            },
            "KSV-0112": {"params": {"require_binding": False}},
        },
        frameworks={"cis": ("5.1.1", "5.1.3"), "nsa": ("Authentication and authorization",), "mitre": ("T1078", "T1098.006")},
    ),
)
