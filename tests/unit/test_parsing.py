"""The shared primitives of module_utils/_parsing.py and _errors.py, and that the callers use them.

The duration table is the comparison of the four parsers that existed before (_cis, _auditlog, _falco_events,
_trivy_operator_values): one row per input, one column per caller, with the value or "error". Where they
disagreed, the table holds the union of correct behaviour: Go's own syntax where the value goes to a Go program
(kubelet config, Trivy Operator's scannerReportTTL), days and weeks for the time windows people type, spelled-out
units for Falco's settings.
"""

from __future__ import annotations

import pickle
import re

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import (
    _auditlog,
    _cis,
    _cluster_facts,
    _errors,
    _falco_events,
    _gitops,
    _k8s_releases,
    _kube,
    _nodepath,
    _parsing,
    _safeyaml,
    _static_pod,
    _trivy_operator_values,
    _workload,
)
from tests.conftest import COLLECTION

E = "error"


def _cis_col(text):
    return _cis.parse_duration(text)


def _audit_col(text):
    return _auditlog.parse_duration(text)


def _falco_col(text):
    return _falco_events.parse_duration(text)


def _ttl_col(text):
    # parse_ttl refuses TTLs under a minute on top of the syntax: compare the syntax through 1h + text.
    return _trivy_operator_values.parse_ttl("1h" + text)[1] - 3600 if text else _trivy_operator_values.parse_ttl("")


COLUMNS = (_cis_col, _audit_col, _falco_col, _ttl_col)
#  input          cis (Go + bare s)   audit log (days)   falco (words, int)   trivy TTL (Go)
TABLE = [
    ("5m", 300, 300, 300, 300),
    ("4h0m0s", 14400, 14400, 14400, 14400),
    ("1.5h", 5400, 5400, 5400, 5400),
    ("300ms", 0.3, 0.3, 0, 0.3),
    ("1us", 1e-6, 1e-6, 0, 1e-6),
    ("1\u00b5s", 1e-6, 1e-6, 0, 1e-6),  # micro sign
    ("1\u03bcs", 1e-6, 1e-6, 0, 1e-6),  # Greek mu: Go takes both
    (".5h", 1800, 1800, 1800, 1800),  # Go allows a bare fraction
    ("1d", E, 86400, 86400, E),  # Go has no days
    ("2w", E, 1209600, 1209600, E),
    ("1H", E, 3600, 3600, E),  # Go is case-sensitive
    ("1h 30m", E, 5400, 5400, E),  # Go allows no spaces
    ("1 hour", E, E, 3600, E),  # words: Falco's settings
    ("15min", E, E, 900, E),
    ("90", 90, 90, 90, E),  # bare seconds, not in Go
    ("-5m", -300, E, E, E),  # Go signs; windows not
    ("5x", E, E, E, E),
    ("m", E, E, E, E),
    (".", E, E, E, E),
    ("1h x", E, E, E, E),
    ("nan", E, E, E, E),
    ("", E, E, E, E),
]


@pytest.mark.parametrize(("text", "cis", "audit", "falco", "ttl"), TABLE, ids=[repr(r[0]) for r in TABLE])
def test_duration_table(text, cis, audit, falco, ttl):
    for column, expected in zip(COLUMNS, (cis, audit, falco, ttl)):
        if expected == E:
            with pytest.raises(ValueError if column is not _audit_col else _auditlog.AuditLogError):
                column(text)
        else:
            assert column(text) == pytest.approx(expected), (column.__name__, text)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("-0", 0),
        ("+5s", 5 * 10**9),
        ("-1.5h", -5400 * 10**9),
        ("1h2m3s4ms5us6ns", 3723004005006),
        ("1.h", 3600 * 10**9),
        ("0.000000001s", 1),
        ("0.0000000019s", 1),  # Go truncates below 1 ns
        ("2562047h47m16.854775807s", 2**63 - 1),  # Go's largest Duration
    ],
)
def test_go_durations_as_go_reads_them(text, ns):
    assert _parsing.duration_ns(text, _parsing.GO) == ns


@pytest.mark.parametrize("text", ["", "5", "1d", " 5m", "5m ", "1H", "2562047h47m16.854775808s", "+", "-", "s", "1e3s", "5m" * 200])
def test_go_durations_go_refuses(text):
    with pytest.raises(_parsing.ParseError):
        _parsing.duration_ns(text, _parsing.GO)


def test_duration_refuses_non_text_and_unknown_dialects():
    with pytest.raises(_parsing.ParseError, match="as text"):
        _parsing.duration_ns(5)
    with pytest.raises(ValueError, match="units must be"):
        _parsing.duration_ns("5m", "months")


def test_no_other_duration_parser_is_left():
    # The four callers above are thin wrappers now: no module_util keeps its own table of duration units.
    for path in (COLLECTION / "plugins").rglob("*.py"):
        if path.name == "_parsing.py":
            continue
        text = path.read_text()
        assert not re.search(r"""["'](?:ns|us|ms)["']\s*:""", text), path.name


# ------------------------------------------------------------------------------------------------ versions


