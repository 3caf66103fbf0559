# -*- coding: utf-8 -*-
"""Values builders for the falco and trivy-operator charts, the Argo CD Application, the Secrets, and the
kubesec.cluster.feature_values module (check mode, diff, atomic writes, removal)."""

import base64
import copy
import json
import pathlib

import jsonschema
import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.kubesec.cluster.plugins.module_utils import _falco_values as falco
from ansible_collections.kubesec.cluster.plugins.module_utils import _gitops as gitops
from ansible_collections.kubesec.cluster.plugins.module_utils import _trivy_operator_values as trivy
from ansible_collections.kubesec.cluster.plugins.modules import feature_values

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/features"
ROLES = ROOT / "collections/ansible_collections/kubesec/cluster/roles"
K8S_VERSION = "1.33"
FALCO_CASES = yaml.safe_load((FIXTURES / "falco_cases.yml").read_text())
TRIVY_CASES = yaml.safe_load((FIXTURES / "trivy_operator_cases.yml").read_text())
SECRETS = {"ui_user": "secops:Ui-pass-0042", "telegram_token": "987654321:AAH-test-token", "email_password": "gmail-app-pass"}


def _k8s_valid(obj):
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


# --- Falco ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", FALCO_CASES, ids=[c["name"] for c in FALCO_CASES])
def test_falco_values_match_expected(case):
    result = falco.build(case["config"], "prod")
    expected = case["expected"]
    assert result["state"] == expected["state"]
    assert result["values"] == expected["values"]
    assert [{k: v for k, v in ref.items() if k != "labels"} for ref in result["secret_refs"]] == expected["secret_refs"]
    assert [o["name"] for o in result["obsolete_secrets"]] == expected["obsolete_secrets"]


@pytest.mark.parametrize("case", FALCO_CASES, ids=[c["name"] for c in FALCO_CASES])
def test_falco_secrets_are_valid_kubernetes_objects(case):
    result = falco.build(case["config"], "prod")
    for ref in result["secret_refs"]:
        assert ref["labels"] == {"app.kubernetes.io/managed-by": "kubesec", "kubesec.io/cluster": "prod", "kubesec.io/feature": "falco"}
        secret = gitops.fill_secret(ref, SECRETS)
        _k8s_valid(secret)
        decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        for key, source in ref["secret_keys"].items():
            assert decoded[key] == SECRETS[source]
        for key, value in ref["data"].items():
            assert decoded[key] == value


@pytest.mark.parametrize("case", FALCO_CASES, ids=[c["name"] for c in FALCO_CASES])
def test_falco_values_never_hold_a_secret_or_the_default_login(case):
    text = json.dumps(falco.build(case["config"], "prod")["values"])
    for secret in [*list(SECRETS.values()), "admin:admin"]:
        assert secret not in text


def test_channel_change_only_touches_the_secret_and_rolls_the_pods():
    by_name = {c["name"]: c for c in FALCO_CASES}
    telegram = falco.build(by_name["engine_ui_telegram"]["config"], "prod")
    email = falco.build(by_name["channel_changed_to_email"]["config"], "prod")
    strip = copy.deepcopy
    a, b = strip(telegram["values"]), strip(email["values"])
    assert a["falcosidekick"].pop("podAnnotations") != b["falcosidekick"].pop("podAnnotations")
    a["falcosidekick"]["webui"].pop("podAnnotations")
    b["falcosidekick"]["webui"].pop("podAnnotations")
    assert a == b
    assert set(telegram["secret_refs"][0]["secret_keys"]) == {"TELEGRAM_TOKEN"}
    assert set(email["secret_refs"][0]["secret_keys"]) == {"SMTP_PASSWORD"}


def test_ui_credentials_never_come_from_chart_values():
    values = falco.build({"enabled": True, "ui": {"enabled": True, "user": "admin"}}, "prod")["values"]
    webui = values["falcosidekick"]["webui"]
    # templates/secrets-ui.yaml writes FALCOSIDEKICK_UI_USER only when webui.user is non-empty.
    assert webui["user"] == "" and webui["existingSecret"] == falco.UI_SECRET


