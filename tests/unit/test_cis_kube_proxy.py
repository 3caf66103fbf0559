"""CIS 4.3.1 where kube-proxy is a DaemonSet (kubeadm): judged from the ConfigMap kube-system/kube-proxy.

Was: "info, not applicable" on every kubeadm node, although the cluster's kube-proxy may serve its metrics on
every interface. Now the ConfigMap's config.conf (a KubeProxyConfiguration) decides, from an export file or the
API; without either 4.3.1 is WARN and says how to provide it.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis, _cis_kube_proxy, _kube
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue
from tests.conftest import VENV_BIN, ansible_env, assert_valid_findings
from tests.fakes import fixtures as fake_fixtures
from tests.testbed.nodetree import materialize

fake_kube_api = fake_fixtures.fake_kube_api  # pytest fixtures of the fake API server
fake_kubeconfig = fake_fixtures.fake_kubeconfig

CATALOGUES = {name: _catalogue.load(name) for name in ("cis-1.11", "cis-1.12")}

# What `kubeadm init` (v1.33) stores, as `kubectl -n kube-system get configmap kube-proxy -o yaml` prints it.
KUBEADM_CONFIG_CONF = """apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: ""
  interfaceNamePrefix: ""
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
    text:
      infoBufferSize: "0"
  verbosity: 0
