# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: atomic file writes (a temp file in the target directory, then rename), for every report file.

A reader (a browser, the index, the next run's comparison) never sees half a file, and an interrupted run leaves
the previous file in place. The model is community.crypto's ``write_file``. ``atomic_write`` is
module_utils/_io.atomic_write with the report's defaults; ``open_atomic`` is the streaming form the report writers
need (report.json of a million findings is not held in memory).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from ansible_collections.kubesec.cluster.plugins.module_utils import _io as _node_io

DEFAULT_MODE = 0o644


def _final_mode(path: str, mode: int | None) -> int:
    """The given mode; else the existing file's; else the default (a temp file alone would be 0600)."""
    if mode is not None:
        return mode
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return DEFAULT_MODE


@contextmanager
def open_atomic(path: str, *, mode: int | None = None, text: bool = True) -> Iterator[IO]:
    """A handle on a temp file beside ``path``; on a clean exit it gets ``mode`` and replaces ``path``.

    On an exception the temp file is removed and ``path`` is left as it was. Text handles are UTF-8 with
    ``errors="replace"`` and a 1 MiB buffer.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        if text:
            handle: IO = os.fdopen(fd, "w", encoding="utf-8", errors="replace", buffering=1 << 20)
        else:
            handle = os.fdopen(fd, "wb")
        with handle:
            yield handle
        os.chmod(tmp, _final_mode(path, mode))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write(path: str, data: bytes | str, *, mode: int | None = None, backup: bool = False) -> str | None:
    """Write ``data`` (text is encoded UTF-8, lone surrogates as "?") to ``path`` atomically, creating its folder; returns the backup's path.

    The one atomic write of the collection (module_utils/_io.atomic_write: fsync, rename, directory sync, backup,
    no temp file left on any error) with the report's defaults: missing folders are created and a new file gets
    0644. ``mode``: the file's permission bits (None: keep an existing file's). Errors are ``_io.WriteError``
    (an OSError) naming the file.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    # cluster text may hold lone surrogates (from JSON escapes): written as "?" rather than failing the report
    payload = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
    return _node_io.atomic_write(path, payload, mode=mode, backup=backup, new_mode=DEFAULT_MODE)
