/* RTT estimation and congestion control: RFC 6298, RFC 5681, RFC 6582
 * (NewReno) and RFC 9438 (CUBIC). Selected per connection by tcb.cc. */
#include <math.h>

#include "tcp/tcp_int.h"

/* RFC 6298 2.2 / 2.3: smoothed RTT and variance, then RTO = SRTT +
 * max(G, 4*RTTVAR), clamped (2.4, 2.5). Microsecond clock, G = 1 us. */
void tcp_rtt_sample(struct sl_tcb *t, uint32_t r)
{
    if (r == 0)
        r = 1;
    if (!(t->flags & SL_TF_HAVE_RTT)) {
        t->srtt = r;             /* RFC 6298 2.2 */
        t->rttvar = r / 2;
        t->flags |= SL_TF_HAVE_RTT;
    } else {                     /* RFC 6298 2.3, alpha = 1/8, beta = 1/4 */
        uint32_t d = t->srtt > r ? t->srtt - r : r - t->srtt;
        t->rttvar = (3 * t->rttvar + d) / 4;
        t->srtt = (7 * t->srtt + r) / 8;
    }
    uint64_t rto = (uint64_t)t->srtt + tcp_max32(1, 4 * t->rttvar);
    if (rto < SL_TCP_RTO_MIN_US)
        rto = SL_TCP_RTO_MIN_US;
    if (rto > SL_TCP_RTO_MAX_US)
        rto = SL_TCP_RTO_MAX_US;
    t->rto = (uint32_t)rto;
}

/* RFC 6928 initial window: min(10*MSS, max(2*MSS, 14600)). */
void tcp_cc_init(struct sl_tcb *t)
{
    uint32_t mss = t->snd_mss;
    t->cwnd = tcp_min32(10 * mss, tcp_max32(2 * mss, 14600));
    t->ssthresh = UINT32_MAX;    /* RFC 5681 3.1: arbitrarily high */
    t->ca_acked = 0;
    t->cub_wmax = 0;
    t->cub_epoch_ms = 0;
}

#define CUBIC_BETA 0.7 /* RFC 9438 4.6 */
#define CUBIC_C 0.4    /* RFC 9438 5 */

static void cubic_on_ack(struct sl_tcb *t, uint32_t acked, uint64_t now)
{
    double mss = t->snd_mss;
    uint32_t now_ms = (uint32_t)(now / 1000) | 1;
    if (t->cub_epoch_ms == 0) { /* RFC 9438 4.2: a new congestion avoidance epoch */
        t->cub_epoch_ms = now_ms;
        if (t->cwnd < t->cub_wmax) {
            double k = cbrt((t->cub_wmax - t->cwnd) / mss / CUBIC_C);
            t->cub_k_ms = (uint32_t)(k * 1000.0);
        } else {
            t->cub_k_ms = 0;
            t->cub_wmax = t->cwnd;
        }
        t->cub_west = t->cwnd;
    }
    double tsec = (double)(uint32_t)(now_ms - t->cub_epoch_ms) / 1000.0 +
                  (double)t->srtt / 1e6;       /* RFC 9438 4.2: W_cubic(t + RTT) */
    double dk = tsec - t->cub_k_ms / 1000.0;
    double target = (CUBIC_C * dk * dk * dk) * mss + t->cub_wmax; /* RFC 9438 eq. 1 */
    /* RFC 9438 4.3: Reno-friendly region, alpha = 3(1-beta)/(1+beta). */
    double alpha = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
    t->cub_west += (uint32_t)(alpha * mss * acked / (double)t->cwnd);
    if (target < t->cub_west) {
        t->cwnd = tcp_max32(t->cwnd, t->cub_west);
        return;
    }
    if (target > 1.5 * t->cwnd)  /* RFC 9438 4.4: cap growth at 1.5x per RTT */
        target = 1.5 * t->cwnd;
    if (target > t->cwnd) {      /* RFC 9438 4.4: (target - cwnd)/cwnd per acked MSS */
        t->ca_acked += (uint32_t)((target - t->cwnd) * acked / t->cwnd);
        if (t->ca_acked >= t->snd_mss) {
            t->cwnd += t->ca_acked;
            t->ca_acked = 0;
        }
    }
}

