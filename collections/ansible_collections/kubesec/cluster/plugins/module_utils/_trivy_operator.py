# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trivy Operator report objects -> normalized findings (the shared rules are in _trivy).

Inputs (see docs: /work/shared/reference/formats.md section 2): VulnerabilityReport, ClusterVulnerabilityReport,
ConfigAuditReport, ClusterConfigAuditReport, ExposedSecretReport, RbacAssessmentReport, ClusterRbacAssessmentReport,
InfraAssessmentReport, ClusterInfraAssessmentReport (findings), SbomReport, ClusterSbomReport and
ClusterComplianceReport (rows without findings); read from the API (``collect_from_api``) or from exports
(``collect_from_path``: ``kubectl get ... -o yaml`` ``List`` objects, multi-document YAML, JSON).
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Type

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITIES, normalize_severity
from ansible_collections.kubesec.cluster.plugins.module_utils._parsing import gc_paused
from ansible_collections.kubesec.cluster.plugins.module_utils._redact import redact_text
from ansible_collections.kubesec.cluster.plugins.module_utils._trivy import (
    BAD_TEXT,
    TOO_DEEP,
    Finding,
    FindingSet,
    TrivyInputError,
    _SURROGATE_ESCAPE,
    _clean,
    _count,
    _mapping,
    _references,
    _text,
    has_bad_text,
    normalize_check_id,
    score_from_cvss,
    vulnerability_title,
)

# JSON still works without PyYAML
from ansible_collections.kubesec.cluster.plugins.module_utils._safeyaml import HAS_YAML, YAML_LOADER, yaml

GROUP = "aquasecurity.github.io"
VERSION = "v1alpha1"
API_VERSION = GROUP + "/" + VERSION

LABEL_KIND = "trivy-operator.resource.kind"
LABEL_NAME = "trivy-operator.resource.name"
LABEL_NAME_HASH = "trivy-operator.resource.name-hash"
LABEL_NAMESPACE = "trivy-operator.resource.namespace"
LABEL_CONTAINER = "trivy-operator.container.name"
ANNOTATION_NAME = "trivy-operator.resource.name"


class _Kind:
    def __init__(self, plural: str, namespaced: bool, source: Optional[str], items_key: Optional[str]) -> None:
        self.plural = plural
        self.namespaced = namespaced
        self.source = source
        self.items_key = items_key


REPORT_KINDS = {
    "VulnerabilityReport": _Kind("vulnerabilityreports", True, "trivy-vulnerability", "vulnerabilities"),
    "ClusterVulnerabilityReport": _Kind("clustervulnerabilityreports", False, "trivy-vulnerability", "vulnerabilities"),
    "ConfigAuditReport": _Kind("configauditreports", True, "trivy-config", "checks"),
    "ClusterConfigAuditReport": _Kind("clusterconfigauditreports", False, "trivy-config", "checks"),
    "ExposedSecretReport": _Kind("exposedsecretreports", True, "trivy-exposed-secret", "secrets"),
    "RbacAssessmentReport": _Kind("rbacassessmentreports", True, "trivy-rbac", "checks"),
    "ClusterRbacAssessmentReport": _Kind("clusterrbacassessmentreports", False, "trivy-rbac", "checks"),
    "InfraAssessmentReport": _Kind("infraassessmentreports", True, "trivy-infra", "checks"),
    "ClusterInfraAssessmentReport": _Kind("clusterinfraassessmentreports", False, "trivy-infra", "checks"),
    # Reports without findings of their own: an SBOM (a CycloneDX document and component counts) and the
    # compliance report (control results computed from the other reports; its summary goes to ``compliance``).
    "SbomReport": _Kind("sbomreports", True, None, None),
    "ClusterSbomReport": _Kind("clustersbomreports", False, None, None),
    "ClusterComplianceReport": _Kind("clustercompliancereports", False, None, None),
}
REPORT_KIND_NAMES = tuple(REPORT_KINDS)
SUMMARY_KEYS = ("criticalCount", "highCount", "mediumCount", "lowCount", "unknownCount")
_SUMMARY_SEVERITY = {"criticalCount": "critical", "highCount": "high", "mediumCount": "medium", "lowCount": "low", "unknownCount": "unknown"}
MAX_MESSAGES = 10


