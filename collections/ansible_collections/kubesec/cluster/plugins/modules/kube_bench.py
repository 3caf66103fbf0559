#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: kube_bench
short_description: Run kube-bench on a node, build its in-cluster Job, or read its JSON, into normalized findings
version_added: 0.1.0
description:
  - "O(mode=read) (the default): reads the JSON that C(kube-bench run --json) writes, in both shapes (the object with
    C(Controls) and C(Totals), and the bare array of C(--nototals)), from O(path) or O(content). A pod log of the Job
    that O(mode=job) builds (the JSON between two marker lines) is understood too."
  - "O(mode=run): runs C(kube-bench run --json --benchmark X [--targets Y]) on the host the task runs on (a node,
    over SSH) and reads its stdout. The benchmark is O(benchmark), or mapped from O(version), or from
    C(kubelet --version) on the node, with kube-bench's own C(version_mapping) table (Kubernetes 1.32 to 1.34 use
    C(cis-1.12), 1.29 to 1.31 C(cis-1.11), 1.28 C(cis-1.10), 1.27 C(cis-1.9), ...; newer versions use the newest
    benchmark with a warning). A missing binary fails with how to install it, or to use the Job instead."
  - "O(mode=job): returns, in RV(job), the C(batch/v1) Job that runs kube-bench in the cluster on one node (C(hostPID),
    the read-only hostPath mounts of kube-bench's C(job-node.yaml) / C(job-master.yaml), control-plane node affinity
    and tolerations, a pinned image). It writes C(--json --outputfile) onto an emptyDir and prints that file between
    marker lines, so the pod log can be given back to O(mode=read) as O(content). Nothing is sent to a cluster; the
    collect role creates the Job with M(kubernetes.core.k8s)."
  - Findings use the same ids as M(kubesec.cluster.cis_node_audit) (C(CIS-4.2.1)) so both can be compared
    or mixed in one report; the source is C(kube-bench).
  - The action plugin of the same name adds severities from the collection's CIS catalogue (after the run when the
    benchmark was detected).
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes.READ_ONLY
options:
  mode:
    description: C(read) a result, C(run) kube-bench here, or build the in-cluster C(job) manifest.
    type: str
    default: read
    choices: [read, run, job]
  path:
    description:
      - Path of a kube-bench JSON file (or a saved pod log of the Job) on the host the module runs on.
      - Mutually exclusive with O(content); one of them is required with O(mode=read).
    type: path
  content:
    description: kube-bench JSON, or the pod log of the Job, as text. Mutually exclusive with O(path).
    type: str
  benchmark:
    description:
      - With O(mode=read), the CIS catalogue used for severities (the action plugin loads it); C(cis-1.12) when not given.
      - With O(mode=run) and O(mode=job), the kube-bench benchmark to run (C(cis-1.12), C(eks-1.7.0), ...).
        Without it, O(version) or (O(mode=run) only) C(kubelet --version) decides; a Job without either lets
        kube-bench detect it. Mutually exclusive with O(version).
    type: str
  version:
    description:
      - Kubernetes version (C(v1.33.4), C(1.31)) mapped to a benchmark with kube-bench's C(version_mapping).
    type: str
  targets:
    description:
      - kube-bench targets to run. Empty lets kube-bench decide with O(mode=run); a Job defaults to C(node) on workers
        and C(master), C(controlplane), C(etcd), C(policies), C(node) on control planes.
    type: list
    elements: str
    default: []
    choices: [master, node, controlplane, etcd, policies, managedservices]
  binary:
    description: Path or name of the kube-bench binary on the node (O(mode=run)); names are looked up on E(PATH) and C(/usr/local/bin).
    type: path
    default: kube-bench
  kubelet_binary:
    description: Path or name of the kubelet, run with C(--version) to detect the benchmark (O(mode=run)).
    type: path
    default: kubelet
  config_dir:
    description: kube-bench's C(cfg) directory (C(--config-dir)), when it is not where kube-bench looks by default.
    type: path
  extra_args:
    description:
      - Further kube-bench arguments (C(--check 4.2.1,4.2.2), C(--skip 4.1.3), C(--include-test-output), ...).
      - The output, benchmark, targets and config-dir flags are set by the module and not allowed here.
    type: list
    elements: str
    default: []
  job:
    description: The Job built with O(mode=job).
    type: dict
    default: {}
    suboptions:
      name:
        description: Job name. Defaults to C(kube-bench-<node>).
        type: str
      namespace:
        description: Namespace of the Job.
        type: str
        default: kube-system
      image:
        description: kube-bench image, pinned to a version or digest (C(latest) is refused).
        type: str
        default: docker.io/aquasec/kube-bench:v0.15.6
      node:
        description: Node to run on (C(kubernetes.io/hostname) node selector). Defaults to O(node_name).
        type: str
      control_plane:
        description: A control-plane node (affinity, tolerations, C(/etc/passwd) and C(/etc/group) mounts, targets).
        type: bool
        default: false
      service_account:
        description: Service account of the pod (kube-bench needs no API access).
        type: str
      active_deadline_seconds:
        description: Seconds after which Kubernetes stops the Job.
        type: int
        default: 600
      ttl_seconds_after_finished:
        description: Seconds after which Kubernetes deletes the finished Job (C(0) at once).
        type: int
        default: 3600
  catalogue:
    description: The parsed CIS catalogue; filled in by the action plugin.
    type: dict
  cluster:
    description: Cluster name stamped on every finding. Defaults to the C(kubesec_cluster) host variable.
    type: str
  node_name:
    description: Node the results belong to. Defaults to the inventory hostname.
    type: str
