#!/usr/bin/env bash
# Integration test of the AF_PACKET io backend (src/io/io_packet.c) and the
# impairment wrapper over it, against real kernel peers.
#
# Two network namespaces joined by a veth pair, offloads left at their
# defaults (TSO/GSO/checksum offload ON):
#   $NS_K  kernel side, 198.18.5.1/24 on $VK
#   $NS_S  sltcp side, NO kernel address on $VS; tests/tools/io_echo opens
#          "packet:$VS" and plays host 198.18.5.2 (ARP + ICMP echo) or a
#          minimal TCP client 198.18.5.3.
# Phases:
#   A  ping -c 20 -s 1400, a small UDP datagram and a 14000-byte UDP GSO
#      datagram (one >MTU frame with CHECKSUM_PARTIAL on veth): checks echo
#      replies, rx_csum_unverified, rx_oversize_frames.
#   B  TCP both ways (20 MB each) with the vnet header: our TSO super-frames
#      + checksum offload into the kernel, the kernel's 64 KB GSO frames
#      out of it; data verified on both ends.
#   C  the same (smaller) with SL_IO_PACKET_NO_VNET=1: plain-frame fallback.
#   D  the same (small) through the impairment wrapper (loss/dup/reorder/
#      delay), checking that recovery works and impair counters move.
#   E  MTU 9000 on both ends: ping -s 8972 -M do (single 9000-byte frames).
#
# Env: SL_BUILD (cmake build dir, for $SL_BUILD/io_echo; built here with cc
# from $SL_SRC if absent), SL_SRC (source tree). Needs root, ip, python3.
# Exit 0 = pass, 1 = fail, 77 = cannot run here (not root / no tools).
set -u

