#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# Keep-alive load: wrk -t2 -c50 -d10s on a 1 KB file. Pass: requests done,
# 0 socket errors (connect/read/write/timeout), 0 non-2xx/3xx, and every body
# byte-identical to the file (checked by a wrk Lua response() hook).
SL_TEST_BUDGET=${SL_TEST_BUDGET:-180}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd wrk openssl

topo_up
make_file small.bin 1K
start_slhttpd

cat >"$WORK/check.lua" <<'LUA'
-- Compare every response with the expected file; aggregate over threads.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  local f = assert(io.open(args[1], "rb"))
  expected = f:read("*a")
  f:close()
  good, bad = 0, 0
end
function response(status, headers, body)
  if status == 200 and body == expected then good = good + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local g, b = 0, 0
  for _, t in ipairs(threads) do g = g + t:get("good"); b = b + t:get("bad") end
  io.write(string.format("bodies: good=%d bad=%d\n", g, b))
end
LUA

run_in "$CLI_NS" timeout 60 wrk -t2 -c50 -d10s --timeout 5s -s "$WORK/check.lua" \
  "$(srv_url small.bin)" -- "$ROOT/small.bin" >"$WORK/wrk.out" 2>&1
rc=$?
sed 's/^/  | /' "$WORK/wrk.out"

reqs=$(awk '/requests in/ { print $1; exit }' "$WORK/wrk.out")
sockerr=$(grep -m1 'Socket errors:' "$WORK/wrk.out" | grep -o '[0-9]\+' | awk '{ s += $1 } END { print s + 0 }')
non2xx=$(awk -F: '/Non-2xx or 3xx responses/ { gsub(/ /, "", $2); print $2; exit }' "$WORK/wrk.out")
good=$(sed -n 's/^bodies: good=\([0-9]*\) bad=.*/\1/p' "$WORK/wrk.out")
bad=$(sed -n 's/^bodies: good=[0-9]* bad=\([0-9]*\)/\1/p' "$WORK/wrk.out")
rps=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.out")

if [[ $rc == 0 && ${reqs:-0} -gt 0 ]]; then pass "wrk: $reqs requests (${rps} req/s)"; else fail "wrk: rc=$rc requests=${reqs:-none}"; fi
if [[ -z $sockerr || $sockerr == 0 ]]; then pass "wrk: 0 socket errors"; else fail "wrk: $(grep 'Socket errors' "$WORK/wrk.out")"; fi
if [[ -z $non2xx || $non2xx == 0 ]]; then pass "wrk: 0 non-2xx/3xx responses"; else fail "wrk: $non2xx non-2xx/3xx responses"; fi
if [[ -n $good && $good -gt 0 && $bad == 0 ]]; then
  pass "wrk: all $good bodies byte-exact"
else
  fail "wrk: body check good=${good:-?} bad=${bad:-?}"
fi

if f=$(slhttpd_stats); then
  log "slhttpd counters after wrk:"
  print_counters "$f"
fi
stop_slhttpd
summary
