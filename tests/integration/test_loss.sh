#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# Loss recovery: 200 MB download from slhttpd with its built-in impairment
# (--impair: loss/dup/reorder applied inside sltcp; no netem here), twice:
#   loss=1,dup=1,reorder=1,seed=1   and   loss=5,dup=1,reorder=2,seed=2
# Pass: byte-exact (sha256) within the time limit, and the impairment was
# really active (impair_dropped/duplicated/reordered > 0 in slhttpd's stats).
# Per-run limit 400 s keeps both runs under ctest's 900 s test timeout.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-870}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl sha256sum openssl

MAX_TIME=${SL_LOSS_MAX_TIME:-400}
topo_up
make_file large.bin 200M
size=$(size_of large.bin)

for impair in loss=1,dup=1,reorder=1,seed=1 loss=5,dup=1,reorder=2,seed=2; do
  log "--- impair $impair ---"
  start_slhttpd --impair "$impair"
  fetch_check curl large.bin "$MAX_TIME"
  log "impair $impair: $size bytes in ${FETCH_SECS}s ($(mbps "$size" "$FETCH_SECS") MB/s)"
  stop_slhttpd
  print_counters
  if [[ $SL_SELFTEST == 1 ]]; then
    log "selftest mode: impairment not emulated, counters not checked"
    continue
  fi
  for c in impair_dropped impair_duplicated impair_reordered; do
    v=$(stat_get "$c")
    if [[ -n $v && $v -gt 0 ]]; then
      pass "impair $impair: $c=$v"
    else
      fail "impair $impair: $c=${v:-absent}, impairment not active?"
    fi
  done
done
summary
