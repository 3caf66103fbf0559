"""scripts/demo_audit_log.py: the demo control plane's audit log, read back with audit_log_query as the demo does."""

from __future__ import annotations

import gzip
import importlib.util
import json

from ansible_collections.kubesec.cluster.plugins.module_utils import _auditlog as A
from tests.conftest import ROOT

NOW = "2026-03-01T12:00:00Z"


def _script():
    spec = importlib.util.spec_from_file_location("demo_audit_log", ROOT / "scripts" / "demo_audit_log.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_log_is_rotated_real_format_and_shows_every_incident(tmp_path):
    assert _script().main([str(tmp_path), "--now", NOW]) == 0
    audit_dir = tmp_path / "var" / "log" / "kubernetes" / "audit"
    names = sorted(p.name for p in audit_dir.iterdir())
    assert len(names) == 2 and names[1] == "audit.log"
    assert A.backup_pattern("audit.log").match(names[0]) and names[0].endswith(".log.gz")
    first = json.loads(gzip.decompress((audit_dir / names[0]).read_bytes()).splitlines()[0])
    assert first["kind"] == "Event" and first["apiVersion"] == "audit.k8s.io/v1"
    assert list(first)[:7] == ["kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb"]

    res = A.run_query(path="/var/log/kubernetes/audit/audit.log", root=str(tmp_path), now=NOW, findings=True, write_output=False)
    assert res["stats"]["invalid_events"] == 0 and res["stats"]["non_json_lines"] == 0 and not res["warnings"]
    s = res["summary"]
    assert {"user": "mallory@example.com", "count": 3} in s["secret_reads"]["top_non_system_users"]
    assert {"user": "dave@example.com", "count": 2} in s["secret_access_denied"]["top_users"]
    assert s["exec"]["count"] == 1 and s["exec"]["open"] == 1
    assert s["exec"]["open_sessions"][0]["pod"] == "payments-db-0"
    assert s["rbac_changes"]["changes"][0]["name"] == "mallory-admin"
    assert {"source_ip": "203.0.113.77", "count": 4} in s["anonymous"]["top_source_ips"]
    ids = {f["id"] for f in res["findings"]}
    assert {"KS-AUDIT-003", "KS-AUDIT-004", "KS-AUDIT-005", "KS-AUDIT-006", "KS-AUDIT-007"} <= ids
    # a day of traffic over both files; the backup is skipped for the last hour
    day = A.run_query(path="/var/log/kubernetes/audit/audit.log", root=str(tmp_path), now=NOW, since="1d", write_output=False)
    assert day["events_total"] > 10000 and [f["skipped"] for f in day["files"]] == [False, False]
    assert [f["skipped"] for f in res["files"]] == [True, False]
    assert (
        A.run_query(
            path="/var/log/kubernetes/audit/audit.log", root=str(tmp_path), now=NOW, since="6h", filters={"subresource": ["portforward"]}, write_output=False
        )["events_total"]
        == 2
    )


def test_rerun_replaces_the_previous_log(tmp_path):
    script = _script()
    script.main([str(tmp_path), "--now", "2026-03-01T10:00:00Z"])
    script.main([str(tmp_path), "--now", NOW])
    assert len(list((tmp_path / "var" / "log" / "kubernetes" / "audit").iterdir())) == 2
