# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pod Security Admission labels per namespace: module_utils/_psa.py, module pod_security_labels against the fake
API server (JSON merge patches), render-only output, and the pod_security_admission role in a playbook."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _psa
from tests.conftest import ROOT, run_playbook
from tests.fakes.kube_api import FakeKubeAPI

P = "pod-security.kubernetes.io/"


def ns(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


@pytest.mark.parametrize(
    "namespaces, version, message",
    [
        ([], "latest", "namespaces must be a mapping"),
        ({"Shop": {"enforce": "baseline"}}, "latest", "'Shop' is not a namespace name"),
        ({"shop": {"enforce": "strict"}}, "latest", "namespaces.shop.enforce must be one of privileged, baseline, restricted"),
        ({"shop": {"enforce": "baseline", "block": "x"}}, "latest", r"unknown key\(s\) block"),
        ({"shop": {"enforce": "baseline"}}, "1.33", "version must be 'latest' or a Kubernetes minor"),
        ({"shop": {"enforce": "baseline", "version": "v2.0"}}, "latest", "namespaces.shop.version must be"),
        ({"shop": {"version": "v1.33"}}, "latest", "sets only a version"),
        ({"shop": {}}, "latest", "at least one of enforce, warn, audit"),
    ],
)
def test_bad_settings_name_namespace_and_key(namespaces, version, message):
    with pytest.raises(_psa.PsaConfigError, match=message):
        _psa.desired(namespaces, version)


def test_desired_labels_with_versions():
    wanted = _psa.desired({"shop": {"enforce": "baseline", "warn": "restricted"}, "legacy": {"audit": "baseline", "version": "latest"}}, "v1.33")
    assert wanted == {
        "legacy": {P + "audit": "baseline", P + "audit-version": "latest"},
        "shop": {P + "enforce": "baseline", P + "enforce-version": "v1.33", P + "warn": "restricted", P + "warn-version": "v1.33"},
    }


def test_plan_owns_only_the_pod_security_labels():
    wanted = _psa.desired({"shop": {"enforce": "restricted"}}, "v1.33")
    current = {"shop": {"team": "web", P + "enforce": "baseline", P + "warn": "restricted"}}
    (change,) = _psa.plan(current, wanted, "present")
    assert change["patch"] == {"metadata": {"labels": {P + "enforce": "restricted", P + "enforce-version": "v1.33", P + "warn": None}}}
    assert change["before"] == {P + "enforce": "baseline", P + "warn": "restricted"}
    assert _psa.plan({"shop": dict(wanted["shop"], team="web")}, wanted, "present") == []  # idempotent
    (off,) = _psa.plan(current, wanted, "absent")
    assert off["patch"] == {"metadata": {"labels": {P + "enforce": None, P + "warn": None}}} and off["after"] == {}
    with pytest.raises(_psa.PsaConfigError, match="namespace.s. shop listed in the Pod Security settings do not exist"):
        _psa.plan({"shop": None}, wanted, "present")
    assert _psa.plan({"shop": None}, wanted, "absent") == []


def run_module(args, check=False, diff=False):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "collections"))
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.kubesec.cluster.plugins.modules.pod_security_labels"],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return json.loads(proc.stdout)


@pytest.fixture
def api(tmp_path):
    with FakeKubeAPI() as server:
        server.add_objects([ns("shop", {"team": "web", P + "warn": "baseline"}), ns("payments")])
        server.kubeconfig = str(server.write_kubeconfig(tmp_path / "kubeconfig"))
        yield server


def labels(api, name):
    return api.stored("v1", "namespaces", name)["metadata"]["labels"]


def test_module_sets_labels_idempotently_with_check_mode_and_diff(api):
    args = {
        "namespaces": {"shop": {"enforce": "baseline", "audit": "restricted"}, "payments": {"enforce": "restricted"}},
        "version": "v1.33",
        "kubeconfig": api.kubeconfig,
    }
    checked = run_module(args, check=True, diff=True)
    assert checked["changed"] and [c["namespace"] for c in checked["changes"]] == ["payments", "shop"]
    assert labels(api, "shop") == {"team": "web", P + "warn": "baseline"}  # check mode patched nothing
    assert not [r for r in api.requests if r["method"] == "PATCH"]
    assert "pod-security.kubernetes.io/enforce: baseline" in checked["diff"][1]["after"]
    assert "pod-security.kubernetes.io/warn: baseline" in checked["diff"][1]["before"]
    applied = run_module(args)
    assert applied["changed"]
    assert labels(api, "shop") == {
        "team": "web",
        P + "enforce": "baseline",
        P + "enforce-version": "v1.33",
        P + "audit": "restricted",
        P + "audit-version": "v1.33",
    }
    patches = [r for r in api.requests if r["method"] == "PATCH"]
    assert [r["content_type"] for r in patches] == ["application/merge-patch+json"] * 2
    assert run_module(args)["changed"] is False  # idempotent
    off = run_module(dict(args, state="absent"))
    assert off["changed"] and labels(api, "shop") == {"team": "web"} and labels(api, "payments") == {}
    assert run_module(dict(args, state="absent"))["changed"] is False


