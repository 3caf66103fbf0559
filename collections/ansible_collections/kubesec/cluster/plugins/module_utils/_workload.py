# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workload audit engine: load manifests, walk every pod spec, apply the KS-WL rules, build findings.

Private module_utils (leading underscore): the API may change between minor releases.

Public functions (plain Python, no AnsibleModule):

``load_manifests(path)``
    Objects from a manifest file or a directory tree (``*.yaml``, ``*.yml``, ``*.json``; hidden directories are
    skipped): multi-document YAML (Helm output with ``---`` and comments), JSON. Returns
    ``(objects, origins, warnings)``; ``origins[i]`` is ``{"file": ..., "document": n}`` (1-based). ``List``
    kinds are expanded later, by ``audit``. Raises ``ManifestError`` naming the file and document.
``resolve_settings(rules=None, exclude_namespaces=None)``
    The effective rule settings (defaults merged with the user's); raises ``RuleConfigError`` naming the rule
    and parameter.
``iter_workloads(objects, origins=None)``
    One dict per pod controller (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
    ReplicationController, PodTemplate) with its pod view and container views (containers, initContainers,
    ephemeralContainers). Objects controlled by another controller of the input are skipped (``owned_by`` set).
``pod_spec_of(obj)``
    ``(pod spec, spec path, pod metadata, metadata path)`` of a pod controller, else ``None``.
``iter_containers(pod_spec, spec_path)``
    Container views of one pod spec.
``audit(objects, rules=None, exclude_namespaces=None, cluster=None, kubernetes_version=None,
include_passed=False, today=None, origins=None)``
    The whole evaluation. ``objects`` is a list of dicts from any source (files, the API through
    ``_kube.list_all``, a playbook). Returns ``{"findings", "workloads", "rules", "summary", "warnings",
    "input_errors"}``; ``input_errors`` lists the objects that are not valid Kubernetes objects of a kind the rules
    read (``_workload_input.check_object``), with where they are and why.
``input_error_text(record)``
    One line for an ``input_errors`` record (file, document, kind, name, why).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import json
import os

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITY_ORDER, make_finding
from ansible_collections.kubesec.cluster.plugins.module_utils import _k8s_releases as releases
from ansible_collections.kubesec.cluster.plugins.module_utils._workload_input import check_object
from ansible_collections.kubesec.cluster.plugins.module_utils._workload_rules import (
    CONTAINER_CHECKS, CONTAINER_KINDS, DEFAULT_EXCLUDED_NAMESPACES, KSV_RULE_MAP, MODES, OBJECT_CHECKS, POD_CHECKS,
    PSS, RULE_SETTING_KEYS, RULES, RULES_BY_ID, RULES_BY_NAME, RuleConfigError, as_dict, as_list, coerce_param,
    compile_names, compile_params, compile_patterns, is_bootstrap_role, is_true, ksv_url, match_image, match_names,
    short, violation,
)

from ansible_collections.kubesec.cluster.plugins.module_utils._safeyaml import (
    YAML_IMPORT_ERROR, YAML_LOADER as _YAML_LOADER, yaml)

__all__ = ("ManifestError", "RuleConfigError", "audit", "global_excluded_namespaces", "input_error_text",
           "iter_containers", "iter_workloads", "ksv_rule", "load_manifests", "pod_spec_of", "resolve_settings")

SOURCE = "workload"
MANIFEST_EXTENSIONS = (".yaml", ".yml", ".json")
MAX_VIOLATIONS_IN_EVIDENCE = 50
MAX_LIST_DEPTH = 4
MAX_INPUT_ERRORS = 200  # records kept in the result; summary.input_errors counts them all

# kind -> (API groups it may come from, path of the pod spec, path of the pod metadata)
_TEMPLATE = (("spec", "template", "spec"), ("spec", "template", "metadata"))
POD_CONTROLLERS = {
    "Pod": (("",), ("spec",), ("metadata",)),
    "PodTemplate": (("",), ("template", "spec"), ("template", "metadata")),
    "ReplicationController": (("",), *_TEMPLATE),
    "Deployment": (("apps", "extensions"), *_TEMPLATE),
    "ReplicaSet": (("apps", "extensions"), *_TEMPLATE),
    "DaemonSet": (("apps", "extensions"), *_TEMPLATE),
    "StatefulSet": (("apps",), *_TEMPLATE),
    "Job": (("batch",), *_TEMPLATE),
    "CronJob": (("batch",), ("spec", "jobTemplate", "spec", "template", "spec"),
                ("spec", "jobTemplate", "spec", "template", "metadata")),
}
RBAC_GROUP = "rbac.authorization.k8s.io"


class ManifestError(KubesecError, ValueError):
    """A manifest could not be read (the message names the file, the document and the position)."""


# ---------------------------------------------------------------------------------------------------------
# Loading

def _manifest_files(path):
    if not isinstance(path, str) or not path:
        raise ManifestError("path must be a file or directory name, got %r" % (path,))
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ManifestError("path %s does not exist (expected a manifest file or a directory of manifests)" % path)
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.lower().endswith(MANIFEST_EXTENSIONS) and not name.startswith("."):
                found.append(os.path.join(root, name))
    return found


def _position(exc):
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return ""
    return " (line %d, column %d)" % (mark.line + 1, mark.column + 1)


def _read_documents(filename):
    try:
        with open(filename, "rb") as handle:
            raw = handle.read()
    except (IOError, OSError) as exc:
        raise ManifestError("cannot read manifest file %s: %s" % (filename, exc)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError("manifest file %s is not UTF-8 text (byte %d)" % (filename, exc.start)) from None
    if filename.lower().endswith(".json"):
        try:
            return [json.loads(text)]
        except ValueError as exc:
            raise ManifestError("manifest file %s, document 1: not valid JSON: %s" % (filename, exc)) from None
        except RecursionError:
            raise ManifestError("manifest file %s, document 1: JSON nested too deeply" % filename) from None
    if yaml is None:
        raise ManifestError("reading the YAML manifest %s needs the PyYAML library (%s); install PyYAML on the "
                            "host that runs the module, or pass JSON files or objects" % (filename, YAML_IMPORT_ERROR))
    documents = []
    try:
        for document in yaml.load_all(text, Loader=_YAML_LOADER):
            documents.append(document)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError("manifest file %s, document %d%s: invalid YAML: %s"
                            % (filename, len(documents) + 1, _position(exc), problem)) from None
    except RecursionError:
        raise ManifestError("manifest file %s, document %d: YAML nested too deeply"
                            % (filename, len(documents) + 1)) from None
    return documents


def load_manifests(path):
    """Objects of every manifest under `path`: (objects, origins, warnings)."""
    objects, origins, warnings = [], [], []
    files = _manifest_files(path)
    if not files:
        warnings.append("no manifest files (*.yaml, *.yml, *.json) under %s" % path)
    for filename in files:
        for index, document in enumerate(_read_documents(filename), 1):
            if document is None:
                continue  # empty document: comments only, or a Helm template that rendered nothing
            objects.append(document)
            origins.append({"file": filename, "document": index})
    return objects, origins, warnings


def _origin_text(origin):
    if not origin:
        return "input"
    if "file" in origin:
        text = "%s, document %s" % (origin["file"], origin.get("document"))
    else:
        text = origin.get("input", "input")
    if origin.get("item"):
        text += ", " + origin["item"]
    return text


def _printable(text):
    """Control and format characters (ESC, newlines, bidi overrides) of manifest text escaped: these strings end
    up in warnings on a terminal and in the report."""
    return "".join(char if char.isprintable() else "\\u%04x" % ord(char) for char in text)


def _input_error(origin, obj, problems, evaluated):
    """One record per object the module could not understand: where it is, what it claims to be, why."""
    record = {}
    _evidence_origin(record, origin)
    obj = obj if isinstance(obj, dict) else {}
    meta = as_dict(obj.get("metadata"))
    for key, value in (("kind", obj.get("kind")), ("api_version", obj.get("apiVersion")),
                       ("name", meta.get("name") or meta.get("generateName")), ("namespace", meta.get("namespace"))):
        record[key] = _printable(short(value, 120)) if isinstance(value, str) else None
    record["problems"] = [{"field": field, "reason": _printable(short(why, 300))} for field, why in problems[:20]]
    record["reason"] = "; ".join(item["reason"] for item in record["problems"])
    record["evaluated"] = evaluated
    record["message"] = _printable(input_error_text(record))  # the file name too
    return record


def input_error_text(record):
    what = " ".join(part for part in (record.get("kind"), record.get("name")) if part) or "object"
    return "%s: %s is not a valid Kubernetes object (%s)%s" % (
        _origin_text(record), what, record["reason"], "" if record["evaluated"] else "; not evaluated")


def _expand(objects, origins):
    """Flatten List kinds; report (input_errors, warnings) what is not a valid Kubernetes object of a read kind."""
    if objects is None:
        objects = []
    if not isinstance(objects, (list, tuple)):
        raise ManifestError("objects must be a list of Kubernetes objects (mappings), got %s"
                            % type(objects).__name__)
    if origins is not None and len(origins) != len(objects):
        raise ValueError("origins must be parallel to objects")
    items, warnings, errors = [], [], []

    def skip(obj, origin, why, message):
        warnings.append(message)
        errors.append(_input_error(origin, obj, [("", why)], False))

    def walk(obj, origin, depth):
        if not isinstance(obj, dict):
            skip(obj, origin, "a document of %s, not a Kubernetes object (a mapping)" % type(obj).__name__,
                 "%s: not a mapping (%s); skipped" % (_origin_text(origin), type(obj).__name__))
            return
        kind = obj.get("kind")
        if not isinstance(kind, str) or not kind:
            skip(obj, origin, "no kind: not a Kubernetes object",
                 "%s: no kind; not a Kubernetes object, skipped" % _origin_text(origin))
            return
        if kind.endswith("List") and isinstance(obj.get("items"), list):
            if depth >= MAX_LIST_DEPTH:
                skip(obj, origin, "Lists nested deeper than %d" % MAX_LIST_DEPTH,
                     "%s: Lists nested deeper than %d; skipped" % (_origin_text(origin), MAX_LIST_DEPTH))
                return
            for index, item in enumerate(obj["items"]):
                sub = dict(origin or {})
                sub["item"] = ((sub.get("item") or "") + ".items[%d]" % index).lstrip(".")
                walk(item, sub, depth + 1)
            return
        problems, readable = check_object(obj)
        if problems:
            errors.append(_input_error(origin, obj, problems, readable))
        if readable:
            items.append((obj, origin))

    for index, obj in enumerate(objects):
        walk(obj, origins[index] if origins is not None else {"input": "objects[%d]" % index}, 0)
    return items, warnings, errors


# ---------------------------------------------------------------------------------------------------------
# Walking pod specs

def _group(api_version):
    if not isinstance(api_version, str):
        return None
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _get(obj, path):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _meta(obj):
    meta = as_dict(obj.get("metadata"))
    name = meta.get("name") or meta.get("generateName")
    namespace = meta.get("namespace")
    return (name if isinstance(name, str) else (None if name is None else str(name)),
            namespace if isinstance(namespace, str) and namespace else None)


def pod_spec_of(obj):
    """(pod spec, 'spec.template.spec', pod metadata, 'spec.template.metadata') of a pod controller, else None."""
    if not isinstance(obj, dict):
        return None
    entry = POD_CONTROLLERS.get(obj.get("kind"))
    if entry is None:
        return None
    groups, spec_path, meta_path = entry
    group = _group(obj.get("apiVersion"))
    if group is not None and group not in groups:
        return None  # e.g. a custom resource that happens to be called "Deployment"
    spec = _get(obj, spec_path)
    if not isinstance(spec, dict):
        spec = {}
    return spec, ".".join(spec_path), as_dict(_get(obj, meta_path)), ".".join(meta_path)


def iter_containers(pod_spec, spec_path="spec"):
    """Container views {"spec", "path", "name", "kind", "index"}: initContainers, containers, ephemeralContainers."""
    for kind in CONTAINER_KINDS:
        for index, container in enumerate(as_list(as_dict(pod_spec).get(kind))):
            if not isinstance(container, dict):
                continue
            name = container.get("name")
            if not isinstance(name, str) or not name:
                name = "%s[%d]" % (kind, index)
            yield {"spec": container, "path": "%s.%s[%d]" % (spec_path, kind, index), "name": name,
                   "kind": kind, "index": index}


def iter_workloads(objects, origins=None):
    """One dict per pod controller: kind, name, namespace, obj, origin, pod, containers, owned_by."""
    items, _warnings, _errors = _expand(objects, origins)
    return _workloads(items)


def _workloads(items):
    present = set()
    for obj, _origin in items:
        if obj.get("kind") in POD_CONTROLLERS:
            name, namespace = _meta(obj)
            present.add((obj.get("kind"), namespace, name))
    out = []
    for obj, origin in items:
        found = pod_spec_of(obj)
        if found is None:
            continue
        spec, spec_path, meta, meta_path = found
        name, namespace = _meta(obj)
        owner = None
        for ref in as_list(as_dict(obj.get("metadata")).get("ownerReferences")):
            ref = as_dict(ref)
            if is_true(ref.get("controller")) and (ref.get("kind"), namespace, ref.get("name")) in present:
                owner = "%s/%s" % (ref.get("kind"), ref.get("name"))
        containers = list(iter_containers(spec, spec_path))
        pod = {"spec": spec, "path": spec_path, "annotations": as_dict(meta.get("annotations")),
               "annotations_path": meta_path + ".annotations", "namespace": namespace, "kind": obj.get("kind"),
               "name": name}
        out.append({"kind": obj.get("kind"), "name": name, "namespace": namespace, "obj": obj, "origin": origin,
                    "pod": pod, "containers": containers, "owned_by": owner})
    return out


# ---------------------------------------------------------------------------------------------------------
# Settings

def _rule_for_key(key):
    if isinstance(key, str):
        rule = RULES_BY_ID.get(key.strip().upper()) or RULES_BY_NAME.get(key.strip().lower())
        if rule is not None:
            return rule
    known = ", ".join("%s (%s)" % (rule["id"], rule["name"]) for rule in RULES)
    raise RuleConfigError("rules: unknown rule %r; known rules: %s" % (short(key, 80), known))


def _str_list(value, where):
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise RuleConfigError("%s must be a list of non-empty strings, got %r" % (where, short(value, 80)))
    return list(value)


def global_excluded_namespaces(exclude_namespaces=None):
    """The defaults (kube-system, kube-public, kube-node-lease, falco, trivy-system) plus the given ones."""
    names = list(DEFAULT_EXCLUDED_NAMESPACES)
    for name in _str_list(exclude_namespaces, "exclude_namespaces"):
        if name not in names:
            names.append(name)
    return names


def resolve_settings(rules=None, exclude_namespaces=None):
    """Effective settings per rule id: enabled, mode, params (in force), exclusions, compiled matchers."""
    if rules is None:
        rules = {}
    if not isinstance(rules, dict):
        raise RuleConfigError("rules must be a mapping keyed by rule id (KS-WL-001) or short name "
                              "(resource_limits), got %s" % type(rules).__name__)
    global_ns = global_excluded_namespaces(exclude_namespaces)
    compile_names(global_ns, "exclude_namespaces")
    given = {}
    for key, value in rules.items():
        rule = _rule_for_key(key)
        if rule["id"] in given:
            raise RuleConfigError("rules: %r and %r both configure %s (%s)"
                                  % (given[rule["id"]][0], key, rule["id"], rule["name"]))
        if value is None:
            value = {}
        elif isinstance(value, bool):
            value = {"enabled": value}
        if not isinstance(value, dict):
            raise RuleConfigError("rules.%s must be a mapping with keys %s (or true/false), got %r"
                                  % (key, ", ".join(RULE_SETTING_KEYS), short(value, 80)))
        unknown = sorted(str(item) for item in value if item not in RULE_SETTING_KEYS)
        if unknown:
            raise RuleConfigError("rules.%s (%s): unknown setting(s) %s; expected %s"
                                  % (key, rule["id"], ", ".join(unknown), ", ".join(RULE_SETTING_KEYS)))
        given[rule["id"]] = (key, value)

    settings = {}
    for rule in RULES:
        rid = rule["id"]
        key, cfg = given.get(rid, (rid, {}))
        where = "rules.%s (%s)" % (rid, rule["name"])
        enabled = cfg.get("enabled", True)
        if isinstance(enabled, str) and enabled.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
            enabled = enabled.strip().lower() in ("true", "yes", "on")
        if not isinstance(enabled, bool):
            raise RuleConfigError("%s.enabled must be a boolean, got %r" % (where, short(enabled, 80)))
        mode = cfg.get("mode", "audit")
        if mode not in MODES:
            raise RuleConfigError("%s.mode must be one of %s, got %r" % (where, ", ".join(MODES), short(mode, 80)))
        user_params = cfg.get("params") or {}
        if not isinstance(user_params, dict):
            raise RuleConfigError("%s.params must be a mapping, got %r" % (where, short(user_params, 80)))
        unknown = sorted(str(item) for item in user_params if item not in rule["params"])
        if unknown:
            raise RuleConfigError("%s.params: unknown parameter(s) %s; this rule takes %s"
                                  % (where, ", ".join(unknown), ", ".join(sorted(rule["params"])) or "no parameters"))
        params = {}
        for name, spec in rule["params"].items():
            value = user_params[name] if name in user_params else spec["default"]
            params[name] = coerce_param(rule, name, value)
        if rid == "KS-WL-006" and params["min_port"] > params["max_port"]:
            raise RuleConfigError("%s.params: min_port (%d) must not be greater than max_port (%d)"
                                  % (where, params["min_port"], params["max_port"]))
        # a required parameter left empty: the rule cannot judge anything (KS-WL-002 would flag every image)
        missing = [name for name, spec in rule["params"].items() if spec.get("required") and not params[name]]
        rule_ns = _str_list(cfg.get("exclude_namespaces"), where + ".exclude_namespaces")
        namespaces = list(global_ns) + [name for name in rule_ns if name not in global_ns]
        images = _str_list(cfg.get("exclude_images"), where + ".exclude_images")
        settings[rid] = {
            "enabled": enabled, "mode": mode, "params": params, "missing": missing,
            "active": enabled and not missing,
            "exclude_namespaces": namespaces, "exclude_images": images,
            "_compiled": compile_params(rule, params),
            "_ns": compile_names(namespaces, where + ".exclude_namespaces"),
            "_images": compile_patterns(images, where + ".exclude_images"),
        }
    return settings


# ---------------------------------------------------------------------------------------------------------
# Findings

def _label(kind, namespace, name):
    if namespace and kind != "Namespace":
        return "%s %s/%s" % (kind, namespace, name)
    return "%s %s" % (kind, name)


def _status(mode):
    return "warn" if mode == "warn" else "fail"


def _references(rule):
    refs = []
    if rule.get("pss"):
        refs.append(PSS)
    refs.extend(ksv_url(ksv) for ksv in rule.get("ksv") or ())
    return refs


def _evidence_origin(evidence, origin):
    if not origin:
        return
    for key in ("file", "document", "item", "input"):
        if origin.get(key) is not None:
            evidence[key] = origin[key]


class _Collector(object):
    def __init__(self, settings, cluster, include_passed):
        self.settings = settings
        self.cluster = cluster
        self.include_passed = include_passed
        self.findings = []

    def violation(self, rule, resource, violations, origin, container=None, extra=None, status=None):
        setting = self.settings[rule["id"]]
        severity = rule["severity"]
        for item in violations:  # a violation may be the rule's worse case (KS-WL-019's literal secret)
            if SEVERITY_ORDER.get(item.get("severity"), 99) < SEVERITY_ORDER[severity]:
                severity = item["severity"]
        first = violations[0]
        evidence = {"mode": setting["mode"], "field": first["field"], "value": first["value"],
                    "expected": first["expected"]}
        if len(violations) > 1:
            evidence["violations"] = [{"field": item["field"], "value": item["value"], "message": item["message"]}
                                      for item in violations[:MAX_VIOLATIONS_IN_EVIDENCE]]
            if len(violations) > MAX_VIOLATIONS_IN_EVIDENCE:
                evidence["violations_total"] = len(violations)
        if container is not None:
            evidence["container_type"] = container["kind"]
            image = container["spec"].get("image")
            if image is not None:
                evidence["image"] = short(image)
        evidence.update(extra or {})
        _evidence_origin(evidence, origin)
        where = _label(resource["kind"], resource["namespace"], resource["name"])
        if container is not None:
            where += ", container %s" % container["name"]
        messages = []
        for item in violations:
            if item["message"] not in messages:
                messages.append(item["message"])
        self._add(rule, status or _status(setting["mode"]), resource, container,
                  "%s: %s." % (where, "; ".join(messages)), evidence, severity)

    def passed(self, rule, resource, origin, extra=None):
        if not self.include_passed:
            return
        evidence = {"mode": self.settings[rule["id"]]["mode"]}
        evidence.update(extra or {})
        _evidence_origin(evidence, origin)
        self._add(rule, "pass", resource, None,
                  "%s: passed." % _label(resource["kind"], resource["namespace"], resource["name"]), evidence)

    def info(self, rule, resource, message, evidence):
        evidence = dict(evidence)
        evidence.setdefault("mode", self.settings[rule["id"]]["mode"])
        self._add(rule, "info", resource, None, message, evidence)

    def _add(self, rule, status, resource, container, description, evidence, severity=None):
        res = {"kind": resource.get("kind"), "name": resource.get("name"), "namespace": resource.get("namespace"),
               "container": container["name"] if container is not None else None}
        self.findings.append(make_finding(
            rule["id"], SOURCE, rule["title"], status, severity=severity or rule["severity"], cluster=self.cluster,
            namespace=resource.get("namespace"), resource=res, description=description,
            remediation=rule["remediation"], references=_references(rule), evidence=evidence,
            extra={"tags": [rule["name"]]}))


def _ns_excluded(setting, namespace):
    return namespace is not None and match_names(namespace, setting["_ns"]) is not None


def _image_excluded(setting, container):
    if not setting["_images"]:
        return False
    return match_image(container["spec"].get("image"), setting["_images"]) is not None


# ---------------------------------------------------------------------------------------------------------
# Rules over workloads

def _audit_workload(collector, settings, workload, accounts):
    resource = {"kind": workload["kind"], "name": workload["name"], "namespace": workload["namespace"]}
    base_pod = dict(workload["pod"])
    sa_name = base_pod["spec"].get("serviceAccountName") or base_pod["spec"].get("serviceAccount") or "default"
    base_pod["service_account_name"] = sa_name if isinstance(sa_name, str) else str(sa_name)
    base_pod["service_account"] = accounts.get((workload["namespace"], base_pod["service_account_name"]))
    for rule in RULES:
        rid = rule["id"]
        setting = settings[rid]
        if not setting["active"] or (rid not in POD_CHECKS and rid not in CONTAINER_CHECKS):
            continue
        if _ns_excluded(setting, workload["namespace"]):
            continue
        # Image exemptions cover container-level fields only: pod-level fields (hostNetwork, hostPID, volumes,
        # the namespace) belong to the pod, whichever images it runs (as in gatekeeper-library's exemptImages).
        containers = [c for c in workload["containers"] if not _image_excluded(setting, c)]
        params = setting["_compiled"]
        found = False
        if rid in POD_CHECKS:
            pod = dict(base_pod)
            pod["containers"] = containers
            pod_violations = POD_CHECKS[rid](pod, params)
            if pod_violations:
                found = True
                collector.violation(rule, resource, pod_violations, workload["origin"])
        if rid in CONTAINER_CHECKS:
            for container in containers:
                container_violations = CONTAINER_CHECKS[rid](container, base_pod, params)
                if container_violations:
                    found = True
                    collector.violation(rule, resource, container_violations, workload["origin"], container)
        if not found:
            collector.passed(rule, resource, workload["origin"], {"containers": len(containers)})


def _audit_objects(collector, settings, items):
    for rid, (kind, check) in sorted(OBJECT_CHECKS.items()):
        rule = RULES_BY_ID[rid]
        setting = settings[rid]
        if not setting["active"]:
            continue
        for obj, origin in items:
            if obj.get("kind") != kind:
                continue
            if kind == "Service" and _group(obj.get("apiVersion")) not in (None, ""):
                continue
            if kind == "Ingress" and _group(obj.get("apiVersion")) not in (None, "networking.k8s.io", "extensions"):
                continue
            name, namespace = _meta(obj)
            if _ns_excluded(setting, namespace):
                continue
            resource = {"kind": kind, "name": name, "namespace": namespace}
            found = check(obj, setting["_compiled"])
            if found:
                collector.violation(rule, resource, found, origin)
            else:
                collector.passed(rule, resource, origin)


def _selects_all(policy_spec):
    selector = as_dict(policy_spec.get("podSelector"))
    return not as_dict(selector.get("matchLabels")) and not as_list(selector.get("matchExpressions"))


def _policy_types(spec):
    types = spec.get("policyTypes")
    if isinstance(types, list) and types:
        return [str(item) for item in types]
    out = ["Ingress"]
    if spec.get("egress") is not None:
        out.append("Egress")
    return out


def _audit_network_policies(collector, settings, items, workloads):
    rule = RULES_BY_ID["KS-WL-018"]
    setting = settings[rule["id"]]
    if not setting["active"]:
        return
    params = setting["_compiled"]
    namespaces, policies, origins = [], {}, {}
    for obj, origin in items:
        kind = obj.get("kind")
        name, namespace = _meta(obj)
        if kind == "Namespace" and _group(obj.get("apiVersion")) in (None, "") and name:
            if name not in namespaces:
                namespaces.append(name)
            origins[name] = origin
        elif kind == "NetworkPolicy" and _group(obj.get("apiVersion")) in (None, "networking.k8s.io", "extensions"):
            policies.setdefault(namespace, []).append((name, as_dict(obj.get("spec"))))
    for workload in workloads:
        if workload["namespace"] and workload["namespace"] not in namespaces:
            namespaces.append(workload["namespace"])
    for namespace in namespaces:
        if _ns_excluded(setting, namespace):
            continue
        resource = {"kind": "Namespace", "name": namespace, "namespace": namespace}
        found = []
        listed = policies.get(namespace, [])
        if not listed:
            found.append(violation("NetworkPolicy", None, "the namespace has no NetworkPolicy: every pod accepts "
                                   "traffic from everywhere", "a default-deny NetworkPolicy"))
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
                            found.append(violation("NetworkPolicy/%s.spec.ingress[%d]" % (name, index), entry,
                                                   "NetworkPolicy %s allows all ingress to every pod" % name,
                                                   "no allow-all rule"))
            if params["require_default_deny_ingress"] and not deny["Ingress"]:
                found.append(violation("NetworkPolicy", sorted(str(name) for name, _spec in listed),
                                       "no NetworkPolicy denies ingress by default", "podSelector: {} with "
                                       "policyTypes [Ingress] and no ingress rules"))
            if params["require_default_deny_egress"] and not deny["Egress"]:
                found.append(violation("NetworkPolicy", sorted(str(name) for name, _spec in listed),
                                       "no NetworkPolicy denies egress by default", "podSelector: {} with "
                                       "policyTypes [Egress] and no egress rules"))
        extra = {"network_policies": sorted(str(name) for name, _spec in listed)}
        if found:
            collector.violation(rule, resource, found, origins.get(namespace), extra=extra)
        else:
            collector.passed(rule, resource, origins.get(namespace), extra)


def _audit_rbac(collector, settings, items):
    rule = RULES_BY_ID["KS-WL-021"]
    setting = settings[rule["id"]]
    if not setting["active"]:
        return
    params = setting["_compiled"]
    roles, bindings = [], []
    for obj, origin in items:
        if _group(obj.get("apiVersion")) not in (None, RBAC_GROUP):
            continue
        kind = obj.get("kind")
        if kind in ("Role", "ClusterRole"):
            roles.append((obj, origin))
        elif kind in ("RoleBinding", "ClusterRoleBinding"):
            bindings.append((obj, origin))

    def subjects_of(binding):
        """[(identity, is_system_or_allowed)] of a binding's subjects."""
        _name, binding_ns = _meta(binding)
        out = []
        for subject in as_list(binding.get("subjects")):
            subject = as_dict(subject)
            kind, name = subject.get("kind"), subject.get("name")
            name = name if isinstance(name, str) else str(name)
            if kind == "ServiceAccount":
                namespace = subject.get("namespace") or binding_ns
                identity = "system:serviceaccount:%s:%s" % (namespace, name)
                system = isinstance(namespace, str) and _ns_excluded(setting, namespace)
            else:
                identity = name
                system = name.startswith("system:")
            exempt = (params["ignore_system_subjects"] and system) or \
                match_names(identity, params["allowed_subjects"]) is not None
            out.append(("%s %s" % (kind, identity), exempt))
        return out

    def skipped(obj):
        _name, namespace = _meta(obj)
        return obj.get("kind") in ("Role", "RoleBinding") and _ns_excluded(setting, namespace)

    admin_roles = set(params["admin_roles"])
    # (roleRef kind, roleRef name) -> [(binding namespace, its non-exempt subjects)]: one pass over the bindings,
    # so that a cluster with thousands of roles and bindings is not judged in roles x bindings steps
    by_role = {}
    for binding, origin in bindings:
        if skipped(binding):
            continue
        name, namespace = _meta(binding)
        resource = {"kind": binding.get("kind"), "name": name, "namespace": namespace}
        ref = as_dict(binding.get("roleRef"))
        ref_kind, ref_name = ref.get("kind"), ref.get("name")
        risky = [identity for identity, exempt in subjects_of(binding) if not exempt]
        if isinstance(ref_kind, str) and (ref_name is None or isinstance(ref_name, str)):  # else it names no role
            by_role.setdefault((ref_kind, ref_name), []).append((namespace, risky))
        if ref_kind == "ClusterRole" and isinstance(ref_name, str) and ref_name in admin_roles and risky:
            collector.violation(rule, resource, [violation(
                "roleRef.name", ref.get("name"), "grants ClusterRole %s to %s" % (ref.get("name"), ", ".join(risky)),
                "no admin role for non-system subjects")], origin, extra={"subjects": risky})
        else:
            collector.passed(rule, resource, origin)

    for role, origin in roles:
        if skipped(role):
            continue
        name, namespace = _meta(role)
        kind = role.get("kind")
        if kind == "ClusterRole" and name in admin_roles and params["require_binding"]:
            continue  # judged through its bindings above
        if params["ignore_system_subjects"] and is_bootstrap_role(
                kind, name, namespace, as_dict(role.get("metadata")).get("labels")):
            continue
        resource = {"kind": kind, "name": name, "namespace": namespace}
        wild = []
        for index, entry in enumerate(as_list(role.get("rules"))):
            entry = as_dict(entry)
            for key in ("verbs", "resources"):
                if "*" in as_list(entry.get(key)):
                    wild.append(violation("rules[%d].%s" % (index, key), entry.get(key),
                                          "rule %d allows '*' %s" % (index, key), "explicit %s" % key))
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


def _audit_version(collector, settings, kubernetes_version, today, cluster, warnings):
    rule = RULES_BY_ID["KS-WL-017"]
    setting = settings[rule["id"]]
    if not setting["active"] or kubernetes_version is None:
        return
    params = setting["_compiled"]
    try:
        status = releases.support_status(kubernetes_version, today, params["warn_days_before_eol"])
    except ValueError as exc:
        raise RuleConfigError("kubernetes_version: %s" % exc) from None
    table_age = (today - releases.parse_date(releases.TABLE_DATE)).days
    if table_age > 183:
        warnings.append("the Kubernetes release table (module_utils/_k8s_releases.py) was last checked on %s, "
                        "%d days before %s: update it" % (releases.TABLE_DATE, table_age, today.isoformat()))
    resource = {"kind": "Cluster", "name": cluster, "namespace": None}
    evidence = {"kubernetes_version": kubernetes_version, "minor": status["minor"], "today": today.isoformat(),
                "release_date": status["release_date"], "end_of_life": status["end_of_life"],
                "eol_kind": status["eol_kind"], "days_left": status["days_left"], "table_date": releases.TABLE_DATE,
                "supported_minors": releases.supported_minors(today)}
    state = status["state"]
    label = "Kubernetes %s" % status["minor"]
    if state == "supported":
        collector.passed(rule, resource, None, evidence)
    elif state == "ending":
        message = "%s reaches its upstream end of life on %s (%s days)" % (label, status["end_of_life"],
                                                                           status["days_left"])
        collector.violation(rule, resource, [violation("kubernetes_version", kubernetes_version, message,
                                                       "a minor with more than %d days of support"
                                                       % params["warn_days_before_eol"])],
                            None, extra=evidence, status="warn")
    elif state in ("end_of_life", "unknown_older"):
        if state == "end_of_life":
            message = "%s reached its upstream end of life on %s" % (label, status["end_of_life"])
        else:
            message = "%s is older than every release in the table (oldest %s): out of support" % (
                label, releases.oldest_minor())
        collector.violation(rule, resource, [violation("kubernetes_version", kubernetes_version, message,
                                                       "one of: %s" % ", ".join(evidence["supported_minors"]))],
                            None, extra=evidence)
    elif state == "unreleased":
        collector.info(rule, resource, "%s is not released yet on %s (release date %s)."
                       % (label, today.isoformat(), status["release_date"]), evidence)
    else:
        collector.info(rule, resource, "%s is newer than the release table (newest %s, table checked %s): update "
                       "module_utils/_k8s_releases.py." % (label, releases.newest_minor(), releases.TABLE_DATE),
                       evidence)


# ---------------------------------------------------------------------------------------------------------
# Entry point

def _not_configured(rule, setting, kubernetes_version):
    """How to configure an enabled rule that cannot judge anything with its settings, else None."""
    if not setting["enabled"]:
        return None
    if setting["missing"]:
        hints = []
        for name in setting["missing"]:
            spec = rule["params"][name]
            hint = "rules.%s.params.%s" % (rule["id"], name)
            if spec.get("example") is not None:
                hint += " (e.g. %s)" % json.dumps(spec["example"])
            hints.append(hint)
        return ("not configured: set %s, or switch the rule off with rules.%s.enabled: false"
                % (" and ".join(hints), rule["id"]))
    if rule["id"] == "KS-WL-017" and kubernetes_version is None:
        return ("not configured: give the module option kubernetes_version (e.g. v1.33.4; the collect role takes it "
                "from workloads.kubernetes_version), or switch the rule off with rules.KS-WL-017.enabled: false")
    return None


def _effective_rules(settings, kubernetes_version):
    out = {}
    for rule in RULES:
        setting = settings[rule["id"]]
        note = _not_configured(rule, setting, kubernetes_version)
        evaluated = setting["enabled"] and note is None
        if not setting["enabled"]:
            note = "disabled"
        out[rule["id"]] = {
            "id": rule["id"], "name": rule["name"], "title": rule["title"], "severity": rule["severity"],
            "scope": rule["scope"], "enabled": setting["enabled"], "evaluated": evaluated,
            "configured": not (setting["enabled"] and not evaluated), "note": note,
            "mode": setting["mode"], "params": setting["params"],
            "exclude_namespaces": setting["exclude_namespaces"], "exclude_images": setting["exclude_images"],
            "ksv": list(rule["ksv"]), "gatekeeper": rule["gatekeeper"], "defender": rule["defender"],
            "azure_policy": rule["azure_policy"], "pss": rule["pss"],
        }
    return out


def _count(mapping, key):
    mapping[key] = mapping.get(key, 0) + 1


def audit(objects, rules=None, exclude_namespaces=None, cluster=None, kubernetes_version=None,
          include_passed=False, today=None, origins=None):
    """Evaluate every enabled rule over `objects` (list of dicts from any source); see the module docstring."""
    settings = resolve_settings(rules, exclude_namespaces)
    if today is None:
        today = datetime.date.today()
    else:
        try:
            today = releases.parse_date(today, "today")
        except ValueError as exc:
            raise RuleConfigError(str(exc)) from None
    if kubernetes_version is not None and not isinstance(kubernetes_version, str):
        kubernetes_version = str(kubernetes_version)
    items, warnings, input_errors = _expand(objects, origins)
    all_workloads = _workloads(items)
    accounts = {}
    for obj, _origin in items:
        if obj.get("kind") == "ServiceAccount" and _group(obj.get("apiVersion")) in (None, ""):
            name, namespace = _meta(obj)
            accounts[(namespace, name)] = obj
    collector = _Collector(settings, cluster, include_passed)
    global_ns = compile_names(global_excluded_namespaces(exclude_namespaces), "exclude_namespaces")
    counts = {"total": 0, "evaluated": 0, "excluded_namespace": 0, "owned_skipped": 0, "by_kind": {},
              "by_namespace": {}, "by_kind_namespace": {}}
    audited = []
    for workload in all_workloads:
        if workload["owned_by"]:
            counts["owned_skipped"] += 1
            continue
        counts["total"] += 1
        namespace_key = workload["namespace"] or "(unset)"
        _count(counts["by_kind"], workload["kind"])
        _count(counts["by_namespace"], namespace_key)
        _count(counts["by_kind_namespace"].setdefault(workload["kind"], {}), namespace_key)
        if workload["namespace"] is not None and match_names(workload["namespace"], global_ns):
            counts["excluded_namespace"] += 1
        else:
            counts["evaluated"] += 1
        audited.append(workload)
        _audit_workload(collector, settings, workload, accounts)
    _audit_objects(collector, settings, items)
    _audit_network_policies(collector, settings, items, audited)
    _audit_rbac(collector, settings, items)
    _audit_version(collector, settings, kubernetes_version, today, cluster, warnings)
    for rule in RULES:  # KS-WL-017 without a version is only noted in `rules` (no finding: no object to name)
        note = _not_configured(rule, settings[rule["id"]], kubernetes_version)
        if note and settings[rule["id"]]["missing"]:
            collector.info(rule, {"kind": "Cluster", "name": cluster, "namespace": None},
                           "%s (%s) is %s." % (rule["id"], rule["name"], note),
                           {"not_configured": True, "missing": settings[rule["id"]]["missing"]})
    findings = collector.findings
    summary = {"total": len(findings), "pass": 0, "fail": 0, "warn": 0, "info": 0, "by_severity": {},
               "by_rule": {}, "objects": len(items), "input_errors": len(input_errors)}
    for finding in findings:
        summary[finding["status"]] = summary.get(finding["status"], 0) + 1
        if finding["status"] in ("fail", "warn"):
            _count(summary["by_severity"], finding["severity"])
        _count(summary["by_rule"].setdefault(finding["id"], {}), finding["status"])
    return {"findings": findings, "workloads": counts, "rules": _effective_rules(settings, kubernetes_version),
            "summary": summary, "warnings": warnings, "input_errors": input_errors[:MAX_INPUT_ERRORS]}


def ksv_rule(check_id):
    """Our rule for a normalized Trivy KSV id (KSV-0017), or None."""
    entry = KSV_RULE_MAP.get(check_id)
    return entry["rule"] if entry else None
