"""The opt-in node_updates role (issue 23) refuses what it cannot do safely, before touching anything."""

from __future__ import annotations

from tests.conftest import ROOT, run_playbook


def test_off_by_default_on_the_demo():
    proc = run_playbook(ROOT / "playbooks/node_updates.yml", "--check")
    assert "Read the pending security updates" not in proc.stdout
    assert "failed=0" in proc.stdout


def test_a_node_tree_is_refused_by_name():
    proc = run_playbook(ROOT / "playbooks/node_updates.yml", "--check", "-l", "demo-worker-1", "-e", "kubesec_node_updates=true", check=False)
    assert proc.returncode != 0
    assert "node_updates applies packages on the node itself; kubesec_node_root is" in proc.stdout
    assert ".demo/nodes/demo-worker-1 (a node tree), which cannot be updated" in proc.stdout
