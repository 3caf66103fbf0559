# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The normalized finding: one record shape for every source (docs/findings.schema.json).

Private module_utils (leading underscore): the API may change between minor releases.
Pure standard library so it runs on any managed node and in plain pytest.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import hashlib
import math
import json
from typing import Any, Mapping, Optional, Sequence, overload

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._sources import SOURCE_NAMES

STATUSES = ("pass", "fail", "warn", "info", "waived")
SEVERITIES = ("critical", "high", "medium", "low", "info", "unknown")
SOURCES = SOURCE_NAMES  # declared once, in _sources.SOURCE_TABLE
SEVERITY_ORDER = {name: rank for rank, name in enumerate(SEVERITIES)}
RESOURCE_KEYS = ("kind", "name", "namespace", "container")


class FindingError(KubesecError, ValueError):
    """A finding could not be built from the given values (names the field)."""


def severity_from_score(score: Any) -> str:
    """CVSS score -> severity: 0 unknown, 0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10 critical."""
    if score is None or isinstance(score, bool):
        return "unknown"
    try:
        value = float(score)
    except (TypeError, ValueError):
        return "unknown"
    if math.isnan(value) or value <= 0:
        return "unknown"
    if value < 4.0:
        return "low"
    if value < 7.0:
        return "medium"
    if value < 9.0:
        return "high"
    return "critical"


@overload
def normalize_severity(value: Any, default: str = "unknown") -> str:
    """With a text default: always one of SEVERITIES (or that default)."""


@overload
def normalize_severity(value: Any, default: None) -> Optional[str]:
    """With default None: None for a value not understood (the caller decides)."""


def normalize_severity(value: Any, default: Optional[str] = "unknown") -> Optional[str]:
    """Map tool spellings (CRITICAL, Warning, moderate, ...) onto our severities."""
    if value is None:
        return default
    text = str(value).strip().lower()
    aliases = {
        "moderate": "medium",
        "important": "high",
        "negligible": "low",
        "warning": "medium",
        "notice": "low",
        "informational": "info",
        "none": "info",
        "error": "high",
        "emergency": "critical",
        "alert": "critical",
    }
    text = aliases.get(text, text)
    return text if text in SEVERITY_ORDER else default


def fingerprint(
    finding_id: Optional[str], cluster: Optional[str], node: Optional[str], resource: Optional[Mapping[str, Any]], discriminator: Any = None
) -> str:
    """Stable hash of (id, cluster, node, resource): the key for run-to-run comparison.

    `discriminator` separates findings that share all of those, e.g. one CVE in two packages of one container.
    """
    resource = resource or {}
    parts = [finding_id or "", cluster or "", node or ""]
    parts.extend(str(resource.get(key) or "") for key in RESOURCE_KEYS)
    if discriminator:
        parts.append(str(discriminator))
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


def _text(value: Any, field: str, required: bool = False) -> Optional[str]:
    if value is None:
        if required:
            raise FindingError("finding field %r is required" % field)
        return None
    if isinstance(value, (dict, list)):
        raise FindingError("finding field %r must be text, got %s" % (field, type(value).__name__))
    return str(value)


# Bounds on free text from tools and clusters (docs/findings.md "Bounded text"): a longer value is cut, ends in
# CLIP_MARK with the number of characters left out, and the finding lists the field in `clipped`.
TEXT_LIMITS = {"title": 512, "description": 8192, "remediation": 8192, "resource": 512, "evidence": 4096}
CLIP_MARK = "... [%d more characters]"
EVIDENCE_DEPTH = 8  # evidence nested deeper than this is cut too (named in `clipped`)


def clip(value: str, limit: int) -> tuple[str, bool]:
    """(text, clipped?) with at most `limit` characters kept."""
    if len(value) <= limit:
        return value, False
    return value[:limit] + CLIP_MARK % (len(value) - limit), True