@pytest.mark.parametrize(
    ("release", "sidekick", "ui_url"),
    [
        ("falco", "falco-falcosidekick", "http://falco-falcosidekick-ui:2802"),
        ("runtime", "runtime-falco-falcosidekick", "http://runtime-falco-falcosidekick-ui:2802"),
        ("my-falco", "my-falco-falcosidekick", "http://my-falco-falcosidekick-ui:2802"),
    ],
)
def test_sidekick_name_matches_the_falco_chart_url_helper(release, sidekick, ui_url):
    result = falco.build({"enabled": True, "ui": {"enabled": True}}, "prod", release=release)
    assert result["values"]["falcosidekick"]["fullnameOverride"] == sidekick
    assert result["secret_refs"][0]["data"]["WEBUI_URL"] == ui_url
    assert result["workloads"] == {"sidekick": sidekick, "ui": sidekick + "-ui"}


def test_extra_values_merge_over_computed_values():
    values = falco.build({"enabled": True}, "prod", extra_values={"driver": {"kind": "ebpf"}, "tty": True})["values"]
    assert values["driver"] == {"enabled": True, "kind": "ebpf"} and values["tty"] is True


@pytest.mark.parametrize("path", [("ui", "password"), ("alerts", "telegram", "token"), ("alerts", "email", "password")])
def test_falco_builder_refuses_secret_values(path):
    config = {"enabled": True}
    node = config
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = "s3cret-value"
    with pytest.raises(gitops.FeatureError) as err:
        falco.build(config, "prod")
    assert "kubesec_falco.%s" % ".".join(path) in str(err.value) and "s3cret-value" not in str(err.value)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"enabled": True, "driver": "bpf"}, "kubesec_falco.driver"),
        ({"enabled": True, "engine": True}, "unknown key(s) 'engine'"),
        ({"enabled": "yes"}, "kubesec_falco.enabled: expected a boolean"),
        ({"enabled": True, "ui": {"enabled": True, "user": "a:b"}}, "must not contain ':'"),
        ({"enabled": True, "ui": {"enabled": True, "ttl": "7 days"}}, "kubesec_falco.ui.ttl"),
        ({"enabled": True, "alerts": {"minimum_priority": "loud"}}, "kubesec_falco.alerts.minimum_priority"),
        ({"enabled": True, "alerts": {"telegram": {"enabled": True}}}, "kubesec_falco.alerts.telegram.chat_id: a value"),
        ({"enabled": True, "alerts": {"telegram": {"enabled": True, "chat_id": "my chat"}}}, "not a Telegram chat id"),
        ({"enabled": True, "alerts": {"telegram": {"enabled": True, "chat_id": "1", "api_url": "ftp://x"}}}, "api_url"),
        ({"enabled": True, "alerts": {"email": {"enabled": True, "smtp_host": "smtp.gmail.com", "user": "a@b.org", "to": []}}}, "at least one e-mail address"),
        (
            {"enabled": True, "alerts": {"email": {"enabled": True, "smtp_host": "smtp.gmail.com", "user": "a@b.org", "to": ["not-an-address"]}}},
            "is not an e-mail address",
        ),
        (
            {"enabled": True, "alerts": {"email": {"enabled": True, "smtp_host": "smtp.gmail.com", "smtp_port": 465, "user": "a@b.org", "to": ["c@d.org"]}}},
            "implicit TLS",
        ),
        ({"enabled": True, "alerts": {"email": {"enabled": True, "smtp_host": "smtp gmail", "user": "a@b.org", "to": ["c@d.org"]}}}, "smtp_host"),
        (
            {"enabled": True, "alerts": {"email": {"enabled": True, "smtp_host": "h.org", "smtp_port": 70000, "user": "a@b.org", "to": ["c@d.org"]}}},
            "outside 1-65535",
        ),
        ({"enabled": True, "alerts": {"telegram": "on"}}, "kubesec_falco.alerts.telegram: expected a mapping"),
    ],
)
def test_falco_bad_input_names_the_field(config, message):
    with pytest.raises(gitops.FeatureError, match=None) as err:
        falco.build(config, "prod")
    assert message in str(err.value)


