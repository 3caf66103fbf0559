# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The findings sources: each declared once, here. Everything else is built from this table.

_finding.SOURCES (what make_finding accepts), the report's per-source titles, sort orders and CIS merging
(plugin_utils/_report_sections.py), the scoring areas (_scoring.SOURCE_AREA), the collectors of meta/sources.json
(_inputs.COLLECTOR_SOURCES) and the report section a source is shown in all come from SOURCE_TABLE; the enum of
data/schemas/findings.schema.json is checked against it by tests/unit/test_sources_registry.py.

Private module_utils (leading underscore): the API may change between minor releases. Node side: pure standard
library, importable on Python 3.8+.
"""

from __future__ import annotations

from typing import NamedTuple


class Source(NamedTuple):
    """One findings source (the ``source`` field of a finding)."""

    name: str
    title: str  # heading of its rows in "Results per source" and in the sections
    area: str | None  # scoring area of its findings; None: decided per finding (kube-bench: by CIS section)
    section: str  # key of the report section that shows it (plugin_utils/_report_sections.SECTIONS)
    collectors: tuple  # names in meta/sources.json whose run covers this source (collect writes them)
    cis: bool = False  # a CIS result: node x check matrix, one counted result per check and node across CIS sources
    order: str = "problem"  # how its open rows are ranked: problem, vulnerability (fixable first) or event (count)
    grades_area: bool = True  # False: its findings alone do not show that its area was examined
    benchmark: bool = False  # its findings are CIS benchmark results (CIS-x.y.z): the cis_fail gate, the CIS view
    areas: tuple = ()  # area None: the areas its findings may belong to (decided per finding, _scoring.area_of)


SOURCE_TABLE = (
    Source("cis-node", "CIS node checks", "nodes", "cis_nodes", ("cis",), cis=True, benchmark=True),
    Source("cis-control-plane", "CIS control plane", "control_plane", "control_plane", ("cis_control_plane",), cis=True, benchmark=True),
    Source(
        "kube-bench", "kube-bench results", None, "kube_bench", ("kube_bench",), cis=True, benchmark=True, areas=("nodes", "control_plane", "workloads", "rbac")
    ),
    Source("trivy-vulnerability", "Vulnerabilities", "vulnerabilities", "vulnerabilities", ("trivy_operator", "trivy_cli"), order="vulnerability"),
    Source("trivy-config", "Configuration audit", "workloads", "config", ("trivy_operator", "trivy_cli")),
    Source("trivy-rbac", "RBAC assessment", "rbac", "rbac", ("trivy_operator", "trivy_cli")),
    Source("trivy-infra", "Infrastructure assessment", "control_plane", "infra", ("trivy_operator",)),
    # exposed secrets do not show that the images were scanned for vulnerabilities
    Source("trivy-exposed-secret", "Exposed secrets", "vulnerabilities", "secrets", ("trivy_operator", "trivy_cli"), grades_area=False),
    Source("workload", "Workload hardening", "workloads", "workloads", ("workloads", "workload")),
    Source("falco", "Runtime events (Falco)", "runtime", "runtime", ("falco",), order="event"),
    Source("audit-log", "API audit log", "audit_log", "audit", ("audit_log",), order="event"),
    # written by the node audit (cis_node_audit currency: true) beside the CIS results; graded from its findings
    Source("node-currency", "Node currency", "node_currency", "node_currency", ()),
    # CIS section 5 from the cluster's objects (cluster_policy_audit): 5.1 is RBAC, the rest workloads
    Source("cis-policies", "CIS section 5 (policies)", None, "cis_policies", ("policies",), benchmark=True, areas=("workloads", "rbac")),
    # KS-RB-* (RBAC abuse) are RBAC, KS-NET-* / KS-CM-* (exposure, literal secrets) workloads
    Source("cluster-policy", "Cluster policy rules", None, "cluster_policy", ("policies",), areas=("workloads", "rbac")),
)
SOURCES_BY_NAME = {source.name: source for source in SOURCE_TABLE}
SOURCE_NAMES = tuple(source.name for source in SOURCE_TABLE)
CIS_SOURCES = tuple(source.name for source in SOURCE_TABLE if source.cis)
BENCHMARK_SOURCES = tuple(source.name for source in SOURCE_TABLE if source.benchmark)


def collector_sources() -> dict[str, tuple[str, ...]]:
    """meta/sources.json collector name -> the finding sources its run covers (in SOURCE_TABLE order)."""
    out: dict[str, tuple[str, ...]] = {}
    for source in SOURCE_TABLE:
        for collector in source.collectors:
            out[collector] = (*out.get(collector, ()), source.name)
    return out
