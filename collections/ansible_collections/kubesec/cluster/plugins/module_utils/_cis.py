# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generic evaluator for CIS catalogues (data/cis/<version>.yml) against one node's files.

The catalogue says what to read and the pass condition; this module reads the node (under `root`),
works out effective settings (command-line flags win over the config file, as in kube-bench) and turns
every check into a normalized finding. Status rules follow kube-bench: a failing unscored check is WARN.

Catalogue vocabulary (data/cis/<version>.yml):
- components: `{unit: kubelet.service, config_path | config_flag | config_default, boolean_flags}` for a systemd
  service; `{manifest: <path key | path | list>, container: NAME, boolean_flags, unit?}` for a static pod (flags
  are the container's command + args; paths named by its flags are mapped through the pod's hostPath mounts;
  `unit` is a fallback when no manifest exists).
- paths: `{component, flag, config, default: [...]}`; a test may also name a node path directly.
- test types: file_mode `{file | find, max}`, file_owner `{file | find, owner}` (file: one key or a list of
  keys/paths, missing ones skipped; find: `{dir, name, type: f|d, mindepth}` or a list of them; every file is
  judged and the offending ones are named), setting `{component, flag, env, flag_key, config, op, value,
  if_unset}`, unit_setting, all `{tests}`, manual `{review, component?, flag?}` (always WARN),
  audit_policy `{file, min_level, resources: [{group, resource}]}`, encryption_providers `{file, allowed}`.
- target_sections / target: kube-bench targets; target_components: a target is skipped on a node where none
  of its components exists. Checks of master, controlplane and etcd are reported as cis-control-plane.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import fnmatch
import os
import re
import stat

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding, apply_waiver
from ansible_collections.kubesec.cluster.plugins.module_utils import _systemd
from ansible_collections.kubesec.cluster.plugins.module_utils import _static_pod

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
# kube-bench targets evaluated on control-plane nodes: their findings carry the cis-control-plane source.
CONTROL_PLANE_TARGETS = ("master", "controlplane", "etcd")
AUDIT_LEVELS = ("None", "Metadata", "Request", "RequestResponse")
MAX_FIND_ENTRIES = 20000
MAX_EVIDENCE_FILES = 200


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
                 files=None, running_from=None, unit_settings=None, kind="unit", flags_error=None, env=None,
                 mounts=None, found=None):
        self.name = name
        self.kind = kind
        self.flags_error = flags_error
        self.env = env or {}
        self.mounts = mounts or []  # [(mountPath, hostPath)] of a static pod container, longest first
        self._found = found
        self.missing_reason = None
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

    @property
    def found(self):
        """The component's defining file exists on the node (even if it does not parse)."""
        return self.present if self._found is None else self._found

    def host_path(self, path):
        """A path as the container sees it -> the node path (through the pod's hostPath mounts)."""
        for mount_path, host in self.mounts:
            base = mount_path.rstrip("/")
            if path == mount_path or path == base or path.startswith(base + "/"):
                return (host.rstrip("/") + path[len(base):]) or "/"
        return path


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


def _pod_mounts(pod, container_name):
    """[(mountPath, hostPath path)] of one container's hostPath mounts, longest mount path first."""
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    volumes = {}
    for volume in _static_pod.as_list(spec.get("volumes")):
        if isinstance(volume, dict) and isinstance(volume.get("hostPath"), dict) and volume["hostPath"].get("path"):
            volumes[volume.get("name")] = str(volume["hostPath"]["path"])
    mounts = []
    for container in _static_pod.as_list(spec.get("containers")):
        if isinstance(container, dict) and container.get("name") == container_name:
            for mount in _static_pod.as_list(container.get("volumeMounts")):
                if isinstance(mount, dict) and mount.get("name") in volumes and mount.get("mountPath") \
                        and not mount.get("subPath"):
                    mounts.append((str(mount["mountPath"]), volumes[mount["name"]]))
    return sorted(mounts, key=lambda item: len(item[0]), reverse=True)


def _candidates(root, paths, value, components):
    """A path key, a node path or a list of either -> node paths, first existing first."""
    values = value if isinstance(value, list) else [value]
    found = []
    for item in values:
        path = resolve_path(root, paths, item, components)
        if path:
            found.append(path)
    existing = [p for p in found if os.path.exists(node_path(root, p))]
    return existing + [p for p in found if p not in existing]


