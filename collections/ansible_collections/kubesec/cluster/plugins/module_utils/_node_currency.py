# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is the node current? Pending security updates, reboot needed, automatic updates, kubelet / runtime versions.

Node side (standard library only), run inside the cis_node_audit module call (no extra SSH round trip). Read-only
and offline: everything is read from files below the node root, so a mounted node tree works the same as a live
node; on a live node (root "/") a few tools may fill what files cannot say (`apt-helper cat-file` for lz4/zstd
lists, `rpm -qa` for a Berkeley DB rpm database, `kubelet/runc/containerd --version`), each with a timeout.

Families (from /etc/os-release ID and ID_LIKE):
  debian: dpkg status vs the Packages lists of the security suites in /var/lib/apt/lists (a suite is a security
          suite when its Release/InRelease file says Suite or Codename *-security or a Label with "Security").
  rhel:   the rpm database (rpmdb.sqlite; `rpm -qa` on "/" otherwise) vs dnf/yum's cached updateinfo of
          security advisories (/var/cache/dnf/*/repodata/*updateinfo.xml*, /var/cache/yum/...), with severities.
Findings: docs/node-currency.md (KS-NODE-001..008).
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import lzma
import os
import re
import sqlite3
import struct
import subprocess
import time
from xml.etree import ElementTree
from typing import IO, Any, Iterator, cast

from ansible_collections.kubesec.cluster.plugins.module_utils import _nodepath, _pkgversion
from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding, normalize_severity

SOURCE = "node-currency"
MAX_FILE_BYTES = 256 * 1024 * 1024  # one package list or database, decompressed
MAX_TOTAL_SECONDS = 60.0  # all package data of one node
TOOL_TIMEOUT = 20.0
STALE_LIST_DAYS = 7
# needs-restarting -r (dnf-plugins-core): a reboot is needed when one of these was updated after boot.
NEED_REBOOT_RPMS = (
    "kernel",
    "kernel-core",
    "kernel-rt",
    "kernel-rt-core",
    "glibc",
    "linux-firmware",
    "systemd",
    "dbus",
    "dbus-broker",
    "dbus-daemon",
    "microcode_ctl",
    "zlib",
    "gnutls",
    "openssl",
    "openssl-libs",
)
RPM_SEVERITIES = ("Critical", "Important", "Moderate", "Low")
COMPONENT_PACKAGES = {
    "kubelet": ("kubelet", "kubernetes-node"),  # pkgs.k8s.io; Fedora's kubernetes-node
    "containerd": ("containerd", "containerd.io"),
    "cri-o": ("cri-o",),
    "runc": ("runc",),
}
COMPONENT_COMMANDS = {
    "kubelet": ("kubelet", "--version"),
    "containerd": ("containerd", "--version"),
    "cri-o": ("crio", "--version"),
    "runc": ("runc", "--version"),
}
BIN_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin")


class CurrencyError(KubesecError, ValueError):
    """Package data that cannot be read as its format says (names the file and place)."""


class _Clock:
    """The time budget for one node's package data (bounded time whatever the node holds)."""

    def __init__(self, budget: float) -> None:
        self.deadline = time.monotonic() + budget

    def check(self, path: str) -> None:
        if time.monotonic() > self.deadline:
            raise CurrencyError("reading package data took longer than %d s; stopped" % MAX_TOTAL_SECONDS, path=path)


# ------------------------------------------------------------------------------------------------ files
def node_path(root: str, path: str) -> str:
    """Real path of a node path below root (symlinks resolved inside the tree)."""
    return _nodepath.resolve(root, path)


def _glob(root: str, pattern: str) -> list[str]:
    """Files matching a node pattern, only those that really are below the root (a symlink in a node tree that
    points at the controller's or host's files is left out)."""
    base = os.path.realpath(root or "/")
    inside = base.rstrip("/") + "/"
    return sorted(path for path in glob.glob(os.path.join(base, pattern.lstrip("/"))) if os.path.realpath(path).startswith(inside))


def _read_text(root: str, path: str, limit: int = 1024 * 1024) -> str | None:
    real = node_path(root, path)
    if not os.path.isfile(real):
        return None
    with open(real, "rb") as handle:
        return handle.read(limit).decode("utf-8", "replace")


def _run(argv: list[str], timeout: float = TOOL_TIMEOUT) -> str | None:
    """stdout of a read-only tool on a live node, or None (missing, failed, timed out)."""
    try:
        done = subprocess.run(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
            env={"LANG": "C", "LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace")


def _open_maybe_compressed(path: str, live: bool) -> IO[bytes]:
    """A binary stream of a plain, .gz, .xz or .bz2 file; .lz4 / .zst through apt-helper on a live node."""
    if path.endswith(".gz"):
        return cast("IO[bytes]", gzip.open(path, "rb"))
    if path.endswith(".xz"):
        return cast("IO[bytes]", lzma.open(path, "rb"))
    if path.endswith(".bz2"):
        return cast("IO[bytes]", bz2.open(path, "rb"))
    if path.endswith((".lz4", ".zst")):
        if not live:
            raise CurrencyError(
                "%s compression cannot be read offline (no decoder in the Python standard library);"
                " audit the live node, or keep the list uncompressed / gzip" % path.rsplit(".", 1)[1],
                path=path,
            )
        helper = "/usr/lib/apt/apt-helper"
        if not os.path.exists(helper):
            raise CurrencyError("no %s to decompress the list" % helper, path=path)
        try:
            done = subprocess.run(
                [helper, "cat-file", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=TOOL_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise CurrencyError("apt-helper cat-file took longer than %d s" % TOOL_TIMEOUT, path=path) from exc
        if done.returncode != 0 or len(done.stdout) > MAX_FILE_BYTES:
            raise CurrencyError("apt-helper cat-file failed: %s" % (done.stderr.decode("utf-8", "replace").strip()[:200] or "larger than the limit"), path=path)
        return io.BytesIO(done.stdout)
    return open(path, "rb")


def deb822_paragraphs(stream: IO[bytes], path: str, clock: _Clock, wanted: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """Paragraphs of a deb822 file (dpkg status, apt Packages lists), only the `wanted` fields, bounded in size."""
    record: dict[str, str] = {}
    field = None
    total = 0
    number = 0
    for raw in stream:
        number += 1
        total += len(raw)
        if total > MAX_FILE_BYTES:
            raise CurrencyError("larger than %d MB; stopped" % (MAX_FILE_BYTES >> 20), path=path)
        if number % 20000 == 0:
            clock.check(path)
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line.strip():
            if record:
                yield record
            record, field = {}, None
            continue
        if line[0] in " \t":
            continue  # continuation of a multi-line field (Description, Conffiles): not needed
        name, sep, value = line.partition(":")
        if not sep or not name or " " in name:
            raise CurrencyError("not a deb822 field line: %r" % line[:80], path=path, place="line %d" % number)
        field = name.strip().lower()
        if field in wanted:
            record[field] = value.strip()
    if record:
        yield record


# ------------------------------------------------------------------------------------------------ family
def read_os_release(root: str) -> dict[str, str]:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = _read_text(root, path, 65536)
        if text is None:
            continue
        values = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.startswith("#"):
                values[key.strip()] = value.strip().strip("\"'")
        return values
    return {}


def detect_family(os_release: dict[str, str]) -> str | None:
    """debian or rhel from ID / ID_LIKE, else None (unsupported: SUSE, Alpine, Flatcar, ...)."""
    ids = [os_release.get("ID", "").lower(), *os_release.get("ID_LIKE", "").lower().split()]
    if any(i in ("debian", "ubuntu") for i in ids):
        return "debian"
    if any(i in ("rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn") for i in ids):
        return "rhel"
    return None


# ------------------------------------------------------------------------------------------------ debian
def read_dpkg_status(root: str, clock: _Clock) -> dict[str, list[dict[str, str]]]:
    """Installed packages: name -> [{version, arch, source}] (one entry per architecture)."""
    path = node_path(root, "/var/lib/dpkg/status")
    if not os.path.isfile(path):
        raise CurrencyError("no dpkg status file", path="/var/lib/dpkg/status")
    installed: dict[str, list[dict[str, str]]] = {}
    with open(path, "rb") as handle:
        for rec in deb822_paragraphs(handle, "/var/lib/dpkg/status", clock, ("package", "status", "version", "architecture", "source")):
            status = rec.get("status", "").split()
            if len(status) != 3 or status[2] not in ("installed", "half-configured", "unpacked", "triggers-awaited", "triggers-pending"):
                continue
            if "package" not in rec or "version" not in rec:
                raise CurrencyError("an installed package without Package or Version: %r" % rec, path="/var/lib/dpkg/status")
            installed.setdefault(rec["package"], []).append({"version": rec["version"], "arch": rec.get("architecture", ""), "source": rec.get("source", "")})
    return installed


def _release_fields(path: str) -> dict[str, str]:
    values = {}
    with open(path, "rb") as handle:
        for raw in handle:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line.strip() or line.startswith(("SHA", "MD5", " ")):
                if line.startswith(("SHA256:", "MD5Sum:", "SHA1:", "SHA512:")):
                    break
                continue
            key, sep, value = line.partition(":")
            if sep and key in ("Origin", "Label", "Suite", "Codename"):
                values[key.lower()] = value.strip()
    return values


def is_security_suite(release: dict[str, str]) -> bool:
    return release.get("suite", "").endswith("-security") or release.get("codename", "").endswith("-security") or "security" in release.get("label", "").lower()


def security_lists(root: str) -> list[dict[str, Any]]:
    """Packages lists of security suites: [{path, node_path, suite, label, mtime}] (decided by their Release file)."""
    out = []
    lists_dir = "/var/lib/apt/lists"
    for real in _glob(root, lists_dir + "/*_Packages*"):
        name = os.path.basename(real)
        if name.endswith((".diff_Index", ".IndexDiff")) or "_dists_" not in name:
            continue
        head, _sep, rest = name.partition("_dists_")
        suite_token = rest.split("_", 1)[0]
        prefix = "%s_dists_%s_" % (head, suite_token)
        release: dict[str, str] = {}
        for candidate in ("InRelease", "Release"):
            rel = os.path.join(os.path.dirname(real), prefix + candidate)
            if os.path.isfile(rel):
                release = _release_fields(rel)
                break
        if release:
            security = is_security_suite(release)
        else:  # no Release file kept: the suite name in the list's own name
            security = suite_token.endswith("-security") or "security" in head
        if security:
            out.append(
                {
                    "path": real,
                    "node_path": lists_dir + "/" + name,
                    "suite": release.get("codename") or release.get("suite") or suite_token,
                    "label": release.get("label", ""),
                    "mtime": os.path.getmtime(real),
                }
            )
    return out


def pending_debian(
    root: str, installed: dict[str, list[dict[str, str]]], clock: _Clock, live: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(pending updates, lists read, problems): an installed package whose security suite has a newer version."""
    read: list[dict[str, Any]] = []
    best: dict[tuple[str, str], dict[str, str]] = {}
    problems = []
    for entry in security_lists(root):
        try:
            stream = _open_maybe_compressed(entry["path"], live)
            with stream:
                for rec in deb822_paragraphs(stream, entry["node_path"], clock, ("package", "version", "architecture")):
                    name = rec.get("package")
                    if name not in installed or "version" not in rec:
                        continue
                    for inst in installed[name]:
                        if rec.get("architecture", "") != inst["arch"]:
                            continue
                        key = (name, inst["arch"])
                        old = best.get(key)
                        if old is None or _pkgversion.debian_compare(rec["version"], old["version"]) > 0:
                            best[key] = {"version": rec["version"], "suite": entry["suite"]}
            read.append(entry)
        except (OSError, EOFError, lzma.LZMAError, CurrencyError, _pkgversion.VersionError) as exc:
            problems.append("%s: %s" % (entry["node_path"], exc))
    pending = []
    for (name, arch), cand in sorted(best.items()):
        for inst in installed[name]:
            if inst["arch"] != arch:
                continue
            try:
                newer = _pkgversion.debian_compare(cand["version"], inst["version"]) > 0
            except _pkgversion.VersionError as exc:
                problems.append("%s: %s" % (name, exc))
                continue
            if newer:
                pending.append(
                    {
                        "package": name,
                        "arch": arch,
                        "installed_version": inst["version"],
                        "fixed_version": cand["version"],
                        "suite": cand["suite"],
                        "severity": None,
                        "advisory": None,
                    }
                )
    return pending, read, problems


# ------------------------------------------------------------------------------------------------ rpm
RPMTAG = {1000: "name", 1001: "version", 1002: "release", 1003: "epoch", 1008: "installtime", 1022: "arch"}


def parse_rpm_header(blob: bytes, where: str) -> dict[str, Any]:
    """NAME, VERSION, RELEASE, EPOCH, INSTALLTIME, ARCH of an rpm header blob (as rpmdb.sqlite stores it)."""
    if len(blob) < 8:
        raise CurrencyError("rpm header shorter than its 8-byte intro", path=where)
    count, data_len = struct.unpack(">II", blob[:8])
    start = 8 + 16 * count
    if count > 100000 or start + data_len > len(blob):
        raise CurrencyError("rpm header says %d entries and %d data bytes but holds %d bytes" % (count, data_len, len(blob)), path=where)
    data = blob[start:start + data_len]
    out: dict[str, Any] = {}
    for index in range(count):
        tag, kind, offset, items = struct.unpack(">IIII", blob[8 + 16 * index:24 + 16 * index])
        key = RPMTAG.get(tag)
        if key is None:
            continue
        if offset >= len(data):
            raise CurrencyError("rpm header tag %d points past its data" % tag, path=where)
        if kind == 4 and items >= 1:  # INT32
            out[key] = struct.unpack(">i", data[offset:offset + 4])[0]
        elif kind in (6, 8, 9):  # STRING, STRING_ARRAY, I18NSTRING: the first string
            end = data.find(b"\x00", offset)
            out[key] = data[offset:end if end >= 0 else len(data)].decode("utf-8", "replace")
    if "name" not in out or "version" not in out:
        raise CurrencyError("rpm header without NAME or VERSION", path=where)
    return out


def read_rpmdb(root: str, clock: _Clock, live: bool) -> tuple[list[dict[str, Any]], str]:
    """Installed rpms [{name, epoch, version, release, arch, installtime}] and where they were read from."""
    for node_db in ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite"):
        real = node_path(root, node_db)
        if not os.path.isfile(real):
            continue
        rows = []
        try:
            conn = sqlite3.connect("file:%s?mode=ro&immutable=1" % real, uri=True)
            try:
                for number, (blob,) in enumerate(conn.execute("SELECT blob FROM Packages")):
                    if number % 500 == 0:
                        clock.check(node_db)
                    rows.append(parse_rpm_header(bytes(blob), node_db))
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise CurrencyError("not a readable rpm sqlite database: %s" % exc, path=node_db) from exc
        return [dict(row, epoch=str(row.get("epoch") or "0")) for row in rows], node_db
    if live and (root or "/") == "/":
        text = _run(["rpm", "-qa", "--qf", "%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{INSTALLTIME}\n"])
        if text is not None:
            rows = []
            for line in text.splitlines():
                parts = line.split("\t")
                if len(parts) == 6:
                    rows.append(
                        {
                            "name": parts[0],
                            "epoch": parts[1] or "0",
                            "version": parts[2],
                            "release": parts[3],
                            "arch": parts[4],
                            "installtime": int(parts[5]) if parts[5].isdigit() else None,
                        }
                    )
            return rows, "rpm -qa"
    raise CurrencyError(
        "no rpm database this module can read (rpmdb.sqlite; a Berkeley DB or ndb database needs the live node's rpm tool)", path="/var/lib/rpm"
    )


def updateinfo_files(root: str) -> list[str]:
    out = []
    for pattern in (
        "/var/cache/dnf/*/repodata/*updateinfo.xml*",
        "/var/cache/yum/*/*/*/*updateinfo.xml*",
        "/var/cache/yum/*/*updateinfo.xml*",
        "/var/cache/libdnf5/*/repodata/*updateinfo.xml*",
    ):
        out.extend(_glob(root, pattern))
    return sorted(set(out))


