#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: workload_audit
short_description: Audit Kubernetes workloads against the KS-WL data-plane rules
version_added: 0.1.0
description:
  - Evaluates Kubernetes objects natively, without a cluster or an admission controller, against 30 rules
    (C(KS-WL-001) .. C(KS-WL-030)) modelled on the Defender for Cloud data-plane recommendations, the Gatekeeper
    library, Trivy KSV checks and every control of the Pod Security Standards (baseline and restricted), plus two
    hygiene rules (probes, resource requests; severity low). The rule table, the PSS control map and the
    framework mappings (CIS, NSA/CISA, MITRE ATT&CK) are in C(docs/workload-rules.md).
  - Reads manifest files or directories (multi-document YAML, C(List) kinds, rendered Helm output, JSON) and/or
    a list of objects a playbook fetched from the API.
  - Covers every pod controller (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
    ReplicationController, PodTemplate) and every container kind (containers, initContainers, ephemeralContainers).
    Objects controlled by another controller of the input (a ReplicaSet of a Deployment, the Pods of a
    ReplicaSet) are counted once, through their controller.
  - Findings use the normalized finding format (C(docs/findings.schema.json)) with source C(workload). A
    violation of a rule in mode C(audit) or C(deny) has status C(fail), in mode C(warn) status C(warn); the mode
    is in C(evidence.mode). The evidence names the offending field path and value.
  - Input the module cannot read as what it claims to be is never passed over in silence. Every object of a kind
    the rules read (pod controllers, Service, Ingress, NetworkPolicy, Namespace, ServiceAccount, RBAC) that is not
    a valid Kubernetes object - a Deployment or CronJob in apiVersion v1, a CronJob with an empty spec, a pod spec
    written as a list, no containers, no metadata.name, a document that is not a mapping or has no kind - is
    returned in RV(input_errors) with its file, document, kind and the reason, and warned about. Objects whose pod
    spec cannot be found are not evaluated; the others are evaluated as well. Objects of other API groups
    (custom resources) and other kinds are not audited and not errors.
  - "Usually run on the controller (C(delegate_to: localhost)); reading YAML needs PyYAML there."
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes.READ_ONLY
options:
  path:
    description:
      - A manifest file, or a directory searched recursively for C(*.yaml), C(*.yml) and C(*.json) files
        (hidden directories are skipped).
      - Malformed YAML or JSON fails the task with the file, the document number and the position.
    type: path
  objects:
    description:
      - Kubernetes objects as mappings (for example the C(resources) of M(kubernetes.core.k8s_info)), in the API's
        camelCase JSON form. C(List) objects are expanded. May be combined with O(path).
    type: list
    elements: dict
  rules:
    description:
      - Per-rule settings, keyed by rule id (C(KS-WL-007)) or short name (C(host_path)).
      - Each value is a mapping with C(enabled) (bool), C(mode) (C(audit), C(warn) or C(deny)), C(params) (the
        rule's parameters, see C(docs/workload-rules.md)), C(exclude_namespaces) (added to the global list) and
        C(exclude_images) (image prefixes, or regular expressions starting with C(^); they exempt the containers'
        own fields only, never pod-level fields such as C(hostNetwork) or C(hostPID)); C(true)/C(false) is short for
        C(enabled).
      - Rule C(KS-WL-002) (trusted registries) needs C(params.registries); while the list is empty (the default)
        the rule checks nothing and is reported as not configured (one C(info) finding saying how to configure it,
        and C(evaluated=false) in RV(rules)) rather than flagging every image.
      - Unknown rules, settings or parameters and wrong parameter types fail the task with a message naming the
        rule and the parameter.
    type: dict
    default: {}
  exclude_namespaces:
    description:
      - Namespaces excluded from every rule, in addition to C(kube-system), C(kube-public), C(kube-node-lease),
        C(falco) and C(trivy-system). Exact names, globs (C(team-*)), or regular expressions starting with C(^).
    type: list
    elements: str
    default: []
  include_system_namespaces:
    description:
      - Also audit the system namespaces C(kube-system), C(kube-public), C(kube-node-lease), C(falco) and
        C(trivy-system), excluded by default (add-ons and node agents there usually need privileges; auditing them
        shows which).
    type: bool
    default: false
  cluster:
    description: Cluster name stamped on every finding.
    type: str
  kubernetes_version:
    description:
      - Version of the cluster (C(v1.30.4), C(1.31), C(v1.30.2-eks-1234)) for rule C(KS-WL-017). Without it that
        rule is not evaluated (the returned C(rules) says so).
    type: str
  today:
    description:
      - Date (C(YYYY-MM-DD)) used to judge the support window of O(kubernetes_version); defaults to the current date.
        Set it for reproducible reports.
    type: str
  include_passed:
    description:
      - Also return C(pass) findings, one per object and rule that was evaluated without a violation (for a rule x
        workload matrix).
    type: bool
    default: false
notes:
  - Rule C(KS-WL-012) looks up the pod's ServiceAccount only among the input objects; C(KS-WL-018) needs Namespace
    and NetworkPolicy objects in the input (namespaces are otherwise inferred from the workloads); C(KS-WL-021)
    needs the (Cluster)Roles and (Cluster)RoleBindings.
seealso:
  - name: Pod Security Standards
    description: The Kubernetes baseline and restricted profiles several rules correspond to.
    link: https://kubernetes.io/docs/concepts/security/pod-security-standards/
"""

EXAMPLES = r"""
- name: Audit the rendered manifests of a release
  kubesec.cluster.workload_audit:
    path: "{{ playbook_dir }}/rendered/"
    cluster: prod-eu
    kubernetes_version: v1.33.4
    rules:
      KS-WL-002:
        params:
          registries: [registry.example.com/, "^ghcr\\.io/example/[a-z0-9-]+(:|@)"]
      host_path:
        params:
          allowed_host_paths:
            - {path_prefix: /var/log, read_only: true}
        # fluent-bit keeps its position database under /var/log: its mount may be writable (the hostPath
        # volume itself is still checked against allowed_host_paths)
        exclude_images: [cr.fluentbit.io/fluent/fluent-bit]
      KS-WL-010:
        mode: warn
      secrets_in_env: false
  delegate_to: localhost
  register: workload_audit

- name: Audit objects fetched from the API, with pass findings for the report matrix
  kubesec.cluster.workload_audit:
    objects: "{{ deployments.resources + namespaces.resources + network_policies.resources }}"
    exclude_namespaces: [monitoring]
    include_passed: true
    rules:
      trusted_registries: {enabled: false}
  delegate_to: localhost
"""

RETURN = r"""
findings:
  description: Normalized findings (C(docs/findings.schema.json)), source C(workload), ids C(KS-WL-001)..C(KS-WL-030).
  returned: always
  type: list
  elements: dict
  sample:
    - id: KS-WL-015
      source: workload
      title: Containers are not privileged
      status: fail
      severity: high
      namespace: default
      resource: {kind: Deployment, name: node-debugger, namespace: default, container: debugger}
      evidence:
        mode: audit
        field: "spec.template.spec.containers[0].securityContext.privileged"
        value: true
        expected: "false"
        file: manifests/debug.yaml
        document: 1
workloads:
  description: Pod controllers in the input (controlled objects counted once, through their controller).
  returned: always
  type: dict
  sample: {total: 3, evaluated: 2, excluded_namespace: 1, owned_skipped: 4, by_kind: {Deployment: 2, DaemonSet: 1},
           by_namespace: {shop: 2, kube-system: 1}, by_kind_namespace: {Deployment: {shop: 2}, DaemonSet: {kube-system: 1}}}
rules:
  description:
    - Effective settings per rule id, for the report - enabled, evaluated, configured (false for an enabled rule
      that cannot judge with its settings, e.g. KS-WL-002 without registries), note (how to configure it, or
      C(disabled)), mode, params (the values in force),
      exclude_namespaces, exclude_images, severity, scope, the KSV / Gatekeeper / Defender / PSS counterparts and
      frameworks (the mapped PSS, CIS, NSA/CISA and MITRE ATT&CK ids).
  returned: always
  type: dict
summary:
  description:
    - Counts - total, pass, fail, warn, info, by_severity (fail and warn), by_rule, objects (read), files,
      input_errors (objects that are not valid Kubernetes objects, see RV(input_errors)).
  returned: always
  type: dict
  sample: {total: 12, pass: 0, fail: 10, warn: 1, info: 1, by_severity: {high: 4, medium: 7},
           by_rule: {KS-WL-015: {fail: 1}}, objects: 40, files: 3, input_errors: 1}
input_errors:
  description:
    - One entry per input object that is not a valid Kubernetes object of a kind the rules read (at most 200;
      C(summary.input_errors) counts all) - where it is (C(file) and C(document) (1-based), C(item) for List
      members, or C(input)), what it claims to be (C(kind), C(api_version), C(name), C(namespace)), C(problems)
      (C(field), C(reason)), C(reason) (all of them), C(evaluated) (false when the rules could not read it) and
      C(message) (all of it in one line, as warned).
  returned: always
  type: list
  elements: dict
  sample:
    - file: charts/backup/rendered.yaml
      document: 2
      kind: CronJob
      api_version: v1
      name: nightly-backup
      namespace: shop
      problems: [{field: apiVersion, reason: "CronJob is not served in apiVersion v1 (Kubernetes serves it in batch/v1)"}]
      reason: CronJob is not served in apiVersion v1 (Kubernetes serves it in batch/v1)
      evaluated: false
      message: "charts/backup/rendered.yaml, document 2: CronJob nightly-backup is not a valid Kubernetes object
        (CronJob is not served in apiVersion v1 (Kubernetes serves it in batch/v1)); not evaluated"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils import _workload

MAX_WARNED = 20  # input errors warned one by one; the rest are counted in one warning


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            objects=dict(type="list", elements="dict"),
            rules=dict(type="dict", default={}),
            exclude_namespaces=dict(type="list", elements="str", default=[]),
            include_system_namespaces=dict(type="bool", default=False),
            cluster=dict(type="str"),
            kubernetes_version=dict(type="str"),
            today=dict(type="str"),
            include_passed=dict(type="bool", default=False),
        ),
        required_one_of=[("path", "objects", "kubernetes_version")],
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    params = module.params
    objects, origins, warnings = [], [], []
    try:
        if params["path"]:
            objects, origins, warnings = _workload.load_manifests(params["path"])
        for index, obj in enumerate(params["objects"] or []):
            objects.append(obj)
            origins.append({"input": "objects[%d]" % index})
        result = _workload.audit(
            objects,
            rules=params["rules"],
            exclude_namespaces=params["exclude_namespaces"],
            cluster=params["cluster"],
            kubernetes_version=params["kubernetes_version"],
            include_passed=params["include_passed"],
            today=params["today"],
            origins=origins,
            include_system_namespaces=params["include_system_namespaces"],
        )
    except (_workload.ManifestError, _workload.RuleConfigError) as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings + result["warnings"]:
        module.warn(warning)  # includes the documents that are not objects at all (also in input_errors)
    errors = [record["message"] for record in result["input_errors"] if record["kind"]]
    for text in errors[:MAX_WARNED]:
        module.warn(text)
    if result["summary"]["input_errors"] > MAX_WARNED:
        module.warn("%d more objects are not valid Kubernetes objects (see input_errors)" % (result["summary"]["input_errors"] - MAX_WARNED))
    summary = result["summary"]
    summary["files"] = len({origin["file"] for origin in origins if "file" in origin})
    module.exit_json(
        changed=False, findings=result["findings"], workloads=result["workloads"], rules=result["rules"], summary=summary, input_errors=result["input_errors"]
    )


if __name__ == "__main__":
    main()
