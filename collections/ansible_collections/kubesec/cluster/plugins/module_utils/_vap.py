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
field never raises "no such key". Standard library only (runs on Python 3.9+); PyYAML is optional (JSON documents
are written without it).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import json
import re

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._workload import resolve_settings
from ansible_collections.kubesec.cluster.plugins.module_utils._workload_rules import (
    BOOTSTRAP_CLUSTER_ROLES, BOOTSTRAP_LABEL, BOOTSTRAP_ROLES, CONTAINER_KINDS, ENV_REFERENCE, RULES, SECRET_ENV_NAME,
    SECRET_ENV_NAME_EXEMPT, SECRET_ENV_URL, RuleConfigError, compile_names, parse_port_list,
)

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

NOT_ENFORCEABLE = {
    "KS-WL-012": "When the pod spec leaves automountServiceAccountToken unset, the verdict depends on the pod's "
                 "ServiceAccount, a separate object an admission policy does not see (a policy requiring the "
                 "pod-level field would deny pods the audit passes).",
    "KS-WL-017": "A property of the cluster (its Kubernetes version and the support window), not of an admitted "
                 "object.",
    "KS-WL-018": "Needs the namespace's NetworkPolicies, other objects than the one being admitted; a namespace "
                 "is never created with its policies in the same request.",
}
PARTIAL = {
    "KS-WL-021": "Enforced on (Cluster)RoleBindings that grant an admin_roles ClusterRole, and on wildcard "
                 "(Cluster)Roles (admin_roles included; the API server's own roles, by exact name and the "
                 "rbac-defaults label, exempt) only with require_binding: false; a wildcard Role bound by a "
                 "separate binding needs both objects and stays with the audit.",
}
NOTES = {
    "KS-WL-007": "hostPath paths with a '..' segment are always denied: CEL cannot normalize them (the API server "
                 "refuses such paths anyway).",
    "KS-WL-013": "Checks the namespace the object is created in (metadata.namespace, which the API server fills from "
                 "the request); include_unset only matters for manifests without a namespace.",
}

_BOUNDARY = "/:@"
_RE2_UNSUPPORTED = (
    (re.compile(r"\(\?[=!]"), "look-ahead"),
    (re.compile(r"\(\?<[=!]"), "look-behind"),
    (re.compile(r"\(\?P="), "named back reference"),
    (re.compile(r"\(\?>"), "atomic group"),
    (re.compile(r"\(\?\("), "conditional group"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]"), "back reference"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\Z"), "\\Z (use $)"),
    (re.compile(r"[*+?}]\+"), "possessive quantifier"),
)


class EnforcementError(KubesecError, ValueError):
    """A setting cannot be turned into a policy (the message names the rule and the setting)."""


# ---------------------------------------------------------------------------------------------------------
# CEL literals

def cel_string(text):
    """A CEL string literal for ``text``: printable ASCII as is, everything else escaped (\\n, \\uXXXX, ...)."""
    if not isinstance(text, str):
        raise TypeError("cel_string needs a str, got %s" % type(text).__name__)
    out = ["'"]
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char == "'":
            out.append("\\'")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif 0x20 <= code < 0x7f:
            out.append(char)
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError("cannot write the lone surrogate U+%04X as CEL (not valid Unicode)" % code)
        elif code <= 0xFFFF:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    out.append("'")
    return "".join(out)


def cel_list(values):
    """A homogeneous CEL list literal of strings or of ints (the Kubernetes CEL environment refuses mixed ones)."""
    items = list(values)
    if all(isinstance(item, str) for item in items):
        return "[" + ", ".join(cel_string(item) for item in items) + "]"
    if all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        return "[" + ", ".join(str(item) for item in items) + "]"
    raise TypeError("cel_list needs only strings or only ints")


def re2_escape(text):
    """Escape the RE2 metacharacters of a literal."""
    return "".join("\\" + char if char in ".^$*+?()[]{}|\\" else char for char in text)


def check_re2(pattern, where):
    """Refuse regular expressions the API server's RE2 engine cannot run (they would fail policy creation)."""
    for regex, what in _RE2_UNSUPPORTED:
        if regex.search(pattern):
            raise EnforcementError("%s: %r uses %s, which RE2 (the regular-expression engine of Kubernetes CEL) "
                                   "does not support" % (where, pattern, what))
    try:
        re.compile(pattern)
    except re.error as exc:
        raise EnforcementError("%s: %r is not a valid regular expression: %s" % (where, pattern, exc)) from None
    return pattern


def glob_to_re2(glob, where="exclude_namespaces"):
    """fnmatch-style namespace glob (``team-*``, ``ci-?``) -> anchored RE2 pattern.

    Bracket expressions (``[ab]``) are refused: fnmatch's rules for them (ranges, ``!``, a leading ``]``) have no
    use for namespace names (letters, digits and '-') and a '^' regular expression says the same plainly.
    """
    if "[" in glob or "]" in glob:
        raise EnforcementError("%s: glob %r uses a bracket expression, which enforcement does not translate; write "
                               "it as a regular expression starting with '^'" % (where, glob))
    out = ["^"]
    for char in glob:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re2_escape(char))
    out.append("$")
    return "".join(out)


# ---------------------------------------------------------------------------------------------------------
# CEL building blocks. Each returns CEL text. `[x].exists(v, body)` binds v to x for body (a one-element list:
# standard macros only; cel.bind is not in the Kubernetes ValidatingAdmissionPolicy environment).

def _bind(name, expr, body):
    body = body.lstrip("\n ")
    if len(body) > 60 or "\n" in body:
        return "[%s].exists(%s,\n%s)" % (expr, name, body)
    return "[%s].exists(%s, %s)" % (expr, name, body)


