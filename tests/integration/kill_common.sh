# shellcheck shell=bash
# The kill test, shared by test_kill_shm.sh and test_kill_redis.sh;
# source it after setting KILL_STORE=shm|redis.
#
# Unmodified kernel clients in sl$$-cli:
#   - KILL_DOWNLOADS curl downloads of a 200 MB file (rate-limited so that
#     they span the whole kill phase),
#   - KILL_LOOPS python http.client keep-alive loops (one connection each,
#     GET of a 16 KB file again and again, every body checked, any error
#     or reconnect fails the loop),
# while slhttpd (--durability sync) is killed with SIGKILL at random moments
# KILL_COUNT times and restarted each time with the same command line.
# The connections live in the store: shm (/dev/shm, a region per run) or a
# redis-server inside the server namespace (its loopback). Checks: every
# sha256 matches, every client exits 0, and no RST reaches a client
# (tcpdump in the client namespace).
SL_TEST_BUDGET=${SL_TEST_BUDGET:-600}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cmd curl sha256sum python3 tcpdump

KILL_DOWNLOADS=${KILL_DOWNLOADS:-20}
KILL_LOOPS=${KILL_LOOPS:-20}
KILL_COUNT=${KILL_COUNT:-50}
KILL_RATE=${KILL_RATE:-6M} # per download; 200 MB at 6 MB/s: ~33 s
KILL_SIZE=${KILL_SIZE:-200M}

topo_up
make_file big.bin "$KILL_SIZE"
make_file small.bin 16K

SHM_NAME=
case $KILL_STORE in
  shm)
    SHM_NAME=slkill$$
    STORE_URI="shm:$SHM_NAME?slots=8192"
    ;;
  redis)
    start_redis_srv
    STORE_URI="redis://127.0.0.1:6379"
    ;;
  *) die "KILL_STORE must be shm or redis" ;;
esac
_kill_cleanup_shm() { [[ -n $SHM_NAME ]] && rm -f "/dev/shm/$SHM_NAME"; }
trap '_kill_cleanup_shm; cleanup' EXIT

# no --store-key: the first instance makes a key in the state directory
# (0600), every restart reuses it
ARGS=(--store "$STORE_URI" --durability sync --state-dir "$WORK/state" --quiet)
start_slhttpd "${ARGS[@]}"
rst_capture_start

# clients
DL_PIDS=()
for ((i = 0; i < KILL_DOWNLOADS; i++)); do
  bg_start "curl$i" "$CLI_NS" curl -sS --max-time 400 --limit-rate "$KILL_RATE" \
    -o "$DL/big$i" "$(srv_url big.bin)"
  DL_PIDS+=("$BG_PID")
done
STOP=$WORK/stop-loops
LOOP_PIDS=()
for ((i = 0; i < KILL_LOOPS; i++)); do
  bg_start "loop$i" "$CLI_NS" python3 "$SL_LIB_DIR/py/keepalive_loop.py" "$SRV_IP" "$SL_PORT" \
    /small.bin "$(sha_of small.bin)" "$STOP" 60
  LOOP_PIDS+=("$BG_PID")
done
# every client has its connection before the first kill
_accepted() {
  local f
  f=$(slhttpd_stats) || return 1
  (($(stat_get http_accepted "$f") >= KILL_DOWNLOADS + KILL_LOOPS))
}
wait_for _accepted 30 || log "not every client connected within 30 s (continuing)"

# kills
t0=$(now)
restarts=0
for ((k = 1; k <= KILL_COUNT; k++)); do
  # a random moment: 0.2 .. 1.0 s after the (re)start
  sleep "0.$((2 + RANDOM % 8))"
  kill -KILL "$SLHTTPD_PID" 2>/dev/null
  wait "$SLHTTPD_PID" 2>/dev/null
  _sl_forget "$SLHTTPD_PID"
  SLHTTPD_PID=
  start_slhttpd "${ARGS[@]}"
  restarts=$((restarts + 1))
  if ((k % 10 == 0)); then
    f=$(slhttpd_stats) && log "kill $k: restored $(stat_get restore_ok "$f") flow(s) at start-up"
  fi
done
log "$restarts kills and restarts in $(elapsed "$t0")s"

# downloads finish
for p in "${DL_PIDS[@]}"; do
  wait_for "! _sl_alive $p" 400 || log "download pid $p still running"
done
touch "$STOP"
for p in "${LOOP_PIDS[@]}"; do
  wait_for "! _sl_alive $p" 120 || log "loop pid $p still running"
done
elapsed_all=$(elapsed "$t0")

want=$(sha_of big.bin)
ok=0
for ((i = 0; i < KILL_DOWNLOADS; i++)); do
  wait "${DL_PIDS[$i]}" 2>/dev/null
  rc=$?
  _sl_forget "${DL_PIDS[$i]}"
  got=$([[ -f $DL/big$i ]] && file_sha "$DL/big$i")
  if [[ $rc == 0 && $got == "$want" ]]; then
    ok=$((ok + 1))
  else
    fail "download $i: curl rc=$rc, $(stat -c %s "$DL/big$i" 2>/dev/null || echo 0) bytes, sha256 ${got:-none}"
    sed 's/^/  /' "$WORK/curl$i.log" | head -n 3
  fi
  rm -f "$DL/big$i"
done
check "$ok/$KILL_DOWNLOADS downloads of $KILL_SIZE byte-exact across $KILL_COUNT kills (${elapsed_all}s)" \
  test "$ok" -eq "$KILL_DOWNLOADS"

ok=0
reqs=0
for ((i = 0; i < KILL_LOOPS; i++)); do
  wait "${LOOP_PIDS[$i]}" 2>/dev/null
  rc=$?
  _sl_forget "${LOOP_PIDS[$i]}"
  n=$(sed -n 's/^requests=//p' "$WORK/loop$i.log")
  reqs=$((reqs + ${n:-0}))
  if [[ $rc == 0 ]]; then
    ok=$((ok + 1))
  else
    fail "keep-alive loop $i: rc=$rc: $(grep -v '^requests=' "$WORK/loop$i.log" | head -n 2)"
  fi
done
check "$ok/$KILL_LOOPS keep-alive loops kept their connection ($reqs requests, every body checked)" \
  test "$ok" -eq "$KILL_LOOPS"

rst_capture_stop
check "no RST reached a connection the client had open (capture: $RST_COUNT; after its FIN: $RST_AFTER_CLOSE)" test "$RST_COUNT" = 0
if f=$(slhttpd_stats); then
  # restored flows' first frames wait for ARP and keep their offload
  # metadata: the device refuses none of them
  txerr=$(stat_get drop_tx_error "$f")
  check "no frame refused by the device (drop_tx_error ${txerr:-0})" test "${txerr:-0}" = 0
fi

if f=$(slhttpd_stats); then
  log "last instance's counters:"
  grep -E '^(restore_|persist_|drop_tx_hold|drop_tx_held|tcp_rst_tx|drop_arp|http_restored)' "$f" |
    sed 's/^/  /'
fi
stop_slhttpd
[[ -n ${REDIS_PID:-} ]] && stop_pid "$REDIS_PID"
summary
