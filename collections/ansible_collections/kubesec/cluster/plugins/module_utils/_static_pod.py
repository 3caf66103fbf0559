# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and edit static pod manifests (kube-apiserver, kube-controller-manager, kube-scheduler, etcd).

Reading (used by the CIS evaluator): the flags of one container, from its `command` and `args`, parsed the
way the component's flag library reads them.

Editing (the static_pod_manifest action plugin, on the controller): set, replace or remove flags and add or
remove hostPath volumes with their mounts, then check the result (the API server's own cross-field rules that a
schema cannot express, here, and the Kubernetes JSON schema through the `schema_check` the controller passes in:
plugin_utils/_pod_schema.py, kubernetes-validate) BEFORE anything is written, because the kubelet restarts the
pod the moment the file changes. The node only reads (read_for_change) and writes what the controller planned
(write_checked), under a lock and only if the file still has the checksum it had when it was read; change()
re-reads and re-plans when it changed meanwhile, so two runs at once both land.

Where files go, and why (the kubelet's file source reads EVERY regular file in the manifests directory whose
name does not start with a dot, whatever its extension, and starts it as a pod):
- the temporary file of the atomic write is created in the manifests directory itself (so the final rename
  is on the same filesystem and atomic) under a dot-name, `.kubesec-tmp-XXXXXX`, which the kubelet skips;
- backups never go into the manifests directory (a `kube-apiserver.yaml.bak` there would be a second
  apiserver pod): they go to a separate directory, and a backup directory inside the manifests directory is
  refused.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import os
import re
from typing import Any, Callable, Iterable, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils import _nodepath, _nodewrite, _parsing, _safeyaml, _systemd
from ansible_collections.kubesec.cluster.plugins.module_utils._safeyaml import HAS_YAML, yaml

DEFAULT_MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
DEFAULT_BACKUP_DIR = "/var/lib/kubesec/manifest-backups"
TEMP_PREFIX = _nodewrite.TEMP_PREFIX  # dot-named: the kubelet ignores it

# Boolean flags of the control-plane components: a bare `--profiling` means true and the next list item is
# never taken as its value (pflag / Go flag semantics for bools).
BOOLEAN_FLAGS = frozenset(
    (
        "--anonymous-auth",
        "--profiling",
        "--service-account-lookup",
        "--allow-privileged",
        "--enable-bootstrap-token-auth",
        "--service-account-extend-token-expiration",
        "--audit-log-compress",
        "--enable-aggregator-routing",
        "--enable-garbage-collector",
        "--enable-priority-and-fairness",
        "--contention-profiling",
        "--logtostderr",
        "--use-service-account-credentials",
        "--leader-elect",
        "--allocate-node-cidrs",
        "--configure-cloud-routes",
        "--enable-hostpath-provisioner",
        "--enable-dynamic-provisioning",
        "--enable-taint-manager",
        "--client-cert-auth",
        "--peer-client-cert-auth",
        "--auto-tls",
        "--peer-auto-tls",
        "--strict-reconfig-check",
        "--experimental-initial-corrupt-check",
        "--enable-v2",
        "--enable-pprof",
        "--debug",
    )
)
HOSTPATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice")
_FLAG_NAME = re.compile(r"^--[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ManifestError(KubesecError, ValueError):
    """A manifest cannot be read or the requested change cannot be made safely (names the file and why)."""


class ChangedMeanwhile(ManifestError):
    """The manifest changed between the read and the write; nothing was written."""


def node_path(root: str, path: str) -> str:
    """Real path of a node path, resolved inside the root; a path that leaves it is refused."""
    try:
        return _nodepath.resolve(root, path)
    except _nodepath.NodePathError as exc:
        raise ManifestError(str(exc)) from None


# ---------------------------------------------------------------------------------------------- reading


def parse_manifest(text: str, path: str) -> dict[str, Any]:
    """Manifest text -> pod dict; raises ManifestError naming the file (and line) on anything but a Pod."""
    if not HAS_YAML:
        raise ManifestError("PyYAML is not installed on the node; cannot parse %s" % path)
    try:
        data = _safeyaml.load(text, path)
    except _safeyaml.SafeYAMLError as exc:
        raise ManifestError(str(exc)) from None
    if not isinstance(data, dict):
        raise ManifestError("%s must hold a Pod mapping, found %s" % (path, type(data).__name__))
    if data.get("kind") != "Pod":
        raise ManifestError("%s is not a Pod manifest (kind: %r)" % (path, data.get("kind")))
    spec = data.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("containers"), list) or not spec["containers"]:
        raise ManifestError("%s has no spec.containers list" % path)
    for index, container in enumerate(spec["containers"]):
        if not isinstance(container, dict):
            raise ManifestError("%s: spec.containers[%d] is not a mapping" % (path, index))
    return data


