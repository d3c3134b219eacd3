/* TCP engine, segment level: option negotiation (RFC 9293 3.7.1, RFC 7323,
 * RFC 2018), path MTU (RFC 5927, RFC 1191) and ISNs (RFC 6528). */
#include <string.h>

#include "tcp_harness.h"

static struct th *passive_with(const struct sl_tcp_cfg *cfg, const struct th_peer *p)
{
    struct th *h = th_new(cfg);
    th_open_passive(h, p, 10 * TH_MS);
    return h;
}

/* RFC 7323 2.3: "If a Window Scale option is received with a shift.cnt
 * value larger than 14, the TCP SHOULD log the error but MUST use 14". */
static void test_wscale_clamped(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th_peer p = th_peer_full();
    p.wscale = 15;
    p.wnd = 1;
    struct th *h = passive_with(&cfg, &p);
    CHECK_EQ(h->t.snd_wscale, 14);
    CHECK_EQ(h->t.snd_wnd, 1u << 14);

    p.wscale = 14;
    struct th *g = passive_with(&cfg, &p);
    CHECK_EQ(g->t.snd_wscale, 14);

    struct th *a = th_new(&cfg); /* active side, SYN-ACK with 200 */
    th_connect(a);
    a->peer = th_peer_full();
    a->peer.wscale = 200;
    struct sl_tcp_seg sa = th_syn(a, TH_F_ACK, TH_IRS, TH_ISS + 1);
    th_input(a, &sa);
    CHECK_EQ(a->t.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(a->t.snd_wscale, 14);
}

/* RFC 7323 2.2/2.3: our shift is the smallest that lets the window field
 * cover the receive buffer, at most 14; the SYN's own window is never
 * scaled (at most 65535). Rings are not touched by open. */
static void test_our_wscale(void)
{
    static const struct { uint32_t buf; uint8_t ws; } cases[] = {
        {4096, 0}, {65536, 1}, {1u << 20, 5}, {1u << 24, 9}, {1u << 30, 14}, {1u << 31, 14}};
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_tcp_cfg cfg = th_cfg();
        cfg.rcvbuf = cases[i].buf;
        struct sl_tcb t;
        struct sl_tcp_out out;
        memset(&out, 0, sizeof(out));
        sl_tcp_open_active(&t, &cfg, TH_T0, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, TH_ISS,
                           TH_TSOFF, &out);
        CHECK_EQ(out.n, 1);
        CHECK_EQ(out.seg[0].opts.has_wscale, 1);
        CHECK_EQ(out.seg[0].opts.wscale, cases[i].ws);
        /* RFC 7323 2.2: unscaled, and a multiple of our scale so that the scaled
         * windows that follow never exceed it (as Linux rounds it) */
        CHECK_EQ(out.seg[0].wnd, ((cases[i].buf > 65535 ? 65535 : cases[i].buf) >> cases[i].ws)
                                     << cases[i].ws);
    }
}

/* RFC 7323 2.3: after the handshake our window field is the window shifted
 * right by Rcv.Wind.Shift. */
static void test_receive_window_scaled(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.rcvbuf = 262144;
    struct th *h = th_new(&cfg);
    struct th_peer p = th_peer_full();
    th_open_active(h, &p, 10 * TH_MS);
    CHECK_EQ(h->t.rcv_wscale, 3);
    CHECK_EQ(SEG(h, 0).wnd, 262144 >> 3);
    CHECK_EQ(h->t.rcv_adv, TH_RCV(262144));
    /* The peer may fill all of it. */
    for (uint32_t off = 0; off < 262144; off += 65536) {
        struct sl_tcp_seg d = th_data(h, off, 65536);
        th_input(h, &d);
    }
    CHECK_EQ(h->t.rcv_nxt, TH_RCV(262144));
    EXPECT_CTR(h, drop_tcp_rcv_overflow, 0);
}

/* RFC 9293 3.7.1: Eff.snd.MSS = min(SendMSS + 20, MMS_S) - 20 - options;
 * RFC 6691: the TS option's 12 bytes come off every segment. A peer MSS
 * below 64 is raised to 64 (engine policy, RFC 9293 MUST-16 permits). */
