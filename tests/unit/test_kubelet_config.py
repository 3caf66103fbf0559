"""kubelet_config planning (_kubelet_config) and the module's writes, on real kubeadm-like node trees."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _kubelet_config as kc
from ansible_collections.kubesec.cluster.plugins.module_utils import _nodewrite as nw
from tests.conftest import COLLECTIONS, VENV_BIN, ansible_env
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
    result = kc.plan(
        str(node), "kubelet.service", {"authentication.anonymous.enabled": False, "featureGates.RotateKubeletServerCertificate": True, "podPidsLimit": 4096}, {}
    )
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


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("kind: KubeletConfiguration\nauthentication: {anonymous\n", "is not valid YAML at line"),
        ("- a\n", "must hold a mapping"),
        ("kind: KubeProxyConfiguration\n", "expected kind KubeletConfiguration"),
    ],
)
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
    cmd = [str(VENV_BIN / "ansible"), "localhost", "-c", "local", "-m", "kubesec.cluster.kubelet_config", "-a", json.dumps(dict(args, root=str(node))), *flags]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**env, "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"})
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


# ------------------------------------------------------------------ issue 15: never a broken or half-changed node

MODULE = "ansible_collections.kubesec.cluster.plugins.modules.kubelet_config"


def module_process(node, args, preexec_fn=None):
    """The module as a bare process (no ansible wrapper), so several can run at once; returns Popen."""
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=preexec_fn
    )
    proc.stdin.write(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, root=str(node))}))
    proc.stdin.close()
    return proc


def module_result(proc):
    out = proc.stdout.read()
    proc.wait(timeout=120)
    return json.loads(out)


def test_two_runs_at_once_never_lose_a_change(node):
    """Before the lock, 9 of 10 rounds lost one of the two settings while both runs said changed."""
    for round_ in range(10):
        first = module_process(node, {"settings": {"podPidsLimit": 1000 + round_}})
        second = module_process(node, {"settings": {"eventRecordQPS": 10 + round_}})
        results = [module_result(first), module_result(second)]
        assert all(not r.get("failed") for r in results), results
        assert all(r["changed"] for r in results)
        data = config(node)
        assert (data["podPidsLimit"], data["eventRecordQPS"]) == (1000 + round_, 10 + round_), f"round {round_}"
    assert not [p for p in (node / "var/lib/kubelet").iterdir() if p.name.startswith(".kubesec-")]  # no temp, no lock


def test_a_held_lock_fails_clearly_and_changes_nothing(node):
    before = tree_state(node)
    with nw.lock(str(node / CONFIG)):
        result = module_result(module_process(node, {"settings": {"podPidsLimit": 7}, "lock_timeout": 1}))
    assert result["failed"] and "another run is changing /var/lib/kubelet/config.yaml" in result["msg"]
    assert tree_state(node) == before


def test_disk_full_removes_the_temp_file_and_names_the_file(node):
    """RLIMIT_FSIZE below the new config's size: the temp write fails with EFBIG (before: traceback, temp left)."""
    before = tree_state(node)

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    result = module_result(module_process(node, {"settings": {"podPidsLimit": 4096}}, preexec_fn=small_files))
    assert result["failed"] and result["msg"].startswith("cannot write /var/lib/kubelet/config.yaml: ")
    assert "EFBIG" in result["msg"] and "Traceback" not in json.dumps(result)
    assert tree_state(node) == before


def _changes(node):
    (node / "etc/default/kubelet").write_text('KUBELET_EXTRA_ARGS="--anonymous-auth=true"\n')
    plan = kc.plan(str(node), "kubelet.service", {"authentication.anonymous.enabled": False, "podPidsLimit": 7}, {})
    assert [c["path"] for c in plan["changes"]] == ["/var/lib/kubelet/config.yaml", "/etc/default/kubelet"]
    return plan["changes"]


def test_a_failed_second_rename_puts_the_first_file_back(node, monkeypatch):
    changes = _changes(node)
    before = tree_state(node)
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(nw.WriteSetError) as caught:
        nw.write_set(changes, backup=nw.backup_name)
    monkeypatch.undo()
    assert "cannot replace /etc/default/kubelet: Input/output error" in str(caught.value)
    assert "/var/lib/kubelet/config.yaml put back as before, nothing is changed" in str(caught.value)
    assert caught.value.restored == ["/var/lib/kubelet/config.yaml"] and caught.value.written == []
    assert sorted(caught.value.backups) == sorted(c["real"] for c in changes)  # returned for the role's restore
    after = {k: v for k, v in tree_state(node).items() if not k.endswith("~")}
    assert after == before  # every byte and mode as before, no temp or keep file left


def test_a_failed_put_back_is_reported_with_the_backups(node, monkeypatch):
    changes = _changes(node)
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append(dst)
        if len(calls) >= 2:
            raise OSError(errno.EROFS, "Read-only file system")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(nw.WriteSetError) as caught:
        nw.write_set(changes, backup=nw.backup_name)
    monkeypatch.undo()
    assert caught.value.written == ["/var/lib/kubelet/config.yaml"]
    assert "could NOT be put back: restore from the backups" in str(caught.value)
    assert str(node / CONFIG) in caught.value.backups


