# -*- coding: utf-8 -*-
"""Posture drift alerts (plugin_utils/_drift.py, action drift_notify, _notify.webhook) on real report.json files.

Reports are written by the report code itself (_report.build + write_outputs), so the input is the real format.
Delivery goes to real local servers on 127.0.0.1 only: aiosmtpd (STARTTLS + AUTH), the Telegram Bot API stand-in
and the webhook receiver of scripts/drift_receiver.py.
"""

from __future__ import annotations

import base64
import datetime
import email
import hashlib
import hmac
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _notify
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _drift, _formats, _report

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lc = _load("local_channels", ROOT / "tests/fixtures/features/local_channels.py")
receiver_mod = _load("drift_receiver", ROOT / "scripts/drift_receiver.py")

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

TODAY = datetime.date(2026, 12, 6)
SMTP_USER = "alerts@example.org"
SMTP_PASSWORD = "Drift-SMTP-pass-Q7w9"
TOKEN = "555000111:AAF-drift-token_Kp3zW"
CHAT = "-1001234567890"
WEBHOOK_SECRET = "whsec-drift-HMAC-4b8c2e"
WEBHOOK_PATH = "/hooks/T0001/B0002/pathtoken-Xy81Lm"
HEADER_SECRET = "Bearer hdr-secret-91QaZ"
EVIDENCE = "EVIDENCE-must-not-leave-the-report-3f9"
SECRETS = (SMTP_PASSWORD, TOKEN, WEBHOOK_SECRET, WEBHOOK_PATH.rsplit("/", 1)[1], HEADER_SECRET)


def f(fid, status="fail", source="cis-node", severity="high", node="n1", namespace=None, **kw):
    resource = kw.pop(
        "resource", {"kind": "Node", "name": node} if node and not namespace else {"kind": "Deployment", "name": kw.pop("name", "app"), "namespace": namespace}
    )
    return make_finding(
        fid,
        source,
        kw.pop("title", "title " + fid),
        status,
        severity=severity,
        cluster="demo",
        node=node,
        namespace=namespace,
        resource=resource,
        evidence={"detail": EVIDENCE},
        **kw,
    )


def demo_findings(worse=False):
    """Two nodes; ``worse``: node n2's kubelet allows anonymous auth again and a new cluster-admin binding."""
    findings = [
        f("4.2.1", "pass", severity="critical", node="n1", title="Ensure that the --anonymous-auth argument is set to false"),
        f("4.2.1", "fail" if worse else "pass", severity="critical", node="n2", title="Ensure that the --anonymous-auth argument is set to false"),
        f("4.2.6", "fail", severity="medium", node="n1", title="Ensure that the --make-iptables-util-chains argument is set to true"),
        f("4.2.6", "fail", severity="medium", node="n2", title="Ensure that the --make-iptables-util-chains argument is set to true"),
        f("KSV041", "fail", source="workload", severity="high", node=None, namespace="shop", name="web", title="Manage secrets"),
        f("1.1.12", "fail", severity="low", node="n1", title="etcd data directory ownership"),
    ]
    if worse:
        findings.append(
            f(
                "RBAC-CLUSTER-ADMIN",
                "fail",
                source="workload",
                severity="critical",
                node=None,
                namespace=None,
                title="New cluster-admin binding",
                resource={"kind": "ClusterRoleBinding", "name": "ops-admin"},
            )
        )
        findings.append(f("KSV011", "fail", source="workload", severity="low", node=None, namespace="shop", name="web", title="CPU not limited"))
    return findings


def write_run(cluster_dir, run_id, findings, **kw):
    """As the report action does it: the previous run's findings streamed from its report.json."""
    previous_id = _report.previous_run(str(cluster_dir), run_id) if cluster_dir.exists() else None
    previous = _formats.iter_report_findings(str(cluster_dir / previous_id / "report.json")) if previous_id else None
    model = _report.build(
        "demo",
        run_id,
        findings,
        today=TODAY,
        generated_at="2026-12-06T00:00:00Z",
        history=_report.read_history(str(cluster_dir), run_id) if cluster_dir.exists() else [],
        previous_findings=previous,
        previous_run_id=previous_id,
        **kw,
    )
    path = cluster_dir / run_id / "report.json"
    _report.write_outputs(model, {"json": str(path)})
    return str(path)