def test_module_fails_on_a_missing_namespace_and_a_forbidden_patch(api):
    missing = run_module({"namespaces": {"billing": {"enforce": "baseline"}}, "kubeconfig": api.kubeconfig})
    assert missing["failed"] and "billing" in missing["msg"] and "do not exist" in missing["msg"]
    api.forbid("namespaces", verb="patch")
    denied = run_module({"namespaces": {"shop": {"enforce": "baseline"}}, "kubeconfig": api.kubeconfig})
    assert denied["failed"] and "403" in denied["msg"] and "patch" in denied["msg"]
    assert labels(api, "shop") == {"team": "web", P + "warn": "baseline"}


def test_render_only_writes_the_commands_and_manifests(tmp_path):
    dest = tmp_path / "rendered"
    args = {"namespaces": {"shop": {"enforce": "baseline", "warn": "restricted"}}, "version": "v1.33", "dest": str(dest)}
    first = run_module(args)
    assert first["changed"] and sorted(f["action"] for f in first["files"]) == ["written", "written"]
    (doc,) = list(yaml.safe_load_all((dest / "namespace-labels.yaml").read_text()))
    assert doc == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "shop",
            "labels": {P + "enforce": "baseline", P + "enforce-version": "v1.33", P + "warn": "restricted", P + "warn-version": "v1.33"},
        },
    }
    script = (dest / "kubectl-label.sh").read_text()
    assert (
        "kubectl label --overwrite namespace shop 'pod-security.kubernetes.io/enforce=baseline' 'pod-security.kubernetes.io/enforce-version=v1.33'"
    ) in script
    assert run_module(args)["changed"] is False
    off = run_module(dict(args, state="absent"), diff=True)
    assert off["changed"] and not (dest / "namespace-labels.yaml").exists()
    assert "kubectl label namespace shop pod-security.kubernetes.io/enforce- " in (dest / "kubectl-label.sh").read_text()


def test_role_in_features_playbook_renders_for_the_demo(tmp_path):
    reports = tmp_path / "reports"
    run_playbook(
        ROOT / "playbooks" / "features.yml",
        "--tags",
        "pod_security_admission",
        "--vault-id",
        "demo@" + str(ROOT / "inventories" / "demo" / "vault-password.txt"),
        "-e",
        json.dumps({"kubesec_reports_dir": str(reports)}),
    )
    rendered = reports / "demo" / "rendered" / "pod-security"
    docs = list(yaml.safe_load_all((rendered / "namespace-labels.yaml").read_text()))
    assert [d["metadata"]["name"] for d in docs] == ["payments", "shop"]
    assert docs[0]["metadata"]["labels"][P + "enforce"] == "restricted"


def test_role_applies_through_the_api_in_check_mode_and_for_real(api, tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "fake": {
                            "hosts": {"fake-cp-1": {}},
                            "vars": {
                                "kubesec_cluster": "fake",
                                "ansible_connection": "local",
                                "ansible_python_interpreter": sys.executable,
                                "kubesec_kubeconfig": api.kubeconfig,
                                "kubesec_pod_security": {"enabled": True, "namespaces": {"payments": {"enforce": "restricted"}}},
                            },
                        }
                    }
                }
            }
        )
    )
    playbook = tmp_path / "psa.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  roles: [kubesec.cluster.pod_security_admission]\n")
    out = run_playbook(playbook, "-i", inventory, "--check", "--diff").stdout
    assert "+pod-security.kubernetes.io/enforce: restricted" in out and labels(api, "payments") == {}
    run_playbook(playbook, "-i", inventory)
    assert labels(api, "payments") == {P + "enforce": "restricted", P + "enforce-version": "latest"}
    again = run_playbook(playbook, "-i", inventory).stdout
    assert "changed=0" in again
