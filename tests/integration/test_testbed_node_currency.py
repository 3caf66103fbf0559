"""Node currency over real SSH (issue 23): test hosts whose trees hold pending security updates, a pending reboot
and an old runc (worker:outdated) and a current one (worker:current), read back as the expected findings by the
benchmark role's single cis_node_audit call per node, counted with an ssh wrapper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.testbed.fixtures import running_testbed

pytestmark = pytest.mark.testbed


def _by_id(findings):
    out = {}
    for f in findings:
        out.setdefault(f["id"], []).append(f)
    return out


def test_outdated_and_current_nodes_over_ssh_in_one_call_per_node(tmp_path):
    with running_testbed(tmp_path / "bed", cluster="nodeo", workers=1, control_planes=1, profile="outdated") as bed:
        bed.bed.up("nodec", 1, 0, "current", log=None)
        log = tmp_path / "ssh.log"
        log.write_text("")
        wrapper = tmp_path / "ssh-counting"
        wrapper.write_text(f'#!/bin/sh\necho "$$ $*" >> {log}\nexec ssh "$@"\n')
        wrapper.chmod(0o755)
        reports = tmp_path / "reports"
        env = bed.env(ANSIBLE_SSH_EXECUTABLE=str(wrapper))
        cmd = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            str(ROOT / "playbooks/audit.yml"),
            "--tags",
            "cis_audit",
            "-e",
            f"kubesec_reports_dir={reports}",
            "-e",
            "kubesec_run_id=run1",
            "-e",
            "kubesec_control_plane_version=v1.33.1",
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        hosts = ["nodeo-cp-1", "nodeo-worker-1", "nodec-worker-1"]
        # one SSH invocation per node for CIS + currency together (pipelining, ControlPersist)
        calls = log.read_text().splitlines()
        assert len(calls) == len(hosts), calls

        outdated = json.loads((reports / "nodeo/run1/findings/node-currency-nodeo-worker-1.json").read_text())
        ids = _by_id(outdated)
        assert sorted(f["evidence"]["package"] for f in ids["KS-NODE-001"]) == ["libpam0g", "libssl3", "openssl", "tzdata", "zlib1g"]
        assert all(f["status"] == "fail" for f in ids["KS-NODE-001"])
        reboot = ids["KS-NODE-002"][0]
        assert reboot["status"] == "fail" and "/run/reboot-required exists" in reboot["evidence"]["actual"]
        assert reboot["evidence"]["packages"] == "libssl3, linux-image-6.1.0-28-amd64"
        runc = ids["KS-NODE-005"][0]
        assert runc["status"] == "fail" and "CVE-2024-21626" in runc["title"]
        assert ids["KS-NODE-004"][0]["status"] == "fail"  # kubelet 1.29 against 1.33: 4 minors
        # the node sees the host's kernel through /proc: it is not one of the tree's kernel packages
        assert os.uname().release in reboot["evidence"]["running_kernel"]
        # CIS results still in their own file, unchanged by the currency option
        cis = json.loads((reports / "nodeo/run1/findings/cis-nodeo-worker-1.json").read_text())
        assert {f["source"] for f in cis} == {"cis-node"}

        current = json.loads((reports / "nodec/run1/findings/node-currency-nodec-worker-1.json").read_text())
        assert {(f["id"], f["status"]) for f in current} == {
            ("KS-NODE-001", "pass"),
            ("KS-NODE-002", "pass"),
            ("KS-NODE-003", "pass"),
            ("KS-NODE-004", "pass"),
            ("KS-NODE-005", "pass"),
            ("KS-NODE-006", "pass"),
        }

        control_plane = json.loads((reports / "nodeo/run1/findings/node-currency-nodeo-cp-1.json").read_text())
        assert _by_id(control_plane)["KS-NODE-004"][0]["status"] == "fail"  # same outdated kubelet package

        # node_updates: off by default (nothing runs on any node); on, in check mode, on the current node: nothing
        # pending, no reboot, nothing changed
        playbook = [str(Path(sys.executable).parent / "ansible-playbook"), str(ROOT / "playbooks/node_updates.yml")]
        log.write_text("")
        off = subprocess.run([*playbook, "--check"], env=env, capture_output=True, text=True, timeout=600)
        assert off.returncode == 0, off.stdout[-3000:]
        assert "Read the pending security updates" not in off.stdout and not log.read_text()
        on = subprocess.run(
            [*playbook, "--check", "-l", "nodec-worker-1", "-e", "kubesec_node_updates=true", "-e", "kubesec_node_updates_reboot=true"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert on.returncode == 0, on.stdout[-3000:]
        assert "nodec-worker-1: 0 pending security update(s) would be applied (none); reboot not needed" in on.stdout
        assert "changed=0" in on.stdout
