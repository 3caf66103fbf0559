"""Issue 24 (AWX): the report_upload role PUTs each cluster's report to an HTTP artifact server.

Tested against a real HTTP server on 127.0.0.1 (http.server) that stores PUT bodies like a Nexus raw repository:
basic auth or a bearer token, 201 on success, 401 on bad credentials.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from tests.conftest import ROOT, run_playbook

pytestmark = pytest.mark.slow

PASSWORD = "s3cret-Upload-pw"  # test credential: must never appear in the output
TOKEN = "tok-ABCDEF-0123456789"


class ArtifactServer:
    """Stores PUT bodies by path; accepts Basic kubesec-upload:PASSWORD or Bearer TOKEN."""

    def __init__(self):
        self.stored: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):  # http.server API name
                server.requests.append(("PUT", self.path))
                auth = self.headers.get("Authorization", "")
                good = {"Basic " + base64.b64encode(f"kubesec-upload:{PASSWORD}".encode()).decode(), f"Bearer {TOKEN}"}
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if auth not in good:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="artifacts"')
                    self.end_headers()
                    return
                server.stored[self.path] = (body, self.headers.get("Content-Type", ""))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/repository/kubesec"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = ArtifactServer()
    yield srv
    srv.close()


@pytest.fixture
def reports(tmp_path):
    """Two runs of cluster c1 and one of c2, as the report role writes them (content does not matter here)."""
    base = tmp_path / "reports"
    for cluster, run in (("c1", "20261201T010000Z"), ("c1", "20261202T010000Z"), ("c2", "20261202T020000Z")):
        run_dir = base / cluster / run
        run_dir.mkdir(parents=True)
        (run_dir / "report.html").write_text(f"<html>{cluster} {run}</html>")
        (run_dir / "report.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)))
        (run_dir / "report.json").write_text(json.dumps({"cluster": cluster, "run_id": run}))
        (run_dir / "findings").mkdir()
        (run_dir / "findings" / "cis.json").write_text("[]")  # not uploaded: the report holds it
    (base / "c1" / "cluster_facts.json").write_text("{}")
    (base / "index.html").write_text('<a href="c1/20261202T010000Z/report.html">c1</a>')
    (base / "index.json").write_text("{}")
    return base


def inventory(tmp_path, **cluster_vars):
    data = {
        "all": {
            "children": {
                "c1": {"vars": {"kubesec_cluster": "c1", **cluster_vars}, "children": {"c1_workers": {"hosts": {"c1-w1": {}, "c1-w2": {}}}}},
                "c2": {"vars": {"kubesec_cluster": "c2", **cluster_vars}, "children": {"c2_workers": {"hosts": {"c2-w1": {}}}}},
                "workers": {"children": {"c1_workers": {}, "c2_workers": {}}},
                "control_plane": {"hosts": {}},
            },
            "vars": {"ansible_connection": "local"},
        }
    }
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_publish_uploads_the_newest_run_of_each_cluster_with_basic_auth(server, reports, tmp_path):
    inv = inventory(
        tmp_path, kubesec_report_upload_url=server.url + "/", kubesec_report_upload_username="kubesec-upload", kubesec_report_upload_password=PASSWORD
    )
    proc = run_playbook(ROOT / "playbooks/publish.yml", "-i", inv, "-e", f"kubesec_reports_dir={reports}")
    prefix = "/repository/kubesec"
    expected = {
        f"{prefix}/{c}/{r}/{f}" for c, r in (("c1", "20261202T010000Z"), ("c2", "20261202T020000Z")) for f in ("report.html", "report.pdf", "report.json")
    } | {f"{prefix}/index.html", f"{prefix}/index.json"}
    assert set(server.stored) == expected  # newest run only, each file once, no findings/, the reports layout
    body, ctype = server.stored[f"{prefix}/c1/20261202T010000Z/report.pdf"]
    assert body == (reports / "c1/20261202T010000Z/report.pdf").read_bytes() and ctype == "application/pdf"
    assert server.stored[f"{prefix}/c2/20261202T020000Z/report.html"][1].startswith("text/html")
    assert server.stored[f"{prefix}/index.html"][0] == (reports / "index.html").read_bytes()
    assert f"c1: 3 file(s) uploaded; {server.url}/c1/20261202T010000Z/report.html" in " ".join(proc.stdout.split())
    assert PASSWORD not in proc.stdout


def test_publish_with_a_token_and_a_named_run(server, reports, tmp_path):
    inv = inventory(tmp_path, kubesec_report_upload_url=server.url, kubesec_report_upload_token=TOKEN)
    proc = run_playbook(
        ROOT / "playbooks/publish.yml", "-i", inv, "-l", "c1", "-e", f"kubesec_reports_dir={reports}", "-e", "kubesec_run_id=20261201T010000Z", "-v"
    )
    assert "/repository/kubesec/c1/20261201T010000Z/report.html" in server.stored
    assert server.stored["/repository/kubesec/c1/20261201T010000Z/report.json"][0] == (reports / "c1/20261201T010000Z/report.json").read_bytes()
    assert TOKEN not in proc.stdout


def test_wrong_credentials_fail_with_the_status_and_the_variables_to_check(server, reports, tmp_path):
    inv = inventory(
        tmp_path, kubesec_report_upload_url=server.url, kubesec_report_upload_username="kubesec-upload", kubesec_report_upload_password="wrong-" + PASSWORD
    )
    proc = run_playbook(ROOT / "playbooks/publish.yml", "-i", inv, "-e", f"kubesec_reports_dir={reports}", check=False)
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 2
    assert "c1: upload to " + server.url + " failed for report.html: HTTP 401" in out
    assert "kubesec_report_upload_username / kubesec_report_upload_password or kubesec_report_upload_token" in out
    assert PASSWORD not in proc.stdout
    assert not server.stored


def test_no_url_or_no_report_is_named(server, reports, tmp_path):
    proc = run_playbook(ROOT / "playbooks/publish.yml", "-i", inventory(tmp_path), "-e", f"kubesec_reports_dir={reports}", check=False)
    assert proc.returncode == 2 and "set kubesec_report_upload_url to the artifact server's base URL" in proc.stdout
    inv = inventory(tmp_path, kubesec_report_upload_url=server.url, kubesec_report_upload_token=TOKEN)
    proc = run_playbook(ROOT / "playbooks/publish.yml", "-i", inv, "-e", f"kubesec_reports_dir={tmp_path / 'empty'}", check=False)
    assert proc.returncode == 2
    assert "no report to upload in" in proc.stdout and "-e kubesec_run_id=<id>" in proc.stdout
    assert not server.stored
