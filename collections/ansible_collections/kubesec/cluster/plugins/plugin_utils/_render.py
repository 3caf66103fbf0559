# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a report model (see _report.build) to HTML and PDF.

Jinja2 with autoescape always on: everything that came from a cluster is untrusted text. Charts are inline
SVG built here from numbers only. The PDF has its own print template (cover, contents with page numbers,
top N per section) instead of printing the screen page.
"""

from __future__ import annotations

import math
import os

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ansible_collections.kubesec.cluster.plugins.plugin_utils._report import SOURCE_TITLES, PROBLEM_STATUSES

TEMPLATE_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "roles", "report", "templates"))
SEVERITY_COLORS = {"critical": "#7f1d1d", "high": "#dc2626", "medium": "#f59e0b", "low": "#3b82f6",
                   "info": "#94a3b8", "unknown": "#a8a29e"}
STATUS_COLORS = {"pass": "#16a34a", "fail": "#dc2626", "warn": "#f59e0b", "info": "#64748b", "waived": "#7c3aed"}
PDF_ROWS_PER_SECTION = 150


def _environment(template_dir=TEMPLATE_DIR):
    env = Environment(loader=FileSystemLoader(template_dir), autoescape=select_autoescape(default=True,
                      default_for_string=True), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(SEVERITY_COLORS=SEVERITY_COLORS, STATUS_COLORS=STATUS_COLORS, SOURCE_TITLES=SOURCE_TITLES)
    return env


def donut_svg(counts, colors, size=150, label="open problems"):
    """A donut chart as inline SVG (numbers only, so it is safe markup)."""
    total = sum(counts.values())
    radius, stroke = 52, 22
    circumference = 2 * math.pi * radius
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 150 150" width="%d" height="%d" role="img" '
             'aria-label="%d %s">' % (size, size, total, label),
             '<circle cx="75" cy="75" r="%d" fill="none" stroke="#e5e7eb" stroke-width="%d"/>' % (radius, stroke)]
    offset = 0.0
    for name, value in counts.items():
        if not value:
            continue
        length = circumference * value / total
        parts.append('<circle cx="75" cy="75" r="%d" fill="none" stroke="%s" stroke-width="%d" '
                     'stroke-dasharray="%.2f %.2f" stroke-dashoffset="%.2f" transform="rotate(-90 75 75)">'
                     '<title>%s: %d</title></circle>'
                     % (radius, colors.get(name, "#999"), stroke, length, circumference - length, -offset, name, value))
        offset += length
    parts.append('<text x="75" y="72" text-anchor="middle" font-size="26" font-weight="700" fill="#111827">%d</text>'
                 % total)
    parts.append('<text x="75" y="92" text-anchor="middle" font-size="11" fill="#6b7280">%s</text></svg>' % label)
    return Markup("".join(parts))  # noqa: S704 - built here from numbers and escaped labels only


def bars_svg(rows, colors, width=640, bar_height=18):
    """Horizontal stacked bars: rows = [(label, {status: count})]. Labels are escaped."""
    from markupsafe import escape

    label_width, gap = 170, 6
    height = max(1, len(rows)) * (bar_height + gap) + 4
    biggest = max([sum(counts.values()) for dummy, counts in rows] or [1]) or 1
    scale = (width - label_width - 40) / float(biggest)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" '
             'aria-label="results per node">' % (width, height)]
    for index, (label, counts) in enumerate(rows):
        y = index * (bar_height + gap) + 2
        text = str(label)
        short = text if len(text) <= 26 else text[:25] + "…"
        parts.append('<text x="%d" y="%d" text-anchor="end" font-size="12" fill="#374151">%s<title>%s</title></text>'
                     % (label_width - 8, y + bar_height - 5, escape(short), escape(text)))
        x = float(label_width)
        for status, value in counts.items():
            if not value:
                continue
            w = value * scale
            parts.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %d</title></rect>'
                         % (x, y, w, bar_height, colors.get(status, "#999"), status, value))
            x += w
        parts.append('<text x="%.1f" y="%d" font-size="11" fill="#6b7280">%d</text>'
                     % (x + 4, y + bar_height - 5, sum(counts.values())))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built here from numbers and escaped labels only


def view(model, max_rows=None):
    """What the templates need, derived from the model (grouping, charts, caps)."""
    findings = model["findings"]
    statuses = ("pass", "fail", "warn", "info", "waived")
    per_node = []
    for node in model["nodes"]:
        counts = dict((s, 0) for s in statuses)
        for f in findings:
            if f.get("node") == node and f["source"] in ("cis-node", "cis-control-plane"):
                counts[f["status"]] += 1
        per_node.append((node, counts))
    sections = []
    for source, title in SOURCE_TITLES.items():
        items = [f for f in findings if f["source"] == source]
        if not items:
            continue
        problems = [f for f in items if f["status"] in PROBLEM_STATUSES or f["status"] == "waived"]
        namespaces = {}
        for finding in problems:
            namespaces.setdefault(finding.get("namespace") or "", []).append(finding)
        shown = problems if max_rows is None else problems[:max_rows]
        sections.append({"source": source, "title": title, "total": len(items), "problems": problems,
                         "shown": shown, "hidden": len(problems) - len(shown),
                         "counts": dict((s, sum(1 for f in items if f["status"] == s)) for s in statuses),
                         "by_namespace": sorted(namespaces.items())})
    from ansible_collections.kubesec.cluster.plugins.plugin_utils._report import node_matrix

    return {
        "severity_donut": donut_svg(model["summary"]["problems_by_severity"], SEVERITY_COLORS),
        "status_donut": donut_svg(model["summary"]["by_status"], STATUS_COLORS, label="results"),
        "node_bars": bars_svg(per_node, STATUS_COLORS) if per_node else None,
        "matrix": node_matrix(findings),
        "sections": sections,
        "waived": [f for f in findings if f["status"] == "waived"],
    }


def render_html(model, template_dir=TEMPLATE_DIR):
    env = _environment(template_dir)
    return env.get_template("report.html.j2").render(model=model, v=view(model))


def render_print_html(model, template_dir=TEMPLATE_DIR, max_rows=PDF_ROWS_PER_SECTION):
    env = _environment(template_dir)
    return env.get_template("report_print.html.j2").render(model=model, v=view(model, max_rows=max_rows),
                                                           max_rows=max_rows)


def render_pdf(model, template_dir=TEMPLATE_DIR, max_rows=PDF_ROWS_PER_SECTION):
    """PDF bytes via WeasyPrint. No base_url and no network: everything is inline."""
    try:
        from weasyprint import HTML
    except ImportError as exc:  # pragma: no cover - depends on the controller's install
        raise RuntimeError("WeasyPrint is not installed on the controller (pip install weasyprint; it also needs "
                           "Pango: apt-get install libpango-1.0-0 libpangoft2-1.0-0): %s" % exc) from exc

    def no_fetch(url):
        raise ValueError("the report does not load external resources (%s)" % url)

    html = render_print_html(model, template_dir, max_rows)
    return HTML(string=html, url_fetcher=no_fetch).write_pdf()
