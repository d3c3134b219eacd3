#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# SYN flood (hostile input): a generator floods slhttpd with spoofed SYNs from
# 198.19.0.0/16 (within 198.18.0.0/15; slhttpd routes its SYN-ACKs to them
# through the gateway 198.18.0.1, whose kernel drops them) at the highest
# rate it can produce, for FLOOD_SECS, while a legitimate client (ab, one
# connection per request) keeps connecting. The half-open backlog fills
# (control blocks only, no buffers) and every further SYN is answered with
# a SYN cookie. Pass: >= 99% of the legitimate requests succeed and the
# server's resident memory stays bounded. Prints the figures recorded in
# docs/benchmarks.md.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-180}
FLOOD_SECS=${FLOOD_SECS:-15}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd ab

FLOOD=$SL_BUILD/synflood
[[ -x $FLOOD ]] || die "synflood tool not built ($FLOOD)"

topo_up
make_file small.bin 1K
start_slhttpd --gateway "$CLI_IP" --quiet
srv_mac=$(ip -n "$SRV_NS" -o link show "$SRV_IF" | sed -E 's/.*link\/ether ([0-9a-f:]+).*/\1/')
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$SLHTTPD_PID/status"; }

# Warm up (ARP, page cache, allocator) and take the baseline.
run_in "$CLI_NS" ab -n 500 -c 10 -s 10 "$(srv_url small.bin)" >/dev/null 2>&1
rss0=$(rss)

bg_start flood "$CLI_NS" "$FLOOD" "$CLI_IF" "$srv_mac" "$SRV_IP" "$SL_PORT" "$FLOOD_SECS"
flood_pid=$BG_PID
# legitimate clients for most of the flood
n_req=$((FLOOD_SECS * 100))
bg_start ab "$CLI_NS" timeout $((FLOOD_SECS + 60)) ab -n "$n_req" -c 10 -r -s 20 "$(srv_url small.bin)"
ab_pid=$BG_PID
rss_max=$rss0
while _sl_alive "$flood_pid"; do
  r=$(rss)
  ((r > rss_max)) && rss_max=$r
  wait_for "! _sl_alive $flood_pid" 0.5
done
wait "$flood_pid"
_sl_forget "$flood_pid"
wait "$ab_pid"
_sl_forget "$ab_pid"
flood=$(cat "$WORK/flood.log")
complete=$(awk -F: '$1 == "Complete requests" { print $2 + 0 }' "$WORK/ab.log")
failed=$(awk -F: '$1 == "Failed requests" { print $2 + 0 }' "$WORK/ab.log")
ok=$((complete - failed))
log "flood: $flood"
log "legitimate: $ok of $n_req requests succeeded (complete=$complete failed=$failed)"
log "slhttpd VmRSS: before ${rss0} kB, max during the flood ${rss_max} kB"
if f=$(slhttpd_stats); then
  for k in tcp_syncookies_sent tcp_syncookies_ok tcp_passive_opens rx_frames drop_rx_ring_full; do
    log "  $k $(stat_get "$k" "$f")"
  done
  sent=$(stat_get tcp_syncookies_sent "$f")
  if ((${sent:-0} > 0)); then pass "SYN cookies answered the flood ($sent)"; else fail "no SYN cookies sent"; fi
fi
if ((ok * 100 >= n_req * 99)); then
  pass "legitimate success rate $((ok * 1000 / n_req / 10)).$((ok * 1000 / n_req % 10))% >= 99%"
else
  fail "legitimate success rate: $ok of $n_req"
fi
# Per-SYN state would cost hundreds of MB for this many SYNs; allow 48 MB
# of growth (the plain build grows ~5 MB; ASan's quarantine ~25 MB).
if ((rss_max - rss0 <= 49152)); then
  pass "resident memory bounded: ${rss0} -> ${rss_max} kB"
else
  fail "resident memory grew: ${rss0} -> ${rss_max} kB"
fi
stop_slhttpd
summary
