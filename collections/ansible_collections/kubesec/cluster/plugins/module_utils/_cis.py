# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generic evaluator for CIS catalogues (data/cis/<version>.yml) against one node's files.

The catalogue says what to read and the pass condition; this module reads the node (under `root`),
works out effective settings (command-line flags win over the config file, as in kube-bench) and turns
every check into a normalized finding. Status rules follow kube-bench: a failing unscored check is WARN.

Catalogue vocabulary (data/cis/<version>.yml):
- components: `{unit: kubelet.service, config_path | config_flag | config_default, boolean_flags}` for a systemd
  service, plus `config_only_from_flag` (no config file unless config_flag names one: the kubelet),
  `dropin_flag` + `config_kind` (a --config-dir of drop-ins merged over the config file) and `cluster_config`
  (a name in audit_node's cluster_configs used when the node does not run the component: the kube-proxy
  ConfigMap); `{manifest: <path key | path | list>, container: NAME, boolean_flags, unit?}` for a static pod
  (flags are the container's command + args; paths named by its flags are mapped through the pod's hostPath
  mounts; `unit` is a fallback when no manifest exists).
- paths: `{component, flag, config, default: [...]}`; a test may also name a node path directly.
- test types: file_mode `{file | find | unit_of, max, requires_config?}`, file_owner `{file | find | unit_of,
  owner, requires_config?}` (file: one key or a list of keys/paths, missing ones skipped; find: `{dir, name,
  type: f|d, mindepth}` or a list of them; unit_of: every unit file and drop-in of a component's systemd unit;
  every file is judged and the offending ones are named; requires_config: not applicable when that component
  runs without a config file), setting `{component, flag, env, flag_key, config, op, value, if_unset,
  zero_means_default?, default_without_config?, default?}`, unit_setting, all `{tests}`, manual `{review,
  component?, flag?}` (always WARN), not_applicable `{reason}` (kube-bench `type: skip`: INFO with the reason),
  audit_policy `{file, min_level, resources: [{group, resource (or
  resource/subresource), verbs?, min_level?, max_level?}]}`, encryption_providers `{file, allowed}`.
- target_sections / target: kube-bench targets; target_components: a target is skipped on a node where none
  of its components exists. Checks of master, controlplane and etcd are reported as cis-control-plane.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
import stat
from typing import Any, Iterable, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding, apply_waiver, count_statuses
from ansible_collections.kubesec.cluster.plugins.module_utils import _nodepath, _parsing, _rancher, _safeyaml, _systemd
from ansible_collections.kubesec.cluster.plugins.module_utils import _static_pod, _rancher_cp

from ansible_collections.kubesec.cluster.plugins.module_utils._safeyaml import HAS_YAML

pwd: Any
grp: Any
try:
    import pwd
    import grp
except ImportError:  # pragma: no cover - not on POSIX
    pwd = grp = None

MISSING = object()
# kube-bench targets evaluated on control-plane nodes: their findings carry the cis-control-plane source.
CONTROL_PLANE_TARGETS = ("master", "controlplane", "etcd")
AUDIT_LEVELS = ("None", "Metadata", "Request", "RequestResponse")
MAX_FIND_ENTRIES = 20000
MAX_EVIDENCE_FILES = 200
MAX_DROPINS = 500


class CatalogueError(KubesecError, ValueError):
    """The catalogue itself is wrong (names the check and field)."""


def node_path(root: str, path: str) -> str:
    """Real path of a node path, resolved inside the root (symlinks re-rooted); NodePathError if it leaves it."""
    return _nodepath.resolve(root, "/" + str(path).lstrip("/"))


def parse_duration(value: Any) -> float:
    """Go duration (5m, 4h0m0s, 0s, 300ms) or a bare number of seconds -> seconds (float)."""
    text = str(value).strip()
    if re.match(r"^-?\d+(\.\d+)?$", text):
        return float(text)
    return _parsing.duration_seconds(text, _parsing.GO)


def get_path(data: Any, dotted: str) -> Any:
    """Value at a dotted path (authentication.anonymous.enabled) or MISSING."""
    current = data
    for part in dotted.split("."):
        if not isinstance(current, dict) or part not in current:
            return MISSING
        current = current[part]
    return current


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_as_text(item) for item in value)
    return str(value)


class Component(object):
    """One node component (kubelet, kube-proxy): its effective flags and its config file."""

    def __init__(
        self,
        name: str,
        flags: Optional[dict[str, str]] = None,
        flags_source: Optional[str] = None,
        config: Optional[dict[str, Any]] = None,
        config_path: Optional[str] = None,
        config_error: Optional[str] = None,
        files: Optional[list[str]] = None,
        running_from: Any = None,
        unit_settings: Optional[dict[str, str]] = None,
        kind: str = "unit",
        flags_error: Optional[str] = None,
        env: Optional[dict[str, str]] = None,
        mounts: Optional[list[tuple[str, str]]] = None,
        found: Optional[bool] = None,
        unit_files: Optional[list[str]] = None,
        config_layers: Optional[list[tuple[str, Any]]] = None,
        no_config: Optional[str] = None,
        cluster_source: Optional[str] = None,
    ) -> None:
        self.name = name
        self.unit_files = unit_files or []  # the systemd unit and its drop-ins, in the order systemd reads them
        # [(node path, data)] of every config file the component reads: the --config file, then its
        # --config-dir drop-ins in merge order (the merged result is `config`).
        self.config_layers = config_layers or []
        # Why no config file is in use (a kubelet started without --config), else None.
        self.no_config = no_config
        # Where a cluster-side config came from (the kube-proxy ConfigMap), else None.
        self.cluster_source = cluster_source
        self.kind = kind
        self.flags_error = flags_error
        self.env = env or {}
        self.mounts = mounts or []  # [(mountPath, hostPath)] of a static pod container, longest first
        self._found = found
        self.missing_reason: Optional[str] = None
        self.cluster_absent: Optional[str] = None  # why the cluster has no such component (e.g. no kube-proxy ConfigMap)
        self.flags = flags or {}
        self.flags_source = flags_source
        self.config = config
        self.config_path = config_path
        self.config_error = config_error
        self.files = files or []
        self.running_from = running_from
        self.unit_settings = unit_settings or {}
        # {--flag: the file it came from} where that is not flags_source (a unit's $VAR from an EnvironmentFile).
        self.flag_origins: dict[str, str] = {}
        # {flag: why the running value differs from the config files} (a k3s restart pending)
        self.pending: dict[str, str] = {}

    @property
    def present(self) -> bool:
        return bool(self.flags_source or self.config_path or self.cluster_source)

    def config_source(self, dotted: str) -> Optional[str]:
        """The config file that sets a dotted key last (a --config-dir drop-in wins over --config)."""
        for path, data in reversed(self.config_layers):
            if _sets_path(data, dotted):
                return path
        return self.cluster_source or self.config_path

    def is_main_config(self, path: Optional[str]) -> bool:
        """The --config file itself (where the kubelet fills zero values with its defaults), not a drop-in."""
        return bool(self.config_layers) and path == self.config_layers[0][0] and path == self.config_path

    @property
    def found(self) -> bool:
        """The component's defining file exists on the node (even if it does not parse)."""
        return self.present if self._found is None else self._found

    def host_path(self, path: str) -> str:
        """A path as the container sees it -> the node path (through the pod's hostPath mounts)."""
        for mount_path, host in self.mounts:
            base = mount_path.rstrip("/")
            if path == mount_path or path == base or path.startswith(base + "/"):
                return (host.rstrip("/") + path[len(base):]) or "/"
        return path


def _read_config(root: str, path: str) -> tuple[Any, Optional[str]]:
    """Parse a YAML/JSON component config file -> (data, error)."""
    real = node_path(root, path)
    if not os.path.isfile(real):
        return None, "file not found: %s" % path
    if not HAS_YAML:
        return None, "PyYAML is not installed on the node; cannot parse %s" % path
    try:
        with open(real, "r") as handle:
            data = _safeyaml.load(handle.read(_safeyaml.MAX_BYTES + 1), path)
    except (IOError, OSError) as exc:
        return None, "cannot read %s: %s" % (path, exc)
    except _safeyaml.SafeYAMLError as exc:
        return None, str(exc)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, "%s must hold a mapping, found %s" % (path, type(data).__name__)
    return data, None


def _sets_path(data: Any, dotted: str) -> bool:
    """A config layer sets a dotted key (to something other than null, which changes nothing: merge_dropin)."""
    value = get_path(data, dotted)
    return value is not MISSING and value is not None


def merge_dropin(target: Any, patch: Any) -> Any:
    """Merge one --config-dir drop-in over the config, with the kubelet's result.

    The kubelet applies a JSON merge patch (RFC 7386: mappings merge, lists and scalars replace) and unmarshals
    the result into the configuration it already holds, so a key the patch removes with null keeps its value:
    null changes nothing here.
    """
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is not None:
            result[key] = merge_dropin(result.get(key), value)
    return result


