"""Issue 16: cluster_facts returns its facts inside ansible_facts (kubesec_node_facts, kubesec_cluster_onboard_facts);
the old return keys (node, cluster_facts) stay for one release and say so in the module's documentation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _cluster_facts as cf
from ansible_collections.kubesec.cluster.plugins.modules import cluster_facts as module
from tests.conftest import ansible_env

NODE = {
    "distribution": "kubeadm",
    "role": "worker",
    "evidence": ["/etc/kubernetes/manifests exists"],
    "kubelet": {"version": "v1.33.1", "minor": "1.33", "command": "/usr/bin/kubelet"},
    "kubelet_tried": [],
}


def test_a_probe_result_with_the_facts_only_is_read():
    """The registered result of the node probe as it is now (ansible_facts) and as it was (node): same decision."""
    new = {"changed": False, "ansible_facts": {"kubesec_node_facts": NODE}}
    old = {"changed": False, "node": NODE}
    decided = [cf.cluster_facts("c1", {"w1": result}, None, now="2026-01-01T00:00:00Z") for result in (new, old)]
    assert decided[0] == decided[1]
    assert decided[0]["nodes"]["w1"]["ok"] is True and decided[0]["kubernetes_version"] == "v1.33.1"
    broken = cf.cluster_facts("c1", {"w1": {"changed": False, "ansible_facts": {}}}, None)
    assert broken["nodes"]["w1"]["ok"] is False and "no node data returned" in broken["nodes"]["w1"]["error"]


def test_the_module_documents_the_facts_and_the_deprecated_keys():
    returned = yaml.safe_load(module.RETURN)
    assert set(returned["ansible_facts"]["contains"]) == {"kubesec_node_facts", "kubesec_cluster_onboard_facts"}
    assert "Deprecated" in " ".join(returned["node"]["description"])
    assert "Deprecated" in " ".join(returned["cluster_facts"]["description"])


def test_the_node_probe_sets_the_facts_as_host_variables(tmp_path):
    """Run for real (ad hoc on localhost): the next task sees kubesec_node_facts as a variable."""
    (tmp_path / "etc/kubernetes/manifests").mkdir(parents=True)
    playbook = tmp_path / "probe.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {"kubesec.cluster.cluster_facts": {"gather": "node", "root": str(tmp_path), "kubelet_commands": ["/nonexistent"]}, "register": "probe"},
                        {
                            "ansible.builtin.copy": {
                                "dest": str(tmp_path / "out.json"),
                                "content": "{{ {'fact': kubesec_node_facts, 'node': probe.node} | to_json }}",
                            }
                        },
                    ],
                }
            ]
        )
    )
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook)], env=ansible_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["fact"] == out["node"] and out["fact"]["distribution"] == "kubeadm"
