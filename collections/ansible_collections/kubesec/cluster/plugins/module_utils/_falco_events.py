# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Falco events (JSON output, ``kubectl logs`` of Falco pods, falcosidekick-ui's API) -> grouped findings.

Private module_utils (leading underscore): the API may change between minor releases.
Standard library only, so it runs on any managed node and in plain pytest.

Input shapes (shared reference formats.md 4.3): one JSON object per line with ``time`` (ISO 8601 UTC with nine
fraction digits), ``rule``, ``priority`` (capitalised names, parsed case-insensitively, ``Info`` accepted),
``source``, ``hostname``, ``output``, ``tags``, ``output_fields``; falcosidekick adds ``uuid``. ``kubectl logs``
mixes Falco's own text lines in (``Falco version: ...``) and may prefix lines with ``--timestamps`` /
``--prefix`` decorations; those are recognised, non-JSON lines are counted and skipped. A JSON array, or a saved
falcosidekick-ui search answer (``{"results": [...], "statistics": {...}}``), is read as a whole.

Events are filtered by time window and minimum priority, then grouped: one finding per (rule, hostname, Kubernetes
pod and container - or the container id outside Kubernetes, or the host) with ``count``, ``first_seen`` and
``last_seen``. Secrets never reach a finding: output fields whose name looks secret (``proc.env``, ``*token*``,
``*password*``, ...) are dropped and values after ``--token``, ``--password``, ``password=``, ``Bearer`` and the like
are replaced by ``<redacted>`` (see ``redact``).
"""

from __future__ import annotations

import base64
import calendar
import gzip
import json
import math
import os
import re
import ssl
import time
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import BaseHandler, HTTPSHandler, ProxyHandler, Request, build_opener
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple, Union

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils import _parsing
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.module_utils._redact import redact_clipped, redact_count

PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")
PRIORITY_RANK = dict((name, rank) for rank, name in enumerate(PRIORITIES))  # lower is more severe
PRIORITY_LABEL = dict((name, name.capitalize()) for name in PRIORITIES)
_PRIORITY_ALIASES = {"info": "informational", "warn": "warning", "err": "error", "crit": "critical", "emerg": "emergency"}
SEVERITY_OF_PRIORITY = {
    "emergency": "critical",
    "alert": "critical",
    "critical": "critical",
    "error": "high",
    "warning": "medium",
    "notice": "low",
    "informational": "info",
    "debug": "info",
}
FAIL_AT = PRIORITY_RANK["warning"]  # warning and above fail, the rest is information

DEFAULT_SINCE = "24h"
NS_PER_S = 1000000000
MAX_TEXT = 4096  # characters of one evidence string
MAX_FIELDS = 60  # output fields kept in the evidence of a group
MAX_TAGS = 30
EXAMPLES_PER_REASON = 3
INTERNAL_RULE_PREFIX = "Falco internal:"

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".log", ".txt", ".out", ".gz")

REASONS = {
    "non_json": "log line that is not a JSON event (Falco's own messages in kubectl logs)",
    "malformed": "line that starts like JSON but does not parse",
    "truncated": "last line of the input cut off (incomplete JSON)",
    "not_event": "JSON value that is not a Falco event (no rule / priority)",
    "bad_time": "event with a missing or unreadable time",
    "bad_priority": "event with an unknown priority",
    "out_of_window": "event outside the time window",
    "below_priority": "event below the minimum priority",
    "internal": "Falco internal event (metrics snapshot, drops)",
    "unreadable": "input that could not be read",
    "bad_text": "event with text that is not valid Unicode (a lone surrogate escape such as \\ud800)",
}
# Counted and reported as warnings (the others are expected in normal inputs).
WARN_REASONS = ("malformed", "truncated", "not_event", "bad_time", "bad_priority", "unreadable", "bad_text")


class FalcoInputError(KubesecError, ValueError):
    """Bad options or an input that cannot be read at all (names the option or the input)."""


class FalcoApiError(KubesecError, RuntimeError):
    """falcosidekick-ui could not be queried (names the URL and what to check)."""


# ----------------------------------------------------------------------------------------------- time and priority
_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,12}))?)?)?\s*"
    r"(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*$"
)


def parse_time(value: Any, assume_utc: bool = True) -> int:
    """ISO 8601 text (nine fraction digits allowed) or epoch nanoseconds -> integer epoch nanoseconds.

    Raises ValueError for anything else (the caller counts it). A timestamp without a zone is taken as UTC,
    which is what Falco writes.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("no time")
    if isinstance(value, int):
        if value > 10**17:  # nanoseconds (Falco's evt.time)
            return value
        return value * NS_PER_S
    if isinstance(value, float):
        raise ValueError("a float time is ambiguous")
    text = str(value)
    match = _ISO.match(text)
    if not match:
        raise ValueError("not an ISO 8601 time: %r" % text[:60])
    year, month, day, hour, minute, second, frac, zone = match.groups()
    if zone is None and not assume_utc:
        raise ValueError("time without a zone: %r" % text[:60])
    parts = [int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)]
    if not (1 <= parts[1] <= 12 and 1 <= parts[2] <= 31 and parts[3] <= 23 and parts[4] <= 59 and parts[5] <= 60):
        raise ValueError("time out of range: %r" % text[:60])
    try:
        seconds = calendar.timegm(tuple([*parts, 0, 0, 0]))
        same_day = time.gmtime(seconds)[:3] == tuple(parts[:3])  # February 31 rolls over: refuse it
    except (OverflowError, ValueError, OSError) as exc:
        raise ValueError("time out of range: %r" % text[:60]) from exc
    if not same_day:
        raise ValueError("no such day: %r" % text[:60])
    nanos = int((frac or "0")[:9].ljust(9, "0"))
    offset = 0
    if zone and zone not in ("Z", "z", "UTC"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)
    return (seconds - offset) * NS_PER_S + nanos