class _DropinError(KubesecError, ValueError):
    """A --config-dir cannot be read completely (names the directory)."""


def dropin_files(root: str, directory: str) -> tuple[list[str], Optional[str]]:
    """Drop-in files of a --config-dir in the kubelet's order: filepath.WalkDir (lexical, into subdirectories),
    every non-directory entry whose extension is .conf. -> (node paths, error)."""
    found = []

    def walk(node_dir: str) -> None:
        real = node_path(root, node_dir)
        try:
            names = sorted(os.listdir(real))
        except OSError as exc:
            raise _DropinError("cannot list the kubelet --config-dir %s: %s" % (node_dir, exc.strerror)) from exc
        for name in names:
            path = node_dir.rstrip("/") + "/" + name
            if os.path.isdir(node_path(root, path)) and not os.path.islink(node_path(root, path)):
                walk(path)
            elif os.path.splitext(name)[1] == ".conf" or name == ".conf":
                found.append(path)
                if len(found) > MAX_DROPINS:
                    raise _DropinError("more than %d drop-in files below %s" % (MAX_DROPINS, directory))

    if not os.path.isdir(node_path(root, directory)):
        return [], "the --config-dir %s does not exist (the kubelet fails to start without it)" % directory
    try:
        walk(directory)
    except _DropinError as exc:
        return found, str(exc)
    return found, None


def _merge_dropins(
    root: str, config: Optional[dict[str, Any]], layers: list[tuple[str, Any]], directory: str, kind: Optional[str]
) -> tuple[Any, list[tuple[str, Any]], Optional[str]]:
    """Merge every drop-in of `directory` over config -> (merged config, layers, error naming the file)."""
    files, error = dropin_files(root, directory)
    if error:
        return config, layers, error
    merged = config if isinstance(config, dict) else {}
    for path in files:
        data, error = _read_config(root, path)
        if error:
            return merged, layers, "--config-dir drop-in: %s" % error
        if kind and (data.get("kind") != kind or not data.get("apiVersion")):
            return (
                merged,
                layers,
                ("drop-in %s must declare apiVersion and kind: %s (found kind %r); the kubelet refuses to start with it" % (path, kind, data.get("kind"))),
            )
        merged = merge_dropin(merged, data)
        layers = [*layers, (path, data)]
    return merged, layers, None


def _pod_mounts(pod: dict[str, Any], container_name: Optional[str]) -> list[tuple[str, str]]:
    """[(mountPath, hostPath path)] of one container's hostPath mounts, longest mount path first."""
    spec: dict[str, Any] = pod["spec"] if isinstance(pod.get("spec"), dict) else {}
    volumes = {}
    for volume in _static_pod.as_list(spec.get("volumes")):
        if isinstance(volume, dict) and isinstance(volume.get("hostPath"), dict) and volume["hostPath"].get("path"):
            volumes[volume.get("name")] = str(volume["hostPath"]["path"])
    mounts = []
    for container in _static_pod.as_list(spec.get("containers")):
        if isinstance(container, dict) and container.get("name") == container_name:
            for mount in _static_pod.as_list(container.get("volumeMounts")):
                if isinstance(mount, dict) and mount.get("name") in volumes and mount.get("mountPath") and not mount.get("subPath"):
                    mounts.append((str(mount["mountPath"]), volumes[mount["name"]]))
    return sorted(mounts, key=lambda item: len(item[0]), reverse=True)


def _candidates(root: str, paths: dict[str, Any], value: Any, components: dict[str, Component]) -> list[str]:
    """A path key, a node path or a list of either -> node paths, first existing first."""
    values = value if isinstance(value, list) else [value]
    found = []
    for item in values:
        path = resolve_path(root, paths, item, components)
        if path:
            found.append(path)
    existing = [p for p in found if os.path.exists(node_path(root, p))]
    return existing + [p for p in found if p not in existing]


def load_manifest_component(root: str, name: str, spec: dict[str, Any], paths: dict[str, Any]) -> Component:
    """A control-plane component run as a static pod: flags from its container's command + args."""
    candidates = _candidates(root, paths, spec["manifest"], {})
    path = candidates[0] if candidates else None
    boolean = set(_static_pod.BOOLEAN_FLAGS) | set(spec.get("boolean_flags") or ())
    info = (
        _static_pod.manifest_flags(root, path, spec.get("container"), boolean)
        if path
        else {"found": False, "flags": {}, "env": {}, "container": None, "error": "no manifest path"}
    )
    mounts: list[tuple[str, str]] = []
    if path and info["found"] and not info["error"]:
        pod = _static_pod.read_manifest(root, path)[0]
        mounts = _pod_mounts(pod, info["container"]) if pod else []
    return Component(
        name,
        flags=info["flags"],
        flags_source=path if info["found"] else None,
        config_error=None,
        files=[path] if path and info["found"] else [],
        kind="manifest",
        flags_error=info["error"] if info["found"] else None,
        env=info["env"],
        mounts=mounts,
        found=info["found"],
    )


def cluster_component(name: str, info: dict[str, Any]) -> Component:
    """A component configured from the cluster (the kube-proxy ConfigMap) rather than a node file.

    info: {source, config} when read, {source, error} when it could not be parsed, {source, absent} when the
    cluster has none, {source, unavailable} when it could not be read (see _cis_kube_proxy).
    """
    source = info.get("source") or "cluster"
    if info.get("config") is not None:
        return Component(name, config=info["config"], cluster_source=source, kind="cluster", config_layers=[(source, info["config"])])
    if info.get("error"):
        return Component(name, cluster_source=source, config_error=info["error"], kind="cluster")
    component = Component(name, kind="cluster", found=False)
    component.missing_reason = info.get("absent") or info.get("unavailable") or "no %s configuration given" % name
    component.cluster_absent = info.get("absent")
    return component


def load_component(root: str, name: str, spec: dict[str, Any], paths: dict[str, Any], cluster_configs: Optional[dict[str, Any]] = None) -> Component:
    """Work out a component's effective flags (static pod manifest, or systemd unit) and config file."""
    component = _load_node_component(root, name, spec, paths)
    info = (cluster_configs or {}).get(spec.get("cluster_config") or "")
    if info and not component.present and not component.flags_error and not component.config_error:
        return cluster_component(name, info)
    return component


def _server_flags(root: str, name: str, spec: dict[str, Any], args: list[str]) -> tuple[dict[str, str], Optional[str], str]:
    """The model of an embedded control-plane component's flags, as k3s builds them (pkg/daemons/control): the
    built-in flags, those of the datastore in use and of the server options set, then the `<component>-arg`
    items (which win) -> (flags, why it does not run or None, datastore note)."""
    process = spec["process"]

    def option(option_name: str) -> Optional[str]:
        return _rancher.option_value(args, option_name)

    if process.get("disabled_by") and str(option(process["disabled_by"])).lower() in ("true", "1"):
        return {}, "%s is set: this server does not run the %s" % (process["disabled_by"], name), ""
    kind, why = _rancher_cp.datastore(root, process["distribution"], option)
    flags = dict(spec.get("builtin_flags") or {})
    flags.update((spec.get("datastore_flags") or {}).get(kind) or {})
    if kind == "external":
        for option_name, flag in (("datastore-endpoint", "--etcd-servers"), ("datastore-cafile", "--etcd-cafile"),
                                  ("datastore-certfile", "--etcd-certfile"), ("datastore-keyfile", "--etcd-keyfile")):
            if option(option_name) and (flag != "--etcd-servers" or str(option(option_name)).startswith(("http://", "https://"))):
                flags[flag] = str(option(option_name))
    for rule in spec.get("option_flags") or ():
        value = option(rule["option"])
        if value is not None and str(value).lower() not in ("false", "0", ""):
            flags.update(rule["flags"])
    flags.update(_rancher.component_flags(args, name))
    return flags, None, why


def _running_flags(root: str, name: str, spec: dict[str, Any], unit: str, args: list[str]) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """The component's flags from the process's own last `Running <name> ...` line: the unit's journal, else the
    `log:` option's file, else /var/log/<distribution>.log (OpenRC)."""
    found, where = _rancher_cp.journal_running(root, unit, [name])
    if not found:
        for path in [_rancher.option_value(args, "log"), "/var/log/%s.log" % spec["process"]["distribution"]]:
            if path:
                found, where = _rancher_cp.file_running(root, path, [name])
                if found:
                    break
    return (found[name], where) if found else (None, None)