def _get(base, key, default, leaf):
    """base.key when present and of type `leaf`, else default (base is known to be a map)."""
    return "(has(%s.%s) && type(%s.%s) == %s ? %s.%s : %s)" % (base, key, base, key, leaf, base, key, default)


def _path(base, keys, default, leaf):
    """base.k1.k2... with a has()/type() guard at every level."""
    parts, cur = [], base
    for key in keys:
        parts.append("has(%s.%s)" % (cur, key))
        cur = "%s.%s" % (cur, key)
        parts.append("type(%s) == %s" % (cur, "map" if key != keys[-1] else leaf))
    return "(%s ? %s : %s)" % (" && ".join(parts), cur, default)


def _is_true(expr):
    """_workload_rules.is_true: true, or the string 'true' (any case, blanks around)."""
    return "(%s == true || (type(%s) == string && %s.trim().lowerAscii() == 'true'))" % (expr, expr, expr)


def _is_false(expr):
    return "(%s == false || (type(%s) == string && %s.trim().lowerAscii() == 'false'))" % (expr, expr, expr)


def _true(base, key):
    return "(has(%s.%s) && %s)" % (base, key, _is_true("%s.%s" % (base, key)))


_INT_RE = cel_string(r"^\s*[+-]?[0-9]{1,18}\s*$")


def _is_int(expr):
    """Like _workload_rules.as_int: an int (not a bool) or a decimal string."""
    return "(type(%s) == int || (type(%s) == string && %s.matches(%s)))" % (expr, expr, expr, _INT_RE)


def _as_int(expr):
    return "(type(%s) == int ? %s : int(%s.trim()))" % (expr, expr, expr)


def _int_or_zero(base, key):
    value = "%s.%s" % (base, key)
    return "(has(%s) && %s ? %s : 0)" % (value, _is_int(value), _as_int(value))


def _caps_normalized(list_expr):
    """normalize_capability over a list: str, strip, upper case, without CAP_."""
    return ("%s.map(x, string(x).trim().upperAscii()).map(x, x.startsWith('CAP_') ? x.substring(4) : x)"
            % list_expr)


def _prefix_match(value, prefix):
    """_workload_rules.prefix_match with a literal prefix: at a '/', ':' or '@' boundary."""
    lit = cel_string(prefix)
    if prefix[-1] in _BOUNDARY:
        return "%s.startsWith(%s)" % (value, lit)
    size = len(prefix)
    return ("(%s.startsWith(%s) && (size(%s) == %d || %s.substring(%d, %d) in ['/', ':', '@']))"
            % (value, lit, value, size, value, size, size + 1))


def _image_matches(container, patterns, where):
    """match_image(<container>.image, patterns): each prefix or '^' regex against the image as written and against
    parse_image()'s normalized form (docker.io/library/nginx for nginx), computed here in CEL."""
    if not patterns:
        return "false"
    tests = []
    for text in patterns:
        if text.startswith("^"):
            tests.append("v.matches(%s)" % cel_string(check_re2(text, where)))
        else:
            tests.append(_prefix_match("v", text))
    raw = container + ".image"
    candidates = ("[string(%s), reg + '/' + (reg == 'docker.io' && !path.contains('/') ? 'library/' : '') + path + "
                  "(img.indexOf('@') >= 0 && img.indexOf('@') < size(img) - 1 ? img.substring(img.indexOf('@')) : '')]"
                  "\n  .exists(v, %s)" % (raw, " || ".join(tests)))
    normalized = _bind("path", "hr ? n.substring(n.indexOf('/') + 1) : n", candidates)
    normalized = _bind("reg", "r in ['index.docker.io', 'registry-1.docker.io'] ? 'docker.io' : r", normalized)
    normalized = _bind("r", "hr ? n.substring(0, n.indexOf('/')) : 'docker.io'", normalized)
    normalized = _bind("hr", "n.matches('^([^/]*[.:][^/]*|localhost)/')", normalized)
    normalized = _bind("n", "img.indexOf('@') >= 0 ? img.substring(0, img.indexOf('@')) : img", normalized)
    normalized = _bind("img", "%s.trim()" % raw, normalized)
    return "(has(%s) && type(%s) == string && %s.trim() != '' &&\n  %s)" % (raw, raw, raw, normalized)


def _name_matches(expr, names, where):
    """match_names for namespaces: exact, glob or '^' regex (CEL over a string expression)."""
    exact, tests = [], []
    for kind, text, _regex in compile_names(list(names), where):
        if kind == "regex":
            tests.append("%s.matches(%s)" % (expr, cel_string(check_re2(text, where))))
        elif kind == "glob":
            tests.append("%s.matches(%s)" % (expr, cel_string(glob_to_re2(text, where))))
        else:
            exact.append(text)
    if exact:
        tests.insert(0, "%s in %s" % (expr, cel_list(exact)))
    return "(" + " || ".join(tests) + ")" if tests else "false"


def _subject_matches(expr, patterns, where):
    """match_names for subjects (allowed_subjects): exact or '^' regex."""
    exact, tests = [], []
    for text in patterns:
        if text.startswith("^"):
            tests.append("%s.matches(%s)" % (expr, cel_string(check_re2(text, where))))
        else:
            exact.append(text)
    if exact:
        tests.insert(0, "%s in %s" % (expr, cel_list(exact)))
    return "(" + " || ".join(tests) + ")" if tests else "false"


def _host_path_regex(prefix):
    """RE2 pattern: the normalized form of a path (without '..') is the prefix or below it."""
    segments = [seg for seg in prefix.split("/") if seg]
    if not segments:
        return "^/"
    sep = "/(\\./|/)*"
    return "^" + "".join(sep + re2_escape(seg) for seg in segments) + "(/.*)?$"