def load_manifest_component(root, name, spec, paths):
    """A control-plane component run as a static pod: flags from its container's command + args."""
    candidates = _candidates(root, paths, spec["manifest"], {})
    path = candidates[0] if candidates else None
    boolean = set(_static_pod.BOOLEAN_FLAGS) | set(spec.get("boolean_flags") or ())
    info = _static_pod.manifest_flags(root, path, spec.get("container"), boolean) if path else \
        {"found": False, "flags": {}, "env": {}, "container": None, "error": "no manifest path"}
    mounts = []
    if info["found"] and not info["error"]:
        pod = _static_pod.read_manifest(root, path)[0]
        mounts = _pod_mounts(pod, info["container"]) if pod else []
    return Component(name, flags=info["flags"], flags_source=path if info["found"] else None,
                     config_error=None, files=[path] if info["found"] else [], kind="manifest",
                     flags_error=info["error"] if info["found"] else None, env=info["env"], mounts=mounts,
                     found=info["found"])


def load_component(root, name, spec, paths):
    """Work out a component's effective flags (static pod manifest, or systemd unit) and config file."""
    if spec.get("manifest"):
        component = load_manifest_component(root, name, spec, paths)
        if component.found or not spec.get("unit"):
            if not component.found:
                component.missing_reason = "no static pod manifest at %s" % " or ".join(
                    _candidates(root, paths, spec["manifest"], {}) or ["(no path)"])
            return component
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
            return component.host_path(component.flags[spec["flag"]])
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


def _read_id_names(root, name):
    """{id: name} from the node's own /etc/passwd or /etc/group (below root), or None when absent."""
    if os.path.normpath(root) == "/":
        return None
    real = node_path(root, "/etc/" + name)
    if not os.path.isfile(real):
        return None
    names = {}
    try:
        with open(real, "r") as handle:
            for line in handle:
                parts = line.strip().split(":")
                if len(parts) >= 3 and parts[2].isdigit():
                    names.setdefault(int(parts[2]), parts[0])
    except (IOError, OSError):
        return None
    return names


def _owner_names(uid, gid, root="/"):
    """User and group names of ids: the node's own passwd/group files under root first, then this system's."""
    user, group = str(uid), str(gid)
    users, groups = _read_id_names(root, "passwd"), _read_id_names(root, "group")
    if users is not None and uid in users:
        user = users[uid]
    elif pwd is not None:
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            pass
    if groups is not None and gid in groups:
        group = groups[gid]
    elif grp is not None:
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
    def __init__(self, passed, expected, actual, evidence=None, missing=False, note=None, manual=False):
        self.passed = passed
        self.expected = expected
        self.actual = actual
        self.evidence = evidence or {}
        self.missing = missing
        self.note = note
        self.manual = manual


def _mode_text(mode):
    return oct(mode)[2:].zfill(3)


def _judge_file(root, test, info):
    """(passed, actual text, extra evidence) of one file for file_mode / file_owner."""
    if test["type"] == "file_mode":
        mode = stat.S_IMODE(info.st_mode)
        # "600 or more restrictive" = no permission bit outside the limit (kube-bench's bitmask test)
        return (mode & ~int(str(test["max"]), 8)) == 0, _mode_text(mode), {}
    names = _owner_names(info.st_uid, info.st_gid, root)
    return (_owner_matches(test["owner"], info.st_uid, info.st_gid, names), "%s:%s" % names,
            {"uid": info.st_uid, "gid": info.st_gid})


def _expected_file(test):
    if test["type"] == "file_mode":
        return "%s or more restrictive" % _mode_text(int(str(test["max"]), 8))
    return test["owner"]


