# -*- coding: utf-8 -*-
"""playbooks/features.yml (render_only) and playbooks/respond.yml (--check) run for real with ansible-playbook.

Two clusters in one inventory with different toggles; idempotence; check mode; removal; the refusals; a -vvv run
whose every output, log line and rendered file is searched for the secrets; the alert channel test from the role
against local servers on 127.0.0.1. No cluster is needed: the Helm / Kubernetes API steps are not run here.
"""

import base64
import copy
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import jsonschema
import kubernetes_validate
import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _gitops

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = pathlib.Path(sys.executable).parent / "ansible-playbook"
FIXTURES = ROOT / "tests/fixtures/features"
_spec = importlib.util.spec_from_file_location("local_channels", FIXTURES / "local_channels.py")
lc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lc)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Requiring AUTH:UserWarning")]

UI_PASSWORD = "Ui-Pa55-prod-91kq"
TOKEN = "987654321:AAH-prod-token_Zq9xY"
SMTP_PASSWORD = "gmail-app-pass-prod-x7"
SECRETS = (UI_PASSWORD, TOKEN, SMTP_PASSWORD)
CHAT = "-1001234567890"


def _inventory(prod_falco=None, staging_falco=None, prod_trivy=None, staging_trivy=None, extra=None):
    prod_falco = (
        prod_falco
        if prod_falco is not None
        else {
            "enabled": True,
            "driver": "modern_ebpf",
            "ui": {"enabled": True, "user": "secops", "password": UI_PASSWORD},
            "alerts": {
                "minimum_priority": "error",
                "telegram": {"enabled": True, "token": TOKEN, "chat_id": CHAT},
                "email": {
                    "enabled": True,
                    "smtp_host": "smtp.gmail.com",
                    "smtp_port": 587,
                    "starttls": True,
                    "user": "alerts@example.org",
                    "password": SMTP_PASSWORD,
                    "to": ["oncall@example.org"],
                },
            },
        }
    )
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    common.update(extra or {})
    return {
        "all": {
            "vars": common,
            "children": {
                "prod": {
                    "vars": {
                        "kubesec_cluster": "prod",
                        "kubesec_falco": prod_falco,
                        "kubesec_trivy_operator": prod_trivy
                        if prod_trivy is not None
                        else {"enabled": True, "namespaces": ["shop", "payments"], "report_ttl": "30m", "scanners": {"exposed_secrets": False}},
                    },
                    "children": {"prod_control_plane": {"hosts": {"prod-cp-1": {}, "prod-cp-2": {}}}, "prod_workers": {"hosts": {"prod-worker-1": {}}}},
                },
                "staging": {
                    "vars": {
                        "kubesec_cluster": "staging",
                        "kubesec_falco": staging_falco if staging_falco is not None else {"enabled": True},
                        "kubesec_trivy_operator": staging_trivy if staging_trivy is not None else {"enabled": False},
                    },
                    "children": {"staging_control_plane": {"hosts": {"staging-cp-1": {}}}, "staging_workers": {"hosts": {"staging-worker-1": {}}}},
                },
                "control_plane": {"children": {"prod_control_plane": {}, "staging_control_plane": {}}},
                "workers": {"children": {"prod_workers": {}, "staging_workers": {}}},
            },
        }
    }


class Runner:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.reports = tmp_path / "reports"
        self.log = tmp_path / "ansible.log"
        self.outputs = []

    def run(self, playbook, inventory, *args, expect_rc=0):
        inv = self.tmp / "inventory.yml"
        inv.write_text(yaml.safe_dump(inventory))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update(
            ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_LOG_PATH=str(self.log),
            ANSIBLE_LOCAL_TEMP=str(self.tmp / "tmp"),
            ANSIBLE_HOME=str(self.tmp / "home"),
            ANSIBLE_RETRY_FILES_ENABLED="0",
            no_proxy="127.0.0.1",
            NO_PROXY="127.0.0.1",
        )
        cmd = [str(PLAYBOOK), "-c", "local", "-i", str(inv), str(ROOT / "playbooks" / playbook), "-e", "kubesec_reports_dir=%s" % self.reports, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False, cwd=self.tmp)
        out = proc.stdout + proc.stderr
        self.outputs.append(out)
        if expect_rc is not None:
            assert (proc.returncode == 0) == (expect_rc == 0), out[-4000:]
        return out

    @staticmethod
    def recap(out):
        return {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))} for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", out, re.M)}


@pytest.fixture
def runner(tmp_path):
    return Runner(tmp_path)


