/* TCP engine, segment level: opening a connection (RFC 9293 3.5, 3.10.7.1-3,
 * RFC 7323, RFC 2018, RFC 5961). */
#include <errno.h>
#include <string.h>

#include "tcp_harness.h"

/* RFC 9293 3.10.7.2 (LISTEN, SYN), 3.7.1 (MSS), RFC 7323 2.2/3.2 (WS and TS
 * only when the SYN carried them; TSecr echoes the SYN's TSval), RFC 2018 2
 * (SACK-permitted). A SYN with every option: the SYN-ACK mirrors all of it. */
static void test_passive_full_options(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_accept(h, &syn);
    if (!EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, TH_ISS, TH_IRS + 1, 0))
        return;
    const struct sl_tcp_emit *e = &SEG(h, 0);
    CHECK_EQ(e->wnd, 65534); /* unscaled, rounded to our scale (1) */ /* RFC 7323 2.2: a SYN's window is never scaled */
    CHECK_EQ(e->opts.has_mss, 1);
    CHECK_EQ(e->opts.mss, 1460);
    CHECK_EQ(e->opts.has_wscale, 1);
    CHECK_EQ(e->opts.wscale, 1); /* 64 KiB ring: shift 1 */
    CHECK_EQ(e->opts.sack_perm, 1);
    CHECK_EQ(e->opts.has_ts, 1);
    CHECK_EQ(e->opts.tsval, th_tsval(h));
    CHECK_EQ(e->opts.tsecr, syn.opts.tsval);
    CHECK_EQ(e->opts.nsack, 0);
    CHECK_EQ(h->t.state, SL_TCP_SYN_RCVD);
    CHECK_EQ(h->t.peer_mss, 1460);
    CHECK_EQ(h->t.snd_mss, 1448); /* 1460 - 12 bytes of TS option */
    CHECK_EQ(h->t.snd_wscale, 7);
    CHECK_EQ(h->t.rcv_wscale, 1);
    CHECK_EQ(h->t.flags & (SL_TF_SACK_OK | SL_TF_TS_OK | SL_TF_WS_OK),
             SL_TF_SACK_OK | SL_TF_TS_OK | SL_TF_WS_OK);
    CHECK_EQ(h->t.snd_wnd, 65535);
    CHECK_EQ(h->t.rcv_nxt, TH_IRS + 1);
    CHECK_EQ(h->t.t_rexmt, h->now + SL_TCP_RTO_INIT_US);
    EXPECT_CTR(h, tcp_passive_opens, 1);

    /* The third segment of the handshake: ESTABLISHED, window now scaled. */
    th_advance(h, 5 * TH_MS);
    struct sl_tcp_seg ack = th_ack(h, TH_ISS + 1);
    th_input(h, &ack);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(h->out.events & (SL_TEV_CONNECTED | SL_TEV_WRITABLE),
             SL_TEV_CONNECTED | SL_TEV_WRITABLE);
    CHECK_EQ(h->t.snd_wnd, 1024u << 7);
    CHECK_EQ(h->t.snd_una, TH_ISS + 1);
    CHECK_EQ(h->t.srtt, 5000); /* RFC 6298 2.2: first sample */
    CHECK_EQ(h->t.t_rexmt, 0);
    EXPECT_CTR(h, tcp_established, 1);

    /* Later segments carry TS; our window field is scaled by 1. */
    th_write(h, 100);
    th_output(h);
    if (EXPECT_ONE(h, TH_F_ACK | TH_F_PSH, TH_SND(0), TH_IRS + 1, 100)) {
        CHECK_EQ(SEG(h, 0).opts.has_ts, 1);
        CHECK_EQ(SEG(h, 0).opts.tsecr, ack.opts.tsval);
        CHECK_EQ(SEG(h, 0).wnd, 65534 >> 1);
        CHECK_EQ(SEG(h, 0).opts.has_mss, 0);
        CHECK_EQ(SEG(h, 0).opts.has_wscale, 0);
    }
}

/* RFC 9293 3.7.1 (MUST-15: no MSS option means 536), RFC 7323 2.2 ("a TCP
 * MUST NOT send a WS option in a SYN-ACK unless it received one") and 3.2
 * (no TS unless the SYN had it), RFC 2018 2. A SYN with no options at all. */
