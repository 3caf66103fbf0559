# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decoding audit Event lines: one JSON line -> the hot fields tuple (see _auditlog_common._F_*) and, when a filter
needs them, the extras (groups, source IPs, user agent, impersonated user); the record the module returns.

Private module_utils (node side). Uses pysimdjson (``simdjson``) or ``orjson`` when importable, else ``json``.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any, Callable, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_common import (
    _F_RCV,
    _SCALAR_TYPES,
    _SCALARS,
    MAX_TEXT,
    AuditLogError,
    _clip,
    _NotEvent,
    _plain,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_time import human_time
from ansible_collections.kubesec.cluster.plugins.module_utils._redact import redact_clipped


def _optional(name: str) -> Any:
    """An optional accelerator (the module, or None when this node's Python does not have it)."""
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - depends on the node
        return None


_simdjson = _optional("simdjson")
_orjson = _optional("orjson")

if TYPE_CHECKING:
    # (username, verb, resource, subresource, apiGroup, namespace, name, code, stage, received, stageTimestamp)
    Fields = Tuple[Any, ...]
    # (groups, sourceIPs, userAgent, impersonated username)
    Extras = Tuple[list, list, Any, Any]

_EMPTY: dict[str, Any] = {}


def _decode_dict(d: Any) -> Fields | None:
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
    t = (
        un,
        d.get("verb"),
        o.get("resource"),
        o.get("subresource"),
        o.get("apiGroup"),
        o.get("namespace"),
        o.get("name"),
        code,
        d.get("stage"),
        received,
        stage_ts,
    )
    for v in t:
        if type(v) not in _SCALARS:
            return tuple(_plain(v) for v in t)
    return t


def _legacy_only(d: dict[str, Any]) -> bool:
    """True when the event has only the deprecated ``timestamp`` (no requestReceivedTimestamp/stageTimestamp)."""
    return d.get("requestReceivedTimestamp") is None and d.get("stageTimestamp") is None and d.get("timestamp") is not None


def _extras_dict(d: dict[str, Any]) -> Extras:
    """(groups, sourceIPs, userAgent, impersonated username) from a decoded event dict."""
    u = d.get("user")
    groups = u.get("groups") if isinstance(u, dict) else None
    imp = d.get("impersonatedUser")
    imp_name = imp.get("username") if isinstance(imp, dict) else None
    ips = d.get("sourceIPs")
    return (
        [_plain(g) for g in groups] if isinstance(groups, list) else [],
        [_plain(i) for i in ips] if isinstance(ips, list) else [],
        _plain(d.get("userAgent")),
        _plain(imp_name),
    )


class _Decoder:
    """Line bytes -> (fields tuple, extras or None). Raises ValueError for lines that are not JSON."""

    decode: Callable[..., tuple[Fields, Extras | None]]
    parser: Any

    def __init__(self, backend: str | None = None) -> None:
        if backend is None:
            backend = "simdjson" if _simdjson is not None else ("orjson" if _orjson is not None else "json")
        if (backend == "simdjson" and _simdjson is None) or (backend == "orjson" and _orjson is None):
            raise AuditLogError("JSON backend %r is not importable here" % backend)
        if backend not in ("simdjson", "orjson", "json"):
            raise AuditLogError("JSON backend %r is unknown (simdjson, orjson, json)" % backend)
        self.backend = backend
        self.legacy = 0  # events read by their legacy timestamp field (orjson/json; simdjson counts in the scan)
        if backend == "simdjson":
            self.parser = _simdjson.Parser()
            self.decode = self._decode_simdjson
        elif backend == "orjson":
            loads = _orjson.loads

            def decode(line: bytes, extras: bool = False) -> tuple[Fields, Extras | None]:
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

            def decode(line: bytes, extras: bool = False) -> tuple[Fields, Extras | None]:
                d = loads(line.decode("utf-8") if not isinstance(line, str) else line)
                t = _decode_dict(d)
                if t is None:
                    raise _NotEvent("not a JSON object")
                if t[_F_RCV] is not None and _legacy_only(d):
                    self.legacy += 1
                return t, (_extras_dict(d) if extras else None)

            self.decode = decode

    def _decode_simdjson(self, line: bytes, extras: bool = False) -> tuple[Fields, Extras | None]:
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
    def _simdjson_fields(d: Any, extras: bool) -> tuple[Fields, Extras | None]:
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
            fast: Fields = (un, verb, o.get("resource"), o.get("subresource"), o.get("apiGroup"), o.get("namespace"), o.get("name"), code, stage, rcv, sts)
            if not _SCALAR_TYPES.issuperset(map(type, fast)):
                raise TypeError("unexpected value types")
            t: Fields | None = fast
        except (KeyError, TypeError, AttributeError, ValueError):
            t = None
        if t is None:  # anything unusual: copy the few fields we need into Python objects
            t = _decode_dict(_sj_subset(d, _HOT_KEYS))
            if t is None:  # pragma: no cover - a subset is always a dict
                raise _NotEvent("not a JSON object")
        if not extras:
            return t, None
        return t, _extras_dict(_sj_subset(d, _EXTRA_KEYS))


def _sj_py(value: Any) -> Any:
    if isinstance(value, _SJ_OBJECT):
        return value.as_dict()
    if isinstance(value, _SJ_ARRAY):
        return value.as_list()
    return value


def _sj_value(d: Any, key: str) -> Any:
    try:
        return _plain(_sj_py(d[key]))
    except KeyError:
        return None


def _record_sj(d: Any, t: Fields, o: dict[str, Any], received: str, stage_ts: str) -> dict[str, Any]:
    """The returned record, from a simdjson document and the fields already picked (same as event_record)."""
    return _bounded_record(
        {
            "request_uri": _sj_value(d, "requestURI"),
            "audit_id": _sj_value(d, "auditID"),
            "object_ref": {"api_group": t[4], "api_version": _plain(o.get("apiVersion")), "name": t[6], "namespace": t[5], "resource": t[2]},
            "action": t[1],
            "user": t[0],
            "request_received_time": received[:10] + " " + received[11:19],
            "log_time": stage_ts[:10] + " " + stage_ts[11:19],
            "response_code": t[7],
        }
    )


def _bounded_record(record: dict[str, Any]) -> dict[str, Any]:
    """Clip every text value of a record to MAX_TEXT characters and redact the request URI (?token=X, ...).
    Adds ``clipped`` (the names of the clipped fields) and ``redacted`` (values replaced) when they happened."""
    clipped: list[str] = []
    redacted = 0
    uri = record.get("request_uri")
    if isinstance(uri, str):
        if "=" in uri or "@" in uri or " " in uri:  # values live in the query (or userinfo): the rest is a path
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
    ref = record["object_ref"]
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


def _sj_subset(d: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: _sj_py(d[key]) for key in keys if key in d}


_HOT_KEYS = ("user", "verb", "objectRef", "responseStatus", "stage", "requestReceivedTimestamp", "stageTimestamp", "timestamp")
_EXTRA_KEYS = ("user", "impersonatedUser", "sourceIPs", "userAgent")


# isinstance() targets for simdjson's proxies (an empty tuple matches nothing when simdjson is missing)
_SJ_OBJECT: Any = _simdjson.Object if _simdjson is not None else ()
_SJ_ARRAY: Any = _simdjson.Array if _simdjson is not None else ()


def full_decode(line: bytes | bytearray | str) -> Any:
    """Whole event as Python objects (for records and tests): orjson or json."""
    if _orjson is not None:
        return _orjson.loads(line)
    return json.loads(line.decode("utf-8") if isinstance(line, (bytes, bytearray)) else line)


def event_record(event: dict[str, Any]) -> dict[str, Any]:
    """Decoded audit Event dict -> the record the module returns."""
    obj, user, status = event.get("objectRef"), event.get("user"), event.get("responseStatus")
    obj = obj if isinstance(obj, dict) else {}
    user = user if isinstance(user, dict) else {}
    status = status if isinstance(status, dict) else {}
    received = event.get("requestReceivedTimestamp")
    stage_ts = event.get("stageTimestamp")
    if received is None and stage_ts is None:
        received = stage_ts = event.get("timestamp")
    return _bounded_record(
        {
            "request_uri": _plain(event.get("requestURI")),
            "audit_id": _plain(event.get("auditID")),
            "object_ref": {
                "api_group": _plain(obj.get("apiGroup")),
                "api_version": _plain(obj.get("apiVersion")),
                "name": _plain(obj.get("name")),
                "namespace": _plain(obj.get("namespace")),
                "resource": _plain(obj.get("resource")),
            },
            "action": _plain(event.get("verb")),
            "user": _plain(user.get("username")),
            "request_received_time": human_time(received),
            "log_time": human_time(stage_ts),
            "response_code": _plain(status.get("code")),
        }
    )
