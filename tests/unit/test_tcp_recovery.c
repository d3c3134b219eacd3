/* TCP engine, segment level: loss recovery and congestion control. Fast
 * retransmit / NewReno (RFC 5681 3.2, RFC 6582), SACK recovery (RFC 2018,
 * RFC 6675), CUBIC (RFC 9438). */
#include <math.h>
#include <string.h>

#include "tcp_harness.h"

#define MSS 1448u
#define S(i) TH_SND((i) * MSS) /* start of our i-th full segment */

/* Active open (peer with every option, 10 ms RTT); optional no-SACK/CUBIC. */
static struct th *est(bool sack, uint8_t cc, uint64_t rtt)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.no_sack = !sack;
    cfg.cc = cc;
    cfg.sndbuf = 1u << 18;
    struct th *h = th_new(&cfg);
    struct th_peer p = th_peer_full();
    th_open_active(h, &p, rtt);
    /* The peer's first ACK replaces the (unscaled) SYN-ACK window: from
     * here on its window is constant, so its ACKs can be duplicates. */
    struct sl_tcp_seg w = th_ack(h, TH_SND(0));
    th_input(h, &w);
    return h;
}

static struct sl_tcp_seg dupack(struct th *h)
{
    return th_ack(h, h->t.snd_una);
}

/* RFC 5681 3.2 steps 1-3 and RFC 6582 3.2: the third duplicate ACK
 * retransmits the first unacknowledged segment, ssthresh = max(FlightSize /
 * 2, 2*SMSS), cwnd = ssthresh + 3*SMSS (inflated by SMSS per further
 * dupack), recover = highest sequence sent. */
static void test_newreno_fast_retransmit(void)
{
    struct th *h = est(false, 0, 10 * TH_MS);
    th_write(h, 20 * MSS);
    th_output(h);
    EXPECT_NSEG(h, 10);
    for (int i = 1; i <= 2; i++) {
        struct sl_tcp_seg d = dupack(h);
        th_input(h, &d);
        EXPECT_NONE(h);
        EXPECT_CTR(h, tcp_dupacks_rx, 1);
        CHECK_EQ(h->t.dupacks, i);
    }
    struct sl_tcp_seg d = dupack(h);
    th_input(h, &d);
    EXPECT_ONE(h, TH_F_ACK | TH_F_PSH, S(0), TH_RCV(0), MSS);
    EXPECT_CTR(h, tcp_fast_retransmits, 1);
    EXPECT_CTR(h, tcp_retransmits, 1);
    CHECK(h->t.flags & SL_TF_IN_RECOVERY);
    CHECK_EQ(h->t.ssthresh, 5 * MSS);
    CHECK_EQ(h->t.cwnd, 5 * MSS + 3 * MSS);
    CHECK_EQ(h->t.recover, S(10));
    CHECK_EQ(h->t.t_rexmt, h->now + h->t.rto);

    /* Window inflation: each further dupack adds an SMSS; new data goes
     * once cwnd exceeds the flight. */
    for (int i = 0; i < 2; i++) {
        d = dupack(h);
        th_input(h, &d);
        EXPECT_NONE(h);
    }
    CHECK_EQ(h->t.cwnd, 10 * MSS);
    d = dupack(h);
    th_input(h, &d);
    EXPECT_ONE(h, TH_F_ACK, S(10), TH_RCV(0), MSS);
    EXPECT_CTR(h, tcp_retransmits, 0);

    /* RFC 6582 3.2 step 3, partial ACK (S4 was lost too): retransmit the
     * first unacknowledged segment, deflate cwnd by the amount acked, add
     * back one SMSS, stay in recovery. */
    uint32_t cw = h->t.cwnd;
    struct sl_tcp_seg a = th_ack(h, S(4));
    th_input(h, &a);
    if (EXPECT_NSEG(h, 2)) {
        EXPECT_SEG(h, 0, TH_F_ACK | TH_F_PSH, S(4), TH_RCV(0), MSS);
        EXPECT_SEG(h, 1, TH_F_ACK, S(11), TH_RCV(0), MSS);
    }
    CHECK_EQ(h->t.cwnd, cw - 4 * MSS + MSS);
    CHECK(h->t.flags & SL_TF_IN_RECOVERY);

    /* Full ACK (covers recover): leave recovery, cwnd = min(ssthresh,
     * FlightSize + SMSS). */
    a = th_ack(h, S(10));
    th_input(h, &a);
    CHECK_EQ(h->t.flags & SL_TF_IN_RECOVERY, 0);
    CHECK_EQ(h->t.cwnd, 3 * MSS); /* min(5 MSS, 2 MSS in flight + MSS) */
    CHECK_EQ(h->t.ssthresh, 5 * MSS);
}

