# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: the report model of one cluster run (report.json without its findings).

``build`` makes one pass over the findings (a list, or a ``FindingsDir`` that streams the files): waivers applied,
compared with the previous run, counted (totals, areas, gates) and handed to the section states of their source
(_report_sections), each of which keeps only its own counters and top rows. The writers make a second pass.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Iterable
from typing import Any

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITIES, STATUSES
from ansible_collections.kubesec.cluster.plugins.module_utils._workload_rules import KSV_RULE_MAP
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats, _frameworks, _inputs, _scoring
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_findings import PROBLEM_STATUSES, Finding, ReportInputError, gc_paused, worse
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_history import (
    COMPARISON_DETAILS,
    HISTORY_RUNS,
    PreviousRun,
    by_severity,
    compact,
    comparison_key,
    delta,
)
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_sections import (
    DEFAULT_ROWS,
    MODEL_SECTION_KEYS,
    ROW_KEYS,
    SECTION_STATES,
    SectionState,
    TopN,
    VulnerabilityState,
    problem_key,
)
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_waivers import Waivers

REPORT_SCHEMA_VERSION = 2


class _Pass:
    """The one pass over the findings: totals, areas, gates and comparison here, the rest in the section states."""

    def __init__(self, rows: int, previous: PreviousRun | None, gates: _scoring.Gates) -> None:
        self.rows = rows
        self.previous = previous
        self.gates = gates
        self.total = 0
        self.by_status = dict((s, 0) for s in STATUSES)
        self.problems_by_severity = dict((s, 0) for s in SEVERITIES)
        self.by_source: dict[str, dict[str, int]] = {}
        self.nodes: set[str] = set()
        self.namespaces: set[str] = set()
        self.areas: dict[str, _scoring.AreaTally] = {}
        self.top: dict[str, TopN] = {}
        self.waived = TopN(rows)
        self.current: dict[str, str] = {}
        self.new = TopN(COMPARISON_DETAILS)
        self.regressed = TopN(COMPARISON_DETAILS)
        self.new_fps: list[str] = []
        self.regressed_fps: list[str] = []
        self.changed: set[str] = set()
        self.states: list[SectionState] = [state() for state in SECTION_STATES]
        self.state_of = dict((source, state) for state in self.states for source in state.sources)
        self.frameworks = _frameworks.Tally(_frameworks.rule_ksv_map(KSV_RULE_MAP))  # every finding, reduced

    def add(self, f: Finding) -> None:
        """One finding as read. What each source reported is kept per source (its section, top rows and the
        comparison); the counted results (totals, grades, gates) take what the section state releases."""
        status, source = f["status"], f["source"]
        counts = self.by_source.get(source)
        if counts is None:
            counts = self.by_source[source] = dict((s, 0) for s in STATUSES)
        counts[status] += 1
        self.frameworks.add(f)
        is_new = self._compare(f, status in PROBLEM_STATUSES)
        if status in PROBLEM_STATUSES or status == "waived":
            top = self.top.get(source)
            if top is None:
                top = self.top[source] = TopN(self.rows)
            top.add(ROW_KEYS.get(source, problem_key)(f), f)
        state = self.state_of.get(source)
        if state is None or state.add(f, is_new):
            self._count(f, is_new)

    def finish(self) -> None:
        for state in self.states:
            state.finish(self._count)

    def _compare(self, f: Finding, problem: bool) -> bool:
        """Comparison by source + fingerprint (duplicates of a key count once, with their worst status)."""
        if self.previous is None:
            return True
        status = f["status"]
        key = comparison_key(f)
        old_here = self.current.get(key)
        self.current[key] = sys.intern(status) if old_here is None else worse(status, old_here)
        old = self.previous.status.get(key)
        is_new = problem and (old is None or old == "pass")
        if is_new and key not in self.changed:
            self.changed.add(key)
            if old is None:
                self.new_fps.append(f["fingerprint"])
                self.new.add(by_severity(f), f)
            else:
                self.regressed_fps.append(f["fingerprint"])
                self.regressed.add(by_severity(f), f)
        return is_new

    def _count(self, f: Finding, is_new: bool) -> None:
        """The counted result: totals, severities, the area tally, the gates, nodes and namespaces, waived rows."""
        intern = sys.intern
        status, severity = f["status"], f["severity"]
        self.total += 1
        self.by_status[status] += 1
        if status in PROBLEM_STATUSES:
            self.problems_by_severity[severity] += 1
        node, namespace = f.get("node"), f.get("namespace")
        if node:
            self.nodes.add(intern(node) if isinstance(node, str) else node)
        if namespace:
            self.namespaces.add(intern(namespace) if isinstance(namespace, str) else namespace)
        area = _scoring.area_of(f)
        tally = self.areas.get(area)
        if tally is None:
            tally = self.areas[area] = _scoring.AreaTally()
        tally.add(status, severity)
        self.gates.add(f, is_new)
        if status == "waived":
            self.waived.add(problem_key(f), f)

    def state(self, kind: type) -> Any:
        return next(state for state in self.states if isinstance(state, kind))