def _find_files(root, spec, paths, components):
    """`find DIR [-mindepth N] [-type f|d] [-name PATTERN]` below root -> (node paths, description, skipped)."""
    directories = _candidates(root, paths, spec["dir"], components) if spec.get("dir") else []
    pattern = spec.get("name")
    kind = spec.get("type")
    mindepth = int(spec.get("mindepth", 0))
    found, skipped, searched = [], [], []
    for directory in directories:
        real_dir = node_path(root, directory)
        if not os.path.isdir(real_dir):
            continue
        searched.append(directory)
        top = directory.rstrip("/") or "/"
        for current, dirs, files in os.walk(real_dir, followlinks=False):
            dirs.sort()
            rel = os.path.relpath(current, real_dir)
            node_dir = top if rel == "." else os.path.join(top, rel)
            depth = 0 if rel == "." else rel.count(os.sep) + 1
            entries = []
            if depth == 0:
                entries.append((node_dir, current, True, 0))
            entries.extend((os.path.join(node_dir, n), os.path.join(current, n), True, depth + 1) for n in dirs)
            entries.extend((os.path.join(node_dir, n), os.path.join(current, n), False, depth + 1) for n in sorted(files))
            for entry, real, is_dir, entry_depth in entries:
                if entry_depth < mindepth or (kind == "f" and is_dir) or (kind == "d" and not is_dir):
                    continue
                if pattern and not fnmatch.fnmatchcase(os.path.basename(entry), pattern):
                    continue
                if os.path.islink(real):
                    skipped.append(entry)  # find does not follow links; a link's own mode means nothing
                    continue
                found.append(entry)
                if len(found) > MAX_FIND_ENTRIES:
                    raise CatalogueError("find below %s matched more than %d entries" % (directory, MAX_FIND_ENTRIES))
    text = "find %s%s%s%s" % (" ".join(searched or directories or ["(no directory)"]),
                              " -mindepth %d" % mindepth if mindepth else "", " -type %s" % kind if kind else "",
                              " -name '%s'" % pattern if pattern else "")
    return found, text, skipped


def _test_file(root, test, paths, components):
    if "file" in test and not isinstance(test["file"], list):
        path = resolve_path(root, paths, test["file"], components)
        real = node_path(root, path) if path else None
        if not real or not os.path.exists(real):
            return Outcome(False, None, "file not found", {"file": path}, missing=True)
        passed, actual, extra = _judge_file(root, test, os.stat(real))
        evidence = {"file": path}
        evidence.update(extra)
        return Outcome(passed, _expected_file(test), actual, evidence)
    if not test.get("file") and not test.get("find"):
        raise CatalogueError("a %s test needs file (a path key, a path or a list) or find" % test["type"])
    return _test_many_files(root, test, paths, components)


def _test_many_files(root, test, paths, components):
    """file_mode / file_owner over several files: `file: [keys]` (missing ones skipped) and/or `find:`.

    Every file is judged; the check fails naming each offending file with its actual mode or owner.
    """
    candidates, searched, skipped = [], [], []
    for key in test.get("file") or []:
        path = resolve_path(root, paths, key, components)
        if path and path not in candidates:
            candidates.append(path)
    listed = [p for p in candidates if os.path.exists(node_path(root, p))]
    if candidates:
        searched.append(" ".join(candidates))
    finds = test.get("find") or []
    for spec in finds if isinstance(finds, list) else [finds]:
        found, text, links = _find_files(root, spec, paths, components)
        listed.extend(p for p in found if p not in listed)
        searched.append(text)
        skipped.extend(links)
    expected = _expected_file(test)
    evidence = {"searched": "; ".join(searched)}
    if skipped:
        evidence["skipped_symlinks"] = skipped
    if not listed:
        return Outcome(False, expected, "no matching files", evidence, missing=True)
    offending = []
    for path in listed:
        passed, actual, extra = _judge_file(root, test, os.stat(node_path(root, path)))
        if not passed:
            item = {"file": path, "actual": actual}
            item.update(extra)
            offending.append(item)
    evidence["files"] = listed[:MAX_EVIDENCE_FILES]
    evidence["checked"] = len(listed)
    if offending:
        evidence["offending"] = offending[:MAX_EVIDENCE_FILES]
        shown = ", ".join("%s (%s)" % (o["file"], o["actual"]) for o in offending[:10])
        more = " and %d more" % (len(offending) - 10) if len(offending) > 10 else ""
        return Outcome(False, expected, "%d of %d files: %s%s" % (len(offending), len(listed), shown, more), evidence)
    return Outcome(True, expected, "all %d files" % len(listed), evidence)


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
        if test.get("env") and test["env"] in component.env:  # etcd reads ETCD_* variables too
            return component.env[test["env"]]
        return MISSING
    value = component.flags[flag]
    key = test.get("flag_key")
    if key:  # --feature-gates=A=true,B=false
        gates = dict(item.split("=", 1) for item in value.split(",") if "=" in item)
        return gates.get(key, MISSING)
    return value


def _missing_component(component, name, expected):
    evidence = {"component": name}
    if component is not None and component.missing_reason:
        evidence["note"] = component.missing_reason
    return Outcome(False, expected, "%s not found on the node" % name, evidence, missing=True)


