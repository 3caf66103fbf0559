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
  - Every changed file is written atomically (temp file in the same directory, then rename) and can be backed up
    first; the paths of the backups are returned so a failed restart can be rolled back.
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
backup_files:
  description: Map of changed file (real path) to its backup copy, for rollback.
  returned: changed and O(backup=true)
  type: dict
  sample: {/var/lib/kubelet/config.yaml: /var/lib/kubesec/kubelet-backups/var_lib_kubelet_config.yaml.20261124T060000.000000Z}
"""

import datetime
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kubesec.cluster.plugins.module_utils import _kubelet_config, _systemd


def write_file(module, real, content):
    """Temp file beside the target, then atomic_move (keeps the target's mode and owner)."""
    directory = os.path.dirname(real)
    fd, tmp = tempfile.mkstemp(prefix=".kubesec-", dir=directory)
    module.add_cleanup_file(tmp)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    if not os.path.exists(real):
        os.chmod(tmp, 0o600)
    module.atomic_move(tmp, real)


def backup_to_dir(root, backup_dir, node_file, real):
    """Copy a file into the backup directory (created 0700, below root); returns the copy's real path."""
    directory = _kubelet_config.node_path(root, backup_dir)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = os.path.join(directory, "%s.%s" % (node_file.strip("/").replace("/", "_"), stamp))
    shutil.copy2(real, target)
    return target


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
            backup_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    if not _kubelet_config.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (python3-yaml)"))
    p = module.params
    for name in p["flags"]:
        if not name.startswith("--"):
            module.fail_json(msg="flag names must start with --, got %r" % name)
    try:
        result = _kubelet_config.plan(p["root"], p["service"], p["settings"], p["flags"], p["expected_kind"],
                                      p["config_path"], p["extra_args_file"], p["extra_args_var"])
    except (_kubelet_config.KubeletConfigError, _systemd.UnitError) as exc:
        module.fail_json(msg=str(exc))
    changes = result.pop("changes")
    result.pop("flags_before")
    result["files_changed"] = [change["path"] for change in changes]
    result["changed"] = bool(changes)
    if module._diff and changes:
        result["diff"] = [dict(before=c["before"], after=c["after"], before_header=c["path"], after_header=c["path"])
                          for c in changes]
    if changes and not module.check_mode:
        backups = {}
        for change in changes:
            if p["backup"] and os.path.exists(change["real"]):
                if p["backup_dir"]:
                    backups[change["real"]] = backup_to_dir(p["root"], p["backup_dir"], change["path"], change["real"])
                else:
                    backups[change["real"]] = module.backup_local(change["real"])
            write_file(module, change["real"], change["after"])
        if p["backup"]:
            result["backup_files"] = backups
    module.exit_json(**result)


if __name__ == "__main__":
    main()
