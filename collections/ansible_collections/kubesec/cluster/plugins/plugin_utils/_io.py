# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: atomic file writes (a temp file in the target directory, then rename), for every report file.

A reader (a browser, the index, the next run's comparison) never sees half a file, and an interrupted run leaves
the previous file in place. The model is community.crypto's ``write_file``. ``atomic_write`` has the signature of
module_utils/_io.atomic_write (being written in parallel for the node side); ``open_atomic`` is the streaming form
the report writers need (report.json of a million findings is not held in memory).
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

DEFAULT_MODE = 0o644


def _backup(path: str) -> str | None:
    """Copy an existing ``path`` to ``path.<UTC time>~`` (mode and times kept); None when there is nothing to keep."""
    if not os.path.isfile(path):
        return None
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    backup = "%s.%s~" % (path, stamp)
    shutil.copy2(path, backup)
    return backup


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
    """Write ``data`` (text is encoded UTF-8) to ``path`` atomically; returns the backup's path or None.

    ``mode``: the file's permission bits (None: keep an existing file's, else 0644). ``backup``: keep the file
    being replaced as ``path.<UTC time>~`` first.
    """
    backup_path = _backup(path) if backup else None
    payload = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
    with open_atomic(path, mode=mode, text=False) as handle:
        handle.write(payload)
    return backup_path
