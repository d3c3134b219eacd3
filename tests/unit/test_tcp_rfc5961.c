/* TCP engine, segment level: blind in-window attacks (RFC 5961) and PAWS
 * (RFC 7323 4.3, 5). */
#include <errno.h>
#include <string.h>

#include "tcp_harness.h"

/* Passive open, peer with every option; our receive window is 64 KiB. */
static struct th *est(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    struct th_peer p = th_peer_full();
    th_open_passive(h, &p, 10 * TH_MS);
    return h;
}

/* RFC 5961 3.2: "If the RST bit is set and the sequence number does not
 * exactly match the next expected sequence value, yet is within the current
 * receive window, TCP MUST send an acknowledgment (challenge ACK):
 * <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>" and not reset. */
static void test_rst_in_window_challenge(void)
{
    struct th *h = est();
    static const uint32_t offs[] = {1, 1000, 65533}; /* window 65534: 0xffff >> 1 << 1 */
    for (unsigned i = 0; i < 3; i++) {
        struct sl_tcp_seg r = th_seg(h, TH_F_RST, TH_RCV(offs[i]), 0, 0);
        th_input(h, &r);
        if (EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 0))
            CHECK_EQ(SEG(h, 0).opts.has_ts, 1);
        EXPECT_CTR(h, tcp_challenge_ack_tx, 1);
        EXPECT_CTR(h, tcp_rst_rx, 0);
        CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
        CHECK_EQ(h->out.events & (SL_TEV_ERROR | SL_TEV_CLOSED), 0);
    }
}

/* RFC 5961 3.2: "If the RST bit is set and the sequence number exactly
 * matches the next expected sequence number (RCV.NXT), then TCP MUST reset
 * the connection"; RFC 9293 3.10.7.4 second: ESTABLISHED -> "connection
 * reset", CLOSED. */
static void test_rst_exact(void)
{
    struct th *h = est();
    struct sl_tcp_seg d = th_data(h, 0, 100);
    th_input(h, &d);
    struct sl_tcp_seg r = th_seg(h, TH_F_RST, TH_RCV(100), 0, 0);
    th_input(h, &r);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, -ECONNRESET);
    CHECK_EQ(h->out.events & (SL_TEV_ERROR | SL_TEV_CLOSED), SL_TEV_ERROR | SL_TEV_CLOSED);
    EXPECT_CTR(h, tcp_rst_rx, 1);
    CHECK_EQ(sl_tcp_next_deadline(&h->t), 0);

    struct th *g = est(); /* RST|ACK works the same */
    r = th_seg(g, TH_F_RST | TH_F_ACK, TH_RCV(0), TH_SND(0), 0);
    th_input(g, &r);
    CHECK_EQ(g->t.state, SL_TCP_CLOSED);
    CHECK_EQ(g->t.err, -ECONNRESET);
}

/* RFC 5961 3.2: "If the RST bit is set and the sequence number is outside
 * the current receive window, silently drop the segment". */
static void test_rst_out_of_window(void)
{
    struct th *h = est();
    static const uint32_t seqs[] = {TH_RCV(65536), TH_RCV(0) - 1, TH_RCV(1u << 30),
                                    TH_RCV(0) - 100000};
    for (unsigned i = 0; i < 4; i++) {
        struct sl_tcp_seg r = th_seg(h, TH_F_RST, seqs[i], 0, 0);
        th_input(h, &r);
        EXPECT_NONE(h);
        EXPECT_CTR(h, drop_tcp_rst_bad_seq, 1);
        CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    }
}

/* RFC 5961 4.2: "If the SYN bit is set, irrespective of the sequence
 * number, TCP MUST send an ACK (challenge ACK)", never a RST and never a
 * reset of the connection. In-window: a rate-limited challenge ACK; an old
 * SYN (outside the window) gets the RFC 9293 unacceptable-segment ACK. */
