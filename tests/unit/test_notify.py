# -*- coding: utf-8 -*-
"""kubesec.cluster.notify_test and _notify against real local servers on 127.0.0.1 only.

SMTP: aiosmtpd with AUTH (STARTTLS required before AUTH, or implicit TLS), self-signed certificate made with
``cryptography``. Telegram: a local HTTP server speaking the Bot API format. No traffic leaves 127.0.0.1.
"""

import http.server
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import threading

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _notify
from ansible_collections.kubesec.cluster.plugins.modules import notify_test

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("local_channels", ROOT / "tests/fixtures/features/local_channels.py")
lc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lc)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

SMTP_USER = "alerts@example.org"
SMTP_PASSWORD = "Gm4il-app-pass-7f3k"
TOKEN = "987654321:AAH-test-token_Zq9xY"
CHAT = "-1001234567890"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return lc.make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_starttls(cert):
    with lc.SmtpServer(cert[0], cert[1], SMTP_USER, SMTP_PASSWORD, mode="starttls") as server:
        yield server


@pytest.fixture
def smtp_ssl(cert):
    with lc.SmtpServer(cert[0], cert[1], SMTP_USER, SMTP_PASSWORD, mode="ssl") as server:
        yield server


@pytest.fixture
def bot():
    with lc.BotApi(TOKEN, chats=[CHAT]) as api:
        yield api


def _smtp(port, cert, password=SMTP_PASSWORD, security="starttls", **kw):
    return _notify.smtp(
        "127.0.0.1", port, security, SMTP_USER, password, SMTP_USER, ["oncall@example.org"], "kubesec test", "test body", timeout=5, ca_path=cert[0], **kw
    )


# --- SMTP -----------------------------------------------------------------------------------------------------------


def test_starttls_login_and_delivery(smtp_starttls, cert):
    result = _smtp(smtp_starttls.port, cert)
    assert result["sent"] is True
    assert len(smtp_starttls.messages) == 1
    msg = smtp_starttls.messages[0]
    assert msg["from"] == SMTP_USER and msg["to"] == ["oncall@example.org"]
    assert msg["tls"] is True and msg["authenticated"] is True
    assert "Subject: kubesec test" in msg["data"] and "test body" in msg["data"]


def test_implicit_tls_login_and_delivery(smtp_ssl, cert):
    result = _smtp(smtp_ssl.port, cert, security="ssl")
    assert result["sent"] is True
    assert [m["to"] for m in smtp_ssl.messages] == [["oncall@example.org"]]


def test_check_mode_logs_in_without_sending(smtp_starttls, cert):
    result = _smtp(smtp_starttls.port, cert, check_only=True)
    assert result["sent"] is False and "logged in" in result["detail"]
    assert smtp_starttls.messages == []


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_wrong_password_is_named_and_not_echoed(cert, security):
    with lc.SmtpServer(cert[0], cert[1], SMTP_USER, SMTP_PASSWORD, mode=security) as server:
        with pytest.raises(_notify.NotifyError) as err:
            _smtp(server.port, cert, password="Wrong-" + SMTP_PASSWORD, security=security)
        assert server.messages == []
    text = str(err.value)
    assert text.startswith("email: ") and "rejected the login for user %s" % SMTP_USER in text and "535" in text
    assert SMTP_PASSWORD not in text


def test_closed_port_is_a_clear_error(cert):
    port = lc.closed_port()
    with pytest.raises(_notify.NotifyError) as err:
        _smtp(port, cert)
    assert "127.0.0.1:%d" % port in str(err.value) and "connection refused" in str(err.value)


def test_untrusted_certificate_is_refused(smtp_starttls, cert):
    with pytest.raises(_notify.NotifyError) as err:
        _notify.smtp(
            "127.0.0.1", smtp_starttls.port, "starttls", SMTP_USER, SMTP_PASSWORD, SMTP_USER, ["a@example.org"], "s", "t", timeout=5
        )  # system trust store: the self-signed certificate is not in it
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) and smtp_starttls.messages == []


