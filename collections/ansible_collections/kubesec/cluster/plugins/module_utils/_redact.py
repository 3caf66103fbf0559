# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one redaction helper: secret values in text that came from a node or a cluster -> ``<redacted>``.

Private module_utils (leading underscore). Standard library only (runs on managed nodes).

Used wherever text from the cluster enters a result, a finding or a file under reports/: Falco command lines and
output fields, audit-log request URIs and saved events, kube-bench ``actual_value``, Trivy messages.

Forms replaced (docs/redaction.md has the table; tests/unit/test_redact.py is the test table):

- flags named like a secret: ``--password X``, ``--password=X``, ``--token=X``, ``--client-secret X``
  (not ``--token-auth-file=/path``: names ending in file/path/dir hold a path; not the values true/false);
- key=value and key: value pairs: ``password=X``, ``DB_PASSWORD: X``, ``"token":"X"`` (quotes kept, so JSON
  stays JSON), ``?token=X&`` in URLs;
- ``Authorization: Bearer X`` / ``Basic X`` and a bare ``Bearer X``;
- credentials in URLs: ``https://user:X@host``;
- per program: ``mysql -pX`` (and mysqldump, mariadb, ...), ``sshpass -p X`` / ``-pX``,
  ``curl -u user:X`` / ``--user user:X`` / ``-uuser:X`` / ``--proxy-user``;
- token shapes wherever they stand: JWTs (service account tokens), AWS access key ids, GitHub and Slack tokens,
  PEM private key blocks.

