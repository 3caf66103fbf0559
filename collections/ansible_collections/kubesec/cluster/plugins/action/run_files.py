# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: write files of a run under one directory in this process (no module process per file)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.kubesec.cluster.plugins.plugin_utils import _run_files

ARGUMENT_SPEC: dict[str, Any] = dict(
    dest=dict(type="path", required=True),
    files=dict(
        type="list",
        elements="dict",
        default=[],
        options=dict(
            path=dict(type="str", required=True),
            content=dict(type="raw", required=True),  # a string; anything else is refused with its place named
        ),
    ),
    directories=dict(type="list", elements="str", default=[]),
    mode=dict(type="str", default="0640"),
    directory_mode=dict(type="str", default="0750"),
)


def _octal(value: str, name: str) -> int:
    try:
        number = int(str(value), 8)
    except ValueError as exc:
        raise AnsibleActionFail("run_files: %s=%r is not an octal mode (e.g. '0640')" % (name, value)) from exc
    if not 0 <= number <= 0o7777:
        raise AnsibleActionFail("run_files: %s=%r is not a file mode" % (name, value))
    return number


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail("run_files: " + "; ".join(validation.error_messages))
        args = validation.validated_parameters
        mode, directory_mode = _octal(args["mode"], "mode"), _octal(args["directory_mode"], "directory_mode")
        try:
            planned = _run_files.plan(args["dest"], args["files"], args["directories"])
            created = _run_files.missing_directories(args["dest"], args["directories"])
            written = [] if self._task.check_mode else _run_files.write(args["dest"], planned, args["directories"], mode, directory_mode)
        except _run_files.RunFilesError as exc:
            raise AnsibleActionFail("run_files (dest %s): %s" % (args["dest"], exc)) from exc
        except OSError as exc:
            raise AnsibleActionFail("run_files: cannot write under %s: %s" % (args["dest"], exc)) from exc
        changed = [item["relative"] for item in planned if item["changed"]]
        result.update(
            changed=bool(changed or created), files=[item["relative"] for item in planned], changed_files=changed, created_directories=created, written=written
        )
        if self._task.diff:
            result["diff"] = _run_files.diff(planned)
        return result
