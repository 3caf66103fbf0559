# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workload rules KS-WL-001..030: the names other code imports, from where they now live.

Private module_utils (leading underscore): the API may change between minor releases.

The rules are one object each (``_wl_rule.rule``) in the family files ``_wl_rules_container.py``,
``_wl_rules_pod.py``, ``_wl_rules_cluster.py``, ``_wl_rules_pss.py`` and ``_wl_rules_hygiene.py``; the registry
(``_wl_registry.py``) derives ``RULES``, ``KSV_RULE_MAP`` and the check tables from them; the helpers, parsers and
parameter validation are in ``_wl_common.py``. ``docs/workload-rules.md`` is generated from the registry
(``scripts/workload_rules_doc.py``; a unit test keeps them equal). Standard library only.
"""

from __future__ import annotations

from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import (  # noqa: F401 - re-exported  # pylint: disable=unused-import
    CONTAINER_KINDS,
    DEFAULT_EXCLUDED_NAMESPACES,
    MODES,
    PSS,
    RULE_SETTING_KEYS,
    TYPE_TEXT,
    RuleConfigError,
    api_group,
    as_dict,
    as_int,
    as_list,
    caps_of,
    coerce_param,
    compile_names,
    compile_params,
    compile_patterns,
    effective_apparmor,
    host_matches_tls,
    host_path_under,
    image_candidates,
    is_false,
    is_true,
    ksv_url,
    match_image,
    match_names,
    match_patterns,
    meta_of,
    normalize_capability,
    normalize_host_path,
    normalize_ksv_id,
    param,
    parse_image,
    parse_port_list,
    parse_quantity,
    port_allowed,
    prefix_match,
    profile_allowed,
    short,
    violation,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_registry import (  # noqa: F401 - re-exported  # pylint: disable=unused-import
    CONTAINER_CHECKS,
    KSV_RULE_MAP,
    OBJECT_CHECKS,
    POD_CHECKS,
    RULES,
    RULES_BY_ID,
    RULES_BY_NAME,
    rule_frameworks,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_rules_cluster import (  # noqa: F401  # pylint: disable=unused-import
    BOOTSTRAP_CLUSTER_ROLES,
    BOOTSTRAP_LABEL,
    BOOTSTRAP_ROLES,
    is_bootstrap_role,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_rules_container import (  # noqa: F401  # pylint: disable=unused-import
    ENV_REFERENCE,
    SECRET_ENV_NAME,
    SECRET_ENV_NAME_EXEMPT,
    SECRET_ENV_URL,
    literal_secret_env,
)
