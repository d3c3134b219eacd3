/* TCP engine, segment level: closing (RFC 9293 3.6, 3.10.4, 3.10.5,
 * 3.10.7.4; RFC 6191 / RFC 1122 4.2.2.13 TIME-WAIT reuse). */
#include <errno.h>
#include <string.h>

#include "tcp_harness.h"

static struct th *est_cfg(const struct sl_tcp_cfg *cfg, const struct th_peer *p)
{
    struct th *h = th_new(cfg);
    struct th_peer pf = th_peer_full();
    th_open_passive(h, p ? p : &pf, 10 * TH_MS);
    return h;
}

static struct th *est(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    return est_cfg(&cfg, NULL);
}

static void app_close(struct th *h)
{
    th_begin(h);
    sl_tcp_close(&h->t, h->now, &h->out);
    sl_tcp_output(&h->t, &h->b, h->now, &h->out);
}

/* Active close to TIME-WAIT: returns the harness in TIME-WAIT after the
 * peer's FIN at RCV(0). */
static struct th *to_time_wait(const struct th_peer *p)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = est_cfg(&cfg, p);
    app_close(h);
    struct sl_tcp_seg a = th_ack(h, TH_SND(1));
    th_input(h, &a);
    struct sl_tcp_seg f = th_seg(h, TH_F_ACK | TH_F_FIN, TH_RCV(0), TH_SND(1), 0);
    th_input(h, &f);
    CHECK_EQ(h->t.state, SL_TCP_TIME_WAIT);
    return h;
}

/* RFC 9293 3.10.4 (CLOSE in ESTABLISHED: FIN, FIN-WAIT-1), 3.10.7.4 fifth
 * (FIN-WAIT-1: our FIN ACKed -> FIN-WAIT-2) and eighth (FIN in FIN-WAIT-2
 * -> TIME-WAIT, ACK it). Figure 13, normal close sequence. */
static void test_active_close(void)
{
    struct th *h = est();
    app_close(h);
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_1);
    if (EXPECT_ONE(h, TH_F_ACK | TH_F_FIN, TH_SND(0), TH_RCV(0), 0))
        CHECK_EQ(SEG(h, 0).opts.has_ts, 1);
    CHECK_EQ(h->t.snd_nxt, TH_SND(1));
    CHECK(h->t.t_rexmt != 0);
    CHECK_EQ(th_write(h, 10), 0); /* no more data after CLOSE */

    th_advance(h, 10 * TH_MS);
    struct sl_tcp_seg a = th_ack(h, TH_SND(1));
    th_input(h, &a);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_2);
    CHECK_EQ(h->t.t_rexmt, 0);
    /* Half-closed and still read by the application: no FIN-WAIT-2 timer. */
    CHECK_EQ(h->t.t_keep, 0);

    /* The peer may still send (half close). */
    struct sl_tcp_seg d = th_seg(h, TH_F_ACK, TH_RCV(0), TH_SND(1), 500);
    th_input(h, &d);
    CHECK(h->out.events & SL_TEV_READABLE);
    CHECK_EQ(th_read(h, 1000), 500);

    struct sl_tcp_seg f = th_seg(h, TH_F_ACK | TH_F_FIN, TH_RCV(500), TH_SND(1), 0);
    th_input(h, &f);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(1), TH_RCV(501), 0);
    CHECK_EQ(h->t.state, SL_TCP_TIME_WAIT);
    CHECK(h->out.events & SL_TEV_HUP);
    CHECK_EQ(h->t.t_keep, h->now + 2ull * SL_TCP_MSL_US);
    CHECK_EQ(h->t.t_rexmt, 0);
    CHECK_EQ(h->t.t_delack, 0);
}

/* RFC 9293 3.10.7.4: in FIN-WAIT-1 a segment with the ACK of our FIN and
 * the peer's FIN goes straight to TIME-WAIT. */
static void test_fin_ack_together(void)
{
    struct th *h = est();
    app_close(h);
    struct sl_tcp_seg f = th_seg(h, TH_F_ACK | TH_F_FIN, TH_RCV(0), TH_SND(1), 0);
    th_input(h, &f);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(1), TH_RCV(1), 0);
    CHECK_EQ(h->t.state, SL_TCP_TIME_WAIT);
}

/* RFC 9293 3.10.7.4 eighth (FIN in ESTABLISHED -> CLOSE-WAIT), 3.10.4
 * (CLOSE in CLOSE-WAIT -> LAST-ACK, FIN) and fifth (LAST-ACK: our FIN
 * ACKed -> CLOSED). */