def format_time(nanos: int) -> str:
    """Epoch nanoseconds -> 2024-01-01T12:00:00.123456789Z (Falco's own format)."""
    seconds, rest = divmod(int(nanos), NS_PER_S)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%09dZ" % rest


def parse_duration(value: Any) -> int:
    """24h, 30m, 7d, 1h30m, 90s, 2w or a plain number of seconds -> seconds (int). ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration must be text like 24h or a number of seconds")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if not text:
        raise ValueError("empty duration")
    try:
        return _parsing.duration_ns(text, _parsing.WORDS) // NS_PER_S
    except ValueError:
        raise ValueError("not a duration (examples: 24h, 30m, 7d, 1h30m): %r" % text) from None


def parse_priority(value: Any) -> Optional[str]:
    """Falco priority name (any case, Info/Warn aliases) -> canonical lower-case name, or None."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    text = _PRIORITY_ALIASES.get(text, text)
    return text if text in PRIORITY_RANK else None


def priorities_at_or_above(minimum: Any) -> List[str]:
    minimum = parse_priority(minimum) or "debug"
    return [name for name in PRIORITIES if PRIORITY_RANK[name] <= PRIORITY_RANK[minimum]]


def resolve_window(since: Any = None, start: Any = None, end: Any = None, now: Any = None) -> Tuple[Optional[int], Optional[int], int]:
    """(start_ns, end_ns, now_ns) from the options; None means open. Default: the last 24 hours.

    ``since`` (a duration) and ``start`` (``from``) are exclusive. ``now`` overrides the clock (tests,
    reproducible reports). Raises FalcoInputError naming the option.
    """
    if since not in (None, "") and start not in (None, ""):
        raise FalcoInputError("give either since or from, not both")
    try:
        now_ns = parse_time(now) if now not in (None, "") else int(time.time() * NS_PER_S)
    except ValueError as exc:
        raise FalcoInputError("now: %s" % exc) from exc
    start_ns: Optional[int] = None
    end_ns: Optional[int] = None
    if start not in (None, ""):
        try:
            start_ns = parse_time(start)
        except ValueError as exc:
            raise FalcoInputError("from: %s" % exc) from exc
    if end not in (None, ""):
        try:
            end_ns = parse_time(end)
        except ValueError as exc:
            raise FalcoInputError("to: %s" % exc) from exc
    if start_ns is None:
        if since in (None, "") and end_ns is None:
            since = DEFAULT_SINCE
        if since not in (None, ""):
            try:
                seconds = parse_duration(since)
            except ValueError as exc:
                raise FalcoInputError("since: %s" % exc) from exc
            if seconds > 0:  # since=0 means no lower bound
                start_ns = (end_ns if end_ns is not None else now_ns) - seconds * NS_PER_S
    if start_ns is not None and end_ns is not None and start_ns > end_ns:
        raise FalcoInputError("from (%s) is after to (%s)" % (format_time(start_ns), format_time(end_ns)))
    return start_ns, end_ns, now_ns