def load_process_component(root: str, name: str, spec: dict[str, Any]) -> Component:
    """A component embedded in the k3s / rke2 process: its flags are the process's built-in ones (catalogue
    data, from the distribution's source) overlaid by the `<component>-arg` items of its config file, the
    config file's .d drop-ins and its command line (_rancher); --config / --config-dir as for a kubelet unit.

    A control-plane component (`process.server_only`) exists only on a server and unless a disable-* option
    removes it; when the process logged its own start line (`process.running_line`), those flags are used
    and every difference from the config files is noted as a pending restart."""
    process = spec["process"]
    argv_info, error, unit = None, None, None
    for candidate in process["units"]:
        try:
            info = _systemd.effective_command(root, candidate)
        except _systemd.UnitError as exc:
            error = str(exc)
            continue
        if info["argv"]:
            argv_info, unit = info, candidate
            break
    if argv_info is None:
        component = Component(name, kind="process", found=False, config_error=error)
        units = ", ".join(process["units"])
        component.missing_reason = "no %s unit with an ExecStart (%s)" % (process["distribution"], units)
        return component
    pending: dict[str, str] = {}
    try:
        effective = _rancher.effective_args(root, process["distribution"], argv_info["argv"], argv_info.get("environment"))
        if process.get("server_only") and effective["subcommand"] != "server":
            component = Component(name, kind="process", found=False)
            component.missing_reason = "%s runs `%s %s`, not a server" % (unit, process["distribution"], effective["subcommand"] or "")
            return component
        if process.get("server_only") and process.get("server_dir") and not os.path.isdir(node_path(root, process["server_dir"])):
            component = Component(name, kind="process", found=False)
            component.missing_reason = "%s runs `%s server` but %s does not exist: the server has never started" % (
                unit,
                process["distribution"],
                process["server_dir"],
            )
            return component
        if process.get("server_only"):
            flags, absent, _why = _server_flags(root, name, spec, effective["args"])
            if absent:
                component = Component(name, kind="process", found=False)
                component.missing_reason = absent
                return component
        else:
            flags = dict(spec.get("builtin_flags") or {})
            flags.update(_rancher.component_flags(effective["args"], name))
    except (_rancher.RancherConfigError, _rancher_cp.RunningLineError) as exc:
        return Component(name, kind="process", flags_source=argv_info["files"][-1], flags_error=str(exc), config_error=str(exc), unit_files=argv_info["files"])
    for flag in spec.get("boolean_flags", ()):
        if flags.get(flag) == "":
            flags[flag] = "true"
    source = "%s (%s%s)" % (unit, "built-in flags, " if spec.get("builtin_flags") else "", ", ".join(effective["files"] + [argv_info["files"][-1]]))
    if process.get("running_line") and unit:
        running, where = _running_flags(root, name, spec, unit, effective["args"])
        if running is not None:
            setters = _rancher_cp.flag_setters(root, effective["files"], argv_info["argv"], unit, name)
            when = "%s, %s" % (where, running.get("time") or "unknown time")
            pending = _rancher_cp.pending_restart(flags, running["flags"], setters, when)
            flags = dict(running["flags"])
            source = "the running process: its `Running %s` line of %s in the %s" % (name, running.get("time") or "unknown time", where)
        else:
            source = "model: %s; no `Running %s` line in the journal of %s or a k3s log file" % (source, name, unit)
    config, config_path, layers, config_error = None, None, [], None
    if spec.get("config_flag") and flags.get(spec["config_flag"]):
        config_path = flags[spec["config_flag"]]
        if os.path.exists(node_path(root, config_path)):
            config, config_error = _read_config(root, config_path)
            layers = [(config_path, config)] if config is not None else []
        else:
            config_error = "file not found: %s" % config_path
    if spec.get("dropin_flag") and flags.get(spec["dropin_flag"]) and not config_error:
        config, layers, config_error = _merge_dropins(root, config, layers, flags[spec["dropin_flag"]], spec.get("config_kind"))
    component = Component(
        name,
        flags=flags,
        flags_source=source,
        config=config if (layers or config_path) else None,
        config_path=config_path,
        config_error=config_error,
        kind="process",
        files=argv_info["files"] + argv_info["env_files"] + effective["files"],
        unit_settings=argv_info.get("service"),
        unit_files=argv_info["files"],
        config_layers=layers,
        no_config=None if config_path else "no --config file: the %s's settings come from its flags and its --config-dir drop-ins" % name,
    )
    component.pending = pending
    return component


def load_etcd_config_component(root: str, name: str, spec: dict[str, Any], paths: dict[str, Any]) -> Component:
    """etcd embedded in a k3s server: its settings are its own YAML config file, translated to flags; when the
    file does not exist the server keeps its data elsewhere (kine / an external datastore) and says why."""
    path = spec["etcd_config"]
    if not os.path.isfile(node_path(root, path)):
        component = Component(name, kind="etcd-config", found=False)
        reason = "no %s" % path
        process = spec.get("process")
        if process:
            try:
                info = _systemd.effective_command(root, process["units"][0])
                args = _rancher.effective_args(root, process["distribution"], info["argv"], info.get("environment"))["args"] if info["argv"] else []
                if args and process.get("disabled_by") and _rancher.option_value(args, process["disabled_by"]) in ("true", "1"):
                    reason = "%s is set: this server runs no etcd" % process["disabled_by"]
                elif args:
                    _kind, why = _rancher_cp.datastore(root, process["distribution"], lambda option: _rancher.option_value(args, option))
                    reason = "%s, so no embedded etcd runs here (%s absent)" % (why, path)
            except (_systemd.UnitError, _rancher.RancherConfigError):
                pass
        component.missing_reason = reason
        return component
    try:
        flags = _rancher_cp.read_etcd_config(root, path)
    except _rancher_cp.RunningLineError as exc:
        return Component(name, kind="etcd-config", flags_source=path, flags_error=str(exc), files=[path])
    return Component(name, flags=flags, flags_source="etcd config file %s" % path, kind="etcd-config", files=[path])


def _apply_config_file_flag(root: str, component: Component, spec: dict[str, Any]) -> Component:
    """etcd started with --config-file (RKE2's static pod): etcd then reads only that file, so its settings are
    the file's, translated to flags (the path is mapped through the pod's hostPath mounts)."""
    flag = spec.get("config_file_flag")
    if not flag or not component.flags.get(flag) or component.flags_error:
        return component
    in_pod = component.flags[flag]
    path = component.host_path(in_pod)
    try:
        flags = _rancher_cp.read_etcd_config(root, path)
    except _rancher_cp.RunningLineError as exc:
        component.flags_error = str(exc)
        return component
    component.flags = flags
    component.env = {}  # etcd ignores ETCD_* variables when it has a config file
    component.flags_source = "%s (%s=%s), from %s" % (path, flag, in_pod, component.flags_source)
    component.files = [*component.files, path]
    return component


def _load_node_component(root: str, name: str, spec: dict[str, Any], paths: dict[str, Any]) -> Component:
    if spec.get("etcd_config"):
        return load_etcd_config_component(root, name, spec, paths)
    if spec.get("process"):
        return load_process_component(root, name, spec)
    if spec.get("manifest"):
        component = _apply_config_file_flag(root, load_manifest_component(root, name, spec, paths), spec)
        if component.found or not spec.get("unit"):
            if not component.found:
                component.missing_reason = "no static pod manifest at %s" % " or ".join(_candidates(root, paths, spec["manifest"], {}) or ["(no path)"])
            return component
    argv_info: dict[str, Any] = {"argv": None, "files": [], "env_files": [], "service": {}}
    error = None
    try:
        argv_info = _systemd.effective_command(root, spec.get("unit", name + ".service"))
    except _systemd.UnitError as exc:
        error = str(exc)
    flags = _systemd.parse_flags(argv_info["argv"], spec.get("boolean_flags", ())) if argv_info["argv"] else {}
    unit_files = list(argv_info["files"])
    if error and not unit_files:  # e.g. a missing EnvironmentFile: the unit's own files are still judged (4.1.1)
        try:
            unit_files = [path for path, _text in _systemd.unit_files(root, spec.get("unit", name + ".service"))]
        except _systemd.UnitError:
            unit_files = []
    config_flag = spec.get("config_flag")
    dropin_flag = spec.get("dropin_flag")
    if argv_info["argv"] and config_flag and not flags.get(config_flag) and spec.get("config_only_from_flag"):
        # The kubelet reads a config file only when --config names one (kubeadm's config.yaml is its convention).
        return _flags_only_component(root, name, spec, paths, flags, argv_info, error, unit_files)
    config_path = None
    if "config_path" in spec:
        config_path = resolve_path(root, paths, spec["config_path"], {name: Component(name, flags=flags)})
    else:
        if config_flag and flags.get(config_flag):
            config_path = flags[config_flag]
        else:
            for candidate in spec.get("config_default", []):
                if os.path.isfile(node_path(root, candidate)):
                    config_path = candidate
                    break
    config, config_error, layers = (None, None, [])
    if config_path and os.path.exists(node_path(root, config_path)):
        config, config_error = _read_config(root, config_path)
        layers = [(config_path, config)] if config is not None else []
    elif config_path and argv_info["argv"]:
        config_error = "file not found: %s" % config_path
    else:
        config_path = config_path if argv_info["argv"] else None
    if dropin_flag and flags.get(dropin_flag) and not config_error:
        config, layers, config_error = _merge_dropins(root, config, layers, flags[dropin_flag], spec.get("config_kind"))
    component = Component(
        name,
        flags=flags,
        flags_source=argv_info["files"][-1] if argv_info["argv"] else None,
        config=config,
        config_path=config_path,
        config_error=error or config_error,
        files=argv_info["files"] + argv_info["env_files"],
        unit_settings=argv_info.get("service"),
        unit_files=unit_files,
        config_layers=layers,
    )
    component.flag_origins = dict(argv_info.get("flag_origins") or {})
    return component


