#!/usr/bin/env bash
# Demo: slhttpd (sltcp, user space, AF_PACKET on a veth) serving 1 KB, 1 MB
# and 100 MB files to curl in another network namespace (kernel TCP).
# Prints size, source/download sha256, match, seconds and MB/s per file, then
# slhttpd's key counters. Exits non-zero if any checksum mismatches.
# Needs root. Uses the harness in tests/integration/lib.sh (namespaces are
# removed on exit). SL_BUILD selects the build dir (default ./build).
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
start_slhttpd --quiet

echo
printf '%-14s %11s  %-16s %-16s %-5s %8s %9s\n' file bytes "sha256 (source)" "sha256 (download)" match seconds MB/s
mismatch=0
for f in "${files[@]}"; do
  out=$DL/$f
  # seconds as curl measures them (connect to last byte)
  secs=$(run_in "$CLI_NS" curl -sS --max-time 120 -o "$out" -w '%{time_total}' "$(srv_url "$f")")
  rc=$?
  src=$(sha_of "$f")
  got=$( [[ $rc == 0 && -f $out ]] && file_sha "$out")
  if [[ -n $got && $got == "$src" ]]; then match=yes; else match=NO; mismatch=$((mismatch + 1)); fi
  printf '%-14s %11s  %-16s %-16s %-5s %8s %9s\n' "$f" "$(size_of "$f")" "${src:0:16}" \
    "${got:0:16}" "$match" "$secs" "$(mbps "$(size_of "$f")" "$secs")"
  [[ $match == yes ]] || echo "  curl rc=$rc; full sha256: source $src, download ${got:-none}"
  rm -f "$out"
done
echo "(sha256 shown truncated to 16 hex digits; compared in full)"

echo
stop_slhttpd >/dev/null
echo "slhttpd stopped (exit status ${SLHTTPD_RC:-?}); key counters:"
print_counters
echo
if ((mismatch)); then
  echo "demo: $mismatch checksum mismatch(es)"
  exit 1
fi
echo "demo: all ${#files[@]} downloads byte-exact"
exit 0
