# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes JSON-schema check of a Pod, on the controller (kubernetes-validate is not on stock nodes).

The static_pod_manifest action plugin passes schema_errors to module_utils/_static_pod.change() as its
schema_check; the node never imports kubernetes-validate.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kubesec.cluster.plugins.module_utils._static_pod import ManifestError


class SchemaUnavailable(ManifestError):
    """kubernetes-validate is missing on the controller or does not know the Kubernetes version."""


def _load_validator() -> tuple[Any, Any]:
    """kubernetes-validate, imported only when a result must be validated (it is big)."""
    try:
        import kubernetes_validate  # type: ignore[import-untyped]  # pylint: disable=import-outside-toplevel
        from kubernetes_validate import utils as kv_utils  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise SchemaUnavailable(
            "validation needs the Python package kubernetes-validate on the controller "
            "(pip install kubernetes-validate, in the Python that runs ansible); install it or "
            "set validate=false"
        ) from None
    return kubernetes_validate, kv_utils


def schema_errors(pod: dict[str, Any], kubernetes_version: Any) -> list[str]:
    """Validate against the Kubernetes JSON schema (strict: no unknown fields); [] when valid."""
    validator, kv_utils = _load_validator()
    try:
        validator.validate(pod, str(kubernetes_version), strict=True)
    except kv_utils.ValidationError as exc:
        where = ".".join("[%d]" % p if isinstance(p, int) else str(p) for p in exc.path).replace(".[", "[")
        return ["%s: %s" % (where or "(top level)", exc.message)]
    except (kv_utils.VersionNotSupportedError, kv_utils.SchemaNotFoundError, kv_utils.InvalidSchemaError) as exc:
        raise SchemaUnavailable(
            "cannot validate against Kubernetes %s: %s (kubernetes-validate knows up to %s)"
            % (kubernetes_version, type(exc).__name__, validator.latest_version())
        ) from None
    return []