static void test_passive_bare_syn(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.rcvbuf = 16384;
    struct th *h = th_new(&cfg);
    h->peer = th_peer_bare();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    CHECK_EQ(syn.opts.has_mss | syn.opts.has_ts | syn.opts.has_wscale | syn.opts.sack_perm, 0);
    th_accept(h, &syn);
    if (!EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, TH_ISS, TH_IRS + 1, 0))
        return;
    const struct sl_tcp_emit *e = &SEG(h, 0);
    CHECK_EQ(e->wnd, 16384);
    CHECK_EQ(e->opts.has_mss, 1); /* we always announce ours */
    CHECK_EQ(e->opts.mss, 1460);
    CHECK_EQ(e->opts.has_wscale, 0);
    CHECK_EQ(e->opts.sack_perm, 0);
    CHECK_EQ(e->opts.has_ts, 0);
    CHECK_EQ(h->t.peer_mss, 536);
    CHECK_EQ(h->t.snd_mss, 536);
    CHECK_EQ(h->t.rcv_wscale, 0);
    CHECK_EQ(h->t.snd_wscale, 0);
    CHECK_EQ(h->t.flags & (SL_TF_SACK_OK | SL_TF_TS_OK | SL_TF_WS_OK), 0);

    struct sl_tcp_seg ack = th_ack(h, TH_ISS + 1);
    CHECK_EQ(ack.opts.has_ts, 0);
    th_input(h, &ack);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(h->t.snd_wnd, 65535); /* unscaled */

    /* Data in: the delayed ACK has no TS and an unscaled window. */
    struct sl_tcp_seg d = th_data(h, 0, 100);
    th_input(h, &d);
    EXPECT_NONE(h);
    th_fire(h);
    if (EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(100), 0)) {
        CHECK_EQ(SEG(h, 0).opts.has_ts, 0);
        CHECK_EQ(SEG(h, 0).wnd, 16384 - 100);
    }

    /* Data out: segments of at most 536 bytes, no TS. */
    th_write(h, 2000);
    th_output(h);
    if (EXPECT_NSEG(h, 3)) { /* the 392-byte tail waits for Nagle */
        for (unsigned i = 0; i < 3; i++) {
            EXPECT_SEG(h, i, TH_F_ACK, TH_SND(536 * i), TH_RCV(100), 536);
            CHECK_EQ(SEG(h, i).opts.has_ts, 0);
            CHECK_EQ(SEG(h, i).wnd, 16384 - 100);
        }
    }
}

/* RFC 7323 2.2/3.2 and RFC 2018 2: each option is negotiated on its own. */
static void test_passive_partial_options(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    h->peer.ws = false;
    h->peer.sack = false;
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_accept(h, &syn);
    if (EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, TH_ISS, TH_IRS + 1, 0)) {
        CHECK_EQ(SEG(h, 0).opts.has_ts, 1);
        CHECK_EQ(SEG(h, 0).opts.has_wscale, 0);
        CHECK_EQ(SEG(h, 0).opts.sack_perm, 0);
    }
    CHECK_EQ(h->t.rcv_wscale, 0);
    CHECK_EQ(h->t.snd_mss, 1448);

    struct th *h2 = th_new(&cfg);
    h2->peer = th_peer_full();
    h2->peer.ts = false;
    h2->peer.mss = 1200;
    syn = th_syn(h2, 0, TH_IRS, 0);
    th_accept(h2, &syn);
    if (EXPECT_ONE(h2, TH_F_SYN | TH_F_ACK, TH_ISS, TH_IRS + 1, 0)) {
        CHECK_EQ(SEG(h2, 0).opts.has_ts, 0);
        CHECK_EQ(SEG(h2, 0).opts.has_wscale, 1);
        CHECK_EQ(SEG(h2, 0).opts.sack_perm, 1);
        CHECK_EQ(SEG(h2, 0).opts.mss, 1460); /* ours, not an echo of theirs */
    }
    CHECK_EQ(h2->t.snd_mss, 1200);
}

/* RFC 9293 3.10.1 (OPEN) and 3.10.7.3 (SYN-SENT, SYN-ACK acceptable):
 * the SYN carries all our options with TSecr 0 (RFC 7323 3.2), the SYN-ACK
 * gives ESTABLISHED and an ACK <SEQ=SND.NXT><ACK=RCV.NXT>. */