@pytest.mark.parametrize("cluster", ["Prod", "prod_1", "-prod", "", "a" * 64])
def test_cluster_name_must_be_a_dns_label(cluster):
    with pytest.raises(gitops.FeatureError, match="cluster"):
        falco.build({"enabled": True}, cluster)


def test_fill_secret_requires_every_secret_value():
    ref = falco.build({"enabled": True, "alerts": {"telegram": {"enabled": True, "chat_id": "1"}}}, "prod")["secret_refs"][0]
    with pytest.raises(gitops.FeatureError, match="TELEGRAM_TOKEN"):
        gitops.fill_secret(ref, {"telegram_token": ""})


# --- Trivy Operator -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TRIVY_CASES, ids=[c["name"] for c in TRIVY_CASES])
def test_trivy_values_match_expected(case):
    result = trivy.build(case["config"], "prod")
    assert result["state"] == case["expected"]["state"]
    assert result["values"] == case["expected"]["values"]
    assert result["warnings"] == case["expected"]["warnings"]


@pytest.mark.parametrize(("key", "chart_key"), trivy.SCANNERS)
def test_each_scan_type_switches_only_its_chart_key(key, chart_key):
    on = trivy.build({"enabled": True}, "prod")["values"]["operator"]
    off = trivy.build({"enabled": True, "scanners": {key: False}}, "prod")["values"]["operator"]
    changed = {k for k in on if on[k] != off[k]}
    derived = {"vulnerability": {"sbomGenerationEnabled"}}.get(key, set())
    assert changed == {chart_key} | derived and off[chart_key] is False


def test_exclude_namespaces_with_a_namespace_list_is_ignored_with_a_warning():
    result = trivy.build({"enabled": True, "namespaces": ["shop"], "exclude_namespaces": ["kube-system"]}, "prod")
    assert result["values"]["excludeNamespaces"] == "" and result["values"]["targetNamespaces"] == "shop"
    assert "only applies when namespaces is 'all'" in result["warnings"][0]


@pytest.mark.parametrize(("ttl", "seconds"), [("30m", 1800), ("1h30m", 5400), ("24h", 86400), ("90s", 90), ("1.5h", 5400), ("2h0m0s", 7200)])
def test_ttl_accepts_go_durations(ttl, seconds):
    assert trivy.parse_ttl(ttl) == (ttl, seconds)


@pytest.mark.parametrize("ttl", ["30", "30 m", "1d", "-5m", "30min", "m30", "", "10s", "1h 30m", "PT30M", True, 30])
def test_ttl_rejects_other_formats(ttl):
    with pytest.raises(gitops.FeatureError, match="report_ttl"):
        trivy.build({"enabled": True, "report_ttl": ttl}, "prod")


