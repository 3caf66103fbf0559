#!/usr/bin/env python3
"""TEST DOUBLE: stand-in kubelet and kube-apiserver health endpoints for one test-bed node.

This is NOT a kubelet and NOT a kube-apiserver. It is a small process that the test bed
(tests/testbed/testbed.py) starts inside each node's network namespace and private mount namespace.
It holds that mount namespace (it performs the node's bind mounts itself, so sshd is later started
inside the same namespaces) and it answers health probes the way the real components would behave
for the configuration problems hardening roles can cause:

* kubelet double, ``GET http://127.0.0.1:10248/healthz`` inside the node: ``200 ok`` while the kubelet
  configuration it loaded at its last (re)start is one the real kubelet (v1.33) would start with,
  otherwise ``500`` with the reason. Like the real kubelet it reads its configuration only when it
  starts: editing config.yaml changes nothing until the restart command runs
  (``<test bed dir>/bin/kubelet-restart``, which asks this process to re-read it over an abstract unix
  socket that only processes in the node's network namespace can reach). The configuration path is
  found the way systemd + kubelet would: the ``--config`` flag of the kubelet.service drop-ins
  (Environment= / EnvironmentFile= / ExecStart=), falling back to /var/lib/kubelet/config.yaml.
  A real kubelet with a bad configuration exits and the port refuses connections; the double answers
  500 with the reason instead, so a failing test says why.
  On a k3s / RKE2 node (its k3s / rke2 unit installed) the kubelet runs inside that process: the double checks
  the process's kubelet --config-dir drop-ins and every kubelet-arg the process would pass (config.yaml, its
  config.yaml.d drop-ins, the unit's --kubelet-arg) against the kubelet's flags (``check_rancher_kubelet``).
  On a k3s / RKE2 SERVER of the control-plane role the same (re)start also checks every kube-apiserver-arg,
  kube-controller-manager-arg and kube-scheduler-arg item (``check_rancher_control_plane``): one process, so a
  component that would exit takes the kubelet health and the API server /livez down together.
* kube-apiserver double (control-plane nodes only), ``GET http://127.0.0.1:6443/livez`` (also
  ``/readyz`` and ``/healthz``), PLAIN HTTP (the real one is HTTPS): ``200 ok`` while
  /etc/kubernetes/manifests/kube-apiserver.yaml parses, is a v1 Pod with a kube-apiserver container
  whose ``--audit-*`` flags are all real kube-apiserver flags with valid values, whose audit policy /
  webhook config files exist as the container would see them (through the pod's hostPath
  volumeMounts) and whose audit policy is a loadable audit.k8s.io/v1 Policy, and whose hostPath
  volumes pass the kubelet's hostPath type checks. It re-reads the manifest on every request (the real
  kubelet watches the manifest directory and restarts the static pod by itself).

The validators are plain functions (``check_kubelet_config``, ``check_apiserver_manifest``) that take a
``root`` so unit tests can run them against a materialized tree without namespaces.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import re
import shlex
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import PurePosixPath

import yaml

KUBELET_HEALTHZ_PORT = 10248
APISERVER_PORT = 6443
CONTROL_SOCKET = "\0kubesec-testbed-node-double"  # abstract: one per network namespace
DEFAULT_KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
APISERVER_MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
KUBELET_DROPIN_DIRS = ("/usr/lib/systemd/system/kubelet.service.d", "/lib/systemd/system/kubelet.service.d", "/etc/systemd/system/kubelet.service.d")

# Go crypto/tls names (go1.24, as used by Kubernetes v1.33): tls.CipherSuites() ...
GO_TLS_CIPHER_SUITES = (
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
)
# ... plus tls.InsecureCipherSuites(), which the kubelet also accepts (it only logs them) ...
GO_TLS_INSECURE_CIPHER_SUITES = (
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
)
# ... plus the two legacy names k8s.io/component-base/cli/flag keeps for backward compatibility.
K8S_LEGACY_CIPHER_NAMES = ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305")
ACCEPTED_CIPHER_NAMES = frozenset(GO_TLS_CIPHER_SUITES + GO_TLS_INSECURE_CIPHER_SUITES + K8S_LEGACY_CIPHER_NAMES)
TLS_VERSIONS = frozenset({"VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13"})

# KubeletConfiguration (kubelet.config.k8s.io/v1beta1) fields whose JSON type the kubelet's decoder enforces.
# Unknown fields are accepted: the kubelet decodes strictly, logs the strict error and falls back to lenient.
_KUBELET_FIELD_TYPES = {
    "bool": (
        "enableServer rotateCertificates serverTLSBootstrap registerNode cgroupsPerQOS cpuCFSQuota "
        "enableControllerAttachDetach makeIPTablesUtilChains protectKernelDefaults serializeImagePulls failSwapOn "
        "enableDebuggingHandlers enableContentionProfiling kernelMemcgNotification enableProfilingHandler "
        "enableDebugFlagsHandler seccompDefault localStorageCapacityIsolation enableSystemLogHandler "
        "enableSystemLogQuery"
    ),
    "int": (
        "port readOnlyPort healthzPort registryBurst eventBurst kubeAPIBurst maxPods podPidsLimit podsPerCore "
        "maxOpenFiles oomScoreAdj imageGCHighThresholdPercent imageGCLowThresholdPercent iptablesMasqueradeBit "
        "iptablesDropBit nodeStatusMaxImages nodeLeaseDurationSeconds containerLogMaxFiles containerLogMaxWorkers "
        "maxParallelImagePulls registryPullQPS eventRecordQPS kubeAPIQPS"
    ),
    "str": (
        "staticPodPath staticPodURL address tlsCertFile tlsPrivateKeyFile tlsMinVersion healthzBindAddress "
        "clusterDomain cgroupRoot cgroupDriver cpuManagerPolicy memoryManagerPolicy topologyManagerPolicy "
        "topologyManagerScope hairpinMode resolvConf kubeletCgroups systemCgroups providerID "
        "containerRuntimeEndpoint imageServiceEndpoint containerLogMaxSize contentType systemReservedCgroup "
        "kubeReservedCgroup reservedSystemCPUs volumePluginDir podCIDR podLogsDir"
    ),
    "duration": (
        "syncFrequency fileCheckFrequency httpCheckFrequency streamingConnectionIdleTimeout "
        "nodeStatusUpdateFrequency nodeStatusReportFrequency imageMinimumGCAge imageMaximumGCAge "
        "volumeStatsAggPeriod cpuManagerReconcilePeriod runtimeRequestTimeout evictionPressureTransitionPeriod "
        "shutdownGracePeriod shutdownGracePeriodCriticalPods containerLogMonitorInterval cpuCFSQuotaPeriod"
    ),
    "strlist": "tlsCipherSuites clusterDNS enforceNodeAllocatable allowedUnsafeSysctls",
    "map": (
        "featureGates evictionHard evictionSoft evictionSoftGracePeriod evictionMinimumReclaim systemReserved "
        "kubeReserved staticPodURLHeader cpuManagerPolicyOptions topologyManagerPolicyOptions authentication "
        "authorization logging crashLoopBackOff memorySwap tracing"
    ),
}
KUBELET_FIELD_TYPES = {name: kind for kind, names in _KUBELET_FIELD_TYPES.items() for name in names.split()}
_NESTED_FIELD_TYPES = {
    ("authentication", "anonymous", "enabled"): "bool",
    ("authentication", "webhook", "enabled"): "bool",
    ("authentication", "webhook", "cacheTTL"): "duration",
    ("authentication", "x509", "clientCAFile"): "str",
    ("authorization", "mode"): "str",
    ("authorization", "webhook", "cacheAuthorizedTTL"): "duration",
    ("authorization", "webhook", "cacheUnauthorizedTTL"): "duration",
}
_NON_NEGATIVE = ("eventBurst eventRecordQPS kubeAPIBurst kubeAPIQPS maxOpenFiles maxPods podsPerCore registryBurst registryPullQPS").split()
# Fields holding paths the kubelet resolves against the config file's directory when relative
# (KubeletConfigurationPathRefs): a relative staticPodPath is NOT an error for the real kubelet.
_PATH_FIELDS = ("staticPodPath", "tlsCertFile", "tlsPrivateKeyFile", "resolvConf", "volumePluginDir", "podLogsDir")

_GO_DURATION = re.compile(r"^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$")


def is_go_duration(value) -> bool:
    """True if value is a string Go's time.ParseDuration accepts (what metav1.Duration decodes)."""
    return isinstance(value, str) and (value in ("0", "+0", "-0") or bool(_GO_DURATION.match(value)))


