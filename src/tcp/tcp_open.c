/* Opening, closing and the application side of a connection; LISTEN and
 * CLOSED segment handling; initial sequence numbers. */
#include <errno.h>
#include <sodium.h>

#include "tcp/tcp_int.h"

static uint8_t wscale_for(uint32_t bufsz)
{
    uint8_t s = 0;
    while (s < 14 && (bufsz >> s) > 0xffff)
        s++;
    return s;
}

static void tcb_init(struct sl_tcb *t, const struct sl_tcp_cfg *cfg, uint32_t laddr,
                     uint16_t lport, uint32_t raddr, uint16_t rport, uint32_t iss,
                     uint32_t ts_offset)
{
    /* what the stack or the application set before the open stays: the
     * keep-alive idle time, the DS byte, the source route */
    uint32_t keepidle_cfg = t->keepidle_cfg;
    uint8_t tos = t->tos, route_app = t->route_app;
    struct sl_srcroute route = t->route;
    memset(t, 0, sizeof(*t));
    t->keepidle_cfg = keepidle_cfg;
    t->tos = tos;
    t->route_app = route_app;
    t->route = route;
    t->laddr = laddr;
    t->lport = lport;
    t->raddr = raddr;
    t->rport = rport;
    t->cc = cfg->cc;
    t->snd_bufsz = cfg->sndbuf;
    t->rcv_bufsz = cfg->rcvbuf;
    t->rcv_mss = cfg->mss;
    t->snd_mss = (uint16_t)tcp_min32(536, cfg->mss);
    t->flags = SL_TF_OPENING_SYN;
    if (!cfg->no_sack)
        t->flags |= SL_TF_SACK_OK; /* offered; negotiate() keeps what both sent */
    if (!cfg->no_ts)
        t->flags |= SL_TF_TS_OK;
    if (!cfg->no_ws) {
        t->flags |= SL_TF_WS_OK;
        t->rcv_wscale = wscale_for(cfg->rcvbuf);
    }
    if (cfg->gso)
        t->flags |= SL_TF_GSO;
    if (cfg->no_tlp)
        t->flags |= SL_TF_NO_TLP;
    t->iss = t->snd_una = t->snd_nxt = t->snd_max = t->recover = t->high_rxt = iss;
    t->snd_end = iss + 1; /* data starts after the SYN */
    t->ts_offset = ts_offset;
    t->rto = SL_TCP_RTO_INIT_US; /* RFC 6298 2.1 */
    t->ecn_mark = iss;
}

/* Option negotiation on a SYN or SYN-ACK: keep only what both sides sent
 * (RFC 7323 2.2/3.2, RFC 2018 2) and derive the effective send MSS
 * (RFC 9293 3.7.1: min(SendMSS+20, MMS_S) - TCP header - IP options). */
void tcp_negotiate(struct sl_tcb *t, const struct sl_tcp_seg *s, uint64_t now,
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
    /* RFC 3168 6.1.1: an ECN-setup SYN has ECE and CWR, an ECN-setup
     * SYN-ACK ECE alone; anything else means no ECN. */
    uint8_t setup = (s->flags & SL_TCP_ACK) ? SL_TCP_ECE : SL_TCP_ECE | SL_TCP_CWR;
    if ((s->flags & (SL_TCP_ECE | SL_TCP_CWR)) != setup)
        t->flags &= ~(uint32_t)SL_TF_ECN_OK;
    else if (t->flags & SL_TF_ECN_OK)
        CTR(out, tcp_ecn_negotiated);
}

/* What a SYN or SYN-ACK tells (3.10.7.2, 3.10.7.3): the peer's ISS
 * (RCV.NXT = IRS + 1), its options and its window, which a SYN never
 * scales (RFC 7323 2.2). Data on a SYN is not taken (no TFO): the peer
 * sends it again. */
void tcp_syn_received(struct sl_tcb *t, const struct sl_tcp_seg *s, uint64_t now,
                      struct sl_tcp_out *out)
{
    t->irs = s->seq;
    t->rcv_nxt = t->rcv_read = t->rcv_adv = s->seq + 1;
    tcp_negotiate(t, s, now, out);
    if (s->len)
        CTR(out, drop_tcp_syn_data);
    t->snd_wnd = s->wnd;
    t->max_snd_wnd = t->snd_wnd;
    t->snd_wl1 = s->seq;
}

/* The first SYN or SYN-ACK: timed for the RTT (RFC 6298 3), retransmitted
 * by the timer (3.8.1). */
