# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The k3s server's embedded control plane, read side: what the running process says it started, and etcd's
own config file.

Node side: stdlib + PyYAML only.

- k3s logs every embedded component it starts with logrus, `logrus.Infof("Running kube-apiserver %s",
  config.ArgString(args))` (k3s pkg/daemons/control/server.go), through logrus' text formatter:
  `time="2026-05-26T22:08:48Z" level=info msg="Running kube-apiserver --a=b --c=d"`. A value that needs quoting
  is written with Go's strconv.Quote (\\" \\\\ \\n \\t \\xNN \\uNNNN ...). The line is in the journal of
  k3s.service (systemd), in /var/log/k3s.log (OpenRC) or in the file of the `log:` option.
- etcd reads a YAML config file (`--config-file`; k3s and RKE2 write /var/lib/rancher/<dist>/server/db/etcd/config)
  whose keys are its flag names; TLS settings sit in `client-transport-security` and `peer-transport-security`
  (etcd server/embed/config.go configYAML / securityConfig). When a config file is given, etcd ignores its
  other flags and ETCD_* variables, so its settings are the file's.
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any, Callable, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils import _nodepath, _rancher, _safeyaml
from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

JOURNAL_LINES = 20000  # newest journal entries of the unit searched for the start lines
JOURNAL_TIMEOUT = 20  # seconds
JOURNAL_MAX_BYTES = 16 * 1024 * 1024  # of journalctl's stdout
LOG_TAIL_BYTES = 8 * 1024 * 1024  # of a log file, from its end
MAX_ETCD_CONFIG_BYTES = 1024 * 1024

# etcd's securityConfig keys (client-transport-security / peer-transport-security) -> the flag each one sets;
# peer-transport-security's flags carry the peer- prefix (etcd etcdmain/config.go flag names).
_SECURITY_KEYS = (
    "cert-file",
    "key-file",
    "client-cert-file",
    "client-key-file",
    "client-cert-auth",
    "trusted-ca-file",
    "auto-tls",
    "allowed-cn",
    "allowed-hostname",
    "skip-client-san-verification",
)
_SECTIONS = {"client-transport-security": "--", "peer-transport-security": "--peer-"}

_LOGRUS_PAIR = re.compile(r'([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|[^ ]*)')


class RunningLineError(KubesecError, ValueError):
    """A log line or etcd config file that cannot be understood (names it)."""


