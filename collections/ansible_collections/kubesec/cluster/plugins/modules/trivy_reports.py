#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: trivy_reports
short_description: Read Trivy Operator reports into normalized findings
version_added: 0.1.0
description:
  - Reads the reports the Trivy Operator stores as custom resources (C(aquasecurity.github.io/v1alpha1)) and returns
    one normalized finding per vulnerability, configuration or RBAC check, infrastructure check and exposed secret.
  - Reads them from the Kubernetes API (O(kubeconfig), O(context), or the in-cluster service account), paging with
    C(limit)/C(continue), or from export files (O(path)) written by C(kubectl get <kind> -A -o yaml) or C(-o json),
    including multi-document YAML.
  - Check ids are normalized (C(KSV001), C(KSV-0001) and C(AVD-KSV-0001) all become C(KSV-0001)). A missing or
    C(UNKNOWN) severity is derived from the CVSS score; unrecognized severities become C(unknown) and are counted.
  - Vulnerabilities and exposed secrets are failures; checks are C(pass) when the report lists them with
    C(success=true) (only when the operator records passed checks) and C(fail) otherwise.
  - C(SbomReport) and C(ClusterSbomReport) (a CycloneDX SBOM per image) make no findings; each is listed in
    RV(reports) with its component counts. C(ClusterComplianceReport) (NSA, CIS, PSS compliance computed by the
    operator from the other reports) makes no findings either, which would repeat those reports; its summary (pass
    and fail counts, each control with its failures) is returned in RV(compliance) and in C(summary.compliance).
  - The matched text of exposed secrets is never copied into findings.
  - Entries with missing fields are skipped and counted in RV(skips) and in Ansible warnings; malformed files fail
    with the file name and document number.
  - One bad record does not lose the others. A record whose text is not valid Unicode (a lone UTF-16 surrogate
    escape such as C(\ud800), which JSON allows) is left out and named, with its file, document and index, in
    RV(skips). JSON nested deeper than about 1000 levels fails with the file name.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes.READ_ONLY
  - kubesec.cluster.cluster
requirements:
  - kubernetes (Python library) when reading from the API
  - PyYAML when reading YAML exports
options:
  path:
    description:
      - Export file or directory (read recursively; C(.yaml), C(.yml) and C(.json) files) on the host the module runs
        on. A file may hold a C(List), several YAML documents, a JSON array or single report objects.
      - When set, the API is not contacted. Mutually exclusive with O(kubeconfig) and O(context).
    type: path
  kubeconfig:
    description:
      - Path of the kubeconfig file. Without it and without O(path), C($KUBECONFIG) or C(~/.kube/config) is used,
        or the in-cluster service account when the module runs in a Pod.
      - The content of a kubeconfig given here by mistake is refused without repeating it (the option is C(no_log) because it
        may hold a token).
    type: path
  context:
    description: Context of the kubeconfig to use. Defaults to the current context.
    type: str
  namespaces:
    description:
      - Only read namespaced reports from these namespaces. Cluster-scoped kinds are not affected; leave them out
        with O(kinds).
      - Empty means all namespaces.
    type: list
    elements: str
    default: []
  kinds:
    description:
      - Report kinds to read. Empty means all of them.
      - From the API, a kind whose CRD is not installed is a warning when O(kinds) is empty and an error when it was
        asked for.
    type: list
    elements: str
    default: []
    choices:
      - VulnerabilityReport
      - ClusterVulnerabilityReport
      - ConfigAuditReport
      - ClusterConfigAuditReport
      - ExposedSecretReport
      - RbacAssessmentReport
      - ClusterRbacAssessmentReport
      - InfraAssessmentReport
      - ClusterInfraAssessmentReport
      - SbomReport
      - ClusterSbomReport
      - ClusterComplianceReport
  limit:
    description: Page size for list requests to the API (C(limit) parameter); V(0) lists without paging.
    type: int
    default: 500
  cluster:
    description: Cluster name stamped on every finding.
    type: str
  max_findings:
    description:
      - Return at most this many findings; the most severe failures are kept. RV(summary.findings) still gives the
        true count and RV(summary.truncated) says whether findings were left out.
    type: int
"""

EXAMPLES = r"""
- name: Read every Trivy Operator report of the cluster
  kubesec.cluster.trivy_reports:
    kubeconfig: ~/.kube/config
    context: prod
    cluster: prod
  delegate_to: localhost
  register: trivy

- name: Only vulnerabilities and config audits of two namespaces, at most 2000 findings
  kubesec.cluster.trivy_reports:
    kinds: [VulnerabilityReport, ConfigAuditReport]
    namespaces: [shop, payments]
    max_findings: 2000
  delegate_to: localhost

- name: Read exports made with kubectl get vulnerabilityreports -A -o yaml > vulns.yaml
  kubesec.cluster.trivy_reports:
    path: "{{ playbook_dir }}/exports/trivy-operator"
    cluster: demo
  delegate_to: localhost
