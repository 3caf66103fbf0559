#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: kube_bench
short_description: Read kube-bench JSON results into normalized findings
version_added: 0.1.0
description:
  - Reads the JSON that C(kube-bench run --json) writes, in both shapes (the object with C(Controls) and
    C(Totals), and the bare array of C(--nototals)), and returns normalized findings.
  - Findings use the same ids as M(kubesec.cluster.cis_node_audit) (C(CIS-4.2.1)) so both can be compared
    or mixed in one report; the source is C(kube-bench).
  - The action plugin of the same name adds severities from the collection's CIS catalogue.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes.READ_ONLY
options:
  path:
    description: Path of a kube-bench JSON file on the host the module runs on. Mutually exclusive with O(content).
    type: path
  content:
    description: kube-bench JSON as text. Mutually exclusive with O(path).
    type: str
  benchmark:
    description: CIS catalogue used for severities (the action plugin loads it).
    type: str
    default: cis-1.12
  catalogue:
    description: The parsed CIS catalogue; filled in by the action plugin.
    type: dict
  cluster:
    description: Cluster name stamped on every finding. Defaults to the C(kubesec_cluster) host variable.
    type: str
  node_name:
    description: Node the results belong to. Defaults to the inventory hostname.
    type: str
"""

EXAMPLES = r"""
- name: Ingest a kube-bench result that was collected from a node
  kubesec.cluster.kube_bench:
    path: /var/tmp/kube-bench.json
    node_name: worker-1
  delegate_to: localhost
  register: kb
"""

RETURN = r"""
findings:
  description: One normalized finding per kube-bench check.
  returned: always
  type: list
  elements: dict
summary:
  description: Counts by status.
  returned: always
  type: dict
  sample: {pass: 17, fail: 3, warn: 5, info: 0, waived: 0, total: 25}
totals:
  description: kube-bench's own C(Totals), when the input had them.
  returned: always
  type: dict
benchmarks:
  description: Benchmark versions named in the input.
  returned: always
  type: list
  elements: str
skips:
  description:
    - Entries that could not be read (with where they were), never silently dropped.
    - Not called C(skipped), which Ansible would take for a skipped task.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.kubesec.cluster.plugins.module_utils import _kube_bench
from ansible_collections.kubesec.cluster.plugins.module_utils._cis import summarize


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            content=dict(type="str"),
            benchmark=dict(type="str", default="cis-1.12"),
            catalogue=dict(type="dict"),
            cluster=dict(type="str"),
            node_name=dict(type="str"),
        ),
        mutually_exclusive=[("path", "content")],
        required_one_of=[("path", "content")],
        supports_check_mode=True,
    )
    params = module.params
    name = params["path"] or "content"
    if params["path"]:
        try:
            with open(params["path"], "rb") as handle:
                text = to_text(handle.read(), errors="surrogate_or_strict")
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot read kube-bench JSON %s: %s" % (params["path"], exc))
    else:
        text = params["content"]
    try:
        document = _kube_bench.loads(text, name)
        findings, info = _kube_bench.to_findings(document, name, cluster=params["cluster"],
                                                 node=params["node_name"], catalogue=params["catalogue"])
    except _kube_bench.KubeBenchError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, findings=findings, summary=summarize(findings), totals=info["totals"] or {},
                     benchmarks=info["benchmarks"], skips=info["skipped"])


if __name__ == "__main__":
    main()
