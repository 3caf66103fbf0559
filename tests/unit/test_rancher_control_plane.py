"""Issue 18: the control plane of k3s / RKE2 servers through kubesec's drop-in (kube-apiserver-arg+,
kube-controller-manager-arg+, RKE2's audit-policy-file option), read the way k3s pkg/configfilearg reads it and with
the flags RKE2 itself passes its static pods (pkg/executor/staticpod/staticpod.go). Trees: tests/testbed/trees/rancher.yml."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _rancher
from tests.unit.test_rancher_harden import files, run, tree, write

K3S = ["/usr/local/bin/k3s", "server"]
RKE2 = ["/usr/local/bin/rke2", "server"]
AUDIT = {
    "--audit-policy-file": "/var/lib/rancher/k3s/server/audit.yaml",
    "--audit-log-path": "/var/lib/rancher/k3s/server/logs/audit.log",
    "--audit-log-maxage": 30,
    "--audit-log-maxbackup": 10,
    "--audit-log-maxsize": 100,
}
CONTROL_PLANE = {"kube-apiserver": AUDIT, "kube-controller-manager": {"--terminated-pod-gc-threshold": 10}}


def test_k3s_server_gets_apiserver_and_controller_manager_items_and_keeps_the_kubelet_ones(tmp_path):
    root = tree(tmp_path, "k3s-default")
    write(_rancher.plan_dropin(str(root), "k3s", K3S, {"kubelet": {"--read-only-port": 0}}))
    plan = _rancher.plan_dropin(str(root), "k3s", K3S, CONTROL_PLANE)
    assert plan["flags_before"]["kube-apiserver"] == {} and plan["flags_before"]["kube-controller-manager"] == {}
    assert yaml.safe_load(plan["changes"][0]["after"]) == {
        "kubelet-arg+": ["read-only-port=0"],
        "kube-apiserver-arg+": [
            "audit-log-maxage=30",
            "audit-log-maxbackup=10",
            "audit-log-maxsize=100",
            "audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log",
            "audit-policy-file=/var/lib/rancher/k3s/server/audit.yaml",
        ],
        "kube-controller-manager-arg+": ["terminated-pod-gc-threshold=10"],
    }
    write(plan)
    again = _rancher.plan_dropin(str(root), "k3s", K3S, CONTROL_PLANE)
    assert again["changes"] == [] and again["flags_before"]["kube-controller-manager"] == {"--terminated-pod-gc-threshold": "10"}
    assert again["flags_before"]["kube-apiserver"]["--audit-log-maxage"] == "30"


def test_hardened_k3s_operator_values_are_read_and_a_replacing_dropin_is_named(tmp_path):
    root = tree(tmp_path, "k3s-hardened")
    plan = _rancher.plan_dropin(str(root), "k3s", K3S, {})
    assert plan["flags_before"]["kube-apiserver"]["--audit-log-maxage"] == "30"
    assert plan["flags_before"]["kube-controller-manager"] == {"--terminated-pod-gc-threshold": "10"}
    later = root / "etc/rancher/k3s/config.yaml.d/99-site.yaml"
    later.parent.mkdir(parents=True)
    later.write_text("kube-apiserver-arg:\n  - audit-log-maxage=7\n")
    with pytest.raises(_rancher.RancherConfigError, match=r"audit-log-maxage=40: .*99-site.yaml, which sets kube-apiserver-arg"):
        _rancher.plan_dropin(str(root), "k3s", K3S, {"kube-apiserver": {"--audit-log-maxage": 40}})
    later.unlink()
    with pytest.raises(_rancher.RancherConfigError, match=r"k3s command line \(--kube-controller-manager-arg\)"):
        _rancher.plan_dropin(str(root), "k3s", [*K3S, "--kube-controller-manager-arg=terminated-pod-gc-threshold=5"], CONTROL_PLANE)


def test_rke2_defaults_are_part_of_what_the_process_passes(tmp_path):
    root = tree(tmp_path, "rke2-default")
    plan = _rancher.plan_dropin(str(root), "rke2", RKE2, {})
    # rke2 gives every controller manager --terminated-pod-gc-threshold=1000, and no audit flags without a policy
    assert plan["flags_before"]["kube-controller-manager"] == {"--terminated-pod-gc-threshold": "1000"}
    assert plan["flags_before"]["kube-apiserver"] == {}
    assert plan["options_before"] == {"profile": None, "audit-policy-file": None}
    hardened = tree(tmp_path, "rke2-hardened")  # profile: cis -> rke2's default policy path and rotation flags
    cis = _rancher.plan_dropin(str(hardened), "rke2", RKE2, {})["flags_before"]["kube-apiserver"]
    assert cis == {
        "--audit-policy-file": "/etc/rancher/rke2/audit-policy.yaml",
        "--audit-log-maxage": "30",
        "--audit-log-maxbackup": "10",
        "--audit-log-maxsize": "100",
        "--audit-log-path": "/var/lib/rancher/rke2/server/logs/audit.log",
    }


def test_rke2_audit_policy_option_is_written_and_items_win_over_rke2_defaults(tmp_path):
    root = tree(tmp_path, "rke2-default")
    options = {"audit-policy-file": "/etc/rancher/rke2/audit-policy.yaml"}
    plan = _rancher.plan_dropin(str(root), "rke2", RKE2, {"kube-apiserver": {"--audit-log-maxage": 60}}, options=options)
    text = plan["changes"][0]["after"]
    assert yaml.safe_load(text) == {"audit-policy-file": "/etc/rancher/rke2/audit-policy.yaml", "kube-apiserver-arg+": ["audit-log-maxage=60"]}
    assert plan["args_set"] == ["audit-policy-file=/etc/rancher/rke2/audit-policy.yaml", "kube-apiserver --audit-log-maxage=60"]
    write(plan)
    now = _rancher.plan_dropin(str(root), "rke2", RKE2, {}, options=options)
    assert now["changes"] == [] and now["flags_before"]["kube-apiserver"]["--audit-log-maxage"] == "60"
    assert now["flags_before"]["kube-apiserver"]["--audit-log-maxbackup"] == "10"
    # the command line's --audit-policy-file wins over every file: refused by name
    with pytest.raises(_rancher.RancherConfigError, match=r"rke2 command line \(--audit-policy-file\)"):
        _rancher.plan_dropin(str(root), "rke2", [*RKE2, "--audit-policy-file=/x.yaml"], {}, options=options)
    # k3s has no such option in kubesec's drop-in (its API server runs in-process: a flag item is enough)
    with pytest.raises(_rancher.RancherConfigError, match="does not write the k3s option"):
        _rancher.plan_dropin(str(tree(tmp_path, "k3s-default")), "k3s", K3S, {}, options=options)


def test_module_names_the_config_dir_it_created_for_the_rollback(tmp_path):
    root = tree(tmp_path, "k3s-default")
    # a refused value creates nothing; a first write names config.yaml.d in dirs_created (the roles' rollback removes it)
    bad = run(root, {"distribution": "k3s", "args": {"kube-scheduler": {"--bind-address": "127.0.0.1\n"}}})
    assert bad["failed"] and "control characters" in bad["msg"]
    assert not (root / "etc/rancher/k3s/config.yaml.d").exists()
    good = run(root, {"distribution": "k3s", "args": CONTROL_PLANE})
    assert good["dirs_created"] == ["/etc/rancher/k3s/config.yaml.d"] and good["files_created"] == ["/etc/rancher/k3s/config.yaml.d/90-kubesec.yaml"]
    assert good["flags_before"]["kube-controller-manager"] == {}
    before = files(root)
    check = run(root, {"distribution": "k3s", "args": {"kube-apiserver": {"--audit-log-maxage": 45}}}, check=True)
    assert check["changed"] and check["dirs_created"] == [] and files(root) == before
