/* RFC 9293 MUST requirements, engine level: one test per MUST id that the
 * conformance table (docs/rfc9293-must.md) listed as "done (no test yet)"
 * and that the engine (src/tcp) or the wire layer (src/wire) implements on
 * its own. Each test is named after its id and fails if the requirement is
 * broken, not merely if the code path changes. The requirements that need
 * the whole stack (addresses, ICMP, the API) are in test_api_must.c. */
#include <errno.h>
#include <string.h>

#include "tcp_harness.h"

/* Active open against a peer with every option (TS: snd_mss 1448), RTT
 * `rtt`; tail loss probes off so that the only data timer is the RTO or
 * the persist timer. */
static struct th *est_active(const struct sl_tcp_cfg *cfg, uint64_t rtt)
{
    struct th *h = th_new(cfg);
    struct th_peer pf = th_peer_full();
    th_open_active(h, &pf, rtt);
    h->t.flags |= SL_TF_NO_TLP;
    return h;
}

static struct th *est(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    return est_active(&cfg, 10 * TH_MS);
}

/* ------------------------------------------------------------------ */

/* RFC 9293 3.4.1 (MUST-8): "A TCP implementation MUST use the above type of
 * 'clock' for clock-driven selection of initial sequence numbers." The
 * clock is "a (possibly fictitious) 32-bit clock whose low-order bit is
 * incremented roughly every 4 microseconds"; RFC 6528: ISN = M + F(...),
 * M that clock. For one 4-tuple and key, the ISN moves by exactly the
 * number of 4 us ticks elapsed (so a later incarnation of the same
 * connection starts above the old one's sequence numbers), does not move
 * within a tick, and wraps after 2^32 ticks. The API test
 * test_api_must.c:test_must_8_isn_clock_on_the_wire checks that the stack
 * feeds it the real clock. */
static void test_must_8_isn_clock(void)
{
    uint8_t key[16];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)(0x5a ^ (i * 29));
    const uint64_t t0 = 7 * 3600 * TH_SEC; /* any multiple of 4 us */
    uint32_t base = sl_tcp_isn(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, t0);
    static const uint64_t dts[] = {4, 8, 400, 4000, TH_SEC, 2 * SL_TCP_MSL_US, 3600 * TH_SEC};
    for (size_t i = 0; i < sizeof(dts) / sizeof(dts[0]); i++)
        CHECK_EQ(sl_tcp_isn(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, t0 + dts[i]) - base,
                 (uint32_t)(dts[i] / 4));
    /* within one tick: no change */
    CHECK_EQ(sl_tcp_isn(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, t0 + 3), base);
    /* a 32-bit clock: after 2^32 ticks of 4 us it is back where it was */
    CHECK_EQ(sl_tcp_isn(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, t0 + (4ull << 32)), base);
    /* monotonic in sequence space over a TIME-WAIT period, 1 ms steps */
    uint32_t prev = base;
    int mono = 1;
    for (uint64_t dt = TH_MS; dt <= 2 * SL_TCP_MSL_US; dt += 997 * TH_MS) {
        uint32_t x = sl_tcp_isn(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, t0 + dt);
        mono &= sl_seq_gt(x, prev);
        prev = x;
    }
    CHECK(mono);
}

/* RFC 9293 3.4.1 (MUST-9): "F() MUST NOT be computable from the outside."
 * Engine half: F is keyed by the whole 128-bit secret (flipping any one
 * bit changes the ISN of the same 4-tuple at the same time), so whoever
 * does not know the key cannot compute it from the 4-tuple and the clock.
 * The stack half (a random key per stack) is
 * test_api_must.c:test_must_9_isn_secret_per_stack. */
static void test_must_9_isn_keyed(void)
{
    uint8_t key[16];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)(i * 7 + 3);
    const uint64_t t = 123456788;
    uint32_t base = sl_tcp_isn(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, t);
    int all = 1;
    for (int bit = 0; bit < 128; bit++) {
        key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        all &= sl_tcp_isn(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT, t) != base;
        key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CHECK(all);
    /* F is not a constant offset from the clock: two tuples differ */
    CHECK(sl_tcp_isn(key, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT + 1, t) != base);
    CHECK(base != (uint32_t)(t / 4));
}

/* ------------------------------------------------------------------ */

/* Right edges of the data segments emitted by the last step. */
static unsigned collect(const struct th *h, uint32_t *q, unsigned n, unsigned cap)
{
    for (unsigned i = 0; i < h->out.n && n < cap; i++)
        if (h->out.seg[i].len)
            q[n++] = h->out.seg[i].seq + h->out.seg[i].len;
    return n;
}

