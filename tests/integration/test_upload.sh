#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# shellcheck disable=SC2317 # functions called indirectly (trap, wait_for)
# Uploads across kills (level-2 commit): PUT bodies that slhttpd
# spools to disk survive kill -9 of the server byte-exact.
#
# slhttpd runs with --store shm:NAME (a region per run in /dev/shm, removed
# at exit) --durability sync --store-key --spool DIR. It commits received
# bytes to the store only after writing and fdatasync'ing them, and
# checkpoints the upload position, so a restarted instance resumes each
# upload where it was durable.
#
#   1. UP_N (8) unmodified kernel curls in sl$$-cli upload (PUT, curl -T)
#      20-50 MB random files at the same time, rate-limited so they take
#      ~20 s; meanwhile slhttpd is killed with SIGKILL at random moments
#      (0.3-1.1 s after each start) up to UP_KILLS (12) times, at least
#      UP_MIN_KILLS (10) of them while uploads run, and restarted each time
#      (0-0.3 s later) with the same command line.
#      Pass: every curl exits 0 with HTTP 201, every spooled file's sha256
#      equals its source's, no .NAME.ID.part is left in the spool, and no RST
#      from the server reaches the client (tcpdump in the client namespace).
#      Each instance's counters (SIGUSR1 just before its kill) show how
#      many flows it restored; the last instance's are printed.
#   2. baseline, no kills: one 8 MB upload, 201 and byte-exact; then a
#      clean SIGTERM stop.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-300}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl sha256sum openssl tcpdump

UP_N=${UP_N:-8}
UP_KILLS=${UP_KILLS:-12}
UP_SECS=${UP_SECS:-20}       # nominal duration of each upload (rate limit)
UP_MIN_KILLS=${UP_MIN_KILLS:-10} # kills that must hit running uploads
UP_MAX_TIME=${UP_MAX_TIME:-150}
SPOOL=$WORK/spool
mkdir -p "$SPOOL"

# The shm region outlives slhttpd: remove it after the lib's cleanup (which
# stops slhttpd) on every exit path, signals included (they call cleanup).
SHM_NAME=slup$$.$RANDOM
eval "$(declare -f cleanup | sed '1s/^cleanup/_sl_lib_cleanup/')"
cleanup() {
  _sl_lib_cleanup
  rm -f "/dev/shm/$SHM_NAME"
}

# Every restart must run the same binary: use a private copy, so that a
# concurrent `make build` in the shared build dir cannot swap or remove it
# between two restarts.
if [[ $SL_SELFTEST != 1 ]]; then
  [[ -x ${SLHTTPD_CMD[0]} ]] || die "slhttpd binary not found at ${SLHTTPD_CMD[0]} (build first, or set SL_BUILD)"
  cp "${SLHTTPD_CMD[0]}" "$WORK/slhttpd" || die "cannot copy ${SLHTTPD_CMD[0]}"
  SLHTTPD_CMD=("$WORK/slhttpd")
fi

topo_up
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key")
ARGS=(--store "shm:$SHM_NAME?slots=256" --durability sync --store-key "$WORK/store.key"
  --spool "$SPOOL" --quiet)

# sources: 20 MB + i * 4 MB plus an odd tail (not a multiple of anything)
declare -a UP_SIZE
for ((i = 0; i < UP_N; i++)); do
  UP_SIZE[i]=$((20 * 1048576 + (i * 30 / (UP_N > 1 ? UP_N - 1 : 1)) * 1048576 + 4099 * i + 17))
  make_file "up$i.bin" "${UP_SIZE[i]}"
done
log "$UP_N sources: ${UP_SIZE[*]} bytes"

# put_cmd NAME SRC RATE: curl PUT of SRC to /NAME; prints the HTTP status.
# curl sends "Expect: 100-continue" for bodies over 1 MB; slhttpd answers it.
put_cmd() {
  local rate=()
  [[ -n ${3:-} ]] && rate=(--limit-rate "$3")
  PUT_CMD=(curl -sS --max-time "$UP_MAX_TIME" "${rate[@]}" -T "$2"
    -o "$WORK/$1.resp" -w '%{http_code}\n' "$(srv_url "$1")")
}

# ---------------------------------------------------------------- phase 1

log "--- phase 1: $UP_N concurrent uploads, $UP_KILLS kills ---"
start_slhttpd "${ARGS[@]}"
rst_capture_start
[[ -n $_SL_RST_PID ]] || die "no RST capture (tcpdump did not start)"

UP_PIDS=()
t0=$(now)
for ((i = 0; i < UP_N; i++)); do
  put_cmd "up$i.bin" "$ROOT/up$i.bin" $((UP_SIZE[i] / UP_SECS))
  bg_start "curl$i" "$CLI_NS" "${PUT_CMD[@]}"
  UP_PIDS+=("$BG_PID")
done

# every upload has started (its .part exists) before the first kill
all_parts() {
  local i
  for ((i = 0; i < UP_N; i++)); do compgen -G "$SPOOL/.up$i.bin.*.part" >/dev/null || return 1; done
}
wait_for all_parts 30 || log "not every upload started within 30 s (continuing)"

uploads_running() {
  local p
  for p in "${UP_PIDS[@]}"; do _sl_alive "$p" && return 0; done
  return 1
}

