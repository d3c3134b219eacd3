# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are for the scripts sourcing it
# Shared harness for sltcp integration tests, scripts/demo.sh and bench/.
# Source it; do not run it.
#
# Topology (one pair per run, names unique per run: sl$$-srv / sl$$-cli):
#
#   netns sl$$-cli                          netns sl$$-srv
#   +---------------------------+           +------------------------------+
#   | vcli 198.18.0.1/24        |<--veth--->| vsrv (no kernel address)     |
#   | kernel TCP: curl, wget,   |           | sltcp via AF_PACKET:         |
#   | ab, wrk, python, nginx    |           |  --dev packet:vsrv           |
#   +---------------------------+           |  --addr 198.18.0.2/24        |
#                                           +------------------------------+
#
# veth offloads stay at their defaults (TSO/GSO/csum offload ON). IPv6 is
# disabled in both namespaces. Only 198.18.0.0/15 and loopback are used. The
# root namespace is touched only to create the veth pair, which is created
# directly inside the namespaces (`ip link add ... netns ...`).
#
# Environment:
#   SL_BUILD        build dir holding slhttpd/slclient (default $SL_SRC/build)
#   SL_SRC          source dir (default: derived from this file's location)
#   SL_TEST_BUDGET  seconds before a watchdog aborts the test (set it before
#                   sourcing; default 600; 0 = none). ctest's TIMEOUT is 900 s.
#   SL_SELFTEST=1   harness self-check only: replace slhttpd/slclient with
#                   py/fake_slhttpd.py (kernel nginx behind the same CLI, with
#                   the kernel address on vsrv) and py/fake_slclient.py.
#                   --impair is ignored there. Never used by ctest.
#   SL_KEEP=1       keep the temp dir (logs, downloads) after the run.
#
# Typical test:
#   SL_TEST_BUDGET=300
#   . "$(dirname "$0")/lib.sh"
#   topo_up
#   make_file small.bin 1K
#   start_slhttpd
#   fetch_check curl small.bin
#   stop_slhttpd
#   summary

set -uo pipefail

SL_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SL_SRC=${SL_SRC:-$(cd "$SL_LIB_DIR/../.." && pwd)}
SL_BUILD=${SL_BUILD:-$SL_SRC/build}
SL_TEST_BUDGET=${SL_TEST_BUDGET:-600}
SL_SELFTEST=${SL_SELFTEST:-0}
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}

SRV_NS="sl$$-srv"
CLI_NS="sl$$-cli"
SRV_IF=vsrv
CLI_IF=vcli
CLI_IP=198.18.0.1
SRV_IP=198.18.0.2
NET_LEN=24
SL_PORT=${SL_PORT:-80}

if [[ $SL_SELFTEST == 1 ]]; then
  SLHTTPD_CMD=(python3 "$SL_LIB_DIR/py/fake_slhttpd.py")
  SLCLIENT_CMD=(python3 "$SL_LIB_DIR/py/fake_slclient.py")
else
  SLHTTPD_CMD=("$SL_BUILD/slhttpd")
  SLCLIENT_CMD=("$SL_BUILD/slclient")
fi

_SL_PASS=0
_SL_FAIL=0
_SL_PIDS=()        # every background process we started (real PIDs)
_SL_NETNS=()       # namespaces we created
_SL_CLEANED=0
_SL_WATCHDOG=
SLHTTPD_PID=
SLHTTPD_RC=
SLHTTPD_LOG=
SLHTTPD_STATS=
SLHTTPD_READY=
_SL_SRV_N=0        # how many slhttpd instances this run started
_SL_SRV_DIED=      # set when slhttpd exited on its own (not yet reported)
_SL_RST_PID=
_SL_RST_PCAP=

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sltest.$TEST_NAME.XXXXXX") || {
  echo "$TEST_NAME: cannot create temp dir" >&2
  exit 1
}
chmod 755 "$WORK"
ROOT=$WORK/www     # document root served by slhttpd
DL=$WORK/dl        # downloads
mkdir -p "$ROOT" "$DL" "$WORK/sha"

# ---------------------------------------------------------------- output

log() { printf '[%s %s] %s\n' "$TEST_NAME" "$(date +%T)" "$*"; }
pass() { _SL_PASS=$((_SL_PASS + 1)); printf 'PASS: %s\n' "$*"; }
fail() { _SL_FAIL=$((_SL_FAIL + 1)); printf 'FAIL: %s\n' "$*"; }
# check LABEL CMD...: pass if CMD succeeds, else fail.
check() {
  local label=$1; shift
  if "$@"; then pass "$label"; else fail "$label"; fi
}

# die MSG: fatal failure; prints diagnostics and the summary line, exits 1.
die() {
  fail "$*"
  summary
}

