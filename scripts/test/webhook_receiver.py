#!/usr/bin/env python3
"""A webhook receiver for the daemon's alert tests: a real HTTP server on loopback.

usage: webhook_receiver.py PORT_FILE OUT_FILE KEY_FILE [FAIL_FIRST]

Listens on 127.0.0.1 (a free port, written to PORT_FILE once it listens). Each POST is
appended to OUT_FILE as one JSON line: the path, the headers, the body (as text), and whether
the X-Ibars-Signature header is the HMAC-SHA256 of the body under the key in KEY_FILE,
checked here with Python's own hmac module. The first FAIL_FIRST requests get HTTP 500, to
test that deliveries are retried.
"""
import hashlib
import hmac
import http.server
import json
import sys

port_file, out_file, key_file = sys.argv[1:4]
fail_first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
with open(key_file, "rb") as f:
    key = f.read().strip()
seen = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        seen += 1
        if seen <= fail_first:
            self.send_response(500)
            self.end_headers()
            return
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        got = self.headers.get("X-Ibars-Signature")
        record = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8"),
            "signed": got is not None,
            "signature_ok": got is not None and hmac.compare_digest(got, expected),
        }
        with open(out_file, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os

os.rename(port_file + ".tmp", port_file)
server.serve_forever()
