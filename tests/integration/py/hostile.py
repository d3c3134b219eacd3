#!/usr/bin/env python3
"""Black-box hostile-segment checks against slhttpd (hostile input).

Run in the client namespace (see test_hostile.sh):
  hostile.py --iface vcli --srv-ip 198.18.0.2 --srv-mac MAC --port 80
             --pid SLHTTPD_PID --stats STATS_FILE --root DOCROOT

Every case sends hand-built frames through the veth from spoofed addresses
(198.18.0.50 ...), asserts what comes back on the wire, and asserts that the
named counter in slhttpd's stats moved by the expected amount (SIGUSR1
snapshots before and after). Prints "PASS: ..." / "FAIL: ..." lines; exits 1
if anything failed.

A case that expects silence waits QUIET seconds and requires that the server
sent no frame at all in that time (every connection of earlier cases is
closed, so the server has nothing else to say). Every counter snapshot is
taken behind an ARP barrier (hostile_net.Net.barrier): the server has
processed every frame sent before it.

Cases (CASES below; --only NAME... runs a subset, --seed N repeats one run):
baseline, RST in/out of window and at its edges, exact RST, RST storm
(challenge-ACK rate limit), blind SYN, blind data and unacceptable ACKs,
bad checksums, data offsets / option lengths / IP header fields, hostile
SACK blocks, PAWS, IP fragments, ICMP echo / PTB (RFC 5927 sequence and MTU
checks, seen on the wire as the server's segment size) / other forged
errors, LAND and martian sources, a SYN in a link-layer broadcast frame,
a SYN carrying data, attacks on SYN-RECEIVED, MSS 0, odd flags to the
listener, closed ports.
"""
import argparse
import math
import os
import random
import struct
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_net import (ACK, FIN, PROTO_ICMP, PROTO_TCP, PSH, RST, SYN, URG,  # noqa: E402
                         BCAST_MAC, Conn, Net, Stats, csum, icmp_msg, ip_hdr, opt_sack,
                         opt_syn, opt_ts, seq_add, seq_diff, tcp_hdr)

SPOOF = "198.18.0.50"      # our client address (not owned by the client kernel)
ROUTER = "198.18.0.60"     # "router" that sends ICMP errors
QUIET = 0.4                # silence window for "no reply" checks
REPLY = 1.5                # deadline for an expected reply

failures = 0
passes = 0


def result(ok, msg, detail=None):
    global failures, passes
    if ok:
        passes += 1
    else:
        failures += 1
    print(("PASS: " if ok else "FAIL: ") + msg, flush=True)
    if not ok and detail:
        for line in str(detail).splitlines():
            print("    | " + line, flush=True)


def info(msg):
    print("  " + msg, flush=True)


class Delta:
    def __init__(self, before, after):
        self.b, self.a = before, after

    def __getitem__(self, k):
        return self.a.get(k, 0) - self.b.get(k, 0)

    def moved(self):
        return {k: self[k] for k in sorted(self.a) if self[k] != 0}

    def show(self, keys=None):
        m = self.moved()
        if keys:
            m = {k: v for k, v in m.items() if k in keys}
        return " ".join(f"{k}+{v}" for k, v in m.items()
                        if not k.startswith(("rx_", "tx_")))


