# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pod Security Admission labels per namespace, from the inventory: validate, plan, render.

Private module_utils (leading underscore): the API may change between minor releases.

The built-in PodSecurity admission controller reads the labels
``pod-security.kubernetes.io/<mode>: <level>`` and ``pod-security.kubernetes.io/<mode>-version: <version>`` of each
namespace (modes enforce, warn, audit; levels privileged, baseline, restricted; version ``latest`` or ``v1.<minor>``;
https://kubernetes.io/docs/concepts/security/pod-security-admission/). kubesec owns every
``pod-security.kubernetes.io/`` label of the namespaces the inventory lists: on, it sets the ones given and removes
the others; off, it removes them all. Other labels are never touched.

Public: ``desired(namespaces, version)``, ``plan(current, wanted, state)``, ``render(changes, wanted, state)``.
Standard library only.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "warn", "audit")
LEVELS = ("privileged", "baseline", "restricted")
_VERSION = re.compile(r"^(latest|v1\.[0-9]{1,2})$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
NAMESPACE_KEYS = (*MODES, "version")


class PsaConfigError(KubesecError, ValueError):
    """The inventory's Pod Security settings are wrong (the message names the namespace and the key)."""


def _version(value: Any, where: str) -> str:
    text = str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    if not _VERSION.match(text):
        raise PsaConfigError("%s must be 'latest' or a Kubernetes minor such as v1.33, got %r" % (where, value))
    return text


def desired(namespaces: Any, version: Any = "latest") -> Dict[str, Dict[str, str]]:
    """{namespace: {label: value}} for the inventory's ``namespaces`` ({name: {enforce, warn, audit, version}})."""
    if not isinstance(namespaces, dict):
        raise PsaConfigError("namespaces must be a mapping {namespace: {enforce: baseline, warn: restricted, ...}}, got %s" % type(namespaces).__name__)
    default_version = _version(version, "version")
    out: Dict[str, Dict[str, str]] = {}
    for name, levels in sorted(namespaces.items(), key=lambda item: str(item[0])):
        if not isinstance(name, str) or not _NAME.match(name):
            raise PsaConfigError("namespaces: %r is not a namespace name (DNS-1123 label)" % (name,))
        where = "namespaces.%s" % name
        if not isinstance(levels, dict) or not levels:
            raise PsaConfigError("%s must be a mapping with at least one of %s, got %r" % (where, ", ".join(MODES), levels))
        unknown = sorted(str(key) for key in levels if key not in NAMESPACE_KEYS)
        if unknown:
            raise PsaConfigError("%s: unknown key(s) %s; expected %s" % (where, ", ".join(unknown), ", ".join(NAMESPACE_KEYS)))
        ns_version = _version(levels.get("version", default_version), where + ".version")
        labels: Dict[str, str] = {}
        for mode in MODES:
            if mode not in levels:
                continue
            level = levels[mode]
            if level not in LEVELS:
                raise PsaConfigError("%s.%s must be one of %s, got %r" % (where, mode, ", ".join(LEVELS), level))
            labels[PREFIX + mode] = level
            labels[PREFIX + mode + "-version"] = ns_version
        if not labels:
            raise PsaConfigError("%s sets only a version: give enforce, warn or audit" % where)
        out[name] = labels
    return out


def _psa_labels(labels: Any) -> Dict[str, str]:
    return {str(k): str(v) for k, v in (labels or {}).items() if str(k).startswith(PREFIX)} if isinstance(labels, dict) else {}


def plan(current: Dict[str, Optional[Dict[str, Any]]], wanted: Dict[str, Dict[str, str]], state: str) -> List[Dict[str, Any]]:
    """Changes per namespace: {namespace, before, after (the pod-security labels), patch (JSON merge patch)}.
    `current` maps each listed namespace to its labels as the cluster has them (None: the namespace is missing)."""
    if state not in ("present", "absent"):
        raise PsaConfigError("state must be present or absent, got %r" % (state,))
    missing = sorted(name for name in wanted if current.get(name) is None and name in current)
    if missing and state == "present":
        raise PsaConfigError("namespace(s) %s listed in the Pod Security settings do not exist in the cluster" % ", ".join(missing))
    changes = []
    for name in sorted(wanted):
        if current.get(name) is None:
            continue
        before = _psa_labels(current[name])
        after = dict(wanted[name]) if state == "present" else {}
        if before == after:
            continue
        patch: Dict[str, Optional[str]] = {key: None for key in before if key not in after}
        patch.update({key: value for key, value in after.items() if before.get(key) != value})
        changes.append({"namespace": name, "before": before, "after": after, "patch": {"metadata": {"labels": patch}}})
    return changes


def _quote(text: str) -> str:
    return "'%s'" % text.replace("'", "'\\''")


def render(wanted: Dict[str, Dict[str, str]], state: str) -> Dict[str, str]:
    """Files for render-only mode: {file name: content}. ``namespace-labels.yaml`` (present: Namespace objects with
    their labels, for kubectl apply or Argo CD) and ``kubectl-label.sh`` (the exact label commands, on or off)."""
    commands = [
        "#!/bin/sh",
        "# Pod Security Admission labels, written by kubesec (pod_security_admission role).",
        "# state: %s. Run with the cluster's kubeconfig; --overwrite replaces a level set by hand." % state,
        "set -eu",
    ]
    docs = []
    for name in sorted(wanted):
        if state == "present":
            pairs = " ".join(_quote("%s=%s" % item) for item in sorted(wanted[name].items()))
            commands.append("kubectl label --overwrite namespace %s %s" % (name, pairs))
            docs.append(json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": wanted[name]}}, indent=2, sort_keys=True))
        else:
            keys = " ".join("%s%s-" % (PREFIX, suffix) for mode in MODES for suffix in (mode, mode + "-version"))
            commands.append("kubectl label namespace %s %s" % (name, keys))
    files = {"kubectl-label.sh": "\n".join(commands) + "\n"}
    if state == "present":
        # JSON documents are YAML too; one per namespace, separated as kubectl expects.
        files["namespace-labels.yaml"] = "".join("---\n%s\n" % doc for doc in docs)
    return files