static void test_active_open(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    th_connect(h);
    if (!EXPECT_ONE(h, TH_F_SYN, TH_ISS, 0, 0))
        return;
    const struct sl_tcp_emit *e = &SEG(h, 0);
    CHECK_EQ(e->wnd, 65534); /* unscaled, rounded to our scale (1) */
    CHECK_EQ(e->opts.has_mss, 1);
    CHECK_EQ(e->opts.mss, 1460);
    CHECK_EQ(e->opts.has_wscale, 1);
    CHECK_EQ(e->opts.wscale, 1);
    CHECK_EQ(e->opts.sack_perm, 1);
    CHECK_EQ(e->opts.has_ts, 1);
    CHECK_EQ(e->opts.tsval, th_tsval(h));
    CHECK_EQ(e->opts.tsecr, 0);
    CHECK_EQ(h->t.state, SL_TCP_SYN_SENT);
    CHECK_EQ(h->t.snd_nxt, TH_ISS + 1);
    CHECK_EQ(h->t.t_rexmt, h->now + SL_TCP_RTO_INIT_US);
    EXPECT_CTR(h, tcp_active_opens, 1);

    th_advance(h, 10 * TH_MS);
    struct sl_tcp_seg sa = th_syn(h, TH_F_ACK, TH_IRS, TH_ISS + 1);
    th_input(h, &sa);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK(h->out.events & SL_TEV_CONNECTED);
    if (EXPECT_ONE(h, TH_F_ACK, TH_ISS + 1, TH_IRS + 1, 0)) {
        CHECK_EQ(SEG(h, 0).opts.has_ts, 1);
        CHECK_EQ(SEG(h, 0).opts.tsval, th_tsval(h));
        CHECK_EQ(SEG(h, 0).opts.tsecr, sa.opts.tsval);
        CHECK_EQ(SEG(h, 0).wnd, 65536 >> 1);
        CHECK_EQ(SEG(h, 0).opts.has_mss | SEG(h, 0).opts.has_wscale | SEG(h, 0).opts.sack_perm, 0);
    }
    CHECK_EQ(h->t.snd_una, TH_ISS + 1);
    CHECK_EQ(h->t.snd_wnd, 65535); /* the SYN-ACK's window is not scaled */
    CHECK_EQ(h->t.snd_wscale, 7);
    CHECK_EQ(h->t.snd_mss, 1448);
    CHECK_EQ(h->t.srtt, 10000); /* RFC 6298 2.2 */
    CHECK_EQ(h->t.rttvar, 5000);
    CHECK_EQ(h->t.rto, SL_TCP_RTO_MIN_US);
    CHECK_EQ(h->t.t_rexmt, 0);
    CHECK_EQ(h->t.cwnd, 10 * 1448); /* RFC 6928: min(10*MSS, max(2*MSS, 14600)) */
    EXPECT_CTR(h, tcp_established, 1);
}

/* RFC 7323 2.2: "If a Window Scale option was sent on a SYN but not
 * received in the SYN-ACK, both shifts are 0"; our window field is then
 * capped at 65535 even with a 256 KiB ring. RFC 7323 3.2 (no TS). */
static void test_active_open_peer_without_options(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.rcvbuf = 262144;
    struct th *h = th_new(&cfg);
    th_connect(h);
    if (EXPECT_ONE(h, TH_F_SYN, TH_ISS, 0, 0)) {
        CHECK_EQ(SEG(h, 0).opts.wscale, 3);
        CHECK_EQ(SEG(h, 0).wnd, 65528); /* rounded to the scale we offer */
    }
    h->peer = th_peer_bare();
    struct sl_tcp_seg sa = th_syn(h, TH_F_ACK, TH_IRS, TH_ISS + 1);
    th_input(h, &sa);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    if (EXPECT_ONE(h, TH_F_ACK, TH_ISS + 1, TH_IRS + 1, 0)) {
        CHECK_EQ(SEG(h, 0).opts.has_ts, 0);
        CHECK_EQ(SEG(h, 0).wnd, 65535);
    }
    CHECK_EQ(h->t.rcv_wscale, 0);
    CHECK_EQ(h->t.snd_wscale, 0);
    CHECK_EQ(h->t.snd_mss, 536);
    CHECK_EQ(h->t.flags & (SL_TF_SACK_OK | SL_TF_TS_OK | SL_TF_WS_OK), 0);
}

