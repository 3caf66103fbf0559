# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: the report's sections. SECTIONS says what is shown, in which order and with which template;
the section states gather, in the one pass over the findings, what their section needs, and return their view.

A section state receives the findings of its sources (``add``; return False to hold one back from the totals),
releases what it held at the end (``finish``) and returns its entries of report.json's ``sections`` (``view``).
Each keeps only its own state. Which source goes to which section is declared per source in _sources.SOURCE_TABLE.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITIES, SEVERITY_ORDER, STATUSES
from ansible_collections.kubesec.cluster.plugins.module_utils._sources import CIS_SOURCES, SOURCE_TABLE
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _scoring
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_findings import PROBLEM_STATUSES, STATUS_RANK, Finding, worse
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_history import compact

DEFAULT_ROWS = 500  # rows per section kept for the HTML (the PDF shows fewer); the rest is in report.json
MAX_CIS_OPEN = 20000  # CIS problems kept for the per-node tables
SOURCE_TITLES = dict((source.name, source.title) for source in SOURCE_TABLE)
Count = Callable[[Finding, bool], None]


class Section(NamedTuple):
    """One section of report.html / report.pdf after the summary and the changes."""

    key: str
    anchor: str
    title: str
    template: str  # under data/report_templates/sections/
    present_when: tuple = ()  # model paths (a.b) that make it present without findings of its sources
    absent: tuple = ()  # the "simple" template: (what was not collected, how to collect it)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(source.name for source in SOURCE_TABLE if source.section == self.key)


SECTIONS = (
    Section("frameworks", "frameworks", "Compliance frameworks", "frameworks.html.j2", present_when=("frameworks.frameworks",)),
    Section("cis_nodes", "cis", "CIS benchmark per node", "cis_nodes.html.j2"),
    Section(
        "node_currency",
        "node-currency",
        "Node currency",
        "node_currency.html.j2",
        absent=(
            "node-currency results (source node-currency)",
            "The benchmark role checks pending security updates, reboots and versions with kubesec_node_currency (docs/node-currency.md).",
        ),
    ),
    Section("control_plane", "control-plane", "Control plane", "control_plane.html.j2"),
    Section("kube_bench", "src-kube-bench", "kube-bench results", "kube_bench.html.j2"),
    Section("audit", "audit", "Audit logging", "audit.html.j2", present_when=("sections.audit_log", "sections.audit_logging_checks")),
    Section("workloads", "workloads", "Workloads", "workloads.html.j2", present_when=("sections.workload_rules",)),
    Section(
        "config",
        "src-trivy-config",
        "Configuration audit",
        "simple.html.j2",
        absent=("configuration audit results (source trivy-config)", "Trivy Operator ConfigAuditReports are collected when kubesec_trivy_operator is on."),
    ),
    Section("vulnerabilities", "vulnerabilities", "Vulnerabilities", "vulnerabilities.html.j2"),
    Section(
        "secrets",
        "src-trivy-exposed-secret",
        "Exposed secrets",
        "simple.html.j2",
        absent=("exposed-secret results (source trivy-exposed-secret)", "Needs the Trivy Operator exposed_secrets scanner."),
    ),
    Section(
        "cis_policies",
        "cis-policies",
        "CIS section 5 (policies)",
        "simple.html.j2",
        absent=(
            "CIS section 5 results (source cis-policies)",
            "The collect role evaluates section 5 when kubesec_collect.policies is on (docs/cis-coverage.md).",
        ),
    ),
    Section(
        "cluster_policy",
        "cluster-policy",
        "Cluster policy rules (RBAC abuse, exposure)",
        "simple.html.j2",
        absent=(
            "cluster policy rule results (source cluster-policy)",
            "The collect role evaluates them with kubesec_collect.policies (docs/cluster-policies.md).",
        ),
    ),
    Section("rbac", "rbac", "RBAC", "simple.html.j2", absent=("RBAC assessment results (source trivy-rbac)", "Needs the Trivy Operator rbac scanner.")),
    Section(
        "infra",
        "infra",
        "Infrastructure assessment",
        "simple.html.j2",
        absent=("infrastructure assessment results (source trivy-infra)", "Needs the Trivy Operator infra scanner."),
    ),
    Section("runtime", "runtime", "Runtime events (Falco)", "runtime.html.j2"),
    Section("features", "features", "Feature state", "features.html.j2", present_when=("features",)),
    Section("actions", "actions", "Containment actions", "actions.html.j2", present_when=("actions.present",)),
)
# The order of report.json's "sections" object (the section states and the inputs fill it).
MODEL_SECTION_KEYS = (
    "cis_nodes",
    "cis_control_plane",
    "kube_bench",
    "node_counts",
    "per_node",
    "cis_duplicates",
    "node_currency",
    "vulnerabilities",
    "trivy_reports",
    "workloads",
    "workload_rules",
    "audit_log",
    "audit_logging_checks",
    "falco",
    "sources",
    "collectors",
)


