# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a report model (see _report.build) to HTML and PDF, and the multi-cluster index page.

Jinja2 with autoescape always on: everything that came from a cluster is untrusted text. Charts are inline
SVG built here from numbers and escaped labels. The HTML is self-contained (inline CSS, SVG and one small inline
script for sorting/filtering tables, allowed by its sha256 hash in the Content-Security-Policy; the page reads
fully without it). The PDF has its own print template (cover, contents with page numbers, running headers,
summary, top N per section, appendix) instead of printing the screen page: WeasyPrint lays out roughly 80 table
rows per second here, so the PDF is designed to stay small whatever the size of the cluster.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import math
import os
import re
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from ansible_collections.kubesec.cluster.plugins.plugin_utils._formats import safe_text

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITIES, SEVERITY_ORDER
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_findings import PROBLEM_STATUSES
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_sections import DEFAULT_ROWS, SECTIONS, SOURCE_TITLES, is_fixable

# The collection's own data (installed with it), not a role's folder: any caller of the report action renders the same.
TEMPLATE_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "data", "report_templates"))
SEVERITY_COLORS = {"critical": "#7f1d1d", "high": "#dc2626", "medium": "#f59e0b", "low": "#3b82f6", "info": "#94a3b8", "unknown": "#a8a29e"}
STATUS_COLORS = {"pass": "#16a34a", "fail": "#dc2626", "warn": "#f59e0b", "info": "#64748b", "waived": "#7c3aed"}
GRADE_COLORS = {"A": "#16a34a", "B": "#65a30d", "C": "#d97706", "D": "#dc2626", "F": "#7f1d1d", None: "#9ca3af"}
STATUS_RANK = {"fail": 0, "warn": 1, "waived": 2, "info": 3, "pass": 4}
STATUS_LETTER = {"pass": "P", "fail": "F", "warn": "W", "info": "I", "waived": "Z"}
PDF_ROWS_PER_SECTION = 50
MATRIX_WIDE = 8  # more nodes than this: nodes become the rows of the CIS matrix
BAR_LIMIT = 40
SCRIPT_NAME = "report.js"


def _esc(value: Any) -> Markup:
    """Escaped for HTML, with control and bidi-override characters shown as escapes (\\x1b, \\u202e)."""
    return escape(safe_text(value))


