# -*- coding: utf-8 -*-
"""_helm_chart without a real helm: bad input gives a clear error naming the input (the real renders are in
tests/integration/test_helm_charts.py)."""

import io
import tarfile

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _gitops
from ansible_collections.kubesec.cluster.plugins.module_utils import _helm_chart as hc
from ansible_collections.kubesec.cluster.plugins.modules import feature_values


def _tgz(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_local_chart_version_from_tgz_and_directory(tmp_path):
    assert hc.local_chart_version(
        str(_tgz(tmp_path / "c.tgz", {"falco/Chart.yaml": "name: falco\nversion: 9.1.0\n", "falco/charts/x/Chart.yaml": "name: x\nversion: 1\n"}))
    ) == ("falco", "9.1.0")
    (tmp_path / "d").mkdir()
    (tmp_path / "d/Chart.yaml").write_text("name: trivy-operator\nversion: 0.34.0\n")
    assert hc.local_chart_version(str(tmp_path / "d")) == ("trivy-operator", "0.34.0")


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"README": "x"}, "holds no <chart>/Chart.yaml"),
        ({"falco/Chart.yaml": "description: no name\n"}, "has no name/version"),
        ({"falco/Chart.yaml": "name: [unclosed\n"}, "cannot read the chart"),
    ],
)
def test_bad_local_charts_are_named(tmp_path, members, message):
    path = str(_tgz(tmp_path / "bad.tgz", members))
    with pytest.raises(hc.HelmError, match=message) as info:
        hc.local_chart_version(path)
    assert "bad.tgz" in str(info.value)


def test_missing_chart_path_and_not_a_tarball(tmp_path):
    with pytest.raises(hc.HelmError, match="does not exist"):
        hc.local_chart_version(str(tmp_path / "nope.tgz"))
    (tmp_path / "junk.tgz").write_bytes(b"not a tarball")
    with pytest.raises(hc.HelmError, match="cannot read the chart at .*junk.tgz"):
        hc.local_chart_version(str(tmp_path / "junk.tgz"))


def test_helm_binary_must_be_executable(tmp_path):
    (tmp_path / "helm").write_text("#!/bin/sh\n")
    with pytest.raises(hc.HelmError, match="helm_binary: .* is not an executable file"):
        hc.find_helm(str(tmp_path / "helm"))


def test_helm_failure_carries_helms_message(tmp_path):
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho 'Error: execution error at (falco/templates/daemonset.yaml:21:8): nope' >&2\nexit 1\n")
    fake.chmod(0o755)
    chart = _tgz(tmp_path / "falco-9.1.0.tgz", {"falco/Chart.yaml": "name: falco\nversion: 9.1.0\n"})
    with pytest.raises(hc.HelmError, match=r"helm template of falco 9.1.0 rejects the values: Error: execution error"):
        hc.template(str(fake), "falco", "falco", "falco", {}, version="9.1.0", chart_path=str(chart))


def test_parse_refuses_what_is_not_a_kubernetes_object():
    with pytest.raises(hc.HelmError, match="document #1 is not a Kubernetes object"):
        hc.parse_manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n- just a list\n")


def test_always_without_helm_fails_and_auto_skips(monkeypatch):
    monkeypatch.setattr(hc.shutil, "which", lambda name: None)
    params = {
        "feature": "falco",
        "config": {"enabled": True},
        "cluster": "prod",
        "dest": None,
        "release_name": None,
        "namespace": None,
        "chart_version": None,
        "chart_repo_url": None,
        "extra_values": {},
        "chart_path": None,
        "helm_template": "always",
        "helm_binary": None,
        "gitops": dict(_gitops.DEFAULT_GITOPS),
    }
    with pytest.raises(_gitops.FeatureError, match="helm_template=always but no helm binary"):
        feature_values.render(params)
    result, files = feature_values.render(dict(params, helm_template="auto"))
    assert result["helm"] == {"rendered": False, "reason": "no helm binary on the controller"}
    assert "manifests.yaml" not in files
