# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every part of the audit-log query shares: its error, the audit.k8s.io/v1 vocabulary, limits, the field
tuple's layout and the two text helpers every output path uses (_plain, _clip).

Private module_utils (node side, standard library only). The query itself: ``_auditlog.run_query``.
"""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

DEFAULT_PATH = "/var/log/kubernetes/audit/audit.log"
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
FINAL_STAGES = ("ResponseComplete", "Panic")
FILTER_KEYS = ("user", "group", "verb", "resource", "subresource", "namespace", "name", "response_code", "source_ip", "user_agent", "stage")
DEFAULT_SINCE = 3600
DEFAULT_SLACK = 3600  # watches end at most 2 x --min-request-timeout (1800 s) after they start
ORDER_TOLERANCE = 60  # seconds of stageTimestamp disorder tolerated by the seek / file skip
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version", "/openapi/v2", "/openapi/v3")
SECRET_READ_VERBS = ("get", "list", "watch")
POD_ATTACH_SUBRESOURCES = ("exec", "attach", "portforward")
RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
TOP = 10
DEFAULT_MAX_LINE_BYTES = 32 << 20  # one event line longer than this is skipped and counted (stats.oversized_lines)
MAX_TEXT = 2048  # characters of one free-text value in events, summary and findings (then clipped)
MAX_SESSIONS = 100000  # exec/attach/portforward sessions tracked for "still open"

# The hot fields of one event, as the decoder returns them (a plain tuple: the scan builds a million per GiB):
# (username, verb, resource, subresource, apiGroup, namespace, name, code, stage, received, stageTimestamp)
_F_USER, _F_VERB, _F_RES, _F_SUB, _F_GROUP, _F_NS, _F_NAME, _F_CODE, _F_STAGE, _F_RCV, _F_STS = range(11)

_SCALARS = (str, int, float, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)


class AuditLogError(KubesecError):
    """The query cannot run (bad option value, missing log); the message names the input."""


class _NotEvent(ValueError):
    """Valid JSON, but not an object (so not an audit Event)."""


def _plain(value: Any) -> Any:
    """Keep strings/numbers/None; anything else from hostile input becomes its JSON text."""
    if type(value) in _SCALARS:
        return value
    try:
        return json.dumps(value if type(value) in (dict, list, bool) else str(value), sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def _clip(value: Any, limit: int = MAX_TEXT) -> Any:
    """Text cut to `limit` characters, saying how much was cut; anything else unchanged."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "... [%d more characters]" % (len(value) - limit)
    return value


def _text_key(value: Any) -> Any:
    return _clip(value) if isinstance(value, str) else value