static void send_first_syn(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    tcp_send_syn(t, now, out);
    t->flags |= SL_TF_RTT_VALID;
    t->rtt_start_us = (uint32_t)now;
    t->rtt_seq = t->iss;
    t->t_rexmt = now + t->rto;
}

/* RFC 9293 3.10.1 OPEN, active. */
void sl_tcp_open_active(struct sl_tcb *t, const struct sl_tcp_cfg *cfg, uint64_t now,
                        uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport,
                        uint32_t iss, uint32_t ts_offset, struct sl_tcp_out *out)
{
    tcb_init(t, cfg, laddr, lport, raddr, rport, iss, ts_offset);
    t->state = SL_TCP_SYN_SENT;
    if (cfg->ecn_active && !cfg->no_ecn)
        t->flags |= SL_TF_ECN_OK; /* offered: the SYN-ACK decides */
    CTR(out, tcp_active_opens);
    send_first_syn(t, now, out);
}

/* RFC 9293 3.10.7.2: LISTEN state. */
enum sl_ctr sl_tcp_listen_check(const struct sl_tcp_seg *s, struct sl_tcp_out *out)
{
    if (s->flags & SL_TCP_RST)
        return SL_CTR_drop_tcp_listen_rst; /* first: ignore an incoming RST */
    if (s->flags & SL_TCP_ACK) {           /* second: <SEQ=SEG.ACK><CTL=RST> */
        if (out->n < SL_TCP_OUT_MAX) {
            struct sl_tcp_emit *e = &out->seg[out->n++];
            memset(e, 0, sizeof(*e));
            e->seq = s->ack;
            e->flags = SL_TCP_RST;
            CTR(out, tcp_rst_tx);
        }
        return SL_CTR_drop_tcp_listen_ack;
    }
    if (!(s->flags & SL_TCP_SYN))
        return SL_CTR_drop_tcp_listen_nosyn;
    if (s->flags & SL_TCP_FIN)
        return SL_CTR_drop_tcp_bad_flags; /* SYN+FIN: no legitimate use */
    return SL_CTR_ok;
}

/* RFC 9293 3.10.7.1: a segment for no connection gets a RST, unless it is one. */
enum sl_ctr sl_tcp_closed_reply(const struct sl_tcp_seg *s, struct sl_tcp_out *out)
{
    if (s->flags & SL_TCP_RST)
        return SL_CTR_drop_tcp_no_conn_rst;
    if (out->n >= SL_TCP_OUT_MAX)
        return SL_CTR_drop_tcp_no_conn;
    struct sl_tcp_emit *e = &out->seg[out->n++];
    memset(e, 0, sizeof(*e));
    if (s->flags & SL_TCP_ACK) {
        e->seq = s->ack;
        e->flags = SL_TCP_RST;
    } else {
        e->seq = 0;
        e->ack = s->seq + s->len + ((s->flags & SL_TCP_SYN) ? 1 : 0) +
                 ((s->flags & SL_TCP_FIN) ? 1 : 0);
        e->flags = SL_TCP_RST | SL_TCP_ACK;
    }
    CTR(out, tcp_rst_tx);
    return SL_CTR_drop_tcp_no_conn;
}

void sl_tcp_open_passive(struct sl_tcb *t, const struct sl_tcp_cfg *cfg, uint64_t now,
                         uint32_t laddr, uint32_t raddr, const struct sl_tcp_seg *syn,
                         uint32_t iss, uint32_t ts_offset, struct sl_tcp_out *out)
{
    tcb_init(t, cfg, laddr, syn->dport, raddr, syn->sport, iss, ts_offset);
    t->flags |= SL_TF_PASSIVE;
    if (!cfg->no_ecn)
        t->flags |= SL_TF_ECN_OK; /* taken if the SYN asks (RFC 3168 6.1.1) */
    t->state = SL_TCP_SYN_RCVD;
    tcp_syn_received(t, syn, now, out);
    t->last_ack_sent = t->rcv_nxt;
    t->snd_wl2 = iss;
    tcp_cc_init(t);
    CTR(out, tcp_passive_opens);
    send_first_syn(t, now, out);
}

/* RFC 9293 3.6.1 / RFC 6191: a new SYN may reuse a TIME-WAIT 4-tuple if
 * its timestamp is newer, or (without timestamps) its sequence number is
 * beyond the old connection's. */
