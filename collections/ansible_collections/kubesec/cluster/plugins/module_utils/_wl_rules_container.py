# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workload rules judged per container: KS-WL-001, 002, 003, 004, 008, 010, 014, 015, 016, 019, 020.

Private module_utils (leading underscore): the API may change between minor releases.

Each rule is one ``rule()`` entry at the end of the file: its metadata, its check (``check_*`` over a container
view ``c`` = {"spec", "path", "name", "kind", "index"}, the pod view ``pod`` and the compiled parameters ``p``,
returning violations) and its admission-policy CEL (``cel_*``). Standard library only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils import _wl_cel as cel
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_cel import cel_list, cel_string
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import (
    as_dict,
    as_int,
    as_list,
    caps_of,
    effective_apparmor,
    is_false,
    is_true,
    match_image,
    normalize_capability,
    param,
    parse_image,
    parse_quantity,
    profile_allowed,
    short,
    violation,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_rule import rule

if TYPE_CHECKING:
    from ansible_collections.kubesec.cluster.plugins.module_utils._wl_common import Params, Setting, Variables, View, Violation

# KS-WL-019: an env var whose name says it holds a secret and whose value is written into the manifest. The
# patterns are RE2-compatible: the admission policy (cel_secrets_in_env) uses them unchanged.
# (PWD alone is the shell's working directory; DB_PWD is a password)
SECRET_ENV_NAME = (
    r"(?i)(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL"  # noqa: S105 - a pattern for names, not a password
    r"|_PWD(_|$))"
)
# names that hold a reference to a secret (a file path, a Secret's name, a lifetime), not the secret
SECRET_ENV_NAME_EXEMPT = r"(?i)_(FILE|PATH|DIR|NAME|REF|TTL|EXPIRY|TIMEOUT|LENGTH|TYPE)$"  # noqa: S105 - a pattern for names, not a password
# a URL with a password in its user info (scheme://user:password@host)
SECRET_ENV_URL = r"[A-Za-z][A-Za-z0-9+.-]*://[^/@: ]*:[^/@ ]+@"  # noqa: S105 - a pattern for names, not a password
# a value that is only a reference to another variable, $(VAR), holds nothing itself
ENV_REFERENCE = r"^\$\([A-Za-z_][A-Za-z0-9_.-]*\)$"


def _re2_compatible(pattern: str) -> re.Pattern[str]:
    """Python's '$' also matches before a final newline, RE2's (the API server's) does not: use '\\Z' here."""
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


_SECRET_ENV_NAME_RE = _re2_compatible(SECRET_ENV_NAME)
_SECRET_ENV_NAME_EXEMPT_RE = _re2_compatible(SECRET_ENV_NAME_EXEMPT)
_SECRET_ENV_URL_RE = _re2_compatible(SECRET_ENV_URL)
_ENV_REFERENCE_RE = _re2_compatible(ENV_REFERENCE)


def literal_secret_env(env: Any) -> Optional[str]:
    """Why an env entry holds a secret literally ('name' or 'url'), or None. Never returns the value."""
    env = as_dict(env)
    name, value = env.get("name"), env.get("value")
    if not isinstance(value, str) or not value or _ENV_REFERENCE_RE.search(value):
        return None
    if isinstance(name, str) and _SECRET_ENV_NAME_RE.search(name) and not _SECRET_ENV_NAME_EXEMPT_RE.search(name):
        return "name"
    if _SECRET_ENV_URL_RE.search(value):
        return "url"
    return None


# ---------------------------------------------------------------------------------------------------------
# Checks


def check_resource_limits(c: View, pod: View, p: Params) -> list[Violation]:
    if c["kind"] == "ephemeralContainers":
        return []
    out = []
    limits = as_dict(as_dict(c["spec"].get("resources")).get("limits"))
    for res, required, maximum in (("cpu", p["require_cpu"], p.get("max_cpu")), ("memory", p["require_memory"], p.get("max_memory"))):
        field = "%s.resources.limits.%s" % (c["path"], res)
        value = limits.get(res)
        if value is None or value == "":
            if required:
                out.append(violation(field, None, "no %s limit is set" % res, "a %s limit" % res))
            continue
        try:
            amount = parse_quantity(value)
        except ValueError:
            out.append(violation(field, value, "the %s limit is not a valid Kubernetes quantity" % res, "a quantity"))
            continue
        if amount <= 0:
            out.append(violation(field, value, "the %s limit is not positive" % res, "> 0"))
        elif maximum is not None and amount > maximum:
            out.append(
                violation(field, value, "the %s limit %s exceeds the maximum %s" % (res, value, p["_raw_max_%s" % res]), "<= %s" % p["_raw_max_%s" % res])
            )
    return out


def check_trusted_registries(c: View, pod: View, p: Params) -> list[Violation]:
    image = c["spec"].get("image")
    field = c["path"] + ".image"
    if not isinstance(image, str) or not image.strip():
        return [violation(field, image, "the container has no image", "an image from a trusted registry")]
    if match_image(image, p["registries"]) is None:
        return [
            violation(
                field, image, "image %s is not from a trusted registry" % short(image, 120), "one of: %s" % ", ".join(text for _k, text, _r in p["registries"])
            )
        ]
    return []


def check_capabilities(c: View, pod: View, p: Params) -> list[Violation]:
    out = []
    add, drop = caps_of(c)
    base = c["path"] + ".securityContext.capabilities"
    allowed = p["allowed_add"]
    for index, cap in enumerate(add):
        name = normalize_capability(cap)
        if "ALL" not in allowed and name not in allowed:
            out.append(
                violation(
                    "%s.add[%d]" % (base, index),
                    cap,
                    "capability %s is added but not allowed" % short(name, 64),
                    "only: %s" % (", ".join(sorted(allowed)) or "none"),
                )
            )
    dropped = {normalize_capability(item) for item in as_list(drop)}
    missing = [cap for cap in sorted(p["required_drop"]) if cap not in dropped and "ALL" not in dropped]
    if missing:
        out.append(
            violation(
                base + ".drop", drop, "required capabilities are not dropped: %s" % ", ".join(missing), "drop: %s" % ", ".join(sorted(p["required_drop"]))
            )
        )
    return out


def check_apparmor(c: View, pod: View, p: Params) -> list[Violation]:
    profile, origin = effective_apparmor(c["spec"], pod["spec"], pod.get("annotations"))
    if origin == "container":
        field = c["path"] + ".securityContext.appArmorProfile"
    elif origin == "annotation":
        field = "%s['container.apparmor.security.beta.kubernetes.io/%s']" % (pod["annotations_path"], c["name"])
    elif origin == "pod":
        field = pod["path"] + ".securityContext.appArmorProfile"
    else:
        field = c["path"] + ".securityContext.appArmorProfile"
    if profile is None:
        if p["require_explicit"]:
            return [violation(field, None, "no AppArmor profile is set", "one of: %s" % ", ".join(p["allowed_profiles"]))]
        return []
    if not profile_allowed(profile, p["allowed_profiles"]):
        return [violation(field, profile, "AppArmor profile %s is not allowed" % short(profile, 120), "one of: %s" % ", ".join(p["allowed_profiles"]))]
    return []


def check_privilege_escalation(c: View, pod: View, p: Params) -> list[Violation]:
    out = []
    sc = as_dict(c["spec"].get("securityContext"))
    base = c["path"] + ".securityContext"
    if is_true(sc.get("privileged")):
        out.append(violation(base + ".privileged", True, "a privileged container can always escalate privileges", "false"))
    add, _drop = caps_of(c)
    for index, cap in enumerate(add):
        if normalize_capability(cap) in ("SYS_ADMIN", "ALL"):
            out.append(violation("%s.capabilities.add[%d]" % (base, index), cap, "CAP_SYS_ADMIN allows privilege escalation", "not added"))
    value = sc.get("allowPrivilegeEscalation")
    if not is_false(value):
        out.append(
            violation(
                base + ".allowPrivilegeEscalation",
                value,
                "allowPrivilegeEscalation is %s" % ("not set (defaults to true)" if value is None else "not false"),
                "false",
            )
        )
    return out


def check_read_only_root(c: View, pod: View, p: Params) -> list[Violation]:
    value = as_dict(c["spec"].get("securityContext")).get("readOnlyRootFilesystem")
    if not is_true(value):
        return [violation(c["path"] + ".securityContext.readOnlyRootFilesystem", value, "the root filesystem is writable", "true")]
    return []


def check_sys_admin(c: View, pod: View, p: Params) -> list[Violation]:
    out = []
    add, _drop = caps_of(c)
    for index, cap in enumerate(add):
        if normalize_capability(cap) in ("SYS_ADMIN", "ALL"):
            out.append(
                violation(
                    "%s.securityContext.capabilities.add[%d]" % (c["path"], index), cap, "capability %s grants CAP_SYS_ADMIN" % short(cap, 64), "not added"
                )
            )
    return out


def check_privileged(c: View, pod: View, p: Params) -> list[Violation]:
    if is_true(as_dict(c["spec"].get("securityContext")).get("privileged")):
        return [violation(c["path"] + ".securityContext.privileged", True, "the container is privileged", "false")]
    return []


def check_run_as_non_root(c: View, pod: View, p: Params) -> list[Violation]:
    csc = as_dict(c["spec"].get("securityContext"))
    psc = as_dict(pod["spec"].get("securityContext"))
    if "runAsUser" in csc and csc.get("runAsUser") is not None:
        user, user_field = csc.get("runAsUser"), c["path"] + ".securityContext.runAsUser"
    else:
        user, user_field = psc.get("runAsUser"), pod["path"] + ".securityContext.runAsUser"
    if "runAsNonRoot" in csc and csc.get("runAsNonRoot") is not None:
        non_root, nr_field = csc.get("runAsNonRoot"), c["path"] + ".securityContext.runAsNonRoot"
    else:
        non_root, nr_field = psc.get("runAsNonRoot"), pod["path"] + ".securityContext.runAsNonRoot"
    uid = as_int(user)
    if uid is not None and uid <= 0:
        return [violation(user_field, user, "the container runs as UID %d" % uid, "runAsUser > 0")]
    if user is not None and uid is None:
        return [violation(user_field, user, "runAsUser is not an integer", "runAsUser > 0")]
    if uid is not None and uid > 0:
        if p["require_run_as_non_root"] and not is_true(non_root):
            return [violation(nr_field, non_root, "runAsNonRoot is not true", "true")]
        return []
    if is_true(non_root):
        return []
    state = "not set" if non_root is None else "false"
    return [
        violation(
            nr_field,
            non_root,
            "runAsNonRoot is %s and no non-zero runAsUser is set, so the image's user (often root) applies" % state,
            "runAsNonRoot: true or runAsUser > 0",
        )
    ]


def check_secrets_in_env(c: View, pod: View, p: Params) -> list[Violation]:
    out = []
    for index, env in enumerate(as_list(c["spec"].get("env"))):
        literal = literal_secret_env(env)
        if literal:
            name = as_dict(env).get("name")
            found = violation(
                "%s.env[%d].value" % (c["path"], index),
                {"env": name, "literal": True},
                "environment variable %s %s written into the manifest"
                % (short(name, 64), "holds a secret" if literal == "name" else "holds a URL with a password"),
                "a read-only secret volume",
            )
            found["severity"] = "high"
            out.append(found)
        ref = as_dict(as_dict(as_dict(env).get("valueFrom")).get("secretKeyRef"))
        if ref:
            out.append(
                violation(
                    "%s.env[%d].valueFrom.secretKeyRef" % (c["path"], index),
                    {"env": as_dict(env).get("name"), "secret": ref.get("name"), "key": ref.get("key")},
                    "environment variable %s comes from Secret %s" % (short(as_dict(env).get("name"), 64), short(ref.get("name"), 64)),
                    "a read-only secret volume",
                )
            )
    for index, source in enumerate(as_list(c["spec"].get("envFrom"))):
        ref = as_dict(as_dict(source).get("secretRef"))
        if ref:
            out.append(
                violation(
                    "%s.envFrom[%d].secretRef" % (c["path"], index),
                    {"secret": ref.get("name")},
                    "all keys of Secret %s become environment variables" % short(ref.get("name"), 64),
                    "a read-only secret volume",
                )
            )
    return out


def check_image_tag(c: View, pod: View, p: Params) -> list[Violation]:
    image = c["spec"].get("image")
    field = c["path"] + ".image"
    if not isinstance(image, str) or not image.strip():
        return [violation(field, image, "the container has no image", "a pinned image")]
    parts = parse_image(image)
    if p["require_digest"] and not parts["digest"]:
        return [violation(field, image, "image %s is not pinned by digest" % short(image, 120), "@sha256:<digest>")]
    if parts["digest"]:
        return []
    if parts["tag"] is None:
        return [violation(field, image, "image %s has no tag (means :latest)" % short(image, 120), "a version tag or digest")]
    if parts["tag"] in p["disallowed_tags"]:
        return [violation(field, image, "image %s uses the tag %s" % (short(image, 120), parts["tag"]), "a version tag or digest")]
    return []


# ---------------------------------------------------------------------------------------------------------
# Admission policy CEL: (extra variables, CEL list<string> of violations)


def cel_limits(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    checks = []
    for res in ("cpu", "memory"):
        valid = "isQuantity(q) && quantity(q).isGreaterThan(quantity('0'))"
        maximum = p.get("max_%s" % res)
        if maximum is not None:
            valid += " && !quantity(q).isGreaterThan(quantity(%s))" % cel_string(str(maximum))
        checks.append(
            "('%s' in lim && lim.%s != null && lim.%s != '' ? %s : %s)"
            % (res, res, res, cel.bind("q", "string(lim.%s)" % res, "!(%s)" % valid), "true" if p["require_%s" % res] else "false")
        )
    bad = cel.bind("lim", cel.path_or("c", ["resources", "limits"], "{}", "map"), "\n    " + "\n || ".join(checks))
    return [], cel.per_container(bad, "resources.limits.cpu/memory missing, not a positive quantity or above the maximum")


def cel_registries(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    bad = "!%s" % cel.image_matches("c", p["registries"], where + ".params.registries")
    return [], cel.per_container(bad, "image is not from a trusted registry")


def cel_capabilities(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    bad = []
    if "ALL" not in p["allowed_add"]:
        bad.append("!add.all(x, x in %s)" % cel_list(sorted(p["allowed_add"])))
    if p["required_drop"]:
        bad.append("(!('ALL' in drop) && !%s.all(x, x in drop))" % cel_list(sorted(p["required_drop"])))
    if not bad:
        return [], "[]"
    return [], cel.per_container(
        cel.caps_bad(" || ".join(bad)),
        "capabilities added beyond %s or not dropping %s" % (", ".join(sorted(p["allowed_add"])) or "none", ", ".join(sorted(p["required_drop"])) or "-"),
    )


_APPARMOR_FIELD = (
    "x.map(f, has(f.type) && f.type == 'RuntimeDefault' ? 'runtime/default' "
    ": has(f.type) && f.type == 'Unconfined' ? 'unconfined' "
    ": has(f.type) && f.type == 'Localhost' ? 'localhost/' + "
    "(has(f.localhostProfile) && type(f.localhostProfile) == string ? f.localhostProfile : '') "
    ": 'invalid:' + (has(f.type) && type(f.type) == string ? f.type : 'None'))"
)


def _apparmor_profiles(expr: str) -> str:
    """_apparmor_from_field: [] when expr (a map's field) is not a mapping, else [profile in annotation form]."""
    return "(type(%s) == map ? %s : [])" % (expr, _APPARMOR_FIELD.replace("x.map", "[%s].map" % expr))


def cel_apparmor(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    psc = "variables.podSecurityContext"
    extra = [
        ("annotations", cel.get_or("variables.meta", "annotations", "{}", "map")),
        ("podSecurityContext", cel.get_or("variables.spec", "securityContext", "{}", "map")),
        ("podProfiles", "has(%s.appArmorProfile) ? %s : []" % (psc, _apparmor_profiles(psc + ".appArmorProfile"))),
    ]
    key = "'container.apparmor.security.beta.kubernetes.io/' + c.name"
    annotation = "has(c.name) && type(c.name) == string && %s in variables.annotations && variables.annotations[%s] != null" % (key, key)
    profiles = "(has(sc.appArmorProfile) && type(sc.appArmorProfile) == map ? %s\n  : %s ? [string(variables.annotations[%s])]\n  : variables.podProfiles)" % (
        _apparmor_profiles("sc.appArmorProfile"),
        annotation,
        key,
    )
    allowed = []
    for entry in p["allowed_profiles"]:
        if entry.endswith("*"):
            allowed.append("pr.startsWith(%s)" % cel_string(entry[:-1]))
        else:
            allowed.append("pr == %s" % cel_string(entry))
    macro = "all" if p["require_explicit"] else "exists"
    bad = "%s\n  .%s(pr, !(%s))" % (profiles, macro, " || ".join(allowed) or "false")
    return extra, cel.per_container(bad, "AppArmor profile not in %s" % ", ".join(p["allowed_profiles"]))


def cel_privilege_escalation(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    bad = "%s\n  || %s\n  || !(has(sc.allowPrivilegeEscalation) && %s)" % (
        cel.true_at("sc", "privileged"),
        cel.caps_bad("add.exists(x, x in ['SYS_ADMIN', 'ALL'])"),
        cel.is_false("sc.allowPrivilegeEscalation"),
    )
    return [], cel.per_container(bad, "allowPrivilegeEscalation is not false (or privileged / CAP_SYS_ADMIN)")


def cel_read_only_root(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    return [], cel.per_container("!%s" % cel.true_at("sc", "readOnlyRootFilesystem"), "readOnlyRootFilesystem is not true")


def cel_sys_admin(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    return [], cel.per_container(cel.caps_bad("add.exists(x, x in ['SYS_ADMIN', 'ALL'])"), "capabilities.add contains SYS_ADMIN or ALL")


def cel_privileged(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    return [], cel.per_container(cel.true_at("sc", "privileged"), "privileged is true")


def cel_run_as_non_root(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    extra = [("podSecurityContext", cel.get_or("variables.spec", "securityContext", "{}", "map"))]
    psc = "variables.podSecurityContext"
    user = "has(sc.runAsUser) && sc.runAsUser != null ? sc.runAsUser : (has(%s.runAsUser) ? %s.runAsUser : null)" % (psc, psc)
    non_root = "has(sc.runAsNonRoot) && sc.runAsNonRoot != null ? sc.runAsNonRoot : (has(%s.runAsNonRoot) ? %s.runAsNonRoot : null)" % (psc, psc)
    strict = " || !%s" % cel.is_true("nr") if p["require_run_as_non_root"] else ""
    body = "u != null\n    ? !%s || %s <= 0%s\n    : !%s" % (cel.is_int("u"), cel.as_int("u"), strict, cel.is_true("nr"))
    return extra, cel.per_container(cel.bind("u", user, cel.bind("nr", non_root, body)), "may run as root (runAsUser 0 or unset without runAsNonRoot: true)")


def cel_secrets_in_env(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    # _workload_rules.literal_secret_env: a non-empty literal value (not only a $(VAR) reference) under a
    # secret-looking name, or a URL with a password; the same RE2-compatible patterns as the audit
    patterns = (cel_string(ENV_REFERENCE), cel_string(SECRET_ENV_NAME), cel_string(SECRET_ENV_NAME_EXEMPT), cel_string(SECRET_ENV_URL))
    literal = (
        "has(e.value) && type(e.value) == string && size(e.value) > 0 && !e.value.matches(%s) &&\n"
        "    ((has(e.name) && type(e.name) == string && e.name.matches(%s) && !e.name.matches(%s))\n"
        "     || e.value.matches(%s))" % patterns
    )
    bad = (
        "%s.exists(e, type(e) == map && (%s\n  || %s))\n  || "
        "%s.exists(s, type(s) == map && has(s.secretRef) && type(s.secretRef) == map && size(s.secretRef) > 0)"
        % (
            cel.get_or("c", "env", "[]", "list"),
            cel.bind("r", cel.path_or("e", ["valueFrom", "secretKeyRef"], "{}", "map"), "size(r) > 0"),
            literal,
            cel.get_or("c", "envFrom", "[]", "list"),
        )
    )
    return [], cel.per_container(bad, "a secret is passed as environment variable (written into the manifest, or env secretKeyRef / envFrom secretRef)")


def cel_image_tag(p: Params, where: str, setting: Setting) -> tuple[Variables, str]:
    digest = "img.indexOf('@') >= 0 && img.indexOf('@') < size(img) - 1"
    if p["require_digest"]:
        unpinned = "!(%s)" % digest
    else:
        unpinned = cel.bind(
            "n",
            "img.indexOf('@') >= 0 ? img.substring(0, img.indexOf('@')) : img",
            "!(%s) && (n.lastIndexOf(':') <= n.lastIndexOf('/') || n.substring(n.lastIndexOf(':') + 1) in %s)" % (digest, cel_list(p["disallowed_tags"])),
        )
    bad = "has(c.image) && type(c.image) == string && c.image.trim() != ''\n  ? %s\n  : true" % cel.bind("img", "c.image.trim()", unpinned)
    what = "image not pinned by digest" if p["require_digest"] else "image has no tag or a disallowed tag (%s) and no digest" % ", ".join(p["disallowed_tags"])
    return [], cel.per_container(bad, what)


RULES = (
    rule(
        "KS-WL-001",
        "resource_limits",
        "medium",
        "container",
        "Container CPU and memory limits are set",
        "Every container (init containers too; ephemeral containers cannot have resources) sets "
        "resources.limits.cpu and resources.limits.memory, optionally below a maximum.",
        "Set resources.limits.cpu and resources.limits.memory on every container.",
        {
            "require_cpu": param("bool", True, "Fail when limits.cpu is missing."),
            "require_memory": param("bool", True, "Fail when limits.memory is missing."),
            "max_cpu": param("cpu", None, "Largest allowed limits.cpu (Kubernetes quantity, e.g. '4' or '500m').", nullable=True),
            "max_memory": param("memory", None, "Largest allowed limits.memory (Kubernetes quantity, e.g. '8Gi').", nullable=True),
        },
        container_check=check_resource_limits,
        cel=cel_limits,
        cel_target="pod",
        cel_containers="no_ephemeral",
        ksv=("KSV-0011", "KSV-0018"),
        frameworks={"nsa": ("Network separation and hardening: Resource policies",), "mitre": ("T1499",)},
        defender="Container CPU and memory limits should be enforced",
        azure_policy="e345eecc K8sAzureContainerLimits",
        gatekeeper="k8scontainerlimits",
    ),
    rule(
        "KS-WL-002",
        "trusted_registries",
        "high",
        "container",
        "Images come from trusted registries only",
        "Every container image matches one of the trusted registry prefixes or regular expressions.",
        "Pull images only from the registries listed in the rule parameter 'registries' (mirror public images into them).",
        {
            "registries": param(
                "pattern_list",
                [],
                "Trusted image prefixes (matched at a '/', ':' or '@' boundary, against the image as "
                "written and its normalized form such as docker.io/library/nginx) or regular "
                "expressions starting with '^'. Required: while it is empty the rule is reported "
                "as not configured (an info finding) and checks nothing.",
                required=True,
                example=["registry.example.com/"],
            ),
        },
        container_check=check_trusted_registries,
        cel=cel_registries,
        cel_target="pod",
        ksv=("KSV-0125",),
        frameworks={"nsa": ("Kubernetes Pod security: Building secure container images",), "mitre": ("T1204.003", "T1525")},
        defender="Container images should be deployed from trusted registries only",
        azure_policy="febd0533 K8sAzureContainerAllowedImages",
        gatekeeper="k8sallowedrepos",
    ),
    rule(
        "KS-WL-003",
        "capabilities",
        "medium",
        "container",
        "Containers use least-privileged Linux capabilities",
        "Containers add only allowed capabilities and drop the required ones.",
        "Set securityContext.capabilities.drop: [ALL] and add back only what the process needs.",
        {
            "allowed_add": param("cap_list", [], "Capabilities a container may add (PSS restricted allows NET_BIND_SERVICE)."),
            "required_drop": param("cap_list", ["ALL"], "Capabilities every container must drop ('ALL' covers all)."),
        },
        container_check=check_capabilities,
        cel=cel_capabilities,
        cel_target="pod",
        ksv=("KSV-0003", "KSV-0022", "KSV-0106", "KSV-0119", "KSV-0120"),
        frameworks={
            "pss": ("restricted/capabilities",),
            "cis": ("5.2.8", "5.2.9"),
            "nsa": ("Kubernetes Pod security: Pod security enforcement",),
            "mitre": ("T1611",),
        },
        defender="Least privileged Linux capabilities should be enforced for containers",
        azure_policy="c26596ff K8sAzureAllowedCapabilities",
        gatekeeper="k8spspcapabilities",
    ),
    rule(
        "KS-WL-004",
        "apparmor",
        "medium",
        "container",
        "Containers use only allowed AppArmor profiles",
        "The effective AppArmor profile of every container (container securityContext.appArmorProfile, then the "
        "container.apparmor.security.beta.kubernetes.io/<container> annotation, then the pod "
        "securityContext.appArmorProfile) is in the allowed list.",
        "Use appArmorProfile: {type: RuntimeDefault} (or an allowed Localhost profile); never Unconfined.",
        {
            "allowed_profiles": param(
                "str_list",
                ["runtime/default"],
                "Allowed profiles in annotation form: runtime/default, unconfined, localhost/<name>; a trailing '*' matches a prefix (localhost/*).",
            ),
            "require_explicit": param("bool", False, "Fail containers with no profile set at all (unset means the container runtime's default profile)."),
        },
        container_check=check_apparmor,
        cel=cel_apparmor,
        cel_target="pod",
        ksv=("KSV-0002",),
        frameworks={"pss": ("baseline/apparmor",), "nsa": ("Kubernetes Pod security: Hardening container environments",), "mitre": ("T1611",)},
        defender="Containers should only use allowed AppArmor profiles",
        azure_policy="511f5417 K8sAzureEnforceAppArmor",
        gatekeeper="k8spspapparmor",
    ),
    rule(
        "KS-WL-008",
        "privilege_escalation",
        "medium",
        "container",
        "Containers do not allow privilege escalation",
        "securityContext.allowPrivilegeEscalation is explicitly false (it defaults to true); privileged containers and CAP_SYS_ADMIN always allow escalation.",
        "Set securityContext.allowPrivilegeEscalation: false on every container.",
        container_check=check_privilege_escalation,
        cel=cel_privilege_escalation,
        cel_target="pod",
        ksv=("KSV-0001",),
        frameworks={
            "pss": ("restricted/privilege-escalation",),
            "cis": ("5.2.6",),
            "nsa": ("Kubernetes Pod security: Pod security enforcement",),
            "mitre": ("T1068",),
        },
        defender="Container with privilege escalation should be avoided",
        azure_policy="1c6e92c9 K8sAzureContainerNoPrivilegeEscalation",
        gatekeeper="k8spspallowprivilegeescalationcontainer",
    ),
    rule(
        "KS-WL-010",
        "read_only_root_filesystem",
        "medium",
        "container",
        "Containers use a read-only root filesystem",
        "securityContext.readOnlyRootFilesystem is true.",
        "Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes where the process must write.",
        container_check=check_read_only_root,
        cel=cel_read_only_root,
        cel_target="pod",
        ksv=("KSV-0014",),
        frameworks={"nsa": ("Kubernetes Pod security: Immutable container file systems",)},
        defender="Immutable (read-only) root filesystem should be enforced for containers",
        azure_policy="df49d893 K8sAzureReadOnlyRootFilesystem",
        gatekeeper="k8spspreadonlyrootfilesystem",
    ),
    rule(
        "KS-WL-014",
        "sys_admin",
        "high",
        "container",
        "Containers are not granted CAP_SYS_ADMIN",
        "securityContext.capabilities.add contains neither SYS_ADMIN nor ALL.",
        "Remove SYS_ADMIN (and ALL) from capabilities.add.",
        container_check=check_sys_admin,
        cel=cel_sys_admin,
        cel_target="pod",
        ksv=("KSV-0005",),
        frameworks={"pss": ("baseline/capabilities",), "cis": ("5.2.9",), "mitre": ("T1611",)},
        defender="Kubernetes clusters shouldn't grant CAP_SYS_ADMIN security capabilities",
        azure_policy="d2e7ea85 K8sAzureDisallowedCapabilities",
        gatekeeper="k8spspcapabilities",
    ),
    rule(
        "KS-WL-015",
        "privileged",
        "high",
        "container",
        "Containers are not privileged",
        "securityContext.privileged is not true.",
        "Remove privileged: true; grant the single capability needed instead.",
        container_check=check_privileged,
        cel=cel_privileged,
        cel_target="pod",
        ksv=("KSV-0017",),
        frameworks={
            "pss": ("baseline/privileged-containers",),
            "cis": ("5.2.2",),
            "nsa": ("Kubernetes Pod security: Pod security enforcement",),
            "mitre": ("T1611",),
        },
        defender="Privileged containers should be avoided",
        azure_policy="95edb821 K8sAzureContainerNoPrivilege",
        gatekeeper="k8spspprivilegedcontainer",
    ),
    rule(
        "KS-WL-016",
        "run_as_non_root",
        "medium",
        "container",
        "Containers do not run as root",
        "The effective runAsUser (container, else pod) is greater than 0, or the effective runAsNonRoot (container, else pod) is true and runAsUser is not 0.",
        "Set runAsNonRoot: true and a non-zero runAsUser in the pod securityContext; do not override them with 0/false in a container.",
        {
            "require_run_as_non_root": param("bool", False, "Also require runAsNonRoot: true when runAsUser > 0 (PSS restricted; Trivy KSV012)."),
        },
        container_check=check_run_as_non_root,
        cel=cel_run_as_non_root,
        cel_target="pod",
        ksv=("KSV-0012", "KSV-0105"),
        ksv_params={
            "KSV-0012": {
                "params": {"require_run_as_non_root": True},
                "note": "Trivy wants runAsNonRoot: true even when runAsUser > 0; our default counts runAsUser > 0 as non-root.",
            }
        },
        frameworks={
            "pss": ("restricted/running-as-non-root", "restricted/running-as-non-root-user"),
            "cis": ("5.2.7",),
            "nsa": ("Kubernetes Pod security: Non-root containers and rootless container engines",),
            "mitre": ("T1611",),
        },
        defender="Running containers as root user should be avoided",
        azure_policy="f06ddb64 K8sAzureAllowedUsersGroups",
        gatekeeper="k8spspallowedusers",
    ),
    rule(
        "KS-WL-019",
        "secrets_in_env",
        "medium",
        "container",
        "Secrets are mounted as files, not passed as environment variables",
        "No env[].valueFrom.secretKeyRef and no envFrom[].secretRef (environment variables leak into logs, crash "
        "dumps and child processes); worse, no secret written literally into the manifest (an env[].value under a "
        "secret-looking name such as DB_PASSWORD, or a URL with a password): such findings have severity high.",
        "Put the value into a Secret and mount it as a read-only volume; read the file.",
        container_check=check_secrets_in_env,
        cel=cel_secrets_in_env,
        cel_target="pod",
        frameworks={"cis": ("5.4.1",), "nsa": ("Network separation and hardening: Secrets",), "mitre": ("T1552.001",)},
        severity_note="high for a secret written into the manifest",
    ),
    rule(
        "KS-WL-020",
        "image_tag",
        "medium",
        "container",
        "Images are pinned (no :latest, no missing tag)",
        "Every image has a tag other than the disallowed ones, or is pinned by digest.",
        "Use an immutable version tag, better an @sha256 digest.",
        {
            "disallowed_tags": param("str_list", ["latest"], "Tags that count as unpinned."),
            "require_digest": param("bool", False, "Require an @sha256: digest on every image."),
        },
        container_check=check_image_tag,
        cel=cel_image_tag,
        cel_target="pod",
        ksv=("KSV-0013",),
        frameworks={"nsa": ("Kubernetes Pod security: Building secure container images",), "mitre": ("T1204.003",)},
        gatekeeper="k8sdisallowedtags",
    ),
)