def read_manifest(root: str, path: str) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """(pod, error) for a node path; error is text (never raises for a missing or bad file)."""
    try:
        real = node_path(root, path)
    except ManifestError as exc:
        return None, str(exc)
    if not os.path.isfile(real):
        return None, "file not found: %s" % path
    try:
        text = _nodewrite.read_text(real, path)
    except _nodewrite.NodeFileError as exc:
        return None, str(exc)
    try:
        return parse_manifest(text, path), None
    except ManifestError as exc:
        return None, str(exc)


def find_container(
    pod: dict[str, Any],
    name: Optional[str] = None,
    path: str = "manifest",
) -> tuple[int, dict[str, Any]]:
    """(index, container): the named container, else the only / first one."""
    containers = pod["spec"]["containers"]
    if not name:
        return 0, containers[0]
    for index, container in enumerate(containers):
        if container.get("name") == name:
            return index, container
    raise ManifestError("%s has no container named %r (containers: %s)" % (path, name, ", ".join(str(c.get("name")) for c in containers)))


def _string_list(container: dict[str, Any], key: str, path: str) -> list[Any]:
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestError("%s: container %s %s must be a list, found %s" % (path, container.get("name"), key, type(value).__name__))
    return value


def container_argv(container: dict[str, Any], path: str = "manifest") -> list[str]:
    """The container's command line: command + args (a placeholder argv[0] when command is empty)."""
    command = _string_list(container, "command", path)
    args = _string_list(container, "args", path)
    argv = [str(item) for item in command] or ["<image entrypoint>"]
    return argv + [str(item) for item in args]


def parse_flags(argv: list[str], boolean_flags: Iterable[str] = BOOLEAN_FLAGS) -> dict[str, str]:
    """--name=value / --name value / --bool -> {--name: value}; argv[0] is the program; the last one wins."""
    return _systemd.parse_flags(argv, boolean_flags)


def as_list(value: Any) -> list[Any]:
    """A manifest field that should be a list, or [] when it is missing or something else."""
    return value if isinstance(value, list) else []


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """Literal env values of a container (valueFrom entries are not resolvable offline and are skipped)."""
    env = {}
    for item in as_list(container.get("env")):
        if isinstance(item, dict) and item.get("name") and "value" in item:
            env[str(item["name"])] = "" if item["value"] is None else str(item["value"])
    return env


def manifest_flags(root: str, path: str, container: Optional[str] = None, boolean_flags: Iterable[str] = BOOLEAN_FLAGS) -> dict[str, Any]:
    """Everything the CIS evaluator needs from one manifest; never raises.

    Returns dict(found, flags, env, container, error): found is False when the file does not exist.
    """
    pod, error = read_manifest(root, path)
    if pod is None:
        try:
            found = os.path.exists(node_path(root, path))
        except ManifestError:
            found = False
        return {"found": found, "flags": {}, "env": {}, "container": None, "error": error}
    try:
        chosen = find_container(pod, container, path)[1]
        argv = container_argv(chosen, path)
    except ManifestError as exc:
        return {"found": True, "flags": {}, "env": {}, "container": None, "error": str(exc)}
    return {"found": True, "flags": parse_flags(argv, boolean_flags), "env": container_env(chosen), "container": chosen.get("name"), "error": None}


# ---------------------------------------------------------------------------------------------- editing


