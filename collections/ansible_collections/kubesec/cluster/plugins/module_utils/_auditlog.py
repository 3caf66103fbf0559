# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Query kube-apiserver audit logs (audit.k8s.io/v1 Event JSON lines) fast, on the node.

Private module_utils (leading underscore): the API may change between minor releases.
Standard library only; uses pysimdjson (``simdjson``) or ``orjson`` when they are importable.

How a query runs (see ``run_query``):

1. Files: the live log (``path`` under ``root``) plus lumberjack backups beside it
   (``<stem>-YYYY-MM-DDTHH-MM-SS.mmm<ext>[.gz]``, named by the UTC rotation time), oldest first.
2. Time: the window [from, to] is on ``requestReceivedTimestamp``. kube-apiserver writes events in
   ``stageTimestamp`` order, and stageTimestamp >= requestReceivedTimestamp, but a request can finish
   long after it was received (watches: up to 2 x --min-request-timeout = 1 h by default). So files and
   byte ranges are chosen by stageTimestamp in [from - ORDER_TOLERANCE, to + received_slack] and every event
   is then filtered exactly on requestReceivedTimestamp. Plain files are binary-searched by byte offset on
   line boundaries; whole files outside the window are skipped from their first/last lines (plain) or
   their rotation-time file names (gzip).
3. Scan: large binary reads into a reused buffer; when a filter gives literal bytes (e.g. ``"delete"``),
   candidate lines are found with ``bytes.find`` and only those are JSON-decoded. Large scans are split
   in two byte ranges and run in two processes (fork). The GC is paused during the scan.
4. Result: the first ``max_events`` matches as small records, the total count, a summary (each request
   counted once, at its final stage), per-file and overall statistics, optional normalized findings.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import calendar
import collections
import datetime
import fnmatch
import gc
import json
import math
import os
import pickle
import re
import tempfile
import time
import traceback
import zlib

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils import _parsing
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.module_utils._redact import REDACTED, redact_clipped, redact_count

try:
    import simdjson as _simdjson
except ImportError:  # pragma: no cover - depends on the node
    _simdjson = None
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the node
    _orjson = None

DEFAULT_PATH = "/var/log/kubernetes/audit/audit.log"
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
FINAL_STAGES = ("ResponseComplete", "Panic")
FILTER_KEYS = ("user", "group", "verb", "resource", "subresource", "namespace", "name",
               "response_code", "source_ip", "user_agent", "stage")
DEFAULT_SINCE = 3600
DEFAULT_SLACK = 3600          # watches end at most 2 x --min-request-timeout (1800 s) after they start
ORDER_TOLERANCE = 60          # seconds of stageTimestamp disorder tolerated by the seek / file skip
CHUNK = 8 << 20               # read size
PARALLEL_MIN = 8 << 20        # scan this many bytes or more in two processes
SEEK_MIN = 65536              # stop the binary search when the byte window is this small
PROBE = 4096                  # read size while probing lines for the seek
GZ_WEIGHT = 6                 # a gzip byte costs about this many plain bytes to scan
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version", "/openapi/v2", "/openapi/v3")
SECRET_READ_VERBS = ("get", "list", "watch")
POD_ATTACH_SUBRESOURCES = ("exec", "attach", "portforward")
RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
TOP = 10
DEFAULT_MAX_LINE_BYTES = 32 << 20   # one event line longer than this is skipped and counted (stats.oversized_lines)
MAX_TEXT = 2048               # characters of one free-text value in events, summary and findings (then clipped)
MAX_SESSIONS = 100000         # exec/attach/portforward sessions tracked for "still open"

_EPOCH = datetime.datetime(1970, 1, 1)
_MIN_US = calendar.timegm((1000, 1, 1, 0, 0, 0)) * 1000000
_MAX_US = calendar.timegm((9999, 12, 31, 23, 59, 59)) * 1000000
_TS_RE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
                    r"\s*([Zz]|[+-]\d{2}:?\d{2})?\s*$")
_BACKUP_TS = r"(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})"
_STAGE_KEY = b'"stageTimestamp":"'
_NEEDLE_SAFE = re.compile(r"^[\x20-\x7e]+$")
_NEEDLE_UNSAFE_CHARS = set('"\\<>&')  # Go escapes <, >, & (HTML-safe); nobody escapes '/' in audit logs


class AuditLogError(KubesecError):
    """The query cannot run (bad option value, missing log); the message names the input."""


class _NotEvent(ValueError):
    """Valid JSON, but not an object (so not an audit Event)."""


# --------------------------------------------------------------------------------------------- time

def parse_duration(text, field="since"):
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


def parse_time_us(text, field="time"):
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


