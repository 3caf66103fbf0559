"""kube-bench run part: version mapping, the command, a FAKE kube-bench executable (a test double that checks its
arguments and prints a real-format fixture) run through real Ansible on localhost and over SSH on the test bed, and
the in-cluster Job builder validated with kubernetes-validate."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _kube_bench as kb
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue
from tests.conftest import ROOT, assert_valid_findings, run_playbook
from tests.testbed.fixtures import testbed_fixture  # noqa: F401  (pytest fixture `testbed`)

FIXTURES = ROOT / "tests" / "fixtures" / "kube-bench"
WORKER_ARGS = "run --json --benchmark cis-1.12 --targets node"
CP_ARGS = "run --json --benchmark cis-1.12 --targets master,controlplane,etcd,policies,node"

FAKE_KUBE_BENCH = r"""#!/bin/sh
# A FAKE kube-bench for tests (a test double, not kube-bench): checks its arguments against the lines of
# ./expected, then prints ./result.json (a real-format fixture) on stdout, or writes it to --outputfile.
here=$(dirname "$0")
out=""
args=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--outputfile" ]; then out="$2"; shift 2; continue; fi
  args="$args $1"
  shift
done
args="${args# }"
echo "$args" >> "$here/calls"
readlink /proc/self/ns/net >> "$here/netns"   # which node (network namespace) ran it
if ! grep -qxF -- "$args" "$here/expected"; then
  echo "fake kube-bench: unexpected arguments: $args" >&2
  exit 2
