"""kubelet_config planning (_kubelet_config) and the module's writes, on real kubeadm-like node trees."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _kubelet_config as kc
from tests.conftest import VENV_BIN, ansible_env
from tests.testbed.nodetree import materialize

CONFIG = "var/lib/kubelet/config.yaml"


@pytest.fixture
def node(tmp_path):
    root = tmp_path / "node"
    materialize(root, "worker:kubeadm-default", node="w1")
    return root


def config(root):
    return yaml.safe_load((root / CONFIG).read_text())


def test_nested_keys_order_and_unknown_keys_are_kept(node):
    before = (node / CONFIG).read_text()
    result = kc.plan(str(node), "kubelet.service", {"authentication.anonymous.enabled": False,
                                                     "featureGates.RotateKubeletServerCertificate": True,
                                                     "podPidsLimit": 4096}, {})
    assert result["settings_changed"] == ["featureGates.RotateKubeletServerCertificate", "podPidsLimit"]
    after = yaml.safe_load(result["changes"][0]["after"])
    assert list(after)[: len(yaml.safe_load(before))] == list(yaml.safe_load(before))  # order kept, new keys last
    assert after["logging"]["options"]["json"]["infoBufferSize"] == "0"  # unknown nested keys untouched
    assert '"0"' in result["changes"][0]["after"]  # and quoted the way kubeadm quotes
    assert after["featureGates"] == {"RotateKubeletServerCertificate": True}


def test_no_change_means_no_file_change(node):
    result = kc.plan(str(node), "kubelet.service", {"authentication.anonymous.enabled": False}, {})
    assert result["changes"] == [] and result["settings_changed"] == []


def test_true_is_not_one(node):
    result = kc.plan(str(node), "kubelet.service", {"rotateCertificates": 1}, {})
    assert result["settings_changed"] == ["rotateCertificates"]


def test_null_removes_a_key(node):
    result = kc.plan(str(node), "kubelet.service", {"streamingConnectionIdleTimeout": None, "nope.deep": None}, {})
    assert result["settings_changed"] == ["streamingConnectionIdleTimeout"]
    assert "streamingConnectionIdleTimeout" not in yaml.safe_load(result["changes"][0]["after"])


def test_overriding_flags_are_removed_from_env_files(node):
    (node / "etc/default/kubelet").write_text('KUBELET_EXTRA_ARGS="--anonymous-auth=true --v=2 --read-only-port 10255"\n')
    result = kc.plan(str(node), "kubelet.service", {"authentication.anonymous.enabled": False, "readOnlyPort": 0}, {})
    assert result["flags_removed"] == ["--anonymous-auth", "--read-only-port"]
    env = next(c for c in result["changes"] if c["path"] == "/etc/default/kubelet")
    assert env["after"] == 'KUBELET_EXTRA_ARGS="--v=2"\n'


def test_flags_in_drop_ins_are_edited_in_place(node):
    dropin = node / "etc/systemd/system/kubelet.service.d/20-extra.conf"
    dropin.write_text('[Service]\nEnvironment="KUBELET_EXTRA_ARGS=--hostname-override=x --v=4"\n')
    result = kc.plan(str(node), "kubelet.service", {}, {"--hostname-override": None})
    change = next(c for c in result["changes"] if c["path"].endswith("20-extra.conf"))
    assert 'Environment="KUBELET_EXTRA_ARGS=--v=4"' in change["after"]
    assert result["flags_removed"] == ["--hostname-override"]


def test_new_flag_goes_to_the_extra_args_file(node):
    result = kc.plan(str(node), "kubelet.service", {}, {"--pod-max-pids": 1024})
    env = next(c for c in result["changes"] if c["path"] == "/etc/default/kubelet")
    assert env["before"] == "" and env["after"] == 'KUBELET_EXTRA_ARGS="--pod-max-pids=1024"\n'


def test_extra_args_file_must_be_read_by_the_unit(node):
    with pytest.raises(kc.KubeletConfigError, match="does not read /etc/sysconfig/kubelet"):
        kc.plan(str(node), "kubelet.service", {}, {"--pod-max-pids": 1024}, extra_args_file="/etc/sysconfig/kubelet")


@pytest.mark.parametrize(("content", "message"), [
    ("kind: KubeletConfiguration\nauthentication: {anonymous\n", "is not valid YAML at line"),
    ("- a\n", "must hold a mapping"),
    ("kind: KubeProxyConfiguration\n", "expected kind KubeletConfiguration"),
])
def test_bad_config_files_are_refused(node, content, message):
    (node / CONFIG).write_text(content)
    with pytest.raises(kc.KubeletConfigError, match=message):
        kc.plan(str(node), "kubelet.service", {"readOnlyPort": 0}, {})


def test_hostile_flag_values_are_refused(node):
    with pytest.raises(kc.KubeletConfigError, match="only plain characters"):
        kc.plan(str(node), "kubelet.service", {}, {"--node-labels": 'a"; rm -rf /'})


def test_scalar_in_the_way_of_a_nested_key(node):
    with pytest.raises(kc.KubeletConfigError, match="authentication is a str"):
        kc.set_path({"authentication": "x"}, "authentication.anonymous.enabled", False)


def test_missing_config_is_named(node):
    os.unlink(node / CONFIG)
    with pytest.raises(kc.KubeletConfigError, match="/var/lib/kubelet/config.yaml does not exist"):
        kc.plan(str(node), "kubelet.service", {"readOnlyPort": 0}, {})


def run_module(node, args, *flags):
    env = ansible_env()
    cmd = [str(VENV_BIN / "ansible"), "localhost", "-c", "local", "-m", "kubesec.cluster.kubelet_config",
           "-a", json.dumps(dict(args, root=str(node))), *flags]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**env, "ANSIBLE_STDOUT_CALLBACK": "json",
                                                                      "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"})
    data = json.loads(out.stdout)
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def tree_state(root):
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode) for p in sorted(root.rglob("*")) if p.is_file()}


def test_module_check_mode_then_apply_then_idempotent(node):
    (node / "etc/default/kubelet").write_text('KUBELET_EXTRA_ARGS="--anonymous-auth=true"\n')
    args = {"settings": {"authentication.anonymous.enabled": False, "podPidsLimit": 4096}}
    before = tree_state(node)
    check = run_module(node, args, "--check", "--diff")
    assert check["changed"] is True and tree_state(node) == before  # check mode: not one byte
    diffs = {d["after_header"]: d for d in check["diff"]}
    assert "podPidsLimit: 4096" in diffs["/var/lib/kubelet/config.yaml"]["after"]
    assert diffs["/etc/default/kubelet"]["after"] == 'KUBELET_EXTRA_ARGS=""\n'
    real = run_module(node, args)
    assert real["changed"] is True
    assert sorted(real["backup_files"]) == sorted([str(node / CONFIG), str(node / "etc/default/kubelet")])
    for original, backup in real["backup_files"].items():
        assert open(backup).read() == before[os.path.relpath(original, node)][0].decode()
    assert config(node)["podPidsLimit"] == 4096
    assert oct((node / CONFIG).stat().st_mode)[-3:] == "644"  # mode of the original file kept
    again = run_module(node, args)
    assert again["changed"] is False
    assert run_module(node, args, "--check")["changed"] is False


def test_module_backups_go_to_backup_dir_not_beside_the_file(node):
    """Issue 24: rollback backups must not pile up inside /var/lib/kubelet (where the kubelet keeps its state)."""
    (node / "etc/default/kubelet").write_text('KUBELET_EXTRA_ARGS="--anonymous-auth=true"\n')
    before = tree_state(node)
    real = run_module(node, {"settings": {"authentication.anonymous.enabled": False, "podPidsLimit": 4096},
                             "backup_dir": "/var/lib/kubesec/kubelet-backups"})
    assert real["changed"] is True
    backup_dir = node / "var/lib/kubesec/kubelet-backups"
    assert oct(backup_dir.stat().st_mode)[-3:] == "700"
    assert sorted(os.path.dirname(b) for b in real["backup_files"].values()) == [str(backup_dir)] * 2
    names = sorted(os.path.basename(b) for b in real["backup_files"].values())
    assert names[0].startswith("etc_default_kubelet.") and names[1].startswith("var_lib_kubelet_config.yaml.")
    for original, backup in real["backup_files"].items():
        assert open(backup).read() == before[os.path.relpath(original, node)][0].decode()
    assert not [p.name for p in (node / "var/lib/kubelet").iterdir() if p.name.endswith("~")]
