# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep a set of rendered files in one directory in step with what a module computed.

Shared by the modules that render files (feature_values, workload_enforcement): per file written / removed /
unchanged, a diff per change, check mode honoured, writes through a temp file in the directory and atomic_move.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type  # pylint: disable=invalid-name

import os
import tempfile

from ansible.module_utils.common.text.converters import to_bytes


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except FileNotFoundError:
        return None


def sync_files(module, dest, names, files):
    """For each name: write files[name], or remove the file when files has no entry. Returns (changed, actions, diffs)."""
    actions, diffs, changed = [], [], False
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
        fd, tmp = tempfile.mkstemp(prefix=".%s." % name, dir=dest)
        module.add_cleanup_file(tmp)
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_bytes(after))
        os.chmod(tmp, 0o644)
        module.atomic_move(tmp, path)
    return changed, actions, diffs
