# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_vap.py: ValidatingAdmissionPolicies from the KS-WL rules, their CEL EVALUATED against the audit.

The CEL runs in cel-expr-python (Google's CEL C++ runtime; pip ``cel-expr-python``, import ``cel_expr_python``) with
its strings extension. ``VapEvaluator`` emulates what the API server does with a policy and its binding: the
matchConstraints resource rules, the binding's namespaceSelector (on ``kubernetes.io/metadata.name``), the
matchConditions, the variables, and the validations with failurePolicy Fail (an evaluation error denies).

Two Kubernetes CEL library functions are not in that runtime and are implemented here (nothing else is):
- the quantity library (``isQuantity``, ``quantity``, ``<Quantity>.isGreaterThan``, ``<Quantity>.compareTo``):
  a port of apimachinery's ``resource.ParseQuantity`` acceptance rules and value; a Quantity is carried as the
  map ``{'kubernetes.Quantity': '<decimal>'}`` (the runtime has no opaque types);
- the regex library's ``<string>.find(<regex>)`` (first match or ''), used with the fixed pattern ``^.*[^.]``.

The central test compares, for every enforceable rule, every workload object of tests/fixtures/workloads (and
each of them re-wrapped into every pod-controller kind) and every table case of test_workload_audit (in every
controller kind), "the CEL denies" with "workload_audit has a failing finding for this rule and object".
"""

import copy
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from cel_expr_python import cel  # the CEL runtime: pyproject.toml's test extras install it
from cel_expr_python.ext import ext_strings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kubesec.cluster.plugins.module_utils import _vap
from ansible_collections.kubesec.cluster.plugins.module_utils import _workload as wl
from ansible_collections.kubesec.cluster.plugins.module_utils import _workload_rules as wl_rules
from ansible_collections.kubesec.cluster.plugins.module_utils._workload_rules import RULES, RULES_BY_ID
from tests.unit.test_workload_audit import (
    BAD_POD,
    C,
    CASES,
    KIND_API,
    KIND_DEPENDENT_CASES,
    SECCOMP_ANNOTATION_CASES,
    _delete,
    workload,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "workloads"
TODAY = "2026-09-01"
TRUSTED = {"KS-WL-002": {"params": {"registries": ["registry.example.com"]}}}


# ---------------------------------------------------------------------------------------------------------
# Kubernetes CEL library functions missing from the runtime

_DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DIGITS = "0123456789"


def _parse_quantity_string(text):
    """Port of apimachinery resource.parseQuantityString: (positive, value, num, denom, suffix)."""
    positive, pos, end = True, 0, len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while True:  # leading zeros
        if pos >= end:
            return positive, "0", "0", "", ""
        if text[pos] != "0":
            break
        pos += 1
    index = pos
    while True:  # numerator
        if index >= end:
            return positive, text[:end], text[pos:end] or "0", "", ""
        if text[index] not in _DIGITS:
            num, pos = text[pos:index] or "0", index
            break
        index += 1
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        index = pos
        while True:
            if index >= end:
                return positive, text[:end], num, text[pos:end], ""
            if text[index] not in _DIGITS:
                denom, pos = text[pos:index], index
                break
            index += 1
    value, suffix_start, index = text[:pos], pos, pos
    while True:
        if index >= end:
            return positive, value, num, denom, text[suffix_start:end]
        if text[index] not in "eEinumkKMGTP":
            pos = index
            break
        index += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    index = pos
    while True:
        if index >= end:
            return positive, value, num, denom, text[suffix_start:end]
        if text[index] not in _DIGITS:
            raise ValueError("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        index += 1


def k8s_quantity(text):
    """resource.ParseQuantity(text) as a Decimal (ValueError like the Go function's errors)."""
    if not isinstance(text, str) or not text:
        raise ValueError("quantities must match the regular expression")
    _positive, value, _num, _denom, suffix = _parse_quantity_string(text)
    if suffix in _DECIMAL_SI:
        factor = Decimal(10) ** _DECIMAL_SI[suffix]
    elif suffix in _BINARY_SI:
        factor = Decimal(2) ** _BINARY_SI[suffix]
    elif len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[+-]?[0-9]+", suffix[1:]):
        factor = Decimal(10) ** int(suffix[1:])
    else:
        raise ValueError("unable to parse quantity's suffix")
    try:
        return Decimal(value) * factor
    except InvalidOperation:
        raise ValueError("unable to parse quantity's numeric part") from None


_QKEY = "kubernetes.Quantity"
_QTYPE = cel.Type.Map(cel.Type.STRING, cel.Type.STRING)


def _quantity(text):
    return {_QKEY: str(k8s_quantity(text))}


def _is_quantity(text):
    try:
        k8s_quantity(text)
    except ValueError:
        return False
    return True


def _compare(left, right):
    a, b = Decimal(left[_QKEY]), Decimal(right[_QKEY])
    return (a > b) - (a < b)


def _find(text, pattern):
    match = re.search(pattern, text)
    return match.group(0) if match else ""


K8S_LIBRARY = cel.CelExtension(
    "kubesec_test_k8s_library",
    [
        cel.FunctionDecl("quantity", [cel.Overload("string_to_quantity", _QTYPE, [cel.Type.STRING], impl=_quantity)]),
        cel.FunctionDecl("isQuantity", [cel.Overload("is_quantity_string", cel.Type.BOOL, [cel.Type.STRING], impl=_is_quantity)]),
        cel.FunctionDecl(
            "isGreaterThan", [cel.Overload("quantity_is_greater_than", cel.Type.BOOL, [_QTYPE, _QTYPE], is_member=True, impl=lambda a, b: _compare(a, b) > 0)]
        ),
        cel.FunctionDecl("compareTo", [cel.Overload("quantity_compare_to", cel.Type.INT, [_QTYPE, _QTYPE], is_member=True, impl=_compare)]),
        cel.FunctionDecl("find", [cel.Overload("string_find_string", cel.Type.STRING, [cel.Type.STRING, cel.Type.STRING], is_member=True, impl=_find)]),
    ],
)


# ---------------------------------------------------------------------------------------------------------
# Admission emulation

# kind -> (group, resource, namespaced)
RESOURCES = {
    "Pod": ("", "pods", True),
    "PodTemplate": ("", "podtemplates", True),
    "ReplicationController": ("", "replicationcontrollers", True),
    "Service": ("", "services", True),
    "Namespace": ("", "namespaces", False),
    "ServiceAccount": ("", "serviceaccounts", True),
    "Deployment": ("apps", "deployments", True),
    "ReplicaSet": ("apps", "replicasets", True),
    "StatefulSet": ("apps", "statefulsets", True),
    "DaemonSet": ("apps", "daemonsets", True),
    "Job": ("batch", "jobs", True),
    "CronJob": ("batch", "cronjobs", True),
    "Ingress": ("networking.k8s.io", "ingresses", True),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies", True),
    "Role": ("rbac.authorization.k8s.io", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings", True),
    "ClusterRole": ("rbac.authorization.k8s.io", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "clusterrolebindings", False),
}


class CelError(Exception):
    pass


def strip_nulls(value):
    """The object as the API server hands it to admission: decoded into typed structs, so no JSON nulls."""
    if isinstance(value, dict):
        return {key: strip_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [strip_nulls(item) for item in value if item is not None]
    return value


class VapEvaluator:
    def __init__(self):
        self.env = cel.NewEnv(
            variables={name: cel.Type.DYN for name in ("object", "oldObject", "request", "variables", "params", "namespaceObject")},
            extensions=[ext_strings.ExtStrings(version=2), K8S_LIBRARY],
        )
        self.programs = {}

    def compile(self, expression):
        program = self.programs.get(expression)
        if program is None:
            program = self.programs[expression] = self.env.compile(expression)
        return program

    def eval(self, expression, **data):
        value = self.compile(expression).eval(data=data)
        kind = value.type()
        if kind == cel.Type.ERROR:
            raise CelError(str(value.value()))
        if kind == cel.Type.NULL:
            # cel-expr-python 0.1.3 drops a reference to Python's None for every null it hands back (the
            # interpreter then dies with "none_dealloc"): never convert one. Inputs carry no nulls (strip_nulls).
            raise CelError("null result")
        return value.plain_value()

    @staticmethod
    def request_for(obj, subresource="", operation="CREATE"):
        group, resource, _namespaced = RESOURCES[obj["kind"]]
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        return {
            "namespace": namespace,
            "operation": operation,
            "name": (obj.get("metadata") or {}).get("name", ""),
            "kind": {"group": group, "version": obj["apiVersion"].rpartition("/")[2], "kind": obj["kind"]},
            "resource": {"group": group, "version": obj["apiVersion"].rpartition("/")[2], "resource": resource},
            "subResource": subresource,
        }

    def admit(self, policy, binding, obj, subresource="", old_object=None):
        """{'matched', 'allowed', 'messages', 'errors'} for one object, as the API server would decide.

        A CREATE, or an UPDATE from ``old_object``.
        """
        operation = "CREATE" if old_object is None else "UPDATE"
        out = {"matched": False, "allowed": True, "messages": [], "errors": []}
        if obj.get("kind") not in RESOURCES:
            return out
        group, resource, namespaced = RESOURCES[obj["kind"]]
        if obj["apiVersion"].rpartition("/")[0] != group:
            return out
        wanted = resource + ("/" + subresource if subresource else "")
        if not any(
            group in rule["apiGroups"] and wanted in rule["resources"] and operation in rule["operations"]
            for rule in policy["spec"]["matchConstraints"]["resourceRules"]
        ):
            return out
        request = self.request_for(obj, subresource, operation)
        selector = binding["spec"].get("matchResources", {}).get("namespaceSelector", {})
        if namespaced:
            for expr in selector.get("matchExpressions", []):
                assert expr["key"] == "kubernetes.io/metadata.name" and expr["operator"] == "NotIn"
                if request["namespace"] in expr["values"]:
                    return out
        obj = strip_nulls(obj)
        data = {"object": obj, "request": request}  # params, namespaceObject: unbound (never used)
        if old_object is not None:  # for a CREATE oldObject is null: unbound here, and never read
            data["oldObject"] = strip_nulls(old_object)
        for condition in policy["spec"].get("matchConditions", []):
            try:
                if not self.eval(condition["expression"], **data):
                    return out
            except CelError as exc:
                out.update(matched=True, allowed=False)
                out["errors"].append("matchCondition %s: %s" % (condition["name"], exc))
                return out
        out["matched"] = True
        variables = {}
        for variable in policy["spec"].get("variables", []):
            try:
                variables[variable["name"]] = self.eval(variable["expression"], variables=variables, **data)
            except CelError as exc:
                out["allowed"] = False
                out["errors"].append("variable %s: %s" % (variable["name"], exc))
                return out
        for validation in policy["spec"]["validations"]:
            try:
                ok = self.eval(validation["expression"], variables=variables, **data)
            except CelError as exc:
                out["allowed"] = False
                out["errors"].append("validation: %s" % exc)
                continue
            if not ok:
                out["allowed"] = False
                try:
                    out["messages"].append(self.eval(validation["messageExpression"], variables=variables, **data))
                except CelError:
                    out["messages"].append(validation["message"])
        return out


EVALUATOR = VapEvaluator()


def policies(rules, exclude_namespaces=None, cluster="test"):
    result = _vap.build(rules=rules, exclude_namespaces=exclude_namespaces, cluster=cluster)
    out = {}
    for policy, binding in zip(result["objects"][::2], result["objects"][1::2]):
        out[policy["metadata"]["labels"]["kubesec.io/rule"]] = (policy, binding)
    return out


def cel_denies(pair, obj):
    verdict = EVALUATOR.admit(pair[0], pair[1], obj)
    return not verdict["allowed"], verdict


def audit_failing(obj, rules, exclude_namespaces=None):
    """Rule ids with a fail/warn finding when the audit sees this one object (as admission does)."""
    result = wl.audit([strip_nulls(obj)], rules=rules, exclude_namespaces=exclude_namespaces, today=TODAY)
    return {f["id"] for f in result["findings"] if f["status"] in ("fail", "warn")}


def deny_all(rules):
    """The given settings with every enforceable rule in mode deny."""
    out = copy.deepcopy(TRUSTED)
    names = {rule["name"]: rule["id"] for rule in RULES}
    for key, value in (rules or {}).items():
        key = names.get(key, key)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = dict(out[key], **copy.deepcopy(value))
        else:
            out[key] = copy.deepcopy(value)
    for rid in _vap.ENFORCEABLE:
        setting = dict(out.get(rid) or {})
        setting["mode"] = "deny"
        out[rid] = setting
    return out


def disagreements(objects, rules, exclude_namespaces=None):
    """[(rule, kind, name, cel verdict, audit verdict, details)] where CEL and audit differ, or CEL errs."""
    rules = deny_all(rules)
    pairs = policies(rules, exclude_namespaces)
    enabled = {rid for rid in _vap.ENFORCEABLE if wl.resolve_settings(rules, exclude_namespaces)[rid]["enabled"]}
    assert set(pairs) == enabled
    out = []
    for obj in objects:
        failing = audit_failing(obj, rules, exclude_namespaces)
        for rid, pair in sorted(pairs.items()):
            deny, verdict = cel_denies(pair, obj)
            if deny != (rid in failing) or verdict["errors"]:
                out.append((rid, obj.get("kind"), (obj.get("metadata") or {}).get("name"), deny, rid in failing, verdict["errors"] or verdict["messages"]))
    return out


# ---------------------------------------------------------------------------------------------------------
# The objects: fixtures, the fixtures' pod specs in every controller kind, the audit's table cases


def fixture_objects():
    objects, _origins, _warnings = wl.load_manifests(str(FIXTURES))
    out = []
    for obj in objects:
        if isinstance(obj, dict) and str(obj.get("kind", "")).endswith("List"):
            out.extend(obj["items"])
        elif isinstance(obj, dict):
            out.append(obj)
    return out


def rewrap(obj, kind):
    """The pod spec and pod metadata of a fixture controller, in another controller kind."""
    spec, _path, meta, _meta_path = wl.pod_spec_of(obj)
    meta = {key: value for key, value in meta.items() if key in ("labels", "annotations")}
    name, namespace = obj["metadata"].get("name"), obj["metadata"].get("namespace")
    new = {"apiVersion": KIND_API[kind], "kind": kind, "metadata": {"name": "%s-as-%s" % (name, kind.lower())}}
    if namespace:
        new["metadata"]["namespace"] = namespace
    if kind == "Pod":
        new["metadata"].update(copy.deepcopy(meta))
        new["spec"] = copy.deepcopy(spec)
    elif kind == "PodTemplate":
        new["template"] = {"metadata": copy.deepcopy(meta), "spec": copy.deepcopy(spec)}
    elif kind == "CronJob":
        new["spec"] = {"schedule": "0 1 * * *", "jobTemplate": {"spec": {"template": {"metadata": copy.deepcopy(meta), "spec": copy.deepcopy(spec)}}}}
    else:
        new["spec"] = {"template": {"metadata": copy.deepcopy(meta), "spec": copy.deepcopy(spec)}}
    return new


FIXTURE_OBJECTS = fixture_objects()
CONTROLLERS = [obj for obj in FIXTURE_OBJECTS if wl.pod_spec_of(obj) is not None]
REWRAPPED = [rewrap(obj, kind) for obj in CONTROLLERS for kind in sorted(KIND_API)]

STRICT = {
    "KS-WL-001": {"params": {"max_cpu": "1", "max_memory": "1Gi"}},
    "KS-WL-002": {"params": {"registries": ["registry.example.com/shop/", r"^cr\.fluentbit\.io/fluent/", "docker.io/library/"]}},
    "KS-WL-003": {"params": {"allowed_add": ["NET_BIND_SERVICE", "DAC_READ_SEARCH"], "required_drop": ["NET_RAW", "SYS_ADMIN"]}},
    "KS-WL-004": {"params": {"allowed_profiles": ["runtime/default", "localhost/*"], "require_explicit": True}},
    "KS-WL-005": {"params": {"allowed_ports": [443, "5000-5500"], "allow_node_port": True, "service_types": ["NodePort", "LoadBalancer"]}},
    "KS-WL-006": {"params": {"allow_host_network": True, "min_port": 1, "max_port": 1024}},
    "KS-WL-007": {"params": {"allowed_host_paths": [{"path_prefix": "/var/log", "read_only": True}, {"path_prefix": "/var/lib", "read_only": False}]}},
    "KS-WL-011": {"params": {"require_ssl_redirect": True, "ssl_redirect_annotations": {"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}}},
    "KS-WL-013": {"params": {"include_unset": True}},
    "KS-WL-016": {"params": {"require_run_as_non_root": True}},
    "KS-WL-020": {"params": {"disallowed_tags": ["latest", "16.3"]}},
    "KS-WL-021": {"params": {"admin_roles": ["cluster-admin", "admin", "edit"], "ignore_system_subjects": False, "require_binding": False}},
}
STRICTER = {
    "KS-WL-001": {"params": {"require_cpu": False, "max_memory": "300Mi"}},
    "KS-WL-003": {"params": {"allowed_add": ["ALL"], "required_drop": []}},
    "KS-WL-004": {"params": {"allowed_profiles": ["unconfined", "runtime/*"]}},
    "KS-WL-006": {"params": {"min_port": 80, "max_port": 80}},
    "KS-WL-007": {"params": {"allowed_host_paths": [{"path_prefix": "/", "read_only": True}]}},
    "KS-WL-020": {"params": {"require_digest": True}},
    "KS-WL-021": {"params": {"allowed_subjects": ["alice@example.com", "^system:serviceaccount:ci:"], "require_binding": False}},
}
IMAGES_OUT = ["docker.io/library/nginx", r"^registry\.example\.com/payments/(api|worker)", "cr.fluentbit.io"]
EXCLUDING = {rid: {"exclude_images": IMAGES_OUT, "exclude_namespaces": ["cach?", "^sh"]} for rid in _vap.POD_RULES}
EXCLUDING["KS-WL-021"] = {"exclude_namespaces": ["ci"]}
CONFIGS = [("defaults", {}, None), ("strict", STRICT, None), ("stricter", STRICTER, None), ("exclusions", EXCLUDING, ["payments", "log*", "^da"])]


# ---------------------------------------------------------------------------------------------------------
# CEL says deny <=> the audit has a failing finding


@pytest.mark.parametrize("label, rules, namespaces", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_cel_agrees_with_audit_on_fixture_objects(label, rules, namespaces):
    assert len(FIXTURE_OBJECTS) > 25
    assert {obj["kind"] for obj in CONTROLLERS} == {"Deployment", "DaemonSet", "StatefulSet", "CronJob", "Job", "ReplicaSet", "ReplicationController", "Pod"}
    assert disagreements(FIXTURE_OBJECTS, rules, namespaces) == []


@pytest.mark.parametrize("label, rules, namespaces", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_cel_agrees_with_audit_on_fixture_pod_specs_in_every_controller_kind(label, rules, namespaces):
    assert {obj["kind"] for obj in REWRAPPED} == set(KIND_API)
    assert disagreements(REWRAPPED, rules, namespaces) == []


def _case_rules(case):
    _name, rule_id, _kind, _mutate, override, _field, _container = case
    rules = {}
    if override:
        if "params" in override or "mode" in override:
            rules[rule_id] = override
        else:
            rules.update(override)
    return rules


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_cel_agrees_with_audit_on_table_cases_in_every_controller_kind(case):
    objects = [workload(kind=kind, mutate=case[3], name="c-" + kind.lower()) for kind in sorted(KIND_API)]
    assert disagreements(objects, _case_rules(case)) == []
    rule_id, field = case[1], case[5]
    if rule_id in _vap.ENFORCEABLE:  # the case's own rule: the CEL decides like the table says
        pair = policies(deny_all(_case_rules(case)))[rule_id]
        assert {cel_denies(pair, obj)[0] for obj in objects} == {field is not None}


def test_cel_agrees_on_bad_pod_and_unset_namespace_in_every_kind():
    objects = [workload(BAD_POD, kind=kind, namespace=ns) for kind in sorted(KIND_API) for ns in ("team", None, "default")]
    for rules in ({}, STRICT, {"KS-WL-013": {"params": {"include_unset": True}}}):
        assert disagreements(objects, rules) == []


# Well-typed random pod specs: values of the types the API server would hand over, and the YAML-level variants
# the audit accepts ("true" strings, digit strings), chosen at random.
BOOLS = st.sampled_from([True, False, "true", "false", " TRUE ", None])
UIDS = st.sampled_from([0, 1, 1000, -1, "0", "1000", " 7 ", None, 1.5])
CAPS = st.lists(st.sampled_from(["SYS_ADMIN", "cap_sys_admin", " net_raw ", "ALL", "all", "NET_BIND_SERVICE", "DAC_READ_SEARCH", "CHOWN"]), max_size=3)
IMAGES = st.sampled_from(
    [
        "nginx",
        "nginx:latest",
        "nginx:1.27",
        "library/nginx:1",
        "docker.io/nginx:1",
        "index.docker.io/library/nginx:1",
        "registry-1.docker.io/bitnami/redis:7",
        "localhost:5000/app",
        "localhost/app:1",
        "registry.example.com:5000/web",
        "registry.example.com/app/web:2.3.4",
        "registry.example.com.evil.io/app:1",
        "registry.example.com@sha256:" + "b" * 64,
        "quay.io/prometheus/node-exporter:v1.8.1",
        "x@",
        "ghcr.io/o/a:1@sha256:" + "a" * 64,
        " nginx:1 ",
        "",
        "registry.example.com/payments/api:3.2.0",
        "cr.fluentbit.io/fluent/fluent-bit:3.0.7",
    ]
)
QUANTITIES = st.sampled_from(["500m", "1", 2, 1.5, "0", "-1", "lots", "1e3", "1Gi", "1025Mi", "2G", "0.5", "", None, "64", 64, "1.5Gi", ".5", "1Ki", "300Mi"])
PATHS = st.sampled_from(["/var/log", "/var//log/./app/", "/var/logs", "rel/path", "/", "/etc", "/var/lib/x", "/var/./lib", "//var/log", None, 5])
PORTS = st.sampled_from([0, 80, 443, 8080, 1024, None, "80", -3])
ENV_NAMES = st.sampled_from(
    [
        "DB_PASSWORD",
        "db_password",
        "dbPassword",
        "API_KEY",
        "PWD",
        "REDIS_PWD",
        "MODE",
        "DB_PASSWORD_FILE",
        "TOKEN_TTL",
        "DATABASE_URL",
        "X_SECRET_NAME",
        "secret\n",
    ]
)
ENV_VALUES = st.sampled_from(
    ["changeme", "", "$(OTHER)", "$(OTHER)\n", "$(A) $(B)", "postgres://u:pw@db/x", "postgres://db/x", "https://user@h/", "x:y@z", 5, None]
)


@st.composite
def containers(draw, names=("a", "b", "c")):
    out = []
    for index in range(draw(st.integers(0, 2))):
        sc = {}
        for key in ("privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "runAsNonRoot"):
            value = draw(BOOLS)
            if value is not None:
                sc[key] = value
        user = draw(UIDS)
        if user is not None:
            sc["runAsUser"] = user
        if draw(st.booleans()):
            sc["capabilities"] = {"add": draw(CAPS), "drop": draw(CAPS)}
        if draw(st.booleans()):
            sc["appArmorProfile"] = draw(
                st.sampled_from(
                    [
                        {"type": "RuntimeDefault"},
                        {"type": "Unconfined"},
                        {"type": "Localhost", "localhostProfile": "k8s-x"},
                        {"type": "Localhost"},
                        {"type": "Bogus"},
                    ]
                )
            )
        container = {"name": names[index], "image": draw(IMAGES)}
        if sc or draw(st.booleans()):
            container["securityContext"] = sc
        limits = {}
        for res in ("cpu", "memory"):
            value = draw(QUANTITIES)
            if value is not None:
                limits[res] = value
        if limits:
            container["resources"] = {"limits": limits}
        ports = [{"containerPort": draw(PORTS), "hostPort": draw(PORTS)} for _dummy in range(draw(st.integers(0, 2)))]
        if ports:
            container["ports"] = [{k: v for k, v in port.items() if v is not None} for port in ports]
        if draw(st.booleans()):
            container["volumeMounts"] = [{"name": "hp", "mountPath": "/hp", "readOnly": draw(BOOLS)}]
        if draw(st.booleans()):
            container["env"] = [
                {
                    "name": "S",
                    "valueFrom": draw(
                        st.sampled_from([{"secretKeyRef": {"name": "s", "key": "k"}}, {"configMapKeyRef": {"name": "c", "key": "k"}}, {"secretKeyRef": {}}])
                    ),
                }
            ]
        if draw(st.booleans()):  # literal values: KS-WL-019's worse case (issue 15)
            container.setdefault("env", []).append({"name": draw(ENV_NAMES), "value": draw(ENV_VALUES)})
        out.append(container)
    return out


@st.composite
def pod_specs(draw):
    spec = {"containers": draw(containers()), "initContainers": draw(containers(("i", "j", "k")))}
    if draw(st.booleans()):
        spec["ephemeralContainers"] = draw(containers(("e", "f", "g")))
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        value = draw(BOOLS)
        if value is not None:
            spec[key] = value
    psc = {}
    for key, strategy in (("runAsUser", UIDS), ("runAsNonRoot", BOOLS)):
        value = draw(strategy)
        if value is not None:
            psc[key] = value
    if draw(st.booleans()):
        psc["appArmorProfile"] = draw(st.sampled_from([{"type": "RuntimeDefault"}, {"type": "Unconfined"}]))
    spec["securityContext"] = psc
    path = draw(PATHS)
    if draw(st.booleans()):
        spec["volumes"] = [{"name": "hp", "hostPath": {"path": path}}]
    return spec


FUZZ_RULES = {
    "KS-WL-001": {"params": {"max_cpu": "1", "max_memory": "1Gi"}},
    "KS-WL-002": {"params": {"registries": ["registry.example.com", "docker.io/library/", r"^quay\.io/prom"]}, "exclude_images": ["localhost"]},
    "KS-WL-003": {"params": {"allowed_add": ["NET_BIND_SERVICE"], "required_drop": ["NET_RAW"]}},
    "KS-WL-004": {"params": {"allowed_profiles": ["runtime/default", "localhost/k8s-*"]}},
    "KS-WL-006": {"params": {"min_port": 80, "max_port": 443}},
    "KS-WL-007": {"params": {"allowed_host_paths": [{"path_prefix": "/var/log", "read_only": True}, {"path_prefix": "/var/lib", "read_only": False}]}},
    "KS-WL-015": {"exclude_images": ["docker.io/library/nginx", r"^registry\.example\.com/payments/"]},
    "KS-WL-016": {"params": {"require_run_as_non_root": True}},
    "KS-WL-020": {"params": {"disallowed_tags": ["latest", "1"]}},
}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=pod_specs(),
    kind=st.sampled_from(sorted(KIND_API)),
    strict=st.booleans(),
    annotations=st.sampled_from(
        [None, {"container.apparmor.security.beta.kubernetes.io/a": "unconfined"}, {"container.apparmor.security.beta.kubernetes.io/a": "runtime/default"}]
    ),
)
def test_cel_agrees_with_audit_on_random_well_typed_pods(spec, kind, strict, annotations):
    obj = workload(spec, kind=kind, annotations=annotations)
    assert disagreements([obj], FUZZ_RULES if strict else {}) == []


# Services, Ingresses and RBAC objects beyond the fixtures (single-object rules 005, 011, 021)


def _service(ports, kind="ClusterIP"):
    spec = {"ports": [{"port": port} for port in ports]}
    if kind is not None:
        spec["type"] = kind
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "shop"}, "spec": spec}


def _ingress(hosts, tls_hosts=None, annotations=None, backend=False):
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "ing", "namespace": "shop", "annotations": annotations or {}},
        "spec": {"rules": [{"host": host} if host else {} for host in hosts]},
    }
    if tls_hosts is not None:
        obj["spec"]["tls"] = [{"hosts": tls_hosts, "secretName": "tls"}]
    if backend:
        obj["spec"]["defaultBackend"] = {"service": {"name": "x", "port": {"number": 80}}}
    return obj


def _tls_entries(hosts, tls):
    obj = _ingress(hosts)
    obj["spec"]["tls"] = tls
    return obj


def _labelled(role):
    role["metadata"]["labels"] = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    return role


def _binding(kind, role_kind, role, subjects, namespace="shop"):
    obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": subjects,
    }
    if kind == "RoleBinding":
        obj["metadata"]["namespace"] = namespace
    return obj


def _role(kind, name, verbs, resources=("pods",), namespace="shop"):
    obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": list(resources), "verbs": list(verbs)}],
    }
    if kind == "Role":
        obj["metadata"]["namespace"] = namespace
    return obj


USER = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@example.com"}
MASTERS = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}
SA_SYSTEM = {"kind": "ServiceAccount", "name": "ctrl", "namespace": "kube-system"}
SA_CI = {"kind": "ServiceAccount", "name": "runner", "namespace": "ci"}
SA_LOCAL = {"kind": "ServiceAccount", "name": "app"}
OBJECTS = [
    _service([443]),
    _service([443, 8080]),
    _service([8080], kind=None),
    _service([443], kind="NodePort"),
    _service([5432], kind="ExternalName"),
    _service([5432], kind="LoadBalancer"),
    _service([5000, 5500, 5501]),
    _ingress(["a.example.com"], ["a.example.com"]),
    _ingress(["a.example.com"]),
    _ingress(["A.Example.com."], ["a.example.com"]),
    _ingress(["x.a.example.com", "a.example.com"], ["*.a.example.com"]),
    _ingress(["x.y.a.example.com"], ["*.a.example.com"]),
    _ingress([None], ["a.example.com"]),
    _ingress([], None, backend=True),
    _ingress(["b.example.com"], ["*."]),
    _ingress(["a.example.com"], ["a.example.com.."]),
    _ingress(["a.example.com"], ["a.example.com"], {"nginx.ingress.kubernetes.io/ssl-redirect": "False"}),
    _ingress(["a.example.com"], ["a.example.com"], {"nginx.ingress.kubernetes.io/force-ssl-redirect": " TRUE "}),
    _ingress(["a.example.com"], ["a.example.com"], {"kubernetes.io/ingress.allow-http": "true"}),
    _ingress(["a.example.com", "b.example.com"], []),
    _tls_entries(["a.example.com"], [{"secretName": "default"}]),
    _tls_entries(["a.example.com", "b.example.com"], [{"hosts": ["a.example.com"]}, {}]),
    _tls_entries(["b.example.com"], [{"hosts": ["a.example.com"]}, "not-a-map"]),
    _tls_entries(["b.example.com"], [{"hosts": "b.example.com"}]),
    _binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", [USER]),
    _binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", [MASTERS]),
    _binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", [SA_SYSTEM]),
    _binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", [SA_CI, MASTERS]),
    _binding("RoleBinding", "ClusterRole", "admin", [SA_LOCAL]),
    _binding("RoleBinding", "ClusterRole", "cluster-admin", [SA_LOCAL], namespace="kube-system"),
    _binding("RoleBinding", "ClusterRole", "cluster-admin", [SA_LOCAL]),
    _binding("RoleBinding", "Role", "cluster-admin", [USER]),
    _binding("RoleBinding", "ClusterRole", "edit", [USER]),
    _role("ClusterRole", "wild", ["*"]),
    _role("Role", "wild", ["get"], ["*"]),
    _role("Role", "fine", ["get"]),
    _role("ClusterRole", "cluster-admin", ["*"]),
    _role("ClusterRole", "system:wild", ["*"]),
    _role("Role", "wild", ["*"], namespace="kube-system"),
    _labelled(_role("ClusterRole", "cluster-admin", ["*"], ["*"])),
    _labelled(_role("ClusterRole", "system:kube-controller-manager", ["list", "watch"], ["*"])),
    _role("ClusterRole", "system:kube-controller-manager", ["list", "watch"], ["*"]),
    _labelled(_role("ClusterRole", "system:kube-controller-manager-2", ["list", "watch"], ["*"])),
    _labelled(_role("Role", "system:controller:token-cleaner", ["*"], namespace="kube-system")),
    _labelled(_role("Role", "system:controller:token-cleaner", ["*"], namespace="shop")),
    _labelled(_role("Role", "system:x", ["*"])),
]
OBJECT_CONFIGS = [
    {},
    {
        "KS-WL-005": {"params": {"allowed_ports": [443, "5000-5500"], "allow_node_port": True}},
        "KS-WL-011": {"params": {"require_ssl_redirect": True}},
        "KS-WL-021": {"params": {"admin_roles": ["cluster-admin", "admin", "edit"], "require_binding": False}},
    },
    {
        "KS-WL-005": {"params": {"service_types": ["LoadBalancer"]}},
        "KS-WL-021": {
            "params": {"ignore_system_subjects": False, "allowed_subjects": ["^system:serviceaccount:ci:"], "require_binding": False},
            "exclude_namespaces": ["shop"],
        },
    },
]


@pytest.mark.parametrize("rules", OBJECT_CONFIGS)
def test_cel_agrees_with_audit_on_services_ingresses_and_rbac(rules):
    assert disagreements(OBJECTS, rules) == []
    rules = deny_all(rules)
    pairs = policies(rules)
    denied = {rid: sum(cel_denies(pairs[rid], obj)[0] for obj in OBJECTS) for rid in ("KS-WL-005", "KS-WL-011", "KS-WL-021")}
    assert all(count >= 2 for count in denied.values()), denied


# ---------------------------------------------------------------------------------------------------------
# Coverage: every controller kind, every container kind, the ephemeral-container subresource


def test_every_pod_controller_resource_is_matched():
    pair = policies(deny_all({}))["KS-WL-015"]
    rules = pair[0]["spec"]["matchConstraints"]["resourceRules"]
    matched = {(group, resource) for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]}
    assert matched == {
        ("", "pods"),
        ("", "pods/ephemeralcontainers"),
        ("", "replicationcontrollers"),
        ("", "podtemplates"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
    }
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in rules)
    for kind in sorted(KIND_API):
        for container_kind in ("initContainers", "containers", "ephemeralContainers"):
            spec = copy.deepcopy(BAD_POD)
            spec["containers"][0]["securityContext"] = {}
            spec.setdefault(container_kind, []).append({"name": "p", "image": "registry.example.com/x:1", "securityContext": {"privileged": True}})
            deny, verdict = cel_denies(pair, workload(spec, kind=kind))
            assert deny and "container p: privileged is true" in verdict["messages"][0], (kind, container_kind)


def test_ephemeral_container_added_through_the_subresource_is_denied():
    """kubectl debug: an UPDATE of pods/ephemeralcontainers whose object is the Pod with the new container."""
    pair = policies(deny_all({}))["KS-WL-015"]
    pod = workload(kind="Pod")
    debugged = copy.deepcopy(pod)
    debugged["spec"]["ephemeralContainers"] = [{"name": "debug", "image": "busybox:1.36", "securityContext": {"privileged": True}}]
    verdict = EVALUATOR.admit(pair[0], pair[1], debugged, subresource="ephemeralcontainers", old_object=pod)
    assert verdict["matched"] and not verdict["allowed"]
    assert verdict["messages"] == ["KS-WL-015 Containers are not privileged: container debug: privileged is true"]
    debugged["spec"]["ephemeralContainers"][0]["securityContext"] = {}
    assert EVALUATOR.admit(pair[0], pair[1], debugged, subresource="ephemeralcontainers", old_object=pod)["allowed"]


def test_updates_are_checked_only_when_the_checked_fields_change():
    """Metadata-only updates of objects created before the policy pass (finalizers, labels, owners)."""
    pairs = policies(deny_all({}))
    bad = workload(BAD_POD, kind="Deployment")
    relabelled = copy.deepcopy(bad)
    relabelled["metadata"]["labels"] = {"team": "x"}
    relabelled["metadata"]["finalizers"] = ["foregroundDeletion"]
    verdict = EVALUATOR.admit(*pairs["KS-WL-015"], relabelled, old_object=bad)
    assert verdict == {"matched": False, "allowed": True, "messages": [], "errors": []}
    changed = copy.deepcopy(bad)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    assert not EVALUATOR.admit(*pairs["KS-WL-015"], changed, old_object=bad)["allowed"]
    deleting = copy.deepcopy(changed)
    deleting["metadata"]["deletionTimestamp"] = "2026-09-01T00:00:00Z"
    assert EVALUATOR.admit(*pairs["KS-WL-015"], deleting, old_object=bad)["allowed"]
    template = workload(BAD_POD, kind="PodTemplate")
    template2 = copy.deepcopy(template)
    template2["template"]["spec"]["hostIPC"] = True
    assert not EVALUATOR.admit(*pairs["KS-WL-009"], template2, old_object=template)["allowed"]
    assert EVALUATOR.admit(*pairs["KS-WL-009"], template, old_object=template)["allowed"]
    ingress = _ingress(["a.example.com"], ["a.example.com"])
    http = copy.deepcopy(ingress)
    http["metadata"]["annotations"] = {"kubernetes.io/ingress.allow-http": "true"}
    assert not EVALUATOR.admit(*pairs["KS-WL-011"], http, old_object=ingress)["allowed"]
    crb = _binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", [MASTERS])
    crb2 = copy.deepcopy(crb)
    crb2["subjects"].append(USER)
    assert not EVALUATOR.admit(*pairs["KS-WL-021"], crb2, old_object=crb)["allowed"]
    crb3 = copy.deepcopy(crb2)
    crb3["metadata"]["labels"] = {"a": "b"}
    assert EVALUATOR.admit(*pairs["KS-WL-021"], crb3, old_object=crb2)["allowed"]


def test_objects_of_other_kinds_and_groups_are_not_matched():
    pair = policies(deny_all({}))["KS-WL-015"]
    custom = workload(BAD_POD)
    custom["apiVersion"] = "apps.example.com/v1"
    assert not EVALUATOR.admit(pair[0], pair[1], custom)["matched"]
    assert not EVALUATOR.admit(pair[0], pair[1], _service([443]))["matched"]


# ---------------------------------------------------------------------------------------------------------
# Modes, exclusions, classification


@pytest.mark.parametrize("mode, actions", [("deny", ["Deny", "Audit"]), ("warn", ["Warn", "Audit"]), ("audit", None)])
def test_modes_map_to_validation_actions(mode, actions):
    rules = dict(TRUSTED, privileged={"mode": mode})
    result = _vap.build(rules=rules, cluster="prod")
    bindings = [obj for obj in result["objects"] if obj["kind"] == "ValidatingAdmissionPolicyBinding"]
    if actions is None:
        assert result["objects"] == [] and result["files"] == {}
        assert {"id": "KS-WL-015", "name": "privileged", "mode": "audit", "reason": "mode audit (the workload_audit module reports it)"} in result[
            "not_generated"
        ]
        with_audit = _vap.build(rules=rules, cluster="prod", audit_mode_policies=True)
        assert [b["spec"]["validationActions"] for b in with_audit["objects"] if b["kind"] == "ValidatingAdmissionPolicyBinding"] == [["Audit"]] * len(
            _vap.ENFORCEABLE
        )
        assert len(_vap.ENFORCEABLE) == 27  # 30 rules; 012, 017, 018 are not enforceable (issue 17 added 022-030)
        return
    (binding,) = bindings
    assert binding["spec"]["validationActions"] == actions
    assert binding["metadata"]["labels"]["kubesec.io/mode"] == mode
    assert binding["metadata"]["labels"]["kubesec.io/cluster"] == "prod"
    assert result["policies"][0]["validation_actions"] == actions
    assert {"apiVersion": _vap.API_VERSION, "kind": "ValidatingAdmissionPolicy", "name": "kubesec-ks-wl-009-host-namespaces"} in result["absent"]
    assert not any(item["name"] == "kubesec-ks-wl-015-privileged" for item in result["absent"])


def test_disabled_rule_gives_no_policy():
    result = _vap.build(rules=dict(TRUSTED, privileged={"mode": "deny", "enabled": False}))
    assert result["objects"] == []
    assert result["not_generated"][14]["reason"] == "disabled"


def test_every_rule_is_classified_with_a_reason():
    ids = {rule["id"] for rule in RULES}
    assert set(_vap.ENFORCEABLE) | set(_vap.NOT_ENFORCEABLE) == ids
    assert not set(_vap.ENFORCEABLE) & set(_vap.NOT_ENFORCEABLE)
    assert set(_vap.NOT_ENFORCEABLE) == {"KS-WL-012", "KS-WL-017", "KS-WL-018"}
    assert all(len(reason) > 40 for reason in list(_vap.NOT_ENFORCEABLE.values()) + list(_vap.PARTIAL.values()) + list(_vap.NOTES.values()))
    table = _vap.enforceability()
    assert [row["id"] for row in table] == [rule["id"] for rule in RULES]


def test_not_enforceable_rules_in_deny_mode_are_reported_not_rendered():
    rules = dict(TRUSTED, network_policy={"mode": "deny"}, **{"KS-WL-012": {"mode": "warn"}, "KS-WL-017": {"mode": "audit"}})
    result = _vap.build(rules=rules)
    assert result["objects"] == []
    assert [(item["id"], item["mode"]) for item in result["not_enforceable"]] == [("KS-WL-012", "warn"), ("KS-WL-018", "deny")]
    assert "ServiceAccount" in result["not_enforceable"][0]["reason"]


def test_namespace_exclusions_exact_names_in_the_binding_globs_and_regexes_in_match_conditions():
    rules = deny_all({"privileged": {"exclude_namespaces": ["team-*", r"^ci-\d+$", "ops", "Not_A_Label"]}})
    policy, binding = policies(rules, exclude_namespaces=["monitoring"])["KS-WL-015"]
    (expression,) = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert expression == {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["falco", "kube-node-lease", "kube-public", "kube-system", "monitoring", "ops", "trivy-system"],
    }
    condition, changed = policy["spec"]["matchConditions"]
    assert condition["name"] == "exclude-namespaces" and changed["name"] == "changed-on-update"
    for namespace, excluded in [
        ("team-a", True),
        ("team", False),
        ("ci-12", True),
        ("ci-x", False),
        ("kube-system", True),
        ("monitoring", True),
        ("ops", True),
        ("shop", False),
        ("Not_A_Label", True),
    ]:
        verdict = EVALUATOR.admit(policy, binding, workload(BAD_POD, namespace=namespace))
        assert verdict["allowed"] is excluded, namespace
        assert audit_failing(workload(BAD_POD, namespace=namespace), rules, ["monitoring"]).__contains__("KS-WL-015") is not excluded
    # cluster-scoped objects are never excluded, whatever the patterns (like the audit)
    rbac = deny_all({"KS-WL-021": {"exclude_namespaces": [".*", "^$"]}})
    pol, bind = policies(rbac)["KS-WL-021"]
    crb = _binding("ClusterRoleBinding", "ClusterRole", "cluster-admin", [USER])
    assert not EVALUATOR.admit(pol, bind, crb)["allowed"]
    assert "KS-WL-021" in audit_failing(crb, rbac)


@pytest.mark.parametrize("rid", ["KS-WL-006", "KS-WL-007", "KS-WL-009", "KS-WL-013"])
def test_image_exemptions_never_switch_pod_level_checks_off(rid):
    """Issue 14: exempting every image of a pod used to skip hostNetwork/hostPID/hostIPC/hostPath in CEL and audit."""
    pod = copy.deepcopy(BAD_POD)
    pod["containers"].append({"name": "other", "image": "registry.example.com/x/other:1"})
    pod["volumes"] = [{"name": "root", "hostPath": {"path": "/"}}]
    pod["hostNetwork"] = True
    every = {rid: {"exclude_images": ["nginx", "registry.example.com/"]}}
    obj = workload(pod, namespace="default")
    assert cel_denies(policies(deny_all(every))[rid], obj)[0]
    assert rid in audit_failing(obj, deny_all(every))
    assert disagreements([obj], every) == []
    assert "allExempt" not in json.dumps(policies(deny_all(every))[rid])


@pytest.mark.parametrize(
    "env",
    [
        {"name": "DB_PASSWORD", "value": "changeme"},
        {"name": "db_password", "value": "changeme"},
        {"name": "DATABASE_URL", "value": "postgres://app:s3cret@db/app"},
        {"name": "DATABASE_URL", "value": "postgres://db"},
        {"name": "DB_PASSWORD_FILE", "value": "/run/secrets/db"},
        {"name": "DB_PASSWORD", "value": "$(FROM_FILE)"},
        {"name": "DB_PASSWORD", "value": "$(FROM_FILE)\n"},
        {"name": "PWD", "value": "/srv"},
        {"name": "TOKEN\n", "value": "x"},
        {"name": "X_PWD\n", "value": "x"},
        {"name": "MODE", "value": "prod"},
    ],
)
def test_literal_secret_env_cel_equals_audit(env):
    """Issue 15: the literal-secret case of KS-WL-019 is enforced with the audit's patterns (RE2 == Python)."""
    obj = workload(mutate=lambda spec: spec["containers"][0].__setitem__("env", [env]))
    pair = policies(deny_all({}))["KS-WL-019"]
    deny = cel_denies(pair, obj)[0]
    assert deny == ("KS-WL-019" in audit_failing(obj, deny_all({})))
    assert deny == (wl_rules.literal_secret_env(env) is not None)
    assert disagreements([obj], {}) == []


def test_host_path_with_dot_dot_is_always_denied():
    """Documented divergence: CEL cannot normalize '..'; the API server refuses such hostPath paths anyway."""
    spec = copy.deepcopy(workload()["spec"]["template"]["spec"])
    spec["volumes"] = [{"name": "logs", "hostPath": {"path": "/var/log/../log/app"}}]
    rules = deny_all({"host_path": {"params": {"allowed_host_paths": [{"path_prefix": "/var/log"}]}}})
    obj = workload(spec)
    assert "KS-WL-007" not in audit_failing(obj, rules)
    deny, verdict = cel_denies(policies(rules)["KS-WL-007"], obj)
    assert deny and "hostPath volume logs" in verdict["messages"][0]


# ---------------------------------------------------------------------------------------------------------
# Parameters are literals: escaping, regular expressions, globs

# (No NUL: cel-expr-python cuts the strings it is given at a NUL; test_cel_string_round_trips_any_text covers it.)
HOSTILE = [
    "a'b",
    'a"b',
    "back\\slash",
    "new\nline",
    "tab\tand\r",
    "uni\u00e9\u2603\U0001f600",
    "') || true || ('",
    "\\' + 'x",
    "\u0001ctl",
    "\u007f\u0085\u2028",
    "${x}",
    "%s%d",
    "'",
    "\\",
]


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_cel_string_round_trips_any_text(text):
    literal = _vap.cel_string(text)
    assert literal.isascii() and "\n" not in literal
    assert EVALUATOR.eval(literal) == text  # read back (inputs are not used: the binding cuts strings at NUL)
    assert EVALUATOR.eval("size(%s)" % literal) == len(text)


def test_cel_string_refuses_lone_surrogates():
    with pytest.raises(ValueError, match="surrogate"):
        _vap.cel_string("x\ud800")


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_parameters_stay_literals(text):
    registry = "registry.example.com/" + text
    rules = deny_all(
        {
            "KS-WL-002": {"params": {"registries": [registry, "registry.example.com/app/"]}, "exclude_images": ["exempt/" + text]},
            "KS-WL-004": {"params": {"allowed_profiles": ["localhost/" + text, "runtime/default"]}},
            "KS-WL-020": {"params": {"disallowed_tags": [text]}},
            "KS-WL-021": {"params": {"admin_roles": [text], "allowed_subjects": [text]}},
            "KS-WL-011": {"params": {"ssl_redirect_annotations": {"x/" + text: text}}},
        }
    )
    pairs = policies(rules)
    for pair in pairs.values():
        for item in pair[0]["spec"].get("variables", []) + pair[0]["spec"].get("matchConditions", []):
            EVALUATOR.compile(item["expression"])
    images = {registry + ":1": False, "registry.example.com/other:1": True, "exempt/" + text: False, "registry.example.com/x" + text: True}
    for image, denied in images.items():
        obj = workload(mutate=lambda spec, image=image: spec["containers"][0].update(image=image))
        assert cel_denies(pairs["KS-WL-002"], obj)[0] is denied, image
    profile = workload(mutate=lambda spec: spec["containers"][0]["securityContext"].update(appArmorProfile={"type": "Localhost", "localhostProfile": text}))
    assert not cel_denies(pairs["KS-WL-004"], profile)[0]
    objects = [
        workload(mutate=lambda spec: spec["containers"][0].update(image="registry.example.com/a:" + text)),
        _binding("ClusterRoleBinding", "ClusterRole", text, [USER]),
        _binding("ClusterRoleBinding", "ClusterRole", text, [dict(USER, name=text)]),
        _ingress(["a.example.com"], ["a.example.com"], {"x/" + text: text}),
        _ingress(["a.example.com"], ["a.example.com"], {"x/" + text: text + "-no"}),
    ]
    for rid in ("KS-WL-002", "KS-WL-004", "KS-WL-020", "KS-WL-021", "KS-WL-011"):
        rules[rid].pop("mode")
    assert disagreements([*objects, profile], {rid: rules[rid] for rid in ("KS-WL-002", "KS-WL-004", "KS-WL-020", "KS-WL-021", "KS-WL-011")}) == []


@pytest.mark.parametrize(
    "pattern, what",
    [
        (r"^(?=x)", "look-ahead"),
        (r"^(?<!x)y", "look-behind"),
        (r"^(a)\1", "back reference"),
        (r"^a\Z", r"\Z"),
        (r"^a++", "possessive"),
        (r"^(?>a)", "atomic"),
        ("^(", "not a valid"),
    ],
)
def test_regexes_re2_cannot_run_are_refused_naming_rule_and_setting(pattern, what):
    with pytest.raises(_vap.EnforcementError) as info:
        _vap.build(rules=dict(TRUSTED, privileged={"mode": "deny", "exclude_images": [pattern]}))
    assert "KS-WL-015" in str(info.value) and what in str(info.value)


def test_regexes_re2_can_run_are_accepted_escaped_backslashes_included():
    assert _vap.check_re2(r"^\\1 literal", "x") and _vap.check_re2(r"^a\\Z", "x") and _vap.check_re2(r"^a+b?", "x")


@settings(max_examples=300, deadline=None)
@given(glob=st.text(st.sampled_from("ab-*?!9.^$+(|){}\\"), min_size=1, max_size=8), name=st.text(st.sampled_from("ab-9.!^$+(|){}\\"), max_size=8))
def test_glob_translation_matches_fnmatch(glob, name):
    import fnmatch

    pattern = _vap.glob_to_re2(glob)
    try:
        compiled = re.compile(pattern)
    except re.error:
        pytest.fail("glob %r gave the invalid pattern %r" % (glob, pattern))
    assert bool(compiled.search(name)) == fnmatch.fnmatchcase(name, glob), (glob, pattern)
    assert EVALUATOR.eval("object.matches(%s)" % _vap.cel_string(pattern), object=name) == bool(compiled.search(name))


def test_bracket_globs_are_refused():
    with pytest.raises(_vap.EnforcementError, match=r"KS-WL-015.*glob 'team-\[ab\]\*'.*'\^'"):
        _vap.build(rules=dict(TRUSTED, privileged={"mode": "deny", "exclude_namespaces": ["team-[ab]*"]}))


@pytest.mark.parametrize(
    "text, valid",
    [
        ("1.5G", True),
        ("200k", True),
        ("200K", False),
        ("Three", False),
        ("Mi", False),
        ("1,3G", False),
        ("10000k", True),
        ("1.3Gi", True),
        ("500m", True),
        (".5", True),
        ("5.", True),
        ("1e3", True),
        ("1E-3", True),
        ("1e", False),
        ("-1", True),
        ("", False),
        ("1 ", False),
        ("0x10", False),
    ],
)
def test_quantity_shim_accepts_what_kubernetes_accepts(text, valid):
    """The documented examples of the Kubernetes quantity library (and ParseQuantity edge cases)."""
    assert EVALUATOR.eval("isQuantity(%s)" % _vap.cel_string(text)) is valid


def test_quantity_shim_compares_like_kubernetes():
    assert EVALUATOR.eval("quantity('200M').compareTo(quantity('0.2G')) == 0")
    assert EVALUATOR.eval("quantity('50M').compareTo(quantity('50Mi')) == -1")
    assert EVALUATOR.eval("quantity('150Mi').isGreaterThan(quantity('100Mi'))")
    assert not EVALUATOR.eval("quantity('-1').isGreaterThan(quantity('0'))")


def test_find_shim():
    assert EVALUATOR.eval("'a.b..'.find('^.*[^.]') == 'a.b' && '...'.find('^.*[^.]') == ''")


# ---------------------------------------------------------------------------------------------------------
# The objects themselves

ALL_CONFIGS = [rules for _label, rules, _ns in CONFIGS] + OBJECT_CONFIGS
CEL_RESERVED = {
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
}


@pytest.mark.parametrize("index", range(len(ALL_CONFIGS)))
def test_every_generated_object_validates_strictly_against_kubernetes_1_33(index):
    result = _vap.build(rules=deny_all(ALL_CONFIGS[index]), exclude_namespaces=["monitoring", "team-*"], cluster="prod")
    assert len(result["objects"]) == 2 * len(_vap.ENFORCEABLE)
    for obj in result["objects"]:
        kubernetes_validate.validate(obj, "1.33", strict=True)
        assert len(obj["metadata"]["name"]) <= 253 and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", obj["metadata"]["name"])
        for validation in obj["spec"].get("validations", []):
            assert "\n" not in validation["message"] and validation["reason"] == "Forbidden"
        for item in obj["spec"].get("variables", []) + obj["spec"].get("matchConditions", []):
            # the API server wants CEL identifiers that are not reserved words (variables.<name>)
            assert re.fullmatch(r"[_a-zA-Z][_a-zA-Z0-9]*|[a-z0-9]([-a-z0-9]*[a-z0-9])?", item["name"])
            assert item["name"] not in CEL_RESERVED
        for item in obj["spec"].get("variables", []) + obj["spec"].get("validations", []):
            EVALUATOR.compile(item["expression"])


def test_generated_cel_uses_only_homogeneous_list_literals_of_literals():
    """The Kubernetes environment refuses mixed-type list literals; ours hold string or int literals only."""
    result = _vap.build(rules=deny_all(STRICT), cluster="prod")
    text = json.dumps(result["objects"])
    assert "cel.bind" not in text and ".?" not in text  # not in the Kubernetes VAP environment / not needed


def test_render_files_are_deterministic_and_load_back():
    result = _vap.build(rules=deny_all(STRICT), exclude_namespaces=["team-*"], cluster="prod")
    files = _vap.render_files(result, "prod")
    assert files == _vap.render_files(_vap.build(rules=deny_all(STRICT), exclude_namespaces=["team-*"], cluster="prod"), "prod")
    assert sorted(files) == sorted(_vap.file_name(RULES_BY_ID[rid]) for rid in _vap.ENFORCEABLE)
    assert all(_vap.owned_file(name) for name in files)
    assert not _vap.owned_file("kustomization.yaml") and not _vap.owned_file("ks-wl-001-x.yml")
    for name, text in files.items():
        assert text.startswith("# Rendered by kubesec.cluster.workload_enforcement for cluster prod")
        documents = list(yaml.safe_load_all(text))
        assert documents == result["files"][name]
        assert [doc["kind"] for doc in documents] == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
        assert "expression: |" in text  # multi-line CEL as YAML literal blocks


def test_bad_settings_fail_naming_the_rule():
    with pytest.raises(
        _vap.EnforcementError,
        match=r"rules.KS-WL-002 \(trusted_registries\) is in mode deny but "
        r"not configured: rules.KS-WL-002.params.registries is empty",
    ):
        _vap.build(rules={"KS-WL-002": {"mode": "deny"}})
    with pytest.raises(_vap.EnforcementError, match="unknown rule 'KS-WL-404'"):
        _vap.build(rules={"KS-WL-404": {}})
    with pytest.raises(_vap.EnforcementError, match=r"KS-WL-001 \(resource_limits\) params.max_cpu"):
        _vap.build(rules=dict(TRUSTED, **{"KS-WL-001": {"params": {"max_cpu": "lots"}}}))


def test_defaults_build_and_an_unconfigured_rule_is_not_generated():
    """Issue 21: with the defaults (KS-WL-002 without registries) the enforcement renders instead of failing."""
    result = _vap.build()
    assert result["objects"] == []
    assert {"id": "KS-WL-002", "name": "trusted_registries", "mode": "audit", "reason": "not configured (params.registries is empty)"} in result[
        "not_generated"
    ]
    audit_mode = _vap.build(rules={"KS-WL-015": {"mode": "deny"}}, audit_mode_policies=True)
    assert "KS-WL-002" not in {entry["id"] for entry in audit_mode["policies"]}
    assert {"KS-WL-015", "KS-WL-001"} <= {entry["id"] for entry in audit_mode["policies"]}


def test_docs_table_matches_the_module():
    text = (REPO / "docs" / "enforcement.md").read_text()
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\| (KS-WL-\d{3}) \| `([a-z_]+)` \| (yes|partial|no) \|", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    expected = {row["id"]: (row["name"], {True: "yes", "partial": "partial", False: "no"}[row["enforceable"]]) for row in _vap.enforceability()}
    assert rows == expected


# ---------------------------------------------------------------------------------------------------------
# Issue 17: the PSS and hygiene rules beyond the shared table


@pytest.mark.parametrize("case", KIND_DEPENDENT_CASES, ids=[case[0] for case in KIND_DEPENDENT_CASES])
def test_cel_agrees_with_audit_on_kind_dependent_cases(case):
    objects = [workload(kind=kind, mutate=case[3], name="c-" + kind.lower()) for kind in sorted(KIND_API)]
    assert disagreements(objects, _case_rules(case)) == []
    pair = policies(deny_all(_case_rules(case)))[case[1]]
    assert cel_denies(pair, workload(kind=case[2], mutate=case[3]))[0] == (case[5] is not None)


def test_cel_skips_probes_of_pods_a_job_controls_like_the_audit():
    pod = workload(kind="Pod", mutate=_delete((*C, "livenessProbe")))
    owned = copy.deepcopy(pod)
    owned["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": "n", "uid": "1", "controller": True}]
    assert disagreements([pod, owned], {}) == []
    pair = policies(deny_all({}))["KS-WL-029"]
    assert [cel_denies(pair, obj)[0] for obj in (pod, owned)] == [True, False]


