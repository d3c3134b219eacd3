/* Segment arrival, RFC 9293 3.10.7, one function per step of the RFC's
 * procedure. Every way out either continues or ends in a named counter. */
#include "tcp/tcp_int.h"

#include <errno.h>

#define TS_24_DAYS_MS (24u * 24 * 3600 * 1000)

void tcp_set_state(struct sl_tcb *t, uint8_t st, uint64_t now, struct sl_tcp_out *out)
{
    if (t->state == st)
        return;
    t->state = st;
    switch (st) {
    case SL_TCP_ESTABLISHED:
        out->events |= SL_TEV_CONNECTED | SL_TEV_WRITABLE;
        CTR(out, tcp_established);
        t->flags &= ~(uint32_t)SL_TF_OPENING_SYN;
        if (t->keepidle_s)
            t->t_keep = now + (uint64_t)t->keepidle_s * 1000000u;
        break;
    case SL_TCP_FIN_WAIT_2:
        /* Only an orphaned connection times out here; a half-closed one
         * whose application still reads waits for the peer's FIN. */
        t->t_keep = (t->flags & SL_TF_RD_SHUT) ? now + SL_TCP_FIN_WAIT2_US : 0;
        break;
    case SL_TCP_TIME_WAIT:              /* RFC 9293 3.6: 2 MSL */
        t->t_keep = now + 2ull * SL_TCP_MSL_US;
        t->t_rexmt = 0;
        t->t_delack = 0;
        break;
    case SL_TCP_CLOSED:
        t->t_rexmt = t->t_delack = t->t_keep = 0;
        out->events |= SL_TEV_CLOSED;
        CTR(out, tcp_closed);
        break;
    default:
        break;
    }
}

void tcp_set_error(struct sl_tcb *t, int err, uint64_t now, struct sl_tcp_out *out)
{
    t->err = (int16_t)err;
    out->events |= SL_TEV_ERROR;
    tcp_set_state(t, SL_TCP_CLOSED, now, out);
}

/* RFC 7323 4.3: record TS.Recent from a segment that covers Last.ACK.sent. */
static void update_ts_recent(struct sl_tcb *t, const struct sl_tcp_seg *s, uint64_t now)
{
    if (!(t->flags & SL_TF_TS_OK) || !s->opts.has_ts)
        return;
    uint32_t end = s->seq + s->len + ((s->flags & (SL_TCP_SYN | SL_TCP_FIN)) ? 1 : 0);
    if (sl_seq_le(s->seq, t->last_ack_sent) && sl_seq_le(t->last_ack_sent, end) &&
        sl_seq_ge(s->opts.tsval, t->ts_recent)) {
        t->ts_recent = s->opts.tsval;
        t->ts_recent_ms = (uint32_t)(now / 1000);
    }
}

/* Inserts nb into a sorted list of disjoint ranges, merging overlapping
 * and adjacent ones; keeps at most `max`, dropping the highest. Returns the
 * new count. Used for the SACK scoreboard and the out-of-order list. */
static unsigned range_insert(struct sl_sack_block *r, unsigned n, unsigned max,
                             struct sl_sack_block nb)
{
    struct sl_sack_block tmp[SL_TCP_MAX_SACK + SL_TCP_MAX_OOO + 1];
    unsigned k = 0, placed = 0;
    for (unsigned j = 0; j < n; j++) {
        struct sl_sack_block c = r[j];
        if (sl_seq_lt(c.right, nb.left)) {
            tmp[k++] = c;
        } else if (sl_seq_lt(nb.right, c.left)) {
            if (!placed) {
                tmp[k++] = nb;
                placed = 1;
            }
            tmp[k++] = c;
        } else {
            nb.left = sl_seq_min(nb.left, c.left);
            nb.right = sl_seq_max(nb.right, c.right);
        }
    }
    if (!placed)
        tmp[k++] = nb;
    if (k > max)
        k = max;
    memcpy(r, tmp, k * sizeof(tmp[0]));
    return k;
}

/* Merge the peer's SACK blocks into our scoreboard (RFC 2018 / 6675). Only
 * blocks within (SND.UNA, SND.MAX] are believed; the rest are ignored. */
static void sack_update(struct sl_tcb *t, const struct sl_tcp_seg *s)
{
    for (unsigned i = 0; i < s->opts.nsack; i++) {
        struct sl_sack_block nb = s->opts.sack[i];
        if (!sl_seq_lt(nb.left, nb.right) || sl_seq_le(nb.right, t->snd_una) ||
            sl_seq_gt(nb.right, t->snd_max))
            continue; /* D-SACK, stale or bogus */
        if (sl_seq_lt(nb.left, t->snd_una))
            nb.left = t->snd_una;
        /* keep the lowest ranges: they drive retransmission */
        t->n_sacked = (uint8_t)range_insert(t->sacked, t->n_sacked, SL_TCP_MAX_SACK, nb);
    }
}

