"""Issue 18: the Kubernetes minor -> CIS benchmark data (one table for kube-bench and the node audit), cis-1.10."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.module_utils import _cis, _cis_versions, _cluster_facts, _kube_bench
from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue
from tests.conftest import assert_valid_findings
from tests.testbed.nodetree import materialize


def test_one_table_for_kube_bench_and_onboarding():
    assert _kube_bench.VERSION_MAPPING is _cis_versions.VERSION_MAPPING
    assert _cluster_facts.KUBE_BENCH_VERSION_MAPPING is _cis_versions.VERSION_MAPPING
    assert _cluster_facts.CATALOGUES == tuple(_cis_versions.CATALOGUES)


@pytest.mark.parametrize("name", sorted(_cis_versions.CATALOGUES))
def test_shipped_catalogues_and_the_table_agree(name):
    assert name in _cis_versions.CATALOGUES
    minors = _cis_versions.CATALOGUES[name]
    assert tuple(_catalogue.load(name)["kubernetes"]) == minors
    # kube-bench maps each of these minors to the benchmark of the same name
    assert {_cis_versions.VERSION_MAPPING[minor] for minor in minors} == {name}


def test_table_lists_only_shipped_catalogues():
    shipped = [*_cis_versions.CATALOGUES, *_cis_versions.DISTRIBUTION_CATALOGUES.values()]
    assert sorted(shipped) == _catalogue.available()


@pytest.mark.parametrize("minor", ["1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34"])
def test_every_supported_minor_has_its_own_catalogue(minor):
    chosen = _cluster_facts.choose_profiles(minor, "kubeadm")
    assert chosen["catalogue"] == _cis_versions.VERSION_MAPPING[minor] and chosen["catalogue_note"] is None
    assert _kube_bench.benchmark_for_version("v%s.3" % minor) == (chosen["catalogue"], None)


def test_newer_and_older_minors_fall_back_with_a_note():
    newer = _cluster_facts.choose_profiles("1.35", "kubeadm")
    assert newer["catalogue"] == "cis-1.12"
    older = _cluster_facts.choose_profiles("1.27", "kubeadm")
    assert older["catalogue"] == "cis-1.10" and "no cis-1.9 catalogue" in older["catalogue_note"]


def test_cis_1_10_is_kube_bench_cfg_cis_1_10():
    cat = _catalogue.load("cis-1.10")
    raw = yaml.safe_load((Path(_catalogue.CATALOGUE_DIR) / "cis-1.10.yml").read_text())
    assert raw["extends"] == "cis-1.11" and cat["kubernetes"] == ["1.28"]
    ids = [str(c["id"]) for c in cat["checks"]]
    # kube-bench cfg/cis-1.10: no 1.2.30 (token expiration), 4.2.14 (seccomp default), 4.2.15 (IPAddressDeny)
    assert {"1.2.30", "4.2.14", "4.2.15"}.isdisjoint(ids) and len(ids) == 95
    by_id = {str(c["id"]): c for c in cat["checks"]}
    assert by_id["1.1.20"]["test"]["max"] == "600" and by_id["4.1.7"]["test"]["max"] == "600"
    assert "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" in by_id["1.2.29"]["test"]["value"]  # cis-1.11's cipher list


def verdicts(root, benchmark):
    findings, context = _cis.audit_node(str(root), _catalogue.load(benchmark), node="cp1", targets=("master", "controlplane", "etcd", "node"))
    assert_valid_findings(findings)
    assert context["benchmark"] == benchmark
    return {f["id"]: f["status"] for f in findings}


def test_cis_1_10_judges_certificates_at_600(tmp_path):
    """kubeadm writes certificates 0644: fine for cis-1.11 (644), not for cis-1.10 (600)."""
    root = tmp_path / "cp1"
    materialize(root, "control-plane:kubeadm-default", node="cp1")
    v10, v11 = verdicts(root, "cis-1.10"), verdicts(root, "cis-1.11")
    assert v11["CIS-1.1.20"] == "pass" and v10["CIS-1.1.20"] != "pass"
    assert v11["CIS-4.1.7"] == "pass" and v10["CIS-4.1.7"] != "pass"
    assert set(v11) - set(v10) == {"CIS-1.2.30", "CIS-4.2.14", "CIS-4.2.15"}
    changed = {cid for cid in v10 if v10[cid] != v11[cid]}
    assert changed == {"CIS-1.1.20", "CIS-4.1.7"}, changed
    print("cis-1.10 on control-plane:kubeadm-default:", Counter(v10.values()))