# summary: final line "<test>: N passed, M failed"; exit status 0 only if
# nothing failed and something passed. Exits (the EXIT trap cleans up).
summary() {
  _sl_check_slhttpd_alive
  if ((_SL_FAIL > 0)); then
    diag_dump
  fi
  if ((_SL_PASS == 0 && _SL_FAIL == 0)); then
    echo "$TEST_NAME: no checks ran"
    _SL_FAIL=1
  fi
  echo "$TEST_NAME: $_SL_PASS passed, $_SL_FAIL failed"
  ((_SL_FAIL == 0)) && exit 0
  exit 1
}

# _sl_slhttpd_died RC: slhttpd (SLHTTPD_PID) exited on its own and has been
# reaped with status RC: remember it for _sl_check_slhttpd_alive.
_sl_slhttpd_died() {
  local how="exit status $1"
  (($1 > 128)) && how="killed by SIG$(kill -l $(($1 - 128)) 2>/dev/null || echo $(($1 - 128)))"
  _SL_SRV_DIED="pid $SLHTTPD_PID, $how; log: $SLHTTPD_LOG"
  SLHTTPD_RC=$1
  _sl_forget "$SLHTTPD_PID"
  SLHTTPD_PID=
}

# _sl_check_slhttpd_alive: if slhttpd should be running but is not, record
# one failure with its exit status. Returns 1 in that case.
_sl_check_slhttpd_alive() {
  if [[ -n $SLHTTPD_PID ]] && ! _sl_alive "$SLHTTPD_PID"; then
    wait "$SLHTTPD_PID" 2>/dev/null
    _sl_slhttpd_died $?
  fi
  [[ -z $_SL_SRV_DIED ]] && return 0
  fail "slhttpd died unexpectedly ($_SL_SRV_DIED)"
  _SL_SRV_DIED=
  return 1
}

# skip_all REASON: nothing to test here (e.g. an optional app not in the
# tree yet); prints the summary line with "1 skipped" and exits 0.
skip_all() {
  echo "SKIP: $*"
  echo "$TEST_NAME: 0 passed, 0 failed, 1 skipped"
  exit 0
}

