/* Timers, all held as absolute deadlines in the TCB: retransmission
 * (RFC 6298), SYN retransmission, persist (RFC 9293 3.8.6.1), delayed ACK
 * (3.8.6.3), keepalive (3.8.4), FIN-WAIT-2 and TIME-WAIT (3.6). */
#include <errno.h>

#include "tcp/tcp_int.h"

static uint32_t backed_off(uint32_t rto, uint8_t backoff)
{
    uint64_t v = (uint64_t)rto << (backoff > 16 ? 16 : backoff);
    return v > SL_TCP_RTO_MAX_US ? SL_TCP_RTO_MAX_US : (uint32_t)v;
}

/* SYN or SYN-ACK retransmission (RFC 9293 3.8.1, RFC 6298 5.5), giving up
 * after SL_TCP_SYN_RETRIES (MUST-23). */
static void syn_expired(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    if (++t->backoff > SL_TCP_SYN_RETRIES) {
        CTR(out, tcp_timeouts);
        tcp_set_error(t, -ETIMEDOUT, now, out);
        return;
    }
    if (t->backoff == SL_TCP_R1) /* RFC 9293 3.8.3 MUST-22: as for data */
        out->events |= SL_TEV_R1;
    CTR(out, tcp_retransmits);
    t->retrans_total++;
    t->flags &= ~(uint32_t)SL_TF_RTT_VALID; /* Karn */
    /* RFC 3168 6.1.1.1: a lost ECN-setup SYN may have met a middlebox that
     * drops them; the retransmission asks for no ECN */
    if (t->state == SL_TCP_SYN_SENT)
        t->flags &= ~(uint32_t)SL_TF_ECN_OK;
    tcp_send_syn(t, now, out);
    t->t_rexmt = now + backed_off(SL_TCP_RTO_INIT_US, t->backoff); /* RFC 6298 5.5 */
}

static void persist_backoff(struct sl_tcb *t, uint64_t now)
{
    if (t->backoff < 16)
        t->backoff++;
    t->t_rexmt = now + backed_off(t->rto, t->backoff);
}

/* The persist timer (RFC 9293 3.8.6.1, 3.8.6.2.1). */
static void persist_expired(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    uint32_t avail = sl_seq_lt(t->snd_una, t->snd_end) ? t->snd_end - t->snd_una : 0;
    int fin = (t->flags & SL_TF_FIN_QUEUED) && sl_seq_le(t->snd_una, t->snd_end);
    if (avail == 0 && !fin) {
        t->flags &= ~(uint32_t)SL_TF_PERSIST;
        t->backoff = 0;
        return;
    }
    if (avail == 0) { /* only the FIN is left: it is the window probe */
        struct sl_tcp_emit *f = tcp_emit_new(t, now, out, t->snd_end, SL_TCP_ACK | SL_TCP_FIN);
        if (f)
            CTR(out, tcp_zwp_tx);
        if (sl_seq_lt(t->snd_max, t->snd_end + 1))
            t->snd_max = t->snd_end + 1;
        t->snd_nxt = t->snd_end + 1;
        persist_backoff(t, now);
        return;
    }
    /* Zero window: a probe carrying one octet of new data, backed off
     * exponentially; the connection stays open while the peer answers
     * (RFC 9293 3.8.6.1). Small window: the SWS override timeout sends
     * what fits (RFC 9293 3.8.6.2.1). */
    uint32_t len = t->snd_wnd == 0 ? 1 : tcp_min32(tcp_min32(avail, t->snd_wnd), t->snd_mss);
    /* Resending bytes sent before is a retransmission: it keeps the
     * backoff, so R2 still ends a connection whose peer is gone
     * (RFC 9293 MUST-20). Zero-window probes never count (MUST-37). */
    int resend = sl_seq_lt(t->snd_una, t->snd_max);
    struct sl_tcp_emit *e = tcp_emit_new(t, now, out, t->snd_una, SL_TCP_ACK);
    if (e) {
        e->len = len;
        if (t->snd_wnd == 0)
            CTR(out, tcp_zwp_tx);
        if (sl_seq_lt(t->snd_max, t->snd_una + len))
            t->snd_max = t->snd_una + len;
        if (sl_seq_lt(t->snd_nxt, t->snd_una + len))
            t->snd_nxt = t->snd_una + len;
    }
    if (t->snd_wnd == 0) {
        persist_backoff(t, now);
    } else {
        if (!resend)
            t->backoff = 0;
        tcp_arm_rto(t, now);
    }
}

/* RFC 8985 7.3: the probe timeout fired: probe, then the real RTO. */
static void pto_expired(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                        struct sl_tcp_out *out)
{
    t->flags &= ~(uint32_t)SL_TF_PTO;
    if ((t->flags & SL_TF_IN_RECOVERY) && (t->flags & SL_TF_SACK_OK)) {
        /* RFC 8985 6.3 (simplified): no progress for two RTTs in recovery
         * means the retransmissions were lost as well; send the holes
         * again from SND.UNA, once per cumulative advance. */
        t->flags |= SL_TF_TLP_SENT;
        CTR(out, tcp_lost_rexmit);
        t->high_rxt = t->snd_una;
        t->rxt_mark = t->snd_max;
        sl_tcp_output(t, b, now, out);
    } else {
        tcp_send_tlp(t, now, out);
    }
    tcp_arm_rto(t, now);
}

