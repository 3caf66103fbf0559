# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Upstream Kubernetes minor releases and their end-of-life dates, as data (rule KS-WL-017).

Private module_utils (leading underscore): the API may change between minor releases.

HOW TO UPDATE: add a row per new minor (release date of x.y.0, end-of-life date), move rows whose EOL
has passed from "scheduled" to the final date, and bump TABLE_DATE. Sources:
- final EOL dates: kubernetes/website ``data/releases/eol.yaml`` (written by the release team's schedule-builder);
- release dates, maintenance-mode and scheduled EOL dates: https://kubernetes.io/releases/<minor>/
  (``data/releases/schedule.yaml``).
Upstream supports the three most recent minors; each gets about 14 months of patches (12 months plus a
two-month upgrade window). Vendor distributions (EKS, AKS, GKE, OpenShift, RKE2) have their own calendars.
"""

from __future__ import annotations

import datetime
from typing import Any, Dict, List, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils import _parsing

# Date stamp: the day this table was last checked against the sources named above.
# (Checked 2026-11-24 against kubernetes.io release pages as published up to 2026-08: 1.36.4 of 2026-08-11
# was the newest patch listed there; no 1.37 page was available.)
TABLE_DATE = "2026-11-24"

# minor: (release date of x.y.0, end-of-life date, "final" | "scheduled")
RELEASES = {
    "1.19": ("2020-08-26", "2021-10-28", "final"),
    "1.20": ("2020-12-08", "2022-02-28", "final"),
    "1.21": ("2021-04-08", "2022-06-28", "final"),
    "1.22": ("2021-08-04", "2022-12-08", "final"),
    "1.23": ("2021-12-07", "2023-02-28", "final"),
    "1.24": ("2022-05-03", "2023-07-28", "final"),
    "1.25": ("2022-08-23", "2023-10-28", "final"),
    "1.26": ("2022-12-09", "2024-02-28", "final"),
    "1.27": ("2023-04-11", "2024-07-16", "final"),
    "1.28": ("2023-08-15", "2024-10-22", "final"),
    "1.29": ("2023-12-13", "2025-02-28", "final"),
    "1.30": ("2024-04-17", "2025-07-15", "final"),
    "1.31": ("2024-08-13", "2025-11-11", "final"),
    "1.32": ("2024-12-11", "2026-02-28", "scheduled"),
    "1.33": ("2025-04-23", "2026-06-28", "scheduled"),
    "1.34": ("2025-08-27", "2026-10-27", "scheduled"),
    "1.35": ("2025-12-17", "2027-02-28", "scheduled"),
    "1.36": ("2026-04-22", "2027-06-28", "scheduled"),
}

# 'v1.29.3', '1.30', 'v1.30.2-eks-1234', 'v1.29.3+k3s1' -> (1, 29, 3 or None); ValueError otherwise.
parse_version = _parsing.parse_version


def _key(minor: str) -> Tuple[int, int]:
    major, _dummy, rest = minor.partition(".")
    return int(major), int(rest)


def parse_date(text: object, what: str = "date") -> datetime.date:
    """'YYYY-MM-DD' (or a date / datetime) -> datetime.date; ValueError naming `what` otherwise."""
    if isinstance(text, datetime.datetime):
        return text.date()
    if isinstance(text, datetime.date):
        return text
    try:
        return datetime.datetime.strptime(str(text).strip(), "%Y-%m-%d").date()
    except ValueError:
        raise ValueError("%s must be a date as YYYY-MM-DD, got %r" % (what, text)) from None


def newest_minor() -> str:
    return max(RELEASES, key=_key)


def oldest_minor() -> str:
    return min(RELEASES, key=_key)


def support_status(version: str, today: datetime.date, warn_days: int = 60) -> Dict[str, Any]:
    """Where `version` stands on `today` (datetime.date).

    Returns a dict: minor, release_date, end_of_life, eol_kind, days_left, state, where state is one of
    supported | ending (EOL within warn_days) | end_of_life | unreleased | unknown_newer | unknown_older.
    The EOL date itself is the last supported day.
    """
    major, minor, _patch = parse_version(version)
    key = "%d.%d" % (major, minor)
    result: Dict[str, Any] = {
        "minor": key,
        "release_date": None,
        "end_of_life": None,
        "eol_kind": None,
        "days_left": None,
        "state": None,
        "table_date": TABLE_DATE,
        "newest_known": newest_minor(),
    }
    row = RELEASES.get(key)
    if row is None:
        if (major, minor) > _key(newest_minor()):
            result["state"] = "unknown_newer"
        else:
            result["state"] = "unknown_older"
        return result
    released, eol, kind = row
    released_d, eol_d = parse_date(released), parse_date(eol)
    result.update(release_date=released, end_of_life=eol, eol_kind=kind, days_left=(eol_d - today).days)
    if today < released_d:
        result["state"] = "unreleased"
    elif today > eol_d:
        result["state"] = "end_of_life"
    elif (eol_d - today).days <= warn_days:
        result["state"] = "ending"
    else:
        result["state"] = "supported"
    return result


def supported_minors(today: datetime.date) -> List[str]:
    """Minors inside their support window on `today`, oldest first."""
    out: List[str] = []
    for key in sorted(RELEASES, key=_key):
        released, eol, _kind = RELEASES[key]
        if parse_date(released) <= today <= parse_date(eol):
            out.append(key)
    return out
