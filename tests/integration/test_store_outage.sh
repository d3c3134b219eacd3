#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# Store outage (an unreachable store stalls connections; they resume): Redis is SIGKILLed in the middle of
# transfers and restarted (empty: no persistence) a few seconds later.
#
#   netns sl$$-cli: 4 curl downloads (100 MB, rate-limited) and 4 python
#                   keep-alive loops
#   netns sl$$-srv: slhttpd --store redis://127.0.0.1:6379 --durability sync
#                   and redis-server on the namespace's loopback
#
# While Redis is away the connections stall (with sync durability nothing
# leaves that the store has not taken: no data segment leaves), and
# slhttpd says so in one log line. When Redis is back (empty) slhttpd
# writes every flow again (persist_reowned), logs that the store answers,
# and everything resumes. Then slhttpd itself is SIGKILLed and restarted,
# to show the re-written state is complete. Checks: every sha256, every
# client exits 0, no RST in the capture, both log lines present.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-300}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl sha256sum python3 tcpdump redis-server redis-cli

N=4
topo_up
make_file big.bin 100M
make_file small.bin 16K
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key")
start_redis_srv
ARGS=(--store redis://127.0.0.1:6379 --durability sync --store-key "$WORK/store.key" --quiet)
start_slhttpd "${ARGS[@]}"
rst_capture_start

DL_PIDS=()
for ((i = 0; i < N; i++)); do
  bg_start "curl$i" "$CLI_NS" curl -sS --max-time 200 --limit-rate 8M -o "$DL/big$i" \
    "$(srv_url big.bin)"
  DL_PIDS+=("$BG_PID")
done
STOP=$WORK/stop-loops
LOOP_PIDS=()
for ((i = 0; i < N; i++)); do
  bg_start "loop$i" "$CLI_NS" python3 "$SL_LIB_DIR/py/keepalive_loop.py" "$SRV_IP" "$SL_PORT" \
    /small.bin "$(sha_of small.bin)" "$STOP" 60
  LOOP_PIDS+=("$BG_PID")
done
total_dl() { cat "$DL"/big* 2>/dev/null | wc -c; }
wait_for "(( \$(total_dl) > 40000000 ))" 30 || die "downloads did not start"

# --- Redis goes away
log "SIGKILL redis-server (pid $REDIS_PID)"
kill -KILL "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null
_sl_forget "$REDIS_PID"
wait_for "grep -q 'unreachable' '$SLHTTPD_LOG'" 10
check "slhttpd logs that the store is unreachable: $(grep -m1 unreachable "$SLHTTPD_LOG")" \
  grep -q unreachable "$SLHTTPD_LOG"
f=$(slhttpd_stats) || die "no stats"
a=$(stat_get tx_frames "$f")
t0=$(now)
wait_for "[[ \$(elapsed $t0 | cut -d. -f1) -ge 3 ]]" 10 # the outage lasts 3 s
f=$(slhttpd_stats) || die "no stats"
b=$(stat_get tx_frames "$f")
log "during the outage: $(grep -E '^(persist_store_errors|persist_stalled_iters|drop_tx_held_discard) ' "$f" | tr '\n' ' ')"
# (the clients' files still grow for a while: curl --limit-rate drains
# what the kernel had buffered before the outage; count what LEFT slhttpd)
check "no frame left slhttpd while the store was away ($((b - a)) in 3 s)" \
  test $((b - a)) -eq 0
b=$(total_dl)

# --- Redis comes back, empty
start_redis_srv
wait_for "grep -q 'answers again after' '$SLHTTPD_LOG'" 20
check "slhttpd logs that the store answers again: $(grep -m1 'answers again after' "$SLHTTPD_LOG")" \
  grep -q 'answers again after' "$SLHTTPD_LOG"
wait_for "(( \$(total_dl) > $b + 8000000 ))" 20
check "transfers resumed after the outage" test "$(total_dl)" -gt $((b + 8000000))

# --- and the re-written state is complete: kill slhttpd, restart it
f=$(slhttpd_stats) && log "re-owned flows: $(stat_get persist_reowned "$f")"
kill -KILL "$SLHTTPD_PID"
wait "$SLHTTPD_PID" 2>/dev/null
_sl_forget "$SLHTTPD_PID"
SLHTTPD_PID=
start_slhttpd "${ARGS[@]}"
f=$(slhttpd_stats) && log "restored after the kill: $(stat_get restore_ok "$f")"

for p in "${DL_PIDS[@]}"; do wait_for "! _sl_alive $p" 150; done
touch "$STOP"
for p in "${LOOP_PIDS[@]}"; do wait_for "! _sl_alive $p" 90; done
want=$(sha_of big.bin)
ok=0
for ((i = 0; i < N; i++)); do
  wait "${DL_PIDS[$i]}" 2>/dev/null
  rc=$?
  _sl_forget "${DL_PIDS[$i]}"
  got=$([[ -f $DL/big$i ]] && file_sha "$DL/big$i")
  [[ $rc == 0 && $got == "$want" ]] && ok=$((ok + 1)) ||
    log "download $i: rc=$rc sha256 ${got:-none}: $(head -c 200 "$WORK/curl$i.log")"
done
check "$ok/$N downloads byte-exact across the outage and a kill" test "$ok" -eq "$N"
ok=0
for ((i = 0; i < N; i++)); do
  wait "${LOOP_PIDS[$i]}" 2>/dev/null && ok=$((ok + 1)) ||
    log "loop $i: $(head -c 200 "$WORK/loop$i.log")"
  _sl_forget "${LOOP_PIDS[$i]}"
done
check "$ok/$N keep-alive loops kept their connection" test "$ok" -eq "$N"
rst_capture_stop
check "no RST reached a connection the client had open (capture: $RST_COUNT; after its FIN: $RST_AFTER_CLOSE)" test "$RST_COUNT" = 0
stop_slhttpd
stop_pid "$REDIS_PID"
summary