static void sack_drop_below(struct sl_tcb *t, uint32_t una)
{
    unsigned k = 0;
    for (unsigned j = 0; j < t->n_sacked; j++) {
        if (sl_seq_le(t->sacked[j].right, una))
            continue;
        t->sacked[k] = t->sacked[j];
        if (sl_seq_lt(t->sacked[k].left, una))
            t->sacked[k].left = una;
        k++;
    }
    t->n_sacked = (uint8_t)k;
}

static int fin_sent_and_acked(const struct sl_tcb *t)
{
    return (t->flags & SL_TF_FIN_QUEUED) && sl_seq_gt(t->snd_una, t->snd_end);
}

/* Fast retransmit entry (RFC 5681 3.2 steps 2-3, RFC 6582 3.2 step 2,
 * RFC 6675 5): cut the window, note "recover", resend SND.UNA's segment. */
static void enter_fast_recovery(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    tcp_cc_enter_recovery(t, now);
    t->high_rxt = t->snd_una;
    tcp_fast_retransmit(t, now, out);
}

/* Merge the segment's SACK blocks. Lost retransmission: data sent after
 * our latest hole retransmission is SACKed while a hole below HighRxt
 * remains, so that retransmission was lost too; NextSeg starts over (the
 * rule RACK generalises, RFC 8985 6.2 step 2). */
static void ack_sack_blocks(struct sl_tcb *t, const struct sl_tcp_seg *s, struct sl_tcp_out *out)
{
    sack_update(t, s);
    if ((t->flags & SL_TF_IN_RECOVERY) && t->n_sacked &&
        sl_seq_gt(t->sacked[t->n_sacked - 1].right, t->rxt_mark) &&
        sl_seq_gt(t->high_rxt, t->snd_una) && sl_seq_gt(t->sacked[0].left, t->snd_una) &&
        sl_seq_gt(t->sacked[t->n_sacked - 1].right, t->high_rxt)) {
        CTR(out, tcp_lost_rexmit);
        t->high_rxt = t->snd_una;
        t->rxt_mark = t->snd_max;
    }
}

/* Send window update (3.10.7.4 fifth, ESTABLISHED): taken from a segment
 * newer than the last one (SND.WL1/SND.WL2). Returns 1 if it changed. */
static int ack_update_window(struct sl_tcb *t, uint64_t now, const struct sl_tcp_seg *s,
                             uint32_t wnd)
{
    if (!(sl_seq_lt(t->snd_wl1, s->seq) ||
          (t->snd_wl1 == s->seq && sl_seq_le(t->snd_wl2, s->ack))))
        return 0;
    int changed = wnd != t->snd_wnd;
    t->snd_wnd = wnd;
    t->snd_wl1 = s->seq;
    t->snd_wl2 = s->ack;
    if (wnd > t->max_snd_wnd)
        t->max_snd_wnd = wnd;
    if (wnd > 0 && (t->flags & SL_TF_PERSIST)) {
        t->flags &= ~(uint32_t)SL_TF_PERSIST; /* window opened: stop probing */
        t->backoff = 0;
        t->snd_nxt = t->snd_una; /* a refused probe byte goes again first */
        /* RFC 6298 5.1/5.2: while anything is outstanding the
         * retransmission timer runs, whether or not output sends now */
        if (t->snd_max != t->snd_una)
            tcp_arm_rto(t, now);
        else
            t->t_rexmt = 0;
    }
    return changed;
}

/* Congestion window on an ACK of new data: RFC 6582 3.2 step 3 in fast
 * recovery, else the congestion controller (RFC 5681 3.1, RFC 9438). */
static void ack_cwnd(struct sl_tcb *t, uint64_t now, uint32_t ack, uint32_t acked,
                     struct sl_tcp_out *out)
{
    if (!(t->flags & SL_TF_IN_RECOVERY)) {
        tcp_cc_on_ack(t, acked, now);
    } else if (sl_seq_ge(ack, t->recover)) {
        /* full ACK: cwnd = min(ssthresh, flight + SMSS), recovery ends */
        t->cwnd = tcp_min32(t->ssthresh, tcp_max32(tcp_flight(t), t->snd_mss) + t->snd_mss);
        t->flags &= ~(uint32_t)SL_TF_IN_RECOVERY;
    } else if (!(t->flags & SL_TF_SACK_OK)) {
        /* partial ACK: retransmit the first unacknowledged segment,
         * deflate by the amount acked, add back one SMSS */
        tcp_fast_retransmit(t, now, out);
        t->cwnd = tcp_max32(t->cwnd > acked ? t->cwnd - acked : 0, t->snd_mss);
        if (acked >= t->snd_mss)
            t->cwnd += t->snd_mss;
    }
}

/* Our FIN acknowledged (3.10.7.4 fifth: FIN-WAIT-1, CLOSING, LAST-ACK). */
static void ack_fin(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    if (!fin_sent_and_acked(t))
        return;
    switch (t->state) {
    case SL_TCP_FIN_WAIT_1: tcp_set_state(t, SL_TCP_FIN_WAIT_2, now, out); break;
    case SL_TCP_CLOSING: tcp_set_state(t, SL_TCP_TIME_WAIT, now, out); break;
    case SL_TCP_LAST_ACK: tcp_set_state(t, SL_TCP_CLOSED, now, out); break;
    default: break;
    }
}

