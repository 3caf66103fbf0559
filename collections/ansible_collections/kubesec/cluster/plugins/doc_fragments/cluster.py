# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment(object):
    """The options shared by the action group kubesec.cluster.cluster (meta/runtime.yml), settable once per play."""

    # A module's own entry for one of these options replaces the whole entry below (Ansible merges per option),
    # so a module documents only what differs for it.
    DOCUMENTATION = r"""
options:
  cluster:
    description:
      - Name of the cluster, stamped on every finding.
      - Shared by the action group C(kubesec.cluster.cluster), so a play can set it once in C(module_defaults)
        under C(group/kubesec.cluster.cluster).
    type: str
  kubeconfig:
    description:
      - Path of the kubeconfig file on the controller. Without it, E(KUBECONFIG) or C(~/.kube/config), or the
        in-cluster service account.
    type: path
  context:
    description: Context of the kubeconfig to use. Defaults to the current context.
    type: str
attributes:
  action_group:
    description: Use C(group/kubesec.cluster.cluster) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - kubesec.cluster.cluster
"""