/* RFC 6582 3.2 step 3 (full acknowledgment): "Set cwnd to either (1) min
 * (ssthresh, max(FlightSize, SMSS) + SMSS) or (2) ssthresh". With nothing
 * left in flight option (1) is 2 SMSS, never 1. */
static void test_newreno_full_ack_nothing_in_flight(void)
{
    struct th *h = est(false, 0, 10 * TH_MS);
    th_write(h, 10 * MSS);
    th_output(h);
    for (int i = 0; i < 3; i++) {
        struct sl_tcp_seg d = dupack(h);
        th_input(h, &d);
    }
    CHECK(h->t.flags & SL_TF_IN_RECOVERY);
    struct sl_tcp_seg a = th_ack(h, S(10));
    th_input(h, &a);
    CHECK_EQ(h->t.flags & SL_TF_IN_RECOVERY, 0);
    FIXED_BUG(h->t.cwnd == 2 * MSS || h->t.cwnd == h->t.ssthresh,
              "NewReno full ACK with FlightSize 0: cwnd = min(ssthresh, FlightSize + SMSS) "
              "= 1 SMSS instead of min(ssthresh, max(FlightSize, SMSS) + SMSS) = 2 SMSS "
              "(RFC 6582 3.2 step 3)");
}

/* RFC 5681 3.1 eq. 4: ssthresh never below 2*SMSS. */
static void test_ssthresh_floor(void)
{
    struct th *h = est(false, 0, 10 * TH_MS);
    th_write(h, 2 * MSS);
    th_output(h);
    for (int i = 0; i < 3; i++) {
        struct sl_tcp_seg d = dupack(h);
        th_input(h, &d);
    }
    EXPECT_CTR(h, tcp_fast_retransmits, 1);
    CHECK_EQ(h->t.ssthresh, 2 * MSS);
}

/* RFC 6582 3.2 step 1 (and 4): after an RTO, recover = SND.MAX; duplicate
 * ACKs for data sent before the timeout do not start a new fast retransmit. */
static void test_no_fast_retransmit_after_rto(void)
{
    struct th *h = est(false, 0, 10 * TH_MS);
    h->t.flags |= SL_TF_NO_TLP; /* this test is about the RTO itself */
    th_write(h, 10 * MSS);
    th_output(h);
    th_fire(h);
    EXPECT_CTR(h, tcp_rto_fired, 1);
    CHECK_EQ(h->t.recover, S(10));
    for (int i = 0; i < 4; i++) {
        struct sl_tcp_seg d = dupack(h);
        th_input(h, &d);
        EXPECT_CTR(h, tcp_fast_retransmits, 0);
    }
    CHECK_EQ(h->t.flags & SL_TF_IN_RECOVERY, 0);
}

/* RFC 6582 3.2 step 1 with recover = SND.MAX (one past the highest sequence
 * sent): once everything sent before an RTO is acknowledged (ACK ==
 * recover), a loss among the segments sent after it must trigger fast
 * retransmit; the guard only holds back duplicate ACKs for pre-RTO data. */
