# -*- coding: utf-8 -*-
"""The execution environment definition and the build context `make ee-context` writes (ansible-builder create).

No container engine runs here, so the image is not built: these tests check what the build would install. The
Containerfile (base image, Python, ansible-core pin, the Trivy / Helm / WeasyPrint steps of the final stage), the
Python requirements against pyproject.toml and against every third-party import of the collection's plugins, the
bindep rules per platform (the Debian names are checked against this Debian machine's package database; the RPM
names only as text), and the Galaxy requirements.
"""

import ast
import configparser
import importlib.metadata
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "collections/ansible_collections/kubesec/cluster/plugins"
EE_DIR = ROOT / "execution-environment"
BIN = pathlib.Path(sys.executable).parent

pytestmark = pytest.mark.skipif(
    not (BIN / "ansible-builder").exists() and not shutil.which("ansible-builder"), reason="ansible-builder is not installed (test extras)"
)


def _requirements(path):
    reqs = []
    for line in pathlib.Path(path).read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            reqs.append(Requirement(line))
    return reqs


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    out = tmp_path_factory.mktemp("ee") / "context"
    proc = subprocess.run([str(ROOT / "scripts/ee-context"), str(out)], capture_output=True, text=True, timeout=300, env={"PATH": "%s:/usr/bin:/bin" % BIN})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def definition():
    return yaml.safe_load((ROOT / "execution-environment.yml").read_text())


def _stages(containerfile):
    """{stage name: text} of a multi-stage Containerfile."""
    stages, name = {}, "_args"
    for line in containerfile.splitlines():
        match = re.match(r"^FROM \S+ AS (\w+)$", line)
        if match:
            name = match.group(1)
        stages[name] = stages.get(name, "") + line + "\n"
    return stages


def test_definition_is_builder_v3_with_our_files(definition):
    assert definition["version"] == 3
    deps = definition["dependencies"]
    assert deps["python"] == "execution-environment/requirements.txt"
    assert deps["system"] == "execution-environment/bindep.txt"
    assert deps["galaxy"] == "execution-environment/requirements.yml"
    assert deps["python_interpreter"]["python_path"] == "/usr/bin/python3.12"


