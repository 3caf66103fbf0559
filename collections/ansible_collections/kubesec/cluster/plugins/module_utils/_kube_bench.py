# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kube-bench: read its JSON (`--json`, with or without `--nototals`), run it on a node, or build its Job.

Ids are the same as the native audit's (CIS-<test_number>) so a report can show both side by side.

Running (``run``): ``kube-bench run --json --benchmark X [--targets Y] [--config-dir D] [extra args]`` through a
``runner(argv) -> (rc, stdout, stderr)`` callable (the module's ``run_command``), with the benchmark taken from the
options, from a Kubernetes version, or from ``kubelet --version`` on the node, mapped with kube-bench's own
``version_mapping`` table (``VERSION_MAPPING``, kept as data in ``_cis_versions``).

In-cluster (``build_job``): the Job of kube-bench's ``job-node.yaml`` / ``job-master.yaml`` (``hostPID``, the
read-only hostPath mounts, control-plane affinity and tolerations), with a pinned image, writing
``--json --outputfile`` onto an emptyDir and printing that file between two marker lines, so the result is read
from the pod log (``extract_job_result``) without kube-bench's log lines mixed in.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils import _cis_versions
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.module_utils._redact import redact_text
from ansible_collections.kubesec.cluster.plugins.module_utils._trivy import BAD_TEXT, TOO_DEEP, has_bad_text
from ansible_collections.kubesec.cluster.plugins.module_utils._trivy import _printable as printable

Runner = Callable[[List[str]], Tuple[int, str, str]]  # AnsibleModule.run_command-like

_STATUS = {"PASS": "pass", "FAIL": "fail", "WARN": "warn", "INFO": "info"}


class KubeBenchError(KubesecError, ValueError):
    """The input is not kube-bench JSON (names the input and where)."""


def loads(text: str, name: str = "kube-bench output") -> Any:
    """JSON text -> document; a pod log of the kubesec Job (marker lines) is unwrapped first."""
    if JOB_MARKER_BEGIN in text:
        return extract_job_result(text, name)["document"]
    try:
        return json.loads(text)
    except RecursionError:
        raise KubeBenchError("%s: %s" % (name, TOO_DEEP)) from None
    except ValueError as exc:
        raise KubeBenchError("%s is not valid JSON: %s" % (name, exc)) from exc


def controls_of(document: Any, name: str = "kube-bench output") -> List[Any]:
    """Both shapes: {"Controls": [...], "Totals": {...}} and the bare array of --nototals.

    Only the document's shape is checked here; a Controls entry that is not a mapping is skipped (and named) by
    to_findings, so one bad record does not lose the others.
    """
    if isinstance(document, dict):
        if "Controls" not in document:
            raise KubeBenchError("%s: an object without 'Controls' is not kube-bench JSON (keys: %s)" % (name, ", ".join(sorted(str(k) for k in document)[:8])))
        controls = document["Controls"]
    elif isinstance(document, list):
        controls = document
    else:
        raise KubeBenchError("%s: expected an object or an array, found %s" % (name, type(document).__name__))
    if not isinstance(controls, list):
        raise KubeBenchError("%s: 'Controls' must be an array" % name)
    return controls


# kube-bench's counters: Totals / each Controls entry (total_*) and each group (pass, fail, ...).
TOTAL_KEYS = {"pass": "total_pass", "fail": "total_fail", "warn": "total_warn", "info": "total_info"}


