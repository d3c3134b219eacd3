# shellcheck shell=bash
# shellcheck disable=SC2317 # functions called indirectly (trap, wait_for)
# Kill torture, shared by test_kill_torture_shm.sh and
# test_kill_torture_redis.sh; source it after setting KT_STORE=shm|redis.
#
# The worst instants of a restart in place: slhttpd (--durability sync) is
# SIGKILLed KT_KILLS times and restarted each time with the same command
# line; a quarter of the kills land 0-60 ms after the new process was
# spawned (before it is ready, often inside its restore), the others at a
# random moment 0-400 ms after it became ready.
#
# Unmodified kernel clients in sl$$-cli, all on one connection each:
#   - KT_STREAMS py/stream_client.py: GET of a 32 MB file again and again on
#     one keep-alive connection, read at KT_RATE, every body checked, and
#     every wait for the server timed (the longest silence of the flow);
#   - KT_LOOPS py/stream_client.py: GET of a 16 KB file as fast as it goes;
#   - KT_UPLOADS curl PUTs (spooled, level-2 commit), rate-limited so that
#     they span the kill phase.
# Checks: every client exits 0 with every body (and upload) byte-exact, no
# RST from the server in a capture at the client, and no download (the
# KT_STREAMS clients, which always have data due from the server) silent
# for more than KT_MAX_SILENCE seconds. The keep-alive loops' longest
# silences are printed, not bounded: when consecutive kills leave no
# instance alive for a while, a request the client sent meanwhile waits
# for the client's own retransmission timer (200 ms, doubling), which no
# server can shorten. The stall distribution (waits over 20 ms) is
# printed; bench/bench_kill.sh runs the same with 1,000 kills.
#
# The aim for a download's longest silence is 2 s; measured on a loaded
# 2-core machine it reaches 3.2 s (docs/benchmarks.md, "Kill torture"), so
# the bound checked here is 5 s: a regression guard (a stranded flow used
# to be silent for a minute or more), not the aim.
#
# Environment: KT_KILLS (300; 100 under an ASan build), KT_STREAMS (6),
# KT_LOOPS (4), KT_UPLOADS (2), KT_RATE (4000000 bytes/s per stream),
# KT_MAX_SILENCE (5.0 s; 8.0 under ASan), KT_EARLY_PCT (25).
SL_TEST_BUDGET=${SL_TEST_BUDGET:-900}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cmd curl sha256sum python3 tcpdump

if sl_build_is_asan; then
  KT_KILLS=${KT_KILLS:-100}
  KT_MAX_SILENCE=${KT_MAX_SILENCE:-8.0}
fi
KT_KILLS=${KT_KILLS:-300}
KT_MAX_SILENCE=${KT_MAX_SILENCE:-5.0}
KT_STREAMS=${KT_STREAMS:-6}
KT_LOOPS=${KT_LOOPS:-4}
KT_UPLOADS=${KT_UPLOADS:-2}
KT_RATE=${KT_RATE:-4000000}
KT_EARLY_PCT=${KT_EARLY_PCT:-25}

# Every restart must run the same binary (a concurrent build cannot swap it).
if [[ $SL_SELFTEST != 1 ]]; then
  [[ -x ${SLHTTPD_CMD[0]} ]] || die "slhttpd binary not found at ${SLHTTPD_CMD[0]}"
  cp "${SLHTTPD_CMD[0]}" "$WORK/slhttpd" || die "cannot copy ${SLHTTPD_CMD[0]}"
  SLHTTPD_CMD=("$WORK/slhttpd")
fi

SHM_NAME=
case $KT_STORE in
  shm) SHM_NAME=slkt$$.$RANDOM ;;
  redis) ;;
  *) die "KT_STORE must be shm or redis" ;;
esac
eval "$(declare -f cleanup | sed '1s/^cleanup/_sl_lib_cleanup/')"
cleanup() {
  _sl_lib_cleanup
  [[ -n $SHM_NAME ]] && rm -f "/dev/shm/$SHM_NAME"
}

topo_up
make_file big.bin 32M
make_file small.bin 16K
head -c 32 /dev/urandom >"$WORK/store.key"
chmod 600 "$WORK/store.key"
SPOOL=$WORK/spool
mkdir -p "$SPOOL"
if [[ $KT_STORE == shm ]]; then
  STORE_URI="shm:$SHM_NAME?slots=1024"