static void test_passive_close(void)
{
    struct th *h = est();
    struct sl_tcp_seg f = th_seg(h, TH_F_ACK | TH_F_FIN, TH_RCV(0), TH_SND(0), 0);
    th_input(h, &f);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(1), 0);
    CHECK_EQ(h->t.state, SL_TCP_CLOSE_WAIT);
    CHECK_EQ(h->out.events & (SL_TEV_HUP | SL_TEV_READABLE), SL_TEV_HUP | SL_TEV_READABLE);
    CHECK_EQ(sl_tcp_readable(&h->t), 0);

    /* Still writable in CLOSE-WAIT. */
    th_write(h, 200);
    th_output(h);
    EXPECT_ONE(h, TH_F_ACK | TH_F_PSH, TH_SND(0), TH_RCV(1), 200);

    /* CLOSE: the FIN follows the data at once (Nagle never holds a FIN). */
    app_close(h);
    CHECK_EQ(h->t.state, SL_TCP_LAST_ACK);
    EXPECT_ONE(h, TH_F_ACK | TH_F_FIN, TH_SND(200), TH_RCV(1), 0);
    struct sl_tcp_seg a = th_seg(h, TH_F_ACK, TH_RCV(1), TH_SND(200), 0);
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_LAST_ACK);
    a = th_seg(h, TH_F_ACK, TH_RCV(1), TH_SND(201), 0);
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
}

/* The FIN is sent at once in LAST-ACK even with data in flight. */
static void test_passive_close_fin(void)
{
    struct th *h = est();
    struct sl_tcp_seg f = th_seg(h, TH_F_ACK | TH_F_FIN, TH_RCV(0), TH_SND(0), 0);
    th_input(h, &f);
    app_close(h);
    CHECK_EQ(h->t.state, SL_TCP_LAST_ACK);
    EXPECT_ONE(h, TH_F_ACK | TH_F_FIN, TH_SND(0), TH_RCV(1), 0);
    struct sl_tcp_seg a = th_seg(h, TH_F_ACK, TH_RCV(1), TH_SND(1), 0);
    th_input(h, &a);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, 0);
    CHECK(h->out.events & SL_TEV_CLOSED);
    CHECK_EQ(h->out.events & SL_TEV_ERROR, 0);
    EXPECT_CTR(h, tcp_closed, 1);
    CHECK_EQ(sl_tcp_next_deadline(&h->t), 0);
}

/* RFC 9293 3.6 figure 14 (simultaneous close): FIN-WAIT-1 receiving a FIN
 * that does not ACK ours -> CLOSING; the ACK of our FIN -> TIME-WAIT. */
static void test_simultaneous_close(void)
{
    struct th *h = est();
    app_close(h);
    EXPECT_ONE(h, TH_F_ACK | TH_F_FIN, TH_SND(0), TH_RCV(0), 0);
    struct sl_tcp_seg f = th_seg(h, TH_F_ACK | TH_F_FIN, TH_RCV(0), TH_SND(0), 0);
    th_input(h, &f);
    CHECK_EQ(h->t.state, SL_TCP_CLOSING);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(1), TH_RCV(1), 0);
    struct sl_tcp_seg a = th_seg(h, TH_F_ACK, TH_RCV(1), TH_SND(1), 0);
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_TIME_WAIT);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.t_keep, h->now + 2ull * SL_TCP_MSL_US);
}

/* RFC 9293 3.10.4: "queue the FIN after the data": a FIN rides on the last
 * data segment. */
static void test_fin_with_data(void)
{
    struct th *h = est();
    th_write(h, 100);
    app_close(h);
    EXPECT_ONE(h, TH_F_ACK | TH_F_PSH | TH_F_FIN, TH_SND(0), TH_RCV(0), 100);
    CHECK_EQ(h->t.snd_nxt, TH_SND(101));
    struct sl_tcp_seg a = th_ack(h, TH_SND(100)); /* data but not the FIN */
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_1);
    a = th_ack(h, TH_SND(101));
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_2);

    /* More data than the first flight: the FIN goes with the last byte. */
    struct th *g = est();
    th_write(g, 20000);
    app_close(g);
    CHECK_EQ(g->out.n, 10);
    for (unsigned i = 0; i < g->out.n; i++)
        CHECK_EQ(SEG(g, i).flags & TH_F_FIN, 0);
    uint32_t acked = 0;
    int fin_seen = 0;
    for (int round = 0; round < 10 && !fin_seen; round++) {
        acked = g->t.snd_nxt - (TH_ISS + 1);
        struct sl_tcp_seg ga = th_ack(g, TH_SND(acked));
        th_input(g, &ga);
        for (unsigned i = 0; i < g->out.n; i++) {
            if (SEG(g, i).flags & TH_F_FIN) {
                fin_seen = 1;
                CHECK_EQ(SEG(g, i).seq + SEG(g, i).len, TH_SND(20000));
                CHECK_EQ(i, g->out.n - 1);
            }
        }
    }
    CHECK(fin_seen);
    CHECK_EQ(g->t.snd_max, TH_SND(20001));
}