def benchmark_of(version: Any) -> Tuple[Optional[str], Optional[str]]:
    """(benchmark, note) for a Controls ``version``: ``cis-1.12``, ``eks-1.7.0``... as they are; a bare ``1.15``
    (kube-bench before v0.3 named its configs by Kubernetes version) mapped with VERSION_MAPPING."""
    text = str(version or "").strip()
    if not text:
        return None, None
    if not re.match(r"^v?\d+\.\d+(\.\d+)?$", text):
        return text, None
    try:
        benchmark, note = benchmark_for_version(text)
    except KubeBenchError:
        return None, ("version %r in the input is a Kubernetes version older than kube-bench's version mapping; its benchmark is unknown" % text)
    return benchmark, (
        "version %r in the input is a Kubernetes version (old kube-bench output): mapped to %s with "
        "kube-bench's version_mapping%s" % (text, benchmark, "; " + note if note else "")
    )


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_totals(stated: Any, counted: Dict[str, int], where: str) -> List[str]:
    """Messages for every kube-bench counter that disagrees with the results listed."""
    out: List[str] = []
    if not isinstance(stated, dict):
        return out
    for status, key in TOTAL_KEYS.items():
        value = _int(stated.get(key, stated.get(status)))
        if (key in stated or status in stated) and value != counted[status]:
            out.append(
                "%s: %s says %r but %d %s result(s) are listed"
                % (where, key if key in stated else status, stated.get(key, stated.get(status)), counted[status], status.upper())
            )
    return out


def _evidence_text(value: Any) -> Optional[str]:
    """Evidence is text: a value of another type (a mapping from hostile input) is shown as JSON, bounded."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True)[:2000]
    except (TypeError, ValueError, RecursionError):
        return "<unreadable %s>" % type(value).__name__


def to_findings(
    document: Any, name: str = "kube-bench output", cluster: Optional[str] = None, node: Optional[str] = None, catalogue: Optional[Dict[str, Any]] = None
) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Returns (findings, info): info has benchmarks, totals, skipped entries, totals_mismatch and warnings."""
    severities: Dict[str, str] = {}
    if catalogue:
        severities = dict((str(c["id"]), c.get("severity", "medium")) for c in catalogue.get("checks", []))
    findings: List[Dict[str, Any]] = []
    skipped: List[str] = []
    versions: Set[str] = set()
    warnings: List[str] = []
    mismatches = []
    counted = dict((status, 0) for status in TOTAL_KEYS)
    controls = controls_of(document, name)
    for c_index, control in enumerate(controls):
        c_where = "%s: Controls[%d]" % (name, c_index)
        if not isinstance(control, dict):
            skipped.append("%s is not a kube-bench Controls object" % c_where)
            continue
        groups = control.get("tests") or []
        if not isinstance(groups, list):
            skipped.append("%s: 'tests' is not an array" % c_where)
            continue
        benchmark, note = benchmark_of(control.get("version"))
        if benchmark:
            versions.add(benchmark)
        if note and note not in warnings:
            warnings.append(note)
        control_counted = dict((status, 0) for status in TOTAL_KEYS)
        for g_index, group in enumerate(groups):
            if not isinstance(group, dict):
                skipped.append("%s tests[%d]: not a kube-bench group (found %s)" % (c_where, g_index, type(group).__name__))
                continue
            section = _evidence_text(group.get("section")) or str(g_index)
            results = group.get("results") or []
            if not isinstance(results, list):
                skipped.append("%s section %s: 'results' is not an array" % (c_where, section))
                continue
            group_counted = dict((status, 0) for status in TOTAL_KEYS)
            for r_index, check in enumerate(results):
                where = "%s section %s result %d" % (c_where, section, r_index)
                if not isinstance(check, dict):
                    skipped.append("%s: not a kube-bench result (found %s)" % (where, type(check).__name__))
                    continue
                if not check.get("test_number") or isinstance(check["test_number"], (dict, list)):
                    skipped.append(where + ": no test_number")
                    continue
                status = _STATUS.get(str(check.get("status", "")).upper())
                if status is None:
                    skipped.append("%s: unknown status %r" % (where, check.get("status")))
                    continue
                group_counted[status] += 1
                finding = _finding(check, status, group, benchmark, severities, cluster, node, where, skipped)
                if finding is not None:
                    findings.append(finding)
            mismatches += _check_totals(group, group_counted, "%s section %s" % (c_where, section))
            for status in TOTAL_KEYS:
                control_counted[status] += group_counted[status]
        mismatches += _check_totals(control, control_counted, c_where)
        for status in TOTAL_KEYS:
            counted[status] += control_counted[status]
    totals = document.get("Totals") if isinstance(document, dict) else None
    if totals is not None:
        mismatches += _check_totals(totals, counted, "%s: Totals" % name)
    if not findings and skipped:
        raise KubeBenchError("%s: no kube-bench result could be read (%d entries skipped; first: %s)" % (name, len(skipped), skipped[0]))
    if not findings and not controls:
        warnings.append("%s lists no controls: kube-bench ran no checks" % name)
    skipped = [printable(line) for line in skipped]
    return findings, {
        "benchmarks": sorted(versions),
        "totals": totals,
        "skipped": skipped,
        "counted": counted,
        "totals_mismatch": mismatches,
        "warnings": warnings,
    }