FAILED_SOURCES = {
    "sources": {
        "data": {
            "schema": "kubesec.collect.sources/v1",
            "sources": {"trivy_operator": {"enabled": True, "status": "failed: API server unreachable"}, "falco": {"enabled": False, "status": "disabled"}},
        }
    }
}


# ------------------------------------------------------------------------------------------------ decision
def test_second_run_worse_counts_and_top_items(tmp_path):
    cluster = tmp_path / "demo"
    write_run(cluster, "20261205T020000Z", demo_findings())
    path = write_run(cluster, "20261206T020000Z", demo_findings(worse=True))
    drift = _drift.assess(path, _drift.Settings(min_severity="high"))
    assert drift.alert and drift.reasons == ["2 new or regressed finding(s) at or above high"]
    assert drift.totals == {"new": 2, "regressed": 1, "fixed": 0}
    assert drift.counts["new"] == {"critical": 1, "low": 1} and drift.counts["regressed"] == {"critical": 1}
    assert [(i["id"], i["change"], i["resource"]) for i in drift.top_new] == [
        ("RBAC-CLUSTER-ADMIN", "new", "ClusterRoleBinding/ops-admin"),
        ("4.2.1", "regressed", "node n2"),
    ]
    text = _drift.telegram_text(drift, _drift.Settings())
    assert "New: 2 (1 critical, 1 low)" in text and "Regressed: 1 (1 critical)" in text and "Fixed: 0" in text
    assert str(cluster / "20261206T020000Z" / "report.html") in text
    assert EVIDENCE not in text


def test_unchanged_run_is_quiet_and_threshold_filters(tmp_path):
    cluster = tmp_path / "demo"
    write_run(cluster, "20261205T020000Z", demo_findings(worse=True))
    path = write_run(cluster, "20261206T020000Z", demo_findings(worse=True))
    assert _drift.assess(path, _drift.Settings()).alert is False
    # only a new low finding: quiet at high, an alert at low
    path = write_run(cluster, "20261207T020000Z", [*demo_findings(worse=True), f("X1", severity="low")])
    assert _drift.assess(path, _drift.Settings(min_severity="high")).alert is False
    assert _drift.assess(path, _drift.Settings(min_severity="low")).reasons == ["1 new or regressed finding(s) at or above low"]
    # new_only off: the open criticals are reported every run
    drift = _drift.assess(path, _drift.Settings(min_severity="critical", new_only=False))
    assert drift.reasons == ["2 open problem(s) at or above critical (new_only is off)"]


def test_failed_source_says_not_assessed_once(tmp_path):
    cluster = tmp_path / "demo"
    write_run(cluster, "20261205T020000Z", demo_findings())
    path = write_run(cluster, "20261206T020000Z", demo_findings(), inputs=FAILED_SOURCES)
    drift = _drift.assess(path, _drift.Settings())
    assert drift.reasons == ["not assessed: trivy_operator"]  # falco is switched off, not failed
    assert "Not assessed (source failed): trivy_operator (failed: API server unreachable)" in _drift.telegram_text(drift, _drift.Settings())
    # the same failure the next night is no news unless repeat is on
    path = write_run(cluster, "20261207T020000Z", demo_findings(), inputs=FAILED_SOURCES)
    assert _drift.assess(path, _drift.Settings()).alert is False
    assert _drift.assess(path, _drift.Settings(repeat=True)).reasons == ["not assessed: trivy_operator"]


