# -*- coding: utf-8 -*-
"""playbooks/enforce.yml (role workload_enforcement) run for real with ansible-playbook, rendering only.

Two clusters with different rule modes in one inventory; every written file validates with kubernetes-validate
(strict, 1.33); the second run changes nothing; --check --diff writes nothing; a mode change rewrites and removes
exactly the files concerned; the refusals. Applying to a cluster (workload_enforcement_apply) is not run here: no
cluster is needed, and only users with one exercise that path.
"""

import os
import pathlib
import re
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = pathlib.Path(sys.executable).parent / "ansible-playbook"

pytestmark = [pytest.mark.slow]

PROD_RULES = {
    "privileged": {"mode": "deny"},
    "KS-WL-009": {"mode": "deny"},
    "KS-WL-002": {
        "mode": "deny",
        "params": {"registries": ["registry.example.com/", r"^ghcr\.io/example/"]},
        "exclude_images": ["cr.fluentbit.io/fluent/fluent-bit"],
    },
    "run_as_non_root": {"mode": "warn", "exclude_namespaces": ["legacy-*", "batch"]},
    "network_policy": {"mode": "deny"},
    "service_ports": {"mode": "warn", "params": {"allowed_ports": [443, "8000-8100"]}},
    "image_tag": {"mode": "audit"},
}
STAGING_RULES = {
    "trusted_registries": False,
    "image_tag": {"mode": "warn", "params": {"disallowed_tags": ["latest", "dev"]}},
    "rbac_admin": {"mode": "deny", "params": {"require_binding": False}},
    "privileged": {"mode": "audit"},
}


