# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Send (or, in check mode, only authenticate) a test message through the alert channels.

Private module_utils (leading underscore): the API may change between minor releases.
HTTP (Telegram Bot API, webhooks) through ansible.module_utils.urls.open_url (proxies, certificate checks, CA
path), smtplib for SMTP (STARTTLS, implicit TLS, plain).
Error messages name the channel, the endpoint and what went wrong; they never contain the token or the
password (every message passes through ``scrub`` with the secrets of the call).
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import http.client
import json
import smtplib
import socket
import ssl
from email.message import EmailMessage
from typing import Any, Dict, List, Mapping, Optional, Sequence
from urllib import error as urlerror
from urllib.parse import urlsplit

from ansible.module_utils.urls import open_url

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

TELEGRAM_API = "https://api.telegram.org"
MAX_ANSWER_BYTES = 1024 * 1024  # a Bot API answer is a few hundred bytes; a wrong endpoint may send anything


class NotifyError(KubesecError):
    """A channel failed; ``str()`` is safe to show (no secrets)."""

    def __init__(self, channel: str, message: str) -> None:
        super().__init__("%s: %s" % (channel, message))
        self.channel = channel


def scrub(text: object, secrets: Sequence[Any]) -> str:
    text = str(text)
    for secret in secrets:
        if secret:
            text = text.replace(str(secret), "********")
    return text


def _tls_context(validate_certs: bool, ca_path: Optional[str]) -> ssl.SSLContext:
    if not validate_certs:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return "TLS certificate not trusted (%s)" % (reason.verify_message or reason)
    if isinstance(reason, socket.gaierror):
        return "host name not resolved (%s)" % reason.strerror
    return str(reason)


def telegram(
    api_url: Optional[str],
    token: str,
    chat_id: Any,
    text: str,
    timeout: float = 10,
    check_only: bool = False,
    use_proxy: bool = True,
    validate_certs: bool = True,
    ca_path: Optional[str] = None,
) -> Dict[str, Any]:
    """Bot API ``sendMessage`` (or ``getMe`` when ``check_only``). Returns a dict describing the delivery."""
    api_url = (api_url or TELEGRAM_API).rstrip("/")
    if not api_url.startswith(("https://", "http://")):
        raise NotifyError("telegram", "api_url must start with https:// or http://, got %r" % api_url)
    secrets = [token]
    if not token:
        raise NotifyError("telegram", "token is empty")
    if not check_only and not str(chat_id or "").strip():
        raise NotifyError("telegram", "chat_id is empty")
    method = "getMe" if check_only else "sendMessage"
    shown = "%s/bot<token>/%s" % (api_url, method)
    url = "%s/bot%s/%s" % (api_url, token, method)
    body = None
    if not check_only:
        body = json.dumps({"chat_id": str(chat_id).strip(), "text": text, "disable_web_page_preview": True}).encode("utf-8")
    try:
        # open_url: proxies from the environment unless use_proxy is off, certificate checks, no redirects (the
        # Bot API never redirects; following one would send the message, and the token's path, elsewhere)
        resp = open_url(
            url,
            data=body,
            method="POST" if body is not None else "GET",
            timeout=timeout,
            headers={"Content-Type": "application/json"} if body is not None else None,
            use_proxy=use_proxy,
            validate_certs=validate_certs,
            ca_path=ca_path,
            follow_redirects="none",
            use_netrc=False,
        )
        status, raw = resp.status, resp.read(MAX_ANSWER_BYTES)
    except urlerror.HTTPError as exc:  # 4xx/5xx: the Bot API explains them in its JSON body
        status, raw = exc.code, exc.read(MAX_ANSWER_BYTES) if exc.fp is not None else b""
    except (urlerror.URLError, OSError) as exc:
        raise NotifyError("telegram", scrub("cannot reach %s: %s" % (shown, _reason(exc)), secrets)) from None
    except http.client.HTTPException as exc:
        raise NotifyError("telegram", scrub("%s did not answer HTTP (%s: %s)" % (shown, type(exc).__name__, exc), secrets)) from None
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise NotifyError("telegram", scrub("%s answered HTTP %d with a body that is not Bot API JSON" % (shown, status), secrets)) from None
    if status != 200 or not isinstance(payload, dict) or payload.get("ok") is not True:
        description = payload.get("description") if isinstance(payload, dict) else None
        code = payload.get("error_code", status) if isinstance(payload, dict) else status
        hint = ""
        if code == 401:
            hint = " (the bot token is wrong or revoked)"
        elif code in (400, 403) and not check_only:
            hint = " (check chat_id and that the bot was added to the chat)"
        raise NotifyError(
            "telegram", scrub("%s refused the request: HTTP %d, error_code %s: %s%s" % (shown, status, code, description or "no description", hint), secrets)
        )
    result: Dict[str, Any] = payload["result"] if isinstance(payload.get("result"), dict) else {}
    if check_only:
        return {
            "channel": "telegram",
            "sent": False,
            "endpoint": shown,
            "detail": "token accepted (bot @%s); no message sent in check mode" % result.get("username", "?"),
        }
    return {
        "channel": "telegram",
        "sent": True,
        "endpoint": shown,
        "message_id": result.get("message_id"),
        "detail": "message %s delivered to chat %s" % (result.get("message_id"), chat_id),
    }