Every pattern is anchored at the start of a word and its repetitions are bounded or end at a character the next
part cannot start with, so the time is linear in the length of the text (1 MB of hostile text in well under a
second; see the test). Clip first (``clip_text``), then redact: ``redact_clipped`` does both in that order.
"""

from __future__ import annotations

import re
from typing import Any, Match, Optional, Pattern, Tuple, overload

REDACTED = "<redacted>"

# Name parts that mark a value as secret (flags, keys, environment variable names).
_WORDS = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|apikey|access[-_]?key|private[-_]?key|"
    r"credentials?|session[-_]?id|cookie)"
)
_NAME_CHARS = r"[A-Za-z0-9_.-]"
# A name ending like this holds a path to a secret, not the secret (--token-auth-file=/etc/...).
_PATH_NAME = re.compile(r"(?i)[-_.](?:file|path|dir|directory)$")
_NOT_SECRET_VALUES = frozenset(("true", "false", "yes", "no", "none", "null", "", REDACTED))

# The cheap pre-checks: a pattern group runs only when one of its trigger words is in the lower-cased text.
_NAME_TRIGGERS = ("pass", "pwd", "secret", "token", "key", "credential", "session", "cookie")
_AUTH_TRIGGERS = ("bearer", "authorization")
_SHAPE_TRIGGERS = ("eyj", "akia", "asia", "gh", "xox", "private key")
_PROGRAMS = {
    "mysql": "mysql",
    "mysqldump": "mysql",
    "mysqladmin": "mysql",
    "mysqlimport": "mysql",
    "mysqlshow": "mysql",
    "mysqlcheck": "mysql",
    "mysqlpump": "mysql",
    "mysqlsh": "mysql",
    "mysqlbinlog": "mysql",
    "mariadb": "mysql",
    "mariadb-dump": "mysql",
    "mariadb-admin": "mysql",
    "mariadb-import": "mysql",
    "mariadb-check": "mysql",
    "mariadb-show": "mysql",
    "mariadbd": "mysql",
    "sshpass": "sshpass",
    "curl": "curl",
}
_PROGRAM_TRIGGERS = ("mysql", "mariadb", "sshpass", "curl")

_VALUE = r"(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"'<>{}\[\]]+)"
# --password X, --password=X, -token=X: the flag starts a word.
_FLAG = re.compile(
    r"(?i)(?<![A-Za-z0-9_.-])(--?" + _NAME_CHARS + r"{0,40}?" + _WORDS + _NAME_CHARS + r"{0,40}?)"
    r"(=|[ \t]++)" + _VALUE
)
# password=X, DB_PASSWORD: X, "token":"X", ?token=X& (the value ends at blanks, quotes, & , ; } ) < >)
_PAIR = re.compile(
    r"(?i)(?<![A-Za-z0-9_.-])(" + _NAME_CHARS + r"{0,40}?" + _WORDS + _NAME_CHARS + r"{0,40}?)"
    r"([\"']?[ \t]{0,8}[=:][ \t]{0,8})(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;&{}\[\])<>]+)"
)
# Authorization: Bearer X / Basic X / Token X, then any bare "Bearer X"
_AUTH_HEADER = re.compile(
    r"(?i)(?<![A-Za-z0-9_-])(authorization[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?"
    r"(?:(?:bearer|basic|token|digest|negotiate)[ \t]{1,8})?)"
    r"(?!(?:bearer|basic|token|digest|negotiate)(?:[ \t]|$))([^\s\"'<>]+)"
)
_BEARER = re.compile(r"(?i)(?<![A-Za-z0-9_-])(bearer[ \t]{1,8})([A-Za-z0-9._~+/=-]{8,})")
# scheme://user:X@host
_URL_USERINFO = re.compile(
    r"(?i)(?<![A-Za-z0-9+.-])([a-z][a-z0-9+.-]{0,30}://[^/\s:@\"'<>]{0,256}:)"
    r"([^@\s/\"'<>]{1,1024})(?=@)"
)
_TOKEN_SHAPES = (
    re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),  # JWT
    re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"),  # AWS key id
    re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub
    re.compile(r"(?<![A-Za-z0-9_-])xox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
)
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----")
_PEM_END = "PRIVATE KEY-----"
_WORD = re.compile(r"\S+")


def _keep_or_redact(name: str, value: str) -> Optional[str]:
    """The replacement for one value, or None to keep it (a path flag, a boolean, already redacted)."""
    if _PATH_NAME.search(name.rstrip("\"' \t")):
        return None
    bare = value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value
    if bare.lower() in _NOT_SECRET_VALUES:
        return None
    if bare is not value:
        return value[0] + REDACTED + value[-1]
    return REDACTED


class _Counter:
    def __init__(self) -> None:
        self.n = 0


def _sub_named(pattern: Pattern[str], text: str, counter: _Counter, name_group: int = 1) -> str:
    def repl(match: Match[str]) -> str:
        last = match.lastindex or 0  # the value is the last group that matched
        replacement = _keep_or_redact(match.group(name_group), match.group(last))
        if replacement is None:
            return match.group(0)
        counter.n += 1
        return match.group(0)[: match.start(last) - match.start(0)] + replacement

    return pattern.sub(repl, text)


def _sub_value(pattern: Pattern[str], text: str, counter: _Counter) -> str:
    def repl(match: Match[str]) -> str:
        counter.n += 1
        return match.group(1) + REDACTED

    return pattern.sub(repl, text)


def _programs(text: str, counter: _Counter) -> str:
    """mysql -pX, sshpass -p X, curl -u user:X: walk the words once, remember the program of this command."""
    spans = []
    program = None
    expect = None  # 'sshpass' / 'curl': the next word is the value
    for match in _WORD.finditer(text):
        word = match.group(0)
        start = match.start()
        bare = word.strip("\"'")
        offset = word.find(bare) if bare else 0
        if expect is not None:
            target = expect
            expect = None
            if target == "sshpass":
                spans.append((start + offset, start + offset + len(bare)))
                continue
            if target == "curl":
                colon = bare.find(":")
                if colon >= 0 and colon + 1 < len(bare):
                    spans.append((start + offset + colon + 1, start + offset + len(bare)))
                continue
        base = bare.rsplit("/", 1)[-1].lower()
        if base in _PROGRAMS:
            program = _PROGRAMS[base]
            continue
        if word in (";", "|", "||", "&&", "&") or word.startswith(("|", ";")):
            program = None
            continue
        if program == "mysql":
            if bare.startswith("-p") and not bare.startswith("--") and len(bare) > 2:
                spans.append((start + offset + 2, start + offset + len(bare)))
        elif program == "sshpass":
            if bare == "-p":
                expect = "sshpass"
            elif bare.startswith("-p") and len(bare) > 2:
                spans.append((start + offset + 2, start + offset + len(bare)))
        elif program == "curl":
            if bare in ("-u", "--user", "-U", "--proxy-user"):
                expect = "curl"
            else:
                value = None
                if bare.startswith(("--user=", "--proxy-user=")):
                    value_at = bare.index("=") + 1
                    value = bare[value_at:]
                elif bare.startswith(("-u", "-U")) and not bare.startswith("--") and len(bare) > 2:
                    value_at = 2
                    value = bare[2:]
                if value is not None:
                    colon = value.find(":")
                    if colon >= 0 and colon + 1 < len(value):
                        spans.append((start + offset + value_at + colon + 1, start + offset + len(bare)))
        if word.endswith(";"):
            program = None
    if not spans:
        return text
    out, pos = [], 0
    for begin, end in spans:
        while begin < end and text[begin] in "\"'":  # -p'secret': keep the quote
            begin += 1
        if begin >= end or text[begin:end] == REDACTED:
            continue
        out.append(text[pos:begin])
        out.append(REDACTED)
        counter.n += 1
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _pem_blocks(text: str, counter: _Counter) -> str:
    """PEM private key blocks (to their END line, or to the end of the text when it was cut)."""
    out, pos = [], 0
    while True:
        match = _PEM_BEGIN.search(text, pos)
        if match is None:
            break
        end = text.find(_PEM_END, match.end())
        out.append(text[pos:match.start()])
        out.append(REDACTED)
        counter.n += 1
        if end < 0:
            pos = len(text)
            break
        pos = end + len(_PEM_END)
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def redact_count(s: Any) -> Tuple[Any, int]:
    """(s with every secret value replaced by <redacted>, number of values replaced). Non-text is returned as is."""
    if not isinstance(s, str) or not s:
        return s, 0
    counter = _Counter()
    lower = s.lower()
    text = s
    if "private key" in lower:
        text = _pem_blocks(text, counter)
    if any(word in lower for word in _AUTH_TRIGGERS):
        text = _sub_value(_AUTH_HEADER, text, counter)
        text = _sub_value(_BEARER, text, counter)
    if any(word in lower for word in _PROGRAM_TRIGGERS):
        text = _programs(text, counter)
    if "://" in lower and "@" in lower:
        text = _sub_value(_URL_USERINFO, text, counter)
    if any(word in lower for word in _NAME_TRIGGERS):
        text = _sub_named(_FLAG, text, counter)
        text = _sub_named(_PAIR, text, counter)
    if any(word in lower for word in _SHAPE_TRIGGERS):
        for pattern in _TOKEN_SHAPES:
            text, replaced = pattern.subn(REDACTED, text)
            counter.n += replaced
    return text, counter.n


@overload
def redact_text(s: str) -> str:
    ...  # fmt: skip


@overload
def redact_text(s: None) -> None:
    ...  # fmt: skip


def redact_text(s: Optional[str]) -> Optional[str]:
    """s with every secret value in the forms listed in the module docstring replaced by <redacted>."""
    return redact_count(s)[0]


def clip_text(s: Any, limit: int) -> Tuple[Any, bool]:
    """(s cut to `limit` characters with '... [N more characters]' appended, whether it was cut)."""
    if not isinstance(s, str) or len(s) <= limit:
        return s, False
    return s[:limit] + "... [%d more characters]" % (len(s) - limit), True


def redact_clipped(s: Any, limit: int) -> Tuple[Any, int, bool]:
    """Clip first, then redact (linear, and the marker is never taken for a value): (text, redactions, clipped)."""
    if not isinstance(s, str):
        return s, 0, False
    clipped = len(s) > limit
    text, count = redact_count(s[:limit] if clipped else s)
    if clipped:
        text += "... [%d more characters]" % (len(s) - limit)
    return text, count, clipped
