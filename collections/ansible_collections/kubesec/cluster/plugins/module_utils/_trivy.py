# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trivy Operator reports and Trivy CLI JSON -> normalized findings.

Private module_utils (leading underscore): the API may change between minor releases.

Inputs (see docs: /work/shared/reference/formats.md sections 2 and 3):

* Trivy Operator report objects (``aquasecurity.github.io/v1alpha1``): VulnerabilityReport,
  ClusterVulnerabilityReport, ConfigAuditReport, ClusterConfigAuditReport, ExposedSecretReport,
  RbacAssessmentReport, ClusterRbacAssessmentReport, InfraAssessmentReport, ClusterInfraAssessmentReport;
  read from the API (``collect_from_api``) or from exports (``collect_from_path``: ``kubectl get ... -o yaml``
  ``List`` objects, multi-document YAML, JSON).
* Trivy CLI ``--format json`` results (``parse_cli_result``): ``trivy image|fs|config|repo`` (``Results``) and
  ``trivy k8s`` (``Resources`` for ``--report all``, ``Findings`` for ``--report summary``);
  ``build_command`` / ``run_scan`` run the CLI through a caller-supplied runner (``AnsibleModule.run_command``).

Rules:

* Check ids are normalized: ``KSV001``, ``KSV-0001``, ``AVD-KSV-0001`` -> ``KSV-0001`` (any ``PREFIX`` + number);
  CLI results prefer ``AVDID`` (trivy-checks v1 calls the kube-apiserver AlwaysPullImages check ``KSV0012`` while
  its AVD id is ``AVD-KCV-0012``; reports that only carry ``KSV0012`` are mapped to ``KCV-0012`` too).
* Severity: the reported one; when missing or ``UNKNOWN`` it is derived from the CVSS score
  (``severity_from_score``); an unrecognized spelling becomes ``unknown`` and is counted.
* Status: vulnerabilities and exposed secrets ``fail``; checks ``pass`` when ``success: true`` (reports only list
  passed checks when the operator records them) else ``fail``; CLI misconfigurations ``PASS``/``FAIL``, and
  ``EXCEPTION`` becomes ``waived``.
* Bad input never crashes: syntax errors raise ``TrivyInputError`` naming the file and document; entries with
  missing fields are skipped and counted (``skips`` and ``warnings``; not ``skipped``, which would make Ansible
  report the task as skipped).