def go_unquote(text: str) -> str:
    """A Go double-quoted string literal (strconv.Quote's output, quotes included) -> its value."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise RunningLineError("not a quoted Go string: %r" % text[:80])
    body, out, index = text[1:-1], [], 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"', "'": "'"}
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = body[index + 1:index + 2]
        if code in simple:
            out.append(simple[code])
            index += 2
        elif code in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[code]
            digits = body[index + 2:index + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise RunningLineError("bad \\%s escape in %r" % (code, text[:80]))
            out.append(chr(int(digits, 16)))
            index += 2 + width
        elif code and code in "01234567":
            digits = body[index + 1:index + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits):
                raise RunningLineError("bad octal escape in %r" % text[:80])
            out.append(chr(int(digits, 8)))
            index += 4
        else:
            raise RunningLineError("unknown escape \\%s in %r" % (code, text[:80]))
    return "".join(out)


def parse_logrus(line: str) -> Optional[dict[str, str]]:
    """The fields of one logrus text-formatter line ({time, level, msg, ...}); None when the line has no msg.

    Whatever precedes `time=` (a journal or syslog prefix such as `May 26 22:08:48 server-0 k3s[2226]: `) is
    skipped."""
    start = line.find('time="')
    if start < 0:
        start = line.find("level=")
    if start < 0:
        return None
    fields: dict[str, str] = {}
    for match in _LOGRUS_PAIR.finditer(line[start:].rstrip("\r\n")):
        key, raw = match.group(1), match.group(2)
        fields[key] = go_unquote(raw) if raw.startswith('"') else raw
    return fields if "msg" in fields else None


def split_args(text: str) -> dict[str, str]:
    """`--a=b --c --d=e f` (k3s config.ArgString: the args joined by spaces) -> {--a: b, --c: "true", --d: "e f"}.

    ArgString does not quote, so a word that does not start with `--` belongs to the value before it."""
    flags: dict[str, str] = {}
    last: Optional[str] = None
    for word in text.split(" "):
        if word.startswith("--") and len(word) > 2:
            name, sep, value = word.partition("=")
            flags[name] = value if sep else "true"
            last = name
        elif last is not None and word:
            flags[last] = flags[last] + " " + word
    return flags


def running_lines(lines: list[str], components: list[str]) -> dict[str, dict[str, Any]]:
    """{component: {flags, time, line}} from the last `Running <component> ...` message of each component."""
    found: dict[str, dict[str, Any]] = {}
    for line in lines:
        if "Running " not in line:
            continue
        fields = parse_logrus(line)
        if not fields:
            continue
        message = fields["msg"]
        for name in components:
            prefix = "Running %s " % name
            if message.startswith(prefix) or message == prefix.rstrip():
                found[name] = {"flags": split_args(message[len(prefix):]), "time": fields.get("time"), "line": message[:200]}
    return found


Runner = Callable[[list[str], int], tuple[int, bytes]]


def _run_with_timeout(argv: list[str], timeout: int) -> tuple[int, bytes]:
    """Run argv, stdout only (stderr discarded), with a wall-clock limit (a stuck journalctl must not hang the
    audit); journalctl -n bounds what it prints."""
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout, check=False)
    except OSError:
        return 127, b""
    except subprocess.TimeoutExpired as exc:
        return -9, (exc.stdout or b"")[:JOURNAL_MAX_BYTES]
    return done.returncode, done.stdout[:JOURNAL_MAX_BYTES]


def journal_running(
    root: str, unit: str, components: list[str], runner: Optional[Runner] = None, lines: int = JOURNAL_LINES
) -> tuple[dict[str, dict[str, Any]], Optional[str]]:
    """The last start line of each component in the unit's journal -> (found, where or None).

    `journalctl -u UNIT -n LINES -o cat --no-pager` (with --root for a node tree mounted elsewhere): the message
    only, the newest LINES entries, stdout only, with a timeout. No journalctl, or no such line: ({}, None)."""
    argv = ["journalctl", "-u", unit, "-n", str(int(lines)), "-o", "cat", "--no-pager", "-q"]
    if os.path.normpath(root or "/") != "/":
        argv.append("--root=" + root)
    code, data = (runner or _run_with_timeout)(argv, JOURNAL_TIMEOUT)
    if code != 0 or not data:
        return {}, None
    found = running_lines(data.decode("utf-8", "replace").splitlines(), components)
    return found, ("journal of %s" % unit) if found else None


def file_running(root: str, path: str, components: list[str]) -> tuple[dict[str, dict[str, Any]], Optional[str]]:
    """The last start line of each component in a log file (its last LOG_TAIL_BYTES only)."""
    try:
        real = _nodepath.resolve(root or "/", path)
    except _nodepath.NodePathError:
        return {}, None
    if not os.path.isfile(real):
        return {}, None
    try:
        with open(real, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            data = handle.read(LOG_TAIL_BYTES)
    except OSError:
        return {}, None
    found = running_lines(data.decode("utf-8", "replace").splitlines(), components)
    return found, (path if found else None)


def etcd_config_flags(data: Any, path: str) -> dict[str, str]:
    """etcd's YAML config file -> {--flag: value} (lists joined with commas, booleans as true/false)."""
    if not isinstance(data, dict):
        raise RunningLineError("%s must be a mapping of etcd options, found %s" % (path, type(data).__name__))
    flags: dict[str, str] = {}
    for key, value in data.items():
        key = str(key)
        if key in _SECTIONS:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise RunningLineError("%s: %s must be a mapping, found %s" % (path, key, type(value).__name__))
            for name, item in value.items():
                if str(name) in _SECURITY_KEYS:
                    flags[_SECTIONS[key] + str(name)] = _flag_text(item)
            continue
        if isinstance(value, dict):
            continue  # other nested settings (socket-options...) are not flags the CIS checks test
        flags["--" + key] = _flag_text(value)
    return flags


