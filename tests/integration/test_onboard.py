# -*- coding: utf-8 -*-
"""playbooks/onboard.yml and kubesec.cluster.cluster_facts.

* The decision (version -> kube-bench profile -> our catalogue, distribution from node files and API evidence) is
  table-tested on the module_utils directly.
* The playbook runs on the demo inventory (local connection, no root) with the API check off.
* On the SSH test hosts (tests/testbed): every node probed over real SSH, one extra inventory host whose
  ProxyCommand enters a network namespace that does not exist (an unreachable node, nothing leaves loopback), a
  FAKE kubelet (a shell script named kubesec-FAKE-kubelet printing `Kubernetes v1.33.1`, put in one node's
  /var/lib/kubelet and named with kubesec_kubelet_version_commands: the test hosts have no kubelet binary), and the
  API check against the FAKE API server of tests/fakes (its /version, Nodes and ConfigMaps), never a real cluster.
"""

import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _cluster_facts as cf
from tests.conftest import ansible_env
from tests.fakes.fixtures import fake_kube_api, fake_kubeconfig  # noqa: F401  (pytest fixtures)
from tests.fakes.kube_api import FakeKubeAPI
from tests.testbed.fixtures import testbed_fixture  # noqa: F401  (pytest fixture `testbed`)

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "onboard.yml"
ANSIBLE_PLAYBOOK = pathlib.Path(sys.executable).parent / "ansible-playbook"
FAKE_KUBELET = "kubesec-FAKE-kubelet"  # TEST ONLY: a shell script standing in for the kubelet binary


# ---------------------------------------------------------------------------------------------- the decision
def _probe(distribution_files=(), kubelet=None):
    markers = dict((key, key in distribution_files) for key in cf.MARKERS)
    dist, role, evidence = cf.distribution_from_markers(markers)
    return {
        "changed": False,
        "node": {
            "distribution": dist,
            "role": role,
            "evidence": evidence,
            "markers": markers,
            "kubelet": {"version": kubelet, "minor": cf.parse_version(kubelet)["minor"], "command": "/usr/bin/kubelet"} if kubelet else None,
            "kubelet_tried": [] if kubelet else ["kubelet: not found"],
        },
    }


def _api(git_version, labels=None, provider_id="", kubeadm_config=None):
    return {
        "checked": True,
        "reachable": True,
        "where": "kubeconfig k",
        "server": "http://127.0.0.1:1",
        "version": {"git_version": git_version, "platform": "linux/amd64"},
        "error": None,
        "nodes_error": None,
        "kubeadm_config": kubeadm_config,
        "nodes": [{"name": "n1", "labels": labels or {}, "provider_id": provider_id, "kubelet_version": git_version}],
    }


KUBEADM = ("kubeadm_manifests", "kubeadm_dropin", "kubeadm_kubelet_conf")


