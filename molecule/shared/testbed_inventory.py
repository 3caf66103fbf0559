#!/usr/bin/env python3
"""Ansible script inventory: the test bed of the running molecule scenario (.testbed/molecule-<scenario>/).

Molecule wants its inventory link to exist before `create` runs, and the test bed writes its inventory only
when it comes up, so this script reads it at run time. Before `create` (and after `destroy`) it is empty.
"""

import json
import os
import sys
from pathlib import Path

import yaml

root = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[2]))
scenario = os.environ.get("MOLECULE_SCENARIO_NAME", "default")
source = root / ".testbed" / f"molecule-{scenario}" / "inventory.yml"
result = {"_meta": {"hostvars": {}}, "all": {"children": ["ungrouped"]}}


def walk(name, group):
    group = group or {}
    entry = result.setdefault(name, {"hosts": []})  # an empty dict would be read as a host named like the group
    hosts = group.get("hosts") or {}
    if hosts:
        entry["hosts"] = list(hosts)
        for host, hostvars in hosts.items():
            result["_meta"]["hostvars"].setdefault(host, {}).update(hostvars or {})
    if group.get("vars"):
        entry["vars"] = group["vars"]
    children = group.get("children") or {}
    if children:
        entry["children"] = list(children)
        for child, data in children.items():
            walk(child, data)


if "--host" in sys.argv:
    print("{}")
    sys.exit(0)
if source.is_file():
    data = yaml.safe_load(source.read_text()) or {}
    walk("all", data.get("all"))
print(json.dumps(result))
