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
