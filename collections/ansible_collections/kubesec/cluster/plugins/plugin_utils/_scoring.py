# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Area scores, grades and CI gates of a report.

The scoring is deliberately simple and is printed in every report (``METHOD``), so nobody has to trust an
opaque number (peer tools are criticised for arbitrary scores):

* Every finding belongs to one area (``area_of``).
* Grade (every area): the worst severity among the area's open problems (FAIL or WARN; waived findings are not
  open): none or info -> A, low or unknown -> B, medium -> C, high -> D, critical -> F. An area is graded only
  from sources that ran and succeeded for it: "not assessed" (with why) when a source that may grade it failed,
  or when none ran for it.
* Score 0-100:
  - check areas (nodes, control plane, workloads, RBAC): severity-weighted pass rate
    100 x sum(w, PASS) / sum(w, PASS + FAIL + WARN); w = 9 critical, 7 high, 4 medium, 1 low/info/unknown
    (the lower bound of the CVSS band). WAIVED and INFO results are left out. No score when the sources
    recorded no passing check (Trivy Operator stores failed checks only by default): a pass rate of a list of
    failures says nothing.
  - vulnerabilities: 100 x images without an open critical or high vulnerability / images scanned. Images
    scanned come from meta/trivy_reports.json when present, else only images that have findings are known
    (then the score is a lower bound, and the report says so).
  - runtime (Falco) and audit log: no score (events have no denominator); grade only.
