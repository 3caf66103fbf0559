"""_io.atomic_write / write_temp: one way to replace a file (issue 16), modelled on community.crypto's write_file."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _io


def listing(directory):
    return sorted(os.listdir(directory))


def test_new_file_is_written_with_new_mode(tmp_path):
    target = tmp_path / "facts.json"
    assert _io.atomic_write(str(target), "{}\n", new_mode=0o640) is None
    assert target.read_text() == "{}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert listing(tmp_path) == ["facts.json"]


def test_new_file_without_mode_gets_what_open_would_create(tmp_path):
    old = os.umask(0o027)
    try:
        _io.atomic_write(str(tmp_path / "a"), b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o640


def test_existing_file_keeps_its_mode_unless_mode_is_given(tmp_path):
    target = tmp_path / "config.yaml"
    target.write_text("old\n")
    target.chmod(0o600)
    _io.atomic_write(str(target), "new\n", new_mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    _io.atomic_write(str(target), "newer\n", mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.read_text() == "newer\n"


def test_bytes_and_text_are_written_as_given(tmp_path):
    _io.atomic_write(str(tmp_path / "b"), b"\x00\xff")
    _io.atomic_write(str(tmp_path / "t"), "caf\u00e9")
    assert (tmp_path / "b").read_bytes() == b"\x00\xff"
    assert (tmp_path / "t").read_bytes() == "caf\u00e9".encode()


def test_backup_copies_the_old_file_and_returns_its_path(tmp_path):
    target = tmp_path / "kubelet.conf"
    target.write_text("old\n")
    saved = _io.atomic_write(str(target), "new\n", backup=True)
    assert saved is not None and saved.startswith(str(target) + ".%d." % os.getpid()) and saved.endswith("~")
    assert open(saved).read() == "old\n"
    assert target.read_text() == "new\n"


def test_backup_of_a_missing_file_is_none(tmp_path):
    assert _io.atomic_write(str(tmp_path / "new"), "x", backup=True) is None
    assert listing(tmp_path) == ["new"]


def test_disk_full_while_writing_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "facts.json"
    target.write_text("old\n")

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_io.os, "fsync", fsync)
    with pytest.raises(_io.WriteError, match="^cannot write %s: the file system is full$" % target):
        _io.atomic_write(str(target), "new\n")
    monkeypatch.undo()
    assert target.read_text() == "old\n"
    assert listing(tmp_path) == ["facts.json"]  # no temp file left


def test_a_failed_rename_removes_temp_file_and_backup(tmp_path, monkeypatch):
    target = tmp_path / "a.yaml"
    target.write_text("old\n")

    def replace(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(_io.os, "replace", replace)
    with pytest.raises(_io.WriteError, match="cannot write .*a.yaml: Invalid cross-device link") as caught:
        _io.atomic_write(str(target), "new\n", backup=True)
    monkeypatch.undo()
    assert isinstance(caught.value, OSError)  # callers that catch OSError keep working
    assert listing(tmp_path) == ["a.yaml"]
    assert target.read_text() == "old\n"


def test_a_failing_prepare_leaves_no_temp_file(tmp_path):
    def prepare(tmp, real):
        assert os.path.dirname(tmp) == str(tmp_path) and real == str(tmp_path / "f")
        raise OSError("cannot set the SELinux context of %s" % tmp)

    with pytest.raises(_io.WriteError, match="cannot write .*/f: cannot set the SELinux context"):
        _io.atomic_write(str(tmp_path / "f"), "x", prepare=prepare)
    assert listing(tmp_path) == []


def test_interrupt_leaves_no_temp_file(tmp_path):
    def prepare(tmp, real):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _io.atomic_write(str(tmp_path / "f"), "x", prepare=prepare)
    assert listing(tmp_path) == []


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(_io.WriteError, match="cannot write .*/nope/f: cannot create a temp file in .*/nope: "):
        _io.atomic_write(str(tmp_path / "nope" / "f"), "x")


def test_write_temp_is_a_dot_file_beside_the_target_with_its_owner_and_mode(tmp_path):
    target = tmp_path / "kube-apiserver.yaml"
    target.write_text("old\n")
    target.chmod(0o600)
    tmp = _io.write_temp(str(target), "new\n", prefix=".kubesec-tmp-", new_mode=0o644)
    assert os.path.dirname(tmp) == str(tmp_path) and os.path.basename(tmp).startswith(".kubesec-tmp-")
    assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o600
    assert os.stat(tmp).st_uid == target.stat().st_uid
    assert open(tmp).read() == "new\n"