# ----------------------------------------------------------------------------------------------------------
# Trivy Operator reports
# ----------------------------------------------------------------------------------------------------------
def report_resource(metadata: Any) -> Dict[str, Optional[str]]:
    """The scanned object of a report, from the trivy-operator.* labels (long names: annotation)."""
    meta = _mapping(metadata)
    labels = _mapping(meta.get("labels"))
    annotations = _mapping(meta.get("annotations"))
    resource = {
        "kind": _text(labels.get(LABEL_KIND)),
        "name": _text(annotations.get(ANNOTATION_NAME)) or _text(labels.get(LABEL_NAME)),
        "namespace": _text(labels.get(LABEL_NAMESPACE)),
        "container": _text(labels.get(LABEL_CONTAINER)),
    }
    if not resource["kind"] or not resource["name"]:
        refs = meta.get("ownerReferences")
        owners = [o for o in refs if isinstance(o, dict)] if isinstance(refs, list) else []
        owners.sort(key=lambda o: not o.get("controller"))
        if owners:
            resource["kind"] = resource["kind"] or _text(owners[0].get("kind"))
            resource["name"] = resource["name"] or _text(owners[0].get("name"))
    return resource


def _artifact(report: Dict[str, Any]) -> Optional[str]:
    artifact = _mapping(report.get("artifact"))
    repository = _text(artifact.get("repository"))
    if not repository:
        return None
    server = _text(_mapping(report.get("registry")).get("server"))
    text = "%s/%s" % (server, repository) if server else repository
    tag, digest = _text(artifact.get("tag")), _text(artifact.get("digest"))
    if tag:
        text += ":" + tag
    if digest:
        text += "@" + digest
    return text