def flag_value_text(name: str, value: Any) -> str:
    """A requested flag value -> its command-line text (lists joined with commas)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if isinstance(item, (dict, list, tuple)) or item is None:
                raise ManifestError("flag %s: list items must be text or numbers, got %r" % (name, item))
            items.append(flag_value_text(name, item))
        text = ",".join(items)
    elif isinstance(value, dict):
        raise ManifestError("flag %s: a value must be text, a number, a boolean or a list, not a mapping" % name)
    else:
        text = str(value)
    if _CONTROL.search(text):
        raise ManifestError("flag %s: the value contains a control character (newline, tab, ...)" % name)
    return text


def normalize_flag_name(name: Any) -> str:
    text = str(name).strip()
    if not text.startswith("-"):
        text = "--" + text
    if not _FLAG_NAME.match(text):
        raise ManifestError("%r is not a valid flag name (expected --name, letters, digits, '-', '_', '.')" % (name,))
    return text


def _occurrences(
    items: list[Any],
    name: str,
    boolean_flags: Iterable[str],
    skip_first: bool,
) -> list[tuple[int, int, Optional[str]]]:
    """Positions of a flag in one list: [(index, length, value)] where length is 1 or 2 (--name value)."""
    found: list[tuple[int, int, Optional[str]]] = []
    index = 1 if skip_first else 0
    while index < len(items):
        item = items[index]
        if not isinstance(item, str) or not item.startswith("-"):
            index += 1
            continue
        key = "--" + item.lstrip("-")
        if key.split("=", 1)[0] != name:
            index += 1
            continue
        if "=" in key:
            found.append((index, 1, key.split("=", 1)[1]))
            index += 1
        elif name not in boolean_flags and index + 1 < len(items) and isinstance(items[index + 1], str) and not items[index + 1].startswith("-"):
            found.append((index, 2, items[index + 1]))
            index += 2
        else:
            found.append((index, 1, "true"))
            index += 1
    return found


def edit_flags(container: dict[str, Any], flags: dict[str, Any], boolean_flags: Iterable[str] = BOOLEAN_FLAGS, path: str = "manifest") -> list[str]:
    """Apply {--flag: value|None} to a container in place; returns the list of flag names that changed.

    An existing flag is replaced where it stands (its first occurrence; later duplicates, which would win on
    the command line, are removed); a new flag is appended to the list that already carries flags
    (`command` for kubeadm, else `args`); None removes every occurrence.
    """
    command = container.get("command")
    args = container.get("args")
    for key, value in (("command", command), ("args", args)):
        if value is not None and not isinstance(value, list):
            raise ManifestError("%s: container %s %s must be a list" % (path, container.get("name"), key))
    changed = []
    for raw_name, value in flags.items():
        name = normalize_flag_name(raw_name)
        wanted = None if value is None else "%s=%s" % (name, flag_value_text(name, value))
        places: list[tuple[str, tuple[int, int, Optional[str]]]] = []
        for key in ("command", "args"):
            items = container.get(key)
            if items:
                places.extend((key, hit) for hit in _occurrences(items, name, boolean_flags, key == "command"))
        if wanted is None:
            if not places:
                continue
        elif len(places) == 1 and places[0][1][1] == 1 and container[places[0][0]][places[0][1][0]] == wanted:
            continue
        # remove from the end so indices stay valid; keep the first place for an in-place replacement
        first = places[0] if places else None
        for key, hit in reversed(places[1:] if wanted is not None else places):
            del container[key][hit[0]:hit[0] + hit[1]]
        if wanted is not None:
            if first is not None:
                key, hit = first
                container[key][hit[0]:hit[0] + hit[1]] = [wanted]
            else:
                target = _append_target(container, path)
                container.setdefault(target, []).append(wanted)
        changed.append(name)
    return changed


def _append_target(container: dict[str, Any], path: str) -> str:
    command = container.get("command") or []
    args = container.get("args") or []
    if len(command) > 1 or (command and not args):
        return "command"
    if args:
        return "args"
    raise ManifestError("%s: container %s has neither command nor args; cannot tell where its flags go" % (path, container.get("name")))


def _volume_spec(item: dict[str, Any]) -> dict[str, Any]:
    return {"name": item["name"], "hostPath": {"path": item["hostPath"]}}


def edit_volumes(pod: dict[str, Any], container: dict[str, Any], volumes: list[dict[str, Any]], path: str = "manifest") -> list[str]:
    """Add / update / remove hostPath volumes and the container's mounts of them (by name); returns changed names."""
    spec = pod["spec"]
    changed = []
    for item in volumes:
        name = item.get("name")
        if not name:
            raise ManifestError("every volume needs a name")
        state = item.get("state") or "present"
        pod_volumes = spec.get("volumes")
        if pod_volumes is not None and not isinstance(pod_volumes, list):
            raise ManifestError("%s: spec.volumes must be a list" % path)
        mounts = container.get("volumeMounts")
        if mounts is not None and not isinstance(mounts, list):
            raise ManifestError("%s: container %s volumeMounts must be a list" % (path, container.get("name")))
        if state == "absent":
            before = (len(pod_volumes or []), len(mounts or []))
            if pod_volumes:
                spec["volumes"] = [v for v in pod_volumes if not (isinstance(v, dict) and v.get("name") == name)]
            if mounts:
                container["volumeMounts"] = [m for m in mounts if not (isinstance(m, dict) and m.get("name") == name)]
            if before != (len(spec.get("volumes") or []), len(container.get("volumeMounts") or [])):
                changed.append(name)
            continue
        if not item.get("hostPath"):
            raise ManifestError("volume %s: hostPath is required with state=present" % name)
        volume = {"path": item["hostPath"]}
        if item.get("type") is not None:
            volume["type"] = item["type"]
        did = False
        pod_volumes = spec.setdefault("volumes", [])
        existing = next((v for v in pod_volumes if isinstance(v, dict) and v.get("name") == name), None)
        if existing is None:
            pod_volumes.append({"hostPath": volume, "name": name})  # kubeadm's key order
            did = True
        else:
            current = existing.get("hostPath")
            if not isinstance(current, dict) or any(k in existing for k in _OTHER_SOURCES):
                raise ManifestError("%s: volume %s exists and is not a hostPath volume; remove it first" % (path, name))
            for key, value in volume.items():
                if current.get(key) != value:
                    current[key] = value
                    did = True
        mount = {"mountPath": item.get("mountPath") or item["hostPath"], "name": name}
        read_only = item.get("readOnly")
        read_only = True if read_only is None else bool(read_only)
        mounts = container.setdefault("volumeMounts", [])
        existing = next((m for m in mounts if isinstance(m, dict) and m.get("name") == name), None)
        if existing is None:
            if read_only:
                mount["readOnly"] = True
            mounts.append(mount)
            did = True
        else:
            if existing.get("mountPath") != mount["mountPath"]:
                existing["mountPath"] = mount["mountPath"]
                did = True
            if bool(existing.get("readOnly", False)) != read_only:
                if read_only:
                    existing["readOnly"] = True
                else:
                    existing.pop("readOnly", None)
                did = True
        if did:
            changed.append(name)
    return changed


