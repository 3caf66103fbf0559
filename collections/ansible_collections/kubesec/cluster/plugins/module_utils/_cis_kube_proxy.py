# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kube-proxy configuration of a kubeadm cluster, for CIS 4.3.1 when kube-proxy is not on the node.

kubeadm runs kube-proxy as a DaemonSet; its KubeProxyConfiguration is the `config.conf` key of the ConfigMap
kube-system/kube-proxy. This reads it from an export (`kubectl -n kube-system get configmap kube-proxy -o yaml`,
or any YAML/JSON file or List holding it) or from the API, and returns what `_cis.audit_node` takes as
`cluster_configs["kube-proxy"]`:

- `{"source": text, "config": {...}}`: the parsed KubeProxyConfiguration;
- `{"source": text, "error": text}`: the ConfigMap exists but its config cannot be used (names what and where);
- `{"source": text, "absent": text}`: the API says there is no such ConfigMap (no kube-proxy in the cluster);
- `{"source": text, "unavailable": text}`: the API could not be asked (unreachable, forbidden).

Runs on the controller (action plugin); stdlib + PyYAML, the API through _kube.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils import _kube

from ansible_collections.kubesec.cluster.plugins.module_utils._safeyaml import yaml

NAMESPACE = "kube-system"
NAME = "kube-proxy"
KEY = "config.conf"
KIND = "KubeProxyConfiguration"
MAX_EXPORT_BYTES = 32 * 1024 * 1024
LIST_KINDS = ("List", "ConfigMapList")
API_TIMEOUT = 15  # seconds: one GET per audited node; an unreachable API must not hold up a fleet audit


class KubeProxyInputError(KubesecError, ValueError):
    """An export file cannot be read or holds no usable kube-proxy ConfigMap (names the file)."""


def _where(origin: str) -> str:
    return "ConfigMap %s/%s (key %s) from %s" % (NAMESPACE, NAME, KEY, origin)


def from_configmap(obj: Any, origin: str) -> Dict[str, Any]:
    """A ConfigMap object -> {source, config} or {source, error}."""
    source = _where(origin)
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, dict) or KEY not in data:
        keys = ", ".join(sorted(str(k) for k in data)) if isinstance(data, dict) else "none"
        return {"source": source, "error": "%s has no data key %s (keys: %s)" % (source, KEY, keys)}
    try:
        config = yaml.safe_load(str(data[KEY]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = " (line %d)" % (mark.line + 1) if mark else ""
        problem = getattr(exc, "problem", None) or exc
        return {"source": source, "error": "%s is not valid YAML%s: %s" % (source, line, problem)}
    if not isinstance(config, dict) or config.get("kind") != KIND:
        found = config.get("kind") if isinstance(config, dict) else type(config).__name__
        return {"source": source, "error": "%s is not a %s (found %r)" % (source, KIND, found)}
    return {"source": source, "config": config}


def _is_kube_proxy_configmap(obj: Dict[str, Any]) -> bool:
    meta: Dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    return obj.get("kind") == "ConfigMap" and meta.get("name") == NAME and meta.get("namespace", NAMESPACE) == NAMESPACE


def find_configmap(documents: Iterable[Any], origin: str) -> Dict[str, Any]:
    """The kube-proxy ConfigMap among parsed documents (objects or Lists) -> {source, config|error}."""
    seen: List[str] = []
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        items: List[Any] = doc["items"] if doc.get("kind") in LIST_KINDS and isinstance(doc.get("items"), list) else [doc]
        for item in items:
            if not isinstance(item, dict):
                continue
            if _is_kube_proxy_configmap(item):
                return from_configmap(item, origin)
            meta: Dict[str, Any] = item["metadata"] if isinstance(item.get("metadata"), dict) else {}
            seen.append("%s %s/%s" % (item.get("kind"), meta.get("namespace", "-"), meta.get("name")))
    shown = ", ".join(seen[:10]) + (" and %d more" % (len(seen) - 10) if len(seen) > 10 else "")
    raise KubeProxyInputError("%s holds no ConfigMap %s/%s (found: %s)" % (origin, NAMESPACE, NAME, shown or "nothing"))


def from_export(path: str) -> Dict[str, Any]:
    """An export file on the controller -> {source, config|error}; KubeProxyInputError when not usable."""
    if not os.path.isfile(path):
        raise KubeProxyInputError("kube-proxy ConfigMap export %s does not exist" % path)
    if os.path.getsize(path) > MAX_EXPORT_BYTES:
        raise KubeProxyInputError("kube-proxy ConfigMap export %s is larger than %d MiB" % (path, MAX_EXPORT_BYTES // (1024 * 1024)))
    try:
        with open(path, "r") as handle:
            documents = list(yaml.safe_load_all(handle))
    except (IOError, OSError, UnicodeDecodeError) as exc:
        raise KubeProxyInputError("cannot read kube-proxy ConfigMap export %s: %s" % (path, exc)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = " (line %d)" % (mark.line + 1) if mark else ""
        raise KubeProxyInputError(
            "kube-proxy ConfigMap export %s is not valid YAML or JSON%s: %s" % (path, line, getattr(exc, "problem", None) or exc)
        ) from exc
    return find_configmap(documents, path)


def from_api(client: Any) -> Dict[str, Any]:
    """Read the ConfigMap from the API -> {source, config|error|absent|unavailable}."""
    origin = "the API (%s)" % (getattr(client, "kubesec_origin", None) or "cluster")
    try:
        obj = _kube.get_object(client, "v1", "configmaps", NAME, namespace=NAMESPACE, timeout=API_TIMEOUT)
    except _kube.KubeNotFoundError:
        return {
            "source": _where(origin),
            "absent": "no ConfigMap %s/%s in the cluster and no kube-proxy unit or config file on the node: "
            "the cluster runs without kube-proxy (e.g. a CNI replaces it)" % (NAMESPACE, NAME),
        }
    except _kube.KubeApiError as exc:
        return {"source": _where(origin), "unavailable": "cannot read the %s/%s ConfigMap from %s: %s" % (NAMESPACE, NAME, origin, exc)}
    return from_configmap(obj, origin)
