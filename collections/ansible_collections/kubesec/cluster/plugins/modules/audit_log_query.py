#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: audit_log_query
short_description: Query the kube-apiserver audit log on a control-plane node
version_added: "0.1.0"
description:
  - Reads the live kube-apiserver audit log (JSON lines of C(audit.k8s.io/v1) Events) and its lumberjack backups
    beside it (C(audit-2026-01-01T00-00-00.000.log), optionally gzip-compressed C(.log.gz)), filters events by time
    and fields, and returns the matching events, a summary and statistics.
  - The time window applies to C(requestReceivedTimestamp). kube-apiserver writes events in C(stageTimestamp) order,
    so the module seeks by time (binary search over byte offsets of plain files, skipping rotated files whose time
    span lies outside the window) and reads up to O(received_slack) past the end of the window, so that long requests
    (watches, exec sessions) received inside the window are still found.
  - Lines are pre-filtered on literal bytes before JSON decoding and large scans run in two processes. Uses
    C(simdjson) (pysimdjson) or C(orjson) when importable on the node, otherwise the standard library.
  - Truncated last lines, lines that are not JSON, lines longer than O(max_line_bytes) and events out of
    C(stageTimestamp) order are counted in RV(stats) and never fail the task; the other lines and files are read.
  - Events that carry only the legacy C(timestamp) field (C(audit.k8s.io/v1alpha1), old C(v1beta1) writers) are read
    with it as both received and stage time, counted in C(legacy_timestamp_events) in RV(stats) and warned about.
  - Text from the log is bounded and cleaned before it is returned or saved. Every text value in RV(events) and
    RV(summary) is clipped to 2048 characters (the record says which fields in C(clipped)); secret values in request
    URIs (C(?token=X), C(password=X), ...) are replaced by C(<redacted>). In O(output_file) the request and response
    bodies of events on secrets are replaced by C(<redacted>) and secret values in the other lines are redacted.
  - Non-JSON lines and out-of-order events are counted among the lines the query decoded (lines skipped by the byte
    pre-filter or the time seek are not decoded).
  - The module only reads the log. It reports C(changed=false) even when it writes O(output_file), because writing a
    result file does not change the node's configuration.
author:
  - kubesec contributors (@kubesec)
extends_documentation_fragment:
  - kubesec.cluster.attributes.READ_ONLY
  - kubesec.cluster.attributes.NODE_ROOT