fi
echo "I0314 10:00:00.000000    4242 util.go:293] Kubernetes REST API Reported version: v1.33.4 (fake)" >&2
if [ -n "$out" ]; then cat "$here/result.json" > "$out"; else cat "$here/result.json"; fi
exit "${FAKE_EXIT:-0}"
"""

FAKE_KUBELET = """#!/bin/sh
# A FAKE kubelet (test double): only answers --version.
[ "$1" = "--version" ] || exit 1
echo "Kubernetes v1.33.4"
"""


def make_fake(directory: Path, fixture="node-cis-1.12.json", expected=(WORKER_ARGS, CP_ARGS)) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kube-bench").write_text(FAKE_KUBE_BENCH)
    (directory / "kubelet").write_text(FAKE_KUBELET)
    for name in ("kube-bench", "kubelet"):
        (directory / name).chmod(0o755)
    shutil.copy(FIXTURES / fixture, directory / "result.json")
    (directory / "expected").write_text("\n".join(expected) + "\n")
    return directory


def shell_runner(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr


# --------------------------------------------------------------------------------------------- version mapping
@pytest.mark.parametrize(
    ("version", "benchmark"),
    [
        ("1.15", "cis-1.5"),
        ("v1.18.20", "cis-1.6"),
        ("1.21", "cis-1.20"),
        ("1.23.4", "cis-1.23"),
        ("1.24", "cis-1.24"),
        ("1.25", "cis-1.7"),
        ("1.26", "cis-1.8"),
        ("v1.27.16", "cis-1.9"),
        ("1.28", "cis-1.10"),
        ("1.29", "cis-1.11"),
        ("v1.30.2-eks-1234", "cis-1.11"),
        ("1.31", "cis-1.11"),
        ("1.32", "cis-1.12"),
        ("v1.33.4", "cis-1.12"),
        ("1.34.0+k3s1", "cis-1.12"),
    ],
)
def test_version_mapping_table(version, benchmark):
    assert kb.benchmark_for_version(version) == (benchmark, None)


def test_versions_beyond_the_table():
    benchmark, note = kb.benchmark_for_version("v1.36.1")
    assert benchmark == "cis-1.12" and "newer than" in note
    with pytest.raises(kb.KubeBenchError, match="older than"):
        kb.benchmark_for_version("1.14")
    with pytest.raises(kb.KubeBenchError, match="cannot read a Kubernetes version"):
        kb.benchmark_for_version("latest")


def test_table_matches_the_shared_reference():
    """formats.md 1.2: 1.27 cis-1.9, 1.28 cis-1.10, 1.29-1.31 cis-1.11, 1.32-1.34 cis-1.12; cis-1.12 is the newest."""
    assert {k: v for k, v in kb.VERSION_MAPPING.items() if k >= "1.27"} == {
        "1.27": "cis-1.9",
        "1.28": "cis-1.10",
        "1.29": "cis-1.11",
        "1.30": "cis-1.11",
        "1.31": "cis-1.11",
        "1.32": "cis-1.12",
        "1.33": "cis-1.12",
        "1.34": "cis-1.12",
    }


@pytest.mark.parametrize(
    ("text", "version"), [("Kubernetes v1.33.4\n", "v1.33.4"), ("Kubernetes v1.30.2-eks-49a6c0", "v1.30.2-eks-49a6c0"), ("", None), ("command not found", None)]
)
def test_kubelet_version(text, version):
    assert kb.kubelet_version(text) == version


# ------------------------------------------------------------------------------------------------------ command
@pytest.mark.parametrize(
    ("kwargs", "argv"),
    [
        ({"benchmark": "cis-1.12", "targets": ["node"]}, ["kb", "run", "--json", "--benchmark", "cis-1.12", "--targets", "node"]),
        (
            {"benchmark": "cis-1.11", "targets": [], "config_dir": "/etc/kube-bench/cfg", "extra_args": ["--check", "4.2.1"]},
            ["kb", "run", "--json", "--benchmark", "cis-1.11", "--config-dir", "/etc/kube-bench/cfg", "--check", "4.2.1"],
        ),
        ({"benchmark": None, "targets": ["master", "node"]}, ["kb", "run", "--json", "--targets", "master,node"]),
    ],
)
def test_build_run_command(kwargs, argv):
    assert kb.build_run_command("kb", **kwargs) == argv


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"benchmark": "cis 1.12; rm -rf /"}, "not a kube-bench benchmark"),
        ({"benchmark": "cis-1.12", "targets": ["nodes"]}, "unknown kube-bench target"),
        ({"benchmark": "cis-1.12", "extra_args": ["--junit"]}, "must not contain --junit"),
        ({"benchmark": "cis-1.12", "extra_args": ["--outputfile=/tmp/x"]}, "must not contain --outputfile"),
        ({"benchmark": "cis-1.12", "extra_args": ["--benchmark", "cis-1.9"]}, "must not contain --benchmark"),
    ],
)
def test_build_run_command_refuses(kwargs, message):
    with pytest.raises(kb.KubeBenchError, match=message):
        kb.build_run_command("kb", **kwargs)


def test_parse_run_output_tolerates_log_lines_and_names_garbage():
    text = (FIXTURES / "node-cis-1.12.json").read_text()
    assert kb.parse_run_output("W0314 warning: something\n" + text)["Totals"]["total_pass"] == 19
    with pytest.raises(kb.KubeBenchError, match="empty"):
        kb.parse_run_output("  ")
    with pytest.raises(kb.KubeBenchError, match="no kube-bench JSON"):
        kb.parse_run_output("error: config file not found\n")


# ------------------------------------------------------------------------------------ the FAKE binary, in Python
@pytest.mark.parametrize("fixture", ["node-cis-1.12.json", "node-cis-1.12-nototals.json"])
def test_run_detects_the_benchmark_from_the_fake_kubelet(tmp_path, fixture):
    fake = make_fake(tmp_path / "fake", fixture)
    findings, info = kb.run(shell_runner, str(fake / "kube-bench"), targets=["node"], kubelet_binary=str(fake / "kubelet"), cluster="c1", node="w1")
    assert_valid_findings(findings)
    assert len(findings) == 25
    assert (info["benchmark"], info["benchmark_from"], info["kubernetes_version"]) == ("cis-1.12", "kubelet", "v1.33.4")
    assert info["cmd"][1:] == WORKER_ARGS.split()
    assert info["exit_code"] == 0 and "Reported version" in info["stderr_tail"]
    assert (fake / "calls").read_text().splitlines() == [WORKER_ARGS]


def test_run_with_version_or_benchmark_never_asks_the_kubelet(tmp_path):
    fake = make_fake(tmp_path / "fake")
    for options in ({"version": "v1.33.1"}, {"benchmark": "cis-1.12"}):
        findings, info = kb.run(shell_runner, str(fake / "kube-bench"), targets=["node"], kubelet_binary=str(tmp_path / "no-kubelet"), **options)
        assert len(findings) == 25 and info["benchmark"] == "cis-1.12"
        assert info["benchmark_from"] == next(iter(options))
    with pytest.raises(kb.KubeBenchError, match="not both"):
        kb.run(shell_runner, "kb", benchmark="cis-1.12", version="1.33")


def test_run_errors_say_what_went_wrong(tmp_path):
    fake = make_fake(tmp_path / "fake", expected=("run --json --benchmark cis-1.12",))
    with pytest.raises(kb.KubeBenchError, match="unexpected arguments"):
        kb.run(shell_runner, str(fake / "kube-bench"), benchmark="cis-1.12", targets=["node"])
    with pytest.raises(kb.KubeBenchError, match="cannot detect the Kubernetes version"):
        kb.run(lambda argv: (1, "", "kubelet: not found"), "kb")
    with pytest.raises(kb.KubeBenchError, match="cannot run"):
        kb.run(lambda argv: (_ for _ in ()).throw(OSError("no such file")), "kb")


# --------------------------------------------------------------------------- the FAKE binary, through Ansible
PLAYBOOK = """
- name: Run the FAKE kube-bench with the module
  hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - name: Run
      kubesec.cluster.kube_bench:
        mode: run
        binary: "{{ fake_dir }}/kube-bench"
        kubelet_binary: "{{ fake_dir }}/kubelet"
        targets: "{{ targets | default([]) }}"
        cluster: c1
      register: kb
      ignore_errors: "{{ expect_failure | default(false) | bool }}"
    - name: Keep the result on the controller
      ansible.builtin.copy:
        content: "{{ kb | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""


