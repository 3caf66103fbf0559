#!/usr/bin/env python3
"""Write docs/cis-coverage.md from the CIS catalogues and the hardening roles' control data.

.venv/bin/python scripts/gen_cis_coverage.py          # rewrite the page
.venv/bin/python scripts/gen_cis_coverage.py --check  # exit 1 when the page is out of date (the tests do this)
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = ROOT / "collections/ansible_collections/kubesec/cluster"
PAGE = ROOT / "docs/cis-coverage.md"
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis_versions  # noqa: E402
from ansible_collections.kubesec.cluster.plugins.module_utils import _cis  # noqa: E402
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue  # noqa: E402
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _policies_catalogue  # noqa: E402

# How each section-5 test type decides (data/cis_policies/*.yml names the type; module_utils/_cis_policies.py).
SECTION5_HOW = {
    "workload_rule": "the workload rule {rule} (one evaluation, two ids){fields}",
    "policy_rule": "the cluster policy rule {rule} (one evaluation, two ids)",
    "rbac_grant": "RBAC bindings granting {grants}: broad groups FAIL, other holders listed (WARN)",
    "cluster_admin_bindings": "bindings to cluster-admin other than {allowed}",
    "wildcard_roles": "Roles/ClusterRoles with '*' in verbs, resources or apiGroups (built-in ones exempt)",
    "default_service_accounts": "default ServiceAccounts without automountServiceAccountToken: false, bound, or used ({rule})",
    "system_masters": "bindings naming system:masters; certificate membership needs a person (WARN)",
    "policy_control": (
        "PSA enforce label baseline/restricted on every namespace with user workloads, or a policy engine webhook / ValidatingAdmissionPolicyBinding"
    ),
    "capability": "containers that add {capability} or do not drop it (or ALL)",
    "host_process": "securityContext.windowsOptions.hostProcess on pods and containers",
    "seccomp": "effective seccomp profile per container ({allowed}; legacy annotations read)",
    "security_context": "pod controllers with no securityContext on the pod or any container",
    "cni": "CNI DaemonSets/Pods: a NetworkPolicy-enforcing one PASS, only non-enforcing FAIL, unknown WARN",
    "namespace_network_policies": "namespaces without any NetworkPolicy",
    "external_secrets": "External Secrets / Secrets Store CSI / Vault agent / Sealed Secrets objects (none: WARN)",
    "image_provenance": "kube-apiserver --enable-admission-plugins has ImagePolicyWebhook, or an image-verifying webhook",
    "namespace_boundaries": "user workloads all in default FAIL",
    "default_namespace": "workloads in default ({rule}) and Services other than {services}",
}


def _section5_how(test):
    grants = "; ".join("%s %s" % ("/".join(g["verbs"]), "/".join(g["resources"])) for g in test.get("grants") or [])
    return SECTION5_HOW[test["type"]].format(
        rule=test.get("rule", ""),
        fields=" ({})".format(", ".join(test["fields"])) if test.get("fields") else "",
        grants=grants,
        capability=test.get("capability", ""),
        allowed=", ".join(test.get("allowed") or test.get("allowed_bindings") or []),
        services=", ".join(test.get("allowed_services") or []),
    )


def section5(catalogues):
    """The section-5 part of the page: how it is evaluated, the totals per benchmark, one table each."""
    policies = {name: _policies_catalogue.load(name) for name in _policies_catalogue.available()}
    lines = [
        "## Section 5 (policies): decided from cluster objects",
        "",
        "Section 5 is not read from node files: `kubesec.cluster.cluster_policy_audit` (the collect role's `policies`",
        "source, `kubesec_collect.policies`) reads the cluster's objects - exports (`kubectl get ... -A -o yaml`) or",
        "the API, paged - and writes one finding per check (source `cis-policies`, id `CIS-5.x.y`, the offending",
        "objects in `evidence.offending`). `cis_node_audit` with `targets: [policies]` evaluates nothing and says so.",
        'A check whose objects are missing from the input, or whose API list was forbidden, is WARN ("Not decided"),',
        "never PASS. **objects**: PASS/FAIL from the objects; **review**: the objects are listed and a person decides",
        "(WARN while anything is found). Data: `data/cis_policies/` (validated by `data/schemas/cis-policies.json`).",
        "Where kubesec differs from kube-bench's audit: 5.2.6 counts an unset allowPrivilegeEscalation as allowed (it",
        "defaults to true; kube-bench passes it), and workload-rule checks leave out the system namespaces as the rule",
        "does (kube-bench lists every pod). The cluster policy rules behind 5.1.x are in docs/cluster-policies.md.",
        "",
        "| Benchmark | Ids (sections 1-4 + 5) | Section 5 | decided from objects | review | kube-bench manual |",
        "|---|---|---|---|---|---|",
    ]
    for name, cat in policies.items():
        checks = cat["checks"]
        nodes = len(catalogues[name]["checks"]) if name in catalogues else 0
        lines.append(
            "| %s | %d/%d (%d + %d) | %d | %d | %d | %d of %d |"
            % (
                name,
                nodes + len(checks),
                nodes + len(checks),
                nodes,
                len(checks),
                len(checks),
                sum(1 for c in checks if c["decided"] == "objects"),
                sum(1 for c in checks if c["decided"] == "review"),
                sum(1 for c in checks if c["kube_bench"] == "manual"),
                len(checks),
            )
        )
    lines.append("")
    for name, cat in policies.items():
        lines += ["### %s section 5 (%s)" % (name, cat["source"]), "", "| Id | Title | kube-bench | Decided | Severity | How |", "|---|---|---|---|---|---|"]
        for check in cat["checks"]:
            lines.append(
                "| %s | %s | %s | %s | %s | %s |"
                % (check["id"], check["title"], check["kube_bench"], check["decided"], check["severity"], _section5_how(check["test"]).replace("|", "\\|"))
            )
        lines.append("")
    return lines


# Distribution test-host trees (tests/testbed/trees/rancher.yml) judged by their catalogue for the counts table.
PROFILE_TREES = {
    "k3s-default": "k3s-cis-1.12",
    "k3s-hardened": "k3s-cis-1.12",
    "rke2-default": "rke2-cis-1.12",
    "rke2-hardened": "rke2-cis-1.12",
    "eks-default": "eks-cis-1.8.0",
    "eks-al2023": "eks-cis-1.8.0",
    "gke-default": "gke-cis-1.9.0",
    "aks-default": "aks-cis-1.8",
}
# the tree file (tests/testbed/trees/<role>.yml) of each profile: managed node pools have their own
PROFILE_ROLES = {"eks-default": "managed", "eks-al2023": "managed", "gke-default": "managed", "aks-default": "managed"}


# How cis_node_audit works out what the kubelet and kube-proxy really run with (the verdicts depend on it).
HOW_NODES_ARE_READ = """## How the node checks read the kubelet and kube-proxy

