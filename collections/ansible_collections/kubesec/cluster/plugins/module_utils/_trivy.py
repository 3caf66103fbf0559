# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trivy findings: what the Trivy Operator reader and the Trivy CLI reader share (the base collector).

Private module_utils (leading underscore): the API may change between minor releases. The two readers:

* ``_trivy_operator``: Trivy Operator report objects (``aquasecurity.github.io/v1alpha1``) from the API or exports;
* ``_trivy_cli``: Trivy CLI ``--format json`` results (``trivy image|fs|config|repo|k8s``), and running the CLI.

Both build findings through ``FindingSet`` (this module), the base collector: counted skips and notes, severity
and score bookkeeping, one ``make_finding`` call per entry (an invalid field skips the entry, named), the lone
surrogate guard per entry, the summary and the cap on returned findings.

Rules (see docs: /work/shared/reference/formats.md sections 2 and 3):

* Check ids are normalized: ``KSV001``, ``KSV-0001``, ``AVD-KSV-0001`` -> ``KSV-0001`` (any ``PREFIX`` + number);
  CLI results prefer ``AVDID`` (trivy-checks v1 calls the kube-apiserver AlwaysPullImages check ``KSV0012`` while
  its AVD id is ``AVD-KCV-0012``; reports that only carry ``KSV0012`` are mapped to ``KCV-0012`` too).
* Severity: the reported one; when missing or ``UNKNOWN`` it is derived from the CVSS score
  (``severity_from_score``); an unrecognized spelling becomes ``unknown`` and is counted.
* Status: vulnerabilities and exposed secrets ``fail``; checks ``pass`` when ``success: true`` (reports only list
  passed checks when the operator records them) else ``fail``; CLI misconfigurations ``PASS``/``FAIL``, and
  ``EXCEPTION`` becomes ``waived``.
* Bad input never crashes: syntax errors raise ``TrivyInputError`` naming the file and document; entries with
  missing fields are skipped and counted (``skips`` and ``warnings``; not ``skipped``, which would make Ansible
  report the task as skipped).
* The matched text of exposed secrets (``match``, ``Match``, ``Code``) is never copied into findings.
* Titles and descriptions are kept as plain text, unescaped: escaping is the report renderer's job.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import (
    SEVERITIES,
    SEVERITY_ORDER,
    make_finding,
    normalize_severity,
    severity_from_score,
)

Finding = Dict[str, Any]

MAX_REFERENCES = 10
SKIP_EXAMPLES = 3

_CHECK_ID = re.compile(r"^(?:AVD-)?([A-Za-z]{2,6})-?0*(\d{1,6})$")
_ID_FIXUPS = {"KSV0012": "KCV-0012"}


class TrivyInputError(KubesecError, ValueError):
    """Input that cannot be read at all (syntax error, wrong shape); the message names the input."""


class TrivyRunError(KubesecError, RuntimeError):
    """The Trivy CLI failed; the message carries its exit code and stderr."""


# ----------------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------------
def normalize_check_id(value: Any) -> Optional[str]:
    """KSV001 / KSV-0001 / AVD-KSV-0001 / ksv001 -> KSV-0001; other ids (rule names) are returned stripped."""
    if value is None:
        return None
    text = (_text(value) or "").strip()
    if not text:
        return None
    fixed = _ID_FIXUPS.get(text.upper())
    if fixed:
        return fixed
    match = _CHECK_ID.match(text)
    if not match:
        return text
    return "%s-%04d" % (match.group(1).upper(), int(match.group(2)))


