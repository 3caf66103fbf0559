# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kube-bench JSON (`--json`, with or without `--nototals`) -> normalized findings.

Ids are the same as the native audit's (CIS-<test_number>) so a report can show both side by side.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import json

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding

_STATUS = {"PASS": "pass", "FAIL": "fail", "WARN": "warn", "INFO": "info"}


class KubeBenchError(ValueError):
    """The input is not kube-bench JSON (names the input and where)."""


def loads(text, name="kube-bench output"):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise KubeBenchError("%s is not valid JSON: %s" % (name, exc)) from exc


def controls_of(document, name="kube-bench output"):
    """Both shapes: {"Controls": [...], "Totals": {...}} and the bare array of --nototals."""
    if isinstance(document, dict):
        if "Controls" not in document:
            raise KubeBenchError("%s: an object without 'Controls' is not kube-bench JSON (keys: %s)"
                                 % (name, ", ".join(sorted(document)[:8])))
        controls = document["Controls"]
    elif isinstance(document, list):
        controls = document
    else:
        raise KubeBenchError("%s: expected an object or an array, found %s" % (name, type(document).__name__))
    if not isinstance(controls, list):
        raise KubeBenchError("%s: 'Controls' must be an array" % name)
    for index, control in enumerate(controls):
        if not isinstance(control, dict) or not isinstance(control.get("tests", []), list):
            raise KubeBenchError("%s: Controls[%d] is not a kube-bench Controls object" % (name, index))
    return controls


def to_findings(document, name="kube-bench output", cluster=None, node=None, catalogue=None):
    """Returns (findings, info) where info has benchmark versions, totals and skipped entries."""
    severities = {}
    if catalogue:
        severities = dict((str(c["id"]), c.get("severity", "medium")) for c in catalogue.get("checks", []))
    findings = []
    skipped = []
    versions = set()
    for c_index, control in enumerate(controls_of(document, name)):
        version = control.get("version") or ""
        if version:
            versions.add(version)
        for group in control.get("tests") or []:
            for r_index, check in enumerate((group or {}).get("results") or []):
                where = "%s: Controls[%d] section %s result %d" % (name, c_index, group.get("section"), r_index)
                if not isinstance(check, dict) or not check.get("test_number"):
                    skipped.append(where + ": no test_number")
                    continue
                status = _STATUS.get(str(check.get("status", "")).upper())
                if status is None:
                    skipped.append("%s: unknown status %r" % (where, check.get("status")))
                    continue
                number = str(check["test_number"])
                evidence = {"expected": check.get("expected_result") or "", "actual": check.get("actual_value") or ""}
                for key in ("audit", "AuditConfig", "reason", "type"):
                    if check.get(key):
                        evidence[key] = check[key]
                extra = {"scored": bool(check.get("scored", False)), "section": str(group.get("section") or "")}
                if version:
                    extra["benchmark"] = version if version.startswith("cis-") or "-" in version else "cis-" + version
                findings.append(make_finding(
                    "CIS-" + number, "kube-bench", check.get("test_desc") or number, status,
                    severity=severities.get(number, "medium"), cluster=cluster, node=node,
                    resource={"kind": "Node", "name": node}, remediation=check.get("remediation") or "",
                    references=["https://github.com/aquasecurity/kube-bench"], evidence=evidence, extra=extra))
    totals = document.get("Totals") if isinstance(document, dict) else None
    return findings, {"benchmarks": sorted(versions), "totals": totals, "skipped": skipped}
