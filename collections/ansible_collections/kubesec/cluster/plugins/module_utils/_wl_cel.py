# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CEL building blocks for the workload rules' ValidatingAdmissionPolicies (module_utils/_vap.py assembles them).

Private module_utils (leading underscore): the API may change between minor releases.

Every rule's ``cel`` function (in its ``_wl_rules_*.py`` file) returns ``(extra variables, CEL list<string> of
violations)`` built from these pieces. The CEL uses only what the Kubernetes CEL environment has offered since
1.28/1.29 (standard macros, the strings extension, the Kubernetes regex ``find`` and ``quantity`` libraries) and
``has()`` guards everywhere, so an unset field never raises "no such key". Parameters are inlined as literals
(``cel_string`` escapes every string). Regular expressions run in RE2 in the API server: patterns using constructs
RE2 lacks are refused (``check_re2``). Standard library only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterable

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import CONTAINER_KINDS, compile_names

if TYPE_CHECKING:
    from typing import Dict, List, Tuple

    Variables = List[Tuple[str, str]]
    Setting = Dict[str, Any]

_BOUNDARY = "/:@"
_RE2_UNSUPPORTED = (
    (re.compile(r"\(\?[=!]"), "look-ahead"),
    (re.compile(r"\(\?<[=!]"), "look-behind"),
    (re.compile(r"\(\?P="), "named back reference"),
    (re.compile(r"\(\?>"), "atomic group"),
    (re.compile(r"\(\?\("), "conditional group"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]"), "back reference"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\Z"), "\\Z (use $)"),
    (re.compile(r"[*+?}]\+"), "possessive quantifier"),
)


class EnforcementError(KubesecError, ValueError):
    """A setting cannot be turned into a policy (the message names the rule and the setting)."""


# ---------------------------------------------------------------------------------------------------------
# CEL literals


def cel_string(text: str) -> str:
    """A CEL string literal for ``text``: printable ASCII as is, everything else escaped (\\n, \\uXXXX, ...)."""
    if not isinstance(text, str):
        raise TypeError("cel_string needs a str, got %s" % type(text).__name__)
    out = ["'"]
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char == "'":
            out.append("\\'")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError("cannot write the lone surrogate U+%04X as CEL (not valid Unicode)" % code)
        elif code <= 0xFFFF:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    out.append("'")
    return "".join(out)


def cel_list(values: Iterable[Any]) -> str:
    """A homogeneous CEL list literal of strings or of ints (the Kubernetes CEL environment refuses mixed ones)."""
    items = list(values)
    if all(isinstance(item, str) for item in items):
        return "[" + ", ".join(cel_string(item) for item in items) + "]"
    if all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        return "[" + ", ".join(str(item) for item in items) + "]"
    raise TypeError("cel_list needs only strings or only ints")


def re2_escape(text: str) -> str:
    """Escape the RE2 metacharacters of a literal."""
    return "".join("\\" + char if char in ".^$*+?()[]{}|\\" else char for char in text)


def check_re2(pattern: str, where: str) -> str:
    """Refuse regular expressions the API server's RE2 engine cannot run (they would fail policy creation)."""
    for regex, what in _RE2_UNSUPPORTED:
        if regex.search(pattern):
            raise EnforcementError("%s: %r uses %s, which RE2 (the regular-expression engine of Kubernetes CEL) does not support" % (where, pattern, what))
    try:
        re.compile(pattern)
    except re.error as exc:
        raise EnforcementError("%s: %r is not a valid regular expression: %s" % (where, pattern, exc)) from None
    return pattern


def glob_to_re2(glob: str, where: str = "exclude_namespaces") -> str:
    """fnmatch-style namespace glob (``team-*``, ``ci-?``) -> anchored RE2 pattern.

    Bracket expressions (``[ab]``) are refused: fnmatch's rules for them (ranges, ``!``, a leading ``]``) have no
    use for namespace names (letters, digits and '-') and a '^' regular expression says the same plainly.
    """
    if "[" in glob or "]" in glob:
        raise EnforcementError(
            "%s: glob %r uses a bracket expression, which enforcement does not translate; write it as a regular expression starting with '^'" % (where, glob)
        )
    out = ["^"]
    for char in glob:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re2_escape(char))
    out.append("$")
    return "".join(out)


# ---------------------------------------------------------------------------------------------------------
# CEL building blocks. Each returns CEL text. `[x].exists(v, body)` binds v to x for body (a one-element list:
# standard macros only; cel.bind is not in the Kubernetes ValidatingAdmissionPolicy environment).


