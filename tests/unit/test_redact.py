"""The one redaction helper (plugins/module_utils/_redact.py): one table of the forms secrets take in command lines,
flags, URLs and headers that reach kubesec from a cluster (Falco command lines, kube-bench actual_value, Trivy
messages, audit-log request URIs), what must stay untouched, and linear time on hostile input."""

from __future__ import annotations

import json
import time

import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils._redact import (
    REDACTED,
    clip_text,
    redact_clipped,
    redact_count,
    redact_text,
)

S = "s3cr3tV4lue"  # the secret in every row

# (text with the secret, the text as it must come out)
FORMS = [
    # mysql family: the password glued to -p
    (f"mysql -uroot -p{S} shop", "mysql -uroot -p<redacted> shop"),
    (f"/usr/bin/mysqldump -h db -p{S} --all-databases", "/usr/bin/mysqldump -h db -p<redacted> --all-databases"),
    (f"mariadb -p'{S}' -e 'select 1'", "mariadb -p'<redacted>' -e 'select 1'"),
    (f"mysql --password={S} shop", "mysql --password=<redacted> shop"),
    # curl user:password
    (f"curl -u admin:{S} https://api.example", "curl -u admin:<redacted> https://api.example"),
    (f"curl --user admin:{S} https://api.example", "curl --user admin:<redacted> https://api.example"),
    (f"curl -uadmin:{S} https://api.example", "curl -uadmin:<redacted> https://api.example"),
    (f"curl --proxy-user=admin:{S} https://x", "curl --proxy-user=admin:<redacted> https://x"),
    # sshpass
    (f"sshpass -p {S} ssh root@10.0.0.5", "sshpass -p <redacted> ssh root@10.0.0.5"),
    (f"sshpass -p{S} scp a b:", "sshpass -p<redacted> scp a b:"),
    # secret-named flags, with a blank or '='
    (f"app --password {S} --verbose", "app --password <redacted> --verbose"),
    (f"kube-apiserver --token={S}", "kube-apiserver --token=<redacted>"),
    (f"app --client-secret {S}", "app --client-secret <redacted>"),
    (f'app --api-key="{S}"', 'app --api-key="<redacted>"'),
    # key=value, key: value, JSON pairs
    (f"password={S}", "password=<redacted>"),
    (f"export DB_PASSWORD={S}; run", "export DB_PASSWORD=<redacted>; run"),
    (f"DB_PASSWORD: {S}", "DB_PASSWORD: <redacted>"),
    (f'{{"password":"{S}","user":"bob"}}', '{"password":"<redacted>","user":"bob"}'),
    (f"config: password={S} in /etc/app.ini", "config: password=<redacted> in /etc/app.ini"),
    # token=X in URLs and query strings
    (f"/api/v1/namespaces/x/pods?watch=1&token={S}&limit=5", "/api/v1/namespaces/x/pods?watch=1&token=<redacted>&limit=5"),
    (f"GET https://api.example/v1?token={S}", "GET https://api.example/v1?token=<redacted>"),
    (f"/hook?access_token={S}", "/hook?access_token=<redacted>"),
    # Authorization headers
    (f"curl -H 'Authorization: Bearer {S}' https://api", "curl -H 'Authorization: Bearer <redacted>' https://api"),
    (f"Authorization: Basic {S}", "Authorization: Basic <redacted>"),
    (f"kubectl --v=9 ... Bearer {S}", "kubectl --v=9 ... Bearer <redacted>"),
    # basic-auth URLs
    (f"git clone https://deploy:{S}@git.example/repo.git", "git clone https://deploy:<redacted>@git.example/repo.git"),
    (f"redis://default:{S}@redis:6379/0", "redis://default:<redacted>@redis:6379/0"),
]

