# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workload rule settings: the user's ``rules`` option and namespace exclusions -> effective settings per rule.

Private module_utils (leading underscore): the API may change between minor releases.

``resolve_settings(rules, exclude_namespaces, include_system_namespaces)`` validates everything and raises
``RuleConfigError`` naming the rule and the parameter. Standard library only.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import (
    DEFAULT_EXCLUDED_NAMESPACES,
    MODES,
    RULE_SETTING_KEYS,
    RuleConfigError,
    coerce_param,
    compile_names,
    compile_params,
    compile_patterns,
    short,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_registry import RULES, RULES_BY_ID, RULES_BY_NAME


def _rule_for_key(key: Any) -> dict[str, Any]:
    if isinstance(key, str):
        rule = RULES_BY_ID.get(key.strip().upper()) or RULES_BY_NAME.get(key.strip().lower())
        if rule is not None:
            return rule
    known = ", ".join("%s (%s)" % (rule["id"], rule["name"]) for rule in RULES)
    raise RuleConfigError("rules: unknown rule %r; known rules: %s" % (short(key, 80), known))


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise RuleConfigError("%s must be a list of non-empty strings, got %r" % (where, short(value, 80)))
    return list(value)


def global_excluded_namespaces(exclude_namespaces: Any = None, include_system_namespaces: bool = False) -> list[str]:
    """The defaults (kube-system, kube-public, kube-node-lease, falco, trivy-system; none with
    include_system_namespaces) plus the given ones."""
    if not isinstance(include_system_namespaces, bool):
        raise RuleConfigError("include_system_namespaces must be a boolean, got %r" % (short(include_system_namespaces, 80),))
    names = [] if include_system_namespaces else list(DEFAULT_EXCLUDED_NAMESPACES)
    for name in _str_list(exclude_namespaces, "exclude_namespaces"):
        if name not in names:
            names.append(name)
    return names


def resolve_settings(rules: Any = None, exclude_namespaces: Any = None, include_system_namespaces: bool = False) -> dict[str, dict[str, Any]]:
    """Effective settings per rule id: enabled, mode, params (in force), exclusions, compiled matchers."""
    if rules is None:
        rules = {}
    if not isinstance(rules, dict):
        raise RuleConfigError("rules must be a mapping keyed by rule id (KS-WL-001) or short name (resource_limits), got %s" % type(rules).__name__)
    global_ns = global_excluded_namespaces(exclude_namespaces, include_system_namespaces)
    compile_names(global_ns, "exclude_namespaces")
    given: dict[str, tuple[Any, Any]] = {}
    for key, value in rules.items():
        rule = _rule_for_key(key)
        if rule["id"] in given:
            raise RuleConfigError("rules: %r and %r both configure %s (%s)" % (given[rule["id"]][0], key, rule["id"], rule["name"]))
        if value is None:
            value = {}
        elif isinstance(value, bool):
            value = {"enabled": value}
        if not isinstance(value, dict):
            raise RuleConfigError("rules.%s must be a mapping with keys %s (or true/false), got %r" % (key, ", ".join(RULE_SETTING_KEYS), short(value, 80)))
        unknown = sorted(str(item) for item in value if item not in RULE_SETTING_KEYS)
        if unknown:
            raise RuleConfigError("rules.%s (%s): unknown setting(s) %s; expected %s" % (key, rule["id"], ", ".join(unknown), ", ".join(RULE_SETTING_KEYS)))
        given[rule["id"]] = (key, value)

    settings = {}
    for rule in RULES:
        rid = rule["id"]
        key, cfg = given.get(rid, (rid, {}))
        where = "rules.%s (%s)" % (rid, rule["name"])
        enabled = cfg.get("enabled", True)
        if isinstance(enabled, str) and enabled.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
            enabled = enabled.strip().lower() in ("true", "yes", "on")
        if not isinstance(enabled, bool):
            raise RuleConfigError("%s.enabled must be a boolean, got %r" % (where, short(enabled, 80)))
        mode = cfg.get("mode", "audit")
        if mode not in MODES:
            raise RuleConfigError("%s.mode must be one of %s, got %r" % (where, ", ".join(MODES), short(mode, 80)))
        user_params = cfg.get("params") or {}
        if not isinstance(user_params, dict):
            raise RuleConfigError("%s.params must be a mapping, got %r" % (where, short(user_params, 80)))
        unknown = sorted(str(item) for item in user_params if item not in rule["params"])
        if unknown:
            raise RuleConfigError(
                "%s.params: unknown parameter(s) %s; this rule takes %s" % (where, ", ".join(unknown), ", ".join(sorted(rule["params"])) or "no parameters")
            )
        params = {}
        for name, spec in rule["params"].items():
            value = user_params[name] if name in user_params else spec["default"]
            params[name] = coerce_param(rule, name, value)
        if rule["validate"] is not None:  # checks across parameters (KS-WL-006: min_port <= max_port)
            rule["validate"](where, params)
        # a required parameter left empty: the rule cannot judge anything (KS-WL-002 would flag every image)
        missing = [name for name, spec in rule["params"].items() if spec.get("required") and not params[name]]
        rule_ns = _str_list(cfg.get("exclude_namespaces"), where + ".exclude_namespaces")
        namespaces = list(global_ns) + [name for name in rule_ns if name not in global_ns]
        images = _str_list(cfg.get("exclude_images"), where + ".exclude_images")
        settings[rid] = {
            "enabled": enabled,
            "mode": mode,
            "params": params,
            "missing": missing,
            "active": enabled and not missing,
            "exclude_namespaces": namespaces,
            "exclude_images": images,
            "_compiled": compile_params(rule, params),
            "_ns": compile_names(namespaces, where + ".exclude_namespaces"),
            "_images": compile_patterns(images, where + ".exclude_images"),
        }
    return settings
