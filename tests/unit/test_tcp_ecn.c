/* TCP engine, segment level: Explicit Congestion Notification (RFC 3168):
 * negotiation (6.1.1), ECT on new data only (6.1.2, 6.1.5), the receiver's
 * echo of CE marks until CWR (6.1.3), and the sender's reaction to ECE,
 * once per window (6.1.2). */
#include <string.h>

#include "tcp_harness.h"

#define MSS 1448u /* 1460 - 12 bytes of timestamps */
#define S(i) TH_SND((i) * MSS)
#define ECN_SYN (TH_F_SYN | SL_TCP_ECE | SL_TCP_CWR)

/* Passive open with a peer whose SYN carries `synflags` (besides SYN). */
static struct th *passive(const struct sl_tcp_cfg *cfg, uint8_t synflags)
{
    struct th *h = th_new(cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, synflags, TH_IRS, 0);
    th_accept(h, &syn);
    h->now += 10 * TH_MS;
    struct sl_tcp_seg ack = th_seg(h, TH_F_ACK, TH_IRS + 1, TH_ISS + 1, 0);
    th_input(h, &ack);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    /* the first ACK replaces the SYN's unscaled window */
    struct sl_tcp_seg w = th_ack(h, TH_SND(0));
    th_input(h, &w);
    return h;
}

static struct th *ecn_est(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = passive(&cfg, SL_TCP_ECE | SL_TCP_CWR);
    CHECK(h->t.flags & SL_TF_ECN_OK);
    return h;
}

/* 6.1.1: an ECN-setup SYN (ECE and CWR) is answered by an ECN-setup
 * SYN-ACK (ECE, no CWR); the SYN-ACK itself is not ECN-capable. */
static void test_passive_negotiates(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, SL_TCP_ECE | SL_TCP_CWR, TH_IRS, 0);
    th_accept(h, &syn);
    EXPECT_ONE(h, TH_F_SYN | TH_F_ACK | SL_TCP_ECE, TH_ISS, TH_IRS + 1, 0);
    CHECK_EQ(SEG(h, 0).ecn, SL_IP_ECN_NOT_ECT);
    EXPECT_CTR(h, tcp_ecn_negotiated, 1);
    CHECK(h->t.flags & SL_TF_ECN_OK);
    /* a retransmitted SYN-ACK asks again */
    th_fire(h);
    EXPECT_ONE(h, TH_F_SYN | TH_F_ACK | SL_TCP_ECE, TH_ISS, TH_IRS + 1, 0);
}

/* A SYN without both ECE and CWR, or a stack with ECN off, gets a plain
 * SYN-ACK and a connection without ECN. */
static void test_passive_declines(void)
{
    static const uint8_t asks[3] = {0, SL_TCP_ECE, SL_TCP_CWR};
    for (int i = 0; i < 3; i++) {
        struct sl_tcp_cfg cfg = th_cfg();
        struct th *h = th_new(&cfg);
        h->peer = th_peer_full();
        struct sl_tcp_seg syn = th_syn(h, asks[i], TH_IRS, 0);
        th_accept(h, &syn);
        EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, TH_ISS, TH_IRS + 1, 0);
        CHECK(!(h->t.flags & SL_TF_ECN_OK));
        EXPECT_CTR(h, tcp_ecn_negotiated, 0);
    }
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.no_ecn = true;
    struct th *h = passive(&cfg, SL_TCP_ECE | SL_TCP_CWR);
    CHECK(!(h->t.flags & SL_TF_ECN_OK));
    th_write(h, 4 * MSS);
    th_output(h);
    CHECK(h->out.n > 0);
    for (unsigned i = 0; i < h->out.n; i++)
        CHECK_EQ(SEG(h, i).ecn, SL_IP_ECN_NOT_ECT);
}

/* 6.1.1 as the active opener: only when asked to; an ECN-setup SYN-ACK
 * agrees, a SYN-ACK with ECE and CWR (a reflecting middlebox) does not;
 * a retransmitted SYN no longer asks (6.1.1.1). */
