#!/usr/bin/env python3
"""Many keep-alive connections that go idle, then come back.

usage: idle_conns.py HOST PORT PATH LENGTH N READYFILE GOFILE [TIMEOUT_S]

Opens N connections, sends one GET PATH on each and reads the whole
response (Content-Length must be LENGTH), then creates READYFILE and waits
(idle) until GOFILE exists; then sends a second GET on every connection
and reads it. Any error, short body or closed connection fails. Prints
"first=N second=M" and exits 0 only if both equal N.
"""
import os
import selectors
import socket
import sys
import time


def run_round(socks, host, path, length, timeout):
    sel = selectors.DefaultSelector()
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    state = {}
    for s in socks:
        s.sendall(req)
        state[s] = b""
        sel.register(s, selectors.EVENT_READ)
    done = 0
    deadline = time.time() + timeout
    while state and time.time() < deadline:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError as e:
                print(f"recv: {e}", file=sys.stderr)
                data = b""
            if not data:
                print("connection closed by the server", file=sys.stderr)
                sel.unregister(s)
                del state[s]
                continue
            buf = state[s] + data
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep and len(body) >= length:
                if not head.startswith(b"HTTP/1.1 200") or len(body) != length:
                    print(f"bad response: {head[:40]!r} body {len(body)}", file=sys.stderr)
                else:
                    done += 1
                sel.unregister(s)
                del state[s]
            else:
                state[s] = buf
    sel.close()
    return done


def main():
    if len(sys.argv) < 8:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, path, length, n, ready, go = sys.argv[1:8]
    timeout = float(sys.argv[8]) if len(sys.argv) > 8 else 60.0
    length, n = int(length), int(n)
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((host, int(port)))
        s.setblocking(True)
        socks.append(s)
    first = run_round(socks, host, path, length, timeout)
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.05)
    second = run_round(socks, host, path, length, timeout)
    print(f"first={first} second={second}")
    return 0 if first == n and second == n else 1


if __name__ == "__main__":
    sys.exit(main())
