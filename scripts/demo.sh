#!/usr/bin/env bash
# Demo: connections that survive kill -9 of the server.
#
# slhttpd (sltcp, user space, AF_PACKET on a veth) keeps its connections'
# state in the embedded shared-memory store (--store shm:NAME, --durability
# sync; no Redis needed). curl in another network namespace (kernel TCP)
# downloads 1 KB, 1 MB and 100 MB files; then a 200 MB download runs while
# slhttpd is killed with SIGKILL three times and restarted with the same
# command line. Prints size, source/download sha256, match, seconds and
# MB/s per download, how long each restart took to restore the connection
# (a restored connection retransmits at once), then slhttpd's
# counters. Exits non-zero if any checksum mismatches.
# Needs root. Uses the harness in tests/integration/lib.sh (namespaces and
# the shm region are removed on exit). SL_BUILD selects the build dir.
# shellcheck disable=SC2119 # lib helpers take optional arguments
SL_TEST_BUDGET=${SL_TEST_BUDGET:-300}
TEST_NAME=demo
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
need_cmd curl sha256sum openssl

topo_up
files=(file-1K.bin file-1M.bin file-100M.bin)
make_file file-1K.bin 1K
make_file file-1M.bin 1M
make_file file-100M.bin 100M
make_file file-200M.bin 200M
(umask 077 && head -c 32 /dev/urandom >"$WORK/store.key")
SHM_NAME=sldemo$$
trap 'rm -f "/dev/shm/$SHM_NAME"; cleanup' EXIT
ARGS=(--quiet --store "shm:$SHM_NAME" --durability sync --store-key "$WORK/store.key")
start_slhttpd "${ARGS[@]}"

row() { printf '%-24s %11s  %-16s %-16s %-5s %8s %9s\n' "$@"; }
mismatch=0
report() { # NAME FILE SECONDS RC
  local src got match
  src=$(sha_of "$2")
  got=$([[ $4 == 0 && -f $DL/$2 ]] && file_sha "$DL/$2")
  if [[ -n $got && $got == "$src" ]]; then match=yes; else match=NO; mismatch=$((mismatch + 1)); fi
  row "$1" "$(size_of "$2")" "${src:0:16}" "${got:0:16}" "$match" "$3" "$(mbps "$(size_of "$2")" "$3")"
  [[ $match == yes ]] || echo "  curl rc=$4; full sha256: source $src, download ${got:-none}"
  rm -f "$DL/$2"
}

echo
row download bytes "sha256 (source)" "sha256 (download)" match seconds MB/s
for f in "${files[@]}"; do
  secs=$(run_in "$CLI_NS" curl -sS --max-time 120 -o "$DL/$f" -w '%{time_total}' "$(srv_url "$f")")
  report "$f" "$f" "$secs" $?
done

# The main job: a download across three kill -9 of the server.
f=file-200M.bin
t0=$(now)
bg_start curl "$CLI_NS" curl -sS --max-time 200 --limit-rate 40M -o "$DL/$f" \
  -w '%{time_total}' "$(srv_url "$f")"
CURL_PID=$BG_PID
longest=0
for k in 1 2 3; do
  wait_for "(( \$(stat -c %s $DL/$f 2>/dev/null || echo 0) > $k * 50000000 ))" 60
  before=$(stat -c %s "$DL/$f")
  kill -KILL "$SLHTTPD_PID"
  wait "$SLHTTPD_PID" 2>/dev/null
  _sl_forget "$SLHTTPD_PID"
  SLHTTPD_PID=
  tk=$(now)
  start_slhttpd "${ARGS[@]}" >/dev/null # returns once the store's flows are restored
  stall=$(elapsed "$tk")
  echo "  kill -9 #$k at $((before / 1000000)) MB: a new slhttpd restored the connection ${stall}s after the kill"
  longest=$(awk -v a="$longest" -v b="$stall" 'BEGIN { print (b > a) ? b : a }')
done
wait "$CURL_PID"
rc=$?
_sl_forget "$CURL_PID"
report "$f (3 x kill -9)" "$f" "$(elapsed "$t0")" "$rc"
echo "(sha256 shown truncated to 16 hex digits; compared in full; the 200 MB"
echo " download is rate-limited to 40 MB/s so that the kills land mid-transfer;"
echo " longest time from a kill to the restored connection: ${longest}s)"

echo
f=$(slhttpd_stats) && {
  echo "last slhttpd instance: restored $(stat_get restore_ok "$f") connection(s) from the store;"
  echo "state writes: $(stat_get persist_records "$f") records, $(stat_get persist_bytes "$f") bytes"
}
stop_slhttpd >/dev/null
echo "slhttpd stopped (exit status ${SLHTTPD_RC:-?}); key counters:"
print_counters
echo
if ((mismatch)); then
  echo "demo: $mismatch checksum mismatch(es)"
  exit 1
fi
echo "demo: all $((${#files[@]} + 1)) downloads byte-exact, one of them across 3 x kill -9"
exit 0
