#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: pod_security_labels
short_description: Set or remove Pod Security Admission labels per namespace
version_added: 0.1.0
description:
  - Sets the labels of the built-in PodSecurity admission controller on the namespaces given -
    C(pod-security.kubernetes.io/enforce|warn|audit) with the level (privileged, baseline, restricted) and the
    matching C(-version) label (C(latest) or C(v1.<minor>)) - or removes them (O(state=absent)).
  - kubesec owns every C(pod-security.kubernetes.io/) label of the namespaces listed. With O(state=present) the
    modes given are set and the others removed; other labels are never touched. Namespaces not listed are not touched.
  - Changes the cluster with one JSON merge patch per namespace that differs; check mode patches nothing and diff
    mode shows each namespace's labels before and after.
  - With O(dest) nothing in the cluster is read or changed (render-only) - it writes C(kubectl-label.sh) (the exact
    label commands, on or off) and, when on, C(namespace-labels.yaml) (the Namespaces with their labels, for
    C(kubectl apply) or GitOps) into that directory.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes
options:
  namespaces:
    description:
      - "Per namespace, the level of each mode to set - C({shop: {enforce: baseline, warn: restricted, audit:
        restricted}, payments: {enforce: restricted, version: v1.33}}). C(version) overrides O(version)."
    type: dict
    required: true
  version:
    description: Value of the C(-version) labels, C(latest) or a Kubernetes minor such as C(v1.33).
    type: str
    default: latest
  state:
    description: C(present) sets the labels, C(absent) removes every C(pod-security.kubernetes.io/) label.
    type: str
    choices: [present, absent]
    default: present
  dest:
    description: Render-only - the directory for the rendered files; the API is not contacted.
    type: path
  kubeconfig:
    description: Kubeconfig on the controller. Without it, E(KUBECONFIG), C(~/.kube/config) or the in-cluster account.
    type: path
  context:
    description: Context of the kubeconfig. Defaults to the current context.
    type: str
requirements:
  - kubernetes (Python) unless O(dest) is set
"""

EXAMPLES = r"""
- name: Enforce baseline, warn and audit restricted in shop
  kubesec.cluster.pod_security_labels:
    namespaces:
      shop: {enforce: baseline, warn: restricted, audit: restricted}
    version: v1.33
    kubeconfig: ~/.kube/prod
  delegate_to: localhost

- name: Remove them again
  kubesec.cluster.pod_security_labels:
    namespaces: {shop: {enforce: baseline}}
    state: absent
  delegate_to: localhost

- name: Render only
  kubesec.cluster.pod_security_labels:
    namespaces: {shop: {enforce: restricted}}
    dest: reports/prod/rendered/pod-security
  delegate_to: localhost
"""

RETURN = r"""
changes:
  description: Per namespace that differs - namespace, before and after (its pod-security labels), patch.
  returned: always (empty in render-only mode)
  type: list
  elements: dict
  sample:
    - namespace: shop
      before: {}
      after: {pod-security.kubernetes.io/enforce: baseline, pod-security.kubernetes.io/enforce-version: v1.33}
      patch: {metadata: {labels: {pod-security.kubernetes.io/enforce: baseline,
                                  pod-security.kubernetes.io/enforce-version: v1.33}}}
labels:
  description: The pod-security labels wanted per namespace (empty mappings with O(state=absent)).
  returned: always
  type: dict
files:
  description: Render-only - every file with its action (written, removed, unchanged).
  returned: when O(dest) is set
  type: list
  elements: dict
"""


from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils import _file_set, _kube, _psa

RENDERED = ("kubectl-label.sh", "namespace-labels.yaml")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            namespaces=dict(type="dict", required=True),
            version=dict(type="str", default="latest"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            dest=dict(type="path"),
            kubeconfig=dict(type="path"),
            context=dict(type="str"),
        ),
        mutually_exclusive=[("dest", "kubeconfig"), ("dest", "context")],
        supports_check_mode=True,
    )
    guard_messages(module)
    params = module.params
    try:
        wanted = _psa.desired(params["namespaces"], params["version"])
    except _psa.PsaConfigError as exc:
        module.fail_json(msg="Pod Security settings: %s" % exc)
    labels = {name: (value if params["state"] == "present" else {}) for name, value in wanted.items()}
    if params["dest"]:
        files = _psa.render(wanted, params["state"])
        changed, actions, diffs = _file_set.sync_files(module, params["dest"], RENDERED, files)
        result = dict(changed=changed, changes=[], labels=labels, files=actions)
        if module._diff:
            result["diff"] = diffs
        module.exit_json(**result)
    if not _kube.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=_kube.KUBERNETES_IMPORT_ERROR)
    try:
        client = _kube.build_client(kubeconfig=params["kubeconfig"], context=params["context"])
        current = {}
        for name in wanted:
            try:
                obj = _kube.get_object(client, "v1", "namespaces", name)
                current[name] = (obj.get("metadata") or {}).get("labels") or {}
            except _kube.KubeNotFoundError:
                current[name] = None
        changes = _psa.plan(current, wanted, params["state"])
        if not module.check_mode:
            for change in changes:
                _kube.patch_object(client, "v1", "namespaces", change["namespace"], change["patch"])
    except (_psa.PsaConfigError, _kube.KubeApiError) as exc:
        module.fail_json(msg=str(exc))
    missing = sorted(name for name, value in current.items() if value is None)
    if missing:
        module.warn("namespace(s) %s do not exist: nothing to remove there" % ", ".join(missing))
    result = dict(changed=bool(changes), changes=changes, labels=labels)
    if module._diff:
        result["diff"] = [
            {
                "before_header": "namespace/%s labels" % c["namespace"],
                "after_header": "namespace/%s labels" % c["namespace"],
                "before": "".join("%s: %s\n" % item for item in sorted(c["before"].items())),
                "after": "".join("%s: %s\n" % item for item in sorted(c["after"].items())),
            }
            for c in changes
        ]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