notes:
  - kube-bench must run as root on the node to read the kubelet's files and other processes' command lines
    (O(mode=run) with C(become=true)).
seealso:
  - name: kube-bench
    description: Running kube-bench, its Job manifests and its JSON output.
    link: https://github.com/aquasecurity/kube-bench/blob/main/docs/running.md
"""

EXAMPLES = r"""
- name: Ingest a kube-bench result that was collected from a node
  kubesec.cluster.kube_bench:
    path: /var/tmp/kube-bench.json
    node_name: worker-1
  delegate_to: localhost
  register: kb

- name: Run kube-bench on every node (benchmark detected from kubelet --version)
  kubesec.cluster.kube_bench:
    mode: run
    binary: /usr/local/bin/kube-bench
    config_dir: /etc/kube-bench/cfg
    targets: "{{ ['master', 'controlplane', 'etcd', 'policies', 'node'] if 'control_plane' in group_names else ['node'] }}"
  become: true
  register: kb_run

- name: Build the Job manifest for one control-plane node
  kubesec.cluster.kube_bench:
    mode: job
    benchmark: cis-1.12
    job:
      node: cp-1
      control_plane: true
  delegate_to: localhost
  register: kb_job
"""

RETURN = r"""
findings:
  description: One normalized finding per kube-bench check.
  returned: always
  type: list
  elements: dict
summary:
  description: Counts by status.
  returned: always
  type: dict
  sample: {pass: 17, fail: 3, warn: 5, info: 0, waived: 0, total: 25}
totals:
  description: kube-bench's own C(Totals), when the input had them, as they were (see RV(totals_mismatch)).
  returned: always
  type: dict
counted:
  description: The results listed in the input, counted per status (C(pass), C(fail), C(warn), C(info)).
  returned: always
  type: dict
  sample: {pass: 19, fail: 2, warn: 4, info: 0}
totals_mismatch:
  description:
    - Every kube-bench counter (C(Totals), a control's C(total_*), a group's C(pass)/C(fail)/...) that disagrees with
      the results the input lists, naming where; also an Ansible warning. Empty when they agree.
    - The findings follow the listed results, never the counters.
  returned: always
  type: list
  elements: str
  sample: ["kb.json: Totals: total_fail says 0 but 2 FAIL result(s) are listed"]
benchmarks:
  description:
    - Benchmarks named in the input. An old-style C(version) that is a Kubernetes version (C(1.15), written by
      kube-bench before v0.3) is mapped with kube-bench's C(version_mapping) (C(1.15) is C(cis-1.5)), with a warning;
      one older than the mapping is left out with a warning (benchmark unknown), never stamped C(cis-1.15).
  returned: always
  type: list
  elements: str
