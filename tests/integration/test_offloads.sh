#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib helpers take optional arguments
# Transmit offloads as the device has them: slhttpd's interface (vsrv) gets
# each offload switched off in turn with ethtool -K (tx = checksum, sg =
# scatter-gather, tso, gso), then all of them together, then switched while
# two downloads run. Every 64 MB download must be byte-exact (sha256), and
# the counters must show the fallback: super-frames cut in software
# (tx_sw_gso_frames) without TSO, checksums filled in software (tx_sw_csum)
# without tx checksumming, no frame given up after its retries. Last, the
# peer end goes down for a moment (no carrier: every frame is refused):
# refused frames are retried, then dropped and counted
# (drop_tx_retry_exhausted), and the transfer resumes. Without
# the fallback the first super-frame is refused by the device (ENOBUFS,
# AF_PACKET with PACKET_QDISC_BYPASS never segments) and nothing moves.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-240}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd curl ethtool sha256sum openssl

topo_up
make_file big.bin 64M
start_slhttpd

ctr_now() { # ctr_now NAME: the counter's current value (0 if absent)
  local f v
  f=$(slhttpd_stats) || { echo 0; return; }
  v=$(stat_get "$1" "$f")
  echo "${v:-0}"
}
offload() { # offload on|off FEATURE...
  local st=$1 a=() k; shift
  for k in "$@"; do a+=("$k" "$st"); done
  in_srv ethtool -K "$SRV_IF" "${a[@]}" >/dev/null 2>&1
}
feature_on() { # feature_on ETHTOOL-K-NAME: is it on now on vsrv?
  in_srv ethtool -k "$SRV_IF" | grep -Eq "^[[:space:]]*$1: on"
}

# the defaults first: the device segments (no software fallback)
fetch_check curl big.bin 60
gso0=$(ctr_now tx_gso_frames)
sw0=$(ctr_now tx_sw_gso_frames)
check "defaults: the device cuts super-frames (tx_gso_frames $gso0, tx_sw_gso_frames $sw0)" \
  test "$gso0" -gt 0 -a "$sw0" -eq 0

# one offload off at a time; what the kernel turns off with it follows
for feat in tx sg tso gso; do
  offload off "$feat" || fail "ethtool -K $SRV_IF $feat off"
  log "$feat off: $(in_srv ethtool -k "$SRV_IF" | grep -E '^(tx-checksumming|scatter-gather|tcp-segmentation-offload|generic-segmentation-offload):' | tr '\n' ' ')"
  sw_a=$(ctr_now tx_sw_gso_frames) cs_a=$(ctr_now tx_sw_csum)
  fetch_check curl big.bin 60
  sw_b=$(ctr_now tx_sw_gso_frames) cs_b=$(ctr_now tx_sw_csum)
  if feature_on tx-tcp-segmentation; then
    log "$feat off: TSO still on (super-frames cut in software: $((sw_b - sw_a)))"
  else
    check "$feat off: super-frames cut in software ($((sw_b - sw_a)))" test "$sw_b" -gt "$sw_a"
  fi
  if ! feature_on tx-checksumming; then
    check "$feat off: checksums filled in software ($((cs_b - cs_a)))" test "$cs_b" -gt "$cs_a"
  fi
  offload on "$feat" tx sg tso gso
done

# all of them together
offload off tx sg tso gso || fail "ethtool -K $SRV_IF tx sg tso gso off"
sw_a=$(ctr_now tx_sw_gso_frames) cs_a=$(ctr_now tx_sw_csum)
fetch_check wget big.bin 60
sw_b=$(ctr_now tx_sw_gso_frames) cs_b=$(ctr_now tx_sw_csum)
check "all off: super-frames cut and checksums filled in software ($((sw_b - sw_a)), $((cs_b - cs_a)))" \
  test "$sw_b" -gt "$sw_a" -a "$cs_b" -gt "$cs_a"
offload on tx sg tso gso
gso_a=$(ctr_now tx_gso_frames)
fetch_check curl big.bin 60
gso_b=$(ctr_now tx_gso_frames)
check "all back on: the device cuts again ($((gso_b - gso_a)) super-frames)" test "$gso_b" -gt "$gso_a"

