# -*- coding: utf-8 -*-
"""inventories/example: three clusters that differ in every toggle, vault-encrypted secrets, per-cluster waivers.

The example hosts (*.example.internal) do not exist, and nothing may leave this machine, so no play may connect to
them. playbooks/features.yml in render_only mode does only controller-side work in its Falco / Trivy Operator play
(preflight asserts and set_fact need no connection; the per-cluster work is delegated to localhost), but its audit
logging play edits the kube-apiserver manifest on each control-plane node, render_only or not: the run leaves the
control planes out with --limit 'all:!control_plane' (the first worker of each cluster then does the cluster's
render work, and the audit logging play has no host). The runs pin that down with extra vars, which
beat every inventory variable: ansible_ssh_executable is a script that records its arguments and refuses (so a task
that reached for a node would fail as unreachable, and the record shows it, without any name lookup or packet),
ansible_become=false, and the controller's Python for the delegated tasks. The vault password is the TEST-ONLY
tests/fixtures/vault-password.txt.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "example"
VAULT_PASSWORD = ROOT / "tests" / "fixtures" / "vault-password.txt"
BIN = pathlib.Path(sys.executable).parent
CLUSTERS = ("prod", "staging", "edge")
TOGGLES = (
    "kubesec_harden_nodes",
    "kubesec_cis_controls",
    "kubesec_waivers",
    "kubesec_falco",
    "kubesec_trivy_operator",
    "kubesec_render_only",
    "kubesec_audit_logging",
)


def controller_only(tmp_path):
    """Extra vars that keep a run on the controller; the returned log lists every attempt to reach a node."""
    log = tmp_path / "ssh-attempts.log"
    refuse = tmp_path / "ssh-refused"
    refuse.write_text('#!/bin/sh\necho "$*" >> %s\necho "TEST: no SSH to the example hosts" >&2\nexit 255\n' % log)
    refuse.chmod(0o755)
    return ["-e", f"ansible_ssh_executable={refuse}", "-e", "ansible_become=false", "-e", "ansible_python_interpreter=%s" % sys.executable], log


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_HOME=str(tmp_path / "home"),
        PATH="%s%s%s" % (BIN, os.pathsep, os.environ.get("PATH", "")),
    )
    return env


def _proc(tmp_path, *args, tool="ansible-playbook", vault=True):
    cmd = [str(BIN / tool), "-i", str(INVENTORY), *(["--vault-password-file", str(VAULT_PASSWORD)] if vault else []), *args]
    return subprocess.run(cmd, cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=600)


def _run(tmp_path, *args, tool="ansible-playbook", vault=True):
    """(rc, stdout + stderr): for asserting on what a user sees. Machine output is parsed from _proc().stdout only."""
    proc = _proc(tmp_path, *args, tool=tool, vault=vault)
    return proc.returncode, proc.stdout + proc.stderr


def _plain(cluster):
    return yaml.safe_load((INVENTORY / "group_vars" / cluster / "main.yml").read_text())


def _vault(cluster):
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD.read_bytes().strip()))])
    return yaml.safe_load(vault.decrypt((INVENTORY / "group_vars" / cluster / "vault.yml").read_bytes()))


def _secrets():
    return [value for cluster in CLUSTERS for value in _vault(cluster).values()]


def test_vault_password_file_is_named_as_test_only():
    assert "TEST-ONLY" in VAULT_PASSWORD.read_text() and "never-use-it" in VAULT_PASSWORD.read_text()


def test_inventory_shape_three_clusters(tmp_path):
    proc = _proc(tmp_path, "--list", tool="ansible-inventory")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    try:
        data = json.loads(proc.stdout)  # stdout only: warnings of any dependency go to stderr
    except ValueError as exc:
        raise AssertionError(f"ansible-inventory --list stdout is not JSON ({exc}); stderr:\n{proc.stderr[-3000:]}") from exc
    for cluster in CLUSTERS:
        assert set(data[cluster]["children"]) == {f"{cluster}_control_plane", f"{cluster}_workers"}
        assert f"{cluster}_control_plane" in data["control_plane"]["children"]
        assert f"{cluster}_workers" in data["workers"]["children"]
        for group in (f"{cluster}_control_plane", f"{cluster}_workers"):
            for host in data[group]["hosts"]:
                assert data["_meta"]["hostvars"][host]["kubesec_cluster"] == cluster
    assert len(data["prod_workers"]["hosts"]) == 12 and len(data["edge_workers"]["hosts"]) == 2


@pytest.mark.parametrize("toggle", TOGGLES)
def test_clusters_differ_in_every_toggle(toggle):
    values = [json.dumps(_plain(cluster).get(toggle), sort_keys=True) for cluster in CLUSTERS]
    assert all(_plain(cluster).get(toggle) is not None for cluster in CLUSTERS), toggle
    assert len(set(values)) >= 2, (toggle, values)
    if toggle in ("kubesec_waivers", "kubesec_cis_controls", "kubesec_falco", "kubesec_trivy_operator"):
        assert len(set(values)) == 3, (toggle, values)  # every cluster has its own


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_secrets_are_vaulted_and_referenced(cluster):
    raw = (INVENTORY / "group_vars" / cluster / "vault.yml").read_text()
    assert raw.startswith("$ANSIBLE_VAULT;1.1;AES256\n")
    secrets = _vault(cluster)
    assert secrets and all(name.startswith("vault_") for name in secrets)
    plain = (INVENTORY / "group_vars" / cluster / "main.yml").read_text()
    referenced = set(re.findall(r"\bvault_[a-z0-9_]+", plain))
    assert referenced == set(secrets), (referenced, set(secrets))
    for value in secrets.values():
        for path in INVENTORY.rglob("*"):
            if path.is_file() and path.name != "vault.yml":
                assert value not in path.read_text(), (value, path)


def test_waivers_are_per_cluster_and_well_formed():
    ids = {}
    for cluster in CLUSTERS:
        waivers = _plain(cluster)["kubesec_waivers"]
        assert waivers, cluster
        for waiver in waivers:
            assert set(waiver) <= {"id", "reason", "expires", "scope"} and waiver["id"] and waiver["reason"]
            if "expires" in waiver:
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", waiver["expires"])
        ids[cluster] = {w["id"] for w in waivers}
    assert ids["prod"] != ids["staging"] != ids["edge"]


def test_vaulted_values_reach_the_settings(tmp_path):
    extra, log = controller_only(tmp_path)
    rc, out = _run(
        tmp_path,
        "prod-cp-1.example.internal",
        "-m",
        "ansible.builtin.debug",
        "-a",
        "msg={{ kubesec_falco.ui.password == vault_falco_ui_password and vault_falco_ui_password | length > 8 }}",
        *extra,
        tool="ansible",
    )
    assert rc == 0 and re.search(r'msg"?: true', out), out[-2000:]
    assert not log.exists()


def test_without_the_vault_password_the_run_stops_and_says_why(tmp_path):
    extra, _unused = controller_only(tmp_path)
    rc, out = _run(
        tmp_path,
        str(ROOT / "playbooks" / "features.yml"),
        "-e",
        "kubesec_render_only=true",
        "-e",
        f"kubesec_reports_dir={tmp_path / 'reports'}",
        "--limit",
        "all:!control_plane",
        *extra,
        vault=False,
    )
    assert rc != 0
    assert "no vault secrets" in out.lower() or "vault" in out.lower()
    assert not (tmp_path / "reports").exists()


@pytest.mark.slow
def test_features_render_only_on_the_example_inventory(tmp_path):
    reports = tmp_path / "reports"
    extra, log = controller_only(tmp_path)
    args = [
        str(ROOT / "playbooks" / "features.yml"),
        "-e",
        "kubesec_render_only=true",
        "-e",
        f"kubesec_reports_dir={reports}",
        "--limit",
        "all:!control_plane",
        *extra,
    ]
    rc, out = _run(tmp_path, *args)
    assert rc == 0, out[-5000:]
    files = sorted(str(p.relative_to(reports)) for p in reports.rglob("*") if p.is_file())
    assert files == [
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
        "staging/rendered/falco/required-secrets.yaml",
        "staging/rendered/falco/secrets.yaml",
        "staging/rendered/falco/values.yaml",
        "staging/rendered/trivy-operator/application.yaml",
        "staging/rendered/trivy-operator/render.json",
        "staging/rendered/trivy-operator/values.yaml",
    ]  # edge has both features off: nothing rendered
    prod_falco = yaml.safe_load((reports / "prod/rendered/falco/values.yaml").read_text())
    staging_falco = yaml.safe_load((reports / "staging/rendered/falco/values.yaml").read_text())
    assert prod_falco["driver"]["kind"] == "modern_ebpf" and prod_falco["falcosidekick"]["webui"]["enabled"] is True
    assert staging_falco["driver"]["kind"] == "kmod" and staging_falco["falcosidekick"]["webui"] == {"enabled": False}
    assert staging_falco["falcosidekick"]["config"] == {"existingSecret": "kubesec-falcosidekick"}  # e-mail alerts
    required = yaml.safe_load((reports / "staging/rendered/falco/required-secrets.yaml").read_text())
    assert required["secrets"][0]["keys"]["SMTP_PASSWORD"] == {"from": "kubesec_falco.alerts.email.password"}
    trivy = {c: yaml.safe_load((reports / c / "rendered/trivy-operator/values.yaml").read_text()) for c in ("prod", "staging")}
    assert trivy["prod"]["targetNamespaces"] == "shop,payments"
    assert trivy["staging"]["targetNamespaces"] == "" and trivy["staging"]["excludeNamespaces"] == "kube-system,kube-*"
    # the secrets are in the vault only: never in the output or in a rendered file
    for secret in _secrets():
        assert secret not in out
        for path in reports.rglob("*"):
            if path.is_file():
                assert secret not in path.read_text(), path
    # no task reached for a node: the refusing ssh was never called
    assert "UNREACHABLE" not in out and not log.exists(), log.read_text() if log.exists() else out[-2000:]
    # the second run, one host per cluster (the one that does the cluster's work), changes nothing
    rc, out = _run(tmp_path, *args[: -len(extra) - 2], "--limit", "prod_workers[0],staging_workers[0],edge_workers[0]", *extra)
    assert rc == 0, out[-3000:]
    recap = re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", out, re.M)
    assert len(recap) == 3 and all(changed == "0" for unused, changed in recap), recap


def test_awx_import_path_needs_inline_vault_values(tmp_path):
    """docs/awx.md: an AWX inventory source cannot decrypt whole-file vaulted group_vars (it imports without a vault
    password), but values encrypted one by one (ansible-vault encrypt_string) import as __ansible_vault and are
    decrypted at job time with the job's vault credential. Both halves, as AWX does them (import, then a job)."""
    copy = tmp_path / "example"
    shutil.copytree(INVENTORY, copy)
    env = _env(tmp_path)
    # 1. whole-file vault.yml: the import (no password) fails
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(copy), "--list"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 or "no vault secrets" in proc.stderr.lower(), proc.stdout[:500]
    # 2. inline values (the conversion docs/awx.md gives): the import works, values stay encrypted
    for cluster in CLUSTERS:
        lines = ["---"]
        for name, value in _vault(cluster).items():
            enc = subprocess.run(
                [str(BIN / "ansible-vault"), "encrypt_string", "--vault-password-file", str(VAULT_PASSWORD), "--name", name, value],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            lines.append(enc.stdout.strip())
        (copy / "group_vars" / cluster / "vault.yml").write_text("\n".join(lines) + "\n")
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(copy), "--list"], env=env, capture_output=True, text=True, check=True)
    imported = json.loads(proc.stdout)
    for secret in _secrets():
        assert secret not in proc.stdout
    assert "__ansible_vault" in json.dumps(imported["_meta"]["hostvars"]["prod-cp-1.example.internal"]["vault_falco_ui_password"])
    # 3. the job: AWX serves the imported JSON through an inventory script; the vault credential decrypts
    script = tmp_path / "awx-inventory"
    script.write_text("#!%s\nimport json, sys\nprint(json.dumps(json.loads(%r) if '--list' in sys.argv else {}))\n" % (sys.executable, json.dumps(imported)))
    script.chmod(0o700)
    extra, log = controller_only(tmp_path)
    proc = subprocess.run(
        [
            str(BIN / "ansible"),
            "-i",
            str(script),
            "staging-cp-1.example.internal",
            "-m",
            "ansible.builtin.debug",
            "-a",
            "msg={{ kubesec_falco.alerts.email.password == '%s' }}" % _vault("staging")["vault_gmail_app_password"],
            "--vault-password-file",
            str(VAULT_PASSWORD),
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and re.search(r'msg"?: true', proc.stdout), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not log.exists()