/* RFC 9293 3.8.2 (MUST-19): "A TCP implementation MUST implement the basic
 * congestion control algorithms slow start, congestion avoidance, and
 * exponential backoff of RTO to avoid creating congestion collapse
 * conditions" (RFC 5681, RFC 6298). NewReno (the default), SMSS 1448:
 *   slow start: +1 SMSS per ACK of a full segment, cwnd doubles per RTT;
 *   RTO: ssthresh = max(FlightSize/2, 2*SMSS), cwnd = 1 SMSS, and the RTO
 *        doubles on every further expiry (ssthresh is not cut again);
 *   after it slow start up to ssthresh, then congestion avoidance: +1 SMSS
 *   per cwnd bytes acknowledged, i.e. per RTT. */
static void test_must_19_congestion_control(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    cfg.sndbuf = 1u << 20;
    struct th *h = est_active(&cfg, 10 * TH_MS);
    const uint32_t mss = 1448;
    CHECK_EQ(h->t.snd_mss, mss);
    CHECK_EQ(th_write(h, 600000), 600000);
    th_output(h);
    EXPECT_NSEG(h, 10); /* IW (RFC 6928) */
    CHECK_EQ(h->t.cwnd, 10 * mss);

    /* Slow start: two round trips, every segment ACKed on its own. */
    static uint32_t q[512], nq[512];
    unsigned n = collect(h, q, 0, 512);
    for (int round = 0; round < 2; round++) {
        uint32_t start = h->t.cwnd;
        unsigned m = 0;
        th_advance(h, 10 * TH_MS);
        for (unsigned i = 0; i < n; i++) {
            uint32_t before = h->t.cwnd;
            struct sl_tcp_seg a = th_ack(h, q[i]);
            th_input(h, &a);
            CHECK_EQ(h->t.cwnd, before + mss);
            m = collect(h, nq, m, 512);
        }
        CHECK_EQ(h->t.cwnd, 2 * start); /* doubles per RTT */
        memcpy(q, nq, m * sizeof(q[0]));
        n = m;
    }
    CHECK_EQ(h->t.cwnd, 40 * mss);
    uint32_t flight = h->t.snd_nxt - h->t.snd_una;
    CHECK_EQ(flight, 40 * mss);
    uint32_t una = h->t.snd_una;

    /* The whole flight is lost: RTO, then exponential backoff. */
    uint64_t rto = h->t.rto, prev = h->now;
    CHECK_EQ(rto, 200 * TH_MS);
    for (int k = 0; k < 4; k++) {
        uint64_t at = th_fire(h);
        CHECK_EQ(at - prev, rto << k); /* 200, 400, 800, 1600 ms */
        prev = at;
        EXPECT_ONE(h, TH_F_ACK, una, TH_RCV(0), mss);
        CHECK_EQ(h->t.cwnd, mss);                /* loss window */
        CHECK_EQ(h->t.ssthresh, flight / 2);     /* cut once only */
        CHECK_EQ(h->t.rto, (uint32_t)(rto << (k + 1)));
        CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    }

    /* The peer now gets every segment and ACKs each one. */
    static uint32_t cw[80];
    unsigned nacks = 0;
    n = 0;
    q[n++] = una + mss;
    unsigned head = 0;
    th_advance(h, 10 * TH_MS);
    while (head < n && nacks < 80) {
        struct sl_tcp_seg a = th_ack(h, q[head++]);
        th_input(h, &a);
        cw[nacks++] = h->t.cwnd;
        n = collect(h, q, n, 512);
    }
    CHECK_EQ(nacks, 80);
    /* slow start from 1 SMSS up to ssthresh = 20 SMSS */
    for (unsigned k = 0; k < 19; k++)
        CHECK_EQ(cw[k], (k + 2) * mss);
    /* congestion avoidance: 20 SMSS acked -> +1 SMSS, then 21 -> +1 */
    for (unsigned k = 19; k < 38; k++)
        CHECK_EQ(cw[k], 20 * mss);
    CHECK_EQ(cw[38], 21 * mss);
    for (unsigned k = 39; k < 59; k++)
        CHECK_EQ(cw[k], 21 * mss);
    CHECK_EQ(cw[59], 22 * mss);
    CHECK_EQ(cw[79], 22 * mss);
}

/* ------------------------------------------------------------------ */

/* RFC 9293 3.8.4 (MUST-25): keep-alives "MUST default to off". A
 * connection opened either way, idle or after traffic, has no keep-alive
 * timer and sends nothing for hours. (The API half, a new sl_conn, is
 * test_api_must.c:test_must_25_keepalive_default_off_api.) */
static void idle_hours_silent(struct th *h, unsigned hours)
{
    CHECK_EQ(h->t.keepidle_s, 0);
    CHECK_EQ(h->t.t_keep, 0);
    unsigned sent = 0;
    for (unsigned m = 0; m < hours * 60; m++) {
        th_advance(h, 60 * TH_SEC);
        th_timers(h);
        sent += h->out.n;
    }
    CHECK_EQ(sent, 0);
    CHECK_EQ(sl_tcp_next_deadline(&h->t), 0);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
}