def read_updateinfo(path: str, node: str, clock: _Clock) -> list[dict[str, Any]]:
    """Security advisories of one updateinfo.xml: [{id, severity, title, packages: [{name, epoch, version, ...}]}]."""
    if path.endswith(".zst"):
        raise CurrencyError("zstd-compressed updateinfo cannot be read with the Python standard library", path=node)
    advisories = []
    parser: ElementTree.XMLPullParser[ElementTree.Element] = ElementTree.XMLPullParser(events=("end",))
    tail, total = b"", 0
    with _open_maybe_compressed(path, live=False) as stream:
        try:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_FILE_BYTES:
                    raise CurrencyError("larger than %d MB; stopped" % (MAX_FILE_BYTES >> 20), path=node)
                # updateinfo has no DTD: refusing one rules out entity expansion attacks (billion laughs)
                if b"<!DOCTYPE" in tail + chunk or b"<!ENTITY" in tail + chunk:
                    raise CurrencyError("a DOCTYPE or ENTITY declaration; updateinfo has none, refused", path=node)
                tail = chunk[-16:]
                parser.feed(chunk)
                clock.check(node)
                for event in parser.read_events():
                    elem = cast(ElementTree.Element, cast(Any, event)[1])
                    if elem.tag != "update":
                        continue
                    if elem.get("type") == "security":
                        pkgs = [
                            {
                                "name": p.get("name", ""),
                                "epoch": p.get("epoch") or "0",
                                "version": p.get("version", ""),
                                "release": p.get("release", ""),
                                "arch": p.get("arch", ""),
                            }
                            for p in elem.iter("package")
                        ]
                        advisories.append(
                            {
                                "id": (elem.findtext("id") or "").strip(),
                                "severity": (elem.findtext("severity") or "").strip(),
                                "title": (elem.findtext("title") or "").strip(),
                                "packages": pkgs,
                            }
                        )
                    elem.clear()
            parser.close()
        except ElementTree.ParseError as exc:
            raise CurrencyError("not updateinfo XML: %s" % exc, path=node) from exc
    return advisories


