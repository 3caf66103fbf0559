# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: write reports/index.html (and index.json) linking every cluster's latest report."""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.kubesec.cluster.plugins.plugin_utils._io import atomic_write
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _render, _report

ARGUMENT_SPEC = dict(
    reports_dir=dict(type="path", required=True),
    run_id=dict(type="str"),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail("report_index: " + "; ".join(validation.error_messages))
        args = validation.validated_parameters
        reports_dir = args["reports_dir"]
        try:
            entries = _report.index_entries(reports_dir, current=args["run_id"])
            html = _render.render_index(entries, reports_dir_name=os.path.basename(reports_dir.rstrip("/")))
        except (OSError, ValueError) as exc:
            raise AnsibleActionFail("report_index: %s" % exc) from exc
        summary = [
            {
                "cluster": e["cluster"],
                "run_id": e["run_id"],
                "open": (e.get("headline") or {}).get("open"),
                "gates_failed": (e.get("headline") or {}).get("gates_failed"),
                "error": e.get("error"),
            }
            for e in entries
        ]
        written = {}
        if self._task.check_mode:
            result.update(changed=False, msg="check mode: index not written")
        else:
            html_path = os.path.join(reports_dir, "index.html")
            json_path = os.path.join(reports_dir, "index.json")
            index = {
                "schema": "kubesec.report-index/v1",
                "clusters": [
                    {
                        "cluster": e["cluster"],
                        "run_id": e["run_id"],
                        "runs": e.get("runs"),
                        "report": "%s/%s/report.html" % (e.get("dir", e["cluster"]), e["run_id"]),
                        "headline": e.get("headline"),
                        "error": e.get("error"),
                    }
                    for e in entries
                ],
            }
            try:
                atomic_write(html_path, html, mode=0o644)
                atomic_write(json_path, json.dumps(index, indent=1, sort_keys=True, ensure_ascii=False), mode=0o644)
            except OSError as exc:
                raise AnsibleActionFail("report_index: cannot write %s: %s" % (reports_dir, exc)) from exc
            written = {"html": html_path, "json": json_path}
            result["changed"] = True
        result.update(files=written, clusters=summary)
        return result