static void test_syn_in_established(void)
{
    struct th *h = est();
    static const uint32_t offs[] = {0, 100, 60000};
    for (unsigned i = 0; i < 3; i++) {
        struct sl_tcp_seg s = th_syn(h, 0, TH_RCV(offs[i]), 0);
        th_input(h, &s);
        EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 0);
        EXPECT_CTR(h, drop_tcp_syn_in_window, 1);
        EXPECT_CTR(h, tcp_challenge_ack_tx, 1);
        EXPECT_CTR(h, tcp_rst_tx, 0);
        CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    }
    /* SYN+ACK and SYN with data: same, and the data is not taken. */
    struct sl_tcp_seg s = th_seg(h, TH_F_SYN | TH_F_ACK, TH_RCV(10), TH_SND(0), 50);
    th_input(h, &s);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 0);
    CHECK_EQ(h->t.rcv_nxt, TH_RCV(0));
    CHECK_EQ(h->t.n_ooo, 0);
    /* The original SYN again (seq IRS, left of the window). */
    s = th_syn(h, 0, TH_IRS, 0);
    th_input(h, &s);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 0);
    EXPECT_CTR(h, tcp_rst_tx, 0);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
}

/* RFC 5961 5.2: "All incoming segments whose ACK value doesn't satisfy
 * (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT MUST be discarded and an
 * ACK sent back"; RFC 9293 3.10.7.4 fifth: an ACK for something not yet
 * sent: send an ACK, drop the segment. */
static void test_ack_above_snd_max(void)
{
    struct th *h = est();
    th_write(h, 100);
    th_output(h);
    struct sl_tcp_seg a = th_seg(h, TH_F_ACK, TH_RCV(0), TH_SND(200), 300);
    th_input(h, &a);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(100), TH_RCV(0), 0);
    EXPECT_CTR(h, drop_tcp_ack_unsent, 1);
    EXPECT_CTR(h, tcp_challenge_ack_tx, 1);
    CHECK_EQ(h->t.snd_una, TH_SND(0));
    CHECK_EQ(h->t.rcv_nxt, TH_RCV(0)); /* its data was dropped too */
    CHECK_EQ(h->out.events & SL_TEV_READABLE, 0);
    /* The true ACK still works. */
    a = th_ack(h, TH_SND(100));
    th_input(h, &a);
    CHECK_EQ(h->t.snd_una, TH_SND(100));
}

/* RFC 5961 5.2, lower bound: SEG.ACK < SND.UNA - MAX.SND.WND is dropped with
 * a challenge ACK; an old ACK inside the bound is acceptable (ignored as an
 * ACK, its data taken). */
static void test_ack_too_old(void)
{
    struct th *h = est();
    th_write(h, 100);
    th_output(h);
    struct sl_tcp_seg a = th_ack(h, TH_SND(100));
    th_input(h, &a);
    CHECK_EQ(h->t.max_snd_wnd, 1024u << 7);

    uint32_t bad = TH_SND(100) - (1024u << 7) - 1;
    struct sl_tcp_seg d = th_seg(h, TH_F_ACK, TH_RCV(0), bad, 100);
    th_input(h, &d);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(100), TH_RCV(0), 0);
    EXPECT_CTR(h, drop_tcp_old_ack, 1);
    EXPECT_CTR(h, tcp_challenge_ack_tx, 1);
    CHECK_EQ(h->t.rcv_nxt, TH_RCV(0));

    d = th_seg(h, TH_F_ACK, TH_RCV(0), TH_SND(100) - (1024u << 7), 100); /* on the bound */
    th_input(h, &d);
    EXPECT_CTR(h, drop_tcp_old_ack, 0);
    EXPECT_CTR(h, tcp_challenge_ack_tx, 0);
    CHECK_EQ(h->t.rcv_nxt, TH_RCV(100));
    CHECK_EQ(h->t.snd_una, TH_SND(100));
}

/* RFC 5961 7: challenge ACKs are rate limited (here SL_TCP_CHACK_LIMIT per
 * second per connection); the excess is dropped and counted. All triggers
 * (RST, SYN, bad ACK) share the budget. */
