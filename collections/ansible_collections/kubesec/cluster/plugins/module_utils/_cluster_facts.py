# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster onboarding: what runs on the nodes, what the API says, and which CIS benchmark fits.

Private module_utils (leading underscore). Plain Python, no Ansible imports, testable with pytest.

``probe_node(root, kubelet_commands, runner)``
    On a node: the distribution marker files below ``root`` (kubeadm, k3s, rke2) and the kubelet version from the
    first of ``kubelet_commands`` that answers (``runner(argv) -> (rc, stdout, stderr)``).
``probe_api(kubeconfig, context, timeout)``
    On the controller: ``GET /version`` through ``_kube.build_client``, then (best effort) the Node list and the
    ``kube-system/kubeadm-config`` ConfigMap for distribution evidence. Errors are returned as data.
``cluster_facts(cluster, nodes, api)``
    The decision: Kubernetes version, distribution, the profile kube-bench would use, the CIS catalogue this
    collection uses, and every problem (unreachable node, API not reachable, version skew) with the host named.

The kube-bench data (kube-bench v0.15.6 ``cfg/config.yaml`` ``version_mapping`` and its ``cfg/`` directory, shared
reference formats.md section 1.2) and the catalogues shipped here are data in ``_cis_versions``.
"""

from __future__ import annotations

import datetime
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils import _cis_versions, _kube, _parsing

SCHEMA = "kubesec.cluster_facts/v1"

# kube-bench's version_mapping, its CIS release order and distribution variants, and the catalogues shipped here:
# data in _cis_versions, shared with _kube_bench.
KUBE_BENCH_VERSION_MAPPING = _cis_versions.VERSION_MAPPING
CIS_ORDER = _cis_versions.CIS_ORDER
KUBE_BENCH_VARIANTS = _cis_versions.KUBE_BENCH_VARIANTS
MANAGED = ("eks", "gke", "aks")
# CIS catalogues this collection ships (data/cis/<name>.yml): the node audit and hardening use one of these.
CATALOGUES = tuple(_cis_versions.CATALOGUES)
DEFAULT_CATALOGUE = _cis_versions.DEFAULT_CATALOGUE

# Files on a node that say which distribution installed it (checked below the node root).
MARKERS = {
    "kubeadm_manifests": "/etc/kubernetes/manifests",
    "kubeadm_apiserver_manifest": "/etc/kubernetes/manifests/kube-apiserver.yaml",
    "kubeadm_kubelet_conf": "/etc/kubernetes/kubelet.conf",
    "kubeadm_dropin": "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "kubeadm_dropin_usr": "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "k3s_config": "/etc/rancher/k3s",
    "k3s_data": "/var/lib/rancher/k3s",
    "k3s_server": "/var/lib/rancher/k3s/server",
    "rke2_config": "/etc/rancher/rke2",
    "rke2_data": "/var/lib/rancher/rke2",
    "rke2_server": "/var/lib/rancher/rke2/server",
}
# Tried in order on a node until one prints a version: kubeadm packages, a kubelet in /usr/local/bin, the kubelet
# rke2 unpacks, and k3s (one binary that embeds the kubelet).
DEFAULT_KUBELET_COMMANDS = ("kubelet", "/usr/bin/kubelet", "/usr/local/bin/kubelet", "/var/lib/rancher/rke2/bin/kubelet", "k3s")

API_KEYS = ("checked", "reachable", "where", "server", "version", "error", "nodes_error", "kubeadm_config")


class ClusterFactsError(KubesecError, ValueError):
    """Bad input to the decision (names the field)."""


# First 'vX.Y.Z[+suffix]' in text (kubelet --version, k3s --version, gitVersion) -> dict or None.
parse_version = _parsing.find_version

Runner = Callable[[List[str]], Tuple[int, str, str]]  # AnsibleModule.run_command-like


def _exists(root: str, path: str) -> bool:
    return os.path.lexists(os.path.join(root, path.lstrip("/")))


def distribution_from_markers(markers: Dict[str, bool]) -> Tuple[str, str, List[str]]:
    """(distribution, role, evidence) from the marker dict of one node."""
    evidence = ["%s exists" % MARKERS[key] for key in sorted(markers) if markers.get(key)]
    if markers.get("rke2_config") or markers.get("rke2_data"):
        role = "control-plane" if markers.get("rke2_server") else "worker"
        return "rke2", role, evidence
    if markers.get("k3s_config") or markers.get("k3s_data"):
        role = "control-plane" if markers.get("k3s_server") else "worker"
        return "k3s", role, evidence
    if any(markers.get(key) for key in ("kubeadm_manifests", "kubeadm_kubelet_conf", "kubeadm_dropin", "kubeadm_dropin_usr")):
        role = "control-plane" if markers.get("kubeadm_apiserver_manifest") else "worker"
        return "kubeadm", role, evidence
    return "unknown", "unknown", evidence


def probe_node(
    root: Optional[str], kubelet_commands: Optional[Sequence[Any]], runner: Runner, which: Optional[Callable[[str], Optional[str]]] = None
) -> Dict[str, Any]:
    """What one node runs. ``which(name)`` resolves a command name to a path (None when not found)."""
    root = root or "/"
    if not os.path.isdir(root):
        raise ClusterFactsError("root %s is not a directory on this node" % root)
    markers = dict((key, _exists(root, path)) for key, path in MARKERS.items())
    distribution, role, evidence = distribution_from_markers(markers)
    tried: List[str] = []
    kubelet = None
    for command in list(kubelet_commands or DEFAULT_KUBELET_COMMANDS):
        command = str(command)
        path = command if os.sep in command else (which(command) if which else None)
        if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
            tried.append("%s: not found" % command)
            continue
        try:
            rc, out, err = runner([path, "--version"])
        except (OSError, IOError) as exc:
            tried.append("%s: %s" % (path, exc))
            continue
        found = parse_version(out) if rc == 0 else None
        if not found:
            text = (out or err or "").strip().splitlines()
            tried.append("%s --version: rc=%s %s" % (path, rc, text[0][:200] if text else "(no output)"))
            continue
        kubelet = {"version": found["version"], "minor": found["minor"], "command": path}
        break
    return {
        "distribution": distribution,
        "role": role,
        "evidence": evidence,
        "markers": markers,
        "kubelet": kubelet,
        "kubelet_tried": tried,
    }


def _node_summary(node: Dict[str, Any]) -> Dict[str, Any]:
    info = (node.get("status") or {}).get("nodeInfo") or {}
    meta = node.get("metadata") or {}
    return {
        "name": meta.get("name"),
        "labels": meta.get("labels") or {},
        "provider_id": (node.get("spec") or {}).get("providerID") or "",
        "kubelet_version": info.get("kubeletVersion"),
        "os_image": info.get("osImage"),
        "container_runtime": info.get("containerRuntimeVersion"),
    }


def probe_api(kubeconfig: Optional[str] = None, context: Optional[str] = None, timeout: float = 10, kube: Any = None) -> Dict[str, Any]:
    """API access of one cluster; never raises for API problems (they are data: reachable false, error)."""
    kube = kube or _kube
    where = "kubeconfig %s" % _kube.kubeconfig_label(kubeconfig)
    if context:
        where += " context %s" % context
    result: Dict[str, Any] = {
        "checked": True,
        "reachable": False,
        "where": where,
        "server": None,
        "version": None,
        "error": None,
        "nodes": None,
        "nodes_error": None,
        "kubeadm_config": None,
    }
    try:
        client = kube.build_client(kubeconfig=kubeconfig or None, context=context or None, timeout=timeout)
        result["server"] = getattr(getattr(client, "configuration", None), "host", None)
        # /version is readable by every authenticated user (and anonymous ones on a default API server); it is the
        # cheapest call that proves the kubeconfig, the network path and the credentials.
        version = kube._request(client, "/version", None, timeout)  # pylint: disable=protected-access
    except kube.KubeApiError as exc:
        result["error"] = str(exc)
        return result
    if not isinstance(version, dict) or not version.get("gitVersion"):
        result["error"] = "GET /version on %s returned no gitVersion" % result["server"]
        return result
    result["reachable"] = True
    result["version"] = {"git_version": version.get("gitVersion"), "platform": version.get("platform")}
    try:
        listed = kube.list_all(client, "v1", "nodes", limit=500, timeout=timeout)
        result["nodes"] = [_node_summary(n) for n in listed["items"]]
    except kube.KubeApiError as exc:
        result["nodes_error"] = str(exc)
    try:
        kube.get_object(client, "v1", "configmaps", "kubeadm-config", namespace="kube-system", timeout=timeout)
        result["kubeadm_config"] = True
    except kube.KubeNotFoundError:
        result["kubeadm_config"] = False
    except kube.KubeApiError:
        result["kubeadm_config"] = None  # not allowed to read it: no evidence either way
    return result


def distribution_from_api(api: Optional[Dict[str, Any]]) -> Tuple[Optional[str], List[str]]:
    """(distribution or None, evidence) from what the API showed."""
    if not api or not api.get("reachable"):
        return None, []
    evidence: List[str] = []
    git = (api.get("version") or {}).get("git_version") or ""
    nodes = api.get("nodes") or []
    labels: Dict[str, str] = {}
    for node in nodes:
        labels.update(node.get("labels") or {})
    provider_ids = [n.get("provider_id") or "" for n in nodes]
    if "+k3s" in git or labels.get("node.kubernetes.io/instance-type") == "k3s":
        evidence.append("API gitVersion %s / node labels name k3s" % git)
        return "k3s", evidence
    if "+rke2" in git:
        evidence.append("API gitVersion %s" % git)
        return "rke2", evidence
    if "-eks-" in git or any(key.startswith("eks.amazonaws.com/") for key in labels):
        evidence.append("API gitVersion %s / eks.amazonaws.com node labels" % git)
        return "eks", evidence
    if "-gke." in git or any(key.startswith("cloud.google.com/gke-") for key in labels):
        evidence.append("API gitVersion %s / cloud.google.com/gke-* node labels" % git)
        return "gke", evidence
    if any(key.startswith("kubernetes.azure.com/") for key in labels):
        evidence.append("kubernetes.azure.com/* node labels")
        return "aks", evidence
    if api.get("kubeadm_config"):
        evidence.append("ConfigMap kube-system/kubeadm-config exists")
        return "kubeadm", evidence
    clouds = sorted(set(p.split("://", 1)[0] for p in provider_ids if "://" in p))
    if clouds:
        evidence.append("node providerID scheme %s (cloud nodes; not enough to name a distribution)" % ", ".join(clouds))
    return None, evidence


def _cis_index(name: Optional[str]) -> int:
    return CIS_ORDER.index(name) if name in CIS_ORDER else -1


def choose_profiles(minor: Optional[str], distribution: Optional[str]) -> Dict[str, Any]:
    """{kube_bench: {...}, catalogue, catalogue_note} for a Kubernetes minor ('1.33') and a distribution."""
    notes: List[str] = []
    generic = KUBE_BENCH_VERSION_MAPPING.get(minor) if minor else None
    if minor and not generic:
        known = sorted(KUBE_BENCH_VERSION_MAPPING, key=lambda k: tuple(int(p) for p in k.split(".")))
        newer = tuple(int(p) for p in minor.split(".")) > tuple(int(p) for p in known[-1].split("."))
        generic = KUBE_BENCH_VERSION_MAPPING[known[-1]] if newer else None
        notes.append(
            "Kubernetes %s is %s kube-bench's version_mapping (%s to %s)%s"
            % (
                minor,
                "newer than" if newer else "older than",
                known[0],
                known[-1],
                ": kube-bench uses its newest mapping, %s" % generic if newer else ": kube-bench needs --benchmark",
            )
        )
    variant = None
    variants = KUBE_BENCH_VARIANTS.get(distribution or "") or ()
    if variants and distribution in ("k3s", "rke2") and not generic:
        notes.append("kube-bench's %s profiles (%s) need the Kubernetes version to choose one" % (distribution, ", ".join(variants)))
    elif variants:
        if distribution in ("k3s", "rke2"):
            # the variant built on the same CIS release, else the newest one built on an older release
            base = dict((v, "cis-" + v.split("-cis-", 1)[1]) for v in variants)
            same = [v for v in variants if base[v] == generic]
            older = [v for v in variants if _cis_index(base[v]) <= _cis_index(generic)]
            variant = (same or older or [variants[-1]])[-1]
            if not same:
                notes.append("kube-bench ships no %s variant of %s; the closest is %s (run it with --benchmark %s)" % (distribution, generic, variant, variant))
        else:
            variant = variants[-1]
            notes.append(
                "managed control plane (%s): only the worker-node checks apply; kube-bench's %s profiles "
                "are chosen with --benchmark (newest shipped: %s)" % (distribution, distribution, variant)
            )
    profile = variant or generic
    if not minor:
        catalogue = DEFAULT_CATALOGUE
        catalogue_note: Optional[str] = "no Kubernetes version found: the node audit keeps the default catalogue %s" % catalogue
    elif generic in CATALOGUES:
        catalogue = generic
    elif generic and _cis_index(generic) > _cis_index(CATALOGUES[-1]):
        catalogue = CATALOGUES[-1]
    else:
        catalogue = CATALOGUES[0]
    if minor:
        catalogue_note = None
    if minor and generic != catalogue:
        catalogue_note = "no %s catalogue is shipped (only %s): the node audit uses %s" % (generic or "matching", ", ".join(CATALOGUES), catalogue)
    own = _cis_versions.DISTRIBUTION_CATALOGUES.get(distribution or "")
    if own:
        # cis_node_audit picks the distribution's own catalogue on such a node (distribution: auto)
        catalogue = own
        if distribution in MANAGED:
            catalogue_note = (
                "managed node pool (%s): the node audit uses %s (the provider benchmark's worker node "
                "section at its node image's paths; control-plane targets are reported not applicable)" % (distribution, own)
            )
        else:
            catalogue_note = (
                "%s layout: the node audit uses %s (the CIS node checks at %s's file locations and "
                "process flags; control-plane sections are not audited yet)" % (distribution, own, distribution)
            )
    elif distribution in ("k3s", "rke2"):  # a distribution without a catalogue of its own
        extra = (
            "%s keeps its configuration under /etc/rancher and /var/lib/rancher, not at the kubeadm paths the "
            "%s catalogue checks: expect file checks to report the files as missing" % (distribution, catalogue)
        )
        catalogue_note = extra if not catalogue_note else catalogue_note + "; " + extra
    command = "kube-bench run --benchmark %s" % profile if profile else None
    return {
        "kube_bench": {"profile": profile, "generic": generic, "variant": variant, "command": command, "source": _cis_versions.KUBE_BENCH_SOURCE},
        "catalogue": catalogue,
        "catalogue_note": catalogue_note,
        "notes": notes,
    }


def _normalize_node(host: str, result: Any) -> Dict[str, Any]:
    """One registered result of the node probe (or of an unreachable host) -> compact per-host record."""
    if not isinstance(result, dict):
        return {"host": host, "reachable": False, "ok": False, "error": "not probed (no result for this host)"}
    if result.get("unreachable"):
        return {"host": host, "reachable": False, "ok": False, "error": "not reachable over SSH: %s" % (str(result.get("msg") or "unreachable").strip())}
    if result.get("skipped"):
        return {"host": host, "reachable": None, "ok": False, "error": "not probed (skipped)"}
    # the probe's facts (ansible_facts.kubesec_node_facts); the deprecated `node` key of older results still works
    node = (result.get("ansible_facts") or {}).get("kubesec_node_facts") or result.get("node")
    if result.get("failed") or not isinstance(node, dict):
        return {"host": host, "reachable": True, "ok": False, "error": "probe failed: %s" % (str(result.get("msg") or "no node data returned").strip())}
    return {
        "host": host,
        "reachable": True,
        "ok": True,
        "error": None,
        "distribution": node.get("distribution"),
        "role": node.get("role"),
        "evidence": node.get("evidence") or [],
        "kubelet": node.get("kubelet"),
        "kubelet_tried": node.get("kubelet_tried") or [],
    }


def cluster_facts(cluster: str, nodes: Dict[str, Any], api: Optional[Dict[str, Any]] = None, now: Optional[str] = None) -> Dict[str, Any]:
    """The decision for one cluster. ``nodes``: {host: registered probe result}; ``api``: probe_api() or None."""
    if not cluster or not isinstance(cluster, str):
        raise ClusterFactsError("cluster must be the cluster name (kubesec_cluster), got %r" % (cluster,))
    if not isinstance(nodes, dict):
        raise ClusterFactsError("nodes must be a dict {inventory host: probe result}, got %s" % type(nodes).__name__)
    records = dict((host, _normalize_node(host, nodes[host])) for host in sorted(nodes))
    problems = []
    warnings = []
    for record in records.values():
        if not record["ok"]:
            problems.append("%s: %s" % (record["host"], record["error"]))
    api = api or {"checked": False}
    if api.get("checked") and not api.get("reachable"):
        problems.append("cluster %s: Kubernetes API not usable with %s: %s" % (cluster, api.get("where"), api.get("error")))
    if api.get("nodes_error"):
        warnings.append("cluster %s: cannot list Nodes (distribution evidence from the API is incomplete): %s" % (cluster, api["nodes_error"]))

    # version: the API server's, else the kubelets' (the newest minor seen, as the control plane is never older)
    api_version = parse_version(((api.get("version") or {}).get("git_version")) or "") if api.get("reachable") else None
    kubelets = dict((r["host"], parse_version(r["kubelet"]["version"])) for r in records.values() if r["ok"] and r.get("kubelet"))
    version, version_source = None, None
    if api_version:
        version, version_source = api_version, "api"
    elif kubelets:
        version = max(kubelets.values(), key=lambda v: v["major_minor"])
        version_source = "kubelet"
    else:
        warnings.append(
            "cluster %s: no Kubernetes version found (no kubelet answered on any node%s)"
            % (cluster, ", API not checked" if not api.get("checked") else ", API not reachable")
        )
    missing: Dict[str, List[str]] = {}
    for record in records.values():
        if record["ok"] and not record.get("kubelet"):
            missing.setdefault("; ".join(record["kubelet_tried"]), []).append(record["host"])
    for tried, hosts in sorted(missing.items()):
        warnings.append("%s: no kubelet version (tried %s)" % (", ".join(hosts), tried))
    skew = []
    if version:
        for host, found in sorted(kubelets.items()):
            if found["major_minor"] > version["major_minor"]:
                skew.append("%s: kubelet %s is newer than the API server %s (not supported by Kubernetes)" % (host, found["version"], version["version"]))
            elif version["major_minor"][1] - found["major_minor"][1] > 3:
                skew.append(
                    "%s: kubelet %s is more than three minors older than %s (outside the version skew policy)" % (host, found["version"], version["version"])
                )
    warnings.extend(skew)

    # distribution: API evidence (names managed services and k3s/rke2 builds) over node files
    node_dists = sorted(set(r["distribution"] for r in records.values() if r["ok"] and r.get("distribution") != "unknown"))
    api_dist, api_evidence = distribution_from_api(api)
    evidence = list(api_evidence)
    for record in records.values():
        if record["ok"] and record.get("evidence"):
            evidence.append("%s: %s" % (record["host"], ", ".join(record["evidence"])))
    if api_dist:
        distribution = api_dist
        if node_dists and node_dists != [api_dist] and api_dist not in MANAGED:
            warnings.append("cluster %s: the API says %s but node files say %s" % (cluster, api_dist, ", ".join(node_dists)))
    elif len(node_dists) == 1:
        distribution = node_dists[0]
    elif node_dists:
        distribution = node_dists[0]
        warnings.append("cluster %s: nodes disagree on the distribution (%s); using %s" % (cluster, ", ".join(node_dists), distribution))
    else:
        distribution = "unknown"
    if version and not api_dist and version["suffix"]:
        if "+k3s" in version["suffix"]:
            distribution = "k3s"
        elif "+rke2" in version["suffix"]:
            distribution = "rke2"

    profiles = choose_profiles(version["minor"] if version else None, distribution)
    warnings.extend(profiles["notes"])
    stamp = now or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "schema": SCHEMA,
        "cluster": cluster,
        "gathered_at": stamp,
        "kubernetes_version": version["version"] if version else None,
        "kubernetes_minor": version["minor"] if version else None,
        "version_source": version_source,
        "distribution": distribution,
        "managed": distribution in MANAGED,
        "distribution_evidence": evidence,
        "kube_bench": profiles["kube_bench"],
        "cis_catalogue": profiles["catalogue"],
        "cis_catalogue_note": profiles["catalogue_note"],
        "api": dict((k, api.get(k, False if k == "checked" else None)) for k in API_KEYS),
        "api_nodes": len(api.get("nodes") or []) if api.get("reachable") else None,
        "nodes": records,
        "unreachable": sorted(r["host"] for r in records.values() if r["reachable"] is False),
        "problems": problems,
        "warnings": warnings,
        "ok": not problems,
    }


def headline(facts: Dict[str, Any]) -> Dict[str, Any]:
    """The few values an AWX workflow branches on (set_stats)."""
    return {
        "kubernetes_version": facts.get("kubernetes_version"),
        "distribution": facts.get("distribution"),
        "kube_bench_profile": (facts.get("kube_bench") or {}).get("profile"),
        "cis_catalogue": facts.get("cis_catalogue"),
        "api_reachable": (facts.get("api") or {}).get("reachable"),
        "unreachable": facts.get("unreachable"),
        "ok": facts.get("ok"),
    }
