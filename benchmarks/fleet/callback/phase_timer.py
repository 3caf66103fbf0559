# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only notification callback: when each play starts and when each host's last result of it arrived.

Writes JSON to $KUBESEC_PHASE_TIMER_OUT at the end of the run:
{"plays": [{"name", "start", "end", "hosts": {host: seconds from play start to the host's last result}}]}
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: phase_timer
type: aggregate
short_description: Play and per-host timings for benchmarks/fleet
description: Records play start/end and per-host finish times into the file named by KUBESEC_PHASE_TIMER_OUT.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "phase_timer"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self):
        super().__init__()
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        now = time.time()
        if self.plays:
            self.plays[-1]["end"] = now
        self.plays.append({"name": play.get_name(), "start": now, "end": None, "hosts": {}})

    def _result(self, result):
        if self.plays:
            play = self.plays[-1]
            play["hosts"][result._host.get_name()] = time.time() - play["start"]

    v2_runner_on_ok = v2_runner_on_failed = v2_runner_on_skipped = v2_runner_on_unreachable = _result

    def v2_playbook_on_stats(self, stats):
        if self.plays and self.plays[-1]["end"] is None:
            self.plays[-1]["end"] = time.time()
        out = os.environ.get("KUBESEC_PHASE_TIMER_OUT")
        if out:
            with open(out, "w", encoding="utf-8") as handle:
                json.dump({"plays": self.plays}, handle)
