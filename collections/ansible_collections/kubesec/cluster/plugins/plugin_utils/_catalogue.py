# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: find, validate and resolve the CIS catalogues shipped in the collection's data/cis/ folder.

A catalogue file is either full (paths, components, checks...) or `extends: <base>` plus what that benchmark
version does differently: `add` (new checks, placed by id), `change` (by id; the fields given replace the base's
fields whole), `remove` (ids), and any top-level section (paths, components...) it replaces whole. Every file is
validated with data/schemas/cis-catalogue.json, and the resolved catalogue again as a full one.
"""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

try:  # controller dependency (pyproject / execution environment); guarded so the plugins still import without it
    import jsonschema
except ImportError:  # pragma: no cover - only where jsonschema is missing
    jsonschema = None

DATA_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "data"))
CATALOGUE_DIR = os.path.join(DATA_DIR, "cis")
SCHEMA_PATH = os.path.join(DATA_DIR, "schemas", "cis-catalogue.json")
_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
MAX_DEPTH = 8  # a chain of extends longer than this is a mistake (or a loop)
_DERIVED_KEYS = ("extends", "add", "change", "remove")
# libyaml's safe loader parses a full catalogue in ~8 ms instead of ~70 ms (the action plugin loads per host)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# (path, mtime_ns, size) of every file of a catalogue chain: a cached catalogue is reused while they are unchanged
Stamp = Tuple[Tuple[str, int, int], ...]


class CatalogueNotFound(KubesecError, ValueError):
    """A CIS catalogue is missing, unreadable or invalid (the message names the file and the place)."""


def available(directory: str = CATALOGUE_DIR) -> List[str]:
    return sorted(name[:-4] for name in os.listdir(directory) if name.endswith(".yml"))


_SCHEMA: Optional[Dict[str, Any]] = None
_VALIDATORS: Dict[Optional[str], Any] = {}
_CACHE: Dict[str, Tuple[Optional[Stamp], Dict[str, Any]]] = {}  # path -> ((mtime_ns, size) of every file in the chain, resolved catalogue)


def schema() -> Dict[str, Any]:
    global _SCHEMA  # pylint: disable=global-statement
    if _SCHEMA is None:
        with open(SCHEMA_PATH, "r", encoding="utf-8") as handle:
            _SCHEMA = json.load(handle)
    return _SCHEMA


def _validator(subschema: Optional[str]) -> Any:
    if jsonschema is None:
        raise CatalogueNotFound(
            "validating the CIS catalogues needs the Python package jsonschema on the controller (it is in kubesec's requirements/runtime.txt)"
        )
    if subschema not in _VALIDATORS:
        document = schema()
        if subschema:
            document = dict(document)
            document.pop("oneOf")
            document["$ref"] = "#/$defs/" + subschema
        _VALIDATORS[subschema] = jsonschema.Draft202012Validator(document)
    return _VALIDATORS[subschema]


def _validate(data: Any, path: str, subschema: Optional[str] = None) -> None:
    validator = _validator(subschema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in best.absolute_path) or "(top level)"
        raise CatalogueNotFound("CIS catalogue %s does not match data/schemas/cis-catalogue.json at %s: %s" % (path, where, best.message))


def _read(path: str) -> Dict[str, Any]:
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_LOADER)  # noqa: S506 - a safe loader (libyaml's when present)
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueNotFound("cannot load CIS catalogue %s: %s" % (path, exc)) from exc
    if not isinstance(data, dict) or not ("checks" in data or "extends" in data):
        raise CatalogueNotFound("CIS catalogue %s has no 'checks' list and extends no catalogue" % path)
    # the schema's oneOf, decided by `extends` (validating both branches would double the cost)
    _validate(data, path, "derived" if "extends" in data else "full")
    return data


def _id_key(check_id: Any) -> Tuple[int, ...]:
    return tuple(int(part) for part in str(check_id).split("."))


def _derive(base: Dict[str, Any], data: Dict[str, Any], path: str) -> Dict[str, Any]:
    """The base catalogue with data's sections, additions, changes and removals applied."""
    result = copy.deepcopy(base)
    for key, value in data.items():
        if key not in _DERIVED_KEYS:
            result[key] = copy.deepcopy(value)
    if "source" not in data:
        result.pop("source", None)  # the base's source does not describe this version
    checks = result["checks"]
    index = {str(check["id"]): check for check in checks}
    for check_id in data.get("remove") or []:
        if check_id not in index:
            raise CatalogueNotFound("CIS catalogue %s removes check %s, which %s does not have" % (path, check_id, data["extends"]))
        checks.remove(index.pop(check_id))
    for change in data.get("change") or []:
        check_id = str(change["id"])
        if check_id not in index:
            raise CatalogueNotFound("CIS catalogue %s changes check %s, which %s does not have" % (path, check_id, data["extends"]))
        index[check_id].update(copy.deepcopy(change))
    for check in data.get("add") or []:
        check_id = str(check["id"])
        if check_id in index:
            raise CatalogueNotFound("CIS catalogue %s adds check %s, which %s already has (use change)" % (path, check_id, data["extends"]))
        # placed after the last check whose id sorts before it, so the list keeps CIS order
        position = 0
        for number, existing in enumerate(checks):
            if _id_key(existing["id"]) < _id_key(check_id):
                position = number + 1
        checks.insert(position, copy.deepcopy(check))
        index[check_id] = checks[position]
    return result