# diag_dump: slhttpd counters (SIGUSR1 + stats file) and log tails.
diag_dump() {
  echo "---- diagnostics ($TEST_NAME, work dir $WORK) ----"
  if [[ -n $SLHTTPD_PID ]] && _sl_alive "$SLHTTPD_PID"; then
    if slhttpd_stats >/dev/null; then
      echo "slhttpd counters (non-zero):"
      stats_nonzero "$SLHTTPD_STATS" | sed 's/^/  /'
    else
      echo "slhttpd did not write $SLHTTPD_STATS after SIGUSR1"
    fi
  elif [[ -n $SLHTTPD_STATS && -s $SLHTTPD_STATS ]]; then
    echo "slhttpd final counters (non-zero):"
    stats_nonzero "$SLHTTPD_STATS" | sed 's/^/  /'
  fi
  local f
  for f in "$WORK"/*.log; do
    [[ -s $f ]] || continue
    echo "---- tail of $(basename "$f") ----"
    tail -n 40 "$f"
  done
  echo "---- end of diagnostics ----"
}

# ---------------------------------------------------------------- utils

# wait_for CONDITION_CMD TIMEOUT_S: poll (eval) every 50 ms until it succeeds
# or the deadline passes. TIMEOUT_S may be fractional. Returns 1 on timeout.
wait_for() {
  local cond=$1 timeout=${2:-10}
  local sec=${timeout%.*} frac=0
  [[ $timeout == *.* ]] && frac=${timeout#*.}
  frac=${frac}000000
  local deadline=$((${EPOCHREALTIME/./} + ${sec:-0} * 1000000 + 10#${frac:0:6}))
  while :; do
    eval "$cond" && return 0
    ((${EPOCHREALTIME/./} >= deadline)) && return 1
    sleep 0.05
  done
}

now() { echo "${EPOCHREALTIME}"; }
# elapsed START: seconds since START (from now), 2 decimals.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
# mbps BYTES SECONDS
mbps() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", n / s / 1e6; else print "inf" }'; }

# sl_build_is_asan: true when SL_BUILD is a sanitizer build (tests that
# scale their load down under ASan say so in their header).
sl_build_is_asan() {
  grep -q '^CMAKE_BUILD_TYPE:STRING=Asan$' "$SL_BUILD/CMakeCache.txt" 2>/dev/null
}

in_srv() { ip netns exec "$SRV_NS" "$@"; }
in_cli() { ip netns exec "$CLI_NS" "$@"; }

need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "missing command '$c' (run scripts/install-deps.sh)"
  done
}

# _sl_alive PID: running and not a zombie (our dead children stay zombies
# until waited for, so kill -0 alone is not enough).
_sl_alive() {
  local st
  st=$(cut -d')' -f2 "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st# }
  [[ -n $st && ${st:0:1} != Z && ${st:0:1} != X ]]
}

# bg_start NAME NS CMD...: run CMD in namespace NS in the background, output
# to $WORK/NAME.log. `ip netns exec` execs the command, so $! is the real PID.
# Sets BG_PID and records it for cleanup.
bg_start() {
  local name=$1 ns=$2; shift 2
  ip netns exec "$ns" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  BG_PID=$!
  _SL_PIDS+=("$BG_PID")
}

# _sl_forget PID: drop a reaped PID from the cleanup list (PIDs get reused).
_sl_forget() {
  local p keep=()
  for p in "${_SL_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  _SL_PIDS=("${keep[@]}")
}

# run_in NS CMD...: run CMD in namespace NS in the foreground, but as a
# waited-for background job so that INT/TERM (and the watchdog) interrupt it
# at once; bash defers traps while a true foreground command runs. Returns
# CMD's exit status. Redirect run_in's output as you would CMD's.
# While slhttpd runs, it is watched too: if it exits first, CMD is stopped
# at once instead of running into its timeout (nothing answers for a dead
# user-space stack, not even a RST).
run_in() {
  local ns=$1 pid rc done_pid=; shift
  ip netns exec "$ns" "$@" </dev/null &
  pid=$!
  _SL_PIDS+=("$pid")
  if [[ -n $SLHTTPD_PID ]] && _sl_alive "$SLHTTPD_PID"; then
    wait -n -p done_pid "$pid" "$SLHTTPD_PID"
    rc=$?
    if [[ $done_pid == "$SLHTTPD_PID" ]]; then
      _sl_slhttpd_died "$rc"
      log "slhttpd exited while '$1' was running: stopping '$1'"
      kill -TERM "$pid" 2>/dev/null
      wait "$pid"
      rc=$?
    fi
  else
    wait "$pid"
    rc=$?
  fi
  _sl_forget "$pid"
  return "$rc"
}

# stop_pid PID [SIGNAL] [TIMEOUT_S]: signal, wait for exit, SIGKILL after the
# timeout. Reaps it; its exit status is left in STOP_RC.
stop_pid() {
  local pid=$1 sig=${2:-TERM} t=${3:-10}
  STOP_RC=
  [[ -n $pid ]] || return 0
  if _sl_alive "$pid"; then
    kill -s "$sig" "$pid" 2>/dev/null
    if ! wait_for "! _sl_alive $pid" "$t"; then
      log "pid $pid ignored SIG$sig for ${t}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null
      wait_for "! _sl_alive $pid" 5
    fi
  fi
  wait "$pid" 2>/dev/null
  STOP_RC=$?
  _sl_forget "$pid"
  return 0
}

# ---------------------------------------------------------------- topology

# Remove empty namespaces left by earlier runs that died without cleaning up
# (owner PID gone, no process inside). Never touches anything else.
_sl_sweep_stale_netns() {
  local ns pid
  while read -r ns _; do
    [[ $ns =~ ^sl([0-9]+)-(srv|cli|bk)$ ]] || continue
    pid=${BASH_REMATCH[1]}
    [[ $pid == "$$" || -d /proc/$pid ]] && continue
    [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] || continue
    ip netns del "$ns" 2>/dev/null && log "removed stale namespace $ns"
  done < <(ip netns list 2>/dev/null)
}

_sl_ns_common() {
  local ns=$1 dev=$2
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1 "net.ipv6.conf.$dev.disable_ipv6=1" >/dev/null
  ip -n "$ns" link set lo up
  ip -n "$ns" link set "$dev" up
}

# topo_up: create the two namespaces and the veth pair (see header).
topo_up() {
  [[ $(id -u) -eq 0 ]] || die "integration tests need root (network namespaces)"
  need_cmd ip
  _sl_sweep_stale_netns
  ip netns add "$SRV_NS" || die "ip netns add $SRV_NS failed"
  _SL_NETNS+=("$SRV_NS")
  ip netns add "$CLI_NS" || die "ip netns add $CLI_NS failed"
  _SL_NETNS+=("$CLI_NS")
  ip link add "$SRV_IF" netns "$SRV_NS" type veth peer name "$CLI_IF" netns "$CLI_NS" ||
    die "cannot create veth pair"
  _sl_ns_common "$SRV_NS" "$SRV_IF" || die "cannot configure $SRV_NS"
  _sl_ns_common "$CLI_NS" "$CLI_IF" || die "cannot configure $CLI_NS"
  ip -n "$CLI_NS" addr add "$CLI_IP/$NET_LEN" dev "$CLI_IF" || die "cannot address $CLI_IF"
  # Client-side kernel: room for many short connections (ab). Per-netns.
  in_cli sysctl -qw net.ipv4.ip_local_port_range="10000 60999" >/dev/null
  wait_for "ip -n $CLI_NS link show $CLI_IF | grep -q LOWER_UP" 5 ||
    die "veth did not come up"
  log "topology up: $CLI_NS/$CLI_IF $CLI_IP/$NET_LEN <-> $SRV_NS/$SRV_IF (no kernel address)"
}

# topo_down: delete the namespaces (the veth goes with them).
topo_down() {
  local ns
  for ns in "${_SL_NETNS[@]}"; do
    ip netns del "$ns" 2>/dev/null
  done
  _SL_NETNS=()
}

# ---------------------------------------------------------------- cleanup

cleanup() {
  ((_SL_CLEANED)) && return 0
  _SL_CLEANED=1
  local pid
  if [[ -n $_SL_WATCHDOG ]]; then
    kill -TERM "$_SL_WATCHDOG" 2>/dev/null
    wait "$_SL_WATCHDOG" 2>/dev/null
  fi
  for pid in "${_SL_PIDS[@]}"; do
    _sl_alive "$pid" && kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${_SL_PIDS[@]}"; do
    if ! wait_for "! _sl_alive $pid" 5; then
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  done
  topo_down
  if [[ ${SL_KEEP:-0} == 1 ]]; then
    echo "$TEST_NAME: kept work dir $WORK"
  else
    rm -rf "$WORK"
  fi
  return 0
}

# The trap may fire inside a function whose output is redirected to a file
# (run_in ... >log): report on the original stdout/stderr.
exec {_SL_OUT}>&1 {_SL_ERR}>&2
_sl_on_signal() {
  echo "$TEST_NAME: caught SIG$1, cleaning up" 1>&"$_SL_ERR"
  cleanup 1>&"$_SL_OUT" 2>&"$_SL_ERR"
  _SL_FAIL=$((_SL_FAIL + 1))
  echo "$TEST_NAME: $_SL_PASS passed, $_SL_FAIL failed" 1>&"$_SL_OUT"
  trap - EXIT
  exit $((128 + $2))
}

trap cleanup EXIT
trap '_sl_on_signal INT 2' INT
trap '_sl_on_signal TERM 15' TERM

# Watchdog (a child process polling once a second):
#  - past the budget it aborts the test: it signals our direct children first
#    (bash runs a trap only after a foreground command returns), then us; the
#    TERM trap cleans up.
#  - if we vanish without cleaning up (SIGKILL, e.g. a ctest timeout), it
#    cleans up after us: stops the processes inside our two namespaces (all
#    started by this run), deletes the namespaces and the temp dir.
# cleanup() stops it first, so on a normal exit it does nothing.
_sl_watchdog_start() {
  local budget=$1 main=$$
  (
    trap '' PIPE INT
    sp=
    trap '[[ -n $sp ]] && kill "$sp" 2>/dev/null && wait "$sp"; exit 0' TERM
    end=$((SECONDS + budget))
    while _sl_alive "$main"; do
      if ((SECONDS >= end)); then
        echo "$TEST_NAME: watchdog: budget of ${budget}s exceeded, aborting" >&2
        for c in $(ps -o pid= --ppid "$main"); do
          [[ $c == "$BASHPID" ]] || kill -TERM "$c" 2>/dev/null
        done
        kill -TERM "$main" 2>/dev/null
        end=$((SECONDS + 60)) # then clean up ourselves if it did not
      fi
      sleep 1 &
      sp=$!
      wait "$sp"
      sp=
    done
    exec >/dev/null 2>&1
    for sig in TERM KILL; do
      for ns in "$SRV_NS" "$CLI_NS" "sl$main-bk"; do
        mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
        ((${#pids[@]})) && kill -"$sig" "${pids[@]}"
      done
      [[ $sig == TERM ]] && sleep 2
    done
    ip netns del "$SRV_NS"
    ip netns del "$CLI_NS"
    ip netns del "sl$main-bk" 2>/dev/null
    [[ ${SL_KEEP:-0} == 1 ]] || rm -rf "$WORK"
    exit 0
  ) &
  _SL_WATCHDOG=$!
}
if [[ $SL_TEST_BUDGET != 0 ]]; then
  _sl_watchdog_start "$SL_TEST_BUDGET"
fi

# ---------------------------------------------------------------- files

# _sl_bytes SIZE: 1024, 1K, 1M, 1G (binary units).
_sl_bytes() {
  local s=$1
  case $s in
    *K) echo $((${s%K} * 1024)) ;;
    *M) echo $((${s%M} * 1024 * 1024)) ;;
    *G) echo $((${s%G} * 1024 * 1024 * 1024)) ;;
    *) echo $((s)) ;;
  esac
}

# make_file NAME SIZE: deterministic pseudo-random content in $ROOT/NAME
# (AES-CTR keystream seeded by name and size); records its sha256.
make_file() {
  local name=$1 n
  n=$(_sl_bytes "$2")
  need_cmd openssl
  openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:sltcp-$name-$n" </dev/zero 2>/dev/null |
    head -c "$n" >"$ROOT/$name"
  [[ $(stat -c %s "$ROOT/$name") == "$n" ]] || die "make_file $name: short file"
  chmod 644 "$ROOT/$name"
  sha256sum "$ROOT/$name" | cut -d' ' -f1 >"$WORK/sha/$name"
}
sha_of() { cat "$WORK/sha/$1"; }
size_of() { stat -c %s "$ROOT/$1"; }
file_sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------- slhttpd

srv_url() {
  if [[ $SL_PORT == 80 ]]; then echo "http://$SRV_IP/$1"; else echo "http://$SRV_IP:$SL_PORT/$1"; fi
}

# start_slhttpd [EXTRA_ARGS...]: start slhttpd in the server namespace with
#   --dev packet:vsrv --addr 198.18.0.2/24 --port $SL_PORT --root $ROOT
#   --stats-file ... --ready-file ...  EXTRA_ARGS
# and wait (15 s) for the ready file. Dies with the log if slhttpd exits.
# Sets SLHTTPD_PID, SLHTTPD_LOG, SLHTTPD_STATS.
start_slhttpd() {
  [[ -z $SLHTTPD_PID ]] || die "start_slhttpd: already running (pid $SLHTTPD_PID)"
  if [[ $SL_SELFTEST != 1 && ! -x ${SLHTTPD_CMD[0]} ]]; then
    die "slhttpd binary not found at ${SLHTTPD_CMD[0]} (build first, or set SL_BUILD)"
  fi
  _SL_SRV_N=$((_SL_SRV_N + 1))
  local tag=slhttpd$_SL_SRV_N
  SLHTTPD_READY=$WORK/$tag.ready
  SLHTTPD_STATS=$WORK/$tag.stats
  rm -f "$SLHTTPD_READY" "$SLHTTPD_STATS"
  bg_start "$tag" "$SRV_NS" "${SLHTTPD_CMD[@]}" --dev "packet:$SRV_IF" \
    --addr "$SRV_IP/$NET_LEN" --port "$SL_PORT" --root "$ROOT" \
    --stats-file "$SLHTTPD_STATS" --ready-file "$SLHTTPD_READY" "$@"
  SLHTTPD_PID=$BG_PID
  SLHTTPD_LOG=$WORK/$tag.log
  log "started slhttpd pid $SLHTTPD_PID: ${SLHTTPD_CMD[*]##*/} $*"
  if ! wait_for "[[ -e $SLHTTPD_READY ]] || ! _sl_alive $SLHTTPD_PID" 15; then
    die "slhttpd did not create its ready file within 15 s"
  fi
  if ! _sl_alive "$SLHTTPD_PID"; then
    _sl_check_slhttpd_alive
    die "slhttpd exited during startup"
  fi
}

