/* SYN cookies (RFC 4987 3.6): the stateless SYN-ACK, validation of the
 * returning ACK, and the connection rebuilt from it, with the options that
 * survive (MSS always; window scale and SACK through TSecr when timestamps
 * are in use). */
#include "tcp_harness.h"

static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void test_cookie_make_check(void)
{
    uint64_t now = TH_T0;
    uint32_t c = sl_tcp_cookie_make(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, 1460, now);
    uint16_t mss = 0;
    CHECK(sl_tcp_cookie_check(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, c, now, &mss));
    CHECK_EQ(mss, 1460);
    /* the largest table MSS not above the peer's */
    uint32_t c2 = sl_tcp_cookie_make(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, 1450, now);
    CHECK(sl_tcp_cookie_check(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, c2, now, &mss));
    CHECK_EQ(mss, 1440);
    /* another 4-tuple, another key, a flipped bit: rejected */
    CHECK(!sl_tcp_cookie_check(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT + 1, c, now, &mss));
    uint8_t k2[16] = {0};
    CHECK(!sl_tcp_cookie_check(k2, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, c, now, &mss));
    for (int bit = 3; bit < 32; bit++)
        CHECK(!sl_tcp_cookie_check(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, c ^ (1u << bit),
                                   now, &mss));
    /* valid in its 64 s slot and the next, not after */
    CHECK(sl_tcp_cookie_check(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, c, now + 64 * TH_SEC,
                              &mss));
    CHECK(!sl_tcp_cookie_check(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, c,
                               now + 129 * TH_SEC, &mss));
}

/* The cookie SYN-ACK mirrors a normal one (ISS = cookie) and its TSval's low
 * 5 bits carry WS and SACK; the ACK that echoes them rebuilds the
 * connection in ESTABLISHED with the same options. */
static void test_cookie_handshake_with_ts(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_begin(h);
    uint32_t cookie = sl_tcp_cookie_make(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, 1460, h->now);
    sl_tcp_cookie_synack(&cfg, h->now, TH_LADDR, TH_RADDR, &syn, cookie, &h->out);
    if (EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, cookie, TH_IRS + 1, 0)) {
        const struct sl_tcp_opts *o = &SEG(h, 0).opts;
        CHECK_EQ(o->has_mss, 1);
        CHECK_EQ(o->has_wscale, 1);
        CHECK_EQ(o->sack_perm, 1);
        CHECK_EQ(o->has_ts, 1);
        CHECK_EQ(o->tsecr, syn.opts.tsval);
        CHECK_EQ(o->tsval & 31u, (7u << 1) | 1u); /* peer WS 7, SACK */
    }
    uint32_t synack_tsval = SEG(h, 0).opts.tsval;

    th_advance(h, 10 * TH_MS);
    struct sl_tcp_seg ack = th_seg(h, TH_F_ACK, TH_IRS + 1, cookie + 1, 0);
    ack.opts.has_ts = 1;
    ack.opts.tsecr = synack_tsval;
    uint16_t mss;
    CHECK(sl_tcp_cookie_check(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, ack.ack - 1, h->now, &mss));
    th_begin(h);
    sl_tcp_cookie_open(&h->t, &cfg, h->now, TH_LADDR, TH_RADDR, &ack, mss, &h->b, &h->out);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK(h->out.events & SL_TEV_CONNECTED);
    CHECK_EQ(h->t.snd_una, cookie + 1);
    CHECK_EQ(h->t.rcv_nxt, TH_IRS + 1);
    CHECK_EQ(h->t.snd_wscale, 7);
    CHECK(h->t.flags & SL_TF_SACK_OK);
    CHECK(h->t.flags & SL_TF_TS_OK);
    CHECK(h->t.flags & SL_TF_WS_OK);
    CHECK_EQ(h->t.snd_mss, 1448);
    CHECK_EQ(h->t.snd_wnd, (uint32_t)h->peer.wnd << 7);
    /* our next TSval does not go backwards from the one the peer echoed */
    CHECK((int32_t)((uint32_t)(h->now / 1000) + h->t.ts_offset - synack_tsval) >= 0);
}

/* Without timestamps nothing but the MSS survives: no WS, no SACK offered. */
static void test_cookie_handshake_without_ts(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_bare();
    h->peer.mss = 1400;
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_begin(h);
    uint32_t cookie = sl_tcp_cookie_make(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, 1400, h->now);
    sl_tcp_cookie_synack(&cfg, h->now, TH_LADDR, TH_RADDR, &syn, cookie, &h->out);
    if (EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, cookie, TH_IRS + 1, 0)) {
        CHECK_EQ(SEG(h, 0).opts.has_wscale, 0);
        CHECK_EQ(SEG(h, 0).opts.sack_perm, 0);
        CHECK_EQ(SEG(h, 0).opts.has_ts, 0);
    }
    struct sl_tcp_seg ack = th_seg(h, TH_F_ACK, TH_IRS + 1, cookie + 1, 0);
    uint16_t mss;
    CHECK(sl_tcp_cookie_check(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, ack.ack - 1, h->now, &mss));
    CHECK_EQ(mss, 1400);
    th_begin(h);
    sl_tcp_cookie_open(&h->t, &cfg, h->now, TH_LADDR, TH_RADDR, &ack, mss, &h->b, &h->out);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(h->t.snd_mss, 1400);
    CHECK_EQ(h->t.flags & (SL_TF_SACK_OK | SL_TF_TS_OK | SL_TF_WS_OK), 0);
    /* data flows both ways */
    th_write(h, 3000);
    th_output(h);
    CHECK(h->out.n >= 2);
    struct sl_tcp_seg d = th_data(h, 0, 100);
    th_input(h, &d);
    CHECK_EQ(th_read(h, 100), 100);
}

int main(void)
{
    RUN(test_cookie_make_check);
    RUN(test_cookie_handshake_with_ts);
    RUN(test_cookie_handshake_without_ts);
    return check_finish("test_tcp_syncookie");
}
