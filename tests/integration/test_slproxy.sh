#!/usr/bin/env bash
# slproxy in HTTP mode in front of kernel nginx: the command line (usage
# errors exit 2, --mode tcp refused), GET/HEAD relayed, keep-alive and
# pipelined requests, a client Range passed through, bad requests answered
# 400, back-end connections pooled (and a stale one skipped); then in front of a small POST sink: POST relayed, and a POST cut by
# a slproxy crash ends with an error and reaches the back end once, never
# twice (its checkpoint is stored before a byte of it leaves).
SL_TEST_BUDGET=${SL_TEST_BUDGET:-180}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl python3 nginx

PX=$SL_BUILD/slproxy
[[ -x $PX ]] || die "slproxy not built"
"$PX" --help >/dev/null
check "--help exits 0" test $? = 0
"$PX" >/dev/null 2>&1
check "no arguments: exit 2" test $? = 2
"$PX" --dev packet:x --addr 198.18.0.2/24 --port 80 --backend 198.19.0.2 >/dev/null 2>&1
check "--backend without a port: exit 2" test $? = 2
out=$("$PX" --dev packet:x --addr 198.18.0.2/24 --port 80 --backend 198.19.0.2:80 --mode tcp 2>&1)
rc=$?
check "--mode tcp: exit 2 with a clear message ($out)" test "$rc" = 2 -a -n "$(grep 'not built' <<<"$out")"
# the options slproxy shares with slhttpd are checked as slhttpd checks them
for bad in "--store nowhere" "--durability sync" "--max-conns 0" "--cc vegas"; do
  # shellcheck disable=SC2086 # one option and its value
  "$PX" --dev packet:x --addr 198.18.0.2/24 --port 80 --backend 198.19.0.2:80 $bad >/dev/null 2>&1
  check "$bad: exit 2" test $? = 2
done
head -c 32 /dev/urandom >"$WORK/loose.key"
chmod 644 "$WORK/loose.key"
out=$("$PX" --dev packet:x --addr 198.18.0.2/24 --port 80 --backend 198.19.0.2:80 \
  --store "shm:slpxk$$" --store-key "$WORK/loose.key" 2>&1)
rc=$?
check "a store key others can read is refused ($out)" test "$rc" = 1 -a -n "$out"

topo3_up
make_file small.bin 16K
make_file mid.bin 3M
NGINX_ACCESS_LOG=off start_nginx bk1 "$BK_NS" "$BK_IP:8080" "$ROOT"
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key")
SHM_NAME=slpxf$$
trap 'rm -f "/dev/shm/$SHM_NAME"; cleanup' EXIT
ARGS=(--store "shm:$SHM_NAME?slots=256" --durability sync --store-key "$WORK/store.key")
start_slproxy --backend "$BK_IP:8080" "${ARGS[@]}"

fetch_check curl small.bin
fetch_check curl mid.bin
hdr=$(in_cli curl -sS -I "$(srv_url mid.bin)")
check "HEAD: 200 with the length and no body" \
  grep -qi "^content-length: $(size_of mid.bin)" <<<"$hdr"
conns=$(in_cli curl -sS -o /dev/null -o /dev/null -w '%{num_connects} ' "$(srv_url small.bin)" "$(srv_url mid.bin)")
check "keep-alive: two requests on one connection (connects: $conns)" test "$conns" = "1 0 "
rng=$(in_cli curl -sS -r 1000-1999 "$(srv_url mid.bin)" | sha256sum | cut -d' ' -f1)
check "a client Range is passed through" \
  test "$rng" = "$(tail -c +1001 "$ROOT/mid.bin" | head -c 1000 | sha256sum | cut -d' ' -f1)"
cat >"$WORK/raw.py" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=10)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
print(data.count(b"HTTP/1.1 200"), data.count(b"HTTP/1.1 400"), len(data))
PY
pipe=$(in_cli python3 "$WORK/raw.py" "$SRV_IP" 'GET /small.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /small.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
check "two pipelined requests: two responses, then close ($pipe)" test "${pipe%% *}" = 2
bad=$(in_cli python3 "$WORK/raw.py" "$SRV_IP" 'NONSENSE\r\n\r\n')
check "a malformed request: 400 ($bad)" test "$(cut -d' ' -f2 <<<"$bad")" = 1
f=$(slhttpd_stats)
check "back-end connections are reused (px_pool_reused $(stat_get px_pool_reused "$f"))" \
  test "$(stat_get px_pool_reused "$f")" -ge 1
# the back end restarts: its idle pooled connections are closed under us
stop_pid "$NGINX_PID" QUIT 10
NGINX_ACCESS_LOG=off start_nginx bk1b "$BK_NS" "$BK_IP:8080" "$ROOT"
fetch_check curl small.bin
f=$(slhttpd_stats)
check "a pooled connection the server closed is not used (px_pool_stale $(stat_get px_pool_stale "$f"))" \
  test "$(stat_get px_pool_stale "$f")" -ge 1
stop_slhttpd

# POST: a sink that logs every request's arrival (headers) and answers
# once the body is read
cat >"$WORK/sink.py" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
LOG = sys.argv[3]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        with open(LOG, "a") as f:
            f.write(self.path + "\n")
        n = int(self.headers.get("Content-Length", "0"))
        got = 0
        while got < n:
            b = self.rfile.read(min(65536, n - got))
            if not b:
                return
            got += len(b)
        body = b"ok %d\n" % got
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_PUT = do_POST
    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
PY
bg_start sink "$BK_NS" python3 "$WORK/sink.py" "$BK_IP2" 8081 "$WORK/arrivals"
wait_for "ip netns exec $BK_NS ss -Hltn 'sport = :8081' | grep -q ." 10 || die "sink did not start"
start_slproxy --backend "$BK_IP2:8081" "${ARGS[@]}"
head -c 100000 /dev/urandom >"$WORK/body"
res=$(in_cli curl -sS --max-time 20 --data-binary @"$WORK/body" "$(srv_url post1)")
check "POST relayed ($res)" test "$res" = "ok 100000"

head -c 3000000 /dev/urandom >"$WORK/body2"
bg_start post2 "$CLI_NS" curl -sS --max-time 60 --limit-rate 300K -o "$DL/post2" \
  -w '%{http_code}' --data-binary @"$WORK/body2" "$(srv_url post2)"
P2=$BG_PID
wait_for "grep -q post2 $WORK/arrivals 2>/dev/null" 20 || log "the POST did not reach the sink"
sleep 0.5
kill9_slproxy
start_slproxy --backend "$BK_IP2:8081" "${ARGS[@]}"
wait_for "! _sl_alive $P2" 60
wait "$P2"
rc=$?
_sl_forget "$P2"
code=$(cat "$WORK/post2.log")
check "a POST cut by a crash ends with an error (curl rc $rc, status ${code:-none})" \
  test "$rc" != 0 -o "$code" = 502
n=$(grep -c post2 "$WORK/arrivals")
check "the cut POST reached the back end once, never twice ($n)" test "$n" = 1
f=$(slhttpd_stats)
check "the restored connection knew its request was unsafe (px_unsafe_cut $(stat_get px_unsafe_cut "$f"))" \
  test "$(stat_get px_unsafe_cut "$f")" = 1
res=$(in_cli curl -sS --max-time 20 --data-binary @"$WORK/body" "$(srv_url post3)")
check "the next POST is relayed ($res)" test "$res" = "ok 100000"
stop_slhttpd
summary
