"""Issue 24: one result per CIS check and node when kube-bench and the native audit both report it; both sources
shown as evidence; counts, matrix, per-node table and node-bar tooltips agree.

Fixtures: the findings files of a `make demo` run (kube-bench's JSON export of demo-worker-1 read by kube_bench,
and the native audit of the same node tree), unchanged."""

from __future__ import annotations

import datetime
import json
import re
import shutil
from pathlib import Path

from ansible_collections.kubesec.cluster.plugins.plugin_utils import _render, _report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "report" / "dedupe"
TODAY = datetime.date(2026, 11, 24)


def load(name):
    return json.loads((FIXTURES / name).read_text())


def test_check_reported_by_both_sources_counts_once():
    native, bench = load("cis-demo-worker-1.json"), load("kube-bench-demo-worker-1.json")
    both = set(f["id"] for f in native) & set(f["id"] for f in bench)
    assert len(both) >= 10  # the fixtures overlap, as they do on every node where both run
    model = _report.build("demo", "r1", native + bench, today=TODAY)
    assert model["sections"]["cis_duplicates"] == len(both)
    assert model["summary"]["total"] == len(native) + len(bench) - len(both)
    counted = model["sections"]["node_counts"]["demo-worker-1"]
    assert sum(counted.values()) == len(set(f["id"] for f in native) | set(f["id"] for f in bench))
    # per-node table, node counts and the matrices agree on FAIL
    row = next(r for r in model["sections"]["per_node"] if r["node"] == "demo-worker-1")
    assert sum(row["fail"].values()) == counted["fail"]
    worst = {}
    for f in native + bench:
        rank = _report.STATUS_RANK[f["status"]]
        if f["id"] not in worst or rank < _report.STATUS_RANK[worst[f["id"]]]:
            worst[f["id"]] = f["status"]
    assert counted["fail"] == sum(1 for s in worst.values() if s == "fail")
    # the raw per-source view is unchanged
    assert sum(model["summary"]["by_source"]["kube-bench"].values()) == len(bench)
    assert sum(model["summary"]["by_source"]["cis-node"].values()) == len(native)


def test_both_sources_are_shown_as_evidence_and_the_tooltip_matches(tmp_path):
    native, bench = load("cis-demo-worker-1.json"), load("kube-bench-demo-worker-1.json")
    run = tmp_path / "demo" / "r1" / "findings"
    run.mkdir(parents=True)
    for name in ("cis-demo-worker-1.json", "kube-bench-demo-worker-1.json"):
        shutil.copy(FIXTURES / name, run / name)
    model = _report.build("demo", "r1", _report.FindingsDir(str(run)), today=TODAY)
    both_fail = [i for i in set(f["id"] for f in native if f["status"] == "fail") if any(b["id"] == i and b["status"] == "fail" for b in bench)]
    assert both_fail
    html = _render.render_html(model)
    assert "also reported by <b>kube-bench</b>: FAIL" in html
    fails = model["sections"]["node_counts"]["demo-worker-1"]["fail"]
    assert re.search(r"<title>fail: %d</title>" % fails, html)  # node bar tooltip
    assert "counted once" in html and "Open CIS problems per node" in html


def test_waiver_counts_a_check_reported_by_both_sources_once():
    native, bench = load("cis-demo-worker-1.json"), load("kube-bench-demo-worker-1.json")
    waivers = [{"id": "CIS-4.1.9", "reason": "accepted", "scope": {"node": "demo-worker-1"}}]
    model = _report.build("demo", "r1", native + bench, today=TODAY, waivers=waivers)
    assert model["waivers"]["active"][0]["matched"] == 1 == model["summary"]["by_status"]["waived"]
