# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trivy CLI JSON -> normalized findings, and running the CLI (the shared rules are in _trivy).

Inputs (see docs: /work/shared/reference/formats.md section 3): ``--format json`` results of ``trivy
image|fs|config|repo`` (``Results``) and ``trivy k8s`` (``Resources`` for ``--report all``, ``Findings`` for
``--report summary``, ``Vulnerabilities``/``Misconfigurations`` before v0.42) via ``parse_cli_result`` /
``load_cli_file``; ``build_command`` / ``run_scan`` run the CLI through a caller-supplied runner
(``AnsibleModule.run_command``).
"""

from __future__ import annotations

import bisect
import json
import os
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import apply_waiver
from ansible_collections.kubesec.cluster.plugins.module_utils._parsing import gc_paused
from ansible_collections.kubesec.cluster.plugins.module_utils._redact import redact_text
from ansible_collections.kubesec.cluster.plugins.module_utils._trivy import (
    TOO_DEEP,
    _CHECK_ID,
    FindingSet,
    TrivyInputError,
    TrivyRunError,
    _clean,
    _count,
    _mapping,
    _references,
    _text,
    may_hold_surrogates,
    normalize_check_id,
    score_from_cvss,
    vulnerability_title,
)

Resource = Dict[str, Optional[str]]  # {kind, name, namespace, container}
Waiver = Dict[str, Any]  # {reason, status, source, statement} of an ExperimentalModifiedFindings entry
Runner = Callable[[List[str]], Tuple[int, str, str]]  # AnsibleModule.run_command-like

RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
# KSV checks written for Roles and bindings (trivy-checks checks/kubernetes, rbac); some of their messages do not
# name the resource, so the id decides the source of trivy config results.
RBAC_CHECK_IDS = frozenset(["KSV-%04d" % n for n in list(range(41, 57)) + list(range(111, 115))])

SUBCOMMANDS = ("config", "fs", "k8s", "image")
_FORBIDDEN_ARGS = ("--format", "-f", "--output", "-o", "--report-format")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# Resource names from Trivy misconfiguration messages (trivy config has no structured resource field).
_MESSAGE_PATTERNS = (
    re.compile(r"Container '(?P<container>[^']+)' of (?P<kind>[A-Z][A-Za-z]+) '(?P<name>[^']+)'"),
    re.compile(
        r"container \"(?P<container>[^\"]+)\" of (?P<kind>[a-z]+) \"(?P<name>[^\"]+)\""
        r"(?: in \"(?P<namespace>[^\"]+)\" namespace)?"
    ),
    re.compile(r"Container of (?P<kind>[A-Z][A-Za-z]+) '(?P<name>[^']+)'"),
    re.compile(r"^(?P<kind>[A-Z][A-Za-z]+) '(?P<name>[^']+)' (?:should|shouldn't|must)"),
    re.compile(
        r"^(?P<kind>pod|deployment|daemonset|statefulset|replicaset|job|cronjob) (?P<name>\S+) in "
        r"(?P<namespace>\S+) namespace"
    ),
    # KSV118 names the workload, not its kind: "container legacy-api in shop namespace is using the default ..."
    re.compile(r"^container (?P<name>[^\s\"']+) in (?P<namespace>\S+) namespace"),
)
_KIND_CASE = {
    "pod": "Pod",
    "deployment": "Deployment",
    "daemonset": "DaemonSet",
    "statefulset": "StatefulSet",
    "replicaset": "ReplicaSet",
    "job": "Job",
    "cronjob": "CronJob",
    "replicationcontroller": "ReplicationController",
}


def resource_from_message(message: Any) -> Optional[Dict[str, Any]]:
    """Best effort {kind, name, namespace, container} from a Trivy misconfiguration message, or None."""
    text = _text(message)
    if not text:
        return None
    for pattern in _MESSAGE_PATTERNS:
        match = pattern.search(text)
        if match:
            found = match.groupdict()
            kind = found.get("kind")
            return {
                "kind": _KIND_CASE.get(kind.lower(), kind) if kind and kind.islower() else kind,
                "name": found.get("name"),
                "namespace": found.get("namespace"),
                "container": found.get("container"),
            }
    return None


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
_CLASS_SCANNER = {"os-pkgs": "vuln", "lang-pkgs": "vuln", "config": "misconfig", "secret": "secret", "license": "license", "license-file": "license"}
# trivy k8s v0.29-v0.41 (--format json): one list of resources per scanner.
# (pkg/k8s/report Report: Vulnerabilities and Misconfigurations; secrets were results of the first list)
_LEGACY_K8S_LISTS = (("Vulnerabilities", "vuln"), ("Misconfigurations", "misconfig"))
# ExperimentalModifiedFindings (pkg/types/finding.go): findings a VEX statement or .trivyignore took out.
_MODIFIED_STATUS = {
    "not_affected": "not affected",
    "fixed": "fixed",
    "under_investigation": "under investigation",
    "ignored": "ignored",
    "affected": "affected",
    "unknown": "status unknown",
}


def scanners_of(subcommand: str, extra_args: Optional[Sequence[Any]]) -> List[str]:
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
        raise TrivyInputError("unknown Trivy scanner(s) %s in extra_args; known: %s" % (", ".join(unknown), ", ".join(SCANNER_SOURCES)))
    return sorted(set(chosen), key=chosen.index)


def _lines(item: Dict[str, Any]) -> Tuple[Optional[int], Optional[int]]:
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

    def __init__(self, items: List[Any]) -> None:
        self.objects: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self.parsed: List[Optional[Dict[str, Any]]] = []
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
        self.by_name: Dict[str, List[Tuple[str, str]]] = {}
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

    def _resource(self, key: Tuple[str, str], container: Optional[str] = None) -> Resource:
        entry = self.objects[key]
        return {"kind": key[0], "name": key[1], "namespace": entry["namespaces"][0] if entry["namespaces"] else None, "container": container}

    def resolve(self, index: Optional[int], item: Dict[str, Any]) -> Optional[Resource]:
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

    def __init__(self, cluster: Optional[str] = None) -> None:
        super(CliCollector, self).__init__(cluster)
        self.misconf_summary = {"successes": 0, "failures": 0}
        self.results = 0
        self.ignored_licenses = 0
        self.scan_errors: List[str] = []
        self.artifact: Dict[str, Any] = {}
        self.scanners_seen: List[str] = []
        self.modified = 0

    def _saw(self, scanner: Optional[str]) -> None:
        if scanner and scanner not in self.scanners_seen:
            self.scanners_seen.append(scanner)

    def add_report(self, data: Any, origin: str = "trivy output") -> None:
        if not isinstance(data, dict):
            raise TrivyInputError("%s: a Trivy JSON result is an object, got %s" % (origin, type(data).__name__))
        legacy = [(key, scanner) for key, scanner in _LEGACY_K8S_LISTS if isinstance(data.get(key), list)]
        if "ClusterName" in data and "Results" not in data and not isinstance(data.get("Resources"), list) and not isinstance(data.get("Findings"), list):
            if not legacy:
                raise TrivyInputError(
                    "%s has ClusterName but none of Resources, Findings (trivy k8s v0.42+) or Vulnerabilities/"
                    "Misconfigurations (trivy k8s v0.29-v0.41) as lists; keys found: %s" % (origin, ", ".join(sorted(str(k) for k in data)[:12]))
                )
            self.artifact = _clean({"name": _text(data.get("ClusterName")), "type": "kubernetes", "report": "legacy"})
            for key, scanner in legacy:
                self._saw(scanner)
                self._k8s_resources(data[key], "%s %s" % (origin, key))
            return
        if isinstance(data.get("Resources"), list) or isinstance(data.get("Findings"), list):
            key = "Resources" if isinstance(data.get("Resources"), list) else "Findings"
            self.artifact = _clean({"name": _text(data.get("ClusterName")), "type": "kubernetes", "report": "all" if key == "Resources" else "summary"})
            self._k8s_resources(data[key], "%s %s" % (origin, key))
            return
        if "Results" in data or "SchemaVersion" in data or "ArtifactName" in data:
            self.artifact = _clean({"name": _text(data.get("ArtifactName")), "type": _text(data.get("ArtifactType"))})
            image = self.artifact.get("type") == "container_image"
            base = {"kind": "Image", "name": self.artifact.get("name"), "namespace": None, "container": None} if image else None
            self._results(data.get("Results"), base, origin, k8s=False)
            return
        raise TrivyInputError(
            "%s is not a Trivy JSON result: expected SchemaVersion/Results (trivy image, fs, "
            "config), ClusterName with Resources/Findings (trivy k8s) or ClusterName with "
            "Vulnerabilities/Misconfigurations (trivy k8s before v0.42); keys found: %s" % (origin, ", ".join(sorted(str(k) for k in data)[:12]) or "none")
        )

    def _k8s_resources(self, resources: List[Any], origin: str) -> None:
        for index, resource in enumerate(resources):
            where = "%s[%d]" % (origin, index)
            if not isinstance(resource, dict):
                self.skip("k8s resource entry is not a mapping", where)
                continue
            res = {"kind": _text(resource.get("Kind")), "name": _text(resource.get("Name")), "namespace": _text(resource.get("Namespace")), "container": None}
            if _text(resource.get("Error")):
                self.scan_errors.append("%s %s/%s: %s" % (res["kind"], res["namespace"] or "-", res["name"], _text(resource.get("Error"))))
            if res["kind"] in RBAC_KINDS:
                self._saw("rbac")
            self._results(resource.get("Results"), res, where, k8s=True)

    def _results(self, results: Any, resource: Optional[Resource], where: str, k8s: bool) -> None:
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
                objects = (
                    _FileObjects(
                        (result.get("Misconfigurations") or [])
                        + [
                            m["Finding"]
                            for m in (result.get("ExperimentalModifiedFindings") or [])
                            if isinstance(m, dict) and isinstance(m.get("Finding"), dict)
                        ]
                    )
                    if isinstance(result.get("Misconfigurations") or [], list) and isinstance(result.get("ExperimentalModifiedFindings") or [], list)
                    else None
                )
            for name, handler in (("Vulnerabilities", self._vulnerability), ("Misconfigurations", self._misconfig), ("Secrets", self._secret)):
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
                    self.guarded(item_where, handler, item, target, res, item_where, k8s, result, None)
            self._modified(result, target, resource, result_where, k8s, objects)

    def _modified(
        self, result: Dict[str, Any], target: Optional[str], resource: Optional[Resource], where: str, k8s: bool, objects: Optional[_FileObjects] = None
    ) -> None:
        """ExperimentalModifiedFindings: shown as waived findings, with the VEX statement or ignore file as reason."""
        entries = result.get("ExperimentalModifiedFindings")
        if entries is None:
            return
        if not isinstance(entries, list):
            self.skip("ExperimentalModifiedFindings is not a list", where)
            return
        handlers = {"vulnerability": self._vulnerability, "misconfiguration": self._misconfig, "secret": self._secret}
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
                self.skip("modified finding of an unknown Type (%s)" % (_text(entry.get("Type")) or "none"), item_where)
                continue
            if kind == "misconfiguration" and (_text(entry["Finding"].get("Status")) or "").upper() == "PASS":
                continue  # a passed check that an ignore rule also matched: nothing was suppressed
            status = _text(entry.get("Status")) or "unknown"
            source = _text(entry.get("Source")) or "an unnamed source"
            statement = _text(entry.get("Statement"))
            reason = "%s according to %s%s" % (_MODIFIED_STATUS.get(status, status), source, ": " + statement if statement else " (no statement given)")
            self.modified += 1
            res = resource
            if objects is not None and kind == "misconfiguration":
                res = objects.resolve(None, entry["Finding"])
            self.guarded(
                item_where,
                handler,
                entry["Finding"],
                target,
                res,
                item_where,
                k8s,
                result,
                {"reason": reason, "status": status, "source": source, "statement": statement},
            )

    def _file_resource(self, target: Optional[str]) -> Resource:
        return {"kind": "File", "name": target, "namespace": None, "container": None}

    def _emit(
        self,
        where: str,
        finding_id: str,
        source: str,
        title: str,
        status: str,
        severity: str,
        resource: Optional[Resource],
        waiver: Optional[Waiver] = None,
        **kwargs: Any,
    ) -> None:
        evidence = kwargs.get("evidence")
        if waiver and evidence is not None:
            evidence.update(_clean({"vex_status": waiver["status"], "vex_source": waiver["source"], "vex_statement": waiver["statement"]}))
        finding = self.make(
            where, finding_id, source, title, "fail" if status == "waived" else status, severity, (resource or {}).get("namespace"), resource, **kwargs
        )
        if finding is None:
            return
        if waiver:
            finding = apply_waiver(finding, waiver["reason"])
        elif status == "waived":
            finding = apply_waiver(finding, "Trivy reported an EXCEPTION (policy exception or ignore file)")
        self.add(finding)

    def _vulnerability(
        self,
        item: Dict[str, Any],
        target: Optional[str],
        resource: Optional[Resource],
        where: str,
        k8s: bool,
        result: Dict[str, Any],
        waiver: Optional[Waiver] = None,
    ) -> None:
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
        title = vulnerability_title(vuln_id, _text(item.get("Title")), package, installed)
        if fixed:
            remediation = "Upgrade %s from %s to %s or later." % (package or "the package", installed or "?", fixed)
        else:
            remediation = "No fixed version of %s is available yet (status %s)." % (package or "the package", _text(item.get("Status")) or "unknown")
        evidence = _clean(
            {
                "package": package,
                "installed_version": installed,
                "fixed_version": fixed,
                "package_path": _text(item.get("PkgPath")),
                "purl": _text(_mapping(item.get("PkgIdentifier")).get("PURL")),
                "status": _text(item.get("Status")),
                "target": target,
                "class": _text(result.get("Class")),
                "type": _text(result.get("Type")),
                "artifact": self.artifact.get("name"),
                "severity_source": _text(item.get("SeveritySource")),
                "severity_origin": origin,
                "published_date": _text(item.get("PublishedDate")),
                "reported_severity": _text(item.get("Severity")) if origin == "unrecognized" else None,
            }
        )
        self._emit(
            where,
            vuln_id,
            "trivy-vulnerability",
            title,
            "fail",
            severity,
            resource,
            waiver=waiver,
            description=_text(item.get("Description")) or "",
            remediation=remediation,
            references=_references(item.get("PrimaryURL"), item.get("References")),
            evidence=evidence,
            score=score,
        )

    def _misconfig(
        self,
        item: Dict[str, Any],
        target: Optional[str],
        resource: Optional[Resource],
        where: str,
        k8s: bool,
        result: Dict[str, Any],
        waiver: Optional[Waiver] = None,
    ) -> None:
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
        evidence = _clean(
            {
                "check_id": raw_id,
                "avd_id": avd_id,
                "message": message,
                "file": target,
                "artifact": self.artifact.get("name"),
                "type": _text(item.get("Type")),
                "start_line": _count(cause.get("StartLine")) or None,
                "end_line": _count(cause.get("EndLine")) or None,
                "cause_resource": _text(cause.get("Resource")),
                "reported_severity": _text(item.get("Severity")) if origin == "unrecognized" else None,
            }
        )
        self._emit(
            where,
            check_id,
            source,
            _text(item.get("Title")) or check_id,
            status,
            severity,
            res,
            waiver=waiver,
            description=_text(item.get("Description")) or "",
            remediation=_text(item.get("Resolution")) or "",
            references=_references(item.get("PrimaryURL"), item.get("References")),
            evidence=evidence,
        )

    def _secret(
        self,
        item: Dict[str, Any],
        target: Optional[str],
        resource: Optional[Resource],
        where: str,
        k8s: bool,
        result: Dict[str, Any],
        waiver: Optional[Waiver] = None,
    ) -> None:
        rule = _text(item.get("RuleID"))
        if not rule:
            self.skip("secret without RuleID", where)
            return
        severity, origin = self.severity(item.get("Severity"), None, where)
        category = _text(item.get("Category"))
        res = dict(resource) if resource is not None else self._file_resource(target)
        evidence = _clean(
            {
                "rule_id": rule,
                "category": category,
                "file": target,
                "artifact": self.artifact.get("name"),
                "start_line": _count(item.get("StartLine")) or None,
                "end_line": _count(item.get("EndLine")) or None,
                "reported_severity": _text(item.get("Severity")) if origin == "unrecognized" else None,
            }
        )
        title = _text(item.get("Title")) or category or rule
        self._emit(
            where,
            rule,
            "trivy-exposed-secret",
            title,
            "fail",
            severity,
            res,
            waiver=waiver,
            description="A %s secret was found in %s." % (category or title, target or "the scanned target"),
            remediation="Remove the secret from the source or image, rotate it, and inject it at runtime.",
            evidence=evidence,
        )

    def assessed(self, scanners: Optional[Iterable[str]] = None) -> Tuple[List[str], List[str]]:
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

    def result(self, max_findings: Optional[int] = None, scanners: Optional[Iterable[str]] = None) -> Dict[str, Any]:
        findings, truncated = self.select(max_findings)
        summary = self.summary()
        ran, assessed = self.assessed(scanners)
        summary.update(
            {
                "returned": len(findings),
                "truncated": truncated,
                "results": self.results,
                "misconfigurations": self.misconf_summary,
                "ignored_licenses": self.ignored_licenses,
                "scan_errors": len(self.scan_errors),
                "modified": self.modified,
                "assessed": assessed,
            }
        )
        warnings = self.warnings() + ["trivy could not scan %s" % e for e in self.scan_errors[:20]]
        if not assessed:
            warnings.append("the Trivy result shows no scanner that ran (no result classes, no findings): nothing is marked as assessed")
        return {
            "findings": findings,
            "summary": summary,
            "artifact": self.artifact,
            "scanners": ran,
            "assessed": assessed,
            "assessed_from": "command" if scanners is not None else "results",
            "skips": list(self.skips.values()),
            "warnings": warnings,
        }


def parse_cli_result(
    data: Any,
    cluster: Optional[str] = None,
    max_findings: Optional[int] = None,
    origin: str = "trivy output",
    scanners: Optional[Iterable[str]] = None,
    check_text: bool = True,
) -> Dict[str, Any]:
    """Findings from one decoded Trivy CLI JSON document (scanners: those the command ran, when known;
    check_text=False when its text is known to hold no surrogate escape, see may_hold_surrogates)."""
    collector = CliCollector(cluster=cluster)
    collector.check_text = check_text
    with gc_paused():
        collector.add_report(data, origin)
    return collector.result(max_findings, scanners=scanners)


def load_cli_file(path: str, flags: Optional[Dict[str, bool]] = None) -> Any:
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
        with gc_paused():
            return json.loads(text)
    except RecursionError:
        raise TrivyInputError("%s: %s" % (path, TOO_DEEP)) from None
    except ValueError as exc:
        raise TrivyInputError(
            "%s: invalid JSON at line %s column %s: %s (truncated or not a Trivy --format json "
            "result?)" % (path, getattr(exc, "lineno", "?"), getattr(exc, "colno", "?"), getattr(exc, "msg", exc))
        ) from exc


def build_command(binary: str, subcommand: str, target: Optional[str] = None, extra_args: Optional[Sequence[Any]] = None) -> List[str]:
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
            raise TrivyInputError("extra_args must not set %s: trivy_scan always reads --format json from stdout" % name)
    argv = [binary, subcommand, "--format", "json", *extra]
    if target:
        argv.append(str(target))
    return argv


def accepted_exit_codes(extra_args: Optional[Sequence[Any]]) -> Set[int]:
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


def _tail(text: Optional[str], lines: int = 25, chars: int = 4000) -> str:
    text = _ANSI.sub("", text or "").strip()
    return "\n".join(text.splitlines()[-lines:])[-chars:]


def decode_run(argv: List[str], rc: int, stdout: str, stderr: str, accepted: Optional[Set[int]] = None) -> Any:
    """The decoded JSON of a finished Trivy run, or TrivyRunError with its exit code and stderr."""
    accepted = accepted if accepted is not None else set([0])
    command = " ".join(argv)
    if rc not in accepted:
        raise TrivyRunError("trivy failed (exit code %s): %s\nstderr:\n%s" % (rc, command, _tail(stderr) or "(empty)"))
    if not (stdout or "").strip():
        raise TrivyRunError("trivy printed no JSON (exit code %s): %s\nstderr:\n%s" % (rc, command, _tail(stderr) or "(empty)"))
    try:
        return json.loads(stdout)
    except RecursionError:
        raise TrivyRunError("trivy output of %s is %s" % (command, TOO_DEEP)) from None
    except ValueError as exc:
        raise TrivyRunError(
            "trivy output is not JSON (%s): %s\nfirst bytes: %r\nstderr:\n%s" % (exc, command, stdout[:200], _tail(stderr) or "(empty)")
        ) from exc


def run_scan(
    runner: Runner,
    binary: str,
    subcommand: str,
    target: Optional[str] = None,
    extra_args: Optional[Sequence[Any]] = None,
    cluster: Optional[str] = None,
    max_findings: Optional[int] = None,
) -> Dict[str, Any]:
    """Run Trivy with ``runner(argv) -> (rc, stdout, stderr)`` and parse its JSON into findings."""
    argv = build_command(binary, subcommand, target, extra_args)
    accepted = accepted_exit_codes(extra_args)
    scanners = scanners_of(subcommand, extra_args)
    rc, stdout, stderr = runner(argv)
    data = decode_run(argv, rc, stdout, stderr, accepted)
    result = parse_cli_result(
        data, cluster=cluster, max_findings=max_findings, origin="output of %s" % argv[0], scanners=scanners, check_text=may_hold_surrogates(stdout)
    )
    result.update({"cmd": argv, "exit_code": rc, "exit_code_signalled": rc != 0, "stderr_tail": _tail(stderr, lines=10, chars=2000)})
    return result