static void test_mss_negotiation(void)
{
    static const struct { uint16_t peer; bool ts; uint16_t want; } cases[] = {
        {1000, true, 988}, {1000, false, 1000}, {9000, true, 1448}, {9000, false, 1460},
        {10, false, 64}, {0, false, 536}, {0, true, 524}};
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_tcp_cfg cfg = th_cfg();
        struct th_peer p = th_peer_full();
        p.mss = cases[i].peer;
        p.ts = cases[i].ts;
        struct th *h = passive_with(&cfg, &p);
        CHECK_EQ(h->t.snd_mss, cases[i].want);
        /* Data segments never exceed it. */
        th_write(h, 5000);
        th_output(h);
        CHECK(h->out.n >= 1);
        for (unsigned k = 0; k < h->out.n; k++)
            CHECK(SEG(h, k).len <= cases[i].want);
        CHECK_EQ(SEG(h, 0).len, cases[i].want);
    }
    /* The MSS we announce is the configured one. */
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.mss = 1200;
    struct th *h = th_new(&cfg);
    th_connect(h);
    CHECK_EQ(SEG(h, 0).opts.mss, 1200);
}

/* RFC 2018 2: SACK only if both sides sent SACK-permitted. Without it no
 * SACK blocks go out and incoming ones are ignored. */
static void test_sack_negotiation(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th_peer p = th_peer_full();
    p.sack = false;
    struct th *h = passive_with(&cfg, &p);
    CHECK_EQ(h->t.flags & SL_TF_SACK_OK, 0);
    struct sl_tcp_seg d = th_data(h, 3000, 100);
    th_input(h, &d);
    if (EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 0))
        CHECK_EQ(SEG(h, 0).opts.nsack, 0);
    th_write(h, 5 * 1448);
    th_output(h);
    struct sl_tcp_seg a = th_ack(h, TH_SND(0));
    th_add_sack(&a, TH_SND(1448), TH_SND(2896));
    th_input(h, &a);
    CHECK_EQ(h->t.n_sacked, 0);

    cfg.no_sack = true; /* we do not offer it, the peer does */
    struct th *g = th_new(&cfg);
    g->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(g, 0, TH_IRS, 0);
    th_accept(g, &syn);
    CHECK_EQ(SEG(g, 0).opts.sack_perm, 0);
    CHECK_EQ(g->t.flags & SL_TF_SACK_OK, 0);
}

/* RFC 7323 3.2: TS only when both SYNs carried it. cfg.no_ts: we do not
 * offer it; the peer's TSopt is ignored and never echoed. */
static void test_ts_negotiation(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.no_ts = true;
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_accept(h, &syn);
    CHECK_EQ(SEG(h, 0).opts.has_ts, 0);
    CHECK_EQ(h->t.snd_mss, 1460);
    struct sl_tcp_seg a = th_ack(h, TH_ISS + 1);
    a.opts.has_ts = 1; /* the peer keeps sending them */
    a.opts.tsval = 12345;
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    th_write(h, 100);
    th_output(h);
    if (EXPECT_NSEG(h, 1))
        CHECK_EQ(SEG(h, 0).opts.has_ts, 0);

    /* Active: our SYN has TS, the SYN-ACK has none: no TS afterwards. */
    struct sl_tcp_cfg c2 = th_cfg();
    struct th *g = th_new(&c2);
    th_connect(g);
    CHECK_EQ(SEG(g, 0).opts.has_ts, 1);
    g->peer = th_peer_full();
    g->peer.ts = false;
    struct sl_tcp_seg sa = th_syn(g, TH_F_ACK, TH_IRS, TH_ISS + 1);
    th_input(g, &sa);
    if (EXPECT_NSEG(g, 1))
        CHECK_EQ(SEG(g, 0).opts.has_ts, 0);
    CHECK_EQ(g->t.snd_mss, 1460);

    /* RFC 7323 5.4: TSval = our ms clock + a per-connection offset. */
    struct th_peer pf = th_peer_full();
    struct th *m = passive_with(&c2, &pf);
    th_write(m, 10);
    th_output(m);
    uint32_t t1 = SEG(m, 0).opts.tsval;
    CHECK_EQ(t1, th_tsval(m));
    th_advance(m, 1234 * TH_MS);
    th_fire(m);
    CHECK_EQ(SEG(m, 0).opts.tsval - t1, 1234);
}

