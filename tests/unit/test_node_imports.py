"""Node-side code needs only what a stock node has: the standard library and PyYAML (issue 22).

A real control plane or worker has its distribution's python3 and python3-yaml (Debian, Ubuntu) or
python3-pyyaml (RHEL family), nothing else. Modules that run on nodes, and every module_util they pull in, may
import the standard library, PyYAML, ansible.module_utils (AnsiballZ ships it) and our own module_utils; any
other import must sit in a try/except ImportError with a fallback that a test here runs. The last test imports
every node module with such a Python (tests/testbed/node_python.py), as the test hosts do.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import ansible
import pytest

from tests.conftest import COLLECTION, COLLECTIONS
from tests.testbed import node_python

PLUGINS = COLLECTION / "plugins"
PREFIX = "ansible_collections.kubesec.cluster.plugins.module_utils"
# Modules the roles run on the nodes themselves (not delegated to the controller).
NODE_MODULES = ("audit_log_query", "cis_node_audit", "kubelet_config", "static_pod_manifest")
# Modules that talk to the Kubernetes API through _kube (the kubernetes client); they run on the controller.
API_MODULES = ("cluster_facts", "cluster_policy_audit", "pod_security_labels", "trivy_reports")
# Optional accelerators a node module may use when present, each with its stdlib fallback run below.
OPTIONAL = {"orjson": "json", "simdjson": "json"}
ALLOWED = set(sys.stdlib_module_names) | {"__future__", "yaml", "ansible", "ansible_collections"}


def _guarded(tree):
    """ids of Import nodes that sit in a try whose handlers catch ImportError."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            names = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
            if names & {"ImportError", "ModuleNotFoundError", "(ImportError, ModuleNotFoundError)"}:
                ids.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return ids


def imports(path: Path):
    """[(module name, guarded)] of every absolute import in a file, at any depth."""
    tree = ast.parse(path.read_text())
    guarded = _guarded(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in guarded) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module == PREFIX:  # from ...module_utils import _a, _b
                found += [(f"{PREFIX}.{alias.name}", id(node) in guarded) for alias in node.names]
            else:
                found.append((node.module, id(node) in guarded))
    return found


def closure(module: str) -> dict[Path, list]:
    """The module file and every kubesec module_util it imports, transitively: {file: imports}."""
    todo, seen = [PLUGINS / "modules" / f"{module}.py"], {}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path] = imports(path)
        for name, _guarded_import in seen[path]:
            if name.startswith(PREFIX + "."):
                todo.append(PLUGINS / "module_utils" / (name[len(PREFIX) + 1 :].split(".")[0] + ".py"))
    return seen


def problems(module: str) -> list[str]:
    out = []
    for path, found in closure(module).items():
        for name, guarded in found:
            top = name.split(".")[0]
            where = f"{path.relative_to(PLUGINS)} imports {name}"
            if top == "ansible" and not name.startswith("ansible.module_utils"):
                out.append(f"{where}: only ansible.module_utils is shipped to nodes")
            elif top not in ALLOWED and not (guarded and top in OPTIONAL):
                out.append(f"{where}: not in the standard library or PyYAML" + (" (guarded, but no tested fallback listed in OPTIONAL)" if guarded else ""))
    return out


@pytest.mark.parametrize("module", NODE_MODULES)
def test_node_modules_import_only_the_standard_library_and_pyyaml(module):
    assert problems(module) == []


def test_the_checker_catches_what_it_must(tmp_path, monkeypatch):
    """A checker that cannot fail proves nothing: feed it the imports it must refuse."""
    fake = tmp_path / "modules"
    fake.mkdir()
    (fake / "bad.py").write_text(
        "import jsonschema\ntry:\n    import orjson\nexcept ImportError:\n    orjson = None\n"
        "try:\n    import kubernetes\nexcept ImportError:\n    pass\n"
        "from ansible.plugins.action import ActionBase\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PLUGINS", tmp_path)
    found = problems("bad")
    assert sorted(p.split(": ")[0] for p in found) == [
        "modules/bad.py imports ansible.plugins.action",
        "modules/bad.py imports jsonschema",
        "modules/bad.py imports kubernetes",
    ]


def test_every_module_is_either_node_safe_or_a_controller_api_module():
    """A new module with a heavy import must be classified (and then run on the controller)."""
    for path in sorted((PLUGINS / "modules").glob("*.py")):
        module = path.stem
        if module in API_MODULES:
            assert problems(module), f"{module} is listed as an API module but needs nothing beyond a node's Python"
            assert module not in NODE_MODULES
        else:
            assert problems(module) == [], f"{module} needs more than a node's Python: move the work to an action plugin"


AUDIT_EVENT = {
    "kind": "Event",
    "apiVersion": "audit.k8s.io/v1",
    "level": "Metadata",
    "auditID": "5a4bd5a1-0000-4000-8000-000000000001",
    "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/default/secrets/db",
    "verb": "get",
    "user": {"username": "system:anonymous", "groups": ["system:unauthenticated"]},
    "sourceIPs": ["10.0.0.7"],
    "userAgent": "curl/8.5.0",
    "objectRef": {"resource": "secrets", "namespace": "default", "name": "db", "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "code": 403},
    "requestReceivedTimestamp": "2026-11-24T06:00:00.000000Z",
    "stageTimestamp": "2026-11-24T06:00:00.002000Z",
}

NODE_SCRIPT = r"""
import importlib, json, sys
for name in sys.argv[1].split(","):
    importlib.import_module("ansible_collections.kubesec.cluster.plugins.modules." + name)
from ansible_collections.kubesec.cluster.plugins.module_utils import _auditlog
decoder = _auditlog._Decoder()
line = sys.stdin.read().encode()
print(json.dumps({"backend": decoder.backend, "record": _auditlog.event_record(_auditlog.full_decode(line)),
                  "fields": [str(f) for f in decoder.decode(line)[0]][:6]}))
"""


def test_node_modules_import_and_fall_back_with_a_stock_node_python(tmp_path):
    python = node_python.build(tmp_path / "node-python")
    shipped = tmp_path / "ansiballz"  # what AnsiballZ puts on the node: ansible's module_utils and ours
    shipped.mkdir()
    (shipped / "ansible").symlink_to(Path(ansible.__file__).parent, target_is_directory=True)
    (shipped / "ansible_collections").symlink_to(COLLECTIONS / "ansible_collections", target_is_directory=True)
    proc = subprocess.run(
        [str(python), "-c", NODE_SCRIPT, ",".join(NODE_MODULES)],
        input=json.dumps(AUDIT_EVENT),
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(shipped)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["backend"] == "json"  # neither orjson nor simdjson on a stock node: the stdlib fallback
    assert result["record"]["action"] == "get" and result["record"]["user"] == "system:anonymous"
    assert result["record"]["response_code"] == 403
    missing = subprocess.run([str(python), "-c", "import kubernetes_validate"], capture_output=True, timeout=60)
    assert missing.returncode != 0  # and the node Python really is stock
