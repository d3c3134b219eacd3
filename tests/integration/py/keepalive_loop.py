#!/usr/bin/env python3
"""One keep-alive connection, requests in a loop, every body checked.

usage: keepalive_loop.py HOST PORT PATH SHA256 STOPFILE [TIMEOUT_S]

Sends GET PATH on ONE http.client connection again and again until
STOPFILE exists, checks status 200 and the body's sha256 each time, and
fails (exit 1) on any error, reconnect or mismatch: the point is that the
connection itself survives whatever happens to the server. Prints
"requests=N" at the end. Exit 0 only if N > 0 and every response matched.
"""
import hashlib
import http.client
import os
import sys


def main():
    if len(sys.argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, path, want, stop = sys.argv[1:6]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 60.0
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    n = 0
    try:
        conn.connect()
        sock = conn.sock
        while not os.path.exists(stop):
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                print(f"request {n}: status {r.status}", file=sys.stderr)
                return 1
            if hashlib.sha256(body).hexdigest() != want:
                print(f"request {n}: body mismatch ({len(body)} bytes)", file=sys.stderr)
                return 1
            if conn.sock is not sock:
                print(f"request {n}: the connection was replaced", file=sys.stderr)
                return 1
            n += 1
    except (OSError, http.client.HTTPException) as e:
        print(f"after {n} requests: {type(e).__name__}: {e}", file=sys.stderr)
        print(f"requests={n}")
        return 1
    print(f"requests={n}")
    return 0 if n > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
