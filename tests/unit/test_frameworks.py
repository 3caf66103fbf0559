"""Compliance frameworks view (plugin_utils/_frameworks.py) and its data (data/frameworks/)."""

import pathlib
import subprocess
import sys

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _workload_rules
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue, _frameworks

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT.parent / "shared/charts/trivy-operator-0.34.0.tgz"


def finding(fid, source, status, **extra):
    out = {
        "id": fid,
        "source": source,
        "status": status,
        "fingerprint": fid + status,
        "resource": {"kind": "Pod", "name": "web", "namespace": "shop", "container": None},
    }
    out.update(extra)
    return out


def control(checks=(), cis=(), techniques=()):
    return {
        "id": "fw",
        "title": "t",
        "source": "s",
        "controls": [{"id": "c1", "name": "n", "checks": list(checks), "cis": list(cis), "techniques": list(techniques)}],
    }


def status_of(findings, fw, assessed=(), rule_ksv=None):
    view = _frameworks.evaluate(findings, [fw], assessed_sources=assessed, rule_ksv=rule_ksv)[0]
    return view["controls"][0]["status"], view


def test_data_files_load_and_name_their_sources():
    frameworks = _frameworks.load()
    assert {f["id"] for f in frameworks} >= {"nsa-cisa", "pss-baseline", "pss-restricted", "mitre-attack-containers"}
    for framework in frameworks:
        assert framework["source"]
        for item in framework["controls"]:
            if framework["id"] == "mitre-attack-containers":
                assert item["source"].startswith("https://attack.mitre.org/techniques/" + item["id"].replace(".", "/"))


