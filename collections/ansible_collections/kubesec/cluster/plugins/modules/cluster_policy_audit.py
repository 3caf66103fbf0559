#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: cluster_policy_audit
short_description: CIS section 5 (policies), RBAC abuse and network exposure, from cluster objects
version_added: 0.1.0
description:
  - Evaluates every check of CIS Kubernetes Benchmark section 5 (cis-1.12 5.1.1-5.6.4, cis-1.11 also 5.2.13,
    cis-1.10 with 5.7.x for 5.6.x) from the cluster's objects - RBAC, ServiceAccounts, pod controllers, Namespaces and their Pod Security Admission
    labels, NetworkPolicies, Services, Ingresses, ConfigMaps, admission webhooks, the kube-apiserver mirror pod -
    and returns one finding per check (source C(cis-policies), id C(CIS-5.x.y), status pass, fail or warn, the
    offending objects named in C(evidence.offending)). The checks are data in the collection's
    C(data/cis_policies/); C(docs/cis-coverage.md) says how each is decided.
  - Also evaluates the cluster policy rules (source C(cluster-policy)) - C(KS-RB-001)..C(KS-RB-009) RBAC abuse
    (escalate/bind/impersonate, pods/exec, nodes/proxy, reading all secrets, CSR approval, webhook configuration
    edits, endpoints edits (CVE-2021-25740), anonymous bindings, workloads on the default ServiceAccount),
    C(KS-NET-001)..C(KS-NET-003) (Service externalIPs CVE-2020-8554, ingress-nginx snippet annotations
    CVE-2021-25742, wildcard Ingress hosts) and C(KS-CM-001) (literal secrets in ConfigMaps; the key is named, the
    value never). C(docs/cluster-policies.md) is the rule table.
  - Checks that ask the same question as a workload rule (privileged containers, host namespaces, hostPath, ...)
    read that rule's evaluation (module_utils/_workload_rules.py, settings O(workload_rules)); one evaluation, two ids.
  - A check whose objects are missing from the input, or whose API list failed (403, not served), is C(warn)
    ("Not decided", saying what to export or grant), never a pass on an empty input.
  - Reads export files (O(path), C(kubectl get ... -A -o yaml) or C(-o json), C(List) kinds, multi-document YAML) or
    the API (paged with C(limit)/C(continue); Secrets are never listed).
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes.READ_ONLY
  - kubesec.cluster.cluster
options:
  path:
    description:
      - Export files or directories (read recursively; C(.yaml), C(.yml), C(.json)). When set, the API is not
        contacted.
    type: list
    elements: path
  objects:
    description: Kubernetes objects as mappings (for example the C(resources) of M(kubernetes.core.k8s_info)).
    type: list
    elements: dict
  limit:
    description: Page size of the API lists (C(limit)/C(continue)).
    type: int
    default: 500
  benchmark:
    description: CIS benchmark whose section 5 is evaluated (a file in C(data/cis_policies/)).
    type: str
    default: cis-1.12
  catalogue:
    description: The resolved section-5 catalogue. Filled in by the action plugin from O(benchmark).
    type: dict
  rules:
    description:
      - Settings of the cluster policy rules, keyed by rule id (C(KS-RB-004)) or short name
        (C(rbac_read_all_secrets)) - C(enabled), C(params), C(exclude_namespaces) (added to O(exclude_namespaces));
        C(true)/C(false) is short for C(enabled). Unknown rules or parameters fail the task naming them.
    type: dict
    default: {}
  workload_rules:
    description: The KS-WL rule settings (the same dict as M(kubesec.cluster.workload_audit)'s C(rules)).
    type: dict
    default: {}
  exclude_namespaces:
    description:
      - Namespaces left out of every rule and check. Unset means kubesec's system namespaces (kube-system,
        kube-public, kube-node-lease, falco, trivy-system); C([]) audits the add-ons too (checks backed by a workload
        rule always leave out the system namespaces, as that rule does).
    type: list
    elements: str
  controls:
    description: 'Per-check toggles keyed by CIS id, C({"5.4.2": {"enabled": false, "reason": "..."}}) - reported as waived.'
    type: dict
    default: {}
  include_passed:
    description: Also return a C(pass) finding for every cluster policy rule without an offending object.
    type: bool
    default: false
requirements:
  - kubernetes (Python) when reading the API
"""

EXAMPLES = r"""
- name: Section 5 and the cluster policy rules from exports
  kubesec.cluster.cluster_policy_audit:
    path: [exports/cluster, exports/manifests]
    cluster: prod-eu
    rules:
      KS-RB-004:
        params:
          allowed_subjects: ["system:serviceaccount:vault:vault"]
      configmap_literal_secrets: false
  delegate_to: localhost
  register: policies

