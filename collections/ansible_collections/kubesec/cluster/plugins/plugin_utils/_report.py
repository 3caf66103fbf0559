# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: merge the findings of one cluster run, apply waivers, compare with the previous run.

Plain Python over plain files (reports/<cluster>/<run_id>/findings/*.json); rendering is in _render.py.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import (
    SEVERITIES, SEVERITY_ORDER, STATUSES, apply_waiver)

REPORT_SCHEMA_VERSION = 1
SOURCE_TITLES = {
    "cis-node": "CIS node checks",
    "cis-control-plane": "CIS control plane",
    "kube-bench": "kube-bench results",
    "trivy-vulnerability": "Vulnerabilities",
    "trivy-config": "Configuration audit",
    "trivy-rbac": "RBAC assessment",
    "trivy-infra": "Infrastructure assessment",
    "trivy-exposed-secret": "Exposed secrets",
    "workload": "Workload hardening",
    "falco": "Runtime events (Falco)",
    "audit-log": "API audit log",
}
PROBLEM_STATUSES = ("fail", "warn")


class ReportInputError(ValueError):
    """A findings file or a waiver is wrong (names the file or the waiver)."""


def load_findings(findings_dir):
    """Every *.json file in findings_dir (a list of findings each) -> (findings, files read)."""
    if not os.path.isdir(findings_dir):
        raise ReportInputError("findings directory %s does not exist: run the audit/collect plays first" % findings_dir)
    findings, files = [], []
    for name in sorted(os.listdir(findings_dir)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(findings_dir, name)
        try:
            with open(path, "r", encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ReportInputError("findings file %s is not readable JSON: %s" % (path, exc)) from exc
        if isinstance(data, dict) and isinstance(data.get("findings"), list):
            data = data["findings"]
        if not isinstance(data, list):
            raise ReportInputError("findings file %s must hold a list of findings" % path)
        for index, item in enumerate(data):
            if not isinstance(item, dict) or not {"id", "source", "status", "severity", "fingerprint"} <= set(item):
                raise ReportInputError("findings file %s: entry %d is not a normalized finding" % (path, index))
            if item["status"] not in STATUSES or item["severity"] not in SEVERITY_ORDER:
                raise ReportInputError("findings file %s: entry %d has status %r / severity %r"
                                       % (path, index, item["status"], item["severity"]))
        findings.extend(data)
        files.append({"file": name, "findings": len(data)})
    return findings, files


def _parse_date(value):
    if value in (None, ""):
        return None
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    text = str(value)
    try:
        return datetime.date.fromisoformat(text[:10])
    except ValueError as exc:
        raise ReportInputError("waiver expiry %r is not a date (YYYY-MM-DD)" % (value,)) from exc


def _waiver_matches(waiver, finding):
    wid = str(waiver["id"])
    fid = finding["id"]
    if not (fid == wid or fid == "CIS-" + wid or (wid.endswith("*") and fid.startswith(wid[:-1]))):
        return False
    scope = waiver.get("scope") or {}
    for key in ("cluster", "node", "namespace"):
        if scope.get(key) and scope[key] != finding.get(key):
            return False
    resource = scope.get("resource") or {}
    for key, value in resource.items():
        if value and (finding.get("resource") or {}).get(key) != value:
            return False
    return True


def apply_waivers(findings, waivers, today):
    """Waive matching fail/warn findings; report expired waivers (they no longer apply)."""
    active, expired, used = [], [], {}
    for index, waiver in enumerate(waivers or []):
        if not isinstance(waiver, dict) or not waiver.get("id") or not waiver.get("reason"):
            raise ReportInputError("waiver #%d needs at least 'id' and 'reason' (got %r)" % (index, waiver))
        expires = _parse_date(waiver.get("expires"))
        entry = {"id": str(waiver["id"]), "reason": str(waiver["reason"]), "scope": waiver.get("scope") or {},
                 "expires": expires.isoformat() if expires else None, "matched": 0}
        (expired if expires and expires < today else active).append(entry)
    result = []
    for finding in findings:
        if finding["status"] in PROBLEM_STATUSES:
            for waiver in active:
                if _waiver_matches(waiver, finding):
                    waiver["matched"] += 1
                    finding = apply_waiver(finding, waiver["reason"], waiver["expires"], waiver.get("scope"))
                    break
        result.append(finding)
    for waiver in expired:
        waiver["matched"] = sum(1 for f in findings if f["status"] in PROBLEM_STATUSES and _waiver_matches(waiver, f))
    used.update(active=active, expired=expired)
    return result, used


def previous_run(cluster_dir, run_id):
    """The newest earlier run of the same cluster that has a report.json, or None."""
    if not os.path.isdir(cluster_dir):
        return None
    runs = sorted(name for name in os.listdir(cluster_dir)
                  if name < run_id and os.path.isfile(os.path.join(cluster_dir, name, "report.json")))
    return runs[-1] if runs else None


def _by_severity(finding):
    return (SEVERITY_ORDER.get(finding["severity"], 9), finding["id"])


def _problems_first(finding):
    rank = STATUSES.index(finding["status"]) if finding["status"] in PROBLEM_STATUSES else 9
    return (rank, SEVERITY_ORDER.get(finding["severity"], 9), finding.get("node") or "", finding["id"])


def compare(current, previous):
    """New / fixed / regressed problems by fingerprint (problem = fail or warn)."""
    if previous is None:
        return None
    before = dict((f["fingerprint"], f) for f in previous)
    after = dict((f["fingerprint"], f) for f in current)

    def problem(f):
        return f is not None and f["status"] in PROBLEM_STATUSES

    new, fixed, regressed = [], [], []
    for key, finding in after.items():
        old = before.get(key)
        if problem(finding) and old is None:
            new.append(finding)
        elif problem(finding) and old is not None and old["status"] == "pass":
            regressed.append(finding)
    for key, old in before.items():
        if problem(old) and not problem(after.get(key)):
            fixed.append(after.get(key) or dict(old, status="gone"))
    return {"new": sorted(new, key=_by_severity), "fixed": sorted(fixed, key=_by_severity),
            "regressed": sorted(regressed, key=_by_severity)}


def count_by(findings, key, values):
    counts = dict((value, 0) for value in values)
    for finding in findings:
        counts[finding[key]] = counts.get(finding[key], 0) + 1
    return counts


def summarize(findings):
    problems = [f for f in findings if f["status"] in PROBLEM_STATUSES]
    return {
        "total": len(findings),
        "by_status": count_by(findings, "status", STATUSES),
        "problems_by_severity": count_by(problems, "severity", SEVERITIES),
        "by_source": dict((source, count_by([f for f in findings if f["source"] == source], "status", STATUSES))
                          for source in sorted(set(f["source"] for f in findings))),
    }


def node_matrix(findings, sources=("cis-node", "cis-control-plane")):
    """CIS checks x nodes: {'nodes': [...], 'rows': [{id, title, scored, cells: {node: finding}}]}."""
    rows, nodes = {}, set()
    for finding in findings:
        if finding["source"] not in sources or not finding.get("node"):
            continue
        nodes.add(finding["node"])
        row = rows.setdefault(finding["id"], {"id": finding["id"], "title": finding["title"],
                                              "scored": finding.get("scored"), "cells": {}})
        row["cells"][finding["node"]] = finding

    def key(row):
        return [int(part) if part.isdigit() else part for part in row["id"].replace("CIS-", "").split(".")]

    return {"nodes": sorted(nodes), "rows": sorted(rows.values(), key=key)}


def build(cluster, run_id, findings, waivers=None, previous_findings=None, previous_run_id=None, today=None,
          generated_at=None, meta=None):
    """The whole report model (also what report.json holds)."""
    today = today or datetime.date.today()
    findings, waiver_info = apply_waivers(findings, waivers, today)
    findings = sorted(findings, key=_problems_first)
    comparison = compare(findings, previous_findings)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "cluster": cluster,
        "run_id": run_id,
        "generated_at": generated_at or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "previous_run_id": previous_run_id,
        "summary": summarize(findings),
        "nodes": sorted(set(f["node"] for f in findings if f.get("node"))),
        "namespaces": sorted(set(f["namespace"] for f in findings if f.get("namespace"))),
        "comparison": None if comparison is None else dict(
            (key, [{"id": f["id"], "fingerprint": f["fingerprint"], "title": f["title"], "severity": f["severity"],
                    "status": f["status"], "node": f.get("node"), "namespace": f.get("namespace"),
                    "resource": f.get("resource")} for f in value]) for key, value in comparison.items()),
        "waivers": waiver_info,
        "meta": meta or {},
        "findings": findings,
    }


def write_atomic(path, data, mode=0o644):
    """Temp file in the target directory, then rename: a reader never sees half a report."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
