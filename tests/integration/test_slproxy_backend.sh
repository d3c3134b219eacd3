#!/usr/bin/env bash
# A back end killed (SIGKILL, master and worker) in the middle of
# PX_DOWNLOADS downloads through slproxy: the downloads it was serving
# finish from the other back end (Range + If-Range from the byte each had
# reached), byte-exact; the dead one is out of the rotation (health
# checks) and requests made afterwards succeed. No store is needed for this
# (durability off). Under ASan (or SL_HEAVY=0) the file is 8 MB.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-240}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl sha256sum nginx

PX_DOWNLOADS=${PX_DOWNLOADS:-10}
PX_SIZE=${PX_SIZE:-32M}
PX_RATE=${PX_RATE:-4M}
if sl_build_is_asan || [[ ${SL_HEAVY:-1} == 0 ]]; then
  PX_SIZE=8M
  PX_RATE=1M
fi

# kill_nginx PID: SIGKILL an nginx master and its workers (workers outlive
# a killed master and would keep serving).
kill_nginx() {
  local w
  w=$(ps -o pid= --ppid "$1")
  # shellcheck disable=SC2086
  kill -KILL "$1" $w 2>/dev/null
  wait "$1" 2>/dev/null
  _sl_forget "$1"
}

topo3_up
make_file big.bin "$PX_SIZE"
make_file small.bin 16K
# same files, same mtimes: the same ETag on both (as in any real pool)
NGINX_ACCESS_LOG=off start_nginx bk1 "$BK_NS" "$BK_IP:8080" "$ROOT"
BK1_PID=$NGINX_PID
NGINX_ACCESS_LOG=off start_nginx bk2 "$BK_NS" "$BK_IP2:8080" "$ROOT"
start_slproxy --backend "$BK_IP:8080" --backend "$BK_IP2:8080" --health-interval 200 --quiet

DL_PIDS=()
for ((i = 0; i < PX_DOWNLOADS; i++)); do
  bg_start "curl$i" "$CLI_NS" curl -sS --max-time 120 --limit-rate "$PX_RATE" \
    -o "$DL/big$i" "$(srv_url big.bin)"
  DL_PIDS+=("$BG_PID")
done
# the back end dies once every download is well under way
_midway() {
  local f
  f=$(slhttpd_stats) || return 1
  (($(stat_get px_resp_by_ref "$f") >= PX_DOWNLOADS))
}
wait_for _midway 20 || log "not every download started within 20 s"
sleep 1
log "killing back end 1 (nginx pid $BK1_PID)"
kill_nginx "$BK1_PID"

want=$(sha_of big.bin)
ok=0
for ((i = 0; i < PX_DOWNLOADS; i++)); do
  wait_for "! _sl_alive ${DL_PIDS[$i]}" 120
  wait "${DL_PIDS[$i]}" 2>/dev/null
  rc=$?
  _sl_forget "${DL_PIDS[$i]}"
  got=$([[ -f $DL/big$i ]] && file_sha "$DL/big$i")
  if [[ $rc == 0 && $got == "$want" ]]; then
    ok=$((ok + 1))
  else
    fail "download $i: curl rc=$rc, $(stat -c %s "$DL/big$i" 2>/dev/null || echo 0) bytes"
  fi
done
check "$ok/$PX_DOWNLOADS downloads of $PX_SIZE byte-exact with a back end killed midway" \
  test "$ok" -eq "$PX_DOWNLOADS"
f=$(slhttpd_stats)
grep -E '^px_(resume|backend|health)' "$f" | sed 's/^/  /'
check "bodies resumed from the other back end ($(stat_get px_resume_ok "$f"))" \
  test "$(stat_get px_resume_ok "$f")" -ge 1
check "the dead back end was taken out of the rotation" \
  test "$(stat_get px_backend_marked_down "$f")" -ge 1
ok=0
for ((i = 0; i < 10; i++)); do
  in_cli curl -sS --max-time 10 -o "$DL/s$i" "$(srv_url small.bin)" &&
    [[ $(file_sha "$DL/s$i") == "$(sha_of small.bin)" ]] && ok=$((ok + 1))
done
check "$ok/10 requests after the back end died succeed" test "$ok" -eq 10
stop_slhttpd
summary
