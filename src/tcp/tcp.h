/* TCP engine: a pure state machine (RFC 9293 3.10).
 *
 * Segments and clock in, segments and events out. The engine calls no
 * socket, no clock, no store and allocates nothing. Its whole state is
 * `struct sl_tcb`, a fixed-size struct of integers with no pointers, plus
 * two byte rings addressed by sequence number (ring index = seq & (size-1)):
 *   send ring: bytes [snd_una, snd_end) are the unacknowledged + unsent
 *              stream (the SYN's sequence number is never stored);
 *   recv ring: bytes [rcv_read, rcv_nxt) are in-order data not yet read by
 *              the application; out-of-order data sits at its own sequence
 *              position inside the window, its ranges listed in ooo[].
 * So a connection is (tcb, ring bytes) and can be copied to a store and back
 * without translation.
 */
#ifndef SL_TCP_H
#define SL_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ctr.h"
#include "wire/wire.h"

enum sl_tcp_state {
    SL_TCP_CLOSED = 0,
    SL_TCP_LISTEN,
    SL_TCP_SYN_SENT,
    SL_TCP_SYN_RCVD,
    SL_TCP_ESTABLISHED,
    SL_TCP_FIN_WAIT_1,
    SL_TCP_FIN_WAIT_2,
    SL_TCP_CLOSE_WAIT,
    SL_TCP_CLOSING,
    SL_TCP_LAST_ACK,
    SL_TCP_TIME_WAIT,
    SL_TCP__NSTATES
};

/* Congestion controller (tcb.cc, cfg.cc). The public enum sl_cc has the
 * same values; the API maps one to the other. */
enum sl_tcp_cc { SL_TCP_CC_NEWRENO = 0, SL_TCP_CC_CUBIC = 1 };

/* tcb.flags */
#define SL_TF_SACK_OK 0x0001    /* both sides sent SACK-permitted */
#define SL_TF_TS_OK 0x0002      /* both sides sent timestamps */
#define SL_TF_WS_OK 0x0004      /* both sides sent window scale */
#define SL_TF_NODELAY 0x0008    /* Nagle off */
#define SL_TF_FIN_QUEUED 0x0010 /* app closed its side: FIN follows snd_end */
#define SL_TF_FIN_RCVD 0x0020   /* peer FIN consumed (rcv_nxt includes it) */
#define SL_TF_ACK_NOW 0x0040    /* an ACK must go out on the next output */
#define SL_TF_IN_RECOVERY 0x0080 /* fast recovery (RFC 6582 / 6675) */
#define SL_TF_RTT_VALID 0x0100  /* an RTT sample is being timed (Karn) */
#define SL_TF_PASSIVE 0x0200    /* created from LISTEN */
#define SL_TF_RD_SHUT 0x0400    /* app shut down reading: discard input */
#define SL_TF_GSO 0x0800        /* device can cut super-segments */
#define SL_TF_PERSIST 0x1000    /* t_rexmt is the persist timer */
#define SL_TF_HAVE_RTT 0x2000   /* srtt/rttvar initialised */
#define SL_TF_TLP_SENT 0x4000   /* a tail loss probe is outstanding */
#define SL_TF_OPENING_SYN 0x8000 /* SYN retransmit timer (SYN_SENT/RCVD) */
#define SL_TF_PTO 0x10000       /* t_rexmt is a tail-loss probe timeout (RFC 8985 7) */
#define SL_TF_NO_TLP 0x20000    /* tail loss probes disabled (tests, like Linux's tcp_early_retrans=0) */
#define SL_TF_RCV_URG 0x40000   /* rcv_up is valid (RFC 9293 3.8.5) */
#define SL_TF_SND_URG 0x80000   /* snd_up is valid: urgent data not yet acknowledged */
#define SL_TF_ECN_OK 0x100000   /* ECN (RFC 3168 6.1.1): offered before the handshake,
                                   negotiated after it */
#define SL_TF_ECN_ECE 0x200000  /* a CE mark arrived: ECE on every ACK until the
                                   peer's CWR (RFC 3168 6.1.3) */
