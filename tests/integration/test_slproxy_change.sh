#!/usr/bin/env bash
# Never a wrong byte: an object that changes on the back end between a
# slproxy crash and the recovery ends the client connection with a RST,
# and what the client got is a prefix of the old object.
#  1. crash: a download through slproxy (sync, shm); slproxy SIGKILLed;
#     the file replaced on nginx (new content, new mtime: a new ETag);
#     slproxy restarted: its Range + If-Range fetch gets a 200: RST.
#  2. back end dies: two back ends serving different versions; the one
#     serving the download is killed; the other answers the If-Range with a
#     200: RST.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-180}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl cmp tcpdump nginx

topo3_up
make_file big.bin 64M # more than every buffer on the way (socket buffers, the send ring) holds
cp "$ROOT/big.bin" "$WORK/orig.bin"
ROOT2=$WORK/www2
mkdir -p "$ROOT2"
openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:other </dev/zero 2>/dev/null |
  head -c "$(stat -c %s "$ROOT/big.bin")" >"$ROOT2/big.bin"
touch -d @$(($(date +%s) - 1000)) "$ROOT2/big.bin"
NGINX_ACCESS_LOG=off start_nginx bk1 "$BK_NS" "$BK_IP:8080" "$ROOT"
BK1_PID=$NGINX_PID
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key")
SHM_NAME=slpxc$$
trap 'rm -f "/dev/shm/$SHM_NAME"; cleanup' EXIT
ARGS=(--backend "$BK_IP:8080" --store "shm:$SHM_NAME?slots=256" --durability sync
  --store-key "$WORK/store.key" --quiet)
start_slproxy "${ARGS[@]}"
rst_capture_start

# prefix_of FILE: FILE is a prefix of the original object
prefix_of() {
  local n
  n=$(stat -c %s "$1" 2>/dev/null || echo 0)
  ((n > 0)) && cmp -s -n "$n" "$1" "$WORK/orig.bin"
}

# 1. changed between a crash and the recovery
bg_start curl1 "$CLI_NS" curl -sS --max-time 60 --limit-rate 1M -o "$DL/c1" "$(srv_url big.bin)"
C1=$BG_PID
wait_for "[[ \$(stat -c %s $DL/c1 2>/dev/null || echo 0) -gt 1000000 ]]" 20 ||
  log "download 1 slow to start"
kill9_slproxy
cp "$ROOT2/big.bin" "$ROOT/big.bin.new" && mv "$ROOT/big.bin.new" "$ROOT/big.bin"
touch -d @$(($(date +%s) + 100)) "$ROOT/big.bin"
start_slproxy "${ARGS[@]}"
wait_for "! _sl_alive $C1" 30
wait "$C1"
rc=$?
_sl_forget "$C1"
check "crash + changed object: curl fails (rc $rc: $(head -c 120 "$WORK/curl1.log"))" test "$rc" -ne 0
check "crash + changed object: the client's $(stat -c %s "$DL/c1") bytes are a prefix of the old object" \
  prefix_of "$DL/c1"
f=$(slhttpd_stats)
check "crash + changed object: the recovery fetch saw the change (px_ref_changed $(stat_get px_ref_changed "$f"))" \
  test "$(stat_get px_ref_changed "$f")" -ge 1
rst_capture_stop
check "crash + changed object: the client got a RST (capture: $RST_COUNT)" test "$RST_COUNT" -ge 1

# 2. changed on the back end that takes over
cp "$WORK/orig.bin" "$ROOT/big.bin.new" && mv "$ROOT/big.bin.new" "$ROOT/big.bin"
NGINX_ACCESS_LOG=off start_nginx bk2 "$BK_NS" "$BK_IP2:8080" "$ROOT2"
stop_slhttpd
start_slproxy --backend "$BK_IP:8080" --backend "$BK_IP2:8080" --quiet
bg_start curl2 "$CLI_NS" curl -sS --max-time 60 --limit-rate 1M -o "$DL/c2" "$(srv_url big.bin)"
C2=$BG_PID
wait_for "[[ \$(stat -c %s $DL/c2 2>/dev/null || echo 0) -gt 1000000 ]]" 20 ||
  log "download 2 slow to start"
w=$(ps -o pid= --ppid "$BK1_PID")
# shellcheck disable=SC2086
kill -KILL "$BK1_PID" $w
wait "$BK1_PID" 2>/dev/null
_sl_forget "$BK1_PID"
wait_for "! _sl_alive $C2" 30
wait "$C2"
rc=$?
_sl_forget "$C2"
check "back end died + other version elsewhere: curl fails (rc $rc)" test "$rc" -ne 0
check "back end died + other version elsewhere: the client's $(stat -c %s "$DL/c2") bytes are a prefix of the old object" \
  prefix_of "$DL/c2"
f=$(slhttpd_stats)
check "the resume saw the change (px_resume_changed $(stat_get px_resume_changed "$f"))" \
  test "$(stat_get px_resume_changed "$f")" -ge 1
stop_slhttpd
summary
