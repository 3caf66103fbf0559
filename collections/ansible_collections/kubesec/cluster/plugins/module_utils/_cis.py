# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generic evaluator for CIS catalogues (data/cis/<version>.yml) against one node's files.

The catalogue says what to read and the pass condition; this module reads the node (under `root`),
works out effective settings (command-line flags win over the config file, as in kube-bench) and turns
every check into a normalized finding. Status rules follow kube-bench: a failing unscored check is WARN.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import os
import re
import stat

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding, apply_waiver
from ansible_collections.kubesec.cluster.plugins.module_utils import _systemd

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - exercised only on nodes without PyYAML
    yaml = None
    HAS_YAML = False

try:
    import pwd
    import grp
except ImportError:  # pragma: no cover - not on POSIX
    pwd = grp = None

MISSING = object()
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_FULL = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")
_DURATION_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class CatalogueError(ValueError):
    """The catalogue itself is wrong (names the check and field)."""


def node_path(root, path):
    return os.path.join(root, path.lstrip("/"))


def parse_duration(value):
    """Go duration (5m, 4h0m0s, 0s, 300ms) or a bare number of seconds -> seconds (float)."""
    text = str(value).strip()
    if re.match(r"^-?\d+(\.\d+)?$", text):
        return float(text)
    if not _DURATION_FULL.match(text):
        raise ValueError("not a duration: %r" % (value,))
    return sum(float(num) * _DURATION_SECONDS[unit] for num, unit in _DURATION.findall(text))


def get_path(data, dotted):
    """Value at a dotted path (authentication.anonymous.enabled) or MISSING."""
    current = data
    for part in dotted.split("."):
        if not isinstance(current, dict) or part not in current:
            return MISSING
        current = current[part]
    return current


def _as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_as_text(item) for item in value)
    return str(value)


class Component(object):
    """One node component (kubelet, kube-proxy): its effective flags and its config file."""

    def __init__(self, name, flags=None, flags_source=None, config=None, config_path=None, config_error=None,
                 files=None, running_from=None, unit_settings=None):
        self.name = name
        self.flags = flags or {}
        self.flags_source = flags_source
        self.config = config
        self.config_path = config_path
        self.config_error = config_error
        self.files = files or []
        self.running_from = running_from
        self.unit_settings = unit_settings or {}

    @property
    def present(self):
        return bool(self.flags_source or self.config_path)


def _read_config(root, path):
    """Parse a YAML/JSON component config file -> (data, error)."""
    real = node_path(root, path)
    if not os.path.isfile(real):
        return None, "file not found: %s" % path
    if not HAS_YAML:
        return None, "PyYAML is not installed on the node; cannot parse %s" % path
    try:
        with open(real, "r") as handle:
            data = yaml.safe_load(handle)
    except (IOError, OSError) as exc:
        return None, "cannot read %s: %s" % (path, exc)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark else ""
        problem = getattr(exc, "problem", None) or "parse error"
        return None, "%s is not valid YAML%s: %s" % (path, where, problem)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, "%s must hold a mapping, found %s" % (path, type(data).__name__)
    return data, None


def load_component(root, name, spec, paths):
    """Work out a component's effective flags (from its systemd unit) and config file."""
    argv_info = {"argv": None, "files": [], "env_files": [], "service": {}}
    error = None
    try:
        argv_info = _systemd.effective_command(root, spec.get("unit", name + ".service"))
    except _systemd.UnitError as exc:
        error = str(exc)
    flags = _systemd.parse_flags(argv_info["argv"], spec.get("boolean_flags", ())) if argv_info["argv"] else {}
    config_path = None
    if "config_path" in spec:
        config_path = resolve_path(root, paths, spec["config_path"], {name: Component(name, flags=flags)})
    else:
        config_flag = spec.get("config_flag")
        if config_flag and flags.get(config_flag):
            config_path = flags[config_flag]
        else:
            for candidate in spec.get("config_default", []):
                if os.path.isfile(node_path(root, candidate)):
                    config_path = candidate
                    break
    config, config_error = (None, None)
    if config_path and os.path.exists(node_path(root, config_path)):
        config, config_error = _read_config(root, config_path)
    elif config_path and argv_info["argv"]:
        config_error = "file not found: %s" % config_path
    else:
        config_path = config_path if argv_info["argv"] else None
    return Component(name, flags=flags, flags_source=argv_info["files"][-1] if argv_info["argv"] else None,
                     config=config, config_path=config_path, config_error=error or config_error,
                     files=argv_info["files"] + argv_info["env_files"], unit_settings=argv_info.get("service"))