#define SL_TF_ECN_CWR 0x400000  /* the window was cut for an ECE: CWR on the next
                                   new data segment (RFC 3168 6.1.2) */

#define SL_TCP_MAX_OOO 4

/* The control block: the whole protocol state of a connection, a value.
 * Declared once, here: X(type, name, array, FATE, why) where FATE says what
 * a flow record does with it: PACKED (src/state/record.c sl_tcb_pack keeps
 * it; a restored connection has it back) or DROPPED (`why` says why a
 * restored connection does not need it). A field cannot be added without
 * a decision, and tests/unit/test_store_record.c checks every PACKED field
 * survives a record and every DROPPED one has a reason. */
#define SL_TCB_FIELDS(X)                                                                          \
    /* identity, host order */                                                                    \
    X(uint32_t, laddr, , DROPPED, "the record header holds the flow key")                         \
    X(uint32_t, raddr, , DROPPED, "the record header holds the flow key")                         \
    X(uint16_t, lport, , DROPPED, "the record header holds the flow key")                         \
    X(uint16_t, rport, , DROPPED, "the record header holds the flow key")                         \
    X(uint8_t, state, , PACKED, "enum sl_tcp_state")                                              \
    X(uint8_t, cc, , PACKED, "enum sl_tcp_cc")                                                        \
    X(uint8_t, r2, , PACKED, "data retransmissions before giving up; 0 = default (MUST-21)")      \
    X(uint8_t, oow_count, , DROPPED,                                                              \
      "out-of-window ACKs sent in chack_window's second: the rate window restarts")               \
    X(uint32_t, flags, , PACKED, "SL_TF_*, except SL_TF_RTT_VALID (see rtt_seq)")                 \
    /* send sequence space (RFC 9293 3.3.1); snd_max: highest seq sent + 1 */                     \
    X(uint32_t, iss, , PACKED, "")                                                                \
    X(uint32_t, snd_una, , PACKED, "")                                                            \
    X(uint32_t, snd_nxt, , PACKED, "")                                                            \
    X(uint32_t, snd_max, , PACKED, "")                                                            \
    X(uint32_t, snd_end, , PACKED, "seq after the last byte the app queued")                      \
    X(uint32_t, snd_wnd, , PACKED, "peer's window, scaled, bytes")                                \
    X(uint32_t, snd_wl1, , PACKED, "")                                                            \
    X(uint32_t, snd_wl2, , PACKED, "")                                                            \
    X(uint32_t, max_snd_wnd, , PACKED, "largest window the peer offered (SWS, 3.8.6.2.1)")        \
    /* receive sequence space */                                                                  \
    X(uint32_t, irs, , PACKED, "")                                                                \
    X(uint32_t, rcv_nxt, , PACKED, "")                                                            \
    X(uint32_t, rcv_adv, , PACKED, "right edge of the window we advertised")                      \
    X(uint32_t, rcv_up, , PACKED, "RCV.UP (3.3.1): seq after the urgent data, while in use")      \
    X(uint32_t, snd_up, , PACKED, "SND.UP, while in use")                                         \
    X(uint32_t, rcv_read, , PACKED, "next byte the application reads")                            \
    X(uint32_t, snd_bufsz, , PACKED, "ring size, a power of two")                                 \
    X(uint32_t, rcv_bufsz, , PACKED, "ring size, a power of two")                                 \
    X(uint16_t, snd_mss, , PACKED, "payload bytes per segment we send")                           \
    X(uint16_t, rcv_mss, , PACKED, "MSS we advertised")                                           \
    X(uint16_t, peer_mss, , PACKED, "MSS the peer advertised (536 if none)")                      \
    X(uint16_t, path_mss, , PACKED, "from PMTU (RFC 5927/1191), 0 = unknown")                     \
    X(uint8_t, snd_wscale, , PACKED, "shift applied to the peer's window")                        \
    X(uint8_t, rcv_wscale, , PACKED, "shift applied to our window")                               \
    X(uint8_t, backoff, , PACKED, "RTO doublings so far (RFC 6298 5.5)")                          \
    X(uint8_t, dupacks, , PACKED, "")                                                             \
    /* timestamps (RFC 7323) */                                                                   \
    X(uint32_t, ts_recent, , PACKED, "with SL_TF_TS_OK")                                          \
    X(uint32_t, ts_recent_ms, , PACKED, "when ts_recent was set (ms clock): stored as an age")    \
    X(uint32_t, ts_offset, , PACKED,                                                              \
      "per-connection TSval offset: the TSval due at the writer's now is stored")                 \
    X(uint32_t, last_ack_sent, , PACKED, "with SL_TF_TS_OK")                                      \
    /* RTT estimation (RFC 6298), microseconds */                                                 \
    X(uint32_t, srtt, , PACKED, "")                                                               \
    X(uint32_t, rttvar, , PACKED, "")                                                             \
    X(uint32_t, rto, , PACKED, "")                                                                \
    X(uint32_t, rtt_seq, , DROPPED,                                                               \
      "the sample in flight is abandoned as after a retransmission (Karn, RFC 6298 3): "          \
      "one spanning a crash would measure the outage")                                            \
    X(uint32_t, rtt_start_us, , DROPPED, "see rtt_seq")                                           \
    /* congestion control (RFC 5681, 6582, 9438) */                                               \
    X(uint32_t, cwnd, , PACKED, "")                                                               \
    X(uint32_t, ssthresh, , PACKED, "")                                                           \
    X(uint32_t, recover, , PACKED, "RFC 6582 recover")                                            \
    X(uint32_t, ca_acked, , PACKED, "bytes acked in congestion avoidance")                        \
    X(uint32_t, cub_wmax, , PACKED, "CUBIC W_max, bytes")                                         \
    X(uint32_t, cub_k_ms, , PACKED, "CUBIC K, ms")                                                \
    X(uint32_t, cub_epoch_ms, , PACKED, "start of the CUBIC epoch (ms clock), 0 = none: an age")  \
    X(uint32_t, cub_west, , PACKED, "Reno-friendly estimate, bytes")                              \
    /* SACK scoreboard of our data the peer holds (RFC 2018 / 6675) */                            \
    X(struct sl_sack_block, sacked, [SL_TCP_MAX_SACK], DROPPED,                                   \
      "advisory: RFC 2018 8 lets the receiver renege, so the sender keeps all data until it "     \
      "is cumulatively acked (the engine clears it on RTO the same way); the peer's next ACKs "   \
      "rebuild it")                                                                               \
    X(uint32_t, high_rxt, , PACKED, "RFC 6675 HighRxt")                                           \
    X(uint32_t, rxt_mark, , PACKED, "SND.MAX when the latest hole was retransmitted")             \
    X(uint8_t, n_sacked, , DROPPED, "see sacked")                                                 \
    X(uint8_t, n_ooo, , DROPPED, "see ooo")                                                       \
    X(uint8_t, ka_probes, , PACKED, "keepalive probes sent without answer")                       \
    X(uint8_t, ooo_last, , DROPPED, "see ooo")                                                    \
    /* out-of-order receive ranges, data held in the receive ring */                              \
    X(struct sl_sack_block, ooo, [SL_TCP_MAX_OOO], DROPPED,                                       \
      "out-of-order data is not in the record (only in-order bytes below rcv_nxt): "              \
      "discarding SACKed data is reneging, which RFC 2018 8 permits; the peer retransmits it")    \
    /* timers: absolute deadlines in microseconds, 0 = off */                                     \
    X(uint64_t, t_rexmt, , PACKED, "RTO, SYN retransmit, persist: stored as remaining time")      \
    X(uint64_t, t_delack, , PACKED, "delayed ACK: remaining time")                                \
    X(uint64_t, t_keep, , PACKED, "keepalive, FIN-WAIT-2, TIME-WAIT: remaining time")             \
    X(uint32_t, keepidle_s, , PACKED, "keep-alive idle time in force, 0 = keep-alive off")        \
    X(uint32_t, chack_window, , DROPPED,                                                          \
      "RFC 5961 7 challenge-ACK rate window: restarts (at most one extra burst)")                 \
    X(uint16_t, chack_count, , DROPPED, "see chack_window")                                       \
    X(int16_t, err, , PACKED, "negative errno that ended the connection")                         \
    X(uint32_t, retrans_total, , PACKED, "")                                                      \
    X(uint32_t, snd_off_hi, , PACKED,                                                             \
      "high 32 bits of the send stream offset: bytes the app queued = "                           \
      "snd_off_hi << 32 | (snd_end - iss - 1)")                                                   \
    X(uint32_t, ecn_mark, , PACKED,                                                               \
      "RFC 3168 6.1.2: no new reaction to ECE until an ACK passes this (SND.MAX at the last cut)") \
    /* what the application set; the stack's defaults at open */                                  \
    X(uint32_t, keepidle_cfg, , PACKED, "SL_OPT_KEEPIDLE, seconds (used once keep-alive is on)")  \
    X(uint8_t, tos, , PACKED, "SL_OPT_TOS: the DS byte of every datagram (MUST-48)")              \
    X(uint8_t, route_app, , PACKED, "the source route was set by the application (MUST-52)")      \
    X(struct sl_srcroute, route, , PACKED, "source route of every segment (type 0: none)")

