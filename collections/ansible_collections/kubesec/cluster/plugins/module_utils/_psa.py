# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pod Security Admission labels per namespace, from the inventory (the built-in admission controller).

Private module_utils (leading underscore): the API may change between minor releases.

``namespace_patches(config)`` validates ``kubesec_pod_security_labels`` and returns one Namespace merge patch per
listed namespace, setting ``pod-security.kubernetes.io/<mode>`` and ``<mode>-version`` for the modes given
(enforce, warn, audit) and removing (``null``) the ones not given; ``state: absent`` removes all six labels, so
switching the feature off is a patch too. Errors name the namespace and the key. Standard library only.

Config::

    {"state": "present", "defaults": {"enforce": "baseline", "warn": "restricted", "audit": "restricted",
     "version": "latest"}, "namespaces": {"shop": {}, "payments": {"enforce": "restricted"},
     "legacy": {"state": "absent"}}}
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

LEVELS = ("privileged", "baseline", "restricted")
MODES = ("enforce", "warn", "audit")
STATES = ("present", "absent")
LABEL_PREFIX = "pod-security.kubernetes.io/"
KEYS = ("state", "version", *MODES)
_VERSION_RE = re.compile(r"^(latest|v1\.(0|[1-9][0-9]?))$")
_NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class PodSecurityLabelError(KubesecError, ValueError):
    """The pod security label settings are wrong (the message names the namespace and the key)."""


def label_keys() -> list[str]:
    """The six labels Pod Security Admission reads."""
    return [LABEL_PREFIX + mode + suffix for mode in MODES for suffix in ("", "-version")]


def _settings(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PodSecurityLabelError("%s must be a mapping with keys %s, got %s"
                                    % (where, ", ".join(KEYS), type(value).__name__))
    unknown = sorted(str(key) for key in value if key not in KEYS)
    if unknown:
        raise PodSecurityLabelError("%s: unknown key(s) %s; expected %s" % (where, ", ".join(unknown), ", ".join(KEYS)))
    for mode in MODES:
        if value.get(mode) is not None and value[mode] not in LEVELS:
            raise PodSecurityLabelError("%s.%s must be one of %s, got %r" % (where, mode, ", ".join(LEVELS),
                                                                           value[mode]))
    version = value.get("version")
    if version is not None and not (isinstance(version, str) and _VERSION_RE.match(version)):
        raise PodSecurityLabelError("%s.version must be latest or a Kubernetes minor such as v1.33, got %r"
                                    % (where, version))
    if value.get("state") is not None and value["state"] not in STATES:
        raise PodSecurityLabelError("%s.state must be present or absent, got %r" % (where, value["state"]))
    return dict(value)


def namespace_labels(config: Any) -> dict[str, dict[str, Optional[str]]]:
    """Namespace -> the six Pod Security Admission labels (a value, or None to remove it)."""
    if config is None or config == {}:
        return {}
    if not isinstance(config, dict) or set(config) - {"state", "defaults", "namespaces"}:
        raise PodSecurityLabelError("pod_security_labels must be a mapping with keys state, defaults, namespaces, "
                                    "got %r" % (sorted(config) if isinstance(config, dict) else type(config).__name__))
    top = _settings({"state": config.get("state")}, "pod_security_labels")
    defaults = _settings(config.get("defaults"), "pod_security_labels.defaults")
    namespaces = config.get("namespaces") or {}
    if not isinstance(namespaces, dict):
        raise PodSecurityLabelError("pod_security_labels.namespaces must be a mapping of namespace names to "
                                    "settings, got %s" % type(namespaces).__name__)
    out: dict[str, dict[str, Optional[str]]] = {}
    for name in sorted(namespaces, key=str):
        where = "pod_security_labels.namespaces.%s" % name
        if not isinstance(name, str) or not _NAMESPACE_RE.match(name):
            raise PodSecurityLabelError("%s: %r is not a namespace name (DNS-1123 label)" % (where, name))
        merged = dict(defaults)
        merged.update({key: value for key, value in _settings(namespaces[name], where).items() if value is not None})
        state = merged.get("state") or top.get("state") or "present"
        labels: dict[str, Optional[str]] = {}
        for mode in MODES:
            level = merged.get(mode) if state == "present" else None
            labels[LABEL_PREFIX + mode] = level
            labels[LABEL_PREFIX + mode + "-version"] = (merged.get("version") or "latest") if level else None
        out[name] = labels
    return out


def namespace_patches(config: Any) -> list[dict[str, Any]]:
    """One Namespace merge patch per listed namespace (kubernetes.core.k8s state: patched)."""
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
            for name, labels in namespace_labels(config).items()]