/* RFC 9293 3.10.7.3, first: in SYN-SENT, SEG.ACK =< ISS or SEG.ACK >
 * SND.NXT: send <SEQ=SEG.ACK><CTL=RST> (unless the segment is a RST). */
static void test_synsent_bad_ack(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    th_connect(h);
    h->peer = th_peer_full();
    static const uint32_t bad[] = {TH_ISS + 5, TH_ISS, TH_ISS - 1000};
    for (unsigned i = 0; i < 3; i++) {
        struct sl_tcp_seg sa = th_syn(h, TH_F_ACK, TH_IRS, bad[i]);
        th_input(h, &sa);
        if (EXPECT_ONE(h, TH_F_RST, bad[i], 0, 0))
            CHECK_EQ(SEG(h, 0).opts.has_ts, 0);
        EXPECT_CTR(h, drop_tcp_synsent_bad_ack, 1);
        EXPECT_CTR(h, tcp_rst_tx, 1);
        CHECK_EQ(h->t.state, SL_TCP_SYN_SENT);
    }
    /* A plain ACK (no SYN) with a bad ack number: the same RST. */
    struct sl_tcp_seg a = th_seg(h, TH_F_ACK, TH_IRS, TH_ISS + 77, 0);
    th_input(h, &a);
    EXPECT_ONE(h, TH_F_RST, TH_ISS + 77, 0, 0);
    /* A RST with a bad ACK: dropped, never answered. */
    struct sl_tcp_seg r = th_seg(h, TH_F_RST | TH_F_ACK, 0, TH_ISS + 5, 0);
    th_input(h, &r);
    EXPECT_NONE(h);
    EXPECT_CTR(h, drop_tcp_synsent_bad_ack, 1);
    CHECK_EQ(h->t.state, SL_TCP_SYN_SENT);
    /* An acceptable ACK without SYN or RST: dropped (3.10.7.3 fifth). */
    struct sl_tcp_seg p = th_seg(h, TH_F_ACK, TH_IRS, TH_ISS + 1, 0);
    th_input(h, &p);
    EXPECT_NONE(h);
    EXPECT_CTR(h, drop_tcp_synsent_noflags, 1);
    CHECK_EQ(h->t.state, SL_TCP_SYN_SENT);
}

/* RFC 9293 3.10.7.3, second: a RST with an acceptable ACK in SYN-SENT means
 * "connection refused"; a RST without ACK is dropped (RFC 5961 3.2). */
static void test_synsent_rst(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    th_connect(h);
    struct sl_tcp_seg r = th_seg(h, TH_F_RST, TH_IRS, 0, 0);
    th_input(h, &r);
    EXPECT_NONE(h);
    EXPECT_CTR(h, drop_tcp_rst_bad_seq, 1);
    CHECK_EQ(h->t.state, SL_TCP_SYN_SENT);

    r = th_seg(h, TH_F_RST | TH_F_ACK, 0, TH_ISS + 1, 0);
    th_input(h, &r);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, -ECONNREFUSED);
    CHECK_EQ(h->out.events & (SL_TEV_ERROR | SL_TEV_CLOSED), SL_TEV_ERROR | SL_TEV_CLOSED);
    CHECK_EQ(h->t.t_rexmt, 0);
    EXPECT_CTR(h, tcp_rst_rx, 1);
}

/* RFC 9293 3.5 figure 8 and 3.10.7.3 fourth: a SYN in SYN-SENT (no ACK) is a
 * simultaneous open: SYN-RECEIVED and a SYN-ACK <SEQ=ISS><ACK=RCV.NXT>. */
