/* Segment-level test harness for the TCP engine (src/tcp), smoltcp/lwIP
 * style: one connection (tcb + rings) on a virtual clock, a scripted peer
 * that builds struct sl_tcp_seg values, and checks on the exact segments the
 * engine emits (seq, ack, flags, window, length, options), its state, its
 * events and its counters.
 *
 * Conventions (all values fixed so that expectations are exact):
 *   we are TH_LADDR:TH_LPORT, the peer is TH_RADDR:TH_RPORT;
 *   our ISS is TH_ISS, the peer's ISS is TH_IRS;
 *   our TSval = now_ms + TH_TSOFF, the peer's TSval = now_ms + TH_PEER_TS0;
 *   the clock starts at TH_T0 (so that "0 = timer off" never collides).
 * Peer data is a fixed pattern indexed by stream offset: th_read() checks
 * every byte the application reads against it.
 *
 * Every step helper (th_input, th_output, th_timers, ...) first clears the
 * output batch and snapshots the counters, so after a step h->out holds only
 * what that step emitted and th_ctr() returns the counter deltas of that step.
 */
#ifndef TCP_HARNESS_H
#define TCP_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "tcp/tcp.h"

#define TH_LADDR 0xc6120001u /* 198.18.0.1 */
#define TH_RADDR 0xc6120002u /* 198.18.0.2 */
#define TH_LPORT 80
#define TH_RPORT 40000
#define TH_ISS 1000000u
#define TH_IRS 5000000u
#define TH_TSOFF 700000u
#define TH_PEER_TS0 90000u
#define TH_T0 1000000000ull /* virtual time starts at 1000 s */
#define TH_MS 1000ull
#define TH_SEC 1000000ull

/* Our data starts at ISS+1, the peer's at IRS+1. */
#define TH_SND(off) ((uint32_t)(TH_ISS + 1u + (uint32_t)(off)))
#define TH_RCV(off) ((uint32_t)(TH_IRS + 1u + (uint32_t)(off)))

#define TH_F_FIN SL_TCP_FIN
#define TH_F_SYN SL_TCP_SYN
#define TH_F_RST SL_TCP_RST
#define TH_F_PSH SL_TCP_PSH
#define TH_F_ACK SL_TCP_ACK

/* What the scripted peer offers in its SYN / SYN-ACK. */
struct th_peer {
    uint16_t mss;    /* 0 = no MSS option */
    bool ws;
    uint8_t wscale;
    bool sack, ts;
    uint16_t syn_wnd; /* window field of its SYN (never scaled) */
    uint16_t wnd;     /* window field of its later segments (scaled by wscale) */
};

struct th {
    struct sl_tcb t;
    struct sl_tcp_cfg cfg;
    struct sl_tcp_bufs b;
    uint64_t now;
    struct sl_tcp_out out;
    uint64_t ctr[SL_CTR__COUNT];
    uint64_t ctr0[SL_CTR__COUNT];
    struct th_peer peer;
    uint32_t peer_tsecr; /* last TSval we sent: the peer echoes it */
    int32_t peer_ts_skew; /* added to the peer's TSval (PAWS tests) */
};

/* ---- configurations ---- */
/* mss 1460, 64 KiB rings, NewReno, all options on. */
struct sl_tcp_cfg th_cfg(void);
/* MSS 1460, WS 7, SACK, TS, SYN window 65535, window field 1024 (128 KiB). */
struct th_peer th_peer_full(void);
/* A SYN with no options at all; window 65535. */
struct th_peer th_peer_bare(void);

/* ---- lifetime (freed automatically at the end of the test) ---- */
struct th *th_new(const struct sl_tcp_cfg *cfg);

/* ---- building peer segments ---- */
/* A segment from the peer. The payload is the peer's pattern at the stream
 * offset of `seq` (relative to TH_IRS+1). Window = peer.wnd (peer.syn_wnd
 * for a SYN); a TS option is added when the connection uses timestamps
 * (TSval = now_ms + TH_PEER_TS0 + skew, TSecr = last TSval we sent). */
struct sl_tcp_seg th_seg(struct th *h, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len);
/* The peer's SYN (or SYN-ACK with ack != 0 when flags has ACK) with the
 * options in h->peer. */