# ---------------------------------------------------------------------------------------------------------
# Pod view shared by the pod rules (by shape: PodTemplate, CronJob, the template controllers, Pod)

def _pod_part(part):
    """The pod spec ('spec') or pod metadata ('metadata') of any pod controller, {} when absent."""
    own = "object.spec" if part == "spec" else _path("object", ["metadata"], "{}", "map")
    return ("has(object.template) && type(object.template) == map ? %s\n"
            ": !has(object.spec) || type(object.spec) != map ? %s\n"
            ": has(object.spec.jobTemplate) && type(object.spec.jobTemplate) == map ? %s\n"
            ": has(object.spec.template) && type(object.spec.template) == map ? %s\n"
            ": %s" % (_path("object.template", [part], "{}", "map"), "{}" if part == "spec" else own,
                      _path("object.spec.jobTemplate", ["spec", "template", part], "{}", "map"),
                      _path("object.spec.template", [part], "{}", "map"), own))


def _pod_variables(setting, where, resource_kinds=False):
    images = setting["exclude_images"]
    lists = ["%s" % _get("variables.spec", kind, "[]", "list") for kind in CONTAINER_KINDS]
    out = [
        ("spec", _pod_part("spec")),
        ("meta", _pod_part("metadata")),
        ("allContainers", "(%s)\n.filter(c, type(c) == map)" % "\n + ".join(lists)),
    ]
    exempt = _image_matches("c", images, where + ".exclude_images")
    if resource_kinds:  # KS-WL-001: ephemeral containers cannot have resources
        base = "(%s)\n.filter(c, type(c) == map)" % "\n + ".join(lists[:2])
    else:
        base = "variables.allContainers"
    # image exemptions drop containers only: the pod-level checks read variables.spec, whatever the images
    out.append(("containers", base if not images else "%s\n.filter(c, !%s)" % (base, exempt)))
    return out


def _per_container(bad, what):
    """Violations of the (not exempt) containers: `bad` may use c (the container) and sc (its securityContext)."""
    return ("variables.containers.filter(c, %s)\n.map(c, 'container ' + (has(c.name) && type(c.name) == string ? "
            "c.name : '?') + %s)" % (_bind("sc", _get("c", "securityContext", "{}", "map"), bad),
                                     cel_string(": " + what)))


# ---------------------------------------------------------------------------------------------------------
# Rules: each returns (extra variables, CEL list<string> of violations)

def _rule_limits(p, where):
    checks = []
    for res in ("cpu", "memory"):
        valid = "isQuantity(q) && quantity(q).isGreaterThan(quantity('0'))"
        maximum = p.get("max_%s" % res)
        if maximum is not None:
            valid += " && !quantity(q).isGreaterThan(quantity(%s))" % cel_string(str(maximum))
        checks.append("('%s' in lim && lim.%s != null && lim.%s != '' ? %s : %s)" % (
            res, res, res, _bind("q", "string(lim.%s)" % res, "!(%s)" % valid),
            "true" if p["require_%s" % res] else "false"))
    bad = _bind("lim", _path("c", ["resources", "limits"], "{}", "map"), "\n    " + "\n || ".join(checks))
    return [], _per_container(bad, "resources.limits.cpu/memory missing, not a positive quantity or above the "
                                   "maximum")


def _rule_registries(p, where):
    bad = "!%s" % _image_matches("c", p["registries"], where + ".params.registries")
    return [], _per_container(bad, "image is not from a trusted registry")


def _caps_bad(body):
    """Binds add and drop (normalized capability lists of sc.capabilities) for body."""
    caps = _get("sc", "capabilities", "{}", "map")
    return _bind("caps", caps, _bind("add", _caps_normalized(_get("caps", "add", "[]", "list")),
                                     _bind("drop", _caps_normalized(_get("caps", "drop", "[]", "list")), body)))


def _rule_capabilities(p, where):
    bad = []
    if "ALL" not in p["allowed_add"]:
        bad.append("!add.all(x, x in %s)" % cel_list(sorted(p["allowed_add"])))
    if p["required_drop"]:
        bad.append("(!('ALL' in drop) && !%s.all(x, x in drop))" % cel_list(sorted(p["required_drop"])))
    if not bad:
        return [], "[]"
    return [], _per_container(_caps_bad(" || ".join(bad)), "capabilities added beyond %s or not dropping %s" % (
        ", ".join(sorted(p["allowed_add"])) or "none", ", ".join(sorted(p["required_drop"])) or "-"))


_APPARMOR_FIELD = ("x.map(f, has(f.type) && f.type == 'RuntimeDefault' ? 'runtime/default' "
                   ": has(f.type) && f.type == 'Unconfined' ? 'unconfined' "
                   ": has(f.type) && f.type == 'Localhost' ? 'localhost/' + "
                   "(has(f.localhostProfile) && type(f.localhostProfile) == string ? f.localhostProfile : '') "
                   ": 'invalid:' + (has(f.type) && type(f.type) == string ? f.type : 'None'))")


def _apparmor_profiles(expr):
    """_apparmor_from_field: [] when expr (a map's field) is not a mapping, else [profile in annotation form]."""
    return "(type(%s) == map ? %s : [])" % (expr, _APPARMOR_FIELD.replace("x.map", "[%s].map" % expr))