static void test_challenge_ack_rate_limit(void)
{
    struct th *h = est();
    th_advance(h, TH_SEC - h->now % TH_SEC); /* start of a second */
    unsigned acks = 0, limited = 0;
    for (unsigned i = 0; i < SL_TCP_CHACK_LIMIT + 5; i++) {
        struct sl_tcp_seg r;
        if (i % 3 == 0)
            r = th_seg(h, TH_F_RST, TH_RCV(10 + i), 0, 0);
        else if (i % 3 == 1)
            r = th_syn(h, 0, TH_RCV(10 + i), 0);
        else
            r = th_seg(h, TH_F_ACK, TH_RCV(0), TH_SND(5000), 0);
        th_input(h, &r);
        acks += h->out.n;
        limited += (unsigned)th_ctr(h, SL_CTR_drop_tcp_challenge_ack_limited);
        th_advance(h, 10 * TH_MS);
    }
    CHECK_EQ(acks, SL_TCP_CHACK_LIMIT);
    CHECK_EQ(limited, 5);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    /* A new second, a new budget. */
    th_advance(h, TH_SEC);
    struct sl_tcp_seg r = th_seg(h, TH_F_RST, TH_RCV(10), 0, 0);
    th_input(h, &r);
    EXPECT_NSEG(h, 1);
    EXPECT_CTR(h, tcp_challenge_ack_tx, 1);
}

/* RFC 5961 5 / RFC 9293 3.10.7.4 first: blind data injection outside the
 * window is answered with an ACK only; nothing reaches the application. */
static void test_blind_data_injection(void)
{
    struct th *h = est();
    static const uint32_t seqs[] = {TH_RCV(100000), TH_RCV(65536), TH_RCV(0) - 70000,
                                    TH_RCV(0) - 2000};
    for (unsigned i = 0; i < 4; i++) {
        struct sl_tcp_seg d = th_seg(h, TH_F_ACK | TH_F_PSH, seqs[i], TH_SND(0), 1000);
        th_input(h, &d);
        EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 0);
        EXPECT_CTR(h, drop_tcp_out_of_window, 1);
        CHECK_EQ(h->out.events & SL_TEV_READABLE, 0);
        CHECK_EQ(h->t.rcv_nxt, TH_RCV(0));
        CHECK_EQ(h->t.n_ooo, 0);
    }
    /* Without ACK bit, in window: dropped (3.10.7.4 fifth), not delivered. */
    struct sl_tcp_seg d = th_seg(h, TH_F_PSH, TH_RCV(0), 0, 100);
    th_input(h, &d);
    EXPECT_NONE(h);
    EXPECT_CTR(h, drop_tcp_no_ack, 1);
    CHECK_EQ(h->t.rcv_nxt, TH_RCV(0));
}

/* RFC 7323 5.3 R1: a segment whose TSval is older than TS.Recent is not
 * acceptable: "Send an acknowledgment in reply ... and drop the segment". */
static void test_paws_drop(void)
{
    struct th *h = est();
    struct sl_tcp_seg d = th_data(h, 0, 100);
    th_input(h, &d);
    CHECK_EQ(h->t.ts_recent, d.opts.tsval);
    th_advance(h, 5 * TH_MS);
    h->peer_ts_skew = -1000; /* an old duplicate: TSval 995 ms older */
    d = th_data(h, 100, 100);
    CHECK(sl_seq_lt(d.opts.tsval, h->t.ts_recent));
    th_input(h, &d);
    if (EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(100), 0))
        CHECK_EQ(SEG(h, 0).opts.tsecr, h->t.ts_recent);
    EXPECT_CTR(h, drop_tcp_paws, 1);
    CHECK_EQ(h->t.rcv_nxt, TH_RCV(100));
    CHECK_EQ(h->out.events & SL_TEV_READABLE, 0);

    /* R1 also protects against an old ACK. */
    th_write(h, 50);
    th_output(h);
    struct sl_tcp_seg a = th_ack(h, TH_SND(50));
    th_input(h, &a);
    EXPECT_CTR(h, drop_tcp_paws, 1);
    CHECK_EQ(h->t.snd_una, TH_SND(0));

    /* With the clock back to normal, all is accepted. */
    h->peer_ts_skew = 0;
    a = th_ack(h, TH_SND(50));
    th_input(h, &a);
    CHECK_EQ(h->t.snd_una, TH_SND(50));
}