def _finalize(value: Any) -> Any:
    """Every {{ value }} of the templates: plain strings get control and bidi characters made visible."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return safe_text(value)
    return value


# template_dir -> Environment: templates compile once per process (Jinja caches them per environment)
_ENVIRONMENTS: dict[str, Environment] = {}


def _environment(template_dir: str = TEMPLATE_DIR) -> Environment:
    if template_dir not in _ENVIRONMENTS:
        _ENVIRONMENTS[template_dir] = _new_environment(template_dir)
    return _ENVIRONMENTS[template_dir]


def preload(template_dir: str = TEMPLATE_DIR) -> None:
    """Compile the report templates and import WeasyPrint now (when it is installed).

    Called where the main ansible-playbook process imports the report action plugin, before it forks one worker per
    cluster: the workers inherit both instead of paying them once each (benchmarks/fleet). Errors are left to the
    render that needs the piece, which names them.
    """
    try:
        env = _environment(template_dir)
        for name in ("report.html.j2", "report_print.html.j2"):
            env.get_template(name)
    except Exception:  # a broken template is reported by the render that uses it
        _ENVIRONMENTS.pop(template_dir, None)
    try:
        _weasyprint_html()
    except RuntimeError:
        pass


def _new_environment(template_dir: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(template_dir),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.globals.update(
        SEVERITY_COLORS=SEVERITY_COLORS,
        STATUS_COLORS=STATUS_COLORS,
        SOURCE_TITLES=SOURCE_TITLES,
        GRADE_COLORS=GRADE_COLORS,
        STATUS_RANK=STATUS_RANK,
        SEVERITY_ORDER=SEVERITY_ORDER,
        STATUS_LETTER=STATUS_LETTER,
        is_fixable=is_fixable,
        evidence_html=evidence_html,
    )
    env.filters["clip"] = clip
    env.filters["signed"] = signed
    env.filters["css_string"] = css_string
    return env


def css_string(value: Any) -> str:
    """Text for a CSS content string (running headers): only characters that cannot end the string or rule."""
    return "".join(ch if ch.isalnum() or ch in " ._:-/+#@()[]," else "?" for ch in str(value))[:80]


def clip(value: Any, limit: int = 300) -> str:
    """Shorten long untrusted text for the PDF (the HTML and JSON keep all of it)."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def evidence_html(finding: dict[str, Any], limit: int | None = None) -> Markup:
    """The evidence cell: expected/actual, package versions, field/value, messages, event counts, waiver.

    Built here with markupsafe.escape on every value (the finding is untrusted), joined with <br>.
    """
    limit = limit or 100000
    e = finding.get("evidence") or {}
    if not isinstance(e, dict):
        e = {}

    def t(value: Any, size: int | None = None) -> Markup:
        return _esc(clip(value if isinstance(value, str) else ("" if value is None else str(value)), size or limit))

    parts = []
    if "expected" in e or "actual" in e:
        parts.append(Markup("expected <code>%s</code>, actual <code>%s</code>") % (t(e.get("expected")), t(e.get("actual"))))
    if e.get("package"):
        text = Markup("<code>%s</code> %s") % (t(e["package"]), t(e.get("installed_version") or ""))
        if e.get("fixed_version"):
            text += Markup(" &rarr; <b>%s</b>") % t(e["fixed_version"])
        else:
            text += Markup(' <span class="muted">(no fix yet)</span>')
        if e.get("image"):
            text += Markup('<br><span class="muted">%s</span>') % t(e["image"])
        parts.append(text)
    if e.get("field"):
        text = Markup("<code>%s</code>") % t(e["field"])
        if "value" in e:
            text += Markup(" = <code>%s</code>") % t(e["value"], 120)
        parts.append(text)
    if e.get("mode"):
        parts.append(Markup('<span class="muted">mode %s</span>') % t(e["mode"]))
    messages = e.get("messages")
    if isinstance(messages, list):
        parts.extend(t(message) for message in messages[:3])
    if finding.get("count"):
        text = Markup("<b>%s</b> event(s)") % t(finding["count"])
        if finding.get("first_seen"):
            text += Markup(", first %s") % t(finding["first_seen"])
        if finding.get("last_seen"):
            text += Markup(", last %s") % t(finding["last_seen"])
        parts.append(text)
    for key in ("source", "file", "target", "error", "note"):
        if isinstance(e.get(key), str) and e[key]:
            parts.append(Markup('<span class="muted">%s%s</span>') % ("file " if key == "file" else "", t(e[key])))
    for other in finding.get("also_reported") or ():
        text = Markup("also reported by <b>%s</b>: %s") % (t(other.get("source")), t(str(other.get("status")).upper()))
        if other.get("actual") not in (None, ""):
            text += Markup(", actual <code>%s</code>") % t(other["actual"], 200)
        parts.append(text)
    waiver = finding.get("waiver")
    if isinstance(waiver, dict):
        text = Markup("<b>waived:</b> %s") % t(waiver.get("reason"))
        if waiver.get("expires"):
            text += Markup(" (until %s)") % t(waiver["expires"])
        parts.append(text + Markup("; was %s") % t(finding.get("original_status")))
    return Markup("<br>").join(parts)


def signed(value: float | None, digits: int = 0) -> str:
    if value is None:
        return ""
    if digits:
        return ("%+." + str(digits) + "f") % value if value else "±0"
    return "%+d" % value if value else "±0"


def script_source(template_dir: str = TEMPLATE_DIR) -> str:
    with open(os.path.join(template_dir, SCRIPT_NAME), "r", encoding="utf-8") as handle:
        return handle.read().strip()


def csp_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


# ------------------------------------------------------------------------------------------------ charts
def donut_svg(counts: dict[str, int], colors: dict[str, str], size: int = 150, label: str = "open problems") -> Markup:
    """A donut chart as inline SVG (numbers only, so it is safe markup)."""
    total = sum(counts.values())
    radius, stroke = 52, 22
    circumference = 2 * math.pi * radius
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 150 150" width="%d" height="%d" role="img" '
        'aria-label="%d %s">' % (size, size, total, _esc(label)),
        '<circle cx="75" cy="75" r="%d" fill="none" stroke="#e5e7eb" stroke-width="%d"/>' % (radius, stroke),
    ]
    offset = 0.0
    for name, value in counts.items():
        if not value:
            continue
        length = circumference * value / total
        parts.append(
            '<circle cx="75" cy="75" r="%d" fill="none" stroke="%s" stroke-width="%d" '
            'stroke-dasharray="%.2f %.2f" stroke-dashoffset="%.2f" transform="rotate(-90 75 75)">'
            "<title>%s: %d</title></circle>" % (radius, colors.get(name, "#999"), stroke, length, circumference - length, -offset, _esc(name), value)
        )
        offset += length
    parts.append('<text x="75" y="72" text-anchor="middle" font-size="26" font-weight="700" fill="#111827">%d</text>' % total)
    parts.append('<text x="75" y="92" text-anchor="middle" font-size="11" fill="#6b7280">%s</text></svg>' % _esc(label))
    return Markup("".join(parts))  # noqa: S704 - built here from numbers and escaped labels only


