#!/usr/bin/env bash
# What limits slhttpd: syscalls per packet (strace -c) and where the CPU goes
# (perf record), under a wrk keep-alive load and a one-flow bulk download.
# A benchmark aid, not a test. Needs root, strace and perf.
# Usage: sudo SL_BUILD=$PWD/build bash bench/profile.sh
# shellcheck disable=SC2119
SL_TEST_BUDGET=${SL_TEST_BUDGET:-600}
TEST_NAME=profile
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
need_cmd wrk curl strace perf

topo_up
make_file small.bin 1K
make_file bulk.bin 1G
start_slhttpd --quiet

stats() { rm -f "$SLHTTPD_STATS"; kill -USR1 "$SLHTTPD_PID"; wait_for "grep -q conns_open $SLHTTPD_STATS 2>/dev/null" 5; cat "$SLHTTPD_STATS"; }
val() { awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' <<<"$2"; }

for load in keepalive bulk; do
  before=$(stats)
  if [[ $load == keepalive ]]; then
    in_cli wrk -t2 -c50 -d8s "$(srv_url small.bin)" >"$WORK/wrk.out" 2>&1 &
  else
    in_cli sh -c "for i in 1 2 3; do curl -s -o /dev/null $(srv_url bulk.bin); done" &
  fi
  loadpid=$!
  sleep 1 # let the load reach steady state (measurement aid, not synchronisation)
  timeout 3 strace -c -f -p "$SLHTTPD_PID" -o "$WORK/strace.$load" >/dev/null 2>&1
  mid=$(stats)
  timeout 3 perf record -g -o "$WORK/perf.$load" -p "$SLHTTPD_PID" >/dev/null 2>&1
  wait "$loadpid"
  after=$(stats)
  calls=$(awk '$NF == "total" { print $4 }' "$WORK/strace.$load")
  pk=$(( $(val rx_frames "$mid") - $(val rx_frames "$before") + $(val tx_frames "$mid") - $(val tx_frames "$before") ))
  log "$load: strace window: $calls syscalls, about $pk frames in+out during the whole window before it"
  echo "--- $load: top syscalls (strace -c, 3 s) ---"
  head -12 "$WORK/strace.$load"
  echo "--- $load: frames rx/tx over the whole run ---"
  echo "rx $(( $(val rx_frames "$after") - $(val rx_frames "$before") )) tx $(( $(val tx_frames "$after") - $(val tx_frames "$before") ))"
  echo "--- $load: perf top symbols (self) ---"
  perf report -i "$WORK/perf.$load" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -15
done
stop_slhttpd
summary
