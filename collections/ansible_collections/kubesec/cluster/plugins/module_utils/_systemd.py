# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Effective command line of a systemd service, read from its unit files (no running system needed).

This is what kube-bench gets from `ps -fC kubelet`, worked out from the files instead, so a mounted node
tree or a stopped kubelet can be audited: unit + drop-ins in systemd's order, `ExecStart=` resets,
`Environment=` / `EnvironmentFile=` expansion, then the flags split the way pflag reads them.
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any, Dict, Iterable, List, Match, Optional, Sequence, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils import _nodepath

# systemd's search order for units (earlier wins for the unit file itself; drop-ins from all are merged).
UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "usr/local/lib/systemd/system", "usr/lib/systemd/system", "lib/systemd/system")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class UnitError(KubesecError, ValueError):
    """A unit or environment file could not be read or parsed (names the file)."""


def _join(root: Optional[str], path: str) -> str:
    """Real path of a node path, resolved inside the root (symlinks re-rooted, `..` contained)."""
    try:
        return _nodepath.resolve(root, "/" + path.lstrip("/"))
    except _nodepath.NodePathError as exc:
        raise UnitError(str(exc)) from None


def parse_unit_text(text: str) -> List[Tuple[Optional[str], str, str]]:
    """Parse systemd unit text into a list of (section, key, value) with continuation lines joined."""
    entries: List[Tuple[Optional[str], str, str]] = []
    section = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            entries.append((section, key.strip(), value.strip()))
    return entries


def parse_env_file(text: str) -> Dict[str, str]:
    """KEY=VALUE lines as systemd reads EnvironmentFile= (quotes stripped, comments skipped)."""
    env: Dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def _parse_environment_assignments(value: str) -> Dict[str, str]:
    env: Dict[str, str] = {}
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    for word in words:
        if "=" in word:
            key, val = word.split("=", 1)
            env[key] = val
    return env


def unit_files(root: Optional[str], unit: str) -> List[Tuple[str, str]]:
    """The unit file and its drop-ins, in the order systemd applies them: [(path_in_node, text)]."""
    main = None
    for directory in UNIT_DIRS:
        candidate = _join(root, os.path.join(directory, unit))
        if os.path.isfile(candidate):
            main = ("/" + os.path.join(directory, unit), candidate)
            break
    dropins: Dict[str, Tuple[str, str]] = {}
    for directory in reversed(UNIT_DIRS):  # earlier dirs override a drop-in of the same name
        ddir = _join(root, os.path.join(directory, unit + ".d"))
        if os.path.isdir(ddir):
            for name in os.listdir(ddir):
                if name.endswith(".conf"):
                    dropins[name] = ("/" + os.path.join(directory, unit + ".d", name), os.path.join(ddir, name))
    files = [main] if main else []
    files.extend(dropins[name] for name in sorted(dropins))
    result: List[Tuple[str, str]] = []
    for node_path, real_path in files:
        try:
            with open(real_path, "r") as handle:
                result.append((node_path, handle.read()))
        except (IOError, OSError) as exc:
            raise UnitError("cannot read systemd file %s: %s" % (node_path, exc)) from exc
    return result


def effective_command(root: Optional[str], unit: str) -> Dict[str, Any]:
    """Return dict(argv=[...], files=[...], env_files=[...], service={...}, environment={...}) for a service, or
    argv None when not found (environment: what Environment= / EnvironmentFile= give the process)."""
    files = unit_files(root, unit)
    exec_start = None
    exec_file = None
    env: Dict[str, str] = {}
    env_origin: Dict[str, str] = {}  # variable -> the file that set it last (evidence names it)
    env_files: List[str] = []
    service: Dict[str, str] = {}
    for node_path, text in files:
        for section, key, value in parse_unit_text(text):
            if section != "Service":
                continue
            service[key] = value  # the last assignment wins (enough for the single-valued settings we read)
            if key == "ExecStart":
                exec_start = value or None  # an empty ExecStart= resets the list
                exec_file = node_path
            elif key == "Environment":
                assigned = _parse_environment_assignments(value)
                env.update(assigned)
                env_origin.update(dict.fromkeys(assigned, node_path))
            elif key == "EnvironmentFile":
                optional = value.startswith("-")
                path = value.lstrip("-")
                real = _join(root, path)
                if os.path.isfile(real):
                    try:
                        with open(real, "r") as handle:
                            assigned = parse_env_file(handle.read())
                        env.update(assigned)
                        env_origin.update(dict.fromkeys(assigned, path))
                    except (IOError, OSError) as exc:
                        raise UnitError("cannot read EnvironmentFile %s (from %s): %s" % (path, node_path, exc)) from exc
                    env_files.append(path)
                elif not optional:
                    raise UnitError("EnvironmentFile %s named in %s does not exist" % (path, node_path))
    if exec_start is None:
        return {"argv": None, "files": [f[0] for f in files], "env_files": env_files, "service": service, "environment": env, "flag_origins": {}}
    command = exec_start.lstrip("@-:+!")

    def expand(match: Match[str]) -> str:
        return env.get(match.group(1) or match.group(2), "")

    # $VAR splits into words, ${VAR} is one word in systemd; for flags the difference does not matter.
    expanded = _VAR.sub(expand, command)
    try:
        argv = shlex.split(expanded)
    except ValueError as exc:
        raise UnitError("cannot split ExecStart of %s: %s" % (unit, exc)) from exc
    origins = _flag_origins(command, env, env_origin, exec_file or (files[-1][0] if files else unit))
    return {"argv": argv, "files": [f[0] for f in files], "env_files": env_files, "service": service, "environment": env, "flag_origins": origins}


def _flag_origins(command: str, env: Dict[str, str], env_origin: Dict[str, str], exec_file: str) -> Dict[str, str]:
    """{--flag: the file it comes from}: a flag written in ExecStart= comes from the unit file that set it; one
    that a whole-word $VAR / ${VAR} expands to comes from the file that set the variable (on AKS every kubelet
    flag is in KUBELET_FLAGS of /etc/default/kubelet, not in the unit). The last occurrence wins, as for the
    flags; a word that only partly is a variable counts as the unit's."""
    try:
        words = shlex.split(command)
    except ValueError:
        return {}
    origins: Dict[str, str] = {}
    for word in words[1:]:
        whole = _VAR.fullmatch(word)
        if whole:
            name = whole.group(1) or whole.group(2)
            try:
                expanded = shlex.split(env.get(name, ""))
            except ValueError:
                continue
            origin = env_origin.get(name, exec_file)
            for part in expanded:
                if part.startswith("--"):
                    origins[part.split("=", 1)[0]] = "%s ($%s)" % (origin, name)
        elif word.startswith("-") and word not in ("-", "--"):
            origins["--" + word.lstrip("-").split("=", 1)[0]] = exec_file
    return origins


def parse_flags(argv: Optional[Sequence[str]], boolean_flags: Iterable[str] = ()) -> Dict[str, str]:
    """pflag-style --name=value / --name value / --bool into {--name: value}; the last occurrence wins."""
    boolean_flags = frozenset(boolean_flags)
    flags: Dict[str, str] = {}
    args = list(argv or [])[1:]
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            continue
        name = "--" + arg.lstrip("-")
        if "=" in name:
            name, value = name.split("=", 1)
            flags[name] = value
        elif name in boolean_flags:
            flags[name] = "true"
        elif index < len(args) and not args[index].startswith("-"):
            flags[name] = args[index]
            index += 1
        else:
            flags[name] = "true"
    return flags
