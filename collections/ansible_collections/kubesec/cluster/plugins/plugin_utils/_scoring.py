# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Area scores, grades and CI gates of a report.

The scoring is deliberately simple and is printed in every report (``METHOD``), so nobody has to trust an
opaque number (peer tools are criticised for arbitrary scores):

* Every finding belongs to one area (``area_of``).
* Grade (every area): the worst severity among the area's open problems (FAIL or WARN; waived findings are not
  open): none or info -> A, low or unknown -> B, medium -> C, high -> D, critical -> F. An area without any
  result and whose sources were not collected is "not assessed".
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

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITIES, SEVERITY_ORDER

WEIGHTS = {"critical": 9, "high": 7, "medium": 4, "low": 1, "info": 1, "unknown": 1}
GRADE_BY_WORST = {None: "A", "info": "A", "unknown": "B", "low": "B", "medium": "C", "high": "D", "critical": "F"}
PROBLEM = ("fail", "warn")

AREAS = (
    # key, title, sources (for the text and for "collected"), kind
    ("nodes", "Nodes (CIS)", ("cis-node", "kube-bench"), "checks"),
    ("control_plane", "Control plane", ("cis-control-plane", "kube-bench", "trivy-infra"), "checks"),
    ("workloads", "Workloads", ("workload", "trivy-config"), "checks"),
    ("vulnerabilities", "Vulnerabilities", ("trivy-vulnerability", "trivy-exposed-secret"), "images"),
    ("rbac", "RBAC", ("trivy-rbac", "kube-bench"), "checks"),
    ("runtime", "Runtime (Falco)", ("falco",), "events"),
    ("audit_log", "Audit log", ("audit-log",), "events"),
)
AREA_TITLES = dict((key, title) for key, title, dummy, unused in AREAS)
SOURCE_AREA = {
    "cis-node": "nodes", "cis-control-plane": "control_plane", "trivy-infra": "control_plane",
    "workload": "workloads", "trivy-config": "workloads", "trivy-vulnerability": "vulnerabilities",
    "trivy-exposed-secret": "vulnerabilities", "trivy-rbac": "rbac", "falco": "runtime", "audit-log": "audit_log",
}

METHOD = [
    "Each finding belongs to one area: Nodes (CIS) = cis-node and kube-bench section 4; Control plane = "
    "cis-control-plane, kube-bench sections 1-3 and Trivy infra assessment; Workloads = workload rules, Trivy "
    "config audit and kube-bench section 5 (except 5.1); Vulnerabilities = Trivy vulnerabilities and exposed "
    "secrets; RBAC = Trivy RBAC assessment and kube-bench 5.1; Runtime = Falco events; Audit log = audit-log "
    "findings.",
    "Grade = the worst severity among the area's open problems (FAIL or WARN; waived findings are not open): "
    "none/info A, low/unknown B, medium C, high D, critical F. 'not assessed' = no result and the source was not "
    "collected.",
    "Score for check areas = severity-weighted pass rate: 100 x sum(weight of PASS) / sum(weight of PASS, FAIL, "
    "WARN), weight 9 critical, 7 high, 4 medium, 1 low/info/unknown (the lower bound of each CVSS band). WAIVED and "
    "INFO results are left out. No score when no passing check was recorded (a list of failures has no pass rate).",
    "Score for vulnerabilities = 100 x images without an open critical/high vulnerability / images scanned "
    "(scanned images from meta/trivy_reports.json; without it only images with findings are known, so the score "
    "is a lower bound).",
    "Runtime and audit log have no score: events have no denominator. Their grade still follows the rule above.",
]


def area_of(finding):
    source = finding["source"]
    if source == "kube-bench":
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

    def __init__(self):
        self.counts = dict((s, 0) for s in ("pass", "fail", "warn", "info", "waived"))
        self.weight_pass = 0
        self.weight_problem = 0
        self.worst = None
        self.open_by_severity = dict((s, 0) for s in SEVERITIES)

    def add(self, status, severity):
        self.counts[status] = self.counts.get(status, 0) + 1
        weight = WEIGHTS.get(severity, 1)
        if status == "pass":
            self.weight_pass += weight
        elif status in PROBLEM:
            self.weight_problem += weight
            self.open_by_severity[severity] = self.open_by_severity.get(severity, 0) + 1
            if severity != "info" and (self.worst is None or SEVERITY_ORDER[severity] < SEVERITY_ORDER[self.worst]):
                self.worst = severity


def grade(worst):
    return GRADE_BY_WORST.get(worst, "B")