@pytest.mark.skipif(not CHART.is_file(), reason="the pinned chart lives in ../shared/charts")
def test_generated_data_is_current_with_the_pinned_chart():
    result = subprocess.run([sys.executable, str(ROOT / "scripts/frameworks-from-trivy"), "--check", str(CHART)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_pss_controls_are_the_standard_s_and_every_cis_id_exists_in_the_newest_catalogue():
    by_id = {f["id"]: f for f in _frameworks.load()}
    names = {c["name"] for c in by_id["pss-baseline"]["controls"]}
    assert {
        "Host Namespaces",
        "Privileged Containers",
        "Capabilities",
        "HostPath Volumes",
        "AppArmor",
        "SELinux",
        "/proc Mount Type",
        "Seccomp",
        "Sysctls",
        "HostProcess",
    } <= names
    catalogue_ids = {str(c["id"]) for c in _catalogue.load("cis-1.12")["checks"]}
    for framework in by_id.values():
        for item in framework["controls"]:
            for cis_id in item.get("cis", []):
                # section 5 ids are evaluated from cluster objects and may be catalogued separately
                assert cis_id in catalogue_ids or cis_id.startswith("5."), (framework["id"], item["id"], cis_id)


def test_nsa_control_plane_controls_are_decided_by_our_cis_ids():
    nsa = {c["id"]: c for c in next(f for f in _frameworks.load() if f["id"] == "nsa-cisa")["controls"]}
    assert nsa["7.0"]["checks"] == ["KCV-0001"] and nsa["7.0"]["cis"] == ["1.2.1"]
    # Trivy's check for "Check encryption provider" (--kubelet-https) left CIS: kept, decided by Trivy alone
    assert nsa["6.2"]["unmapped"] == ["KCV-0004"] and "cis" not in nsa["6.2"]


def test_fail_review_pass_and_not_assessed():
    fw = control(checks=["KSV-0017"])
    assert status_of([finding("KSV-0017", "trivy-config", "fail")], fw, {"trivy-config"})[0] == "fail"
    # Trivy writes only failures: ran and found nothing is a pass; not run is not assessed
    assert status_of([], fw, {"trivy-config"})[0] == "pass"
    assert status_of([], fw, set())[0] == "not_assessed"
    # a source that cannot answer the check never passes it
    assert status_of([], fw, {"workload"})[0] == "not_assessed"
    cis = control(cis=["1.2.1"])
    assert status_of([finding("CIS-1.2.1", "kube-bench", "warn")], cis, {"kube-bench"})[0] == "review"
    assert status_of([finding("CIS-1.2.1", "cis-control-plane", "pass")], cis, {"cis-control-plane"})[0] == "pass"
    # CIS sources write passes: ran without a result for the id is not a pass
    assert status_of([], cis, {"cis-control-plane"})[0] == "not_assessed"
    assert status_of([finding("CIS-1.2.1", "cis-control-plane", "waived")], cis, {"cis-control-plane"})[0] == "pass"


def test_a_workload_rule_answers_the_ksv_check_it_covers():
    fw = control(checks=["KSV-0017"])
    rule_ksv = _frameworks.rule_ksv_map(_workload_rules.KSV_RULE_MAP)
    assert "KSV-0017" in rule_ksv["KS-WL-015"]
    found = [finding("KS-WL-015", "workload", "fail")]
    state, view = status_of(found, fw, {"workload"}, rule_ksv)
    assert state == "fail" and view["controls"][0]["examples"][0]["id"] == "KS-WL-015"
    # kubesec's rule ran and found nothing: the KSV control passes without the Trivy Operator
    assert status_of([], fw, {"workload"}, rule_ksv)[0] == "pass"
    assert status_of([], control(checks=["KSV-0999"]), {"workload"}, rule_ksv)[0] == "not_assessed"
    assert status_of([], control(checks=["KS-WL-015"]), {"workload"}, rule_ksv)[0] == "pass"


def test_falco_events_tagged_with_a_technique_or_sub_technique_fail_it():
    fw = control(techniques=["T1552"])
    event = finding("falco:Read sensitive file", "falco", "fail", tags=["T1552.001", "container", "mitre_credential_access"])
    assert status_of([event], fw, {"falco"})[0] == "fail"
    assert status_of([], fw, {"falco"})[0] == "pass"
    assert status_of([], fw, set())[0] == "not_assessed"


def test_worst_assessed_answer_decides_and_manual_controls_are_counted_apart():
    fw = control(checks=["KCV-0030"], cis=["1.2.27"])
    # Trivy's infra assessment did not run; kubesec's CIS audit passed the same question
    assert status_of([finding("CIS-1.2.27", "cis-control-plane", "pass")], fw, {"cis-control-plane"})[0] == "pass"
    assert (
        status_of([finding("CIS-1.2.27", "cis-control-plane", "pass"), finding("KCV-0030", "trivy-infra", "fail")], fw, {"cis-control-plane", "trivy-infra"})[0]
        == "fail"
    )
    manual = {"id": "fw", "title": "t", "source": "s", "controls": [{"id": "m", "name": "manual", "checks": []}]}
    view = _frameworks.evaluate([], [manual], assessed_sources=set())[0]
    assert view["counts"]["manual"] == 1 and view["score"] is None


def test_score_counts_only_assessed_controls():
    fw = {
        "id": "fw",
        "title": "t",
        "source": "s",
        "controls": [
            {"id": "a", "name": "a", "checks": ["KSV-0001"]},
            {"id": "b", "name": "b", "checks": ["KSV-0002"]},
            {"id": "c", "name": "c", "checks": ["CIS-9.9.9"]},
        ],
    }
    view = _frameworks.evaluate([finding("KSV-0001", "trivy-config", "fail")], [fw], assessed_sources={"trivy-config"})[0]
    assert view["counts"] == {"pass": 1, "fail": 1, "review": 0, "not_assessed": 1, "manual": 0}
    assert view["score"] == 50.0


def test_cis_framework_has_one_control_per_catalogue_check():
    catalogue = _catalogue.load("cis-1.12")
    fw = _frameworks.cis_framework(catalogue)
    assert len(fw["controls"]) == len(catalogue["checks"]) and fw["controls"][0]["checks"][0].startswith("CIS-")


@pytest.mark.parametrize(
    "text, place",
    [
        ("[1, 2]", "top level"),
        ("id: x\ntitle: t\nsource: s\ncontrols: []\n", "controls"),
        ("id: x\ntitle: t\nsource: s\ncontrols: [{id: a, name: n}, {id: a, name: m}]\n", "controls[1].id"),
        ("id: x\ntitle: t\nsource: s\ncontrols: [{id: a, name: n, checks: [1]}]\n", "controls[0].checks"),
        ("id: x\ntitle: t\nsource: s\ncontrols: [{id: a, name: n\n", "cannot read"),
    ],
)
def test_malformed_data_names_file_and_place(tmp_path, text, place):
    (tmp_path / "bad.yml").write_text(text)
    with pytest.raises(_frameworks.FrameworkDataError) as err:
        _frameworks.load(str(tmp_path))
    assert "bad.yml" in str(err.value) and place in str(err.value)


def test_generator_output_parses_as_the_files_in_the_collection():
    for path in pathlib.Path(_frameworks.DATA_DIR).glob("*.yml"):
        assert isinstance(yaml.safe_load(path.read_text()), dict)


def test_rule_checks_place_each_rule_under_the_controls_it_names():
    frameworks = [_frameworks.cis_framework(_catalogue.load("cis-1.12")), *_frameworks.load()]
    mapped = {
        "KS-WL-015": {"pss": [{"level": "baseline", "control": "privileged-containers"}], "cis": [{"id": "5.2.2"}], "mitre": [{"id": "T1611"}]},
        "KS-WL-030": {"pss": [{"level": "restricted", "control": "seccomp"}], "cis": [], "mitre": []},
        "KS-WL-031": {"pss": [{"level": "baseline", "control": "seccomp"}]},
    }
    out = _frameworks.rule_checks(mapped, frameworks)
    baseline = {c["name"]: c["id"] for c in next(f for f in frameworks if f["id"] == "pss-baseline")["controls"]}
    restricted = [c for c in next(f for f in frameworks if f["id"] == "pss-restricted")["controls"]]
    seccomp_ids = [c["id"] for c in restricted if c["name"] == "Seccomp"]
    assert out["pss-baseline"][baseline["Privileged Containers"]] == ["KS-WL-015"]
    assert out["pss-restricted"][seccomp_ids[0]] == ["KS-WL-031"]  # the baseline part of restricted
    assert out["pss-restricted"][seccomp_ids[1]] == ["KS-WL-030"]  # the restricted-only part
    assert "KS-WL-030" not in str(out["pss-baseline"])
    assert out["cis-1.12"]["5.2.2"] == ["KS-WL-015"] and out["mitre-attack-containers"]["T1611"] == ["KS-WL-015"]
    # evaluate: the rule's failure fails the control even where Trivy's spec names another check
    fw = next(f for f in frameworks if f["id"] == "pss-baseline")
    view = _frameworks.evaluate([finding("KS-WL-015", "workload", "fail")], [fw], assessed_sources={"workload"}, extra_checks=out)[0]
    assert {c["name"]: c["status"] for c in view["controls"]}["Privileged Containers"] == "fail"


def _report_findings():
    from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding

    cis = [
        make_finding(
            "CIS-1.2.1",
            "cis-control-plane",
            "anonymous auth",
            "fail",
            "critical",
            cluster="c",
            node="cp1",
            resource={"kind": "Node", "name": "cp1"},
            extra={"benchmark": "cis-1.12"},
        ),
        make_finding(
            "CIS-4.2.1",
            "cis-node",
            "anonymous auth",
            "pass",
            "critical",
            cluster="c",
            node="w1",
            resource={"kind": "Node", "name": "w1"},
            extra={"benchmark": "cis-1.12"},
        ),
    ]
    workload = [
        make_finding(
            "KS-WL-015",
            "workload",
            "Privileged container",
            "fail",
            "high",
            cluster="c",
            namespace="shop",
            resource={"kind": "Deployment", "name": "web", "namespace": "shop", "container": "app"},
        )
    ]
    return cis + workload


def test_report_carries_the_framework_view_and_renders_it():
    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _render, _report

    model = _report.build("c", "r1", _report_findings())
    views = {f["id"]: f for f in model["frameworks"]["frameworks"]}
    assert next(iter(views)) == "cis-1.12" and {"pss-baseline", "pss-restricted", "nsa-cisa", "mitre-attack-containers"} <= set(views)
    cis = dict((c["id"], c["status"]) for c in views["cis-1.12"]["controls"])
    assert cis["1.2.1"] == "fail" and cis["4.2.1"] == "pass" and cis["5.2.2"] == "fail"  # 5.2.2 from KS-WL-015
    assert views["cis-1.12"]["controls_total"] == 131  # sections 1-4 and section 5
    baseline = dict((c["name"], c["status"]) for c in views["pss-baseline"]["controls"])
    assert baseline["Privileged Containers"] == "fail"
    # the workload rules ran (their area is graded): the PSS controls they answer and nothing failed pass
    assert baseline["Host Namespaces"] == "pass"
    nsa = dict((c["id"], c["status"]) for c in views["nsa-cisa"]["controls"])
    assert nsa["7.0"] == "fail"  # anonymous-auth, decided by kubesec's CIS 1.2.1 through Trivy's KCV-0001
    html = _render.render_html(model)
    assert 'id="frameworks"' in html and "Compliance frameworks" in html and 'id="fw-nsa-cisa"' in html
    printed = _render.render_print_html(model)
    assert "NSA/CISA Kubernetes Hardening Guidance" in printed


def test_frameworks_are_not_assessed_without_findings():
    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _report

    model = _report.build("c", "r1", [])
    for view in model["frameworks"]["frameworks"]:
        assert view["counts"]["pass"] == 0 and view["counts"]["fail"] == 0 and view["score"] is None