def _rule_apparmor(p, where):
    psc = "variables.podSecurityContext"
    extra = [
        ("annotations", _get("variables.meta", "annotations", "{}", "map")),
        ("podSecurityContext", _get("variables.spec", "securityContext", "{}", "map")),
        ("podProfiles", "has(%s.appArmorProfile) ? %s : []" % (psc, _apparmor_profiles(psc + ".appArmorProfile"))),
    ]
    key = "'container.apparmor.security.beta.kubernetes.io/' + c.name"
    annotation = ("has(c.name) && type(c.name) == string && %s in variables.annotations && "
                  "variables.annotations[%s] != null" % (key, key))
    profiles = ("(has(sc.appArmorProfile) && type(sc.appArmorProfile) == map ? %s\n  : %s ? "
                "[string(variables.annotations[%s])]\n  : variables.podProfiles)"
                % (_apparmor_profiles("sc.appArmorProfile"), annotation, key))
    allowed = []
    for entry in p["allowed_profiles"]:
        if entry.endswith("*"):
            allowed.append("pr.startsWith(%s)" % cel_string(entry[:-1]))
        else:
            allowed.append("pr == %s" % cel_string(entry))
    macro = "all" if p["require_explicit"] else "exists"
    bad = "%s\n  .%s(pr, !(%s))" % (profiles, macro, " || ".join(allowed) or "false")
    return extra, _per_container(bad, "AppArmor profile not in %s" % ", ".join(p["allowed_profiles"]))


def _rule_host_network(p, where):
    extra = [("hostNetwork", _true("variables.spec", "hostNetwork"))]
    ports = ("%s.filter(pt, type(pt) == map)\n  .map(pt, [%s, %s])" % (
        _get("c", "ports", "[]", "list"), _int_or_zero("pt", "hostPort"), _int_or_zero("pt", "containerPort")))
    host = _bind("hp", "pp[0] != 0 ? pp[0] : (variables.hostNetwork ? pp[1] : 0)",
                 "hp != 0 && !(%d <= hp && hp <= %d)" % (p["min_port"], p["max_port"]))
    allowed = "none" if p["max_port"] == 0 else "%d-%d" % (p["min_port"], p["max_port"])
    pod = "[]" if p["allow_host_network"] else "(variables.hostNetwork ? ['spec.hostNetwork is true'] : [])"
    containers = _per_container("%s\n  .exists(pp, %s)" % (ports, host),
                                "host port outside the allowed range (%s)" % allowed)
    return extra, "%s\n+ %s" % (pod, containers)


def _rule_host_path(p, where):
    extra = [("volumes", "%s.filter(v, type(v) == map && has(v.hostPath))"
              % _get("variables.spec", "volumes", "[]", "list"))]
    rw = [_host_path_regex(e["path_prefix"]) for e in p["allowed_host_paths"] if not e["read_only"]]
    ro = [_host_path_regex(e["path_prefix"]) for e in p["allowed_host_paths"] if e["read_only"]]
    rw_ok = " || ".join("path.matches(%s)" % cel_string(rx) for rx in rw) or "false"
    ro_ok = " || ".join("path.matches(%s)" % cel_string(rx) for rx in ro) or "false"
    read_only = ("variables.containers.all(c, %s.all(m, !(type(m) == map && has(m.name) && has(v.name) && "
                 "m.name == v.name) || %s))" % (_get("c", "volumeMounts", "[]", "list"), _true("m", "readOnly")))
    checks = "path.matches('(^|/)\\\\.\\\\.(/|$)')\n    || !((%s) || ((%s) && %s))" % (rw_ok, ro_ok, read_only)
    bad = ("type(v.hostPath) == map && has(v.hostPath.path) && type(v.hostPath.path) == string && "
           "v.hostPath.path.startsWith('/')\n  ? %s\n  : true" % _bind("path", "v.hostPath.path", checks))
    allowed = ", ".join(e["path_prefix"] + (" (read-only)" if e["read_only"] else "")
                        for e in p["allowed_host_paths"]) or "none"
    return extra, ("variables.volumes.filter(v,\n  %s)\n.map(v, 'hostPath volume ' + (has(v.name) && type(v.name) "
                   "== string ? v.name : '?') + %s)" % (bad, cel_string(
                       ": path not allowed or not mounted read-only (allowed: %s)" % allowed)))


def _rule_privilege_escalation(p, where):
    bad = "%s\n  || %s\n  || !(has(sc.allowPrivilegeEscalation) && %s)" % (
        _true("sc", "privileged"), _caps_bad("add.exists(x, x in ['SYS_ADMIN', 'ALL'])"),
        _is_false("sc.allowPrivilegeEscalation"))
    return [], _per_container(bad, "allowPrivilegeEscalation is not false (or privileged / CAP_SYS_ADMIN)")


def _rule_host_namespaces(p, where):
    return [], "\n+ ".join("(%s ? ['spec.%s is true'] : [])" % (_true("variables.spec", key), key)
                           for key in ("hostPID", "hostIPC"))


def _rule_read_only_root(p, where):
    return [], _per_container("!%s" % _true("sc", "readOnlyRootFilesystem"), "readOnlyRootFilesystem is not true")


def _rule_default_namespace(p, where):
    given = ("has(object.metadata) && type(object.metadata) == map && has(object.metadata.namespace) && "
             "type(object.metadata.namespace) == string && object.metadata.namespace != ''")
    unset = "true" if p["include_unset"] else "false"
    bad = "(%s\n  ? object.metadata.namespace == 'default'\n  : %s)" % (given, unset)
    return [], "%s ? ['the workload is in the default namespace'] : []" % bad


def _rule_sys_admin(p, where):
    return [], _per_container(_caps_bad("add.exists(x, x in ['SYS_ADMIN', 'ALL'])"),
                              "capabilities.add contains SYS_ADMIN or ALL")


