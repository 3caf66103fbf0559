# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Send (or, in check mode, only authenticate) a test message through the alert channels.

Private module_utils (leading underscore): the API may change between minor releases.
Standard library only: urllib for the Telegram Bot API, smtplib for SMTP (STARTTLS, implicit TLS, plain).
Error messages name the channel, the endpoint and what went wrong; they never contain the token or the
password (every message passes through ``scrub`` with the secrets of the call).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import email.utils
import hashlib
import hmac
import http.client
import json
import smtplib
import socket
import ssl
from email.message import EmailMessage
from urllib import error as urlerror
from urllib import request as urlrequest
from urllib.parse import urlsplit

from ansible.module_utils.urls import open_url

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

TELEGRAM_API = "https://api.telegram.org"


class NotifyError(KubesecError):
    """A channel failed; ``str()`` is safe to show (no secrets)."""

    def __init__(self, channel, message):
        super().__init__("%s: %s" % (channel, message))
        self.channel = channel


def scrub(text, secrets):
    text = str(text)
    for secret in secrets:
        if secret:
            text = text.replace(str(secret), "********")
    return text


def _tls_context(validate_certs, ca_path):
    if not validate_certs:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _reason(exc):
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


def telegram(api_url, token, chat_id, text, timeout=10, check_only=False, use_proxy=True, validate_certs=True,
             ca_path=None):
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
    if check_only:
        req = urlrequest.Request(url, method="GET")  # noqa: S310 - api_url is checked to be http(s)
    else:
        body = json.dumps({"chat_id": str(chat_id).strip(), "text": text, "disable_web_page_preview": True})
        req = urlrequest.Request(url, data=body.encode("utf-8"), method="POST",  # noqa: S310 - http(s) only
                                 headers={"Content-Type": "application/json"})
    handlers = [urlrequest.HTTPSHandler(context=_tls_context(validate_certs, ca_path))]
    if not use_proxy:
        handlers.append(urlrequest.ProxyHandler({}))
    opener = urlrequest.build_opener(*handlers)
    try:
        with opener.open(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urlerror.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urlerror.URLError, OSError) as exc:
        raise NotifyError("telegram", scrub("cannot reach %s: %s" % (shown, _reason(exc)), secrets)) from None
    except http.client.HTTPException as exc:
        raise NotifyError("telegram", scrub("%s did not answer HTTP (%s: %s)" % (shown, type(exc).__name__, exc),
                                            secrets)) from None
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise NotifyError("telegram", scrub("%s answered HTTP %d with a body that is not Bot API JSON"
                                            % (shown, status), secrets)) from None
    if status != 200 or not isinstance(payload, dict) or payload.get("ok") is not True:
        description = payload.get("description") if isinstance(payload, dict) else None
        code = payload.get("error_code", status) if isinstance(payload, dict) else status
        hint = ""
        if code == 401:
            hint = " (the bot token is wrong or revoked)"
        elif code in (400, 403) and not check_only:
            hint = " (check chat_id and that the bot was added to the chat)"
        raise NotifyError("telegram", scrub("%s refused the request: HTTP %d, error_code %s: %s%s"
                                            % (shown, status, code, description or "no description", hint),
                                            secrets))
    result = payload.get("result") if isinstance(payload.get("result"), dict) else {}
    if check_only:
        return {"channel": "telegram", "sent": False, "endpoint": shown,
                "detail": "token accepted (bot @%s); no message sent in check mode" % result.get("username", "?")}
    return {"channel": "telegram", "sent": True, "endpoint": shown, "message_id": result.get("message_id"),
            "detail": "message %s delivered to chat %s" % (result.get("message_id"), chat_id)}


def build_email(sender, recipients, subject, text, html_body=None):
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