def bind(name: str, expr: str, body: str) -> str:
    body = body.lstrip("\n ")
    if len(body) > 60 or "\n" in body:
        return "[%s].exists(%s,\n%s)" % (expr, name, body)
    return "[%s].exists(%s, %s)" % (expr, name, body)


def get_or(base: str, key: str, default: str, leaf: str) -> str:
    """base.key when present and of type `leaf`, else default (base is known to be a map)."""
    return "(has(%s.%s) && type(%s.%s) == %s ? %s.%s : %s)" % (base, key, base, key, leaf, base, key, default)


def path_or(base: str, keys: list[str], default: str, leaf: str) -> str:
    """base.k1.k2... with a has()/type() guard at every level."""
    parts, cur = [], base
    for key in keys:
        parts.append("has(%s.%s)" % (cur, key))
        cur = "%s.%s" % (cur, key)
        parts.append("type(%s) == %s" % (cur, "map" if key != keys[-1] else leaf))
    return "(%s ? %s : %s)" % (" && ".join(parts), cur, default)


def is_true(expr: str) -> str:
    """_wl_common.is_true: true, or the string 'true' (any case, blanks around)."""
    return "(%s == true || (type(%s) == string && %s.trim().lowerAscii() == 'true'))" % (expr, expr, expr)


def is_false(expr: str) -> str:
    return "(%s == false || (type(%s) == string && %s.trim().lowerAscii() == 'false'))" % (expr, expr, expr)


def true_at(base: str, key: str) -> str:
    return "(has(%s.%s) && %s)" % (base, key, is_true("%s.%s" % (base, key)))


_INT_RE = cel_string(r"^\s*[+-]?[0-9]{1,18}\s*$")


def is_int(expr: str) -> str:
    """Like _wl_common.as_int: an int (not a bool) or a decimal string."""
    return "(type(%s) == int || (type(%s) == string && %s.matches(%s)))" % (expr, expr, expr, _INT_RE)


def as_int(expr: str) -> str:
    return "(type(%s) == int ? %s : int(%s.trim()))" % (expr, expr, expr)


def int_or_zero(base: str, key: str) -> str:
    value = "%s.%s" % (base, key)
    return "(has(%s) && %s ? %s : 0)" % (value, is_int(value), as_int(value))


def caps_normalized(list_expr: str) -> str:
    """normalize_capability over a list: str, strip, upper case, without CAP_."""
    return "%s.map(x, string(x).trim().upperAscii()).map(x, x.startsWith('CAP_') ? x.substring(4) : x)" % list_expr


def prefix_match(value: str, prefix: str) -> str:
    """_wl_common.prefix_match with a literal prefix: at a '/', ':' or '@' boundary."""
    lit = cel_string(prefix)
    if prefix[-1] in _BOUNDARY:
        return "%s.startsWith(%s)" % (value, lit)
    size = len(prefix)
    return "(%s.startsWith(%s) && (size(%s) == %d || %s.substring(%d, %d) in ['/', ':', '@']))" % (value, lit, value, size, value, size, size + 1)


def image_matches(container: str, patterns: Iterable[str], where: str) -> str:
    """match_image(<container>.image, patterns): each prefix or '^' regex against the image as written and against
    parse_image()'s normalized form (docker.io/library/nginx for nginx), computed here in CEL."""
    if not patterns:
        return "false"
    tests = []
    for text in patterns:
        if text.startswith("^"):
            tests.append("v.matches(%s)" % cel_string(check_re2(text, where)))
        else:
            tests.append(prefix_match("v", text))
    raw = container + ".image"
    candidates = (
        "[string(%s), reg + '/' + (reg == 'docker.io' && !path.contains('/') ? 'library/' : '') + path + "
        "(img.indexOf('@') >= 0 && img.indexOf('@') < size(img) - 1 ? img.substring(img.indexOf('@')) : '')]"
        "\n  .exists(v, %s)" % (raw, " || ".join(tests))
    )
    normalized = bind("path", "hr ? n.substring(n.indexOf('/') + 1) : n", candidates)
    normalized = bind("reg", "r in ['index.docker.io', 'registry-1.docker.io'] ? 'docker.io' : r", normalized)
    normalized = bind("r", "hr ? n.substring(0, n.indexOf('/')) : 'docker.io'", normalized)
    normalized = bind("hr", "n.matches('^([^/]*[.:][^/]*|localhost)/')", normalized)
    normalized = bind("n", "img.indexOf('@') >= 0 ? img.substring(0, img.indexOf('@')) : img", normalized)
    normalized = bind("img", "%s.trim()" % raw, normalized)
    return "(has(%s) && type(%s) == string && %s.trim() != '' &&\n  %s)" % (raw, raw, raw, normalized)


