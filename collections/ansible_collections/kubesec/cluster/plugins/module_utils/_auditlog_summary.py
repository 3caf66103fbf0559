# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Summary and findings of the audit-log query, built from what the scan accumulated (_auditlog_scan._Acc): each
request counted once at its final stage (unless the stage filter says otherwise), top users, denials, secret
reads and attempts, exec sessions (and those still open), RBAC changes, anonymous requests; and the normalized
findings KS-AUDIT-001..007 for the notable items that occurred.

Private module_utils (node side, standard library only).
"""

from __future__ import annotations

import collections
from typing import Any, Counter, Mapping

from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_common import (
    FINAL_STAGES,
    POD_ATTACH_SUBRESOURCES,
    PUBLIC_PATHS,
    RBAC_GROUP,
    RBAC_WRITE_VERBS,
    SECRET_READ_VERBS,
    TOP,
    _clip,
    _text_key,
)
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_filter import Query
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_scan import _Acc
from ansible_collections.kubesec.cluster.plugins.module_utils._auditlog_time import canon, human_time
from ansible_collections.kubesec.cluster.plugins.module_utils._finding import make_finding


def _top(counter: Mapping[Any, int], key_name: str, limit: int = TOP) -> list[dict[str, Any]]:
    return [{key_name: _text_key(key), "count": count} for key, count in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[:limit]]


def _ordered(counter: Mapping[Any, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, count in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0]))):
        key = _clip("" if key is None else str(key))
        out[key] = out.get(key, 0) + count
    return out


def _nonsystem(counter: Mapping[Any, int]) -> Counter[Any]:
    return collections.Counter({u: n for u, n in counter.items() if not isinstance(u, str) or not u.startswith("system:")})


def _allowed(code: Any) -> bool:
    """The response let the request through (a read returned data). A missing or odd code counts as allowed."""
    return not isinstance(code, int) or isinstance(code, bool) or code < 400


def build_summary(acc: _Acc, query: Query, open_as_of_us: int | None = None) -> dict[str, Any]:
    """Summary of the counted events (requests at their final stage unless the stage filter says otherwise)."""
    by_user: Counter[Any] = collections.Counter()
    by_verb: Counter[Any] = collections.Counter()
    by_resource: Counter[Any] = collections.Counter()
    by_stage: Counter[Any] = collections.Counter()
    denied_users: Counter[Any] = collections.Counter()
    secret_users: Counter[Any] = collections.Counter()
    exec_users: Counter[Any] = collections.Counter()
    rbac_users: Counter[Any] = collections.Counter()
    secret_denied_users: Counter[Any] = collections.Counter()
    total = 0
    for (user, verb, resource, sub, group, code, stage), n in acc.combos.items():
        by_stage[stage] += n
        if query.final_only and stage not in FINAL_STAGES:
            continue
        total += n
        by_user[user] += n
        by_verb[verb] += n
        by_resource["(non-resource)" if resource is None else resource if sub is None else "%s/%s" % (resource, sub)] += n
        if code in (401, 403):
            denied_users[user] += n
        if resource == "secrets" and sub is None and not group and verb in SECRET_READ_VERBS:
            if code in (401, 403):
                secret_denied_users[user] += n  # an attempt, not a read: nothing was returned
            elif _allowed(code):
                secret_users[user] += n
        if resource == "pods" and sub in POD_ATTACH_SUBRESOURCES and not group:
            exec_users[user] += n
        if group == RBAC_GROUP and verb in RBAC_WRITE_VERBS:
            rbac_users[user] += n
    secret_nonsystem = _nonsystem(secret_users)
    secret_denied_nonsystem = _nonsystem(secret_denied_users)
    rbac_nonsystem = _nonsystem(rbac_users)
    # open sessions: ResponseStarted seen, no final stage (only decidable when both stages can match the query)
    stages = query.values.get("stage")
    open_known = stages is None or ("ResponseStarted" in stages and bool(stages & set(FINAL_STAGES)))
    open_sessions = sorted(
        (
            {
                "user": _text_key(e[0]),
                "subresource": e[1],
                "namespace": _text_key(e[2]),
                "pod": _text_key(e[3]),
                "since": human_time(e[4]),
                "audit_id": _text_key(audit_id),
            }
            for audit_id, e in acc.sessions.items()
            if e[5] and not e[6]
        ),
        key=lambda item: (str(item["since"]), str(item["audit_id"])),
    )
    targets: Counter[tuple] = collections.Counter()
    for (_user, sub, namespace, pod), n in acc.exec_targets.items():
        targets[(sub, namespace, pod)] += n
    return {
        "counted": "requests" if query.final_only else "events",
        "total": total,
        "by_user": _ordered(by_user),
        "by_verb": _ordered(by_verb),
        "by_resource": _ordered(by_resource),
        "by_stage": _ordered(by_stage),
        "denied": {"count": sum(denied_users.values()), "top_users": _top(denied_users, "user")},
        "secret_reads": {
            "count": sum(secret_users.values()),
            "non_system": sum(secret_nonsystem.values()),
            "top_users": _top(secret_users, "user"),
            "top_non_system_users": _top(secret_nonsystem, "user"),
        },
        "secret_access_denied": {
            "count": sum(secret_denied_users.values()),
            "non_system": sum(secret_denied_nonsystem.values()),
            "top_users": _top(secret_denied_users, "user"),
        },
        "exec": {
            "count": sum(exec_users.values()),
            "top_users": _top(exec_users, "user"),
            "targets": [
                {"subresource": k[0], "namespace": _text_key(k[1]), "pod": _text_key(k[2]), "count": n}
                for k, n in sorted(targets.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP]
            ],
            "open": len(open_sessions) if open_known else None,
            "open_as_of": canon(open_as_of_us) if open_as_of_us is not None and open_known else None,
            "open_sessions": open_sessions[: TOP * 5],
        },
        "rbac_changes": {
            "count": sum(rbac_users.values()),
            "non_system": sum(rbac_nonsystem.values()),
            "top_users": _top(rbac_users, "user"),
            "changes": [
                {
                    "user": _text_key(k[0]),
                    "verb": _text_key(k[1]),
                    "resource": _text_key(k[2]),
                    "namespace": _text_key(k[3]),
                    "name": _text_key(k[4]),
                    "count": n,
                }
                for k, n in sorted(acc.rbac_items.items(), key=lambda kv: (-kv[1], str(kv[0])))[: TOP * 2]
            ],
        },
        "anonymous": {
            "count": acc.anon,
            "allowed": sum(acc.anon_allowed.values()),
            "allowed_non_public": sum(n for uri, n in acc.anon_allowed.items() if uri not in PUBLIC_PATHS),
            "top_allowed_paths": _top(acc.anon_allowed, "path"),
            "top_source_ips": _top(acc.anon_ips, "source_ip"),
        },
    }


def _span(acc: _Acc, category: str) -> tuple[str | None, str | None]:
    span = acc.seen.get(category)
    return (human_time(span[0]), human_time(span[1])) if span else (None, None)


def build_findings(summary: dict[str, Any], acc: _Acc, window: dict[str, Any], cluster: str | None, node: str | None) -> list[dict[str, Any]]:
    """Normalized findings (source audit-log) for the notable summary items that occurred."""
    out: list[dict[str, Any]] = []
    evidence_base = {"window_from": window["from"], "window_to": window["to"], "counted": summary["counted"]}

    def add(
        fid: str,
        title: str,
        status: str,
        severity: str,
        category: str,
        count: int,
        evidence: dict[str, Any],
        description: str,
        remediation: str,
        kind: str | None = None,
        tags: tuple[str, ...] = (),
        span: tuple[Any, Any] | None = None,
    ) -> None:
        first, last = span or _span(acc, category)
        ev = dict(evidence_base)
        ev.update(evidence)
        out.append(
            make_finding(
                fid,
                "audit-log",
                title,
                status,
                severity=severity,
                cluster=cluster,
                node=node,
                resource={"kind": kind},
                description=description,
                remediation=remediation,
                references=["https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/"],
                evidence=ev,
                extra={"count": count, "first_seen": first, "last_seen": last, "tags": ["audit-log", *tags]},
            )
        )

    anon = summary["anonymous"]
    if anon["count"]:
        risky = anon["allowed_non_public"]
        add(
            "KS-AUDIT-001",
            "Anonymous (unauthenticated) requests reached the API server",
            "warn" if risky else "info",
            "medium" if risky else "info",
            "anonymous",
            anon["count"],
            {"allowed": anon["allowed"], "allowed_non_public": risky, "top_allowed_paths": anon["top_allowed_paths"], "top_source_ips": anon["top_source_ips"]},
            "%d request(s) by system:anonymous / system:unauthenticated; %d were allowed, %d of them outside the "
            "public health/version endpoints." % (anon["count"], anon["allowed"], risky),
            "Set --anonymous-auth=false or restrict it to health endpoints (AuthenticationConfiguration "
            "anonymous.conditions); remove RBAC bindings to system:anonymous / system:unauthenticated.",
            tags=("anonymous",),
        )
    denied = summary["denied"]
    if denied["count"]:
        add(
            "KS-AUDIT-002",
            "Requests denied by authentication or authorization (401/403)",
            "info",
            "info",
            "denied",
            denied["count"],
            {"top_users": denied["top_users"]},
            "%d request(s) answered 401 or 403. Denials are normal in small numbers; many from one user or "
            "source can mean probing or a broken credential." % denied["count"],
            "Review the top users; rotate or remove credentials that keep failing.",
            tags=("denied",),
        )
    secrets = summary["secret_reads"]
    if secrets["non_system"]:
        users = secrets["top_non_system_users"]
        add(
            "KS-AUDIT-003",
            "Secrets read by non-system users",
            "warn",
            "low",
            "secret_reads",
            secrets["non_system"],
            {"top_users": users},
            "%d get/list/watch request(s) on secrets that the API server answered (not 401/403) by users whose "
            "name does not start with system: (service accounts and nodes are excluded). Denied attempts are "
            "counted apart (KS-AUDIT-006)." % secrets["non_system"],
            "Check that these users need secret access; prefer narrowly scoped Roles with resourceNames.",
            kind="Secret",
            tags=("secrets",),
        )
    attempts = summary["secret_access_denied"]
    if attempts["count"]:
        risky = attempts["non_system"]
        add(
            "KS-AUDIT-006",
            "Attempted secret access (get/list/watch on secrets denied)",
            "warn",
            "medium" if risky else "low",
            "secret_denied",
            attempts["count"],
            {"non_system": risky, "top_users": attempts["top_users"]},
            "%d get/list/watch request(s) on secrets were answered 401 or 403, %d of them by users whose name does "
            "not start with system:. Nothing was returned, but someone tried: a stolen or over-curious credential "
            "probing for secrets looks like this." % (attempts["count"], risky),
            "Find out who holds these credentials and why they asked for secrets; rotate a credential that should not be asking.",
            kind="Secret",
            tags=("secrets", "denied"),
        )
    ex = summary["exec"]
    if ex["open"]:
        sessions = ex["open_sessions"]
        add(
            "KS-AUDIT-007",
            "Interactive session into a pod still open (exec, attach, port-forward)",
            "warn",
            "medium",
            "exec",
            ex["open"],
            {"open_as_of": ex["open_as_of"], "sessions": sessions},
            "%d exec/attach/portforward session(s) started (stage ResponseStarted) and had not ended (no "
            "ResponseComplete) as of %s: %s."
            % (
                ex["open"],
                ex["open_as_of"],
                "; ".join("%s %s into %s/%s since %s" % (o["user"], o["subresource"], o["namespace"], o["pod"], o["since"]) for o in sessions[:5]),
            ),
            "Confirm each open session is expected and who is on it; end it by deleting the pod or revoking the user's access if it is not.",
            kind="Pod",
            tags=("exec", "open-session"),
            span=(min(str(o["since"]) for o in sessions), max(str(o["since"]) for o in sessions)),
        )
    if ex["count"]:
        add(
            "KS-AUDIT-004",
            "Interactive access into pods (exec, attach, port-forward)",
            "warn",
            "low",
            "exec",
            ex["count"],
            {"top_users": ex["top_users"], "targets": ex["targets"]},
            "%d exec/attach/portforward request(s) into pods." % ex["count"],
            "Confirm each session was expected; restrict pods/exec, pods/attach and pods/portforward in RBAC.",
            kind="Pod",
            tags=("exec",),
        )
    rbac = summary["rbac_changes"]
    if rbac["count"]:
        risky = rbac["non_system"]
        add(
            "KS-AUDIT-005",
            "RBAC objects changed",
            "warn" if risky else "info",
            "medium" if risky else "info",
            "rbac",
            rbac["count"],
            {"non_system": risky, "top_users": rbac["top_users"], "changes": rbac["changes"]},
            "%d create/update/patch/delete request(s) on rbac.authorization.k8s.io objects, %d by users whose "
            "name does not start with system:." % (rbac["count"], risky),
            "Review each change against change records; RBAC should be changed through reviewed manifests.",
            kind="RBAC",
            tags=("rbac",),
        )
    return out
