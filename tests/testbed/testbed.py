#!/usr/bin/env python3
"""Test bed: N real Kubernetes-like nodes on one machine, reached by Ansible over real SSH.

Each node is an sshd in its own network namespace (kubesec-<cluster>-<node>, loopback only) and its own
private mount namespace in which the paths of its node tree's `mounts:` list (tests/testbed/trees/*.yml)
are bind mounts of that node's materialized tree. A TEST DOUBLE process (node_double.py) holds the
namespaces and serves the kubelet /healthz (and, on control planes, kube-apiserver /livez) stand-ins.
Ansible connects with ProxyCommand `ip netns exec <ns> socat - TCP:127.0.0.1:22`; nothing leaves loopback.

    python tests/testbed/testbed.py up --workers 3 --control-planes 1 --profile kubeadm-default \
        [--cluster testbed] [--dir .testbed]
    python tests/testbed/testbed.py status [--json] [--dir .testbed]
    python tests/testbed/testbed.py reset [--cluster NAME] [--node HOST ...] [--dir .testbed]
    python tests/testbed/testbed.py down [--cluster NAME] [--dir .testbed]

Needs root (network and mount namespaces). See tests/testbed/README.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import ctypes
import ctypes.util
import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

try:  # imported as tests.testbed.testbed
    from . import node_python, nodetree
except ImportError:  # run as a script
    import node_python
    import nodetree

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

DEFAULT_DIR = REPO / ".testbed"
COLLECTIONS = REPO / "collections"
STATE_FILE = "testbed.json"
NETNS_PREFIX = "kubesec-"
NETNS_DIR = Path("/run/netns")
REGISTRY = Path("/run/kubesec-testbed.json")  # host mount points the test beds created, and who uses them
REGISTRY_LOCK = Path("/run/kubesec-testbed.lock")
SSHD_RUN_DIR = Path("/run/sshd")
ROLES = ("control-plane", "worker")
MAX_WORKERS = 50
MAX_CONTROL_PLANES = 9
KUBELET_HEALTH_URL = "http://127.0.0.1:10248/healthz"
APISERVER_HEALTH_URL = "http://127.0.0.1:6443/livez"
STATE_DIR = "/etc/kubernetes/kubesec-state"  # kubesec_state_dir: inside the node's private /etc/kubernetes mount
RANCHER_STATE_DIR = "/var/lib/rancher/kubesec-state"  # the same on k3s / RKE2 trees (no /etc/kubernetes mount)
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
RESERVED_GROUPS = {"all", "ungrouped", "workers", "control_plane"}
CLONE_NEWNET = 0x40000000
HOST_NETNS = f"/proc/{os.getpid()}/ns/net"  # the main thread's namespace
# tool -> Debian package providing it
TOOLS = {
    "ip": "iproute2",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "setsid": "util-linux",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "socat": "socat",
}

KUBELET_RESTART_SCRIPT = '''#!/usr/bin/python3
"""kubelet-restart: the test bed's `systemctl restart kubelet` (TEST DOUBLE, see tests/testbed/README.md).