def _is_int(value) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


def _type_problem(path: str, kind: str, value) -> str | None:
    if value is None:
        return None
    ok = {
        "bool": lambda v: isinstance(v, bool),
        "int": _is_int,
        "str": lambda v: isinstance(v, str),
        "duration": is_go_duration,
        "strlist": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
        "map": lambda v: isinstance(v, dict),
    }[kind](value)
    if ok:
        return None
    want = {
        "bool": "bool",
        "int": "an integer",
        "str": "string",
        "duration": "a duration string such as 5m0s",
        "strlist": "a list of strings",
        "map": "an object",
    }[kind]
    return f"{path}: cannot decode {value!r} ({type(value).__name__}), want {want}"


def _under(root: str, path: str) -> str:
    """A node path as a host path under root ('/' inside the node)."""
    return os.path.join(root, path.lstrip("/")) if root not in ("", "/") else path


def _resolve(path: str, base_dir: str) -> str:
    return path if path.startswith("/") else str(PurePosixPath(base_dir) / path)


class _NamedStream:
    """A text stream PyYAML names in its errors by the node path (not the host path under root)."""

    def __init__(self, handle, name: str):
        self._handle, self.name = handle, name

    def read(self, size: int = -1) -> str:
        return self._handle.read(size)


def _load_yaml(path: str, root: str):
    with open(_under(root, path), encoding="utf-8") as handle:
        return yaml.safe_load(_NamedStream(handle, path))


