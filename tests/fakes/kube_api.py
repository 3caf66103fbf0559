"""A FAKE Kubernetes API server for tests. It is not a Kubernetes API server and must never face a network.

``FakeKubeAPI`` serves plain HTTP on 127.0.0.1 (a free port) from a thread, using only ``http.server``. It does
just enough for the real ``kubernetes`` Python client (``ApiClient``, the generated APIs and ``DynamicClient``)
and for ``kubesec.cluster``'s ``_kube.list_all``:

* discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>``, ``/apis/<group>/<version>``;
* ``GET`` of collections, namespaced (``/apis/G/V/namespaces/NS/PLURAL``), across all namespaces
  (``/apis/G/V/PLURAL``) and cluster-scoped, as ``<Kind>List`` objects with ``metadata.resourceVersion``;
  ``limit`` / ``continue`` paging with tokens shaped like the real ones (base64url JSON
  ``{"v": "meta.k8s.io/v1", "rv": N, "start": "<key>\\x00"}``), ``metadata.remainingItemCount``,
  ``labelSelector`` (``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``) and ``fieldSelector``
  (``metadata.name`` / ``metadata.namespace``);
* ``GET`` of one object;
* authentication like a default API server: a wrong bearer token gets 401; no credentials at all make the request
  anonymous (``system:anonymous`` may read ``/version`` and the health paths, anything else is 403; with
  ``anonymous_auth=False`` it is 401);
* errors as the real server writes them (``Status`` objects): 403 from
  ``forbid()`` rules (``<resource>.<group> is forbidden: User "..." cannot list resource ...``), 404 for unknown
  objects and resources (plain ``404 page not found`` for an unknown group version, like the real server),
  400 for a malformed continue token and 410 ``Expired`` for a continue token older than the last compaction;
* list items of built-in kinds carry no ``apiVersion``/``kind`` (custom resources do), as on a real server.

Writes: ``PATCH`` of one object with a JSON merge patch (``application/merge-patch+json``, RFC 7386; a
``strategic-merge-patch+json`` body is applied the same way, which is right for maps such as labels), with
``dryRun=All`` answered without storing; the patched object gets a new ``resourceVersion``. 415 for other patch
types.

What it does not do: other writes through HTTP (create, update, delete), watches, MVCC snapshots (a continued list reads the current objects
from the token's start key on), protobuf, TLS, client certificates, aggregated discovery.

Go clients (kubectl, client-go, ``trivy k8s``) never send credentials over plain HTTP: serve them with
``FakeKubeAPI(token=None)``. Real ``trivy k8s`` 0.59.1 scanned this fake that way (tests/fixtures/trivy/README.md).

Typical use::

    with FakeKubeAPI(token="t0ken") as api:
        api.add_objects(yaml.safe_load_all(open("exports.yaml")))
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        ...                                  # use the kubernetes client with that kubeconfig
        api.requests                         # every request: method, path, query, status
        api.forbid("vulnerabilityreports", verb="list")            # 403 from now on
        api.expire_continue_tokens(times=1)  # next continued request gets 410 Expired

``tests/fakes/fixtures.py`` has pytest fixtures around it.
"""

import base64
import copy
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

TRIVY_GROUP_VERSION = "aquasecurity.github.io/v1alpha1"

# (apiVersion, kind, plural, namespaced, shortNames) of the built-in resources served.
BUILTIN_RESOURCES = (
    ("v1", "Namespace", "namespaces", False, ("ns",)),
    ("v1", "Node", "nodes", False, ("no",)),
    ("v1", "Pod", "pods", True, ("po",)),
    ("v1", "Service", "services", True, ("svc",)),
    ("v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    ("v1", "ConfigMap", "configmaps", True, ("cm",)),
    ("v1", "Secret", "secrets", True, ()),
    ("v1", "LimitRange", "limitranges", True, ("limits",)),
    ("v1", "ResourceQuota", "resourcequotas", True, ("quota",)),
    ("v1", "ReplicationController", "replicationcontrollers", True, ("rc",)),
    ("v1", "Endpoints", "endpoints", True, ("ep",)),
    ("v1", "PersistentVolume", "persistentvolumes", False, ("pv",)),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",)),
    ("apps/v1", "Deployment", "deployments", True, ("deploy",)),
    ("apps/v1", "ReplicaSet", "replicasets", True, ("rs",)),
    ("apps/v1", "StatefulSet", "statefulsets", True, ("sts",)),
    ("apps/v1", "DaemonSet", "daemonsets", True, ("ds",)),
    ("batch/v1", "Job", "jobs", True, ()),
    ("batch/v1", "CronJob", "cronjobs", True, ("cj",)),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    ("networking.k8s.io/v1", "Ingress", "ingresses", True, ("ing",)),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",)),
    ("rbac.authorization.k8s.io/v1", "Role", "roles", True, ()),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True, ()),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False, ()),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False, ()),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", False, ()),
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False, ()),
)

