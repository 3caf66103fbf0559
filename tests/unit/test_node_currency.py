"""Node currency (issue 23): pending security updates, reboot, automatic updates, versions and skew, from node files.

tests/fixtures/node_currency/debian-tree: paragraphs copied from a real Debian 12 dpkg status and from the real
bookworm-security / bookworm-updates Packages lists and InRelease headers (2026-12-06); the kernel, kubelet,
containerd, runc and unattended-upgrades records are written in the same format; openssh-client's installed version
was lowered so the updates suite (not a security suite) has a newer one.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import struct
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _node_currency as nc
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _currency_data
from tests.conftest import COLLECTION

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "node_currency"
DATA = _currency_data.load()
NOW = time.time()


@pytest.fixture
def debian(tmp_path):
    root = tmp_path / "node"
    shutil.copytree(FIXTURES / "debian-tree", root)
    return root


def by_id(findings):
    out = {}
    for f in findings:
        out.setdefault(f["id"], []).append(f)
    return out


def test_debian_tree_pending_security_updates_only_from_security_suites(debian, findings_valid):
    findings, state = nc.assess(str(debian), DATA, cluster="c", node="w1", now=NOW)
    findings_valid(findings)
    pending = {p["package"]: p for p in state["pending"]}
    # newer in bookworm-security: libpam0g, libssl3, openssl, tzdata (arch all), zlib1g (epoch 1:)
    assert sorted(pending) == ["libpam0g", "libssl3", "openssl", "tzdata", "zlib1g"]
    assert pending["libssl3"]["installed_version"] == "3.0.19-1~deb12u2"
    assert pending["libssl3"]["fixed_version"] == "3.0.22-1~deb12u2"
    assert pending["zlib1g"]["fixed_version"] == "1:1.2.13.dfsg-1+deb12u1"
    assert pending["tzdata"]["arch"] == "all"
    # libc6 is older in the security suite than installed; openssh-client is newer only in bookworm-updates
    assert "libc6" not in pending and "openssh-client" not in pending
    ks1 = by_id(findings)["KS-NODE-001"]
    assert {f["evidence"]["package"] for f in ks1} == set(pending)
    assert all(f["status"] == "fail" and f["severity"] == "medium" for f in ks1)
    assert ks1[0]["resource"]["kind"] == "Package"
    assert state["lists"][0]["suite"] == "bookworm-security"


def test_debian_reboot_kernel_and_auto_updates(debian):
    findings, _state = nc.assess(str(debian), DATA, cluster="c", node="w1", now=NOW)
    reboot = by_id(findings)["KS-NODE-002"][0]
    assert reboot["status"] == "fail"
    assert "/run/reboot-required exists" in reboot["evidence"]["actual"]
    assert "running kernel 6.1.0-18-amd64, newest installed 6.1.0-28-amd64" in reboot["evidence"]["actual"]
    assert reboot["evidence"]["packages"] == "libssl3, linux-image-6.1.0-28-amd64"
    assert reboot["evidence"]["uptime_days"] == 40.0
    # 20auto-upgrades turns it on, 99local-off (nested syntax, later file) turns it off; the package is removed
    auto = by_id(findings)["KS-NODE-003"][0]
    assert auto["status"] == "warn"
    assert "Unattended-Upgrade = 0" in auto["evidence"]["actual"]


def test_auto_updates_on_when_configured_and_installed(debian):
    (debian / "etc/apt/apt.conf.d/99local-off").unlink()
    status = debian / "var/lib/dpkg/status"
    status.write_text(status.read_text().replace("Status: deinstall ok config-files", "Status: install ok installed"))
    findings, _ = nc.assess(str(debian), DATA, node="w1", now=NOW)
    assert by_id(findings)["KS-NODE-003"][0]["status"] == "pass"


def test_versions_old_runc_and_containerd_and_skew(debian):
    findings, state = nc.assess(str(debian), DATA, node="w1", control_plane_version="v1.33.2", now=NOW)
    assert state["components"]["kubelet"]["release"] == "1.29.4"
    assert state["components"]["runc"]["release"] == "1.1.5"
    runc = by_id(findings)["KS-NODE-005"][0]
    assert runc["status"] == "fail" and runc["severity"] == "high"
    assert "CVE-2024-21626" in runc["title"] and "CVE-2025-52881" in runc["title"]
    assert "CVE-2019-5736" not in runc["title"]
    assert "backported" in runc["evidence"]["note"]
    containerd = by_id(findings)["KS-NODE-006"][0]
    assert containerd["status"] == "pass"  # 1.6.20 is above 1.6.1 (CVE-2022-23648) and 1.4.3
    skew = by_id(findings)["KS-NODE-004"][0]
    assert skew["status"] == "fail" and "4 minor versions older" in skew["evidence"]["actual"]


@pytest.mark.parametrize(
    ("kubelet", "apiserver", "state"),
    [
        ("1.33.1", "v1.33.2", "ok"),
        ("1.30.0", "1.33.0", "ok"),
        ("1.29.9", "1.33.0", "unsupported"),
        ("1.34.0", "1.33.9", "unsupported"),
        ("1.22.0", "1.24.0", "ok"),
        ("1.21.0", "1.24.0", "unsupported"),
        ("1.33.0", None, "unknown"),
    ],
)
def test_skew_policy(kubelet, apiserver, state):
    assert nc.skew(kubelet, apiserver)["state"] == state


@pytest.mark.parametrize(
    ("release", "cves"),
    [
        ("1.0.0-rc6", {"CVE-2019-5736", "CVE-2024-21626", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"}),
        ("1.1.11", {"CVE-2024-21626", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"}),
        ("1.1.12", {"CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"}),
        ("1.2.7", {"CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"}),
        ("1.2.8", set()),
        ("1.3.2", {"CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"}),
        ("1.3.3", set()),
        ("1.4.0-rc2", {"CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"}),
        ("1.4.0", set()),
    ],
)
def test_runc_cve_table(release, cves):
    rows = nc.escape_cves("runc", release, DATA["container_escape_cves"])
    assert {row["cve"] for row in rows} == cves


def test_control_plane_reads_its_own_apiserver_manifest(debian):
    manifests = debian / "etc/kubernetes/manifests"
    manifests.mkdir(parents=True)
    (manifests / "kube-apiserver.yaml").write_text("spec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.30.4\n")
    findings, state = nc.assess(str(debian), DATA, node="cp", now=NOW)
    assert state["apiserver"]["version"] == "v1.30.4"
    assert by_id(findings)["KS-NODE-004"][0]["status"] == "pass"


def test_gzip_lists_and_stale_lists(debian):
    lists = debian / "var/lib/apt/lists"
    plain = lists / "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages"
    gz = plain.with_name(plain.name + ".gz")
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    old = NOW - 30 * 86400
    import os

    os.utime(gz, (old, old))
    findings, state = nc.assess(str(debian), DATA, node="w1", now=NOW)
    assert len(state["pending"]) == 5
    assert by_id(findings)["KS-NODE-008"][0]["status"] == "warn"


def test_lz4_offline_is_named_not_an_empty_success(debian):
    lists = debian / "var/lib/apt/lists"
    plain = lists / "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages"
    plain.rename(plain.with_name(plain.name + ".lz4"))
    findings, _state = nc.assess(str(debian), DATA, node="w1", live=False, now=NOW)
    assert not any(f["id"] == "KS-NODE-001" and f["status"] == "pass" for f in findings)
    problem = by_id(findings)["KS-NODE-007"][0]
    assert problem["status"] == "warn" and "lz4 compression cannot be read offline" in problem["evidence"]["actual"]


def test_broken_dpkg_status_names_the_file_and_line(debian):
    (debian / "var/lib/dpkg/status").write_text("Package: x\nthis is not deb822\n")
    findings, _ = nc.assess(str(debian), DATA, node="w1", now=NOW)
    problem = by_id(findings)["KS-NODE-007"][0]
    assert "/var/lib/dpkg/status: line 2: not a deb822 field line" in problem["evidence"]["actual"]


def test_unsupported_family_is_info(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text('ID=alpine\nPRETTY_NAME="Alpine Linux v3.20"\n')
    findings, state = nc.assess(str(tmp_path), DATA, node="n", now=NOW)
    assert state["family"] is None
    assert by_id(findings)["KS-NODE-007"][0]["status"] == "info"


# ------------------------------------------------------------------------------------------------ RHEL family
def rpm_header(tags):
    """An rpm header blob as rpmdb.sqlite stores it: il, dl, index entries (tag, type, offset, count), data."""
    index, data = b"", b""
    for tag, value in tags:
        if isinstance(value, int):
            while len(data) % 4:
                data += b"\x00"
            index += struct.pack(">IIII", tag, 4, len(data), 1)
            data += struct.pack(">i", value)
        else:
            index += struct.pack(">IIII", tag, 6, len(data), 1)
            data += value.encode() + b"\x00"
    return struct.pack(">II", len(tags), len(data)) + index + data


def rpm_pkg(name, version, release, installtime, epoch=None, arch="x86_64"):
    tags = [(1000, name), (1001, version), (1002, release), (1008, installtime), (1022, arch)]
    if epoch is not None:
        tags.append((1003, epoch))
    return rpm_header(tags)


UPDATEINFO = """<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="security@redhat.com" status="final" type="security" version="3">
    <id>RHSA-2024:2264</id>
    <title>Important: openssl security update</title>
    <issued date="2024-04-30 00:00:00"/>
    <severity>Important</severity>
    <references><reference href="https://access.redhat.com/errata/RHSA-2024:2264" id="RHSA-2024:2264" type="self"/></references>
    <pkglist><collection short="rhel-9">
      <package name="openssl-libs" version="3.0.7" release="27.el9" epoch="1" arch="x86_64" src="openssl-3.0.7-27.el9.src.rpm">
        <filename>openssl-libs-3.0.7-27.el9.x86_64.rpm</filename></package>
    </collection></pkglist>
  </update>
  <update from="security@redhat.com" status="final" type="security" version="3">
    <id>RHSA-2024:9999</id>
    <title>Critical: kernel security update</title>
    <severity>Critical</severity>
    <pkglist><collection short="rhel-9">
      <package name="kernel-core" version="5.14.0" release="362.24.1.el9_3" epoch="0" arch="x86_64">
        <filename>kernel-core-5.14.0-362.24.1.el9_3.x86_64.rpm</filename></package>
    </collection></pkglist>
  </update>
  <update from="security@redhat.com" status="final" type="bugfix" version="3">
    <id>RHBA-2024:1111</id>
    <severity>None</severity>
    <pkglist><collection short="rhel-9">
      <package name="bash" version="5.1.8" release="9.el9" epoch="0" arch="x86_64"><filename>b.rpm</filename></package>
    </collection></pkglist>
  </update>
