# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: the multi-cluster index (reports/index.html): the latest report of every cluster.

Only the first lines of each report.json are read (``_formats.read_report_keys``: headline, areas), never its
comparison, sections or findings, so an index over 100 clusters of a million findings each stays fast.
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.kubesec.cluster.plugins.plugin_utils import _formats
from ansible_collections.kubesec.cluster.plugins.plugin_utils._report_history import headline_of, run_dirs

HEAD_KEYS = ("cluster", "headline", "areas", "summary", "run_id", "generated_at")  # all the index shows
REPORT_FILES = ("report.html", "report.pdf", "report.json", "junit.xml", "results.sarif")


def index_entries(reports_dir: str, current: str | None = None) -> list[dict[str, Any]]:
    """The latest report of every cluster under reports_dir: headline numbers for the multi-cluster index."""
    entries: list[dict[str, Any]] = []
    if not os.path.isdir(reports_dir):
        return entries
    for cluster in sorted(os.listdir(reports_dir)):
        cluster_dir = os.path.join(reports_dir, cluster)
        if cluster.startswith(".") or not os.path.isdir(cluster_dir):
            continue
        runs = run_dirs(cluster_dir)
        if not runs:
            continue
        latest = runs[-1]
        run_dir = os.path.join(cluster_dir, latest)
        try:
            head = _formats.read_report_keys(os.path.join(run_dir, "report.json"), HEAD_KEYS)
        except (OSError, ValueError) as exc:
            entries.append({"cluster": cluster, "run_id": latest, "error": str(exc)[:200], "runs": len(runs)})
            continue
        files = dict((name, os.path.isfile(os.path.join(run_dir, name))) for name in REPORT_FILES)
        entries.append(
            {
                "cluster": head.get("cluster") or cluster,
                "dir": cluster,
                "run_id": latest,
                "runs": len(runs),
                "headline": headline_of(head),
                "files": files,
                "areas": head.get("areas") or [],
                "this_run": bool(current and latest == current),
            }
        )
    return entries