static void test_must_25_keepalive_default_off(void)
{
    struct th *h = est(); /* active */
    idle_hours_silent(h, 3);

    struct sl_tcp_cfg cfg = th_cfg();
    struct th *g = th_new(&cfg); /* passive */
    struct th_peer p = th_peer_full();
    th_open_passive(g, &p, 10 * TH_MS);
    struct sl_tcp_seg d = th_data(g, 0, 100); /* some traffic, then quiet */
    th_input(g, &d);
    th_fire(g); /* delayed ACK */
    EXPECT_NSEG(g, 1);
    idle_hours_silent(g, 3);
}

/* RFC 9293 3.8.4 (MUST-29): "It is extremely important to remember that
 * ACK segments that contain no data are not reliably transmitted by TCP.
 * Consequently, if a keep-alive mechanism is implemented it MUST NOT
 * interpret failure to respond to any specific probe as a dead
 * connection." Eight probes in a row go unanswered and the connection
 * lives on; an answer resets the count; only SL_TCP_KEEPCNT (9) probes
 * without any answer end it. */
static void test_must_29_keepalive_unanswered_probe(void)
{
    struct th *h = est();
    h->t.keepidle_s = 10; /* as sl_conn_setopt(SL_OPT_KEEPALIVE) does */
    h->t.t_keep = h->now + 10 * TH_SEC;
    CHECK(SL_TCP_KEEPCNT > 1);
    for (int round = 0; round < 2; round++) {
        for (unsigned k = 0; k < SL_TCP_KEEPCNT - 1; k++) {
            th_fire(h);
            EXPECT_ONE(h, TH_F_ACK, TH_SND(0) - 1, TH_RCV(0), 0);
            CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
            CHECK_EQ(h->t.err, 0);
            CHECK_EQ(h->out.events & (SL_TEV_ERROR | SL_TEV_CLOSED), 0);
            CHECK(h->t.t_keep > h->now); /* another probe will follow */
        }
        /* The peer answers one probe: the count starts over. */
        th_advance(h, 10 * TH_MS);
        struct sl_tcp_seg a = th_ack(h, TH_SND(0));
        th_input(h, &a);
        EXPECT_NONE(h);
        CHECK_EQ(h->t.ka_probes, 0);
        CHECK_EQ(h->t.t_keep, h->now + 10 * TH_SEC);
    }
    /* Never an answer: SL_TCP_KEEPCNT probes, then ETIMEDOUT. */
    unsigned probes = 0;
    for (int i = 0; i < 20 && h->t.state != SL_TCP_CLOSED; i++) {
        th_fire(h);
        probes += (unsigned)th_ctr(h, SL_CTR_tcp_keepalive_tx);
    }
    CHECK_EQ(probes, SL_TCP_KEEPCNT);
    CHECK_EQ(h->t.err, -ETIMEDOUT);
}

/* ------------------------------------------------------------------ */

/* RFC 9293 3.8.6 (MUST-34): "A TCP receiver SHOULD NOT shrink the window
 * ... However, a sending TCP peer MUST be robust against window shrinking,
 * which may cause the 'usable window' (see Section 3.8.6.2.1) to become
 * negative." "If this happens, the sender SHOULD NOT send new data, but
 * SHOULD retransmit normally the old unacknowledged data between SND.UNA
 * and SND.UNA+SND.WND." Ten segments in flight; the peer ACKs two and
 * moves the right edge back to SND.UNA+512, left of SND.NXT: nothing new
 * goes out (a negative usable window must not wrap to a huge one), only
 * old data inside the window is retransmitted, and once the window opens
 * again every byte is delivered. */
