#!/usr/bin/env python3
"""Harness self-check stand-in for slclient (used only with SL_SELFTEST=1).

Same command line as slclient, but uses the kernel stack: it puts --addr on
the --dev interface of the namespace it runs in and fetches with http.client,
all --requests on one keep-alive connection. Output contract (one line, as slclient's --help says):
    status=CODE bytes=N sha256=HEX secs=S MB/s=R [requests=N]
bytes is summed over all responses; sha256 and --out are of the last body.
Exit 0 iff every response was 2xx.
"""
import argparse
import hashlib
import http.client
import subprocess
import sys
import time
import urllib.parse


def main():
    p = argparse.ArgumentParser(prog="slclient(fake)")
    p.add_argument("--dev", required=True)
    p.add_argument("--addr", required=True)
    p.add_argument("--gateway")
    p.add_argument("--url", required=True)
    p.add_argument("--out")
    p.add_argument("--requests", type=int, default=1)
    p.add_argument("--timeout", type=float, default=30)
    a = p.parse_args()
    ifname = a.dev.partition(":")[2]
    r = subprocess.run(["ip", "addr", "add", a.addr, "dev", ifname], capture_output=True, text=True)
    if r.returncode != 0 and "File exists" not in r.stderr and "already assigned" not in r.stderr:
        sys.exit(f"fake slclient: {r.stderr.strip()}")
    subprocess.run(["ip", "link", "set", ifname, "up"], check=True)

    u = urllib.parse.urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=a.timeout)
    t0 = time.monotonic()
    ok = True
    status = total = 0
    digest = ""
    for _ in range(a.requests):
        conn.request("GET", u.path or "/")
        resp = conn.getresponse()
        body = resp.read()
        status = resp.status
        total += len(body)
        digest = hashlib.sha256(body).hexdigest()
        ok = ok and 200 <= status < 300
        if a.out:
            with open(a.out, "wb") as f:
                f.write(body)
    conn.close()
    secs = time.monotonic() - t0
    print(f"status={status} bytes={total} sha256={digest} secs={secs:.3f} "
          f"MB/s={total / secs / 1e6:.2f}" + (f" requests={a.requests}" if a.requests > 1 else ""))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
