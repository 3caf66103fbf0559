"""The node-side safety helpers: paths kept inside the node root, one bounded YAML loader, printable messages."""

from __future__ import annotations

import os
import time

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis
from ansible_collections.kubesec.cluster.plugins.module_utils import _nodepath as np
from ansible_collections.kubesec.cluster.plugins.module_utils import _safeyaml as sy
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import printable


@pytest.fixture
def root(tmp_path):
    base = tmp_path / "node"
    (base / "var/lib/real").mkdir(parents=True)
    (base / "etc").mkdir()
    return base


def test_absolute_links_start_again_at_the_root(root):
    os.symlink("/var/lib/real", root / "var/lib/kubelet")
    assert np.resolve(str(root), "/var/lib/kubelet/config.yaml") == str(root / "var/lib/real/config.yaml")


def test_relative_links_and_dots_inside_the_root(root):
    os.symlink("../lib/real", root / "var/lib/kubelet")
    assert np.resolve(str(root), "/var/./lib/kubelet/../real/x") == str(root / "var/lib/real/x")


@pytest.mark.parametrize("path", ["/../x", "/etc/../../x", "/var/lib/../../../x"])
def test_dot_dot_above_the_root_is_refused(root, path):
    with pytest.raises(np.NodePathError, match="leaves the node root"):
        np.resolve(str(root), path)


def test_a_link_that_climbs_out_is_refused_and_named(root):
    os.symlink("../../../../../outside", root / "etc/pki")
    with pytest.raises(np.NodePathError, match=r"through the symlink /etc/pki -> \.\./\.\./\.\./\.\./\.\./outside"):
        np.resolve(str(root), "/etc/pki/ca.crt")


def test_loops_relative_paths_and_nul_are_refused(root):
    os.symlink("/etc/b", root / "etc/a")
    os.symlink("/etc/a", root / "etc/b")
    with pytest.raises(np.NodePathError, match="more than 40 symlinks"):
        np.resolve(str(root), "/etc/a")
    with pytest.raises(np.NodePathError, match="not an absolute node path"):
        np.resolve(str(root), "etc/x")
    with pytest.raises(np.NodePathError, match="NUL"):
        np.resolve(str(root), "/etc/\x00x")


def test_the_cis_audit_reads_through_the_same_resolution(root):
    """A `clientCAFile: /../../x` in a node's config must not make the audit read outside the root."""
    with pytest.raises(np.NodePathError):
        _cis.node_path(str(root), "/../../etc/shadow")
    os.symlink("/var/lib/real", root / "var/lib/kubelet")
    assert _cis.node_path(str(root), "var/lib/kubelet/x") == str(root / "var/lib/real/x")


def _bomb(levels=8):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += ["a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)) for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_alias_bombs_are_refused_in_linear_time():
    for levels in (6, 8, 12):
        started = time.monotonic()
        with pytest.raises(sy.SafeYAMLError, match="expands to more than 100000 nodes"):
            sy.load(_bomb(levels), "bomb.yaml")
        assert time.monotonic() - started < 1


def test_the_cis_audit_refuses_a_bomb_in_a_config(root):
    (root / "etc/kubelet.yaml").write_text("kind: KubeletConfiguration\n" + _bomb())
    data, error = _cis._read_config(str(root), "/etc/kubelet.yaml")
    assert data is None and error.startswith("/etc/kubelet.yaml is not valid YAML: the document expands")


def test_plain_anchors_recursion_depth_and_size():
    assert sy.load("a: &x {b: 1}\nc: *x\n", "f") == {"a": {"b": 1}, "c": {"b": 1}}
    with pytest.raises(sy.SafeYAMLError, match="recursive alias"):
        sy.load("a: &x [1, *x]\n", "f")
    started = time.monotonic()
    with pytest.raises(sy.SafeYAMLError, match=r"\(line 1, column 65\): collections nested more than 64 deep"):
        sy.load("[" * 200000, "f")
    assert time.monotonic() - started < 3  # ~0.7 s, flat from 2000 levels on (PyYAML's scanner looks ahead)
    with pytest.raises(sy.SafeYAMLError, match="the document has more than 100000 nodes; refused"):
        sy.load("[" + "1, " * 100001 + "1]", "f")
    with pytest.raises(sy.SafeYAMLError, match="more than the 10 this reads"):
        sy.load("a: 12345678\n", "f", max_bytes=10)
    with pytest.raises(sy.SafeYAMLError, match=r"^f is not valid YAML \(line 1, column 6\)"):
        sy.load("a: [b", "f")


def test_printable_escapes_controls_and_bidi_keeps_letters():
    assert printable('kind "\x1b[2J\x1b]0;pwned\x07"') == 'kind "\\x1b[2J\\x1b]0;pwned\\x07"'
    assert printable("admin\u202egpj.exe") == "admin\\u202egpj.exe"
    assert printable("Grüße\tnode\nnext") == "Grüße\\x09node\\nnext"
    assert printable("a\nb", keep_newlines=True) == "a\nb"
