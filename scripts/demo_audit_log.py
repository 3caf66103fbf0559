#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a realistic API-server audit log for the demo control plane, ending "now" (make demo calls it).

    python scripts/demo_audit_log.py .demo/nodes/demo-cp-1 [--now 2026-03-01T12:00:00Z] [--seed 7]

Writes <node root>/var/log/kubernetes/audit/ as kube-apiserver does with --audit-log-path, --audit-log-maxsize and
--audit-log-compress: the live audit.log and one lumberjack backup, audit-<UTC rotation time>.log.gz. Events are
audit.k8s.io/v1 JSON lines as Go writes them (struct field order, compact, MicroTime, <>& escaped), in
stageTimestamp order, with the stages a typical policy keeps (RequestReceived omitted; ResponseStarted for watches
and exec). A day of traffic: kubelets, the scheduler and controllers, service accounts of workloads, people in
working hours and health probes. The incidents an operator should see, all within the last 36 minutes (so they
stay in the default last-hour window while the rest of the demo runs):

- mallory@example.com reads secrets (get and list, allowed) in shop and payments;
- dave@example.com lists secrets in kube-system and is denied (403);
- alice@example.com execs into shop/api (session closed after six minutes); mallory execs into payments-db-0 and
  the session is still open;
- mallory creates ClusterRoleBinding mallory-admin to cluster-admin;
- anonymous requests from 203.0.113.77 (/api and the kube-system secrets denied, /version allowed).