bool sl_tcp_tw_accept_syn(const struct sl_tcb *t, const struct sl_tcp_seg *s)
{
    if (t->state != SL_TCP_TIME_WAIT || !(s->flags & SL_TCP_SYN) ||
        (s->flags & (SL_TCP_ACK | SL_TCP_RST)))
        return false;
    if ((t->flags & SL_TF_TS_OK) && s->opts.has_ts) {
        if (s->opts.tsval == t->ts_recent)
            return sl_seq_gt(s->seq, t->rcv_nxt); /* RFC 6191 4.2, 2nd rule */
        return sl_seq_gt(s->opts.tsval, t->ts_recent);
    }
    if (t->flags & SL_TF_TS_OK)
        return true; /* RFC 6191 4.2, 3rd rule: the new incarnation has no TS */
    return sl_seq_gt(s->seq, t->rcv_nxt);
}

uint32_t sl_tcp_send_space(const struct sl_tcb *t)
{
    uint32_t used = t->snd_end - t->snd_una;
    if (sl_seq_gt(t->snd_una, t->snd_end))
        return 0;
    return used >= t->snd_bufsz ? 0 : t->snd_bufsz - used;
}

uint32_t sl_tcp_write(struct sl_tcb *t, const struct sl_tcp_bufs *b, const void *data, uint32_t len)
{
    if (t->flags & SL_TF_FIN_QUEUED)
        return 0;
    uint32_t n = tcp_min32(len, sl_tcp_send_space(t));
    if (n) {
        ring_put(b->snd, t->snd_bufsz, t->snd_end, data, n);
        if (t->snd_end - t->iss - 1 > UINT32_MAX - n)
            t->snd_off_hi++; /* the 32-bit offset wraps */
        t->snd_end += n;
    }
    return n;
}

void sl_tcp_copy_out(const struct sl_tcb *t, const uint8_t *snd, uint32_t seq, uint8_t *dst,
                     uint32_t len)
{
    ring_get(snd, t->snd_bufsz, seq, dst, len);
}

uint32_t sl_tcp_readable(const struct sl_tcb *t)
{
    uint32_t n = t->rcv_nxt - t->rcv_read;
    if (t->flags & SL_TF_FIN_RCVD)
        n--;
    return n;
}

uint32_t sl_tcp_read(struct sl_tcb *t, const struct sl_tcp_bufs *b, void *data, uint32_t len)
{
    uint32_t n = tcp_min32(len, sl_tcp_readable(t));
    if (n) {
        if (data)
            ring_get(b->rcv, t->rcv_bufsz, t->rcv_read, data, n);
        t->rcv_read += n;
    }
    return n;
}

void sl_tcp_mark_urgent(struct sl_tcb *t)
{
    t->snd_up = t->snd_end; /* the octet after the urgent data (MUST-62) */
    t->flags |= SL_TF_SND_URG;
}

uint32_t sl_tcp_urgent_left(const struct sl_tcb *t, uint32_t read)
{
    if (!(t->flags & SL_TF_RCV_URG) || !sl_seq_gt(t->rcv_up, read))
        return 0;
    return t->rcv_up - read;
}

/* RFC 9293 3.10.4 CLOSE. */
void sl_tcp_close(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    switch (t->state) {
    case SL_TCP_SYN_SENT:
    case SL_TCP_LISTEN:
        tcp_set_state(t, SL_TCP_CLOSED, now, out);
        break;
    case SL_TCP_SYN_RCVD: /* FIN goes once established (3.10.4) */
        t->flags |= SL_TF_FIN_QUEUED;
        break;
    case SL_TCP_ESTABLISHED:
        t->flags |= SL_TF_FIN_QUEUED;
        tcp_set_state(t, SL_TCP_FIN_WAIT_1, now, out);
        break;
    case SL_TCP_CLOSE_WAIT:
        t->flags |= SL_TF_FIN_QUEUED;
        tcp_set_state(t, SL_TCP_LAST_ACK, now, out);
        break;
    default:
        break; /* already closing */
    }
}

void sl_tcp_shutdown_rd(struct sl_tcb *t) { t->flags |= SL_TF_RD_SHUT; }

/* RFC 9293 3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST> in synchronized states. */
void sl_tcp_abort(struct sl_tcb *t, uint64_t now, struct sl_tcp_out *out)
{
    if (t->state == SL_TCP_SYN_RCVD || (t->state >= SL_TCP_ESTABLISHED &&
                                        t->state != SL_TCP_TIME_WAIT)) {
        struct sl_tcp_emit *e = tcp_emit_new(t, now, out, t->snd_nxt, SL_TCP_RST);
        if (e)
            CTR(out, tcp_rst_tx);
    }
    tcp_set_state(t, SL_TCP_CLOSED, now, out);
}