static void test_fast_retransmit_after_rto_recovered(void)
{
    struct th *h = est(false, 0, 10 * TH_MS);
    h->t.flags |= SL_TF_NO_TLP;
    th_write(h, 2 * MSS);
    th_output(h);
    th_fire(h); /* RTO: recover = S(2) */
    EXPECT_CTR(h, tcp_rto_fired, 1);
    CHECK_EQ(h->t.recover, S(2));
    th_advance(h, 10 * TH_MS);
    struct sl_tcp_seg a = th_ack(h, S(2));
    th_input(h, &a);
    CHECK_EQ(h->t.snd_una, S(2));
    th_write(h, 6 * MSS);
    th_output(h);
    /* S2 is lost; the next three segments each draw a duplicate ACK. */
    for (int i = 0; i < 3; i++) {
        struct sl_tcp_seg d = th_ack(h, S(2));
        th_input(h, &d);
    }
    EXPECT_CTR(h, tcp_fast_retransmits, 1);
    CHECK(h->t.flags & SL_TF_IN_RECOVERY);
}

/* RFC 8985 7.4: three segments, the first lost. Two duplicate ACKs SACK
 * S1 and S2 (2 SMSS: not yet IsLost). The PTO fires and the probe repeats
 * S2, which the peer already has: its ACK brings no new SACK (and a moved
 * window, so it is no RFC 5681 duplicate either). The hole at
 * SND.UNA is lost all the same: recovery starts and S0 goes again at once. */
static void test_tlp_with_sacked_data_starts_recovery(void)
{
    struct th *h = est(true, 0, 10 * TH_MS);
    th_write(h, 3 * MSS);
    th_output(h);
    EXPECT_NSEG(h, 3);
    struct sl_tcp_seg d = dupack(h);
    th_add_sack(&d, S(1), S(2));
    th_input(h, &d);
    d = dupack(h);
    th_add_sack(&d, S(1), S(3));
    th_input(h, &d);
    EXPECT_CTR(h, tcp_fast_retransmits, 0);
    th_fire(h); /* the PTO: probe = last segment */
    EXPECT_CTR(h, tcp_tlp_probes, 1);
    EXPECT_ONE(h, TH_F_ACK | TH_F_PSH, S(2), TH_RCV(0), MSS);
    d = dupack(h);
    d.wnd += 8; /* the peer's application read: not an RFC 5681 dupack */
    th_add_sack(&d, S(1), S(3));
    th_input(h, &d);
    EXPECT_CTR(h, tcp_fast_retransmits, 1);
    CHECK(h->t.flags & SL_TF_IN_RECOVERY);
    CHECK(h->out.n >= 1 && SEG(h, 0).seq == S(0));
}

/* RFC 2018 / RFC 6675 with SACK: segments S0 and S3 of ten are lost. The
 * scoreboard follows the SACK blocks, recovery starts when more than
 * (DupThresh-1)*SMSS is SACKed (IsLost), cwnd = ssthresh = FlightSize/2,
 * holes are retransmitted in order as pipe < cwnd allows, and recovery ends
 * with the ACK that covers "recover". */