Run inside a test-bed node (over SSH). Asks the node's kubelet double, through an abstract unix socket
that only processes in this node's network namespace can reach, to re-read the kubelet configuration.
Like systemctl, it succeeds even when the new configuration is bad: check the health endpoint afterwards.
"""
import socket
import sys

try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect("\\0kubesec-testbed-node-double")
        sock.sendall(b"restart-kubelet\\n")
        reply = b""
        while not reply.endswith(b"\\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
except OSError as exc:
    sys.exit(f"Failed to restart kubelet.service: test bed kubelet double not reachable ({exc})")
if b'"generation"' not in reply:
    sys.exit(f"Failed to restart kubelet.service: {reply.decode(errors='replace').strip()}")
'''


class TestBedError(RuntimeError):
    """A test bed operation cannot be done (the message says why and what to do)."""


@dataclass
class Node:
    name: str  # inventory hostname, also the node name written into its kubeconfigs
    cluster: str
    role: str  # worker | control-plane
    index: int
    profile: str
    netns: str
    dir: Path  # <testbed>/nodes/<name>
    mounts: list[str] = field(default_factory=list)

    @property
    def tree(self) -> Path:
        return self.dir / "tree"

    @property
    def home(self) -> Path:
        return self.dir / "home"

    @property
    def sshd_config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def sshd_pidfile(self) -> Path:
        return self.dir / "sshd.pid"

    @property
    def double_pidfile(self) -> Path:
        return self.dir / "double.pid"

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    def to_state(self) -> dict:
        return {"cluster": self.cluster, "role": self.role, "index": self.index, "profile": self.profile, "netns": self.netns, "mounts": self.mounts}


# ------------------------------------------------------------------ small system helpers


def _run(cmd: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and result.returncode != 0:
        raise TestBedError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip() or result.stdout}")
    return result


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _ns_inode(pid: int | str, kind: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def _netns_inode(netns: str) -> int | None:
    try:
        return os.stat(NETNS_DIR / netns).st_ino
    except OSError:
        return None


def _pids_by_netns() -> dict[int, list[int]]:
    """netns inode -> pids, for every process on the machine (one /proc scan)."""
    table: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            inode = _ns_inode(entry, "net")
            if inode is not None:
                table.setdefault(inode, []).append(int(entry))
    return table


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _alive_in(pid: int | None, netns_inode: int | None) -> bool:
    """pid exists, is not a zombie and lives in that network namespace."""
    if not pid or netns_inode is None or _ns_inode(pid, "net") != netns_inode:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


_LIBC = None


def _setns_net(path: Path | str):
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if _LIBC.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def in_netns(netns: str, func, *args):
    """Run func in a worker thread that has entered the namespace (setns is per thread; never the caller's).

    The thread returns to the original namespace afterwards, so it keeps no deleted namespace alive."""
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="netns")

    def task():
        _setns_net(NETNS_DIR / netns)
        try:
            return func(*args)
        finally:
            _setns_net(HOST_NETNS)

    return _POOL.submit(task)


def _http_get(port: int, path: str, timeout: float) -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    return status, body.decode(errors="replace")


def netns_http_get(netns: str, port: int, path: str, timeout: float = 3.0) -> tuple[int, str]:
    """GET http://127.0.0.1:<port><path> inside the node's network namespace: (status, body); status 0 = down."""
    try:
        return in_netns(netns, _http_get, port, path, timeout).result(timeout + 2)
    except (OSError, concurrent.futures.TimeoutError, ValueError, IndexError) as exc:
        return 0, f"no answer: {exc}"


def _ssh_banner(timeout: float) -> bool:
    with socket.create_connection(("127.0.0.1", 22), timeout=timeout) as sock:
        return sock.recv(64).startswith(b"SSH-2.0-")


def netns_ssh_ready(netns: str, timeout: float = 2.0) -> bool:
    try:
        return in_netns(netns, _ssh_banner, timeout).result(timeout + 2)
    except (OSError, concurrent.futures.TimeoutError):
        return False


def ensure_tools() -> dict[str, str]:
    """Absolute paths of the tools the test bed needs; installs missing ones with apt-get (root only)."""
    found = {tool: shutil.which(tool, path=NODE_PATH) for tool in TOOLS if tool != "socat"}
    found["proxy"] = shutil.which("socat", path=NODE_PATH) or shutil.which("nc", path=NODE_PATH)
    missing = sorted({TOOLS[t] for t, p in found.items() if not p and t in TOOLS} | ({"socat"} if not found["proxy"] else set()))
    if missing:
        if os.geteuid() != 0:
            raise TestBedError(f"missing packages {', '.join(missing)}; install them as root")
        apt_install(missing)
        return ensure_tools()
    return found


def apt_install(packages: list[str]):
    """apt-get install without starting services (a temporary policy-rc.d, the usual container practice)."""
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        if made_policy:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
        if subprocess.run(cmd, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=True)
            subprocess.run(cmd, env=env, check=True)
    except subprocess.CalledProcessError as exc:
        raise TestBedError(f"apt-get install {' '.join(packages)} failed: {exc}") from exc
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)


def unavailable_reason() -> str | None:
    """Why the test bed cannot run here (None if it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the test bed needs root (network and mount namespaces)"
    for tool in ("ip", "unshare"):
        if not shutil.which(tool, path=NODE_PATH):
            return f"the test bed needs `{tool}` (iproute2 / util-linux)"
    return None


@contextmanager
def _flock(path: Path):
    """Exclusive lock on path; copes with the file being removed by the previous holder."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


@contextmanager
def host_registry():
    """The machine-wide record of host directories test beds created (shared by concurrent test beds)."""
    with _flock(REGISTRY_LOCK):
        try:
            data = json.loads(REGISTRY.read_text())
        except (OSError, ValueError):
            data = {"created": [], "users": []}
        yield data
        data["users"] = sorted(u for u in set(data["users"]) if (Path(u) / STATE_FILE).is_file())
        if data["users"]:
            REGISTRY.write_text(json.dumps(data, indent=1) + "\n")
            return
        # Nobody uses them any more: remove what test beds created (deepest first, only if still empty).
        for path in sorted(data["created"], key=lambda p: p.count("/"), reverse=True):
            try:
                os.rmdir(path)
            except OSError:
                pass
        REGISTRY.unlink(missing_ok=True)
        REGISTRY_LOCK.unlink(missing_ok=True)


# ------------------------------------------------------------------ the test bed


