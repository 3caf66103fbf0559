"""`ansible-galaxy collection build` makes an installable tarball, and the installed collection works."""

from __future__ import annotations

import json
import subprocess

import jsonschema
from referencing import Registry, Resource

from tests.conftest import COLLECTION, VENV_BIN, ansible_env


def test_build_install_and_use(tmp_path):
    build = subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "build", str(COLLECTION), "--output-path", str(tmp_path)], capture_output=True, text=True, check=True
    )
    tarballs = list(tmp_path.glob("kubesec-cluster-*.tar.gz"))
    assert len(tarballs) == 1, build.stdout
    install_path = tmp_path / "installed"
    clean = ansible_env(ANSIBLE_COLLECTIONS_PATH=install_path)
    clean.pop("ANSIBLE_CONFIG")  # a clean controller: not the checkout's ansible.cfg
    subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--no-deps", str(tarballs[0]), "-p", str(install_path)],
        capture_output=True,
        text=True,
        check=True,
        env=clean,
        cwd=tmp_path,
    )
    installed = install_path / "ansible_collections" / "kubesec" / "cluster"
    for rel in (
        "plugins/modules/cis_node_audit.py",
        "plugins/action/report.py",
        "data/cis/cis-1.12.yml",
        "data/cis/cis-1.11.yml",
        "data/schemas/cis-catalogue.json",
        "data/report_templates/report.html.j2",
        "data/report_templates/sections/cis_nodes.html.j2",
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "meta/ee-requirements.txt",
        "meta/ee-bindep.txt",
        "LICENSE",
        "data/schemas/findings.schema.json",
        "data/schemas/report.schema.json",
    ):
        assert (installed / rel).is_file(), rel
    assert not (installed / "tests" / "output").exists()
    # The installed copy (not the checkout) runs the node audit, catalogue and all, then the report from its findings.
    env = clean
    node = tmp_path / "node"
    node.mkdir()
    reports = tmp_path / "reports"
    play = tmp_path / "audit_and_report.yml"
    play.write_text(f"""
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - kubesec.cluster.cis_node_audit:
        root: {node}
        cluster: built
        findings_file: {reports}/built/run1/findings/cis-localhost.json
      register: audit
    - kubesec.cluster.report:
        cluster: built
        run_id: run1
        reports_dir: {reports}
        formats: [json, html]
      register: report
    - ansible.builtin.copy:
        content: "{{{{ audit.findings | length }}}}"
        dest: {tmp_path}/audit_count
""")
    run = subprocess.run([str(VENV_BIN / "ansible-playbook"), str(play)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    # The plugins came from the installed tree, not from the checkout.
    verbose = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), "--json", "kubesec.cluster.report"], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    )
    assert str(installed) in json.loads(verbose.stdout)["kubesec.cluster.report"]["doc"]["filename"]
    findings = json.loads((reports / "built/run1/findings/cis-localhost.json").read_text())
    findings = findings["findings"] if isinstance(findings, dict) else findings
    assert findings and {f["benchmark"] for f in findings} == {"cis-1.12"}
    assert len(findings) == int((tmp_path / "audit_count").read_text())
    report = json.loads((reports / "built/run1/report.json").read_text())
    assert (reports / "built/run1/report.html").is_file()
    # report.json validates against the schema shipped in the installed collection, and holds every audit finding.
    schemas = installed / "data" / "schemas"
    finding_schema = json.loads((schemas / "findings.schema.json").read_text())
    registry = Registry().with_resource(finding_schema["$id"], Resource.from_contents(finding_schema))
    jsonschema.Draft202012Validator(json.loads((schemas / "report.schema.json").read_text()), registry=registry).validate(report)
    assert len(report["findings"]) == len(findings)
    doc = subprocess.run([str(VENV_BIN / "ansible-doc"), "kubesec.cluster.report"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "Merges every findings file" in " ".join(doc.stdout.split())
    # The playbooks ship in the collection: `ansible-playbook kubesec.cluster.report` from the installed tree renders
    # the same run again, and with no kubesec_reports_dir the reports go to ./reports of the working directory
    # (tmp_path/reports), never into the installed collection.
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[workers]\nbuilt-node ansible_connection=local kubesec_cluster=built ansible_python_interpreter=" + str(VENV_BIN / "python") + "\n")
    (reports / "built/run1/report.json").unlink()
    for name in ("site", "harden", "audit", "collect", "report", "features", "enforce", "onboard", "respond", "node_updates", "audit_log", "publish"):
        assert (installed / "playbooks" / (name + ".yml")).is_file(), name
    played = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "kubesec.cluster.report", "-e", "kubesec_run_id=run1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert played.returncode == 0, played.stdout + played.stderr
    assert json.loads((reports / "built/run1/report.json").read_text())["run_id"] == "run1"
    assert not list(installed.glob("reports")) and not list((installed / "playbooks").glob("reports"))