def run_module_playbook(tmp_path, **extra):
    playbook = tmp_path / "kb.yml"
    playbook.write_text(PLAYBOOK)
    out = tmp_path / "result.json"
    extra.setdefault("target", "localhost")
    extra["out"] = str(out)
    run_playbook(playbook, "-e", json.dumps(extra))
    return json.loads(out.read_text())


def test_module_runs_the_fake_through_ansible_on_localhost(tmp_path):
    fake = make_fake(tmp_path / "fake")
    result = run_module_playbook(tmp_path, fake_dir=str(fake), targets=["node"])
    assert result["changed"] is False
    assert result["benchmark"] == "cis-1.12" and result["benchmark_from"] == "kubelet"
    assert result["summary"] == {"pass": 19, "fail": 2, "warn": 4, "info": 0, "waived": 0, "total": 25}
    assert_valid_findings(result["findings"])
    # the action plugin applied the detected benchmark's catalogue severities after the run
    catalogue = {"CIS-" + str(c["id"]): c["severity"] for c in _catalogue.load("cis-1.12")["checks"]}
    severities = {f["id"]: f["severity"] for f in result["findings"]}
    assert severities == {key: catalogue[key] for key in severities}
    assert len(set(severities.values())) > 1
    assert {f["node"] for f in result["findings"]} == {"localhost"}
    assert result["cmd"] == [str(fake / "kube-bench"), *WORKER_ARGS.split()[0:]]


def test_module_says_how_to_install_when_the_binary_is_missing(tmp_path):
    result = run_module_playbook(tmp_path, fake_dir=str(tmp_path / "nothing-here"), expect_failure=True)
    assert result["failed"] is True
    assert "does not exist or is not executable" in result["msg"]
    assert "github.com/aquasecurity/kube-bench/releases" in result["msg"]
    assert "Job" in result["msg"]