def _rule_privileged(p, where):
    return [], _per_container(_true("sc", "privileged"), "privileged is true")


def _rule_run_as_non_root(p, where):
    extra = [("podSecurityContext", _get("variables.spec", "securityContext", "{}", "map"))]
    psc = "variables.podSecurityContext"
    user = ("has(sc.runAsUser) && sc.runAsUser != null ? sc.runAsUser : (has(%s.runAsUser) ? %s.runAsUser : null)"
            % (psc, psc))
    non_root = ("has(sc.runAsNonRoot) && sc.runAsNonRoot != null ? sc.runAsNonRoot "
                ": (has(%s.runAsNonRoot) ? %s.runAsNonRoot : null)" % (psc, psc))
    strict = " || !%s" % _is_true("nr") if p["require_run_as_non_root"] else ""
    body = "u != null\n    ? !%s || %s <= 0%s\n    : !%s" % (_is_int("u"), _as_int("u"), strict, _is_true("nr"))
    return extra, _per_container(_bind("u", user, _bind("nr", non_root, body)),
                                 "may run as root (runAsUser 0 or unset without runAsNonRoot: true)")


def _rule_secrets_in_env(p, where):
    # _workload_rules.literal_secret_env: a non-empty literal value (not only a $(VAR) reference) under a
    # secret-looking name, or a URL with a password; the same RE2-compatible patterns as the audit
    patterns = (cel_string(ENV_REFERENCE), cel_string(SECRET_ENV_NAME), cel_string(SECRET_ENV_NAME_EXEMPT),
                cel_string(SECRET_ENV_URL))
    literal = ("has(e.value) && type(e.value) == string && size(e.value) > 0 && !e.value.matches(%s) &&\n"
               "    ((has(e.name) && type(e.name) == string && e.name.matches(%s) && !e.name.matches(%s))\n"
               "     || e.value.matches(%s))" % patterns)
    bad = ("%s.exists(e, type(e) == map && (%s\n  || %s))\n  || "
           "%s.exists(s, type(s) == map && has(s.secretRef) && type(s.secretRef) == map && size(s.secretRef) > 0)"
           % (_get("c", "env", "[]", "list"), _bind("r", _path("e", ["valueFrom", "secretKeyRef"], "{}", "map"),
                                                    "size(r) > 0"), literal, _get("c", "envFrom", "[]", "list")))
    return [], _per_container(bad, "a secret is passed as environment variable (written into the manifest, or "
                                   "env secretKeyRef / envFrom secretRef)")


def _rule_image_tag(p, where):
    digest = "img.indexOf('@') >= 0 && img.indexOf('@') < size(img) - 1"
    if p["require_digest"]:
        unpinned = "!(%s)" % digest
    else:
        unpinned = _bind("n", "img.indexOf('@') >= 0 ? img.substring(0, img.indexOf('@')) : img",
                         "!(%s) && (n.lastIndexOf(':') <= n.lastIndexOf('/') || "
                         "n.substring(n.lastIndexOf(':') + 1) in %s)" % (digest, cel_list(p["disallowed_tags"])))
    bad = ("has(c.image) && type(c.image) == string && c.image.trim() != ''\n  ? %s\n  : true"
           % _bind("img", "c.image.trim()", unpinned))
    what = "image not pinned by digest" if p["require_digest"] else \
        "image has no tag or a disallowed tag (%s) and no digest" % ", ".join(p["disallowed_tags"])
    return [], _per_container(bad, what)


def _rule_service_ports(p, where):
    extra = [("spec", _get("object", "spec", "{}", "map")),
             ("serviceType", "has(variables.spec.type) && variables.spec.type != null && variables.spec.type != '' ? "
                             "variables.spec.type : 'ClusterIP'")]
    ranges = " || ".join("(%d <= n && n <= %d)" % (low, high)
                         for low, high in parse_port_list(p["allowed_ports"], where + ".params.allowed_ports"))
    port = "type(pt) == map && has(pt.port) && %s" % _is_int("pt.port")
    listed = ("(variables.serviceType in %s\n  ? %s.filter(pt, !(%s && %s))\n    .map(pt, 'port ' + (%s ? string(%s) : '?') "
              "+ ' is not allowed')\n  : [])" % (
                  cel_list(p["service_types"]), _get("variables.spec", "ports", "[]", "list"), port,
                  _bind("n", _as_int("pt.port"), ranges or "false"), port, _as_int("pt.port")))
    node_port = "[]" if p["allow_node_port"] else "(variables.serviceType == 'NodePort' ? ['type NodePort'] : [])"
    return extra, "%s\n+ %s" % (node_port, listed)


