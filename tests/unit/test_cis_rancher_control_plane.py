"""Issue 18, last part: CIS sections 1-3 on k3s and RKE2 servers (tests/testbed/trees/control-plane.yml).

k3s: the embedded components' flags are modelled (catalogue data) and replaced by the process's own
`Running kube-apiserver ...` line when the journal (a fake `journalctl` on PATH here) or the k3s log file has it.
RKE2: the static pods rke2 writes, etcd from its --config-file."""

from __future__ import annotations

import os
import stat
from collections import Counter

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis, _rancher_cp
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue
from tests.conftest import assert_valid_findings
from tests.testbed.nodetree import materialize

K3S = _catalogue.load("k3s-cis-1.12")
RKE2 = _catalogue.load("rke2-cis-1.12")
SERVER_TARGETS = ("master", "controlplane", "etcd", "node")

# Real lines of a hardened k3s v1.32+ server, from the k3s CIS 1.12 self-assessment guide (journalctl -m -u k3s).
APISERVER_LINE = (
    'May 26 22:08:48 server-0 k3s[2226]: time="2026-05-26T22:08:48Z" level=info msg="Running kube-apiserver '
    "--admission-control-config-file=/var/lib/rancher/k3s/server/psa.yaml --advertise-address=10.10.10.100 --advertise-port=6443 "
    "--allow-privileged=true --anonymous-auth=false --api-audiences=https://kubernetes.default.svc.cluster.local,k3s --audit-log-maxage=30 "
    "--audit-log-maxbackup=10 --audit-log-maxsize=100 --audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log "
    "--audit-policy-file=/var/lib/rancher/k3s/server/audit.yaml --authorization-mode=Node,RBAC --bind-address=127.0.0.1 "
    "--cert-dir=/var/lib/rancher/k3s/server/tls/temporary-certs --client-ca-file=/var/lib/rancher/k3s/server/tls/client-ca.crt "
    "--egress-selector-config-file=/var/lib/rancher/k3s/server/etc/egress-selector-config.yaml --enable-admission-plugins=NodeRestriction "
    "--enable-aggregator-routing=true --enable-bootstrap-token-auth=true --encryption-provider-config=/var/lib/rancher/k3s/server/cred/encryption-config.json "
    "--encryption-provider-config-automatic-reload=true --etcd-cafile=/var/lib/rancher/k3s/server/tls/etcd/server-ca.crt "
    "--etcd-certfile=/var/lib/rancher/k3s/server/tls/etcd/client.crt --etcd-keyfile=/var/lib/rancher/k3s/server/tls/etcd/client.key "
    "--etcd-servers=https://127.0.0.1:2379 --kubelet-certificate-authority=/var/lib/rancher/k3s/server/tls/server-ca.crt "
    "--kubelet-client-certificate=/var/lib/rancher/k3s/server/tls/client-kube-apiserver.crt "
    "--kubelet-client-key=/var/lib/rancher/k3s/server/tls/client-kube-apiserver.key --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname "
    "--profiling=false --proxy-client-cert-file=/var/lib/rancher/k3s/server/tls/client-auth-proxy.crt "
    "--proxy-client-key-file=/var/lib/rancher/k3s/server/tls/client-auth-proxy.key --requestheader-allowed-names=system:auth-proxy "
    "--requestheader-client-ca-file=/var/lib/rancher/k3s/server/tls/request-header-ca.crt --requestheader-extra-headers-prefix=X-Remote-Extra- "
    "--requestheader-group-headers=X-Remote-Group --requestheader-username-headers=X-Remote-User --secure-port=6444 "
    "--service-account-extend-token-expiration=false --service-account-issuer=https://kubernetes.default.svc.cluster.local "
    "--service-account-key-file=/var/lib/rancher/k3s/server/tls/service.key "
    "--service-account-signing-key-file=/var/lib/rancher/k3s/server/tls/service.current.key --service-cluster-ip-range=10.43.0.0/16 "
    "--service-node-port-range=30000-32767 --storage-backend=etcd3 --tls-cert-file=/var/lib/rancher/k3s/server/tls/serving-kube-apiserver.crt "
    "--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,"
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305 "
    '--tls-private-key-file=/var/lib/rancher/k3s/server/tls/serving-kube-apiserver.key"'
)
SCHEDULER_LINE = (
    'May 26 22:08:48 server-0 k3s[2226]: time="2026-05-26T22:08:48Z" level=info msg="Running kube-scheduler '
    "--authentication-kubeconfig=/var/lib/rancher/k3s/server/cred/scheduler.kubeconfig "
    "--authorization-kubeconfig=/var/lib/rancher/k3s/server/cred/scheduler.kubeconfig --bind-address=127.0.0.1 "
    "--kubeconfig=/var/lib/rancher/k3s/server/cred/scheduler.kubeconfig --profiling=false --secure-port=10259 "
    "--tls-cert-file=/var/lib/rancher/k3s/server/tls/kube-scheduler/kube-scheduler.crt "
    '--tls-private-key-file=/var/lib/rancher/k3s/server/tls/kube-scheduler/kube-scheduler.key"'
)


