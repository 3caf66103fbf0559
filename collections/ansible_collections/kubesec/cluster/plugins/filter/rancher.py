# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for k3s / RKE2 servers (logic in plugin_utils/_rancher_control_plane.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _rancher_control_plane


def rancher_control_plane_plan(flags_before, distribution, selected, controls, settings):
    try:
        return _rancher_control_plane.plan(distribution, flags_before or {}, list(selected or []), dict(controls or {}), dict(settings or {}))
    except _rancher_control_plane.RancherPlanError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule(object):
    def filters(self):
        return {"rancher_control_plane_plan": rancher_control_plane_plan}
