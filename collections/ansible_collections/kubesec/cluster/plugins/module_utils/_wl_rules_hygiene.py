# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hygiene rules (severity low, on by default, each can be switched off): KS-WL-029 probes, KS-WL-030 requests.

Private module_utils (leading underscore): the API may change between minor releases. Standard library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ansible_collections.kubesec.cluster.plugins.module_utils import _wl_cel as cel
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_cel import cel_list
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import as_dict, param, violation
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_rule import rule

if TYPE_CHECKING:
    from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import Params, Setting, Variables, View, Violation

PROBES = (("require_liveness", "livenessProbe"), ("require_readiness", "readinessProbe"))


# ---------------------------------------------------------------------------------------------------------
# KS-WL-029 probes


def check_probes(c: View, pod: View, p: Params) -> list[Violation]:
    """Long-running containers (spec.containers of controllers not in skip_kinds) define the required probes."""
    if c["kind"] != "containers":
        return []  # init containers run to completion; ephemeral containers cannot have probes
    skip = p["skip_kinds"]
    if pod.get("kind") in skip or any(kind in skip for kind in pod.get("owner_kinds") or ()):
        return []
    out = []
    for key, field in PROBES:
        if p[key] and not isinstance(c["spec"].get(field), dict):
            out.append(violation("%s.%s" % (c["path"], field), None, "no %s is defined" % field, "a %s" % field))
    return out


def cel_probes(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    missing = ["!(has(c.%s) && type(c.%s) == map)" % (field, field) for key, field in PROBES if p[key]]
    if not missing:
        return [], "[]"
    skip = cel_list(p["skip_kinds"]) if p["skip_kinds"] else "[]"
    owners = cel.bind(
        "refs",
        cel.path_or("variables.meta", ["ownerReferences"], "[]", "list"),
        ("refs.exists(r, type(r) == map && has(r.kind) && r.kind in %s && has(r.controller) && %s)" % (skip, cel.is_true("r.controller"))),
    )
    skipped = "(has(object.kind) && object.kind in %s) ||\n  %s" % (skip, owners)
    return [("skipped", skipped)], "variables.skipped ? [] : %s" % cel.per_container(" || ".join(missing), "liveness or readiness probe missing")


# ---------------------------------------------------------------------------------------------------------
# KS-WL-030 resource_requests


def check_requests(c: View, pod: View, p: Params) -> list[Violation]:
    """CPU and memory requests (a limit alone counts: Kubernetes copies it into the missing request)."""
    if c["kind"] == "ephemeralContainers":
        return []
    resources = as_dict(c["spec"].get("resources"))
    requests, limits = as_dict(resources.get("requests")), as_dict(resources.get("limits"))
    out = []
    for res in ("cpu", "memory"):
        if not p["require_%s" % res]:
            continue
        if requests.get(res) in (None, "") and limits.get(res) in (None, ""):
            out.append(
                violation("%s.resources.requests.%s" % (c["path"], res), None, "no %s request (and no limit to default it from)" % res, "a %s request" % res)
            )
    return out


def cel_requests(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    checks = []
    for res in ("cpu", "memory"):
        if p["require_%s" % res]:
            present = "('%s' in m && m.%s != null && m.%s != '')" % (res, res, res)
            checks.append("![req, lim].exists(m, %s)" % present)
    if not checks:
        return [], "[]"
    bad = cel.bind(
        "req",
        cel.path_or("c", ["resources", "requests"], "{}", "map"),
        cel.bind("lim", cel.path_or("c", ["resources", "limits"], "{}", "map"), " || ".join(checks)),
    )
    return [], cel.per_container(bad, "resources.requests.cpu/memory missing (and no limit)")


RULES = (
    rule(
        "KS-WL-029",
        "probes",
        "low",
        "container",
        "Containers define liveness and readiness probes",
        "Every container of spec.containers defines livenessProbe and readinessProbe (init and ephemeral "
        "containers are not checked; workloads of the kinds in skip_kinds, and Pods controlled by one, are "
        "skipped: a Job runs to completion).",
        "Add livenessProbe and readinessProbe (httpGet, tcpSocket, grpc or exec) to every long-running container.",
        {
            "require_liveness": param("bool", True, "Require livenessProbe."),
            "require_readiness": param("bool", True, "Require readinessProbe."),
            "skip_kinds": param("str_list", ["Job", "CronJob"], "Workload kinds (and Pods they control) not checked."),
        },
        container_check=check_probes,
        cel=cel_probes,
        cel_target="pod",
        cel_containers="regular",
    ),
    rule(
        "KS-WL-030",
        "resource_requests",
        "low",
        "container",
        "Containers request CPU and memory",
        "Every container and init container sets resources.requests.cpu and resources.requests.memory, or the "
        "limit Kubernetes copies into a missing request (ephemeral containers cannot have resources).",
        "Set resources.requests.cpu and resources.requests.memory on every container.",
        {
            "require_cpu": param("bool", True, "Require a CPU request."),
            "require_memory": param("bool", True, "Require a memory request."),
        },
        container_check=check_requests,
        cel=cel_requests,
        cel_target="pod",
        cel_containers="no_ephemeral",
        frameworks={"nsa": ("Network separation and hardening: Resource policies",), "mitre": ("T1499",)},
        gatekeeper="k8srequiredresources",
    ),
)
