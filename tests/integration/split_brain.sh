#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions called indirectly (trap, wait_for)
# Split brain: a paused owner that comes back must stay silent.
#
# Instance A (slhttpd --durability sync, shm store, --ttl 61) serves kernel
# clients on one keep-alive connection each (py/stream_client.py: 32 MB
# bodies read at a limited rate and 16 KB bodies as fast as they go, every
# body checked). A is stopped with SIGSTOP for longer than its lease; B
# (same command line, --ttl 62) starts and takes the flows over; then A is
# continued with SIGCONT. The TTL tells the instances apart on the wire:
# tcpdump in the client namespace, started after A was stopped, keeps only
# segments with A's TTL, and must see none.
#   round 1: A continued after B is ready and serving;
#   round 2: B stopped in turn, C (--ttl 63) spawned, and B continued at
#            once, while C is still starting.
# Then: every client exits 0, every body byte-exact, no RST at the client.
#
# Not in the suite (no test_ prefix) until instances hold leases: today a
# continued instance takes flows back and emits (see README, "What is not
# there yet"). Run it by hand: bash tests/integration/split_brain.sh
SL_TEST_BUDGET=${SL_TEST_BUDGET:-300}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd python3 tcpdump

SB_PAUSE=${SB_PAUSE:-1.5} # longer than an instance's lease
SHM_NAME=slsb$$.$RANDOM
eval "$(declare -f cleanup | sed '1s/^cleanup/_sl_lib_cleanup/')"
cleanup() {
  _sl_lib_cleanup
  rm -f "/dev/shm/$SHM_NAME"
}

topo_up
make_file big.bin 32M
make_file small.bin 16K
head -c 32 /dev/urandom >"$WORK/store.key"
chmod 600 "$WORK/store.key"
ARGS=(--store "shm:$SHM_NAME?slots=256" --durability sync --store-key "$WORK/store.key" --quiet)

# spawn NAME TTL: an instance in the server namespace; sets SPAWN_PID and
# leaves its ready file at $WORK/NAME.ready.
spawn() {
  bg_start "$1" "$SRV_NS" "${SLHTTPD_CMD[@]}" --dev "packet:$SRV_IF" \
    --addr "$SRV_IP/$NET_LEN" --port "$SL_PORT" --root "$ROOT" \
    --stats-file "$WORK/$1.stats" --ready-file "$WORK/$1.ready" --ttl "$2" "${ARGS[@]}"
  SPAWN_PID=$BG_PID
}
ready() { [[ -e $WORK/$1.ready ]]; }
# ttl_capture TTL: tcpdump of the server's segments that carry TTL.
ttl_capture() {
  bg_start "cap$1" "$CLI_NS" tcpdump -i "$CLI_IF" -n -U --immediate-mode -Z root -s 96 \
    -w "$WORK/ttl$1.pcap" "src host $SRV_IP and ip[8] = $1"
  CAP_PID=$BG_PID
  wait_for "grep -q 'listening on' $WORK/cap$1.log" 10 || die "tcpdump did not start"
}
ttl_count() { tcpdump -r "$WORK/ttl$1.pcap" -n 2>/dev/null | wc -l; }

spawn A 61
A=$SPAWN_PID
wait_for "ready A" 15 || die "A not ready"
rst_capture_start
[[ -n $_SL_RST_PID ]] || die "no RST capture"

STOP=$WORK/stop
CLI_PIDS=()
for i in 0 1 2 3; do
  bg_start "stream$i" "$CLI_NS" python3 "$SL_LIB_DIR/py/stream_client.py" "$SRV_IP" "$SL_PORT" \
    /big.bin "$(sha_of big.bin)" "$STOP" 8000000 60
  CLI_PIDS+=("$BG_PID")
done
for i in 4 5; do
  bg_start "stream$i" "$CLI_NS" python3 "$SL_LIB_DIR/py/stream_client.py" "$SRV_IP" "$SL_PORT" \
    /small.bin "$(sha_of small.bin)" "$STOP" 0 60
  CLI_PIDS+=("$BG_PID")
done
# every client has a connection (and some data) before the first pause
_accepted() {
  local f=$WORK/A.stats
  rm -f "$f"
  kill -USR1 "$A"
  wait_for "[[ -s $f ]]" 5 || return 1
  (($(awk '$1 == "http_accepted" { print $2 }' "$f") >= 6))
}
wait_for _accepted 20 || die "the clients did not connect"
sleep 1

# ---------------------------------------------------------------- round 1
log "round 1: SIGSTOP A, B takes over, SIGCONT A once B is serving"
kill -STOP "$A"
ttl_capture 61
CAP1=$CAP_PID
sleep "$SB_PAUSE"
spawn B 62
B=$SPAWN_PID
wait_for "ready B" 15 || die "B not ready"
sleep 2 # B serves for a while before A comes back
kill -CONT "$A"
log "A continued; 3 s for it to show itself"
sleep 3

# ---------------------------------------------------------------- round 2
log "round 2: SIGSTOP B, spawn C, SIGCONT B at once (C still starting)"
kill -STOP "$B"
ttl_capture 62
CAP2=$CAP_PID
sleep "$SB_PAUSE"
spawn C 63
C=$SPAWN_PID
kill -CONT "$B"
wait_for "ready C" 15 || die "C not ready"
sleep 3

touch "$STOP"
for p in "${CLI_PIDS[@]}"; do
  wait_for "! _sl_alive $p" 90 || log "client $p still running"
done
stop_pid "$CAP1" INT 5
stop_pid "$CAP2" INT 5
n61=$(ttl_count 61)
n62=$(ttl_count 62)
check "no segment from A after it was stopped ($n61)" test "$n61" = 0
check "no segment from B after it was stopped ($n62)" test "$n62" = 0

ok=0
for i in "${!CLI_PIDS[@]}"; do
  wait "${CLI_PIDS[$i]}" 2>/dev/null
  rc=$?
  _sl_forget "${CLI_PIDS[$i]}"
  n=$(sed -n 's/^requests=//p' "$WORK/stream$i.log")
  mw=$(sed -n 's/^max_wait_ms=//p' "$WORK/stream$i.log")
  log "stream$i: ${n:-0} bodies, longest silence ${mw:-?} ms"
  if [[ $rc == 0 ]]; then
    ok=$((ok + 1))
  else
    fail "stream$i: rc=$rc: $(head -n 1 "$WORK/stream$i.log")"
  fi
done
check "$ok/${#CLI_PIDS[@]} clients kept their connection, every body byte-exact" test "$ok" = "${#CLI_PIDS[@]}"
rst_capture_stop
check "no RST reached a connection the client had open (capture: $RST_COUNT; after its FIN: $RST_AFTER_CLOSE)" test "$RST_COUNT" = 0

for x in A B; do
  p=${!x}
  if _sl_alive "$p"; then
    kill -USR1 "$p"
    wait_for "[[ -s $WORK/$x.stats ]]" 3 &&
      log "$x: $(grep -E '^(lease_|drop_superseded|restore_)' "$WORK/$x.stats" | tr '\n' ' ')"
  fi
  stop_pid "$p" KILL 5
done
stop_pid "$C" TERM 15
summary