def test_starttls_to_an_implicit_tls_port_times_out_clearly(smtp_ssl, cert):
    with pytest.raises(_notify.NotifyError) as err:
        _notify.smtp("127.0.0.1", smtp_ssl.port, "starttls", SMTP_USER, SMTP_PASSWORD, SMTP_USER, ["a@example.org"], "s", "t", timeout=2, ca_path=cert[0])
    assert "127.0.0.1:%d" % smtp_ssl.port in str(err.value)


def test_password_without_tls_is_refused_before_connecting():
    with pytest.raises(_notify.NotifyError, match="without TLS"):
        _notify.smtp("127.0.0.1", lc.closed_port(), "none", SMTP_USER, SMTP_PASSWORD, SMTP_USER, ["a@example.org"], "s", "t")


# --- Telegram -------------------------------------------------------------------------------------------------------


def test_telegram_delivery(bot):
    result = _notify.telegram(bot.url, TOKEN, CHAT, "hello from kubesec", use_proxy=False, timeout=5)
    assert result["sent"] is True and result["message_id"] == 1
    assert bot.messages == [{"chat_id": CHAT, "text": "hello from kubesec"}]
    assert TOKEN not in json.dumps(result)


def test_telegram_check_mode_calls_getme_only(bot):
    result = _notify.telegram(bot.url, TOKEN, CHAT, "x", use_proxy=False, check_only=True, timeout=5)
    assert result["sent"] is False and "kubesec_test_bot" in result["detail"]
    assert bot.messages == [] and [r["method"] for r in bot.requests] == ["GET"]


@pytest.mark.parametrize(
    ("token", "chat", "expected"),
    [
        ("123:wrong-token", CHAT, "HTTP 401, error_code 401: Unauthorized (the bot token is wrong or revoked)"),
        (TOKEN, "-42", "HTTP 400, error_code 400: Bad Request: chat not found"),
    ],
)
def test_telegram_errors(bot, token, chat, expected):
    with pytest.raises(_notify.NotifyError) as err:
        _notify.telegram(bot.url, token, chat, "x", use_proxy=False, timeout=5)
    assert expected in str(err.value) and str(err.value).startswith("telegram: ")
    assert token not in str(err.value) and bot.messages == []


def test_telegram_unreachable():
    port = lc.closed_port()
    with pytest.raises(_notify.NotifyError) as err:
        _notify.telegram("http://127.0.0.1:%d" % port, TOKEN, CHAT, "x", use_proxy=False, timeout=3)
    assert "cannot reach http://127.0.0.1:%d/bot<token>/sendMessage: connection refused" % port in str(err.value)
    assert TOKEN not in str(err.value)


def test_telegram_non_json_answer(cert):
    # An SMTP server is not a Bot API: the error says so instead of crashing.
    with lc.SmtpServer(cert[0], cert[1], SMTP_USER, SMTP_PASSWORD) as server, pytest.raises(_notify.NotifyError):
        _notify.telegram("http://127.0.0.1:%d" % server.port, TOKEN, CHAT, "x", use_proxy=False, timeout=3)


def test_scrub_replaces_every_secret():
    assert _notify.scrub("a %s b %s" % (TOKEN, TOKEN), [TOKEN, None, ""]) == "a ******** b ********"


# --- module: both channels at once, failures collected ---------------------------------------------------------------


def _params(bot_url, smtp_port, cert, token=TOKEN, password=SMTP_PASSWORD):
    return {
        "telegram": {"enabled": True, "token": token, "chat_id": CHAT, "api_url": bot_url},
        "email": {
            "enabled": True,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "security": "starttls",
            "user": SMTP_USER,
            "password": password,
            "from": None,
            "to": ["oncall@example.org"],
        },
        "cluster": "prod",
        "text": "",
        "timeout": 5,
        "validate_certs": True,
        "ca_path": cert[0],
        "use_proxy": False,
    }


def test_module_run_reports_every_channel(bot, smtp_starttls, cert):
    results, errors = notify_test.run(_params(bot.url, smtp_starttls.port, cert), check_mode=False)
    assert errors == [] and [r["channel"] for r in results] == ["telegram", "email"]
    assert "cluster prod" in bot.messages[0]["text"] and len(smtp_starttls.messages) == 1