docs/audit-log.md ("The demo") shows how to query other windows.
"""

import argparse
import datetime
import gzip
import json
import os
import random
import sys
import uuid

DAY = 86400
K8S = "v1.33.4"
NODES = ("demo-cp-1", "demo-worker-1", "demo-worker-2")
CONTROLLERS = (
    "replicaset-controller",
    "deployment-controller",
    "endpointslice-controller",
    "namespace-controller",
    "job-controller",
    "generic-garbage-collector",
    "daemon-set-controller",
)
APPS = (("shop", "api"), ("shop", "web"), ("payments", "payments-api"), ("payments", "payments-db"), ("monitoring", "prometheus"))
PEOPLE = ("alice@example.com", "bob@example.com", "carol@example.com")
ALLOW_ADMIN = 'RBAC: allowed by ClusterRoleBinding "oidc-admins" of ClusterRole "cluster-admin" to Group "oidc:admins"'


def micro(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def go_json(event):
    """JSON as Go's encoding/json writes it (compact, UTF-8, HTML-safe escapes)."""
    text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class Log:
    """Collects events; write() sorts them by stageTimestamp and rotates once, lumberjack style."""

    def __init__(self, seed):
        self.rnd = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
        self.events = []

    def uid(self):
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    def request(
        self,
        t,
        user,
        verb,
        uri,
        obj=None,
        code=200,
        groups=("system:authenticated",),
        ip="10.0.0.10",
        agent="kubectl/" + K8S + " (linux/amd64) kubernetes/7b2f2b8",
        level="Metadata",
        duration=0.004,
        started=None,
        complete=True,
        extra=None,
        reason=None,
        request_object=None,
        response_object=None,
    ):
        """One request: ResponseStarted (watch, exec) when `started` is given, then ResponseComplete unless open."""
        audit_id = self.uid()
        base = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": audit_id}
        who = {"username": user, "groups": list(groups)}
        if extra:
            who["extra"] = extra
        tail = {"user": who, "sourceIPs": [ip], "userAgent": agent}
        if obj:
            tail["objectRef"] = obj
        forbidden = code in (401, 403)
        annotations = {
            "authorization.k8s.io/decision": "forbid" if forbidden else "allow",
            "authorization.k8s.io/reason": "" if forbidden else (reason or "RBAC: allowed"),
        }
        if code == 401:
            annotations = {}

        def status(c):
            if c == 403:
                what = (obj or {}).get("resource", "")
                return {
                    "metadata": {},
                    "status": "Failure",
                    "message": '%s is forbidden: User "%s" cannot %s resource "%s"' % (what or "forbidden", user, verb, what),
                    "reason": "Forbidden",
                    "details": {"kind": what},
                    "code": 403,
                }
            if c == 401:
                return {"metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
            return {"metadata": {}, "code": c}

        def event(stage, c, stage_t):
            ev = dict(base, stage=stage, requestURI=uri, verb=verb)
            ev.update(tail)
            ev["responseStatus"] = status(c)
            if request_object is not None and level in ("Request", "RequestResponse"):
                ev["requestObject"] = request_object
            if response_object is not None and level == "RequestResponse" and stage == "ResponseComplete":
                ev["responseObject"] = response_object
            ev["requestReceivedTimestamp"] = micro(t)
            ev["stageTimestamp"] = micro(stage_t)
            if annotations:
                ev["annotations"] = annotations
            self.events.append((stage_t, go_json(ev)))

        if started is not None:
            event("ResponseStarted", started, t + 0.002)
        if complete:
            event("ResponseComplete", code, t + duration)

    def write(self, directory, rotate_at):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.events.sort(key=lambda item: item[0])
        old = [line for when, line in self.events if when < rotate_at]
        new = [line for when, line in self.events if when >= rotate_at]
        stamp = datetime.datetime.fromtimestamp(rotate_at, datetime.timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%f")[:-3]
        for name in os.listdir(directory):  # a rerun replaces the previous demo log
            if name == "audit.log" or (name.startswith("audit-") and name.endswith((".log", ".log.gz"))):
                os.unlink(os.path.join(directory, name))
        backup = os.path.join(directory, "audit-%s.log.gz" % stamp)
        with open(backup, "wb") as raw, gzip.GzipFile(filename="audit-%s.log" % stamp, mode="wb", fileobj=raw, mtime=int(rotate_at)) as out:
            out.write("".join(line + "\n" for line in old).encode("utf-8"))
        live = os.path.join(directory, "audit.log")
        with open(live, "w", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in new))
        for path in (backup, live):
            os.chmod(path, 0o600)
        return live, backup, len(old), len(new)


def node_user(node):
    return {
        "user": "system:node:" + node,
        "groups": ("system:nodes", "system:authenticated"),
        "agent": "kubelet/%s (linux/amd64) kubernetes/7b2f2b8" % K8S,
        "ip": "10.0.0.%d" % (10 + NODES.index(node)),
    }


def ref(resource, namespace=None, name=None, group=None, version="v1", subresource=None):
    obj = {"resource": resource}
    if namespace:
        obj["namespace"] = namespace
    if name:
        obj["name"] = name
    if group:
        obj["apiGroup"] = group
    obj["apiVersion"] = version
    if subresource:
        obj["subresource"] = subresource
    return obj


def background(log, start, end):
    """A day of ordinary traffic: about 11,000 requests."""
    rnd = log.rnd
    t = start
    while t < end:
        t += rnd.uniform(4, 11)
        kind = rnd.random()
        if kind < 0.40:  # kubelets: lease renewals, node status, their pods' secrets and configmaps
            node = rnd.choice(NODES)
            who = node_user(node)
            what = rnd.random()
            if what < 0.6:
                log.request(
                    t,
                    who["user"],
                    "update",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + node + "?timeout=10s",
                    ref("leases", "kube-node-lease", node, "coordination.k8s.io"),
                    groups=who["groups"],
                    ip=who["ip"],
                    agent=who["agent"],
                    reason="",
                )
            elif what < 0.85:
                log.request(
                    t,
                    who["user"],
                    "patch",
                    "/api/v1/nodes/%s/status?timeout=10s" % node,
                    ref("nodes", None, node, subresource="status"),
                    groups=who["groups"],
                    ip=who["ip"],
                    agent=who["agent"],
                    reason="",
                )
            else:
                ns, app = rnd.choice(APPS)
                res = rnd.choice(("secrets", "configmaps"))
                name = "%s-%s" % (app, "config" if res == "configmaps" else "tls")
                log.request(
                    t,
                    who["user"],
                    "get",
                    "/api/v1/namespaces/%s/%s/%s" % (ns, res, name),
                    ref(res, ns, name),
                    groups=who["groups"],
                    ip=who["ip"],
                    agent=who["agent"],
                    reason="",
                )
        elif kind < 0.70:  # controllers and the scheduler
            ctl = rnd.choice(CONTROLLERS)
            user = "system:serviceaccount:kube-system:" + ctl
            groups = ("system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated")
            agent = "kube-controller-manager/%s (linux/amd64) kubernetes/7b2f2b8/system:serviceaccount:kube-system:%s" % (K8S, ctl)
            ns, app = rnd.choice(APPS)
            if rnd.random() < 0.1:  # a watch that ends 5-10 minutes later
                log.request(
                    t,
                    user,
                    "watch",
                    "/apis/apps/v1/namespaces/%s/replicasets?allowWatchBookmarks=true&resourceVersion=%d&watch=true" % (ns, rnd.randint(10**5, 10**6)),
                    ref("replicasets", ns, group="apps"),
                    groups=groups,
                    agent=agent,
                    started=200,
                    duration=rnd.uniform(300, 600),
                )
            else:
                verb = rnd.choice(("get", "update", "patch", "list"))
                log.request(
                    t,
                    user,
                    verb,
                    "/apis/apps/v1/namespaces/%s/replicasets/%s-7d9f8b6c4" % (ns, app),
                    ref("replicasets", ns, app + "-7d9f8b6c4", "apps"),
                    groups=groups,
                    agent=agent,
                )
        elif kind < 0.78:
            log.request(
                t,
                "system:kube-scheduler",
                "update",
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler?timeout=5s",
                ref("leases", "kube-system", "kube-scheduler", "coordination.k8s.io"),
                agent="kube-scheduler/%s (linux/amd64) kubernetes/7b2f2b8/leader-election" % K8S,
            )
        elif kind < 0.90:  # workload service accounts
            ns, app = rnd.choice(APPS)
            sa = "prometheus" if app == "prometheus" else app
            user = "system:serviceaccount:%s:%s" % (ns, sa)
            groups = ("system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated")
            extra = {
                "authentication.kubernetes.io/credential-id": ["JTI=" + log.uid()],
                "authentication.kubernetes.io/pod-name": ["%s-6c9f7d5b8-%05x" % (app, rnd.getrandbits(20))],
            }
            if app == "prometheus":
                log.request(
                    t,
                    user,
                    "list",
                    "/api/v1/pods?limit=500",
                    ref("pods"),
                    groups=groups,
                    extra=extra,
                    ip="10.244.1.%d" % rnd.randint(2, 250),
                    agent="prometheus/3.5.0",
                )
            else:
                log.request(
                    t,
                    user,
                    "get",
                    "/api/v1/namespaces/%s/configmaps/%s-config" % (ns, app),
                    ref("configmaps", ns, app + "-config"),
                    groups=groups,
                    extra=extra,
                    ip="10.244.2.%d" % rnd.randint(2, 250),
                    agent="%s/1.4.2" % app,
                )
        elif kind < 0.96:  # health probes: anonymous, allowed on the public endpoints
            path = rnd.choice(("/healthz", "/livez", "/readyz"))
            log.request(
                t,
                "system:anonymous",
                "get",
                path,
                None,
                groups=("system:unauthenticated",),
                ip="10.0.0.1",
                agent="kube-probe/1.33",
                reason='RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole '
                '"system:public-info-viewer" to Group "system:unauthenticated"',
            )
        else:  # people, in working hours (UTC 07-19)
            hour = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).hour
            if 7 <= hour < 19:
                who = rnd.choice(PEOPLE)
                ns, app = rnd.choice(APPS)
                verb, res = rnd.choice((("get", "pods"), ("list", "pods"), ("get", "deployments"), ("list", "events")))
                group = "apps" if res == "deployments" else None
                prefix = "/apis/apps/v1" if group else "/api/v1"
                log.request(
                    t,
                    who,
                    verb,
                    "%s/namespaces/%s/%s" % (prefix, ns, res),
                    ref(res, ns, group=group),
                    groups=("oidc:developers", "system:authenticated"),
                    ip="192.0.2.%d" % (20 + PEOPLE.index(who)),
                    reason=ALLOW_ADMIN,
                )


