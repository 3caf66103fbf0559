"""Where the kubelet really takes its settings from, on kubeadm node trees (issue 14, "CIS verdicts that are wrong").

- 4.2.5: a zero streamingConnectionIdleTimeout in the --config file is replaced by the kubelet's 4h default
  (SetDefaults_KubeletConfiguration); a zero flag, or a zero in a --config-dir drop-in (merged after defaulting,
  without defaulting of its own), disables the timeout.
- A kubelet without --config reads no config file: the config-file checks do not apply, and unset settings take
  the kubelet's legacy flag defaults (applyLegacyDefaults: anonymous auth on, AlwaysAllow, read-only port 10255).
- --config-dir: every *.conf below the directory (filepath.WalkDir: lexical, into subdirectories), each a
  KubeletConfiguration, merged over --config as a JSON merge patch unmarshalled into the config already held
  (so null changes nothing); flags still win.
- 4.1.1 / 4.1.2: every file systemd builds kubelet.service from (the unit and each kubelet.service.d/*.conf).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue
from tests.conftest import assert_valid_findings, run_playbook
from tests.testbed.nodetree import materialize

CATALOGUES = {name: _catalogue.load(name) for name in ("cis-1.11", "cis-1.12")}
DROPIN = "etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
EXTRA_ARGS = "etc/default/kubelet"
CONFIG = "var/lib/kubelet/config.yaml"
# The unit the Debian/RPM kubelet package ships (kubernetes/release, cmd/krel/templates/latest/kubelet/kubelet.service).
PACKAGE_UNIT = """[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""


@pytest.fixture(params=sorted(CATALOGUES))
def catalogue(request):
    return CATALOGUES[request.param]


@pytest.fixture
def node(tmp_path):
    root = tmp_path / "node"
    materialize(root, "worker:kubeadm-default", node="w1")
    return root


def audit(root, catalogue):
    findings, context = _cis.audit_node(str(root), catalogue, cluster="c1", node="w1")
    assert_valid_findings(findings)
    return {f["id"].replace("CIS-", ""): f for f in findings}, context


def set_flags(root, flags):
    (Path(root) / EXTRA_ARGS).write_text(f'KUBELET_EXTRA_ARGS="{flags}"\n')


def write(root, rel, data, mode=0o600):
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    os.chmod(path, mode)
    return path


def fragment(**settings):
    return {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", **settings}


# --- 4.2.5 ------------------------------------------------------------------------------------------------
def test_zero_timeout_in_the_config_file_is_the_kubelet_default(node, catalogue):
    """kubeadm writes streamingConnectionIdleTimeout: 0s; the kubelet runs with 4h. Was WARN on every kubeadm node."""
    assert "streamingConnectionIdleTimeout: 0s" in (node / CONFIG).read_text()
    finding = audit(node, catalogue)[0]["4.2.5"]
    assert finding["status"] == "pass", finding["evidence"]
    assert finding["evidence"]["actual"] == "4h0m0s"
    assert "0s in the config file means the kubelet default 4h0m0s" in finding["evidence"]["note"]
    assert finding["evidence"]["source"] == "streamingConnectionIdleTimeout in /var/lib/kubelet/config.yaml"


@pytest.mark.parametrize(
    "flag", ["--streaming-connection-idle-timeout=0", "--streaming-connection-idle-timeout=0s", "--streaming-connection-idle-timeout 0m0s"]
)
def test_zero_timeout_as_a_flag_disables_it(node, catalogue, flag):
    set_flags(node, flag)
    finding = audit(node, catalogue)[0]["4.2.5"]
    assert finding["status"] == "warn", finding["evidence"]  # unscored (Manual): a failure is WARN
    assert finding["evidence"]["source"].startswith("flag --streaming-connection-idle-timeout")
    assert "means the kubelet default" not in finding["evidence"].get("note", "")


def test_a_nonzero_flag_wins_over_the_file(node, catalogue):
    set_flags(node, "--streaming-connection-idle-timeout=5m")
    assert audit(node, catalogue)[0]["4.2.5"]["evidence"]["actual"] == "5m"


def test_zero_timeout_in_a_dropin_is_not_defaulted(node, catalogue):
    write(node, "etc/kubernetes/kubelet.conf.d/50-timeout.conf", fragment(streamingConnectionIdleTimeout="0s"))
    set_flags(node, "--config-dir=/etc/kubernetes/kubelet.conf.d")
    finding = audit(node, catalogue)[0]["4.2.5"]
    assert finding["status"] == "warn", finding["evidence"]
    assert finding["evidence"]["source"] == "streamingConnectionIdleTimeout in /etc/kubernetes/kubelet.conf.d/50-timeout.conf"


# --- kubelet without --config -------------------------------------------------------------------------------
def flags_only(root, flags):
    """The kubeadm drop-in without KUBELET_CONFIG_ARGS: the kubelet runs from flags alone."""
    path = root / DROPIN
    path.write_text(
        path.read_text().replace(" $KUBELET_CONFIG_ARGS", "").replace('Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"\n', "")
    )
    set_flags(root, flags)


SECURE_FLAGS = (
    "--anonymous-auth=false --authorization-mode=Webhook --client-ca-file=/etc/kubernetes/pki/ca.crt "
    "--read-only-port=0 --tls-cert-file=/var/lib/kubelet/pki/kubelet.crt "
    "--tls-private-key-file=/var/lib/kubelet/pki/kubelet.key --pod-max-pids=4096 --seccomp-default "
    "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
)


def test_flags_only_config_file_checks_do_not_apply(node, catalogue):
    """Was: 4.1.9 PASS/FAIL on a file the kubelet does not read, 4.1.10 FAIL 'file not found' once it is gone."""
    flags_only(node, SECURE_FLAGS)
    os.unlink(node / CONFIG)
    result, context = audit(node, catalogue)
    for cis_id in ("4.1.9", "4.1.10"):
        assert result[cis_id]["status"] == "info", result[cis_id]["evidence"]
        assert result[cis_id]["evidence"]["note"].startswith("not applicable: no config file in use")
    assert context["components"]["kubelet"]["config_path"] is None
    assert "without --config" in context["components"]["kubelet"]["no_config"]


def test_flags_only_settings_come_from_flags_and_defaults(node, catalogue):
    """Was: every config-backed setting 'cannot evaluate (config file unreadable)'."""
    flags_only(node, SECURE_FLAGS)
    result, _ = audit(node, catalogue)
    assert not [k for k, f in result.items() if "cannot evaluate" in str(f["evidence"]["actual"])]
    for cis_id in ("4.2.1", "4.2.2", "4.2.3", "4.2.4", "4.2.5", "4.2.9", "4.2.11", "4.2.12", "4.2.13", "4.2.14"):
        assert result[cis_id]["status"] == "pass", (cis_id, result[cis_id]["evidence"])
    assert result["4.2.1"]["evidence"]["source"].startswith("flag --anonymous-auth")
    # an existing config.yaml that nothing reads is named as such, not judged
    assert "/var/lib/kubelet/config.yaml exists but the kubelet does not read it" in result["4.1.9"]["evidence"]["note"]


def test_flags_only_unset_settings_take_the_legacy_flag_defaults(node, catalogue):
    """Without a config file the kubelet defaults to anonymous auth, AlwaysAllow and read-only port 10255."""
    flags_only(node, "--client-ca-file=/etc/kubernetes/pki/ca.crt")
    result, _ = audit(node, catalogue)
    assert (result["4.2.1"]["status"], result["4.2.1"]["evidence"]["actual"]) == ("fail", "true")
    assert (result["4.2.2"]["status"], result["4.2.2"]["evidence"]["actual"]) == ("fail", "AlwaysAllow")
    # with a config file an unset readOnlyPort is 0 (pass); without one it is 10255
    assert (result["4.2.4"]["status"], result["4.2.4"]["evidence"]["actual"]) == ("warn", "10255")
    assert "no config file in use" in result["4.2.4"]["evidence"]["source"]
    assert result["4.2.5"]["status"] == "pass"  # unset: the 4h default either way
    assert result["4.2.13"]["status"] == "warn" and "no config file in use" in result["4.2.13"]["evidence"]["source"]


def test_with_a_config_file_an_unset_read_only_port_is_zero(node, catalogue):
    assert "readOnlyPort" not in (node / CONFIG).read_text()
    assert audit(node, catalogue)[0]["4.2.4"]["status"] == "pass"


# --- --config-dir drop-ins ----------------------------------------------------------------------------------
HARDENING_DROPIN = fragment(
    tlsCertFile="/var/lib/kubelet/pki/kubelet.crt",
    tlsPrivateKeyFile="/var/lib/kubelet/pki/kubelet.key",
    tlsCipherSuites=["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"],
    podPidsLimit=4096,
    seccompDefault=True,
)


def test_settings_made_secure_in_a_dropin_pass(node, catalogue):
    """Was: the drop-in was ignored and 4.2.9 / 4.2.12 / 4.2.13 / 4.2.14 kept warning."""
    before = audit(node, catalogue)[0]
    assert {before[k]["status"] for k in ("4.2.9", "4.2.12", "4.2.13", "4.2.14")} == {"warn"}
    write(node, "etc/kubernetes/kubelet.conf.d/20-hardening.conf", HARDENING_DROPIN)
    set_flags(node, "--config-dir=/etc/kubernetes/kubelet.conf.d")
    result, context = audit(node, catalogue)
    for cis_id in ("4.2.9", "4.2.12", "4.2.13", "4.2.14"):
        assert result[cis_id]["status"] == "pass", (cis_id, result[cis_id]["evidence"])
    assert result["4.2.13"]["evidence"]["source"] == "podPidsLimit in /etc/kubernetes/kubelet.conf.d/20-hardening.conf"
    assert result["4.2.13"]["evidence"]["merged_from"] == ["/var/lib/kubelet/config.yaml", "/etc/kubernetes/kubelet.conf.d/20-hardening.conf"]
    # settings the drop-in does not touch still come from config.yaml
    assert result["4.2.1"]["evidence"]["source"] == "authentication.anonymous.enabled in /var/lib/kubelet/config.yaml"
    assert context["components"]["kubelet"]["config_files"][-1] == "/etc/kubernetes/kubelet.conf.d/20-hardening.conf"


def test_dropins_merge_in_lexical_walk_order(node, catalogue):
    base = "etc/kubernetes/kubelet.conf.d"
    write(node, f"{base}/10-a.conf", fragment(podPidsLimit=100, authentication={"anonymous": {"enabled": True}}))
    write(node, f"{base}/20-b.conf", fragment(podPidsLimit=200))
    # WalkDir visits 20-b.conf, then the directory 30-more/, then 40-c.conf
    write(node, f"{base}/30-more/00-x.conf", fragment(readOnlyPort=10255))
    write(node, f"{base}/40-c.conf", fragment(authentication={"anonymous": {"enabled": False}}, readOnlyPort=0))
    write(node, f"{base}/50-ignored.yaml", fragment(podPidsLimit=-1, authorization={"mode": "AlwaysAllow"}))
    set_flags(node, "--config-dir=/etc/kubernetes/kubelet.conf.d")
    result, context = audit(node, catalogue)
    assert result["4.2.13"]["evidence"]["actual"] == "200"
    assert result["4.2.1"]["status"] == "pass" and result["4.2.1"]["evidence"]["source"].endswith("40-c.conf")
    assert result["4.2.4"]["status"] == "pass"
    assert result["4.2.2"]["status"] == "pass"  # the .yaml file is not a drop-in
    assert context["components"]["kubelet"]["config_files"] == [
        "/var/lib/kubelet/config.yaml",
        f"/{base}/10-a.conf",
        f"/{base}/20-b.conf",
        f"/{base}/30-more/00-x.conf",
        f"/{base}/40-c.conf",
    ]
    # the merge keeps sibling keys of a nested mapping (webhook stays from config.yaml)
    assert result["4.2.2"]["evidence"]["source"] == "authorization.mode in /var/lib/kubelet/config.yaml"


def test_a_null_in_a_dropin_changes_nothing(node, catalogue):
    """The merged JSON is unmarshalled into the config the kubelet already holds: a key nulled out keeps its value."""
    write(node, "etc/kubernetes/kubelet.conf.d/10.conf", fragment(authentication={"x509": None}, podPidsLimit=None))
    set_flags(node, "--config-dir=/etc/kubernetes/kubelet.conf.d")
    result, _ = audit(node, catalogue)
    assert result["4.2.3"]["status"] == "pass"
    assert result["4.2.3"]["evidence"]["source"] == "authentication.x509.clientCAFile in /var/lib/kubelet/config.yaml"


def test_flags_still_win_over_dropins(node, catalogue):
    write(node, "etc/kubernetes/kubelet.conf.d/10.conf", fragment(readOnlyPort=0))
    set_flags(node, "--config-dir=/etc/kubernetes/kubelet.conf.d --read-only-port=10255")
    assert audit(node, catalogue)[0]["4.2.4"]["status"] == "warn"


def test_dropins_without_a_config_file(node, catalogue):
    flags_only(node, "--config-dir=/etc/kubelet.d")
    write(node, "etc/kubelet.d/10.conf", fragment(authentication={"anonymous": {"enabled": False}}, readOnlyPort=0))
    result, _ = audit(node, catalogue)
    assert result["4.2.1"]["status"] == "pass" and result["4.2.1"]["evidence"]["source"] == "authentication.anonymous.enabled in /etc/kubelet.d/10.conf"
    assert result["4.2.2"]["evidence"]["actual"] == "AlwaysAllow"  # the flag default still applies
    assert result["4.1.9"]["status"] == "info"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("podPidsLimit: 4096\n", "must declare apiVersion and kind: KubeletConfiguration"),
        ("kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\npodPidsLimit: [\n", "not valid YAML"),
        ("- a\n- list\n", "must hold a mapping"),
    ],
)
def test_a_bad_dropin_is_named(node, catalogue, content, error):
    write(node, "etc/kubernetes/kubelet.conf.d/30-bad.conf", content)
    set_flags(node, "--config-dir=/etc/kubernetes/kubelet.conf.d")
    finding = audit(node, catalogue)[0]["4.2.1"]
    assert finding["status"] == "fail" and "cannot evaluate" in finding["evidence"]["actual"]
    assert error in finding["evidence"]["error"] and "/etc/kubernetes/kubelet.conf.d/30-bad.conf" in finding["evidence"]["error"]


