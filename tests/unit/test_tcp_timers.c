/* TCP engine, segment level: timers on a virtual clock. Retransmission
 * (RFC 6298, Karn), SYN retransmission, persist / zero-window probes (RFC
 * 9293 3.8.6.1, RFC 1122 4.2.2.17), keepalive (RFC 9293 3.8.4, RFC 1122
 * 4.2.3.6), TIME-WAIT (3.6) and FIN-WAIT-2. */
#include <errno.h>
#include <string.h>

#include "tcp_harness.h"

/* Active open, peer with every option, given RTT (RFC 6298: one sample). */
static struct th *est_rtt(uint64_t rtt)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    struct th_peer p = th_peer_full();
    th_open_active(h, &p, rtt);
    return h;
}

/* RFC 6298 5.4-5.6 and RFC 5681 3.1: on RTO, retransmit the earliest
 * unacknowledged segment, cwnd = 1 SMSS ("loss window"), ssthresh =
 * max(FlightSize/2, 2*SMSS), RTO doubles; RFC 5681: ssthresh is not reduced
 * again for the same segment. Karn: no RTT sample from a retransmission. */
static void test_rto_retransmission(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    h->t.flags |= SL_TF_NO_TLP; /* this test is about the RTO itself */
    CHECK_EQ(h->t.rto, 200 * TH_MS);
    th_write(h, 3 * 1448);
    th_output(h);
    EXPECT_NSEG(h, 3);
    uint64_t sent = h->now;
    CHECK_EQ(h->t.t_rexmt, sent + 200 * TH_MS); /* RFC 6298 5.1 */

    CHECK_EQ(th_fire(h), sent + 200 * TH_MS);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 1448);
    EXPECT_CTR(h, tcp_rto_fired, 1);
    EXPECT_CTR(h, tcp_retransmits, 1);
    CHECK_EQ(h->t.cwnd, 1448);
    CHECK_EQ(h->t.ssthresh, 2896); /* max(4344/2, 2*1448) */
    CHECK_EQ(h->t.rto, 400 * TH_MS);
    CHECK_EQ(h->t.backoff, 1);
    CHECK_EQ(h->t.t_rexmt, h->now + 400 * TH_MS);
    CHECK_EQ(h->t.snd_max, TH_SND(4344));

    uint64_t first = h->now;
    CHECK_EQ(th_fire(h), first + 400 * TH_MS);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 1448);
    CHECK_EQ(h->t.rto, 800 * TH_MS);
    CHECK_EQ(h->t.backoff, 2);
    CHECK_EQ(h->t.ssthresh, 2896);
    CHECK_EQ(h->t.cwnd, 1448);

    /* The ACK of the retransmitted segment: no RTT sample (Karn), the
     * backoff ends, go-back-N continues from snd_nxt under slow start. */
    th_advance(h, 30 * TH_MS);
    struct sl_tcp_seg a = th_ack(h, TH_SND(1448));
    th_input(h, &a);
    CHECK_EQ(h->t.srtt, 10000);
    CHECK_EQ(h->t.backoff, 0);
    CHECK_EQ(h->t.cwnd, 2896);
    if (EXPECT_NSEG(h, 2)) {
        EXPECT_SEG(h, 0, TH_F_ACK, TH_SND(1448), TH_RCV(0), 1448);
        EXPECT_SEG(h, 1, TH_F_ACK | TH_F_PSH, TH_SND(2896), TH_RCV(0), 1448);
    }
    EXPECT_CTR(h, tcp_retransmits, 2);
    /* RFC 6298 5.3: restarted (or the earlier RFC 8985 tail-loss PTO). */
    CHECK(h->t.t_rexmt > h->now && h->t.t_rexmt <= h->now + h->t.rto);
    a = th_ack(h, TH_SND(4344));
    th_input(h, &a);
    CHECK_EQ(h->t.t_rexmt, 0); /* RFC 6298 5.2: all acked, timer off */
    CHECK_EQ(h->t.srtt, 10000); /* still Karn: these were retransmissions */
}

/* RFC 8985 7.2-7.3 (tail loss probe): with more than one segment in flight
 * and an RTT sample, an ACK re-arms the timer as PTO = max(2*SRTT, 10 ms);
 * at expiry the last segment sent is retransmitted once and the real RTO
 * follows. */