def _rendered(reports):
    return sorted(str(p.relative_to(reports)) for p in reports.rglob("*") if p.is_file())


def _load(path):
    return yaml.safe_load(path.read_text())


def test_render_only_two_clusters_idempotent_and_exact(runner):
    inventory = _inventory()
    out = runner.run("features.yml", inventory, "-e", "kubesec_render_only=true")
    assert _rendered(runner.reports) == [
        "prod/rendered/falco/application.yaml",
        "prod/rendered/falco/render.json",
        "prod/rendered/falco/required-secrets.yaml",
        "prod/rendered/falco/secrets.yaml",
        "prod/rendered/falco/values.yaml",
        "prod/rendered/trivy-operator/application.yaml",
        "prod/rendered/trivy-operator/render.json",
        "prod/rendered/trivy-operator/values.yaml",
        "staging/rendered/falco/application.yaml",
        "staging/rendered/falco/render.json",
        "staging/rendered/falco/values.yaml",
    ]
    recap = runner.recap(out)
    # Cluster-level work happens once per cluster: only the first host of each cluster changed anything.
    assert recap["prod-cp-1"]["changed"] == 2 and recap["staging-cp-1"]["changed"] == 1
    assert all(recap[h]["changed"] == 0 for h in ("prod-cp-2", "prod-worker-1", "staging-worker-1"))

    prod = runner.reports / "prod/rendered"
    falco_values = _load(prod / "falco/values.yaml")
    assert falco_values == {
        "driver": {"enabled": True, "kind": "modern_ebpf"},
        "falcosidekick": {
            "enabled": True,
            "fullnameOverride": "falco-falcosidekick",
            "config": {"existingSecret": "kubesec-falcosidekick"},
            "podAnnotations": falco_values["falcosidekick"]["podAnnotations"],
            "webui": {
                "enabled": True,
                "user": "",
                "existingSecret": "kubesec-falcosidekick-ui",
                "ttl": "7d",
                "podAnnotations": falco_values["falcosidekick"]["podAnnotations"],
            },
        },
    }
    assert re.fullmatch(r"[0-9a-f]{16}", falco_values["falcosidekick"]["podAnnotations"]["kubesec.io/config-checksum"])
    assert _load(prod / "trivy-operator/values.yaml") == {
        "targetNamespaces": "shop,payments",
        "excludeNamespaces": "",
        "operator": {
            "scannerReportTTL": "30m",
            "vulnerabilityScannerEnabled": True,
            "configAuditScannerEnabled": True,
            "rbacAssessmentScannerEnabled": True,
            "infraAssessmentScannerEnabled": True,
            "exposedSecretScannerEnabled": False,
            "sbomGenerationEnabled": True,
            "clusterComplianceEnabled": True,
        },
    }
    assert _load(runner.reports / "staging/rendered/falco/values.yaml") == {
        "driver": {"enabled": True, "kind": "modern_ebpf"},
        "falcosidekick": {"enabled": False},
    }
    for app_path in runner.reports.rglob("application.yaml"):
        app = _load(app_path)
        jsonschema.validate(app, _gitops.ARGOCD_APPLICATION_SCHEMA)
        assert app["spec"]["source"]["helm"]["valuesObject"] == _load(app_path.with_name("values.yaml"))
        assert app["metadata"]["name"].startswith(app_path.parts[-4] + "-")
    required = _load(prod / "falco/required-secrets.yaml")["secrets"]
    assert {s["name"] for s in required} == {"kubesec-falcosidekick", "kubesec-falcosidekick-ui"}

    # Second run: nothing changes.
    out = runner.run("features.yml", inventory, "-e", "kubesec_render_only=true")
    assert all(counts["changed"] == 0 for counts in runner.recap(out).values()), out[-3000:]


def test_check_mode_diff_then_switch_off_removes_the_files(runner):
    runner.run("features.yml", _inventory(), "-e", "kubesec_render_only=true")
    before = {p: p.read_text() for p in runner.reports.rglob("*.yaml")}
    flipped = _inventory(staging_trivy={"enabled": True, "namespaces": "all", "exclude_namespaces": ["kube-system"]}, prod_falco={"enabled": False})
    out = runner.run("features.yml", flipped, "-e", "kubesec_render_only=true", "--check", "--diff")
    assert {p: p.read_text() for p in runner.reports.rglob("*.yaml")} == before  # check mode wrote nothing
    assert "+excludeNamespaces: kube-system" in out and "prod/rendered/falco/values.yaml" in out
    recap = runner.recap(out)
    assert recap["prod-cp-1"]["changed"] == 1 and recap["staging-cp-1"]["changed"] == 1
    runner.run("features.yml", flipped, "-e", "kubesec_render_only=true")
    assert not (runner.reports / "prod/rendered/falco").exists()
    assert (runner.reports / "staging/rendered/trivy-operator/values.yaml").exists()


