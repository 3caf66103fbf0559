"""Managed node pools over real SSH (issue 18): EKS (Amazon Linux 2 and AL2023), GKE and AKS worker nodes as test
hosts (tests/testbed/trees/managed.yml), audited by the benchmark role with nothing set in the inventory: each node
picks its provider's catalogue by itself and gets the same verdicts as the unit tests on the same trees."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.conftest import ROOT
from tests.testbed.fixtures import running_testbed

pytestmark = pytest.mark.testbed

# cluster -> (test bed profile, catalogue the node must pick, PASS/FAIL/WARN/INFO of its node section)
POOLS = {
    "mgeks": ("eks-default", "eks-cis-1.8.0", {"pass": 13}),
    "mgal": ("eks-al2023", "eks-cis-1.8.0", {"pass": 13}),
    "mggke": ("gke-default", "gke-cis-1.9.0", {"pass": 4}),
    "mgaks": ("aks-default", "aks-cis-1.8", {"pass": 13}),
}


def test_managed_pool_nodes_pick_their_provider_catalogue_over_ssh(tmp_path):
    first, *rest = POOLS.items()
    with running_testbed(tmp_path / "bed", cluster=first[0], workers=1, control_planes=0, profile=first[1][0]) as bed:
        for cluster, (profile, _catalogue, _counts) in rest:
            bed.bed.up(cluster, 1, 0, profile, log=None)
        reports = tmp_path / "reports"
        bed.playbook(ROOT / "playbooks/audit.yml", "--tags", "cis_audit", "-e", f"kubesec_reports_dir={reports}", "-e", "kubesec_run_id=run1")
        for cluster, (_profile, catalogue, counts) in POOLS.items():
            host = f"{cluster}-worker-1"
            findings = json.loads((reports / cluster / "run1/findings" / f"cis-{host}.json").read_text())
            node = [f for f in findings if f["source"] == "cis-node"]
            assert dict(Counter(f["status"] for f in node)) == counts, (host, [(f["id"], f["status"]) for f in node if f["status"] != "pass"])
            assert {f["benchmark"] for f in node} == {catalogue}, host
            text = json.dumps(findings)
            # no kubeadm path was judged on a managed node
            assert "/etc/kubernetes/kubelet.conf" not in text and "/var/lib/kubelet/config.yaml" not in text