/* SND.UNA < SEG.ACK =< SND.NXT: set SND.UNA = SEG.ACK (3.10.7.4 fifth),
 * with the RTT sample, loss recovery and retransmission timer around it. */
static void ack_new_data(struct sl_tcb *t, uint64_t now, uint32_t ack, struct sl_tcp_out *out)
{
    uint32_t acked = ack - t->snd_una;
    if ((t->flags & SL_TF_RTT_VALID) && sl_seq_gt(ack, t->rtt_seq)) {
        tcp_rtt_sample(t, (uint32_t)now - t->rtt_start_us); /* RFC 6298 2, Karn */
        t->flags &= ~(uint32_t)SL_TF_RTT_VALID;
    }
    /* RFC 6298 5.5/5.7: the backed-off RTO stays until a valid sample
     * (Karn) recomputes it; only the retry count starts over. */
    t->backoff = 0;
    t->snd_una = ack;
    if (!(t->flags & SL_TF_IN_RECOVERY) && sl_seq_lt(t->recover, ack - 1))
        t->recover = ack - 1; /* keep "ack > recover" meaningful past 2^31 bytes */
    if (sl_seq_lt(t->snd_nxt, t->snd_una))
        t->snd_nxt = t->snd_una;
    if (sl_seq_lt(t->high_rxt, t->snd_una))
        t->high_rxt = t->snd_una;
    sack_drop_below(t, ack);
    t->flags &= ~(uint32_t)SL_TF_TLP_SENT;
    ack_cwnd(t, now, ack, acked, out);
    t->dupacks = 0;
    /* RFC 6675 5 with stretch/coalesced ACKs: a cumulative ACK that also
     * SACKs more than DupThresh-1 segments above SND.UNA means the
     * first unacknowledged segment is lost (IsLost(SND.UNA)). */
    if (!(t->flags & SL_TF_IN_RECOVERY) && (t->flags & SL_TF_SACK_OK) && t->n_sacked &&
        tcp_sacked_bytes(t) > 2u * t->snd_mss && sl_seq_ge(ack, t->recover))
        enter_fast_recovery(t, now, out);
    /* RFC 6298 5.2 / 5.3 */
    if (t->snd_una == t->snd_max)
        t->t_rexmt = (t->flags & SL_TF_PERSIST) ? t->t_rexmt : 0;
    else
        tcp_arm_rto(t, now);
    if (t->state == SL_TCP_ESTABLISHED || t->state == SL_TCP_CLOSE_WAIT)
        out->events |= SL_TEV_WRITABLE;
    ack_fin(t, now, out);
}

/* A duplicate ACK (SEG.ACK = SND.UNA). RFC 5681 2: it acknowledges nothing
 * new, carries no data, no SYN/FIN, does not move the window, while data
 * is outstanding. With SACK, RFC 6675 2: an ACK at SND.UNA that SACKs
 * octets not SACKed before, whatever its window (receivers move the window
 * as their application reads). */
static void ack_duplicate(struct sl_tcb *t, uint64_t now, const struct sl_tcp_seg *s,
                          uint32_t wnd, int wnd_changed, int new_sack, struct sl_tcp_out *out)
{
    uint32_t ack = s->ack;
    /* RFC 8985 7.4: after a tail loss probe, an ACK that leaves SACKed data
     * above a hole at SND.UNA means the hole is lost, even when the probe
     * itself only repeated data the peer already had (no new SACK). */
    if (ack == t->snd_una && (t->flags & SL_TF_TLP_SENT) && (t->flags & SL_TF_SACK_OK) &&
        t->n_sacked && !(t->flags & SL_TF_IN_RECOVERY) && sl_seq_ge(ack, t->recover) &&
        t->snd_max != t->snd_una) {
        enter_fast_recovery(t, now, out);
        return;
    }
    if (!(ack == t->snd_una && !(s->flags & (SL_TCP_SYN | SL_TCP_FIN)) &&
          t->snd_max != t->snd_una && wnd != 0 && !(t->flags & SL_TF_PERSIST) &&
          (new_sack || (s->len == 0 && !wnd_changed))))
        return;
    CTR(out, tcp_dupacks_rx);
    if (t->dupacks < 255)
        t->dupacks++;
    if (t->flags & SL_TF_IN_RECOVERY) {
        if (!(t->flags & SL_TF_SACK_OK))
            t->cwnd += t->snd_mss; /* RFC 5681 3.2 step 4: inflate */
        return;
    }
    /* RFC 5681 3.2 (3 dupacks) / RFC 6675 5 (IsLost: > 2 SMSS SACKed
     * above snd_una); RFC 6582 3.2 step 1: only if the ACK covers more
     * than "recover". */
    int lost = t->dupacks >= 3 ||
               ((t->flags & SL_TF_SACK_OK) && tcp_sacked_bytes(t) > 2u * t->snd_mss) ||
               /* RFC 8985 7.4: the tail loss probe drew a SACK but no
                * cumulative ACK: what lies below it is lost */
               ((t->flags & (SL_TF_TLP_SENT | SL_TF_SACK_OK)) ==
                    (SL_TF_TLP_SENT | SL_TF_SACK_OK) && t->n_sacked);
    /* recover holds SND.MAX (one past the highest sequence sent), so
     * RFC 6582's "covers more than recover" is ack >= recover. */
    if (lost && sl_seq_ge(ack, t->recover))
        enter_fast_recovery(t, now, out);
}