options:
  path:
    description:
      - The live audit log, as C(--audit-log-path) names it on the node. Backups are found beside it by the lumberjack
        naming pattern C(<stem>-<UTC rotation time><ext>[.gz]).
    type: str
    default: /var/log/kubernetes/audit/audit.log
  since:
    description:
      - Query the window from this long ago up to now, for example V(30m), V(2h), V(1d), V(1h30m) or a number of
        seconds. Cannot be combined with O(from) or O(to).
      - Without O(since), O(from) and O(to), the window is the last hour.
    type: str
  from:
    description:
      - Start of the window (inclusive), an RFC3339 timestamp such as V(2026-03-01T11:00:00Z). A timestamp without an
        offset is taken as UTC. Defaults to one hour before O(to).
    type: str
  to:
    description:
      - End of the window (inclusive), an RFC3339 timestamp. Defaults to now.
    type: str
  now:
    description:
      - Use this RFC3339 time as the current time (reproducible reports and tests).
    type: str
  received_slack:
    description:
      - How long after the end of the window an event received inside it may have been written (its
        C(stageTimestamp) minus its C(requestReceivedTimestamp)). Watches last up to twice
        C(--min-request-timeout) (1800 s), hence V(1h). Raise it for long exec or port-forward sessions.
    type: str
    default: 1h
  user:
    description:
      - Match events whose C(user.username) or C(impersonatedUser.username) is one of these. A plain name is an
        exact match (V(alice) does not match C(alice@example.com)).
      - A name with C(*), C(?) or C([) is a shell-style pattern (case-sensitive, whole name) - V(alice*) or
        V(alice@*) for every name starting with C(alice), V(system:serviceaccount:ci:*) for a namespace's service
        accounts.
    type: list
    elements: str
  group:
    description:
      - Match events whose C(user.groups) contains one of these.
    type: list
    elements: str
  verb:
    description:
      - Match events whose C(verb) is one of these (Kubernetes verbs, or lower-case HTTP methods for non-resource URLs).
    type: list
    elements: str
  resource:
    description:
      - Match events whose C(objectRef.resource) is one of these (for example V(secrets), V(pods)).
    type: list
    elements: str
  subresource:
    description:
      - Match events whose C(objectRef.subresource) is one of these (for example V(exec), V(log)).
    type: list
    elements: str
  namespace:
    description:
      - Match events whose C(objectRef.namespace) is one of these. V("") matches cluster-scoped and non-resource
        requests.
    type: list
    elements: str
  name:
    description:
      - Match events whose C(objectRef.name) is one of these.
    type: list
    elements: str
  response_code:
    description:
      - Match events whose C(responseStatus.code) is one of these (for example V(401), V(403)).
    type: list
    elements: int
  source_ip:
    description:
      - Match events whose C(sourceIPs) contains one of these.
    type: list
    elements: str
  user_agent:
    description:
      - Match events whose C(userAgent) contains one of these substrings (case-sensitive).
    type: list
    elements: str
  stage:
    description:
      - Match events at one of these stages.
    type: list
    elements: str
    choices: [RequestReceived, ResponseStarted, ResponseComplete, Panic]
  max_line_bytes:
    description:
      - A line (one event) longer than this many bytes is skipped without decoding and counted in
        C(oversized_lines) in RV(stats), with a warning naming the file; the scan goes on with the next line and
        the other files. Bounds memory on hostile input (a small gzip backup that inflates to gigabytes without a newline).
      - kube-apiserver cannot write lines longer than C(--audit-log-maxsize); the default covers events at
        C(RequestResponse) level with large objects.
    type: int
    default: 33554432
  max_events:
    description:
      - Return at most this many matching events in RV(events) (oldest first). RV(events_total) still counts all.
    type: int
    default: 1000
  output_file:
    description:
      - Write all matching events (the original audit Event lines, not the short records) to this file on the node
        as JSON lines, atomically (temporary file in the same directory, then rename), mode C(0600).
      - Taken below O(root) like O(path). Not written in check mode (the query still runs).
    type: path
  findings:
    description:
      - Also return normalized findings (source C(audit-log)) for the notable summary items.
    type: bool
    default: false
  cluster:
    description:
      - Cluster name put into the findings.
    type: str
  node_name:
    description:
      - Node name put into the findings.
    type: str
notes:
  - The summary counts each request once, at its final stage (C(ResponseComplete) or C(Panic)), unless the O(stage)
    filter leaves out both final stages; then it counts every matching event. RV(summary.counted) says which.
  - Users whose name starts with C(system:) (nodes, service accounts, control-plane components) count as system users.
"""

EXAMPLES = r"""
- name: What happened in the last hour
  kubesec.cluster.audit_log_query:
  register: last_hour

- name: Who read secrets or exec'd into pods today
  kubesec.cluster.audit_log_query:
    since: 1d
    resource: [secrets, pods]
    verb: [get, list, watch, create]
    max_events: 200

- name: Denied requests in a fixed window, all of them to a file, with findings
  kubesec.cluster.audit_log_query:
    from: "2026-03-01T00:00:00Z"
    to: "2026-03-02T00:00:00Z"
    response_code: [401, 403]
    output_file: /var/tmp/denied.jsonl
    findings: true
    cluster: prod-eu1
    node_name: "{{ inventory_hostname }}"

- name: Query a node tree mounted under /mnt/node1
  kubesec.cluster.audit_log_query:
    root: /mnt/node1
    since: 2h
    user: [system:anonymous]
    group: [system:unauthenticated]
"""

RETURN = r"""
events:
  description: The first O(max_events) matching events, oldest first (file order), as short records.
  returned: always
  type: list
  elements: dict
  contains:
    request_uri:
      description: C(requestURI).
      type: str
    audit_id:
      description: C(auditID).
      type: str
    object_ref:
      description: C(objectRef) fields api_group, api_version, name, namespace, resource (null when absent).
      type: dict
    action:
      description: The C(verb).
      type: str
    user:
      description: C(user.username).
      type: str
    request_received_time:
      description: C(requestReceivedTimestamp) as C(yyyy-MM-dd HH:mm:ss) UTC.
      type: str
    log_time:
      description: C(stageTimestamp) as C(yyyy-MM-dd HH:mm:ss) UTC.
      type: str
    response_code:
      description: C(responseStatus.code) (null before the response, for example at stage RequestReceived).
      type: int
    clipped:
      description: Names of the fields cut to 2048 characters (only present when one was).
      type: list
      elements: str
    redacted:
      description: Number of secret values replaced by C(<redacted>) in C(request_uri) (only present when any).
      type: int
  sample:
    - request_uri: /api/v1/namespaces/payments/secrets/db-password
      audit_id: 7e08201a-68ae-48ee-9985-9694ea257b93
      object_ref: {api_group: null, api_version: v1, name: db-password, namespace: payments, resource: secrets}
      action: get
      user: alice@example.com
      request_received_time: "2026-03-01 11:00:00"
      log_time: "2026-03-01 11:00:00"
      response_code: 200
events_total:
  description: How many events matched (not capped by O(max_events)).
  returned: always
  type: int
events_truncated:
  description: True when RV(events) holds fewer events than matched.
  returned: always
  type: bool
summary:
  description:
    - Counts over the matching events; see RV(summary.counted).
  returned: always
  type: dict
  contains:
    counted:
      description: V(requests) (each request once, at its final stage) or V(events).
      type: str
    total:
      description: Number of requests (or events) counted.
      type: int
    by_user:
      description: Count per user name, largest first.
      type: dict
    by_verb:
      description: Count per verb.
      type: dict
    by_resource:
      description: Count per resource (C(resource/subresource); C((non-resource)) for non-resource URLs).
      type: dict
    by_stage:
      description: Matching events per stage (all stages, not only the counted ones).
      type: dict
    denied:
      description: Requests answered 401 or 403, C(count) and C(top_users).
      type: dict
    secret_reads:
      description:
        - get/list/watch on secrets that the API server answered (not 401/403), C(count), C(non_system) and top
          users. A denied request returned nothing and is not a read.
      type: dict
    secret_access_denied:
      description: get/list/watch on secrets answered 401 or 403 (attempts), C(count), C(non_system), C(top_users).
      type: dict
    exec:
      description:
        - pods/exec, pods/attach and pods/portforward requests, C(count) (finished requests), C(top_users),
          C(targets).
        - C(open) is the number of sessions with a C(ResponseStarted) stage and no final stage in the scanned range
          (the window plus O(received_slack)), C(open_as_of) the time up to which that is known, and
          C(open_sessions) lists them (user, subresource, namespace, pod, since, audit_id). C(open) is null when a
          O(stage) filter hides C(ResponseStarted) or the final stages. Needs an audit policy that keeps the
          C(ResponseStarted) stage for pods/exec (kube-apiserver writes it, code 101, when the stream starts).
      type: dict
    rbac_changes:
      description: create/update/patch/delete/deletecollection on rbac.authorization.k8s.io resources.
      type: dict
    anonymous:
      description: Requests by system:anonymous or the system:unauthenticated group, how many were allowed and where.
      type: dict
files:
  description: The log files considered, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Path on the node (without O(root)).
      type: str
    bytes:
      description: File size.
      type: int
    compressed:
      description: Whether it is a gzip backup.
      type: bool
    skipped:
      description: True when the whole file lies outside the window and was not scanned.
      type: bool
    events:
      description: Matching events found in this file.
      type: int
    lines:
      description: Lines scanned in this file.
      type: int
    oversized_lines:
      description: Lines longer than O(max_line_bytes) skipped in this file (only present when any).
      type: int
window:
  description: The window used (C(from), C(to), C(now) as UTC MicroTime strings, C(received_slack_seconds)).
  returned: always
  type: dict
stats:
  description:
    - C(lines) (lines read), C(lines_decoded), C(matched), C(truncated_last_lines), C(non_json_lines),
      C(invalid_events) (JSON but not an audit event), C(out_of_order_events), C(legacy_timestamp_events),
      C(oversized_lines) (skipped, longer than C(max_line_bytes)), C(clipped_events) (events with a clipped field),
      C(max_text) (the clip length), C(bytes_read) (from disk,
      compressed bytes for gzip backups, seek probes included), C(files_read), C(files_skipped), C(seconds),
      C(json_backend) (simdjson, orjson or json), C(processes) (1 or 2).
    - C(non_json_lines), C(invalid_events) and C(out_of_order_events) count among the decoded lines only.
  returned: always
  type: dict
output_file:
  description: O(output_file) as given, or null.
  returned: always
  type: str
output_written:
  description: Whether O(output_file) was written (false in check mode).
  returned: always
  type: bool
findings:
  description:
    - Normalized findings (see C(docs/findings.schema.json)), source C(audit-log), status C(info) or C(warn), for
      anonymous requests (KS-AUDIT-001), denied requests (KS-AUDIT-002), secret reads by non-system users
      (KS-AUDIT-003), exec/attach/port-forward into pods (KS-AUDIT-004), RBAC changes (KS-AUDIT-005), attempted
      secret access denied with 401/403 (KS-AUDIT-006) and interactive sessions still open (KS-AUDIT-007).
      Only items that occurred in the window are reported.
  returned: when O(findings=true)
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubesec.cluster.plugins.module_utils._safetext import guard_messages
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog import (
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_PATH,
    FILTER_KEYS,
    STAGES,
    AuditLogError,
    run_query,
)


def main():
    list_str = dict(type="list", elements="str")
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="str", default=DEFAULT_PATH),
            root=dict(type="path", default="/"),
            since=dict(type="str"),
            to=dict(type="str"),
            now=dict(type="str"),
            received_slack=dict(type="str", default="1h"),
            user=list_str,
            group=list_str,
            verb=list_str,
            resource=list_str,
            subresource=list_str,
            namespace=list_str,
            name=list_str,
            response_code=dict(type="list", elements="int"),
            source_ip=list_str,
            user_agent=list_str,
            stage=dict(type="list", elements="str", choices=list(STAGES)),
            max_events=dict(type="int", default=1000),
            max_line_bytes=dict(type="int", default=DEFAULT_MAX_LINE_BYTES),
            output_file=dict(type="path"),
            findings=dict(type="bool", default=False),
            cluster=dict(type="str"),
            node_name=dict(type="str"),
            **{"from": dict(type="str")},
        ),
        mutually_exclusive=[("since", "from"), ("since", "to")],
        supports_check_mode=True,
    )
    guard_messages(module)  # node and cluster text in messages is shown escaped (_safetext)
    params = module.params
    try:
        result = run_query(
            path=params["path"],
            root=params["root"],
            since=params["since"],
            time_from=params["from"],
            time_to=params["to"],
            now=params["now"],
            filters={key: params[key] for key in FILTER_KEYS},
            max_events=params["max_events"],
            output_file=params["output_file"],
            write_output=not module.check_mode,
            findings=params["findings"],
            cluster=params["cluster"],
            node_name=params["node_name"],
            received_slack=params["received_slack"],
            max_line_bytes=params["max_line_bytes"],
        )
    except AuditLogError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="cannot read the audit log: %s" % exc)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
