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

from __future__ import annotations

import os
from typing import Any, Optional

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
# Process options (not *-arg lists) kubesec may write to its drop-in, per distribution: RKE2 runs kube-apiserver as a
# static pod and mounts the audit policy only when it comes from its own `audit-policy-file` option (rke2
# pkg/rke2/rke2_linux.go -> pkg/executor/staticpod APIServer); a scalar option: the last file that sets it wins and
# the command line's --audit-policy-file wins over every file.
DROPIN_OPTIONS = {"k3s": (), "rke2": ("audit-policy-file",)}
# RKE2 (pkg/executor/staticpod/staticpod.go, APIServer / ControllerManager): with an audit policy file (its
# `audit-policy-file` option, or /etc/rancher/rke2/audit-policy.yaml under `profile: cis`) it puts these flags BEFORE
# the kube-apiserver-arg items (which therefore win), and the log path when no item sets one; the controller manager
# always gets --terminated-pod-gc-threshold=1000 first. k3s adds none of the flags kubesec sets.
RKE2_DEFAULT_AUDIT_POLICY = "/etc/rancher/rke2/audit-policy.yaml"
RKE2_AUDIT_DEFAULTS = {"--audit-log-maxage": "30", "--audit-log-maxbackup": "10", "--audit-log-maxsize": "100"}
RKE2_CONTROLLER_MANAGER_DEFAULTS = {"--terminated-pod-gc-threshold": "1000"}


class RancherConfigError(KubesecError, ValueError):
    """A k3s / RKE2 config file that cannot be read or understood (names the file)."""


def _node_path(root: str, path: str) -> str:
    """Real path of a node path, resolved inside the root (symlinks re-rooted; a path that leaves it is refused)."""
    try:
        return _nodepath.resolve(root or "/", path)
    except _nodepath.NodePathError as exc:
        raise RancherConfigError(str(exc)) from None


def default_config(distribution: str) -> str:
    if distribution not in DISTRIBUTIONS:
        raise RancherConfigError("unknown distribution %r (expected one of %s)" % (distribution, ", ".join(DISTRIBUTIONS)))
    return "/etc/rancher/%s/config.yaml" % distribution


def config_path(distribution: str, argv: Optional[list[str]] = None, env: Optional[dict[str, str]] = None) -> Optional[str]:
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


def config_files(root: str, path: str) -> list[str]:
    """[node path] the process reads, in order: the config file when it exists, then its .d drop-ins."""
    files = [path] if os.path.isfile(_node_path(root, path)) else []
    directory = path + ".d"
    try:
        names = sorted(os.listdir(_node_path(root, directory)))
    except FileNotFoundError:
        names = []
    except OSError as exc:
        raise RancherConfigError("cannot list %s: %s" % (directory, exc)) from exc
    dropins = [
        directory + "/" + name for name in names if name.lower().endswith((".yaml", ".yml")) and not os.path.isdir(_node_path(root, directory + "/" + name))
    ]
    if len(dropins) > MAX_DROPINS:
        raise RancherConfigError("%s holds %d drop-ins (more than %d)" % (directory, len(dropins), MAX_DROPINS))
    return files + dropins


def _read(root: str, path: str) -> dict[str, Any]:
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


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return list(value)
    text = _text(value).strip()
    return [text] if text else []


def merge_config(
    root: str,
    files: list[str],
    overrides: Optional[dict[str, dict[str, Any]]] = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values, sources): the merged options ({key: value}, in first-seen order) and the file that set each last.

    overrides: {node path: parsed content} read instead of the file (a planned drop-in, before it is written)."""
    values: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for path in files:
        content = overrides[path] if overrides and path in overrides else _read(root, path)
        for key, value in content.items():
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


def config_args(values: dict[str, Any]) -> list[str]:
    """The merged options as the `--key=value` arguments k3s puts before the command line's own."""
    args = []
    for key, value in values.items():
        prefix = "-" if len(key) == 1 else "--"
        for item in value if isinstance(value, list) else [value]:
            args.append("%s%s=%s" % (prefix, key, _text(item)))
    return args


