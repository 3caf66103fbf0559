"""k3s / RKE2 node settings (issue 18, step 3 groundwork): config file, .d drop-ins, command line, *-arg lists.

Inputs are in the formats the k3s docs ("Configuration File", "Multiple Config Files") and k3s
pkg/configfilearg describe; the multi-file example and its documented result are the oracle.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _rancher


def write(root: Path, path: str, text: str):
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


DOCS_EXAMPLE = {
    "/etc/rancher/k3s/config.yaml": "token: boop\nnode-label:\n  - foo=bar\n  - bar=baz\n",
    "/etc/rancher/k3s/config.yaml.d/test1.yaml": "write-kubeconfig-mode: 600\nnode-taint:\n  - alice=bob:NoExecute\n",
    "/etc/rancher/k3s/config.yaml.d/test2.yaml": (
        "write-kubeconfig-mode: 777\nnode-label:\n  - other=what\n  - foo=three\nnode-taint+:\n  - charlie=delta:NoSchedule\n"
    ),
    # not read: wrong suffix, and a directory
    "/etc/rancher/k3s/config.yaml.d/notes.txt": "token: not-this\n",
    "/etc/rancher/k3s/config.yaml.d/sub.yaml/x.yaml": "token: nor-this\n",
}


def test_docs_multiple_config_files_example(tmp_path):
    for path, text in DOCS_EXAMPLE.items():
        write(tmp_path, path, text)
    files = _rancher.config_files(str(tmp_path), "/etc/rancher/k3s/config.yaml")
    assert files == ["/etc/rancher/k3s/config.yaml", "/etc/rancher/k3s/config.yaml.d/test1.yaml", "/etc/rancher/k3s/config.yaml.d/test2.yaml"]
    values, sources = _rancher.merge_config(str(tmp_path), files)
    # the documented final configuration
    assert values == {
        "token": "boop",
        "node-label": ["other=what", "foo=three"],
        "write-kubeconfig-mode": 777,
        "node-taint": ["alice=bob:NoExecute", "charlie=delta:NoSchedule"],
    }
    assert sources["write-kubeconfig-mode"].endswith("test2.yaml")
    assert sources["node-taint"] == ["/etc/rancher/k3s/config.yaml.d/test1.yaml", "/etc/rancher/k3s/config.yaml.d/test2.yaml"]


def test_kubelet_and_apiserver_flags_from_config_dropins_and_command_line(tmp_path):
    write(
        tmp_path,
        "/etc/rancher/rke2/config.yaml",
        "profile: cis\nkubelet-arg:\n  - anonymous-auth=true\n  - read-only-port=10255\nkube-apiserver-arg:\n  - profiling=true\n",
    )
    write(tmp_path, "/etc/rancher/rke2/config.yaml.d/50-hardening.yaml", "kubelet-arg+:\n  - anonymous-auth=false\nkube-apiserver-arg+: audit-log-maxage=30\n")
    argv = ["/usr/bin/rke2", "server", "--kubelet-arg=read-only-port=0", "--kubelet-arg", "protect-kernel-defaults"]
    got = _rancher.effective_args(str(tmp_path), "rke2", argv)
    assert got["subcommand"] == "server" and got["config_file"] == "/etc/rancher/rke2/config.yaml"
    assert got["args"][:2] == ["/usr/bin/rke2", "server"] and got["args"][-1] == "protect-kernel-defaults"
    kubelet = _rancher.component_flags(got["args"], "kubelet")
    # drop-in appended after config.yaml (wins), the command line comes last (wins over both)
    assert kubelet == {"--anonymous-auth": "false", "--read-only-port": "0", "--protect-kernel-defaults": "true"}
    assert _rancher.component_flags(got["args"], "kube-apiserver") == {"--profiling": "true", "--audit-log-maxage": "30"}


def test_config_file_from_command_line_or_environment(tmp_path):
    write(tmp_path, "/opt/k3s.yaml", "kubelet-arg: [anonymous-auth=false]\n")
    write(tmp_path, "/opt/k3s.yaml.d/10.yml", "kubelet-arg+: [seccomp-default=true]\n")
    for argv, env in (
        (["k3s", "agent", "--config", "/opt/k3s.yaml"], None),
        (["k3s", "agent", "-c=/opt/k3s.yaml"], None),
        (["k3s", "agent"], {"K3S_CONFIG_FILE": "/opt/k3s.yaml"}),
    ):
        got = _rancher.effective_args(str(tmp_path), "k3s", argv, env)
        assert got["files"] == ["/opt/k3s.yaml", "/opt/k3s.yaml.d/10.yml"], argv
        assert _rancher.component_flags(got["args"], "kubelet") == {"--anonymous-auth": "false", "--seccomp-default": "true"}
    # no config file anywhere: only the command line
    got = _rancher.effective_args(str(tmp_path / "empty"), "k3s", ["k3s", "server", "--kubelet-arg=v=2"])
    assert got["files"] == [] and _rancher.component_flags(got["args"], "kubelet") == {"--v": "2"}


def test_dropins_without_config_file(tmp_path):
    write(tmp_path, "/etc/rancher/k3s/config.yaml.d/a.YAML", "kube-apiserver-arg: [anonymous-auth=false]\n")
    got = _rancher.effective_args(str(tmp_path), "k3s", ["k3s", "server"])
    assert got["files"] == ["/etc/rancher/k3s/config.yaml.d/a.YAML"]
    assert _rancher.component_flags(got["args"], "kube-apiserver") == {"--anonymous-auth": "false"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("kubelet-arg: [a=1\n", "config.yaml is not valid YAML"),
        ("- kubelet-arg=a=1\n", "config.yaml must be a mapping of option: value, not list"),
    ],
)
def test_bad_config_is_named(tmp_path, text, message):
    write(tmp_path, "/etc/rancher/k3s/config.yaml", text)
    with pytest.raises(_rancher.RancherConfigError, match=message):
        _rancher.effective_args(str(tmp_path), "k3s", ["k3s", "server"])


def test_bad_arg_item_and_unknown_component():
    with pytest.raises(_rancher.RancherConfigError, match="kubelet-arg item '=1' has no flag name"):
        _rancher.component_flags(["k3s", "--kubelet-arg==1"], "kubelet")
    with pytest.raises(_rancher.RancherConfigError, match="no k3s/rke2 argument list for component 'kubectl'"):
        _rancher.component_flags([], "kubectl")


def test_detect_from_installer_files(tmp_path):
    assert _rancher.detect(str(tmp_path)) is None
    (tmp_path / "var/lib/rancher/rke2/agent").mkdir(parents=True)
    assert _rancher.detect(str(tmp_path)) == "rke2"
    (tmp_path / "var/lib/rancher/k3s").mkdir(parents=True)
    assert _rancher.detect(str(tmp_path)) is None  # both and no config file: undecided
    write(tmp_path, "/etc/rancher/k3s/config.yaml", "{}\n")
    assert _rancher.detect(str(tmp_path)) == "k3s"


def test_alias_bomb_is_refused_by_name(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        "%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n" % ((chr(98 + i), chr(98 + i)) + (chr(97 + i),) * 10) for i in range(8)
    )
    write(tmp_path, "/etc/rancher/k3s/config.yaml", bomb)
    with pytest.raises(_rancher.RancherConfigError, match="/etc/rancher/k3s/config.yaml is not valid YAML"):
        _rancher.effective_args(str(tmp_path), "k3s", ["k3s", "server"])
