"""The collection's own metadata: LICENSE, action groups, schemas, execution-environment files, changelog fragments."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import yaml
from packaging.requirements import Requirement

from tests.conftest import COLLECTION, ROOT, VENV_BIN, ansible_env, run_playbook

SHARED_OPTIONS = ("cluster", "kubeconfig", "context")


def test_license_is_the_full_gpl3_text():
    text = (COLLECTION / "LICENSE").read_text()
    assert text.startswith("                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007")
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 30000
    assert yaml.safe_load((COLLECTION / "galaxy.yml").read_text())["license"] == ["GPL-3.0-or-later"]


def test_schemas_in_the_collection_and_docs_agree():
    names = sorted(p.name for p in (COLLECTION / "data" / "schemas").glob("*.schema.json"))
    assert names == ["findings.schema.json", "report.schema.json"]
    for name in names:
        json.loads((COLLECTION / "data" / "schemas" / name).read_text())  # valid JSON
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync-schemas"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_sync_schemas_check_names_a_stale_copy(tmp_path):
    # The check must fail on a difference: run the script on a copy of the layout with one docs copy changed.
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "sync-schemas").write_text((ROOT / "scripts" / "sync-schemas").read_text())
    source = tmp_path / "collections/ansible_collections/kubesec/cluster/data/schemas"
    source.mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    (source / "findings.schema.json").write_text('{"type": "object"}\n')
    (tmp_path / "docs" / "findings.schema.json").write_text('{"type": "array"}\n')
    script = str(tmp_path / "scripts" / "sync-schemas")
    stale = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert stale.returncode == 1 and "docs/findings.schema.json" in stale.stderr
    subprocess.run([sys.executable, script], check=True)
    assert (tmp_path / "docs" / "findings.schema.json").read_text() == '{"type": "object"}\n'


def test_action_group_members_document_the_shared_options():
    groups = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())["action_groups"]
    members = groups["cluster"]
    names = [f"kubesec.cluster.{m}" for m in members]
    out = subprocess.run([str(VENV_BIN / "ansible-doc"), "--json", *names], capture_output=True, text=True, env=ansible_env(), check=True)
    docs = json.loads(out.stdout)
    for name in names:
        doc = docs[name]["doc"]
        # Ansible passes every group default to every member: a member without one of them would fail the task.
        assert set(SHARED_OPTIONS) <= set(doc["options"]), name
        assert doc["attributes"]["action_group"]["membership"] == ["kubesec.cluster.cluster"], name
    # and no other module claims membership it does not have
    for module in (COLLECTION / "plugins" / "modules").glob("*.py"):
        if module.stem not in members:
            assert "kubesec.cluster.cluster\n" not in module.read_text(), module.name


def test_module_defaults_of_the_group_reach_the_modules(tmp_path):
    node = tmp_path / "node"
    node.mkdir()
    play = tmp_path / "play.yml"
    play.write_text(f"""
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/kubesec.cluster.cluster:
      cluster: grouped
      kubeconfig: {tmp_path}/no-such-kubeconfig
      context: ctx1
  tasks:
    - kubesec.cluster.cis_node_audit:
        root: {node}
      register: audit
    - ansible.builtin.assert:
        that:
          - audit.findings | map(attribute='cluster') | unique | list == ['grouped']
          - (audit.findings | selectattr('id', 'search', '4[.]3[.]1$') | first).status == 'warn'
          - "'no-such-kubeconfig' in (audit.findings | selectattr('id', 'search', '4[.]3[.]1$') | first | to_json)"
""")
    run_playbook(play, cwd=tmp_path)


def _names(path):
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(Requirement(line).name.lower())
    return names


def test_collection_ee_dependencies_follow_the_project_image():
    meta = yaml.safe_load((COLLECTION / "meta" / "execution-environment.yml").read_text())
    assert meta["version"] == 1
    python = COLLECTION / meta["dependencies"]["python"]
    system = COLLECTION / meta["dependencies"]["system"]
    assert _names(python) == _names(ROOT / "execution-environment" / "requirements.txt")
    for line in python.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:  # lower bounds only, so collections in one image can agree (ansible-builder's rule)
            assert all(spec.operator == ">=" for spec in Requirement(line).specifier), line
    image_rules = set((ROOT / "execution-environment" / "bindep.txt").read_text().splitlines())
    rules = [r for r in system.read_text().splitlines() if r and not r.startswith("#")]
    assert rules and set(rules) <= image_rules
    build = yaml.safe_load((COLLECTION / "galaxy.yml").read_text()).get("build_ignore", [])
    assert not any(pattern.startswith("meta") for pattern in build)


# "<name> - new module ..." (antsibull adds new plugins itself; new roles go in an "add object.role" section)
NEW_PLUGIN = re.compile(r" - new (?:modules?|actions?|plugins?|filters?|lookups?|tests?|roles?)\b", re.I)


def test_changelog_fragments_leave_new_modules_to_antsibull():
    for fragment in sorted((COLLECTION / "changelogs" / "fragments").glob("*.yml")):
        text = fragment.read_text()
        data = yaml.safe_load(text)
        assert isinstance(data, dict) and data, fragment.name
        for section, entries in data.items():
            if section.startswith("add object."):
                assert all(set(e) == {"name", "description"} for e in entries), fragment.name
            else:
                for entry in entries:
                    assert not NEW_PLUGIN.search(entry), f"{fragment.name}: {entry}"