static void test_sack_recovery(void)
{
    struct th *h = est(true, 0, 10 * TH_MS);
    th_write(h, 10 * MSS);
    th_output(h);
    EXPECT_NSEG(h, 10);
    static const unsigned arrive[] = {1, 2, 4, 5, 6, 7, 8, 9};
    uint32_t rexmit_seq[4];
    unsigned nrex = 0;
    for (unsigned k = 0; k < 8; k++) {
        unsigned i = arrive[k];
        struct sl_tcp_seg d = dupack(h);
        if (i >= 4)
            th_add_sack(&d, S(4), S(i + 1));
        th_add_sack(&d, S(1), S(i < 3 ? i + 1 : 3));
        th_input(h, &d);
        for (unsigned j = 0; j < h->out.n && nrex < 4; j++)
            rexmit_seq[nrex++] = SEG(h, j).seq;
        if (k == 1) {
            CHECK_EQ(h->t.n_sacked, 1);
            CHECK_EQ(h->t.sacked[0].left, S(1));
            CHECK_EQ(h->t.sacked[0].right, S(3));
            CHECK_EQ(h->t.flags & SL_TF_IN_RECOVERY, 0); /* 2 SMSS SACKed: not > */
        }
        if (k == 2) {
            CHECK(h->t.flags & SL_TF_IN_RECOVERY);
            CHECK_EQ(h->t.ssthresh, 5 * MSS);
            CHECK_EQ(h->t.cwnd, 5 * MSS);
            EXPECT_CTR(h, tcp_fast_retransmits, 1);
        }
    }
    CHECK_EQ(h->t.n_sacked, 2);
    CHECK_EQ(h->t.sacked[1].left, S(4));
    CHECK_EQ(h->t.sacked[1].right, S(10));
    CHECK_EQ(nrex, 2);
    if (nrex == 2) { /* the holes, in order, once each */
        CHECK_EQ(rexmit_seq[0], S(0));
        CHECK_EQ(rexmit_seq[1], S(3));
    }
    CHECK_EQ(h->t.high_rxt, S(4));
    CHECK_EQ(h->t.retrans_total, 2);

    /* The retransmitted S0 arrives: partial ACK up to the next hole. */
    struct sl_tcp_seg a = th_ack(h, S(3));
    th_add_sack(&a, S(4), S(10));
    th_input(h, &a);
    EXPECT_NONE(h);
    CHECK(h->t.flags & SL_TF_IN_RECOVERY);
    CHECK_EQ(h->t.n_sacked, 1);
    /* The retransmitted S3: everything, recovery over. */
    a = th_ack(h, S(10));
    th_input(h, &a);
    CHECK_EQ(h->t.flags & SL_TF_IN_RECOVERY, 0);
    CHECK_EQ(h->t.n_sacked, 0);
    CHECK_EQ(h->t.snd_una, S(10));
    CHECK_EQ(h->t.t_rexmt, 0);
    CHECK(h->t.cwnd <= h->t.ssthresh);
}

/* RFC 6675 5 / docs/architecture.md: a cumulative ACK that also SACKs more
 * than 2 SMSS above the new SND.UNA (coalesced ACKs) starts recovery too. */
static void test_sack_recovery_on_stretch_ack(void)
{
    struct th *h = est(true, 0, 10 * TH_MS);
    th_write(h, 10 * MSS);
    th_output(h);
    struct sl_tcp_seg a = th_ack(h, S(1));
    th_add_sack(&a, S(3), S(7));
    th_input(h, &a);
    CHECK(h->t.flags & SL_TF_IN_RECOVERY);
    CHECK(h->out.n >= 1);
    if (h->out.n >= 1)
        EXPECT_SEG(h, 0, TH_F_ACK | TH_F_PSH, S(1), TH_RCV(0), MSS);
    EXPECT_CTR(h, tcp_fast_retransmits, 1);
}

/* RFC 2018 / RFC 6675: SACK blocks outside (SND.UNA, SND.MAX] or with
 * left >= right are ignored; a block reaching below SND.UNA is clipped. */
static void test_bogus_sack_blocks(void)
{
    struct th *h = est(true, 0, 10 * TH_MS);
    th_write(h, 10 * MSS);
    th_output(h);
    struct sl_tcp_seg d = dupack(h);
    th_add_sack(&d, S(10), S(10) + 1000);  /* beyond SND.MAX */
    th_add_sack(&d, S(0) - 2000, S(0));    /* at/below SND.UNA */
    th_add_sack(&d, S(5), S(2));           /* left > right */
    th_add_sack(&d, S(2), S(2));           /* empty */
    th_input(h, &d);
    CHECK_EQ(h->t.n_sacked, 0);
    EXPECT_NONE(h);
    d = dupack(h);
    th_add_sack(&d, S(9), S(10) + 1);              /* one byte past SND.MAX */
    th_add_sack(&d, S(0) - 1u - (1u << 31), S(1)); /* left > right in seq space */
    th_input(h, &d);
    CHECK_EQ(h->t.n_sacked, 0);

    struct th *g = est(true, 0, 10 * TH_MS);
    th_write(g, 10 * MSS);
    th_output(g);
    d = dupack(g);
    th_add_sack(&d, S(9), S(10));      /* exactly up to SND.MAX: taken */
    th_add_sack(&d, S(0) - 500, S(1)); /* reaches below SND.UNA: clipped */
    th_input(g, &d);
    CHECK_EQ(g->t.n_sacked, 2);
    CHECK_EQ(g->t.sacked[0].left, S(0));
    CHECK_EQ(g->t.sacked[0].right, S(1));
    CHECK_EQ(g->t.sacked[1].left, S(9));
    CHECK_EQ(g->t.sacked[1].right, S(10));
}

