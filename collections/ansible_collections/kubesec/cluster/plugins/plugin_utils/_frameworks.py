"""Compliance frameworks: which controls of CIS, the Pod Security Standards, NSA/CISA and MITRE ATT&CK a run
passed, failed, left for review or could not assess, from the run's findings.

Data, not code, says what each control means (collection data/frameworks/*.yml, each file naming its source):
- nsa-cisa / pss-baseline / pss-restricted: generated from the compliance specs of the pinned Trivy Operator chart
  (scripts/frameworks-from-trivy), so a control is decided by the same checks as Trivy's own compliance report;
- mitre-attack-containers: written by hand, every mapping with the ATT&CK page it comes from;
- CIS: built from the run's own CIS catalogue (one control per check id; plugin_utils/_catalogue).

A control lists checks by finding id: ``KSV-0017`` (Trivy config audit), ``KCV-0001`` (Trivy infra assessment),
``CIS-1.2.1`` (kubesec's CIS audit and kube-bench), ``KS-WL-015`` (workload rules), ``source:<name>`` (any
finding of that source), and, for ATT&CK, Falco events tagged with the technique id. A workload rule answers a
KSV check when the rule states the KSV id it covers (``rule_ksv``), so a cluster without the Trivy Operator is
still assessed by kubesec's own rules.

How a check is decided: FAIL when a finding for it failed (not waived); REVIEW when one is WARN; PASS when one
passed, or when a source that reports only failures (workload rules, Trivy, Falco) ran and succeeded and found
nothing; otherwise NOT ASSESSED. A control takes the worst answer of the checks that were assessed (they are
alternative ways of asking the same question); a control with no check is MANUAL. The score
is 100 x passed / (passed + failed + review), over assessed controls only.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

DATA_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "data", "frameworks"))

# Sources that write a finding only for a problem: "ran and found nothing" is a pass for their checks.
FAILURE_ONLY_SOURCES = frozenset({
    "workload", "trivy-config", "trivy-rbac", "trivy-infra", "trivy-vulnerability", "trivy-exposed-secret", "falco",
})
# Which sources can decide a check, by the check id's form.
CIS_SOURCES = ("cis-node", "cis-control-plane", "kube-bench")
PREFIX_SOURCES = (
    ("KSV-", ("trivy-config",)),
    ("KCV-", ("trivy-infra",)),
    ("CIS-", CIS_SOURCES),
    ("KS-WL-", ("workload",)),
)
STATUSES = ("pass", "fail", "review", "not_assessed", "manual")
_ORDER = {"fail": 0, "review": 1, "pass": 2, "not_assessed": 3}
MAX_EXAMPLES = 5
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")


class FrameworkDataError(ValueError):
    """A framework data file is malformed (the message names the file and the place)."""


def _require(cond: bool, path: str, place: str, what: str) -> None:
    if not cond:
        raise FrameworkDataError("%s: %s: %s" % (path, place, what))


def _validate(doc: Any, path: str) -> dict[str, Any]:
    _require(isinstance(doc, dict), path, "top level", "must be a mapping")
    for key in ("id", "title", "source"):
        _require(isinstance(doc.get(key), str) and bool(doc.get(key)), path, key, "must be a non-empty string")
    controls = doc.get("controls")
    _require(isinstance(controls, list) and bool(controls), path, "controls", "must be a non-empty list")
    seen = set()
    for index, control in enumerate(controls):
        place = "controls[%d]" % index
        _require(isinstance(control, dict), path, place, "must be a mapping")
        cid = control.get("id")
        _require(isinstance(cid, str) and bool(cid), path, place + ".id", "must be a non-empty string")
        _require(cid not in seen, path, place + ".id", "duplicate control id %r" % cid)
        seen.add(cid)
        _require(isinstance(control.get("name"), str), path, place + ".name", "must be a string")
        for key in ("checks", "cis", "techniques"):
            value = control.get(key, [])
            _require(isinstance(value, list) and all(isinstance(v, str) for v in value), path,
                     "%s.%s" % (place, key), "must be a list of strings")
    return doc


def load(directory: str = DATA_DIR) -> list[dict[str, Any]]:
    """Every framework data file of ``directory``, validated, in a stable order."""
    frameworks = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yml"))):
        try:
            with open(path, encoding="utf-8") as handle:
                doc = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError) as exc:
            raise FrameworkDataError("%s: cannot read: %s" % (path, exc)) from None
        frameworks.append(_validate(doc, path))
    return frameworks


def cis_framework(catalogue: Mapping[str, Any]) -> dict[str, Any]:
    """The CIS benchmark of the run as a framework: one control per check of its (resolved) catalogue."""
    controls = []
    for check in catalogue.get("checks", []):
        check_id = str(check["id"])
        controls.append({"id": check_id, "name": str(check.get("title", "")),
                         "severity": str(check.get("severity", "unknown")), "checks": ["CIS-" + check_id]})
    version = str(catalogue.get("version", "cis"))
    return {"id": version, "title": "CIS Kubernetes Benchmark (%s)" % version, "version": version,
            "source": str(catalogue.get("source", "kubesec CIS catalogue %s" % version)), "controls": controls}


def _check_sources(check: str) -> tuple[str, ...]:
    if check.startswith("source:"):
        return (check[len("source:"):],)
    for prefix, sources in PREFIX_SOURCES:
        if check.startswith(prefix):
            return sources
    return ()


class _Index:
    """Findings by id, by covered KSV id (workload rules), by source and by ATT&CK technique tag."""

    def __init__(self, findings: Iterable[Mapping[str, Any]], rule_ksv: Mapping[str, Iterable[str]]) -> None:
        self.by_id: dict[str, list[Mapping[str, Any]]] = {}
        self.by_source: dict[str, list[Mapping[str, Any]]] = {}
        self.by_technique: dict[str, list[Mapping[str, Any]]] = {}
        # KSV ids a workload rule answers: when the rules ran, such a check is assessed without Trivy
        self.rule_covered = {ksv for ksvs in rule_ksv.values() for ksv in ksvs}
        for finding in findings:
            fid = str(finding.get("id", ""))
            self.by_id.setdefault(fid, []).append(finding)
            for ksv in rule_ksv.get(fid, ()):
                self.by_id.setdefault(ksv, []).append(finding)
            self.by_source.setdefault(str(finding.get("source", "")), []).append(finding)
            if finding.get("source") == "falco":
                for tag in finding.get("tags") or ():
                    if isinstance(tag, str) and _TECHNIQUE.match(tag):
                        self.by_technique.setdefault(tag, []).append(finding)


def _decide(found: list[Mapping[str, Any]], sources: Iterable[str], assessed_sources: set[str]) -> str:
    statuses = {f.get("status") for f in found}
    if "fail" in statuses:
        return "fail"
    if "warn" in statuses:
        return "review"
    if statuses & {"pass", "waived"}:
        return "pass"
    if any(s in assessed_sources and s in FAILURE_ONLY_SOURCES for s in sources):
        return "pass"
    return "not_assessed"


def _technique_findings(index: _Index, technique: str) -> list[Mapping[str, Any]]:
    """Falco events tagged with the technique or one of its sub-techniques (T1552 covers T1552.007)."""
    out: list[Mapping[str, Any]] = []
    for tag, found in index.by_technique.items():
        if tag == technique or tag.startswith(technique + "."):
            out.extend(found)
    return out


def _control(control: Mapping[str, Any], index: _Index, assessed_sources: set[str],
             extra: Iterable[str] = ()) -> dict[str, Any]:
    checks = list(control.get("checks", [])) + ["CIS-" + c for c in control.get("cis", [])]
    checks += [c for c in extra if c not in checks]
    decided: list[tuple[str, str]] = []
    examples: list[Mapping[str, Any]] = []
    for check in checks:
        if check.startswith("source:"):
            found = list(index.by_source.get(check[len("source:"):], []))
        else:
            found = list(index.by_id.get(check, []))
        sources = _check_sources(check) + (("workload",) if check in index.rule_covered else ())
        decided.append((check, _decide(found, sources, assessed_sources)))
        examples.extend(f for f in found if f.get("status") in ("fail", "warn"))
    for technique in control.get("techniques", []):
        found = _technique_findings(index, technique)
        decided.append(("falco:" + technique, _decide(found, ("falco",), assessed_sources)))
        examples.extend(f for f in found if f.get("status") in ("fail", "warn"))
    if not decided:
        status = "manual"
    else:
        # the checks of one control are ways of answering the same question (Trivy's check, kubesec's rule, the
        # CIS id): the worst answer given decides, and one assessed answer is enough
        status = min((s for _, s in decided), key=lambda s: _ORDER[s])
    seen, shown = set(), []
    for finding in examples:
        key = (finding.get("id"), finding.get("fingerprint"))
        if key in seen:
            continue
        seen.add(key)
        resource = finding.get("resource") or {}
        shown.append({"id": finding.get("id"), "status": finding.get("status"), "node": finding.get("node"),
                      "namespace": resource.get("namespace"), "name": resource.get("name")})
    return {"id": control["id"], "name": control.get("name", ""), "severity": control.get("severity", "unknown"),
            "status": status, "checks": [{"check": c, "status": s} for c, s in decided],
            "problems": len(seen), "examples": shown[:MAX_EXAMPLES]}


def evaluate(findings: Iterable[Mapping[str, Any]], frameworks: Iterable[Mapping[str, Any]], *,
             assessed_sources: Iterable[str], rule_ksv: Mapping[str, Iterable[str]] | None = None,
             extra_checks: Mapping[str, Mapping[str, Iterable[str]]] | None = None) -> list[dict[str, Any]]:
    """One view per framework: each control's status, counts per status and the score (None if nothing assessed).

    ``assessed_sources``: the findings sources that ran and succeeded this run (failed or absent sources leave
    their checks not assessed rather than passed). ``rule_ksv``: workload rule id -> the Trivy KSV ids it covers.
    ``extra_checks``: framework id -> control id -> more check ids (the workload rules' own mappings,
    ``rule_checks``).
    """
    index = _Index(findings, rule_ksv or {})
    assessed = set(assessed_sources)
    extra_checks = extra_checks or {}
    views = []
    for framework in frameworks:
        extra = extra_checks.get(framework["id"], {})
        controls = [_control(c, index, assessed, extra.get(c["id"], ())) for c in framework["controls"]]
        counts = {s: 0 for s in STATUSES}
        for control in controls:
            counts[control["status"]] += 1
        graded = counts["pass"] + counts["fail"] + counts["review"]
        views.append({
            "id": framework["id"], "title": framework["title"], "version": framework.get("version", ""),
            "document": framework.get("document", ""), "source": framework["source"],
            "counts": counts, "controls_total": len(controls),
            "score": round(100.0 * counts["pass"] / graded, 1) if graded else None,
            "controls": controls,
        })
    return views


def rule_ksv_map(ksv_rule_map: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Invert the workload rules' KSV map (KSV id -> {"rule": ...}) into rule id -> KSV ids."""
    out: dict[str, list[str]] = {}
    for ksv, entry in sorted(ksv_rule_map.items()):
        out.setdefault(str(entry["rule"]), []).append(ksv)
    return out