def name_matches(expr: str, names: Iterable[str], where: str) -> str:
    """match_names for namespaces: exact, glob or '^' regex (CEL over a string expression)."""
    exact, tests = [], []
    for kind, text, _regex in compile_names(list(names), where):
        if kind == "regex":
            tests.append("%s.matches(%s)" % (expr, cel_string(check_re2(text, where))))
        elif kind == "glob":
            tests.append("%s.matches(%s)" % (expr, cel_string(glob_to_re2(text, where))))
        else:
            exact.append(text)
    if exact:
        tests.insert(0, "%s in %s" % (expr, cel_list(exact)))
    return "(" + " || ".join(tests) + ")" if tests else "false"


def subject_matches(expr: str, patterns: Iterable[str], where: str) -> str:
    """match_names for subjects (allowed_subjects): exact or '^' regex."""
    exact, tests = [], []
    for text in patterns:
        if text.startswith("^"):
            tests.append("%s.matches(%s)" % (expr, cel_string(check_re2(text, where))))
        else:
            exact.append(text)
    if exact:
        tests.insert(0, "%s in %s" % (expr, cel_list(exact)))
    return "(" + " || ".join(tests) + ")" if tests else "false"


def host_path_regex(prefix: str) -> str:
    """RE2 pattern: the normalized form of a path (without '..') is the prefix or below it."""
    segments = [seg for seg in prefix.split("/") if seg]
    if not segments:
        return "^/"
    sep = "/(\\./|/)*"
    return "^" + "".join(sep + re2_escape(seg) for seg in segments) + "(/.*)?$"


# ---------------------------------------------------------------------------------------------------------
# Pod view shared by the pod rules (by shape: PodTemplate, CronJob, the template controllers, Pod)


def pod_part(part: str) -> str:
    """The pod spec ('spec') or pod metadata ('metadata') of any pod controller, {} when absent."""
    own = "object.spec" if part == "spec" else path_or("object", ["metadata"], "{}", "map")
    return (
        "has(object.template) && type(object.template) == map ? %s\n"
        ": !has(object.spec) || type(object.spec) != map ? %s\n"
        ": has(object.spec.jobTemplate) && type(object.spec.jobTemplate) == map ? %s\n"
        ": has(object.spec.template) && type(object.spec.template) == map ? %s\n"
        ": %s"
        % (
            path_or("object.template", [part], "{}", "map"),
            "{}" if part == "spec" else own,
            path_or("object.spec.jobTemplate", ["spec", "template", part], "{}", "map"),
            path_or("object.spec.template", [part], "{}", "map"),
            own,
        )
    )


def pod_variables(setting: Setting, where: str, containers: str = "all") -> Variables:
    """spec, meta, allContainers and containers (the ones the rule judges: `containers` is all, no_ephemeral or
    regular, without the image-exempt ones) of the admitted pod controller."""
    images = setting["exclude_images"]
    lists = ["%s" % get_or("variables.spec", kind, "[]", "list") for kind in CONTAINER_KINDS]
    out = [
        ("spec", pod_part("spec")),
        ("meta", pod_part("metadata")),
        ("allContainers", "(%s)\n.filter(c, type(c) == map)" % "\n + ".join(lists)),
    ]
    exempt = image_matches("c", images, where + ".exclude_images")
    if containers == "no_ephemeral":  # ephemeral containers cannot have resources
        base = "(%s)\n.filter(c, type(c) == map)" % "\n + ".join(lists[:2])
    elif containers == "regular":  # spec.containers only (probes)
        base = "%s\n.filter(c, type(c) == map)" % lists[1]
    else:
        base = "variables.allContainers"
    # image exemptions drop containers only: the pod-level checks read variables.spec, whatever the images
    out.append(("containers", base if not images else "%s\n.filter(c, !%s)" % (base, exempt)))
    return out


def per_container(bad: str, what: str) -> str:
    """Violations of the (not exempt) containers: `bad` may use c (the container) and sc (its securityContext)."""
    return "variables.containers.filter(c, %s)\n.map(c, 'container ' + (has(c.name) && type(c.name) == string ? c.name : '?') + %s)" % (
        bind("sc", get_or("c", "securityContext", "{}", "map"), bad),
        cel_string(": " + what),
    )


def caps_bad(body: str) -> str:
    """Binds add and drop (normalized capability lists of sc.capabilities) for body."""
    caps = get_or("sc", "capabilities", "{}", "map")
    return bind(
        "caps",
        caps,
        bind("add", caps_normalized(get_or("caps", "add", "[]", "list")), bind("drop", caps_normalized(get_or("caps", "drop", "[]", "list")), body)),
    )
