#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: run_files
short_description: Write the small files of a run on the controller, in one step
version_added: 0.1.0
description:
  - Runs on the controller only (action plugin, no module process); it creates directories and writes files under
    O(dest), each atomically (temporary file in the same directory, then rename), only when its content changed.
  - Used by the collect role for C(meta/sources.json) and the cluster-wide sources' findings and meta files, where a
    C(file) and a delegated C(copy) per file cost a module process each (about a second per task on a busy
    controller; benchmarks/fleet).
  - Every path is relative to O(dest) and must stay inside it.
author:
  - kubesec contributors (@kubesec)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode nothing is written; RV(changed_files) says what would change.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Contents are shown for files up to 64 KiB, else only their sizes.
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options:
  dest:
    description: Directory on the controller the paths are relative to (a run folder, C(<reports>/<cluster>/<run_id>)).
    type: path
    required: true
  files:
    description: The files to write.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Path relative to O(dest), without C(..).
        type: str
        required: true
      content:
        description: The text to write (a string; use C(to_nice_json) for data).
        type: str
        required: true
  directories:
    description: Directories (relative to O(dest)) that must exist even when no file is written into them.
    type: list
    elements: str
    default: []
  mode:
    description: Mode of the files written.
    type: str
    default: "0640"
  directory_mode:
    description: Mode of the directories created.
    type: str
    default: "0750"
"""

EXAMPLES = r"""
- name: The findings and meta folders of the run, and meta/sources.json
  kubesec.cluster.run_files:
    dest: "{{ reports_dir }}/{{ kubesec_cluster }}/{{ kubesec_run_id }}"
    directories: [findings, meta]
    files:
      - path: meta/sources.json
        content: "{{ {'schema': 'kubesec.collect.sources/v1', 'sources': {}} | to_nice_json }}"
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: Every file given (relative paths).
  returned: always
  type: list
  elements: str
changed_files:
  description: The files whose content changed (or would change in check mode).
  returned: always
  type: list
  elements: str
created_directories:
  description: The O(directories) entries that did not exist.
  returned: always
  type: list
  elements: str
written:
  description: The files written (empty in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            files=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    path=dict(type="str", required=True),
                    content=dict(type="str", required=True),
                ),
            ),
            directories=dict(type="list", elements="str", default=[]),
            mode=dict(type="str", default="0640"),
            directory_mode=dict(type="str", default="0750"),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="kubesec.cluster.run_files runs on the controller through its action plugin")


if __name__ == "__main__":
    main()
