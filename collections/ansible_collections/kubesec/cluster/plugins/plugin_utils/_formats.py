# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report's machine formats: report.json (streamed layout), junit.xml and results.sarif.

report.json layout (valid JSON, written so that a reader can stream it):

    {"schema_version": 2,
    "headline": {...},
    "cluster": "...",
    ...                      one top-level key per line, compact JSON
    "findings": [
    {finding},               one finding per line
    {finding}
    ]}

``read_report_head`` reads everything but the findings by reading lines up to the ``"findings": [`` line, so the
history of a cluster (the headline of every kept run) never parses old findings; ``iter_report_findings`` yields the
findings one line at a time (the previous run's fingerprints for the comparison). Both fall back to a full JSON
parse for files of another layout (schema version 1 reports, hand-edited files).

All writers take findings one at a time, so a run with 100,000 findings is never held in memory twice.
"""

from __future__ import annotations

import json
import re
from typing import IO, Any, Collection, Iterator, Mapping
from urllib.parse import quote

from types import ModuleType

orjson: ModuleType | None
try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a controller dependency, json is the fallback
    orjson = None

FINDINGS_LINE = '"findings": ['
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_URI = "https://github.com/kubesec/kubesec.cluster"
# XML 1.0 forbids most control characters even when escaped; cluster text can contain them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Characters that act on a terminal or reorder text instead of showing: C0 controls but tab/newline, DEL, C1
# controls, and the bidi embedding/override/isolate marks that can make a name read as another (U+202A-U+202E,
# U+2066-U+2069; U+200E/U+200F/U+061C marks too). Shown as escapes (\x1b, \u202e) in the HTML, PDF and console.
_INVISIBLE = dict((code, "\\x%02x" % code) for code in (*range(0x00, 0x20), 0x7F) if code not in (0x09, 0x0A))
_INVISIBLE.update((code, "\\u%04x" % code) for code in range(0x80, 0xA0))
_INVISIBLE.update((code, "\\u%04x" % code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C))


def safe_text(value: Any) -> str:
    """Text with control and bidi-override characters shown as escapes (linear, one str.translate)."""
    return str(value).translate(_INVISIBLE)


SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0", "info": "0.0", "unknown": "0.0"}


def dumps(value: Any) -> str:
    """Compact JSON text (UTF-8, no ASCII escaping)."""
    if orjson is not None:
        try:
            return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
        except TypeError:  # lone surrogates (valid as JSON escapes in an input file) or odd types
            return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)


def loads(text: str | bytes) -> Any:
    """Parse JSON fast; fall back to the json module for what orjson refuses but JSON allows (lone surrogates)."""
    if orjson is not None:
        try:
            return orjson.loads(text)
        except ValueError:
            pass
    return json.loads(text)


# ------------------------------------------------------------------------------------------------ report.json
class ReportJsonWriter:
    """Streams report.json: the model's keys (order kept, private '_' keys skipped), then the findings."""

    def __init__(self, handle: IO[str], model: Mapping[str, Any]) -> None:
        self.handle = handle
        self.first = True
        keys = [key for key in model if not key.startswith("_") and key != "findings"]
        lines = ['"%s": %s' % (key, dumps(model[key])) for key in keys]
        handle.write("{" + ",\n".join(lines) + ",\n" + FINDINGS_LINE + "\n")

    def add(self, finding: Mapping[str, Any]) -> None:
        self.handle.write(("" if self.first else ",\n") + dumps(finding))
        self.first = False

    def close(self) -> None:
        self.handle.write("\n]}\n")


def read_report_head(path: str) -> dict[str, Any]:
    """Every top-level key of a report.json except the findings, cheaply for the streamed layout."""
    with open(path, "r", encoding="utf-8") as handle:
        first = handle.readline()
        if first.startswith('{"') and first.rstrip().endswith(","):
            parts = [first[1:]]
            for line in handle:
                if line.rstrip("\n") == FINDINGS_LINE:
                    text = "{" + "".join(parts).rstrip().rstrip(",") + "}"
                    try:
                        return loads(text)
                    except ValueError:
                        break
                parts.append(line)
    with open(path, "r", encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError("%s is not a report (top level is not an object)" % path)
    data.pop("findings", None)
    return data


def read_report_keys(path: str, keys: Collection[str]) -> dict[str, Any]:
    """Only the named top-level keys of a report.json (those it has). In the streamed layout every key is one line
    (compact JSON holds no raw newline), so reading stops once they are all found and the others are not parsed:
    the index and the history need a run's headline, not its comparison or sections (tens of MB at a million
    findings). Any other layout: the whole head, filtered."""
    wanted = set(keys)
    found: dict[str, Any] = {}
    with open(path, "r", encoding="utf-8") as handle:
        first = handle.readline()
        if first.startswith('{"') and first.rstrip().endswith(","):
            line = first[1:]
            while line:  # a cut file (no findings line) goes to read_report_head, which says so
                if line.rstrip("\n") == FINDINGS_LINE:
                    return found
                if not line.startswith('"'):
                    break
                key = line[1:line.find('"', 1)]
                if key in wanted:
                    try:
                        found[key] = loads(line.rstrip().rstrip(",")[len(key) + 4:])  # after '"key": '
                    except ValueError:
                        break
                    if len(found) == len(wanted):
                        return found
                line = handle.readline()
    head = read_report_head(path)
    return dict((key, head[key]) for key in keys if key in head)


def iter_report_findings(path: str) -> Iterator[dict[str, Any]]:
    """The findings of a report.json, one at a time for the streamed layout (full parse otherwise)."""
    with open(path, "r", encoding="utf-8") as handle:
        streamed = False
        for line in handle:
            if line.rstrip("\n") == FINDINGS_LINE:
                streamed = True
                break
        if streamed:
            closed = False
            for number, line in enumerate(handle, 2):
                text = line.rstrip().rstrip(",")
                if not text:
                    continue
                if text in ("]}", "]"):
                    closed = True
                    continue
                try:
                    yield loads(text)
                except ValueError as exc:
                    raise ValueError("%s: finding line %d is not JSON (%s)" % (path, number, exc)) from None
            if not closed:  # cut at a line boundary: every line parsed, the closing "]}" is missing
                raise ValueError("%s ends before its closing ']}': the file is truncated" % path)
            return
    with open(path, "r", encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except ValueError as exc:
            raise ValueError("%s is not readable JSON (%s)" % (path, exc)) from None
    findings = data.get("findings") if isinstance(data, dict) else None
    yield from (f for f in (findings or []) if isinstance(f, dict))


# ------------------------------------------------------------------------------------------------ JUnit XML
def xml_text(value: Any) -> str:
    text = _XML_ILLEGAL.sub("\ufffd", "" if value is None else str(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def xml_attr(value: Any) -> str:
    return xml_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def where(finding: Mapping[str, Any]) -> str:
    """Short human location: node, or namespace/kind/name[/container]."""
    resource = finding.get("resource") or {}
    parts = []
    if finding.get("node") and resource.get("kind") in (None, "Node"):
        return str(finding["node"])
    namespace = finding.get("namespace") or resource.get("namespace")
    if namespace:
        parts.append(str(namespace))
    if resource.get("kind") or resource.get("name"):
        parts.append("%s/%s" % (resource.get("kind") or "?", resource.get("name") or "?"))
    if resource.get("container"):
        parts.append(str(resource["container"]))
    if finding.get("node"):
        parts.append("node " + str(finding["node"]))
    return " ".join(parts) if parts else "cluster"


def evidence_text(finding: Mapping[str, Any], limit: int = 2000) -> str:
    evidence = finding.get("evidence") or {}
    lines = []
    for key in sorted(evidence):
        value = evidence[key]
        text = value if isinstance(value, str) else dumps(value)
        lines.append("%s: %s" % (key, text if len(text) <= 300 else text[:300] + "..."))
    text = "\n".join(lines)
    return text if len(text) <= limit else text[:limit] + "..."


class JUnitWriter:
    """junit.xml: one <testcase> per finding (check/finding id + resource).

    FAIL -> <failure>; WAIVED -> <skipped> with the waiver reason; WARN (manual review / audit mode) -> <skipped>
    with the reason; PASS and INFO -> a passing case. Totals come from the model's per-source counts, computed
    before the findings are streamed, so the root attributes can be written first: one case per finding of each
    source (kube-bench and the native audit are separate cases even for the same check and node).
    """

    def __init__(self, handle: IO[str], model: Mapping[str, Any]) -> None:
        self.handle = handle
        per_source = model["summary"]["by_source"].values()
        total = sum(sum(counts.values()) for counts in per_source)
        failures = sum(counts.get("fail", 0) for counts in per_source)
        skipped = sum(counts.get("waived", 0) + counts.get("warn", 0) for counts in per_source)
        name = "kubesec.%s" % model["cluster"]
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        handle.write('<testsuites name="kubesec" tests="%d" failures="%d" errors="0" skipped="%d" time="0">\n' % (total, failures, skipped))
        handle.write(
            '<testsuite name="%s" tests="%d" failures="%d" errors="0" skipped="%d" time="0" timestamp="%s" '
            'hostname="%s">\n' % (xml_attr(name), total, failures, skipped, xml_attr((model.get("generated_at") or "").rstrip("Z")), xml_attr(model["cluster"]))
        )
        handle.write(
            '<properties><property name="run_id" value="%s"/><property name="cluster" value="%s"/>'
            "</properties>\n" % (xml_attr(model["run_id"]), xml_attr(model["cluster"]))
        )
        self.cluster = model["cluster"]

    def add(self, finding: Mapping[str, Any]) -> None:
        status = finding["status"]
        name = "%s %s" % (finding["id"], where(finding))
        classname = "kubesec.%s.%s" % (self.cluster, finding["source"])
        out = ['<testcase name="%s" classname="%s" time="0"' % (xml_attr(name), xml_attr(classname))]
        if status == "fail":
            body = "%s\n\n%s\n\nRemediation: %s" % (finding.get("title") or "", evidence_text(finding), finding.get("remediation") or "")
            out.append(
                '><failure message="%s" type="%s">%s</failure></testcase>\n'
                % (xml_attr(finding.get("title") or finding["id"]), xml_attr(finding["severity"]), xml_text(body))
            )
        elif status == "waived":
            waiver = finding.get("waiver") or {}
            message = "waived (was %s): %s%s" % (
                finding.get("original_status") or "?",
                waiver.get("reason") or "",
                " (until %s)" % waiver["expires"] if waiver.get("expires") else "",
            )
            out.append('><skipped message="%s"/></testcase>\n' % xml_attr(message))
        elif status == "warn":
            reason = "warn (%s severity, needs review): %s" % (finding["severity"], finding.get("title") or "")
            out.append('><skipped message="%s"/></testcase>\n' % xml_attr(reason))
        else:
            out.append("/>\n")
        self.handle.write("".join(out))

    def close(self) -> None:
        self.handle.write("</testsuite>\n</testsuites>\n")


# ------------------------------------------------------------------------------------------------ SARIF 2.1.0
def _sarif_level(finding: Mapping[str, Any]) -> str:
    status = finding.get("original_status") if finding["status"] == "waived" else finding["status"]
    severity = finding["severity"]
    if status == "fail" and severity in ("critical", "high"):
        return "error"
    if severity == "info":
        return "note"
    return "warning"


def _uri(path: Any) -> str:
    return quote(str(path), safe="/:@-._~!$&'()*+,;=")


class SarifWriter:
    """results.sarif (SARIF 2.1.0): one result per open or waived finding (pass/info are not results).

    Waived findings carry a ``suppressions`` entry (kind external, status accepted, the waiver reason).
    Locations are logical (cluster / node / namespace / kind / name / container); a node file from the evidence
    is added as a physical location. ``partialFingerprints`` holds the kubesec fingerprint, so code-scanning
    tools match results across runs the same way the report does. Rules are collected while results stream and
    written after them (key order does not matter in JSON).
    """

    def __init__(self, handle: IO[str], model: Mapping[str, Any]) -> None:
        self.handle = handle
        self.model = model
        self.rules: dict[str, int] = {}
        self.rule_list: list[dict[str, Any]] = []
        self.first = True
        self.count = 0
        handle.write('{"$schema": "%s", "version": "2.1.0", "runs": [{\n"results": [\n' % SARIF_SCHEMA_URI)

    def _rule_index(self, finding: Mapping[str, Any]) -> int:
        rule_id = finding["id"]
        index = self.rules.get(rule_id)
        if index is None:
            index = len(self.rule_list)
            self.rules[rule_id] = index
            rule = {
                "id": rule_id,
                "name": re.sub(r"[^A-Za-z0-9]+", "", rule_id.title()) or "Rule",
                "shortDescription": {"text": (finding.get("title") or rule_id)[:1000]},
                "help": {"text": (finding.get("remediation") or "See the kubesec report.")[:4000]},
                "defaultConfiguration": {"level": _sarif_level(finding)},
                "properties": {
                    "tags": ["security", "kubernetes", finding["source"]],
                    "security-severity": SECURITY_SEVERITY.get(finding["severity"], "0.0"),
                    "source": finding["source"],
                },
            }
            if finding.get("description"):
                rule["fullDescription"] = {"text": finding["description"][:4000]}
            refs = [r for r in finding.get("references") or [] if isinstance(r, str) and r.startswith("https://")]
            if refs:
                rule["helpUri"] = refs[0]
            self.rule_list.append(rule)
        return index

    def add(self, finding: Mapping[str, Any]) -> None:
        status = finding["status"]
        if status not in ("fail", "warn", "waived"):
            return
        resource = finding.get("resource") or {}
        parts = [self.model["cluster"]]
        for value in (
            finding.get("node"),
            finding.get("namespace") or resource.get("namespace"),
            resource.get("kind"),
            resource.get("name"),
            resource.get("container"),
        ):
            if value and value not in parts[1:]:
                parts.append(str(value))
        location: dict[str, Any] = {
            "logicalLocations": [
                {
                    "name": str(resource.get("name") or finding.get("node") or self.model["cluster"]),
                    "fullyQualifiedName": "/".join(parts),
                    "kind": "resource" if resource.get("name") or resource.get("kind") else "module",
                }
            ]
        }
        evidence = finding.get("evidence") or {}
        if isinstance(evidence.get("file"), str) and evidence["file"].startswith("/"):
            location["physicalLocation"] = {"artifactLocation": {"uri": _uri(evidence["file"])}}
        score = finding.get("score")
        result = {
            "ruleId": finding["id"],
            "ruleIndex": self._rule_index(finding),
            "level": _sarif_level(finding),
            "message": {
                "text": "%s (%s, %s): %s"
                % (finding.get("title") or finding["id"], status if status != "waived" else "waived", finding["severity"], where(finding))
            },
            "locations": [location],
            "partialFingerprints": {"kubesecFingerprint/v1": finding["fingerprint"]},
            "properties": {"source": finding["source"], "status": status, "severity": finding["severity"]},
        }
        if score is not None:
            result["properties"]["cvss"] = score
        if status == "waived":
            waiver = finding.get("waiver") or {}
            result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": str(waiver.get("reason") or "")[:1000]}]
        self.handle.write(("" if self.first else ",\n") + dumps(result))
        self.first = False
        self.count += 1

    def close(self) -> None:
        driver = {"name": "kubesec", "informationUri": TOOL_URI, "semanticVersion": "0.1.0", "rules": self.rule_list}
        run_tail = {
            "tool": {"driver": driver},
            "automationDetails": {"id": "kubesec/%s/%s" % (self.model["cluster"], self.model["run_id"])},
            "invocations": [{"executionSuccessful": True, "endTimeUtc": self.model.get("generated_at") or "1970-01-01T00:00:00Z"}],
            "columnKind": "unicodeCodePoints",
            "properties": {
                "cluster": self.model["cluster"],
                "run_id": self.model["run_id"],
                "note": "Only FAIL, WARN and WAIVED findings are results; PASS and INFO are in report.json.",
            },
        }
        tail = dumps(run_tail)
        self.handle.write("\n],\n" + tail[1:-1] + "}]}\n")