def _flags_only_component(
    root: str,
    name: str,
    spec: dict[str, Any],
    paths: dict[str, Any],
    flags: dict[str, str],
    argv_info: dict[str, Any],
    error: Optional[str],
    unit_files: list[str],
) -> Component:
    """A kubelet started without --config: settings come from its flags, drop-ins and its flag defaults."""
    reason = "no config file in use: the %s runs without %s (%s), so its settings come from its flags%s and its documented defaults" % (
        name,
        spec["config_flag"],
        argv_info["files"][-1],
        " and its %s drop-ins" % spec["dropin_flag"] if spec.get("dropin_flag") and flags.get(spec["dropin_flag"]) else "",
    )
    unused = [p for p in spec.get("config_default") or [] if os.path.isfile(node_path(root, p))]
    if "config_path" in spec and spec["config_path"] in paths:
        unused += [p for p in paths[spec["config_path"]].get("default") or [] if os.path.isfile(node_path(root, p))]
    if unused:
        reason += "; %s exists but the %s does not read it" % (unused[0], name)
    config: Any = None
    layers: list[tuple[str, Any]] = []
    config_error: Optional[str] = None
    if spec.get("dropin_flag") and flags.get(spec["dropin_flag"]):
        config, layers, config_error = _merge_dropins(root, None, [], flags[spec["dropin_flag"]], spec.get("config_kind"))
    component = Component(
        name,
        flags=flags,
        flags_source=argv_info["files"][-1],
        config=config if layers else None,
        config_path=None,
        config_error=error or config_error,
        files=argv_info["files"] + argv_info["env_files"],
        unit_settings=argv_info.get("service"),
        unit_files=unit_files,
        config_layers=layers,
        no_config=reason,
    )
    component.flag_origins = dict(argv_info.get("flag_origins") or {})
    return component


def resolve_path(root: str, paths: dict[str, Any], key: Any, components: dict[str, Component]) -> Optional[str]:
    """A catalogue path key -> the node path it names (flag, then config key, then first existing default)."""
    if key not in paths:
        if key.startswith("/"):
            return key
        raise CatalogueError("unknown path key %r (define it under paths:)" % key)
    spec = paths[key]
    component = components.get(spec.get("component", "kubelet"))
    if component is not None:
        if spec.get("flag") and component.flags.get(spec["flag"]):
            return component.host_path(component.flags[spec["flag"]])
        if spec.get("config") and isinstance(component.config, dict):
            value = get_path(component.config, spec["config"])
            if value is not MISSING and value not in (None, ""):
                return str(value)
    defaults = spec.get("default") or []
    if isinstance(defaults, str):
        defaults = [defaults]
    for candidate in defaults:
        if os.path.exists(node_path(root, candidate)):
            return candidate
    return defaults[0] if defaults else None


def _read_id_names(root: str, name: str) -> Optional[dict[int, str]]:
    """{id: name} from the node's own /etc/passwd or /etc/group (below root), or None when absent."""
    if os.path.normpath(root) == "/":
        return None
    real = node_path(root, "/etc/" + name)
    if not os.path.isfile(real):
        return None
    names: dict[int, str] = {}
    try:
        with open(real, "r") as handle:
            for line in handle:
                parts = line.strip().split(":")
                if len(parts) >= 3 and parts[2].isdigit():
                    names.setdefault(int(parts[2]), parts[0])
    except (IOError, OSError):
        return None
    return names


def _owner_names(uid: int, gid: int, root: str = "/") -> tuple[str, str]:
    """User and group names of ids: the node's own passwd/group files under root first, then this system's."""
    user, group = str(uid), str(gid)
    users, groups = _read_id_names(root, "passwd"), _read_id_names(root, "group")
    if users is not None and uid in users:
        user = users[uid]
    elif pwd is not None:
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            pass
    if groups is not None and gid in groups:
        group = groups[gid]
    elif grp is not None:
        try:
            group = grp.getgrgid(gid).gr_name
        except KeyError:
            pass
    return user, group


def _owner_matches(expected: str, uid: int, gid: int, names: tuple[str, str]) -> bool:
    want_user, want_group = expected.partition(":")[::2]
    user_ok = (want_user == names[0]) or (want_user == "root" and uid == 0) or want_user == str(uid)
    group_ok = (want_group == names[1]) or (want_group == "root" and gid == 0) or want_group == str(gid)
    return user_ok and group_ok


class Outcome(object):
    def __init__(
        self,
        passed: bool,
        expected: Any,
        actual: Any,
        evidence: Optional[dict[str, Any]] = None,
        missing: bool = False,
        note: Optional[str] = None,
        manual: bool = False,
        not_applicable: Optional[str] = None,
    ) -> None:
        self.not_applicable = not_applicable  # why the check does not apply here (reported as info)
        self.passed = passed
        self.expected = expected
        self.actual = actual
        self.evidence = evidence or {}
        self.missing = missing
        self.note = note
        self.manual = manual


def _mode_text(mode: int) -> str:
    return oct(mode)[2:].zfill(3)


def _judge_file(root: str, test: dict[str, Any], info: os.stat_result) -> tuple[bool, str, dict[str, Any]]:
    """(passed, actual text, extra evidence) of one file for file_mode / file_owner."""
    if test["type"] == "file_mode":
        mode = stat.S_IMODE(info.st_mode)
        # "600 or more restrictive" = no permission bit outside the limit (kube-bench's bitmask test)
        return (mode & ~int(str(test["max"]), 8)) == 0, _mode_text(mode), {}
    names = _owner_names(info.st_uid, info.st_gid, root)
    return (_owner_matches(test["owner"], info.st_uid, info.st_gid, names), "%s:%s" % names, {"uid": info.st_uid, "gid": info.st_gid})


def _expected_file(test: dict[str, Any]) -> str:
    if test["type"] == "file_mode":
        return "%s or more restrictive" % _mode_text(int(str(test["max"]), 8))
    return test["owner"]


def _find_files(
    root: str,
    spec: dict[str, Any],
    paths: dict[str, Any],
    components: dict[str, Component],
) -> tuple[list[str], str, list[str]]:
    """`find DIR [-mindepth N] [-type f|d] [-name PATTERN]` below root -> (node paths, description, skipped)."""
    directories = _candidates(root, paths, spec["dir"], components) if spec.get("dir") else []
    pattern = spec.get("name")
    kind = spec.get("type")
    mindepth = int(spec.get("mindepth", 0))
    found, skipped, searched = [], [], []
    for directory in directories:
        real_dir = node_path(root, directory)
        if not os.path.isdir(real_dir):
            continue
        searched.append(directory)
        top = directory.rstrip("/") or "/"
        for current, dirs, files in os.walk(real_dir, followlinks=False):
            dirs.sort()
            rel = os.path.relpath(current, real_dir)
            node_dir = top if rel == "." else os.path.join(top, rel)
            depth = 0 if rel == "." else rel.count(os.sep) + 1
            entries = []
            if depth == 0:
                entries.append((node_dir, current, True, 0))
            entries.extend((os.path.join(node_dir, n), os.path.join(current, n), True, depth + 1) for n in dirs)
            entries.extend((os.path.join(node_dir, n), os.path.join(current, n), False, depth + 1) for n in sorted(files))
            for entry, real, is_dir, entry_depth in entries:
                if entry_depth < mindepth or (kind == "f" and is_dir) or (kind == "d" and not is_dir):
                    continue
                if pattern and not fnmatch.fnmatchcase(os.path.basename(entry), pattern):
                    continue
                if os.path.islink(real):
                    skipped.append(entry)  # find does not follow links; a link's own mode means nothing
                    continue
                found.append(entry)
                if len(found) > MAX_FIND_ENTRIES:
                    raise CatalogueError("find below %s matched more than %d entries" % (directory, MAX_FIND_ENTRIES))
    text = "find %s%s%s%s" % (
        " ".join(searched or directories or ["(no directory)"]),
        " -mindepth %d" % mindepth if mindepth else "",
        " -type %s" % kind if kind else "",
        " -name '%s'" % pattern if pattern else "",
    )
    return found, text, skipped


