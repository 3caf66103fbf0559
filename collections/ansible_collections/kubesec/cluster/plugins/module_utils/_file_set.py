# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep a set of rendered files in one directory in step with what a module computed.

Shared by the modules that render files (feature_values, workload_enforcement): per file written / removed /
unchanged, a diff per change, check mode honoured, each file replaced at once (_io.atomic_write).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.kubesec.cluster.plugins.module_utils import _io
from ansible_collections.kubesec.cluster.plugins.module_utils._nodewrite import selinux_prepare


def read_text(path: str) -> Optional[str]:
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except FileNotFoundError:
        return None


def sync_files(module: Any, dest: str, names: Sequence[str], files: Mapping[str, str]) -> Tuple[bool, List[Dict[str, str]], List[Dict[str, str]]]:
    """For each name: write files[name], or remove the file when files has no entry. Returns (changed, actions, diffs)."""
    actions: List[Dict[str, str]] = []
    diffs: List[Dict[str, str]] = []
    changed = False
    prepare = None if module.check_mode else selinux_prepare(module)
    for name in names:
        path = os.path.join(dest, name)
        before = read_text(path)
        after = files.get(name)
        if before == after:
            if after is not None:
                actions.append({"path": path, "action": "unchanged"})
            continue
        changed = True
        actions.append({"path": path, "action": "written" if after is not None else "removed"})
        diffs.append({"before": before or "", "after": after or "", "before_header": path, "after_header": path})
        if module.check_mode:
            continue
        if after is None:
            os.remove(path)
            continue
        if not os.path.isdir(dest):
            os.makedirs(dest, 0o755)
        _io.atomic_write(path, after, new_mode=0o644, prepare=prepare)
    return changed, actions, diffs
