#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: feature_values
short_description: Compute Helm values, Secret references and an Argo CD Application for a cluster feature
version_added: 0.1.0
description:
  - Turns a feature dictionary (C(kubesec_falco) or C(kubesec_trivy_operator)) into the values of the official
    Helm chart (C(falcosecurity/falco) with falcosidekick and its UI, or C(aqua/trivy-operator)).
  - Secrets are never part of the values. For Falco the values point falcosidekick and its UI at Secrets
    (C(config.existingSecret), C(webui.existingSecret)); the module returns those Secrets as references
    (name, non-secret keys, and for each secret key the inventory variable it comes from).
  - Also returns a ready-to-commit Argo CD C(Application) that installs the chart with these values.
  - With O(dest), writes C(values.yaml), C(application.yaml), C(render.json) (what was rendered, with
    C(applied=false)) and, when Secrets are needed, C(required-secrets.yaml) and C(secrets.yaml) (real Secret
    manifests with C(FILL-IN(<inventory variable>)) placeholders) into that directory; when Helm rendered the chart
    (O(helm_template)), also C(manifests.yaml), every object of the release as one YAML stream for pipelines without
    Helm. Writes are atomic; check mode and diff supported. When the feature is disabled the files are removed.
  - With a C(helm) binary on the controller (O(helm_template)), renders the values with the real C(helm template) of
    the chart (O(chart_path) or the repository) and checks the rendered objects do what the settings ask (falcosidekick
    and the UI read our Secrets, Falco's http output points at falcosidekick, the operator's target/exclude namespaces,
    report TTL and scanner switches). A chart that refuses the values, or renders something else, fails the module
    with Helm's message before anything is installed.
  - The module never receives secret values; O(config) must not contain them.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes
options:
  feature:
    description: Which feature O(config) describes.
    type: str
    required: true
    choices: [falco, trivy_operator]
  config:
    description:
      - The feature dictionary, as documented in the C(runtime_security) and C(workload_security) roles.
      - Must not contain secret values (C(ui.password), C(alerts.telegram.token), C(alerts.email.password)); the module
        fails if it does.
    type: dict
    required: true
  cluster:
    description: Cluster name (DNS-1123 label); used in labels and the Application name.
    type: str
    required: true
  dest:
    description:
      - Directory for the rendered files, for example C(reports/<cluster>/rendered/falco). Created when missing.
      - When omitted, nothing is written and the module only returns the computed data.
    type: path
  release_name:
    description: Helm release name. Defaults to C(falco) or C(trivy-operator).
    type: str
  namespace:
    description: Namespace of the release. Defaults to C(falco) or C(trivy-system).
    type: str
  chart_version:
    description: Chart version for the Application. Defaults to the version this collection was tested with.
    type: str
  chart_repo_url:
    description: Helm repository URL for the Application (for a mirror). Defaults to the official repository.
    type: str
  chart_path:
    description:
      - A local copy of the chart (packaged C(.tgz) or directory) on the controller, for air-gapped clusters. Used by
        O(helm_template) instead of the repository; its C(Chart.yaml) must hold O(chart_version).
    type: path
  helm_template:
    description:
      - C(auto) renders with C(helm template) when a helm binary is found (O(helm_binary), else C(helm) on PATH),
        C(always) fails when none is, C(never) skips it.
      - Without O(chart_path) Helm fetches the chart from O(chart_repo_url).
    type: str
    choices: [auto, always, never]
    default: auto
  helm_binary:
    description: Path of the helm binary (Helm 3.8 or later). Empty looks for C(helm) on PATH.
    type: path
  extra_values:
    description: Extra Helm values merged over the computed ones (for example tolerations or resources).
    type: dict
    default: {}
  gitops:
    description: Settings of the Argo CD Application.
    type: dict
    default: {}
    suboptions:
      namespace:
        description: Namespace Argo CD watches for Applications.
        type: str
        default: argocd
      project:
        description: Argo CD project.
        type: str
        default: default
      destination_server:
        description:
          - API server URL of the target cluster as registered in Argo CD. Set this or O(gitops.destination_name),
            not both.
        type: str
        default: ""
      destination_name:
        description:
          - Name of the target cluster in Argo CD. With neither destination set the Application targets the Argo CD
            cluster named like O(cluster).
        type: str
        default: ""
      automated:
        description: Whether Argo CD syncs (with prune and self-heal) on its own. Off by default.
        type: bool
        default: false
notes:
  - The Argo CD Application is a CRD object; C(kubernetes-validate) has no schema for it, the collection's tests check
    its shape with a JSON schema of their own.
"""

EXAMPLES = r"""
- name: Render the Falco values and Argo CD Application for cluster prod
  kubesec.cluster.feature_values:
    feature: falco
    cluster: prod
    config:
      enabled: true
      ui:
        enabled: true
        user: secops
      alerts:
        telegram:
          enabled: true
          chat_id: "-1001234567890"
    dest: "{{ playbook_dir }}/../reports/prod/rendered/falco"
  delegate_to: localhost

