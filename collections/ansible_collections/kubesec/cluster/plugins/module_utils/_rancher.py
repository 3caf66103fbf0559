# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""k3s and RKE2 on a node: the settings the single k3s / rke2 process starts its embedded kubelet, API server,
controller manager, scheduler and kube-proxy with.

Node side: stdlib + PyYAML only. Semantics follow k3s pkg/configfilearg (shared by RKE2) and the k3s docs
("Configuration File", "Multiple Config Files"):

- the config file is `--config`/`-c` on the command line, else $K3S_CONFIG_FILE / $RKE2_CONFIG_FILE, else
  /etc/rancher/<distribution>/config.yaml; drop-ins are `<config file>.d/*.yaml|*.yml` (case-insensitive, not
  directories) in file-name order, read after the config file (which may be absent when drop-ins exist);
- the last value of a key wins; a key ending in `+` appends to the value so far (a scalar becomes a one-item list);
- the merged keys become `--key=value` arguments (one per list item) placed right after the subcommand (`server`,
  `agent`), before the command line's own arguments, which therefore win (or, for lists, append);
- `kubelet-arg`, `kube-apiserver-arg`... items are `name=value` and become the component's `--name=value` flags,
  later items winning.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import os

from ansible_collections.kubesec.cluster.plugins.module_utils import _nodepath, _safeyaml
from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

DISTRIBUTIONS = ("k3s", "rke2")
CONFIG_ENV = {"k3s": "K3S_CONFIG_FILE", "rke2": "RKE2_CONFIG_FILE"}
SUBCOMMANDS = ("server", "agent")
# Which list argument of the k3s / rke2 process carries each embedded component's flags.
COMPONENT_ARGS = {
    "kubelet": "kubelet-arg",
    "kube-apiserver": "kube-apiserver-arg",
    "kube-controller-manager": "kube-controller-manager-arg",
    "kube-scheduler": "kube-scheduler-arg",
    "kube-proxy": "kube-proxy-arg",
    "etcd": "etcd-arg",
}
MAX_DROPINS = 256
MAX_CONFIG_BYTES = 1024 * 1024


class RancherConfigError(KubesecError, ValueError):
    """A k3s / RKE2 config file that cannot be read or understood (names the file)."""


def _node_path(root, path):
    """Real path of a node path, resolved inside the root (symlinks re-rooted; a path that leaves it is refused)."""
    try:
        return _nodepath.resolve(root or "/", path)
    except _nodepath.NodePathError as exc:
        raise RancherConfigError(str(exc)) from None


def default_config(distribution):
    if distribution not in DISTRIBUTIONS:
        raise RancherConfigError("unknown distribution %r (expected one of %s)" % (distribution, ", ".join(DISTRIBUTIONS)))
    return "/etc/rancher/%s/config.yaml" % distribution


def config_path(distribution, argv=None, env=None):
    """The config file the process reads: the command line's --config/-c, else the environment, else the default."""
    argv = list(argv or [])
    for index, arg in enumerate(argv):
        for name in ("--config", "-c"):
            if arg == name:
                return argv[index + 1] if index + 1 < len(argv) else None
            if arg.startswith(name + "="):
                return arg[len(name) + 1:]
    value = (env or {}).get(CONFIG_ENV.get(distribution, ""))
    return value or default_config(distribution)


def config_files(root, path):
    """[node path] the process reads, in order: the config file when it exists, then its .d drop-ins."""
    files = [path] if os.path.isfile(_node_path(root, path)) else []
    directory = path + ".d"
    try:
        names = sorted(os.listdir(_node_path(root, directory)))
    except FileNotFoundError:
        names = []
    except OSError as exc:
        raise RancherConfigError("cannot list %s: %s" % (directory, exc)) from exc
    dropins = [directory + "/" + name for name in names
               if name.lower().endswith((".yaml", ".yml")) and not os.path.isdir(_node_path(root, directory + "/" + name))]
    if len(dropins) > MAX_DROPINS:
        raise RancherConfigError("%s holds %d drop-ins (more than %d)" % (directory, len(dropins), MAX_DROPINS))
    return files + dropins