def _test_file(root: str, test: dict[str, Any], paths: dict[str, Any], components: dict[str, Component]) -> Outcome:
    owner = components.get(test.get("requires_config") or "")
    if owner is not None and owner.present and owner.no_config:
        # "If the kubelet config.yaml configuration file is being used": it is not.
        return Outcome(False, _expected_file(test), "not applicable: no config file in use", {"component": owner.name}, not_applicable=owner.no_config)
    if test.get("unit_of"):
        return _test_unit_files(root, test, components)
    if "file" in test and not isinstance(test["file"], list):
        path = resolve_path(root, paths, test["file"], components)
        real = node_path(root, path) if path else None
        if not real or not os.path.exists(real):
            return Outcome(False, None, "file not found", {"file": path}, missing=True)
        passed, actual, extra = _judge_file(root, test, os.stat(real))
        evidence: dict[str, Any] = {"file": path}
        evidence.update(extra)
        return Outcome(passed, _expected_file(test), actual, evidence)
    if not test.get("file") and not test.get("find"):
        raise CatalogueError("a %s test needs file (a path key, a path or a list) or find" % test["type"])
    return _test_many_files(root, test, paths, components)


def _test_unit_files(root: str, test: dict[str, Any], components: dict[str, Component]) -> Outcome:
    """file_mode / file_owner over every file a component's systemd unit is built from (unit + drop-ins)."""
    component = components.get(test["unit_of"])
    files = list(component.unit_files) if component is not None else []
    expected = _expected_file(test)
    evidence: dict[str, Any] = {"unit": "%s.service" % test["unit_of"]}
    if not files:
        return Outcome(False, expected, "file not found", evidence, missing=True)
    return _judge_files(root, test, files, expected, evidence)


def _judge_files(root: str, test: dict[str, Any], listed: list[str], expected: str, evidence: dict[str, Any]) -> Outcome:
    """Judge every file; evidence names each with its mode/owner, and the offending ones."""
    offending, judged = [], []
    for path in listed:
        passed, actual, extra = _judge_file(root, test, os.stat(node_path(root, path)))
        item = {"file": path, "actual": actual}
        item.update(extra)
        judged.append(item)
        if not passed:
            offending.append(item)
    evidence["files"] = judged[:MAX_EVIDENCE_FILES]
    evidence["checked"] = len(listed)
    # `file`: the one file to fix first (the first offending one), kept for callers that handle one file.
    evidence["file"] = (offending or judged)[0]["file"]
    if offending:
        evidence["offending"] = offending[:MAX_EVIDENCE_FILES]
        return Outcome(False, expected, ", ".join("%s (%s)" % (o["file"], o["actual"]) for o in offending), evidence)
    return Outcome(True, expected, ", ".join("%s (%s)" % (o["file"], o["actual"]) for o in judged), evidence)


def _test_many_files(root: str, test: dict[str, Any], paths: dict[str, Any], components: dict[str, Component]) -> Outcome:
    """file_mode / file_owner over several files: `file: [keys]` (missing ones skipped) and/or `find:`.

    Every file is judged; the check fails naming each offending file with its actual mode or owner.
    """
    candidates, searched, skipped = [], [], []
    for key in test.get("file") or []:
        path = resolve_path(root, paths, key, components)
        if path and path not in candidates:
            candidates.append(path)
    listed = [p for p in candidates if os.path.exists(node_path(root, p))]
    if candidates:
        searched.append(" ".join(candidates))
    finds = test.get("find") or []
    for spec in finds if isinstance(finds, list) else [finds]:
        found, text, links = _find_files(root, spec, paths, components)
        listed.extend(p for p in found if p not in listed)
        searched.append(text)
        skipped.extend(links)
    expected = _expected_file(test)
    evidence: dict[str, Any] = {"searched": "; ".join(searched)}
    if skipped:
        evidence["skipped_symlinks"] = skipped
    if not listed:
        return Outcome(False, expected, "no matching files", evidence, missing=True)
    offending = []
    for path in listed:
        passed, actual, extra = _judge_file(root, test, os.stat(node_path(root, path)))
        if not passed:
            item = {"file": path, "actual": actual}
            item.update(extra)
            offending.append(item)
    evidence["files"] = listed[:MAX_EVIDENCE_FILES]
    evidence["checked"] = len(listed)
    if offending:
        evidence["offending"] = offending[:MAX_EVIDENCE_FILES]
        shown = ", ".join("%s (%s)" % (o["file"], o["actual"]) for o in offending[:10])
        more = " and %d more" % (len(offending) - 10) if len(offending) > 10 else ""
        return Outcome(False, expected, "%d of %d files: %s%s" % (len(offending), len(listed), shown, more), evidence)
    return Outcome(True, expected, "all %d files" % len(listed), evidence)


def _compare(op: str, value: Any, expected: Any) -> bool:
    """Apply a catalogue operator to one effective value (text from a flag or a typed config value)."""
    text = _as_text(value)
    if op == "eq":
        return text.strip().lower() == _as_text(expected).lower()
    if op == "ne":
        return text.strip().lower() != _as_text(expected).lower()
    if op == "nothave":
        return str(expected) not in [item.strip() for item in text.split(",")]
    if op == "has":
        return str(expected) in [item.strip() for item in text.split(",")]
    if op == "set":
        return text.strip() != ""
    if op == "contains":
        return str(expected) in text
    if op == "gte":
        try:
            return float(text) >= float(expected)
        except ValueError:
            return False
    if op == "lte":
        try:
            return float(text) <= float(expected)
        except ValueError:
            return False
    if op == "subset":
        items = value if isinstance(value, list) else [item.strip() for item in text.split(",")]
        items = [str(item).strip() for item in items if str(item).strip()]
        return bool(items) and all(item in expected for item in items)
    if op == "loopback":
        return _is_loopback(text)
    if op == "duration_nonzero":
        try:
            return parse_duration(text) != 0
        except ValueError:
            return False
    raise CatalogueError("unknown operator %r" % op)


def _is_loopback(address: str) -> bool:
    """host:port (or a bare host) bound to loopback only: 127.0.0.0/8, ::1 or localhost."""
    text = address.strip()
    if text.startswith("["):
        host = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        host = text.split(":", 1)[0]
    else:
        host = text
    host = host.split("/", 1)[0] if host.endswith("/32") or host.endswith("/128") else host
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def _expected_text(op: str, expected: Any) -> str:
    return (
        {
            "eq": "== %s",
            "ne": "!= %s",
            "nothave": "does not include %s",
            "has": "includes %s",
            "contains": "contains %s",
            "gte": ">= %s",
            "lte": "<= %s",
            "subset": "only from: %s",
        }.get(op, "%s")
        % (_as_text(expected),)
        if op not in ("set", "notset", "duration_nonzero", "loopback")
        else {"set": "set", "notset": "not set", "duration_nonzero": "a non-zero duration", "loopback": "a loopback address (127.0.0.1, ::1)"}[op]
    )


def _flag_value(component: Component, test: dict[str, Any]) -> Any:
    flag = test.get("flag")
    if not flag or flag not in component.flags:
        if test.get("env") and test["env"] in component.env:  # etcd reads ETCD_* variables too
            return component.env[test["env"]]
        return MISSING
    value = component.flags[flag]
    key = test.get("flag_key")
    if key:  # --feature-gates=A=true,B=false
        gates = dict(item.split("=", 1) for item in value.split(",") if "=" in item)
        return gates.get(key, MISSING)
    return value


def _missing_component(component: Optional[Component], name: str, expected: Any) -> Outcome:
    evidence: dict[str, Any] = {"component": name}
    if component is not None and component.missing_reason:
        evidence["note"] = component.missing_reason
    if component is not None and component.cluster_absent:
        return Outcome(False, expected, "%s not found on the node or in the cluster" % name, evidence, not_applicable=component.cluster_absent)
    return Outcome(False, expected, "%s not found on the node" % name, evidence, missing=True)


def _is_zero_duration(value: Any) -> bool:
    try:
        return parse_duration(_as_text(value)) == 0
    except ValueError:
        return False


