"""A tiny hand-driven TCP/IP endpoint for black-box hostile-segment tests.

Frames are built byte by byte (struct) and sent through an AF_PACKET socket
on the client end of the veth, so every field can be wrong on purpose. The
endpoint uses source addresses the client kernel does not own (198.18.0.50
and friends) and a locally administered MAC of its own: the kernel in the
client namespace drops those frames as PACKET_OTHERHOST and never answers
the server's SYN-ACKs with a RST. The server learns the MAC by gleaning
(or from our ARP replies: a receive thread answers ARP requests for the
addresses we speak for).

Used by hostile.py; no scapy needed (plain python3 works).
"""
import os
import queue
import random
import signal
import socket
import struct
import threading
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_VNET_HDR = 15
VNET_HLEN = 10

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
PROTO_ICMP, PROTO_TCP = 1, 6

FAKE_MAC = bytes.fromhex("02005e120032")  # ours: locally administered
BCAST_MAC = b"\xff" * 6


def ip2b(s):
    return socket.inet_aton(s)


def b2ip(b):
    return socket.inet_ntoa(b)


def csum(data):
    if len(data) & 1:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def seq_add(a, b):
    return (a + b) & 0xFFFFFFFF


def seq_diff(a, b):
    """a - b as a signed 32-bit number."""
    d = (a - b) & 0xFFFFFFFF
    return d - (1 << 32) if d & 0x80000000 else d


def flags_str(f):
    s = "".join(c for bit, c in ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"),
                                 (ACK, "."), (URG, "U")) if f & bit)
    return s or "none"


# ------------------------------------------------------------------ builders

def ip_hdr(src, dst, proto, payload_len, ident=0, frag=0x4000, ttl=64, bad_csum=False,
           tot_len=None, ihl=5, options=b""):
    tl = 20 + len(options) + payload_len if tot_len is None else tot_len
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tl & 0xFFFF, ident, frag, ttl, proto, 0,
                    ip2b(src), ip2b(dst)) + options
    c = csum(h)
    if bad_csum:
        c ^= 0x5A5A
    return h[:10] + struct.pack("!H", c) + h[12:]


def tcp_hdr(src, dst, sport, dport, seq, ack, flags, win=65535, opts=b"", payload=b"",
            doff=None, bad_csum=False, urp=0):
    if len(opts) % 4:
        opts += b"\x01" * (4 - len(opts) % 4) if doff is None else b""
    d = (20 + len(opts)) // 4 if doff is None else doff
    h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                    (d & 15) << 4, flags, win, 0, urp) + opts
    seg = h + payload
    pseudo = struct.pack("!4s4sBBH", ip2b(src), ip2b(dst), 0, PROTO_TCP, len(seg))
    c = csum(pseudo + seg)
    if bad_csum:
        c ^= 0x1234
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def opt_ts(tsval, tsecr):
    return b"\x01\x01\x08\x0a" + struct.pack("!II", tsval & 0xFFFFFFFF, tsecr & 0xFFFFFFFF)


def opt_sack(blocks):
    b = b"".join(struct.pack("!II", l & 0xFFFFFFFF, r & 0xFFFFFFFF) for l, r in blocks)
    return b"\x01\x01\x05" + bytes([2 + len(b)]) + b


def opt_syn(mss=1460, ws=7, sack=True, ts=None):
    o = struct.pack("!BBH", 2, 4, mss)
    if sack and ts is not None:
        o += b"\x04\x02\x08\x0a" + struct.pack("!II", ts[0], ts[1])
    elif ts is not None:
        o += b"\x01\x01\x08\x0a" + struct.pack("!II", ts[0], ts[1])
    elif sack:
        o += b"\x01\x01\x04\x02"
    if ws is not None:
        o += b"\x01\x03\x03" + bytes([ws])
    return o


def icmp_msg(typ, code, rest, data):
    h = struct.pack("!BBHI", typ, code, 0, rest) + data
    return h[:2] + struct.pack("!H", csum(h)) + h[4:]