def _test_setting(test, components):
    component = components.get(test["component"])
    op = test["op"]
    expected = test.get("value")
    evidence = {"component": test["component"]}
    if component is None or not component.present:
        return _missing_component(component, test["component"], _expected_text(op, expected))
    if component.flags_error:
        evidence["error"] = component.flags_error
        return Outcome(False, _expected_text(op, expected),
                       "cannot evaluate (%s unreadable)" % component.flags_source, evidence)
    value = _flag_value(component, test)
    where = None
    if value is not MISSING:
        if test.get("flag") in component.flags:
            where = "flag %s (%s)" % (test["flag"], component.flags_source)
            evidence["flag"] = test["flag"]
        else:
            where = "env %s (%s)" % (test["env"], component.flags_source)
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
        if component.kind == "manifest":
            evidence["source"] += " in %s" % component.flags_source
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


def _test_manual(test, components):
    """kube-bench `type: manual`: nothing to judge automatically; always WARN, with what to review.

    With `component` and `flag` the current value is shown as evidence for the reviewer.
    """
    evidence = {"review": test.get("review", "review this control by hand")}
    component = components.get(test.get("component") or "")
    if component is not None and test.get("flag"):
        if component.flags_error:
            evidence["error"] = component.flags_error
        elif component.present:
            value = _flag_value(component, test)
            evidence["current"] = "not set (component default)" if value is MISSING else _as_text(value)
            evidence["source"] = "flag %s (%s)" % (test["flag"], component.flags_source)
    return Outcome(False, "manual review", "not evaluated automatically", evidence, manual=True)


def _load_yaml_file(root, path):
    """(data, error) of a YAML file on the node, error naming the file (and line)."""
    return _read_config(root, path)


def _audit_rule_match(rule, group, resource):
    """(matches, restricted_by_names) of one audit policy rule for requests to group/resource (checker.go)."""
    if rule.get("nonResourceURLs"):
        return False, False
    resources = rule.get("resources")
    if not resources:
        return True, False
    for entry in resources:
        if not isinstance(entry, dict) or (entry.get("group") or "") != group:
            continue
        names = bool(entry.get("resourceNames"))
        listed = entry.get("resources") or []
        if not listed:
            return True, False
        for item in listed:
            if item in (resource, "*") or (str(item).endswith("/*") and str(item)[:-2] == resource):
                return True, names
    return False, False


def audit_policy_level(policy, group, resource):
    """(level, rule index or None, gaps): the level an arbitrary request to group/resource is logged at.

    First match wins. Rules limited to some users or groups are exemptions for those identities and are
    passed over; a rule limited by verbs, namespaces or resource names that logs at None is a gap (part of
    the requests to the resource go unaudited); the first unrestricted match decides.
    """
    gaps = []
    for index, rule in enumerate(policy["rules"]):
        matches, by_names = _audit_rule_match(rule, group, resource)
        if not matches:
            continue
        identity = bool(rule.get("users") or rule.get("userGroups"))
        partial = bool(rule.get("verbs") or rule.get("namespaces") or by_names)
        if identity or partial:
            if partial and not identity and rule.get("level") == "None":
                limits = ", ".join("%s=%s" % (k, ",".join(map(str, rule[k]))) for k in ("verbs", "namespaces")
                                   if rule.get(k)) or "resourceNames"
                gaps.append("rules[%d] (level None, %s)" % (index, limits))
            continue
        return rule.get("level"), index, gaps
    return "None", None, gaps


def validate_audit_policy(data, path):
    """Error text when data is not a usable audit.k8s.io/v1 Policy, else None."""
    if data.get("apiVersion") != "audit.k8s.io/v1" or data.get("kind") != "Policy":
        return "%s is not an audit.k8s.io/v1 Policy (apiVersion %r, kind %r)" % (path, data.get("apiVersion"),
                                                                                 data.get("kind"))
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        return "%s: rules must be a non-empty list (a policy without rules logs nothing)" % path
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            return "%s: rules[%d] is not a mapping" % (path, index)
        if rule.get("level") not in AUDIT_LEVELS:
            return "%s: rules[%d].level %r is not one of %s" % (path, index, rule.get("level"), ", ".join(AUDIT_LEVELS))
    return None


