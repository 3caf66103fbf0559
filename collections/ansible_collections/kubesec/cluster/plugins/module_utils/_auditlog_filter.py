# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the audit-log query: exact predicates on a decoded event, and the literal byte needles the scan
pre-filters lines with before decoding them (a line without any needle of a filter cannot match it).

Private module_utils (node side, standard library only).
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any, Mapping

from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_common import (
    _F_CODE,
    _F_NAME,
    _F_NS,
    _F_RES,
    _F_STAGE,
    _F_SUB,
    _F_USER,
    _F_VERB,
    DEFAULT_MAX_LINE_BYTES,
    FILTER_KEYS,
    FINAL_STAGES,
    ORDER_TOLERANCE,
    STAGES,
    AuditLogError,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_time import canon

if TYPE_CHECKING:
    from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_decode import Extras, Fields

_NEEDLE_SAFE = re.compile(r"^[\x20-\x7e]+$")
_NEEDLE_UNSAFE_CHARS = set('"\\<>&')  # Go escapes <, >, & (HTML-safe); nobody escapes '/' in audit logs


def _as_list(value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise AuditLogError("%s: expected a list, got %s" % (key, type(value).__name__))
    return list(value)


_GLOB_CHARS = frozenset("*?[")


class Query:
    """Normalized filters: exact predicates plus literal byte needles for the pre-filter."""

    values: dict[str, Any]
    user_globs: tuple[tuple[str, re.Pattern[str]], ...]

    def __init__(self, filters: Mapping[str, Any] | None = None) -> None:
        filters = dict(filters or {})
        unknown = sorted(set(filters) - set(FILTER_KEYS))
        if unknown:
            raise AuditLogError("unknown filter(s) %s; known: %s" % (", ".join(unknown), ", ".join(FILTER_KEYS)))
        self.values = {}
        for key in FILTER_KEYS:
            items = _as_list(filters.get(key), key)
            if not items:
                continue
            if key == "response_code":
                codes = []
                for item in items:
                    try:
                        if isinstance(item, bool) or (isinstance(item, float) and item != int(item)):
                            raise ValueError
                        codes.append(int(str(item).strip()))
                    except (TypeError, ValueError):
                        raise AuditLogError("response_code: expected integers like 403, got %r" % (item,)) from None
                items = codes
            else:
                items = [str(item) for item in items]
                if key == "stage":
                    for item in items:
                        if item not in STAGES:
                            raise AuditLogError("stage: %r is not one of %s" % (item, ", ".join(STAGES)))
                if key == "user_agent" and any(item == "" for item in items):
                    raise AuditLogError("user_agent: empty substring would match everything")
            self.values[key] = frozenset(items) if key != "user_agent" else tuple(items)
        # user: an item with *, ? or [ is a shell-style pattern (fnmatch, case-sensitive): alice* matches
        # alice@example.com; every other item is an exact user name.
        self.user_globs = ()
        if "user" in self.values:
            globs = tuple(sorted(u for u in self.values["user"] if _GLOB_CHARS.intersection(u)))
            if globs:
                self.user_globs = tuple((g, re.compile(fnmatch.translate(g))) for g in globs)
                self.values["user"] = frozenset(u for u in self.values["user"] if u not in globs)
        self.needles = self._needles()
        self.extras = any(k in self.values for k in ("group", "source_ip", "user_agent", "user"))
        self.final_only = "stage" not in self.values or bool(self.values["stage"] & set(FINAL_STAGES))

    def _needles(self) -> dict[str, list[bytes]]:
        """{filter: [bytes]}: every matching line contains at least one of its needles (JSON as written)."""
        out: dict[str, list[bytes]] = {}
        for key, items in self.values.items():
            needles: list[bytes] = []
            usable = True
            for item in items:
                if key == "response_code":
                    # one scan per code class (401 and 403 share "code":40); the decoded code is compared exactly
                    stem = b"%d" % (item // 10) if item >= 100 else b"%d" % item
                    for needle in (b'"code":' + stem, b'"code": ' + stem):
                        if needle not in needles:
                            needles.append(needle)
                    continue
                text = str(item)
                if text == "" or not _NEEDLE_SAFE.match(text) or _NEEDLE_UNSAFE_CHARS.intersection(text):
                    usable = False  # could be written escaped: no safe literal, no pre-filter from this key
                    break
                needles.append(text.encode("ascii") if key == "user_agent" else b'"' + text.encode("ascii") + b'"')
            if key == "user" and usable:
                for glob, _regex in self.user_globs:
                    prefix = re.split(r"[*?\[]", glob, maxsplit=1)[0]
                    if prefix == "" or not _NEEDLE_SAFE.match(prefix) or _NEEDLE_UNSAFE_CHARS.intersection(prefix):
                        usable = False  # a pattern without a safe literal start: no pre-filter from this key
                        break
                    needles.append(b'"' + prefix.encode("ascii"))
            if usable and needles:
                out[key] = needles
        return out

    def match(self, t: Fields, extras: Extras | None) -> bool:
        """Exact match of one decoded event (fields tuple, extras) against every filter."""
        v = self.values
        if "verb" in v and t[_F_VERB] not in v["verb"]:
            return False
        if "resource" in v and t[_F_RES] not in v["resource"]:
            return False
        if "subresource" in v and t[_F_SUB] not in v["subresource"]:
            return False
        if "namespace" in v and (t[_F_NS] if t[_F_NS] is not None else "") not in v["namespace"]:
            return False
        if "name" in v and t[_F_NAME] not in v["name"]:
            return False
        if "stage" in v and t[_F_STAGE] not in v["stage"]:
            return False
        if "response_code" in v and t[_F_CODE] not in v["response_code"]:
            return False
        if extras is None:
            return True
        groups, ips, agent, imp = extras
        if (
            "user" in v
            and t[_F_USER] not in v["user"]
            and imp not in v["user"]
            and not (self.user_globs and any(isinstance(name, str) and regex.match(name) for _glob, regex in self.user_globs for name in (t[_F_USER], imp)))
        ):
            return False
        if "group" in v and not v["group"].intersection(g for g in groups if isinstance(g, str)):
            return False
        if "source_ip" in v and not v["source_ip"].intersection(i for i in ips if isinstance(i, str)):
            return False
        if "user_agent" in v:
            if not isinstance(agent, str) or not any(s in agent for s in v["user_agent"]):
                return False
        return True


class _Ctx:
    """Per-query constants shared by the scanners (inherited by the forked worker)."""

    def __init__(self, query: Query, from_us: int, to_us: int, slack_us: int, backend: str, max_line: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.query = query
        self.max_line = max_line
        self.from_s = canon(from_us)
        self.to_s = canon(to_us)
        self.stage_lo_s = canon(from_us - ORDER_TOLERANCE * 1000000)
        self.stage_hi_s = canon(to_us + slack_us + ORDER_TOLERANCE * 1000000)
        self.backend = backend
