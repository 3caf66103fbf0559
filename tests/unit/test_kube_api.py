# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_kube.py against the FAKE API server (tests/fakes/kube_api.py) with the real kubernetes client."""

import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ansible_collections.kubesec.cluster.plugins.module_utils import _kube  # noqa: E402
from tests.fakes import fixtures as fake_fixtures  # noqa: E402
from tests.fakes.kube_api import FakeKubeAPI  # noqa: E402

fake_kube_api = fake_fixtures.fake_kube_api  # pytest fixtures of the fake API server
fake_kubeconfig = fake_fixtures.fake_kubeconfig

TRIVY = "aquasecurity.github.io/v1alpha1"


def pod(name, namespace, labels=None):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
    }


def vuln_report(name, namespace):
    return {"apiVersion": TRIVY, "kind": "VulnerabilityReport", "metadata": {"name": name, "namespace": namespace}, "report": {"vulnerabilities": []}}


def raw_get(api, path, token="fake-token"):
    """(status, content-type, body) of a plain HTTP GET, to check what the fake writes on the wire."""
    request = urllib.request.Request(api.url + path)
    if token is not None:
        request.add_header("Authorization", "Bearer %s" % token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type"), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read().decode()


@pytest.fixture
def client(fake_kubeconfig):
    return _kube.build_client(kubeconfig=fake_kubeconfig)


# ---------------------------------------------------------------------------------------------------------
# paging
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("count, limit, pages", [(7, 3, 3), (6, 3, 2), (1, 500, 1), (0, 5, 1), (5, 1, 5), (4, 0, 1)])
def test_list_all_pages_with_limit_and_continue(fake_kube_api, client, count, limit, pages):
    for index in range(count):
        fake_kube_api.add(pod("p%02d" % index, "shop" if index % 2 else "payments"))
    result = _kube.list_all(client, "v1", "pods", limit=limit)
    requests = fake_kube_api.list_requests("pods")
    assert len(requests) == pages == result["pages"]
    # every page after the first carries exactly the token the previous page returned
    assert "continue" not in requests[0]["query"]
    tokens = [r["query"].get("continue") for r in requests[1:]]
    assert all(tokens) and len(set(tokens)) == len(tokens)
    if limit:
        assert all(r["query"]["limit"] == str(limit) for r in requests)
    else:
        assert "limit" not in requests[0]["query"]
    names = [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in result["items"]]
    assert len(names) == count == len(set(names))
    assert names == sorted(names)  # the order of the API server (etcd keys), kept across pages
    assert all(i["kind"] == "Pod" and i["apiVersion"] == "v1" for i in result["items"])
    assert result["kind"] == "PodList" and result["restarts"] == 0 and result["resource_version"]


def test_continue_tokens_look_like_the_real_ones(fake_kube_api, client):
    for index in range(3):
        fake_kube_api.add(pod("p%d" % index, "shop"))
    _kube.list_all(client, "v1", "pods", limit=1)
    token = fake_kube_api.list_requests("pods")[1]["query"]["continue"]
    decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert decoded["v"] == "meta.k8s.io/v1" and decoded["start"] == "shop/p0\x00" and decoded["rv"] > 0


def test_list_metadata_on_the_wire(fake_kube_api):
    for index in range(5):
        fake_kube_api.add(vuln_report("r%d" % index, "shop"))
    status, ctype, body = raw_get(fake_kube_api, "/apis/%s/namespaces/shop/vulnerabilityreports?limit=2" % TRIVY)
    data = json.loads(body)
    assert status == 200 and ctype == "application/json"
    assert data["kind"] == "VulnerabilityReportList" and data["apiVersion"] == TRIVY
    assert data["metadata"]["remainingItemCount"] == 3 and data["metadata"]["continue"]
    assert data["metadata"]["resourceVersion"].isdigit()
    # custom resources keep apiVersion/kind in list items, built-in kinds do not (like a real server)
    assert data["items"][0]["kind"] == "VulnerabilityReport"
    fake_kube_api.add(pod("p", "shop"))
    pods = json.loads(raw_get(fake_kube_api, "/api/v1/namespaces/shop/pods")[2])
    assert "kind" not in pods["items"][0] and "apiVersion" not in pods["items"][0]


def test_namespace_filter_and_all_namespaces(fake_kube_api, client):
    for namespace in ("shop", "payments", "monitoring"):
        for index in range(3):
            fake_kube_api.add(vuln_report("r%d" % index, namespace))
    shop = _kube.list_all(client, TRIVY, "vulnerabilityreports", namespace="shop", limit=2)
    assert {i["metadata"]["namespace"] for i in shop["items"]} == {"shop"} and len(shop["items"]) == 3
    assert {r["path"] for r in fake_kube_api.list_requests()} == {"/apis/%s/namespaces/shop/vulnerabilityreports" % TRIVY}
    everything = _kube.list_all(client, TRIVY, "vulnerabilityreports", limit=4)
    assert len(everything["items"]) == 9 and everything["pages"] == 3
    assert _kube.list_all(client, TRIVY, "vulnerabilityreports", namespace="nowhere")["items"] == []


def test_cluster_scoped_kinds(fake_kube_api, client):
    for name in ("cluster-admin", "admin", "edit"):
        fake_kube_api.add(
            {"apiVersion": TRIVY, "kind": "ClusterRbacAssessmentReport", "metadata": {"name": "clusterrole-" + name, "namespace": "ignored"}, "report": {}}
        )
    fake_kube_api.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    result = _kube.list_all(client, TRIVY, "clusterrbacassessmentreports", limit=2)
    assert [i["metadata"]["name"] for i in result["items"]] == ["clusterrole-admin", "clusterrole-cluster-admin", "clusterrole-edit"]
    assert all("namespace" not in i["metadata"] for i in result["items"])
    assert fake_kube_api.list_requests()[0]["path"] == "/apis/%s/clusterrbacassessmentreports" % TRIVY
    namespaces = _kube.list_all(client, "v1", "namespaces")
    assert [i["metadata"]["name"] for i in namespaces["items"]] == ["shop"]
    assert namespaces["items"][0]["kind"] == "Namespace"
    # a cluster-scoped resource under a namespace path does not exist
    with pytest.raises(_kube.KubeNotFoundError):
        _kube.list_all(client, TRIVY, "clusterrbacassessmentreports", namespace="shop")


def test_core_and_apps_kinds_with_selectors(fake_kube_api, client):
    fake_kube_api.add_objects(
        [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "front"}}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "db", "namespace": "shop", "labels": {"app": "db"}}},
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "default-deny", "namespace": "shop"}},
            {"kind": "List", "apiVersion": "v1", "items": [pod("a", "shop", {"app": "web"}), pod("b", "shop")]},
        ]
    )
    deployments = _kube.list_all(client, "apps/v1", "deployments", label_selector="app in (web,api),tier")
    assert [d["metadata"]["name"] for d in deployments["items"]] == ["web"]
    assert deployments["items"][0]["kind"] == "Deployment" and deployments["items"][0]["apiVersion"] == "apps/v1"
    assert [p["metadata"]["name"] for p in _kube.list_all(client, "v1", "pods", label_selector="!app")["items"]] == ["b"]
    assert [p["metadata"]["name"] for p in _kube.list_all(client, "v1", "pods", field_selector="metadata.name=a")["items"]] == ["a"]
    policies = _kube.list_all(client, "networking.k8s.io/v1", "networkpolicies", namespace="shop")
    assert policies["items"][0]["kind"] == "NetworkPolicy"
    assert _kube.get_object(client, "apps/v1", "deployments", "db", namespace="shop")["metadata"]["labels"] == {"app": "db"}