def _rule_ingress_https(p, where):
    extra = [
        ("spec", _get("object", "spec", "{}", "map")),
        ("annotations", _path("object", ["metadata", "annotations"], "{}", "map")),
        ("tls", _get("variables.spec", "tls", "[]", "list")),
    ]
    # host_matches_tls: lower case, trailing dots removed (Kubernetes regex library find), '*.' covers one label
    covered = _bind("h", "r.host.lowerAscii().find('^.*[^.]')", (
        "variables.tls.exists(t, type(t) == map && has(t.hosts) && type(t.hosts) == list &&\n"
        "    t.hosts.exists(th, type(th) == string && %s))" % _bind(
            "tk", "th.lowerAscii().find('^.*[^.]')",
            "h == tk || (tk.startsWith('*.') && h.indexOf('.') > 0 && h.substring(h.indexOf('.') + 1) == "
            "tk.substring(2))")))
    uncovered = ("%s\n    .filter(r, type(r) == map && has(r.host) && type(r.host) == string && r.host != '' && "
                 "!%s)\n    .map(r, 'host ' + r.host + ' is not covered by spec.tls')"
                 % (_get("variables.spec", "rules", "[]", "list"), covered))
    # a TLS entry without hosts covers every host with the controller's default certificate (Ingress API)
    default_cert = ("variables.tls.exists(t, type(t) == map && !(has(t.hosts) && type(t.hosts) == list && "
                    "size(t.hosts) > 0))")
    parts = ["(size(variables.tls) == 0\n  ? ['no spec.tls: the Ingress serves plain HTTP']\n  : %s ? []\n  : %s)"
             % (default_cert, uncovered)]
    good = []
    for key, wanted in sorted(p["ssl_redirect_annotations"].items()):
        value = "variables.annotations[%s]" % cel_string(key)
        matches = _bind("a", value, "(type(a) == bool ? (a ? 'true' : 'false') : string(a)).trim().lowerAscii() == %s"
                        % cel_string(wanted.lower()))
        present = "%s in variables.annotations" % cel_string(key)
        good.append("(%s && %s)" % (present, matches))
        parts.append("(%s && !%s\n  ? [%s] : [])" % (present, matches, cel_string(
            "annotation %s turns HTTPS-only off (expected %s)" % (key, wanted))))
    if p["require_ssl_redirect"]:
        parts.append("(%s ? [] : ['no HTTPS redirect annotation is set'])" % (" || ".join(good) or "false"))
    return extra, "\n+ ".join(parts)


def _rule_rbac(p, where, excluded):
    extra = [("bindingNamespace", "has(object.metadata) && type(object.metadata) == map && "
                                  "has(object.metadata.namespace) && type(object.metadata.namespace) == string ? "
                                  "object.metadata.namespace : ''"),
             ("roleRef", _get("object", "roleRef", "{}", "map"))]
    # subjects: (identity, system?) like _workload._audit_rbac's subjects_of
    system = "sa ? ns != '' && %s : name.startsWith('system:')" % _name_matches(
        "ns", excluded, where + ".exclude_namespaces")
    exempt = _subject_matches("id", p["allowed_subjects"], where + ".params.allowed_subjects")
    if p["ignore_system_subjects"]:
        exempt = "(%s) || %s" % (system, exempt)
    identity = _bind("sa", "has(s.kind) && s.kind == 'ServiceAccount'", _bind(
        "name", "has(s.name) && type(s.name) == string ? s.name : ''", _bind(
            "ns", "has(s.namespace) && type(s.namespace) == string && s.namespace != '' ? s.namespace "
                  ": variables.bindingNamespace",
            _bind("id", "sa ? 'system:serviceaccount:' + ns + ':' + name : name", "!(%s)" % exempt))))
    subjects = _get("object", "subjects", "[]", "list")
    extra.append(("risky", "has(object.roleRef)\n  ? %s\n    .filter(s, type(s) != map || %s)\n    "
                           ".map(s, type(s) == map && has(s.name) && type(s.name) == string ? s.name : '?')\n  : []"
                  % (subjects, identity)))
    admin = ("has(variables.roleRef.kind) && variables.roleRef.kind == 'ClusterRole' && has(variables.roleRef.name) "
             "&& variables.roleRef.name in %s" % cel_list(p["admin_roles"]))
    parts = ["(has(object.roleRef) && %s && size(variables.risky) > 0\n  ? ['grants ClusterRole ' + "
             "string(variables.roleRef.name) + ' to ' + variables.risky.join(', ')]\n  : [])" % admin]
    if not p["require_binding"]:
        role_name = ("(has(object.metadata) && type(object.metadata) == map && has(object.metadata.name) && "
                     "type(object.metadata.name) == string ? object.metadata.name : '')")
        # admin_roles are wildcard roles like any other here; only the API server's own roles are exempt, by exact
        # name and the rbac-defaults label (_workload_rules.is_bootstrap_role)
        skip = "false"
        if p["ignore_system_subjects"]:
            role_ns = ("(has(object.metadata) && type(object.metadata) == map && has(object.metadata.namespace) && "
                       "type(object.metadata.namespace) == string ? object.metadata.namespace : '')")
            labelled = ("(has(object.metadata) && type(object.metadata) == map && has(object.metadata.labels) && "
                        "type(object.metadata.labels) == map && %s in object.metadata.labels && "
                        "object.metadata.labels[%s] == %s)" % (cel_string(BOOTSTRAP_LABEL[0]),
                                                               cel_string(BOOTSTRAP_LABEL[0]),
                                                               cel_string(BOOTSTRAP_LABEL[1])))
            roles = sorted("%s/%s" % (ns, name) for ns, names in BOOTSTRAP_ROLES.items() for name in names)
            skip = ("(%s && (request.kind.kind == 'ClusterRole' ? %s in %s\n    : %s + '/' + %s in %s))"
                    % (labelled, role_name, cel_list(sorted(BOOTSTRAP_CLUSTER_ROLES)), role_ns, role_name,
                       cel_list(roles)))
        wild = ("%s.exists(r, type(r) == map && ((has(r.verbs) && type(r.verbs) == list && '*' in r.verbs) || "
                "(has(r.resources) && type(r.resources) == list && '*' in r.resources)))"
                % _get("object", "rules", "[]", "list"))
        parts.append("(!has(object.roleRef) && !%s && %s\n  ? ['a rule allows * verbs or resources'] : [])"
                     % (skip, wild))
    return extra, "\n+ ".join(parts)


