#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: workload_enforcement
short_description: Render the KS-WL workload rules as Kubernetes ValidatingAdmissionPolicies
version_added: 0.1.0
description:
  - Turns the rule settings that M(kubesec.cluster.workload_audit) takes into one C(ValidatingAdmissionPolicy) and
    one C(ValidatingAdmissionPolicyBinding) (C(admissionregistration.k8s.io/v1), CEL, Kubernetes 1.30 or later) per
    enforceable rule in mode C(deny) (validationActions C(Deny), C(Audit)) or C(warn) (C(Warn), C(Audit)). Mode
    C(audit) gives no policy unless O(audit_mode_policies) (C(Audit) only).
  - Pod rules match every pod controller (Pod, the ephemeral-container subresource, PodTemplate, Deployment,
    ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController) and check every container kind;
    C(KS-WL-005) matches Services, C(KS-WL-011) Ingresses, C(KS-WL-021) (Cluster)RoleBindings (and wildcard
    (Cluster)Roles with C(require_binding=false)).
  - Rules that need more than the admitted object (C(KS-WL-012) service-account token through the ServiceAccount,
    C(KS-WL-017) cluster version, C(KS-WL-018) NetworkPolicies of the namespace) are returned in C(not_enforceable)
    with the reason.
  - Parameters are written into the CEL as escaped literals. Excluded namespaces given by exact name go to the
    binding's C(namespaceSelector) (C(kubernetes.io/metadata.name NotIn)), globs and C(^) regular expressions to a
    C(matchConditions) entry; excluded images are tested inside the CEL.
  - With O(dest), writes one file per rule (C(ks-wl-NNN-<name>.yaml), policy and binding) into that directory,
    atomically, and removes the files of rules no longer enforced (other files are left alone). Check mode and diff
    are supported. The module never contacts a cluster; apply the returned C(objects) with M(kubernetes.core.k8s).
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes
options:
  cluster:
    description: Cluster name, stamped on the objects as the label C(kubesec.io/cluster) and in the file headers.
    type: str
    required: true
  rules:
    description:
      - Per-rule settings, keyed by rule id (C(KS-WL-015)) or short name (C(privileged)), exactly as
        M(kubesec.cluster.workload_audit) takes them - C(enabled), C(mode) (C(audit), C(warn), C(deny)), C(params),
        C(exclude_namespaces), C(exclude_images); C(true)/C(false) is short for C(enabled).
      - Rule C(KS-WL-002) without C(params.registries) is not configured - in mode C(audit) nothing is rendered
        for it (RV(not_generated) says why); in mode C(deny) or C(warn) the task fails, as the policy would refuse
        every image.
      - C(exclude_images) exempts the containers' own fields only; the pod's C(hostNetwork), C(hostPID),
        C(hostIPC) and hostPath volumes are checked whatever images it runs.
      - Regular expressions run in the API server's RE2 engine; look-around, back references and possessive or
        atomic groups fail the task with the rule and the setting named.
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
      - Do not exclude the system namespaces (C(kube-system), C(kube-public), C(kube-node-lease), C(falco),
        C(trivy-system)) from the policies' bindings. Their add-ons usually need what the rules forbid; use it in
        mode C(warn) first.
    type: bool
    default: false
  audit_mode_policies:
    description:
      - Also render rules in mode C(audit), with validationActions C(Audit) only (violations are recorded in the API
        server's audit log; nothing is denied or warned). By default mode C(audit) renders nothing.
    type: bool
    default: false
  dest:
    description:
      - Directory for the rendered files, for example C(reports/<cluster>/rendered/enforcement). Created when missing.
      - When omitted, nothing is written and the module only returns the objects.
    type: path
notes:
  - Every object validates against the Kubernetes 1.33 OpenAPI schema (C(kubernetes-validate), strict); the CEL is
    tested by evaluating it against the audit's fixtures. Admission itself is only exercised against a real cluster.
seealso:
  - module: kubesec.cluster.workload_audit
  - name: Validating Admission Policy
    description: The Kubernetes documentation of ValidatingAdmissionPolicy and its bindings.
    link: https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/
"""

EXAMPLES = r"""
- name: Render the admission policies of cluster prod
  kubesec.cluster.workload_enforcement:
    cluster: prod
    rules:
      privileged: {mode: deny}
      host_namespaces: {mode: deny}
      run_as_non_root: {mode: warn, exclude_namespaces: [legacy-*]}
      trusted_registries:
        mode: deny
        params:
          registries: [registry.example.com/, "^ghcr\\.io/example/"]
        exclude_images: [cr.fluentbit.io/fluent/fluent-bit]
    exclude_namespaces: [monitoring]
    dest: "{{ playbook_dir }}/../reports/prod/rendered/enforcement"
  delegate_to: localhost
  register: enforcement

- name: Apply them
  kubernetes.core.k8s:
    definition: "{{ item }}"
    apply: true
  loop: "{{ enforcement.objects }}"
  loop_control:
    label: "{{ item.kind }}/{{ item.metadata.name }}"
  delegate_to: localhost
"""

RETURN = r"""
objects:
  description: The ValidatingAdmissionPolicies and their bindings, policy first, in rule order.
  returned: always
  type: list
  elements: dict
policies:
  description: One entry per rendered rule - id, name, mode, policy (object name), file, validation_actions,
    excluded_namespaces, excluded_images, coverage (what a partially enforceable rule leaves to the audit).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "KS-WL-015", "name": "privileged", "mode": "deny", "policy": "kubesec-ks-wl-015-privileged",
            "file": "ks-wl-015-privileged.yaml", "validation_actions": ["Deny", "Audit"],
            "excluded_namespaces": ["kube-system"], "excluded_images": [], "coverage": null}]