class ReportCollector(FindingSet):
    """Trivy Operator report objects -> findings, per-report rows and totals by kind."""

    def __init__(self, cluster: Optional[str] = None, kinds: Optional[Iterable[str]] = None, namespaces: Optional[Iterable[str]] = None) -> None:
        super(ReportCollector, self).__init__(cluster)
        self.kinds = set(kinds) if kinds else set(REPORT_KIND_NAMES)
        self.namespaces = set(namespaces) if namespaces else None
        self.reports: List[Dict[str, Any]] = []
        self.by_kind: Dict[str, Dict[str, int]] = {}
        self.ignored = 0
        self.compliance: List[Dict[str, Any]] = []

    def _kind_totals(self, kind: str) -> Dict[str, int]:
        if kind not in self.by_kind:
            totals = {"reports": 0, "findings": 0, "fail": 0, "pass": 0}
            totals.update((name, 0) for name in SEVERITIES)
            self.by_kind[kind] = totals
        return self.by_kind[kind]

    def add_object(self, obj: Any, location: str) -> None:
        """One report object (Lists are expanded by the callers)."""
        if not isinstance(obj, dict):
            self.skip("document is not a mapping", location)
            return
        kind = _text(obj.get("kind"))
        if not kind:
            self.skip("object without kind", location)
            return
        if kind not in REPORT_KINDS:
            if str(obj.get("apiVersion") or "").startswith(GROUP + "/"):
                # e.g. ClusterComplianceDetailReport of older operators, or a kind newer than this module
                self.skip("Trivy Operator kind that kubesec does not read (%s)" % kind, location)
            else:
                self.skip("not a Trivy Operator report kind (%s)" % kind, location)
            return
        if kind not in self.kinds:
            self.ignored += 1
            return
        meta = _mapping(obj.get("metadata"))
        namespace = _text(meta.get("namespace"))
        info = REPORT_KINDS[kind]
        if self.namespaces is not None and info.namespaced and namespace not in self.namespaces:
            self.ignored += 1
            return
        name = _text(meta.get("name"))
        where = "%s %s%s (%s)" % (kind, namespace + "/" if namespace else "", name or "?", location)
        # only what is copied counts (a surrogate in an unrelated annotation does not lose the report)
        if self.check_text and has_bad_text(
            [name, namespace, report_resource(meta), obj.get("spec"), obj.get("status"), _mapping(obj.get("report")).get("artifact")]
        ):
            self.skip("report object whose name, labels or summary hold text that is not valid Unicode (lone surrogate)", where)
            return
        if kind == "ClusterComplianceReport":
            self._compliance(obj, meta, name, where, location)
            return
        report = obj.get("report")
        if not isinstance(report, dict):
            self.skip("report object without a .report mapping", where)
            return
        if info.items_key is None:
            self._sbom(report, meta, kind, name, namespace, where, location)
            return
        items = report.get(info.items_key)
        if items is None:
            if info.items_key not in report:  # the operator always writes the key (null or a list)
                self.note("reports without .report.%s were read as having none" % info.items_key, where)
            items = []
        if not isinstance(items, list):
            self.skip("report whose .report.%s is not a list" % info.items_key, where)
            return
        resource = report_resource(meta)
        if info.namespaced and not resource["namespace"] and resource["name"]:
            resource["namespace"] = namespace  # reports live in the namespace of the object they describe
        context = {
            "kind": kind,
            "source": info.source,
            "report": name,
            "namespace": namespace or resource["namespace"],
            "resource": resource,
            "artifact": _artifact(report),
            "where": where,
        }
        start = len(self.findings)
        parse = {"vulnerabilities": self._vulnerability, "checks": self._check, "secrets": self._secret}
        parse_item = parse[info.items_key]
        for index, item in enumerate(items):
            item_where = "%s .report.%s[%d]" % (where, info.items_key, index)
            if not isinstance(item, dict):
                self.skip("%s entry is not a mapping" % info.items_key, item_where)
                continue
            self.guarded(item_where, parse_item, item, context, item_where)
        new = self.findings[start:]
        counted = dict((key, 0) for key in SUMMARY_KEYS)
        for finding in new:
            if finding["status"] == "fail":
                key = "%sCount" % finding["severity"]
                if key in counted:
                    counted[key] += 1
                else:
                    counted["unknownCount"] += 1
        reported = _mapping(report.get("summary"))
        summary = {}
        for key in SUMMARY_KEYS:
            value = _count(reported.get(key))
            summary[key] = value if value is not None else counted[key]
        scanner = _mapping(report.get("scanner"))
        self.reports.append(
            _clean(
                {
                    "kind": kind,
                    "name": name,
                    "namespace": namespace,
                    "resource": resource,
                    "container": resource.get("container"),
                    "summary": summary,
                    "counted": counted,
                    "findings": len(new),
                    "artifact": context["artifact"],
                    "scanner": " ".join(t for t in (_text(scanner.get("name")), _text(scanner.get("version"))) if t) or None,
                    "updated": _text(report.get("updateTimestamp")) or _text(meta.get("creationTimestamp")),
                    "origin": location,
                }
            )
        )
        totals = self._kind_totals(kind)
        totals["reports"] += 1
        for finding in new:
            totals["findings"] += 1
            if finding["status"] in ("fail", "pass"):
                totals[finding["status"]] += 1
            if finding["status"] == "fail":
                totals[finding["severity"]] += 1

    def _sbom(self, report: Dict[str, Any], meta: Dict[str, Any], kind: str, name: Optional[str], namespace: Optional[str], where: str, location: str) -> None:
        """An SBOM has no findings: one row with its component counts, so the report can list what was inventoried."""
        components = report.get("components")
        if components is not None and not isinstance(components, dict):
            self.skip("SBOM report whose .report.components is not a CycloneDX mapping", where)
            return
        counts = _mapping(report.get("summary"))
        bom = _mapping(components)
        listed = bom.get("components")
        resource = report_resource(meta)
        if kind == "SbomReport" and not resource["namespace"] and resource["name"]:
            resource["namespace"] = namespace
        scanner = _mapping(report.get("scanner"))
        self.reports.append(
            _clean(
                {
                    "kind": kind,
                    "name": name,
                    "namespace": namespace,
                    "resource": resource,
                    "container": resource.get("container"),
                    "artifact": _artifact(report),
                    "summary": _clean({"componentsCount": _count(counts.get("componentsCount")), "dependenciesCount": _count(counts.get("dependenciesCount"))}),
                    "sbom": _clean(
                        {
                            "format": _text(bom.get("bomFormat")),
                            "spec_version": _text(bom.get("specVersion")),
                            "components_listed": len(listed) if isinstance(listed, list) else None,
                        }
                    ),
                    "scanner": " ".join(t for t in (_text(scanner.get("name")), _text(scanner.get("version"))) if t) or None,
                    "updated": _text(report.get("updateTimestamp")) or _text(meta.get("creationTimestamp")),
                    "findings": 0,
                    "origin": location,
                }
            )
        )
        self._kind_totals(kind)["reports"] += 1

    def _compliance(self, obj: Dict[str, Any], meta: Dict[str, Any], name: Optional[str], where: str, location: str) -> None:
        """ClusterComplianceReport: spec.compliance (the benchmark) and status (its results, computed by the
        operator from the other reports, so no findings are made from it: they would duplicate those reports)."""
        spec = _mapping(_mapping(obj.get("spec")).get("compliance"))
        status = obj.get("status")
        if status is None:
            status = {}
        if not isinstance(status, dict):
            self.skip("compliance report whose .status is not a mapping", where)
            return
        # trivy-operator writes status.summary {failCount, passCount}; its older docs show status.totalCounts.
        counts = _mapping(status.get("summary")) or _mapping(status.get("totalCounts"))
        summary_report = _mapping(status.get("summaryReport"))
        detail = _mapping(status.get("detailReport"))
        controls = []
        listed = summary_report.get("controlCheck")
        if isinstance(listed, list):
            for index, control in enumerate(listed):
                if not isinstance(control, dict) or not _text(control.get("id")):
                    self.skip("compliance control without an id", "%s .status.summaryReport.controlCheck[%d]" % (where, index))
                    continue
                total_fail = _count(control.get("totalFail"))
                controls.append(
                    _clean(
                        {
                            "id": _text(control.get("id")),
                            "name": _text(control.get("name")),
                            "severity": normalize_severity(_text(control.get("severity"))),
                            "total_fail": total_fail,
                            # no totalFail: a manual control the operator cannot evaluate
                            "status": "manual" if total_fail is None else ("fail" if total_fail else "pass"),
                        }
                    )
                )
        elif isinstance(detail.get("results"), list):
            for index, control in enumerate(detail["results"]):
                if not isinstance(control, dict) or not _text(control.get("id")):
                    self.skip("compliance control without an id", "%s .status.detailReport.results[%d]" % (where, index))
                    continue
                checks = [c for c in control.get("checks") or [] if isinstance(c, dict)]
                failed = sum(1 for c in checks if c.get("success") is False)
                controls.append(
                    _clean(
                        {
                            "id": _text(control.get("id")),
                            "name": _text(control.get("name")),
                            "severity": normalize_severity(_text(control.get("severity"))),
                            "total_fail": failed,
                            "status": "fail" if failed else ("pass" if checks else "manual"),
                        }
                    )
                )
        entry = _clean(
            {
                "name": name,
                "id": _text(spec.get("id")) or _text(summary_report.get("id")),
                "title": _text(spec.get("title")) or _text(summary_report.get("title")) or name,
                "version": _text(spec.get("version")),
                "description": _text(spec.get("description")),
                "report_type": _text(_mapping(obj.get("spec")).get("reportType")),
                "pass_count": _count(counts.get("passCount")),
                "fail_count": _count(counts.get("failCount")),
                "controls": controls,
                "controls_failed": sum(1 for c in controls if c.get("status") == "fail"),
                "controls_manual": sum(1 for c in controls if c.get("status") == "manual"),
                "updated": _text(status.get("updateTimestamp")) or _text(meta.get("creationTimestamp")),
                "origin": location,
            }
        )
        if not status:
            self.note("compliance reports without a .status (not evaluated yet) were listed without results", where)
        if has_bad_text(entry):
            self.skip(BAD_TEXT, where)
            return
        self.compliance.append(entry)
        self.reports.append(
            _clean(
                {
                    "kind": "ClusterComplianceReport",
                    "name": name,
                    "resource": {"kind": "ClusterComplianceReport", "name": name},
                    "summary": _clean({"passCount": entry.get("pass_count"), "failCount": entry.get("fail_count")}),
                    "findings": 0,
                    "updated": entry.get("updated"),
                    "origin": location,
                }
            )
        )
        self._kind_totals("ClusterComplianceReport")["reports"] += 1

    def _emit(
        self, context: Dict[str, Any], finding_id: str, title: str, status: str, severity: str, resource: Optional[Dict[str, Any]] = None, **kwargs: Any
    ) -> Optional[Finding]:
        finding = self.make(
            context["where"], finding_id, context["source"], title, status, severity, context["namespace"], resource or context["resource"], **kwargs
        )
        if finding is not None:
            self.add(finding)
        return finding

    def _vulnerability(self, item: Dict[str, Any], context: Dict[str, Any], where: str) -> None:
        vuln_id = _text(item.get("vulnerabilityID"))
        if not vuln_id:
            self.skip("vulnerability without vulnerabilityID", where)
            return
        score = self.score(item.get("score"), where)
        if score is None:
            score = score_from_cvss(item.get("cvss"))
        severity, origin = self.severity(item.get("severity"), score, where)
        package = _text(item.get("resource"))
        installed = _text(item.get("installedVersion"))
        fixed = _text(item.get("fixedVersion"))
        title = vulnerability_title(vuln_id, _text(item.get("title")), package, installed)
        if fixed:
            remediation = "Upgrade %s from %s to %s or later (rebuild the image)." % (package or "the package", installed or "?", fixed)
        else:
            remediation = "No fixed version of %s is available yet; mitigate, or replace the package." % (package or "the package")
        evidence = _clean(
            {
                "package": package,
                "installed_version": installed,
                "fixed_version": fixed,
                "target": _text(item.get("target")),
                "image": context["artifact"],
                "published_date": _text(item.get("publishedDate")),
                "last_modified_date": _text(item.get("lastModifiedDate")),
                "package_type": _text(item.get("packageType")),
                "package_path": _text(item.get("packagePath")),
                "class": _text(item.get("class")),
                "report": context["report"],
                "report_kind": context["kind"],
                "severity_origin": origin,
                "reported_severity": _text(item.get("severity")) if origin == "unrecognized" else None,
            }
        )
        self._emit(
            context,
            vuln_id,
            title,
            "fail",
            severity,
            description=_text(item.get("description")) or "",
            remediation=remediation,
            references=_references(item.get("primaryLink"), item.get("links")),
            evidence=evidence,
            score=score,
        )

    def _check(self, item: Dict[str, Any], context: Dict[str, Any], where: str) -> None:
        raw_id = _text(item.get("checkID")) or _text(item.get("id"))
        check_id = normalize_check_id(raw_id)
        if not check_id:
            self.skip("check without checkID", where)
            return
        success = item.get("success")
        if "success" not in item:
            self.note("checks without a success flag were treated as failed", where)
        status = "pass" if success is True else "fail"
        severity, origin = self.severity(item.get("severity"), None, where)
        resource = dict(context["resource"])
        scope = _mapping(item.get("scope"))
        if _text(scope.get("type")) == "Container" and _text(scope.get("value")):
            resource["container"] = _text(scope.get("value"))
        messages = []
        if isinstance(item.get("messages"), list):  # they quote the offending values: redacted
            messages = [redact_text(m) for m in (_text(v) for v in item["messages"]) if m]
        evidence = _clean(
            {
                "check_id": raw_id,
                "category": _text(item.get("category")),
                "messages": messages[:MAX_MESSAGES],
                "scope": {"type": _text(scope.get("type")), "value": _text(scope.get("value"))} if scope else None,
                "report": context["report"],
                "report_kind": context["kind"],
                "reported_severity": _text(item.get("severity")) if origin == "unrecognized" else None,
            }
        )
        self._emit(
            context,
            check_id,
            _text(item.get("title")) or check_id,
            status,
            severity,
            resource=resource,
            description=_text(item.get("description")) or "",
            remediation=_text(item.get("remediation")) or "",
            evidence=evidence,
        )

    def _secret(self, item: Dict[str, Any], context: Dict[str, Any], where: str) -> None:
        rule = _text(item.get("ruleID"))
        if not rule:
            self.skip("secret without ruleID", where)
            return
        severity, origin = self.severity(item.get("severity"), None, where)
        category = _text(item.get("category"))
        target = _text(item.get("target"))
        evidence = _clean(
            {
                "rule_id": rule,
                "category": category,
                "target": target,
                "image": context["artifact"],
                "report": context["report"],
                "report_kind": context["kind"],
                "reported_severity": _text(item.get("severity")) if origin == "unrecognized" else None,
            }
        )
        title = _text(item.get("title")) or category or rule
        self._emit(
            context,
            rule,
            title,
            "fail",
            severity,
            description="A %s secret was found in %s." % (category or title, target or "the image"),
            remediation="Remove the secret from the image, rotate it, and inject it at runtime (Secret, external secret store).",
            evidence=evidence,
        )

    def result(self, max_findings: Optional[int] = None) -> Dict[str, Any]:
        findings, truncated = self.select(max_findings)
        summary = self.summary()
        summary.update(
            {
                "reports": len(self.reports),
                "returned": len(findings),
                "truncated": truncated,
                "by_kind": self.by_kind,
                "ignored_by_filter": self.ignored,
                "compliance": self.compliance,
            }
        )
        return {
            "findings": findings,
            "reports": self.reports,
            "summary": summary,
            "compliance": self.compliance,
            "skips": list(self.skips.values()),
            "warnings": self.warnings(),
        }