static void test_must_34_window_shrink(void)
{
    struct th *h = est();
    const uint32_t mss = 1448;
    th_write(h, 20 * mss);
    th_output(h);
    EXPECT_NSEG(h, 10);
    uint32_t nxt = h->t.snd_nxt;
    CHECK_EQ(nxt, TH_SND(10 * mss));

    h->peer.wnd = 4; /* << 7 = 512 bytes */
    th_advance(h, 10 * TH_MS);
    struct sl_tcp_seg a = th_ack(h, TH_SND(2 * mss));
    th_input(h, &a);
    CHECK_EQ(h->t.snd_wnd, 512);
    CHECK(sl_seq_lt(h->t.snd_una + h->t.snd_wnd, h->t.snd_nxt)); /* usable window < 0 */
    EXPECT_NONE(h);
    CHECK_EQ(h->t.snd_nxt, nxt);
    CHECK_EQ(h->t.snd_max, nxt);
    /* More ACKs with the shrunken window, then the timers: never new data
     * (SND.MAX stays), old data from SND.UNA is retransmitted (old data
     * beyond the right edge MAY be, RFC 9293 3.8.6), the connection lives. */
    unsigned from_una = 0;
    for (int i = 0; i < 3; i++) {
        th_advance(h, 5 * TH_MS);
        a = th_ack(h, TH_SND(2 * mss));
        th_input(h, &a);
        for (unsigned k = 0; k < h->out.n; k++) {
            CHECK(sl_seq_le(SEG(h, k).seq + SEG(h, k).len, nxt));
            from_una += SEG(h, k).len && SEG(h, k).seq == h->t.snd_una;
        }
        CHECK_EQ(h->t.snd_max, nxt);
    }
    for (int i = 0; i < 4; i++) {
        th_fire(h);
        for (unsigned k = 0; k < h->out.n; k++) {
            CHECK(sl_seq_le(SEG(h, k).seq + SEG(h, k).len, nxt));
            from_una += SEG(h, k).len && SEG(h, k).seq == h->t.snd_una;
        }
        CHECK_EQ(h->t.snd_max, nxt);
        CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    }
    CHECK(from_una >= 1);

    /* The window opens again: everything arrives. */
    h->peer.wnd = 1024;
    uint32_t end = TH_SND(20 * mss);
    for (int i = 0; i < 200 && h->t.snd_una != end; i++) {
        th_advance(h, 10 * TH_MS);
        a = th_ack(h, h->t.snd_nxt);
        th_input(h, &a);
        if (h->t.snd_una != end && h->t.snd_nxt == h->t.snd_una)
            th_fire(h);
    }
    CHECK_EQ(h->t.snd_una, end);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(h->t.err, 0);
}

/* Zero-window probing for `duration`, the peer answering every probe with
 * a zero window and ACK = SND.UNA (the octet refused). `last` is when the
 * previous probe went (or the persist timer was armed), `iv` the interval
 * expected before the next one. Checks that each probe is one octet at
 * SND.UNA, draws nothing in reply to its answer, and that the interval
 * doubles up to the 60 s cap. Returns the number of probes. */
static unsigned probe_for(struct th *h, uint64_t duration, uint64_t last, uint64_t iv)
{
    uint64_t t_end = h->now + duration;
    unsigned probes = 0;
    int shape = 1, intervals = 1;
    while (h->now < t_end && h->t.state == SL_TCP_ESTABLISHED) {
        uint64_t at = th_fire(h);
        if (!at)
            break;
        intervals &= at - last == iv;
        iv = iv * 2 > SL_TCP_RTO_MAX_US ? SL_TCP_RTO_MAX_US : iv * 2;
        last = at;
        shape &= h->out.n == 1 && SEG(h, 0).len == 1 && SEG(h, 0).seq == h->t.snd_una &&
                 (SEG(h, 0).flags & TH_F_ACK);
        probes += (unsigned)th_ctr(h, SL_CTR_tcp_zwp_tx);
        th_advance(h, 10 * TH_MS);
        struct sl_tcp_seg a = th_ack(h, h->t.snd_una); /* window 0: byte refused */
        th_input(h, &a);
        shape &= h->out.n == 0;
    }
    CHECK(shape);
    CHECK(intervals);
    return probes;
}

/* RFC 9293 3.8.6 (MUST-35): "If the window shrinks to zero, the TCP
 * implementation MUST probe it in the standard way (described below)."
 * Data is in flight when the peer ACKs part of it and closes its window
 * (the right edge moves left, to SND.UNA). The retransmission timer finds
 * no usable window and hands over to the persist timer: one-octet probes
 * at SND.UNA with exponential backoff; they never time the connection out
 * while answered, and when the window opens transmission resumes from
 * SND.UNA and every byte arrives. */