not_enforceable:
  description: Rules in mode deny or warn that an admission policy cannot check, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "KS-WL-018", "name": "network_policy", "mode": "deny", "reason": "Needs the namespace's ..."}]
not_generated:
  description: Every rule without a policy, with the reason (disabled, mode audit, not enforceable, not configured).
  returned: always
  type: list
  elements: dict
absent:
  description:
    - The policies and bindings (apiVersion, kind, name) of the rules not rendered, to delete from a cluster that
      had them (bindings first).
  returned: always
  type: list
  elements: dict
  sample: [{"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "name": "kubesec-ks-wl-001-resource-limits"}]
files:
  description: Files under O(dest) with what happened to each (C(written), C(removed), C(unchanged)).
  returned: when O(dest) is set
  type: list
  elements: dict
  sample: [{"path": "/r/prod/rendered/enforcement/ks-wl-015-privileged.yaml", "action": "written"}]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils import _file_set, _vap


def sync_files(module, dest, files):
    """Bring the owned files of ``dest`` to exactly ``files``; returns (changed, actions, diffs)."""
    existing = sorted(name for name in os.listdir(dest) if _vap.owned_file(name)) if os.path.isdir(dest) else []
    changed, actions, diffs = _file_set.sync_files(module, dest, sorted(set(existing) | set(files)), files)
    return changed, actions, diffs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            rules=dict(type="dict", default={}),
            exclude_namespaces=dict(type="list", elements="str", default=[]),
            include_system_namespaces=dict(type="bool", default=False),
            audit_mode_policies=dict(type="bool", default=False),
            dest=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    params = module.params
    try:
        result = _vap.build(
            rules=params["rules"],
            exclude_namespaces=params["exclude_namespaces"],
            cluster=params["cluster"],
            audit_mode_policies=params["audit_mode_policies"],
            include_system_namespaces=params["include_system_namespaces"],
        )
    except _vap.EnforcementError as exc:
        module.fail_json(msg=to_native(exc))
    files = _vap.render_files(result, params["cluster"])
    out = {
        "changed": False,
        "objects": result["objects"],
        "policies": result["policies"],
        "not_enforceable": result["not_enforceable"],
        "not_generated": result["not_generated"],
        "absent": result["absent"],
    }
    for item in result["not_enforceable"]:
        module.warn("%s (%s) is in mode %s but cannot be enforced at admission: %s" % (item["id"], item["name"], item["mode"], item["reason"]))
    if params["dest"]:
        try:
            changed, actions, diffs = sync_files(module, params["dest"], files)
        except OSError as exc:
            module.fail_json(msg="cannot write the rendered policies under %s: %s" % (params["dest"], to_native(exc)))
        out["changed"] = changed
        out["files"] = actions
        if module._diff:
            out["diff"] = diffs
    module.exit_json(**out)


if __name__ == "__main__":
    main()
