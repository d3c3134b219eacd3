#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions called indirectly (trap, wait_for)
# Steering: the XDP program (src/fleet/bpf/steer.bpf.c) spreads client flows
# over two slhttpd instances that serve one service address; instances
# answer the client directly (direct server return).
#
#   netns sl$$-cli          netns sl$$-srv (the front)            netns sl$$-i1 / -i2
#   vcli 198.18.0.1/24 <--> vsrv 198.18.0.2/24, XDP xdp_steer
#   route 198.18.5.0/24     br0 198.18.5.1/24 [vf1, vf2] <------> vi (XDP xdp_pass)
#     via 198.18.0.2        ip_forward on                         slhttpd --dev packet:vi
#                                                                   --addr 198.18.5.10/24
#                                                                   --gateway 198.18.5.1
# Client SYNs/ACKs to 198.18.5.10:80 enter the front on vsrv; the program
# picks an instance (Maglev bucket, or the per-flow override) and redirects
# the frame to its veth with its MAC. Replies leave the instance with source
# 198.18.5.10 and go back through the front's routing, not through XDP.
# A third instance is on "another host" (netns sl$$-h2, a routed link from
# the front, 198.18.6.0/24): the program encapsulates its frames IP-in-IP to
# 198.18.6.2, and xdp_decap on that host's interface strips the outer
# header before the instance reads the frame.
# Checks: 24 downloads byte-exact, all three instances serve some (the
# program's per-instance counters and each instance's own), an override
# sends a chosen flow to the instance the table would not pick, a live move
# (override mid-download; the instances share an shm store and one
# --store-key) finishes byte-exact with no RST, stray traffic is passed and
# counted. Maps are pinned under /sys/fs/bpf/sltcp/test<PID>.
# Light (4 MB files, one 24 MB): no ASan scaling needed.
SL_TEST_BUDGET=${SL_TEST_BUDGET:-90}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SLSTEER=$SL_BUILD/slsteer
[[ -x $SLSTEER ]] || skip_all "slsteer not built (needs clang, bpftool, libbpf)"
need_cmd curl nsenter ethtool tcpdump
[[ $(id -u) -eq 0 ]] || die "needs root"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null ||
  skip_all "no bpffs on /sys/fs/bpf"

NAME=test$$
SVC=198.18.5.10
I_NS=("sl$$-i1" "sl$$-i2" "sl$$-h2") # the third is on "another host"
I_IF=(vi vi vh2)
HOST2=198.18.6.2 # the other host's address: outer destination of IP-in-IP
eval "$(declare -f cleanup | sed '1s/^cleanup/_sl_lib_cleanup/')"
cleanup() {
  _sl_lib_cleanup
  "$SLSTEER" unpin "$NAME" 2>/dev/null
  [[ -n ${SHM_NAME:-} ]] && rm -f "/dev/shm/$SHM_NAME"
}
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
steer() { in_ns "$SRV_NS" "$SLSTEER" "$@"; }

topo_up
# The client computes its checksums (as anything arriving from a real wire
# has): a veth leaves them to "offload", and an XDP redirect loses the skb
# that said so, so the instance would see bad checksums (drop_tcp_csum).
in_cli ethtool -K "$CLI_IF" tx off >/dev/null 2>&1 || die "ethtool -K $CLI_IF tx off"
# The front: a router between the client and the instances' segment.
ip -n "$SRV_NS" addr add "$SRV_IP/$NET_LEN" dev "$SRV_IF" || die "front address"
ip -n "$CLI_NS" route add 198.18.5.0/24 via "$SRV_IP" || die "client route"
in_srv sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 >/dev/null
ip -n "$SRV_NS" link add br0 type bridge || die "bridge"
ip -n "$SRV_NS" addr add 198.18.5.1/24 dev br0
ip -n "$SRV_NS" link set br0 up
for ns in "${I_NS[@]}"; do
  ip netns add "$ns" || die "ip netns add $ns"
  _SL_NETNS+=("$ns")
