#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# sltcp as a client: kernel nginx (1 worker) in the client namespace on
# 198.18.0.1:8080 serves 1 MB and 50 MB files; slclient runs in the server
# namespace on vsrv (AF_PACKET, 198.18.0.2/24, no kernel address).
# Pass: slclient exits 0, prints status=200 bytes=N sha256=<right hash>, and
# its --out file matches; with --requests 100 nginx's access log shows 100
# requests with status 200 on a single connection (keep-alive).
SL_TEST_BUDGET=${SL_TEST_BUDGET:-300}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd nginx sha256sum openssl

if [[ $SL_SELFTEST != 1 && ! -x ${SLCLIENT_CMD[0]} ]]; then
  # CMake builds slclient only once apps/slclient/ has sources.
  if ! compgen -G "$SL_SRC/apps/slclient/*.c" >/dev/null; then
    skip_all "apps/slclient/ has no sources yet, so there is no slclient to test"
  fi
  die "slclient binary not found at ${SLCLIENT_CMD[0]} (build first, or set SL_BUILD)"
fi

NGX_PORT=8080
topo_up
make_file one.bin 1M
make_file fifty.bin 50M
start_nginx nginx "$CLI_NS" "$CLI_IP:$NGX_PORT" "$ROOT"

# slclient_run LABEL ARGS...: run slclient in the server namespace; output in
# $WORK/LABEL.out; sets CLIENT_RC.
slclient_run() {
  local label=$1; shift
  run_in "$SRV_NS" timeout 120 "${SLCLIENT_CMD[@]}" --dev "packet:$SRV_IF" --addr "$SRV_IP/$NET_LEN" \
    --timeout 60 "$@" >"$WORK/$label.out" 2>"$WORK/$label.err.log"
  CLIENT_RC=$?
  sed 's/^/  | /' "$WORK/$label.out"
}
kv() { grep -o "\\b$1=[^ ]*" "$2" | tail -n 1 | cut -d= -f2; }

for f in one.bin fifty.bin; do
  url="http://$CLI_IP:$NGX_PORT/$f"
  t0=$(now)
  slclient_run "get-$f" --url "$url" --out "$DL/$f"
  secs=$(elapsed "$t0")
  st=$(kv status "$WORK/get-$f.out")
  by=$(kv bytes "$WORK/get-$f.out")
  sh=$(kv sha256 "$WORK/get-$f.out")
  want=$(sha_of "$f")
  if [[ $CLIENT_RC == 0 && $st == 200 && $by == "$(size_of "$f")" && $sh == "$want" ]]; then
    pass "slclient $f: status=200 bytes=$by sha256 ok (${secs}s, $(mbps "$by" "$secs") MB/s)"
  else
    fail "slclient $f: rc=$CLIENT_RC status=${st:-?} bytes=${by:-?} sha256=${sh:-?} (want $want)"
  fi
  if [[ -f $DL/$f && $(file_sha "$DL/$f") == "$want" ]]; then
    pass "slclient $f: --out file sha256 ok"
  else
    fail "slclient $f: --out file missing or wrong"
  fi
  rm -f "$DL/$f"
done

# Keep-alive: 100 requests; count them in nginx's access log, whose format
# is "$connection $connection_requests $status $body_bytes_sent \"$request\"".
before=$(wc -l <"$NGINX_DIR/access.log")
slclient_run ka --url "http://$CLI_IP:$NGX_PORT/one.bin" --requests 100
statuses=$(grep -o '\bstatus=[0-9]*' "$WORK/ka.out" | sort -u | tr '\n' ' ')
shas=$(grep -o '\bsha256=[0-9a-f]*' "$WORK/ka.out" | sort -u | cut -d= -f2 | tr '\n' ' ')
by=$(kv bytes "$WORK/ka.out")
if [[ $CLIENT_RC == 0 && $statuses == "status=200 " && $shas == "$(sha_of one.bin) " &&
  $by == $((100 * $(size_of one.bin))) ]]; then
  pass "slclient --requests 100: exit 0, status=200, bytes=$by (sum), last body sha256 ok"
else
  fail "slclient --requests 100: rc=$CLIENT_RC statuses '${statuses}' bytes=${by:-?} sha256 '${shas}'"
fi
# nginx writes the access log line after the response: give it a moment.
wait_for "(( \$(wc -l <$NGINX_DIR/access.log) - before >= 100 ))" 5
tail -n +"$((before + 1))" "$NGINX_DIR/access.log" >"$WORK/ka.access"
nreq=$(grep -c '/one.bin ' "$WORK/ka.access")
nconn=$(awk '{ print $1 }' "$WORK/ka.access" | sort -u | wc -l)
n200=$(awk '$3 == 200 && $4 == '"$(size_of one.bin)"'' "$WORK/ka.access" | wc -l)
if [[ $nreq == 100 && $n200 == 100 && $nconn == 1 ]]; then
  pass "nginx saw 100 full 200 responses on 1 connection"
else
  fail "nginx saw $nreq requests ($n200 full 200s) on $nconn connections, want 100 on 1"
fi

stop_pid "$NGINX_PID" QUIT 10
summary
