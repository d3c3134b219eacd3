/* Segment output: what to send now, given the windows, Nagle, SWS
 * avoidance, pending ACKs and loss recovery. Pure: segments are appended to
 * an sl_tcp_out; the caller builds the frames. */
#include "tcp/tcp_int.h"

/* Free space in the receive ring (bytes not yet read or received). */
static uint32_t rcv_space(const struct sl_tcb *t)
{
    uint32_t used = t->rcv_nxt - t->rcv_read;
    if (t->flags & SL_TF_FIN_RCVD)
        used--; /* the FIN occupies sequence space, not the ring */
    return used >= t->rcv_bufsz ? 0 : t->rcv_bufsz - used;
}

/* Window to advertise. RFC 9293 3.8.6.2.2 (receiver SWS avoidance): the
 * right edge moves only by at least min(RCV.BUFF/2, Eff.snd.MSS), and it
 * never moves left (RFC 9293 3.8.6 SHLD-14: a receiver SHOULD NOT shrink
 * the window). RFC 7323 2.3: the field carries wnd >> Rcv.Wind.Shift. */
static uint16_t rcv_wnd_field(struct sl_tcb *t)
{
    uint32_t space = rcv_space(t);
    /* Until the handshake completes a SYN-ACK may have to go again, and its
     * field is never scaled (RFC 7323 2.2): offer no more than it could,
     * so that its retransmission never shrinks the window. */
    uint32_t syn_cap = (0xffffu >> t->rcv_wscale) << t->rcv_wscale; /* exact when scaled */
    if (t->state < SL_TCP_ESTABLISHED && space > syn_cap)
        space = syn_cap;
    uint32_t right = t->rcv_nxt + space;
    if (sl_seq_lt(t->rcv_adv, t->rcv_nxt))
        t->rcv_adv = t->rcv_nxt;
    if (sl_seq_le(right, t->rcv_adv) ||
        right - t->rcv_adv < tcp_min32(t->rcv_bufsz / 2, t->rcv_mss))
        right = t->rcv_adv;
    uint32_t wnd = right - t->rcv_nxt;
    uint32_t field = wnd >> t->rcv_wscale;
    /* Rounding up keeps an offered edge, but never past the ring's end:
     * there RFC 7323 2.4 accepts a retraction smaller than 2^Rcv.Wind.Shift,
     * and a full ring must be able to advertise a zero window. */
    if ((field << t->rcv_wscale) < wnd && t->rcv_adv == right &&
        ((field + 1) << t->rcv_wscale) <= rcv_space(t))
        field++;
    if (field > 0xffff)
        field = 0xffff;
    t->rcv_adv = t->rcv_nxt + (field << t->rcv_wscale);
    return (uint16_t)field;
}

struct sl_tcp_emit *tcp_emit_new(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out,
                                 uint32_t seq, uint8_t flags)
{
    if (out->n >= SL_TCP_OUT_MAX)
        return NULL;
    struct sl_tcp_emit *e = &out->seg[out->n++];
    memset(e, 0, sizeof(*e));
    e->seq = seq;
    e->flags = flags;
    if (flags & SL_TCP_ACK)
        e->ack = t->rcv_nxt;
    if (flags & SL_TCP_SYN) {
        uint32_t w = rcv_space(t);          /* RFC 7323 2.2: SYN window never scaled */
        /* the same cap as rcv_wnd_field before ESTABLISHED, so that the
         * scaled segments that follow never round past it */
        e->wnd = (uint16_t)tcp_min32(w, (0xffffu >> t->rcv_wscale) << t->rcv_wscale);
        if (sl_seq_gt(t->rcv_nxt + e->wnd, t->rcv_adv))
            t->rcv_adv = t->rcv_nxt + e->wnd; /* never move the right edge left */
    } else if (!(flags & SL_TCP_RST)) {
        e->wnd = rcv_wnd_field(t);
    }
    if ((t->flags & SL_TF_TS_OK) && !(flags & SL_TCP_RST)) { /* RFC 7323 3.2 */
        e->opts.has_ts = 1;
        e->opts.tsval = tcp_ts_now(t, now);
        e->opts.tsecr = t->ts_recent;
    }
    /* RFC 3168 6.1.3: after a CE mark, ECE on every ACK until a CWR */
    if ((t->flags & SL_TF_ECN_ECE) && (flags & SL_TCP_ACK) && !(flags & (SL_TCP_SYN | SL_TCP_RST)))
        e->flags |= SL_TCP_ECE;
    if (flags & SL_TCP_ACK) {
        t->flags &= ~(uint32_t)SL_TF_ACK_NOW;
        t->t_delack = 0;
        t->last_ack_sent = t->rcv_nxt;
    }
    /* RFC 9293 3.8.5 / MUST-62: while urgent data is unacknowledged every
     * segment before SND.UP carries URG and the offset of the octet after
     * the urgent data (MUST-31: any length; a pointer beyond 64 KB is sent
     * as 65535 and advances with the segments). */
    if ((t->flags & SL_TF_SND_URG) && !(flags & (SL_TCP_SYN | SL_TCP_RST)) &&
        sl_seq_gt(t->snd_up, seq)) {
        e->flags |= SL_TCP_URG;
        e->urp = (uint16_t)tcp_min32(t->snd_up - seq, 0xffffu);
    }
    CTR(out, tcp_tx_segs);
    return e;
}

