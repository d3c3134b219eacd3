#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# shellcheck disable=SC2317 # functions called indirectly (trap, wait_for)
# slhttpd secure by default: the store key, the spool, HTTP strictness,
# files that change while served, and privileges.
#
#   key: no built-in key. Without --store-key, slhttpd makes a random key in
#        --state-dir (store.key, mode 0600) on first start and reuses it on
#        restart (a connection's state survives the restart); a key file
#        that is group/other readable, owned by another user or a symlink is
#        refused with a message naming the problem (exit status 1), as is a
#        group-writable state directory.
#   spool: --spool equal to or inside --root is refused (usage, exit 2). A
#        PUT never follows a symlink planted in the spool (at NAME or at the
#        old NAME.part), a body over --max-upload gets 413, one over
#        --spool-quota 507, two concurrent PUTs of one name each write their
#        own part (the result is one of them, whole), and a part abandoned
#        by its client is removed after --part-timeout.
#   host: an HTTP/1.1 request without Host gets 400 (RFC 9112 3.2); with
#        Host, or HTTP/1.0 without, 200.
#   shrink: a file truncated while it is being served ends that response
#        (curl fails), the server goes on serving (no SIGBUS).
#   continue: the interim "100 Continue" is written whole even when the
#        send ring has room for only part of it (py/continue_partial.py).
#   user: --user nobody: slhttpd runs as uid 65534 after start-up and still
#        serves GET and PUT.
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

# ---- spool
SPOOL=$WORK/spool
mkdir -p "$SPOOL" "$ROOT/sub"
refused_usage() {
  local label=$1 out rc
  shift
  out=$("${SLHTTPD_CMD[@]}" --dev "packet:slnone$$" --addr "$SRV_IP/$NET_LEN" --port 80 \
    --root "$ROOT" "$@" 2>&1)
  rc=$?
  check "$label: refused with status 2 (rc $rc: $(head -n 1 <<<"$out"))" test "$rc" = 2
}
refused_usage "--spool equal to --root" --spool "$ROOT"
refused_usage "--spool inside --root" --spool "$ROOT/sub"

start_slhttpd --spool "$SPOOL" --max-upload 1M --spool-quota 3M --part-timeout 2
put() { # put NAME FILE [curl args]: prints the HTTP status
  local name=$1 file=$2
  shift 2
  in_cli curl -sS -o /dev/null -w '%{http_code}' --max-time 60 -T "$file" "$@" "$(srv_url "$name")"
}
head -c 1000 /dev/urandom >"$WORK/up1k"
echo original >"$WORK/outside1"
echo original >"$WORK/outside2"
ln -s "$WORK/outside1" "$SPOOL/victim"
ln -s "$WORK/outside2" "$SPOOL/victim.part"
code=$(put victim "$WORK/up1k")
check "PUT over a planted symlink: 201 (got $code)" test "$code" = 201
check "the symlink's target at NAME is untouched" test "$(cat "$WORK/outside1")" = original
check "the symlink's target at NAME.part is untouched" test "$(cat "$WORK/outside2")" = original
check "NAME is now the uploaded file" cmp -s "$SPOOL/victim" "$WORK/up1k"

head -c $((2 * 1024 * 1024)) /dev/urandom >"$WORK/up2m"
code=$(put big "$WORK/up2m")
check "PUT over --max-upload 1M: 413 (got $code)" test "$code" = 413
check "nothing of it in the spool" test -z "$(find "$SPOOL" -name '*big*')"

head -c $((600 * 1024)) /dev/urandom >"$WORK/upA"
head -c $((600 * 1024)) /dev/urandom >"$WORK/upB"
bg_start putA "$CLI_NS" curl -sS -o /dev/null -w '%{http_code}' --limit-rate 300K -T "$WORK/upA" "$(srv_url same)"
pa=$BG_PID
bg_start putB "$CLI_NS" curl -sS -o /dev/null -w '%{http_code}' --limit-rate 300K -T "$WORK/upB" "$(srv_url same)"
pb=$BG_PID
_two_parts() { (($(find "$SPOOL" -name '.same.*.part' | wc -l) == 2)); }
check "two concurrent PUTs of one name write two parts" wait_for _two_parts 10
wait_for "! _sl_alive $pa && ! _sl_alive $pb" 30
wait "$pa"; wait "$pb"
_sl_forget "$pa"; _sl_forget "$pb"
check "both concurrent PUTs: 201 ($(cat "$WORK/putA.log") $(cat "$WORK/putB.log"))" \
  test "$(cat "$WORK/putA.log")$(cat "$WORK/putB.log")" = 201201