def incidents(log, now):
    """What the demo's audit-log section should show for the last hour (and one older exec for -e since=6h)."""
    human = ("oidc:admins", "system:authenticated")
    mallory_ip = "198.51.100.23"
    crb = {
        "kind": "ClusterRoleBinding",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "mallory-admin"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "mallory@example.com"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
    }
    # a human reading secrets (allowed)
    t = now - 36 * 60
    log.request(
        t, "mallory@example.com", "list", "/api/v1/namespaces/shop/secrets?limit=500", ref("secrets", "shop"), groups=human, ip=mallory_ip, reason=ALLOW_ADMIN
    )
    log.request(
        t + 20,
        "mallory@example.com",
        "get",
        "/api/v1/namespaces/shop/secrets/db-credentials",
        ref("secrets", "shop", "db-credentials"),
        groups=human,
        ip=mallory_ip,
        reason=ALLOW_ADMIN,
    )
    log.request(
        t + 45,
        "mallory@example.com",
        "get",
        "/api/v1/namespaces/payments/secrets/stripe-api-key",
        ref("secrets", "payments", "stripe-api-key"),
        groups=human,
        ip=mallory_ip,
        reason=ALLOW_ADMIN,
    )
    # a denied secret list
    t = now - 33 * 60
    for offset, verb, uri, name in (
        (0, "list", "/api/v1/namespaces/kube-system/secrets", None),
        (30, "get", "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef", "bootstrap-token-abcdef"),
    ):
        log.request(
            t + offset,
            "dave@example.com",
            verb,
            uri,
            ref("secrets", "kube-system", name),
            code=403,
            groups=("oidc:developers", "system:authenticated"),
            ip="192.0.2.44",
        )
    # exec sessions: one closed after six minutes, one still open
    t = now - 30 * 60
    log.request(
        t,
        "alice@example.com",
        "create",
        "/api/v1/namespaces/shop/pods/api-6c9f7d5b8-x2x9z/exec?command=sh&container=api&stdin=true&stdout=true&tty=true",
        ref("pods", "shop", "api-6c9f7d5b8-x2x9z", subresource="exec"),
        code=101,
        groups=human,
        ip="192.0.2.20",
        reason=ALLOW_ADMIN,
        started=101,
        duration=6 * 60,
    )
    t = now - 8 * 60
    log.request(
        t,
        "mallory@example.com",
        "create",
        "/api/v1/namespaces/payments/pods/payments-db-0/exec?command=bash&container=postgres&stdin=true&stdout=true&tty=true",
        ref("pods", "payments", "payments-db-0", subresource="exec"),
        code=101,
        groups=human,
        ip=mallory_ip,
        reason=ALLOW_ADMIN,
        started=101,
        complete=False,
    )
    # a new ClusterRoleBinding to cluster-admin
    t = now - 22 * 60
    created = dict(crb, metadata={"name": "mallory-admin", "uid": log.uid(), "resourceVersion": "918273", "creationTimestamp": micro(t)[:19] + "Z"})
    log.request(
        t,
        "mallory@example.com",
        "create",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        ref("clusterrolebindings", None, "mallory-admin", "rbac.authorization.k8s.io"),
        code=201,
        groups=human,
        ip=mallory_ip,
        reason=ALLOW_ADMIN,
        level="RequestResponse",
        request_object=crb,
        response_object=created,
    )
    # anonymous requests from outside
    t = now - 15 * 60
    for offset, uri, obj, code in (
        (0, "/version", None, 200),
        (3, "/api", None, 403),
        (6, "/api/v1/namespaces/kube-system/secrets", ref("secrets", "kube-system"), 403),
        (9, "/apis", None, 403),
    ):
        log.request(
            t + offset,
            "system:anonymous",
            "list" if obj else "get",
            uri,
            obj,
            code=code,
            groups=("system:unauthenticated",),
            ip="203.0.113.77",
            agent="python-requests/2.32.3",
            reason='RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole '
            '"system:public-info-viewer" to Group "system:unauthenticated"',
        )
    # earlier in the day: bob's port-forward (for queries of a longer window)
    t = now - 5 * 3600
    log.request(
        t,
        "bob@example.com",
        "create",
        "/api/v1/namespaces/shop/pods/web-5f7c9d8b6-q8w2n/portforward",
        ref("pods", "shop", "web-5f7c9d8b6-q8w2n", subresource="portforward"),
        code=101,
        groups=("oidc:developers", "system:authenticated"),
        ip="192.0.2.21",
        reason=ALLOW_ADMIN,
        started=101,
        duration=20 * 60,
    )


def parse_now(text):
    if not text:
        return datetime.datetime.now(datetime.timezone.utc).timestamp()
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("node_root", help="the demo control plane's node tree (.demo/nodes/demo-cp-1)")
    ap.add_argument("--now", help="UTC time of the end of the log, YYYY-MM-DDTHH:MM:SSZ (default: now)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if not os.path.isdir(args.node_root):
        print("demo_audit_log: %s is not a directory (build the demo trees first)" % args.node_root, file=sys.stderr)
        return 2
    now = parse_now(args.now) - 60  # the newest event a minute before now: the default window holds it
    log = Log(args.seed)
    background(log, now - DAY, now)
    incidents(log, now)
    directory = os.path.join(args.node_root, "var", "log", "kubernetes", "audit")
    live, backup, old, new = log.write(directory, rotate_at=now - 9 * 3600)
    print("demo audit log: %d events in %s, %d in %s" % (new, live, old, backup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
