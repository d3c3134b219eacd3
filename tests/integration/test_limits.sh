#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# Resource limits (hostile input): with --max-conns N, and then with --max-mem
# (a budget for all connection buffers), connection N+1 is refused cleanly
# with a RST while the N connections held keep working; counters
# drop_tcp_max_conns / drop_tcp_nomem show the refusals.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-120}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

topo_up
make_file small.bin 1K

check_py() { # N COUNTER
  run_in "$CLI_NS" python3 "$SL_LIB_DIR/py/limits_check.py" "$SRV_IP" "$SL_PORT" /small.bin "$1" >"$WORK/py.out" 2>&1
  while IFS= read -r line; do
    case $line in
    PASS:*) pass "${line#PASS: }" ;;
    FAIL:*) fail "${line#FAIL: }" ;;
    esac
  done <"$WORK/py.out"
  if f=$(slhttpd_stats); then
    v=$(stat_get "$2" "$f")
    if ((${v:-0} > 0)); then pass "refusal counted: $2=$v"; else fail "$2 not counted"; fi
  fi
}

# Stack limit below the application's, so the stack refuses.
start_slhttpd --max-conns 20
check_py 20 drop_tcp_max_conns
stop_slhttpd

# 8 MiB of buffers with 512 KiB + 256 KiB per connection: 10 connections.
start_slhttpd --max-mem 8M
check_py 10 drop_tcp_nomem
stop_slhttpd
summary