static void test_simultaneous_open(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    th_connect(h);
    h->peer = th_peer_full();
    th_advance(h, 3 * TH_MS);
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_input(h, &syn);
    CHECK_EQ(h->t.state, SL_TCP_SYN_RCVD);
    if (EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, TH_ISS, TH_IRS + 1, 0)) {
        CHECK_EQ(SEG(h, 0).opts.has_mss, 1);
        CHECK_EQ(SEG(h, 0).opts.has_wscale, 1);
        CHECK_EQ(SEG(h, 0).opts.sack_perm, 1);
        CHECK_EQ(SEG(h, 0).opts.has_ts, 1);
        CHECK_EQ(SEG(h, 0).opts.tsecr, syn.opts.tsval);
    }
    CHECK_EQ(h->t.flags & SL_TF_PASSIVE, 0);

    /* The peer's own SYN-ACK (figure 8 line 5). Its SYN is at IRS, below
     * RCV.NXT: by the letter of 3.10.7.4 it is not acceptable, so the engine
     * answers with an ACK (never a RST) and waits for the peer's ACK. */
    th_advance(h, 3 * TH_MS);
    struct sl_tcp_seg sa = th_syn(h, TH_F_ACK, TH_IRS, TH_ISS + 1);
    th_input(h, &sa);
    EXPECT_ONE(h, TH_F_ACK, TH_ISS + 1, TH_IRS + 1, 0);
    EXPECT_CTR(h, tcp_rst_tx, 0);
    CHECK(h->t.state == SL_TCP_SYN_RCVD || h->t.state == SL_TCP_ESTABLISHED);

    struct sl_tcp_seg ack = th_ack(h, TH_ISS + 1);
    th_input(h, &ack);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(h->t.snd_una, TH_ISS + 1);
}

/* RFC 9293 3.10.7.4 second (SYN-RECEIVED): a RST on a connection that came
 * from SYN-SENT (active open) means "connection refused". */
static void test_simultaneous_open_rst(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    th_connect(h);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_input(h, &syn);
    CHECK_EQ(h->t.state, SL_TCP_SYN_RCVD);
    struct sl_tcp_seg r = th_seg(h, TH_F_RST, TH_IRS + 1, 0, 0);
    th_input(h, &r);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, -ECONNREFUSED);
    CHECK(h->out.events & SL_TEV_ERROR);
}

/* A retransmitted SYN in SYN-RECEIVED (our SYN-ACK was lost) is answered
 * with the SYN-ACK again, never a RST (RFC 9293 3.10.7.4; RFC 5961 4 is
 * about synchronized states). */
static void test_dup_syn_in_synrcvd(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_accept(h, &syn);
    th_advance(h, 300 * TH_MS);
    syn = th_syn(h, 0, TH_IRS, 0);
    th_input(h, &syn);
    if (EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, TH_ISS, TH_IRS + 1, 0)) {
        CHECK_EQ(SEG(h, 0).opts.has_mss, 1);
        CHECK_EQ(SEG(h, 0).opts.has_ts, 1);
        /* RFC 7323 4.3: the retransmitted SYN covers Last.ACK.sent and has a
         * newer TSval, so it becomes TS.Recent and the SYN-ACK echoes it
         * (otherwise the peer measures its RTT from its first SYN). */
        FIXED_BUG(SEG(h, 0).opts.tsecr == syn.opts.tsval,
                  "SYN-ACK answering a retransmitted SYN echoes the first SYN's TSval "
                  "(TS.Recent not updated, RFC 7323 4.3)");
    }
    EXPECT_CTR(h, tcp_rst_tx, 0);
    CHECK_EQ(h->t.state, SL_TCP_SYN_RCVD);
    CHECK_EQ(h->t.snd_nxt, TH_ISS + 1);
    /* The handshake still completes. */
    struct sl_tcp_seg ack = th_ack(h, TH_ISS + 1);
    th_input(h, &ack);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
}

/* RFC 9293 3.10.7.4 fifth, SYN-RECEIVED: "If the segment acknowledgment is
 * not acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>". */
static void test_synrcvd_bad_ack(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_accept(h, &syn);
    static const uint32_t bad[] = {TH_ISS + 100, TH_ISS, TH_ISS - 7};
    for (unsigned i = 0; i < 3; i++) {
        struct sl_tcp_seg a = th_ack(h, bad[i]);
        th_input(h, &a);
        if (EXPECT_ONE(h, TH_F_RST, bad[i], 0, 0))
            CHECK_EQ(SEG(h, 0).opts.has_ts, 0);
        EXPECT_CTR(h, drop_tcp_ack_unsent, 1);
        CHECK_EQ(h->t.state, SL_TCP_SYN_RCVD);
    }
    struct sl_tcp_seg ok = th_ack(h, TH_ISS + 1);
    th_input(h, &ok);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
}

