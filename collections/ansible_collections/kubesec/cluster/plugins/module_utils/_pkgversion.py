# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Package version ordering: Debian (Policy 5.6.12, as dpkg), RPM (rpmvercmp) and upstream release numbers.

Node side, standard library only. Each compare function returns -1, 0 or 1 like the tools do, so a node
reads "is the installed version older than the fixed one" exactly as apt, dpkg, dnf and rpm would.
"""

from __future__ import annotations

import re

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError


class VersionError(KubesecError, ValueError):
    """A version string that the packaging rules do not allow (names the version)."""


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


# ------------------------------------------------------------------------------------------------ Debian
def _order(char: str) -> int:
    """dpkg's order(): digits 0, letters their code, '~' before everything (even the end), others after letters."""
    if not char:
        return 0
    if char.isdigit():
        return 0
    if char.isalpha() and char.isascii():
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _verrevcmp(a: str, b: str) -> int:
    """Compare an upstream_version or debian_revision: alternate non-digit runs (by _order) and digit runs."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i] if i < len(a) and not a[i].isdigit() else "")
            bc = _order(b[j] if j < len(b) and not b[j].isdigit() else "")
            if ac != bc:
                return _sign(ac - bc)
            i += 1
            j += 1
        start_i, start_j = i, j
        while i < len(a) and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isdigit():
            j += 1
        num_a, num_b = int(a[start_i:i] or 0), int(b[start_j:j] or 0)
        if num_a != num_b:
            return _sign(num_a - num_b)
    return 0


_DEB_UPSTREAM = re.compile(r"^[0-9][A-Za-z0-9.+~:-]*$")


def parse_debian(version: str) -> tuple[int, str, str]:
    """(epoch, upstream_version, debian_revision) of a Debian version; VersionError when the syntax is wrong."""
    text = str(version).strip()
    epoch = 0
    if ":" in text:
        head, text = text.split(":", 1)
        if not head.isdigit():
            raise VersionError("Debian version %r: the epoch %r is not a number" % (version, head))
        epoch = int(head)
    upstream, revision = text, ""
    if "-" in text:
        upstream, revision = text.rsplit("-", 1)
        if not revision or not re.match(r"^[A-Za-z0-9.+~]+$", revision):
            raise VersionError("Debian version %r: bad debian_revision %r" % (version, revision))
    if not upstream or not _DEB_UPSTREAM.match(upstream):
        raise VersionError("Debian version %r: the upstream_version must start with a digit and use only alphanumerics and . + ~ - :" % (version,))
    return epoch, upstream, revision


def debian_compare(a: str, b: str) -> int:
    """-1, 0, 1 as `dpkg --compare-versions a lt/eq/gt b` (a missing revision sorts as an empty one, like dpkg)."""
    ea, ua, ra = parse_debian(a)
    eb, ub, rb = parse_debian(b)
    if ea != eb:
        return _sign(ea - eb)
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


# ------------------------------------------------------------------------------------------------ RPM
def rpmvercmp(a: str, b: str) -> int:
    """rpm's rpmvercmp() on one version or release string: alphanumeric segments, '~' before all, '^' after end."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not a[i].isalnum() and a[i] not in "~^":
            i += 1
        while j < len(b) and not b[j].isalnum() and b[j] not in "~^":
            j += 1
        ca = a[i] if i < len(a) else ""
        cb = b[j] if j < len(b) else ""
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i += 1
            j += 1
            continue
        if ca == "^" or cb == "^":
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (ca and cb):
            break
        si, sj = i, j
        if ca.isdigit():
            while i < len(a) and a[i].isdigit() and a[i].isascii():
                i += 1
            while j < len(b) and b[j].isdigit() and b[j].isascii():
                j += 1
            isnum = True
        else:
            while i < len(a) and a[i].isalpha() and a[i].isascii():
                i += 1
            while j < len(b) and b[j].isalpha() and b[j].isascii():
                j += 1
            isnum = False
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_a:  # cannot happen: a[si] was alphanumeric
            return -1
        if not seg_b:  # different kinds of segment: a number is newer than letters
            return 1 if isnum else -1
        if isnum:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def parse_evr(text: str) -> tuple[str, str, str]:
    """'[epoch:]version[-release]' -> (epoch, version, release); a missing epoch is '0'."""
    epoch, rest = "0", str(text).strip()
    if ":" in rest:
        epoch, rest = rest.split(":", 1)
        if not epoch.isdigit():
            raise VersionError("RPM version %r: the epoch %r is not a number" % (text, epoch))
    version, release = rest, ""
    if "-" in rest:
        version, release = rest.rsplit("-", 1)
    if not version:
        raise VersionError("RPM version %r has no version part" % (text,))
    return epoch or "0", version, release


