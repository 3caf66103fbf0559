# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: write small files of a run (meta/sources.json, findings files) in the controller's process.

The collect role used `file` and a delegated `copy` per file: each is a module started as a new Python process on the
controller (~0.3-1 s on 2 shared cores). Writing in the action plugin itself costs milliseconds (benchmarks/fleet).
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.kubesec.cluster.plugins.plugin_utils._report import write_atomic

MAX_DIFF_BYTES = 65536  # diff mode shows contents up to this size, else only which file changes


class RunFilesError(ValueError):
    """A file entry that cannot be written; the message names the entry and what was expected."""


def plan(dest: str, files: list[dict[str, Any]], directories: list[str]) -> list[dict[str, Any]]:
    """[{path (absolute), relative, content (bytes), before (bytes | None), changed}] for the files under dest.

    Every path is relative and stays inside dest (no absolute path, no '..'), so a value from an inventory cannot
    write elsewhere; directories are validated the same way.
    """
    root = os.path.abspath(dest)
    for directory in directories:
        _inside(root, directory, "directories entry")
    out = []
    seen: set[str] = set()
    for number, entry in enumerate(files):
        relative = entry.get("path")
        where = "files[%d]" % number
        if not isinstance(relative, str):
            raise RunFilesError("%s: path must be a string relative to %s, got %r" % (where, root, relative))
        path = _inside(root, relative, where)
        if path in seen:
            raise RunFilesError("%s: %s is given twice" % (where, relative))
        seen.add(path)
        content = entry.get("content")
        if not isinstance(content, str):
            raise RunFilesError("%s (%s): content must be a string (use to_nice_json), got %s" % (where, relative, type(content).__name__))
        data = content.encode("utf-8")
        before = _read(path)
        out.append({"path": path, "relative": relative, "content": data, "before": before, "changed": before != data})
    return out


def missing_directories(dest: str, directories: list[str]) -> list[str]:
    """The directories entries that do not exist yet (creating one is a change)."""
    root = os.path.abspath(dest)
    return [relative for relative in directories if not os.path.isdir(_inside(root, relative, "directories entry"))]


def _inside(root: str, relative: str, where: str) -> str:
    if not relative or os.path.isabs(relative) or "\x00" in relative:
        raise RunFilesError("%s: %r must be a non-empty path relative to %s" % (where, relative, root))
    path = os.path.normpath(os.path.join(root, relative))
    if os.path.commonpath([root, path]) != root or path == root:
        raise RunFilesError("%s: %r leaves %s" % (where, relative, root))
    return path


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise RunFilesError("%s is a directory, not a file" % path) from exc


def write(dest: str, planned: list[dict[str, Any]], directories: list[str], mode: int, directory_mode: int) -> list[str]:
    """Create the directories, write the changed files atomically; the relative paths written."""
    root = os.path.abspath(dest)
    for relative in directories:
        os.makedirs(_inside(root, relative, "directories entry"), mode=directory_mode, exist_ok=True)
    written = []
    for item in planned:
        os.makedirs(os.path.dirname(item["path"]), mode=directory_mode, exist_ok=True)
        if item["changed"]:
            write_atomic(item["path"], item["content"], mode=mode)
            written.append(item["relative"])
    return written


def diff(planned: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Ansible diff entries of the files that change (contents only when both sides are small text)."""
    out = []
    for item in planned:
        if not item["changed"]:
            continue
        before, after = item["before"] or b"", item["content"]
        entry = {"before_header": item["path"] if item["before"] is not None else "(absent)", "after_header": item["path"]}
        if len(before) <= MAX_DIFF_BYTES and len(after) <= MAX_DIFF_BYTES:
            entry.update(before=before.decode("utf-8", "replace"), after=after.decode("utf-8", "replace"))
        else:
            entry.update(before="(%d bytes)\n" % len(before), after="(%d bytes)\n" % len(after))
        out.append(entry)
    return out