skips:
  description:
    - "Entries that could not be read (with where they were), never silently dropped. A record of the wrong type
      (C(tests: [42])) or whose text is not valid Unicode (a lone surrogate escape such as C(\\ud800)) is named
      here and the other records are kept; input where no record can be read fails with the first reason."
    - Not called C(skipped), which Ansible would take for a skipped task.
  returned: always
  type: list
  elements: str
benchmark:
  description: The benchmark kube-bench ran (O(mode=run)) or the Job runs (O(mode=job); empty when kube-bench detects it).
  returned: when O(mode) is C(run) or C(job)
  type: str
  sample: cis-1.12
benchmark_from:
  description: Where the benchmark came from, C(benchmark), C(version), C(kubelet) or C(kube-bench) (its own detection in a Job).
  returned: when O(mode) is C(run) or C(job)
  type: str
kubernetes_version:
  description: The Kubernetes version the benchmark was mapped from (O(version) or C(kubelet --version)).
  returned: when O(mode) is C(run) or C(job)
  type: str
  sample: v1.33.4
cmd:
  description: The kube-bench command that ran.
  returned: when O(mode=run)
  type: list
  elements: str
exit_code:
  description: kube-bench's exit code (non-zero with a JSON result is a warning, not a failure).
  returned: when O(mode=run), or when reading a Job pod log
  type: int
stderr_tail:
  description: The last lines of kube-bench's log (stderr).
  returned: when O(mode=run)
  type: str
job:
  description: The Job manifest (a mapping ready for M(kubernetes.core.k8s) C(definition)).
  returned: when O(mode=job)
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils import _kube_bench
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import count_statuses


def _read(module, params):
    name = params["path"] or "content"
    if params["path"]:
        try:
            with open(params["path"], "rb") as handle:
                text = to_text(handle.read(), errors="surrogate_or_strict")
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot read kube-bench JSON %s: %s" % (params["path"], exc))
    else:
        text = params["content"]
    extra = {}
    if _kube_bench.JOB_MARKER_BEGIN in text:
        job_result = _kube_bench.extract_job_result(text, name)
        document = job_result["document"]
        extra["exit_code"] = job_result["exit_code"]
        if job_result["exit_code"]:
            module.warn("kube-bench exited with %s in the Job; its result was read. stderr: %s" % (job_result["exit_code"], job_result["stderr_tail"]))
    else:
        document = _kube_bench.loads(text, name)
    findings, info = _kube_bench.to_findings(document, name, cluster=params["cluster"], node=params["node_name"], catalogue=params["catalogue"])
    return findings, info, extra


def _find_binary(module, binary):
    if os.sep in binary:
        if os.path.isfile(binary) and os.access(binary, os.X_OK):
            return binary
        module.fail_json(msg="kube-bench binary %s does not exist or is not executable on this host. %s" % (binary, _kube_bench.INSTALL_HINT))
    found = module.get_bin_path(binary, opt_dirs=["/usr/local/bin", "/opt/kube-bench"])
    if not found:
        module.fail_json(msg="kube-bench binary %r not found on this host (PATH and /usr/local/bin). %s" % (binary, _kube_bench.INSTALL_HINT))
    return found


def _run(module, params):
    binary = _find_binary(module, params["binary"])
    # check the arguments before running anything, so mistakes are reported as such
    _kube_bench.check_targets(params["targets"])
    _kube_bench.check_extra_args(params["extra_args"])

    def runner(argv):
        if argv[0] == params["kubelet_binary"]:
            if os.sep in argv[0]:
                path = argv[0] if os.path.isfile(argv[0]) and os.access(argv[0], os.X_OK) else None
            else:
                path = module.get_bin_path(argv[0], opt_dirs=["/usr/local/bin", "/usr/bin"])
            if not path:
                raise OSError("%s not found or not executable" % argv[0])
            argv = [path, *argv[1:]]
        return module.run_command(argv)

    findings, info = _kube_bench.run(
        runner,
        binary,
        benchmark=params["benchmark"],
        version=params["version"],
        targets=params["targets"],
        config_dir=params["config_dir"],
        extra_args=params["extra_args"],
        kubelet_binary=params["kubelet_binary"],
        cluster=params["cluster"],
        node=params["node_name"],
        catalogue=params["catalogue"],
    )
    if info["note"]:
        module.warn(info["note"])
    if info["exit_code"]:
        module.warn("kube-bench exited with %s; its JSON result was read. stderr: %s" % (info["exit_code"], info["stderr_tail"] or "-"))
    extra = dict((key, info[key]) for key in ("benchmark", "benchmark_from", "kubernetes_version", "cmd", "exit_code", "stderr_tail"))
    return findings, info, extra