def _inventory(prod_rules=None, staging_rules=None, extra=None):
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    common.update(extra or {})
    return {
        "all": {
            "vars": common,
            "children": {
                "prod": {
                    "vars": {
                        "kubesec_cluster": "prod",
                        "kubesec_workload_rules": PROD_RULES if prod_rules is None else prod_rules,
                        "kubesec_workload_exclude_namespaces": ["monitoring", "^ci-"],
                    },
                    "children": {"prod_control_plane": {"hosts": {"prod-cp-1": {}, "prod-cp-2": {}}}, "prod_workers": {"hosts": {"prod-worker-1": {}}}},
                },
                "staging": {
                    "vars": {"kubesec_cluster": "staging", "kubesec_workload_rules": STAGING_RULES if staging_rules is None else staging_rules},
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

    def run(self, inventory, *args, expect_rc=0, reports=None):
        inv = self.tmp / "inventory.yml"
        inv.write_text(yaml.safe_dump(inventory))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update(
            ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_LOCAL_TEMP=str(self.tmp / "tmp"),
            ANSIBLE_HOME=str(self.tmp / "home"),
            ANSIBLE_RETRY_FILES_ENABLED="0",
        )
        cmd = [
            str(PLAYBOOK),
            "-c",
            "local",
            "-i",
            str(inv),
            str(ROOT / "playbooks" / "enforce.yml"),
            "-e",
            "kubesec_reports_dir=%s" % (reports or self.reports),
            *args,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False, cwd=self.tmp)
        out = proc.stdout + proc.stderr
        assert (proc.returncode == 0) == (expect_rc == 0), out[-4000:]
        return out

    @staticmethod
    def recap(out):
        return {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))} for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", out, re.M)}


@pytest.fixture
def runner(tmp_path):
    return Runner(tmp_path)


def _files(reports):
    return sorted(str(p.relative_to(reports)) for p in reports.rglob("*") if p.is_file())


def _snapshot(reports):
    return {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in reports.rglob("*") if path.is_file()}


def _documents(path):
    return list(yaml.safe_load_all(path.read_text()))


PROD_FILES = [
    "prod/rendered/enforcement/ks-wl-002-trusted-registries.yaml",
    "prod/rendered/enforcement/ks-wl-005-service-ports.yaml",
    "prod/rendered/enforcement/ks-wl-009-host-namespaces.yaml",
    "prod/rendered/enforcement/ks-wl-015-privileged.yaml",
    "prod/rendered/enforcement/ks-wl-016-run-as-non-root.yaml",
]
STAGING_FILES = ["staging/rendered/enforcement/ks-wl-020-image-tag.yaml", "staging/rendered/enforcement/ks-wl-021-rbac-admin.yaml"]


def test_render_two_clusters_validate_idempotent_check_mode_and_changes(runner):
    out = runner.run(_inventory())
    assert _files(runner.reports) == PROD_FILES + STAGING_FILES
    recap = runner.recap(out)
    # cluster-level work once per cluster: only the first host of each cluster changed anything
    assert recap["prod-cp-1"]["changed"] == 1 and recap["staging-cp-1"]["changed"] == 1
    assert all(recap[h]["changed"] == 0 for h in ("prod-cp-2", "prod-worker-1", "staging-worker-1"))
    assert "KS-WL-018 (network_policy) is in mode deny but cannot be enforced at admission" in out

    actions = {}
    for path in sorted(runner.reports.rglob("*.yaml")):
        documents = _documents(path)
        assert [doc["kind"] for doc in documents] == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
        for doc in documents:
            kubernetes_validate.validate(doc, "1.33", strict=True)
        policy, binding = documents
        cluster = path.parts[-4]
        assert policy["metadata"]["labels"]["kubesec.io/cluster"] == cluster
        assert binding["spec"]["policyName"] == policy["metadata"]["name"]
        actions[(cluster, policy["metadata"]["labels"]["kubesec.io/rule"])] = binding["spec"]["validationActions"]
    assert actions == {
        ("prod", "KS-WL-002"): ["Deny", "Audit"],
        ("prod", "KS-WL-005"): ["Warn", "Audit"],
        ("prod", "KS-WL-009"): ["Deny", "Audit"],
        ("prod", "KS-WL-015"): ["Deny", "Audit"],
        ("prod", "KS-WL-016"): ["Warn", "Audit"],
        ("staging", "KS-WL-020"): ["Warn", "Audit"],
        ("staging", "KS-WL-021"): ["Deny", "Audit"],
    }

    # exclusions: inventory-wide exact names in the binding, globs and regexes as a match condition
    policy, binding = _documents(runner.reports / PROD_FILES[4])
    values = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0]["values"]
    assert values == ["batch", "falco", "kube-node-lease", "kube-public", "kube-system", "monitoring", "trivy-system"]
    condition = policy["spec"]["matchConditions"][0]["expression"]
    assert "request.namespace.matches('^ci-')" in condition and "'^legacy-.*$'" in condition
    registries = _documents(runner.reports / PROD_FILES[0])[0]
    cel = "\n".join(item["expression"] for item in registries["spec"]["variables"])
    # parameters inlined as CEL string literals (the regex's backslash escaped)
    assert "'registry.example.com/'" in cel and r"'^ghcr\\.io/example/'" in cel and "'cr.fluentbit.io/fluent/fluent-bit'" in cel
    # staging's parameters differ from prod's
    assert "['latest', 'dev']" in (runner.reports / STAGING_FILES[0]).read_text()

    # second run: nothing changes
    before = _snapshot(runner.reports)
    out = runner.run(_inventory())
    assert all(host["changed"] == 0 for host in runner.recap(out).values()), out[-3000:]
    assert _snapshot(runner.reports) == before

    # --check --diff with changed modes: reports the changes, writes nothing
    changed_prod = dict(PROD_RULES)
    changed_prod["privileged"] = {"mode": "warn"}
    changed_prod["KS-WL-009"] = {"mode": "audit"}
    changed_prod["secrets_in_env"] = {"mode": "deny"}
    out = runner.run(_inventory(prod_rules=changed_prod), "--check", "--diff")
    assert runner.recap(out)["prod-cp-1"]["changed"] == 1 and runner.recap(out)["staging-cp-1"]["changed"] == 0
    assert "-  - Deny\n+  - Warn" in out
    assert "ks-wl-009-host-namespaces.yaml" in out and "ks-wl-019-secrets-in-env.yaml" in out
    assert _snapshot(runner.reports) == before

    # --check on an empty reports tree creates nothing
    fresh = runner.tmp / "fresh"
    runner.run(_inventory(), "--check", "--diff", reports=fresh)
    assert not fresh.exists()

    # the same change for real: 009 removed, 015 rewritten, 019 added, other files of the directory left alone
    keep = runner.reports / "prod/rendered/enforcement/kustomization.yaml"
    keep.write_text("resources: []\n")
    out = runner.run(_inventory(prod_rules=changed_prod))
    prod_now = sorted(
        set(PROD_FILES) - {PROD_FILES[2]} | {"prod/rendered/enforcement/ks-wl-019-secrets-in-env.yaml", "prod/rendered/enforcement/kustomization.yaml"}
    )
    assert _files(runner.reports) == prod_now + STAGING_FILES
    assert _documents(runner.reports / PROD_FILES[3])[1]["spec"]["validationActions"] == ["Warn", "Audit"]
    assert keep.read_text() == "resources: []\n"
    out = runner.run(_inventory(prod_rules=changed_prod))
    assert all(host["changed"] == 0 for host in runner.recap(out).values())


def test_refusals(runner):
    # applying needs render_only switched off too
    out = runner.run(_inventory(), "-e", "workload_enforcement_apply=true", expect_rc=2)
    assert "set workload_enforcement_render_only: false as well" in out
    assert not runner.reports.exists()
    # bad rule settings fail naming the rule and the setting
    out = runner.run(_inventory(staging_rules={"trusted_registries": {"mode": "deny"}}), expect_rc=2)
    assert "rules.KS-WL-002 (trusted_registries) is in mode deny but not configured" in out
    out = runner.run(_inventory(staging_rules={"trusted_registries": False, "privileged": {"mode": "deny", "exclude_images": ["^(?=x)"]}}), expect_rc=2)
    assert "look-ahead" in out and "KS-WL-015" in out
    out = runner.run(_inventory(staging_rules=["privileged"]), expect_rc=2)
    assert "argument 'kubesec_workload_rules' is of type list and we were unable to convert to dict" in out
