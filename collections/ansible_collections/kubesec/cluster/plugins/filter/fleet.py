# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-cluster bookkeeping of a play in one pass over its hosts (benchmarks/fleet: no per-host leader search)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean


def cluster_hosts(play_hosts: Iterable[str], hostvars: Mapping[str, Any]) -> dict[str, list[str]]:
    """{cluster: [its hosts in play order]} from each host's kubesec_cluster; hosts without one are left out.

    The first host of a cluster is its leader: the one that does the cluster's controller-side work once. Called once
    per play (run_once), it replaces a search over every host's variables by every host (O(hosts^2) templating).
    """
    if isinstance(play_hosts, (str, bytes)) or not isinstance(play_hosts, Iterable):
        raise AnsibleFilterError(f"cluster_hosts: expects the list of the play's hosts, got {type(play_hosts).__name__}")
    clusters: dict[str, list[str]] = {}
    for host in play_hosts:
        host = str(host)
        try:
            host_vars = hostvars[host]
        except KeyError as exc:
            raise AnsibleFilterError(f"cluster_hosts: host {host!r} is not in hostvars") from exc
        cluster = host_vars.get("kubesec_cluster") if isinstance(host_vars, Mapping) else None
        if cluster is None or cluster == "":
            continue
        if not isinstance(cluster, str):
            raise AnsibleFilterError(f"cluster_hosts: kubesec_cluster of host {host!r} must be a string, got {type(cluster).__name__}")
        clusters.setdefault(cluster, []).append(host)
    return clusters


def _kube_bench_enabled(host: str, host_vars: Mapping[str, Any]) -> bool:
    """Whether the host's collect settings switch kube-bench on, as the collect role reads them.

    Only the kube_bench entry is read: the other sources' settings can hold (vaulted) secrets.
    """
    sources = host_vars.get("collect_sources")
    if sources is None:
        sources = host_vars.get("kubesec_collect")
    if not isinstance(sources, Mapping):
        return False
    given = sources.get("kube_bench", False)
    try:
        if isinstance(given, Mapping):  # a mapping means enabled unless it says otherwise (docs/collect.md)
            return boolean(given.get("enabled", True), strict=True)
        return boolean(given, strict=True)
    except TypeError as exc:
        raise AnsibleFilterError(f"collect_hosts: kubesec_collect.kube_bench of host {host!r}: {exc}") from exc


def collect_hosts(clusters: Mapping[str, list[str]], hostvars: Mapping[str, Any]) -> list[str]:
    """The hosts the collect play needs: the leader (first host) of each cluster, and every host of a cluster where
    kube-bench is on (it reads, runs or renders a Job per node). Input: the output of cluster_hosts."""
    if not isinstance(clusters, Mapping):
        raise AnsibleFilterError("collect_hosts: expects the output of cluster_hosts, got %s" % type(clusters).__name__)
    out: list[str] = []
    for hosts in clusters.values():
        if not hosts:
            continue
        if any(_kube_bench_enabled(host, hostvars[host]) for host in hosts):
            out.extend(hosts)
        else:
            out.append(hosts[0])
    return out


def cluster_leaders(clusters: Mapping[str, list[str]]) -> list[str]:
    """The first host of each cluster (the one that writes the cluster's report). Input: the output of cluster_hosts."""
    if not isinstance(clusters, Mapping):
        raise AnsibleFilterError("cluster_leaders: expects the output of cluster_hosts, got %s" % type(clusters).__name__)
    return [hosts[0] for hosts in clusters.values() if hosts]


class FilterModule(object):
    def filters(self) -> dict[str, Any]:
        return {"cluster_hosts": cluster_hosts, "collect_hosts": collect_hosts, "cluster_leaders": cluster_leaders}