@pytest.mark.parametrize(
    ("namespaces", "message"),
    [
        (["Shop"], "namespaces[0]"),
        (["shop", "a_b"], "namespaces[1]"),
        (["-shop"], "namespaces[0]"),
        (["a" * 64], "namespaces[0]"),
        ([], "give 'all' or at least one namespace"),
        ([3], "expected a namespace name"),
        ({"shop": True}, "expected a list"),
    ],
)
def test_namespaces_must_be_dns_labels(namespaces, message):
    with pytest.raises(gitops.FeatureError) as err:
        trivy.build({"enabled": True, "namespaces": namespaces}, "prod")
    assert message in str(err.value) and "kubesec_trivy_operator.namespaces" in str(err.value)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"enabled": True, "exclude_namespaces": ["Kube_System"]}, "exclude_namespaces[0]"),
        ({"enabled": True, "scanners": {k: False for k, _ in trivy.SCANNERS}}, "every scanner is off"),
        ({"enabled": True, "scanners": {"sbom": False}}, "unknown key(s) 'sbom'"),
        ({"enabled": True, "offline": {"enabled": True}}, "offline.db_repository: a value is required"),
        ({"enabled": True, "offline": {"enabled": True, "db_repository": "aquasec/trivy-db"}}, "must start with the registry"),
        ({"enabled": True, "offline": {"enabled": True, "db_repository": "r.local/aquasec/trivy-db:2"}}, "no tag here"),
        ({"enabled": True, "offline": {"enabled": True, "db_repository": "https://r.local/trivy-db"}}, "without scheme"),
        ({"enabled": True, "offline": {"enabled": True, "db_repository": "r.local/x", "image_registry": "not a host"}}, "image_registry"),
    ],
)
def test_trivy_bad_input_names_the_field(config, message):
    with pytest.raises(gitops.FeatureError) as err:
        trivy.build(config, "prod")
    assert message in str(err.value)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=20), st.integers(), st.none(), st.booleans()))
def test_ttl_never_crashes(value):
    try:
        text, seconds = trivy.parse_ttl(value)
    except gitops.FeatureError:
        return
    assert seconds >= 60 and text == ("30m" if value is None else str(value).strip())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=70), max_size=4))
def test_namespace_validation_never_crashes(names):
    try:
        values = trivy.build({"enabled": True, "namespaces": names}, "prod")["values"]
    except gitops.FeatureError:
        return
    for name in values["targetNamespaces"].split(","):
        assert gitops.is_dns1123_label(name)


# --- GitOps manifest ------------------------------------------------------------------------------------------------


def _app(feature, config, **gitops_settings):
    params = {
        "feature": feature,
        "config": config,
        "cluster": "prod",
        "dest": None,
        "release_name": None,
        "namespace": None,
        "chart_version": None,
        "chart_repo_url": None,
        "extra_values": {},
        "chart_path": None,
        "helm_template": "never",
        "helm_binary": None,
        "gitops": dict(gitops.DEFAULT_GITOPS, **gitops_settings),
    }
    result, files = feature_values.render(params)
    return result, files


@pytest.mark.parametrize("case", FALCO_CASES + TRIVY_CASES, ids=[c["name"] for c in FALCO_CASES + TRIVY_CASES])
def test_application_shape_and_values(case):
    feature = "falco" if case in FALCO_CASES else "trivy_operator"
    result, files = _app(feature, case["config"])
    if case["expected"]["state"] == "absent":
        assert result["gitops_manifest"] == {} and files == {}
        return
    app = result["gitops_manifest"]
    jsonschema.validate(app, gitops.ARGOCD_APPLICATION_SCHEMA)
    assert app["spec"]["source"]["helm"]["valuesObject"] == case["expected"]["values"]
    assert yaml.safe_load(files["application.yaml"]) == app
    assert yaml.safe_load(files["values.yaml"]) == case["expected"]["values"]
    assert ("required-secrets.yaml" in files) == bool(result["secret_refs"])


def test_application_for_a_named_argo_cluster_without_autosync():
    result, _ = _app("trivy_operator", {"enabled": True}, destination_name="prod-eu", automated=False, namespace="gitops", project="security")
    app = result["gitops_manifest"]
    jsonschema.validate(app, gitops.ARGOCD_APPLICATION_SCHEMA)
    assert app["spec"]["destination"] == {"namespace": "trivy-system", "name": "prod-eu"}
    assert "automated" not in app["spec"]["syncPolicy"] and app["metadata"]["namespace"] == "gitops"
    assert app["spec"]["source"] == {
        "repoURL": "https://aquasecurity.github.io/helm-charts/",
        "chart": "trivy-operator",
        "targetRevision": "0.34.0",
        "helm": {"releaseName": "trivy-operator", "valuesObject": app["spec"]["source"]["helm"]["valuesObject"]},
    }


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a.update(kind="HelmRelease"),
        lambda a: a["spec"].pop("destination"),
        lambda a: a["spec"]["destination"].update(server="https://x.example:6443"),  # name (the default) and server
        lambda a: a["spec"]["source"].update(chart=""),
        lambda a: a["metadata"].update(name="Prod_Falco"),
        lambda a: a["spec"]["syncPolicy"].update(syncOptions=["CreateNamespace"]),
        lambda a: a["spec"]["source"]["helm"].update(values="inline: text"),
    ],
)
def test_application_schema_catches_mistakes(mutate):
    app, _ = _app("falco", {"enabled": True})
    app = copy.deepcopy(app["gitops_manifest"])
    mutate(app)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(app, gitops.ARGOCD_APPLICATION_SCHEMA)