def _finding(
    check: Dict[str, Any],
    status: str,
    group: Dict[str, Any],
    benchmark: Optional[str],
    severities: Dict[str, str],
    cluster: Optional[str],
    node: Optional[str],
    where: str,
    skipped: List[str],
) -> Optional[Dict[str, Any]]:
    """One finding, or None (named in skipped) when its text is not valid Unicode or a field has a wrong type."""
    number = str(check["test_number"])
    # actual_value and reason quote the process's command line (e.g. --token=...): redacted
    evidence: Dict[str, Any] = {
        "expected": _evidence_text(check.get("expected_result")) or "",
        "actual": redact_text(_evidence_text(check.get("actual_value")) or ""),
    }
    for key in ("audit", "AuditConfig", "reason", "type"):
        if check.get(key):
            evidence[key] = redact_text(_evidence_text(check[key]))
    extra: Dict[str, Any] = {"scored": bool(check.get("scored", False)), "section": _evidence_text(group.get("section")) or ""}
    if benchmark:
        extra["benchmark"] = benchmark
    try:
        finding = make_finding(
            "CIS-" + number,
            "kube-bench",
            _evidence_text(check.get("test_desc")) or number,
            status,
            severity=severities.get(number, "medium"),
            cluster=cluster,
            node=node,
            resource={"kind": "Node", "name": node},
            remediation=_evidence_text(check.get("remediation")) or "",
            references=["https://github.com/aquasecurity/kube-bench"],
            evidence=evidence,
            extra=extra,
        )
    except ValueError as exc:  # FindingError, or UnicodeEncodeError of a lone surrogate in the id
        skipped.append("%s: %s" % (where, exc))
        return None
    if has_bad_text(finding):
        skipped.append("%s: %s" % (where, BAD_TEXT))
        return None
    return finding