def _test_audit_policy(root, test, paths, components):
    """The audit policy file exists, is a valid Policy, and logs each listed resource at min_level or above."""
    minimum = test.get("min_level", "Metadata")
    wanted = test.get("resources") or []
    expected = "a valid audit.k8s.io/v1 Policy logging %s at %s or higher" % (
        ", ".join(r["resource"] for r in wanted), minimum)
    path = resolve_path(root, paths, test["file"], components)
    evidence = {"file": path}
    if not path:
        return Outcome(False, expected, "no audit policy file configured", evidence, missing=True)
    if not os.path.isfile(node_path(root, path)):
        return Outcome(False, expected, "file not found", evidence, missing=True)
    data, error = _load_yaml_file(root, path)
    error = error or validate_audit_policy(data, path)
    if error:
        evidence["error"] = error
        return Outcome(False, expected, "not a valid audit policy", evidence)
    levels, problems = {}, []
    for item in wanted:
        level, index, gaps = audit_policy_level(data, item.get("group") or "", item["resource"])
        label = item["resource"] if not item.get("group") else "%s.%s" % (item["resource"], item["group"])
        levels[label] = {"level": level, "rule": index}
        if AUDIT_LEVELS.index(level) < AUDIT_LEVELS.index(minimum):
            problems.append("%s at %s%s" % (label, level, "" if index is not None else " (no rule matches)"))
        if gaps:
            levels[label]["gaps"] = gaps
            problems.append("%s partly unaudited by %s" % (label, "; ".join(gaps)))
    evidence["levels"] = levels
    if problems:
        return Outcome(False, expected, "; ".join(problems), evidence)
    return Outcome(True, expected, ", ".join("%s at %s" % (k, v["level"]) for k, v in levels.items()), evidence)


def _test_encryption_providers(root, test, paths, components):
    """The EncryptionConfiguration encrypts with an allowed provider first (the one used for writes)."""
    allowed = list(test.get("allowed") or [])
    expected = "first provider one of: %s" % ", ".join(allowed)
    path = resolve_path(root, paths, test["file"], components)
    evidence = {"file": path}
    if not path:
        return Outcome(False, expected, "no encryption provider config configured", evidence, missing=True)
    if not os.path.isfile(node_path(root, path)):
        return Outcome(False, expected, "file not found", evidence, missing=True)
    data, error = _load_yaml_file(root, path)
    if not error and (data.get("kind") != "EncryptionConfiguration" or not isinstance(data.get("resources"), list)):
        error = "%s is not an EncryptionConfiguration with a resources list (kind %r)" % (path, data.get("kind"))
    if error:
        evidence["error"] = error
        return Outcome(False, expected, "not a valid encryption configuration", evidence)
    firsts, bad, covers_secrets = {}, [], False
    for index, entry in enumerate(data["resources"]):
        if not isinstance(entry, dict):
            continue
        names = [str(r) for r in entry.get("resources") or []]
        covers_secrets = covers_secrets or any(n in ("secrets", "*.", "*.*") for n in names)
        providers = entry.get("providers") or []
        first = next(iter(providers[0]), None) if providers and isinstance(providers[0], dict) else None
        firsts[",".join(names) or "resources[%d]" % index] = first
        if first not in allowed:
            bad.append("%s -> %s" % (",".join(names) or "resources[%d]" % index, first))
    evidence["providers"] = firsts
    if not covers_secrets:
        bad.append("secrets are not listed in any resources entry")
    if bad:
        return Outcome(False, expected, "; ".join(bad), evidence)
    return Outcome(True, expected, ", ".join("%s -> %s" % item for item in firsts.items()), evidence)


def run_test(root, test, paths, components):
    kind = test.get("type")
    if kind == "unit_setting":
        return _test_unit_setting(test, components)
    if kind in ("file_mode", "file_owner"):
        return _test_file(root, test, paths, components)
    if kind == "setting":
        return _test_setting(test, components)
    if kind == "manual":
        return _test_manual(test, components)
    if kind == "audit_policy":
        return _test_audit_policy(root, test, paths, components)
    if kind == "encryption_providers":
        return _test_encryption_providers(root, test, paths, components)
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


def skipped_targets(catalogue, targets, components):
    """Targets whose components are all absent from the node (kube-bench skips a target it cannot detect).

    `target_components: {master: [kube-apiserver, ...]}` in the catalogue names them; a target is evaluated as
    soon as one of its components has its defining file on the node (so a missing manifest on a control-plane
    node is still reported, check by check).
    """
    skipped = {}
    for target, names in (catalogue.get("target_components") or {}).items():
        if target not in targets:
            continue
        known = [components[n] for n in names if n in components]
        if known and not any(c.found for c in known):
            skipped[target] = "not a %s node: none of %s found (%s)" % (
                target, ", ".join(names), "; ".join(c.missing_reason or "%s not found" % c.name for c in known))
    return skipped


