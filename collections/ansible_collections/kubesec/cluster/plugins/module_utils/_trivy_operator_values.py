# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``kubesec_trivy_operator`` -> values of the official ``aqua/trivy-operator`` Helm chart (0.34.x).

Private module_utils (leading underscore): the API may change between minor releases.
Standard library only. Chart keys: deploy/helm/values.yaml (targetNamespaces, excludeNamespaces,
operator.scannerReportTTL, operator.*ScannerEnabled, trivy.db*, policiesBundle.*, global.image.registry).
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils import _parsing
from ansible_collections.kubesec.cluster.plugins.module_utils._gitops import (
    FeatureError,
    deep_merge,
    reject_unknown,
    require_bool,
    require_dict,
    require_label,
    require_text,
)

CHART = {"repo_url": "https://aquasecurity.github.io/helm-charts/", "chart": "trivy-operator", "version": "0.34.0"}
DEFAULT_RELEASE = "trivy-operator"
DEFAULT_NAMESPACE = "trivy-system"
DEFAULT_TTL = "30m"
MIN_TTL_SECONDS = 60
# scanner key in kubesec_trivy_operator.scanners -> chart switch under operator.
SCANNERS = (
    ("vulnerability", "vulnerabilityScannerEnabled"),
    ("config_audit", "configAuditScannerEnabled"),
    ("rbac", "rbacAssessmentScannerEnabled"),
    ("infra", "infraAssessmentScannerEnabled"),
    ("exposed_secrets", "exposedSecretScannerEnabled"),
)
TRIVY_KEYS = ("enabled", "namespaces", "exclude_namespaces", "report_ttl", "scanners", "offline")
OFFLINE_KEYS = (
    "enabled",
    "db_repository",
    "java_db_repository",
    "checks_bundle_repository",
    "image_registry",
    "insecure",
    "offline_scan",
    "skip_java_db_update",
)

_GLOB = re.compile(r"^[a-z0-9*?]([-a-z0-9*?]*[a-z0-9*?])?$")
_REGISTRY = re.compile(r"^(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|[A-Za-z0-9.-]+:\d+)(:\d+)?$")
_REPO_PATH = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def parse_ttl(value: Any, field: str = "kubesec_trivy_operator.report_ttl") -> Tuple[str, float]:
    """Validate a Go duration ('30m', '1h30m', '24h') and return (text, seconds)."""
    if isinstance(value, str) and not value.strip():
        raise FeatureError("%s: is empty; give a duration such as 30m (an empty TTL would keep reports forever)" % field)
    text = require_text(value, field, default=DEFAULT_TTL)
    seconds: Optional[float] = None
    try:  # the operator parses scannerReportTTL with Go's time.ParseDuration
        seconds = _parsing.duration_seconds(text, _parsing.GO)
    except ValueError:
        pass
    if seconds is None or text.startswith(("+", "-")):
        raise FeatureError("%s: %r is not a duration such as 30m, 1h30m or 24h (units ns, us, ms, s, m, h; no spaces, no days, no sign)" % (field, text))
    if seconds < MIN_TTL_SECONDS:
        raise FeatureError("%s: %r is shorter than 1m; reports would expire before scans finish" % (field, text))
    return text, seconds


def _namespace_list(value: Any, field: str, allow_glob: bool = False) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise FeatureError("%s: expected a list of namespace names, got %s" % (field, type(value).__name__))
    result = []
    for index, item in enumerate(value):
        name = "%s[%d]" % (field, index)
        if not isinstance(item, str):
            raise FeatureError("%s: expected a namespace name, got %r" % (name, item))
        if allow_glob and ("*" in item or "?" in item):
            if len(item) > 63 or not _GLOB.match(item):
                raise FeatureError("%s: %r is not a namespace name or glob (lower-case letters, digits, '-', '*', '?')" % (name, item))
        else:
            require_label(item, name)
        if item not in result:
            result.append(item)
    return result


def split_reference(value: Any, field: str, allow_tag: bool = False) -> Tuple[str, str, Optional[str]]:
    """'registry.local:5000/aquasec/trivy-db[:tag]' -> (registry, repository, tag)."""
    text = require_text(value, field)
    if "@" in text or "://" in text:
        raise FeatureError("%s: %r: give registry/repository without scheme or digest" % (field, text))
    registry, _sep, rest = text.partition("/")
    if not rest or not _REGISTRY.match(registry):
        raise FeatureError("%s: %r must start with the registry host (e.g. registry.local:5000/aquasec/trivy-db)" % (field, text))
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, _sep, tag = rest.rpartition(":")
        if not allow_tag:
            raise FeatureError("%s: %r: no tag here (Trivy picks the DB schema tag itself)" % (field, text))
        if not _TAG.match(tag):
            raise FeatureError("%s: %r: invalid tag %r" % (field, text, tag))
    if not _REPO_PATH.match(rest):
        raise FeatureError("%s: %r: invalid repository path %r" % (field, text, rest))
    return registry, rest, tag