static void test_must_35_window_shrinks_to_zero(void)
{
    struct th *h = est();
    h->t.r2 = 3; /* a small R2: probing must not count toward it */
    const uint32_t mss = 1448;
    th_write(h, 20 * mss);
    th_output(h);
    EXPECT_NSEG(h, 10);
    h->peer.wnd = 0;
    th_advance(h, 10 * TH_MS);
    struct sl_tcp_seg a = th_ack(h, TH_SND(2 * mss));
    th_input(h, &a);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.snd_wnd, 0);
    CHECK(h->t.t_rexmt > h->now); /* a timer watches the outstanding data */

    /* First expiry: the RTO finds a zero window and arms the persist timer
     * (or probes at once). Within two expiries a probe must have gone. */
    unsigned probes = 0;
    for (int i = 0; i < 2 && !probes; i++) {
        th_fire(h);
        probes += (unsigned)th_ctr(h, SL_CTR_tcp_zwp_tx);
        for (unsigned k = 0; k < h->out.n; k++)
            CHECK(SEG(h, k).len <= 1);
    }
    CHECK_EQ(probes, 1);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(2 * mss), TH_RCV(0), 1);
    uint64_t last = h->now, iv = h->t.t_rexmt - h->now;
    th_advance(h, 10 * TH_MS);
    a = th_ack(h, TH_SND(2 * mss));
    th_input(h, &a);
    EXPECT_NONE(h);
    probes += probe_for(h, 30 * 60 * TH_SEC, last, iv);
    CHECK(probes > 30);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(h->t.err, 0);

    /* The window opens: resume at SND.UNA, deliver everything. */
    h->peer.wnd = 1024;
    a = th_ack(h, TH_SND(2 * mss));
    th_input(h, &a);
    CHECK(h->out.n >= 1);
    if (h->out.n >= 1)
        CHECK_EQ(SEG(h, 0).seq, TH_SND(2 * mss));
    uint32_t end = TH_SND(20 * mss);
    for (int i = 0; i < 200 && h->t.snd_una != end; i++) {
        th_advance(h, 10 * TH_MS);
        a = th_ack(h, h->t.snd_nxt);
        th_input(h, &a);
        if (h->t.snd_una != end && h->t.snd_nxt == h->t.snd_una)
            th_fire(h);
    }
    CHECK_EQ(h->t.snd_una, end);
}

/* RFC 9293 3.8.6.1 (MUST-36): "Probing of zero (offered) windows MUST be
 * supported." "The sending TCP peer must regularly transmit at least one
 * octet of new data (if available), or retransmit to the receiving TCP
 * peer even if the send window is zero, in order to 'probe' the window."
 * Sender: the peer offers a zero window from its SYN-ACK on; queued data
 * is not sent, the persist timer sends one octet of new data after one
 * RTO (SHLD-29), then backs off exponentially (SHLD-30); a probe byte the
 * peer accepts (ACKed with the window still 0) is followed by the next
 * octet; when the window opens the rest flows. Receiver: with our window
 * full, the peer's one-octet probe at RCV.NXT is answered at once with an
 * ACK of RCV.NXT and a zero window, the octet is not taken. */
static void test_must_36_zero_window_probing(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    struct th_peer p = th_peer_full();
    p.syn_wnd = 0;
    p.wnd = 0;
    CHECK(th_open_active(h, &p, 10 * TH_MS));
    h->t.flags |= SL_TF_NO_TLP;
    CHECK_EQ(h->t.snd_wnd, 0);
    th_write(h, 3000);
    th_output(h);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.t_rexmt, h->now + h->t.rto); /* persist: first probe after one RTO */
    uint64_t rto = h->t.rto, due = h->t.t_rexmt;

    CHECK_EQ(th_fire(h), due);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 1); /* one octet of new data */
    EXPECT_CTR(h, tcp_zwp_tx, 1);
    CHECK_EQ(h->t.snd_una, TH_SND(0));
    th_advance(h, 10 * TH_MS);
    struct sl_tcp_seg a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    EXPECT_NONE(h);
    unsigned probes = 1 + probe_for(h, 10 * 60 * TH_SEC, due, 2 * rto);
    CHECK(probes >= 12);

    /* The peer takes the probe octet but keeps the window closed. */
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 1);
    th_advance(h, 10 * TH_MS);
    a = th_ack(h, TH_SND(1));
    th_input(h, &a);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.snd_una, TH_SND(1));
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(1), TH_RCV(0), 1); /* the next octet */

    /* The window opens: the rest is sent. */
    h->peer.wnd = 1024;
    th_advance(h, 10 * TH_MS);
    a = th_ack(h, TH_SND(1));
    th_input(h, &a);
    CHECK(h->out.n >= 1);
    if (h->out.n >= 1)
        CHECK_EQ(SEG(h, 0).seq, TH_SND(1));
    for (int i = 0; i < 50 && h->t.snd_una != TH_SND(3000); i++) {
        th_advance(h, 10 * TH_MS);
        a = th_ack(h, h->t.snd_nxt);
        th_input(h, &a);
        if (h->t.snd_una != TH_SND(3000) && h->t.snd_nxt == h->t.snd_una)
            th_fire(h);
    }
    CHECK_EQ(h->t.snd_una, TH_SND(3000));

    /* Receiver side: fill our 64 KiB window without reading. */
    struct th *r = est();
    uint32_t off = 0;
    while (off < cfg.rcvbuf) {
        uint32_t n = cfg.rcvbuf - off < 1448 ? cfg.rcvbuf - off : 1448;
        struct sl_tcp_seg d = th_data(r, off, n);
        th_input(r, &d);
        off += n;
    }
    th_fire(r);
    CHECK_EQ(r->t.rcv_nxt, TH_RCV(cfg.rcvbuf));
    CHECK_EQ(r->t.rcv_adv, r->t.rcv_nxt); /* window 0 offered */
    for (int i = 0; i < 3; i++) {
        th_advance(r, TH_SEC);
        struct sl_tcp_seg pr = th_data(r, cfg.rcvbuf, 1);
        th_input(r, &pr);
        if (EXPECT_ONE(r, TH_F_ACK, TH_SND(0), TH_RCV(cfg.rcvbuf), 0))
            CHECK_EQ(SEG(r, 0).wnd, 0);
        CHECK_EQ(r->t.rcv_nxt, TH_RCV(cfg.rcvbuf));
    }
    CHECK_EQ(th_read(r, cfg.rcvbuf), cfg.rcvbuf);
    th_output(r); /* the window update */
    EXPECT_ONE(r, TH_F_ACK, TH_SND(0), TH_RCV(cfg.rcvbuf), 0);
    CHECK(SEG(r, 0).wnd > 0);
}

