#!/usr/bin/env bash
# Reverse-proxy benchmark: slproxy (durability off and sync with shm)
# against HAProxy and nginx as reverse proxies, same three-namespace
# topology (tests/integration/lib.sh topo3_up), same back end (kernel nginx,
# 1 worker, in sl$$-bk), same client tools. Not a test (not in ctest).
#
#   client sl$$-cli --veth--> proxy sl$$-srv 198.18.0.2:80 --veth--> nginx 198.19.0.2:8080
#
# HAProxy and nginx get the kernel address 198.18.0.2/24 on vsrv; slproxy
# gets vsrv with no kernel address (AF_PACKET). One thread/worker each.
# Metrics:
#   (a) keep-alive req/s, 1 KB:   wrk -t2 -c50 -d${BENCH_SECS}s
#   (b) new connections/s, 1 KB:  ab -n ${BENCH_AB_N} -c 50 (no -k)
#   (c) one-flow bulk MB/s:       curl of a ${BENCH_BULK} file to /dev/null
#       (median of ${BENCH_BULK_RUNS} runs; MB = 10^6 bytes)
# Environment: SL_BUILD (default ./build), BENCH_SECS=10, BENCH_AB_N=20000,
# BENCH_BULK=1G, BENCH_BULK_RUNS=3, BENCH_ONLY=haproxy|nginx|slproxy-off|slproxy-sync.
# Needs root. Prints a markdown table (docs/benchmarks.md).
SL_TEST_BUDGET=${SL_TEST_BUDGET:-1800}
TEST_NAME=bench_proxy
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
need_cmd wrk ab curl nginx haproxy openssl

BENCH_SECS=${BENCH_SECS:-10}
BENCH_AB_N=${BENCH_AB_N:-20000}
BENCH_BULK=${BENCH_BULK:-1G}
BENCH_BULK_RUNS=${BENCH_BULK_RUNS:-3}
BENCH_ONLY=${BENCH_ONLY:-}

WRK_CMD=(wrk -t2 -c50 "-d${BENCH_SECS}s" --timeout 5s)
AB_CMD=(ab -n "$BENCH_AB_N" -c 50 -r -s 10)
CURL_CMD=(curl -sS --max-time 300 -o /dev/null -w '%{speed_download}')
PROXIES=(haproxy nginx slproxy-off slproxy-sync)
declare -A R NOTE