def normalize(config: Any) -> Tuple[Dict[str, Any], List[str]]:
    """Validate ``kubesec_trivy_operator`` and fill in the defaults. Returns (settings, warnings)."""
    config = require_dict(config, "kubesec_trivy_operator")
    reject_unknown(config, TRIVY_KEYS, "kubesec_trivy_operator")
    warnings = []
    scanners_in = require_dict(config.get("scanners"), "kubesec_trivy_operator.scanners")
    reject_unknown(scanners_in, [key for key, _chart_key in SCANNERS], "kubesec_trivy_operator.scanners")
    offline_in = require_dict(config.get("offline"), "kubesec_trivy_operator.offline")
    reject_unknown(offline_in, OFFLINE_KEYS, "kubesec_trivy_operator.offline")

    namespaces = config.get("namespaces", "all")
    if namespaces is None or namespaces == "all":
        namespaces = "all"
    else:
        namespaces = _namespace_list(namespaces, "kubesec_trivy_operator.namespaces")
        if not namespaces:
            raise FeatureError("kubesec_trivy_operator.namespaces: give 'all' or at least one namespace")
    exclude = _namespace_list(config.get("exclude_namespaces"), "kubesec_trivy_operator.exclude_namespaces", allow_glob=True)
    if exclude and namespaces != "all":
        warnings.append(
            "kubesec_trivy_operator.exclude_namespaces is ignored: it only applies when namespaces is "
            "'all' (the chart uses excludeNamespaces only without targetNamespaces)"
        )
        exclude = []
    ttl, _ttl_seconds = parse_ttl(config.get("report_ttl"))
    settings: Dict[str, Any] = {
        "enabled": require_bool(config.get("enabled"), "kubesec_trivy_operator.enabled", default=False),
        "namespaces": namespaces,
        "exclude_namespaces": exclude,
        "report_ttl": ttl,
        "scanners": {key: require_bool(scanners_in.get(key), "kubesec_trivy_operator.scanners.%s" % key, default=True) for key, _chart_key in SCANNERS},
        "offline": {"enabled": require_bool(offline_in.get("enabled"), "kubesec_trivy_operator.offline.enabled", default=False)},
    }
    if settings["enabled"] and not any(settings["scanners"].values()):
        raise FeatureError("kubesec_trivy_operator.scanners: every scanner is off; enable one or set enabled: false")
    off = settings["offline"]
    if off["enabled"]:
        field = "kubesec_trivy_operator.offline."
        off["db"] = split_reference(offline_in.get("db_repository"), field + "db_repository")
        off["java_db"] = split_reference(offline_in["java_db_repository"], field + "java_db_repository") if offline_in.get("java_db_repository") else None
        off["checks"] = (
            split_reference(offline_in["checks_bundle_repository"], field + "checks_bundle_repository", allow_tag=True)
            if offline_in.get("checks_bundle_repository")
            else None
        )
        registry = offline_in.get("image_registry")
        if registry:
            registry = require_text(registry, field + "image_registry")
            if not _REGISTRY.match(registry):
                raise FeatureError("%simage_registry: %r is not a registry host[:port]" % (field, registry))
        off["image_registry"] = registry or None
        off["insecure"] = require_bool(offline_in.get("insecure"), field + "insecure", default=False)
        off["offline_scan"] = require_bool(offline_in.get("offline_scan"), field + "offline_scan", default=True)
        off["skip_java_db_update"] = require_bool(offline_in.get("skip_java_db_update"), field + "skip_java_db_update", default=off["java_db"] is None)
    return settings, warnings


def build_values(settings: Dict[str, Any], extra_values: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    if not settings["enabled"]:
        return {}
    scanners = settings["scanners"]
    operator = {"scannerReportTTL": settings["report_ttl"]}
    for key, chart_key in SCANNERS:
        operator[chart_key] = scanners[key]
    # SBOMs feed the vulnerability reports; compliance reports are built from config/RBAC/infra checks.
    operator["sbomGenerationEnabled"] = scanners["vulnerability"]
    operator["clusterComplianceEnabled"] = scanners["config_audit"] or scanners["rbac"] or scanners["infra"]
    values = {
        "targetNamespaces": "" if settings["namespaces"] == "all" else ",".join(settings["namespaces"]),
        "excludeNamespaces": ",".join(settings["exclude_namespaces"]),
        "operator": operator,
    }
    off = settings["offline"]
    if off["enabled"]:
        trivy = {
            "dbRegistry": off["db"][0],
            "dbRepository": off["db"][1],
            "dbRepositoryInsecure": "true" if off["insecure"] else "false",
            "offlineScan": off["offline_scan"],
            "skipJavaDBUpdate": off["skip_java_db_update"],
        }
        if off["java_db"]:
            trivy["javaDbRegistry"], trivy["javaDbRepository"] = off["java_db"][0], off["java_db"][1]
        if off["checks"]:
            bundle = {"registry": off["checks"][0], "repository": off["checks"][1], "insecure": off["insecure"]}
            if off["checks"][2]:
                bundle["tag"] = off["checks"][2]
            values["policiesBundle"] = bundle
        else:
            # No reachable checks bundle: use the checks embedded in the operator (documented air-gap fallback).
            trivy["useEmbeddedRegoPolicies"] = "true"
            trivy["useBuiltinRegoPolicies"] = "false"
        values["trivy"] = trivy
        if off["image_registry"]:
            values["global"] = {"image": {"registry": off["image_registry"]}}
    if extra_values:
        values = deep_merge(values, extra_values)
    return values


def build(
    config: Any, cluster: str, release: str = DEFAULT_RELEASE, namespace: str = DEFAULT_NAMESPACE, extra_values: Optional[Dict[str, Any]] = None
) -> Dict[str, Any]:
    require_label(cluster, "cluster (kubesec_cluster_name)")
    require_label(release, "release_name")
    require_label(namespace, "namespace")
    settings, warnings = normalize(config)
    return {
        "state": "present" if settings["enabled"] else "absent",
        "settings": settings,
        "values": build_values(settings, extra_values),
        "secret_refs": [],
        "obsolete_secrets": [],
        "secret_sources": {},
        "chart": dict(CHART),
        "release_name": release,
        "namespace": namespace,
        "warnings": warnings,
    }
