# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan changes to a component's config file (KubeletConfiguration, KubeProxyConfiguration) and its flags.

Pure planning: read the node, return the new text of every file that must change. The module does the
writing (backup, atomic move). Command-line flags win over the config file, so a flag that says something
else than a setting we manage is removed from wherever it is defined (env file or drop-in).
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any, Iterable, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils import _nodepath, _nodewrite, _safeyaml, _systemd
from ansible_collections.kubesec.cluster.plugins.module_utils._safeyaml import HAS_YAML, yaml

# Config key -> flag that overrides it (kubelet and kube-proxy flags the CIS checks look at, plus common ones).
FLAG_FOR_KEY = {
    "authentication.anonymous.enabled": "--anonymous-auth",
    "authentication.webhook.enabled": "--authentication-token-webhook",
    "authentication.x509.clientCAFile": "--client-ca-file",
    "authorization.mode": "--authorization-mode",
    "readOnlyPort": "--read-only-port",
    "streamingConnectionIdleTimeout": "--streaming-connection-idle-timeout",
    "makeIPTablesUtilChains": "--make-iptables-util-chains",
    "eventRecordQPS": "--event-qps",
    "tlsCertFile": "--tls-cert-file",
    "tlsPrivateKeyFile": "--tls-private-key-file",
    "rotateCertificates": "--rotate-certificates",
    "serverTLSBootstrap": "--rotate-server-certificates",
    "tlsCipherSuites": "--tls-cipher-suites",
    "tlsMinVersion": "--tls-min-version",
    "podPidsLimit": "--pod-max-pids",
    "seccompDefault": "--seccomp-default",
    "protectKernelDefaults": "--protect-kernel-defaults",
    "metricsBindAddress": "--metrics-bind-address",
    "healthzBindAddress": "--healthz-bind-address",
}
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.,:/=@+\-]*$")


class KubeletConfigError(KubesecError, ValueError):
    """The node's files cannot be changed safely (names the file and why)."""


def node_path(root: str, path: str) -> str:
    """Real path of a node path, resolved inside the root; a path that leaves it is refused."""
    try:
        return _nodepath.resolve(root, path)
    except _nodepath.NodePathError as exc:
        raise KubeletConfigError(str(exc)) from None


def _read(real: str, name: Optional[str] = None) -> str:
    try:
        return _nodewrite.read_text(real, name)
    except _nodewrite.NodeFileError as exc:
        raise KubeletConfigError(str(exc)) from None


def set_path(data: dict[str, Any], dotted: str, value: Any) -> bool:
    """Set (or with value None remove) a dotted key; returns True when something changed."""
    parts = dotted.split(".")
    target = data
    for part in parts[:-1]:
        child = target.get(part)
        if child is None:
            if value is None:
                return False
            child = target[part] = {}
        elif not isinstance(child, dict):
            raise KubeletConfigError("cannot set %s: %s is a %s, not a mapping" % (dotted, part, type(child).__name__))
        target = child
    last = parts[-1]
    if value is None:
        if last in target:
            del target[last]
            return True
        return False
    if last in target and target[last] == value and type(target[last]) is type(value):  # true is not 1
        return False
    target[last] = value
    return True


if HAS_YAML:

    class _Dumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
        """Quote with double quotes where quoting is needed, as kubeadm and kubectl write YAML."""

        def choose_scalar_style(self) -> Any:
            style = super(_Dumper, self).choose_scalar_style()
            return '"' if style == "'" else style


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=1000)


def plan_config(
    text: str,
    path: str,
    settings: dict[str, Any],
    expected_kind: Optional[str],
) -> tuple[str, list[str]]:
    """New text of the config file, and the list of keys that change."""
    try:
        data = _safeyaml.load(text, path)
    except _safeyaml.SafeYAMLError as exc:
        where = " at line %d, column %d" % (exc.line, exc.column or 0) if exc.line else ""
        raise KubeletConfigError("%s is not valid YAML%s: %s; fix it by hand or restore a backup before hardening" % (path, where, exc.problem)) from None
    if data is None:  # empty, or only comments: hardening it would write a file with no apiVersion / kind
        raise KubeletConfigError(
            "%s is empty (no YAML document); it is not a %s: fix it by hand or restore a backup before hardening" % (path, expected_kind or "config file")
        )
    if not isinstance(data, dict):
        raise KubeletConfigError("%s must hold a mapping, found %s" % (path, type(data).__name__))
    if expected_kind and data.get("kind", expected_kind) != expected_kind:
        raise KubeletConfigError("%s is a %r, expected kind %s" % (path, data.get("kind"), expected_kind))
    changed = [key for key in sorted(settings) if set_path(data, key, settings[key])]
    return (dump_yaml(data) if changed else text), changed


