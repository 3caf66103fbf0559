#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
module: falco_events
short_description: Read Falco events (files, pod logs, falcosidekick-ui) into grouped findings
version_added: 0.1.0
description:
  - Reads Falco's JSON events from JSON-lines files (Falco's C(json_output) file output, or saved
    C(kubectl logs) of the Falco pods, optionally gzipped), from text given in O(content), and/or from the search
    API of falcosidekick-ui (C(/api/v1/events/search), paged with C(limit) and C(page)).
  - Log lines that are not JSON (Falco's own start-up messages in pod logs) are counted and skipped; C(kubectl logs
    --timestamps) and C(--prefix) decorations are recognised. A last line that is cut off, malformed lines, events
    with an unreadable time or an unknown priority are counted in RV(skips) and warned about, never fatal.
  - Keeps the events inside the time window (by default the last 24 hours, see O(since), O(from), O(to)) and at or
    above O(min_priority), and groups repeats of the same rule on the same host and the same Kubernetes pod and
    container (outside Kubernetes the same container id, otherwise the host) into one finding with C(count),
    C(first_seen) and C(last_seen).
  - "Findings have the source C(falco) and the id C(falco:<rule>). Severity follows the priority: Emergency, Alert
    and Critical are C(critical), Error C(high), Warning C(medium), Notice C(low), Informational and Debug C(info).
    Warning and above have the status C(fail), the rest C(info)."
  - >-
    The evidence holds the output line and the output fields of the latest event of the group. Fields named like
    secrets (C(proc.env), anything with token, password, secret, key, credential, cookie) are withheld, and secret
    values in command lines and outputs are replaced by C(<redacted>) with the collection's one redaction helper
    (C(mysql -pX), C(curl -u user:X), C(sshpass -p X), C(--password X), C(--token=X), C(password=X), C(?token=X),
    C(Authorization: Bearer X), C(https://user:X@host), JWTs, cloud access key ids, private keys; docs/redaction.md).
    Texts are clipped first (4096 characters, output fields 1024), then redacted, in time linear in the clipped length.
    Output text is not escaped here; the report does that.
  - >-
    An event whose text is not valid Unicode (valid JSON such as C("\ud800"), a lone surrogate) is skipped, counted
    as C(bad_text) and named (file and line) in a warning; the other events are kept.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes.READ_ONLY
options:
  path:
    description:
      - Event files, or directories searched recursively (hidden entries skipped) for C(*.json), C(*.jsonl),
        C(*.ndjson), C(*.log), C(*.txt), C(*.out) and C(*.gz) files, on the host the module runs on.
      - A file may also hold a JSON array of events or a saved falcosidekick-ui search answer.
    type: list
    elements: path
    default: []
  content:
    description: Events as text (JSON lines, for example the registered stdout of C(kubectl logs)).
    type: str
  url:
    description:
      - Base address of falcosidekick-ui (for example C(http://127.0.0.1:2802) through a port-forward, chart value
        C(falcosidekick.webui.service.port)). The module calls C(<url>/api/v1/events/search).
    type: str
  user:
    description:
      - falcosidekick-ui credentials as one C(login:password) string (chart value C(falcosidekick.webui.user),
        environment variable C(FALCOSIDEKICK_UI_USER)), sent with HTTP basic authentication.
      - Omit it when the UI runs with authentication disabled.
    type: str
  validate_certs:
    description: Verify the TLS certificate of O(url).
    type: bool
    default: true
  ca_path:
    description: CA bundle used to verify O(url).
    type: path
  use_proxy:
    description: Use the proxy from the environment (C(https_proxy) etc.) to reach O(url).
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each API page.
    type: int
    default: 30
  page_size:
    description: Events per API page (the C(limit) parameter).
    type: int
    default: 500
  max_pages:
    description: Stop after this many API pages (with a warning saying so).
    type: int
    default: 100
  min_priority:
    description: Lowest Falco priority kept; events below it are counted (C(below_priority) in RV(summary)) and dropped.
    type: str
    default: debug
    choices: [emergency, alert, critical, error, warning, notice, informational, debug]
  since:
    description:
      - Keep events of this last period, for example C(24h), C(30m), C(7d), C(1h30m) or a number of seconds;
        C(0) keeps everything. Counted back from O(to) when given, else from O(now).
      - Without O(since), O(from) and O(to) the window is the last 24 hours. Mutually exclusive with O(from).
    type: str
  from:
    description: Start of the window, an ISO 8601 time (C(2026-03-14T00:00:00Z)) or a date; inclusive.
    type: str
  to:
    description: End of the window, an ISO 8601 time or a date; inclusive. Open when not given.
    type: str
  now:
    description: The current time used for O(since) (ISO 8601). Defaults to the clock; set it for reproducible runs.
    type: str
  include_internal:
    description: Also turn Falco's own C(Falco internal:) events (metrics snapshots, drop alerts) into findings.
    type: bool
    default: false
  cluster:
    description: Cluster name stamped on every finding.
    type: str
notes:
  - Time filtering is done on the events' own C(time) field (UTC). Against falcosidekick-ui the window start is also
    sent as C(since) and the priorities as C(priority), so the server pages through fewer events.
seealso:
  - name: Falco outputs
    description: JSON output fields of Falco events.
    link: https://falco.org/docs/concepts/outputs/
  - name: falcosidekick-ui
    description: The web UI and its API.
    link: https://github.com/falcosecurity/falcosidekick-ui
"""

EXAMPLES = r"""
- name: Read saved Falco pod logs of the last day
  kubesec.cluster.falco_events:
    path: /srv/exports/falco/
    min_priority: notice
    cluster: prod
  delegate_to: localhost
  register: falco

- name: Ask falcosidekick-ui (port-forwarded) for the warnings of the last 6 hours
  kubesec.cluster.falco_events:
    url: http://127.0.0.1:2802
    user: "{{ vault_falcosidekick_ui_user }}"
    since: 6h
    min_priority: warning
  delegate_to: localhost

- name: A fixed window, for a reproducible report
  kubesec.cluster.falco_events:
    path: [/srv/exports/falco/falco-worker-1.log.gz]
    from: "2026-03-14T00:00:00Z"
    to: "2026-03-15T00:00:00Z"
  delegate_to: localhost
"""

RETURN = r"""
findings:
  description: One normalized finding per group of events (C(docs/findings.schema.json)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: "falco:Terminal shell in container"
      source: falco
      status: info
      severity: low
      node: worker-1
      namespace: default
      resource: {kind: Pod, name: debug-shell, namespace: default, container: shell}
      count: 6
      first_seen: "2026-03-14T09:12:03.118274551Z"
      last_seen: "2026-03-14T16:58:30.200984117Z"
      evidence: {priority: Notice, output: "09:12:03.118274551: Notice A shell was spawned ...", hostname: worker-1}
groups:
  description: The groups behind the findings, small enough for a report table.
  returned: always
  type: list
  elements: dict
  sample:
    - {rule: Terminal shell in container, priority: Notice, severity: low, status: info, hostname: worker-1,
       namespace: default, pod: debug-shell, container: shell, container_id: 4f2a9c1d7e3b, count: 6,
       first_seen: "2026-03-14T09:12:03.118274551Z", last_seen: "2026-03-14T16:58:30.200984117Z",
       fingerprint: 0a1b2c3d4e5f60718293a4b5}
summary:
  description:
    - Counts. C(events) were parsed as events, C(matched) passed the window and priority filters; C(skipped) counts
      per reason (C(non_json), C(malformed), C(truncated), C(not_event), C(bad_time), C(bad_priority),
      C(out_of_window), C(below_priority), C(internal), C(unreadable), C(bad_text)); C(redactions) is the number of
      values replaced.
  returned: always
  type: dict
  sample: {lines: 70, events: 34, matched: 30, groups: 11, findings: 11, by_priority: {Warning: 7, Notice: 19},
           by_rule: {Terminal shell in container: 6}, by_severity: {medium: 3, low: 4}, by_status: {fail: 4, info: 7},
           skipped: {non_json: 36, out_of_window: 2}, redactions: 2, fields_withheld: [proc.env],
           min_priority: Informational}
skips:
  description: What was skipped, by reason, with up to three locations each (file and line, or API page).
  returned: always
  type: list
  elements: dict
  sample:
    - {reason: "last line of the input cut off (incomplete JSON)", code: truncated, count: 1,
       examples: [falco.log line 412]}
window:
  description: The time window applied (C(null) for an open end) and the current time used.
  returned: always
  type: dict
  sample: {from: "2026-03-14T00:00:00.000000000Z", to: null, now: "2026-03-15T00:00:00.000000000Z"}
sources:
  description: Files read, C(content), and the API calls made (address, pages, events).
  returned: always
  type: list
  elements: str
"""

from urllib.error import HTTPError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils import _falco_events


def main():
    module = AnsibleModule(
        argument_spec={
            "path": dict(type="list", elements="path", default=[]),
            "content": dict(type="str"),
            "url": dict(type="str"),
            "user": dict(type="str", no_log=True),
            "validate_certs": dict(type="bool", default=True),
            "ca_path": dict(type="path"),
            "use_proxy": dict(type="bool", default=True),
            "timeout": dict(type="int", default=30),
            "page_size": dict(type="int", default=500),
            "max_pages": dict(type="int", default=100),
            "min_priority": dict(type="str", default="debug", choices=list(_falco_events.PRIORITIES)),
            "since": dict(type="str"),
            "from": dict(type="str"),
            "to": dict(type="str"),
            "now": dict(type="str"),
            "include_internal": dict(type="bool", default=False),
            "cluster": dict(type="str"),
        },
        required_one_of=[("path", "content", "url")],
        mutually_exclusive=[("since", "from")],
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    params = module.params
    if params["user"] and ":" in params["user"]:
        module.no_log_values.add(params["user"].split(":", 1)[1])

    def fetch(url, headers):
        try:
            response = open_url(
                url,
                headers=headers,
                validate_certs=params["validate_certs"],
                ca_path=params["ca_path"],
                use_proxy=params["use_proxy"],
                timeout=params["timeout"],
                follow_redirects="safe",
            )
            return response.getcode(), response.read()
        except HTTPError as exc:
            return exc.code, exc.read() if hasattr(exc, "read") else b""
        except Exception as exc:  # URLError, SSL errors, timeouts: name the address, never the credentials
            raise _falco_events.FalcoApiError("cannot reach falcosidekick-ui at %s: %s" % (url.split("?", 1)[0], getattr(exc, "reason", exc))) from exc

    try:
        result = _falco_events.collect(
            paths=params["path"],
            content=params["content"],
            url=params["url"],
            user=params["user"],
            cluster=params["cluster"],
            min_priority=params["min_priority"],
            since=params["since"],
            start=params["from"],
            end=params["to"],
            now=params["now"],
            fetch=fetch,
            page_size=params["page_size"],
            max_pages=params["max_pages"],
            include_internal=params["include_internal"],
        )
    except (_falco_events.FalcoInputError, _falco_events.FalcoApiError) as exc:
        module.fail_json(msg=str(exc))
    for line in result.pop("warnings"):
        module.warn(line)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
