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
FAILURE_ONLY_SOURCES = frozenset(
    {
        "workload",
        "trivy-config",
        "trivy-rbac",
        "trivy-infra",
        "trivy-vulnerability",
        "trivy-exposed-secret",
        "falco",
    }
)
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
            _require(isinstance(value, list) and all(isinstance(v, str) for v in value), path, "%s.%s" % (place, key), "must be a list of strings")
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


def cis_framework(catalogue: Mapping[str, Any], policies: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The CIS benchmark of the run as a framework: one control per check of its (resolved) node/control-plane
    catalogue and of its section-5 catalogue (``policies``, data/cis_policies)."""
    controls = []
    for check in [*catalogue.get("checks", []), *((policies or {}).get("checks", []))]:
        check_id = str(check["id"])
        controls.append({"id": check_id, "name": str(check.get("title", "")), "severity": str(check.get("severity", "unknown")), "checks": ["CIS-" + check_id]})
    version = str(catalogue.get("version", "cis"))
    return {
        "id": version,
        "title": "CIS Kubernetes Benchmark (%s)" % version,
        "version": version,
        "source": str(catalogue.get("source", "kubesec CIS catalogue %s" % version)),
        "controls": controls,
    }


def _check_sources(check: str) -> tuple[str, ...]:
    if check.startswith("source:"):
        return (check[len("source:"):],)
    for prefix, sources in PREFIX_SOURCES:
        if check.startswith(prefix):
            return sources
    return ()


_RANK = {"fail": 0, "warn": 1, "pass": 2, "waived": 3, "info": 4}


class _Seen:
    """What the run said about one check id (or source, or technique): its statuses and a few problem examples."""

    __slots__ = ("examples", "statuses")

    def __init__(self) -> None:
        self.statuses: set[str] = set()
        self.examples: list[dict[str, Any]] = []

    def add(self, finding: Mapping[str, Any]) -> None:
        status = str(finding.get("status"))
        self.statuses.add(status)
        if status in ("fail", "warn") and len(self.examples) < MAX_EXAMPLES:
            resource = finding.get("resource") or {}
            self.examples.append(
                {"id": finding.get("id"), "status": status, "node": finding.get("node"), "namespace": resource.get("namespace"), "name": resource.get("name")}
            )


class Tally:
    """The findings of a run reduced to what the frameworks need, fed one finding at a time (bounded memory: one
    entry per distinct finding id, source and technique, a few examples each)."""

    def __init__(self, rule_ksv: Mapping[str, Iterable[str]] | None = None) -> None:
        self.rule_ksv = dict((rule, tuple(ksvs)) for rule, ksvs in (rule_ksv or {}).items())
        self.by_id: dict[str, _Seen] = {}
        self.by_source: dict[str, _Seen] = {}
        self.by_technique: dict[str, _Seen] = {}
        self.benchmarks: dict[str, int] = {}
        # KSV ids a workload rule answers: when the rules ran, such a check is assessed without Trivy
        self.rule_covered = {ksv for ksvs in self.rule_ksv.values() for ksv in ksvs}

    @staticmethod
    def _seen(table: dict[str, _Seen], key: str) -> _Seen:
        seen = table.get(key)
        if seen is None:
            seen = table[key] = _Seen()
        return seen

    def add(self, finding: Mapping[str, Any]) -> None:
        fid = str(finding.get("id", ""))
        self._seen(self.by_id, fid).add(finding)
        for ksv in self.rule_ksv.get(fid, ()):
            self._seen(self.by_id, ksv).add(finding)
        source = str(finding.get("source", ""))
        self._seen(self.by_source, source).add(finding)
        if source == "falco":
            for tag in finding.get("tags") or ():
                if isinstance(tag, str) and _TECHNIQUE.match(tag):
                    self._seen(self.by_technique, tag).add(finding)
        benchmark = finding.get("benchmark")
        if isinstance(benchmark, str) and fid.startswith("CIS-"):
            self.benchmarks[benchmark] = self.benchmarks.get(benchmark, 0) + 1

    def benchmark(self) -> str | None:
        """The CIS benchmark most results of the run were judged against (None without CIS results)."""
        return max(sorted(self.benchmarks), key=lambda name: self.benchmarks[name]) if self.benchmarks else None


def _decide(seen: list[_Seen], sources: Iterable[str], assessed_sources: set[str]) -> str:
    statuses: set[str] = set()
    for item in seen:
        statuses |= item.statuses
    if "fail" in statuses:
        return "fail"
    if "warn" in statuses:
        return "review"
    if statuses & {"pass", "waived"}:
        return "pass"
    if any(s in assessed_sources and s in FAILURE_ONLY_SOURCES for s in sources):
        return "pass"
    return "not_assessed"


def _technique_seen(tally: Tally, technique: str) -> list[_Seen]:
    """Falco events tagged with the technique or one of its sub-techniques (T1552 covers T1552.007)."""
    return [seen for tag, seen in tally.by_technique.items() if tag == technique or tag.startswith(technique + ".")]


def _control(control: Mapping[str, Any], tally: Tally, assessed_sources: set[str], extra: Iterable[str] = ()) -> dict[str, Any]:
    checks = list(control.get("checks", [])) + ["CIS-" + c for c in control.get("cis", [])]
    checks += [c for c in extra if c not in checks]
    decided: list[tuple[str, str]] = []
    examples: list[dict[str, Any]] = []
    for check in checks:
        if check.startswith("source:"):
            found = [tally.by_source[check[len("source:"):]]] if check[len("source:"):] in tally.by_source else []
        else:
            found = [tally.by_id[check]] if check in tally.by_id else []
        sources = _check_sources(check) + (("workload",) if check in tally.rule_covered else ())
        decided.append((check, _decide(found, sources, assessed_sources)))
        for seen in found:
            examples.extend(seen.examples)
    for technique in control.get("techniques", []):
        found = _technique_seen(tally, technique)
        decided.append(("falco:" + technique, _decide(found, ("falco",), assessed_sources)))
        for seen in found:
            examples.extend(seen.examples)
    if not decided:
        status = "manual"
    else:
        # the checks of one control are ways of answering the same question (Trivy's check, kubesec's rule, the
        # CIS id): the worst answer given decides, and one assessed answer is enough
        status = min((s for _check, s in decided), key=lambda s: _ORDER[s])
    shown: list[dict[str, Any]] = []
    for example in examples:
        if example not in shown:
            shown.append(example)
    return {
        "id": control["id"],
        "name": control.get("name", ""),
        "severity": control.get("severity", "unknown"),
        "status": status,
        "checks": [{"check": c, "status": s} for c, s in decided],
        "examples": shown[:MAX_EXAMPLES],
    }


def evaluate(
    findings: Iterable[Mapping[str, Any]] | Tally,
    frameworks: Iterable[Mapping[str, Any]],
    *,
    assessed_sources: Iterable[str],
    rule_ksv: Mapping[str, Iterable[str]] | None = None,
    extra_checks: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
) -> list[dict[str, Any]]:
    """One view per framework: each control's status, counts per status and the score (None if nothing assessed).

    ``assessed_sources``: the findings sources that ran and succeeded this run (failed or absent sources leave
    their checks not assessed rather than passed). ``rule_ksv``: workload rule id -> the Trivy KSV ids it covers.
    ``extra_checks``: framework id -> control id -> more check ids (the workload rules' own mappings,
    ``rule_checks``). ``findings``: the findings, or a ``Tally`` fed with them (then ``rule_ksv`` is the tally's).
    """
    if isinstance(findings, Tally):
        index = findings
    else:
        index = Tally(rule_ksv)
        for finding in findings:
            index.add(finding)
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
        views.append(
            {
                "id": framework["id"],
                "title": framework["title"],
                "version": framework.get("version", ""),
                "document": framework.get("document", ""),
                "source": framework["source"],
                "counts": counts,
                "controls_total": len(controls),
                "score": round(100.0 * counts["pass"] / graded, 1) if graded else None,
                "controls": controls,
            }
        )
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


def rule_checks(
    rule_frameworks: Mapping[str, Mapping[str, Iterable[Mapping[str, Any]]]], frameworks: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, list[str]]]:
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


# ---------------------------------------------------------------------------------------------- the report's view
_LOADED: dict[str, list[dict[str, Any]]] = {}


def _data(directory: str = DATA_DIR) -> list[dict[str, Any]]:
    if directory not in _LOADED:
        _LOADED[directory] = load(directory)
    return _LOADED[directory]


def assessed_sources(areas: Iterable[Mapping[str, Any]], by_source: Mapping[str, Mapping[str, int]]) -> set[str]:
    """The findings sources that ran and succeeded this run: their area is assessed (a failed source leaves its
    area not assessed), and they wrote findings or one of their collectors graded the area."""
    from ansible_collections.kubesec.cluster.plugins.module_utils._sources import SOURCE_TABLE

    ok = dict((a["area"], set(a.get("graded_by") or ())) for a in areas if a.get("assessed"))
    out = set()
    for source in SOURCE_TABLE:
        for area in (source.area,) if source.area else source.areas:
            wrote = any(count for count in (by_source.get(source.name) or {}).values())
            if area in ok and (wrote or ok[area] & set(source.collectors)):
                out.add(source.name)
    return out


def report_view(tally: Tally, areas: Iterable[Mapping[str, Any]], by_source: Mapping[str, Mapping[str, int]], directory: str = DATA_DIR) -> dict[str, Any]:
    """report.json's ``frameworks``: the run's CIS benchmark (when CIS results exist) and every framework of
    data/frameworks, each control decided from this run's findings; ``notes`` says what could not be built."""
    from ansible_collections.kubesec.cluster.plugins.module_utils._workload_rules import rule_frameworks
    from ansible_collections.kubesec.cluster.plugins.plugin_utils import _catalogue, _policies_catalogue

    frameworks = list(_data(directory))
    notes = []
    benchmark = tally.benchmark()
    if benchmark:
        try:
            catalogue = _catalogue.load(benchmark)
        except (_catalogue.CatalogueNotFound, ValueError) as exc:
            notes.append("CIS %s: %s" % (benchmark, exc))
        else:
            policies = None
            plain = benchmark.split("-cis-")[-1] if "-cis-" in benchmark else None
            try:
                policies = _policies_catalogue.for_benchmark("cis-" + plain if plain else benchmark)
            except ValueError:
                notes.append("CIS %s: section 5 is not catalogued for this benchmark" % benchmark)
            frameworks.insert(0, cis_framework(catalogue, policies))
    views = evaluate(tally, frameworks, assessed_sources=assessed_sources(areas, by_source), extra_checks=rule_checks(rule_frameworks(), frameworks))
    return {
        "frameworks": views,
        "notes": notes,
        "method": "docs/frameworks.md: a control fails when a finding of one of its checks failed, is for review "
        "when one is WARN, passes when one passed or when a source that reports only problems ran and "
        "reported none; otherwise it is not assessed. Score = passed / (passed + failed + review).",
    }
