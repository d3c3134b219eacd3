"""Resource limits seen from a kernel client: N keep-alive connections are
held open; the next connection attempt must be refused at once (RST ->
ConnectionRefusedError), the held connections must keep serving, and once
one closes a new connection must succeed.

usage: limits_check.py HOST PORT PATH N
Prints PASS:/FAIL: lines; exit status 1 on any failure."""
import http.client
import socket
import sys
import time

host, port, path, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
fails = 0


def check(ok, msg):
    global fails
    print(("PASS: " if ok else "FAIL: ") + msg, flush=True)
    if not ok:
        fails += 1


def get(c):
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    return r.status, len(body)


held = []
for i in range(n):
    c = http.client.HTTPConnection(host, port, timeout=10)
    st, ln = get(c)
    if st != 200:
        check(False, f"connection {i}: status {st}")
    held.append(c)
check(len(held) == n, f"{n} keep-alive connections open and served")

t0 = time.monotonic()
try:
    s = socket.create_connection((host, port), timeout=10)
    s.close()
    check(False, f"connection {n + 1} beyond the limit was accepted")
except ConnectionRefusedError:
    dt = time.monotonic() - t0
    check(dt < 2.0, f"connection {n + 1} refused cleanly (RST) in {dt * 1000:.0f} ms")
except OSError as e:
    check(False, f"connection {n + 1}: {e!r} instead of a clean refusal")

ok = 0
for c in held:
    st, ln = get(c)
    ok += st == 200
check(ok == n, f"all {n} held connections still serve after the refusal ({ok}/{n})")

held.pop().close()
deadline = time.monotonic() + 5
while True:
    try:
        c = http.client.HTTPConnection(host, port, timeout=10)
        st, ln = get(c)
        check(st == 200, "after one connection closed, a new one is served")
        c.close()
        break
    except ConnectionRefusedError:
        if time.monotonic() > deadline:
            check(False, "after one connection closed, new connections are still refused")
            break
        time.sleep(0.05)  # the server's TIME-WAIT / close handshake completes
for c in held:
    c.close()
sys.exit(1 if fails else 0)
