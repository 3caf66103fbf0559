# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``kubesec_falco`` -> values of the official ``falcosecurity/falco`` Helm chart (with falcosidekick + UI).

Private module_utils (leading underscore): the API may change between minor releases.
Standard library only.

Secrets never appear in the values. falcosidekick reads its whole output configuration from environment
variables; with ``falcosidekick.config.existingSecret`` the chart does not render its own Secret and the
Deployment takes ``envFrom`` our Secret instead (charts/falcosidekick templates/deployment.yaml, secrets.yaml).
The UI's login comes from ``falcosidekick.webui.existingSecret`` (key ``FALCOSIDEKICK_UI_USER``, "user:password");
``webui.user`` is set to "" so the chart's own ``<fullname>-ui`` Secret does not even carry the default
``admin:admin`` (templates/secrets-ui.yaml writes the key only when ``webui.user`` is non-empty).

This builder receives the settings WITHOUT secret values (the roles strip them); it returns "secret
references": the Secret names, the non-secret keys with their values, and for each secret key the name of
the source the value comes from (``ui_user``, ``telegram_token``, ``email_password``).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Dict, List, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._gitops import (
    FeatureError,
    deep_merge,
    reject_unknown,
    require_bool,
    require_dict,
    require_label,
    require_text,
    standard_labels,
)

CHART = {"repo_url": "https://falcosecurity.github.io/charts", "chart": "falco", "version": "9.1.0"}
DEFAULT_RELEASE = "falco"
DEFAULT_NAMESPACE = "falco"
# Driver kinds the pinned chart (falco 9.x) renders: its falco.engineConfiguration accepts kmod, modern_ebpf and auto
# (aliases module, modern-bpf); falco.removedConfigGuard fails on the classic "ebpf" probe and "gvisor", dropped in 9.0.
DRIVERS = ("modern_ebpf", "kmod", "auto")
REMOVED_DRIVERS = {
    "ebpf": "the classic eBPF probe was removed in falco chart 9.0 (use modern_ebpf: CO-RE, kernel >= 5.8, no driver build on the node)",
    "gvisor": "gVisor support was removed in falco chart 9.0",
}
PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")
PRIORITY_ALIASES = {"info": "informational", "warn": "warning", "crit": "critical", "err": "error"}
TELEGRAM_API = "https://api.telegram.org"
SIDEKICK_SECRET = "kubesec-falcosidekick"  # noqa: S105 - a Secret name, not a secret
UI_SECRET = "kubesec-falcosidekick-ui"  # noqa: S105 - a Secret name, not a secret
UI_PORT = 2802
# Secret sources (the roles map these names to inventory variables).
SECRET_SOURCES = {
    "ui_user": "kubesec_falco.ui.user + ':' + kubesec_falco.ui.password",
    "telegram_token": "kubesec_falco.alerts.telegram.token",
    "email_password": "kubesec_falco.alerts.email.password",
}
SECRET_FIELDS = (("ui", "password"), ("alerts", "telegram", "token"), ("alerts", "email", "password"))

_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_CHAT_ID = re.compile(r"^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,63})$")
_TTL_UI = re.compile(r"^(0|[1-9][0-9]*[smhdWMy])$")
_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")

FALCO_KEYS = ("enabled", "driver", "ui", "alerts")
UI_KEYS = ("enabled", "user", "password", "ttl")
ALERT_KEYS = ("minimum_priority", "telegram", "email")
TELEGRAM_KEYS = ("enabled", "token", "chat_id", "api_url")
EMAIL_KEYS = ("enabled", "smtp_host", "smtp_port", "starttls", "user", "password", "from", "to")


