# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workload audit engine: walk every pod spec, apply the KS-WL rules of the registry, build findings.

Private module_utils (leading underscore): the API may change between minor releases.

Public functions (plain Python, no AnsibleModule):

``load_manifests(path)``
    Objects from a manifest file or a directory tree (``_wl_manifests``). Returns ``(objects, origins,
    warnings)``; ``origins[i]`` is ``{"file": ..., "document": n}`` (1-based). Raises ``ManifestError`` naming the
    file and document.
``resolve_settings(rules=None, exclude_namespaces=None, include_system_namespaces=False)``
    The effective rule settings (``_wl_settings``); raises ``RuleConfigError`` naming the rule and parameter.
``iter_workloads(objects, origins=None)``
    One dict per pod controller (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
    ReplicationController, PodTemplate) with its pod view and container views (containers, initContainers,
    ephemeralContainers). Objects controlled by another controller of the input are skipped (``owned_by`` set).
``pod_spec_of(obj)`` / ``iter_containers(pod_spec, spec_path)``
    ``(pod spec, spec path, pod metadata, metadata path)`` of a pod controller (else ``None``); container views.
``audit(objects, rules=None, exclude_namespaces=None, cluster=None, kubernetes_version=None,
include_passed=False, today=None, origins=None, include_system_namespaces=False, only=None)``
    The whole evaluation. ``objects`` is a list of dicts from any source (files, the API through
    ``_kube.list_all``, a playbook). Returns ``{"findings", "workloads", "rules", "summary", "warnings",
    "input_errors"}``; ``input_errors`` lists the objects that are not valid Kubernetes objects of a kind the rules
    read (``_workload_input.check_object``), with where they are and why. ``only`` limits the run to these rule
    ids (the others count as disabled).
``evaluate_rules(rule_ids, objects, ...)``
    The findings of the given rules only, for other checks that ask the same question as a workload rule (CIS
    section 5: one evaluation, two ids).
``input_error_text(record)``
    One line for an ``input_errors`` record (file, document, kind, name, why).