@pytest.mark.parametrize(
    "nodes, api, expected",
    [
        # kubelet only: 1.33 -> cis-1.12 for kube-bench and for us
        (
            {"w1": _probe(KUBEADM, "v1.33.1")},
            None,
            {"kubernetes_version": "v1.33.1", "version_source": "kubelet", "distribution": "kubeadm", "profile": "cis-1.12", "catalogue": "cis-1.12"},
        ),
        # the API wins over the kubelets; 1.30 -> cis-1.11
        (
            {"w1": _probe(KUBEADM, "v1.29.9")},
            _api("v1.30.4", kubeadm_config=True),
            {"kubernetes_version": "v1.30.4", "version_source": "api", "distribution": "kubeadm", "profile": "cis-1.11", "catalogue": "cis-1.11"},
        ),
        # 1.28: kube-bench and we use cis-1.10 (issue 18: it used to fall back to cis-1.11 with a note)
        ({"w1": _probe(KUBEADM, "v1.28.2")}, None, {"profile": "cis-1.10", "catalogue": "cis-1.10"}),
        # 1.27: kube-bench's cis-1.9, which we do not ship: our oldest catalogue, with a note
        ({"w1": _probe(KUBEADM, "v1.27.16")}, None, {"profile": "cis-1.9", "catalogue": "cis-1.10", "note": "no cis-1.9 catalogue"}),
        # newer than the mapping: kube-bench's newest mapping, our newest catalogue
        ({"w1": _probe(KUBEADM, "v1.36.0")}, None, {"profile": "cis-1.12", "catalogue": "cis-1.12"}),
        # k3s from node files and the +k3s build: the closest k3s variant kube-bench ships; for us the k3s catalogue
        # (issue 18: it used to be the generic cis-1.12 with a note that the files would be reported missing)
        (
            {"s1": _probe(("k3s_config", "k3s_data", "k3s_server"), "v1.33.1+k3s1")},
            None,
            {
                "distribution": "k3s",
                "profile": "k3s-cis-1.9",
                "generic": "cis-1.12",
                "catalogue": "k3s-cis-1.12",
                "note": "k3s layout: the node audit uses k3s-cis-1.12",
            },
        ),
        ({"s1": _probe(("k3s_config",), "v1.25.9+k3s1")}, None, {"distribution": "k3s", "profile": "k3s-cis-1.7"}),
        # rke2 from the API build string, even without node files; the RKE2 catalogue for us (issue 18: was cis-1.11)
        (
            {"s1": _probe((), None)},
            _api("v1.31.2+rke2r1"),
            {
                "distribution": "rke2",
                "profile": "rke2-cis-1.8",
                "generic": "cis-1.11",
                "catalogue": "rke2-cis-1.12",
                "note": "rke2 layout: the node audit uses rke2-cis-1.12",
            },
        ),
        # managed services from node labels / build strings
        (
            {},
            _api("v1.32.3-eks-4096722", labels={"eks.amazonaws.com/nodegroup": "ng-1"}, provider_id="aws:///eu-west-1a/i-1"),
            # a managed node pool is audited against its provider's node catalogue (issue 18)
            {"distribution": "eks", "managed": True, "profile": "eks-1.8.0", "catalogue": "eks-cis-1.8.0"},
        ),
        ({}, _api("v1.33.2-gke.1111000"), {"distribution": "gke", "managed": True, "profile": "gke-1.9.0"}),
        ({}, _api("v1.31.5", labels={"kubernetes.azure.com/cluster": "MC_rg"}), {"distribution": "aks", "profile": "aks-1.8"}),
        # nothing found: the default catalogue, no profile
        ({"w1": _probe((), None)}, None, {"kubernetes_version": None, "distribution": "unknown", "profile": None, "catalogue": "cis-1.12"}),
    ],
)
def test_decision_table(nodes, api, expected):
    facts = cf.cluster_facts("c1", nodes, api, now="2026-01-01T00:00:00Z")
    got = {
        "kubernetes_version": facts["kubernetes_version"],
        "version_source": facts["version_source"],
        "distribution": facts["distribution"],
        "managed": facts["managed"],
        "profile": facts["kube_bench"]["profile"],
        "generic": facts["kube_bench"]["generic"],
        "catalogue": facts["cis_catalogue"],
    }
    for key, value in expected.items():
        if key == "note":
            assert value in (facts["cis_catalogue_note"] or ""), facts["cis_catalogue_note"]
        else:
            assert got[key] == value, (key, got)


