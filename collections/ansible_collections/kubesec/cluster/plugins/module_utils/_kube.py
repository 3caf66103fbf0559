# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small, shared read access to the Kubernetes API.

Private module_utils (leading underscore): the API may change between minor releases.

The public surface is deliberately small:

``build_client(kubeconfig=None, context=None, in_cluster=None, timeout=None)``
    An ``kubernetes.client.ApiClient`` from a kubeconfig file (and context), or from the in-cluster
    service account. Raises ``KubeConfigError``.
``list_all(client, api_version, plural, namespace=None, limit=500, label_selector=None, field_selector=None,
timeout=60)``
    Every object of one resource, paging with ``limit``/``continue``. Returns a dict
    ``{"items": [...], "kind": "PodList", "resource_version": "123", "pages": 2, "restarts": 0}``.
    Items always carry ``apiVersion`` and ``kind`` (the API server leaves them out of list items for
    built-in kinds). A ``410 Expired`` continue token restarts the list from the beginning once; a second
    one raises ``KubeExpiredError``.
``get_object(client, api_version, plural, name, namespace=None, timeout=60)``
    One object (dict).
``patch_object(client, api_version, plural, name, patch, namespace=None, dry_run=False, timeout=60)``
    A JSON merge patch (RFC 7386: a ``None`` value removes the key) of one object; returns the object as the server
    has it afterwards (with ``dry_run``, as it would be: ``dryRun=All``, nothing stored).
``api_resources(client, api_version)``
    The discovery document (``APIResourceList.resources``) of one group version, e.g. to check that a CRD is
    installed before listing it.
``resource_path(api_version, plural, namespace=None, name=None)``
    The URL path, e.g. ``/apis/apps/v1/namespaces/shop/deployments``.

``api_version`` is what objects carry: ``v1`` for the core group, ``apps/v1``, ``aquasecurity.github.io/v1alpha1``.
``plural`` is the resource name (``pods``, ``vulnerabilityreports``); pass ``namespace=None`` to list a namespaced
resource across all namespaces, or for cluster-scoped resources.

Errors are ``KubeApiError`` subclasses with a message that says what was requested, from which server, and
what to check: ``KubeUnauthorizedError`` (401), ``KubeForbiddenError`` (403), ``KubeNotFoundError`` (404),
``KubeExpiredError`` (410). ``e.status`` holds the HTTP status (``None`` when the server could not be reached).

The ``kubernetes`` Python client is a third-party library: it is imported under a guard. Modules check
``HAS_KUBERNETES`` and call ``missing_required_lib('kubernetes')`` with ``KUBERNETES_IMPORT_ERROR``;
``missing_library()`` gives the same information as a message for plain Python callers.
Requests go through the client's own transport (authentication, TLS, proxies and exec plugins as configured
by the kubeconfig) but bypass its model classes: JSON is decoded once into plain dicts, which is what modules
return and much faster for large lists. Works with both the older (``call_api(path, method, ...)``) and the
newer (``param_serialize`` + ``call_api``) generated clients.
"""

from __future__ import annotations

import json
import os
import traceback
from typing import Any, Dict, List, NoReturn, Optional, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported, kept for sanity tests
    from urllib import quote  # type: ignore

KUBERNETES_IMPORT_ERROR = None
try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException

    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()
    ApiException = None  # type: ignore

try:
    from urllib3.exceptions import HTTPError as _Urllib3Error
except ImportError:  # urllib3 comes with kubernetes; without either nothing here can run anyway

    class _Urllib3Error(Exception):  # type: ignore
        pass


DEFAULT_LIMIT = 500
DEFAULT_TIMEOUT = 60
SERVICE_HOST_ENV = "KUBERNETES_SERVICE_HOST"


class KubeApiError(KubesecError):
    """A Kubernetes API request failed (message says what, where and what to check)."""

    def __init__(self, message: str, status: Optional[int] = None, reason: Optional[str] = None, path: Optional[str] = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.path = path
        self.body = body


class KubeConfigError(KubeApiError):
    """No usable client could be built (kubeconfig missing or invalid, not in a cluster)."""


class KubeUnauthorizedError(KubeApiError):
    """401: the credentials were rejected."""


class KubeForbiddenError(KubeApiError):
    """403: authenticated, but RBAC does not allow the request."""


class KubeNotFoundError(KubeApiError):
    """404: the object, or the resource type itself (CRD not installed), does not exist."""


class KubeExpiredError(KubeApiError):
    """410: a continue token expired twice while listing."""


def missing_library() -> Optional[str]:
    """None when the kubernetes client imports, else a message saying how to install it."""
    if HAS_KUBERNETES:
        return None
    last = (KUBERNETES_IMPORT_ERROR or "").strip().splitlines()[-1:] or ["ImportError"]
    return "the Python library 'kubernetes' is required on the host that runs this module (pip install kubernetes): %s" % last[0]


def _require_library() -> None:
    message = missing_library()
    if message:
        raise KubeConfigError(message)


KUBECONFIG_PATH_MAX = 4096


def kubeconfig_is_content(kubeconfig: object) -> bool:
    """True when a kubeconfig option holds the file's content (YAML with tokens) instead of a path to it."""
    text = str(kubeconfig)
    return (
        "\n" in text
        or "\r" in text
        or len(text) > KUBECONFIG_PATH_MAX
        or text.lstrip().startswith(("apiVersion:", "{", "clusters:", "kind:", "users:", "current-context:"))
    )