# The Trivy Operator CRDs (scopes from deploy/helm/crds, see docs formats.md section 2.1).
TRIVY_RESOURCES = (
    (TRIVY_GROUP_VERSION, "VulnerabilityReport", "vulnerabilityreports", True, ("vuln", "vulns")),
    (TRIVY_GROUP_VERSION, "ClusterVulnerabilityReport", "clustervulnerabilityreports", False, ("clustervuln",)),
    (TRIVY_GROUP_VERSION, "ConfigAuditReport", "configauditreports", True, ("configaudit", "configaudits")),
    (TRIVY_GROUP_VERSION, "ClusterConfigAuditReport", "clusterconfigauditreports", False, ("clusterconfigaudit",)),
    (TRIVY_GROUP_VERSION, "ExposedSecretReport", "exposedsecretreports", True, ("exposedsecret", "exposedsecrets")),
    (TRIVY_GROUP_VERSION, "RbacAssessmentReport", "rbacassessmentreports", True, ("rbacassessment", "rbacassessments")),
    (TRIVY_GROUP_VERSION, "ClusterRbacAssessmentReport", "clusterrbacassessmentreports", False, ("clusterrbacassessmentreport",)),
    (TRIVY_GROUP_VERSION, "InfraAssessmentReport", "infraassessmentreports", True, ("infraassessment", "infraassessments")),
    (TRIVY_GROUP_VERSION, "ClusterInfraAssessmentReport", "clusterinfraassessmentreports", False, ("clusterinfraassessment",)),
    (TRIVY_GROUP_VERSION, "SbomReport", "sbomreports", True, ("sbom", "sboms")),
    (TRIVY_GROUP_VERSION, "ClusterSbomReport", "clustersbomreports", False, ("clustersbom",)),
    (TRIVY_GROUP_VERSION, "ClusterComplianceReport", "clustercompliancereports", False, ("compliance",)),
)

# What the system:public-info-viewer ClusterRole lets anonymous requests read on a default API server.
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of "
    "the results. Continuing with the provided token results in an inconsistent list - objects that were "
    "created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
)