/* Scoreboard bookkeeping: overlapping and adjacent blocks merge; ACKs
 * remove what they cover. */
static void test_sack_scoreboard_merge(void)
{
    struct th *h = est(true, 0, 10 * TH_MS);
    th_write(h, 10 * MSS);
    th_output(h);
    struct sl_tcp_seg d = dupack(h);
    th_add_sack(&d, S(6), S(7));
    th_add_sack(&d, S(2), S(3));
    th_input(h, &d);
    CHECK_EQ(h->t.n_sacked, 2);
    CHECK_EQ(h->t.sacked[0].left, S(2));
    CHECK_EQ(h->t.sacked[1].left, S(6));
    d = dupack(h);
    th_add_sack(&d, S(3), S(6)); /* bridges both */
    th_input(h, &d);
    CHECK_EQ(h->t.n_sacked, 1);
    CHECK_EQ(h->t.sacked[0].left, S(2));
    CHECK_EQ(h->t.sacked[0].right, S(7));
    struct sl_tcp_seg a = th_ack(h, S(4));
    th_input(h, &a);
    CHECK_EQ(h->t.n_sacked, 1);
    CHECK_EQ(h->t.sacked[0].left, S(4));
    a = th_ack(h, S(8));
    th_input(h, &a);
    CHECK_EQ(h->t.n_sacked, 0);
}

/* RFC 6298 5.4 + RFC 6675 5.1 / RFC 2018 8: after an RTO the sender goes
 * back to SND.UNA, but data the receiver SACKs again afterwards is not sent
 * a second time. */
static void test_rto_go_back_n_skips_sacked(void)
{
    struct th *h = est(true, 0, 10 * TH_MS);
    h->t.flags |= SL_TF_NO_TLP; /* this test is about the RTO itself */
    th_write(h, 10 * MSS);
    th_output(h);
    /* The receiver got S2..S4 only; everything else was lost. */
    bool have[10] = {false, false, true, true, true};
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK, S(0), TH_RCV(0), MSS);
    CHECK_EQ(h->t.n_sacked, 0);
    bool resent_sacked = false;
    for (int step = 0; step < 30 && h->t.snd_una != S(10); step++) {
        for (unsigned i = 0; i < h->out.n; i++) {
            for (unsigned k = 0; k < 10; k++) {
                if (SEG(h, i).len && SEG(h, i).seq == S(k)) {
                    if (k >= 2 && k < 5)
                        resent_sacked = true;
                    have[k] = true;
                }
            }
        }
        unsigned first = 0;
        while (first < 10 && have[first])
            first++;
        struct sl_tcp_seg a = th_ack(h, S(first));
        if (first < 2)
            th_add_sack(&a, S(2), S(5));
        if (h->out.n == 0)
            th_fire(h);
        else
            th_input(h, &a);
    }
    CHECK(!resent_sacked);
    CHECK_EQ(h->t.snd_una, S(10));
}

/* ---- long transfers (GSO super-segments, payload not copied) ---- */

/* Sends and ACKs (whole flights, no loss) until `total` bytes beyond ISS
 * are acknowledged. Returns false if cwnd ever shrank. */
static bool bulk_until(struct th *h, uint64_t total, uint64_t *acked)
{
    bool monotonic = true;
    uint32_t prev = h->t.cwnd;
    while (*acked < total) {
        if (h->t.snd_end - h->t.snd_una < (8u << 20))
            th_queue(h, 8u << 20);
        th_output(h);
        if (h->out.n == 0)
            break;
        th_advance(h, 1 * TH_MS);
        uint32_t before = h->t.snd_una;
        struct sl_tcp_seg a = th_ack(h, h->t.snd_max);
        th_input_only(h, &a);
        *acked += h->t.snd_una - before;
        if (h->t.cwnd < prev)
            monotonic = false;
        prev = h->t.cwnd;
    }
    return monotonic;
}