# switched while two downloads run: each switch when the first download
# has moved on by another 2 MB (rate-limited so that the switches land
# inside the transfer)
rm -f "$DL/a" "$DL/b"
bg_start dl_a "$CLI_NS" curl -sS --max-time 90 --limit-rate 4M -o "$DL/a" "$(srv_url big.bin)"
pid_a=$BG_PID
bg_start dl_b "$CLI_NS" curl -sS --max-time 90 --limit-rate 4M -o "$DL/b" "$(srv_url big.bin)"
pid_b=$BG_PID
size_a() { stat -c %s "$DL/a" 2>/dev/null || echo 0; }
steps=("off tso" "on tso" "off tx" "on tx" "off sg" "on sg" "off tx sg tso gso" "on tx sg tso gso")
n=0
for st in "${steps[@]}"; do
  n=$((n + 1))
  at=$(size_a)
  wait_for "(( \$(size_a) >= $at + 2 * 1048576 )) || ! _sl_alive $pid_a" 60 || break
  _sl_alive "$pid_a" || break
  # shellcheck disable=SC2086 # "on|off FEATURES..." splits on purpose
  offload $st
  log "switch $n at $(($(size_a) / 1048576)) MB: $st"
done
check "all $((${#steps[@]})) switches happened during the transfer" test "$n" -eq "${#steps[@]}"
offload on tx sg tso gso
for x in a b; do
  pid=pid_$x
  wait_for "! _sl_alive ${!pid}" 90
  wait "${!pid}"
  rc=$?
  _sl_forget "${!pid}"
  got=$(file_sha "$DL/$x" 2>/dev/null)
  if [[ $rc == 0 && $got == "$(sha_of big.bin)" ]]; then
    pass "download $x during the switches: 64 MB sha256 ok"
  else
    fail "download $x during the switches: rc=$rc, $(stat -c %s "$DL/$x" 2>/dev/null || echo 0) bytes, sha256 ${got:-none}"
  fi
done

# a device that refuses every frame (no carrier: the peer end is down):
# each refused frame is sent again a bounded number of times, then dropped
# and counted, and the transfer resumes when the carrier is back
ex_a=$(ctr_now drop_tx_retry_exhausted)
check "no frame given up after its retries so far ($ex_a)" test "$ex_a" -eq 0
rm -f "$DL/c"
bg_start dl_c "$CLI_NS" curl -sS --max-time 60 --limit-rate 16M -o "$DL/c" "$(srv_url big.bin)"
pid_c=$BG_PID
wait_for "(( \$(stat -c %s $DL/c 2>/dev/null || echo 0) >= 4 * 1048576 )) || ! _sl_alive $pid_c" 30
ip -n "$CLI_NS" link set "$CLI_IF" down
wait_for "(( \$(ctr_now drop_tx_retry_exhausted) > $ex_a ))" 10
ex_b=$(ctr_now drop_tx_retry_exhausted) retries=$(ctr_now tx_retries)
ip -n "$CLI_NS" link set "$CLI_IF" up
check "no carrier: refused frames retried ($retries) then dropped ($((ex_b - ex_a)))" \
  test "$ex_b" -gt "$ex_a" -a "$retries" -gt 0
wait_for "ip -n $CLI_NS link show $CLI_IF | grep -q LOWER_UP" 5
wait_for "! _sl_alive $pid_c" 60
wait "$pid_c"
rc=$?
_sl_forget "$pid_c"
got=$(file_sha "$DL/c" 2>/dev/null)
check "download across the carrier loss: 64 MB sha256 ok (rc=$rc)" test "$rc" == 0 -a "$got" == "$(sha_of big.bin)"

if f=$(slhttpd_stats); then
  log "slhttpd counters:"
  print_counters "$f"
  for k in tx_offload_changes tx_sw_gso_frames tx_sw_csum tx_retries drop_tx_gso_refused \
    drop_tx_retry_exhausted; do
    log "  $k $(stat_get "$k" "$f")"
  done
  changes=$(stat_get tx_offload_changes "$f")
  check "offload changes seen (${changes:-0})" test "${changes:-0}" -gt 0
fi
# ping still answered (nothing stuck at the head of the ring)
check "ping answered after the switches" in_cli ping -c 3 -i 0.2 -W 2 -q "$SRV_IP"
stop_slhttpd
summary