_sl_reap_slhttpd() {
  wait "$SLHTTPD_PID" 2>/dev/null
  SLHTTPD_RC=$?
  _sl_forget "$SLHTTPD_PID"
  SLHTTPD_PID=
}

# stop_slhttpd: SIGTERM, expect exit within 15 s with status 0 and a final
# stats file. Records PASS/FAIL for that.
stop_slhttpd() {
  _sl_check_slhttpd_alive || return 1
  [[ -n $SLHTTPD_PID ]] || return 0
  local pid=$SLHTTPD_PID
  rm -f "$SLHTTPD_STATS"
  kill -TERM "$pid"
  if wait_for "! _sl_alive $pid" 15; then
    _sl_reap_slhttpd
    if [[ $SLHTTPD_RC == 0 ]]; then
      pass "slhttpd exited with status 0 on SIGTERM"
    else
      fail "slhttpd exited with status $SLHTTPD_RC on SIGTERM"
    fi
    if [[ -s $SLHTTPD_STATS ]]; then
      pass "slhttpd wrote final counters on exit"
    else
      fail "slhttpd wrote no stats file on exit"
    fi
  else
    fail "slhttpd still running 15 s after SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null
    _sl_reap_slhttpd
  fi
}

# slhttpd_stats: SIGUSR1, wait (5 s) for a fresh, complete stats file, print
# its path. Returns 1 if none appeared.
slhttpd_stats() {
  [[ -n $SLHTTPD_PID ]] && _sl_alive "$SLHTTPD_PID" || return 1
  rm -f "$SLHTTPD_STATS"
  kill -USR1 "$SLHTTPD_PID"
  wait_for "[[ -s $SLHTTPD_STATS ]]" 5 || return 1
  # tolerate a non-atomic writer: wait until the size is stable for 100 ms
  local a b
  a=$(stat -c %s "$SLHTTPD_STATS")
  while :; do
    sleep 0.1
    b=$(stat -c %s "$SLHTTPD_STATS" 2>/dev/null) || return 1
    [[ $a == "$b" ]] && break
    a=$b
  done
  echo "$SLHTTPD_STATS"
}

