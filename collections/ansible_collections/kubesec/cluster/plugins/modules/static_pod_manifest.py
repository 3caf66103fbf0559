#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: static_pod_manifest
short_description: Set flags, volumes and mounts of a control-plane static pod manifest
version_added: 0.1.0
description:
  - Sets, replaces or removes command-line flags of one container of a static pod manifest (kube-apiserver by
    default; also kube-controller-manager, kube-scheduler or etcd) and adds or removes hostPath volumes
    together with the container's mounts of them.
  - Flags are looked for in the container's C(command) and C(args). An existing flag is replaced where it
    stands (later duplicates, which would win on the command line, are dropped); a new flag is appended; the
    order of all other flags and every other key of the manifest (including kubeadm's
    C(creationTimestamp) and C(status)) is kept. Setting the same flags again changes nothing.
  - Runs in two halves. The node only reads the manifest and later writes what was planned; the planning and
    the checks run on the controller (the module's action plugin), so the node needs nothing but Python and
    PyYAML. The write happens only if the manifest still has the checksum it had when it was read; if it
    changed meanwhile (another run, an operator), it is read and planned again (up to 3 times), so nothing is
    overwritten blindly and two runs at once both land.
  - The kubelet restarts the pod as soon as the file changes, so the result is checked first, on the
    controller, against the Kubernetes schema (with the C(kubernetes-validate) package of the controller's
    Python) and against the API server's cross-field rules (every mount names a defined volume, unique names
    and mount paths, valid hostPath types); an invalid result is refused and the file is left untouched.
  - The file is written atomically under a lock (C(.kubesec-<manifest>.lock) in the manifests directory); the
    temporary file lives in the manifests directory under a name starting with a dot (C(.kubesec-tmp-*)),
    which the kubelet ignores, so the rename stays on one filesystem. A failed write (disk full) removes it.
  - Node paths are resolved inside O(root) (absolute symlinks followed from O(root)); a path that would leave
    it is refused. The manifest read is bounded (4 MiB; YAML aliases expanding past 100000 nodes refused).
  - Backups go to O(backup_dir), never next to the manifest. The kubelet starts every file in the manifests
    directory whose name does not start with a dot, whatever its extension, so a copy there would run as a
    second pod; a O(backup_dir) inside the manifests directory is refused.
  - Check mode reports the change and the diff (the manifest before and after, as YAML) and writes nothing.
  - The module does not wait for the pod to come back; the calling role's handler checks health and rolls
    back to RV(backup_file) on failure.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes
  - kubesec.cluster.attributes.NODE_ROOT
options:
  path:
    description: The static pod manifest (a node path, taken below O(root)).
    type: path
    default: /etc/kubernetes/manifests/kube-apiserver.yaml
  container:
    description:
      - Name of the container whose flags and mounts are managed.
      - Defaults to the pod's first (in a control-plane pod, its only) container.
    type: str
  flags:
    description:
      - 'Flags to set, as C(--name: value). C(--) may be left out of the name.'
      - A value of V(null) removes the flag. A list value is joined with commas
        (C(--enable-admission-plugins=NodeRestriction,EventRateLimit)); booleans become C(true) / C(false).
    type: dict
    default: {}
  volumes:
    description: hostPath volumes to add, change or remove, each with the container's mount of it (matched by name).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Volume name (a DNS-1123 label); the mount uses the same name.
        type: str
        required: true
      hostPath:
        description: Path on the node. Required with O(volumes[].state=present).
        type: str
      type:
        description: hostPath type. When not given, a new volume gets none and an existing one keeps its type.
        type: str
        choices: [DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice]
      mountPath:
        description: Where the container sees it. Defaults to O(volumes[].hostPath).
        type: str
      readOnly:
        description: Mount read-only (log directories need V(false)).
        type: bool
        default: true
      state:
        description: V(absent) removes the volume and the container's mounts of it.
        type: str
        choices: [present, absent]
        default: present
  backup:
    description: Copy the manifest into O(backup_dir) before changing it.
    type: bool
    default: true
  backup_dir:
    description:
      - Directory for backups (node path, created with mode 0700). Must be outside the manifests directory.
    type: path
    default: /var/lib/kubesec/manifest-backups
  validate:
    description:
      - Validate the result (Kubernetes JSON schema, strict, plus cross-field rules) before writing.
      - Runs on the controller; needs the C(kubernetes-validate) Python package there (not on the node).
    type: bool
    default: true
  kubernetes_version:
    description: Kubernetes version whose schema the result is validated against.
    type: str
    default: '1.33'
  lock_timeout:
    description: Seconds to wait for another run writing the same manifest; then the module fails, writing nothing.
    type: int
    default: 60
  step:
    description:
      - Internal, set by the action plugin; do not set it. V(read) returns the manifest's text and checksum,
        V(write) writes O(content) if the manifest still has O(expected_sha256).
    type: str
    choices: [read, write]
  content:
    description: Internal (O(step=write)), the new manifest text planned on the controller.
    type: str
  expected_sha256:
    description: Internal (O(step=write)), the checksum of the manifest as it was read.
    type: str
requirements:
  - PyYAML on the node (python3-yaml); nothing else on the node
  - kubernetes-validate on the controller when O(validate=true)
notes:
  - Comments in the manifest are not kept (the file is rewritten as YAML, as kubeadm writes it).
seealso:
  - module: kubesec.cluster.cis_node_audit
  - module: kubesec.cluster.kubelet_config
