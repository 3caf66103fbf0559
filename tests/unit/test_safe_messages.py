"""Issue 15: text from nodes and clusters in module messages is shown escaped, never sent raw to the terminal.

Each module routes its failures and warnings through _safetext.guard_messages; a name or a document holding
`ESC [2J` / `ESC ]0;pwned BEL` would otherwise clear the operator's screen and set the terminal title.
"""

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _safetext
from tests.conftest import ROOT

HOSTILE = "\x1b[2J\x1b]0;pwned\x07\u202e"
MODULES = "ansible_collections.kubesec.cluster.plugins.modules."


def run_module(name, args):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "collections"))
    proc = subprocess.run(
        [sys.executable, "-m", MODULES + name], input=json.dumps({"ANSIBLE_MODULE_ARGS": args}), capture_output=True, text=True, env=env, timeout=120
    )
    return proc.stdout


@pytest.mark.parametrize(
    "name, args",
    [
        ("kube_bench", lambda d: {"mode": "read", "path": str(d / ("result" + HOSTILE + ".json"))}),
        ("workload_audit", lambda d: {"path": str(d / ("manifests" + HOSTILE))}),
        ("trivy_scan", lambda d: {"path": str(d / "hostile.json")}),
    ],
)
def test_module_messages_escape_control_and_bidi_characters(tmp_path, name, args):
    (tmp_path / "hostile.json").write_text(json.dumps({HOSTILE: 1}))
    out = run_module(name, args(tmp_path))
    result = json.loads(out)
    text = result.get("msg", "") + " ".join(result.get("warnings", []))
    assert result.get("failed"), out
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, text
    assert "\\x1b[2J\\x1b]0;pwned\\x07\\u202e" in text, text


def test_guard_keeps_newlines_and_plain_text():
    class Fake:
        def fail_json(self, msg=None, **kwargs):
            return msg, kwargs

        def warn(self, warning):
            return warning

    module = _safetext.guard_messages(Fake())
    assert module.fail_json(msg="line 1\nnäme \x1b[2J", changed=False) == ("line 1\nnäme \\x1b[2J", {"changed": False})
    assert module.warn("ok\u202e") == "ok\\u202e"