def test_gate_and_expired_waiver(tmp_path):
    cluster = tmp_path / "demo"
    waivers = [{"id": "W-1", "reason": "vendor fix pending", "expires": "2026-12-01", "scope": {"node": "n1"}}]
    write_run(cluster, "20261205T020000Z", demo_findings())
    path = write_run(cluster, "20261206T020000Z", demo_findings(), waivers=waivers, fail_on={"max_open": 2})
    drift = _drift.assess(path, _drift.Settings())
    assert drift.reasons == ["gate(s) failed: max_open 2", "1 waiver(s) expired"]
    text = _drift.telegram_text(drift, _drift.Settings())
    assert "Gates failed: max_open 2 (4)" in text and "W-1 (expired 2026-12-01)" in text
    assert "vendor fix pending" not in text


def test_first_run_reports_a_baseline_only_above_threshold(tmp_path):
    path = write_run(tmp_path / "demo", "20261205T020000Z", demo_findings())
    assert _drift.assess(path, _drift.Settings(min_severity="critical")).alert is False
    drift = _drift.assess(path, _drift.Settings(min_severity="high"))
    assert drift.reasons == ["first run: no earlier report to compare with"]
    assert "Open problems: 1 high, 2 medium, 1 low" in _drift.telegram_text(drift, _drift.Settings())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{broken", "cannot be read"),
        ('{"schema_version": 2}', "has no 'cluster'"),
        ("[1]", "not a report"),
    ],
)
def test_bad_report_is_named(tmp_path, content, message):
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(_drift.DriftInputError, match=message) as err:
        _drift.assess(str(path), _drift.Settings())
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"min_severity": "severe"}, "min_severity must be one of"),
        ({"top": 500}, "top must be an integer from 0 to 50"),
        ({"report_url_prefix": "ftp://x"}, "http"),
    ],
)
def test_bad_settings_are_named(kw, message):
    with pytest.raises(_drift.DriftInputError, match=message):
        _drift.Settings(**kw)


def test_limits_telegram_email_webhook(tmp_path):
    cluster = tmp_path / "demo"
    write_run(cluster, "20261205T020000Z", demo_findings())
    many = [
        f(
            "CVE-2026-%05d" % i,
            source="trivy-vulnerability",
            severity="critical",
            node=None,
            namespace="ns",
            name="app-%d" % i,
            title="<b>overflow</b> " + "x" * 300,
        )
        for i in range(400)
    ]
    path = write_run(cluster, "20261206T020000Z", [*demo_findings(), *many])
    settings = _drift.Settings(top=50, report_url_prefix="https://reports.example.org/kubesec/")
    drift = _drift.assess(path, settings)
    text = _drift.telegram_text(drift, settings)
    assert len(text) <= 4096 and "more item(s) in the full report" in text
    assert text.endswith("Full report: https://reports.example.org/kubesec/demo/20261206T020000Z/report.html")
    parts = _drift.email_parts(drift, settings)
    assert len(parts["subject"]) <= 200 and "<b>overflow" not in parts["html"] and "&lt;b&gt;overflow" in parts["html"]
    assert parts["html"].count("<tr>") == 51
    payload = _drift.webhook_payload(drift, settings)
    assert len(payload["text"]) <= 4000 and len(payload["top"]) == 50 and payload["totals"]["new"] == 400
    assert payload["schema"] == "kubesec.drift/v1"


def test_telegram_limit_counts_utf16_units_and_cuts_a_long_head():
    drift = _drift.Drift(
        cluster="c",
        run_id="r2",
        previous_run_id="r1",
        reasons=["x"],
        counts={"new": {}, "regressed": {}, "fixed": {}},
        totals={"new": 0, "regressed": 0, "fixed": 0},
        top_new=[{"id": "ID%d" % i, "title": "\U0001f525" * 100, "severity": "high", "resource": "", "change": "new"} for i in range(30)],
        not_assessed=[{"source": "s%d" % i, "status": "failed"} for i in range(20)],
    )
    text = _drift.telegram_text(drift, _drift.Settings())
    assert len(text) <= 4096 and _drift.utf16_units(text) <= 4096 < len(text.encode("utf-16-le"))
    drift.not_assessed = [{"source": "source-%04d" % i, "status": "failed: timed out"} for i in range(400)]
    text = _drift.telegram_text(drift, _drift.Settings())
    assert _drift.utf16_units(text) <= 4096 and text.endswith("…")