def pending_rpm(root: str, installed: list[dict[str, Any]], clock: _Clock) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Installed packages older than a security advisory's package of the same name and arch (dnf's rule)."""
    by_name: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pkg in installed:
        by_name.setdefault((pkg["name"], pkg.get("arch") or ""), []).append(pkg)
    problems: list[str] = []
    lists: list[dict[str, Any]] = []
    found: dict[tuple[str, str], dict[str, Any]] = {}
    base = os.path.realpath(root or "/")
    for real in updateinfo_files(root):
        node = "/" + os.path.relpath(real, base)
        try:
            advisories = read_updateinfo(real, node, clock)
        except (OSError, EOFError, lzma.LZMAError, CurrencyError) as exc:
            problems.append("%s: %s" % (node, exc))
            continue
        lists.append(
            {
                "path": real,
                "node_path": node,
                "suite": node.split("/")[4] if node.count("/") > 4 else "",
                "mtime": os.path.getmtime(real),
                "advisories": len(advisories),
            }
        )
        for adv in advisories:
            for pkg in adv["packages"]:
                instances = by_name.get((pkg["name"], pkg["arch"]), [])
                # install-only packages (kernels) keep several versions: the newest installed one counts, as in dnf
                for inst in sorted(instances, key=_RpmInstKey, reverse=True)[:1]:
                    fixed = (pkg["epoch"], pkg["version"], pkg["release"])
                    have = (inst["epoch"], inst["version"], inst["release"])
                    if _pkgversion.rpm_evr_compare(have, fixed) >= 0:
                        continue
                    key = (pkg["name"], pkg["arch"])
                    old = found.get(key)
                    rank = _rpm_rank(adv["severity"])
                    if old is None or rank < old["_rank"] or (rank == old["_rank"] and _pkgversion.rpm_evr_compare(fixed, old["_fixed"]) > 0):
                        found[key] = {
                            "package": pkg["name"],
                            "arch": pkg["arch"],
                            "installed_version": _evr_text(have),
                            "fixed_version": _evr_text(fixed),
                            "suite": None,
                            "severity": adv["severity"] or None,
                            "advisory": adv["id"],
                            "_rank": rank,
                            "_fixed": fixed,
                        }
    pending = [dict((k, v) for k, v in item.items() if not k.startswith("_")) for _key, item in sorted(found.items())]
    return pending, lists, problems


class _RpmInstKey:
    def __init__(self, pkg: dict[str, Any]) -> None:
        self.evr = (pkg["epoch"], pkg["version"], pkg["release"])

    def __lt__(self, other: _RpmInstKey) -> bool:
        return _pkgversion.rpm_evr_compare(self.evr, other.evr) < 0


def _rpm_rank(severity: str) -> int:
    return RPM_SEVERITIES.index(severity) if severity in RPM_SEVERITIES else len(RPM_SEVERITIES)


def _evr_text(evr: tuple[str, str, str]) -> str:
    text = "%s-%s" % (evr[1], evr[2]) if evr[2] else evr[1]
    return "%s:%s" % (evr[0], text) if evr[0] not in ("", "0") else text


# ------------------------------------------------------------------------------------------------ reboot, kernel
def read_uptime(root: str) -> float | None:
    text = _read_text(root, "/proc/uptime", 256)
    try:
        return float(text.split()[0]) if text else None
    except (ValueError, IndexError):
        return None


def running_kernel(root: str) -> str | None:
    """The running kernel release: /proc/sys/kernel/osrelease below the root (uname -r on a live node; a tree may
    record it there)."""
    text = _read_text(root, "/proc/sys/kernel/osrelease", 256)
    return text.strip() or None if text else None


_DEB_KERNEL = re.compile(r"^linux-image-(\d[^ ]*)$")


def installed_kernels(family: str, installed: Any) -> list[dict[str, Any]]:
    """[{release, version}] of installed kernel packages, newest first (release as uname -r prints it)."""
    out = []
    if family == "debian":
        for name, entries in installed.items():
            match = _DEB_KERNEL.match(name)
            if match and not name.endswith("-dbg") and not name.endswith("-unsigned"):
                for entry in entries:
                    out.append({"release": match.group(1), "version": entry["version"]})
        out.sort(key=_DebKey, reverse=True)
    else:
        for pkg in installed:
            if pkg["name"] in ("kernel-core", "kernel", "kernel-rt-core", "kernel-uek-core", "kernel-uek"):
                out.append(
                    {
                        "release": "%s-%s.%s" % (pkg["version"], pkg["release"], pkg.get("arch") or ""),
                        "version": _evr_text((pkg["epoch"], pkg["version"], pkg["release"])),
                        "evr": (pkg["epoch"], pkg["version"], pkg["release"]),
                    }
                )
        out.sort(key=_RpmKey, reverse=True)
    seen, unique = set(), []
    for item in out:
        if item["release"] not in seen:
            seen.add(item["release"])
            unique.append(item)
    return unique


class _DebKey:
    def __init__(self, item: dict[str, Any]) -> None:
        self.version = item["version"]

    def __lt__(self, other: _DebKey) -> bool:
        return _pkgversion.debian_compare(self.version, other.version) < 0


class _RpmKey:
    def __init__(self, item: dict[str, Any]) -> None:
        self.evr = item["evr"]

    def __lt__(self, other: _RpmKey) -> bool:
        return _pkgversion.rpm_evr_compare(self.evr, other.evr) < 0


def reboot_state(root: str, family: str | None, installed: Any, uptime: float | None, now: float) -> dict[str, Any]:
    """{required, reasons[], packages[], running_kernel, newest_kernel}: the reboot-required flag file, a newer
    kernel than the running one, and (rpm) needs-restarting's core packages updated after boot."""
    reasons, packages = [], []
    for flag in ("/run/reboot-required", "/var/run/reboot-required"):
        if os.path.isfile(node_path(root, flag)):
            reasons.append("%s exists" % flag)
            listed = _read_text(root, flag + ".pkgs", 65536) or ""
            packages = sorted({line.strip() for line in listed.splitlines() if line.strip()})
            break
    running = running_kernel(root)
    kernels = installed_kernels(family, installed) if family and installed is not None else []
    newest = kernels[0]["release"] if kernels else None
    # a reboot is pending when the running kernel is an installed one but not the newest (a kernel built
    # elsewhere, as on the test machines, says nothing about the packages)
    if running and newest and running != newest and any(k["release"] == running for k in kernels[1:]):
        reasons.append("running kernel %s, newest installed %s" % (running, newest))
    if family == "rhel" and uptime is not None and installed:
        boot = now - uptime
        for pkg in installed:
            if pkg["name"] in NEED_REBOOT_RPMS and (pkg.get("installtime") or 0) > boot:
                packages.append(pkg["name"])
        if packages and not any("needs-restarting" in r for r in reasons):
            reasons.append("needs-restarting: %s updated since boot" % ", ".join(sorted(set(packages))))
    return {"required": bool(reasons), "reasons": reasons, "packages": sorted(set(packages)), "running_kernel": running, "newest_kernel": newest}


