"""playbooks/report.yml end to end with two clusters: every file, the multi-cluster index, gates, no secrets."""

from __future__ import annotations

import json
import shutil
import sys
import pytest
import yaml

from tests.conftest import ROOT, run_playbook

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "report"))
import synth

RUN = "20261124T101500Z"
SECRETS = ("S3cr3t-UI-pass", "123456:AAF-telegram-token", "smtp-app-password-xyz")


def inventory(base, alpha_vars):
    hosts = {
        "all": {
            "children": {
                "alpha": {"children": {"alpha_cp": {"hosts": {"alpha-cp-1": {}}}, "alpha_workers": {"hosts": {"alpha-w-1": {}}}}},
                "beta": {"children": {"beta_cp": {"hosts": {"beta-cp-1": {}}}}},
                "control_plane": {"children": {"alpha_cp": {}, "beta_cp": {}}},
                "workers": {"children": {"alpha_workers": {}}},
            }
        }
    }
    (base / "inv" / "group_vars").mkdir(parents=True, exist_ok=True)
    (base / "inv" / "hosts.yml").write_text(yaml.safe_dump(hosts))
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (base / "inv" / "group_vars" / "alpha.yml").write_text(yaml.safe_dump(dict(common, kubesec_cluster="alpha", **alpha_vars)))
    (base / "inv" / "group_vars" / "beta.yml").write_text(yaml.safe_dump(dict(common, kubesec_cluster="beta")))
    return base / "inv"


@pytest.fixture(scope="module")
def two_clusters(tmp_path_factory):
    base = tmp_path_factory.mktemp("play")
    reports = base / "reports"
    synth.write_run(str(reports / "alpha" / RUN), cluster="alpha", nodes=2, workloads=6, vulns=66, seed=3)
    synth.write_run(str(reports / "beta" / RUN), cluster="beta", nodes=1, workloads=3, vulns=33, seed=4, actions=0)
    alpha_vars = {
        "kubesec_report_fail_on": {"severity": "critical", "cis_fail": True},
        "kubesec_falco": {
            "enabled": True,
            "ui": {"enabled": True, "user": "secops", "password": SECRETS[0]},
            "alerts": {
                "minimum_priority": "warning",
                "telegram": {"enabled": True, "token": SECRETS[1], "chat_id": "-100123"},
                "email": {"enabled": False, "password": SECRETS[2]},
            },
        },
        "kubesec_trivy_operator": {"enabled": True, "namespaces": ["shop"], "scanners": {"exposed_secrets": False}},
        "kubesec_audit_logging": {"enabled": True},
    }
    inv = inventory(base, alpha_vars)
    proc = run_playbook(
        ROOT / "playbooks" / "report.yml", "-i", inv, "-v", "-e", "kubesec_run_id=" + RUN, "-e", "kubesec_reports_dir=" + str(reports), check=False
    )
    return {"reports": reports, "proc": proc, "base": base}


def test_gate_fails_the_play_after_every_file_is_written(two_clusters):
    proc, reports = two_clusters["proc"], two_clusters["reports"]
    assert proc.returncode != 0
    assert "Report gate(s) hit for cluster alpha" in proc.stdout
    assert "severity>=critical" in proc.stdout and "cis_fail" in proc.stdout
    for cluster in ("alpha", "beta"):
        for name in ("report.json", "report.html", "report.pdf", "junit.xml", "results.sarif"):
            assert (reports / cluster / RUN / name).stat().st_size > 500, (cluster, name)
    alpha = json.loads((reports / "alpha" / RUN / "report.json").read_text())
    beta = json.loads((reports / "beta" / RUN / "report.json").read_text())
    assert alpha["gates"]["failed"] is True and beta["gates"]["enabled"] is False
    # the index was written before the gate failed the play, and links both clusters
    index = (reports / "index.html").read_text()
    assert 'href="alpha/%s/report.html"' % RUN in index and 'href="beta/%s/report.html"' % RUN in index
    data = json.loads((reports / "index.json").read_text())
    assert [c["cluster"] for c in data["clusters"]] == ["alpha", "beta"]
    assert data["clusters"][0]["headline"]["gates_failed"] is True
    out = proc.stdout
    index_task = out.index("TASK [kubesec.cluster.report : Report | Write the index")
    stats_task = out.index("TASK [Report | Publish the report files and headline numbers (set_stats)]")
    gate_task = out.index("TASK [Report | Fail when a report gate is hit")
    assert index_task < stats_task < gate_task < out.rindex("Report gate(s) hit for cluster alpha")
    assert "fatal: [alpha-" in out[gate_task:] and "fatal: [beta-" not in out


