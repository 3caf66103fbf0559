# -*- coding: utf-8 -*-
"""The playbooks run through ansible-runner the way AWX runs a job, on the SSH test hosts.

For every job AWX lays out a private data dir and calls ``ansible-runner run <dir> -p <playbook>``:

    project/            the project checkout (here: ansible.cfg, playbooks/, inventories/, collections/ without tests)
    inventory/hosts     an executable inventory script printing the inventory JSON (AWX writes one like it)
    env/extravars       extra vars of the job (survey answers, workflow artifacts of the previous node)
    env/envvars         environment AWX sets (job id, collections path from the project, control path dir)
    env/ssh_key         the machine credential's private key: ansible-runner hands it to ssh-agent
    env/cmdline         further ansible-playbook arguments (the credential's user, forks)
    artifacts/<ident>/  what the job leaves: rc, status, stdout, job_events/*.json, fact_cache/

The test bed's inventory is turned into what AWX would hold: its per-host key file, user and IdentitiesOnly
are removed (the key comes from env/ssh_key through ssh-agent, the user from env/cmdline). Then one workflow is
played: onboard (publishes the run id with set_stats) -> audit -> report, each job getting the artifacts of the
previous one as extra vars, as AWX workflow nodes do.

The definitions in docs/awx/ are checked against the argument specs of the awx.awx modules that would apply them
(awx.awx from the `ansible` package), the survey against AWX's question types, the workflow's node references and
the schedule's rrule. No AWX runs here.
"""

import importlib
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from tests.testbed.fixtures import testbed_fixture  # noqa: F401  (pytest fixture `testbed`)

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
AUDIT_TASK = "CIS | Audit the node in one call"

AWX_DIR = ROOT / "docs" / "awx"


def _awx_inventory(testbed):
    """The test bed inventory as AWX would serve it: JSON from a script, no key file, no per-host user."""
    listed = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(testbed.inventory), "--list"], env=testbed.env(), capture_output=True, text=True, check=True
    )
    data = json.loads(listed.stdout)
    for hostvars in data["_meta"]["hostvars"].values():
        hostvars.pop("ansible_ssh_private_key_file")
        hostvars.pop("ansible_user")
        args = shlex.split(hostvars["ansible_ssh_common_args"])
        pairs = [args[i : i + 2] for i in range(0, len(args), 2)]
        kept = [p for p in pairs if p[1] != "IdentitiesOnly=yes"]
        assert len(kept) == len(pairs) - 1
        hostvars["ansible_ssh_common_args"] = " ".join(shlex.quote(a) for p in kept for a in p)
    return data


def _private_data_dir(tmp_path, testbed, reports):
    pdd = tmp_path / "awx_job"
    project = pdd / "project"
    project.mkdir(parents=True)
    shutil.copy(ROOT / "ansible.cfg", project / "ansible.cfg")
    shutil.copytree(ROOT / "playbooks", project / "playbooks")
    shutil.copytree(ROOT / "collections", project / "collections", ignore=shutil.ignore_patterns("tests", "__pycache__", "*.pyc"))
    # the checkout AWX syncs has the demo inventory too, whose vault password file ansible.cfg names
    shutil.copytree(ROOT / "inventories", project / "inventories")
    (pdd / "inventory").mkdir()
    script = pdd / "inventory" / "hosts"
    script.write_text(
        "#!%s\n# Inventory script as AWX writes one for a job.\nimport json, sys\nDATA = json.loads(%r)\n"
        "print(json.dumps(DATA if '--list' in sys.argv else {}))\n" % (sys.executable, json.dumps(_awx_inventory(testbed)))
    )
    script.chmod(0o700)
    env = pdd / "env"
    env.mkdir()
    (env / "ssh_key").write_text((testbed.dir / "ssh" / "id_ed25519").read_text())
    (env / "cmdline").write_text("-u root --forks 10")
    (env / "envvars").write_text(
        json.dumps(
            {
                "JOB_ID": "4711",
                "AWX_HOST": "https://awx.example.invalid",
                "ANSIBLE_COLLECTIONS_PATHS": "%s:%s" % (project / "collections", pdd / "requirements_collections"),
                "ANSIBLE_ROLES_PATH": str(project / "collections/ansible_collections/kubesec/cluster/roles"),
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(pdd / "cp"),
                "ANSIBLE_RETRY_FILES_ENABLED": "False",
                "ANSIBLE_FORCE_COLOR": "0",
                "PATH": "%s:%s" % (BIN, os.environ.get("PATH", "")),
            }
        )
    )
    return pdd