done
# Every instance link has the same MTU (1520, see below): instances must
# announce the same MSS, or a flow moved to one with a smaller MTU is
# refused at restore (restore_invalid_mss).
for i in 0 1; do
  ip link add "vf$((i + 1))" netns "$SRV_NS" mtu 1520 type veth peer name vi netns "${I_NS[$i]}" mtu 1520 ||
    die "veth ${I_NS[$i]}"
  ip -n "$SRV_NS" link set "vf$((i + 1))" master br0 up
  _sl_ns_common "${I_NS[$i]}" vi
done
# The other host: a routed link from the front (198.18.6.0/24), MTU 1520 so
# that a full-size client segment fits with its outer header (RFC 2003 3.1:
# the tunnel path needs 20 bytes more than the inner packet).
ip link add vh netns "$SRV_NS" mtu 1520 type veth peer name vh2 netns "${I_NS[2]}" mtu 1520 ||
  die "veth to the other host"
ip -n "$SRV_NS" addr add 198.18.6.1/24 dev vh
ip -n "$SRV_NS" link set vh up
_sl_ns_common "${I_NS[2]}" vh2
MACS=()
for i in 0 1 2; do
  MACS+=("$(ip -n "${I_NS[$i]}" -o link show "${I_IF[$i]}" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)")
done

# Steering: load, attach, service, two instances.
steer init "$NAME" || die "slsteer init"
steer attach "$NAME" "$SRV_IF" xdp_steer || die "attach xdp_steer to the front"
for i in 0 1; do # redirected frames enter a veth through its XDP path
  in_ns "${I_NS[$i]}" "$SLSTEER" attach "$NAME" vi xdp_pass || die "attach xdp_pass"
done
# The other host strips the outer header before its instance reads the frame.
in_ns "${I_NS[2]}" "$SLSTEER" attach "$NAME" vh2 xdp_decap || die "attach xdp_decap"
steer service "$NAME" "$SVC:80" "$SRV_IP" || die "slsteer service"
steer instances "$NAME" "slot=0,name=i1,local=vf1,mac=${MACS[0]}" \
  "slot=1,name=i2,local=vf2,mac=${MACS[1]}" \
  "slot=2,name=h2,remote=$HOST2,via=vh,mac=${MACS[2]}" || die "slsteer instances"
pass "steering loaded, attached and configured (maps in /sys/fs/bpf/sltcp/$NAME)"

make_file f.bin 4M
make_file big.bin 24M
head -c 32 /dev/urandom >"$WORK/store.key"
chmod 600 "$WORK/store.key"
SHM_NAME=slst$$.$RANDOM
GW=(198.18.5.1 198.18.5.1 198.18.6.1)
for i in 0 1 2; do
  bg_start "inst$i" "${I_NS[$i]}" "${SLHTTPD_CMD[@]}" --dev "packet:${I_IF[$i]}" --addr "$SVC/24" \
    --gateway "${GW[$i]}" --port 80 --root "$ROOT" --quiet \
    --store "shm:$SHM_NAME?slots=1024" --durability sync --store-key "$WORK/store.key" \
    --stats-file "$WORK/inst$i.stats" --ready-file "$WORK/inst$i.ready"
  eval "INST$i=$BG_PID"
done
wait_for "[[ -e $WORK/inst0.ready && -e $WORK/inst1.ready && -e $WORK/inst2.ready ]]" 15 || die "instances not ready"