"""

RETURN = r"""
findings:
  description: Normalized findings (see C(docs/findings.schema.json)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: CVE-2023-44487
      source: trivy-vulnerability
      title: "HTTP/2: Multiple HTTP/2 enabled web servers are vulnerable to a DDoS attack (Rapid Reset Attack)"
      status: fail
      severity: high
      score: 7.5
      namespace: shop
      resource: {kind: ReplicaSet, name: frontend-6f7c9d8b54, namespace: shop, container: nginx}
      evidence: {package: libnghttp2-14, installed_version: 1.52.0-1, fixed_version: 1.52.0-1+deb12u1}
reports:
  description: One entry per report read, with the scanned resource and the summary counts of the report.
  returned: always
  type: list
  elements: dict
  sample:
    - kind: VulnerabilityReport
      name: replicaset-frontend-6f7c9d8b54-nginx
      namespace: shop
      resource: {kind: ReplicaSet, name: frontend-6f7c9d8b54, namespace: shop, container: nginx}
      container: nginx
      summary: {criticalCount: 1, highCount: 4, mediumCount: 4, lowCount: 2, unknownCount: 0}
      findings: 11
summary:
  description:
    - Totals. C(findings) is the true number of findings (also when O(max_findings) cut the list), C(returned) how
      many were returned. C(by_severity) and the severity columns of C(by_kind) count failed findings only.
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
    reports:
      description: Number of reports read.
      type: int
    by_kind:
      description: Per report kind, the number of reports and findings and the failed findings per severity.
      type: dict
  sample:
    reports: 27
    findings: 112
    returned: 112
    truncated: false
    by_severity: {critical: 12, high: 33, medium: 31, low: 30, info: 0, unknown: 0}
    by_status: {fail: 106, pass: 6}
    by_source: {trivy-vulnerability: 45, trivy-config: 41}
    by_kind: {VulnerabilityReport: {reports: 8, findings: 45, fail: 45, pass: 0, critical: 9, high: 15}}
    unrecognized_severity: 0
    severity_from_score: 1
    skipped: 0
skips:
  description:
    - Entries that could not be turned into findings, by reason, with up to three locations each.
    - The same problems, one line per reason, are also returned as Ansible warnings.
  returned: always
  type: list
  elements: dict
  sample:
    - {reason: vulnerability without vulnerabilityID, count: 2, examples: ["vulns.yaml document 1 item 3"]}
compliance:
  description:
    - One entry per C(ClusterComplianceReport), from its C(spec.compliance) and C(status) (C(status.summary), or
      C(status.totalCounts) in older operators; controls from C(status.summaryReport.controlCheck), else counted from
      C(status.detailReport.results)). The same list is in C(summary.compliance).
    - A control's C(status) is C(fail) when C(total_fail) > 0, C(pass) at 0, and C(manual) when the operator gives no
      count (controls it cannot evaluate).
  returned: always
  type: list
  elements: dict
  sample:
    - name: nsa
      id: "0001"
      title: nsa
      version: "1.0"
      pass_count: 15
      fail_count: 12
      controls_failed: 12
      controls_manual: 4
      controls:
        - {id: "1.0", name: Non-root containers, severity: medium, total_fail: 8, status: fail}
        - {id: "3.0", name: Use CNI plugin that supports NetworkPolicy API (Manual), severity: critical, status: manual}
sources:
  description: Files read, or the API lists made (resource, scope, object and page counts).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils import _kube, _trivy_operator


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            kubeconfig=dict(type="path", no_log=True),  # content given by mistake holds a token
            context=dict(type="str"),
            namespaces=dict(type="list", elements="str", default=[]),
            kinds=dict(type="list", elements="str", default=[], choices=list(_trivy_operator.REPORT_KIND_NAMES)),
            limit=dict(type="int", default=500),
            cluster=dict(type="str"),
            max_findings=dict(type="int"),
        ),
        mutually_exclusive=[("path", "kubeconfig"), ("path", "context")],
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    params = module.params
    if params["limit"] < 0:
        module.fail_json(msg="limit must be 0 (no paging) or a positive page size, got %d" % params["limit"])
    if params["max_findings"] is not None and params["max_findings"] < 0:
        module.fail_json(msg="max_findings must not be negative")
    kinds = params["kinds"] or None
    namespaces = params["namespaces"] or None
    try:
        if params["path"]:
            result = _trivy_operator.collect_from_path(
                params["path"], kinds=kinds, namespaces=namespaces, cluster=params["cluster"], max_findings=params["max_findings"]
            )
        else:
            if not _kube.HAS_KUBERNETES:
                module.fail_json(msg=missing_required_lib("kubernetes"), exception=_kube.KUBERNETES_IMPORT_ERROR)
            client = _kube.build_client(kubeconfig=params["kubeconfig"], context=params["context"])
            result = _trivy_operator.collect_from_api(
                client,
                _kube.list_all,
                kinds=kinds,
                namespaces=namespaces,
                cluster=params["cluster"],
                max_findings=params["max_findings"],
                limit=params["limit"],
                not_found_is_error=bool(kinds),
                not_found_error=_kube.KubeNotFoundError,
            )
    except (_trivy_operator.TrivyInputError, _kube.KubeApiError) as exc:
        module.fail_json(msg=str(exc))
    for line in result.pop("warnings"):
        module.warn(line)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