def check_kubelet_config(path: str = DEFAULT_KUBELET_CONFIG, root: str = "/") -> list[str]:
    """Problems that make the real kubelet (v1.33) refuse to start with this config file; [] if none."""
    try:
        data = _load_yaml(path, root)
    except OSError as exc:
        return [f"failed to load kubelet config file, path: {path}, error: open {path}: {exc.strerror.lower()}"]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return [f"failed to load kubelet config file, path: {path}: YAML does not parse: {' '.join(str(exc).split())}"]
    if not isinstance(data, dict):
        return [f"failed to load kubelet config file, path: {path}: not a YAML mapping"]
    problems = []
    if data.get("kind") != "KubeletConfiguration" or data.get("apiVersion") != "kubelet.config.k8s.io/v1beta1":
        return [
            f"failed to load kubelet config file, path: {path}: no kind {data.get('kind')!r} is registered for "
            f"version {data.get('apiVersion')!r} (want kind KubeletConfiguration, "
            "apiVersion kubelet.config.k8s.io/v1beta1)"
        ]
    for field, kind in KUBELET_FIELD_TYPES.items():
        problem = _type_problem(field, kind, data.get(field))
        if problem:
            problems.append(problem)
    for keys, kind in _NESTED_FIELD_TYPES.items():
        node = data
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            problem = _type_problem(".".join(keys), kind, node.get(keys[-1]))
            if problem:
                problems.append(problem)
    if problems:  # the decoder stops here
        return [f"failed to load kubelet config file, path: {path}: {p}" for p in problems]

    for suite in data.get("tlsCipherSuites") or []:
        if suite not in ACCEPTED_CIPHER_NAMES:
            problems.append(f"tlsCipherSuites: Cipher suite {suite} not supported or doesn't exist")
    version = data.get("tlsMinVersion")
    if version and version not in TLS_VERSIONS:
        problems.append(f"tlsMinVersion: unknown tls version {version!r}")
    for field in ("port", "healthzPort", "readOnlyPort"):
        value = data.get(field)
        if value is not None and not (field != "port" and value == 0) and not 1 <= value <= 65535:
            problems.append(f"invalid configuration: {field} {value} must be between 1 and 65535, inclusive")
    for field in _NON_NEGATIVE:
        value = data.get(field)
        if value is not None and value < 0:
            problems.append(f"invalid configuration: {field} {value} must not be a negative number")
    high, low = data.get("imageGCHighThresholdPercent", 85), data.get("imageGCLowThresholdPercent", 80)
    for field, value in (("imageGCHighThresholdPercent", high), ("imageGCLowThresholdPercent", low)):
        if not 0 <= value <= 100:
            problems.append(f"invalid configuration: {field} {value} must be between 0 and 100, inclusive")
    if low >= high:
        problems.append(f"invalid configuration: imageGCLowThresholdPercent {low} must be less than imageGCHighThresholdPercent {high}")
    hairpin = data.get("hairpinMode")
    if hairpin is not None and hairpin not in ("promiscuous-bridge", "hairpin-veth", "none"):
        problems.append(f"invalid configuration: option {hairpin!r} specified for hairpinMode")
    authz = (data.get("authorization") or {}).get("mode")
    if authz is not None and authz not in ("AlwaysAllow", "Webhook"):
        problems.append(f"authorization.mode: unknown authorization mode {authz!r} (AlwaysAllow or Webhook)")

    # Files the kubelet loads at startup (relative paths resolve against the config file's directory).
    base_dir = str(PurePosixPath(path).parent)
    wanted = {
        "authentication.x509.clientCAFile": ((data.get("authentication") or {}).get("x509") or {}).get("clientCAFile"),
        "tlsCertFile": data.get("tlsCertFile"),
        "tlsPrivateKeyFile": data.get("tlsPrivateKeyFile"),
    }
    for field, value in wanted.items():
        if value and not os.path.isfile(_under(root, _resolve(value, base_dir))):
            problems.append(f"{field}: open {_resolve(value, base_dir)}: no such file or directory")
    if bool(data.get("tlsCertFile")) != bool(data.get("tlsPrivateKeyFile")):
        problems.append("tlsCertFile and tlsPrivateKeyFile must be set together")
    return problems


# ---------------------------------------------------------------- systemd drop-ins -> --config path


def _systemd_lines(text: str):
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def _env_file(path: str) -> dict[str, str]:
    env = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            key, _, value = line.partition("=")
            try:
                words = shlex.split(value)
            except ValueError:
                words = [value]
            env[key.strip()] = " ".join(words)
    return env


def kubelet_flags(root: str = "/") -> tuple[list[str], list[str]]:
    """The kubelet's argv from its systemd drop-ins (as systemd would build it) and any problems."""
    files = {}
    for directory in KUBELET_DROPIN_DIRS:  # later directories override same-named drop-ins
        host_dir = _under(root, directory)
        if os.path.isdir(host_dir):
            for name in os.listdir(host_dir):
                if name.endswith(".conf"):
                    files[name] = os.path.join(host_dir, name)
    # The unit file itself first (a managed node image's kubelet.service carries the ExecStart; kubeadm's is in a
    # drop-in), the first one found in systemd's search order.
    main = next((_under(root, d + "/kubelet.service") for d in UNIT_DIRS if os.path.isfile(_under(root, d + "/kubelet.service"))), None)
    env: dict[str, str] = {}
    exec_start = ""
    problems = []
    for name in ([""] if main else []) + sorted(files):
        with open(files[name] if name else main, encoding="utf-8") as handle:
            lines = list(_systemd_lines(handle.read()))
        for line in lines:
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if key == "Environment":
                try:
                    assignments = shlex.split(value)
                except ValueError as exc:
                    problems.append(f"{name}: Environment= does not parse: {exc}")
                    continue
                for assignment in assignments:
                    var, _, val = assignment.partition("=")
                    env[var] = val
            elif key == "EnvironmentFile":
                optional = value.startswith("-")
                target = value.lstrip("-")
                try:
                    env.update(_env_file(_under(root, target)))
                except OSError:
                    if not optional:
                        problems.append(f"kubelet.service: Failed to load environment files: {target}")
            elif key == "ExecStart":
                exec_start = value
    if not exec_start:
        return [], problems
    argv = []
    try:
        words = shlex.split(exec_start)
    except ValueError as exc:
        return [], [*problems, f"ExecStart= does not parse: {exc}"]
    for word in words:
        if re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", word):  # $VAR: split into words
            argv.extend(env.get(word[1:], "").split())
        else:
            argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), word))
    return argv, problems


def kubelet_config_path(root: str = "/") -> tuple[str | None, list[str]]:
    """The --config file the kubelet reads (None: started without one, e.g. an AKS node: flags only)."""
    argv, problems = kubelet_flags(root)
    config = None
    for index, arg in enumerate(argv):
        if arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        elif arg == "--config" and index + 1 < len(argv):
            config = argv[index + 1]
    return (config if argv else DEFAULT_KUBELET_CONFIG), problems


# ---------------------------------------------------------------- k3s / RKE2: the kubelet inside the process

