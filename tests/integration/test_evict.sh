#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# Idle eviction (externalized state): resident memory follows active connections, not
# open ones.
#
# EVICT_N (2000) kernel clients in sl$$-cli each open a keep-alive
# connection, make one request and go idle. slhttpd (--store shm,
# --durability sync, --evict-idle 1000) moves every idle connection out of
# memory into the store; then every client sends a second request on the
# same connection, which brings its connection back (restore on demand)
# and gets a correct response. Checks: evicted == restored == N, every
# response correct on the original connections, no RST; slhttpd's RSS is
# printed with everything in memory, after eviction and after the return.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-300}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd python3 tcpdump
N=${EVICT_N:-2000}

topo_up
make_file small.bin 4K
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key")
SHM_NAME=slevict$$
trap 'rm -f "/dev/shm/$SHM_NAME"; cleanup' EXIT
start_slhttpd --store "shm:$SHM_NAME?slots=$((4 * N + 1024))" --durability sync \
  --store-key "$WORK/store.key" --evict-idle 3000 --quiet
rst_capture_start
# resident memory of slhttpd itself (anonymous: heap, rings), KiB; the
# store's shared pages (RssShmem) are reported separately
rss() { awk '/^RssAnon/ { print $2 }' "/proc/$SLHTTPD_PID/status"; }
shm_kib() { awk '/^RssShmem/ { print $2 }' "/proc/$SLHTTPD_PID/status"; }
rss0=$(rss)

bg_start idle "$CLI_NS" python3 "$SL_LIB_DIR/py/idle_conns.py" "$SRV_IP" "$SL_PORT" /small.bin \
  4096 "$N" "$WORK/ready" "$WORK/go" 90
CPID=$BG_PID
wait_for "[[ -e $WORK/ready ]] || ! _sl_alive $CPID" 120 || die "clients did not connect"
[[ -e $WORK/ready ]] || die "clients failed: $(tail -n 3 "$WORK/idle.log")"
rss1=$(rss)
f=$(slhttpd_stats) && log "all $N open: slhttpd anonymous RSS ${rss1} KiB (${rss0} KiB at start), evicted so far $(stat_get persist_evicted "$f")"
_evicted() { local f v; f=$(slhttpd_stats) || return 1; v=$(stat_get persist_evicted "$f"); ((${v:-0} >= N)); }
wait_for _evicted 60
wait_for "f=\$(slhttpd_stats) && [[ \$(stat_get http_evicted \$f) -ge $N ]]" 10 # and trimmed
f=$(slhttpd_stats)
ev=$(stat_get persist_evicted "$f")
rss2=$(rss)
check "all $N idle connections evicted ($ev)" test "${ev:-0}" -ge "$N"
log "after eviction: slhttpd anonymous RSS ${rss2} KiB, $(stat_get conns_open "$f") connection(s) in memory; store pages mapped: $(shm_kib) KiB"
log "memory per connection in slhttpd: $(((rss1 - rss2) * 1024 / N)) bytes freed by eviction; left per evicted connection: $(((rss2 - rss0) * 1024 / N)) bytes"

touch "$WORK/go"
wait_for "! _sl_alive $CPID" 120
wait "$CPID"
rc=$?
_sl_forget "$CPID"
check "every connection came back and served its second request ($(tail -n1 "$WORK/idle.log"))" \
  test "$rc" = 0
f=$(slhttpd_stats)
rss3=$(rss)
back=$(stat_get restore_on_demand "$f")
log "after the return: slhttpd anonymous RSS ${rss3} KiB, restored on demand ${back}"
check "restored on demand: ${back:-0} of $N" test "${back:-0}" -ge "$N"
rst_capture_stop
check "no RST reached a connection the client had open (capture: $RST_COUNT; after its FIN: $RST_AFTER_CLOSE)" test "$RST_COUNT" = 0
stop_slhttpd
summary
