#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317 # lib helpers take optional arguments; wait_for conditions
# Move (externalized state): a download started on instance A in namespace X is
# finished by instance B in namespace Y after A is killed, through Redis.
#
# The client is unmodified kernel TCP (curl, python http.client) in its own
# namespace C, on a bridge that reaches both server namespaces. A and B both
# own 198.18.0.2/24 (sltcp via AF_PACKET, no kernel address on that side);
# only one runs at a time. Their connection state lives in one redis-server
# in namespace R, which each reaches over its own routed link
# (--durability sync: no segment leaves before its state is in Redis; the
# same 32-byte --store-key for every instance).
#
#   netns sl$$-mvr (R): redis-server bound to 198.19.0.1 and 198.19.0.5
#     rx 198.19.0.1/30 ---veth--- xr 198.19.0.2/30 (in X)
#     ry 198.19.0.5/30 ---veth--- yr 198.19.0.6/30 (in Y)
#
#   netns sl$$-srv (X)             netns sl$$-cli (C)            netns sl$$-mvy (Y)
#   +-------------------+      +------------------------+      +-------------------+
#   | vx (no kernel     |<---->| cx  br0 198.18.0.1/24  |<---->| vy (no kernel     |
#   |  address): sltcp  | veth |     cy                 | veth |  address): sltcp  |
#   |  198.18.0.2/24    |      | curl, python, tcpdump  |      |  198.18.0.2/24    |
#   | store redis://    |      +------------------------+      | store redis://    |
#   |   198.19.0.1:6379 |                                      |   198.19.0.5:6379 |
#   +-------------------+                                      +-------------------+
#
# Phase 1 (X -> Y): A serves a rate-limited 200 MB curl download; once it
#   is well under way A is SIGKILLed, and after a pause (failure detection;
#   it also lets the client's ARP entry for .2 age past the kernel's 1 s
#   locktime, so B's ARP request updates it: client sysctls are untouched)
#   B starts in Y, restores the flow from Redis at start-up and finishes it.
# Phase 2 (Y -> X, the same move the other way): B serves two 200 MB
#   downloads and a python http.client keep-alive loop (one connection, every
#   body checked, a reconnect fails it); B is SIGKILLed mid-transfer and A2
#   in X takes all three connections over. (The other way round because the
#   client's ARP entry now points at B: a new owner announces itself only
#   through the ARP request it sends before its first retransmission.)
# Pass: every sha256 matches, every client exits 0, the keep-alive loop
#   completed requests before and after the move on its one connection, the
#   new owner restored every flow it found at start-up ("restored N of N",
#   restore_ok, restore_startup) and sent no RST (tcp_rst_tx), and no RST
#   reaches the client (tcpdump on br0 in C; the capture must also show the
#   server's SYN-ACKs, so that it provably sees the server's packets).
# Informational: how long each client connection saw no new data across a
#   move (ss in C every 50 ms), counters, store keys.
# Cleanup: every process is ours by PID, every namespace sl$$-*; the EXIT
#   trap removes them; if the script is SIGKILLed, the lib's watchdog and a
#   guard of our own do. Only 198.18.0.0/15 and loopback are used.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-300}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
[[ $SL_SELFTEST == 1 ]] && skip_all "needs the real slhttpd (store, restore)"
[[ $(id -u) -eq 0 ]] || die "integration tests need root (network namespaces)"
need_cmd ip curl sha256sum openssl python3 tcpdump redis-server redis-cli

MOVE_SIZE=${MOVE_SIZE:-200M}
MOVE_RATE1=${MOVE_RATE1:-30M}   # phase 1 curl --limit-rate
MOVE_RATE2=${MOVE_RATE2:-20M}   # phase 2, per download
MOVE_PAUSE=${MOVE_PAUSE:-1.5}   # kill -> start of the new owner
CURL_MAX=${CURL_MAX:-100}       # curl --max-time per download
REDIS_PORT=6379

# Namespaces: X and C reuse the lib's names (its watchdog knows them), Y and
# R are ours as well; all are deleted by the EXIT trap (topo_down).
NS_X=$SRV_NS
NS_C=$CLI_NS
NS_Y=sl$$-mvy
NS_R=sl$$-mvr
MOVE_NS=("$NS_X" "$NS_C" "$NS_Y" "$NS_R")

# ---------------------------------------------------------------- topology