static void test_active_offer(void)
{
    struct sl_tcp_cfg plain = th_cfg();
    struct th *h = th_new(&plain);
    th_connect(h);
    EXPECT_ONE(h, TH_F_SYN, TH_ISS, 0, 0);

    static const uint8_t answers[3] = {SL_TCP_ECE, SL_TCP_ECE | SL_TCP_CWR, 0};
    for (int i = 0; i < 3; i++) {
        struct sl_tcp_cfg cfg = th_cfg();
        cfg.ecn_active = true;
        h = th_new(&cfg);
        h->peer = th_peer_full();
        th_connect(h);
        EXPECT_ONE(h, ECN_SYN, TH_ISS, 0, 0);
        CHECK_EQ(SEG(h, 0).ecn, SL_IP_ECN_NOT_ECT);
        h->now += 10 * TH_MS;
        struct sl_tcp_seg sa = th_syn(h, (uint8_t)(TH_F_ACK | answers[i]), TH_IRS, TH_ISS + 1);
        th_input(h, &sa);
        CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
        CHECK_EQ(!!(h->t.flags & SL_TF_ECN_OK), i == 0);
        EXPECT_CTR(h, tcp_ecn_negotiated, i == 0);
    }

    struct sl_tcp_cfg cfg = th_cfg();
    cfg.ecn_active = true;
    h = th_new(&cfg);
    th_connect(h);
    th_fire(h);
    EXPECT_ONE(h, TH_F_SYN, TH_ISS, 0, 0);
    CHECK(!(h->t.flags & SL_TF_ECN_OK));
}

/* 6.1.2 / 6.1.5: new data is ECT(0); pure ACKs and retransmissions are not. */
static void test_ect_on_new_data_only(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.no_tlp = true;
    struct th *h = passive(&cfg, SL_TCP_ECE | SL_TCP_CWR);
    th_write(h, 3 * MSS);
    th_output(h);
    EXPECT_NSEG(h, 3);
    for (unsigned i = 0; i < 3; i++)
        CHECK_EQ(SEG(h, i).ecn, SL_IP_ECN_ECT0);
    /* a pure ACK for the peer's data */
    struct sl_tcp_seg d = th_seg(h, TH_F_ACK | TH_F_PSH, TH_RCV(0), TH_SND(0), 100);
    th_input(h, &d);
    th_fire(h); /* delayed ACK */
    EXPECT_ONE(h, TH_F_ACK, S(3), TH_RCV(100), 0);
    CHECK_EQ(SEG(h, 0).ecn, SL_IP_ECN_NOT_ECT);
    /* the RTO's retransmission */
    while (h->t.state == SL_TCP_ESTABLISHED && th_ctr(h, SL_CTR_tcp_rto_fired) == 0)
        th_fire(h);
    EXPECT_CTR(h, tcp_rto_fired, 1);
    EXPECT_SEG(h, 0, TH_F_ACK, S(0), TH_RCV(100), MSS); /* go back N from SND.UNA */
    CHECK_EQ(SEG(h, 0).ecn, SL_IP_ECN_NOT_ECT);
}

/* 6.1.3: a CE-marked segment is ACKed at once with ECE, and every ACK
 * carries ECE until a segment with CWR arrives. */
static void test_ce_echoed_until_cwr(void)
{
    struct th *h = ecn_est();
    struct sl_tcp_seg d = th_seg(h, TH_F_ACK, TH_RCV(0), TH_SND(0), 100);
    d.ecn = SL_IP_ECN_CE;
    th_input(h, &d);
    EXPECT_ONE(h, TH_F_ACK | SL_TCP_ECE, TH_SND(0), TH_RCV(100), 0);
    EXPECT_CTR(h, tcp_ecn_ce_rx, 1);
    /* an unmarked segment: its (delayed) ACK still echoes */
    d = th_seg(h, TH_F_ACK, TH_RCV(100), TH_SND(0), 100);
    d.ecn = SL_IP_ECN_ECT0;
    th_input(h, &d);
    EXPECT_NONE(h);
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK | SL_TCP_ECE, TH_SND(0), TH_RCV(200), 0);
    EXPECT_CTR(h, tcp_ecn_ce_rx, 0);
    /* data of ours also carries ECE while it lasts */
    th_write(h, 10);
    th_output(h);
    EXPECT_ONE(h, TH_F_ACK | TH_F_PSH | SL_TCP_ECE, TH_SND(0), TH_RCV(200), 10);
    /* the peer's CWR ends the echo */
    d = th_seg(h, TH_F_ACK | SL_TCP_CWR, TH_RCV(200), TH_SND(10), 100);
    th_input(h, &d);
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(10), TH_RCV(300), 0);
    CHECK(!(h->t.flags & SL_TF_ECN_ECE));
}

/* 6.1.2: ECE cuts the window like a loss (ssthresh = FlightSize / 2,
 * cwnd = ssthresh), once per window of data; the next new data segment
 * carries CWR. */