def test_problems_are_named_per_host_and_skew_is_reported():
    nodes = {
        "w1": _probe(KUBEADM, "v1.34.0"),
        "w2": {"unreachable": True, "msg": "Failed to connect to the host via ssh"},
        "w3": {"failed": True, "msg": "root /x is not a directory"},
        "w4": None,
    }
    facts = cf.cluster_facts("c1", nodes, _api("v1.33.0", kubeadm_config=True))
    assert facts["ok"] is False
    assert facts["unreachable"] == ["w2", "w4"]
    assert "w2: not reachable over SSH: Failed to connect to the host via ssh" in facts["problems"]
    assert any(p.startswith("w3: probe failed: root /x") for p in facts["problems"])
    assert any("w1: kubelet v1.34.0 is newer than the API server v1.33.0" in w for w in facts["warnings"])
    unusable = dict(_api("v1.33.0"), reachable=False, error="HTTP 401 Unauthorized", version=None)
    facts = cf.cluster_facts("c1", {"w1": _probe(KUBEADM, "v1.33.1")}, unusable)
    assert facts["problems"] == ["cluster c1: Kubernetes API not usable with kubeconfig k: HTTP 401 Unauthorized"]
    assert facts["version_source"] == "kubelet"


@pytest.mark.parametrize("bad", [None, "", 3])
def test_bad_cluster_name_is_refused(bad):
    with pytest.raises(cf.ClusterFactsError, match="cluster must be"):
        cf.cluster_facts(bad, {})


def test_probe_node_reads_markers_and_the_first_answering_kubelet(tmp_path):
    (tmp_path / "etc/rancher/rke2").mkdir(parents=True)
    (tmp_path / "var/lib/rancher/rke2/server").mkdir(parents=True)
    broken = tmp_path / "broken-kubelet"
    broken.write_text("#!/bin/sh\necho 'flag provided but not defined' >&2\nexit 2\n")
    fake = tmp_path / FAKE_KUBELET
    fake.write_text("#!/bin/sh\necho 'Kubernetes v1.31.3+rke2r1'\n")
    for script in (broken, fake):
        script.chmod(0o755)

    def runner(argv):
        proc = subprocess.run(argv, capture_output=True, text=True)
        return proc.returncode, proc.stdout, proc.stderr

    node = cf.probe_node(str(tmp_path), ["kubelet-not-here", str(broken), str(fake)], runner, which=lambda name: None)
    assert (node["distribution"], node["role"]) == ("rke2", "control-plane")
    assert node["kubelet"] == {"version": "v1.31.3+rke2r1", "minor": "1.31", "command": str(fake)}
    assert node["kubelet_tried"][0] == "kubelet-not-here: not found"
    assert "flag provided but not defined" in node["kubelet_tried"][1]
    with pytest.raises(cf.ClusterFactsError, match="is not a directory"):
        cf.probe_node(str(tmp_path / "missing"), [], runner)


def test_probe_api_against_the_fake_server(tmp_path):
    with FakeKubeAPI(version="v1.33.1") as api:
        api.add(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux"}},
                "status": {"nodeInfo": {"kubeletVersion": "v1.33.1"}},
            }
        )
        good = cf.probe_api(api.write_kubeconfig(tmp_path / "good"), None, 5)
        bad = cf.probe_api(api.write_kubeconfig(tmp_path / "bad", token="wrong"), None, 5)
    assert good["reachable"] and good["version"]["git_version"] == "v1.33.1"
    assert good["nodes"][0]["name"] == "n1" and good["kubeadm_config"] is False
    assert bad["reachable"] is False and "401" in bad["error"] and "credentials were rejected" in bad["error"]
    missing = cf.probe_api(str(tmp_path / "nope"), None, 5)
    assert missing["reachable"] is False and "does not exist" in missing["error"]


# ---------------------------------------------------------------------------------------------- the playbook
def _facts(reports, cluster):
    return json.loads((reports / cluster / "cluster_facts.json").read_text())