# ------------------------------------------------------------------ parsed packets

class Pkt:
    """One IPv4 packet from the server (TCP or ICMP)."""
    __slots__ = ("t", "src", "dst", "proto", "ipid", "sport", "dport", "seq", "ack", "flags",
                 "win", "opts", "payload", "icmp_type", "icmp_code", "icmp_rest", "raw", "gso")

    def seg_size(self):
        """Largest TCP segment this frame stands for (GSO: gso_size)."""
        return min(self.gso, len(self.payload)) if self.gso else len(self.payload)

    def __str__(self):
        if self.proto == PROTO_TCP:
            o = []
            for k, v in self.opts.items():
                o.append(f"{k}={v}")
            return (f"{self.src}:{self.sport} > {self.dst}:{self.dport} "
                    f"[{flags_str(self.flags)}] seq={self.seq} ack={self.ack} win={self.win} "
                    f"len={len(self.payload)}" + (f" gso={self.gso}" if self.gso else "") +
                    (f" opts[{','.join(o)}]" if o else ""))
        if self.proto == PROTO_ICMP:
            return (f"{self.src} > {self.dst} ICMP type={self.icmp_type} code={self.icmp_code} "
                    f"len={len(self.payload)}")
        return f"{self.src} > {self.dst} proto {self.proto}"