static void test_tail_loss_probe(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    th_write(h, 10 * 1448);
    th_output(h);
    EXPECT_NSEG(h, 10);
    th_advance(h, 10 * TH_MS);
    struct sl_tcp_seg a = th_ack(h, TH_SND(2 * 1448));
    th_input(h, &a);
    uint64_t pto = h->now + 2 * h->t.srtt;
    CHECK_EQ(h->t.t_rexmt, pto);
    CHECK_EQ(th_fire(h), pto);
    EXPECT_ONE(h, TH_F_ACK | TH_F_PSH, TH_SND(9 * 1448), TH_RCV(0), 1448);
    EXPECT_CTR(h, tcp_tlp_probes, 1);
    EXPECT_CTR(h, tcp_rto_fired, 0);
    CHECK_EQ(h->t.cwnd, 14480 + 2896); /* a probe is no congestion signal */
    CHECK_EQ(h->t.t_rexmt, h->now + h->t.rto);
    th_fire(h); /* no answer: the RTO proper */
    EXPECT_CTR(h, tcp_rto_fired, 1);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(2 * 1448), TH_RCV(0), 1448);
}

/* RFC 8985 7.2: the PTO is restarted when new data is sent. A flight that
 * began with a single segment armed the plain RTO (PTO + WCDelAckT would
 * exceed it); the next new segment must turn the timer into a PTO. */
static void test_pto_restarted_by_new_data(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    th_write(h, 1448);
    th_output(h);
    EXPECT_NSEG(h, 1);
    CHECK_EQ(h->t.t_rexmt, h->now + h->t.rto); /* one segment: 2*SRTT + 200 ms > RTO */
    th_advance(h, 1 * TH_MS);
    th_write(h, 3 * 1448);
    th_output(h);
    EXPECT_NSEG(h, 3);
    CHECK_EQ(h->t.t_rexmt, h->now + 2 * h->t.srtt); /* now a PTO */
    CHECK(h->t.flags & SL_TF_PTO);
    th_fire(h);
    EXPECT_CTR(h, tcp_tlp_probes, 1);
    EXPECT_CTR(h, tcp_rto_fired, 0);
}

/* RFC 6298 2.2 / 2.3: first sample SRTT = R, RTTVAR = R/2; then RTTVAR =
 * 3/4 RTTVAR + 1/4 |SRTT - R'|, SRTT = 7/8 SRTT + 1/8 R'; RTO = SRTT +
 * max(G, 4*RTTVAR), floored at SL_TCP_RTO_MIN_US (2.4). One segment is
 * timed at a time (RFC 6298 3). */
static void test_rtt_estimator(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    struct th_peer p = th_peer_full();
    th_open_passive(h, &p, 100 * TH_MS); /* the SYN-ACK's RTT: 100 ms */
    CHECK_EQ(h->t.srtt, 100000);
    CHECK_EQ(h->t.rttvar, 50000);
    CHECK_EQ(h->t.rto, 300000);

    th_write(h, 100);
    th_output(h);
    th_advance(h, 200 * TH_MS);
    struct sl_tcp_seg a = th_ack(h, TH_SND(100));
    th_input(h, &a);
    CHECK_EQ(h->t.srtt, 112500);
    CHECK_EQ(h->t.rttvar, 62500);
    CHECK_EQ(h->t.rto, 362500);

    /* Two segments in flight: only the first is timed. */
    th_write(h, 1448);
    th_output(h);
    th_advance(h, 5 * TH_MS);
    h->t.flags |= SL_TF_NODELAY;
    th_write(h, 10);
    th_output(h);
    EXPECT_NSEG(h, 1);
    th_advance(h, 45 * TH_MS);
    a = th_ack(h, TH_SND(1558));
    th_input(h, &a);
    CHECK_EQ(h->t.rttvar, 62500);        /* (3*62500 + |112500-50000|)/4 */
    CHECK_EQ(h->t.srtt, 104687);         /* (7*112500 + 50000)/8 */
    CHECK_EQ(h->t.rto, 104687 + 250000);

    /* Tiny RTTs are floored at the minimum RTO. */
    struct th *g = est_rtt(1 * TH_MS);
    CHECK_EQ(g->t.srtt, 1000);
    CHECK_EQ(g->t.rto, SL_TCP_RTO_MIN_US);
}

