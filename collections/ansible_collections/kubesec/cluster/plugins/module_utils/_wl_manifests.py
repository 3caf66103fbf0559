# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workload input: manifest files and object lists -> (object, origin) items, and the records of what is not a
Kubernetes object the rules can read.

Private module_utils (leading underscore): the API may change between minor releases.

``load_manifests(path)`` reads a manifest file or a directory tree (``*.yaml``, ``*.yml``, ``*.json``; hidden
directories are skipped): multi-document YAML (Helm output with ``---`` and comments), JSON. ``expand(objects,
origins)`` flattens ``List`` kinds and checks every object (``_workload_input.check_object``). Standard library and
PyYAML (optional: JSON works without it).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._safeyaml import YAML_IMPORT_ERROR, YAML_LOADER as _YAML_LOADER, yaml
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import as_dict, short
from ansible_collections.kubesec.cluster.plugins.module_utils._workload_input import check_object

if TYPE_CHECKING:
    from typing import Dict, Tuple

    Origin = Optional[Dict[str, Any]]
    Item = Tuple[Dict[str, Any], Origin]

MANIFEST_EXTENSIONS = (".yaml", ".yml", ".json")
MAX_LIST_DEPTH = 4


class ManifestError(KubesecError, ValueError):
    """A manifest could not be read (the message names the file, the document and the position)."""


# ---------------------------------------------------------------------------------------------------------
# Loading


def _manifest_files(path: Any) -> list[str]:
    if not isinstance(path, str) or not path:
        raise ManifestError("path must be a file or directory name, got %r" % (path,))
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ManifestError("path %s does not exist (expected a manifest file or a directory of manifests)" % path)
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.lower().endswith(MANIFEST_EXTENSIONS) and not name.startswith("."):
                found.append(os.path.join(root, name))
    return found