def sources_of(*section_keys: str) -> tuple[str, ...]:
    return tuple(source.name for source in SOURCE_TABLE if source.section in section_keys)


# ------------------------------------------------------------------------------------------------ top rows
class TopN:
    """The ``limit`` smallest items by key, kept while streaming (amortised: sort and cut at 2 x limit).

    After the first cut the key of the last kept item is a bound: anything not smaller is dropped at once.
    """

    __slots__ = ("bound", "items", "limit", "seq")

    def __init__(self, limit: int) -> None:
        self.limit = max(0, int(limit))
        self.items: list[tuple[Any, int, Any]] = []
        self.seq = 0
        self.bound: Any = None

    def add(self, key: Any, item: Any) -> None:
        if not self.limit or (self.bound is not None and key >= self.bound):
            return
        self.seq += 1
        self.items.append((key, self.seq, item))
        if len(self.items) >= 2 * self.limit + 64:
            self.items.sort(key=_entry_order)
            del self.items[self.limit:]
            self.bound = self.items[-1][0]

    def result(self) -> list[Any]:
        self.items.sort(key=_entry_order)
        del self.items[self.limit:]
        return [entry[2] for entry in self.items]


def _entry_order(entry: tuple[Any, int, Any]) -> tuple[Any, int]:
    return entry[0], entry[1]


def problem_key(f: Finding) -> tuple:
    return (
        STATUS_RANK.get(f["status"], 9),
        SEVERITY_ORDER.get(f["severity"], 9),
        -(f.get("score") or 0),
        f.get("node") or "",
        f.get("namespace") or "",
        f["id"],
    )


def is_fixable(f: Finding) -> bool:
    evidence = f.get("evidence") or {}
    return bool(evidence.get("fixed_version") or evidence.get("fixedVersion"))


def _vuln_key(f: Finding) -> tuple:
    return (
        STATUS_RANK.get(f["status"], 9),
        0 if is_fixable(f) else 1,
        SEVERITY_ORDER.get(f["severity"], 9),
        -(f.get("score") or 0),
        f.get("namespace") or "",
        f["id"],
    )


def _event_key(f: Finding) -> tuple:
    return (STATUS_RANK.get(f["status"], 9), SEVERITY_ORDER.get(f["severity"], 9), -int(f.get("count") or 1), f.get("last_seen") or "", f["id"])


ORDERS = {"problem": problem_key, "vulnerability": _vuln_key, "event": _event_key}
ROW_KEYS = dict((source.name, ORDERS[source.order]) for source in SOURCE_TABLE)  # source -> rank of its open rows


# ------------------------------------------------------------------------------------------------ section states
class SectionState:
    """What one section gathers in the pass over the findings. ``sources``: the findings it receives."""

    sources: tuple[str, ...] = ()

    def add(self, f: Finding, is_new: bool) -> bool:
        """Take one finding of the section's sources; False: the section counts it itself later (``finish``)."""
        return True

    def finish(self, count: Count) -> None:
        """The pass is over: count (``count(finding, is_new)``) what ``add`` held back."""

    def view(self, context: dict[str, Any]) -> dict[str, Any]:
        """This section's entries of report.json's ``sections`` (keys starting with "_" are for the renderers)."""
        return {}


def _also(finding: Finding) -> dict[str, Any]:
    """What another CIS source said about the same check on the same node (shown as evidence)."""
    evidence = finding.get("evidence")
    if not isinstance(evidence, dict):
        evidence = {}
    return {
        "source": finding["source"],
        "status": finding["status"],
        "severity": finding["severity"],
        "actual": evidence.get("actual"),
        "expected": evidence.get("expected"),
    }


