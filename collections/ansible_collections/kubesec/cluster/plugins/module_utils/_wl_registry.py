# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry of workload rules: every rule family's ``RULES``, in id order, and the views derived from them.

Private module_utils (leading underscore): the API may change between minor releases.

A new family file is added to ``FAMILIES``; a new rule in an existing family needs nothing here. Everything below
is computed from the rule objects (``_wl_rule.rule``), so it cannot disagree with them:
``RULES``, ``RULES_BY_ID``, ``RULES_BY_NAME``, ``KSV_RULE_MAP`` (Trivy KSV id -> our rule, with the equivalence
parameters), ``CONTAINER_CHECKS`` / ``POD_CHECKS`` / ``OBJECT_CHECKS`` (rule id -> check) and
``rule_frameworks()``. Standard library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible_collections.kubesec.cluster.plugins.module_utils import (
    _wl_rules_cluster,
    _wl_rules_container,
    _wl_rules_hygiene,
    _wl_rules_pod,
    _wl_rules_pss,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_rule import frameworks_of

if TYPE_CHECKING:
    from typing import Dict

    Rule = Dict[str, Any]

FAMILIES = (_wl_rules_container, _wl_rules_pod, _wl_rules_cluster, _wl_rules_pss, _wl_rules_hygiene)


def _collect() -> tuple[Rule, ...]:
    rules = sorted((item for family in FAMILIES for item in family.RULES), key=lambda item: item["id"])
    seen: dict[str, str] = {}
    for item in rules:
        for key in (item["id"], item["name"]):
            if key in seen:
                raise ValueError("workload rule %s: %r is also used by %s" % (item["id"], key, seen[key]))
            seen[key] = item["id"]
    return tuple(rules)


RULES = _collect()
RULES_BY_ID = {item["id"]: item for item in RULES}
RULES_BY_NAME = {item["name"]: item for item in RULES}


def _ksv_map() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in RULES:
        for ksv in item["ksv"]:
            if ksv in out:
                raise ValueError("%s is mapped by %s and %s" % (ksv, out[ksv]["rule"], item["id"]))
            entry = {"rule": item["id"]}
            entry.update(item["ksv_params"].get(ksv, {}))
            out[ksv] = entry
    return dict(sorted(out.items()))


# Trivy KSV id (normalized, see normalize_ksv_id) -> our rule. "params": the parameters under which every Trivy
# failure of that check is also a finding of ours, when our defaults are more lenient than Trivy.
KSV_RULE_MAP = _ksv_map()
CONTAINER_CHECKS = {item["id"]: item["container_check"] for item in RULES if item["container_check"]}
POD_CHECKS = {item["id"]: item["pod_check"] for item in RULES if item["pod_check"]}
OBJECT_CHECKS = {item["id"]: (item["object_check"][0], item["object_check"][2]) for item in RULES if item["object_check"]}


def rule_frameworks() -> dict[str, dict[str, Any]]:
    """Rule id -> {"pss", "cis", "nsa", "mitre"}: each a list of {id, name, url, ...} (pss: level and control slug,
    cis: the benchmark version), the mappings the report's framework view is built from."""
    return {item["id"]: frameworks_of(item) for item in RULES}
