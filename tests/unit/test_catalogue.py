"""CIS catalogues: inheritance (extends + add/change/remove), JSON Schema validation, errors named."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue

# sha256 of json.dumps(catalogue without `source`, sort_keys=True) as the full files loaded before inheritance
# (commit 995314c: cis-1.11.yml and cis-1.12.yml were 800-line copies). Resolving `extends` must give the same.
FROZEN = {
    "cis-1.11": "1c5d449782196f797f7424a5eecc6ef58a74e306bffb8d99fe9f9ed574ef434c",
    "cis-1.12": "e15647357a07ec5f3ffbfe121e1a32e2651ebb6952dc8a50f1a5f123e8ee6758",
}
CIS_DIR = Path(_catalogue.CATALOGUE_DIR)


def digest(catalogue):
    catalogue = dict(catalogue)
    catalogue.pop("source", None)
    return hashlib.sha256(json.dumps(catalogue, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_resolved_catalogue_is_unchanged(name):
    assert digest(_catalogue.load(name)) == FROZEN[name]


@pytest.mark.parametrize("name", _catalogue.available())
def test_every_catalogue_validates(name):
    schema = _catalogue.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    raw = yaml.safe_load((CIS_DIR / (name + ".yml")).read_text())
    jsonschema.validate(raw, schema)
    resolved = _catalogue.load(name)
    full = dict(schema, **{"$ref": "#/$defs/full"})
    full.pop("oneOf")
    jsonschema.validate(resolved, full)
    assert resolved["version"] == name and "extends" not in resolved and resolved.get("source")
    ids = [str(check["id"]) for check in resolved["checks"]]
    assert len(ids) == len(set(ids))


def test_cis_1_11_is_a_small_delta_of_cis_1_12():
    raw = yaml.safe_load((CIS_DIR / "cis-1.11.yml").read_text())
    assert raw["extends"] == "cis-1.12"
    old, new = _catalogue.load("cis-1.12"), _catalogue.load("cis-1.11")
    assert [c["id"] for c in new["checks"] if c["id"] != "4.2.15"] == [c["id"] for c in old["checks"]]
    assert new["kubernetes"] == ["1.29", "1.30", "1.31"] and new["paths"] == old["paths"]


def write(directory, name, data):
    (directory / (name + ".yml")).write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def cis_dir(tmp_path):
    shutil.copy(CIS_DIR / "cis-1.12.yml", tmp_path / "cis-1.12.yml")
    return tmp_path


def test_add_change_remove_and_sections(cis_dir):
    base = _catalogue.load("cis-1.12")
    write(
        cis_dir,
        "x-1",
        {
            "extends": "cis-1.12",
            "version": "x-1",
            "kubernetes": ["1.20"],
            "paths": {"kubelet_config": {"default": ["/etc/x/kubelet.yaml"]}},
            "remove": ["1.1.1"],
            "change": [{"id": "4.2.1", "severity": "low"}],
            "add": [
                {"id": "1.1.1.5", "title": "t", "scored": True, "severity": "low", "test": {"type": "manual", "review": "r"}, "remediation": "m"},
                {"id": "9.1", "title": "last", "scored": False, "severity": "low", "test": {"type": "manual", "review": "r"}, "remediation": "m"},
            ],
        },
    )
    got = _catalogue.load("x-1", directory=str(cis_dir))
    ids = [str(c["id"]) for c in got["checks"]]
    assert ids[0] == "1.1.1.5" and ids[-1] == "9.1" and "1.1.1" not in ids
    assert len(ids) == len(base["checks"]) + 1
    assert next(c for c in got["checks"] if c["id"] == "4.2.1")["severity"] == "low"
    assert got["paths"] == {"kubelet_config": {"default": ["/etc/x/kubelet.yaml"]}}
    assert got["components"] == base["components"] and "source" not in got
    # a chain: y extends x-1 extends cis-1.12; an explicit path finds its base beside it
    write(cis_dir, "y-1", {"extends": "x-1", "version": "y-1", "kubernetes": ["1.19"], "remove": ["9.1"]})
    chained = _catalogue.load(None, path=str(cis_dir / "y-1.yml"))
    assert [str(c["id"]) for c in chained["checks"]] == ids[:-1]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"extends": "nope-1"}, "extends 'nope-1', which is not in"),
        ({"extends": "cis-1.12", "remove": ["8.8.8"]}, "removes check 8.8.8, which cis-1.12 does not have"),
        ({"extends": "cis-1.12", "change": [{"id": "8.8.8", "scored": True}]}, "changes check 8.8.8"),
        (
            {
                "extends": "cis-1.12",
                "add": [{"id": "4.2.1", "title": "t", "scored": True, "severity": "low", "test": {"type": "manual", "review": "r"}, "remediation": "m"}],
            },
            "adds check 4.2.1, which cis-1.12 already has",
        ),
        (
            {"extends": "cis-1.12", "change": [{"id": "4.2.1", "test": {"type": "setting", "component": "kubelet", "flag": "--x", "op": "equals"}}]},
            "at change/0/test/op: 'equals' is not one of",
        ),
        ({"extends": "cis-1.12", "change": [{"id": "4.2.1", "sevrity": "low"}]}, "('sevrity' was unexpected)"),
        ({"extends": "cis-1.12", "change": [{"id": "4.2.1", "test": {"type": "file_mode", "file": "x"}}]}, "'max' is a required property"),
        ({"extends": "bad-1"}, "a loop: bad-1 -> bad-1"),
    ],
)
def test_bad_catalogue_is_named(cis_dir, data, message):
    write(cis_dir, "bad-1", dict({"version": "bad-1", "kubernetes": ["1.20"]}, **data))
    with pytest.raises(_catalogue.CatalogueNotFound) as info:
        _catalogue.load("bad-1", directory=str(cis_dir))
    assert message in str(info.value)
    assert "bad-1.yml" in str(info.value)


def test_full_catalogue_schema_errors_name_the_check(cis_dir):
    data = yaml.safe_load((cis_dir / "cis-1.12.yml").read_text())
    data["checks"][3]["test"]["max"] = "rw-------"
    write(cis_dir, "cis-1.12", data)
    with pytest.raises(_catalogue.CatalogueNotFound, match=r"cis-1.12.yml does not match .* at checks/3/test/max"):
        _catalogue.load("cis-1.12", directory=str(cis_dir))
