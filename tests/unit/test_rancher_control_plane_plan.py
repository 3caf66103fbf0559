"""Issue 18: which control-plane items a k3s / RKE2 server needs (plugin_utils/_rancher_control_plane.plan), on the
flags rancher_config reads from the real installer trees (tests/testbed/trees/rancher.yml) and the role's table."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _rancher
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _rancher_control_plane as cp
from tests.unit.test_rancher_harden import tree

ROLE = Path(__file__).resolve().parents[2] / "collections/ansible_collections/kubesec/cluster/roles/control_plane_hardening"
CONTROLS = yaml.safe_load((ROLE / "vars/main.yml").read_text())["__control_plane_hardening_rancher_flags"]
SELECTED = list(CONTROLS)
SETTINGS = {
    "audit_policy_file": "/var/lib/rancher/k3s/server/audit.yaml",
    "audit_log_path": "/var/lib/rancher/k3s/server/logs/audit.log",
    "audit_log_maxage": 30,
    "audit_log_maxbackup": 10,
    "audit_log_maxsize": 100,
    "terminated_pod_gc_threshold": 10,
}


def flags(tmp_path, profile: str, dist: str) -> dict:
    return _rancher.plan_dropin(str(tree(tmp_path, profile)), dist, [f"/usr/local/bin/{dist}", "server"], {})["flags_before"]


def test_k3s_default_server_gets_audit_logging_and_gc_threshold(tmp_path):
    plan = cp.plan("k3s", flags(tmp_path, "k3s-default", "k3s"), SELECTED, CONTROLS, SETTINGS)
    assert plan["fix"] == ["1.2.16", "1.2.17", "1.2.18", "1.2.19", "1.3.1", "3.2.1"] and plan["passing"] == []
    assert plan["args"] == {
        "kube-apiserver": {
            "--audit-log-path": "/var/lib/rancher/k3s/server/logs/audit.log",
            "--audit-log-maxage": 30,
            "--audit-log-maxbackup": 10,
            "--audit-log-maxsize": 100,
            "--audit-policy-file": "/var/lib/rancher/k3s/server/audit.yaml",
        },
        "kube-controller-manager": {"--terminated-pod-gc-threshold": 10},
    }
    assert plan["options"] == {} and plan["policy_file"] == "/var/lib/rancher/k3s/server/audit.yaml"


def test_k3s_hardened_server_passes_and_nothing_is_planned(tmp_path):
    plan = cp.plan("k3s", flags(tmp_path, "k3s-hardened", "k3s"), SELECTED, CONTROLS, SETTINGS)
    assert plan["fix"] == [] and plan["args"] == {} and plan["policy_file"] == ""


def test_a_short_retention_is_raised_a_longer_one_kept(tmp_path):
    before = {"kube-apiserver": {"--audit-log-maxage": "7", "--audit-log-maxbackup": "20", "--audit-log-maxsize": "x"}}
    plan = cp.plan("k3s", before, ["1.2.17", "1.2.18", "1.2.19"], CONTROLS, SETTINGS)
    assert plan["fix"] == ["1.2.17", "1.2.19"] and plan["passing"] == ["1.2.18"]


def test_rke2_uses_its_audit_policy_option_and_already_passes_1_3_1(tmp_path):
    settings = dict(SETTINGS, audit_policy_file="/etc/rancher/rke2/audit-policy.yaml")
    plan = cp.plan("rke2", flags(tmp_path, "rke2-default", "rke2"), SELECTED, CONTROLS, settings)
    assert "1.3.1" in plan["passing"] and "3.2.1" in plan["fix"]
    assert plan["options"] == {"audit-policy-file": "/etc/rancher/rke2/audit-policy.yaml"}
    assert "--audit-policy-file" not in plan["args"]["kube-apiserver"]
    # profile: cis -> rke2 passes the audit flags itself
    cis = cp.plan("rke2", flags(tmp_path, "rke2-hardened", "rke2"), SELECTED, CONTROLS, settings)
    assert cis["fix"] == [] and cis["options"] == {}


def test_deselected_controls_and_bad_settings(tmp_path):
    plan = cp.plan("k3s", {}, ["1.3.1"], CONTROLS, SETTINGS)
    assert plan["fix"] == ["1.3.1"] and list(plan["args"]) == ["kube-controller-manager"]
    with pytest.raises(cp.RancherPlanError, match=r"1.2.17: control_plane_hardening_audit_log_maxage is 7, which does not pass"):
        cp.plan("k3s", {}, ["1.2.17"], CONTROLS, dict(SETTINGS, audit_log_maxage=7))
    with pytest.raises(cp.RancherPlanError, match="not k3s or rke2"):
        cp.plan("kubeadm", {}, [], CONTROLS, SETTINGS)