def apply_severities(findings: List[Dict[str, Any]], catalogue: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Set severities from a CIS catalogue (the action plugin does this after a run that detected the benchmark)."""
    severities = dict((str(c["id"]), c.get("severity", "medium")) for c in (catalogue or {}).get("checks", []))
    for finding in findings:
        number = finding["id"][4:] if finding["id"].startswith("CIS-") else finding["id"]
        if number in severities:
            finding["severity"] = severities[number]
    return findings


# ------------------------------------------------------------------------------------------------ running it
# kube-bench's version_mapping (Kubernetes minor -> benchmark), kept as data in _cis_versions.
VERSION_MAPPING = _cis_versions.VERSION_MAPPING
TARGETS = ("master", "node", "controlplane", "etcd", "policies", "managedservices")
CONTROL_PLANE_TARGETS = ["master", "controlplane", "etcd", "policies", "node"]
WORKER_TARGETS = ["node"]
# Flags the module sets itself, or that would stop it from reading the JSON on stdout.
_RESERVED = ("--json", "--junit", "--asff", "--pgsql", "--outputfile", "--benchmark", "--version", "--targets", "--config-dir", "-D", "--nototals")
_BENCHMARK = re.compile(r"^[a-z0-9][a-z0-9.\-]{0,62}$")
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")
INSTALL_HINT = (
    "Install kube-bench on the node from its release packages (https://github.com/aquasecurity/kube-bench/"
    "releases: the .deb or .rpm, or the tarball together with its cfg/ directory, then give config_dir) "
    "and point binary at it, or run it in the cluster as a Job instead (module mode=job builds the "
    "manifest; collect role: kube_bench.mode job)."
)


def _minor(version: Any) -> Optional[Tuple[int, int]]:
    match = _VERSION.search(str(version or ""))
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def kubelet_version(text: Optional[str]) -> Optional[str]:
    """'Kubernetes v1.33.4' (kubelet --version) -> 'v1.33.4', or None."""
    match = re.search(r"v?\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.+-]*)?", text or "")
    return match.group(0) if match else None


def benchmark_for_version(version: Any) -> Tuple[str, Optional[str]]:
    """Kubernetes version (v1.33.4, 1.31, v1.30.2-eks-1234) -> (benchmark, note or None) with VERSION_MAPPING.

    Newer than the newest mapped minor: the newest benchmark, with a note. Older than the oldest, or not a
    version: KubeBenchError.
    """
    minor = _minor(version)
    if minor is None:
        raise KubeBenchError("cannot read a Kubernetes version from %r (expected e.g. v1.33.4)" % (version,))
    key = "%d.%d" % minor
    if key in VERSION_MAPPING:
        return VERSION_MAPPING[key], None
    known = sorted((tuple(int(part) for part in k.split(".")), v) for k, v in VERSION_MAPPING.items())
    if minor > known[-1][0]:
        newest = known[-1][1]
        return newest, (
            "Kubernetes %s is newer than kube-bench's version mapping (up to %d.%d): using %s, the newest "
            "benchmark; set benchmark to choose another" % (version, known[-1][0][0], known[-1][0][1], newest)
        )
    raise KubeBenchError("Kubernetes %s is older than kube-bench's version mapping (from %d.%d): set benchmark" % (version, known[0][0][0], known[0][0][1]))


def check_benchmark(benchmark: Optional[str]) -> str:
    if benchmark is None or not _BENCHMARK.match(benchmark):
        raise KubeBenchError("benchmark %r is not a kube-bench benchmark name (e.g. cis-1.12, eks-1.7.0)" % (benchmark,))
    return benchmark


def check_targets(targets: Optional[Sequence[str]]) -> List[str]:
    bad = [t for t in targets or [] if t not in TARGETS]
    if bad:
        raise KubeBenchError("unknown kube-bench target(s) %s; valid: %s" % (", ".join(map(repr, bad)), ", ".join(TARGETS)))
    return list(targets or [])


def check_extra_args(extra_args: Optional[Sequence[Any]]) -> List[str]:
    for arg in extra_args or []:
        flag = str(arg).split("=", 1)[0]
        if flag in _RESERVED:
            raise KubeBenchError(
                "extra_args must not contain %s: the module sets the output format, benchmark, targets and config dir itself (use the options)" % flag
            )
    return [str(arg) for arg in extra_args or []]


def build_run_command(
    binary: str,
    benchmark: Optional[str],
    targets: Optional[Sequence[str]] = None,
    config_dir: Optional[str] = None,
    extra_args: Optional[Sequence[Any]] = None,
    output_file: Optional[str] = None,
) -> List[str]:
    """argv of one kube-bench run (JSON on stdout, or into output_file)."""
    argv = [binary, "run", "--json"]
    if output_file:
        argv += ["--outputfile", output_file]
    if benchmark:
        argv += ["--benchmark", check_benchmark(benchmark)]
    targets = check_targets(targets)
    if targets:
        argv += ["--targets", ",".join(targets)]
    if config_dir:
        argv += ["--config-dir", config_dir]
    argv += check_extra_args(extra_args)
    return argv


def _tail(text: Optional[str], lines: int = 20, chars: int = 3000) -> str:
    text = (text or "").strip()
    return "\n".join(text.splitlines()[-lines:])[-chars:]


def parse_run_output(stdout: Optional[str], name: str = "kube-bench stdout") -> Any:
    """stdout of kube-bench --json -> document. Tolerates log lines before the JSON (some builds print them)."""
    text = (stdout or "").strip()
    if not text:
        raise KubeBenchError("%s is empty" % name)
    try:
        return json.loads(text)
    except RecursionError:
        raise KubeBenchError("%s: %s" % (name, TOO_DEEP)) from None
    except ValueError:
        pass
    lines = text.splitlines()
    for index, line in enumerate(lines[:200]):  # log lines before the JSON: a bounded number of tries
        if line.lstrip().startswith(("{", "[")):
            candidate = "\n".join(lines[index:])
            try:
                return json.loads(candidate)
            except RecursionError:
                raise KubeBenchError("%s: %s" % (name, TOO_DEEP)) from None
            except ValueError:
                continue
    raise KubeBenchError("%s holds no kube-bench JSON (first line: %r)" % (name, text.splitlines()[0][:200]))


def resolve_benchmark(runner: Runner, benchmark: Optional[str] = None, version: Optional[str] = None, kubelet_binary: str = "kubelet") -> Dict[str, Any]:
    """-> {benchmark, benchmark_from, kubernetes_version, note}. kubelet --version runs only when needed."""
    if benchmark and version:
        raise KubeBenchError("give benchmark or version, not both (kube-bench treats them as exclusive)")
    if benchmark:
        return {"benchmark": check_benchmark(benchmark), "benchmark_from": "benchmark", "kubernetes_version": None, "note": None}
    if version:
        found, note = benchmark_for_version(version)
        return {"benchmark": found, "benchmark_from": "version", "kubernetes_version": str(version), "note": note}
    try:
        rc, out, err = runner([kubelet_binary, "--version"])
    except (OSError, IOError) as exc:
        raise KubeBenchError("cannot run %s --version to detect the benchmark (%s): set benchmark or version" % (kubelet_binary, exc)) from exc
    detected = kubelet_version(out) if rc == 0 else None
    if not detected:
        raise KubeBenchError(
            "cannot detect the Kubernetes version: %s --version gave rc=%s %r; set benchmark or version" % (kubelet_binary, rc, _tail(out or err, 3, 300))
        )
    found, note = benchmark_for_version(detected)
    return {"benchmark": found, "benchmark_from": "kubelet", "kubernetes_version": detected, "note": note}


def run(
    runner: Runner,
    binary: str,
    benchmark: Optional[str] = None,
    version: Optional[str] = None,
    targets: Optional[Sequence[str]] = None,
    config_dir: Optional[str] = None,
    extra_args: Optional[Sequence[Any]] = None,
    kubelet_binary: str = "kubelet",
    cluster: Optional[str] = None,
    node: Optional[str] = None,
    catalogue: Optional[Dict[str, Any]] = None,
) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Run kube-bench once on this host -> (findings, info). info adds cmd, exit_code, benchmark, stderr_tail."""
    chosen = resolve_benchmark(runner, benchmark, version, kubelet_binary)
    argv = build_run_command(binary, chosen["benchmark"], targets, config_dir, extra_args)
    rc, out, err = runner(argv)
    try:
        document = parse_run_output(out)
    except KubeBenchError as exc:
        raise KubeBenchError(
            "%s exited with %s and no JSON result: %s. stderr: %s" % (" ".join(shlex.quote(a) for a in argv), rc, exc, _tail(err) or "-")
        ) from exc
    findings, info = to_findings(document, "kube-bench output", cluster=cluster, node=node, catalogue=catalogue)
    info.update(chosen)
    info.update({"cmd": argv, "exit_code": rc, "stderr_tail": _tail(err)})
    return findings, info


# --------------------------------------------------------------------------------------------------- the Job
JOB_IMAGE = "docker.io/aquasec/kube-bench:v0.15.6"
JOB_MARKER_BEGIN = "===== kubesec kube-bench json begin ====="
JOB_MARKER_END = "===== kubesec kube-bench json end ====="
JOB_OUTPUT_DIR = "/kube-bench-out"
# Read-only hostPath mounts of kube-bench's job-node.yaml / job-master.yaml (formats.md 1.4): (name, host, container).
HOST_MOUNTS = (
    ("var-lib-cni", "/var/lib/cni", "/var/lib/cni"),
    ("var-lib-etcd", "/var/lib/etcd", "/var/lib/etcd"),
    ("var-lib-kubelet", "/var/lib/kubelet", "/var/lib/kubelet"),
    ("var-lib-kube-scheduler", "/var/lib/kube-scheduler", "/var/lib/kube-scheduler"),
    ("var-lib-kube-controller-manager", "/var/lib/kube-controller-manager", "/var/lib/kube-controller-manager"),
    ("etc-systemd", "/etc/systemd", "/etc/systemd"),
    ("lib-systemd", "/lib/systemd", "/lib/systemd"),
    ("srv-kubernetes", "/srv/kubernetes", "/srv/kubernetes"),
    ("etc-kubernetes", "/etc/kubernetes", "/etc/kubernetes"),
    ("usr-bin", "/usr/bin", "/usr/local/mount-from-host/bin"),
    ("etc-cni-netd", "/etc/cni/net.d", "/etc/cni/net.d"),
    ("opt-cni-bin", "/opt/cni/bin", "/opt/cni/bin"),
)
CONTROL_PLANE_MOUNTS = (
    ("etc-passwd", "/etc/passwd", "/etc/passwd"),
    ("etc-group", "/etc/group", "/etc/group"),
)
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
_DNS_LABEL = re.compile(r"[^a-z0-9-]+")


def job_name_for(node: Optional[str], prefix: str = "kube-bench") -> str:
    """A valid Job name (DNS label, at most 63 characters) for a node."""
    base = _DNS_LABEL.sub("-", ("%s-%s" % (prefix, node or "cluster")).lower()).strip("-")
    if len(base) > 63:
        digest = hashlib.sha256(base.encode("utf-8")).hexdigest()[:8]
        base = base[:54].rstrip("-") + "-" + digest
    return base


def build_job(
    node: Optional[str] = None,
    control_plane: bool = False,
    benchmark: Optional[str] = None,
    targets: Optional[Sequence[str]] = None,
    config_dir: Optional[str] = None,
    extra_args: Optional[Sequence[Any]] = None,
    name: Optional[str] = None,
    namespace: str = "kube-system",
    image: str = JOB_IMAGE,
    service_account: Optional[str] = None,
    active_deadline_seconds: int = 600,
    ttl_seconds_after_finished: Optional[int] = 3600,
    labels: Optional[Dict[str, str]] = None,
) -> Dict[str, Any]:
    """The batch/v1 Job that runs kube-bench on one node (or, without node, on any matching node)."""
    if not image or (":" not in image.rsplit("/", 1)[-1] and "@" not in image):
        raise KubeBenchError("job image %r must be pinned to a tag or digest (e.g. %s)" % (image, JOB_IMAGE))
    if image.endswith(":latest"):
        raise KubeBenchError("job image %r: pin a version instead of latest (e.g. %s)" % (image, JOB_IMAGE))
    if targets is None:
        targets = CONTROL_PLANE_TARGETS if control_plane else WORKER_TARGETS
    output_file = JOB_OUTPUT_DIR + "/result.json"
    argv = build_run_command("kube-bench", benchmark, targets, config_dir, extra_args, output_file=output_file)
    script = "\n".join(
        [
            "%s >%s/stdout.txt 2>%s/stderr.txt" % (" ".join(shlex.quote(a) for a in argv), JOB_OUTPUT_DIR, JOB_OUTPUT_DIR),
            "rc=$?",
            "echo '%s'" % JOB_MARKER_BEGIN,
            "cat %s 2>/dev/null" % output_file,
            "echo",
            'echo "%s rc=$rc"' % JOB_MARKER_END,
            "tail -n 20 %s/stderr.txt" % JOB_OUTPUT_DIR,
            "exit 0",
        ]
    )
    name = name or job_name_for(node)
    all_labels = {"app.kubernetes.io/name": "kube-bench", "app.kubernetes.io/managed-by": "kubesec"}
    all_labels.update(labels or {})
    mounts = HOST_MOUNTS + (CONTROL_PLANE_MOUNTS if control_plane else ())
    volumes: List[Dict[str, Any]] = []
    volume_mounts: List[Dict[str, Any]] = []
    for vol_name, host_path, mount_path in mounts:
        host: Dict[str, str] = {"path": host_path}
        if host_path in ("/etc/passwd", "/etc/group"):
            host["type"] = "File"
        volumes.append({"name": vol_name, "hostPath": host})
        volume_mounts.append({"name": vol_name, "mountPath": mount_path, "readOnly": True})
    volumes.append({"name": "kube-bench-out", "emptyDir": {}})
    volume_mounts.append({"name": "kube-bench-out", "mountPath": JOB_OUTPUT_DIR})
    pod_spec: Dict[str, Any] = {
        "hostPID": True,
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "kube-bench",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/sh", "-c", script],
                "volumeMounts": volume_mounts,
            }
        ],
        "volumes": volumes,
    }
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    if node:
        pod_spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    if control_plane:
        pod_spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": label, "operator": "Exists"}]} for label in CONTROL_PLANE_LABELS]
                }
            }
        }
        pod_spec["tolerations"] = [{"key": label, "operator": "Exists", "effect": "NoSchedule"} for label in CONTROL_PLANE_LABELS]
    job: Dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(all_labels)},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": int(active_deadline_seconds),
            "template": {"metadata": {"labels": dict(all_labels)}, "spec": pod_spec},
        },
    }
    if ttl_seconds_after_finished is not None:
        job["spec"]["ttlSecondsAfterFinished"] = int(ttl_seconds_after_finished)
    return job


