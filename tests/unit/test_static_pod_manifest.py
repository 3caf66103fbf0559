"""static_pod_manifest (module_utils/_static_pod.py) on the kubeadm v1.33 control-plane node tree."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.kubesec.cluster.plugins.module_utils import _static_pod as sp
from ansible_collections.kubesec.cluster.plugins.plugin_utils._pod_schema import schema_errors
from tests.conftest import COLLECTIONS, VENV_BIN, ansible_env
from tests.testbed.nodetree import materialize

APISERVER = "etc/kubernetes/manifests/kube-apiserver.yaml"
SCHEDULER = "etc/kubernetes/manifests/kube-scheduler.yaml"
MANIFESTS_DIR = "etc/kubernetes/manifests"
BACKUPS = "var/lib/kubesec/manifest-backups"


@pytest.fixture
def node(tmp_path):
    root = tmp_path / "cp"
    materialize(root, "control-plane:kubeadm-default", node="cp1")
    return root


def apply(node, **kwargs):
    """The whole change as the action plugin makes it (node-side read and write called directly)."""
    return sp.apply(str(node), schema_check=schema_errors, **kwargs)


def pod(node, rel=APISERVER):
    return yaml.safe_load((node / rel).read_text())


def command(node, rel=APISERVER):
    return pod(node, rel)["spec"]["containers"][0]["command"]


def tree_state(root):
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode) for p in sorted(root.rglob("*")) if p.is_file()}


def manifests_listing(node):
    return sorted(os.listdir(node / MANIFESTS_DIR))


# ------------------------------------------------------------------------------------------- flags


def test_new_flags_are_appended_and_existing_ones_replaced_in_place(node):
    before = command(node)
    result = apply(node, flags={"--profiling": False, "--authorization-mode": ["Node", "RBAC", "Webhook"], "audit-log-maxage": 30})
    after = command(node)
    assert result["changed"] is True
    assert result["flags_changed"] == ["--profiling", "--authorization-mode", "--audit-log-maxage"]
    index = before.index("--authorization-mode=Node,RBAC")
    assert after[index] == "--authorization-mode=Node,RBAC,Webhook"  # replaced where it stood
    assert after[-2:] == ["--profiling=false", "--audit-log-maxage=30"]  # new ones appended, in the order given
    assert [c for c in after if c not in ("--profiling=false", "--audit-log-maxage=30")] == [
        c if c != "--authorization-mode=Node,RBAC" else "--authorization-mode=Node,RBAC,Webhook" for c in before
    ]
    assert result["flags_before"]["--authorization-mode"] == "Node,RBAC"
    assert result["flags_after"]["--authorization-mode"] == "Node,RBAC,Webhook"
    assert result["flags_after"]["--profiling"] == "false" and "--profiling" not in result["flags_before"]


def test_remove_a_flag(node):
    result = apply(node, flags={"--enable-bootstrap-token-auth": None, "--not-there": None})
    assert result["changed"] is True and result["flags_changed"] == ["--enable-bootstrap-token-auth"]
    assert not any(c.startswith("--enable-bootstrap-token-auth") for c in command(node))
    assert "--enable-bootstrap-token-auth" not in result["flags_after"]


def test_removing_only_absent_flags_changes_nothing(node):
    before = tree_state(node)
    result = apply(node, flags={"--token-auth-file": None})
    assert result["changed"] is False and result["backup_file"] is None and "diff" not in result
    assert tree_state(node) == before


def test_same_flags_again_is_idempotent(node):
    flags = {"--profiling": False, "--enable-admission-plugins": ["NodeRestriction", "EventRateLimit"], "--audit-log-maxsize": 100}
    assert apply(node, flags=flags)["changed"] is True
    state = tree_state(node)
    again = apply(node, flags=flags)
    assert again["changed"] is False and again["flags_changed"] == [] and again["backup_file"] is None
    assert tree_state(node) == state  # not even a backup


def test_duplicates_collapse_into_the_first_place(node):
    data = pod(node)
    data["spec"]["containers"][0]["command"] += ["--profiling=true", "--secure-port=7443"]
    (node / APISERVER).write_text(yaml.safe_dump(data, sort_keys=False))
    first = command(node).index("--secure-port=6443")
    result = apply(node, flags={"--secure-port": 6443})
    after = command(node)
    assert result["changed"] is True
    assert [c for c in after if c.startswith("--secure-port")] == ["--secure-port=6443"]
    assert after.index("--secure-port=6443") == first


def test_two_item_flag_form_is_replaced(node):
    data = pod(node)
    data["spec"]["containers"][0]["command"] += ["--audit-log-maxage", "7", "--profiling"]
    (node / APISERVER).write_text(yaml.safe_dump(data, sort_keys=False))
    result = apply(node, flags={"--audit-log-maxage": 30, "--profiling": False})
    assert result["flags_before"]["--audit-log-maxage"] == "7" and result["flags_before"]["--profiling"] == "true"
    assert command(node)[-2:] == ["--audit-log-maxage=30", "--profiling=false"]


def test_flags_living_in_args(node):
    data = pod(node)
    container = data["spec"]["containers"][0]
    container["args"] = container["command"][1:]
    container["command"] = ["kube-apiserver"]
    (node / APISERVER).write_text(yaml.safe_dump(data, sort_keys=False))
    result = apply(node, flags={"--profiling": "false", "--secure-port": "7443"})
    after = pod(node)["spec"]["containers"][0]
    assert after["command"] == ["kube-apiserver"]
    assert after["args"][-1] == "--profiling=false" and "--secure-port=7443" in after["args"]
    assert result["flags_after"]["--secure-port"] == "7443"


def test_scheduler_and_named_container(node):
    result = apply(node, path="/" + SCHEDULER, container="kube-scheduler", flags={"--profiling": False})
    assert result["container"] == "kube-scheduler" and command(node, SCHEDULER)[-1] == "--profiling=false"
    with pytest.raises(sp.ManifestError, match=r"has no container named 'sidecar' \(containers: kube-scheduler\)"):
        apply(node, path="/" + SCHEDULER, container="sidecar", flags={"--profiling": False})


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"--bad name": 1}, "not a valid flag name"),
        ({"--x": "a\nb"}, "control character"),
        ({"--x": {"a": 1}}, "not a mapping"),
        ({"--x": [["nested"]]}, "list items must be text"),
    ],
)
def test_bad_flag_requests_are_refused(node, flags, message):
    before = tree_state(node)
    with pytest.raises(sp.ManifestError, match=message):
        apply(node, flags=flags)
    assert tree_state(node) == before


# ------------------------------------------------------------------------------------------ volumes

AUDIT_VOLUMES = [
    {"name": "audit", "hostPath": "/etc/kubernetes/audit-policy.yaml", "type": "File"},
    {"name": "audit-log", "hostPath": "/var/log/kubernetes/audit/", "type": "DirectoryOrCreate", "readOnly": False},
]


def test_add_volumes_and_mounts(node):
    result = apply(node, volumes=AUDIT_VOLUMES)
    data = pod(node)
    mounts = {m["name"]: m for m in data["spec"]["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in data["spec"]["volumes"]}
    assert result["volumes_changed"] == ["audit", "audit-log"]
    assert mounts["audit"] == {"mountPath": "/etc/kubernetes/audit-policy.yaml", "name": "audit", "readOnly": True}
    assert mounts["audit-log"] == {"mountPath": "/var/log/kubernetes/audit/", "name": "audit-log"}
    assert volumes["audit"] == {"hostPath": {"path": "/etc/kubernetes/audit-policy.yaml", "type": "File"}, "name": "audit"}
    assert volumes["audit-log"]["hostPath"]["type"] == "DirectoryOrCreate"
    assert len(volumes) == 7  # the five kubeadm volumes are all still there
    state = tree_state(node)
    assert apply(node, volumes=AUDIT_VOLUMES)["changed"] is False
    assert tree_state(node) == state


def test_change_and_remove_volumes(node):
    apply(node, volumes=AUDIT_VOLUMES)
    result = apply(
        node,
        volumes=[
            {"name": "audit-log", "hostPath": "/srv/audit/", "mountPath": "/var/log/kubernetes/audit/", "readOnly": True},
            {"name": "audit", "state": "absent"},
        ],
    )
    data = pod(node)
    names = [v["name"] for v in data["spec"]["volumes"]]
    mounts = {m["name"]: m for m in data["spec"]["containers"][0]["volumeMounts"]}
    assert result["volumes_changed"] == ["audit-log", "audit"]
    assert "audit" not in names and "audit" not in mounts
    assert mounts["audit-log"]["readOnly"] is True
    log_volume = next(v for v in data["spec"]["volumes"] if v["name"] == "audit-log")
    assert log_volume["hostPath"] == {"path": "/srv/audit/", "type": "DirectoryOrCreate"}  # type kept
    assert apply(node, volumes=[{"name": "audit", "state": "absent"}])["changed"] is False


def test_volume_needs_a_host_path(node):
    with pytest.raises(sp.ManifestError, match="volume audit: hostPath is required"):
        apply(node, volumes=[{"name": "audit"}])


def test_an_existing_non_hostpath_volume_is_not_converted(node):
    data = pod(node)
    data["spec"]["volumes"].append({"name": "scratch", "emptyDir": {}})
    (node / APISERVER).write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(sp.ManifestError, match="volume scratch exists and is not a hostPath volume"):
        apply(node, volumes=[{"name": "scratch", "hostPath": "/tmp/x"}])


# ------------------------------------------------------------------------- validation before writing


def add_init_container_using(node, volume):
    data = pod(node)
    data["spec"]["initContainers"] = [{"name": "init", "image": "busybox:1.36", "command": ["true"], "volumeMounts": [{"name": volume, "mountPath": "/x"}]}]
    (node / APISERVER).write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(
    ("prepare", "request_", "message"),
    [
        # a volume still mounted by another container cannot go
        (
            lambda n: add_init_container_using(n, "k8s-certs"),
            {"volumes": [{"name": "k8s-certs", "state": "absent"}]},
            "container init volumeMounts\\[0\\] refers to volume 'k8s-certs', which spec.volumes does not define",
        ),
        (None, {"volumes": [{"name": "Audit_Log", "hostPath": "/var/log/x"}]}, "is not a DNS-1123 label"),
        (None, {"volumes": [{"name": "audit", "hostPath": "/var/log/x", "type": "Bogus"}]}, "hostPath.type 'Bogus'"),
        (None, {"volumes": [{"name": "audit", "hostPath": "relative/path"}]}, "must be an absolute path"),
        (None, {"volumes": [{"name": "audit", "hostPath": "/x", "mountPath": "/etc/kubernetes/pki"}]}, "mountPath '/etc/kubernetes/pki' is already used"),
        # wrong type already in the file: the schema refuses the result, whatever the change
        (
            lambda n: (n / APISERVER).write_text((n / APISERVER).read_text().replace("priority: 2000001000", "priority: high")),
            {"flags": {"--profiling": False}},
            "spec.priority: 'high' is not of type 'integer'",
        ),
        (
            lambda n: (n / APISERVER).write_text((n / APISERVER).read_text().replace("hostNetwork: true", "hostNetwork: true\n  hostNetwrk: true")),
            {"flags": {"--profiling": False}},
            "'hostNetwrk' was unexpected",
        ),
    ],
)
def test_invalid_result_is_refused_and_the_file_untouched(node, prepare, request_, message):
    if prepare:
        prepare(node)
    before = tree_state(node)
    with pytest.raises(sp.ManifestError, match=message) as info:
        apply(node, **request_)
    assert "refusing to write /etc/kubernetes/manifests/kube-apiserver.yaml" in str(info.value)
    assert tree_state(node) == before  # not one byte, no backup, no temp file
    assert not (node / BACKUPS).exists()


def test_validate_false_writes_what_it_is_told(node):
    result = apply(node, validate=False, volumes=[{"name": "audit", "hostPath": "/var/log/x", "type": "Bogus"}])
    assert result["changed"] is True and "type: Bogus" in (node / APISERVER).read_text()


def test_unknown_kubernetes_version_is_named(node):
    with pytest.raises(sp.ManifestError, match="cannot validate against Kubernetes 9.99: VersionNotSupportedError"):
        apply(node, flags={"--profiling": False}, kubernetes_version="9.99")


def test_missing_kubernetes_validate_says_how_to_fix_it(node, monkeypatch):
    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)
    with pytest.raises(sp.ManifestError, match="pip install kubernetes-validate.*or set validate=false"):
        apply(node, flags={"--profiling": False})
    assert apply(node, flags={"--profiling": False}, validate=False)["changed"] is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: [\n", "not valid YAML \\(line"),
        ("apiVersion: v1\nkind: ConfigMap\n", "is not a Pod manifest"),
    ],
)
def test_unreadable_manifest(node, content, message):
    (node / APISERVER).write_text(content)
    with pytest.raises(sp.ManifestError, match=message):
        apply(node, flags={"--profiling": False})
    assert (node / APISERVER).read_text() == content


def test_missing_manifest(node):
    os.unlink(node / APISERVER)
    with pytest.raises(sp.ManifestError, match="manifest /etc/kubernetes/manifests/kube-apiserver.yaml does not exist"):
        apply(node, flags={"--profiling": False})


# ------------------------------------------------------------------- check mode, backups, the write


def test_check_mode_leaves_every_byte(node):
    before = tree_state(node)
    result = apply(node, flags={"--profiling": False}, volumes=AUDIT_VOLUMES, check_mode=True)
    assert tree_state(node) == before and not (node / BACKUPS).exists()
    assert result["changed"] is True and result["backup_file"] is None
    assert result["flags_after"]["--profiling"] == "false"
    diff = result["diff"]
    assert diff["before"] == before[APISERVER][0].decode()
    assert "    - --profiling=false\n" in diff["after"] and "--profiling" not in diff["before"]
    assert diff["before_header"] == diff["after_header"] == "/etc/kubernetes/manifests/kube-apiserver.yaml"


def test_keys_and_kubeadm_nulls_are_kept(node):
    text = (
        (node / APISERVER)
        .read_text()
        .replace("  name: kube-apiserver\n  namespace: kube-system\n", "  creationTimestamp: null\n  name: kube-apiserver\n  namespace: kube-system\n")
    )
    (node / APISERVER).write_text(text)
    apply(node, flags={"--profiling": False})
    after = (node / APISERVER).read_text()
    assert "  creationTimestamp: null\n" in after and after.endswith("status: {}\n")
    assert after.replace("    - --profiling=false\n", "") == text  # everything else byte-identical
    assert list(pod(node)) == ["apiVersion", "kind", "metadata", "spec", "status"]


def test_backup_goes_outside_the_manifests_directory(node):
    original = (node / APISERVER).read_bytes()
    listing = manifests_listing(node)
    result = apply(node, flags={"--profiling": False})
    backup = Path(result["backup_file"])
    assert backup.parent == node / BACKUPS and backup.name.startswith("kube-apiserver.yaml.")
    assert backup.read_bytes() == original
    assert oct(backup.parent.stat().st_mode)[-3:] == "700"
    assert manifests_listing(node) == listing  # nothing new where the kubelet looks
    assert oct((node / APISERVER).stat().st_mode)[-3:] == "600"  # mode of the manifest kept


@pytest.mark.parametrize("backup_dir", ["/etc/kubernetes/manifests", "/etc/kubernetes/manifests/backups", "/etc/kubernetes/manifests/../manifests/old"])
def test_backup_dir_inside_the_manifests_directory_is_refused(node, backup_dir):
    before = tree_state(node)
    with pytest.raises(sp.ManifestError, match="inside the static pod manifests directory.*second kube-apiserver.yaml"):
        apply(node, flags={"--profiling": False}, backup_dir=backup_dir)
    with pytest.raises(sp.ManifestError, match="inside the static pod manifests directory"):
        apply(node, flags={"--profiling": False}, backup_dir=backup_dir, check_mode=True)
    assert tree_state(node) == before


@pytest.mark.parametrize("target", ["/" + MANIFESTS_DIR, "../" + MANIFESTS_DIR])
def test_backup_dir_symlinked_into_the_manifests_directory_is_refused(node, target):
    """An absolute link is the node's path (followed from the root), as the node itself would follow it."""
    os.symlink(target, node / "var/backups-link")
    with pytest.raises(sp.ManifestError, match="inside the static pod manifests directory"):
        apply(node, flags={"--profiling": False}, backup_dir="/var/backups-link")


