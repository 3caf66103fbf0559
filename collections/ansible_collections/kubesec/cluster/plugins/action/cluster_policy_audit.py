# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load the CIS section-5 catalogue on the controller (data/cis_policies/), then run the module."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.kubesec.cluster.plugins.plugin_utils import _policies_catalogue


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Optional[str] = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if not args.get("catalogue"):
            try:
                args["catalogue"] = _policies_catalogue.for_benchmark(args.get("benchmark") or "cis-1.12")
            except _policies_catalogue.PoliciesCatalogueError as exc:
                raise AnsibleActionFail(str(exc)) from exc
        if args.get("cluster") is None and task_vars.get("kubesec_cluster"):
            args["cluster"] = task_vars["kubesec_cluster"]
        result.update(self._execute_module(module_name="kubesec.cluster.cluster_policy_audit", module_args=args, task_vars=task_vars))
        return result