def _run_job(pdd, playbook, ident, extravars):
    (pdd / "env" / "extravars").write_text(json.dumps(extravars))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = "%s:%s" % (BIN, env.get("PATH", ""))
    proc = subprocess.run(
        [str(BIN / "ansible-runner"), "run", str(pdd), "-p", playbook, "--ident", ident], env=env, capture_output=True, text=True, timeout=900
    )
    artifacts = pdd / "artifacts" / ident
    assert (artifacts / "rc").read_text().strip() == "0", "%s failed (runner rc %s):\n%s" % (
        playbook,
        proc.returncode,
        (artifacts / "stdout").read_text()[-6000:],
    )
    assert (artifacts / "status").read_text().strip() == "successful"
    events = [json.loads(p.read_text()) for p in sorted((artifacts / "job_events").glob("*.json"), key=lambda p: int(p.name.split("-", 1)[0]))]
    return artifacts, events


def _stats(events):
    stats = [e for e in events if e["event"] == "playbook_on_stats"]
    assert len(stats) == 1
    return stats[0]["event_data"]


@pytest.mark.testbed
@pytest.mark.slow
@pytest.mark.skipif(not (BIN / "ansible-runner").exists(), reason="ansible-runner is not installed (test extras)")
def test_workflow_onboard_audit_report_through_ansible_runner(testbed, tmp_path):
    reports = tmp_path / "reports"
    pdd = _private_data_dir(tmp_path, testbed, reports)
    base = {"kubesec_reports_dir": str(reports)}

    # 1. onboarding publishes the run id (and the cluster facts) as artifacts
    _artifacts, events = _run_job(pdd, "playbooks/onboard.yml", "onboard", dict(base, kubesec_onboard_api=False))
    artifacts = _stats(events)["artifact_data"]
    run_id = artifacts["kubesec_run_id"]
    assert artifacts["kubesec_cluster_facts"][testbed.cluster]["distribution"] == "kubeadm"

    # 2. the audit, with the artifacts of the previous node as extra vars
    extravars = dict(base, **artifacts)
    _unused, events = _run_job(pdd, "playbooks/audit.yml", "audit", extravars)
    stats = _stats(events)
    assert not stats["failures"] and not stats["dark"], stats
    audited = {e["event_data"]["host"] for e in events if e["event"] == "runner_on_ok" and e["event_data"].get("task") == AUDIT_TASK}
    assert audited == set(testbed.hosts)
    for event in events:
        if event["event"] == "runner_on_ok" and event["event_data"].get("task") == AUDIT_TASK:
            assert event["event_data"]["res"]["findings"], event["event_data"]["host"]
    findings = reports / testbed.cluster / run_id / "findings"
    assert sorted(p.name for p in findings.glob("cis-*.json")) == sorted(f"cis-{h}.json" for h in testbed.hosts)

    # 3. the report: files and headline numbers per cluster in the job's artifacts
    artifacts_dir, events = _run_job(pdd, "playbooks/report.yml", "report", extravars)
    data = _stats(events)["artifact_data"]
    ours = data["kubesec_reports"][testbed.cluster]
    assert ours["run_id"] == run_id
    for fmt in ("html", "pdf", "json"):
        path = pathlib.Path(ours["files"][fmt])
        assert path.is_file() and path.parent == reports / testbed.cluster / run_id, path
    report = json.loads(pathlib.Path(ours["files"]["json"]).read_text())
    assert ours["by_status"] == report["summary"]["by_status"]
    assert ours["open"] == report["summary"]["by_status"]["fail"] + report["summary"]["by_status"]["warn"] > 0
    assert data["kubesec_open_problems"] == ours["open"]
    assert data["kubesec_critical_problems"] == ours["problems_by_severity"].get("critical", 0)
    # ansible-runner also keeps the stats beside the events
    assert (artifacts_dir / "job_events").is_dir() and (artifacts_dir / "stdout").read_text().count("PLAY RECAP") == 1


