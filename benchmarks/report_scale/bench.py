#!/usr/bin/env python3
"""Report at scale: a synthetic large cluster through the report pipeline, timed per phase, peak RSS measured.

    .venv/bin/python benchmarks/report_scale/bench.py [--repeat 3] [--workdir DIR] [--regen] [--scale million]

Data (made once, kept in --workdir): 200 worker nodes (+3 control planes), 3,000 workloads through the real
workload rule engine with PASS results (the rule x workload matrix), 100,000 vulnerability findings through the
real Trivy Operator report parser (3,030 images x 33), config/RBAC/infra/secret reports, Falco groups, and an
audit-log summary of 50,000 rows; plus the same cluster's previous run (its report.json), so the comparison and
the history are part of the work, as in a scheduled audit.

Each repetition runs in a fresh child process (so its peak RSS is its own) doing what the report action does:
build the model (one streaming pass over the findings files + the previous report.json), write report.json
(+ junit.xml and results.sarif in the same pass), report.html, report.pdf. Budgets: report.json + report.html
< 10 s, report.pdf < 30 s, peak RSS < 1 GiB. The machine is shared, so the 1-minute load average is printed with
every repetition; take the median.

``--scale million`` (issue 19): 1,000 worker nodes, 10,000 workloads, 600,000 vulnerability findings and 55,000
config audit reports, about 1,000,000 findings; budgets json+html < 20 s, pdf < 40 s, peak RSS < 1 GiB, and the
multi-cluster index over 100 clusters (their report.json hard links of this run's) < 5 s. ``--profile FILE`` writes
a cProfile of the first repetition's build + report.json + report.html.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures", "report"))

CLUSTER = "scale"
PREVIOUS, CURRENT = "20261123T020000Z", "20261124T020000Z"
SCALES = {
    "default": {"nodes": 200, "cp_nodes": 3, "workloads": 3000, "vulns": 100000, "audit_rows": 50000, "falco_groups": 400, "config_reports": 3000},
    "smoke": {
        "nodes": 5,
        "cp_nodes": 1,
        "workloads": 50,
        "vulns": 2000,
        "audit_rows": 500,
        "falco_groups": 20,
        "config_reports": 50,
    },  # to try the script itself in seconds
    "million": {"nodes": 1000, "cp_nodes": 3, "workloads": 10000, "vulns": 600000, "audit_rows": 50000, "falco_groups": 2000, "config_reports": 55000},
}
BUDGETS = {
    "default": {"json+html": 10, "pdf": 30, "index": 5},
    "smoke": {"json+html": 10, "pdf": 30, "index": 5},
    "million": {"json+html": 20, "pdf": 40, "index": 5},
}
INDEX_CLUSTERS = 100
SIZE = SCALES["default"]


def generate(workdir):
    import synth

    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _inputs, _report

    cluster_dir = os.path.join(workdir, CLUSTER)
    shutil.rmtree(cluster_dir, ignore_errors=True)
    started = time.time()
    counts = {}
    for seed, run_id in ((1, PREVIOUS), (2, CURRENT)):
        counts[run_id] = synth.write_run(os.path.join(cluster_dir, run_id), cluster=CLUSTER, seed=seed, actions=30, **SIZE)
    # the previous run gets its report.json the normal way, so the current run compares with it
    run_dir = os.path.join(cluster_dir, PREVIOUS)
    findings = _report.FindingsDir(os.path.join(run_dir, "findings"))
    model = _report.build(CLUSTER, PREVIOUS, findings, today=datetime.date(2026, 11, 23), inputs=_inputs.read_meta(run_dir))
    _report.write_outputs(model, {"json": os.path.join(run_dir, "report.json")})
    sizes = dict(
        (name, os.path.getsize(os.path.join(cluster_dir, CURRENT, "findings", name))) for name in os.listdir(os.path.join(cluster_dir, CURRENT, "findings"))
    )
    print("generated in %.0f s: %s" % (time.time() - started, json.dumps(counts[CURRENT])))
    print("findings files: %.1f MB" % (sum(sizes.values()) / 1e6))


def peak_rss_mib():
    """VmHWM of this process. Not ru_maxrss: Linux keeps that across fork+exec, so a child started by a big parent
    would report the parent's peak."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Phase:
    def __init__(self, times, cpu, name):
        self.times, self.cpu, self.name = times, cpu, name

    def __enter__(self):
        self.wall, self.proc = time.perf_counter(), time.process_time()

    def __exit__(self, *exc):
        self.times[self.name] = time.perf_counter() - self.wall
        self.cpu[self.name] = time.process_time() - self.proc


