# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a feature's Helm values with the real ``helm template`` and check what the chart made of them.

Private module_utils (leading underscore): the API may change between minor releases.
Standard library + PyYAML (controller side: ``feature_values`` runs delegated to localhost).

Why: our values are only right if the pinned chart turns them into the objects we mean. A chart that renamed a
value key silently ignores ours and renders its default; a chart that dropped an option fails at install time,
after our play said all was fine. So the values are rendered with the chart and the rendered *objects* are
checked against the settings the user asked for (never against our own values: a moved key must show).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils._safeyaml import HAS_YAML, YAML_LOADER as _LOADER, yaml

from ansible_collections.kubesec.cluster.plugins.module_utils._gitops import FeatureError

HELM_TIMEOUT = 120  # seconds for one `helm template`
MAX_OUTPUT = 32 * 1024 * 1024  # bytes of rendered manifests accepted
MAX_CHART_YAML = 256 * 1024  # bytes of Chart.yaml read from a local chart


class HelmError(FeatureError):
    """helm is missing, failed, or rendered something we cannot read; the message carries Helm's own words."""


def _require_yaml() -> None:
    if not HAS_YAML:
        raise HelmError("PyYAML is needed on the controller to read what helm renders")


def find_helm(explicit: Optional[str] = None) -> Optional[str]:
    """Path of the helm binary: ``explicit`` when given (must exist), else the first ``helm`` on PATH, else None."""
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise HelmError("helm_binary: %s is not an executable file" % explicit)
        return explicit
    return shutil.which("helm")


