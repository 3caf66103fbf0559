# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: the runs kept for a cluster, their headlines (history), and run-to-run comparison.

The previous run is read from its report.json one finding at a time; only its comparison keys, statuses and a few
fields of its problems are kept (``PreviousRun``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITIES, SEVERITY_ORDER, STATUSES
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_findings import PROBLEM_STATUSES, Finding, gc_paused, worse

HISTORY_RUNS = 12
HEADLINE_KEYS = ("headline", "summary", "run_id", "generated_at")  # what headline_of reads of an earlier run
COMPARISON_DETAILS = 1000  # new/fixed/regressed entries with details in report.json (fingerprints: all)


def run_dirs(cluster_dir: str) -> list[str]:
    """Names of the runs of a cluster that have a report.json, oldest first."""
    if not os.path.isdir(cluster_dir):
        return []
    return sorted(name for name in os.listdir(cluster_dir) if not name.startswith(".") and os.path.isfile(os.path.join(cluster_dir, name, "report.json")))


def previous_run(cluster_dir: str, run_id: str) -> str | None:
    """The newest earlier run of the same cluster that has a report.json, or None."""
    runs = [name for name in run_dirs(cluster_dir) if name < run_id]
    return runs[-1] if runs else None


def headline_of(head: dict[str, Any]) -> dict[str, Any]:
    """The small per-run numbers of a report (schema 2 stores them; schema 1 is derived from its summary)."""
    if isinstance(head.get("headline"), dict):
        return head["headline"]
    summary = head.get("summary") or {}
    by_status = summary.get("by_status") or {}
    return {
        "run_id": head.get("run_id"),
        "generated_at": head.get("generated_at"),
        "total": summary.get("total", 0),
        "by_status": by_status,
        "problems_by_severity": summary.get("problems_by_severity") or {},
        "open": by_status.get("fail", 0) + by_status.get("warn", 0),
        "areas": {},
        "changes": None,
        "gates_failed": None,
    }


def read_history(cluster_dir: str, run_id: str, limit: int = HISTORY_RUNS) -> list[dict[str, Any]]:
    """Headlines of up to ``limit`` earlier kept runs of the cluster (oldest first); unreadable runs are skipped."""
    history = []
    for name in [n for n in run_dirs(cluster_dir) if n < run_id][-limit:]:
        try:
            head = _formats.read_report_keys(os.path.join(cluster_dir, name, "report.json"), HEADLINE_KEYS)
        except (OSError, ValueError):
            continue
        headline = dict(headline_of(head))
        headline["run_id"] = headline.get("run_id") or name
        history.append(headline)
    return history


def comparison_key(finding: Finding) -> str:
    """Findings are matched across runs by fingerprint within their source: kube-bench and the native CIS audit
    report the same check id on the same node, so their fingerprints are equal and must not be compared with
    each other."""
    return "%s\x1f%s" % (finding.get("source"), finding["fingerprint"])


class PreviousRun:
    """What the comparison needs of the previous run: key -> worst status, and a few fields of its problems."""

    def __init__(self, findings: Iterable[Any]) -> None:
        self.status: dict[str, str] = {}
        self.problems: dict[str, tuple] = {}
        shared: dict[str, str] = {}  # one copy of each repeated text (ids, titles, names), freed with this object

        def one(value: Any) -> Any:
            return shared.setdefault(value, value) if isinstance(value, str) else value

        with gc_paused():
            for finding in findings:
                if not isinstance(finding, dict) or "fingerprint" not in finding:
                    continue
                key = comparison_key(finding)
                status = sys.intern(str(finding.get("status")))
                old = self.status.get(key)
                self.status[key] = status if old is None else worse(status, old)
                if status in PROBLEM_STATUSES and key not in self.problems:
                    r = finding.get("resource") or {}
                    # the fingerprint is unique: kept as it is (sharing it would only cost a dict entry)
                    self.problems[key] = (
                        one(finding["id"]),
                        one(finding.get("source")),
                        finding["fingerprint"],
                        one(finding.get("title")),
                        one(finding.get("severity")),
                        status,
                        one(finding.get("node")),
                        one(finding.get("namespace")),
                        one(r.get("kind")),
                        one(r.get("name")),
                        one(r.get("namespace")),
                        one(r.get("container")),
                    )

    def details(self, key: str) -> dict[str, Any]:
        t = self.problems[key]
        return {
            "id": t[0],
            "source": t[1],
            "fingerprint": t[2],
            "title": t[3],
            "severity": t[4],
            "status": t[5],
            "node": t[6],
            "namespace": t[7],
            "resource": {"kind": t[8], "name": t[9], "namespace": t[10], "container": t[11]},
        }


def compact(f: Finding) -> dict[str, Any]:
    """The fields of a finding the comparison lists carry."""
    return {
        "id": f["id"],
        "source": f.get("source"),
        "fingerprint": f["fingerprint"],
        "title": f.get("title"),
        "severity": f.get("severity"),
        "status": f.get("status"),
        "node": f.get("node"),
        "namespace": f.get("namespace"),
        "resource": f.get("resource"),
    }


def by_severity(finding: Finding) -> tuple[int, str]:
    return (SEVERITY_ORDER.get(finding["severity"], 9), finding["id"])


def compare(current: list[Finding], previous: list[Finding] | None) -> dict[str, list[Finding]] | None:
    """New / fixed / regressed problems by fingerprint (problem = fail or warn)."""
    if previous is None:
        return None
    before = dict((comparison_key(f), f) for f in previous)
    after = dict((comparison_key(f), f) for f in current)

    def problem(f: Finding | None) -> bool:
        return f is not None and f["status"] in PROBLEM_STATUSES

    new, fixed, regressed = [], [], []
    for key, finding in after.items():
        old = before.get(key)
        if problem(finding) and old is None:
            new.append(finding)
        elif problem(finding) and old is not None and old["status"] == "pass":
            regressed.append(finding)
    waived = []
    for key, old in before.items():
        now = after.get(key)
        if problem(old) and now is not None and now["status"] == "waived":
            waived.append(now)
        elif problem(old) and not problem(now):
            fixed.append(now or dict(old, status="gone"))
    return {
        "new": sorted(new, key=by_severity),
        "fixed": sorted(fixed, key=by_severity),
        "waived": sorted(waived, key=by_severity),
        "regressed": sorted(regressed, key=by_severity),
    }


def count_by(findings: Iterable[Finding], key: str, values: Iterable[str]) -> dict[str, int]:
    counts = dict((value, 0) for value in values)
    for finding in findings:
        counts[finding[key]] = counts.get(finding[key], 0) + 1
    return counts


def summarize(findings: list[Finding]) -> dict[str, Any]:
    problems = [f for f in findings if f["status"] in PROBLEM_STATUSES]
    return {
        "total": len(findings),
        "by_status": count_by(findings, "status", STATUSES),
        "problems_by_severity": count_by(problems, "severity", SEVERITIES),
        "by_source": dict(
            (source, count_by([f for f in findings if f["source"] == source], "status", STATUSES)) for source in sorted(set(f["source"] for f in findings))
        ),
    }


def delta(summary: dict[str, Any], areas: list[dict[str, Any]], previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """Change of the counts and area scores since the previous run's headline."""
    if not previous:
        return None
    before_status = previous.get("by_status") or {}
    before_sev = previous.get("problems_by_severity") or {}
    before_areas = previous.get("areas") or {}
    out: dict[str, Any] = {
        "run_id": previous.get("run_id"),
        "by_status": dict((s, summary["by_status"].get(s, 0) - before_status.get(s, 0)) for s in STATUSES),
        "problems_by_severity": dict((s, summary["problems_by_severity"].get(s, 0) - before_sev.get(s, 0)) for s in SEVERITIES),
        "open": (summary["by_status"]["fail"] + summary["by_status"]["warn"]) - (previous.get("open") or 0),
        "areas": {},
    }
    for area in areas:
        old = before_areas.get(area["area"]) or {}
        score_delta = None
        if area["score"] is not None and isinstance(old.get("score"), (int, float)):
            score_delta = round(area["score"] - old["score"], 1)
        out["areas"][area["area"]] = {"score": score_delta, "grade_before": old.get("grade"), "open": area["open"] - (old.get("open") or 0) if old else None}
    return out