- name: Compute Trivy Operator values only
  kubesec.cluster.feature_values:
    feature: trivy_operator
    cluster: staging
    config:
      enabled: true
      namespaces: [shop, payments]
      report_ttl: 30m
      scanners:
        exposed_secrets: false
  register: trivy_values
"""

RETURN = r"""
state:
  description: C(present) when the feature is enabled, else C(absent).
  returned: always
  type: str
  sample: present
values:
  description: Helm values for the chart (empty when the feature is disabled). Contains no secret values.
  returned: always
  type: dict
  sample: {"driver": {"enabled": true, "kind": "modern_ebpf"}, "falcosidekick": {"enabled": false}}
secret_refs:
  description:
    - Secrets the release expects. C(data) holds the non-secret keys with their values, C(secret_keys) maps each
      secret key to its source (C(ui_user), C(telegram_token), C(email_password)).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "kubesec-falcosidekick", "namespace": "falco", "labels": {}, "data": {"TELEGRAM_CHATID": "-100"},
            "secret_keys": {"TELEGRAM_TOKEN": "telegram_token"}}]
obsolete_secrets:
  description: Secrets this collection manages for the feature that the current settings no longer need (to delete).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "kubesec-falcosidekick-ui", "namespace": "falco"}]
gitops_manifest:
  description: The Argo CD Application (empty when the feature is disabled).
  returned: always
  type: dict
chart:
  description: Chart repository URL, chart name and version used.
  returned: always
  type: dict
  sample: {"repo_url": "https://falcosecurity.github.io/charts", "chart": "falco", "version": "9.1.0"}
release_name:
  description: Helm release name.
  returned: always
  type: str
namespace:
  description: Release namespace.
  returned: always
  type: str
workloads:
  description: Names of the falcosidekick and UI Deployments (Falco only; null when not deployed).
  returned: when O(feature=falco)
  type: dict
helm:
  description:
    - Whether C(helm template) rendered the chart (C(rendered)), which binary and chart it used, and the rendered
      object count by kind. C(rendered=false) with C(reason) when it was skipped.
  returned: always
  type: dict
  sample: {"rendered": true, "binary": "/usr/local/bin/helm", "chart": "charts/falco-9.1.0.tgz",
           "objects": {"DaemonSet": 1, "Deployment": 2}}