def kubeconfig_label(kubeconfig: Optional[str]) -> str:
    """How messages name a kubeconfig: its path, never content (content passed as a path holds credentials)."""
    if not kubeconfig:
        return os.environ.get("KUBECONFIG") or "~/.kube/config"
    if kubeconfig_is_content(kubeconfig):
        return "<kubeconfig content given instead of a path, not shown>"
    return kubeconfig


def build_client(kubeconfig: Optional[str] = None, context: Optional[str] = None, in_cluster: Optional[bool] = None, timeout: Optional[float] = None) -> Any:
    """An ApiClient for a kubeconfig (path, optional context) or the in-cluster service account.

    ``in_cluster=None`` means: use the in-cluster service account when no kubeconfig is given and
    ``KUBERNETES_SERVICE_HOST`` is set (running in a Pod), otherwise the default kubeconfig
    (``$KUBECONFIG`` or ``~/.kube/config``). ``timeout`` is stored on the client as the default for
    the helpers here.
    """
    _require_library()
    if in_cluster is None:
        in_cluster = not kubeconfig and not context and bool(os.environ.get(SERVICE_HOST_ENV)) and not os.environ.get("KUBECONFIG")
    if in_cluster and (kubeconfig or context):
        raise KubeConfigError("in_cluster cannot be combined with a kubeconfig path or context")
    if kubeconfig:
        if kubeconfig_is_content(kubeconfig):
            raise KubeConfigError(
                "kubeconfig: the value is the content of a kubeconfig, not the path of one (the "
                "value is not shown: it may hold a token); write it to a file readable only by you "
                "and give that file's path"
            )
        kubeconfig = os.path.expanduser(kubeconfig)
        if not os.path.isfile(kubeconfig):
            raise KubeConfigError("kubeconfig %s does not exist or is not a file" % kubeconfig)
    try:
        if in_cluster:
            configuration = k8s_client.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)
            api_client: Any = k8s_client.ApiClient(configuration=configuration)
            where = "in-cluster service account"
        else:
            # $KUBECONFIG is read now, not when the library was imported (it may hold several paths)
            api_client = k8s_config.new_client_from_config(
                config_file=kubeconfig or os.environ.get("KUBECONFIG") or None, context=context, persist_config=False
            )
            where = "kubeconfig %s" % (kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config")
            if context:
                where += " context %s" % context
    except Exception as exc:  # ConfigException, yaml errors, missing keys inside the kubeconfig
        what = (
            "the in-cluster service account"
            if in_cluster
            else "kubeconfig %s%s" % (kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config", " (context %s)" % context if context else "")
        )
        raise KubeConfigError("cannot build a Kubernetes client from %s: %s" % (what, exc)) from exc
    api_client.kubesec_origin = where
    api_client.kubesec_timeout = timeout or DEFAULT_TIMEOUT
    return api_client


def resource_path(api_version: str, plural: str, namespace: Optional[str] = None, name: Optional[str] = None) -> str:
    """URL path of a collection or object: /api/v1/pods, /apis/G/V/namespaces/NS/PLURAL/NAME."""
    if not api_version or not isinstance(api_version, str) or api_version.count("/") > 1:
        raise ValueError("api_version must look like 'v1' or 'group/version', got %r" % (api_version,))
    if not plural or "/" in plural:
        raise ValueError("plural must be a resource name such as 'pods', got %r" % (plural,))
    base = "/api/" + api_version if "/" not in api_version else "/apis/" + api_version
    parts = [base]
    if namespace:
        parts.append("namespaces/" + quote(namespace, safe=""))
    parts.append(plural)
    if name:
        parts.append(quote(name, safe=""))
    return "/".join(parts)


def _server(api_client: Any) -> str:
    configuration = getattr(api_client, "configuration", None)
    return getattr(configuration, "host", None) or "?"


def _status_message(body: Any) -> Tuple[str, Optional[str]]:
    """(message, reason) from a Status object body; plain text bodies are returned as they are."""
    if body is None:
        return "", None
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body)
    except ValueError:
        return body.strip()[:500], None
    if isinstance(status, dict):
        return str(status.get("message") or "").strip(), status.get("reason")
    return body.strip()[:500], None


def _raise_for_status(api_client: Any, method: str, path: str, status: int, reason: Optional[str], body: Any) -> NoReturn:
    message, status_reason = _status_message(body)
    origin = getattr(api_client, "kubesec_origin", None)
    where = "Kubernetes API %s (%s)" % (_server(api_client), origin) if origin else "Kubernetes API %s" % _server(api_client)
    head = "%s: %s %s -> HTTP %s %s" % (where, method, path, status, status_reason or reason or "")
    head = head.rstrip()
    detail = ": %s" % message if message else ""
    if status == 401:
        raise KubeUnauthorizedError(
            "%s%s. The credentials were rejected: check the token or client certificate of the kubeconfig "
            "user (it may have expired) or the service account token." % (head, detail),
            status,
            status_reason or reason,
            path,
            body,
        )
    if status == 403:
        raise KubeForbiddenError(
            "%s%s. The user is authenticated but RBAC does not allow this request: grant the verb on this "
            "resource (a ClusterRole for all-namespace or cluster-scoped lists)." % (head, detail),
            status,
            status_reason or reason,
            path,
            body,
        )
    if status == 404:
        if status_reason == "NotFound" and message.endswith(" not found"):
            hint = "The object does not exist."
        else:
            hint = "This server does not serve that resource type (for custom resources: is the CRD installed, and are the group, version and plural right?)."
        raise KubeNotFoundError("%s%s. %s" % (head, detail, hint), status, status_reason or reason, path, body)
    if status == 410:
        raise KubeExpiredError("%s%s" % (head, detail), status, status_reason or reason, path, body)
    raise KubeApiError("%s%s" % (head, detail), status, status_reason or reason, path, body)


def _request(
    api_client: Any,
    path: str,
    query: Optional[List[Tuple[str, Any]]] = None,
    timeout: Optional[float] = None,
    method: str = "GET",
    body: Optional[Dict[str, Any]] = None,
    content_type: Optional[str] = None,
) -> Any:
    """One API call (GET by default; PATCH with a body) through the client's transport; returns the decoded JSON
    body. Non-2xx answers raise the KubeApiError subclass of their status, transport errors a KubeApiError."""
    timeout = timeout or getattr(api_client, "kubesec_timeout", None) or DEFAULT_TIMEOUT
    query = [(key, value) for key, value in (query or []) if value is not None]
    headers = {"Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    extra = {} if body is None else {"body": body}
    try:
        if hasattr(api_client, "param_serialize"):
            # kubernetes >= 33 (openapi-generator 7): serialize, then send; non-2xx is returned, not raised. The
            # client's REST layer JSON-encodes a body itself, by the json Content-Type.
            verb, url, header_params, payload, post_params = api_client.param_serialize(
                method, path, query_params=query, header_params=headers, auth_settings=["BearerToken"], **extra
            )
            response = api_client.call_api(verb, url, header_params=header_params, body=payload, post_params=post_params, _request_timeout=timeout)
            data = response.read() if hasattr(response, "read") else response.data
            if not 200 <= response.status <= 299:
                _raise_for_status(api_client, method, path, response.status, response.reason, data)
        else:
            # older generated clients: call_api(path, method, ...) raises ApiException on non-2xx.
            response = api_client.call_api(
                path,
                method,
                path_params={},
                query_params=query,
                header_params=headers,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=timeout,
                **extra,
            )
            data = response.data
    except KubeApiError:
        raise
    except Exception as exc:  # ApiException, urllib3 errors, OSError
        status = getattr(exc, "status", None) if ApiException is not None and isinstance(exc, ApiException) else None
        if status:
            _raise_for_status(api_client, method, path, status, getattr(exc, "reason", None), getattr(exc, "body", None))
        if isinstance(exc, (_Urllib3Error, OSError)) or (ApiException is not None and isinstance(exc, ApiException)):
            raise KubeApiError("cannot reach the Kubernetes API at %s (%s %s): %s" % (_server(api_client), method, path, exc), None, None, path) from exc
        raise
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KubeApiError(
            "Kubernetes API %s: %s %s returned a body that is not JSON: %s" % (_server(api_client), method, path, exc), 200, None, path, data
        ) from exc


def _fill_type(items: List[Any], api_version: Optional[str], list_kind: Optional[str]) -> List[Any]:
    kind = list_kind[:-4] if list_kind and list_kind.endswith("List") else None
    for item in items:
        if isinstance(item, dict):
            if api_version and not item.get("apiVersion"):
                item["apiVersion"] = api_version
            if kind and not item.get("kind"):
                item["kind"] = kind
    return items


def list_all(
    api_client: Any,
    api_version: str,
    plural: str,
    namespace: Optional[str] = None,
    limit: Optional[int] = DEFAULT_LIMIT,
    label_selector: Optional[str] = None,
    field_selector: Optional[str] = None,
    timeout: Optional[float] = None,
) -> Dict[str, Any]:
    """All objects of one resource, following continue tokens; see the module docstring."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ValueError("limit must be a non-negative integer (0 = no paging), got %r" % (limit,))
    path = resource_path(api_version, plural, namespace=namespace)
    restarts = 0
    while True:
        items: List[Any] = []
        pages = 0
        token = None
        try:
            while True:
                query = [("limit", limit or None), ("continue", token), ("labelSelector", label_selector), ("fieldSelector", field_selector)]
                page = _request(api_client, path, query, timeout)
                pages += 1
                if not isinstance(page, dict) or not isinstance(page.get("items", []), (list, type(None))):
                    raise KubeApiError("Kubernetes API %s: GET %s did not return a list object" % (_server(api_client), path), 200, None, path)
                items.extend(page.get("items") or [])
                meta = page.get("metadata") or {}
                token = meta.get("continue")
                if not token:
                    return {
                        "items": _fill_type(items, page.get("apiVersion") or api_version, page.get("kind")),
                        "kind": page.get("kind"),
                        "resource_version": meta.get("resourceVersion"),
                        "pages": pages,
                        "restarts": restarts,
                    }
        except KubeExpiredError as exc:
            if restarts >= 1 or not token:
                raise KubeExpiredError(
                    "listing %s on %s: the continue token expired again after restarting the list (%s). The "
                    "collection changes faster than it can be paged at limit=%s: retry, or use a larger limit." % (path, _server(api_client), exc, limit),
                    exc.status,
                    exc.reason,
                    path,
                    exc.body,
                ) from exc
            restarts += 1


def get_object(api_client: Any, api_version: str, plural: str, name: str, namespace: Optional[str] = None, timeout: Optional[float] = None) -> Any:
    """One object as a dict (KubeNotFoundError when it does not exist)."""
    if not name:
        raise ValueError("get_object needs a name")
    return _request(api_client, resource_path(api_version, plural, namespace=namespace, name=name), None, timeout)


def api_resources(api_client: Any, api_version: str, timeout: Optional[float] = None) -> List[Any]:
    """Discovery: the resources served for one group version (list of APIResource dicts)."""
    base = "/api/" + api_version if "/" not in api_version else "/apis/" + api_version
    document = _request(api_client, base, None, timeout)
    return list(document.get("resources") or []) if isinstance(document, dict) else []


def patch_object(
    api_client: Any,
    api_version: str,
    plural: str,
    name: str,
    patch: Dict[str, Any],
    namespace: Optional[str] = None,
    dry_run: bool = False,
    timeout: Optional[float] = None,
) -> Any:
    """JSON merge patch of one object (see the module docstring); KubeApiError subclasses on failure."""
    if not name or not isinstance(patch, dict):
        raise ValueError("patch_object needs a name and a patch mapping")
    path = resource_path(api_version, plural, namespace=namespace, name=name)
    query = [("dryRun", "All")] if dry_run else []
    return _request(api_client, path, query, timeout, method="PATCH", body=patch, content_type="application/merge-patch+json")
