"""Issue 18: hardening k3s / RKE2 through kubesec's own config.yaml.d drop-in (_rancher.plan_dropin).

The trees are tests/testbed/trees/rancher.yml (what install.sh and the first start write); the oracle for what a
drop-in does is the k3s config parser as _rancher and the audit read it, and the audit itself (the finding turns
from WARN/FAIL to PASS after the planned drop-in is written)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis, _nodewrite, _rancher
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue
from tests.testbed.nodetree import materialize

K3S_ARGV = ["/usr/local/bin/k3s", "server"]
DROPIN = "/etc/rancher/k3s/config.yaml.d/90-kubesec.yaml"
HARDEN = {
    "kubelet": {
        "--read-only-port": 0,
        "--pod-max-pids": 4096,
        "--seccomp-default": True,
        "--tls-cipher-suites": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
    }
}


def tree(tmp_path: Path, profile: str) -> Path:
    root = tmp_path / profile
    materialize(root, "rancher:" + profile, node="n1")
    return root


def write(plan: dict) -> None:
    for change in plan["changes"]:
        Path(change["real"]).parent.mkdir(parents=True, exist_ok=True)
    _nodewrite.write_set(plan["changes"])


def statuses(root: Path, catalogue: str = "k3s-cis-1.12") -> dict[str, str]:
    findings, _ = _cis.audit_node(str(root), _catalogue.load(catalogue), node="n1")
    return {f["id"][4:]: f["status"] for f in findings}


def test_default_k3s_node_gets_a_new_dropin_the_audit_then_passes(tmp_path):
    root = tree(tmp_path, "k3s-default")
    before = statuses(root)
    assert {before[c] for c in ("4.2.12", "4.2.13", "4.2.14")} == {"warn"}
    plan = _rancher.plan_dropin(str(root), "k3s", K3S_ARGV, HARDEN)
    assert plan["dropin"] == DROPIN and plan["created"] and plan["config_file"] == "/etc/rancher/k3s/config.yaml"
    assert len(plan["changes"]) == 1 and plan["changes"][0]["before"] == ""
    text = plan["changes"][0]["after"]
    # what k3s parses from it: one appended kubelet-arg list, values comma-joined and quoted
    assert yaml.safe_load(text) == {
        "kubelet-arg+": [
            "pod-max-pids=4096",
            "read-only-port=0",
            "seccomp-default=true",
            "tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ]
    }
    write(plan)
    after = statuses(root)
    assert {after[c] for c in ("4.2.4", "4.2.12", "4.2.13", "4.2.14")} == {"pass"}
    # config.yaml was not created, the drop-in is 0600
    assert not (root / "etc/rancher/k3s/config.yaml").exists()
    assert (root / DROPIN.lstrip("/")).stat().st_mode & 0o777 == 0o600
    # idempotent: planning again changes nothing
    again = _rancher.plan_dropin(str(root), "k3s", K3S_ARGV, HARDEN)
    assert again["changes"] == [] and again["args_set"] == [] and not again["created"]


def test_operator_config_is_left_alone_and_overridden_items_are_named(tmp_path):
    root = tree(tmp_path, "k3s-config")
    config = (root / "etc/rancher/k3s/config.yaml").read_text()
    plan = _rancher.plan_dropin(str(root), "k3s", K3S_ARGV, HARDEN)
    # config.yaml says read-only-port=10255: kubesec's drop-in (90-, after 50-hardening.yaml) appends =0, which wins
    assert plan["overridden"] == ["kubelet --read-only-port=10255"]
    assert [c["path"] for c in plan["changes"]] == [DROPIN]
    write(plan)
    assert (root / "etc/rancher/k3s/config.yaml").read_text() == config
    assert statuses(root)["4.2.4"] == "pass"


def test_other_flags_in_the_dropin_are_kept_and_none_removes(tmp_path):
    root = tree(tmp_path, "k3s-default")
    write(_rancher.plan_dropin(str(root), "k3s", K3S_ARGV, HARDEN))
    plan = _rancher.plan_dropin(
        str(root), "k3s", K3S_ARGV, {"kubelet": {"--seccomp-default": None}, "kube-proxy": {"--metrics-bind-address": "127.0.0.1:10249"}}
    )
    data = yaml.safe_load(plan["changes"][0]["after"])
    assert "seccomp-default=true" not in data["kubelet-arg+"] and "read-only-port=0" in data["kubelet-arg+"]
    assert data["kube-proxy-arg+"] == ["metrics-bind-address=127.0.0.1:10249"]
    assert plan["args_removed"] == ["kubelet --seccomp-default"]


def test_feature_gates_merge_with_what_the_process_has(tmp_path):
    root = tree(tmp_path, "k3s-default")
    (root / "etc/rancher/k3s/config.yaml").write_text("kubelet-arg:\n  - feature-gates=SomeGate=false\n")
    plan = _rancher.plan_dropin(str(root), "k3s", K3S_ARGV, {"kubelet": {"--feature-gates": {"RotateKubeletServerCertificate": True}}})
    assert yaml.safe_load(plan["changes"][0]["after"])["kubelet-arg+"] == ["feature-gates=SomeGate=false,RotateKubeletServerCertificate=true"]


def test_a_later_dropin_that_replaces_the_list_is_named_and_nothing_is_planned(tmp_path):
    root = tree(tmp_path, "k3s-default")
    later = root / "etc/rancher/k3s/config.yaml.d/99-site.yaml"
    later.parent.mkdir(parents=True)
    later.write_text("kubelet-arg:\n  - read-only-port=10255\n")
    with pytest.raises(_rancher.RancherConfigError, match=r"read-only-port=0: .*99-site.yaml, which sets kubelet-arg"):
        _rancher.plan_dropin(str(root), "k3s", K3S_ARGV, HARDEN)


def test_the_command_line_wins_and_is_named(tmp_path):
    root = tree(tmp_path, "k3s-default")
    argv = [*K3S_ARGV, "--kubelet-arg=read-only-port=10255"]
    with pytest.raises(_rancher.RancherConfigError, match="k3s command line"):
        _rancher.plan_dropin(str(root), "k3s", argv, HARDEN)


def test_config_file_from_the_environment(tmp_path):
    root = tree(tmp_path, "k3s-default")
    plan = _rancher.plan_dropin(str(root), "k3s", K3S_ARGV, HARDEN, env={"K3S_CONFIG_FILE": "/etc/k3s/main.yaml"})
    assert plan["dropin"] == "/etc/k3s/main.yaml.d/90-kubesec.yaml"


@pytest.mark.parametrize(
    "text, message",
    [
        ("token: secret\n", "holds 'token', which kubesec does not write"),
        ("kubelet-arg+:\n  - no-equals\n", "is not name=value"),
        ("kubelet-arg+: [a=b\n", "not valid YAML"),
    ],
)
def test_a_dropin_kubesec_did_not_write_is_refused_by_name(tmp_path, text, message):
    root = tree(tmp_path, "k3s-default")
    path = root / DROPIN.lstrip("/")
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(_rancher.RancherConfigError, match=message) as err:
        _rancher.plan_dropin(str(root), "k3s", K3S_ARGV, HARDEN)
    assert "90-kubesec.yaml" in str(err.value)
    assert "secret" not in str(err.value)


def test_bad_names_and_values_are_refused(tmp_path):
    root = tree(tmp_path, "k3s-default")
    with pytest.raises(_rancher.RancherConfigError, match="plain \\*.yaml file name"):
        _rancher.plan_dropin(str(root), "k3s", K3S_ARGV, HARDEN, name="../config.yaml")
    with pytest.raises(_rancher.RancherConfigError, match="--name"):
        _rancher.plan_dropin(str(root), "k3s", K3S_ARGV, {"kubelet": {"read-only-port": 0}})
    with pytest.raises(_rancher.RancherConfigError, match="control characters"):
        _rancher.plan_dropin(str(root), "k3s", K3S_ARGV, {"kubelet": {"--node-labels": "a\nkubelet-arg: x"}})
    with pytest.raises(_rancher.RancherConfigError, match="component 'kubectl'"):
        _rancher.plan_dropin(str(root), "k3s", K3S_ARGV, {"kubectl": {"--x": 1}})


def test_rke2_default_node(tmp_path):
    root = tree(tmp_path, "rke2-default")
    plan = _rancher.plan_dropin(str(root), "rke2", ["/usr/local/bin/rke2", "server"], HARDEN)
    assert plan["dropin"] == "/etc/rancher/rke2/config.yaml.d/90-kubesec.yaml"
    write(plan)
    after = statuses(root, "rke2-cis-1.12")
    assert {after[c] for c in ("4.2.4", "4.2.12", "4.2.13", "4.2.14")} == {"pass"}


# ------------------------------------------------------------------ the module, as a process (check mode, backup)

MODULE = "ansible_collections.kubesec.cluster.plugins.modules.rancher_config"
COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"


def run(root: Path, args: dict, check: bool = False) -> dict:
    import json
    import os
    import subprocess
    import sys

    payload = dict(args, root=str(root), _ansible_check_mode=check, _ansible_diff=True)
    out = subprocess.run(
        [sys.executable, "-m", MODULE],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": payload}),
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(COLLECTIONS)),
        timeout=120,
    )
    return json.loads(out.stdout)


def files(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode) for p in sorted(root.rglob("*")) if p.is_file()}


def test_module_check_mode_create_backup_and_refusal(tmp_path):
    root = tree(tmp_path, "k3s-default")
    args = {"distribution": "k3s", "args": HARDEN, "backup_dir": "/var/lib/kubesec/kubelet-backups"}
    before = files(root)
    check = run(root, args, check=True)
    assert check["changed"] and check["files_created"] == [DROPIN] and check["service"] == "k3s.service"
    assert files(root) == before and not (root / "etc/rancher/k3s/config.yaml.d").exists()  # not one byte
    assert "kubelet-arg+:" in check["diff"][0]["after"]
    first = run(root, args)
    assert first["changed"] and first["files_created"] == [DROPIN] and "backup_files" not in first
    # a second change backs up the drop-in outside config.yaml.d (k3s would read a copy left there)
    second = run(root, dict(args, args={"kubelet": {"--pod-max-pids": 2048}}))
    assert second["files_created"] == [] and second["args_set"] == ["kubelet --pod-max-pids=2048"]
    (backup,) = second["backup_files"].values()
    assert "/var/lib/kubesec/kubelet-backups/etc_rancher_k3s_config.yaml.d_90-kubesec.yaml." in backup
    assert "pod-max-pids=4096" in Path(backup).read_text()
    assert [p.name for p in (root / "etc/rancher/k3s/config.yaml.d").iterdir()] == ["90-kubesec.yaml"]  # no lock left
    # a later drop-in that replaces the list: refused by name, nothing written
    later = root / "etc/rancher/k3s/config.yaml.d/99-site.yaml"
    later.write_text("kubelet-arg:\n  - pod-max-pids=100\n")
    now = files(root)
    refused = run(root, dict(args, args={"kubelet": {"--pod-max-pids": 4096}}))
    assert refused["failed"] and "99-site.yaml" in refused["msg"] and files(root) == now
