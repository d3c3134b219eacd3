/* Validation of a control block rebuilt from a store record.
 *
 * A record's MAC proves who sealed it, not that its contents are sane: a
 * writer with a bug, a leaked key, or a replayed record from another
 * configuration can hand the engine any combination of values. Before a
 * restored control block reaches the engine, every field is checked
 * against what the engine itself can produce (the invariants of
 * fuzz/fuzz_tcp.c) and against this instance: its address, MTU and ring
 * sizes. Pure: no clock but `now`, no state, no allocation. */
#ifndef SL_TCP_VALIDATE_H
#define SL_TCP_VALIDATE_H

#include "tcp/tcp.h"

/* Smallest MSS the engine accepts from a peer (tcp_open.c, tcp_input.c:
 * a smaller advertised MSS is raised to it); 12 less with timestamps. */
#define SL_TCP_MSS_FLOOR 64u

/* What the restoring instance is. */
struct sl_tcp_restore_env {
    uint32_t laddr;   /* our address: the record's local address must be it */
    uint32_t netmask; /* our subnet (its broadcast address is never a peer) */
    uint16_t mss;     /* our interface's MSS (MTU - 40): the upper bound */
    uint32_t sndbuf, rcvbuf; /* our ring sizes */
    uint64_t now;     /* engine clock, microseconds */
};

/* SL_CTR_ok if the control block may be restored, else the counter of the
 * first class of fields that is wrong (SL_CTR_restore_invalid_*):
 *   state   a state a stored flow cannot be in (CLOSED, LISTEN, SYN-SENT,
 *           TIME-WAIT), flags that contradict it, unknown congestion control
 *   addr    local address not ours; remote zero, ours, loopback, multicast,
 *           reserved, limited or subnet broadcast; a zero port
 *   mss     snd_mss/rcv_mss/peer_mss/path_mss outside [64 (52 with
 *           timestamps), our MSS], or snd_mss above what was negotiated
 *   bufsz   ring sizes other than ours
 *   sndseq  not SND.UNA <= SND.NXT <= SND.MAX <= SND.END (+1 for a FIN);
 *           SND.END - SND.UNA beyond the send ring; SYN-RECEIVED not at ISS;
 *           SND.UP outside the send stream
 *   rcvseq  not RCV.READ <= RCV.NXT, more than the receive ring (+ FIN)
 *           between them, an advertised right edge beyond the ring
 *   window  window scale above 14 (RFC 7323 2.3) or set without the
 *           option; a send window above 65535 << scale
 *   timer   a deadline further than the engine ever sets one (RTO, SYN,
 *           persist, delayed ACK, keepalive, FIN-WAIT-2, 2MSL); RTO outside
 *           [RTO_MIN, RTO_MAX]; SACK/out-of-order counts above their arrays */
enum sl_ctr sl_tcp_validate_restored(const struct sl_tcb *t, const struct sl_tcp_restore_env *env);

#endif
