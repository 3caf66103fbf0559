"""Issue 19 (fleet): the per-cluster plays run on the hosts with work only, and AWX job slicing gives the same reports.

2 clusters x 3 SSH test hosts (1 control plane + 2 workers each), nothing configured for collect:
* a single `audit.yml report.yml` run (one node has a kube-bench result collected before, which the benchmark role
  ingests): the collect and report roles run on the leader (first host) of each cluster only (before: every host
  evaluated every task of both roles and skipped it), one SSH call per host;
* the same fleet as 2 AWX job slices (`--limit` partitions as AWX makes them: hosts by name, every 2nd) of
  `audit.yml --skip-tags collect` in parallel, then `collect.yml` and `report.yml` once (docs/awx.md): every
  cluster's report has the same findings, fingerprints and counts as the single run's, one SSH call per host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.fleet.slicing import awx_slices, compare_runs, report_digest, write_limit_file
from tests.conftest import ROOT
from tests.testbed.fixtures import running_testbed

pytestmark = pytest.mark.testbed


def task_hosts(output: str) -> dict[str, set[str]]:
    """{task header: hosts with a result line under it} from ansible-playbook's default output."""
    out: dict[str, set[str]] = {}
    current = None
    for line in output.splitlines():
        header = re.match(r"^TASK \[(.*)\] \*+$", line)
        if header:
            current = header.group(1)
            out.setdefault(current, set())
            continue
        result = re.match(r"^(ok|changed|skipping|failed|fatal): \[([^\]]+?)(?: -> [^\]]+)?\]", line)
        if result and current:
            out[current].add(result.group(2))
    return out


def ssh_counting_env(handle, log: Path) -> dict[str, str]:
    wrapper = log.parent / "ssh-counting"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec ssh "$@"\n')
    wrapper.chmod(0o755)
    return handle.env(ANSIBLE_SSH_EXECUTABLE=str(wrapper))


def ssh_calls(log: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for host in re.findall(r"HostKeyAlias=(\S+)", log.read_text() if log.exists() else ""):
        counts[host] = counts.get(host, 0) + 1
    return counts


KUBE_BENCH = ROOT / "tests" / "fixtures" / "kube-bench" / "node-cis-1.12.json"


def kube_bench_for(host: str) -> str:
    """Extra vars: a kube-bench result collected before for one node only (the benchmark role ingests it)."""
    return json.dumps({"kubesec_kube_bench_result": "{{ '%s' if inventory_hostname == '%s' else '' }}" % (KUBE_BENCH, host)})


def playbook(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), *args]
    return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Two clusters of 3 nodes on one test bed."""
    base = f"fleet{os.getpid() % 100000}"
    with running_testbed(tmp_path_factory.mktemp("fleet-bed"), cluster=f"{base}a", workers=2, control_planes=1) as handle:
        handle.bed.up(f"{base}b", 2, 1, "kubeadm-default", log=None)
        handle.clusters = [f"{base}a", f"{base}b"]
        handle.all_hosts = sorted(n.name for n in handle.bed.nodes())
        yield handle


@pytest.fixture(scope="module")
def single(fleet, tmp_path_factory):
    """audit.yml + report.yml in one run."""
    work = tmp_path_factory.mktemp("single")
    log = work / "ssh.log"
    proc = playbook(
        ssh_counting_env(fleet, log),
        str(ROOT / "playbooks/audit.yml"),
        str(ROOT / "playbooks/report.yml"),
        "-e",
        f"kubesec_reports_dir={work / 'reports'}",
        "-e",
        "kubesec_run_id=single",
        "-e",
        kube_bench_for(f"{fleet.clusters[0]}-worker-1"),
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    return {"reports": work / "reports", "output": proc.stdout, "ssh": ssh_calls(log)}


def test_per_cluster_roles_run_on_the_leaders_only(fleet, single):
    """The collect and report roles' tasks show results for the leader of each cluster only (first by name in the
    play: its control plane); the node audit runs on every host, with one SSH call per host for the whole run."""
    leaders = {f"{cluster}-cp-1" for cluster in fleet.clusters}
    tasks = task_hosts(single["output"])
    per_cluster = {
        name: hosts
        for name, hosts in tasks.items()
        if name.startswith(("kubesec.cluster.collect :", "kubesec.cluster.report :", "kubesec.cluster.drift_alerts :"))
    }
    assert per_cluster, list(tasks)
    for name, hosts in per_cluster.items():
        assert hosts <= leaders, f"{name} ran on {sorted(hosts - leaders)}"
    audit = tasks["kubesec.cluster.benchmark : CIS | Audit the node in one call"]
    assert audit == set(fleet.all_hosts)
    assert single["ssh"] == {host: 1 for host in fleet.all_hosts}
    for cluster in fleet.clusters:
        run = single["reports"] / cluster / "single"
        assert (run / "meta" / "sources.json").is_file()  # collect still records that no source is configured
        kube_bench = [f"kube-bench-{fleet.clusters[0]}-worker-1.json"] if cluster == fleet.clusters[0] else []
        assert sorted(p.name for p in (run / "findings").iterdir()) == sorted(
            [f"{kind}-{host}.json" for host in fleet.all_hosts if host.startswith(cluster + "-")
             for kind in ("cis", "node-currency")] + kube_bench
        )  # the node audit's one call also writes the node-currency findings (issue 23)


def test_awx_slices_give_the_same_reports_as_one_run(fleet, single, tmp_path):
    log = tmp_path / "ssh.log"
    env = ssh_counting_env(fleet, log)
    reports = tmp_path / "reports"
    slices = awx_slices(fleet.all_hosts, 2)
    assert sorted(h for part in slices for h in part) == sorted(fleet.all_hosts)
    assert all(any(h.startswith(c) for h in part) for part in slices for c in fleet.clusters)  # clusters are split
    procs = []
    for number, part in enumerate(slices, 1):
        limit = write_limit_file(tmp_path / f"slice{number}.txt", part)
        cmd = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            str(ROOT / "playbooks/audit.yml"),
            "--skip-tags",
            "collect",
            "--limit",
            f"@{limit}",
            "-e",
            f"kubesec_reports_dir={reports}",
            "-e",
            "kubesec_run_id=sliced",
            "-e",
            kube_bench_for(f"{fleet.clusters[0]}-worker-1"),
        ]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for proc in procs:  # in parallel, as AWX runs the slice jobs
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, out[-6000:]
    merged = playbook(
        env, str(ROOT / "playbooks/collect.yml"), str(ROOT / "playbooks/report.yml"), "-e", f"kubesec_reports_dir={reports}", "-e", "kubesec_run_id=sliced"
    )
    assert merged.returncode == 0, merged.stdout[-6000:]
    assert compare_runs(single["reports"], reports, fleet.clusters, "single", "sliced") == []
    for cluster in fleet.clusters:
        digest = report_digest(reports / cluster / "sliced" / "report.json")
        assert digest["fingerprints"]
        assert {f["node"] for f in digest["findings"]} == {h for h in fleet.all_hosts if h.startswith(cluster + "-")}
    sources = {f["source"] for f in report_digest(reports / fleet.clusters[0] / "sliced" / "report.json")["findings"]}
    assert "kube-bench" in sources
    assert ssh_calls(log) == {host: 1 for host in fleet.all_hosts}