# counter SLOT: packets the program steered to SLOT.
slot_pkts() { steer stats "$NAME" | awk -v s="$1" 'p && $1 == s { print $2 } /^slot/ { p = 1 } /^counter/ { p = 0 }' | grep . || echo 0; }
gctr() { steer stats "$NAME" | awk -v c="$1" '$1 == c { print $2 }'; }
inst_stat() { # inst_stat I COUNTER: a counter of instance I (SIGUSR1 + stats file)
  local f=$WORK/inst$1.stats pid
  pid=$(eval echo "\$INST$1")
  rm -f "$f"
  kill -USR1 "$pid"
  wait_for "[[ -s $f ]] && grep -q . $f" 5 || { echo 0; return; }
  sleep 0.05 # the file is written in one go; let it finish
  local v
  v=$(stat_get "$2" "$f")
  echo "${v:-0}"
}

# 1. Many flows: spread over both instances, every byte right.
N=24
start=$(now)
pids=()
for ((k = 0; k < N; k++)); do
  ip netns exec "$CLI_NS" curl -sS --max-time 30 -o "$DL/f$k" "http://$SVC/f.bin" \
    2>"$WORK/curl$k.err" &
  pids+=($!)
  _SL_PIDS+=("$!")
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); _sl_forget "$p"; done
ok=0
for ((k = 0; k < N; k++)); do [[ $(file_sha "$DL/f$k") == "$(sha_of f.bin)" ]] && ok=$((ok + 1)); done
log "$N downloads of 4 MB through the front in $(elapsed "$start") s: $ok byte-exact, $bad curl failures"
check "$N downloads byte-exact through the steering front" test "$ok" -eq "$N" -a "$bad" -eq 0
p0=$(slot_pkts 0) p1=$(slot_pkts 1) p2=$(slot_pkts 2)
e0=$(inst_stat 0 tcp_passive_opens) e1=$(inst_stat 1 tcp_passive_opens) e2=$(inst_stat 2 tcp_passive_opens)
log "program: $p0 / $p1 / $p2 packets to slots 0 1 2 (2: IP-in-IP, $(gctr deliver_encap) encapsulated);" \
  "instances: passive opens $e0 / $e1 / $e2"
check "the program steered packets to all three instances" \
  test "${p0:-0}" -gt 0 -a "${p1:-0}" -gt 0 -a "${p2:-0}" -gt 0
check "all three accepted connections (DSR replies from $SVC reached the client)" \
  test "$e0" -gt 0 -a "$e1" -gt 0 -a "$e2" -gt 0
check "the other host's instance got its flows through IP-in-IP (decapsulated there)" \
  test "$(gctr deliver_encap)" -gt 0 -a "$(gctr decap)" -gt 0
check "every connection opened on exactly one instance" test $((e0 + e1 + e2)) -eq "$N"

# 2. An override sends one chosen flow to the instance the table would not.
PORT=45123
where=$(steer lookup "$NAME" "$CLI_IP:$PORT" "$SVC:80" | awk '{print $2}')
other=$(((where + 1) % 3))
steer override "$NAME" "$CLI_IP:$PORT" "$SVC:80" "$other" || die "slsteer override"
if steer lookup "$NAME" "$CLI_IP:$PORT" "$SVC:80" | grep -q "slot $other override"; then
  pass "lookup reports the override (table slot $where, override slot $other)"
else
  fail "lookup does not report the override"
fi
before=$(inst_stat "$other" tcp_passive_opens) ov0=$(gctr steer_override)
run_in "$CLI_NS" curl -sS --max-time 20 --local-port "$PORT" -o "$DL/ov" "http://$SVC/f.bin" \
  2>"$WORK/curl_ov.err"
check "the overridden flow's download is byte-exact" test "$(file_sha "$DL/ov")" == "$(sha_of f.bin)"
after=$(inst_stat "$other" tcp_passive_opens) ov1=$(gctr steer_override)
log "override: instance $other passive opens $before -> $after, steer_override $ov0 -> $ov1"
check "the overridden flow went to instance $other" test "$after" -eq $((before + 1))
check "its packets were steered by the override map" test "$ov1" -gt "$ov0"
steer override-del "$NAME" "$CLI_IP:$PORT" "$SVC:80" || fail "override-del"

