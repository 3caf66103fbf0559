#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make one demo node worse, to show drift alerts on the next `make demo` (`make demo DRIFT=webhook WORSE=<node>`).

Switches the kubelet's anonymous authentication back on and opens the read-only port in
<node tree>/var/lib/kubelet/config.yaml (CIS 4.2.1 and 4.2.4 then fail on that node).

    python scripts/demo_worsen_node.py .demo/nodes/demo-worker-2
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def worsen(tree: Path) -> Path:
    path = tree / "var/lib/kubelet/config.yaml"
    if not path.is_file():
        raise SystemExit("%s: no kubelet config here (is %s a demo node tree under .demo/nodes?)" % (path, tree))
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(config, dict):
        raise SystemExit("%s: not a KubeletConfiguration mapping" % path)
    config.setdefault("authentication", {}).setdefault("anonymous", {})["enabled"] = True
    config["readOnlyPort"] = 10255
    mode = path.stat().st_mode & 0o7777
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    path.chmod(mode)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print("made worse: %s (anonymous auth on, read-only port 10255)" % worsen(Path(sys.argv[1])))