_OTHER_SOURCES = ("emptyDir", "secret", "configMap", "projected", "persistentVolumeClaim", "csi", "downwardAPI")


def semantic_errors(pod: dict[str, Any]) -> list[str]:
    """Cross-field rules the API server enforces that a JSON schema cannot express."""
    errors = []
    spec: dict[str, Any] = pod["spec"] if isinstance(pod.get("spec"), dict) else {}
    names = []
    for index, volume in enumerate(as_list(spec.get("volumes"))):
        if not isinstance(volume, dict):
            errors.append("spec.volumes[%d] is not a mapping" % index)
            continue
        name = volume.get("name")
        if not _parsing.is_dns1123_label(name):
            errors.append("spec.volumes[%d].name %r is not a DNS-1123 label" % (index, name))
        if name in names:
            errors.append("spec.volumes[%d].name %r is a duplicate" % (index, name))
        names.append(name)
        host = volume.get("hostPath")
        if isinstance(host, dict) and host.get("type") is not None and host.get("type") not in HOSTPATH_TYPES:
            errors.append("spec.volumes[%d].hostPath.type %r is not one of %s" % (index, host.get("type"), ", ".join(t or '""' for t in HOSTPATH_TYPES)))
        if isinstance(host, dict) and not str(host.get("path") or "").startswith("/"):
            errors.append("spec.volumes[%d].hostPath.path %r must be an absolute path" % (index, host.get("path")))
    container_names = []
    for cindex, container in enumerate(as_list(spec.get("containers")) + as_list(spec.get("initContainers"))):
        if not isinstance(container, dict):
            continue
        cname = container.get("name")
        if cname in container_names:
            errors.append("container name %r is a duplicate" % (cname,))
        container_names.append(cname)
        paths = []
        for mindex, mount in enumerate(as_list(container.get("volumeMounts"))):
            if not isinstance(mount, dict):
                continue
            where = "container %s volumeMounts[%d]" % (cname or cindex, mindex)
            if mount.get("name") not in names:
                errors.append("%s refers to volume %r, which spec.volumes does not define" % (where, mount.get("name")))
            if mount.get("mountPath") in paths:
                errors.append("%s mountPath %r is already used by another mount" % (where, mount.get("mountPath")))
            paths.append(mount.get("mountPath"))
    return errors