#define SL_TCB_DECLARE(type, name, arr, fate, why) type name arr;
struct sl_tcb {
    SL_TCB_FIELDS(SL_TCB_DECLARE)
};

/* Engine events (bitmask in sl_tcp_out.events). */
#define SL_TEV_READABLE 0x01
#define SL_TEV_WRITABLE 0x02
#define SL_TEV_CONNECTED 0x04 /* reached ESTABLISHED */
#define SL_TEV_HUP 0x08       /* peer FIN received */
#define SL_TEV_ERROR 0x10     /* tcb.err set: reset, refused, timeout */
#define SL_TEV_CLOSED 0x20    /* reached CLOSED: the tcb may be freed */
#define SL_TEV_URGENT 0x80    /* RCV.UP advanced past the data read (3.8.5) */
#define SL_TEV_R1 0x40        /* R1 retransmissions reached (RFC 9293 3.8.3,
                                 MUST-20/22): negative advice to IP, tell the app */

/* One segment to transmit. Payload is `len` bytes of the send ring from
 * `seq` (after a SYN, from seq+1). When gso != 0, len may exceed snd_mss and
 * the device cuts the payload into gso-byte segments. */
struct sl_tcp_emit {
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;  /* raw window field, already scaled down */
    uint32_t len;
    uint16_t gso;
    uint16_t urp;  /* urgent pointer field, with SL_TCP_URG in flags */
    uint8_t ecn;   /* ECN field for the IP header: SL_IP_ECN_ECT0 on new data
                      of an ECN connection, else 0 (RFC 3168 6.1.5) */
    struct sl_tcp_opts opts;
};