def area_scores(tallies, collected_sources, images=None):
    """One row per area: grade, score (or None), counts and how the score was computed."""
    rows = []
    images = images or {}
    for key, title, sources, kind in AREAS:
        tally = tallies.get(key) or AreaTally()
        total = sum(tally.counts.values())
        assessed = total > 0 or any(source in collected_sources for source in sources if source != "kube-bench")
        score, basis = None, None
        if kind == "checks":
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
                    scanned - images.get("with_critical_high", 0), scanned,
                    "" if images.get("complete") else " (only images with findings are known: lower bound)")
        elif assessed:
            basis = "events: grade only"
        rows.append({
            "area": key, "title": title, "assessed": assessed,
            "grade": grade(tally.worst) if assessed else None,
            "score": score, "basis": basis or ("not assessed" if not assessed else None),
            "worst": tally.worst, "counts": dict(tally.counts), "open_by_severity": dict(tally.open_by_severity),
            "open": tally.counts["fail"] + tally.counts["warn"],
        })
    return rows


# ------------------------------------------------------------------------------------------------ gates
GATE_KEYS = ("severity", "statuses", "new_only", "cis_fail", "expired_waivers", "min_score", "max_open", "sources")
CIS_SOURCES = ("cis-node", "cis-control-plane", "kube-bench")
MAX_EXAMPLES = 5  # not EXAMPLES: ansible-test reads a module-level EXAMPLES as YAML docs


class GateConfigError(ValueError):
    """A fail_on setting is wrong (names the key); a typo must not turn a gate off silently."""


def _bool(value, key):
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
    kube-bench); sources: limit the severity gate to these sources; expired_waivers: any expired waiver;
    min_score: any scored area below this score; max_open: more open problems (FAIL+WARN) than this.
    """

    def __init__(self, config):
        config = dict(config or {})
        unknown = sorted(set(config) - set(GATE_KEYS))
        if unknown:
            raise GateConfigError("fail_on has unknown key(s) %s; known: %s" % (", ".join(unknown), ", ".join(GATE_KEYS)))
        self.config = config
        severity = config.get("severity")
        if severity in (None, "", "none"):
            self.severity = None
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
        self.enabled = bool(self.severity or self.cis_fail or self.expired_waivers or self.min_score is not None
                            or self.max_open is not None)
        self.hits = {}

    def _number(self, key, low, high):
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

    def _hit(self, gate, finding):
        entry = self.hits.setdefault(gate, {"gate": gate, "count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < MAX_EXAMPLES:
            entry["examples"].append("%s (%s) %s" % (finding["id"], finding["severity"], _where(finding)))

    def add(self, finding, is_new):
        """Called once per finding (after waivers) with whether it is new or regressed since the previous run."""
        if not self.enabled or finding["status"] not in PROBLEM:
            return
        if self.new_only and not is_new:
            return
        status = finding["status"]
        if self.severity and status in self.statuses and (self.sources is None or finding["source"] in self.sources):
            rank = SEVERITY_ORDER[finding["severity"]]
            if self.severity == "unknown" or (finding["severity"] != "unknown" and rank <= SEVERITY_ORDER[self.severity]):
                self._hit("severity>=%s%s" % (self.severity, " (new only)" if self.new_only else ""), finding)
        if self.cis_fail and status == "fail" and finding["source"] in CIS_SOURCES:
            self._hit("cis_fail%s" % (" (new only)" if self.new_only else ""), finding)

    def result(self, summary, areas, waivers):
        hits = list(self.hits.values())
        if self.expired_waivers and waivers.get("expired"):
            hits.append({"gate": "expired_waivers", "count": len(waivers["expired"]),
                         "examples": ["%s expired %s" % (w["id"], w["expires"]) for w in waivers["expired"][:MAX_EXAMPLES]]})
        if self.min_score is not None:
            low = [a for a in areas if a["score"] is not None and a["score"] < self.min_score]
            if low:
                hits.append({"gate": "min_score %g" % self.min_score, "count": len(low),
                             "examples": ["%s %.1f" % (a["title"], a["score"]) for a in low]})
        if self.max_open is not None:
            open_count = summary["by_status"].get("fail", 0) + summary["by_status"].get("warn", 0)
            if open_count > self.max_open:
                hits.append({"gate": "max_open %d" % self.max_open, "count": open_count,
                             "examples": ["%d open problems" % open_count]})
        return {"config": self.config, "enabled": self.enabled, "failed": bool(hits), "hits": hits}


def _where(finding):
    resource = finding.get("resource") or {}
    if finding.get("node") and resource.get("kind") in (None, "Node"):
        return "on " + str(finding["node"])
    bits = [b for b in (finding.get("namespace"), resource.get("kind"), resource.get("name")) if b]
    return ("in " + "/".join(str(b) for b in bits)) if bits else ""


def gate_summary(cluster, gates):
    """One readable paragraph per gate hit (the report play's failure message)."""
    lines = ["Report gate(s) hit for cluster %s:" % cluster]
    for hit in gates.get("hits", []):
        lines.append("  %s: %d - %s" % (hit["gate"], hit["count"], "; ".join(hit["examples"])))
    return "\n".join(lines)