/* RFC 6298 2 / 3 (Karn): an RTT sample measures one segment from its
 * transmission to its ACK. After an active open the SYN's timing must not
 * leak into the first data sample: here the application waits 5 s before
 * its first write, the real RTT stays 100 ms. */
static void test_first_rtt_sample_after_active_open(void)
{
    struct th *h = est_rtt(100 * TH_MS);
    CHECK_EQ(h->t.srtt, 100000);
    th_advance(h, 5 * TH_SEC);
    th_write(h, 100);
    th_output(h);
    th_advance(h, 100 * TH_MS);
    struct sl_tcp_seg a = th_ack(h, TH_SND(100));
    th_input(h, &a);
    /* Second sample of 100 ms: SRTT 100 ms, RTTVAR 3/4 * 50 ms. */
    FIXED_BUG(h->t.srtt == 100000 && h->t.rttvar == 37500 && h->t.rto == 250000,
              "active open: SL_TF_RTT_VALID stays set after the SYN-ACK sample, so the first "
              "data ACK is timed from the SYN (here 5.2 s instead of 100 ms): SRTT/RTO "
              "inflated (RFC 6298 2-3)");
}

/* RFC 1122 4.2.3.5 (R2) / RFC 6298 5.5: after SL_TCP_DATA_RETRIES
 * retransmissions with doubling intervals (capped at 60 s, RFC 6298 2.5),
 * the connection is aborted with ETIMEDOUT. */
static void test_data_retransmission_give_up(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    th_write(h, 1000);
    th_output(h);
    uint64_t prev = h->now, interval = 200 * TH_MS;
    unsigned rexmits = 0;
    for (int i = 0; i < 40 && h->t.state != SL_TCP_CLOSED; i++) {
        uint64_t at = th_fire(h);
        CHECK_EQ(at - prev, interval);
        prev = at;
        interval = interval * 2 > SL_TCP_RTO_MAX_US ? SL_TCP_RTO_MAX_US : interval * 2;
        if (h->t.state != SL_TCP_CLOSED) {
            EXPECT_ONE(h, TH_F_ACK | TH_F_PSH, TH_SND(0), TH_RCV(0), 1000);
            rexmits++;
        }
    }
    CHECK_EQ(rexmits, SL_TCP_DATA_RETRIES);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, -ETIMEDOUT);
    CHECK_EQ(h->out.events & (SL_TEV_ERROR | SL_TEV_CLOSED), SL_TEV_ERROR | SL_TEV_CLOSED);
    EXPECT_CTR(h, tcp_timeouts, 1);
    EXPECT_NONE(h);
    CHECK_EQ(sl_tcp_next_deadline(&h->t), 0);
}

/* RFC 6298 5.5 (doubling), 2.5 (60 s cap), RFC 9293 3.8.3 MUST-23 (R2
 * for a SYN: retransmissions for at least 3 minutes): the SYN is
 * retransmitted at 1, 3, 7, 15, 31, 63, 123 s with the same options; the
 * 8th expiry (123 + 60 s = 183 s) gives up with ETIMEDOUT. */
static void test_syn_retransmission(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    uint64_t t0 = h->now;
    th_connect(h);
    static const uint64_t at[] = {1, 3, 7, 15, 31, 63, 123};
    for (unsigned i = 0; i < 7; i++) {
        CHECK_EQ(th_fire(h), t0 + at[i] * TH_SEC);
        if (EXPECT_ONE(h, TH_F_SYN, TH_ISS, 0, 0)) {
            CHECK_EQ(SEG(h, 0).opts.has_mss, 1);
            CHECK_EQ(SEG(h, 0).opts.has_wscale, 1);
            CHECK_EQ(SEG(h, 0).opts.sack_perm, 1);
            CHECK_EQ(SEG(h, 0).opts.tsval, th_tsval(h));
            CHECK_EQ(SEG(h, 0).opts.tsecr, 0);
        }
        CHECK_EQ(h->t.state, SL_TCP_SYN_SENT);
    }
    CHECK_EQ(th_fire(h), t0 + 183 * TH_SEC);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, -ETIMEDOUT);
    EXPECT_CTR(h, tcp_timeouts, 1);
}