def _read(root, path):
    try:
        with open(_node_path(root, path), "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise RancherConfigError("cannot read %s: %s" % (path, exc)) from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise RancherConfigError("%s is larger than %d bytes" % (path, MAX_CONFIG_BYTES))
    try:
        parsed = _safeyaml.load(data.decode("utf-8"), path)  # bounded: no alias bombs, no deep nesting
    except UnicodeDecodeError as exc:
        raise RancherConfigError("%s is not UTF-8 text: %s" % (path, exc)) from exc
    except _safeyaml.SafeYAMLError as exc:
        raise RancherConfigError(str(exc)) from exc
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise RancherConfigError("%s must be a mapping of option: value, not %s" % (path, type(parsed).__name__))
    return parsed


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _as_list(value):
    if isinstance(value, list):
        return list(value)
    text = _text(value).strip()
    return [text] if text else []


def merge_config(root, files):
    """(values, sources): the merged options ({key: value}, in first-seen order) and the file that set each last."""
    values, sources = {}, {}
    for path in files:
        for key, value in _read(root, path).items():
            key = _text(key)
            append = key.endswith("+")
            key = key[:-1] if append else key
            if append and key in values:
                values[key] = _as_list(values[key]) + _as_list(value)
                sources[key] = sources[key] + [path] if isinstance(sources[key], list) else [sources[key], path]
            else:
                values[key] = value
                sources[key] = path
    return values, sources


def config_args(values):
    """The merged options as the `--key=value` arguments k3s puts before the command line's own."""
    args = []
    for key, value in values.items():
        prefix = "-" if len(key) == 1 else "--"
        for item in (value if isinstance(value, list) else [value]):
            args.append("%s%s=%s" % (prefix, key, _text(item)))
    return args


def effective_args(root, distribution, argv, env=None):
    """{args, config_file, files, sources}: the arguments the process acts on, config file first.

    argv is the process command line as systemd starts it (`/usr/local/bin/k3s server --flag ...`)."""
    argv = list(argv or [])
    path = config_path(distribution, argv, env)
    files = config_files(root, path) if path else []
    values, sources = merge_config(root, files)
    split = next((i + 1 for i, arg in enumerate(argv) if arg in SUBCOMMANDS), len(argv))
    return {"args": argv[:split] + config_args(values) + argv[split:], "config_file": path, "files": files,
            "sources": sources, "subcommand": argv[split - 1] if split and argv[split - 1] in SUBCOMMANDS else None}


def _values_of(args, name):
    """Every value of a repeatable `--name value` / `--name=value` argument, in order."""
    out = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("--" + name + "="):
            out.append(arg[len(name) + 3:])
        elif arg == "--" + name and index + 1 < len(args):
            out.append(args[index + 1])
            index += 1
        index += 1
    return out


def component_flags(args, component):
    """{--flag: value} the process gives an embedded component (later items win), from its `<component>-arg`s."""
    if component not in COMPONENT_ARGS:
        raise RancherConfigError("no %s argument list for component %r" % ("/".join(DISTRIBUTIONS), component))
    flags = {}
    for item in _values_of(args, COMPONENT_ARGS[component]):
        name, sep, value = item.lstrip("-").partition("=")
        if not name:
            raise RancherConfigError("%s item %r has no flag name" % (COMPONENT_ARGS[component], item))
        flags["--" + name] = value if sep else "true"
    return flags


def detect(root):
    """'k3s' or 'rke2' from the files the installers write below root, else None (both: the config file decides)."""
    found = [dist for dist in DISTRIBUTIONS
             if os.path.isdir(_node_path(root, "/var/lib/rancher/%s" % dist))
             or os.path.isdir(_node_path(root, "/etc/rancher/%s" % dist))]
    if len(found) == 1:
        return found[0]
    with_config = [dist for dist in found if os.path.isfile(_node_path(root, default_config(dist)))]
    return with_config[0] if len(with_config) == 1 else None
