#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark kubesec.cluster.audit_log_query against cat, grep, ripgrep, jq and a json.loads loop.

    .venv/bin/python benchmarks/audit_log/bench.py              # generates /tmp/kubesec-bench-audit (~1 GiB) once
    .venv/bin/python benchmarks/audit_log/bench.py --runs 5 --markdown /tmp/table.md
    .venv/bin/python benchmarks/audit_log/bench.py --quick --runs 9   # the issue-19 targets only, with their ratios

Everything reads the same 1 GiB / 24 h log from the page cache (one warm-up read first). Methods run
round-robin (round 1: every method once, round 2: ...), so load from other work on a shared machine hits
them alike. Reported: median wall seconds, median CPU seconds (user+sys of this process and its children,
so two worker processes add up), and the highest 1-minute load average seen while the method ran.
jq runs on a slice of the log and is extrapolated. `rg -c` (Debian/Ubuntu package `ripgrep`; `make test` installs
it) is the reference for what a literal scan costs. The ratios at the end (ours / grep -c, ours / rg -c) compare
medians of the same run. Not a test: nothing here asserts a time.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "collections"))
sys.path.insert(0, HERE)

from ansible_collections.kubesec.cluster.plugins.module_utils import _auditlog as A  # noqa: E402
import gen_auditlog  # noqa: E402

END = "2026-03-01T12:00:00Z"
NOW = END
FULL = {"time_from": "2026-02-01T00:00:00Z"}


def cpu_now():
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def sh(cmd):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True).stdout.strip()


def slice_file(src, dst, size):
    with open(src, "rb") as fin:
        data = fin.read(size)
    data = data[: data.rfind(b"\n") + 1]
    with open(dst, "wb") as fout:
        fout.write(data)
    return len(data)