/* Karn (RFC 6298 3) for the SYN: a SYN-ACK after a retransmitted SYN gives
 * no RTT sample; RFC 6298 5.7: "If the timer expires awaiting the ACK of a
 * SYN segment and the TCP implementation is using an RTO less than 3
 * seconds, the RTO MUST be re-initialized to 3 seconds when data
 * transmission begins". */
static void test_syn_retransmission_then_established(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    th_connect(h);
    th_fire(h);
    EXPECT_ONE(h, TH_F_SYN, TH_ISS, 0, 0);
    th_advance(h, 20 * TH_MS);
    struct sl_tcp_seg sa = th_syn(h, TH_F_ACK, TH_IRS, TH_ISS + 1);
    th_input(h, &sa);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(h->t.flags & SL_TF_HAVE_RTT, 0); /* Karn: no sample */
    CHECK_EQ(h->t.backoff, 0);
    FIXED_BUG(h->t.rto >= 3 * TH_SEC,
              "after a SYN timeout and no RTT sample, the RTO stays at 1 s when data "
              "transfer begins (RFC 6298 5.7 MUST: re-initialize to 3 s)");
}

/* The passive side retransmits its SYN-ACK the same way and gives up. */
static void test_synack_retransmission(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    uint64_t t0 = h->now;
    th_accept(h, &syn);
    CHECK_EQ(th_fire(h), t0 + 1 * TH_SEC);
    if (EXPECT_ONE(h, TH_F_SYN | TH_F_ACK, TH_ISS, TH_IRS + 1, 0)) {
        CHECK_EQ(SEG(h, 0).opts.has_mss, 1);
        CHECK_EQ(SEG(h, 0).opts.tsecr, syn.opts.tsval);
    }
    EXPECT_CTR(h, tcp_retransmits, 1);
    for (int i = 0; i < 6; i++)
        th_fire(h);
    CHECK_EQ(h->t.state, SL_TCP_SYN_RCVD);
    CHECK_EQ(th_fire(h), t0 + 183 * TH_SEC);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, -ETIMEDOUT);
}

/* A receiver that takes only in-order data and ACKs it: answer whatever the
 * engine emits, fire its timers when it is silent. Returns true once
 * everything up to our stream offset `end` is acknowledged, false if the
 * connection stalls (nothing sent, no timer armed) or closes. */
static bool drain_to(struct th *h, uint32_t end, int max_steps)
{
    uint32_t rcv = h->t.snd_una;
    for (int i = 0; i < max_steps; i++) {
        if (h->t.snd_una == TH_SND(end))
            return true;
        if (h->t.state == SL_TCP_CLOSED)
            return false;
        if (h->out.n == 0) {
            if (!th_fire(h))
                return false; /* stalled: nothing will ever happen */
        }
        unsigned n = h->out.n;
        for (unsigned k = 0; k < n; k++) {
            const struct sl_tcp_emit *e = &h->out.seg[k];
            if (e->len && sl_seq_le(e->seq, rcv) && sl_seq_gt(e->seq + e->len, rcv))
                rcv = e->seq + e->len;
        }
        if (n) {
            th_advance(h, 10 * TH_MS);
            struct sl_tcp_seg a = th_ack(h, rcv);
            th_input(h, &a);
        }
    }
    return h->t.snd_una == TH_SND(end);
}

/* Zero-window probing, RFC 9293 3.8.6.1 / RFC 1122 4.2.2.17: the peer
 * closes its window; the persist timer sends 1-octet probes with
 * exponential backoff; "as long as the receiving TCP continues to send
 * acknowledgments in response to the probe segments, the sending TCP MUST
 * allow the connection to stay open"; when the window opens, sending
 * resumes. The probe answers are ACKs that repeat SND.UNA with window 0
 * (the probe byte is refused): they are not loss signals. */
