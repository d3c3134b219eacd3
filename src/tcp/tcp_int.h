/* Engine-private helpers shared by the files of src/tcp. */
#ifndef SL_TCP_INT_H
#define SL_TCP_INT_H

#include <string.h>

#include "tcp/tcp.h"

#define CTR(out, name) ((out)->ctr ? (void)(out)->ctr[SL_CTR_##name]++ : (void)0)

static inline uint32_t tcp_min32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static inline uint32_t tcp_max32(uint32_t a, uint32_t b) { return a > b ? a : b; }

/* Byte rings addressed by sequence number: index = seq & (size - 1). */
static inline void ring_put(uint8_t *ring, uint32_t size, uint32_t seq, const uint8_t *src,
                            uint32_t len)
{
    uint32_t off = seq & (size - 1), first = tcp_min32(len, size - off);
    memcpy(ring + off, src, first);
    if (len > first)
        memcpy(ring, src + first, len - first);
}

static inline void ring_get(const uint8_t *ring, uint32_t size, uint32_t seq, uint8_t *dst,
                            uint32_t len)
{
    uint32_t off = seq & (size - 1), first = tcp_min32(len, size - off);
    memcpy(dst, ring + off, first);
    if (len > first)
        memcpy(dst + first, ring, len - first);
}

static inline uint32_t tcp_ts_now(const struct sl_tcb *t, uint64_t now)
{
    return (uint32_t)(now / 1000) + t->ts_offset;
}

static inline uint32_t tcp_flight(const struct sl_tcb *t) { return t->snd_max - t->snd_una; }

static inline int tcp_synchronized(const struct sl_tcb *t)
{
    return t->state >= SL_TCP_ESTABLISHED;
}

/* tcp_output.c */
struct sl_tcp_emit *tcp_emit_new(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out,
                                 uint32_t seq, uint8_t flags);
void tcp_send_ack(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out);
void tcp_send_challenge_ack(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out);
void tcp_send_oow_ack(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out);
void tcp_send_syn(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out);
void tcp_arm_rto(struct sl_tcb *t, uint64_t now);
void tcp_send_tlp(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out);
uint32_t tcp_sacked_bytes(const struct sl_tcb *t);
void tcp_fast_retransmit(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out);

/* tcp_open.c */
void tcp_negotiate(struct sl_tcb *t, const struct sl_tcp_seg *s, uint64_t now,
                   struct sl_tcp_out *out);
void tcp_syn_received(struct sl_tcb *t, const struct sl_tcp_seg *s, uint64_t now,
                      struct sl_tcp_out *out);

/* tcp_input.c */
void tcp_set_state(struct sl_tcb *t, uint8_t st, uint64_t now, struct sl_tcp_out *out);
void tcp_set_error(struct sl_tcb *t, int err, uint64_t now, struct sl_tcp_out *out);

/* tcp_cc.c */
void tcp_cc_init(struct sl_tcb *t);
void tcp_cc_on_ack(struct sl_tcb *t, uint32_t acked, uint64_t now);
void tcp_cc_enter_recovery(struct sl_tcb *t, uint64_t now);
void tcp_cc_on_rto(struct sl_tcb *t, uint64_t now);
void tcp_cc_on_ece(struct sl_tcb *t, uint64_t now);
void tcp_rtt_sample(struct sl_tcb *t, uint32_t rtt_us);

#endif