"""

EXAMPLES = r"""
- name: CIS 1.2.15 / 1.2.30 and admission plugins on kube-apiserver
  kubesec.cluster.static_pod_manifest:
    flags:
      --profiling: false
      --service-account-extend-token-expiration: false
      --enable-admission-plugins: [NodeRestriction, EventRateLimit]
      --admission-control-config-file: /etc/kubernetes/admission/admission-config.yaml
    volumes:
      - name: admission-config
        hostPath: /etc/kubernetes/admission
        type: DirectoryOrCreate
  register: apiserver_change

- name: Audit logging (CIS 1.2.16-1.2.19, 3.2.1)
  kubesec.cluster.static_pod_manifest:
    flags:
      --audit-policy-file: /etc/kubernetes/audit-policy.yaml
      --audit-log-path: /var/log/kubernetes/audit/audit.log
      --audit-log-maxage: 30
      --audit-log-maxbackup: 10
      --audit-log-maxsize: 100
    volumes:
      - name: audit
        hostPath: /etc/kubernetes/audit-policy.yaml
        type: File
      - name: audit-log
        hostPath: /var/log/kubernetes/audit/
        type: DirectoryOrCreate
        readOnly: false

- name: Profiling off on the scheduler (CIS 1.4.1)
  kubesec.cluster.static_pod_manifest:
    path: /etc/kubernetes/manifests/kube-scheduler.yaml
    flags:
      --profiling: false

- name: Remove a flag and a volume
  kubesec.cluster.static_pod_manifest:
    flags:
      --token-auth-file: null
    volumes:
      - name: static-tokens
        state: absent
"""

RETURN = r"""
path:
  description: The manifest that was managed (node path, without O(root)).
  returned: always
  type: str
  sample: /etc/kubernetes/manifests/kube-apiserver.yaml
container:
  description: The container whose flags and mounts were managed.
  returned: always
  type: str
  sample: kube-apiserver
flags_before:
  description: The container's effective flags before the change (C(--name) to value).
  returned: always
  type: dict
  sample: {--profiling: "true", --authorization-mode: "Node,RBAC"}
flags_after:
  description: The container's effective flags after the change (or as they would be, in check mode).
  returned: always
  type: dict
  sample: {--profiling: "false", --authorization-mode: "Node,RBAC"}
flags_changed:
  description: Flags that were set, replaced or removed.
  returned: always
  type: list
  elements: str
  sample: [--profiling]
volumes_changed:
  description: Names of the volumes that were added, changed or removed.
  returned: always
  type: list
  elements: str
backup_file:
  description: The backup copy of the manifest (real path on the node), for rollback; null when nothing was written.
  returned: always
  type: str
  sample: /var/lib/kubesec/manifest-backups/kube-apiserver.yaml.20261124T060000.000000Z
diff:
  description: The manifest before and after, as YAML.
  returned: changed
  type: dict
validation_seconds:
  description: Controller time spent checking the result (schema and cross-field rules); 0 when nothing changed.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kubesec.cluster.plugins.module_utils import _nodewrite, _static_pod
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages, printable

VOLUME_OPTIONS = dict(
    name=dict(type="str", required=True),
    hostPath=dict(type="str"),
    type=dict(type="str", choices=["DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"]),
    mountPath=dict(type="str"),
    readOnly=dict(type="bool", default=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)
ARGUMENT_SPEC = dict(
    root=dict(type="path", default="/"),
    path=dict(type="path", default=_static_pod.DEFAULT_MANIFEST),
    container=dict(type="str"),
    flags=dict(type="dict", default={}),
    volumes=dict(type="list", elements="dict", default=[], options=VOLUME_OPTIONS),
    backup=dict(type="bool", default=True),
    backup_dir=dict(type="path", default=_static_pod.DEFAULT_BACKUP_DIR),
    validate=dict(type="bool", default=True),
    kubernetes_version=dict(type="str", default="1.33"),
    lock_timeout=dict(type="int", default=60),
    step=dict(type="str", choices=["read", "write"]),
    content=dict(type="str"),
    expected_sha256=dict(type="str"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, required_if=[("step", "write", ("content", "expected_sha256"))])
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    if not _static_pod.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (python3-yaml)"))
    p = module.params
    if p["step"] is None:
        module.fail_json(
            msg="static_pod_manifest runs through its action plugin (kubesec.cluster.static_pod_manifest)"
            ", which plans on the controller; it was called without it"
        )
    try:
        if p["step"] == "read":
            read = _static_pod.read_for_change(p["root"], p["path"], p["backup"], p["backup_dir"])
            # the parameters as the argument spec normalized them, for the controller's planning
            params = dict((k, p[k]) for k in ("path", "container", "flags", "volumes", "validate", "kubernetes_version"))
            module.exit_json(changed=False, text=read["text"], sha256=read["sha256"], params=params)
        if module.check_mode:
            module.fail_json(msg="static_pod_manifest: step=write in check mode")
        written = _static_pod.write_checked(
            p["root"], p["path"], p["content"], p["expected_sha256"], p["backup"], p["backup_dir"], p["lock_timeout"], _nodewrite.selinux_prepare(module)
        )
    except _static_pod.ChangedMeanwhile as exc:
        module.fail_json(msg=printable(str(exc)), changed_meanwhile=True)
    except _static_pod.ManifestError as exc:
        module.fail_json(msg=printable(str(exc)))
    module.exit_json(changed=True, backup_file=written["backup_file"])


if __name__ == "__main__":
    main()