def _cis_sort_key(check_id: str) -> list:
    return [int(part) if part.isdigit() else 0 for part in check_id.replace("CIS-", "").split(".")] + [check_id]


def matrix(checks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """CIS checks x nodes: {'nodes': [...], 'rows': [{id, title, scored, cells: {node: status}}]}."""
    rows = sorted(checks.values(), key=lambda row: _cis_sort_key(row["id"]))
    nodes = sorted(set(node for row in rows for node in row["cells"]))
    return {"nodes": nodes, "rows": [{"id": r["id"], "title": r["title"], "scored": r["scored"], "cells": r["cells"]} for r in rows]}


class CisState(SectionState):
    """The CIS sections (node checks, control plane, kube-bench): a check x node matrix per source, per-node counts,
    and one counted result per check and node. Results with a node are held until ``finish``: when kube-bench and
    the native audit both report a check on a node, the worse status counts (the native audit first on a tie) and
    the other source's result is shown beside it (``also_reported``)."""

    sources = CIS_SOURCES
    MATRIX_KEYS = {"cis-node": "cis_nodes", "cis-control-plane": "cis_control_plane", "kube-bench": "kube_bench"}

    def __init__(self) -> None:
        self.cis: dict[str, dict[str, dict[str, Any]]] = {}  # source -> check id -> {title, scored, cells{node: status}}
        self.node_counts: dict[str, dict[str, int]] = {}  # node -> status counts
        self.node_severity: dict[str, dict[str, Any]] = {}  # node -> {fail: {severity: n}, warn: {...}, roles}
        self.cis_open: dict[str, list[Finding]] = {}  # node -> problems and waived
        self.cis_open_count = 0
        self.cp_audit: list[Finding] = []  # control-plane checks about audit logging
        self.held: dict[tuple[str, str], list[tuple[Finding, bool]]] = {}  # (check id without "CIS-", node)
        self.duplicates = 0  # results of a check on a node that another CIS source also reported

    def add(self, f: Finding, is_new: bool) -> bool:
        checks = self.cis.setdefault(f["source"], {})
        row = checks.get(f["id"])
        if row is None:
            row = checks[f["id"]] = {"id": f["id"], "title": f.get("title") or "", "scored": f.get("scored"), "cells": {}}
        node = f.get("node")
        if node:
            old = row["cells"].get(node)
            row["cells"][node] = f["status"] if old is None else worse(f["status"], old)
            key = (f["id"].replace("CIS-", ""), node)
            held = self.held.get(key)
            if held is None:
                self.held[key] = [(f, is_new)]
            else:
                held.append((f, is_new))
            return False
        self._counted(f)
        return True

    def finish(self, count: Count) -> None:
        for group in self.held.values():
            group.sort(key=lambda entry: (STATUS_RANK.get(entry[0]["status"], 9), entry[0]["source"] == "kube-bench"))
            finding, is_new = group[0]
            if len(group) > 1:
                self.duplicates += len(group) - 1
                finding = dict(finding, also_reported=[_also(other) for other, dummy in group[1:]])
                is_new = any(new for dummy, new in group)
            count(finding, is_new)
            self._counted(finding)
        self.held = {}

    def _counted(self, f: Finding) -> None:
        node, status = f.get("node"), f["status"]
        if node:
            counts = self.node_counts.get(node)
            if counts is None:
                counts = self.node_counts[node] = dict((s, 0) for s in STATUSES)
            counts[status] += 1
            sev = self.node_severity.get(node)
            if sev is None:
                sev = self.node_severity[node] = {"fail": dict((s, 0) for s in SEVERITIES), "warn": dict((s, 0) for s in SEVERITIES), "roles": set()}
            if status in PROBLEM_STATUSES:
                sev[status][f["severity"]] += 1
            if f["source"] == "cis-control-plane" or (f["source"] == "kube-bench" and _scoring.area_of(f) == "control_plane"):
                sev["roles"].add("control-plane")
            if (status in PROBLEM_STATUSES or status == "waived") and self.cis_open_count < MAX_CIS_OPEN:
                self.cis_open.setdefault(node, []).append(f)
                self.cis_open_count += 1
        if f["source"] != "cis-node" and "audit" in (f.get("title") or "").lower():
            self.cp_audit.append(f)

    def per_node(self, node_roles: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """One row per node: role and open FAIL/WARN by severity (CIS sources, one result per check and node)."""
        rows: list[dict[str, Any]] = []
        for node, counts in self.node_counts.items():
            sev = self.node_severity.get(node) or {"fail": {}, "warn": {}, "roles": set()}
            role = (node_roles or {}).get(node) or ("control-plane" if "control-plane" in sev["roles"] else "worker")
            rows.append(
                {
                    "node": node,
                    "role": role,
                    "fail": dict(sev["fail"]),
                    "warn": dict(sev["warn"]),
                    "pass": counts.get("pass", 0),
                    "waived": counts.get("waived", 0),
                    "open": counts.get("fail", 0) + counts.get("warn", 0),
                }
            )
        rows.sort(key=lambda r: (*(-r["fail"].get(s, 0) for s in SEVERITIES), -r["open"], r["node"]))
        return rows

    def view(self, context: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = dict((key, matrix(self.cis.get(source, {}))) for source, key in self.MATRIX_KEYS.items())
        out.update(
            {
                "node_counts": dict(sorted(self.node_counts.items())),
                "per_node": self.per_node(),
                "cis_duplicates": self.duplicates,
                "audit_logging_checks": [compact(f) for f in self.cp_audit[:50]],
                "_cis_open": dict((node, sorted(items, key=problem_key)) for node, items in sorted(self.cis_open.items())),
            }
        )
        return out


def _image_of(f: Finding) -> str:
    evidence = f.get("evidence") or {}
    image = evidence.get("image")
    if image:
        return str(image)
    r = f.get("resource") or {}
    return "%s/%s/%s [%s]" % (f.get("namespace") or r.get("namespace") or "-", r.get("kind") or "?", r.get("name") or "?", r.get("container") or "-")


class VulnerabilityState(SectionState):
    """Vulnerabilities per namespace, per image and per CVE (open, fixable, critical/high)."""

    sources = sources_of("vulnerabilities")

    def __init__(self) -> None:
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.cves: dict[str, dict[str, Any]] = {}

    def add(self, f: Finding, is_new: bool) -> bool:
        status, severity = f["status"], f["severity"]
        open_ = status in PROBLEM_STATUSES
        fixable = is_fixable(f)
        ns = f.get("namespace") or "(cluster)"
        entry = self.namespaces.get(ns)
        if entry is None:
            entry = self.namespaces[ns] = {
                "namespace": ns,
                "open": 0,
                "fixable": 0,
                "waived": 0,
                "images": set(),
                "by_severity": dict((s, 0) for s in SEVERITIES),
            }
        image = sys.intern(_image_of(f))
        entry["images"].add(image)
        img = self.images.get(image)
        if img is None:
            img = self.images[image] = {
                "image": image,
                "namespaces": set(),
                "open": 0,
                "fixable": 0,
                "critical_high": 0,
                "fixable_critical_high": 0,
                "waived": 0,
                "by_severity": dict((s, 0) for s in SEVERITIES),
            }
        img["namespaces"].add(ns)
        cve = self.cves.get(f["id"])
        if cve is None:
            cve = self.cves[f["id"]] = {
                "id": f["id"],
                "title": f.get("title") or "",
                "severity": severity,
                "score": f.get("score"),
                "images": set(),
                "open": 0,
                "fixable": False,
                "packages": set(),
                "fixed_versions": set(),
                "references": (f.get("references") or [])[:1],
            }
        if status == "waived":
            entry["waived"] += 1
            img["waived"] += 1
        if not open_:
            return True
        entry["open"] += 1
        entry["by_severity"][severity] += 1
        img["open"] += 1
        img["by_severity"][severity] += 1
        cve["open"] += 1
        cve["images"].add(image)
        if SEVERITY_ORDER[severity] < SEVERITY_ORDER[cve["severity"]]:
            cve["severity"] = severity
        if (f.get("score") or 0) > (cve["score"] or 0):
            cve["score"] = f.get("score")
        evidence = f.get("evidence") or {}
        if len(cve["packages"]) < 4 and evidence.get("package"):
            cve["packages"].add(str(evidence["package"]))
        if severity in ("critical", "high"):
            img["critical_high"] += 1
        if fixable:
            entry["fixable"] += 1
            img["fixable"] += 1
            cve["fixable"] = True
            if len(cve["fixed_versions"]) < 4:
                cve["fixed_versions"].add(str(evidence.get("fixed_version") or evidence.get("fixedVersion")))
            if severity in ("critical", "high"):
                img["fixable_critical_high"] += 1
        return True

    def image_info(self, scanned_images: set[str] | None) -> dict[str, Any]:
        """What the vulnerabilities score needs: images known (with findings or scanned), how many have an open
        critical/high, and whether the scanned list was complete."""
        known = set(self.images)
        if scanned_images:
            known |= scanned_images
        return {"scanned": len(known), "with_critical_high": sum(1 for e in self.images.values() if e["critical_high"]), "complete": bool(scanned_images)}

    def view(self, context: dict[str, Any]) -> dict[str, Any]:
        rows = context["rows"]
        namespaces = sorted(self.namespaces.values(), key=lambda e: (-e["by_severity"]["critical"], -e["by_severity"]["high"], -e["open"], e["namespace"]))
        images = sorted(self.images.values(), key=lambda e: (-e["fixable_critical_high"], -e["critical_high"], -e["fixable"], -e["open"], e["image"]))
        cves = sorted(
            (c for c in self.cves.values() if c["open"]),
            key=lambda c: (0 if c["fixable"] else 1, SEVERITY_ORDER.get(c["severity"], 9), -len(c["images"]), -(c["score"] or 0), c["id"]),
        )
        limit = min(rows, 100)
        trivy = context.get("trivy")
        return {
            "vulnerabilities": {
                "namespaces": [dict(e, images=len(e["images"])) for e in namespaces[:rows]],
                "namespaces_total": len(namespaces),
                "images": [dict(e, namespaces=sorted(e["namespaces"])[:5]) for e in images[:limit]],
                "images_total": len(images),
                "cves": [dict(c, images=len(c["images"]), packages=sorted(c["packages"]), fixed_versions=sorted(c["fixed_versions"])) for c in cves[:limit]],
                "cves_total": len(cves),
                "open": sum(e["open"] for e in self.namespaces.values()),
                "fixable": sum(e["fixable"] for e in self.namespaces.values()),
                "scanned_images": len((trivy["images"] if trivy else None) or ()) or None,
            }
        }


class WorkloadState(SectionState):
    """The rule x workload matrix and per-rule counts of the workload rules."""

    sources = sources_of("workloads")

    def __init__(self) -> None:
        self.cells: dict[tuple[str, str, str], dict[str, str]] = {}  # (kind, namespace, name) -> {rule: status}
        self.rules: dict[str, dict[str, Any]] = {}  # rule -> {title, severity, counts, modes}

    def add(self, f: Finding, is_new: bool) -> bool:
        status, severity = f["status"], f["severity"]
        r = f.get("resource") or {}
        key = (r.get("kind") or "", f.get("namespace") or r.get("namespace") or "", r.get("name") or "")
        cells = self.cells.get(key)
        if cells is None:
            cells = self.cells[key] = {}
        rule = f["id"]
        old = cells.get(rule)
        cells[rule] = status if old is None else worse(status, old)
        info = self.rules.get(rule)
        if info is None:
            info = self.rules[rule] = {
                "id": rule,
                "title": f.get("title") or "",
                "severity": severity,
                "counts": dict((s, 0) for s in STATUSES),
                "modes": set(),
            }
        info["counts"][status] += 1
        mode = (f.get("evidence") or {}).get("mode")
        if isinstance(mode, str) and len(info["modes"]) < 4:
            info["modes"].add(mode)
        return True

    def view(self, context: dict[str, Any]) -> dict[str, Any]:
        rows, rules_meta = context["rows"], context.get("workload_rules")
        rule_ids = sorted(set(self.rules) | set(r["id"] for r in (rules_meta or {}).get("rules", [])))
        workloads: list[dict[str, Any]] = []
        for (kind, namespace, name), cells in self.cells.items():
            fails = sum(1 for s in cells.values() if s in PROBLEM_STATUSES)
            workloads.append({"kind": kind, "namespace": namespace, "name": name, "cells": cells, "open": fails})
        workloads.sort(key=lambda w: (-w["open"], w["namespace"], w["kind"], w["name"]))
        passes = any(info["counts"]["pass"] for info in self.rules.values())
        rules = []
        meta_rules = dict((r["id"], r) for r in (rules_meta or {}).get("rules", []))
        for rule_id in rule_ids:
            info = self.rules.get(rule_id, {})
            meta = meta_rules.get(rule_id, {})
            modes = sorted(info.get("modes") or [])
            rules.append(
                {
                    "id": rule_id,
                    "title": meta.get("title") or info.get("title") or "",
                    "severity": meta.get("severity") or info.get("severity") or "",
                    "mode": meta.get("mode") or ("/".join(modes) if modes else None),
                    "enabled": meta.get("enabled", True),
                    "note": meta.get("note"),
                    "counts": info.get("counts") or dict((s, 0) for s in STATUSES),
                }
            )
        return {
            "workloads": {"rules": rules, "workloads": workloads[:rows], "workloads_total": len(workloads), "with_passes": passes},
            "workload_rules": rules_meta,
        }


class EventState(SectionState):
    """Runtime (Falco) and audit-log events: how many events the findings stand for."""

    sources = sources_of("runtime", "audit")

    def __init__(self) -> None:
        self.events = dict((source, 0) for source in self.sources)

    def add(self, f: Finding, is_new: bool) -> bool:
        self.events[f["source"]] += int(f.get("count") or 1) if isinstance(f.get("count"), int) else 1
        return True

    def view(self, context: dict[str, Any]) -> dict[str, Any]:
        return {"audit_log": context.get("audit_summary"), "falco": {"events": self.events["falco"], "groups_file": context.get("falco_groups")}}


# Node currency (docs/node-currency.md): what each open KS-NODE finding says in the node's currency column.
CURRENCY_WORDS = {
    "KS-NODE-002": "reboot",
    "KS-NODE-003": "no auto updates",
    "KS-NODE-004": "kubelet skew",
    "KS-NODE-005": "old runc",
    "KS-NODE-006": "old containerd",
    "KS-NODE-007": "not assessed",
    "KS-NODE-008": "stale lists",
}


def currency_column(entry: dict[str, Any] | None) -> str | None:
    """'current' or '12 security updates (3 high), reboot, old runc' for one node; None without currency results."""
    if entry is None:
        return None
    updates = sum(entry["updates"].values())
    parts = []
    if updates:
        worst = [("%d %s" % (n, s)) for s, n in entry["updates"].items() if n and s in ("critical", "high")]
        parts.append("%d security update%s%s" % (updates, "" if updates == 1 else "s", " (%s)" % ", ".join(worst) if worst else ""))
    parts.extend(entry["issues"])
    return ", ".join(parts) if parts else "current"


class CurrencyState(SectionState):
    """Node currency: per node, the open KS-NODE findings summed up in one column (the per-node CIS table shows
    it too, through ``node_currency``)."""

    sources = sources_of("node_currency")

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}  # node -> {updates: {severity: n}, issues: [...], open}

    def add(self, f: Finding, is_new: bool) -> bool:
        node = f.get("node")
        if not node:
            return True
        entry = self.nodes.get(node)
        if entry is None:
            entry = self.nodes[node] = {"updates": dict((s, 0) for s in SEVERITIES), "issues": [], "open": 0}
        status = f["status"]
        if f["id"] == "KS-NODE-007" and status == "info" and "not assessed" not in entry["issues"]:
            entry["issues"].append("not assessed")  # an unsupported distribution is not "current"
        if status not in PROBLEM_STATUSES:
            return True
        entry["open"] += 1
        if f["id"] == "KS-NODE-001":
            entry["updates"][f["severity"]] += 1
        else:
            word = CURRENCY_WORDS.get(f["id"], f["id"])
            if word not in entry["issues"]:
                entry["issues"].append(word)
        return True

    def view(self, context: dict[str, Any]) -> dict[str, Any]:
        return {"node_currency": dict((node, currency_column(entry)) for node, entry in sorted(self.nodes.items()))}


SECTION_STATES = (CisState, VulnerabilityState, WorkloadState, EventState, CurrencyState)
