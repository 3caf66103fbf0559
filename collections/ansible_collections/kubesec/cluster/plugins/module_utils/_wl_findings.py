# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workload findings: the collector every rule reports through (violations, passes, notes) -> findings in the
common format (``_finding.make_finding``).

Private module_utils (leading underscore): the API may change between minor releases. Standard library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITY_ORDER, make_finding
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import PSS, ksv_url, short
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_manifests import evidence_origin

if TYPE_CHECKING:
    from typing import Dict

    Rule = Dict[str, Any]
    Resource = Dict[str, Any]

SOURCE = "workload"
MAX_VIOLATIONS_IN_EVIDENCE = 50


def _label(kind: Any, namespace: Any, name: Any) -> str:
    if namespace and kind != "Namespace":
        return "%s %s/%s" % (kind, namespace, name)
    return "%s %s" % (kind, name)


def _status(mode: str) -> str:
    return "warn" if mode == "warn" else "fail"


def _references(rule: Rule) -> list[str]:
    refs = []
    if rule.get("pss"):
        refs.append(PSS)
    refs.extend(ksv_url(ksv) for ksv in rule.get("ksv") or ())
    return refs


class Collector:
    """Findings of one audit run; rules report violations, passes and notes through it."""

    def __init__(self, settings: dict[str, dict[str, Any]], cluster: Optional[str], include_passed: bool) -> None:
        self.settings = settings
        self.cluster = cluster
        self.include_passed = include_passed
        self.findings: list[dict[str, Any]] = []

    def violation(
        self,
        rule: Rule,
        resource: Resource,
        violations: list[dict[str, Any]],
        origin: Any,
        container: Optional[dict[str, Any]] = None,
        extra: Optional[dict[str, Any]] = None,
        status: Optional[str] = None,
    ) -> None:
        setting = self.settings[rule["id"]]
        severity = rule["severity"]
        for item in violations:  # a violation may be the rule's worse case (KS-WL-019's literal secret)
            if SEVERITY_ORDER.get(str(item.get("severity")), 99) < SEVERITY_ORDER[severity]:
                severity = item["severity"]
        first = violations[0]
        evidence = {"mode": setting["mode"], "field": first["field"], "value": first["value"], "expected": first["expected"]}
        if len(violations) > 1:
            evidence["violations"] = [
                {"field": item["field"], "value": item["value"], "message": item["message"]} for item in violations[:MAX_VIOLATIONS_IN_EVIDENCE]
            ]
            if len(violations) > MAX_VIOLATIONS_IN_EVIDENCE:
                evidence["violations_total"] = len(violations)
        if container is not None:
            evidence["container_type"] = container["kind"]
            image = container["spec"].get("image")
            if image is not None:
                evidence["image"] = short(image)
        evidence.update(extra or {})
        evidence_origin(evidence, origin)
        where = _label(resource["kind"], resource["namespace"], resource["name"])
        if container is not None:
            where += ", container %s" % container["name"]
        messages = []
        for item in violations:
            if item["message"] not in messages:
                messages.append(item["message"])
        self._add(rule, status or _status(setting["mode"]), resource, container, "%s: %s." % (where, "; ".join(messages)), evidence, severity)

    def passed(self, rule: Rule, resource: Resource, origin: Any, extra: Optional[dict[str, Any]] = None) -> None:
        if not self.include_passed:
            return
        evidence = {"mode": self.settings[rule["id"]]["mode"]}
        evidence.update(extra or {})
        evidence_origin(evidence, origin)
        self._add(rule, "pass", resource, None, "%s: passed." % _label(resource["kind"], resource["namespace"], resource["name"]), evidence)

    def info(self, rule: Rule, resource: Resource, message: str, evidence: dict[str, Any]) -> None:
        evidence = dict(evidence)
        evidence.setdefault("mode", self.settings[rule["id"]]["mode"])
        self._add(rule, "info", resource, None, message, evidence)

    def _add(
        self,
        rule: Rule,
        status: str,
        resource: Resource,
        container: Optional[dict[str, Any]],
        description: str,
        evidence: dict[str, Any],
        severity: Optional[str] = None,
    ) -> None:
        res = {
            "kind": resource.get("kind"),
            "name": resource.get("name"),
            "namespace": resource.get("namespace"),
            "container": container["name"] if container is not None else None,
        }
        self.findings.append(
            make_finding(
                rule["id"],
                SOURCE,
                rule["title"],
                status,
                severity=severity or rule["severity"],
                cluster=self.cluster,
                namespace=resource.get("namespace"),
                resource=res,
                description=description,
                remediation=rule["remediation"],
                references=_references(rule),
                evidence=evidence,
                extra={"tags": [rule["name"]]},
            )
        )