/* A pure ACK at SND.NXT, with SACK blocks for out-of-order data (RFC 2018 4:
 * the first block reports the most recently received segment; we keep the
 * ranges in sequence order, which RFC 2018 permits for the rest). */
void tcp_send_ack(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    struct sl_tcp_emit *e = tcp_emit_new(t, now, out, t->snd_nxt, SL_TCP_ACK);
    if (!e)
        return;
    if ((t->flags & SL_TF_SACK_OK) && t->n_ooo) {
        unsigned max = e->opts.has_ts ? 3 : 4; /* 40 bytes of option space */
        unsigned first = t->ooo_last && t->ooo_last <= t->n_ooo ? t->ooo_last - 1u : 0u;
        e->opts.sack[e->opts.nsack++] = t->ooo[first]; /* RFC 2018 4: the latest first */
        for (unsigned i = 0; i < t->n_ooo && e->opts.nsack < max; i++)
            if (i != first)
                e->opts.sack[e->opts.nsack++] = t->ooo[i];
    }
}

/* RFC 5961 7: challenge ACKs are rate limited per connection. */
static void rate_window(struct sl_tcb *t, uint64_t now)
{
    uint32_t sec = (uint32_t)(now / 1000000);
    if (t->chack_window != sec) {
        t->chack_window = sec;
        t->chack_count = 0;
        t->oow_count = 0;
    }
}

/* One more ACK on a per-second budget: the RFC 5961 challenge ACKs, or
 * the ACKs for segments beyond the window. Returns 0 if it is used up. */
static int ack_budget(struct sl_tcb *t, uint64_t now, int challenge)
{
    rate_window(t, now);
    if ((challenge ? t->chack_count : t->oow_count) >= SL_TCP_CHACK_LIMIT)
        return 0;
    if (challenge)
        t->chack_count++;
    else
        t->oow_count++;
    return 1;
}

/* ACK for a segment beyond the window: rate limited on its own budget (as
 * Linux's tcp_invalid_ratelimit), so forged segments cannot make us a
 * reflector and cannot use up the RFC 5961 challenge ACKs either. */
void tcp_send_oow_ack(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    if (!ack_budget(t, now, 0)) {
        CTR(out, drop_tcp_oow_ack_limited);
        return;
    }
    tcp_send_ack(t, now, out);
}

void tcp_send_challenge_ack(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    if (!ack_budget(t, now, 1)) {
        CTR(out, drop_tcp_challenge_ack_limited);
        return;
    }
    CTR(out, tcp_challenge_ack_tx);
    tcp_send_ack(t, now, out);
}