# stat_get NAME [FILE]: a counter's value from a stats file ("name value"
# lines); empty if absent.
stat_get() {
  awk -v k="$1" '$1 == k { print $2; exit }' "${2:-$SLHTTPD_STATS}" 2>/dev/null
}
stats_nonzero() { awk 'NF >= 2 && $2 != 0' "$1"; }

# print_counters [FILE]: the counters a human looks at first, then every
# non-zero drop_* counter.
print_counters() {
  local f=${1:-$SLHTTPD_STATS} k v
  [[ -s $f ]] || { echo "  (no stats file)"; return 0; }
  for k in rx_frames tx_frames rx_bytes tx_bytes tx_gso_frames tcp_passive_opens \
    tcp_established tcp_closed tcp_retransmits tcp_fast_retransmits tcp_sack_retransmits \
    tcp_rto_fired tcp_rst_tx tcp_rst_rx impair_dropped impair_duplicated impair_reordered; do
    v=$(stat_get "$k" "$f")
    [[ -n $v ]] && printf '  %-24s %s\n' "$k" "$v"
  done
  awk '$1 ~ /^drop_/ && $2 != 0 { printf "  %-24s %s\n", $1, $2 }' "$f"
}

# ---------------------------------------------------------------- checks

# fetch_check TOOL NAME [MAX_TIME_S]: download $ROOT/NAME with curl or wget
# from the client namespace and compare sha256. Sets FETCH_SECS.
fetch_check() {
  local tool=$1 name=$2 t=${3:-60} out=$DL/$1-$2 rc t0 want got n
  want=$(sha_of "$name")
  n=$(size_of "$name")
  rm -f "$out"
  t0=$(now)
  case $tool in
    curl) run_in "$CLI_NS" curl -sS --max-time "$t" -o "$out" "$(srv_url "$name")" ;;
    wget) run_in "$CLI_NS" timeout "$t" wget -q --tries=1 --timeout=30 -O "$out" "$(srv_url "$name")" ;;
    *) die "fetch_check: unknown tool $tool" ;;
  esac
  rc=$?
  FETCH_SECS=$(elapsed "$t0")
  got=$( [[ -f $out ]] && file_sha "$out")
  if [[ $rc == 0 && $got == "$want" ]]; then
    pass "$tool $name ($n bytes) sha256 ok in ${FETCH_SECS}s ($(mbps "$n" "$FETCH_SECS") MB/s)"
  else
    fail "$tool $name: rc=$rc got $(stat -c %s "$out" 2>/dev/null || echo 0)/$n bytes, sha256 ${got:-none} want $want (${FETCH_SECS}s)"
    # no point in waiting for more timeouts if the server is gone
    _sl_check_slhttpd_alive || summary
  fi
  rm -f "$out"
}

