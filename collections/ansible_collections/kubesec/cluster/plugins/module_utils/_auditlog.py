# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Query kube-apiserver audit logs (audit.k8s.io/v1 Event JSON lines) fast, on the node: ``run_query``.

Private module_utils (leading underscore): the API may change between minor releases. Standard library only; uses
pysimdjson (``simdjson``) or ``orjson`` when they are importable. The parts, one seam each:

- ``_auditlog_common``: the error, vocabulary, limits and field layout every part shares;
- ``_auditlog_time``: durations, timestamps, the window;
- ``_auditlog_files``: the live log and its lumberjack backups, the byte range of a plain file (binary search);
- ``_auditlog_decode``: JSON line -> hot fields, the returned record;
- ``_auditlog_filter``: exact predicates and the byte needles of the pre-filter;
- ``_auditlog_search``: memmem search, line count, the needles that are safe for one block;
- ``_auditlog_scan``: the hot loop (reads, pre-filter, decode, match, accumulate), plain and gzip;
- ``_auditlog_parallel``: two processes over halves of the work, merged in order;
- ``_auditlog_summary``: summary and findings.

How a query runs (``run_query``):

1. Files: the live log (``path`` under ``root``) plus lumberjack backups beside it, oldest first.
2. Time: the window [from, to] is on ``requestReceivedTimestamp``. kube-apiserver writes events in
   ``stageTimestamp`` order, and stageTimestamp >= requestReceivedTimestamp, but a request can finish
   long after it was received (watches: up to 2 x --min-request-timeout = 1 h by default). So files and
   byte ranges are chosen by stageTimestamp in [from - ORDER_TOLERANCE, to + received_slack] and every event
   is then filtered exactly on requestReceivedTimestamp. Plain files are binary-searched by byte offset on
   line boundaries; whole files outside the window are skipped from their first/last lines (plain) or
   their rotation-time file names (gzip).
3. Scan: large binary reads into a reused buffer; when a filter gives literal bytes (e.g. ``"delete"``),
   candidate lines are found with libc memmem and only those are JSON-decoded. Large scans are split
   in two byte ranges and run in two processes (fork). The GC is paused during the scan.
4. Result: the first ``max_events`` matches as small records, the total count, a summary (each request
   counted once, at its final stage), per-file and overall statistics, optional normalized findings.
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping

# The public names (modules/audit_log_query.py, the roles' tests and benchmarks import them from here).
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_common import (
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_PATH,
    DEFAULT_SLACK,
    FILTER_KEYS,
    FINAL_STAGES,
    MAX_SESSIONS,
    MAX_TEXT,
    ORDER_TOLERANCE,
    STAGES,
    AuditLogError,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_decode import (
    _Decoder,
    event_record,
    full_decode,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_files import (
    _node_join,
    _plan_plain,
    backup_pattern,
    find_log_files,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_filter import Query, _Ctx
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_parallel import Unit, _assemble, _run_parallel
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_scan import _Acc, _Scanner
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_summary import (
    build_findings,
    build_summary,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_time import (
    canon,
    human_time,
    parse_duration,
    parse_time_us,
    resolve_window,
)

__all__ = [  # what callers import from here; the private names are for tests and benchmarks
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_PATH",
    "DEFAULT_SLACK",
    "FILTER_KEYS",
    "FINAL_STAGES",
    "MAX_SESSIONS",
    "MAX_TEXT",
    "ORDER_TOLERANCE",
    "STAGES",
    "AuditLogError",
    "Query",
    "_Acc",
    "_Ctx",
    "_Decoder",
    "_Scanner",
    "backup_pattern",
    "build_findings",
    "build_summary",
    "canon",
    "event_record",
    "find_log_files",
    "full_decode",
    "human_time",
    "parse_duration",
    "parse_time_us",
    "resolve_window",
    "run_query",
]


def run_query(
    path: str = DEFAULT_PATH,
    root: str = "/",
    since: Any = None,
    time_from: Any = None,
    time_to: Any = None,
    now: Any = None,
    filters: Mapping[str, Any] | None = None,
    max_events: int = 1000,
    output_file: str | None = None,
    write_output: bool = True,
    findings: bool = False,
    cluster: str | None = None,
    node_name: str | None = None,
    received_slack: Any = None,
    workers: int | None = None,
    backend: str | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> dict[str, Any]:
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

    out_dir: str | None = None
    out_real = ""
    if output_file:
        if not str(output_file).startswith("/"):
            raise AuditLogError("output_file: expected an absolute path, got %r" % (output_file,))
        out_real = _node_join(root, output_file)
        if write_output:
            out_dir = os.path.dirname(out_real)
            if not os.path.isdir(out_dir):
                raise AuditLogError("output_file: directory %s does not exist" % out_dir)

    # plan: which files, which byte ranges
    units: list[Unit] = []
    file_rows: list[dict[str, Any]] = []
    probe = 0
    for index, entry in enumerate(files):
        row = {"name": entry["name"], "path": entry["path"], "bytes": entry["size"], "compressed": entry["gz"], "skipped": False, "events": 0}
        file_rows.append(row)
        if entry["gz"]:
            previous = files[index - 1]["rotated_us"] if index > 0 else None
            if entry["rotated_us"] is not None and canon(entry["rotated_us"]) < ctx.stage_lo_s:
                row["skipped"] = True
                continue
            if previous is not None and canon(previous - ORDER_TOLERANCE * 1000000) > ctx.stage_hi_s:
                row["skipped"] = True
                continue
            units.append(("gz", entry, index, 0, entry["size"]))
            continue
        start, end, probed = _plan_plain(entry, ctx, decoder)
        probe += probed
        if start is None or end is None or end <= start:
            row["skipped"] = True
            continue
        units.append(("plain", entry, index, start, end))

    tmp_paths: list[str] = []
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
        warnings.append(
            "%d event(s) carry only the legacy timestamp field (audit.k8s.io/v1alpha1 or v1beta1, no "
            "requestReceivedTimestamp/stageTimestamp): read with it as both received and stage time" % stats["legacy_timestamp"]
        )
    if stats.get("oversized_lines", 0):
        warnings.append(
            "%d line(s) longer than max_line_bytes (%d) were skipped without reading them; the rest of "
            "each file was read (files: %s)"
            % (stats["oversized_lines"], max_line_bytes, ", ".join(file_rows[i]["name"] for i, c in sorted(acc.files.items()) if c.get("oversized_lines")))
        )
    if stats.get("sessions_not_tracked", 0):
        warnings.append(
            "%d exec/attach/portforward request(s) beyond the first %d were not tracked for open sessions" % (stats["sessions_not_tracked"], MAX_SESSIONS)
        )
    clipped = sum(1 for record in records if "clipped" in record)
    window: dict[str, Any] = {"from": canon(from_us), "to": canon(to_us), "received_slack_seconds": slack, "now": canon(now_us)}
    result: dict[str, Any] = {
        "events": records,
        "events_total": acc.matched,
        "events_truncated": acc.matched > len(records),
        "summary": summary,
        "files": [{k: v for k, v in row.items() if k != "path"} for row in file_rows],
        "window": window,
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
        result["findings"] = build_findings(summary, acc, window, cluster, node_name)
    return result
