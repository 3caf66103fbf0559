"""Issue 19 (fleet): the per-cluster host selection filters, AWX slicing and the in-process run file writer."""

from __future__ import annotations

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kubesec.cluster.plugins.filter.fleet import cluster_hosts, cluster_leaders, collect_hosts
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue, _run_files
from benchmarks.fleet.slicing import awx_slices

HOSTVARS = {
    "a-cp-1": {"kubesec_cluster": "a"},
    "a-worker-1": {"kubesec_cluster": "a"},
    "a-worker-2": {"kubesec_cluster": "a"},
    "b-cp-1": {"kubesec_cluster": "b", "kubesec_collect": {"kube_bench": {"mode": "read", "dir": "/x"}}},
    "b-worker-1": {"kubesec_cluster": "b", "kubesec_collect": {"kube_bench": {"mode": "read", "dir": "/x"}}},
    "localhost": {},
}


def test_cluster_hosts_groups_by_cluster_in_play_order():
    play = ["b-worker-1", "a-cp-1", "localhost", "a-worker-2", "b-cp-1", "a-worker-1"]
    assert cluster_hosts(play, HOSTVARS) == {"b": ["b-worker-1", "b-cp-1"], "a": ["a-cp-1", "a-worker-2", "a-worker-1"]}
    assert cluster_leaders(cluster_hosts(play, HOSTVARS)) == ["b-worker-1", "a-cp-1"]


def test_collect_hosts_keeps_every_node_of_a_cluster_with_kube_bench_only():
    clusters = cluster_hosts(list(HOSTVARS), HOSTVARS)
    assert collect_hosts(clusters, HOSTVARS) == ["a-cp-1", "b-cp-1", "b-worker-1"]


@pytest.mark.parametrize(
    "given, per_node",
    [
        (True, True),
        ("yes", True),
        (False, False),
        ({}, True),
        ({"enabled": False}, False),
        ({"enabled": "false", "mode": "run"}, False),
        ({"mode": "job"}, True),
    ],
)
def test_kube_bench_settings_as_the_collect_role_reads_them(given, per_node):
    hostvars = {"c-1": {"kubesec_cluster": "c", "kubesec_collect": {"kube_bench": given}}, "c-2": {"kubesec_cluster": "c"}}
    assert collect_hosts(cluster_hosts(["c-1", "c-2"], hostvars), hostvars) == (["c-1", "c-2"] if per_node else ["c-1"])


def test_the_role_twin_collect_sources_wins_over_kubesec_collect():
    hostvars = {
        "c-1": {"kubesec_cluster": "c", "kubesec_collect": {"kube_bench": True}, "collect_sources": {"kube_bench": False}},
        "c-2": {"kubesec_cluster": "c"},
    }
    assert collect_hosts(cluster_hosts(["c-1", "c-2"], hostvars), hostvars) == ["c-1"]


@pytest.mark.parametrize(
    "play, hostvars, message",
    [
        ("a-cp-1", HOSTVARS, "expects the list of the play's hosts"),
        (["nowhere"], HOSTVARS, "host 'nowhere' is not in hostvars"),
        (["x"], {"x": {"kubesec_cluster": ["a"]}}, "kubesec_cluster of host 'x' must be a string"),
    ],
)
def test_cluster_hosts_names_bad_input(play, hostvars, message):
    with pytest.raises(AnsibleFilterError, match=message):
        cluster_hosts(play, hostvars)


def test_collect_hosts_names_a_kube_bench_value_it_cannot_read():
    hostvars = {"x": {"kubesec_cluster": "c", "kubesec_collect": {"kube_bench": {"enabled": "maybe"}}}}
    with pytest.raises(AnsibleFilterError, match="kube_bench of host 'x'"):
        collect_hosts({"c": ["x"]}, hostvars)


def test_awx_slices_are_every_nth_host_by_name():
    hosts = ["c-worker-2", "a-cp-1", "b-cp-1", "a-worker-1", "c-cp-1"]
    assert awx_slices(hosts, 2) == [["a-cp-1", "b-cp-1", "c-worker-2"], ["a-worker-1", "c-cp-1"]]
    assert awx_slices(hosts, 1) == [sorted(hosts)]
    with pytest.raises(ValueError):
        awx_slices(hosts, 0)


def test_run_files_writes_changed_files_only_inside_dest(tmp_path):
    files = [{"path": "meta/sources.json", "content": '{"a": 1}\n'}, {"path": "findings/x.json", "content": "[]\n"}]
    planned = _run_files.plan(str(tmp_path), files, ["findings", "meta", "rendered"])
    assert [p["changed"] for p in planned] == [True, True]
    assert _run_files.missing_directories(str(tmp_path), ["findings", "meta"]) == ["findings", "meta"]
    assert _run_files.write(str(tmp_path), planned, ["findings", "meta", "rendered"], 0o640, 0o750) == ["meta/sources.json", "findings/x.json"]
    assert (tmp_path / "meta/sources.json").read_text() == '{"a": 1}\n'
    assert oct((tmp_path / "findings/x.json").stat().st_mode)[-3:] == "640"
    assert (tmp_path / "rendered").is_dir()
    inode = (tmp_path / "findings/x.json").stat().st_ino
    files[0]["content"] = '{"a": 2}\n'
    again = _run_files.plan(str(tmp_path), files, [])
    assert [p["changed"] for p in again] == [True, False]
    assert _run_files.diff(again) == [
        {
            "before_header": str(tmp_path / "meta/sources.json"),
            "after_header": str(tmp_path / "meta/sources.json"),
            "before": '{"a": 1}\n',
            "after": '{"a": 2}\n',
        }
    ]
    assert _run_files.write(str(tmp_path), again, [], 0o640, 0o750) == ["meta/sources.json"]
    assert (tmp_path / "findings/x.json").stat().st_ino == inode  # unchanged: not rewritten


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"path": "../x.json", "content": ""}, r"files\[1\]: '../x.json' leaves"),
        ({"path": "/etc/passwd", "content": ""}, r"files\[1\]: '/etc/passwd' must be a non-empty path relative"),
        ({"path": "", "content": ""}, r"files\[1\]: '' must be a non-empty path"),
        ({"path": "meta/a.json", "content": {"a": 1}}, r"files\[1\] \(meta/a.json\): content must be a string"),
        ({"path": "ok.json", "content": ""}, r"files\[1\]: ok.json is given twice"),
    ],
)
def test_run_files_refuses_entries_it_cannot_write_and_names_them(tmp_path, entry, message):
    with pytest.raises(_run_files.RunFilesError, match=message):
        _run_files.plan(str(tmp_path), [{"path": "ok.json", "content": ""}, entry], [])
    assert not os.listdir(tmp_path)


def test_catalogue_preload_fills_the_cache_and_leaves_a_broken_file_to_its_task(tmp_path):
    good = os.path.join(_catalogue.CATALOGUE_DIR, "cis-1.12.yml")
    (tmp_path / "cis-1.12.yml").write_bytes(open(good, "rb").read())
    (tmp_path / "cis-9.9.yml").write_text("checks: not a list\n")
    assert _catalogue.preload(str(tmp_path)) == ["cis-1.12"]
    assert str(tmp_path / "cis-1.12.yml") in _catalogue._CACHE
    with pytest.raises(_catalogue.CatalogueNotFound, match="cis-9.9.yml"):
        _catalogue.load("cis-9.9", str(tmp_path))