class TestBed:
    """A test bed directory: its clusters, nodes, keys, inventory. All methods need root."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path | str = DEFAULT_DIR):
        self.dir = Path(directory).absolute()
        if re.search(r"\s", str(self.dir)):
            raise TestBedError(f"test bed dir {self.dir} must not contain whitespace")
        self.state_path = self.dir / STATE_FILE
        self.inventory = self.dir / "inventory.yml"
        self.ansible_cfg = self.dir / "ansible.cfg"
        self.client_key = self.dir / "ssh" / "id_ed25519"
        self.known_hosts = self.dir / "ssh" / "known_hosts"
        self.restart_command = self.dir / "bin" / "kubelet-restart"
        self.cp_dir = self.dir / "cp"
        # the nodes' Python: standard library + PyYAML only, as on a stock node (tests/testbed/node_python.py)
        self.node_python = self.dir / "node-python" / "bin" / "python3"
        self.tools: dict[str, str] = {}

    # -------------------------------------------------------------- state

    def exists(self) -> bool:
        return self.state_path.is_file()

    def load(self) -> dict:
        if not self.exists():
            return {"version": 1, "clusters": {}, "nodes": {}}
        return json.loads(self.state_path.read_text())

    def _save(self, state: dict):
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
        tmp.replace(self.state_path)

    def nodes(self, state: dict | None = None, cluster: str | None = None) -> list[Node]:
        state = state if state is not None else self.load()
        result = [self._node(name, spec) for name, spec in state["nodes"].items()]
        result = [n for n in result if cluster is None or n.cluster == cluster]
        return sorted(result, key=lambda n: (n.cluster, ROLES.index(n.role), n.index))

    def node(self, name: str) -> Node:
        spec = self.load()["nodes"].get(name)
        if spec is None:
            raise TestBedError(f"no node {name!r} in test bed {self.dir}")
        return self._node(name, spec)

    def _node(self, name: str, spec: dict) -> Node:
        return Node(
            name=name,
            cluster=spec["cluster"],
            role=spec["role"],
            index=spec["index"],
            profile=spec["profile"],
            netns=spec["netns"],
            dir=self.dir / "nodes" / name,
            mounts=list(spec.get("mounts") or []),
        )

    @contextmanager
    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with _flock(self.dir / ".lock"):
            yield

    # -------------------------------------------------------------- up

    def up(self, cluster: str = "testbed", workers: int = 3, control_planes: int = 1, profile: str = "kubeadm-default", log=print) -> dict:
        """Bring the cluster's nodes up (idempotent): returns {node: action} and timing."""
        started = time.monotonic()
        self._check_args(cluster, workers, control_planes, profile)
        if os.geteuid() != 0:
            raise TestBedError("the test bed needs root (network and mount namespaces)")
        self.tools = ensure_tools()
        if self.dir.exists() and not self.exists() and any(p.name != ".lock" for p in self.dir.iterdir()):
            raise TestBedError(f"{self.dir} exists and is not a test bed directory; choose another --dir")
        first_up, dir_existed = not self.exists(), self.dir.exists()
        try:
            result = self._up(cluster, workers, control_planes, profile)
        except BaseException:
            if first_up:  # a failed first `up` leaves nothing behind
                if self.exists():
                    self.down(log=None)
                (self.dir / ".lock").unlink(missing_ok=True)
                if not dir_existed and self.dir.is_dir() and not any(self.dir.iterdir()):
                    self.dir.rmdir()
            raise
        actions, nodes = result
        elapsed = time.monotonic() - started
        if log:
            counts = {a: sum(1 for v in actions.values() if v == a) for a in sorted(set(actions.values()))}
            log(
                f"testbed: cluster {cluster}: {len(nodes)} nodes "
                f"({', '.join(f'{v} {k}' for k, v in counts.items())}) in {elapsed:.2f}s; inventory {self.inventory}"
            )
        return {"actions": actions, "seconds": elapsed, "inventory": str(self.inventory)}

    def _up(self, cluster: str, workers: int, control_planes: int, profile: str) -> tuple[dict[str, str], list[Node]]:
        with self._locked():
            state = self.load()
            state["clusters"][cluster] = {"workers": workers, "control_planes": control_planes, "profile": profile}
            wanted = [(f"{cluster}-cp-{i}", "control-plane", i) for i in range(1, control_planes + 1)]
            wanted += [(f"{cluster}-worker-{i}", "worker", i) for i in range(1, workers + 1)]
            wanted_names = {name for name, _, _ in wanted}
            for node in self.nodes(state, cluster):
                if node.profile != profile:
                    raise TestBedError(
                        f"cluster {cluster} is up with profile {node.profile}; run `down --cluster {cluster}` first "
                        f"(or `reset --cluster {cluster} --profile {profile}`)"
                    )
            extra = [n for n in self.nodes(state, cluster) if n.name not in wanted_names]
            fresh = []
            for name, role, index in wanted:
                if name not in state["nodes"]:
                    netns = f"{NETNS_PREFIX}{name}"
                    if _netns_inode(netns) is not None:
                        raise TestBedError(
                            f"network namespace {netns} already exists and is not part of {self.dir} "
                            "(another test bed uses this cluster name?); pick another --cluster"
                        )
                    state["nodes"][name] = {"cluster": cluster, "role": role, "index": index, "profile": profile, "netns": netns, "mounts": []}
                    fresh.append(name)
            self._register_user()
            self._prepare_common()
            actions: dict[str, str] = {}
            if extra:
                self._stop(extra)
                _parallel(_rmtree, [n.dir for n in extra])
                for node in extra:
                    del state["nodes"][node.name]
                    actions[node.name] = "removed"
            nodes = self.nodes(state, cluster)
            _parallel(self._create_node, [n for n in nodes if n.name in fresh])
            for node in nodes:
                state["nodes"][node.name]["mounts"] = node.mounts
            self._ensure_host_dirs({m for n in nodes for m in n.mounts})
            self._save(state)
            actions.update(self._start(nodes))
            self._write_ssh_and_inventory(state)
        return actions, nodes

    @staticmethod
    def _check_args(cluster: str, workers: int, control_planes: int, profile: str):
        if not CLUSTER_NAME.match(cluster) or cluster in RESERVED_GROUPS:
            raise TestBedError(
                f"cluster name {cluster!r}: use 1-30 of a-z, 0-9, _ (starting with a letter; "
                f"not {', '.join(sorted(RESERVED_GROUPS))}) so it is a valid Ansible group name"
            )
        if not 0 <= workers <= MAX_WORKERS or not 0 <= control_planes <= MAX_CONTROL_PLANES:
            raise TestBedError(f"--workers 0..{MAX_WORKERS} and --control-planes 0..{MAX_CONTROL_PLANES}")
        if workers + control_planes == 0:
            raise TestBedError("a cluster needs at least one node")
        counts = {"worker": workers, "control-plane": control_planes}
        for role in ROLES:
            if counts.get(role, 1):  # a managed pool's profile exists for workers only
                nodetree.resolve(f"{role}:{profile}")  # raises TreeError naming the profiles

    def _register_user(self):
        with host_registry() as registry:
            registry["users"].append(str(self.dir))
            # The registry drops users without a state file: make sure ours exists from now on.
            if not self.exists():
                self._save(self.load())

    def _ensure_host_dirs(self, mounts: set[str]):
        """Create missing host mount points (and /run/sshd); remembered machine-wide for the last `down`."""
        with host_registry() as registry:
            for path in sorted({"/" + m.strip("/") for m in mounts} | {str(SSHD_RUN_DIR)}):
                target = Path(path)
                if target.is_symlink() or (target.exists() and not target.is_dir()):
                    raise TestBedError(f"host path {target} exists and is not a directory; cannot mount over it")
                missing = []
                probe = target
                while not probe.exists():
                    missing.append(probe)
                    probe = probe.parent
                for directory in reversed(missing):
                    directory.mkdir(mode=0o755)
                    registry["created"].append(str(directory))
            registry["created"] = sorted(set(registry["created"]))

    def _prepare_common(self):
        for sub in ("ssh", "bin", "cp", "nodes"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir / "ssh", 0o700)
        os.chmod(self.cp_dir, 0o700)
        if not self.client_key.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"kubesec-testbed@{self.dir}", "-f", str(self.client_key)])
        if not self.restart_command.exists():
            self.restart_command.write_text(KUBELET_RESTART_SCRIPT)
            self.restart_command.chmod(0o755)
        node_python.build(self.node_python.parent.parent)

    def _create_node(self, node: Node):
        if node.dir.exists():
            shutil.rmtree(node.dir)
        node.dir.mkdir(parents=True)
        self._materialize(node)
        node.home.mkdir(mode=0o700)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node.name, "-f", str(node.host_key)])
        node.sshd_config.write_text(self._sshd_config(node))

    @staticmethod
    def _materialize(node: Node):
        tree = nodetree.materialize(node.tree, f"{node.role}:{node.profile}", node=node.name, force=True)
        node.mounts = ["/" + m.strip("/") for m in tree["mounts"]]

    def _sshd_config(self, node: Node) -> str:
        return "\n".join(
            [
                f"# kubesec test bed node {node.name} (network namespace {node.netns})",
                "ListenAddress 127.0.0.1",
                "Port 22",
                f"HostKey {node.host_key}",
                f"PidFile {node.sshd_pidfile}",
                f"AuthorizedKeysFile {self.client_key}.pub",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",  # the test bed may live under /tmp (world-writable parents)
                "PermitUserEnvironment no",
                "PrintMotd no",
                "PrintLastLog no",
                "UseDNS no",
                "X11Forwarding no",
                "AllowTcpForwarding no",
                "MaxStartups 100:30:200",
                "MaxSessions 50",
                "LogLevel ERROR",
                "Subsystem sftp internal-sftp",
                # A plain environment: HOME is the node's own empty home, so root's login shell (bash run by sshd
                # sources ~/.bashrc) does not run the host's startup files, and Ansible's ~/.ansible/tmp is per node.
                f"SetEnv HOME={node.home} LANG=C.UTF-8",
                "",
            ]
        )

    # -------------------------------------------------------------- start / stop

    def _node_status(self, node: Node, pids_by_ns: dict[int, list[int]] | None = None) -> dict:
        inode = _netns_inode(node.netns)
        double = _read_pid(node.double_pidfile)
        sshd = _read_pid(node.sshd_pidfile)
        double_ok = _alive_in(double, inode)
        sshd_ok = _alive_in(sshd, inode) and _exe(sshd).endswith("/sshd")
        if double_ok and sshd_ok:
            # sshd must also share the double's mount namespace (or it would not see the node tree)
            sshd_ok = _ns_inode(sshd, "mnt") == _ns_inode(double, "mnt")
        return {
            "netns_inode": inode,
            "double_pid": double if double_ok else None,
            "sshd_pid": sshd if sshd_ok else None,
            "pids": (pids_by_ns or {}).get(inode, []) if inode else [],
        }

    def _start(self, nodes: list[Node]) -> dict[str, str]:
        """Start what is not running: full node (namespace + double + sshd) or just sshd."""
        actions: dict[str, str] = {}
        full, sshd_only = [], []
        table = _pids_by_netns()
        for node in nodes:
            status = self._node_status(node, table)
            if status["double_pid"] and status["sshd_pid"]:
                actions[node.name] = "already up"
            elif status["double_pid"]:
                sshd_only.append(node)
                actions[node.name] = "sshd restarted"
            else:
                full.append(node)
                actions[node.name] = "started" if not status["netns_inode"] else "restarted"
        if full:
            self._close_control_masters(full)
            self._kill_pids([p for n in full for p in table.get(_netns_inode(n.netns) or -1, [])])
            missing = [n.netns for n in full if _netns_inode(n.netns) is None]
            if missing:
                _run(["ip", "-batch", "-"], input="".join(f"netns add {ns}\n" for ns in missing))
            self._start_doubles(full)
        self._start_sshds(full + sshd_only)
        self._wait_ready(full + sshd_only)
        return actions

    def _start_doubles(self, nodes: list[Node]):
        host_mntns = _ns_inode("self", "mnt")
        launched = []
        for node in nodes:
            node.double_pidfile.unlink(missing_ok=True)
            cmd = [
                "setsid",
                "-f",
                "ip",
                "netns",
                "exec",
                node.netns,
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                sys.executable,
                "-I",
                str(HERE / "node_double.py"),
                "serve",
                "--pidfile",
                str(node.double_pidfile),
                "--log",
                str(node.dir / "double.log"),
                "--host-mntns",
                str(host_mntns),
                "--kubelet",
            ]
            if node.role == "control-plane":
                cmd.append("--apiserver")
            for mount in node.mounts:
                cmd += ["--mount", f"{node.tree}{mount}:{mount}"]
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={"PATH": NODE_PATH, "LANG": "C.UTF-8"}, cwd="/"
            )
            launched.append((node, proc))
        errors = []
        deadline = time.monotonic() + 30
        for node, proc in launched:
            line = self._read_line(proc.stdout, deadline)
            proc.stdout.close()
            proc.wait()  # setsid -f returns at once; the double lives on in its own session
            if not line.startswith("READY"):
                errors.append(f"{node.name}: kubelet double did not start: {line.strip() or 'no answer'} (see {node.dir / 'double.log'})")
        if errors:
            raise TestBedError("\n".join(errors))

    @staticmethod
    def _read_line(stream, deadline: float) -> str:
        data = b""
        fd = stream.fileno()
        while not data.endswith(b"\n"):
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")

    def _start_sshds(self, nodes: list[Node]):
        procs = []
        for node in nodes:
            double = _read_pid(node.double_pidfile)
            node.sshd_pidfile.unlink(missing_ok=True)
            cmd = [
                "nsenter",
                f"--target={double}",
                "--net",
                "--mount",
                self.tools.get("sshd") or "/usr/sbin/sshd",
                "-f",
                str(node.sshd_config),
                "-E",
                str(node.dir / "sshd.log"),
            ]
            procs.append(
                (node, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={"PATH": NODE_PATH, "LANG": "C.UTF-8"}, cwd="/"))
            )
        errors = []
        for node, proc in procs:
            _, err = proc.communicate(timeout=30)
            if proc.returncode != 0:
                errors.append(f"{node.name}: sshd failed to start: {err.strip()} (see {node.dir / 'sshd.log'})")
        if errors:
            raise TestBedError("\n".join(errors))

    def _wait_ready(self, nodes: list[Node], timeout: float = 30):
        deadline = time.monotonic() + timeout
        pending = list(nodes)
        while pending and time.monotonic() < deadline:
            pending = [n for n in pending if not (n.sshd_pidfile.exists() and netns_ssh_ready(n.netns))]
            if pending:
                time.sleep(0.02)
        if pending:
            raise TestBedError(f"sshd not answering on {', '.join(n.name for n in pending)} (see {pending[0].dir / 'sshd.log'})")

    @staticmethod
    def _kill_pids(pids: list[int], grace: float = 3.0):
        me = os.getpid()
        pids = [p for p in pids if p != me]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if os.path.exists(f"/proc/{p}") and not _is_zombie(p)]
            if pids:
                time.sleep(0.02)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _stop(self, nodes: list[Node]):
        """Stop every process of these nodes (everything in their network namespaces) and delete the namespaces."""
        self._close_control_masters(nodes)
        table = _pids_by_netns()
        pids = []
        for node in nodes:
            inode = _netns_inode(node.netns)
            if inode is not None:
                pids += table.get(inode, [])
        self._kill_pids(pids)
        existing = [n.netns for n in nodes if _netns_inode(n.netns) is not None]
        if existing:
            _run(["ip", "-batch", "-"], input="".join(f"netns delete {ns}\n" for ns in existing))

    def _close_control_masters(self, nodes: list[Node]):
        procs = []
        for node in nodes:
            path = self.control_path(node)
            if path.exists():
                procs.append(
                    subprocess.Popen(["ssh", "-o", f"ControlPath={path}", "-O", "exit", node.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                )
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()

    # -------------------------------------------------------------- down / reset / status

    def down(self, cluster: str | None = None, log=print) -> dict:
        started = time.monotonic()
        if not self.dir.exists():
            if log:
                log(f"testbed: nothing at {self.dir}")
            return {"removed": [], "seconds": 0.0}
        if not self.exists():
            raise TestBedError(f"{self.dir} is not a test bed directory (no {STATE_FILE}); not touching it")
        with self._locked():
            state = self.load()
            if cluster is not None and cluster not in state["clusters"]:
                raise TestBedError(f"no cluster {cluster!r} in {self.dir} (has: {', '.join(state['clusters'])})")
            nodes = self.nodes(state, cluster)
            self._stop(nodes)
            _parallel(_rmtree, [n.dir for n in nodes])  # the disk is latency-bound: parallel is much faster
            for node in nodes:
                del state["nodes"][node.name]
            for name in [cluster] if cluster else list(state["clusters"]):
                del state["clusters"][name]
            if state["clusters"]:
                self._save(state)
                self._write_ssh_and_inventory(state)
        if not state["clusters"]:
            shutil.rmtree(self.dir, ignore_errors=True)
            with host_registry() as registry:
                registry["users"] = [u for u in registry["users"] if u != str(self.dir)]
        elapsed = time.monotonic() - started
        if log:
            log(f"testbed: {len(nodes)} nodes down in {elapsed:.2f}s" + ("" if state["clusters"] else f"; removed {self.dir}"))
        return {"removed": [n.name for n in nodes], "seconds": elapsed}

    def reset(self, cluster: str | None = None, names: list[str] | None = None, profile: str | None = None, log=print) -> list[str]:
        """Re-materialize pristine node trees (optionally another profile) and restart those nodes."""
        with self._locked():
            state = self.load()
            nodes = [n for n in self.nodes(state, cluster) if not names or n.name in names]
            if names and len(nodes) != len(set(names)):
                raise TestBedError(f"unknown nodes: {sorted(set(names) - {n.name for n in nodes})}")
            if profile:
                for role in ROLES:
                    nodetree.resolve(f"{role}:{profile}")
            self.tools = self.tools or ensure_tools()
            self._stop(nodes)  # the bind mounts point at the old tree directories
            for node in nodes:
                node.profile = profile or node.profile
            _parallel(self._materialize, nodes)
            for node in nodes:
                state["nodes"][node.name].update(node.to_state())
            for name in {n.cluster for n in nodes}:
                profiles = {n.profile for n in self.nodes(state, name)}
                if len(profiles) == 1:
                    state["clusters"][name]["profile"] = profiles.pop()
            self._ensure_host_dirs({m for n in nodes for m in n.mounts})
            self._save(state)
            self._start(nodes)
        if log:
            log(f"testbed: reset {len(nodes)} nodes")
        return [n.name for n in nodes]

    def status(self, health: bool = True) -> list[dict]:
        state = self.load()
        table = _pids_by_netns()
        rows = []
        for node in self.nodes(state):
            status = self._node_status(node, table)
            row = {
                "node": node.name,
                "cluster": node.cluster,
                "role": node.role,
                "profile": node.profile,
                "netns": node.netns if status["netns_inode"] else None,
                "sshd_pid": status["sshd_pid"],
                "double_pid": status["double_pid"],
                "tree": str(node.tree),
            }
            rows.append(row)
        if health:
            futures = {}
            for row in rows:
                if row["double_pid"]:
                    futures[(row["node"], "kubelet")] = in_netns(row["netns"], _safe_get, 10248, "/healthz")
                    if row["role"] == "control-plane":
                        futures[(row["node"], "apiserver")] = in_netns(row["netns"], _safe_get, 6443, "/livez")
            for row in rows:
                for what in ("kubelet", "apiserver"):
                    future = futures.get((row["node"], what))
                    if what == "apiserver" and row["role"] != "control-plane":
                        continue
                    row[what] = future.result() if future else (0, "not running")
        return rows

    def kubelet_health(self, name: str) -> tuple[int, str]:
        return netns_http_get(self.node(name).netns, 10248, "/healthz")

    def apiserver_health(self, name: str) -> tuple[int, str]:
        return netns_http_get(self.node(name).netns, 6443, "/livez")

    # -------------------------------------------------------------- ssh / inventory

    def control_path(self, node: Node) -> Path:
        path = self.cp_dir / node.name
        if len(str(path)) > 90:  # sun_path is 108 bytes and ssh appends a 17-character temporary suffix
            path = self.cp_dir / hashlib.sha1(node.name.encode()).hexdigest()[:10]
        if len(str(path)) > 90:
            raise TestBedError(f"test bed dir {self.dir} is too long for SSH control sockets; use a shorter --dir")
        return path

    def ssh_args(self, node: Node) -> list[str]:
        """ssh options for a node (what the inventory's ansible_ssh_common_args holds)."""
        ip = self.tools.get("ip") or shutil.which("ip", path=NODE_PATH) or "ip"
        tool = self.tools.get("proxy") or shutil.which("socat", path=NODE_PATH) or shutil.which("nc", path=NODE_PATH)
        if tool and tool.endswith("socat"):
            proxy = f"{ip} netns exec {node.netns} {tool} - TCP:127.0.0.1:22"
        else:
            proxy = f"{ip} netns exec {node.netns} {tool or 'nc'} 127.0.0.1 22"
        return [
            "-o",
            f"ProxyCommand={proxy}",
            "-o",
            f"HostKeyAlias={node.name}",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ControlMaster=auto",
            "-o",
            "ControlPersist=60s",
            "-o",
            f"ControlPath={self.control_path(node)}",
        ]

    def ssh_command(self, name: str, command: str) -> list[str]:
        """argv that runs a command on a node over real SSH, as Ansible would reach it."""
        node = self.node(name)
        return ["ssh", "-i", str(self.client_key), *self.ssh_args(node), "-l", "root", "127.0.0.1", command]

    def _write_ssh_and_inventory(self, state: dict):
        nodes = self.nodes(state)
        lines = []
        for node in nodes:
            key_type, key = node.host_key.with_suffix(".pub").read_text().split()[:2]
            lines.append(f"{node.name} {key_type} {key}\n")
        self.known_hosts.write_text("".join(lines))
        inventory: dict = {"all": {"children": {}}}
        children = inventory["all"]["children"]
        top = {"control_plane": {"children": {}}, "workers": {"children": {}}}
        for cluster in sorted(state["clusters"]):
            groups = {}
            for role, suffix in (("control-plane", "control_plane"), ("worker", "workers")):
                hosts = {n.name: self._hostvars(n) for n in nodes if n.cluster == cluster and n.role == role}
                groups[f"{cluster}_{suffix}"] = {"hosts": hosts} if hosts else {}
                top["control_plane" if role == "control-plane" else "workers"]["children"][f"{cluster}_{suffix}"] = {}
            children[cluster] = {"vars": {"kubesec_cluster": cluster}, "children": groups}
        children.update(top)
        header = (
            f"# Generated by tests/testbed/testbed.py for {self.dir}; rewritten by every up/down/reset.\n"
            "# Nodes are sshd processes in network namespaces, reached through ProxyCommand (loopback only).\n"
        )
        self.inventory.write_text(header + yaml.safe_dump(inventory, sort_keys=False, width=200))
        self.ansible_cfg.write_text(
            "\n".join(
                [
                    "# Generated by tests/testbed/testbed.py: ANSIBLE_CONFIG=<this file> ansible all -m ansible.builtin.ping",
                    "[defaults]",
                    f"inventory = {self.inventory}",
                    f"collections_path = {COLLECTIONS}",
                    f"roles_path = {COLLECTIONS / 'ansible_collections/kubesec/cluster/roles'}",
                    "host_key_checking = True",
                    f"interpreter_python = {self.node_python}",
                    "forks = 50",
                    "retry_files_enabled = False",
                    "nocows = True",
                    "",
                    "[ssh_connection]",
                    "pipelining = True",
                    "ssh_args = -o ControlMaster=auto -o ControlPersist=60s",
                    "",
                ]
            )
        )

    def _hostvars(self, node: Node) -> dict:
        hostvars = {
            "ansible_host": "127.0.0.1",
            "ansible_port": 22,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.client_key),
            "ansible_ssh_common_args": " ".join(_quote_ssh_arg(a) for a in self.ssh_args(node)),
            "ansible_ssh_pipelining": True,
            "ansible_python_interpreter": str(self.node_python),
            "kubesec_node_root": "/",
            "kubesec_node_role": node.role,
            "kubesec_testbed_node_dir": str(node.tree),
            "kubesec_testbed_netns": node.netns,
            # What the node's stand-ins serve, in the inventory-wide variables the roles read (tests/testbed/README.md):
            # the restart command and /healthz of the kubelet double, which answers at once after a restart.
            "kubesec_kubelet_restart_command": str(self.restart_command),
            "kubesec_kubelet_health_url": KUBELET_HEALTH_URL,
            "kubesec_kubelet_health_retries": 5,
            "kubesec_kubelet_health_delay": 1,
            # Backups and records on the node go into its own bind-mounted tree, not onto the machine's /var/lib.
            "kubesec_state_dir": STATE_DIR if "/etc/kubernetes" in node.mounts else RANCHER_STATE_DIR,
        }
        if node.role == "control-plane":
            # The kube-apiserver double re-reads its manifest on every request (no settle time); there is no
            # controller-manager or scheduler endpoint, so their changes are judged by the API server alone.
            hostvars.update(
                {
                    "kubesec_apiserver_health_url": APISERVER_HEALTH_URL,
                    "kubesec_control_plane_component_health_urls": {},
                    "kubesec_control_plane_health_settle": 0,
                    "kubesec_control_plane_health_retries": 5,
                    "kubesec_control_plane_health_delay": 1,
                }
            )
        return hostvars


def _parallel(func, items: list, workers: int = 16):
    """func(item) for every item in threads (file-system and subprocess bound work); re-raises the first error."""
    if len(items) <= 1:
        for item in items:
            func(item)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(func, item) for item in items]:
            future.result()