def _flag_value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def _edit_tokens(
    words: list[str],
    remove: set[str],
    set_values: dict[str, str],
) -> tuple[list[str], list[str], list[str]]:
    """Drop flags in `remove`, rewrite flags in `set_values`; returns (new words, removed, rewritten)."""
    out, removed, rewritten = [], [], []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        name = word.split("=", 1)[0] if word.startswith("--") else None
        if name is None:
            out.append(word)
            continue
        has_inline = "=" in word
        takes_next = not has_inline and index < len(words) and not words[index].startswith("-")
        if name in remove or name in set_values:
            if takes_next:
                index += 1
            if name in set_values:
                out.append("%s=%s" % (name, set_values[name]))
                rewritten.append(name)
            else:
                removed.append(name)
            continue
        out.append(word)
        if takes_next:
            out.append(words[index])
            index += 1
    return out, removed, rewritten


def _quote_words(words: list[str]) -> str:
    for word in words:
        if not _SAFE_VALUE.match(word):
            raise KubeletConfigError("refusing to write flag value %r: only plain characters are allowed" % word)
    return " ".join(words)


def _edit_env_text(text: str, remove: set[str], set_values: dict[str, str]) -> tuple[str, list[str], list[str]]:
    """Edit flags inside KEY="--a --b" lines of an EnvironmentFile."""
    lines, removed, rewritten = [], [], []
    for line in text.splitlines(True):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and "=" in stripped:
            key, value = stripped.split("=", 1)
            quote = value[:1] if value[:1] in "\"'" and value[-1:] == value[:1] else ""
            inner = value[1:-1] if quote else value
            words = shlex.split(inner) if inner else []
            new_words, gone, redone = _edit_tokens(words, remove, set_values)
            if gone or redone:
                removed.extend(gone)
                rewritten.extend(redone)
                newline = "\n" if line.endswith("\n") else ""
                line = '%s="%s"%s' % (key.strip(), _quote_words(new_words), newline)
        lines.append(line)
    return "".join(lines), removed, rewritten


def _edit_unit_text(text: str, remove: set[str], set_values: dict[str, str]) -> tuple[str, list[str], list[str]]:
    """Edit flags on ExecStart= and inside Environment= assignments of a unit or drop-in."""
    lines, removed, rewritten = [], [], []
    for line in text.splitlines(True):
        stripped = line.strip()
        newline = "\n" if line.endswith("\n") else ""
        if stripped.startswith("ExecStart=") and len(stripped) > len("ExecStart="):
            words = shlex.split(stripped[len("ExecStart="):])
            new_words, gone, redone = _edit_tokens(words, remove, set_values)
            if gone or redone:
                line = "ExecStart=" + " ".join(new_words) + newline
                removed.extend(gone)
                rewritten.extend(redone)
        elif stripped.startswith("Environment="):
            body = stripped[len("Environment="):]
            quoted = body[:1] == '"' and body[-1:] == '"'
            inner = body[1:-1] if quoted else body
            if "=" in inner:
                key, value = inner.split("=", 1)
                new_words, gone, redone = _edit_tokens(shlex.split(value), remove, set_values)
                if gone or redone:
                    line = 'Environment="%s=%s"%s' % (key, _quote_words(new_words), newline)
                    removed.extend(gone)
                    rewritten.extend(redone)
        lines.append(line)
    return "".join(lines), removed, rewritten


