#!/usr/bin/env python3
"""HTTP/1.1 semantics checks against slhttpd with Python's http.client.

Usage: http_client_checks.py HOST PORT DOCROOT SMALL MEDIUM
  SMALL, MEDIUM: file names under DOCROOT (served at /NAME).

Prints one line per check, "PASS: ..." or "FAIL: ...", and exits 1 if any
check failed. Checks:
  keepalive   500 GETs alternating SMALL/MEDIUM on ONE connection, every body
              byte-exact, the socket never replaced (no silent reconnect)
  range       Range: bytes=100-199 -> 206, Content-Range, Content-Length,
              exact bytes; and an open-ended range bytes=(N-100)-
  416         Range starting at the file size -> 416, Content-Range bytes */N
  404         missing file -> 404; the connection stays usable afterwards
  405         POST with a body -> 405; the connection stays usable afterwards
              (the request body was consumed) unless the server said close
"""
import http.client
import os
import sys

TIMEOUT = 20
failures = 0


def result(ok, msg):
    global failures
    print(("PASS: " if ok else "FAIL: ") + msg, flush=True)
    if not ok:
        failures += 1


def get(conn, path, headers=None, method="GET", body=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r, r.read()


def still_usable(conn, path, data, what):
    """After a response without Connection: close, the same connection must
    serve another request."""
    sock = conn.sock
    try:
        r, b = get(conn, path)
    except (OSError, http.client.HTTPException) as e:
        result(False, f"{what}: follow-up GET on the same connection failed: {e!r}")
        return
    reused = sock is not None and conn.sock is sock
    result(r.status == 200 and b == data and reused,
           f"{what}: follow-up GET on the same connection -> {r.status}, "
           f"{len(b)} bytes, {'same' if reused else 'NEW'} connection")


def check_keepalive(host, port, files, n=500):
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    names = list(files)
    sock = None
    try:
        for i in range(n):
            name = names[i % len(names)]
            r, b = get(conn, "/" + name)
            if sock is None:
                sock = conn.sock
            if r.status != 200 or b != files[name]:
                result(False, f"keepalive: request {i + 1} /{name}: status {r.status}, "
                              f"{len(b)} bytes (want 200, {len(files[name])})")
                return
            if r.version != 11:
                result(False, f"keepalive: request {i + 1}: response version {r.version}, want HTTP/1.1")
                return
            if conn.sock is not sock:
                result(False, f"keepalive: connection closed after request {i + 1} "
                              f"(Connection: {r.getheader('Connection')})")
                return
    except (OSError, http.client.HTTPException) as e:
        result(False, f"keepalive: request {i + 1}: {e!r}")
        return
    finally:
        conn.close()
    result(True, f"keepalive: {n} GETs on one connection, all bodies exact")


def check_range(host, port, name, data):
    size = len(data)
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        for spec, lo, hi in (("100-199", 100, 199), (f"{size - 100}-", size - 100, size - 1)):
            r, b = get(conn, "/" + name, {"Range": f"bytes={spec}"})
            cr = r.getheader("Content-Range")
            cl = r.getheader("Content-Length")
            want_cr = f"bytes {lo}-{hi}/{size}"
            ok = (r.status == 206 and cr == want_cr and cl == str(hi - lo + 1)
                  and b == data[lo:hi + 1])
            result(ok, f"range bytes={spec}: status {r.status} Content-Range {cr!r} "
                       f"Content-Length {cl} body {'exact' if b == data[lo:hi + 1] else 'WRONG'}"
                       f" (want 206, {want_cr!r}, {hi - lo + 1})")
    except (OSError, http.client.HTTPException) as e:
        result(False, f"range: {e!r}")
    finally:
        conn.close()


def check_416(host, port, name, data):
    size = len(data)
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        r, _ = get(conn, "/" + name, {"Range": f"bytes={size}-"})
        cr = r.getheader("Content-Range")
        result(r.status == 416 and cr == f"bytes */{size}",
               f"416: Range bytes={size}- -> {r.status}, Content-Range {cr!r} "
               f"(want 416, 'bytes */{size}')")
    except (OSError, http.client.HTTPException) as e:
        result(False, f"416: {e!r}")
    finally:
        conn.close()


def check_404(host, port, name, data):
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        r, _ = get(conn, "/no-such-file.bin")
        result(r.status == 404, f"404: GET /no-such-file.bin -> {r.status}")
        if not r.will_close:
            still_usable(conn, "/" + name, data, "404")
    except (OSError, http.client.HTTPException) as e:
        result(False, f"404: {e!r}")
    finally:
        conn.close()


def check_405(host, port, name, data):
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        r, _ = get(conn, "/" + name, {"Content-Type": "text/plain"}, method="POST",
                   body=b"x=1&y=2-request-body")
        result(r.status == 405, f"405: POST /{name} -> {r.status}")
        if r.status == 405 and r.getheader("Allow") is None:
            print("NOTE: 405 without an Allow header (RFC 9110 15.5.6 requires one)")
        if not r.will_close:
            still_usable(conn, "/" + name, data, "405")
    except (OSError, http.client.HTTPException) as e:
        result(False, f"405: {e!r}")
    finally:
        conn.close()


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    host, port, root, small, medium = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
    files = {}
    for n in (small, medium):
        with open(os.path.join(root, n), "rb") as f:
            files[n] = f.read()
    check_keepalive(host, port, files)
    check_range(host, port, medium, files[medium])
    check_416(host, port, medium, files[medium])
    check_404(host, port, small, files[small])
    check_405(host, port, small, files[small])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
