# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: writing report.json, junit.xml and results.sarif in one more pass over the findings.

Every file is written through _io.open_atomic (temp file in the same directory, then rename): a reader never sees
half a report, and a failed run leaves the previous files in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats
from ansible_collections.kubesec.cluster.plugins.plugin_utils._io import open_atomic
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_findings import Finding, gc_paused

WRITERS: dict[str, Any] = {"json": _formats.ReportJsonWriter, "junit": _formats.JUnitWriter, "sarif": _formats.SarifWriter}
REPORT_FILE_MODE = 0o644


def iter_output_findings(model: dict[str, Any]) -> Iterator[Finding]:
    """The findings to write (waivers applied), from the list or by streaming the source again."""
    if "findings" in model:
        yield from model["findings"]
        return
    waiver_set = model["_waivers"]
    with gc_paused():
        for finding in model["_source"]:
            yield waiver_set.apply(finding, count=False)


def write_outputs(model: dict[str, Any], paths: dict[str, str]) -> None:
    """Write report.json / junit.xml / results.sarif in one pass over the findings; paths = {format: path}.

    Each file replaces its old version only after every writer has finished; nothing is replaced on an error.
    """
    with ExitStack() as files:
        active = [WRITERS[fmt](files.enter_context(open_atomic(path, mode=REPORT_FILE_MODE)), model) for fmt, path in paths.items()]
        for finding in iter_output_findings(model):
            for writer in active:
                writer.add(finding)
        for writer in active:
            writer.close()
