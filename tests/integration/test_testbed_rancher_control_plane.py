"""k3s and RKE2 servers over real SSH (issue 18, last part): the benchmark role's cis_node_audit on a k3s server and an
RKE2 server test host reports CIS sections 1-3 with the distribution's own evidence (k3s: the embedded components'
model, etcd not applicable on kine; RKE2: the static pods and etcd's config file), and a k3s worker section 4 only."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.testbed.fixtures import running_testbed

pytestmark = pytest.mark.testbed


def _findings(reports: Path, cluster: str, host: str) -> dict[str, dict]:
    data = json.loads((reports / f"{cluster}/run1/findings/cis-{host}.json").read_text())
    return {f["id"]: f for f in data}


def test_k3s_and_rke2_servers_report_sections_1_to_3_over_ssh(tmp_path):
    with running_testbed(tmp_path / "bed", cluster="cpauditk", workers=1, control_planes=1, profile="k3s-default") as bed:
        bed.bed.up("cpauditr", 0, 1, "rke2-default", log=None)
        reports = tmp_path / "reports"
        variables = ["-e", f"kubesec_reports_dir={reports}", "-e", "kubesec_run_id=run1", "-e", "kubesec_control_plane_version=v1.33.1"]
        bed.playbook(ROOT / "playbooks/audit.yml", "--tags", "cis_audit", *variables)

        k3s = _findings(reports, "cpauditk", "cpauditk-cp-1")
        assert {f.get("benchmark") for f in k3s.values()} == {"k3s-cis-1.12"}
        control = [f for f in k3s.values() if f["source"] == "cis-control-plane"]
        assert dict(Counter(f["status"] for f in control)) == {"pass": 36, "fail": 5, "warn": 12, "info": 13}
        # the model (no k3s journal on the test host), k3s's own paths, etcd not applicable on kine
        assert k3s["CIS-1.2.15"]["status"] == "pass" and "model: k3s.service" in k3s["CIS-1.2.15"]["evidence"]["source"]
        assert k3s["CIS-1.1.17"]["evidence"]["file"] == "/var/lib/rancher/k3s/server/cred/controller.kubeconfig"
        assert k3s["CIS-etcd"]["status"] == "info" and "kine" in k3s["CIS-etcd"]["evidence"]["note"]

        worker = _findings(reports, "cpauditk", "cpauditk-worker-1")
        assert {f["source"] for f in worker.values()} == {"cis-node"}

        rke2 = _findings(reports, "cpauditr", "cpauditr-cp-1")
        control = [f for f in rke2.values() if f["source"] == "cis-control-plane"]
        assert dict(Counter(f["status"] for f in control)) == {"pass": 55, "fail": 6, "warn": 11}
        assert "/var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml" in rke2["CIS-1.2.1"]["evidence"]["source"]
        assert "/var/lib/rancher/rke2/server/db/etcd/config" in rke2["CIS-2.2"]["evidence"]["source"]
