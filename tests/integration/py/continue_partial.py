#!/usr/bin/env python3
"""A "100 Continue" that does not fit the send buffer at once.

usage: continue_partial.py HOST PORT ROOT SNDBUF

slhttpd runs with --sndbuf SNDBUF and a spool. A client that does not read
fills its own receive buffer and then the server's send ring. This script
measures how much its receive buffer takes (a probe connection), then
makes a file whose GET response leaves only a few bytes free in the ring
once it is queued, and pipelines that GET with a PUT that asks for
"100 Continue": the interim response is written across partial writes.
It checks, for several free-space targets, that the byte stream is the
GET response, then "HTTP/1.1 100 Continue\\r\\n\\r\\n" whole, then (after the
body is sent) the 201. Prints one line per attempt; exit 0 if all are right.
"""
import os
import socket
import sys
import time
import fcntl
import termios

host, port, root, sndbuf = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
RCVBUF = 4096


def sock():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    s.settimeout(10)
    s.connect((host, port))
    return s


def queued(s):
    """Bytes in our receive queue once the sender has stalled."""
    last, same = -1, 0
    for _ in range(300):
        time.sleep(0.02)
        n = int.from_bytes(fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0\0\0\0"), "little")
        same = same + 1 if n == last else 0
        last = n
        if same >= 10 and n > 0:
            return n
    return last


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        try:
            d = s.recv(n - len(buf))
        except socket.timeout:
            break
        if not d:
            break
        buf += d
    return buf


with open(os.path.join(root, "huge.bin"), "wb") as f:
    f.write(b"h" * (4 << 20))
s = sock()
s.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
held = queued(s)  # our receive queue; the server's ring is full behind it
s.close()

ok = True
for target in (3, 9, 17, 24):
    path = os.path.join(root, "cont.bin")
    with open(path, "wb") as f:
        f.write(b"c" * 100000)
    size = 100000
    for _ in range(3):  # the head's length depends on the size's digits
        h = sock()
        h.sendall(b"HEAD /cont.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += h.recv(1)
        h.close()
        size = held + sndbuf - len(head) - target
        with open(path, "wb") as f:
            f.write(b"c" * size)
    c = sock()
    c.sendall(b"GET /cont.bin HTTP/1.1\r\nHost: x\r\n\r\n"
              b"PUT /up.bin HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
              b"Content-Length: 5\r\n\r\n")
    time.sleep(0.5)
    got = read_exact(c, len(head) + size)
    cont = read_exact(c, 25)
    c.sendall(b"hello")
    rest = b""
    while b"\r\n\r\n" not in rest:
        d = c.recv(4096)
        if not d:
            break
        rest += d
    c.close()
    right = (len(got) == len(head) + size and got.endswith(b"c" * 64) and
             cont == b"HTTP/1.1 100 Continue\r\n\r\n" and rest.startswith(b"HTTP/1.1 201"))
    print("free %2d bytes: GET %d bytes, interim %r, then %r: %s" %
          (target, len(got), cont[:25], rest[:12], "ok" if right else "WRONG"))
    ok = ok and right
sys.exit(0 if ok else 1)