# What the k3s / rke2 installers and first start write (tests/testbed/trees/rancher.yml): the unit, where it lives,
# the config file, and the kubelet --config-dir the process writes its own defaults to.
RANCHER = {
    "k3s": {
        "units": ("k3s.service", "k3s-agent.service"),
        "config": "/etc/rancher/k3s/config.yaml",
        "config_dir": "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d",
    },
    "rke2": {
        "units": ("rke2-server.service", "rke2-agent.service"),
        "config": "/etc/rancher/rke2/config.yaml",
        "config_dir": "/var/lib/rancher/rke2/agent/etc/kubelet.conf.d",
    },
}
UNIT_DIRS = ("/etc/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
# kubelet flags (v1.33 `kubelet --help`) the test beds use, by value kind; any other flag makes the kubelet exit
# with "unknown flag", as the real one does.
KUBELET_FLAG_KINDS = {
    "anonymous-auth": "bool",
    "authentication-token-webhook": "bool",
    "make-iptables-util-chains": "bool",
    "rotate-certificates": "bool",
    "rotate-server-certificates": "bool",
    "seccomp-default": "bool",
    "protect-kernel-defaults": "bool",
    "fail-swap-on": "bool",
    "authorization-mode": ("AlwaysAllow", "Webhook"),
    "tls-min-version": tuple(sorted(TLS_VERSIONS)),
    "client-ca-file": "file",
    "tls-cert-file": "file",
    "tls-private-key-file": "file",
    "read-only-port": "port",
    "pod-max-pids": "int",
    "event-qps": "int",
    "max-pods": "int",
    "streaming-connection-idle-timeout": "duration",
    "tls-cipher-suites": "ciphers",
    "feature-gates": "gates",
    "hostname-override": "str",
    "node-labels": "str",
    "eviction-hard": "str",
    "kube-reserved": "str",
    "system-reserved": "str",
    "kubeconfig": "file",
    "config-dir": "str",
    "config": "file",
}
_PFLAG_BOOL_VALUES = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}


def rancher_distribution(root: str = "/") -> str | None:
    """'k3s' / 'rke2' when the node runs one (its unit is installed), else None."""
    for name, spec in RANCHER.items():
        if any(os.path.isfile(_under(root, f"{d}/{u}")) for d in UNIT_DIRS for u in spec["units"]):
            return name
    return None


def _rancher_argv(root: str, spec: dict) -> tuple[list[str], str | None]:
    for directory in UNIT_DIRS:
        for unit in spec["units"]:
            path = _under(root, f"{directory}/{unit}")
            if not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as handle:
                for line in _systemd_lines(handle.read()):
                    key, _, value = line.partition("=")
                    if key.strip() == "ExecStart" and value.strip():
                        return shlex.split(value.strip().lstrip("@-:+!")), None
            return [], f"{unit}: no ExecStart"
    return [], "no unit"


def rancher_config(root: str, distribution: str) -> tuple[list[str], dict, list[str]]:
    """(argv of the unit, {key: value} merged as k3s reads its config, problems that stop the process):
    config.yaml, then config.yaml.d/*.yaml|*.yml by name; the last value of a key wins, `key+` appends."""
    spec = RANCHER[distribution]
    argv, problem = _rancher_argv(root, spec)
    if problem:
        return [], {}, [f"{distribution}: {problem}"]
    config = spec["config"]
    for index, word in enumerate(argv):
        if word in ("--config", "-c") and index + 1 < len(argv):
            config = argv[index + 1]
        elif word.startswith(("--config=", "-c=")):
            config = word.split("=", 1)[1]
    files = [config] if os.path.isfile(_under(root, config)) else []
    dropins = _under(root, config + ".d")
    if os.path.isdir(dropins):
        files += [f"{config}.d/{n}" for n in sorted(os.listdir(dropins)) if n.lower().endswith((".yaml", ".yml")) and os.path.isfile(os.path.join(dropins, n))]
    merged: dict = {}
    for path in files:
        try:
            data = _load_yaml(path, root)
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            return argv, {}, [f"{distribution}: failed to read config file {path}: {' '.join(str(exc).split())}"]
        if data is None:
            continue
        if not isinstance(data, dict):
            return argv, {}, [f"{distribution}: config file {path} is not a mapping"]
        for key, value in data.items():
            name = str(key).rstrip("+")
            if str(key).endswith("+") and name in merged:
                old = merged[name] if isinstance(merged[name], list) else [merged[name]]
                merged[name] = old + (value if isinstance(value, list) else [value])
            else:
                merged[name] = value
    return argv, merged, []


def _command_line_values(argv: list[str], name: str) -> list[str]:
    out = []
    for index, word in enumerate(argv):
        if word.startswith(f"--{name}="):
            out.append(word.split("=", 1)[1])
        elif word == f"--{name}" and index + 1 < len(argv):
            out.append(argv[index + 1])
    return out


