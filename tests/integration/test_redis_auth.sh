#!/usr/bin/env bash
# Redis AUTH: slhttpd's Redis store with a password (requirepass, the
# "default" user) and with an ACL user (redis://USER:PASS@HOST:PORT),
# through SIGKILLs with downloads running; a wrong or missing password is a
# clear error at start (fast, exit status nonzero), and no password ever
# appears in slhttpd's output.
#
# The first half of the kills run with the ACL user, the second half with
# the requirepass password: each new instance AUTHs on connect and restores
# the flows the previous one wrote. Downloads are byte-exact, no RST.
# SL_HEAVY=0 (or an ASan build) makes it lighter: fewer downloads and kills.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-180}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl sha256sum redis-server redis-cli tcpdump

N_DL=4
N_KILL=6
if [[ ${SL_HEAVY:-1} == 0 || $SL_BUILD == *[Aa]san* ]]; then
  N_DL=2
  N_KILL=4
fi
PW_DEFAULT="rp-$RANDOM-secret-$$"
PW_ACL="acl-$RANDOM-p%40ss-$$" # percent-encoded '@' in the URI
PW_ACL_RAW=${PW_ACL//%40/@}

topo_up
make_file big.bin 24M
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key") # slhttpd refuses a key others can read

mkdir -p "$WORK/redis"
bg_start redis "$SRV_NS" redis-server --bind 127.0.0.1 --port 6379 --save '' \
  --appendonly no --dir "$WORK/redis" --requirepass "$PW_DEFAULT"
REDIS_PID=$BG_PID
rcli() { REDISCLI_AUTH=$PW_DEFAULT in_srv redis-cli --no-auth-warning -p 6379 "$@"; }
wait_for "rcli ping 2>/dev/null | grep -q PONG" 10 || die "redis-server did not start"
check "ACL user created" rcli ACL SETUSER slacl on ">$PW_ACL_RAW" '~*' '&*' '+@all'

URI_ACL="redis://slacl:$PW_ACL@127.0.0.1:6379"
URI_DEF="redis://:$PW_DEFAULT@127.0.0.1:6379"
common=(--durability sync --store-key "$WORK/store.key" --quiet)

# ---- wrong credentials: refused at start, fast, with a message
bad_start() { # DESC URI
  local t0 rc out
  t0=$(now)
  out=$(SLTCP_REDIS_PASSWORD='' timeout 20 ip netns exec "$SRV_NS" "${SLHTTPD_CMD[@]}" \
    --dev "packet:$SRV_IF" --addr "$SRV_IP/$NET_LEN" --port "$SL_PORT" --root "$ROOT" \
    --store "$2" "${common[@]}" 2>&1 </dev/null)
  rc=$?
  local el
  el=$(elapsed "$t0")
  check "$1: slhttpd refuses to start (rc=$rc, ${el}s)" \
    awk -v rc="$rc" -v el="$el" 'BEGIN { exit !(rc != 0 && rc != 124 && el < 10) }'
  check "$1: the message says authentication was refused" \
    grep -qi "authentication" <<<"$out"
  if grep -qF -e "$PW_DEFAULT" -e "$PW_ACL_RAW" -e "$PW_ACL" -e "wrongpw" <<<"$out"; then
    fail "$1: a password appears in the output"
  else
    pass "$1: no password in the output"
  fi
  printf '%s\n' "$out" | head -n 3 | sed 's/^/    /'
}
bad_start "wrong requirepass" "redis://:wrongpw@127.0.0.1:6379"
bad_start "wrong ACL password" "redis://slacl:wrongpw@127.0.0.1:6379"
bad_start "no password (NOAUTH)" "redis://127.0.0.1:6379"

# ---- downloads through kills, alternating the two ways to authenticate
start_slhttpd --store "$URI_ACL" "${common[@]}"
rst_capture_start
DL_PIDS=()
for ((i = 0; i < N_DL; i++)); do
  bg_start "curl$i" "$CLI_NS" curl -sS --max-time 120 --limit-rate 2M \
    -o "$DL/big$i" "$(srv_url big.bin)"
  DL_PIDS+=("$BG_PID")
done
_accepted() {
  local f
  f=$(slhttpd_stats) || return 1
  (($(stat_get http_accepted "$f") >= N_DL))
}
wait_for _accepted 20 || log "not every client connected within 20 s (continuing)"
restored=0
for ((k = 1; k <= N_KILL; k++)); do
  sleep "0.$((3 + RANDOM % 6))"
  kill -KILL "$SLHTTPD_PID" 2>/dev/null
  wait "$SLHTTPD_PID" 2>/dev/null
  _sl_forget "$SLHTTPD_PID"
  SLHTTPD_PID=
  if ((k <= N_KILL / 2)); then uri=$URI_ACL; else uri=$URI_DEF; fi
  start_slhttpd --store "$uri" "${common[@]}"
  if wait_for "f=\$(slhttpd_stats) && (( \$(stat_get restore_ok \"\$f\") > 0 ))" 10; then
    restored=$((restored + 1))
  fi
done
check "every restarted instance (AUTH as ACL user, then requirepass) restored flows ($restored/$N_KILL)" \
  test "$restored" -eq "$N_KILL"
want=$(sha_of big.bin)
ok=0
for ((i = 0; i < N_DL; i++)); do
  wait_for "! _sl_alive ${DL_PIDS[$i]}" 150 || log "download $i still running"
  wait "${DL_PIDS[$i]}" 2>/dev/null
  rc=$?
  _sl_forget "${DL_PIDS[$i]}"
  got=$([[ -f $DL/big$i ]] && file_sha "$DL/big$i")
  if [[ $rc == 0 && $got == "$want" ]]; then
    ok=$((ok + 1))
  else
    fail "download $i: curl rc=$rc, sha256 ${got:-none}"
  fi
done
check "$ok/$N_DL downloads byte-exact across $N_KILL kills with an authenticated store" \
  test "$ok" -eq "$N_DL"
rst_capture_stop
check "no RST reached a connection the client had open (capture: $RST_COUNT; after its FIN: $RST_AFTER_CLOSE)" test "$RST_COUNT" = 0
leak=0
for f in "$WORK"/slhttpd*.log; do
  grep -qF -e "$PW_DEFAULT" -e "$PW_ACL_RAW" -e "$PW_ACL" "$f" && leak=1
done
check "no password in any slhttpd log" test "$leak" = 0
stop_slhttpd
stop_pid "$REDIS_PID"
summary
