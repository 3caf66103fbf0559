# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is an input object a valid Kubernetes object of a kind the workload rules read? (issue 14)

Private module_utils (leading underscore): the API may change between minor releases.

``workload_audit`` runs wherever Ansible puts it (usually the controller, but nothing makes it so) and module_utils
take only the standard library, so this is a structural check of the parts of the API's shapes the rules read,
not a full schema validation. The unit tests check every shape refused here against the real OpenAPI schemas
(kubernetes-validate).

``check_object(obj)`` -> ``(problems, readable)``
    ``problems``: ``[(field, why)]`` for an object whose kind the rules read (pod controllers, Service, Ingress,
    NetworkPolicy, Namespace, ServiceAccount, RBAC); ``[]`` for a valid object and for kinds the rules do not
    read (ConfigMaps, custom resources: a ``Deployment`` in ``apps.example.com`` is somebody's CRD).
    ``readable`` is False when the rules cannot read the object at all (a kind in an API version that does not
    serve it, a pod spec that is not a mapping): it is then reported and not evaluated. Otherwise the object is
    evaluated as well as reported, so one missing selector does not hide its findings.
"""

from __future__ import annotations

from typing import Any, Optional

# kind -> the apiVersions that serve it. The removed betas are kept: their objects read the same, and a cluster
# that old still serves them; anything else in a Kubernetes API group is not that kind.
_APPS_BETA = ("apps/v1beta2", "extensions/v1beta1")
SERVED = {
    "Pod": ("v1",),
    "PodTemplate": ("v1",),
    "ReplicationController": ("v1",),
    "Service": ("v1",),
    "Namespace": ("v1",),
    "ServiceAccount": ("v1",),
    "Deployment": ("apps/v1", "apps/v1beta1", *_APPS_BETA),
    "ReplicaSet": ("apps/v1", *_APPS_BETA),
    "DaemonSet": ("apps/v1", *_APPS_BETA),
    "StatefulSet": ("apps/v1", "apps/v1beta1", "apps/v1beta2"),
    "Job": ("batch/v1",),
    "CronJob": ("batch/v1", "batch/v1beta1", "batch/v2alpha1"),
    "Ingress": ("networking.k8s.io/v1", "networking.k8s.io/v1beta1", "extensions/v1beta1"),
    "NetworkPolicy": ("networking.k8s.io/v1", "extensions/v1beta1"),
}
for _kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
    SERVED[_kind] = ("rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1beta1", "rbac.authorization.k8s.io/v1alpha1")

# API groups Kubernetes itself serves (a kind of ours in one of them, in the wrong version or group, is a mistake;
# in any other group it is a custom resource that happens to share the name).
KUBERNETES_GROUPS = frozenset(
    [
        "",
        "apps",
        "batch",
        "extensions",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "policy",
        "autoscaling",
        "storage.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "node.k8s.io",
        "scheduling.k8s.io",
        "resource.k8s.io",
        "internal.apiserver.k8s.io",
        "storagemigration.k8s.io",
    ]
)

# kind -> path of the pod template's spec, and whether apps/v1 requires spec.selector
_POD_SPEC = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_TEMPLATE_KINDS = ("ReplicationController", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job")
_SELECTOR_REQUIRED = ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet")
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def _not_a(field: str, value: Any, wanted: str) -> str:
    if value is None:
        return "%s is missing" % field
    return "%s is %s, not %s" % (field, _type_name(value), wanted)


def _type_name(value: Any) -> str:
    if value is None:
        return "missing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _pod_spec_path(kind: Any) -> Optional[tuple[str, ...]]:
    if kind in _POD_SPEC:
        return _POD_SPEC[kind]
    if kind in _TEMPLATE_KINDS:
        return ("spec", "template", "spec")
    return None


def check_object(obj: dict[str, Any]) -> tuple[list[tuple[str, str]], bool]:
    """([(field, why)], readable) for one input object; see the module docstring."""
    kind = obj.get("kind")
    if kind not in SERVED:
        return [], True
    problems = []
    api_version = obj.get("apiVersion")
    if not isinstance(api_version, str) or not api_version.strip():
        problems.append(("apiVersion", "no apiVersion (%s is served in %s)" % (kind, SERVED[kind][0])))
    elif api_version not in SERVED[kind]:
        if _group(api_version) not in KUBERNETES_GROUPS:
            return [], True  # a custom resource of another group: not ours to judge
        return [("apiVersion", "%s is not served in apiVersion %s (Kubernetes serves it in %s)" % (kind, api_version, SERVED[kind][0]))], False
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        problems.append(("metadata", _not_a("metadata", meta, "a mapping")))
    elif not any(isinstance(meta.get(key), str) and meta.get(key) for key in ("name", "generateName")):
        problems.append(("metadata.name", "no metadata.name"))
    path = _pod_spec_path(kind)
    if path is None:
        return problems, True
    node: Any = obj
    walked: list[str] = []
    for key in path:
        walked.append(key)
        node = node.get(key)
        if not isinstance(node, dict):
            problems.append((".".join(walked), "%s: there is no pod spec to check" % _not_a(".".join(walked), node, "a mapping")))
            return problems, False
        if walked == ["spec"] and kind == "CronJob" and not isinstance(node.get("schedule"), str):
            problems.append(("spec.schedule", "a CronJob needs spec.schedule (a string)"))
        if walked == ["spec"] and kind in _SELECTOR_REQUIRED and api_version == "apps/v1" and not isinstance(node.get("selector"), dict):
            problems.append(("spec.selector", "apps/v1 %s needs spec.selector (a mapping)" % kind))
    spec_path = ".".join(path)
    containers = node.get("containers")
    # the OpenAPI schema only requires the key; the API server's validation also refuses an empty list
    # ("spec.containers: Required value")
    if containers == []:
        problems.append((spec_path + ".containers", "%s.containers is empty: a pod needs at least one container" % spec_path))
    elif not isinstance(containers, list):
        problems.append((spec_path + ".containers", "%s: a pod needs a list of containers" % _not_a(spec_path + ".containers", containers, "a list")))
    for list_name in _CONTAINER_LISTS:
        items = node.get(list_name)
        if items is None or (list_name == "containers" and not isinstance(items, list)):
            continue
        field = "%s.%s" % (spec_path, list_name)
        if not isinstance(items, list):
            problems.append((field, _not_a(field, items, "a list")))
            continue
        for index, container in enumerate(items):
            where = "%s[%d]" % (field, index)
            if not isinstance(container, dict):
                problems.append((where, _not_a(where, container, "a container (a mapping)")))
            elif not isinstance(container.get("name"), str) or not container.get("name"):
                problems.append((where + ".name", "%s has no name" % where))
    volumes = node.get("volumes")
    if volumes is not None and not isinstance(volumes, list):
        problems.append((spec_path + ".volumes", _not_a(spec_path + ".volumes", volumes, "a list")))
    return problems, True
