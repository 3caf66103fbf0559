"""The test bed's kubelet double on k3s / RKE2 trees: what the k3s process would give its kubelet, judged at start.

The double is what molecule's k3s / rke2 rollback scenarios rely on to see a bad setting, so it must refuse what the
real kubelet refuses (kubelet v1.33 flag parsing) and accept the trees the installers write."""

from __future__ import annotations

import pytest

from tests.testbed import node_double
from tests.testbed.nodetree import materialize


@pytest.mark.parametrize("profile", ["k3s-default", "k3s-config", "k3s-hardened", "rke2-default", "rke2-hardened"])
def test_installer_trees_start(tmp_path, profile):
    materialize(tmp_path, "rancher:" + profile, node="n1")
    assert node_double.rancher_distribution(str(tmp_path)) == profile.split("-")[0]
    assert node_double.check_rancher_kubelet(str(tmp_path))[1] == []


@pytest.mark.parametrize(
    "items, message",
    [
        (["tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_NOT_A_REAL_SUITE"], "Cipher suite TLS_NOT_A_REAL_SUITE not supported"),
        (["read-only-port=abc"], 'invalid argument "abc" for "--read-only-port" flag'),
        (["anonymous-auth=maybe"], "strconv.ParseBool"),
        (["no-such-flag=1"], "unknown flag: --no-such-flag"),
        (["client-ca-file=/nowhere/ca.crt"], "open /nowhere/ca.crt: no such file"),
        (["feature-gates=RotateKubeletServerCertificate"], "missing bool value"),
    ],
)
def test_a_bad_kubelet_arg_in_a_dropin_keeps_the_kubelet_down(tmp_path, items, message):
    materialize(tmp_path, "rancher:k3s-default", node="n1")
    dropin = tmp_path / "etc/rancher/k3s/config.yaml.d/90-kubesec.yaml"
    dropin.parent.mkdir(parents=True)
    dropin.write_text("kubelet-arg+:\n" + "".join(f'  - "{item}"\n' for item in items))
    problems = node_double.check_rancher_kubelet(str(tmp_path))[1]
    assert any(message in p for p in problems), problems


def test_a_later_list_without_plus_replaces_the_earlier_items(tmp_path):
    materialize(tmp_path, "rancher:k3s-default", node="n1")
    d = tmp_path / "etc/rancher/k3s/config.yaml.d"
    d.mkdir(parents=True)
    (d / "10-bad.yaml").write_text("kubelet-arg:\n  - read-only-port=abc\n")
    (d / "20-good.yaml").write_text("kubelet-arg:\n  - read-only-port=0\n")
    assert node_double.check_rancher_kubelet(str(tmp_path))[1] == []
    (d / "20-good.yaml").write_text("kubelet-arg+:\n  - read-only-port=0\n")
    assert node_double.check_rancher_kubelet(str(tmp_path))[1]  # appended: the bad item is still passed


def test_unparsable_config_stops_the_process(tmp_path):
    materialize(tmp_path, "rancher:k3s-default", node="n1")
    (tmp_path / "etc/rancher/k3s/config.yaml").write_text("kubelet-arg: [a\n")
    assert "failed to read config file /etc/rancher/k3s/config.yaml" in node_double.check_rancher_kubelet(str(tmp_path))[1][0]


# ------------------------------------------------------------------ a k3s / RKE2 server's control plane (issue 18)

CP_DROPIN = "etc/rancher/{dist}/config.yaml.d/90-kubesec.yaml"


def server(tmp_path, profile: str = "k3s-default"):
    materialize(tmp_path, f"rancher:{profile}")
    return tmp_path


def dropin(root, text: str, dist: str = "k3s") -> None:
    path = root / CP_DROPIN.format(dist=dist)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("profile", ["k3s-default", "k3s-hardened", "rke2-default", "rke2-hardened"])
def test_installer_servers_start_their_control_plane(tmp_path, profile):
    assert node_double.check_rancher_control_plane(str(server(tmp_path, profile))) == []


@pytest.mark.parametrize(
    "items, message",
    [
        ('kube-apiserver-arg+: ["audit-log-maxage=thirty"]', 'kube-apiserver exited: invalid argument "thirty" for "--audit-log-maxage" flag'),
        ('kube-apiserver-arg+: ["audit-log-maxbackup=-1"]', "--audit-log-maxbackup -1 can't be a negative number"),
        ('kube-apiserver-arg+: ["no-such-flag=1"]', "kube-apiserver exited: unknown flag: --no-such-flag"),
        ('kube-apiserver-arg+: ["profiling=maybe"]', 'strconv.ParseBool: parsing "maybe"'),
        ('kube-apiserver-arg+: ["request-timeout=5 minutes"]', 'time: invalid duration "5 minutes"'),
        (
            'kube-apiserver-arg+: ["audit-policy-file=/var/lib/rancher/k3s/server/none.yaml"]',
            'loading audit policy file: failed to read file path "/var/lib/rancher/k3s/server/none.yaml"',
        ),
        ('kube-apiserver-arg+: ["admission-control-config-file=/nope.yaml"]', "--admission-control-config-file: open /nope.yaml: no such file"),
        ('kube-controller-manager-arg+: ["terminated-pod-gc-threshold=ten"]', 'kube-controller-manager exited: invalid argument "ten"'),
        ('kube-scheduler-arg+: ["profilin=false"]', "kube-scheduler exited: unknown flag: --profilin"),
    ],
)
def test_a_bad_control_plane_item_stops_the_server(tmp_path, items, message):
    root = server(tmp_path)
    dropin(root, items + "\n")
    problems = node_double.check_rancher_control_plane(str(root))
    assert len(problems) == 1 and message in problems[0], problems


def test_an_audit_policy_that_is_not_a_policy_stops_the_server(tmp_path):
    root = server(tmp_path)
    policy = root / "var/lib/rancher/k3s/server/audit.yaml"
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n")
    dropin(root, 'kube-apiserver-arg+: ["audit-policy-file=/var/lib/rancher/k3s/server/audit.yaml"]\n')
    (problem,) = node_double.check_rancher_control_plane(str(root))
    assert "loading audit policy file /var/lib/rancher/k3s/server/audit.yaml: rules[0].level: Unsupported value: 'Everything'" in problem
    policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n")
    assert node_double.check_rancher_control_plane(str(root)) == []


def test_rke2_audit_policy_option_is_checked_and_agents_have_no_control_plane(tmp_path):
    root = server(tmp_path, "rke2-default")
    policy = root / "etc/rancher/rke2/audit-policy.yaml"
    policy.write_text("kind: NotAPolicy\n")
    dropin(root, 'audit-policy-file: "/etc/rancher/rke2/audit-policy.yaml"\n', "rke2")
    assert "not an audit.k8s.io/v1 Policy" in node_double.check_rancher_control_plane(str(root))[0]
    policy.unlink()  # rke2 writes its default policy where none is: starts
    assert node_double.check_rancher_control_plane(str(root)) == []
    unit = root / "usr/local/lib/systemd/system/rke2-server.service"
    unit.write_text(unit.read_text().replace("rke2 server", "rke2 agent"))
    dropin(root, 'kube-apiserver-arg+: ["no-such-flag=1"]\n', "rke2")
    assert node_double.check_rancher_control_plane(str(root)) == []  # an agent starts no API server