# ---------------------------------------------------------------------------------------------- docs/awx definitions
class _Captured(Exception):
    pass


def _awx_spec(module):
    """argument_spec of an awx.awx module, captured from its main() (the modules build it there)."""
    mod = importlib.import_module("ansible_collections.awx.awx.plugins.modules.%s" % module)
    api = importlib.import_module("ansible_collections.awx.awx.plugins.module_utils.controller_api")
    captured = {}

    def capture(self, argument_spec=None, **kwargs):
        captured["spec"] = argument_spec
        raise _Captured()

    original = api.ControllerAPIModule.__init__
    api.ControllerAPIModule.__init__ = capture
    try:
        with pytest.raises(_Captured):
            mod.main()
    finally:
        api.ControllerAPIModule.__init__ = original
    return captured["spec"]


def _validate(module, params):
    result = ArgumentSpecValidator(_awx_spec(module)).validate(params)
    assert not result.error_messages, (module, params.get("name"), result.error_messages)
    return result.validated_parameters


def _load(name):
    return yaml.safe_load((AWX_DIR / name).read_text())


def test_awx_definitions_match_the_awx_awx_modules():
    pytest.importorskip("ansible_collections.awx.awx")
    _validate("credential_type", _load("credential-type-kubeconfig.yml"))
    for credential in _load("credentials.yml"):
        _validate("credential", credential)
    _validate("project", _load("project.yml")["project"])
    _validate("execution_environment", _load("project.yml")["execution_environment"])
    _validate("notification_template", _load("notification-template.yml"))
    survey = json.loads((AWX_DIR / "survey-audit.json").read_text())
    templates = _load("job-templates.yml")
    for template in templates:
        params = dict(template, survey_spec=survey) if template.get("survey_enabled") else template
        _validate("job_template", params)
        assert (ROOT / template["playbook"]).is_file(), template["playbook"]
        assert template["ask_limit_on_launch"] is True  # the clusters are chosen with the limit
    _validate("workflow_job_template", dict(_load("workflow-nightly-audit.yml"), survey_spec=survey))
    _validate("schedule", _load("schedule-nightly-audit.yml"))


def test_awx_credential_type_injects_the_kubeconfig_everywhere_it_is_read():
    ctype = _load("credential-type-kubeconfig.yml")
    fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
    assert fields["kubeconfig"]["secret"] and fields["kubeconfig"]["multiline"]
    assert ctype["injectors"]["file"] == {"template.kubeconfig": "{{ kubeconfig }}"}
    assert ctype["injectors"]["env"] == {"KUBECONFIG": "{{ tower.filename.kubeconfig }}", "K8S_AUTH_KUBECONFIG": "{{ tower.filename.kubeconfig }}"}
    assert ctype["injectors"]["extra_vars"] == {"kubesec_kubeconfig": "{{ tower.filename.kubeconfig }}"}
    # every cluster of the example names its context: one kubeconfig holds them all
    for cluster in ("prod", "staging", "edge"):
        assert "kubesec_kube_context:" in (ROOT / "inventories/example/group_vars" / cluster / "main.yml").read_text()