def bars_svg(rows: list[tuple[str, dict[str, int]]], colors: dict[str, str], width: int = 640, bar_height: int = 18, label: str = "results per node") -> Markup:
    """Horizontal stacked bars: rows = [(label, {status: count})]. Labels are escaped."""
    label_width, gap = 170, 6
    height = max(1, len(rows)) * (bar_height + gap) + 4
    biggest = max([sum(counts.values()) for dummy, counts in rows] or [1]) or 1
    scale = (width - label_width - 40) / float(biggest)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s">' % (width, height, _esc(label))]
    for index, (name, counts) in enumerate(rows):
        y = index * (bar_height + gap) + 2
        text = str(name)
        short = text if len(text) <= 26 else text[:25] + "…"
        parts.append(
            '<text x="%d" y="%d" text-anchor="end" font-size="12" fill="#374151">%s<title>%s</title></text>'
            % (label_width - 8, y + bar_height - 5, _esc(short), _esc(text))
        )
        x = float(label_width)
        for status, value in counts.items():
            if not value:
                continue
            w = value * scale
            parts.append(
                '<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %d</title></rect>'
                % (x, y, w, bar_height, colors.get(status, "#999"), _esc(status), value)
            )
            x += w
        parts.append('<text x="%.1f" y="%d" font-size="11" fill="#6b7280">%d</text>' % (x + 4, y + bar_height - 5, sum(counts.values())))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built here from numbers and escaped labels only


_RUN_ID = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")


def run_labels(run_ids: list[str]) -> list[str]:
    """Axis labels for run ids (YYYYMMDDTHHMMSSZ): the date, with the time when another run is on the same day
    (several runs a day all read "20261206" before); ids of another form are shown shortened."""
    days: dict[tuple[str, ...], int] = {}
    for run_id in run_ids:
        match = _RUN_ID.match(run_id)
        if match:
            days[match.group(1, 2, 3)] = days.get(match.group(1, 2, 3), 0) + 1
    labels = []
    for run_id in run_ids:
        match = _RUN_ID.match(run_id)
        if not match:
            labels.append(run_id[:12])
        elif days[match.group(1, 2, 3)] > 1:
            labels.append("%s-%s %s:%s" % match.group(2, 3, 4, 5))
        else:
            labels.append("%s-%s-%s" % match.group(1, 2, 3))
    return labels