/* RFC 9293 3.10.7.4 second, SYN-RECEIVED from a passive OPEN: a RST returns
 * to LISTEN (here: the TCB is dropped); no error for an application that
 * never saw the connection. */
static void test_synrcvd_rst_passive(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_accept(h, &syn);
    struct sl_tcp_seg r = th_seg(h, TH_F_RST, TH_IRS + 1, 0, 0);
    th_input(h, &r);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, 0);
    CHECK_EQ(h->out.events & SL_TEV_ERROR, 0);
    CHECK(h->out.events & SL_TEV_CLOSED);
}

/* RFC 9293 3.10.7.4 fifth/seventh: the handshake ACK may carry data. */
static void test_synrcvd_ack_with_data(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_accept(h, &syn);
    struct sl_tcp_seg d = th_seg(h, TH_F_ACK | TH_F_PSH, TH_IRS + 1, TH_ISS + 1, 300);
    th_input(h, &d);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK(h->out.events & SL_TEV_READABLE);
    CHECK_EQ(sl_tcp_readable(&h->t), 300);
    CHECK_EQ(th_read(h, 1000), 300);
}

/* RFC 9293 3.10.7.4: the handshake ACK may also carry the peer's FIN:
 * ESTABLISHED, then CLOSE-WAIT, and the FIN is ACKed. */
static void test_synrcvd_ack_with_fin(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_accept(h, &syn);
    struct sl_tcp_seg f = th_seg(h, TH_F_ACK | TH_F_FIN, TH_IRS + 1, TH_ISS + 1, 20);
    th_input(h, &f);
    CHECK_EQ(h->t.state, SL_TCP_CLOSE_WAIT);
    CHECK(h->out.events & SL_TEV_CONNECTED);
    CHECK(h->out.events & SL_TEV_HUP);
    EXPECT_ONE(h, TH_F_ACK, TH_ISS + 1, TH_IRS + 22, 0);
    CHECK_EQ(th_read(h, 100), 20);
}

/* RFC 9293 3.4 / 3.10.7.2: SYN data is not used without TFO; it is counted
 * and not acknowledged, so the peer sends it again. */
static void test_syn_with_data(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    syn.payload = th_pattern(0);
    syn.len = 50;
    th_accept(h, &syn);
    EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, TH_ISS, TH_IRS + 1, 0);
    EXPECT_CTR(h, drop_tcp_syn_data, 1);
}

/* RFC 9293 3.10.7.2 (LISTEN): first ignore a RST, second any ACK gets
 * <SEQ=SEG.ACK><CTL=RST>, third a SYN is processed, otherwise drop. */
static void test_listen_check(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    struct sl_tcp_seg s = th_seg(h, TH_F_RST, 1234, 0, 0);
    th_begin(h);
    CHECK_EQ(sl_tcp_listen_check(&s, &h->out), SL_CTR_drop_tcp_listen_rst);
    EXPECT_NONE(h);
    s = th_seg(h, TH_F_RST | TH_F_ACK, 1234, 999, 0);
    th_begin(h);
    CHECK_EQ(sl_tcp_listen_check(&s, &h->out), SL_CTR_drop_tcp_listen_rst);
    EXPECT_NONE(h);

    s = th_seg(h, TH_F_ACK, 1234, 98765, 10);
    th_begin(h);
    CHECK_EQ(sl_tcp_listen_check(&s, &h->out), SL_CTR_drop_tcp_listen_ack);
    EXPECT_ONE(h, TH_F_RST, 98765, 0, 0);
    EXPECT_CTR(h, tcp_rst_tx, 1);

    s = th_seg(h, TH_F_SYN | TH_F_ACK, 1234, 4242, 0);
    th_begin(h);
    CHECK_EQ(sl_tcp_listen_check(&s, &h->out), SL_CTR_drop_tcp_listen_ack);
    EXPECT_ONE(h, TH_F_RST, 4242, 0, 0);

    static const uint8_t nosyn[] = {0, TH_F_FIN, TH_F_PSH, TH_F_FIN | TH_F_PSH};
    for (unsigned i = 0; i < sizeof(nosyn); i++) {
        s = th_seg(h, nosyn[i], 1234, 0, i * 10);
        th_begin(h);
        CHECK_EQ(sl_tcp_listen_check(&s, &h->out), SL_CTR_drop_tcp_listen_nosyn);
        EXPECT_NONE(h);
    }
    s = th_seg(h, TH_F_SYN | TH_F_FIN, 1234, 0, 0);
    th_begin(h);
    CHECK(sl_tcp_listen_check(&s, &h->out) != SL_CTR_ok);
    EXPECT_NONE(h);

    s = th_seg(h, TH_F_SYN, 1234, 0, 0);
    th_begin(h);
    CHECK_EQ(sl_tcp_listen_check(&s, &h->out), SL_CTR_ok);
    EXPECT_NONE(h);
}

