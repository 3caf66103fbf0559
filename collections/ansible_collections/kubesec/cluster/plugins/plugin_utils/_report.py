# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: merge the findings of one cluster run, apply waivers, compare with the previous run.

Plain Python over plain files (reports/<cluster>/<run_id>/findings/*.json); rendering is in _render.py, the
machine formats in _formats.py, scores and gates in _scoring.py, the other inputs in _inputs.py.

Scale: a run can hold 100,000+ findings. ``build`` makes one pass over the findings (a list, or a
``FindingsDir`` that streams the files one finding at a time) and keeps only counters, matrices of statuses and
the top rows of each section; the writers make a second pass. The previous run is read from its report.json one
line at a time and only its fingerprints and statuses are kept.
"""

from __future__ import annotations

import datetime
import gc
import json
import os
import sys
import tempfile
from contextlib import contextmanager

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import (
    SEVERITIES, SEVERITY_ORDER, STATUSES, apply_waiver)
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats, _scoring

REPORT_SCHEMA_VERSION = 2
SOURCE_TITLES = {
    "cis-node": "CIS node checks",
    "cis-control-plane": "CIS control plane",
    "kube-bench": "kube-bench results",
    "trivy-vulnerability": "Vulnerabilities",
    "trivy-config": "Configuration audit",
    "trivy-rbac": "RBAC assessment",
    "trivy-infra": "Infrastructure assessment",
    "trivy-exposed-secret": "Exposed secrets",
    "workload": "Workload hardening",
    "falco": "Runtime events (Falco)",
    "audit-log": "API audit log",
    "cis-policies": "CIS section 5 (policies)",
    "cluster-policy": "Cluster policy rules",
}
PROBLEM_STATUSES = ("fail", "warn")
CIS_SOURCES = ("cis-node", "cis-control-plane", "kube-bench")
DEFAULT_ROWS = 500          # rows per section kept for the HTML (the PDF shows fewer); the rest is in report.json
COMPARISON_DETAILS = 1000   # new/fixed/regressed entries with details in report.json (fingerprints: all)
MAX_CIS_OPEN = 20000        # CIS problems kept for the per-node tables
HISTORY_RUNS = 12
STATUS_RANK = {"fail": 0, "warn": 1, "waived": 2, "info": 3, "pass": 4}
_STREAM_THRESHOLD = 4 * 1024 * 1024
_CHUNK = 1 << 20


class ReportInputError(ValueError):
    """A findings file or a waiver is wrong (names the file or the waiver)."""


@contextmanager
def gc_paused():
    """Building many small objects runs much faster with the cyclic GC paused (no cycles are created here)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ------------------------------------------------------------------------------------------------ findings input
def _check_finding(item, path, index):
    if not isinstance(item, dict) or not {"id", "source", "status", "severity", "fingerprint"} <= set(item):
        raise ReportInputError("findings file %s: entry %d is not a normalized finding" % (path, index))
    if item["status"] not in STATUSES or item["severity"] not in SEVERITY_ORDER:
        raise ReportInputError("findings file %s: entry %d has status %r / severity %r"
                               % (path, index, item["status"], item["severity"]))


def _iter_array_stream(path, handle):
    """Yield the elements of a top-level JSON array without loading the whole file."""
    decoder = json.JSONDecoder()
    buf = handle.read(_CHUNK)
    pos = len(buf) - len(buf.lstrip())
    if buf[pos:pos + 1] == "{":
        raise _NotIndentOne(-1)  # {"findings": [...]}: read whole (rare, written by hand)
    if buf[pos:pos + 1] != "[":
        raise ReportInputError("findings file %s must hold a list of findings" % path)
    pos += 1
    eof = False
    consumed = 0
    while True:
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buf) or eof:
                break
            more = handle.read(_CHUNK)
            eof = not more
            buf, pos, consumed = buf[pos:] + more, 0, consumed + pos
        if pos >= len(buf):
            raise ReportInputError("findings file %s is not readable JSON: unexpected end of file" % path)
        if buf[pos] == "]":
            return
        while True:
            try:
                item, end = decoder.raw_decode(buf, pos)
                break
            except ValueError as exc:
                if eof:
                    raise ReportInputError("findings file %s is not readable JSON: %s (near byte %d)"
                                           % (path, exc.msg if hasattr(exc, "msg") else exc, consumed + pos)) from exc
                more = handle.read(_CHUNK)
                eof = not more
                buf, pos, consumed = buf[pos:] + more, 0, consumed + pos
        yield item
        pos = end
        if pos > _CHUNK:
            buf, pos, consumed = buf[pos:], 0, consumed + pos


class _NotIndentOne(Exception):
    """The fast path met something other than json.dumps(indent=1) output; the generic parser takes over."""

    def __init__(self, done):
        super().__init__(done)
        self.done = done


def _iter_indent_one(handle):
    """Elements of a JSON array written with indent=1 (``_finding.dumps``, what every collector writes).

    In that layout a top-level element, and only a top-level element, ends with a newline, one space and a
    closing brace (deeper objects are indented further; strings cannot hold a raw newline), so each element can
    be cut out with bytes.find and parsed by orjson. Anything unexpected raises _NotIndentOne with the number of
    elements already yielded.
    """
    done = 0
    buf = handle.read(_CHUNK)
    if not buf.startswith(b"[\n {") or _formats.orjson is None:
        raise _NotIndentOne(0)
    pos = 2
    eof = False
    while True:
        end = buf.find(b"\n }", pos)
        while end < 0:
            if eof:
                raise _NotIndentOne(done)
            more = handle.read(_CHUNK)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            end = buf.find(b"\n }", pos)
        try:
            item = _formats.orjson.loads(buf[pos:end + 3])
        except ValueError:
            raise _NotIndentOne(done) from None
        if not isinstance(item, dict):
            raise _NotIndentOne(done)
        yield item
        done += 1
        pos = end + 3
        while True:
            if buf[pos:pos + 2] == b",\n":
                pos += 2
                break
            if not eof and len(buf) - pos < 64:
                more = handle.read(_CHUNK)
                eof = not more
                buf, pos = buf[pos:] + more, 0
                continue
            if eof and buf[pos:].strip() == b"]":
                return
            raise _NotIndentOne(done)


def iter_findings_file(path):
    """Findings of one file (a JSON list, or {"findings": [...]}), validated one by one."""
    try:
        size = os.path.getsize(path)
        if size > _STREAM_THRESHOLD:
            skip = 0
            with open(path, "rb") as handle:
                try:
                    for index, item in enumerate(_iter_indent_one(handle)):
                        _check_finding(item, path, index)
                        yield item
                    return
                except _NotIndentOne as exc:
                    skip = exc.done
            wrapped = False
            with open(path, "r", encoding="utf-8") as handle:
                try:
                    for index, item in enumerate(_iter_array_stream(path, handle)):
                        if index < skip:
                            continue
                        _check_finding(item, path, index)
                        yield item
                except _NotIndentOne:
                    wrapped = True
            if not wrapped:
                return
        with open(path, "rb") as handle:
            data = _formats.loads(handle.read())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ReportInputError):
            raise
        raise ReportInputError("findings file %s is not readable JSON: %s" % (path, exc)) from exc
    if isinstance(data, dict) and isinstance(data.get("findings"), list):
        data = data["findings"]
    if not isinstance(data, list):
        raise ReportInputError("findings file %s must hold a list of findings" % path)
    for index, item in enumerate(data):
        _check_finding(item, path, index)
        yield item


class FindingsDir:
    """Every *.json file of a findings directory, re-iterable, streamed one finding at a time."""

    def __init__(self, findings_dir):
        if not os.path.isdir(findings_dir):
            raise ReportInputError("findings directory %s does not exist: run the audit/collect plays first"
                                   % findings_dir)
        self.dir = findings_dir
        self.names = sorted(n for n in os.listdir(findings_dir) if n.endswith(".json") and not n.startswith("."))
        self.counts = {}

    def __iter__(self):
        for name in self.names:
            count = 0
            for item in iter_findings_file(os.path.join(self.dir, name)):
                count += 1
                yield item
            self.counts[name] = count

    def files(self):
        return [{"file": name, "findings": self.counts.get(name, 0)} for name in self.names]


def load_findings(findings_dir):
    """Every *.json file in findings_dir (a list of findings each) -> (findings, files read)."""
    source = FindingsDir(findings_dir)
    findings = list(source)
    return findings, source.files()


# ------------------------------------------------------------------------------------------------ waivers
WAIVER_KEYS = ("id", "reason", "expires", "scope", "allow_wildcard")
SCOPE_KEYS = ("cluster", "node", "namespace", "resource")
RESOURCE_KEYS = ("kind", "name", "namespace", "container")
MATCHED_IDS = 20  # finding ids listed per waiver in the report (the count is exact)


def _parse_date(value, where="waiver"):
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


def _waiver_errors(index, waiver):
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
        errors.append("%s: a bare wildcard id waives every finding; set allow_wildcard: true if that is meant"
                      % name)
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
                    errors.append("%s: unknown scope.resource key(s) %s; known: %s"
                                  % (name, ", ".join(bad), ", ".join(RESOURCE_KEYS)))
    try:
        _parse_date(waiver.get("expires"), name)
    except ReportInputError as exc:
        errors.append(str(exc))
    return errors


def _waiver_matches(waiver, finding):
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

    def __init__(self, waivers, today):
        self.active, self.expired = [], []
        self._cis_seen = {}
        if waivers is None:
            waivers = []
        if not isinstance(waivers, list):
            raise ReportInputError("waivers must be a list of {id, reason, expires, scope}, got %s"
                                   % type(waivers).__name__)
        errors = []
        for index, waiver in enumerate(waivers):
            errors.extend(_waiver_errors(index, waiver))
        if errors:
            raise ReportInputError("invalid waiver(s) in kubesec_waivers: " + "; ".join(errors))
        for index, waiver in enumerate(waivers):
            expires = _parse_date(waiver.get("expires"))
            entry = {"index": index, "id": waiver["id"].strip(), "reason": waiver["reason"], "scope":
                     waiver.get("scope") or {}, "expires": expires.isoformat() if expires else None, "matched": 0,
                     "matched_ids": []}
            if waiver.get("allow_wildcard"):
                entry["allow_wildcard"] = True
            (self.expired if expires and expires < today else self.active).append(entry)

    def _count(self, waiver, finding):
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

    def apply(self, finding, count=True):
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

    def info(self):
        for waiver in self.active + self.expired:
            waiver["matched_ids"].sort()
        return {"active": self.active, "expired": self.expired}


def apply_waivers(findings, waivers, today):
    """Waive matching fail/warn findings; report expired waivers (they no longer apply)."""
    waiver_set = Waivers(waivers, today)
    result = [waiver_set.apply(f) for f in findings]
    return result, waiver_set.info()


# ------------------------------------------------------------------------------------------------ runs and history
def run_dirs(cluster_dir):
    """Names of the runs of a cluster that have a report.json, oldest first."""
    if not os.path.isdir(cluster_dir):
        return []
    return sorted(name for name in os.listdir(cluster_dir)
                  if not name.startswith(".") and os.path.isfile(os.path.join(cluster_dir, name, "report.json")))


def previous_run(cluster_dir, run_id):
    """The newest earlier run of the same cluster that has a report.json, or None."""
    runs = [name for name in run_dirs(cluster_dir) if name < run_id]
    return runs[-1] if runs else None


def headline_of(head):
    """The small per-run numbers of a report (schema 2 stores them; schema 1 is derived from its summary)."""
    if isinstance(head.get("headline"), dict):
        return head["headline"]
    summary = head.get("summary") or {}
    by_status = summary.get("by_status") or {}
    return {
        "run_id": head.get("run_id"), "generated_at": head.get("generated_at"),
        "total": summary.get("total", 0), "by_status": by_status,
        "problems_by_severity": summary.get("problems_by_severity") or {},
        "open": by_status.get("fail", 0) + by_status.get("warn", 0), "areas": {}, "changes": None,
        "gates_failed": None,
    }


def read_history(cluster_dir, run_id, limit=HISTORY_RUNS):
    """Headlines of up to ``limit`` earlier kept runs of the cluster (oldest first); unreadable runs are skipped."""
    history = []
    for name in [n for n in run_dirs(cluster_dir) if n < run_id][-limit:]:
        try:
            head = _formats.read_report_head(os.path.join(cluster_dir, name, "report.json"))
        except (OSError, ValueError):
            continue
        headline = dict(headline_of(head))
        headline["run_id"] = headline.get("run_id") or name
        history.append(headline)
    return history


def comparison_key(finding):
    """Findings are matched across runs by fingerprint within their source: kube-bench and the native CIS audit
    report the same check id on the same node, so their fingerprints are equal and must not be compared with
    each other."""
    return "%s\x1f%s" % (finding.get("source"), finding["fingerprint"])


class PreviousRun:
    """What the comparison needs of the previous run: key -> worst status, and a few fields of its problems."""

    def __init__(self, findings):
        self.status = {}
        self.problems = {}
        intern = sys.intern
        with gc_paused():
            for finding in findings:
                if not isinstance(finding, dict) or "fingerprint" not in finding:
                    continue
                key = comparison_key(finding)
                status = intern(str(finding.get("status")))
                old = self.status.get(key)
                self.status[key] = status if old is None else _worse(status, old)
                if status in PROBLEM_STATUSES and key not in self.problems:
                    r = finding.get("resource") or {}
                    self.problems[key] = tuple(
                        intern(v) if isinstance(v, str) else v for v in (
                            finding["id"], finding.get("source"), finding["fingerprint"], finding.get("title"),
                            finding.get("severity"), status, finding.get("node"), finding.get("namespace"),
                            r.get("kind"), r.get("name"), r.get("namespace"), r.get("container")))

    def details(self, key):
        t = self.problems[key]
        return {"id": t[0], "source": t[1], "fingerprint": t[2], "title": t[3], "severity": t[4], "status": t[5],
                "node": t[6], "namespace": t[7],
                "resource": {"kind": t[8], "name": t[9], "namespace": t[10], "container": t[11]}}


def _compact(f):
    return {"id": f["id"], "source": f.get("source"), "fingerprint": f["fingerprint"], "title": f.get("title"),
            "severity": f.get("severity"),
            "status": f.get("status"), "node": f.get("node"), "namespace": f.get("namespace"),
            "resource": f.get("resource")}


def _by_severity(finding):
    return (SEVERITY_ORDER.get(finding["severity"], 9), finding["id"])


def compare(current, previous):
    """New / fixed / regressed problems by fingerprint (problem = fail or warn)."""
    if previous is None:
        return None
    before = dict((comparison_key(f), f) for f in previous)
    after = dict((comparison_key(f), f) for f in current)

    def problem(f):
        return f is not None and f["status"] in PROBLEM_STATUSES

    new, fixed, regressed = [], [], []
    for key, finding in after.items():
        old = before.get(key)
        if problem(finding) and old is None:
            new.append(finding)
        elif problem(finding) and old is not None and old["status"] == "pass":
            regressed.append(finding)
    waived = []
    for key, old in before.items():
        now = after.get(key)
        if problem(old) and now is not None and now["status"] == "waived":
            waived.append(now)
        elif problem(old) and not problem(now):
            fixed.append(now or dict(old, status="gone"))
    return {"new": sorted(new, key=_by_severity), "fixed": sorted(fixed, key=_by_severity),
            "waived": sorted(waived, key=_by_severity),
            "regressed": sorted(regressed, key=_by_severity)}


def count_by(findings, key, values):
    counts = dict((value, 0) for value in values)
    for finding in findings:
        counts[finding[key]] = counts.get(finding[key], 0) + 1
    return counts


def summarize(findings):
    problems = [f for f in findings if f["status"] in PROBLEM_STATUSES]
    return {
        "total": len(findings),
        "by_status": count_by(findings, "status", STATUSES),
        "problems_by_severity": count_by(problems, "severity", SEVERITIES),
        "by_source": dict((source, count_by([f for f in findings if f["source"] == source], "status", STATUSES))
                          for source in sorted(set(f["source"] for f in findings))),
    }


# ------------------------------------------------------------------------------------------------ one pass
class TopN:
    """The ``limit`` smallest items by key, kept while streaming (amortised: sort and cut at 2 x limit).

    After the first cut the key of the last kept item is a bound: anything not smaller is dropped at once.
    """

    __slots__ = ("bound", "items", "limit", "seq")

    def __init__(self, limit):
        self.limit = max(0, int(limit))
        self.items = []
        self.seq = 0
        self.bound = None

    def add(self, key, item):
        if not self.limit or (self.bound is not None and key >= self.bound):
            return
        self.seq += 1
        self.items.append((key, self.seq, item))
        if len(self.items) >= 2 * self.limit + 64:
            self.items.sort(key=_entry_order)
            del self.items[self.limit:]
            self.bound = self.items[-1][0]

    def result(self):
        self.items.sort(key=_entry_order)
        del self.items[self.limit:]
        return [entry[2] for entry in self.items]


def _entry_order(entry):
    return entry[0], entry[1]


def _problem_key(f):
    return (STATUS_RANK.get(f["status"], 9), SEVERITY_ORDER.get(f["severity"], 9), -(f.get("score") or 0),
            f.get("node") or "", f.get("namespace") or "", f["id"])


def is_fixable(f):
    evidence = f.get("evidence") or {}
    return bool(evidence.get("fixed_version") or evidence.get("fixedVersion"))


def _vuln_key(f):
    return (STATUS_RANK.get(f["status"], 9), 0 if is_fixable(f) else 1, SEVERITY_ORDER.get(f["severity"], 9),
            -(f.get("score") or 0), f.get("namespace") or "", f["id"])


def _event_key(f):
    return (STATUS_RANK.get(f["status"], 9), SEVERITY_ORDER.get(f["severity"], 9), -int(f.get("count") or 1),
            f.get("last_seen") or "", f["id"])


SECTION_KEYS = {"trivy-vulnerability": _vuln_key, "falco": _event_key, "audit-log": _event_key}


def _image_of(f):
    evidence = f.get("evidence") or {}
    image = evidence.get("image")
    if image:
        return str(image)
    r = f.get("resource") or {}
    return "%s/%s/%s [%s]" % (f.get("namespace") or r.get("namespace") or "-", r.get("kind") or "?",
                              r.get("name") or "?", r.get("container") or "-")


def _cis_sort_key(check_id):
    return [int(part) if part.isdigit() else 0 for part in check_id.replace("CIS-", "").split(".")] + [check_id]


def _worse(a, b):
    return a if STATUS_RANK.get(a, 9) <= STATUS_RANK.get(b, 9) else b


class _Pass:
    """Counters, matrices and top rows gathered in one pass over the findings."""

    def __init__(self, rows, previous, gates):
        self.rows = rows
        self.previous = previous
        self.gates = gates
        self.total = 0
        self.by_status = dict((s, 0) for s in STATUSES)
        self.problems_by_severity = dict((s, 0) for s in SEVERITIES)
        self.by_source = {}
        self.nodes, self.namespaces = set(), set()
        self.areas = {}
        self.top = {}
        self.waived = TopN(rows)
        self.current = {}
        self.new = TopN(COMPARISON_DETAILS)
        self.regressed = TopN(COMPARISON_DETAILS)
        self.new_fps, self.regressed_fps = [], []
        self.changed = set()
        self.cis = {}            # source -> check id -> {title, scored, cells{node: status}}
        self.node_counts = {}    # node -> status counts (CIS sources)
        self.cis_open = {}       # node -> [finding] problems and waived, CIS sources
        self.cis_open_count = 0
        self.vuln_ns = {}
        self.vuln_images = {}
        self.vuln_cves = {}
        self.wl = {}             # (kind, namespace, name) -> {rule: status}
        self.wl_rules = {}       # rule -> {title, severity, counts, modes}
        self.events = {"falco": 0, "audit-log": 0}
        self.cp_audit = []       # control-plane checks about audit logging
        self.cis_held = {}       # (check id without "CIS-", node) -> [(finding, is_new)] until finish()
        self.cis_duplicates = 0  # results of a check on a node that another CIS source also reported
        self.node_severity = {}  # node -> {fail: {severity: n}, warn: {...}, roles}

    def add(self, f):
        """One finding as read. What each source reported is kept per source (the source's section, matrix and
        the comparison); the counted results (totals, grades, gates, per-node counts) take one result per check and
        node: CIS results with a node are held until ``finish`` merges kube-bench's and the native audit's."""
        status, source = f["status"], f["source"]
        counts = self.by_source.get(source)
        if counts is None:
            counts = self.by_source[source] = dict((s, 0) for s in STATUSES)
        counts[status] += 1
        is_new = self._compare(f, status in PROBLEM_STATUSES)
        if status in PROBLEM_STATUSES or status == "waived":
            top = self.top.get(source)
            if top is None:
                top = self.top[source] = TopN(self.rows)
            top.add(SECTION_KEYS.get(source, _problem_key)(f), f)
        if source in CIS_SOURCES:
            self._cis_matrix(f)
            if f.get("node"):
                key = (f["id"].replace("CIS-", ""), f["node"])
                held = self.cis_held.get(key)
                if held is None:
                    self.cis_held[key] = [(f, is_new)]
                else:
                    held.append((f, is_new))
            else:
                self._count(f, is_new)
                self._cis_counted(f)
            return
        self._count(f, is_new)
        if source == "trivy-vulnerability":
            self._vuln(f, status, f["severity"], f.get("namespace"))
        elif source == "workload":
            self._workload(f, status, f["severity"])
        elif source in ("falco", "audit-log"):
            self.events[source] += int(f.get("count") or 1) if isinstance(f.get("count"), int) else 1

    def finish(self):
        """Count the held CIS results: one per check and node. When kube-bench and the native audit both report a
        check on a node, the worse status counts (the native audit first on a tie) and the other source's result is
        shown beside it (``also_reported``)."""
        for group in self.cis_held.values():
            group.sort(key=lambda entry: (STATUS_RANK.get(entry[0]["status"], 9), entry[0]["source"] == "kube-bench"))
            finding, is_new = group[0]
            if len(group) > 1:
                self.cis_duplicates += len(group) - 1
                finding = dict(finding, also_reported=[_also(other) for other, dummy in group[1:]])
                is_new = any(new for dummy, new in group)
            self._count(finding, is_new)
            self._cis_counted(finding)
        self.cis_held = {}

    def _compare(self, f, problem):
        """Comparison by source + fingerprint (duplicates of a key count once, with their worst status)."""
        if self.previous is None:
            return True
        status = f["status"]
        key = comparison_key(f)
        old_here = self.current.get(key)
        self.current[key] = sys.intern(status) if old_here is None else _worse(status, old_here)
        old = self.previous.status.get(key)
        is_new = problem and (old is None or old == "pass")
        if is_new and key not in self.changed:
            self.changed.add(key)
            if old is None:
                self.new_fps.append(f["fingerprint"])
                self.new.add(_by_severity(f), f)
            else:
                self.regressed_fps.append(f["fingerprint"])
                self.regressed.add(_by_severity(f), f)
        return is_new

    def _count(self, f, is_new):
        """The counted result: totals, severities, the area tally, the gates, nodes and namespaces, waived rows."""
        intern = sys.intern
        status, severity = f["status"], f["severity"]
        self.total += 1
        self.by_status[status] += 1
        if status in PROBLEM_STATUSES:
            self.problems_by_severity[severity] += 1
        node, namespace = f.get("node"), f.get("namespace")
        if node:
            self.nodes.add(intern(node) if isinstance(node, str) else node)
        if namespace:
            self.namespaces.add(intern(namespace) if isinstance(namespace, str) else namespace)
        area = _scoring.area_of(f)
        tally = self.areas.get(area)
        if tally is None:
            tally = self.areas[area] = _scoring.AreaTally()
        tally.add(status, severity)
        self.gates.add(f, is_new)
        if status == "waived":
            self.waived.add(_problem_key(f), f)

    def _cis_matrix(self, f):
        checks = self.cis.setdefault(f["source"], {})
        row = checks.get(f["id"])
        if row is None:
            row = checks[f["id"]] = {"id": f["id"], "title": f.get("title") or "", "scored": f.get("scored"),
                                     "cells": {}}
        node = f.get("node")
        if node:
            old = row["cells"].get(node)
            row["cells"][node] = f["status"] if old is None else _worse(f["status"], old)

    def _cis_counted(self, f):
        node, status = f.get("node"), f["status"]
        if node:
            counts = self.node_counts.get(node)
            if counts is None:
                counts = self.node_counts[node] = dict((s, 0) for s in STATUSES)
            counts[status] += 1
            sev = self.node_severity.get(node)
            if sev is None:
                sev = self.node_severity[node] = {"fail": dict((s, 0) for s in SEVERITIES),
                                                  "warn": dict((s, 0) for s in SEVERITIES), "roles": set()}
            if status in PROBLEM_STATUSES:
                sev[status][f["severity"]] += 1
            if f["source"] == "cis-control-plane" or (f["source"] == "kube-bench" and
                                                      _scoring.area_of(f) == "control_plane"):
                sev["roles"].add("control-plane")
            if (status in PROBLEM_STATUSES or status == "waived") and self.cis_open_count < MAX_CIS_OPEN:
                self.cis_open.setdefault(node, []).append(f)
                self.cis_open_count += 1
        if f["source"] != "cis-node" and "audit" in (f.get("title") or "").lower():
            self.cp_audit.append(f)

    def _vuln(self, f, status, severity, namespace):
        open_ = status in PROBLEM_STATUSES
        fixable = is_fixable(f)
        ns = namespace or "(cluster)"
        entry = self.vuln_ns.get(ns)
        if entry is None:
            entry = self.vuln_ns[ns] = {"namespace": ns, "open": 0, "fixable": 0, "waived": 0, "images": set(),
                                        "by_severity": dict((s, 0) for s in SEVERITIES)}
        image = sys.intern(_image_of(f))
        entry["images"].add(image)
        img = self.vuln_images.get(image)
        if img is None:
            img = self.vuln_images[image] = {"image": image, "namespaces": set(), "open": 0, "fixable": 0,
                                             "critical_high": 0, "fixable_critical_high": 0, "waived": 0,
                                             "by_severity": dict((s, 0) for s in SEVERITIES)}
        img["namespaces"].add(ns)
        cve = self.vuln_cves.get(f["id"])
        if cve is None:
            cve = self.vuln_cves[f["id"]] = {"id": f["id"], "title": f.get("title") or "", "severity": severity,
                                             "score": f.get("score"), "images": set(), "open": 0, "fixable": False,
                                             "packages": set(), "fixed_versions": set(), "references":
                                             (f.get("references") or [])[:1]}
        if status == "waived":
            entry["waived"] += 1
            img["waived"] += 1
        if not open_:
            return
        entry["open"] += 1
        entry["by_severity"][severity] += 1
        img["open"] += 1
        img["by_severity"][severity] += 1
        cve["open"] += 1
        cve["images"].add(image)
        if SEVERITY_ORDER[severity] < SEVERITY_ORDER[cve["severity"]]:
            cve["severity"] = severity
        if (f.get("score") or 0) > (cve["score"] or 0):
            cve["score"] = f.get("score")
        evidence = f.get("evidence") or {}
        if len(cve["packages"]) < 4 and evidence.get("package"):
            cve["packages"].add(str(evidence["package"]))
        if severity in ("critical", "high"):
            img["critical_high"] += 1
        if fixable:
            entry["fixable"] += 1
            img["fixable"] += 1
            cve["fixable"] = True
            if len(cve["fixed_versions"]) < 4:
                cve["fixed_versions"].add(str(evidence.get("fixed_version") or evidence.get("fixedVersion")))
            if severity in ("critical", "high"):
                img["fixable_critical_high"] += 1

    def _workload(self, f, status, severity):
        r = f.get("resource") or {}
        key = (r.get("kind") or "", f.get("namespace") or r.get("namespace") or "", r.get("name") or "")
        cells = self.wl.get(key)
        if cells is None:
            cells = self.wl[key] = {}
        rule = f["id"]
        old = cells.get(rule)
        cells[rule] = status if old is None else _worse(status, old)
        info = self.wl_rules.get(rule)
        if info is None:
            info = self.wl_rules[rule] = {"id": rule, "title": f.get("title") or "", "severity": severity,
                                          "counts": dict((s, 0) for s in STATUSES), "modes": set()}
        info["counts"][status] += 1
        mode = (f.get("evidence") or {}).get("mode")
        if isinstance(mode, str) and len(info["modes"]) < 4:
            info["modes"].add(mode)


def _also(finding):
    """What another CIS source said about the same check on the same node (shown as evidence)."""
    evidence = finding.get("evidence") if isinstance(finding.get("evidence"), dict) else {}
    return {"source": finding["source"], "status": finding["status"], "severity": finding["severity"],
            "actual": evidence.get("actual"), "expected": evidence.get("expected")}


def _per_node(acc, node_roles=None):
    """One row per node: role and open FAIL/WARN by severity (CIS sources, one result per check and node)."""
    rows = []
    for node, counts in acc.node_counts.items():
        sev = acc.node_severity.get(node) or {"fail": {}, "warn": {}, "roles": set()}
        role = (node_roles or {}).get(node) or ("control-plane" if "control-plane" in sev["roles"] else "worker")
        rows.append({"node": node, "role": role, "fail": dict(sev["fail"]), "warn": dict(sev["warn"]),
                     "pass": counts.get("pass", 0), "waived": counts.get("waived", 0),
                     "open": counts.get("fail", 0) + counts.get("warn", 0)})
    rows.sort(key=lambda r: (*(-r["fail"].get(s, 0) for s in SEVERITIES), -r["open"], r["node"]))
    return rows


def _matrix(checks, nodes_limit=None):
    rows = sorted(checks.values(), key=lambda row: _cis_sort_key(row["id"]))
    nodes = sorted(set(node for row in rows for node in row["cells"]))
    return {"nodes": nodes, "rows": [{"id": r["id"], "title": r["title"], "scored": r["scored"], "cells": r["cells"]}
                                     for r in rows]}


def node_matrix(findings, sources=("cis-node", "cis-control-plane")):
    """CIS checks x nodes: {'nodes': [...], 'rows': [{id, title, scored, cells: {node: status}}]}."""
    checks = {}
    for finding in findings:
        if finding["source"] not in sources or not finding.get("node"):
            continue
        row = checks.setdefault(finding["id"], {"id": finding["id"], "title": finding["title"],
                                                "scored": finding.get("scored"), "cells": {}})
        old = row["cells"].get(finding["node"])
        row["cells"][finding["node"]] = finding["status"] if old is None else _worse(finding["status"], old)
    return _matrix(checks)


def _vulnerability_view(acc, images_meta, rows):
    namespaces = sorted(acc.vuln_ns.values(), key=lambda e: (-e["by_severity"]["critical"], -e["by_severity"]["high"],
                                                             -e["open"], e["namespace"]))
    images = sorted(acc.vuln_images.values(), key=lambda e: (-e["fixable_critical_high"], -e["critical_high"],
                                                             -e["fixable"], -e["open"], e["image"]))
    cves = sorted((c for c in acc.vuln_cves.values() if c["open"]),
                  key=lambda c: (0 if c["fixable"] else 1, SEVERITY_ORDER.get(c["severity"], 9), -len(c["images"]),
                                 -(c["score"] or 0), c["id"]))
    limit = min(rows, 100)
    return {
        "namespaces": [dict(e, images=len(e["images"])) for e in namespaces[:rows]],
        "namespaces_total": len(namespaces),
        "images": [dict(e, namespaces=sorted(e["namespaces"])[:5]) for e in images[:limit]],
        "images_total": len(images),
        "cves": [dict(c, images=len(c["images"]), packages=sorted(c["packages"]),
                      fixed_versions=sorted(c["fixed_versions"])) for c in cves[:limit]],
        "cves_total": len(cves),
        "open": sum(e["open"] for e in acc.vuln_ns.values()),
        "fixable": sum(e["fixable"] for e in acc.vuln_ns.values()),
        "scanned_images": len(images_meta or ()) or None,
    }


def _workload_view(acc, rules_meta, rows):
    rule_ids = sorted(set(acc.wl_rules) | set(r["id"] for r in (rules_meta or {}).get("rules", [])))
    workloads = []
    for (kind, namespace, name), cells in acc.wl.items():
        fails = sum(1 for s in cells.values() if s in PROBLEM_STATUSES)
        workloads.append({"kind": kind, "namespace": namespace, "name": name, "cells": cells, "open": fails})
    workloads.sort(key=lambda w: (-w["open"], w["namespace"], w["kind"], w["name"]))
    passes = any(info["counts"]["pass"] for info in acc.wl_rules.values())
    rules = []
    meta_rules = dict((r["id"], r) for r in (rules_meta or {}).get("rules", []))
    for rule_id in rule_ids:
        info = acc.wl_rules.get(rule_id, {})
        meta = meta_rules.get(rule_id, {})
        modes = sorted(info.get("modes") or [])
        rules.append({"id": rule_id, "title": meta.get("title") or info.get("title") or "",
                      "severity": meta.get("severity") or info.get("severity") or "",
                      "mode": meta.get("mode") or ("/".join(modes) if modes else None),
                      "enabled": meta.get("enabled", True), "note": meta.get("note"),
                      "counts": info.get("counts") or dict((s, 0) for s in STATUSES)})
    return {"rules": rules, "workloads": workloads[:rows], "workloads_total": len(workloads),
            "with_passes": passes}


def build(cluster, run_id, findings, waivers=None, previous_findings=None, previous_run_id=None, today=None,
          generated_at=None, meta=None, history=None, features=None, actions=None, inputs=None, fail_on=None,
          rows=DEFAULT_ROWS, rendered=None, rendered_applied=None):
    """The whole report model (report.json without its findings, plus private '_' keys for the renderers).

    ``findings``: a list (then ``model['findings']`` holds it, waivers applied) or any re-iterable such as
    ``FindingsDir`` (the writers iterate it again). ``previous_findings``: the previous run's findings (iterable)
    or None on a first run. ``history``: headlines of earlier runs (``read_history``). ``inputs``: ``_inputs.read_meta``.
    """
    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _inputs

    today = today or datetime.date.today()
    generated_at = generated_at or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    waiver_set = Waivers(waivers, today)
    try:
        gates = _scoring.Gates(fail_on)
    except _scoring.GateConfigError as exc:
        raise ReportInputError(str(exc)) from exc
    warnings = []
    previous = None
    if previous_findings is not None:
        try:
            previous = PreviousRun(previous_findings)
        except (OSError, ValueError, RecursionError) as exc:
            # a cut or broken previous report must not block every later report of the cluster
            warnings.append("previous report of run %s is unreadable, so this run is compared with nothing: %s"
                            % (previous_run_id, _formats.safe_text(exc)[:300]))
            previous_run_id = None
    acc = _Pass(rows, previous, gates)
    materialized = [] if isinstance(findings, list) else None
    with gc_paused():
        for finding in findings:
            finding = waiver_set.apply(finding)
            acc.add(finding)
            if materialized is not None:
                materialized.append(finding)
        acc.finish()
    inputs = inputs or {}
    summary = {"total": acc.total, "by_status": acc.by_status, "problems_by_severity": acc.problems_by_severity,
               "by_source": dict(sorted(acc.by_source.items()))}
    # comparison
    comparison, comparison_counts, fingerprints = None, None, None
    if previous is not None:
        # a problem that is waived now was accepted, not fixed: it is listed apart
        fixed_keys = [key for key in previous.problems
                      if acc.current.get(key) not in PROBLEM_STATUSES and acc.current.get(key) != "waived"]
        waived_keys = [key for key in previous.problems if acc.current.get(key) == "waived"]
        fixed_fps = [previous.problems[key][2] for key in fixed_keys]
        fixed, waived_now = TopN(COMPARISON_DETAILS), TopN(COMPARISON_DETAILS)
        for keys, top in ((fixed_keys, fixed), (waived_keys, waived_now)):
            for key in keys:
                entry = previous.details(key)
                entry["status"] = acc.current.get(key, "gone")
                top.add(_by_severity(entry), entry)
        comparison = {"new": [_compact(f) for f in acc.new.result()], "fixed": fixed.result(),
                      "regressed": [_compact(f) for f in acc.regressed.result()], "waived": waived_now.result()}
        comparison_counts = {"new": len(acc.new_fps), "fixed": len(fixed_fps), "regressed": len(acc.regressed_fps),
                             "waived": len(waived_keys)}
        fingerprints = {"new": acc.new_fps, "fixed": fixed_fps, "regressed": acc.regressed_fps}
    # areas and scores
    trivy = _inputs.normalize_trivy_reports((inputs.get("trivy_reports") or {}).get("data"))
    images_known = set(acc.vuln_images)
    if trivy and trivy["images"]:
        images_known |= trivy["images"]
    image_info = {"scanned": len(images_known),
                  "with_critical_high": sum(1 for e in acc.vuln_images.values() if e["critical_high"]),
                  "complete": bool(trivy and trivy["images"])}
    collectors = _inputs.collector_states(inputs)
    areas = _scoring.area_scores(acc.areas, collectors, image_info, acc.by_source)
    waiver_info = waiver_set.info()
    gate_result = gates.result(summary, areas, waiver_info)
    # change since the previous run, from its headline
    previous_headline = history[-1] if history and previous_run_id and history[-1].get("run_id") == previous_run_id \
        else None
    delta = _delta(summary, areas, previous_headline)
    headline = {
        "run_id": run_id, "generated_at": generated_at, "total": acc.total, "by_status": dict(acc.by_status),
        "problems_by_severity": dict(acc.problems_by_severity),
        "open": acc.by_status["fail"] + acc.by_status["warn"],
        "areas": dict((a["area"], {"grade": a["grade"], "score": a["score"], "open": a["open"]}) for a in areas),
        "changes": comparison_counts, "gates_failed": gate_result["failed"] if gates.enabled else None,
    }
    features_clean, features_dropped = _inputs.sanitize_features(features)
    # the rendered metadata (render.json, applied: false) tells only when the run's settings did not: a render.json
    # left from an earlier render_only run must not hide that this run applied the feature
    for name, applied in (rendered_applied or {}).items():
        if name in features_clean and "applied" not in features_clean[name] and applied is False:
            features_clean[name]["applied"] = False
    workload_rules = _inputs.normalize_workload_rules((inputs.get("workload_rules") or {}).get("data"))
    audit_summary = _inputs.normalize_audit_summary((inputs.get("audit_log_summary") or {}).get("data"))
    falco_groups = _inputs.normalize_falco_groups((inputs.get("falco_groups") or {}).get("data"))
    model = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "headline": headline,
        "cluster": cluster,
        "run_id": run_id,
        "generated_at": generated_at,
        "previous_run_id": previous_run_id,
        "warnings": warnings,
        "summary": summary,
        "areas": areas,
        "scoring": {"weights": _scoring.WEIGHTS,
                    "grades": {"A": "no open problem above info", "B": "low/unknown", "C": "medium", "D": "high",
                               "F": "critical"},
                    "method": _scoring.METHOD},
        "delta": delta,
        "history": [*(history or [])[-(HISTORY_RUNS - 1):], headline],
        "nodes": sorted(acc.nodes),
        "namespaces": sorted(acc.namespaces),
        "comparison": comparison,
        "comparison_counts": comparison_counts,
        "comparison_fingerprints": fingerprints,
        "waivers": waiver_info,
        "gates": gate_result,
        "features": features_clean,
        "features_dropped": features_dropped,
        "actions": actions or {"records": [], "unreadable": [], "total": 0, "since_previous": 0, "present": False},
        "rendered": rendered,
        "sections": {
            "cis_nodes": _matrix(acc.cis.get("cis-node", {})),
            "cis_control_plane": _matrix(acc.cis.get("cis-control-plane", {})),
            "kube_bench": _matrix(acc.cis.get("kube-bench", {})),
            "node_counts": dict(sorted(acc.node_counts.items())),
            "per_node": _per_node(acc),
            "cis_duplicates": acc.cis_duplicates,
            "vulnerabilities": _vulnerability_view(acc, trivy["images"] if trivy else None, rows),
            "trivy_reports": {"by_kind": trivy["by_kind"], "reports": trivy["reports"]} if trivy else None,
            "workloads": _workload_view(acc, workload_rules, rows),
            "workload_rules": workload_rules,
            "audit_log": audit_summary,
            "audit_logging_checks": [_compact(f) for f in acc.cp_audit[:50]],
            "falco": {"events": acc.events["falco"], "groups_file": falco_groups},
            "sources": _inputs.normalize_sources((inputs.get("sources") or {}).get("data")),
            "collectors": [dict((k, c[k]) for k in ("collector", "state", "why", "areas")) for c in collectors],
        },
        "meta": dict(meta or {}, inputs=_inputs.meta_status(inputs) if inputs else []),
        # private: for the renderers and writers only, never written
        "_top": dict((source, top.result()) for source, top in acc.top.items()),
        "_waived": acc.waived.result(),
        "_cis_open": dict((node, sorted(items, key=_problem_key)) for node, items in sorted(acc.cis_open.items())),
        "_rows": rows,
    }
    if materialized is not None:
        model["findings"] = materialized
    else:
        model["_source"] = findings
        model["_waivers"] = Waivers(waivers, today)
    return model


AUDIT_INCIDENTS = (("secret_reads", "secret read(s)"), ("secret_access_denied", "denied secret access"),
                   ("denied", "denied"), ("exec", "exec/attach"), ("rbac_changes", "RBAC change(s)"),
                   ("anonymous", "anonymous"))


def console_summary(model, files=None):
    """The five lines the report play ends with (like kube-bench's and Trivy's summaries): grade per area, open
    criticals/highs, audit-log incidents of the queried period, gate result and changes, where the report is."""
    grades = []
    for area in model["areas"]:
        short = area["title"].replace(" (CIS)", "").replace(" (Falco)", "")
        if area["assessed"]:
            grades.append("%s %s" % (short, area["grade"]))
        else:
            grades.append("%s not assessed%s" % (short, " (a source failed)" if area.get("source_failed") else ""))
    severity = model["summary"]["problems_by_severity"]
    waived = model["summary"]["by_status"].get("waived", 0)
    audit = model["sections"].get("audit_log")
    audit_area = next((a for a in model["areas"] if a["area"] == "audit_log"), {})
    if audit:
        period = (audit.get("period") or {}).get("text") or "the queried period"
        counts = ["%d %s" % ((audit.get(key) or {}).get("count", 0), label) for key, label in AUDIT_INCIDENTS]
        still_open = (audit.get("exec") or {}).get("open")
        if still_open:  # an exec/attach/port-forward session without its final stage: the operator should look now
            counts.append("%d session(s) still open" % still_open)
        audit_line = "Audit log (%s): %s" % (period, ", ".join(counts))
        if not audit_area.get("assessed"):
            audit_line += " - incomplete: " + _clip_line(audit_area.get("not_assessed") or "", 160)
    else:
        audit_line = "Audit log: not assessed - %s" % _clip_line(audit_area.get("not_assessed") or "no summary", 160)
    counts = model.get("comparison_counts")
    changes = ("Since run %s: %d new, %d fixed, %d regressed, %d waived (not fixed)" % (
        model["previous_run_id"], counts["new"], counts["fixed"], counts["regressed"], counts.get("waived", 0))
        if counts else "First run: nothing to compare with yet")
    files = files or {}
    where = files.get("html") or files.get("json") or "(not written: check mode)"
    return [_formats.safe_text(line) for line in (
        "Grades: " + ", ".join(grades),
        "Open: %d critical, %d high, %d medium, %d low (FAIL+WARN; %d waived)" % (
            severity.get("critical", 0), severity.get("high", 0), severity.get("medium", 0), severity.get("low", 0),
            waived),
        audit_line,
        "Gates: %s. %s" % (_scoring.gate_line(model["gates"]), changes),
        "Report: %s%s" % (where, " (and report.pdf)" if files.get("pdf") else ""))]


def _clip_line(text, limit):
    text = _formats.safe_text(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _delta(summary, areas, previous):
    if not previous:
        return None
    before_status = previous.get("by_status") or {}
    before_sev = previous.get("problems_by_severity") or {}
    before_areas = previous.get("areas") or {}
    out = {"run_id": previous.get("run_id"),
           "by_status": dict((s, summary["by_status"].get(s, 0) - before_status.get(s, 0)) for s in STATUSES),
           "problems_by_severity": dict((s, summary["problems_by_severity"].get(s, 0) - before_sev.get(s, 0))
                                        for s in SEVERITIES),
           "open": (summary["by_status"]["fail"] + summary["by_status"]["warn"]) - (previous.get("open") or 0),
           "areas": {}}
    for area in areas:
        old = before_areas.get(area["area"]) or {}
        score_delta = None
        if area["score"] is not None and isinstance(old.get("score"), (int, float)):
            score_delta = round(area["score"] - old["score"], 1)
        out["areas"][area["area"]] = {"score": score_delta, "grade_before": old.get("grade"),
                                      "open": area["open"] - (old.get("open") or 0) if old else None}
    return out


def iter_output_findings(model):
    """The findings to write (waivers applied), from the list or by streaming the source again."""
    if "findings" in model:
        yield from model["findings"]
        return
    waiver_set = model["_waivers"]
    with gc_paused():
        for finding in model["_source"]:
            yield waiver_set.apply(finding, count=False)


def write_outputs(model, paths):
    """Write report.json / junit.xml / results.sarif in one pass over the findings; paths = {format: path}."""
    writers = {"json": _formats.ReportJsonWriter, "junit": _formats.JUnitWriter, "sarif": _formats.SarifWriter}
    open_files, active = [], []
    try:
        for fmt, path in paths.items():
            directory = os.path.dirname(path) or "."
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
            handle = os.fdopen(fd, "w", encoding="utf-8", errors="replace", buffering=1 << 20)
            open_files.append((handle, tmp, path))
            active.append(writers[fmt](handle, model))
        for finding in iter_output_findings(model):
            for writer in active:
                writer.add(finding)
        for writer in active:
            writer.close()
        for entry in open_files:
            entry[0].close()
            os.chmod(entry[1], 0o644)
        for entry in open_files:
            os.replace(entry[1], entry[2])
    except BaseException:
        for entry in open_files:
            entry[0].close()
            if os.path.exists(entry[1]):
                os.unlink(entry[1])
        raise


def write_atomic(path, data, mode=0o644):
    """Temp file in the target directory, then rename: a reader never sees half a report."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data if isinstance(data, bytes) else data.encode("utf-8", "replace"))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------------------------------ index
def index_entries(reports_dir, current=None):
    """The latest report of every cluster under reports_dir: headline numbers for the multi-cluster index."""
    entries = []
    if not os.path.isdir(reports_dir):
        return entries
    for cluster in sorted(os.listdir(reports_dir)):
        cluster_dir = os.path.join(reports_dir, cluster)
        if cluster.startswith(".") or not os.path.isdir(cluster_dir):
            continue
        runs = run_dirs(cluster_dir)
        if not runs:
            continue
        latest = runs[-1]
        run_dir = os.path.join(cluster_dir, latest)
        try:
            head = _formats.read_report_head(os.path.join(run_dir, "report.json"))
        except (OSError, ValueError) as exc:
            entries.append({"cluster": cluster, "run_id": latest, "error": str(exc)[:200], "runs": len(runs)})
            continue
        files = dict((name, os.path.isfile(os.path.join(run_dir, name)))
                     for name in ("report.html", "report.pdf", "report.json", "junit.xml", "results.sarif"))
        entries.append({"cluster": head.get("cluster") or cluster, "dir": cluster, "run_id": latest,
                        "runs": len(runs), "headline": headline_of(head), "files": files,
                        "areas": head.get("areas") or [], "this_run": bool(current and latest == current)})
    return entries