# kills: at most UP_KILLS, each while at least one upload still runs
kills=0
restored_sum=0
restore_bad_sum=0
instances_restoring=0
while ((kills < UP_KILLS)); do
  # a random moment: 0.3 .. 1.1 s after the (re)start
  ms=$((300 + RANDOM % 800))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  uploads_running || break
  # this instance's counters: how many flows it restored at start-up
  if f=$(slhttpd_stats); then
    r=$(stat_get http_restored "$f")
    restored_sum=$((restored_sum + ${r:-0}))
    ((${r:-0} > 0)) && instances_restoring=$((instances_restoring + 1))
    r=$(stat_get http_restore_bad "$f")
    restore_bad_sum=$((restore_bad_sum + ${r:-0}))
  fi
  if ! _sl_alive "$SLHTTPD_PID"; then
    _sl_check_slhttpd_alive
    die "slhttpd died on its own before kill $((kills + 1))"
  fi
  kill -KILL "$SLHTTPD_PID"
  wait "$SLHTTPD_PID" 2>/dev/null
  _sl_forget "$SLHTTPD_PID"
  SLHTTPD_PID=
  kills=$((kills + 1))
  # a short random pause while nothing answers (0 .. 0.3 s)
  sleep "0.$((RANDOM % 4))"
  start_slhttpd "${ARGS[@]}"
done
log "$kills kills and restarts in $(elapsed "$t0")s, all while uploads were running"

for p in "${UP_PIDS[@]}"; do
  wait_for "! _sl_alive $p" $((UP_MAX_TIME + 10)) || log "upload pid $p still running"
done
up_secs=$(elapsed "$t0")
rst_capture_stop

ok=0
total=0
for ((i = 0; i < UP_N; i++)); do
  wait "${UP_PIDS[i]}" 2>/dev/null
  rc=$?
  _sl_forget "${UP_PIDS[i]}"
  code=$(tail -n 1 "$WORK/curl$i.log" 2>/dev/null)
  want=$(sha_of "up$i.bin")
  got=$([[ -f $SPOOL/up$i.bin ]] && file_sha "$SPOOL/up$i.bin")
  total=$((total + UP_SIZE[i]))
  if [[ $rc == 0 && $code == 201 && $got == "$want" ]]; then
    ok=$((ok + 1))
  else
    n=$(stat -c %s "$SPOOL/up$i.bin" "$SPOOL/.up$i.bin."*.part 2>/dev/null | head -n 1)
    fail "upload $i: curl rc=$rc, HTTP ${code:-none}, spooled $n/${UP_SIZE[i]} bytes, sha256 ${got:-none} want $want"
    sed 's/^/  curl: /' "$WORK/curl$i.log" | head -n 3
    if [[ -f $SPOOL/up$i.bin ]] && [[ $(stat -c %s "$SPOOL/up$i.bin") == "${UP_SIZE[i]}" ]]; then
      cmp "$ROOT/up$i.bin" "$SPOOL/up$i.bin" | head -n 1 | sed 's/^/  /'
      cmp -l "$ROOT/up$i.bin" "$SPOOL/up$i.bin" | wc -l | sed 's/^/  differing bytes: /'
    fi
  fi
done
if ((ok == UP_N)); then
  pass "$ok/$UP_N uploads ($total bytes) returned 201 and are byte-exact across $kills kills (${up_secs}s, $(mbps "$total" "$up_secs") MB/s)"
else
  fail "$ok/$UP_N uploads byte-exact with 201"
fi

parts=$(find "$SPOOL" -name '*.part' | wc -l)
if ((parts == 0)); then
  pass "no .part left in the spool"
else
  fail "$parts .part file(s) left in the spool: $(find "$SPOOL" -name '*.part' -printf '%f ')"
fi

if [[ $RST_COUNT == 0 ]]; then
  pass "no RST from the server reached the client"
else
  fail "$RST_COUNT RST(s) from the server reached the client"
fi

if ((kills >= UP_MIN_KILLS)); then
  pass "$kills kills hit running uploads"
else
  fail "only $kills kills hit running uploads, want $UP_MIN_KILLS (uploads too fast?)"
fi

log "instances restoring flows: $instances_restoring of $((kills - 1)) restarted, $restored_sum flows restored in all"
if ((instances_restoring > 0)); then
  pass "restarted instances restored upload flows ($restored_sum in all)"
else
  fail "no restarted instance restored a flow (http_restored stayed 0)"
fi
if ((restore_bad_sum == 0)); then
  pass "no checkpoint was refused on restore (http_restore_bad 0 in every instance)"
else
  fail "$restore_bad_sum restored checkpoint(s) could not be continued (http_restore_bad)"
fi

if f=$(slhttpd_stats); then
  log "last instance's counters:"
  grep -E '^(restore_|persist_|http_restored|http_restore_bad|http_uploads|http_upload_bytes|tcp_rst_tx|drop_tx_hold)' "$f" |
    sed 's/^/  /'
  print_counters "$f"
fi

# ---------------------------------------------------------------- phase 2

log "--- phase 2: baseline, one upload, no kills ---"
make_file base.bin 8M
put_cmd base.bin "$ROOT/base.bin" ""
t1=$(now)
code=$(run_in "$CLI_NS" "${PUT_CMD[@]}")
rc=$?
secs=$(elapsed "$t1")
got=$([[ -f $SPOOL/base.bin ]] && file_sha "$SPOOL/base.bin")
if [[ $rc == 0 && $code == 201 && $got == "$(sha_of base.bin)" ]]; then
  pass "baseline upload ($(size_of base.bin) bytes): 201, byte-exact in ${secs}s"
else
  fail "baseline upload: curl rc=$rc, HTTP ${code:-none}, sha256 ${got:-none} want $(sha_of base.bin)"
fi
compgen -G "$SPOOL/.base.bin.*.part" >/dev/null && fail "baseline: a part of base.bin left in the spool"

stop_slhttpd
v=$(stat_get http_uploads)
if [[ -n $v && $v -ge 1 ]]; then
  pass "final instance counted its upload(s): http_uploads=$v http_upload_bytes=$(stat_get http_upload_bytes)"
else
  fail "final instance: http_uploads=${v:-absent}"
fi
summary
