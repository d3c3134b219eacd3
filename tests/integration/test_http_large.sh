#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# Bulk transfer: curl and wget each download a 200 MB file from slhttpd,
# byte-exact (sha256). Also counts RSTs from the server (informational).
SL_TEST_BUDGET=${SL_TEST_BUDGET:-540}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl wget sha256sum openssl

topo_up
make_file large.bin 200M
start_slhttpd
rst_capture_start

fetch_check curl large.bin 240
fetch_check wget large.bin 240

rst_capture_stop
if f=$(slhttpd_stats); then
  log "slhttpd counters after the transfers:"
  print_counters "$f"
fi
stop_slhttpd
summary