#define SL_TCP_OUT_MAX 64
struct sl_tcp_out {
    unsigned n;
    unsigned events;
    uint64_t *ctr; /* counter array (SL_CTR__COUNT), may be shared */
    struct sl_tcp_emit seg[SL_TCP_OUT_MAX];
};

/* Per-connection configuration handed in at open. */
struct sl_tcp_cfg {
    uint16_t mss;        /* from the interface MTU: mtu - 40 */
    uint32_t sndbuf, rcvbuf; /* powers of two */
    uint8_t cc;          /* enum sl_tcp_cc */
    bool gso;            /* device accepts super-segments */
    bool no_sack, no_ts, no_ws; /* for tests: disable an option */
    bool no_tlp;         /* disable RFC 8985 tail loss probes */
    bool no_ecn;         /* ECN off: SYNs asking for it are answered without */
    bool ecn_active;     /* active opens ask for ECN (RFC 3168 6.1.1) */
};

struct sl_tcp_bufs {
    uint8_t *snd, *rcv;
};

/* ---- opening ---- */
/* Active open (RFC 9293 3.10.1): SYN_SENT; the first output emits the SYN. */
void sl_tcp_open_active(struct sl_tcb *t, const struct sl_tcp_cfg *cfg, uint64_t now,
                        uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport,
                        uint32_t iss, uint32_t ts_offset, struct sl_tcp_out *out);
