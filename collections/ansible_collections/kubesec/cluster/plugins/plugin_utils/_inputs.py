# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything the report reads besides findings, read defensively (absent or broken -> the section says so).

* ``<run_dir>/meta/*.json`` written by the collect role: workload_rules.json (effective workload rules),
  sources.json (what was collected), trivy_reports.json (per-report summary counts), falco_groups.json,
  audit_log_summary.json (the audit-log summary of the period). Shapes are accepted loosely (dicts keyed by
  name or lists of rows) because they come from other tools and versions; anything unexpected is ignored.
* ``<cluster_dir>/actions/*.json``: containment records of respond.yml (schema kubesec.action/v1).
* ``<cluster_dir>/rendered/``: files of render_only runs (names only).
* the ``features`` option: booleans and channel names only; anything else is dropped before it reaches a file.

Everything here is untrusted text; the templates escape it.
"""

from __future__ import annotations

import heapq
import json
import os
import re
from typing import Any, Mapping, Sequence

from ansible_collections.kubesec.cluster.plugins.module_utils._sources import SOURCE_TABLE, SOURCES_BY_NAME, collector_sources

META_FILES = ("workload_rules", "sources", "trivy_reports", "falco_groups", "audit_log_summary")
MAX_META_BYTES = 512 * 1024 * 1024
TOP = 15
MAX_ACTIONS = 200
MAX_RENDERED = 200
FAILED_WORDS = ("failed", "error", "skipped", "disabled", "absent", "missing", "unavailable", "unreachable", "off", "rendered", "partial")
_SECRETISH = re.compile(r"pass(word)?|token|secret|key|credential|webhook|url|dsn|auth", re.IGNORECASE)
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def read_json_file(path: str) -> dict[str, Any]:
    """{'status': ok|absent|invalid, 'error': str, 'data': obj, 'bytes': n} - never raises."""
    if not os.path.exists(path):
        return {"status": "absent", "data": None}
    try:
        size = os.path.getsize(path)
        if size > MAX_META_BYTES:
            return {"status": "invalid", "error": "larger than %d MiB" % (MAX_META_BYTES >> 20), "data": None}
        with open(path, "rb") as handle:
            return {"status": "ok", "data": json.loads(handle.read().decode("utf-8")), "bytes": size}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return {"status": "invalid", "error": str(exc)[:300], "data": None}


def read_meta(run_dir: str) -> dict[str, Any]:
    """The known meta files of a run, plus the names of any other JSON file in meta/."""
    meta_dir = os.path.join(run_dir, "meta")
    out: dict[str, Any] = {}
    for name in META_FILES:
        out[name] = read_json_file(os.path.join(meta_dir, name + ".json"))
        out[name]["file"] = "meta/%s.json" % name
    others = []
    if os.path.isdir(meta_dir):
        for entry in sorted(os.listdir(meta_dir)):
            if entry.endswith(".json") and entry[:-5] not in META_FILES:
                others.append("meta/" + entry)
    out["_others"] = others
    return out


def meta_status(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Compact per-file status for report.json (no data)."""
    rows = []
    for name in META_FILES:
        entry = meta.get(name) or {"status": "absent"}
        row = {"file": "meta/%s.json" % name, "status": entry.get("status", "ok")}
        if entry.get("error"):
            row["error"] = entry["error"]
        rows.append(row)
    for other in meta.get("_others", []):
        rows.append({"file": other, "status": "not read"})
    return rows


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _text(value: Any, limit: int = 300) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


# ------------------------------------------------------------------------------------------------ sources.json
# sources.json names collectors (docs/collect.md); a collector that ran covers these finding sources.
COLLECTOR_SOURCES = collector_sources()  # declared per source in _sources.SOURCE_TABLE
# The areas a collector grades when it ran and succeeded without saying which it assessed. trivy_cli claims none:
# its scans are configured per input (a config-only scan must not grade vulnerabilities), so without an
# ``assessed`` list only its findings speak for it. A failed collector makes every area it may grade not assessed.
COLLECTOR_AREAS = {
    "trivy_operator": ("control_plane", "workloads", "vulnerabilities", "rbac"),
    "trivy_cli": (),
    "workloads": ("workloads",),
    "workload": ("workloads",),
    "falco": ("runtime",),
    "kube_bench": ("nodes", "control_plane", "workloads", "rbac"),
    "audit_log": ("audit_log",),
    "cis": ("nodes",),
    "cis_control_plane": ("control_plane",),
    "policies": ("workloads", "rbac"),
}
COLLECTOR_MAY_GRADE = dict(COLLECTOR_AREAS, trivy_cli=("control_plane", "workloads", "vulnerabilities", "rbac"))
AREA_KEYS = ("nodes", "control_plane", "workloads", "vulnerabilities", "rbac", "runtime", "audit_log", "node_currency")
# Words accepted in a source's ``assessed`` (or ``scanners``) list besides the area keys: Trivy scanner names.
# "secret" grades no area alone (exposed secrets do not say whether the images were scanned for vulnerabilities).
ASSESSED_ALIASES: dict[str, str | None] = {
    "vuln": "vulnerabilities",
    "vulns": "vulnerabilities",
    "vulnerability": "vulnerabilities",
    "misconfig": "workloads",
    "misconfiguration": "workloads",
    "misconfigurations": "workloads",
    "config": "workloads",
    "configuration": "workloads",
    "workload": "workloads",
    "infra": "control_plane",
    "control-plane": "control_plane",
    "node": "nodes",
    "audit-log": "audit_log",
    "secret": None,
    "secrets": None,
    "exposed-secret": None,
    "license": None,
    "sbom": None,
    # finding sources, as trivy_scan's ``assessed`` return names them (collect copies it into sources.json)
    **dict((source.name, source.area if source.grades_area else None) for source in SOURCE_TABLE if source.area),
}
FAILED_STATES = ("failed", "error", "partial", "unreachable")


def _assessed_areas(value: Any, where: str) -> tuple[set[str] | None, list[str]]:
    """An ``assessed``/``scanners`` list -> (set of area keys, unknown words); None when absent."""
    if value is None:
        return None, []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list):
        return set(), ["%s: not a list" % where]
    areas: set[str] = set()
    unknown: list[str] = []
    for word in value:
        key = str(word).strip().lower()
        if key in AREA_KEYS:
            areas.add(key)
        elif key in ASSESSED_ALIASES:
            alias = ASSESSED_ALIASES[key]
            if alias:
                areas.add(alias)
        else:
            unknown.append("%s: %s" % (where, _text(word, 40)))
    return areas, unknown


def collector_states(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What each collector of meta/sources.json did for the grades: [{collector, state, why, areas, may_grade}].

    state: ok (ran and succeeded; ``areas`` it graded), failed (``why``; it makes ``may_grade`` not assessed) or off
    (disabled, skipped, rendered: graded nothing). ``areas`` comes from the entry's ``assessed`` list (area keys or
    Trivy scanner names, also per input in ``per_input``) when present, else from COLLECTOR_AREAS.
    """
    data = (meta.get("sources") or {}).get("data")
    if isinstance(data, dict):
        entries = data["sources"] if isinstance(data.get("sources"), dict) else ({} if "schema" in data else data)
    else:
        entries = dict((row["source"], {"status": row["status"]}) for row in normalize_sources(data))
    out = []
    for name, entry in sorted(entries.items()):
        entry = entry if isinstance(entry, dict) else {"status": entry}
        key = str(name).replace("-", "_")
        row = normalize_sources([dict(entry, source=name)])
        status = row[0]["status"] if row else "ok"
        lowered = status.lower()
        default = COLLECTOR_AREAS.get(key)
        if default is None:  # a finding source named directly ({source: status})
            source = SOURCES_BY_NAME.get(str(name))
            default = (source.area,) if source and source.area else ()
        may_grade = COLLECTOR_MAY_GRADE.get(key, default)
        state: dict[str, Any] = {"collector": str(name), "state": "ok", "why": None, "areas": [], "may_grade": list(may_grade), "unknown_assessed": []}
        if any(word in lowered for word in FAILED_STATES):
            state["state"] = "failed"
            detail = _text(entry.get("error"), 200) or _node_errors(entry) or status.partition(":")[2].strip()
            state["why"] = "%s %s%s" % (name, lowered.partition(":")[0].strip(), (": " + detail) if detail else "")
        elif not row or not row[0]["collected"]:
            state["state"] = "off"
            state["why"] = "%s %s" % (name, lowered)
        else:
            areas, unknown = _assessed_areas(entry.get("assessed", entry.get("scanners")), "%s.assessed" % name)
            for index, item in enumerate(entry.get("per_input") or []):
                if isinstance(item, dict) and (item.get("assessed") is not None or item.get("scanners") is not None):
                    # an explicit "assessed": null falls back to "scanners" (the condition above let it in for them)
                    said = item.get("assessed") if item.get("assessed") is not None else item.get("scanners")
                    more, bad = _assessed_areas(said, "%s.per_input[%d].assessed" % (name, index))
                    areas = (areas or set()) | (more or set())
                    unknown += bad
            state["areas"] = sorted(areas) if areas is not None else list(default)
            state["said"] = areas is not None
            state["unknown_assessed"] = unknown
        out.append(state)
    if not any(c["collector"].replace("-", "_") == "audit_log" for c in out):
        audit = _audit_log_state(meta.get("audit_log_summary") or {})
        if audit:
            out.append(audit)
    return out


def _audit_log_state(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The audit_logging role's meta/audit_log_summary.json (not in sources.json): nodes_ok of nodes_total."""
    state = {"collector": "audit_log", "state": "ok", "why": None, "areas": ["audit_log"], "may_grade": ["audit_log"], "unknown_assessed": [], "said": True}
    if entry.get("status") == "invalid":
        return dict(state, state="failed", areas=[], why="audit_log failed: meta/audit_log_summary.json is unreadable (%s)" % entry.get("error"))
    data = entry.get("data")
    if not isinstance(data, dict):
        return None
    total, good = _int(data.get("nodes_total")), _int(data.get("nodes_ok"))
    if total is not None and good is not None and good < total:
        nodes: dict[str, Any] = data["nodes"] if isinstance(data.get("nodes"), dict) else {}
        bad = ["%s: %s" % (_text(name, 60), _text(n.get("error"), 100)) for name, n in sorted(nodes.items()) if isinstance(n, dict) and n.get("status") != "ok"]
        return dict(
            state,
            state="failed",
            areas=[],
            why="audit_log partial: %d of %d control-plane nodes read%s" % (good, total, (" (" + "; ".join(bad[:3]) + ")") if bad else ""),
        )
    return state


def _node_errors(entry: Mapping[str, Any]) -> str | None:
    nodes = entry.get("nodes")
    if not isinstance(nodes, list):
        return None
    bad = ["%s: %s" % (_text(n.get("node"), 60), _text(n.get("error"), 80)) for n in nodes if isinstance(n, dict) and n.get("error")]
    return "; ".join(bad[:3]) or None


def collected_sources(meta: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Finding sources whose collector ran (also with zero findings), from sources.json; {} when it is absent."""
    data = (meta.get("sources") or {}).get("data")
    out = {}
    for row in normalize_sources(data):
        if row["collected"]:
            for source in COLLECTOR_SOURCES.get(row["source"].replace("-", "_"), (row["source"],)):
                out[source] = row
    return out


def normalize_sources(data: Any) -> list[dict[str, Any]]:
    items: Any = []
    if isinstance(data, dict):
        inner = data.get("sources") if isinstance(data.get("sources"), (dict, list)) else data
        if isinstance(inner, dict):
            items = [dict(value, source=key) if isinstance(value, dict) else {"source": key, "status": value} for key, value in inner.items()]
        else:
            items = inner
    elif isinstance(data, list):
        items = data
    rows = []
    for item in items:
        if not isinstance(item, dict):
            continue
        source = _text(item.get("source") or item.get("name"), 80)
        if not source:
            continue
        status = item.get("status", item.get("state", item.get("collected", "ok")))
        status_text = ("ok" if status else "off") if isinstance(status, bool) else (_text(status, 80) or "ok")
        detail = []
        for key in sorted(item):
            if key in ("source", "name", "status", "state", "collected"):
                continue
            value = item[key]
            if isinstance(value, (str, int, float, bool)) and not _SECRETISH.search(key):
                detail.append("%s=%s" % (key, _text(value, 120)))
        rows.append(
            {
                "source": source,
                "status": status_text,
                "collected": not any(word in status_text.lower() for word in FAILED_WORDS),
                "detail": ", ".join(detail[:8]),
            }
        )
    return rows


# ------------------------------------------------------------------------------------------------ trivy_reports.json
def normalize_trivy_reports(data: Any) -> dict[str, Any] | None:
    """Per-kind totals and the scanned images (VulnerabilityReports) from the per-report summary rows."""
    rows = data.get("reports") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        return None
    by_kind: dict[str, dict[str, int]] = {}
    images: set[str] = set()
    for row in rows:
        if not isinstance(row, dict):
            continue
        kind = _text(row.get("kind"), 80) or "unknown"
        summary: dict[str, Any] = row["summary"] if isinstance(row.get("summary"), dict) else {}
        totals = by_kind.setdefault(kind, {"reports": 0, "critical": 0, "high": 0, "medium": 0, "low": 0, "unknown": 0})
        totals["reports"] += 1
        for key, severity in (
            ("criticalCount", "critical"),
            ("highCount", "high"),
            ("mediumCount", "medium"),
            ("lowCount", "low"),
            ("unknownCount", "unknown"),
        ):
            totals[severity] += _int(summary.get(key)) or 0
        if "Vulnerability" in kind:
            image = _text(row.get("artifact"), 500)
            resource: dict[str, Any] = row["resource"] if isinstance(row.get("resource"), dict) else {}
            images.add(image or "%s/%s/%s/%s" % (resource.get("namespace"), resource.get("kind"), resource.get("name"), row.get("container")))
    return {"by_kind": by_kind, "images": images, "reports": sum(v["reports"] for v in by_kind.values())}


# ------------------------------------------------------------------------------------------------ workload_rules.json
def _compact(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def normalize_workload_rules(data: Any) -> dict[str, Any] | None:
    """{'rules': [{id, name, title, severity, enabled, mode, params: [(k, v)], exclude_namespaces, exclude_images}],
    'exclude_namespaces': [...]} from the effective rules (dict keyed by rule id or a list)."""
    if not isinstance(data, dict) and not isinstance(data, list):
        return None
    global_ns = []
    rules = data
    if isinstance(data, dict):
        for key in ("exclude_namespaces", "excluded_namespaces", "global_exclude_namespaces"):
            if isinstance(data.get(key), list):
                global_ns = [str(v) for v in data[key]][:200]
                break
        if isinstance(data.get("rules"), (dict, list)):
            rules = data["rules"]
    items: list[tuple[Any, Any]] = list(rules.items()) if isinstance(rules, dict) else [(None, r) for r in rules]
    out: list[dict[str, Any]] = []
    for key, rule in items:
        if not isinstance(rule, dict):
            continue
        rule_id = _text(rule.get("id") or key, 40)
        if not rule_id or rule_id in ("exclude_namespaces", "excluded_namespaces"):
            continue
        params: dict[str, Any] = rule["params"] if isinstance(rule.get("params"), dict) else {}
        out.append(
            {
                "id": rule_id,
                "name": _text(rule.get("name"), 80) or "",
                "title": _text(rule.get("title"), 200) or "",
                "severity": _text(rule.get("severity"), 20) or "",
                "enabled": rule.get("enabled", True) is not False,
                "evaluated": rule.get("evaluated", True) is not False,
                "note": _text(rule.get("note"), 200),
                "mode": _text(rule.get("mode"), 20) or "audit",
                "params": [[str(k), _compact(v)] for k, v in sorted(params.items()) if not k.startswith("_")],
                "exclude_namespaces": [str(v) for v in (rule.get("exclude_namespaces") or []) if isinstance(v, str) and v not in global_ns][:50],
                "exclude_images": [str(v) for v in (rule.get("exclude_images") or []) if isinstance(v, str)][:50],
            }
        )
    out.sort(key=lambda r: r["id"])
    return {"rules": out, "exclude_namespaces": global_ns}


# ------------------------------------------------------------------------------------------------ falco_groups.json
def normalize_falco_groups(data: Any) -> dict[str, int] | None:
    groups = data.get("groups") if isinstance(data, dict) else data
    if not isinstance(groups, list):
        return None
    events, count = 0, 0
    for group in groups:
        if isinstance(group, dict):
            count += 1
            events += _int(group.get("count")) or 1
    return {"groups": count, "events": events}


# ------------------------------------------------------------------------------------------------ audit_log_summary.json
def _pairs(value: Any, names: Sequence[str]) -> list[tuple[str, int]]:
    """{'alice': 3} or [{'user': 'alice', 'count': 3}] -> [(key, count)] sorted by count desc."""
    pairs = []
    if isinstance(value, dict):
        for key, count in value.items():
            number = _int(count) if not isinstance(count, dict) else _int(count.get("count"))
            if number is not None:
                pairs.append((str(key), number))
    elif isinstance(value, list):
        for row in value:
            if not isinstance(row, dict):
                continue
            key = next((row[n] for n in names if row.get(n) not in (None, "")), None)
            number = _int(row.get("count"))
            if key is not None and number is not None:
                pairs.append((str(key), number))
    pairs.sort(key=lambda kv: (-kv[1], kv[0]))
    return pairs


def _counted(value: Any, top_names: Sequence[str] = ("top_users", "top_non_system_users", "targets", "changes", "top_allowed_paths")) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"count": int(value), "top": []}
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {"count": _int(value.get("count")) or 0, "top": []}
    for key in ("non_system", "allowed", "allowed_non_public", "open"):
        if _int(value.get(key)) is not None:
            out[key] = _int(value[key])
    for name in top_names:
        rows = value.get(name)
        if isinstance(rows, list) and rows:
            for row in rows[:TOP]:
                if isinstance(row, dict):
                    label = " ".join(
                        _text(row.get(k), 120) or "" for k in ("user", "verb", "subresource", "resource", "namespace", "pod", "name", "path") if row.get(k)
                    ).strip()
                    out["top"].append([label or "?", _int(row.get("count")) or 0])
            out["top_kind"] = name
            break
    return out


def _period(data: Mapping[str, Any]) -> dict[str, Any] | None:
    period = data.get("period") or data.get("window")
    if isinstance(period, dict):
        start = _text(period.get("from") or period.get("start") or period.get("since"), 60)
        end = _text(period.get("to") or period.get("end") or period.get("until"), 60)
        return {"from": start, "to": end, "text": "%s to %s" % (start or "?", end or "?")}
    if period is not None:
        return {"from": None, "to": None, "text": _text(period, 120)}
    return None


def normalize_audit_summary(data: Any) -> dict[str, Any] | None:
    """The audit-log summary of the period: totals, top users/verbs/resources, notable categories.

    Accepts the audit_log_query summary shape (by_user / by_verb / by_resource dicts, denied, secret_reads, exec,
    rbac_changes, anonymous) with a ``period`` {from, to}, and a ``rows`` list of {user, verb, resource, count}
    (aggregated here). Only the top entries are kept for the report; the file keeps every row.
    """
    if not isinstance(data, dict):
        return None
    dims = {}
    rows = data.get("rows") if isinstance(data.get("rows"), list) else None
    row_count = 0
    if rows is not None:
        users: dict[str, int] = {}
        verbs: dict[str, int] = {}
        resources: dict[str, int] = {}
        combos: list[Any] = []
        for row in rows:
            if not isinstance(row, dict):
                continue
            row_count += 1
            count = row.get("count")
            count = count if isinstance(count, int) and not isinstance(count, bool) else (_int(count) or 1)
            user, verb, resource = row.get("user"), row.get("verb"), row.get("resource")
            if user is not None:
                users[user] = users.get(user, 0) + count
            if verb is not None:
                verbs[verb] = verbs.get(verb, 0) + count
            if resource is not None:
                resources[resource] = resources.get(resource, 0) + count
            combos.append((count, user, verb, resource))
        for dim, counts in (("user", users), ("verb", verbs), ("resource", resources)):
            dims[dim] = sorted(((str(k), v) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))
        top = heapq.nsmallest(TOP, combos, key=lambda c: (-c[0], str(c[1]), str(c[2]), str(c[3])))
        top_rows = [[str(c[1]), str(c[2]), str(c[3]), c[0]] for c in top]
    else:
        top_rows = []
    for dim, keys in (("user", ("by_user", "users")), ("verb", ("by_verb", "verbs")), ("resource", ("by_resource", "resources"))):
        if dim in dims:
            continue
        value = next((data[k] for k in keys if k in data), None)
        dims[dim] = _pairs(value, (dim, "name", "key"))
    total = _int(data.get("total"))
    if total is None:
        total = sum(count for dummy, count in dims["user"]) if dims["user"] else None
    out = {
        "period": _period(data),
        "counted": _text(data.get("counted"), 40) or "requests",
        "total": total,
        "rows": row_count,
        "top_rows": top_rows,
        "dimensions": dict((dim, {"top": [[k, c] for k, c in pairs[:TOP]], "distinct": len(pairs)}) for dim, pairs in dims.items()),
    }
    for key in ("denied", "secret_reads", "secret_access_denied", "exec", "rbac_changes", "anonymous"):
        out[key] = _counted(data.get(key))
    return out


# ------------------------------------------------------------------------------------------------ actions/
ACTION_KEYS = ("action", "target", "reason", "requested_by", "started", "finished", "mode", "result", "plan_id", "offline", "error")


def read_actions(cluster_dir: str, since: str | None = None, limit: int = MAX_ACTIONS) -> dict[str, Any]:
    """Containment records of the cluster, newest first: {'records', 'unreadable', 'total', 'since_previous'}."""
    actions_dir = os.path.join(cluster_dir, "actions")
    out: dict[str, Any] = {"records": [], "unreadable": [], "total": 0, "since_previous": 0, "present": os.path.isdir(actions_dir)}
    if not out["present"]:
        return out
    names = sorted((n for n in os.listdir(actions_dir) if n.endswith(".json") and not n.startswith(".")), reverse=True)
    out["total"] = len(names)
    for name in names[:limit]:
        entry = read_json_file(os.path.join(actions_dir, name))
        data = entry.get("data")
        if entry["status"] != "ok" or not isinstance(data, dict):
            out["unreadable"].append({"file": name, "error": entry.get("error") or "not an object"})
            continue
        record: dict[str, Any] = {"file": name, "schema": _text(data.get("schema"), 40)}
        for key in ACTION_KEYS:
            value = data.get(key)
            if key == "target" and isinstance(value, dict):
                value = "/".join(str(value[k]) for k in ("kind", "namespace", "name") if value.get(k))
            record[key] = _text(value, 500) if not isinstance(value, bool) else value
        record["changes"] = len(data["changes"]) if isinstance(data.get("changes"), list) else None
        record["since_previous"] = bool(since and record.get("started") and str(record["started"]) >= since)
        out["since_previous"] += 1 if record["since_previous"] else 0
        out["records"].append(record)
    return out


def list_rendered(cluster_dir: str, limit: int = MAX_RENDERED) -> list[str] | None:
    base = os.path.join(cluster_dir, "rendered")
    found = []
    if not os.path.isdir(base):
        return None
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                found.append(os.path.relpath(os.path.join(root, name), base))
                if len(found) >= limit:
                    return found
    return found


# Sub-folders of reports/<cluster>/rendered/ and the feature they hold.
RENDERED_FEATURES = {
    "falco": "falco",
    "runtime_security": "falco",
    "trivy-operator": "trivy_operator",
    "trivy_operator": "trivy_operator",
    "audit-logging": "audit_logging",
    "audit_logging": "audit_logging",
    "enforcement": "workload_enforcement",
}
MAX_RENDERED_META = 1 << 20


def rendered_applied(cluster_dir: str) -> dict[str, bool]:
    """{feature: applied} from the metadata the feature roles write beside their rendered files: a top-level
    ``applied`` boolean in any JSON or YAML file (<= 1 MiB) of reports/<cluster>/rendered/<feature>/."""
    base = os.path.join(cluster_dir, "rendered")
    out: dict[str, bool] = {}
    if not os.path.isdir(base):
        return out
    for sub in sorted(os.listdir(base)):
        feature = RENDERED_FEATURES.get(sub)
        folder = os.path.join(base, sub)
        if not feature or not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if not name.endswith((".json", ".yaml", ".yml")) or not os.path.isfile(path) or os.path.getsize(path) > MAX_RENDERED_META:
                continue
            value = _top_level_applied(path)
            if isinstance(value, bool):
                out[feature] = out.get(feature, True) and value
    return out


def _top_level_applied(path: str) -> Any:
    """The top-level ``applied`` of one file, read without building anything else of a YAML document."""
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return data.get("applied") if isinstance(data, dict) else None
    match = re.search(r"^applied:\s*(true|false|yes|no)\s*(#.*)?$", text, re.MULTILINE | re.IGNORECASE)
    return match.group(1).lower() in ("true", "yes") if match else None


# ------------------------------------------------------------------------------------------------ features
KNOWN_CHANNELS = (
    "telegram",
    "email",
    "slack",
    "teams",
    "mattermost",
    "rocketchat",
    "discord",
    "webhook",
    "pagerduty",
    "opsgenie",
    "alertmanager",
    "loki",
    "elasticsearch",
    "syslog",
    "smtp",
    "googlechat",
    "webui",
    "ui",
    "falcosidekick",
)


# Settings that say where and how a feature runs, each kept only in a shape that cannot carry a secret: Kubernetes
# names (or globs of them), a Go duration, a lower-case keyword.
_NAME_OR_GLOB = re.compile(r"^[a-z0-9*?]([-a-z0-9*?]{0,61}[a-z0-9*?])?$")
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d))+$")
_KEYWORD = re.compile(r"^[a-z][a-z_]{0,31}$")
SAFE_SETTINGS: dict[str, Any] = {
    "namespaces": "names",
    "exclude_namespaces": "names",
    "report_ttl": _DURATION,
    "driver": _KEYWORD,
    "minimum_priority": _KEYWORD,
    "policy": _KEYWORD,
}


def _safe_setting(key: str, item: Any) -> Any:
    """The value of a SAFE_SETTINGS key if it has the allowed shape, else None."""
    rule = SAFE_SETTINGS[key]
    if rule == "names":
        if item == "all":
            return "all"
        if isinstance(item, list) and item and all(isinstance(n, str) and _NAME_OR_GLOB.match(n) for n in item):
            return [str(n) for n in item[:50]]
        return None
    return item if isinstance(item, str) and rule.match(item) else None


def sanitize_features(features: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Keep booleans, one level of boolean sub-flags, known alert channel names and the few SAFE_SETTINGS that say
    where and how a feature runs (namespaces, report TTL, driver, ...), each only in a shape that cannot hold a
    secret; drop everything else.

    Returns (clean, dropped key paths). No string that could be a password, token or webhook URL ever reaches
    report.json, whatever the caller passes.
    """
    clean: dict[str, dict[str, Any]] = {}
    dropped: list[str] = []
    if not isinstance(features, dict):
        return clean, (["features"] if features else [])
    for name, value in features.items():
        name = str(name)
        if not _IDENT.match(name):
            dropped.append("(invalid feature name)")
            continue
        if isinstance(value, bool):
            clean[name] = {"enabled": value}
            continue
        if not isinstance(value, dict):
            dropped.append(name)
            continue
        entry: dict[str, Any] = {}
        for key, item in value.items():
            key = str(key)
            path = "%s.%s" % (name, key if _IDENT.match(key) else "(invalid key)")
            if not _IDENT.match(key):
                dropped.append(path)
            elif isinstance(item, bool):
                entry[key] = item
            elif key in SAFE_SETTINGS and item in (None, [], ""):
                continue  # not set: the role's default
            elif key in SAFE_SETTINGS:
                value = _safe_setting(key, item)
                if value is None:
                    dropped.append(path)
                else:
                    entry[key] = value
            elif key == "channels" and isinstance(item, list):
                known = sorted(set(str(c).lower() for c in item if isinstance(c, str) and c.lower() in KNOWN_CHANNELS))
                entry[key] = known
                if len(known) != len(set(item)):
                    dropped.append(path + " (unknown channel names)")
            elif isinstance(item, dict) and all(isinstance(v, bool) for v in item.values()) and all(_IDENT.match(str(k)) for k in item):
                entry[key] = dict((str(k), v) for k, v in sorted(item.items()))
            else:
                dropped.append(path)
        clean[name] = entry
    return clean, dropped