def parse_tcp_opts(o):
    out = {}
    i = 0
    while i < len(o):
        k = o[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(o) or o[i + 1] < 2:
            out["bad"] = True
            break
        ln = o[i + 1]
        d = o[i + 2:i + ln]
        if k == 2 and ln == 4:
            out["mss"] = struct.unpack("!H", d)[0]
        elif k == 3 and ln == 3:
            out["ws"] = d[0]
        elif k == 4:
            out["sackok"] = True
        elif k == 8 and ln == 10:
            out["ts"] = struct.unpack("!II", d)
        elif k == 5:
            out["sack"] = [struct.unpack("!II", d[j:j + 8]) for j in range(0, len(d) - 7, 8)]
        i += ln
    return out


def parse_ip(frame, t, gso=0):
    ip = frame[14:]
    if len(ip) < 20 or ip[0] >> 4 != 4:
        return None
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack("!H", ip[2:4])[0] or len(ip)
    body = ip[ihl:tot]
    p = Pkt()
    p.t = t
    p.gso = gso
    p.raw = frame
    p.proto = ip[9]
    p.ipid = struct.unpack("!H", ip[4:6])[0]
    p.src = b2ip(ip[12:16])
    p.dst = b2ip(ip[16:20])
    p.opts = {}
    p.payload = b""
    p.sport = p.dport = p.seq = p.ack = p.flags = p.win = None
    p.icmp_type = p.icmp_code = p.icmp_rest = None
    if p.proto == PROTO_TCP and len(body) >= 20:
        p.sport, p.dport, p.seq, p.ack, off, p.flags, p.win = struct.unpack("!HHIIBBH", body[:16])
        doff = (off >> 4) * 4
        p.opts = parse_tcp_opts(body[20:doff])
        p.payload = bytes(body[doff:])
    elif p.proto == PROTO_ICMP and len(body) >= 8:
        p.icmp_type, p.icmp_code = body[0], body[1]
        p.icmp_rest = struct.unpack("!I", body[4:8])[0]
        p.payload = bytes(body[8:])
    return p


# ------------------------------------------------------------------ the wire

class Net:
    """AF_PACKET endpoint on IFACE speaking for a set of spoofed addresses."""

    def __init__(self, iface, srv_mac, srv_ip, my_ips):
        self.iface = iface
        self.srv_mac = srv_mac
        self.srv_ip = srv_ip
        self.my_ips = {ip2b(a) for a in my_ips}
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        self.sock.bind((iface, 0))
        self.sock.settimeout(0.1)
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        self.tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 << 20)
        self.tx.bind((iface, 0))
        self.lock = threading.Lock()
        self.queues = {}
        self.stray = queue.Queue()
        self.srv_frames = 0      # every frame from the server's MAC
        self.arp_requests = 0    # ARP requests from the server
        self.arp_replies = 0
        self.arp_replies_rx = 0  # ARP replies from the server (barrier)
        self.tx_frames = 0
        self.stop = False
        self.th = threading.Thread(target=self._rx_loop, daemon=True)
        self.th.start()

    def close(self):
        self.stop = True
        self.th.join(1)

    def register(self, key):
        q = queue.Queue()
        with self.lock:
            self.queues[key] = q
        return q

    def unregister(self, key):
        with self.lock:
            self.queues.pop(key, None)

    def send_frame(self, frame, dmac=None, smac=FAKE_MAC, etype=ETH_P_IP):
        f = (dmac or self.srv_mac) + smac + struct.pack("!H", etype) + frame
        if len(f) < 60:
            f += b"\0" * (60 - len(f))
        self.tx.send(f)
        self.tx_frames += 1

    def send_ip(self, src, dst, proto, l4, **kw):
        self.send_frame(ip_hdr(src, dst, proto, len(l4), **kw) + l4)

    def _arp_reply(self, a):
        # RFC 826: swap, fill in our hardware address.
        sha, spa, tpa = a[8:14], a[14:18], a[24:28]
        rep = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 2) + FAKE_MAC + tpa + sha + spa
        self.send_frame(rep, dmac=sha, etype=ETH_P_ARP)
        self.arp_replies += 1

    def _rx_loop(self):
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(1 << 18)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            t = time.monotonic()
            gso = struct.unpack("<H", data[4:6])[0] if data[1] else 0  # virtio_net_hdr
            data = data[VNET_HLEN:]
            if data[6:12] == self.srv_mac:
                self.srv_frames += 1
            et = struct.unpack("!H", data[12:14])[0]
            if et == ETH_P_ARP:
                a = data[14:42]
                op = struct.unpack("!H", a[6:8])[0] if len(a) >= 28 else 0
                if op == 1:
                    if data[6:12] == self.srv_mac:
                        self.arp_requests += 1
                    if a[24:28] in self.my_ips:
                        self._arp_reply(a)
                elif op == 2 and data[6:12] == self.srv_mac and a[24:28] in self.my_ips:
                    self.arp_replies_rx += 1
                continue
            if et != ETH_P_IP or data[6:12] != self.srv_mac:
                continue
            p = parse_ip(data, t, gso)
            if p is None:
                continue
            if p.proto == PROTO_TCP:
                key = ("tcp", p.dst, p.dport)
            elif p.proto == PROTO_ICMP:
                key = ("icmp", p.dst)
            else:
                key = None
            with self.lock:
                q = self.queues.get(key, self.stray)
            q.put(p)

    def barrier(self, src, timeout=3.0):
        """ARP who-has the server, wait for the reply: the server has
        processed every frame we sent before (one receive ring, in order).
        Touches only ARP counters."""
        n = self.arp_replies_rx
        req = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1) + FAKE_MAC + ip2b(src) + \
            b"\0" * 6 + ip2b(self.srv_ip)
        self.send_frame(req, dmac=BCAST_MAC, etype=ETH_P_ARP)
        deadline = time.monotonic() + timeout
        while self.arp_replies_rx == n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def quiet_for(self, seconds):
        """Frames the server sent while we waited SECONDS (0 = it kept quiet)."""
        n0 = self.srv_frames
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.02)
        return self.srv_frames - n0


# ------------------------------------------------------------------ a connection