def json_loop(path):
    """The naive way: json.loads every line, filter in Python."""
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            ev = json.loads(line)
            if ev.get("verb") == "delete":
                n += 1
    return n


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / float(1 << 30)
    versions = []
    for dist in ("pysimdjson", "orjson"):
        try:
            versions.append("%s %s" % (dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            versions.append("%s missing" % dist)
    return "%s, %d CPUs, %.0f GiB RAM, Linux %s, Python %s, %s" % (
        model,
        os.cpu_count() or 0,
        mem,
        platform.release(),
        platform.python_version(),
        ", ".join(versions),
    )


class Method:
    def __init__(self, name, fn, runs, scale=1.0, whole=True, note=None):
        self.name, self.fn, self.runs, self.scale, self.whole, self.note = name, fn, runs, scale, whole, note
        self.wall, self.cpu, self.loads, self.result = [], [], [], None

    def run(self):
        self.loads.append(os.getloadavg()[0])
        c0, t0 = cpu_now(), time.perf_counter()
        self.result = self.fn()
        self.wall.append((time.perf_counter() - t0) * self.scale)
        self.cpu.append((cpu_now() - c0) * self.scale)
        self.loads.append(os.getloadavg()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/kubesec-bench-audit")
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--slow-runs", type=int, default=3, help="runs for jq, the json.loads loop and no-filter scans")
    ap.add_argument("--jq-slice", default="100MiB", help="jq runs on this much of the log, extrapolated")
    ap.add_argument("--skip-rotated", action="store_true")
    ap.add_argument("--skip-ansible", action="store_true")
    ap.add_argument("--markdown", help="also write the table here")
    ap.add_argument("--quick", action="store_true", help="only cat, grep, rg and the two targeted queries (full day verb=delete, last hour)")
    args = ap.parse_args()
    if args.quick:
        args.skip_rotated = args.skip_ansible = True

    log = os.path.join(args.dir, "single", "audit.log")
    if not os.path.exists(log):
        print("generating %s (%s, 24 h) ..." % (log, args.size), flush=True)
        t0 = time.perf_counter()
        events, size, _files = gen_auditlog.write_log(log, gen_auditlog.parse_size(args.size), 24.0, gen_auditlog.parse_end(END), 42)
        print("  %d events, %d bytes in %.0f s" % (events, size, time.perf_counter() - t0), flush=True)
    size = os.path.getsize(log)
    mb = size / 1e6
    rot_log = os.path.join(args.dir, "rotated", "audit.log")
    if not args.skip_rotated and not os.path.exists(rot_log):
        print("generating a rotated set (100 MiB files, gzip backups) ...", flush=True)
        gen_auditlog.write_log(rot_log, gen_auditlog.parse_size(args.size), 24.0, gen_auditlog.parse_end(END), 42, rotate=100 << 20, gzip_backups=True)
    for name in [log] + ([f["path"] for f in A.find_log_files(rot_log)] if not args.skip_rotated else []):
        with open(name, "rb") as fh:  # warm the page cache
            while fh.read(1 << 24):
                pass

    def query(path=log, **kw):
        return A.run_query(path=path, now=NOW, **kw)

    methods = [
        Method("cat > /dev/null", lambda: sh("cat %s > /dev/null" % log), args.runs),
        Method('grep -c \'"verb":"delete"\' | cat', lambda: sh('grep -c \'"verb":"delete"\' %s | cat' % log), args.runs),
    ]
    if subprocess.run("command -v rg", shell=True, capture_output=True).returncode == 0:
        methods.append(Method('rg -c \'"verb":"delete"\' | cat', lambda: sh('rg -c \'"verb":"delete"\' %s | cat' % log), args.runs))
    else:
        print("rg not installed (apt-get install -y ripgrep): skipped")
    part = os.path.join(args.dir, "slice.log")
    part_size = slice_file(log, part, gen_auditlog.parse_size(args.jq_slice))
    if args.quick:
        pass
    elif subprocess.run("command -v jq", shell=True, capture_output=True).returncode == 0:
        methods.append(
            Method(
                "jq -c 'select(.verb==\"delete\")' (%.0f MB slice, x%.1f)" % (part_size / 1e6, size / float(part_size)),
                lambda: sh("jq -c 'select(.verb==\"delete\")' %s | wc -l" % part),
                args.slow_runs,
                scale=size / float(part_size),
                note="extrapolated from the slice",
            )
        )
    else:
        print("jq not installed (apt-get install -y jq): skipped")
    if not args.quick:
        methods.append(Method("Python json.loads loop, verb == delete", lambda: json_loop(log), args.slow_runs))
    cases = [
        ("full range, verb=delete", dict(FULL, filters={"verb": ["delete"]}), args.runs),
        ("full range, user=alice@example.com", dict(FULL, filters={"user": ["alice@example.com"]}), args.runs),
        ("full range, secrets get/list/watch", dict(FULL, filters={"resource": ["secrets"], "verb": ["get", "list", "watch"]}), args.runs),
        ("full range, response_code 401/403", dict(FULL, filters={"response_code": [401, 403]}), args.runs),
        ("full range, verb=delete, 1 process", dict(FULL, filters={"verb": ["delete"]}, workers=1), args.runs),
        ("full range, no filter (decodes every event)", dict(FULL), args.slow_runs),
        ("last hour (the default), no filter", {}, args.runs),
        ("last hour, no filter, 1 process", {"workers": 1}, args.runs),
        ("last hour, verb=delete", {"filters": {"verb": ["delete"]}}, args.runs),
        ("last 5 minutes", {"since": "5m"}, args.runs),
        ("1 h window at midnight (reads 2 h: received_slack)", {"time_from": "2026-02-28T23:00:00Z", "time_to": "2026-03-01T00:00:00Z"}, args.runs),
    ]
    if args.quick:
        cases = [case for case in cases if case[0] in ("full range, verb=delete", "last hour (the default), no filter")]
    for name, kw, runs in cases:
        methods.append(Method("audit_log_query " + name, lambda kw=kw: query(**kw), runs, whole="full range" in name))
    if not args.skip_rotated:
        for name, kw in (
            ("full range, verb=delete", dict(FULL, filters={"verb": ["delete"]})),
            ("last hour, no filter", {}),
            ("1 h window 10 h ago", {"time_from": "2026-03-01T01:00:00Z", "time_to": "2026-03-01T02:00:00Z"}),
        ):
            methods.append(Method("rotated+gzip set: " + name, lambda kw=kw: query(rot_log, **kw), args.slow_runs, whole="full range" in name))
    ansible = os.path.join(REPO, ".venv", "bin", "ansible")
    if not args.skip_ansible and os.path.exists(ansible):
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "collections"), ANSIBLE_LOCALHOST_WARNING="0")
        cmd = [ansible, "localhost", "-c", "local", "-m", "kubesec.cluster.audit_log_query", "-a", json.dumps({"path": log, "now": NOW})]
        methods.append(
            Method(
                "ansible localhost -m audit_log_query (last hour, end to end)",
                lambda: subprocess.run(cmd, env=env, check=True, capture_output=True),
                args.slow_runs,
                whole=False,
                note="ansible startup included",
            )
        )

    print("machine: %s" % machine())
    print("log: %s, %d bytes (%.2f GiB); load at start %.2f/%.2f/%.2f" % ((log, size, size / float(1 << 30), *os.getloadavg())), flush=True)
    rounds = max(m.runs for m in methods)
    for rnd in range(rounds):
        for m in methods:
            if len(m.wall) < m.runs:
                m.run()
        print("round %d/%d done, load %.2f/%.2f/%.2f" % ((rnd + 1, rounds, *os.getloadavg())), flush=True)

    lines = ["| method | wall s (median) | MB/s | CPU s (median) | wall min-max | load1 max | notes |", "|---|---:|---:|---:|---|---:|---|"]
    for m in methods:
        wall, cpu = statistics.median(m.wall), statistics.median(m.cpu)
        note = m.note or ""
        res = m.result
        if isinstance(res, dict) and "stats" in res:
            note = "%d matched, %.0f MB read, %d file(s) skipped, %d proc" % (
                res["events_total"],
                res["stats"]["bytes_read"] / 1e6,
                res["stats"]["files_skipped"],
                res["stats"]["processes"],
            )
        lines.append(
            "| %s | %.3f | %s | %.3f | %.3f-%.3f | %.2f | %s |"
            % (m.name.replace("|", "\\|"), wall, "%.0f" % (mb / wall) if m.whole else "-", cpu, min(m.wall), max(m.wall), max(m.loads), note)
        )
    median = {m.name: statistics.median(m.wall) for m in methods}
    grep = next((v for k, v in median.items() if k.startswith("grep -c")), None)
    rg = next((v for k, v in median.items() if k.startswith("rg -c")), None)
    for name in ("audit_log_query full range, verb=delete", "audit_log_query last hour (the default), no filter"):
        if name in median and grep:
            lines.append("")
            lines.append("%s: %.2f x grep -c%s" % (name, median[name] / grep, ", %.2f x rg -c" % (median[name] / rg) if rg else ""))
    table = "\n".join(lines)
    print()
    print("measured %s UTC on: %s" % (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"), machine()))
    print("log: %d bytes (%.2f GiB), 24 h, %s; load at end %.2f/%.2f/%.2f" % ((size, size / float(1 << 30), log, *os.getloadavg())))
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(table + "\n")


if __name__ == "__main__":
    main()