def config_file(root: str, service: str, config_path: Optional[str] = None, boolean_flags: Iterable[str] = ()) -> tuple[str, str]:
    """(node path, real path) of the component's config file: config_path, else the service's --config flag."""
    if not config_path:
        command = _systemd.effective_command(root, service)
        flags = _systemd.parse_flags(command["argv"], boolean_flags) if command["argv"] else {}
        config_path = flags.get("--config")
    if not config_path:
        raise KubeletConfigError("no config file: %s has no --config flag and config_path is not set" % service)
    return config_path, node_path(root, config_path)


def plan(
    root: str,
    service: str,
    settings: dict[str, Any],
    flags: dict[str, Any],
    expected_kind: Optional[str] = "KubeletConfiguration",
    config_path: Optional[str] = None,
    extra_args_file: str = "/etc/default/kubelet",
    extra_args_var: str = "KUBELET_EXTRA_ARGS",
    boolean_flags: Iterable[str] = (),
) -> dict[str, Any]:
    """All file changes for one component: [{path, real, before, after}] plus what changed and why."""
    if not HAS_YAML:
        raise KubeletConfigError("PyYAML is not installed on the node")
    command = _systemd.effective_command(root, service)
    current_flags = _systemd.parse_flags(command["argv"], boolean_flags) if command["argv"] else {}
    if not config_path:
        config_path = current_flags.get("--config")
    if not config_path:
        raise KubeletConfigError("no config file: %s has no --config flag and config_path is not set" % service)
    real = node_path(root, config_path)
    if not os.path.isfile(real):
        raise KubeletConfigError("config file %s does not exist on the node" % config_path)
    changes = []
    before = _read(real, config_path)
    after, keys = plan_config(before, config_path, settings, expected_kind)
    if after != before:
        changes.append({"path": config_path, "real": real, "before": before, "after": after})

    # Flags: remove the ones that override a managed setting, apply the explicit flag changes.
    remove = set(name for name, value in flags.items() if value is None)
    set_values = dict((name, _flag_value_text(value)) for name, value in flags.items() if value is not None)
    for key in settings:
        flag = FLAG_FOR_KEY.get(key)
        if flag and flag in current_flags and flag not in set_values:
            remove.add(flag)
    removed, rewritten = [], []
    wanted = set(name for name in remove if name in current_flags) | set(set_values)
    if wanted:
        sources = [(path, _edit_unit_text) for path in command["files"]]
        sources += [(path, _edit_env_text) for path in command["env_files"]]
        for path, editor in sources:
            real_path = node_path(root, path)
            text = _read(real_path, path)
            new_text, gone, redone = editor(text, remove, set_values)
            if new_text != text:
                changes.append({"path": path, "real": real_path, "before": text, "after": new_text})
                removed.extend(gone)
                rewritten.extend(redone)
        missing = [name for name, value in set_values.items() if name not in rewritten and current_flags.get(name) != value]
        if missing:
            if not any(extra_args_file in _read(node_path(root, path), path) for path in command["files"]):
                raise KubeletConfigError(
                    "cannot add %s: %s does not read %s (set extra_args_file to the env file it reads)" % (", ".join(missing), service, extra_args_file)
                )
            changes.extend(_append_extra_args(root, extra_args_file, extra_args_var, missing, set_values, changes))
            rewritten.extend(missing)
    return {
        "changes": changes,
        "config_path": config_path,
        "settings_changed": keys,
        "flags_removed": sorted(set(removed)),
        "flags_set": sorted(set(rewritten)),
        "flags_before": current_flags,
    }


def _append_extra_args(root: str, path: str, var: str, names: list[str], set_values: dict[str, str], pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add new flags to KUBELET_EXTRA_ARGS in the extra-args env file (created when missing)."""
    real = node_path(root, path)
    for change in pending:  # the file may already be planned for an edit: build on that
        if change["real"] == real:
            text = change["after"]
            pending.remove(change)
            before = change["before"]
            break
    else:
        before = _read(real, path) if os.path.isfile(real) else ""
        text = before
    addition = ["%s=%s" % (name, set_values[name]) for name in names]
    lines = text.splitlines(True)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(var + "="):
            value = stripped.split("=", 1)[1].strip("\"'")
            lines[index] = '%s="%s"\n' % (var, _quote_words(shlex.split(value) + addition))
            break
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append('%s="%s"\n' % (var, _quote_words(addition)))
    return [{"path": path, "real": real, "before": before, "after": "".join(lines)}]