/* SYN (active) or SYN-ACK (passive), RFC 9293 3.5, with our options. */
void tcp_send_syn(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    uint8_t flags = SL_TCP_SYN;
    if (t->state == SL_TCP_SYN_RCVD)
        flags |= SL_TCP_ACK;
    if (t->flags & SL_TF_ECN_OK) /* RFC 3168 6.1.1: ECN-setup SYN / SYN-ACK */
        flags |= (flags & SL_TCP_ACK) ? SL_TCP_ECE : SL_TCP_ECE | SL_TCP_CWR;
    struct sl_tcp_emit *e = tcp_emit_new(t, now, out, t->iss, flags);
    if (!e)
        return;
    e->opts.has_mss = 1; /* RFC 9293 3.7.1: MSS in SYN */
    e->opts.mss = t->rcv_mss;
    if (t->flags & SL_TF_WS_OK) { /* RFC 7323 2.2 */
        e->opts.has_wscale = 1;
        e->opts.wscale = t->rcv_wscale;
    }
    if (t->flags & SL_TF_SACK_OK) /* RFC 2018 2 */
        e->opts.sack_perm = 1;
    if ((t->flags & SL_TF_TS_OK) && t->state == SL_TCP_SYN_SENT)
        e->opts.tsecr = 0; /* RFC 7323 3.2: TSecr is 0 in the initial SYN */
    if (t->snd_max == t->iss)
        t->snd_max = t->iss + 1;
    t->snd_nxt = t->iss + 1;
}

static uint32_t retransmit_at(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out,
                              uint32_t seq, uint32_t max);

/* RFC 6298 5.1/5.3, with a tail loss probe first (RFC 8985 7.2): while
 * not in recovery and no probe is outstanding, the timer is the PTO,
 * max(2*SRTT, 10 ms), plus the worst-case delayed ACK when only one segment
 * is in flight, and never later than the RTO. */
void tcp_arm_rto(struct sl_tcb *t, uint64_t now)
{
    t->flags &= ~(uint32_t)(SL_TF_PERSIST | SL_TF_PTO);
    uint32_t to = t->rto;
    int newreno_recovery = (t->flags & SL_TF_IN_RECOVERY) && !(t->flags & SL_TF_SACK_OK);
    if ((t->flags & SL_TF_HAVE_RTT) && !(t->flags & (SL_TF_TLP_SENT | SL_TF_NO_TLP)) &&
        !newreno_recovery && t->state >= SL_TCP_ESTABLISHED && t->backoff == 0) {
        /* In recovery the same timer is RACK's (RFC 8985 6.3): if nothing
         * moves for about two RTTs, the retransmissions are lost too. */
        uint32_t pto = tcp_max32(2 * t->srtt, 10000);
        if (tcp_flight(t) <= t->snd_mss && !(t->flags & SL_TF_IN_RECOVERY))
            pto += 200000; /* WCDelAckT */
        if (pto < to) {
            to = pto;
            t->flags |= SL_TF_PTO;
        }
    }
    t->t_rexmt = now + to;
}

/* RFC 8985 7.3: the probe retransmits the highest-sequence segment sent. */
void tcp_send_tlp(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    uint32_t top = t->snd_max;
    if ((t->flags & SL_TF_FIN_QUEUED) && sl_seq_gt(top, t->snd_end))
        top = t->snd_end; /* retransmit_at adds the FIN back */
    uint32_t len = tcp_min32(t->snd_mss, top - t->snd_una);
    t->flags |= SL_TF_TLP_SENT;
    CTR(out, tcp_tlp_probes);
    retransmit_at(t, now, out, top - len, len);
}

uint32_t tcp_sacked_bytes(const struct sl_tcb *t)
{
    uint32_t s = 0;
    for (unsigned i = 0; i < t->n_sacked; i++)
        s += t->sacked[i].right - t->sacked[i].left;
    return s;
}

/* RFC 6675 4 "Pipe", with every hole below the highest SACKed byte taken as
 * lost (IsLost simplified) and holes below HighRxt counted as retransmitted. */
static uint32_t sack_pipe(const struct sl_tcb *t)
{
    if (!t->n_sacked)
        return tcp_flight(t);
    uint32_t high = t->sacked[t->n_sacked - 1].right;
    uint32_t lost = 0, rexmitted = 0, prev = t->snd_una;
    for (unsigned i = 0; i < t->n_sacked; i++) {
        uint32_t l = t->sacked[i].left;
        if (sl_seq_gt(l, prev)) {
            lost += l - prev;
            if (sl_seq_gt(t->high_rxt, prev))
                rexmitted += sl_seq_min(t->high_rxt, l) - prev;
        }
        prev = sl_seq_max(prev, t->sacked[i].right);
    }
    (void)high;
    uint32_t p = tcp_flight(t) - tcp_sacked_bytes(t) - lost + rexmitted;
    return p;
}