metricsBindAddress: ""
mode: ""
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
showHiddenMetricsForVersion: ""
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
"""
KUBECONFIG_CONF = """apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: https://10.0.0.10:6443
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
"""


def configmap(metrics=""):
    text = KUBEADM_CONFIG_CONF.replace('metricsBindAddress: ""', "metricsBindAddress: %s" % json.dumps(metrics))
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "kube-proxy",
            "namespace": "kube-system",
            "labels": {"app": "kube-proxy"},
            "annotations": {"kubeadm.kubernetes.io/component-config.hash": "sha256:0f0e"},
            "resourceVersion": "250",
            "uid": "3c1e9a52-7d0c-4f3e-9a0e-2f9a8b1c0d11",
            "creationTimestamp": "2026-11-01T10:00:00Z",
        },
        "data": {"config.conf": text, "kubeconfig.conf": KUBECONFIG_CONF},
    }


@pytest.fixture(params=sorted(CATALOGUES))
def catalogue(request):
    return CATALOGUES[request.param]


@pytest.fixture
def node(tmp_path):
    root = tmp_path / "node"
    materialize(root, "worker:kubeadm-default", node="w1")
    return root


def proxy_finding(root, catalogue, info):
    findings, context = _cis.audit_node(str(root), catalogue, node="w1", cluster_configs={"kube-proxy": info})
    assert_valid_findings(findings)
    return {f["id"]: f for f in findings}["CIS-4.3.1"], context


def export(tmp_path, *docs, name="kube-proxy.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


@pytest.mark.parametrize(
    ("metrics", "status", "actual"),
    [
        ("", "pass", "127.0.0.1:10249"),  # kubeadm's default: empty = kube-proxy's default 127.0.0.1:10249
        ("127.0.0.1:10249", "pass", "127.0.0.1:10249"),
        ("[::1]:10249", "pass", "[::1]:10249"),
        ("0.0.0.0:10249", "fail", "0.0.0.0:10249"),
        ("10.0.0.21:10249", "fail", "10.0.0.21:10249"),
        ("[::]:10249", "fail", "[::]:10249"),
    ],
)
def test_verdict_from_the_exported_configmap(node, tmp_path, catalogue, metrics, status, actual):
    info = _cis_kube_proxy.from_export(export(tmp_path, configmap(metrics)))
    finding, context = proxy_finding(node, catalogue, info)
    assert (finding["status"], finding["evidence"]["actual"]) == (status, actual), finding["evidence"]
    assert "ConfigMap kube-system/kube-proxy (key config.conf)" in finding["evidence"]["source"]
    assert str(tmp_path / "kube-proxy.yaml") in finding["evidence"]["source"]
    if not metrics:
        assert finding["evidence"]["note"] == "not set: the kube-proxy default is 127.0.0.1:10249"
    # nothing for the node hardening to write: the config lives in the cluster
    assert context["components"]["kube-proxy"]["config_path"] is None
    assert context["components"]["kube-proxy"]["cluster_source"].startswith("ConfigMap kube-system/kube-proxy")


def test_list_and_json_exports(node, tmp_path, catalogue):
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"}, "data": {"Corefile": ".:53 {}"}}
    listed = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [other, configmap("0.0.0.0:10249")]}
    path = tmp_path / "all.json"
    path.write_text(json.dumps(listed))
    assert proxy_finding(node, catalogue, _cis_kube_proxy.from_export(str(path)))[0]["status"] == "fail"
    multi = export(tmp_path, other, configmap(), name="multi.yaml")
    assert proxy_finding(node, catalogue, _cis_kube_proxy.from_export(multi))[0]["status"] == "pass"


def test_an_export_without_the_configmap_is_an_error_naming_it(tmp_path):
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-proxy", "namespace": "default"}}
    path = export(tmp_path, other)
    with pytest.raises(
        _cis_kube_proxy.KubeProxyInputError,
        match=r"holds no ConfigMap kube-system/kube-proxy "
        r"\(found: ConfigMap default/kube-proxy\)",
    ):
        _cis_kube_proxy.from_export(path)
    (tmp_path / "bad.yaml").write_text("data: [\n")
    with pytest.raises(_cis_kube_proxy.KubeProxyInputError, match="bad.yaml is not valid YAML or JSON"):
        _cis_kube_proxy.from_export(str(tmp_path / "bad.yaml"))
    with pytest.raises(_cis_kube_proxy.KubeProxyInputError, match="does not exist"):
        _cis_kube_proxy.from_export(str(tmp_path / "nowhere.yaml"))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"kubeconfig.conf": KUBECONFIG_CONF}, "has no data key config.conf (keys: kubeconfig.conf)"),
        ({"config.conf": "kind: KubeletConfiguration\n"}, "is not a KubeProxyConfiguration"),
        ({"config.conf": "metricsBindAddress: [\n"}, "is not valid YAML"),
    ],
)
def test_an_unusable_config_conf_cannot_be_judged(node, tmp_path, catalogue, data, error):
    cm = configmap()
    cm["data"] = data
    finding, _ = proxy_finding(node, catalogue, _cis_kube_proxy.from_export(export(tmp_path, cm)))
    assert finding["status"] == "fail" and "cannot evaluate" in finding["evidence"]["actual"]
    assert error in finding["evidence"]["error"]


def test_from_the_api(node, catalogue, fake_kube_api, fake_kubeconfig):
    fake_kube_api.add(configmap("0.0.0.0:10249"))
    client = _kube.build_client(kubeconfig=fake_kubeconfig)
    finding, _ = proxy_finding(node, catalogue, _cis_kube_proxy.from_api(client))
    assert finding["status"] == "fail"
    assert "from the API (kubeconfig %s" % fake_kubeconfig in finding["evidence"]["source"]


def test_no_configmap_in_the_cluster_is_not_applicable(node, catalogue, fake_kube_api, fake_kubeconfig):
    info = _cis_kube_proxy.from_api(_kube.build_client(kubeconfig=fake_kubeconfig))
    finding, _ = proxy_finding(node, catalogue, info)
    assert finding["status"] == "info"
    assert "runs without kube-proxy" in finding["evidence"]["note"]


def test_an_api_that_cannot_be_asked_warns_with_the_reason(node, catalogue, fake_kube_api, fake_kubeconfig):
    fake_kube_api.add(configmap())
    fake_kube_api.forbid("configmaps", verb="get", namespace="kube-system")
    info = _cis_kube_proxy.from_api(_kube.build_client(kubeconfig=fake_kubeconfig))
    assert "unavailable" in info
    finding, _ = proxy_finding(node, catalogue, info)
    assert finding["status"] == "warn"
    assert "cannot read the kube-system/kube-proxy ConfigMap" in finding["evidence"]["note"]
    assert "kubesec_kube_proxy_configmap" in finding["evidence"]["note"]  # and how to provide it


def test_without_a_cluster_config_it_warns_saying_what_is_missing(node, catalogue):
    findings, _ = _cis.audit_node(str(node), catalogue, node="w1")
    finding = {f["id"]: f for f in findings}["CIS-4.3.1"]
    assert finding["status"] == "warn"
    assert "kube-system/kube-proxy" in finding["evidence"]["note"] and "kubesec_kubeconfig" in finding["evidence"]["note"]


def test_a_kube_proxy_on_the_node_wins_over_the_configmap(node, tmp_path, catalogue):
    unit = node / "etc/systemd/system/kube-proxy.service"
    unit.write_text("[Service]\nExecStart=/usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/config.conf\n")
    conf = node / "var/lib/kube-proxy/config.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(KUBEADM_CONFIG_CONF.replace('metricsBindAddress: ""', "metricsBindAddress: 0.0.0.0:10249"))
    info = _cis_kube_proxy.from_export(export(tmp_path, configmap("127.0.0.1:10249")))
    finding, context = proxy_finding(node, catalogue, info)
    assert finding["status"] == "fail"
    assert finding["evidence"]["source"] == "metricsBindAddress in /var/lib/kube-proxy/config.conf"
    assert context["components"]["kube-proxy"]["config_path"] == "/var/lib/kube-proxy/config.conf"


def test_the_action_plugin_reads_the_export_on_the_controller(node, tmp_path):
    """The real module through ansible: kube_proxy_configmap is read by the action plugin, never sent as a path."""
    path = export(tmp_path, configmap("0.0.0.0:10249"))
    run = subprocess.run(
        [
            str(VENV_BIN / "ansible"),
            "localhost",
            "-c",
            "local",
            "-m",
            "kubesec.cluster.cis_node_audit",
            "-a",
            json.dumps({"root": str(node), "kube_proxy_configmap": path}),
            "-o",
        ],
        capture_output=True,
        text=True,
        env=ansible_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.split(" => ", 1)[1])
    finding = {f["id"]: f for f in result["findings"]}["CIS-4.3.1"]
    assert finding["status"] == "fail" and path in finding["evidence"]["source"]
    bad = export(tmp_path, copy.deepcopy({"kind": "ConfigMap", "metadata": {"name": "x"}}), name="bad.yaml")
    run = subprocess.run(
        [
            str(VENV_BIN / "ansible"),
            "localhost",
            "-c",
            "local",
            "-m",
            "kubesec.cluster.cis_node_audit",
            "-a",
            json.dumps({"root": str(node), "kube_proxy_configmap": bad}),
            "-o",
        ],
        capture_output=True,
        text=True,
        env=ansible_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode != 0 and "kube_proxy_configmap: %s holds no ConfigMap kube-system/kube-proxy" % bad in run.stdout


def test_export_size_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(_cis_kube_proxy, "MAX_EXPORT_BYTES", 100)
    path = export(tmp_path, configmap())
    assert os.path.getsize(path) > 100
    with pytest.raises(_cis_kube_proxy.KubeProxyInputError, match="larger than"):
        _cis_kube_proxy.from_export(path)


def test_an_unusable_kubeconfig_only_leaves_4_3_1_undecided(node, tmp_path):
    """kubesec_kubeconfig is shared with the collect role; a wrong one must not stop the node audit."""
    run = subprocess.run(
        [
            str(VENV_BIN / "ansible"),
            "localhost",
            "-c",
            "local",
            "-m",
            "kubesec.cluster.cis_node_audit",
            "-a",
            json.dumps({"root": str(node), "kubeconfig": str(tmp_path / "nowhere.yaml")}),
            "-o",
        ],
        capture_output=True,
        text=True,
        env=ansible_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.split(" => ", 1)[1])
    finding = {f["id"]: f for f in result["findings"]}["CIS-4.3.1"]
    assert finding["status"] == "warn"
    assert "kubeconfig %s does not exist" % (tmp_path / "nowhere.yaml") in finding["evidence"]["note"]
    assert result["summary"]["total"] == 25


def test_a_hand_made_kube_proxy_config_is_checked_by_key(node, tmp_path):
    run = subprocess.run(
        [
            str(VENV_BIN / "ansible"),
            "localhost",
            "-c",
            "local",
            "-m",
            "kubesec.cluster.cis_node_audit",
            "-a",
            json.dumps({"root": str(node), "kube_proxy_config": {"metricsBindAddress": "0.0.0.0"}}),
            "-o",
        ],
        capture_output=True,
        text=True,
        env=ansible_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode != 0
    assert "kube_proxy_config must hold source and one of config, error, absent, unavailable" in run.stdout
