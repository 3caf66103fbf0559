# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the node-currency checks: the dated CVE table and the control-plane version.

The table (data/node-currency/container-escape-cves.yml) is read and checked here and passed to the node with the
cis_node_audit call, so the node needs neither the collection's data files nor the network.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from typing import Any

import yaml

DATA_FILE = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "data", "node-currency", "container-escape-cves.yml"))
ROW_KEYS = {"cve", "component", "title", "severity", "published", "fixed", "source"}
COMPONENTS = ("runc", "containerd")
SEVERITIES = ("critical", "high", "medium", "low")


class CurrencyDataError(ValueError):
    """The CVE table or the cluster facts file is wrong (names the file and the row or key)."""


def load(path: str = DATA_FILE) -> dict[str, Any]:
    """The table, checked row by row: every row has a CVE id, a component, fixed releases and a source."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise CurrencyDataError("%s: cannot read the node-currency data: %s" % (path, exc)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("container_escape_cves"), list):
        raise CurrencyDataError("%s: expected a mapping with a container_escape_cves list" % path)
    for index, row in enumerate(data["container_escape_cves"]):
        where = "%s: container_escape_cves[%d]" % (path, index)
        if not isinstance(row, dict):
            raise CurrencyDataError("%s: not a mapping" % where)
        missing = sorted(ROW_KEYS - set(row))
        if missing:
            raise CurrencyDataError("%s: missing %s" % (where, ", ".join(missing)))
        if not re.match(r"^CVE-\d{4}-\d{4,}$", str(row["cve"])):
            raise CurrencyDataError("%s: cve %r is not a CVE id" % (where, row["cve"]))
        if row["component"] not in COMPONENTS:
            raise CurrencyDataError("%s: component %r is not one of %s" % (where, row["component"], ", ".join(COMPONENTS)))
        if row["severity"] not in SEVERITIES:
            raise CurrencyDataError("%s: severity %r is not one of %s" % (where, row["severity"], ", ".join(SEVERITIES)))
        if not isinstance(row["fixed"], list) or not row["fixed"] or not all(re.match(r"^\d+\.\d+\.\d+(-[a-z]+\.?\d+)?$", str(f)) for f in row["fixed"]):
            raise CurrencyDataError("%s: fixed must list releases such as 1.1.12 or 1.4.0-rc.3" % where)
        if not str(row["source"]).startswith("https://"):
            raise CurrencyDataError("%s: source must be an https URL" % where)
        row["published"] = str(row["published"])
        row["fixed"] = [str(f) for f in row["fixed"]]
    if isinstance(data.get("as_of"), (datetime.date, datetime.datetime)):
        data["as_of"] = data["as_of"].isoformat()
    return data


def control_plane_version(cluster_facts: str | None) -> str | None:
    """kubernetes_version of an onboard cluster_facts.json; None when the file does not exist."""
    if not cluster_facts or not os.path.isfile(cluster_facts):
        return None
    try:
        with open(cluster_facts, encoding="utf-8") as handle:
            facts = json.load(handle)
    except (OSError, ValueError) as exc:
        raise CurrencyDataError("%s: cannot read the cluster facts: %s" % (cluster_facts, exc)) from exc
    version = facts.get("kubernetes_version") if isinstance(facts, dict) else None
    if version is not None and not isinstance(version, str):
        raise CurrencyDataError("%s: kubernetes_version must be text, got %r" % (cluster_facts, version))
    return version or None