def test_required_secrets_file_names_sources_not_values():
    by_name = {c["name"]: c for c in FALCO_CASES}
    _result, files = _app("falco", by_name["engine_ui_telegram_email"]["config"])
    doc = yaml.safe_load(files["required-secrets.yaml"])
    keys = {s["name"]: s["keys"] for s in doc["secrets"]}
    assert keys["kubesec-falcosidekick"]["TELEGRAM_TOKEN"] == {"from": "kubesec_falco.alerts.telegram.token"}
    assert keys["kubesec-falcosidekick"]["SMTP_PASSWORD"] == {"from": "kubesec_falco.alerts.email.password"}
    assert keys["kubesec-falcosidekick"]["SMTP_TO"] == {"value": "oncall@example.org,secops@example.org"}
    assert keys["kubesec-falcosidekick-ui"] == {"FALCOSIDEKICK_UI_USER": {"from": falco.SECRET_SOURCES["ui_user"]}}


def test_dump_yaml_is_deterministic_and_alias_free():
    shared = {"a": 1}
    text = gitops.dump_yaml({"x": shared, "y": shared}, "head")
    assert text == gitops.dump_yaml({"y": {"a": 1}, "x": {"a": 1}}, "head")
    assert "&" not in text and "*" not in text and text.startswith("# head\n---\n")


# --- the module: check mode, diff, atomic writes, removal ------------------------------------------------------------


def _run_module(args, check_mode=False, diff=True):
    from ansible.module_utils.testing import patch_module_args

    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        feature_values.main()
    return exc.value.code


