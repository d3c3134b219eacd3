#!/usr/bin/env python3
"""Open many keep-alive connections fast, one GET each, then leave them idle.

Client side of bench/bench_idle.sh (a benchmark, not a test).

usage: idle_many.py --host IP --port P --path /F --length L -n N
                    --src IP[,IP...] --ready FILE --go FILE --done FILE
                    [--sample M] [--window W] [--timeout S]
                    [--procs P] [--port-base PORT_BASE (10000)]

Phase 1: opens N connections (non-blocking, at most W connecting or waiting
for their answer at a time), source addresses taken round-robin from --src
and source ports given explicitly (connection g: address g mod A, port
PORT_BASE + g div A; so the caller must give enough addresses for ports
to stay below 65536). Explicit ports because the kernel's own choice
(bind to port 0 or IP_BIND_ADDRESS_NO_PORT) searches the ephemeral range
on every connect and gets slow as it fills: with 3 addresses, opening
slowed from ~10k/s to a few hundred per second past ~60k connections.
Sends "GET PATH" on each and
reads the whole response (200, Content-Length L). A connection that has
its answer is left idle (kept open, no more I/O). When all N are done (or
failed, or --timeout passed) writes READY with key=value lines:
  opened failed secs first_err
Phase 2: waits (idle) until GO exists, then sends a second GET on M of the
connections (evenly spread over the N; M=0: none) and reads the answers;
writes DONE with: sample ok bad secs first_err
Then it stays idle (keeping every connection open) until it is signalled.
Every socket stays open until the process exits.

One process can hold only RLIMIT_NOFILE sockets, and raising the hard limit
needs CAP_SYS_RESOURCE. If it cannot be raised to N+1024, the connections
are split over enough worker processes (forked; each opens its share with
its own soft limit at the hard limit, READY/DONE are summed over them);
--procs P asks for at least P workers. SIGTERM stops the workers too.
"""
import argparse
import errno
import os
import resource
import select
import signal
import socket
import sys
import time
import traceback

def raise_nofile(n):
    """Raise RLIMIT_NOFILE for n sockets if allowed; returns how many
    sockets one process may hold."""
    want = n + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return n
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
        return n
    except (ValueError, OSError) as e:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        nr_open = open("/proc/sys/fs/nr_open").read().strip()
        print(f"idle_many: cannot raise RLIMIT_NOFILE to {want} (soft {soft}, hard {hard}, "
              f"fs.nr_open {nr_open}: {e}); at most {hard - 64} sockets per process",
              flush=True)
        return hard - 64


def write_kv(path, kv):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for k, v in kv.items():
            f.write(f"{k}={v}\n")
    os.rename(tmp, path)


class Conn:
    __slots__ = ("sock", "buf", "state")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.state = 0  # 0 connecting, 1 waiting for the answer, 2 idle