static void test_ece_cuts_window_once_per_window(void)
{
    struct th *h = ecn_est();
    th_write(h, 40 * MSS);
    th_output(h);
    EXPECT_NSEG(h, 10);
    struct sl_tcp_seg a = th_ack(h, S(1));
    a.flags |= SL_TCP_ECE;
    th_input(h, &a);
    EXPECT_CTR(h, tcp_ecn_cwnd_reduced, 1);
    CHECK_EQ(h->t.ssthresh, 9 * MSS / 2);
    CHECK_EQ(h->t.cwnd, 9 * MSS / 2);
    CHECK_EQ(h->t.ecn_mark, S(10));
    EXPECT_NONE(h); /* 9 segments in flight exceed the new window */
    CHECK(h->t.flags & SL_TF_ECN_CWR);

    /* More ECE within the same window: no further cut. The window opens
     * as the flight drains; the first new segment carries CWR. */
    a = th_ack(h, S(6));
    a.flags |= SL_TCP_ECE;
    th_input(h, &a);
    EXPECT_CTR(h, tcp_ecn_cwnd_reduced, 0);
    CHECK(h->out.n >= 1);
    CHECK_EQ(SEG(h, 0).seq, S(10));
    CHECK_EQ(SEG(h, 0).flags, TH_F_ACK | SL_TCP_CWR);
    CHECK_EQ(SEG(h, 0).ecn, SL_IP_ECN_ECT0);
    for (unsigned i = 1; i < h->out.n; i++)
        CHECK(!(SEG(h, i).flags & SL_TCP_CWR));
    CHECK(!(h->t.flags & SL_TF_ECN_CWR));
    a = th_ack(h, S(10));
    a.flags |= SL_TCP_ECE;
    th_input(h, &a);
    EXPECT_CTR(h, tcp_ecn_cwnd_reduced, 0);

    /* An ECE for data sent after the cut: the next window, the next cut. */
    a = th_ack(h, S(11));
    a.flags |= SL_TCP_ECE;
    uint32_t flight = h->t.snd_max - S(11);
    th_input(h, &a);
    EXPECT_CTR(h, tcp_ecn_cwnd_reduced, 1);
    CHECK_EQ(h->t.ssthresh, flight / 2 > 2 * MSS ? flight / 2 : 2 * MSS);
}

/* 6.1.2, the other way round: a loss in the window an ECE already cut
 * enters fast recovery (the retransmission goes) without a second cut.
 * CUBIC, whose cut depends on cwnd, so a second one would show. */
static void test_loss_after_ece_same_window(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.cc = SL_TCP_CC_CUBIC;
    struct th *h = passive(&cfg, SL_TCP_ECE | SL_TCP_CWR);
    th_write(h, 40 * MSS);
    th_output(h);
    EXPECT_NSEG(h, 10);
    struct sl_tcp_seg a = th_ack(h, S(1));
    a.flags |= SL_TCP_ECE;
    th_input(h, &a);
    EXPECT_CTR(h, tcp_ecn_cwnd_reduced, 1);
    uint32_t ssthresh = h->t.ssthresh;
    for (int i = 0; i < 3; i++) {
        struct sl_tcp_seg d = th_ack(h, S(1));
        th_add_sack(&d, S(2 + i), S(3 + i));
        th_input(h, &d);
    }
    CHECK(h->t.flags & SL_TF_IN_RECOVERY);
    CHECK_EQ(h->t.ssthresh, ssthresh);
    CHECK(h->out.n >= 1);
    CHECK_EQ(SEG(h, 0).seq, S(1)); /* the hole goes again */
}

/* No ECN agreed: CE marks are not echoed and ECE does not cut the window. */
static void test_without_ecn_ignored(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = passive(&cfg, 0);
    struct sl_tcp_seg d = th_seg(h, TH_F_ACK, TH_RCV(0), TH_SND(0), 100);
    d.ecn = SL_IP_ECN_CE;
    th_input(h, &d);
    EXPECT_NONE(h);
    EXPECT_CTR(h, tcp_ecn_ce_rx, 0);
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(100), 0);
    th_write(h, 10 * MSS);
    th_output(h);
    uint32_t cwnd = h->t.cwnd;
    struct sl_tcp_seg a = th_ack(h, S(1));
    a.flags |= SL_TCP_ECE;
    th_input(h, &a);
    EXPECT_CTR(h, tcp_ecn_cwnd_reduced, 0);
    CHECK_EQ(h->t.cwnd, cwnd + MSS); /* slow start as usual */
}

/* A SYN cookie has no room for ECN: its SYN-ACK never agrees to it. */
static void test_syncookie_declines(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, SL_TCP_ECE | SL_TCP_CWR, TH_IRS, 0);
    th_begin(h);
    sl_tcp_cookie_synack(&cfg, h->now, TH_LADDR, TH_RADDR, &syn, 12345u, &h->out);
    EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, 12345u, TH_IRS + 1, 0);
}

int main(void)
{
    RUN(test_passive_negotiates);
    RUN(test_passive_declines);
    RUN(test_active_offer);
    RUN(test_ect_on_new_data_only);
    RUN(test_ce_echoed_until_cwr);
    RUN(test_ece_cuts_window_once_per_window);
    RUN(test_loss_after_ece_same_window);
    RUN(test_without_ecn_ignored);
    RUN(test_syncookie_declines);
    return check_finish("test_tcp_ecn");
}