def extract_job_result(log: Optional[str], name: str = "pod log") -> Dict[str, Any]:
    """The pod log of build_job's Job -> {document, exit_code, stderr_tail}; KubeBenchError when it has none."""
    text = log or ""
    start = text.find(JOB_MARKER_BEGIN)
    if start < 0:
        raise KubeBenchError(
            "%s holds no kube-bench result (no line %r): did the pod run the kubesec Job? First lines: %r" % (name, JOB_MARKER_BEGIN, _tail(text[:600], 5, 400))
        )
    body_start = start + len(JOB_MARKER_BEGIN)
    end = text.find(JOB_MARKER_END, body_start)
    if end < 0:
        raise KubeBenchError("%s: the kube-bench result is cut off (no end marker); the log may be truncated" % name)
    body = text[body_start:end].strip()
    rest = text[end + len(JOB_MARKER_END):]
    match = re.match(r"\s*rc=(-?\d+)", rest)
    exit_code = int(match.group(1)) if match else None
    stderr_tail = _tail(rest[match.end():] if match else rest)
    if not body:
        raise KubeBenchError("%s: kube-bench wrote no JSON (exit code %s). Its stderr: %s" % (name, exit_code, stderr_tail or "-"))
    try:
        document = json.loads(body)
    except RecursionError:
        raise KubeBenchError("%s: the kube-bench result is %s" % (name, TOO_DEEP)) from None
    except ValueError as exc:
        raise KubeBenchError("%s: the kube-bench result between the markers is not valid JSON: %s" % (name, exc)) from exc
    return {"document": document, "exit_code": exit_code, "stderr_tail": stderr_tail}