def trend_svg(history: list[dict[str, Any]], width: int = 640, height: int = 190) -> Markup:
    """Open problems and open critical+high problems per run (oldest left), as two polylines."""
    points: list[tuple[Any, ...]] = [
        (
            str(h.get("run_id") or "?"),
            int(h.get("open") or 0),
            int((h.get("problems_by_severity") or {}).get("critical", 0)) + int((h.get("problems_by_severity") or {}).get("high", 0)),
        )
        for h in history
    ]
    left, right, top, bottom = 46, 16, 14, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    biggest = max([p[1] for p in points] + [p[2] for p in points] + [1])
    step = plot_w / float(max(1, len(points) - 1))

    def xy(index: int, value: float) -> tuple[float, float]:
        x = left + (index * step if len(points) > 1 else plot_w / 2.0)
        return x, top + plot_h - plot_h * value / float(biggest)

    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" '
        'aria-label="open problems over the last %d runs">' % (width, height, len(points)),
        '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#9ca3af"/>' % (left, top + plot_h, width - right, top + plot_h),
        '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#9ca3af"/>' % (left, top, left, top + plot_h),
    ]
    for fraction in (0, 0.5, 1):
        value = biggest * fraction
        y = top + plot_h - plot_h * fraction
        parts.append('<text x="%d" y="%.1f" text-anchor="end" font-size="10" fill="#6b7280">%d</text>' % (left - 6, y + 3, round(value)))
        if fraction:
            parts.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e7eb"/>' % (left, y, width - right, y))
    for series, color, name in ((1, "#d97706", "open"), (2, "#dc2626", "critical+high")):
        coords = [xy(i, p[series]) for i, p in enumerate(points)]
        if len(coords) > 1:
            parts.append('<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s"/>' % (color, " ".join("%.1f,%.1f" % c for c in coords)))
        for (x, y), p in zip(coords, points):
            parts.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s %s: %d</title></circle>' % (x, y, color, _esc(p[0]), name, int(p[series])))
    labels = run_labels([p[0] for p in points])
    label_every = max(1, math.ceil(len(points) / 6.0))
    for index in range(len(points)):
        if index % label_every and index != len(points) - 1:
            continue
        x = xy(index, 0)[0]
        anchor = "start" if index == 0 and len(points) > 1 else "end" if index == len(points) - 1 and len(points) > 1 else "middle"
        parts.append('<text x="%.1f" y="%d" text-anchor="%s" font-size="10" fill="#374151">%s</text>' % (x, height - bottom + 16, anchor, _esc(labels[index])))
    parts.append(
        '<rect x="%d" y="%d" width="10" height="10" fill="#d97706"/><text x="%d" y="%d" font-size="11" '
        'fill="#374151">open problems (FAIL+WARN)</text>' % (left, height - 14, left + 14, height - 5)
    )
    parts.append(
        '<rect x="%d" y="%d" width="10" height="10" fill="#dc2626"/><text x="%d" y="%d" font-size="11" '
        'fill="#374151">open critical + high</text></svg>' % (left + 200, height - 14, left + 214, height - 5)
    )
    return Markup("".join(parts))  # noqa: S704 - built here from numbers and escaped labels only