@pytest.mark.testbed
def test_module_runs_the_fake_over_ssh_on_a_testbed_node(testbed, tmp_path):
    node = testbed.workers[0]
    fake = make_fake(tmp_path / "fake")
    remote = "/tmp/kubesec-fake-kube-bench-%s" % tmp_path.name
    playbook = tmp_path / "kb.yml"
    playbook.write_text(PLAYBOOK)
    copy = tmp_path / "copy.yml"
    copy.write_text("""
- name: Put the FAKE kube-bench on the node
  hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - name: Copy
      ansible.builtin.copy:
        src: "{{ src }}/"
        dest: "{{ dest }}/"
        mode: preserve
""")
    try:
        testbed.playbook(copy, "-e", json.dumps({"target": node, "src": str(fake), "dest": remote}))
        out = tmp_path / "result.json"
        testbed.playbook(playbook, "-e", json.dumps({"target": node, "fake_dir": remote, "targets": ["node"], "out": str(out)}))
        result = json.loads(out.read_text())
        assert result["benchmark"] == "cis-1.12" and result["kubernetes_version"] == "v1.33.4"
        assert len(result["findings"]) == 25 and {f["node"] for f in result["findings"]} == {node}
        assert_valid_findings(result["findings"])
        calls = testbed.ssh(node, f"cat {remote}/calls").stdout.splitlines()
        assert calls == [WORKER_ARGS]  # with the arguments the module built
        ran_in = testbed.ssh(node, f"cat {remote}/netns").stdout.split()
        assert ran_in == testbed.ssh(node, "readlink /proc/self/ns/net").stdout.split()  # on the node itself
        assert ran_in != subprocess.run(["readlink", "/proc/self/ns/net"], capture_output=True, text=True).stdout.split()
    finally:
        testbed.ssh(node, f"rm -rf {remote}", check=False)


# ------------------------------------------------------------------------------------------------------ the Job
@pytest.mark.parametrize("control_plane", [False, True])
def test_job_is_a_valid_kubernetes_object(control_plane):
    job = kb.build_job(node="worker-1", control_plane=control_plane, benchmark="cis-1.12")
    assert kubernetes_validate.validate(job, "1.33", strict=True) == "1.33"
    spec = job["spec"]["template"]["spec"]
    assert spec["hostPID"] is True and spec["restartPolicy"] == "Never"
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": "worker-1"}
    container = spec["containers"][0]
    assert container["image"] == "docker.io/aquasec/kube-bench:v0.15.6"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    host_paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    expected = {
        "/var/lib/cni",
        "/var/lib/etcd",
        "/var/lib/kubelet",
        "/var/lib/kube-scheduler",
        "/var/lib/kube-controller-manager",
        "/etc/systemd",
        "/lib/systemd",
        "/srv/kubernetes",
        "/etc/kubernetes",
        "/etc/cni/net.d",
        "/opt/cni/bin",
        "/usr/bin",
    } | ({"/etc/passwd", "/etc/group"} if control_plane else set())
    assert set(host_paths.values()) == expected
    for volume_mount in container["volumeMounts"]:
        if volume_mount["name"] in host_paths:
            assert volume_mount["readOnly"] is True
    assert mounts["/usr/local/mount-from-host/bin"]["name"] == "usr-bin"
    assert {v["name"]: v for v in spec["volumes"]}["kube-bench-out"] == {"name": "kube-bench-out", "emptyDir": {}}
    script = container["command"][2]
    assert "--json --outputfile /kube-bench-out/result.json --benchmark cis-1.12" in script
    assert kb.JOB_MARKER_BEGIN in script and kb.JOB_MARKER_END in script
    if control_plane:
        terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert [t["matchExpressions"][0]["key"] for t in terms] == list(kb.CONTROL_PLANE_LABELS)
        assert {t["key"] for t in spec["tolerations"]} == set(kb.CONTROL_PLANE_LABELS)
        assert "--targets master,controlplane,etcd,policies,node" in script
    else:
        assert "affinity" not in spec and "tolerations" not in spec
        assert "--targets node" in script


def test_job_options_and_refusals():
    job = kb.build_job(
        node="Worker_1.Example.COM" + "x" * 80,
        namespace="security",
        service_account="kube-bench",
        image="registry.example.com/aquasec/kube-bench@sha256:" + "a" * 64,
        ttl_seconds_after_finished=None,
        extra_args=["--check", "4.2.1"],
    )
    assert kubernetes_validate.validate(job, "1.33", strict=True)
    assert len(job["metadata"]["name"]) <= 63 and job["metadata"]["name"].startswith("kube-bench-worker-1-example")
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "kube-bench"
    for image in ("docker.io/aquasec/kube-bench", "docker.io/aquasec/kube-bench:latest", ""):
        with pytest.raises(kb.KubeBenchError, match="pin"):
            kb.build_job(image=image)
    with pytest.raises(kb.KubeBenchError, match="must not contain --json"):
        kb.build_job(extra_args=["--json"])