def source_for(target, default="cis-node"):
    """The finding source of a check: control-plane targets are cis-control-plane, the rest the default."""
    return "cis-control-plane" if target in CONTROL_PLANE_TARGETS else default


def kubesec_remediations(catalogue, node=None):
    """{cis id: the playbook run that fixes it on this node} for the checks kubesec's roles remediate.

    From the catalogue's `kubesec_remediation` (command with {tag} and {node}, controls per role, notes per id).
    """
    spec = catalogue.get("kubesec_remediation") or {}
    if not spec:
        return {}
    if not isinstance(spec.get("command"), str) or not isinstance(spec.get("controls"), dict):
        raise CatalogueError("kubesec_remediation needs a 'command' string and a 'controls' mapping of role: [ids]")
    notes = spec.get("notes") or {}
    out = {}
    for ids in spec["controls"].values():
        for cis_id in ids or []:
            cis_id = str(cis_id)
            text = spec["command"].format(tag="cis_" + cis_id.replace(".", "_"), node=node or "<node>")
            out[cis_id] = "%s (%s)" % (text, notes[cis_id]) if cis_id in notes else text
    return out


def audit_node(root, catalogue, targets=("node",), cluster=None, node=None, controls=None, source="cis-node"):
    """Evaluate every check of the chosen targets; returns (findings, context).

    `source` is the finding source of worker-node checks; checks of the master, controlplane and etcd
    targets are always reported as cis-control-plane.
    """
    validate_catalogue(catalogue)
    controls = controls or {}
    paths = catalogue.get("paths", {})
    components = {}
    for name, spec in (catalogue.get("components") or {}).items():
        components[name] = load_component(root, name, spec, paths)
    skipped = skipped_targets(catalogue, targets, components)
    findings = []
    benchmark = catalogue.get("version")
    kubesec_way = kubesec_remediations(catalogue, node)
    for check in catalogue["checks"]:
        target = target_of(catalogue, check)
        if target not in targets or target in skipped:
            continue
        outcome = run_test(root, check["test"], paths, components)
        if outcome.manual:
            status = "warn"
        elif outcome.missing and check.get("if_missing"):
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
        if outcome.manual:
            evidence.setdefault("note", "manual check (kube-bench type: manual): always WARN, review it by hand")
        elif not check["scored"] and status == "warn":
            evidence.setdefault("note", "manual (unscored) check: a failing result is reported as WARN")
        cis_id = str(check["id"])
        finding = make_finding(
            "CIS-" + cis_id, source_for(target, source), check["title"], status,
            severity=check.get("severity", "medium"),
            cluster=cluster, node=node, resource={"kind": "Node", "name": node},
            description=check.get("description", ""), remediation=check["remediation"],
            references=check.get("references") or ["https://www.cisecurity.org/benchmark/kubernetes"],
            evidence=evidence,
            extra=dict({"scored": bool(check["scored"]), "benchmark": benchmark, "section": cis_id.rsplit(".", 1)[0],
                        "level": int(check.get("level", 1))},
                       **({"remediation_kubesec": kubesec_way[cis_id]} if cis_id in kubesec_way else {})))
        toggle = controls.get(cis_id)
        if isinstance(toggle, dict) and toggle.get("enabled") is False:
            finding = apply_waiver(finding, toggle.get("reason") or "control disabled in the inventory (no reason given)",
                                   expires=toggle.get("expires"), scope={"node": node})
        findings.append(finding)
    context = {
        "benchmark": benchmark,
        "components": dict((name, {"kind": c.kind, "flags_source": c.flags_source, "config_path": c.config_path,
                                   "config_error": c.config_error, "flags_error": c.flags_error, "files": c.files,
                                   "flag_count": len(c.flags)})
                           for name, c in components.items()),
        "skipped_targets": skipped,
    }
    return findings, context


def summarize(findings):
    counts = dict((status, 0) for status in ("pass", "fail", "warn", "info", "waived"))
    for finding in findings:
        counts[finding["status"]] += 1
    counts["total"] = len(findings)
    return counts
