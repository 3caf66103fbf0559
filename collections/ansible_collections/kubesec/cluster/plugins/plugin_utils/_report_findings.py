# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: reading the findings files of a run (reports/<cluster>/<run_id>/findings/*.json).

Scale: a run can hold a million findings. ``FindingsDir`` is re-iterable and streams its files one finding at a
time: files written by ``_finding.dumps`` (indent=1, what every collector writes) are cut at their top-level
element boundaries and parsed by orjson; any other JSON array is streamed with json.JSONDecoder.raw_decode; small
or hand-written files ({"findings": [...]}) are read whole. Every finding is checked for the normalized shape.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITY_ORDER, STATUSES
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats

Finding = dict[str, Any]

PROBLEM_STATUSES = ("fail", "warn")
STATUS_RANK = {"fail": 0, "warn": 1, "waived": 2, "info": 3, "pass": 4}
_STREAM_THRESHOLD = 4 * 1024 * 1024
_CHUNK = 1 << 20


class ReportInputError(ValueError):
    """A findings file or a waiver is wrong (names the file or the waiver)."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """Building many small objects runs much faster with the cyclic GC paused (no cycles are created here)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def worse(a: str, b: str) -> str:
    """The worse of two statuses (fail < warn < waived < info < pass)."""
    return a if STATUS_RANK.get(a, 9) <= STATUS_RANK.get(b, 9) else b


REQUIRED_KEYS = frozenset(("id", "source", "status", "severity", "fingerprint"))


def _check_finding(item: Any, path: str, index: int) -> None:
    if not isinstance(item, dict) or not REQUIRED_KEYS <= item.keys():  # keys view: no set built per finding
        raise ReportInputError("findings file %s: entry %d is not a normalized finding" % (path, index))
    if item["status"] not in STATUSES or item["severity"] not in SEVERITY_ORDER:
        raise ReportInputError("findings file %s: entry %d has status %r / severity %r" % (path, index, item["status"], item["severity"]))


class _NotIndentOne(Exception):
    """The fast path met something other than json.dumps(indent=1) output; the generic parser takes over."""

    def __init__(self, done: int) -> None:
        super().__init__(done)
        self.done = done


def _iter_array_stream(path: str, handle: IO[str]) -> Iterator[Any]:
    """Yield the elements of a top-level JSON array without loading the whole file.

    Kept instead of a library (issue 16), measured 2026-12-06 on the report_scale findings (the 3 files over 4 MB,
    133.5 MB, 148,995 findings; CPU time, median of 5, Python 3.11, load ~6 on 2 cores): _iter_indent_one (orjson)
    0.48 s, this reader 0.76 s, ijson 3.6.0 with its C backend (yajl2_c, ``items(f, "item", use_float=True)``)
    0.98 s. ijson is slower than both, so it would add a dependency for nothing.
    """
    decoder = json.JSONDecoder()
    buf = handle.read(_CHUNK)
    pos = len(buf) - len(buf.lstrip())
    if buf[pos:pos + 1] == "{":
        raise _NotIndentOne(-1)  # {"findings": [...]}: read whole (rare, written by hand)
    if buf[pos:pos + 1] != "[":
        raise ReportInputError("findings file %s must hold a list of findings" % path)
    pos += 1
    eof = False
    consumed = 0
    while True:
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buf) or eof:
                break
            more = handle.read(_CHUNK)
            eof = not more
            buf, pos, consumed = buf[pos:] + more, 0, consumed + pos
        if pos >= len(buf):
            raise ReportInputError("findings file %s is not readable JSON: unexpected end of file" % path)
        if buf[pos] == "]":
            return
        while True:
            try:
                item, end = decoder.raw_decode(buf, pos)
                break
            except ValueError as exc:
                if eof:
                    raise ReportInputError(
                        "findings file %s is not readable JSON: %s (near byte %d)" % (path, getattr(exc, "msg", exc), consumed + pos)
                    ) from exc
                more = handle.read(_CHUNK)
                eof = not more
                buf, pos, consumed = buf[pos:] + more, 0, consumed + pos
        yield item
        pos = end
        if pos > _CHUNK:
            buf, pos, consumed = buf[pos:], 0, consumed + pos