# ------------------------------------------------------------------------------------------------ auto updates
_APT_PART = re.compile(r"^[A-Za-z0-9_.-]+$")
_APT_IGNORED = re.compile(r"(~|\.disabled|\.bak|\.dpkg-[a-z]+|\.ucf-[a-z]+|\.save|\.orig|\.distUpgrade)$")
_APT_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{};]|[^\s{};"]+')


def parse_apt_conf(text: str) -> dict[str, str]:
    """Flat 'A::B::C' -> value of an apt.conf file (both 'A::B "v";' and nested 'A { B "v"; };' forms)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("#", "//")):
            continue
        lines.append(re.sub(r"(^|\s)//.*$", "", line))
    out: dict[str, str] = {}
    stack: list[str] = []
    pending: list[str] = []
    for word in _APT_TOKEN.findall("\n".join(lines)):
        if word == "{":
            if pending:
                stack.append(pending[0])
            pending = []
        elif word == "}":
            if stack:
                stack.pop()
            pending = []
        elif word == ";":
            if len(pending) >= 2:
                key = "::".join([*stack, pending[0]])
                out[key.lower()] = pending[1].strip('"')
            pending = []
        else:
            pending.append(word)
    return out


def auto_updates(root: str, family: str | None, installed: Any) -> dict[str, Any]:
    """{configured, how, evidence}: unattended-upgrades (apt) or dnf-automatic applying updates on a timer."""
    if family == "debian":
        conf: dict[str, str] = {}
        # as apt reads them: the parts directory in name order (skipping what apt skips), then apt.conf
        parts = [os.path.basename(p) for p in _glob(root, "/etc/apt/apt.conf.d/*")]
        files = ["/etc/apt/apt.conf.d/" + name for name in parts if _APT_PART.match(name) and not _APT_IGNORED.search(name)] + ["/etc/apt/apt.conf"]
        read = []
        for path in files:
            text = _read_text(root, path)
            if text is not None:
                conf.update(parse_apt_conf(text))
                read.append(path)
        value = conf.get("apt::periodic::unattended-upgrade", "0")
        has_pkg = bool(installed) and "unattended-upgrades" in installed
        on = value not in ("0", "", "false", "no") and has_pkg
        return {
            "configured": on,
            "how": "unattended-upgrades",
            "evidence": "APT::Periodic::Unattended-Upgrade = %s; unattended-upgrades %s; read %s"
            % (value, "installed" if has_pkg else "not installed", ", ".join(read) or "no apt config"),
        }
    if family == "rhel":
        # an enabled timer is a symlink in timers.target.wants (its target may live outside a node tree)
        wants = node_path(root, "/etc/systemd/system/timers.target.wants")
        install_timer = os.path.lexists(os.path.join(wants, "dnf-automatic-install.timer"))
        plain_timer = os.path.lexists(os.path.join(wants, "dnf-automatic.timer"))
        text = _read_text(root, "/etc/dnf/automatic.conf") or ""
        apply_updates, upgrade_type, section = "no", "default", ""
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("["):
                section = stripped.strip("[]").strip()
            elif section == "commands" and "=" in stripped and not stripped.startswith("#"):
                key, _sep, value = stripped.partition("=")
                if key.strip() == "apply_updates":
                    apply_updates = value.strip().lower()
                elif key.strip() == "upgrade_type":
                    upgrade_type = value.strip().lower()
        on = install_timer or (plain_timer and apply_updates in ("yes", "true", "1", "on"))
        return {
            "configured": on,
            "how": "dnf-automatic",
            "evidence": "dnf-automatic-install.timer %s, dnf-automatic.timer %s, apply_updates = %s, upgrade_type = %s"
            % ("enabled" if install_timer else "not enabled", "enabled" if plain_timer else "not enabled", apply_updates, upgrade_type),
        }
    return {"configured": None, "how": None, "evidence": "unsupported distribution family"}


# ------------------------------------------------------------------------------------------------ components
def component_versions(root: str, family: str | None, installed: Any, live: bool) -> dict[str, dict[str, Any]]:
    """{component: {version, release, from}} for kubelet, containerd, cri-o, runc: the package record first (no
    process runs), else `<binary> --version` on a live node."""
    out: dict[str, dict[str, Any]] = {}
    for component, names in COMPONENT_PACKAGES.items():
        found = None
        for name in names:
            if family == "debian" and installed and name in installed:
                found = {"version": installed[name][0]["version"], "from": "dpkg package %s" % name, "package": name}
            elif family == "rhel" and installed:
                for pkg in installed:
                    if pkg["name"] == name:
                        found = {"version": _evr_text((pkg["epoch"], pkg["version"], pkg["release"])), "from": "rpm package %s" % name, "package": name}
            if found:
                break
        if found is None and live and (root or "/") == "/":
            command = COMPONENT_COMMANDS[component]
            for directory in BIN_DIRS:
                binary = os.path.join(directory, command[0])
                if os.path.isfile(binary) and os.access(binary, os.X_OK):
                    text = _run([binary, *command[1:]], timeout=10)
                    if text:
                        found = {"version": text.strip().splitlines()[0][:200], "from": "%s --version" % binary, "package": None}
                    break
        if found:
            release = _pkgversion.upstream_release(found["version"].replace("Kubernetes", ""))
            if component == "containerd" and found.get("package") == "containerd.io":
                found["note"] = "Docker's containerd.io package also ships runc; its runc version is not recorded"
            found["release"] = release
            out[component] = found
    return out


def apiserver_version(root: str) -> str | None:
    """The kube-apiserver image tag of a kubeadm control plane's static pod manifest on this node, if any."""
    text = _read_text(root, "/etc/kubernetes/manifests/kube-apiserver.yaml", 1024 * 1024)
    if not text:
        return None
    match = re.search(r"image:\s*['\"]?[^\s'\"]*kube-apiserver:(v?\d+\.\d+\.\d+[^\s'\"@]*)", text)
    return match.group(1) if match else None


def skew(kubelet: str | None, apiserver: str | None) -> dict[str, Any]:
    """The kubelet against the version-skew policy: never newer than kube-apiserver; at most 3 minors older
    (2 for a kubelet older than 1.25)."""
    k, a = _pkgversion.minor_of(kubelet or ""), _pkgversion.minor_of(apiserver or "")
    if not k or not a:
        return {"state": "unknown", "kubelet": kubelet, "apiserver": apiserver}
    if k[0] != a[0]:
        return {"state": "unsupported", "kubelet": kubelet, "apiserver": apiserver, "minors_behind": None, "why": "different major versions"}
    behind = a[1] - k[1]
    allowed = 3 if k >= (1, 25) else 2
    if behind < 0:
        return {"state": "unsupported", "kubelet": kubelet, "apiserver": apiserver, "minors_behind": behind, "why": "the kubelet is newer than kube-apiserver"}
    if behind > allowed:
        return {
            "state": "unsupported",
            "kubelet": kubelet,
            "apiserver": apiserver,
            "minors_behind": behind,
            "why": "the kubelet is %d minor versions older than kube-apiserver (at most %d allowed)" % (behind, allowed),
        }
    return {"state": "ok", "kubelet": kubelet, "apiserver": apiserver, "minors_behind": behind, "allowed": allowed}


def escape_cves(component: str, release: str | None, table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the dated CVE table whose fix the component's release lacks.

    A row lists `fixed` releases, one per maintained branch ('1.2.8', '1.3.3'): a release is fixed when it is at
    or above the fixed release of its own minor branch, or above the highest fixed release.
    """
    if not release:
        return []
    hits = []
    for row in table:
        if row.get("component") != component:
            continue
        fixed = sorted((str(f) for f in row.get("fixed") or []), key=lambda f: [int(x) for x in re.findall(r"\d+", f.split("-")[0])])
        if not fixed:
            continue
        if _is_fixed(release, fixed):
            continue
        hits.append(row)
    return hits


def _is_fixed(release: str, fixed: list[str]) -> bool:
    branch = _pkgversion.minor_of(release)
    if _pkgversion.upstream_compare(release, fixed[-1]) >= 0:
        return True
    for candidate in fixed:
        if _pkgversion.minor_of(candidate) == branch:
            return _pkgversion.upstream_compare(release, candidate) >= 0
    # a branch the row does not name: fixed when newer than the newest fixed release below it
    below = [f for f in fixed if _pkgversion.upstream_compare(f, release) <= 0]
    return bool(below) and _pkgversion.minor_of(below[-1]) == branch


# ------------------------------------------------------------------------------------------------ assessment
def collect(root: str, data: dict[str, Any], control_plane_version: str | None = None, live: bool | None = None, now: float | None = None) -> dict[str, Any]:
    """Everything the findings are made from (returned as the module's `currency` too)."""
    root = root or "/"
    live = (root == "/") if live is None else live
    now = time.time() if now is None else now
    clock = _Clock(MAX_TOTAL_SECONDS)
    os_release = read_os_release(root)
    family = detect_family(os_release)
    state: dict[str, Any] = {
        "family": family,
        "os": os_release.get("PRETTY_NAME") or os_release.get("ID"),
        "os_id": os_release.get("ID"),
        "packages_from": None,
        "pending": [],
        "lists": [],
        "problems": [],
        "installed_count": None,
    }
    installed: Any = None
    if family == "debian":
        try:
            installed = read_dpkg_status(root, clock)
            state["packages_from"] = "/var/lib/dpkg/status"
            state["installed_count"] = len(installed)
            pending, lists, problems = pending_debian(root, installed, clock, live)
            state.update(pending=pending, lists=_list_info(lists, now), problems=problems)
        except (OSError, CurrencyError) as exc:
            state["problems"].append(str(exc))
    elif family == "rhel":
        try:
            installed, where = read_rpmdb(root, clock, live)
            state["packages_from"] = where
            state["installed_count"] = len(installed)
            pending, lists, problems = pending_rpm(root, installed, clock)
            state.update(pending=pending, lists=_list_info(lists, now), problems=problems)
        except (OSError, CurrencyError) as exc:
            state["problems"].append(str(exc))
    uptime = read_uptime(root)
    state["uptime_seconds"] = uptime
    state["reboot"] = reboot_state(root, family, installed, uptime, now)
    state["auto_updates"] = auto_updates(root, family, installed)
    state["components"] = component_versions(root, family, installed, live)
    own_apiserver = apiserver_version(root)
    apiserver = control_plane_version or own_apiserver
    state["apiserver"] = {
        "version": apiserver,
        "from": "control_plane_version" if control_plane_version else ("/etc/kubernetes/manifests/kube-apiserver.yaml" if own_apiserver else None),
    }
    kubelet = (state["components"].get("kubelet") or {}).get("release")
    state["skew"] = skew(kubelet, apiserver)
    table = list(data.get("container_escape_cves") or [])
    state["cves"] = {}
    for component in ("runc", "containerd"):
        release = (state["components"].get(component) or {}).get("release")
        state["cves"][component] = escape_cves(component, release, table)
    return state


def _list_info(lists: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    return [{"file": item["node_path"], "suite": item.get("suite"), "age_days": round((now - item["mtime"]) / 86400, 1)} for item in lists]


def _severity_of(item: dict[str, Any], default: str) -> str:
    if item.get("severity"):
        return normalize_severity(item["severity"], default)
    return default


def findings(state: dict[str, Any], cluster: str | None, node: str | None, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The KS-NODE findings of one node (docs/node-currency.md)."""
    out = []
    refs = data.get("references") or {}
    default_sev = data.get("default_update_severity") or "medium"

    def add(
        fid: str,
        title: str,
        status: str,
        severity: str,
        evidence: dict[str, Any],
        remediation: str = "",
        resource: dict[str, Any] | None = None,
        description: str = "",
        references: list[str] | None = None,
        discriminator: str | None = None,
    ) -> None:
        out.append(
            make_finding(
                fid,
                SOURCE,
                title,
                status,
                severity,
                cluster=cluster,
                node=node,
                resource=resource or {"kind": "Node", "name": node},
                evidence=evidence,
                remediation=remediation,
                description=description,
                references=references or refs.get(fid) or [],
                discriminator=discriminator,
            )
        )

    family = state["family"]
    # KS-NODE-001 pending security updates (one finding per package, or one pass), KS-NODE-007 not assessable
    if family is None:
        add(
            "KS-NODE-007",
            "Pending security updates cannot be assessed on this distribution",
            "info",
            "info",
            {
                "actual": state.get("os") or "no /etc/os-release",
                "expected": "Debian/Ubuntu or RHEL family",
                "note": "supported families: debian (dpkg + apt lists), rhel (rpm + dnf/yum updateinfo)",
            },
        )
    elif state["packages_from"] is None or (not state["lists"] and state["problems"]):
        # nothing could be read: never a pass
        add(
            "KS-NODE-007",
            "Pending security updates could not be read",
            "warn",
            "medium",
            {"actual": "; ".join(state["problems"])[:2000] or "no package data", "expected": "a readable package database and security update lists"},
            remediation="Make the package data readable (see docs/node-currency.md for the files read).",
        )
    elif not state["lists"]:
        add(
            "KS-NODE-007",
            "No security update lists on the node",
            "warn",
            "medium",
            {
                "actual": "no security suite list in /var/lib/apt/lists"
                if family == "debian"
                else "no cached updateinfo under /var/cache/dnf or /var/cache/yum",
                "expected": "apt lists of a *-security suite" if family == "debian" else "dnf makecache with updateinfo",
            },
            remediation="apt-get update" if family == "debian" else "dnf makecache",
        )
    else:
        for item in state["pending"]:
            severity = _severity_of(item, default_sev)
            evidence = {
                "package": item["package"],
                "installed_version": item["installed_version"],
                "fixed_version": item["fixed_version"],
                "arch": item["arch"],
            }
            if item.get("advisory"):
                evidence["advisory"] = item["advisory"]
                evidence["severity_given"] = item.get("severity")
            else:
                evidence["suite"] = item.get("suite")
                evidence["note"] = "apt lists carry no severity: %s by default" % default_sev
            add(
                "KS-NODE-001",
                "Security update pending for %s" % item["package"],
                "fail",
                severity,
                evidence,
                remediation=("apt-get install --only-upgrade %s" if family == "debian" else "dnf upgrade --advisory %s")
                % (item["package"] if family == "debian" else item.get("advisory") or item["package"]),
                resource={"kind": "Package", "name": item["package"]},
                discriminator=item["arch"],
            )
        if not state["pending"] and not state["problems"]:
            add(
                "KS-NODE-001",
                "No pending security updates",
                "pass",
                "high",
                {"actual": "0 pending", "expected": "0 pending", "file": ", ".join(lst["file"] for lst in state["lists"])[:1000]},
            )
        if state["problems"]:
            add(
                "KS-NODE-007",
                "Some package data could not be read",
                "warn",
                "low",
                {"actual": "; ".join(state["problems"])[:2000], "expected": "every list readable"},
            )
        stale = [lst for lst in state["lists"] if lst["age_days"] > data.get("stale_list_days", STALE_LIST_DAYS)]
        if stale:
            add(
                "KS-NODE-008",
                "Security update lists are stale",
                "warn",
                "low",
                {
                    "actual": "; ".join("%s %.0f days old" % (s["file"], s["age_days"]) for s in stale)[:2000],
                    "expected": "refreshed within %d days" % data.get("stale_list_days", STALE_LIST_DAYS),
                    "note": "updates published since then are not counted",
                },
                remediation="apt-get update" if family == "debian" else "dnf makecache",
            )
    # KS-NODE-002 reboot required
    reboot = state["reboot"]
    evidence = {
        "actual": "; ".join(reboot["reasons"]) or "no reboot pending",
        "expected": "no reboot pending",
        "running_kernel": reboot["running_kernel"],
        "newest_kernel": reboot["newest_kernel"],
        "uptime_days": round(state["uptime_seconds"] / 86400, 1) if state.get("uptime_seconds") else None,
    }
    if reboot["packages"]:
        evidence["packages"] = ", ".join(reboot["packages"])[:1000]
    add(
        "KS-NODE-002",
        "Node needs a reboot to run its updated packages" if reboot["required"] else "No reboot pending",
        "fail" if reboot["required"] else "pass",
        "high",
        evidence,
        remediation="Drain the node, reboot it, uncordon it (kubesec.cluster.node_updates reboots when allowed).",
    )
    # KS-NODE-003 automatic security updates
    auto = state["auto_updates"]
    if auto["configured"] is not None:
        add(
            "KS-NODE-003",
            "Automatic security updates are %s" % ("configured" if auto["configured"] else "not configured"),
            "pass" if auto["configured"] else "warn",
            "low",
            {"actual": auto["evidence"], "expected": "%s applying security updates" % auto["how"]},
            remediation=(
                'apt-get install unattended-upgrades; APT::Periodic::Unattended-Upgrade "1";'
                if family == "debian"
                else "dnf install dnf-automatic; systemctl enable --now dnf-automatic-install.timer"
            ),
        )
    # KS-NODE-004 kubelet skew
    sk = state["skew"]
    if sk["state"] == "unknown":
        if (state["components"].get("kubelet") or {}).get("release"):
            add(
                "KS-NODE-004",
                "Kubelet version skew not checked: control-plane version unknown",
                "info",
                "info",
                {
                    "actual": "kubelet %s, kube-apiserver unknown" % sk["kubelet"],
                    "expected": "kubesec_control_plane_version or reports/<cluster>/cluster_facts.json (playbooks/onboard.yml)",
                },
            )
    else:
        add(
            "KS-NODE-004",
            "Kubelet version skew %s the version-skew policy" % ("within" if sk["state"] == "ok" else "outside"),
            "pass" if sk["state"] == "ok" else "fail",
            "high",
            {
                "actual": "kubelet %s, kube-apiserver %s%s" % (sk["kubelet"], sk["apiserver"], "" if sk["state"] == "ok" else ": " + sk["why"]),
                "expected": "kubelet not newer than kube-apiserver and at most 3 minor versions older (2 before 1.25)",
                "source": state["apiserver"]["from"],
            },
            remediation="Upgrade the kubelet within the supported skew (kubeadm upgrade node, then the kubelet package).",
        )
    # KS-NODE-005 runc, KS-NODE-006 containerd: known container-escape CVEs
    for fid, component in (("KS-NODE-005", "runc"), ("KS-NODE-006", "containerd")):
        comp = state["components"].get(component)
        if not comp or not comp.get("release"):
            continue
        hits = state["cves"].get(component) or []
        cve_refs = [row["source"] for row in hits if row.get("source")]
        evidence = {
            "package": comp.get("package") or component,
            "installed_version": comp["version"],
            "actual": "%s %s (%s)" % (component, comp["release"], comp["from"]),
        }
        if hits:
            worst = min(
                (normalize_severity(row.get("severity"), "high") for row in hits),
                key=["critical", "high", "medium", "low", "info", "unknown"].index,
            )
            evidence["expected"] = "; ".join("%s fixed in %s" % (row["cve"], "/".join(row["fixed"])) for row in hits)
            evidence["fixed_version"] = "/".join(hits[-1]["fixed"])
            if comp.get("package"):
                evidence["note"] = (
                    "read from the package version: a distribution package may carry a backported "
                    "fix; if its advisory says so, waive this finding with the advisory id"
                )
            add(
                fid,
                "%s %s is older than the fix of %s" % (component, comp["release"], ", ".join(row["cve"] for row in hits)),
                "fail",
                worst,
                evidence,
                references=cve_refs,
                remediation="Upgrade %s to a fixed release." % component,
                description="; ".join("%s: %s" % (row["cve"], row.get("title", "")) for row in hits),
            )
        else:
            evidence["expected"] = "newer than the fixes of the container-escape CVEs in the table"
            add(fid, "%s %s has the fixes of the known container-escape CVEs" % (component, comp["release"]), "pass", "high", evidence)
    return out


def summary(state: dict[str, Any]) -> dict[str, Any]:
    """The per-node currency line of the report: pending by severity, reboot, versions."""
    by_sev: dict[str, int] = {}
    for item in state["pending"]:
        sev = item.get("severity") or "unrated"
        by_sev[sev] = by_sev.get(sev, 0) + 1
    comps = state["components"]
    return {
        "family": state["family"],
        "os": state.get("os"),
        "pending_security": len(state["pending"]),
        "pending_by_severity": by_sev,
        "reboot_required": state["reboot"]["required"],
        "running_kernel": state["reboot"]["running_kernel"],
        "uptime_days": round(state["uptime_seconds"] / 86400, 1) if state.get("uptime_seconds") else None,
        "auto_updates": state["auto_updates"]["configured"],
        "kubelet": (comps.get("kubelet") or {}).get("release"),
        "runc": (comps.get("runc") or {}).get("release"),
        "containerd": (comps.get("containerd") or {}).get("release"),
        "cri-o": (comps.get("cri-o") or {}).get("release"),
        "skew": state["skew"]["state"],
        "assessed": bool(state["lists"]) and state["packages_from"] is not None,
    }


def assess(
    root: str,
    data: dict[str, Any],
    cluster: str | None = None,
    node: str | None = None,
    control_plane_version: str | None = None,
    live: bool | None = None,
    now: float | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(findings, currency state with its summary) of one node."""
    state = collect(root, data, control_plane_version=control_plane_version, live=live, now=now)
    state["summary"] = summary(state)
    return findings(state, cluster, node, data), state