def rancher_component_args(root: str, distribution: str, arg: str) -> tuple[list[str], list[str]]:
    """(`arg` items (kubelet-arg, kube-apiserver-arg ...) in the order k3s passes them, problems that stop the process);
    the command line's --<arg> items come last."""
    argv, merged, problems = rancher_config(root, distribution)
    if problems:
        return [], problems
    value = merged.get(arg)
    items = [] if value is None else [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return items + _command_line_values(argv, arg), []


def rancher_option(root: str, distribution: str, name: str) -> str | None:
    """A scalar option of the process (the command line wins over the config files), else None."""
    argv, merged, _ = rancher_config(root, distribution)
    values = _command_line_values(argv, name)
    if values:
        return values[-1]
    value = merged.get(name)
    return None if value is None or isinstance(value, (list, dict)) else str(value)


def rancher_kubelet_args(root: str, distribution: str) -> tuple[list[str], list[str]]:
    """(kubelet-arg items in the order k3s passes them, problems that stop the process)."""
    return rancher_component_args(root, distribution, "kubelet-arg")


def check_kubelet_flag(name: str, value: str, root: str = "/") -> str | None:
    """Why the kubelet (v1.33) refuses --name=value, or None."""
    kind = KUBELET_FLAG_KINDS.get(name)
    bad = f'invalid argument "{value}" for "--{name}" flag'
    if kind is None:
        return f"unknown flag: --{name}"
    if isinstance(kind, tuple):
        return None if value in kind else f"{bad}: must be one of {', '.join(kind)}"
    if kind == "bool":
        return None if value in _PFLAG_BOOL_VALUES else f'{bad}: strconv.ParseBool: parsing "{value}": invalid syntax'
    if kind in ("int", "port"):
        if not re.fullmatch(r"-?\d+", value):
            return f'{bad}: strconv.ParseInt: parsing "{value}": invalid syntax'
        if kind == "port" and not 0 <= int(value) <= 65535:
            return f"invalid configuration: {name} {value} must be between 0 and 65535, inclusive"
        return None
    if kind == "duration":
        return None if is_go_duration(value) else f'{bad}: time: invalid duration "{value}"'
    if kind == "ciphers":
        unknown = [s for s in value.split(",") if s and s not in ACCEPTED_CIPHER_NAMES]
        return f"{bad}: Cipher suite {unknown[0]} not supported or doesn't exist" if unknown else None
    if kind == "gates":
        for part in value.split(","):
            gate, eq, setting = part.partition("=")
            if not gate or not eq or setting not in _PFLAG_BOOL_VALUES:
                return f"{bad}: missing bool value for {gate or part}"
        return None
    if kind == "file" and not os.path.isfile(_under(root, value)):
        return f"--{name}: open {value}: no such file or directory"
    return None


def check_rancher_kubelet(root: str = "/") -> tuple[str, list[str]]:
    """(what was read, problems) for the kubelet a k3s / rke2 node would start: its --config-dir drop-ins parse as
    KubeletConfiguration (as check_kubelet_config) and every kubelet-arg is a flag the kubelet accepts."""
    distribution = rancher_distribution(root)
    spec = RANCHER[distribution]
    problems: list[str] = []
    config_dir = _under(root, spec["config_dir"])
    if os.path.isdir(config_dir):
        for name in sorted(os.listdir(config_dir)):
            if name.endswith(".conf"):
                problems += check_kubelet_config(f"{spec['config_dir']}/{name}", root)
    items, stop = rancher_kubelet_args(root, distribution)
    problems += stop
    for item in items:
        name, eq, value = item.lstrip("-").partition("=")
        problem = check_kubelet_flag(name, value if eq else "true", root)
        if problem:
            problems.append(problem)
    return f"{distribution}: {spec['config']} (+ .d) and {spec['config_dir']}", problems


# ---------------------------------------------------------------- k3s / RKE2 server: the control plane in the process

# Flags (v1.33 `kube-apiserver --help` / `kube-controller-manager --help` / `kube-scheduler --help`) the test beds
# and kubesec's control-plane hardening use, by value kind; any other flag in a *-arg item makes the component exit
# with "unknown flag" and takes the k3s / rke2 process down with it (pkg/daemons/control: "<component> exited").
_SHARED_FLAG_KINDS = {
    "profiling": "bool",
    "bind-address": "str",
    "secure-port": "port",
    "feature-gates": "gates",
    "tls-cipher-suites": "ciphers",
    "tls-min-version": tuple(sorted(TLS_VERSIONS)),
    "tls-cert-file": "file",
    "tls-private-key-file": "file",
    "kubeconfig": "file",
    "v": "int",
}
CONTROL_PLANE_FLAG_KINDS: dict[str, dict] = {
    "kube-apiserver-arg": {
        **_SHARED_FLAG_KINDS,
        "anonymous-auth": "bool",
        "admission-control-config-file": "file",
        "enable-admission-plugins": "str",
        "disable-admission-plugins": "str",
        "authorization-mode": "str",
        "encryption-provider-config": "file",
        "kubelet-certificate-authority": "file",
        "request-timeout": "duration",
        "service-account-lookup": "bool",
        "service-account-extend-token-expiration": "bool",
        "service-account-key-file": "file",
        "event-ttl": "duration",
        **{name[2:]: kind for name, kind in {
            "--audit-policy-file": "policy",
            "--audit-log-path": "str",
            "--audit-log-maxage": "nonneg",
            "--audit-log-maxbackup": "nonneg",
            "--audit-log-maxsize": "nonneg",
            "--audit-log-format": ("json", "legacy"),
            "--audit-log-compress": "bool",
            "--audit-log-mode": ("batch", "blocking", "blocking-strict"),
            "--audit-webhook-config-file": "file",
        }.items()},
    },
    "kube-controller-manager-arg": {
        **_SHARED_FLAG_KINDS,
        "terminated-pod-gc-threshold": "int",
        "use-service-account-credentials": "bool",
        "root-ca-file": "file",
        "service-account-private-key-file": "file",
        "node-monitor-grace-period": "duration",
    },
    "kube-scheduler-arg": dict(_SHARED_FLAG_KINDS),
}
_COMPONENT_OF = {"kube-apiserver-arg": "kube-apiserver", "kube-controller-manager-arg": "kube-controller-manager", "kube-scheduler-arg": "kube-scheduler"}


def check_control_plane_flag(component: str, kinds: dict, name: str, value: str, root: str = "/") -> str | None:
    """Why a control-plane component (v1.33) refuses --name=value, or None (its message, as the process logs it)."""
    kind = kinds.get(name)
    bad = f'invalid argument "{value}" for "--{name}" flag'
    if kind is None:
        return f"{component} exited: unknown flag: --{name}"
    if kind in ("nonneg", "int"):
        if not re.fullmatch(r"[-+]?\d+", value):
            return f'{component} exited: {bad}: strconv.ParseInt: parsing "{value}": invalid syntax'
        if kind == "nonneg" and int(value) < 0:
            return f"{component} exited: --{name} {value} can't be a negative number"
        return None
    if kind == "policy":
        host = _under(root, value)
        if not os.path.isfile(host):
            return f'{component} exited: loading audit policy file: failed to read file path "{value}": open {value}: no such file or directory'
        with open(host, encoding="utf-8", errors="replace") as handle:
            problems = check_audit_policy(handle.read())
        return f"{component} exited: loading audit policy file {value}: {'; '.join(problems)}" if problems else None
    if isinstance(kind, tuple):
        return None if value in kind else f"{component} exited: {bad}: must be one of {', '.join(kind)}"
    if kind == "bool":
        return None if value in _PFLAG_BOOL_VALUES else f'{component} exited: {bad}: strconv.ParseBool: parsing "{value}": invalid syntax'
    if kind == "port" and (not re.fullmatch(r"\d+", value) or not 0 <= int(value) <= 65535):
        return f"{component} exited: {bad}: must be a port number between 0 and 65535"
    if kind == "duration":
        return None if is_go_duration(value) else f'{component} exited: {bad}: time: invalid duration "{value}"'
    if kind == "file" and not os.path.isfile(_under(root, value)):
        return f"{component} exited: --{name}: open {value}: no such file or directory"
    if kind == "ciphers":
        unknown = [c for c in value.split(",") if c and c not in ACCEPTED_CIPHER_NAMES]
        return f"{component} exited: {bad}: Cipher suite {unknown[0]} not supported or doesn't exist" if unknown else None
    if kind == "gates":
        for part in value.split(","):
            gate, eq, setting = part.partition("=")
            if not gate or not eq or setting not in _PFLAG_BOOL_VALUES:
                return f"{component} exited: {bad}: missing bool value for {gate or part}"
    return None


def check_rancher_control_plane(root: str = "/") -> list[str]:
    """Problems that stop the control plane a k3s / rke2 SERVER starts (and the process with it); [] if none, and []
    on an agent. Every kube-apiserver-arg / kube-controller-manager-arg / kube-scheduler-arg item is checked as the
    component's flag parser and startup would (unknown flag, bad int / bool / duration, a file flag naming a missing
    file, an audit policy that is not a loadable audit.k8s.io/v1 Policy). RKE2 also passes --audit-policy-file from
    its own `audit-policy-file` option (or /etc/rancher/rke2/audit-policy.yaml under `profile: cis`), writing a default
    policy there when the file is missing (pkg/executor/staticpod APIServer, podtemplate.WriteDefaultPolicyFile)."""
    distribution = rancher_distribution(root)
    if distribution is None:
        return []
    argv, _merged, problems = rancher_config(root, distribution)
    if problems:
        return problems
    if "server" not in argv:
        return []
    problems = []
    if distribution == "rke2":
        policy = rancher_option(root, distribution, "audit-policy-file")
        if not policy and rancher_option(root, distribution, "profile") in ("cis", "cis-1.23"):
            policy = "/etc/rancher/rke2/audit-policy.yaml"
        if policy and os.path.isfile(_under(root, policy)):
            problem = check_control_plane_flag("kube-apiserver", CONTROL_PLANE_FLAG_KINDS["kube-apiserver-arg"], "audit-policy-file", policy, root)
            if problem:
                problems.append(problem)
    for arg, kinds in CONTROL_PLANE_FLAG_KINDS.items():
        items, stop = rancher_component_args(root, distribution, arg)
        problems += stop
        for item in items:
            name, eq, value = item.lstrip("-").partition("=")
            problem = check_control_plane_flag(_COMPONENT_OF[arg], kinds, name, value if eq else "true", root)
            if problem:
                problems.append(problem)
    return problems


# ---------------------------------------------------------------- kube-apiserver manifest

_AUDIT_INT = {"--audit-log-maxage", "--audit-log-maxbackup", "--audit-log-maxsize"}
_AUDIT_FLAGS = {
    # k8s.io/apiserver/pkg/server/options/audit.go (v1.33): name -> value kind
    "--audit-policy-file": "file",
    "--audit-log-path": "str",
    "--audit-log-maxage": "int",
    "--audit-log-maxbackup": "int",
    "--audit-log-maxsize": "int",
    "--audit-log-format": ("legacy", "json"),
    "--audit-log-compress": "bool",
    "--audit-log-mode": ("batch", "blocking", "blocking-strict"),
    "--audit-log-version": ("audit.k8s.io/v1",),
    "--audit-webhook-config-file": "file",
    "--audit-webhook-initial-backoff": "duration",
    "--audit-webhook-batch-initial-backoff": "duration",
    "--audit-webhook-mode": ("batch", "blocking", "blocking-strict"),
    "--audit-webhook-version": ("audit.k8s.io/v1",),
}
for _backend in ("log", "webhook"):
    _AUDIT_FLAGS.update(
        {
            f"--audit-{_backend}-batch-buffer-size": "int",
            f"--audit-{_backend}-batch-max-size": "int",
            f"--audit-{_backend}-batch-max-wait": "duration",
            f"--audit-{_backend}-batch-throttle-enable": "bool",
            f"--audit-{_backend}-batch-throttle-qps": "float",
            f"--audit-{_backend}-batch-throttle-burst": "int",
            f"--audit-{_backend}-truncate-enabled": "bool",
            f"--audit-{_backend}-truncate-max-batch-size": "int",
            f"--audit-{_backend}-truncate-max-event-size": "int",
        }
    )
AUDIT_FLAGS = dict(_AUDIT_FLAGS)
_PFLAG_BOOLS = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
AUDIT_LEVELS = ("None", "Metadata", "Request", "RequestResponse")
AUDIT_STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")


def apiserver_flags(args: list[str]) -> list[tuple[str, str | None]]:
    """(name, value) pairs of the --audit-* flags in an argv (pflag rules: --name=value or --name value)."""
    flags = []
    index = 0
    while index < len(args):
        arg = str(args[index])
        index += 1
        if not arg.startswith("--audit-"):
            continue
        name, eq, value = arg.partition("=")
        if not eq:
            kind = AUDIT_FLAGS.get(name)
            if kind == "bool" or kind is None:
                value = "true" if kind == "bool" else None
            elif index < len(args):
                value = str(args[index])
                index += 1
            else:
                value = None
        flags.append((name, value))
    return flags


def _container_view(pod_spec: dict, container: dict, path: str, root: str) -> tuple[str | None, str | None]:
    """Host path of a path as the container sees it through hostPath volumeMounts: (host_path, problem)."""
    volumes = {v.get("name"): v for v in pod_spec.get("volumes") or [] if isinstance(v, dict)}
    best = None
    for mount in container.get("volumeMounts") or []:
        mount_path = str(mount.get("mountPath", "")).rstrip("/") or "/"
        if path == mount_path or path.startswith(mount_path.rstrip("/") + "/"):
            if best is None or len(mount_path) > len(best[0]):
                best = (mount_path, mount)
    if best is None:
        return None, "not mounted into the kube-apiserver container (no volumeMount covers it)"
    mount_path, mount = best
    volume = volumes.get(mount.get("name"))
    if volume is None or "hostPath" not in volume:
        return None, None  # not a hostPath volume: nothing the node's files can tell
    host = str((volume.get("hostPath") or {}).get("path", ""))
    if mount.get("subPath"):
        host = os.path.join(host, str(mount["subPath"]))
    rest = path[len(mount_path) :].lstrip("/")
    node_path = os.path.join(host, rest) if rest else host
    return _under(root, node_path), None


def check_audit_policy(text: str) -> list[str]:
    try:
        policy = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"YAML does not parse: {' '.join(str(exc).split())}"]
    if not isinstance(policy, dict) or policy.get("kind") != "Policy" or policy.get("apiVersion") != "audit.k8s.io/v1":
        return ["not an audit.k8s.io/v1 Policy"]
    rules = policy.get("rules")
    if not isinstance(rules, list) or not rules:
        return ["loaded illegal policy with 0 rules"]
    problems = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            problems.append(f"rules[{index}]: not an object")
            continue
        if rule.get("level") not in AUDIT_LEVELS:
            problems.append(f"rules[{index}].level: Unsupported value: {rule.get('level')!r}")
        for stage in rule.get("omitStages") or []:
            if stage not in AUDIT_STAGES:
                problems.append(f"rules[{index}].omitStages: Unsupported value: {stage!r}")
    for stage in policy.get("omitStages") or []:
        if stage not in AUDIT_STAGES:
            problems.append(f"omitStages: Unsupported value: {stage!r}")
    return problems


