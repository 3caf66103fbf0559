# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time for the audit-log query: durations, RFC3339 / MicroTime stamps as microseconds, the canonical MicroTime
text kube-apiserver writes (compared as strings in the scan), and the query window.

Private module_utils (node side, standard library only).
"""

from __future__ import annotations

import calendar
import datetime
import math
import re
import time
from typing import Any

from ansible_collections.kubesec.cluster.plugins.module_utils import _parsing
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_common import DEFAULT_SINCE, AuditLogError

_EPOCH = datetime.datetime(1970, 1, 1)
_MIN_US = calendar.timegm((1000, 1, 1, 0, 0, 0)) * 1000000
_MAX_US = calendar.timegm((9999, 12, 31, 23, 59, 59)) * 1000000
_TS_RE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*([Zz]|[+-]\d{2}:?\d{2})?\s*$"
)


def parse_duration(text: Any, field: str = "since") -> float:
    """'30m', '2h', '1d', '1h30m', '90s', '1w' or a number of seconds -> seconds (float > 0)."""
    if isinstance(text, bool):
        raise AuditLogError("%s: expected a duration like 30m, 2h or 1d, got %r" % (field, text))
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        raw = str(text).strip()
        if re.match(r"^\d+(?:\.\d+)?$", raw):
            seconds = float(raw)
        else:
            try:
                seconds = _parsing.duration_seconds(raw, _parsing.DAYS)
            except ValueError:
                raise AuditLogError("%s: expected a duration like 30m, 2h, 1d or 1h30m, got %r" % (field, text)) from None
    if math.isnan(seconds) or seconds < 0 or seconds > 1e11:
        raise AuditLogError("%s: duration %r is out of range" % (field, text))
    return seconds


def parse_time_us(text: Any, field: str = "time") -> int:
    """RFC3339 (or 'YYYY-MM-DD HH:MM:SS', UTC when no offset is given) -> microseconds since the epoch."""
    if isinstance(text, datetime.datetime):
        if text.tzinfo is not None:
            text = text.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return round((text - _EPOCH).total_seconds() * 1000000)
    match = _TS_RE.match(str(text)) if text is not None else None
    if not match:
        raise AuditLogError("%s: expected an RFC3339 timestamp like 2026-03-01T12:00:00Z, got %r" % (field, text))
    year, month, day, hour, minute, sec, frac, zone = match.groups()
    try:
        datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(sec or 0))
    except ValueError as exc:
        raise AuditLogError("%s: %r is not a valid time (%s)" % (field, text, exc)) from None
    seconds = calendar.timegm((int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(sec or 0)))
    micros = int((frac or "0")[:6].ljust(6, "0"))
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds * 1000000 + micros


def canon(us: float) -> str:
    """Microseconds -> the MicroTime form kube-apiserver writes: 2026-03-01T12:00:00.000000Z (UTC)."""
    us = max(_MIN_US, min(_MAX_US, int(us)))
    return (_EPOCH + datetime.timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canon_str(value: Any) -> str | None:
    """A timestamp string from an event -> canonical MicroTime string, or None if it is not a timestamp."""
    if isinstance(value, str) and len(value) == 27 and value[26] == "Z" and value[19] == "." and value[10] == "T":
        return value
    if value is None or isinstance(value, (dict, list)):
        return None
    try:
        return canon(parse_time_us(value))
    except AuditLogError:
        return None


def human_time(value: Any) -> str | None:
    """Canonical MicroTime -> 'yyyy-MM-dd HH:mm:ss' (UTC); anything else -> None."""
    value = _canon_str(value)
    if value is None:
        return None
    return value[:10] + " " + value[11:19]


def resolve_window(now: Any = None, since: Any = None, time_from: Any = None, time_to: Any = None) -> tuple[int, int, int]:
    """Return (from_us, to_us, now_us). Default: the hour up to now. since excludes from/to."""
    now_us = parse_time_us(now, "now") if now not in (None, "") else round(time.time() * 1000000)
    if since not in (None, "") and (time_from not in (None, "") or time_to not in (None, "")):
        raise AuditLogError("since cannot be combined with from/to; give either since or from (and to)")
    if since not in (None, ""):
        to_us = now_us
        from_us = to_us - int(parse_duration(since, "since") * 1000000)
    else:
        to_us = parse_time_us(time_to, "to") if time_to not in (None, "") else now_us
        if time_from not in (None, ""):
            from_us = parse_time_us(time_from, "from")
        else:
            from_us = to_us - DEFAULT_SINCE * 1000000
    if from_us > to_us:
        raise AuditLogError("from (%s) is after to (%s)" % (canon(from_us), canon(to_us)))
    return from_us, to_us, now_us


def _next_us(canonical: str) -> str:
    """The canonical MicroTime one microsecond after `canonical`."""
    return canon(parse_time_us(canonical) + 1)
