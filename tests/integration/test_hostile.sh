#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# Hostile segments, black box (hostile input): py/hostile.py crafts frames
# in the client namespace and sends them through the veth from addresses the
# client kernel does not own (198.18.0.50, ...), so the kernel never RSTs
# the hand-driven connections. Cases: blind in-window RST/SYN/data (RFC
# 5961) and RST storms, out-of-window segments, ACKs for unsent data, bad
# checksums, data offsets and option lengths, hostile SACK blocks, PAWS, IP
# fragments, forged ICMP PTB and other errors (RFC 5927) and echo, LAND and
# martian sources, a SYN in a link-layer broadcast, a SYN carrying data,
# attacks on SYN-RECEIVED, MSS 0, odd flags to the listener, closed ports.
# Each case asserts the wire behaviour and the named counter (SIGUSR1
# snapshots behind an ARP barrier). HOSTILE_ARGS passes options to
# hostile.py (--seed N, --only CASE...).
# Every "PASS:"/"FAIL:" line of hostile.py counts as one check; afterwards a
# kernel client must still be served, and the final non-zero counters are
# printed.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-240}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd python3 openssl curl

topo_up
make_file small.bin 1K
make_file medium.bin 256K
start_slhttpd

# Informational capture of everything on the client end (SL_KEEP=1 keeps it).
PCAP_PID=
if command -v tcpdump >/dev/null 2>&1; then
  bg_start tcpdump "$CLI_NS" tcpdump -i "$CLI_IF" -n -U --immediate-mode -Z root -s 256 \
    -w "$WORK/hostile.pcap"
  PCAP_PID=$BG_PID
  wait_for "grep -qs 'listening on' $WORK/tcpdump.log || ! _sl_alive $PCAP_PID" 10 || PCAP_PID=
fi

SRV_MAC=$(ip -n "$SRV_NS" -o link show "$SRV_IF" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
[[ -n $SRV_MAC ]] || die "cannot read the MAC address of $SRV_IF"

read -ra extra_args <<<"${HOSTILE_ARGS:-}" # e.g. HOSTILE_ARGS="--seed 1 --only rst_storm"
run_in "$CLI_NS" timeout 170 python3 "$SL_LIB_DIR/py/hostile.py" --iface "$CLI_IF" \
  --srv-ip "$SRV_IP" --srv-mac "$SRV_MAC" --port "$SL_PORT" --pid "$SLHTTPD_PID" \
  --stats "$SLHTTPD_STATS" --root "$ROOT" "${extra_args[@]}" >"$WORK/hostile.out" 2>&1
rc=$?
while IFS= read -r line; do
  case $line in
    PASS:*) pass "${line#PASS: }" ;;
    FAIL:*) fail "${line#FAIL: }" ;;
    *) echo "  | $line" ;;
  esac
done <"$WORK/hostile.out"
if [[ $rc != 0 ]] && ! grep -q '^FAIL:' "$WORK/hostile.out"; then
  fail "hostile.py exited $rc without reporting a failed check"
fi

[[ -n $PCAP_PID ]] && stop_pid "$PCAP_PID" INT 5

# After all that, an ordinary kernel client is still served.
_sl_check_slhttpd_alive && fetch_check curl small.bin 10

stop_slhttpd
if [[ -s $SLHTTPD_STATS ]]; then
  echo "slhttpd final counters (non-zero):"
  stats_nonzero "$SLHTTPD_STATS" | sed 's/^/  /'
fi
summary