# ---------------------------------------------------------------- RST capture

# rst_capture_start: tcpdump in the client namespace, keeping the RSTs sent
# by the server (198.18.0.2) to the client and the client's own FINs (to
# tell a RST on a connection the client still had open from one that came
# after the client closed it).
rst_capture_start() {
  command -v tcpdump >/dev/null 2>&1 || { log "tcpdump missing: no RST capture"; return 0; }
  _SL_RST_PCAP=$WORK/rst.pcap
  bg_start tcpdump "$CLI_NS" tcpdump -i "$CLI_IF" -n -U --immediate-mode -Z root -w "$_SL_RST_PCAP" \
    "(src host $SRV_IP and tcp[tcpflags] & tcp-rst != 0) or (dst host $SRV_IP and tcp[tcpflags] & tcp-fin != 0)"
  _SL_RST_PID=$BG_PID
  if ! wait_for "grep -q 'listening on' $WORK/tcpdump.log || ! _sl_alive $_SL_RST_PID" 10 ||
    ! _sl_alive "$_SL_RST_PID"; then
    log "tcpdump did not start: no RST capture"
    _SL_RST_PID=
  fi
}

rst_capture_stop() {
  RST_COUNT=n/a
  RST_AFTER_CLOSE=0
  [[ -n $_SL_RST_PID ]] || return 0
  stop_pid "$_SL_RST_PID" INT 5
  _SL_RST_PID=
  # RST_COUNT: RSTs on connections the client had not closed (a FIN from
  # the client's port came first: RST_AFTER_CLOSE, logged, not counted)
  local counts
  counts=$(tcpdump -r "$_SL_RST_PCAP" -n 2>/dev/null | awk -v srv="$SRV_IP" '
    { src = $3; dst = $5; sub(/:$/, "", dst) }
    index(dst, srv ".") == 1 && $0 ~ /Flags \[[^]]*F/ { n = split(src, a, "."); fin[a[n]] = 1; next }
    index(src, srv ".") == 1 && $0 ~ /Flags \[R/ { n = split(dst, a, "."); if (a[n] in fin) late++; else open++ }
    END { print open + 0, late + 0 }')
  read -r RST_COUNT RST_AFTER_CLOSE <<<"$counts"
  log "RSTs from server to client: $RST_COUNT on open connections, $RST_AFTER_CLOSE after the client's FIN"
  if ((RST_COUNT + RST_AFTER_CLOSE > 0)); then
    tcpdump -r "$_SL_RST_PCAP" -n 'tcp[tcpflags] & tcp-rst != 0' 2>/dev/null | head -n 5 | sed 's/^/  /'
  fi
}

# ---------------------------------------------------------------- redis

# start_redis_srv: redis-server on the server namespace's loopback
# (127.0.0.1:6379), no persistence, data in $WORK/redis; waits until it
# answers. Sets REDIS_PID. Called again after a kill, it starts an empty one.
start_redis_srv() {
  need_cmd redis-server redis-cli
  mkdir -p "$WORK/redis"
  bg_start redis "$SRV_NS" redis-server --bind 127.0.0.1 --port 6379 --save '' \
    --appendonly no --dir "$WORK/redis"
  REDIS_PID=$BG_PID
  wait_for "in_srv redis-cli -p 6379 ping 2>/dev/null | grep -q PONG" 10 ||
    die "redis-server did not start"
}

# ---------------------------------------------------------------- kernel nginx

# start_nginx NAME NS LISTEN ROOT [EXTRA_HTTP_DIRECTIVES]: kernel nginx, one
# worker, config/pid/logs/temp under $WORK/NAME/, access log with connection
# serial numbers ($WORK/NAME/access.log; NGINX_ACCESS_LOG=off disables it).
# Waits until it listens. Sets NGINX_PID and NGINX_DIR.
# NGINX_WORKER_CONNECTIONS (default 4096) raises the connection limit (and
# the worker's open-file limit with it).
start_nginx() {
  local name=$1 ns=$2 listen=$3 root=$4 extra=${5:-} alog wc=${NGINX_WORKER_CONNECTIONS:-4096}
  alog="$WORK/$name/access.log conn"
  [[ ${NGINX_ACCESS_LOG:-} == off ]] && alog=off
  need_cmd nginx
  NGINX_DIR=$WORK/$name
  mkdir -p "$NGINX_DIR/tmp"
  cat >"$NGINX_DIR/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user root;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
worker_rlimit_nofile $((wc * 2 + 64));
events { worker_connections $wc; }
http {
    default_type application/octet-stream;
    log_format conn '\$connection \$connection_requests \$status \$body_bytes_sent "\$request"';
    access_log $alog;
    sendfile on;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    $extra
    server {
        listen $listen;
        root $root;
    }
}
EOF
  bg_start "$name" "$ns" nginx -p "$NGINX_DIR" -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf"
  NGINX_PID=$BG_PID
  local port=${listen##*:}
  if ! wait_for "ip netns exec $ns ss -Hltn 'sport = :$port' | grep -q . || ! _sl_alive $NGINX_PID" 10 ||
    ! _sl_alive "$NGINX_PID"; then
    cat "$NGINX_DIR/error.log" "$WORK/$name.log" 2>/dev/null
    die "nginx ($name) did not start listening on $listen"
  fi
  log "nginx ($name) pid $NGINX_PID listening on $listen in $ns"
}

# ---------------------------------------------------------------- wrk

# wrk_load NAME CONNS SECS URL [NS]: wrk -t2 -cCONNS -dSECSs --timeout 5s
# --latency from namespace NS (default the client's), open-file limit
# raised for CONNS sockets; wrk opens all CONNS connections at once when it
# starts. Output in $WORK/NAME.wrk; then wrk_parse NAME.
# wrk_bg: the same in the background (BG_PID); wrk_parse NAME once it ended.
_wrk_cmd() {
  echo "ulimit -n $(($2 + 1024)) && exec timeout $(($3 + 60)) wrk -t2 -c$2 -d${3}s --timeout 5s --latency '$4'"
}
wrk_load() {
  need_cmd wrk
  run_in "${5:-$CLI_NS}" bash -c "$(_wrk_cmd "$@")" >"$WORK/$1.wrk" 2>&1
  wrk_parse "$1"
}
wrk_bg() {
  need_cmd wrk
  bg_start "$1.wrk-run" "${5:-$CLI_NS}" bash -c "$(_wrk_cmd "$@") >'$WORK/$1.wrk' 2>&1"
}

# wrk_parse NAME: from $WORK/NAME.wrk set WRK_REQS, WRK_RPS, WRK_P50 and
# WRK_P99 (ms), WRK_TIMEOUTS, WRK_ERRORS (connect + read + write + timeout
# socket errors + non-2xx/3xx responses) and WRK_LINE (one-line summary).
wrk_parse() {
  local out=$WORK/$1.wrk sock non2xx
  WRK_REQS=$(awk '/requests in/ { print $1; exit }' "$out")
  WRK_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  # latency lines "     50%  1.23ms" (units us, ms, s, m) -> ms
  _wrk_pct() {
    awk -v p="$1%" '$1 == p {
      v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
      m = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1
      printf "%.2f", v * m; exit }' "$out"
  }
  WRK_P50=$(_wrk_pct 50)
  WRK_P99=$(_wrk_pct 99)
  WRK_TIMEOUTS=$(sed -n 's/.*Socket errors:.*timeout \([0-9]*\).*/\1/p' "$out")
  WRK_TIMEOUTS=${WRK_TIMEOUTS:-0}
  sock=$(grep -m1 'Socket errors:' "$out" | grep -o '[0-9]\+' | awk '{ s += $1 } END { print s + 0 }')
  non2xx=$(awk -F: '/Non-2xx or 3xx responses/ { gsub(/ /, "", $2); print $2; exit }' "$out")
  WRK_ERRORS=$((sock + ${non2xx:-0}))
  WRK_LINE="${WRK_RPS:-?} req/s, p50 ${WRK_P50:-?} ms, p99 ${WRK_P99:-?} ms, $WRK_ERRORS errors ($WRK_TIMEOUTS timeouts), ${WRK_REQS:-0} requests"
}

# ---------------------------------------------------------------- slproxy
# Three namespaces for slproxy (tests/integration/test_slproxy*.sh,
# bench/bench_proxy.sh): the client and sltcp namespaces as above (slproxy
# owns vsrv through AF_PACKET), plus a back-end namespace sl$$-bk reached
# over a kernel veth from the sltcp namespace:
#
#   sl$$-cli  vcli 198.18.0.1 <-> vsrv (slproxy 198.18.0.2)  sl$$-srv
#   sl$$-srv  vpx  198.19.0.1 <-> vbk  198.19.0.2, .3         sl$$-bk (nginx)
BK_NS="sl$$-bk"
BK_IP=198.19.0.2
BK_IP2=198.19.0.3
PX_KIP=198.19.0.1

# topo3_up: topo_up, then the back-end namespace and its veth.
topo3_up() {
  topo_up
  ip netns add "$BK_NS" || die "ip netns add $BK_NS failed"
  _SL_NETNS+=("$BK_NS")
  ip link add vpx netns "$SRV_NS" type veth peer name vbk netns "$BK_NS" ||
    die "cannot create the back-end veth pair"
  _sl_ns_common "$SRV_NS" vpx || die "cannot configure vpx"
  _sl_ns_common "$BK_NS" vbk || die "cannot configure $BK_NS"
  ip -n "$SRV_NS" addr add "$PX_KIP/24" dev vpx || die "cannot address vpx"
  ip -n "$BK_NS" addr add "$BK_IP/24" dev vbk || die "cannot address vbk"
  ip -n "$BK_NS" addr add "$BK_IP2/24" dev vbk || die "cannot address vbk"
  wait_for "ip -n $BK_NS link show vbk | grep -q LOWER_UP" 5 || die "back-end veth did not come up"
  log "back ends: $SRV_NS/vpx $PX_KIP <-> $BK_NS/vbk $BK_IP, $BK_IP2 (kernel TCP)"
}

# start_slproxy [EXTRA_ARGS...]: slproxy in the sltcp namespace on vsrv,
# with the same bookkeeping as start_slhttpd (SLHTTPD_PID, SLHTTPD_LOG,
# SLHTTPD_STATS: slhttpd_stats, run_in's watch and stop_slhttpd apply).
start_slproxy() {
  [[ -z $SLHTTPD_PID ]] || die "start_slproxy: already running (pid $SLHTTPD_PID)"
  [[ -x $SL_BUILD/slproxy ]] || die "slproxy not found at $SL_BUILD/slproxy (build first)"
  _SL_SRV_N=$((_SL_SRV_N + 1))
  local tag=slproxy$_SL_SRV_N
  SLHTTPD_READY=$WORK/$tag.ready
  SLHTTPD_STATS=$WORK/$tag.stats
  rm -f "$SLHTTPD_READY" "$SLHTTPD_STATS"
  bg_start "$tag" "$SRV_NS" "$SL_BUILD/slproxy" --dev "packet:$SRV_IF" \
    --addr "$SRV_IP/$NET_LEN" --port "$SL_PORT" \
    --stats-file "$SLHTTPD_STATS" --ready-file "$SLHTTPD_READY" "$@"
  SLHTTPD_PID=$BG_PID
  SLHTTPD_LOG=$WORK/$tag.log
  if ! wait_for "[[ -e $SLHTTPD_READY ]] || ! _sl_alive $SLHTTPD_PID" 15 ||
    ! _sl_alive "$SLHTTPD_PID"; then
    cat "$SLHTTPD_LOG" >&2
    die "slproxy did not start"
  fi
}

# kill9_slproxy: SIGKILL the running slproxy and reap it.
kill9_slproxy() {
  kill -KILL "$SLHTTPD_PID" 2>/dev/null
  wait "$SLHTTPD_PID" 2>/dev/null
  _sl_forget "$SLHTTPD_PID"
  SLHTTPD_PID=
}