def response_done(buf, length):
    """None: incomplete; True: complete and correct; str: what is wrong."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return None if len(buf) < 8192 else "no end of headers"
    if len(body) < length:
        return None
    if not head.startswith(b"HTTP/1.1 200"):
        return f"status {head[:40]!r}"
    if len(body) != length:
        return f"body {len(body)} bytes, want {length}"
    return True


def open_all(a, n, srcs, req, tag):
    ep = select.epoll()
    conns = {}  # fd -> Conn while in progress
    idle = []   # sockets with their first answer, in open order
    started = failed = 0
    first_err = ""
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    last_print = t0

    def fail(c, why):
        nonlocal failed, first_err
        failed += 1
        if not first_err:
            first_err = why
        fd = c.sock.fileno()
        try:
            ep.unregister(fd)
        except OSError:
            pass
        conns.pop(fd, None)
        c.sock.close()

    while (started < n or conns) and time.monotonic() < deadline:
        while started < n and len(conns) < a.window:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            g = a.src_off + started  # global connection number
            started += 1
            c = Conn(s)
            conns[s.fileno()] = c
            try:
                s.bind((srcs[g % len(srcs)], a.port_base + g // len(srcs)))
            except OSError as e:
                fail(c, f"bind {srcs[g % len(srcs)]}:{a.port_base + g // len(srcs)}: {e}")
                continue
            s.setblocking(False)
            rc = s.connect_ex((a.host, a.port))
            if rc not in (0, errno.EINPROGRESS):
                fail(c, f"connect: {os.strerror(rc)}")
                continue
            ep.register(s.fileno(), select.EPOLLOUT)
        for fd, ev in ep.poll(0.2):
            c = conns.get(fd)
            if c is None:
                continue
            if c.state == 0:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(c, f"connect: {os.strerror(err)}")
                    continue
                try:
                    c.sock.send(req)  # small: fits the empty send buffer
                except OSError as e:
                    fail(c, f"send: {e}")
                    continue
                c.state = 1
                ep.modify(fd, select.EPOLLIN)
                continue
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                fail(c, f"recv: {e}")
                continue
            if not data:
                fail(c, "closed by the server before the answer")
                continue
            c.buf += data
            r = response_done(c.buf, a.length)
            if r is None:
                continue
            if r is not True:
                fail(c, r)
                continue
            ep.unregister(fd)
            del conns[fd]
            c.buf = b""
            c.state = 2
            idle.append(c.sock)
        now = time.monotonic()
        if now - last_print >= 5:
            last_print = now
            print(f"{tag}{now - t0:6.1f}s started {started} idle {len(idle)} in progress "
                  f"{len(conns)} failed {failed}", flush=True)
    for c in list(conns.values()):
        fail(c, "timeout")
    ep.close()
    secs = time.monotonic() - t0
    return idle, failed, secs, first_err


def second_round(socks, a, req):
    ep = select.epoll()
    pend = {}
    ok = bad = 0
    first_err = ""
    t0 = time.monotonic()
    for s in socks:
        try:
            s.send(req)
        except OSError as e:
            bad += 1
            first_err = first_err or f"send: {e}"
            continue
        pend[s.fileno()] = [s, b""]
        ep.register(s.fileno(), select.EPOLLIN)
    deadline = t0 + a.timeout
    while pend and time.monotonic() < deadline:
        for fd, ev in ep.poll(0.2):
            e = pend.get(fd)
            if e is None:
                continue
            why = None
            try:
                data = e[0].recv(65536)
            except BlockingIOError:
                continue
            except OSError as ex:
                why = f"recv: {ex}"
                data = b""
            if not data:
                why = why or "closed by the server"
            else:
                e[1] += data
                r = response_done(e[1], a.length)
                if r is None:
                    continue
                if r is not True:
                    why = r
            ep.unregister(fd)
            del pend[fd]
            if why:
                bad += 1
                first_err = first_err or why
            else:
                ok += 1
    if pend:
        bad += len(pend)
        first_err = first_err or "timeout"
    ep.close()
    return ok, bad, time.monotonic() - t0, first_err


def worker(a, idx, n, m, srcs, req, ready, done):
    tag = f"[{idx}] " if idx >= 0 else ""
    idle, failed, secs, err = open_all(a, n, srcs, req, tag)
    print(f"{tag}phase 1: {len(idle)} open and idle, {failed} failed, {secs:.1f}s"
          + (f" (first error: {err})" if err else ""), flush=True)
    write_kv(ready, {"opened": len(idle), "failed": failed, "secs": f"{secs:.2f}",
                     "first_err": err.replace("\n", " ")})
    while not os.path.exists(a.go):
        time.sleep(0.05)
    m = min(m, len(idle))
    sample = [idle[i * len(idle) // m] for i in range(m)] if m else []
    ok, bad, secs2, err2 = second_round(sample, a, req)
    print(f"{tag}phase 2: second request on {m}: {ok} ok, {bad} bad, {secs2:.2f}s"
          + (f" (first error: {err2})" if err2 else ""), flush=True)
    write_kv(done, {"sample": m, "ok": ok, "bad": bad, "secs": f"{secs2:.2f}",
                    "first_err": err2.replace("\n", " ")})
    while True:  # keep every connection open until we are stopped
        signal.pause()


def read_kv(path):
    kv = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            kv[k] = v
    return kv


def gather(paths, pids, out, sum_keys):
    """Wait for every worker's file, write their sum to out. False if a
    worker died first."""
    while not all(os.path.exists(p) for p in paths):
        for pid in pids:
            r, st = os.waitpid(pid, os.WNOHANG)
            if r:
                print(f"idle_many: worker {pid} exited (status {st})", flush=True)
                return False
        time.sleep(0.05)
    parts = [read_kv(p) for p in paths]
    tot = {k: sum(int(x[k]) for x in parts) for k in sum_keys}
    tot["secs"] = f"{max(float(x['secs']) for x in parts):.2f}"
    tot["first_err"] = next((x["first_err"] for x in parts if x["first_err"]), "")
    write_kv(out, tot)
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--path", required=True)
    p.add_argument("--length", type=int, required=True)
    p.add_argument("-n", type=int, required=True)
    p.add_argument("--src", required=True, help="comma-separated source addresses")
    p.add_argument("--ready", required=True)
    p.add_argument("--go", required=True)
    p.add_argument("--done", required=True)
    p.add_argument("--sample", type=int, default=0)
    p.add_argument("--window", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--port-base", type=int, default=10000)
    a = p.parse_args()
    a.src_off = 0
    srcs = a.src.split(",")
    top = a.port_base + (a.n + len(srcs) - 1) // len(srcs) - 1
    if top > 65535:
        sys.exit(f"idle_many: {a.n} connections over {len(srcs)} addresses need ports up to {top}")
    req = f"GET {a.path} HTTP/1.1\r\nHost: {a.host}\r\n\r\n".encode()
    per_proc = raise_nofile(a.n)
    procs = max(a.procs, -(-a.n // per_proc))
    if procs == 1:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        worker(a, -1, a.n, a.sample, srcs, req, a.ready, a.done)
    window = a.window
    a.window = max(1, window // procs)
    print(f"idle_many: {a.n} connections over {procs} worker processes, "
          f"{a.window} in progress each", flush=True)
    pids = []
    start = 0
    for i in range(procs):
        n_i = a.n * (i + 1) // procs - a.n * i // procs
        m_i = a.sample * (i + 1) // procs - a.sample * i // procs
        a.src_off = start
        start += n_i
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
            try:
                worker(a, i, n_i, m_i, srcs, req, f"{a.ready}.{i}", f"{a.done}.{i}")
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
            os._exit(1)
        pids.append(pid)

    def stop(*_, code=0):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        os._exit(code)
    signal.signal(signal.SIGTERM, stop)
    ok = (gather([f"{a.ready}.{i}" for i in range(procs)], pids, a.ready, ["opened", "failed"])
          and gather([f"{a.done}.{i}" for i in range(procs)], pids, a.done, ["sample", "ok", "bad"]))
    if not ok:
        stop(code=1)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
