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
  - Checks are data (a catalogue per benchmark version in the collection's C(data/cis/) folder); the
    action plugin of the same name loads the catalogue on the controller and passes it to the node.
  - An unscored (Manual) check that fails is reported as C(warn), as kube-bench does.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes.READ_ONLY
  - kubesec.cluster.attributes.NODE_ROOT
options:
  benchmark:
    description:
      - CIS benchmark version; a file C(data/cis/<benchmark>.yml) must exist in the collection.
    type: str
    default: cis-1.12
  catalogue:
    description:
      - The parsed catalogue. Filled in by the action plugin from O(benchmark); set it only to audit
        against a catalogue of your own.
    type: dict
  targets:
    description:
      - Which parts of the benchmark to evaluate (kube-bench target names).
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
  findings_file:
    description:
      - Path on the controller where the action plugin also writes the findings as JSON (directories are
        created, the write is atomic). Not written in check mode. The module on the node ignores it.
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
  description: The benchmark version evaluated.
  returned: always
  type: str
  sample: cis-1.12
components:
  description: Where each component's settings were read from (unit files, config path, parse errors).
  returned: always
  type: dict
findings_file:
  description: The controller path the findings were written to.
  returned: when O(findings_file) was given and not in check mode
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kubesec.cluster.plugins.module_utils import _cis
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import printable


def main():
    module = AnsibleModule(
        argument_spec=dict(
            benchmark=dict(type="str", default="cis-1.12"),
            catalogue=dict(type="dict"),
            root=dict(type="path", default="/"),
            targets=dict(type="list", elements="str", default=["node"],
                         choices=["master", "node", "controlplane", "etcd", "policies"]),
            cluster=dict(type="str"),
            node_name=dict(type="str"),
            controls=dict(type="dict", default={}),
            findings_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    if not _cis.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (python3-yaml)"))
    params = module.params
    if not params["catalogue"]:
        module.fail_json(msg="no catalogue: run this module through its action plugin (kubesec.cluster.cis_node_audit)"
                             " or pass catalogue")
    try:
        findings, context = _cis.audit_node(params["root"], params["catalogue"], targets=params["targets"],
                                            cluster=params["cluster"], node=params["node_name"],
                                            controls=params["controls"])
    except _cis.CatalogueError as exc:
        module.fail_json(msg="CIS catalogue %s is invalid: %s" % (params["benchmark"], exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg=printable("cannot read node files below %s: %s" % (params["root"], exc)),
                         exception=traceback.format_exc())
    module.exit_json(changed=False, findings=findings, summary=_cis.summarize(findings),
                     benchmark=context["benchmark"], components=context["components"])


if __name__ == "__main__":
    main()