def effective_args(
    root: str, distribution: str, argv: Optional[list[str]], env: Optional[dict[str, str]] = None, overrides: Optional[dict[str, dict[str, Any]]] = None
) -> dict[str, Any]:
    """{args, config_file, files, sources}: the arguments the process acts on, config file first.

    argv is the process command line as systemd starts it (`/usr/local/bin/k3s server --flag ...`);
    overrides ({node path: parsed content}) stand in for files (a drop-in not written yet is added in order)."""
    argv = list(argv or [])
    path = config_path(distribution, argv, env)
    files = config_files(root, path) if path else []
    for extra in sorted(overrides or {}):
        if path and extra not in files and extra.startswith(path + ".d/"):
            dropins = [name for name in files if name != path] + [extra]
            files = ([path] if path in files else []) + sorted(dropins, key=lambda name: name.rsplit("/", 1)[1])
    values, sources = merge_config(root, files, overrides)
    split = next((i + 1 for i, arg in enumerate(argv) if arg in SUBCOMMANDS), len(argv))
    return {
        "args": argv[:split] + config_args(values) + argv[split:],
        "config_file": path,
        "files": files,
        "sources": sources,
        "subcommand": argv[split - 1] if split and argv[split - 1] in SUBCOMMANDS else None,
    }


def _values_of(args: list[str], name: str) -> list[str]:
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


def component_flags(args: list[str], component: str) -> dict[str, str]:
    """{--flag: value} the process gives an embedded component (later items win), from its `<component>-arg`s."""
    if component not in COMPONENT_ARGS:
        raise RancherConfigError("no %s argument list for component %r" % ("/".join(DISTRIBUTIONS), component))
    flags: dict[str, str] = {}
    for item in _values_of(args, COMPONENT_ARGS[component]):
        name, sep, value = item.lstrip("-").partition("=")
        if not name:
            raise RancherConfigError("%s item %r has no flag name" % (COMPONENT_ARGS[component], item))
        flags["--" + name] = value if sep else "true"
    return flags


def server_flags(distribution: str, args: list[str], component: str, data_dir: Optional[str] = None) -> dict[str, str]:
    """component_flags plus what the distribution itself passes first (RKE2's audit and GC defaults), items winning."""
    flags = component_flags(args, component)
    if distribution != "rke2":
        return flags
    data_dir = option_value(args, "data-dir") or data_dir or "/var/lib/rancher/rke2"
    defaults: dict[str, str] = {}
    if component == "kube-apiserver":
        policy = option_value(args, "audit-policy-file")
        if not policy and option_value(args, "profile") in ("cis", "cis-1.23"):
            policy = RKE2_DEFAULT_AUDIT_POLICY
        if policy:
            defaults = dict(RKE2_AUDIT_DEFAULTS, **{"--audit-policy-file": policy})
            if "--audit-log-path" not in flags:
                defaults["--audit-log-path"] = data_dir.rstrip("/") + "/server/logs/audit.log"
    elif component == "kube-controller-manager":
        defaults = dict(RKE2_CONTROLLER_MANAGER_DEFAULTS)
    defaults.update(flags)
    return defaults


def detect(root: str) -> Optional[str]:
    """'k3s' or 'rke2' from the files the installers write below root, else None (both: the config file decides)."""
    found = [
        dist
        for dist in DISTRIBUTIONS
        if os.path.isdir(_node_path(root, "/var/lib/rancher/%s" % dist)) or os.path.isdir(_node_path(root, "/etc/rancher/%s" % dist))
    ]
    if len(found) == 1:
        return found[0]
    with_config = [dist for dist in found if os.path.isfile(_node_path(root, default_config(dist)))]
    return with_config[0] if len(with_config) == 1 else None


