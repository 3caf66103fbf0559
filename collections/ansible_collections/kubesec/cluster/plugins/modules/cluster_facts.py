#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: cluster_facts
short_description: Onboarding facts of a Kubernetes cluster (version, distribution, CIS benchmark profile)
version_added: 0.1.0
description:
  - With O(gather=node), runs on a node and reports the distribution marker files it has (C(/etc/kubernetes/manifests),
    C(/etc/rancher/k3s), C(/etc/rancher/rke2), ...) and the kubelet version from the first of O(kubelet_commands)
    that answers C(--version).
  - With O(gather=cluster), runs on the controller once per cluster. It checks API access with the cluster's
    kubeconfig and context (C(GET /version), then the Node list and the C(kube-system/kubeadm-config) ConfigMap when
    allowed), combines that with the node results given in O(nodes), and decides the Kubernetes version, the
    distribution (kubeadm, k3s, rke2, eks, gke, aks), the CIS profile kube-bench would use and the CIS catalogue of
    this collection to use. Problems (an unreachable node, an API that cannot be used) are returned per host in
    C(cluster_facts.problems), not raised, so one run reports all of them.
  - With O(dest), the facts are written to that JSON file (atomically; only when they changed apart from the time).
  - The facts are returned in C(ansible_facts) (C(kubesec_node_facts), C(kubesec_cluster_onboard_facts)), so they are
    host variables after the task. The return keys RV(node) and RV(cluster_facts) hold the same and are deprecated.
author:
  - kubesec contributors (@kubesec)
requirements:
  - kubernetes (Python library) on the controller for O(gather=cluster) with O(api=true)
extends_documentation_fragment:
  - kubesec.cluster.cluster
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Nothing is written in check mode; C(changed) says whether O(dest) would change.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  gather:
    description: What to gather, C(node) on each node or C(cluster) on the controller once per cluster.
    type: str
    required: true
    choices: [node, cluster]
  root:
    description: Directory that stands for C(/) of the node when looking for marker files (O(gather=node)).
    type: path
    default: /
  kubelet_commands:
    description:
      - Commands tried in order with C(--version) until one prints a version (O(gather=node)). Names are looked up on
        E(PATH) and in C(/usr/local/bin); paths are used as they are.
      - The default covers kubeadm packages, rke2 (C(/var/lib/rancher/rke2/bin/kubelet)) and k3s (C(k3s --version)).
    type: list
    elements: str
    default: [kubelet, /usr/bin/kubelet, /usr/local/bin/kubelet, /var/lib/rancher/rke2/bin/kubelet, k3s]
  cluster:
    description: Name of the cluster (C(kubesec_cluster)). Required with O(gather=cluster).
    type: str
  nodes:
    description:
      - The registered results of the O(gather=node) task for every node of the cluster, keyed by inventory host
        name (O(gather=cluster)). Results of unreachable or failed hosts are reported as such.
    type: dict
    default: {}
  api:
    description: Check API access (O(gather=cluster)). Without it the version comes from the kubelets only.
    type: bool
    default: true
  kubeconfig:
    description:
      - Path of the kubeconfig of the cluster. Without it, E(KUBECONFIG) or C(~/.kube/config), or the in-cluster service
        account.
      - The content of a kubeconfig given here by mistake is refused without repeating it (the option is C(no_log) because it
        may hold a token).
    type: path
  timeout:
    description: Seconds to wait for each API request.
    type: int
    default: 10
  dest:
    description: JSON file to write the cluster facts to (O(gather=cluster)), for example C(reports/<cluster>/cluster_facts.json).
    type: path
  now:
    description: Time to record as C(gathered_at) (ISO 8601). Defaults to the clock.
    type: str
"""

EXAMPLES = r"""
- name: Probe every node
  kubesec.cluster.cluster_facts:
    gather: node
  register: node_probe
  ignore_unreachable: true

- name: Decide the facts of the cluster, on the controller
  kubesec.cluster.cluster_facts:
    gather: cluster
    cluster: "{{ kubesec_cluster }}"
    kubeconfig: "{{ kubesec_kubeconfig | default(omit) }}"
    context: "{{ kubesec_kube_context | default(omit) }}"
    nodes: "{{ dict(cluster_hosts | zip(cluster_hosts | map('extract', hostvars, 'node_probe'))) }}"
    dest: "reports/{{ kubesec_cluster }}/cluster_facts.json"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
ansible_facts:
  description: The facts, set as host variables of the host the task runs for (with C(delegate_to), that host).
  returned: always
  type: complex
  contains:
    kubesec_node_facts:
      description: What the node runs (O(gather=node)); the same dict as RV(node).
      returned: when gather is node
      type: dict
    kubesec_cluster_onboard_facts:
      description: The facts of the cluster (O(gather=cluster)); the same dict as RV(cluster_facts).
      returned: when gather is cluster
      type: dict
