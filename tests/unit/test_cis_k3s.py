"""Issue 18 step 3: the node audit on k3s (tests/testbed/trees/rancher.yml, what install.sh and k3s write)."""

from __future__ import annotations

from collections import Counter

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue
from tests.conftest import assert_valid_findings
from tests.testbed.nodetree import materialize

K3S = _catalogue.load("k3s-cis-1.12")


def audit(tmp_path, profile):
    root = tmp_path / "k1"
    materialize(root, "rancher:" + profile, node="k1")
    findings, context = _cis.audit_node(str(root), K3S, node="k1")
    assert_valid_findings(findings)
    return {f["id"].replace("CIS-", ""): f for f in findings}, context, root


def test_k3s_default_counts_and_where_each_setting_comes_from(tmp_path):
    got, context, _ = audit(tmp_path, "k3s-default")
    assert context["benchmark"] == "k3s-cis-1.12"
    statuses = {cid: f["status"] for cid, f in got.items()}
    # 4.2.4 passes from k3s's own --read-only-port=0, 4.2.7 is not applicable (k3s sets --hostname-override)
    assert Counter(statuses.values()) == {"pass": 18, "warn": 3, "info": 3, "fail": 1}
    # install.sh writes k3s.service 0644: the unit that starts the kubelet (kube-bench says Not Applicable)
    assert statuses["4.1.1"] == "fail" and "/etc/systemd/system/k3s.service" in str(got["4.1.1"]["evidence"])
    # the kubelet's settings come from k3s's own drop-in, not from kubeadm paths
    defaults = "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/00-k3s-defaults.conf"
    for cid in ("4.2.1", "4.2.2", "4.2.3", "4.2.5"):
        assert statuses[cid] == "pass" and defaults in got[cid]["evidence"]["source"], cid
    assert statuses["4.1.5"] == "pass" and statuses["4.1.7"] == "pass"  # kubelet.kubeconfig, client-ca.crt 0600
    assert statuses["4.1.9"] == "info"  # no --config file: k3s uses --config-dir only
    assert {cid for cid, s in statuses.items() if s == "warn"} == {"4.2.12", "4.2.13", "4.2.14"}
    assert statuses["4.3.1"] == "pass"


def test_k3s_config_file_and_dropins_carry_kubelet_args(tmp_path):
    got, _, _ = audit(tmp_path, "k3s-config")
    statuses = {cid: f["status"] for cid, f in got.items()}
    assert Counter(statuses.values()) == {"pass": 18, "warn": 3, "info": 3, "fail": 1}
    # config.yaml says anonymous-auth=true, the config.yaml.d drop-in appends =false (later wins)
    assert statuses["4.2.1"] == "pass" and got["4.2.1"]["evidence"]["actual"] in (False, "false")
    assert "config.yaml" in got["4.2.1"]["evidence"]["source"]
    assert statuses["4.2.4"] == "warn" and str(got["4.2.4"]["evidence"]["actual"]) == "10255"
    assert statuses["4.2.14"] == "pass"


def test_k3s_command_line_wins_over_the_config_file(tmp_path):
    _, _, root = audit(tmp_path, "k3s-config")
    unit = root / "etc/systemd/system/k3s.service"
    unit.write_text(unit.read_text().replace("    server \\\n", "    server --kubelet-arg=anonymous-auth=true \\\n"))
    findings, _ = _cis.audit_node(str(root), K3S, node="k1")
    assert {f["id"]: f["status"] for f in findings}["CIS-4.2.1"] == "fail"


def test_k3s_bad_config_file_is_named(tmp_path):
    _, _, root = audit(tmp_path, "k3s-config")
    (root / "etc/rancher/k3s/config.yaml").write_text("kubelet-arg: [anonymous-auth=false\n")
    findings, _ = _cis.audit_node(str(root), K3S, node="k1")
    note = {f["id"]: f for f in findings}["CIS-4.2.1"]
    assert note["status"] != "pass" and "config.yaml is not valid YAML" in str(note["evidence"])


@pytest.mark.parametrize("cid", ["1.2.1", "2.1", "3.2.1"])
def test_k3s_catalogue_keeps_control_plane_sections_for_servers(cid):
    # issue 18's last part: sections 1-3 are evaluated on a k3s server (tests/unit/test_cis_rancher_control_plane.py);
    # target_components keeps them off agents, as on kubeadm
    assert cid in {str(c["id"]) for c in K3S["checks"]}
    assert set(K3S["target_components"]) == {"master", "controlplane", "etcd"}


def module_params(root, **extra):
    params = {
        "root": str(root),
        "benchmark": "cis-1.12",
        "catalogue": _catalogue.load("cis-1.12"),
        "distribution": "auto",
        "distribution_catalogues": {"k3s": K3S},
    }
    params.update(extra)
    return params