class Conn:
    """Client side of one TCP connection, driven by hand."""

    def __init__(self, net, sport, src="198.18.0.50", dport=80, ts=True, sack=True, ws=7,
                 mss=1460, win=65535):
        self.net = net
        self.src, self.dst = src, net.srv_ip
        self.sport, self.dport = sport, dport
        self.key = ("tcp", src, sport)
        self.q = net.register(self.key)
        self.want_ts, self.want_sack, self.want_ws, self.mss = ts, sack, ws, mss
        self.win = win
        self.ts_off = random.getrandbits(32)
        self.iss = random.getrandbits(32)
        self.snd_nxt = self.iss
        self.rcv_nxt = None
        self.irs = None
        self.ts_ok = self.sack_ok = False
        self.srv_ws = 0
        self.srv_wnd = 0
        self.ts_recent = 0
        self.last_tsval = 0
        self.rx = bytearray()      # in-order bytes from the server not yet consumed
        self.ooo = {}
        self.fin = False
        self.reset = False
        self.autoack = True
        self.log = []              # every packet received on this connection
        self.srv_ack = None

    # ---- sending
    def tsval(self):
        v = (int(time.monotonic() * 1000) + self.ts_off) & 0xFFFFFFFF
        self.last_tsval = v
        return v

    def default_opts(self):
        return opt_ts(self.tsval(), self.ts_recent) if self.ts_ok else b""

    def seg(self, flags, seq=None, ack=None, payload=b"", opts=None, win=None, **kw):
        """Raw TCP segment bytes (no IP header) for this connection."""
        if seq is None:
            seq = self.snd_nxt
        if ack is None:
            ack = self.rcv_nxt if self.rcv_nxt is not None else 0
        if opts is None:
            opts = self.default_opts()
        return tcp_hdr(self.src, self.dst, self.sport, self.dport, seq, ack, flags,
                       self.win if win is None else win, opts, payload, **kw)

    def send(self, flags, seq=None, ack=None, payload=b"", opts=None, win=None, ip_kw=None,
             **kw):
        t = self.seg(flags, seq, ack, payload, opts, win, **kw)
        self.net.send_ip(self.src, self.dst, PROTO_TCP, t, **(ip_kw or {}))

    def send_ack(self):
        self.send(ACK)

    def send_data(self, data):
        self.send(ACK | PSH, payload=data)
        self.snd_nxt = seq_add(self.snd_nxt, len(data))

    def abort(self):
        """Exact-sequence RST: the server drops the connection."""
        if self.rcv_nxt is not None and not self.reset:
            self.send(RST, opts=b"")
            self.reset = True
        self.net.unregister(self.key)

    # ---- receiving
    def _absorb(self, p):
        self.log.append(p)
        if self.rcv_nxt is None:
            return
        if "ts" in p.opts:
            self.ts_recent = p.opts["ts"][0]
        if p.flags & ACK:
            self.srv_ack = p.ack
            self.srv_wnd = p.win << self.srv_ws
        if p.flags & RST:
            self.reset = True
            return
        n = len(p.payload)
        got = False
        if n:
            off = seq_diff(p.seq, self.rcv_nxt)
            if off <= 0 < off + n:
                self.rx += p.payload[-off:]
                self.rcv_nxt = seq_add(self.rcv_nxt, off + n)
                got = True
            elif off > 0:
                self.ooo[p.seq] = p.payload
            # drain the out-of-order store
            moved = True
            while moved and self.ooo:
                moved = False
                for s in list(self.ooo):
                    d = self.ooo[s]
                    o = seq_diff(s, self.rcv_nxt)
                    if o <= 0:
                        del self.ooo[s]
                        if o + len(d) > 0:
                            self.rx += d[-o:]
                            self.rcv_nxt = seq_add(self.rcv_nxt, o + len(d))
                        moved = True
        if p.flags & FIN and seq_add(p.seq, n) == self.rcv_nxt and not self.fin:
            self.fin = True
            self.rcv_nxt = seq_add(self.rcv_nxt, 1)
            got = True
        if (n or p.flags & FIN) and self.autoack:
            self.send_ack()
        return got

    def recv(self, timeout):
        try:
            p = self.q.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        self._absorb(p)
        return p

    def expect(self, pred, timeout=2.0):
        """First packet satisfying PRED within TIMEOUT (others are absorbed)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            p = self.recv(left)
            if p is not None and pred(p):
                return p

    def collect(self, seconds):
        """Every packet received during SECONDS."""
        out = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            p = self.recv(left)
            if p is not None:
                out.append(p)

    def drain(self):
        out = []
        while True:
            try:
                p = self.q.get_nowait()
            except queue.Empty:
                return out
            self._absorb(p)
            out.append(p)

    def collect_until_idle(self, idle=0.25, limit=3.0):
        """Packets until none arrived for IDLE seconds (at most LIMIT)."""
        out = []
        end = time.monotonic() + limit
        while time.monotonic() < end:
            p = self.recv(min(idle, end - time.monotonic()))
            if p is None:
                break
            out.append(p)
        return out

    # ---- handshake
    def syn_opts(self):
        return opt_syn(self.mss, self.want_ws, self.want_sack,
                       (self.tsval(), 0) if self.want_ts else None)

    def connect(self, payload=b"", timeout=2.0):
        """Three-way handshake. Returns the SYN-ACK (or None)."""
        self.send(SYN, seq=self.iss, ack=0, opts=self.syn_opts(), payload=payload)
        p = self.expect(lambda p: (p.flags & (SYN | ACK)) == (SYN | ACK) or p.flags & RST,
                        timeout)
        if p is None or p.flags & RST:
            return None
        self.synack = p
        self.irs = p.seq
        self.rcv_nxt = seq_add(p.seq, 1)
        self.snd_nxt = seq_add(self.iss, 1)
        self.srv_ws = p.opts.get("ws", 0) if self.want_ws is not None else 0
        if "ws" not in p.opts:
            self.srv_ws = 0
        self.srv_wnd = p.win
        self.ts_ok = self.want_ts and "ts" in p.opts
        self.sack_ok = self.want_sack and "sackok" in p.opts
        if self.ts_ok:
            self.ts_recent = p.opts["ts"][0]
        self.send_ack()
        return p

    # ---- HTTP
    def request(self, path, timeout=5.0):
        req = f"GET /{path} HTTP/1.1\r\nHost: 198.18.0.2\r\nUser-Agent: hostile\r\n\r\n".encode()
        self.send_data(req)
        return self.read_response(timeout)

    def read_response(self, timeout=5.0):
        """(status, headers, body) of the next response, or None on timeout,
        reset or close. ACKs every data segment while autoack is on."""
        deadline = time.monotonic() + timeout
        while True:
            r = self._parse_response()
            if r is not None:
                return r
            if self.reset or self.fin:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.recv(left)

    def _parse_response(self):
        end = self.rx.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.rx[:end]).decode("latin-1").split("\r\n")
        try:
            status = int(head[0].split()[1])
        except (IndexError, ValueError):
            status = -1
        hdrs = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        if len(self.rx) < end + 4 + n:
            return None
        body = bytes(self.rx[end + 4:end + 4 + n])
        del self.rx[:end + 4 + n]
        return status, hdrs, body


# ------------------------------------------------------------------ counters

class Stats:
    """slhttpd's counters: SIGUSR1, then read the (atomically renamed) file."""

    def __init__(self, pid, path, barrier=None):
        self.pid = pid
        self.path = path
        self.barrier = barrier

    def alive(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()[0]
            return st not in ("Z", "X")
        except OSError:
            return False

    def snap(self, timeout=5.0):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        if not self.alive():
            raise RuntimeError("slhttpd is not running")
        if self.barrier and not self.barrier():
            raise RuntimeError("slhttpd did not answer the ARP barrier")
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.path) as f:
                    text = f.read()
            except FileNotFoundError:
                time.sleep(0.01)
                continue
            d = {}
            for line in text.splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    try:
                        d[parts[0]] = int(parts[1])
                    except ValueError:
                        pass
            if "http_conns_closing" in d:  # the last line: the file is complete
                return d
            time.sleep(0.01)
        raise RuntimeError(f"no stats file from slhttpd within {timeout}s")