if HAS_YAML:

    class _Dumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
        """Double quotes where quoting is needed, as kubeadm writes YAML."""

        def choose_scalar_style(self) -> Any:
            style = super(_Dumper, self).choose_scalar_style()
            return '"' if style == "'" else style


def dump_manifest(pod: dict[str, Any]) -> str:
    return yaml.dump(pod, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=1000)


def plan_text(
    before: str,
    path: str = DEFAULT_MANIFEST,
    container: Optional[str] = None,
    flags: Optional[dict[str, Any]] = None,
    volumes: Optional[list[dict[str, Any]]] = None,
    validate: bool = True,
    kubernetes_version: str = "1.33",
    schema_check: Optional[Callable[..., Any]] = None,
    boolean_flags: Iterable[str] = BOOLEAN_FLAGS,
) -> dict[str, Any]:
    """Work out the new manifest from its text; nothing is read or written. Raises ManifestError on anything unsafe.

    schema_check(pod, kubernetes_version) -> [problem, ...] is the Kubernetes schema check; it runs on the
    controller (plugin_utils/_pod_schema.py), so validate=True without it is an error, never a silent skip.
    Returns dict(before, after, changed, flags_before, flags_after, flags_changed, volumes_changed, container,
    validation_seconds).
    """
    pod = parse_manifest(before, path)
    index, chosen = find_container(pod, container, path)
    flags_before = parse_flags(container_argv(chosen, path), boolean_flags)
    new_pod = copy.deepcopy(pod)
    new_container = new_pod["spec"]["containers"][index]
    flags_changed = edit_flags(new_container, flags or {}, boolean_flags, path)
    volumes_changed = edit_volumes(new_pod, new_container, volumes or [], path)
    flags_after = parse_flags(container_argv(new_container, path), boolean_flags)
    changed = bool(flags_changed or volumes_changed) and new_pod != pod
    after = dump_manifest(new_pod) if changed else before
    seconds = 0.0
    if changed and validate:
        if schema_check is None:
            raise ManifestError(
                "validate=true needs the controller's schema check (run the module through its action plugin, kubesec.cluster.static_pod_manifest)"
            )
        started = datetime.datetime.now()
        problems = semantic_errors(new_pod) + schema_check(new_pod, kubernetes_version)
        seconds = (datetime.datetime.now() - started).total_seconds()
        if problems:
            raise ManifestError(
                "refusing to write %s: the result would not be a valid Pod for Kubernetes %s "
                "(the kubelet would fail to restart %s): %s" % (path, kubernetes_version, chosen.get("name"), "; ".join(problems))
            )
    return {
        "before": before,
        "after": after,
        "changed": changed,
        "flags_before": flags_before,
        "flags_after": flags_after,
        "flags_changed": flags_changed if changed else [],
        "volumes_changed": volumes_changed if changed else [],
        "container": chosen.get("name"),
        "validation_seconds": round(seconds, 4),
    }


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def check_backup_dir(root: str, path: str, backup_dir: str) -> str:
    """Refuse a backup directory inside the manifests directory (the kubelet would run the copy)."""
    manifests = os.path.dirname(node_path(root, path))
    real = node_path(root, backup_dir)
    if _inside(real, manifests):
        raise ManifestError(
            "backup_dir %s is inside the static pod manifests directory %s: the kubelet starts "
            "every file there as a pod, so a backup copy would run as a second %s; choose a "
            "directory outside it (default %s)" % (backup_dir, os.path.dirname(path), os.path.basename(path), DEFAULT_BACKUP_DIR)
        )
    return real


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_for_change(root: str, path: str = DEFAULT_MANIFEST, backup_enabled: bool = True, backup_dir: str = DEFAULT_BACKUP_DIR) -> dict[str, Any]:
    """Node side, step 1: the manifest's text and checksum (and the backup directory checked). Reads only."""
    if backup_enabled:
        check_backup_dir(root, path, backup_dir)
    real = node_path(root, path)
    if not os.path.isfile(real):
        raise ManifestError("manifest %s does not exist (below root %s)" % (path, root))
    try:
        text = _nodewrite.read_text(real, path)
    except _nodewrite.NodeFileError as exc:
        raise ManifestError(str(exc)) from None
    return {"text": text, "sha256": sha256(text)}