def test_awx_survey_questions_are_valid_and_used():
    survey = json.loads((AWX_DIR / "survey-audit.json").read_text())
    assert survey["name"] and survey["description"]
    consumers = (ROOT / "inventories/example/group_vars/all.yml").read_text() + (ROOT / "inventories/example/group_vars/prod/main.yml").read_text()
    for question in survey["spec"]:
        assert question["type"] in ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")
        assert re.fullmatch(r"kubesec_[a-z_]+", question["variable"])
        assert question["variable"] in consumers, question["variable"]  # the inventory turns it into a setting
        if question["type"] == "multiplechoice":
            assert question["default"] in question["choices"]
    gates = {q["variable"]: q for q in survey["spec"]}
    assert gates["kubesec_fail_on_severity"]["choices"][0] == "none"


def test_awx_workflow_nodes_and_schedule():
    workflow = _load("workflow-nightly-audit.yml")
    templates = {t["name"]: t for t in _load("job-templates.yml")}
    nodes = {n["identifier"]: n for n in workflow["workflow_nodes"]}
    assert list(nodes) == ["onboard", "audit", "report"]
    for node in nodes.values():
        assert node["unified_job_template"]["name"] in templates
        for edge in ("success_nodes", "failure_nodes", "always_nodes"):
            for target in node["related"].get(edge, []):
                assert target["identifier"] in nodes
    assert nodes["onboard"]["related"]["always_nodes"] == [{"identifier": "audit"}]
    assert nodes["audit"]["related"]["always_nodes"] == [{"identifier": "report"}]
    notify = [_load("notification-template.yml")["name"]]
    assert workflow["notification_templates_error"] == notify
    # an "always" edge handles a failure for the workflow: the jobs of the nodes notify themselves
    for node in nodes.values():
        assert templates[node["unified_job_template"]["name"]]["notification_templates_error"] == notify
    # the report is never sliced; the sliced audit leaves the cluster-wide sources to kubesec collect
    assert "job_slice_count" not in templates["kubesec report"]
    sliced = templates["kubesec audit nodes (sliced)"]
    assert sliced["job_slice_count"] > 1 and sliced["skip_tags"] == "collect"
    schedule = _load("schedule-nightly-audit.yml")
    assert schedule["unified_job_template"] == workflow["name"]
    from dateutil import rrule

    text = schedule["rrule"]
    start = re.match(r"DTSTART;TZID=([\w/]+):(\d{8}T\d{6}) RRULE:(.+)$", text)
    assert start, text
    rule = rrule.rrulestr("RRULE:" + start.group(3), dtstart=__import__("datetime").datetime.strptime(start.group(2), "%Y%m%dT%H%M%S"))
    first = list(rule[:2])
    assert (first[1] - first[0]).days == 1 and first[0].hour == 2 and first[0].minute == 30


def test_awx_publish_definitions_match_the_role_and_the_awx_modules():
    """Issue 24: kubesec publish (report_upload), its credential type and the success notification with the link."""
    pytest.importorskip("ansible_collections.awx.awx")
    ctype = _validate("credential_type", _load("credential-type-artifact-server.yml"))
    notification = _validate("notification_template", _load("notification-template-published.yml"))
    publish = {t["name"]: t for t in _load("job-templates.yml")}["kubesec publish"]
    assert publish["playbook"] == "playbooks/publish.yml"
    assert publish["notification_templates_success"] == [notification["name"]]
    assert "Artifact server (kubesec)" in [c["credential_type"] for c in _load("credentials.yml") if c["name"] in publish["credentials"]]
    # the credential injects exactly the inventory-wide variables the role reads
    defaults = yaml.safe_load((ROOT / "collections/ansible_collections/kubesec/cluster/roles/report_upload" / "defaults/main.yml").read_text())
    for variable in ctype["injectors"]["extra_vars"]:
        assert any(f"{{{{ {variable} |" in str(value) for value in defaults.values()), variable
    assert {f["id"] for f in ctype["inputs"]["fields"] if f.get("secret")} == {"password", "token"}
    assert "/index.html" in notification["messages"]["success"]["body"]