# ----------------------------------------------------------------------------------------------------------
# reading exports
# ----------------------------------------------------------------------------------------------------------
EXPORT_EXTENSIONS = (".yaml", ".yml", ".json")


def export_files(path: str) -> List[str]:
    """The export files under path (a file, or a directory walked recursively, sorted, hidden entries skipped)."""
    if not path:
        raise TrivyInputError("no path given")
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise TrivyInputError("path %s does not exist" % path)
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(EXPORT_EXTENSIONS):
                found.append(os.path.join(root, name))
    if not found:
        raise TrivyInputError("directory %s contains no .yaml, .yml or .json files" % path)
    return found


def _looks_like_json(path: str, text: str) -> bool:
    if path.lower().endswith(".json"):
        return True
    if path.lower().endswith((".yaml", ".yml")):
        return False
    return text.lstrip()[:1] in ("{", "[")


def load_documents(path: str, flags: Optional[Dict[str, bool]] = None) -> List[Tuple[int, Any]]:
    """(document_number, object) pairs from one JSON or (multi-document) YAML file; 1-based numbers.

    ``flags`` (a dict), when given, gets ``surrogate_escapes``: whether the text has an escape that can decode to a
    lone surrogate (then the records must be checked).
    """
    with gc_paused():
        try:
            return list(_load_documents(path, flags))
        except RecursionError:
            raise TrivyInputError("%s: %s" % (path, TOO_DEEP)) from None


