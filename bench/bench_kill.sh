#!/usr/bin/env bash
# Kill soak: the kill torture of the suite (tests/integration/
# kill_torture_common.sh) with 1,000 kills, a quarter of them inside a new
# instance's first 60 ms, on the shm store and on Redis. Prints the stall
# distribution each client saw (every recv() that waited over 20 ms: p50,
# p99, max) and the suite's checks (byte-exact, no RST, silence bound).
# Not a test (not in ctest); numbers go to docs/benchmarks.md.
#
# Environment: SL_BUILD (default ./build), SOAK_KILLS (1000), SOAK_STORES
# ("shm redis"). Needs root. About 6 minutes a store.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export SL_BUILD=${SL_BUILD:-$here/../build}
rc=0
for st in ${SOAK_STORES:-shm redis}; do
  echo "=== kill soak: $st store, ${SOAK_KILLS:-1000} kills ==="
  KT_KILLS=${SOAK_KILLS:-1000} SL_TEST_BUDGET=3000 \
    bash "$here/../tests/integration/test_kill_torture_$st.sh" 2>&1 |
    grep -E '^(PASS|FAIL)|stalls over|kills \(|test_kill_torture.*: [0-9]+ passed' || rc=1
done
exit $rc