def test_module_run_collects_all_failures(bot, smtp_starttls, cert):
    results, errors = notify_test.run(_params(bot.url, smtp_starttls.port, cert, token="1:bad", password="bad"), check_mode=False)
    assert [r["ok"] for r in results] == [False, False] and len(errors) == 2
    assert "401" in errors[0] and "535" in errors[1]


def _ansible_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_LOG_PATH=str(tmp_path / "ansible.log"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_HOME=str(tmp_path / "home"),
        no_proxy="127.0.0.1",
        NO_PROXY="127.0.0.1",
    )
    return env


@pytest.mark.parametrize("wrong", [False, True])
def test_module_through_ansible_never_shows_secrets(tmp_path, bot, smtp_starttls, cert, wrong):
    """Real ansible-playbook -vvv run of the module; the secrets appear in no output and no log."""
    token = "1:wrong-token-value" if wrong else TOKEN
    password = "wrong-password-value" if wrong else SMTP_PASSWORD
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Test the channels",
                    "kubesec.cluster.notify_test": {
                        "cluster": "prod",
                        "ca_path": cert[0],
                        "use_proxy": False,
                        "telegram": {"enabled": True, "token": token, "chat_id": CHAT, "api_url": bot.url},
                        "email": {
                            "enabled": True,
                            "smtp_host": "127.0.0.1",
                            "smtp_port": smtp_starttls.port,
                            "user": SMTP_USER,
                            "password": password,
                            "to": ["oncall@example.org"],
                        },
                    },
                }
            ],
        }
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps(play))
    proc = subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "ansible-playbook"),
            "-vvv",
            "-c",
            "local",
            "-i",
            "localhost,",
            "-e",
            "ansible_python_interpreter=" + sys.executable,
            str(playbook),
        ],
        capture_output=True,
        text=True,
        env=_ansible_env(tmp_path),
        timeout=120,
        check=False,
    )
    output = proc.stdout + proc.stderr + (tmp_path / "ansible.log").read_text()
    assert (proc.returncode != 0) == wrong, output[-3000:]
    if wrong:
        assert "401" in output and "rejected the login for user %s" % SMTP_USER in output
    else:
        assert len(bot.messages) == 1 and len(smtp_starttls.messages) == 1
    for secret in (token, password):
        assert secret not in output


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with `answer` (status, headers, body) and records the path."""

    answer = (200, {}, b"{}")
    seen = None

    def _reply(self):
        type(self).seen.append((self.command, self.path))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # unread input would reset the connection
        status, headers, body = self.answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, *args):
        pass


def _serve(answer):
    handler = type("Handler", (_Recorder,), {"answer": answer, "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler.seen


def test_telegram_does_not_follow_redirects():
    """The Bot API never redirects: following one would post the message (and the token's path) elsewhere."""
    elsewhere, elsewhere_seen = _serve((200, {}, b'{"ok": true, "result": {"message_id": 1}}'))
    redirect = (302, {"Location": "http://127.0.0.1:%d/bot%s/sendMessage" % (elsewhere.server_port, TOKEN)}, b"")
    api, api_seen = _serve(redirect)
    try:
        with pytest.raises(_notify.NotifyError) as err:
            _notify.telegram("http://127.0.0.1:%d" % api.server_port, TOKEN, CHAT, "x", use_proxy=False, timeout=5)
    finally:
        api.shutdown()
        elsewhere.shutdown()
    assert api_seen == [("POST", "/bot%s/sendMessage" % TOKEN)] and elsewhere_seen == []
    assert "HTTP 302" in str(err.value) and TOKEN not in str(err.value)


def test_telegram_reads_a_bounded_answer():
    """A wrong endpoint may answer with anything: at most MAX_ANSWER_BYTES are read, and the error says why."""
    api, _seen = _serve((200, {}, b"{" + b" " * (_notify.MAX_ANSWER_BYTES + 10) + b"}"))
    try:
        with pytest.raises(_notify.NotifyError, match="answered HTTP 200 with a body that is not Bot API JSON"):
            _notify.telegram("http://127.0.0.1:%d" % api.server_port, TOKEN, CHAT, "x", use_proxy=False, timeout=5)
    finally:
        api.shutdown()