class Hostile:
    def __init__(self, a):
        self.a = a
        self.srv = a.srv_ip
        self.port = a.port
        self.net = Net(a.iface, bytes.fromhex(a.srv_mac.replace(":", "")), a.srv_ip,
                       [SPOOF, ROUTER])
        self.stats = Stats(a.pid, a.stats, barrier=lambda: self.net.barrier(SPOOF))
        self.next_port = random.randint(20000, 30000)
        with open(os.path.join(a.root, "small.bin"), "rb") as f:
            self.small = f.read()
        with open(os.path.join(a.root, "medium.bin"), "rb") as f:
            self.medium = f.read()

    # ------------------------------------------------------------ helpers
    def sport(self):
        self.next_port += 1
        return self.next_port

    def snap(self):
        return self.stats.snap()

    def conn(self, **kw):
        return Conn(self.net, self.sport(), src=SPOOF, dport=self.port, **kw)

    def established(self, what, **kw):
        """A fresh connection with one successful GET on it (None on failure)."""
        c = self.conn(**kw)
        sa = c.connect()
        if sa is None:
            result(False, f"{what}: handshake from {SPOOF}:{c.sport} got no SYN-ACK")
            return None
        r = c.request("small.bin")
        if not r or r[0] != 200 or r[2] != self.small:
            result(False, f"{what}: first GET on the connection failed: {r and r[0]}")
            c.abort()
            return None
        c.drain()
        return c

    def works(self, c, what, name="small.bin"):
        """A GET on C returns the exact file: the connection survived."""
        want = self.small if name == "small.bin" else self.medium
        r = c.request(name, timeout=5)
        ok = r is not None and r[0] == 200 and r[2] == want
        result(ok, f"{what}: connection survives (GET /{name} -> "
                   f"{r[0] if r else 'nothing'}{', body exact' if ok else ''})",
               None if ok else "\n".join(str(p) for p in c.log[-8:]))
        return ok

    def in_window_off(self, c, lo=1):
        w = max(2, min(c.srv_wnd, 1 << 20))
        return random.randint(lo, w - 1)

    def is_chack(self, c):
        """Predicate: a pure ACK <SEQ=SND.NXT><ACK=RCV.NXT> (challenge/dup ACK)."""
        return lambda p: (p.flags & (SYN | FIN | RST | ACK)) == ACK and not p.payload and \
            p.ack == c.snd_nxt and p.seq == c.rcv_nxt

    def quiet(self, n0):
        """Server frames since the counter read N0, after a QUIET window."""
        end = time.monotonic() + QUIET
        while time.monotonic() < end:
            time.sleep(0.02)
        return self.net.srv_frames - n0

    def ctr(self, d, name, want, what, cmp="=="):
        got = d[name]
        ok = got == want if cmp == "==" else got >= want
        result(ok, f"{what}: {name} {'+' if got >= 0 else ''}{got} (want {cmp} {want})",
               None if ok else f"counters that moved: {d.show()}")
        return ok

    def syn_frame(self, sport, dport=None, src=SPOOF, dst=None, seq=None, opts=None,
                  flags=SYN, **kw):
        seq = random.getrandbits(32) if seq is None else seq
        opts = opt_syn(1460, 7, True, (1, 0)) if opts is None else opts
        return tcp_hdr(src, dst or self.srv, sport, dport or self.port, seq, 0, flags, 65535,
                       opts, **kw)

    # ------------------------------------------------------------ cases
    def case_baseline(self):
        c = self.conn()
        b = self.snap()
        sa = c.connect()
        result(sa is not None, f"baseline: handshake {SPOOF}:{c.sport} -> SYN-ACK "
                               f"({sa and ' '.join(sorted(sa.opts))})")
        if sa is None:
            return False
        result(c.ts_ok and c.sack_ok and "ws" in sa.opts,
               f"baseline: SYN-ACK negotiates TS, SACK and WS ({sa})")
        self.works(c, "baseline")
        c.abort()
        a = self.snap()
        d = Delta(b, a)
        self.ctr(d, "tcp_passive_opens", 1, "baseline")
        self.ctr(d, "tcp_rst_rx", 1, "baseline (exact-seq RST to close)")
        return True

    def case_rst_in_window(self):
        c = self.established("blind in-window RST")
        if not c:
            return
        b = self.snap()
        off = self.in_window_off(c, lo=1)
        c.send(RST, seq=seq_add(c.snd_nxt, off), ack=0, opts=b"")
        p1 = c.expect(self.is_chack(c), REPLY)
        off2 = self.in_window_off(c, lo=2)
        c.send(RST | ACK, seq=seq_add(c.snd_nxt, off2), opts=b"")
        p2 = c.expect(self.is_chack(c), REPLY)
        a = self.snap()
        d = Delta(b, a)
        result(p1 is not None, f"blind in-window RST (seq = RCV.NXT+{off}) -> challenge ACK "
                               f"({p1})", "\n".join(map(str, c.log[-5:])))
        result(p2 is not None, f"blind in-window RST|ACK (seq = RCV.NXT+{off2}) -> challenge "
                               f"ACK ({p2})", "\n".join(map(str, c.log[-5:])))
        self.ctr(d, "tcp_challenge_ack_tx", 2, "blind in-window RST")
        self.ctr(d, "tcp_rst_rx", 0, "blind in-window RST")
        self.works(c, "blind in-window RST")
        c.abort()

    def case_rst_out_of_window(self):
        c = self.established("out-of-window RST")
        if not c:
            return
        b = self.snap()
        n0 = self.net.srv_frames
        c.send(RST, seq=seq_add(c.snd_nxt, 0x40000000), opts=b"")
        c.send(RST | ACK, seq=seq_add(c.snd_nxt, -0x40000000), opts=b"")
        c.send(RST, seq=seq_add(c.snd_nxt, -1), opts=b"")
        w = c.srv_wnd  # RCV.WND as last advertised: RCV.NXT + w is just outside
        c.send(RST, seq=seq_add(c.snd_nxt, w), opts=b"")
        n = self.quiet(n0)
        a = self.snap()
        d = Delta(b, a)
        result(n == 0, f"out-of-window RST (+1G, -1G, -1, +RCV.WND={w}): ignored silently "
                       f"({n} frames back)", "\n".join(map(str, c.drain())))
        self.ctr(d, "drop_tcp_rst_bad_seq", 4, "out-of-window RST")
        b = self.snap()
        c.send(RST, seq=seq_add(c.snd_nxt, w - 1), opts=b"")
        p = c.expect(self.is_chack(c), REPLY)
        a = self.snap()
        result(p is not None, f"RST at RCV.NXT+RCV.WND-1 (last byte of the window) -> challenge "
                              f"ACK ({p})")
        self.ctr(Delta(b, a), "tcp_challenge_ack_tx", 1, "RST at the window edge")
        self.works(c, "out-of-window RST")
        c.abort()

    def case_rst_exact(self):
        c = self.established("exact-seq RST")
        if not c:
            return
        b = self.snap()
        n0 = self.net.srv_frames
        c.send(RST, seq=c.snd_nxt, ack=0, opts=b"")
        n = self.quiet(n0)
        a = self.snap()
        d = Delta(b, a)
        result(n == 0, f"exact-seq RST: no reply ({n} frames)")
        self.ctr(d, "tcp_rst_rx", 1, "exact-seq RST")
        self.ctr(d, "http_conns_open", -1, "exact-seq RST (slhttpd dropped the connection)")
        # The connection is gone: a segment on the old 4-tuple is answered
        # by the listener with <SEQ=SEG.ACK><CTL=RST> (RFC 9293 3.10.7.2).
        c.reset = False
        c.send_data(b"GET /small.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        p = c.expect(lambda p: p.flags & RST, REPLY)
        a2 = self.snap()
        result(p is not None and p.seq == c.rcv_nxt,
               f"exact-seq RST: connection gone, data on it answered by RST ({p})")
        self.ctr(Delta(a, a2), "drop_tcp_listen_ack", 1, "exact-seq RST, data afterwards")
        self.net.unregister(c.key)

    def case_rst_storm(self, n=2000, duration=2.0):
        c = self.established("RST storm")
        if not c:
            return
        frames = []
        for _ in range(n):
            s = seq_add(c.snd_nxt, self.in_window_off(c, lo=1))
            frames.append(c.seg(RST, seq=s, ack=0, opts=b""))
        b = self.snap()
        t0 = time.monotonic()
        burst = 100
        for i in range(0, n, burst):
            for f in frames[i:i + burst]:
                self.net.send_ip(c.src, c.dst, PROTO_TCP, f)
            target = t0 + duration * (i + burst) / n
            while time.monotonic() < target:
                time.sleep(0.005)
        t1 = time.monotonic()
        got = c.collect_until_idle(idle=0.5, limit=4)
        a = self.snap()
        d = Delta(b, a)
        ch = [p for p in got if self.is_chack(c)(p)]
        span = t1 - t0
        allowed = 10 * (math.ceil(span + 0.1) + 1)  # calendar seconds touched
        times = [p.t for p in ch]
        max1s = max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)
        info(f"RST storm: {n} RSTs in {span:.2f}s, {len(ch)} challenge ACKs seen "
             f"(max {max1s} in any 1 s), tcp_challenge_ack_tx+{d['tcp_challenge_ack_tx']} "
             f"drop_tcp_challenge_ack_limited+{d['drop_tcp_challenge_ack_limited']}")
        result(0 < len(ch) <= allowed and max1s <= 20,
               f"RST storm: challenge ACKs rate limited ({len(ch)} in {span:.1f}s, "
               f"max {max1s} per 1 s window; allowed <= {allowed})")
        self.ctr(d, "tcp_challenge_ack_tx", len(ch), "RST storm (every counted ACK seen)")
        self.ctr(d, "drop_tcp_challenge_ack_limited", n - allowed, "RST storm", cmp=">=")
        self.ctr(d, "tcp_rst_rx", 0, "RST storm")
        tot = d["tcp_challenge_ack_tx"] + d["drop_tcp_challenge_ack_limited"]
        result(tot == n, f"RST storm: every RST accounted for ({tot}/{n})")
        self.works(c, "RST storm")
        c.abort()

    def case_syn_in_window(self):
        c = self.established("blind in-window SYN")
        if not c:
            return
        b = self.snap()
        off = self.in_window_off(c, lo=1)
        c.send(SYN, seq=seq_add(c.snd_nxt, off), ack=0, opts=c.syn_opts())
        p1 = c.expect(self.is_chack(c), REPLY)
        c.send(SYN, seq=c.snd_nxt, ack=0, opts=c.syn_opts())
        p2 = c.expect(self.is_chack(c), REPLY)
        a = self.snap()
        d = Delta(b, a)
        result(p1 is not None, f"blind in-window SYN (seq = RCV.NXT+{off}) -> challenge ACK ({p1})",
               "\n".join(map(str, c.log[-5:])))
        result(p2 is not None, f"blind SYN at seq = RCV.NXT -> challenge ACK ({p2})")
        self.ctr(d, "drop_tcp_syn_in_window", 2, "blind in-window SYN")
        self.ctr(d, "tcp_challenge_ack_tx", 2, "blind in-window SYN")
        # A SYN below the window (the old ISN, as a restarted peer would
        # send): out of window, answered with an ACK, nothing reset.
        b2 = a
        c.send(SYN, seq=c.iss, ack=0, opts=c.syn_opts())
        p3 = c.expect(self.is_chack(c), REPLY)
        a2 = self.snap()
        result(p3 is not None, f"SYN with the old ISN (below the window) -> ACK ({p3})")
        self.ctr(Delta(b2, a2), "drop_tcp_out_of_window", 1, "SYN below the window")
        self.ctr(Delta(b, a2), "tcp_rst_rx", 0, "blind SYN")
        self.works(c, "blind in-window SYN")
        c.abort()

    EVIL = b"EVIL /injected HTTP/1.1\r\nHost: x\r\n\r\n"

    def not_delivered(self, d, what):
        ok = d["http_requests"] == 0 and d["http_parse_errors"] == 0 and d["http_resp_4xx"] == 0
        result(ok, f"{what}: injected bytes never reached the HTTP parser "
                   f"(http_requests+{d['http_requests']} parse_errors+{d['http_parse_errors']} "
                   f"4xx+{d['http_resp_4xx']})")

    def case_data_injection(self):
        c = self.established("blind data injection")
        if not c:
            return
        b = self.snap()
        c.send(ACK | PSH, seq=seq_add(c.snd_nxt, 0x40000000), payload=self.EVIL)
        p1 = c.expect(self.is_chack(c), REPLY)
        c.send(ACK | PSH, seq=seq_add(c.snd_nxt, -0x10000), payload=self.EVIL)
        p2 = c.expect(self.is_chack(c), REPLY)
        a = self.snap()
        d = Delta(b, a)
        result(p1 is not None, f"data with seq RCV.NXT+1G -> ACK only ({p1})")
        result(p2 is not None, f"data with seq RCV.NXT-64K (old) -> ACK only ({p2})")
        self.ctr(d, "drop_tcp_out_of_window", 2, "out-of-window data")
        self.not_delivered(d, "out-of-window data")
        # informational: are ACKs to out-of-window segments rate limited?
        for _ in range(200):
            c.send(ACK, seq=seq_add(c.snd_nxt, 0x40000000 + random.getrandbits(20)), opts=b"")
        acks = [p for p in c.collect_until_idle(idle=0.3, limit=3) if self.is_chack(c)(p)]
        info(f"200 out-of-window pure ACKs drew {len(acks)} ACKs (no rate limit required by "
             f"RFC 9293; Linux limits these, tcp_invalid_ratelimit)")

        # In-window data without the ACK bit: dropped (RFC 9293 3.10.7.4 fifth).
        b = self.snap()
        n0 = self.net.srv_frames
        c.send(PSH, seq=c.snd_nxt, ack=0, payload=self.EVIL)
        n = self.quiet(n0)
        a = self.snap()
        d = Delta(b, a)
        result(n == 0, f"in-window data without ACK: dropped silently ({n} frames)")
        self.ctr(d, "drop_tcp_no_ack", 1, "in-window data without ACK")
        self.not_delivered(d, "in-window data without ACK")

        # ACK for data never sent (RFC 5961 5.2): discard + challenge ACK.
        b = self.snap()
        c.send(ACK | PSH, seq=c.snd_nxt, ack=seq_add(c.rcv_nxt, 100000), payload=self.EVIL)
        p3 = c.expect(self.is_chack(c), REPLY)
        c.send(ACK, seq=c.snd_nxt, ack=seq_add(c.rcv_nxt, 1))
        p4 = c.expect(self.is_chack(c), REPLY)
        c.send(ACK | PSH, seq=c.snd_nxt, ack=seq_add(c.rcv_nxt, -0x40000000), payload=self.EVIL)
        p5 = c.expect(self.is_chack(c), REPLY)
        a = self.snap()
        d = Delta(b, a)
        result(p3 is not None, f"data with ACK = SND.NXT+100000 -> challenge ACK ({p3})")
        result(p4 is not None, f"pure ACK = SND.NXT+1 -> challenge ACK ({p4})")
        result(p5 is not None, f"data with ACK = SND.UNA-1G (too old) -> challenge ACK ({p5})")
        self.ctr(d, "drop_tcp_ack_unsent", 2, "ACK for data never sent")
        self.ctr(d, "drop_tcp_old_ack", 1, "ACK too old")
        self.ctr(d, "tcp_challenge_ack_tx", 3, "unacceptable ACKs")
        self.not_delivered(d, "data with an unacceptable ACK")
        b = self.snap()
        ok = self.works(c, "blind data injection")
        a = self.snap()
        if ok:
            self.ctr(Delta(b, a), "http_requests", 1, "blind data injection, follow-up GET")
        c.abort()

    def case_checksums(self):
        b = self.snap()
        n0 = self.net.srv_frames
        sp = self.sport()
        t = self.syn_frame(sp, bad_csum=True)
        self.net.send_ip(SPOOF, self.srv, PROTO_TCP, t)
        t = self.syn_frame(self.sport())
        self.net.send_ip(SPOOF, self.srv, PROTO_TCP, t, bad_csum=True)
        echo = icmp_msg(8, 0, 0x42420001, b"x" * 32)
        echo = echo[:2] + bytes([echo[2] ^ 0xff]) + echo[3:]
        self.net.send_ip(SPOOF, self.srv, PROTO_ICMP, echo)
        n = self.quiet(n0)
        a = self.snap()
        d = Delta(b, a)
        result(n == 0, f"bad checksums (TCP SYN, IP header, ICMP echo): no reply ({n} frames)")
        self.ctr(d, "drop_tcp_csum", 1, "SYN with a bad TCP checksum")
        self.ctr(d, "drop_ip_csum", 1, "SYN with a bad IP header checksum")
        self.ctr(d, "drop_icmp_csum", 1, "echo with a bad ICMP checksum")
        self.ctr(d, "tcp_passive_opens", 0, "bad checksums")

        c = self.established("bad checksum on a connection")
        if not c:
            return
        b = self.snap()
        n0 = self.net.srv_frames
        c.send(ACK | PSH, payload=self.EVIL, bad_csum=True)
        n = self.quiet(n0)
        a = self.snap()
        d = Delta(b, a)
        result(n == 0, f"data with a bad TCP checksum on a connection: dropped silently ({n})")
        self.ctr(d, "drop_tcp_csum", 1, "data with a bad TCP checksum")
        self.not_delivered(d, "data with a bad TCP checksum")
        self.works(c, "bad checksum on a connection")
        c.abort()

    def case_headers(self):
        """Bad data offsets, malformed options, malformed IP headers."""
        b = self.snap()
        n0 = self.net.srv_frames
        s = self.net

        def syn(**kw):
            return self.syn_frame(self.sport(), **kw)

        # data offset
        s.send_ip(SPOOF, self.srv, PROTO_TCP, syn(opts=b"", doff=4))
        s.send_ip(SPOOF, self.srv, PROTO_TCP, syn(opts=b"", doff=0))
        s.send_ip(SPOOF, self.srv, PROTO_TCP, syn(opts=b"", doff=15))
        s.send_ip(SPOOF, self.srv, PROTO_TCP, syn(opts=b"\x02\x04\x05\xb4", doff=8))
        # options
        bad_opts = [
            b"\x02\x08\x05\xb4",              # MSS length 8 overruns a 4-byte option area
            b"\x08\x00\x00\x00",              # length 0
            b"\x03\x01\x00\x00",              # length 1
            b"\x01\x01\x01\x02",              # kind in the last byte, no length
            b"\x05\x0c" + b"\0" * 10,           # SACK length 12 (not 2+8n)
            b"\x05\x02\x00\x00",              # SACK length 2 (no block)
            b"\x08\x09" + b"\0" * 7 + b"\x00\x00\x00",  # TS length 9
            b"\x02\x04\x05\xb4\x1e\x28\x00\x00",  # unknown kind 30, length 40 > room
        ]
        for o in bad_opts:
            s.send_ip(SPOOF, self.srv, PROTO_TCP, syn(opts=o))
        # TCP header shorter than 20 bytes; port 0
        s.send_ip(SPOOF, self.srv, PROTO_TCP, syn(opts=b"")[:16])
        s.send_ip(SPOOF, self.srv, PROTO_TCP, self.syn_frame(0))
        # IP header: version 6, IHL 4, total length beyond the frame, below IHL
        t = syn()
        h = bytearray(ip_hdr(SPOOF, self.srv, PROTO_TCP, len(t)))
        for mod, ctr in ((lambda h: h.__setitem__(0, 0x65), "drop_ip_version"),
                         (lambda h: h.__setitem__(0, 0x44), "drop_ip_hdrlen"),
                         (lambda h: h.__setitem__(slice(2, 4), b"\x05\xdc"), "drop_ip_totlen"),
                         (lambda h: h.__setitem__(slice(2, 4), b"\x00\x10"), "drop_ip_totlen")):
            hh = bytearray(h)
            mod(hh)
            hh[10:12] = b"\0\0"
            hh[10:12] = struct.pack("!H", csum(bytes(hh[:20])))
            s.send_frame(bytes(hh) + t)
        n = self.quiet(n0)
        a = self.snap()
        d = Delta(b, a)
        result(n == 0, f"malformed headers ({4 + len(bad_opts) + 2 + 4} frames): no reply "
                       f"({n} frames)")
        self.ctr(d, "drop_tcp_doff", 4, "data offset 4, 0, 15 (beyond the segment), 8 (beyond)")
        self.ctr(d, "drop_tcp_opt_malformed", len(bad_opts),
                 "option lengths 0, 1, overrunning, missing; bad SACK/TS lengths")
        self.ctr(d, "drop_tcp_short", 1, "16-byte TCP header")
        self.ctr(d, "drop_tcp_bad_port", 1, "source port 0")
        self.ctr(d, "drop_ip_version", 1, "IP version 6 in an IPv4 frame")
        self.ctr(d, "drop_ip_hdrlen", 1, "IHL 4")
        self.ctr(d, "drop_ip_totlen", 2, "total length beyond the frame / below the header")
        self.ctr(d, "tcp_passive_opens", 0, "malformed headers")

        # IP options are skipped, not interpreted: a SYN carrying NOP/EOL
        # options is answered (positive control for the IP header checks).
        sp = self.sport()
        key = ("tcp", SPOOF, sp)
        q = self.net.register(key)
        b = self.snap()
        t = self.syn_frame(sp)
        self.net.send_frame(ip_hdr(SPOOF, self.srv, PROTO_TCP, len(t), ihl=6,
                                   options=b"\x01\x01\x01\x00") + t)
        try:
            p = q.get(timeout=REPLY)
        except Exception:
            p = None
        a = self.snap()
        result(p is not None and p.flags == SYN | ACK, f"SYN with IP options -> SYN-ACK ({p})")
        self.ctr(Delta(b, a), "ip_options_skipped", 1, "SYN with IP options")
        if p is not None:
            self.net.send_ip(SPOOF, self.srv, PROTO_TCP,
                             tcp_hdr(SPOOF, self.srv, sp, self.port, seq_add(p.ack, 0), 0, RST))
            self.net.barrier(SPOOF)
        self.net.unregister(key)

        # The same on an established connection: a segment whose options are
        # malformed is dropped whole, its data never delivered.
        c = self.established("malformed options on a connection")
        if not c:
            return
        b = self.snap()
        n0 = self.net.srv_frames
        c.send(ACK | PSH, payload=self.EVIL, opts=b"\x01\x01\x08\x00")
        c.send(ACK | PSH, payload=self.EVIL, opts=b"\x05\x02\x01\x01")  # SACK length 2
        n = self.quiet(n0)
        a = self.snap()
        d = Delta(b, a)
        result(n == 0, f"data with malformed options on a connection: dropped ({n} frames)")
        self.ctr(d, "drop_tcp_opt_malformed", 2, "data with malformed options")
        self.not_delivered(d, "data with malformed options")
        self.works(c, "malformed options on a connection")
        c.abort()

    def flight(self, c, name="medium.bin"):
        """Request NAME without ACKing: returns (base, received) once the
        server's initial window has arrived (nothing new for 250 ms)."""
        c.autoack = False
        base = c.rcv_nxt
        req = f"GET /{name} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        c.send_data(req)
        first = c.expect(lambda p: len(p.payload) > 0, REPLY)
        if first is None:
            return base, 0
        c.collect_until_idle(idle=0.25, limit=2)
        return base, seq_diff(c.rcv_nxt, base)

    def finish(self, c, what, name="medium.bin"):
        """Resume ACKing and read the rest of the response: must be exact."""
        c.autoack = True
        c.send_ack()
        want = self.medium if name == "medium.bin" else self.small
        r = c.read_response(timeout=10)
        ok = r is not None and r[0] == 200 and r[2] == want
        result(ok, f"{what}: the whole response arrives intact ({len(r[2]) if r else 0}/"
                   f"{len(want)} bytes, sha256 {'ok' if ok else 'MISMATCH'})",
               None if ok else "\n".join(map(str, c.log[-10:])))
        return ok

    def case_sack(self):
        c = self.established("hostile SACK blocks")
        if not c:
            return
        if not c.sack_ok:
            result(False, "hostile SACK blocks: SACK not negotiated")
            c.abort()
            return
        b = self.snap()
        base, got = self.flight(c)
        info(f"SACK: {got} bytes in the first flight (not ACKed)")
        if got < 3000:
            result(False, f"hostile SACK blocks: only {got} bytes in flight")
            c.abort()
            return
        m = got  # SND.MAX - SND.UNA as far as we know
        una = base
        sacks = [
            [(una + 1000, una + 1000)],                                   # zero length
            [(una + 1448, una + 4344), (una + 2896, una + 5792), (una + 2000, una + 3000)],
            [(una + 3000, una + 1000)],                                   # reversed
            [(una + m - 100, una + m + 100000)],                          # beyond SND.MAX
            [(una - 10000, una - 100)],                                   # below SND.UNA
            [(una + 10, una + 10 + 0x7fffffff)],                          # half the space
            [(una + 0x80000000, una + 10)],                               # wraps around
            [(una, una + m)],                                             # everything, incl. UNA
            [(una + 500, una + 600), (una + 500, una + 600), (una + 500, una + 600)],
            [(una + m - 1, una + m)],
        ]
        for blocks in sacks:
            c.send(ACK, ack=base, opts=c.default_opts() + opt_sack(blocks))
        c.send(ACK, ack=base, opts=opt_sack([(una + 100, una + 200)] * 4))  # 4 blocks, no TS
        n_after = c.collect_until_idle(idle=0.3, limit=3)
        alive = self.stats.alive()
        result(alive, f"hostile SACK blocks: slhttpd survives {len(sacks) + 1} ACKs with zero-"
                      f"length, overlapping, reversed, out-of-range SACK blocks "
                      f"({len(n_after)} segments back)")
        if not alive:
            return
        self.finish(c, "hostile SACK blocks")
        a = self.snap()
        info(f"SACK: counters moved: {Delta(b, a).show()}")
        self.works(c, "hostile SACK blocks")
        c.abort()

    def case_paws(self):
        c = self.established("PAWS")
        if not c:
            return
        if not c.ts_ok:
            result(False, "PAWS: timestamps not negotiated")
            c.abort()
            return
        b = self.snap()
        old = (c.last_tsval - 100000) & 0xFFFFFFFF
        c.send(ACK | PSH, payload=self.EVIL, opts=opt_ts(old, c.ts_recent))
        p1 = c.expect(self.is_chack(c), REPLY)
        older = (c.last_tsval - 0x7fff0000) & 0xFFFFFFFF
        c.send(ACK | PSH, payload=self.EVIL, opts=opt_ts(older, c.ts_recent))
        p2 = c.expect(self.is_chack(c), REPLY)
        a = self.snap()
        d = Delta(b, a)
        result(p1 is not None and p2 is not None,
               f"PAWS: data with TSval 100 s / 24 days in the past -> ACK only ({p1})")
        self.ctr(d, "drop_tcp_paws", 2, "PAWS")
        self.not_delivered(d, "PAWS")
        self.works(c, "PAWS")
        # informational: RFC 7323 3.2 says a non-RST segment without TSopt on
        # a TS connection SHOULD be dropped; otherwise PAWS is bypassed by
        # leaving the option out.
        b = self.snap()
        c.send(ACK | PSH, payload=b"GET /small.bin HTTP/1.1\r\nHost: x\r\n\r\n", opts=b"")
        c.snd_nxt = seq_add(c.snd_nxt, 36)
        r = c.read_response(1.0)
        a = self.snap()
        info(f"PAWS: a request without TSopt on a TS connection was "
             f"{'SERVED (accepted)' if r else 'dropped'}; counters: {Delta(b, a).show()}")
        c.abort()

    def case_fragments(self):
        b = self.snap()
        n0 = self.net.srv_frames
        s = self.net
        sent = 0

        def frag(data, off8, mf, df=False, sport=None, ident=None):
            nonlocal sent
            fl = (0x2000 if mf else 0) | (0x4000 if df else 0) | (off8 & 0x1fff)
            ident = random.getrandbits(16) if ident is None else ident
            s.send_frame(ip_hdr(SPOOF, self.srv, PROTO_TCP, len(data), ident=ident, frag=fl) +
                         data)
            sent += 1

        t = self.syn_frame(self.sport())            # 40 bytes
        i = random.getrandbits(16)
        frag(t[:16], 0, True, ident=i)              # first
        frag(t[16:32], 2, True, ident=i)            # middle
        frag(t[32:], 4, False, ident=i)             # last
        t = self.syn_frame(self.sport())
        i = random.getrandbits(16)
        frag(t[:24], 0, True, ident=i)              # overlapping pair (teardrop)
        frag(t[8:], 1, False, ident=i)
        t = self.syn_frame(self.sport())
        i = random.getrandbits(16)
        frag(t[:16], 0, True, ident=i)              # RFC 1858 overlap: the header, then
        frag(t[8:13] + bytes([RST]) + t[14:], 1, False, ident=i)  # offset 8 rewrites flags
        frag(self.syn_frame(self.sport()), 0, True)     # a complete SYN with MF
        frag(b"A" * 100, 8189, False)               # ping of death: ends past 65535
        frag(self.syn_frame(self.sport()), 0, True, df=True)  # DF and MF together
        frag(b"B" * 8, 1, True)                     # a lone middle fragment
        n = self.quiet(n0)
        a = self.snap()
        d = Delta(b, a)
        result(n == 0, f"IP fragments (first/middle/last, overlapping, ping of death, DF+MF): "
                       f"no reply ({n} frames)")
        self.ctr(d, "drop_ip_frag", sent, "IP fragments")
        self.ctr(d, "tcp_passive_opens", 0, "IP fragments")
        result(self.stats.alive(), "IP fragments: slhttpd alive")

    def icmp_err(self, c, typ, code, rest, seq, inner_src=None, quote=8, dport=None):
        """An ICMP error quoting our own segment to C (RFC 792: IP header
        plus the first 8 bytes: ports and sequence number)."""
        tcp = struct.pack("!HHI", self.port, dport or c.sport, seq & 0xFFFFFFFF)
        tcp += b"\x50\x10\xff\xff\0\0\0\0"
        inner = ip_hdr(inner_src or self.srv, c.src, PROTO_TCP, 1400, ident=1) + tcp[:quote]
        self.net.send_ip(ROUTER, self.srv, PROTO_ICMP, icmp_msg(typ, code, rest, inner))

    def ptb(self, c, seq, mtu, **kw):
        """ICMP fragmentation needed (RFC 1191 4: next-hop MTU in the low 16 bits)."""
        self.icmp_err(c, 3, 4, mtu & 0xFFFF, seq, **kw)

    def case_icmp(self):
        # echo
        key = ("icmp", SPOOF)
        q = self.net.register(key)
        b = self.snap()
        payload = os.urandom(56)
        self.net.send_ip(SPOOF, self.srv, PROTO_ICMP, icmp_msg(8, 0, 0x51ec0001, payload))
        rep = None
        try:
            rep = q.get(timeout=REPLY)
        except Exception:
            pass
        a = self.snap()
        d = Delta(b, a)
        ok = rep is not None and rep.icmp_type == 0 and rep.icmp_rest == 0x51ec0001 and \
            rep.payload == payload
        result(ok, f"ICMP echo -> echo reply, id/seq/data returned ({rep})")
        self.ctr(d, "icmp_echo_rx", 1, "ICMP echo")
        self.ctr(d, "icmp_echo_tx", 1, "ICMP echo")
        # echo to the subnet broadcast: no smurf amplifier
        b = self.snap()
        n0 = self.net.srv_frames
        f = ip_hdr(SPOOF, "198.18.0.255", PROTO_ICMP, 64) + icmp_msg(8, 0, 0x51ec0002, payload)
        self.net.send_frame(f, dmac=BCAST_MAC)
        n = self.quiet(n0)
        a = self.snap()
        result(n == 0, f"ICMP echo to 198.18.0.255 (broadcast): no reply ({n} frames)")
        self.ctr(Delta(b, a), "drop_ip_not_for_us", 1, "echo to the broadcast address")
        self.net.unregister(key)

        # PTB for a connection with data in flight. The wire shows whether
        # a PTB was believed: the segment size (gso_size of the server's
        # super-segments) of everything sent afterwards.
        c = self.established("ICMP PTB")
        if not c:
            return
        full = c.synack.opts.get("mss", 1460)
        full = min(full, c.mss) - (12 if c.ts_ok else 0)
        base, got = self.flight(c)
        if got < 1000:
            result(False, f"ICMP PTB: only {got} bytes in flight")
            c.abort()
            return
        b = self.snap()
        n0 = self.net.srv_frames
        self.ptb(c, seq_add(base, got + 100000), 1280)          # beyond SND.NXT
        self.ptb(c, seq_add(base, -1000), 1280)                 # below SND.UNA
        self.ptb(c, seq_add(base, 0x80000000), 1280)            # the far side
        k = len(c.log)
        n = self.quiet(n0)
        a = self.snap()
        d = Delta(b, a)
        other = [p for p in c.log[k:] if p.flags & (RST | SYN | FIN)] + \
            [p for p in c.collect(0) if p.flags & (RST | SYN | FIN)]
        result(not other, f"forged PTB, quoted seq outside SND.UNA..SND.NXT: no reaction on the "
                          f"wire ({n} frames, all retransmissions)",
               "\n".join(map(str, other)))
        self.ctr(d, "drop_icmp_ptb_bad_seq", 3, "forged PTB with a bad quoted seq")
        self.ctr(d, "icmp_frag_needed", 0, "forged PTB with a bad quoted seq")
        b = self.snap()
        self.ptb(c, seq_add(base, 10), 68)
        self.ptb(c, seq_add(base, 10), 0)
        self.ptb(c, seq_add(base, 10), 575)
        self.ptb(c, seq_add(base, 10), 65535)
        a = self.snap()
        d = Delta(b, a)
        self.ctr(d, "drop_icmp_ptb_mtu", 4, "PTB with MTU 68 / 0 / 575 / 65535")
        self.ctr(d, "icmp_frag_needed", 0, "PTB with an absurd MTU")
        b = self.snap()
        self.ptb(c, seq_add(base, 10), 1280, inner_src="198.18.0.77")   # not our segment
        self.ptb(c, seq_add(base, 10), 1280, dport=9)                   # no such connection
        self.ptb(c, seq_add(base, 10), 1280, quote=4)                   # quote too short
        a = self.snap()
        self.ctr(Delta(b, a), "drop_icmp_ptb_no_conn", 3,
                 "PTB for another source / no connection / truncated quote")
        k = len(c.log)
        self.finish(c, "ICMP PTB (forged)")
        sizes = [p.seg_size() for p in c.log[k:] if p.payload]
        result(sizes and max(sizes) == full,
               f"forged PTBs ignored: segments after them still carry {full} bytes "
               f"(max {max(sizes, default=0)} over {len(sizes)} frames)")
        # a legitimate PTB (positive control)
        base, got = self.flight(c)
        b = self.snap()
        self.ptb(c, seq_add(base, 10), 1280)
        a = self.snap()
        self.ctr(Delta(b, a), "icmp_frag_needed", 1, "PTB with a valid seq and MTU 1280")
        k = len(c.log)
        self.finish(c, "ICMP PTB (valid)")
        lim = 1280 - 40 - (12 if c.ts_ok else 0)
        sizes = [p.seg_size() for p in c.log[k:] if p.payload]
        result(sizes and max(sizes) <= lim,
               f"valid PTB 1280 believed: segments after it carry <= {lim} bytes "
               f"(max {max(sizes, default=0)} over {len(sizes)} frames)")
        self.works(c, "ICMP PTB")
        # Forged hard and soft errors quoting a sequence number in the window
        # (RFC 5927 4.1-4.3, RFC 1122 4.2.3.9): never a reset.
        base, got = self.flight(c, "small.bin")
        b = self.snap()
        errs = [(3, 0), (3, 1), (3, 2), (3, 3), (11, 0), (4, 0), (5, 1), (12, 0)]
        for typ, code in errs:
            self.icmp_err(c, typ, code, 0x0a000001 if typ == 5 else 0, seq_add(base, 1))
        a = self.snap()
        d = Delta(b, a)
        # RFC 9293 MUST-54: unreachable, time exceeded and parameter problem
        # reach the connection (RFC 5927 4.1 check) and are reported as soft
        # errors; source quench (RFC 6633) and redirect are dropped by type.
        self.ctr(d, "drop_icmp_type", 2, "forged ICMP source quench and redirect")
        soft = d["icmp_soft_error"] + d["drop_icmp_err_bad_seq"]
        result(soft == 6,
               f"forged ICMP net/host/proto/port unreachable, time exceeded, parameter "
               f"problem: soft errors recorded {d['icmp_soft_error']}, refused by the "
               f"sequence check {d['drop_icmp_err_bad_seq']} (want 6 in all)",
               None if soft == 6 else f"counters that moved: {d.show()}")
        self.ctr(d, "tcp_closed", 0, "forged ICMP errors")
        c.autoack = True
        c.send_ack()
        r = c.read_response(timeout=5)
        result(r is not None and r[0] == 200 and r[2] == self.small,
               "forged ICMP errors: the connection is not aborted, the response completes")
        self.works(c, "forged ICMP errors")
        c.abort()

    def case_syn_rcvd(self):
        """Unacceptable ACK and blind RST while the handshake is half done."""
        c = self.conn()
        c.send(SYN, seq=c.iss, ack=0, opts=c.syn_opts())
        sa = c.expect(lambda p: (p.flags & (SYN | ACK)) == (SYN | ACK), REPLY)
        if sa is None:
            result(False, "SYN-RECEIVED: no SYN-ACK")
            return
        c.irs = sa.seq
        c.rcv_nxt = seq_add(sa.seq, 1)
        c.snd_nxt = seq_add(c.iss, 1)
        c.ts_ok = "ts" in sa.opts
        c.sack_ok = "sackok" in sa.opts
        c.srv_ws = sa.opts.get("ws", 0)
        c.srv_wnd = sa.win
        if c.ts_ok:
            c.ts_recent = sa.opts["ts"][0]
        b = self.snap()
        bad = seq_add(c.rcv_nxt, 5000)
        c.send(ACK, ack=bad)
        p1 = c.expect(lambda p: p.flags & RST, REPLY)
        a = self.snap()
        result(p1 is not None and p1.seq == bad,
               f"SYN-RECEIVED, ACK for data never sent -> <SEQ=SEG.ACK><CTL=RST> ({p1})")
        self.ctr(Delta(b, a), "drop_tcp_ack_unsent", 1, "SYN-RECEIVED, unacceptable ACK")
        b = self.snap()
        c.send(RST, seq=seq_add(c.snd_nxt, 1000), ack=0, opts=b"")
        p2 = c.expect(lambda p: (p.flags & (SYN | RST)) == 0 and p.flags & ACK, REPLY)
        a = self.snap()
        result(p2 is not None, f"SYN-RECEIVED, blind in-window RST -> challenge ACK ({p2})")
        self.ctr(Delta(b, a), "tcp_challenge_ack_tx", 1, "SYN-RECEIVED, blind RST")
        self.ctr(Delta(b, a), "tcp_rst_rx", 0, "SYN-RECEIVED, blind RST")
        c.reset = False
        c.send_ack()
        self.works(c, "SYN-RECEIVED attacks (handshake then completes)")
        c.abort()

    def case_tiny_mss(self):
        """A SYN announcing MSS 0: the server clamps it, it does not send
        empty segments or divide by zero (RFC 9293 3.7.1, RFC 6691)."""
        c = self.conn(mss=0)
        b = self.snap()
        sa = c.connect()
        if sa is None:
            result(False, "MSS 0 in the SYN: no SYN-ACK")
            return
        k = len(c.log)
        r = c.request("small.bin", timeout=10)
        a = self.snap()
        ok = r is not None and r[0] == 200 and r[2] == self.small
        sizes = [p.seg_size() for p in c.log[k:] if p.payload]
        result(ok, f"MSS 0 in the SYN: response served intact in {len(sizes)} frames "
                   f"(segment sizes {min(sizes, default=0)}..{max(sizes, default=0)})")
        result(bool(sizes) and min(sizes[:-1] or sizes) >= 48 and max(sizes) <= 64,
               "MSS 0 in the SYN: the server clamps its segment size to 48..64 bytes")
        self.ctr(Delta(b, a), "tcp_mss_clamped", 1, "MSS 0 in the SYN (clamped)")
        c.abort()

    def case_land_martians(self):
        b = self.snap()
        n0 = self.net.srv_frames
        t = self.syn_frame(self.port, dport=self.port, src=self.srv)
        self.net.send_ip(self.srv, self.srv, PROTO_TCP, t)
        martians = ["0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255", "198.18.0.255"]
        for m in martians:
            self.net.send_ip(m, self.srv, PROTO_TCP, self.syn_frame(self.sport(), src=m))
        n = self.quiet(n0)
        a = self.snap()
        d = Delta(b, a)
        result(n == 0, f"LAND and martian sources: no reply ({n} frames)")
        self.ctr(d, "drop_tcp_land", 1, "LAND (src = dst = 198.18.0.2:80)")
        self.ctr(d, "drop_ip_bad_src", len(martians), "martian sources " + ", ".join(martians))
        self.ctr(d, "tcp_passive_opens", 0, "LAND and martians")

    def case_link_broadcast(self):
        """RFC 1122 3.3.6: a datagram received via a link-layer broadcast
        but addressed to a unicast IP address SHOULD be silently discarded
        (Linux: tcp_v4_rcv drops pkt_type != PACKET_HOST). Otherwise one
        broadcast frame opens connections."""
        sp = self.sport()
        key = ("tcp", SPOOF, sp)
        q = self.net.register(key)
        b = self.snap()
        n0 = self.net.srv_frames
        t = self.syn_frame(sp)
        self.net.send_frame(ip_hdr(SPOOF, self.srv, PROTO_TCP, len(t)) + t, dmac=BCAST_MAC)
        self.quiet(n0)
        a = self.snap()
        got = []
        while not q.empty():
            got.append(q.get())
        sa = [p for p in got if p.flags & SYN]
        result(not sa, f"SYN in an Ethernet broadcast frame to 198.18.0.2: discarded "
                       f"({sa[0] if sa else 'no reply'})")
        self.ctr(Delta(b, a), "tcp_passive_opens", 0, "SYN in a link-layer broadcast frame")
        if sa:  # do not leave a half-open connection retransmitting SYN-ACKs
            self.net.send_ip(SPOOF, self.srv, PROTO_TCP,
                             tcp_hdr(SPOOF, self.srv, sp, self.port, sa[0].ack, 0, RST))
            self.net.barrier(SPOOF)
        self.net.unregister(key)

    def case_syn_data(self):
        c = self.conn()
        b = self.snap()
        req = b"GET /small.bin HTTP/1.1\r\nHost: x\r\n\r\n"
        sa = c.connect(payload=req)
        a = self.snap()
        d = Delta(b, a)
        ok = sa is not None and sa.ack == seq_add(c.iss, 1)
        result(ok, f"SYN carrying data -> SYN-ACK acknowledging the SYN only ({sa})")
        self.ctr(d, "drop_tcp_syn_data", 1, "SYN carrying data")
        if sa is None:
            return
        r = c.request("small.bin")
        a2 = self.snap()
        ok = r is not None and r[0] == 200 and r[2] == self.small
        result(ok, f"SYN carrying data: handshake completes, the retransmitted request is "
                   f"served ({r and r[0]})")
        self.ctr(Delta(b, a2), "http_requests", 1, "SYN carrying data (served once)")
        c.abort()

    def case_listen_flags(self):
        b = self.snap()
        n0 = self.net.srv_frames
        for fl in (SYN | FIN, 0, FIN, FIN | PSH | URG, SYN | RST, RST):
            self.net.send_ip(SPOOF, self.srv, PROTO_TCP,
                             self.syn_frame(self.sport(), flags=fl, opts=b""))
        n = self.quiet(n0)
        a = self.snap()
        d = Delta(b, a)
        result(n == 0, f"SYN+FIN, NULL, FIN, FIN+PSH+URG, SYN+RST, RST to the listening port: "
                       f"no reply ({n} frames)")
        self.ctr(d, "drop_tcp_bad_flags", 1, "SYN+FIN")
        self.ctr(d, "drop_tcp_listen_nosyn", 3, "NULL, FIN, FIN+PSH+URG")
        self.ctr(d, "drop_tcp_listen_rst", 2, "SYN+RST, RST")
        self.ctr(d, "tcp_passive_opens", 0, "odd flags to the listening port")
        # FIN|ACK to the listener: <SEQ=SEG.ACK><CTL=RST>
        sp = self.sport()
        key = ("tcp", SPOOF, sp)
        q = self.net.register(key)
        b = self.snap()
        ackv = random.getrandbits(32)
        self.net.send_ip(SPOOF, self.srv, PROTO_TCP,
                         tcp_hdr(SPOOF, self.srv, sp, self.port, 1000, ackv, FIN | ACK))
        try:
            p = q.get(timeout=REPLY)
        except Exception:
            p = None
        a = self.snap()
        result(p is not None and p.flags == RST and p.seq == ackv,
               f"FIN+ACK to the listening port -> RST seq=SEG.ACK ({p})")
        self.ctr(Delta(b, a), "drop_tcp_listen_ack", 1, "FIN+ACK to the listening port")
        self.ctr(Delta(b, a), "tcp_passive_opens", 0, "FIN+ACK to the listening port")
        self.net.unregister(key)

    def case_closed_port(self):
        sp = self.sport()
        key = ("tcp", SPOOF, sp)
        q = self.net.register(key)
        closed = 81 if self.port != 81 else 82
        b = self.snap()
        iss = random.getrandbits(32)
        self.net.send_ip(SPOOF, self.srv, PROTO_TCP,
                         tcp_hdr(SPOOF, self.srv, sp, closed, iss, 0, SYN, 65535,
                                 opt_syn(1460, 7, True, (1, 0))))
        try:
            p = q.get(timeout=REPLY)
        except Exception:
            p = None
        a = self.snap()
        ok = p is not None and p.flags == (RST | ACK) and p.seq == 0 and \
            p.ack == seq_add(iss, 1)
        result(ok, f"SYN to closed port {closed} -> RST|ACK seq=0 ack=ISS+1 ({p})")
        self.ctr(Delta(b, a), "drop_tcp_no_conn", 1, "SYN to a closed port")
        b = self.snap()
        ackv = random.getrandbits(32)
        self.net.send_ip(SPOOF, self.srv, PROTO_TCP,
                         tcp_hdr(SPOOF, self.srv, sp, closed, iss, ackv, ACK, payload=b"hello"))
        try:
            p = q.get(timeout=REPLY)
        except Exception:
            p = None
        a = self.snap()
        result(p is not None and p.flags == RST and p.seq == ackv,
               f"data+ACK to closed port {closed} -> RST seq=SEG.ACK ({p})")
        self.ctr(Delta(b, a), "drop_tcp_no_conn", 1, "data to a closed port")
        b = self.snap()
        n0 = self.net.srv_frames
        for fl in (RST, RST | ACK):
            self.net.send_ip(SPOOF, self.srv, PROTO_TCP,
                             tcp_hdr(SPOOF, self.srv, sp, closed, iss, 0, fl))
        n = self.quiet(n0)
        a = self.snap()
        result(n == 0, f"RST to closed port {closed}: no reply ({n} frames)")
        self.ctr(Delta(b, a), "drop_tcp_no_conn_rst", 2, "RST to a closed port")
        self.net.unregister(key)

    # ------------------------------------------------------------ driver
    CASES = ["baseline", "rst_in_window", "rst_out_of_window", "rst_exact", "rst_storm",
             "syn_in_window", "data_injection", "checksums", "headers", "sack", "paws",
             "fragments", "icmp", "land_martians", "link_broadcast", "syn_data", "syn_rcvd",
             "tiny_mss",
             "listen_flags", "closed_port"]

    def run(self, only=None):
        t0 = time.monotonic()
        for name in self.CASES:
            if only and name not in only:
                continue
            print(f"-- {name}", flush=True)
            t = time.monotonic()
            try:
                r = getattr(self, "case_" + name)()
            except Exception as e:  # a broken case must not hide the others
                result(False, f"{name}: exception {e!r}", traceback.format_exc())
                r = None
            if not self.stats.alive():
                result(False, f"{name}: slhttpd died")
                return
            info(f"({name}: {time.monotonic() - t:.1f}s)")
            if name == "baseline" and r is False:
                result(False, "baseline failed: skipping the other cases")
                return
        info(f"all cases in {time.monotonic() - t0:.1f}s; ARP replies sent "
             f"{self.net.arp_replies}, ARP requests from the server {self.net.arp_requests}")
        result(self.stats.alive(), "slhttpd alive after every hostile case")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--srv-ip", required=True)
    ap.add_argument("--srv-mac", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.getrandbits(32)
    random.seed(seed)
    print(f"hostile.py: seed {seed}", flush=True)
    h = Hostile(a)
    try:
        h.run(a.only)
    finally:
        h.net.close()
    print(f"hostile.py: {passes} passed, {failures} failed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