/* RFC 6582 3.2 step 1: fast retransmit needs SEG.ACK > recover, and recover
 * starts at ISS. After more than 2^31 bytes without loss, "ack > recover"
 * is false in sequence arithmetic and three duplicate ACKs do nothing: the
 * loss waits for an RTO. "recover" must follow SND.UNA when it falls
 * behind. */
/* Three duplicate ACKs on a copy of the connection (the tcb is a value):
 * did they start a fast retransmit? */
static bool fast_retransmits_now(const struct th *h)
{
    struct th *c = th_new(&h->cfg);
    c->t = h->t;
    c->now = h->now;
    c->peer = h->peer;
    c->peer_tsecr = h->peer_tsecr;
    th_queue(c, 1u << 20);
    th_output(c);
    CHECK(c->out.n > 0);
    unsigned frx = 0;
    for (int i = 0; i < 3; i++) {
        struct sl_tcp_seg d = dupack(c);
        th_input(c, &d);
        frx += (unsigned)th_ctr(c, SL_CTR_tcp_fast_retransmits);
    }
    return frx == 1;
}

static void test_recover_wraparound(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.gso = true;
    struct th *h = th_new(&cfg);
    struct th_peer p = th_peer_full();
    p.wnd = 65535; /* 8 MiB */
    th_open_active(h, &p, 1 * TH_MS);
    uint64_t acked = 0;
    bulk_until(h, 1ull << 30, &acked);
    CHECK(fast_retransmits_now(h)); /* control: 1 GiB in, it works */
    bulk_until(h, 0x90000000ull, &acked);
    CHECK(acked >= 0x90000000ull);
    FIXED_BUG(fast_retransmits_now(h),
              "after 2^31 bytes without loss, 3 duplicate ACKs no longer trigger fast "
              "retransmit: 'recover' stays at ISS and SEG.ACK > recover is false in "
              "sequence arithmetic (RFC 6582 3.2 step 1)");
}

/* cwnd is a 32-bit byte count; with ssthresh "arbitrarily high" slow start
 * adds every acked byte, also when cwnd is not what limits sending (the
 * peer's window is): after 4 GiB without loss cwnd wraps around to a few
 * KB. RFC 5681 3.1 / RFC 7661: cwnd should not grow without bound while
 * not cwnd-limited. */
static void test_cwnd_no_overflow(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.gso = true;
    struct th *h = th_new(&cfg);
    struct th_peer p = th_peer_full();
    p.wnd = 65535;
    th_open_active(h, &p, 1 * TH_MS);
    uint64_t acked = 0;
    bool mono = bulk_until(h, 0x110000000ull, &acked);
    CHECK(acked >= 0x110000000ull);
    FIXED_BUG(mono, "cwnd (uint32 bytes) grows by every acked byte in slow start while "
                    "rwnd-limited and wraps around after ~4 GiB without loss (RFC 5681 3.1, "
                    "RFC 7661)");
}

/* ---- CUBIC (RFC 9438) ---- */

/* One round trip of a bulk transfer on the virtual clock: everything in
 * flight is ACKed (two segments per ACK), then everything cwnd allows is
 * sent. */
static void cubic_round(struct th *h, uint64_t rtt)
{
    th_advance(h, rtt);
    while (h->t.snd_una != h->t.snd_max) {
        uint32_t next = h->t.snd_una + 2 * MSS;
        if (sl_seq_gt(next, h->t.snd_max))
            next = h->t.snd_max;
        struct sl_tcp_seg a = th_ack(h, next);
        th_input_only(h, &a);
    }
    for (;;) {
        if (h->t.snd_end - h->t.snd_una < (4u << 20))
            th_queue(h, 4u << 20);
        th_output(h);
        if (h->out.n == 0)
            break;
    }
}

/* RFC 9438 4.6: on loss ssthresh = cwnd * beta_cubic (0.7), W_max = cwnd;
 * 4.2: in congestion avoidance cwnd follows W_cubic(t) = C (t - K)^3 +
 * W_max, K = cbrt(W_max (1 - beta) / C): concave growth up to W_max at
 * t = K, then convex. */
