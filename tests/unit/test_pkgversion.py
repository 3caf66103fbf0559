"""Package version order: Debian Policy 5.6.12 (as dpkg), rpmvercmp (as rpm), upstream releases and skew minors."""

from __future__ import annotations

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _pkgversion as pv

# Debian Policy 5.6.12: "~" sorts before anything, even the end of a part: ~~ < ~~a < ~ < (empty) < a;
# letters sort before non-letters; digits compare numerically; the epoch wins over everything; a missing epoch is 0.
DEBIAN = [
    ("1.0~~", "1.0~~a", -1),
    ("1.0~~a", "1.0~", -1),
    ("1.0~", "1.0", -1),
    ("1.0", "1.0a", -1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0", "1.0.1", -1),
    ("1.0a", "1.0+", -1),
    ("1:0.1", "2.0", 1),
    ("0:1.0", "1.0", 0),
    ("1.0-1", "1.0-2", -1),
    ("2.30-1", "2.3-1", 1),
    ("1.0-1", "1.0-1~bpo1", 1),
    ("1.2.13.dfsg-1", "1.2.13.dfsg-1+deb12u1", -1),
    ("3.0.19-1~deb12u2", "3.0.22-1~deb12u2", -1),
    ("2.36-9+deb12u14", "2.36-9+deb12u7", 1),
    ("252.38-1~deb12u1", "252.39-1~deb12u2", -1),
    ("1.0-010", "1.0-10", 0),
    ("1.0", "1.0-0", 0),
    ("7.6p2-4", "7.6-0", 1),
    ("1.0.3-3", "1.0-1", 1),
    ("1.3", "1.2.2-2", 1),
    ("1.3", "1.2.2", 1),
    ("0-pre", "0-pre", 0),
    ("0-pre", "0-pree", -1),
    ("1.1.6r2-2", "1.1.6r-1", 1),
    ("2.6b2-1", "2.6b-2", 1),
    ("98.1p5-1", "98.1-pre2-b6-2", -1),
    ("0.4a6-2", "0.4-1", 1),
    ("1:3.6.1-6", "1:3.6.1-5", 1),
    ("1:1.2.13.dfsg-1", "1.2.13.dfsg-9", 1),
]


@pytest.mark.parametrize(("a", "b", "expected"), DEBIAN)
def test_debian_order(a, b, expected):
    assert pv.debian_compare(a, b) == expected
    assert pv.debian_compare(b, a) == -expected


@pytest.mark.parametrize("bad", ["a1.0", "x:1.0", "1.0-", "", "1.0-a b"])
def test_debian_syntax_errors_name_the_version(bad):
    with pytest.raises(pv.VersionError, match="Debian version"):
        pv.debian_compare(bad, "1.0")


# rpmvercmp: segments of digits or letters; numbers beat letters; leading zeros ignored; "~" before everything,
# "^" after the end but before anything else (rpm's tests/rpmvercmp.at).
RPM = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0.1", "2.0.1a", -1),
    ("2.0.1a", "2.0.1", 1),
    ("5.5p1", "5.5p2", -1),
    ("5.5p10", "5.5p1", 1),
    ("10xyz", "10.1xyz", -1),
    ("xyz10", "xyz10.1", -1),
    ("xyz.4", "8", -1),
    ("5.5p1", "5.5.p1", 0),
    ("10b2", "10a1", 1),
    ("1.0010", "1.9", 1),
    ("1.05", "1.5", 0),
    ("1.0", "1", 1),
    ("2.50", "2.5", 1),
    ("fc4", "fc.4", 0),
    ("FC5", "fc4", -1),
    ("2a", "2.0", -1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~rc1~git123", "1.0~rc1", -1),
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.0", 1),
    ("1.0^git1", "1.01", -1),
    ("1.0^20160101", "1.0.1", -1),
    ("1.0~rc1^git1", "1.0~rc1", 1),
    ("1.0^git1~pre", "1.0^git1", -1),
    ("a", "a", 0),
    ("a+", "a_", 0),
    ("+", "_", 0),
]


@pytest.mark.parametrize(("a", "b", "expected"), RPM)
def test_rpmvercmp(a, b, expected):
    assert pv.rpmvercmp(a, b) == expected
    assert pv.rpmvercmp(b, a) == -expected


def test_rpm_evr_epoch_first_and_release_only_when_both_have_one():
    assert pv.rpm_compare("1:1.0-1", "2.0-1") == 1
    assert pv.rpm_compare("3.0.7-16.el9_2", "3.0.7-24.el9") == -1
    assert pv.rpm_evr_compare(("0", "1.0", ""), ("0", "1.0", "5.el9")) == 0


@pytest.mark.parametrize(
    ("text", "release"),
    [
        ("1.1.12+ds1-1", "1.1.12"),
        ("1.0.0~rc93+ds1-5", "1.0.0-rc93"),
        ("1.6.20~ds1-1+b1", "1.6.20"),
        ("Kubernetes v1.33.1", "1.33.1"),
        ("runc version 1.1.12\ncommit: v1.1.12-0-g51d5e94", "1.1.12"),
        ("2:1.4.0-rc.3", "1.4.0-rc3"),
        ("nothing", None),
    ],
)
def test_upstream_release(text, release):
    assert pv.upstream_release(text) == release


def test_upstream_order_pre_releases_before_the_release():
    assert pv.upstream_compare("1.0.0-rc6", "1.0.0-rc7") == -1
    assert pv.upstream_compare("1.0.0-rc92", "1.0.0") == -1
    assert pv.upstream_compare("1.4.0-rc.3", "1.4.0-rc3") == 0
    assert pv.upstream_compare("1.1.12", "1.2.0-rc.1") == -1


@pytest.mark.skipif(not __import__("shutil").which("dpkg"), reason="needs dpkg")
def test_debian_table_agrees_with_real_dpkg():
    import subprocess

    for a, b, expected in DEBIAN:
        op = {-1: "lt", 0: "eq", 1: "gt"}[expected]
        assert subprocess.run(["dpkg", "--compare-versions", a, op, b]).returncode == 0, (a, op, b)