@pytest.mark.parametrize(
    ("prod_falco", "message"),
    [
        ({"enabled": True, "ui": {"enabled": True, "user": "admin", "password": "admin"}}, "chart default (admin:admin)"),
        ({"enabled": True, "ui": {"enabled": True, "user": "secops", "password": ""}}, "kubesec_falco.ui.password is empty"),
        ({"enabled": True, "alerts": {"telegram": {"enabled": True, "token": "not-a-token", "chat_id": CHAT}}}, "the token must look like"),
        (
            {
                "enabled": True,
                "alerts": {"email": {"enabled": True, "user": "a@example.org", "password": SMTP_PASSWORD, "starttls": False, "to": ["b@example.org"]}},
            },
            "starttls: true",
        ),
        ({"enabled": True, "driver": "bpf"}, "value of driver must be one of"),
    ],
)
def test_runtime_security_refusals(runner, prod_falco, message):
    out = runner.run("features.yml", _inventory(prod_falco=prod_falco), "-e", "kubesec_render_only=true", expect_rc=2)
    assert message in out
    assert not (runner.reports / "prod").exists()
    for secret in SECRETS:
        assert secret not in out


@pytest.mark.parametrize(
    ("prod_trivy", "message"),
    [
        ({"enabled": True, "report_ttl": "30 min"}, "must be a duration such as 30m"),
        ({"enabled": True, "report_ttl": "1d"}, "must be a duration such as 30m"),
        ({"enabled": True, "namespaces": ["Shop"]}, "DNS-1123 labels"),
        ({"enabled": True, "namespaces": ["shop_2"]}, "DNS-1123 labels"),
        ({"enabled": True, "namespaces": []}, "DNS-1123 labels"),
        ({"enabled": True, "scanners": {"sbom": True}}, "sbom"),
    ],
)
def test_workload_security_refusals(runner, prod_trivy, message):
    out = runner.run("features.yml", _inventory(prod_trivy=prod_trivy), "-e", "kubesec_render_only=true", "--tags", "workload_security", expect_rc=2)
    assert message in out and not (runner.reports / "prod/rendered/trivy-operator").exists()


def test_secrets_never_leak_and_channels_are_tested_from_the_role(runner, tmp_path):
    cert, key = lc.make_cert(tmp_path)
    with lc.BotApi(TOKEN, chats=[CHAT]) as bot, lc.SmtpServer(cert, key, "alerts@example.org", SMTP_PASSWORD, mode="starttls") as smtp:
        prod_falco = copy.deepcopy(_inventory()["all"]["children"]["prod"]["vars"]["kubesec_falco"])
        prod_falco["alerts"]["telegram"]["api_url"] = bot.url
        prod_falco["alerts"]["email"].update(smtp_host="127.0.0.1", smtp_port=smtp.port)
        inventory = _inventory(prod_falco=prod_falco)
        args = (
            "-e",
            "kubesec_render_only=true",
            "-e",
            "runtime_security_notify_test=always",
            "-e",
            "runtime_security_notify_ca_path=%s" % cert,
            "-e",
            "runtime_security_notify_use_proxy=false",
            "-vvv",
            "--diff",
        )
        check_out = runner.run("features.yml", inventory, *args, "--check")
        assert bot.messages == [] and smtp.messages == []  # check mode: logged in, sent nothing
        assert "token accepted (bot @kubesec_test_bot)" in check_out and "logged in to 127.0.0.1" in check_out
        out = runner.run("features.yml", inventory, *args)
        assert [m["chat_id"] for m in bot.messages] == [CHAT] and "cluster prod" in bot.messages[0]["text"]
        assert len(smtp.messages) == 1 and smtp.messages[0]["tls"] and smtp.messages[0]["authenticated"]
        assert "message 1 delivered to chat %s" % CHAT in out

        # A wrong password stops the run with a clear message, before anything is switched on.
        prod_falco["alerts"]["email"]["password"] = "Wrong-" + SMTP_PASSWORD
        bad = runner.run("features.yml", _inventory(prod_falco=prod_falco), *args, expect_rc=2)
        assert "rejected the login for user alerts@example.org" in bad and "Wrong-" + SMTP_PASSWORD not in bad

    texts = [*runner.outputs, runner.log.read_text()]
    texts += [p.read_text(errors="replace") for p in runner.reports.rglob("*") if p.is_file()]
    assert len(texts) > 5
    for secret in SECRETS:
        encoded = base64.b64encode(secret.encode()).decode()
        for text in texts:
            assert secret not in text
            assert encoded not in text