def _test_setting(test: dict[str, Any], components: dict[str, Component]) -> Outcome:
    """A flag or config key, flags first (kube-bench's precedence), then the merged config (--config + drop-ins).

    Catalogue options beyond op/value: `zero_means_default` (a zero duration in the --config file is replaced by
    this kubelet default; a zero flag or drop-in value stays zero), `default_without_config` (the value when the
    component runs without a config file and the flag is not set: the kubelet's legacy flag defaults),
    `default` (the component's default for an unset or empty key).
    """
    component = components.get(test["component"])
    op = test["op"]
    expected = test.get("value")
    evidence: dict[str, Any] = {"component": test["component"]}
    if component is None or not component.present:
        return _missing_component(component, test["component"], _expected_text(op, expected))
    if component.flags_error:
        evidence["error"] = component.flags_error
        return Outcome(False, _expected_text(op, expected), "cannot evaluate (%s unreadable)" % component.flags_source, evidence)
    value = _flag_value(component, test)
    where, note = None, None
    if value is not MISSING:
        if test.get("flag") in component.flags:
            where = "flag %s (%s)" % (test["flag"], component.flag_origins.get(test["flag"]) or component.flags_source)
            evidence["flag"] = test["flag"]
        else:
            where = "env %s (%s)" % (test["env"], component.flags_source)
    elif test.get("config"):
        if component.config_error:
            evidence["error"] = component.config_error
            return Outcome(False, _expected_text(op, expected), "cannot evaluate (config file unreadable)", evidence)
        if isinstance(component.config, dict):
            value = get_path(component.config, test["config"])
            if value is not MISSING:
                source = component.config_source(test["config"])
                where = "%s in %s" % (test["config"], source)
                evidence["config_key"] = test["config"]
                if source != component.config_path and component.config_layers:
                    evidence["merged_from"] = [path for path, _data in component.config_layers]
                if "zero_means_default" in test and _is_zero_duration(value) and component.is_main_config(source):
                    note = (
                        "%s: %s in the config file means the kubelet default %s (the kubelet replaces a zero "
                        "there with its default; a zero given as the flag %s or in a --config-dir drop-in "
                        "disables it)" % (test["config"], _as_text(value), test["zero_means_default"], test.get("flag"))
                    )
                    value = test["zero_means_default"]
    if where:
        evidence["source"] = where
    if test.get("flag") in component.pending:  # the config files now say otherwise: a restart is pending
        evidence["restart_pending"] = component.pending[test["flag"]]
        note = note or component.pending[test["flag"]]
    if op == "notset":
        if note:
            evidence["note"] = note
        return Outcome(value is MISSING, "not set", "not set" if value is MISSING else _as_text(value), evidence)
    if (value is MISSING or value is None or value == "") and component.no_config and "default_without_config" in test:
        value = test["default_without_config"]
        evidence["source"] = "not set (flag %s); %s" % (test.get("flag") or "-", component.no_config)
        note = "without a config file the %s defaults to %s" % (component.name, _as_text(value))
    elif (value is MISSING or value is None or value == "") and "default" in test:
        value = test["default"]
        unset = (
            where + " (empty)"
            if where
            else "not set (flag %s%s)%s"
            % (
                test.get("flag") or "-",
                ", config key " + test["config"] if test.get("config") else "",
                " in " + str(component.cluster_source or component.config_path) if component.config_layers else "",
            )
        )
        evidence["source"] = "%s: the %s default" % (unset, component.name)
        note = "not set: the %s default is %s" % (component.name, _as_text(value))
    if note:
        evidence["note"] = note
    if value is MISSING or value is None:
        unset = test.get("if_unset", "fail")
        evidence["source"] = "not set (flag %s%s)" % (test.get("flag") or "-", ", config key " + test["config"] if test.get("config") else "")
        if component.kind in ("manifest", "etcd-config") or (component.kind == "process" and str(component.flags_source).startswith(("model", "the running"))):
            evidence["source"] += " in %s" % component.flags_source
        if component.no_config:
            evidence["source"] += "; " + component.no_config
        return Outcome(unset == "pass", _expected_text(op, expected), "not set", evidence)
    return Outcome(_compare(op, value, expected), _expected_text(op, expected), _as_text(value), evidence)


def _test_unit_setting(test: dict[str, Any], components: dict[str, Component]) -> Outcome:
    """A [Service] setting of the component's systemd unit and drop-ins (e.g. IPAddressDeny=any)."""
    component = components.get(test["component"])
    op = test["op"]
    expected = test.get("value")
    if component is None or not component.flags_source:
        return Outcome(False, _expected_text(op, expected), "%s unit not found" % test["component"], {"component": test["component"]}, missing=True)
    value = component.unit_settings.get(test["key"])
    evidence: dict[str, Any] = {"component": test["component"], "unit_key": test["key"], "files": component.files}
    if value in (None, ""):
        return Outcome(test.get("if_unset") == "pass", _expected_text(op, expected), "not set", evidence)
    return Outcome(_compare(op, value, expected), _expected_text(op, expected), value, evidence)


def _test_manual(test: dict[str, Any], components: dict[str, Component]) -> Outcome:
    """kube-bench `type: manual`: nothing to judge automatically; always WARN, with what to review.

    With `component` and `flag` the current value is shown as evidence for the reviewer.
    """
    evidence: dict[str, Any] = {"review": test.get("review", "review this control by hand")}
    component = components.get(test.get("component") or "")
    if component is not None and test.get("flag"):
        if component.flags_error:
            evidence["error"] = component.flags_error
        elif component.present:
            value = _flag_value(component, test)
            evidence["current"] = "not set (component default)" if value is MISSING else _as_text(value)
            evidence["source"] = "flag %s (%s)" % (test["flag"], component.flags_source)
    return Outcome(False, "manual review", "not evaluated automatically", evidence, manual=True)


def _load_yaml_file(root: str, path: str) -> tuple[Any, Optional[str]]:
    """(data, error) of a YAML file on the node, error naming the file (and line)."""
    return _read_config(root, path)


def _audit_rule_match(rule: dict[str, Any], group: str, resource: str) -> tuple[bool, Any]:
    """(matches, restricted_by_names) of one audit policy rule for requests to group/resource.

    `resource` may name a subresource (pods/exec). Matching follows the API server's policy checker
    (ruleMatchesResource): `*` matches every resource and subresource, `pods/*` matches pods and all its
    subresources, `*/exec` the exec subresource of any resource; a rule without resources matches all.
    """
    if rule.get("nonResourceURLs"):
        return False, False
    resources = rule.get("resources")
    if not resources:
        return True, False
    base, _sep, sub = resource.partition("/")
    for entry in resources:
        if not isinstance(entry, dict) or (entry.get("group") or "") != group:
            continue
        names = bool(entry.get("resourceNames"))
        listed = entry.get("resources") or []
        if not listed:
            return True, False
        for item in (str(i) for i in listed):
            if item in (resource, "*") or (sub and item == "*/" + sub) or (item.endswith("/*") and item[:-2] == base):
                return True, names
    return False, False


def audit_policy_level(
    policy: dict[str, Any],
    group: str,
    resource: str,
    verb: Optional[str] = None,
) -> tuple[Any, Optional[int], list[Any]]:
    """(level, rule index or None, gaps): the level a request to group/resource (with `verb`, or any verb)
    is logged at.

    First match wins. Rules limited to some users or groups are exemptions for those identities and are
    passed over; a rule limited by verbs (when no verb is asked), namespaces or resource names that logs at
    None is a gap (part of the requests to the resource go unaudited); the first unrestricted match decides.
    """
    gaps = []
    for index, rule in enumerate(policy["rules"]):
        matches, by_names = _audit_rule_match(rule, group, resource)
        verbs = [str(v) for v in rule.get("verbs") or []]
        if not matches or (verb and verbs and verb not in verbs and "*" not in verbs):
            continue
        identity = bool(rule.get("users") or rule.get("userGroups"))
        partial = bool((verbs and not verb) or rule.get("namespaces") or by_names)
        if identity or partial:
            if partial and not identity and rule.get("level") == "None":
                limits = (
                    ", ".join("%s=%s" % (k, ",".join(map(str, rule[k]))) for k in ("verbs", "namespaces") if rule.get(k) and (k != "verbs" or not verb))
                    or "resourceNames"
                )
                gaps.append("rules[%d] (level None, %s)" % (index, limits))
            continue
        return rule.get("level"), index, gaps
    return "None", None, gaps


def validate_audit_policy(data: Any, path: str) -> Optional[str]:
    """Error text when data is not a usable audit.k8s.io/v1 Policy, else None."""
    if data.get("apiVersion") != "audit.k8s.io/v1" or data.get("kind") != "Policy":
        return "%s is not an audit.k8s.io/v1 Policy (apiVersion %r, kind %r)" % (path, data.get("apiVersion"), data.get("kind"))
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        return "%s: rules must be a non-empty list (a policy without rules logs nothing)" % path
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            return "%s: rules[%d] is not a mapping" % (path, index)
        if rule.get("level") not in AUDIT_LEVELS:
            return "%s: rules[%d].level %r is not one of %s" % (path, index, rule.get("level"), ", ".join(AUDIT_LEVELS))
    return None