static void test_zero_window_probing(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    th_write(h, 1000);
    th_output(h);
    EXPECT_NSEG(h, 1);
    h->peer.wnd = 0;
    struct sl_tcp_seg a = th_ack(h, TH_SND(1000));
    th_input(h, &a);
    CHECK_EQ(h->t.snd_wnd, 0);
    CHECK_EQ(h->t.t_rexmt, 0);
    th_write(h, 5000);
    th_output(h);
    EXPECT_NONE(h);
    CHECK(h->t.flags & SL_TF_PERSIST);
    CHECK_EQ(h->t.t_rexmt, h->now + h->t.rto);
    uint32_t ssthresh = h->t.ssthresh;

    uint64_t prev = h->now, interval = h->t.rto;
    bool spurious = false;
    for (int i = 0; i < 20 && !spurious; i++) {
        uint64_t at = th_fire(h);
        CHECK_EQ(at - prev, interval); /* rto, 2 rto, 4 rto, ... capped at 60 s */
        prev = at;
        interval = interval * 2 > SL_TCP_RTO_MAX_US ? SL_TCP_RTO_MAX_US : interval * 2;
        EXPECT_ONE(h, TH_F_ACK, TH_SND(1000), TH_RCV(0), 1);
        EXPECT_CTR(h, tcp_zwp_tx, 1);
        CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
        th_advance(h, 10 * TH_MS);
        a = th_ack(h, TH_SND(1000)); /* window still 0, probe byte refused */
        th_input(h, &a);
        spurious = h->out.n != 0 || th_ctr(h, SL_CTR_tcp_fast_retransmits) != 0;
    }
    FIXED_BUG(!spurious,
              "zero-window probe answers (ACK = SND.UNA, window 0, probe byte outstanding) "
              "count as duplicate ACKs: the 3rd triggers a fast retransmit of an MSS of "
              "never-sent data into the zero window, halves ssthresh, then an RTO sets cwnd "
              "= 1 MSS and doubles the RTO for good (RFC 5681 2 / 3.2, RFC 9293 3.8.6.1)");
    if (!spurious)
        CHECK_EQ(h->t.ssthresh, ssthresh);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(h->t.err, 0);
    CHECK_EQ(h->t.snd_una, TH_SND(1000));

    /* The window opens: sending resumes and all data gets through. */
    h->peer.wnd = 1024;
    a = th_ack(h, TH_SND(1000));
    th_input(h, &a);
    CHECK_EQ(h->t.flags & SL_TF_PERSIST, 0);
    CHECK(drain_to(h, 6000, 300));
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
}

/* When the window opens, sending resumes at SND.UNA: the refused probe
 * byte is part of the next segment (BSD pulls SND.NXT back to SND.UNA while
 * the window is zero). Resuming at SND.UNA+1 leaves a 1-byte hole that only
 * a fast retransmit (cwnd halved) or an RTO repairs. */
static void test_zero_window_reopen_resumes_at_una(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    h->peer.wnd = 0;
    struct sl_tcp_seg a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    th_write(h, 5000);
    th_output(h);
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 1);
    th_advance(h, 10 * TH_MS);
    a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    h->peer.wnd = 1024;
    a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    CHECK(h->out.n >= 1); /* more than an MSS queued: something goes at once */
    if (h->out.n >= 1)
        FIXED_BUG(SEG(h, 0).seq == TH_SND(0),
                  "window reopens after a refused zero-window probe: sending resumes at "
                  "SND.UNA+1, leaving a 1-byte hole repaired only by fast retransmit or RTO");
    CHECK(drain_to(h, 5000, 200));
}

/* The same, shortest form: one probe, refused, then the window opens with
 * less than an MSS queued. The refused probe byte stays "in flight" (snd_nxt
 * = SND.UNA + 1), the window update cancels the persist timer without
 * arming the RTO, and Nagle holds the sub-MSS rest because one byte is
 * unacknowledged: nothing is ever sent again. RFC 9293 3.8.6.1 (the
 * sender must keep probing / resume), RFC 6298 5.1 (a timer must run while
 * data is outstanding). */
static void test_zero_window_reopen_after_one_probe(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    h->peer.wnd = 0;
    struct sl_tcp_seg a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    th_write(h, 500);
    th_output(h);
    EXPECT_NONE(h);
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 1);
    th_advance(h, 10 * TH_MS);
    a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    EXPECT_NONE(h);

    h->peer.wnd = 1024;
    a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    bool progress = h->out.n > 0 || sl_tcp_next_deadline(&h->t) != 0;
    if (!FIXED_BUG(progress,
                   "window reopens after a refused zero-window probe with < 1 MSS queued: "
                   "nothing sent and no timer armed (probe byte counted in flight, persist "
                   "cancelled without arming the RTO, Nagle waits): permanent stall "
                   "(RFC 9293 3.8.6.1, RFC 6298 5.1)"))
        return;
    if (h->out.n)
        CHECK_EQ(SEG(h, 0).seq, TH_SND(0)); /* resend from the refused probe byte */
    CHECK(drain_to(h, 500, 100));
}

