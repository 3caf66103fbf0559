#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: kubelet_config
short_description: Set keys in the KubeletConfiguration file and keep the kubelet flags consistent with them
version_added: 0.1.0
description:
  - Declaratively sets (or removes) keys of the kubelet configuration file, including nested keys such as
    C(authentication.anonymous.enabled). Unknown keys and the order of keys are preserved; comments in the
    file are not (the file is rewritten as YAML).
  - Command-line flags win over the config file, so a kubelet flag that overrides a managed key (for example
    C(--anonymous-auth=true) in C(/etc/default/kubelet)) is removed from wherever it is defined, an
    EnvironmentFile or a systemd drop-in. Flags can also be set or removed explicitly with O(flags).
  - Works for kube-proxy too (O(service=kube-proxy.service), O(expected_kind=KubeProxyConfiguration)).
  - Check mode reports what would change, with a diff per file; nothing is written.
  - All the files of one change are changed together or not at all. Every new content is first written to a
    temp file beside its target; only when all are written are they renamed over the targets, and a failure
    between renames puts the renamed ones back. Every changed file can be backed up first; the paths of the
    backups are returned (also when the module fails) so a failed restart can be rolled back.
  - Two runs at once on one node take turns (a lock beside the config file); each reads the files under the
    lock, so no change is lost.
  - Every node path (the config file, unit files, environment files, and the paths named in them) is resolved
    inside O(root); absolute symlinks are followed from O(root), and a path that would leave it is refused.
  - Files it reads are bounded (4 MiB, YAML aliases expanding past 100000 nodes refused); an empty config file
    is refused like malformed YAML. Messages quote node data with control characters escaped.
  - The module does not restart the kubelet; the M(kubesec.cluster.node_hardening) role's handler does, checks
    health and rolls back on failure.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes
  - kubesec.cluster.attributes.NODE_ROOT
