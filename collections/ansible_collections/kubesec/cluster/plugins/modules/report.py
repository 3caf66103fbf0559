#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: report
short_description: Render the consolidated security report of one cluster run (HTML, PDF, JSON)
version_added: 0.1.0
description:
  - Runs on the controller (action plugin). Merges every findings file in
    C(<reports_dir>/<cluster>/<run_id>/findings/), applies the inventory's waivers (expired ones no longer
    apply and are called out), compares with the previous run of the same cluster by fingerprint, and writes
    C(report.json), C(report.html) (self-contained, inline CSS and SVG) and C(report.pdf) (WeasyPrint).
  - Everything from a cluster is treated as untrusted text; templates escape it.
  - Files are written atomically; a failed render leaves the previous files as they were.
author:
  - kubesec contributors (@kubesec)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode the report is computed but no file is written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options:
  cluster:
    description: Cluster name (the folder under O(reports_dir)).
    type: str
    required: true
  run_id:
    description: Run id (the folder under the cluster), for example C(20261124T053200Z).
    type: str
    required: true
  reports_dir:
    description: Root of the reports tree on the controller.
    type: path
    required: true
  formats:
    description: Which files to write.
    type: list
    elements: str
    choices: [json, html, pdf]
    default: [json, html, pdf]
  waivers:
    description:
      - Accepted risks, each C({id, reason, expires, scope}). The C(id) may end in C(*) to match a prefix.
      - The C(scope) may hold C(cluster), C(node), C(namespace) and C(resource) (kind/name/namespace/container).
    type: list
    elements: dict
    default: []
  today:
    description: Date used to decide whether a waiver has expired (YYYY-MM-DD). Defaults to today.
    type: str
  pdf_rows_per_section:
    description: How many rows each PDF section shows before pointing to the HTML and JSON for the rest.
    type: int
    default: 150
"""

EXAMPLES = r"""
- name: Write the report of this run
  kubesec.cluster.report:
    cluster: prod
    run_id: "{{ kubesec_run_id }}"
    reports_dir: "{{ playbook_dir }}/../reports"
    waivers:
      - id: CIS-4.2.12
        reason: legacy TLS clients, replacement planned
        expires: "2027-03-31"
"""

RETURN = r"""
files:
  description: Paths of the files written, by format.
  returned: always
  type: dict
  sample: {json: reports/prod/20261124T053200Z/report.json, html: reports/prod/20261124T053200Z/report.html}
summary:
  description: Totals by status, open problems by severity, counts per source.
  returned: always
  type: dict
previous_run_id:
  description: The run this one was compared with, or null on the first run.
  returned: always
  type: str
changes:
  description: Counts of new, fixed and regressed findings since the previous run (null on the first run).
  returned: always
  type: dict
expired_waivers:
  description: Ids of waivers whose expiry date has passed.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            run_id=dict(type="str", required=True),
            reports_dir=dict(type="path", required=True),
            formats=dict(type="list", elements="str", default=["json", "html", "pdf"], choices=["json", "html", "pdf"]),
            waivers=dict(type="list", elements="dict", default=[]),
            today=dict(type="str"),
            pdf_rows_per_section=dict(type="int", default=150),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="kubesec.cluster.report runs on the controller through its action plugin")


if __name__ == "__main__":
    main()