def score_svg(areas: list[dict[str, Any]], width: int = 640, bar_height: int = 16) -> Markup:
    """Score per area: bar length = score 0-100 (axis drawn), colour and badge = grade. A D or F row is tinted red
    and its badge is filled, so a long bar with a bad grade (most checks pass, one critical is open) reads as bad.
    Areas without a score say why in the bar's place (grade only, not assessed)."""
    label_width, gap, badge = 150, 6, 26
    plot = width - label_width - badge - 70
    row_h = bar_height + gap
    height = max(1, len(areas)) * row_h + 22
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" '
        'aria-label="score per area: bar length is the score from 0 to 100, colour and badge the grade">' % (width, height)
    ]
    for tick in (0, 25, 50, 75, 100):
        x = label_width + plot * tick / 100.0
        parts.append('<line x1="%.1f" y1="0" x2="%.1f" y2="%d" stroke="#e5e7eb"/>' % (x, x, len(areas) * row_h))
        parts.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="9" fill="#6b7280">%d</text>' % (x, len(areas) * row_h + 11, tick))
    parts.append('<text x="%d" y="%d" text-anchor="end" font-size="9" fill="#6b7280">score (0-100)</text>' % (label_width - 8, len(areas) * row_h + 11))
    for index, area in enumerate(areas):
        y = index * row_h + 2
        grade_letter = area.get("grade")
        color = GRADE_COLORS.get(grade_letter, "#9ca3af")
        bad = grade_letter in ("D", "F")
        if bad:
            parts.append('<rect x="0" y="%d" width="%d" height="%d" fill="#fef2f2"/>' % (y - 2, width, row_h))
        parts.append(
            '<text x="%d" y="%d" text-anchor="end" font-size="12" fill="#374151"%s>%s</text>'
            % (label_width - 8, y + bar_height - 4, ' font-weight="700"' if bad else "", _esc(area["title"]))
        )
        parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="#f3f4f6"/>' % (label_width, y, plot, bar_height))
        if not area["assessed"]:
            text, note = "", "not assessed"
        elif area["score"] is not None:
            parts.append(
                '<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: score %.1f of 100, '
                "grade %s</title></rect>"
                % (label_width, y, plot * area["score"] / 100.0, bar_height, color, _esc(area["title"]), area["score"], _esc(grade_letter))
            )
            text, note = "%.0f" % area["score"], None
        else:
            text, note = "", "no score (grade only)"
        if note:
            parts.append('<text x="%d" y="%d" font-size="10" font-style="italic" fill="#6b7280">%s</text>' % (label_width + 6, y + bar_height - 4, _esc(note)))
        bx = label_width + plot + 8
        if grade_letter:
            parts.append(
                '<rect x="%d" y="%d" width="%d" height="%d" rx="3" fill="%s"/>'
                '<text x="%d" y="%d" text-anchor="middle" font-size="11" font-weight="700" fill="#fff">%s'
                "</text>" % (bx, y, badge - 4, bar_height, color, bx + (badge - 4) / 2, y + bar_height - 4, _esc(grade_letter))
            )
        parts.append(
            '<text x="%d" y="%d" font-size="11" font-weight="700" fill="%s">%s</text>'
            % (bx + badge, y + bar_height - 4, "#b91c1c" if bad else "#374151", _esc(text))
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built here from numbers and escaped labels only


# ------------------------------------------------------------------------------------------------ view
def _cis_matrix_view(matrix: dict[str, Any], counts: dict[str, dict[str, int]], limit: int) -> dict[str, Any] | None:
    nodes, rows = matrix["nodes"], matrix["rows"]
    if not rows:
        return None
    if len(nodes) <= MATRIX_WIDE:
        return {
            "orientation": "checks",
            "cols": [{"label": n, "title": n} for n in nodes],
            "compact": False,
            "rows": [{"label": r["id"], "title": r["title"], "scored": r["scored"], "cells": [r["cells"].get(n) for n in nodes]} for r in rows],
            "hidden": 0,
            "total": len(rows),
        }

    def badness(node: str) -> tuple[int, int, str]:
        c = counts.get(node) or {}
        return (-c.get("fail", 0), -c.get("warn", 0), node)

    ordered = sorted(nodes, key=badness)
    shown = ordered[:limit]
    return {
        "orientation": "nodes",
        "compact": True,
        "cols": [{"label": r["id"].replace("CIS-", ""), "title": r["id"] + " " + r["title"]} for r in rows],
        "rows": [{"label": n, "title": n, "scored": None, "cells": [r["cells"].get(n) for r in rows]} for n in shown],
        "hidden": len(nodes) - len(shown),
        "total": len(nodes),
    }


def _model_value(model: dict[str, Any], path: str) -> Any:
    """model["a"]["b"] for the path "a.b" (None when a part is missing)."""
    value: Any = model
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def view(model: dict[str, Any], max_rows: int | None = None, print_mode: bool = False) -> dict[str, Any]:
    """What the templates need, derived from the model (ordering, charts, caps)."""
    limit = model.get("_rows", DEFAULT_ROWS) if max_rows is None else max_rows
    html_rows = model.get("_rows", DEFAULT_ROWS)
    top = model.get("_top")
    if top is None:  # a model loaded from report.json: rebuild the top rows from its findings
        top = {}
        for finding in model.get("findings", []):
            if finding["status"] in PROBLEM_STATUSES or finding["status"] == "waived":
                top.setdefault(finding["source"], []).append(finding)
    by_source = model["summary"]["by_source"]
    sections = model["sections"]

    def rows(source: str, cap: int | None = None) -> dict[str, Any]:
        items = top.get(source, [])
        counts = by_source.get(source) or {}
        total = counts.get("fail", 0) + counts.get("warn", 0) + counts.get("waived", 0)
        shown = items[: limit if cap is None else min(cap, limit)]
        return {"items": shown, "total": total, "hidden": total - len(shown), "in_html": min(total, html_rows), "count": sum(counts.values()), "counts": counts}

    present = dict(
        (section.key, any(by_source.get(source) for source in section.sources) or any(_model_value(model, path) for path in section.present_when))
        for section in SECTIONS
    )
    node_counts = sections.get("node_counts") or {}
    bar_nodes = sorted(node_counts.items(), key=lambda kv: (-kv[1].get("fail", 0), -kv[1].get("warn", 0), kv[0]))
    per_node = [(node, dict((s, counts.get(s, 0)) for s in ("pass", "fail", "warn", "info", "waived"))) for node, counts in bar_nodes[:BAR_LIMIT]]
    history = model.get("history") or []
    workloads = sections.get("workloads") or {}
    wl_rules = workloads.get("rules") or []
    wl_rows = (workloads.get("workloads") or [])[: limit if print_mode else html_rows]
    return {
        "limit": limit,
        "html_rows": html_rows,
        "print": print_mode,
        "has_changes": model.get("comparison") is not None or len(history) > 1,
        "sections": [
            {
                "key": section.key,
                "anchor": section.anchor,
                "title": section.title,
                "present": present[section.key],
                "template": "sections/" + section.template,
                "source": (section.sources or (None,))[0],
                "absent": section.absent,
            }
            for section in SECTIONS
        ],
        "rows": rows,
        "severity_donut": donut_svg(model["summary"]["problems_by_severity"], SEVERITY_COLORS),
        "status_donut": donut_svg(model["summary"]["by_status"], STATUS_COLORS, label="results"),
        "node_bars": bars_svg(per_node, STATUS_COLORS) if per_node else None,
        "node_bars_hidden": max(0, len(bar_nodes) - BAR_LIMIT),
        "trend": trend_svg(history) if len(history) >= 2 else None,
        "scores": score_svg(model["areas"]),
        "cis_matrix": _cis_matrix_view(sections["cis_nodes"], node_counts, limit),
        "cp_matrix": _cis_matrix_view(sections["cis_control_plane"], node_counts, limit),
        "kb_matrix": _cis_matrix_view(sections["kube_bench"], node_counts, limit),
        "cis_open": model.get("_cis_open") or {},
        "waived": (model["_waived"] if "_waived" in model else [f for f in model.get("findings", []) if f["status"] == "waived"])[:limit],
        "waived_total": model["summary"]["by_status"].get("waived", 0),
        "wl_rules": wl_rules,
        "wl_rows": wl_rows,
        "wl_hidden": workloads.get("workloads_total", 0) - len(wl_rows),
        "wl_cols": [r["id"] for r in wl_rules],
        "severities": SEVERITIES,
    }


def _context(model: dict[str, Any], max_rows: int | None = None, print_mode: bool = False, template_dir: str = TEMPLATE_DIR) -> dict[str, Any]:
    script = script_source(template_dir)
    return {
        "model": model,
        "v": view(model, max_rows, print_mode),
        "script": Markup(script),  # noqa: S704
        "script_hash": csp_hash(script),
    }


def render_html(model: dict[str, Any], template_dir: str = TEMPLATE_DIR) -> str:
    env = _environment(template_dir)
    return env.get_template("report.html.j2").render(**_context(model, template_dir=template_dir))


def render_print_html(model: dict[str, Any], template_dir: str = TEMPLATE_DIR, max_rows: int = PDF_ROWS_PER_SECTION) -> str:
    env = _environment(template_dir)
    context = _context(model, max_rows=max_rows, print_mode=True, template_dir=template_dir)
    return env.get_template("report_print.html.j2").render(max_rows=max_rows, **context)


def _weasyprint_html() -> Any:
    try:
        from weasyprint import HTML
    except ImportError as exc:  # pragma: no cover - depends on the controller's install
        raise RuntimeError(
            "WeasyPrint is not installed on the controller (pip install weasyprint; it also needs "
            "Pango: apt-get install libpango-1.0-0 libpangoft2-1.0-0): %s" % exc
        ) from exc
    return HTML


def render_pdf(model: dict[str, Any], template_dir: str = TEMPLATE_DIR, max_rows: int = PDF_ROWS_PER_SECTION) -> bytes:
    """PDF bytes via WeasyPrint. No base_url and no network: everything is inline."""
    html_class = _weasyprint_html()

    def no_fetch(url: str) -> dict[str, Any]:
        raise ValueError("the report does not load external resources (%s)" % url)

    html = render_print_html(model, template_dir, max_rows)
    return html_class(string=html, url_fetcher=no_fetch).write_pdf()


def render_index(entries: list[dict[str, Any]], reports_dir_name: str = "reports", generated_at: str | None = None, template_dir: str = TEMPLATE_DIR) -> str:
    """reports/index.html: every cluster's latest report with its headline numbers (no script)."""
    env = _environment(template_dir)
    generated_at = generated_at or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    from ansible_collections.kubesec.cluster.plugins.plugin_utils._scoring import AREAS

    columns = [(key, title) for key, title, dummy, unused in AREAS]
    return env.get_template("index.html.j2").render(entries=entries, generated_at=generated_at, reports_dir_name=reports_dir_name, area_columns=columns)