def _comparison(acc: _Pass, previous: PreviousRun) -> tuple[dict, dict, dict]:
    """(comparison details, counts, fingerprints) against the previous run."""
    # a problem that is waived now was accepted, not fixed: it is listed apart
    fixed_keys = [key for key in previous.problems if acc.current.get(key) not in PROBLEM_STATUSES and acc.current.get(key) != "waived"]
    waived_keys = [key for key in previous.problems if acc.current.get(key) == "waived"]
    fixed_fps = [previous.problems[key][2] for key in fixed_keys]
    fixed, waived_now = TopN(COMPARISON_DETAILS), TopN(COMPARISON_DETAILS)
    for keys, top in ((fixed_keys, fixed), (waived_keys, waived_now)):
        for key in keys:
            entry = previous.details(key)
            entry["status"] = acc.current.get(key, "gone")
            top.add(by_severity(entry), entry)
    comparison = {
        "new": [compact(f) for f in acc.new.result()],
        "fixed": fixed.result(),
        "regressed": [compact(f) for f in acc.regressed.result()],
        "waived": waived_now.result(),
    }
    counts = {"new": len(acc.new_fps), "fixed": len(fixed_fps), "regressed": len(acc.regressed_fps), "waived": len(waived_keys)}
    fingerprints = {"new": acc.new_fps, "fixed": fixed_fps, "regressed": acc.regressed_fps}
    return comparison, counts, fingerprints