def signature(secret, body):
    """``sha256=<hex HMAC-SHA256 of the exact request body>`` (the receiver recomputes it with the shared secret)."""
    return "sha256=" + hmac.new(str(secret).encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook_endpoint(url):
    """What may be shown of a webhook URL: scheme, host and port (Slack-style URLs carry a token in the path)."""
    parts = urlsplit(url or "")
    return "%s://%s/..." % (parts.scheme, parts.hostname or "?") if parts.port is None else \
        "%s://%s:%d/..." % (parts.scheme, parts.hostname or "?", parts.port)


def webhook(url, payload, secret=None, headers=None, timeout=10, check_only=False, use_proxy=True,
            validate_certs=True, ca_path=None):
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
        return {"channel": "webhook", "sent": False, "endpoint": shown, "bytes": len(body),
                "detail": "payload of %d bytes built%s; not sent in check mode"
                          % (len(body), " and signed" if secret else "")}
    try:
        resp = open_url(url, data=body, headers=send_headers, method="POST", timeout=timeout, use_proxy=use_proxy,
                        validate_certs=validate_certs, ca_path=ca_path, follow_redirects="none", use_netrc=False)
        status = resp.status
        resp.read(65536)
    except urlerror.HTTPError as exc:
        raise NotifyError("webhook", scrub("%s refused the payload: HTTP %d %s" % (shown, exc.code, exc.reason),
                                           secrets)) from None
    except (urlerror.URLError, OSError) as exc:
        raise NotifyError("webhook", scrub("cannot reach %s: %s" % (shown, _reason(exc)), secrets)) from None
    except http.client.HTTPException as exc:
        raise NotifyError("webhook", scrub("%s did not answer HTTP (%s)" % (shown, type(exc).__name__),
                                           secrets)) from None
    signed = ", signed" if secret else ""
    return {"channel": "webhook", "sent": True, "endpoint": shown, "bytes": len(body),
            "detail": "payload of %d bytes accepted by %s (HTTP %d)%s" % (len(body), shown, status, signed)}


def smtp(host, port, security, user, password, sender, recipients, subject, text, timeout=10, check_only=False,
         validate_certs=True, ca_path=None, html_body=None):
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
    server = None
    stage = "connect"
    try:
        if security == "ssl":
            server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        stage = "EHLO"
        server.ehlo()
        if security == "starttls":
            if not server.has_extn("starttls"):
                raise NotifyError("email", "%s does not offer STARTTLS; refusing to log in without TLS" % where)
            stage = "STARTTLS"
            server.starttls(context=context)
            server.ehlo()
        if user:
            stage = "login"
            server.login(user, password)
        if check_only:
            detail = "logged in to %s as %s; no message sent in check mode" % (where, user or "(no auth)")
            sent = False
        else:
            stage = "send"
            refused = server.send_message(build_email(sender, recipients, subject, text, html_body), from_addr=sender,
                                          to_addrs=recipients)
            if refused:
                raise NotifyError("email", "%s refused recipient(s): %s" % (where, ", ".join(sorted(refused))))
            detail = "message accepted by %s for %s" % (where, ", ".join(recipients))
            sent = True
    except NotifyError as exc:
        raise NotifyError("email", scrub(str(exc).split(": ", 1)[1], secrets)) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError("email", scrub("%s rejected the login for user %s: %s %s (wrong user or password; Gmail "
                                         "needs an app password)" % (where, user, exc.smtp_code, _text(exc.smtp_error)),
                                         secrets)) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise NotifyError("email", scrub("%s does not support %s: %s" % (where, stage, exc), secrets)) from None
    except smtplib.SMTPResponseException as exc:
        raise NotifyError("email", scrub("%s answered %s %s during %s" % (where, exc.smtp_code, _text(exc.smtp_error),
                                                                          stage), secrets)) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise NotifyError("email", scrub("%s refused recipient(s): %s" % (where, ", ".join(sorted(exc.recipients))),
                                         secrets)) from None
    except ssl.SSLError as exc:
        raise NotifyError("email", scrub("TLS with %s failed during %s: %s" % (where, stage, _reason(exc)),
                                         secrets)) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise NotifyError("email", scrub("cannot talk to %s (%s): %s" % (where, stage, _reason(exc)),
                                         secrets)) from None
    finally:
        if server is not None:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()
    return {"channel": "email", "sent": sent, "endpoint": where, "detail": detail}


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def channel_argument_spec():
    """The telegram and email options of every module that delivers messages (notify_test, drift_notify)."""
    return dict(
        telegram=dict(type="dict", default={}, options=dict(
            enabled=dict(type="bool", default=False),
            token=dict(type="str", no_log=True),
            chat_id=dict(type="str"),
            api_url=dict(type="str", default="https://api.telegram.org"),
        )),
        email=dict(type="dict", default={}, options=dict(
            enabled=dict(type="bool", default=False),
            smtp_host=dict(type="str"),
            smtp_port=dict(type="int", default=587),
            security=dict(type="str", default="starttls", choices=["starttls", "ssl", "none"]),
            user=dict(type="str"),
            password=dict(type="str", no_log=True),
            to=dict(type="list", elements="str", default=[]),
            **{"from": dict(type="str")}
        )),
    )
