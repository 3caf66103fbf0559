"""plugin_utils/_io: the atomic writes every report file goes through (report.json, junit, sarif, html, pdf, index)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.kubesec.cluster.plugins.plugin_utils import _io, _report


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_text_and_bytes_with_mode(tmp_path):
    target = tmp_path / "deep" / "dir" / "report.html"
    assert _io.atomic_write(str(target), "ünïcode", mode=0o640) is None
    assert target.read_bytes() == "ünïcode".encode() and mode_of(target) == 0o640
    _io.atomic_write(str(target), b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    assert mode_of(target) == 0o640  # mode None keeps the existing file's mode
    fresh = tmp_path / "fresh.json"
    _io.atomic_write(str(fresh), "{}")
    assert mode_of(fresh) == 0o644  # not the 0600 of a temp file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "fresh.json"]


def test_atomic_write_backup_keeps_the_replaced_file(tmp_path):
    target = tmp_path / "index.json"
    assert _io.atomic_write(str(target), "one", backup=True) is None  # nothing to keep yet
    backup = _io.atomic_write(str(target), "two", backup=True)
    assert backup and os.path.dirname(backup) == str(tmp_path) and backup.endswith("~")
    assert open(backup).read() == "one" and target.read_text() == "two"


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "report.pdf"
    target.write_text("old")

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        _io.atomic_write(str(target), "new", mode=0o644)
    with pytest.raises(RuntimeError):
        with _io.open_atomic(str(target)) as handle:
            handle.write("half")
            raise RuntimeError("writer failed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_report_write_atomic_keeps_the_report_mode(tmp_path):
    # the report's files stay 0644 (readable by the web server that serves reports/) even over a 0600 file
    target = tmp_path / "report.html"
    target.write_text("old")
    os.chmod(target, 0o600)
    _report.write_atomic(str(target), "new")
    assert target.read_text() == "new" and mode_of(target) == 0o644


def test_index_and_history_read_only_the_headline_lines(tmp_path):
    # A later line that does not parse is never read: the index and the history stop after the keys they need
    # (at a million findings, comparison_fingerprints alone is tens of MB per run).
    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats

    run = tmp_path / "c1" / "20261124T020000Z"
    run.mkdir(parents=True)
    headline = {"run_id": "20261124T020000Z", "open": 3}
    lines = [
        '{"schema_version": 2',
        '"headline": %s' % json.dumps(headline),
        '"cluster": "c1"',
        '"run_id": "20261124T020000Z"',
        '"generated_at": "2026-11-24T02:00:00Z"',
        '"summary": {"total": 3}',
        '"areas": [{"area": "nodes"}]',
        '"comparison_fingerprints": {not json',
        '"findings": [',
    ]
    (run / "report.json").write_text(",\n".join(lines[:-1]) + ",\n" + lines[-1] + "\n]}\n")
    entries = _report.index_entries(str(tmp_path))
    assert [(e["cluster"], e["headline"], e["areas"]) for e in entries] == [("c1", headline, [{"area": "nodes"}])]
    assert _report.read_history(str(tmp_path / "c1"), "20261125T020000Z") == [headline]
    # a file cut before its findings line is still refused, naming nothing half-read as a headline
    (run / "report.json").write_text(",\n".join(lines[:2]) + ",\n")
    with pytest.raises(ValueError):
        _formats.read_report_keys(str(run / "report.json"), ("headline", "areas"))
    assert "error" in _report.index_entries(str(tmp_path))[0]