def _hostpath_problems(pod_spec: dict, root: str) -> list[str]:
    problems = []
    for volume in pod_spec.get("volumes") or []:
        if not isinstance(volume, dict) or not isinstance(volume.get("hostPath"), dict):
            continue
        path, kind = str(volume["hostPath"].get("path", "")), volume["hostPath"].get("type") or ""
        host = _under(root, path)
        test = {"Directory": os.path.isdir, "File": os.path.isfile, "Socket": os.path.exists, "CharDevice": os.path.exists, "BlockDevice": os.path.exists}.get(
            kind
        )
        if test and not test(host):
            problems.append(f'MountVolume.SetUp failed for volume "{volume.get("name")}": hostPath type check failed: {path} is not a {kind.lower()}')
        if kind == "FileOrCreate" and not os.path.isdir(os.path.dirname(host)):
            problems.append(f'MountVolume.SetUp failed for volume "{volume.get("name")}": cannot create {path}: parent directory does not exist')
    return problems


def check_apiserver_manifest(path: str = APISERVER_MANIFEST, root: str = "/") -> list[str]:
    """Problems that keep the kube-apiserver static pod from becoming live; [] if none."""
    try:
        pod = _load_yaml(path, root)
    except OSError as exc:
        return [f"static pod manifest {path}: {exc.strerror.lower()}"]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return [f"static pod manifest {path}: YAML does not parse: {' '.join(str(exc).split())}"]
    if not isinstance(pod, dict) or pod.get("kind") != "Pod" or pod.get("apiVersion") != "v1":
        return [f"static pod manifest {path}: not a v1 Pod"]
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    container = next((c for c in containers if c.get("name") == "kube-apiserver"), None)
    if container is None:
        return [f"static pod manifest {path}: no kube-apiserver container"]
    command = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    if not command or os.path.basename(command[0]) != "kube-apiserver":
        return [f"static pod manifest {path}: the kube-apiserver container does not run kube-apiserver"]
    problems = []
    volume_names = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)}
    for mount in container.get("volumeMounts") or []:
        if mount.get("name") not in volume_names:
            problems.append(f"spec.containers[kube-apiserver].volumeMounts: volume {mount.get('name')!r} not found")
    problems += _hostpath_problems(spec, root)
    for name, value in apiserver_flags(command[1:]):
        kind = AUDIT_FLAGS.get(name)
        if kind is None:
            problems.append(f"Error: unknown flag: {name}")
            continue
        if value is None:
            problems.append(f"Error: flag needs an argument: {name}")
            continue
        if isinstance(kind, tuple):
            if value not in kind:
                problems.append(f"{name}: invalid value {value!r}, want one of {', '.join(kind)}")
        elif kind == "int":
            if not re.fullmatch(r"[-+]?\d+", value):
                problems.append(f'invalid argument "{value}" for "{name}" flag: not an integer')
            elif name in _AUDIT_INT and int(value) < 0:
                problems.append(f"{name} {value} can't be a negative number")
        elif kind == "float":
            try:
                float(value)
            except ValueError:
                problems.append(f'invalid argument "{value}" for "{name}" flag: not a number')
        elif kind == "bool":
            if value not in _PFLAG_BOOLS:
                problems.append(f'invalid argument "{value}" for "{name}" flag: not a boolean')
        elif kind == "duration":
            if not is_go_duration(value):
                problems.append(f'invalid argument "{value}" for "{name}" flag: not a duration')
        elif kind == "file":
            host, why = _container_view(spec, container, value, root)
            if why:
                problems.append(f"{name}={value}: {why}")
            elif host is not None and not os.path.isfile(host):
                problems.append(f"{name}={value}: open {value}: no such file or directory")
            elif host is not None and name == "--audit-policy-file":
                with open(host, encoding="utf-8", errors="replace") as handle:
                    problems += [f"loading audit policy file {value}: {p}" for p in check_audit_policy(handle.read())]
            elif host is not None:
                try:
                    with open(host, encoding="utf-8") as handle:
                        yaml.safe_load(handle)
                except (yaml.YAMLError, UnicodeDecodeError) as exc:
                    problems.append(f"{name}={value}: does not parse: {' '.join(str(exc).split())}")
    return problems