def test_api_resources_discovery(fake_kube_api, client):
    kinds = {r["kind"]: r for r in _kube.api_resources(client, TRIVY)}
    assert kinds["VulnerabilityReport"]["namespaced"] is True
    assert kinds["ClusterRbacAssessmentReport"]["namespaced"] is False
    assert {r["name"] for r in _kube.api_resources(client, "v1")} >= {"pods", "namespaces", "nodes"}
    with pytest.raises(_kube.KubeNotFoundError):
        _kube.api_resources(client, "nothere.example.com/v1")


def test_the_kubernetes_dynamic_client_works_against_the_fake(fake_kube_api, client, tmp_path):
    """Discovery fidelity: the client's own DynamicClient resolves kinds and lists through the fake."""
    from kubernetes import dynamic

    fake_kube_api.add(vuln_report("r1", "shop"))
    dyn = dynamic.DynamicClient(client, cache_file=str(tmp_path / "discovery.json"))
    resource = dyn.resources.get(api_version=TRIVY, kind="VulnerabilityReport")
    assert resource.namespaced and resource.name == "vulnerabilityreports"
    listed = resource.get(namespace="shop")
    assert [item.metadata.name for item in listed.items] == ["r1"]
    assert dyn.resources.get(api_version="apps/v1", kind="Deployment").get(limit=5).kind == "DeploymentList"