# --- respond.yml ----------------------------------------------------------------------------------------------------

SAMPLE = _load(FIXTURES / "respond-targets.yml")


def _respond(runner, *extra, check=True, expect_rc=0):
    args = ["-e", "respond_cluster=prod", "-e", "respond_offline=true", *extra]
    if check:
        args.append("--check")
    return runner.run("respond.yml", _inventory(), *args, expect_rc=expect_rc)


def _record(runner):
    records = sorted((runner.reports / "prod/actions").glob("*.json"))
    assert len(records) == 1
    return json.loads(records[0].read_text())


def _merge(target, patch):
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value
    return target


def test_respond_check_scale_to_zero(runner):
    out = _respond(
        runner,
        "-e",
        "respond_action=scale_to_zero",
        "-e",
        "respond_namespace=shop",
        "-e",
        "respond_name=cart",
        "-e",
        json.dumps({"respond_reason": "Falco: Terminal shell in container"}),
    )
    record = _record(runner)
    assert record["changes"] == [
        {
            "operation": "patch",
            "patch_type": "merge",
            "api_version": "apps/v1",
            "kind": "Deployment",
            "namespace": "shop",
            "name": "cart",
            "patch": {
                "metadata": {
                    "annotations": {
                        "kubesec.io/contained-by": "kubesec respond.yml",
                        "kubesec.io/containment": "scale_to_zero",
                        "kubesec.io/containment-reason": "Falco: Terminal shell in container",
                    }
                },
                "spec": {"replicas": 0},
            },
        }
    ]
    assert record["mode"] == "check" and record["result"] == "planned" and record["cluster"] == "prod"
    assert record["target"] == {"kind": "Deployment", "namespace": "shop", "name": "cart"}
    assert "respond_confirm=%s" % record["plan_id"] in out
    patched = _merge(copy.deepcopy(SAMPLE["deployment"]), record["changes"][0]["patch"])
    kubernetes_validate.validate(patched, "1.33", strict=True)
    assert patched["spec"]["replicas"] == 0


def test_respond_check_isolate(runner):
    _respond(
        runner,
        "-e",
        "respond_action=isolate",
        "-e",
        "respond_kind=StatefulSet",
        "-e",
        "respond_namespace=db",
        "-e",
        "respond_name=postgres",
        "-e",
        json.dumps({"respond_pod_selector": {"app": "postgres", "tier": "db"}}),
        "-e",
        json.dumps({"respond_reason": "crypto miner"}),
    )
    record = _record(runner)
    policy = record["changes"][0]["object"]
    assert policy == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "kubesec-isolate-postgres",
            "namespace": "db",
            "labels": {"app.kubernetes.io/managed-by": "kubesec", "kubesec.io/containment": "isolate"},
            "annotations": {
                "kubesec.io/contained-by": "kubesec respond.yml",
                "kubesec.io/containment": "isolate",
                "kubesec.io/containment-reason": "crypto miner",
                "kubesec.io/target": "StatefulSet/postgres",
            },
        },
        "spec": {"podSelector": {"matchLabels": {"app": "postgres", "tier": "db"}}, "policyTypes": ["Ingress", "Egress"]},
    }
    kubernetes_validate.validate(policy, "1.33", strict=True)
    assert record["undo"] == [{"operation": "delete", "kind": "NetworkPolicy", "namespace": "db", "name": "kubesec-isolate-postgres"}]


def test_respond_check_cordon(runner):
    _respond(
        runner, "-e", "respond_action=cordon", "-e", "respond_node=worker-3.prod.example", "-e", json.dumps({"respond_reason": "node compromise suspected"})
    )
    record = _record(runner)
    change = record["changes"][0]
    assert change["kind"] == "Node" and change["name"] == "worker-3.prod.example"
    assert change["patch"]["spec"] == {"unschedulable": True}
    patched = _merge(copy.deepcopy(SAMPLE["node"]), change["patch"])
    kubernetes_validate.validate(patched, "1.33", strict=True)
    assert record["undo"][0]["patch"] == {"spec": {"unschedulable": False}}


