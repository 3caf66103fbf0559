"""Issue 15 "Waivers that widen silently" and issue 24 "a waived finding is not Fixed"."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _render, _report

TODAY = datetime.date(2026, 11, 24)


def f(fid, node="n1", status="fail"):
    return make_finding(fid, "cis-node", "t " + fid, status, severity="high", cluster="c", node=node, resource={"kind": "Node", "name": node}, evidence={})


def build(findings, waivers, **kw):
    return _report.build("c", kw.pop("run_id", "r2"), findings, waivers=waivers, today=TODAY, **kw)


@pytest.mark.parametrize(
    "waiver, message",
    [
        (
            {"id": "CIS-4.2.1", "reason": "r", "scope": {"nodes": "n1"}},
            "waiver #0 (id CIS-4.2.1): unknown scope key(s) nodes; known: cluster, node, namespace, resource",
        ),
        ({"id": "CIS-4.2.1", "reason": "r", "scop": {"node": "n1"}}, "waiver #0 (id CIS-4.2.1): unknown key(s) scop"),
        ({"id": "CIS-4.2.1", "reason": "r", "scope": {"resource": {"names": "x"}}}, "unknown scope.resource key(s) names"),
        ({"id": "*", "reason": "everything"}, "waiver #0 (id *): a bare wildcard id waives every finding; set allow_wildcard: true"),
        (
            {"id": "CIS-4.2.1", "reason": "r", "expires": "2027-01-01 or never"},
            "waiver #0 (id CIS-4.2.1): expires '2027-01-01 or never' is not a real date (YYYY-MM-DD)",
        ),
        ({"id": "CIS-4.2.1", "reason": "r", "expires": "2026-02-30"}, "waiver #0 (id CIS-4.2.1): expires '2026-02-30' is not a real date"),
        ({"id": "CIS-4.2.1", "reason": "r", "expires": "2027-1-1"}, "expires '2027-1-1' is not a real date"),
        ({"id": "CIS-4.2.1"}, "waiver #0 (id CIS-4.2.1): needs a non-empty text 'reason'"),
        ({"id": "CIS-4.2.1", "reason": "r", "allow_wildcard": "yes"}, "allow_wildcard must be true or false"),
        ("CIS-4.2.1", "waiver #0 must be a mapping"),
    ],
)
def test_invalid_waivers_are_refused_naming_the_waiver(waiver, message):
    with pytest.raises(_report.ReportInputError) as info:
        build([f("CIS-4.2.1")], [{"id": "CIS-1.1.1", "reason": "fine"}, waiver][1:])
    assert message in str(info.value)


def test_errors_name_every_bad_waiver_by_index():
    waivers = [{"id": "A", "reason": "ok"}, {"id": "B", "reason": "r", "expires": "2026-13-01"}, {"id": "C", "reason": "r", "scope": {"nodes": "x"}}]
    with pytest.raises(_report.ReportInputError) as info:
        build([], waivers)
    assert "waiver #1 (id B)" in str(info.value) and "waiver #2 (id C)" in str(info.value)


def test_wildcard_with_allow_and_what_each_waiver_matched():
    findings = [f("CIS-4.2.1", "n1"), f("CIS-4.2.1", "n2"), f("CIS-4.2.6", "n1"), f("CIS-1.1.1", "cp")]
    waivers = [
        {"id": "CIS-4.2.1", "reason": "one node", "scope": {"node": "n1"}},
        {"id": "CIS-4.2.*", "reason": "prefix", "expires": datetime.date(2027, 1, 1)},
        {"id": "*", "reason": "lab cluster", "allow_wildcard": True},
        {"id": "CIS-9.9.9", "reason": "nothing"},
    ]
    model = build(findings, waivers)
    active = dict((w["index"], w) for w in model["waivers"]["active"])
    assert (active[0]["matched"], active[0]["matched_ids"]) == (1, ["CIS-4.2.1"])
    assert (active[1]["matched"], active[1]["matched_ids"]) == (2, ["CIS-4.2.1", "CIS-4.2.6"])
    assert (active[2]["matched"], active[2]["matched_ids"]) == (1, ["CIS-1.1.1"])
    assert active[3]["matched"] == 0 and active[2]["allow_wildcard"] is True
    html = _render.render_html(model)
    assert "CIS-4.2.1, CIS-4.2.6" in html and "none: check the id and scope" in html


def test_a_waived_finding_is_listed_as_waived_not_fixed():
    before = [f("CIS-4.2.1"), f("CIS-4.2.6")]
    after = [f("CIS-4.2.1"), f("CIS-4.2.6", status="pass")]
    model = build(after, [{"id": "CIS-4.2.1", "reason": "accepted"}], previous_findings=before, previous_run_id="r1")
    assert model["comparison_counts"] == {"new": 0, "fixed": 1, "regressed": 0, "waived": 1}
    assert [e["id"] for e in model["comparison"]["fixed"]] == ["CIS-4.2.6"]
    assert [e["id"] for e in model["comparison"]["waived"]] == ["CIS-4.2.1"]
    assert len(model["comparison_fingerprints"]["fixed"]) == 1
    html = _render.render_html(model)
    assert "Waived since the last run, not fixed (1)" in html
    legacy = _report.compare([dict(after[0], status="waived"), after[1]], before)
    assert [e["id"] for e in legacy["fixed"]] == ["CIS-4.2.6"] and [e["id"] for e in legacy["waived"]] == ["CIS-4.2.1"]
