"""Issue 18, managed node pools: EKS / GKE / AKS worker nodes (tests/testbed/trees/managed.yml) audited with the
provider benchmarks' node sections (kube-bench eks-1.8.0, gke-1.9.0, aks-1.8), picked by cis_node_audit itself."""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis, _cis_versions, _cluster_facts, _managed
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue
from tests.conftest import assert_valid_findings
from tests.testbed.nodetree import materialize

ALL_TARGETS = ["master", "etcd", "controlplane", "node", "policies"]
# profile -> (catalogue, PASS/FAIL/WARN/INFO counts of the node target on the provider's default node)
PROFILES = {
    "eks": ("eks-cis-1.8.0", {"pass": 13}),
    "gke": ("gke-cis-1.9.0", {"pass": 4}),
    "aks": ("aks-cis-1.8", {"pass": 13}),
}


def tree(tmp_path, dist):
    root = tmp_path / dist
    materialize(root, "managed:%s-default" % dist, node="n1")
    return root


def audit(root, dist, targets=("node",)):
    findings, context = _cis.audit_node(str(root), _catalogue.load(PROFILES[dist][0]), targets=targets, node="n1")
    assert_valid_findings(findings)
    return {f["id"].replace("CIS-", ""): f for f in findings}, context


@pytest.mark.parametrize("dist", sorted(PROFILES))
def test_default_node_counts(tmp_path, dist):
    got, context = audit(tree(tmp_path, dist), dist)
    assert context["benchmark"] == PROFILES[dist][0]
    assert Counter(f["status"] for f in got.values()) == PROFILES[dist][1]


@pytest.mark.parametrize("dist", sorted(PROFILES))
def test_every_check_is_evaluated_and_other_targets_say_not_applicable(tmp_path, dist):
    catalogue = _catalogue.load(PROFILES[dist][0])
    got, _ = audit(tree(tmp_path, dist), dist, targets=ALL_TARGETS)
    ids = {str(c["id"]) for c in catalogue["checks"]}
    assert ids <= set(got)  # no check silently skipped
    others = {cid: f for cid, f in got.items() if cid not in ids}
    assert set(others) == {"master", "etcd", "controlplane", "policies"}
    for finding in others.values():
        assert finding["status"] == "info" and "not applicable" in finding["evidence"]["note"]
    assert "managed control plane" in others["master"]["evidence"]["note"]
    assert others["master"]["source"] == "cis-control-plane"


def test_eks_reads_the_json_kubelet_config_and_its_flags_win(tmp_path):
    root = tree(tmp_path, "eks")
    got, context = audit(root, "eks")
    assert context["components"]["kubelet"]["config_path"] == "/etc/kubernetes/kubelet/kubelet-config.json"
    assert "kubelet-config.json" in got["3.2.4"]["evidence"]["source"]
    config = root / "etc/kubernetes/kubelet/kubelet-config.json"
    data = json.loads(config.read_text())
    data["readOnlyPort"] = 10255
    config.write_text(json.dumps(data))
    os.chmod(config, 0o666)
    dropin = root / "etc/systemd/system/kubelet.service.d/10-kubelet-args.conf"
    dropin.write_text(dropin.read_text().replace("--v=2", "--v=2 --anonymous-auth=true"))
    got, _ = audit(root, "eks")
    assert {cid: f["status"] for cid, f in got.items() if f["status"] != "pass"} == {"3.1.3": "fail", "3.2.1": "fail", "3.2.4": "fail"}


def test_eks_al2023_node_reads_nodeadm_files(tmp_path):
    """The AL2023 (nodeadm) layout: flags from /etc/eks/kubelet/environment, the JSON config.json."""
    root = tmp_path / "al2023"
    materialize(root, "managed:eks-al2023", node="n1")
    got, context = audit(root, "eks")
    assert Counter(f["status"] for f in got.values()) == {"pass": 13}
    assert context["components"]["kubelet"]["config_path"] == "/etc/kubernetes/kubelet/config.json"
    assert "config.json" in got["3.2.1"]["evidence"]["source"]
    env = root / "etc/eks/kubelet/environment"
    env.write_text(env.read_text().replace("--cloud-provider=external", "--cloud-provider=external --read-only-port=10255"))
    got, _ = audit(root, "eks")
    assert got["3.2.4"]["status"] == "fail" and str(got["3.2.4"]["evidence"]["actual"]) == "10255"