/* LISTEN processing of an acceptable SYN (3.10.7.2): SYN_RCVD, emits SYN-ACK.
 * The caller has already checked RST/ACK on the segment with
 * sl_tcp_listen_check(). */
void sl_tcp_open_passive(struct sl_tcb *t, const struct sl_tcp_cfg *cfg, uint64_t now,
                         uint32_t laddr, uint32_t raddr, const struct sl_tcp_seg *syn,
                         uint32_t iss, uint32_t ts_offset, struct sl_tcp_out *out);
/* What a LISTEN socket does with a segment (3.10.7.2): returns SL_CTR_ok if
 * it is a SYN to accept, else the drop reason; a RST reply (for an ACK) is
 * appended to out. */
enum sl_ctr sl_tcp_listen_check(const struct sl_tcp_seg *seg, struct sl_tcp_out *out);
/* Segment for no connection (CLOSED, 3.10.7.1): appends the RST reply
 * unless the segment itself is a RST. Returns the counter to bump. */
enum sl_ctr sl_tcp_closed_reply(const struct sl_tcp_seg *seg, struct sl_tcp_out *out);

/* ---- segment arrival, timers, output ---- */
void sl_tcp_input(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                  const struct sl_tcp_seg *seg, struct sl_tcp_out *out);
void sl_tcp_timers(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                   struct sl_tcp_out *out);
/* Emits whatever the windows, Nagle and pending ACKs allow. */
void sl_tcp_output(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                   struct sl_tcp_out *out);
uint64_t sl_tcp_next_deadline(const struct sl_tcb *t);

/* ---- application side (pure memory operations) ---- */
uint32_t sl_tcp_send_space(const struct sl_tcb *t);
uint32_t sl_tcp_write(struct sl_tcb *t, const struct sl_tcp_bufs *b, const void *data, uint32_t len);
/* Copies len bytes of the send stream from seq (for building frames). */
void sl_tcp_copy_out(const struct sl_tcb *t, const uint8_t *snd, uint32_t seq, uint8_t *dst,
                     uint32_t len);
uint32_t sl_tcp_readable(const struct sl_tcb *t);
uint32_t sl_tcp_read(struct sl_tcb *t, const struct sl_tcp_bufs *b, void *data, uint32_t len);
/* Marks everything written so far as urgent (3.8.5 SEND with the URGENT
 * flag): SND.UP = SND.END; segments carry URG until it is acknowledged. */
void sl_tcp_mark_urgent(struct sl_tcb *t);
/* Bytes of urgent data from `read` (the application's read point) up to
 * RCV.UP, 0 when none is pending (MUST-33). */
uint32_t sl_tcp_urgent_left(const struct sl_tcb *t, uint32_t read);
/* Application close (3.10.4): queue FIN after the data. */
void sl_tcp_close(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out);
void sl_tcp_shutdown_rd(struct sl_tcb *t);
/* Abort (3.10.5): emit RST, go to CLOSED. */
void sl_tcp_abort(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out);
/* A control block was just rebuilt from a store record (restart, move):
 * its rings hold [snd_una, snd_end) and [rcv_read, rcv_nxt). Forgets what
 * the record does not carry (out-of-order data, the SACK scoreboard, an
 * RTT sample in flight), restarts from a safe congestion window and
 * retransmits from SND.UNA at once, with an ACK, instead of waiting for
 * the peer's RTO. Emits into out. */
void sl_tcp_restored(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                     struct sl_tcp_out *out);

/* ---- SYN cookies (RFC 4987 3.6), src/tcp/tcp_syncookie.c ---- */
uint32_t sl_tcp_cookie_make(const uint8_t key[16], uint32_t laddr, uint16_t lport,
                            uint32_t raddr, uint16_t rport, uint16_t peer_mss, uint64_t now);