/* RFC 3168 6.1.2: ECE on an ACK of an ECN connection cuts the window,
 * once per window of data (the ACK must cover data sent after the last
 * cut) and not again during loss recovery, which already cut it. */
static void ack_ecn_echo(struct sl_tcb *t, uint64_t now, const struct sl_tcp_seg *s,
                         struct sl_tcp_out *out)
{
    if (!(s->flags & SL_TCP_ECE) || !(t->flags & SL_TF_ECN_OK) ||
        (t->flags & SL_TF_IN_RECOVERY) || !sl_seq_gt(s->ack, t->ecn_mark))
        return;
    CTR(out, tcp_ecn_cwnd_reduced);
    tcp_cc_on_ece(t, now);
}

/* RFC 9293 3.10.7.4, fifth: the ACK field, for synchronized states. */
static void process_ack(struct sl_tcb *t, uint64_t now, const struct sl_tcp_seg *s,
                        struct sl_tcp_out *out)
{
    uint32_t wnd = (uint32_t)s->wnd << t->snd_wscale;
    uint32_t sacked_before = tcp_sacked_bytes(t);
    if (t->flags & SL_TF_SACK_OK)
        ack_sack_blocks(t, s, out);
    /* Urgent data acknowledged: leave urgent mode (3.8.5). */
    if ((t->flags & SL_TF_SND_URG) && sl_seq_ge(s->ack, t->snd_up))
        t->flags &= ~(uint32_t)SL_TF_SND_URG;
    int wnd_changed = ack_update_window(t, now, s, wnd);
    if (sl_seq_gt(s->ack, t->snd_una)) {
        ack_new_data(t, now, s->ack, out);
    } else {
        int new_sack = (t->flags & SL_TF_SACK_OK) && tcp_sacked_bytes(t) > sacked_before;
        ack_duplicate(t, now, s, wnd, wnd_changed, new_sack, out);
    }
    ack_ecn_echo(t, now, s, out);
}

/* RFC 9293 3.10.7.4, seventh: segment text, for ESTABLISHED and FIN-WAIT-1/2.
 * The data is written into the receive ring at its own sequence number. */
static void process_data(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                         uint32_t seq, const uint8_t *data, uint32_t len,
                         struct sl_tcp_out *out)
{
    uint32_t cap_end = t->rcv_read + t->rcv_bufsz;
    if (sl_seq_gt(seq + len, cap_end)) { /* beyond the ring: only if we rounded */
        CTR(out, drop_tcp_rcv_overflow);
        if (sl_seq_ge(seq, cap_end))
            return;
        len = cap_end - seq;
    }
    ring_put(b->rcv, t->rcv_bufsz, seq, data, len);
    if (seq == t->rcv_nxt) {
        int filled_gap = t->n_ooo > 0;
        t->ooo_last = 0;
        t->rcv_nxt += len;
        while (t->n_ooo && sl_seq_le(t->ooo[0].left, t->rcv_nxt)) {
            t->rcv_nxt = sl_seq_max(t->rcv_nxt, t->ooo[0].right);
            memmove(&t->ooo[0], &t->ooo[1], (size_t)(t->n_ooo - 1) * sizeof(t->ooo[0]));
            t->n_ooo--;
        }
        out->events |= SL_TEV_READABLE;
        /* RFC 5681 4.2 / RFC 9293 3.8.6.3: ACK at least every second full
         * segment, within 200 ms; at once when a gap is filled. */
        uint32_t full = t->rcv_mss - ((t->flags & SL_TF_TS_OK) ? 12u : 0u);
        if (filled_gap || t->rcv_nxt - t->last_ack_sent >= 2u * full)
            t->flags |= SL_TF_ACK_NOW;
        else if (!t->t_delack)
            t->t_delack = now + SL_TCP_DELACK_US;
        return;
    }
    /* Out of order: remember the range, ACK at once (RFC 5681 4.2) with SACK. */
    CTR(out, tcp_ooo_segs);
    struct sl_sack_block nb = {seq, seq + len};
    /* beyond SL_TCP_MAX_OOO ranges the highest is forgotten; the peer resends it */
    unsigned n = range_insert(t->ooo, t->n_ooo, SL_TCP_MAX_OOO, nb);
    t->n_ooo = (uint8_t)n;
    t->ooo_last = 0;
    for (unsigned j = 0; j < n; j++)
        if (sl_seq_le(t->ooo[j].left, seq) && sl_seq_lt(seq, t->ooo[j].right))
            t->ooo_last = (uint8_t)(j + 1);
    t->flags |= SL_TF_ACK_NOW;
}

