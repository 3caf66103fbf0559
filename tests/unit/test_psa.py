# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_psa.py: Pod Security Admission labels per namespace from the inventory (issue 17)."""

import kubernetes_validate
import pytest

from ansible_collections.kubesec.cluster.plugins.module_utils import _psa, _vap

P = "pod-security.kubernetes.io/"


def test_labels_from_defaults_and_namespaces():
    config = {"defaults": {"enforce": "baseline", "warn": "restricted", "audit": "restricted", "version": "latest"},
              "namespaces": {"shop": {}, "payments": {"enforce": "restricted", "version": "v1.33"},
                             "legacy": {"state": "absent"}}}
    labels = _psa.namespace_labels(config)
    assert list(labels) == ["legacy", "payments", "shop"]
    assert labels["shop"] == {P + "enforce": "baseline", P + "enforce-version": "latest",
                              P + "warn": "restricted", P + "warn-version": "latest",
                              P + "audit": "restricted", P + "audit-version": "latest"}
    assert labels["payments"][P + "enforce"] == "restricted" and labels["payments"][P + "warn-version"] == "v1.33"
    assert labels["legacy"] == dict.fromkeys(_psa.label_keys())  # every label removed


def test_a_mode_not_given_is_removed_and_the_top_state_switches_everything_off():
    labels = _psa.namespace_labels({"namespaces": {"shop": {"warn": "restricted"}}})
    assert labels["shop"] == {P + "enforce": None, P + "enforce-version": None, P + "warn": "restricted",
                              P + "warn-version": "latest", P + "audit": None, P + "audit-version": None}
    off = _psa.namespace_labels({"state": "absent", "defaults": {"enforce": "baseline"},
                                 "namespaces": {"shop": {}, "payments": {"enforce": "restricted"}}})
    assert all(value is None for labels in off.values() for value in labels.values())
    assert _psa.namespace_labels({}) == {} and _psa.namespace_patches(None) == []


def test_patches_are_valid_namespaces_and_render_beside_the_policies():
    patches = _psa.namespace_patches({"defaults": {"enforce": "baseline"}, "namespaces": {"shop": {}}})
    assert patches == [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {
        P + "enforce": "baseline", P + "enforce-version": "latest", P + "warn": None, P + "warn-version": None,
        P + "audit": None, P + "audit-version": None}}}]
    applied = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {
        key: value for key, value in patches[0]["metadata"]["labels"].items() if value is not None}}}
    kubernetes_validate.validate(applied, "1.33", strict=True)
    assert _vap.owned_file(_vap.PSA_FILE) and not _vap.owned_file("pod-security-labels.yml")


@pytest.mark.parametrize("config, message", [
    ({"namespaces": {"shop": {"enforce": "strict"}}},
     r"pod_security_labels.namespaces.shop.enforce must be one of privileged, baseline, restricted, got 'strict'"),
    ({"defaults": {"version": "1.33"}}, r"pod_security_labels.defaults.version must be latest or .*got '1.33'"),
    ({"namespaces": {"Shop_1": {}}}, r"'Shop_1' is not a namespace name"),
    ({"namespaces": {"shop": {"enforced": "baseline"}}}, r"namespaces.shop: unknown key\(s\) enforced"),
    ({"namespaces": ["shop"]}, r"namespaces must be a mapping"),
    ({"state": "off"}, r"pod_security_labels.state must be present or absent"),
    ({"namespace": {}}, r"must be a mapping with keys state, defaults, namespaces"),
])
def test_wrong_settings_name_the_namespace_and_the_key(config, message):
    with pytest.raises(_psa.PodSecurityLabelError, match=message):
        _psa.namespace_labels(config)