def local_chart_version(path: str) -> Tuple[str, str]:
    """(name, version) from the Chart.yaml of a packaged chart (.tgz) or a chart directory."""
    _require_yaml()
    if not os.path.exists(path):
        raise HelmError("chart_path: %s does not exist" % path)
    try:
        if os.path.isdir(path):
            with open(os.path.join(path, "Chart.yaml"), "rb") as handle:
                text = handle.read(MAX_CHART_YAML)
        else:
            with tarfile.open(path, "r:*") as archive:
                member = next((m for m in archive.getmembers() if m.isfile() and m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")), None)
                if member is None:
                    raise HelmError("chart_path: %s holds no <chart>/Chart.yaml; is it a packaged Helm chart?" % path)
                extracted = archive.extractfile(member)
                if extracted is None:  # a regular file always has data; kept for the type checker
                    raise HelmError("chart_path: cannot read %s in %s" % (member.name, path))
                text = extracted.read(MAX_CHART_YAML)
        meta = yaml.safe_load(text)
    except (OSError, tarfile.TarError, yaml.YAMLError) as exc:
        raise HelmError("chart_path: cannot read the chart at %s: %s" % (path, exc)) from None
    if not isinstance(meta, dict) or not meta.get("name") or not meta.get("version"):
        raise HelmError("chart_path: the Chart.yaml in %s has no name/version" % path)
    return str(meta["name"]), str(meta["version"])


def template(
    helm: str,
    chart: str,
    release: str,
    namespace: str,
    values: Dict[str, Any],
    version: Optional[str] = None,
    repo_url: Optional[str] = None,
    chart_path: Optional[str] = None,
    timeout: int = HELM_TIMEOUT,
) -> str:
    """Run ``helm template`` and return the rendered manifest stream (text). Helm test hooks are skipped.

    The chart comes from ``chart_path`` (a local .tgz or directory, for air-gapped controllers) when given,
    else ``chart`` at ``version`` from ``repo_url``. ``values`` never holds a secret (the builders refuse them).
    """
    if chart_path:
        name, found = local_chart_version(chart_path)
        if name != chart:
            raise HelmError("chart_path: %s holds chart %r, not %r" % (chart_path, name, chart))
        if version and found != version:
            raise HelmError(
                "chart_path: %s holds %s %s but the pinned chart_version is %s; use the file of that "
                "version or change the version" % (chart_path, name, found, version)
            )
        cmd = [helm, "template", release, chart_path]
    else:
        cmd = [helm, "template", release, chart, "--repo", str(repo_url)]
        if version:
            cmd += ["--version", version]
    workdir = tempfile.mkdtemp(prefix="kubesec-helm-")
    try:
        values_file = os.path.join(workdir, "values.json")
        with open(values_file, "w", encoding="utf-8") as handle:
            json.dump(values, handle)
        cmd += ["--namespace", namespace, "--values", values_file, "--skip-tests", "--include-crds"]
        env = dict(os.environ)
        # Helm's own caches and config stay in a scratch directory: never the user's repositories or a kubeconfig.
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            env[var] = os.path.join(workdir, var.lower())
        env.pop("KUBECONFIG", None)
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise HelmError("helm template %s did not finish in %d s" % (chart_path or chart, timeout)) from None
        except OSError as exc:
            raise HelmError("cannot run %s: %s" % (helm, exc)) from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()[-4000:] or "exit code %d" % proc.returncode
        raise HelmError("helm template of %s %s rejects the values: %s" % (chart, version or "", message))
    if len(proc.stdout) > MAX_OUTPUT:
        raise HelmError("helm template of %s rendered more than %d bytes" % (chart, MAX_OUTPUT))
    return proc.stdout.decode("utf-8", "replace")


def parse_manifests(text: str) -> List[Dict[str, Any]]:
    """The objects of a rendered stream (empty documents dropped)."""
    _require_yaml()
    try:
        docs = [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None]
    except yaml.YAMLError as exc:
        raise HelmError("the chart rendered YAML that does not parse: %s" % exc) from None
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
            raise HelmError("rendered document #%d is not a Kubernetes object" % index)
    return docs


def find(objects: List[Dict[str, Any]], kind: str, name: str) -> Optional[Dict[str, Any]]:
    return next((o for o in objects if o["kind"] == kind and o.get("metadata", {}).get("name") == name), None)


def _containers(obj: Dict[str, Any]) -> List[Dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers") or []


def _env_from_last(container: Dict[str, Any]) -> Optional[str]:
    """Name of the last Secret in envFrom: Kubernetes lets the last source win when sources share a key."""
    refs = [item["secretRef"].get("name") for item in container.get("envFrom") or [] if "secretRef" in item]
    return refs[-1] if refs else None


def _env_names(container: Dict[str, Any]) -> Set[Optional[str]]:
    return {item.get("name") for item in container.get("env") or []}


def _falco_config(objects: List[Dict[str, Any]], fullname: str) -> Optional[Dict[str, Any]]:
    config_map = find(objects, "ConfigMap", fullname)
    if config_map is None or "falco.yaml" not in config_map.get("data", {}):
        return None
    return yaml.safe_load(config_map["data"]["falco.yaml"]) or {}


def check_falco(objects: List[Dict[str, Any]], build: Dict[str, Any]) -> List[str]:
    """Problems (list of text) between the rendered falco chart and ``build`` (``_falco_values.build`` result)."""
    from ansible_collections.kubesec.cluster.plugins.module_utils import _falco_values as fv

    settings, refs = build["settings"], build["secret_refs"]
    release = build["release_name"]
    problems: List[str] = []
    if not settings["enabled"]:
        return problems
    falco = fv.falco_fullname(release)
    daemonset = find(objects, "DaemonSet", falco)
    if daemonset is None:
        return ["no Falco DaemonSet %s was rendered" % falco]
    config = _falco_config(objects, falco)
    if config is None:
        return ["no ConfigMap %s with falco.yaml was rendered" % falco]
    driver = settings["driver"]
    engine_kind = (config.get("engine") or {}).get("kind")
    want_kind = "kmod" if driver == "kmod" else "modern_ebpf"  # the chart's "auto" starts as modern_ebpf
    if engine_kind != want_kind:
        problems.append("driver %s: falco.yaml engine.kind is %r, expected %r" % (driver, engine_kind, want_kind))
    init_names = [c.get("name") for c in daemonset["spec"]["template"]["spec"].get("initContainers") or []]
    loader = "falco-driver-loader" in init_names
    if loader != (driver in ("kmod", "auto")):
        problems.append("driver %s: the driver loader init container is %s" % (driver, "present" if loader else "absent"))

    sidekick = build["workloads"]["sidekick"]
    http = config.get("http_output") or {}
    if sidekick:
        deployment = find(objects, "Deployment", sidekick)
        if deployment is None:
            problems.append("alerts/UI on: no falcosidekick Deployment %s was rendered" % sidekick)
        else:
            container = _containers(deployment)[0]
            if _env_from_last(container) != fv.SIDEKICK_SECRET:
                problems.append(
                    "falcosidekick Deployment %s does not take its settings from Secret %s (envFrom: %s)"
                    % (sidekick, fv.SIDEKICK_SECRET, container.get("envFrom"))
                )
            ours = set(refs[0]["data"]) | set(refs[0]["secret_keys"])
            shadowed = sorted(ours & _env_names(container))
            if shadowed:
                problems.append("falcosidekick Deployment %s sets %s in env, which overrides our Secret" % (sidekick, ", ".join(shadowed)))
            annotations = deployment["spec"]["template"].get("metadata", {}).get("annotations") or {}
            if "kubesec.io/config-checksum" not in annotations:
                problems.append("falcosidekick pods carry no kubesec.io/config-checksum annotation (no restart when a channel changes)")
        url = "http://%s:2801" % sidekick
        if not http.get("enabled") or http.get("url") != url:
            problems.append("Falco http_output is %s -> %r, expected enabled -> %r" % ("enabled" if http.get("enabled") else "disabled", http.get("url"), url))
    else:
        if any(o["kind"] == "Deployment" and "falcosidekick" in o["metadata"]["name"] for o in objects):
            problems.append("alerts and UI off, yet a falcosidekick Deployment was rendered")
        if http.get("enabled"):
            problems.append("alerts and UI off, yet Falco's http_output is enabled (-> %r)" % http.get("url"))

    ui_name = build["workloads"]["ui"]
    any_ui = [o["metadata"]["name"] for o in objects if o["kind"] in ("Deployment", "StatefulSet") and "falcosidekick-ui" in o["metadata"]["name"]]
    if ui_name:
        ui = find(objects, "Deployment", ui_name)
        if ui is None:
            problems.append("UI on: no UI Deployment %s was rendered" % ui_name)
        else:
            container = _containers(ui)[0]
            if _env_from_last(container) != fv.UI_SECRET:
                problems.append("UI Deployment %s does not read its login from Secret %s (envFrom: %s)" % (ui_name, fv.UI_SECRET, container.get("envFrom")))
            if "FALCOSIDEKICK_UI_USER" in _env_names(container):
                problems.append("UI Deployment %s sets FALCOSIDEKICK_UI_USER in env, which overrides our Secret" % ui_name)
            args = container.get("args") or []
            ttl = settings["ui"]["ttl"]
            if "-t" not in args or args[args.index("-t") + 1:args.index("-t") + 2] != [ttl]:
                problems.append("UI Deployment %s does not keep events for %s (args: %s)" % (ui_name, ttl, args))
        if find(objects, "StatefulSet", "%s-redis" % ui_name) is None:
            problems.append("UI on: no Redis StatefulSet %s-redis was rendered" % ui_name)
        chart_ui_secret = find(objects, "Secret", ui_name)
        if chart_ui_secret and "FALCOSIDEKICK_UI_USER" in (chart_ui_secret.get("data") or {}):
            problems.append("the chart's own Secret %s carries a UI login (the chart default admin:admin)" % ui_name)
    elif any_ui:
        problems.append("UI off, yet %s rendered" % ", ".join(sorted(any_ui)))
    return problems


def _trivy_operator_env(objects: List[Dict[str, Any]], release: str) -> Optional[Dict[str, Any]]:
    deployment = find(objects, "Deployment", release)
    if deployment is None:
        return None
    env: Dict[str, Any] = {}
    for item in _containers(deployment)[0].get("env") or []:
        env[item.get("name")] = item.get("value")
    return env


def check_trivy_operator(objects: List[Dict[str, Any]], build: Dict[str, Any]) -> List[str]:
    """Problems between the rendered trivy-operator chart and ``build`` (``_trivy_operator_values.build``)."""
    from ansible_collections.kubesec.cluster.plugins.module_utils import _trivy_operator_values as tv

    settings, release = build["settings"], build["release_name"]
    if not settings["enabled"]:
        return []
    env = _trivy_operator_env(objects, release)
    if env is None:
        return ["no operator Deployment %s was rendered" % release]
    problems: List[str] = []
    targets = "" if settings["namespaces"] == "all" else ",".join(settings["namespaces"])
    expected_env = {"OPERATOR_TARGET_NAMESPACES": targets, "OPERATOR_EXCLUDE_NAMESPACES": ",".join(settings["exclude_namespaces"])}
    for name, want in expected_env.items():
        if name not in env:
            problems.append("operator Deployment %s has no %s" % (release, name))
        elif (env[name] or "") != want:
            problems.append("operator Deployment %s: %s=%r, expected %r" % (release, name, env[name], want))
    config = next((o for o in objects if o["kind"] == "ConfigMap" and "OPERATOR_SCANNER_REPORT_TTL" in (o.get("data") or {})), None)
    if config is None:
        return [*problems, "no ConfigMap with OPERATOR_SCANNER_REPORT_TTL was rendered"]
    data = config["data"]
    expected = {"OPERATOR_SCANNER_REPORT_TTL": settings["report_ttl"]}
    env_names = {
        "vulnerability": "OPERATOR_VULNERABILITY_SCANNER_ENABLED",
        "config_audit": "OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED",
        "rbac": "OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED",
        "infra": "OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED",
        "exposed_secrets": "OPERATOR_EXPOSED_SECRET_SCANNER_ENABLED",
    }
    for key, _chart_key in tv.SCANNERS:
        expected[env_names[key]] = "true" if settings["scanners"][key] else "false"
    for name, want in expected.items():
        got = data.get(name)
        if got != want:
            problems.append("ConfigMap %s: %s=%r, expected %r" % (config["metadata"]["name"], name, got, want))
    offline = settings["offline"]
    if offline["enabled"]:
        trivy_config = next((o for o in objects if o["kind"] == "ConfigMap" and "trivy.dbRepository" in (o.get("data") or {})), None)
        want = "%s/%s" % offline["db"][:2]
        got = (trivy_config or {}).get("data", {}).get("trivy.dbRepository")
        if got != want:
            problems.append("offline: the Trivy ConfigMap's trivy.dbRepository is %r, expected %r" % (got, want))
    return problems


CHECKS: Dict[str, Callable[[List[Dict[str, Any]], Dict[str, Any]], List[str]]] = {"falco": check_falco, "trivy_operator": check_trivy_operator}