void tcp_cc_on_ack(struct sl_tcb *t, uint32_t acked, uint64_t now)
{
    if (t->cwnd < t->ssthresh) {
        /* Slow start (RFC 5681 3.1). Like Linux we count every acked byte
         * (RFC 3465 with unlimited L): veth/GRO peers ack 64 KB at once. */
        uint64_t c = (uint64_t)t->cwnd + acked;
        if (c > t->ssthresh && t->ssthresh != UINT32_MAX)
            c = t->ssthresh;
        t->cwnd = c > (1u << 30) ? (1u << 30) : (uint32_t)c; /* never wraps */
        return;
    }
    if (t->cc == SL_TCP_CC_CUBIC) {
        cubic_on_ack(t, acked, now);
        return;
    }
    /* Congestion avoidance (RFC 5681 3.1, eq. 3): +1 SMSS per cwnd acked. */
    t->ca_acked += acked;
    if (t->ca_acked >= t->cwnd) {
        t->ca_acked -= t->cwnd;
        t->cwnd += t->snd_mss;
    }
}

static uint32_t cc_loss_ssthresh(struct sl_tcb *t)
{
    uint32_t mss = t->snd_mss;
    if (t->cc == SL_TCP_CC_CUBIC) {
        /* RFC 9438 4.7 (fast convergence) and 4.6 (beta = 0.7). */
        uint32_t w = t->cwnd;
        if (w < t->cub_wmax)
            t->cub_wmax = (uint32_t)(w * (1.0 + CUBIC_BETA) / 2.0);
        else
            t->cub_wmax = w;
        t->cub_epoch_ms = 0;
        return tcp_max32((uint32_t)(w * CUBIC_BETA), 2 * mss);
    }
    /* RFC 5681 3.1 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS). */
    return tcp_max32(tcp_flight(t) / 2, 2 * mss);
}

/* Fast retransmit entry (RFC 5681 3.2 step 2, RFC 6582 3.2 step 2). */
void tcp_cc_enter_recovery(struct sl_tcb *t, uint64_t now)
{
    /* RFC 3168 6.1.2: one cut per window of data; if an ECE already cut
     * this one, the loss keeps that ssthresh */
    if (!((t->flags & SL_TF_ECN_OK) && sl_seq_lt(t->snd_una, t->ecn_mark)))
        t->ssthresh = cc_loss_ssthresh(t);
    t->recover = t->snd_max;
    t->ecn_mark = t->snd_max; /* RFC 3168 6.1.2: one cut per window */
    t->flags |= SL_TF_IN_RECOVERY;
    if (t->flags & SL_TF_SACK_OK)
        t->cwnd = t->ssthresh;                   /* RFC 6675 5 step 4: pipe governs */
    else
        t->cwnd = t->ssthresh + 3 * t->snd_mss;  /* RFC 5681 3.2 step 3 */
    t->ca_acked = 0;
}

/* Retransmission timeout (RFC 5681 3.1 eq. 4 and "loss window"). */
void tcp_cc_on_rto(struct sl_tcb *t, uint64_t now)
{
    if (t->backoff <= 1)         /* RFC 5681 3.1: only on the first timeout */
        t->ssthresh = cc_loss_ssthresh(t);
    t->cwnd = t->snd_mss;
    t->ca_acked = 0;
    t->recover = t->snd_max;     /* RFC 6582 3.2 step 4 */
    t->ecn_mark = t->snd_max;
    t->flags &= ~(uint32_t)SL_TF_IN_RECOVERY;
}

/* RFC 3168 6.1.2: an ECN-Echo is treated as a loss, without a
 * retransmission: ssthresh as for a loss (halved, CUBIC's beta), cwnd down
 * to it, at most once per window of data; the next new data segment
 * carries CWR. */
void tcp_cc_on_ece(struct sl_tcb *t, uint64_t now)
{
    (void)now;
    t->ssthresh = cc_loss_ssthresh(t);
    t->cwnd = t->ssthresh;
    t->ca_acked = 0;
    t->ecn_mark = t->snd_max;
    t->flags |= SL_TF_ECN_CWR;
}