/* The retransmission timeout: RFC 6298 5.4-5.6 and RFC 1122 4.2.3.5 (R2). */
static void rto_expired(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                        struct sl_tcp_out *out)
{
    if (++t->backoff > (t->r2 ? t->r2 : SL_TCP_DATA_RETRIES)) { /* RFC 9293 MUST-20/21 */
        CTR(out, tcp_timeouts);
        tcp_set_error(t, -ETIMEDOUT, now, out);
        return;
    }
    /* RFC 9293 3.8.3 MUST-20 (RFC 1122 4.2.3.5): at R1 retransmissions,
     * negative advice to the IP layer and a note to the application; the
     * stack acts on the event */
    if (t->backoff == SL_TCP_R1)
        out->events |= SL_TEV_R1;
    CTR(out, tcp_rto_fired);
    tcp_cc_on_rto(t, now);
    t->rto = backed_off(t->rto, 1); /* RFC 6298 5.5 */
    t->n_sacked = 0;  /* RFC 2018 8: the receiver may have reneged */
    t->snd_nxt = t->snd_una; /* go back N, from the first unacknowledged byte */
    t->high_rxt = t->snd_una;
    t->dupacks = 0;
    t->flags &= ~(uint32_t)SL_TF_RTT_VALID; /* Karn */
    sl_tcp_output(t, b, now, out);
    if (!t->t_rexmt)
        tcp_arm_rto(t, now);
}

/* t_rexmt is one timer with four uses: SYN retransmission, persist, tail
 * loss probe and the RTO. */
static void rexmt_expired(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                          struct sl_tcp_out *out)
{
    t->t_rexmt = 0;
    if (t->state == SL_TCP_SYN_SENT || t->state == SL_TCP_SYN_RCVD)
        syn_expired(t, now, out);
    else if (t->flags & SL_TF_PERSIST)
        persist_expired(t, now, out);
    else if (t->snd_una == t->snd_max)
        return;
    else if (t->flags & SL_TF_PTO)
        pto_expired(t, b, now, out);
    else
        rto_expired(t, b, now, out);
}

static void keep_expired(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    t->t_keep = 0;
    switch (t->state) {
    case SL_TCP_TIME_WAIT:
        tcp_set_state(t, SL_TCP_CLOSED, now, out);
        return;
    case SL_TCP_FIN_WAIT_2:
        if (t->flags & SL_TF_RD_SHUT)
            tcp_set_state(t, SL_TCP_CLOSED, now, out);
        return;
    case SL_TCP_ESTABLISHED:
    case SL_TCP_CLOSE_WAIT:
        if (!t->keepidle_s)
            return;
        /* RFC 9293 3.8.4 (MUST-26): only when no sent data is outstanding;
         * otherwise the retransmission timer is watching the peer. */
        if (t->snd_una != t->snd_max) {
            t->ka_probes = 0;
            t->t_keep = now + (uint64_t)t->keepidle_s * 1000000u;
            return;
        }
        if (t->ka_probes >= SL_TCP_KEEPCNT) {
            CTR(out, tcp_timeouts);
            tcp_set_error(t, -ETIMEDOUT, now, out);
            return;
        }
        /* RFC 9293 3.8.4: a probe with SEG.SEQ = SND.NXT - 1, no data. */
        {
            struct sl_tcp_emit *e = tcp_emit_new(t, now, out, t->snd_nxt - 1, SL_TCP_ACK);
            if (e)
                CTR(out, tcp_keepalive_tx);
        }
        t->ka_probes++;
        t->t_keep = now + SL_TCP_KEEPINTVL_US;
        return;
    default:
        return;
    }
}

void sl_tcp_timers(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                   struct sl_tcp_out *out)
{
    if (t->t_delack && now >= t->t_delack) {
        t->t_delack = 0;
        CTR(out, tcp_delayed_acks);
        t->flags |= SL_TF_ACK_NOW;
    }
    if (t->t_rexmt && now >= t->t_rexmt)
        rexmt_expired(t, b, now, out);
    if (t->state != SL_TCP_CLOSED && t->t_keep && now >= t->t_keep)
        keep_expired(t, now, out);
    if (t->state != SL_TCP_CLOSED && (t->flags & SL_TF_ACK_NOW))
        sl_tcp_output(t, b, now, out);
}

uint64_t sl_tcp_next_deadline(const struct sl_tcb *t)
{
    uint64_t d = 0;
    const uint64_t v[3] = {t->t_rexmt, t->t_delack, t->t_keep};
    for (int i = 0; i < 3; i++)
        if (v[i] && (!d || v[i] < d))
            d = v[i];
    return d;
}
