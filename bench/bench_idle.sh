#!/usr/bin/env bash
# Idle-connection memory benchmark (externalized state): resident
# memory per idle connection with idle eviction on. A benchmark, not a test:
# not in ctest, never fails on numbers (it exits non-zero only if the run
# itself could not be done: connections refused, evictions that never came).
#
# usage: bench/bench_idle.sh [N]          (N default 100000)
#
# Topology from tests/integration/lib.sh (198.18.0.0/15 only): kernel TCP
# clients in sl$$-cli, slhttpd in sl$$-srv owning vsrv via AF_PACKET.
# One client address gives at most ~51k ports (lib sets ip_local_port_range
# 10000-60999 in the client namespace), so the client gets one address per
# 40k connections on vcli (198.18.0.1, then .3, .4, ...), used round-robin,
# each with explicit source ports from 10000 up (the kernel's own port
# choice searches the range on every connect and slowed opening to a few
# hundred connections per second past ~60k). RLIMIT_NOFILE: raised for the
# client if allowed; without CAP_SYS_RESOURCE the hard limit stays (20000
# here) and the client splits the connections over several processes.
#
# slhttpd --store shm:NAME?slots=2N+4096 (or BENCH_STORE=redis:
# --store redis://127.0.0.1:6379, redis-server on the server namespace's
# loopback, no persistence) --durability sync --store-key KEY
# --evict-idle 2000 --sndbuf 16384 --rcvbuf 16384 --max-conns N+1024.
# (Small buffers: with the default 512K/256K every ring is its own mmap and
# 100k connections would exceed vm.max_map_count.)
#
# Phases (bench/py/idle_many.py is the client):
#  1. N connections are opened, each makes one GET of a 1 KiB file and goes
#     idle. slhttpd's RssAnon (RssFile, RssShmem apart) is sampled during
#     the opening (peak, with how many connections were in memory then) and
#     read when all N have had their answer. Eviction (2 s idle) starts
#     while the client is still opening, unless it opens N in under 2 s:
#     the numbers say how many were in memory at each point.
#  2. wait until persist_evicted >= N and RssAnon has settled (slhttpd
#     malloc_trims once a second after evictions); measure again.
#  3. the store's share: shm: allocated size of /dev/shm/NAME (du -k vs
#     du -k --apparent-size; the file is sparse) and the Rss of its mapping
#     in slhttpd; redis: redis-server's RSS and INFO used_memory, DBSIZE.
#  4. a sample (BENCH_SAMPLE, 1000) of the connections sends a second
#     request; each must be answered (restore_on_demand).
# Then a table: bytes per idle connection in slhttpd, in the store, total.
#
# Environment: BENCH_STORE=shm|redis (shm), BENCH_SAMPLE=1000,
# BENCH_WINDOW=1000 (connections the client has in progress at once),
# BENCH_EVICT_MS=2000, SL_BUILD (./build), SL_KEEP=1 (keep the work dir).
# Needs root. Touches no sysctl outside the two namespaces it creates
# (fs.nr_open / fs.file-max are only checked). Cleans up namespaces, processes and
# /dev/shm/NAME on any exit.
# shellcheck disable=SC2119 # lib helpers take optional arguments
SL_TEST_BUDGET=${SL_TEST_BUDGET:-900}
TEST_NAME=bench_idle
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
need_cmd python3 du awk ping

N=${1:-100000}
if ! [[ $N =~ ^[0-9]+$ ]] || ((N == 0)); then die "usage: $0 [N]"; fi
STORE=${BENCH_STORE:-shm}
SAMPLE=${BENCH_SAMPLE:-1000}
WINDOW=${BENCH_WINDOW:-1000}
EVICT_MS=${BENCH_EVICT_MS:-2000}
PER_ADDR=40000
T_START=$EPOCHREALTIME
case $STORE in
  shm) ;;
  redis) need_cmd redis-server redis-cli ;;
  *) die "BENCH_STORE: expected shm or redis, got '$STORE'" ;;