/* RFC 9293 3.8.6.1 (MUST-37): "As long as the receiving TCP peer continues
 * to send acknowledgments in response to the probe segments, the sending
 * TCP peer MUST allow the connection to stay open." Four hours of a zero
 * window, every probe answered: hundreds of probes at most 60 s apart, the
 * connection never times out, even with R2 set to 2 (persist probes are
 * not retransmissions that count toward R2); then the window opens and
 * the data goes through. */
static void test_must_37_zero_window_stays_open(void)
{
    struct th *h = est();
    h->t.r2 = 2;
    h->peer.wnd = 0;
    struct sl_tcp_seg a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    th_write(h, 5000);
    th_output(h);
    EXPECT_NONE(h);
    CHECK(h->t.flags & SL_TF_PERSIST);
    unsigned probes = probe_for(h, 4 * 3600 * TH_SEC, h->now, h->t.rto);
    CHECK(probes > 4 * 60); /* at most 60 s apart */
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(h->t.err, 0);
    CHECK(h->t.flags & SL_TF_PERSIST);

    h->peer.wnd = 1024;
    a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    for (int i = 0; i < 50 && h->t.snd_una != TH_SND(5000); i++) {
        th_advance(h, 10 * TH_MS);
        a = th_ack(h, h->t.snd_nxt);
        th_input(h, &a);
        if (h->t.snd_una != TH_SND(5000) && h->t.snd_nxt == h->t.snd_una)
            th_fire(h);
    }
    CHECK_EQ(h->t.snd_una, TH_SND(5000));
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
}

/* ------------------------------------------------------------------ */

/* Walks the option area of a built header. RFC 9293 3.1: every option but
 * EOL and NOP has a length field (MUST-68); after EOL the rest of the
 * header is padding of zeros (MUST-69); the options end exactly at the
 * data offset. Returns false on any violation. */
static bool options_well_formed(const uint8_t *p)
{
    size_t doff = (size_t)(p[12] >> 4) * 4;
    if (doff < 20 || doff > 60)
        return false;
    size_t i = 20;
    while (i < doff) {
        uint8_t kind = p[i];
        if (kind == 0) { /* EOL: zeros to the end of the header */
            for (size_t k = i + 1; k < doff; k++)
                if (p[k] != 0)
                    return false;
            return true;
        }
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= doff || p[i + 1] < 2 || i + p[i + 1] > doff)
            return false;
        i += p[i + 1];
    }
    return i == doff;
}

/* Builds s twice, over buffers filled with 0x00 and with 0xff: both must
 * give the same bytes (every header byte, padding included, is written,
 * none is left over from the buffer) and a well-formed option area. */
static void check_built(const struct sl_tcp_seg *s)
{
    uint8_t a[80], b[80];
    memset(a, 0x00, sizeof(a));
    memset(b, 0xff, sizeof(b));
    size_t la = sl_tcp_build(a, s), lb = sl_tcp_build(b, s);
    CHECK_EQ(la, lb);
    CHECK_EQ(la % 4, 0);
    CHECK_EQ(la, 20 + sl_tcp_opts_len(&s->opts));
    CHECK_EQ((size_t)(a[12] >> 4) * 4, la);
    CHECK(memcmp(a, b, la) == 0);
    CHECK(options_well_formed(a));
    CHECK(options_well_formed(b));
}

static struct sl_tcp_seg emit_to_seg(const struct sl_tcp_emit *e)
{
    struct sl_tcp_seg s;
    memset(&s, 0, sizeof(s));
    s.sport = TH_LPORT;
    s.dport = TH_RPORT;
    s.seq = e->seq;
    s.ack = e->ack;
    s.flags = e->flags;
    s.wnd = e->wnd;
    s.opts = e->opts;
    return s;
}

/* RFC 9293 3.1 (MUST-69): "The content of the header beyond the End of
 * Option List Option MUST be header padding of zeros." Every option layout
 * the engine emits (SYN and SYN-ACK against peers with each option subset,
 * ACKs with 1-3 SACK blocks and timestamps, 1-4 without) and the packed
 * layouts the builder falls back to are written in full (same bytes over a
 * 0x00- and a 0xff-filled buffer) and padded so that nothing but zeros
 * follows an EOL. */