/* RFC 9293 3.10.7.4, eighth: the FIN bit. Only an in-order FIN is taken;
 * an early one is dropped and comes again with the retransmission. */
static void process_fin(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    t->rcv_nxt++;
    t->flags |= SL_TF_FIN_RCVD | SL_TF_ACK_NOW;
    t->n_ooo = 0; /* nothing follows a FIN: forget ranges beyond it */
    t->ooo_last = 0;
    out->events |= SL_TEV_HUP | SL_TEV_READABLE;
    switch (t->state) {
    case SL_TCP_SYN_RCVD:
    case SL_TCP_ESTABLISHED: tcp_set_state(t, SL_TCP_CLOSE_WAIT, now, out); break;
    case SL_TCP_FIN_WAIT_1: tcp_set_state(t, SL_TCP_CLOSING, now, out); break;
    case SL_TCP_FIN_WAIT_2: tcp_set_state(t, SL_TCP_TIME_WAIT, now, out); break;
    case SL_TCP_TIME_WAIT: t->t_keep = now + 2ull * SL_TCP_MSL_US; break;
    default: break;
    }
}

/* <SEQ=SEG.ACK><CTL=RST>, for an unacceptable ACK in SYN-SENT/SYN-RECEIVED. */
static void send_rst_for_ack(struct sl_tcb *t, uint64_t now, uint32_t ack, struct sl_tcp_out *out)
{
    struct sl_tcp_emit *e = tcp_emit_new(t, now, out, ack, SL_TCP_RST);
    if (e) {
        e->opts.has_ts = 0;
        CTR(out, tcp_rst_tx);
    }
}

/* The handshake's RTT: sampled unless the SYN went more than once (Karn);
 * RFC 6298 5.7: after a retransmitted SYN and no sample, RTO = 3 s. */
static void handshake_rtt(struct sl_tcb *t, uint64_t now, int sample)
{
    if (sample)
        tcp_rtt_sample(t, (uint32_t)now - t->rtt_start_us);
    else if (!(t->flags & SL_TF_HAVE_RTT))
        t->rto = 3000000;
    t->flags &= ~(uint32_t)SL_TF_RTT_VALID; /* the SYN's timing is done */
}

/* RFC 9293 3.10.7.3: SYN-SENT. */
static void input_syn_sent(struct sl_tcb *t, uint64_t now, const struct sl_tcp_seg *s,
                           struct sl_tcp_out *out)
{
    if (s->flags & SL_TCP_ACK) {
        if (sl_seq_le(s->ack, t->iss) || sl_seq_gt(s->ack, t->snd_max)) {
            CTR(out, drop_tcp_synsent_bad_ack);
            if (!(s->flags & SL_TCP_RST))
                send_rst_for_ack(t, now, s->ack, out);
            return;
        }
    }
    if (s->flags & SL_TCP_RST) {
        if (s->flags & SL_TCP_ACK) { /* acceptable ACK: connection refused */
            CTR(out, tcp_rst_rx);
            tcp_set_error(t, -ECONNREFUSED, now, out);
        } else {
            CTR(out, drop_tcp_rst_bad_seq);
        }
        return;
    }
    if (!(s->flags & SL_TCP_SYN)) {
        CTR(out, drop_tcp_synsent_noflags);
        return;
    }
    tcp_syn_received(t, s, now, out);
    t->snd_wl2 = s->ack;
    if (s->flags & SL_TCP_ACK) {
        handshake_rtt(t, now, t->backoff == 0);
        t->snd_una = s->ack;
        t->backoff = 0;
        t->t_rexmt = 0;
        tcp_cc_init(t);
        tcp_set_state(t, SL_TCP_ESTABLISHED, now, out);
        t->flags |= SL_TF_ACK_NOW;
        return;
    }
    /* Simultaneous open (RFC 9293 3.5, figure 8). */
    tcp_set_state(t, SL_TCP_SYN_RCVD, now, out);
    tcp_cc_init(t);
    tcp_send_syn(t, now, out);
}

/* The segment as the steps of 3.10.7.4 see it: trimming to the window
 * (first step) changes its text and may drop its FIN. */
struct rx {
    const struct sl_tcp_seg *s;
    uint8_t fl;
    uint32_t seq, len;
    const uint8_t *data;
    uint32_t wnd; /* RCV.WND at arrival */
};

/* A retransmitted SYN while in SYN-RECEIVED: answer with the SYN-ACK again
 * (not a RST; picoTCP got this wrong). Returns 1 if it was one. */
static int syn_rcvd_repeated_syn(struct sl_tcb *t, uint64_t now, const struct sl_tcp_seg *s,
                                 struct sl_tcp_out *out)
{
    if (!(t->state == SL_TCP_SYN_RCVD && (s->flags & SL_TCP_SYN) &&
          !(s->flags & (SL_TCP_ACK | SL_TCP_RST)) && s->seq == t->irs))
        return 0;
    if ((t->flags & SL_TF_TS_OK) && s->opts.has_ts &&
        sl_seq_ge(s->opts.tsval, t->ts_recent)) { /* RFC 7323 4.3 */
        t->ts_recent = s->opts.tsval;
        t->ts_recent_ms = (uint32_t)(now / 1000);
    }
    tcp_send_syn(t, now, out);
    return 1;
}