def test_cis_node_audit_picks_the_k3s_catalogue_by_itself(tmp_path):
    from ansible_collections.kubesec.cluster.plugins.modules import cis_node_audit

    k3s = tmp_path / "k3s"
    materialize(k3s, "rancher:k3s-default", node="k1")
    kubeadm = tmp_path / "kubeadm"
    materialize(kubeadm, "worker:kubeadm-default", node="w1")
    catalogue, distribution, note = cis_node_audit.choose_catalogue(module_params(k3s))
    assert (catalogue["version"], distribution, note) == ("k3s-cis-1.12", "k3s", None)
    catalogue, distribution, note = cis_node_audit.choose_catalogue(module_params(kubeadm))
    assert (catalogue["version"], distribution, note) == ("cis-1.12", "kubeadm", None)
    # the inventory overrides detection
    catalogue, distribution, _ = cis_node_audit.choose_catalogue(module_params(k3s, distribution="kubeadm"))
    assert (catalogue["version"], distribution) == ("cis-1.12", "kubeadm")
    # RKE2 detected, but the action plugin passed no catalogue for it: the generic one, and the result says so
    (tmp_path / "rke2/var/lib/rancher/rke2").mkdir(parents=True)
    catalogue, distribution, note = cis_node_audit.choose_catalogue(module_params(tmp_path / "rke2"))
    assert (catalogue["version"], distribution) == ("cis-1.12", "rke2") and "no rke2 catalogue" in note
    rke2 = _catalogue.load("rke2-cis-1.12")
    catalogue, distribution, note = cis_node_audit.choose_catalogue(module_params(tmp_path / "rke2", distribution_catalogues={"k3s": K3S, "rke2": rke2}))
    assert (catalogue["version"], distribution, note) == ("rke2-cis-1.12", "rke2", None)


def test_rke2_default_counts(tmp_path):
    root = tmp_path / "r1"
    materialize(root, "rancher:rke2-default", node="r1")
    findings, context = _cis.audit_node(str(root), _catalogue.load("rke2-cis-1.12"), node="r1")
    assert_valid_findings(findings)
    statuses = {f["id"].replace("CIS-", ""): f for f in findings}
    assert context["benchmark"] == "rke2-cis-1.12"
    assert Counter(f["status"] for f in findings) == {"pass": 18, "warn": 3, "info": 3, "fail": 1}
    assert statuses["4.1.1"]["status"] == "fail"  # rke2-server.service ships 0644 (kube-bench: Not Applicable)
    defaults = "/var/lib/rancher/rke2/agent/etc/kubelet.conf.d/00-rke2-defaults.conf"
    assert statuses["4.2.1"]["status"] == "pass" and defaults in statuses["4.2.1"]["evidence"]["source"]
    # the same tree against the kubeadm layout: the nonsense issue 18 describes
    generic, _ = _cis.audit_node(str(root), _catalogue.load("cis-1.12"), node="r1")
    assert Counter(f["status"] for f in generic)["pass"] == 0


def test_k3s_passes_read_only_port_0_and_hostname_override_itself(tmp_path):
    """k3s v1.32.4+ / v1.33 passes --read-only-port=0 on the kubelet's command line (KubeletConfiguration omits a
    zero readOnlyPort, k3s-io/k3s#12164, pkg/daemons/agent kubeletArgsAndConfig) and --hostname-override=<node
    name>: 4.2.4 passes from that built-in flag, 4.2.7 is not applicable (kube-bench k3s-cis: type skip)."""
    got, _, root = audit(tmp_path, "k3s-default")
    assert got["4.2.4"]["status"] == "pass" and "built-in" in got["4.2.4"]["evidence"]["source"]
    assert got["4.2.7"]["status"] == "info" and "node name" in got["4.2.7"]["evidence"]["note"]
    # an operator's kubelet-arg read-only-port=10255 still wins over the built-in flag and is reported
    (root / "etc/rancher/k3s/config.yaml").write_text("kubelet-arg:\n  - read-only-port=10255\n")
    findings, _ = _cis.audit_node(str(root), K3S, node="k1")
    assert {f["id"]: f["status"] for f in findings}["CIS-4.2.4"] == "warn"
    rke2 = tmp_path / "r1"
    materialize(rke2, "rancher:rke2-default", node="r1")
    findings, _ = _cis.audit_node(str(rke2), _catalogue.load("rke2-cis-1.12"), node="r1")
    statuses = {f["id"]: f["status"] for f in findings}
    assert statuses["CIS-4.2.4"] == "pass" and statuses["CIS-4.2.7"] == "info"
