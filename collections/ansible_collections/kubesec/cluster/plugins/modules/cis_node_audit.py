#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: cis_node_audit
short_description: Evaluate every CIS Kubernetes Benchmark node check in one call
version_added: 0.1.0
description:
  - Reads the kubelet configuration file, the kubelet systemd unit and its drop-ins (flags override the
    file, as in kube-bench), the kube-proxy configuration when present, and file modes and owners, and
    evaluates every check of the chosen CIS benchmark targets.
  - Returns one normalized finding per check (status C(pass), C(fail), C(warn), C(info) or C(waived)), with
    the CIS id, title, scored/manual, expected and actual evidence and the remediation.
  - Checks are data (a catalogue per benchmark version in the collection's C(data/cis/) folder, C(cis-1.10),
    C(cis-1.11) and C(cis-1.12); an older version is written as C(extends) of a newer one plus the checks it adds,
    changes or removes, and every file is validated with C(data/schemas/cis-catalogue.json)); the action plugin
    of the same name resolves and validates the catalogue on the controller and passes it to the node.
  - An unscored (Manual) check that fails is reported as C(warn), as kube-bench does.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes.READ_ONLY
  - kubesec.cluster.attributes.NODE_ROOT
  - kubesec.cluster.cluster
options:
  benchmark:
    description:
      - CIS benchmark version; a file C(data/cis/<benchmark>.yml) must exist in the collection.
      - C(cluster_facts) returns the one that fits the cluster's Kubernetes minor as C(cis_catalogue)
        (docs/cis-coverage.md lists the mapping).
    type: str
    default: cis-1.12
  catalogue:
    description:
      - The parsed catalogue. Filled in by the action plugin from O(benchmark); set it only to audit
        against a catalogue of your own.
    type: dict
  distribution:
    description:
      - The node's layout. V(auto) detects it from the node's files (C(/var/lib/rancher/k3s) or
        C(/etc/rancher/k3s) means k3s; C(/var/lib/rancher/rke2) or C(/etc/rancher/rke2) means RKE2; when both are present,
        the one with a C(config.yaml)); then managed node pools by their node image's files (EKS
        C(/etc/eks) or C(/etc/kubernetes/kubelet/kubelet-config.json), GKE C(/home/kubernetes/kubelet-config.yaml),
        AKS C(/etc/kubernetes/azure.json); never on a node with kubeadm's C(kubelet.conf) or C(10-kubeadm.conf)); anything
        else is V(kubeadm).
      - On a distribution with its own catalogue (k3s C(k3s-cis-1.12), RKE2 C(rke2-cis-1.12), EKS C(eks-cis-1.8.0),
        GKE C(gke-cis-1.9.0), AKS C(aks-cis-1.8)) that catalogue is used instead of O(benchmark), with its file
        locations (and on k3s / RKE2 the process that carries the kubelet's flags). Without one the node is audited
        with O(benchmark) and C(distribution_note) says so.
      - On a k3s or RKE2 server the control-plane targets are evaluated too (on k3s the components are embedded
        in the k3s process, their flags come from the process's own C(Running kube-apiserver ...) line in the journal of C(k3s.service) or the k3s
        log file, else from the catalogue's model of them, and etcd from
        C(/var/lib/rancher/k3s/server/db/etcd/config), or one C(info) C(CIS-etcd) finding on kine; on RKE2 they are its static
        pods in C(/var/lib/rancher/rke2/agent/pod-manifests)). An agent has none of them and gets the node section
        only. See docs/distributions.md.
      - On EKS, GKE and AKS only the worker node section (3) is evaluated; each other target in O(targets) gives one
        C(info) finding (C(CIS-master), C(CIS-controlplane), C(CIS-etcd), C(CIS-policies)) saying why it does not
        apply on a managed control plane.
      - The benchmark role sets it from the C(kubesec_distribution) inventory variable (default V(auto)).
    type: str
    choices: [auto, kubeadm, k3s, rke2, eks, gke, aks]
    default: auto
  distribution_catalogues:
    description:
      - The distribution catalogues, by distribution. Filled in by the action plugin; set it only when calling
        the module without its action plugin.
    type: dict
  targets:
    description:
      - Which parts of the benchmark to evaluate (kube-bench target names).
      - C(policies) (CIS section 5) is decided from cluster objects, not node files - by
        M(kubesec.cluster.cluster_policy_audit), the collect role's C(policies) source. Asking for it here
        evaluates nothing for it, warns where it is evaluated, and returns the same in RV(policies_note).
    type: list
    elements: str
    choices: [master, node, controlplane, etcd, policies]
    default: [node]
  cluster:
    description: Cluster name stamped on every finding. Defaults to the C(kubesec_cluster) host variable.
    type: str
  node_name:
    description: Node name stamped on every finding. Defaults to the inventory hostname.
    type: str
  controls:
    description:
      - 'Per-control toggles keyed by CIS id, for example C({"4.2.12": {"enabled": false, "reason": "legacy clients"}}).'
      - A control with C(enabled=false) is reported as C(waived) with its reason (and its real status kept in
        C(original_status)), never silently dropped.
    type: dict
    default: {}
  kube_proxy_configmap:
    description:
      - Path on the controller to an export of the C(kube-proxy) ConfigMap (namespace C(kube-system), key
        C(config.conf)), for example C(kubectl -n kube-system get configmap kube-proxy -o yaml). A YAML or JSON
        file holding the ConfigMap, several documents or a C(List) of objects is accepted.
      - Used for CIS 4.3.1 when kube-proxy does not run from a unit or config file on the node (kubeadm runs it
        as a DaemonSet). Read by the action plugin; a file that holds no such ConfigMap fails the task by name.
      - Without it and without O(kubeconfig), 4.3.1 is C(warn) on such nodes, saying what to provide.
    type: path
  kubeconfig:
    description:
      - Kubeconfig on the controller to read the C(kube-proxy) ConfigMap from the API (one GET per node) when
        O(kube_proxy_configmap) is not given. A missing ConfigMap (404) makes 4.3.1 C(info) (no kube-proxy in
        the cluster); a kubeconfig that cannot be used or an API that cannot be asked makes it C(warn) with the
        reason (the rest of the audit is not affected).
    type: path
  context:
    description: Kubeconfig context for O(kubeconfig).
    type: str
  kube_proxy_config:
    description:
      - The kube-proxy configuration read from the cluster. Filled in by the action plugin from
        O(kube_proxy_configmap) or O(kubeconfig); set it only when calling the module without its action plugin.
      - 'Keys: C(source) (where it came from) and one of C(config) (the KubeProxyConfiguration), C(error),
        C(absent), C(unavailable) (why there is none).'
    type: dict
  findings_file:
    description:
      - Path on the controller where the action plugin also writes the findings as JSON (directories are
        created, the write is atomic). Not written in check mode. The module on the node ignores it.
    type: path
  currency:
    description:
      - Also assess whether the node is current, in the same call (no extra SSH round trip) - pending security
        updates (Debian/Ubuntu from dpkg status and the apt lists of the security suites; RHEL family from the rpm
        database and dnf/yum's cached updateinfo, with the advisories' severities), a pending reboot, automatic
        security updates, kubelet / containerd / CRI-O / runc versions, the kubelet's skew against kube-apiserver and
        runc / containerd releases older than the fixes of known container-escape CVEs.
      - Read-only and offline; findings C(KS-NODE-001) to C(KS-NODE-008) of source C(node-currency)
        (docs/node-currency.md). Nothing is read from the network.
    type: bool
    default: false
  currency_data:
    description:
      - The dated CVE table and settings of the currency checks. Filled in by the action plugin from the
        collection's C(data/node-currency/container-escape-cves.yml); set it only when calling the module without
        its action plugin.
    type: dict
  control_plane_version:
    description:
      - The kube-apiserver version the kubelet's skew is judged against (C(v1.33.1)). When not given, the action
        plugin reads C(kubernetes_version) of O(cluster_facts) when that file exists, and a control-plane node
        uses its own kube-apiserver manifest's image tag. Without any, the skew check is C(info).
    type: str
  cluster_facts:
    description:
      - Path on the controller of the cluster facts written by C(playbooks/onboard.yml)
        (C(reports/<cluster>/cluster_facts.json)); a missing file is ignored.
    type: path
  currency_file:
    description:
      - Path on the controller where the action plugin writes the currency findings (source C(node-currency)) as
        JSON, apart from the CIS findings. Without it they are added to O(findings_file).
    type: path
requirements:
  - PyYAML on the node (python3-yaml)
notes:
  - The module never changes anything.
seealso:
  - module: kubesec.cluster.kube_bench
  - module: kubesec.cluster.kubelet_config
"""

EXAMPLES = r"""
- name: Audit a worker node against CIS v1.12
  kubesec.cluster.cis_node_audit:
    benchmark: cis-1.12
  register: cis

- name: Audit a kubeadm worker, with CIS 4.3.1 judged from the exported kube-proxy ConfigMap
  kubesec.cluster.cis_node_audit:
    benchmark: cis-1.12
    kube_proxy_configmap: exports/kube-proxy-configmap.yaml

- name: Audit a worker and say whether it is current (security updates, reboot, kubelet skew) in the same call
  kubesec.cluster.cis_node_audit:
    benchmark: cis-1.12
    currency: true
    control_plane_version: v1.33.1

- name: Audit a mounted node tree, with one control waived
  kubesec.cluster.cis_node_audit:
    root: /mnt/node-backup
    node_name: worker-7
    cluster: prod
    controls:
      "4.2.12":
        enabled: false
        reason: legacy TLS clients until 2027-01
"""

RETURN = r"""
policies_note:
  description: Where CIS section 5 is evaluated, when O(targets) asks for C(policies) (the same text is warned).
  returned: when targets contains policies
  type: str
findings:
  description: One normalized finding per check (see docs/findings.schema.json).
  returned: always
  type: list
  elements: dict
  sample:
    - id: CIS-4.2.1
      source: cis-node
      status: pass
      severity: critical
      title: Ensure that the --anonymous-auth argument is set to false
      evidence: {expected: "== false", actual: "false", source: "authentication.anonymous.enabled in /var/lib/kubelet/config.yaml"}
summary:
  description: Counts by status.
  returned: always
  type: dict
  sample: {pass: 15, fail: 2, warn: 5, info: 3, waived: 0, total: 25}
benchmark:
  description: The benchmark version evaluated (a distribution catalogue's name on k3s).
  returned: always
  type: str
  sample: cis-1.12
distribution:
  description: The layout audited (detected when O(distribution=auto)).
  returned: always
  type: str
  sample: k3s
distribution_note:
  description: Why the audit did not use a catalogue for the node's own layout, or null.
  returned: always
  type: str
components:
  description:
    - Where each component's settings were read from (unit files, config path, parse errors).
    - C(config_files) lists the config file and its C(--config-dir) drop-ins in merge order; C(no_config) says why
      no config file is in use (a kubelet without C(--config)); C(cluster_source) names the kube-proxy ConfigMap.
  returned: always
  type: dict
currency:
  description:
    - What the currency checks read (O(currency=true)); C(summary) is the node's currency line in the report.
    - C(pending) lists each package with its installed and fixed version (and advisory and severity on RHEL).
  returned: when O(currency=true)
  type: dict
  sample:
    family: debian
    summary: {pending_security: 2, reboot_required: true, kubelet: "1.33.1", runc: "1.1.5", skew: ok}
currency_findings:
  description: The currency findings (source C(node-currency)), also in O(currency_file) when given.
  returned: when O(currency=true)
  type: list
  elements: dict
findings_file:
  description: The controller path the findings were written to.
  returned: when O(findings_file) was given and not in check mode
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kubesec.cluster.plugins.module_utils import _cis, _managed, _node_currency, _rancher
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages, printable


def _cluster_configs(module, kube_proxy):
    """kube_proxy_config (from the action plugin) -> cluster_configs for the evaluator, checked by key."""
    if not kube_proxy:
        return {}
    known = ("config", "error", "absent", "unavailable")
    if not any(kube_proxy.get(k) is not None for k in known) or set(kube_proxy) - {*known, "source"}:
        module.fail_json(msg="kube_proxy_config must hold source and one of %s; got keys %s" % (", ".join(known), ", ".join(sorted(kube_proxy))))
    if kube_proxy.get("config") is not None and not isinstance(kube_proxy["config"], dict):
        module.fail_json(msg="kube_proxy_config.config must be a KubeProxyConfiguration mapping")
    return {"kube-proxy": kube_proxy}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            benchmark=dict(type="str", default="cis-1.12"),
            catalogue=dict(type="dict"),
            distribution=dict(type="str", default="auto", choices=["auto", "kubeadm", "k3s", "rke2", "eks", "gke", "aks"]),
            distribution_catalogues=dict(type="dict"),
            root=dict(type="path", default="/"),
            targets=dict(type="list", elements="str", default=["node"], choices=["master", "node", "controlplane", "etcd", "policies"]),
            cluster=dict(type="str"),
            node_name=dict(type="str"),
            controls=dict(type="dict", default={}),
            findings_file=dict(type="path"),
            kube_proxy_configmap=dict(type="path"),
            kubeconfig=dict(type="path"),
            context=dict(type="str"),
            kube_proxy_config=dict(type="dict"),
            currency=dict(type="bool", default=False),
            currency_data=dict(type="dict"),
            control_plane_version=dict(type="str"),
            cluster_facts=dict(type="path"),
            currency_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    if not _cis.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (python3-yaml)"))
    params = module.params
    if not params["catalogue"]:
        module.fail_json(msg="no catalogue: run this module through its action plugin (kubesec.cluster.cis_node_audit) or pass catalogue")
    catalogue, distribution, note = choose_catalogue(params)
    try:
        findings, context = _cis.audit_node(
            params["root"],
            catalogue,
            targets=params["targets"],
            cluster=params["cluster"],
            node=params["node_name"],
            controls=params["controls"],
            cluster_configs=_cluster_configs(module, params["kube_proxy_config"]),
        )
    except _cis.CatalogueError as exc:
        module.fail_json(msg="CIS catalogue %s is invalid: %s" % (params["benchmark"], exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg=printable("cannot read node files below %s: %s" % (params["root"], exc)), exception=traceback.format_exc())
    extra = {}
    if params["currency"]:
        extra = currency(module, params)
    if "policies" in params["targets"]:
        extra["policies_note"] = POLICIES_NOTE
        module.warn(POLICIES_NOTE)
    module.exit_json(
        changed=False,
        findings=findings,
        summary=_cis.summarize(findings),
        benchmark=context["benchmark"],
        components=context["components"],
        distribution=distribution,
        distribution_note=note,
        **extra,
    )


def currency(module, params):
    """The node-currency findings and what they were read from (same call, read-only)."""
    if params["currency_data"] is None:
        module.fail_json(
            msg="currency: true needs currency_data: run this module through its action plugin (kubesec.cluster.cis_node_audit) or pass currency_data"
        )
    try:
        found, state = _node_currency.assess(
            params["root"], params["currency_data"], cluster=params["cluster"], node=params["node_name"], control_plane_version=params["control_plane_version"]
        )
    except (IOError, OSError, _node_currency.CurrencyError) as exc:
        module.fail_json(msg=printable("currency: cannot read node files below %s: %s" % (params["root"], exc)))
    return {"currency": state, "currency_findings": found}


POLICIES_NOTE = (
    "CIS section 5 (target policies) is decided from cluster objects, not node files: run "
    "kubesec.cluster.cluster_policy_audit, or the collect role with kubesec_collect.policies "
    "(docs/cis-coverage.md); cis_node_audit evaluates nothing for it"
)


def choose_catalogue(params):
    """(catalogue, distribution, note): the distribution's own catalogue when it has one, else the one given."""
    distribution = params["distribution"]
    if distribution == "auto":
        distribution = _rancher.detect(params["root"]) or _managed.detect(params["root"]) or "kubeadm"
    own = (params["distribution_catalogues"] or {}).get(distribution)
    if own:
        return own, distribution, None
    note = None
    if distribution != "kubeadm":
        note = "no %s catalogue is shipped: audited with %s, whose kubeadm file locations a %s node does not use" % (
            distribution,
            params["catalogue"].get("version") or params["benchmark"],
            distribution,
        )
    return params["catalogue"], distribution, note


if __name__ == "__main__":
    main()