# ---------------------------------------------------------------- the process


class KubeletDouble:
    """TEST DOUBLE of the kubelet's lifecycle: the configuration is checked at start and restart only."""

    def __init__(self, server: bool = False):
        self.server = server  # started with --apiserver: a k3s / rke2 node is then a server running the control plane
        self.lock = threading.Lock()
        self.generation = 0
        self.started_at = 0.0
        self.config_path = DEFAULT_KUBELET_CONFIG
        self.problems: list[str] = []

    def restart(self) -> dict:
        if rancher_distribution():  # k3s / rke2: the kubelet runs inside the process, from its config and flags
            config_path, problems = check_rancher_kubelet()
            if self.server:  # one process: a control-plane component that exits takes the kubelet down with it
                problems = problems + check_rancher_control_plane()
        else:
            config_path, problems = kubelet_config_path()
            if config_path:
                problems = problems + check_kubelet_config(config_path)
        with self.lock:
            self.generation += 1
            self.started_at = time.time()
            self.config_path = config_path
            self.problems = problems
            return self.status()

    def status(self) -> dict:
        return {
            "generation": self.generation,
            "started_at": self.started_at,
            "config": self.config_path,
            "healthy": not self.problems,
            "problems": list(self.problems),
        }


def _handler(kubelet: KubeletDouble | None, apiserver: bool, process: KubeletDouble | None = None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "kubesec-testbed-double"
        protocol_version = "HTTP/1.0"

        def do_GET(self):  # http.server API name
            route = self.path.split("?", 1)[0]
            if kubelet is not None and route == "/healthz":
                problems = kubelet.status()["problems"]
                what = "kubelet"
            elif apiserver and route in ("/livez", "/readyz", "/healthz"):
                # k3s / RKE2: the API server runs from the process's settings read at its last (re)start
                problems = process.status()["problems"] if process is not None and rancher_distribution() else check_apiserver_manifest()
                what = "kube-apiserver"
            else:
                self._reply(404, "404 page not found\n")
                return
            if problems:
                self._reply(500, f"{what} (test double) unhealthy:\n" + "".join(f"- {p}\n" for p in problems))
            else:
                self._reply(200, "ok")

        def _reply(self, code: int, body: str):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.address_string()} {fmt % args}\n")

    return Handler