# ------------------------------------------------------------------------------------------------ webhook
def test_webhook_signature_verifies_and_wrong_secret_is_refused():
    with receiver_mod.Receiver(secret=WEBHOOK_SECRET) as rx:
        result = _notify.webhook(rx.url + WEBHOOK_PATH, {"a": 1}, secret=WEBHOOK_SECRET, headers={"Authorization": HEADER_SECRET}, use_proxy=False, timeout=5)
        assert result["sent"] and rx.requests[0]["signature_ok"] is True
        assert rx.requests[0]["headers"]["Authorization"] == HEADER_SECRET
        expected = hmac.new(WEBHOOK_SECRET.encode(), rx.raw[0], hashlib.sha256).hexdigest()
        assert rx.requests[0]["headers"]["X-Kubesec-Signature"] == "sha256=" + expected
        with pytest.raises(_notify.NotifyError) as err:
            _notify.webhook(rx.url + WEBHOOK_PATH, {"a": 1}, secret="wrong-" + WEBHOOK_SECRET, use_proxy=False, timeout=5)
    text = str(err.value)
    assert "HTTP 401" in text and "http://127.0.0.1:%d/..." % rx.port in text
    assert "pathtoken" not in text and WEBHOOK_SECRET not in text and len(rx.payloads) == 1


def test_webhook_unreachable_and_bad_url():
    port = lc.closed_port()
    with pytest.raises(_notify.NotifyError, match="connection refused") as err:
        _notify.webhook("http://127.0.0.1:%d%s" % (port, WEBHOOK_PATH), {}, use_proxy=False, timeout=3)
    assert "pathtoken" not in str(err.value)
    with pytest.raises(_notify.NotifyError, match="must start with https:// or http://"):
        _notify.webhook("file:///etc/passwd", {})


# ------------------------------------------------------------------------------------------------ through Ansible
@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return lc.make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def channels(cert):
    with (
        lc.SmtpServer(cert[0], cert[1], SMTP_USER, SMTP_PASSWORD, mode="starttls") as smtp,
        lc.BotApi(TOKEN, chats=[CHAT]) as bot,
        receiver_mod.Receiver(secret=WEBHOOK_SECRET) as hook,
    ):
        yield smtp, bot, hook


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_LOG_PATH=str(tmp_path / "ansible.log"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_HOME=str(tmp_path / "home"),
        ANSIBLE_ROLES_PATH=str(ROOT / "collections/ansible_collections/kubesec/cluster/roles"),
        no_proxy="127.0.0.1",
        NO_PROXY="127.0.0.1",
    )
    return env


def run_role(tmp_path, reports, run_id, channels_, cert, check=False, falco=None, **settings):
    """The drift_alerts role as playbooks/report.yml runs it, after a report written for ``run_id``."""
    smtp, bot, hook = channels_
    alerts = {
        "enabled": True,
        "min_severity": "high",
        "report_url_prefix": "",
        "fail_on_delivery_error": False,
        "telegram": {"enabled": True, "token": TOKEN, "chat_id": CHAT, "api_url": bot.url},
        "email": {
            "enabled": True,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "starttls": True,
            "user": SMTP_USER,
            "password": SMTP_PASSWORD,
            "to": ["oncall@example.org"],
        },
        "webhook": {"enabled": True, "url": hook.url + WEBHOOK_PATH, "secret": WEBHOOK_SECRET, "headers": {"Authorization": HEADER_SECRET}},
    }
    alerts.update(settings)
    inventory = {
        "all": {
            "children": {"control_plane": {"hosts": {"demo-cp-1": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}},
            "vars": {
                "kubesec_cluster": "demo",
                "kubesec_reports_dir": str(reports),
                "kubesec_drift_alerts": alerts,
                "drift_alerts_ca_path": cert[0],
                "drift_alerts_use_proxy": False,
                "kubesec_falco": falco or {},
            },
        }
    }
    (tmp_path / "inv.yml").write_text(json.dumps(inventory))
    play = [
        {
            "hosts": "control_plane",
            "gather_facts": False,
            "vars": {"kubesec_run_id": run_id, "report_result": {"files": {"json": str(reports / "demo" / run_id / "report.json")}}},
            "roles": [{"role": "kubesec.cluster.drift_alerts"}],
        }
    ]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-vvv", "-i", str(tmp_path / "inv.yml"), str(tmp_path / "play.yml")] + (
        ["--check"] if check else []
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path), timeout=180, check=False)
    return proc, proc.stdout + proc.stderr