def canon(us):
    """Microseconds -> the MicroTime form kube-apiserver writes: 2026-03-01T12:00:00.000000Z (UTC)."""
    us = max(_MIN_US, min(_MAX_US, int(us)))
    return (_EPOCH + datetime.timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canon_str(value):
    """A timestamp string from an event -> canonical MicroTime string, or None if it is not a timestamp."""
    if isinstance(value, str) and len(value) == 27 and value[26] == "Z" and value[19] == "." and value[10] == "T":
        return value
    if value is None or isinstance(value, (dict, list)):
        return None
    try:
        return canon(parse_time_us(value))
    except AuditLogError:
        return None


def human_time(value):
    """Canonical MicroTime -> 'yyyy-MM-dd HH:mm:ss' (UTC); anything else -> None."""
    value = _canon_str(value)
    if value is None:
        return None
    return value[:10] + " " + value[11:19]


def resolve_window(now=None, since=None, time_from=None, time_to=None):
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


# ---------------------------------------------------------------------------------------------- files

def _node_join(root, path):
    if not path or not str(path).startswith("/"):
        raise AuditLogError("path: expected an absolute path on the node, got %r" % (path,))
    if not root or root == "/":
        return os.path.normpath(path)
    return os.path.normpath(os.path.join(root, str(path).lstrip("/")))


def backup_pattern(live_name):
    """Regex for lumberjack backups of `live_name` (audit.log -> audit-<UTC time>.log[.gz])."""
    stem, ext = os.path.splitext(live_name)
    return re.compile("^" + re.escape(stem) + "-" + _BACKUP_TS + re.escape(ext) + r"(\.gz)?$")


def find_log_files(path=DEFAULT_PATH, root="/"):
    """The live log and its backups, oldest first: list of dicts (path, name, gz, size, rotated_us)."""
    real = _node_join(root, path)
    directory, live_name = os.path.split(real)
    if not live_name or os.path.isdir(real):
        raise AuditLogError("path: %s is a directory; expected the audit log file (--audit-log-path)" % real)
    pattern = backup_pattern(live_name)
    backups = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        names = None
    except OSError as exc:
        raise AuditLogError("cannot list %s: %s" % (directory, exc.strerror or exc)) from None
    for name in names or ():
        match = pattern.match(name)
        if not match:
            continue
        stamp = match.group(1)
        rotated = parse_time_us(stamp[:10] + "T" + stamp[11:].replace("-", ":", 2) + "Z", "backup name")
        backups.append((rotated, name, bool(match.group(2))))
    backups.sort()
    live_exists = os.path.isfile(real)
    if not live_exists:
        if not backups:
            raise AuditLogError(
                "no audit log found: %s does not exist and there are no rotated backups (%s-*%s[.gz]) in %s; "
                "audit logging looks disabled (kube-apiserver --audit-log-path / --audit-policy-file)"
                % (real, os.path.splitext(live_name)[0], os.path.splitext(live_name)[1], directory))
        raise AuditLogError("audit log %s does not exist (found %d rotated backup(s) beside it, newest %s)"
                            % (real, len(backups), backups[-1][1]))
    files = []
    for rotated, name, gz in backups:
        full = os.path.join(directory, name)
        try:
            size = os.path.getsize(full)
        except OSError:
            continue  # rotated away while we looked
        files.append({"path": full, "name": _display(path, name), "gz": gz, "size": size, "rotated_us": rotated})
    try:
        size = os.path.getsize(real)
    except OSError as exc:
        raise AuditLogError("cannot read audit log %s: %s" % (real, exc.strerror or exc)) from None
    files.append({"path": real, "name": os.path.normpath(path), "gz": False, "size": size, "rotated_us": None})
    for entry in files:
        if not os.access(entry["path"], os.R_OK):
            raise AuditLogError("cannot read audit log %s: permission denied" % entry["path"])
    return files


def _display(path, name):
    return os.path.join(os.path.dirname(os.path.normpath(path)), name)


# --------------------------------------------------------------------------------------------- decode

_EMPTY = {}
_SCALARS = (str, int, float, type(None))


def _plain(value):
    """Keep strings/numbers/None; anything else from hostile input becomes its JSON text."""
    if type(value) in _SCALARS:
        return value
    try:
        return json.dumps(value if type(value) in (dict, list, bool) else str(value), sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def _decode_dict(d):
    """Pick the hot fields from a decoded event dict -> tuple (see _F_*), or None if not an object."""
    if not isinstance(d, dict):
        return None
    u = d.get("user")
    un = u.get("username") if isinstance(u, dict) else None
    o = d.get("objectRef")
    if not isinstance(o, dict):
        o = _EMPTY
    rs = d.get("responseStatus")
    code = rs.get("code") if isinstance(rs, dict) else None
    received, stage_ts = d.get("requestReceivedTimestamp"), d.get("stageTimestamp")
    if received is None and stage_ts is None:  # audit.k8s.io/v1alpha1 / v1beta1: only the deprecated timestamp
        received = stage_ts = d.get("timestamp")
    t = (un, d.get("verb"), o.get("resource"), o.get("subresource"), o.get("apiGroup"), o.get("namespace"),
         o.get("name"), code, d.get("stage"), received, stage_ts)
    for v in t:
        if type(v) not in _SCALARS:
            return tuple(_plain(v) for v in t)
    return t


def _legacy_only(d):
    """True when the event has only the deprecated ``timestamp`` (no requestReceivedTimestamp/stageTimestamp)."""
    return (d.get("requestReceivedTimestamp") is None and d.get("stageTimestamp") is None
            and d.get("timestamp") is not None)


def _extras_dict(d):
    """(groups, sourceIPs, userAgent, impersonated username) from a decoded event dict."""
    u = d.get("user")
    groups = u.get("groups") if isinstance(u, dict) else None
    imp = d.get("impersonatedUser")
    imp_name = imp.get("username") if isinstance(imp, dict) else None
    ips = d.get("sourceIPs")
    return ([_plain(g) for g in groups] if isinstance(groups, list) else [],
            [_plain(i) for i in ips] if isinstance(ips, list) else [],
            _plain(d.get("userAgent")), _plain(imp_name))


class _Decoder:
    """Line bytes -> (fields tuple, extras or None). Raises ValueError for lines that are not JSON."""

    def __init__(self, backend=None):
        if backend is None:
            backend = "simdjson" if _simdjson is not None else ("orjson" if _orjson is not None else "json")
        if (backend == "simdjson" and _simdjson is None) or (backend == "orjson" and _orjson is None):
            raise AuditLogError("JSON backend %r is not importable here" % backend)
        if backend not in ("simdjson", "orjson", "json"):
            raise AuditLogError("JSON backend %r is unknown (simdjson, orjson, json)" % backend)
        self.backend = backend
        self.legacy = 0   # events read by their legacy timestamp field (orjson/json; simdjson counts in the scan)
        if backend == "simdjson":
            self.parser = _simdjson.Parser()
            self.decode = self._decode_simdjson
        elif backend == "orjson":
            loads = _orjson.loads

            def decode(line, extras=False):
                d = loads(line)
                t = _decode_dict(d)
                if t is None:
                    raise _NotEvent("not a JSON object")
                if t[_F_RCV] is not None and _legacy_only(d):
                    self.legacy += 1
                return t, (_extras_dict(d) if extras else None)
            self.decode = decode
        else:
            loads = json.loads

            def decode(line, extras=False):
                d = loads(line.decode("utf-8") if not isinstance(line, str) else line)
                t = _decode_dict(d)
                if t is None:
                    raise _NotEvent("not a JSON object")
                if t[_F_RCV] is not None and _legacy_only(d):
                    self.legacy += 1
                return t, (_extras_dict(d) if extras else None)
            self.decode = decode

    def _decode_simdjson(self, line, extras=False):
        try:
            return self._simdjson_fields(self.parser.parse(line), extras)
        except RuntimeError:  # a proxy outlived its document: start over with a fresh parser
            self.parser = _simdjson.Parser()
            try:
                document = self.parser.parse(line)
            except RuntimeError as exc:  # simdjson's own errors (BIGINT_ERROR, ...): not JSON we can read
                raise ValueError(str(exc)) from None
            return self._simdjson_fields(document, extras)

    @staticmethod
    def _simdjson_fields(d, extras):
        if not isinstance(d, _SJ_OBJECT):
            raise _NotEvent("not a JSON object")
        try:  # fast path: the shape kube-apiserver writes
            un = d["user"]["username"]
            verb = d["verb"]
            stage = d["stage"]
            rcv = d["requestReceivedTimestamp"]
            sts = d["stageTimestamp"]
            if "objectRef" in d:
                o = d["objectRef"].as_dict()
            else:
                o = _EMPTY
            if "responseStatus" in d:
                code = d["responseStatus"]["code"] if "code" in d["responseStatus"] else None
            else:
                code = None
            t = (un, verb, o.get("resource"), o.get("subresource"), o.get("apiGroup"), o.get("namespace"),
                 o.get("name"), code, stage, rcv, sts)
            if not _SCALAR_TYPES.issuperset(map(type, t)):
                raise TypeError("unexpected value types")
        except (KeyError, TypeError, AttributeError, ValueError):
            t = None
        if t is None:  # anything unusual: copy the few fields we need into Python objects
            t = _decode_dict(_sj_subset(d, _HOT_KEYS))
        if not extras:
            return t, None
        return t, _extras_dict(_sj_subset(d, _EXTRA_KEYS))


def _sj_py(value):
    if isinstance(value, _SJ_OBJECT):
        return value.as_dict()
    if isinstance(value, _SJ_ARRAY):
        return value.as_list()
    return value


def _sj_value(d, key):
    try:
        return _plain(_sj_py(d[key]))
    except KeyError:
        return None


def _record_sj(d, t, o, received, stage_ts):
    """The returned record, from a simdjson document and the fields already picked (same as event_record)."""
    return _bounded_record({
        "request_uri": _sj_value(d, "requestURI"),
        "audit_id": _sj_value(d, "auditID"),
        "object_ref": {"api_group": t[4], "api_version": _plain(o.get("apiVersion")), "name": t[6],
                       "namespace": t[5], "resource": t[2]},
        "action": t[1],
        "user": t[0],
        "request_received_time": received[:10] + " " + received[11:19],
        "log_time": stage_ts[:10] + " " + stage_ts[11:19],
        "response_code": t[7],
    })


def _bounded_record(record):
    """Clip every text value of a record to MAX_TEXT characters and redact the request URI (?token=X, ...).
    Adds ``clipped`` (the names of the clipped fields) and ``redacted`` (values replaced) when they happened."""
    clipped, redacted = [], 0
    uri = record.get("request_uri")
    if isinstance(uri, str):
        if "=" in uri or "@" in uri or " " in uri:   # values live in the query (or userinfo): the rest is a path
            record["request_uri"], redacted, cut = redact_clipped(uri, MAX_TEXT)
        else:
            record["request_uri"], cut = _clip(uri), len(uri) > MAX_TEXT
        if cut:
            clipped.append("request_uri")
    for key in ("audit_id", "action", "user"):
        value = record.get(key)
        if isinstance(value, str) and len(value) > MAX_TEXT:
            record[key] = _clip(value)
            clipped.append(key)
    ref = record.get("object_ref")
    for key, value in ref.items():
        if isinstance(value, str) and len(value) > MAX_TEXT:
            ref[key] = _clip(value)
            clipped.append("object_ref." + key)
    if not isinstance(record.get("response_code"), (int, type(None))):
        record["response_code"] = _clip(str(record["response_code"]))
    if clipped:
        record["clipped"] = clipped
    if redacted:
        record["redacted"] = redacted
    return record


def _clip(value, limit=MAX_TEXT):
    """Text cut to `limit` characters, saying how much was cut."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "... [%d more characters]" % (len(value) - limit)
    return value


def _sj_subset(d, keys):
    return {key: _sj_py(d[key]) for key in keys if key in d}


_SCALAR_TYPES = frozenset(_SCALARS)
_HOT_KEYS = ("user", "verb", "objectRef", "responseStatus", "stage", "requestReceivedTimestamp", "stageTimestamp",
             "timestamp")
_EXTRA_KEYS = ("user", "impersonatedUser", "sourceIPs", "userAgent")


if _simdjson is not None:
    _SJ_OBJECT = _simdjson.Object
    _SJ_ARRAY = _simdjson.Array
else:  # pragma: no cover
    _SJ_OBJECT = _SJ_ARRAY = ()


def full_decode(line):
    """Whole event as Python objects (for records and tests): orjson or json."""
    if _orjson is not None:
        return _orjson.loads(line)
    return json.loads(line.decode("utf-8") if isinstance(line, (bytes, bytearray)) else line)


# (un, verb, resource, subresource, apiGroup, namespace, name, code, stage, received, stageTs)
_F_USER, _F_VERB, _F_RES, _F_SUB, _F_GROUP, _F_NS, _F_NAME, _F_CODE, _F_STAGE, _F_RCV, _F_STS = range(11)


def event_record(event):
    """Decoded audit Event dict -> the record the module returns."""
    obj = event.get("objectRef") if isinstance(event.get("objectRef"), dict) else {}
    user = event.get("user") if isinstance(event.get("user"), dict) else {}
    status = event.get("responseStatus") if isinstance(event.get("responseStatus"), dict) else {}
    received = event.get("requestReceivedTimestamp")
    stage_ts = event.get("stageTimestamp")
    if received is None and stage_ts is None:
        received = stage_ts = event.get("timestamp")
    return _bounded_record({
        "request_uri": _plain(event.get("requestURI")),
        "audit_id": _plain(event.get("auditID")),
        "object_ref": {"api_group": _plain(obj.get("apiGroup")), "api_version": _plain(obj.get("apiVersion")),
                       "name": _plain(obj.get("name")), "namespace": _plain(obj.get("namespace")),
                       "resource": _plain(obj.get("resource"))},
        "action": _plain(event.get("verb")),
        "user": _plain(user.get("username")),
        "request_received_time": human_time(received),
        "log_time": human_time(stage_ts),
        "response_code": _plain(status.get("code")),
    })


# -------------------------------------------------------------------------------------------- filters

def _as_list(value, key):
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

    def __init__(self, filters=None):
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

    def _needles(self):
        """{filter: [bytes]}: every matching line contains at least one of its needles (JSON as written)."""
        out = {}
        for key, items in self.values.items():
            needles = []
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
                    needles = None  # could be written escaped: no safe literal, no pre-filter from this key
                    break
                needles.append(text.encode("ascii") if key == "user_agent" else b'"' + text.encode("ascii") + b'"')
            if key == "user" and needles is not None:
                for glob, _regex in self.user_globs:
                    prefix = re.split(r"[*?\[]", glob, maxsplit=1)[0]
                    if prefix == "" or not _NEEDLE_SAFE.match(prefix) or _NEEDLE_UNSAFE_CHARS.intersection(prefix):
                        needles = None  # a pattern without a safe literal start: no pre-filter from this key
                        break
                    needles.append(b'"' + prefix.encode("ascii"))
            if needles:
                out[key] = needles
        return out

    def match(self, t, extras):
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
        if "user" in v and t[_F_USER] not in v["user"] and imp not in v["user"] and not (
                self.user_globs and any(isinstance(name, str) and regex.match(name)
                                        for _glob, regex in self.user_globs for name in (t[_F_USER], imp))):
            return False
        if "group" in v and not v["group"].intersection(g for g in groups if isinstance(g, str)):
            return False
        if "source_ip" in v and not v["source_ip"].intersection(i for i in ips if isinstance(i, str)):
            return False
        if "user_agent" in v:
            if not isinstance(agent, str) or not any(s in agent for s in v["user_agent"]):
                return False
        return True


# --------------------------------------------------------------------------------------------- result

class _Acc:
    """What one process accumulates while scanning; merged in order afterwards."""

    def __init__(self, max_events, out_path=None):
        self.max_events = max_events
        self.records = []                                # the first max_events matches, as records
        self.matched = 0
        self.combos = collections.Counter()              # (user, verb, resource, sub, apiGroup, code, stage) -> n
        self.exec_targets = collections.Counter()        # (user, subresource, namespace, pod)
        self.rbac_items = collections.Counter()          # (user, verb, resource, namespace, name)
        self.anon = 0
        self.anon_allowed = collections.Counter()        # request path -> n
        self.anon_ips = collections.Counter()
        self.seen = {}                                   # category -> [first, last] received
        self.sessions = {}                               # exec/attach/portforward auditID -> _session() list
        self.stats = collections.Counter()
        self.files = {}                                  # file index -> Counter
        self.edges = []                                  # (file index, first stage, last stage) per segment
        self.warnings = []
        self.out_path = out_path
        self.out = None

    def open_out(self):
        if self.out is None and self.out_path is not None:
            self.out = open(self.out_path, "ab")
        return self.out

    def close(self):
        if self.out is not None:
            self.out.close()
            self.out = None

    def see(self, category, received):
        span = self.seen.get(category)
        if span is None:
            self.seen[category] = [received, received]
        else:
            if received < span[0]:
                span[0] = received
            if received > span[1]:
                span[1] = received

    def state(self):
        state = dict(self.__dict__)
        state.pop("out", None)
        return state

    def merge(self, other):
        """Append `other` (a later part of the scan, as a dict from state())."""
        room = self.max_events - len(self.records)
        if room > 0:
            self.records.extend(other["records"][:room])
        self.matched += other["matched"]
        self.anon += other["anon"]
        for name in ("combos", "exec_targets", "rbac_items", "anon_allowed", "anon_ips", "stats"):
            getattr(self, name).update(other[name])
        for category, (first, last) in other["seen"].items():
            self.see(category, first)
            self.see(category, last)
        for audit_id, theirs in other["sessions"].items():
            mine = self.sessions.get(audit_id)
            if mine is None:
                if len(self.sessions) < MAX_SESSIONS:
                    self.sessions[audit_id] = theirs
                else:
                    self.stats["sessions_not_tracked"] += 1
            else:
                mine[5] = mine[5] or theirs[5]
                mine[6] = mine[6] or theirs[6]
        for index, counter in other["files"].items():
            self.files.setdefault(index, collections.Counter()).update(counter)
        if self.edges and other["edges"]:
            prev, nxt = self.edges[-1], other["edges"][0]
            if prev[0] == nxt[0] and prev[2] is not None and nxt[1] is not None and nxt[1] < prev[2]:
                self.stats["out_of_order"] += 1
                self.files.setdefault(prev[0], collections.Counter())["out_of_order"] += 1
        self.edges.extend(other["edges"])
        self.warnings.extend(other["warnings"])


class _Ctx:
    """Per-query constants shared by the scanners (inherited by the forked worker)."""

    def __init__(self, query, from_us, to_us, slack_us, backend, max_line=DEFAULT_MAX_LINE_BYTES):
        self.query = query
        self.max_line = max_line
        self.from_s = canon(from_us)
        self.to_s = canon(to_us)
        self.stage_lo_s = canon(from_us - ORDER_TOLERANCE * 1000000)
        self.stage_hi_s = canon(to_us + slack_us + ORDER_TOLERANCE * 1000000)
        self.backend = backend


# ------------------------------------------------------------------------------------------- scanning

def _anonymous_details(acc, line, code, received):
    """The rare anonymous request: decode fully for its source IPs and path."""
    try:
        event = full_decode(line)
    except ValueError:  # pragma: no cover - it decoded once already
        event = {}
    ips = event.get("sourceIPs") if isinstance(event.get("sourceIPs"), list) else []
    acc.anon_ips.update({_plain(ip) for ip in ips if isinstance(ip, str)})
    acc.see("anonymous", received)
    if isinstance(code, int) and code < 400:
        uri = _plain(event.get("requestURI"))
        acc.anon_allowed[uri.split("?", 1)[0] if isinstance(uri, str) else uri] += 1
        acc.see("anonymous_allowed", received)


def _export_line(line, resource):
    """An event line as written to output_file (saved under reports/): the request and response bodies of secrets
    withheld, secret values in the rest (``?token=X`` in the URI, ...) redacted. Other lines unchanged."""
    if resource == "secrets" and (b'"requestObject"' in line or b'"responseObject"' in line):
        try:
            event = full_decode(line)
            for key in ("requestObject", "responseObject"):
                if key in event:
                    event[key] = REDACTED
            line = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except (ValueError, TypeError, AttributeError, UnicodeEncodeError, RecursionError):
            return b'{"kubesec":"event on a secret withheld: its body could not be re-encoded without it"}'
    text = line.decode("utf-8", "surrogateescape")
    redacted, count = redact_count(text)
    return redacted.encode("utf-8", "surrogateescape") if count else line


def _session(acc, audit_id, t, stage, received):
    """Remember an exec/attach/portforward request by auditID: started (ResponseStarted) and/or finished."""
    if not isinstance(audit_id, str):
        return
    entry = acc.sessions.get(audit_id)
    if entry is None:
        if len(acc.sessions) >= MAX_SESSIONS:
            acc.stats["sessions_not_tracked"] += 1
            return
        # user, subresource, namespace, pod, received, started, finished
        entry = acc.sessions[audit_id] = [t[_F_USER], t[_F_SUB], t[_F_NS], t[_F_NAME], received, False, False]
    if stage == "ResponseStarted":
        entry[5] = True
    elif stage in FINAL_STAGES:
        entry[6] = True


def _unauthenticated(line):
    try:
        user = full_decode(line).get("user")
        return isinstance(user, dict) and "system:unauthenticated" in (user.get("groups") or ())
    except (ValueError, TypeError):
        return False


class _Scanner:
    """Scans line-aligned byte blocks of one file range; matching and summarising happen in the closure
    built by _make_handle (locals only: this loop runs a million times per GiB)."""

    def __init__(self, ctx, acc, file_index):
        self.ctx = ctx
        self.acc = acc
        self.fi = file_index
        self.fstats = acc.files.setdefault(file_index, collections.Counter())
        self.decoder = _Decoder(ctx.backend)
        self.needles = ctx.query.needles
        self.driver = None
        self.checks = ()
        # decoded, matched, non_json, blank, invalid, out_of_order, legacy_timestamp, oversized
        self.counts = [0, 0, 0, 0, 0, 0, 0, 0]
        self.edge = [None, None]          # first and greatest stageTimestamp decoded
        self.handle = self._make_handle()

    def choose_driver(self, sample):
        """Drive the scan by the filter whose needles are rarest in the first block (one C pass each).

        Keyed needles come in a compact ("code":403) and a spaced ("code": 403) form; when the first block
        has no '": ' at all the file is compact JSON as kube-apiserver writes it, and the spaced forms
        (one more pass over the data each) are dropped for this file.
        """
        if b'": ' not in sample:
            self.needles = {key: [item for item in items if b'": ' not in item] or items
                            for key, items in self.needles.items()}
        best, best_n = None, None
        for key, items in self.needles.items():
            n = sum(sample.count(item) for item in items)
            if best_n is None or n < best_n:
                best, best_n = key, n
        self.driver = self.needles[best]
        self.checks = tuple(items for key, items in self.needles.items() if key != best)
        self.handle = self._make_handle()

    def _make_handle(self):
        ctx, acc, counts, edge = self.ctx, self.acc, self.counts, self.edge
        query = ctx.query
        checks = self.checks
        decoder = self.decoder
        want_extras = query.extras
        match = query.match if query.values else None
        from_s, to_s = ctx.from_s, ctx.to_s
        final_only = query.final_only
        records = acc.records
        max_events = acc.max_events
        out = acc.open_out()
        out_write = out.write if out is not None else None
        combos = acc.combos
        see = acc.see
        anon_needle = b'"system:unauthenticated"'
        simd = decoder.backend == "simdjson"
        parse = decoder.parser.parse if simd else None
        decode = decoder.decode
        scalar_types = _SCALAR_TYPES
        sj_object = _SJ_OBJECT
        max_line = ctx.max_line

        def handle(line):
            nonlocal parse
            if len(line) > max_line:
                counts[7] += 1
                return
            for items in checks:
                for item in items:
                    if item in line:
                        break
                else:
                    return
            counts[0] += 1
            if simd:  # decode_simdjson inlined: this is the hottest code in the module
                try:
                    d = parse(line)
                except ValueError:
                    counts[2 if line.strip() else 3] += 1
                    return
                except RuntimeError:  # pragma: no cover - a proxy outlived its document: fresh parser
                    decoder.parser = _simdjson.Parser()
                    parse = decoder.parser.parse
                    try:
                        d = parse(line)
                    except (ValueError, RuntimeError):  # RuntimeError: BIGINT_ERROR and the like
                        counts[2 if line.strip() else 3] += 1
                        return
                try:
                    try:
                        o = d["objectRef"].as_dict()
                    except KeyError:
                        o = _EMPTY
                    try:
                        code = d["responseStatus"]["code"]
                    except KeyError:
                        code = None
                    g = o.get
                    t = (d["user"]["username"], d["verb"], g("resource"), g("subresource"), g("apiGroup"),
                         g("namespace"), g("name"), code, d["stage"], d["requestReceivedTimestamp"],
                         d["stageTimestamp"])
                    if not scalar_types.issuperset(map(type, t)):
                        t = None
                except (KeyError, TypeError, AttributeError, ValueError):
                    t = None
                if t is None:
                    if not isinstance(d, sj_object):
                        counts[4] += 1
                        return
                    subset = _sj_subset(d, _HOT_KEYS)
                    t = _decode_dict(subset)
                    o = subset.get("objectRef") if isinstance(subset.get("objectRef"), dict) else _EMPTY
                    if t[_F_RCV] is not None and _legacy_only(subset):
                        counts[6] += 1
                extras = _extras_dict(_sj_subset(d, _EXTRA_KEYS)) if want_extras else None
            else:
                try:
                    t, extras = decode(line, want_extras)
                except _NotEvent:
                    counts[4] += 1
                    return
                except ValueError:
                    counts[2 if line.strip() else 3] += 1
                    return
            user, verb, resource, sub, group, _ns, _name, code, stage, received, stage_ts = t
            try:
                canonical = (len(stage_ts) == 27 and len(received) == 27 and stage_ts[26] == "Z"
                             and received[26] == "Z")
            except TypeError:
                canonical = False
            if not canonical:
                stage_ts, received = _canon_str(stage_ts), _canon_str(received)
                if received is None or stage_ts is None:
                    counts[4] += 1
                    return
            last = edge[1]
            if last is None:
                edge[0] = edge[1] = stage_ts
            elif stage_ts < last:
                counts[5] += 1
            else:
                edge[1] = stage_ts
            if received < from_s or received > to_s:
                return
            if match is not None and not match(t, extras):
                return
            if len(records) < max_events:
                if simd:
                    records.append(_record_sj(d, t, o, received, stage_ts))
                else:
                    records.append(event_record(full_decode(line)))
            if out_write is not None:
                out_write(_export_line(line, resource))
                out_write(b"\n")
            # one counter update per event; by_user/by_verb/... and the stage basis are derived at the end
            combos[(user, verb, resource, sub, group, code, stage)] += 1
            if code == 403 or code == 401:
                see("denied", received)
            if sub is not None:
                if resource == "pods" and sub in POD_ATTACH_SUBRESOURCES and not group:
                    if not final_only or stage == "ResponseComplete" or stage == "Panic":
                        acc.exec_targets[(user, sub, t[5], t[6])] += 1
                    see("exec", received)
                    if stage != "RequestReceived":
                        if simd:
                            try:
                                audit_id = d["auditID"]
                            except KeyError:
                                audit_id = None
                        else:
                            audit_id = full_decode(line).get("auditID")
                        _session(acc, audit_id, t, stage, received)
            elif resource == "secrets" and not group and verb in SECRET_READ_VERBS:
                if code == 403 or code == 401:
                    see("secret_denied", received)
                elif not isinstance(user, str) or not user.startswith("system:"):
                    if not isinstance(code, int) or code < 400:
                        see("secret_reads", received)
            if group == RBAC_GROUP and verb in RBAC_WRITE_VERBS:
                if not final_only or stage == "ResponseComplete" or stage == "Panic":
                    acc.rbac_items[(user, verb, resource, t[5], t[6])] += 1
                see("rbac", received)
            if user == "system:anonymous" or (
                    (not isinstance(user, str) or not user.startswith("system:"))
                    and anon_needle in line and _unauthenticated(line)):
                if not final_only or stage == "ResponseComplete" or stage == "Panic":
                    acc.anon += 1
                    _anonymous_details(acc, line, code, received)
        return handle

    def block(self, buf, lo, hi):
        """Process buf[lo:hi], which holds whole lines (hi is just past a newline)."""
        if self.driver is None and self.needles:
            self.choose_driver(buf[lo:min(hi, lo + (4 << 20))])
        nl = buf.count(b"\n", lo, hi)
        self.acc.stats["lines"] += nl
        self.fstats["lines"] += nl
        handle = self.handle
        find = buf.find
        if self.driver is None:
            start = lo
            while start < hi:
                end = find(b"\n", start, hi)
                if end < 0:
                    end = hi
                if end > start:
                    handle(buf[start:end])
                start = end + 1
            return
        rfind = buf.rfind
        driver = self.driver
        if len(driver) == 1:
            needle = driver[0]
            pos = find(needle, lo, hi)
            while pos >= 0:
                start = rfind(b"\n", lo, pos) + 1
                if start == 0:
                    start = lo
                end = find(b"\n", pos, hi)
                if end < 0:
                    end = hi
                handle(buf[start:end])
                pos = find(needle, end + 1, hi) if end + 1 < hi else -1
            return
        starts = set()
        for needle in driver:
            pos = find(needle, lo, hi)
            while pos >= 0:
                start = rfind(b"\n", lo, pos) + 1
                if start == 0:
                    start = lo
                starts.add(start)
                end = find(b"\n", pos, hi)
                if end < 0:
                    break
                pos = find(needle, end + 1, hi) if end + 1 < hi else -1
        for start in sorted(starts):
            end = find(b"\n", start, hi)
            handle(buf[start:end if end >= 0 else hi])

    def oversized(self):
        """A line longer than max_line_bytes, skipped without decoding."""
        self.counts[7] += 1
        self.acc.stats["lines"] += 1
        self.fstats["lines"] += 1

    def tail(self, data):
        """Bytes after the last newline at the end of a file: a complete event without newline, or truncated."""
        if not data.strip():
            return
        self.acc.stats["lines"] += 1
        self.fstats["lines"] += 1
        try:
            full_decode(data)
        except ValueError:
            self.acc.stats["truncated_last_line"] += 1
            self.fstats["truncated_last_line"] += 1
            return
        self.handle(data)

    def finish(self):
        stats, fstats, counts = self.acc.stats, self.fstats, self.counts
        counts[1] = sum(self.acc.combos.values()) - self.acc.matched
        counts[6] += self.decoder.legacy
        for name, value in zip(("decoded", "matched", "non_json", "blank", "invalid_events", "out_of_order",
                                "legacy_timestamp", "oversized_lines"), counts):
            if value:
                stats[name] += value
                fstats[name] += value
        self.acc.matched += counts[1]
        self.acc.edges.append((self.fi, self.edge[0], self.edge[1]))


def _read_at(fd, offset, size):
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover
    return os.read(fd, size)  # pragma: no cover


def _line_at(fd, pos, limit, size, counter, cap=DEFAULT_MAX_LINE_BYTES):
    """(start, line) of the first line starting at or after pos and before limit, or (limit, None).

    The line is read to its newline (or to `size`), even past limit, but at most `cap` bytes of it (a longer line
    comes back cut, and its stageTimestamp usually unreadable: the seek steps over it).
    """
    if pos > 0:
        piece = _read_at(fd, pos - 1, 1)
        counter[0] += 1
        if piece != b"\n":
            while pos < limit:
                data = _read_at(fd, pos, min(PROBE, size - pos))
                counter[0] += len(data)
                if not data:
                    return limit, None
                idx = data.find(b"\n")
                if idx >= 0:
                    pos += idx + 1
                    break
                pos += len(data)
    if pos >= limit:
        return limit, None
    parts = []
    cur = pos
    while cur < size and cur - pos <= cap:
        data = _read_at(fd, cur, min(PROBE, size - cur))
        counter[0] += len(data)
        if not data:
            break
        idx = data.find(b"\n")
        if idx >= 0:
            parts.append(data[:idx])
            break
        parts.append(data)
        cur += len(data)
    return pos, b"".join(parts)


def _stage_of(line, decoder):
    """Canonical stageTimestamp of one raw line (fast path: rfind of the key), or None."""
    if line is None:
        return None
    idx = line.rfind(_STAGE_KEY)
    if idx >= 0:
        value = line[idx + len(_STAGE_KEY): idx + len(_STAGE_KEY) + 40]
        end = value.find(b'"')
        if end > 0:
            return _canon_str(value[:end].decode("ascii", "replace"))
    legacy = decoder.legacy   # a probe is not an event read: keep the legacy count of the scan
    try:
        t, _ex = decoder.decode(line)
    except ValueError:
        return None
    finally:
        decoder.legacy = legacy
    return _canon_str(t[_F_STS])


def _stage_near(fd, pos, limit, size, decoder, counter, tries=16, cap=DEFAULT_MAX_LINE_BYTES):
    """First line at/after pos with a readable stageTimestamp -> (start, end, stage) or (limit, limit, None)."""
    for _dummy in range(tries):
        start, line = _line_at(fd, pos, limit, size, counter, cap)
        if line is None:
            return limit, limit, None
        if len(line) > cap:  # cut: find where the long line really ends before going on
            end = _align(fd, start + len(line), size, counter, cap)
            if end <= start + len(line):
                return limit, limit, None
            pos = end
            continue
        stage = _stage_of(line, decoder)
        end = start + len(line) + 1
        if stage is not None:
            return start, end, stage
        pos = end
    return limit, limit, None


def _seek(fd, lo, hi, size, target, decoder, counter, cap=DEFAULT_MAX_LINE_BYTES):
    """Narrow [lo, hi] around the first line whose stageTimestamp is >= target (the file being sorted).

    Returns (lo, hi): every line starting before lo is older than target, the line at hi (if any) is not.
    lo must be a line start. Lines without a stageTimestamp are stepped over. Stops refining when the
    window is below SEEK_MIN bytes; the caller filters exactly anyway, so it reads from lo (a start) or
    up to hi (an end).
    """
    while hi - lo > SEEK_MIN:
        mid = (lo + hi) // 2
        start, end, stage = _stage_near(fd, mid, hi, size, decoder, counter, cap=cap)
        if stage is None or start >= hi:
            hi = mid
            continue
        if stage < target:
            lo = end
        else:
            hi = start
    return lo, hi


def _tail_line(fd, size, counter, cap=DEFAULT_MAX_LINE_BYTES):
    """(start, line) of the last complete line (one that ends in a newline) in the first `size` bytes;
    (0, None) when there is none within the last `cap` bytes (no newline, or a line longer than cap)."""
    block = PROBE
    while True:
        if block > 2 * cap + PROBE:
            return 0, None
        begin = max(0, size - block)
        data = _read_at(fd, begin, size - begin)
        counter[0] += len(data)
        last_nl = data.rfind(b"\n")
        if last_nl < 0:
            if begin == 0:
                return 0, None
            block *= 4
            continue
        prev_nl = data.rfind(b"\n", 0, last_nl)
        if prev_nl >= 0 or begin == 0:
            return begin + prev_nl + 1, data[prev_nl + 1:last_nl]
        block *= 4


def _plan_plain(entry, ctx, decoder):
    """Byte range [start, end) of a plain file to scan (end = None: skip), plus probe bytes read."""
    counter = [0]
    size = entry["size"]
    fd = os.open(entry["path"], os.O_RDONLY)
    try:
        if size == 0:
            return None, None, counter[0]
        cap = ctx.max_line
        _first_start, _first_end, first_stage = _stage_near(fd, 0, size, size, decoder, counter, cap=cap)
        last_start, last_line = _tail_line(fd, size, counter, cap)
        last_stage = _stage_of(last_line, decoder)
        if last_stage is not None and last_stage < ctx.stage_lo_s:
            # everything before the last complete line is older; the unterminated tail (if any) still counts
            tail_from = last_start + len(last_line) + 1
            if tail_from >= size:
                return None, None, counter[0]
            return tail_from, size, counter[0]
        if first_stage is not None and first_stage > ctx.stage_hi_s:
            return None, None, counter[0]
        start, end = 0, size
        if first_stage is not None and first_stage < ctx.stage_lo_s:
            start = _seek(fd, 0, size, size, ctx.stage_lo_s, decoder, counter, cap)[0]
        if last_stage is not None and last_stage > ctx.stage_hi_s:
            beyond = _seek(fd, start, size, size, _next_us(ctx.stage_hi_s), decoder, counter, cap)[1]
            end = _align(fd, beyond, size, counter, cap)
        return start, end, counter[0]
    finally:
        os.close(fd)


def _next_us(canonical):
    return canon(parse_time_us(canonical) + 1)


def _align(fd, pos, size, counter, cap=DEFAULT_MAX_LINE_BYTES):
    """pos itself if it is a line start, else the start of the next line (or size)."""
    start, _line = _line_at(fd, pos, size, size, counter, cap)
    return start


def _scan_plain(path, index, start, end, size, ctx, acc):
    """Scan [start, end) of a plain file in large reads. A line longer than ctx.max_line is skipped to its newline
    (counted in stats.oversized_lines), so memory stays below 2 x max(CHUNK, max_line)."""
    scanner = _Scanner(ctx, acc, index)
    max_line = ctx.max_line
    buf = bytearray(CHUNK)
    carry = 0
    skipping = False
    pos = start
    with open(path, "rb", buffering=0) as fh:
        fh.seek(start)
        while pos < end:
            if carry == len(buf):
                buf.extend(bytearray(len(buf)))  # one line longer than the buffer (and below max_line): grow
            want = min(len(buf) - carry, end - pos)
            view = memoryview(buf)
            got = fh.readinto(view[carry:carry + want])
            view.release()
            if not got:
                break  # file shrank (truncated while we read)
            pos += got
            acc.stats["bytes_read"] += got
            fill = carry + got
            lo = 0
            if skipping:
                nl = buf.find(b"\n", 0, fill)
                if nl < 0:
                    carry = 0
                    continue
                skipping = False
                lo = nl + 1
            last_nl = buf.rfind(b"\n", lo, fill)
            if last_nl < 0:
                carry = fill - lo
                if carry > max_line:
                    scanner.oversized()
                    skipping, carry = True, 0
                elif lo:
                    buf[0:carry] = buf[lo:fill]
                continue
            scanner.block(buf, lo, last_nl + 1)
            rest = fill - last_nl - 1
            if rest:
                buf[0:rest] = buf[last_nl + 1:fill]
            carry = rest
    if carry and not skipping:
        scanner.tail(bytes(buf[:carry]))
    scanner.finish()


def _scan_gz(entry, index, ctx, acc):
    """Stream-decompress a rotated .gz backup in CHUNK pieces; skip decompressed blocks that lie before the window,
    stop after the window (the file is in stageTimestamp order). A line longer than ctx.max_line is skipped to its
    newline and counted, so a small file that inflates to gigabytes without a newline costs time, not memory."""
    scanner = _Scanner(ctx, acc, index)
    max_line = ctx.max_line
    inflate = zlib.decompressobj(31)
    pending = bytearray()
    done = skipping = False
    with open(entry["path"], "rb", buffering=0) as fh:
        while not done:
            raw = fh.read(1 << 20)
            if not raw:
                break
            acc.stats["bytes_read"] += len(raw)
            while raw and not done:
                try:
                    piece = inflate.decompress(raw, CHUNK)
                except zlib.error as exc:
                    acc.warnings.append("%s: gzip data is corrupt after %d compressed bytes (%s); the rest of this "
                                        "file was not read" % (entry["name"], fh.tell(), exc))
                    done = True
                    break
                raw = inflate.unconsumed_tail
                if inflate.eof:  # concatenated gzip members
                    raw = inflate.unused_data
                    if raw:
                        inflate = zlib.decompressobj(31)
                if skipping:
                    nl = piece.find(b"\n")
                    if nl < 0:
                        continue
                    skipping = False
                    piece = piece[nl + 1:]
                pending += piece
                last_nl = pending.rfind(b"\n")
                if last_nl < 0:
                    if len(pending) > max_line:
                        scanner.oversized()
                        skipping = True
                        del pending[:]
                    continue
                done = _gz_block(scanner, pending, last_nl, ctx, acc)
                del pending[:last_nl + 1]
    if not done:
        if not inflate.eof and (pending or acc.stats["bytes_read"]):
            acc.warnings.append("%s: gzip stream ends early (file truncated?); read what was there" % entry["name"])
        if pending and not skipping:
            scanner.tail(bytes(pending))
    scanner.finish()


def _gz_block(scanner, pending, last_nl, ctx, acc):
    """Handle pending[:last_nl+1]; return True when the scan can stop (block is past the window)."""
    first_stage = _stage_of(bytes(pending[:pending.find(b"\n")]), scanner.decoder)
    prev_nl = pending.rfind(b"\n", 0, last_nl)
    last_stage = _stage_of(bytes(pending[prev_nl + 1:last_nl]), scanner.decoder)
    if last_stage is not None and last_stage < ctx.stage_lo_s:
        nl = pending.count(b"\n", 0, last_nl + 1)
        acc.stats["lines"] += nl
        acc.stats["lines_skipped"] += nl
        scanner.fstats["lines"] += nl
        return False
    if first_stage is not None and first_stage > ctx.stage_hi_s:
        return True
    scanner.block(pending, 0, last_nl + 1)
    return False


def _run_units(units, ctx, max_events, out_path):
    """Scan a list of work units in order into one accumulator."""
    acc = _Acc(max_events, out_path)
    was = gc.isenabled()
    gc.disable()
    try:
        for unit in units:
            if unit[0] == "gz":
                _scan_gz(unit[1], unit[2], ctx, acc)
            else:
                _kind, entry, index, start, end = unit
                _scan_plain(entry["path"], index, start, end, entry["size"], ctx, acc)
    finally:
        acc.close()
        if was:
            gc.enable()
    return acc


def _unit_cost(unit):
    if unit[0] == "gz":
        return unit[1]["size"] * GZ_WEIGHT
    return unit[4] - unit[3]


def _run_parallel(units, ctx, max_events, out_dir, workers):
    """Split units into contiguous halves; the child process scans the second, the parent the first."""
    total = sum(_unit_cost(u) for u in units)
    out_paths = [None, None]

    def part():
        fd, name = tempfile.mkstemp(prefix=".audit_log_query.", suffix=".part", dir=out_dir)
        os.close(fd)
        return name
    if out_dir is not None:
        out_paths[0] = part()
    if workers < 2 or total < PARALLEL_MIN or not hasattr(os, "fork") or len(units) == 0:
        return _run_units(units, ctx, max_events, out_paths[0]), [p for p in out_paths[:1] if p], 1
    # cut the unit list at half the cost, splitting a plain range if it straddles the middle
    first, second, acc_cost = [], [], 0
    half = total / 2.0
    for unit in units:
        cost = _unit_cost(unit)
        if acc_cost >= half:
            second.append(unit)
        elif acc_cost + cost <= half or unit[0] == "gz":
            first.append(unit)
        else:
            kind, entry, index, start, end = unit
            fd = os.open(entry["path"], os.O_RDONLY)
            try:
                cut = _align(fd, start + int(half - acc_cost), entry["size"], [0])
            finally:
                os.close(fd)
            cut = min(max(cut, start), end)
            if cut > start:
                first.append((kind, entry, index, start, cut))
            if end > cut:
                second.append((kind, entry, index, cut, end))
        acc_cost += cost
    if not first or not second:
        return _run_units(units, ctx, max_events, out_paths[0]), [p for p in out_paths[:1] if p], 1
    if out_dir is not None:
        out_paths[1] = part()
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return _run_units(units, ctx, max_events, out_paths[0]), [p for p in out_paths[:1] if p], 1
    if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
        code = 0
        try:
            os.close(read_fd)
            try:
                payload = pickle.dumps(("ok", _run_units(second, ctx, max_events, out_paths[1]).state()), 2)
            except BaseException:  # everything must reach the parent
                payload = pickle.dumps(("error", traceback.format_exc()), 2)
                code = 1
            view = memoryview(payload)
            while view:
                view = view[os.write(write_fd, view):]
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        acc = _run_units(first, ctx, max_events, out_paths[0])
    except BaseException:
        os.close(read_fd)
        os.waitpid(pid, 0)
        raise
    chunks = []
    while True:
        data = os.read(read_fd, 1 << 20)
        if not data:
            break
        chunks.append(data)
    os.close(read_fd)
    os.waitpid(pid, 0)
    try:
        status, state = pickle.loads(b"".join(chunks))  # noqa: S301 - our own forked child
    except Exception:
        status, state = "error", "worker process died without a result"
    if status != "ok":  # fall back: scan the second half here
        acc.warnings.append("parallel worker failed, scanned sequentially: %s" % str(state).strip().splitlines()[-1])
        if out_paths[1]:
            open(out_paths[1], "wb").close()
        state = _run_units(second, ctx, max_events, out_paths[1]).state()
    acc.merge(state)
    return acc, [p for p in out_paths if p], 2


# ---------------------------------------------------------------------------------------------- query

def run_query(path=DEFAULT_PATH, root="/", since=None, time_from=None, time_to=None, now=None, filters=None,
              max_events=1000, output_file=None, write_output=True, findings=False, cluster=None, node_name=None,
              received_slack=None, workers=None, backend=None, max_line_bytes=DEFAULT_MAX_LINE_BYTES):
    """Run one query; returns the module result body (without changed). Raises AuditLogError."""
    if isinstance(max_line_bytes, bool) or not isinstance(max_line_bytes, int) or max_line_bytes < 1024:
        raise AuditLogError("max_line_bytes: expected an integer >= 1024, got %r" % (max_line_bytes,))
    started = time.perf_counter()
    if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 0:
        raise AuditLogError("max_events: expected an integer >= 0, got %r" % (max_events,))
    query = Query(filters)
    from_us, to_us, now_us = resolve_window(now, since, time_from, time_to)
    slack = DEFAULT_SLACK if received_slack in (None, "") else parse_duration(received_slack, "received_slack")
    slack_us = int(slack * 1000000)
    decoder = _Decoder(backend)
    ctx = _Ctx(query, from_us, to_us, slack_us, decoder.backend, max_line_bytes)
    files = find_log_files(path, root)
    if workers is None:
        workers = 2 if (os.cpu_count() or 1) >= 2 else 1

    out_dir = out_real = None
    if output_file:
        if not str(output_file).startswith("/"):
            raise AuditLogError("output_file: expected an absolute path, got %r" % (output_file,))
        out_real = _node_join(root, output_file)
        if write_output:
            out_dir = os.path.dirname(out_real)
            if not os.path.isdir(out_dir):
                raise AuditLogError("output_file: directory %s does not exist" % out_dir)

    # plan: which files, which byte ranges
    units, file_rows, probe = [], [], 0
    for index, entry in enumerate(files):
        row = {"name": entry["name"], "path": entry["path"], "bytes": entry["size"], "compressed": entry["gz"],
               "skipped": False, "events": 0}
        file_rows.append(row)
        if entry["gz"]:
            previous = files[index - 1]["rotated_us"] if index > 0 else None
            if entry["rotated_us"] is not None and canon(entry["rotated_us"]) < ctx.stage_lo_s:
                row["skipped"] = True
                continue
            if previous is not None and canon(previous - ORDER_TOLERANCE * 1000000) > ctx.stage_hi_s:
                row["skipped"] = True
                continue
            units.append(("gz", entry, index))
            continue
        start, end, probed = _plan_plain(entry, ctx, decoder)
        probe += probed
        if start is None or end is None or end <= start:
            row["skipped"] = True
            continue
        units.append(("plain", entry, index, start, end))

    tmp_paths = []
    try:
        acc, tmp_paths, used_workers = _run_parallel(units, ctx, max_events, out_dir, workers)
        out_written = False
        if out_dir is not None:
            _assemble(tmp_paths, out_real)
            tmp_paths = []
            out_written = True
    finally:
        for tmp in tmp_paths:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    for index, counter in acc.files.items():
        file_rows[index]["events"] = counter.get("matched", 0)
        file_rows[index]["lines"] = counter.get("lines", 0)
        if counter.get("oversized_lines"):
            file_rows[index]["oversized_lines"] = counter["oversized_lines"]
    records = acc.records
    stats = acc.stats
    summary = build_summary(acc, query, min(now_us, to_us + slack_us))
    warnings = list(acc.warnings)
    if stats.get("legacy_timestamp", 0):
        warnings.append("%d event(s) carry only the legacy timestamp field (audit.k8s.io/v1alpha1 or v1beta1, no "
                        "requestReceivedTimestamp/stageTimestamp): read with it as both received and stage time"
                        % stats["legacy_timestamp"])
    if stats.get("oversized_lines", 0):
        warnings.append("%d line(s) longer than max_line_bytes (%d) were skipped without reading them; the rest of "
                        "each file was read (files: %s)" % (
                            stats["oversized_lines"], max_line_bytes,
                            ", ".join(file_rows[i]["name"] for i, c in sorted(acc.files.items())
                                      if c.get("oversized_lines"))))
    if stats.get("sessions_not_tracked", 0):
        warnings.append("%d exec/attach/portforward request(s) beyond the first %d were not tracked for open "
                        "sessions" % (stats["sessions_not_tracked"], MAX_SESSIONS))
    clipped = sum(1 for record in records if "clipped" in record)
    result = {
        "events": records,
        "events_total": acc.matched,
        "events_truncated": acc.matched > len(records),
        "summary": summary,
        "files": [{k: v for k, v in row.items() if k != "path"} for row in file_rows],
        "window": {"from": canon(from_us), "to": canon(to_us), "received_slack_seconds": slack,
                   "now": canon(now_us)},
        "stats": {
            "lines": stats.get("lines", 0),
            "lines_decoded": stats.get("decoded", 0),
            "matched": acc.matched,
            "truncated_last_lines": stats.get("truncated_last_line", 0),
            "non_json_lines": stats.get("non_json", 0),
            "invalid_events": stats.get("invalid_events", 0),
            "out_of_order_events": stats.get("out_of_order", 0),
            "legacy_timestamp_events": stats.get("legacy_timestamp", 0),
            "oversized_lines": stats.get("oversized_lines", 0),
            "max_line_bytes": max_line_bytes,
            "clipped_events": clipped,
            "max_text": MAX_TEXT,
            "bytes_read": stats.get("bytes_read", 0) + probe,
            "files_read": sum(1 for row in file_rows if not row["skipped"]),
            "files_skipped": sum(1 for row in file_rows if row["skipped"]),
            "seconds": round(time.perf_counter() - started, 4),
            "json_backend": decoder.backend,
            "processes": used_workers,
        },
        "output_file": output_file if output_file else None,
        "output_written": out_written,
        "warnings": warnings,
    }
    if findings:
        result["findings"] = build_findings(summary, acc, result["window"], cluster, node_name)
    return result


def _assemble(parts, output_file):
    """Concatenate the part files in order into output_file atomically (rename over it)."""
    first = parts[0]
    with open(first, "ab") as out:
        for part in parts[1:]:
            with open(part, "rb") as src:
                while True:
                    data = src.read(1 << 22)
                    if not data:
                        break
                    out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(first, 0o600)
    os.replace(first, output_file)
    for part in parts[1:]:
        os.unlink(part)


def _top(counter, key_name, limit=TOP):
    return [{key_name: _text_key(key), "count": count} for key, count in
            sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[:limit]]


def _ordered(counter):
    out = {}
    for key, count in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0]))):
        key = _clip("" if key is None else str(key))
        out[key] = out.get(key, 0) + count
    return out


def _nonsystem(counter):
    return collections.Counter({u: n for u, n in counter.items() if not isinstance(u, str) or not u.startswith("system:")})


def _text_key(value):
    return _clip(value) if isinstance(value, str) else value


def _allowed(code):
    """The response let the request through (a read returned data). A missing or odd code counts as allowed."""
    return not isinstance(code, int) or isinstance(code, bool) or code < 400


def build_summary(acc, query, open_as_of_us=None):
    """Summary of the counted events (requests at their final stage unless the stage filter says otherwise)."""
    by_user, by_verb, by_resource, by_stage = (collections.Counter() for dummy in range(4))
    denied_users, secret_users, exec_users, rbac_users = (collections.Counter() for dummy in range(4))
    secret_denied_users = collections.Counter()
    total = 0
    for (user, verb, resource, sub, group, code, stage), n in acc.combos.items():
        by_stage[stage] += n
        if query.final_only and stage not in FINAL_STAGES:
            continue
        total += n
        by_user[user] += n
        by_verb[verb] += n
        by_resource["(non-resource)" if resource is None else resource if sub is None else
                    "%s/%s" % (resource, sub)] += n
        if code in (401, 403):
            denied_users[user] += n
        if resource == "secrets" and sub is None and not group and verb in SECRET_READ_VERBS:
            if code in (401, 403):
                secret_denied_users[user] += n     # an attempt, not a read: nothing was returned
            elif _allowed(code):
                secret_users[user] += n
        if resource == "pods" and sub in POD_ATTACH_SUBRESOURCES and not group:
            exec_users[user] += n
        if group == RBAC_GROUP and verb in RBAC_WRITE_VERBS:
            rbac_users[user] += n
    secret_nonsystem = _nonsystem(secret_users)
    secret_denied_nonsystem = _nonsystem(secret_denied_users)
    rbac_nonsystem = _nonsystem(rbac_users)
    # open sessions: ResponseStarted seen, no final stage (only decidable when both stages can match the query)
    stages = query.values.get("stage")
    open_known = stages is None or ("ResponseStarted" in stages and bool(stages & set(FINAL_STAGES)))
    open_sessions = sorted(
        ({"user": _text_key(e[0]), "subresource": e[1], "namespace": _text_key(e[2]), "pod": _text_key(e[3]),
          "since": human_time(e[4]), "audit_id": _text_key(audit_id)}
         for audit_id, e in acc.sessions.items() if e[5] and not e[6]),
        key=lambda item: (str(item["since"]), str(item["audit_id"])))
    targets = collections.Counter()
    for (_user, sub, namespace, pod), n in acc.exec_targets.items():
        targets[(sub, namespace, pod)] += n
    return {
        "counted": "requests" if query.final_only else "events",
        "total": total,
        "by_user": _ordered(by_user),
        "by_verb": _ordered(by_verb),
        "by_resource": _ordered(by_resource),
        "by_stage": _ordered(by_stage),
        "denied": {"count": sum(denied_users.values()), "top_users": _top(denied_users, "user")},
        "secret_reads": {"count": sum(secret_users.values()), "non_system": sum(secret_nonsystem.values()),
                         "top_users": _top(secret_users, "user"),
                         "top_non_system_users": _top(secret_nonsystem, "user")},
        "secret_access_denied": {"count": sum(secret_denied_users.values()),
                                 "non_system": sum(secret_denied_nonsystem.values()),
                                 "top_users": _top(secret_denied_users, "user")},
        "exec": {"count": sum(exec_users.values()), "top_users": _top(exec_users, "user"),
                 "targets": [{"subresource": k[0], "namespace": _text_key(k[1]), "pod": _text_key(k[2]), "count": n}
                             for k, n in sorted(targets.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP]],
                 "open": len(open_sessions) if open_known else None,
                 "open_as_of": canon(open_as_of_us) if open_as_of_us is not None and open_known else None,
                 "open_sessions": open_sessions[:TOP * 5]},
        "rbac_changes": {"count": sum(rbac_users.values()), "non_system": sum(rbac_nonsystem.values()),
                         "top_users": _top(rbac_users, "user"),
                         "changes": [{"user": _text_key(k[0]), "verb": _text_key(k[1]), "resource": _text_key(k[2]),
                                      "namespace": _text_key(k[3]), "name": _text_key(k[4]), "count": n} for k, n in
                                     sorted(acc.rbac_items.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP * 2]]},
        "anonymous": {"count": acc.anon, "allowed": sum(acc.anon_allowed.values()),
                      "allowed_non_public": sum(n for uri, n in acc.anon_allowed.items() if uri not in PUBLIC_PATHS),
                      "top_allowed_paths": _top(acc.anon_allowed, "path"),
                      "top_source_ips": _top(acc.anon_ips, "source_ip")},
    }


def _span(acc, category):
    span = acc.seen.get(category)
    return (human_time(span[0]), human_time(span[1])) if span else (None, None)


def build_findings(summary, acc, window, cluster, node):
    """Normalized findings (source audit-log) for the notable summary items that occurred."""
    out = []
    evidence_base = {"window_from": window["from"], "window_to": window["to"], "counted": summary["counted"]}

    def add(fid, title, status, severity, category, count, evidence, description, remediation, kind=None, tags=(),
            span=None):
        first, last = span or _span(acc, category)
        ev = dict(evidence_base)
        ev.update(evidence)
        out.append(make_finding(fid, "audit-log", title, status, severity=severity, cluster=cluster, node=node,
                                resource={"kind": kind}, description=description, remediation=remediation,
                                references=["https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/"],
                                evidence=ev, extra={"count": count, "first_seen": first, "last_seen": last,
                                                    "tags": ["audit-log", *tags]}))

    anon = summary["anonymous"]
    if anon["count"]:
        risky = anon["allowed_non_public"]
        add("KS-AUDIT-001", "Anonymous (unauthenticated) requests reached the API server",
            "warn" if risky else "info", "medium" if risky else "info", "anonymous", anon["count"],
            {"allowed": anon["allowed"], "allowed_non_public": risky, "top_allowed_paths": anon["top_allowed_paths"],
             "top_source_ips": anon["top_source_ips"]},
            "%d request(s) by system:anonymous / system:unauthenticated; %d were allowed, %d of them outside the "
            "public health/version endpoints." % (anon["count"], anon["allowed"], risky),
            "Set --anonymous-auth=false or restrict it to health endpoints (AuthenticationConfiguration "
            "anonymous.conditions); remove RBAC bindings to system:anonymous / system:unauthenticated.",
            tags=("anonymous",))
    denied = summary["denied"]
    if denied["count"]:
        add("KS-AUDIT-002", "Requests denied by authentication or authorization (401/403)", "info", "info", "denied",
            denied["count"], {"top_users": denied["top_users"]},
            "%d request(s) answered 401 or 403. Denials are normal in small numbers; many from one user or "
            "source can mean probing or a broken credential." % denied["count"],
            "Review the top users; rotate or remove credentials that keep failing.", tags=("denied",))
    secrets = summary["secret_reads"]
    if secrets["non_system"]:
        users = secrets["top_non_system_users"]
        add("KS-AUDIT-003", "Secrets read by non-system users", "warn", "low", "secret_reads", secrets["non_system"],
            {"top_users": users},
            "%d get/list/watch request(s) on secrets that the API server answered (not 401/403) by users whose "
            "name does not start with system: (service accounts and nodes are excluded). Denied attempts are "
            "counted apart (KS-AUDIT-006)." % secrets["non_system"],
            "Check that these users need secret access; prefer narrowly scoped Roles with resourceNames.",
            kind="Secret", tags=("secrets",))
    attempts = summary["secret_access_denied"]
    if attempts["count"]:
        risky = attempts["non_system"]
        add("KS-AUDIT-006", "Attempted secret access (get/list/watch on secrets denied)", "warn", "medium" if risky
            else "low", "secret_denied", attempts["count"],
            {"non_system": risky, "top_users": attempts["top_users"]},
            "%d get/list/watch request(s) on secrets were answered 401 or 403, %d of them by users whose name does "
            "not start with system:. Nothing was returned, but someone tried: a stolen or over-curious credential "
            "probing for secrets looks like this." % (attempts["count"], risky),
            "Find out who holds these credentials and why they asked for secrets; rotate a credential that should "
            "not be asking.", kind="Secret", tags=("secrets", "denied"))
    ex = summary["exec"]
    if ex["open"]:
        sessions = ex["open_sessions"]
        add("KS-AUDIT-007", "Interactive session into a pod still open (exec, attach, port-forward)", "warn",
            "medium", "exec", ex["open"], {"open_as_of": ex["open_as_of"], "sessions": sessions},
            "%d exec/attach/portforward session(s) started (stage ResponseStarted) and had not ended (no "
            "ResponseComplete) as of %s: %s." % (
                ex["open"], ex["open_as_of"],
                "; ".join("%s %s into %s/%s since %s" % (o["user"], o["subresource"], o["namespace"], o["pod"], o["since"])
                          for o in sessions[:5])),
            "Confirm each open session is expected and who is on it; end it by deleting the pod or revoking the "
            "user's access if it is not.", kind="Pod", tags=("exec", "open-session"),
            span=(min(str(o["since"]) for o in sessions), max(str(o["since"]) for o in sessions)))
    if ex["count"]:
        add("KS-AUDIT-004", "Interactive access into pods (exec, attach, port-forward)", "warn", "low", "exec",
            ex["count"], {"top_users": ex["top_users"], "targets": ex["targets"]},
            "%d exec/attach/portforward request(s) into pods." % ex["count"],
            "Confirm each session was expected; restrict pods/exec, pods/attach and pods/portforward in RBAC.",
            kind="Pod", tags=("exec",))
    rbac = summary["rbac_changes"]
    if rbac["count"]:
        risky = rbac["non_system"]
        add("KS-AUDIT-005", "RBAC objects changed", "warn" if risky else "info", "medium" if risky else "info",
            "rbac", rbac["count"], {"non_system": risky, "top_users": rbac["top_users"], "changes": rbac["changes"]},
            "%d create/update/patch/delete request(s) on rbac.authorization.k8s.io objects, %d by users whose "
            "name does not start with system:." % (rbac["count"], risky),
            "Review each change against change records; RBAC should be changed through reviewed manifests.",
            kind="RBAC", tags=("rbac",))
    return out
