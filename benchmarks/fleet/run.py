#!/usr/bin/env python3
"""Fleet benchmark: playbooks/audit.yml (CIS benchmark + collect) and playbooks/report.yml on real SSH test hosts.

Brings up C clusters of N nodes (1 control plane + N-1 workers; default 4 x 50 = 200) on the test bed (sshd in
network namespaces, reached over loopback through ProxyCommand, plain login environment: see tests/testbed/README.md),
then runs the real playbooks exactly as a user would (`ansible-playbook audit.yml report.yml`) with forks 10, SSH
pipelining and ControlPersist 60s (the test bed's ansible.cfg), once per strategy: linear; free for every play; mixed
(free for the per-node audit play only, made from playbooks/audit.yml at run time). In the same session, interleaved:
* the reference: `ansible -m ansible.builtin.ping` on every host (one module call per host, the floor of any audit
  that reaches each node once), so every phase is also reported as a ratio to it;
* with --before DIR, the same run from another checkout (e.g. `git worktree add /tmp/old <rev>`): before/after;
* with --slices S, AWX job slicing (benchmarks/fleet/slicing.py): S `audit.yml --skip-tags collect --limit @slice`
  processes in parallel, then `collect.yml` and `report.yml` once (docs/awx.md); the reports must be identical to
  the single run's (findings, fingerprints, counts).
Every play is timed by a small notification callback (callback/phase_timer.py); SSH invocations are counted per host
with a wrapper set as the ssh executable (it logs each call before exec'ing ssh); the load average is printed before
and after (the machine has 2 cores and is shared).

    sudo .venv/bin/python benchmarks/fleet/run.py [--clusters 4] [--nodes 50] [--repeat 1] [--strategies linear]
        [--slices 2] [--before /tmp/kubesec-before] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from benchmarks.fleet.slicing import awx_slices, compare_runs, write_limit_file  # noqa: E402
from tests.testbed.testbed import TestBed  # noqa: E402

PHASES = {  # play name prefix -> phase
    "Run | ": "run id",
    "Audit | CIS": "audit (benchmark role)",
    "Audit | Collect": "collect (collect role)",
    "Collect | ": "collect (collect role)",
    "Audit log | ": "audit log (none configured)",
    "Report | ": "report (report role)",
}


def ssh_wrapper(directory: Path, log: Path) -> Path:
    wrapper = directory / "ssh-counting"
    wrapper.write_text(f'#!/bin/sh\necho "$$ $*" >> {log}\nexec ssh "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def ssh_calls_per_host(log: Path) -> dict[str, int]:
    """{host: ssh invocations} from the wrapper's log (the test bed names each node with HostKeyAlias)."""
    counts: dict[str, int] = {}
    for line in log.read_text().splitlines():
        match = re.search(r"HostKeyAlias=(\S+)", line)
        if match:
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts


def mixed_playbook(directory: Path, repo: Path) -> Path:
    """playbooks/audit.yml with `strategy: free` on its benchmark play only (made at run time, so it cannot drift)."""
    source = repo / "playbooks" / "audit.yml"
    plays = yaml.safe_load(source.read_text())
    for play in plays:
        if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
            key = "import_playbook" if "import_playbook" in play else "ansible.builtin.import_playbook"
            play[key] = str(source.parent / play[key])
        elif play["name"].startswith("Audit | CIS"):
            play["strategy"] = "free"
    assert sum(1 for p in plays if p.get("strategy") == "free") == 1, "no benchmark play in playbooks/audit.yml"
    path = directory / "audit-free-benchmark-play.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def ansible_env(bed: TestBed, repo: Path, wrapper: Path, strategy: str, timings: Path, profile: bool) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(bed.ansible_cfg),
            "ANSIBLE_FORKS": "10",
            "ANSIBLE_PIPELINING": "1",
            "ANSIBLE_SSH_EXECUTABLE": str(wrapper),
            "ANSIBLE_STRATEGY": strategy,
            "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback"),
            "KUBESEC_PHASE_TIMER_OUT": str(timings),
            "ANSIBLE_COLLECTIONS_PATH": str(repo / "collections"),
            "ANSIBLE_ROLES_PATH": str(repo / "collections/ansible_collections/kubesec/cluster/roles"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    if profile:  # the slowest tasks, printed by ansible.posix.profile_tasks at the end
        env.update({"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "15"})
    return env


def check_recap(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    recap = proc.stdout.split("PLAY RECAP", 1)[1]
    if any(" failed=0" not in line or " unreachable=0" not in line for line in recap.splitlines() if " : ok=" in line):
        raise SystemExit(f"{what}: hosts failed:\n{recap}")


def phases_of(timings: Path) -> tuple[dict[str, float], dict[str, list[float]]]:
    data = json.loads(timings.read_text())
    phases: dict[str, float] = {}
    per_host: dict[str, list[float]] = {}
    for play in data["plays"]:
        name = play["name"]
        phase = next((p for prefix, p in PHASES.items() if name.startswith(prefix)), name)
        phases[phase] = phases.get(phase, 0.0) + play["end"] - play["start"]
        if phase != "run id":
            per_host.setdefault(phase, []).extend(play["hosts"].values())
    return phases, per_host


def run_once(bed: TestBed, strategy: str, wrapper: Path, log: Path, reports: Path, run_id: str, repo: Path = REPO, profile: bool = False) -> dict:
    log.write_text("")
    timings = reports.parent / f"timings-{run_id}.json"
    env = ansible_env(bed, repo, wrapper, "linear" if strategy == "mixed" else strategy, timings, profile)
    playbooks = [repo / "playbooks" / "audit.yml", repo / "playbooks" / "report.yml"]
    if strategy == "mixed":  # free for the per-node audit play, linear for collect and report
        playbooks[0] = mixed_playbook(reports.parent, repo)
    cmd = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        *map(str, playbooks),
        "-e",
        f"kubesec_reports_dir={reports}",
        "-e",
        f"kubesec_run_id={run_id}",
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    check_recap(proc, f"{strategy} run {run_id}")
    phases, per_host = phases_of(timings)
    if profile:
        recap = proc.stdout.split("PLAY RECAP", 1)[1]
        print("\n".join(line for line in recap.splitlines() if re.search(r"\s[\d.]+s$", line)), flush=True)
    return {"wall": wall, "phases": phases, "per_host": per_host, "ssh": ssh_calls_per_host(log)}


def run_reference(bed: TestBed, wrapper: Path, log: Path, tmp: Path) -> dict:
    """`ansible control_plane:workers -m ansible.builtin.ping`: one module call per host, same settings."""
    log.write_text("")
    env = ansible_env(bed, REPO, wrapper, "linear", tmp / "timings-ping.json", False)
    cmd = [str(Path(sys.executable).parent / "ansible"), "control_plane:workers", "-m", "ansible.builtin.ping", "-o"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"ping failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return {"wall": wall, "ssh": ssh_calls_per_host(log)}


def run_sliced(bed: TestBed, wrapper: Path, log: Path, reports: Path, run_id: str, slices: int, hosts: list[str]) -> dict:
    """AWX-style: S audit slices in parallel (skip tags collect), then collect.yml and report.yml once."""
    log.write_text("")
    py_bin = Path(sys.executable).parent
    procs = []
    start = time.perf_counter()
    for number, part in enumerate(awx_slices(hosts, slices), 1):
        limit = write_limit_file(reports.parent / f"slice-{run_id}-{number}.txt", part)
        env = ansible_env(bed, REPO, wrapper, "linear", reports.parent / f"timings-{run_id}-slice{number}.json", False)
        cmd = [
            str(py_bin / "ansible-playbook"),
            str(REPO / "playbooks/audit.yml"),
            "--skip-tags",
            "collect",
            "--limit",
            f"@{limit}",
            "-e",
            f"kubesec_reports_dir={reports}",
            "-e",
            f"kubesec_run_id={run_id}",
        ]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    with ThreadPoolExecutor(len(procs)) as pool:  # read the pipes concurrently so no slice blocks on a full pipe
        outputs = list(pool.map(lambda p: p.communicate(), procs))
    slices_wall = time.perf_counter() - start
    for number, (proc, (out, err)) in enumerate(zip(procs, outputs), 1):
        check_recap(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), f"slice {number}")
    timings = reports.parent / f"timings-{run_id}-merge.json"
    env = ansible_env(bed, REPO, wrapper, "linear", timings, False)
    cmd = [
        str(py_bin / "ansible-playbook"),
        str(REPO / "playbooks/collect.yml"),
        str(REPO / "playbooks/report.yml"),
        "-e",
        f"kubesec_reports_dir={reports}",
        "-e",
        f"kubesec_run_id={run_id}",
    ]
    merge_start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    merge_wall = time.perf_counter() - merge_start
    check_recap(proc, "collect + report after the slices")
    phases, _ = phases_of(timings)
    return {"wall": time.perf_counter() - start, "slices": slices_wall, "merge": merge_wall, "phases": phases, "ssh": ssh_calls_per_host(log)}


def ssh_line(counts: dict[str, int], hosts: list[str]) -> str:
    per = [counts.get(h, 0) for h in hosts]
    return f"{sum(per)} SSH calls, per host min {min(per)} / max {max(per)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=4)
    parser.add_argument("--nodes", type=int, default=50, help="nodes per cluster (1 control plane + workers)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--strategies",
        nargs="+",
        default=["linear"],
        choices=["linear", "free", "mixed"],
        help="linear; free for every play; mixed = free for the audit (benchmark) play only",
    )
    parser.add_argument("--slices", type=int, default=0, help="also run the fleet as S AWX job slices")
    parser.add_argument("--before", type=Path, help="a checkout of the code before, run in the same session")
    parser.add_argument("--dir", default=str(REPO / ".bench"), help="where the test bed and the reports go (a temporary folder inside it, removed at the end)")
    parser.add_argument("--profile", action="store_true", help="also print the slowest tasks (profile_tasks)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    variants = [(s, REPO) for s in args.strategies] + ([("before", args.before)] if args.before else [])
    results: dict[str, list[dict]] = {label: [] for label, _ in variants}
    references: list[dict] = []
    sliced: list[dict] = []
    identity: list[str] = []
    base = Path(args.dir).absolute()
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fleet-", dir=base) as tmp:
        tmp = Path(tmp)
        log = tmp / "ssh.log"
        wrapper = ssh_wrapper(tmp, log)
        bed = TestBed(tmp / "bed")
        started = time.perf_counter()
        clusters = [f"fleet{os.getpid() % 100000}c{index + 1}" for index in range(args.clusters)]
        try:
            for cluster in clusters:
                bed.up(cluster=cluster, workers=args.nodes - 1, control_planes=1, profile="kubeadm-default", log=None)
            up_seconds = time.perf_counter() - started
            hosts = [node.name for node in bed.nodes()]
            for repeat in range(args.repeat):
                references.append(run_reference(bed, wrapper, log, tmp))
                print(f"  reference (ping) {repeat + 1}: {references[-1]['wall']:.1f} s, {ssh_line(references[-1]['ssh'], hosts)}", flush=True)
                for label, repo in variants:
                    strategy = "linear" if label == "before" else label
                    reports = tmp / f"reports-{label}"
                    run = run_once(bed, strategy, wrapper, log, reports, f"bench{repeat}{label}", repo=repo, profile=args.profile)
                    results[label].append(run)
                    print(f"  {label} run {repeat + 1}: {run['wall']:.1f} s, {ssh_line(run['ssh'], hosts)}", flush=True)
                if args.slices:
                    run_id = f"bench{repeat}sliced"
                    sliced.append(run_sliced(bed, wrapper, log, tmp / "reports-sliced", run_id, args.slices, hosts))
                    print(
                        f"  {args.slices} slices run {repeat + 1}: {sliced[-1]['wall']:.1f} s (slices "
                        f"{sliced[-1]['slices']:.1f} s, collect + report {sliced[-1]['merge']:.1f} s), "
                        f"{ssh_line(sliced[-1]['ssh'], hosts)}",
                        flush=True,
                    )
                    single = args.strategies[0]
                    identity += compare_runs(tmp / f"reports-{single}", tmp / "reports-sliced", clusters, f"bench{repeat}{single}", run_id)
                    print(f"  sliced vs single ({single}) reports: {'identical' if not identity else '; '.join(identity)}", flush=True)
        finally:
            bed.down(log=None)
    load_after = os.getloadavg()
    count = args.clusters * args.nodes
    reference = statistics.median(r["wall"] for r in references)
    print(f"\n{args.clusters} clusters x {args.nodes} nodes = {count} hosts, forks 10, pipelining, ControlPersist 60s; test bed up in {up_seconds:.1f} s")
    print(
        f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
        f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} ({os.cpu_count()} CPUs)"
    )
    print(
        f"reference: ansible -m ping on every host {reference:.1f} s (median of {len(references)}: " + ", ".join(f"{r['wall']:.1f}" for r in references) + ")"
    )
    print(f"\n| variant | wall s (median of {args.repeat}) | s per host | x ping | runs | SSH calls per host (max) |")
    print("|---|---|---|---|---|---|")
    for label, runs in results.items():
        walls = [r["wall"] for r in runs]
        median = statistics.median(walls)
        print(
            f"| {label} | {median:.1f} | {median / count:.2f} | {median / reference:.1f} | "
            f"{', '.join(f'{w:.1f}' for w in walls)} | {max(max(r['ssh'].values(), default=0) for r in runs)} |"
        )
    for number, run in enumerate(sliced, 1):
        print(
            f"| {args.slices} AWX slices + collect + report, run {number} | {run['wall']:.1f} | "
            f"{run['wall'] / count:.2f} | {run['wall'] / reference:.1f} | slices {run['slices']:.1f}, "
            f"merge {run['merge']:.1f} | {max(run['ssh'].values(), default=0)} |"
        )
    print(
        "\n| phase | "
        + " | ".join(f"{s}: wall s" for s in results)
        + " | "
        + " | ".join(f"{s}: x ping" for s in results)
        + " | "
        + " | ".join(f"{s}: host done after s (median / max)" for s in results)
        + " |"
    )
    print("|---|" + "---|" * (3 * len(results)))
    phases = list(dict.fromkeys(p for runs in results.values() for r in runs for p in r["phases"]))
    for phase in phases:
        walls = [statistics.median(r["phases"].get(phase, 0.0) for r in runs) for runs in results.values()]
        hosts_done = []
        for runs in results.values():
            done = [t for r in runs for t in r["per_host"].get(phase, [])]
            hosts_done.append(f"{statistics.median(done):.1f} / {max(done):.1f}" if done else "-")
        print(
            f"| {phase} | "
            + " | ".join(f"{w:.1f}" for w in walls)
            + " | "
            + " | ".join(f"{w / reference:.2f}" for w in walls)
            + " | "
            + " | ".join(hosts_done)
            + " |"
        )
    if sliced:
        print(f"\nsliced runs vs single runs: {'identical reports' if not identity else 'DIFFERENT: ' + '; '.join(identity)}")
    return 1 if identity else 0


if __name__ == "__main__":
    sys.exit(main())