def _audit_item_label(item: dict[str, Any]) -> str:
    resource = item["resource"] if not item.get("group") else "%s.%s" % (item["resource"], item["group"])
    return item.get("label") or (resource + (" (%s)" % ",".join(item["verbs"]) if item.get("verbs") else ""))


def _judge_audit_item(
    policy: dict[str, Any],
    item: dict[str, Any],
    default_min: str,
) -> tuple[str, Any, list[str], str]:
    """One area of the policy check -> (evidence entry, problems). Each verb of `verbs` is judged on its own."""
    minimum, maximum = item.get("min_level", default_min), item.get("max_level")
    label = _audit_item_label(item)
    entry, problems = {}, []
    for verb in item.get("verbs") or [None]:
        level, index, gaps = audit_policy_level(policy, item.get("group") or "", item["resource"], verb)
        where = label if verb is None or len(item["verbs"]) == 1 else "%s %s" % (verb, label.split(" (")[0])
        entry[verb or "*"] = {"level": level, "rule": index}
        if AUDIT_LEVELS.index(level) < AUDIT_LEVELS.index(minimum):
            problems.append("%s at %s%s" % (where, level, "" if index is not None else " (no rule matches)"))
        elif maximum and AUDIT_LEVELS.index(level) > AUDIT_LEVELS.index(maximum):
            problems.append("%s at %s (above %s: the log would hold their contents)" % (where, level, maximum))
        if gaps:
            entry[verb or "*"]["gaps"] = gaps
            problems.append("%s partly unaudited by %s" % (where, "; ".join(gaps)))
    levels = "/".join(sorted(set(v["level"] for v in entry.values())))
    summary = entry["*"] if "*" in entry else {"level": levels, "by_verb": entry}
    return label, summary, problems, levels


def _test_audit_policy(root: str, test: dict[str, Any], paths: dict[str, Any], components: dict[str, Component]) -> Outcome:
    """The audit policy file exists, is a valid Policy, and logs each listed area at the level CIS asks for.

    `resources`: [{group, resource, verbs?, min_level?, max_level?, label?}]: a resource may be a
    subresource (pods/exec); with `verbs` each verb is judged (modification of pods = create, update, patch,
    delete); `max_level` caps the level where a higher one would write contents (Secrets at Metadata only).
    """
    minimum = test.get("min_level", "Metadata")
    wanted = test.get("resources") or []
    expected = "a valid audit.k8s.io/v1 Policy logging: %s" % "; ".join(
        "%s at %s"
        % (_audit_item_label(r), r.get("max_level") if r.get("max_level") == r.get("min_level", minimum) else "%s or higher" % r.get("min_level", minimum))
        for r in wanted
    )
    path = resolve_path(root, paths, test["file"], components)
    evidence: dict[str, Any] = {"file": path}
    if not path:
        return Outcome(False, expected, "no audit policy file configured", evidence, missing=True)
    if not os.path.isfile(node_path(root, path)):
        return Outcome(False, expected, "file not found", evidence, missing=True)
    data, error = _load_yaml_file(root, path)
    error = error or validate_audit_policy(data, path)
    if error:
        evidence["error"] = error
        return Outcome(False, expected, "not a valid audit policy", evidence)
    levels, problems, found = {}, [], []
    for item in wanted:
        label, summary, item_problems, level_text = _judge_audit_item(data, item, minimum)
        levels[label] = summary
        problems.extend(item_problems)
        found.append("%s at %s" % (label, level_text))
    evidence["levels"] = levels
    if problems:
        return Outcome(False, expected, "; ".join(problems), evidence)
    return Outcome(True, expected, "; ".join(found), evidence)


def _test_encryption_providers(root: str, test: dict[str, Any], paths: dict[str, Any], components: dict[str, Component]) -> Outcome:
    """The EncryptionConfiguration encrypts with an allowed provider first (the one used for writes)."""
    allowed = list(test.get("allowed") or [])
    expected = "first provider one of: %s" % ", ".join(allowed)
    path = resolve_path(root, paths, test["file"], components)
    evidence: dict[str, Any] = {"file": path}
    if not path:
        return Outcome(False, expected, "no encryption provider config configured", evidence, missing=True)
    if not os.path.isfile(node_path(root, path)):
        return Outcome(False, expected, "file not found", evidence, missing=True)
    data, error = _load_yaml_file(root, path)
    if not error and (data.get("kind") != "EncryptionConfiguration" or not isinstance(data.get("resources"), list)):
        error = "%s is not an EncryptionConfiguration with a resources list (kind %r)" % (path, data.get("kind"))
    if error:
        evidence["error"] = error
        return Outcome(False, expected, "not a valid encryption configuration", evidence)
    firsts, bad, covers_secrets = {}, [], False
    for index, entry in enumerate(data["resources"]):
        if not isinstance(entry, dict):
            continue
        names = [str(r) for r in entry.get("resources") or []]
        covers_secrets = covers_secrets or any(n in ("secrets", "*.", "*.*") for n in names)
        providers = entry.get("providers") or []
        first = next(iter(providers[0]), None) if providers and isinstance(providers[0], dict) else None
        firsts[",".join(names) or "resources[%d]" % index] = first
        if first not in allowed:
            bad.append("%s -> %s" % (",".join(names) or "resources[%d]" % index, first))
    evidence["providers"] = firsts
    if not covers_secrets:
        bad.append("secrets are not listed in any resources entry")
    if bad:
        return Outcome(False, expected, "; ".join(bad), evidence)
    return Outcome(True, expected, ", ".join("%s -> %s" % item for item in firsts.items()), evidence)


def run_test(root: str, test: dict[str, Any], paths: dict[str, Any], components: dict[str, Component]) -> Outcome:
    kind = test.get("type")
    if kind == "unit_setting":
        return _test_unit_setting(test, components)
    if kind in ("file_mode", "file_owner"):
        return _test_file(root, test, paths, components)
    if kind == "setting":
        return _test_setting(test, components)
    if kind == "manual":
        return _test_manual(test, components)
    if kind == "not_applicable":  # kube-bench `type: skip`: the distribution does this by design (INFO)
        return Outcome(True, "not applicable", "not applicable", {}, not_applicable=test["reason"])
    if kind == "audit_policy":
        return _test_audit_policy(root, test, paths, components)
    if kind == "encryption_providers":
        return _test_encryption_providers(root, test, paths, components)
    if kind == "all":
        outcomes = [run_test(root, sub, paths, components) for sub in test["tests"]]
        return Outcome(
            all(o.passed for o in outcomes),
            "; ".join(str(o.expected) for o in outcomes),
            "; ".join(str(o.actual) for o in outcomes),
            {"parts": [dict(o.evidence, expected=o.expected, actual=o.actual) for o in outcomes]},
            missing=any(o.missing for o in outcomes),
        )
    raise CatalogueError("unknown test type %r" % kind)


def target_of(catalogue: dict[str, Any], check: dict[str, Any]) -> str:
    if check.get("target"):
        return check["target"]
    return catalogue.get("target_sections", {}).get(str(check["id"]).split(".", 1)[0], "node")


def validate_catalogue(catalogue: Any) -> None:
    """Fail early and by name on a malformed catalogue, before reading any node file."""
    if not isinstance(catalogue, dict) or not isinstance(catalogue.get("checks"), list):
        raise CatalogueError("catalogue must be a mapping with a 'checks' list")
    seen = set()
    for index, check in enumerate(catalogue["checks"]):
        where = "check #%d (%s)" % (index, check.get("id") if isinstance(check, dict) else check)
        if not isinstance(check, dict):
            raise CatalogueError("%s must be a mapping" % where)
        for field in ("id", "title", "scored", "test", "remediation"):
            if field not in check:
                raise CatalogueError("%s lacks %r" % (where, field))
        if check["id"] in seen:
            raise CatalogueError("%s: duplicate id" % where)
        seen.add(check["id"])


def skipped_targets(
    catalogue: dict[str, Any],
    targets: Iterable[str],
    components: dict[str, Component],
) -> dict[str, str]:
    """Targets whose components are all absent from the node (kube-bench skips a target it cannot detect).

    `target_components: {master: [kube-apiserver, ...]}` in the catalogue names them; a target is evaluated as
    soon as one of its components has its defining file on the node (so a missing manifest on a control-plane
    node is still reported, check by check).
    """
    skipped = {}
    for target, names in (catalogue.get("target_components") or {}).items():
        if target not in targets:
            continue
        known = [components[n] for n in names if n in components]
        if known and not any(c.found for c in known):
            skipped[target] = "not a %s node: none of %s found (%s)" % (
                target,
                ", ".join(names),
                "; ".join(c.missing_reason or "%s not found" % c.name for c in known),
            )
    return skipped


