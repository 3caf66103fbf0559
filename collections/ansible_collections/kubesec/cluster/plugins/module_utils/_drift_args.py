# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of kubesec.cluster.drift_notify, in one place for its action plugin (which validates them) and its
module file (which the documentation checks read)."""

from __future__ import annotations

from ansible_collections.kubesec.cluster.plugins.module_utils._finding import SEVERITIES
from ansible_collections.kubesec.cluster.plugins.module_utils._notify import channel_argument_spec

ARGUMENT_SPEC = dict(
    report=dict(type="path", required=True),
    min_severity=dict(type="str", default="high", choices=list(SEVERITIES)),
    new_only=dict(type="bool", default=True),
    repeat=dict(type="bool", default=False),
    top=dict(type="int", default=10),
    report_url_prefix=dict(type="str", default=""),
    **channel_argument_spec(),
    webhook=dict(
        type="dict",
        default={},
        options=dict(
            enabled=dict(type="bool", default=False),
            url=dict(type="str", no_log=True),
            secret=dict(type="str", no_log=True),
            headers=dict(type="dict", default={}, no_log=True),
        ),
    ),
    state_file=dict(type="path"),
    test_on_enable=dict(type="bool", default=True),
    output=dict(type="path"),
    fail_on_delivery_error=dict(type="bool", default=False),
    timeout=dict(type="int", default=10),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    use_proxy=dict(type="bool", default=True),
)
