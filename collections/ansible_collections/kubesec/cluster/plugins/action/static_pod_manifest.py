# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""static_pod_manifest: read on the node, plan and validate on the controller, write on the node if unchanged.

The node half (modules/static_pod_manifest.py) needs only Python and PyYAML. Planning (module_utils/_static_pod)
and the Kubernetes schema check (plugin_utils/_pod_schema, kubernetes-validate) run here. The write carries the
sha256 of the text the plan was made from; the node writes only if the manifest still has it (under a lock), and
when it changed meanwhile the manifest is read and planned again (module_utils/_static_pod.change).
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.kubesec.cluster.plugins.module_utils import _static_pod
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import printable
from ansible_collections.kubesec.cluster.plugins.plugin_utils._pod_schema import schema_errors

MODULE = "kubesec.cluster.static_pod_manifest"
INTERNAL = ("step", "content", "expected_sha256")


class _NodeFailed(Exception):
    """The node half failed; carries its result as it is (message already escaped there)."""

    def __init__(self, result):
        super().__init__(result.get("msg"))
        self.result = result


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = {k: v for k, v in self._task.args.items() if k not in INTERNAL}
        params = {}

        def node(step, **extra):
            out = self._execute_module(module_name=MODULE, module_args=dict(args, step=step, **extra), task_vars=task_vars)
            if out.get("failed"):
                if out.get("changed_meanwhile"):
                    raise _static_pod.ChangedMeanwhile(out.get("msg"))
                raise _NodeFailed(out)
            return out

        def read():
            out = node("read")
            params.update(out["params"])
            return {"text": out["text"], "sha256": out["sha256"]}

        def write(content, digest):
            return {"backup_file": node("write", content=content, expected_sha256=digest).get("backup_file")}

        try:
            reads = [read()]  # the first read also brings the parameters as the node's argument spec normalized them

            def next_read():
                return reads.pop() if reads else read()

            result.update(
                _static_pod.change(
                    next_read,
                    write,
                    params["path"],
                    params["container"],
                    params["flags"],
                    params["volumes"],
                    params["validate"],
                    params["kubernetes_version"],
                    self._task.check_mode,
                    schema_errors,
                )
            )
        except _NodeFailed as exc:
            result.update(exc.result)
        except _static_pod.ManifestError as exc:
            result.update(failed=True, changed=False, msg=printable(str(exc)))
        return result
