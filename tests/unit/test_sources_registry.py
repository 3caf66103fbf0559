"""The findings sources are declared once (module_utils/_sources.SOURCE_TABLE); everything that names sources agrees
with it: the findings schema, make_finding, the report's sections and templates, the scoring areas, the collectors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _finding, _sources
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _inputs, _render, _report_sections, _scoring
from tests.conftest import COLLECTION, ROOT

SCHEMAS = (COLLECTION / "data" / "schemas" / "findings.schema.json", ROOT / "docs" / "findings.schema.json")


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: str(p.relative_to(ROOT)))
def test_schema_source_enum_is_the_registry(path):
    enum = json.loads(path.read_text())["properties"]["source"]["enum"]
    assert enum == list(_sources.SOURCE_NAMES), "%s: the source enum must list _sources.SOURCE_TABLE in its order" % path.relative_to(ROOT)


def test_names_are_unique_and_make_finding_accepts_exactly_them():
    assert len(set(_sources.SOURCE_NAMES)) == len(_sources.SOURCE_NAMES)
    assert _finding.SOURCES == _sources.SOURCE_NAMES
    for name in _sources.SOURCE_NAMES:
        assert _finding.make_finding("X-1", name, "t", "fail")["source"] == name
    with pytest.raises(_finding.FindingError, match="not-a-source"):
        _finding.make_finding("X-1", "not-a-source", "t", "fail")


def test_every_source_has_a_section_a_template_an_area_and_known_collectors():
    sections = dict((section.key, section) for section in _report_sections.SECTIONS)
    area_keys = set(_scoring.AREA_KEYS)
    for source in _sources.SOURCE_TABLE:
        assert source.section in sections, source.name
        assert source.name in sections[source.section].sources
        assert source.area is None or source.area in area_keys, source.name
        assert source.order in _report_sections.ORDERS, source.name
        for collector in source.collectors:
            assert collector in _inputs.COLLECTOR_AREAS, (source.name, collector)
            assert source.name in _inputs.COLLECTOR_SOURCES[collector]
        assert _report_sections.SOURCE_TITLES[source.name] == source.title
    for section in _report_sections.SECTIONS:
        assert (COLLECTION / "data" / "report_templates" / "sections" / section.template).is_file(), section.key
        if section.template == "simple.html.j2":
            assert len(section.sources) == 1 and len(section.absent) == 2, section.key


def test_scoring_and_inputs_are_built_from_the_registry():
    assert _scoring.SOURCE_AREA == {s.name: s.area for s in _sources.SOURCE_TABLE if s.area}
    assert _scoring.BENCHMARK_SOURCES == ("cis-node", "cis-control-plane", "kube-bench", "cis-policies")
    # exposed secrets alone do not show that images were scanned for vulnerabilities
    assert _scoring.EVIDENCE_SOURCES == {"vulnerabilities": ("trivy-vulnerability",)}
    assert _inputs.COLLECTOR_SOURCES["trivy_operator"] == ("trivy-vulnerability", "trivy-config", "trivy-rbac", "trivy-infra", "trivy-exposed-secret")
    assert _inputs.COLLECTOR_SOURCES["trivy_cli"] == ("trivy-vulnerability", "trivy-config", "trivy-rbac", "trivy-exposed-secret")
    assert _inputs.ASSESSED_ALIASES["trivy-exposed-secret"] is None
    assert _inputs.ASSESSED_ALIASES["cis-control-plane"] == "control_plane"


def test_templates_come_from_the_collection_data_and_sections_are_includes():
    assert _render.TEMPLATE_DIR == str((COLLECTION / "data" / "report_templates").resolve())
    assert not (COLLECTION / "roles" / "report" / "templates").exists()
    sections_template = (COLLECTION / "data" / "report_templates" / "_sections.html.j2").read_text()
    assert "elif key ==" not in sections_template
    for page in ("report.html.j2", "report_print.html.j2"):
        assert "{% include s.template +%}" in (COLLECTION / "data" / "report_templates" / page).read_text()


def test_sync_schemas_writes_a_new_source_into_the_schema_enum(tmp_path):
    # A new source is declared in _sources.py only: scripts/sync-schemas writes it into both schema copies.
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "sync-schemas").write_text((ROOT / "scripts" / "sync-schemas").read_text())
    collection = tmp_path / "collections/ansible_collections/kubesec/cluster"
    (collection / "plugins" / "module_utils").mkdir(parents=True)
    (collection / "data" / "schemas").mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    registry = (COLLECTION / "plugins" / "module_utils" / "_sources.py").read_text()
    anchor = "\n)\nSOURCES_BY_NAME"  # the end of SOURCE_TABLE: the new source comes last
    assert anchor in registry
    registry = registry.replace(anchor, '\n    Source("net-exposure", "Network exposure", "workloads", "config", ("net",)),' + anchor)
    (collection / "plugins" / "module_utils" / "_sources.py").write_text(registry)
    for name in ("findings.schema.json", "report.schema.json"):
        (collection / "data" / "schemas" / name).write_text((COLLECTION / "data" / "schemas" / name).read_text())
        (tmp_path / "docs" / name).write_text((COLLECTION / "data" / "schemas" / name).read_text())
    script = str(tmp_path / "scripts" / "sync-schemas")
    stale = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert stale.returncode == 1 and "findings.schema.json" in stale.stderr
    subprocess.run([sys.executable, script], check=True)
    for path in (collection / "data" / "schemas" / "findings.schema.json", tmp_path / "docs" / "findings.schema.json"):
        enum = json.loads(path.read_text())["properties"]["source"]["enum"]
        assert enum == [*_sources.SOURCE_NAMES, "net-exposure"]
    assert subprocess.run([sys.executable, script, "--check"], capture_output=True).returncode == 0