/* Retransmit from `seq` up to `max` bytes (at most one MSS); returns bytes. */
static uint32_t retransmit_at(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out,
                              uint32_t seq, uint32_t max)
{
    uint32_t len = 0;
    uint8_t flags = SL_TCP_ACK;
    /* only bytes already sent: never-sent data goes through the send loop,
     * which checks the windows and advances SND.NXT/SND.MAX */
    uint32_t top = sl_seq_min(t->snd_end, t->snd_max);
    if (sl_seq_lt(seq, top))
        len = tcp_min32(tcp_min32(top - seq, max), t->snd_mss);
    if ((t->flags & SL_TF_FIN_QUEUED) && seq + len == t->snd_end &&
        sl_seq_gt(t->snd_max, t->snd_end))
        flags |= SL_TCP_FIN; /* the FIN was sent: it goes again */
    if (len == 0 && !(flags & SL_TCP_FIN))
        return 0;
    struct sl_tcp_emit *e = tcp_emit_new(t, now, out, seq, flags | (len ? SL_TCP_PSH : 0));
    if (!e)
        return 0;
    e->len = len;
    t->retrans_total++;
    CTR(out, tcp_retransmits);
    t->flags &= ~(uint32_t)SL_TF_RTT_VALID; /* Karn: no sample across a retransmission */
    return len + ((flags & SL_TCP_FIN) ? 1 : 0);
}

void tcp_fast_retransmit(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    uint32_t n = retransmit_at(t, now, out, t->snd_una, t->snd_mss);
    if (sl_seq_lt(t->high_rxt, t->snd_una + n))
        t->high_rxt = t->snd_una + n;
    t->rxt_mark = t->snd_max;
    CTR(out, tcp_fast_retransmits);
    tcp_arm_rto(t, now);
}

/* RFC 6675 5 step (C): while pipe < cwnd, NextSeg() = first lost byte above
 * HighRxt; retransmit one segment of it. */
static void sack_recover(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    for (;;) {
        if (sack_pipe(t) >= t->cwnd || out->n >= SL_TCP_OUT_MAX)
            return;
        uint32_t from = sl_seq_max(t->high_rxt, t->snd_una), hole_end = 0;
        int found = 0;
        uint32_t prev = t->snd_una;
        for (unsigned i = 0; i < t->n_sacked; i++) {
            uint32_t l = t->sacked[i].left, r = t->sacked[i].right;
            if (sl_seq_gt(l, from) && sl_seq_gt(l, prev)) {
                from = sl_seq_max(from, prev);
                hole_end = l;
                found = 1;
                break;
            }
            prev = sl_seq_max(prev, r);
            if (sl_seq_lt(from, prev))
                from = prev;
        }
        if (!found)
            return;
        uint32_t n = retransmit_at(t, now, out, from, hole_end - from);
        if (n == 0)
            return;
        CTR(out, tcp_sack_retransmits);
        t->high_rxt = from + n;
        t->rxt_mark = t->snd_max;
    }
}

/* If snd_nxt sits inside a SACKed block (after an RTO rewind), skip it; return
 * how far we may send before the next SACKed block. */
static uint32_t skip_sacked(struct sl_tcb *t)
{
    uint32_t lim = UINT32_MAX;
    for (unsigned i = 0; i < t->n_sacked; i++) {
        if (sl_seq_le(t->sacked[i].left, t->snd_nxt) && sl_seq_lt(t->snd_nxt, t->sacked[i].right))
            t->snd_nxt = t->sacked[i].right;
        else if (sl_seq_gt(t->sacked[i].left, t->snd_nxt)) {
            lim = t->sacked[i].left - t->snd_nxt;
            break;
        }
    }
    return lim;
}

static int can_send_data(const struct sl_tcb *t)
{
    switch (t->state) {
    case SL_TCP_ESTABLISHED: case SL_TCP_CLOSE_WAIT: case SL_TCP_FIN_WAIT_1:
    case SL_TCP_CLOSING: case SL_TCP_LAST_ACK:
        return 1;
    default:
        return 0;
    }
}

/* Window update after the application read (RFC 9293 3.8.6.2.2): tell
 * the peer once the right edge can move by the SWS threshold. */
