# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers for the feature roles: validation, deep merge, Argo CD Application, file rendering.

Private module_utils (leading underscore): the API may change between minor releases.
Standard library only (PyYAML is used for nicer files when importable, JSON otherwise: JSON is valid YAML).

GitOps choice: one Argo CD ``Application`` (argoproj.io/v1alpha1) per feature and cluster. It is a single
self-contained object (chart repository, chart, version, release name, values inline in
``spec.source.helm.valuesObject``), so "ready to commit" means committing one file. A Flux ``HelmRelease``
would also need a ``HelmRepository`` object beside it.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any, Dict, Iterable, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils import _parsing
from ansible_collections.kubesec.cluster.plugins.module_utils._safeyaml import HAS_YAML, yaml

if HAS_YAML:

    class _NoAliasDumper(yaml.SafeDumper):
        """Never write anchors/aliases: rendered files are read by people and by GitOps tools."""

        def ignore_aliases(self, data: Any) -> bool:
            return True


DNS1123_LABEL = _parsing.DNS1123_LABEL
DNS1123_SUBDOMAIN = _parsing.DNS1123_SUBDOMAIN
is_dns1123_label = _parsing.is_dns1123_label
MANAGED_BY = "kubesec"
ARGOCD_FINALIZER = "resources-finalizer.argocd.argoproj.io"
# Destination: the cluster as registered in Argo CD under its kubesec name (never Argo's own cluster by accident);
# sync is manual until a team switches it on (a render is reviewed before it prunes anything).
DEFAULT_GITOPS = {
    "namespace": "argocd",
    "project": "default",
    "destination_server": "",
    "destination_name": "",
    "automated": False,
}


class FeatureError(KubesecError, ValueError):
    """A feature setting is invalid; the message names the field and what was expected."""


def require_label(value: Any, field: str) -> str:
    if not is_dns1123_label(value):
        raise FeatureError(
            "%s: %r is not a valid Kubernetes name (DNS-1123 label: lower-case letters, digits "
            "and '-', starting and ending with a letter or digit, at most 63 characters)" % (field, value)
        )
    return value


def require_bool(value: Any, field: str, default: Optional[bool] = None) -> bool:
    if value is None:
        if default is None:
            raise FeatureError("%s: a boolean (true/false) is required" % field)
        return default
    if isinstance(value, bool):
        return value
    raise FeatureError("%s: expected a boolean (true/false), got %r" % (field, value))


def require_text(value: Any, field: str, default: Optional[str] = None, allow_empty: bool = False) -> str:
    if isinstance(value, str) and not value.strip() and default is not None:
        value = None  # an empty setting means "use the default"
    if value is None:
        if default is None and not allow_empty:
            raise FeatureError("%s: a value is required" % field)
        return default if default is not None else ""
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        raise FeatureError("%s: expected text, got %s" % (field, type(value).__name__))
    text = str(value).strip()
    if not text and not allow_empty:
        raise FeatureError("%s: must not be empty" % field)
    if "\n" in text or "\r" in text:
        raise FeatureError("%s: must be a single line" % field)
    return text


def require_dict(value: Any, field: str) -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FeatureError("%s: expected a mapping, got %s" % (field, type(value).__name__))
    return value


def reject_unknown(mapping: Iterable[str], allowed: Iterable[str], field: str) -> None:
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise FeatureError("%s: unknown key(s) %s (allowed: %s)" % (field, ", ".join(repr(k) for k in unknown), ", ".join(sorted(allowed))))


