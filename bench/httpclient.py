"""A keep-alive HTTP client in its own process, driven over stdin/stdout.

The query benchmark serves the store from a thread of its own process (so it can time the
engine between requests); the client lives here so that it never competes with the
server for the GIL. Protocol: one JSON line in ``{"path", "body"}``, one line out
``{"seconds", "bytes", "status", "error"}``, timed around request + full response read.
"""

from __future__ import annotations

import http.client
import json
import sys
import time


def main(port: int, token: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Connection": "keep-alive",
    }
    for line in sys.stdin:
        job = json.loads(line)
        payload = job["body"].encode()
        t0 = time.perf_counter()
        conn.request("POST", job["path"], body=payload, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        dt = time.perf_counter() - t0
        out = {
            "seconds": dt,
            "bytes": len(body),
            "status": resp.status,
            "error": body[:500].decode(errors="replace") if resp.status != 200 else None,
        }
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    conn.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
