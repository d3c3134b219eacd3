/* Segment arrival, RFC 9293 3.10.7, one function per step of the RFC's
 * procedure. Every way out either continues or ends in a named counter. */
#include "sltcp/sltcp.h"
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

/* Option negotiation on a SYN or SYN-ACK: keep only what both sides sent
 * (RFC 7323 2.2/3.2, RFC 2018 2) and derive the effective send MSS
 * (RFC 9293 3.7.1: min(SendMSS+20, MMS_S) - TCP header - IP options). */
static void negotiate(struct sl_tcb *t, const struct sl_tcp_seg *s, uint64_t now,
                      struct sl_tcp_out *out)
{
    const struct sl_tcp_opts *o = &s->opts;
    t->peer_mss = o->has_mss ? o->mss : 536; /* RFC 9293 3.7.1 MUST-15 */
    if (t->peer_mss < 64) { /* a tiny MSS only multiplies our work (CVE-2019-11479) */
        t->peer_mss = 64;
        CTR(out, tcp_mss_clamped);
    }
    if (o->has_wscale && (t->flags & SL_TF_WS_OK)) {
        t->snd_wscale = o->wscale > 14 ? 14 : o->wscale; /* RFC 7323 2.3 */
    } else {
        t->flags &= ~(uint32_t)SL_TF_WS_OK;
        t->snd_wscale = 0;
        t->rcv_wscale = 0;
    }
    if (!o->sack_perm)
        t->flags &= ~(uint32_t)SL_TF_SACK_OK;
    if (o->has_ts && (t->flags & SL_TF_TS_OK)) {
        t->ts_recent = o->tsval;
        t->ts_recent_ms = (uint32_t)(now / 1000);
    } else {
        t->flags &= ~(uint32_t)SL_TF_TS_OK; /* RFC 7323 3.2: no TS unless both sent it */
    }
    uint32_t mss = tcp_min32(t->peer_mss, t->rcv_mss);
    if (t->path_mss)
        mss = tcp_min32(mss, t->path_mss);
    if (t->flags & SL_TF_TS_OK)
        mss -= 12; /* TCP header options on every segment */
    t->snd_mss = (uint16_t)mss;
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

/* RFC 9293 3.10.7.4, fifth: the ACK field, for synchronized states. */
static void process_ack(struct sl_tcb *t, uint64_t now, const struct sl_tcp_seg *s,
                        struct sl_tcp_out *out)
{
    uint32_t ack = s->ack;
    uint32_t wnd = (uint32_t)s->wnd << t->snd_wscale;
    int wnd_changed = 0;
    uint32_t sacked_before = tcp_sacked_bytes(t);

    if (t->flags & SL_TF_SACK_OK) {
        sack_update(t, s);
        /* Lost retransmission: data sent after our latest hole
         * retransmission is SACKed while a hole below HighRxt remains, so
         * that retransmission was lost too; NextSeg starts over (the
         * rule RACK generalises, RFC 8985 6.2 step 2). */
        if ((t->flags & SL_TF_IN_RECOVERY) && t->n_sacked &&
            sl_seq_gt(t->sacked[t->n_sacked - 1].right, t->rxt_mark) &&
            sl_seq_gt(t->high_rxt, t->snd_una) && sl_seq_gt(t->sacked[0].left, t->snd_una) &&
            sl_seq_gt(t->sacked[t->n_sacked - 1].right, t->high_rxt)) {
            CTR(out, tcp_lost_rexmit);
            t->high_rxt = t->snd_una;
            t->rxt_mark = t->snd_max;
        }
    }

    /* Urgent data acknowledged: leave urgent mode (3.8.5). */
    if ((t->flags & SL_TF_SND_URG) && sl_seq_ge(ack, t->snd_up))
        t->flags &= ~(uint32_t)SL_TF_SND_URG;

    /* Send window update (3.10.7.4 fifth, ESTABLISHED). */
    if (sl_seq_lt(t->snd_wl1, s->seq) ||
        (t->snd_wl1 == s->seq && sl_seq_le(t->snd_wl2, ack))) {
        wnd_changed = wnd != t->snd_wnd;
        t->snd_wnd = wnd;
        t->snd_wl1 = s->seq;
        t->snd_wl2 = ack;
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
    }

