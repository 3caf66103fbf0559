"""The dependency locks (requirements/*.txt) agree with pyproject.toml, and every install goes through them.

A build that was green one day must stay green the next: pip resolves the newest version of anything unpinned, so
every package, transitive ones included, is pinned (with hashes) in requirements/test.txt and runtime.txt, which
`make lock` (scripts/lock.py, uv pip compile) writes from pyproject.toml and requirements/constraints.in.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[2]
REQ = ROOT / "requirements"
_spec = importlib.util.spec_from_file_location("kubesec_lock", ROOT / "scripts" / "lock.py")
lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock)

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _pins(path: pathlib.Path) -> dict[str, tuple[Version, str | None]]:
    """{name: (version, marker)} of a lock; fails on any requirement line that is not an exact pin with hashes."""
    pins: dict[str, tuple[Version, str | None]] = {}
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if not line or line.startswith("#") or line.startswith(" "):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}:{number}: not an exact pin: {line!r}"
        assert lines[number].strip().startswith("--hash=sha256:"), f"{path.name}:{number}: {match.group(1)} has no hash"
        pins[canonicalize_name(match.group(1))] = (Version(match.group(2)), match.group(3))
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize("name", ["runtime.txt", "test.txt"])
def test_lock_was_made_from_the_current_pyproject(name):
    recorded = lock.recorded_digest(REQ / name)
    assert recorded == lock.inputs_digest(), (
        f"requirements/{name} was resolved from other dependency lists than pyproject.toml and "
        "requirements/constraints.in have now: run `make lock` and commit both locks"
    )


def test_the_digest_changes_when_a_dependency_changes(tmp_path):
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements/constraints.in").write_text((REQ / "constraints.in").read_text())
    text = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text)
    same = lock.inputs_digest(tmp_path)
    (tmp_path / "pyproject.toml").write_text(text.replace('"PyYAML>=6.0"', '"PyYAML>=6.0.1"'))
    assert same == lock.inputs_digest() and lock.inputs_digest(tmp_path) != same
    (tmp_path / "pyproject.toml").write_text(text.replace("line-length = 160", "line-length = 120"))
    assert lock.inputs_digest(tmp_path) == same, "tool settings are not lock inputs"


@pytest.mark.parametrize("lockfile,groups", [("runtime.txt", ["runtime"]), ("test.txt", ["runtime", "test"])])
def test_every_declared_dependency_is_pinned_within_its_range(lockfile, groups):
    pins = _pins(REQ / lockfile)
    project = _project()
    declared = list(project["dependencies"]) + (project["optional-dependencies"]["test"] if "test" in groups else [])
    for spec in declared:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared in pyproject.toml but not pinned in requirements/{lockfile}"
        version, _ = pins[name]
        assert req.specifier.contains(version, prereleases=True), f"{lockfile}: {name}=={version} is outside {req.specifier}"


def test_runtime_lock_has_the_test_lock_versions():
    runtime, test = _pins(REQ / "runtime.txt"), _pins(REQ / "test.txt")
    for name, (version, _) in runtime.items():
        assert name in test and test[name][0] == version, f"{name}: runtime {version}, test {test.get(name)}"


def test_constraints_hold_in_both_locks():
    for line in (REQ / "constraints.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        for name in ("runtime.txt", "test.txt"):
            pins = _pins(REQ / name)
            if canonicalize_name(req.name) in pins:
                assert req.specifier.contains(pins[canonicalize_name(req.name)][0]), (name, line)


def test_cryptography_stays_below_the_release_that_warns_on_every_ansible_command():
    version, _ = _pins(REQ / "runtime.txt")["cryptography"]
    assert version < Version("51"), "cryptography 51 makes every ansible command print a DSA deprecation warning"


def test_every_pip_install_in_the_makefile_goes_through_a_lock_or_an_exact_pin():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines() if "pip install" in line]
    assert installs, "the Makefile installs nothing?"
    for line in installs:
        assert re.search(r"--require-hashes -r requirements/(runtime|test)\.txt", line) or re.search(
            r"pip install -q (pip|uv)==\$\((PIP|UV)_VERSION\)", line
        ), f"unlocked install in the Makefile: {line}"
    for name in ("PIP_VERSION", "UV_VERSION"):
        assert re.search(rf"^{name}\s*:=\s*\d+\.\d+(\.\d+)?$", makefile, re.M), name