class Resource:
    """One served resource type."""

    def __init__(self, api_version, kind, plural, namespaced, short_names=(), custom=False):
        self.api_version = api_version
        self.group, _, self.version = api_version.rpartition("/")
        self.kind = kind
        self.plural = plural
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.custom = custom

    def qualified(self):
        """'pods' or 'vulnerabilityreports.aquasecurity.github.io', as in real error messages."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    def discovery(self):
        entry = {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(VERBS),
            "storageVersionHash": "fake",
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if not self.custom and self.kind in ("Pod", "Service", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"):
            entry["categories"] = ["all"]
        return entry


def _encode_continue(rv, key):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key + "\x00"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_continue(token):
    padded = token + "=" * (-len(token) % 4)
    try:
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"))
    except (ValueError, UnicodeError) as exc:
        raise ValueError("continue key is not valid: %s" % exc)
    if not isinstance(data, dict) or data.get("v") != "meta.k8s.io/v1":
        raise ValueError("continue key is not valid: server does not recognize this encoded key")
    if not isinstance(data.get("rv"), int) or data["rv"] <= 0:
        raise ValueError("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    start = data.get("start")
    if not isinstance(start, str) or not start:
        raise ValueError("continue key is not valid: encoded start key empty")
    return data["rv"], start


_SELECTOR_TERM = re.compile(r"\s*(?:[^,(]|\([^)]*\))+")


def _parse_label_selector(text):
    """List of predicates over a labels dict; ValueError on syntax the real server also rejects."""
    predicates = []
    for match in _SELECTOR_TERM.finditer(text or ""):
        term = match.group(0).strip()
        if not term:
            continue
        set_match = re.match(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$", term)
        if set_match:
            key, op, values = set_match.group(1), set_match.group(2), {v.strip() for v in set_match.group(3).split(",")}
            if op == "in":
                predicates.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                predicates.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
            continue
        eq_match = re.match(r"^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$", term)
        if eq_match:
            key, op, value = eq_match.groups()
            if op == "!=":
                predicates.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                predicates.append(lambda labels, k=key, v=value: labels.get(k) == v)
            continue
        exists_match = re.match(r"^(!?)([\w./-]+)$", term)
        if exists_match:
            negate, key = exists_match.groups()
            if negate:
                predicates.append(lambda labels, k=key: k not in labels)
            else:
                predicates.append(lambda labels, k=key: k in labels)
            continue
        raise ValueError("unable to parse requirement: %r" % term)
    return predicates


def _parse_field_selector(text):
    predicates = []
    for term in (text or "").split(","):
        term = term.strip()
        if not term:
            continue
        match = re.match(r"^([\w.]+)\s*(==|=|!=)\s*(.*)$", term)
        if not match:
            raise ValueError("invalid selector: '%s'; can't understand '%s'" % (text, term))
        field, op, value = match.groups()
        if field not in ("metadata.name", "metadata.namespace"):
            raise ValueError("field label not supported: %s" % field)
        attr = field.split(".", 1)[1]
        if op == "!=":
            predicates.append(lambda meta, a=attr, v=value: (meta.get(a) or "") != v)
        else:
            predicates.append(lambda meta, a=attr, v=value: (meta.get(a) or "") == v)
    return predicates


class FakeKubeAPI:
    """The fake API server (see the module docstring). Use as a context manager or call start()/stop()."""

    def __init__(self, token="fake-token", user="system:serviceaccount:kubesec:auditor", trivy_crds=True, version="v1.31.4", anonymous_auth=True):
        self.token = token
        self.anonymous_auth = anonymous_auth
        self.user = user
        self.version = version
        self.resources = {}
        self._lock = threading.RLock()
        self._store = {}
        self._rv = 1000
        self._compacted_rv = 0
        self._forbidden = []
        self._hooks = []
        self.requests = []
        self._httpd = None
        self._thread = None
        for spec in BUILTIN_RESOURCES:
            self.register(*spec)
        if trivy_crds:
            for spec in TRIVY_RESOURCES:
                self.register(*spec, custom=True)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self):
        handler = type("FakeKubeHandler", (_Handler,), {"api": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-kube-api", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        host, port = self._httpd.server_address[:2]
        return "http://%s:%d" % (host, port)

    def write_kubeconfig(self, path, token=None, context="fake", namespace="default"):
        """Write a kubeconfig for this server (bearer token; ``token`` overrides the server's) and return path."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": "fake-cluster", "cluster": {"server": self.url}}],
            "users": [{"name": "fake-user", "user": {"token": token if token is not None else (self.token or "")}}],
            "contexts": [{"name": context, "context": {"cluster": "fake-cluster", "user": "fake-user", "namespace": namespace}}],
            "current-context": context,
        }
        with open(str(path), "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=1)
        return str(path)

    # -- resources and objects -----------------------------------------------------------------------------
    def register(self, api_version, kind, plural, namespaced, short_names=(), custom=False):
        """Serve one more resource type (e.g. a CRD)."""
        resource = Resource(api_version, kind, plural, namespaced, short_names, custom)
        with self._lock:
            self.resources[(api_version, plural)] = resource
            self._store.setdefault((api_version, plural), {})
        return resource

    def unregister(self, api_version, plural):
        """Stop serving a resource type (as if its CRD were deleted): its URLs answer 404."""
        with self._lock:
            self.resources.pop((api_version, plural), None)
            self._store.pop((api_version, plural), None)

    def _resource_for_kind(self, api_version, kind):
        for resource in self.resources.values():
            if resource.api_version == api_version and resource.kind == kind:
                return resource
        raise KeyError("the fake serves no kind %s in %s (register() it first)" % (kind, api_version))

    def add(self, obj):
        """Store one object (dict with apiVersion, kind, metadata.name[, metadata.namespace]); returns the copy."""
        if not isinstance(obj, dict):
            raise TypeError("objects are dicts, got %r" % type(obj).__name__)
        if obj.get("kind", "").endswith("List") and isinstance(obj.get("items"), list):
            return [self.add(item) for item in obj["items"]]
        resource = self._resource_for_kind(obj.get("apiVersion"), obj.get("kind"))
        stored = copy.deepcopy(obj)
        meta = stored.setdefault("metadata", {})
        if not meta.get("name"):
            raise ValueError("object without metadata.name: %r" % (obj,))
        if resource.namespaced:
            meta.setdefault("namespace", "default")
        else:
            meta.pop("namespace", None)
        with self._lock:
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", "2025-01-01T00:00:00Z")
            self._store[(resource.api_version, resource.plural)][(meta.get("namespace", ""), meta["name"])] = stored
        return stored

    def stored(self, api_version, plural, name, namespace=None):
        """A copy of one stored object, or None."""
        with self._lock:
            obj = self._store[(api_version, plural)].get((namespace or "", name))
            return copy.deepcopy(obj)

    def add_objects(self, objects):
        """Store many objects; ``kind: List`` documents are expanded, ``None`` documents skipped."""
        count = 0
        for obj in objects:
            if obj is None:
                continue
            added = self.add(obj)
            count += len(added) if isinstance(added, list) else 1
        return count

    def delete(self, api_version, plural, name, namespace=None):
        with self._lock:
            self._rv += 1
            return self._store[(api_version, plural)].pop((namespace or "", name), None)

    def touch(self):
        """A write somewhere else in the cluster: the resourceVersion moves on."""
        with self._lock:
            self._rv += 1
            return self._rv

    def compact(self):
        """Like an etcd compaction: continue tokens issued before the current resourceVersion now get 410."""
        with self._lock:
            self._compacted_rv = self._rv

    # -- behaviour knobs -----------------------------------------------------------------------------------
    def forbid(self, plural, verb="list", namespace=None, group=None):
        """Answer 403 to ``verb`` on ``plural`` (in ``namespace`` only, or everywhere when None)."""
        self._forbidden.append((plural, verb, namespace, group))

    def before_request(self, callback):
        """Call ``callback(request_dict)`` before each request is handled (from the server thread)."""
        self._hooks.append(callback)

    def expire_continue_tokens(self, times=1):
        """The next ``times`` requests carrying a continue token find it expired (write + compaction first)."""
        state = {"left": times}

        def hook(request):
            if state["left"] > 0 and request["query"].get("continue"):
                state["left"] -= 1
                self.touch()
                self.compact()

        self.before_request(hook)

    def list_requests(self, plural=None):
        """The recorded collection GETs (optionally for one resource plural)."""
        found = []
        for request in self.requests:
            route = request.get("route") or {}
            if route.get("type") == "list" and (plural is None or route.get("plural") == plural):
                found.append(request)
        return found

    # -- request handling (server thread) -----------------------------------------------------------------
    def _status(self, code, reason, message, details=None, metadata=None):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": metadata or {}, "status": "Failure", "message": message, "reason": reason, "code": code}
        if details is not None:
            body["details"] = details
        return code, body

    def _not_found_resource(self):
        return self._status(404, "NotFound", "the server could not find the requested resource", details={})

    def _discovery(self, path):
        group_versions = {}
        for resource in self.resources.values():
            group_versions.setdefault(resource.group, {}).setdefault(resource.version, []).append(resource)
        if path == "/version":
            major, minor = self.version.lstrip("v").split(".")[:2]
            return 200, {
                "major": major,
                "minor": minor,
                "gitVersion": self.version,
                "gitCommit": "fake",
                "gitTreeState": "clean",
                "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.22.0",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        if path == "/api":
            return 200, {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
            }
        if path == "/apis":
            groups = []
            for group in sorted(g for g in group_versions if g):
                versions = [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in sorted(group_versions[group])]
                groups.append({"name": group, "versions": versions, "preferredVersion": versions[0]})
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2 and parts[1] in group_versions.get("", {}):
            return 200, self._resource_list("v1", group_versions[""][parts[1]])
        if parts[0] == "apis" and len(parts) == 2 and parts[1] in group_versions:
            versions = [{"groupVersion": "%s/%s" % (parts[1], v), "version": v} for v in sorted(group_versions[parts[1]])]
            return 200, {"kind": "APIGroup", "apiVersion": "v1", "name": parts[1], "versions": versions, "preferredVersion": versions[0]}
        if parts[0] == "apis" and len(parts) == 3 and parts[2] in group_versions.get(parts[1], {}):
            return 200, self._resource_list("%s/%s" % (parts[1], parts[2]), group_versions[parts[1]][parts[2]])
        return None

    @staticmethod
    def _resource_list(group_version, resources):
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": [r.discovery() for r in sorted(resources, key=lambda r: r.plural)],
        }

    def _route(self, path):
        """Parse a resource URL into dict(api_version, plural, namespace, name) or None for unknown GV."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 3:
            api_version, rest = parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            api_version, rest = "%s/%s" % (parts[1], parts[2]), parts[3:]
        else:
            return None
        if not any(r.api_version == api_version for r in self.resources.values()):
            return None
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 2:
            return {"api_version": api_version, "plural": None}
        return {
            "api_version": api_version,
            "plural": rest[0],
            "namespace": namespace,
            "name": rest[1] if len(rest) == 2 else None,
            "type": "get" if len(rest) == 2 else "list",
        }

    def _forbidden_for(self, resource, verb, namespace):
        for plural, f_verb, f_namespace, f_group in self._forbidden:
            if (
                plural == resource.plural
                and f_verb == verb
                and (f_namespace is None or f_namespace == namespace)
                and (f_group is None or f_group == resource.group)
            ):
                return True
        return False

    def handle(self, method, raw_path, headers, body=b""):
        """(status code, body) for one request; records it in ``self.requests`` (with its status)."""
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        request = {
            "method": method,
            "path": path,
            "query": query,
            "route": None,
            "status": None,
            "body": body.decode("utf-8", "replace") if body else None,
            "content_type": headers.get("Content-Type"),
        }
        with self._lock:
            self.requests.append(request)
        for hook in list(self._hooks):
            hook(request)
        code, body = self._dispatch(method, path, query, headers, request)
        request["status"] = code
        return code, body

    def _dispatch(self, method, path, query, headers, request):
        auth = headers.get("Authorization") or ""
        user = self.user
        if self.token is not None and auth != "Bearer %s" % self.token:
            if auth or not self.anonymous_auth:
                return self._status(401, "Unauthorized", "Unauthorized")
            # no credentials: the anonymous user, who may read only the public info paths
            user = "system:anonymous"
            if path not in PUBLIC_PATHS:
                route = self._route(path)
                resource = self.resources.get((route["api_version"], route["plural"])) if route else None
                if resource is None:
                    return self._status(403, "Forbidden", 'forbidden: User "%s" cannot get path "%s"' % (user, path), details={})
                return self._forbidden_status(resource, "get" if route["type"] == "get" else "list", route["namespace"], route["name"], user)
        if method == "PATCH":
            return self._patch(path, query, request)
        if method != "GET":
            return self._status(405, "MethodNotAllowed", "the fake API server only serves GET and PATCH")
        discovery = self._discovery(path)
        if discovery is not None:
            return discovery
        route = self._route(path)
        request["route"] = route
        if route is None:
            return 404, "404 page not found\n"
        resource = self.resources.get((route["api_version"], route["plural"]))
        if resource is None or (route["namespace"] is not None and not resource.namespaced):
            return self._not_found_resource()
        verb = "get" if route["type"] == "get" else "list"
        if self._forbidden_for(resource, verb, route["namespace"]):
            return self._forbidden_status(resource, verb, route["namespace"], route["name"], user)
        if route["type"] == "get":
            return self._get(resource, route["namespace"], route["name"])
        return self._list(resource, route["namespace"], query)

    def _forbidden_status(self, resource, verb, namespace, name, user):
        scope = 'in the namespace "%s"' % namespace if namespace else "at the cluster scope"
        reason = 'User "%s" cannot %s resource "%s" in API group "%s" %s' % (user, verb, resource.plural, resource.group, scope)
        message = '%s "%s" is forbidden: %s' % (resource.qualified(), name, reason) if name else "%s is forbidden: %s" % (resource.qualified(), reason)
        details = {"group": resource.group, "kind": resource.plural}
        if name:
            details["name"] = name
        return self._status(403, "Forbidden", message, details=details)

    def _patch(self, path, query, request):
        route = self._route(path)
        request["route"] = route
        if route is None or route["type"] != "get":
            return self._status(405, "MethodNotAllowed", "PATCH needs one object's path")
        resource = self.resources.get((route["api_version"], route["plural"]))
        if resource is None:
            return self._not_found_resource()
        if self._forbidden_for(resource, "patch", route["namespace"]):
            return self._forbidden_status(resource, "patch", route["namespace"], route["name"], self.user)
        ctype = (request.get("content_type") or "").split(";")[0].strip()
        if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            return self._status(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - "
                "accepted media types include: application/merge-patch+json, "
                "application/strategic-merge-patch+json (fake)",
            )
        try:
            patch = json.loads(request.get("body") or "null")
        except ValueError as exc:
            return self._status(400, "BadRequest", "error decoding patch: %s" % exc)
        with self._lock:
            store = self._store[(resource.api_version, resource.plural)]
            key = (route["namespace"] or "", route["name"])
            current = store.get(key)
            if current is None:
                return self._get(resource, route["namespace"], route["name"])
            merged = _merge_patch(copy.deepcopy(current), patch)
            if query.get("dryRun") != "All":
                self._rv += 1
                merged.setdefault("metadata", {})["resourceVersion"] = str(self._rv)
                store[key] = merged
            return 200, copy.deepcopy(merged)

    def _get(self, resource, namespace, name):
        with self._lock:
            obj = self._store[(resource.api_version, resource.plural)].get((namespace or "", name))
            obj = copy.deepcopy(obj)
        if obj is None:
            details = {"name": name, "group": resource.group, "kind": resource.plural} if resource.group else {"name": name, "kind": resource.plural}
            return self._status(404, "NotFound", '%s "%s" not found' % (resource.qualified(), name), details=details)
        return 200, obj

    def _list(self, resource, namespace, query):
        try:
            labels = _parse_label_selector(query.get("labelSelector"))
            fields = _parse_field_selector(query.get("fieldSelector"))
        except ValueError as exc:
            return self._status(400, "BadRequest", str(exc))
        limit_text = query.get("limit") or "0"
        try:
            limit = int(limit_text)
        except ValueError:
            return self._status(400, "BadRequest", 'strconv.ParseInt: parsing "%s": invalid syntax' % limit_text)
        token = query.get("continue")
        with self._lock:
            current_rv = self._rv
            list_rv = current_rv
            start = ""
            if token:
                try:
                    token_rv, start = _decode_continue(token)
                except ValueError as exc:
                    return self._status(400, "BadRequest", str(exc))
                if token_rv < self._compacted_rv:
                    return self._status(410, "Expired", EXPIRED_MESSAGE, metadata={"continue": _encode_continue(current_rv, start.rstrip("\x00"))})
                list_rv = token_rv
            entries = sorted(self._store[(resource.api_version, resource.plural)].items())
            selected = []
            for (obj_ns, name), obj in entries:
                key = "%s/%s" % (obj_ns, name) if resource.namespaced else name
                if start and key < start:
                    continue
                if namespace is not None and obj_ns != namespace:
                    continue
                meta = obj.get("metadata") or {}
                obj_labels = meta.get("labels") or {}
                if not all(p(obj_labels) for p in labels) or not all(p(meta) for p in fields):
                    continue
                selected.append((key, obj))
            page = selected[:limit] if limit > 0 else selected
            items = []
            for _, obj in page:
                item = copy.deepcopy(obj)
                if not resource.custom:
                    item.pop("apiVersion", None)
                    item.pop("kind", None)
                items.append(item)
        metadata = {"resourceVersion": str(list_rv)}
        if limit > 0 and len(selected) > limit:
            metadata["continue"] = _encode_continue(list_rv, page[-1][0])
            metadata["remainingItemCount"] = len(selected) - limit
        return 200, {"apiVersion": resource.api_version, "kind": resource.kind + "List", "metadata": metadata, "items": items}


def _merge_patch(target, patch):
    """RFC 7386 JSON merge patch: mappings merge, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge_patch(target.get(key), value)
    return target


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    api = None  # set per server by FakeKubeAPI.start()

    def _respond(self):
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length) if length else b""
        try:
            code, body = self.api.handle(self.command, self.path, self.headers, sent)
        except Exception as exc:  # a bug in the fake: answer 500 instead of hanging the client
            code, body = self.api._status(500, "InternalError", "fake API server error: %r" % (exc,))
        if isinstance(body, str):
            payload, ctype = body.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            payload, ctype = json.dumps(body).encode("utf-8"), "application/json"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _respond
    do_POST = _respond
    do_PUT = _respond
    do_PATCH = _respond
    do_DELETE = _respond

    def log_message(self, *args):  # keep pytest output clean
        pass