def test_gke_judges_home_kubernetes_and_the_kubelet_kubeconfig(tmp_path):
    root = tree(tmp_path, "gke")
    os.chmod(root / "home/kubernetes/kubelet-config.yaml", 0o666)
    os.remove(root / "var/lib/kubelet/kubeconfig")
    got, _ = audit(root, "gke")
    assert got["3.1.3"]["status"] == "fail" and "/home/kubernetes/kubelet-config.yaml" in str(got["3.1.3"]["evidence"])
    assert got["3.1.1"]["status"] == "fail"  # the kubeconfig --kubeconfig names is gone


def test_aks_flags_from_etc_default_kubelet_and_azure_json(tmp_path):
    root = tree(tmp_path, "aks")
    got, context = audit(root, "aks")
    assert context["components"]["kubelet"]["config_path"] is None  # flags only: /etc/default/kubelet
    assert got["3.2.7"]["status"] == "pass" and str(got["3.2.7"]["evidence"]["actual"]) == "0"
    assert "/etc/kubernetes/azure.json" in str(got["3.1.3"]["evidence"])
    os.chmod(root / "etc/kubernetes/azure.json", 0o666)
    env = root / "etc/default/kubelet"
    env.write_text(env.read_text().replace(" --event-qps=0", "").replace("--read-only-port=0", "--read-only-port=10255"))
    got, _ = audit(root, "aks")
    assert {cid: f["status"] for cid, f in got.items() if f["status"] != "pass"} == {"3.1.3": "fail", "3.2.4": "fail", "3.2.7": "fail"}


def test_aks_flag_evidence_names_the_environment_file_that_sets_it(tmp_path):
    """AKS's kubelet flags are all in KUBELET_FLAGS of /etc/default/kubelet: the evidence names that file (and the
    variable), not the last unit drop-in; a flag written in the unit's ExecStart names the unit file."""
    got, _ = audit(tree(tmp_path, "aks"), "aks")
    assert got["3.2.4"]["evidence"]["source"] == "flag --read-only-port (/etc/default/kubelet ($KUBELET_FLAGS))"
    assert got["3.2.7"]["evidence"]["source"] == "flag --event-qps (/etc/default/kubelet ($KUBELET_FLAGS))"


def module_params(root, **extra):
    params = {
        "root": str(root),
        "benchmark": "cis-1.12",
        "catalogue": _catalogue.load("cis-1.12"),
        "distribution": "auto",
        "distribution_catalogues": {d: _catalogue.load(n) for d, n in _cis_versions.DISTRIBUTION_CATALOGUES.items()},
    }
    params.update(extra)
    return params


def test_cis_node_audit_picks_the_provider_catalogue_by_itself(tmp_path):
    from ansible_collections.kubesec.cluster.plugins.modules import cis_node_audit

    for dist, (name, _counts) in PROFILES.items():
        root = tree(tmp_path, dist)
        assert _managed.detect(str(root)) == dist
        catalogue, distribution, note = cis_node_audit.choose_catalogue(module_params(root))
        assert (catalogue["version"], distribution, note) == (name, dist, None)
        # kubesec_distribution in the inventory overrides detection
        catalogue, distribution, _ = cis_node_audit.choose_catalogue(module_params(root, distribution="kubeadm"))
        assert (catalogue["version"], distribution) == ("cis-1.12", "kubeadm")
    kubeadm = tmp_path / "kubeadm"
    materialize(kubeadm, "worker:kubeadm-default", node="w1")
    assert _managed.detect(str(kubeadm)) is None
    assert cis_node_audit.choose_catalogue(module_params(kubeadm))[1] == "kubeadm"
    # a kubeadm node on Azure VMs carries the Azure cloud provider's azure.json too: still kubeadm
    (kubeadm / "etc/kubernetes/azure.json").write_text("{}")
    assert cis_node_audit.choose_catalogue(module_params(kubeadm))[1] == "kubeadm"
    # an empty /etc/eks directory (a mount point, a leftover) is not an EKS node image: a GKE node stays GKE
    (tmp_path / "gke/etc/eks").mkdir(parents=True)
    assert _managed.detect(str(tmp_path / "gke")) == "gke"
    # files of two providers: not guessed
    (tmp_path / "eks/home/kubernetes").mkdir(parents=True)
    (tmp_path / "eks/home/kubernetes/kubelet-config.yaml").write_text("")
    assert _managed.detect(str(tmp_path / "eks")) is None


@pytest.mark.parametrize("dist", sorted(PROFILES))
def test_cluster_facts_names_the_provider_catalogue(dist):
    decision = _cluster_facts.choose_profiles("1.33", dist)
    assert decision["catalogue"] == PROFILES[dist][0]
    assert "managed node pool" in decision["catalogue_note"]
    # the catalogue is built from the kube-bench profile cluster_facts names
    assert decision["kube_bench"]["profile"].split("-", 1)[1] in _catalogue.load(PROFILES[dist][0])["source"]
