#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: rancher_config
short_description: Set the flags k3s or RKE2 gives its kubelet, API server and other components, in a drop-in of kubesec's own
version_added: 0.1.0
description:
  - On k3s and RKE2 one process (C(k3s.service), C(k3s-agent.service), C(rke2-server.service), C(rke2-agent.service))
    starts the kubelet, kube-proxy and, on servers, the control plane; their flags are the C(kubelet-arg),
    C(kube-proxy-arg), C(kube-apiserver-arg)... lists of C(/etc/rancher/<distribution>/config.yaml), its
    C(config.yaml.d/*.yaml) drop-ins (read in file-name order) and the unit's command line.
  - This module writes one drop-in of its own, C(<config file>.d/90-kubesec.yaml), whose keys all end in C(+)
    (C(kubelet-arg+)), so its items are appended to the operator's lists and win over them; C(config.yaml) and the
    other drop-ins are never changed. Flags already in the drop-in that this call does not name are kept.
  - Before anything is written the result is checked the way k3s reads it (M(kubesec.cluster.cis_node_audit) reads it
    the same way); when a later drop-in replaces a list (a key without C(+)) or the unit's command line sets the
    flag, the module fails, names that place and changes nothing.
  - The config file is the command line's C(--config), else C(K3S_CONFIG_FILE) / C(RKE2_CONFIG_FILE) from the unit's
    environment, else the default.
  - Check mode reports the change with a diff and writes nothing. The write is atomic, under a lock beside the
    drop-in, with a backup of the previous drop-in; C(files_created) names a drop-in that did not exist before
    (the rollback removes it). The module does not restart the service; M(kubesec.cluster.node_hardening) does,
    checks health and rolls back.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes
  - kubesec.cluster.attributes.NODE_ROOT
options:
  distribution:
    description: The distribution whose process and config file are changed.
    type: str
    required: true
    choices: [k3s, rke2]
  service:
    description:
      - The systemd unit that runs the process (its command line and environment are read).
      - Unset, the first of C(k3s.service), C(k3s-agent.service) (k3s) or C(rke2-server.service),
        C(rke2-agent.service) (RKE2) that has an ExecStart.
    type: str
  args:
    description:
      - 'Flags per component: C({kubelet: {--anonymous-auth: false}, kube-proxy: {--metrics-bind-address: 127.0.0.1:10249}}).'
      - Components are C(kubelet), C(kube-proxy), C(kube-apiserver), C(kube-controller-manager), C(kube-scheduler), C(etcd).
      - A list value is written comma-separated; a dict value is merged into a map flag as the process has it now
        (C(--feature-gates)); V(null) removes the flag from the drop-in and fails when another file still sets it.
    type: dict
    required: true
  options:
    description:
      - Process options (not C(*-arg) lists) for kubesec's drop-in, only where a list item cannot do it. RKE2 only
        C(audit-policy-file), which RKE2 turns into C(--audit-policy-file), C(--audit-log-maxage=30),
        C(--audit-log-maxbackup=10), C(--audit-log-maxsize=100) and (unless an item sets it) C(--audit-log-path) for
        its kube-apiserver static pod, mounting the policy; a flag given as an item would not be mounted.
      - The option's last value wins (the command line over every file); a later drop-in or the command line that
        sets it otherwise makes the module fail, naming the place. V(null) removes it from the drop-in.
    type: dict
    default: {}
  dropin_name:
    description: File name of kubesec's drop-in in C(<config file>.d/) (k3s reads only C(*.yaml) / C(*.yml)).
    type: str
    default: 90-kubesec.yaml
  backup:
    description: Keep a timestamped copy of the drop-in before changing it (in O(backup_dir)).
    type: bool
    default: true
  backup_dir:
    description:
      - Node directory (below O(root), created 0700) for the backups, named after the file's node path and the time.
        Keep it outside C(config.yaml.d), which k3s reads.
    type: path
    default: /var/lib/kubesec/kubelet-backups
  lock_timeout:
    description: Seconds to wait for another run changing the same drop-in; then the module fails and changes nothing.
    type: int
    default: 60
requirements:
  - PyYAML on the node (python3-yaml)
seealso:
  - module: kubesec.cluster.kubelet_config
  - module: kubesec.cluster.cis_node_audit
"""

EXAMPLES = r"""
- name: CIS 4.2.1 / 4.2.4 / 4.2.12 on a k3s node
  kubesec.cluster.rancher_config:
    distribution: k3s
    args:
      kubelet:
        --anonymous-auth: false
        --read-only-port: 0
        --tls-cipher-suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
  register: rancher_change

- name: CIS 1.2.16-1.2.19, 3.2.1 and 1.3.1 on a k3s server (the policy file written before)
  kubesec.cluster.rancher_config:
    distribution: k3s
    args:
      kube-apiserver:
        --audit-policy-file: /var/lib/rancher/k3s/server/audit.yaml
        --audit-log-path: /var/lib/rancher/k3s/server/logs/audit.log
        --audit-log-maxage: 30
        --audit-log-maxbackup: 10
        --audit-log-maxsize: 100
      kube-controller-manager:
        --terminated-pod-gc-threshold: 10

- name: Audit logging on an RKE2 server (RKE2 adds the rotation flags and mounts the policy itself)
  kubesec.cluster.rancher_config:
    distribution: rke2
    args: {}
    options:
      audit-policy-file: /etc/rancher/rke2/audit-policy.yaml

- name: Restart k3s when the drop-in changed
  ansible.builtin.systemd_service:
    name: "{{ rancher_change.service }}"
    state: restarted
  when: rancher_change is changed
"""

RETURN = r"""
service:
  description: The unit whose command line and environment were read (the one to restart).
  returned: always
  type: str
  sample: k3s.service
config_file:
  description: The config file the process reads (node path); the drop-in is in C(<config_file>.d/).
  returned: always
  type: str
  sample: /etc/rancher/k3s/config.yaml
dropin:
  description: Node path of kubesec's drop-in.
  returned: always
  type: str
  sample: /etc/rancher/k3s/config.yaml.d/90-kubesec.yaml
args_set:
  description: C(<component> --flag=value) items added or changed.
  returned: always
  type: list
  elements: str
args_removed:
  description: C(<component> --flag) items removed from the drop-in.
  returned: always
  type: list
  elements: str
overridden:
  description: Settings from the operator's files that kubesec's drop-in now overrides (they stay in those files).
  returned: always
  type: list
  elements: str
files_changed:
  description: Node paths of the files that changed (or would change in check mode).
  returned: always
  type: list
  elements: str
files_created:
  description: Node paths of files that did not exist before (the rollback removes them).
  returned: always
  type: list
  elements: str
dirs_created:
  description: Node paths of directories this run created (C(config.yaml.d)); the rollback removes them when empty.
  returned: always
  type: list
  elements: str
flags_before:
  description:
    - 'Per component, the flags the process passes it before this change: C({kube-apiserver: {--audit-log-maxage: "30"}}),
      the distribution''s own defaults included (RKE2: audit flags with an audit policy, C(--terminated-pod-gc-threshold=1000)).'
  returned: success
  type: dict
options_before:
  description: Values of C(profile) and the O(options) names before this change (V(null) when unset).
  returned: success
  type: dict
backup_files:
  description: Map of changed file (real path) to its backup copy, for rollback.
  returned: changed, O(backup=true) and the drop-in existed; also on a failed write
  type: dict
files_restored:
  description: On a failed write, the files that had been replaced and were put back as they were.
  returned: failure while writing
  type: list
  elements: str
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubesec.cluster.plugins.module_utils import _nodewrite, _rancher, _systemd
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages, printable

UNITS = {"k3s": ["k3s.service", "k3s-agent.service"], "rke2": ["rke2-server.service", "rke2-agent.service"]}


def find_process(root, distribution, service):
    """(unit, argv, environment) of the unit that runs the process; RancherConfigError when there is none."""
    errors = []
    for unit in [service] if service else UNITS[distribution]:
        try:
            info = _systemd.effective_command(root, unit)
        except _systemd.UnitError as exc:
            errors.append(str(exc))
            continue
        if info["argv"]:
            return unit, info["argv"], info.get("environment") or {}
        errors.append("%s has no ExecStart" % unit)
    raise _rancher.RancherConfigError("no %s process to configure: %s" % (distribution, "; ".join(errors)))


def backup_namer(root, backup_dir, changes):
    """Backups into backup_dir, named after the file's node path and the time (as kubelet_config names them)."""
    directory = _rancher._node_path(root, backup_dir)  # pylint: disable=protected-access
    node_file = dict((change["real"], change["path"]) for change in changes)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")

    def name(real):
        return os.path.join(directory, "%s.%s" % (node_file.get(real, real).strip("/").replace("/", "_"), stamp))

    return name


def remove_empty(root, node_dirs):
    """Take back the directories this run created when a failure left them empty (nothing else of this run is there)."""
    for node_dir in node_dirs:
        try:
            os.rmdir(_rancher._node_path(root, node_dir))  # pylint: disable=protected-access
        except OSError:
            pass


def plan(p, argv, env):
    return _rancher.plan_dropin(p["root"], p["distribution"], argv, p["args"], env=env, name=p["dropin_name"], options=p["options"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", default="/"),
            distribution=dict(type="str", required=True, choices=["k3s", "rke2"]),
            service=dict(type="str"),
            args=dict(type="dict", required=True),
            options=dict(type="dict", default={}),
            dropin_name=dict(type="str", default=_rancher.DROPIN_NAME),
            backup=dict(type="bool", default=True),
            backup_dir=dict(type="path", default="/var/lib/kubesec/kubelet-backups"),
            lock_timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    guard_messages(module)  # node text in messages is shown escaped (_safetext)
    p = module.params
    for option, value in p["options"].items():
        if isinstance(value, (list, dict)):
            module.fail_json(msg="options.%s must be a single value, got %s" % (option, type(value).__name__))
    for component, flags in p["args"].items():
        if not isinstance(flags, dict):
            module.fail_json(msg="args.%s must be a dict of --flag: value, got %s" % (component, type(flags).__name__))
    result = {"files_changed": [], "files_created": [], "dirs_created": []}
    try:
        unit, argv, env = find_process(p["root"], p["distribution"], p["service"])
        result["service"] = unit
        if module.check_mode:
            planned = plan(p, argv, env)
        else:
            dropin_dir = _rancher.config_path(p["distribution"], argv, env) + ".d"
            real_dir = _rancher._node_path(p["root"], dropin_dir)  # pylint: disable=protected-access
            if not os.path.isdir(real_dir):
                planned = plan(p, argv, env)  # validate before creating anything
                if not planned["changes"]:
                    raise _rancher.RancherConfigError("internal: a missing %s with nothing to write" % dropin_dir)
                os.makedirs(real_dir, 0o755)
                result["dirs_created"] = [dropin_dir]
            real_dropin = os.path.join(real_dir, p["dropin_name"])
            with _nodewrite.lock(real_dropin, timeout=p["lock_timeout"], name=dropin_dir + "/" + p["dropin_name"]):
                planned = plan(p, argv, env)  # re-read under the lock
                if planned["changes"]:
                    backup = backup_namer(p["root"], p["backup_dir"], planned["changes"]) if p["backup"] else None
                    result["backup_files"] = _nodewrite.write_set(planned["changes"], backup=backup, prepare=_nodewrite.selinux_prepare(module))
    except _nodewrite.WriteSetError as exc:
        remove_empty(p["root"], result["dirs_created"])
        module.fail_json(msg=printable(str(exc)), changed=bool(exc.written), files_changed=exc.written, files_restored=exc.restored, backup_files=exc.backups)
    except (_rancher.RancherConfigError, _systemd.UnitError, _nodewrite.NodeFileError, OSError) as exc:
        remove_empty(p["root"], result["dirs_created"])
        module.fail_json(msg=printable(str(exc)))
    changes = planned.pop("changes")
    result.update(planned)
    result["files_changed"] = [change["path"] for change in changes]
    result["files_created"] = [planned["dropin"]] if planned.pop("created") else []
    result["changed"] = bool(changes)
    if module._diff and changes:
        result["diff"] = [dict(before=c["before"], after=c["after"], before_header=c["path"], after_header=c["path"]) for c in changes]
    if module.check_mode or not result.get("backup_files"):
        result.pop("backup_files", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