def _position(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return ""
    return " (line %d, column %d)" % (mark.line + 1, mark.column + 1)


def _read_documents(filename: str) -> list[Any]:
    try:
        with open(filename, "rb") as handle:
            raw = handle.read()
    except (IOError, OSError) as exc:
        raise ManifestError("cannot read manifest file %s: %s" % (filename, exc)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError("manifest file %s is not UTF-8 text (byte %d)" % (filename, exc.start)) from None
    if filename.lower().endswith(".json"):
        try:
            return [json.loads(text)]
        except ValueError as exc:
            raise ManifestError("manifest file %s, document 1: not valid JSON: %s" % (filename, exc)) from None
        except RecursionError:
            raise ManifestError("manifest file %s, document 1: JSON nested too deeply" % filename) from None
    if yaml is None:
        raise ManifestError(
            "reading the YAML manifest %s needs the PyYAML library (%s); install PyYAML on the "
            "host that runs the module, or pass JSON files or objects" % (filename, YAML_IMPORT_ERROR)
        )
    documents = []
    try:
        for document in yaml.load_all(text, Loader=_YAML_LOADER):
            documents.append(document)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError("manifest file %s, document %d%s: invalid YAML: %s" % (filename, len(documents) + 1, _position(exc), problem)) from None
    except RecursionError:
        raise ManifestError("manifest file %s, document %d: YAML nested too deeply" % (filename, len(documents) + 1)) from None
    return documents


def load_manifests(path: Any) -> tuple[list[Any], list[dict[str, Any]], list[str]]:
    """Objects of every manifest under `path`: (objects, origins, warnings)."""
    objects, origins, warnings = [], [], []
    files = _manifest_files(path)
    if not files:
        warnings.append("no manifest files (*.yaml, *.yml, *.json) under %s" % path)
    for filename in files:
        for index, document in enumerate(_read_documents(filename), 1):
            if document is None:
                continue  # empty document: comments only, or a Helm template that rendered nothing
            objects.append(document)
            origins.append({"file": filename, "document": index})
    return objects, origins, warnings


def _origin_text(origin: Origin) -> str:
    if not origin:
        return "input"
    if "file" in origin:
        text = "%s, document %s" % (origin["file"], origin.get("document"))
    else:
        text = origin.get("input", "input")
    if origin.get("item"):
        text += ", " + origin["item"]
    return text


def _printable(text: str) -> str:
    """Control and format characters (ESC, newlines, bidi overrides) of manifest text escaped: these strings end
    up in warnings on a terminal and in the report."""
    return "".join(char if char.isprintable() else "\\u%04x" % ord(char) for char in text)


def _input_error(origin: Origin, obj: Any, problems: list[tuple[str, str]], evaluated: bool) -> dict[str, Any]:
    """One record per object the module could not understand: where it is, what it claims to be, why."""
    record: dict[str, Any] = {}
    evidence_origin(record, origin)
    obj = obj if isinstance(obj, dict) else {}
    meta = as_dict(obj.get("metadata"))
    for key, value in (
        ("kind", obj.get("kind")),
        ("api_version", obj.get("apiVersion")),
        ("name", meta.get("name") or meta.get("generateName")),
        ("namespace", meta.get("namespace")),
    ):
        record[key] = _printable(short(value, 120)) if isinstance(value, str) else None
    record["problems"] = [{"field": field, "reason": _printable(short(why, 300))} for field, why in problems[:20]]
    record["reason"] = "; ".join(item["reason"] for item in record["problems"])
    record["evaluated"] = evaluated
    record["message"] = _printable(input_error_text(record))  # the file name too
    return record


def input_error_text(record: dict[str, Any]) -> str:
    what = " ".join(part for part in (record.get("kind"), record.get("name")) if part) or "object"
    return "%s: %s is not a valid Kubernetes object (%s)%s" % (_origin_text(record), what, record["reason"], "" if record["evaluated"] else "; not evaluated")


def expand(objects: Any, origins: Optional[list[Any]]) -> tuple[list[Item], list[str], list[dict[str, Any]]]:
    """Flatten List kinds; report (input_errors, warnings) what is not a valid Kubernetes object of a read kind."""
    if objects is None:
        objects = []
    if not isinstance(objects, (list, tuple)):
        raise ManifestError("objects must be a list of Kubernetes objects (mappings), got %s" % type(objects).__name__)
    if origins is not None and len(origins) != len(objects):
        raise ValueError("origins must be parallel to objects")
    items, warnings, errors = [], [], []

    def skip(obj: Any, origin: Origin, why: str, message: str) -> None:
        warnings.append(message)
        errors.append(_input_error(origin, obj, [("", why)], False))

    def walk(obj: Any, origin: Origin, depth: int) -> None:
        if not isinstance(obj, dict):
            skip(
                obj,
                origin,
                "a document of %s, not a Kubernetes object (a mapping)" % type(obj).__name__,
                "%s: not a mapping (%s); skipped" % (_origin_text(origin), type(obj).__name__),
            )
            return
        kind = obj.get("kind")
        if not isinstance(kind, str) or not kind:
            skip(obj, origin, "no kind: not a Kubernetes object", "%s: no kind; not a Kubernetes object, skipped" % _origin_text(origin))
            return
        if kind.endswith("List") and isinstance(obj.get("items"), list):
            if depth >= MAX_LIST_DEPTH:
                skip(
                    obj,
                    origin,
                    "Lists nested deeper than %d" % MAX_LIST_DEPTH,
                    "%s: Lists nested deeper than %d; skipped" % (_origin_text(origin), MAX_LIST_DEPTH),
                )
                return
            for index, item in enumerate(obj["items"]):
                sub = dict(origin or {})
                sub["item"] = ((sub.get("item") or "") + ".items[%d]" % index).lstrip(".")
                walk(item, sub, depth + 1)
            return
        problems, readable = check_object(obj)
        if problems:
            errors.append(_input_error(origin, obj, problems, readable))
        if readable:
            items.append((obj, origin))

    for index, obj in enumerate(objects):
        walk(obj, origins[index] if origins is not None else {"input": "objects[%d]" % index}, 0)
    return items, warnings, errors


def evidence_origin(evidence: dict[str, Any], origin: Origin) -> None:
    """Copy where an object came from (file, document, item, input) into a finding's evidence or a record."""
    if not origin:
        return
    for key in ("file", "document", "item", "input"):
        if origin.get(key) is not None:
            evidence[key] = origin[key]