/* RFC 9293 3.10.7.1 (CLOSED): "If the ACK bit is off, sequence number zero
 * is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; if the ACK bit is
 * on, <SEQ=SEG.ACK><CTL=RST>"; an incoming RST is discarded (never a RST
 * for a RST). SEG.LEN counts SYN and FIN. */
static void test_closed_reply(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    struct sl_tcp_seg s = th_seg(h, TH_F_ACK | TH_F_PSH, 1000, 777777, 40);
    th_begin(h);
    CHECK_EQ(sl_tcp_closed_reply(&s, &h->out), SL_CTR_drop_tcp_no_conn);
    EXPECT_ONE(h, TH_F_RST, 777777, 0, 0);
    CHECK_EQ(SEG(h, 0).opts.has_ts, 0);
    EXPECT_CTR(h, tcp_rst_tx, 1);

    s = th_seg(h, TH_F_SYN, 1000, 0, 0);
    th_begin(h);
    CHECK_EQ(sl_tcp_closed_reply(&s, &h->out), SL_CTR_drop_tcp_no_conn);
    EXPECT_ONE(h, TH_F_RST | TH_F_ACK, 0, 1001, 0);

    s = th_seg(h, TH_F_FIN | TH_F_PSH, 1000, 0, 25);
    th_begin(h);
    sl_tcp_closed_reply(&s, &h->out);
    EXPECT_ONE(h, TH_F_RST | TH_F_ACK, 0, 1026, 0);

    s = th_seg(h, 0, 0xfffffff0u, 0, 0x20);
    th_begin(h);
    sl_tcp_closed_reply(&s, &h->out);
    EXPECT_ONE(h, TH_F_RST | TH_F_ACK, 0, 0x10, 0); /* wraps */

    static const uint8_t rsts[] = {TH_F_RST, TH_F_RST | TH_F_ACK, TH_F_RST | TH_F_SYN};
    for (unsigned i = 0; i < sizeof(rsts); i++) {
        s = th_seg(h, rsts[i], 1000, 5, 0);
        th_begin(h);
        CHECK_EQ(sl_tcp_closed_reply(&s, &h->out), SL_CTR_drop_tcp_no_conn_rst);
        EXPECT_NONE(h);
        EXPECT_CTR(h, tcp_rst_tx, 0);
    }
}

/* A segment handed to a CLOSED tcb is counted and ignored. */
static void test_input_on_closed_tcb(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    struct sl_tcp_seg s = th_seg(h, TH_F_ACK, 1, 2, 0);
    th_input_only(h, &s);
    EXPECT_NONE(h);
    EXPECT_CTR(h, drop_tcp_closed_conn, 1);
}

int main(void)
{
    RUN(test_passive_full_options);
    RUN(test_passive_bare_syn);
    RUN(test_passive_partial_options);
    RUN(test_active_open);
    RUN(test_active_open_peer_without_options);
    RUN(test_synsent_bad_ack);
    RUN(test_synsent_rst);
    RUN(test_simultaneous_open);
    RUN(test_simultaneous_open_rst);
    RUN(test_dup_syn_in_synrcvd);
    RUN(test_synrcvd_bad_ack);
    RUN(test_synrcvd_rst_passive);
    RUN(test_synrcvd_ack_with_data);
    RUN(test_synrcvd_ack_with_fin);
    RUN(test_syn_with_data);
    RUN(test_listen_check);
    RUN(test_closed_reply);
    RUN(test_input_on_closed_tcb);
    return check_finish("test_tcp_handshake");
}
