#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# HTTP/1.1 semantics with Python's http.client (py/http_client_checks.py):
# 500-request keep-alive loop with exact bodies, Range (206), 416, 404, 405.
# Each "PASS:"/"FAIL:" line the script prints counts as one check.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-180}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd python3 openssl

topo_up
make_file small.bin 1K
make_file medium.bin 100K
start_slhttpd

run_in "$CLI_NS" timeout 120 python3 "$SL_LIB_DIR/py/http_client_checks.py" \
  "$SRV_IP" "$SL_PORT" "$ROOT" small.bin medium.bin >"$WORK/py.out" 2>&1
rc=$?
while IFS= read -r line; do
  case $line in
    PASS:*) pass "python ${line#PASS: }" ;;
    FAIL:*) fail "python ${line#FAIL: }" ;;
    *) echo "  | $line" ;;
  esac
done <"$WORK/py.out"
if [[ $rc != 0 ]] && ! grep -q '^FAIL:' "$WORK/py.out"; then
  fail "http_client_checks.py exited $rc without reporting a failed check"
fi

stop_slhttpd
summary