def backup_path(backup_real: str, stamp: Optional[str] = None) -> Callable[[str], str]:
    """backup(real) for write_set: <backup_dir>/<manifest name>.<UTC time>."""
    stamp = stamp or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return lambda real: os.path.join(backup_real, "%s.%s" % (os.path.basename(real), stamp))


def write_checked(
    root: str,
    path: str,
    content: str,
    expected_sha256: str,
    backup_enabled: bool = True,
    backup_dir: str = DEFAULT_BACKUP_DIR,
    lock_timeout: float = 60,
    prepare: Optional[Callable[[str, str], Any]] = None,
) -> dict[str, Any]:
    """Node side, step 2: under the manifest's lock, write `content` only if the file still has expected_sha256.

    Raises ChangedMeanwhile (nothing written) when it does not. Returns {"backup_file": path or None}.
    """
    backup_real = check_backup_dir(root, path, backup_dir) if backup_enabled else None
    real = node_path(root, path)
    try:
        with _nodewrite.lock(real, timeout=lock_timeout, name=path):
            current = read_for_change(root, path, False)
            if current["sha256"] != expected_sha256:
                raise ChangedMeanwhile(
                    "%s changed after it was read (sha256 %s, read as %s); nothing was written" % (path, current["sha256"][:12], expected_sha256[:12])
                )
            backups = _nodewrite.write_set(
                [{"path": path, "real": real, "after": content}], backup=backup_path(backup_real) if backup_real else None, prepare=prepare
            )
    except _nodewrite.WriteSetError as exc:
        raise ManifestError(str(exc)) from None
    except _nodewrite.NodeFileError as exc:
        raise ManifestError(str(exc)) from None
    return {"backup_file": backups.get(real)}


def change(
    read: Callable[[], dict[str, Any]],
    write: Callable[[str, str], dict[str, Any]],
    path: str = DEFAULT_MANIFEST,
    container: Optional[str] = None,
    flags: Optional[dict[str, Any]] = None,
    volumes: Optional[list[dict[str, Any]]] = None,
    validate: bool = True,
    kubernetes_version: str = "1.33",
    check_mode: bool = False,
    schema_check: Optional[Callable[..., Any]] = None,
    attempts: int = 3,
) -> dict[str, Any]:
    """Read, plan, write guarded by the checksum of what was read; re-read and re-plan when it changed meanwhile.

    read() -> {"text", "sha256"}; write(content, sha256) -> {"backup_file"} or raises ChangedMeanwhile.
    Returns the module result.
    """
    for _attempt in range(attempts):
        current = read()
        result = plan_text(current["text"], path, container, flags, volumes, validate, kubernetes_version, schema_check)
        out = {
            "changed": result["changed"],
            "path": path,
            "container": result["container"],
            "flags_before": result["flags_before"],
            "flags_after": result["flags_after"],
            "flags_changed": result["flags_changed"],
            "volumes_changed": result["volumes_changed"],
            "backup_file": None,
            "validation_seconds": result["validation_seconds"],
        }
        if not result["changed"]:
            return out
        out["diff"] = {"before": result["before"], "after": result["after"], "before_header": path, "after_header": path}
        if check_mode:
            return out
        try:
            out["backup_file"] = write(result["after"], current["sha256"])["backup_file"]
        except ChangedMeanwhile:
            continue
        return out
    raise ManifestError("%s kept changing while it was being planned (%d tries); nothing was written by this run" % (path, attempts))


def apply(
    root: str,
    path: str = DEFAULT_MANIFEST,
    container: Optional[str] = None,
    flags: Optional[dict[str, Any]] = None,
    volumes: Optional[list[dict[str, Any]]] = None,
    validate: bool = True,
    kubernetes_version: str = "1.33",
    backup_enabled: bool = True,
    backup_dir: str = DEFAULT_BACKUP_DIR,
    check_mode: bool = False,
    schema_check: Optional[Callable[..., Any]] = None,
    lock_timeout: float = 60,
) -> dict[str, Any]:
    """The whole change on a local node tree (tests, tools): change() with the node-side steps called directly."""
    return change(
        lambda: read_for_change(root, path, backup_enabled, backup_dir),
        lambda content, digest: write_checked(root, path, content, digest, backup_enabled, backup_dir, lock_timeout),
        path,
        container,
        flags,
        volumes,
        validate,
        kubernetes_version,
        check_mode,
        schema_check,
    )
