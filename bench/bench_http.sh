#!/usr/bin/env bash
# HTTP benchmark: slhttpd (sltcp, user space) vs kernel nginx, same veth
# namespace pair, same client tools. Not a test (not registered in ctest).
#
# Each server gets a freshly built, identical namespace pair (see
# tests/integration/lib.sh): nginx gets the kernel address 198.18.0.2/24 on
# vsrv; slhttpd gets vsrv with no kernel address (AF_PACKET). Metrics:
#   (a) keep-alive req/s, 1 KB:   wrk -t2 -c50 -d${BENCH_SECS}s
#   (b) new connections/s, 1 KB:  ab -n ${BENCH_AB_N} -c 50 (no -k)
#   (c) one-flow bulk MB/s:       curl of a ${BENCH_BULK} file to /dev/null
#       (median of ${BENCH_BULK_RUNS} runs; MB = 10^6 bytes)
# No CPU pinning: the client tools share the machine's cores with the server.
#
# Environment: SL_BUILD (default ./build), BENCH_SECS=10, BENCH_AB_N=20000,
# BENCH_BULK=1G, BENCH_BULK_RUNS=3, BENCH_ONLY=nginx|slhttpd.
# Needs root.
# shellcheck disable=SC2119 # lib helpers take optional arguments
SL_TEST_BUDGET=${SL_TEST_BUDGET:-1800}
TEST_NAME=bench
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
need_cmd wrk ab curl nginx openssl

BENCH_SECS=${BENCH_SECS:-10}
BENCH_AB_N=${BENCH_AB_N:-20000}
BENCH_BULK=${BENCH_BULK:-1G}
BENCH_BULK_RUNS=${BENCH_BULK_RUNS:-3}
BENCH_ONLY=${BENCH_ONLY:-}

WRK_CMD=(wrk -t2 -c50 "-d${BENCH_SECS}s" --timeout 5s)
AB_CMD=(ab -n "$BENCH_AB_N" -c 50 -r -s 10)
CURL_CMD=(curl -sS --max-time 300 -o /dev/null -w '%{speed_download}')

declare -A R # R[server.metric]
declare -A NOTE