/* RFC 9293 3.10.7.4 / RFC 6298: the FIN is retransmitted like data. */
static void test_fin_retransmission(void)
{
    struct th *h = est();
    app_close(h);
    uint64_t sent = h->now;
    CHECK_EQ(h->t.t_rexmt, sent + 200 * TH_MS);
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK | TH_F_FIN, TH_SND(0), TH_RCV(0), 0);
    EXPECT_CTR(h, tcp_retransmits, 1);
    CHECK_EQ(h->t.backoff, 1);
    uint64_t first = h->now;
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK | TH_F_FIN, TH_SND(0), TH_RCV(0), 0);
    CHECK_EQ(h->now - first, 2 * (first - sent));
    struct sl_tcp_seg a = th_ack(h, TH_SND(1));
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_2);

    /* Data + FIN lost: the retransmission carries both. */
    struct th *g = est();
    th_write(g, 100);
    app_close(g);
    th_fire(g);
    EXPECT_ONE(g, TH_F_ACK | TH_F_PSH | TH_F_FIN, TH_SND(0), TH_RCV(0), 100);
}

/* RFC 9293 3.10.7.4 eighth, TIME-WAIT: "The only thing that can arrive in
 * this state is a retransmission of the remote FIN. Acknowledge it, and
 * restart the 2 MSL timeout." */
static void test_time_wait_fin_retransmission(void)
{
    struct th_peer p = th_peer_full();
    struct th *h = to_time_wait(&p);
    CHECK_EQ(h->t.t_keep, h->now + 2ull * SL_TCP_MSL_US);
    th_advance(h, 20 * TH_SEC);
    struct sl_tcp_seg f = th_seg(h, TH_F_ACK | TH_F_FIN, TH_RCV(0), TH_SND(1), 0);
    th_input(h, &f);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(1), TH_RCV(1), 0);
    CHECK_EQ(h->t.state, SL_TCP_TIME_WAIT);
    FIXED_BUG(h->t.t_keep == h->now + 2ull * SL_TCP_MSL_US,
              "TIME-WAIT: a retransmitted FIN (seq = RCV.NXT-1) is ACKed by the "
              "unacceptable-segment path and the 2 MSL timer is not restarted; the "
              "restart code after process_ack/process_fin is unreachable for it "
              "(RFC 9293 3.10.7.4 eighth)");
    /* Anything else in TIME-WAIT: a duplicate ACK is simply ACKed too. */
    struct sl_tcp_seg a = th_seg(h, TH_F_ACK, TH_RCV(1), TH_SND(1), 0);
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_TIME_WAIT);
}

/* RFC 9293 3.10.5 ABORT: in synchronized states <SEQ=SND.NXT><CTL=RST>;
 * nothing is sent from SYN-SENT or TIME-WAIT. */
static void test_abort(void)
{
    struct th *h = est();
    th_write(h, 100);
    th_output(h);
    th_begin(h);
    sl_tcp_abort(&h->t, h->now, &h->out);
    if (EXPECT_ONE(h, TH_F_RST, TH_SND(100), 0, 0))
        CHECK_EQ(SEG(h, 0).opts.has_ts, 0);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK(h->out.events & SL_TEV_CLOSED);
    EXPECT_CTR(h, tcp_rst_tx, 1);
    CHECK_EQ(sl_tcp_next_deadline(&h->t), 0);

    struct sl_tcp_cfg cfg = th_cfg();
    struct th *s = th_new(&cfg);
    th_connect(s);
    th_begin(s);
    sl_tcp_abort(&s->t, s->now, &s->out);
    EXPECT_NONE(s);
    CHECK_EQ(s->t.state, SL_TCP_CLOSED);

    struct th_peer p = th_peer_full();
    struct th *w = to_time_wait(&p);
    th_begin(w);
    sl_tcp_abort(&w->t, w->now, &w->out);
    EXPECT_NONE(w);
    CHECK_EQ(w->t.state, SL_TCP_CLOSED);
}

/* RFC 9293 3.10.4: CLOSE in SYN-SENT deletes the TCB; in SYN-RECEIVED the
 * FIN is queued until ESTABLISHED, then FIN-WAIT-1. */