def test_onboard_demo_inventory_nodes_only(tmp_path):
    reports = tmp_path / "reports"
    env = ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_SHOW_CUSTOM_STATS="1", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    demo_nodes = ROOT / ".demo" / "nodes"
    if not demo_nodes.is_dir():
        subprocess.run([sys.executable, str(ROOT / "tests/testbed/nodetree.py"), "demo", str(ROOT / "inventories/demo/hosts.yml"), str(demo_nodes)], check=True)
    proc = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            str(PLAYBOOK),
            "-e",
            f"kubesec_reports_dir={reports}",
            "-e",
            "kubesec_onboard_api=false",
            "-e",
            "kubesec_run_id=20260101T000000Z",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    facts = _facts(reports, "demo")
    assert facts["distribution"] == "kubeadm" and facts["api"]["checked"] is False
    assert facts["nodes"]["demo-cp-1"]["role"] == "control-plane"
    assert facts["nodes"]["demo-worker-1"]["role"] == "worker"
    stats = json.loads(proc.stdout[proc.stdout.index("{") :])["global_custom_stats"]
    assert stats["kubesec_run_id"] == "20260101T000000Z"
    assert stats["kubesec_cluster_facts"]["demo"]["distribution"] == "kubeadm"
    assert stats["kubesec_cluster_facts"]["demo"]["facts_file"] == str(reports / "demo" / "cluster_facts.json")
    # a second run changes nothing but the time: the file is not rewritten
    before = (reports / "demo" / "cluster_facts.json").stat().st_mtime_ns
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(PLAYBOOK), "-e", f"kubesec_reports_dir={reports}", "-e", "kubesec_onboard_api=false"],
        cwd=ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "changed=0" in proc.stdout.split("PLAY RECAP")[1].splitlines()[1], proc.stdout[-3000:]
    assert (reports / "demo" / "cluster_facts.json").stat().st_mtime_ns == before


def _unreachable_inventory(testbed, path, gone, fake_host):
    """Extra inventory for the test bed: one host behind a namespace that does not exist, a FAKE kubelet on one node."""
    workers = f"{testbed.cluster}_workers"
    hosts = {fake_host: {"kubesec_kubelet_version_commands": [f"/var/lib/kubelet/{FAKE_KUBELET}"]}}
    if gone:
        hosts[gone] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": 22,
            "ansible_user": "root",
            "ansible_python_interpreter": "/usr/bin/python3",
            # `ip netns exec` fails at once for a namespace that is not there: ssh gets no connection at all
            "ansible_ssh_common_args": (
                f"-o ProxyCommand='ip netns exec kubesec-gone-{os.getpid()} socat - TCP:127.0.0.1:22' -o ConnectTimeout=5 -o BatchMode=yes -o ControlMaster=no"
            ),
            "ansible_ssh_retries": 0,
        }
    path.write_text(yaml.safe_dump({"all": {"children": {testbed.cluster: {"children": {workers: {"hosts": hosts}}}}}}))
    return path