static void window_update_check(struct sl_tcb *t)
{
    if (!(t->flags & SL_TF_ACK_NOW) && t->state <= SL_TCP_FIN_WAIT_2) {
        /* the largest window the field can carry (RFC 7323 2.3) */
        uint32_t right = t->rcv_nxt + tcp_min32(rcv_space(t), 0xffffu << t->rcv_wscale);
        if (sl_seq_gt(right, t->rcv_adv) &&
            right - t->rcv_adv >= tcp_min32(t->rcv_bufsz / 2, 2u * t->rcv_mss) &&
            t->rcv_adv - t->rcv_nxt < t->rcv_bufsz / 2)
            t->flags |= SL_TF_ACK_NOW;
    }
}

/* Nothing in flight to clock us: the persist timer probes a zero window
 * (RFC 9293 3.8.6.1) and is the SWS override timeout for a small one
 * (3.8.6.2.1), so a lost window update can never stall the connection. */
static void arm_persist(struct sl_tcb *t, uint64_t now)
{
    t->flags |= SL_TF_PERSIST;
    t->t_rexmt = now + t->rto;
}

/* How much of the `avail` bytes at SND.NXT to send now: the usable window
 * (RFC 5681 / 9293 3.8.6: min(cwnd, rwnd) minus what is in flight, RFC
 * 6675 pipe during SACK recovery), cut to one (super-)segment, then sender
 * SWS avoidance (3.8.6.2.1) and Nagle (3.7.4). Returns 0 with *stop set
 * when nothing goes now. */
static uint32_t send_len(struct sl_tcb *t, uint64_t now, uint32_t avail, int fin_unsent,
                         uint32_t max_seg, uint32_t sack_lim, int *stop)
{
    uint32_t inflight = ((t->flags & SL_TF_IN_RECOVERY) && (t->flags & SL_TF_SACK_OK))
                            ? sack_pipe(t)
                            : t->snd_nxt - t->snd_una;
    uint32_t cw = t->cwnd > inflight ? t->cwnd - inflight : 0;
    uint32_t edge = t->snd_una + t->snd_wnd; /* never beyond the offered window */
    uint32_t rw = sl_seq_gt(edge, t->snd_nxt) ? edge - t->snd_nxt : 0;
    /* no super-segments across urgent data: the device would copy the
     * urgent pointer into every piece */
    uint32_t seg_max = ((t->flags & SL_TF_SND_URG) && sl_seq_lt(t->snd_nxt, t->snd_up))
                           ? t->snd_mss
                           : max_seg;
    uint32_t len = tcp_min32(tcp_min32(avail, tcp_min32(cw, rw)), seg_max);
    len = tcp_min32(len, sack_lim);
    *stop = 1;
    if (avail == 0 && t->snd_wnd == 0) { /* a lone FIN into a zero window: probe it */
        if (t->snd_nxt == t->snd_una && !t->t_rexmt)
            arm_persist(t, now);
        return 0;
    }
    if (avail > 0 && len < avail) {
        /* Sender SWS avoidance: send a full segment, or at least half the
         * largest window the peer offered; never a runt while data is in
         * flight. */
        if (len < t->snd_mss && (len == 0 || len < t->max_snd_wnd / 2)) {
            if (t->snd_nxt == t->snd_una && !t->t_rexmt && rw < avail)
                arm_persist(t, now);
            return 0;
        }
    } else if (avail > 0 && len < t->snd_mss && t->snd_nxt != t->snd_una &&
               !(t->flags & SL_TF_NODELAY) && !fin_unsent) {
        return 0; /* Nagle (RFC 9293 3.7.4, RFC 1122 4.2.3.4) */
    }
    *stop = 0;
    return len;
}

/* Bookkeeping for a segment of the send loop: counters, the RTT sample
 * (RFC 6298 3, Karn), SND.NXT/SND.MAX and the retransmission timer. */