def index_run(workdir):
    """The multi-cluster index over INDEX_CLUSTERS clusters whose latest report.json is (a hard link to) this run's."""
    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _render, _report

    reports = os.path.join(workdir, "index-reports")
    source = os.path.join(workdir, CLUSTER, CURRENT, "report.json")
    if not os.path.isfile(source):  # the current run's report.json, written once by the first repetition
        return None
    for index in range(INDEX_CLUSTERS):
        run_dir = os.path.join(reports, "cluster-%03d" % index, CURRENT)
        os.makedirs(run_dir, exist_ok=True)
        target = os.path.join(run_dir, "report.json")
        if not os.path.exists(target):
            os.link(source, target)
    started = time.perf_counter()
    entries = _report.index_entries(reports, current=CURRENT)
    _report.write_atomic(os.path.join(reports, "index.html"), _render.render_index(entries))
    return time.perf_counter() - started


def reference_run(workdir):
    """The reference measured beside each repetition (own child process, so its memory is not the report's): parse
    every findings file of the run whole with orjson, the fastest JSON parser here - what only reading the input
    costs. The report's json+html time is given as a ratio to it."""
    import orjson

    findings_dir = os.path.join(workdir, CLUSTER, CURRENT, "findings")
    started, cpu, count = time.perf_counter(), time.process_time(), 0
    for name in sorted(os.listdir(findings_dir)):
        with open(os.path.join(findings_dir, name), "rb") as handle:
            count += len(orjson.loads(handle.read()))
    print(json.dumps({"reference": time.perf_counter() - started, "reference_cpu": time.process_time() - cpu, "findings": count}))