def _iter_indent_one(handle: IO[bytes]) -> Iterator[Finding]:
    """Elements of a JSON array written with indent=1 (``_finding.dumps``, what every collector writes).

    In that layout a top-level element, and only a top-level element, ends with a newline, one space and a
    closing brace (deeper objects are indented further; strings cannot hold a raw newline), so each element can
    be cut out with bytes.find and parsed by orjson. Anything unexpected raises _NotIndentOne with the number of
    elements already yielded.
    """
    done = 0
    buf = handle.read(_CHUNK)
    orjson = _formats.orjson
    if not buf.startswith(b"[\n {") or orjson is None:
        raise _NotIndentOne(0)
    pos = 2
    eof = False
    while True:
        end = buf.find(b"\n }", pos)
        while end < 0:
            if eof:
                raise _NotIndentOne(done)
            more = handle.read(_CHUNK)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            end = buf.find(b"\n }", pos)
        try:
            item = orjson.loads(buf[pos:end + 3])
        except ValueError:
            raise _NotIndentOne(done) from None
        if not isinstance(item, dict):
            raise _NotIndentOne(done)
        yield item
        done += 1
        pos = end + 3
        while True:
            if buf[pos:pos + 2] == b",\n":
                pos += 2
                break
            if not eof and len(buf) - pos < 64:
                more = handle.read(_CHUNK)
                eof = not more
                buf, pos = buf[pos:] + more, 0
                continue
            if eof and buf[pos:].strip() == b"]":
                return
            raise _NotIndentOne(done)


def iter_findings_file(path: str) -> Iterator[Finding]:
    """Findings of one file (a JSON list, or {"findings": [...]}), validated one by one."""
    try:
        size = os.path.getsize(path)
        if size > _STREAM_THRESHOLD:
            skip = 0
            with open(path, "rb") as binary:
                try:
                    for index, item in enumerate(_iter_indent_one(binary)):
                        _check_finding(item, path, index)
                        yield item
                    return
                except _NotIndentOne as exc:
                    skip = exc.done
            wrapped = False
            with open(path, "r", encoding="utf-8") as handle:
                try:
                    for index, item in enumerate(_iter_array_stream(path, handle)):
                        if index < skip:
                            continue
                        _check_finding(item, path, index)
                        yield item
                except _NotIndentOne:
                    wrapped = True
            if not wrapped:
                return
        with open(path, "rb") as binary:
            data = _formats.loads(binary.read())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ReportInputError):
            raise
        raise ReportInputError("findings file %s is not readable JSON: %s" % (path, exc)) from exc
    if isinstance(data, dict) and isinstance(data.get("findings"), list):
        data = data["findings"]
    if not isinstance(data, list):
        raise ReportInputError("findings file %s must hold a list of findings" % path)
    for index, item in enumerate(data):
        _check_finding(item, path, index)
        yield item


class FindingsDir:
    """Every *.json file of a findings directory, re-iterable, streamed one finding at a time."""

    def __init__(self, findings_dir: str) -> None:
        if not os.path.isdir(findings_dir):
            raise ReportInputError("findings directory %s does not exist: run the audit/collect plays first" % findings_dir)
        self.dir = findings_dir
        self.names = sorted(n for n in os.listdir(findings_dir) if n.endswith(".json") and not n.startswith("."))
        self.counts: dict[str, int] = {}

    def __iter__(self) -> Iterator[Finding]:
        for name in self.names:
            count = 0
            for item in iter_findings_file(os.path.join(self.dir, name)):
                count += 1
                yield item
            self.counts[name] = count

    def files(self) -> list[dict[str, Any]]:
        return [{"file": name, "findings": self.counts.get(name, 0)} for name in self.names]


def load_findings(findings_dir: str) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Every *.json file in findings_dir (a list of findings each) -> (findings, files read)."""
    source = FindingsDir(findings_dir)
    findings = list(source)
    return findings, source.files()
