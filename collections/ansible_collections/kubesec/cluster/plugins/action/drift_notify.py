# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: decide whether a run drifted (plugin_utils/_drift.py) and send one message per channel.

Delivery is module_utils/_notify.py (Telegram Bot API, SMTP, JSON webhook). Nothing in the result holds a token,
password, webhook URL path, webhook secret or header value: the result is built from the drift summary and the
delivery details, which _notify scrubs.
"""

from __future__ import annotations

import hashlib
import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.kubesec.cluster.plugins.module_utils import _notify
from ansible_collections.kubesec.cluster.plugins.module_utils._drift_args import ARGUMENT_SPEC
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _drift, _report


ENABLED_HEADER = "Drift alerts are now on for cluster %s on this channel."


def channel_fingerprints(args):
    """One digest per enabled channel of its non-secret settings: a change sends the 'now on' message.

    Tokens, passwords, webhook URL paths, secrets and header values are left out on purpose (a digest of a weak
    password in a file could be guessed); a rotated secret is checked by the next delivery anyway.
    """
    out = {}
    tg, em, wh = args["telegram"] or {}, args["email"] or {}, args["webhook"] or {}
    if tg.get("enabled"):
        out["telegram"] = [tg.get("api_url"), str(tg.get("chat_id") or "").strip()]
    if em.get("enabled"):
        out["email"] = [em.get("smtp_host"), em.get("smtp_port"), em.get("security"), em.get("user"), em.get("from"), sorted(em.get("to") or [])]
    if wh.get("enabled"):
        out["webhook"] = [_notify.webhook_endpoint(wh.get("url")), bool(wh.get("secret")), sorted(wh.get("headers") or {})]
    return dict((name, hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]) for name, value in out.items())


def read_state(path):
    if not path or not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise AnsibleActionFail("drift_notify: state_file %s cannot be read (%s); delete it to start over" % (path, exc)) from None
    channels = data.get("channels") if isinstance(data, dict) else None
    return dict(channels) if isinstance(channels, dict) else {}


def enabled_text(cluster):
    return (
        "kubesec: " + ENABLED_HEADER % cluster + " Nothing drifted in this run; a message comes when a run has new "
        "or regressed findings, a failed gate, an expired waiver or a source that could not be assessed."
    )


def deliver(args, drift, settings, header_for, check_only):
    """Send to every channel in ``header_for`` (channel -> header or None); returns one result per channel."""
    results = []
    tg, em, wh = args["telegram"] or {}, args["email"] or {}, args["webhook"] or {}
    common = dict(timeout=args["timeout"], validate_certs=args["validate_certs"], ca_path=args["ca_path"])
    for channel, header in header_for.items():
        try:
            if channel == "telegram":
                text = _drift.telegram_text(drift, settings, header or "") if drift.alert else enabled_text(drift.cluster)
                result = _notify.telegram(
                    tg.get("api_url"), tg.get("token"), tg.get("chat_id"), text, check_only=check_only, use_proxy=args["use_proxy"], **common
                )
                if check_only:  # getMe authenticates; the message is still only built
                    result["chars"] = len(text)
            elif channel == "email":
                if not em.get("smtp_host"):
                    raise _notify.NotifyError("email", "smtp_host is empty")
                if drift.alert:
                    parts = _drift.email_parts(drift, settings, header or "")
                else:
                    text = enabled_text(drift.cluster)
                    parts = {"subject": "[kubesec] %s: drift alerts on" % drift.cluster, "text": text, "html": None}
                result = _notify.smtp(
                    em["smtp_host"],
                    em.get("smtp_port") or 587,
                    em.get("security") or "starttls",
                    em.get("user"),
                    em.get("password"),
                    em.get("from") or em.get("user"),
                    em.get("to") or [],
                    parts["subject"],
                    parts["text"],
                    check_only=check_only,
                    html_body=parts["html"],
                    **common,
                )
            else:
                if drift.alert:
                    payload = _drift.webhook_payload(drift, settings, header or "")
                else:
                    payload = {
                        "schema": _drift.PAYLOAD_SCHEMA,
                        "cluster": drift.cluster,
                        "run_id": drift.run_id,
                        "test": True,
                        "reasons": [],
                        "text": enabled_text(drift.cluster),
                    }
                result = _notify.webhook(
                    wh.get("url"), payload, secret=wh.get("secret"), headers=wh.get("headers"), check_only=check_only, use_proxy=args["use_proxy"], **common
                )
            result["ok"] = True
        except _notify.NotifyError as exc:
            result = {"channel": channel, "ok": False, "sent": False, "detail": str(exc)}
        result["kind"] = "drift" if drift.alert else "enabled"
        results.append(result)
    return results


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail("drift_notify: " + "; ".join(validation.error_messages))
        args = validation.validated_parameters
        try:
            settings = _drift.Settings(
                min_severity=args["min_severity"],
                new_only=args["new_only"],
                repeat=args["repeat"],
                top=args["top"],
                report_url_prefix=args["report_url_prefix"] or "",
            )
            drift = _drift.assess(args["report"], settings)
        except _drift.DriftInputError as exc:
            raise AnsibleActionFail("drift_notify: %s" % exc) from None
        check_only = bool(self._task.check_mode)
        fingerprints = channel_fingerprints(args)
        state = read_state(args["state_file"]) if args["test_on_enable"] else dict(fingerprints)
        newly_on = [name for name, digest in fingerprints.items() if state.get(name) != digest]
        header_for = {}
        for name in fingerprints:
            if drift.alert:
                header_for[name] = (ENABLED_HEADER % drift.cluster) if name in newly_on else None
            elif name in newly_on:
                header_for[name] = None  # the short 'now on' test message
        deliveries = deliver(args, drift, settings, header_for, check_only) if header_for else []
        failed = [d for d in deliveries if not d["ok"]]
        record = dict(_drift.summary(drift), deliveries=deliveries, check_mode=check_only)
        written = {}
        if not check_only:
            try:
                if args["state_file"]:
                    ok = {d["channel"] for d in deliveries if d["ok"]}
                    keep = dict((n, d) for n, d in fingerprints.items() if n in ok or (n not in newly_on))
                    _report.write_atomic(args["state_file"], json.dumps({"channels": keep}, indent=1, sort_keys=True))
                    written["state"] = args["state_file"]
                if args["output"] and deliveries:
                    _report.write_atomic(args["output"], json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False))
                    written["output"] = args["output"]
            except OSError as exc:
                raise AnsibleActionFail("drift_notify: cannot write %s" % exc) from None
        sent = [d["channel"] for d in deliveries if d.get("sent")]
        if not fingerprints:
            msg = "cluster %s: no drift alert channel is enabled" % drift.cluster
        elif not deliveries:
            msg = "cluster %s: no drift since run %s (nothing sent)" % (drift.cluster, drift.previous_run_id or "-")
        else:
            msg = "cluster %s: %s -> %s" % (
                drift.cluster,
                "; ".join(drift.reasons) if drift.alert else "drift alerts switched on",
                "; ".join(d["detail"] for d in deliveries),
            )
        result.update(changed=bool(sent), drift=record, deliveries=deliveries, sent=sent, files=written, delivery_failed=bool(failed), msg=msg)
        if failed:
            warning = "drift alert delivery failed: " + "; ".join(d["detail"] for d in failed)
            if args["fail_on_delivery_error"]:
                result.update(failed=True, msg=warning)
            else:
                result.setdefault("warnings", []).append(warning)
        return result