def _stamp(paths: Iterable[str]) -> Optional[Stamp]:
    stamps = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            return None
        stamps.append((path, info.st_mtime_ns, info.st_size))
    return tuple(stamps)


def _resolve(benchmark: str, directory: str, path: str, chain: List[str], files: List[str]) -> Dict[str, Any]:
    files.append(path)
    if len(chain) > MAX_DEPTH:
        raise CatalogueNotFound("CIS catalogue chain too long (more than %d): %s" % (MAX_DEPTH, " -> ".join(chain)))
    data = _read(path)
    if "extends" not in data:
        return data
    base_name = data["extends"]
    if base_name in chain:
        raise CatalogueNotFound("CIS catalogue %s extends %s, a loop: %s" % (path, base_name, " -> ".join([*chain, base_name])))
    base_path = os.path.join(directory, base_name + ".yml")
    if not os.path.isfile(base_path):
        raise CatalogueNotFound("CIS catalogue %s extends %r, which is not in %s" % (path, base_name, directory))
    return _derive(_resolve(base_name, directory, base_path, [*chain, base_name], files), data, path)


def load(benchmark: Optional[str], directory: str = CATALOGUE_DIR, path: Optional[str] = None) -> Dict[str, Any]:
    """The resolved, validated catalogue for a benchmark name (cis-1.12) or an explicit file path.

    An explicit file that extends a base finds the base beside it."""
    if path is None:
        if benchmark is None or not _NAME.match(benchmark):
            raise CatalogueNotFound("benchmark name %r is not valid (e.g. cis-1.12)" % (benchmark,))
        path = os.path.join(directory, benchmark + ".yml")
        if not os.path.isfile(path):
            raise CatalogueNotFound("no CIS catalogue for benchmark %r; available: %s" % (benchmark, ", ".join(available(directory))))
    else:
        directory = os.path.dirname(os.path.abspath(path))
    cached = _CACHE.get(path)
    if cached and cached[0] and cached[0] == _stamp(entry[0] for entry in cached[0]):
        return copy.deepcopy(cached[1])
    name = benchmark or os.path.basename(path).rsplit(".", 1)[0]
    files: List[str] = []
    catalogue = _resolve(name, directory, path, [name], files)
    if files[1:]:  # a full file was validated as one when read; a derived one is validated once resolved
        _validate(catalogue, path + " (resolved)", "full")
    _CACHE[path] = (_stamp(files), catalogue)
    return copy.deepcopy(catalogue)


def extends(benchmark: str, directory: str = CATALOGUE_DIR) -> Optional[str]:
    """The base a catalogue file names (None for a full one), for documentation."""
    return _read(os.path.join(directory, benchmark + ".yml")).get("extends")


def preload(directory: str = CATALOGUE_DIR) -> list[str]:
    """Load every catalogue of the directory into the cache; the names that loaded.

    Called where the main ansible-playbook process imports the cis_node_audit action plugin (the strategy does, for
    its class attributes, before it forks one worker per host): the workers inherit the cache, so each host's audit
    skips the YAML parse and schema validation (~0.6 s per host on 2 shared cores, benchmarks/fleet). A catalogue
    that does not load is left out here; the task that asks for it gets the error, naming the file.
    """
    loaded: list[str] = []
    try:
        names = available(directory)
    except OSError:
        return loaded
    for name in names:
        try:
            load(name, directory)
        except CatalogueNotFound:
            continue
        loaded.append(name)
    return loaded
