# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side report step: merge findings, apply waivers, compare, score, write JSON / HTML / PDF /
JUnit / SARIF, and evaluate the CI gates (the role fails the play on them after every file is written)."""

from __future__ import annotations

import datetime
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.kubesec.cluster.plugins.plugin_utils._io import atomic_write
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats, _inputs, _render, _report, _scoring

# The strategy imports this plugin in the main process before it forks one worker per cluster: the templates compiled
# and WeasyPrint imported here are inherited by every worker instead of paid once per cluster (benchmarks/fleet).
_render.preload()

FORMATS = ["json", "html", "pdf", "junit", "sarif"]
FILE_NAMES = {"json": "report.json", "html": "report.html", "pdf": "report.pdf", "junit": "junit.xml", "sarif": "results.sarif"}
ARGUMENT_SPEC = dict(
    cluster=dict(type="str", required=True),
    run_id=dict(type="str", required=True),
    reports_dir=dict(type="path", required=True),
    formats=dict(type="list", elements="str", default=FORMATS, choices=FORMATS),
    waivers=dict(type="list", elements="dict", default=[]),
    today=dict(type="str"),
    pdf_rows_per_section=dict(type="int", default=_render.PDF_ROWS_PER_SECTION),
    html_rows_per_section=dict(type="int", default=_report.DEFAULT_ROWS),
    history_runs=dict(type="int", default=_report.HISTORY_RUNS),
    features=dict(type="dict", default={}),
    fail_on=dict(type="dict", default={}),
    use_latest_run=dict(type="bool", default=True),
)


def _safe_name(value, what):
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
        raise AnsibleActionFail("report: %s=%r must be a plain folder name" % (what, value))
    return value


def _runs_with_findings(cluster_dir):
    if not os.path.isdir(cluster_dir):
        return []
    return sorted(name for name in os.listdir(cluster_dir) if not name.startswith(".") and os.path.isdir(os.path.join(cluster_dir, name, "findings")))


def _pick_run(cluster_dir, run_id, use_latest):
    """(run id to render, note). A run id with no folder at all (playbooks/report.yml alone makes a new id) means
    "re-render the latest run" when use_latest is on; a run folder without findings is an error naming the runs
    that can be rendered and how (-e kubesec_run_id=<id>)."""
    run_dir = os.path.join(cluster_dir, run_id)
    runs = _runs_with_findings(cluster_dir)
    if os.path.isdir(os.path.join(run_dir, "findings")):
        return run_id, None
    if not os.path.exists(run_dir) and use_latest and runs:
        return runs[-1], (
            "no run %s for cluster %s: re-rendered the latest run %s (another one: "
            "-e kubesec_run_id=<id>; runs with findings: %s)" % (run_id, os.path.basename(cluster_dir), runs[-1], ", ".join(runs[-5:]))
        )
    hint = (
        "re-render an earlier run with -e kubesec_run_id=<id> (runs with findings: %s)" % ", ".join(runs[-5:])
        if runs
        else "run playbooks/audit.yml (and collect) for this cluster first"
    )
    raise AnsibleActionFail(
        "report for cluster %s: run %s has no findings directory (%s): %s" % (os.path.basename(cluster_dir), run_id, os.path.join(run_dir, "findings"), hint)
    )


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail("report: " + "; ".join(validation.error_messages))
        args = validation.validated_parameters
        cluster = _safe_name(args["cluster"], "cluster")
        run_id = _safe_name(args["run_id"], "run_id")
        for key in ("pdf_rows_per_section", "html_rows_per_section", "history_runs"):
            if args[key] < 1:
                raise AnsibleActionFail("report: %s must be at least 1, got %d" % (key, args[key]))
        cluster_dir = os.path.join(args["reports_dir"], cluster)
        run_id, note = _pick_run(cluster_dir, run_id, args["use_latest_run"])
        run_dir = os.path.join(cluster_dir, run_id)
        try:
            today = datetime.date.fromisoformat(args["today"]) if args["today"] else datetime.date.today()
        except ValueError as exc:
            raise AnsibleActionFail("report: today=%r is not a date (YYYY-MM-DD)" % args["today"]) from exc
        try:
            findings = _report.FindingsDir(os.path.join(run_dir, "findings"))
            previous_id = _report.previous_run(cluster_dir, run_id)
            previous = None
            if previous_id:
                previous = _formats.iter_report_findings(os.path.join(cluster_dir, previous_id, "report.json"))
            history = _report.read_history(cluster_dir, run_id, limit=max(1, args["history_runs"] - 1))
            since = history[-1].get("generated_at") if history and history[-1].get("run_id") == previous_id else None
            model = _report.build(
                cluster,
                run_id,
                findings,
                waivers=args["waivers"],
                previous_findings=previous,
                previous_run_id=previous_id,
                today=today,
                history=history,
                features=args["features"],
                actions=_inputs.read_actions(cluster_dir, since=since),
                inputs=_inputs.read_meta(run_dir),
                fail_on=args["fail_on"],
                rows=args["html_rows_per_section"],
                rendered=_inputs.list_rendered(cluster_dir),
                rendered_applied=_inputs.rendered_applied(cluster_dir),
            )
            model["meta"]["files"] = findings.files()
        except (_report.ReportInputError, OSError, ValueError) as exc:
            raise AnsibleActionFail("report for cluster %s: %s" % (cluster, exc)) from exc
        written = {}
        if self._task.check_mode:
            result.update(changed=False, msg="check mode: report not written")
        else:
            try:
                streamed = dict((fmt, os.path.join(run_dir, FILE_NAMES[fmt])) for fmt in ("json", "junit", "sarif") if fmt in args["formats"])
                if streamed:
                    _report.write_outputs(model, streamed)
                    written.update(streamed)
                if "html" in args["formats"]:
                    path = os.path.join(run_dir, FILE_NAMES["html"])
                    atomic_write(path, _render.render_html(model), mode=0o644)
                    written["html"] = path
                if "pdf" in args["formats"]:
                    path = os.path.join(run_dir, FILE_NAMES["pdf"])
                    atomic_write(path, _render.render_pdf(model, max_rows=args["pdf_rows_per_section"]), mode=0o644)
                    written["pdf"] = path
            except RuntimeError as exc:
                raise AnsibleActionFail(str(exc)) from exc
            except (_report.ReportInputError, OSError, ValueError) as exc:
                raise AnsibleActionFail("report for cluster %s: %s" % (cluster, exc)) from exc
            result["changed"] = bool(written)
        gates = model["gates"]
        warnings = ([note] if note else []) + ["report for cluster %s: %s" % (cluster, w) for w in model["warnings"]]
        if warnings:
            result["warnings"] = warnings
        result.update(
            files=written,
            run_id=run_id,
            run_dir=run_dir,
            summary=model["summary"],
            headline=model["headline"],
            areas=[dict((k, a[k]) for k in ("area", "title", "assessed", "grade", "score", "open", "not_assessed")) for a in model["areas"]],
            console=_report.console_summary(model, written),
            previous_run_id=model["previous_run_id"],
            changes=model["comparison_counts"],
            expired_waivers=[w["id"] for w in model["waivers"]["expired"]],
            gates={
                "enabled": gates["enabled"],
                "failed": gates["failed"],
                "hits": gates["hits"],
                "note": gates.get("note", ""),
                "line": _scoring.gate_line(gates),
                "message": _scoring.gate_summary(cluster, gates) if gates["failed"] else "",
            },
        )
        return result