    if (sl_seq_gt(ack, t->snd_una)) {
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

        if (t->flags & SL_TF_IN_RECOVERY) {
            if (sl_seq_ge(ack, t->recover)) {
                /* RFC 6582 3.2 step 3, full ACK: cwnd = min(ssthresh, flight + SMSS). */
                t->cwnd = tcp_min32(t->ssthresh, tcp_max32(tcp_flight(t), t->snd_mss) + t->snd_mss);
                t->flags &= ~(uint32_t)SL_TF_IN_RECOVERY;
            } else if (!(t->flags & SL_TF_SACK_OK)) {
                /* RFC 6582 3.2 step 3, partial ACK: retransmit the first
                 * unacknowledged segment, deflate by the amount acked. */
                tcp_fast_retransmit(t, now, out);
                t->cwnd = tcp_max32(t->cwnd > acked ? t->cwnd - acked : 0, t->snd_mss);
                if (acked >= t->snd_mss)
                    t->cwnd += t->snd_mss;
            }
        } else {
            tcp_cc_on_ack(t, acked, now);
        }
        t->dupacks = 0;
        /* RFC 6675 5 with stretch/coalesced ACKs: a cumulative ACK that also
         * SACKs more than DupThresh-1 segments above SND.UNA means the
         * first unacknowledged segment is lost (IsLost(SND.UNA)). */
        if (!(t->flags & SL_TF_IN_RECOVERY) && (t->flags & SL_TF_SACK_OK) && t->n_sacked &&
            tcp_sacked_bytes(t) > 2u * t->snd_mss && sl_seq_ge(ack, t->recover)) {
            tcp_cc_enter_recovery(t, now);
            t->high_rxt = t->snd_una;
            tcp_fast_retransmit(t, now, out);
        }
        /* RFC 6298 5.2 / 5.3 */
        if (t->snd_una == t->snd_max)
            t->t_rexmt = (t->flags & SL_TF_PERSIST) ? t->t_rexmt : 0;
        else
            tcp_arm_rto(t, now);
        if (t->state == SL_TCP_ESTABLISHED || t->state == SL_TCP_CLOSE_WAIT)
            out->events |= SL_TEV_WRITABLE;

        if (fin_sent_and_acked(t)) {
            switch (t->state) {
            case SL_TCP_FIN_WAIT_1: tcp_set_state(t, SL_TCP_FIN_WAIT_2, now, out); break;
            case SL_TCP_CLOSING: tcp_set_state(t, SL_TCP_TIME_WAIT, now, out); break;
            case SL_TCP_LAST_ACK: tcp_set_state(t, SL_TCP_CLOSED, now, out); break;
            default: break;
            }
        }
        return;
    }

