# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Add the CIS catalogue (for severities) on the controller, then run the module."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if not args.get("catalogue"):
            try:
                args["catalogue"] = _catalogue.load(args.get("benchmark") or "cis-1.12")
            except _catalogue.CatalogueNotFound:
                args["catalogue"] = None  # severities fall back to medium; the findings are still right
        args.setdefault("node_name", task_vars.get("inventory_hostname"))
        if args.get("cluster") is None and task_vars.get("kubesec_cluster"):
            args["cluster"] = task_vars["kubesec_cluster"]
        result.update(self._execute_module(module_name="kubesec.cluster.kube_bench", module_args=args,
                                           task_vars=task_vars))
        return result
