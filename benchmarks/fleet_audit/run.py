#!/usr/bin/env python3
"""Fleet audit benchmark: cis_node_audit (one module call per node) vs one Ansible task per control.

Brings up N real SSH test hosts (tests/testbed: sshd in network namespaces, reached over loopback), runs
both playbooks with forks 10 and SSH pipelining, and reports wall time, seconds per node and SSH round
trips per node. Round trips are counted for real: ansible_ssh_executable points at a wrapper that logs
every ssh invocation before exec'ing ssh.

    sudo .venv/bin/python benchmarks/fleet_audit/run.py [--sizes 10 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
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

from tests.testbed.testbed import TestBed  # noqa: E402


def ssh_wrapper(directory: Path, log: Path) -> Path:
    wrapper = directory / "ssh-counting"
    wrapper.write_text(f'#!/bin/sh\necho "$$ $*" >> {log}\nexec ssh "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def run_playbook(bed_dir: Path, playbook: Path, wrapper: Path, log: Path) -> tuple[float, int]:
    log.write_text("")
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(bed_dir / "ansible.cfg"),
            "ANSIBLE_FORKS": "10",
            "ANSIBLE_SSH_EXECUTABLE": str(wrapper),
            "ANSIBLE_PIPELINING": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    start = time.perf_counter()
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(playbook)], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{playbook.name} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return elapsed, len(log.read_text().splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="kubesec-fleet-") as tmp:
        tmp = Path(tmp)
        log = tmp / "ssh.log"
        wrapper = ssh_wrapper(tmp, log)
        for size in args.sizes:
            bed = TestBed(tmp / f"bed{size}")
            bed.up(cluster="fleet", workers=size, control_planes=0, profile="kubeadm-default")
            try:
                results = {}
                for name in ("one_module.yml", "one_task_per_control.yml"):
                    runs = [run_playbook(bed.dir, HERE / name, wrapper, log) for _ in range(args.repeat)]
                    times = [r[0] for r in runs]
                    results[name] = (statistics.median(times), runs[-1][1] / size, times)
                rows.append((size, results))
            finally:
                bed.down()
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| nodes | playbook | wall s (median of %d) | s per node | SSH round trips per node | runs |" % args.repeat)
    print("|---|---|---|---|---|---|")
    for size, results in rows:
        for name, (median, trips, times) in results.items():
            print(f"| {size} | {name} | {median:.2f} | {median / size:.3f} | {trips:.1f} | {', '.join(f'{t:.2f}' for t in times)} |")
        ratio = results["one_task_per_control.yml"][0] / results["one_module.yml"][0]
        print(f"| {size} | ratio | {ratio:.1f}x less wall time with one module call | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