</updates>
"""


@pytest.fixture
def rhel(tmp_path):
    root = tmp_path / "node"
    (root / "etc/dnf").mkdir(parents=True)
    (root / "etc/os-release").write_text('NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n')
    (root / "var/lib/rpm").mkdir(parents=True)
    boot = int(NOW - 86400)
    conn = sqlite3.connect(root / "var/lib/rpm/rpmdb.sqlite")
    conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    for blob in (
        rpm_pkg("openssl-libs", "3.0.7", "24.el9", boot - 100, epoch=1),
        rpm_pkg("kernel-core", "5.14.0", "362.8.1.el9_3", boot - 5000),
        rpm_pkg("kernel-core", "5.14.0", "362.24.1.el9_3", boot + 3600),
        rpm_pkg("bash", "5.1.8", "6.el9", boot - 100),
        rpm_pkg("runc", "1.1.12", "1.el9", boot - 100, epoch=4),
        rpm_pkg("kubelet", "1.31.2", "150500.1.1", boot - 100),
    ):
        conn.execute("INSERT INTO Packages (blob) VALUES (?)", (blob,))
    conn.commit()
    conn.close()
    cache = root / "var/cache/dnf/baseos-1a2b3c4d/repodata"
    cache.mkdir(parents=True)
    (cache / "0123abcd-updateinfo.xml.gz").write_bytes(gzip.compress(UPDATEINFO.encode()))
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text("5.14.0-362.8.1.el9_3.x86_64\n")
    (root / "proc/uptime").write_text("86400.00 100.00\n")
    (root / "etc/dnf/automatic.conf").write_text("[commands]\nupgrade_type = security\napply_updates = yes\n")
    wants = root / "etc/systemd/system/timers.target.wants"
    wants.mkdir(parents=True)
    (wants / "dnf-automatic.timer").symlink_to("/usr/lib/systemd/system/dnf-automatic.timer")
    return root


def test_rhel_pending_with_advisory_severity(rhel, findings_valid):
    findings, state = nc.assess(str(rhel), DATA, cluster="c", node="r1", control_plane_version="1.31.0", now=NOW)
    findings_valid(findings)
    assert state["family"] == "rhel" and state["packages_from"] == "/var/lib/rpm/rpmdb.sqlite"
    pending = {p["package"]: p for p in state["pending"]}
    # kernel-core: the newest installed kernel has the fix (the older one does not: install-only, as dnf);
    # bash: a bugfix advisory only
    assert sorted(pending) == ["openssl-libs"]
    assert pending["openssl-libs"]["installed_version"] == "1:3.0.7-24.el9"
    assert pending["openssl-libs"]["fixed_version"] == "1:3.0.7-27.el9"
    ks1 = by_id(findings)["KS-NODE-001"][0]
    assert ks1["severity"] == "high" and ks1["evidence"]["advisory"] == "RHSA-2024:2264"
    assert ks1["evidence"]["severity_given"] == "Important"


def test_rhel_reboot_needs_restarting_semantics_and_dnf_automatic(rhel):
    findings, state = nc.assess(str(rhel), DATA, node="r1", now=NOW)
    reboot = by_id(findings)["KS-NODE-002"][0]
    assert reboot["status"] == "fail"
    assert "running kernel 5.14.0-362.8.1.el9_3.x86_64, newest installed 5.14.0-362.24.1.el9_3.x86_64" in reboot["evidence"]["actual"]
    assert "needs-restarting: kernel-core updated since boot" in reboot["evidence"]["actual"]
    assert by_id(findings)["KS-NODE-003"][0]["status"] == "pass"
    assert state["components"]["runc"]["release"] == "1.1.12"


def test_rhel_corrupt_header_is_named(rhel):
    conn = sqlite3.connect(rhel / "var/lib/rpm/rpmdb.sqlite")
    conn.execute("INSERT INTO Packages (blob) VALUES (?)", (b"\x00\x00\x00\x09\x00\x00\x00\x01",))
    conn.commit()
    conn.close()
    findings, _ = nc.assess(str(rhel), DATA, node="r1", now=NOW)
    assert "rpm header says 9 entries" in by_id(findings)["KS-NODE-007"][0]["evidence"]["actual"]


# ------------------------------------------------------------------------------------------------ data, live
def test_data_table_rows_have_sources_and_bad_rows_are_named(tmp_path):
    assert all(row["source"].startswith("https://") for row in DATA["container_escape_cves"])
    bad = tmp_path / "t.yml"
    raw = yaml.safe_load((COLLECTION / "data/node-currency/container-escape-cves.yml").read_text())
    raw["container_escape_cves"][1].pop("source")
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(_currency_data.CurrencyDataError, match=r"container_escape_cves\[1\]: missing source"):
        _currency_data.load(str(bad))


@pytest.mark.skipif(not Path("/var/lib/apt/lists").is_dir() or not shutil.which("apt-get"), reason="needs apt")
def test_live_debian_agrees_with_apt_get_simulate():
    """The file reader against apt itself on this machine: the same packages have a security-suite candidate."""
    _, state = nc.assess("/", DATA, node="live")
    if not state["lists"]:
        pytest.skip("no security lists on this machine")
    out = subprocess.run(
        ["apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"], capture_output=True, text=True, env={"LANG": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    ).stdout
    apt = set()
    for line in out.splitlines():
        if line.startswith("Inst ") and "-security" in line.split("(", 1)[-1].split(")")[0]:
            apt.add(line.split()[1])
    assert {p["package"] for p in state["pending"]} >= apt


def test_updateinfo_with_entities_is_refused(rhel):
    cache = rhel / "var/cache/dnf/baseos-1a2b3c4d/repodata"
    bomb = '<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><updates>&b;</updates>'
    (cache / "0123abcd-updateinfo.xml.gz").write_bytes(gzip.compress(bomb.encode()))
    findings, _ = nc.assess(str(rhel), DATA, node="r1", now=NOW)
    assert "DOCTYPE or ENTITY declaration" in by_id(findings)["KS-NODE-007"][0]["evidence"]["actual"]


def test_lists_linked_out_of_the_tree_are_not_read(debian, tmp_path):
    outside = tmp_path / "host-lists"
    outside.mkdir()
    name = "evil.example_debian-security_dists_bookworm-security_main_binary-amd64_Packages"
    (outside / name).write_text("Package: bash\nVersion: 99.0-1\nArchitecture: amd64\n")
    (debian / "var/lib/apt/lists" / name).symlink_to(outside / name)
    _, state = nc.assess(str(debian), DATA, node="w1", now=NOW)
    assert "bash" not in {p["package"] for p in state["pending"]}
    assert all("evil" not in lst["file"] for lst in state["lists"])


def test_apt_conf_order_and_ignored_parts(debian):
    conf = debian / "etc/apt/apt.conf.d"
    (conf / "99local-off").unlink()
    (conf / "50off.dpkg-old").write_text('APT::Periodic::Unattended-Upgrade "0";\n')  # apt ignores it
    (debian / "etc/apt/apt.conf").write_text('APT::Periodic::Unattended-Upgrade "0";\n')  # read last: wins
    state = nc.auto_updates(str(debian), "debian", {"unattended-upgrades": [{}]})
    assert state["configured"] is False and "/etc/apt/apt.conf.d/50off.dpkg-old" not in state["evidence"]
    (debian / "etc/apt/apt.conf").unlink()
    assert nc.auto_updates(str(debian), "debian", {"unattended-upgrades": [{}]})["configured"] is True