def test_a_missing_config_dir_is_named(node, catalogue):
    set_flags(node, "--config-dir=/etc/nowhere.d")
    finding = audit(node, catalogue)[0]["4.2.1"]
    assert "--config-dir /etc/nowhere.d does not exist" in finding["evidence"]["error"]


def test_merge_dropin():
    target = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert _cis.merge_dropin(target, {"a": {"c": [3], "e": None}, "d": None, "f": {"g": 2}}) == {"a": {"b": 1, "c": [3]}, "d": 1, "f": {"g": 2}}
    assert target == {"a": {"b": 1, "c": [1, 2]}, "d": 1}  # not changed in place


# --- 4.1.1 / 4.1.2: every file of the unit --------------------------------------------------------------------
def with_package_unit(root, unit_mode):
    write(root, "lib/systemd/system/kubelet.service", PACKAGE_UNIT, unit_mode)


def test_a_loose_unit_next_to_a_tight_dropin_fails(node, catalogue):
    """Was: only 10-kubeadm.conf was judged, so a 0644 kubelet.service passed."""
    with_package_unit(node, 0o644)
    os.chmod(node / DROPIN, 0o600)
    finding = audit(node, catalogue)[0]["4.1.1"]
    assert finding["status"] == "fail", finding["evidence"]
    assert finding["evidence"]["offending"] == [{"file": "/lib/systemd/system/kubelet.service", "actual": "644"}]
    assert [(f["file"], f["actual"]) for f in finding["evidence"]["files"]] == [("/lib/systemd/system/kubelet.service", "644"), ("/" + DROPIN, "600")]
    assert finding["evidence"]["actual"] == "/lib/systemd/system/kubelet.service (644)"