POD_RULES = {
    "KS-WL-001": _rule_limits, "KS-WL-002": _rule_registries, "KS-WL-003": _rule_capabilities,
    "KS-WL-004": _rule_apparmor, "KS-WL-006": _rule_host_network, "KS-WL-007": _rule_host_path,
    "KS-WL-008": _rule_privilege_escalation, "KS-WL-009": _rule_host_namespaces,
    "KS-WL-010": _rule_read_only_root, "KS-WL-013": _rule_default_namespace, "KS-WL-014": _rule_sys_admin,
    "KS-WL-015": _rule_privileged, "KS-WL-016": _rule_run_as_non_root, "KS-WL-019": _rule_secrets_in_env,
    "KS-WL-020": _rule_image_tag,
}
OBJECT_RULES = {"KS-WL-005": ("Service", _rule_service_ports), "KS-WL-011": ("Ingress", _rule_ingress_https)}
RBAC_RULE = "KS-WL-021"
ENFORCEABLE = tuple(sorted(set(POD_RULES) | set(OBJECT_RULES) | {RBAC_RULE}))


def enforceability():
    """[{id, name, enforceable, target, note}] for every rule: the table of docs/enforcement.md."""
    out = []
    for rule in RULES:
        rid = rule["id"]
        if rid in NOT_ENFORCEABLE:
            out.append({"id": rid, "name": rule["name"], "enforceable": False, "target": None,
                        "note": NOT_ENFORCEABLE[rid]})
            continue
        if rid in POD_RULES:
            target = "pod controllers"
        elif rid in OBJECT_RULES:
            target = {"Service": "Services", "Ingress": "Ingresses"}[OBJECT_RULES[rid][0]]
        else:
            target = "(Cluster)RoleBindings, (Cluster)Roles"
        out.append({"id": rid, "name": rule["name"], "enforceable": "partial" if rid in PARTIAL else True,
                    "target": target, "note": PARTIAL.get(rid) or NOTES.get(rid)})
    return out


# ---------------------------------------------------------------------------------------------------------
# Objects

def object_name(rule):
    return "%s-%s-%s" % (NAME_PREFIX, rule["id"].lower(), rule["name"].replace("_", "-"))


def file_name(rule):
    return "%s-%s.yaml" % (rule["id"].lower(), rule["name"].replace("_", "-"))


def _resource_rules(groups):
    return [{"apiGroups": [group], "apiVersions": ["*"], "operations": list(OPERATIONS),
             "resources": list(resources)} for group, resources in groups]


def _rbac_resources(p):
    resources = ["clusterrolebindings", "rolebindings"]
    if not p["require_binding"]:
        resources = ["clusterrolebindings", "clusterroles", "rolebindings", "roles"]
    return (("rbac.authorization.k8s.io", tuple(resources)),)


_LABEL_VALUE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _namespace_split(names, where):
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
        condition = "request.namespace == '' || !%s" % _name_matches("request.namespace", others, where)
    return exact, condition


# Fields whose change makes an UPDATE worth checking, per target (the rest is metadata or status).
CHECKED_FIELDS = {
    "pod": (("spec", "{}"), ("template", "{}")),
    "Service": (("spec", "{}"),),
    "Ingress": (("spec", "{}"), ("metadata.annotations", "{}")),
    "RBAC": (("roleRef", "{}"), ("subjects", "[]"), ("rules", "[]")),
}


def _changed_condition(target):
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
            guard = " && ".join("has(%s.%s)" % (".".join([root, *parts[:index - 1]]), key)
                                for index, key in enumerate(parts, 1))
            sides.append("(%s ? %s.%s : %s)" % (guard, root, field, empty))
        changes.append("%s != %s" % tuple(sides))
    return ("request.operation != 'UPDATE'\n|| (!(has(object.metadata) && has(object.metadata.deletionTimestamp)) "
            "&& (\n  %s))" % "\n  || ".join(changes))


def _labels(rule, cluster, mode):
    labels = dict(MANAGED_LABELS)
    labels["kubesec.io/rule"] = rule["id"]
    labels["kubesec.io/mode"] = mode
    if cluster:
        labels["kubesec.io/cluster"] = cluster
    return labels


def _policy(rule, setting, cluster):
    rid = rule["id"]
    where = "rules.%s (%s)" % (rid, rule["name"])
    params = setting["params"]
    if rid in POD_RULES:
        variables = _pod_variables(setting, where, resource_kinds=(rid == "KS-WL-001"))
        extra, violations = POD_RULES[rid](params, where)
        variables.extend(extra)
        resources = TARGETS["pod"]
        kind = "pod"
    elif rid in OBJECT_RULES:
        kind, builder = OBJECT_RULES[rid]
        variables, violations = builder(params, where)
        resources = TARGETS[kind]
    else:
        kind = "RBAC"
        variables, violations = _rule_rbac(params, where, setting["exclude_namespaces"])
        resources = _rbac_resources(params)
    variables = [*variables, ("violations", violations)]
    title = rule["title"]
    spec = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": _resource_rules(resources)},
        "variables": [{"name": name, "expression": expression} for name, expression in variables],
        "validations": [{
            "expression": "size(variables.violations) == 0",
            "message": "%s %s: %s" % (rid, rule["name"], title),
            "messageExpression": "%s + variables.violations.join('; ')" % cel_string("%s %s: " % (rid, title)),
            "reason": "Forbidden",
        }],
    }
    exact, condition = _namespace_split(setting["exclude_namespaces"], where + ".exclude_namespaces")
    spec["matchConditions"] = [{"name": "changed-on-update", "expression": _changed_condition(kind)}]
    if condition:
        spec["matchConditions"].insert(0, {"name": "exclude-namespaces", "expression": condition})
    return spec, exact