SL_SRC=${SL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SL_BUILD=${SL_BUILD:-$SL_SRC/build}
NAME=test_io_packet
ID=sltest-io-$$
NS_K=$ID-k
NS_S=$ID-s
VK=sltio$$k
VS=sltio$$s
PASS=0
FAIL=0
PIDS=()
TMP=""

log() { echo "[$NAME] $*"; }
ok() { PASS=$((PASS + 1)); log "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); log "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    ip netns del "$NS_K" 2>/dev/null
    ip netns del "$NS_S" 2>/dev/null
    [ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

die() {
    bad "$*"
    echo "$NAME: $PASS passed, $FAIL failed"
    exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds
# or the deadline passes (the short sleep is the poll interval).
wait_for() {
    local secs=$1 what=$2
    shift 2
    local deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
    until "$@"; do
        if (($(date +%s%N) / 1000000 >= deadline)); then
            return 1
        fi
        sleep 0.02
    done
    return 0
}

# stop PID SECONDS: SIGTERM and wait for exit with a deadline; returns the
# exit status (or 124 if it would not die).
stop() {
    local pid=$1 secs=$2
    kill -TERM "$pid" 2>/dev/null
    if ! wait_for "$secs" "exit of $pid" bash -c "! kill -0 $pid 2>/dev/null"; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 124
    fi
    wait "$pid"
}

ctr() { # ctr FILE NAME -> value (0 if absent)
    awk -v n="$2" '$1 == "ctr" && $2 == n { v = $3 } END { print v + 0 }' "$1"
}

if [ "$(id -u)" != 0 ]; then
    log "needs root (network namespaces, AF_PACKET); skipping"
    exit 77
fi
for tool in ip python3 cc; do
    if ! command -v "$tool" >/dev/null; then
        log "needs $tool; skipping"
        exit 77
    fi
done

TMP=$(mktemp -d "/tmp/$ID.XXXXXX")

# ---- io_echo binary ----
IO_ECHO=$SL_BUILD/io_echo
if [ ! -x "$IO_ECHO" ]; then
    IO_ECHO=$TMP/io_echo
    log "building io_echo from $SL_SRC"
    if ! cc -std=gnu11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
        -I"$SL_SRC/src" -I"$SL_SRC/include" \
        "$SL_SRC/tests/tools/io_echo.c" "$SL_SRC"/src/io/*.c "$SL_SRC/src/common/ctr.c" "$SL_SRC/src/wire/csum.c" \
        -o "$IO_ECHO" 2>"$TMP/cc.log"; then
        cat "$TMP/cc.log"
        die "cannot build io_echo"
    fi
fi

# ---- helpers run in the kernel namespace ----
cat >"$TMP/srv.py" <<'EOF'
# TCP server: accept one connection, read until EOF checking the pattern
# (byte k = k % 251), then send SEND pattern bytes and close.
import socket, sys
host, port, expect, send = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
p251 = bytes(range(251))
def pat(off, n):
    s = off % 251
    return (p251 * ((s + n) // 251 + 1))[s:s + n]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(1)
ls.settimeout(60)
print('listening', flush=True)
c, _ = ls.accept()
c.settimeout(60)
got = bad = 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    if b != pat(got, len(b)):
        bad += 1
    got += len(b)
blk = pat(0, 251 * 4000)
sent = 0
while sent < send:
    n = min(len(blk), send - sent)
    c.sendall(blk[:n])
    sent += n
c.close()
print('server received', got, 'bad_chunks', bad, 'sent', sent,
      'ok' if got == expect and bad == 0 else 'FAIL', flush=True)
EOF

cat >"$TMP/udp.py" <<'EOF'
# One small UDP datagram, then one 14000-byte datagram with UDP_SEGMENT
# (GSO: crosses veth as one >MTU frame with a partial checksum).
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'x' * 100, (sys.argv[1], 9))
try:
    s.setsockopt(socket.SOL_UDP, 103, 1400)  # UDP_SEGMENT
    s.sendto(b'y' * 14000, (sys.argv[1], 9))
    print('gso sent')
except OSError as e:
    print('gso unsupported', e)
EOF

cat >"$TMP/ping.py" <<'EOF'
# Fallback pinger when iputils ping is absent: COUNT echo requests of SIZE
# payload bytes, prints "N received".
import os, socket, struct, sys, time
dst, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(2)
ident = os.getpid() & 0xffff
got = 0
for seq in range(count):
    payload = bytes((i + seq) & 0xff for i in range(size))
    h = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
    h = struct.pack('!BBHHH', 8, 0, csum(h + payload), ident, seq)
    s.sendto(h + payload, (dst, 0))
    end = time.time() + 2
    while time.time() < end:
        try:
            r = s.recv(65535)
        except socket.timeout:
            break
        ihl = (r[0] & 15) * 4
        t, _, _, rid, rseq = struct.unpack('!BBHHH', r[ihl:ihl + 8])
        if t == 0 and rid == ident and rseq == seq and r[ihl + 8:] == payload:
            got += 1
            break
print('%d received' % got)
EOF

# do_ping COUNT SIZE [extra ping args] -> prints number of replies
do_ping() {
    local count=$1 size=$2
    shift 2
    if command -v ping >/dev/null; then
        ip netns exec "$NS_K" ping -n -q -c "$count" -i 0.05 -W 2 -w $((count + 10)) -s "$size" "$@" \
            198.18.5.2 2>&1 | sed -n 's/.* \([0-9]\+\) received.*/\1/p'
    else
        ip netns exec "$NS_K" python3 "$TMP/ping.py" 198.18.5.2 "$count" "$size" |
            sed -n 's/^\([0-9]\+\) received/\1/p'
    fi
}

# start_echo OUTFILE ARGS...: io_echo in $NS_S in the background, wait for
# its "ready" line. Sets ECHO_PID.
start_echo() {
    local out=$1
    shift
    ip netns exec "$NS_S" timeout 300 "$IO_ECHO" "$@" >"$out" 2>&1 &
    ECHO_PID=$!
    PIDS+=("$ECHO_PID")
    if ! wait_for 10 "io_echo ready" grep -q '^ready' "$out"; then
        cat "$out"
        die "io_echo did not start"
    fi
    log "$(head -1 "$out")"
}

# tcp_run TAG PORT BYTES [env...] -- [io_echo options]: one TCP exchange
tcp_run() {
    local tag=$1 port=$2 bytes=$3
    shift 3
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        envs+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    local srv_out=$TMP/srv-$tag.out cli_out=$TMP/cli-$tag.out
    ip netns exec "$NS_K" timeout 120 python3 "$TMP/srv.py" 198.18.5.1 "$port" "$bytes" "$bytes" \
        >"$srv_out" 2>&1 &
    local srv=$!
    PIDS+=("$srv")
    if ! wait_for 10 "server listening" grep -q listening "$srv_out"; then
        cat "$srv_out"
        die "$tag: tcp server did not start"
    fi
    env "${envs[@]}" ip netns exec "$NS_S" timeout 90 "$IO_ECHO" -t 60 "$@" "packet:$VS" 198.18.5.3 \
        --tcp 198.18.5.1 "$port" "$bytes" "$bytes" >"$cli_out" 2>&1
    local rc=$?
    if ! wait_for 30 "server exit" bash -c "! kill -0 $srv 2>/dev/null"; then
        kill -TERM "$srv" 2>/dev/null
    fi
    wait "$srv" 2>/dev/null
    grep -E '^(ready|tcp|result)' "$cli_out" | sed "s/^/[$NAME]   $tag: /"
    sed "s/^/[$NAME]   $tag: /" "$srv_out"
    if [ "$rc" != 0 ] && [ -z "${TCP_RETRIED:-}" ]; then
        # io_echo's TCP is a minimal test client with no loss recovery: one
        # frame the kernel drops from a full ring (CPU contention, ASan)
        # stalls it. One retry on a fresh port; a backend bug fails twice.
        log "$tag: exchange failed (rc=$rc); retrying once"
        TCP_RETRIED=1 tcp_run "$tag" $((port + 1000)) "$bytes" "${envs[@]}" -- "$@"
        return
    fi
    check "$tag: io_echo tcp exchange (rc=$rc)" [ "$rc" = 0 ]
    check "$tag: kernel received and sent intact data" grep -q ' ok$' "$srv_out"
}

# ---- topology ----
ip netns add "$NS_K" || die "ip netns add"
ip netns add "$NS_S" || die "ip netns add"
ip link add "$VK" netns "$NS_K" type veth peer name "$VS" netns "$NS_S" || die "veth"
for ns in "$NS_K" "$NS_S"; do
    # IPv6 off: no router solicitations / DAD noise on the link
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip -n "$NS_K" addr add 198.18.5.1/24 dev "$VK" || die "addr"
ip -n "$NS_K" link set "$VK" up || die "link up"
ip -n "$NS_S" link set "$VS" up || die "link up"
if command -v ethtool >/dev/null; then
    log "offloads on $VK: $(ip netns exec "$NS_K" ethtool -k "$VK" |
        grep -E '^(tcp-segmentation-offload|tx-checksumming|generic-segmentation-offload):' |
        tr -s ' \n' ' ')"
fi

# ---- A: ping, UDP checksum-partial and GSO frames ----
log "phase A: ICMP echo and UDP GSO into the packet ring"
OUT_A=$TMP/echo-a.out
start_echo "$OUT_A" "packet:$VS" 198.18.5.2
n=$(do_ping 20 1400)
check "20 pings of 1400 bytes answered (got ${n:-0})" [ "${n:-0}" = 20 ]
UDP=$(ip netns exec "$NS_K" python3 "$TMP/udp.py" 198.18.5.2 2>&1)
log "udp: $UDP"
# a final ping proves every earlier frame went through the ring
n=$(do_ping 1 56)
check "ping after UDP answered" [ "${n:-0}" = 1 ]
stop "$ECHO_PID" 10
check "io_echo exited cleanly" [ $? = 0 ]
sed -n 's/^ctr /  /p' "$OUT_A" | sed "s/^/[$NAME]   A:/"
check "icmp_echo_tx >= 21" [ "$(ctr "$OUT_A" icmp_echo_tx)" -ge 21 ]
check "rx_csum_unverified >= 1 (partial-checksum UDP)" [ "$(ctr "$OUT_A" rx_csum_unverified)" -ge 1 ]
if [[ $UDP == *"gso sent"* ]]; then
    check "rx_oversize_frames >= 1 (UDP GSO frame)" [ "$(ctr "$OUT_A" rx_oversize_frames)" -ge 1 ]
fi
check "no truncated rx frames" [ "$(ctr "$OUT_A" drop_rx_truncated)" = 0 ]
check "no tx errors" [ "$(ctr "$OUT_A" drop_tx_error)" = 0 ]

# ---- B: TCP with the vnet header (TSO + checksum offload) ----
log "phase B: TCP 20 MB each way, vnet header"
tcp_run B 5001 20000000
OUT_B=$TMP/cli-B.out
if grep -q 'max_gso=0' "$OUT_B"; then
    log "note: backend runs without vnet header (max_gso=0): GSO checks skipped"
else
    check "B: tx_gso_frames > 0" [ "$(ctr "$OUT_B" tx_gso_frames)" -gt 0 ]
fi
check "B: rx_oversize_frames > 0 (kernel GSO frames)" [ "$(ctr "$OUT_B" rx_oversize_frames)" -gt 0 ]
check "B: rx_csum_unverified > 0" [ "$(ctr "$OUT_B" rx_csum_unverified)" -gt 0 ]
check "B: no tx errors" [ "$(ctr "$OUT_B" drop_tx_error)" = 0 ]
check "B: no truncated rx frames" [ "$(ctr "$OUT_B" drop_rx_truncated)" = 0 ]

# ---- C: plain-frame fallback ----
log "phase C: TCP 5 MB each way, SL_IO_PACKET_NO_VNET=1 (fallback)"
tcp_run C 5002 5000000 SL_IO_PACKET_NO_VNET=1 --
OUT_C=$TMP/cli-C.out
check "C: fallback advertises no offloads" grep -q 'max_gso=0 csum_offload=0' "$OUT_C"
check "C: no tx_gso_frames" [ "$(ctr "$OUT_C" tx_gso_frames)" = 0 ]
check "C: no tx errors" [ "$(ctr "$OUT_C" drop_tx_error)" = 0 ]

# ---- D: impairment wrapper over the real backend ----
# No loss here: io_echo's TCP is a minimal test client without real loss
# recovery (it timed out under loss=1 in CI). Loss over this backend is
# tested with the real engine in test_loss.sh, the wrapper itself in
# tests/unit/test_impair.c.
log "phase D: TCP 1 MB each way through dup=1,reorder=2,delay=1"
tcp_run D 5003 1000000 -- -i "dup=1,reorder=2,delay=1,seed=7"
OUT_D=$TMP/cli-D.out
check "D: impair_delayed > 0" [ "$(ctr "$OUT_D" impair_delayed)" -gt 0 ]
check "D: some frames duplicated/reordered" \
    [ $(($(ctr "$OUT_D" impair_duplicated) + $(ctr "$OUT_D" impair_reordered))) -gt 0 ]

# ---- E: jumbo frames ----
log "phase E: MTU 9000, ping -s 8972 -M do"
ip -n "$NS_K" link set "$VK" mtu 9000 || die "mtu"
ip -n "$NS_S" link set "$VS" mtu 9000 || die "mtu"
OUT_E=$TMP/echo-e.out
start_echo "$OUT_E" "packet:$VS" 198.18.5.2
check "E: backend reports mtu 9000" grep -q 'mtu=9000' "$OUT_E"
if command -v ping >/dev/null; then
    n=$(do_ping 5 8972 -M "do")
else
    n=$(do_ping 5 8972)
fi
check "E: 5 pings of 8972 bytes answered (got ${n:-0})" [ "${n:-0}" = 5 ]
stop "$ECHO_PID" 10
check "E: io_echo exited cleanly" [ $? = 0 ]
check "E: no oversize frames at MTU 9000" [ "$(ctr "$OUT_E" rx_oversize_frames)" = 0 ]

echo "$NAME: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
