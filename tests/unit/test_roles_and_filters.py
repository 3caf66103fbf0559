"""Role argument specs agree with defaults; the cis_selected filter honours toggles and tags."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.kubesec.cluster.plugins.filter.cis import cis_selected, cis_tag
from tests.conftest import COLLECTION

ROLES = sorted(p.name for p in (COLLECTION / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
# A default templated from a variable that can hold secrets is set in defaults/main.yml only, never in the spec:
# argument validation prints the filled-in spec when it fails (issue 15).
SECRET_HOLDING = ("kubesec_falco", "kubesec_collect", "kubesec_kubeconfig", "kubesec_drift_alerts")


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_match_defaults(role):
    """Every default is documented with the same value, and every documented default exists."""
    base = COLLECTION / "roles" / role
    specs = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults_file = base / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) or {} if defaults_file.is_file() else {}
    missing = sorted(name for name in set(defaults) - set(specs) if not name.startswith("__"))  # __x: private
    assert not missing, f"{role}: defaults without argument spec: {missing}"
    for name, spec in specs.items():
        if not name.startswith(role + "_"):
            # An inventory-wide kubesec_* variable: the role reads it through a role-prefixed twin in defaults.
            assert name.startswith("kubesec_"), f"{role}: {name} is neither {role}_* nor kubesec_*"
            if "default" in spec:
                twins = [k for k, v in defaults.items() if isinstance(v, str) and ("{{ " + name + " |") in v]
                assert twins, f"{role}: {name} documents a default but no {role}_* variable in defaults reads it"
            continue
        if "default" in spec:
            assert name in defaults, f"{role}: {name} has a documented default but none in defaults/main.yml"
            assert spec["default"] == defaults[name], f"{role}: {name}: spec {spec['default']!r} != {defaults[name]!r}"
        elif name in defaults:
            value = defaults[name]
            assert isinstance(value, str) and _templates_a_secret_holder(value, defaults), (
                f"{role}: {name} is set in defaults but its spec documents no default"
            )
    assert (base / "meta" / "main.yml").is_file()


def _templates_a_secret_holder(value, defaults):
    """Whether a default reads a secret-holding variable, directly or through the role's private __* helpers."""
    import re

    holders = set(SECRET_HOLDING)
    private = {k: v for k, v in defaults.items() if k.startswith("__") and isinstance(v, str)}
    changed = True
    while changed:  # private helpers that read a holder are holders too
        changed = False
        for key, text in private.items():
            if key not in holders and any(re.search(r"\b%s\b" % re.escape(h), text) for h in holders):
                holders.add(key)
                changed = True
    return any(re.search(r"\b%s\b" % re.escape(h), value) for h in holders)


def test_role_names_are_valid():
    import re

    for role in ROLES:
        assert re.match(r"^[a-z][a-z0-9_]*$", role)


IDS = ["4.1.1", "4.1.9", "4.2.1", "4.2.12", "4.3.1"]


@pytest.mark.parametrize(
    ("toggles", "run", "skip", "expected"),
    [
        ({}, ["all"], [], IDS),
        ({"4.2.12": {"enabled": False, "reason": "legacy"}}, ["all"], [], ["4.1.1", "4.1.9", "4.2.1", "4.3.1"]),
        ({"4.2.1": {"enabled": True}}, ["all"], [], IDS),
        ({}, ["cis_4_2_1"], [], ["4.2.1"]),
        ({}, ["cis_4_1"], [], ["4.1.1", "4.1.9"]),
        ({}, ["cis_4_2"], ["cis_4_2_12"], ["4.2.1"]),
        ({}, ["all"], ["cis_4_1"], ["4.2.1", "4.2.12", "4.3.1"]),
        ({}, ["node_hardening"], [], IDS),
        ({}, ["something_else"], [], []),
        ({"4.2.1": {"enabled": False}}, ["cis_4_2_1"], [], []),
    ],
)
def test_cis_selected(toggles, run, skip, expected):
    assert cis_selected(IDS, toggles, run, skip) == expected


def test_cis_tag():
    assert cis_tag("4.2.10") == "cis_4_2_10"


def test_cis_coverage_page_is_up_to_date():
    import subprocess
    import sys

    from tests.conftest import ROOT

    proc = subprocess.run([sys.executable, str(ROOT / "scripts/gen_cis_coverage.py"), "--check"])
    assert proc.returncode == 0, "docs/cis-coverage.md is stale: run scripts/gen_cis_coverage.py"