def _counts(smtp, bot, hook):
    return len(smtp.messages), len(bot.messages), len(hook.payloads)


def _decoded_mail(messages):
    """Every MIME part decoded: a base64 body would hide a secret from a plain grep."""
    texts = []
    for message in messages:
        for part in email.message_from_string(message["data"]).walk():
            payload = part.get_payload(decode=True)
            if payload:
                texts.append(payload.decode("utf-8", "replace"))
    return texts


def _assert_no_secret(texts, evidence_too=True):
    blob = "\n".join(texts)
    for secret in SECRETS:
        for form in (secret, base64.b64encode(secret.encode()).decode(), base64.b64encode(secret.encode()).decode()[:-4]):
            assert form not in blob, "secret %r leaked" % secret
    if evidence_too:  # report.json itself holds the evidence; nothing drift alerts write or send may
        assert EVIDENCE not in blob


def test_role_end_to_end_one_message_per_channel_quiet_when_unchanged(tmp_path, channels, cert):
    smtp, bot, hook = channels
    reports = tmp_path / "reports"
    outputs = []
    write_run(reports / "demo", "20261205T020000Z", demo_findings())
    proc, out = run_role(tmp_path, reports, "20261205T020000Z", channels, cert)
    outputs.append(out)
    assert proc.returncode == 0, out[-3000:]
    # first run with the channels switched on: one 'now on' message per channel (baseline: high open)
    assert _counts(smtp, bot, hook) == (1, 1, 1)
    assert "Drift alerts are now on for cluster demo" in bot.messages[0]["text"]

    write_run(reports / "demo", "20261206T020000Z", demo_findings(worse=True))
    proc, out = run_role(tmp_path, reports, "20261206T020000Z", channels, cert, check=True)
    outputs.append(out)
    assert proc.returncode == 0 and _counts(smtp, bot, hook) == (1, 1, 1)  # check mode: built, not sent
    proc, out = run_role(tmp_path, reports, "20261206T020000Z", channels, cert)
    outputs.append(out)
    assert proc.returncode == 0, out[-3000:]
    assert _counts(smtp, bot, hook) == (2, 2, 2)
    tg = bot.messages[1]["text"]
    assert "cluster demo, run 20261206T020000Z (previous 20261205T020000Z)" in tg
    assert "New: 2 (1 critical, 1 low)" in tg and "Regressed: 1 (1 critical)" in tg
    assert "RBAC-CLUSTER-ADMIN New cluster-admin binding - ClusterRoleBinding/ops-admin" in tg
    assert "now on" not in tg
    mail = email.message_from_string(smtp.messages[1]["data"])
    assert mail.is_multipart() and [p.get_content_type() for p in mail.get_payload()] == ["text/plain", "text/html"]
    assert "posture drift in run 20261206T020000Z" in mail["Subject"] and smtp.messages[1]["tls"]
    plain, rich = (p.get_payload(decode=True).decode() for p in mail.get_payload())
    assert "New: 2 (1 critical, 1 low)" in plain and "<td>RBAC-CLUSTER-ADMIN</td>" in rich
    payload = hook.payloads[1]
    assert payload["totals"] == {"new": 2, "regressed": 1, "fixed": 0} and hook.requests[1]["signature_ok"] is True
    assert [i["id"] for i in payload["top"]] == ["RBAC-CLUSTER-ADMIN", "4.2.1"]
    record = json.loads((reports / "demo" / "20261206T020000Z" / "drift-alerts.json").read_text())
    assert [d["channel"] for d in record["deliveries"] if d["sent"]] == ["telegram", "email", "webhook"]

    write_run(reports / "demo", "20261207T020000Z", demo_findings(worse=True))
    proc, out = run_role(tmp_path, reports, "20261207T020000Z", channels, cert)
    outputs.append(out)
    assert proc.returncode == 0 and _counts(smtp, bot, hook) == (2, 2, 2)  # unchanged: nothing sent
    assert "no drift since run 20261206T020000Z" in out

    write_run(reports / "demo", "20261208T020000Z", demo_findings(worse=True), inputs=FAILED_SOURCES)
    proc, out = run_role(tmp_path, reports, "20261208T020000Z", channels, cert)
    outputs.append(out)
    assert proc.returncode == 0 and _counts(smtp, bot, hook) == (3, 3, 3)
    assert "not assessed: trivy_operator" in bot.messages[2]["text"]
    assert hook.payloads[2]["not_assessed"] == [{"source": "trivy_operator", "status": "failed: API server unreachable"}]

    files = [p for p in reports.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files if p.name != "report.json") == [".drift-alerts-state.json"] + ["drift-alerts.json"] * 3
    _assert_no_secret([p.read_text(errors="replace") for p in files], evidence_too=False)
    _assert_no_secret(
        outputs
        + [(tmp_path / "ansible.log").read_text()]
        + [p.read_text() for p in files if p.name != "report.json"]
        + [m["data"] for m in smtp.messages]
        + [m["text"] for m in bot.messages]
        + [r.decode() for r in hook.raw]
        + _decoded_mail(smtp.messages)
    )


