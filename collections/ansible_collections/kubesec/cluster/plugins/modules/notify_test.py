#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: notify_test
short_description: Send a test message through the runtime alert channels (Telegram, e-mail)
version_added: 0.1.0
description:
  - Sends one test message through every enabled channel, from the host the task runs on (normally the controller),
    so that a wrong bot token, chat id, SMTP password or host is caught before Falco alerts are switched on.
  - Telegram through the Bot API C(sendMessage) method (base URL configurable); e-mail through SMTP with STARTTLS,
    implicit TLS or no TLS, and login.
  - Every enabled channel is tried; the module fails when any of them fails, with one line per channel saying
    what went wrong. Tokens and passwords never appear in the result or the messages.
  - In check mode nothing is sent; the module only authenticates (Telegram C(getMe), SMTP login).
author:
  - kubesec contributors (@kubesec)
attributes:
  check_mode:
    support: full
    description: Authenticates against every enabled channel without sending a message.
  diff_mode:
    support: none
    description: Nothing on the managed host changes, so there is no diff.
options:
  telegram:
    description: Telegram channel.
    type: dict
    default: {}
    suboptions:
      enabled:
        description: Whether to test this channel.
        type: bool
        default: false
      token:
        description: Bot token (C(123456:ABC...)).
        type: str
      chat_id:
        description: Chat id (for example C(-1001234567890)) or C(@channelname).
        type: str
      api_url:
        description: Base URL of the Bot API.
        type: str
        default: https://api.telegram.org
  email:
    description: E-mail (SMTP) channel.
    type: dict
    default: {}
    suboptions:
      enabled:
        description: Whether to test this channel.
        type: bool
        default: false
      smtp_host:
        description: SMTP server host name (for Gmail C(smtp.gmail.com)).
        type: str
      smtp_port:
        description: SMTP server port.
        type: int
        default: 587
      security:
        description:
          - C(starttls) upgrades the connection (port 587), C(ssl) uses implicit TLS (port 465),
            C(none) sends in clear and is refused when a password is set.
        type: str
        choices: [starttls, ssl, none]
        default: starttls
      user:
        description: SMTP login (for Gmail the full address; use an app password).
        type: str
      password:
        description: SMTP password.
        type: str
      from:
        description: Sender address. Defaults to O(email.user).
        type: str
      to:
        description: Recipient addresses.
        type: list
        elements: str
        default: []
  cluster:
    description: Cluster name, mentioned in the test message.
    type: str
    default: ""
  text:
    description: Text of the test message. A default naming the cluster is used when empty.
    type: str
    default: ""
  timeout:
    description: Seconds to wait for each network operation.
    type: int
    default: 10
  validate_certs:
    description: Whether TLS certificates are verified.
    type: bool
    default: true
  ca_path:
    description: PEM file with the CA certificates to trust instead of the system store.
    type: path
  use_proxy:
    description: Whether the Telegram request honours the C(https_proxy)/C(http_proxy) environment variables.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Check the alert channels before switching alerts on
  kubesec.cluster.notify_test:
    cluster: prod
    telegram:
      enabled: true
      token: "{{ vault_telegram_token }}"
      chat_id: "-1001234567890"
    email:
      enabled: true
      smtp_host: smtp.gmail.com
      smtp_port: 587
      user: secops@example.org
      password: "{{ vault_gmail_app_password }}"
      to: [oncall@example.org]
  delegate_to: localhost
"""

RETURN = r"""
channels:
  description: One entry per enabled channel.
  returned: always
  type: list
  elements: dict
  sample: [{"channel": "telegram", "ok": true, "sent": true, "endpoint": "https://api.telegram.org/bot<token>/sendMessage",
            "detail": "message 42 delivered to chat -1001234567890"}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils._notify import NotifyError, channel_argument_spec, smtp, telegram


def run(params, check_mode):
    """Try every enabled channel; returns (channel results, error lines)."""
    text = params["text"] or (
        "kubesec test alert%s: if you read this, runtime security alerts can reach this channel."
        % (" for cluster %s" % params["cluster"] if params["cluster"] else "")
    )
    results, errors = [], []
    tg = params["telegram"] or {}
    if tg.get("enabled"):
        try:
            result = telegram(
                tg.get("api_url"),
                tg.get("token"),
                tg.get("chat_id"),
                text,
                timeout=params["timeout"],
                check_only=check_mode,
                use_proxy=params["use_proxy"],
                validate_certs=params["validate_certs"],
                ca_path=params["ca_path"],
            )
            result["ok"] = True
        except NotifyError as exc:
            result = {"channel": "telegram", "ok": False, "sent": False, "detail": to_native(exc)}
            errors.append(to_native(exc))
        results.append(result)
    em = params["email"] or {}
    if em.get("enabled"):
        try:
            if not em.get("smtp_host"):
                raise NotifyError("email", "smtp_host is empty")
            result = smtp(
                em["smtp_host"],
                em.get("smtp_port") or 587,
                em.get("security") or "starttls",
                em.get("user"),
                em.get("password"),
                em.get("from") or em.get("user"),
                em.get("to") or [],
                "kubesec test alert%s" % (" (%s)" % params["cluster"] if params["cluster"] else ""),
                text,
                timeout=params["timeout"],
                check_only=check_mode,
                validate_certs=params["validate_certs"],
                ca_path=params["ca_path"],
            )
            result["ok"] = True
        except NotifyError as exc:
            result = {"channel": "email", "ok": False, "sent": False, "detail": to_native(exc)}
            errors.append(to_native(exc))
        results.append(result)
    return results, errors


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **channel_argument_spec(),
            cluster=dict(type="str", default=""),
            text=dict(type="str", default=""),
            timeout=dict(type="int", default=10),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            use_proxy=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    results, errors = run(module.params, module.check_mode)
    if errors:
        module.fail_json(msg="alert channel test failed: " + "; ".join(errors), channels=results)
    if not results:
        module.warn("no alert channel is enabled: nothing was tested")
    module.exit_json(changed=False, channels=results)


if __name__ == "__main__":
    main()
