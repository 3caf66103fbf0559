"""pytest fixtures around the FAKE Kubernetes API server (tests/fakes/kube_api.py).

Import them into a test module::

    from tests.fakes.fixtures import fake_kube_api, fake_kubeconfig  # noqa: F401  (pytest fixtures)
"""

import pytest

from tests.fakes.kube_api import FakeKubeAPI


@pytest.fixture
def fake_kube_api():
    """A started FakeKubeAPI (token "fake-token", Trivy Operator CRDs served), stopped after the test."""
    with FakeKubeAPI() as api:
        yield api


@pytest.fixture
def fake_kubeconfig(fake_kube_api, tmp_path):
    """Path of a kubeconfig (context "fake") for fake_kube_api."""
    return fake_kube_api.write_kubeconfig(tmp_path / "kubeconfig")