def test_containerfile(context, definition):
    text = (context / "Containerfile").read_text()
    stages = _stages(text)
    assert set(stages) >= {"_args", "base", "galaxy", "builder", "final"}
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in stages["_args"]
    assert 'ARG PYCMD="/usr/bin/python3.12"' in stages["_args"] and 'ARG PYPKG="python3.12"' in stages["_args"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    core_pin = next(d for d in pyproject["project"]["dependencies"] if d.startswith("ansible-core"))
    assert 'ARG ANSIBLE_INSTALL_REFS="%s ansible-runner==2.4.3"' % core_pin in stages["_args"]
    # the builder stage introspects our requirements and bindep; the final stage installs what it assembled
    assert "COPY _build/requirements.txt requirements.txt" in stages["builder"]
    assert "COPY _build/bindep.txt bindep.txt" in stages["builder"]
    assert "--user-pip=requirements.txt" in stages["builder"] and "--user-bindep=bindep.txt" in stages["builder"]
    assert "ansible-galaxy collection install" in stages["galaxy"] and "-r requirements.yml" in stages["galaxy"]
    final = stages["final"]
    assert "/output/scripts/install-from-bindep" in final
    order = [
        final.index(marker)
        for marker in (
            "install-from-bindep",
            'ln -sf "$TRIVY" /usr/local/bin/trivy',
            "get.helm.sh/helm-${HELM_VERSION}",
            "sha256sum -c -",
            "weasyprint.HTML(string=",
            "USER 1000",
        )
    ]
    assert order == sorted(order), "trivy, helm and the WeasyPrint check must come after the packages, as root"
    assert re.search(r"ARG HELM_VERSION=v3\.\d+\.\d+\n", final)
    assert text.rstrip().endswith('CMD ["bash"]')


def test_context_holds_exactly_our_requirement_files(context):
    build = context / "_build"
    assert (build / "requirements.txt").read_text() == (EE_DIR / "requirements.txt").read_text()
    assert (build / "bindep.txt").read_text() == (EE_DIR / "bindep.txt").read_text()
    assert yaml.safe_load((build / "requirements.yml").read_text()) == yaml.safe_load((EE_DIR / "requirements.yml").read_text())
    assert (build / "exclude-requirements.txt").read_text().split() == ["kubernetes"]
    cfg = configparser.ConfigParser()
    cfg.read(build / "configs" / "ansible.cfg")
    assert cfg["galaxy"]["server_list"] == "release_galaxy"


def test_builder_introspection_accepts_the_files(context, tmp_path):
    out = tmp_path / "intro"
    proc = subprocess.run(
        [
            sys.executable,
            str(context / "_build/scripts/introspect.py"),
            "introspect",
            "--user-pip",
            str(context / "_build/requirements.txt"),
            "--exclude-pip-reqs",
            str(context / "_build/exclude-requirements.txt"),
            "--user-bindep",
            str(context / "_build/bindep.txt"),
            "--write-pip",
            str(out / "requirements.txt"),
            "--write-bindep",
            str(out / "bindep.txt"),
            str(tmp_path / "no-collections"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    pip = [Requirement(line.split("  #", 1)[0]) for line in (out / "requirements.txt").read_text().splitlines() if line]
    assert {_norm(r.name) for r in pip} == {_norm(r.name) for r in _requirements(EE_DIR / "requirements.txt")}


def test_runtime_dependencies_of_pyproject_are_in_the_image_with_the_same_pins():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ee = dict((_norm(r.name), str(r.specifier)) for r in _requirements(EE_DIR / "requirements.txt"))
    for dep in pyproject["project"]["dependencies"]:
        req = Requirement(dep)
        if _norm(req.name) == "ansible-core":
            continue  # execution-environment.yml dependencies.ansible_core (checked in test_containerfile)
        if _norm(req.name) == "ansible":
            continue  # only carries kubernetes.core without Galaxy; the image installs it from requirements.yml
        assert _norm(req.name) in ee, "%s is a runtime dependency but not in the execution environment" % req.name
        assert ee[_norm(req.name)] == str(req.specifier), (req.name, ee[_norm(req.name)], str(req.specifier))


def _imports(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _closure(requirements):
    """Installed distributions reachable from the requirements (their own dependencies too)."""
    seen, todo = set(), [_norm(r.name) for r in requirements]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for spec in requires:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_norm(req.name))
    return seen


def test_every_third_party_import_of_the_plugins_is_installed_in_the_image():
    stdlib = set(sys.stdlib_module_names)
    imported = set()
    for path in PLUGINS.rglob("*.py"):
        imported |= _imports(path)
    third_party = sorted(n for n in imported if n not in stdlib and n not in ("ansible", "ansible_collections", "__future__"))
    assert {"kubernetes", "yaml", "weasyprint", "jinja2"} <= set(third_party), third_party  # the test sees them
    providers = importlib.metadata.packages_distributions()
    available = _closure(_requirements(EE_DIR / "requirements.txt")) | {"ansible-core"}
    missing = []
    for module in third_party:
        dists = {_norm(d) for d in providers.get(module, [])}
        if not dists:
            missing.append("%s (not installed here either)" % module)
        elif not dists & available:
            missing.append("%s (from %s)" % (module, ", ".join(sorted(dists))))
    assert not missing, "imported by the plugins but not installed in the execution environment: %s" % missing


def test_collections_match_the_repository_requirements():
    ee = yaml.safe_load((EE_DIR / "requirements.yml").read_text())["collections"]
    repo = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    assert {c["name"]: c["version"] for c in repo}.items() <= {c["name"]: c["version"] for c in ee}.items()


def _bindep_names(profiles):
    from bindep.depends import Depends

    depends = Depends((EE_DIR / "bindep.txt").read_text())
    return sorted(rule[0] for rule in depends.active_rules(profiles))


RPM = ["default", "platform:rpm", "platform:redhat", "platform:centos"]
DPKG = ["default", "platform:dpkg", "platform:debian"]


def test_bindep_per_platform():
    runtime_rpm = _bindep_names(RPM)
    assert runtime_rpm == ["dejavu-sans-fonts", "fontconfig", "harfbuzz", "openssh-clients", "pango", "tar"]
    assert _bindep_names([*RPM, "compile"]) == sorted([*runtime_rpm, "gcc", "python3.12-devel"])
    assert _bindep_names(DPKG) == ["fontconfig", "fonts-dejavu-core", "libharfbuzz-subset0", "libpango-1.0-0", "libpangoft2-1.0-0", "openssh-client"]


def test_bindep_debian_names_are_real_and_match_system_deps():
    """The dpkg names are the ones scripts/system-deps installs for WeasyPrint, and this machine has them."""
    script = (ROOT / "scripts/system-deps").read_text()
    weasy = re.search(r"^want=\(([^)]*)\)", script, re.M).group(1).split()
    assert set(weasy) <= set(_bindep_names(DPKG))
    if not shutil.which("dpkg-query"):
        pytest.skip("not a Debian machine")
    for name in _bindep_names(DPKG):
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        assert status.stdout == "install ok installed", (name, status.stdout, status.stderr)


def test_script_refuses_to_remove_a_directory_that_is_not_a_context(tmp_path):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    proc = subprocess.run([str(ROOT / "scripts/ee-context"), str(precious)], capture_output=True, text=True, env={"PATH": "%s:/usr/bin:/bin" % BIN})
    assert proc.returncode == 1 and "not an ansible-builder context" in proc.stderr
    assert (precious / "notes.txt").read_text() == "keep me"


def test_makefile_target_calls_the_script():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^ee-context: .*\n\tscripts/ee-context\n", makefile, re.M)


def test_definition_comment_names_the_context_the_script_writes():
    """Issue 24: the header of execution-environment.yml told people to build from context/, which nothing writes."""
    script = (ROOT / "scripts/ee-context").read_text()
    default_dir = re.search(r"out=\$\{1:-\$top/([^}]+)\}", script).group(1)
    header = "".join(line for line in (ROOT / "execution-environment.yml").read_text().splitlines(True) if line.startswith("#"))
    assert f"podman build -f {default_dir}/Containerfile" in header and header.rstrip().count(f" {default_dir}") >= 2
    assert not re.search(r"(?<![\w/-])context/", header), header