# 3. A live move: mid-download, an override sends the rest of one flow to
# the other instance, which restores it from the shared store (the fleet
# secret: one store key) and finishes it. No RST reaches the client.
PORT=45200
bg_start rstcap "$CLI_NS" tcpdump -i "$CLI_IF" -n -U --immediate-mode -Z root -s 96 \
  -w "$WORK/mv.pcap" "src host $SVC and (tcp[tcpflags] & tcp-rst != 0 or dst port $PORT)"
RST_PID=$BG_PID
wait_for "grep -q 'listening on' $WORK/rstcap.log" 10 || die "tcpdump did not start"
from=$(steer lookup "$NAME" "$CLI_IP:$PORT" "$SVC:80" | awk '{print $2}')
# across hosts (IP-in-IP) if the flow is on this host, else to this host
if ((from == 2)); then to=0; else to=2; fi
r0=$(inst_stat "$to" restore_on_demand)
ip netns exec "$CLI_NS" curl -sS --max-time 40 --limit-rate 6M --local-port "$PORT" \
  -o "$DL/mv" "http://$SVC/big.bin" 2>"$WORK/curl_mv.err" &
CURL=$!
_SL_PIDS+=("$CURL")
wait_for "[[ -s $DL/mv && \$(stat -c %s $DL/mv) -gt 4000000 ]]" 15 || fail "the download did not start"
t_move=$(now)
steer override "$NAME" "$CLI_IP:$PORT" "$SVC:80" "$to" || fail "slsteer override (move)"
wait "$CURL"
rc=$?
_sl_forget "$CURL"
log "moved flow $CLI_IP:$PORT from instance $from to $to; curl exit $rc, $(elapsed "$t_move") s after the move"
check "the moved download completed (curl exit 0)" test "$rc" -eq 0
check "the moved download is byte-exact" test "$(file_sha "$DL/mv")" == "$(sha_of big.bin)"
r1=$(inst_stat "$to" restore_on_demand)
check "instance $to restored the moved flow from the store ($r0 -> $r1)" test "$r1" -gt "$r0"
stop_pid "$RST_PID" INT 5
nrst=$(tcpdump -r "$WORK/mv.pcap" -n 'tcp[tcpflags] & tcp-rst != 0' 2>/dev/null | wc -l)
# The client-side stall of the move: the longest gap between two segments
# of the flow within 1 s after the override (informational; the rate limit
# alone makes gaps of a few ms).
gap=$(tcpdump -r "$WORK/mv.pcap" -n -tt 2>/dev/null | awk -v t="$t_move" \
  '$1 >= t && $1 < t + 1 { if (p) { g = $1 - p; if (g > m) m = g } p = $1 } END { printf "%.1f", m * 1000 }')
log "longest gap in the moved flow's segments at the client within 1 s of the move: ${gap} ms"
check "no RST from the service reached the client ($nrst)" test "$nrst" -eq 0
steer override-del "$NAME" "$CLI_IP:$PORT" "$SVC:80" || fail "override-del (move)"

# 4. Other traffic passes to the front's kernel, counted: ping the front.
ns0=$(gctr pass_not_service)
ip netns exec "$CLI_NS" ping -c 2 -i 0.2 -W 1 "$SRV_IP" >/dev/null 2>&1
check "ICMP to the front passes through the program (pass_not_service counted)" \
  test "$(gctr pass_not_service)" -gt "$ns0"
check "nothing dropped as truncated or without an instance" \
  test "$(gctr drop_truncated)" -eq 0 -a "$(gctr drop_no_instance)" -eq 0

# 5. The pins outlive the loader and a detach: a new handle sees the counters.
steer detach "$SRV_IF" || fail "detach"
check "the pinned maps outlive the program's detach" test "$(slot_pkts 0)" -ge "$p0"

for i in 0 1 2; do stop_pid "$(eval echo "\$INST$i")" TERM 10; done
summary