# measure SERVER: run (a), (b), (c) against whatever listens on $SRV_IP:80.
measure() {
  local s=$1 out f i speeds=()
  # warm-up (ARP, page cache, server allocations)
  run_in "$CLI_NS" wrk -t1 -c10 -d1s "$(srv_url small.bin)" >/dev/null 2>&1
  run_in "$CLI_NS" "${CURL_CMD[@]}" "$(srv_url bulk.bin)" >/dev/null 2>&1

  log "$s: (a) ${WRK_CMD[*]} $(srv_url small.bin)"
  out=$WORK/$s.wrk
  run_in "$CLI_NS" "${WRK_CMD[@]}" "$(srv_url small.bin)" >"$out" 2>&1
  R[$s.rps]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  f=$(grep -E 'Socket errors|Non-2xx' "$out" | tr -s ' ' | tr '\n' ';')
  [[ -n $f ]] && NOTE[$s]+="wrk:${f} "

  log "$s: (b) ${AB_CMD[*]} $(srv_url small.bin)"
  out=$WORK/$s.ab
  run_in "$CLI_NS" timeout 600 "${AB_CMD[@]}" "$(srv_url small.bin)" >"$out" 2>&1
  R[$s.cps]=$(awk -F: '$1 == "Requests per second" { split($2, a, " "); printf "%.0f", a[1] }' "$out")
  f=$(awk -F: '$1 == "Failed requests" || $1 == "Non-2xx responses" { gsub(/ /, "", $2); if ($2 != 0) printf "%s=%s ", $1, $2 }' "$out")
  [[ -n $f ]] && NOTE[$s]+="ab: ${f}"

  log "$s: (c) ${CURL_CMD[*]} $(srv_url bulk.bin)  x$BENCH_BULK_RUNS"
  for ((i = 0; i < BENCH_BULK_RUNS; i++)); do
    speeds+=("$(run_in "$CLI_NS" "${CURL_CMD[@]}" "$(srv_url bulk.bin)" 2>>"$WORK/$s.curl.err")")
  done
  R[$s.bulk]=$(printf '%s\n' "${speeds[@]}" | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", v[int((NR + 1) / 2)] / 1e6 }')
  log "$s: wrk ${R[$s.rps]:-?} req/s, ab ${R[$s.cps]:-?} conn/s, bulk ${R[$s.bulk]:-?} MB/s (runs: ${speeds[*]} B/s)"
}

make_file small.bin 1K
make_file bulk.bin "$BENCH_BULK"

if [[ $BENCH_ONLY != slhttpd ]]; then
  log "=== kernel nginx (1 worker, sendfile on, access_log off) ==="
  topo_up
  ip -n "$SRV_NS" addr add "$SRV_IP/$NET_LEN" dev "$SRV_IF" || die "cannot address $SRV_IF"
  NGINX_ACCESS_LOG=off start_nginx nginx-bench "$SRV_NS" "$SRV_IP:80" "$ROOT"
  measure nginx
  stop_pid "$NGINX_PID" QUIT 10
  topo_down
fi

if [[ $BENCH_ONLY != nginx ]]; then
  log "=== slhttpd (sltcp on AF_PACKET, vsrv has no kernel address) ==="
  if [[ $SL_SELFTEST != 1 && ! -x ${SLHTTPD_CMD[0]} ]]; then
    log "no slhttpd at ${SLHTTPD_CMD[0]}: skipped"
  else
    topo_up
    start_slhttpd --quiet
    measure slhttpd
    stop_slhttpd >/dev/null
    log "slhttpd counters:"
    print_counters
    topo_down
  fi
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", b / a; else print "n/a" }'; }
echo
echo "## HTTP benchmark: kernel nginx vs slhttpd ($(date -u +%F), $(nproc) cores, kernel $(uname -r))"
echo
echo "| metric | nginx | slhttpd | ratio (slhttpd/nginx) |"
echo "| --- | ---: | ---: | ---: |"
for m in "rps|keep-alive req/s, 1 KB (wrk)" "cps|new connections/s, 1 KB (ab, no keep-alive)" "bulk|one-flow bulk MB/s, $BENCH_BULK (curl, median of $BENCH_BULK_RUNS)"; do
  k=${m%%|*}
  printf '| %s | %s | %s | %s |\n' "${m#*|}" "${R[nginx.$k]:-n/a}" "${R[slhttpd.$k]:-n/a}" \
    "$(ratio "${R[nginx.$k]:-0}" "${R[slhttpd.$k]:-0}")"
done
echo
for s in nginx slhttpd; do
  [[ -n ${NOTE[$s]:-} ]] && echo "- $s errors: ${NOTE[$s]}"
done
echo "Commands (run in the client namespace against http://$SRV_IP/):"
echo "- (a) \`${WRK_CMD[*]} http://$SRV_IP/small.bin\`"
echo "- (b) \`${AB_CMD[*]} http://$SRV_IP/small.bin\`"
echo "- (c) \`curl -sS --max-time 300 -o /dev/null -w '%{speed_download}' http://$SRV_IP/bulk.bin\` (x$BENCH_BULK_RUNS, median)"
echo "- nginx: 1 worker, sendfile on, access_log off, keepalive_requests 1000000, kernel address on vsrv"
echo "- slhttpd: \`slhttpd --dev packet:vsrv --addr $SRV_IP/$NET_LEN --port 80 --root DIR --quiet\`"
echo "- no CPU pinning; the load generators share the $(nproc) cores with the server"
[[ $SL_SELFTEST == 1 ]] && echo "- SELFTEST MODE: the 'slhttpd' column is kernel nginx behind fake_slhttpd.py"
exit 0
