#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: report_index
short_description: Write the multi-cluster index page of the reports folder
version_added: 0.1.0
description:
  - Runs on the controller (action plugin). Finds the latest run with a C(report.json) of every cluster folder
    under O(reports_dir) and writes C(index.html) (self-contained, no script) and C(index.json) there, linking
    each cluster's latest report with its headline numbers (open problems, critical and high, new and fixed since
    the run before, grade and score per area, gate result).
  - Only the headline of each report is read (the first lines of report.json), never its findings.
  - The report role runs it once per play, after every cluster's report.
author:
  - kubesec contributors (@kubesec)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode the index is computed but not written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options:
  reports_dir:
    description: Root of the reports tree on the controller (one folder per cluster).
    type: path
    required: true
  run_id:
    description: Id of the run that just finished; clusters whose latest report is this run are highlighted.
    type: str
"""

EXAMPLES = r"""
- name: Write reports/index.html once, after every cluster's report
  kubesec.cluster.report_index:
    reports_dir: "{{ playbook_dir }}/../reports"
    run_id: "{{ kubesec_run_id }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: Paths written (html, json); empty in check mode.
  returned: always
  type: dict
clusters:
  description: One entry per cluster (cluster, run_id, open, gates_failed, error).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages


def main():
    module = AnsibleModule(
        argument_spec=dict(
            reports_dir=dict(type="path", required=True),
            run_id=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    module.fail_json(msg="kubesec.cluster.report_index runs on the controller through its action plugin")


if __name__ == "__main__":
    main()
