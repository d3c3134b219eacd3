#!/usr/bin/env bash
# The redis:// store (src/store/store_redis.c) against a real redis-server.
#
# Starts its own redis-server on 127.0.0.1 with a random free port, no
# persistence (--save '' --appendonly no), in a temp dir; every server is
# killed by PID in the EXIT trap and the temp dir removed. No namespaces,
# no root needed. Waits are wait-for-condition loops with deadlines, never
# fixed sleeps.
#
#   1. the store conformance suite (put/get/versions/CAS/fencing/list/
#      group commit) through tests/tools/store_redis_check
#   1b. foreign values under the key prefix (store_redis_check hostile)
#   2. WAIT: ?wait=1 with no replica -> -ETIMEDOUT, counted; with a replica
#      (a second redis-server, --replicaof) -> success
#   3. reconnect: the server is SIGKILLed under a running driver, which must
#      see errors (fast: no op blocks past its timeout), then restarted on
#      the same port: the driver recovers and everything works again
#   4. a short benchmark (informational)
#
# Environment: SL_BUILD (dir with store_redis_check; default $SL_SRC/build),
# SL_SRC, SL_KEEP=1 keeps the temp dir.
set -uo pipefail

SL_SRC=${SL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SL_BUILD=${SL_BUILD:-$SL_SRC/build}
DRIVER=$SL_BUILD/store_redis_check
NAME=test_store_redis
PASS=0
FAIL=0
PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sl-store-redis.XXXXXX")

log() { printf '[%s] %s\n' "$NAME" "$*"; }
pass() { PASS=$((PASS + 1)); log "ok   $*"; }
fail() { FAIL=$((FAIL + 1)); log "FAIL $*"; }

cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [[ ${SL_KEEP:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
  echo "$NAME: $PASS passed, $FAIL failed"
  [[ $FAIL == 0 ]]
  exit $?
}

# wait_for SECONDS CMD...: poll CMD every 10 ms until it succeeds or time runs out.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.01
  done
}

for c in redis-server redis-cli; do
  command -v "$c" >/dev/null || { log "SKIP: $c not installed"; exit 77; } # ctest SKIP_RETURN_CODE
done
[[ -x $DRIVER ]] || { fail "driver $DRIVER not built"; finish; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pong() { [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# start_redis PORT DIR [extra args...]: starts a server, sets REDIS_PID.
start_redis() {
  local port=$1 dir=$2; shift 2
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$dir" --daemonize no --protected-mode yes --logfile "$dir/redis.log" "$@" &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_for 10 pong "$port"
}

# A random free port (retry on a clash).
pick_port() {
  local p i
  for i in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    port_free "$p" && { echo "$p"; return 0; }
  done
  return 1
}

PORT=$(pick_port) || { fail "no free port"; finish; }
if start_redis "$PORT" "$WORK/a"; then
  MAIN_PID=$REDIS_PID
  pass "redis-server on 127.0.0.1:$PORT (pid $MAIN_PID)"
else
  fail "redis-server did not start: $(tail -n 3 "$WORK/a/redis.log" 2>/dev/null)"
  finish
fi
URI="redis://127.0.0.1:$PORT"

# 1. conformance suite
if "$DRIVER" suite "$URI" >"$WORK/suite.out" 2>&1; then
  pass "conformance suite: $(tail -n 1 "$WORK/suite.out")"
else
  fail "conformance suite"; cat "$WORK/suite.out"
fi

# 1b. foreign values under the prefix: each fails alone, a long one is never sent
if "$DRIVER" hostile "$URI" >"$WORK/hostile.out" 2>&1; then
  pass "foreign values: $(tail -n 1 "$WORK/hostile.out")"
  grep 'bytes sent' "$WORK/hostile.out" | sed 's/^ */    /'
else
  fail "foreign values"; cat "$WORK/hostile.out"
fi

# 2. WAIT without and with a replica
if "$DRIVER" wait "$URI?wait=1&wait_ms=50" timeout >"$WORK/wait0.out" 2>&1; then
  pass "WAIT 1 without a replica: -ETIMEDOUT, counted"
else
  fail "WAIT without a replica"; cat "$WORK/wait0.out"
fi
RPORT=$(pick_port)
repl_up() {
  redis-cli -h 127.0.0.1 -p "$PORT" info replication 2>/dev/null | grep -q '^connected_slaves:1' &&
    redis-cli -h 127.0.0.1 -p "$RPORT" info replication 2>/dev/null | grep -q '^master_link_status:up'
}
if [[ -n $RPORT ]] && start_redis "$RPORT" "$WORK/replica" --replicaof 127.0.0.1 "$PORT" &&
   wait_for 20 repl_up; then
  REPLICA_PID=$REDIS_PID
  if "$DRIVER" wait "$URI?wait=1&wait_ms=2000" ok >"$WORK/wait1.out" 2>&1; then
    pass "WAIT 1 with a replica: acknowledged"
  else
    fail "WAIT with a replica"; cat "$WORK/wait1.out"
  fi
  kill -9 "$REPLICA_PID" 2>/dev/null
  wait "$REPLICA_PID" 2>/dev/null
else
  fail "replica did not come up"
fi

# 3. reconnect after the server is killed and restarted
PH=$WORK/phases
mkdir -p "$PH"
"$DRIVER" reconnect "$URI" "$PH" >"$WORK/reconnect.out" 2>&1 &
DRV_PID=$!
PIDS+=("$DRV_PID")
if wait_for 30 test -e "$PH/phase1"; then
  kill -9 "$MAIN_PID"
  wait "$MAIN_PID" 2>/dev/null
  if wait_for 10 gone "$MAIN_PID"; then
    touch "$PH/killed"
    log "redis-server killed (SIGKILL)"
  fi
  if wait_for 30 test -e "$PH/errors"; then
    if start_redis "$PORT" "$WORK/a2"; then
      MAIN_PID=$REDIS_PID
      touch "$PH/restarted"
      log "redis-server restarted on the same port (pid $MAIN_PID)"
    else
      fail "redis-server did not restart"
    fi
  else
    fail "driver never reported errors while the server was down"
  fi
else
  fail "driver never reached phase 1"
fi
if wait_for 60 gone "$DRV_PID"; then
  wait "$DRV_PID"
  rc=$?
else
  kill -9 "$DRV_PID"
  rc=124
fi
if [[ $rc == 0 && -e $PH/recovered ]]; then
  pass "reconnect: errors while down, recovered after restart"
  grep -E 'while down|recovered after' "$WORK/reconnect.out" | sed 's/^ */    /'
else
  fail "reconnect (driver rc $rc)"; cat "$WORK/reconnect.out"
fi

# 4. benchmark (informational; SL_STORE_BENCH_N ops)
if "$DRIVER" bench "$URI" "${SL_STORE_BENCH_N:-20000}" >"$WORK/bench.out" 2>&1; then
  pass "benchmark ran"
  grep '^bench' "$WORK/bench.out" | sed 's/^/    /'
else
  fail "benchmark"; cat "$WORK/bench.out"
fi

finish
