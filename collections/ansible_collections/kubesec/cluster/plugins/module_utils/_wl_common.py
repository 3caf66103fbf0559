# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every workload rule shares: settings constants, bounded access to untrusted manifest data, parsers
(Kubernetes quantities, image references, capabilities, AppArmor profiles, ports, host paths), matchers
(registries, namespaces, subjects) and the validation of user-given rule parameters.

Private module_utils (leading underscore): the API may change between minor releases. Standard library only
(runs on the node's Python 3.8+: generic aliases appear in annotations only).
"""

from __future__ import annotations

import fnmatch
import math
import posixpath
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Iterable, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

if TYPE_CHECKING:
    from typing import Dict, List, Tuple

    # The rule family files (_wl_rules_*.py) import these names too.
    Violation = Dict[str, Any]
    Setting = Dict[str, Any]  # one rule's settings: enabled, mode, params, exclusions
    Variables = List[Tuple[str, str]]  # (name, CEL expression) of a ValidatingAdmissionPolicy
    Matcher = Tuple[str, str, Any]  # (kind: prefix | regex | glob, text, compiled regex or None)
    Rule = Dict[str, Any]
    Params = Dict[str, Any]
    View = Dict[str, Any]  # a container view {"spec", "path", "name", "kind", "index"} or a pod view

DEFAULT_EXCLUDED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "falco", "trivy-system")
MODES = ("audit", "warn", "deny")
CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")
RULE_SETTING_KEYS = ("enabled", "mode", "params", "exclude_namespaces", "exclude_images")
PSS = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"


class RuleConfigError(KubesecError, ValueError):
    """A rule setting or parameter given by the user is wrong (the message names rule and parameter)."""


def param(ptype: str, default: Any, description: str, **extra: Any) -> dict[str, Any]:
    """A rule parameter: its type (TYPE_TEXT), default, description and extras (nullable, required, minimum,
    maximum, example)."""
    spec = {"type": ptype, "default": default, "description": description}
    spec.update(extra)
    return spec


_KSV_RE = re.compile(r"^(?:AVD-)?(KSV|KCV)-?0*(\d{1,5})$")


def normalize_ksv_id(check_id: Any, avd_id: Any = None) -> Optional[str]:
    """'KSV001', 'KSV-0001', 'AVD-KSV-0001', 'KSV0125' -> 'KSV-0001' / 'KSV-0125'; None if not a KSV/KCV id.

    The AVD id wins when given: trivy <= 0.68 labels the API-server check AVD-KCV-0012 with ID 'KSV0012'.
    """
    for text in (avd_id, check_id):
        if not isinstance(text, str):
            continue
        match = _KSV_RE.match(text.strip().upper())
        if match:
            return "%s-%04d" % (match.group(1), int(match.group(2)))
    return None


def ksv_url(ksv_id: str) -> str:
    return "https://avd.aquasec.com/misconfig/%s" % ksv_id.lower()


# ---------------------------------------------------------------------------------------------------------
# Small helpers over untrusted data


def as_dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def as_int(value: Any) -> Optional[int]:
    """An int from an int or a decimal string; None otherwise (bools are not ints here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^\s*[+-]?\d{1,18}\s*$", value):
        return int(value)
    return None


def short(value: Any, limit: int = 256) -> Any:
    """A JSON-friendly, bounded copy of a manifest value for evidence (never a big or exotic object)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "...(%d chars)" % len(value)
    if isinstance(value, dict):
        out = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= 16:
                out["..."] = "%d more keys" % (len(value) - 16)
                break
            out[short(str(key), 64)] = short(item, 64) if isinstance(item, (str, int, float, bool)) or item is None else "<%s>" % type(item).__name__
        return out
    if isinstance(value, list):
        items = [short(item, 64) if isinstance(item, (str, int, float, bool)) or item is None else "<%s>" % type(item).__name__ for item in value[:16]]
        if len(value) > 16:
            items.append("...%d more" % (len(value) - 16))
        return items
    return short(str(value), limit)


def violation(field: str, value: Any, message: str, expected: Optional[str] = None) -> Violation:
    return {"field": field, "value": short(value), "message": message, "expected": expected}


# ---------------------------------------------------------------------------------------------------------
# Kubernetes quantities

_QTY_RE = re.compile(r"^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d{1,4})?$")
_SUFFIX = {
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(value: Any) -> Decimal:
    """A Kubernetes resource quantity ('500m', '1.5', '2Gi', '1e3', 2, 0.5) -> Decimal; ValueError otherwise.

    cpu quantities come out in cores, memory in bytes.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("%r is not a quantity" % (value,))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("%r is not a quantity" % (value,))
        return Decimal(repr(value))
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("%r is not a quantity" % (short(value, 80),))
    match = _QTY_RE.match(value)
    if not match:
        raise ValueError("%r is not a Kubernetes quantity (like 500m, 1.5, 2Gi)" % (value,))
    sign, number, suffix = match.group(1), match.group(2), match.group(3) or ""
    try:
        amount = Decimal(number)
        if suffix[:1] in ("e", "E") and len(suffix) > 1:
            amount = amount.scaleb(int(suffix[1:]))
        else:
            amount = amount * _SUFFIX[suffix]
    except (InvalidOperation, KeyError, ValueError):
        raise ValueError("%r is not a Kubernetes quantity" % (value,)) from None
    return -amount if sign == "-" else amount


# ---------------------------------------------------------------------------------------------------------
# Images


def parse_image(image: str) -> dict[str, Any]:
    """'nginx', 'nginx:1.25', 'ghcr.io/o/a:1@sha256:..', 'localhost:5000/app' -> parts and normalized name."""
    text = image.strip()
    name, _dummy, digest = text.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = "docker.io"
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    tag = None
    if colon > last_slash:
        path, tag = path[:colon], path[colon + 1:]
    if registry == "docker.io" and "/" not in path:
        path = "library/" + path
    normalized = registry + "/" + path + (":" + tag if tag is not None else "") + ("@" + digest if digest else "")
    return {"registry": registry, "repository": path, "tag": tag, "digest": digest or None, "normalized": normalized}


def prefix_match(value: str, prefix: str) -> bool:
    """Prefix match at a boundary: 'registry.example.com' matches 'registry.example.com/x' but not
    'registry.example.com.evil.io/x' (gatekeeper-library's KSV-0124 pitfall)."""
    if not value.startswith(prefix):
        return False
    if len(value) == len(prefix) or prefix[-1] in "/:@":
        return True
    return value[len(prefix)] in "/:@"


def compile_patterns(values: Any, where: str) -> list[Matcher]:
    """['registry.example.com/', '^quay\\.io/org/.*$'] -> matchers; RuleConfigError naming `where`."""
    if not isinstance(values, list):
        raise RuleConfigError("%s must be a list of strings (prefixes, or regular expressions starting with '^'), got %s" % (where, type(values).__name__))
    out = []
    for index, text in enumerate(values):
        if not isinstance(text, str) or not text.strip():
            raise RuleConfigError("%s[%d] must be a non-empty string, got %r" % (where, index, short(text, 80)))
        compiled: Any = None
        if text.startswith("^"):
            try:
                compiled = re.compile(text)
            except re.error as exc:
                raise RuleConfigError("%s[%d] %r is not a valid regular expression: %s" % (where, index, text, exc)) from None
        out.append(("regex" if compiled is not None else "prefix", text, compiled))
    return out


def match_patterns(value: str, patterns: Iterable[Matcher], candidates: Optional[Iterable[str]] = None) -> Optional[str]:
    """The first pattern text that matches `value` (or any of `candidates`), else None."""
    values = candidates or (value,)
    for kind, text, regex in patterns:
        for candidate in values:
            if kind == "regex":
                if regex.search(candidate):
                    return text
            elif prefix_match(candidate, text):
                return text
    return None


def image_candidates(image: Any) -> tuple[str, ...]:
    if not isinstance(image, str) or not image.strip():
        return ()
    return (image, parse_image(image)["normalized"])


def match_image(image: Any, patterns: Iterable[Matcher]) -> Optional[str]:
    candidates = image_candidates(image)
    if not candidates:
        return None
    return match_patterns(image, patterns, candidates)


def match_names(name: Any, patterns: Iterable[Matcher]) -> Optional[str]:
    """Namespaces and subjects: exact names, '^' regular expressions, or (namespaces) '*'/'?' globs."""
    if not isinstance(name, str):
        return None
    for kind, text, regex in patterns:
        if kind == "regex":
            if regex.search(name):
                return text
        elif kind == "glob":
            if fnmatch.fnmatchcase(name, text):
                return text
        elif name == text:
            return text
    return None


def compile_names(values: Any, where: str) -> list[Matcher]:
    """Namespace matchers: like compile_patterns, and entries with '*' or '?' are globs (team-*)."""
    out = []
    for kind, text, regex in compile_patterns(values, where):
        if kind == "prefix" and ("*" in text or "?" in text):
            kind = "glob"
        out.append((kind, text, regex))
    return out


# ---------------------------------------------------------------------------------------------------------
# Capabilities, AppArmor, ports, paths


def normalize_capability(value: Any) -> str:
    text = str(value).strip().upper()
    return text[4:] if text.startswith("CAP_") else text


def effective_apparmor(container: dict[str, Any], pod_spec: dict[str, Any], annotations: Any) -> tuple[Optional[str], Optional[str]]:
    """(profile in annotation form or None, field path suffix that set it)."""
    csc = as_dict(container.get("securityContext"))
    name = container.get("name")
    field = _apparmor_from_field(csc.get("appArmorProfile"))
    if field is not None:
        return field, "container"
    if isinstance(name, str):
        key = "container.apparmor.security.beta.kubernetes.io/" + name
        value = as_dict(annotations).get(key)
        if value is not None:
            return str(value), "annotation"
    field = _apparmor_from_field(as_dict(pod_spec.get("securityContext")).get("appArmorProfile"))
    if field is not None:
        return field, "pod"
    return None, None


def _apparmor_from_field(profile: Any) -> Optional[str]:
    if not isinstance(profile, dict):
        return None
    kind = profile.get("type")
    if kind == "RuntimeDefault":
        return "runtime/default"
    if kind == "Unconfined":
        return "unconfined"
    if kind == "Localhost":
        return "localhost/%s" % (profile.get("localhostProfile") or "")
    return "invalid:%s" % (short(kind, 64),)


def profile_allowed(profile: str, allowed: Iterable[str]) -> bool:
    for entry in allowed:
        if entry.endswith("*"):
            if profile.startswith(entry[:-1]):
                return True
        elif profile == entry:
            return True
    return False


def parse_port_list(values: Any, where: str) -> list[tuple[int, int]]:
    """[80, 443, '8000-8100', '9090'] -> [(80, 80), (443, 443), (8000, 8100), (9090, 9090)]."""
    if not isinstance(values, list):
        raise RuleConfigError("%s must be a list of ports or 'low-high' ranges, got %s" % (where, type(values).__name__))
    out = []
    for index, item in enumerate(values):
        low: Optional[int] = None
        high = 0
        if isinstance(item, int) and not isinstance(item, bool):
            low = high = item
        elif isinstance(item, str):
            match = re.match(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$", item)
            if match:
                low = int(match.group(1))
                high = int(match.group(2)) if match.group(2) else low
        if low is None or not 1 <= low <= high <= 65535:
            raise RuleConfigError("%s[%d] must be a port 1-65535 or a range 'low-high', got %r" % (where, index, short(item, 80)))
        out.append((low, high))
    return out


def port_allowed(port: int, ranges: Iterable[tuple[int, int]]) -> bool:
    return any(low <= port <= high for low, high in ranges)


def normalize_host_path(path: Any) -> Optional[str]:
    """Normalize '..', '.', duplicate and trailing slashes of an absolute path; None if not absolute."""
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return norm


def host_path_under(path: str, prefix: str) -> bool:
    if prefix == "/":
        return True
    return path == prefix or path.startswith(prefix + "/")


def host_matches_tls(host: str, tls_host: str) -> bool:
    host, tls_host = host.lower().rstrip("."), tls_host.lower().rstrip(".")
    if host == tls_host:
        return True
    if tls_host.startswith("*."):
        head, _dummy, tail = host.partition(".")
        return bool(head) and tail == tls_host[2:]
    return False


# ---------------------------------------------------------------------------------------------------------
# Parameter validation

TYPE_TEXT = {
    "bool": "a boolean",
    "int": "an integer",
    "cpu": "a CPU quantity such as '2' or '500m' (or null)",
    "memory": "a memory quantity such as '512Mi' or '8Gi' (or null)",
    "str_list": "a list of strings",
    "cap_list": "a list of capability names",
    "pattern_list": "a list of prefixes or '^' regular expressions",
    "port_list": "a list of ports or 'low-high' ranges",
    "str_dict": "a mapping of strings to strings",
    "host_path_list": "a list of {path_prefix, read_only} mappings",
}
_BOOL_TEXT = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def coerce_param(rule: Rule, name: str, value: Any) -> Any:
    """Validate one user parameter; returns the JSON-friendly value in force. RuleConfigError otherwise."""
    spec = rule["params"][name]
    ptype = spec["type"]
    where = "rules.%s (%s) params.%s" % (rule["id"], rule["name"], name)

    def bad(detail: str = "") -> RuleConfigError:
        return RuleConfigError("%s must be %s, got %r%s" % (where, TYPE_TEXT[ptype], short(value, 80), detail))

    if value is None:
        if spec.get("nullable"):
            return None
        raise bad()
    if ptype == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOL_TEXT:
            return _BOOL_TEXT[value.strip().lower()]
        raise bad()
    if ptype == "int":
        number = as_int(value)
        if number is None:
            raise bad()
        if ("minimum" in spec and number < spec["minimum"]) or ("maximum" in spec and number > spec["maximum"]):
            raise RuleConfigError("%s must be between %s and %s, got %r" % (where, spec.get("minimum"), spec.get("maximum"), value))
        return number
    if ptype in ("cpu", "memory"):
        try:
            amount = parse_quantity(value)
        except ValueError as exc:
            raise bad(" (%s)" % exc) from None
        if amount <= 0:
            raise bad(" (must be positive)")
        return value if isinstance(value, str) else str(value)
    if ptype in ("str_list", "cap_list"):
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            raise bad()
        if ptype == "cap_list":
            return [normalize_capability(item) for item in value]
        return list(value)
    if ptype == "pattern_list":
        compile_patterns(value, where)
        return list(value)
    if ptype == "port_list":
        parse_port_list(value, where)
        return list(value)
    if ptype == "str_dict":
        if not isinstance(value, dict):
            raise bad()
        mapping: dict[str, str] = {}
        for key, item in value.items():
            if not isinstance(key, str) or isinstance(item, (dict, list)) or item is None:
                raise bad(" (entry %r)" % (short(key, 80),))
            mapping[key] = ("true" if item else "false") if isinstance(item, bool) else str(item)
        return mapping
    if ptype == "host_path_list":
        if not isinstance(value, list):
            raise bad()
        entries: list[dict[str, Any]] = []
        for index, item in enumerate(value):
            if not isinstance(item, dict) or set(item) - {"path_prefix", "read_only"}:
                raise RuleConfigError("%s[%d] must be a mapping with keys path_prefix and read_only, got %r" % (where, index, short(item, 80)))
            prefix = normalize_host_path(item.get("path_prefix"))
            if prefix is None:
                raise RuleConfigError("%s[%d].path_prefix must be an absolute path, got %r" % (where, index, short(item.get("path_prefix"), 80)))
            read_only = item.get("read_only", False)
            if isinstance(read_only, str) and read_only.strip().lower() in _BOOL_TEXT:
                read_only = _BOOL_TEXT[read_only.strip().lower()]
            if not isinstance(read_only, bool):
                raise RuleConfigError("%s[%d].read_only must be a boolean, got %r" % (where, index, short(read_only, 80)))
            entries.append({"path_prefix": prefix, "read_only": read_only})
        return entries
    raise bad()  # pragma: no cover - every type is handled above


def compile_params(rule: Rule, params: Params) -> Params:
    """Internal forms of validated params (Decimals, matchers, ranges)."""
    compiled = dict(params)
    where = "rules.%s (%s) params" % (rule["id"], rule["name"])
    for name, spec in rule["params"].items():
        value = params.get(name)
        compiled["_raw_" + name] = value
        if value is None:
            continue
        if spec["type"] in ("cpu", "memory"):
            compiled[name] = parse_quantity(value)
        elif spec["type"] == "pattern_list":
            compiled[name] = compile_patterns(value, "%s.%s" % (where, name))
        elif spec["type"] == "port_list":
            compiled[name] = parse_port_list(value, "%s.%s" % (where, name))
        elif spec["type"] == "cap_list":
            compiled[name] = frozenset(value)
    return compiled


# ---------------------------------------------------------------------------------------------------------
# Access to a container's capabilities and a workload's metadata


def caps_of(c: View) -> tuple[list[Any], Any]:
    """(capabilities.add as a list, capabilities.drop as given) of a container view."""
    caps = as_dict(as_dict(c["spec"].get("securityContext")).get("capabilities"))
    return as_list(caps.get("add")), caps.get("drop")


def caps_added(c: View) -> list[tuple[int, Any, str]]:
    """(index, capability as written, normalized name) of every capabilities.add entry of a container view."""
    add, _drop = caps_of(c)
    return [(index, cap, normalize_capability(cap)) for index, cap in enumerate(add)]


def api_group(api_version: Any) -> Optional[str]:
    """'apps' for 'apps/v1', '' for 'v1', None when apiVersion is missing or not a string."""
    if not isinstance(api_version, str):
        return None
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def meta_of(obj: dict[str, Any]) -> tuple[Optional[str], Optional[str]]:
    """(name or generateName, namespace) of an object; None for what is not set."""
    meta = as_dict(obj.get("metadata"))
    name = meta.get("name") or meta.get("generateName")
    namespace = meta.get("namespace")
    return (name if isinstance(name, str) else (None if name is None else str(name)), namespace if isinstance(namespace, str) and namespace else None)


def ns_excluded(setting: dict[str, Any], namespace: Optional[str]) -> bool:
    """True when a rule's settings exclude this namespace (cluster-scoped objects, None, never are)."""
    return namespace is not None and match_names(namespace, setting["_ns"]) is not None