def _load_documents(path: str, flags: Optional[Dict[str, bool]] = None) -> Iterator[Tuple[int, Any]]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except (IOError, OSError) as exc:
        raise TrivyInputError("cannot read %s: %s" % (path, exc)) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TrivyInputError("%s is not UTF-8 text (byte %d)" % (path, exc.start)) from exc
    if flags is not None:
        flags["surrogate_escapes"] = bool(_SURROGATE_ESCAPE.search(text))
    if _looks_like_json(path, text):
        if not text.strip():
            raise TrivyInputError("%s is empty" % path)
        try:
            data = json.loads(text)
        except ValueError as exc:
            line = getattr(exc, "lineno", None)
            column = getattr(exc, "colno", None)
            where = " at line %s column %s" % (line, column) if line else ""
            message = getattr(exc, "msg", exc)
            raise TrivyInputError("%s document 1: invalid JSON%s: %s" % (path, where, message)) from exc
        yield 1, data
        return
    if not HAS_YAML:
        raise TrivyInputError("reading YAML (%s) needs the Python library PyYAML; JSON exports work without it" % path)
    number = 0
    documents = yaml.load_all(text, Loader=YAML_LOADER)
    while True:
        try:
            document = next(documents)
        except StopIteration:
            break
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            where = " at line %d column %d" % (mark.line + 1, mark.column + 1) if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise TrivyInputError("%s document %d: invalid YAML%s: %s" % (path, number + 1, where, problem)) from exc
        number += 1
        if document is not None:
            yield number, document


