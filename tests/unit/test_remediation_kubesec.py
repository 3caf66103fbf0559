"""Issue 24: CIS findings kubesec remediates say how kubesec does it (remediation_kubesec), from catalogue data."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue
from tests.conftest import COLLECTION, assert_valid_findings
from tests.testbed.nodetree import materialize

ROLE_CONTROLS = {
    "node_hardening": ["__node_hardening_file_controls", "__node_hardening_kubelet_controls", "__node_hardening_kube_proxy_controls"],
    "control_plane_hardening": ["__control_plane_hardening_file_controls", "__control_plane_hardening_flag_controls"],
}


def role_controls(role):
    data = yaml.safe_load((COLLECTION / "roles" / role / "vars" / "main.yml").read_text())
    return sorted(str(cis_id) for key in ROLE_CONTROLS[role] for cis_id in data[key])


# cis-1.10 has no 4.2.14 (--seccomp-default came in v1.11); node_hardening still sets it on any kubelet.
NOT_IN_BENCHMARK = {"cis-1.10": {"4.2.14"}, "cis-1.11": set(), "cis-1.12": set()}


@pytest.mark.parametrize("benchmark", sorted(NOT_IN_BENCHMARK))
def test_catalogue_names_exactly_the_controls_the_roles_remediate(benchmark):
    catalogue = _catalogue.load(benchmark)
    spec = catalogue["kubesec_remediation"]
    ids = {str(check["id"]) for check in catalogue["checks"]}
    for role in ROLE_CONTROLS:
        assert sorted(map(str, spec["controls"][role])) == role_controls(role), role
        assert set(map(str, spec["controls"][role])) - ids == NOT_IN_BENCHMARK[benchmark] & set(role_controls(role))
    assert set(map(str, spec["notes"])) <= ids


def test_worker_finding_carries_the_kubesec_way(tmp_path):
    root = tmp_path / "node"
    materialize(root, "worker:kubeadm-default", node="w1")
    findings, _ = _cis.audit_node(str(root), _catalogue.load("cis-1.12"), cluster="c1", node="worker-7")
    assert_valid_findings(findings)
    by_id = {f["id"]: f for f in findings}
    assert by_id["CIS-4.1.9"]["remediation_kubesec"] == "ansible-playbook playbooks/harden.yml --tags cis_4_1_9 -l worker-7"
    assert by_id["CIS-4.2.9"]["remediation_kubesec"].startswith("ansible-playbook playbooks/harden.yml --tags cis_4_2_9 -l worker-7 (applied only when")
    assert by_id["CIS-4.1.9"]["remediation"].startswith("chmod")  # the shell way stays
    # 4.2.8 (eventRecordQPS) is not remediated by kubesec: no kubesec way is offered
    assert "CIS-4.2.8" in by_id and "remediation_kubesec" not in by_id["CIS-4.2.8"]


def test_control_plane_finding_and_opt_in_note(tmp_path):
    root = tmp_path / "node"
    materialize(root, "control-plane:kubeadm-default", node="cp1")
    findings, _ = _cis.audit_node(str(root), _catalogue.load("cis-1.12"), targets=["master"], node="cp1")
    by_id = {f["id"]: f for f in findings}
    assert by_id["CIS-1.2.15"]["remediation_kubesec"] == "ansible-playbook playbooks/harden.yml --tags cis_1_2_15 -l cp1"
    assert "control_plane_hardening_disable_anonymous_auth=true" in by_id["CIS-1.2.1"]["remediation_kubesec"]
    assert "remediation_kubesec" not in by_id["CIS-1.2.2"]


def test_malformed_kubesec_remediation_is_named():
    with pytest.raises(_cis.CatalogueError, match="kubesec_remediation needs a 'command'"):
        _cis.kubesec_remediations({"kubesec_remediation": {"controls": {"x": ["1.1.1"]}}}, "n1")