def rpm_evr_compare(a: tuple[str, str, str], b: tuple[str, str, str]) -> int:
    """Compare (epoch, version, release) as rpm does: epoch as a number, then rpmvercmp on version, then release.

    An empty release on either side is not compared (rpm matches 'foo-1.0' against any release of 1.0).
    """
    ea, eb = int(a[0] or 0), int(b[0] or 0)
    if ea != eb:
        return _sign(ea - eb)
    rc = rpmvercmp(a[1], b[1])
    if rc or not a[2] or not b[2]:
        return rc
    return rpmvercmp(a[2], b[2])


def rpm_compare(a: str, b: str) -> int:
    """Compare two '[epoch:]version-release' strings."""
    return rpm_evr_compare(parse_evr(a), parse_evr(b))


# ------------------------------------------------------------------------------------------------ upstream
_UPSTREAM = re.compile(r"v?(\d+(?:\.\d+)*)(?:[-~.]?((?:rc|alpha|beta|pre)\.?\d*))?", re.IGNORECASE)


def upstream_release(text: str) -> str | None:
    """The upstream release in a version string ('1.1.12' in '1.1.12+ds1-1', 'v1.33.1', '1.0.0-rc6', 'runc version
    1.1.12'), with a pre-release kept as '-rcN'; None when there is no release number.

    Debian repack markers ('~ds1', '+dfsg') and distribution revisions are dropped: they say nothing about which
    upstream fixes are in, which is why a finding made from a package version names the package.
    """
    text = str(text or "").strip()
    if ":" in text and text.split(":", 1)[0].isdigit():
        text = text.split(":", 1)[1]
    match = _UPSTREAM.search(text)
    if not match:
        return None
    release = match.group(1)
    if match.group(2):
        release += "-" + match.group(2).lower().replace(".", "")
    return release


def upstream_compare(a: str, b: str) -> int:
    """Semantic-version order of two upstream releases ('1.1.12' < '1.2.0-rc1' < '1.2.0')."""
    ra, rb = upstream_release(a), upstream_release(b)
    if ra is None or rb is None:
        raise VersionError("not an upstream release number: %r" % (a if ra is None else b,))
    core_a, _sep, pre_a = ra.partition("-")
    core_b, _sep, pre_b = rb.partition("-")
    nums_a = [int(x) for x in core_a.split(".")]
    nums_b = [int(x) for x in core_b.split(".")]
    width = max(len(nums_a), len(nums_b))
    nums_a += [0] * (width - len(nums_a))
    nums_b += [0] * (width - len(nums_b))
    if nums_a != nums_b:
        return -1 if nums_a < nums_b else 1
    if pre_a == pre_b:
        return 0
    if not pre_a or not pre_b:  # a release is newer than its pre-releases
        return 1 if not pre_a else -1
    return rpmvercmp(pre_a, pre_b)


def minor_of(text: str) -> tuple[int, int] | None:
    """(major, minor) of a Kubernetes version ('v1.33.1', '1.33.1-1.1', '1.33'), else None."""
    match = re.search(r"(\d+)\.(\d+)", str(text or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None