esac

# ---------------------------------------------------------------- limits
nr_open=$(cat /proc/sys/fs/nr_open)
file_max=$(cat /proc/sys/fs/file-max)
read -r file_used _ < /proc/sys/fs/file-nr
log "N=$N store=$STORE; limits: fs.nr_open $nr_open, fs.file-max $file_max ($file_used in use)," \
  "vm.max_map_count $(cat /proc/sys/vm/max_map_count), RLIMIT_NOFILE here $(ulimit -Sn)/$(ulimit -Hn)"
((N + 1024 <= nr_open)) || die "fs.nr_open ($nr_open) is below N+1024: one process cannot hold N sockets (not changed here)"
((file_used + N + 4096 <= file_max)) || die "fs.file-max ($file_max, $file_used in use) leaves no room for N sockets (not changed here)"

bin=${SLHTTPD_CMD[0]}
log "slhttpd binary $bin: built $(date -r "$bin" '+%F %T' 2>/dev/null), sha256 $(sha256sum "$bin" 2>/dev/null | cut -c1-12);" \
  "source tree $(git -C "$SL_SRC" describe --always --dirty 2>/dev/null || echo '?')"

# ---------------------------------------------------------------- topology
topo_up
NADDR=$(((N + PER_ADDR - 1) / PER_ADDR))
SRCS=$CLI_IP
for ((i = 1; i < NADDR; i++)); do
  a=198.18.0.$((i + 2))
  ip -n "$CLI_NS" addr add "$a/$NET_LEN" dev "$CLI_IF" || die "cannot add $a to $CLI_IF"
  SRCS+=",$a"
done
log "client source addresses: $SRCS (round-robin), source ports 10000-$((10000 + (N + NADDR - 1) / NADDR - 1)) on each"
make_file small.bin 1K
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key")

SHM_NAME=slidle$$
# the store file goes on any exit: normal (EXIT), INT/TERM (lib's handler
# clears the EXIT trap, so it is removed here first, after the processes
# are stopped), and SIGKILL of this script (a guard that outlives us by at
# most a second; lib's watchdog takes care of namespaces and processes)
trap 'cleanup; rm -f "/dev/shm/$SHM_NAME"' EXIT
trap 'cleanup >&"$_SL_OUT" 2>&"$_SL_ERR"; rm -f "/dev/shm/$SHM_NAME"; _sl_on_signal INT 2' INT
trap 'cleanup >&"$_SL_OUT" 2>&"$_SL_ERR"; rm -f "/dev/shm/$SHM_NAME"; _sl_on_signal TERM 15' TERM
(
  trap '' INT TERM
  while [[ -d /proc/$$ ]]; do sleep 1; done
  rm -f "/dev/shm/$SHM_NAME"
) </dev/null >/dev/null 2>&1 &
REDIS_PID=
if [[ $STORE == redis ]]; then
  mkdir -p "$WORK/redis"
  bg_start redis "$SRV_NS" redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
    --dir "$WORK/redis"
  REDIS_PID=$BG_PID
  wait_for "in_srv redis-cli -p 6379 ping 2>/dev/null | grep -q PONG" 10 || die "redis-server did not start"
  STORE_ARG=redis://127.0.0.1:6379
else
  STORE_ARG="shm:$SHM_NAME?slots=$((2 * N + 4096))"
fi