- name: From the API (paged), cis-1.11
  kubesec.cluster.cluster_policy_audit:
    kubeconfig: ~/.kube/prod
    benchmark: cis-1.11
    exclude_namespaces: []
  delegate_to: localhost
"""

RETURN = r"""
findings:
  description: One finding per section-5 check (source C(cis-policies), id C(CIS-5.x.y)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: CIS-5.1.1
      source: cis-policies
      status: fail
      severity: high
      resource: {kind: Cluster, name: demo}
      description: "1 binding(s) to cluster-admin: ClusterRoleBinding ci-admin -> User ci-bot."
      evidence: {offending: ["ClusterRoleBinding ci-admin -> User ci-bot"], decided: objects, kube_bench: audit}
policy_findings:
  description: One finding per offending object and cluster policy rule (source C(cluster-policy)).
  returned: always
  type: list
  elements: dict
summary:
  description: checks, objects read, by_status, offending objects per rule, automated and review counts.
  returned: always
  type: dict
checks:
  description: Per check - id, status, decided (objects or review), test type and rule.
  returned: always
  type: list
  elements: dict
settings:
  description: Effective settings of the cluster policy rules.
  returned: always
  type: dict
inputs:
  description: What was read (files, or kinds with their counts from the API).
  returned: always
  type: list
  elements: str
unreadable:
  description: Kinds whose API list failed, with the reason (the checks reading them are C(warn)).
  returned: always
  type: dict
input_errors:
  description: Documents that are not Kubernetes objects, and objects the workload rules cannot read.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils import _cis_policies, _kube, _policy_rules, _workload

MAX_WARNED = 20


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="list", elements="path"),
            objects=dict(type="list", elements="dict"),
            kubeconfig=dict(type="path"),
            context=dict(type="str"),
            limit=dict(type="int", default=500),
            benchmark=dict(type="str", default="cis-1.12"),
            catalogue=dict(type="dict"),
            rules=dict(type="dict", default={}),
            workload_rules=dict(type="dict", default={}),
            exclude_namespaces=dict(type="list", elements="str"),
            controls=dict(type="dict", default={}),
            include_passed=dict(type="bool", default=False),
            cluster=dict(type="str"),
        ),
        mutually_exclusive=[("path", "kubeconfig"), ("path", "context")],
        supports_check_mode=True,
    )
    guard_messages(module)
    params = module.params
    if not params["catalogue"]:
        module.fail_json(msg="no catalogue: run this module through its action plugin (kubesec.cluster.cluster_policy_audit) or pass catalogue")
    if params["limit"] < 1:
        module.fail_json(msg="limit must be a positive page size, got %d" % params["limit"])
    objects, origins, warnings, inputs, unreadable = [], [], [], [], {}
    try:
        for path in params["path"] or []:
            found, where, warned = _workload.load_manifests(path)
            objects.extend(found)
            origins.extend(where)
            warnings.extend(warned)
            inputs.append(path)
        for index, obj in enumerate(params["objects"] or []):
            objects.append(obj)
            origins.append({"input": "objects[%d]" % index})
        if not params["path"] and not params["objects"]:
            if not _kube.HAS_KUBERNETES:
                module.fail_json(msg=missing_required_lib("kubernetes"), exception=_kube.KUBERNETES_IMPORT_ERROR)
            client = _kube.build_client(kubeconfig=params["kubeconfig"], context=params["context"])
            objects, unreadable, inputs = _cis_policies.read_api(
                client, _kube.list_all, (_kube.KubeForbiddenError,), (_kube.KubeNotFoundError,), limit=params["limit"]
            )
            origins = None
        result = _cis_policies.audit(
            objects,
            params["catalogue"],
            rules=params["rules"],
            workload_rules=params["workload_rules"],
            exclude_namespaces=params["exclude_namespaces"],
            cluster=params["cluster"],
            controls=params["controls"],
            include_passed=params["include_passed"],
            origins=origins,
            unreadable=unreadable,
        )
    except (_workload.ManifestError, _workload.RuleConfigError, _policy_rules.PolicyConfigError, _cis_policies.PolicyInputError, _kube.KubeApiError) as exc:
        module.fail_json(msg=str(exc))
    for text in warnings + result["warnings"]:
        module.warn(text)
    for text in result["input_errors"][:MAX_WARNED]:
        module.warn(text)
    if len(result["input_errors"]) > MAX_WARNED:
        module.warn("%d more input errors (see input_errors)" % (len(result["input_errors"]) - MAX_WARNED))
    for kind, why in sorted(unreadable.items()):
        module.warn("could not list %s: %s" % (kind, why))
    module.exit_json(
        changed=False,
        findings=result["findings"],
        policy_findings=result["policy_findings"],
        summary=result["summary"],
        checks=result["checks"],
        settings=result["settings"],
        inputs=inputs,
        unreadable=unreadable,
        input_errors=result["input_errors"],
    )


if __name__ == "__main__":
    main()