def test_the_job_script_runs_and_its_log_is_read_back(tmp_path):
    """Run the container's shell script for real (with the FAKE kube-bench on PATH and the emptyDir as a tmp
    folder) and read its output the way the role reads the pod log."""
    fake = make_fake(tmp_path / "fake", expected=(WORKER_ARGS,))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    job = kb.build_job(node="w1", benchmark="cis-1.12")
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2].replace(kb.JOB_OUTPUT_DIR, str(out_dir))
    proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30, env={"PATH": f"{fake}:/usr/bin:/bin"})
    assert proc.returncode == 0
    log = "some kubelet noise\n" + proc.stdout
    result = kb.extract_job_result(log, "pod log")
    assert result["exit_code"] == 0 and "Reported version" in result["stderr_tail"]
    findings, info = kb.to_findings(result["document"], node="w1")
    assert len(findings) == 25 and info["totals"]["total_fail"] == 2
    assert kb.loads(log)["Totals"] == info["totals"]  # read mode understands the pod log too
    # kube-bench failing inside the Job: the log says so, with its stderr
    (fake / "expected").write_text("something else\n")
    proc = subprocess.run(
        ["/bin/sh", "-c", script.replace(str(out_dir) + "/result.json", str(out_dir) + "/r2.json")],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": f"{fake}:/usr/bin:/bin"},
    )
    with pytest.raises(kb.KubeBenchError, match="wrote no JSON.*exit code 2.*unexpected arguments"):
        kb.extract_job_result(proc.stdout)


@pytest.mark.parametrize(
    ("log", "message"),
    [
        ("nothing here", "no kube-bench result"),
        (kb.JOB_MARKER_BEGIN + '\n{"Controls": [', "cut off"),
        (kb.JOB_MARKER_BEGIN + "\n{not json\n" + kb.JOB_MARKER_END + " rc=0\n", "not valid JSON"),
    ],
)
def test_broken_pod_logs_are_named(log, message):
    with pytest.raises(kb.KubeBenchError, match=message):
        kb.extract_job_result(log)


def test_module_builds_the_job_and_reads_its_log_through_ansible(tmp_path):
    playbook = tmp_path / "job.yml"
    out = tmp_path / "out.json"
    log = kb.JOB_MARKER_BEGIN + "\n" + (FIXTURES / "node-cis-1.12-nototals.json").read_text() + "\n" + kb.JOB_MARKER_END + " rc=0\n"
    playbook.write_text("""
- name: Job manifest and pod log
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Build
      kubesec.cluster.kube_bench:
        mode: job
        version: v1.31.2
        node_name: cp-1
        job: {control_plane: true, namespace: security}
      register: job
    - name: Read
      kubesec.cluster.kube_bench:
        content: "{{ log }}"
        node_name: cp-1
      register: read
    - name: Keep
      ansible.builtin.copy:
        content: "{{ {'job': job, 'read': read} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
""")
    run_playbook(playbook, "-e", json.dumps({"out": str(out), "log": log}))
    data = json.loads(out.read_text())
    job = data["job"]["job"]
    assert data["job"]["benchmark"] == "cis-1.11" and data["job"]["benchmark_from"] == "version"
    assert data["job"]["findings"] == [] and data["job"]["changed"] is False
    assert kubernetes_validate.validate(job, "1.33", strict=True)
    assert job["metadata"] == {
        "name": "kube-bench-cp-1",
        "namespace": "security",
        "labels": {"app.kubernetes.io/name": "kube-bench", "app.kubernetes.io/managed-by": "kubesec"},
    }
    assert "tolerations" in job["spec"]["template"]["spec"]
    assert len(data["read"]["findings"]) == 25 and data["read"]["exit_code"] == 0
    assert_valid_findings(data["read"]["findings"])
