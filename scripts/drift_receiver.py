#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local receiver for kubesec drift alert webhooks (127.0.0.1 only): the demo's and the tests' endpoint.

Checks the ``X-Kubesec-Signature: sha256=<hex>`` header (HMAC-SHA256 of the raw body with the shared secret) with a
constant-time comparison, answers 401 when it does not match, 200 otherwise, and appends every accepted payload
as one JSON line to ``--out`` (the demo prints them). The secret is read from an environment variable so that it
is never on a command line.

    KUBESEC_DRIFT_WEBHOOK_SECRET=... scripts/drift_receiver.py --port 8765 --out .demo/drift-webhook.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOOPBACK = "127.0.0.1"
MAX_BODY = 1 << 20


class Receiver:
    """In-process receiver: ``payloads`` (accepted, parsed), ``requests`` (every request: path, signature_ok)."""

    def __init__(self, secret: str | None = None, port: int = 0, out: str | None = None, status: int = 200):
        self.secret, self.out, self.status = secret, out, status
        self.payloads: list[dict] = []
        self.requests: list[dict] = []
        self.raw: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # the path can hold a token
                pass

            def _reply(self, status, text):
                body = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return self._reply(413, "payload too large")
                raw = self.rfile.read(length)
                given = self.headers.get("X-Kubesec-Signature") or ""
                ok = None
                if receiver.secret:
                    expected = "sha256=" + hmac.new(receiver.secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
                    ok = hmac.compare_digest(given, expected)
                receiver.requests.append(
                    {
                        "path": self.path,
                        "signature_ok": ok,
                        "content_type": self.headers.get("Content-Type"),
                        "headers": {k: v for k, v in self.headers.items()},
                    }
                )
                if ok is False:
                    return self._reply(401, "bad signature")
                if receiver.status != 200:
                    return self._reply(receiver.status, "refused by the test receiver")
                try:
                    payload = json.loads(raw.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    return self._reply(400, "not JSON")
                receiver.payloads.append(payload)
                receiver.raw.append(raw)
                if receiver.out:
                    with open(receiver.out, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(payload, sort_keys=True) + "\n")
                return self._reply(200, "ok")

        self.server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://%s:%d" % (LOOPBACK, self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--out", default=".demo/drift-webhook.jsonl", help="accepted payloads, one JSON per line")
    parser.add_argument(
        "--secret-env", default="KUBESEC_DRIFT_WEBHOOK_SECRET", help="environment variable holding the HMAC secret (unset: signatures not checked)"
    )
    args = parser.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    receiver = Receiver(os.environ.get(args.secret_env) or None, args.port, args.out)
    print("drift receiver on %s (payloads -> %s)" % (receiver.url, args.out), flush=True)
    try:
        receiver.server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