- **Flags win over config files**, as in kube-bench and the kubelet. Flags are read from the systemd unit and
  every drop-in (`ExecStart=`, `Environment=`, `EnvironmentFile=`), the way `ps -fC kubelet` would show them.
- **Config file**: only the file `--config` names. A kubelet started without `--config` reads no config file:
  4.1.9 and 4.1.10 are `info` ("not applicable: no config file in use", naming a `config.yaml` that exists but is
  not read), and unset settings take the kubelet's own flag defaults: anonymous auth on (4.2.1 FAIL),
  `AlwaysAllow` (4.2.2 FAIL), read-only port 10255 (4.2.4 WARN). With a config file the same unset settings are
  anonymous auth off, Webhook and port 0.
- **`--config-dir` drop-ins** (k3s, rke2, kubeadm patches): every `*.conf` file below the directory, in the order
  the kubelet walks it (lexical, subdirectories included), each a `KubeletConfiguration` with `apiVersion` and
  `kind`, merged over the `--config` file as a JSON merge patch (mappings merge, lists are replaced; a `null`
  changes nothing, since the kubelet unmarshals the result into the config it already holds). The evidence
  names the file that set each value (`source`) and the merge order (`merged_from`). A drop-in that does not
  parse or lacks `kind` makes the settings checks "cannot evaluate", naming the file.