static void test_must_69_header_padding_zero(void)
{
    /* SYN (active open, every option we offer) */
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    th_connect(h);
    if (EXPECT_NSEG(h, 1)) {
        struct sl_tcp_seg s = emit_to_seg(&SEG(h, 0));
        check_built(&s);
    }
    /* SYN-ACK against every subset of the peer's options, then pure ACKs
     * with as many SACK blocks as out-of-order ranges (one harness, the
     * connection reopened for each subset). */
    struct th *g = th_new(&cfg);
    for (unsigned m = 0; m < 16; m++) {
        g->peer = th_peer_bare();
        g->peer.mss = (m & 1) ? 1460 : 0;
        g->peer.ws = (m & 2) != 0;
        g->peer.wscale = 7;
        g->peer.sack = (m & 4) != 0;
        g->peer.ts = (m & 8) != 0;
        struct sl_tcp_seg syn = th_syn(g, 0, TH_IRS, 0);
        th_accept(g, &syn);
        if (EXPECT_NSEG(g, 1)) {
            struct sl_tcp_seg s = emit_to_seg(&SEG(g, 0));
            check_built(&s);
        }
        struct sl_tcp_seg ack = th_seg(g, TH_F_ACK, TH_IRS + 1, TH_ISS + 1, 0);
        th_input(g, &ack);
        CHECK_EQ(g->t.state, SL_TCP_ESTABLISHED);
        unsigned sacks = 0;
        for (uint32_t k = 0; k < 4; k++) {
            struct sl_tcp_seg d = th_data(g, 2000 * (k + 1), 100);
            th_input(g, &d);
            for (unsigned i = 0; i < g->out.n; i++) {
                struct sl_tcp_seg s = emit_to_seg(&SEG(g, i));
                sacks += s.opts.nsack;
                check_built(&s);
            }
        }
        if (m & 4)
            CHECK_EQ(sacks, (m & 8) ? 1 + 2 + 3 + 3 : 1 + 2 + 3 + 4);
        g->now += TH_SEC;
    }
    /* Packed layouts and odd combinations, straight to the builder. */
    for (unsigned m = 0; m < 32; m++) {
        for (unsigned nsack = 0; nsack <= 4; nsack++) {
            struct sl_tcp_seg s;
            memset(&s, 0, sizeof(s));
            s.sport = 1;
            s.dport = 2;
            s.flags = (m & 16) ? (SL_TCP_SYN | SL_TCP_ACK) : SL_TCP_ACK;
            s.opts.has_mss = (m & 1) != 0;
            s.opts.mss = 1460;
            s.opts.has_wscale = (m & 2) != 0;
            s.opts.wscale = 7;
            s.opts.sack_perm = (m & 4) != 0;
            s.opts.has_ts = (m & 8) != 0;
            s.opts.tsval = 0x01020304;
            s.opts.tsecr = 0x05060708;
            s.opts.nsack = (uint8_t)nsack;
            for (unsigned k = 0; k < nsack; k++) {
                s.opts.sack[k].left = 1000 * k + 1;
                s.opts.sack[k].right = 1000 * k + 501;
            }
            check_built(&s);
        }
    }
}

/* RFC 9293 3.8.5 (MUST-30, 31, 32, 33, 62, 66): the urgent mechanism.
 * Receive: a segment with URG and SEG.UP = 300 moves RCV.UP to the octet
 * after the urgent data (SEG.SEQ + SEG.UP, MUST-62), raises the urgent
 * event (MUST-32), the data is delivered inline and sl_tcp_urgent_left
 * counts down as it is read (MUST-33); a later segment with a smaller
 * pointer does not move it back; with our window at zero a segment at
 * RCV.NXT still moves RCV.UP (MUST-66). Send: urgent data of 100 KB (more
 * than a 16-bit pointer reaches, MUST-31) goes out in MSS-sized segments,
 * each with URG and min(SND.UP - SEG.SEQ, 65535) as its pointer; once it
 * is acknowledged, segments carry URG no more. */
static void urg_scan(struct th *g, uint32_t *segs, uint32_t *bad)
{
    for (unsigned k = 0; k < g->out.n; k++) {
        const struct sl_tcp_emit *e = &g->out.seg[k];
        if (!e->len)
            continue;
        (*segs)++;
        uint32_t want = g->t.snd_up - e->seq;
        if (!(e->flags & SL_TCP_URG) || e->urp != (want > 0xffff ? 0xffff : want) ||
            e->len > g->t.snd_mss || e->gso)
            (*bad)++;
    }
}

