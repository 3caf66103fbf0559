# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Change a set of node files all or nothing, under a lock, with bounded reads and clean failures.

Used by kubelet_config (config file + unit drop-ins + env files) and static_pod_manifest (one manifest):
- lock(): an exclusive flock on a lock file beside the files, waited for up to a timeout, so two runs on one
  node take turns; the caller re-reads and re-plans under the lock, so the second run builds on the first.
- write_set(): every new content goes to a dot-named temp file in the target's directory first (mode, owner
  and SELinux context of the original), and only when all are written and synced are they renamed over the
  targets. A failure before the first rename leaves every file as it was; a failure between renames puts the
  renamed ones back (from a hard link of the original kept until the end). Disk full / EFBIG while writing a
  temp file removes the temp files and names the file. WriteSetError says what was written, what was put
  back and where the backups are, so the caller's rollback can still run when putting back failed too.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils import _io
from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

TEMP_PREFIX = ".kubesec-tmp-"
KEEP_PREFIX = ".kubesec-orig-"
MAX_READ_BYTES = 4 * 1024 * 1024  # config files, unit files and manifests are a few KB

# one change of write_set: {"real": file on disk, "path": node path for messages (optional), "after": new text}
Change = Dict[str, Any]
Prepare = _io.Prepare


class NodeFileError(KubesecError):
    """A node file cannot be read, locked or written (the message names the file)."""