/* RFC 7323 5.3 / 5.2: a RST is not subject to PAWS (its TSval may be
 * anything); it is judged by its sequence number alone. */
static void test_paws_not_for_rst(void)
{
    struct th *h = est();
    struct sl_tcp_seg d = th_data(h, 0, 100);
    th_input(h, &d);
    h->peer_ts_skew = -100000;
    struct sl_tcp_seg r = th_seg(h, TH_F_RST, TH_RCV(100), 0, 0);
    CHECK(r.opts.has_ts);
    th_input(h, &r);
    EXPECT_CTR(h, drop_tcp_paws, 0);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, -ECONNRESET);
}

/* RFC 7323 4.3: TS.Recent takes SEG.TSval only from a segment with
 * SEG.SEQ =< Last.ACK.sent (and TSval >= TS.Recent): with a delayed ACK
 * pending the ACK echoes the earliest unacknowledged segment's TSval, and
 * out-of-order data never updates it. */
static void test_ts_recent_update(void)
{
    struct th *h = est();
    struct sl_tcp_seg a = th_data(h, 0, 500);
    th_input(h, &a);
    CHECK_EQ(h->t.ts_recent, a.opts.tsval);
    CHECK_EQ(h->t.last_ack_sent, TH_RCV(0));

    th_advance(h, 3 * TH_MS);
    struct sl_tcp_seg b = th_data(h, 500, 500); /* seq > Last.ACK.sent: not recorded */
    th_input(h, &b);
    CHECK_EQ(h->t.ts_recent, a.opts.tsval);
    th_fire(h); /* the delayed ACK echoes a's TSval */
    if (EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(1000), 0))
        CHECK_EQ(SEG(h, 0).opts.tsecr, a.opts.tsval);

    th_advance(h, 3 * TH_MS);
    struct sl_tcp_seg o = th_data(h, 3000, 500); /* out of order */
    th_input(h, &o);
    CHECK_EQ(h->t.ts_recent, a.opts.tsval);
    if (EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(1000), 0))
        CHECK_EQ(SEG(h, 0).opts.tsecr, a.opts.tsval);

    th_advance(h, 3 * TH_MS);
    struct sl_tcp_seg c = th_data(h, 1000, 500); /* seq == Last.ACK.sent */
    th_input(h, &c);
    CHECK_EQ(h->t.ts_recent, c.opts.tsval);
    /* A pure ACK at RCV.NXT also records (SEG.SEQ == Last.ACK.sent). */
    th_fire(h);
    th_advance(h, 3 * TH_MS);
    struct sl_tcp_seg p = th_ack(h, TH_SND(0));
    th_input(h, &p);
    CHECK_EQ(h->t.ts_recent, p.opts.tsval);
}

/* RFC 7323 3.2: "If a non-<RST> segment is received without a TSopt, a TCP
 * SHOULD silently drop the segment." This engine deliberately accepts such
 * segments (like Linux): a middlebox stripping options mid-connection must
 * not kill the connection, and PAWS still protects every segment that does
 * carry a timestamp. TS.Recent is left untouched. */
static void test_segment_without_ts_accepted(void)
{
    struct th *h = est();
    struct sl_tcp_seg a = th_data(h, 0, 100);
    th_input(h, &a);
    uint32_t rec = h->t.ts_recent;
    struct sl_tcp_seg d = th_data(h, 100, 100);
    d.opts.has_ts = 0;
    th_input(h, &d);
    CHECK_EQ(h->t.rcv_nxt, TH_RCV(200));
    CHECK_EQ(h->t.ts_recent, rec);
    EXPECT_CTR(h, drop_tcp_paws, 0);
    CHECK_EQ(th_read(h, 1000), 200);
}

