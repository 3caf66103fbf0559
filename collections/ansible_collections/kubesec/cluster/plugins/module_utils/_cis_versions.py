# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which CIS benchmark fits which Kubernetes minor: data only, read by _kube_bench (on the node) and
_cluster_facts (onboarding) and by scripts/gen_cis_coverage.py (docs/cis-coverage.md).

A Python module rather than a YAML file because module_utils is what Ansible ships to the node (a data file
beside it would not arrive); it holds literals only. tests/unit/test_cis_versions.py keeps CATALOGUES equal to
the `kubernetes:` lists of data/cis/*.yml.
"""

from __future__ import annotations

KUBE_BENCH_RELEASE = "v0.15.6"
KUBE_BENCH_SOURCE = "kube-bench %s cfg/config.yaml version_mapping and cfg/ (formats.md 1.2)" % KUBE_BENCH_RELEASE

# kube-bench cfg/config.yaml version_mapping: Kubernetes minor -> generic CIS benchmark (kube-bench's name).
VERSION_MAPPING = {
    "1.15": "cis-1.5",
    "1.16": "cis-1.6",
    "1.17": "cis-1.6",
    "1.18": "cis-1.6",
    "1.19": "cis-1.20",
    "1.20": "cis-1.20",
    "1.21": "cis-1.20",
    "1.22": "cis-1.23",
    "1.23": "cis-1.23",
    "1.24": "cis-1.24",
    "1.25": "cis-1.7",
    "1.26": "cis-1.8",
    "1.27": "cis-1.9",
    "1.28": "cis-1.10",
    "1.29": "cis-1.11",
    "1.30": "cis-1.11",
    "1.31": "cis-1.11",
    "1.32": "cis-1.12",
    "1.33": "cis-1.12",
    "1.34": "cis-1.12",
}

# Generic CIS benchmarks in release order (the 1.20/1.23/1.24 names came before 1.7).
CIS_ORDER = ("cis-1.5", "cis-1.6", "cis-1.20", "cis-1.23", "cis-1.24", "cis-1.7", "cis-1.8", "cis-1.9", "cis-1.10", "cis-1.11", "cis-1.12")

# Distribution variants kube-bench ships in cfg/ (chosen with --benchmark; oldest to newest CIS base).
KUBE_BENCH_VARIANTS = {
    "k3s": ("k3s-cis-1.23", "k3s-cis-1.24", "k3s-cis-1.7", "k3s-cis-1.8", "k3s-cis-1.9"),
    "rke2": ("rke2-cis-1.23", "rke2-cis-1.24", "rke2-cis-1.7", "rke2-cis-1.8"),
    "eks": ("eks-1.0.1", "eks-1.1.0", "eks-1.2.0", "eks-1.5.0", "eks-1.7.0", "eks-1.8.0"),
    "gke": ("gke-1.0", "gke-1.2.0", "gke-1.6.0", "gke-1.8.0", "gke-1.9.0"),
    "aks": ("aks-1.0", "aks-1.7", "aks-1.8"),
}

# The CIS catalogues this collection ships (data/cis/<name>.yml), oldest first, with the minors each covers
# (the same as kube-bench's mapping). Minors newer than the newest use the newest; older than the oldest, the
# oldest, with a note (1.27 and before are out of every vendor's support).
CATALOGUES = {
    "cis-1.10": ("1.28",),
    "cis-1.11": ("1.29", "1.30", "1.31"),
    "cis-1.12": ("1.32", "1.33", "1.34"),
}
DEFAULT_CATALOGUE = "cis-1.12"  # kubesec_cis_benchmark's default

# Catalogues for a distribution's own layout (its file locations and the single process that carries the kubelet's
# flags), keyed by distribution; the checks are those of the generic catalogue they extend.
DISTRIBUTION_CATALOGUES = {
    "k3s": "k3s-cis-1.12",
    "rke2": "rke2-cis-1.12",
    # managed node pools: the provider's own CIS benchmark, worker node section only (kube-bench's newest profile)
    "eks": "eks-cis-1.8.0",
    "gke": "gke-cis-1.9.0",
    "aks": "aks-cis-1.8",
}