def deep_merge(base: Dict[str, Any], override: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Return a new dict: ``override`` merged into ``base`` recursively (override wins, lists replaced)."""
    result = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def standard_labels(cluster: str, feature: str) -> Dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "kubesec.io/cluster": cluster,
        "kubesec.io/feature": feature,
    }


def normalize_gitops(gitops: Any, cluster: Optional[str] = None) -> Dict[str, Any]:
    """Fill in the defaults; with neither destination set, the destination is the Argo CD cluster named ``cluster``."""
    gitops = require_dict(gitops, "gitops")
    reject_unknown(gitops, DEFAULT_GITOPS, "gitops")
    result = dict(DEFAULT_GITOPS)
    result.update({k: v for k, v in gitops.items() if v is not None})
    require_label(result["namespace"], "gitops.namespace")
    require_text(result["project"], "gitops.project")
    result["automated"] = require_bool(result["automated"], "gitops.automated")
    if result["destination_name"] and result["destination_server"]:
        raise FeatureError("gitops: set destination_server or destination_name, not both")
    if not result["destination_name"] and not result["destination_server"]:
        if not cluster:
            raise FeatureError("gitops: set destination_server or destination_name")
        result["destination_name"] = cluster
    return result


def argocd_application(
    name: str,
    cluster: str,
    feature: str,
    repo_url: str,
    chart: str,
    version: str,
    release_name: str,
    namespace: str,
    values: Dict[str, Any],
    gitops: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """The Argo CD Application that installs ``chart`` with ``values`` (dict) into ``namespace``."""
    gitops = normalize_gitops(gitops, cluster)
    if not _parsing.is_dns1123_subdomain(name):
        raise FeatureError("Application name %r is not a DNS-1123 subdomain" % name)
    destination = {"namespace": namespace}
    if gitops["destination_name"]:
        destination["name"] = gitops["destination_name"]
    else:
        destination["server"] = gitops["destination_server"]
    sync_policy: Dict[str, Any] = {"syncOptions": ["CreateNamespace=true", "ServerSideApply=true"]}
    if gitops["automated"]:
        sync_policy["automated"] = {"prune": True, "selfHeal": True}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": gitops["namespace"],
            "labels": standard_labels(cluster, feature),
            "finalizers": [ARGOCD_FINALIZER],
        },
        "spec": {
            "project": gitops["project"],
            "source": {
                "repoURL": repo_url,
                "chart": chart,
                "targetRevision": version,
                "helm": {"releaseName": release_name, "valuesObject": copy.deepcopy(values)},
            },
            "destination": destination,
            "syncPolicy": sync_policy,
        },
    }


# JSON Schema for the parts of an Argo CD Application we write. kubernetes-validate has no CRD schemas, so the
# tests validate our Applications with this (and the Secrets / NetworkPolicies with kubernetes-validate).
ARGOCD_APPLICATION_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "argoproj.io/v1alpha1"},
        "kind": {"const": "Application"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {
                "name": {"type": "string", "pattern": DNS1123_SUBDOMAIN.pattern, "maxLength": 253},
                "namespace": {"type": "string", "pattern": DNS1123_LABEL.pattern, "maxLength": 63},
                "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}},
                "finalizers": {"type": "array", "items": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["project", "source", "destination"],
            "additionalProperties": False,
            "properties": {
                "project": {"type": "string", "minLength": 1},
                "source": {
                    "type": "object",
                    "required": ["repoURL", "chart", "targetRevision"],
                    "additionalProperties": False,
                    "properties": {
                        "repoURL": {"type": "string", "minLength": 1},
                        "chart": {"type": "string", "minLength": 1},
                        "targetRevision": {"type": "string", "minLength": 1},
                        "helm": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "releaseName": {"type": "string", "pattern": DNS1123_LABEL.pattern},
                                "valuesObject": {"type": "object"},
                            },
                        },
                    },
                },
                "destination": {
                    "type": "object",
                    "required": ["namespace"],
                    "additionalProperties": False,
                    "properties": {
                        "server": {"type": "string", "minLength": 1},
                        "name": {"type": "string", "minLength": 1},
                        "namespace": {"type": "string", "pattern": DNS1123_LABEL.pattern},
                    },
                    "oneOf": [{"required": ["server"]}, {"required": ["name"]}],
                },
                "syncPolicy": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "automated": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"prune": {"type": "boolean"}, "selfHeal": {"type": "boolean"}},
                        },
                        "syncOptions": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z]+=.+$"}},
                    },
                },
            },
        },
    },
}


def secret_manifest(name: str, namespace: str, labels: Dict[str, str], string_data: Dict[str, Any]) -> Dict[str, Any]:
    """A Kubernetes Secret (``data`` base64, so that re-applying it is idempotent)."""
    data = {}
    for key in sorted(string_data):
        data[key] = base64.b64encode(str(string_data[key]).encode("utf-8")).decode("ascii")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "type": "Opaque",
        "data": data,
    }


def placeholder(source: str) -> str:
    """The text standing in for a secret value in a rendered Secret manifest (see placeholder_secret)."""
    return "FILL-IN(%s)" % source


def placeholder_secret(ref: Dict[str, Any], sources: Dict[str, str]) -> Dict[str, Any]:
    """A real Secret manifest for a secret reference with each secret key set to ``FILL-IN(<inventory variable>)``.

    Non-secret keys carry their values. The annotation ``kubesec.io/fill-in`` lists the keys still to fill, so that
    a pipeline can refuse to apply the file before every placeholder is replaced (``grep -q FILL-IN``).
    """
    string_data = {key: str(value) for key, value in ref["data"].items()}
    for key, source in ref["secret_keys"].items():
        string_data[key] = placeholder(sources[source])
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": ref["name"],
            "namespace": ref["namespace"],
            "labels": dict(ref["labels"]),
            "annotations": {"kubesec.io/fill-in": ",".join(sorted(ref["secret_keys"]))},
        },
        "type": "Opaque",
        "stringData": string_data,
    }


def fill_secret(ref: Dict[str, Any], secret_values: Dict[str, Any]) -> Dict[str, Any]:
    """Build the full Secret manifest from a secret reference (as returned by the builders) and the values.

    ``secret_values`` maps a source name (``ui_user``, ``telegram_token``, ``email_password``) to its value.
    The roles do the same in Jinja (``no_log``) right before ``kubernetes.core.k8s``.
    """
    string_data = dict(ref["data"])
    for key, source in ref["secret_keys"].items():
        if source not in secret_values or secret_values[source] in (None, ""):
            raise FeatureError("secret %s/%s: value for key %s (source %r) is missing" % (ref["namespace"], ref["name"], key, source))
        string_data[key] = secret_values[source]
    return secret_manifest(ref["name"], ref["namespace"], ref["labels"], string_data)


def dump_yaml(data: Any, header: Optional[str] = None) -> str:
    """Deterministic YAML text (sorted keys) with an optional comment header."""
    if HAS_YAML:
        body = yaml.dump(data, Dumper=_NoAliasDumper, default_flow_style=False, sort_keys=True, allow_unicode=True, width=120)
    else:  # pragma: no cover
        body = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    lines = []
    for line in (header or "").splitlines():
        lines.append(("# " + line).rstrip())
    return "\n".join(lines) + ("\n" if lines else "") + "---\n" + body