def _flag_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_flag_text(item) for item in value)
    return "" if value is None else str(value)


def read_etcd_config(root: str, path: str) -> dict[str, str]:
    """Read and translate etcd's config file; RunningLineError naming the file when it cannot be used."""
    try:
        real = _nodepath.resolve(root or "/", path)
    except _nodepath.NodePathError as exc:
        raise RunningLineError(str(exc)) from None
    try:
        with open(real, "rb") as handle:
            raw = handle.read(MAX_ETCD_CONFIG_BYTES + 1)
    except OSError as exc:
        raise RunningLineError("cannot read the etcd config file %s: %s" % (path, exc.strerror)) from exc
    if len(raw) > MAX_ETCD_CONFIG_BYTES:
        raise RunningLineError("the etcd config file %s is larger than %d bytes" % (path, MAX_ETCD_CONFIG_BYTES))
    try:
        data = _safeyaml.load(raw.decode("utf-8"), path)
    except UnicodeDecodeError as exc:
        raise RunningLineError("the etcd config file %s is not UTF-8 text" % path) from exc
    except _safeyaml.SafeYAMLError as exc:
        raise RunningLineError("the etcd config file %s: %s" % (path, exc)) from exc
    return etcd_config_flags(data if data is not None else {}, path)


def datastore(root: str, distribution: str, option: Callable[[str], Optional[str]]) -> tuple[str, str]:
    """Which datastore a k3s server's API server uses -> (kind, why): 'etcd' (embedded etcd: cluster-init, or a
    data dir already initialised with etcd), 'external' (datastore-endpoint) or 'kine' (the default single
    server: kine over SQLite). `option(name)` gives a server option's effective value."""
    base = "/var/lib/rancher/%s/server" % distribution
    endpoint = option("datastore-endpoint")
    if endpoint:
        return "external", "datastore-endpoint is set: the data is kept in %s" % endpoint.split("://", 1)[0]
    if _true(option("cluster-init")):
        return "etcd", "cluster-init is set: embedded etcd"
    try:
        has_etcd = os.path.isdir(_nodepath.resolve(root or "/", base + "/db/etcd"))
    except _nodepath.NodePathError:
        has_etcd = False
    if has_etcd:
        return "etcd", "%s/db/etcd exists: embedded etcd" % base
    return "kine", "no cluster-init, no datastore-endpoint and no %s/db/etcd: kine over SQLite (%s/db/state.db)" % (base, base)


def _true(value: Optional[str]) -> bool:
    return str(value).strip().lower() in ("true", "1", "t", "yes")


def flag_setters(root: str, files: list[str], argv: list[str], unit: str, component: str) -> dict[str, str]:
    """{--flag: where it is set last} for the component's `<component>-arg` items: the config file or drop-in
    (in k3s's reading order), or the unit's command line, which comes last and wins."""
    setters: dict[str, str] = {}
    for path in files:
        values, _sources = _rancher.merge_config(root, [path])
        for flag in _rancher.component_flags(_rancher.config_args(values), component):
            setters[flag] = path
    split = next((i + 1 for i, arg in enumerate(argv) if arg in _rancher.SUBCOMMANDS), len(argv))
    for flag in _rancher.component_flags(argv[split:], component):
        setters[flag] = "the command line of %s" % unit
    return setters


def pending_restart(model: dict[str, str], running: dict[str, str], setters: dict[str, str], where: str) -> dict[str, str]:
    """{flag: note} for each flag the config files or command line set (`setters`: flag -> file) whose value
    differs from the running process's."""
    notes: dict[str, str] = {}
    for flag in sorted(setters):
        want, have = model.get(flag), running.get(flag)
        if want != have:
            notes[flag] = "%s sets %s=%s, the running process has %s (%s): restart pending" % (
                setters[flag],
                flag,
                want,
                "%s=%s" % (flag, have) if have is not None else "no %s" % flag,
                where,
            )
    return notes