def iter_objects(document: Any, location: str) -> Iterator[Tuple[str, Any]]:
    """Expand List objects and JSON arrays into (location, object) pairs."""
    if isinstance(document, list):
        for index, item in enumerate(document):
            yield "%s item %d" % (location, index + 1), item
    elif isinstance(document, dict) and isinstance(document.get("items"), list) and str(document.get("kind") or "").endswith("List"):
        for index, item in enumerate(document["items"]):
            yield "%s item %d" % (location, index + 1), item
    else:
        yield location, document


def collect_from_path(
    path: str,
    kinds: Optional[Iterable[str]] = None,
    namespaces: Optional[Iterable[str]] = None,
    cluster: Optional[str] = None,
    max_findings: Optional[int] = None,
) -> Dict[str, Any]:
    """Findings from export files; see ReportCollector.result for the returned dict."""
    collector = ReportCollector(cluster=cluster, kinds=kinds, namespaces=namespaces)
    files = export_files(path)
    for file_path in files:
        flags: Dict[str, bool] = {}
        documents = load_documents(file_path, flags)
        collector.check_text = flags.get("surrogate_escapes", True)
        if not documents:
            collector.skip("file without any YAML/JSON document", file_path)
        with gc_paused():
            for number, document in documents:
                for location, obj in iter_objects(document, "%s document %d" % (file_path, number)):
                    collector.add_object(obj, location)
        del documents
    result = collector.result(max_findings)
    result["sources"] = files
    return result


