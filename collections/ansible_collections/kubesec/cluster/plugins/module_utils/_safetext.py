# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make text from a node or a cluster safe to print on a terminal.

A file on a node can hold `kind: "\\e[2J\\e]0;pwned\\a"`; quoted raw in an error message it clears the operator's
screen and sets the terminal title. Every message built from node or cluster data goes through printable():
control characters (C0, DEL, C1) and the bidi overrides that can visually reorder a name are shown escaped,
as Python writes them (`\\x1b`, `\\u202e`); all other text, including non-ASCII letters, is kept.
"""

from __future__ import annotations

import re
from typing import Any, Match, Optional

_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: Match[str]) -> str:
    code = ord(match.group(0))
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code


def printable(text: object, keep_newlines: bool = False) -> str:
    """`text` with control and bidi-override characters escaped; newlines too unless keep_newlines."""
    text = text if isinstance(text, str) else str(text)
    text = _UNSAFE.sub(_escape, text)
    return text if keep_newlines else text.replace("\n", "\\n")


def guard_messages(module: Any) -> Any:
    """Route every failure message and warning of an AnsibleModule through printable().

    Called right after the module is built, so no message a module builds from node or cluster data (file contents,
    object names, tool output) can drive the operator's terminal, whichever code path raised it.
    """
    fail_json, warn = module.fail_json, module.warn

    def safe_fail_json(msg: Optional[str] = None, **kwargs: Any) -> Any:
        return fail_json(msg=printable(msg, keep_newlines=True) if msg is not None else msg, **kwargs)

    def safe_warn(warning: str) -> None:
        return warn(printable(warning, keep_newlines=True))

    module.fail_json = safe_fail_json
    module.warn = safe_warn
    return module