def test_module_check_mode_writes_nothing_then_writes_then_is_idempotent(tmp_path, capsys):
    dest = tmp_path / "prod" / "rendered" / "falco"
    args = {
        "feature": "falco",
        "cluster": "prod",
        "dest": str(dest),
        "config": {"enabled": True, "ui": {"enabled": True, "user": "secops"}},
        "helm_template": "never",
    }
    assert _run_module(args, check_mode=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] is True and not dest.exists()
    assert [d["after_header"] for d in out["diff"]] == [
        str(dest / n) for n in ("values.yaml", "application.yaml", "required-secrets.yaml", "secrets.yaml", "render.json")
    ]
    assert _run_module(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] is True and sorted(p.name for p in dest.iterdir()) == [
        "application.yaml",
        "render.json",
        "required-secrets.yaml",
        "secrets.yaml",
        "values.yaml",
    ]
    assert oct(dest.joinpath("values.yaml").stat().st_mode & 0o777) == "0o644"
    assert _run_module(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] is False and {f["action"] for f in out["files"]} == {"unchanged"}
    # UI off: the required-secrets file goes (no Secret needed), the others change.
    args["config"] = {"enabled": True}
    assert _run_module(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert {f["path"].rsplit("/", 1)[1]: f["action"] for f in out["files"]} == {
        "values.yaml": "written",
        "application.yaml": "written",
        "required-secrets.yaml": "removed",
        "secrets.yaml": "removed",
        "render.json": "written",
    }
    # Feature off: everything is removed, and the empty folder too.
    args["config"] = {"enabled": False}
    assert _run_module(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] is True and not dest.exists()


def test_module_fails_with_the_field_name(capsys):
    code = _run_module({"feature": "trivy_operator", "cluster": "prod", "config": {"enabled": True, "report_ttl": "30 minutes"}})
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["failed"] and "kubesec_trivy_operator.report_ttl" in out["msg"]


# --- the roles' defaults, argument specs and internal defaults agree -------------------------------------------------


@pytest.mark.parametrize(
    ("role", "var", "internal"),
    [
        ("runtime_security", "kubesec_falco", "__runtime_security_defaults"),
        ("workload_security", "kubesec_trivy_operator", "__workload_security_defaults"),
    ],
)
def test_role_defaults_agree(role, var, internal):
    spec = yaml.safe_load((ROLES / role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    internal_defaults = yaml.safe_load((ROLES / role / "vars/main.yml").read_text())[internal]
    assert spec[var]["default"] == internal_defaults

    def walk(options, defaults, path):
        for key, option in options.items():
            if "options" in option:
                walk(option["options"], defaults[key], [*path, key])
            else:
                assert option.get("default") == defaults[key], ".".join([*path, key])

    walk(spec[var]["options"], internal_defaults, [var])
    defaults = yaml.safe_load((ROLES / role / "defaults/main.yml").read_text())
    for name, option in spec.items():
        value = defaults.get(name)
        if not name.startswith(role + "_") or (isinstance(value, str) and "{{" in value):
            continue  # templated twins of the kubesec_* inventory settings
        assert value == option["default"], name


# --- Argo CD defaults, placeholder Secrets, render metadata, drivers the pinned chart accepts (issues 13, 24) --------


def test_application_defaults_to_the_clusters_argo_name_and_manual_sync():
    result, _ = _app("falco", {"enabled": True})
    app = result["gitops_manifest"]
    jsonschema.validate(app, gitops.ARGOCD_APPLICATION_SCHEMA)
    assert app["spec"]["destination"] == {"namespace": "falco", "name": "prod"}
    assert "automated" not in app["spec"]["syncPolicy"]


def test_application_refuses_both_destinations():
    with pytest.raises(gitops.FeatureError, match="not both"):
        _app("falco", {"enabled": True}, destination_name="a", destination_server="https://b")


def test_secrets_rendered_as_real_manifests_with_placeholders():
    config = {"enabled": True, "ui": {"enabled": True, "user": "secops"}, "alerts": {"telegram": {"enabled": True, "chat_id": "-1001234567890"}}}
    _result, files = _app("falco", config)
    docs = [d for d in yaml.safe_load_all(files["secrets.yaml"]) if d]
    assert [d["metadata"]["name"] for d in docs] == ["kubesec-falcosidekick", "kubesec-falcosidekick-ui"]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.33", strict=True)
    sidekick, ui = docs
    assert sidekick["stringData"]["TELEGRAM_TOKEN"] == "FILL-IN(kubesec_falco.alerts.telegram.token)"
    assert sidekick["stringData"]["TELEGRAM_CHATID"] == "-1001234567890"
    assert sidekick["metadata"]["annotations"]["kubesec.io/fill-in"] == "TELEGRAM_TOKEN"
    assert ui["stringData"] == {"FALCOSIDEKICK_UI_USER": "FILL-IN(kubesec_falco.ui.user + ':' + kubesec_falco.ui.password)"}


def test_render_metadata_says_not_applied():
    _, files = _app("trivy_operator", {"enabled": True})
    meta = json.loads(files["render.json"])
    assert meta["applied"] is False and meta["state"] == "present" and meta["helm_template"] is False
    assert meta["files"] == ["application.yaml", "render.json", "values.yaml"]
    assert "secrets.yaml" not in files and "manifests.yaml" not in files


@pytest.mark.parametrize("driver", ["ebpf", "gvisor"])
def test_drivers_removed_from_the_pinned_chart_are_refused(driver):
    with pytest.raises(gitops.FeatureError, match="not supported by falco chart 9.1.0.*modern_ebpf, kmod, auto"):
        falco.build({"enabled": True, "driver": driver}, "prod")
