# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: the inventory's waivers (kubesec_waivers), validated strictly and applied to findings.

An active waiver turns a matching FAIL/WARN finding into WAIVED (the finding keeps what it was); an expired one
waives nothing and is only counted. Each waiver records how many findings it matched (docs/waivers.md).
"""

from __future__ import annotations

import datetime
from typing import Any

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import apply_waiver
from ansible_collections.kubesec.cluster.plugins.module_utils._sources import CIS_SOURCES
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_findings import PROBLEM_STATUSES, Finding, ReportInputError

WAIVER_KEYS = ("id", "reason", "expires", "scope", "allow_wildcard")
SCOPE_KEYS = ("cluster", "node", "namespace", "resource")
RESOURCE_KEYS = ("kind", "name", "namespace", "container")
MATCHED_IDS = 20  # finding ids listed per waiver in the report (the count is exact)


def _parse_date(value: Any, where: str = "waiver") -> datetime.date | None:
    """A real calendar date, YYYY-MM-DD exactly (YAML may already have made it a date); None when empty."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    text = str(value)
    try:
        if len(text) != 10:
            raise ValueError("not 10 characters")
        return datetime.date.fromisoformat(text)
    except ValueError as exc:
        raise ReportInputError("%s: expires %r is not a real date (YYYY-MM-DD)" % (where, value)) from exc


def _waiver_errors(index: int, waiver: Any) -> list[str]:
    """Every problem of one waiver, each naming it: a typo must never widen a waiver (``nodes:`` for ``node:``
    would waive the finding on every node)."""
    if not isinstance(waiver, dict):
        return ["waiver #%d must be a mapping with id and reason, got %s" % (index, type(waiver).__name__)]
    name = "waiver #%d (id %s)" % (index, _formats.safe_text(waiver.get("id", "?"))[:80])
    errors = []
    unknown = sorted(str(k) for k in waiver if k not in WAIVER_KEYS)
    if unknown:
        errors.append("%s: unknown key(s) %s; known: %s" % (name, ", ".join(unknown), ", ".join(WAIVER_KEYS)))
    for key in ("id", "reason"):
        if not isinstance(waiver.get(key), str) or not waiver[key].strip():
            errors.append("%s: needs a non-empty text '%s'" % (name, key))
    allow = waiver.get("allow_wildcard", False)
    if not isinstance(allow, bool):
        errors.append("%s: allow_wildcard must be true or false, got %r" % (name, allow))
    if isinstance(waiver.get("id"), str) and waiver["id"].strip() in ("*", "CIS-*") and allow is not True:
        errors.append("%s: a bare wildcard id waives every finding; set allow_wildcard: true if that is meant" % name)
    scope = waiver.get("scope")
    if scope is not None and not isinstance(scope, dict):
        errors.append("%s: scope must be a mapping of %s" % (name, "/".join(SCOPE_KEYS)))
    elif scope:
        bad = sorted(str(k) for k in scope if k not in SCOPE_KEYS)
        if bad:
            errors.append("%s: unknown scope key(s) %s; known: %s" % (name, ", ".join(bad), ", ".join(SCOPE_KEYS)))
        for key in ("cluster", "node", "namespace"):
            if key in scope and not isinstance(scope[key], str):
                errors.append("%s: scope.%s must be a text, got %r" % (name, key, scope[key]))
        resource = scope.get("resource")
        if resource is not None:
            if not isinstance(resource, dict):
                errors.append("%s: scope.resource must be a mapping of %s" % (name, "/".join(RESOURCE_KEYS)))
            else:
                bad = sorted(str(k) for k in resource if k not in RESOURCE_KEYS)
                if bad:
                    errors.append("%s: unknown scope.resource key(s) %s; known: %s" % (name, ", ".join(bad), ", ".join(RESOURCE_KEYS)))
    try:
        _parse_date(waiver.get("expires"), name)
    except ReportInputError as exc:
        errors.append(str(exc))
    return errors


def _waiver_matches(waiver: dict[str, Any], finding: Finding) -> bool:
    wid = waiver["id"]
    fid = finding["id"]
    if not (fid == wid or fid == "CIS-" + wid or (wid.endswith("*") and fid.startswith(wid[:-1]))):
        return False
    scope = waiver.get("scope") or {}
    for key in ("cluster", "node", "namespace"):
        if scope.get(key) and scope[key] != finding.get(key):
            return False
    resource = scope.get("resource") or {}
    for key, value in resource.items():
        if value and (finding.get("resource") or {}).get(key) != value:
            return False
    return True


class Waivers:
    """The inventory's waivers, validated strictly (every error names the waiver by index and id): active ones
    waive matching FAIL/WARN findings, expired ones are only counted. Each records what it matched."""

    def __init__(self, waivers: Any, today: datetime.date) -> None:
        self.active: list[dict[str, Any]] = []
        self.expired: list[dict[str, Any]] = []
        self._cis_seen: dict[int, set[tuple[str, str]]] = {}
        if waivers is None:
            waivers = []
        if not isinstance(waivers, list):
            raise ReportInputError("waivers must be a list of {id, reason, expires, scope}, got %s" % type(waivers).__name__)
        errors = []
        for index, waiver in enumerate(waivers):
            errors.extend(_waiver_errors(index, waiver))
        if errors:
            raise ReportInputError("invalid waiver(s) in kubesec_waivers: " + "; ".join(errors))
        for index, waiver in enumerate(waivers):
            expires = _parse_date(waiver.get("expires"))
            entry = {
                "index": index,
                "id": waiver["id"].strip(),
                "reason": waiver["reason"],
                "scope": waiver.get("scope") or {},
                "expires": expires.isoformat() if expires else None,
                "matched": 0,
                "matched_ids": [],
            }
            if waiver.get("allow_wildcard"):
                entry["allow_wildcard"] = True
            (self.expired if expires and expires < today else self.active).append(entry)

    def _count(self, waiver: dict[str, Any], finding: Finding) -> None:
        if finding["source"] in CIS_SOURCES and finding.get("node"):
            # kube-bench and the native audit report the same check on the same node: one result, counted once
            seen = self._cis_seen.setdefault(waiver["index"], set())
            key = (finding["id"].replace("CIS-", ""), finding["node"])
            if key in seen:
                return
            seen.add(key)
        waiver["matched"] += 1
        ids = waiver["matched_ids"]
        if len(ids) < MATCHED_IDS and finding["id"] not in ids:
            ids.append(finding["id"])

    def apply(self, finding: Finding, count: bool = True) -> Finding:
        if finding["status"] not in PROBLEM_STATUSES or not (self.active or self.expired):
            return finding
        for waiver in self.active:
            if _waiver_matches(waiver, finding):
                if count:
                    self._count(waiver, finding)
                return apply_waiver(finding, waiver["reason"], waiver["expires"], waiver.get("scope"))
        if count:
            for waiver in self.expired:
                if _waiver_matches(waiver, finding):
                    self._count(waiver, finding)
        return finding

    def info(self) -> dict[str, list[dict[str, Any]]]:
        for waiver in self.active + self.expired:
            waiver["matched_ids"].sort()
        return {"active": self.active, "expired": self.expired}


def apply_waivers(findings: list[Finding], waivers: Any, today: datetime.date) -> tuple[list[Finding], dict]:
    """Waive matching fail/warn findings; report expired waivers (they no longer apply)."""
    waiver_set = Waivers(waivers, today)
    result = [waiver_set.apply(f) for f in findings]
    return result, waiver_set.info()