def collect_from_api(
    api_client: Any,
    list_all: Callable[..., Dict[str, Any]],
    kinds: Optional[Iterable[str]] = None,
    namespaces: Optional[Iterable[str]] = None,
    cluster: Optional[str] = None,
    max_findings: Optional[int] = None,
    limit: int = 500,
    not_found_is_error: bool = False,
    not_found_error: Type[BaseException] = Exception,
) -> Dict[str, Any]:
    """Findings from the API. ``list_all`` is ``_kube.list_all`` (passed in to keep this module free of it).

    A kind whose CRD is not installed (``not_found_error`` raised) becomes a warning, or an error when
    ``not_found_is_error`` (the caller asked for that kind explicitly).
    """
    collector = ReportCollector(cluster=cluster, kinds=kinds, namespaces=namespaces)
    # the API server encodes JSON with Go, which never writes a lone surrogate (it writes U+FFFD instead)
    collector.check_text = False
    sources = []
    missing = []
    for kind in (k for k in REPORT_KIND_NAMES if k in collector.kinds):
        info = REPORT_KINDS[kind]
        scopes = sorted(namespaces) if (namespaces and info.namespaced) else [None]
        for namespace in scopes:
            try:
                listed = list_all(api_client, API_VERSION, info.plural, namespace=namespace, limit=limit)
            except not_found_error:
                if not_found_is_error:
                    raise
                missing.append(kind)
                break
            where = "namespace %s" % namespace if namespace else ("all namespaces" if info.namespaced else "cluster")
            sources.append("%s (%s, %d objects, %d pages)" % (info.plural, where, len(listed["items"]), listed.get("pages") or 1))
            with gc_paused():
                for index, obj in enumerate(listed["items"]):
                    collector.add_object(obj, "API %s %s item %d" % (info.plural, where, index + 1))
    result = collector.result(max_findings)
    if missing:
        result["warnings"].append("not served by this cluster (Trivy Operator CRD not installed?): %s" % ", ".join(missing))
    if missing and len(missing) == len(collector.kinds):
        raise TrivyInputError(
            "none of the requested Trivy Operator report kinds is served by this cluster (%s): is the Trivy Operator installed?" % ", ".join(missing)
        )
    result["sources"] = sources
    result["summary"]["kinds_not_served"] = missing
    return result