def _text(value: Any) -> Optional[str]:
    """Scalar -> str (datetime as RFC 3339), None/'' -> None; containers -> None."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None or value.utcoffset() == datetime.timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)
    return text if text.strip() else None


def _mapping(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _score(value: Any) -> Tuple[Optional[float], bool]:
    """(score or None, invalid?) - a CVSS score must be a number in 0..10."""
    if value is None or value == "":
        return None, False
    if isinstance(value, bool):
        return None, True
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, True
    if math.isnan(number) or number < 0 or number > 10:
        return None, True
    return number, False


def score_from_cvss(cvss: Any, prefer: Optional[str] = None) -> Optional[float]:
    """A CVSS base score from Trivy's vendor map {vendor: {V3Score, V40Score, V2Score}}.

    Vendor order: ``prefer`` (the SeveritySource), then ``nvd``, then the others alphabetically; V3 scores are
    preferred over V4.0 and V2. Zero and invalid scores are ignored.
    """
    if not isinstance(cvss, dict) or not cvss:
        return None
    vendors = []
    for vendor in [prefer, "nvd", *sorted(str(k) for k in cvss)]:
        if vendor and vendor in cvss and vendor not in vendors:
            vendors.append(vendor)
    for field in ("V3Score", "V40Score", "V2Score"):
        for vendor in vendors:
            score = _score(_mapping(cvss.get(vendor)).get(field))[0]
            if score:
                return score
    return None


def resolve_severity(raw: Any, score: Optional[float]) -> Tuple[str, str]:
    """(severity, origin): origin is 'reported', 'score' (derived from CVSS), 'unrecognized' or 'none'."""
    text = _text(raw)
    if text and text.strip().upper() != "UNKNOWN":
        severity = normalize_severity(text, default=None)
        if severity is not None:
            return severity, "reported"
        return "unknown", "unrecognized"
    derived = severity_from_score(score)
    if derived != "unknown":
        return derived, "score"
    return "unknown", "none"


def _references(*sources: Any) -> List[str]:
    refs = []
    for source in sources:
        values = source if isinstance(source, list) else [source]
        for value in values:
            text = _text(value)
            if text and text not in refs:
                refs.append(text)
    return refs[:MAX_REFERENCES]


def _discriminator(evidence: Optional[Dict[str, Any]]) -> Optional[str]:
    """What tells apart two hits of one check on one resource: the package (one CVE in two packages of an
    image) or the place in the file (one misconfiguration at several lines)."""
    evidence = evidence or {}
    parts = [str(evidence[key]) for key in ("package", "package_path", "file", "start_line") if evidence.get(key)]
    return "|".join(parts) or None


def _clean(mapping: Dict[str, Any]) -> Dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None and value != [] and value != ""}


# A lone UTF-16 surrogate ("\\ud800" in JSON) decodes to a str that cannot be written as UTF-8: the record that
# holds one is left out and named, instead of failing the whole module when Ansible encodes its result.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Strict UTF-8 decoding lets no surrogate through: only an escape (JSON \\ud800, YAML \\ud800 or \\U0000d800) can
# make one, so records are only checked when the text has such an escape (the check costs ~70% on 50k records).
_SURROGATE_ESCAPE = re.compile(r"\\(?:u|U0000)[dD][89a-fA-F]")
_MAX_WALK = 10000


def _printable(text: Any) -> Any:
    """Locations are built from names in the input: a lone surrogate there is shown as its escape (\\udfff)."""
    if isinstance(text, str) and _SURROGATE.search(text):
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def has_bad_text(value: Any) -> bool:
    """Whether a finding-sized value holds a lone surrogate (walks at most _MAX_WALK nodes, no recursion)."""
    stack = [value]
    seen = 0
    while stack and seen < _MAX_WALK:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


BAD_TEXT = "record with text that is not valid Unicode (a lone UTF-16 surrogate escape such as \\ud800)"


TOO_DEEP = "nested deeper than the parser allows (about 1000 levels); no Trivy output is shaped like that"


def _count(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def may_hold_surrogates(text: Optional[str]) -> bool:
    """Whether JSON/YAML text has an escape that can decode to a lone surrogate (see _SURROGATE_ESCAPE)."""
    return bool(_SURROGATE_ESCAPE.search(text or ""))


def vulnerability_title(vuln_id: str, title: Optional[str], package: Optional[str], installed: Optional[str]) -> str:
    """The reported title, else '<id> in <package> <version>'."""
    return title or "%s in %s" % (vuln_id, " ".join(t for t in (package, installed) if t) or "an unnamed package")


# ----------------------------------------------------------------------------------------------------------
# the base collector: findings with counted skips
# ----------------------------------------------------------------------------------------------------------
class FindingSet:
    """The base collector: findings plus the bookkeeping every input path shares (skips, warnings, counters).

    Subclasses read one input format each and call ``make`` per entry (inside ``guarded``).
    """

    def __init__(self, cluster: Optional[str] = None) -> None:
        self.cluster = cluster
        self.findings: List[Finding] = []
        self.skips: Dict[str, Dict[str, Any]] = {}
        self.notes: Dict[str, Dict[str, Any]] = {}
        self.counters = {"unrecognized_severity": 0, "severity_from_score": 0, "invalid_score": 0}
        self.check_text = True  # look for lone surrogates in each record (see _SURROGATE_ESCAPE)

    def skip(self, reason: str, location: str, count: int = 1) -> None:
        reason, location = _printable(reason), _printable(location)
        entry = self.skips.setdefault(reason, {"reason": reason, "count": 0, "examples": []})
        entry["count"] += count
        if len(entry["examples"]) < SKIP_EXAMPLES:
            entry["examples"].append(location)

    def note(self, message: str, location: str) -> None:
        """A warning counted per message (e.g. 'checks without success flag treated as failed')."""
        entry = self.notes.setdefault(_printable(message), {"count": 0, "first": _printable(location)})
        entry["count"] += 1

    def severity(self, raw: Any, score: Optional[float], location: str) -> Tuple[str, str]:
        severity, origin = resolve_severity(raw, score)
        if origin == "unrecognized":
            self.counters["unrecognized_severity"] += 1
            self.note("unrecognized severity values were counted as unknown", location)
        elif origin == "score":
            self.counters["severity_from_score"] += 1
        return severity, origin

    def score(self, value: Any, location: str) -> Optional[float]:
        score, invalid = _score(value)
        if invalid:
            self.counters["invalid_score"] += 1
            self.note("scores that are not numbers between 0 and 10 were dropped", location)
        return score

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def make(
        self,
        where: str,
        finding_id: str,
        source: str,
        title: str,
        status: str,
        severity: str,
        namespace: Optional[str],
        resource: Optional[Dict[str, Any]],
        **kwargs: Any,
    ) -> Optional[Finding]:
        """make_finding with the discriminator from its evidence; None (the entry skipped, named) for an invalid
        field (FindingError: a value of the wrong type in an otherwise usable entry)."""
        try:
            return make_finding(
                finding_id,
                source,
                title,
                status,
                severity=severity,
                cluster=self.cluster,
                namespace=namespace,
                resource=resource,
                discriminator=_discriminator(kwargs.get("evidence")),
                **kwargs,
            )
        except ValueError as exc:
            self.skip("entry with an invalid field (%s)" % exc, where)
            return None

    def guarded(self, where: str, handler: Callable[..., Any], *args: Any) -> None:
        """Run one entry's handler; what it added is left out and named when its text is not valid Unicode."""
        before = len(self.findings)
        handler(*args)
        if self.check_text and len(self.findings) > before and has_bad_text(self.findings[before:]):
            del self.findings[before:]
            self.skip(BAD_TEXT, where)

    def warnings(self) -> List[str]:
        lines = []
        for entry in self.skips.values():
            lines.append("skipped %d: %s (first: %s)" % (entry["count"], entry["reason"], entry["examples"][0]))
        for message, entry in self.notes.items():
            lines.append("%d %s (first: %s)" % (entry["count"], message, entry["first"]))
        return lines

    def summary(self) -> Dict[str, Any]:
        by_severity = dict((name, 0) for name in SEVERITIES)
        by_status: Dict[str, int] = {}
        by_source: Dict[str, int] = {}
        for finding in self.findings:
            by_status[finding["status"]] = by_status.get(finding["status"], 0) + 1
            by_source[finding["source"]] = by_source.get(finding["source"], 0) + 1
            if finding["status"] == "fail":
                by_severity[finding["severity"]] += 1
        summary = {
            "findings": len(self.findings),
            "by_severity": by_severity,
            "by_status": by_status,
            "by_source": by_source,
            "skipped": sum(entry["count"] for entry in self.skips.values()),
        }
        summary.update(self.counters)
        return summary

    def select(self, max_findings: Optional[int] = None) -> Tuple[List[Finding], bool]:
        """(returned findings, truncated?) - with a cap, the most severe failing findings are kept."""
        if max_findings is None or max_findings < 0 or len(self.findings) <= max_findings:
            return self.findings, False
        order = sorted(range(len(self.findings)), key=lambda i: (self.findings[i]["status"] != "fail", SEVERITY_ORDER[self.findings[i]["severity"]], i))
        keep = sorted(order[:max_findings])
        return [self.findings[i] for i in keep], True