/* RFC 7323 5.3 PAWS (R1-R3), before the sequence check: a segment whose
 * TSval is older than TS.Recent is a duplicate; ACK it and drop it.
 * Returns 1 if the segment was dropped. */
static int paws_reject(struct sl_tcb *t, uint64_t now, const struct sl_tcp_seg *s,
                       struct sl_tcp_out *out)
{
    if (!((t->flags & SL_TF_TS_OK) && s->opts.has_ts && !(s->flags & SL_TCP_RST) &&
          sl_seq_lt(s->opts.tsval, t->ts_recent) &&
          (uint32_t)(now / 1000) - t->ts_recent_ms < TS_24_DAYS_MS))
        return 0;
    CTR(out, drop_tcp_paws);
    tcp_send_ack(t, now, out);
    return 1;
}

/* Table 6 of 3.10.7.4: is any part of the segment inside the window? */
static int seq_acceptable(const struct sl_tcb *t, uint32_t seq, uint32_t seglen, uint32_t wnd)
{
    if (seglen == 0)
        return wnd == 0 ? seq == t->rcv_nxt
                        : sl_seq_le(t->rcv_nxt, seq) && sl_seq_lt(seq, t->rcv_nxt + wnd);
    if (wnd == 0)
        return 0;
    return (sl_seq_le(t->rcv_nxt, seq) && sl_seq_lt(seq, t->rcv_nxt + wnd)) ||
           (sl_seq_le(t->rcv_nxt, seq + seglen - 1) &&
            sl_seq_lt(seq + seglen - 1, t->rcv_nxt + wnd));
}

/* RFC 9293 3.10.7.4, first: check the sequence number. An unacceptable
 * segment is dropped (after an ACK unless it is a RST). With a zero window
 * a segment at RCV.NXT still has its ACK and RST processed, its text
 * dropped. Returns 1 to go on with the next step. */
static int step1_check_seq(struct sl_tcb *t, uint64_t now, struct rx *r, struct sl_tcp_out *out)
{
    r->wnd = sl_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    uint32_t seglen =
        r->len + ((r->fl & SL_TCP_SYN) ? 1 : 0) + ((r->fl & SL_TCP_FIN) ? 1 : 0);
    if (seq_acceptable(t, r->seq, seglen, r->wnd))
        return 1;
    if (r->wnd == 0 && r->seq == t->rcv_nxt && !(r->fl & SL_TCP_SYN)) {
        if (r->len || (r->fl & SL_TCP_FIN))
            CTR(out, drop_tcp_rcv_overflow);
        r->len = 0;
        r->fl &= (uint8_t)~SL_TCP_FIN;
        t->flags |= SL_TF_ACK_NOW;
        return 1;
    }
    if (r->fl & SL_TCP_RST) {
        CTR(out, drop_tcp_rst_bad_seq);
        return 0;
    }
    CTR(out, drop_tcp_out_of_window);
    if (t->state == SL_TCP_TIME_WAIT && (r->fl & SL_TCP_FIN))
        t->t_keep = now + 2ull * SL_TCP_MSL_US; /* 3.10.7.4 eighth */
    /* <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>: at once for a duplicate (the
     * peer's retransmission needs it), rate limited like a challenge ACK
     * for anything beyond the window, so forged segments cannot make us an
     * ACK reflector. */
    if (sl_seq_le(r->seq + seglen, t->rcv_nxt))
        tcp_send_ack(t, now, out);
    else
        tcp_send_oow_ack(t, now, out);
    return 0;
}

/* RFC 9293 3.10.7.4, second: the RST bit, with RFC 5961 3.2: only an exact
 * match resets; any other in-window RST gets a challenge ACK. Returns 1 to
 * go on (no RST). */
static int step2_check_rst(struct sl_tcb *t, uint64_t now, const struct rx *r,
                           struct sl_tcp_out *out)
{
    if (!(r->fl & SL_TCP_RST))
        return 1;
    if (r->seq != t->rcv_nxt) {
        tcp_send_challenge_ack(t, now, out);
        return 0;
    }
    CTR(out, tcp_rst_rx);
    if (t->state == SL_TCP_SYN_RCVD && (t->flags & SL_TF_PASSIVE))
        tcp_set_state(t, SL_TCP_CLOSED, now, out); /* back to LISTEN: drop the TCB */
    else if (t->state >= SL_TCP_CLOSING && t->state != SL_TCP_CLOSE_WAIT)
        tcp_set_state(t, SL_TCP_CLOSED, now, out);
    else
        tcp_set_error(t, t->state == SL_TCP_SYN_RCVD ? -ECONNREFUSED : -ECONNRESET, now, out);
    return 0;
}

