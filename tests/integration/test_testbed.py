"""The test bed itself: real SSH nodes in network namespaces, isolated node trees, health doubles, up/down.

Needs root and `ip` / `unshare` (skipped otherwise). sshd, ssh, socat are installed with apt-get if missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.testbed import node_double
from tests.testbed import testbed as tb
from tests.testbed.fixtures import running_testbed, testbed_fixture  # noqa: F401  (pytest fixture `testbed`)

pytestmark = pytest.mark.testbed
CLI = Path(tb.__file__)

GOOD_POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"


def _wait_dead(pids, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and not tb._is_zombie(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


# ------------------------------------------------------------------ the session test bed


def test_ansible_pings_every_node_over_real_ssh(testbed):
    results = testbed.ansible_json("all", "ansible.builtin.ping")
    assert sorted(results) == sorted(testbed.hosts)
    assert all(r.get("ping") == "pong" for r in results.values()), results
    # Real sshd sessions, each inside its own network namespace, with a plain environment.
    env = testbed.ansible_json("all", "ansible.builtin.shell", "echo $SSH_CONNECTION; echo $HOME; ip netns identify $$; ip -o link | wc -l")
    for host, result in env.items():
        ssh_connection, home, netns, links = result["stdout"].splitlines()
        assert ssh_connection.startswith("127.0.0.1 ") and ssh_connection.endswith(" 127.0.0.1 22")
        assert home == str(testbed.node(host).dir / "home")  # not /root: the host's .bashrc does not run
        assert netns == testbed.node(host).netns
        assert links.strip() == "1"  # loopback only: nothing can leave the node


def test_each_node_sees_only_its_own_tree(testbed):
    results = testbed.ansible_json("all", "ansible.builtin.command", "cat /etc/kubernetes/kubelet.conf")
    for host, result in results.items():
        assert f"current-context: system:node:{host}@kubernetes" in result["stdout"]
        for other in set(testbed.hosts) - {host}:
            assert other not in result["stdout"]
    # Control planes see their static pod manifests and etcd dir; workers do not have the apiserver manifest.
    manifests = testbed.ansible_json("all", "ansible.builtin.shell", "ls /etc/kubernetes/manifests; test -d /var/lib/etcd && stat -c %a /var/lib/etcd")
    for host in testbed.control_planes:
        assert "kube-apiserver.yaml" in manifests[host]["stdout"]
        assert manifests[host]["stdout"].splitlines()[-1] == "700"
    for host in testbed.workers:
        assert "kube-apiserver.yaml" not in manifests[host]["stdout"]

    # A write on one node lands in that node's tree only; the host's /etc/kubernetes is untouched.
    first, second = testbed.workers[:2]
    testbed.ssh(first, "echo probe > /etc/kubernetes/testbed-probe")
    try:
        assert (testbed.tree(first) / "etc/kubernetes/testbed-probe").read_text() == "probe\n"
        assert not (testbed.tree(second) / "etc/kubernetes/testbed-probe").exists()
        assert testbed.ssh(second, "test -e /etc/kubernetes/testbed-probe", check=False).returncode == 1
        assert not Path("/etc/kubernetes/testbed-probe").exists()
        for path, before in testbed.host_before.items():
            if path != "/run/sshd":
                now = sorted(os.listdir(path)) if os.path.isdir(path) else None
                assert now == (before if before is not None else []), f"host {path} changed"
    finally:
        (testbed.tree(first) / "etc/kubernetes/testbed-probe").unlink(missing_ok=True)


def test_kubelet_health_follows_config_on_restart(testbed):
    host = testbed.workers[0]
    config = testbed.tree(host) / "var/lib/kubelet/config.yaml"
    good = config.read_text()
    assert testbed.kubelet_health(host) == (200, "ok")
    # The documented in-node check (what a role runs over SSH).
    assert testbed.ssh(host, f"curl -fsS {tb.KUBELET_HEALTH_URL}").stdout == "ok"
    try:
        config.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication: {anonymous: {enabled: false}\n")
        # Like the real kubelet, nothing changes until it restarts.
        assert testbed.kubelet_health(host) == (200, "ok")
        assert testbed.restart_kubelet(host).returncode == 0  # systemctl restart succeeds even for a bad config
        status, body = testbed.kubelet_health(host)
        assert status == 500 and "YAML does not parse" in body, body
        assert testbed.ssh(host, f"curl -fsS {tb.KUBELET_HEALTH_URL}", check=False).returncode == 22

        config.write_text(
            good.replace(
                "staticPodPath: /etc/kubernetes/manifests\n",
                "staticPodPath: /etc/kubernetes/manifests\ntlsCipherSuites:\n"
                "- TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n- TLS_RSA_WITH_NULL_SHA\n"
                "readOnlyPort: '0'\n",
            )
        )
        testbed.restart_kubelet(host)
        status, body = testbed.kubelet_health(host)
        assert status == 500 and "readOnlyPort" in body, body  # decoding fails first, as in the kubelet
        config.write_text(good + "tlsCipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_NULL_SHA]\n")
        testbed.restart_kubelet(host)
        status, body = testbed.kubelet_health(host)
        assert status == 500 and "Cipher suite TLS_RSA_WITH_NULL_SHA not supported" in body, body
        # Other nodes are unaffected.
        assert testbed.kubelet_health(testbed.workers[1]) == (200, "ok")
    finally:
        config.write_text(good)
        testbed.restart_kubelet(host)
    assert testbed.kubelet_health(host) == (200, "ok")


def test_kubelet_double_reads_the_config_flag_from_the_dropins(testbed):
    host = testbed.workers[1]
    tree = testbed.tree(host)
    dropin = tree / "etc/systemd/system/kubelet.service.d/20-testbed.conf"
    moved = tree / "var/lib/kubelet/other-config.yaml"
    try:
        moved.write_text("kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\nport: 0\n")
        dropin.write_text('[Service]\nEnvironment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/other-config.yaml"\n')
        testbed.restart_kubelet(host)
        status, body = testbed.kubelet_health(host)
        assert status == 500 and "port 0 must be between 1 and 65535" in body, body
    finally:
        dropin.unlink(missing_ok=True)
        moved.unlink(missing_ok=True)
        testbed.restart_kubelet(host)
    assert testbed.kubelet_health(host) == (200, "ok")


def test_apiserver_livez_follows_the_manifest(testbed):
    host = testbed.control_planes[0]
    manifest = testbed.tree(host) / "etc/kubernetes/manifests/kube-apiserver.yaml"
    policy = testbed.tree(host) / "etc/kubernetes/audit-policy.yaml"
    good = manifest.read_text()
    assert testbed.apiserver_health(host) == (200, "ok")
    assert testbed.ssh(host, f"curl -fsS {tb.APISERVER_HEALTH_URL}").stdout == "ok"
    pod = yaml.safe_load(good)
    container = pod["spec"]["containers"][0]
    try:
        container["command"] += ["--audit-policy-file=/etc/kubernetes/audit-policy.yaml", "--audit-log-maxage=30", "--audit-log-max-age=30"]
        manifest.write_text(yaml.safe_dump(pod))
        status, body = testbed.apiserver_health(host)
        assert status == 500, body
        assert "unknown flag: --audit-log-max-age" in body
        assert "no volumeMount covers it" in body
        container["command"].remove("--audit-log-max-age=30")
        container["volumeMounts"].append({"name": "audit", "mountPath": "/etc/kubernetes/audit-policy.yaml", "readOnly": True})
        pod["spec"]["volumes"].append({"name": "audit", "hostPath": {"path": "/etc/kubernetes/audit-policy.yaml", "type": "File"}})
        manifest.write_text(yaml.safe_dump(pod))
        status, body = testbed.apiserver_health(host)
        assert status == 500 and "hostPath type check failed" in body, body
        policy.write_text(GOOD_POLICY)
        assert testbed.apiserver_health(host) == (200, "ok")
        manifest.write_text("apiVersion: v1\nkind: Pod\nspec: {containers: [{name: etcd}]}\n")
        status, body = testbed.apiserver_health(host)
        assert status == 500 and "no kube-apiserver container" in body
    finally:
        manifest.write_text(good)
        policy.unlink(missing_ok=True)
    assert testbed.apiserver_health(host) == (200, "ok")


def test_up_is_idempotent_and_restarts_a_dead_sshd(testbed):
    before = {r["node"]: r for r in testbed.bed.status(health=False)}
    report = testbed.up()
    assert set(report["actions"].values()) == {"already up"}, report
    after = {r["node"]: r for r in testbed.bed.status(health=False)}
    assert {n: (r["sshd_pid"], r["double_pid"]) for n, r in after.items()} == {n: (r["sshd_pid"], r["double_pid"]) for n, r in before.items()}

    victim = testbed.workers[-1]
    os.kill(after[victim]["sshd_pid"], signal.SIGKILL)
    assert not _wait_dead([after[victim]["sshd_pid"]])
    report = testbed.up()
    assert report["actions"][victim] == "sshd restarted", report
    assert {a for h, a in report["actions"].items() if h != victim} == {"already up"}
    assert testbed.ansible_json(victim, "ansible.builtin.ping")[victim]["ping"] == "pong"


# ------------------------------------------------------------------ a second test bed, through the CLI


def _cli(directory, *args, check=True):
    proc = subprocess.run([sys.executable, str(CLI), "--dir", str(directory), *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"testbed {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_cli_multiple_clusters_and_down_leaves_nothing(tmp_path, testbed):
    directory = tmp_path / "bed"
    suffix = os.getpid()
    first, second = f"ca{suffix}", f"cb{suffix}"
    bed = tb.TestBed(directory)
    try:
        _cli(directory, "up", "--workers", "1", "--control-planes", "0", "--cluster", first)
        _cli(directory, "up", "--workers", "2", "--control-planes", "1", "--cluster", second, "--profile", "hardened")
        status = _cli(directory, "status")
        assert f"{second}-cp-1" in status.stdout and "apiserver 200" in status.stdout

        inventory = yaml.safe_load(bed.inventory.read_text())["all"]["children"]
        assert inventory[first]["vars"] == {"kubesec_cluster": first}
        assert set(inventory[second]["children"]) == {f"{second}_control_plane", f"{second}_workers"}
        assert set(inventory["workers"]["children"]) == {f"{first}_workers", f"{second}_workers"}
        assert set(inventory["control_plane"]["children"]) == {f"{first}_control_plane", f"{second}_control_plane"}
        hostvars = inventory[second]["children"][f"{second}_workers"]["hosts"][f"{second}-worker-1"]
        assert hostvars["kubesec_node_role"] == "worker" and hostvars["kubesec_node_root"] == "/"
        assert hostvars["kubesec_testbed_node_dir"] == str(bed.node(f"{second}-worker-1").tree)
        assert f"HostKeyAlias={second}-worker-1" in hostvars["ansible_ssh_common_args"]

        env = {**os.environ, "ANSIBLE_CONFIG": str(bed.ansible_cfg), "ANSIBLE_DEPRECATION_WARNINGS": "0"}
        ping = subprocess.run(
            [str(Path(sys.executable).parent / "ansible"), "all", "-m", "ansible.builtin.ping"], env=env, capture_output=True, text=True, timeout=120
        )
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert ping.stdout.count("SUCCESS") == 4
        hardened = bed.node(f"{second}-worker-1").tree / "var/lib/kubelet/config.yaml"
        assert oct(hardened.stat().st_mode & 0o777) == "0o600"

        # Record every process of ours before `down`.
        table = tb._pids_by_netns()
        nodes = bed.nodes()
        pids = [p for n in nodes for p in table.get(tb._netns_inode(n.netns), [])]
        sshd_pids = [tb._read_pid(n.sshd_pidfile) for n in nodes]
        assert len(pids) >= 2 * len(nodes) and all(sshd_pids)

        _cli(directory, "down", "--cluster", first)
        assert not (tb.NETNS_DIR / f"{tb.NETNS_PREFIX}{first}-worker-1").exists()
        assert first not in yaml.safe_load(bed.inventory.read_text())["all"]["children"]

        _cli(directory, "down")
        netns_list = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert all(n.netns not in netns_list for n in nodes), netns_list
        assert not _wait_dead(pids + sshd_pids), "processes of the test bed survived `down`"
        assert not directory.exists()
        assert not any(str(directory) in " ".join(_cmdline(p)) for p in _all_pids())
        # The session test bed shares host mount points and must be unharmed by this `down`.
        assert testbed.ansible_json("all", "ansible.builtin.command", "test -f /var/lib/kubelet/config.yaml")
        assert testbed.kubelet_health(testbed.workers[0]) == (200, "ok")
    finally:
        if bed.exists():
            bed.down(log=None)


def test_running_testbed_context_manager_cleans_up():
    # a short directory of its own: SSH control socket paths are limited (pytest-xdist's tmp_path is long)
    base = Path(tempfile.mkdtemp(prefix="tbcm", dir="/tmp"))
    try:
        with running_testbed(base / "small", cluster=f"cm{os.getpid()}", workers=1, control_planes=0) as small:
            assert small.hosts == [f"cm{os.getpid()}-worker-1"]
            assert small.ssh(small.hosts[0], "true").returncode == 0
            netns = small.node(small.hosts[0]).netns
        assert not (tb.NETNS_DIR / netns).exists()
        assert not (base / "small").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_up_rejects_bad_arguments(tmp_path):
    with pytest.raises(tb.TestBedError, match="cluster name"):
        tb.TestBed(tmp_path / "x").up("Bad-Name", 1, 0, log=None)
    with pytest.raises(tb.TestBedError, match="--workers"):
        tb.TestBed(tmp_path / "x").up("ok", 51, 0, log=None)
    with pytest.raises(tb.nodetree.TreeError, match="no profile"):
        tb.TestBed(tmp_path / "x").up("ok", 1, 0, "nonsense", log=None)
    assert not (tmp_path / "x").exists()


def _all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


# ------------------------------------------------------------------ the doubles' checks (no root needed)


@pytest.fixture
def worker_tree(tmp_path):
    tb.nodetree.materialize(tmp_path / "w", "worker:kubeadm-default", node="w1")
    return tmp_path / "w"


def test_kubelet_double_accepts_the_kubeadm_and_hardened_trees(tmp_path):
    for ref in ("worker:kubeadm-default", "worker:hardened", "control-plane:kubeadm-default", "control-plane:hardened"):
        root = tmp_path / ref.replace(":", "-")
        tb.nodetree.materialize(root, ref, node="n1")
        path, problems = node_double.kubelet_config_path(str(root))
        assert (path, problems) == ("/var/lib/kubelet/config.yaml", [])
        assert node_double.check_kubelet_config(path, str(root)) == [], ref
        if ref.startswith("control-plane"):
            assert node_double.check_apiserver_manifest(root=str(root)) == [], ref


def test_kubelet_double_rejects_the_broken_tree(tmp_path):
    tb.nodetree.materialize(tmp_path / "b", "worker:broken", node="b1")
    problems = node_double.check_kubelet_config(root=str(tmp_path / "b"))
    assert len(problems) == 1 and "YAML does not parse" in problems[0]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("tlsCipherSuites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305, TLS_RSA_WITH_RC4_128_SHA]\n", None),
        ("tlsCipherSuites: [ECDHE-RSA-AES128-GCM-SHA256]\n", "Cipher suite ECDHE-RSA-AES128-GCM-SHA256 not supported"),
        ("tlsMinVersion: VersionTLS13\n", None),
        ("tlsMinVersion: TLSv1.2\n", "unknown tls version"),
        ("staticPodPath: manifests\n", None),  # relative paths resolve against the config file's directory
        ("readOnlyPort: 10255\n", None),
        ("readOnlyPort: 70000\n", "readOnlyPort 70000 must be between"),
        ("streamingConnectionIdleTimeout: 5m\n", None),
        ("streamingConnectionIdleTimeout: 300\n", "want a duration"),
        ("protectKernelDefaults: 'true'\n", "want bool"),
        ("eventRecordQPS: -1\n", "eventRecordQPS -1 must not be a negative number"),
        ("imageGCLowThresholdPercent: 90\n", "must be less than imageGCHighThresholdPercent"),
        ("authorization: {mode: RBAC}\n", "unknown authorization mode"),
        ("tlsCertFile: /var/lib/kubelet/pki/kubelet.crt\n", "must be set together"),
        ("tlsCertFile: /var/lib/kubelet/pki/missing.crt\ntlsPrivateKeyFile: /var/lib/kubelet/pki/kubelet.key\n", "open /var/lib/kubelet/pki/missing.crt"),
        ("someFutureField: 1\n", None),  # unknown fields: the kubelet only logs the strict-decoding error
    ],
)
def test_kubelet_double_checks(worker_tree, extra, expected):
    config = worker_tree / "var/lib/kubelet/config.yaml"
    text = config.read_text()
    for line in extra.splitlines():  # replace keys the default config already has
        key = line.split(":", 1)[0]
        text = "\n".join(x for x in text.splitlines() if not x.startswith(f"{key}:")) + "\n"
    config.write_text(text + extra)
    problems = node_double.check_kubelet_config(root=str(worker_tree))
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


def test_cipher_list_is_go_crypto_tls_plus_kubernetes_legacy_names():
    assert len(node_double.ACCEPTED_CIPHER_NAMES) == 19 + 6 + 2
    assert "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" in node_double.GO_TLS_CIPHER_SUITES
    assert "TLS_RSA_WITH_RC4_128_SHA" in node_double.GO_TLS_INSECURE_CIPHER_SUITES


def test_dropin_flags_follow_systemd_rules(worker_tree):
    dropins = worker_tree / "etc/systemd/system/kubelet.service.d"
    (worker_tree / "etc/default/kubelet").write_text('KUBELET_EXTRA_ARGS="--config /etc/kubernetes/kc.yaml"\n')
    path, problems = node_double.kubelet_config_path(str(worker_tree))
    assert (path, problems) == ("/etc/kubernetes/kc.yaml", [])  # the last --config wins
    (dropins / "90-missing.conf").write_text("[Service]\nEnvironmentFile=/etc/default/nope\n")
    _, problems = node_double.kubelet_config_path(str(worker_tree))
    assert problems == ["kubelet.service: Failed to load environment files: /etc/default/nope"]


def test_audit_flag_parsing_and_policy_checks():
    flags = node_double.apiserver_flags(["--audit-log-compress", "--audit-log-path", "/var/log/a.log", "--audit-log-maxsize=100", "--profiling=false"])
    assert flags == [("--audit-log-compress", "true"), ("--audit-log-path", "/var/log/a.log"), ("--audit-log-maxsize", "100")]
    assert node_double.check_audit_policy(GOOD_POLICY) == []
    assert node_double.check_audit_policy("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: All\n")
    assert node_double.check_audit_policy("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: None}]")
