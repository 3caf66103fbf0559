"""Pytest fixtures for the test bed (real SSH nodes in network namespaces; needs root).

Use from any test module (the fixture is named `testbed`; importing it as `testbed_fixture` keeps ruff's F811 quiet):

    from tests.testbed.fixtures import testbed_fixture  # noqa: F401  (pytest fixture `testbed`)

    @pytest.mark.testbed
    def test_something(testbed):
        result = testbed.ansible_json("workers", "ansible.builtin.command", "id -u")
        ...

`testbed` is session-scoped: 3 workers + 1 control plane (profile kubeadm-default) in one cluster, brought up
once (shared by every module that imports it) and taken down at the end of the session. Tests that change a node tree must restore it (or call
`testbed.reset(host)`). For another shape use `running_testbed(...)`, a context manager.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .testbed import (
    COLLECTIONS,
    NETNS_DIR,
    REGISTRY,
    Node,
    TestBed,
    unavailable_reason,
)

DEFAULT_SHAPE = {"workers": 3, "control_planes": 1, "profile": "kubeadm-default"}
HOST_PATHS = (
    "/etc/kubernetes",
    "/var/lib/kubelet",
    "/etc/systemd/system/kubelet.service.d",
    "/var/log/kubernetes",
    "/etc/default",
    "/var/lib/etcd",
    "/run/sshd",
)


def host_snapshot(paths=HOST_PATHS) -> dict[str, list[str] | None]:
    """Listing of host paths (None when absent): to prove the test bed does not touch the host."""
    return {p: sorted(os.listdir(p)) if os.path.isdir(p) else None for p in paths}


def _tool(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


class TestBedHandle:
    """One cluster of a running test bed, with helpers to reach its nodes."""

    __test__ = False

    def __init__(self, bed: TestBed, cluster: str, shape: dict, host_before: dict):
        self.bed = bed
        self.cluster = cluster
        self.shape = dict(shape)
        self.host_before = host_before  # host_snapshot() taken before `up`

    # ---------------------------------------------------------------- what is there
    @property
    def dir(self) -> Path:
        return self.bed.dir

    @property
    def inventory(self) -> Path:
        return self.bed.inventory

    @property
    def ansible_cfg(self) -> Path:
        return self.bed.ansible_cfg

    def nodes(self) -> list[Node]:
        return self.bed.nodes(cluster=self.cluster)

    @property
    def hosts(self) -> list[str]:
        return [n.name for n in self.nodes()]

    @property
    def workers(self) -> list[str]:
        return [n.name for n in self.nodes() if n.role == "worker"]

    @property
    def control_planes(self) -> list[str]:
        return [n.name for n in self.nodes() if n.role == "control-plane"]

    def node(self, host: str) -> Node:
        return self.bed.node(host)

    def tree(self, host: str) -> Path:
        """Host path of the node's tree: what the node sees at /etc/kubernetes etc. lives under it."""
        return self.bed.node(host).tree

    @property
    def restart_command(self) -> str:
        """kubesec_kubelet_restart_command: run it on the node (over SSH) to restart the kubelet double."""
        return str(self.bed.restart_command)

    # ---------------------------------------------------------------- running things
    def env(self, **extra) -> dict[str, str]:
        """Environment for ansible / ansible-playbook against this test bed."""
        env = dict(os.environ)
        env.update(
            {
                "ANSIBLE_CONFIG": str(self.ansible_cfg),
                "ANSIBLE_INVENTORY": str(self.inventory),
                "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0",
                "ANSIBLE_DEPRECATION_WARNINGS": "0",
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            }
        )
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def ansible(
        self, pattern: str, module: str, args: str | None = None, *extra: str, check: bool = True, env: dict | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess:
        cmd = [_tool("ansible"), pattern, "-m", module, *(["-a", args] if args is not None else []), *extra]
        proc = subprocess.run(cmd, env=env or self.env(), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
        return proc

    def ansible_json(self, pattern: str, module: str, args: str | None = None, *extra: str, check: bool = True) -> dict[str, dict]:
        """Ad-hoc module run; returns {host: result} (from the json callback)."""
        env = self.env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
        proc = self.ansible(pattern, module, args, *extra, check=check, env=env)
        data = json.loads(proc.stdout[proc.stdout.index("{") :])
        results = {}
        for play in data.get("plays", []):
            for task in play.get("tasks", []):
                results.update(task.get("hosts", {}))
        return results

    def playbook(self, playbook: str | Path, *extra: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        cmd = [_tool("ansible-playbook"), str(playbook), *extra]
        proc = subprocess.run(cmd, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"ansible-playbook failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
        return proc

    def ssh(self, host: str, command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a shell command on a node over real SSH (same options as Ansible uses)."""
        proc = subprocess.run(self.bed.ssh_command(host, command), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"ssh {host} {command!r} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def kubelet_health(self, host: str) -> tuple[int, str]:
        """(status, body) of GET http://127.0.0.1:10248/healthz inside the node; status 0 = not answering."""
        return self.bed.kubelet_health(host)

    def apiserver_health(self, host: str) -> tuple[int, str]:
        """(status, body) of GET http://127.0.0.1:6443/livez inside a control-plane node (plain HTTP)."""
        return self.bed.apiserver_health(host)

    def restart_kubelet(self, host: str) -> subprocess.CompletedProcess:
        """What a role does: run kubesec_kubelet_restart_command on the node over SSH."""
        return self.ssh(host, self.restart_command)

    def up(self) -> dict:
        """Run `up` again with the same shape (idempotent; restarts dead sshd / nodes)."""
        return self.bed.up(self.cluster, self.shape["workers"], self.shape["control_planes"], self.shape["profile"], log=None)

    def reset(self, *hosts: str, profile: str | None = None) -> list[str]:
        """Pristine trees (optionally another profile) for these hosts (all of the cluster if none), restarted."""
        return self.bed.reset(self.cluster, list(hosts) or None, profile, log=None)


def default_cluster_name() -> str:
    """Unique per pytest process: network namespace names are machine-wide and others may run tests too."""
    return os.environ.get("KUBESEC_TESTBED_CLUSTER") or f"pt{os.getpid()}"


@contextmanager
def running_testbed(
    directory: Path | str, cluster: str | None = None, workers: int = 3, control_planes: int = 1, profile: str = "kubeadm-default", verify_down: bool = True
) -> Iterator[TestBedHandle]:
    """Bring a test bed up in `directory`, yield a handle, take it down (and check it is gone)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    cluster = cluster or default_cluster_name()
    # Host directories are compared only when no other test bed (pytest-xdist worker, developer) was up at the
    # start: another one going down meanwhile changes them legitimately.
    solo = not REGISTRY.exists()
    before = host_snapshot()
    bed = TestBed(directory)
    shape = {"workers": workers, "control_planes": control_planes, "profile": profile}
    try:
        bed.up(cluster, workers, control_planes, profile, log=None)
        yield TestBedHandle(bed, cluster, shape, before)
    finally:
        netns = [n.netns for n in bed.nodes()] if bed.exists() else []
        if bed.exists():
            bed.down(log=None)
        if verify_down:
            left = [ns for ns in netns if (NETNS_DIR / ns).exists()]
            assert not left, f"test bed down left network namespaces {left}"
            assert not bed.dir.exists(), f"test bed down left {bed.dir}"
            if solo and not REGISTRY.exists():  # no other test bed on this machine: host paths must be as before
                assert host_snapshot() == before, "test bed down did not restore the host's directories"


_SHARED: dict = {"handle": None, "context": None, "users": 0}


@pytest.fixture(scope="session", name="testbed")
def testbed_fixture(tmp_path_factory) -> Iterator[TestBedHandle]:
    """Session test bed: cluster `pt<pid>` (KUBESEC_TESTBED_CLUSTER overrides), 3 workers + 1 control plane.

    pytest makes one session fixture per module that imports it; they all share this one test bed, which goes
    down when the last of them is torn down (the end of the session).
    """
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    if _SHARED["handle"] is None:
        started = time.monotonic()
        context = running_testbed(tmp_path_factory.mktemp("testbed", numbered=True), **DEFAULT_SHAPE)
        _SHARED["handle"] = context.__enter__()
        _SHARED["handle"].up_seconds = time.monotonic() - started
        _SHARED["context"] = context
    _SHARED["users"] += 1
    try:
        yield _SHARED["handle"]
    finally:
        _SHARED["users"] -= 1
        if _SHARED["users"] == 0:
            context = _SHARED["context"]
            _SHARED.update(handle=None, context=None)
            context.__exit__(None, None, None)


testbed = testbed_fixture  # `from tests.testbed.fixtures import testbed` works too (ruff then reports F811)