measure() {
  local s=$1 out f i speeds=()
  run_in "$CLI_NS" wrk -t1 -c10 -d1s "$(srv_url small.bin)" >/dev/null 2>&1
  run_in "$CLI_NS" "${CURL_CMD[@]}" "$(srv_url small.bin)" >/dev/null 2>&1
  out=$WORK/$s.wrk
  run_in "$CLI_NS" "${WRK_CMD[@]}" "$(srv_url small.bin)" >"$out" 2>&1
  R[$s.rps]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  f=$(grep -E 'Socket errors|Non-2xx' "$out" | tr -s ' ' | tr '\n' ';')
  [[ -n $f ]] && NOTE[$s]+="wrk:${f} "
  out=$WORK/$s.ab
  run_in "$CLI_NS" timeout 600 "${AB_CMD[@]}" "$(srv_url small.bin)" >"$out" 2>&1
  R[$s.cps]=$(awk -F: '$1 == "Requests per second" { split($2, a, " "); printf "%.0f", a[1] }' "$out")
  f=$(awk -F: '$1 == "Failed requests" || $1 == "Non-2xx responses" { gsub(/ /, "", $2); if ($2 != 0) printf "%s=%s ", $1, $2 }' "$out")
  [[ -n $f ]] && NOTE[$s]+="ab: ${f}"
  for ((i = 0; i < BENCH_BULK_RUNS; i++)); do
    speeds+=("$(run_in "$CLI_NS" "${CURL_CMD[@]}" "$(srv_url bulk.bin)" 2>>"$WORK/$s.curl.err")")
  done
  R[$s.bulk]=$(printf '%s\n' "${speeds[@]}" | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", v[int((NR + 1) / 2)] / 1e6 }')
  log "$s: wrk ${R[$s.rps]:-?} req/s, ab ${R[$s.cps]:-?} conn/s, bulk ${R[$s.bulk]:-?} MB/s"
}

wanted() { [[ -z $BENCH_ONLY || $BENCH_ONLY == "$1" ]]; }

make_file small.bin 1K
make_file bulk.bin "$BENCH_BULK"
topo3_up
NGINX_ACCESS_LOG=off start_nginx backend "$BK_NS" "$BK_IP:8080" "$ROOT"
BACKEND_PID=$NGINX_PID

# kernel proxies: vsrv gets the kernel address
ip -n "$SRV_NS" addr add "$SRV_IP/$NET_LEN" dev "$SRV_IF" || die "cannot address $SRV_IF"
if wanted haproxy; then
  mkdir -p "$WORK/haproxy"
  cat >"$WORK/haproxy/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 9000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind $SRV_IP:80
    default_backend be
backend be
    server s1 $BK_IP:8080
CFG
  bg_start haproxy "$SRV_NS" haproxy -db -f "$WORK/haproxy/haproxy.cfg"
  H=$BG_PID
  wait_for "in_srv ss -Hltn 'sport = :80' | grep -q ." 10 || die "haproxy did not start"
  measure haproxy
  stop_pid "$H"
fi
if wanted nginx; then
  D=$WORK/nginx-proxy
  mkdir -p "$D/tmp"
  cat >"$D/nginx.conf" <<CFG
daemon off;
worker_processes 1;
user root;
pid $D/nginx.pid;
error_log $D/error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $D/tmp/body;
    proxy_temp_path $D/tmp/proxy;
    fastcgi_temp_path $D/tmp/fastcgi;
    uwsgi_temp_path $D/tmp/uwsgi;
    scgi_temp_path $D/tmp/scgi;
    upstream be { server $BK_IP:8080; keepalive 64; }
    server {
        listen $SRV_IP:80;
        location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
CFG
  bg_start nginx-proxy "$SRV_NS" nginx -p "$D" -e "$D/error.log" -c "$D/nginx.conf"
  N=$BG_PID
  wait_for "in_srv ss -Hltn 'sport = :80' | grep -q ." 10 || die "nginx proxy did not start"
  measure nginx
  stop_pid "$N" QUIT 10
fi
ip -n "$SRV_NS" addr del "$SRV_IP/$NET_LEN" dev "$SRV_IF"

# slproxy: vsrv without a kernel address
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key")
SHM_NAME=slbenchpx$$
trap 'rm -f "/dev/shm/$SHM_NAME"; cleanup' EXIT
if wanted slproxy-off; then
  start_slproxy --backend "$BK_IP:8080" --quiet
  measure slproxy-off
  stop_slhttpd >/dev/null
fi
if wanted slproxy-sync; then
  start_slproxy --backend "$BK_IP:8080" --quiet --store "shm:$SHM_NAME?slots=65536" \
    --durability sync --store-key "$WORK/store.key"
  measure slproxy-sync
  stop_slhttpd >/dev/null
fi

echo
echo "## Reverse proxies: HAProxy, nginx, slproxy ($(date -u +%F), $(nproc) cores, kernel $(uname -r))"
echo
printf '| metric |'
for p in "${PROXIES[@]}"; do printf ' %s |' "$p"; done
printf '\n| --- |'
for p in "${PROXIES[@]}"; do printf ' ---: |'; done
echo
for m in "rps|keep-alive req/s, 1 KB (wrk)" "cps|new connections/s, 1 KB (ab)" "bulk|one-flow bulk MB/s, $BENCH_BULK (curl, median of $BENCH_BULK_RUNS)"; do
  k=${m%%|*}
  printf '| %s |' "${m#*|}"
  for p in "${PROXIES[@]}"; do printf ' %s |' "${R[$p.$k]:-n/a}"; done
  echo
done
echo
for p in "${PROXIES[@]}"; do
  [[ -n ${NOTE[$p]:-} ]] && echo "- $p errors: ${NOTE[$p]}"
done
echo "- back end: kernel nginx, 1 worker, sendfile on, in its own namespace behind a kernel veth"
echo "- haproxy $(haproxy -v 2>/dev/null | awk 'NR == 1 { print $3 }'): nbthread 1, mode http, default connection reuse to the back end"
echo "- nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'): 1 worker, proxy_pass with upstream keepalive 64, HTTP/1.1 to the back end"
echo "- slproxy: \`slproxy --dev packet:vsrv --addr $SRV_IP/$NET_LEN --port 80 --backend $BK_IP:8080 [--store shm:NAME --durability sync --store-key FILE]\`"
echo "- (a) \`${WRK_CMD[*]}\`, (b) \`${AB_CMD[*]}\`, (c) \`curl -o /dev/null\` x$BENCH_BULK_RUNS; no CPU pinning ($(nproc) cores shared with the load generators)"
exit 0
