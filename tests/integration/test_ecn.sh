#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# ECN (RFC 3168) against the kernel: a client namespace with
# net.ipv4.tcp_ecn=1 (the kernel asks for ECN on its SYNs) downloads from
# slhttpd while tcpdump watches the client's side of the veth.
#   1. plain: the SYN-ACK carries ECE without CWR (ECN agreed), data from
#      slhttpd is ECT(0), and no segment without payload is ECT (SYN-ACK,
#      pure ACKs: RFC 3168 6.1.5).
#   2. --no-ecn: the SYN-ACK has no ECE and nothing is ECT.
#   3. --impair ce=5: the impairment layer marks ECT packets CE; the kernel
#      echoes them with ECE, slhttpd cuts its window (tcp_ecn_cwnd_reduced)
#      and sends CWR; the download is byte-exact.
# Needs tcpdump; about 10 s.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-300}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl sha256sum tcpdump
[[ $SL_SELFTEST == 1 ]] && skip_all "ECN needs the real slhttpd"

topo_up
in_cli sysctl -qw net.ipv4.tcp_ecn=1 >/dev/null || die "cannot enable ECN in $CLI_NS"
make_file ecn.bin 20M

# cap_start NAME / cap_stop: headers of every TCP packet on the client side.
cap_start() {
  CAP=$WORK/$1.pcap
  bg_start "tcpdump-$1" "$CLI_NS" tcpdump -i "$CLI_IF" -n -U --immediate-mode -Z root -s 96 \
    -w "$CAP" tcp
  CAP_PID=$BG_PID
  wait_for "grep -q 'listening on' $WORK/tcpdump-$1.log || ! _sl_alive $CAP_PID" 10 ||
    die "tcpdump did not start"
}
cap_stop() { stop_pid "$CAP_PID" INT 5; }
# cap_count FILTER: packets of the last capture matching a pcap filter.
cap_count() { tcpdump -r "$CAP" -n "$1" 2>/dev/null | wc -l; }

FROM_SRV="src host $SRV_IP"
SYNACK_ECE="$FROM_SRV and tcp[13] & 0xd2 == 0x52"      # SYN|ACK|ECE, no CWR
SYNACK_ANY="$FROM_SRV and tcp[13] & 0x12 == 0x12"
ECT_DATA="$FROM_SRV and ip[1] & 3 == 2"
# a segment without payload: IP total length = IP header + TCP header
NO_PAYLOAD="ip[2:2] == ((ip[0] & 0xf) << 2) + ((tcp[12] & 0xf0) >> 2)"

log "--- ECN agreed ---"
start_slhttpd
cap_start plain
fetch_check curl ecn.bin 60
cap_stop
slhttpd_stats >/dev/null
check "SYN-ACK with ECE and without CWR" test "$(cap_count "$SYNACK_ECE")" -ge 1
check "data from slhttpd is ECT(0)" test "$(cap_count "$ECT_DATA")" -ge 10
check "no segment without payload is ECT (6.1.5)" \
  test "$(cap_count "$FROM_SRV and ip[1] & 3 != 0 and $NO_PAYLOAD")" -eq 0
check "tcp_ecn_negotiated counted" test "$(stat_get tcp_ecn_negotiated)" -ge 1
stop_slhttpd

log "--- --no-ecn ---"
start_slhttpd --no-ecn
cap_start off
fetch_check curl ecn.bin 60
cap_stop
check "a SYN-ACK was seen" test "$(cap_count "$SYNACK_ANY")" -ge 1
check "SYN-ACK without ECE" test "$(cap_count "$SYNACK_ECE")" -eq 0
check "nothing from slhttpd is ECT" test "$(cap_count "$FROM_SRV and ip[1] & 3 != 0")" -eq 0
stop_slhttpd

log "--- CE marks (--impair ce=5) ---"
start_slhttpd --impair ce=5,seed=3
cap_start ce
fetch_check curl ecn.bin 60
cap_stop
stop_slhttpd
print_counters
for c in impair_ce_marked tcp_ecn_cwnd_reduced; do
  v=$(stat_get "$c")
  check "$c=${v:-absent} > 0" test "${v:-0}" -gt 0
done
check "the kernel echoed CE with ECE" \
  test "$(cap_count "dst host $SRV_IP and tcp[13] & 0x42 == 0x40")" -ge 1
check "slhttpd answered with CWR" test "$(cap_count "$FROM_SRV and tcp[13] & 0x80 != 0")" -ge 1
summary