# --- Hardening: kubesec's own drop-in -------------------------------------------------------------------------
# kubesec writes its settings to one file of its own, <config file>.d/<name> (default 90-kubesec.yaml), never to
# the operator's config.yaml: that file is often templated by other automation and holds comments a YAML rewrite
# would lose. Every key of the drop-in is `<component>-arg+:`, so its items are appended to what config.yaml and
# earlier drop-ins set (those stay as they are) and, coming later, win. Rollback is restoring (or removing) one file.
DROPIN_NAME = "90-kubesec.yaml"
DROPIN_HEADER = (
    "# Written by kubesec (kubesec.cluster.node_hardening / control_plane_hardening): CIS settings for the\n"
    "# %s process, appended (key+) to the *-arg lists of %s. Change them through kubesec's\n"
    "# inventory (kubesec_cis_controls), not here: kubesec rewrites this file.\n"
)


def _flag_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(item) for item in value)
    return _text(value)


def _map_flag(text: str) -> dict[str, str]:
    """`A=true,B=false` (a map-valued flag such as --feature-gates) as {A: 'true', B: 'false'}."""
    out: dict[str, str] = {}
    for part in text.split(","):
        name, _sep, value = part.strip().partition("=")
        if name.strip():
            out[name.strip()] = value.strip()
    return out


def _dropin_items(path: str, data: dict[str, Any], distribution: str = "k3s") -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """({component: {flag name: value}}, {option: value}) of an existing kubesec drop-in; anything else is refused."""
    by_arg = dict((arg, component) for component, arg in COMPONENT_ARGS.items())
    items: dict[str, dict[str, str]] = {}
    options: dict[str, str] = {}
    for key, value in data.items():
        if _text(key) in DROPIN_OPTIONS.get(distribution, ()) and not isinstance(value, (list, dict)):
            options[_text(key)] = _text(value)
            continue
        arg = _text(key)[:-1] if _text(key).endswith("+") else None
        if arg not in by_arg or not isinstance(value, list):
            raise RancherConfigError(
                "%s holds %r, which kubesec does not write (only <component>-arg+: lists%s); move "
                "your own settings to config.yaml or another drop-in"
                % (path, _text(key), "".join(", %s" % name for name in DROPIN_OPTIONS.get(distribution, ())))
            )
        flags = items.setdefault(by_arg[arg], {})
        for item in value:
            name, sep, flag_value = _text(item).lstrip("-").partition("=")
            if not name or not sep:
                raise RancherConfigError("%s: %s item %r is not name=value" % (path, key, item))
            flags[name] = flag_value
    return items, options


def dump_dropin(distribution: str, config_file: str, items: dict[str, dict[str, str]], options: Optional[dict[str, str]] = None) -> str:
    """The drop-in's text: a header, the process options, then `<component>-arg+:` lists in COMPONENT_ARGS order."""
    lines = [DROPIN_HEADER % (distribution, config_file)]
    for name in sorted(options or {}):
        lines.append("%s: %s\n" % (name, _quote_item((options or {})[name])))
    for component, arg in COMPONENT_ARGS.items():
        flags = items.get(component) or {}
        if not flags:
            continue
        lines.append("%s+:\n" % arg)
        for name in sorted(flags):
            lines.append("  - %s\n" % _quote_item("%s=%s" % (name, flags[name])))
    return "".join(lines)


def _quote_item(item: str) -> str:
    """A list item as a YAML double-quoted scalar (values hold ':' and ',' ), control characters refused."""
    if any(ord(char) < 32 or ord(char) == 127 for char in item):
        raise RancherConfigError("refusing to write %r: control characters in a flag value" % item)
    return '"%s"' % item.replace("\\", "\\\\").replace('"', '\\"')


def _overridden_by(argv: list[str], effective: dict[str, Any], component: str, flag: str) -> str:
    """Where a later setting of a component flag comes from: the unit's command line, or a later config file."""
    arg = COMPONENT_ARGS[component]
    split = next((i + 1 for i, word in enumerate(argv) if word in SUBCOMMANDS), len(argv))
    if any(value.lstrip("-").partition("=")[0] == flag.lstrip("-") for value in _values_of(argv[split:], arg)):
        return "the %s command line (--%s), which wins over every config file" % (argv[0] if argv else "process", arg)
    source = effective["sources"].get(arg)
    last = source[-1] if isinstance(source, list) else source
    return "%s, which sets %s: without '+' after kubesec's drop-in and replaces its items" % (last, arg)