# ---------------------------------------------------------------- helpers
# status_kib PID FIELD: a /proc/PID/status field (RssAnon, RssFile,
# RssShmem, VmRSS) in KiB
status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }
rss() { status_kib "$SLHTTPD_PID" RssAnon; }
# shm_alloc_kib / shm_apparent_kib: the store file's allocated / nominal size
shm_alloc_kib() { du -k "/dev/shm/$SHM_NAME" | cut -f1; }
shm_apparent_kib() { du -k --apparent-size "/dev/shm/$SHM_NAME" | cut -f1; }
# shm_map_rss_kib: Rss of the store's mapping in slhttpd (smaps)
shm_map_rss_kib() {
  awk -v p="/dev/shm/$SHM_NAME" '$NF == p { m = 1; next }
    /^[0-9a-f]+-[0-9a-f]+ / { m = 0 }
    m && $1 == "Rss:" { s += $2 } END { print s + 0 }' "/proc/$SLHTTPD_PID/smaps"
}
redis_info() { in_srv redis-cli -p 6379 info memory | tr -d '\r' | awk -F: -v k="$1" '$1 == k { print $2 }'; }
redis_dbsize() { in_srv redis-cli -p 6379 dbsize | tr -d '\r'; }
store_snapshot() { # PREFIX: sets S[PREFIX.*]
  if [[ $STORE == shm ]]; then
    S[$1.alloc]=$(shm_alloc_kib)
    S[$1.apparent]=$(shm_apparent_kib)
    S[$1.maprss]=$(shm_map_rss_kib)
  else
    S[$1.rss]=$(status_kib "$REDIS_PID" VmRSS)
    S[$1.used]=$(redis_info used_memory)
    S[$1.keys]=$(redis_dbsize)
  fi
}
mem_line() { # slhttpd's RSS parts, KiB
  echo "RssAnon $(rss) KiB, RssFile $(status_kib "$SLHTTPD_PID" RssFile) KiB," \
    "RssShmem $(status_kib "$SLHTTPD_PID" RssShmem) KiB"
}
kv() { awk -F= -v k="$1" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$2"; }
# per PRE_KIB POST_KIB COUNT: bytes per item
per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n; else print "-" }'; }
declare -A S

# ---------------------------------------------------------------- server
start_slhttpd --store "$STORE_ARG" --durability sync --store-key "$WORK/store.key" \
  --evict-idle "$EVICT_MS" --sndbuf 16384 --rcvbuf 16384 --max-conns $((N + 1024)) --quiet