files:
  description: Files under O(dest) with what happened to each (C(written), C(removed), C(unchanged)).
  returned: when O(dest) is set
  type: list
  elements: dict
  sample: [{"path": "/r/prod/rendered/falco/values.yaml", "action": "written"}]
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils import (
    _file_set,
    _falco_values,
    _helm_chart,
    _trivy_operator_values,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._gitops import (
    FeatureError,
    argocd_application,
    dump_yaml,
    placeholder_secret,
)

BUILDERS = {"falco": _falco_values, "trivy_operator": _trivy_operator_values}
FILES = ("values.yaml", "application.yaml", "required-secrets.yaml", "secrets.yaml", "manifests.yaml", "render.json")


def helm_render(params, result):
    """Run ``helm template`` when asked/possible and check the objects; returns (info dict, manifest text or None)."""
    mode = params["helm_template"]
    if result["state"] != "present":
        return {"rendered": False, "reason": "feature disabled"}, None
    if mode == "never":
        return {"rendered": False, "reason": "helm_template=never"}, None
    helm = _helm_chart.find_helm(params["helm_binary"])
    if helm is None:
        if mode == "always":
            raise FeatureError("helm_template=always but no helm binary was found (set helm_binary or put helm on PATH)")
        return {"rendered": False, "reason": "no helm binary on the controller"}, None
    chart = result["chart"]
    text = _helm_chart.template(
        helm,
        chart["chart"],
        result["release_name"],
        result["namespace"],
        result["values"],
        version=chart["version"],
        repo_url=chart["repo_url"],
        chart_path=params["chart_path"],
    )
    objects = _helm_chart.parse_manifests(text)
    problems = _helm_chart.CHECKS[params["feature"]](objects, result)
    if problems:
        raise FeatureError(
            "%s chart %s rendered these values, but not as kubesec means them (did the chart move a "
            "value key?): %s" % (chart["chart"], chart["version"], "; ".join(problems))
        )
    kinds = {}
    for obj in objects:
        kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
    info = {
        "rendered": True,
        "binary": helm,
        "chart": params["chart_path"] or "%s %s from %s" % (chart["chart"], chart["version"], chart["repo_url"]),
        "objects": kinds,
    }
    return info, text


def render(params):
    """Pure computation (plus helm template): returns (result dict, {file name: text}) for the module parameters."""
    builder = BUILDERS[params["feature"]]
    kwargs = {"extra_values": params["extra_values"] or None}
    if params["release_name"]:
        kwargs["release"] = params["release_name"]
    if params["namespace"]:
        kwargs["namespace"] = params["namespace"]
    result = builder.build(params["config"], params["cluster"], **kwargs)
    chart = result["chart"]
    if params["chart_version"]:
        chart["version"] = params["chart_version"]
    if params["chart_repo_url"]:
        chart["repo_url"] = params["chart_repo_url"]
    result["helm"], manifests = helm_render(params, result)
    result.pop("settings", None)
    files = {}
    result["gitops_manifest"] = {}
    if result["state"] == "present":
        feature_name = "falco" if params["feature"] == "falco" else "trivy-operator"
        app = argocd_application(
            "%s-%s" % (params["cluster"], feature_name),
            params["cluster"],
            params["feature"],
            chart["repo_url"],
            chart["chart"],
            chart["version"],
            result["release_name"],
            result["namespace"],
            result["values"],
            params["gitops"],
        )
        result["gitops_manifest"] = app
        header = "Rendered by kubesec.cluster.feature_values for cluster %s (%s chart %s %s).\nDo not edit: change the inventory and render again." % (
            params["cluster"],
            chart["repo_url"],
            chart["chart"],
            chart["version"],
        )
        files["values.yaml"] = dump_yaml(result["values"], header + "\nHelm values; contains no secret values.")
        files["application.yaml"] = dump_yaml(
            app, header + "\nArgo CD Application (values inline, no secret values): commit this file\nto the repository Argo CD watches."
        )
        if result["secret_refs"]:
            files["required-secrets.yaml"] = dump_yaml(
                required_secrets(result["secret_refs"], result["secret_sources"]),
                header + "\nSecrets the release needs before it syncs. This file holds no secret value: keys marked\n"
                "'from' name the inventory variable to take them from (create them with SOPS, Sealed Secrets,\n"
                "External Secrets...; never commit them in clear). Keys marked 'value' are not secret.",
            )
            files["secrets.yaml"] = "".join(
                dump_yaml(
                    placeholder_secret(ref, result["secret_sources"]),
                    header + "\nSecret %s/%s with placeholders: replace every FILL-IN(<variable>) with the value "
                    "of that\ninventory variable, then encrypt (sops -e, kubeseal) before committing; never "
                    "commit it filled in\nand in clear. Apply it before the release syncs." % (ref["namespace"], ref["name"]),
                )
                for ref in result["secret_refs"]
            )
        if manifests is not None:
            files["manifests.yaml"] = (
                "# " + header.replace("\n", "\n# ") + "\n# Every object of the release as "
                "`helm template` renders it (no Helm tests, no secret values):\n# for "
                "pipelines without Helm. The Secrets in secrets.yaml must exist first.\n" + manifests
            )
        files["render.json"] = (
            json.dumps(
                {
                    "feature": params["feature"],
                    "cluster": params["cluster"],
                    "state": result["state"],
                    "applied": False,
                    "chart": chart,
                    "release_name": result["release_name"],
                    "namespace": result["namespace"],
                    "helm_template": bool(result["helm"]["rendered"]),
                    "files": sorted([*files, "render.json"]),
                },
                indent=2,
                sort_keys=True,
            )
            + "\n"
        )
    return result, files


def required_secrets(refs, sources):
    doc = []
    for ref in refs:
        keys = {key: {"value": value} for key, value in ref["data"].items()}
        for key, source in ref["secret_keys"].items():
            keys[key] = {"from": sources[source]}
        doc.append({"name": ref["name"], "namespace": ref["namespace"], "type": "Opaque", "labels": ref["labels"], "keys": keys})
    return {"secrets": doc}


def sync_files(module, dest, files):
    """Bring ``dest`` to exactly ``files`` (of FILES); returns (changed, file actions, diffs)."""
    changed, actions, diffs = _file_set.sync_files(module, dest, FILES, files)
    if not module.check_mode and not files and os.path.isdir(dest) and not os.listdir(dest):
        os.rmdir(dest)
    return changed, actions, diffs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            feature=dict(type="str", required=True, choices=["falco", "trivy_operator"]),
            config=dict(type="dict", required=True),
            cluster=dict(type="str", required=True),
            dest=dict(type="path"),
            release_name=dict(type="str"),
            namespace=dict(type="str"),
            chart_version=dict(type="str"),
            chart_repo_url=dict(type="str"),
            chart_path=dict(type="path"),
            helm_template=dict(type="str", default="auto", choices=["auto", "always", "never"]),
            helm_binary=dict(type="path"),
            extra_values=dict(type="dict", default={}),
            gitops=dict(
                type="dict",
                default={},
                options=dict(
                    namespace=dict(type="str", default="argocd"),
                    project=dict(type="str", default="default"),
                    destination_server=dict(type="str", default=""),
                    destination_name=dict(type="str", default=""),
                    automated=dict(type="bool", default=False),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    try:
        result, files = render(module.params)
    except FeatureError as exc:
        module.fail_json(msg=to_native(exc))
    for warning in result.pop("warnings", []):
        module.warn(warning)
    result.pop("secret_sources", None)
    result["changed"] = False
    if module.params["dest"]:
        try:
            changed, actions, diffs = sync_files(module, module.params["dest"], files)
        except OSError as exc:
            module.fail_json(msg="cannot write rendered files under %s: %s" % (module.params["dest"], to_native(exc)))
        result["changed"] = changed
        result["files"] = actions
        if module._diff:
            result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
