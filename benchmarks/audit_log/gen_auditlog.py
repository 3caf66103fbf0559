#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate a realistic kube-apiserver audit log (audit.k8s.io/v1 Events, JSON lines).

Events look like what kube-apiserver writes with a typical "Metadata for most, RequestResponse for a few"
policy: compact JSON in Go struct field order, MicroTime stamps (6 fraction digits, UTC), controllers and
kubelets polling, leader-election leases, long watches (ResponseStarted + ResponseComplete 30-60 min later),
humans doing get/list/exec/delete, 401/403 denials, anonymous health probes, some RBAC changes.
Lines are written in stageTimestamp order (as kube-apiserver does); a few are out of order by microseconds.

    python gen_auditlog.py --out /tmp/audit/audit.log --size 1GiB --hours 24 --end 2026-03-01T12:00:00Z
    python gen_auditlog.py --out /tmp/audit/audit.log --size 300MiB --rotate 100MiB --gzip-backups

With --rotate, older data goes into lumberjack backups beside the live file
(audit-2026-03-01T08-12-33.123.log[.gz], named by the UTC rotation time).
"""

import argparse
import datetime
import gzip
import heapq
import os
import random
import shutil
import uuid

try:
    import orjson

    def _dumps(obj):
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover
    import json

    def _dumps(obj):
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


NAMESPACES = [
    "default",
    "kube-system",
    "kube-public",
    "monitoring",
    "ingress-nginx",
    "cert-manager",
    "payments",
    "checkout",
    "frontend",
    "backend",
    "data",
    "ci",
    "logging",
    "argocd",
]
NODES = ["cp-1", "cp-2", "cp-3"] + ["worker-%d" % i for i in range(1, 13)]
HUMANS = ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "mallory@example.com", "ops-bot", "ci-deployer"]
CONTROLLERS = [
    "deployment-controller",
    "replicaset-controller",
    "endpointslice-controller",
    "namespace-controller",
    "job-controller",
    "statefulset-controller",
    "daemon-set-controller",
    "generic-garbage-collector",
    "horizontal-pod-autoscaler",
    "resourcequota-controller",
]
RESOURCES = [  # (apiGroup, apiVersion, resource, namespaced, weight)
    ("", "v1", "pods", True, 30),
    ("", "v1", "configmaps", True, 10),
    ("", "v1", "secrets", True, 6),
    ("", "v1", "services", True, 5),
    ("", "v1", "endpoints", True, 4),
    ("", "v1", "nodes", False, 8),
    ("", "v1", "namespaces", False, 3),
    ("", "v1", "serviceaccounts", True, 3),
    ("", "v1", "events", True, 6),
    ("apps", "v1", "deployments", True, 6),
    ("apps", "v1", "replicasets", True, 5),
    ("apps", "v1", "daemonsets", True, 2),
    ("apps", "v1", "statefulsets", True, 2),
    ("coordination.k8s.io", "v1", "leases", True, 12),
    ("discovery.k8s.io", "v1", "endpointslices", True, 4),
    ("batch", "v1", "jobs", True, 2),
    ("networking.k8s.io", "v1", "networkpolicies", True, 1),
    ("rbac.authorization.k8s.io", "v1", "roles", True, 1),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", True, 1),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", False, 1),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", False, 1),
]
RES_WEIGHTS = [r[4] for r in RESOURCES]
VERBS = ["get", "list", "watch", "update", "patch", "create", "delete"]
VERB_WEIGHTS = [40, 18, 6, 18, 8, 6, 4]
PUBLIC_INFO = 'RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole "system:public-info-viewer" to Group "system:unauthenticated"'
CODES_ERR = [(404, "NotFound"), (409, "Conflict"), (422, "Invalid"), (429, "TooManyRequests")]


def micro(ts):
    """Epoch seconds -> MicroTime as kube-apiserver writes it (UTC, 6 fraction digits)."""
    dt = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_end(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


class Gen:
    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.uids = {}

    def uid(self, key=None):
        if key is not None:
            if key not in self.uids:
                self.uids[key] = str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))
            return self.uids[key]
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    def name(self, resource, ns):
        r = self.rnd
        if resource == "pods":
            return "%s-%s-%s" % (r.choice(["web", "api", "worker", "db", "cache"]), "%08x" % r.getrandbits(32), "%05x" % r.getrandbits(20))
        if resource == "nodes":
            return r.choice(NODES)
        if resource == "leases":
            return r.choice([*NODES, "kube-controller-manager", "kube-scheduler", "cert-manager-controller"])
        if resource == "secrets":
            return r.choice(["db-password", "tls-cert", "registry-creds", "api-token", "sh.helm.release.v1.app.v%d" % r.randint(1, 9)])
        return "%s-%d" % (resource.rstrip("s"), r.randint(1, 300))

    def user(self):
        """(user dict, userAgent, source IP, kind)."""
        r = self.rnd
        x = r.random()
        if x < 0.35:
            node = r.choice(NODES)
            return (
                {
                    "username": "system:node:%s" % node,
                    "groups": ["system:nodes", "system:authenticated"],
                    "extra": {"authentication.kubernetes.io/credential-id": ["X509SHA256=" + "%064x" % r.getrandbits(256)]},
                },
                "kubelet/v1.31.4 (linux/amd64) kubernetes/a78aa47",
                "10.0.%d.%d" % (r.randint(0, 3), r.randint(2, 250)),
                "node",
            )
        if x < 0.70:
            ctl = r.choice(CONTROLLERS)
            return (
                {
                    "username": "system:serviceaccount:kube-system:%s" % ctl,
                    "uid": self.uid(ctl),
                    "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
                },
                "kube-controller-manager/v1.31.4 (linux/amd64) kubernetes/a78aa47/system:serviceaccount:kube-system:%s" % ctl,
                "10.0.0.%d" % r.randint(10, 12),
                "controller",
            )
        if x < 0.80:
            ns = r.choice(NAMESPACES)
            sa = r.choice(["default", "prometheus", "fluent-bit", "argocd-application-controller", "cert-manager"])
            pod = "%s-%08x" % (sa, r.getrandbits(32))
            return (
                {
                    "username": "system:serviceaccount:%s:%s" % (ns, sa),
                    "uid": self.uid(ns + sa),
                    "groups": ["system:serviceaccounts", "system:serviceaccounts:%s" % ns, "system:authenticated"],
                    "extra": {
                        "authentication.kubernetes.io/credential-id": ["JTI=%s" % self.uid()],
                        "authentication.kubernetes.io/node-name": [r.choice(NODES)],
                        "authentication.kubernetes.io/node-uid": [self.uid(r.choice(NODES))],
                        "authentication.kubernetes.io/pod-name": [pod],
                        "authentication.kubernetes.io/pod-uid": [self.uid()],
                    },
                },
                "%s/v0.%d.0 (linux/amd64) kubernetes/$Format" % (sa, r.randint(1, 40)),
                "10.244.%d.%d" % (r.randint(0, 40), r.randint(2, 250)),
                "workload",
            )
        if x < 0.84:
            who = r.choice(["system:kube-scheduler", "system:kube-controller-manager", "system:apiserver"])
            return (
                {
                    "username": who,
                    "uid": self.uid(who) if who == "system:apiserver" else None,
                    "groups": ["system:authenticated"] if who != "system:apiserver" else ["system:masters"],
                },
                "kube-scheduler/v1.31.4 (linux/amd64) kubernetes/a78aa47/leader-election",
                "10.0.0.%d" % r.randint(10, 12),
                "system",
            )
        if x < 0.86:
            return (
                {"username": "system:anonymous", "groups": ["system:unauthenticated"]},
                r.choice(["kube-probe/1.31", "curl/8.5.0", "Go-http-client/1.1", "python-requests/2.31.0"]),
                r.choice(["10.0.0.1", "192.168.77.%d" % r.randint(1, 250), "203.0.113.%d" % r.randint(1, 250)]),
                "anonymous",
            )
        human = r.choice(HUMANS)
        return (
            {
                "username": human,
                "groups": ["oidc:developers", "system:authenticated"] if "@" in human else ["system:authenticated"],
                "extra": {"authentication.kubernetes.io/credential-id": ["JTI=%s" % self.uid()]},
            },
            r.choice(
                [
                    "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46",
                    "kubectl/v1.30.1 (darwin/arm64) kubernetes/6911225",
                    "k9s/v0.32.5 (linux/amd64)",
                    "Lens/6.5.2",
                    "helm/v3.16.2",
                ]
            ),
            "198.51.100.%d" % r.randint(1, 250),
            "human",
        )

    def request(self, t):
        """All events of one request received at t: list of (stage time, event dict)."""
        r = self.rnd
        user, agent, ip, kind = self.user()
        if user.get("uid") is None:
            user.pop("uid", None)
        audit_id = self.uid()
        if kind == "anonymous":
            uri = r.choice(["/healthz", "/livez", "/readyz", "/version", "/api/v1/namespaces/kube-system/secrets", "/api/v1/pods", "/.env", "/apis"])
            verb = "get" if "secrets" not in uri and "pods" not in uri else "list"
            ev = {
                "kind": "Event",
                "apiVersion": "audit.k8s.io/v1",
                "level": "Metadata",
                "auditID": audit_id,
                "stage": "ResponseComplete",
                "requestURI": uri,
                "verb": verb,
                "user": user,
                "sourceIPs": [ip],
                "userAgent": agent,
            }
            code = 200 if uri in ("/healthz", "/livez", "/readyz", "/version") else 403
            if code == 200:
                ev["responseStatus"] = {"metadata": {}, "code": 200}
            else:
                ev["responseStatus"] = {
                    "metadata": {},
                    "status": "Failure",
                    "reason": "Forbidden",
                    "details": {},
                    "code": 403,
                    "message": 'forbidden: User "system:anonymous" cannot list resource',
                }
            ev["annotations"] = {
                "authorization.k8s.io/decision": "allow" if code == 200 else "forbid",
                "authorization.k8s.io/reason": PUBLIC_INFO if code == 200 else "",
            }
            return self._finish(ev, t, t + r.uniform(0.0002, 0.003), stages=("ResponseComplete",))
        api_group, api_version, resource, namespaced, _w = r.choices(RESOURCES, RES_WEIGHTS)[0]
        if kind == "node" and resource not in ("pods", "nodes", "leases", "configmaps", "secrets", "events"):
            resource, api_group, api_version, namespaced = "leases", "coordination.k8s.io", "v1", True
        verb = r.choices(VERBS, VERB_WEIGHTS)[0]
        if resource == "leases" and verb in ("list", "watch", "delete"):
            verb = "update"
        ns = r.choice(NAMESPACES) if namespaced else None
        if resource == "leases":
            ns = "kube-node-lease" if kind == "node" else "kube-system"
        name = None if verb in ("list", "watch") or (verb == "create" and r.random() < 0.5) else self.name(resource, ns)
        subresource = None
        if resource == "pods" and verb == "create" and kind == "human" and r.random() < 0.3:
            subresource = r.choice(["exec", "exec", "attach", "portforward"])
            name = self.name("pods", ns)
        elif resource == "pods" and verb in ("update", "patch") and kind == "node":
            subresource = "status"
        elif resource == "pods" and verb == "get" and r.random() < 0.05:
            subresource = "log"
        prefix = "/api/%s" % api_version if not api_group else "/apis/%s/%s" % (api_group, api_version)
        path = prefix + ("/namespaces/%s" % ns if ns else "") + "/" + resource + ("/" + name if name else "")
        if subresource:
            path += "/" + subresource
        if subresource == "exec":
            path += "?command=%2Fbin%2Fsh&container=app&stdin=true&stdout=true&tty=true"
        elif verb == "watch":
            path += "?allowWatchBookmarks=true&resourceVersion=%d&timeout=%dm%ds&timeoutSeconds=%d&watch=true" % (
                r.randint(10**6, 10**8),
                r.randint(5, 9),
                r.randint(0, 59),
                r.randint(300, 600),
            )
        elif verb == "list":
            path += "?limit=500&resourceVersion=0"
        obj_ref = {"resource": resource}
        if ns:
            obj_ref["namespace"] = ns
        if name:
            obj_ref["name"] = name
        obj_ref["apiGroup"] = api_group
        obj_ref["apiVersion"] = api_version
        if subresource:
            obj_ref["subresource"] = subresource
        if not api_group:
            del obj_ref["apiGroup"]
        level = "Metadata"
        if resource in ("configmaps", "deployments", "roles", "rolebindings", "clusterroles", "clusterrolebindings", "networkpolicies") and verb in (
            "create",
            "update",
            "patch",
            "delete",
        ):
            level = "RequestResponse"
        elif resource in ("pods", "services") and verb in ("create", "update", "patch") and subresource is None:
            level = "Request"
        code, status = 200, None
        if verb == "create":
            code = 201
        x = r.random()
        if kind == "human" and x < 0.12:
            code = 403
        elif kind == "human" and x < 0.14:
            code = 401
        elif x < 0.03:
            code, reason = r.choice(CODES_ERR)
            status = {
                "metadata": {},
                "status": "Failure",
                "message": '%s "%s" %s' % (resource, name or "", reason),
                "reason": reason,
                "details": {"name": name or "", "kind": resource},
                "code": code,
            }
        if subresource in ("exec", "attach", "portforward") and code < 400:
            code = 101
        ev = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": level,
            "auditID": audit_id,
            "stage": "ResponseComplete",
            "requestURI": path,
            "verb": verb,
            "user": user,
        }
        if kind == "human" and r.random() < 0.03:
            ev["impersonatedUser"] = {"username": "system:serviceaccount:ci:deployer", "groups": ["system:serviceaccounts", "system:authenticated"]}
        ev["sourceIPs"] = [ip] if r.random() < 0.9 else [ip, "10.0.0.%d" % r.randint(2, 9)]
        ev["userAgent"] = agent
        ev["objectRef"] = obj_ref
        if code == 403:
            status = {
                "metadata": {},
                "status": "Failure",
                "message": '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s"' % (resource, user["username"], verb, resource, api_group),
                "reason": "Forbidden",
                "details": {"kind": resource},
                "code": 403,
            }
        elif code == 401:
            status = {"metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
        ev["responseStatus"] = status or {"metadata": {}, "code": code}
        if level in ("Request", "RequestResponse") and verb != "delete":
            ev["requestObject"] = self.obj(resource, api_group, api_version, ns, name)
        if level == "RequestResponse" and code < 400:
            ev["responseObject"] = self.obj(resource, api_group, api_version, ns, name, full=True)
        decision = "forbid" if code == 403 else "allow"
        if code != 401:
            ev["annotations"] = {
                "authorization.k8s.io/decision": decision,
                "authorization.k8s.io/reason": ""
                if decision == "forbid"
                else 'RBAC: allowed by ClusterRoleBinding "system:controller:%s" of ClusterRole '
                '"system:controller:%s" to ServiceAccount "%s/kube-system"' % (resource, resource, user["username"].rsplit(":", 1)[-1]),
            }
            if resource == "pods" and verb == "create" and subresource is None:
                ev["annotations"]["pod-security.kubernetes.io/enforce-policy"] = "baseline:latest"
        if verb == "watch":
            dur = r.uniform(1800, 3600)
            return self._finish(ev, t, t + dur, stages=("ResponseStarted", "ResponseComplete"))
        if subresource in ("exec", "attach", "portforward") and code == 101:
            return self._finish(ev, t, t + r.uniform(5, 900), stages=("ResponseStarted", "ResponseComplete"))
        lat = r.expovariate(1 / 0.004) + (0.05 if verb == "list" else 0.0)
        stages = ("ResponseComplete",)
        if r.random() < 0.15:
            stages = ("RequestReceived", "ResponseComplete")
        if r.random() < 0.00002:
            stages = ("RequestReceived", "Panic")
        return self._finish(ev, t, t + lat, stages=stages)

    def obj(self, resource, group, version, ns, name, full=False):
        r = self.rnd
        kind = resource[:-1].capitalize() if resource != "endpoints" else "Endpoints"
        meta = {
            "name": name or "%s-%05x" % (kind.lower(), r.getrandbits(20)),
            "labels": {"app.kubernetes.io/name": r.choice(["web", "api", "db"]), "app.kubernetes.io/part-of": "shop"},
        }
        if ns:
            meta["namespace"] = ns
        if full:
            meta.update(
                {
                    "uid": self.uid(),
                    "resourceVersion": str(r.randint(10**6, 10**8)),
                    "creationTimestamp": "2026-01-15T09:12:44Z",
                    "generation": r.randint(1, 40),
                    "managedFields": [
                        {
                            "manager": "kubectl-client-side-apply",
                            "operation": "Update",
                            "apiVersion": "%s%s" % (group + "/" if group else "", version),
                            "time": "2026-01-15T09:12:44Z",
                            "fieldsType": "FieldsV1",
                            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
                        }
                    ],
                }
            )
        body = {"kind": kind, "apiVersion": "%s%s" % (group + "/" if group else "", version), "metadata": meta}
        if resource == "configmaps":
            body["data"] = {"config.yaml": "log_level: info\nreplicas: %d\n" % r.randint(1, 9) + "x" * r.randint(50, 1500)}
        elif resource in ("roles", "clusterroles"):
            body["rules"] = [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}]
        elif resource in ("rolebindings", "clusterrolebindings"):
            body["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
            body["subjects"] = [{"kind": "User", "name": r.choice(HUMANS), "apiGroup": "rbac.authorization.k8s.io"}]
        elif resource in ("deployments", "pods"):
            body["spec"] = {
                "replicas": r.randint(1, 5),
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": "registry.example.com/shop/%s:1.%d.%d" % (r.choice(["web", "api"]), r.randint(0, 9), r.randint(0, 30)),
                                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                                "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
                            }
                        ]
                    }
                },
            }
        return body

    def _finish(self, ev, received, done, stages):
        out = []
        for i, stage in enumerate(stages):
            e = dict(ev)
            e["stage"] = stage
            if stage == "RequestReceived":
                st = received + 0.000004
                for key in ("responseStatus", "responseObject", "annotations"):
                    e.pop(key, None)
            elif stage == "ResponseStarted":
                st = received + self.rnd.uniform(0.001, 0.02)
                e.pop("responseObject", None)
                if e.get("responseStatus", {}).get("code") == 200:
                    e["responseStatus"] = {"metadata": {}, "code": 200}
            elif stage == "Panic":
                st = done
                e["responseStatus"] = {
                    "metadata": {},
                    "status": "Failure",
                    "reason": "InternalError",
                    "code": 500,
                    "message": "APIServer panic'd: runtime error: invalid memory address or nil pointer dereference",
                }
                e.pop("responseObject", None)
            else:
                st = done
            out.append((st, i, e))
        return out


def write_log(out, size, hours, end, seed, rotate=0, gzip_backups=False, disorder=0.0005):
    """Write about `size` bytes of events spanning `hours` up to `end`; returns (events, bytes, files)."""
    gen = Gen(seed)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    stem, ext = os.path.splitext(out)
    start = end - hours * 3600.0
    probe = Gen(seed + 1)
    sample = sum(
        len(_dumps(dict(e, requestReceivedTimestamp=micro(start), stageTimestamp=micro(start)))) + 1 for _ in range(20000) for _s, _i, e in probe.request(start)
    )
    per_request = sample / 20000.0
    n_requests = max(1, int(size / per_request))
    gap = hours * 3600.0 / n_requests
    heap = []
    seq = 0
    files = []
    written = 0
    events = 0
    fh = open(out, "wb")
    cur_bytes = 0
    buf = []
    t = start
    last_stage = None

    def rotate_now(at_ts):
        nonlocal fh, cur_bytes
        fh.write(b"".join(buf))
        buf.clear()
        fh.close()
        stamp = datetime.datetime.fromtimestamp(at_ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%f")[:-3]
        backup = "%s-%s%s" % (stem, stamp, ext)
        os.rename(out, backup)
        if gzip_backups:
            with open(backup, "rb") as src, gzip.open(backup + ".gz", "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.unlink(backup)
            backup += ".gz"
        files.append(backup)
        fh = open(out, "wb")
        cur_bytes = 0

    def emit(st, ev):
        nonlocal written, events, cur_bytes, last_stage
        recv = ev.pop("_recv")
        ev["requestReceivedTimestamp"] = micro(recv)
        # concurrent handlers: a tiny share of events reach the log slightly out of stageTimestamp order
        if last_stage is not None and gen.rnd.random() < disorder:
            st = max(st - gen.rnd.uniform(0.000001, 0.0005), recv)
        ev["stageTimestamp"] = micro(st)
        ann = ev.pop("annotations", None)
        if ann is not None:
            ev["annotations"] = ann
        line = _dumps(ev) + b"\n"
        buf.append(line)
        written += len(line)
        cur_bytes += len(line)
        events += 1
        last_stage = st
        if len(buf) >= 4096:
            fh.write(b"".join(buf))
            buf.clear()
        if rotate and cur_bytes >= rotate:
            rotate_now(st + 0.0005)

    for _ in range(n_requests):
        t += gen.rnd.expovariate(1.0 / gap)
        if t > end:
            break
        for st, _i, ev in gen.request(t):
            ev["_recv"] = t
            seq += 1
            heapq.heappush(heap, (st, seq, ev))
        while heap and heap[0][0] <= t:
            st, _seq, ev = heapq.heappop(heap)
            emit(st, ev)
    while heap:  # long watches still open at `end` are not in the log yet (kube-apiserver has not finished them)
        st, _seq, ev = heapq.heappop(heap)
        if st > end:
            continue
        emit(st, ev)
    fh.write(b"".join(buf))
    fh.close()
    files.append(out)
    return events, written, files


def parse_size(text):
    units = {"k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30, "": 1}
    text = text.strip().lower()
    num = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    return int(float(num) * units[text[len(num) :]])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--end", default="2026-03-01T12:00:00Z", help="UTC time of the last event, YYYY-MM-DDTHH:MM:SSZ")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rotate", default="0", help="rotate at this size into lumberjack backups (e.g. 100MiB)")
    ap.add_argument("--gzip-backups", action="store_true")
    args = ap.parse_args()
    events, written, files = write_log(
        args.out, parse_size(args.size), args.hours, parse_end(args.end), args.seed, rotate=parse_size(args.rotate), gzip_backups=args.gzip_backups
    )
    print("%d events, %d bytes, %d file(s): %s" % (events, written, len(files), ", ".join(files)))


if __name__ == "__main__":
    main()