got=$(file_sha "$SPOOL/same")
check "the result is one of the two bodies, whole" \
  test "$got" = "$(file_sha "$WORK/upA")" -o "$got" = "$(file_sha "$WORK/upB")"

rm -f "$SPOOL/same"
head -c $((800 * 1024)) /dev/urandom >"$WORK/up800k"
for n in q1 q2 q3; do # 3 x 800K + 1000 bytes: under 3M
  code=$(put "$n" "$WORK/up800k")
  [[ $code == 201 ]] || fail "PUT $n under the quota: $code"
done
code=$(put q4 "$WORK/up800k")
check "PUT beyond --spool-quota 3M: 507 (got $code)" test "$code" = 507

# an abandoned upload: headers and part of the body, then the client leaves
rm -f "$SPOOL"/q*
in_cli python3 - "$SRV_IP" "$SL_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"PUT /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
time.sleep(0.3)
s.close()
PY
_part_exists() { [[ -n $(find "$SPOOL" -name '.gone.*.part') ]]; }
_part_gone() { [[ -z $(find "$SPOOL" -name '.gone.*.part') ]]; }
check "the abandoned upload left its part" wait_for _part_exists 5
check "the abandoned part is removed after --part-timeout 2" wait_for _part_gone 10
f=$(slhttpd_stats) && check "counted (http_parts_removed $(stat_get http_parts_removed "$f"))" \
  test "$(stat_get http_parts_removed "$f")" -ge 1

# ---- host
status_of() { # status_of REQUEST: status code of the first response
  in_cli python3 - "$SRV_IP" "$SL_PORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(sys.argv[3].encode().decode("unicode_escape").encode())
print(s.recv(100).split(b" ")[1].decode())
PY
}
st=$(status_of 'GET /small.bin HTTP/1.1\r\n\r\n')
check "HTTP/1.1 without Host: 400 (got $st)" test "$st" = 400
st=$(status_of 'GET /small.bin HTTP/1.1\r\nHost: x\r\n\r\n')
check "HTTP/1.1 with Host: 200 (got $st)" test "$st" = 200
st=$(status_of 'GET /small.bin HTTP/1.0\r\n\r\n')
check "HTTP/1.0 without Host: 200 (got $st)" test "$st" = 200

# ---- shrink
make_file shrink.bin 32M
bg_start shrink "$CLI_NS" curl -sS --limit-rate 4M --max-time 30 -o "$DL/shrink" "$(srv_url shrink.bin)"
sp=$BG_PID
_some() { (($(stat -c %s "$DL/shrink" 2>/dev/null || echo 0) > 2 * 1024 * 1024)); }
wait_for _some 15 || fail "the download of shrink.bin did not start"
truncate -s 1M "$ROOT/shrink.bin"
wait_for "! _sl_alive $sp" 30
wait "$sp"
rc=$?
_sl_forget "$sp"
check "the download of the file that shrank fails (curl rc $rc)" test "$rc" != 0
check "the server is still alive" _sl_check_slhttpd_alive
fetch_check curl small.bin 20
f=$(slhttpd_stats) && check "counted (http_read_errors $(stat_get http_read_errors "$f"))" \
  test "$(stat_get http_read_errors "$f")" -ge 1
stop_slhttpd

# ---- a "100 Continue" across partial writes (a 4 KiB send ring left
# nearly full by a pipelined GET the client has not read yet)
rm -f "$SPOOL"/*
start_slhttpd --spool "$SPOOL" --sndbuf 4096
if in_cli python3 "$SL_LIB_DIR/py/continue_partial.py" "$SRV_IP" "$SL_PORT" "$ROOT" 4096 \
  >"$WORK/cont.log" 2>&1; then
  pass "100 Continue whole across partial writes: $(tr '\n' ';' <"$WORK/cont.log")"
else
  fail "100 Continue across partial writes: $(tr '\n' ';' <"$WORK/cont.log")"
fi
stop_slhttpd

# ---- user
chmod 1777 "$WORK" # the ready and stats files are written as nobody
SPOOL2=$WORK/spool2
mkdir -p "$SPOOL2" && chown 65534 "$SPOOL2"
start_slhttpd --spool "$SPOOL2" --user nobody
uid=$(awk '/^Uid:/ { print $2 "/" $3 "/" $4 "/" $5 }' "/proc/$SLHTTPD_PID/status")
check "slhttpd runs as nobody (Uid: $uid)" test "$uid" = 65534/65534/65534/65534
fetch_check curl small.bin 20
code=$(put asnobody "$WORK/up1k")
check "PUT as nobody: 201 (got $code)" test "$code" = 201
check "the upload belongs to nobody" test "$(stat -c %u "$SPOOL2/asnobody")" = 65534
stop_slhttpd
summary