def build_email(sender: str, recipients: Sequence[str], subject: str, text: str, html_body: Optional[str] = None) -> EmailMessage:
    """A text message, or multipart/alternative with an HTML part when ``html_body`` is given."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain="kubesec.invalid")
    msg.set_content(text)
    if html_body:
        msg.add_alternative(html_body, subtype="html")
    return msg


SIGNATURE_HEADER = "X-Kubesec-Signature"


def signature(secret: Any, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the exact request body>`` (the receiver recomputes it with the shared secret)."""
    return "sha256=" + hmac.new(str(secret).encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook_endpoint(url: Optional[str]) -> str:
    """What may be shown of a webhook URL: scheme, host and port (Slack-style URLs carry a token in the path)."""
    parts = urlsplit(url or "")
    return "%s://%s/..." % (parts.scheme, parts.hostname or "?") if parts.port is None else "%s://%s:%d/..." % (parts.scheme, parts.hostname or "?", parts.port)


def webhook(
    url: Any,
    payload: Any,
    secret: Optional[str] = None,
    headers: Optional[Mapping[str, Any]] = None,
    timeout: float = 10,
    check_only: bool = False,
    use_proxy: bool = True,
    validate_certs: bool = True,
    ca_path: Optional[str] = None,
) -> Dict[str, Any]:
    """POST ``payload`` as JSON; with ``secret`` an HMAC-SHA256 signature header. ``check_only``: build, no request.

    The URL (its path and query may hold a token), the secret and the header values are never shown.
    """
    url = str(url or "")
    if not url.startswith(("https://", "http://")):
        raise NotifyError("webhook", "url must start with https:// or http://")
    headers = dict(headers or {})
    # header values (Authorization, API keys) are secrets; very short ones (e.g. "1") would mangle every message
    secrets = [url, secret] + [str(v) for v in headers.values() if len(str(v)) >= 6]
    shown = webhook_endpoint(url)
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    send_headers = {"Content-Type": "application/json", "User-Agent": "kubesec-drift-alerts"}
    send_headers.update((str(k), str(v)) for k, v in headers.items())
    if secret:
        send_headers[SIGNATURE_HEADER] = signature(secret, body)
    if check_only:
        return {
            "channel": "webhook",
            "sent": False,
            "endpoint": shown,
            "bytes": len(body),
            "detail": "payload of %d bytes built%s; not sent in check mode" % (len(body), " and signed" if secret else ""),
        }
    try:
        resp = open_url(
            url,
            data=body,
            headers=send_headers,
            method="POST",
            timeout=timeout,
            use_proxy=use_proxy,
            validate_certs=validate_certs,
            ca_path=ca_path,
            follow_redirects="none",
            use_netrc=False,
        )
        status = resp.status
        resp.read(65536)
    except urlerror.HTTPError as exc:
        raise NotifyError("webhook", scrub("%s refused the payload: HTTP %d %s" % (shown, exc.code, exc.reason), secrets)) from None
    except (urlerror.URLError, OSError) as exc:
        raise NotifyError("webhook", scrub("cannot reach %s: %s" % (shown, _reason(exc)), secrets)) from None
    except http.client.HTTPException as exc:
        raise NotifyError("webhook", scrub("%s did not answer HTTP (%s)" % (shown, type(exc).__name__), secrets)) from None
    signed = ", signed" if secret else ""
    return {
        "channel": "webhook",
        "sent": True,
        "endpoint": shown,
        "bytes": len(body),
        "detail": "payload of %d bytes accepted by %s (HTTP %d)%s" % (len(body), shown, status, signed),
    }


def smtp(
    host: str,
    port: int,
    security: str,
    user: Optional[str],
    password: Optional[str],
    sender: str,
    recipients: List[str],
    subject: str,
    text: str,
    timeout: float = 10,
    check_only: bool = False,
    validate_certs: bool = True,
    ca_path: Optional[str] = None,
    html_body: Optional[str] = None,
) -> Dict[str, Any]:
    """Log in and send one message (``check_only``: log in and quit). ``security``: starttls | ssl | none."""
    secrets = [password]
    where = "%s:%s" % (host, port)
    if security not in ("starttls", "ssl", "none"):
        raise NotifyError("email", "security must be starttls, ssl or none, got %r" % security)
    if security == "none" and (user or password):
        raise NotifyError("email", "refusing to send the SMTP password to %s without TLS; use starttls or ssl" % where)
    if user and not password:
        raise NotifyError("email", "password is empty for user %s" % user)
    if not recipients:
        raise NotifyError("email", "no recipient (to) given")
    context = _tls_context(validate_certs, ca_path)
    server: Optional[smtplib.SMTP] = None
    stage = "connect"
    try:
        if security == "ssl":
            server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        session = server
        stage = "EHLO"
        session.ehlo()
        if security == "starttls":
            if not session.has_extn("starttls"):
                raise NotifyError("email", "%s does not offer STARTTLS; refusing to log in without TLS" % where)
            stage = "STARTTLS"
            session.starttls(context=context)
            session.ehlo()
        if user:
            stage = "login"
            session.login(user, password or "")  # a user without a password was refused above
        if check_only:
            detail = "logged in to %s as %s; no message sent in check mode" % (where, user or "(no auth)")
            sent = False
        else:
            stage = "send"
            refused = session.send_message(build_email(sender, recipients, subject, text, html_body), from_addr=sender, to_addrs=recipients)
            if refused:
                raise NotifyError("email", "%s refused recipient(s): %s" % (where, ", ".join(sorted(refused))))
            detail = "message accepted by %s for %s" % (where, ", ".join(recipients))
            sent = True
    except NotifyError as exc:
        raise NotifyError("email", scrub(str(exc).split(": ", 1)[1], secrets)) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(
            "email",
            scrub(
                "%s rejected the login for user %s: %s %s (wrong user or password; Gmail "
                "needs an app password)" % (where, user, exc.smtp_code, _text(exc.smtp_error)),
                secrets,
            ),
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise NotifyError("email", scrub("%s does not support %s: %s" % (where, stage, exc), secrets)) from None
    except smtplib.SMTPResponseException as exc:
        raise NotifyError("email", scrub("%s answered %s %s during %s" % (where, exc.smtp_code, _text(exc.smtp_error), stage), secrets)) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise NotifyError("email", scrub("%s refused recipient(s): %s" % (where, ", ".join(sorted(exc.recipients))), secrets)) from None
    except ssl.SSLError as exc:
        raise NotifyError("email", scrub("TLS with %s failed during %s: %s" % (where, stage, _reason(exc)), secrets)) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise NotifyError("email", scrub("cannot talk to %s (%s): %s" % (where, stage, _reason(exc)), secrets)) from None
    finally:
        if server is not None:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()
    return {"channel": "email", "sent": sent, "endpoint": where, "detail": detail}


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def channel_argument_spec() -> Dict[str, Any]:
    """The telegram and email options of every module that delivers messages (notify_test, drift_notify)."""
    return dict(
        telegram=dict(
            type="dict",
            default={},
            options=dict(
                enabled=dict(type="bool", default=False),
                token=dict(type="str", no_log=True),
                chat_id=dict(type="str"),
                api_url=dict(type="str", default="https://api.telegram.org"),
            ),
        ),
        email=dict(
            type="dict",
            default={},
            options=dict(
                enabled=dict(type="bool", default=False),
                smtp_host=dict(type="str"),
                smtp_port=dict(type="int", default=587),
                security=dict(type="str", default="starttls", choices=["starttls", "ssl", "none"]),
                user=dict(type="str"),
                password=dict(type="str", no_log=True),
                to=dict(type="list", elements="str", default=[]),
                **{"from": dict(type="str")},
            ),
        ),
    )