def _objects_for(rule, setting, cluster, mode):
    spec, exact = _policy(rule, setting, cluster)
    name = object_name(rule)
    annotations = {"kubesec.io/title": rule["title"], "kubesec.io/severity": rule["severity"],
                   "kubesec.io/remediation": rule["remediation"]}
    if rule["id"] in PARTIAL or rule["id"] in NOTES:
        annotations["kubesec.io/coverage"] = PARTIAL.get(rule["id"]) or NOTES[rule["id"]]
    policy = {"apiVersion": API_VERSION, "kind": "ValidatingAdmissionPolicy",
              "metadata": {"name": name, "labels": _labels(rule, cluster, mode), "annotations": annotations},
              "spec": spec}
    binding_spec = {"policyName": name, "validationActions": list(VALIDATION_ACTIONS[mode])}
    if exact:
        binding_spec["matchResources"] = {"namespaceSelector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": sorted(exact)}]}}
    binding = {"apiVersion": API_VERSION, "kind": "ValidatingAdmissionPolicyBinding",
               "metadata": {"name": name, "labels": _labels(rule, cluster, mode)},
               "spec": binding_spec}
    return policy, binding


def build(rules=None, exclude_namespaces=None, cluster=None, audit_mode_policies=False):
    """Policies and bindings for the given rule settings (same shape as workload_audit's ``rules``)."""
    try:
        settings = resolve_settings(rules, exclude_namespaces)
    except RuleConfigError as exc:
        raise EnforcementError(str(exc)) from None
    result = {"objects": [], "policies": [], "not_enforceable": [], "not_generated": [], "absent": [],
              "files": {}}
    for rule in RULES:
        rid = rule["id"]
        setting = settings[rid]
        mode = setting["mode"]
        entry = {"id": rid, "name": rule["name"], "mode": mode}
        generate = setting["enabled"] and (mode in ("deny", "warn") or (mode == "audit" and audit_mode_policies))
        if generate and setting["missing"] and rid not in NOT_ENFORCEABLE:
            missing = ", ".join("rules.%s.params.%s" % (rid, name) for name in setting["missing"])
            if mode in ("deny", "warn"):  # a policy without its parameters would refuse every object
                raise EnforcementError("rules.%s (%s) is in mode %s but not configured: %s is empty, so the policy "
                                       "would refuse every %s; set it or put the rule in mode audit"
                                       % (rid, rule["name"], mode, missing,
                                          "image" if rid == "KS-WL-002" else "object"))
            generate = False
        if rid in NOT_ENFORCEABLE:
            if setting["enabled"] and mode in ("deny", "warn"):
                result["not_enforceable"].append(dict(entry, reason=NOT_ENFORCEABLE[rid]))
            generate = False
        if not generate:
            reason = "disabled" if not setting["enabled"] else (
                "not enforceable" if rid in NOT_ENFORCEABLE else
                "not configured (%s is empty)" % ", ".join("params." + name for name in setting["missing"])
                if setting["missing"] else "mode audit (the workload_audit module reports it)")
            result["not_generated"].append(dict(entry, reason=reason))
            for kind in ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"):
                result["absent"].append({"apiVersion": API_VERSION, "kind": kind, "name": object_name(rule)})
            continue
        policy, binding = _objects_for(rule, setting, cluster, mode)
        name = file_name(rule)
        result["objects"].extend([policy, binding])
        result["files"][name] = [policy, binding]
        result["policies"].append(dict(entry, policy=policy["metadata"]["name"], file=name,
                                       validation_actions=binding["spec"]["validationActions"],
                                       excluded_namespaces=sorted(setting["exclude_namespaces"]),
                                       excluded_images=list(setting["exclude_images"]),
                                       coverage=PARTIAL.get(rid) or NOTES.get(rid)))
    return result


# ---------------------------------------------------------------------------------------------------------
# Files

if HAS_YAML:
    class _Dumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
        """No aliases; multi-line strings (CEL expressions) as literal blocks."""

        def ignore_aliases(self, data):
            return True

    def _str_representer(dumper, data):
        if "\n" in data:
            return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return dumper.represent_scalar("tag:yaml.org,2002:str", data)

    _Dumper.add_representer(str, _str_representer)


def dump_documents(documents, header):
    """Deterministic multi-document YAML (sorted keys) with a comment header; JSON documents without PyYAML."""
    lines = [("# " + line).rstrip() for line in header.splitlines()]
    parts = ["\n".join(lines) + "\n" if lines else ""]
    for document in documents:
        if HAS_YAML:
            body = yaml.dump(document, Dumper=_Dumper, default_flow_style=False, sort_keys=True,
                             allow_unicode=True, width=120)
        else:  # pragma: no cover
            body = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        parts.append("---\n" + body)
    return "".join(parts)


def render_files(result, cluster):
    """{file name: text} for build()'s result."""
    out = {}
    for name, documents in sorted(result["files"].items()):
        policy = documents[0]
        header = ("Rendered by kubesec.cluster.workload_enforcement for cluster %s: rule %s (%s), mode %s.\n"
                  "ValidatingAdmissionPolicy + binding (admissionregistration.k8s.io/v1, Kubernetes >= %s).\n"
                  "Do not edit: change the rule settings in the inventory and render again."
                  % (cluster or "-", policy["metadata"]["labels"]["kubesec.io/rule"],
                     policy["metadata"]["annotations"]["kubesec.io/title"],
                     policy["metadata"]["labels"]["kubesec.io/mode"], MIN_KUBERNETES))
        out[name] = dump_documents(documents, header)
    return out


def owned_file(name):
    """True for file names this module writes (other files in the directory are left alone)."""
    return bool(FILE_RE.match(name))