def test_an_empty_config_is_refused(node):
    (node / CONFIG).write_text("")
    with pytest.raises(kc.KubeletConfigError, match="config.yaml is empty"):
        kc.plan(str(node), "kubelet.service", {"readOnlyPort": 0}, {})


def test_an_alias_bomb_is_refused_fast(node):
    lines = ["kind: KubeletConfiguration", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += ["a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)) for i in range(1, 9)]
    (node / CONFIG).write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    with pytest.raises(kc.KubeletConfigError, match="alias bomb"):
        kc.plan(str(node), "kubelet.service", {"readOnlyPort": 0}, {})
    assert time.monotonic() - started < 2


def test_control_characters_from_the_node_are_escaped_in_messages(node):
    (node / CONFIG).write_text('kind: "\\e[2J\\e]0;pwned\\a"\n')
    result = module_result(module_process(node, {"settings": {"readOnlyPort": 0}}))
    assert result["failed"] and "\x1b" not in result["msg"] and "\x07" not in result["msg"]
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in result["msg"]


def test_an_absolute_symlink_is_followed_inside_the_root(node, tmp_path):
    """<root>/var/lib/kubelet -> /var/lib/kubelet-real must mean <root>/var/lib/kubelet-real, never the host's."""
    outside = tmp_path / "outside"
    (outside / "var/lib").mkdir(parents=True)
    os.rename(node / "var/lib/kubelet", node / "var/lib/kubelet-real")
    os.symlink("/var/lib/kubelet-real", node / "var/lib/kubelet")
    plan = kc.plan(str(node), "kubelet.service", {"readOnlyPort": 0}, {})
    assert plan["changes"][0]["real"] == str(node / "var/lib/kubelet-real/config.yaml")


@pytest.mark.parametrize("config_path", ["/../x.yaml", "/var/lib/../../../etc/x.yaml"])
def test_a_config_path_leaving_the_root_is_refused(node, config_path):
    with pytest.raises(kc.KubeletConfigError, match="leaves the node root"):
        kc.plan(str(node), "kubelet.service", {"readOnlyPort": 0}, {}, config_path=config_path)


def test_a_relative_symlink_leaving_the_root_is_refused(node):
    os.unlink(node / CONFIG)
    os.symlink("../../../../outside.yaml", node / CONFIG)
    with pytest.raises(
        kc.KubeletConfigError,
        match=r"leaves the node root .* \(through the symlink "
        r"/var/lib/kubelet/config.yaml -> ../../../../outside.yaml\)",
    ):
        kc.plan(str(node), "kubelet.service", {"readOnlyPort": 0}, {})


def test_the_lock_waits_for_its_holder_and_leaves_no_file(node, tmp_path):
    """The lock file is removed on release; a waiter that locked the removed file takes the new one."""
    target = str(node / CONFIG)
    order = []

    def second():
        with nw.lock(target, timeout=10):
            order.append("second")

    with nw.lock(target):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
        order.append("first")
    waiter.join(10)
    assert order == ["first", "second"]
    assert not os.path.exists(nw.lock_path(target))


def test_a_backup_that_cannot_be_written_changes_nothing(node, monkeypatch):
    changes = _changes(node)
    before = tree_state(node)

    def copy2(src, dst):
        with open(dst, "w") as handle:
            handle.write("half")
        raise OSError(errno.ENOSPC, "No space left on device", dst)

    monkeypatch.setattr(nw.shutil, "copy2", copy2)
    with pytest.raises(nw.NodeFileError, match="cannot back up .*No space left on device; nothing was changed"):
        nw.write_set(changes, backup=nw.backup_name)
    monkeypatch.undo()
    assert tree_state(node) == before  # no temp, keep or half-written backup file left


def test_module_backups_go_to_backup_dir_not_beside_the_file(node):
    """Issue 24: rollback backups must not pile up inside /var/lib/kubelet (where the kubelet keeps its state)."""
    (node / "etc/default/kubelet").write_text('KUBELET_EXTRA_ARGS="--anonymous-auth=true"\n')
    before = tree_state(node)
    real = run_module(node, {"settings": {"authentication.anonymous.enabled": False, "podPidsLimit": 4096}, "backup_dir": "/var/lib/kubesec/kubelet-backups"})
    assert real["changed"] is True
    backup_dir = node / "var/lib/kubesec/kubelet-backups"
    assert oct(backup_dir.stat().st_mode)[-3:] == "700"
    assert sorted(os.path.dirname(b) for b in real["backup_files"].values()) == [str(backup_dir)] * 2
    names = sorted(os.path.basename(b) for b in real["backup_files"].values())
    assert names[0].startswith("etc_default_kubelet.") and names[1].startswith("var_lib_kubelet_config.yaml.")
    for original, backup in real["backup_files"].items():
        assert open(backup).read() == before[os.path.relpath(original, node)][0].decode()
    assert not [p.name for p in (node / "var/lib/kubelet").iterdir() if p.name.endswith("~")]
