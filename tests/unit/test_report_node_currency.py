"""Node currency in the report (issue 23): its section, the per-node currency column, its own area, waivers."""

from __future__ import annotations

import datetime
import shutil
import time
from pathlib import Path

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _node_currency as nc
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _currency_data, _render, _report

TODAY = datetime.date(2026, 12, 6)
TREE = Path(__file__).resolve().parent.parent / "fixtures" / "node_currency" / "debian-tree"


def cis(node, status="pass"):
    return make_finding(
        "CIS-4.2.1", "cis-node", "anonymous auth", status, "critical", cluster="c", node=node, resource={"kind": "Node", "name": node}, evidence={}
    )


@pytest.fixture
def outdated(tmp_path):
    """The currency findings of the fixture tree (5 pending updates, reboot, old runc) as worker w1."""
    root = tmp_path / "w1"
    shutil.copytree(TREE, root)
    findings, _ = nc.assess(str(root), _currency_data.load(), cluster="c", node="w1", control_plane_version="v1.30.1", now=time.time())
    return findings


def current(node):
    return [
        make_finding(
            "KS-NODE-001",
            "node-currency",
            "No pending security updates",
            "pass",
            "high",
            cluster="c",
            node=node,
            resource={"kind": "Node", "name": node},
            evidence={},
        ),
        make_finding(
            "KS-NODE-002", "node-currency", "No reboot pending", "pass", "high", cluster="c", node=node, resource={"kind": "Node", "name": node}, evidence={}
        ),
    ]


def test_currency_column_area_and_section(outdated):
    findings = [cis("w1"), cis("w2"), *outdated, *current("w2")]
    model = _report.build("c", "r1", findings, today=TODAY)
    rows = dict((r["node"], r) for r in model["sections"]["per_node"])
    assert rows["w1"]["currency"] == "5 security updates, reboot, no auto updates, old runc"
    assert rows["w2"]["currency"] == "current"
    area = next(a for a in model["areas"] if a["area"] == "node_currency")
    assert area["assessed"] and area["grade"] == "D"
    assert area["counts"]["fail"] == 7  # 5 updates, reboot, runc
    html = _render.render_html(model)
    assert 'id="node-currency"' in html and "Currency per node" in html
    assert "Security update pending for libssl3" in html
    assert "5 security updates, reboot, no auto updates, old runc</a>" in html


def test_waived_update_leaves_the_column_and_the_area_grade(outdated):
    waivers = [
        {"id": "KS-NODE-005", "reason": "the distribution backported the fix (its advisory)", "scope": {"node": "w1"}},
        {"id": "KS-NODE-001", "reason": "accepted until the maintenance window", "expires": "2027-01-31"},
        {"id": "KS-NODE-002", "reason": "reboot in the window"},
        {"id": "KS-NODE-003", "reason": "updates are applied by the node_updates role"},
    ]
    model = _report.build("c", "r1", [cis("w1"), *outdated], waivers=waivers, today=TODAY)
    row = model["sections"]["per_node"][0]
    assert row["currency"] == "current"
    area = next(a for a in model["areas"] if a["area"] == "node_currency")
    assert area["counts"]["waived"] == 8 and area["grade"] == "A"


def test_no_currency_results_is_not_assessed():
    model = _report.build("c", "r1", [cis("w1")], today=TODAY)
    area = next(a for a in model["areas"] if a["area"] == "node_currency")
    assert not area["assessed"] and area["grade"] is None
    assert model["sections"]["per_node"][0]["currency"] is None