/* RFC 9293 3.10.7.4, third: security. The stack runs no multilevel-secure
 * compartments (RFC 9293 3.10.7.4 and its note on RFC 1108 / RFC 5570
 * labels): the IP layer passes no security option up, so every segment
 * matches its connection's compartment. Nothing to check. */
static int step3_check_security(void) { return 1; }

/* RFC 9293 3.10.7.4, fourth: a SYN in a synchronized state (RFC 5961 4.2):
 * "irrespective of the sequence number", a challenge ACK and nothing else,
 * checked before trimming so that an old SYN can never smuggle its data
 * in. Returns 1 to go on (no SYN). */
static int step4_check_syn(struct sl_tcb *t, uint64_t now, const struct rx *r,
                           struct sl_tcp_out *out)
{
    if (!(r->fl & SL_TCP_SYN))
        return 1;
    CTR(out, drop_tcp_syn_in_window);
    tcp_send_challenge_ack(t, now, out);
    return 0;
}

/* End of the first step: the "idealized segment that begins at RCV.NXT and
 * does not exceed the window". Drop what we already have and what does
 * not fit. */
static void trim_to_window(struct sl_tcb *t, struct rx *r, struct sl_tcp_out *out)
{
    if (sl_seq_lt(r->seq, t->rcv_nxt)) {
        uint32_t d = t->rcv_nxt - r->seq;
        if (d > r->len)
            d = r->len;
        r->data += d;
        r->len -= d;
        r->seq += d;
        if (r->len == 0 && !(r->fl & SL_TCP_FIN))
            t->flags |= SL_TF_ACK_NOW; /* a pure retransmission: re-ACK */
    }
    if (sl_seq_gt(r->seq + r->len, t->rcv_nxt + r->wnd)) {
        r->len = sl_seq_gt(t->rcv_nxt + r->wnd, r->seq) ? t->rcv_nxt + r->wnd - r->seq : 0;
        r->fl &= (uint8_t)~SL_TCP_FIN;
        CTR(out, drop_tcp_rcv_overflow);
    }
}

/* Fifth step in SYN-RECEIVED: SND.UNA < SEG.ACK =< SND.NXT moves to
 * ESTABLISHED (and on to FIN-WAIT-1 if the application already closed);
 * otherwise <SEQ=SEG.ACK><CTL=RST>. Returns 1 to go on. */
static int ack_syn_rcvd(struct sl_tcb *t, uint64_t now, const struct sl_tcp_seg *s,
                        struct sl_tcp_out *out)
{
    if (!(sl_seq_lt(t->snd_una, s->ack) && sl_seq_le(s->ack, t->snd_max))) {
        CTR(out, drop_tcp_ack_unsent);
        send_rst_for_ack(t, now, s->ack, out);
        return 0;
    }
    t->snd_wnd = (uint32_t)s->wnd << t->snd_wscale;
    t->max_snd_wnd = t->snd_wnd;
    t->snd_wl1 = s->seq;
    t->snd_wl2 = s->ack;
    t->t_rexmt = 0;
    handshake_rtt(t, now, t->backoff == 0 && (t->flags & SL_TF_RTT_VALID));
    t->snd_una = s->ack; /* the SYN is acked: no data, no cwnd growth */
    t->backoff = 0;
    tcp_set_state(t, SL_TCP_ESTABLISHED, now, out);
    if (t->flags & SL_TF_FIN_QUEUED)
        tcp_set_state(t, SL_TCP_FIN_WAIT_1, now, out);
    return 1;
}

/* RFC 9293 3.10.7.4, fifth: the ACK field. A segment without ACK is
 * dropped; SYN-RECEIVED completes the handshake; an ACK outside
 * [SND.UNA - MAX.SND.WND, SND.NXT] draws a challenge ACK (RFC 5961 5.2);
 * then process_ack. Any segment that gets here proves the peer alive
 * (keep-alive, 3.8.4). Returns 1 to go on. */
static int step5_check_ack(struct sl_tcb *t, uint64_t now, const struct rx *r,
                           struct sl_tcp_out *out)
{
    const struct sl_tcp_seg *s = r->s;
    if (!(r->fl & SL_TCP_ACK)) {
        CTR(out, drop_tcp_no_ack);
        return 0;
    }
    if (t->state == SL_TCP_SYN_RCVD && !ack_syn_rcvd(t, now, s, out))
        return 0;
    if (sl_seq_gt(s->ack, t->snd_max)) {
        CTR(out, drop_tcp_ack_unsent);
        tcp_send_challenge_ack(t, now, out);
        return 0;
    }
    if (sl_seq_lt(s->ack, t->snd_una - t->max_snd_wnd)) {
        CTR(out, drop_tcp_old_ack);
        tcp_send_challenge_ack(t, now, out);
        return 0;
    }
    update_ts_recent(t, s, now);
    process_ack(t, now, s, out);
    if (t->state == SL_TCP_CLOSED)
        return 0;
    if (t->state == SL_TCP_TIME_WAIT && (r->fl & SL_TCP_FIN))
        t->flags |= SL_TF_ACK_NOW; /* retransmitted FIN: ACK it, restart 2MSL */
    t->ka_probes = 0;
    if (t->keepidle_s && (t->state == SL_TCP_ESTABLISHED || t->state == SL_TCP_CLOSE_WAIT))
        t->t_keep = now + (uint64_t)t->keepidle_s * 1000000u;
    return 1;
}