def test_every_unit_file_tight_passes(node, catalogue):
    with_package_unit(node, 0o600)
    os.chmod(node / DROPIN, 0o600)
    write(node, "etc/systemd/system/kubelet.service.d/20-extra.conf", "[Service]\nCPUAccounting=true\n", 0o600)
    finding = audit(node, catalogue)[0]["4.1.1"]
    assert finding["status"] == "pass" and finding["evidence"]["checked"] == 3


def test_a_loose_second_dropin_fails(node, catalogue):
    os.chmod(node / DROPIN, 0o600)
    write(node, "etc/systemd/system/kubelet.service.d/20-extra.conf", "[Service]\nCPUAccounting=true\n", 0o664)
    finding = audit(node, catalogue)[0]["4.1.1"]
    assert finding["status"] == "fail"
    assert finding["evidence"]["file"] == "/etc/systemd/system/kubelet.service.d/20-extra.conf"


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_unit_file_owners_are_each_named(node, catalogue):
    with_package_unit(node, 0o600)
    assert audit(node, catalogue)[0]["4.1.2"]["status"] == "pass"
    os.chown(node / "lib/systemd/system/kubelet.service", 65534, 65534)
    finding = audit(node, catalogue)[0]["4.1.2"]
    assert finding["status"] == "fail"
    assert finding["evidence"]["offending"][0]["file"] == "/lib/systemd/system/kubelet.service"
    assert finding["evidence"]["offending"][0]["uid"] == 65534
    assert [f["file"] for f in finding["evidence"]["files"]] == ["/lib/systemd/system/kubelet.service", "/" + DROPIN]


