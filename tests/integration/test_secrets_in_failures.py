# -*- coding: utf-8 -*-
"""Issue 15, "Secrets": a failing role argument or a kubeconfig given as content prints no secret, at -vvv.

Real ansible-playbook / ansible runs; stdout and stderr are searched for every secret, plain and base64.
"""

import base64
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
ROLES = ROOT / "collections/ansible_collections/kubesec/cluster/roles"
UI_PASSWORD = "Ui-Typo-Pa55-31x"
TOKEN = "123456789:AAtypo-token_Qw8"
SMTP_PASSWORD = "smtp-typo-pass-55"
COLLECT_LOGIN = "secops:Collect-Ui-Pw-81"
KUBE_TOKEN = "eyJhbGciOiJSUzI1NiJ9.kube-token-content-92"
KUBECONFIG_CONTENT = (
    "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n"
    "users:\n- name: u\n  user: {token: %s}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
    "current-context: x\n" % KUBE_TOKEN
)
# Variables whose value can hold a secret: an argument-spec default templated from one of them is printed, filled
# in, by every failed argument validation.
SECRET_HOLDING = ("kubesec_falco", "kubesec_collect", "kubesec_kubeconfig")


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_HOME=str(tmp_path / "home"),
        ANSIBLE_LOG_PATH=str(tmp_path / "ansible.log"),
    )
    return env


def _assert_no_secret(texts, secrets):
    for secret in secrets:
        encoded = base64.b64encode(secret.encode()).decode()
        for text in texts:
            assert secret not in text, "secret %r leaked" % secret[:6]
            assert encoded not in text, "base64 of secret %r leaked" % secret[:6]


def _play(tmp_path, role, host_vars):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"h1": dict(host_vars, ansible_connection="local", ansible_python_interpreter=sys.executable)}}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "roles": [role]}]))
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), "-vvv"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=300,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr, (tmp_path / "ansible.log").read_text()


@pytest.mark.slow
def test_typo_in_kubesec_falco_fails_without_printing_a_secret(tmp_path):
    falco = {
        "enabled": True,
        "ui": {"enabled": True, "user": "secops", "password": UI_PASSWORD},
        "alerts": {
            "telegram": {"enabled": True, "tokn": TOKEN, "chat_id": "-1001234567890"},
            "email": {"enabled": True, "user": "a@example.org", "password": SMTP_PASSWORD, "to": ["b@example.org"]},
        },
    }
    rc, out, log = _play(
        tmp_path, "kubesec.cluster.runtime_security", {"kubesec_cluster": "prod", "kubesec_falco": falco, "kubesec_kubeconfig": KUBECONFIG_CONTENT}
    )
    assert rc != 0
    assert "kubesec_falco.alerts.telegram.tokn" in out  # the message still names the typo
    _assert_no_secret([out, log], [UI_PASSWORD, TOKEN, SMTP_PASSWORD, KUBE_TOKEN])


@pytest.mark.slow
def test_invalid_collect_argument_fails_without_printing_the_ui_login(tmp_path):
    rc, out, log = _play(
        tmp_path,
        "kubesec.cluster.collect",
        {
            "kubesec_cluster": "prod",
            "kubesec_run_id": "r1",
            "kubesec_collect_fail_on_error": "maybe",
            "kubesec_kubeconfig": KUBECONFIG_CONTENT,
            "kubesec_collect": {"falco": {"enabled": True, "url": "https://ui.example.org", "user": COLLECT_LOGIN}},
        },
    )
    assert rc != 0 and "collect_fail_on_error" in out
    _assert_no_secret([out, log], [COLLECT_LOGIN, KUBE_TOKEN])


@pytest.mark.slow
@pytest.mark.parametrize(
    "module_args",
    [
        "gather=cluster cluster=prod",
        "kinds=VulnerabilityReport",
    ],
    ids=["cluster_facts", "trivy_reports"],
)
def test_kubeconfig_content_instead_of_a_path_is_neither_logged_nor_echoed(tmp_path, module_args):
    module = "kubesec.cluster.cluster_facts" if "gather" in module_args else "kubesec.cluster.trivy_reports"
    args = {"kubeconfig": KUBECONFIG_CONTENT}
    for pair in module_args.split():
        key, value = pair.split("=")
        args[key] = [value] if key == "kinds" else value
    proc = subprocess.run(
        [
            str(BIN / "ansible"),
            "localhost",
            "-c",
            "local",
            "-e",
            "ansible_python_interpreter=%s" % sys.executable,
            "-m",
            module,
            "-a",
            json.dumps(args),
            "-vvv",
        ],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert "content of a kubeconfig" in " ".join(out.split()), out[-3000:]
    _assert_no_secret([out, (tmp_path / "ansible.log").read_text()], [KUBE_TOKEN])


def test_no_argument_spec_default_templates_a_secret_holding_variable():
    """Static form of the two tests above, for every role and entry point."""
    offenders = []
    for spec_file in sorted(ROLES.glob("*/meta/argument_specs.yml")):
        specs = yaml.safe_load(spec_file.read_text())["argument_specs"]

        def walk(options, where):
            for name, option in (options or {}).items():
                default = option.get("default")
                if isinstance(default, str) and "{{" in default and any(re.search(r"\b%s\b" % var, default) for var in SECRET_HOLDING):
                    offenders.append("%s: %s" % (where, name))
                walk(option.get("options"), "%s.%s" % (where, name))

        for entry, spec in specs.items():
            walk(spec.get("options"), "%s %s" % (spec_file.parent.parent.name, entry))
    assert offenders == []