struct sl_tcp_seg th_syn(struct th *h, uint8_t flags, uint32_t seq, uint32_t ack);
/* Peer data at stream offset `off`, ACKing our snd_una (nothing new). */
struct sl_tcp_seg th_data(struct th *h, uint32_t off, uint32_t len);
/* A pure ACK from the peer: seq = its next byte (our rcv_nxt). */
struct sl_tcp_seg th_ack(struct th *h, uint32_t ack);
void th_add_sack(struct sl_tcp_seg *s, uint32_t left, uint32_t right);
const uint8_t *th_pattern(uint32_t off); /* peer stream bytes from off */

/* ---- steps (each clears h->out and snapshots counters first) ---- */
void th_begin(struct th *h);
/* sl_tcp_input, then sl_tcp_output as the stack does (unless CLOSED). */
void th_input(struct th *h, const struct sl_tcp_seg *s);
void th_input_only(struct th *h, const struct sl_tcp_seg *s);
void th_output(struct th *h);
void th_timers(struct th *h);
/* Advance the clock to the next engine deadline and run the timers;
 * returns the deadline (0 if no timer was armed: nothing runs). */
uint64_t th_fire(struct th *h);
void th_advance(struct th *h, uint64_t us);
/* Application side. th_write queues pattern bytes (our stream offset);
 * th_read reads up to len bytes and checks them against the peer pattern. */
uint32_t th_write(struct th *h, uint32_t len);
uint32_t th_read(struct th *h, uint32_t len);
/* Load tests: queue n more bytes without copying them into the send ring
 * (the engine never reads the ring; the payload is not meaningful). */
void th_queue(struct th *h, uint32_t n);
uint64_t th_ctr(const struct th *h, enum sl_ctr c); /* delta in the last step */

/* ---- opening ---- */
/* LISTEN receives `syn`: sl_tcp_listen_check (checked: accepted, nothing
 * emitted), then sl_tcp_open_passive at h->now. h->out holds the SYN-ACK. */
void th_accept(struct th *h, const struct sl_tcp_seg *syn);
/* sl_tcp_open_active at h->now. h->out holds the SYN. */
void th_connect(struct th *h);

/* ---- handshakes (checked; return false if something went wrong) ---- */
/* LISTEN: listen_check + open_passive on the peer's SYN, then the peer's
 * ACK: ESTABLISHED. The SYN arrives at h->now, the ACK rtt_us later. */
bool th_open_passive(struct th *h, const struct th_peer *p, uint64_t rtt_us);
/* open_active, then the peer's SYN-ACK rtt_us later: ESTABLISHED. */
bool th_open_active(struct th *h, const struct th_peer *p, uint64_t rtt_us);
/* Our TSval at the current time. */
uint32_t th_tsval(const struct th *h);

/* ---- checking ---- */
bool th_expect_seg(const struct th *h, unsigned i, uint8_t flags, uint32_t seq, uint32_t ack,
                   uint32_t len, const char *file, int line);
bool th_expect_nseg(const struct th *h, unsigned n, const char *file, int line);
bool th_expect_one(const struct th *h, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len,
                   const char *file, int line);
void th_dump(const struct th *h);
const char *th_flags_str(uint8_t f, char buf[32]);

#define EXPECT_NSEG(h, n) th_expect_nseg((h), (n), __FILE__, __LINE__)
#define EXPECT_NONE(h) th_expect_nseg((h), 0, __FILE__, __LINE__)
/* Segment i of the last step has exactly these flags, seq, ack, len. */
#define EXPECT_SEG(h, i, fl, sq, ak, ln) th_expect_seg((h), (i), (fl), (sq), (ak), (ln), __FILE__, __LINE__)
/* Exactly one segment was emitted, and it is this one. */
#define EXPECT_ONE(h, fl, sq, ak, ln) th_expect_one((h), (fl), (sq), (ak), (ln), __FILE__, __LINE__)
#define EXPECT_CTR(h, name, d) check_eq(th_ctr((h), SL_CTR_##name), (uint64_t)(d), __FILE__, __LINE__, "ctr " #name, #d)
#define SEG(h, i) ((h)->out.seg[(i)])

#endif