def message(line):
    """What `journalctl -o cat` prints: the logrus line without the syslog prefix."""
    return line[line.index("time=") :]


def audit(root, catalogue=K3S, targets=SERVER_TARGETS):
    findings, context = _cis.audit_node(str(root), catalogue, targets=targets, node="s1")
    assert_valid_findings(findings)
    return {f["id"].replace("CIS-", ""): f for f in findings}, context


def control_plane_counts(got):
    return dict(Counter(f["status"] for f in got.values() if f["source"] == "cis-control-plane"))


@pytest.fixture
def fake_journal(tmp_path, monkeypatch):
    """A fake `journalctl` on PATH: prints the file it is given (stdout only) when asked for k3s.service's journal,
    and records its arguments."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    journal = tmp_path / "journal.txt"
    calls = tmp_path / "journalctl.args"
    script = bindir / "journalctl"
    script.write_text(
        "#!/bin/sh\n# a fake journalctl for the tests\n"
        'echo "$@" >> "%s"\n'
        'case " $* " in *" -u k3s.service "*) [ -f "%s" ] && cat "%s" ;; esac\n'
        "echo 'journal noise on stderr' >&2\nexit 0\n" % (calls, journal, journal)
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", "%s%s%s" % (bindir, os.pathsep, os.environ["PATH"]))
    return journal, calls


@pytest.fixture
def no_journal(tmp_path, monkeypatch):
    """A fake journalctl that prints nothing: the model decides (the host's own journal is never read)."""
    bindir = tmp_path / "nojournal"
    bindir.mkdir()
    script = bindir / "journalctl"
    script.write_text("#!/bin/sh\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "%s%s%s" % (bindir, os.pathsep, os.environ["PATH"]))


@pytest.mark.parametrize(
    "profile, catalogue, expected",
    [
        # 1.1.1-1.1.8, 1.1.12 not applicable (embedded), 1.1.11 / 1.2.23 / 1.2.26 and the etcd target: kine
        ("k3s-default", K3S, {"pass": 36, "fail": 5, "warn": 12, "info": 13}),
        ("k3s-hardened", K3S, {"pass": 57, "warn": 6, "info": 9}),
        ("rke2-default", RKE2, {"pass": 55, "fail": 6, "warn": 11}),  # no audit logging: 1.2.16-1.2.19 fail, 3.2.1 warns
        ("rke2-hardened", RKE2, {"pass": 61, "fail": 1, "warn": 10}),
    ],
)
def test_server_profiles_section_1_to_3_counts(tmp_path, no_journal, profile, catalogue, expected):
    root = tmp_path / profile
    materialize(root, "control-plane:" + profile, node="s1")
    got, _ = audit(root, catalogue)
    assert control_plane_counts(got) == expected


def test_k3s_default_model_kine_and_not_applicable(tmp_path, no_journal):
    root = tmp_path / "k3s"
    materialize(root, "control-plane:k3s-default", node="s1")
    got, _ = audit(root)
    # the model decides and says so
    assert got["1.2.15"]["status"] == "pass" and got["1.2.15"]["evidence"]["source"].startswith("flag --profiling (model: k3s.service (built-in flags")
    assert "no `Running kube-apiserver` line" in got["1.2.15"]["evidence"]["source"]
    # kine: the etcd target is one INFO finding with the reason, no 2.x check at all
    assert got["etcd"]["status"] == "info" and "kine over SQLite" in got["etcd"]["evidence"]["note"]
    assert not [cid for cid in got if cid.startswith("2.")]
    assert got["1.2.23"]["status"] == "info" and "unix://kine.sock" in got["1.2.23"]["evidence"]["note"]
    assert got["1.1.11"]["status"] == "info"
    assert all(got["1.1.%d" % n]["status"] == "info" for n in range(1, 9))
    # the server's own files
    assert got["1.1.13"]["status"] == "pass" and got["1.1.13"]["evidence"]["file"] == "/var/lib/rancher/k3s/server/cred/admin.kubeconfig"
    assert got["1.1.21"]["status"] == "pass" and got["1.2.16"]["status"] == "fail"


def test_k3s_hardened_embedded_etcd_from_its_config_file(tmp_path, no_journal):
    root = tmp_path / "k3s"
    materialize(root, "control-plane:k3s-hardened", node="s1")
    got, _ = audit(root)
    assert {cid: got[cid]["status"] for cid in ("2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7")} == dict.fromkeys(
        ("2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"), "pass"
    )
    assert "etcd config file /var/lib/rancher/k3s/server/db/etcd/config" in got["2.2"]["evidence"]["source"]
    # secrets-encryption: true adds the flag; 1.2.28 reads the file k3s wrote
    assert got["1.2.27"]["status"] == "pass" and got["1.2.28"]["status"] == "pass"
    assert "aescbckey" not in str(got["1.2.28"])  # the key never reaches a finding
    # the hardening guide's kube-apiserver-arg items win over the built-in flags
    assert got["1.2.9"]["status"] == "pass" and "config.yaml" in got["1.2.9"]["evidence"]["source"]
    # etcd's config says client-cert-auth: false -> 2.2 fails, naming the file
    config = root / "var/lib/rancher/k3s/server/db/etcd/config"
    client_key = "\n  key-file: /var/lib/rancher/k3s/server/tls/etcd/server-client.key"
    config.write_text(config.read_text().replace("client-cert-auth: true" + client_key, "client-cert-auth: false" + client_key))
    got, _ = audit(root)
    assert got["2.2"]["status"] == "fail" and got["2.5"]["status"] == "pass"


def test_bad_etcd_config_file_is_named(tmp_path, no_journal):
    root = tmp_path / "k3s"
    materialize(root, "control-plane:k3s-hardened", node="s1")
    (root / "var/lib/rancher/k3s/server/db/etcd/config").write_text("client-transport-security: [cert-file\n")
    got, _ = audit(root)
    assert got["2.1"]["status"] == "fail"
    assert "/var/lib/rancher/k3s/server/db/etcd/config" in str(got["2.1"]["evidence"]) and "valid YAML" in str(got["2.1"]["evidence"])
    (root / "var/lib/rancher/k3s/server/db/etcd/config").write_text("client-transport-security: yes\n")
    got, _ = audit(root)
    assert got["2.2"]["status"] == "fail" and "client-transport-security must be a mapping" in str(got["2.2"]["evidence"])


def test_logrus_parser_on_the_guides_lines():
    fields = _rancher_cp.parse_logrus(APISERVER_LINE)
    assert fields["level"] == "info" and fields["time"] == "2026-05-26T22:08:48Z"
    found = _rancher_cp.running_lines([APISERVER_LINE, SCHEDULER_LINE], ["kube-apiserver", "kube-scheduler", "kube-controller-manager"])
    assert set(found) == {"kube-apiserver", "kube-scheduler"}
    flags = found["kube-apiserver"]["flags"]
    assert len(flags) == 48 and flags["--authorization-mode"] == "Node,RBAC" and flags["--requestheader-extra-headers-prefix"] == "X-Remote-Extra-"
    assert flags["--tls-private-key-file"] == "/var/lib/rancher/k3s/server/tls/serving-kube-apiserver.key"
    assert found["kube-scheduler"]["flags"]["--profiling"] == "false"
    # logrus quotes with Go's strconv.Quote: escaped quotes and backslashes, \t, \u escapes
    quoted = r'time="2026-05-26T22:08:48Z" level=info msg="Running kube-apiserver --x=\"a b\" --y=c:\\d --z=\u00e9\tq"'
    got = _rancher_cp.running_lines([quoted], ["kube-apiserver"])["kube-apiserver"]["flags"]
    assert got == {"--x": '"a b"', "--y": "c:\\d", "--z": "\u00e9\tq"}
    # the last start wins
    older = APISERVER_LINE.replace("--profiling=false", "--profiling=true").replace("22:08:48Z", "21:00:00Z")
    assert _rancher_cp.running_lines([older, APISERVER_LINE], ["kube-apiserver"])["kube-apiserver"]["flags"]["--profiling"] == "false"
    with pytest.raises(_rancher_cp.RunningLineError, match="unknown escape"):
        _rancher_cp.parse_logrus(r'time="x" level=info msg="bad \q escape"')


def test_journal_line_wins_over_the_model(tmp_path, fake_journal):
    journal, calls = fake_journal
    root = tmp_path / "k3s"
    materialize(root, "control-plane:k3s-default", node="s1")
    journal.write_text("\n".join(message(line) for line in (APISERVER_LINE.replace("--profiling=false", "--profiling=true"), SCHEDULER_LINE)) + "\n")
    got, _ = audit(root)
    # the running process says --profiling=true: the model (k3s's built-in false) is not what runs
    assert got["1.2.15"]["status"] == "fail" and str(got["1.2.15"]["evidence"]["actual"]) == "true"
    assert "the running process" in got["1.2.15"]["evidence"]["source"] and "journal of k3s.service" in got["1.2.15"]["evidence"]["source"]
    assert "2026-05-26T22:08:48Z" in got["1.2.15"]["evidence"]["source"]
    # the running line carries the audit flags the tree's config does not: they pass from the journal
    assert got["1.2.16"]["status"] == "pass" and got["1.4.1"]["status"] == "pass" and "journal" in got["1.4.1"]["evidence"]["source"]
    # no controller-manager line: that component falls back to the model, and says so
    assert got["1.3.2"]["evidence"]["source"].startswith("flag --profiling (model:")
    args = calls.read_text()
    assert "-u k3s.service -n 20000 -o cat --no-pager -q --root=%s" % root in args


def test_restart_pending_when_config_and_running_line_differ(tmp_path, fake_journal):
    journal, _ = fake_journal
    root = tmp_path / "k3s"
    materialize(root, "control-plane:k3s-hardened", node="s1")
    dropins = root / "etc/rancher/k3s/config.yaml.d"
    dropins.mkdir()
    (dropins / "50-retention.yaml").write_text('kube-apiserver-arg+:\n  - "audit-log-maxage=90"\n')
    journal.write_text(message(APISERVER_LINE) + "\n")
    got, _ = audit(root)
    finding = got["1.2.17"]
    assert finding["status"] == "pass" and str(finding["evidence"]["actual"]) == "30"  # what runs
    pending = finding["evidence"]["restart_pending"]
    assert pending == (
        "/etc/rancher/k3s/config.yaml.d/50-retention.yaml sets --audit-log-maxage=90, the running process has "
        "--audit-log-maxage=30 (journal of k3s.service, 2026-05-26T22:08:48Z): restart pending"
    )
    assert finding["evidence"]["note"] == pending
    assert "restart_pending" not in got["1.2.18"]["evidence"]  # same value in both: nothing pending
    # the unit's command line wins over every file, and is named
    unit = root / "etc/systemd/system/k3s.service"
    unit.write_text(unit.read_text().replace("    server \\\n", "    server --kube-apiserver-arg=audit-log-maxbackup=5 \\\n"))
    got, _ = audit(root)
    assert got["1.2.18"]["evidence"]["restart_pending"].startswith("the command line of k3s.service sets --audit-log-maxbackup=5")


def test_openrc_log_file_when_no_journal(tmp_path, no_journal):
    root = tmp_path / "k3s"
    materialize(root, "control-plane:k3s-default", node="s1")
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/k3s.log").write_text("noise\n" + message(APISERVER_LINE.replace("--profiling=false", "--profiling=true")) + "\n")
    got, _ = audit(root)
    assert got["1.2.15"]["status"] == "fail" and "/var/log/k3s.log" in got["1.2.15"]["evidence"]["source"]


def test_stuck_journalctl_is_bounded(tmp_path, monkeypatch):
    bindir = tmp_path / "slowbin"
    bindir.mkdir()
    (bindir / "journalctl").write_text("#!/bin/sh\nexec sleep 30\n")
    (bindir / "journalctl").chmod(0o755)
    monkeypatch.setenv("PATH", "%s%s%s" % (bindir, os.pathsep, os.environ["PATH"]))
    monkeypatch.setattr(_rancher_cp, "JOURNAL_TIMEOUT", 1)
    found, where = _rancher_cp.journal_running(str(tmp_path), "k3s.service", ["kube-apiserver"])
    assert (found, where) == ({}, None)


def test_agent_gets_node_section_only(tmp_path, no_journal):
    root = tmp_path / "agent"
    materialize(root, "rancher:k3s-default", node="a1")
    unit = root / "etc/systemd/system/k3s.service"
    unit.rename(root / "etc/systemd/system/k3s-agent.service")
    text = (root / "etc/systemd/system/k3s-agent.service").read_text().replace("    server \\\n", "    agent \\\n")
    (root / "etc/systemd/system/k3s-agent.service").write_text(text)
    got, context = audit(root)
    assert {f["source"] for f in got.values()} == {"cis-node"}
    assert set(context["skipped_targets"]) == {"master", "controlplane", "etcd"}


def test_rke2_static_pods_and_etcd_config_file(tmp_path):
    root = tmp_path / "rke2"
    materialize(root, "control-plane:rke2-default", node="s1")
    got, _ = audit(root, RKE2)
    manifests = "/var/lib/rancher/rke2/agent/pod-manifests"
    assert got["1.1.1"]["status"] == "pass" and got["1.1.1"]["evidence"]["file"] == manifests + "/kube-apiserver.yaml"
    assert got["1.2.30"]["status"] == "fail" and manifests + "/kube-apiserver.yaml" in got["1.2.30"]["evidence"]["source"]
    assert got["2.1"]["status"] == "pass" and "/var/lib/rancher/rke2/server/db/etcd/config (--config-file=" in str(got["2.1"]["evidence"])
    assert got["1.1.11"]["evidence"]["file"] == "/var/lib/rancher/rke2/server/db/etcd"  # etcd's data-dir from its config file
    # etcd ignores its other flags with --config-file: an --auto-tls flag in the manifest changes nothing
    pod = root / manifests.lstrip("/") / "etcd.yaml"
    pod.write_text(pod.read_text().replace("    - --config-file", "    - --peer-client-cert-auth=false\n    - --config-file"))
    got, _ = audit(root, RKE2)
    assert got["2.5"]["status"] == "pass"
    os.chmod(pod, 0o644)
    got, _ = audit(root, RKE2)
    assert got["1.1.7"]["status"] == "fail" and got["1.1.7"]["evidence"]["actual"] == "644"


def test_rke2_disable_etcd_server_reports_one_info(tmp_path):
    root = tmp_path / "rke2"
    materialize(root, "control-plane:rke2-default", node="s1")
    (root / "var/lib/rancher/rke2/agent/pod-manifests/etcd.yaml").unlink()
    got, _ = audit(root, RKE2)
    assert got["etcd"]["status"] == "info" and not [cid for cid in got if cid.startswith("2.")]


def test_server_unit_that_never_started_as_server_gets_node_section_only(tmp_path, no_journal):
    # install.sh's k3s.service runs `k3s server`, but without /var/lib/rancher/k3s/server it never started as one
    # (the worker-role test trees): no control-plane finding, the reason in skipped_targets
    root = tmp_path / "k1"
    materialize(root, "rancher:k3s-default", node="k1")
    got, context = audit(root)
    assert {f["source"] for f in got.values()} == {"cis-node"}
    assert "/var/lib/rancher/k3s/server does not exist" in context["skipped_targets"]["master"]
