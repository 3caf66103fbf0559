# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parallel runner of the audit-log query: the planned work units (gzip files, byte ranges of plain files) cut
at half their cost, the second half scanned in a forked child that sends its _Acc state back through a pipe, the
first half here; then merged in order. Falls back to one process when the work is small, fork is missing or the
child fails. Also joins the per-process output_file parts.

Private module_utils (node side, standard library only).
"""

from __future__ import annotations

import gc
import os
import pickle
import tempfile
import traceback
from typing import Any, Dict, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_files import _align
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_filter import _Ctx
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_scan import _Acc, _scan_gz, _scan_plain

PARALLEL_MIN = 8 << 20  # scan this many bytes or more in two processes
GZ_WEIGHT = 6  # a gzip byte costs about this many plain bytes to scan

# (kind "gz" or "plain", file entry, file index, start, end): a gzip file is read whole (0, compressed size)
Unit = Tuple[str, Dict[str, Any], int, int, int]


def _run_units(units: list[Unit], ctx: _Ctx, max_events: int, out_path: str | None) -> _Acc:
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


def _unit_cost(unit: Unit) -> int:
    if unit[0] == "gz":
        return unit[1]["size"] * GZ_WEIGHT
    return unit[4] - unit[3]


def _run_parallel(units: list[Unit], ctx: _Ctx, max_events: int, out_dir: str | None, workers: int) -> tuple[_Acc, list[str], int]:
    """Split units into contiguous halves; the child process scans the second, the parent the first."""
    total = sum(_unit_cost(u) for u in units)
    out_paths: list[str | None] = [None, None]

    def part() -> str:
        fd, name = tempfile.mkstemp(prefix=".audit_log_query.", suffix=".part", dir=out_dir)
        os.close(fd)
        return name

    if out_dir is not None:
        out_paths[0] = part()
    if workers < 2 or total < PARALLEL_MIN or not hasattr(os, "fork") or len(units) == 0:
        return _run_units(units, ctx, max_events, out_paths[0]), [p for p in out_paths[:1] if p], 1
    # cut the unit list at half the cost, splitting a plain range if it straddles the middle
    first: list[Unit] = []
    second: list[Unit] = []
    acc_cost = 0
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


def _assemble(parts: list[str], output_file: str) -> None:
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