def plan_dropin(
    root: str,
    distribution: str,
    argv: list[str],
    wanted: dict[str, dict[str, Any]],
    env: Optional[dict[str, str]] = None,
    name: str = DROPIN_NAME,
    options: Optional[dict[str, Optional[str]]] = None,
) -> dict[str, Any]:
    """Plan kubesec's drop-in so that each component flag in `wanted` (and each process option) takes effect.

    wanted: {component: {--flag: value}}; a value of None removes the flag from kubesec's drop-in (and fails if
    another file still sets it), a dict merges into a map-valued flag (--feature-gates) as the process has it now.
    options: {option: value} of DROPIN_OPTIONS[distribution] (RKE2's audit-policy-file); None removes it.
    Returns {changes: [{path, real, before, after}], dropin, config_file, created, args_set, args_removed,
    overridden: [user items kubesec's now win over], flags_before: {component: {--flag: value}} as the process
    passes them now (the distribution's own defaults included), options_before}. Nothing is written."""
    path = config_path(distribution, argv, env)
    if not path:
        raise RancherConfigError("the %s command line has --config without a file name" % distribution)
    if "/" in name or not name.lower().endswith((".yaml", ".yml")) or name.startswith("."):
        raise RancherConfigError("drop-in name %r must be a plain *.yaml file name (k3s reads only those)" % name)
    dropin = path + ".d/" + name
    real = _node_path(root, dropin)
    exists = os.path.isfile(real)
    before_text = ""
    current: dict[str, dict[str, str]] = {}
    current_options: dict[str, str] = {}
    if exists:
        before_text = _read_text(root, dropin)
        current, current_options = _dropin_items(dropin, _read(root, dropin), distribution)
    now = effective_args(root, distribution, argv, env)
    items = dict((component, dict(flags)) for component, flags in current.items())
    opts = dict(current_options)
    args_set, args_removed = [], []
    for option, value in (options or {}).items():
        if option not in DROPIN_OPTIONS.get(distribution, ()):
            raise RancherConfigError(
                "kubesec does not write the %s option %r (it writes %s)"
                % (distribution, option, ", ".join(DROPIN_OPTIONS.get(distribution, ())) or "only *-arg lists")
            )
        if value is None:
            if opts.pop(option, None) is not None:
                args_removed.append("%s" % option)
            continue
        if opts.get(option) != _text(value):
            args_set.append("%s=%s" % (option, _text(value)))
        opts[option] = _text(value)
    for component, flags in wanted.items():
        if component not in COMPONENT_ARGS:
            raise RancherConfigError("no %s argument list for component %r" % (distribution, component))
        live = component_flags(now["args"], component)
        mine = items.setdefault(component, {})
        for flag, value in flags.items():
            if not flag.startswith("--") or len(flag) < 3 or "=" in flag:
                raise RancherConfigError("flag names must look like --name, got %r" % flag)
            bare = flag[2:]
            if value is None:
                if mine.pop(bare, None) is not None:
                    args_removed.append("%s %s" % (component, flag))
                continue
            if isinstance(value, dict):
                merged = _map_flag(live.get(flag, ""))
                merged.update(dict((key, _flag_text(item)) for key, item in value.items()))
                text = ",".join("%s=%s" % pair for pair in merged.items())
            else:
                text = _flag_text(value)
            if mine.get(bare) != text:
                args_set.append("%s %s=%s" % (component, flag, text))
            mine[bare] = text
    items = dict((component, flags) for component, flags in items.items() if flags)
    after_text = dump_dropin(distribution, path, items, opts)
    after_data = _dropin_data(items, opts)
    planned = effective_args(root, distribution, argv, env, overrides={dropin: after_data})
    overridden = []
    for option, value in (options or {}).items():
        result_value = option_value(planned["args"], option)
        if (value is None and result_value is not None and option not in current_options) or (value is not None and result_value != _text(value)):
            raise RancherConfigError(
                "cannot %s the %s option %s%s: %s; nothing was changed"
                % ("remove" if value is None else "set", distribution, option, "" if value is None else "=%s" % value, _option_source(argv, planned, option))
            )
        before_value = option_value(now["args"], option)
        if value is not None and before_value is not None and before_value != _text(value) and option not in current_options:
            overridden.append("%s=%s" % (option, before_value))
    for component, flags in wanted.items():
        result = component_flags(planned["args"], component)
        before = component_flags(now["args"], component)
        for flag, value in flags.items():
            if value is None:
                if flag in result:
                    raise RancherConfigError(
                        "cannot remove %s from the %s: %s still sets it (%s=%s)"
                        % (flag, component, _overridden_by(argv, planned, component, flag), flag, result[flag])
                    )
                continue
            want = items[component][flag[2:]]
            if result.get(flag) != want:
                raise RancherConfigError(
                    "cannot set %s %s=%s: %s; nothing was changed" % (component, flag, want, _overridden_by(argv, planned, component, flag))
                )
            if flag in before and before[flag] != want and current.get(component, {}).get(flag[2:]) is None:
                overridden.append("%s %s=%s" % (component, flag, before[flag]))
    changes = []
    if after_text != before_text:
        changes.append({"path": dropin, "real": real, "before": before_text, "after": after_text})
    return {
        "changes": changes,
        "dropin": dropin,
        "config_file": path,
        "created": bool(changes) and not exists,
        "args_set": sorted(args_set),
        "args_removed": sorted(args_removed),
        "overridden": sorted(overridden),
        "flags_before": dict((component, server_flags(distribution, now["args"], component)) for component in COMPONENT_ARGS),
        "options_before": dict((option, option_value(now["args"], option)) for option in ("profile", *DROPIN_OPTIONS.get(distribution, ()))),
    }


