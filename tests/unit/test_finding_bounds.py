"""Issue 15: every free-text field of a finding is bounded, whatever source built it, and says it was clipped."""

import json

import jsonschema
import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _finding
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "docs" / "findings.schema.json").read_text())


def test_a_hostile_finding_is_bounded_and_names_what_was_clipped():
    finding = _finding.make_finding(
        "KS-X",
        "workload",
        "T" * 100_000,
        "fail",
        description="D" * 1_000_000,
        remediation="R" * 20_000,
        resource={"kind": "Pod", "name": "n" * 10_000, "namespace": "shop"},
        evidence={"message": "m" * 100_000, "ok": "short", "deep": [[[[[[[[[["x"]]]]]]]]]], "count": 3},
    )
    assert len(json.dumps(finding)) < 40_000  # was > 1.2 MB
    assert finding["clipped"] == ["resource.name", "title", "description", "remediation", "evidence.message", "evidence.deep[0][0][0][0][0][0][0]"]
    assert finding["description"].endswith("... [991808 more characters]") and finding["description"].startswith("DDD")
    assert finding["evidence"]["ok"] == "short" and finding["evidence"]["count"] == 3
    jsonschema.validate(finding, SCHEMA)


def test_text_within_the_bounds_is_untouched_and_not_marked():
    finding = _finding.make_finding("KS-X", "workload", "t" * 512, "fail", description="d" * 8192, evidence={"message": "m" * 4096})
    assert "clipped" not in finding
    assert finding["title"] == "t" * 512 and finding["evidence"]["message"] == "m" * 4096


@pytest.mark.parametrize("field, limit", sorted(_finding.TEXT_LIMITS.items()))
def test_every_limit_is_documented(field, limit):
    doc = (ROOT / "docs" / "findings.md").read_text()
    assert "## Bounded text" in doc and format(limit, ",") in doc, field