def _job(module, params):
    spec = params["job"] or {}
    benchmark, source, version = params["benchmark"], "benchmark", None
    if params["version"]:
        benchmark, note = _kube_bench.benchmark_for_version(params["version"])
        source, version = "version", params["version"]
        if note:
            module.warn(note)
    elif not benchmark:
        source = "kube-bench"
    job = _kube_bench.build_job(
        node=spec.get("node") or params["node_name"],
        control_plane=bool(spec.get("control_plane")),
        benchmark=benchmark,
        targets=params["targets"] or None,
        config_dir=params["config_dir"],
        extra_args=params["extra_args"],
        name=spec.get("name"),
        namespace=spec.get("namespace") or "kube-system",
        image=spec.get("image") or _kube_bench.JOB_IMAGE,
        service_account=spec.get("service_account"),
        active_deadline_seconds=spec.get("active_deadline_seconds") or 600,
        ttl_seconds_after_finished=spec.get("ttl_seconds_after_finished"),
    )
    return (
        [],
        {"totals": None, "benchmarks": [], "skipped": []},
        {"job": job, "benchmark": benchmark or "", "benchmark_from": source, "kubernetes_version": version},
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type="str", default="read", choices=["read", "run", "job"]),
            path=dict(type="path"),
            content=dict(type="str"),
            benchmark=dict(type="str"),
            version=dict(type="str"),
            targets=dict(type="list", elements="str", default=[], choices=list(_kube_bench.TARGETS)),
            binary=dict(type="path", default="kube-bench"),
            kubelet_binary=dict(type="path", default="kubelet"),
            config_dir=dict(type="path"),
            extra_args=dict(type="list", elements="str", default=[]),
            job=dict(
                type="dict",
                default={},
                options=dict(
                    name=dict(type="str"),
                    namespace=dict(type="str", default="kube-system"),
                    image=dict(type="str", default=_kube_bench.JOB_IMAGE),
                    node=dict(type="str"),
                    control_plane=dict(type="bool", default=False),
                    service_account=dict(type="str"),
                    active_deadline_seconds=dict(type="int", default=600),
                    ttl_seconds_after_finished=dict(type="int", default=3600),
                ),
            ),
            catalogue=dict(type="dict"),
            cluster=dict(type="str"),
            node_name=dict(type="str"),
        ),
        mutually_exclusive=[("path", "content"), ("benchmark", "version")],
        required_if=[("mode", "read", ("path", "content"), True)],
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    params = module.params
    try:
        if params["mode"] == "run":
            findings, info, extra = _run(module, params)
        elif params["mode"] == "job":
            findings, info, extra = _job(module, params)
        else:
            findings, info, extra = _read(module, params)
    except _kube_bench.KubeBenchError as exc:
        module.fail_json(msg=str(exc))
    for line in info.get("warnings") or []:
        module.warn(line)
    mismatch = info.get("totals_mismatch") or []
    if mismatch:
        module.warn(
            "kube-bench's own counts disagree with the results it lists (%d): %s%s"
            % (len(mismatch), "; ".join(mismatch[:5]), " ..." if len(mismatch) > 5 else "")
        )
    if info["skipped"]:
        module.warn("%d kube-bench entries could not be read (see skips); first: %s" % (len(info["skipped"]), info["skipped"][0]))
    module.exit_json(
        changed=False,
        findings=findings,
        summary=count_statuses(findings),
        totals=info["totals"] or {},
        counted=info.get("counted") or {},
        totals_mismatch=mismatch,
        benchmarks=info["benchmarks"],
        skips=info["skipped"],
        **extra,
    )


if __name__ == "__main__":
    main()
