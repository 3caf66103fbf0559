# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files of the audit-log query: the live log and its lumberjack backups (``<stem>-YYYY-MM-DDTHH-MM-SS.mmm<ext>[.gz]``,
named by the UTC rotation time), and the byte range of a plain file that can hold the window.

kube-apiserver appends events in stageTimestamp order, so a plain file is binary-searched by byte offset on line
boundaries (a few 4 KiB probe reads) and whole files outside the window are skipped from their first/last lines.
gzip backups cannot be seeked: the scan skips their blocks instead (_auditlog_scan).

Private module_utils (node side, standard library only).
"""

from __future__ import annotations

import os
import re
from typing import Any

from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_common import (
    _F_STS,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_PATH,
    AuditLogError,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_decode import _Decoder
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_filter import _Ctx
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_time import _canon_str, _next_us, parse_time_us

SEEK_MIN = 65536  # stop the binary search when the byte window is this small
PROBE = 4096  # read size while probing lines for the seek
_BACKUP_TS = r"(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})"
_STAGE_KEY = b'"stageTimestamp":"'


def _node_join(root: str | None, path: str) -> str:
    if not path or not str(path).startswith("/"):
        raise AuditLogError("path: expected an absolute path on the node, got %r" % (path,))
    if not root or root == "/":
        return os.path.normpath(path)
    return os.path.normpath(os.path.join(root, str(path).lstrip("/")))


def backup_pattern(live_name: str) -> re.Pattern[str]:
    """Regex for lumberjack backups of `live_name` (audit.log -> audit-<UTC time>.log[.gz])."""
    stem, ext = os.path.splitext(live_name)
    return re.compile("^" + re.escape(stem) + "-" + _BACKUP_TS + re.escape(ext) + r"(\.gz)?$")


def find_log_files(path: str = DEFAULT_PATH, root: str = "/") -> list[dict[str, Any]]:
    """The live log and its backups, oldest first: list of dicts (path, name, gz, size, rotated_us)."""
    real = _node_join(root, path)
    directory, live_name = os.path.split(real)
    if not live_name or os.path.isdir(real):
        raise AuditLogError("path: %s is a directory; expected the audit log file (--audit-log-path)" % real)
    pattern = backup_pattern(live_name)
    backups: list[tuple[int, str, bool]] = []
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
                % (real, os.path.splitext(live_name)[0], os.path.splitext(live_name)[1], directory)
            )
        raise AuditLogError("audit log %s does not exist (found %d rotated backup(s) beside it, newest %s)" % (real, len(backups), backups[-1][1]))
    files: list[dict[str, Any]] = []
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


def _display(path: str, name: str) -> str:
    return os.path.join(os.path.dirname(os.path.normpath(path)), name)


def _read_at(fd: int, offset: int, size: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover
    return os.read(fd, size)  # pragma: no cover


def _line_at(fd: int, pos: int, limit: int, size: int, counter: list[int], cap: int = DEFAULT_MAX_LINE_BYTES) -> tuple[int, bytes | None]:
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


def _stage_of(line: bytes | None, decoder: _Decoder) -> str | None:
    """Canonical stageTimestamp of one raw line (fast path: rfind of the key), or None."""
    if line is None:
        return None
    idx = line.rfind(_STAGE_KEY)
    if idx >= 0:
        value = line[idx + len(_STAGE_KEY):idx + len(_STAGE_KEY) + 40]
        end = value.find(b'"')
        if end > 0:
            return _canon_str(value[:end].decode("ascii", "replace"))
    legacy = decoder.legacy  # a probe is not an event read: keep the legacy count of the scan
    try:
        t, _ex = decoder.decode(line)
    except ValueError:
        return None
    finally:
        decoder.legacy = legacy
    return _canon_str(t[_F_STS])


def _stage_near(
    fd: int, pos: int, limit: int, size: int, decoder: _Decoder, counter: list[int], tries: int = 16, cap: int = DEFAULT_MAX_LINE_BYTES
) -> tuple[int, int, str | None]:
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


def _seek(fd: int, lo: int, hi: int, size: int, target: str, decoder: _Decoder, counter: list[int], cap: int = DEFAULT_MAX_LINE_BYTES) -> tuple[int, int]:
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


def _tail_line(fd: int, size: int, counter: list[int], cap: int = DEFAULT_MAX_LINE_BYTES) -> tuple[int, bytes | None]:
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


def _plan_plain(entry: dict[str, Any], ctx: _Ctx, decoder: _Decoder) -> tuple[int | None, int | None, int]:
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
        if last_line is not None and last_stage is not None and last_stage < ctx.stage_lo_s:
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


def _align(fd: int, pos: int, size: int, counter: list[int], cap: int = DEFAULT_MAX_LINE_BYTES) -> int:
    """pos itself if it is a line start, else the start of the next line (or size)."""
    start, _line = _line_at(fd, pos, size, size, counter, cap)
    return start
