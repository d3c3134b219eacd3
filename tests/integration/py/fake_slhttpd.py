#!/usr/bin/env python3
"""Harness self-check stand-in for slhttpd (used only with SL_SELFTEST=1).

Takes slhttpd's command line, but serves with the *kernel* stack: it puts the
--addr on the --dev interface and runs nginx (1 worker) on --root. It honours
--ready-file (created once nginx accepts connections), --stats-file (written
on SIGUSR1 and at exit, "name value" lines, atomically), SIGTERM (stop, exit
0). --impair, --cc, --gateway and --no-gso are accepted and ignored (no netem
on this machine). Runs inside the server namespace (lib.sh starts it there).

It doubles as an executable statement of the CLI contract the integration
tests assume from slhttpd.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def parse():
    p = argparse.ArgumentParser(prog="slhttpd(fake)")
    p.add_argument("--dev", required=True)
    p.add_argument("--addr", required=True)
    p.add_argument("--gateway")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--impair")
    p.add_argument("--cc", choices=["newreno", "cubic"])
    p.add_argument("--stats-file")
    p.add_argument("--ready-file")
    p.add_argument("--no-gso", action="store_true")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args()


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def read_counters(ifname):
    c = {}
    try:
        with open("/proc/net/snmp") as f:
            lines = [l.split() for l in f if l.startswith("Tcp:")]
        tcp = dict(zip(lines[0][1:], (int(x) for x in lines[1][1:])))
        c.update(tcp_active_opens=tcp["ActiveOpens"], tcp_passive_opens=tcp["PassiveOpens"],
                 tcp_retransmits=tcp["RetransSegs"], tcp_rst_tx=tcp["OutRsts"],
                 tcp_rx_segs=tcp["InSegs"], tcp_tx_segs=tcp["OutSegs"],
                 drop_tcp_csum=tcp["InCsumErrors"])
    except (OSError, KeyError, IndexError):
        pass
    for ours, theirs in (("rx_frames", "rx_packets"), ("tx_frames", "tx_packets"),
                         ("rx_bytes", "rx_bytes"), ("tx_bytes", "tx_bytes")):
        try:
            with open(f"/sys/class/net/{ifname}/statistics/{theirs}") as f:
                c[ours] = int(f.read())
        except OSError:
            pass
    c["selftest_kernel_stack"] = 1
    return c


def write_stats(path, ifname):
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for k, v in read_counters(ifname).items():
            f.write(f"{k} {v}\n")
    os.rename(tmp, path)


def main():
    a = parse()
    kind, _, ifname = a.dev.partition(":")
    if kind not in ("packet", "tap") or not ifname:
        sys.exit(f"fake slhttpd: bad --dev {a.dev}")
    ip = a.addr.split("/")[0]
    log = (lambda *x: None) if a.quiet else (lambda *x: print("fake-slhttpd:", *x, flush=True))
    if a.impair:
        log(f"--impair {a.impair} ignored (kernel stack, no netem)")
    r = sh("ip", "addr", "add", a.addr, "dev", ifname, check=False)
    if r.returncode != 0 and "File exists" not in r.stderr and "already assigned" not in r.stderr:
        sys.exit(f"fake slhttpd: ip addr add failed: {r.stderr.strip()}")
    sh("ip", "link", "set", ifname, "up")

    work = tempfile.mkdtemp(prefix="fake-slhttpd.")
    os.makedirs(f"{work}/tmp")
    with open(f"{work}/nginx.conf", "w") as f:
        f.write(f"""daemon off;
master_process on;
worker_processes 1;
user root;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    default_type application/octet-stream;
    access_log {'off' if a.quiet else work + '/access.log'};
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    server {{ listen {ip}:{a.port}; root {a.root}; }}
}}
""")
    ngx = subprocess.Popen(["nginx", "-p", work, "-e", f"{work}/error.log", "-c", f"{work}/nginx.conf"])

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGUSR1, lambda *_: write_stats(a.stats_file, ifname))

    deadline = time.monotonic() + 10
    while True:
        if ngx.poll() is not None:
            sys.exit(f"fake slhttpd: nginx exited ({ngx.returncode})")
        try:
            socket.create_connection((ip, a.port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                ngx.terminate()
                sys.exit("fake slhttpd: nginx not listening after 10 s")
            time.sleep(0.05)
    if a.ready_file:
        open(a.ready_file, "w").close()
    log(f"listening on {ip}:{a.port} root {a.root} (kernel nginx pid {ngx.pid})")

    rc = 0
    while not stop:
        if ngx.poll() is not None:
            log(f"nginx died ({ngx.returncode})")
            rc = 1
            break
        time.sleep(0.05)
    if ngx.poll() is None:
        ngx.terminate()
        try:
            ngx.wait(10)
        except subprocess.TimeoutExpired:
            ngx.kill()
            ngx.wait()
    write_stats(a.stats_file, ifname)
    sh("ip", "addr", "del", a.addr, "dev", ifname, check=False)
    subprocess.run(["rm", "-rf", work])
    sys.exit(rc)


if __name__ == "__main__":
    main()