/* Persist with the window opening by a window update that also ACKs the
 * probe byte (the peer found room for it). */
static void test_zero_window_probe_accepted(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    h->peer.wnd = 0;
    struct sl_tcp_seg a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    th_write(h, 3000);
    th_output(h);
    EXPECT_NONE(h);
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0), TH_RCV(0), 1);
    h->peer.wnd = 1024;
    a = th_ack(h, TH_SND(1));
    th_input(h, &a);
    CHECK_EQ(h->t.snd_una, TH_SND(1));
    CHECK_EQ(h->t.backoff, 0);
    if (EXPECT_NSEG(h, 2)) {
        EXPECT_SEG(h, 0, TH_F_ACK, TH_SND(1), TH_RCV(0), 1448);
        EXPECT_SEG(h, 1, TH_F_ACK, TH_SND(1449), TH_RCV(0), 1448);
    }
}

/* Keepalive (RFC 9293 3.8.4, RFC 1122 4.2.3.6): off by default; when on,
 * after keepidle a probe <SEQ=SND.NXT-1><ACK=RCV.NXT> with no data; any
 * segment from the peer resets the idle timer; after KEEPCNT unanswered
 * probes, ETIMEDOUT. */
/* RFC 9293 3.8.4 MUST-26: keep-alive probes only when no sent data is
 * outstanding; while the retransmission timer watches the peer, the idle
 * deadline is pushed back instead. Arriving segments re-arm it in
 * CLOSE-WAIT too. */
static void test_keepalive_not_with_outstanding_data(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    h->t.keepidle_s = 1;
    h->t.t_keep = h->now + 1 * TH_SEC;
    th_write(h, 100);
    th_output(h);
    EXPECT_NSEG(h, 1);
    uint64_t probes = 0, t0 = h->now;
    int fired = 0;
    while (h->now < t0 + 6 * TH_SEC && h->t.state == SL_TCP_ESTABLISHED) {
        th_fire(h);
        fired++;
        probes += th_ctr(h, SL_CTR_tcp_keepalive_tx);
    }
    CHECK(fired >= 5); /* several RTOs and idle deadlines went by */
    CHECK_EQ(probes, 0);
    CHECK(h->t.t_keep > h->now);

    /* CLOSE-WAIT: the peer's FIN, then traffic re-arms the idle timer. */
    struct th *g = est_rtt(10 * TH_MS);
    g->t.keepidle_s = 10;
    g->t.t_keep = g->now + 10 * TH_SEC;
    struct sl_tcp_seg fin = th_data(g, 0, 0);
    fin.flags |= TH_F_FIN;
    th_input(g, &fin);
    CHECK_EQ(g->t.state, SL_TCP_CLOSE_WAIT);
    th_advance(g, 5 * TH_SEC);
    struct sl_tcp_seg a = th_ack(g, TH_SND(0));
    a.seq = TH_RCV(1);
    th_input(g, &a);
    CHECK_EQ(g->t.t_keep, g->now + 10 * TH_SEC);
}

/* RFC 9293 3.8.3 MUST-21: the application sets R2 per connection
 * (SL_OPT_RETRIES -> tcb.r2). */
static void test_r2_per_connection(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    h->t.flags |= SL_TF_NO_TLP;
    h->t.r2 = 3;
    th_write(h, 1448);
    th_output(h);
    unsigned rexmits = 0;
    for (int i = 0; i < 20 && h->t.state != SL_TCP_CLOSED; i++) {
        th_fire(h);
        rexmits += (unsigned)th_ctr(h, SL_CTR_tcp_retransmits);
    }
    CHECK_EQ(rexmits, 3);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, -ETIMEDOUT);
}

