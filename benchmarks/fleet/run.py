#!/usr/bin/env python3
"""Fleet benchmark: playbooks/audit.yml (CIS benchmark + collect) and playbooks/report.yml on 50 real SSH test hosts.

Brings up 5 clusters of 10 nodes (1 control plane + 9 workers) on the test bed (sshd in network namespaces, reached
over loopback through ProxyCommand, plain login environment: see tests/testbed/README.md), then runs the real
playbooks exactly as a user would (`ansible-playbook audit.yml report.yml`) with forks 10, SSH pipelining and
ControlPersist 60s (the test bed's ansible.cfg), once per strategy: linear; free for every play; mixed (free for
the per-node audit play only, made from playbooks/audit.yml at run time). Every play
is timed by a small notification callback (callback/phase_timer.py: play start/end and, per host, when its last
result of the play arrived), with the default stdout callback as a user has it; SSH invocations are counted with a wrapper set as
ansible_ssh_executable that logs each call before exec'ing ssh. The load average is printed before and after
(the machine has 2 cores and is shared).

    sudo .venv/bin/python benchmarks/fleet/run.py [--clusters 5] [--nodes 10] [--repeat 3] [--strategies linear free]
"""

from __future__ import annotations

import argparse
import json
import re
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from tests.testbed.testbed import TestBed  # noqa: E402

PLAYBOOKS = [REPO / "playbooks" / "audit.yml", REPO / "playbooks" / "report.yml"]
PHASES = {  # play name prefix -> phase
    "Run | ": "run id",
    "Audit | CIS": "audit (benchmark role)",
    "Audit | Collect": "collect (collect role)",
    "Report | ": "report (report role)",
}