def test_respond_plan_id_is_stable_for_the_same_plan(runner):
    args = ("-e", "respond_action=cordon", "-e", "respond_node=worker-3", "-e", "respond_reason=r")
    first = re.search(r"respond_confirm=([0-9a-f]{12})", _respond(runner, *args)).group(1)
    second = re.search(r"respond_confirm=([0-9a-f]{12})", _respond(runner, *args)).group(1)
    third = re.search(
        r"respond_confirm=([0-9a-f]{12})", _respond(runner, "-e", "respond_action=cordon", "-e", "respond_node=worker-4", "-e", "respond_reason=r")
    ).group(1)
    assert first == second != third


@pytest.mark.parametrize(
    ("extra", "check", "message"),
    [
        (("-e", "respond_action=cordon", "-e", "respond_node=w1", "-e", "respond_reason=r"), False, "Run with --check first"),
        (("-e", "respond_action=cordon", "-e", "respond_node=w1", "-e", "respond_reason=r", "-e", "respond_confirm=abc"), False, "Run with --check first"),
        (
            ("-e", "respond_action=isolate", "-e", "respond_namespace=shop", "-e", "respond_name=cart", "-e", "respond_reason=r"),
            True,
            "An empty selector would isolate every pod",
        ),
        (
            (
                "-e",
                "respond_action=scale_to_zero",
                "-e",
                "respond_kind=DaemonSet",
                "-e",
                "respond_namespace=shop",
                "-e",
                "respond_name=agent",
                "-e",
                "respond_reason=r",
            ),
            True,
            "respond_action",
        ),
        (("-e", "respond_action=delete", "-e", "respond_node=w1", "-e", "respond_reason=r"), True, "respond_action"),
        (("-e", "respond_action=cordon", "-e", "respond_node=w1"), True, "respond_reason"),
        (
            ("-e", "respond_action=isolate", "-e", "respond_namespace=Shop", "-e", "respond_name=cart", "-e", "respond_reason=r"),
            True,
            "Names must be Kubernetes names",
        ),
    ],
)
def test_respond_refusals(runner, extra, check, message):
    out = _respond(runner, *extra, check=check, expect_rc=2)
    assert message in out
    assert not (runner.reports / "prod/actions").exists() or not check


def test_role_secret_template_builds_the_same_secrets_as_the_python_builder(tmp_path):
    """The Secrets the role applies (templates/secret.yml.j2, in Jinja) equal _gitops.fill_secret and are valid."""
    values = {"ui_user": "secops:" + UI_PASSWORD, "telegram_token": TOKEN, "email_password": SMTP_PASSWORD}
    config = {
        "enabled": True,
        "ui": {"enabled": True, "user": "secops"},
        "alerts": {
            "telegram": {"enabled": True, "chat_id": CHAT},
            "email": {"enabled": True, "smtp_host": "smtp.gmail.com", "user": "alerts@example.org", "to": ["oncall@example.org"]},
        },
    }
    template = ROOT / "collections/ansible_collections/kubesec/cluster/roles/runtime_security/templates/secret.yml.j2"
    out_file = tmp_path / "secrets.json"
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"__runtime_security_secret_values": values},
            "tasks": [
                {"name": "Render", "kubesec.cluster.feature_values": {"feature": "falco", "cluster": "prod", "config": config}, "register": "render"},
                {
                    "name": "Build",
                    "ansible.builtin.set_fact": {"built": "{{ built | default([]) + [lookup('ansible.builtin.template', '%s') | from_yaml] }}" % template},
                    "vars": {"__runtime_security_secret_ref": "{{ item }}"},
                    "loop": "{{ render.secret_refs }}",
                    "no_log": True,
                },
                {"name": "Save", "ansible.builtin.copy": {"content": "{{ built | to_json }}", "dest": str(out_file), "mode": "0600"}},
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"), ANSIBLE_HOME=str(tmp_path / "home"))
    proc = subprocess.run(
        [str(PLAYBOOK), "-c", "local", "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable, str(tmp_path / "play.yml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    for secret in values.values():
        assert secret not in proc.stdout + proc.stderr
    built = json.loads(out_file.read_text())
    from ansible_collections.kubesec.cluster.plugins.module_utils import _falco_values

    expected = [_gitops.fill_secret(ref, values) for ref in _falco_values.build(config, "prod")["secret_refs"]]
    assert built == expected and len(built) == 2
    for secret in built:
        kubernetes_validate.validate(secret, "1.33", strict=True)
