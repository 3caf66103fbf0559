"""A stock node's Python for the test hosts: the standard library and PyYAML, nothing else.

A real control plane or worker has its distribution's python3 and, at most, python3-yaml (Debian, Ubuntu;
python3-pyyaml on RHEL-family). The test hosts share this machine's files, so pointing them at /usr/bin/python3
would hand them whatever this machine installed there too (here: cryptography, jwt, ...), and the controller's
venv has everything. build() makes a venv without pip and without site packages from the system python3, and
links only the `yaml` package into it, so a node module that imports anything else fails on the test hosts as
it would on a real node.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_PYTHON = "/usr/bin/python3"
MARKER = "kubesec-node-python.json"
# Must NOT import on a node: what the controller has and a stock node does not.
CONTROLLER_ONLY = ("kubernetes_validate", "jinja2", "jsonschema", "kubernetes", "cryptography")


class NodePythonError(RuntimeError):
    """The node interpreter cannot be built (names what is missing)."""


def _out(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise NodePythonError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout.strip()


def _yaml_package(base: str) -> str:
    """Directory of the PyYAML package: the system one (python3-yaml), else this interpreter's if it is the same Python."""
    probe = "import os, yaml; print(os.path.dirname(yaml.__file__))"
    try:
        return _out([base, "-c", probe])
    except NodePythonError:
        same = _out([base, "-c", "import sys; print(sys.version_info[:2])"]) == str(sys.version_info[:2])
        if not same:
            raise NodePythonError(f"{base} has no PyYAML: apt-get install python3-yaml") from None
        import yaml  # only when the system Python lacks it

        return os.path.dirname(yaml.__file__)


def build(directory: Path | str, base: str = BASE_PYTHON) -> Path:
    """Build (once) the node interpreter in `directory`; returns the path of its python3."""
    directory = Path(directory)
    python = directory / "bin" / "python3"
    marker = directory / MARKER
    if python.exists() and marker.exists():
        return python
    if not os.path.exists(base):
        base = getattr(sys, "_base_executable", sys.executable)
    _out([base, "-m", "venv", "--without-pip", "--clear", str(directory)])
    site = Path(_out([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]))
    site.mkdir(parents=True, exist_ok=True)
    (site / "yaml").symlink_to(_yaml_package(base), target_is_directory=True)
    check = "import importlib.util, json, yaml; print(json.dumps([n for n in %r if importlib.util.find_spec(n)]))" % (CONTROLLER_ONLY,)
    present = json.loads(_out([str(python), "-c", check]))
    if present:
        raise NodePythonError(f"the node interpreter {python} can import {', '.join(present)}; it must not")
    marker.write_text(json.dumps({"base": base, "python": str(python), "packages": ["yaml"]}) + "\n")
    return python