node:
  description:
    - What the node runs (O(gather=node)).
    - Deprecated, to be removed in 0.3.0; use RV(ansible_facts.kubesec_node_facts).
  returned: when gather is node
  type: dict
  sample:
    distribution: kubeadm
    role: worker
    evidence: [/etc/kubernetes/manifests exists]
    kubelet: {version: v1.33.1, minor: "1.33", command: /usr/bin/kubelet}
    kubelet_tried: []
cluster_facts:
  description:
    - Deprecated, to be removed in 0.3.0; use RV(ansible_facts.kubesec_cluster_onboard_facts).
    - The facts of the cluster (O(gather=cluster)), also written to O(dest). Keys include C(kubernetes_version),
      C(version_source) (api or kubelet), C(distribution), C(managed), C(kube_bench) (C(profile) kube-bench would use,
      C(generic) profile from its version mapping, C(variant), C(command)), C(cis_catalogue) (the catalogue this
      collection uses), C(cis_catalogue_note), C(api), C(nodes) (per host), C(unreachable), C(problems),
      C(warnings) and C(ok).
  returned: when gather is cluster
  type: dict
headline:
  description: The few values an AWX workflow branches on (version, distribution, profile, catalogue, ok).
  returned: when gather is cluster
  type: dict
path:
  description: The file written (or that would be written in check mode).
  returned: when dest is given
  type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils import _cluster_facts, _io, _kube
from ansible_collections.kubesec.cluster.plugins.module_utils._nodewrite import selinux_prepare


def _comparable(text):
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict):
        data.pop("gathered_at", None)
    return data


def _write(module, dest, facts):
    """Atomic write unless only the time changed; returns changed."""
    text = json.dumps(facts, indent=1, sort_keys=True) + "\n"
    before = None
    if os.path.isfile(dest):
        with open(dest, "rb") as handle:
            before = handle.read().decode("utf-8", "replace")
    if before is not None and _comparable(before) == _comparable(text):
        return False
    if module.check_mode:
        return True
    directory = os.path.dirname(dest) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o750)
    # a new file is 0640 (cluster details); an existing one keeps its mode, owner and SELinux context
    _io.atomic_write(dest, text, new_mode=0o640, prepare=selinux_prepare(module))
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            gather=dict(type="str", required=True, choices=["node", "cluster"]),
            root=dict(type="path", default="/"),
            kubelet_commands=dict(type="list", elements="str", default=list(_cluster_facts.DEFAULT_KUBELET_COMMANDS)),
            cluster=dict(type="str"),
            nodes=dict(type="dict", default={}),
            api=dict(type="bool", default=True),
            kubeconfig=dict(type="path", no_log=True),  # content given by mistake holds a token
            context=dict(type="str"),
            timeout=dict(type="int", default=10),
            dest=dict(type="path"),
            now=dict(type="str"),
        ),
        required_if=[("gather", "cluster", ("cluster",))],
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    params = module.params
    if params["gather"] == "node":

        def runner(argv):
            return module.run_command(argv)

        def which(name):
            return module.get_bin_path(name, opt_dirs=["/usr/local/bin", "/usr/bin"])

        try:
            node = _cluster_facts.probe_node(params["root"], params["kubelet_commands"], runner, which)
        except _cluster_facts.ClusterFactsError as exc:
            module.fail_json(msg=str(exc))
        # the facts in ansible_facts (kubesec_node_facts); `node` stays for one release (deprecated, see RETURN)
        module.exit_json(changed=False, node=node, ansible_facts={"kubesec_node_facts": node})

    api = None
    if params["api"]:
        if not _kube.HAS_KUBERNETES:
            module.fail_json(msg=missing_required_lib("kubernetes"), exception=_kube.KUBERNETES_IMPORT_ERROR)
        if params["timeout"] <= 0:
            module.fail_json(msg="timeout must be a positive number of seconds, got %d" % params["timeout"])
        api = _cluster_facts.probe_api(params["kubeconfig"], params["context"], params["timeout"])
    try:
        facts = _cluster_facts.cluster_facts(params["cluster"], params["nodes"], api, now=params["now"])
    except _cluster_facts.ClusterFactsError as exc:
        module.fail_json(msg=str(exc))
    # the facts in ansible_facts (kubesec_cluster_onboard_facts); `cluster_facts` stays for one release (deprecated)
    result = dict(changed=False, cluster_facts=facts, headline=_cluster_facts.headline(facts), ansible_facts={"kubesec_cluster_onboard_facts": facts})
    if params["dest"]:
        try:
            result["changed"] = _write(module, params["dest"], facts)
        except _io.WriteError as exc:  # names the file and the reason (disk full, ...)
            module.fail_json(msg=str(exc), **result)
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot write %s: %s" % (params["dest"], exc), **result)
        result["path"] = params["dest"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