static void sent_from_loop(struct sl_tcb *t, uint64_t now, uint32_t len, uint8_t flags,
                           int rexmit, struct sl_tcp_out *out)
{
    if (len)
        CTR(out, tcp_tx_data_segs);
    if (rexmit) {
        t->retrans_total++;
        CTR(out, tcp_retransmits);
    } else if (len && !(t->flags & SL_TF_RTT_VALID)) {
        t->flags |= SL_TF_RTT_VALID; /* RFC 6298 3: time one segment at a time */
        t->rtt_seq = t->snd_nxt;
        t->rtt_start_us = (uint32_t)now;
    }
    t->snd_nxt += len + ((flags & SL_TCP_FIN) ? 1 : 0);
    if (sl_seq_gt(t->snd_nxt, t->snd_max))
        t->snd_max = t->snd_nxt;
    if (!t->t_rexmt || (t->flags & SL_TF_PERSIST))
        tcp_arm_rto(t, now); /* RFC 6298 5.1 */
    else if (!rexmit && len && !(t->flags & (SL_TF_IN_RECOVERY | SL_TF_TLP_SENT)))
        tcp_arm_rto(t, now); /* RFC 8985 7.2: restart the PTO after new data */
}

/* RFC 3168 6.1.2/6.1.5: new data of an ECN connection is ECN-capable
 * (ECT(0)), and the first one after a window cut carries CWR.
 * Retransmissions, pure ACKs, window probes and SYNs never are. */
static void ecn_mark_new_data(struct sl_tcb *t, struct sl_tcp_emit *e)
{
    e->ecn = SL_IP_ECN_ECT0;
    if (t->flags & SL_TF_ECN_CWR) {
        e->flags |= SL_TCP_CWR;
        t->flags &= ~(uint32_t)SL_TF_ECN_CWR;
    }
}

void sl_tcp_output(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                   struct sl_tcp_out *out)
{
    (void)b; /* payload bytes are read from the ring by the frame builder */
    if (!can_send_data(t)) {
        if (t->state == SL_TCP_FIN_WAIT_2)
            window_update_check(t);
        if ((t->flags & SL_TF_ACK_NOW) && t->state >= SL_TCP_ESTABLISHED)
            tcp_send_ack(t, now, out);
        return;
    }
    /* RFC 5681 4.2 / RFC 2018 4: out-of-order data is answered by a
     * duplicate ACK with SACK, also when data of ours is about to go. */
    if ((t->flags & SL_TF_ACK_NOW) && t->n_ooo)
        tcp_send_ack(t, now, out);
    if ((t->flags & SL_TF_IN_RECOVERY) && (t->flags & SL_TF_SACK_OK))
        sack_recover(t, now, out);

    uint32_t max_seg = t->snd_mss;
    if (t->flags & SL_TF_GSO) /* keep the IP datagram under 64 KB */
        max_seg = t->snd_mss * tcp_max32(1, 62000 / t->snd_mss);

    while (out->n < SL_TCP_OUT_MAX) {
        uint32_t sack_lim = UINT32_MAX;
        if (t->n_sacked && sl_seq_lt(t->snd_nxt, t->snd_max))
            sack_lim = skip_sacked(t);
        int fin_unsent = (t->flags & SL_TF_FIN_QUEUED) &&
                         sl_seq_le(t->snd_nxt, t->snd_end); /* FIN seq = snd_end */
        uint32_t avail = sl_seq_lt(t->snd_nxt, t->snd_end) ? t->snd_end - t->snd_nxt : 0;
        if (avail == 0 && !fin_unsent)
            break;
        int stop;
        uint32_t len = send_len(t, now, avail, fin_unsent, max_seg, sack_lim, &stop);
        if (stop)
            break;
        uint8_t flags = SL_TCP_ACK;
        if (len > 0 && len == avail)
            flags |= SL_TCP_PSH;
        if (fin_unsent && len == avail)
            flags |= SL_TCP_FIN;
        int rexmit = sl_seq_lt(t->snd_nxt, t->snd_max);
        struct sl_tcp_emit *e = tcp_emit_new(t, now, out, t->snd_nxt, flags);
        if (!e)
            break;
        e->len = len;
        if (len > t->snd_mss)
            e->gso = t->snd_mss;
        if (len && !rexmit && (t->flags & SL_TF_ECN_OK))
            ecn_mark_new_data(t, e);
        sent_from_loop(t, now, len, flags, rexmit, out);
    }

    window_update_check(t);
    if (t->flags & SL_TF_ACK_NOW)
        tcp_send_ack(t, now, out);
}