def ssh_wrapper(directory: Path, log: Path) -> Path:
    wrapper = directory / "ssh-counting"
    wrapper.write_text(f"#!/bin/sh\necho \"$$ $*\" >> {log}\nexec ssh \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper


def mixed_playbook(directory: Path) -> Path:
    """playbooks/audit.yml with `strategy: free` on its benchmark play only (made at run time, so it cannot drift)."""
    plays = yaml.safe_load(PLAYBOOKS[0].read_text())
    for play in plays:
        if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
            key = "import_playbook" if "import_playbook" in play else "ansible.builtin.import_playbook"
            play[key] = str(PLAYBOOKS[0].parent / play[key])
        elif play["name"].startswith("Audit | CIS"):
            play["strategy"] = "free"
    assert sum(1 for p in plays if p.get("strategy") == "free") == 1, "no benchmark play in playbooks/audit.yml"
    path = directory / "audit-free-benchmark-play.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def run_once(bed: TestBed, strategy: str, wrapper: Path, log: Path, reports: Path, run_id: str,
             profile: bool = False) -> dict:
    log.write_text("")
    timings = reports.parent / "timings.json"
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": str(bed.ansible_cfg), "ANSIBLE_FORKS": "10", "ANSIBLE_PIPELINING": "1",
                "ANSIBLE_SSH_EXECUTABLE": str(wrapper), "ANSIBLE_STRATEGY": strategy,
                "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback"), "KUBESEC_PHASE_TIMER_OUT": str(timings),
                "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"})
    if profile:  # the slowest tasks (summed over hosts), printed by ansible.posix.profile_tasks at the end
        env.update({"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "12"})
    playbooks = PLAYBOOKS
    if strategy == "mixed":  # free for the per-node audit play, linear for collect and report
        playbooks = [mixed_playbook(reports.parent), PLAYBOOKS[1]]
        env["ANSIBLE_STRATEGY"] = "linear"
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), *map(str, playbooks),
           "-e", f"kubesec_reports_dir={reports}", "-e", f"kubesec_run_id={run_id}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    data = json.loads(timings.read_text())
    phases: dict[str, float] = {}
    per_host: dict[str, list[float]] = {}
    for play in data["plays"]:
        name = play["name"]
        phase = next((p for prefix, p in PHASES.items() if name.startswith(prefix)), name)
        phases[phase] = phases.get(phase, 0.0) + play["end"] - play["start"]
        if phase != "run id":
            per_host.setdefault(phase, []).extend(play["hosts"].values())
    recap = proc.stdout.split("PLAY RECAP", 1)[1]
    if " failed=0" not in recap or any(" failed=0" not in line or " unreachable=0" not in line
                                       for line in recap.splitlines() if " : ok=" in line):
        raise SystemExit(f"hosts failed:\n{recap}")
    if profile:
        print("\n".join(line for line in recap.splitlines() if re.search(r"\s[\d.]+s$", line)), flush=True)
    return {"wall": wall, "phases": phases, "per_host": per_host, "ssh": len(log.read_text().splitlines())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=10, help="nodes per cluster (1 control plane + workers)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--strategies", nargs="+", default=["linear", "free", "mixed"],
                        choices=["linear", "free", "mixed"],
                        help="linear; free for every play; mixed = free for the audit (benchmark) play only")
    parser.add_argument("--dir", default=str(REPO / ".bench"),
                        help="where the test bed and the reports go (a temporary folder inside it, removed at the end)")
    parser.add_argument("--profile", action="store_true", help="also print the slowest tasks (profile_tasks)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    results: dict[str, list[dict]] = {s: [] for s in args.strategies}
    base = Path(args.dir).absolute()
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fleet-", dir=base) as tmp:
        tmp = Path(tmp)
        log = tmp / "ssh.log"
        wrapper = ssh_wrapper(tmp, log)
        bed = TestBed(tmp / "bed")
        started = time.perf_counter()
        try:
            for index in range(args.clusters):
                bed.up(cluster=f"fleet{os.getpid() % 100000}c{index + 1}", workers=args.nodes - 1, control_planes=1,
                       profile="kubeadm-default", log=None)
            up_seconds = time.perf_counter() - started
            for repeat in range(args.repeat):
                for strategy in args.strategies:
                    run = run_once(bed, strategy, wrapper, log, tmp / "reports", f"bench{repeat}{strategy}",
                                   profile=args.profile)
                    results[strategy].append(run)
                    print(f"  {strategy} run {repeat + 1}: {run['wall']:.1f} s, {run['ssh']} ssh calls", flush=True)
        finally:
            bed.down(log=None)
    load_after = os.getloadavg()
    hosts = args.clusters * args.nodes
    print(f"\n{args.clusters} clusters x {args.nodes} nodes = {hosts} hosts, forks 10, pipelining, ControlPersist 60s; "
          f"test bed up in {up_seconds:.1f} s")
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} ({os.cpu_count()} CPUs)")
    print(f"\n| strategy | wall s (median of {args.repeat}) | s per host | runs | SSH calls per host |")
    print("|---|---|---|---|---|")
    for strategy, runs in results.items():
        walls = [r["wall"] for r in runs]
        median = statistics.median(walls)
        print(f"| {strategy} | {median:.1f} | {median / hosts:.2f} | {', '.join(f'{w:.1f}' for w in walls)} | "
              f"{statistics.median(r['ssh'] for r in runs) / hosts:.1f} |")
    print("\n| phase | " + " | ".join(f"{s}: wall s" for s in results) + " | " +
          " | ".join(f"{s}: s after play start when a host was done (median / max)" for s in results) + " |")
    print("|---|" + "---|" * (2 * len(results)))
    phases = list(dict.fromkeys(p for runs in results.values() for r in runs for p in r["phases"]))
    for phase in phases:
        walls = [statistics.median(r["phases"].get(phase, 0.0) for r in runs) for runs in results.values()]
        hosts_done = []
        for runs in results.values():
            done = [t for r in runs for t in r["per_host"].get(phase, [])]
            hosts_done.append(f"{statistics.median(done):.1f} / {max(done):.1f}" if done else "-")
        print(f"| {phase} | " + " | ".join(f"{w:.1f}" for w in walls) + " | " + " | ".join(hosts_done) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