static void test_keepalive(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    CHECK_EQ(h->t.t_keep, 0);
    CHECK_EQ(sl_tcp_next_deadline(&h->t), 0);

    h->t.keepidle_s = 10; /* as sl_conn_setopt(SL_OPT_KEEPALIVE) does */
    h->t.t_keep = h->now + 10 * TH_SEC;
    uint64_t t0 = h->now;
    CHECK_EQ(th_fire(h), t0 + 10 * TH_SEC);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(0) - 1, TH_RCV(0), 0);
    EXPECT_CTR(h, tcp_keepalive_tx, 1);
    CHECK_EQ(h->t.t_keep, h->now + SL_TCP_KEEPINTVL_US);

    /* The answer proves the peer alive. */
    th_advance(h, 10 * TH_MS);
    struct sl_tcp_seg a = th_ack(h, TH_SND(0));
    th_input(h, &a);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.ka_probes, 0);
    CHECK_EQ(h->t.t_keep, h->now + 10 * TH_SEC);

    /* Traffic resets the idle timer. */
    th_advance(h, 7 * TH_SEC);
    struct sl_tcp_seg d = th_data(h, 0, 10);
    th_input(h, &d);
    CHECK_EQ(h->t.t_keep, h->now + 10 * TH_SEC);
    th_fire(h); /* the delayed ACK */
    EXPECT_CTR(h, tcp_keepalive_tx, 0);

    /* No answers: KEEPCNT probes, then ETIMEDOUT. */
    unsigned probes = 0;
    for (int i = 0; i < 30 && h->t.state != SL_TCP_CLOSED; i++) {
        th_fire(h);
        probes += (unsigned)th_ctr(h, SL_CTR_tcp_keepalive_tx);
    }
    CHECK_EQ(probes, SL_TCP_KEEPCNT);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK_EQ(h->t.err, -ETIMEDOUT);
    CHECK(h->out.events & SL_TEV_ERROR);
}

/* RFC 9293 3.8.4 / RFC 1122 4.2.3.6: keepalive may only end a connection
 * whose probes go unanswered. Here keepalive is on and the application
 * half-closes (FIN-WAIT-2, still reading): the keepalive deadline armed in
 * ESTABLISHED is still in t_keep, which in FIN-WAIT-2 means "FIN-WAIT-2
 * timeout", so the live connection is closed silently (no RST, no error,
 * no HUP) while the peer may still be sending. */
static void test_keepalive_half_close(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    h->t.keepidle_s = 10;
    h->t.t_keep = h->now + 10 * TH_SEC;
    th_begin(h);
    sl_tcp_close(&h->t, h->now, &h->out);
    sl_tcp_output(&h->t, &h->b, h->now, &h->out);
    struct sl_tcp_seg a = th_ack(h, TH_SND(1));
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_2);
    th_advance(h, 5 * TH_SEC);
    struct sl_tcp_seg d = th_seg(h, TH_F_ACK, TH_RCV(0), TH_SND(1), 100);
    th_input(h, &d); /* the peer is alive and sending */
    th_fire(h);      /* delayed ACK */
    th_fire(h);      /* the next timer, whatever it is */
    FIXED_BUG(h->t.state == SL_TCP_FIN_WAIT_2,
              "keepalive on + half close: the ESTABLISHED keepalive deadline left in t_keep "
              "fires in FIN-WAIT-2 as the FIN-WAIT-2 timeout and closes the live connection "
              "silently (RFC 9293 3.8.4, RFC 1122 4.2.3.6)");
}

/* Keepalive set before the handshake completes starts at ESTABLISHED. */
static void test_keepalive_from_handshake(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    h->peer = th_peer_full();
    struct sl_tcp_seg syn = th_syn(h, 0, TH_IRS, 0);
    th_accept(h, &syn);
    h->t.keepidle_s = 30;
    struct sl_tcp_seg a = th_ack(h, TH_ISS + 1);
    th_input(h, &a);
    CHECK_EQ(h->t.t_keep, h->now + 30 * TH_SEC);
}

/* RFC 9293 3.6 / 3.10.7.4: TIME-WAIT lasts 2 MSL (SL_TCP_MSL_US each), then
 * CLOSED without sending anything. */