def resolve_path(root, paths, key, components):
    """A catalogue path key -> the node path it names (flag, then config key, then first existing default)."""
    if key not in paths:
        if key.startswith("/"):
            return key
        raise CatalogueError("unknown path key %r (define it under paths:)" % key)
    spec = paths[key]
    component = components.get(spec.get("component", "kubelet"))
    if component is not None:
        if spec.get("flag") and component.flags.get(spec["flag"]):
            return component.flags[spec["flag"]]
        if spec.get("config") and isinstance(component.config, dict):
            value = get_path(component.config, spec["config"])
            if value is not MISSING and value not in (None, ""):
                return str(value)
    defaults = spec.get("default") or []
    if isinstance(defaults, str):
        defaults = [defaults]
    for candidate in defaults:
        if os.path.exists(node_path(root, candidate)):
            return candidate
    return defaults[0] if defaults else None


def _owner_names(uid, gid):
    user, group = str(uid), str(gid)
    if pwd is not None:
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            pass
        try:
            group = grp.getgrgid(gid).gr_name
        except KeyError:
            pass
    return user, group


def _owner_matches(expected, uid, gid, names):
    want_user, want_group = expected.partition(":")[::2]
    user_ok = (want_user == names[0]) or (want_user == "root" and uid == 0) or want_user == str(uid)
    group_ok = (want_group == names[1]) or (want_group == "root" and gid == 0) or want_group == str(gid)
    return user_ok and group_ok


class Outcome(object):
    def __init__(self, passed, expected, actual, evidence=None, missing=False, note=None):
        self.passed = passed
        self.expected = expected
        self.actual = actual
        self.evidence = evidence or {}
        self.missing = missing
        self.note = note


def _test_file(root, test, paths, components):
    path = resolve_path(root, paths, test["file"], components)
    real = node_path(root, path) if path else None
    if not real or not os.path.exists(real):
        return Outcome(False, None, "file not found", {"file": path}, missing=True)
    info = os.stat(real)
    if test["type"] == "file_mode":
        mode = stat.S_IMODE(info.st_mode)
        limit = int(str(test["max"]), 8)
        # "600 or more restrictive" = no permission bit outside the limit (kube-bench's bitmask test)
        passed = (mode & ~limit) == 0
        return Outcome(passed, "%s or more restrictive" % oct(limit)[2:].zfill(3), oct(mode)[2:].zfill(3),
                       {"file": path})
    names = _owner_names(info.st_uid, info.st_gid)
    actual = "%s:%s" % names
    passed = _owner_matches(test["owner"], info.st_uid, info.st_gid, names)
    return Outcome(passed, test["owner"], actual, {"file": path, "uid": info.st_uid, "gid": info.st_gid})


def _compare(op, value, expected):
    """Apply a catalogue operator to one effective value (text from a flag or a typed config value)."""
    text = _as_text(value)
    if op == "eq":
        return text.strip().lower() == _as_text(expected).lower()
    if op == "ne":
        return text.strip().lower() != _as_text(expected).lower()
    if op == "nothave":
        return str(expected) not in [item.strip() for item in text.split(",")]
    if op == "has":
        return str(expected) in [item.strip() for item in text.split(",")]
    if op == "set":
        return text.strip() != ""
    if op == "contains":
        return str(expected) in text
    if op == "gte":
        try:
            return float(text) >= float(expected)
        except ValueError:
            return False
    if op == "lte":
        try:
            return float(text) <= float(expected)
        except ValueError:
            return False
    if op == "subset":
        items = value if isinstance(value, list) else [item.strip() for item in text.split(",")]
        items = [str(item).strip() for item in items if str(item).strip()]
        return bool(items) and all(item in expected for item in items)
    if op == "duration_nonzero":
        try:
            return parse_duration(text) != 0
        except ValueError:
            return False
    raise CatalogueError("unknown operator %r" % op)


