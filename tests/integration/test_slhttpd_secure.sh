#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# shellcheck disable=SC2317 # functions called indirectly (trap, wait_for)
# slhttpd secure by default: the store key.
#
#   key: no built-in key. Without --store-key, slhttpd makes a random key in
#        --state-dir (store.key, mode 0600) on first start and reuses it on
#        restart (a connection's state survives the restart); a key file
#        that is group/other readable, owned by another user or a symlink is
#        refused with a message naming the problem (exit status 1), as is a
#        group-writable state directory.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-120}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl python3

SHM_NAME=slsec$$
eval "$(declare -f cleanup | sed '1s/^cleanup/_sl_lib_cleanup/')"
cleanup() {
  _sl_lib_cleanup
  rm -f "/dev/shm/$SHM_NAME" "/dev/shm/$SHM_NAME.x"
}

# refused LABEL PATTERN ARGS...: slhttpd with ARGS stops before it opens a
# device (none exists with that name), with status 1 and PATTERN in its
# message.
refused() {
  local label=$1 pat=$2 out rc
  shift 2
  out=$("${SLHTTPD_CMD[@]}" --dev "packet:slnone$$" --addr "$SRV_IP/$NET_LEN" --port 80 \
    --root "$ROOT" "$@" 2>&1)
  rc=$?
  if [[ $rc == 1 ]] && grep -q -- "$pat" <<<"$out"; then
    pass "$label: refused ($(head -n 1 <<<"$out"))"
  else
    fail "$label: rc $rc, expected 1 and '$pat': $out"
  fi
}

# ---- key
KEYS=$WORK/keys
mkdir -p "$KEYS"
(umask 077 && head -c 32 /dev/urandom >"$KEYS/ok.key")
cp "$KEYS/ok.key" "$KEYS/group.key" && chmod 640 "$KEYS/group.key"
cp "$KEYS/ok.key" "$KEYS/other.key" && chmod 604 "$KEYS/other.key"
cp "$KEYS/ok.key" "$KEYS/nobody.key" && chown 65534 "$KEYS/nobody.key"
ln -s ok.key "$KEYS/link.key"
(umask 077 && head -c 16 /dev/urandom >"$KEYS/short.key")
S=(--store "shm:$SHM_NAME.x")
refused "key readable by group" "mode 0640" "${S[@]}" --store-key "$KEYS/group.key"
refused "key readable by others" "mode 0604" "${S[@]}" --store-key "$KEYS/other.key"
refused "key owned by another user" "owned by uid 65534" "${S[@]}" --store-key "$KEYS/nobody.key"
refused "key behind a symlink" "symbolic link" "${S[@]}" --store-key "$KEYS/link.key"
refused "key shorter than 32 bytes" "at least 32 bytes" "${S[@]}" --store-key "$KEYS/short.key"
mkdir -m 775 "$WORK/gw-state"
refused "state directory writable by group" "lets group or others write" "${S[@]}" \
  --state-dir "$WORK/gw-state"
mkdir -m 700 "$WORK/bad-state" && cp "$KEYS/group.key" "$WORK/bad-state/store.key"
refused "state key readable by group" "mode 0640" "${S[@]}" --state-dir "$WORK/bad-state"

topo_up
make_file small.bin 16K
STATE=$WORK/state
ARGS=(--store "shm:$SHM_NAME?slots=64" --durability sync --state-dir "$STATE")
start_slhttpd "${ARGS[@]}"
check "first start made $STATE/store.key" test -f "$STATE/store.key"
check "the key file has mode 600" test "$(stat -c %a "$STATE/store.key")" = 600
check "the key is 32 bytes" test "$(stat -c %s "$STATE/store.key")" = 32
key1=$(sha256sum <"$STATE/store.key")
# a keep-alive connection across a kill: restored only with the same key
bg_start ka "$CLI_NS" python3 "$SL_LIB_DIR/py/keepalive_loop.py" "$SRV_IP" "$SL_PORT" \
  /small.bin "$(sha_of small.bin)" "$WORK/ka-stop" 30
KA_PID=$BG_PID
_served() {
  local f
  f=$(slhttpd_stats) || return 1
  (($(stat_get http_requests "$f") >= 5))
}
wait_for _served 15 || fail "the keep-alive client made no requests"
kill -KILL "$SLHTTPD_PID"
wait "$SLHTTPD_PID" 2>/dev/null
_sl_forget "$SLHTTPD_PID"
SLHTTPD_PID=
start_slhttpd "${ARGS[@]}"
check "the restart reused the key" test "$(sha256sum <"$STATE/store.key")" = "$key1"
wait_for _served 15 || fail "no requests after the restart"
f=$(slhttpd_stats) && check "the restarted instance restored the connection (restore_ok $(stat_get restore_ok "$f"))" \
  test "$(stat_get restore_ok "$f")" -ge 1
touch "$WORK/ka-stop"
wait_for "! _sl_alive $KA_PID" 20
wait "$KA_PID"
rc=$?
_sl_forget "$KA_PID"
check "the keep-alive connection lived through the kill (rc $rc: $(tail -n 1 "$WORK/ka.log"))" test "$rc" = 0
stop_slhttpd
summary
