# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scan of the audit-log query: large binary reads into a reused buffer, candidate lines found with
``bytes.find`` on the filter's literal needles, only those decoded, matched exactly and summarised into an _Acc.

This is the hot loop (benchmarks/audit_log): the per-line code lives in one closure (_Scanner._make_handle) that
reads only locals. Private module_utils (node side).
"""

from __future__ import annotations

import collections
import json
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Counter
import zlib

from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_common import (
    _F_NAME,
    _F_NS,
    _F_RCV,
    _F_SUB,
    _F_USER,
    _SCALAR_TYPES,
    FINAL_STAGES,
    MAX_SESSIONS,
    POD_ATTACH_SUBRESOURCES,
    RBAC_GROUP,
    RBAC_WRITE_VERBS,
    SECRET_READ_VERBS,
    _NotEvent,
    _plain,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_decode import (
    _EMPTY,
    _EXTRA_KEYS,
    _HOT_KEYS,
    _SJ_OBJECT,
    _decode_dict,
    _Decoder,
    _extras_dict,
    _legacy_only,
    _record_sj,
    _simdjson,
    _sj_subset,
    event_record,
    full_decode,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_files import _stage_of
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_filter import _Ctx
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_search import Finder, block_needles, count_lines
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_time import _canon_str
from ansible_collections.kubesec.cluster.plugins.module_utils._redact import REDACTED, redact_count

if TYPE_CHECKING:
    from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_decode import Fields

CHUNK = 1 << 20  # read size: a block stays in the CPU cache across the few searches over it


class _Acc:
    """What one process accumulates while scanning; merged in order afterwards."""

    def __init__(self, max_events: int, out_path: str | None = None) -> None:
        self.max_events = max_events
        self.records: list[dict[str, Any]] = []  # the first max_events matches, as records
        self.matched = 0
        self.combos: Counter[tuple] = collections.Counter()  # (user, verb, resource, sub, apiGroup, code, stage) -> n
        self.exec_targets: Counter[tuple] = collections.Counter()  # (user, subresource, namespace, pod)
        self.rbac_items: Counter[tuple] = collections.Counter()  # (user, verb, resource, namespace, name)
        self.anon = 0
        self.anon_allowed: Counter[Any] = collections.Counter()  # request path -> n
        self.anon_ips: Counter[Any] = collections.Counter()
        self.seen: dict[str, list[str]] = {}  # category -> [first, last] received
        self.sessions: dict[str, list[Any]] = {}  # exec/attach/portforward auditID -> _session() list
        self.stats: Counter[str] = collections.Counter()
        self.files: dict[int, Counter[str]] = {}  # file index -> Counter
        self.edges: list[tuple[int, str | None, str | None]] = []  # (file index, first stage, last stage) per segment
        self.warnings: list[str] = []
        self.out_path = out_path
        self.out: BinaryIO | None = None

    def open_out(self) -> BinaryIO | None:
        if self.out is None and self.out_path is not None:
            self.out = open(self.out_path, "ab")
        return self.out

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None

    def see(self, category: str, received: str) -> None:
        span = self.seen.get(category)
        if span is None:
            self.seen[category] = [received, received]
        else:
            if received < span[0]:
                span[0] = received
            if received > span[1]:
                span[1] = received

    def state(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("out", None)
        return state

    def merge(self, other: dict[str, Any]) -> None:
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


def _anonymous_details(acc: _Acc, line: bytes | bytearray, code: Any, received: str) -> None:
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


def _export_line(line: bytes | bytearray, resource: Any) -> bytes | bytearray:
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


def _session(acc: _Acc, audit_id: Any, t: Fields, stage: Any, received: str) -> None:
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


def _unauthenticated(line: bytes | bytearray) -> bool:
    try:
        user = full_decode(line).get("user")
        return isinstance(user, dict) and "system:unauthenticated" in (user.get("groups") or ())
    except (ValueError, TypeError):
        return False


class _Scanner:
    """Scans line-aligned byte blocks of one file range; matching and summarising happen in the closure
    built by _make_handle (locals only: this loop runs a million times per GiB)."""

    def __init__(self, ctx: _Ctx, acc: _Acc, file_index: int) -> None:
        self.ctx = ctx
        self.acc = acc
        self.fi = file_index
        self.fstats = acc.files.setdefault(file_index, collections.Counter())
        self.decoder = _Decoder(ctx.backend)
        self.needles = ctx.query.needles
        self.driver_key: str | None = None
        self.checks: list[list[bytes]] = []  # the other filters' needles for the current block (see block)
        # decoded, matched, non_json, blank, invalid, out_of_order, legacy_timestamp, oversized
        self.counts = [0, 0, 0, 0, 0, 0, 0, 0]
        self.edge: list[str | None] = [None, None]  # first and greatest stageTimestamp decoded
        self.handle = self._make_handle()

    def choose_driver(self, sample: bytes | bytearray) -> None:
        """Drive the scan by the filter whose needles are rarest in the first block (one C pass each); the
        other filters' needles are checked on each candidate line (see block)."""
        best, best_n = "", -1
        for key, items in self.needles.items():
            n = sum(sample.count(item) for item in items)
            if best_n < 0 or n < best_n:
                best, best_n = key, n
        self.driver_key = best

    def _make_handle(self) -> Callable[[bytes | bytearray], None]:
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
        parse: Any = decoder.parser.parse if simd else None
        decode = decoder.decode
        scalar_types = _SCALAR_TYPES
        sj_object = _SJ_OBJECT
        max_line = ctx.max_line

        def handle(line: bytes | bytearray) -> None:
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
            t: Fields | None
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
                    t = (
                        d["user"]["username"],
                        d["verb"],
                        g("resource"),
                        g("subresource"),
                        g("apiGroup"),
                        g("namespace"),
                        g("name"),
                        code,
                        d["stage"],
                        d["requestReceivedTimestamp"],
                        d["stageTimestamp"],
                    )
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
                    if t is None:  # pragma: no cover - a subset is always a dict
                        counts[4] += 1
                        return
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
                canonical = len(stage_ts) == 27 and len(received) == 27 and stage_ts[26] == "Z" and received[26] == "Z"
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
            if user == "system:anonymous" or ((not isinstance(user, str) or not user.startswith("system:")) and anon_needle in line and _unauthenticated(line)):
                if not final_only or stage == "ResponseComplete" or stage == "Panic":
                    acc.anon += 1
                    _anonymous_details(acc, line, code, received)

        return handle

    def block(self, buf: bytearray, lo: int, hi: int) -> None:
        """Process buf[lo:hi], which holds whole lines (hi is just past a newline).

        With filters: the candidate lines are those holding a needle of the driving filter (found with memmem),
        each checked for the other filters' needles, then decoded and matched exactly; the lines are counted
        apart (memchr). Without: every line is decoded, counted on the way.
        """
        if self.driver_key is None and self.needles:
            self.choose_driver(buf[lo:min(hi, lo + (4 << 20))])
        handle = self.handle
        finder = Finder(buf)
        try:
            needles = block_needles(self.needles, finder.find, lo, hi) if self.needles else {}
            key = self.driver_key if self.driver_key in needles else next(iter(needles), None)
            self.checks[:] = [items for name, items in needles.items() if name != key]
            if key is None:
                finder.close()
                self._every_line(buf, lo, hi)
                return
            driver = needles[key]
            nl = count_lines(buf, lo, hi)
            self.acc.stats["lines"] += nl
            self.fstats["lines"] += nl
            find, search, rfind = buf.find, finder.find, buf.rfind
            if len(driver) == 1:
                needle = driver[0]
                pos = search(needle, lo, hi)
                while pos >= 0:
                    start = rfind(b"\n", lo, pos) + 1
                    if start == 0:
                        start = lo
                    end = find(b"\n", pos, hi)
                    if end < 0:
                        end = hi
                    handle(buf[start:end])
                    pos = search(needle, end + 1, hi) if end + 1 < hi else -1
                return
            starts = set()
            for needle in driver:
                pos = search(needle, lo, hi)
                while pos >= 0:
                    start = rfind(b"\n", lo, pos) + 1
                    if start == 0:
                        start = lo
                    starts.add(start)
                    end = find(b"\n", pos, hi)
                    if end < 0:
                        break
                    pos = search(needle, end + 1, hi) if end + 1 < hi else -1
            for start in sorted(starts):
                end = find(b"\n", start, hi)
                handle(buf[start:end if end >= 0 else hi])
        finally:
            finder.close()

    def _every_line(self, buf: bytearray, lo: int, hi: int) -> None:
        """Decode every line of buf[lo:hi], counting the lines on the way (no separate counting pass)."""
        handle = self.handle
        find = buf.find
        nl = 0
        start = lo
        while start < hi:
            end = find(b"\n", start, hi)
            if end < 0:
                handle(buf[start:hi])
                break
            nl += 1
            if end > start:
                handle(buf[start:end])
            start = end + 1
        self.acc.stats["lines"] += nl
        self.fstats["lines"] += nl

    def oversized(self) -> None:
        """A line longer than max_line_bytes, skipped without decoding."""
        self.counts[7] += 1
        self.acc.stats["lines"] += 1
        self.fstats["lines"] += 1

    def tail(self, data: bytes | bytearray) -> None:
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
        if self.needles:  # this line was in no block: its own needles (escapes, whitespace) decide the checks
            line = bytearray(data)
            finder = Finder(line)
            try:
                needles = block_needles(self.needles, finder.find, 0, len(line))
            finally:
                finder.close()
            self.checks[:] = list(needles.values())
        self.handle(data)

    def finish(self) -> None:
        stats, fstats, counts = self.acc.stats, self.fstats, self.counts
        counts[1] = sum(self.acc.combos.values()) - self.acc.matched
        counts[6] += self.decoder.legacy
        for name, value in zip(("decoded", "matched", "non_json", "blank", "invalid_events", "out_of_order", "legacy_timestamp", "oversized_lines"), counts):
            if value:
                stats[name] += value
                fstats[name] += value
        self.acc.matched += counts[1]
        self.acc.edges.append((self.fi, self.edge[0], self.edge[1]))


def _scan_plain(path: str, index: int, start: int, end: int, size: int, ctx: _Ctx, acc: _Acc) -> None:
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


def _scan_gz(entry: dict[str, Any], index: int, ctx: _Ctx, acc: _Acc) -> None:
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
                    acc.warnings.append(
                        "%s: gzip data is corrupt after %d compressed bytes (%s); the rest of this file was not read" % (entry["name"], fh.tell(), exc)
                    )
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
                del pending[: last_nl + 1]
    if not done:
        if not inflate.eof and (pending or acc.stats["bytes_read"]):
            acc.warnings.append("%s: gzip stream ends early (file truncated?); read what was there" % entry["name"])
        if pending and not skipping:
            scanner.tail(bytes(pending))
    scanner.finish()


def _gz_block(scanner: _Scanner, pending: bytearray, last_nl: int, ctx: _Ctx, acc: _Acc) -> bool:
    """Handle pending[:last_nl+1]; return True when the scan can stop (block is past the window)."""
    first_stage = _stage_of(bytes(pending[: pending.find(b"\n")]), scanner.decoder)
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