def _expected_text(op, expected):
    return {
        "eq": "== %s", "ne": "!= %s", "nothave": "does not include %s", "has": "includes %s",
        "contains": "contains %s", "gte": ">= %s", "lte": "<= %s", "subset": "only from: %s",
    }.get(op, "%s") % (_as_text(expected),) if op not in ("set", "notset", "duration_nonzero") else {
        "set": "set", "notset": "not set", "duration_nonzero": "a non-zero duration"}[op]


def _flag_value(component, test):
    flag = test.get("flag")
    if not flag or flag not in component.flags:
        return MISSING
    value = component.flags[flag]
    key = test.get("flag_key")
    if key:  # --feature-gates=A=true,B=false
        gates = dict(item.split("=", 1) for item in value.split(",") if "=" in item)
        return gates.get(key, MISSING)
    return value


def _test_setting(test, components):
    component = components.get(test["component"])
    op = test["op"]
    expected = test.get("value")
    evidence = {"component": test["component"]}
    if component is None or not component.present:
        return Outcome(False, _expected_text(op, expected), "%s not found on the node" % test["component"],
                       evidence, missing=True)
    value = _flag_value(component, test)
    where = None
    if value is not MISSING:
        where = "flag %s (%s)" % (test["flag"], component.flags_source)
        evidence["flag"] = test["flag"]
    elif test.get("config"):
        if component.config_error:
            evidence["error"] = component.config_error
            return Outcome(False, _expected_text(op, expected), "cannot evaluate (config file unreadable)", evidence)
        if isinstance(component.config, dict):
            value = get_path(component.config, test["config"])
            if value is not MISSING:
                where = "%s in %s" % (test["config"], component.config_path)
                evidence["config_key"] = test["config"]
    if where:
        evidence["source"] = where
    if op == "notset":
        return Outcome(value is MISSING, "not set", "not set" if value is MISSING else _as_text(value), evidence)
    if value is MISSING or value is None:
        unset = test.get("if_unset", "fail")
        evidence["source"] = "not set (flag %s%s)" % (
            test.get("flag") or "-", ", config key " + test["config"] if test.get("config") else "")
        return Outcome(unset == "pass", _expected_text(op, expected), "not set", evidence)
    return Outcome(_compare(op, value, expected), _expected_text(op, expected), _as_text(value), evidence)


def _test_unit_setting(test, components):
    """A [Service] setting of the component's systemd unit and drop-ins (e.g. IPAddressDeny=any)."""
    component = components.get(test["component"])
    op = test["op"]
    expected = test.get("value")
    if component is None or not component.flags_source:
        return Outcome(False, _expected_text(op, expected), "%s unit not found" % test["component"],
                       {"component": test["component"]}, missing=True)
    value = component.unit_settings.get(test["key"])
    evidence = {"component": test["component"], "unit_key": test["key"], "files": component.files}
    if value in (None, ""):
        return Outcome(test.get("if_unset") == "pass", _expected_text(op, expected), "not set", evidence)
    return Outcome(_compare(op, value, expected), _expected_text(op, expected), value, evidence)