def not_applicable_target_findings(
    catalogue: dict[str, Any], targets: Iterable[str], cluster: Optional[str], node: Optional[str], source: str = "cis-node"
) -> list[dict[str, Any]]:
    """One `info` finding per target asked for that the catalogue's `not_applicable_targets` names (a managed
    control plane: EKS, GKE, AKS run the API server and etcd themselves), so such a target is never silently
    left out of the results. Its id is CIS-<target>, its evidence the catalogue's reason."""
    reasons = catalogue.get("not_applicable_targets") or {}
    return [
        _target_info_finding(catalogue, target, source, cluster, node, "this node", "Nothing to do on the node", reasons[target])
        for target in targets
        if target in reasons
    ]


def _target_info_finding(
    catalogue: dict[str, Any], target: str, source: str, cluster: Optional[str], node: Optional[str], where: str, nothing: str, why: str
) -> dict[str, Any]:
    """The one `info` finding CIS-<target> that stands for a whole target that does not apply, with the reason."""
    return make_finding(
        "CIS-" + target,
        source_for(target, source),
        "%s checks of %s: not applicable on %s" % (target, catalogue.get("version"), where),
        "info",
        severity="low",
        cluster=cluster,
        node=node,
        resource={"kind": "Node", "name": node},
        description="",
        remediation="%s: %s" % (nothing, why),
        references=["https://www.cisecurity.org/benchmark/kubernetes"],
        evidence={"expected": "not applicable", "actual": "not applicable", "note": "not applicable: %s" % why},
        extra={"scored": False, "benchmark": catalogue.get("version"), "section": target, "level": 1},
    )


def _not_applicable_here(check: dict[str, Any], components: dict[str, Component]) -> Optional[str]:
    """The check's `not_applicable_if: {component, flag, prefix, reason}` holds on this node -> the reason.

    E.g. the API server's etcd TLS checks on a k3s server whose --etcd-servers is kine's unix socket."""
    rule = check.get("not_applicable_if")
    if not rule:
        return None
    component = components.get(rule["component"])
    value = component.flags.get(rule["flag"]) if component is not None and component.present else None
    if value is not None and str(value).startswith(rule["prefix"]):
        return "%s (%s=%s, %s)" % (rule["reason"], rule["flag"], value, component.flags_source if component else "")
    return None


def absent_target_findings(
    catalogue: dict[str, Any],
    targets: Iterable[str],
    skipped: dict[str, str],
    components: dict[str, Component],
    cluster: Optional[str],
    node: Optional[str],
    source: str = "cis-node",
) -> list[dict[str, Any]]:
    """One `info` finding for a target skipped on a server that runs without it (`absent_targets: {etcd:
    {when_found: kube-apiserver}}`: a k3s server on kine has no etcd), with the component's own reason; never a
    PASS and never a FAIL per check. On a node without `when_found` (an agent) the target stays skipped."""
    out = []
    for target, rule in (catalogue.get("absent_targets") or {}).items():
        if target not in targets or target not in skipped:
            continue
        anchor = components.get(rule["when_found"])
        if anchor is None or not anchor.found:
            continue
        names = (catalogue.get("target_components") or {}).get(target) or []
        why = "; ".join(components[n].missing_reason or "%s not found" % n for n in names if n in components)
        out.append(_target_info_finding(catalogue, target, source, cluster, node, "this server", "Nothing to do on this node", why))
    return out


def source_for(target: str, default: str = "cis-node") -> str:
    """The finding source of a check: control-plane targets are cis-control-plane, the rest the default."""
    return "cis-control-plane" if target in CONTROL_PLANE_TARGETS else default


def kubesec_remediations(catalogue: dict[str, Any], node: Optional[str] = None) -> dict[str, Any]:
    """{cis id: the playbook run that fixes it on this node} for the checks kubesec's roles remediate.

    From the catalogue's `kubesec_remediation` (command with {tag} and {node}, controls per role, notes per id).
    """
    spec = catalogue.get("kubesec_remediation") or {}
    if not spec:
        return {}
    if not isinstance(spec.get("command"), str) or not isinstance(spec.get("controls"), dict):
        raise CatalogueError("kubesec_remediation needs a 'command' string and a 'controls' mapping of role: [ids]")
    notes = spec.get("notes") or {}
    out = {}
    for ids in spec["controls"].values():
        for cis_id in ids or []:
            cis_id = str(cis_id)
            text = spec["command"].format(tag="cis_" + cis_id.replace(".", "_"), node=node or "<node>")
            out[cis_id] = "%s (%s)" % (text, notes[cis_id]) if cis_id in notes else text
    return out


def audit_node(
    root: str,
    catalogue: dict[str, Any],
    targets: Iterable[str] = ("node",),
    cluster: Optional[str] = None,
    node: Optional[str] = None,
    controls: Optional[dict[str, Any]] = None,
    source: str = "cis-node",
    cluster_configs: Optional[dict[str, Any]] = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Evaluate every check of the chosen targets; returns (findings, context).

    `source` is the finding source of worker-node checks; checks of the master, controlplane and etcd
    targets are always reported as cis-control-plane. `cluster_configs` maps a component's `cluster_config`
    name (kube-proxy) to its configuration read from the cluster, used when the node does not run it.
    """
    validate_catalogue(catalogue)
    controls = controls or {}
    paths = catalogue.get("paths", {})
    components = {}
    for name, spec in (catalogue.get("components") or {}).items():
        components[name] = load_component(root, name, spec, paths, cluster_configs)
    skipped = skipped_targets(catalogue, targets, components)
    findings = []
    benchmark = catalogue.get("version")
    kubesec_way = kubesec_remediations(catalogue, node)
    for check in catalogue["checks"]:
        target = target_of(catalogue, check)
        if target not in targets or target in skipped:
            continue
        outcome = run_test(root, check["test"], paths, components)
        reason = _not_applicable_here(check, components)
        if reason:
            outcome = Outcome(True, "not applicable", "not applicable", dict(outcome.evidence), not_applicable=reason)
        if outcome.manual:
            status = "warn"
        elif outcome.not_applicable:
            status = "info"
            outcome.note = "not applicable: %s" % outcome.not_applicable
        elif outcome.missing and check.get("if_missing"):
            status = check["if_missing"]["status"]
            detail = outcome.evidence.get("note")
            outcome.note = check["if_missing"].get("note")
            if detail and outcome.note and detail not in outcome.note:
                outcome.note = "%s. %s" % (detail, outcome.note)  # the specific reason first
        elif outcome.passed:
            status = "pass"
        else:
            status = "fail" if check["scored"] else "warn"
        evidence = dict(outcome.evidence)
        evidence["expected"] = outcome.expected
        evidence["actual"] = outcome.actual
        if outcome.note:
            evidence["note"] = outcome.note
        if outcome.manual:
            evidence.setdefault("note", "manual check (kube-bench type: manual): always WARN, review it by hand")
        elif not check["scored"] and status == "warn":
            evidence.setdefault("note", "manual (unscored) check: a failing result is reported as WARN")
        cis_id = str(check["id"])
        finding = make_finding(
            "CIS-" + cis_id,
            source_for(target, source),
            check["title"],
            status,
            severity=check.get("severity", "medium"),
            cluster=cluster,
            node=node,
            resource={"kind": "Node", "name": node},
            description=check.get("description", ""),
            remediation=check["remediation"],
            references=check.get("references") or ["https://www.cisecurity.org/benchmark/kubernetes"],
            evidence=evidence,
            extra=dict(
                {"scored": bool(check["scored"]), "benchmark": benchmark, "section": cis_id.rsplit(".", 1)[0], "level": int(check.get("level", 1))},
                **({"remediation_kubesec": kubesec_way[cis_id]} if cis_id in kubesec_way else {}),
            ),
        )
        toggle = controls.get(cis_id)
        if isinstance(toggle, dict) and toggle.get("enabled") is False:
            finding = apply_waiver(
                finding, toggle.get("reason") or "control disabled in the inventory (no reason given)", expires=toggle.get("expires"), scope={"node": node}
            )
        findings.append(finding)
    findings.extend(not_applicable_target_findings(catalogue, targets, cluster, node, source))
    findings.extend(absent_target_findings(catalogue, targets, skipped, components, cluster, node, source))
    context = {
        "benchmark": benchmark,
        "components": dict(
            (
                name,
                {
                    "kind": c.kind,
                    "flags_source": c.flags_source,
                    "config_path": c.config_path,
                    "config_error": c.config_error,
                    "flags_error": c.flags_error,
                    "files": c.files,
                    "flag_count": len(c.flags),
                    "config_files": [p for p, _d in c.config_layers],
                    "no_config": c.no_config,
                    "cluster_source": c.cluster_source,
                },
            )
            for name, c in components.items()
        ),
        "skipped_targets": skipped,
    }
    return findings, context


summarize = count_statuses  # the modules' summary; kept here for callers of _cis.summarize