def test_versions():
    assert _cluster_facts.parse_version("Kubernetes v1.29.3+k3s1") == {"version": "v1.29.3+k3s1", "minor": "1.29", "major_minor": (1, 29), "suffix": "+k3s1"}
    assert _cluster_facts.parse_version("no version here") is None
    assert _k8s_releases.parse_version("v1.30.2-eks-1234") == (1, 30, 2)
    assert _k8s_releases.parse_version(" 1.31 ") == (1, 31, None)
    for bad in ("1", "v1.x", "x" * 500, None):
        with pytest.raises(ValueError):
            _k8s_releases.parse_version(bad)
    assert _cluster_facts.parse_version is _parsing.find_version
    assert _k8s_releases.parse_version is _parsing.parse_version


# ------------------------------------------------------------------------------------------------ DNS-1123


@pytest.mark.parametrize(
    ("name", "label", "subdomain"),
    [
        ("kube-proxy", True, True),
        ("a", True, True),
        ("a.b", False, True),
        ("-a", False, False),
        ("a-", False, False),
        ("A", False, False),
        ("a_b", False, False),
        ("a" * 63, True, True),
        ("a" * 64, False, True),
        (".".join(["a" * 63] * 4), False, False),
        ("abc\n", False, False),
        (5, False, False),
    ],
)
def test_dns1123(name, label, subdomain):
    assert _parsing.is_dns1123_label(name) is label
    assert _parsing.is_dns1123_subdomain(name) is subdomain
    assert _gitops.is_dns1123_label(name) is label


def test_static_pod_volume_names_use_the_shared_label_rule():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kube-apiserver", "namespace": "kube-system"},
        "spec": {
            "containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.30.2"}],
            "volumes": [{"name": "audit\n", "hostPath": {"path": "/var/log/kubernetes"}}],
        },
    }
    errors = "; ".join(_static_pod.semantic_errors(pod))
    assert "spec.volumes[0].name 'audit\\n' is not a DNS-1123 label" in errors
    pod["spec"]["volumes"][0]["name"] = "audit"
    assert "DNS-1123" not in "; ".join(_static_pod.semantic_errors(pod))


# ------------------------------------------------------------------------------------------------ YAML guard


def test_one_yaml_import_guard():
    for path in (COLLECTION / "plugins" / "module_utils").glob("*.py"):
        if path.name != "_safeyaml.py":
            assert not re.search(r"^\s*import yaml", path.read_text(), re.M), path.name
    assert _safeyaml.HAS_YAML and _safeyaml.YAML_IMPORT_ERROR is None
    assert _safeyaml.YAML_LOADER in (getattr(_safeyaml.yaml, "CSafeLoader", None), _safeyaml.yaml.SafeLoader)
    assert _workload.yaml is _safeyaml.yaml


# ------------------------------------------------------------------------------------------------ errors


def test_error_base_carries_file_and_place():
    err = _errors.KubesecError("not a mapping", path="/etc/kubernetes/manifests/kube-apiserver.yaml", place="spec.containers[0]")
    assert str(err) == "/etc/kubernetes/manifests/kube-apiserver.yaml: spec.containers[0]: not a mapping"
    assert (err.path, err.place) == ("/etc/kubernetes/manifests/kube-apiserver.yaml", "spec.containers[0]")
    assert str(_errors.KubesecError("plain")) == "plain"
    assert str(_errors.KubesecError("f.yaml: already named", path="f.yaml")) == "f.yaml: already named"
    copy = pickle.loads(pickle.dumps(err))  # the audit-log runner sends errors between processes
    assert str(copy) == str(err) and copy.path == err.path
    with pytest.raises(TypeError):
        _errors.KubesecError("x", file="y")


def test_existing_errors_keep_names_and_bases():
    assert issubclass(_cis.CatalogueError, ValueError) and issubclass(_cis.CatalogueError, _errors.KubesecError)
    assert issubclass(_nodepath.NodePathError, OSError) and issubclass(_nodepath.NodePathError, _errors.KubesecError)
    assert issubclass(_static_pod.ManifestError, ValueError) and issubclass(_workload.ManifestError, ValueError)
    assert _static_pod.ManifestError is not _workload.ManifestError
    api = _kube.KubeApiError("forbidden", status=403, path="/api/v1/nodes")
    assert str(api) == "forbidden"  # its own `path` (the API path) does not prefix the message
    with pytest.raises(_errors.KubesecError):
        _gitops.require_label("Bad_Name", "kubesec_cluster")
    names = []
    for path in (COLLECTION / "plugins" / "module_utils").glob("*.py"):
        for match in re.finditer(r"^class (\w*(?:Error|Exception))\((\w+)", path.read_text(), re.M):
            names.append((path.name, match.group(1), match.group(2)))
    roots = [(f, n, b) for f, n, b in names if b in ("Exception", "ValueError", "OSError", "RuntimeError") and n not in ("_NotEvent", "KubesecError")]
    assert not roots, "error classes not derived from KubesecError: %s" % roots


# ------------------------------------------------------------------------------------------------ GC pause
def test_gc_paused_restores_the_collector_as_it_was():
    import gc

    from ansible_collections.kubesec.cluster.plugins.module_utils._parsing import gc_paused

    was = gc.isenabled()
    try:
        gc.enable()
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():  # nested: the inner pause must not turn it back on
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()
        gc.disable()
        with gc_paused():
            pass
        assert not gc.isenabled()  # off before: stays off
        gc.enable()
        try:
            with gc_paused():
                raise KeyError("boom")
        except KeyError:
            pass
        assert gc.isenabled()  # an exception inside still restores it
    finally:
        (gc.enable if was else gc.disable)()
