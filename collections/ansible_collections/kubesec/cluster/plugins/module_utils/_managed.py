# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which managed node pool (EKS, GKE, AKS) a node belongs to, from the files its node image writes.

Node side (stdlib only). The marker files are the ones kube-bench's cfg/config.yaml lists for each provider's
kubelet (and that its eks / gke / aks profiles read): the EKS AMI's kubelet-config.json, GKE's
/home/kubernetes/kubelet-config.yaml, AKS's azure.json (the cloud provider config every AKS node carries).
"""

from __future__ import annotations

import os
from typing import Optional

# provider -> files below the node root any of which marks a node of that provider's node pools. Regular files
# only: an empty directory (a mount point, a leftover) says nothing about the node image.
MARKERS = {
    "eks": ("/etc/eks/bootstrap.sh", "/etc/eks/kubelet/environment", "/etc/kubernetes/kubelet/kubelet-config.json", "/etc/kubernetes/kubelet/config.json"),
    "gke": ("/home/kubernetes/kubelet-config.yaml", "/home/kubernetes/kubelet-config.yml"),
    "aks": ("/etc/kubernetes/azure.json",),
}
DISTRIBUTIONS = tuple(MARKERS)
# kubeadm's own files: a self-managed kubeadm node on a cloud can carry a provider file too (azure.json for the
# Azure cloud provider), and is still a kubeadm node.
KUBEADM_MARKERS = (
    "/etc/kubernetes/kubelet.conf",
    "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
)


def _exists(root: str, path: str) -> bool:
    return os.path.lexists(os.path.join(root, path.lstrip("/")))


def detect(root: str) -> Optional[str]:
    """'eks', 'gke' or 'aks' when the files of exactly one provider, and none of kubeadm's, are below root."""
    if any(_exists(root, path) for path in KUBEADM_MARKERS):
        return None
    found = [dist for dist, paths in MARKERS.items() if any(os.path.isfile(os.path.join(root, path.lstrip("/"))) for path in paths)]
    return found[0] if len(found) == 1 else None