def test_role_delivery_failure_warns_without_failing_unless_asked(tmp_path, channels, cert):
    _smtp, bot, _hook = channels
    reports = tmp_path / "reports"
    write_run(reports / "demo", "20261205T020000Z", demo_findings())
    write_run(reports / "demo", "20261206T020000Z", demo_findings(worse=True))
    wrong = {"enabled": True, "token": "1:wrong-token-value", "chat_id": CHAT, "api_url": bot.url}
    proc, out = run_role(tmp_path, reports, "20261206T020000Z", channels, cert, telegram=wrong, email={"enabled": False}, webhook={"enabled": False})
    assert proc.returncode == 0, out[-3000:]
    assert "drift alert delivery failed: telegram:" in out and "401" in out
    assert "ignored=1" in out  # the play recap counts it
    proc, out2 = run_role(
        tmp_path, reports, "20261206T020000Z", channels, cert, telegram=wrong, email={"enabled": False}, webhook={"enabled": False}, fail_on_delivery_error=True
    )
    assert proc.returncode != 0 and "401" in out2
    assert bot.messages == []
    for text in (out, out2):
        assert "wrong-token-value" not in text


def test_role_channels_from_falco(tmp_path, channels, cert):
    """One inventory block serves Falco and drift alerts: Telegram and e-mail come from kubesec_falco.alerts."""
    smtp, bot, hook = channels
    falco = {
        "enabled": True,
        "alerts": {
            "telegram": {"enabled": True, "token": TOKEN, "chat_id": CHAT, "api_url": bot.url},
            "email": {
                "enabled": True,
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "starttls": True,
                "user": SMTP_USER,
                "password": SMTP_PASSWORD,
                "to": ["oncall@example.org"],
            },
        },
    }
    reports = tmp_path / "reports"
    write_run(reports / "demo", "20261205T020000Z", demo_findings())
    write_run(reports / "demo", "20261206T020000Z", demo_findings(worse=True))
    proc, out = run_role(
        tmp_path, reports, "20261206T020000Z", channels, cert, falco=falco, channels_from_falco=True, telegram={}, email={}, webhook={"enabled": False}
    )
    assert proc.returncode == 0, out[-3000:]
    assert _counts(smtp, bot, hook) == (1, 1, 0)
    assert "Regressed: 1 (1 critical)" in bot.messages[0]["text"]
    _assert_no_secret([out, (tmp_path / "ansible.log").read_text()])
