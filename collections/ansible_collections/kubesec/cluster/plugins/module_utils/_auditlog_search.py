# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Byte search for the audit-log scan: the substring search of the pre-filter, the line count, and which needles
are safe for one block of JSON lines.

Why not just ``bytearray.find`` and ``bytearray.count``: on CPython 3.11 both run at about 1 byte per cycle for
these needles (``count(b"\\n")`` checks a maximum on every byte, ``find`` of a short needle full of common JSON
characters rarely skips), ~0.3 s per GiB each. The C library's ``memmem`` (reached through ctypes, part of the
standard library) is 2-3x faster, and ``find(b"\\n")`` is ``memchr``: a loop of it counts lines 2x faster than
``count``. Without ctypes or ``memmem`` (another libc, a Python without _ctypes) the search falls back to
``bytearray.find``: same results, slower.

Needles and JSON's freedom (a line without any needle of a filter must never be a match):
- every needle is ASCII text as kube-apiserver (Go encoding/json) writes it; a value that Go would escape
  (``<>&"\\``, non-ASCII) gets no needle at all (_auditlog_filter);
- any other JSON writer may still escape any character as ``\\uXXXX`` (and ``/`` as ``\\/``): in a block that
  holds a backslash, lines with ``\\u`` (and ``\\/`` for needles with a ``/``) are candidates too;
- keyed needles (``"code":40`` for 401/403) depend on whitespace: a block with one space after a colon also gets
  the ``"code": 40`` form; a block with a tab, a carriage return, spaces before a colon or two spaces after one
  gets no needle from the keyed filter (its lines are decoded and matched exactly). kube-apiserver writes
  compact JSON, so on its logs these checks find nothing and cost one search each.

Private module_utils (node side, standard library only).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

Needles = Dict[str, List[bytes]]

_ESCAPE = b"\\u00"  # how any JSON writer may escape a printable ASCII character (every needle is one)
_ESCAPED_SLASH = b"\\/"
_SPACED = b'": '
# JSON whitespace around a colon other than one space after it: a tab or CR anywhere (inside strings they are
# escaped), one or more spaces before a colon ('" :' or '  :'), two or more after ('":  ')
_ODD_WHITESPACE = (b"\t", b"\r", b'" :', b"  :")
_SPACED_MORE = b'":  '


def _load_memmem() -> Any:
    """libc's memmem through ctypes, checked on a sample; None when it is not there."""
    try:
        import ctypes

        memmem = ctypes.CDLL(None).memmem
    except (ImportError, OSError, AttributeError):  # pragma: no cover - depends on the node
        return None
    memmem.restype = ctypes.c_void_p
    memmem.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t)
    sample = bytearray(b'{"verb":"get"}\n{"verb":"delete"}\n')
    holder = ctypes.c_char.from_buffer(sample)
    base = ctypes.addressof(holder)
    try:
        found = memmem(base + 3, len(sample) - 3, b'"delete"', 8)
    except Exception:  # pragma: no cover - a broken libc binding: fall back
        return None
    finally:
        del holder
    return memmem if found == base + sample.find(b'"delete"') else None


_MEMMEM = _load_memmem()


class Finder:
    """find(needle, start, end) over one bytearray, like bytearray.find; memmem when available.

    While a Finder is open the bytearray is pinned (it cannot change size): close() it before the caller moves
    or grows the buffer.
    """

    def __init__(self, buf: bytearray) -> None:
        self.buf = buf
        self._holder: Any = None
        self.find: Callable[[bytes, int, int], int] = buf.find
        memmem = _MEMMEM
        if memmem is None or not isinstance(buf, bytearray) or not buf:
            return
        import ctypes

        self._holder = ctypes.c_char.from_buffer(buf)
        base = ctypes.addressof(self._holder)

        length = len(buf)  # fixed while pinned

        def find(needle: bytes, start: int, end: int) -> int:
            if end > length:
                end = length  # as bytearray.find: never read past the buffer
            size = len(needle)
            if start < 0 or end - start < size:
                return buf.find(needle, start, end)  # negative (slice-style) offsets, or no room for the needle
            hit = memmem(base + start, end - start, needle, size)
            return hit - base if hit else -1

        self.find = find

    def close(self) -> None:
        self.find = self.buf.find
        self._holder = None


def count_lines(buf: bytes | bytearray, lo: int, hi: int) -> int:
    """Newlines in buf[lo:hi]: a loop of memchr (find of one byte), 2x faster than bytearray.count here."""
    find = buf.find
    n = 0
    pos = find(b"\n", lo, hi)
    while pos >= 0:
        n += 1
        pos = find(b"\n", pos + 1, hi)
    return n


def block_needles(needles: Needles, find: Callable[[bytes, int, int], int], lo: int, hi: int) -> Needles:
    """The needles that are safe for buf[lo:hi] (see the module doc); a filter left out gives no pre-filter here."""
    keyed = [key for key, items in needles.items() if any(b'":' in item for item in items)]
    out: Needles = {}
    spaced = odd = False
    if keyed:
        odd = any(find(mark, lo, hi) >= 0 for mark in _ODD_WHITESPACE)
        if not odd and find(_SPACED, lo, hi) >= 0:
            spaced = True
            odd = find(_SPACED_MORE, lo, hi) >= 0
    escaped = find(b"\\", lo, hi) >= 0
    for key, items in needles.items():
        if key in keyed:
            if odd:
                continue
            if not spaced:
                items = [item for item in items if _SPACED not in item] or items
        if escaped:
            items = [*items, _ESCAPE]
            if any(b"/" in item for item in items):
                items.append(_ESCAPED_SLASH)
        out[key] = items
    return out
