#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# Connection churn: ApacheBench, 10000 requests, 50 concurrent, no
# keep-alive (one TCP connection per request) on a 1 KB file. Pass: all
# complete, 0 failed requests, 0 non-2xx, every body 1024 bytes. RSTs from the
# server are counted (informational).
SL_TEST_BUDGET=${SL_TEST_BUDGET:-360}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd ab openssl

N=10000
C=50
topo_up
make_file small.bin 1K
start_slhttpd
rst_capture_start

# -r: keep going on socket errors so they are counted, not fatal; -s: per
# request timeout.
t0=$(now)
run_in "$CLI_NS" timeout 300 ab -n "$N" -c "$C" -r -s 10 "$(srv_url small.bin)" >"$WORK/ab.out" 2>"$WORK/ab.err"
rc=$?
secs=$(elapsed "$t0")
rst_capture_stop

field() { awk -F: -v k="$1" '$1 == k { sub(/^[ \t]+/, "", $2); split($2, a, " "); print a[1]; exit }' "$WORK/ab.out"; }
complete=$(field "Complete requests")
failed=$(field "Failed requests")
non2xx=$(field "Non-2xx responses")
doclen=$(field "Document Length")
rps=$(field "Requests per second")
log "ab: rc=$rc in ${secs}s: complete=${complete:-?} failed=${failed:-?} non2xx=${non2xx:-0} doclen=${doclen:-?} req/s=${rps:-?}"

if [[ $rc == 0 ]]; then pass "ab exited 0"; else fail "ab exited $rc: $(tail -n 3 "$WORK/ab.err" | tr '\n' ' ')"; fi
if [[ $complete == "$N" ]]; then pass "ab: $N requests complete"; else fail "ab: complete=${complete:-none}, want $N"; fi
if [[ $failed == 0 ]]; then
  pass "ab: 0 failed requests"
else
  fail "ab: failed requests: $(grep -A1 '^Failed requests' "$WORK/ab.out" | tr -s ' \n' ' ')"
fi
if [[ -z $non2xx || $non2xx == 0 ]]; then pass "ab: 0 non-2xx responses"; else fail "ab: $non2xx non-2xx responses"; fi
if [[ $doclen == 1024 ]]; then pass "ab: document length 1024"; else fail "ab: document length ${doclen:-none}, want 1024"; fi

if f=$(slhttpd_stats); then
  log "slhttpd counters after ab:"
  print_counters "$f"
fi
stop_slhttpd
summary