# ------------------------------------------------------------------------------------------------------ redaction
# One helper for every source (plugins/module_utils/_redact.py); output fields named like a secret are dropped whole.
_SENSITIVE_WORDS = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|apikey|access[-_]?key|secret[-_]?key|"
    r"private[-_]?key|client[-_]?secret|auth[-_]?token|credentials?|session[-_]?id|cookie)"
)
# Output fields dropped whole: environment variables and anything named like a secret.
_SECRET_FIELD = re.compile(r"(?i)(^|[._])(a?env|environ)(\[|$|[._])|" + _SENSITIVE_WORDS)


def redact(text: Any) -> Tuple[Any, int]:
    """(text with secret values replaced by <redacted>, number of replacements): _redact.redact_count."""
    return redact_count(text)


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) > limit:
        return text[:limit] + "... [%d more characters]" % (len(text) - limit)
    return text


def safe_text(value: Any, limit: int = MAX_TEXT) -> Tuple[Optional[str], int]:
    """Any value -> redacted, length-limited text (None stays None). Returns (text, redactions)."""
    if value is None:
        return None, 0
    if not isinstance(value, str):
        try:
            value = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            value = "<%s that cannot be shown>" % type(value).__name__
    value = value.replace("\x00", "\\0")
    text, count, _clipped = redact_clipped(value, limit)  # clip first: redaction time stays linear in `limit`
    return text, count


def clean_fields(fields: Any) -> Tuple[Dict[str, Any], int, List[str]]:
    """output_fields -> (kept fields with redacted values, redactions, names of dropped fields)."""
    kept: Dict[str, Any] = {}
    dropped: List[str] = []
    count = 0
    if not isinstance(fields, dict):
        return kept, count, dropped
    for key in sorted(fields, key=str):
        name = str(key)
        if _SECRET_FIELD.search(name):
            dropped.append(name)
            continue
        if len(kept) >= MAX_FIELDS:
            dropped.append(name)
            continue
        value = fields[key]
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            value = str(value)  # NaN / Infinity are not JSON
        if value is None or isinstance(value, (bool, int, float)):
            kept[_clip(name, 200)] = value
            continue
        text, replaced = safe_text(value, 1024)
        count += replaced
        kept[_clip(name, 200)] = text
    return kept, count, dropped


# --------------------------------------------------------------------------------------------------------- events
_LINE_PREFIX = re.compile(r"^(?:\[[^\]\n]{0,512}\]\s+)?(?:\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:?\d{2})\s+)?")


def _field(fields: Dict[str, Any], *names: str) -> Optional[str]:
    for name in names:
        value = fields.get(name)
        if value not in (None, "", "<NA>", "N/A"):
            return str(value)
    return None