def test_no_kubelet_unit_still_fails_4_1_1(tmp_path, catalogue):
    (tmp_path / "empty").mkdir()
    finding = audit(tmp_path / "empty", catalogue)[0]["4.1.1"]
    assert finding["status"] == "fail" and "no kubelet systemd unit" in finding["evidence"]["note"]


def test_unit_files_are_judged_even_when_the_command_cannot_be_worked_out(node, catalogue):
    path = node / DROPIN
    path.write_text(path.read_text().replace("EnvironmentFile=-/etc/default/kubelet", "EnvironmentFile=/etc/missing"))
    os.chmod(path, 0o644)
    result, _ = audit(node, catalogue)
    assert result["4.1.1"]["status"] == "fail"
    assert result["4.1.1"]["evidence"]["offending"] == [{"file": "/" + DROPIN, "actual": "644"}]
    assert "/etc/missing" in result["4.2.1"]["evidence"]["error"]


HARDEN_FILES = """- name: Node hardening of one node tree, file controls only
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    kubesec_cluster: t
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  roles:
    - role: kubesec.cluster.node_hardening
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the role sets root ownership")
def test_node_hardening_fixes_every_offending_unit_file(node, tmp_path):
    """A package layout (pkgs.k8s.io): unit and drop-in both 0644 under /usr/lib. One run must fix both."""
    write(node, "usr/lib/systemd/system/kubelet.service", PACKAGE_UNIT, 0o644)
    package_dropin = node / "usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"
    package_dropin.parent.mkdir(parents=True)
    os.rename(node / DROPIN, package_dropin)
    os.chmod(package_dropin, 0o644)
    before = audit(node, CATALOGUES["cis-1.12"])[0]["4.1.1"]
    assert len(before["evidence"]["offending"]) == 2
    playbook = tmp_path / "harden.yml"
    playbook.write_text(HARDEN_FILES)
    run_playbook(playbook, "--tags", "cis_4_1", "-e", json.dumps({"kubesec_node_root": str(node)}))
    after = audit(node, CATALOGUES["cis-1.12"])[0]
    assert after["4.1.1"]["status"] == "pass", after["4.1.1"]["evidence"]
    assert after["4.1.2"]["status"] == "pass"
    second = run_playbook(playbook, "--tags", "cis_4_1", "-e", json.dumps({"kubesec_node_root": str(node)}))
    assert "changed=0" in second.stdout