def build(
    cluster: str,
    run_id: str,
    findings: Iterable[Finding],
    waivers: Any = None,
    previous_findings: Iterable[Any] | None = None,
    previous_run_id: str | None = None,
    today: datetime.date | None = None,
    generated_at: str | None = None,
    meta: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    features: Any = None,
    actions: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    fail_on: Any = None,
    rows: int = DEFAULT_ROWS,
    rendered: list[str] | None = None,
    rendered_applied: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report model (report.json without its findings, plus private '_' keys for the renderers).

    ``findings``: a list (then ``model['findings']`` holds it, waivers applied) or any re-iterable such as
    ``FindingsDir`` (the writers iterate it again). ``previous_findings``: the previous run's findings (iterable)
    or None on a first run. ``history``: headlines of earlier runs (``read_history``). ``inputs``: ``_inputs.read_meta``.
    """
    today = today or datetime.date.today()
    generated_at = generated_at or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    waiver_set = Waivers(waivers, today)
    try:
        gates = _scoring.Gates(fail_on)
    except _scoring.GateConfigError as exc:
        raise ReportInputError(str(exc)) from exc
    warnings = []
    previous = None
    if previous_findings is not None:
        try:
            previous = PreviousRun(previous_findings)
        except (OSError, ValueError, RecursionError) as exc:
            # a cut or broken previous report must not block every later report of the cluster
            warnings.append(
                "previous report of run %s is unreadable, so this run is compared with nothing: %s" % (previous_run_id, _formats.safe_text(exc)[:300])
            )
            previous_run_id = None
    acc = _Pass(rows, previous, gates)
    materialized: list[Finding] | None = [] if isinstance(findings, list) else None
    with gc_paused():
        for finding in findings:
            finding = waiver_set.apply(finding)
            acc.add(finding)
            if materialized is not None:
                materialized.append(finding)
        acc.finish()
    inputs = inputs or {}
    summary = {
        "total": acc.total,
        "by_status": acc.by_status,
        "problems_by_severity": acc.problems_by_severity,
        "by_source": dict(sorted(acc.by_source.items())),
    }
    comparison, comparison_counts, fingerprints = None, None, None
    if previous is not None:
        comparison, comparison_counts, fingerprints = _comparison(acc, previous)
    # areas and scores
    trivy = _inputs.normalize_trivy_reports((inputs.get("trivy_reports") or {}).get("data"))
    image_info = acc.state(VulnerabilityState).image_info(trivy["images"] if trivy else None)
    collectors = _inputs.collector_states(inputs)
    areas = _scoring.area_scores(acc.areas, collectors, image_info, acc.by_source)
    waiver_info = waiver_set.info()
    gate_result = gates.result(summary, areas, waiver_info)
    frameworks = _frameworks.report_view(acc.frameworks, areas, acc.by_source)
    # change since the previous run, from its headline
    previous_headline = history[-1] if history and previous_run_id and history[-1].get("run_id") == previous_run_id else None
    headline = {
        "run_id": run_id,
        "generated_at": generated_at,
        "total": acc.total,
        "by_status": dict(acc.by_status),
        "problems_by_severity": dict(acc.problems_by_severity),
        "open": acc.by_status["fail"] + acc.by_status["warn"],
        "areas": dict((a["area"], {"grade": a["grade"], "score": a["score"], "open": a["open"]}) for a in areas),
        "changes": comparison_counts,
        "gates_failed": gate_result["failed"] if gates.enabled else None,
    }
    features_clean, features_dropped = _inputs.sanitize_features(features)
    # the rendered metadata (render.json, applied: false) tells only when the run's settings did not: a render.json
    # left from an earlier render_only run must not hide that this run applied the feature
    for name, applied in (rendered_applied or {}).items():
        if name in features_clean and "applied" not in features_clean[name] and applied is False:
            features_clean[name]["applied"] = False
    context = {
        "rows": rows,
        "trivy": trivy,
        "workload_rules": _inputs.normalize_workload_rules((inputs.get("workload_rules") or {}).get("data")),
        "audit_summary": _inputs.normalize_audit_summary((inputs.get("audit_log_summary") or {}).get("data")),
        "falco_groups": _inputs.normalize_falco_groups((inputs.get("falco_groups") or {}).get("data")),
    }
    parts: dict[str, Any] = {
        "trivy_reports": {"by_kind": trivy["by_kind"], "reports": trivy["reports"]} if trivy else None,
        "sources": _inputs.normalize_sources((inputs.get("sources") or {}).get("data")),
        "collectors": [dict((k, c[k]) for k in ("collector", "state", "why", "areas")) for c in collectors],
    }
    for state in acc.states:
        parts.update(state.view(context))
    # the per-node CIS table carries each node's currency (one row per node for the reader; two sections' data)
    currency = parts.get("node_currency") or {}
    for row in parts.get("per_node") or []:
        row["currency"] = currency.get(row["node"])
    model = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "headline": headline,
        "cluster": cluster,
        "run_id": run_id,
        "generated_at": generated_at,
        "previous_run_id": previous_run_id,
        "warnings": warnings,
        "summary": summary,
        "areas": areas,
        "scoring": {
            "weights": _scoring.WEIGHTS,
            "grades": {"A": "no open problem above info", "B": "low/unknown", "C": "medium", "D": "high", "F": "critical"},
            "method": _scoring.METHOD,
        },
        "delta": delta(summary, areas, previous_headline),
        "history": [*(history or [])[-(HISTORY_RUNS - 1):], headline],
        "nodes": sorted(acc.nodes),
        "namespaces": sorted(acc.namespaces),
        "comparison": comparison,
        "comparison_counts": comparison_counts,
        "comparison_fingerprints": fingerprints,
        "waivers": waiver_info,
        "gates": gate_result,
        "frameworks": frameworks,
        "features": features_clean,
        "features_dropped": features_dropped,
        "actions": actions or {"records": [], "unreadable": [], "total": 0, "since_previous": 0, "present": False},
        "rendered": rendered,
        "sections": dict((key, parts[key]) for key in MODEL_SECTION_KEYS),
        "meta": dict(meta or {}, inputs=_inputs.meta_status(inputs) if inputs else []),
        # private: for the renderers and writers only, never written
        "_top": dict((source, top.result()) for source, top in acc.top.items()),
        "_waived": acc.waived.result(),
        "_cis_open": parts["_cis_open"],
        "_rows": rows,
    }
    if materialized is not None:
        model["findings"] = materialized
    else:
        model["_source"] = findings
        model["_waivers"] = Waivers(waivers, today)
    return model


AUDIT_INCIDENTS = (
    ("secret_reads", "secret read(s)"),
    ("secret_access_denied", "denied secret access"),
    ("denied", "denied"),
    ("exec", "exec/attach"),
    ("rbac_changes", "RBAC change(s)"),
    ("anonymous", "anonymous"),
)


def console_summary(model: dict[str, Any], files: dict[str, str] | None = None) -> list[str]:
    """The five lines the report play ends with (like kube-bench's and Trivy's summaries): grade per area, open
    criticals/highs, audit-log incidents of the queried period, gate result and changes, where the report is."""
    grades = []
    for area in model["areas"]:
        short = area["title"].replace(" (CIS)", "").replace(" (Falco)", "")
        if area["assessed"]:
            grades.append("%s %s" % (short, area["grade"]))
        else:
            grades.append("%s not assessed%s" % (short, " (a source failed)" if area.get("source_failed") else ""))
    severity = model["summary"]["problems_by_severity"]
    waived = model["summary"]["by_status"].get("waived", 0)
    audit = model["sections"].get("audit_log")
    audit_area: dict[str, Any] = next((a for a in model["areas"] if a["area"] == "audit_log"), {})
    if audit:
        period = (audit.get("period") or {}).get("text") or "the queried period"
        counts = ["%d %s" % ((audit.get(key) or {}).get("count", 0), label) for key, label in AUDIT_INCIDENTS]
        still_open = (audit.get("exec") or {}).get("open")
        if still_open:  # an exec/attach/port-forward session without its final stage: the operator should look now
            counts.append("%d session(s) still open" % still_open)
        audit_line = "Audit log (%s): %s" % (period, ", ".join(counts))
        if not audit_area.get("assessed"):
            audit_line += " - incomplete: " + _clip_line(audit_area.get("not_assessed") or "", 160)
    else:
        audit_line = "Audit log: not assessed - %s" % _clip_line(audit_area.get("not_assessed") or "no summary", 160)
    changes_counts = model.get("comparison_counts")
    changes = (
        "Since run %s: %d new, %d fixed, %d regressed, %d waived (not fixed)"
        % (model["previous_run_id"], changes_counts["new"], changes_counts["fixed"], changes_counts["regressed"], changes_counts.get("waived", 0))
        if changes_counts
        else "First run: nothing to compare with yet"
    )
    files = files or {}
    where = files.get("html") or files.get("json") or "(not written: check mode)"
    return [
        _formats.safe_text(line)
        for line in (
            "Grades: " + ", ".join(grades),
            "Open: %d critical, %d high, %d medium, %d low (FAIL+WARN; %d waived)"
            % (severity.get("critical", 0), severity.get("high", 0), severity.get("medium", 0), severity.get("low", 0), waived),
            audit_line,
            "Gates: %s. %s" % (_scoring.gate_line(model["gates"]), changes),
            "Report: %s%s" % (where, " (and report.pdf)" if files.get("pdf") else ""),
        )
    ]


def _clip_line(text: str, limit: int) -> str:
    text = _formats.safe_text(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
