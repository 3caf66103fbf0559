# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small parsers every area needs, written once: Go durations, Kubernetes versions, DNS-1123 names, a GC pause.

Node side: standard library only (the YAML import guard is _safeyaml). Each caller keeps its own error class and
wording by catching ParseError (a ValueError) and re-raising with its field name.

Durations come in three dialects, chosen by the caller with `units`:
- GO: exactly Go's time.ParseDuration (what the kubelet, Trivy Operator and every Go tool accept): an optional
  sign, decimal numbers (1.5h, .5h, 1.h), units ns us µs μs ms s m h, case-sensitive, no spaces, a bare "0".
- DAYS: for people typing a time window (audit-log --since): GO's units plus d and w, any case, spaces between
  parts allowed, no sign.
- WORDS: DAYS plus the spelled-out units (1 hour, 15min, 2 weeks) that Falco's own settings use.
All return integer nanoseconds (Go truncates the fraction below 1 ns; so does this).
"""

from __future__ import annotations

import contextlib
import gc
import re
from typing import Any, Dict, Iterator, Optional, Pattern, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 604800 * 10**9}

GO = "go"
DAYS = "days"
WORDS = "words"
_UNITS = {
    GO: {"ns": "ns", "us": "us", "\u00b5s": "us", "\u03bcs": "us", "ms": "ms", "s": "s", "m": "m", "h": "h"},
}
_UNITS[DAYS] = dict(_UNITS[GO], d="d", w="w")
_UNITS[WORDS] = dict(
    _UNITS[DAYS],
    nanosecond="ns",
    nanoseconds="ns",
    microsecond="us",
    microseconds="us",
    millisecond="ms",
    milliseconds="ms",
    sec="s",
    secs="s",
    second="s",
    seconds="s",
    min="m",
    mins="m",
    minute="m",
    minutes="m",
    hr="h",
    hrs="h",
    hour="h",
    hours="h",
    day="d",
    days="d",
    week="w",
    weeks="w",
)
_NUMBER = r"(\d+\.?\d*|\.\d+)"  # Go: digits with an optional fraction, or a fraction alone; not "."
_PART: Dict[str, Pattern[str]] = {}
for _dialect, _table in _UNITS.items():
    _alternatives = "|".join(re.escape(unit) for unit in sorted(_table, key=len, reverse=True))
    if _dialect == GO:
        _PART[_dialect] = re.compile(_NUMBER + "(" + _alternatives + ")")
    else:
        _PART[_dialect] = re.compile(r"\s*" + _NUMBER + r"\s*(" + _alternatives + r")\s*", re.IGNORECASE)
GO_MAX_NS = 2**63 - 1  # Go's time.Duration is an int64 of nanoseconds
MAX_TEXT = 200  # bounded work for any input; no real duration is this long


class ParseError(KubesecError, ValueError):
    """Text that is not what the parser reads (the caller adds its field name)."""


def duration_ns(text: object, units: str = GO) -> int:
    """Duration text in the dialect `units` (GO, DAYS, WORDS) -> integer nanoseconds; ParseError otherwise."""
    if units not in _PART:
        raise ValueError("units must be one of %s" % ", ".join(sorted(_PART)))
    if not isinstance(text, str):
        raise ParseError("expected a duration as text, got %s" % type(text).__name__)
    raw = text if units == GO else text.strip()
    if not raw:
        raise ParseError("empty duration")
    if len(raw) > MAX_TEXT:
        raise ParseError("duration longer than %d characters" % MAX_TEXT)
    sign = 1
    if units == GO and raw[0] in "+-":
        sign = -1 if raw[0] == "-" else 1
        raw = raw[1:]
        if not raw:
            raise ParseError("not a duration: %r" % (text,))
    if units == GO and raw == "0":
        return 0
    table, part = _UNITS[units], _PART[units]
    pos, total = 0, 0
    while pos < len(raw):
        match = part.match(raw, pos)
        if not match:
            raise ParseError("not a duration: %r" % (text,))
        number, unit = match.group(1), match.group(2)
        scale = _NS[table[unit if units == GO else unit.lower()]]
        whole, _dot, fraction = number.partition(".")
        total += int(whole or "0") * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
        pos = match.end()
    if units == GO and total > GO_MAX_NS:
        raise ParseError("duration %r is out of range (Go durations stop at about 292 years)" % (text,))
    return sign * total


def duration_seconds(text: object, units: str = GO) -> float:
    """duration_ns as float seconds."""
    return duration_ns(text, units) / 1e9


# ------------------------------------------------------------------------------------------------ versions

# gitVersion / --version output: v1.30.2, v1.29.3+k3s1, v1.30.2-eks-1234 (the v is required when searching text).
_VERSION_IN_TEXT = re.compile(r"v(\d+)\.(\d+)\.(\d+)([-+][0-9A-Za-z.+-]*)?")
# A version a user writes: 1.30, v1.30.2, V1.29.3+k3s1.
_VERSION_WRITTEN = re.compile(r"^\s*[vV]?(\d{1,3})\.(\d{1,4})(?:\.(\d{1,6}))?(?:[-+.][0-9A-Za-z.+_-]*)?\s*$")


def find_version(text: Optional[str]) -> Optional[Dict[str, Any]]:
    """First 'vX.Y.Z[+suffix]' in free text (kubelet --version, k3s --version, gitVersion) -> dict or None.

    Keys: version (as written), minor ('1.30'), major_minor ((1, 30)), suffix ('+k3s1' or '').
    """
    match = _VERSION_IN_TEXT.search(text or "")
    if not match:
        return None
    return {
        "version": match.group(0),
        "minor": "%s.%s" % (match.group(1), match.group(2)),
        "major_minor": (int(match.group(1)), int(match.group(2))),
        "suffix": match.group(4) or "",
    }


def parse_version(text: object) -> Tuple[int, int, Optional[int]]:
    """A whole version string ('v1.29.3', '1.30', 'v1.30.2-eks-1234') -> (major, minor, patch or None); ParseError."""
    if not isinstance(text, str):
        raise ParseError("expected a Kubernetes version string like v1.30.2, got %s" % type(text).__name__)
    match = _VERSION_WRITTEN.match(text[:MAX_TEXT])
    if not match:
        raise ParseError("expected a Kubernetes version like v1.30.2 or 1.30, got %r" % (text[:MAX_TEXT],))
    patch = int(match.group(3)) if match.group(3) is not None else None
    return int(match.group(1)), int(match.group(2)), patch


# ------------------------------------------------------------------------------------------------ DNS-1123

# Kubernetes' own patterns (k8s.io/apimachinery/pkg/util/validation): a label (namespace, most object names,
# volume names) is at most 63 characters, a subdomain (Deployment, Application names) at most 253.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253


def is_dns1123_label(value: object) -> bool:
    """fullmatch: "$" alone would let a trailing newline through."""
    return isinstance(value, str) and len(value) <= DNS1123_LABEL_MAX and bool(DNS1123_LABEL.fullmatch(value))


def is_dns1123_subdomain(value: object) -> bool:
    return isinstance(value, str) and len(value) <= DNS1123_SUBDOMAIN_MAX and bool(DNS1123_SUBDOMAIN.fullmatch(value))


# ------------------------------------------------------------------------------------------------ GC pause


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a parser builds many small objects, then restore it as it was.

    Decoding large batches runs ~1.7x slower with the collector on (notes/toolchain.md; YAML loads up to ~5x):
    it keeps walking the young objects although parsed documents hold no reference cycles. Nests safely: only
    the outermost pause turns it back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