void sl_tcp_restored(struct sl_tcb *t, const struct sl_tcp_bufs *b, uint64_t now,
                     struct sl_tcp_out *out)
{
    /* Out-of-order bytes are not stored: the peer sends them again
     * (RFC 2018 8 lets a receiver renege on SACKed data). Our own view of
     * the peer's SACKs is dropped too; its next ACK rebuilds it. */
    t->n_ooo = 0;
    t->ooo_last = 0;
    t->n_sacked = 0;
    t->dupacks = 0;
    t->flags &= ~(uint32_t)(SL_TF_IN_RECOVERY | SL_TF_RTT_VALID | SL_TF_TLP_SENT | SL_TF_PTO);
    if (t->state == SL_TCP_SYN_RCVD || t->state == SL_TCP_SYN_SENT) {
        /* the handshake segment goes again at once (3.8.1) */
        t->flags |= SL_TF_OPENING_SYN;
        t->t_rexmt = now;
        sl_tcp_timers(t, b, now, out);
        return;
    }
    if (t->state == SL_TCP_TIME_WAIT || t->state == SL_TCP_CLOSED)
        return;
    /* An asynchronous writer may have sent bytes after its last record:
     * everything queued counts as possibly sent, so ACKs for it are
     * acceptable (3.10.7.4 checks SEG.ACK against SND.MAX). */
    if (b->snd && sl_seq_gt(t->snd_end, t->snd_max))
        t->snd_max = t->snd_end;
    /* RFC 5681 4.1 restart after idle: at most the initial window, and
     * remember the old window as the slow-start threshold. */
    uint32_t old = t->cwnd;
    tcp_cc_init(t);
    t->ssthresh = tcp_max32(old, 2u * t->snd_mss);
    t->recover = t->snd_una;
    t->ecn_mark = t->snd_una;
    /* RFC 6298 5.1: the timer runs while data is outstanding; go back N
     * from SND.UNA now (the peer may be in a long RTO backoff). */
    t->backoff = 0;
    t->flags &= ~(uint32_t)SL_TF_PERSIST;
    t->snd_nxt = t->snd_una;
    t->high_rxt = t->snd_una;
    t->flags |= SL_TF_ACK_NOW;
    t->t_rexmt = 0;
    if (b->snd)
        sl_tcp_output(t, b, now, out);
    if (!t->t_rexmt && t->snd_max != t->snd_una)
        tcp_arm_rto(t, now);
}

enum sl_ctr sl_tcp_icmp_error(const struct sl_tcb *t, uint32_t seq)
{
    /* RFC 5927 4.1 */
    if (sl_seq_le(t->snd_una, seq) && sl_seq_lt(seq, t->snd_max))
        return SL_CTR_ok;
    if ((t->state == SL_TCP_SYN_SENT || t->state == SL_TCP_SYN_RCVD) && seq == t->iss)
        return SL_CTR_ok;
    return SL_CTR_drop_icmp_err_bad_seq;
}

/* RFC 5927 4.1 (a segment in flight: SND.UNA <= seq < SND.NXT) and RFC 1191
 * (never below 68 bytes of MTU; here never below a 536-byte MSS). */
enum sl_ctr sl_tcp_icmp_ptb(struct sl_tcb *t, uint32_t seq, uint16_t mtu)
{
    if (!(sl_seq_le(t->snd_una, seq) && sl_seq_lt(seq, t->snd_max)))
        return SL_CTR_drop_icmp_ptb_bad_seq;
    if (mtu < 576 || mtu >= t->rcv_mss + 40u)
        return SL_CTR_drop_icmp_ptb_mtu;
    uint16_t mss = (uint16_t)(mtu - 40);
    t->path_mss = mss;
    if (t->flags & SL_TF_TS_OK)
        mss -= 12;
    if (mss < t->snd_mss)
        t->snd_mss = mss;
    return SL_CTR_icmp_frag_needed;
}

/* RFC 6528 3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
 * M a 4-microsecond timer, F SipHash-2-4 keyed with a secret. */
uint32_t sl_tcp_isn(const uint8_t key[16], uint32_t laddr, uint16_t lport, uint32_t raddr,
                    uint16_t rport, uint64_t now_us)
{
    uint8_t in[12], h[crypto_shorthash_BYTES];
    memcpy(in, &laddr, 4);
    memcpy(in + 4, &raddr, 4);
    memcpy(in + 8, &lport, 2);
    memcpy(in + 10, &rport, 2);
    crypto_shorthash(h, in, sizeof(in), key);
    uint32_t f;
    memcpy(&f, h, 4);
    return (uint32_t)(now_us / 4) + f;
}

const char *sl_tcp_state_name(uint8_t st)
{
    static const char *const n[SL_TCP__NSTATES] = {
        "CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
        "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"};
    return st < SL_TCP__NSTATES ? n[st] : "?";
}
