#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: report
short_description: Render the consolidated security report of one cluster run (HTML, PDF, JSON, JUnit, SARIF)
version_added: 0.1.0
description:
  - Runs on the controller (action plugin). Merges every findings file in
    C(<reports_dir>/<cluster>/<run_id>/findings/), applies the inventory's waivers (expired ones no longer
    apply and are called out), compares with the previous run of the same cluster by fingerprint, and writes
    C(report.json) (schema C(docs/report.schema.json)), C(report.html) (self-contained, inline CSS, SVG and a small
    hashed inline script), C(report.pdf) (WeasyPrint print design), C(junit.xml) and C(results.sarif) (SARIF 2.1.0).
  - The report starts with an executive summary (totals, a grade and score per area with the method printed in
    the report, the change since the previous run, a history chart of the kept runs), then one section per source
    (CIS nodes, control plane, kube-bench, audit logging, workloads, configuration audit, vulnerabilities, exposed
    secrets, RBAC, infrastructure, Falco events), the feature state, the containment actions recorded under
    C(<reports_dir>/<cluster>/actions/), and the waivers. Sections without data say what was not collected.
  - Also reads C(<run_dir>/meta/*.json) (workload_rules, sources, trivy_reports, falco_groups, audit_log_summary)
    when present; absent or broken files are reported, never fatal.
  - Large runs are streamed (one finding at a time); tables are capped per section and the cap is stated.
  - Everything from a cluster is treated as untrusted text; templates escape it.
  - Files are written atomically; a failed render leaves the previous files as they were.
  - The CI gates of O(fail_on) are only evaluated here (RV(gates)); the report role fails the play after every
    file, including the multi-cluster index, is written.
author:
  - kubesec contributors (@kubesec)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode the report is computed (and the gates evaluated) but no file is written.
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
    choices: [json, html, pdf, junit, sarif]
    default: [json, html, pdf, junit, sarif]
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
    description:
      - How many rows each PDF section shows before pointing to the HTML and JSON for the rest.
      - WeasyPrint lays out about 80 table rows per second, so the PDF stays a designed summary.
    type: int
    default: 50
  html_rows_per_section:
    description: How many rows each HTML table shows; report.json always holds every finding.
    type: int
    default: 500
  history_runs:
    description: How many runs (this one included) the history chart and table show.
    type: int
    default: 12
  features:
    description:
      - "Feature state of the cluster, shown in the report, for example
        C({falco: {enabled: true, ui: false, channels: [telegram]}, trivy_operator: {enabled: true}, audit_logging: {enabled: true}})."
      - Only booleans, mappings of booleans and known alert channel names are kept; any other value (a password,
        token or URL passed by mistake) is dropped and only its key is listed.
      - C(applied) false (render_only) shows the feature as "rendered, not applied"; without it, a top-level
        C(applied) false in the rendered metadata (C(reports/<cluster>/rendered/<feature>/render.json)) does.
    type: dict
    default: {}
  fail_on:
    description:
      - "CI gates, for example C({severity: high, new_only: true, cis_fail: true})."
      - C(severity) lowest failing severity (critical, high, medium, low, info, unknown, none); C(statuses) which
        statuses count (default C([fail]), add C(warn)); C(new_only) only findings new or regressed since the
        previous run; C(cis_fail) any CIS check FAIL; C(sources) limit the severity gate to these sources;
        C(expired_waivers) any expired waiver; C(min_score) any scored area below it; C(max_open) more open
        problems than this.
      - C(incomplete) true fails when an area is not assessed because a source failed; a list of areas (nodes,
        control_plane, workloads, vulnerabilities, rbac, runtime, audit_log) fails when any of them is not assessed.
      - Unknown keys are an error, so a typo cannot switch a gate off silently.
    type: dict
    default: {}
  use_latest_run:
    description:
      - When no folder exists for O(run_id) (C(playbooks/report.yml) run alone makes a new id), re-render the latest
        run of the cluster that has findings, with a warning naming it. A run folder without findings is always an
        error that names the runs that can be rendered (C(-e kubesec_run_id=<id>)).
    type: bool
    default: true
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
    features:
      falco: {enabled: true, channels: [telegram]}
      trivy_operator: {enabled: true}
    fail_on:
      severity: high
      new_only: true
      cis_fail: true
  register: report

- name: Fail the job on a gate, after the files are written
  ansible.builtin.fail:
    msg: "{{ report.gates.message }}"
  when: report.gates.failed
"""

RETURN = r"""
files:
  description: Paths of the files written, by format.
  returned: always
  type: dict
  sample: {json: reports/prod/20261124T053200Z/report.json, html: reports/prod/20261124T053200Z/report.html}
run_id:
  description: The run rendered (the latest run with findings when O(run_id) had no folder and O(use_latest_run)).
  returned: always
  type: str
run_dir:
  description: The run folder.
  returned: always
  type: str
summary:
  description: Totals by status, open problems by severity, counts per source.
  returned: always
  type: dict
headline:
  description: The small per-run numbers stored in report.json for the history and the index.
  returned: always
  type: dict
areas:
  description:
    - Grade and score per area (nodes, control plane, workloads, vulnerabilities, RBAC, runtime, audit log).
    - C(assessed) false with C(grade) null and C(not_assessed) saying why (a source failed, none ran).
  returned: always
  type: list
  elements: dict
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
gates:
  description:
    - The CI gates of O(fail_on) - C(enabled), C(failed), C(hits) (gate, count, examples), C(message), C(line) (one
      line for the console) and C(note) (what the severity gate did not count, e.g. critical WARN results).
  returned: always
  type: dict
console:
  description: The five summary lines the report role prints (grades, open problems, audit-log incidents, gates and
    changes, where the report is); control characters from cluster data shown escaped.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            run_id=dict(type="str", required=True),
            reports_dir=dict(type="path", required=True),
            formats=dict(type="list", elements="str", default=["json", "html", "pdf", "junit", "sarif"], choices=["json", "html", "pdf", "junit", "sarif"]),
            waivers=dict(type="list", elements="dict", default=[]),
            today=dict(type="str"),
            pdf_rows_per_section=dict(type="int", default=50),
            html_rows_per_section=dict(type="int", default=500),
            history_runs=dict(type="int", default=12),
            features=dict(type="dict", default={}),
            use_latest_run=dict(type="bool", default=True),
            fail_on=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    module.fail_json(msg="kubesec.cluster.report runs on the controller through its action plugin")


if __name__ == "__main__":
    main()