def run_test(root, test, paths, components):
    kind = test.get("type")
    if kind == "unit_setting":
        return _test_unit_setting(test, components)
    if kind in ("file_mode", "file_owner"):
        return _test_file(root, test, paths, components)
    if kind == "setting":
        return _test_setting(test, components)
    if kind == "all":
        outcomes = [run_test(root, sub, paths, components) for sub in test["tests"]]
        return Outcome(all(o.passed for o in outcomes), "; ".join(str(o.expected) for o in outcomes),
                       "; ".join(str(o.actual) for o in outcomes),
                       {"parts": [dict(o.evidence, expected=o.expected, actual=o.actual) for o in outcomes]},
                       missing=any(o.missing for o in outcomes))
    raise CatalogueError("unknown test type %r" % kind)


def target_of(catalogue, check):
    if check.get("target"):
        return check["target"]
    return catalogue.get("target_sections", {}).get(str(check["id"]).split(".", 1)[0], "node")


def validate_catalogue(catalogue):
    """Fail early and by name on a malformed catalogue, before reading any node file."""
    if not isinstance(catalogue, dict) or not isinstance(catalogue.get("checks"), list):
        raise CatalogueError("catalogue must be a mapping with a 'checks' list")
    seen = set()
    for index, check in enumerate(catalogue["checks"]):
        where = "check #%d (%s)" % (index, check.get("id") if isinstance(check, dict) else check)
        if not isinstance(check, dict):
            raise CatalogueError("%s must be a mapping" % where)
        for field in ("id", "title", "scored", "test", "remediation"):
            if field not in check:
                raise CatalogueError("%s lacks %r" % (where, field))
        if check["id"] in seen:
            raise CatalogueError("%s: duplicate id" % where)
        seen.add(check["id"])


def audit_node(root, catalogue, targets=("node",), cluster=None, node=None, controls=None, source="cis-node"):
    """Evaluate every check of the chosen targets; returns (findings, context)."""
    validate_catalogue(catalogue)
    controls = controls or {}
    paths = catalogue.get("paths", {})
    components = {}
    for name, spec in (catalogue.get("components") or {}).items():
        components[name] = load_component(root, name, spec, paths)
    findings = []
    benchmark = catalogue.get("version")
    for check in catalogue["checks"]:
        if target_of(catalogue, check) not in targets:
            continue
        outcome = run_test(root, check["test"], paths, components)
        if outcome.missing and check.get("if_missing"):
            status = check["if_missing"]["status"]
            outcome.note = check["if_missing"].get("note")
        elif outcome.passed:
            status = "pass"
        else:
            status = "fail" if check["scored"] else "warn"
        evidence = dict(outcome.evidence)
        evidence["expected"] = outcome.expected
        evidence["actual"] = outcome.actual
        if outcome.note:
            evidence["note"] = outcome.note
        if not check["scored"] and status == "warn":
            evidence.setdefault("note", "manual (unscored) check: a failing result is reported as WARN")
        cis_id = str(check["id"])
        finding = make_finding(
            "CIS-" + cis_id, source, check["title"], status, severity=check.get("severity", "medium"),
            cluster=cluster, node=node, resource={"kind": "Node", "name": node},
            description=check.get("description", ""), remediation=check["remediation"],
            references=check.get("references") or ["https://www.cisecurity.org/benchmark/kubernetes"],
            evidence=evidence,
            extra={"scored": bool(check["scored"]), "benchmark": benchmark, "section": cis_id.rsplit(".", 1)[0],
                   "level": int(check.get("level", 1))})
        toggle = controls.get(cis_id)
        if isinstance(toggle, dict) and toggle.get("enabled") is False:
            finding = apply_waiver(finding, toggle.get("reason") or "control disabled in the inventory (no reason given)",
                                   expires=toggle.get("expires"), scope={"node": node})
        findings.append(finding)
    context = {
        "benchmark": benchmark,
        "components": dict((name, {"flags_source": c.flags_source, "config_path": c.config_path,
                                   "config_error": c.config_error, "files": c.files, "flag_count": len(c.flags)})
                           for name, c in components.items()),
    }
    return findings, context


def summarize(findings):
    counts = dict((status, 0) for status in ("pass", "fail", "warn", "info", "waived"))
    for finding in findings:
        counts[finding["status"]] += 1
    counts["total"] = len(findings)
    return counts
