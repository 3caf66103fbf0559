#!/usr/bin/env python3
"""Write the generated parts of docs/workload-rules.md from the workload rule registry.

    .venv/bin/python scripts/gen_workload_rules_doc.py          # rewrite the generated blocks
    .venv/bin/python scripts/gen_workload_rules_doc.py --check  # exit 1 when the page is out of date (the tests do)

The blocks sit between ``<!-- BEGIN generated: NAME -->`` and ``<!-- END generated: NAME -->``; the text around
them is written by hand. Blocks: ``rules`` (the rule table), ``pss`` (every Pod Security Standard control and the
rules that decide it), ``frameworks`` (CIS, NSA/CISA, MITRE ATT&CK per rule).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs/workload-rules.md"
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.kubesec.cluster.plugins.module_utils import _wl_rule  # noqa: E402
from ansible_collections.kubesec.cluster.plugins.module_utils._wl_registry import RULES, rule_frameworks  # noqa: E402


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def rules_table() -> str:
    lines = [
        "| Id | Short name | Title | Severity | Scope | Parameters (default) | Trivy KSV | Gatekeeper template | PSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rule in RULES:
        params = "<br>".join("`%s` (`%s`)" % (name, _cell(json.dumps(spec["default"]))) for name, spec in rule["params"].items()) or "none"
        severity = rule["severity"] + (" (%s)" % rule["severity_note"] if rule["severity_note"] else "")
        lines.append(
            "| %s | `%s` | %s | %s | %s | %s | %s | %s | %s |"
            % (
                rule["id"],
                rule["name"],
                _cell(rule["title"]),
                severity,
                rule["scope"],
                params,
                ", ".join(rule["ksv"]) or "none",
                "`%s`" % rule["gatekeeper"] if rule["gatekeeper"] else "none",
                rule["pss"] or "-",
            )
        )
    return "\n".join(lines)


def pss_table() -> str:
    frameworks = rule_frameworks()
    lines = ["| Level | Control | Rules |", "|---|---|---|"]
    for level in ("baseline", "restricted"):
        for slug, (name, levels) in _wl_rule.PSS_CONTROLS.items():
            if level not in levels:
                continue
            ids = [rid for rid, mapped in frameworks.items() if any(entry["id"] == "%s/%s" % (level, slug) for entry in mapped["pss"])]
            lines.append("| %s | %s (`%s/%s`) | %s |" % (level, name, level, slug, ", ".join(ids) or "**none**"))
    return "\n".join(lines)


def frameworks_table() -> str:
    frameworks = rule_frameworks()
    lines = ["| Rule | CIS (%s) | NSA/CISA Kubernetes Hardening Guide v1.2 | MITRE ATT&CK for Containers |" % _wl_rule.CIS_VERSION, "|---|---|---|---|"]
    for rule in RULES:
        mapped = frameworks[rule["id"]]
        lines.append(
            "| `%s` (%s) | %s | %s | %s |"
            % (
                rule["name"],
                rule["id"],
                ", ".join(entry["id"] for entry in mapped["cis"]) or "-",
                "; ".join(entry["name"] for entry in mapped["nsa"]) or "-",
                ", ".join("%s %s" % (entry["id"], entry["name"]) for entry in mapped["mitre"]) or "-",
            )
        )
    return "\n".join(lines)


BLOCKS = {"rules": rules_table, "pss": pss_table, "frameworks": frameworks_table}


def render(text: str) -> str:
    """The page with every generated block replaced; ValueError when a block's markers are missing."""
    for name, build in BLOCKS.items():
        pattern = re.compile(r"(<!-- BEGIN generated: %s -->\n)(?:.*?\n)?(<!-- END generated: %s -->)" % (name, name), re.S)
        if not pattern.search(text):
            raise ValueError("%s: the markers of the generated block %r are missing" % (PAGE, name))
        body = build()
        text = pattern.sub(lambda match: match.group(1) + body + "\n" + match.group(2), text)  # noqa: B023
    return text


def main(argv: list[str]) -> int:
    current = PAGE.read_text(encoding="utf-8")
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print("%s is out of date: run scripts/gen_workload_rules_doc.py" % PAGE, file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        PAGE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