def test_no_backup_when_disabled(node):
    result = apply(node, flags={"--profiling": False}, backup_enabled=False, backup_dir="/etc/kubernetes/manifests")
    assert result["changed"] is True and result["backup_file"] is None and not (node / BACKUPS).exists()


def test_temp_file_is_a_dot_file_in_the_manifests_directory(node, monkeypatch):
    seen, rename = [], os.rename

    def move(tmp, real):
        seen.append((tmp, real, sorted(os.listdir(os.path.dirname(real)))))
        rename(tmp, real)

    monkeypatch.setattr(os, "rename", move)
    apply(node, flags={"--profiling": False})
    monkeypatch.undo()
    tmp, real, listing = seen[0]
    assert os.path.dirname(tmp) == os.path.dirname(real) == str(node / MANIFESTS_DIR)
    assert os.path.basename(tmp).startswith(".kubesec-tmp-")  # the kubelet skips dot-files
    assert not os.path.basename(tmp).endswith((".yaml", ".yml", ".json"))
    assert [n for n in listing if not n.startswith(".")] == ["etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]
    assert manifests_listing(node) == ["etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]


def test_a_failed_move_leaves_no_temp_file(node, monkeypatch):
    def move(tmp, real):
        raise OSError(errno.ENOSPC, "No space left on device")

    before = (node / APISERVER).read_bytes()
    monkeypatch.setattr(os, "rename", move)
    with pytest.raises(sp.ManifestError, match="cannot replace /etc/kubernetes/manifests/kube-apiserver.yaml: No space"):
        apply(node, flags={"--profiling": False})
    monkeypatch.undo()
    assert (node / APISERVER).read_bytes() == before
    assert manifests_listing(node) == ["etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["kube-apiserver", "--a=1", "--b", "2", "--profiling", "false"], {"--a": "1", "--b": "2", "--profiling": "true"}),
        (["etcd", "-data-dir=/x", "--client-cert-auth"], {"--data-dir": "/x", "--client-cert-auth": "true"}),
        (["<image entrypoint>", "--x=1", "--x=2", "-", "--"], {"--x": "2"}),
    ],
)
def test_parse_flags(argv, expected):
    assert sp.parse_flags(argv) == expected


_FLAG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=10),
    st.lists(st.one_of(st.text(max_size=5), st.integers(), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    flags=st.dictionaries(
        st.one_of(
            st.from_regex(r"(--)?[a-z][a-z-]{0,12}", fullmatch=True),
            st.sampled_from(["--profiling", "authorization-mode", "--secure-port"]),
            st.text(max_size=14),
        ),
        _FLAG_VALUES,
        max_size=4,
    )
)
def test_any_flag_request_is_applied_or_refused_by_name(node, flags):
    names = [str(n).strip().lstrip("-") for n in flags]
    assume(len(set(names)) == len(names))
    before = (node / APISERVER).read_bytes()
    try:
        result = apply(node, flags=flags, check_mode=True)
    except sp.ManifestError as exc:
        assert str(exc)
        return
    assert (node / APISERVER).read_bytes() == before
    for name, value in flags.items():
        key = sp.normalize_flag_name(name)
        if value is None:
            assert key not in result["flags_after"]
        else:
            assert result["flags_after"][key] == sp.flag_value_text(key, value)


# ------------------------------------------------------------------------------- through real ansible


def run_module(node, args, *extra):
    cmd = [
        str(VENV_BIN / "ansible"),
        "localhost",
        "-c",
        "local",
        "-m",
        "kubesec.cluster.static_pod_manifest",
        "-a",
        json.dumps(dict(args, root=str(node))),
        *extra,
    ]
    env = {**ansible_env(), "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    data = json.loads(proc.stdout)
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.mark.slow
def test_module_check_mode_then_apply_then_idempotent(node):
    args = {
        "flags": {"--profiling": False, "--audit-log-path": "/var/log/kubernetes/audit/audit.log", "--audit-log-maxage": 30},
        "volumes": [{"name": "audit-log", "hostPath": "/var/log/kubernetes/audit/", "type": "DirectoryOrCreate", "readOnly": False}],
    }
    before = tree_state(node)
    check = run_module(node, args, "--check", "--diff")
    assert check["changed"] is True and tree_state(node) == before
    assert "- --audit-log-maxage=30" in check["diff"]["after"] and check["backup_file"] is None
    assert check["flags_after"]["--profiling"] == "false"
    real = run_module(node, args)
    assert real["changed"] is True, real
    assert real["backup_file"].startswith(str(node / BACKUPS))
    assert Path(real["backup_file"]).read_bytes() == before[APISERVER][0]
    assert command(node)[-3:] == ["--profiling=false", "--audit-log-path=/var/log/kubernetes/audit/audit.log", "--audit-log-maxage=30"]
    assert oct((node / APISERVER).stat().st_mode)[-3:] == "600"
    assert manifests_listing(node) == ["etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]
    again = run_module(node, args)
    assert again["changed"] is False and again["backup_file"] is None


@pytest.mark.slow
def test_module_refuses_an_unsafe_backup_dir_and_an_invalid_result(node):
    before = tree_state(node)
    refused = run_module(node, {"flags": {"--profiling": False}, "backup_dir": "/etc/kubernetes/manifests/bak"})
    assert refused.get("failed") is True and "inside the static pod manifests directory" in refused["msg"]
    add_init_container_using(node, "k8s-certs")
    state = tree_state(node)
    invalid = run_module(node, {"volumes": [{"name": "k8s-certs", "state": "absent"}]})
    assert invalid.get("failed") is True and "refusing to write" in invalid["msg"]
    assert tree_state(node) == state and state != before


# ------------------------------------------------------------------ issue 15: never a broken or half-changed node

CONCURRENT_RUN = r"""
import json, sys
from ansible_collections.kubesec.cluster.plugins.module_utils import _static_pod as sp
root, flag, value = sys.argv[1:4]
print(json.dumps(sp.apply(root, flags={flag: value}, validate=False, backup_enabled=False)))
"""


def test_two_runs_at_once_never_lose_a_change(node):
    """Before the checksum guard and the lock, 6 of 6 rounds lost one flag while both runs said changed."""
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    for round_ in range(10):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CONCURRENT_RUN, str(node), flag, str(round_)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
            for flag in ("--audit-log-maxage", "--audit-log-maxbackup")
        ]
        results = [proc.communicate(timeout=120) for proc in procs]
        assert all(proc.returncode == 0 for proc in procs), [err for _out, err in results]
        assert all(json.loads(out)["changed"] for out, _err in results)
        flags = sp.parse_flags(command(node))
        assert (flags["--audit-log-maxage"], flags["--audit-log-maxbackup"]) == (str(round_), str(round_)), round_
    assert manifests_listing(node) == ["etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]


def test_a_change_made_after_the_read_is_never_overwritten(node):
    read = sp.read_for_change(str(node), "/" + APISERVER)
    planned = sp.plan_text(read["text"], "/" + APISERVER, flags={"--profiling": False}, validate=False)
    by_hand = read["text"].replace("- kube-apiserver\n", "- kube-apiserver\n    - --v=4\n", 1)
    (node / APISERVER).write_text(by_hand)
    with pytest.raises(sp.ChangedMeanwhile, match="kube-apiserver.yaml changed after it was read.*nothing was written"):
        sp.write_checked(str(node), "/" + APISERVER, planned["after"], read["sha256"], backup_enabled=False)
    assert (node / APISERVER).read_text() == by_hand


def test_a_change_made_meanwhile_is_planned_again_and_kept(node):
    """change() re-reads after a checksum miss: the other writer's flag and ours both end up in the file."""
    reads = []

    def read():
        current = sp.read_for_change(str(node), "/" + APISERVER)
        if not reads:  # someone else writes right after our first read
            sp.apply(str(node), flags={"--v": 4}, validate=False, backup_enabled=False)
        reads.append(current)
        return current

    def write(content, digest):
        return sp.write_checked(str(node), "/" + APISERVER, content, digest, backup_enabled=False)

    result = sp.change(read, write, "/" + APISERVER, flags={"--profiling": False}, validate=False)
    assert result["changed"] and len(reads) == 2
    flags = sp.parse_flags(command(node))
    assert flags["--v"] == "4" and flags["--profiling"] == "false"


def test_disk_full_removes_the_temp_file_and_names_the_manifest(node):
    script = CONCURRENT_RUN
    before = tree_state(node)

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

    proc = subprocess.run(
        [sys.executable, "-c", script, str(node), "--profiling", "false"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(COLLECTIONS)),
        preexec_fn=small_files,
        timeout=120,
    )
    assert proc.returncode != 0
    assert ("ManifestError: cannot write /etc/kubernetes/manifests/kube-apiserver.yaml: the file would be too large (EFBIG)") in proc.stderr
    assert tree_state(node) == before
    assert manifests_listing(node) == ["etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]


def test_an_absolute_symlink_in_the_node_tree_is_followed_inside_the_root(node):
    os.rename(node / MANIFESTS_DIR, node / "srv-manifests")
    os.symlink("/srv-manifests", node / MANIFESTS_DIR)  # absolute: the node's /srv-manifests, not the host's
    result = apply(node, flags={"--profiling": False}, backup_enabled=False)
    assert result["changed"] and "--profiling=false" in (node / "srv-manifests/kube-apiserver.yaml").read_text()


@pytest.mark.parametrize("path", ["/../kube-apiserver.yaml", "/etc/kubernetes/../../../x.yaml"])
def test_a_manifest_path_leaving_the_root_is_refused(node, path):
    with pytest.raises(sp.ManifestError, match="leaves the node root"):
        apply(node, path=path, flags={"--profiling": False})


def test_an_alias_bomb_manifest_is_refused_fast(node):
    lines = ["apiVersion: v1", "kind: Pod", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += ["a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)) for i in range(1, 9)]
    (node / APISERVER).write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    with pytest.raises(sp.ManifestError, match="alias bomb"):
        apply(node, flags={"--profiling": False})
    assert time.monotonic() - started < 2
    assert sp.manifest_flags(str(node), "/" + APISERVER)["error"].endswith("(an alias bomb?); refused")


@pytest.mark.slow
def test_module_escapes_control_characters_from_the_manifest(node):
    (node / APISERVER).write_text('apiVersion: v1\nkind: "\\e[2J\\e]0;pwned\\a"\n')
    result = run_module(node, {"flags": {"--profiling": False}})
    assert result.get("failed") is True and "\x1b" not in result["msg"] and "\x07" not in result["msg"]
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in result["msg"]


def test_node_write_step_refuses_a_stale_checksum(node):
    """The node half alone: step=write with the checksum of an older text writes nothing and says why."""
    read = sp.read_for_change(str(node), "/" + APISERVER)
    (node / APISERVER).write_text(read["text"] + "# edited by hand\n")
    args = {"root": str(node), "step": "write", "content": "kind: Pod\n", "expected_sha256": read["sha256"], "backup": False}
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.kubesec.cluster.plugins.modules.static_pod_manifest"],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(COLLECTIONS)),
    )
    result = json.loads(proc.stdout)
    assert result["failed"] and result["changed_meanwhile"] is True and "nothing was written" in result["msg"]
    assert (node / APISERVER).read_text().endswith("# edited by hand\n")


@pytest.mark.slow
def test_two_ansible_runs_at_once_both_land(node):
    """Through the action plugin: read, plan on the controller, guarded write, re-plan on a checksum miss."""

    def start(flag, value):
        cmd = [
            str(VENV_BIN / "ansible"),
            "localhost",
            "-c",
            "local",
            "-m",
            "kubesec.cluster.static_pod_manifest",
            "-a",
            json.dumps({"root": str(node), "flags": {flag: value}, "backup": False}),
        ]
        env = {**ansible_env(), "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    for round_ in range(3):
        procs = [start("--audit-log-maxage", round_), start("--audit-log-maxbackup", round_)]
        results = [json.loads(p.communicate(timeout=300)[0])["plays"][0]["tasks"][0]["hosts"]["localhost"] for p in procs]
        assert all(r["changed"] and not r.get("failed") for r in results), results
        flags = sp.parse_flags(command(node))
        assert (flags["--audit-log-maxage"], flags["--audit-log-maxbackup"]) == (str(round_), str(round_))