/* RFC 7323 5.5: TS.Recent is invalid after 24 days idle; PAWS does not
 * reject an old TSval then. */
static void test_paws_24_days(void)
{
    struct th *h = est();
    struct sl_tcp_seg d = th_data(h, 0, 100);
    th_input(h, &d);
    th_advance(h, 25ull * 24 * 3600 * TH_SEC);
    d = th_data(h, 100, 100);
    d.opts.tsval = h->t.ts_recent - 1000; /* the peer's clock went back */
    th_input(h, &d);
    EXPECT_CTR(h, drop_tcp_paws, 0);
    CHECK_EQ(h->t.rcv_nxt, TH_RCV(200));
}

/* Out-of-window segments: a pure duplicate (entirely below RCV.NXT) is
 * ACKed at once every time, since the peer's retransmission logic needs
 * it; anything beyond the window shares the challenge-ACK rate limit
 * (RFC 5961 7), so a blind attacker cannot turn us into an ACK reflector. */
static void test_out_of_window_ack_rate_limit(void)
{
    struct th *h = est();
    struct sl_tcp_seg d = th_data(h, 0, 100);
    th_input(h, &d);
    th_read(h, 100);
    unsigned acks = 0;
    for (int i = 0; i < 30; i++) {
        struct sl_tcp_seg far = th_data(h, 10000000u + (uint32_t)i * 100, 100);
        th_input(h, &far);
        acks += h->out.n;
    }
    CHECK_EQ(acks, SL_TCP_CHACK_LIMIT);
    /* a separate budget: RFC 5961 challenge ACKs still go out */
    struct sl_tcp_seg rst = th_seg(h, TH_F_RST, TH_RCV(100 + 1000), 0, 0);
    th_input(h, &rst);
    EXPECT_CTR(h, tcp_challenge_ack_tx, 1);
    unsigned dup_acks = 0;
    for (int i = 0; i < 30; i++) {
        struct sl_tcp_seg old = th_data(h, 0, 100);
        th_input(h, &old);
        dup_acks += h->out.n;
    }
    CHECK_EQ(dup_acks, 30);
    th_advance(h, 1100 * TH_MS); /* a new second: the limiter refills */
    struct sl_tcp_seg far = th_data(h, 20000000u, 100);
    th_input(h, &far);
    EXPECT_NSEG(h, 1);
}

/* RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK
 * "irrespective of the sequence number". An old SYN (at IRS) carrying data
 * that reaches into the window must not have its SYN trimmed away with the
 * old bytes and its data accepted (found by fuzz/fuzz_tcp.c). */
static void test_old_syn_with_data_not_accepted(void)
{
    struct th *h = est();
    struct sl_tcp_seg s = th_seg(h, TH_F_SYN | TH_F_ACK, TH_IRS, TH_SND(0), 100);
    uint32_t nxt = h->t.rcv_nxt;
    th_input(h, &s);
    CHECK_EQ(h->t.rcv_nxt, nxt);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    EXPECT_CTR(h, drop_tcp_syn_in_window, 1);
    EXPECT_CTR(h, tcp_challenge_ack_tx, 1);
    CHECK_EQ(h->out.events & SL_TEV_READABLE, 0);
}

int main(void)
{
    RUN(test_rst_in_window_challenge);
    RUN(test_rst_exact);
    RUN(test_rst_out_of_window);
    RUN(test_syn_in_established);
    RUN(test_ack_above_snd_max);
    RUN(test_ack_too_old);
    RUN(test_challenge_ack_rate_limit);
    RUN(test_blind_data_injection);
    RUN(test_paws_drop);
    RUN(test_paws_not_for_rst);
    RUN(test_ts_recent_update);
    RUN(test_segment_without_ts_accepted);
    RUN(test_paws_24_days);
    RUN(test_out_of_window_ack_rate_limit);
    RUN(test_old_syn_with_data_not_accepted);
    return check_finish("test_tcp_rfc5961");
}