def _clip_evidence(value: Any, path: str, clipped: list[str], depth: int = 0) -> Any:
    if isinstance(value, str):
        text, cut = clip(value, TEXT_LIMITS["evidence"])
        if cut:
            clipped.append(path)
        return text
    if isinstance(value, (dict, list)) and depth >= EVIDENCE_DEPTH:
        clipped.append(path)
        return "[nested deeper than %d levels]" % EVIDENCE_DEPTH
    if isinstance(value, dict):
        return dict((key, _clip_evidence(item, "%s.%s" % (path, key), clipped, depth + 1)) for key, item in value.items())
    if isinstance(value, list):
        return [_clip_evidence(item, "%s[%d]" % (path, index), clipped, depth + 1) for index, item in enumerate(value)]
    return value


def _bounded(value: Optional[str], field: str, limit: int, clipped: list[str]) -> Optional[str]:
    if value is None:
        return None
    text, cut = clip(value, limit)
    if cut:
        clipped.append(field)
    return text


def make_finding(
    finding_id: Any,
    source: str,
    title: Any,
    status: str,
    severity: str = "unknown",
    cluster: Optional[str] = None,
    node: Optional[str] = None,
    namespace: Optional[str] = None,
    resource: Optional[Mapping[str, Any]] = None,
    description: Any = "",
    remediation: Any = "",
    references: Optional[Sequence[Any]] = None,
    evidence: Optional[Mapping[str, Any]] = None,
    score: Any = None,
    extra: Optional[Mapping[str, Any]] = None,
    discriminator: Any = None,
) -> dict[str, Any]:
    """Build one normalized finding dict, validating enumerations and filling the fingerprint."""
    finding_id = _text(finding_id, "id", required=True)
    if source not in SOURCES:
        raise FindingError("finding source %r is not one of %s" % (source, ", ".join(SOURCES)))
    if status not in STATUSES:
        raise FindingError("finding status %r is not one of %s" % (status, ", ".join(STATUSES)))
    if severity not in SEVERITY_ORDER:
        raise FindingError("finding severity %r is not one of %s" % (severity, ", ".join(SEVERITIES)))
    clipped: list[str] = []  # a local annotation: never evaluated, fine on the node's Python 3.8
    res = {}
    for key in RESOURCE_KEYS:
        res[key] = _bounded(_text((resource or {}).get(key), "resource." + key), "resource." + key, TEXT_LIMITS["resource"], clipped)
    if score is not None:
        try:
            score = float(score)
        except (TypeError, ValueError):
            raise FindingError("finding score %r is not a number" % (score,)) from None
    finding = {
        "id": finding_id,
        "source": source,
        "title": _bounded(_text(title, "title", required=True), "title", TEXT_LIMITS["title"], clipped),
        "description": _bounded(_text(description, "description") or "", "description", TEXT_LIMITS["description"], clipped),
        "remediation": _bounded(_text(remediation, "remediation") or "", "remediation", TEXT_LIMITS["remediation"], clipped),
        "references": [str(ref) for ref in (references or []) if ref],
        "status": status,
        "severity": severity,
        "cluster": _text(cluster, "cluster"),
        "node": _text(node, "node"),
        "namespace": _text(namespace, "namespace"),
        "resource": res,
        "evidence": _clip_evidence(dict(evidence or {}), "evidence", clipped),
        "score": score,
        "fingerprint": fingerprint(finding_id, cluster, node, res, discriminator),
    }
    if extra:
        for key, value in extra.items():
            if key in finding:
                raise FindingError("extra finding field %r would overwrite a core field" % key)
            finding[key] = value
    if clipped:
        finding["clipped"] = clipped
    return finding


def apply_waiver(finding: Mapping[str, Any], reason: Any, expires: Any = None, scope: Any = None) -> dict[str, Any]:
    """Mark a finding waived, keeping what it was (the report shows both)."""
    waived = dict(finding)
    waived["original_status"] = finding["status"]
    waived["status"] = "waived"
    waived["waiver"] = {"reason": reason, "expires": expires, "scope": scope}
    return waived


def count_statuses(findings: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """{pass, fail, warn, info, waived: n, total: n} of a list of findings (the modules' ``summary`` return)."""
    counts = dict((status, 0) for status in STATUSES)
    for finding in findings:
        counts[finding["status"]] += 1
    counts["total"] = len(findings)
    return counts


def dumps(findings: Any) -> str:
    """Deterministic JSON for findings files (sorted keys, UTF-8)."""
    return json.dumps(findings, indent=1, sort_keys=True, ensure_ascii=False)
