# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Posture drift: decide from a run's report.json whether the team must hear about it, and build the message.

Controller side, plain Python. Input is the report.json the report role wrote (docs/report.md) and, for the
"is this new since last night" question of gates, expired waivers and failed sources, the head of the previous
run's report.json next to it. Output is one message per cluster per run, in the shape of each channel:
Telegram text (<= 4096 characters), an e-mail (subject, text and HTML parts) and a JSON webhook payload.

What goes into a message: cluster, run ids, counts, finding id / title / severity / resource, gate names and
counts, waiver ids and dates, source names and statuses. Never evidence, never a finding's message or details,
never anything from the inventory except the report URL prefix.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITIES, SEVERITY_ORDER
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats

PAYLOAD_SCHEMA = "kubesec.drift/v1"
TELEGRAM_LIMIT = 4096  # Bot API sendMessage: 1-4096 characters after entity parsing
WEBHOOK_TEXT_LIMIT = 4000  # the payload's "text" (Slack/Mattermost show it); items are separate fields
SUBJECT_LIMIT = 200
EMAIL_TEXT_LIMIT = 100_000
TITLE_LIMIT = 120
FIELD_LIMIT = 80
MAX_TOP = 50
# Source statuses that mean "we tried and could not collect" (not "switched off" or "only rendered").
FAILED_SOURCE = re.compile(r"fail|error|unreachable|unavailable|timed? ?out|missing|invalid|denied|refused", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class DriftInputError(KubesecError, ValueError):
    """report.json (or a setting) cannot be understood; the message names the file or setting."""


@dataclass
class Settings:
    min_severity: str = "high"
    new_only: bool = True
    repeat: bool = False
    top: int = 10
    report_url_prefix: str = ""

    def __post_init__(self) -> None:
        if self.min_severity not in SEVERITIES:
            raise DriftInputError("min_severity must be one of %s, got %r" % (", ".join(SEVERITIES), self.min_severity))
        if not isinstance(self.top, int) or isinstance(self.top, bool) or not 0 <= self.top <= MAX_TOP:
            raise DriftInputError("top must be an integer from 0 to %d, got %r" % (MAX_TOP, self.top))
        prefix = self.report_url_prefix or ""
        if prefix and "://" in prefix and not prefix.startswith(("https://", "http://")):
            raise DriftInputError("report_url_prefix must be an http(s) URL or a path, got %r" % prefix)


@dataclass
class Drift:
    cluster: str
    run_id: str
    previous_run_id: str | None
    reasons: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    counts_complete: bool = True
    open_by_severity: dict[str, int] = field(default_factory=dict)
    top_new: list[dict[str, Any]] = field(default_factory=list)
    gates_failed: list[dict[str, Any]] = field(default_factory=list)
    expired_waivers: list[dict[str, Any]] = field(default_factory=list)
    not_assessed: list[dict[str, Any]] = field(default_factory=list)
    report_location: str = ""

    @property
    def alert(self) -> bool:
        return bool(self.reasons)


def clean(value: Any, limit: int = FIELD_LIMIT) -> str:
    """One line of plain text, control characters removed, cut at ``limit``."""
    if value is None:
        return ""
    text = _CONTROL.sub(" ", str(value)).replace("\n", " ").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def at_or_above(severity: Any, minimum: str) -> bool:
    """The report gates' rule: ``unknown`` counts only when the threshold is ``unknown`` (everything)."""
    if minimum == "unknown":
        return True
    if severity not in SEVERITY_ORDER or severity == "unknown":
        return False
    return SEVERITY_ORDER[severity] <= SEVERITY_ORDER[minimum]


def read_head(path: str) -> dict[str, Any]:
    """Every key of report.json except the findings; a clear error naming the file otherwise."""
    try:
        head = _formats.read_report_head(path)
    except FileNotFoundError:
        raise DriftInputError("report %s does not exist (did the report role run for this cluster?)" % path) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DriftInputError("report %s cannot be read: %s" % (path, clean(exc, 300))) from None
    if not isinstance(head, dict):
        raise DriftInputError("report %s is not a report (top level is not an object)" % path)
    for key in ("cluster", "run_id", "summary"):
        if key not in head:
            raise DriftInputError("report %s has no %r: not a kubesec report.json" % (path, key))
    return head


def previous_head(path: str, head: dict[str, Any]) -> dict[str, Any] | None:
    """The previous run's report head (sibling run directory), or None when there is none or it is unreadable."""
    previous = head.get("previous_run_id")
    if not previous or not re.match(r"^[0-9A-Za-z_.-]+$", str(previous)):
        return None
    cluster_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    try:
        return read_head(os.path.join(cluster_dir, str(previous), "report.json"))
    except DriftInputError:
        return None


def _gate_hits(head: dict[str, Any] | None) -> list[dict[str, Any]]:
    gates = (head or {}).get("gates") or {}
    hits = gates.get("hits") if isinstance(gates, dict) else None
    return [h for h in hits or [] if isinstance(h, dict) and h.get("gate")]


def _expired(head: dict[str, Any] | None) -> list[dict[str, Any]]:
    waivers = (head or {}).get("waivers") or {}
    expired = waivers.get("expired") if isinstance(waivers, dict) else None
    return [w for w in expired or [] if isinstance(w, dict)]


def _failed_sources(head: dict[str, Any] | None) -> list[dict[str, str]]:
    """Collectors that failed (sections.sources) and meta inputs that could not be read (meta.inputs)."""
    rows = []
    sections = (head or {}).get("sections") or {}
    for row in sections.get("sources") or []:
        if isinstance(row, dict) and row.get("source") and FAILED_SOURCE.search(str(row.get("status") or "")):
            rows.append({"source": clean(row["source"]), "status": clean(row.get("status"))})
    meta = (head or {}).get("meta") or {}
    for row in meta.get("inputs") or [] if isinstance(meta, dict) else []:
        if isinstance(row, dict) and row.get("status") == "invalid":
            rows.append({"source": clean(row.get("file")), "status": "invalid input file"})
    return rows


def _waiver_key(w: dict[str, Any]) -> str:
    return "%s|%s" % (w.get("id"), w.get("expires"))


def _item(finding: dict[str, Any], change: str) -> dict[str, Any]:
    resource: dict[str, Any] = finding["resource"] if isinstance(finding.get("resource"), dict) else {}
    where = "/".join(clean(b) for b in (resource.get("namespace") or finding.get("namespace"), resource.get("kind"), resource.get("name")) if b)
    if resource.get("container"):
        where += " [%s]" % clean(resource["container"])
    if finding.get("node") and resource.get("kind") in (None, "Node"):
        where = "node " + clean(finding["node"])
    return {
        "id": clean(finding.get("id")),
        "title": clean(finding.get("title"), TITLE_LIMIT),
        "severity": finding.get("severity") if finding.get("severity") in SEVERITY_ORDER else "unknown",
        "source": clean(finding.get("source")),
        "resource": where,
        "change": change,
    }


def _count(items: list[dict[str, Any]]) -> dict[str, int]:
    counts = {s: 0 for s in SEVERITIES}
    for f in items:
        sev = f["severity"] if f.get("severity") in counts else "unknown"
        counts[sev] += 1
    return {s: n for s, n in counts.items() if n}


def report_location(head: dict[str, Any], path: str, prefix: str) -> str:
    """``<prefix>/<cluster>/<run_id>/report.html`` when a prefix is set, else the local report.html path."""
    html_path = os.path.join(os.path.dirname(os.path.abspath(path)), "report.html")
    if not prefix:
        return html_path
    return "%s/%s/%s/report.html" % (prefix.rstrip("/"), head["cluster"], head["run_id"])


def assess(path: str, settings: Settings) -> Drift:
    """Read ``path`` (this run's report.json) and decide whether there is drift worth a message."""
    head = read_head(path)
    before = previous_head(path, head)
    drift = Drift(
        cluster=clean(head["cluster"]),
        run_id=clean(head["run_id"]),
        previous_run_id=clean(head.get("previous_run_id")) or None,
        report_location=report_location(head, path, settings.report_url_prefix),
    )
    comparison = head.get("comparison")
    totals = head.get("comparison_counts")
    summary = head.get("summary") or {}
    drift.open_by_severity = {s: n for s, n in (summary.get("problems_by_severity") or {}).items() if n}
    if isinstance(comparison, dict) and isinstance(totals, dict):
        lists = {k: [f for f in comparison.get(k) or [] if isinstance(f, dict)] for k in ("new", "regressed", "fixed")}
        drift.counts = {k: _count(v) for k, v in lists.items()}
        drift.totals = {k: int(totals.get(k) or 0) for k in ("new", "regressed", "fixed")}
        # report.json keeps the 1000 most severe entries of each list: beyond that, the counts by severity are
        # those of the kept entries (the totals stay exact, and anything left out is no more severe).
        drift.counts_complete = all(len(lists[k]) >= drift.totals[k] for k in lists)
        changed = sorted(
            [_item(f, "new") for f in lists["new"]] + [_item(f, "regressed") for f in lists["regressed"]],
            key=lambda i: (SEVERITY_ORDER[i["severity"]], i["change"] != "new", i["id"], i["resource"]),
        )
        relevant = [i for i in changed if at_or_above(i["severity"], settings.min_severity)]
        drift.top_new = relevant[: settings.top]
        if relevant:
            drift.reasons.append(
                "%s%d new or regressed finding(s) at or above %s" % ("" if drift.counts_complete else "at least ", len(relevant), settings.min_severity)
            )
    elif any(at_or_above(s, settings.min_severity) for s in drift.open_by_severity):
        drift.reasons.append("first run: no earlier report to compare with")
    if not settings.new_only:
        standing = sum(n for s, n in drift.open_by_severity.items() if at_or_above(s, settings.min_severity))
        if standing and not any(r.startswith("first run") for r in drift.reasons):
            drift.reasons.append("%d open problem(s) at or above %s (new_only is off)" % (standing, settings.min_severity))

    drift.gates_failed = [{"gate": clean(h["gate"]), "count": int(h.get("count") or 0)} for h in _gate_hits(head)]
    drift.expired_waivers = [{"id": clean(w.get("id")), "expires": clean(w.get("expires"))} for w in _expired(head)]
    drift.not_assessed = _failed_sources(head)
    fresh = settings.repeat or before is None
    old_gates = {h["gate"] for h in _gate_hits(before)}
    new_gates = [g for g in drift.gates_failed if fresh or g["gate"] not in old_gates]
    if new_gates:
        drift.reasons.append("gate(s) failed: %s" % ", ".join(g["gate"] for g in new_gates))
    old_waivers = {_waiver_key(w) for w in _expired(before)}
    new_waivers = [w for w in drift.expired_waivers if fresh or _waiver_key(w) not in old_waivers]
    if new_waivers:
        drift.reasons.append("%d waiver(s) expired" % len(new_waivers))
    old_failed = {(r["source"], r["status"]) for r in _failed_sources(before)}
    new_failed = [r for r in drift.not_assessed if fresh or (r["source"], r["status"]) not in old_failed]
    if new_failed:
        drift.reasons.append("not assessed: %s" % ", ".join(r["source"] for r in new_failed))
    return drift


# ------------------------------------------------------------------------------------------------ messages
def _counts_line(counts: dict[str, int], total: int) -> str:
    if not total:
        return "0"
    parts = ", ".join("%d %s" % (n, s) for s, n in counts.items())
    return "%d (%s)" % (total, parts) if parts else str(total)


def text_lines(drift: Drift, settings: Settings, header: str = "") -> tuple[list[str], list[str], list[str]]:
    """(head lines, item lines, tail lines) of the plain-text message; items are the part cut first."""
    head = []
    if header:
        head.append(header)
    head.append(
        "kubesec posture drift: cluster %s, run %s%s" % (drift.cluster, drift.run_id, " (previous %s)" % drift.previous_run_id if drift.previous_run_id else "")
    )
    head.append("Why: " + "; ".join(drift.reasons))
    if drift.totals:
        head.append("New: %s" % _counts_line(drift.counts.get("new", {}), drift.totals.get("new", 0)))
        head.append("Regressed: %s" % _counts_line(drift.counts.get("regressed", {}), drift.totals.get("regressed", 0)))
        head.append("Fixed: %s" % _counts_line(drift.counts.get("fixed", {}), drift.totals.get("fixed", 0)))
        if not drift.counts_complete:
            head.append("(counts by severity cover the 1000 most severe entries of each list)")
    else:
        head.append("No previous run to compare with. Open problems: %s" % (", ".join("%d %s" % (n, s) for s, n in drift.open_by_severity.items()) or "none"))
    items = []
    if drift.top_new:
        items.append("Top new/regressed at or above %s:" % settings.min_severity)
        for i in drift.top_new:
            where = " - " + i["resource"] if i["resource"] else ""
            regressed = " (regressed)" if i["change"] == "regressed" else ""
            items.append("- [%s] %s %s%s%s" % (i["severity"], i["id"], i["title"], where, regressed))
    tail = []
    if drift.gates_failed:
        tail.append("Gates failed: " + ", ".join("%s (%d)" % (g["gate"], g["count"]) for g in drift.gates_failed))
    if drift.expired_waivers:
        tail.append(
            "Expired waivers: "
            + ", ".join("%s (expired %s)" % (w["id"], w["expires"]) for w in drift.expired_waivers[:20])
            + (" and %d more" % (len(drift.expired_waivers) - 20) if len(drift.expired_waivers) > 20 else "")
        )
    if drift.not_assessed:
        tail.append("Not assessed (source failed): " + ", ".join("%s (%s)" % (r["source"], r["status"]) for r in drift.not_assessed))
    tail.append("Full report: " + drift.report_location)
    return head, items, tail


def utf16_units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: a character outside the BMP, e.g. an emoji, counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def fit(head: list[str], items: list[str], tail: list[str], limit: int, measure: Callable[[str], int] = len) -> str:
    """Join the lines, dropping item lines from the end (with a note) until ``measure(text) <= limit``."""
    kept = list(items)
    while True:
        dropped = len(items) - len(kept)
        note = ["... %d more item(s) in the full report" % dropped] if dropped else []
        text = "\n".join(head + kept + note + tail)
        if measure(text) <= limit or not kept:
            break
        kept.pop()
    while measure(text) > limit:  # head and tail alone too long (very many gates or sources): cut the end
        text = text[: max(0, len(text) - max(1, measure(text) - limit) - 1)] + "…"
    return text


def telegram_text(drift: Drift, settings: Settings, header: str = "") -> str:
    return fit(*text_lines(drift, settings, header), TELEGRAM_LIMIT, measure=utf16_units)


def email_parts(drift: Drift, settings: Settings, header: str = "") -> dict[str, str]:
    """Subject, text and HTML bodies of the e-mail (the HTML escapes every value)."""
    head, items, tail = text_lines(drift, settings, header)
    text = fit(head, items, tail, EMAIL_TEXT_LIMIT)
    subject = clean("[kubesec] %s: posture drift in run %s - %s" % (drift.cluster, drift.run_id, "; ".join(drift.reasons)), SUBJECT_LIMIT)
    esc = html.escape
    rows = "".join(
        "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
        % (esc(i["severity"]), esc(i["id"]), esc(i["title"]), esc(i["resource"]), esc(i["change"]))
        for i in drift.top_new
    )
    body = ["<html><body>"]
    body += ["<p>%s</p>" % esc(line) for line in head]
    if rows:
        body.append(
            '<table border="1" cellpadding="4" cellspacing="0"><tr><th>Severity</th><th>Id</th>'
            "<th>Title</th><th>Resource</th><th>Change</th></tr>%s</table>" % rows
        )
    body += ["<p>%s</p>" % esc(line) for line in tail[:-1]]
    location = drift.report_location
    link = '<a href="%s">%s</a>' % (esc(location, quote=True), esc(location)) if location.startswith(("https://", "http://")) else esc(location)
    body.append("<p>Full report: %s</p></body></html>" % link)
    return {"subject": subject, "text": text, "html": "".join(body)}


def webhook_payload(drift: Drift, settings: Settings, header: str = "") -> dict[str, Any]:
    """The documented JSON payload (docs/drift-alerts.md); ``text`` makes Slack/Mattermost show it as is."""
    return {
        "schema": PAYLOAD_SCHEMA,
        "cluster": drift.cluster,
        "run_id": drift.run_id,
        "previous_run_id": drift.previous_run_id,
        "reasons": drift.reasons,
        "min_severity": settings.min_severity,
        "totals": drift.totals or None,
        "counts": drift.counts or None,
        "counts_complete": drift.counts_complete,
        "open_by_severity": drift.open_by_severity,
        "top": drift.top_new,
        "gates_failed": drift.gates_failed,
        "expired_waivers": drift.expired_waivers[:100],
        "not_assessed": drift.not_assessed,
        "report": drift.report_location,
        "text": fit(*text_lines(drift, settings, header), WEBHOOK_TEXT_LIMIT),
    }


def summary(drift: Drift) -> dict[str, Any]:
    """What the action returns and writes to drift-alerts.json besides the delivery results."""
    return {
        "cluster": drift.cluster,
        "run_id": drift.run_id,
        "previous_run_id": drift.previous_run_id,
        "alert": drift.alert,
        "reasons": drift.reasons,
        "totals": drift.totals or None,
        "counts": drift.counts or None,
        "top": drift.top_new,
        "gates_failed": drift.gates_failed,
        "expired_waivers": drift.expired_waivers[:100],
        "not_assessed": drift.not_assessed,
        "report": drift.report_location,
    }