def test_the_role_alone_fails_on_its_gates(two_clusters):
    base = two_clusters["base"]
    reports = base / "alone-reports"
    shutil.copytree(two_clusters["reports"] / "alpha" / RUN / "findings", reports / "alpha" / RUN / "findings")
    playbook = base / "role-alone.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Report role alone", "hosts": "alpha", "gather_facts": False, "roles": [{"role": "kubesec.cluster.report"}]}]))
    inv = inventory(base / "alone", {"kubesec_report_fail_on": {"severity": "critical"}})
    proc = run_playbook(
        playbook,
        "-i",
        inv,
        "-e",
        "kubesec_run_id=" + RUN,
        "-e",
        "kubesec_reports_dir=" + str(reports),
        "-e",
        '{"kubesec_report_formats": ["json"]}',
        check=False,
    )
    assert proc.returncode != 0
    gate_task = proc.stdout.index("TASK [kubesec.cluster.report : Report | Fail when a report gate is hit")
    assert "Report gate(s) hit for cluster alpha" in proc.stdout[gate_task:]


def test_feature_state_comes_from_the_inventory_without_secrets(two_clusters):
    reports, proc = two_clusters["reports"], two_clusters["proc"]
    alpha = json.loads((reports / "alpha" / RUN / "report.json").read_text())
    # applied: false only with kubesec_render_only (issue 24: "rendered, not applied")
    assert alpha["features"] == {
        "falco": {"enabled": True, "applied": True, "ui": True, "channels": ["telegram"], "minimum_priority": "warning"},
        "trivy_operator": {"enabled": True, "applied": True, "namespaces": ["shop"], "scanners": {"exposed_secrets": False}},
        "audit_logging": {"enabled": True, "applied": True},
    }
    beta = json.loads((reports / "beta" / RUN / "report.json").read_text())
    assert beta["features"]["falco"] == {"enabled": False, "applied": True, "ui": False, "channels": []}
    outputs = [p for p in reports.rglob("*") if p.is_file() and p.suffix in (".json", ".html", ".xml", ".sarif")]
    for secret in (*SECRETS, "-100123"):
        assert secret not in proc.stdout
        for path in outputs:
            assert secret not in path.read_text(errors="replace"), (secret, path)


def test_a_typo_in_the_gates_stops_the_run(two_clusters):
    base = two_clusters["base"]
    reports = base / "typo-reports"
    for cluster in ("alpha", "beta"):
        shutil.copytree(two_clusters["reports"] / cluster / RUN / "findings", reports / cluster / RUN / "findings")
    inv = inventory(base / "typo", {"kubesec_report_fail_on": {"severty": "high"}})
    proc = run_playbook(
        ROOT / "playbooks" / "report.yml",
        "-i",
        inv,
        "-e",
        "kubesec_run_id=" + RUN,
        "-e",
        "kubesec_reports_dir=" + str(reports),
        "-e",
        '{"kubesec_report_formats": ["json"]}',
        check=False,
    )
    assert proc.returncode != 0
    assert "fail_on has unknown key(s) severty" in proc.stdout
    assert (reports / "beta" / RUN / "report.json").is_file()  # the other cluster is reported all the same


def test_report_yml_alone_re_renders_the_latest_run_and_says_so(two_clusters):
    """Issue 24: `playbooks/report.yml` alone (a new run id, no folder) re-renders the latest run of each cluster
    (after a waiver change, say), warns which, and prints the five-line summary; a run folder without findings is an
    error that names -e kubesec_run_id."""
    base = two_clusters["base"]
    reports = base / "rerender-reports"
    for cluster in ("alpha", "beta"):
        shutil.copytree(two_clusters["reports"] / cluster / RUN / "findings", reports / cluster / RUN / "findings")
    inv = inventory(base / "rerender", {})
    proc = run_playbook(
        ROOT / "playbooks" / "report.yml", "-i", inv, "-e", "kubesec_reports_dir=" + str(reports), "-e", '{"kubesec_report_formats": ["json"]}', check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "re-rendered the latest run %s" % RUN in proc.stdout and "-e kubesec_run_id=<id>" in proc.stdout
    assert (reports / "alpha" / RUN / "report.json").is_file()
    summary = proc.stdout[proc.stdout.index("TASK [kubesec.cluster.report : Report | Summary") :]
    for start in ("Grades: ", "Open: ", "Audit log", "Gates: ", "Report: "):
        assert start in summary, start
    assert "Audit log None" not in proc.stdout and "Audit log not assessed" in summary.replace(":", "")
    (reports / "beta" / "20990101T000000Z").mkdir()
    proc = run_playbook(
        ROOT / "playbooks" / "report.yml",
        "-i",
        inv,
        "-e",
        "kubesec_reports_dir=" + str(reports),
        "-e",
        "kubesec_run_id=20990101T000000Z",
        "-e",
        '{"kubesec_report_formats": ["json"]}',
        check=False,
    )
    assert proc.returncode != 0
    assert "run 20990101T000000Z has no findings directory" in proc.stdout
    assert "re-render an earlier run with -e kubesec_run_id=<id> (runs with findings: %s)" % RUN in proc.stdout