- **4.2.5**: kubeadm writes `streamingConnectionIdleTimeout: 0s` into `config.yaml`; the kubelet replaces a zero
  there with its default (4h), so this passes and the evidence says so. A zero given as the flag
  `--streaming-connection-idle-timeout=0`, or in a `--config-dir` drop-in (merged after the defaults are applied),
  does disable the timeout and is reported (WARN: the check is Manual in CIS).
- **4.1.1 / 4.1.2** judge every file systemd builds `kubelet.service` from: the unit and each
  `kubelet.service.d/*.conf`, in `/etc`, `/run` and `/usr/lib` alike. The evidence lists each file with its mode or
  owner; `offending` lists the ones to fix.
- **4.3.1** where kube-proxy is not a unit or file on the node (kubeadm's DaemonSet): judged from the ConfigMap
  `kube-system/kube-proxy` (key `config.conf`), from an export (`kubesec_kube_proxy_configmap`, e.g.
  `kubectl -n kube-system get configmap kube-proxy -o yaml > kube-proxy.yaml`) or the API (`kubesec_kubeconfig`,
  `kubesec_kube_context`). An empty `metricsBindAddress` is kube-proxy's default `127.0.0.1:10249` (PASS); any
  non-loopback address FAILs. With neither source it is WARN, saying what to provide; no ConfigMap in the cluster
  (API 404) is `info` (no kube-proxy).
- **k3s** (`k3s-cis-1.12`, chosen by itself on a node with `/var/lib/rancher/k3s` or `/etc/rancher/k3s`): the
  kubelet and kube-proxy run inside the k3s process (`k3s.service` / `k3s-agent.service`). Their flags are the
  ones k3s passes itself (catalogue data from k3s `pkg/daemons/agent`: `--config-dir=/var/lib/rancher/k3s/agent/
  etc/kubelet.conf.d`, the agent kubeconfigs, `--read-only-port=0`), then the `kubelet-arg` / `kube-proxy-arg` items
  of `/etc/rancher/k3s/config.yaml` (or `--config`, or `K3S_CONFIG_FILE` from the unit's environment), its
  `config.yaml.d/*.yaml` drop-ins in name order (`key+:` appends) and the unit's command line, later items winning.
  **RKE2** (`rke2-cis-1.12`) is read the same way at `/var/lib/rancher/rke2`, `/etc/rancher/rke2/config.yaml` and
  the `rke2-server` / `rke2-agent` units. Where the verdicts differ from kube-bench's k3s-cis / rke2-cis profiles on
  the same node, and why:
  - 4.1.1 / 4.1.2 judge the unit that starts the kubelet (`k3s.service`, `rke2-server.service`: 0644 as installed,
    FAIL); kube-bench reports them Not Applicable (no `kubelet.service`).
  - 4.1.9 / 4.1.10 are `info` (the kubelet gets `--config-dir`, no `--config` file); kube-bench checks
    `kubelet.kubeconfig` under these ids instead (PASS at 0600).
  - 4.2.4 passes from the flag k3s / rke2 pass themselves: `KubeletConfiguration` omits a zero `readOnlyPort`, so
    since v1.32.4 both put `--read-only-port=0` on the kubelet's command line (k3s-io/k3s#12164, rancher/rke2#8094);
    v1.32.0-v1.32.3 served the read-only port 10255. (An earlier kubesec reported WARN here; kube-bench passes it
    from the `Running kubelet` log line.)
  - 4.2.7 (`--hostname-override`) is `info`, not applicable: k3s / rke2 set it to the node name themselves
    (kube-bench: `type: skip`).
  - 4.2.12 - 4.2.14 (cipher suites, pod PID limit, seccomp default) WARN on a default node as in kube-bench's
    cis-1.12 numbering; kube-bench's older k3s profiles (k3s-cis-1.24 and before) have no 4.2.13 / 4.2.14.
- **Hardening k3s / RKE2** (`node_hardening`): the same controls, written as `kubelet-arg+` / `kube-proxy-arg+`
  items into a drop-in of kubesec's own, `/etc/rancher/<dist>/config.yaml.d/90-kubesec.yaml`; the operator's
  `config.yaml` is never rewritten. The file is planned as k3s reads it: when a later drop-in replaces a list (a
  key without `+`) or the unit's command line sets the flag, the run stops and names that place. The unit that
  runs the process is restarted; a kubelet that does not come back gets the previous drop-in back (or loses the
  one this run created). `control_plane_hardening` changes nothing on a k3s / RKE2 server (no control-plane
  checks in these catalogues yet).
- **Managed node pools** (EKS `eks-cis-1.8.0`, GKE `gke-cis-1.9.0`, AKS `aks-cis-1.8`; chosen by themselves on
  a node with `/etc/eks` or `/etc/kubernetes/kubelet/kubelet-config.json`, `/home/kubernetes/kubelet-config.yaml`,
  `/etc/kubernetes/azure.json` and none of kubeadm's files, or `kubesec_distribution: eks|gke|aks`; `cluster_facts` names the same catalogue
  from the API's evidence): the provider benchmark's worker node section (3) as kube-bench's newest profile numbers
  it (cfg/eks-1.8.0, cfg/gke-1.9.0, cfg/aks-1.8 `node.yaml`), read from the kubelet unit as on kubeadm: EKS's
  `--config /etc/kubernetes/kubelet/kubelet-config.json` (JSON; Amazon Linux 2023 / nodeadm: `NODEADM_KUBELET_ARGS` in
  `/etc/eks/kubelet/environment`, `--config=/etc/kubernetes/kubelet/config.json`) and `--kubeconfig /var/lib/kubelet/kubeconfig`,
  GKE's `KUBELET_OPTS` in `/etc/default/kubelet` with `--config /home/kubernetes/kubelet-config.yaml`, AKS's
  `KUBELET_FLAGS` in `/etc/default/kubelet`. The control plane is the provider's: every other target asked for
  (`master`, `controlplane`, `etcd`, `policies`) gives one `info` finding (`CIS-master`, ...) saying it does not
  apply on a managed control plane. `node_hardening` refuses these nodes (their kubelet settings belong to the
  node image and bootstrap); `control_plane_hardening` changes nothing. Where kubesec's verdict can differ from
  kube-bench's on the same node:
  - GKE: kube-bench's gke-1.9.0 has only 3.1.1-3.1.4 (no 3.2 Kubelet group, which gke-1.6.0 had): so has
    `gke-cis-1.9.0`. 3.1.1 / 3.1.2 judge the kubeconfig `--kubeconfig` names (kube-bench: `$proxykubeconfig`, set
    to `/var/lib/kubelet/kubeconfig` by its gke-1.9.0 config.yaml).
  - AKS 3.1.3 / 3.1.4 judge `/etc/kubernetes/azure.json` as their titles say; kube-bench's aks-1.8 stats the kubelet
    config there. AKS 3.2.7 needs eventRecordQPS set to 0 (kube-bench aks-1.8), EKS 3.2.7 any level >= 0.
  - 3.2.4 and 3.2.9 unset in a config file pass (the kubelet's defaults are port 0 and the gate on); kube-bench's
    eks-1.8.0 / aks-1.8 fail them unless set. Without a config file an unset 3.2.4 is the legacy port 10255 (FAIL).
- **3.2.2** checks every area CIS lists for the audit policy, by the API server's first-match rule: secrets,
  configmaps and tokenreviews at exactly Metadata (a higher level writes their contents to the log), every
  modifying verb on pods and deployments, and pods/exec, pods/portforward, pods/proxy and services/proxy at
  Metadata or above. The evidence gives each area's level and deciding rule. CIS also asks for Metadata on most
  other requests: that part stays a manual review.
""".splitlines()


def remediated_by_role():
    found = {}
    for vars_file in sorted(COLLECTION.glob("roles/*/vars/main.yml")):
        data = yaml.safe_load(vars_file.read_text()) or {}
        for key, controls in data.items():
            if key.endswith("_controls") and isinstance(controls, dict):
                for control_id in controls:
                    found[str(control_id)] = vars_file.parent.parent.name
    return found


def profile_rows() -> list[str]:
    import tempfile

    sys.path.insert(0, str(ROOT))
    from tests.testbed.nodetree import materialize

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for profile, name in PROFILE_TREES.items():
            root = Path(tmp) / profile
            materialize(root, PROFILE_ROLES.get(profile, "rancher") + ":" + profile, node="node")
            findings, _ = _cis.audit_node(str(root), _catalogue.load(name), node="node")
            counts = {status: sum(1 for f in findings if f["status"] == status) for status in ("pass", "fail", "warn", "info")}
            others = ", ".join(f"{f['id'][4:]} {f['status'].upper()}" for f in findings if f["status"] != "pass")
            rows.append(f"| {profile} | {name} | {counts['pass']} | {counts['fail']} | {counts['warn']} | {counts['info']} | {others} |")
    return rows


# k3s / RKE2 servers (tests/testbed/trees/control-plane.yml) judged on sections 1-3 (the control-plane targets).
SERVER_TREES = {"k3s-default": "k3s-cis-1.12", "k3s-hardened": "k3s-cis-1.12", "rke2-default": "rke2-cis-1.12", "rke2-hardened": "rke2-cis-1.12"}
SERVER_TARGETS = ("master", "controlplane", "etcd")


def server_rows() -> list[str]:
    import tempfile

    sys.path.insert(0, str(ROOT))
    from tests.testbed.nodetree import materialize

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for profile, name in SERVER_TREES.items():
            root = Path(tmp) / profile
            materialize(root, "control-plane:" + profile, node="node")
            findings, _ = _cis.audit_node(str(root), _catalogue.load(name), targets=SERVER_TARGETS, node="node")
            counts = {status: sum(1 for f in findings if f["status"] == status) for status in ("pass", "fail", "warn", "info")}
            others = ", ".join(f"{f['id'][4:]} {f['status'].upper()}" for f in findings if f["status"] in ("fail", "warn"))
            rows.append(f"| {profile} server | {name} | {counts['pass']} | {counts['fail']} | {counts['warn']} | {counts['info']} | {others} |")
    return rows


def render():
    roles = remediated_by_role()
    lines = [
        "# CIS coverage",
        "",
        "Generated by `scripts/gen_cis_coverage.py` from the catalogues in the collection's `data/cis/` and the",
        "hardening roles' control data; a test keeps it in step.",
        "",
        *HOW_NODES_ARE_READ,
        "",
    ]
    names = sorted(_catalogue.available(), key=lambda n: [int(p) if p.isdigit() else p for p in n.replace("-", ".").split(".")])
    catalogues = {name: _catalogue.load(name) for name in names}
    lines += [
        "## Catalogues",
        "",
        "Older benchmark versions are written as `extends: <newer>` plus the checks they add, change or remove",
        "(`plugins/plugin_utils/_catalogue.py` resolves them; `data/schemas/cis-catalogue.json` validates every file).",
        "",
        "| Catalogue | Kubernetes | Source | Written as | Checks |",
        "|---|---|---|---|---|",
    ]
    for name, cat in catalogues.items():
        base = _catalogue.extends(name)
        lines.append(
            f"| {name} | {', '.join(cat['kubernetes'])} | {cat.get('source', '')} | {('extends ' + base) if base else 'full file'} | {len(cat['checks'])} |"
        )
    lines += [
        "",
        "### Which catalogue a cluster gets",
        "",
        f"From the Kubernetes minor, with kube-bench's own `version_mapping` ({_cis_versions.KUBE_BENCH_SOURCE};",
        "data in `plugins/module_utils/_cis_versions.py`, which `cluster_facts` and the `kube_bench` module share).",
        "A minor newer than the table gets the newest catalogue; an older one the oldest, with a note.",
        "",
        "| Kubernetes | kube-bench benchmark | kubesec catalogue |",
        "|---|---|---|",
    ]
    shipped = {minor: name for name, minors in _cis_versions.CATALOGUES.items() for minor in minors}
    oldest = next(iter(_cis_versions.CATALOGUES))
    for minor, benchmark in sorted(_cis_versions.VERSION_MAPPING.items(), key=lambda item: tuple(int(p) for p in item[0].split("."))):
        lines.append(f"| {minor} | {benchmark} | {shipped.get(minor, oldest + ' (not shipped: ' + benchmark + ')')} |")
    lines += [
        "",
        "Distribution layouts (chosen by `cis_node_audit` from the node's files, or `distribution` in the inventory):",
        "",
        "| Distribution | Catalogue |",
        "|---|---|",
    ]
    for dist, name in _cis_versions.DISTRIBUTION_CATALOGUES.items():
        lines.append(f"| {dist} | {name} |")
    lines += [
        "",
        "### Distribution test hosts: what the installers write, judged by the catalogue",
        "",
        "The trees of `tests/testbed/trees/rancher.yml` (installer + first start; `-hardened`: plus what the",
        "distribution's CIS hardening guide has the operator write), audited as they are (before kubesec hardens",
        "them; after `node_hardening` every check passes except the `info` ones: molecule scenarios `k3s`, `rke2`),",
        "and of `tests/testbed/trees/managed.yml` (a default EKS / GKE / AKS node pool node; node target only).",
        "",
        "| Test host profile | Catalogue | PASS | FAIL | WARN | INFO | Not passing |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += profile_rows()
    lines += [
        "",
        "### k3s / RKE2 servers: sections 1-3",
        "",
        "The server trees of `tests/testbed/trees/control-plane.yml` (what a server's first start writes below",
        "`/var/lib/rancher/<dist>/server`, RKE2's static pods), control-plane targets only, with no journal: the",
        "k3s flags come from the model (docs/distributions.md). `info` counts the checks",
        "the self-assessment guides call Not Applicable and, on kine, the etcd target (one finding).",
        "",
        "| Test host profile | Catalogue | PASS | FAIL | WARN | INFO | FAIL / WARN |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += server_rows()
    lines.append("")
    for cat in catalogues.values():
        lines += [
            f"## {cat['version']} (Kubernetes {', '.join(cat.get('kubernetes', []))})",
            "",
            "| Id | Title | Scored | Severity | Audited by | Remediated by |",
            "|---|---|---|---|---|---|",
        ]
        for check in cat["checks"]:
            cid = str(check["id"])
            target = cat.get("target_sections", {}).get(cid.split(".", 1)[0], "node")
            role = roles.get(cid)
            if cat["version"] in _cis_versions.DISTRIBUTION_CATALOGUES.values():  # its own list (4.2.7: not applicable)
                listed = (cat.get("kubesec_remediation") or {}).get("controls") or {}
                role = next((r for r, ids in listed.items() if cid in ids), None)
            lines.append(
                f"| {cid} | {check['title']} | {'yes' if check['scored'] else 'manual'} | {check.get('severity', '')}"
                f" | cis_node_audit ({target}) | {('`' + role + '`') if role else 'audit only'} |"
            )
        lines.append("")
    lines += section5(catalogues)
    return "\n".join(lines)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if PAGE.is_file() and PAGE.read_text() == text else 1)
    PAGE.write_text(text)
