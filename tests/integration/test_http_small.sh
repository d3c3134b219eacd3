#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# slhttpd basics against kernel clients: curl and wget downloads of 1 KB and
# 1 MB (sha256 checked), HEAD, 404, and keep-alive (one curl invocation
# fetching several URLs over one connection).
SL_TEST_BUDGET=${SL_TEST_BUDGET:-180}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl wget sha256sum openssl

topo_up
make_file small.bin 1K
make_file medium.bin 1M
start_slhttpd

for tool in curl wget; do
  for f in small.bin medium.bin; do
    fetch_check "$tool" "$f" 30
  done
done

# HEAD: 200, right Content-Length, no body.
out=$(in_cli curl -sS --max-time 10 -I -o "$DL/head.hdr" -w '%{http_code} %{size_download}' "$(srv_url medium.bin)")
clen=$(tr -d '\r' <"$DL/head.hdr" | awk 'tolower($1) == "content-length:" { print $2 }')
if [[ $out == "200 0" && $clen == "$(size_of medium.bin)" ]]; then
  pass "HEAD medium.bin: 200, Content-Length $clen, no body"
else
  fail "HEAD medium.bin: got '$out' Content-Length '${clen:-none}' (want '200 0', $(size_of medium.bin))"
fi

# 404 for a missing file.
out=$(in_cli curl -sS --max-time 10 -o "$DL/404.body" -w '%{http_code}' "$(srv_url no-such-file)")
if [[ $out == 404 ]]; then pass "GET missing file: 404"; else fail "GET missing file: got '$out', want 404"; fi

# Keep-alive: 4 URLs in one curl run; curl reports num_connects=1 for the
# transfer that opened the connection and 0 for every reuse.
urls=("$(srv_url small.bin)" "$(srv_url medium.bin)" "$(srv_url small.bin)" "$(srv_url medium.bin)")
names=(small.bin medium.bin small.bin medium.bin)
outs=()
for i in 0 1 2 3; do outs+=(-o "$DL/ka$i"); done
lines=$(in_cli curl -sS --max-time 30 -w '%{num_connects} %{http_code}\n' "${outs[@]}" "${urls[@]}")
rc=$?
connects=$(awk '{ s += $1 } END { print s + 0 }' <<<"$lines")
codes=$(awk '{ printf "%s ", $2 }' <<<"$lines")
if [[ $rc == 0 && $connects == 1 && $codes == "200 200 200 200 " ]]; then
  pass "keep-alive: 4 requests over 1 connection"
else
  fail "keep-alive: curl rc=$rc, $connects connections for 4 requests, statuses '$codes'"
fi
bad=0
for i in 0 1 2 3; do
  [[ -f $DL/ka$i && $(file_sha "$DL/ka$i") == "$(sha_of "${names[$i]}")" ]] || bad=$((bad + 1))
done
if ((bad == 0)); then pass "keep-alive: 4 bodies sha256 ok"; else fail "keep-alive: $bad of 4 bodies wrong"; fi

stop_slhttpd
summary
