# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redact secret values in free text taken from a node or a cluster (one helper for every module).

Private module_utils (leading underscore): the API may change between minor releases.
Minimal version (the forms kube-bench and Trivy texts carry): ``--token=X``, ``--password X``, ``password=X``,
``token=X`` and the same with ``secret``, ``passwd``, ``pwd``, ``api-key``/``apikey``, ``client-secret``. The value is
replaced by ``***``; the name stays, so a reader still sees which setting held a secret. Linear time (one regex pass
with bounded alternatives).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import re

MASK = "***"
_NAMES = r"(?:[A-Za-z0-9_.-]*?(?:token|password|passwd|pwd|secret|api[-_]?key|apikey))"
# --name=value, --name value, name=value, name: value (value up to whitespace, quote, comma, ampersand or semicolon)
_FLAG = re.compile(r"(?P<lead>--?" + _NAMES + r")(?P<sep>=|[ \t]+)(?P<quote>[\"']?)(?P<value>[^\s\"',;&]+)",
                   re.IGNORECASE)
_ASSIGN = re.compile(r"(?P<lead>(?<![-\w])" + _NAMES + r")(?P<sep>\s*[=:]\s*)(?P<quote>[\"']?)"
                     r"(?P<value>[^\s\"',;&]+)", re.IGNORECASE)


def _mask(match):
    if match.group("value") == MASK:
        return match.group(0)
    return match.group("lead") + match.group("sep") + match.group("quote") + MASK


def redact_text(s):
    """``s`` with the values of secret-named flags and assignments replaced by ``***`` (non-text is returned as is)."""
    if not isinstance(s, str) or not s:
        return s
    return _ASSIGN.sub(_mask, _FLAG.sub(_mask, s))