/* RFC 7323 2.2: no window scaling unless both sides sent WS. */
static void test_ws_negotiation(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.no_ws = true;
    cfg.rcvbuf = 262144;
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    h->peer.wnd = 1000;
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_accept(h, &syn);
    CHECK_EQ(SEG(h, 0).opts.has_wscale, 0);
    CHECK_EQ(h->t.rcv_wscale, 0);
    CHECK_EQ(h->t.snd_wscale, 0);
    struct sl_tcp_seg a = th_ack(h, TH_ISS + 1);
    th_input(h, &a);
    CHECK_EQ(h->t.snd_wnd, 1000); /* the peer's field, unscaled */
    /* A 256 KiB buffer behind an unscaled field: the window the field can
     * carry is 65535 and it is already offered, so a small segment is
     * ACKed the normal way (delayed), not with an immediate "window
     * update" that cannot move the right edge (RFC 7323 2.3). */
    struct sl_tcp_seg d = th_data(h, 0, 100);
    th_input(h, &d);
    EXPECT_NONE(h);
    CHECK(h->t.t_delack != 0);
    th_fire(h);
    if (EXPECT_NSEG(h, 1))
        CHECK_EQ(SEG(h, 0).wnd, 65535);
}

/* RFC 5927 4.1: an ICMP "packet too big" is believed only if the quoted
 * sequence number is in flight (SND.UNA =< SEG.SEQ < SND.NXT); RFC 1191 /
 * engine policy: an MTU below 576 or not below the current one is refused.
 * An accepted one lowers the send MSS (TS overhead included) and never
 * raises it. */
static void test_icmp_ptb(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.no_tlp = true; /* the retransmission below is the RTO's */
    struct th_peer p = th_peer_full();
    struct th *h = passive_with(&cfg, &p);
    th_write(h, 3 * 1448);
    th_output(h);
    CHECK_EQ(h->t.snd_max, TH_SND(4344));

    CHECK_EQ(sl_tcp_icmp_ptb(&h->t, TH_SND(0) - 1, 1000), SL_CTR_drop_icmp_ptb_bad_seq);
    CHECK_EQ(sl_tcp_icmp_ptb(&h->t, TH_SND(4344), 1000), SL_CTR_drop_icmp_ptb_bad_seq);
    CHECK_EQ(sl_tcp_icmp_ptb(&h->t, TH_SND(0) + 0x80000000u, 1000),
             SL_CTR_drop_icmp_ptb_bad_seq);
    CHECK_EQ(h->t.snd_mss, 1448);
    CHECK_EQ(sl_tcp_icmp_ptb(&h->t, TH_SND(100), 575), SL_CTR_drop_icmp_ptb_mtu);
    CHECK_EQ(sl_tcp_icmp_ptb(&h->t, TH_SND(100), 68), SL_CTR_drop_icmp_ptb_mtu);
    CHECK_EQ(sl_tcp_icmp_ptb(&h->t, TH_SND(100), 1500), SL_CTR_drop_icmp_ptb_mtu);
    CHECK_EQ(sl_tcp_icmp_ptb(&h->t, TH_SND(100), 9000), SL_CTR_drop_icmp_ptb_mtu);
    CHECK_EQ(h->t.snd_mss, 1448);
    CHECK_EQ(h->t.path_mss, 0);

    CHECK_EQ(sl_tcp_icmp_ptb(&h->t, TH_SND(4343), 1000), SL_CTR_icmp_frag_needed);
    CHECK_EQ(h->t.path_mss, 960);
    CHECK_EQ(h->t.snd_mss, 948);
    CHECK_EQ(sl_tcp_icmp_ptb(&h->t, TH_SND(0), 576), SL_CTR_icmp_frag_needed);
    CHECK_EQ(h->t.snd_mss, 524);
    CHECK_EQ(sl_tcp_icmp_ptb(&h->t, TH_SND(0), 1400), SL_CTR_icmp_frag_needed);
    CHECK_EQ(h->t.snd_mss, 524); /* never raised by an ICMP */

    /* The retransmission and new data use the smaller segments. */
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 524);
    struct sl_tcp_seg a = th_ack(h, TH_SND(4344));
    th_input(h, &a);
    th_write(h, 3000);
    th_output(h);
    CHECK(h->out.n >= 2);
    for (unsigned k = 0; k < h->out.n; k++)
        CHECK(SEG(h, k).len <= 524);
    CHECK_EQ(SEG(h, 0).len, 524);
}