* The matched text of exposed secrets (``match``, ``Match``, ``Code``) is never copied into findings.
* Titles and descriptions are kept as plain text, unescaped: escaping is the report renderer's job.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import bisect
import datetime
import gc
import json
import math
import os
import re

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._redact import redact_text
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import (
    SEVERITIES,
    SEVERITY_ORDER,
    apply_waiver,
    make_finding,
    normalize_severity,
    severity_from_score,
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
    def __init__(self, plural, namespaced, source, items_key):
        self.plural = plural
        self.namespaced = namespaced
        self.source = source
        self.items_key = items_key


REPORT_KINDS = {
    "VulnerabilityReport": _Kind("vulnerabilityreports", True, "trivy-vulnerability", "vulnerabilities"),
    "ClusterVulnerabilityReport": _Kind("clustervulnerabilityreports", False, "trivy-vulnerability",
                                        "vulnerabilities"),
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
_SUMMARY_SEVERITY = {"criticalCount": "critical", "highCount": "high", "mediumCount": "medium",
                     "lowCount": "low", "unknownCount": "unknown"}

RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
# KSV checks written for Roles and bindings (trivy-checks checks/kubernetes, rbac); some of their messages do not
# name the resource, so the id decides the source of trivy config results.
RBAC_CHECK_IDS = frozenset(["KSV-%04d" % n for n in list(range(41, 57)) + list(range(111, 115))])
MAX_REFERENCES = 10
MAX_MESSAGES = 10
SKIP_EXAMPLES = 3

SUBCOMMANDS = ("config", "fs", "k8s", "image")
_FORBIDDEN_ARGS = ("--format", "-f", "--output", "-o", "--report-format")

_CHECK_ID = re.compile(r"^(?:AVD-)?([A-Za-z]{2,6})-?0*(\d{1,6})$")
_ID_FIXUPS = {"KSV0012": "KCV-0012"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class TrivyInputError(KubesecError, ValueError):
    """Input that cannot be read at all (syntax error, wrong shape); the message names the input."""


class TrivyRunError(KubesecError, RuntimeError):
    """The Trivy CLI failed; the message carries its exit code and stderr."""


# ----------------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------------
def normalize_check_id(value):
    """KSV001 / KSV-0001 / AVD-KSV-0001 / ksv001 -> KSV-0001; other ids (rule names) are returned stripped."""
    if value is None:
        return None
    text = (_text(value) or "").strip()
    if not text:
        return None
    fixed = _ID_FIXUPS.get(text.upper())
    if fixed:
        return fixed
    match = _CHECK_ID.match(text)
    if not match:
        return text
    return "%s-%04d" % (match.group(1).upper(), int(match.group(2)))


def _text(value):
    """Scalar -> str (datetime as RFC 3339), None/'' -> None; containers -> None."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None or value.utcoffset() == datetime.timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)
    return text if text.strip() else None


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _score(value):
    """(score or None, invalid?) - a CVSS score must be a number in 0..10."""
    if value is None or value == "":
        return None, False
    if isinstance(value, bool):
        return None, True
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, True
    if math.isnan(number) or number < 0 or number > 10:
        return None, True
    return number, False


def score_from_cvss(cvss, prefer=None):
    """A CVSS base score from Trivy's vendor map {vendor: {V3Score, V40Score, V2Score}}.

    Vendor order: ``prefer`` (the SeveritySource), then ``nvd``, then the others alphabetically; V3 scores are
    preferred over V4.0 and V2. Zero and invalid scores are ignored.
    """
    if not isinstance(cvss, dict) or not cvss:
        return None
    vendors = []
    for vendor in [prefer, "nvd", *sorted(str(k) for k in cvss)]:
        if vendor and vendor in cvss and vendor not in vendors:
            vendors.append(vendor)
    for field in ("V3Score", "V40Score", "V2Score"):
        for vendor in vendors:
            score = _score(_mapping(cvss.get(vendor)).get(field))[0]
            if score:
                return score
    return None


def resolve_severity(raw, score):
    """(severity, origin): origin is 'reported', 'score' (derived from CVSS), 'unrecognized' or 'none'."""
    text = _text(raw)
    if text and text.strip().upper() != "UNKNOWN":
        severity = normalize_severity(text, default=None)
        if severity is not None:
            return severity, "reported"
        return "unknown", "unrecognized"
    derived = severity_from_score(score)
    if derived != "unknown":
        return derived, "score"
    return "unknown", "none"


def _references(*sources):
    refs = []
    for source in sources:
        values = source if isinstance(source, list) else [source]
        for value in values:
            text = _text(value)
            if text and text not in refs:
                refs.append(text)
    return refs[:MAX_REFERENCES]


def _discriminator(evidence):
    """What tells apart two hits of one check on one resource: the package (one CVE in two packages of an
    image) or the place in the file (one misconfiguration at several lines)."""
    evidence = evidence or {}
    parts = [str(evidence[key]) for key in ("package", "package_path", "file", "start_line") if evidence.get(key)]
    return "|".join(parts) or None


def _clean(mapping):
    return {key: value for key, value in mapping.items() if value is not None and value != [] and value != ""}


# A lone UTF-16 surrogate ("\\ud800" in JSON) decodes to a str that cannot be written as UTF-8: the record that
# holds one is left out and named, instead of failing the whole module when Ansible encodes its result.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Strict UTF-8 decoding lets no surrogate through: only an escape (JSON \\ud800, YAML \\ud800 or \\U0000d800) can
# make one, so records are only checked when the text has such an escape (the check costs ~70% on 50k records).
_SURROGATE_ESCAPE = re.compile(r"\\(?:u|U0000)[dD][89a-fA-F]")
_MAX_WALK = 10000


def _printable(text):
    """Locations are built from names in the input: a lone surrogate there is shown as its escape (\\udfff)."""
    if isinstance(text, str) and _SURROGATE.search(text):
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def has_bad_text(value):
    """Whether a finding-sized value holds a lone surrogate (walks at most _MAX_WALK nodes, no recursion)."""
    stack = [value]
    seen = 0
    while stack and seen < _MAX_WALK:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


BAD_TEXT = "record with text that is not valid Unicode (a lone UTF-16 surrogate escape such as \\ud800)"


# Resource names from Trivy misconfiguration messages (trivy config has no structured resource field).
_MESSAGE_PATTERNS = (
    re.compile(r"Container '(?P<container>[^']+)' of (?P<kind>[A-Z][A-Za-z]+) '(?P<name>[^']+)'"),
    re.compile(r"container \"(?P<container>[^\"]+)\" of (?P<kind>[a-z]+) \"(?P<name>[^\"]+)\""
               r"(?: in \"(?P<namespace>[^\"]+)\" namespace)?"),
    re.compile(r"Container of (?P<kind>[A-Z][A-Za-z]+) '(?P<name>[^']+)'"),
    re.compile(r"^(?P<kind>[A-Z][A-Za-z]+) '(?P<name>[^']+)' (?:should|shouldn't|must)"),
    re.compile(r"^(?P<kind>pod|deployment|daemonset|statefulset|replicaset|job|cronjob) (?P<name>\S+) in "
               r"(?P<namespace>\S+) namespace"),
    # KSV118 names the workload, not its kind: "container legacy-api in shop namespace is using the default ..."
    re.compile(r"^container (?P<name>[^\s\"']+) in (?P<namespace>\S+) namespace"),
)
_KIND_CASE = {"pod": "Pod", "deployment": "Deployment", "daemonset": "DaemonSet", "statefulset": "StatefulSet",
              "replicaset": "ReplicaSet", "job": "Job", "cronjob": "CronJob",
              "replicationcontroller": "ReplicationController"}


def resource_from_message(message):
    """Best effort {kind, name, namespace, container} from a Trivy misconfiguration message, or None."""
    text = _text(message)
    if not text:
        return None
    for pattern in _MESSAGE_PATTERNS:
        match = pattern.search(text)
        if match:
            found = match.groupdict()
            kind = found.get("kind")
            return {"kind": _KIND_CASE.get(kind.lower(), kind) if kind and kind.islower() else kind,
                    "name": found.get("name"), "namespace": found.get("namespace"),
                    "container": found.get("container")}
    return None


# ----------------------------------------------------------------------------------------------------------
# collecting findings with counted skips
# ----------------------------------------------------------------------------------------------------------
class FindingSet:
    """Findings plus the bookkeeping every input path shares (skips, warnings, counters)."""

    def __init__(self, cluster=None):
        self.cluster = cluster
        self.findings = []
        self.skips = {}
        self.notes = {}
        self.counters = {"unrecognized_severity": 0, "severity_from_score": 0, "invalid_score": 0}

    def skip(self, reason, location, count=1):
        reason, location = _printable(reason), _printable(location)
        entry = self.skips.setdefault(reason, {"reason": reason, "count": 0, "examples": []})
        entry["count"] += count
        if len(entry["examples"]) < SKIP_EXAMPLES:
            entry["examples"].append(location)

    def note(self, message, location):
        """A warning counted per message (e.g. 'checks without success flag treated as failed')."""
        entry = self.notes.setdefault(_printable(message), {"count": 0, "first": _printable(location)})
        entry["count"] += 1

    def severity(self, raw, score, location):
        severity, origin = resolve_severity(raw, score)
        if origin == "unrecognized":
            self.counters["unrecognized_severity"] += 1
            self.note("unrecognized severity values were counted as unknown", location)
        elif origin == "score":
            self.counters["severity_from_score"] += 1
        return severity, origin

    def score(self, value, location):
        score, invalid = _score(value)
        if invalid:
            self.counters["invalid_score"] += 1
            self.note("scores that are not numbers between 0 and 10 were dropped", location)
        return score

    def add(self, finding):
        self.findings.append(finding)

    def warnings(self):
        lines = []
        for entry in self.skips.values():
            lines.append("skipped %d: %s (first: %s)" % (entry["count"], entry["reason"], entry["examples"][0]))
        for message, entry in self.notes.items():
            lines.append("%d %s (first: %s)" % (entry["count"], message, entry["first"]))
        return lines

    def summary(self):
        by_severity = dict((name, 0) for name in SEVERITIES)
        by_status = {}
        by_source = {}
        for finding in self.findings:
            by_status[finding["status"]] = by_status.get(finding["status"], 0) + 1
            by_source[finding["source"]] = by_source.get(finding["source"], 0) + 1
            if finding["status"] == "fail":
                by_severity[finding["severity"]] += 1
        summary = {
            "findings": len(self.findings),
            "by_severity": by_severity,
            "by_status": by_status,
            "by_source": by_source,
            "skipped": sum(entry["count"] for entry in self.skips.values()),
        }
        summary.update(self.counters)
        return summary

    def select(self, max_findings=None):
        """(returned findings, truncated?) - with a cap, the most severe failing findings are kept."""
        if max_findings is None or max_findings < 0 or len(self.findings) <= max_findings:
            return self.findings, False
        order = sorted(range(len(self.findings)),
                       key=lambda i: (self.findings[i]["status"] != "fail",
                                      SEVERITY_ORDER[self.findings[i]["severity"]], i))
        keep = sorted(order[:max_findings])
        return [self.findings[i] for i in keep], True


# ----------------------------------------------------------------------------------------------------------
# Trivy Operator reports
# ----------------------------------------------------------------------------------------------------------
def report_resource(metadata):
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


def _artifact(report):
    artifact = _mapping(report.get("artifact"))
    repository = _text(artifact.get("repository"))
    if not repository:
        return None
    server = _text(_mapping(report.get("registry")).get("server"))
    text = "%s/%s" % (server, repository) if server else repository
    if _text(artifact.get("tag")):
        text += ":" + _text(artifact.get("tag"))
    if _text(artifact.get("digest")):
        text += "@" + _text(artifact.get("digest"))
    return text


def _count(value):
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


class ReportCollector(FindingSet):
    """Trivy Operator report objects -> findings, per-report rows and totals by kind."""

    def __init__(self, cluster=None, kinds=None, namespaces=None):
        super(ReportCollector, self).__init__(cluster)
        self.kinds = set(kinds) if kinds else set(REPORT_KIND_NAMES)
        self.namespaces = set(namespaces) if namespaces else None
        self.reports = []
        self.by_kind = {}
        self.ignored = 0
        self.compliance = []
        self.check_text = True  # look for lone surrogates in each record (see _SURROGATE_ESCAPE)

    def _kind_totals(self, kind):
        if kind not in self.by_kind:
            totals = {"reports": 0, "findings": 0, "fail": 0, "pass": 0}
            totals.update((name, 0) for name in SEVERITIES)
            self.by_kind[kind] = totals
        return self.by_kind[kind]

    def add_object(self, obj, location):
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
        if self.check_text and has_bad_text([name, namespace, report_resource(meta), obj.get("spec"),
                                             obj.get("status"), _mapping(obj.get("report")).get("artifact")]):
            self.skip("report object whose name, labels or summary hold text that is not valid Unicode (lone "
                      "surrogate)", where)
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
            "kind": kind, "source": info.source, "report": name, "namespace": namespace or resource["namespace"],
            "resource": resource, "artifact": _artifact(report), "where": where,
        }
        start = len(self.findings)
        parse = {"vulnerabilities": self._vulnerability, "checks": self._check, "secrets": self._secret}
        parse_item = parse[info.items_key]
        for index, item in enumerate(items):
            item_where = "%s .report.%s[%d]" % (where, info.items_key, index)
            if not isinstance(item, dict):
                self.skip("%s entry is not a mapping" % info.items_key, item_where)
                continue
            before = len(self.findings)
            parse_item(item, context, item_where)
            if self.check_text and len(self.findings) > before and has_bad_text(self.findings[before:]):
                del self.findings[before:]
                self.skip(BAD_TEXT, item_where)
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
        self.reports.append(_clean({
            "kind": kind, "name": name, "namespace": namespace, "resource": resource, "container":
            resource.get("container"), "summary": summary, "counted": counted, "findings": len(new),
            "artifact": context["artifact"], "scanner": " ".join(
                t for t in (_text(scanner.get("name")), _text(scanner.get("version"))) if t) or None,
            "updated": _text(report.get("updateTimestamp")) or _text(meta.get("creationTimestamp")),
            "origin": location,
        }))
        totals = self._kind_totals(kind)
        totals["reports"] += 1
        for finding in new:
            totals["findings"] += 1
            if finding["status"] in ("fail", "pass"):
                totals[finding["status"]] += 1
            if finding["status"] == "fail":
                totals[finding["severity"]] += 1

    def _sbom(self, report, meta, kind, name, namespace, where, location):
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
        self.reports.append(_clean({
            "kind": kind, "name": name, "namespace": namespace, "resource": resource,
            "container": resource.get("container"), "artifact": _artifact(report),
            "summary": _clean({"componentsCount": _count(counts.get("componentsCount")),
                               "dependenciesCount": _count(counts.get("dependenciesCount"))}),
            "sbom": _clean({"format": _text(bom.get("bomFormat")), "spec_version": _text(bom.get("specVersion")),
                            "components_listed": len(listed) if isinstance(listed, list) else None}),
            "scanner": " ".join(t for t in (_text(scanner.get("name")), _text(scanner.get("version"))) if t) or None,
            "updated": _text(report.get("updateTimestamp")) or _text(meta.get("creationTimestamp")),
            "findings": 0, "origin": location,
        }))
        self._kind_totals(kind)["reports"] += 1

    def _compliance(self, obj, meta, name, where, location):
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
                    self.skip("compliance control without an id", "%s .status.summaryReport.controlCheck[%d]"
                              % (where, index))
                    continue
                total_fail = _count(control.get("totalFail"))
                controls.append(_clean({
                    "id": _text(control.get("id")), "name": _text(control.get("name")),
                    "severity": normalize_severity(_text(control.get("severity"))),
                    "total_fail": total_fail,
                    # no totalFail: a manual control the operator cannot evaluate
                    "status": "manual" if total_fail is None else ("fail" if total_fail else "pass"),
                }))
        elif isinstance(detail.get("results"), list):
            for index, control in enumerate(detail["results"]):
                if not isinstance(control, dict) or not _text(control.get("id")):
                    self.skip("compliance control without an id", "%s .status.detailReport.results[%d]"
                              % (where, index))
                    continue
                checks = [c for c in control.get("checks") or [] if isinstance(c, dict)]
                failed = sum(1 for c in checks if c.get("success") is False)
                controls.append(_clean({
                    "id": _text(control.get("id")), "name": _text(control.get("name")),
                    "severity": normalize_severity(_text(control.get("severity"))),
                    "total_fail": failed, "status": "fail" if failed else ("pass" if checks else "manual"),
                }))
        entry = _clean({
            "name": name, "id": _text(spec.get("id")) or _text(summary_report.get("id")),
            "title": _text(spec.get("title")) or _text(summary_report.get("title")) or name,
            "version": _text(spec.get("version")), "description": _text(spec.get("description")),
            "report_type": _text(_mapping(obj.get("spec")).get("reportType")),
            "pass_count": _count(counts.get("passCount")), "fail_count": _count(counts.get("failCount")),
            "controls": controls,
            "controls_failed": sum(1 for c in controls if c.get("status") == "fail"),
            "controls_manual": sum(1 for c in controls if c.get("status") == "manual"),
            "updated": _text(status.get("updateTimestamp")) or _text(meta.get("creationTimestamp")),
            "origin": location,
        })
        if not status:
            self.note("compliance reports without a .status (not evaluated yet) were listed without results", where)
        if has_bad_text(entry):
            self.skip(BAD_TEXT, where)
            return
        self.compliance.append(entry)
        self.reports.append(_clean({
            "kind": "ClusterComplianceReport", "name": name, "resource": {"kind": "ClusterComplianceReport",
                                                                          "name": name},
            "summary": _clean({"passCount": entry.get("pass_count"), "failCount": entry.get("fail_count")}),
            "findings": 0, "updated": entry.get("updated"), "origin": location,
        }))
        self._kind_totals("ClusterComplianceReport")["reports"] += 1

    def _emit(self, context, finding_id, title, status, severity, resource=None, **kwargs):
        try:
            finding = make_finding(finding_id, context["source"], title, status, severity=severity,
                                   cluster=self.cluster, namespace=context["namespace"],
                                   resource=resource or context["resource"],
                                   discriminator=_discriminator(kwargs.get("evidence")), **kwargs)
        except ValueError as exc:  # FindingError: a value of the wrong type in an otherwise usable entry
            self.skip("entry with an invalid field (%s)" % exc, context["where"])
            return None
        self.add(finding)
        return finding

    def _vulnerability(self, item, context, where):
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
        title = _text(item.get("title")) or "%s in %s" % (vuln_id, " ".join(t for t in (package, installed) if t)
                                                          or "an unnamed package")
        if fixed:
            remediation = "Upgrade %s from %s to %s or later (rebuild the image)." % (
                package or "the package", installed or "?", fixed)
        else:
            remediation = "No fixed version of %s is available yet; mitigate, or replace the package." % (
                package or "the package")
        evidence = _clean({
            "package": package, "installed_version": installed, "fixed_version": fixed,
            "target": _text(item.get("target")), "image": context["artifact"],
            "published_date": _text(item.get("publishedDate")),
            "last_modified_date": _text(item.get("lastModifiedDate")),
            "package_type": _text(item.get("packageType")), "package_path": _text(item.get("packagePath")),
            "class": _text(item.get("class")), "report": context["report"], "report_kind": context["kind"],
            "severity_origin": origin,
            "reported_severity": _text(item.get("severity")) if origin == "unrecognized" else None,
        })
        self._emit(context, vuln_id, title, "fail", severity, description=_text(item.get("description")) or "",
                   remediation=remediation, references=_references(item.get("primaryLink"), item.get("links")),
                   evidence=evidence, score=score)

    def _check(self, item, context, where):
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
        evidence = _clean({
            "check_id": raw_id, "category": _text(item.get("category")), "messages": messages[:MAX_MESSAGES],
            "scope": {"type": _text(scope.get("type")), "value": _text(scope.get("value"))} if scope else None,
            "report": context["report"], "report_kind": context["kind"],
            "reported_severity": _text(item.get("severity")) if origin == "unrecognized" else None,
        })
        self._emit(context, check_id, _text(item.get("title")) or check_id, status, severity, resource=resource,
                   description=_text(item.get("description")) or "",
                   remediation=_text(item.get("remediation")) or "", evidence=evidence)

    def _secret(self, item, context, where):
        rule = _text(item.get("ruleID"))
        if not rule:
            self.skip("secret without ruleID", where)
            return
        severity, origin = self.severity(item.get("severity"), None, where)
        category = _text(item.get("category"))
        target = _text(item.get("target"))
        evidence = _clean({
            "rule_id": rule, "category": category, "target": target, "image": context["artifact"],
            "report": context["report"], "report_kind": context["kind"],
            "reported_severity": _text(item.get("severity")) if origin == "unrecognized" else None,
        })
        title = _text(item.get("title")) or category or rule
        self._emit(context, rule, title, "fail", severity,
                   description="A %s secret was found in %s." % (category or title, target or "the image"),
                   remediation="Remove the secret from the image, rotate it, and inject it at runtime "
                               "(Secret, external secret store).",
                   evidence=evidence)

    def result(self, max_findings=None):
        findings, truncated = self.select(max_findings)
        summary = self.summary()
        summary.update({"reports": len(self.reports), "returned": len(findings), "truncated": truncated,
                        "by_kind": self.by_kind, "ignored_by_filter": self.ignored,
                        "compliance": self.compliance})
        return {"findings": findings, "reports": self.reports, "summary": summary, "compliance": self.compliance,
                "skips": list(self.skips.values()), "warnings": self.warnings()}


# ----------------------------------------------------------------------------------------------------------
# reading exports
# ----------------------------------------------------------------------------------------------------------
EXPORT_EXTENSIONS = (".yaml", ".yml", ".json")


def export_files(path):
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


def _looks_like_json(path, text):
    if path.lower().endswith(".json"):
        return True
    if path.lower().endswith((".yaml", ".yml")):
        return False
    return text.lstrip()[:1] in ("{", "[")


class _GcPaused:
    """Pause the cyclic garbage collector while building many objects (YAML loads run ~5x faster)."""

    def __enter__(self):
        self.was_enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        if self.was_enabled:
            gc.enable()


TOO_DEEP = "nested deeper than the parser allows (about 1000 levels); no Trivy output is shaped like that"


def load_documents(path, flags=None):
    """(document_number, object) pairs from one JSON or (multi-document) YAML file; 1-based numbers.

    ``flags`` (a dict), when given, gets ``surrogate_escapes``: whether the text has an escape that can decode to a
    lone surrogate (then the records must be checked).
    """
    with _GcPaused():
        try:
            return list(_load_documents(path, flags))
        except RecursionError:
            raise TrivyInputError("%s: %s" % (path, TOO_DEEP)) from None


def _load_documents(path, flags=None):
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
        raise TrivyInputError("reading YAML (%s) needs the Python library PyYAML; JSON exports work without it"
                              % path)
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


def iter_objects(document, location):
    """Expand List objects and JSON arrays into (location, object) pairs."""
    if isinstance(document, list):
        for index, item in enumerate(document):
            yield "%s item %d" % (location, index + 1), item
    elif isinstance(document, dict) and isinstance(document.get("items"), list) and \
            str(document.get("kind") or "").endswith("List"):
        for index, item in enumerate(document["items"]):
            yield "%s item %d" % (location, index + 1), item
    else:
        yield location, document


def collect_from_path(path, kinds=None, namespaces=None, cluster=None, max_findings=None):
    """Findings from export files; see ReportCollector.result for the returned dict."""
    collector = ReportCollector(cluster=cluster, kinds=kinds, namespaces=namespaces)
    files = export_files(path)
    for file_path in files:
        flags = {}
        documents = load_documents(file_path, flags)
        collector.check_text = flags.get("surrogate_escapes", True)
        if not documents:
            collector.skip("file without any YAML/JSON document", file_path)
        with _GcPaused():
            for number, document in documents:
                for location, obj in iter_objects(document, "%s document %d" % (file_path, number)):
                    collector.add_object(obj, location)
        del documents
    result = collector.result(max_findings)
    result["sources"] = files
    return result


def collect_from_api(api_client, list_all, kinds=None, namespaces=None, cluster=None, max_findings=None,
                     limit=500, not_found_is_error=False, not_found_error=Exception):
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
            sources.append("%s (%s, %d objects, %d pages)" % (info.plural, where, len(listed["items"]),
                                                              listed.get("pages") or 1))
            with _GcPaused():
                for index, obj in enumerate(listed["items"]):
                    collector.add_object(obj, "API %s %s item %d" % (info.plural, where, index + 1))
    result = collector.result(max_findings)
    if missing:
        result["warnings"].append("not served by this cluster (Trivy Operator CRD not installed?): %s"
                                  % ", ".join(missing))
    if missing and len(missing) == len(collector.kinds):
        raise TrivyInputError("none of the requested Trivy Operator report kinds is served by this cluster "
                              "(%s): is the Trivy Operator installed?" % ", ".join(missing))
    result["sources"] = sources
    result["summary"]["kinds_not_served"] = missing
    return result


# ----------------------------------------------------------------------------------------------------------
# Trivy CLI JSON
# ----------------------------------------------------------------------------------------------------------
# What a scan assessed: Trivy scanners -> finding sources (trivy <subcommand> --help, Trivy 0.59). ``license``
# findings are not kept, so that scanner assesses nothing kubesec grades.
SCANNER_SOURCES = {
    "vuln": ("trivy-vulnerability",),
    "misconfig": ("trivy-config",),
    "secret": ("trivy-exposed-secret",),
    "rbac": ("trivy-rbac",),
    "license": (),
}
# --scanners defaults per subcommand; ``config`` has no --scanners (misconfiguration only).
DEFAULT_SCANNERS = {
    "config": ("misconfig",),
    "fs": ("vuln", "secret"),
    "image": ("vuln", "secret"),
    "k8s": ("vuln", "misconfig", "secret", "rbac"),
}
# Older spellings: --security-checks (before v0.37) with ``config`` for misconfig.
_SCANNER_ALIASES = {"config": "misconfig", "vulnerability": "vuln", "secrets": "secret"}
# Result classes (pkg/types/report.go ResultClass) -> scanner that produced them.
_CLASS_SCANNER = {"os-pkgs": "vuln", "lang-pkgs": "vuln", "config": "misconfig", "secret": "secret",
                  "license": "license", "license-file": "license"}
# trivy k8s v0.29-v0.41 (--format json): one list of resources per scanner.
# (pkg/k8s/report Report: Vulnerabilities and Misconfigurations; secrets were results of the first list)
_LEGACY_K8S_LISTS = (("Vulnerabilities", "vuln"), ("Misconfigurations", "misconfig"))
# ExperimentalModifiedFindings (pkg/types/finding.go): findings a VEX statement or .trivyignore took out.
_MODIFIED_STATUS = {"not_affected": "not affected", "fixed": "fixed", "under_investigation": "under investigation",
                    "ignored": "ignored", "affected": "affected", "unknown": "status unknown"}


def scanners_of(subcommand, extra_args):
    """The Trivy scanners a command runs: --scanners / --security-checks from extra_args, else the defaults."""
    if subcommand == "config":
        return list(DEFAULT_SCANNERS["config"])
    extra = [str(arg) for arg in (extra_args or [])]
    chosen = None
    for index, arg in enumerate(extra):
        for flag in ("--scanners", "--security-checks"):
            value = None
            if arg == flag and index + 1 < len(extra):
                value = extra[index + 1]
            elif arg.startswith(flag + "="):
                value = arg.split("=", 1)[1]
            if value is not None:
                chosen = [_SCANNER_ALIASES.get(v.strip(), v.strip()) for v in value.split(",") if v.strip()]
    if chosen is None:
        return list(DEFAULT_SCANNERS.get(subcommand, ()))
    unknown = [name for name in chosen if name not in SCANNER_SOURCES]
    if unknown:
        raise TrivyInputError("unknown Trivy scanner(s) %s in extra_args; known: %s"
                              % (", ".join(unknown), ", ".join(SCANNER_SOURCES)))
    return sorted(set(chosen), key=chosen.index)


def _lines(item):
    cause = _mapping(item.get("CauseMetadata")) or _mapping(item.get("IacMetadata"))  # IacMetadata: before v0.30
    start = _count(cause.get("StartLine")) or None
    end = _count(cause.get("EndLine")) or start
    return start, end


class _FileObjects:
    """The Kubernetes objects of one scanned file, so every misconfiguration of one object gets one identity.

    ``trivy config`` gives no structured resource: the object is named in some messages only, in several forms
    (``Container 'c' of Deployment 'd'``, ``container "c" of deployment "d" in "ns" namespace``, ``container d in
    ns namespace``). Objects are collected from all messages of the file first; each one's namespace is the one any
    of its messages names; a message that names no object is placed by its line range (CauseMetadata) into the
    object whose lines hold it.
    """

    def __init__(self, items):
        self.objects = {}
        self.parsed = []
        for item in items:
            parsed = resource_from_message(item.get("Message")) if isinstance(item, dict) else None
            self.parsed.append(parsed)
            if parsed and parsed.get("kind") and parsed.get("name"):
                key = (parsed["kind"], parsed["name"])
                entry = self.objects.setdefault(key, {"namespaces": [], "start": None, "end": None})
                if parsed.get("namespace") and parsed["namespace"] not in entry["namespaces"]:
                    entry["namespaces"].append(parsed["namespace"])
                start, end = _lines(item)
                if start:
                    entry["start"] = start if entry["start"] is None else min(entry["start"], start)
                    entry["end"] = max(entry["end"] or 0, end or start)
        self.by_name = {}
        for key in self.objects:
            self.by_name.setdefault(key[1], []).append(key)
        for index, parsed in enumerate(self.parsed):  # names without a kind ("container d in ns namespace")
            if parsed and not parsed.get("kind") and parsed.get("name"):
                same = self.by_name.get(parsed["name"], [])
                if len(same) == 1:
                    entry = self.objects[same[0]]
                    if parsed.get("namespace") and parsed["namespace"] not in entry["namespaces"]:
                        entry["namespaces"].append(parsed["namespace"])
                    start, end = _lines(items[index])
                    if start:
                        entry["start"] = start if entry["start"] is None else min(entry["start"], start)
                        entry["end"] = max(entry["end"] or 0, end or start)
        # The lines of one message lie in one document, so the spans of two objects never overlap: the object of
        # a line is the one with the latest first line at or above it (bisect; files may hold thousands).
        self.starts = sorted((e["start"], key) for key, e in self.objects.items() if e["start"])
        self.start_lines = [start for start, _key in self.starts]

    def _resource(self, key, container=None):
        entry = self.objects[key]
        return {"kind": key[0], "name": key[1], "namespace": entry["namespaces"][0] if entry["namespaces"] else None,
                "container": container}

    def resolve(self, index, item):
        """{kind, name, namespace, container} of the item at index (None: an item not in the list, e.g. a
        suppressed one), or None when it cannot be placed (then the file is the resource)."""
        parsed = self.parsed[index] if index is not None else resource_from_message(item.get("Message"))
        if parsed and parsed.get("kind") and parsed.get("name"):
            return self._resource((parsed["kind"], parsed["name"]), parsed.get("container"))
        if parsed and parsed.get("name"):
            same = self.by_name.get(parsed["name"], [])
            if len(same) == 1:
                return self._resource(same[0])
        start, _end = _lines(item)
        if start:
            position = bisect.bisect_right(self.start_lines, start)
            if position:
                return self._resource(self.starts[position - 1][1])
        if len(self.objects) == 1:
            return self._resource(next(iter(self.objects)))
        return None


class CliCollector(FindingSet):
    """Trivy CLI JSON (image/fs/config/repo results and trivy k8s reports) -> findings."""

    def __init__(self, cluster=None):
        super(CliCollector, self).__init__(cluster)
        self.misconf_summary = {"successes": 0, "failures": 0}
        self.results = 0
        self.ignored_licenses = 0
        self.scan_errors = []
        self.artifact = {}
        self.scanners_seen = []
        self.modified = 0
        self.check_text = True  # look for lone surrogates in each record (see _SURROGATE_ESCAPE)

    def _saw(self, scanner):
        if scanner and scanner not in self.scanners_seen:
            self.scanners_seen.append(scanner)

    def add_report(self, data, origin="trivy output"):
        if not isinstance(data, dict):
            raise TrivyInputError("%s: a Trivy JSON result is an object, got %s" % (origin, type(data).__name__))
        legacy = [(key, scanner) for key, scanner in _LEGACY_K8S_LISTS if isinstance(data.get(key), list)]
        if "ClusterName" in data and "Results" not in data and not isinstance(data.get("Resources"), list) and \
                not isinstance(data.get("Findings"), list):
            if not legacy:
                raise TrivyInputError(
                    "%s has ClusterName but none of Resources, Findings (trivy k8s v0.42+) or Vulnerabilities/"
                    "Misconfigurations (trivy k8s v0.29-v0.41) as lists; keys found: %s"
                    % (origin, ", ".join(sorted(str(k) for k in data)[:12])))
            self.artifact = _clean({"name": _text(data.get("ClusterName")), "type": "kubernetes",
                                    "report": "legacy"})
            for key, scanner in legacy:
                self._saw(scanner)
                self._k8s_resources(data[key], "%s %s" % (origin, key))
            return
        if isinstance(data.get("Resources"), list) or isinstance(data.get("Findings"), list):
            key = "Resources" if isinstance(data.get("Resources"), list) else "Findings"
            self.artifact = _clean({"name": _text(data.get("ClusterName")), "type": "kubernetes",
                                    "report": "all" if key == "Resources" else "summary"})
            self._k8s_resources(data[key], "%s %s" % (origin, key))
            return
        if "Results" in data or "SchemaVersion" in data or "ArtifactName" in data:
            self.artifact = _clean({"name": _text(data.get("ArtifactName")), "type": _text(data.get("ArtifactType"))})
            image = self.artifact.get("type") == "container_image"
            base = {"kind": "Image", "name": self.artifact.get("name"), "namespace": None, "container": None} \
                if image else None
            self._results(data.get("Results"), base, origin, k8s=False)
            return
        raise TrivyInputError("%s is not a Trivy JSON result: expected SchemaVersion/Results (trivy image, fs, "
                              "config), ClusterName with Resources/Findings (trivy k8s) or ClusterName with "
                              "Vulnerabilities/Misconfigurations (trivy k8s before v0.42); keys found: %s"
                              % (origin, ", ".join(sorted(str(k) for k in data)[:12]) or "none"))

    def _k8s_resources(self, resources, origin):
        for index, resource in enumerate(resources):
            where = "%s[%d]" % (origin, index)
            if not isinstance(resource, dict):
                self.skip("k8s resource entry is not a mapping", where)
                continue
            res = {"kind": _text(resource.get("Kind")), "name": _text(resource.get("Name")),
                   "namespace": _text(resource.get("Namespace")), "container": None}
            if _text(resource.get("Error")):
                self.scan_errors.append("%s %s/%s: %s" % (res["kind"], res["namespace"] or "-", res["name"],
                                                          _text(resource.get("Error"))))
            if res["kind"] in RBAC_KINDS:
                self._saw("rbac")
            self._results(resource.get("Results"), res, where, k8s=True)

    def _results(self, results, resource, where, k8s):
        if results is None:
            return
        if not isinstance(results, list):
            self.skip("Results is not a list", where)
            return
        for index, result in enumerate(results):
            result_where = "%s Results[%d]" % (where, index)
            if not isinstance(result, dict):
                self.skip("result entry is not a mapping", result_where)
                continue
            self.results += 1
            self._saw(_CLASS_SCANNER.get(_text(result.get("Class")) or ""))
            target = _text(result.get("Target"))
            summary = _mapping(result.get("MisconfSummary"))
            if summary:
                self._saw("misconfig")
            for key in ("Successes", "Failures"):
                count = _count(summary.get(key))
                if count:
                    self.misconf_summary[key.lower()] += count
            if isinstance(result.get("Licenses"), list):
                self.ignored_licenses += len(result["Licenses"])
            objects = None
            if resource is None:
                objects = _FileObjects((result.get("Misconfigurations") or []) + [
                    m["Finding"] for m in (result.get("ExperimentalModifiedFindings") or [])
                    if isinstance(m, dict) and isinstance(m.get("Finding"), dict)]) if isinstance(
                    result.get("Misconfigurations") or [], list) and isinstance(
                    result.get("ExperimentalModifiedFindings") or [], list) else None
            for name, handler in (("Vulnerabilities", self._vulnerability), ("Misconfigurations", self._misconfig),
                                  ("Secrets", self._secret)):
                entries = result.get(name)
                if entries is None:
                    continue
                if not isinstance(entries, list):
                    self.skip("%s is not a list" % name, result_where)
                    continue
                for item_index, item in enumerate(entries):
                    item_where = "%s.%s[%d]" % (result_where, name, item_index)
                    if not isinstance(item, dict):
                        self.skip("%s entry is not a mapping" % name, item_where)
                        continue
                    res = resource
                    if objects is not None and name == "Misconfigurations":
                        res = objects.resolve(item_index, item)
                    self._guarded(handler, item, target, res, item_where, k8s, result)
            self._modified(result, target, resource, result_where, k8s, objects)

    def _guarded(self, handler, item, target, resource, where, k8s, result, waiver=None):
        """Run one handler; a record whose text is not valid Unicode is left out and named."""
        before = len(self.findings)
        handler(item, target, resource, where, k8s, result, waiver)
        if self.check_text and len(self.findings) > before and has_bad_text(self.findings[before:]):
            del self.findings[before:]
            self.skip(BAD_TEXT, where)

    def _modified(self, result, target, resource, where, k8s, objects=None):
        """ExperimentalModifiedFindings: shown as waived findings, with the VEX statement or ignore file as reason."""
        entries = result.get("ExperimentalModifiedFindings")
        if entries is None:
            return
        if not isinstance(entries, list):
            self.skip("ExperimentalModifiedFindings is not a list", where)
            return
        handlers = {"vulnerability": self._vulnerability, "misconfiguration": self._misconfig,
                    "secret": self._secret}
        for index, entry in enumerate(entries):
            item_where = "%s.ExperimentalModifiedFindings[%d]" % (where, index)
            if not isinstance(entry, dict) or not isinstance(entry.get("Finding"), dict):
                self.skip("modified finding without a Finding mapping", item_where)
                continue
            kind = (_text(entry.get("Type")) or "").lower()
            if kind == "license":
                self.ignored_licenses += 1
                continue
            handler = handlers.get(kind)
            if handler is None:
                self.skip("modified finding of an unknown Type (%s)" % (_text(entry.get("Type")) or "none"),
                          item_where)
                continue
            if kind == "misconfiguration" and (_text(entry["Finding"].get("Status")) or "").upper() == "PASS":
                continue  # a passed check that an ignore rule also matched: nothing was suppressed
            status = _text(entry.get("Status")) or "unknown"
            source = _text(entry.get("Source")) or "an unnamed source"
            statement = _text(entry.get("Statement"))
            reason = "%s according to %s%s" % (_MODIFIED_STATUS.get(status, status), source,
                                               ": " + statement if statement else " (no statement given)")
            self.modified += 1
            res = resource
            if objects is not None and kind == "misconfiguration":
                res = objects.resolve(None, entry["Finding"])
            self._guarded(handler, entry["Finding"], target, res, item_where, k8s, result,
                          waiver={"reason": reason, "status": status, "source": source, "statement": statement})

    def _file_resource(self, target):
        return {"kind": "File", "name": target, "namespace": None, "container": None}

    def _emit(self, where, finding_id, source, title, status, severity, resource, waiver=None, **kwargs):
        evidence = kwargs.get("evidence")
        if waiver and evidence is not None:
            evidence.update(_clean({"vex_status": waiver["status"], "vex_source": waiver["source"],
                                    "vex_statement": waiver["statement"]}))
        try:
            finding = make_finding(finding_id, source, title, "fail" if status == "waived" else status,
                                   severity=severity, cluster=self.cluster,
                                   namespace=(resource or {}).get("namespace"), resource=resource,
                                   discriminator=_discriminator(evidence), **kwargs)
        except ValueError as exc:
            self.skip("entry with an invalid field (%s)" % exc, where)
            return
        if waiver:
            finding = apply_waiver(finding, waiver["reason"])
        elif status == "waived":
            finding = apply_waiver(finding, "Trivy reported an EXCEPTION (policy exception or ignore file)")
        self.add(finding)

    def _vulnerability(self, item, target, resource, where, k8s, result, waiver=None):
        vuln_id = _text(item.get("VulnerabilityID"))
        if not vuln_id:
            self.skip("vulnerability without VulnerabilityID", where)
            return
        score = score_from_cvss(item.get("CVSS"), prefer=_text(item.get("SeveritySource")))
        severity, origin = self.severity(item.get("Severity"), score, where)
        package = _text(item.get("PkgName"))
        installed = _text(item.get("InstalledVersion"))
        fixed = _text(item.get("FixedVersion"))
        if resource is None:
            resource = self._file_resource(target)
        title = _text(item.get("Title")) or "%s in %s" % (vuln_id, " ".join(t for t in (package, installed) if t)
                                                          or "an unnamed package")
        if fixed:
            remediation = "Upgrade %s from %s to %s or later." % (package or "the package", installed or "?", fixed)
        else:
            remediation = "No fixed version of %s is available yet (status %s)." % (
                package or "the package", _text(item.get("Status")) or "unknown")
        evidence = _clean({
            "package": package, "installed_version": installed, "fixed_version": fixed,
            "package_path": _text(item.get("PkgPath")),
            "purl": _text(_mapping(item.get("PkgIdentifier")).get("PURL")),
            "status": _text(item.get("Status")), "target": target, "class": _text(result.get("Class")),
            "type": _text(result.get("Type")), "artifact": self.artifact.get("name"),
            "severity_source": _text(item.get("SeveritySource")), "severity_origin": origin,
            "published_date": _text(item.get("PublishedDate")),
            "reported_severity": _text(item.get("Severity")) if origin == "unrecognized" else None,
        })
        self._emit(where, vuln_id, "trivy-vulnerability", title, "fail", severity, resource, waiver=waiver,
                   description=_text(item.get("Description")) or "", remediation=remediation,
                   references=_references(item.get("PrimaryURL"), item.get("References")),
                   evidence=evidence, score=score)

    def _misconfig(self, item, target, resource, where, k8s, result, waiver=None):
        raw_id = _text(item.get("ID"))
        avd_id = _text(item.get("AVDID"))
        namespace_id = (_text(item.get("Namespace")) or "").rsplit(".", 1)[-1]
        check_id = normalize_check_id(avd_id) if avd_id and _CHECK_ID.match(avd_id) else None
        if not check_id and namespace_id and _CHECK_ID.match(namespace_id):
            check_id = normalize_check_id(namespace_id)
        check_id = check_id or normalize_check_id(raw_id)
        if not check_id:
            self.skip("misconfiguration without ID", where)
            return
        raw_status = (_text(item.get("Status")) or "FAIL").upper()
        status = {"PASS": "pass", "FAIL": "fail", "EXCEPTION": "waived"}.get(raw_status)
        if status is None:
            self.note("misconfigurations with an unrecognized Status were treated as failed", where)
            status = "fail"
        severity, origin = self.severity(item.get("Severity"), None, where)
        # config-audit messages quote the offending values (e.g. an env value "password=..."): redacted here
        message = redact_text(_text(item.get("Message")))
        if k8s and resource is not None:
            res = dict(resource)
            parsed = resource_from_message(message)
            if parsed and parsed.get("container") and parsed.get("name") == res.get("name"):
                res["container"] = parsed["container"]
        elif resource is not None:
            res = dict(resource)  # a trivy config result: resolved from all messages of its file by the caller
        else:
            res = self._file_resource(target)
        if check_id.startswith("KCV-") or res.get("kind") == "NodeInfo":
            source = "trivy-infra"
        elif res.get("kind") in RBAC_KINDS or check_id in RBAC_CHECK_IDS:
            source = "trivy-rbac"
        else:
            source = "trivy-config"
        cause = _mapping(item.get("CauseMetadata")) or _mapping(item.get("IacMetadata"))
        evidence = _clean({
            "check_id": raw_id, "avd_id": avd_id, "message": message, "file": target,
            "artifact": self.artifact.get("name"), "type": _text(item.get("Type")),
            "start_line": _count(cause.get("StartLine")) or None, "end_line": _count(cause.get("EndLine")) or None,
            "cause_resource": _text(cause.get("Resource")),
            "reported_severity": _text(item.get("Severity")) if origin == "unrecognized" else None,
        })
        self._emit(where, check_id, source, _text(item.get("Title")) or check_id, status, severity, res,
                   waiver=waiver, description=_text(item.get("Description")) or "",
                   remediation=_text(item.get("Resolution")) or "",
                   references=_references(item.get("PrimaryURL"), item.get("References")), evidence=evidence)

    def _secret(self, item, target, resource, where, k8s, result, waiver=None):
        rule = _text(item.get("RuleID"))
        if not rule:
            self.skip("secret without RuleID", where)
            return
        severity, origin = self.severity(item.get("Severity"), None, where)
        category = _text(item.get("Category"))
        res = dict(resource) if resource is not None else self._file_resource(target)
        evidence = _clean({
            "rule_id": rule, "category": category, "file": target, "artifact": self.artifact.get("name"),
            "start_line": _count(item.get("StartLine")) or None, "end_line": _count(item.get("EndLine")) or None,
            "reported_severity": _text(item.get("Severity")) if origin == "unrecognized" else None,
        })
        title = _text(item.get("Title")) or category or rule
        self._emit(where, rule, "trivy-exposed-secret", title, "fail", severity, res, waiver=waiver,
                   description="A %s secret was found in %s." % (category or title, target or "the scanned target"),
                   remediation="Remove the secret from the source or image, rotate it, and inject it at runtime.",
                   evidence=evidence)

    def assessed(self, scanners=None):
        """(scanners, finding sources assessed): from the command's scanners when known, else from the result
        classes seen; a source with findings was assessed in any case (e.g. trivy-rbac from a config scan of
        Roles, trivy-infra from KCV checks)."""
        ran = list(scanners) if scanners is not None else list(self.scanners_seen)
        sources = []
        for scanner in ran:
            for source in SCANNER_SOURCES.get(scanner, ()):
                if source not in sources:
                    sources.append(source)
        for finding in self.findings:
            if finding["source"] not in sources:
                sources.append(finding["source"])
        return ran, sorted(sources)

    def result(self, max_findings=None, scanners=None):
        findings, truncated = self.select(max_findings)
        summary = self.summary()
        ran, assessed = self.assessed(scanners)
        summary.update({"returned": len(findings), "truncated": truncated, "results": self.results,
                        "misconfigurations": self.misconf_summary, "ignored_licenses": self.ignored_licenses,
                        "scan_errors": len(self.scan_errors), "modified": self.modified, "assessed": assessed})
        warnings = self.warnings() + ["trivy could not scan %s" % e for e in self.scan_errors[:20]]
        if not assessed:
            warnings.append("the Trivy result shows no scanner that ran (no result classes, no findings): nothing "
                            "is marked as assessed")
        return {"findings": findings, "summary": summary, "artifact": self.artifact, "scanners": ran,
                "assessed": assessed, "assessed_from": "command" if scanners is not None else "results",
                "skips": list(self.skips.values()), "warnings": warnings}


def parse_cli_result(data, cluster=None, max_findings=None, origin="trivy output", scanners=None, check_text=True):
    """Findings from one decoded Trivy CLI JSON document (scanners: those the command ran, when known;
    check_text=False when its text is known to hold no surrogate escape, see may_hold_surrogates)."""
    collector = CliCollector(cluster=cluster)
    collector.check_text = check_text
    with _GcPaused():
        collector.add_report(data, origin)
    return collector.result(max_findings, scanners=scanners)


def may_hold_surrogates(text):
    """Whether JSON/YAML text has an escape that can decode to a lone surrogate (see _SURROGATE_ESCAPE)."""
    return bool(_SURROGATE_ESCAPE.search(text or ""))


def load_cli_file(path, flags=None):
    """Decode a Trivy CLI JSON file, with errors that name it (``flags`` as for load_documents)."""
    if not os.path.isfile(path):
        raise TrivyInputError("Trivy JSON result %s does not exist or is not a file" % path)
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
    except (IOError, OSError) as exc:
        raise TrivyInputError("cannot read %s: %s" % (path, exc)) from exc
    except UnicodeDecodeError as exc:
        raise TrivyInputError("%s is not UTF-8 text (byte %d)" % (path, exc.start)) from exc
    if not text.strip():
        raise TrivyInputError("Trivy JSON result %s is empty" % path)
    if flags is not None:
        flags["surrogate_escapes"] = may_hold_surrogates(text)
    try:
        with _GcPaused():
            return json.loads(text)
    except RecursionError:
        raise TrivyInputError("%s: %s" % (path, TOO_DEEP)) from None
    except ValueError as exc:
        raise TrivyInputError("%s: invalid JSON at line %s column %s: %s (truncated or not a Trivy --format json "
                              "result?)" % (path, getattr(exc, "lineno", "?"), getattr(exc, "colno", "?"),
                                            getattr(exc, "msg", exc))) from exc


def build_command(binary, subcommand, target=None, extra_args=None):
    """argv for one Trivy run: ``binary subcommand --format json [extra_args] [target]``."""
    if subcommand not in SUBCOMMANDS:
        raise TrivyInputError("subcommand must be one of %s, got %r" % (", ".join(SUBCOMMANDS), subcommand))
    if not binary:
        raise TrivyInputError("no trivy binary given")
    if subcommand != "k8s" and not target:
        raise TrivyInputError("trivy %s needs a target (a path or image reference)" % subcommand)
    extra = [str(arg) for arg in (extra_args or [])]
    for arg in extra:
        name = arg.split("=", 1)[0]
        if name in _FORBIDDEN_ARGS:
            raise TrivyInputError("extra_args must not set %s: trivy_scan always reads --format json from stdout"
                                  % name)
    argv = [binary, subcommand, "--format", "json", *extra]
    if target:
        argv.append(str(target))
    return argv


def accepted_exit_codes(extra_args):
    """0 plus the values of --exit-code / --exit-on-eol: trivy uses them to signal findings, not failure."""
    codes = set([0])
    extra = [str(arg) for arg in (extra_args or [])]
    for index, arg in enumerate(extra):
        for flag in ("--exit-code", "--exit-on-eol"):
            value = None
            if arg == flag and index + 1 < len(extra):
                value = extra[index + 1]
            elif arg.startswith(flag + "="):
                value = arg.split("=", 1)[1]
            if value is not None:
                try:
                    codes.add(int(value))
                except ValueError:
                    raise TrivyInputError("%s expects an integer, got %r" % (flag, value)) from None
    return codes


def _tail(text, lines=25, chars=4000):
    text = _ANSI.sub("", text or "").strip()
    return "\n".join(text.splitlines()[-lines:])[-chars:]


def decode_run(argv, rc, stdout, stderr, accepted=None):
    """The decoded JSON of a finished Trivy run, or TrivyRunError with its exit code and stderr."""
    accepted = accepted if accepted is not None else set([0])
    command = " ".join(argv)
    if rc not in accepted:
        raise TrivyRunError("trivy failed (exit code %s): %s\nstderr:\n%s" % (rc, command, _tail(stderr) or "(empty)"))
    if not (stdout or "").strip():
        raise TrivyRunError("trivy printed no JSON (exit code %s): %s\nstderr:\n%s"
                            % (rc, command, _tail(stderr) or "(empty)"))
    try:
        return json.loads(stdout)
    except RecursionError:
        raise TrivyRunError("trivy output of %s is %s" % (command, TOO_DEEP)) from None
    except ValueError as exc:
        raise TrivyRunError("trivy output is not JSON (%s): %s\nfirst bytes: %r\nstderr:\n%s"
                            % (exc, command, stdout[:200], _tail(stderr) or "(empty)")) from exc


def run_scan(runner, binary, subcommand, target=None, extra_args=None, cluster=None, max_findings=None):
    """Run Trivy with ``runner(argv) -> (rc, stdout, stderr)`` and parse its JSON into findings."""
    argv = build_command(binary, subcommand, target, extra_args)
    accepted = accepted_exit_codes(extra_args)
    scanners = scanners_of(subcommand, extra_args)
    rc, stdout, stderr = runner(argv)
    data = decode_run(argv, rc, stdout, stderr, accepted)
    result = parse_cli_result(data, cluster=cluster, max_findings=max_findings, origin="output of %s" % argv[0],
                              scanners=scanners, check_text=may_hold_surrogates(stdout))
    result.update({"cmd": argv, "exit_code": rc, "exit_code_signalled": rc != 0,
                   "stderr_tail": _tail(stderr, lines=10, chars=2000)})
    return result