static void test_close_while_opening(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    th_connect(h);
    app_close(h);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK(h->out.events & SL_TEV_CLOSED);

    struct th *g = th_new(&cfg);
    g->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(g, 0, TH_IRS, 0);
    th_accept(g, &syn);
    app_close(g);
    EXPECT_NONE(g);
    CHECK_EQ(g->t.state, SL_TCP_SYN_RCVD);
    struct sl_tcp_seg a = th_ack(g, TH_ISS + 1);
    th_input(g, &a);
    CHECK_EQ(g->t.state, SL_TCP_FIN_WAIT_1);
    EXPECT_ONE(g, TH_F_ACK | TH_F_FIN, TH_SND(0), TH_RCV(0), 0);
}

/* RFC 9293 3.10.7.4 second: an exact RST in CLOSING, LAST-ACK or TIME-WAIT
 * just closes; in CLOSE-WAIT (like ESTABLISHED) it is "connection reset". */
static void test_rst_in_closing_states(void)
{
    struct th *h = est();
    struct sl_tcp_seg f = th_seg(h, TH_F_ACK | TH_F_FIN, TH_RCV(0), TH_SND(0), 0);
    th_input(h, &f);
    CHECK_EQ(h->t.state, SL_TCP_CLOSE_WAIT);
    struct sl_tcp_seg r = th_seg(h, TH_F_RST, TH_RCV(1), 0, 0);
    th_input(h, &r);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, -ECONNRESET);

    struct th *g = est();
    f = th_seg(g, TH_F_ACK | TH_F_FIN, TH_RCV(0), TH_SND(0), 0);
    th_input(g, &f);
    app_close(g);
    CHECK_EQ(g->t.state, SL_TCP_LAST_ACK);
    r = th_seg(g, TH_F_RST, TH_RCV(1), 0, 0);
    th_input(g, &r);
    CHECK_EQ(g->t.state, SL_TCP_CLOSED);
    CHECK_EQ(g->t.err, 0);
    CHECK_EQ(g->out.events & SL_TEV_ERROR, 0);

    struct th_peer p = th_peer_full();
    struct th *w = to_time_wait(&p);
    r = th_seg(w, TH_F_RST, TH_RCV(1), 0, 0);
    th_input(w, &r);
    CHECK_EQ(w->t.state, SL_TCP_CLOSED);
    CHECK_EQ(w->t.err, 0);
}

/* RFC 6191 4.2 / RFC 1122 4.2.2.13: a new SYN may reopen a TIME-WAIT
 * connection if its timestamp is newer (both use TS), or without
 * timestamps if its sequence number is above the old RCV.NXT. */
static void test_time_wait_syn_reuse(void)
{
    struct th_peer p = th_peer_full();
    struct th *h = to_time_wait(&p);
    uint32_t rec = h->t.ts_recent;
    struct sl_tcp_seg s = th_syn(h, 0, TH_IRS - 1000, 0); /* lower seq on purpose */
    s.opts.tsval = rec + 1;
    CHECK(sl_tcp_tw_accept_syn(&h->t, &s));
    s.opts.tsval = rec - 1;
    CHECK(!sl_tcp_tw_accept_syn(&h->t, &s));
    s.seq = TH_RCV(100000);
    CHECK(!sl_tcp_tw_accept_syn(&h->t, &s)); /* old TS: the higher seq does not help */
    s.opts.tsval = rec + 1;
    s.flags = TH_F_SYN | TH_F_ACK;
    CHECK(!sl_tcp_tw_accept_syn(&h->t, &s));
    s.flags = TH_F_SYN | TH_F_RST;
    CHECK(!sl_tcp_tw_accept_syn(&h->t, &s));
    s.flags = TH_F_ACK;
    CHECK(!sl_tcp_tw_accept_syn(&h->t, &s));

    /* RFC 6191 4.2 (2nd rule): equal TSval and a higher sequence number. */
    s = th_syn(h, 0, TH_RCV(100000), 0);
    s.opts.tsval = rec;
    FIXED_BUG(sl_tcp_tw_accept_syn(&h->t, &s),
              "TIME-WAIT reuse: SYN with TSval == TS.Recent and a higher sequence number is "
              "refused (RFC 6191 4.2 says honor it)");
    /* RFC 6191 4.2 (3rd rule): TS used before, the new SYN has none. */
    s = th_syn(h, 0, TH_IRS - 1000, 0);
    s.opts.has_ts = 0;
    FIXED_BUG(sl_tcp_tw_accept_syn(&h->t, &s),
              "TIME-WAIT reuse: SYN without TS on a TS connection falls back to the "
              "sequence test (RFC 6191 4.2 says honor it)");

    /* Without timestamps: the sequence number decides. */
    struct th_peer q = th_peer_full();
    q.ts = false;
    struct th *g = to_time_wait(&q);
    CHECK_EQ(g->t.rcv_nxt, TH_RCV(1));
    s = th_syn(g, 0, TH_RCV(1) + 100, 0);
    CHECK(sl_tcp_tw_accept_syn(&g->t, &s));
    s.seq = TH_RCV(1);
    CHECK(!sl_tcp_tw_accept_syn(&g->t, &s));
    s.seq = TH_RCV(0) - 5000;
    CHECK(!sl_tcp_tw_accept_syn(&g->t, &s));

    /* Only in TIME-WAIT. */
    struct th *e = est();
    s = th_syn(e, 0, TH_RCV(100000), 0);
    s.opts.tsval += 1000;
    CHECK(!sl_tcp_tw_accept_syn(&e->t, &s));
}