class WriteSetError(NodeFileError):
    """A write of a file set failed; `written` files are changed on the node, `restored` were put back."""

    def __init__(self, message: str, written: Sequence[Any] = (), restored: Sequence[str] = (), backups: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.written = list(written)
        self.restored = list(restored)
        self.backups = dict(backups or {})


def read_text(real: str, name: Optional[str] = None, max_bytes: int = MAX_READ_BYTES) -> str:
    """A node file's text (UTF-8), refusing files larger than max_bytes; `name` is the node path for messages."""
    name = name or real
    try:
        with open(real, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except (IOError, OSError) as exc:
        raise NodeFileError("cannot read %s: %s" % (name, exc.strerror or exc)) from None
    if len(data) > max_bytes:
        raise NodeFileError("%s is larger than %d bytes; refusing to read it" % (name, max_bytes))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NodeFileError("%s is not UTF-8 text (byte %d)" % (name, exc.start)) from None


def lock_path(real: str) -> str:
    """The lock file beside a node file: a dot file, which the kubelet's static pod source ignores."""
    directory, base = os.path.split(real)
    return os.path.join(directory, ".kubesec-%s.lock" % base)


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


@contextlib.contextmanager
def lock(real: str, timeout: float = 30.0, name: Optional[str] = None) -> Iterator[str]:
    """Hold an exclusive flock on lock_path(real) for the block; waits up to `timeout` seconds, then fails.

    The lock file is removed when the block ends, so nothing is left beside the files (a static pod manifests
    directory stays as kubeadm made it). That is safe because a run that got the flock checks that the path
    still names the file it locked; if the holder removed it meanwhile, it opens the new one and waits again.
    """
    path = lock_path(real)
    name = name or real
    deadline = time.monotonic() + max(0.0, float(timeout))
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except (IOError, OSError) as exc:
            raise NodeFileError("cannot create the lock file %s for %s: %s" % (path, name, exc.strerror or exc)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise NodeFileError("cannot lock %s: %s" % (path, exc.strerror or exc)) from None
            if time.monotonic() >= deadline:
                raise NodeFileError(
                    "another run is changing %s: its lock %s is still held after %g s; nothing "
                    "was changed, run again when it has finished" % (name, path, timeout)
                ) from None
            time.sleep(0.05)
            continue
        if _same_file(fd, path):
            break
        os.close(fd)  # the holder removed it as we got it: take the new one
    try:
        yield path
    finally:
        try:
            os.unlink(path)  # still holding the flock: nobody can have locked this file meanwhile
        except OSError:
            pass
        os.close(fd)  # closing releases the flock


def backup_name(real: str, stamp: Optional[str] = None) -> str:
    """Backup beside the file, as AnsibleModule.backup_local names it: <file>.<pid>.<time>~."""
    return _io.backup_name(real, stamp)


_discard = _io.discard
_sync_dir = _io.sync_dir


def _stage(change: Change, new_mode: int, prepare: Optional[Prepare]) -> str:
    """Write change['after'] to a temp file beside the target (_io.write_temp); returns its path."""
    real, name = change["real"], change.get("path") or change["real"]
    try:
        return _io.write_temp(real, change["after"], new_mode=new_mode, prefix=TEMP_PREFIX, name=name, prepare=prepare)
    except _io.WriteError as exc:
        raise NodeFileError(str(exc)) from None


def _keep_original(real: str) -> str:
    """A hard link to the original beside it (no space needed), or a copy where links are not supported."""
    directory = os.path.dirname(real)
    for _attempt in range(100):
        keep = os.path.join(directory, KEEP_PREFIX + os.urandom(6).hex())
        try:
            os.link(real, keep)
            return keep
        except FileExistsError:
            continue
        except OSError:
            fd, keep = tempfile.mkstemp(prefix=KEEP_PREFIX, dir=directory)
            os.close(fd)
            try:
                shutil.copy2(real, keep)
            except BaseException:
                _discard(keep)
                raise
            return keep
    raise OSError(errno.EEXIST, "no free name for a copy of the original", real)


def write_set(
    changes: Sequence[Change], backup: Optional[Callable[[str], Optional[str]]] = None, new_mode: int = 0o600, prepare: Optional[Prepare] = None
) -> Dict[str, str]:
    """Write [{path, real, after}] all or nothing. Returns {real: backup real path} (empty without `backup`).

    backup(real) -> path of the backup copy to make before the change (None: no backup). prepare(tmp, real) may
    adjust a temp file (SELinux context) before the renames; it must raise OSError/NodeFileError on failure.
    """
    staged: List[Tuple[Change, str]] = []
    try:
        for change in changes:
            staged.append((change, _stage(change, new_mode, prepare)))
    except BaseException:
        for _change, tmp in staged:
            _discard(tmp)
        raise
    backups: Dict[str, str] = {}
    keeps: Dict[str, str] = {}
    try:
        for change, _tmp in staged:
            real = change["real"]
            if not os.path.exists(real):
                continue
            if backup is not None:
                target = backup(real)
                if target:
                    directory = os.path.dirname(target)
                    if not os.path.isdir(directory):
                        os.makedirs(directory, 0o700)
                    try:
                        shutil.copy2(real, target)
                    except BaseException:
                        _discard(target)  # no half-written backup left behind (disk full)
                        raise
                    backups[real] = target
            keeps[real] = _keep_original(real)
    except (IOError, OSError) as exc:
        for _change, tmp in staged:
            _discard(tmp)
        for keep in keeps.values():
            _discard(keep)
        for copy in backups.values():
            _discard(copy)
        raise NodeFileError("cannot back up %s before changing it: %s; nothing was changed" % (exc.filename or "a file", exc.strerror or exc)) from None
    written: List[Change] = []
    try:
        for change, tmp in staged:
            os.rename(tmp, change["real"])
            written.append(change)
            _sync_dir(os.path.dirname(change["real"]))
    except (IOError, OSError) as exc:
        failed = staged[len(written)][0]
        for _change, tmp in staged[len(written):]:
            _discard(tmp)
        restored: List[str] = []
        lost: List[str] = []
        for change in reversed(written):
            real = change["real"]
            try:
                if real in keeps:
                    os.rename(keeps.pop(real), real)
                else:
                    os.unlink(real)  # it did not exist before
                restored.append(change.get("path") or real)
            except OSError:
                lost.append(change.get("path") or real)
        for keep in keeps.values():
            _discard(keep)
        message = "cannot replace %s: %s" % (failed.get("path") or failed["real"], exc.strerror or exc)
        if lost:
            message += "; %s could NOT be put back: restore from the backups (%s)" % (
                ", ".join(lost),
                ", ".join("%s -> %s" % item for item in sorted(backups.items())) or "none",
            )
        elif restored:
            message += "; %s put back as before, nothing is changed" % ", ".join(restored)
        else:
            message += "; nothing was changed"
        raise WriteSetError(message, written=lost, restored=restored, backups=backups) from None
    for keep in keeps.values():
        _discard(keep)
    return backups


def selinux_prepare(module: Any) -> Optional[Prepare]:
    """prepare() for write_set that gives each temp file the SELinux context of the file it replaces (what
    AnsibleModule.atomic_move does), or None when SELinux is off."""
    if not module.selinux_enabled():
        return None

    def prepare(tmp: str, real: str) -> None:
        context = module.selinux_context(real)
        if context and not module.set_context_if_different(tmp, context, False):
            raise OSError("cannot set the SELinux context of %s" % tmp)

    return prepare
