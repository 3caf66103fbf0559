# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Add the CIS catalogue (for severities) on the controller, then run the module.

In run mode without a given benchmark the module detects it on the node; the severities of that benchmark's
catalogue are applied to the findings afterwards, here on the controller.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.kubesec.cluster.plugins.module_utils._kube_bench import apply_severities
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue


def _load(benchmark):
    try:
        return _catalogue.load(benchmark)
    except _catalogue.CatalogueNotFound:
        return None  # severities fall back to medium; the findings are still right


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        mode = args.get("mode") or "read"
        preloaded = False
        if not args.get("catalogue") and mode != "job":
            if mode == "read":
                args["catalogue"] = _load(args.get("benchmark") or "cis-1.12")
                preloaded = True
            elif args.get("benchmark"):
                args["catalogue"] = _load(args["benchmark"])
                preloaded = True
        args.setdefault("node_name", task_vars.get("inventory_hostname"))
        if args.get("cluster") is None and task_vars.get("kubesec_cluster"):
            args["cluster"] = task_vars["kubesec_cluster"]
        result.update(self._execute_module(module_name="kubesec.cluster.kube_bench", module_args=args, task_vars=task_vars))
        if mode == "run" and not preloaded and not args.get("catalogue") and result.get("benchmark") and result.get("findings"):
            catalogue = _load(result["benchmark"])
            if catalogue:
                apply_severities(result["findings"], catalogue)
        return result
