"""Every error class of the shared and primitive modules derives from _errors.KubesecError (issue 16).

A caller can catch any kubesec error at once and read `path` / `place`; the module-specific second base
(ValueError, OSError, RuntimeError) is kept so callers that catch those still work.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

PREFIX = "ansible_collections.kubesec.cluster.plugins."
# the modules of the primitives area (issue 16); other areas add theirs when they move to KubesecError
MODULES = [
    "module_utils._cis_kube_proxy",
    "module_utils._cluster_facts",
    "module_utils._falco_events",
    "module_utils._falco_values",
    "module_utils._gitops",
    "module_utils._helm_chart",
    "module_utils._io",
    "module_utils._kube",
    "module_utils._kube_bench",
    "module_utils._nodepath",
    "module_utils._nodewrite",
    "module_utils._notify",
    "module_utils._parsing",
    "module_utils._safeyaml",
    "module_utils._systemd",
    "module_utils._trivy",
    "module_utils._trivy_cli",
    "module_utils._trivy_operator",
    "module_utils._trivy_operator_values",
    "plugin_utils._catalogue",
    "plugin_utils._drift",
]


def error_classes(name):
    module = importlib.import_module(PREFIX + name)
    return [obj for _n, obj in inspect.getmembers(module, inspect.isclass) if issubclass(obj, Exception) and obj.__module__ == module.__name__]


@pytest.mark.parametrize("name", MODULES)
def test_error_classes_derive_from_kubesec_error(name):
    wrong = [cls.__name__ for cls in error_classes(name) if not issubclass(cls, KubesecError)]
    assert wrong == []


def test_the_modules_define_error_classes():
    assert sum(len(error_classes(name)) for name in MODULES) >= 20


def test_path_and_place_lead_the_message():
    exc = KubesecError("not a mapping", path="/etc/kubernetes/manifests/etcd.yaml", place="document 2")
    assert str(exc) == "/etc/kubernetes/manifests/etcd.yaml: document 2: not a mapping"