def _get(mapping: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(part)
    return mapping


def check_no_secrets(config: Dict[str, Any]) -> None:
    """Refuse secret values: this builder (and the module around it) must never see them."""
    for path in SECRET_FIELDS:
        value = _get(config, *path)
        if value not in (None, "", False):
            raise FeatureError(
                "kubesec_falco.%s: secret values must not be passed to the values builder; "
                "pass the settings without secrets (the roles do) - the secret goes to the "
                "Kubernetes Secret only" % ".".join(path)
            )


def normalize_priority(value: Any, field: str) -> str:
    text = require_text(value, field, default="warning").lower()
    text = PRIORITY_ALIASES.get(text, text)
    if text not in PRIORITIES:
        raise FeatureError("%s: %r is not a Falco priority (one of %s)" % (field, value, ", ".join(PRIORITIES)))
    return text


def _host(value: Any, field: str) -> str:
    text = require_text(value, field)
    if not (_HOST.match(text) or _IPV4.match(text)):
        raise FeatureError("%s: %r is not a host name or IPv4 address" % (field, value))
    return text


def _port(value: Any, field: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        raise FeatureError("%s: expected a port number, got %r" % (field, value))
    try:
        port = int(str(value).strip())
    except ValueError:
        raise FeatureError("%s: expected a port number 1-65535, got %r" % (field, value)) from None
    if not 1 <= port <= 65535:
        raise FeatureError("%s: port %d is outside 1-65535" % (field, port))
    return port


def _addresses(value: Any, field: str) -> List[str]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        items = [require_text(item, "%s[%d]" % (field, index)) for index, item in enumerate(value)]
    elif value is None:
        items = []
    else:
        raise FeatureError("%s: expected an e-mail address or a list of them, got %s" % (field, type(value).__name__))
    items = [item for item in items if item]
    if not items:
        raise FeatureError("%s: at least one e-mail address is required" % field)
    for item in items:
        if not _EMAIL.match(item):
            raise FeatureError("%s: %r is not an e-mail address" % (field, item))
    return items


def normalize(config: Any) -> Dict[str, Any]:
    """Validate ``kubesec_falco`` (without secret values) and fill in the defaults."""
    config = require_dict(config, "kubesec_falco")
    reject_unknown(config, FALCO_KEYS, "kubesec_falco")
    check_no_secrets(config)
    ui = require_dict(config.get("ui"), "kubesec_falco.ui")
    reject_unknown(ui, UI_KEYS, "kubesec_falco.ui")
    alerts = require_dict(config.get("alerts"), "kubesec_falco.alerts")
    reject_unknown(alerts, ALERT_KEYS, "kubesec_falco.alerts")
    telegram = require_dict(alerts.get("telegram"), "kubesec_falco.alerts.telegram")
    reject_unknown(telegram, TELEGRAM_KEYS, "kubesec_falco.alerts.telegram")
    email = require_dict(alerts.get("email"), "kubesec_falco.alerts.email")
    reject_unknown(email, EMAIL_KEYS, "kubesec_falco.alerts.email")

    result: Dict[str, Any] = {
        "enabled": require_bool(config.get("enabled"), "kubesec_falco.enabled", default=False),
        "driver": require_text(config.get("driver"), "kubesec_falco.driver", default="modern_ebpf"),
        "ui": {"enabled": require_bool(ui.get("enabled"), "kubesec_falco.ui.enabled", default=False)},
        "alerts": {
            "minimum_priority": normalize_priority(alerts.get("minimum_priority"), "kubesec_falco.alerts.minimum_priority"),
            "telegram": {"enabled": require_bool(telegram.get("enabled"), "kubesec_falco.alerts.telegram.enabled", default=False)},
            "email": {"enabled": require_bool(email.get("enabled"), "kubesec_falco.alerts.email.enabled", default=False)},
        },
    }
    if result["driver"] in REMOVED_DRIVERS:
        raise FeatureError(
            "kubesec_falco.driver: %r is not supported by falco chart %s: %s; one of %s"
            % (result["driver"], CHART["version"], REMOVED_DRIVERS[result["driver"]], ", ".join(DRIVERS))
        )
    if result["driver"] not in DRIVERS:
        raise FeatureError("kubesec_falco.driver: %r is not one of %s" % (result["driver"], ", ".join(DRIVERS)))
    if result["ui"]["enabled"]:
        user = require_text(ui.get("user"), "kubesec_falco.ui.user", default="admin")
        if ":" in user:
            raise FeatureError("kubesec_falco.ui.user: must not contain ':' (the UI reads 'user:password')")
        ttl = require_text(ui.get("ttl"), "kubesec_falco.ui.ttl", default="7d")
        if not _TTL_UI.match(ttl):
            raise FeatureError("kubesec_falco.ui.ttl: %r is not a falcosidekick-ui TTL (0 or <number><s|m|h|d|W|M|y>, e.g. 7d)" % ttl)
        result["ui"].update({"user": user, "ttl": ttl})
    tg = result["alerts"]["telegram"]
    if tg["enabled"]:
        chat_id = require_text(telegram.get("chat_id"), "kubesec_falco.alerts.telegram.chat_id")
        if not _CHAT_ID.match(chat_id):
            raise FeatureError(
                "kubesec_falco.alerts.telegram.chat_id: %r is not a Telegram chat id (a number such as -1001234567890, or @channelname)" % chat_id
            )
        api_url = require_text(telegram.get("api_url"), "kubesec_falco.alerts.telegram.api_url", default=TELEGRAM_API).rstrip("/")
        if not _URL.match(api_url):
            raise FeatureError("kubesec_falco.alerts.telegram.api_url: %r is not an http(s) URL" % api_url)
        tg.update({"chat_id": chat_id, "api_url": api_url})
    em = result["alerts"]["email"]
    if em["enabled"]:
        user = require_text(email.get("user"), "kubesec_falco.alerts.email.user")
        em.update(
            {
                "smtp_host": _host(email.get("smtp_host"), "kubesec_falco.alerts.email.smtp_host"),
                "smtp_port": _port(email.get("smtp_port"), "kubesec_falco.alerts.email.smtp_port", 587),
                "starttls": require_bool(email.get("starttls"), "kubesec_falco.alerts.email.starttls", default=True),
                "user": user,
                "from": require_text(email.get("from"), "kubesec_falco.alerts.email.from", default=user),
                "to": _addresses(email.get("to"), "kubesec_falco.alerts.email.to"),
            }
        )
        if not _EMAIL.match(em["from"]):
            raise FeatureError("kubesec_falco.alerts.email.from: %r is not an e-mail address" % em["from"])
        if em["smtp_port"] == 465:
            raise FeatureError(
                "kubesec_falco.alerts.email.smtp_port: falcosidekick does not speak implicit TLS "
                "(port 465); use 587 with starttls: true (Gmail: smtp.gmail.com:587)"
            )
    return result


def falco_fullname(release: str) -> str:
    """The falco chart's ``falco.fullname`` helper (no overrides)."""
    name = release if "falco" in release else "%s-falco" % release
    return name[:63].rstrip("-")


def sidekick_fullname(release: str) -> str:
    """Pinned with ``falcosidekick.fullnameOverride``: the falco chart points Falco's http_output at
    ``http://<falco fullname>-falcosidekick:2801`` (``falcosidekick.url`` helper), which the subchart's own
    naming only matches when the release name is exactly ``falco``."""
    return ("%s-falcosidekick" % falco_fullname(release))[:63].rstrip("-")


def _checksum(refs: List[Dict[str, Any]]) -> str:
    """Hash of the non-secret Secret content and key names: pods roll when a channel is switched or changed."""
    public = [{"name": r["name"], "data": r["data"], "secret_keys": sorted(r["secret_keys"])} for r in refs]
    return hashlib.sha256(json.dumps(public, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def secret_refs(settings: Dict[str, Any], cluster: str, release: str = DEFAULT_RELEASE, namespace: str = DEFAULT_NAMESPACE) -> List[Dict[str, Any]]:
    """The Secrets the release expects: names, non-secret data, and which source fills each secret key."""
    if not settings["enabled"]:
        return []
    ui, tg, em = settings["ui"], settings["alerts"]["telegram"], settings["alerts"]["email"]
    if not (ui["enabled"] or tg["enabled"] or em["enabled"]):
        return []
    labels = standard_labels(cluster, "falco")
    priority = settings["alerts"]["minimum_priority"]
    data: Dict[str, str] = {}
    keys: Dict[str, str] = {}
    if ui["enabled"]:
        data["WEBUI_URL"] = "http://%s-ui:%d" % (sidekick_fullname(release), UI_PORT)
    if tg["enabled"]:
        data.update({"TELEGRAM_CHATID": tg["chat_id"], "TELEGRAM_MINIMUMPRIORITY": priority, "TELEGRAM_CHECKCERT": "true"})
        if tg["api_url"] != TELEGRAM_API:
            data["TELEGRAM_HOST"] = tg["api_url"]
        keys["TELEGRAM_TOKEN"] = "telegram_token"  # noqa: S105 - the name of the source, not a token
    if em["enabled"]:
        data.update(
            {
                "SMTP_HOSTPORT": "%s:%d" % (em["smtp_host"], em["smtp_port"]),
                "SMTP_TLS": "true" if em["starttls"] else "false",
                "SMTP_AUTHMECHANISM": "plain",
                "SMTP_USER": em["user"],
                "SMTP_FROM": em["from"],
                "SMTP_TO": ",".join(em["to"]),
                "SMTP_OUTPUTFORMAT": "html",
                "SMTP_MINIMUMPRIORITY": priority,
            }
        )
        keys["SMTP_PASSWORD"] = "email_password"  # noqa: S105 - the name of the source, not a password
    refs = [{"name": SIDEKICK_SECRET, "namespace": namespace, "labels": dict(labels), "data": data, "secret_keys": keys}]
    if ui["enabled"]:
        refs.append({"name": UI_SECRET, "namespace": namespace, "labels": dict(labels), "data": {}, "secret_keys": {"FALCOSIDEKICK_UI_USER": "ui_user"}})
    return refs


def build_values(
    settings: Dict[str, Any], refs: List[Dict[str, Any]], release: str = DEFAULT_RELEASE, extra_values: Optional[Dict[str, Any]] = None
) -> Dict[str, Any]:
    """Helm values for the falco chart (no secret values anywhere)."""
    if not settings["enabled"]:
        return {}
    values: Dict[str, Any] = {"driver": {"enabled": True, "kind": settings["driver"]}}
    if refs:
        checksum = _checksum(refs)
        sidekick: Dict[str, Any] = {
            "enabled": True,
            "fullnameOverride": sidekick_fullname(release),
            "config": {"existingSecret": SIDEKICK_SECRET},
            "podAnnotations": {"kubesec.io/config-checksum": checksum},
            "webui": {"enabled": False},
        }
        if settings["ui"]["enabled"]:
            sidekick["webui"] = {
                "enabled": True,
                "user": "",
                "existingSecret": UI_SECRET,
                "ttl": settings["ui"]["ttl"],
                "podAnnotations": {"kubesec.io/config-checksum": checksum},
            }
        values["falcosidekick"] = sidekick
    else:
        values["falcosidekick"] = {"enabled": False}
    if extra_values:
        values = deep_merge(values, extra_values)
    return values


def build(
    config: Any, cluster: str, release: str = DEFAULT_RELEASE, namespace: str = DEFAULT_NAMESPACE, extra_values: Optional[Dict[str, Any]] = None
) -> Dict[str, Any]:
    """Everything the role and the renderer need, from ``kubesec_falco`` without secrets."""
    require_label(cluster, "cluster (kubesec_cluster_name)")
    require_label(release, "release_name")
    require_label(namespace, "namespace")
    settings = normalize(config)
    refs = secret_refs(settings, cluster, release, namespace)
    values = build_values(settings, refs, release, extra_values)
    return {
        "state": "present" if settings["enabled"] else "absent",
        "settings": settings,
        "values": values,
        "secret_refs": refs,
        "obsolete_secrets": [{"name": name, "namespace": namespace} for name in (SIDEKICK_SECRET, UI_SECRET) if name not in [ref["name"] for ref in refs]],
        "secret_sources": {key: SECRET_SOURCES[key] for ref in refs for key in ref["secret_keys"].values()},
        "chart": dict(CHART),
        "release_name": release,
        "namespace": namespace,
        "warnings": [],
        "workloads": {
            "sidekick": sidekick_fullname(release) if refs else None,
            "ui": "%s-ui" % sidekick_fullname(release) if settings["ui"]["enabled"] and settings["enabled"] else None,
        },
    }