options:
  settings:
    description:
      - Keys to set, as dotted paths (C(authentication.anonymous.enabled)) with their values.
      - A value of V(null) removes the key.
    type: dict
    default: {}
  flags:
    description:
      - Flags to set (C(--pod-max-pids=4096)) or, with a value of V(null), remove wherever they are defined.
      - A new flag is appended to the O(extra_args_var) variable of O(extra_args_file).
    type: dict
    default: {}
  service:
    description: The systemd service whose unit, drop-ins and environment files define the flags.
    type: str
    default: kubelet.service
  config_path:
    description: The config file. Defaults to the value of the service's C(--config) flag.
    type: path
  expected_kind:
    description: The C(kind) the config file must have; the module refuses to touch anything else.
    type: str
    default: KubeletConfiguration
  extra_args_file:
    description: Environment file for new flags (C(/etc/sysconfig/kubelet) on RHEL-like nodes).
    type: path
    default: /etc/default/kubelet
  extra_args_var:
    description: Variable in O(extra_args_file) that holds extra flags.
    type: str
    default: KUBELET_EXTRA_ARGS
  backup:
    description: Keep a timestamped copy of every file before changing it (in O(backup_dir)).
    type: bool
    default: true
  lock_timeout:
    description:
      - Seconds to wait for another run changing the same component on this node (a lock file
        C(.kubesec-<config file name>.lock) beside the config file); then the module fails and changes nothing.
    type: int
    default: 60
  backup_dir:
    description:
      - Node directory (below O(root), created 0700) for the backups, named after the file's node path and the time
        (C(var_lib_kubelet_config.yaml.20261206T031500.123456Z)). Keep it outside C(/var/lib/kubelet) and the unit's
        drop-in directories, which the kubelet and systemd read.
      - Unset, a backup lands next to its file, ending in C(~) (Ansible's C(backup_local)).
    type: path
requirements:
  - PyYAML on the node (python3-yaml)
seealso:
  - module: kubesec.cluster.cis_node_audit
"""

EXAMPLES = r"""
- name: CIS 4.2.1 / 4.2.12 / 4.2.13 on the kubelet
  kubesec.cluster.kubelet_config:
    settings:
      authentication.anonymous.enabled: false
      tlsCipherSuites:
        - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
      podPidsLimit: 4096
  register: kubelet_change

- name: Drop a flag that must not be set (CIS 4.2.7)
  kubesec.cluster.kubelet_config:
    flags:
      --hostname-override: null

- name: kube-proxy metrics on localhost only (CIS 4.3.1)
  kubesec.cluster.kubelet_config:
    service: kube-proxy.service
    config_path: /var/lib/kube-proxy/config.conf
    expected_kind: KubeProxyConfiguration
    settings:
      metricsBindAddress: 127.0.0.1:10249
"""

RETURN = r"""
config_path:
  description: The config file that was managed (node path, without O(root)).
  returned: always
  type: str
  sample: /var/lib/kubelet/config.yaml
settings_changed:
  description: Keys whose value changed.
  returned: always
  type: list
  elements: str
flags_removed:
  description: Flags that were removed because they overrode a managed key or were asked to go.
  returned: always
  type: list
  elements: str
flags_set:
  description: Flags that were added or rewritten.
  returned: always
  type: list
  elements: str
files_changed:
  description: Node paths of the files that changed (or would change in check mode).
  returned: always
  type: list
  elements: str
files_restored:
  description: On a failed write, the files that had been replaced and were put back as they were.
  returned: failure while writing
  type: list
  elements: str
backup_files:
  description: Map of changed file (real path) to its backup copy, for rollback.
  returned: changed and O(backup=true); also on a failed write
  type: dict
  sample: {/var/lib/kubelet/config.yaml: /var/lib/kubesec/kubelet-backups/var_lib_kubelet_config.yaml.20261124T060000.000000Z}
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kubesec.cluster.plugins.module_utils import _kubelet_config, _nodewrite, _systemd
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages, printable


def fail(module, msg, **kwargs):
    """fail_json with node data in the message escaped (a file can hold terminal control sequences)."""
    module.fail_json(msg=printable(msg), **kwargs)


def plan_and_write(module, p, result_box):
    """Plan under the lock (re-reading every file) and write the whole set; fills result_box."""
    config_path, config_real = _kubelet_config.config_file(p["root"], p["service"], p["config_path"])
    with _nodewrite.lock(config_real, timeout=p["lock_timeout"], name=config_path):
        result = _kubelet_config.plan(
            p["root"], p["service"], p["settings"], p["flags"], p["expected_kind"], config_path, p["extra_args_file"], p["extra_args_var"]
        )
        result_box.update(result)
        if result["changes"]:
            result_box["backup_files"] = _nodewrite.write_set(
                result["changes"], backup=backup_namer(p, result["changes"]), prepare=_nodewrite.selinux_prepare(module)
            )


def backup_namer(p, changes):
    """Where write_set copies each file before changing it: beside it (Ansible's backup_local name) or, with
    backup_dir, into that node directory (created 0700 by write_set) named after the file's node path and the time."""
    if not p["backup"]:
        return None
    if not p["backup_dir"]:
        return _nodewrite.backup_name
    directory = _kubelet_config.node_path(p["root"], p["backup_dir"])
    node_file = {change["real"]: change["path"] for change in changes}
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")

    def name(real):
        return os.path.join(directory, "%s.%s" % (node_file.get(real, real).strip("/").replace("/", "_"), stamp))

    return name


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", default="/"),
            settings=dict(type="dict", default={}),
            flags=dict(type="dict", default={}),
            service=dict(type="str", default="kubelet.service"),
            config_path=dict(type="path"),
            expected_kind=dict(type="str", default="KubeletConfiguration"),
            extra_args_file=dict(type="path", default="/etc/default/kubelet"),
            extra_args_var=dict(type="str", default="KUBELET_EXTRA_ARGS"),
            backup=dict(type="bool", default=True),
            lock_timeout=dict(type="int", default=60),
            backup_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    if not _kubelet_config.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (python3-yaml)"))
    p = module.params
    for name in p["flags"]:
        if not name.startswith("--"):
            fail(module, "flag names must start with --, got %r" % name)
    result = {}
    try:
        if module.check_mode:  # reads only: no lock file, nothing written
            result.update(
                _kubelet_config.plan(
                    p["root"], p["service"], p["settings"], p["flags"], p["expected_kind"], p["config_path"], p["extra_args_file"], p["extra_args_var"]
                )
            )
        else:
            plan_and_write(module, p, result)
    except _nodewrite.WriteSetError as exc:
        fail(module, str(exc), changed=bool(exc.written), files_changed=exc.written, files_restored=exc.restored, backup_files=exc.backups)
    except (_kubelet_config.KubeletConfigError, _systemd.UnitError, _nodewrite.NodeFileError) as exc:
        fail(module, str(exc))
    changes = result.pop("changes")
    result.pop("flags_before")
    result["files_changed"] = [change["path"] for change in changes]
    result["changed"] = bool(changes)
    if module._diff and changes:
        result["diff"] = [dict(before=c["before"], after=c["after"], before_header=c["path"], after_header=c["path"]) for c in changes]
    if not p["backup"] or not changes or module.check_mode:
        result.pop("backup_files", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