/* RFC 9293 3.8.6.2.2 / 3.10.7.4: the receive side of a half-closed
 * connection (FIN-WAIT-2) works like ESTABLISHED, window updates included:
 * after the application drains a full buffer the peer must learn the new
 * window without waiting for its persist timer. */
static void test_fin_wait_2_window_update(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.rcvbuf = 4096;
    struct th *h = est_cfg(&cfg, NULL);
    app_close(h);
    struct sl_tcp_seg a = th_ack(h, TH_SND(1));
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_2);
    struct sl_tcp_seg d = th_seg(h, TH_F_ACK, TH_RCV(0), TH_SND(1), 4096);
    th_input(h, &d);
    if (EXPECT_ONE(h, TH_F_ACK, TH_SND(1), TH_RCV(4096), 0))
        CHECK_EQ(SEG(h, 0).wnd, 0);
    CHECK_EQ(th_read(h, 5000), 4096);
    th_output(h);
    FIXED_BUG(h->out.n == 1 && SEG(h, 0).wnd == 4096,
              "FIN-WAIT-2: no window update after the application reads (sl_tcp_output "
              "returns early when it cannot send data), the peer waits for its persist "
              "timer (RFC 9293 3.8.6.2.2)");
}

/* RFC 1122 4.2.2.17 / RFC 9293 3.8.6.1: while the peer's window is zero
 * and it keeps answering, the connection MUST stay open. Closing with
 * nothing queued into a zero window: the FIN (which a zero-window receiver
 * refuses, Linux included) must be treated like a window probe, not as a
 * lost segment that eventually exhausts R2. */
static void test_fin_into_zero_window(void)
{
    struct th *h = est();
    h->peer.wnd = 0;
    struct sl_tcp_seg a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    CHECK_EQ(h->t.snd_wnd, 0);
    app_close(h);
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_1);
    uint64_t t0 = h->now;
    for (int i = 0; i < 40 && h->t.state != SL_TCP_CLOSED && h->now - t0 < 3600 * TH_SEC; i++) {
        if (!th_fire(h))
            break;
        th_advance(h, 10 * TH_MS);
        a = th_ack(h, TH_SND(0)); /* FIN refused: window still 0 */
        th_input(h, &a);
    }
    bool alive = h->t.state == SL_TCP_FIN_WAIT_1 && h->t.err == 0;
    if (!FIXED_BUG(alive, "FIN sent into a zero window is retransmitted by the RTO and the "
                          "connection is aborted with ETIMEDOUT after R2 (~9 min) although "
                          "the peer answers every retransmission (RFC 1122 4.2.2.17, RFC "
                          "9293 3.8.6.1)"))
        return;
    h->peer.wnd = 1024;
    a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    for (int i = 0; i < 5 && h->t.state == SL_TCP_FIN_WAIT_1; i++) {
        if (h->out.n == 0)
            th_fire(h);
        a = th_ack(h, TH_SND(1));
        th_input(h, &a);
    }
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_2);
}

int main(void)
{
    RUN(test_active_close);
    RUN(test_fin_ack_together);
    RUN(test_passive_close);
    RUN(test_passive_close_fin);
    RUN(test_simultaneous_close);
    RUN(test_fin_with_data);
    RUN(test_fin_retransmission);
    RUN(test_time_wait_fin_retransmission);
    RUN(test_abort);
    RUN(test_close_while_opening);
    RUN(test_rst_in_closing_states);
    RUN(test_time_wait_syn_reuse);
    RUN(test_fin_wait_2_window_update);
    RUN(test_fin_into_zero_window);
    return check_finish("test_tcp_close");
}
