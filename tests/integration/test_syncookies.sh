#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# SYN cookies (RFC 4987 3.6) with real Linux clients: slhttpd listens with a
# backlog of 2, so nearly every SYN of `ab -c 50` is answered statelessly
# with a cookie and the connection is rebuilt from the client's ACK (MSS
# from the cookie, window scale and SACK from the echoed timestamp). Pass:
# every request completes, 0 failed, and the cookie counters show both the
# cookies sent and the connections rebuilt from them. Then the same with
# --no-syncookies: SYNs beyond the backlog are dropped (counted), and the
# clients' SYN retransmissions still get through.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-240}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd ab

topo_up
make_file small.bin 1K

run_ab() { # N C -> sets complete failed
  run_in "$CLI_NS" timeout 120 ab -n "$1" -c "$2" -r -s 20 "$(srv_url small.bin)" >"$WORK/ab.out" 2>"$WORK/ab.err"
  local rc=$?
  complete=$(awk -F: '$1 == "Complete requests" { print $2 + 0 }' "$WORK/ab.out")
  failed=$(awk -F: '$1 == "Failed requests" { print $2 + 0 }' "$WORK/ab.out")
  log "ab -n $1 -c $2: rc=$rc complete=${complete:-?} failed=${failed:-?}"
}

start_slhttpd --backlog 2
run_ab 3000 50
if [[ $complete == 3000 && $failed == 0 ]]; then pass "cookies: 3000 requests, 0 failed"; else fail "cookies: complete=$complete failed=$failed"; fi
if f=$(slhttpd_stats); then
  sent=$(stat_get tcp_syncookies_sent "$f")
  ok=$(stat_get tcp_syncookies_ok "$f")
  bad=$(stat_get drop_tcp_syncookie_bad "$f")
  log "tcp_syncookies_sent=$sent tcp_syncookies_ok=$ok drop_tcp_syncookie_bad=$bad"
  if ((${sent:-0} > 0)); then pass "cookies were sent ($sent)"; else fail "no SYN cookie was sent"; fi
  if ((${ok:-0} > 0)); then pass "connections rebuilt from cookies ($ok)"; else fail "no connection was rebuilt from a cookie"; fi
  if ((${bad:-0} == 0)); then pass "no valid client ACK was refused as a bad cookie"; else fail "drop_tcp_syncookie_bad=$bad"; fi
fi
stop_slhttpd

start_slhttpd --backlog 2 --no-syncookies
run_ab 300 20
if [[ $complete == 300 && $failed == 0 ]]; then pass "no cookies: 300 requests, 0 failed (SYN retransmissions)"; else fail "no cookies: complete=$complete failed=$failed"; fi
if f=$(slhttpd_stats); then
  full=$(stat_get drop_tcp_backlog_full "$f")
  if ((${full:-0} > 0)); then pass "SYNs beyond the backlog counted ($full)"; else fail "drop_tcp_backlog_full not counted"; fi
fi
stop_slhttpd
summary
