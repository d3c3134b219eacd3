#!/usr/bin/env bash
# Concurrent-connection benchmark: slhttpd vs kernel nginx under
#   wrk -t2 -cN -d${BENCH_SECS}s --timeout 5s --latency   (1 KB file)
# for N in $BENCH_CONNS; wrk opens all N connections at once when it
# starts. Reports req/s, p50/p99 latency and errors (socket errors incl.
# timeouts, non-2xx) per N and server. Not a test (not in ctest); the
# suite's test_load.sh runs the 5,000-connection case.
#
# Each server gets a fresh namespace pair (tests/integration/lib.sh):
# nginx (1 worker, access_log off, worker_connections raised to hold N,
# otherwise defaults) on the kernel address of vsrv; slhttpd on vsrv with
# no kernel address, with $BENCH_SLHTTPD_ARGS (default: --quiet).
#
# Environment: SL_BUILD (default ./build), BENCH_CONNS="1000 5000 10000",
# BENCH_SECS=10, BENCH_SLHTTPD_ARGS, BENCH_ONLY=nginx|slhttpd. Needs root.
# shellcheck disable=SC2119 # lib helpers take optional arguments
SL_TEST_BUDGET=${SL_TEST_BUDGET:-1800}
TEST_NAME=bench_conns
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
need_cmd wrk nginx openssl

BENCH_CONNS=${BENCH_CONNS:-1000 5000 10000}
BENCH_SECS=${BENCH_SECS:-10}
BENCH_ONLY=${BENCH_ONLY:-}
read -r -a SLARGS <<<"${BENCH_SLHTTPD_ARGS:---quiet}"
max_n=0
for n in $BENCH_CONNS; do ((n > max_n)) && max_n=$n; done

declare -A R # R[server.N] = summary row cells

# measure SERVER: every N against whatever listens on $SRV_IP:80.
measure() {
  local s=$1 n
  run_in "$CLI_NS" wrk -t1 -c10 -d1s "$(srv_url small.bin)" >/dev/null 2>&1 # warm-up
  for n in $BENCH_CONNS; do
    log "$s: wrk -t2 -c$n -d${BENCH_SECS}s --timeout 5s --latency $(srv_url small.bin)"
    wrk_load "$s-$n" "$n" "$BENCH_SECS" "$(srv_url small.bin)"
    log "$s -c$n: $WRK_LINE"
    R[$s.$n]="${WRK_RPS:-n/a} | ${WRK_P50:-n/a} | ${WRK_P99:-n/a} | $WRK_ERRORS ($WRK_TIMEOUTS)"
    # let the client's closed connections settle before the next size
    wait_for "(( \$(in_cli ss -Htn state established | wc -l) == 0 ))" 30
  done
}

make_file small.bin 1K

if [[ $BENCH_ONLY != slhttpd ]]; then
  log "=== kernel nginx (1 worker, access_log off) ==="
  topo_up
  ip -n "$SRV_NS" addr add "$SRV_IP/$NET_LEN" dev "$SRV_IF" || die "cannot address $SRV_IF"
  NGINX_ACCESS_LOG=off NGINX_WORKER_CONNECTIONS=$((max_n + 1024)) \
    start_nginx nginx-conns "$SRV_NS" "$SRV_IP:80" "$ROOT"
  measure nginx
  stop_pid "$NGINX_PID" QUIT 10
  topo_down
fi

if [[ $BENCH_ONLY != nginx ]]; then
  log "=== slhttpd ${SLARGS[*]} ==="
  topo_up
  start_slhttpd "${SLARGS[@]}"
  measure slhttpd
  stop_slhttpd >/dev/null
  log "slhttpd counters:"
  print_counters
  topo_down
fi

echo
echo "## Concurrent connections: kernel nginx vs slhttpd ($(date -u +%F), $(nproc) cores, kernel $(uname -r))"
echo
echo "| connections | server | req/s | p50 ms | p99 ms | errors (timeouts) |"
echo "| ---: | --- | ---: | ---: | ---: | ---: |"
for n in $BENCH_CONNS; do
  for s in nginx slhttpd; do
    [[ -n ${R[$s.$n]:-} ]] && echo "| $n | $s | ${R[$s.$n]} |"
  done
done
echo
echo "Command (client namespace, 1 KB file): \`wrk -t2 -cN -d${BENCH_SECS}s --timeout 5s --latency http://$SRV_IP/small.bin\`"
echo "- nginx: 1 worker, access_log off, worker_connections $((max_n + 1024)), other settings default, kernel address on vsrv"
echo "- slhttpd: \`slhttpd --dev packet:vsrv --addr $SRV_IP/$NET_LEN --port 80 --root DIR ${SLARGS[*]}\`"
echo "- errors: wrk socket errors (connect, read, write, timeout) + non-2xx; no CPU pinning"
exit 0