static void test_time_wait_2msl(void)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    struct th_peer p = th_peer_full();
    th_open_passive(h, &p, 10 * TH_MS);
    th_begin(h);
    sl_tcp_close(&h->t, h->now, &h->out);
    sl_tcp_output(&h->t, &h->b, h->now, &h->out);
    struct sl_tcp_seg f = th_seg(h, TH_F_ACK | TH_F_FIN, TH_RCV(0), TH_SND(1), 0);
    th_input(h, &f);
    CHECK_EQ(h->t.state, SL_TCP_TIME_WAIT);
    uint64_t t0 = h->now;
    CHECK_EQ(sl_tcp_next_deadline(&h->t), t0 + 2ull * SL_TCP_MSL_US);
    h->now = t0 + 2ull * SL_TCP_MSL_US - 1;
    th_timers(h);
    CHECK_EQ(h->t.state, SL_TCP_TIME_WAIT);
    CHECK_EQ(th_fire(h), t0 + 2ull * SL_TCP_MSL_US);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK(h->out.events & SL_TEV_CLOSED);
    CHECK_EQ(h->out.events & SL_TEV_ERROR, 0);
    EXPECT_CTR(h, tcp_closed, 1);
}

/* FIN-WAIT-2 timeout (RFC 9293 3.6 leaves it to the implementation; like
 * Linux only for an orphaned connection: the application shut down
 * reading). A half-closed connection that still reads waits for the FIN. */
static void test_fin_wait_2_timeout(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    sl_tcp_shutdown_rd(&h->t);
    th_begin(h);
    sl_tcp_close(&h->t, h->now, &h->out);
    sl_tcp_output(&h->t, &h->b, h->now, &h->out);
    struct sl_tcp_seg a = th_ack(h, TH_SND(1));
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_2);
    uint64_t t0 = h->now;
    CHECK_EQ(th_fire(h), t0 + SL_TCP_FIN_WAIT2_US);
    EXPECT_NONE(h);
    CHECK_EQ(h->t.state, SL_TCP_CLOSED);
    CHECK(h->out.events & SL_TEV_CLOSED);

    struct th *g = est_rtt(10 * TH_MS);
    th_begin(g);
    sl_tcp_close(&g->t, g->now, &g->out);
    sl_tcp_output(&g->t, &g->b, g->now, &g->out);
    a = th_ack(g, TH_SND(1));
    th_input(g, &a);
    CHECK_EQ(g->t.state, SL_TCP_FIN_WAIT_2);
    CHECK_EQ(sl_tcp_next_deadline(&g->t), 0);
}

/* sl_tcp_next_deadline is the earliest armed timer; timers do nothing
 * before their deadline. */
static void test_next_deadline(void)
{
    struct th *h = est_rtt(10 * TH_MS);
    CHECK_EQ(sl_tcp_next_deadline(&h->t), 0);
    th_write(h, 100);
    th_output(h);
    uint64_t rto = h->t.t_rexmt;
    struct sl_tcp_seg d = th_data(h, 0, 10);
    th_input(h, &d);
    CHECK(h->t.t_delack != 0 && h->t.t_delack < rto);
    CHECK_EQ(sl_tcp_next_deadline(&h->t), h->t.t_delack);
    h->now = h->t.t_delack - 1;
    th_timers(h);
    EXPECT_NONE(h);
    th_fire(h);
    EXPECT_ONE(h, TH_F_ACK, TH_SND(100), TH_RCV(10), 0);
    CHECK_EQ(sl_tcp_next_deadline(&h->t), rto);
}

int main(void)
{
    RUN(test_rto_retransmission);
    RUN(test_tail_loss_probe);
    RUN(test_pto_restarted_by_new_data);
    RUN(test_rtt_estimator);
    RUN(test_first_rtt_sample_after_active_open);
    RUN(test_data_retransmission_give_up);
    RUN(test_syn_retransmission);
    RUN(test_syn_retransmission_then_established);
    RUN(test_synack_retransmission);
    RUN(test_zero_window_probing);
    RUN(test_zero_window_reopen_after_one_probe);
    RUN(test_zero_window_reopen_resumes_at_una);
    RUN(test_zero_window_probe_accepted);
    RUN(test_keepalive);
    RUN(test_keepalive_not_with_outstanding_data);
    RUN(test_r2_per_connection);
    RUN(test_keepalive_from_handshake);
    RUN(test_keepalive_half_close);
    RUN(test_time_wait_2msl);
    RUN(test_fin_wait_2_timeout);
    RUN(test_next_deadline);
    return check_finish("test_tcp_timers");
}