def _option_source(argv: list[str], effective: dict[str, Any], option: str) -> str:
    """Where the winning value of a scalar process option comes from: the command line, or a later config file."""
    split = next((i + 1 for i, word in enumerate(argv) if word in SUBCOMMANDS), len(argv))
    if _values_of(argv[split:], option):
        return "the %s command line (--%s), which wins over every config file" % (argv[0] if argv else "process", option)
    source = effective["sources"].get(option)
    last = source[-1] if isinstance(source, list) else source
    return "%s sets %s after kubesec's drop-in" % (last, option)


def _dropin_data(items: dict[str, dict[str, str]], options: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """What k3s parses from dump_dropin's text (the same data, without reading YAML back)."""
    data: dict[str, Any] = dict(options or {})
    data.update(
        ("%s+" % COMPONENT_ARGS[component], ["%s=%s" % (name, flags[name]) for name in sorted(flags)]) for component, flags in items.items() if flags
    )
    return data


def _read_text(root: str, path: str) -> str:
    try:
        with open(_node_path(root, path), "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise RancherConfigError("cannot read %s: %s" % (path, exc)) from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise RancherConfigError("%s is larger than %d bytes" % (path, MAX_CONFIG_BYTES))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RancherConfigError("%s is not UTF-8 text: %s" % (path, exc)) from exc


# --- Read side: server options ------------------------------------------------------------------------------------
def option_value(args: list[str], name: str) -> Optional[str]:
    """The last value of a k3s / rke2 option in the effective arguments (config file first, command line last):
    `--name=value`, `--name value`, or a bare boolean `--name` ("true"); None when not given."""
    value: Optional[str] = None
    for index, arg in enumerate(args):
        if arg.startswith("--" + name + "="):
            value = arg[len(name) + 3:]
        elif arg == "--" + name:
            following = args[index + 1] if index + 1 < len(args) else None
            value = following if following is not None and not following.startswith("-") and following not in SUBCOMMANDS else "true"
    return value
