#!/usr/bin/env bash
# slproxy killed with SIGKILL PX_KILLS times while kernel curl clients
# download a large file from kernel nginx through it (HTTP mode, sync
# durability, shm store), and a keep-alive loop fetches a small file again
# and again: every restart restores the client connections from the store
# and fetches the rest of each body from nginx with Range + If-Range
# (docs/slproxy.md). Checks: byte-exact downloads, every client exits 0,
# no RST reaches a client, the recoveries happened (counters).
# Under ASan (or SL_HEAVY=0) the file is 32 MB instead of 200 MB.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-300}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl sha256sum python3 tcpdump nginx

PX_KILLS=${PX_KILLS:-20}
PX_DOWNLOADS=${PX_DOWNLOADS:-3}
PX_SIZE=${PX_SIZE:-200M}
PX_RATE=${PX_RATE:-12M}
if sl_build_is_asan || [[ ${SL_HEAVY:-1} == 0 ]]; then
  PX_SIZE=32M
  PX_RATE=2M
fi

topo3_up
make_file big.bin "$PX_SIZE"
make_file small.bin 16K
NGINX_ACCESS_LOG=off start_nginx bk1 "$BK_NS" "$BK_IP:8080" "$ROOT"
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key")
SHM_NAME=slpx$$
trap 'rm -f "/dev/shm/$SHM_NAME"; cleanup' EXIT
ARGS=(--backend "$BK_IP:8080" --store "shm:$SHM_NAME?slots=1024" --durability sync
  --store-key "$WORK/store.key" --quiet)
start_slproxy "${ARGS[@]}"
rst_capture_start

DL_PIDS=()
for ((i = 0; i < PX_DOWNLOADS; i++)); do
  bg_start "curl$i" "$CLI_NS" curl -sS --max-time 200 --limit-rate "$PX_RATE" \
    -o "$DL/big$i" "$(srv_url big.bin)"
  DL_PIDS+=("$BG_PID")
done
STOP=$WORK/stop-loop
bg_start loop "$CLI_NS" python3 "$SL_LIB_DIR/py/keepalive_loop.py" "$SRV_IP" "$SL_PORT" \
  /small.bin "$(sha_of small.bin)" "$STOP" 60
LOOP_PID=$BG_PID
_started() {
  local f
  f=$(slhttpd_stats) || return 1
  (($(stat_get px_accepted "$f") >= PX_DOWNLOADS + 1))
}
wait_for _started 20 || log "not every client connected within 20 s (continuing)"

t0=$(now)
bodies=0
for ((k = 1; k <= PX_KILLS; k++)); do
  sleep "0.$((2 + RANDOM % 8))"
  kill9_slproxy
  start_slproxy "${ARGS[@]}"
  # flows are restored at start-up: this instance's count is complete
  if f=$(slhttpd_stats); then
    bodies=$((bodies + $(stat_get px_restored_body "$f")))
  fi
done
log "$PX_KILLS kills and restarts in $(elapsed "$t0")s"
check "responses resumed mid-body after restarts: $bodies" test "$bodies" -gt 0

want=$(sha_of big.bin)
ok=0
for ((i = 0; i < PX_DOWNLOADS; i++)); do
  wait_for "! _sl_alive ${DL_PIDS[$i]}" 200
  wait "${DL_PIDS[$i]}" 2>/dev/null
  rc=$?
  _sl_forget "${DL_PIDS[$i]}"
  got=$([[ -f $DL/big$i ]] && file_sha "$DL/big$i")
  if [[ $rc == 0 && $got == "$want" ]]; then
    ok=$((ok + 1))
  else
    fail "download $i: curl rc=$rc, $(stat -c %s "$DL/big$i" 2>/dev/null || echo 0) bytes"
    head -n 3 "$WORK/curl$i.log" | sed 's/^/  /'
  fi
done
check "$ok/$PX_DOWNLOADS downloads of $PX_SIZE through slproxy byte-exact across $PX_KILLS kills ($(elapsed "$t0")s)" \
  test "$ok" -eq "$PX_DOWNLOADS"
touch "$STOP"
wait_for "! _sl_alive $LOOP_PID" 60
wait "$LOOP_PID"
rc=$?
_sl_forget "$LOOP_PID"
check "the keep-alive loop kept its connection ($(cat "$WORK/loop.log" | tr '\n' ' '))" test "$rc" = 0
rst_capture_stop
check "no RST reached a connection the client had open (capture: $RST_COUNT; after its FIN: $RST_AFTER_CLOSE)" test "$RST_COUNT" = 0
stop_slhttpd
summary