/* Without TS the full path MSS is usable. */
static void test_icmp_ptb_no_ts(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th_peer p = th_peer_full();
    p.ts = false;
    struct th *h = passive_with(&cfg, &p);
    th_write(h, 100);
    th_output(h);
    CHECK_EQ(sl_tcp_icmp_ptb(&h->t, TH_SND(0), 1280), SL_CTR_icmp_frag_needed);
    CHECK_EQ(h->t.snd_mss, 1240);
    /* Nothing in flight: nothing to believe. */
    struct th *g = passive_with(&cfg, &p);
    CHECK_EQ(sl_tcp_icmp_ptb(&g->t, TH_SND(0), 1280), SL_CTR_drop_icmp_ptb_bad_seq);
}

/* RFC 6528 3: ISN = M + F(localip, localport, remoteip, remoteport, key),
 * M a 4 us clock, F a keyed hash: different for every 4-tuple and key, and
 * increasing with time (250000 per second) for the same tuple. */
static void test_isn(void)
{
    uint8_t k1[16], k2[16];
    for (int i = 0; i < 16; i++) {
        k1[i] = (uint8_t)(i * 17 + 1);
        k2[i] = (uint8_t)(i * 17 + 2);
    }
    const uint64_t t = 5000000000ull;
    uint32_t base = sl_tcp_isn(k1, TH_LADDR, 80, TH_RADDR, 40000, t);
    CHECK_EQ(sl_tcp_isn(k1, TH_LADDR, 80, TH_RADDR, 40000, t), base); /* deterministic */
    uint32_t v[6] = {
        base,
        sl_tcp_isn(k1, TH_LADDR, 80, TH_RADDR, 40001, t),
        sl_tcp_isn(k1, TH_LADDR, 81, TH_RADDR, 40000, t),
        sl_tcp_isn(k1, TH_LADDR, 80, TH_RADDR + 1, 40000, t),
        sl_tcp_isn(k1, TH_LADDR + 1, 80, TH_RADDR, 40000, t),
        sl_tcp_isn(k2, TH_LADDR, 80, TH_RADDR, 40000, t),
    };
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            CHECK(v[i] != v[j]);
    /* Swapping the two ends is another tuple. */
    CHECK(sl_tcp_isn(k1, TH_RADDR, 40000, TH_LADDR, 80, t) != base);
    CHECK_EQ(sl_tcp_isn(k1, TH_LADDR, 80, TH_RADDR, 40000, t + 4), base + 1);
    CHECK_EQ(sl_tcp_isn(k1, TH_LADDR, 80, TH_RADDR, 40000, t + TH_SEC), base + 250000);
    uint32_t prev = base;
    for (uint64_t dt = 1000; dt < 100 * TH_SEC; dt *= 3) {
        uint32_t x = sl_tcp_isn(k1, TH_LADDR, 80, TH_RADDR, 40000, t + dt);
        CHECK(sl_seq_gt(x, prev));
        prev = x;
    }
}

static void test_state_names(void)
{
    CHECK(strcmp(sl_tcp_state_name(SL_TCP_ESTABLISHED), "ESTABLISHED") == 0);
    CHECK(strcmp(sl_tcp_state_name(SL_TCP_TIME_WAIT), "TIME-WAIT") == 0);
    CHECK(strcmp(sl_tcp_state_name(SL_TCP__NSTATES), "?") == 0);
}

int main(void)
{
    RUN(test_wscale_clamped);
    RUN(test_our_wscale);
    RUN(test_receive_window_scaled);
    RUN(test_mss_negotiation);
    RUN(test_sack_negotiation);
    RUN(test_ts_negotiation);
    RUN(test_ws_negotiation);
    RUN(test_icmp_ptb);
    RUN(test_icmp_ptb_no_ts);
    RUN(test_isn);
    RUN(test_state_names);
    return check_finish("test_tcp_options");
}
