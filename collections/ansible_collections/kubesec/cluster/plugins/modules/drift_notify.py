#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: drift_notify
short_description: Send a posture drift alert for one cluster run (Telegram, e-mail, JSON webhook)
version_added: 0.1.0
description:
  - Runs on the controller (action plugin). Reads the run's C(report.json) (and the head of the previous run's,
    next to it) and decides whether the run drifted - new or regressed findings at or above O(min_severity), a
    report gate that failed, a waiver that expired, a source that failed (not assessed).
  - When it did, sends one message per enabled channel - Telegram C(sendMessage) (at most 4096 characters),
    an e-mail with text and HTML parts (SMTP STARTTLS, implicit TLS or none, with login) and a JSON C(POST) to a
    webhook (payload schema C(kubesec.drift/v1), optional C(X-Kubesec-Signature) C(sha256=<hex>) HMAC-SHA256 header
    of the body). When it did not, sends nothing.
  - A channel enabled for the first time (or whose non-secret settings changed, see O(state_file)) gets a short
    "drift alerts are on" message, or the drift message with that line on top (never two messages in one run).
  - Messages hold cluster, run ids, counts, finding ids, titles, severities and resources, gate names, waiver ids
    and dates, source names. Never evidence, never a secret. Tokens, passwords, the webhook URL (beyond scheme, host
    and port), the webhook secret and header values never appear in the result.
  - A channel that fails is reported in RV(deliveries) and a warning; the task fails only with
    O(fail_on_delivery_error). A report that cannot be read fails with a message naming the file.
author:
  - kubesec contributors (@kubesec)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Builds every message; Telegram only authenticates (C(getMe)), SMTP only logs in, the webhook is not called; no file is written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options:
  report:
    description: This run's C(report.json) on the controller.
    type: path
    required: true
  min_severity:
    description: Lowest severity of a new or regressed finding that makes a message (C(unknown) counts only with C(unknown)).
    type: str
    choices: [critical, high, medium, low, info, unknown]
    default: high
  new_only:
    description: When false, every open problem at or above O(min_severity) makes a message, every run.
    type: bool
    default: true
  repeat:
    description: A failed gate, an expired waiver or a failed source alerts every run instead of only when new.
    type: bool
    default: false
  top:
    description: Number of new / regressed items listed (0-50), most severe first.
    type: int
    default: 10
  report_url_prefix:
    description:
      - URL (or path) the reports folder is served under; the message links C(<prefix>/<cluster>/<run_id>/report.html).
      - Empty - the local report.html path on the controller.
    type: str
    default: ""
  telegram:
    description: Telegram channel.
    type: dict
    default: {}
    suboptions:
      enabled: {description: Use this channel., type: bool, default: false}
      token: {description: Bot token., type: str}
      chat_id: {description: Chat id or C(@channelname)., type: str}
      api_url: {description: Bot API base URL., type: str, default: https://api.telegram.org}
  email:
    description: E-mail (SMTP) channel.
    type: dict
    default: {}
    suboptions:
      enabled: {description: Use this channel., type: bool, default: false}
      smtp_host: {description: SMTP server., type: str}
      smtp_port: {description: SMTP port., type: int, default: 587}
      security:
        description: C(starttls), C(ssl) (implicit TLS) or C(none) (refused with a password).
        type: str
        choices: [starttls, ssl, none]
        default: starttls
      user: {description: SMTP login., type: str}
      password: {description: SMTP password., type: str}
      from: {description: Sender address; defaults to O(email.user)., type: str}
      to: {description: Recipients., type: list, elements: str, default: []}
  webhook:
    description: Generic JSON webhook channel.
    type: dict
    default: {}
    suboptions:
      enabled: {description: Use this channel., type: bool, default: false}
      url: {description: Endpoint (http or https). Treated as a secret., type: str}
      secret: {description: HMAC-SHA256 key for the C(X-Kubesec-Signature) header., type: str}
      headers: {description: Extra request headers. Values are treated as secrets., type: dict, default: {}}
  state_file:
    description: JSON file keeping, per channel, a digest of its non-secret settings (never a secret or a digest of one).
    type: path
  test_on_enable:
    description: Send the "drift alerts are on" message to channels not in O(state_file) yet.
    type: bool
    default: true
  output:
    description: Where to write the drift summary and the delivery results (JSON, no secret) when something was sent.
    type: path
  fail_on_delivery_error:
    description: Fail when a channel cannot be reached or refuses the message.
    type: bool
    default: false
  timeout: {description: Seconds to wait for each network operation., type: int, default: 10}
  validate_certs: {description: Verify TLS certificates., type: bool, default: true}
  ca_path: {description: PEM file with the CA certificates to trust instead of the system store., type: path}
  use_proxy: {description: Honour the proxy environment variables for Telegram and the webhook., type: bool, default: true}
seealso:
  - module: kubesec.cluster.notify_test
  - module: kubesec.cluster.report
"""

EXAMPLES = r"""
- name: Alert the team when tonight's audit got worse
  kubesec.cluster.drift_notify:
    report: "{{ report_result.files.json }}"
    min_severity: high
    report_url_prefix: https://reports.example.org/kubesec
    telegram:
      enabled: true
      token: "{{ vault_telegram_token }}"
      chat_id: "-1001234567890"
    webhook:
      enabled: true
      url: "{{ vault_slack_webhook_url }}"
      secret: "{{ vault_drift_webhook_secret }}"
    state_file: "{{ playbook_dir }}/../reports/{{ kubesec_cluster }}/.drift-alerts-state.json"
  delegate_to: localhost
  no_log: true
  register: drift
"""

RETURN = r"""
drift:
  description: What was decided (no secret, no evidence).
  returned: always
  type: dict
  contains:
    alert: {description: Whether the run drifted., type: bool}
    reasons: {description: Why (one line each)., type: list, elements: str}
    totals: {description: "New, regressed and fixed problems since the previous run (null on a first run).", type: dict}
    counts: {description: The same by severity., type: dict}
    top: {description: "The listed items (id, title, severity, source, resource, change).", type: list, elements: dict}
    gates_failed: {description: "Gates hit (gate, count).", type: list, elements: dict}
    expired_waivers: {description: "Expired waivers (id, expires).", type: list, elements: dict}
    not_assessed: {description: "Sources that failed (source, status).", type: list, elements: dict}
    report: {description: Where the full report is., type: str}
  sample: {"alert": true, "reasons": ["2 new or regressed finding(s) at or above high"],
           "totals": {"new": 2, "regressed": 1, "fixed": 0}}
deliveries:
  description: One entry per channel a message went to (none when nothing drifted and no channel is new).
  returned: always
  type: list
  elements: dict
  sample: [{"channel": "webhook", "ok": true, "sent": true, "kind": "drift", "endpoint": "https://hooks.example.org/...",
            "detail": "payload of 1234 bytes accepted by https://hooks.example.org/... (HTTP 200), signed"}]
sent:
  description: Channels that accepted a message.
  returned: always
  type: list
  elements: str
delivery_failed:
  description: Whether any channel failed.
  returned: always
  type: bool
files:
  description: Files written (state, output); empty in check mode.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubesec.cluster.plugins.module_utils._drift_args import ARGUMENT_SPEC


def main():
    # The action plugin (plugins/action/drift_notify.py) does the work; the spec is shared for the docs checks.
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    module.fail_json(msg="kubesec.cluster.drift_notify runs on the controller through its action plugin")


if __name__ == "__main__":
    main()