@pytest.fixture
def fake_kubelet(testbed):
    """Put the FAKE kubelet script on the first worker (its /var/lib/kubelet), remove it afterwards."""
    host = testbed.workers[0]
    script = testbed.tree(host) / "var/lib/kubelet" / FAKE_KUBELET
    script.write_text("#!/bin/sh\n# TEST ONLY: stands in for `kubelet --version` on a test-bed node\necho 'Kubernetes v1.33.1'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    yield host
    script.unlink()


def _run(testbed, tmp_path, *extra):
    return testbed.playbook(PLAYBOOK, "-i", str(testbed.inventory), *extra, check=False)


@pytest.mark.testbed
@pytest.mark.slow
def test_onboard_testbed_with_an_unreachable_node_and_the_fake_api(testbed, fake_kubelet, tmp_path):
    gone = f"{testbed.cluster}-worker-gone"
    extra = _unreachable_inventory(testbed, tmp_path / "extra.yml", gone, fake_kubelet)
    reports = tmp_path / "reports"
    with FakeKubeAPI(version="v1.33.1") as api:
        for host in testbed.hosts:
            api.add(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": host, "labels": {"kubernetes.io/hostname": host}},
                    "status": {"nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian GNU/Linux 12"}},
                }
            )
        api.add(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                "data": {"ClusterConfiguration": "kind: ClusterConfiguration\n"},
            }
        )
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        proc = _run(testbed, tmp_path, "-i", str(extra), "-e", f"kubesec_reports_dir={reports}", "-e", f"kubesec_kubeconfig={kubeconfig}")
        paths = [r["path"] for r in api.requests]
    out = proc.stdout
    assert proc.returncode == 2, out[-5000:]
    # the unreachable node fails with its name and what happened; every other node is fine
    assert f"{gone} (cluster {testbed.cluster}): not reachable over SSH:" in out, out[-5000:]
    recap = out.split("PLAY RECAP")[1]
    for host in testbed.hosts:
        line = next(line for line in recap.splitlines() if line.startswith(host + " "))
        assert "failed=0" in line and "unreachable=0" in line, line
    facts = _facts(reports, testbed.cluster)
    assert (facts["kubernetes_version"], facts["version_source"]) == ("v1.33.1", "api")
    assert facts["distribution"] == "kubeadm"
    assert "ConfigMap kube-system/kubeadm-config exists" in facts["distribution_evidence"]
    assert facts["kube_bench"]["profile"] == "cis-1.12" and facts["cis_catalogue"] == "cis-1.12"
    assert facts["api"]["reachable"] is True and facts["api_nodes"] == len(testbed.hosts)
    assert facts["unreachable"] == [gone] and facts["ok"] is False
    assert facts["nodes"][fake_kubelet]["kubelet"]["version"] == "v1.33.1"
    assert facts["nodes"][fake_kubelet]["kubelet"]["command"] == f"/var/lib/kubelet/{FAKE_KUBELET}"
    cp = testbed.control_planes[0]
    assert facts["nodes"][cp]["role"] == "control-plane" and facts["nodes"][cp]["kubelet"] is None
    assert all(facts["nodes"][w]["role"] == "worker" for w in testbed.workers)
    assert "/version" in paths and "/api/v1/nodes" in paths


@pytest.mark.testbed
@pytest.mark.slow
def test_onboard_testbed_kubelet_version_skew_and_a_rejected_token(testbed, fake_kubelet, fake_kube_api, tmp_path):  # noqa: F811
    extra = _unreachable_inventory(testbed, tmp_path / "extra.yml", None, fake_kubelet)
    reports = tmp_path / "reports"
    kubeconfig = fake_kube_api.write_kubeconfig(tmp_path / "kubeconfig")  # the fake answers v1.31.4
    proc = _run(testbed, tmp_path, "-i", str(extra), "-e", f"kubesec_reports_dir={reports}", "-e", f"kubesec_kubeconfig={kubeconfig}")
    assert proc.returncode == 0, proc.stdout[-5000:]
    facts = _facts(reports, testbed.cluster)
    assert facts["ok"] and facts["kubernetes_version"] == "v1.31.4" and facts["cis_catalogue"] == "cis-1.11"
    assert facts["kube_bench"]["profile"] == "cis-1.11"
    assert any(f"{fake_kubelet}: kubelet v1.33.1 is newer than the API server v1.31.4" in w for w in facts["warnings"])

    bad = fake_kube_api.write_kubeconfig(tmp_path / "bad-kubeconfig", token="not-the-token")
    proc = _run(testbed, tmp_path, "-i", str(extra), "-e", f"kubesec_reports_dir={reports}", "-e", f"kubesec_kubeconfig={bad}")
    assert proc.returncode == 2
    assert f"cluster {testbed.cluster}: the Kubernetes API cannot be used with kubeconfig {bad}" in " ".join(proc.stdout.split())
    assert "HTTP 401" in proc.stdout
    facts = _facts(reports, testbed.cluster)
    assert facts["version_source"] == "kubelet" and facts["kubernetes_version"] == "v1.33.1"


def test_fake_kubelet_is_named_as_a_fake():
    assert "FAKE" in FAKE_KUBELET and shutil.which(FAKE_KUBELET) is None
