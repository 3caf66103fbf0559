# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn CIS control data into the list of controls a run should act on."""

from __future__ import annotations


def cis_tag(control_id):
    """'4.2.1' -> 'cis_4_2_1' (the tag of one control)."""
    return "cis_" + str(control_id).replace(".", "_")


def _tags_of(control_id):
    """A control answers to its own tag and to the tags of its sections: cis_4_2_1, cis_4_2, cis_4, cis."""
    parts = str(control_id).split(".")
    return {cis_tag(".".join(parts[:n])) for n in range(1, len(parts) + 1)} | {"cis"}


def cis_selected(control_ids, toggles=None, run_tags=None, skip_tags=None):
    """Controls that are enabled in the toggles dict and selected by the run's tags.

    Data-driven tasks loop over many controls, so Ansible's own tag filter cannot pick single items; the
    task carries every control tag and this filter applies --tags / --skip-tags per item.
    """
    toggles = toggles or {}
    run_tags = set(run_tags or ["all"])
    skip_tags = set(skip_tags or [])
    selected = []
    for control_id in control_ids:
        toggle = toggles.get(str(control_id)) or {}
        if isinstance(toggle, dict) and toggle.get("enabled") is False:
            continue
        tags = _tags_of(control_id)
        if tags & skip_tags:
            continue
        if "all" in run_tags or tags & run_tags or run_tags & {"node_hardening", "hardening"}:
            selected.append(str(control_id))
    return selected


class FilterModule(object):
    def filters(self):
        return {"cis_selected": cis_selected, "cis_tag": cis_tag}