# let the server learn every client address (ARP) before the SYNs come
for a in ${SRCS//,/ }; do
  in_cli ping -q -c1 -W2 -I "$a" "$SRV_IP" >/dev/null || log "ping from $a got no answer"
done
rss0=$(rss)
log "slhttpd at start: $(mem_line)"
store_snapshot s0
[[ $STORE == shm ]] && log "shm store at start: ${S[s0.alloc]} KiB allocated of ${S[s0.apparent]} KiB nominal"
[[ $STORE == redis ]] && log "redis at start: VmRSS ${S[s0.rss]} KiB, used_memory ${S[s0.used]} B, ${S[s0.keys]} keys"

# ---------------------------------------------------------------- phase 1
# Sampler: RssAnon and the stack's in-memory count (SIGUSR1 stats) while
# the client opens; the main shell only waits for the ready file meanwhile.
SAMPLES=$WORK/samples
: >"$SAMPLES"
T1=$EPOCHREALTIME
(
  trap 'exit 0' TERM
  while :; do
    r=$(rss)
    f=$(slhttpd_stats) || exit 0
    # (counters that are 0 are absent from the stats file)
    c=$(stat_get conns_open "$f") e=$(stat_get persist_evicted "$f")
    echo "$(elapsed "$T1") $r ${c:-0} ${e:-0}" >>"$SAMPLES"
    sleep 0.2
  done
) &
SAMPLER=$!
_SL_PIDS+=("$SAMPLER")
bg_start idle "$CLI_NS" python3 "$SL_SRC/bench/py/idle_many.py" --host "$SRV_IP" --port "$SL_PORT" \
  --path /small.bin --length 1024 -n "$N" --src "$SRCS" --ready "$WORK/ready" --go "$WORK/go" \
  --done "$WORK/done" --sample "$SAMPLE" --window "$WINDOW" --timeout 300 --port-base 10000
CPID=$BG_PID
wait_for "[[ -e $WORK/ready ]] || ! _sl_alive $CPID || ! _sl_alive $SLHTTPD_PID" 330
kill -TERM "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
_sl_forget "$SAMPLER"
_sl_check_slhttpd_alive || die "slhttpd died while the connections were opened"
[[ -e $WORK/ready ]] || die "client failed: $(tail -n 3 "$WORK/idle.log")"
opened=$(kv opened "$WORK/ready")
failed=$(kv failed "$WORK/ready")
open_secs=$(kv secs "$WORK/ready")
rss1=$(rss)
f=$(slhttpd_stats) || die "no stats from slhttpd"
inmem1=$(stat_get conns_open "$f")
inmem1=${inmem1:-0}
ev1=$(stat_get persist_evicted "$f")
ev1=${ev1:-0}
log "phase 1: $opened of $N open and idle in ${open_secs}s ($failed failed$( ((failed)) && echo ": $(kv first_err "$WORK/ready")"))"
log "phase 1: slhttpd $(mem_line); $inmem1 connection(s) in memory, $ev1 already evicted"
echo "$(elapsed "$T1") $rss1 $inmem1 $ev1" >>"$SAMPLES"
# the sample with the highest RssAnon: peak, and how many were in memory then
read -r pk_t pk_rss pk_inmem pk_ev _ < <(sort -k2,2n "$SAMPLES" | tail -n1)
read -r mx_inmem < <(awk '$3 > m { m = $3 } END { print m + 0 }' "$SAMPLES")
# the sample with the most connections in memory before the first eviction:
# RssAnon there is all connections, no freed-but-not-yet-trimmed heap
read -r pe_t pe_rss pe_inmem _ < <(awk '$4 == 0 && $3 >= m { m = $3; l = $0 } END { print l }' "$SAMPLES")
log "phase 1: peak RssAnon ${pk_rss:-?} KiB at ${pk_t:-?}s with ${pk_inmem:-?} in memory ($pk_ev evicted); at most $mx_inmem in memory at once ($(wc -l <"$SAMPLES") samples)"
log "phase 1: before the first eviction: RssAnon ${pe_rss:-?} KiB at ${pe_t:-?}s with ${pe_inmem:-?} in memory"
((opened == N)) || log "WARNING: only $opened of $N connections opened; per-connection numbers use $opened"
NOPEN=$opened
((NOPEN > 0)) || die "no connection opened"

# ---------------------------------------------------------------- phase 2
T2=$EPOCHREALTIME
_all_evicted() { local f v; f=$(slhttpd_stats) || return 1; v=$(stat_get persist_evicted "$f"); ((${v:-0} >= NOPEN)); }
if ! wait_for _all_evicted $((60 + NOPEN / 500)); then
  f=$(slhttpd_stats)
  log "eviction incomplete: persist_evicted $(stat_get persist_evicted "$f") of $NOPEN," \
    "conns_open $(stat_get conns_open "$f"), http_idle_closed $(stat_get http_idle_closed "$f")"
  die "not every idle connection was evicted"
fi
evict_secs=$(elapsed "$T2")
wait_for "f=\$(slhttpd_stats) && [[ \$(stat_get http_evicted \$f) -ge $NOPEN ]]" 10
# settle: slhttpd malloc_trims at its next 1 s tick after evictions
prev=$(rss)
_settled() { local r; sleep 1.2; r=$(rss); ((r >= prev)) && return 0; prev=$r; return 1; }
wait_for _settled 15
rss2=$(rss)
f=$(slhttpd_stats)
ev2=$(stat_get persist_evicted "$f")
inmem2=$(stat_get conns_open "$f")
inmem2=${inmem2:-0}
idle_closed=$(stat_get http_idle_closed "$f")
log "phase 2: all evicted ($ev2) ${evict_secs}s after phase 1 ended; slhttpd $(mem_line); $inmem2 in memory"

# ---------------------------------------------------------------- phase 3
store_snapshot s2
if [[ $STORE == shm ]]; then
  log "phase 3: shm store /dev/shm/$SHM_NAME: ${S[s2.alloc]} KiB allocated (${S[s0.alloc]} at start)" \
    "of ${S[s2.apparent]} KiB nominal; its mapping's Rss in slhttpd ${S[s2.maprss]} KiB"
  store_total_kib=${S[s2.alloc]}
  store_pre_kib=${S[s0.alloc]}
else
  log "phase 3: redis-server VmRSS ${S[s2.rss]} KiB (${S[s0.rss]} at start), used_memory" \
    "${S[s2.used]} B (${S[s0.used]} at start), ${S[s2.keys]} keys"
  store_total_kib=${S[s2.rss]}
  store_pre_kib=${S[s0.rss]}
fi
rec_bytes=$(awk '$1 == "persist_records" { r = $2 } $1 == "persist_bytes" { b = $2 }
  END { if (r) printf "%.0f", b / r; else print "-" }' "$f")

# ---------------------------------------------------------------- phase 4
back0=$(stat_get restore_on_demand "$f")
back0=${back0:-0}
touch "$WORK/go"
wait_for "[[ -e $WORK/done ]] || ! _sl_alive $CPID" 330
[[ -e $WORK/done ]] || die "client failed in phase 4: $(tail -n 3 "$WORK/idle.log")"
s_n=$(kv sample "$WORK/done")
s_ok=$(kv ok "$WORK/done")
s_bad=$(kv bad "$WORK/done")
s_secs=$(kv secs "$WORK/done")
f=$(slhttpd_stats)
back=$(stat_get restore_on_demand "$f")
back=$((${back:-0} - back0))
rss3=$(rss)
log "phase 4: second request on $s_n connections: $s_ok answered, $s_bad not$( ((s_bad)) && echo " ($(kv first_err "$WORK/done"))") in ${s_secs}s;" \
  "restore_on_demand +$back; slhttpd $(mem_line)"

# ---------------------------------------------------------------- end
cp "$f" "$WORK/final.stats"
stop_slhttpd >/dev/null
stop_pid "$CPID" TERM 30
[[ -n $REDIS_PID ]] && stop_pid "$REDIS_PID"
f=$WORK/final.stats
log "slhttpd counters that matter here (final):"
for k in tcp_passive_opens tcp_established tcp_rst_tx tcp_rst_rx tcp_retransmits tcp_rto_fired \
  drop_rx_ring_full drop_tx_ring_full drop_tcp_max_conns drop_tcp_nomem drop_tcp_backlog_full \
  tcp_syncookies_sent tcp_syncookies_ok drop_tx_hold_full persist_records persist_deletes \
  persist_store_errors persist_stalled_iters persist_evicted restore_on_demand restore_bad_record \
  restore_store_error restore_lookup_miss restore_lookup_limited http_idle_closed http_conn_errors; do
  v=$(stat_get "$k" "$f")
  printf '  %-26s %s\n' "$k" "${v:-0}"
done

runtime=$(elapsed "$T_START")
slh_idle=$(per "$rss0" "$rss2" "$NOPEN")
store_inc=$(per "$store_pre_kib" "$store_total_kib" "$NOPEN")
if [[ $STORE == shm ]]; then
  # every slot (2N+4096, sized for N) is touched at start-up: all of it
  # is the flows' cost
  store_flow=$(per 0 "$store_total_kib" "$NOPEN")
else
  store_flow=$store_inc # redis-server's own start-up RSS is not per flow
fi
inmem_cost=$(per "$rss0" "${pe_rss:-0}" "${pe_inmem:-0}")
if [[ $inmem_cost == - ]]; then
  freed=- all_kib=- all_how="no sample before the first eviction"
else
  freed=$((inmem_cost - slh_idle))
  if ((pe_inmem == NOPEN)); then
    all_kib=$pe_rss all_how="measured: all $NOPEN in memory, none evicted yet"
  else
    all_kib="~$((rss0 + NOPEN * inmem_cost / 1024))"
    all_how="extrapolated, start + N x per in-memory connection: eviction began with $pe_inmem of $NOPEN open"
  fi
fi
total=$((slh_idle + store_flow))
echo
echo "### bench_idle: N=$N, store $STORE ($STORE_ARG), evict-idle ${EVICT_MS} ms, 16 KiB buffers"
echo
echo "| quantity | value |"
echo "|---|---|"
echo "| connections opened / failed | $NOPEN / $failed (in ${open_secs}s; ${evict_secs}s more until all evicted) |"
echo "| slhttpd RssAnon at start | $rss0 KiB |"
echo "| slhttpd RssAnon before the first eviction | ${pe_rss:--} KiB with ${pe_inmem:--} in memory (at ${pe_t:--}s) |"
echo "| slhttpd RssAnon, highest sample while opening | $pk_rss KiB with $pk_inmem in memory, $pk_ev evicted (most in memory at once: $mx_inmem) |"
echo "| slhttpd RssAnon, all $NOPEN answered | $rss1 KiB with $inmem1 in memory, $ev1 already evicted |"
echo "| slhttpd RssAnon with all $NOPEN in memory | $all_kib KiB ($all_how) |"
echo "| slhttpd RssAnon after eviction | $rss2 KiB, $inmem2 in memory, persist_evicted $ev2 |"
echo "| slhttpd bytes per in-memory connection (before eviction - start) / in memory | $inmem_cost |"
echo "| slhttpd bytes freed per evicted connection (in-memory - idle) | $freed |"
echo "| **slhttpd bytes per idle connection** (after - start) / N | **$slh_idle** |"
if [[ $STORE == shm ]]; then
  echo "| shm region allocated at start / after | ${S[s0.alloc]} / ${S[s2.alloc]} KiB (nominal ${S[s2.apparent]} KiB, $((2 * N + 4096)) slots) |"
  echo "| shm mapping Rss in slhttpd after | ${S[s2.maprss]} KiB |"
  echo "| **store bytes per flow** (allocated / N) | **$store_flow** (added by the flows: $store_inc) |"
else
  echo "| redis-server VmRSS at start / after | ${S[s0.rss]} / ${S[s2.rss]} KiB |"
  echo "| redis used_memory at start / after | ${S[s0.used]} / ${S[s2.used]} B, ${S[s2.keys]} keys |"
  echo "| redis used_memory per flow | $(awk -v a="${S[s0.used]}" -v b="${S[s2.used]}" -v n="$NOPEN" 'BEGIN { printf "%.0f", (b - a) / n }') |"
  echo "| **store bytes per flow** (redis VmRSS after - at start) / N | **$store_flow** (VmRSS after / N: $(per 0 "$store_total_kib" "$NOPEN")) |"
fi
echo "| record size (persist_bytes / persist_records) | $rec_bytes B |"
echo "| **total per idle connection** (slhttpd + store) | **$total** |"
echo "| second request on a sample | $s_ok of $s_n answered in ${s_secs}s, restore_on_demand +$back; RssAnon then $rss3 KiB |"
echo "| http_idle_closed (60 s idle timeout) | ${idle_closed:-0} |"
echo "| runtime | ${runtime}s |"
echo
echo "| N | store | RssAnon start | all N in memory | after eviction | B/in-memory conn | B freed/conn | B/idle conn slhttpd | store B/flow | total B/idle conn | sample back | runtime |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
echo "| $NOPEN | $STORE | $rss0 KiB | $all_kib KiB | $rss2 KiB | $inmem_cost | $freed | $slh_idle | $store_flow | $total | $s_ok/$s_n | ${runtime}s |"