else
  start_redis_srv
  STORE_URI="redis://127.0.0.1:6379"
fi
ARGS=(--store "$STORE_URI" --durability sync --store-key "$WORK/store.key" --spool "$SPOOL" --quiet)

# spawn_slhttpd: start an instance with the same command line as
# start_slhttpd, without waiting for it to be ready.
spawn_slhttpd() {
  _SL_SRV_N=$((_SL_SRV_N + 1))
  local tag=slhttpd$_SL_SRV_N
  SLHTTPD_READY=$WORK/$tag.ready
  SLHTTPD_STATS=$WORK/$tag.stats
  SLHTTPD_LOG=$WORK/$tag.log
  bg_start "$tag" "$SRV_NS" "${SLHTTPD_CMD[@]}" --dev "packet:$SRV_IF" \
    --addr "$SRV_IP/$NET_LEN" --port "$SL_PORT" --root "$ROOT" \
    --stats-file "$SLHTTPD_STATS" --ready-file "$SLHTTPD_READY" "${ARGS[@]}"
  SLHTTPD_PID=$BG_PID
}
kill_slhttpd() {
  kill -KILL "$SLHTTPD_PID" 2>/dev/null
  wait "$SLHTTPD_PID" 2>/dev/null
  _sl_forget "$SLHTTPD_PID"
  SLHTTPD_PID=
}
# sleep_ms N: a random pause of 0..N-1 ms
sleep_ms() {
  local ms=$((RANDOM % $1))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

start_slhttpd "${ARGS[@]}"
rst_capture_start
[[ -n $_SL_RST_PID ]] || die "no RST capture (tcpdump did not start)"

STOP=$WORK/stop-clients
CLI_PIDS=()
CLI_TAGS=()
for ((i = 0; i < KT_STREAMS; i++)); do
  bg_start "stream$i" "$CLI_NS" python3 "$SL_LIB_DIR/py/stream_client.py" "$SRV_IP" "$SL_PORT" \
    /big.bin "$(sha_of big.bin)" "$STOP" "$KT_RATE" 120
  CLI_PIDS+=("$BG_PID")
  CLI_TAGS+=("stream$i")
done
for ((i = 0; i < KT_LOOPS; i++)); do
  bg_start "loop$i" "$CLI_NS" python3 "$SL_LIB_DIR/py/stream_client.py" "$SRV_IP" "$SL_PORT" \
    /small.bin "$(sha_of small.bin)" "$STOP" 0 120
  CLI_PIDS+=("$BG_PID")
  CLI_TAGS+=("loop$i")
done
# uploads: sized to span the kill phase (about 0.35 s a kill) at 1 MB/s
UP_BYTES=$((KT_KILLS * 350 * 1000 + 12345))
UP_PIDS=()
for ((i = 0; i < KT_UPLOADS; i++)); do
  make_file "up$i.bin" "$((UP_BYTES + 4099 * i))"
  bg_start "put$i" "$CLI_NS" curl -sS --max-time 900 --limit-rate 1M -T "$ROOT/up$i.bin" \
    -o "$WORK/put$i.resp" -w '%{http_code}\n' "$(srv_url "in$i.bin")"
  UP_PIDS+=("$BG_PID")
done
_all_connected() {
  local f
  f=$(slhttpd_stats) || return 1
  (($(stat_get http_accepted "$f") >= KT_STREAMS + KT_LOOPS + KT_UPLOADS))
}
wait_for _all_connected 30 || log "not every client connected within 30 s (continuing)"

# ---------------------------------------------------------------- kills
t0=$(now)
early=0
for ((k = 1; k <= KT_KILLS; k++)); do
  if ((RANDOM % 100 < KT_EARLY_PCT)); then
    # the previous instance was spawned just now: kill it before it is
    # ready (inside its start-up and restore), then spawn the next
    sleep_ms 60
    early=$((early + 1))
  else
    wait_for "[[ -e $SLHTTPD_READY ]] || ! _sl_alive $SLHTTPD_PID" 20 ||
      die "instance $_SL_SRV_N not ready within 20 s"
    _sl_alive "$SLHTTPD_PID" || { _sl_check_slhttpd_alive; die "slhttpd exited on its own"; }
    sleep_ms 400
  fi
  kill_slhttpd
  spawn_slhttpd
  ((k % 50 == 0)) && log "kill $k ($early early) after $(elapsed "$t0")s"
done
wait_for "[[ -e $SLHTTPD_READY ]] || ! _sl_alive $SLHTTPD_PID" 20 || die "last instance not ready"
_sl_alive "$SLHTTPD_PID" || { _sl_check_slhttpd_alive; die "last slhttpd exited on its own"; }
log "$KT_KILLS kills ($early within 60 ms of a spawn) in $(elapsed "$t0")s"

# ---------------------------------------------------------------- results
# one more full round for every stream after the last kill, then stop
sleep 2
touch "$STOP"
for p in "${CLI_PIDS[@]}" "${UP_PIDS[@]}"; do
  wait_for "! _sl_alive $p" 240 || log "client pid $p still running"
done

ok=0
reqs=0
all_waits=()
worst=0
for i in "${!CLI_PIDS[@]}"; do
  tag=${CLI_TAGS[$i]}
  wait "${CLI_PIDS[$i]}" 2>/dev/null
  rc=$?
  _sl_forget "${CLI_PIDS[$i]}"
  n=$(sed -n 's/^requests=//p' "$WORK/$tag.log")
  reqs=$((reqs + ${n:-0}))
  mw=$(sed -n 's/^max_wait_ms=//p' "$WORK/$tag.log")
  w=$(sed -n 's/^waits_ms=//p' "$WORK/$tag.log")
  [[ -n $w ]] && IFS=, read -r -a ws <<<"$w" && all_waits+=("${ws[@]}")
  [[ $tag == stream* ]] && worst=$(awk -v a="$worst" -v b="${mw:-0}" 'BEGIN { print (b > a) ? b : a }')
  if [[ $rc == 0 ]]; then
    ok=$((ok + 1))
  else
    fail "$tag: rc=$rc: $(grep -vE '^(requests|bytes|max_wait_ms|waits_over_100ms|waits_ms)=' "$WORK/$tag.log" | head -n 2)"
  fi
  log "$tag: ${n:-0} bodies, longest silence ${mw:-?} ms"
done
check "$ok/${#CLI_PIDS[@]} keep-alive streams kept their connection ($reqs bodies, every one checked)" \
  test "$ok" -eq "${#CLI_PIDS[@]}"

ok=0
for ((i = 0; i < KT_UPLOADS; i++)); do
  wait "${UP_PIDS[$i]}" 2>/dev/null
  rc=$?
  _sl_forget "${UP_PIDS[$i]}"
  code=$(tail -n 1 "$WORK/put$i.log" 2>/dev/null)
  want=$(sha_of "up$i.bin")
  got=$([[ -f $SPOOL/in$i.bin ]] && file_sha "$SPOOL/in$i.bin")
  if [[ $rc == 0 && $code == 201 && $got == "$want" ]]; then
    ok=$((ok + 1))
  else
    fail "upload $i: curl rc=$rc, HTTP ${code:-none}, sha256 ${got:-none}"
  fi
done
check "$ok/$KT_UPLOADS uploads byte-exact across the kills" test "$ok" -eq "$KT_UPLOADS"

limit_ms=$(awk -v s="$KT_MAX_SILENCE" 'BEGIN { print s * 1000 }')
check "no download silent for more than ${KT_MAX_SILENCE} s (longest ${worst} ms)" \
  awk -v w="$worst" -v l="$limit_ms" 'BEGIN { exit !(w <= l) }'
if ((${#all_waits[@]} > 0)); then
  printf '%s\n' "${all_waits[@]}" | sort -n | awk '
    { v[NR] = $1 }
    END { printf "stalls over 20 ms: n=%d p50=%.1f ms p99=%.1f ms max=%.1f ms\n",
          NR, v[int((NR + 1) * 0.50)], v[int((NR - 1) * 0.99) + 1], v[NR] }' |
    while read -r line; do log "$line"; done
fi

rst_capture_stop
check "no RST reached a connection the client had open (capture: $RST_COUNT; after its FIN: $RST_AFTER_CLOSE)" test "$RST_COUNT" = 0
if f=$(slhttpd_stats); then
  log "last instance's counters:"
  grep -E '^(restore_|persist_|lease_|drop_superseded|tcp_rst_tx|http_restored)' "$f" | sed 's/^/  /'
fi
stop_slhttpd
[[ -n ${REDIS_PID:-} ]] && stop_pid "$REDIS_PID"
summary