class EventCollector(object):
    """Filters, groups and counts events; ``result()`` gives findings, groups, summary and skips."""

    def __init__(
        self,
        cluster: Optional[str] = None,
        min_priority: Any = "debug",
        start_ns: Optional[int] = None,
        end_ns: Optional[int] = None,
        include_internal: bool = False,
    ) -> None:
        minimum = parse_priority(min_priority)
        if minimum is None:
            raise FalcoInputError("min_priority %r is not a Falco priority (%s)" % (min_priority, ", ".join(PRIORITIES)))
        self.cluster = cluster
        self.min_priority = minimum
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.include_internal = include_internal
        self.groups: Dict[Tuple[Any, ...], Dict[str, Any]] = {}
        self.counts = dict((reason, 0) for reason in REASONS)
        self.examples: Dict[str, List[str]] = {}
        self.lines = 0
        self.events = 0  # events parsed (before filters)
        self.matched = 0  # events in the window and at or above the minimum priority
        self.by_priority: Dict[str, int] = {}
        self.redactions = 0
        self.dropped_fields: Set[str] = set()
        self.inputs: List[str] = []
        self.warnings: List[str] = []

    # -- counting -------------------------------------------------------------------------------------------
    def skip(self, reason: str, where: object) -> None:
        self.counts[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < EXAMPLES_PER_REASON:
            examples.append(_clip(str(where), 300))

    # -- input ----------------------------------------------------------------------------------------------
    def add_text(self, text: str, name: str = "content") -> None:
        """JSON lines (or a JSON array / saved UI answer) given as text."""
        stripped = text.lstrip()
        if stripped.startswith("[") or (stripped.startswith("{") and _whole_document(stripped)):
            document = _loads(stripped)
            if document is not None:
                self.add_document(document, name)
                return
        self.add_lines(text.splitlines(True), name)

    def add_document(self, document: Any, name: str) -> None:
        if isinstance(document, dict) and "results" in document:
            document = document["results"]
        if isinstance(document, dict):  # falcosidekick-ui's swagger shape: {"<n>": event, ...}
            items = [document[key] for key in sorted(document, key=_numeric_key)]
        elif isinstance(document, list):
            items = document
        else:
            items = [document]
        for index, item in enumerate(items):
            self.add_event(item, "%s item %d" % (name, index))

    def add_lines(self, lines: Iterable[str], name: str) -> None:
        """Iterable of lines; a last line that does not parse is counted as truncated (a file being written)."""
        previous = None
        number = 0
        for line in lines:
            if previous is not None:
                self._line(previous, name, number, last=False)
            number += 1
            previous = line
        if previous is not None:
            self._line(previous, name, number, last=True)

    def _line(self, line: str, name: str, number: int, last: bool) -> None:
        self.lines += 1
        text = line.strip()
        if not text:
            return
        where = "%s line %d" % (name, number)
        match = _LINE_PREFIX.match(text)
        body = text[match.end():] if match else text
        if not body.startswith("{"):
            if body.startswith("[") and body.endswith("]"):
                document = _loads(body)
                if document is not None:
                    self.add_document(document, where)
                    return
            self.skip("non_json", where)
            return
        event = _loads(body)
        if event is None:
            self.skip("truncated" if last else "malformed", where)
            return
        if isinstance(event, dict) and "rule" not in event and "results" in event:
            self.add_document(event, where)  # a saved falcosidekick-ui answer on one line
            return
        self.add_event(event, where)

    def add_file(self, path: str) -> None:
        """One file (gzip when it ends in .gz); a file that cannot be opened fails with its name."""
        opener: Callable[..., Any] = gzip.open if path.endswith(".gz") else open
        first = b""
        try:
            with opener(path, "rb") as handle:
                first = handle.readline()
                blank = 0
                while first and not first.strip() and blank < 1000:
                    first = handle.readline()
                    blank += 1
        except EOFError:
            pass  # a gzip file cut off early: read below line by line, the cut is counted there
        except (IOError, OSError) as exc:
            raise FalcoInputError("cannot read Falco events from %s: %s" % (path, exc)) from exc
        self.inputs.append(path)
        first = first.strip()
        whole = first.startswith(b"[") or (first.startswith(b"{") and _loads(first) is None)
        if whole:
            try:
                with opener(path, "rb") as handle:
                    document = _loads(handle.read().decode("utf-8", "replace"))
            except (IOError, OSError, EOFError):
                document = None
            if document is not None:
                self.add_document(document, path)
                return
        try:
            with opener(path, "rb") as handle:
                self.add_lines((raw.decode("utf-8", "replace") for raw in handle), path)
        except (EOFError, OSError, IOError) as exc:  # a gzip file cut off: what was read counts
            self.skip("truncated", "%s: %s" % (path, exc))

    def add_path(self, path: str) -> None:
        """A file, or a directory searched recursively (hidden entries skipped) for event files."""
        if os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for filename in sorted(files):
                    if filename.startswith(".") or not filename.lower().endswith(JSON_SUFFIXES):
                        continue
                    found.append(os.path.join(root, filename))
            if not found:
                raise FalcoInputError("no Falco event files (%s) under %s" % (", ".join(JSON_SUFFIXES), path))
            for filename in found:
                self.add_file(filename)
        elif os.path.exists(path):
            self.add_file(path)
        else:
            raise FalcoInputError("Falco events path %s does not exist" % path)

    # -- one event ------------------------------------------------------------------------------------------
    def add_event(self, event: Any, where: str) -> bool:
        if not isinstance(event, dict) or not isinstance(event.get("rule"), str) or not event["rule"].strip() or "priority" not in event:
            self.skip("not_event", where)
            return False
        if not _valid_unicode(event):
            self.skip("bad_text", where)  # one bad record: the others are kept, this one is named
            return False
        self.events += 1
        rule = _clip(event["rule"].strip(), 512)
        if rule.startswith(INTERNAL_RULE_PREFIX) and not self.include_internal:
            self.skip("internal", where)
            return False
        priority = parse_priority(event.get("priority"))
        if priority is None:
            self.skip("bad_priority", "%s: %r" % (where, _clip(str(event.get("priority")), 40)))
            return False
        fields: Dict[str, Any] = event["output_fields"] if isinstance(event.get("output_fields"), dict) else {}
        when = event.get("time")
        if when in (None, ""):
            when = fields.get("evt.time")
        try:
            nanos = parse_time(when)
        except ValueError:
            self.skip("bad_time", "%s: %r" % (where, _clip(str(when), 60)))
            return False
        if (self.start_ns is not None and nanos < self.start_ns) or (self.end_ns is not None and nanos > self.end_ns):
            self.skip("out_of_window", where)
            return False
        if PRIORITY_RANK[priority] > PRIORITY_RANK[self.min_priority]:
            self.skip("below_priority", where)
            return False
        self.matched += 1
        label = PRIORITY_LABEL[priority]
        self.by_priority[label] = self.by_priority.get(label, 0) + 1
        hostname = _clip(str(event.get("hostname") or fields.get("evt.hostname") or ""), 253) or None
        namespace = _field(fields, "k8s.ns.name")
        pod = _field(fields, "k8s.pod.name")
        container_id = _field(fields, "container.id")
        container_name = _field(fields, "container.name")
        key: Tuple[Any, ...]
        if pod:
            key = (rule, hostname, "pod", namespace, pod, container_name)
        elif container_id and container_id != "host":
            key = (rule, hostname, "container", container_id)
        else:
            key = (rule, hostname, "host")
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = {
                "rule": rule,
                "hostname": hostname,
                "namespace": namespace,
                "pod": pod,
                "container": container_name,
                "container_id": container_id,
                "count": 0,
                "first_ns": nanos,
                "last_ns": nanos,
                "priority": priority,
                "sources": set(),
                "tags": set(),
                "latest": None,
                "latest_ns": None,
            }
        group["count"] += 1
        group["first_ns"] = min(group["first_ns"], nanos)
        group["last_ns"] = max(group["last_ns"], nanos)
        if PRIORITY_RANK[priority] < PRIORITY_RANK[group["priority"]]:
            group["priority"] = priority
        if isinstance(event.get("source"), str):
            group["sources"].add(_clip(event["source"], 64))
        tags = event.get("tags")
        if isinstance(tags, list):
            for tag in tags:
                if isinstance(tag, str) and len(group["tags"]) < MAX_TAGS:
                    group["tags"].add(_clip(tag, 128))
        if group["latest_ns"] is None or nanos >= group["latest_ns"]:
            group["latest_ns"] = nanos
            group["latest"] = {"output": event.get("output"), "fields": fields, "container_id": container_id, "where": where}
        return True

    # -- output ---------------------------------------------------------------------------------------------
    def _finding(self, group: Dict[str, Any]) -> Dict[str, Any]:
        latest = group["latest"]
        output, count_output = safe_text(latest["output"] if isinstance(latest["output"], str) else None)
        fields, count_fields, dropped = clean_fields(latest["fields"])
        self.redactions += count_output + count_fields
        self.dropped_fields.update(dropped)
        rule = group["rule"]
        priority = group["priority"]
        severity = SEVERITY_OF_PRIORITY[priority]
        status = "fail" if PRIORITY_RANK[priority] <= FAIL_AT else "info"
        image = _field(latest["fields"], "container.image.repository", "container.image")
        tag = _field(latest["fields"], "container.image.tag")
        if image and tag:
            image = "%s:%s" % (image, tag)
        if group["pod"]:
            resource = {"kind": "Pod", "name": group["pod"], "namespace": group["namespace"], "container": group["container"]}
            where = "pod %s/%s" % (group["namespace"] or "-", group["pod"])
        elif group["container_id"] and group["container_id"] != "host":
            resource = {"kind": "Container", "name": group["container_id"], "namespace": None, "container": group["container"]}
            where = "container %s" % (group["container"] or group["container_id"])
        else:
            resource = {"kind": "Node", "name": group["hostname"], "namespace": None, "container": None}
            where = "the host"
        first, last = format_time(group["first_ns"]), format_time(group["last_ns"])
        times = "once at %s" % first if group["count"] == 1 else "%d times between %s and %s" % (group["count"], first, last)
        evidence: Dict[str, Any] = {
            "priority": PRIORITY_LABEL[priority],
            "output": output or "",
            "hostname": group["hostname"],
            "output_fields": fields,
        }
        if group["sources"]:
            evidence["event_source"] = ", ".join(sorted(group["sources"]))
        if latest["container_id"]:
            evidence["container_id"] = latest["container_id"]
        if image:
            evidence["image"], replaced = safe_text(image, 512)
            self.redactions += replaced
        if dropped:
            evidence["fields_withheld"] = sorted(dropped)[:MAX_FIELDS]
        shown, replaced = safe_text(rule, 512)
        title = shown if shown is not None else ""  # rule is text, so safe_text returns text
        self.redactions += replaced
        description = "Falco rule %r (priority %s) matched %s on %s of node %s." % (title, PRIORITY_LABEL[priority], times, where, group["hostname"] or "?")
        return make_finding(
            "falco:" + title,
            "falco",
            title,
            status,
            severity=severity,
            cluster=self.cluster,
            node=group["hostname"],
            namespace=group["namespace"],
            resource=resource,
            description=description,
            remediation=(
                "Investigate the process and the workload named in the evidence. If the activity is expected, "
                "add a rule exception (or tune the macro) in Falco's custom rules, or waive the finding with "
                "its reason; otherwise contain the workload (playbooks/respond.yml)."
            ),
            references=["https://falco.org/docs/concepts/rules/", "https://falco.org/docs/concepts/outputs/"],
            evidence=evidence,
            extra={"count": group["count"], "first_seen": first, "last_seen": last, "tags": sorted(group["tags"])},
        )

    def result(self) -> Dict[str, Any]:
        ordered = sorted(
            self.groups.values(),
            key=lambda g: (
                PRIORITY_RANK[g["priority"]],
                -g["count"],
                g["rule"],
                g["hostname"] or "",
                g["namespace"] or "",
                g["pod"] or "",
                g["container_id"] or "",
            ),
        )
        findings = [self._finding(group) for group in ordered]
        groups = []
        for group, finding in zip(ordered, findings):
            groups.append(
                {
                    "rule": finding["title"],
                    "priority": PRIORITY_LABEL[group["priority"]],
                    "severity": finding["severity"],
                    "status": finding["status"],
                    "hostname": group["hostname"],
                    "namespace": group["namespace"],
                    "pod": group["pod"],
                    "container": group["container"],
                    "container_id": group["container_id"],
                    "count": group["count"],
                    "first_seen": finding["first_seen"],
                    "last_seen": finding["last_seen"],
                    "fingerprint": finding["fingerprint"],
                }
            )
        by_rule: Dict[str, int] = {}
        for group in groups:
            by_rule[group["rule"]] = by_rule.get(group["rule"], 0) + group["count"]
        by_severity: Dict[str, int] = {}
        for finding in findings:
            by_severity[finding["severity"]] = by_severity.get(finding["severity"], 0) + 1
        skips = [
            {"reason": REASONS[reason], "code": reason, "count": count, "examples": self.examples.get(reason, [])}
            for reason, count in self.counts.items()
            if count
        ]
        warnings = list(self.warnings)
        for reason in WARN_REASONS:
            if self.counts[reason]:
                warnings.append("Falco events: %d %s skipped (first: %s)" % (self.counts[reason], REASONS[reason], "; ".join(self.examples.get(reason, []))))
        summary = {
            "lines": self.lines,
            "events": self.events,
            "matched": self.matched,
            "groups": len(groups),
            "findings": len(findings),
            "by_priority": self.by_priority,
            "by_rule": by_rule,
            "by_severity": by_severity,
            "by_status": {"fail": sum(1 for f in findings if f["status"] == "fail"), "info": sum(1 for f in findings if f["status"] == "info")},
            "skipped": dict((reason, count) for reason, count in self.counts.items() if count),
            "redactions": self.redactions,
            "fields_withheld": sorted(self.dropped_fields),
            "min_priority": PRIORITY_LABEL[self.min_priority],
        }
        window = {
            "from": format_time(self.start_ns) if self.start_ns is not None else None,
            "to": format_time(self.end_ns) if self.end_ns is not None else None,
        }
        return {
            "findings": findings,
            "groups": groups,
            "summary": summary,
            "skips": skips,
            "window": window,
            "sources": list(self.inputs),
            "warnings": warnings,
        }


def _valid_unicode(event: Any) -> bool:
    """False when any text in the event holds a lone surrogate (valid JSON, "\\ud800", but not Unicode)."""
    try:
        json.dumps(event, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except (TypeError, ValueError, RecursionError):
        return True  # other oddities are clipped and shown as text later
    return True


def _loads(text: Union[str, bytes]) -> Any:
    """json.loads that returns None for anything unreadable (also absurdly deep nesting)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None


def _whole_document(text: str) -> bool:
    """A text starting with '{' is one document (not JSON lines) when its first line does not parse alone."""
    first = text.split("\n", 1)[0].strip()
    if first == text.strip():
        return False
    return _loads(first) is None


def _numeric_key(key: Any) -> Tuple[int, int, str]:
    try:
        return (0, int(key), "")
    except (TypeError, ValueError):
        return (1, 0, str(key))


# ---------------------------------------------------------------------------------------------- falcosidekick-ui
SEARCH_PATH = "/api/v1/events/search"
# fetch(url, headers) -> (HTTP status, body): _default_fetch, or the module's own (open_url, tests' fakes)
Fetch = Callable[[str, Dict[str, str]], Tuple[int, Any]]


def _default_fetch(
    url: str, headers: Dict[str, str], timeout: float = 30, validate_certs: bool = True, ca_path: Optional[str] = None, use_proxy: bool = True
) -> Tuple[int, bytes]:
    """GET with the standard library; returns (status, body bytes). Used by tests and plain Python callers."""
    context = ssl.create_default_context(cafile=ca_path)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    handlers: List[BaseHandler] = [HTTPSHandler(context=context)]
    if not use_proxy:
        handlers.append(ProxyHandler({}))
    opener = build_opener(*handlers)
    try:
        response = opener.open(Request(url, headers=headers), timeout=timeout)  # noqa: S310 - http(s) checked by the caller
        return response.getcode(), response.read()
    except HTTPError as exc:
        return exc.code, exc.read()
    except (URLError, OSError) as exc:
        raise FalcoApiError("cannot reach falcosidekick-ui at %s: %s" % (url.split("?", 1)[0], getattr(exc, "reason", exc))) from exc


def search_url(base_url: str, since_seconds: Optional[int] = None, priorities: Optional[List[str]] = None, page: int = 1, limit: int = 500) -> str:
    """URL of one page of /api/v1/events/search (query parameters as falcosidekick-ui reads them)."""
    base = base_url.rstrip("/")
    if base.endswith("/api/v1"):
        base = base[: -len("/api/v1")]
    query = [("limit", str(limit)), ("page", str(page))]
    if since_seconds:
        query.append(("since", "%ds" % since_seconds))
    if priorities:
        query.append(("priority", ",".join(priorities)))
    return base + SEARCH_PATH + "?" + urlencode(query)


def basic_auth_header(user: str) -> str:
    """falcosidekick-ui credentials are one 'login:password' string (webui.user / FALCOSIDEKICK_UI_USER)."""
    if ":" not in user:
        raise FalcoInputError("user must be 'login:password' (falcosidekick webui.user), without the password shown here")
    return "Basic " + base64.b64encode(user.encode("utf-8")).decode("ascii")


def collect_from_ui(
    collector: EventCollector,
    base_url: str,
    user: Optional[str] = None,
    fetch: Optional[Fetch] = None,
    now_ns: Optional[int] = None,
    page_size: int = 500,
    max_pages: int = 100,
) -> Dict[str, Any]:
    """Page through falcosidekick-ui's search API into the collector. Returns what was requested (no secrets)."""
    if not re.match(r"^https?://[^/\s]+", base_url or ""):
        raise FalcoInputError("url must be the http(s) address of falcosidekick-ui (e.g. http://127.0.0.1:2802), got %r" % (base_url,))
    if page_size < 1 or max_pages < 1:
        raise FalcoInputError("page_size and max_pages must be positive")
    fetch = fetch or _default_fetch
    headers = {"Accept": "application/json"}
    if user:
        headers["Authorization"] = basic_auth_header(user)
        if base_url.startswith("http://") and not re.match(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:|/|$)", base_url):
            collector.warnings.append("falcosidekick-ui credentials are sent over plain HTTP to %s: use https or a port-forward to 127.0.0.1" % base_url)
    since_seconds = None
    if collector.start_ns is not None:
        now_ns = now_ns if now_ns is not None else int(time.time() * NS_PER_S)
        since_seconds = max(1, -(-(now_ns - collector.start_ns) // NS_PER_S))
    minimum = collector.min_priority
    priorities = None if minimum == "debug" else priorities_at_or_above(minimum)
    total = None
    read = 0
    pages = 0
    for page in range(1, max_pages + 1):
        url = search_url(base_url, since_seconds, priorities, page, page_size)
        status, body = fetch(url, headers)
        pages += 1
        shown = url.split("?", 1)[0]
        if status == 401:
            raise FalcoApiError(
                "falcosidekick-ui at %s rejected the credentials (HTTP 401): check user "
                "('login:password', chart value webui.user / env FALCOSIDEKICK_UI_USER)" % shown
            )
        if status == 404:
            raise FalcoApiError(
                "falcosidekick-ui at %s has no %s (HTTP 404): is this falcosidekick-ui 2.x (with Redis), and is url its base address?" % (shown, SEARCH_PATH)
            )
        if not 200 <= int(status) <= 299:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            raise FalcoApiError("falcosidekick-ui at %s answered HTTP %s: %s" % (shown, status, _clip(text.strip(), 300)))
        try:
            document = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FalcoApiError("falcosidekick-ui at %s returned a body that is not JSON (page %d): %s" % (shown, page, exc)) from exc
        if not isinstance(document, dict):
            raise FalcoApiError("falcosidekick-ui at %s returned %s, expected an object with results" % (shown, type(document).__name__))
        results = document.get("results") or []
        if isinstance(results, dict):
            results = [results[key] for key in sorted(results, key=_numeric_key)]
        if not isinstance(results, list):
            raise FalcoApiError("falcosidekick-ui at %s: results is %s, expected a list" % (shown, type(results).__name__))
        statistics: Dict[str, Any] = document["statistics"] if isinstance(document.get("statistics"), dict) else {}
        if isinstance(statistics.get("all"), int):
            total = statistics["all"]
        for index, event in enumerate(results):
            collector.add_event(event, "%s page %d item %d" % (shown, page, index))
        read += len(results)
        if len(results) < page_size or (total is not None and read >= total):
            break
    else:
        collector.warnings.append(
            "falcosidekick-ui at %s: stopped after max_pages=%d pages (%d events read%s); "
            "narrow the window or raise max_pages" % (base_url, max_pages, read, ", %d matched on the server" % total if total is not None else "")
        )
    collector.inputs.append("%s (%d pages, %d events%s)" % (base_url.rstrip("/") + SEARCH_PATH, pages, read, "" if total is None else " of %d" % total))
    return {"pages": pages, "events": read, "server_total": total}


def collect(
    paths: Optional[Iterable[str]] = None,
    content: Optional[str] = None,
    url: Optional[str] = None,
    user: Optional[str] = None,
    cluster: Optional[str] = None,
    min_priority: Any = "debug",
    since: Any = None,
    start: Any = None,
    end: Any = None,
    now: Any = None,
    fetch: Optional[Fetch] = None,
    page_size: int = 500,
    max_pages: int = 100,
    include_internal: bool = False,
) -> Dict[str, Any]:
    """Everything in one call (what the module does). Raises FalcoInputError / FalcoApiError."""
    start_ns, end_ns, now_ns = resolve_window(since, start, end, now)
    collector = EventCollector(cluster=cluster, min_priority=min_priority, start_ns=start_ns, end_ns=end_ns, include_internal=include_internal)
    for path in paths or []:
        collector.add_path(path)
    if content:
        collector.inputs.append("content")
        collector.add_text(content, "content")
    if url:
        collect_from_ui(collector, url, user=user, fetch=fetch, now_ns=now_ns, page_size=page_size, max_pages=max_pages)
    result = collector.result()
    result["window"]["now"] = format_time(now_ns)
    return result