def _control_loop(sock: socket.socket, kubelet: KubeletDouble):
    while True:
        conn, _ = sock.accept()
        with conn:
            conn.settimeout(5)
            try:
                command = conn.recv(256).decode(errors="replace").strip()
                if command == "restart-kubelet":
                    reply = kubelet.restart()
                elif command == "status":
                    reply = kubelet.status()
                else:
                    reply = {"error": f"unknown command {command!r}"}
                conn.sendall((json.dumps(reply) + "\n").encode())
            except OSError:
                pass


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _bind_mount(libc, source: str, target: str):
    ms_bind, ms_rec = 4096, 16384
    if libc.mount(source.encode(), target.encode(), None, ms_bind | ms_rec, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bind mount {source} -> {target}: {os.strerror(err)}")


def _loopback_up():
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, siocgifflags, ifreq))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def _root_is_private() -> bool:
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if fields[4] == "/":
                optional = fields[6 : fields.index("-")]
                return not any(o.startswith("shared:") for o in optional)
    return False


def serve(args) -> int:
    # Safety: never bind-mount over host paths in the host's mount namespace.
    own_ns = os.stat("/proc/self/ns/mnt").st_ino
    if own_ns == args.host_mntns or not _root_is_private():
        print(f"ERROR refusing to mount: not in a private mount namespace (ns {own_ns})", flush=True)
        return 2
    libc = _libc()
    for spec in args.mount:
        source, _, target = spec.partition(":")
        _bind_mount(libc, source, target)
    _loopback_up()

    kubelet = KubeletDouble(server=args.apiserver) if args.kubelet else None
    servers = []
    if kubelet is not None:
        servers.append(ThreadingHTTPServer(("127.0.0.1", args.kubelet_port), _handler(kubelet, False)))
    if args.apiserver:
        servers.append(ThreadingHTTPServer(("127.0.0.1", args.apiserver_port), _handler(None, True, kubelet)))
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control.bind(CONTROL_SOCKET)
    control.listen(8)
    if kubelet is not None:
        kubelet.restart()
        threading.Thread(target=_control_loop, args=(control, kubelet), daemon=True).start()
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()

    with open(args.pidfile, "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    print(f"READY {os.getpid()}", flush=True)
    log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)

    # Nothing to clean up: the namespace's mounts go away with its last process.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    signal.signal(signal.SIGHUP, lambda *_: kubelet and kubelet.restart())
    while True:
        signal.pause()


def control_request(command: str, timeout: float = 10.0) -> dict:
    """Talk to the double of the current network namespace (used by the node's kubelet-restart command)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(CONTROL_SOCKET)
        sock.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data or b"{}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TEST DOUBLE: kubelet / kube-apiserver health stand-in")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="hold the node's namespaces and serve the health endpoints")
    run.add_argument("--mount", action="append", default=[], help="SOURCE:TARGET bind mount (repeatable)")
    run.add_argument("--pidfile", required=True)
    run.add_argument("--log", required=True)
    run.add_argument("--host-mntns", type=int, required=True, help="inode of the host mount namespace")
    run.add_argument("--kubelet", action="store_true")
    run.add_argument("--apiserver", action="store_true")
    run.add_argument("--kubelet-port", type=int, default=KUBELET_HEALTHZ_PORT)
    run.add_argument("--apiserver-port", type=int, default=APISERVER_PORT)
    for name in ("restart-kubelet", "status"):
        sub.add_parser(name, help=f"ask this node's double: {name}")
    args = parser.parse_args(argv)
    if args.command == "serve":
        try:
            return serve(args)
        except OSError as exc:
            print(f"ERROR {exc}", flush=True)
            return 1
    try:
        reply = control_request(args.command)
    except (OSError, ValueError) as exc:
        reason = "not running" if getattr(exc, "errno", None) == errno.ECONNREFUSED else str(exc)
        print(f"kubelet.service (test bed double): {reason}", file=sys.stderr)
        return 1
    if args.command == "status":
        print(json.dumps(reply, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
