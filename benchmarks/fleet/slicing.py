"""AWX job slicing, as AWX makes the slices, and the identity check between a sliced and a single run.

AWX (awx/main/models/inventory.py, Inventory.get_script_data): the enabled hosts ordered by name, slice k of N
(1-based) gets hosts[k-1::N]; each slice job sees only its hosts. Here the same partition is given to
ansible-playbook as `--limit @<file>`, which restricts every play to those hosts in the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Fields of report.json that differ between two runs of the same fleet by design (when and under which id).
RUN_FIELDS = ("run_id", "generated_at")


def awx_slices(hosts: list[str], count: int) -> list[list[str]]:
    """The N host lists of AWX job slicing: ordered by name, every N-th host from offset k-1."""
    if count < 1:
        raise ValueError(f"slice count must be at least 1, got {count}")
    ordered = sorted(hosts)
    return [ordered[offset::count] for offset in range(count)]


def write_limit_file(path: Path, hosts: list[str]) -> Path:
    """A file for `--limit @path`: one host per line."""
    path.write_text("".join(f"{host}\n" for host in hosts))
    return path


def report_digest(report_json: Path) -> dict[str, Any]:
    """What must be identical between a sliced and a single run: every finding (whole, ordered by fingerprint and
    id), the summary, the headline numbers and the areas' grades and scores, the nodes."""
    report = json.loads(report_json.read_text())
    findings = sorted(report["findings"], key=lambda f: (f["fingerprint"], f["id"], f.get("node") or ""))
    headline = {k: v for k, v in report["headline"].items() if k not in RUN_FIELDS}
    return {
        "findings": findings,
        "fingerprints": [f["fingerprint"] for f in findings],
        "summary": report["summary"],
        "headline": headline,
        "areas": report["areas"],
        "nodes": report["nodes"],
    }


def compare_runs(single: Path, sliced: Path, clusters: list[str], run_single: str, run_sliced: str) -> list[str]:
    """Differences between the reports of the two runs, per cluster (empty: identical)."""
    problems = []
    for cluster in clusters:
        one = report_digest(single / cluster / run_single / "report.json")
        other = report_digest(sliced / cluster / run_sliced / "report.json")
        for key in one:
            if one[key] != other[key]:
                if key == "fingerprints":
                    missing = sorted(set(one[key]) - set(other[key]))
                    extra = sorted(set(other[key]) - set(one[key]))
                    problems.append(
                        f"{cluster}: fingerprints differ: {len(missing)} only in the single run {missing[:3]}, {len(extra)} only in the sliced run {extra[:3]}"
                    )
                else:
                    problems.append(f"{cluster}: {key} differs")
    return problems