# ---------------------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------------------
def test_401_wrong_token_is_a_clear_error(fake_kube_api, tmp_path):
    client = _kube.build_client(kubeconfig=fake_kube_api.write_kubeconfig(tmp_path / "kc", token="expired"))
    with pytest.raises(_kube.KubeUnauthorizedError) as caught:
        _kube.list_all(client, TRIVY, "vulnerabilityreports")
    message = str(caught.value)
    assert caught.value.status == 401 and "401" in message and "credentials were rejected" in message
    assert fake_kube_api.url in message and str(tmp_path / "kc") in message
    status, _, body = raw_get(fake_kube_api, "/api/v1/pods", token="expired")
    assert status == 401 and json.loads(body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_403_forbidden_is_a_clear_error(fake_kube_api, client):
    fake_kube_api.forbid("vulnerabilityreports", verb="list")
    with pytest.raises(_kube.KubeForbiddenError) as caught:
        _kube.list_all(client, TRIVY, "vulnerabilityreports")
    message = str(caught.value)
    assert caught.value.status == 403 and "RBAC" in message
    assert (
        'vulnerabilityreports.aquasecurity.github.io is forbidden: User "system:serviceaccount:kubesec:auditor" '
        'cannot list resource "vulnerabilityreports" in API group "aquasecurity.github.io" at the cluster scope' in message
    )
    status, _, body = raw_get(fake_kube_api, "/apis/%s/vulnerabilityreports" % TRIVY)
    assert status == 403 and json.loads(body)["details"] == {"group": "aquasecurity.github.io", "kind": "vulnerabilityreports"}


def test_403_in_one_namespace_only(fake_kube_api, client):
    fake_kube_api.forbid("pods", verb="list", namespace="kube-system")
    assert _kube.list_all(client, "v1", "pods", namespace="shop")["items"] == []
    with pytest.raises(_kube.KubeForbiddenError, match='cannot list resource "pods" in API group "" in the namespace "kube-system"'):
        _kube.list_all(client, "v1", "pods", namespace="kube-system")


def test_404_missing_crd_and_missing_object(tmp_path):
    with FakeKubeAPI(trivy_crds=False) as api:
        client = _kube.build_client(kubeconfig=api.write_kubeconfig(tmp_path / "kc"))
        with pytest.raises(_kube.KubeNotFoundError) as caught:
            _kube.list_all(client, TRIVY, "vulnerabilityreports")
        assert caught.value.status == 404 and "CRD installed" in str(caught.value)
        # an unknown group answers in plain text, like the real server
        status, ctype, body = raw_get(api, "/apis/%s/vulnerabilityreports" % TRIVY)
        assert (status, ctype, body) == (404, "text/plain; charset=utf-8", "404 page not found\n")
        with pytest.raises(_kube.KubeNotFoundError, match="does not serve that resource type"):
            _kube.list_all(client, "apps/v1", "deploymentz")
        with pytest.raises(_kube.KubeNotFoundError) as caught:
            _kube.get_object(client, "v1", "pods", "ghost", namespace="shop")
        assert 'pods "ghost" not found' in str(caught.value) and "The object does not exist" in str(caught.value)
        status, _, body = raw_get(api, "/api/v1/namespaces/shop/pods/ghost")
        assert json.loads(body)["details"] == {"name": "ghost", "kind": "pods"} and status == 404


def test_crd_removed_while_running(fake_kube_api, client):
    fake_kube_api.add(vuln_report("r", "shop"))
    assert len(_kube.list_all(client, TRIVY, "vulnerabilityreports")["items"]) == 1
    fake_kube_api.unregister(TRIVY, "vulnerabilityreports")
    with pytest.raises(_kube.KubeNotFoundError):
        _kube.list_all(client, TRIVY, "vulnerabilityreports")


def test_410_expired_continue_token_restarts_the_list_once(fake_kube_api, client):
    for index in range(7):
        fake_kube_api.add(vuln_report("r%d" % index, "shop"))
    fake_kube_api.expire_continue_tokens(times=1)
    result = _kube.list_all(client, TRIVY, "vulnerabilityreports", limit=3)
    names = [i["metadata"]["name"] for i in result["items"]]
    assert names == ["r%d" % i for i in range(7)]  # complete, nothing twice
    assert result["restarts"] == 1 and result["pages"] == 3
    requests = fake_kube_api.list_requests("vulnerabilityreports")
    # page 1, page 2 (410), page 1 again, page 2, page 3
    assert [r["status"] for r in requests] == [200, 410, 200, 200, 200]
    assert [bool(r["query"].get("continue")) for r in requests] == [False, True, False, True, True]


def test_410_twice_fails_clearly(fake_kube_api, client):
    for index in range(5):
        fake_kube_api.add(vuln_report("r%d" % index, "shop"))
    fake_kube_api.expire_continue_tokens(times=10)
    with pytest.raises(_kube.KubeExpiredError) as caught:
        _kube.list_all(client, TRIVY, "vulnerabilityreports", limit=2)
    message = str(caught.value)
    assert caught.value.status == 410 and "expired again after restarting" in message and "limit=2" in message
    # two starts, two expired continues, then give up
    assert [r["status"] for r in fake_kube_api.list_requests()] == [200, 410, 200, 410]


def test_410_status_object_on_the_wire(fake_kube_api):
    for index in range(3):
        fake_kube_api.add(vuln_report("r%d" % index, "shop"))
    first = json.loads(raw_get(fake_kube_api, "/apis/%s/vulnerabilityreports?limit=1" % TRIVY)[2])
    fake_kube_api.touch()
    fake_kube_api.compact()
    token = first["metadata"]["continue"]
    status, _, body = raw_get(fake_kube_api, "/apis/%s/vulnerabilityreports?limit=1&continue=%s" % (TRIVY, token))
    data = json.loads(body)
    assert status == 410 and data["reason"] == "Expired" and data["code"] == 410 and data["kind"] == "Status"
    assert data["message"].startswith("The provided continue parameter is too old")
    assert data["metadata"]["continue"]
    status, _, body = raw_get(fake_kube_api, "/apis/%s/vulnerabilityreports?limit=1&continue=garbage!" % TRIVY)
    assert status == 400 and json.loads(body)["reason"] == "BadRequest"
    assert json.loads(body)["message"].startswith("continue key is not valid")


def test_anonymous_requests_like_a_default_api_server(fake_kube_api):
    assert raw_get(fake_kube_api, "/version", token=None)[0] == 200
    status, _, body = raw_get(fake_kube_api, "/api/v1/pods", token=None)
    assert status == 403 and 'User "system:anonymous" cannot list resource "pods"' in json.loads(body)["message"]
    assert raw_get(fake_kube_api, "/apis", token=None)[0] == 403
    with FakeKubeAPI(anonymous_auth=False) as strict:
        assert raw_get(strict, "/version", token=None)[0] == 401
    with FakeKubeAPI(token=None) as open_api:  # for Go clients, which send no token over plain HTTP
        assert raw_get(open_api, "/api/v1/pods", token=None)[0] == 200


def test_discovery_documents(fake_kube_api):
    groups = json.loads(raw_get(fake_kube_api, "/apis")[2])
    names = [g["name"] for g in groups["groups"]]
    assert groups["kind"] == "APIGroupList" and "aquasecurity.github.io" in names and "apps" in names
    assert json.loads(raw_get(fake_kube_api, "/api")[2])["versions"] == ["v1"]
    resources = json.loads(raw_get(fake_kube_api, "/apis/apps/v1")[2])
    assert resources["groupVersion"] == "apps/v1" and {"deployments", "daemonsets"} <= {r["name"] for r in resources["resources"]}
    assert json.loads(raw_get(fake_kube_api, "/apis/aquasecurity.github.io")[2])["preferredVersion"] == {"groupVersion": TRIVY, "version": "v1alpha1"}


def test_bad_selector_is_a_400(fake_kube_api, client):
    with pytest.raises(_kube.KubeApiError) as caught:
        _kube.list_all(client, "v1", "pods", field_selector="spec.nodeName=x")
    assert caught.value.status == 400 and "field label not supported" in str(caught.value)


# ---------------------------------------------------------------------------------------------------------
# client building, transport and argument errors
# ---------------------------------------------------------------------------------------------------------
def test_build_client_errors(fake_kube_api, fake_kubeconfig, tmp_path, monkeypatch):
    with pytest.raises(_kube.KubeConfigError, match="does not exist"):
        _kube.build_client(kubeconfig=str(tmp_path / "missing"))
    with pytest.raises(_kube.KubeConfigError, match="context nope"):
        _kube.build_client(kubeconfig=fake_kubeconfig, context="nope")
    broken = tmp_path / "broken"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: [\n")
    with pytest.raises(_kube.KubeConfigError, match="cannot build a Kubernetes client from kubeconfig"):
        _kube.build_client(kubeconfig=str(broken))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(_kube.KubeConfigError, match="in-cluster service account"):
        _kube.build_client(in_cluster=True)
    with pytest.raises(_kube.KubeConfigError, match="cannot be combined"):
        _kube.build_client(kubeconfig=fake_kubeconfig, in_cluster=True)
    client = _kube.build_client(kubeconfig=fake_kubeconfig, context="fake", timeout=7)
    assert client.kubesec_timeout == 7 and client.configuration.host == fake_kube_api.url


def test_default_kubeconfig_from_environment(fake_kube_api, fake_kubeconfig, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", fake_kubeconfig)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")  # KUBECONFIG wins over the in-cluster guess
    client = _kube.build_client()
    assert _kube.list_all(client, "v1", "pods")["items"] == []


def test_unreachable_server(tmp_path):
    with FakeKubeAPI() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kc")
    client = _kube.build_client(kubeconfig=kubeconfig, timeout=5)
    client.configuration.retries = 0
    with pytest.raises(_kube.KubeApiError) as caught:
        _kube.list_all(client, "v1", "pods")
    assert caught.value.status is None and "cannot reach the Kubernetes API" in str(caught.value)


def test_argument_errors(client):
    with pytest.raises(ValueError, match="limit"):
        _kube.list_all(client, "v1", "pods", limit=-1)
    with pytest.raises(ValueError, match="api_version"):
        _kube.resource_path("a/b/c", "pods")
    with pytest.raises(ValueError, match="plural"):
        _kube.resource_path("v1", "pods/log")
    with pytest.raises(ValueError, match="name"):
        _kube.get_object(client, "v1", "pods", "")
    assert _kube.resource_path("v1", "pods", namespace="a b", name="x/y") == "/api/v1/namespaces/a%20b/pods/x%2Fy"
    assert _kube.resource_path("apps/v1", "deployments") == "/apis/apps/v1/deployments"


class _OldStyleClient:
    """An ApiClient of the older generated API (call_api(path, method, ...), errors raised as ApiException)."""

    class configuration:  # mimics ApiClient.configuration
        host = "https://old.example:6443"

    def __init__(self, status=200, body=b'{"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}'):
        self.status = status
        self.body = body
        self.calls = []

    def call_api(self, path, method, **kwargs):
        from kubernetes.client.rest import ApiException

        self.calls.append((path, method, kwargs))
        if self.status != 200:
            error = ApiException(status=self.status, reason="Forbidden")
            error.body = self.body
            raise error

        class Response:
            data = self.body

        return Response()


def test_older_client_api_is_supported():
    old = _OldStyleClient()
    assert _kube.list_all(old, "v1", "pods", limit=10)["items"] == []
    path, method, kwargs = old.calls[0]
    assert (path, method) == ("/api/v1/pods", "GET") and ("limit", 10) in kwargs["query_params"]
    assert kwargs["auth_settings"] == ["BearerToken"] and kwargs["_preload_content"] is False
    denied = _OldStyleClient(status=403, body=json.dumps({"kind": "Status", "reason": "Forbidden", "code": 403, "message": "pods is forbidden: nope"}).encode())
    with pytest.raises(_kube.KubeForbiddenError, match="pods is forbidden: nope"):
        _kube.list_all(denied, "v1", "pods")


def test_non_json_success_body_is_an_error():
    with pytest.raises(_kube.KubeApiError, match="not JSON"):
        _kube.list_all(_OldStyleClient(body=b"<html>proxy login</html>"), "v1", "pods")


def test_missing_library_message(monkeypatch):
    assert _kube.missing_library() is None
    monkeypatch.setattr(_kube, "HAS_KUBERNETES", False)
    monkeypatch.setattr(_kube, "KUBERNETES_IMPORT_ERROR", "Traceback...\nModuleNotFoundError: No module named 'kubernetes'")
    assert "pip install kubernetes" in _kube.missing_library()
    assert "No module named 'kubernetes'" in _kube.missing_library()
    with pytest.raises(_kube.KubeConfigError, match="kubernetes"):
        _kube.build_client()
