# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way to replace a file: a temp file in the same directory, fsync, rename, fsync the directory.

Node side (standard library only). Modelled on community.crypto's ``module_utils/io.py`` ``write_file`` (temp
file, keep the attributes of the file it replaces, remove the temp file on any failure), without needing an
AnsibleModule, so action plugins, modules and module_utils share it:

- ``atomic_write(path, data)``: readers see the old file or the new one, never a part; a crash leaves at most a
  dot-named temp file. An existing file keeps its mode and owner (unless ``mode`` is given); a new one gets
  ``new_mode`` (default: what ``open()`` creates, 0o666 less the umask). ``backup=True`` first copies the old file
  to ``<path>.<pid>.<time>~`` (the name ``AnsibleModule.backup_local`` uses) and returns that path.
- ``write_temp(path, data)``: only the first step (the temp file beside ``path``, synced, with the final mode and
  owner), for callers that rename several files together (_nodewrite.write_set).
Every failure raises WriteError naming the file, with "the file system is full" for ENOSPC, and leaves no temp file.
"""

from __future__ import annotations

import datetime
import errno
import os
import shutil
import tempfile
from typing import Callable, Optional, Union

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

TEMP_PREFIX = ".kubesec-tmp-"
# errno -> what a user should read instead of the C library's wording
_REASONS = {errno.ENOSPC: "the file system is full", errno.EFBIG: "the file would be too large (EFBIG)", errno.EDQUOT: "the disk quota is exceeded"}

# prepare(temp path, final path): adjust the temp file before the rename (e.g. its SELinux context); raises on failure
Prepare = Callable[[str, str], None]


class WriteError(KubesecError, OSError):
    """A file could not be written; the message names it (and the temp file is gone)."""


def reason(exc: OSError) -> str:
    """A short reason for an OSError: plain words for disk full / too large / quota, else its strerror."""
    return _REASONS.get(exc.errno or 0, exc.strerror or str(exc))


def backup_name(path: str, stamp: Optional[str] = None) -> str:
    """Backup beside the file, as AnsibleModule.backup_local names it: <file>.<pid>.<time>~."""
    stamp = stamp or datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")
    return "%s.%s.%s~" % (path, os.getpid(), stamp)


def discard(path: str) -> None:
    """Remove a file if it is there (clean-up after a failure: never raises)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def sync_dir(directory: str) -> None:
    """fsync a directory so a rename in it survives a crash (best effort: some file systems refuse)."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_temp(
    path: str,
    data: Union[bytes, str],
    *,
    mode: Optional[int] = None,
    new_mode: Optional[int] = None,
    prefix: str = TEMP_PREFIX,
    name: Optional[str] = None,
    prepare: Optional[Prepare] = None,
) -> str:
    """Write data (str: as UTF-8) to a new temp file in path's directory, synced; returns the temp file's path.

    Mode: ``mode`` if given, else the mode and owner of the existing ``path``, else ``new_mode`` (default 0o666
    less the umask). ``name`` is how messages call the file (a node path when ``path`` is under a test root).
    """
    name = name or path
    directory = os.path.dirname(path) or "."
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    except OSError as exc:
        raise WriteError("cannot write %s: cannot create a temp file in %s: %s" % (name, os.path.dirname(name) or ".", reason(exc))) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif os.path.exists(path):
            info = os.stat(path)
            os.chmod(tmp, info.st_mode & 0o7777)
            try:
                os.chown(tmp, info.st_uid, info.st_gid)
            except OSError:
                pass  # not root: the file becomes ours, as it would with any other writer
        else:
            os.chmod(tmp, _default_mode() if new_mode is None else new_mode)
        if prepare is not None:
            prepare(tmp, path)
    except OSError as exc:
        discard(tmp)
        raise WriteError("cannot write %s: %s" % (name, reason(exc))) from None
    except BaseException:
        discard(tmp)
        raise
    return tmp


def atomic_write(
    path: str,
    data: Union[bytes, str],
    *,
    mode: Optional[int] = None,
    backup: bool = False,
    new_mode: Optional[int] = None,
    name: Optional[str] = None,
    prepare: Optional[Prepare] = None,
) -> Optional[str]:
    """Replace path with data all at once; returns the backup's path (None: no backup asked, or no old file).

    The directory must exist. See write_temp for mode / new_mode / name / prepare.
    """
    name = name or path
    tmp = write_temp(path, data, mode=mode, new_mode=new_mode, name=name, prepare=prepare)
    saved = None
    try:
        if backup and os.path.exists(path):
            saved = backup_name(path)
            shutil.copy2(path, saved)
        os.replace(tmp, path)
    except OSError as exc:
        discard(tmp)
        if saved is not None:
            discard(saved)  # the old file is unchanged: a backup of it would only be litter
        raise WriteError("cannot write %s: %s" % (name, reason(exc))) from None
    except BaseException:
        discard(tmp)
        raise
    sync_dir(os.path.dirname(path))
    return saved