def one_run(workdir, outdir, profile=None):
    """The report action's work, phase by phase (runs in a child process)."""
    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats, _inputs, _render, _report

    cluster_dir = os.path.join(workdir, CLUSTER)
    run_dir = os.path.join(cluster_dir, CURRENT)
    os.makedirs(outdir, exist_ok=True)
    times, cpu = {}, {}
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0, c0 = time.perf_counter(), time.process_time()
    build_phase = Phase(times, cpu, "build")
    build_phase.__enter__()
    findings = _report.FindingsDir(os.path.join(run_dir, "findings"))
    previous = _report.previous_run(cluster_dir, CURRENT)
    model = _report.build(
        CLUSTER,
        CURRENT,
        findings,
        today=datetime.date(2026, 11, 24),
        previous_findings=_formats.iter_report_findings(os.path.join(cluster_dir, previous, "report.json")),
        previous_run_id=previous,
        history=_report.read_history(cluster_dir, CURRENT),
        inputs=_inputs.read_meta(run_dir),
        actions=_inputs.read_actions(cluster_dir),
        rendered=_inputs.list_rendered(cluster_dir),
        features={"falco": {"enabled": True}},
        waivers=[{"id": "CVE-2019-0*", "reason": "vendor backport", "expires": "2027-01-01"}],
        fail_on={"severity": "critical", "new_only": True},
    )
    model["meta"]["files"] = findings.files()
    build_phase.__exit__()
    with Phase(times, cpu, "report.json"):
        _report.write_outputs(model, {"json": os.path.join(outdir, "report.json")})
    with Phase(times, cpu, "report.html"):
        _report.write_atomic(os.path.join(outdir, "report.html"), _render.render_html(model))
    rss_json_html = peak_rss_mib()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    current_json = os.path.join(cluster_dir, CURRENT, "report.json")
    if not os.path.isfile(current_json):  # for the index phase: this run's report.json as the clusters' latest
        os.link(os.path.join(outdir, "report.json"), current_json)
    with Phase(times, cpu, "junit+sarif"):
        _report.write_outputs(model, {"junit": os.path.join(outdir, "junit.xml"), "sarif": os.path.join(outdir, "results.sarif")})
    with Phase(times, cpu, "report.pdf"):
        _report.write_atomic(os.path.join(outdir, "report.pdf"), _render.render_pdf(model))
    for table in (times, cpu):
        table["json+html"] = table["build"] + table["report.json"] + table["report.html"]
    times["all"], cpu["all"] = time.perf_counter() - t0, time.process_time() - c0
    times["index"] = index_run(workdir)
    out = {
        "times": times,
        "cpu": cpu,
        "rss_json_html_mib": rss_json_html,
        "rss_peak_mib": peak_rss_mib(),
        "findings": model["summary"]["total"],
        "changes": model["comparison_counts"],
        "sizes_mb": dict(
            (name, round(os.path.getsize(os.path.join(outdir, name)) / 1e6, 1)) for name in sorted(os.listdir(outdir)) if not name.startswith(".")
        ),
    }
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", help="default /tmp/kubesec-report-scale (-million with --scale million)")
    parser.add_argument("--scale", choices=sorted(SCALES), default="default")
    parser.add_argument("--profile", help="cProfile output of run 1's json+html phases (pstats format)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--regen", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global SIZE
    SIZE = SCALES[args.scale]
    args.workdir = args.workdir or "/tmp/kubesec-report-scale" + ("" if args.scale == "default" else "-" + args.scale)
    child = [sys.executable, __file__, "--workdir", args.workdir, "--scale", args.scale]
    if args.child:
        one_run(args.workdir, args.child, args.profile)
        return
    if args.generate:
        generate(args.workdir)
        return
    if args.reference:
        reference_run(args.workdir)
        return
    if args.regen or not os.path.isfile(os.path.join(args.workdir, CLUSTER, PREVIOUS, "report.json")):
        # in a child process, so this process stays small while it starts the measured children
        subprocess.run([*child, "--generate"], check=True)
    rows = []
    for index in range(args.repeat):
        load = os.getloadavg()[0]
        ref = subprocess.run([*child, "--reference"], capture_output=True, text=True, check=True)
        reference = json.loads(ref.stdout.strip().splitlines()[-1])
        outdir = os.path.join(args.workdir, "out-%d" % index)
        profile = ["--profile", args.profile] if args.profile and index == 0 else []
        proc = subprocess.run([*child, "--child", outdir, *profile], capture_output=True, text=True, check=True)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["load"] = load
        result.update(reference)
        rows.append(result)
        t, c = result["times"], result["cpu"]
        print(
            "run %d  load %.2f  wall: build %.2f  json %.2f  html %.2f  => json+html %.2f | junit+sarif %.2f | "
            "pdf %.2f | all %.2f  (cpu: json+html %.2f, pdf %.2f, all %.2f) | peak RSS %.0f MiB "
            "(%.0f MiB after json+html) | index of %d clusters %s"
            % (
                index + 1,
                load,
                t["build"],
                t["report.json"],
                t["report.html"],
                t["json+html"],
                t["junit+sarif"],
                t["report.pdf"],
                t["all"],
                c["json+html"],
                c["report.pdf"],
                c["all"],
                result["rss_peak_mib"],
                result["rss_json_html_mib"],
                INDEX_CLUSTERS,
                "%.2f s" % t["index"] if t.get("index") is not None else "-",
            ),
            flush=True,
        )
        print(
            "       reference (orjson.loads of every findings file): %.2f s wall, %.2f s cpu => json+html = %.1fx "
            "the reference (wall), %.1fx (cpu)"
            % (result["reference"], result["reference_cpu"], t["json+html"] / result["reference"], c["json+html"] / result["reference_cpu"]),
            flush=True,
        )
    first = rows[0]
    print("findings in the run: %d; since the previous run: %s" % (first["findings"], first["changes"]))
    print("output sizes (MB): %s" % first["sizes_mb"])

    def med(key):
        return statistics.median(r["times"][key] for r in rows)

    def cmed(key):
        return statistics.median(r["cpu"][key] for r in rows)

    budget = BUDGETS[args.scale]
    indexes = [r["times"]["index"] for r in rows if r["times"].get("index") is not None]
    print(
        "median wall: json+html %.2f s (budget %d) | pdf %.2f s (budget %d) | peak RSS %.0f MiB (budget 1024) | "
        "index %s (budget %d)"
        % (
            med("json+html"),
            budget["json+html"],
            med("report.pdf"),
            budget["pdf"],
            statistics.median(r["rss_peak_mib"] for r in rows),
            "%.2f s" % statistics.median(indexes) if indexes else "-",
            budget["index"],
        )
    )
    print("median cpu:  json+html %.2f s | pdf %.2f s | junit+sarif %.2f s" % (cmed("json+html"), cmed("report.pdf"), cmed("junit+sarif")))


if __name__ == "__main__":
    main()