    /* A duplicate ACK. RFC 5681 2: it acknowledges nothing new, carries no
     * data, no SYN/FIN, does not move the window, while data is
     * outstanding. With SACK, RFC 6675 2: an ACK at SND.UNA that SACKs
     * octets not SACKed before, whatever its window (receivers move the
     * window as their application reads). */
    int new_sack = (t->flags & SL_TF_SACK_OK) && tcp_sacked_bytes(t) > sacked_before;
    /* RFC 8985 7.4: after a tail loss probe, an ACK that leaves SACKed data
     * above a hole at SND.UNA means the hole is lost, even when the probe
     * itself only repeated data the peer already had (no new SACK). */
    if (ack == t->snd_una && (t->flags & SL_TF_TLP_SENT) && (t->flags & SL_TF_SACK_OK) &&
        t->n_sacked && !(t->flags & SL_TF_IN_RECOVERY) && sl_seq_ge(ack, t->recover) &&
        t->snd_max != t->snd_una) {
        tcp_cc_enter_recovery(t, now);
        t->high_rxt = t->snd_una;
        tcp_fast_retransmit(t, now, out);
        return;
    }
    if (ack == t->snd_una && !(s->flags & (SL_TCP_SYN | SL_TCP_FIN)) &&
        t->snd_max != t->snd_una && wnd != 0 && !(t->flags & SL_TF_PERSIST) &&
        (new_sack || (s->len == 0 && !wnd_changed))) {
        CTR(out, tcp_dupacks_rx);
        if (t->dupacks < 255)
            t->dupacks++;
        if (!(t->flags & SL_TF_IN_RECOVERY)) {
            /* RFC 5681 3.2 (3 dupacks) / RFC 6675 5 (IsLost: > 2 SMSS SACKed
             * above snd_una); RFC 6582 3.2 step 1: only if the ACK covers
             * more than "recover". */
            int lost = t->dupacks >= 3 ||
                       ((t->flags & SL_TF_SACK_OK) && tcp_sacked_bytes(t) > 2u * t->snd_mss) ||
                       /* RFC 8985 7.4: the tail loss probe drew a SACK but no
                        * cumulative ACK: what lies below it is lost */
                       ((t->flags & (SL_TF_TLP_SENT | SL_TF_SACK_OK)) ==
                            (SL_TF_TLP_SENT | SL_TF_SACK_OK) && t->n_sacked);
            /* recover holds SND.MAX (one past the highest sequence sent), so
             * RFC 6582's "covers more than recover" is ack >= recover. */
            if (lost && sl_seq_ge(ack, t->recover)) {
                tcp_cc_enter_recovery(t, now);
                t->high_rxt = t->snd_una;
                tcp_fast_retransmit(t, now, out);
            }
        } else if (!(t->flags & SL_TF_SACK_OK)) {
            t->cwnd += t->snd_mss; /* RFC 5681 3.2 step 4: inflate */
        }
    }
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

/* RFC 9293 3.10.7.3: SYN-SENT. */
static void input_syn_sent(struct sl_tcb *t, uint64_t now, const struct sl_tcp_seg *s,
                           struct sl_tcp_out *out)
{
    if (s->flags & SL_TCP_ACK) {
        if (sl_seq_le(s->ack, t->iss) || sl_seq_gt(s->ack, t->snd_max)) {
            CTR(out, drop_tcp_synsent_bad_ack);
            if (!(s->flags & SL_TCP_RST)) {
                struct sl_tcp_emit *e = tcp_emit_new(t, now, out, s->ack, SL_TCP_RST);
                if (e) {
                    e->opts.has_ts = 0;
                    CTR(out, tcp_rst_tx);
                }
            }
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
    t->irs = s->seq;
    t->rcv_nxt = t->rcv_read = t->rcv_adv = s->seq + 1;
    negotiate(t, s, now, out);
    if (s->len)
        CTR(out, drop_tcp_syn_data);
    t->snd_wnd = s->wnd; /* RFC 7323 2.2: the SYN's window is not scaled */
    t->max_snd_wnd = t->snd_wnd;
    t->snd_wl1 = s->seq;
    t->snd_wl2 = s->ack;
    if (s->flags & SL_TCP_ACK) {
        if (t->backoff == 0)
            tcp_rtt_sample(t, (uint32_t)now - t->rtt_start_us);
        else if (!(t->flags & SL_TF_HAVE_RTT))
            t->rto = 3000000; /* RFC 6298 5.7 */
        t->flags &= ~(uint32_t)SL_TF_RTT_VALID; /* the SYN's timing is done */
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
    uint8_t fl = s->flags;
    uint32_t seq = s->seq, len = s->len;
    const uint8_t *data = s->payload;

    /* A retransmitted SYN while in SYN-RECEIVED: answer with the SYN-ACK
     * again (not a RST; picoTCP got this wrong). */
    if (t->state == SL_TCP_SYN_RCVD && (fl & SL_TCP_SYN) && !(fl & (SL_TCP_ACK | SL_TCP_RST)) &&
        seq == t->irs) {
        if ((t->flags & SL_TF_TS_OK) && s->opts.has_ts &&
            sl_seq_ge(s->opts.tsval, t->ts_recent)) { /* RFC 7323 4.3 */
            t->ts_recent = s->opts.tsval;
            t->ts_recent_ms = (uint32_t)(now / 1000);
        }
        tcp_send_syn(t, now, out);
        return;
    }

    /* RFC 7323 5.3 PAWS (R1-R3), before the sequence check. */
    if ((t->flags & SL_TF_TS_OK) && s->opts.has_ts && !(fl & SL_TCP_RST) &&
        sl_seq_lt(s->opts.tsval, t->ts_recent) &&
        (uint32_t)(now / 1000) - t->ts_recent_ms < TS_24_DAYS_MS) {
        CTR(out, drop_tcp_paws);
        tcp_send_ack(t, now, out);
        return;
    }

    /* First: sequence number acceptability (RFC 9293 3.10.7.4, table 6). */
    uint32_t wnd = sl_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    uint32_t seglen = len + ((fl & SL_TCP_SYN) ? 1 : 0) + ((fl & SL_TCP_FIN) ? 1 : 0);
    int ok;
    if (seglen == 0)
        ok = wnd == 0 ? seq == t->rcv_nxt
                      : sl_seq_le(t->rcv_nxt, seq) && sl_seq_lt(seq, t->rcv_nxt + wnd);
    else if (wnd == 0)
        ok = 0;
    else
        ok = (sl_seq_le(t->rcv_nxt, seq) && sl_seq_lt(seq, t->rcv_nxt + wnd)) ||
             (sl_seq_le(t->rcv_nxt, seq + seglen - 1) &&
              sl_seq_lt(seq + seglen - 1, t->rcv_nxt + wnd));
    if (!ok && wnd == 0 && seq == t->rcv_nxt && !(fl & SL_TCP_SYN)) {
        /* Zero window: still take the ACK and RST (3.10.7.4), drop the text. */
        if (len || (fl & SL_TCP_FIN))
            CTR(out, drop_tcp_rcv_overflow);
        len = 0;
        fl &= (uint8_t)~SL_TCP_FIN;
        t->flags |= SL_TF_ACK_NOW;
        ok = 1;
    }
    if (!ok) {
        if (fl & SL_TCP_RST) {
            CTR(out, drop_tcp_rst_bad_seq);
        } else {
            CTR(out, drop_tcp_out_of_window);
            if (t->state == SL_TCP_TIME_WAIT && (fl & SL_TCP_FIN))
                t->t_keep = now + 2ull * SL_TCP_MSL_US; /* 3.10.7.4 eighth */
            /* <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>: at once for a duplicate
             * (the peer's retransmission needs it), rate limited like a
             * challenge ACK for anything beyond the window, so forged
             * segments cannot make us an ACK reflector. */
            if (sl_seq_le(seq + seglen, t->rcv_nxt))
                tcp_send_ack(t, now, out);
            else
                tcp_send_oow_ack(t, now, out);
        }
        return;
    }

    /* Second: RST (RFC 5961 3.2): only an exact match resets; any other
     * in-window RST gets a challenge ACK. */
    if (fl & SL_TCP_RST) {
        if (seq != t->rcv_nxt) {
            tcp_send_challenge_ack(t, now, out);
            return;
        }
        CTR(out, tcp_rst_rx);
        if (t->state == SL_TCP_SYN_RCVD && (t->flags & SL_TF_PASSIVE))
            tcp_set_state(t, SL_TCP_CLOSED, now, out); /* back to LISTEN: drop the TCB */
        else if (t->state >= SL_TCP_CLOSING && t->state != SL_TCP_CLOSE_WAIT)
            tcp_set_state(t, SL_TCP_CLOSED, now, out);
        else
            tcp_set_error(t, t->state == SL_TCP_SYN_RCVD ? -ECONNREFUSED : -ECONNRESET, now, out);
        return;
    }

    /* Fourth: SYN in a synchronized state (RFC 5961 4.2): "irrespective of
     * the sequence number", a challenge ACK and nothing else, checked before
     * trimming so that an old SYN can never smuggle its data in. */
    if (fl & SL_TCP_SYN) {
        CTR(out, drop_tcp_syn_in_window);
        tcp_send_challenge_ack(t, now, out);
        return;
    }

    /* Trim to the window: drop what we already have and what does not fit. */
    if (sl_seq_lt(seq, t->rcv_nxt)) {
        uint32_t d = t->rcv_nxt - seq;
        if (d > len)
            d = len;
        data += d;
        len -= d;
        seq += d;
        if (len == 0 && !(fl & SL_TCP_FIN))
            t->flags |= SL_TF_ACK_NOW; /* a pure retransmission: re-ACK */
    }
    if (sl_seq_gt(seq + len, t->rcv_nxt + wnd)) {
        len = sl_seq_gt(t->rcv_nxt + wnd, seq) ? t->rcv_nxt + wnd - seq : 0;
        fl &= (uint8_t)~SL_TCP_FIN;
        CTR(out, drop_tcp_rcv_overflow);
    }

    /* Fifth: the ACK field. */
    if (!(fl & SL_TCP_ACK)) {
        CTR(out, drop_tcp_no_ack);
        return;
    }
    if (t->state == SL_TCP_SYN_RCVD) {
        if (sl_seq_lt(t->snd_una, s->ack) && sl_seq_le(s->ack, t->snd_max)) {
            t->snd_wnd = (uint32_t)s->wnd << t->snd_wscale;
            t->max_snd_wnd = t->snd_wnd;
            t->snd_wl1 = s->seq;
            t->snd_wl2 = s->ack;
            t->t_rexmt = 0;
            if (t->backoff == 0 && (t->flags & SL_TF_RTT_VALID))
                tcp_rtt_sample(t, (uint32_t)now - t->rtt_start_us);
            else if (!(t->flags & SL_TF_HAVE_RTT))
                t->rto = 3000000; /* RFC 6298 5.7 */
            t->flags &= ~(uint32_t)SL_TF_RTT_VALID;
            t->snd_una = s->ack; /* the SYN is acked: no data, no cwnd growth */
            t->backoff = 0;
            tcp_set_state(t, SL_TCP_ESTABLISHED, now, out);
            if (t->flags & SL_TF_FIN_QUEUED)
                tcp_set_state(t, SL_TCP_FIN_WAIT_1, now, out);
        } else {
            CTR(out, drop_tcp_ack_unsent);
            struct sl_tcp_emit *e = tcp_emit_new(t, now, out, s->ack, SL_TCP_RST);
            if (e) {
                e->opts.has_ts = 0;
                CTR(out, tcp_rst_tx);
            }
            return;
        }
    }
    /* RFC 5961 5.2: ACK outside [SND.UNA - MAX.SND.WND, SND.NXT]: challenge ACK. */
    if (sl_seq_gt(s->ack, t->snd_max)) {
        CTR(out, drop_tcp_ack_unsent);
        tcp_send_challenge_ack(t, now, out);
        return;
    }
    if (sl_seq_lt(s->ack, t->snd_una - t->max_snd_wnd)) {
        CTR(out, drop_tcp_old_ack);
        tcp_send_challenge_ack(t, now, out);
        return;
    }
    update_ts_recent(t, s, now);
    process_ack(t, now, s, out);
    if (t->state == SL_TCP_CLOSED)
        return;
    if (t->state == SL_TCP_TIME_WAIT && (fl & SL_TCP_FIN))
        t->flags |= SL_TF_ACK_NOW; /* retransmitted FIN: ACK it, restart 2MSL */

    /* Keepalive: any segment proves the peer alive (RFC 9293 3.8.4). */
    t->ka_probes = 0;
    if (t->keepidle_s && (t->state == SL_TCP_ESTABLISHED || t->state == SL_TCP_CLOSE_WAIT))
        t->t_keep = now + (uint64_t)t->keepidle_s * 1000000u;

    /* Sixth: the URG bit (3.10.7.4; MUST-30/31, MUST-62: SEG.UP points to
     * the octet after the urgent data; RFC 6093: the data stays inline).
     * Also with a zero window (MUST-66): len was trimmed, the header not. */
    if ((s->flags & SL_TCP_URG) && s->urp &&
        (t->state == SL_TCP_ESTABLISHED || t->state == SL_TCP_FIN_WAIT_1 ||
         t->state == SL_TCP_FIN_WAIT_2)) {
        uint32_t up = s->seq + s->urp;
        if (!(t->flags & SL_TF_RCV_URG) || sl_seq_gt(up, t->rcv_up)) {
            t->rcv_up = up;
            t->flags |= SL_TF_RCV_URG;
            if (sl_seq_gt(up, t->rcv_read))
                out->events |= SL_TEV_URGENT; /* MUST-32: tell the application */
        }
    }

    /* Seventh: text. */
    if (len) {
        if (t->state == SL_TCP_ESTABLISHED || t->state == SL_TCP_FIN_WAIT_1 ||
            t->state == SL_TCP_FIN_WAIT_2) {
            process_data(t, b, now, seq, data, len, out);
        } else {
            CTR(out, drop_tcp_data_after_fin); /* 3.10.7.4: ignore the text */
            t->flags |= SL_TF_ACK_NOW;
        }
    }

    /* Eighth: FIN, when everything before it is in. */
    if ((fl & SL_TCP_FIN) && seq + len == t->rcv_nxt && !(t->flags & SL_TF_FIN_RCVD))
        process_fin(t, now, out);
    else if ((fl & SL_TCP_FIN) && t->state == SL_TCP_TIME_WAIT)
        t->t_keep = now + 2ull * SL_TCP_MSL_US;
}