static void test_cubic(void)
{
    const uint64_t rtt = 100 * TH_MS;
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.cc = 1;
    cfg.sndbuf = 1u << 23;
    struct th *h = th_new(&cfg);
    struct th_peer p = th_peer_full();
    p.wnd = 65535; /* 8 MiB */
    th_open_active(h, &p, rtt);
    CHECK_EQ(h->t.cc, 1);

    /* Slow start to about 1000 segments. */
    th_queue(h, 4u << 20);
    th_output(h);
    for (int r = 0; r < 20 && h->t.cwnd < 1000 * MSS; r++)
        cubic_round(h, rtt);
    CHECK(h->t.cwnd >= 1000 * MSS);

    /* A loss: the first segment of the flight. SACKed dupacks. */
    th_advance(h, rtt);
    uint32_t una = h->t.snd_una, max = h->t.snd_max;
    uint32_t w = h->t.cwnd;
    bool entered = false;
    for (uint32_t s = una + 2 * MSS; sl_seq_le(s, max); s += MSS) {
        struct sl_tcp_seg d = th_ack(h, una);
        th_add_sack(&d, una + MSS, s);
        th_input(h, &d);
        if (!entered && (h->t.flags & SL_TF_IN_RECOVERY)) {
            entered = true;
            CHECK_EQ(h->t.ssthresh, (uint32_t)(w * 0.7));
            CHECK_EQ(h->t.cwnd, h->t.ssthresh);
            CHECK_EQ(h->t.cub_wmax, w);
        }
        if (!entered)
            w = h->t.cwnd;
    }
    CHECK(entered);
    uint32_t wmax = h->t.cub_wmax;
    cubic_round(h, rtt); /* the retransmission arrives: everything ACKed */
    CHECK_EQ(h->t.flags & SL_TF_IN_RECOVERY, 0);
    CHECK(h->t.cwnd >= h->t.ssthresh * 9 / 10);

    /* Congestion avoidance along the cubic curve. */
    double k = cbrt((double)wmax / MSS * 0.3 / 0.4); /* seconds */
    int kr = (int)(k * 1e6 / (double)rtt);           /* rounds to K */
    uint32_t cw[400];
    int nr = kr + 30;
    if (nr > 400)
        nr = 400;
    bool mono = true;
    for (int r = 0; r < nr; r++) {
        cubic_round(h, rtt);
        cw[r] = h->t.cwnd;
        if (r && cw[r] < cw[r - 1])
            mono = false;
    }
    CHECK(mono);
    CHECK(cw[kr / 2] > (uint32_t)(0.7 * wmax) && cw[kr / 2] < wmax);
    CHECK(fabs((double)cw[kr - 1] - wmax) < 0.05 * wmax);       /* plateau at W_max */
    uint32_t early = cw[2] - cw[1], plateau = cw[kr] - cw[kr - 1];
    uint32_t late = cw[nr - 1] - cw[nr - 2];
    CHECK(early > plateau);                                     /* concave */
    CHECK(late > plateau);                                      /* convex */
    CHECK(cw[nr - 1] > wmax);                                   /* probing beyond W_max */
}

int main(void)
{
    RUN(test_newreno_fast_retransmit);
    RUN(test_newreno_full_ack_nothing_in_flight);
    RUN(test_ssthresh_floor);
    RUN(test_no_fast_retransmit_after_rto);
    RUN(test_fast_retransmit_after_rto_recovered);
    RUN(test_tlp_with_sacked_data_starts_recovery);
    RUN(test_sack_recovery);
    RUN(test_sack_recovery_on_stretch_ack);
    RUN(test_bogus_sack_blocks);
    RUN(test_sack_scoreboard_merge);
    RUN(test_rto_go_back_n_skips_sacked);
    RUN(test_recover_wraparound);
    RUN(test_cwnd_no_overflow);
    RUN(test_cubic);
    return check_finish("test_tcp_recovery");
}
