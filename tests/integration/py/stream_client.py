#!/usr/bin/env python3
"""One keep-alive connection, GET of one file again and again, every body
checked, and every wait for the server measured.

usage: stream_client.py HOST PORT PATH SHA256 STOPFILE RATE_BPS [TIMEOUT_S]

Sends GET PATH on ONE TCP connection (HTTP/1.1 keep-alive) until STOPFILE
exists; reads each body in chunks, checks status 200, Content-Length and the
body's sha256. RATE_BPS > 0 caps the read rate (the client sleeps between
reads, so the server keeps sending across kills instead of finishing early);
0 reads as fast as it can.

A "wait" is the time one recv() call blocks: with the client's own sleeps
excluded, it is how long the server left the connection silent. Prints at
the end, one per line:
  requests=N   bytes=B   max_wait_ms=X   waits_over_100ms=K
  waits_ms=a,b,c...   (every wait over 20 ms, for the stall distribution)
Exit 0 only if N > 0 and every response matched; 1 on any error, reset,
reconnect or mismatch: the point is that the connection itself survives
whatever happens to the server.
"""
import hashlib
import os
import socket
import sys
import time


def timed_recv(sock, n, waits):
    """recv() that records how long it blocked, also when it times out."""
    t = time.monotonic()
    try:
        return sock.recv(n)
    finally:
        waits.append(time.monotonic() - t)


def recv_exact_headers(sock, buf, waits):
    while b"\r\n\r\n" not in buf:
        chunk = timed_recv(sock, 65536, waits)
        if not chunk:
            raise ConnectionError("EOF in response headers")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def main():
    if len(sys.argv) < 7:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, path, want, stop = sys.argv[1:6]
    rate = float(sys.argv[6])
    timeout = float(sys.argv[7]) if len(sys.argv) > 7 else 60.0
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    waits = []
    n = 0
    total = 0
    rc = 0
    buf = b""
    t_start = time.monotonic()
    try:
        while not os.path.exists(stop):
            sock.sendall(req)
            head, buf = recv_exact_headers(sock, buf, waits)
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            clen = None
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    clen = int(v.strip())
            if status != 200 or clen is None:
                raise ValueError(f"request {n}: status {status}, length {clen}")
            h = hashlib.sha256()
            got = 0
            take = buf[:clen]
            buf = buf[clen:]
            h.update(take)
            got += len(take)
            while got < clen:
                if rate > 0:
                    # keep the average at RATE_BPS since the start
                    ahead = (total + got) / rate - (time.monotonic() - t_start)
                    if ahead > 0:
                        time.sleep(min(ahead, 0.05))
                chunk = timed_recv(sock, min(65536, clen - got), waits)
                if not chunk:
                    raise ConnectionError(f"request {n}: EOF after {got} of {clen} body bytes")
                h.update(chunk)
                got += len(chunk)
            if h.hexdigest() != want:
                raise ValueError(f"request {n}: body mismatch ({got} bytes)")
            total += got
            n += 1
    except (OSError, ValueError, ConnectionError) as e:
        print(f"after {n} requests: {type(e).__name__}: {e}", file=sys.stderr)
        rc = 1
    big = [w for w in waits if w > 0.020]
    print(f"requests={n}")
    print(f"bytes={total}")
    print(f"max_wait_ms={max(waits, default=0) * 1000:.1f}")
    print(f"waits_over_100ms={sum(1 for w in waits if w > 0.1)}")
    print("waits_ms=" + ",".join(f"{w * 1000:.1f}" for w in big))
    if rc == 0 and n == 0:
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
