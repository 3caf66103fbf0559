#!/usr/bin/env python3
"""Report at scale: a synthetic large cluster through the report pipeline, timed per phase, peak RSS measured.

    .venv/bin/python benchmarks/report_scale/bench.py [--repeat 3] [--workdir /tmp/kubesec-report-scale] [--regen]

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
SIZE = {"nodes": 200, "cp_nodes": 3, "workloads": 3000, "vulns": 100000, "audit_rows": 50000, "falco_groups": 400,
        "config_reports": 3000}


def generate(workdir):
    import synth

    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _inputs, _report

    cluster_dir = os.path.join(workdir, CLUSTER)
    shutil.rmtree(cluster_dir, ignore_errors=True)
    started = time.time()
    counts = {}
    for seed, run_id in ((1, PREVIOUS), (2, CURRENT)):
        counts[run_id] = synth.write_run(os.path.join(cluster_dir, run_id), cluster=CLUSTER, seed=seed, actions=30,
                                         **SIZE)
    # the previous run gets its report.json the normal way, so the current run compares with it
    run_dir = os.path.join(cluster_dir, PREVIOUS)
    findings = _report.FindingsDir(os.path.join(run_dir, "findings"))
    model = _report.build(CLUSTER, PREVIOUS, findings, today=datetime.date(2026, 11, 23),
                          inputs=_inputs.read_meta(run_dir))
    _report.write_outputs(model, {"json": os.path.join(run_dir, "report.json")})
    sizes = dict((name, os.path.getsize(os.path.join(cluster_dir, CURRENT, "findings", name)))
                 for name in os.listdir(os.path.join(cluster_dir, CURRENT, "findings")))
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


def one_run(workdir, outdir):
    """The report action's work, phase by phase (runs in a child process)."""
    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats, _inputs, _render, _report

    cluster_dir = os.path.join(workdir, CLUSTER)
    run_dir = os.path.join(cluster_dir, CURRENT)
    os.makedirs(outdir, exist_ok=True)
    times, cpu = {}, {}
    t0, c0 = time.perf_counter(), time.process_time()
    build_phase = Phase(times, cpu, "build")
    build_phase.__enter__()
    findings = _report.FindingsDir(os.path.join(run_dir, "findings"))
    previous = _report.previous_run(cluster_dir, CURRENT)
    model = _report.build(
        CLUSTER, CURRENT, findings, today=datetime.date(2026, 11, 24),
        previous_findings=_formats.iter_report_findings(os.path.join(cluster_dir, previous, "report.json")),
        previous_run_id=previous, history=_report.read_history(cluster_dir, CURRENT),
        inputs=_inputs.read_meta(run_dir), actions=_inputs.read_actions(cluster_dir),
        rendered=_inputs.list_rendered(cluster_dir), features={"falco": {"enabled": True}},
        waivers=[{"id": "CVE-2019-0*", "reason": "vendor backport", "expires": "2027-01-01"}],
        fail_on={"severity": "critical", "new_only": True})
    model["meta"]["files"] = findings.files()
    build_phase.__exit__()
    with Phase(times, cpu, "report.json"):
        _report.write_outputs(model, {"json": os.path.join(outdir, "report.json")})
    with Phase(times, cpu, "report.html"):
        _report.write_atomic(os.path.join(outdir, "report.html"), _render.render_html(model))
    rss_json_html = peak_rss_mib()
    with Phase(times, cpu, "junit+sarif"):
        _report.write_outputs(model, {"junit": os.path.join(outdir, "junit.xml"),
                                      "sarif": os.path.join(outdir, "results.sarif")})
    with Phase(times, cpu, "report.pdf"):
        _report.write_atomic(os.path.join(outdir, "report.pdf"), _render.render_pdf(model))
    for table in (times, cpu):
        table["json+html"] = table["build"] + table["report.json"] + table["report.html"]
    times["all"], cpu["all"] = time.perf_counter() - t0, time.process_time() - c0
    out = {"times": times, "cpu": cpu, "rss_json_html_mib": rss_json_html, "rss_peak_mib": peak_rss_mib(),
           "findings": model["summary"]["total"], "changes": model["comparison_counts"],
           "sizes_mb": dict((name, round(os.path.getsize(os.path.join(outdir, name)) / 1e6, 1))
                            for name in sorted(os.listdir(outdir)) if not name.startswith("."))}
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="/tmp/kubesec-report-scale")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--regen", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        one_run(args.workdir, args.child)
        return
    if args.generate:
        generate(args.workdir)
        return
    if args.regen or not os.path.isfile(os.path.join(args.workdir, CLUSTER, PREVIOUS, "report.json")):
        # in a child process, so this process stays small while it starts the measured children
        subprocess.run([sys.executable, __file__, "--workdir", args.workdir, "--generate"], check=True)
    rows = []
    for index in range(args.repeat):
        load = os.getloadavg()[0]
        outdir = os.path.join(args.workdir, "out-%d" % index)
        proc = subprocess.run([sys.executable, __file__, "--workdir", args.workdir, "--child", outdir],
                              capture_output=True, text=True, check=True)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["load"] = load
        rows.append(result)
        t, c = result["times"], result["cpu"]
        print("run %d  load %.2f  wall: build %.2f  json %.2f  html %.2f  => json+html %.2f | junit+sarif %.2f | "
              "pdf %.2f | all %.2f  (cpu: json+html %.2f, pdf %.2f, all %.2f) | peak RSS %.0f MiB "
              "(%.0f MiB after json+html)"
              % (index + 1, load, t["build"], t["report.json"], t["report.html"], t["json+html"], t["junit+sarif"],
                 t["report.pdf"], t["all"], c["json+html"], c["report.pdf"], c["all"], result["rss_peak_mib"],
                 result["rss_json_html_mib"]), flush=True)
    first = rows[0]
    print("findings in the run: %d; since the previous run: %s" % (first["findings"], first["changes"]))
    print("output sizes (MB): %s" % first["sizes_mb"])

    def med(key):
        return statistics.median(r["times"][key] for r in rows)

    def cmed(key):
        return statistics.median(r["cpu"][key] for r in rows)

    print("median wall: json+html %.2f s (budget 10) | pdf %.2f s (budget 30) | peak RSS %.0f MiB (budget 1024)"
          % (med("json+html"), med("report.pdf"), statistics.median(r["rss_peak_mib"] for r in rows)))
    print("median cpu:  json+html %.2f s | pdf %.2f s | junit+sarif %.2f s" % (cmed("json+html"), cmed("report.pdf"),
                                                                             cmed("junit+sarif")))


if __name__ == "__main__":
    main()
