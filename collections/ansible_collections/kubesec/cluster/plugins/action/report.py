# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side report step: merge findings, apply waivers, compare, write JSON / HTML / PDF."""

from __future__ import annotations

import datetime
import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.kubesec.cluster.plugins.plugin_utils import _render, _report

ARGUMENT_SPEC = dict(
    cluster=dict(type="str", required=True),
    run_id=dict(type="str", required=True),
    reports_dir=dict(type="path", required=True),
    formats=dict(type="list", elements="str", default=["json", "html", "pdf"], choices=["json", "html", "pdf"]),
    waivers=dict(type="list", elements="dict", default=[]),
    today=dict(type="str"),
    pdf_rows_per_section=dict(type="int", default=_render.PDF_ROWS_PER_SECTION),
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
        cluster_dir = os.path.join(args["reports_dir"], args["cluster"])
        run_dir = os.path.join(cluster_dir, args["run_id"])
        try:
            today = datetime.date.fromisoformat(args["today"]) if args["today"] else datetime.date.today()
        except ValueError as exc:
            raise AnsibleActionFail("report: today=%r is not a date (YYYY-MM-DD)" % args["today"]) from exc
        try:
            findings, files = _report.load_findings(os.path.join(run_dir, "findings"))
            previous_id = _report.previous_run(cluster_dir, args["run_id"])
            previous = None
            if previous_id:
                with open(os.path.join(cluster_dir, previous_id, "report.json"), encoding="utf-8") as handle:
                    previous = json.load(handle).get("findings", [])
            model = _report.build(args["cluster"], args["run_id"], findings, waivers=args["waivers"],
                                  previous_findings=previous, previous_run_id=previous_id, today=today,
                                  meta={"files": files})
        except (_report.ReportInputError, OSError, ValueError) as exc:
            raise AnsibleActionFail("report for cluster %s: %s" % (args["cluster"], exc)) from exc
        written = {}
        if self._task.check_mode:
            result.update(changed=False, msg="check mode: report not written")
        else:
            if "json" in args["formats"]:
                path = os.path.join(run_dir, "report.json")
                _report.write_atomic(path, json.dumps(model, indent=1, sort_keys=True, ensure_ascii=False))
                written["json"] = path
            if "html" in args["formats"]:
                path = os.path.join(run_dir, "report.html")
                _report.write_atomic(path, _render.render_html(model))
                written["html"] = path
            if "pdf" in args["formats"]:
                path = os.path.join(run_dir, "report.pdf")
                try:
                    _report.write_atomic(path, _render.render_pdf(model, max_rows=args["pdf_rows_per_section"]))
                except RuntimeError as exc:
                    raise AnsibleActionFail(str(exc)) from exc
                written["pdf"] = path
            result["changed"] = bool(written)
        comparison = model["comparison"]
        result.update(
            files=written,
            run_dir=run_dir,
            summary=model["summary"],
            previous_run_id=model["previous_run_id"],
            changes=None if comparison is None else dict((k, len(v)) for k, v in comparison.items()),
            expired_waivers=[w["id"] for w in model["waivers"]["expired"]],
        )
        return result