static int receiving_text(const struct sl_tcb *t)
{
    return t->state == SL_TCP_ESTABLISHED || t->state == SL_TCP_FIN_WAIT_1 ||
           t->state == SL_TCP_FIN_WAIT_2;
}

/* RFC 3168 6.1.3, for an acceptable segment of an ECN connection: CWR
 * ends the echo, a CE mark (re)starts it, and is ACKed at once so the
 * sender hears of the congestion within a round trip. */
static void ecn_rx(struct sl_tcb *t, const struct sl_tcp_seg *s, struct sl_tcp_out *out)
{
    if (!(t->flags & SL_TF_ECN_OK))
        return;
    if (s->flags & SL_TCP_CWR)
        t->flags &= ~(uint32_t)SL_TF_ECN_ECE;
    if (s->ecn == SL_IP_ECN_CE) {
        CTR(out, tcp_ecn_ce_rx);
        if (!(t->flags & SL_TF_ECN_ECE))
            t->flags |= SL_TF_ECN_ECE | SL_TF_ACK_NOW;
    }
}

/* RFC 9293 3.10.7.4, sixth: the URG bit (MUST-30/31, MUST-62: SEG.UP
 * points to the octet after the urgent data; RFC 6093: the data stays
 * inline). Also with a zero window (MUST-66): the text was trimmed, the
 * header not, so this reads the segment as it arrived. */
static void step6_check_urg(struct sl_tcb *t, const struct sl_tcp_seg *s, struct sl_tcp_out *out)
{
    if (!((s->flags & SL_TCP_URG) && s->urp && receiving_text(t)))
        return;
    uint32_t up = s->seq + s->urp;
    if (!(t->flags & SL_TF_RCV_URG) || sl_seq_gt(up, t->rcv_up)) {
        t->rcv_up = up;
        t->flags |= SL_TF_RCV_URG;
        if (sl_seq_gt(up, t->rcv_read))
            out->events |= SL_TEV_URGENT; /* MUST-32: tell the application */
    }
}

/* RFC 9293 3.10.7.4, seventh: the segment text. Taken in ESTABLISHED and
 * FIN-WAIT-1/2; after the peer's FIN (CLOSE-WAIT, CLOSING, LAST-ACK,
 * TIME-WAIT) it is ignored. */
static void step7_text(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                       const struct rx *r, struct sl_tcp_out *out)
{
    if (!r->len)
        return;
    if (receiving_text(t)) {
        process_data(t, b, now, r->seq, r->data, r->len, out);
    } else {
        CTR(out, drop_tcp_data_after_fin);
        t->flags |= SL_TF_ACK_NOW;
    }
}

/* RFC 9293 3.10.7.4, eighth: the FIN bit, when everything before it is in;
 * in TIME-WAIT a retransmitted FIN restarts the 2 MSL timeout. */
static void step8_check_fin(struct sl_tcb *t, uint64_t now, const struct rx *r,
                            struct sl_tcp_out *out)
{
    if (!(r->fl & SL_TCP_FIN))
        return;
    if (r->seq + r->len == t->rcv_nxt && !(t->flags & SL_TF_FIN_RCVD))
        process_fin(t, now, out);
    else if (t->state == SL_TCP_TIME_WAIT)
        t->t_keep = now + 2ull * SL_TCP_MSL_US;
}

/* RFC 9293 3.10.7: SEGMENT ARRIVES. CLOSED and LISTEN are the stack's
 * (3.10.7.1/2, sl_tcp_closed_reply and sl_tcp_listen_check); SYN-SENT has
 * its own procedure (3.10.7.3); every other state runs the eight steps of
 * 3.10.7.4 in order, each of which may end the segment's processing. */
void sl_tcp_input(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                  const struct sl_tcp_seg *s, struct sl_tcp_out *out)
{
    CTR(out, tcp_rx_segs);
    if (t->state == SL_TCP_CLOSED || t->state == SL_TCP_LISTEN) {
        CTR(out, drop_tcp_closed_conn);
        return;
    }
    if (t->state == SL_TCP_SYN_SENT) {
        input_syn_sent(t, now, s, out);
        return;
    }
    if (syn_rcvd_repeated_syn(t, now, s, out) || paws_reject(t, now, s, out))
        return;
    struct rx r = {.s = s, .fl = s->flags, .seq = s->seq, .len = s->len, .data = s->payload};
    if (!step1_check_seq(t, now, &r, out) || !step2_check_rst(t, now, &r, out) ||
        !step3_check_security() || !step4_check_syn(t, now, &r, out))
        return;
    trim_to_window(t, &r, out);
    if (!step5_check_ack(t, now, &r, out))
        return;
    ecn_rx(t, s, out);
    step6_check_urg(t, s, out);
    step7_text(t, b, now, &r, out);
    step8_check_fin(t, now, &r, out);
}