/* 1 and the encoded MSS if `cookie` (= SEG.ACK - 1) is ours and fresh. */
int sl_tcp_cookie_check(const uint8_t key[16], uint32_t laddr, uint16_t lport, uint32_t raddr,
                        uint16_t rport, uint32_t cookie, uint64_t now, uint16_t *mss);
/* Appends the SYN-ACK for `syn` with ISS = cookie; keeps no state. */
void sl_tcp_cookie_synack(const struct sl_tcp_cfg *cfg, uint64_t now, uint32_t laddr,
                          uint32_t raddr, const struct sl_tcp_seg *syn, uint32_t cookie,
                          struct sl_tcp_out *out);
/* Rebuilds an ESTABLISHED connection in t from the cookie-bearing ACK. */
void sl_tcp_cookie_open(struct sl_tcb *t, const struct sl_tcp_cfg *cfg, uint64_t now,
                        uint32_t laddr, uint32_t raddr, const struct sl_tcp_seg *ack,
                        uint16_t mss, const struct sl_tcp_bufs *b, struct sl_tcp_out *out);

/* ICMP fragmentation-needed for this connection (RFC 5927 / 1191): `seq`
 * is the quoted sequence number. Returns SL_CTR_ok or the drop reason. */
enum sl_ctr sl_tcp_icmp_ptb(struct sl_tcb *t, uint32_t seq, uint16_t mtu);
/* Any other ICMP error quoting this connection (RFC 9293 3.9.2.2, RFC 5927
 * 4.1): SL_CTR_ok if `seq` is in flight (SND.UNA <= seq < SND.NXT, or the
 * ISS of a SYN not yet acknowledged), else the drop reason. Soft errors
 * only: the connection's state does not change (RFC 5927 4.2, RFC 1122
 * 4.2.3.9: no abort on an unverifiable hard error). */
enum sl_ctr sl_tcp_icmp_error(const struct sl_tcb *t, uint32_t seq);

/* ISN per RFC 6528: M + F(4-tuple, key), F = SipHash-2-4 (libsodium
 * crypto_shorthash), M = 4-microsecond clock. */
uint32_t sl_tcp_isn(const uint8_t key[16], uint32_t laddr, uint16_t lport, uint32_t raddr,
                    uint16_t rport, uint64_t now_us);

const char *sl_tcp_state_name(uint8_t state);
/* RFC 9293 3.6.1 / RFC 6191: may this SYN reopen a TIME-WAIT connection? */
bool sl_tcp_tw_accept_syn(const struct sl_tcb *t, const struct sl_tcp_seg *s);

/* Tunables (RFC 6298, 1122, 9293). */
#define SL_TCP_RTO_INIT_US 1000000u
#define SL_TCP_RTO_MIN_US 200000u /* Linux-like; RFC 6298 2.4 says SHOULD 1s */
#define SL_TCP_RTO_MAX_US 60000000u
#define SL_TCP_DELACK_US 40000u   /* <= 200 ms (RFC 1122 4.2.3.2, RFC 9293 3.8.6.3) */
#define SL_TCP_MSL_US 120000000u  /* RFC 9293 3.4.2: MSL = 2 minutes, TIME-WAIT 4 minutes (MUST-13) */
#define SL_TCP_FIN_WAIT2_US 60000000u
#define SL_TCP_SYN_RETRIES 7      /* last SYN at 127 s, gives up at 187 s: >= 3 min (RFC 9293 MUST-23) */
#define SL_TCP_DATA_RETRIES 15    /* R2 (RFC 1122 4.2.3.5) */
#define SL_TCP_R1 3               /* R1: retransmissions before negative advice (RFC 1122 4.2.3.5: >= 3) */
#define SL_TCP_KEEPINTVL_US 75000000u
#define SL_TCP_KEEPCNT 9
#define SL_TCP_KEEPIDLE_DEFAULT_S 7200 /* RFC 9293 3.8.4 MUST-28: no less than two hours */
#define SL_TCP_CHACK_LIMIT 10     /* challenge ACKs per second (RFC 5961 7) */

#endif