def _rmtree(path: Path):
    shutil.rmtree(path, ignore_errors=True)


def _quote_ssh_arg(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _safe_get(port: int, path: str) -> tuple[int, str]:
    try:
        return _http_get(port, path, 3.0)
    except OSError as exc:
        return 0, f"no answer: {exc}"


# ------------------------------------------------------------------ CLI


def _print_status(bed: TestBed, as_json: bool) -> int:
    if not bed.exists():
        print(f"testbed: nothing at {bed.dir}")
        return 1
    rows = bed.status()
    if as_json:
        print(json.dumps({"dir": str(bed.dir), "inventory": str(bed.inventory), "nodes": rows}, indent=1))
        return 0
    print(f"test bed {bed.dir}  inventory {bed.inventory}")
    print(f"{'NODE':<24} {'ROLE':<14} {'NETNS':<34} {'SSHD':>7} {'DOUBLE':>7}  HEALTH")
    bad = 0
    for row in rows:
        health = []
        for what in ("kubelet", "apiserver"):
            if what in row:
                code, body = row[what]
                reason = [line.lstrip("- ") for line in body.strip().splitlines()[1:2]] if code != 200 else []
                reason = [r if len(r) <= 90 else r[:87] + "..." for r in reason]
                health.append(f"{what} {code or 'down'}" + (f" ({reason[0]})" if reason else ""))
        ok = row["sshd_pid"] and row["double_pid"]
        bad += not ok
        print(
            f"{row['node']:<24} {row['role']:<14} {row['netns'] or '-':<34} {row['sshd_pid'] or 'DOWN':>7} "
            f"{row['double_pid'] or 'DOWN':>7}  {', '.join(health)}"
        )
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="kubesec test bed: sshd nodes in network namespaces")
    parser.add_argument("--dir", type=Path, default=None, help=f"test bed directory (default {DEFAULT_DIR})")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring a cluster's nodes up (idempotent; adds clusters)")
    up.add_argument("--workers", type=int, default=3)
    up.add_argument("--control-planes", type=int, default=1)
    up.add_argument("--profile", default="kubeadm-default", help="node tree profile (kubeadm-default, hardened, broken)")
    up.add_argument("--cluster", default="testbed")
    down = sub.add_parser("down", help="remove every namespace, process and file (one cluster with --cluster)")
    down.add_argument("--cluster")
    reset = sub.add_parser("reset", help="restore pristine node trees and restart those nodes")
    reset.add_argument("--cluster")
    reset.add_argument("--node", action="append", dest="nodes")
    reset.add_argument("--profile")
    status = sub.add_parser("status", help="nodes, namespaces, sshd pids, health")
    status.add_argument("--json", action="store_true")
    for p in (up, down, reset, status):
        p.add_argument("--dir", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        bed = TestBed(args.dir or DEFAULT_DIR)
        if args.command == "up":
            bed.up(args.cluster, args.workers, args.control_planes, args.profile)
            return _print_status(bed, False)
        if args.command == "down":
            bed.down(args.cluster)
            return 0
        if args.command == "reset":
            bed.reset(args.cluster, args.nodes, args.profile)
            return 0
        return _print_status(bed, args.json)
    except (TestBedError, nodetree.TreeError, OSError) as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
