"""Shared pytest fixtures: repository paths, the findings schema, and a real ansible-playbook runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / "collections"
COLLECTION = COLLECTIONS / "ansible_collections" / "kubesec" / "cluster"
VENV_BIN = Path(sys.executable).parent
SCHEMA = json.loads((ROOT / "docs" / "findings.schema.json").read_text())
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def assert_valid_findings(findings):
    """Every finding any module returns must validate against docs/findings.schema.json."""
    assert isinstance(findings, list)
    for index, finding in enumerate(findings):
        errors = sorted(_VALIDATOR.iter_errors(finding), key=lambda e: list(e.path))
        assert not errors, f"finding #{index} ({finding.get('id')}): " + "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def ansible_env(**extra):
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run_playbook(playbook, *args, check=True, env=None, cwd=ROOT, timeout=600):
    """Run the real ansible-playbook; returns the CompletedProcess (stdout+stderr merged)."""
    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook), *map(str, args)]
    proc = subprocess.run(cmd, cwd=cwd, env=env or ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"ansible-playbook failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
    return proc


@pytest.fixture
def findings_valid():
    return assert_valid_findings