static void test_must_30_urgent(void)
{
    struct th *h = est();
    /* receive */
    struct sl_tcp_seg d = th_data(h, 0, 1000);
    d.flags |= SL_TCP_URG;
    d.urp = 300;
    th_input(h, &d);
    CHECK(h->out.events & SL_TEV_URGENT);
    CHECK(h->t.flags & SL_TF_RCV_URG);
    CHECK_EQ(h->t.rcv_up, TH_RCV(300));
    CHECK_EQ(sl_tcp_urgent_left(&h->t, h->t.rcv_read), 300);
    CHECK_EQ(th_read(h, 200), 200);
    CHECK_EQ(sl_tcp_urgent_left(&h->t, h->t.rcv_read), 100);
    CHECK_EQ(th_read(h, 800), 800);
    CHECK_EQ(sl_tcp_urgent_left(&h->t, h->t.rcv_read), 0);
    d = th_data(h, 1000, 100);
    d.flags |= SL_TCP_URG;
    d.urp = 5; /* points below RCV.UP's old value? no: 1005 > 300, moves */
    th_input(h, &d);
    CHECK_EQ(h->t.rcv_up, TH_RCV(1005));
    d = th_data(h, 1100, 100);
    d.flags |= SL_TCP_URG;
    d.urp = 0; /* no pointer: ignored */
    th_input(h, &d);
    CHECK_EQ(h->t.rcv_up, TH_RCV(1005));
    /* zero window (MUST-66): fill the ring, then a segment at RCV.NXT */
    th_read(h, 200);
    uint32_t off = 1200;
    for (int i = 0; i < 100 && h->t.rcv_adv != h->t.rcv_nxt; i++) {
        uint32_t room = h->t.rcv_adv - h->t.rcv_nxt;
        d = th_data(h, off, room < 1448 ? room : 1448);
        th_input(h, &d);
        off += d.len;
        th_output(h);
    }
    CHECK_EQ(h->t.rcv_adv, h->t.rcv_nxt); /* zero window offered */
    d = th_data(h, off, 1);
    d.flags |= SL_TCP_URG;
    d.urp = 1;
    th_input(h, &d);
    CHECK_EQ(h->t.rcv_up, TH_RCV(off + 1));
    CHECK(h->out.events & SL_TEV_URGENT);
    /* ... and RST too (MUST-66): a RST at RCV.NXT with the window at zero
     * closes the connection */
    struct sl_tcp_seg rst = th_seg(h, TH_F_RST, TH_RCV(off), 0, 0);
    th_input(h, &rst);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);

    /* send */
    struct th *g = est();
    g->peer.wnd = 0xffff; /* 8 MB window (WS 7): cwnd limits */
    const uint32_t total = 100 * 1024; /* more than the 64 KB ring: written as it frees */
    uint32_t written = 0;
    uint32_t acked = 0, segs = 0, bad = 0;
    for (int round = 0; round < 400 && acked < total; round++) {
        if (written < total) {
            written += th_write(g, total - written);
            sl_tcp_mark_urgent(&g->t); /* SND.UP follows the urgent data written */
            CHECK_EQ(g->t.snd_up, TH_SND(written));
        }
        th_output(g);
        urg_scan(g, &segs, &bad);
        acked = g->t.snd_nxt - TH_SND(0);
        if (g->t.snd_up - g->t.snd_una > 0xffff)
            segs += 0x100000; /* marker: a pointer beyond 16 bits was in use */
        th_advance(g, 5 * TH_MS);
        struct sl_tcp_seg a = th_ack(g, g->t.snd_nxt);
        th_input(g, &a);
        urg_scan(g, &segs, &bad); /* ACK-clocked segments */
    }
    CHECK_EQ(acked, total);
    CHECK(segs >= 0x100000); /* MUST-31: urgent data longer than a pointer reaches */
    CHECK_EQ(segs & 0xfffff, (total + g->t.snd_mss - 1) / g->t.snd_mss);
    CHECK_EQ(bad, 0);
    CHECK(!(g->t.flags & SL_TF_SND_URG)); /* all acknowledged: urgent mode over */
    th_write(g, 100);
    th_output(g);
    CHECK(g->out.n >= 1);
    if (g->out.n >= 1)
        CHECK(!(g->out.seg[0].flags & SL_TCP_URG));
}

int main(void)
{
    RUN(test_must_8_isn_clock);
    RUN(test_must_9_isn_keyed);
    RUN(test_must_19_congestion_control);
    RUN(test_must_25_keepalive_default_off);
    RUN(test_must_29_keepalive_unanswered_probe);
    RUN(test_must_34_window_shrink);
    RUN(test_must_35_window_shrinks_to_zero);
    RUN(test_must_36_zero_window_probing);
    RUN(test_must_37_zero_window_stays_open);
    RUN(test_must_69_header_padding_zero);
    RUN(test_must_30_urgent);
    return check_finish("test_tcp_must");
}