# If we are SIGKILLed (no EXIT trap), the lib's watchdog cleans up X and C
# only: this guard does the same for Y and R. Registered in _SL_PIDS, so a
# normal cleanup simply stops it (topo_down then deletes every namespace).
_move_guard_start() {
  local main=$$
  (
    trap 'exit 0' TERM
    trap '' INT PIPE
    exec >/dev/null 2>&1 </dev/null
    while _sl_alive "$main"; do
      sleep 1 &
      wait $!
    done
    for sig in TERM KILL; do
      for ns in "$NS_Y" "$NS_R"; do
        mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
        ((${#pids[@]})) && kill -"$sig" "${pids[@]}"
      done
      [[ $sig == TERM ]] && sleep 2
    done
    ip netns del "$NS_Y"
    ip netns del "$NS_R"
  ) &
  _SL_PIDS+=("$!")
}

_move_ns_quiet() { # NS: no IPv6 (no RS/DAD/MLD noise), lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1 >/dev/null &&
    ip -n "$1" link set lo up
}

move_topo_up() {
  local ns
  _move_guard_start
  for ns in "${MOVE_NS[@]}"; do
    ip netns add "$ns" || die "ip netns add $ns failed"
    _SL_NETNS+=("$ns")
    _move_ns_quiet "$ns" || die "cannot configure $ns"
  done
  # client side: bridge with the client's address, one port per server ns
  ip -n "$NS_C" link add br0 type bridge stp_state 0 forward_delay 0 ||
    die "cannot create br0"
  ip link add cx netns "$NS_C" type veth peer name vx netns "$NS_X" || die "veth C-X"
  ip link add cy netns "$NS_C" type veth peer name vy netns "$NS_Y" || die "veth C-Y"
  # store side: routed /30 links to R
  ip link add rx netns "$NS_R" type veth peer name xr netns "$NS_X" || die "veth R-X"
  ip link add ry netns "$NS_R" type veth peer name yr netns "$NS_Y" || die "veth R-Y"
  for ns in "${MOVE_NS[@]}"; do # the new links inherit default.disable_ipv6 only
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null
  done
  local l ns_ dev addr
  for l in "$NS_C cx" "$NS_C cy"; do
    read -r ns_ dev <<<"$l"
    ip -n "$ns_" link set "$dev" master br0 || die "cannot add $dev to br0"
  done
  ip -n "$NS_C" addr add 198.18.0.1/24 dev br0 || die "cannot address br0"
  for l in "$NS_R rx 198.19.0.1/30" "$NS_R ry 198.19.0.5/30" "$NS_X xr 198.19.0.2/30" \
    "$NS_Y yr 198.19.0.6/30"; do
    read -r ns_ dev addr <<<"$l"
    ip -n "$ns_" addr add "$addr" dev "$dev" || die "cannot address $dev in $ns_"
  done
  # vx and vy: no kernel address (sltcp owns them)
  for l in "$NS_C cx" "$NS_C cy" "$NS_C br0" "$NS_X vx" "$NS_Y vy" "$NS_R rx" "$NS_R ry" \
    "$NS_X xr" "$NS_Y yr"; do
    read -r ns_ dev <<<"$l"
    ip -n "$ns_" link set "$dev" up || die "cannot set $dev up in $ns_"
  done
  for l in "$NS_C cx" "$NS_C cy" "$NS_X vx" "$NS_Y vy" "$NS_R rx" "$NS_R ry"; do
    read -r ns_ dev <<<"$l"
    wait_for "ip -n $ns_ link show $dev | grep -q LOWER_UP" 5 || die "$dev in $ns_ did not come up"
  done
  wait_for "ip -n $NS_C link show br0 | grep -q 'state UP'" 5 || die "br0 did not come up"
  log "topology up: $NS_C br0 198.18.0.1/24 -- $NS_X/vx | $NS_Y/vy (198.18.0.2, sltcp);" \
    "redis in $NS_R at 198.19.0.1 ($NS_X) / 198.19.0.5 ($NS_Y)"
}

# ---------------------------------------------------------------- helpers

# start_on NS IFACE REDIS_IP: slhttpd (the lib's start_slhttpd) in NS.
start_on() {
  SRV_NS=$1
  SRV_IF=$2
  start_slhttpd --store "redis://$3:$REDIS_PORT" --durability sync \
    --store-key "$WORK/store.key"
  log "slhttpd pid $SLHTTPD_PID is up in $SRV_NS (dev packet:$SRV_IF, store $3)"
}

# kill_server: SIGKILL the running slhttpd and reap it (disowned first, so
# that bash does not print a "Killed" job notice).
kill_server() {
  local pid=$SLHTTPD_PID
  disown "$pid" 2>/dev/null
  kill -KILL "$pid" 2>/dev/null
  wait_for "! _sl_alive $pid" 10 || die "slhttpd pid $pid survived SIGKILL"
  wait "$pid" 2>/dev/null
  _sl_forget "$pid"
  SLHTTPD_PID=
  log "SIGKILLed slhttpd pid $pid in $SRV_NS"
}

fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

# The store's view: sl:* keys in Redis (informational).
redis_keys() {
  ip netns exec "$NS_R" redis-cli -h 198.19.0.1 -p "$REDIS_PORT" --scan --pattern 'sl:*' 2>/dev/null |
    wc -l
}

# sampler_start OUT STOPFILE: every 50 ms, for each of the client's
# established connections to the server (ss in C): "time local_port
# bytes_received lastrcv_ms unacked backoff" into OUT, until STOPFILE
# exists (or we are gone). The client's own view of the move
# (informational). Sets SAMPLER_PID.
sampler_start() {
  local out=$1 stop=$2 main=$$
  (
    trap 'exit 0' TERM
    exec </dev/null 2>/dev/null
    while [[ ! -e $stop && -d $WORK ]] && _sl_alive "$main"; do
      ip netns exec "$NS_C" ss -Htin state established "( dst $SRV_IP and dport = :$SL_PORT )" |
        awk -v t="$EPOCHREALTIME" '
          /^[0-9]/ { n = split($3, a, ":"); lp = a[n]; next }
          {
            br = 0; lr = 0; un = 0; bo = 0
            for (i = 1; i <= NF; i++) {
              if ($i ~ /^bytes_received:/) br = substr($i, 16)
              else if ($i ~ /^lastrcv:/) lr = substr($i, 9)
              else if ($i ~ /^unacked:/) un = substr($i, 9)
              else if ($i ~ /^backoff:/) bo = substr($i, 9)
            }
            print t, lp, br, lr, un, bo
          }'
      sleep 0.05
    done >"$out"
  ) &
  SAMPLER_PID=$!
  _SL_PIDS+=("$SAMPLER_PID")
}
sampler_stop() {
  touch "$1"
  stop_pid "$2" TERM 5
}
# stall_report OUT T_KILL T_READY: per connection, the longest time it
# received no new data (max lastrcv seen after the kill: the move, unless
# something else went wrong), when new data came again after the new owner
# was ready, and whether the client itself had unacknowledged data (a
# request) then, i.e. was waiting for its own RTO to resend it.
stall_report() {
  awk -v k="$2" -v r="$3" '
    $1 >= k && $4 > max[$2] { max[$2] = $4 }
    $1 < r { last[$2] = $3; un[$2] = $5; bo[$2] = $6; next }
    !($2 in resumed) && $3 > last[$2] { resumed[$2] = $1 - r }
    END {
      for (p in max) {
        printf "  client port %s: no new data for %.2f s; new data %s after the new owner was ready",
          p, max[p] / 1000, (p in resumed) ? sprintf("%.2f s", resumed[p]) : "never seen"
        if (un[p] > 0)
          printf " (the client had %d unacked segment(s), RTO backoff %d: it resends on its own timer)",
            un[p], bo[p]
        printf "\n"
      }
    }' "$1"
}

# capture_start: tcpdump on br0 in C, keeping every RST either way and the
# server's SYN-ACKs (proof that the capture sees the server's packets).
capture_start() {
  CAP=$WORK/ctl.pcap
  bg_start tcpdump "$NS_C" tcpdump -i br0 -n -U --immediate-mode -Z root -w "$CAP" \
    "host $SRV_IP and tcp port $SL_PORT and tcp[tcpflags] & (tcp-rst|tcp-syn) != 0"
  CAP_PID=$BG_PID
  wait_for "grep -q 'listening on' $WORK/tcpdump.log || ! _sl_alive $CAP_PID" 10
  _sl_alive "$CAP_PID" || die "tcpdump did not start in $NS_C: $(cat "$WORK/tcpdump.log")"
}
# capture_count FILTER: packets in the capture matching FILTER.
capture_count() { tcpdump -r "$CAP" -n "$1" 2>/dev/null | wc -l; }

# cnt NAME: a counter from the current stats file (it lists only non-zero
# counters: absent = 0). counters NAME...: "name=value ..." for a log line.
cnt() {
  local v
  v=$(stat_get "$1")
  echo "${v:-0}"
}
counters() {
  local k out=
  for k in "$@"; do out+="$k=$(cnt "$k") "; done
  echo "${out% }"
}

# check_restored MIN LABEL: the running slhttpd restored every flow it found
# in the store at start-up ("restored N of N", N >= MIN; restore_ok and
# restore_startup >= MIN) and sent no RST; logs its restore/persist counters.
check_restored() {
  local min=$1 label=$2 ok st rst line n m
  if ! slhttpd_stats >/dev/null; then
    fail "$label: no stats from slhttpd"
    return
  fi
  ok=$(cnt restore_ok)
  st=$(cnt restore_startup)
  rst=$(cnt tcp_rst_tx)
  line=$(grep -h 'store: restored' "$SLHTTPD_LOG" | tail -n 1)
  read -r n m < <(sed -n 's/.*store: restored \([0-9]*\) of \([0-9]*\) flow.*/\1 \2/p' <<<"$line")
  check "$label restored every flow found in the store (log: '${line:-no such line}')" \
    test -n "$n" -a "${n:-0}" = "${m:-x}" -a "${n:-0}" -ge "$min"
  log "$label counters: $(counters restore_ok restore_startup restore_on_demand \
    restore_bad_record restore_lost_race restore_store_error restore_lookup_miss \
    http_restored persist_records persist_superseded persist_store_errors \
    persist_stalled_iters tcp_retransmits tcp_tlp_probes tcp_rto_fired arp_request_tx \
    drop_arp_unresolved tcp_rst_tx)"
  check "$label restored the connection(s) from Redis at start-up (restore_ok=$ok >= $min, restore_startup=$st)" \
    test "$ok" -ge "$min" -a "$st" -ge "$min"
  check "$label sent no RST (tcp_rst_tx=$rst)" test "$rst" = 0
}

# curl_bg NAME RATE: download big.bin in C into $DL/NAME, sets BG_PID.
curl_bg() {
  bg_start "$1" "$NS_C" curl -sS --max-time "$CURL_MAX" --limit-rate "$2" \
    -o "$DL/$1" "$(srv_url big.bin)"
}

# wait_client PID...: wait until every PID has exited; if slhttpd dies
# first (nothing would ever answer), stop them at once (they then fail).
# Does not reap them: the caller's `wait PID` gets the exit status.
wait_client() {
  local p
  for p in "$@"; do
    wait_for "! _sl_alive $p || ! _sl_alive ${SLHTTPD_PID:-0}" $((CURL_MAX + 10))
    if _sl_alive "$p"; then
      log "client pid $p still running (slhttpd ${SLHTTPD_PID:-none} alive:" \
        "$(_sl_alive "${SLHTTPD_PID:-0}" && echo yes || echo no)): stopping it"
      kill -TERM "$p" 2>/dev/null
      wait_for "! _sl_alive $p" 5 || kill -KILL "$p" 2>/dev/null
    fi
  done
}

# curl_done NAME PID LABEL: reap curl, check rc 0 and sha256.
curl_done() {
  local name=$1 pid=$2 label=$3 rc got
  wait_client "$pid"
  wait "$pid" 2>/dev/null
  rc=$?
  _sl_forget "$pid"
  got=$([[ -f $DL/$name ]] && file_sha "$DL/$name")
  if [[ $rc == 0 && $got == "$(sha_of big.bin)" ]]; then
    pass "$label: curl rc 0, $(fsize "$DL/$name") bytes, sha256 ok"
  else
    fail "$label: curl rc=$rc, $(fsize "$DL/$name")/$BIG bytes, sha256 ${got:-none}"
    sed 's/^/  curl: /' "$WORK/$name.log" | head -n 3
  fi
  rm -f "$DL/$name"
}

# ---------------------------------------------------------------- setup

move_topo_up
make_file big.bin "$MOVE_SIZE"
make_file ka.bin 64K
BIG=$(size_of big.bin)
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key")

mkdir -p "$WORK/redis"
bg_start redis "$NS_R" redis-server --bind 198.19.0.1 198.19.0.5 --port "$REDIS_PORT" \
  --save '' --appendonly no --protected-mode no --dir "$WORK/redis" --daemonize no
REDIS_PID=$BG_PID
wait_for "ip netns exec $NS_X redis-cli -h 198.19.0.1 -p $REDIS_PORT ping 2>/dev/null | grep -q PONG &&
  ip netns exec $NS_Y redis-cli -h 198.19.0.5 -p $REDIS_PORT ping 2>/dev/null | grep -q PONG" 15 ||
  die "redis-server (pid $REDIS_PID) not reachable from $NS_X and $NS_Y"
log "redis-server pid $REDIS_PID in $NS_R, reachable from $NS_X and $NS_Y"

capture_start

# ---------------------------------------------------------------- phase 1

log "=== phase 1: curl download started on A ($NS_X), finished by B ($NS_Y) ==="
start_on "$NS_X" vx 198.19.0.1
curl_bg p1 "$MOVE_RATE1"
P1=$BG_PID
sampler_start "$WORK/p1.samples" "$WORK/p1.stop"
S1=$SAMPLER_PID

# well under way (a quarter of the file), still running
p1_going() { (($(fsize "$DL/p1") >= BIG / 4)) || ! _sl_alive "$P1"; }
wait_for p1_going 60 ||
  die "phase 1: download did not reach $((BIG / 4)) bytes within 60 s ($(fsize "$DL/p1") bytes)"
_sl_alive "$P1" || die "phase 1: curl ended before the kill ($(fsize "$DL/p1") bytes)"
slhttpd_stats >/dev/null && log "A counters: $(counters persist_records persist_batches persist_stalled_iters)"
at_kill=$(fsize "$DL/p1")
t_kill=$EPOCHREALTIME
kill_server
log "A killed at $at_kill of $BIG bytes; store holds $(redis_keys) sl:* key(s)"
check "phase 1: A killed mid-transfer ($at_kill/$BIG bytes, curl still running)" \
  test "$at_kill" -lt "$BIG"
sleep "$MOVE_PAUSE" # failure detection; also ages the client's ARP entry past locktime

start_on "$NS_Y" vy 198.19.0.5
t_ready=$EPOCHREALTIME
wait_client "$P1"
sampler_stop "$WORK/p1.stop" "$S1"
curl_done p1 "$P1" "phase 1: 200 MB download moved X -> Y"
log "phase 1: kill -> B ready $(awk -v a="$t_kill" -v b="$t_ready" 'BEGIN { printf "%.2f", b - a }') s" \
  "(${MOVE_PAUSE} s pause included); the client's view (ss):"
stall_report "$WORK/p1.samples" "$t_kill" "$t_ready"
check_restored 1 "phase 1: B"

# ---------------------------------------------------------------- phase 2

log "=== phase 2: two downloads + keep-alive loop started on B ($NS_Y), finished by A2 ($NS_X) ==="
cat >"$WORK/ka.py" <<'EOF'
# One http.client keep-alive connection, GET in a loop until STOPFILE
# exists; every body's sha256 checked; any error or reconnect fails (exit 1).
# The number of completed requests goes to PROGRESS (every 0.1 s).
import hashlib, http.client, os, sys, time
host, port, path, want, stop, progress = sys.argv[1:7]
conn = http.client.HTTPConnection(host, int(port), timeout=30)
n = 0
last = 0.0
def note():
    with open(progress + ".tmp", "w") as f:
        f.write(f"{n}\n")
    os.replace(progress + ".tmp", progress)
try:
    conn.connect()
    sock = conn.sock
    local = sock.getsockname()
    print(f"connected from {local[0]}:{local[1]}", flush=True)
    while not os.path.exists(stop):
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"request {n}: status {r.status}")
        if hashlib.sha256(body).hexdigest() != want:
            sys.exit(f"request {n}: body mismatch ({len(body)} bytes)")
        if conn.sock is not sock or r.will_close:
            sys.exit(f"request {n}: the connection was closed or replaced")
        n += 1
        if time.monotonic() - last > 0.1:
            note()
            last = time.monotonic()
        time.sleep(0.002)
except (OSError, http.client.HTTPException) as e:
    sys.exit(f"after {n} requests: {type(e).__name__}: {e}")
finally:
    note()
    print(f"requests={n}", flush=True)
EOF
KA_PROG=$WORK/ka.progress
KA_STOP=$WORK/ka.stop
ka_n() { cat "$KA_PROG" 2>/dev/null || echo 0; }

curl_bg p2a "$MOVE_RATE2"
P2A=$BG_PID
curl_bg p2b "$MOVE_RATE2"
P2B=$BG_PID
bg_start ka "$NS_C" python3 "$WORK/ka.py" "$SRV_IP" "$SL_PORT" /ka.bin "$(sha_of ka.bin)" \
  "$KA_STOP" "$KA_PROG"
KA=$BG_PID
sampler_start "$WORK/p2.samples" "$WORK/p2.stop"
S2=$SAMPLER_PID

p2_going() {
  (($(fsize "$DL/p2a") >= BIG / 5 && $(fsize "$DL/p2b") >= BIG / 5 && $(ka_n) >= 50)) ||
    ! _sl_alive "$P2A" || ! _sl_alive "$P2B" || ! _sl_alive "$KA"
}
wait_for p2_going 60 ||
  die "phase 2: clients not under way within 60 s (downloads $(fsize "$DL/p2a"), $(fsize "$DL/p2b") bytes, $(ka_n) requests)"
for p in "$P2A" "$P2B" "$KA"; do
  _sl_alive "$p" || die "phase 2: a client (pid $p) ended before the kill: $(cat "$WORK"/ka.log)"
done
ka_at_kill=$(ka_n)
at_a=$(fsize "$DL/p2a")
at_b=$(fsize "$DL/p2b")
t_kill=$EPOCHREALTIME
kill_server
log "B killed at $at_a + $at_b of 2 x $BIG bytes, $ka_at_kill keep-alive requests;" \
  "store holds $(redis_keys) sl:* key(s)"
sleep "$MOVE_PAUSE"

start_on "$NS_X" vx 198.19.0.1
t_ready=$EPOCHREALTIME
# the loop goes on on its one connection after the move
ka_after() { (($(ka_n) >= ka_at_kill + 100)) || ! _sl_alive "$KA"; }
wait_for ka_after 60 || log "keep-alive loop: fewer than 100 requests within 60 s of the move"
touch "$KA_STOP"
wait_client "$P2A" "$P2B"
sampler_stop "$WORK/p2.stop" "$S2"
curl_done p2a "$P2A" "phase 2: 200 MB download 1 moved Y -> X"
curl_done p2b "$P2B" "phase 2: 200 MB download 2 moved Y -> X"
wait_client "$KA"
wait "$KA" 2>/dev/null
ka_rc=$?
_sl_forget "$KA"
ka_total=$(sed -n 's/^requests=//p' "$WORK/ka.log")
if [[ $ka_rc == 0 && ${ka_total:-0} -gt $ka_at_kill && $ka_at_kill -gt 0 ]]; then
  pass "phase 2: keep-alive loop kept its connection across the move" \
    "($ka_at_kill requests before, $((ka_total - ka_at_kill)) after, every body checked)"
else
  fail "phase 2: keep-alive loop rc=$ka_rc, ${ka_total:-?} requests ($ka_at_kill before the kill):" \
    "$(grep -v '^requests=' "$WORK/ka.log" | tail -n 2)"
fi
log "phase 2: kill -> A2 ready $(awk -v a="$t_kill" -v b="$t_ready" 'BEGIN { printf "%.2f", b - a }') s" \
  "(${MOVE_PAUSE} s pause included); the client's view (ss; 2 downloads + keep-alive loop):"
stall_report "$WORK/p2.samples" "$t_kill" "$t_ready"
check_restored 3 "phase 2: A2"

# ---------------------------------------------------------------- end

stop_pid "$CAP_PID" INT 5
rst_in=$(capture_count "src host $SRV_IP and tcp[tcpflags] & tcp-rst != 0")
rst_out=$(capture_count "dst host $SRV_IP and tcp[tcpflags] & tcp-rst != 0")
synack=$(capture_count "src host $SRV_IP and tcp[tcpflags] & tcp-syn != 0")
check "the client-side capture saw the server's SYN-ACKs ($synack >= 4 connections)" \
  test "$synack" -ge 4
check "no RST reached the client (tcpdump on br0: $rst_in RST from the server)" test "$rst_in" = 0
check "the client sent no RST either (tcpdump on br0: $rst_out)" test "$rst_out" = 0
if ((rst_in + rst_out > 0)); then
  tcpdump -r "$CAP" -n -tt "tcp[tcpflags] & tcp-rst != 0" 2>/dev/null | head -n 10 | sed 's/^/  /'
fi
log "store after the test: $(redis_keys) sl:* key(s)"
stop_slhttpd
stop_pid "$REDIS_PID"
summary