"""

from __future__ import annotations

from typing import Any, Mapping, cast

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITIES, SEVERITY_ORDER
from ansible_collections.kubesec.cluster.plugins.module_utils._sources import BENCHMARK_SOURCES, SOURCE_TABLE, SOURCES_BY_NAME

WEIGHTS = {"critical": 9, "high": 7, "medium": 4, "low": 1, "info": 1, "unknown": 1}
GRADE_BY_WORST = {None: "A", "info": "A", "unknown": "B", "low": "B", "medium": "C", "high": "D", "critical": "F"}
PROBLEM = ("fail", "warn")

# The scoring areas: key, title, kind. Which sources feed an area is declared per source (_sources.SOURCE_TABLE).
AREA_TABLE = (
    ("nodes", "Nodes (CIS)", "checks"),
    ("control_plane", "Control plane", "checks"),
    ("workloads", "Workloads", "checks"),
    ("vulnerabilities", "Vulnerabilities", "images"),
    ("rbac", "RBAC", "checks"),
    ("runtime", "Runtime (Falco)", "events"),
    ("audit_log", "Audit log", "events"),
    ("node_currency", "Node currency", "checks"),
)
SOURCE_AREA = dict((source.name, source.area) for source in SOURCE_TABLE if source.area)


def _area_sources(key: str) -> tuple[str, ...]:
    return tuple(source.name for source in SOURCE_TABLE if source.area == key or (source.area is None and key in source.areas))


AREAS = tuple((key, title, _area_sources(key), kind) for key, title, kind in AREA_TABLE)
AREA_TITLES = dict((key, title) for key, title, dummy, unused in AREAS)

METHOD = [
    "Each finding belongs to one area: Nodes (CIS) = cis-node and kube-bench section 4; Control plane = "
    "cis-control-plane, kube-bench sections 1-3 and Trivy infra assessment; Workloads = workload rules, Trivy "
    "config audit, kube-bench and native CIS section 5 (except 5.1), cluster policy rules KS-NET/KS-CM; "
    "Vulnerabilities = Trivy vulnerabilities and exposed secrets; RBAC = Trivy RBAC assessment, kube-bench and "
    "native CIS 5.1, cluster policy rules KS-RB; Runtime = Falco events; Audit log = audit-log "
    "findings; Node currency = pending security updates, reboots, kubelet skew and runtime versions of the nodes "
    "(KS-NODE-*).",
    "Grade = the worst severity among the area's open problems (FAIL or WARN; waived findings are not open): "
    "none/info A, low/unknown B, medium C, high D, critical F. An area is graded only from sources that ran and "
    "succeeded for it: 'not assessed (why)' when a source that may grade it failed or partly failed, or when none "
    "ran for it (a Trivy CLI scan grades only what its 'assessed' list names).",
    "Score for check areas = severity-weighted pass rate: 100 x sum(weight of PASS) / sum(weight of PASS, FAIL, "
    "WARN), weight 9 critical, 7 high, 4 medium, 1 low/info/unknown (the lower bound of each CVSS band). WAIVED and "
    "INFO results are left out. No score when no passing check was recorded (a list of failures has no pass rate).",
    "Score for vulnerabilities = 100 x images without an open critical/high vulnerability / images scanned "
    "(scanned images from meta/trivy_reports.json; without it only images with findings are known, so the score "
    "is a lower bound).",
    "Runtime and audit log have no score: events have no denominator. Their grade still follows the rule above.",
]


def area_of(finding: Mapping[str, Any]) -> str:
    source = finding["source"]
    if source == "cluster-policy":  # KS-RB-* are RBAC, KS-NET-* / KS-CM-* workloads
        return "rbac" if str(finding["id"]).startswith("KS-RB-") else "workloads"
    if source in ("kube-bench", "cis-policies"):
        section = str(finding.get("section") or finding["id"].replace("CIS-", ""))
        if section.startswith("4"):
            return "nodes"
        if section.startswith("5.1"):
            return "rbac"
        if section.startswith("5"):
            return "workloads"
        return "control_plane"
    return SOURCE_AREA.get(source, "control_plane")


class AreaTally:
    __slots__ = ("counts", "open_by_severity", "weight_pass", "weight_problem", "worst")

    def __init__(self) -> None:
        self.counts = dict((s, 0) for s in ("pass", "fail", "warn", "info", "waived"))
        self.weight_pass = 0
        self.weight_problem = 0
        self.worst: str | None = None
        self.open_by_severity = dict((s, 0) for s in SEVERITIES)

    def add(self, status: str, severity: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        weight = WEIGHTS.get(severity, 1)
        if status == "pass":
            self.weight_pass += weight
        elif status in PROBLEM:
            self.weight_problem += weight
            self.open_by_severity[severity] = self.open_by_severity.get(severity, 0) + 1
            if severity != "info" and (self.worst is None or SEVERITY_ORDER[severity] < SEVERITY_ORDER[self.worst]):
                self.worst = severity


def grade(worst: str | None) -> str:
    return GRADE_BY_WORST.get(worst, "B")


# Findings that show an area was really examined. Exposed-secret findings alone do not show that images were
# scanned for vulnerabilities; every other area: any of its findings.
EVIDENCE_SOURCES = dict(
    (key, tuple(name for name in sources if SOURCES_BY_NAME[name].grades_area))
    for key, dummy, sources, unused in AREAS
    if not all(SOURCES_BY_NAME[name].grades_area for name in sources)
)


# What to say when nothing could have graded an area in this run.
NOT_COLLECTED = {
    "audit_log": "no audit-log query in this run (the audit_logging role or playbooks/audit_log.yml writes meta/audit_log_summary.json)",
    "runtime": "no Falco events collected (kubesec_collect.falco)",
    "vulnerabilities": "no vulnerability scan collected (Trivy Operator or a Trivy CLI image scan)",
    "node_currency": "no node-currency results (the benchmark role's currency check, kubesec_node_currency)",
}


def _assessment(key: str, tally: AreaTally, collectors: list[dict[str, Any]], by_source: Mapping[str, Mapping[str, int]]) -> tuple[bool, str | None, list[str]]:
    """(assessed, why not, collectors that graded it) for one area.

    Graded only from sources that ran and succeeded for it: a collector that failed (or partly failed) and may
    grade the area makes it "not assessed" whatever the other sources say, so a grade is never built on half the
    data; otherwise a collector that ran and assessed it, or findings of the area, make it assessed.
    """
    failed = [c["why"] for c in collectors if c["state"] == "failed" and key in c["may_grade"]]
    ran = [c["collector"] for c in collectors if c["state"] == "ok" and key in c["areas"]]
    evidence = EVIDENCE_SOURCES.get(key)
    if evidence:
        has_findings = any(sum((by_source.get(source) or {}).values()) for source in evidence)
    else:
        has_findings = sum(tally.counts.values()) > 0
    if failed:
        return False, "source failed: " + "; ".join(failed), ran
    if ran or has_findings:
        return True, None, ran
    reasons = []
    for c in collectors:
        if key not in c["may_grade"]:
            continue
        if c["state"] == "off":
            reasons.append(c["why"])
        elif c["state"] == "ok":
            reasons.append(
                "%s ran without assessing it (%s)"
                % (c["collector"], "assessed: " + (", ".join(c["areas"]) or "nothing") if c.get("said") else "it does not say which scanners ran")
            )
    if not collectors:
        reasons.append("no result, and meta/sources.json does not say a source ran")
    return False, "; ".join(reasons) or NOT_COLLECTED.get(key, "no source collected for it"), ran


def area_scores(
    tallies: Mapping[str, AreaTally],
    collectors: list[dict[str, Any]] | None,
    images: Mapping[str, Any] | None = None,
    by_source: Mapping[str, Mapping[str, int]] | None = None,
) -> list[dict[str, Any]]:
    """One row per area: grade, score (or None), counts and how the score was computed.

    ``collectors``: ``_inputs.collector_states`` (what ran, failed, or was off); ``by_source``: status counts per
    finding source.
    """
    rows = []
    images = images or {}
    by_source = by_source or {}
    for key, title, _sources, kind in AREAS:
        tally = tallies.get(key) or AreaTally()
        total = sum(tally.counts.values())
        assessed, why_not, graded_by = _assessment(key, tally, collectors or [], by_source)
        score, basis = None, None
        if not assessed:
            basis = "not assessed: " + cast(str, why_not)  # a str whenever not assessed
        elif kind == "checks":
            denominator = tally.weight_pass + tally.weight_problem
            if tally.counts["pass"] and denominator:
                score = round(100.0 * tally.weight_pass / denominator, 1)
                evaluated = tally.counts["pass"] + tally.counts["fail"] + tally.counts["warn"]
                basis = "weighted pass rate of %d evaluated checks" % evaluated
            elif total:
                basis = "no passing check recorded: no pass rate"
        elif kind == "images":
            scanned = images.get("scanned", 0)
            if scanned:
                score = round(100.0 * (scanned - images.get("with_critical_high", 0)) / scanned, 1)
                basis = "%d of %d images without an open critical/high vulnerability%s" % (
                    scanned - images.get("with_critical_high", 0),
                    scanned,
                    "" if images.get("complete") else " (only images with findings are known: lower bound)",
                )
        else:
            basis = "events: grade only"
        rows.append(
            {
                "area": key,
                "title": title,
                "assessed": assessed,
                "grade": grade(tally.worst) if assessed else None,
                "not_assessed": why_not,
                "graded_by": graded_by,
                "source_failed": bool(why_not and why_not.startswith("source failed")),
                "score": score,
                "basis": basis,
                "worst": tally.worst,
                "counts": dict(tally.counts),
                "open_by_severity": dict(tally.open_by_severity),
                "open": tally.counts["fail"] + tally.counts["warn"],
            }
        )
    return rows


# ------------------------------------------------------------------------------------------------ gates
GATE_KEYS = ("severity", "statuses", "new_only", "cis_fail", "expired_waivers", "min_score", "max_open", "sources", "incomplete")
AREA_KEYS = tuple(key for key, dummy, unused, kind in AREAS)
MAX_EXAMPLES = 5  # not EXAMPLES: ansible-test reads a module-level EXAMPLES as YAML docs


class GateConfigError(ValueError):
    """A fail_on setting is wrong (names the key); a typo must not turn a gate off silently."""


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    raise GateConfigError("fail_on.%s must be true or false, got %r" % (key, value))


class Gates:
    """kubesec_report_fail_on: which findings make the report play fail (after every file is written).

    severity: lowest severity that fails (critical|high|medium|low|info|unknown; unknown only fails at 'unknown');
    statuses: which statuses count (default [fail]); new_only: only findings new or regressed since the previous
    run (on a first run every finding is new); cis_fail: any CIS check FAIL (cis-node, cis-control-plane,
    kube-bench, cis-policies); sources: limit the severity gate to these sources; expired_waivers: any expired waiver;
    min_score: any scored area below this score; max_open: more open problems (FAIL+WARN) than this;
    incomplete: true = any area not assessed because a source failed, or a list of areas that must be assessed.
    """

    def __init__(self, config: Mapping[str, Any] | None) -> None:
        config = dict(config or {})
        unknown = sorted(set(config) - set(GATE_KEYS))
        if unknown:
            raise GateConfigError("fail_on has unknown key(s) %s; known: %s" % (", ".join(unknown), ", ".join(GATE_KEYS)))
        self.config = config
        severity = config.get("severity")
        if severity in (None, "", "none"):
            self.severity: str | None = None
        elif severity in SEVERITY_ORDER:
            self.severity = severity
        else:
            raise GateConfigError("fail_on.severity must be one of %s or none, got %r" % (", ".join(SEVERITIES), severity))
        statuses = config.get("statuses", ["fail"])
        if isinstance(statuses, str):
            statuses = [statuses]
        if not isinstance(statuses, list) or not statuses or set(statuses) - set(PROBLEM):
            raise GateConfigError("fail_on.statuses must be a list of fail/warn, got %r" % (statuses,))
        self.statuses = tuple(statuses)
        self.new_only = _bool(config.get("new_only", False), "new_only")
        self.cis_fail = _bool(config.get("cis_fail", False), "cis_fail")
        self.expired_waivers = _bool(config.get("expired_waivers", False), "expired_waivers")
        self.sources = config.get("sources")
        if self.sources is not None and (not isinstance(self.sources, list) or not all(isinstance(s, str) for s in self.sources)):
            raise GateConfigError("fail_on.sources must be a list of finding sources, got %r" % (self.sources,))
        self.min_score = self._number("min_score", 0, 100)
        self.max_open = self._number("max_open", 0, None)
        incomplete = config.get("incomplete", False)
        if isinstance(incomplete, list):
            unknown_areas = [a for a in incomplete if a not in AREA_KEYS]
            if unknown_areas or not incomplete:
                raise GateConfigError("fail_on.incomplete must be true/false or a list of areas (%s), got %r" % (", ".join(AREA_KEYS), incomplete))
            self.incomplete: tuple[str, ...] | bool = tuple(incomplete)
        else:
            self.incomplete = _bool(incomplete, "incomplete")
        self.enabled = bool(
            self.severity or self.cis_fail or self.expired_waivers or self.min_score is not None or self.max_open is not None or self.incomplete
        )
        self.hits: dict[str, dict[str, Any]] = {}
        self.not_counted: dict[tuple[str, str], int] = {}  # (status, severity) -> count: problems the severity gate left out by ``statuses``

    def _number(self, key: str, low: float, high: float | None) -> float | None:
        value = self.config.get(key)
        if value is None:
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise GateConfigError("fail_on.%s must be a number, got %r" % (key, value)) from None
        if number < low or (high is not None and number > high):
            raise GateConfigError("fail_on.%s must be between %s and %s, got %r" % (key, low, high or "any", value))
        return number

    def _hit(self, gate: str, finding: Mapping[str, Any]) -> None:
        entry = self.hits.setdefault(gate, {"gate": gate, "count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < MAX_EXAMPLES:
            entry["examples"].append("%s (%s) %s" % (finding["id"], finding["severity"], _where(finding)))

    def add(self, finding: Mapping[str, Any], is_new: bool) -> None:
        """Called once per finding (after waivers) with whether it is new or regressed since the previous run."""
        if not self.enabled or finding["status"] not in PROBLEM:
            return
        if self.new_only and not is_new:
            return
        status = finding["status"]
        if self.severity and (self.sources is None or finding["source"] in self.sources):
            rank = SEVERITY_ORDER[finding["severity"]]
            if self.severity == "unknown" or (finding["severity"] != "unknown" and rank <= SEVERITY_ORDER[self.severity]):
                if status in self.statuses:
                    self._hit("severity>=%s%s" % (self.severity, " (new only)" if self.new_only else ""), finding)
                else:
                    key = (status, finding["severity"])
                    self.not_counted[key] = self.not_counted.get(key, 0) + 1
        if self.cis_fail and status == "fail" and finding["source"] in BENCHMARK_SOURCES:
            self._hit("cis_fail%s" % (" (new only)" if self.new_only else ""), finding)

    def result(self, summary: Mapping[str, Any], areas: list[dict[str, Any]], waivers: Mapping[str, Any]) -> dict[str, Any]:
        hits = list(self.hits.values())
        if self.expired_waivers and waivers.get("expired"):
            hits.append(
                {
                    "gate": "expired_waivers",
                    "count": len(waivers["expired"]),
                    "examples": ["%s expired %s" % (w["id"], w["expires"]) for w in waivers["expired"][:MAX_EXAMPLES]],
                }
            )
        if self.min_score is not None:
            low = [a for a in areas if a["score"] is not None and a["score"] < self.min_score]
            if low:
                hits.append({"gate": "min_score %g" % self.min_score, "count": len(low), "examples": ["%s %.1f" % (a["title"], a["score"]) for a in low]})
        if self.max_open is not None:
            open_count = summary["by_status"].get("fail", 0) + summary["by_status"].get("warn", 0)
            if open_count > self.max_open:
                hits.append({"gate": "max_open %d" % self.max_open, "count": open_count, "examples": ["%d open problems" % open_count]})
        if self.incomplete:
            missing = [
                a for a in areas if not a["assessed"] and (a["area"] in self.incomplete if isinstance(self.incomplete, tuple) else a.get("source_failed"))
            ]
            if missing:
                hits.append(
                    {
                        "gate": "incomplete",
                        "count": len(missing),
                        "examples": ["%s not assessed (%s)" % (a["title"], a.get("not_assessed") or "?") for a in missing[:MAX_EXAMPLES]],
                    }
                )
        not_counted = [
            {"status": status, "severity": severity, "count": count}
            for (status, severity), count in sorted(self.not_counted.items(), key=lambda kv: (SEVERITY_ORDER[kv[0][1]], kv[0][0]))
        ]
        return {"config": self.config, "enabled": self.enabled, "failed": bool(hits), "hits": hits, "not_counted": not_counted, "note": self.note(not_counted)}

    def note(self, not_counted: list[dict[str, Any]]) -> str:
        """What the severity gate did not count, and how to count it ("1 critical WARN not counted; ...")."""
        if not not_counted:
            return ""
        parts = ["%d %s %s" % (e["count"], e["severity"], e["status"].upper()) for e in not_counted]
        wanted = sorted(set(self.statuses) | set(e["status"] for e in not_counted), key=PROBLEM.index)
        return "%s not counted by severity>=%s; add statuses: [%s] to count them" % (", ".join(parts), self.severity, ", ".join(wanted))


def _where(finding: Mapping[str, Any]) -> str:
    resource = finding.get("resource") or {}
    if finding.get("node") and resource.get("kind") in (None, "Node"):
        return "on " + str(finding["node"])
    bits = [b for b in (finding.get("namespace"), resource.get("kind"), resource.get("name")) if b]
    return ("in " + "/".join(str(b) for b in bits)) if bits else ""


def gate_summary(cluster: str, gates: Mapping[str, Any]) -> str:
    """One readable paragraph per gate hit (the report play's failure message)."""
    lines = ["Report gate(s) hit for cluster %s:" % cluster]
    for hit in gates.get("hits", []):
        lines.append("  %s: %d - %s" % (hit["gate"], hit["count"], "; ".join(hit["examples"])))
    if gates.get("note"):
        lines.append("  (%s)" % gates["note"])
    return "\n".join(lines)


def gate_line(gates: Mapping[str, Any]) -> str:
    """The one-line gate state for the console and the summary ("passed (1 critical WARN not counted; ...)")."""
    if not gates.get("enabled"):
        return "none configured"
    text = ("FAILED - " + ", ".join("%s (%d)" % (h["gate"], h["count"]) for h in gates["hits"])) if gates["failed"] else "passed"
    return text + ("; " + gates["note"] if gates.get("note") else "")