@pytest.mark.parametrize("annotations, field", SECCOMP_ANNOTATION_CASES)
def test_seccomp_annotations_cel_equals_audit(annotations, field):
    objects = [workload(kind=kind, annotations=annotations, name="s-" + kind.lower()) for kind in sorted(KIND_API)]
    assert disagreements(objects, {}) == []
    pair = policies(deny_all({}))["KS-WL-024"]
    assert {cel_denies(pair, obj)[0] for obj in objects} == {field is not None}


def test_pss_fixture_is_denied_by_every_new_pss_rule():
    objects = [obj for obj in FIXTURE_OBJECTS if obj["metadata"].get("namespace") == "tuning"]
    assert len(objects) == 2
    pairs = policies(deny_all({}))
    denied = {
        rid
        for rid in ("KS-WL-022", "KS-WL-023", "KS-WL-024", "KS-WL-025", "KS-WL-026", "KS-WL-027", "KS-WL-028")
        if any(cel_denies(pairs[rid], obj)[0] for obj in objects)
    }
    assert denied == {"KS-WL-022", "KS-WL-023", "KS-WL-024", "KS-WL-025", "KS-WL-026", "KS-WL-027", "KS-WL-028"}


def test_system_namespaces_can_be_enforced_too():
    rules = deny_all({})
    _policy, binding = policies(rules)["KS-WL-015"]
    assert "kube-system" in binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0]["values"]
    result = _vap.build(rules=rules, cluster="test", include_system_namespaces=True)
    bindings = [obj for obj in result["objects"] if obj["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert bindings and all("matchResources" not in binding["spec"] for binding in bindings)
    agent = workload(BAD_POD, namespace="kube-system")
    policy = [obj for obj in result["objects"] if obj["metadata"]["name"] == "kubesec-ks-wl-015-privileged"]
    assert EVALUATOR.admit(policy[0], policy[1], agent)["allowed"] is False
