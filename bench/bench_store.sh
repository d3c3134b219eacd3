#!/usr/bin/env bash
# Externalized-state benchmark (externalized state): what durability costs. Not a test.
#
# slhttpd on the usual namespace pair (tests/integration/lib.sh), once per
# configuration: --durability off (the baseline, measured in the same run),
# then async and sync with each store: mem:, shm:NAME, redis://127.0.0.1
# (a redis-server on the server namespace's loopback, no persistence).
# Metrics per configuration:
#   keep-alive req/s, 1 KB, and latency p50/p99: wrk --latency -t2 -c50
#   latency of a lone request, p50/p99: wrk --latency -t1 -c1 (no queueing)
#   one-flow bulk MB/s: curl of a ${BENCH_BULK} file to /dev/null (median of 3)
# The "added" columns are the latency difference to durability off, for a
# lone request (-c1): what durability costs one request.
# No CPU pinning: the clients, slhttpd and redis-server share 2 cores.
#
# Environment: SL_BUILD (default ./build), BENCH_SECS=8, BENCH_BULK=500M.
# shellcheck disable=SC2119 # lib helpers take optional arguments
SL_TEST_BUDGET=${SL_TEST_BUDGET:-1800}
TEST_NAME=bench_store
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
need_cmd wrk curl redis-server redis-cli

BENCH_SECS=${BENCH_SECS:-8}
BENCH_BULK=${BENCH_BULK:-500M}

topo_up
make_file small.bin 1K
make_file bulk.bin "$BENCH_BULK"
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key")
start_redis_srv
SHM_NAME=slbench$$
trap 'rm -f "/dev/shm/$SHM_NAME"; cleanup' EXIT

# wrk's latency line "50%  1.23ms" -> microseconds
lat_us() {
  awk -v p="$1" '$1 == p {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
    m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : 1
    printf "%.0f", v * m }' "$2"
}

declare -A R
run_config() {
  local name=$1 out i speeds=(); shift
  start_slhttpd --quiet "$@"
  run_in "$CLI_NS" wrk -t1 -c10 -d1s "$(srv_url small.bin)" >/dev/null 2>&1
  out=$WORK/$name.wrk
  run_in "$CLI_NS" wrk --latency -t2 -c50 "-d${BENCH_SECS}s" --timeout 5s "$(srv_url small.bin)" \
    >"$out" 2>&1
  R[$name.rps]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  R[$name.p50]=$(lat_us 50% "$out")
  R[$name.p99]=$(lat_us 99% "$out")
  # one connection, one request at a time: the latency durability adds
  # to a request, without queueing behind 49 others
  out=$WORK/$name.wrk1
  run_in "$CLI_NS" wrk --latency -t1 -c1 -d3s --timeout 5s "$(srv_url small.bin)" >"$out" 2>&1
  R[$name.q50]=$(lat_us 50% "$out")
  R[$name.q99]=$(lat_us 99% "$out")
  for ((i = 0; i < 3; i++)); do
    speeds+=("$(run_in "$CLI_NS" curl -sS --max-time 300 -o /dev/null -w '%{speed_download}' \
      "$(srv_url bulk.bin)")")
  done
  R[$name.bulk]=$(printf '%s\n' "${speeds[@]}" | sort -g | sed -n 2p | awk '{ printf "%.0f", $1 / 1e6 }')
  local f
  f=$(slhttpd_stats) && R[$name.rec]=$(awk '$1 == "persist_records" { r = $2 } $1 == "persist_bytes" { b = $2 }
    END { if (r) printf "%.0f", b / r; else print "-" }' "$f")
  log "$name: ${R[$name.rps]} req/s, p50 ${R[$name.p50]} us, p99 ${R[$name.p99]} us, bulk ${R[$name.bulk]} MB/s, record ${R[$name.rec]} B"
  stop_slhttpd >/dev/null
  rm -f "/dev/shm/$SHM_NAME"
}

KEY=(--store-key "$WORK/store.key")
run_config off
CONFIGS=(off)
for dur in ${BENCH_DURS:-async sync}; do
  run_config "$dur-mem" --store mem: --durability "$dur" "${KEY[@]}"
  run_config "$dur-shm" --store "shm:$SHM_NAME" --durability "$dur" "${KEY[@]}"
  in_srv redis-cli -p 6379 flushall >/dev/null
  run_config "$dur-redis" --store redis://127.0.0.1:6379 --durability "$dur" "${KEY[@]}"
  CONFIGS+=("$dur-mem" "$dur-shm" "$dur-redis")
done

echo
echo "| durability-store | keep-alive req/s (c50) | vs off | p50 (c50) | p99 (c50) | lone request p50 | p99 | added p50 | added p99 | bulk MB/s | vs off | bytes/record |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for c in "${CONFIGS[@]}"; do
  awk -v c="$c" -v r="${R[$c.rps]}" -v r0="${R[off.rps]}" -v p50="${R[$c.p50]}" \
    -v p99="${R[$c.p99]}" -v q50="${R[$c.q50]}" -v q99="${R[$c.q99]}" -v a50="${R[off.q50]}" \
    -v a99="${R[off.q99]}" -v b="${R[$c.bulk]}" -v b0="${R[off.bulk]}" -v rec="${R[$c.rec]:--}" 'BEGIN {
      printf "| %s | %d | %.2fx | %d us | %d us | %d us | %d us | %+d us | %+d us | %d | %.2fx | %s |\n",
        c, r, r / r0, p50, p99, q50, q99, q50 - a50, q99 - a99, b, b / b0, rec }'
done
stop_pid "$REDIS_PID"
