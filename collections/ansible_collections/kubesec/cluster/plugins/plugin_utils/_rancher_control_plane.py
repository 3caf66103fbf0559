# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: which control-plane flags kubesec's drop-in must carry on a k3s / RKE2 server.

Input is what rancher_config reads on the node (flags_before: the flags the process passes each component now, the
distribution's own defaults included) and the role's control table (roles/control_plane_hardening/vars/main.yml,
__control_plane_hardening_rancher_flags). A control is acted on only when it is selected and does not pass now,
so a setting the operator or the distribution already made (RKE2's --terminated-pod-gc-threshold=1000, a longer
--audit-log-maxage) is never replaced and a second run plans nothing.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

DISTRIBUTIONS = ("k3s", "rke2")


class RancherPlanError(KubesecError, ValueError):
    """The control table or a setting cannot be used (names the control and the setting)."""


def _int(value: Any) -> Optional[int]:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def passes(control: dict[str, Any], current: Optional[str]) -> bool:
    """Whether a flag's current value satisfies the control: set and not empty, and at least `at_least` when given."""
    if current is None or str(current).strip() == "":
        return False
    if "at_least" in control:
        number = _int(current)
        return number is not None and number >= int(control["at_least"])
    return True


def plan(
    distribution: str,
    flags_before: dict[str, dict[str, str]],
    selected: list[str],
    controls: dict[str, dict[str, Any]],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """{args: {component: {--flag: value}}, options: {option: value}, fix: [ids], passing: [ids], policy_file}.

    policy_file is the audit policy path the run makes the API server load (3.2.1 fixed), else ''."""
    if distribution not in DISTRIBUTIONS:
        raise RancherPlanError("distribution %r is not k3s or rke2" % (distribution,))
    args: dict[str, dict[str, Any]] = {}
    options: dict[str, Any] = {}
    fix: list[str] = []
    passing: list[str] = []
    policy_file = ""
    for control_id in sorted(set(selected) & set(controls), key=lambda text: [int(part) for part in text.split(".")]):
        control = controls[control_id]
        component, flag, setting = control.get("component"), control.get("flag"), control.get("setting")
        if not component or not flag or not setting:
            raise RancherPlanError("control %s needs component, flag and setting in the control table" % control_id)
        if passes(control, (flags_before.get(component) or {}).get(flag)):
            passing.append(control_id)
            continue
        if setting not in settings or settings[setting] in (None, ""):
            raise RancherPlanError("control %s: setting %r is empty (control_plane_hardening_%s)" % (control_id, setting, setting))
        value = settings[setting]
        number = _int(value)
        if "at_least" in control and (number is None or number < int(control["at_least"])):
            raise RancherPlanError(
                "control %s: control_plane_hardening_%s is %r, which does not pass it (%s must be at least %s)"
                % (control_id, setting, value, flag, control["at_least"])
            )
        option = (control.get("options") or {}).get(distribution)
        if option:
            options[option] = value
        else:
            args.setdefault(component, {})[flag] = value
        if flag == "--audit-policy-file":
            policy_file = str(value)
        fix.append(control_id)
    return {"args": args, "options": options, "fix": fix, "passing": passing, "policy_file": policy_file}