# Text that must come out unchanged: no secret in it.
KEPT = [
    "cat /etc/shadow",
    "ls /var/run/secrets/kubernetes.io/serviceaccount/token",
    "curl http://203.0.113.45:4444/x.sh",
    "tokenizer --mode fast",
    "ssh -p 2222 root@host",  # -p is the port outside sshpass/mysql
    "docker run -p 8080:80 nginx",
    "mysql -p shop",  # -p alone: mysql prompts; 'shop' is the database
    "curl -u admin https://api",  # no ':' : curl prompts for the password
    "kube-apiserver --token-auth-file=/etc/kubernetes/tokens.csv --enable-bootstrap-token-auth=true",
    "--use-service-account-credentials=true",
    "--authorization-mode=Node,RBAC --anonymous-auth=false",
    "/api/v1/namespaces/payments/secrets/db-password",
    "https://kubernetes.default.svc:443/api",
    "Basic authentication is disabled",
]


@pytest.mark.parametrize("text,expected", FORMS)
def test_every_form_is_redacted(text, expected):
    out = redact_text(text)
    assert S not in out
    assert out == expected
    again, count = redact_count(out)
    assert again == out and count == 0  # idempotent: a redacted value is not counted twice


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_is_kept(text):
    assert redact_count(text) == (text, 0)


def test_token_shapes_anywhere():
    jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJlX2J5dGVz"
    text = f"sa {jwt} aws AKIAIOSFODNN7EXAMPLE gh ghp_{'a' * 36} slack xoxb-1234567890-abcdef"
    out, count = redact_count(text)
    assert jwt not in out and "AKIAIOSFODNN7EXAMPLE" not in out and "ghp_" not in out and "xoxb-" not in out
    assert count == 4
    pem = "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY----- done"
    assert redact_text(pem) == "key: <redacted> done"
    assert redact_text("-----BEGIN PRIVATE KEY-----\nMIIE cut off") == "<redacted>"


def test_json_stays_json():
    line = json.dumps(
        {
            "requestURI": f"/api/v1/pods?token={S}&x=1",
            "password": S,
            "user": {"username": "a"},
            "annotations": {"authentication.kubernetes.io/credential-id": ["JTI=1"]},
        }
    )
    out = redact_text(line)
    assert S not in out
    assert json.loads(out)["password"] == REDACTED


def test_non_text_is_returned_as_is():
    assert redact_count(None) == (None, 0)
    assert redact_text("") == ""


def test_clip_then_redact_marks_the_cut():
    text = "--password " + S + " " + "x" * 100
    out, count, clipped = redact_clipped(text, 30)
    assert clipped and count == 1 and S not in out and out.endswith("... [%d more characters]" % (len(text) - 30))
    assert clip_text("abc", 5) == ("abc", False)
    assert clip_text("abcdef", 3) == ("abc... [3 more characters]", True)


HOSTILE = {
    "long flag name": "--" + "a" * 50000 + " ",
    "password words": "password" * 12500,
    "dashes": "-" * 100000,
    "flag chain": "--token " * 12500,
    "pairs no value": "token=" * 16000,
    "url no at": "https://u:" + "p" * 100000,
    "scheme chain": "a://b:" * 16000,
    "bearer": "Bearer " * 14000,
    "pem no end": "-----BEGIN PRIVATE KEY-----" * 3500,
    "program words": "mysql " * 16000 + "curl -u " * 5000,
    "quotes": '--password "' * 8000,
    "jwt-ish": "eyJ" + "a" * 100000,
    "spaces": " " * 100000 + "password",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_linear_time_on_hostile_text(name):
    """~100 KB of the worst shape for each pattern: a quadratic pattern takes seconds here; linear takes ms.
    Also 10x the input must not take much more than 10x the time (with room for a shared machine)."""
    small = HOSTILE[name]
    big = small * 10
    started = time.perf_counter()
    redact_text(small)
    t_small = time.perf_counter() - started
    started = time.perf_counter()
    redact_text(big)
    t_big = time.perf_counter() - started
    assert t_small < 0.5, "%s: %.2f s for %d characters" % (name, t_small, len(small))
    assert t_big < 5.0 and t_big < 40 * max(t_small, 0.005), "%s: %.3f s -> %.3f s" % (name, t_small, t_big)
