# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: load, validate and resolve the CIS section-5 catalogues in data/cis_policies/.

A file is full (version, source, checks) or `extends: <newer>` plus `add` (new checks, placed by id), `change`
(by id; the fields given replace the base's) and `remove` (ids), like data/cis/. Every file is validated with
data/schemas/cis-policies.json, the resolved catalogue again as a full one.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any, Dict, List, Optional

import yaml

try:  # controller dependency (pyproject / execution environment)
    import jsonschema
except ImportError:  # pragma: no cover - only where jsonschema is missing
    jsonschema = None

DATA_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "data"))
CATALOGUE_DIR = os.path.join(DATA_DIR, "cis_policies")
SCHEMA_PATH = os.path.join(DATA_DIR, "schemas", "cis-policies.json")
MAX_DEPTH = 8


class PoliciesCatalogueError(ValueError):
    """A section-5 catalogue is missing or invalid (names the file and the field)."""


def available(directory: str = CATALOGUE_DIR) -> List[str]:
    return sorted(name[:-4] for name in os.listdir(directory) if name.endswith(".yml"))


def _schema() -> Dict[str, Any]:
    with open(SCHEMA_PATH, "r", encoding="utf-8") as handle:
        data: Dict[str, Any] = json.load(handle)
    return data


def _validate(data: Any, where: str, full: bool = False) -> None:
    if jsonschema is None:
        raise PoliciesCatalogueError("validating %s needs the Python package jsonschema on the controller" % where)
    schema = _schema()
    if full:
        schema = dict(schema, oneOf=[{"$ref": "#/$defs/full"}])
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        path = "/".join(str(part) for part in best.absolute_path) or "(top)"
        raise PoliciesCatalogueError("%s is not a valid section-5 catalogue at %s: %s" % (where, path, best.message))


def _key(check_id: str) -> List[int]:
    return [int(part) for part in check_id.split(".")]


def _read(name: str, directory: str) -> Dict[str, Any]:
    path = os.path.join(directory, name + ".yml")
    if not os.path.isfile(path):
        raise PoliciesCatalogueError("no section-5 catalogue %r in %s (available: %s)" % (name, directory, ", ".join(available(directory))))
    with open(path, "r", encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise PoliciesCatalogueError("%s is not valid YAML: %s" % (path, exc)) from None
    _validate(data, path)
    return data if isinstance(data, dict) else {}


def load(name: str, directory: str = CATALOGUE_DIR, _depth: int = 0) -> Dict[str, Any]:
    """The resolved catalogue `name` (cis-1.12, cis-1.11, ...)."""
    if _depth > MAX_DEPTH:
        raise PoliciesCatalogueError("section-5 catalogue %s: extends chain longer than %d" % (name, MAX_DEPTH))
    data = _read(name, directory)
    if "extends" not in data:
        return data
    base = copy.deepcopy(load(data["extends"], directory, _depth + 1))
    by_id = {str(check["id"]): check for check in base["checks"]}
    for cid in data.get("remove") or []:
        if by_id.pop(cid, None) is None:
            raise PoliciesCatalogueError("%s removes %s, which %s does not have" % (name, cid, data["extends"]))
    for change in data.get("change") or []:
        target: Optional[Dict[str, Any]] = by_id.get(change["id"])
        if target is None:
            raise PoliciesCatalogueError("%s changes %s, which %s does not have" % (name, change["id"], data["extends"]))
        target.update(copy.deepcopy(change))
    for check in data.get("add") or []:
        if check["id"] in by_id:
            raise PoliciesCatalogueError("%s adds %s, which %s already has" % (name, check["id"], data["extends"]))
        by_id[check["id"]] = copy.deepcopy(check)
    resolved = {"version": data["version"], "source": data["source"], "checks": sorted(by_id.values(), key=lambda check: _key(str(check["id"])))}
    _validate(resolved, "%s (resolved)" % name, full=True)
    return resolved


def for_benchmark(benchmark: str, directory: str = CATALOGUE_DIR) -> Dict[str, Any]:
    """The section-5 catalogue of a CIS benchmark (a benchmark without a file is an error naming the shipped ones)."""
    names = available(directory)
    if benchmark in names:
        return load(benchmark, directory)
    raise PoliciesCatalogueError("no section-5 catalogue for benchmark %r (shipped: %s)" % (benchmark, ", ".join(names)))
