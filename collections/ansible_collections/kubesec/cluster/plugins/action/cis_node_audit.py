# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load the CIS catalogue on the controller, then run the module on the node in one call.

With `findings_file`, the findings are also written to that path on the controller (atomically), which saves
two tasks per host (a directory and a delegated copy) in fleet runs.
"""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis_kube_proxy, _cis_versions, _kube
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue, _currency_data
from ansible_collections.kubesec.cluster.plugins.plugin_utils._io import atomic_write

# The strategy imports this plugin in the main process before it forks one worker per host, and every worker inherits
# the catalogue cache filled here: one parse and validation per run instead of one per host (benchmarks/fleet).
_catalogue.preload()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if not args.get("catalogue"):
            try:
                args["catalogue"] = _catalogue.load(args.get("benchmark") or "cis-1.12")
            except _catalogue.CatalogueNotFound as exc:
                raise AnsibleActionFail(str(exc)) from exc
        try:
            args["distribution_catalogues"] = self._distribution_catalogues(args)
        except _catalogue.CatalogueNotFound as exc:
            raise AnsibleActionFail(str(exc)) from exc
        args.setdefault("node_name", task_vars.get("inventory_hostname"))
        if args.get("cluster") is None and task_vars.get("kubesec_cluster"):
            args["cluster"] = task_vars["kubesec_cluster"]
        findings_file = args.pop("findings_file", None)
        currency_file = args.pop("currency_file", None)
        self._currency_args(args)
        kube_proxy = self._kube_proxy_config(args)
        if kube_proxy is not None:
            args["kube_proxy_config"] = kube_proxy
        result.update(self._execute_module(module_name="kubesec.cluster.cis_node_audit", module_args=args, task_vars=task_vars))
        if result.get("failed") or self._task.check_mode:
            return result
        currency = result.get("currency_findings")
        written = []
        if findings_file:
            # without a currency_file the currency findings go with the CIS ones (the report reads both)
            extra = currency if currency and not currency_file else []
            written.append((findings_file, [*result["findings"], *extra]))
            result["findings_file"] = findings_file
        if currency_file and currency is not None:
            written.append((currency_file, currency))
            result["currency_file"] = currency_file
        for path, items in written:
            try:
                atomic_write(os.path.expanduser(path), json.dumps(items, indent=1), mode=0o640)
            except OSError as exc:
                raise AnsibleActionFail("cannot write the findings of %s to %s on the controller: %s" % (args["node_name"], path, exc)) from exc
        return result

    @staticmethod
    def _currency_args(args):
        """currency: the dated CVE table and the control-plane version, read here (the node has neither)."""
        cluster_facts = args.pop("cluster_facts", None)
        if not args.get("currency"):
            return
        try:
            if args.get("currency_data") is None:
                args["currency_data"] = _currency_data.load()
            if not args.get("control_plane_version") and cluster_facts:
                version = _currency_data.control_plane_version(os.path.expanduser(cluster_facts))
                if version:
                    args["control_plane_version"] = version
        except _currency_data.CurrencyDataError as exc:
            raise AnsibleActionFail("currency: %s" % exc) from exc

    @staticmethod
    def _distribution_catalogues(args):
        """The catalogues for distribution layouts the module may pick (only the one asked for, none for kubeadm)."""
        if args.get("distribution_catalogues") is not None:
            return args["distribution_catalogues"]
        wanted = args.get("distribution") or "auto"
        return {dist: _catalogue.load(name) for dist, name in _cis_versions.DISTRIBUTION_CATALOGUES.items() if wanted in ("auto", dist)}

    @staticmethod
    def _kube_proxy_config(args):
        """The kube-proxy ConfigMap for CIS 4.3.1, from an export file or the API (read on the controller)."""
        export = args.pop("kube_proxy_configmap", None)
        kubeconfig = args.pop("kubeconfig", None)
        context = args.pop("context", None)
        if args.get("kube_proxy_config") or "node" not in (args.get("targets") or ["node"]):
            return None
        if export:
            try:
                return _cis_kube_proxy.from_export(os.path.expanduser(export))
            except _cis_kube_proxy.KubeProxyInputError as exc:
                raise AnsibleActionFail("kube_proxy_configmap: %s" % exc) from exc
        if kubeconfig:
            # The kubeconfig is shared with the collect role: when it cannot be used, only 4.3.1 is undecided
            # (WARN with the reason), the node audit still runs.
            try:
                client = _kube.build_client(kubeconfig=os.path.expanduser(kubeconfig), context=context)
            except _kube.KubeApiError as exc:
                return {"source": "the API (kubeconfig %s)" % kubeconfig, "unavailable": "cannot read the kube-system/kube-proxy ConfigMap: %s" % exc}
            return _cis_kube_proxy.from_api(client)
        return None