``ksv_rule(check_id)`` / ``rule_frameworks()``
    Our rule for a Trivy KSV id; every rule's framework mappings (PSS, CIS, NSA/CISA, MITRE ATT&CK).
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any, Iterator, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils import _k8s_releases as releases
from ansible_collections.kubesec.cluster.plugins.module_utils._safeyaml import yaml  # noqa: F401 - as before the split  # pylint: disable=unused-import
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import (
    CONTAINER_KINDS,
    RuleConfigError,
    api_group,
    as_dict,
    as_list,
    compile_names,
    is_true,
    match_image,
    match_names,
    meta_of,
    ns_excluded,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_findings import Collector
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_manifests import (
    ManifestError,
    expand,
    input_error_text,
    load_manifests,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_registry import (
    KSV_RULE_MAP,
    RULES,
    RULES_BY_ID,
    rule_frameworks,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_settings import (
    global_excluded_namespaces,
    resolve_settings,
)

if TYPE_CHECKING:
    from typing import Dict

    Rule = Dict[str, Any]
    Settings = Dict[str, Dict[str, Any]]
    Workload = Dict[str, Any]

__all__ = (
    "ManifestError",
    "RuleConfigError",
    "audit",
    "evaluate_rules",
    "global_excluded_namespaces",
    "input_error_text",
    "iter_containers",
    "iter_workloads",
    "ksv_rule",
    "load_manifests",
    "pod_spec_of",
    "resolve_settings",
    "rule_frameworks",
)

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
    "CronJob": (("batch",), ("spec", "jobTemplate", "spec", "template", "spec"), ("spec", "jobTemplate", "spec", "template", "metadata")),
}


# ---------------------------------------------------------------------------------------------------------
# Walking pod specs


def _get(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def pod_spec_of(obj: Any) -> Optional[tuple[dict[str, Any], str, dict[str, Any], str]]:
    """(pod spec, 'spec.template.spec', pod metadata, 'spec.template.metadata') of a pod controller, else None."""
    if not isinstance(obj, dict):
        return None
    entry = POD_CONTROLLERS.get(obj.get("kind"))  # type: ignore[arg-type]
    if entry is None:
        return None
    groups, spec_path, meta_path = entry
    group = api_group(obj.get("apiVersion"))
    if group is not None and group not in groups:
        return None  # e.g. a custom resource that happens to be called "Deployment"
    spec = _get(obj, spec_path)
    if not isinstance(spec, dict):
        spec = {}
    return spec, ".".join(spec_path), as_dict(_get(obj, meta_path)), ".".join(meta_path)


def iter_containers(pod_spec: Any, spec_path: str = "spec") -> Iterator[dict[str, Any]]:
    """Container views {"spec", "path", "name", "kind", "index"}: initContainers, containers, ephemeralContainers."""
    for kind in CONTAINER_KINDS:
        for index, container in enumerate(as_list(as_dict(pod_spec).get(kind))):
            if not isinstance(container, dict):
                continue
            name = container.get("name")
            if not isinstance(name, str) or not name:
                name = "%s[%d]" % (kind, index)
            yield {"spec": container, "path": "%s.%s[%d]" % (spec_path, kind, index), "name": name, "kind": kind, "index": index}


def iter_workloads(objects: Any, origins: Optional[list[Any]] = None) -> list[Workload]:
    """One dict per pod controller: kind, name, namespace, obj, origin, pod, containers, owned_by."""
    items, _warnings, _errors = expand(objects, origins)
    return _workloads(items)


def _workloads(items: list[tuple[dict[str, Any], Any]]) -> list[Workload]:
    present = set()
    for obj, _origin in items:
        if obj.get("kind") in POD_CONTROLLERS:
            name, namespace = meta_of(obj)
            present.add((obj.get("kind"), namespace, name))
    out = []
    for obj, origin in items:
        found = pod_spec_of(obj)
        if found is None:
            continue
        spec, spec_path, meta, meta_path = found
        name, namespace = meta_of(obj)
        owner = None
        for ref in as_list(as_dict(obj.get("metadata")).get("ownerReferences")):
            ref = as_dict(ref)
            if is_true(ref.get("controller")) and (ref.get("kind"), namespace, ref.get("name")) in present:
                owner = "%s/%s" % (ref.get("kind"), ref.get("name"))
        # the controllers of the pod itself (a Pod's metadata, a template's): KS-WL-029 skips Jobs' pods
        owner_kinds = [as_dict(ref).get("kind") for ref in as_list(meta.get("ownerReferences")) if is_true(as_dict(ref).get("controller"))]
        containers = list(iter_containers(spec, spec_path))
        pod = {
            "spec": spec,
            "path": spec_path,
            "annotations": as_dict(meta.get("annotations")),
            "annotations_path": meta_path + ".annotations",
            "namespace": namespace,
            "kind": obj.get("kind"),
            "name": name,
            "owner_kinds": owner_kinds,
        }
        out.append(
            {
                "kind": obj.get("kind"),
                "name": name,
                "namespace": namespace,
                "obj": obj,
                "origin": origin,
                "pod": pod,
                "containers": containers,
                "owned_by": owner,
            }
        )
    return out


def _image_excluded(setting: dict[str, Any], container: dict[str, Any]) -> bool:
    if not setting["_images"]:
        return False
    return match_image(container["spec"].get("image"), setting["_images"]) is not None


# ---------------------------------------------------------------------------------------------------------
# Rules over workloads and single objects (cross-object rules bring their own `audit`)


def _audit_workload(collector: Collector, settings: Settings, workload: Workload, accounts: dict[tuple[Any, Any], dict[str, Any]]) -> None:
    resource = {"kind": workload["kind"], "name": workload["name"], "namespace": workload["namespace"]}
    base_pod = dict(workload["pod"])
    sa_name = base_pod["spec"].get("serviceAccountName") or base_pod["spec"].get("serviceAccount") or "default"
    base_pod["service_account_name"] = sa_name if isinstance(sa_name, str) else str(sa_name)
    base_pod["service_account"] = accounts.get((workload["namespace"], base_pod["service_account_name"]))
    for rule in RULES:
        setting = settings[rule["id"]]
        pod_check, container_check = rule["pod_check"], rule["container_check"]
        if not setting["active"] or (pod_check is None and container_check is None):
            continue
        if ns_excluded(setting, workload["namespace"]):
            continue
        # Image exemptions cover container-level fields only: pod-level fields (hostNetwork, hostPID, volumes,
        # the namespace) belong to the pod, whichever images it runs (as in gatekeeper-library's exemptImages).
        containers = [c for c in workload["containers"] if not _image_excluded(setting, c)]
        params = setting["_compiled"]
        found = False
        if pod_check is not None:
            pod = dict(base_pod)
            pod["containers"] = containers
            pod_violations = pod_check(pod, params)
            if pod_violations:
                found = True
                collector.violation(rule, resource, pod_violations, workload["origin"])
        if container_check is not None:
            for container in containers:
                container_violations = container_check(container, base_pod, params)
                if container_violations:
                    found = True
                    collector.violation(rule, resource, container_violations, workload["origin"], container)
        if not found:
            collector.passed(rule, resource, workload["origin"], {"containers": len(containers)})


def _audit_objects(collector: Collector, settings: Settings, items: list[tuple[dict[str, Any], Any]]) -> None:
    for rule in RULES:
        setting = settings[rule["id"]]
        if rule["object_check"] is None or not setting["active"]:
            continue
        kind, groups, check = rule["object_check"]
        for obj, origin in items:
            if obj.get("kind") != kind or api_group(obj.get("apiVersion")) not in (None, *groups):
                continue
            name, namespace = meta_of(obj)
            if ns_excluded(setting, namespace):
                continue
            resource = {"kind": kind, "name": name, "namespace": namespace}
            found = check(obj, setting["_compiled"])
            if found:
                collector.violation(rule, resource, found, origin)
            else:
                collector.passed(rule, resource, origin)


# ---------------------------------------------------------------------------------------------------------
# Entry point


def _not_configured(rule: Rule, setting: dict[str, Any], kubernetes_version: Optional[str]) -> Optional[str]:
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
        return "not configured: set %s, or switch the rule off with rules.%s.enabled: false" % (" and ".join(hints), rule["id"])
    if rule["id"] == "KS-WL-017" and kubernetes_version is None:
        return (
            "not configured: give the module option kubernetes_version (e.g. v1.33.4; the collect role takes it "
            "from workloads.kubernetes_version), or switch the rule off with rules.KS-WL-017.enabled: false"
        )
    return None


def _effective_rules(settings: Settings, kubernetes_version: Optional[str]) -> dict[str, dict[str, Any]]:
    out = {}
    frameworks = rule_frameworks()
    for rule in RULES:
        setting = settings[rule["id"]]
        note = _not_configured(rule, setting, kubernetes_version)
        evaluated = setting["enabled"] and note is None
        if not setting["enabled"]:
            note = "disabled"
        out[rule["id"]] = {
            "id": rule["id"],
            "name": rule["name"],
            "title": rule["title"],
            "severity": rule["severity"],
            "scope": rule["scope"],
            "enabled": setting["enabled"],
            "evaluated": evaluated,
            "configured": not (setting["enabled"] and not evaluated),
            "note": note,
            "mode": setting["mode"],
            "params": setting["params"],
            "exclude_namespaces": setting["exclude_namespaces"],
            "exclude_images": setting["exclude_images"],
            "ksv": list(rule["ksv"]),
            "gatekeeper": rule["gatekeeper"],
            "defender": rule["defender"],
            "azure_policy": rule["azure_policy"],
            "pss": rule["pss"],
            "frameworks": {key: [entry["id"] for entry in entries] for key, entries in frameworks[rule["id"]].items() if entries},
        }
    return out


def _count(mapping: dict[str, Any], key: str) -> None:
    mapping[key] = mapping.get(key, 0) + 1


def audit(
    objects: Any,
    rules: Any = None,
    exclude_namespaces: Any = None,
    cluster: Optional[str] = None,
    kubernetes_version: Any = None,
    include_passed: bool = False,
    today: Any = None,
    origins: Optional[list[Any]] = None,
    include_system_namespaces: bool = False,
    only: Optional[list[str]] = None,
) -> dict[str, Any]:
    """Evaluate every enabled rule over `objects` (list of dicts from any source); see the module docstring."""
    settings = resolve_settings(rules, exclude_namespaces, include_system_namespaces)
    if only is not None:
        unknown = sorted(set(only) - set(RULES_BY_ID))
        if unknown:
            raise RuleConfigError("only: unknown rule id(s) %s" % ", ".join(unknown))
        for rid, setting in settings.items():
            if rid not in only:
                setting.update(enabled=False, active=False)
    if today is None:
        today = datetime.date.today()
    else:
        try:
            today = releases.parse_date(today, "today")
        except ValueError as exc:
            raise RuleConfigError(str(exc)) from None
    if kubernetes_version is not None and not isinstance(kubernetes_version, str):
        kubernetes_version = str(kubernetes_version)
    items, warnings, input_errors = expand(objects, origins)
    all_workloads = _workloads(items)
    accounts = {}
    for obj, _origin in items:
        if obj.get("kind") == "ServiceAccount" and api_group(obj.get("apiVersion")) in (None, ""):
            name, namespace = meta_of(obj)
            accounts[(namespace, name)] = obj
    collector = Collector(settings, cluster, include_passed)
    global_ns = compile_names(global_excluded_namespaces(exclude_namespaces, include_system_namespaces), "exclude_namespaces")
    counts: dict[str, Any] = {
        "total": 0,
        "evaluated": 0,
        "excluded_namespace": 0,
        "owned_skipped": 0,
        "by_kind": {},
        "by_namespace": {},
        "by_kind_namespace": {},
    }
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
    context = {"items": items, "workloads": audited, "kubernetes_version": kubernetes_version, "today": today, "cluster": cluster, "warnings": warnings}
    for rule in RULES:
        if rule["audit"] is not None and settings[rule["id"]]["active"]:
            rule["audit"](collector, rule, settings[rule["id"]], context)
    for rule in RULES:  # KS-WL-017 without a version is only noted in `rules` (no finding: no object to name)
        note = _not_configured(rule, settings[rule["id"]], kubernetes_version)
        if note and settings[rule["id"]]["missing"]:
            collector.info(
                rule,
                {"kind": "Cluster", "name": cluster, "namespace": None},
                "%s (%s) is %s." % (rule["id"], rule["name"], note),
                {"not_configured": True, "missing": settings[rule["id"]]["missing"]},
            )
    findings = collector.findings
    summary: dict[str, Any] = {
        "total": len(findings),
        "pass": 0,
        "fail": 0,
        "warn": 0,
        "info": 0,
        "by_severity": {},
        "by_rule": {},
        "objects": len(items),
        "input_errors": len(input_errors),
    }
    for finding in findings:
        summary[finding["status"]] = summary.get(finding["status"], 0) + 1
        if finding["status"] in ("fail", "warn"):
            _count(summary["by_severity"], finding["severity"])
        _count(summary["by_rule"].setdefault(finding["id"], {}), finding["status"])
    return {
        "findings": findings,
        "workloads": counts,
        "rules": _effective_rules(settings, kubernetes_version),
        "summary": summary,
        "warnings": warnings,
        "input_errors": input_errors[:MAX_INPUT_ERRORS],
    }


def evaluate_rules(
    rule_ids: list[str],
    objects: Any,
    rules: Any = None,
    exclude_namespaces: Any = None,
    cluster: Optional[str] = None,
    include_passed: bool = True,
    today: Any = None,
    origins: Optional[list[Any]] = None,
    include_system_namespaces: bool = False,
    kubernetes_version: Any = None,
) -> list[dict[str, Any]]:
    """Findings (fail/warn/pass/info, in the common format) of the given rule ids only, over `objects`.

    For checks of other catalogues that ask the same question as a workload rule (CIS 5.2.2 "privileged
    containers" is KS-WL-015): evaluate once, relabel the findings. The rules keep the settings given in `rules`
    (parameters, exclusions); a rule switched off there gives no finding. Unknown ids raise RuleConfigError.
    """
    result = audit(
        objects,
        rules=rules,
        exclude_namespaces=exclude_namespaces,
        cluster=cluster,
        kubernetes_version=kubernetes_version,
        include_passed=include_passed,
        today=today,
        origins=origins,
        include_system_namespaces=include_system_namespaces,
        only=list(rule_ids),
    )
    return [finding for finding in result["findings"] if finding["id"] in rule_ids]


def ksv_rule(check_id: str) -> Optional[str]:
    """Our rule for a normalized Trivy KSV id (KSV-0017), or None."""
    entry = KSV_RULE_MAP.get(check_id)
    return entry["rule"] if entry else None