def _slug(name: str) -> str:
    """'/proc Mount Type' -> 'proc-mount-type' (how the workload rules name a Pod Security Standard control)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def rule_checks(rule_frameworks: Mapping[str, Mapping[str, Iterable[Mapping[str, Any]]]],
                frameworks: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Framework id -> control id -> the workload rules that state they answer it (their ``frameworks`` metadata).

    PSS: a rule's ``baseline/<control>`` answers that control in pss-baseline and in the baseline part of
    pss-restricted (whose first controls are the baseline's, in the same order); ``restricted/<control>`` answers
    the restricted part. CIS: a section-5 id answers that control of the run's CIS framework (ids ``cis-*``).
    ATT&CK: a technique id answers that technique.
    """
    frameworks = list(frameworks)
    by_id = {f["id"]: f for f in frameworks}
    baseline_size = len(by_id["pss-baseline"]["controls"]) if "pss-baseline" in by_id else 0
    out: dict[str, dict[str, list[str]]] = {}

    def add(fid: str, cid: str, rid: str) -> None:
        out.setdefault(fid, {}).setdefault(cid, [])
        if rid not in out[fid][cid]:
            out[fid][cid].append(rid)

    for rid, mapped in sorted(rule_frameworks.items()):
        for pss in mapped.get("pss", ()):
            level, control = str(pss.get("level")), str(pss.get("control"))
            for fid in ("pss-baseline", "pss-restricted"):
                if fid not in by_id or (fid == "pss-baseline" and level != "baseline"):
                    continue
                for position, item in enumerate(by_id[fid]["controls"]):
                    part = "baseline" if fid == "pss-baseline" or position < baseline_size else "restricted"
                    if part == level and _slug(item["name"]) == control:
                        add(fid, item["id"], rid)
        for cis in mapped.get("cis", ()):
            for fid in by_id:
                if fid.startswith("cis-"):
                    add(fid, str(cis.get("id")), rid)
        for technique in mapped.get("mitre", ()):
            for item in by_id.get("mitre-attack-containers", {}).get("controls", ()):
                if item["id"] == technique.get("id"):
                    add("mitre-attack-containers", item["id"], rid)
    return out
