# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a run writes its reports when the inventory does not say (kubesec_reports_dir)."""

from __future__ import annotations

import os


def reports_dir(playbook_dir: str) -> str:
    """The default reports folder for a run started from ``playbook_dir`` (Ansible's variable).

    A project's playbooks/ folder (this repository, or a project importing kubesec.cluster.site) keeps its reports
    beside it, in <project>/reports. A playbook run straight from the collection (`ansible-playbook
    kubesec.cluster.site`) must not write into the installed collection: its reports go to ./reports of the
    directory ansible-playbook was started from.
    """
    folder = os.path.normpath(str(playbook_dir))
    parts = folder.split(os.sep)
    if len(parts) >= 4 and parts[-4] == "ansible_collections" and parts[-1] == "playbooks":
        return os.path.join(os.getcwd(), "reports")
    return os.path.join(os.path.dirname(folder), "reports")


class FilterModule:
    def filters(self):
        return {"reports_dir": reports_dir}
