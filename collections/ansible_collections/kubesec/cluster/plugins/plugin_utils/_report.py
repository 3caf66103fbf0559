# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: the report of one cluster run, from its findings files to report.json and the index.

This module is the report's entry point (the report and report_index actions, the benchmarks and the tests use
it); the work is done along these seams:

- _report_findings: reading findings files (streamed), ReportInputError, the problem statuses
- _report_waivers: validating and applying kubesec_waivers
- _report_history: kept runs, headlines, comparison with the previous run
- _report_sections: the sections (SECTIONS, their templates) and their per-section states
- _report_model: ``build`` (the one pass) and the console summary
- _report_writers: report.json / junit.xml / results.sarif in one more pass
- _report_index: the multi-cluster index

Rendering is in _render.py, the machine formats in _formats.py, scores and gates in _scoring.py, the other inputs
in _inputs.py, the findings sources in module_utils/_sources.py.
"""

from __future__ import annotations

from ansible_collections.kubesec.cluster.plugins.plugin_utils._io import atomic_write
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_findings import (  # noqa: F401  # pylint: disable=unused-import
    PROBLEM_STATUSES,
    STATUS_RANK,
    FindingsDir,
    ReportInputError,
    gc_paused,
    iter_findings_file,
    load_findings,
)
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_history import (  # noqa: F401  # pylint: disable=unused-import
    COMPARISON_DETAILS,
    HISTORY_RUNS,
    PreviousRun,
    compare,
    comparison_key,
    count_by,
    headline_of,
    previous_run,
    read_history,
    run_dirs,
    summarize,
)
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_index import index_entries  # noqa: F401  # pylint: disable=unused-import
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_model import (  # noqa: F401  # pylint: disable=unused-import
    REPORT_SCHEMA_VERSION,
    build,
    console_summary,
)
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_sections import (  # noqa: F401  # pylint: disable=unused-import
    DEFAULT_ROWS,
    SOURCE_TITLES,
    TopN,
    is_fixable,
)
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_waivers import (  # noqa: F401  # pylint: disable=unused-import
    Waivers,
    apply_waivers,
)
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_writers import (  # noqa: F401  # pylint: disable=unused-import
    iter_output_findings,
    write_outputs,
)


def write_atomic(path: str, data: bytes | str, mode: int = 0o644) -> None:
    """The report's files: ``_io.atomic_write`` with the report's mode (0644 unless told)."""
    atomic_write(path, data, mode=mode)
