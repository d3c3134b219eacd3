/* Validation of a restored control block (see tcp_validate.h). The bounds
 * are those the engine keeps for a live connection; fuzz/fuzz_tcp.c checks
 * the same invariants after every engine call. */
#include "tcp/tcp_validate.h"

#include "sltcp/sltcp.h"
#include "tcp/tcp_int.h"

static bool bad_peer(uint32_t a, const struct sl_tcp_restore_env *env)
{
    uint8_t top = (uint8_t)(a >> 24);
    if (a == env->laddr || top == 0 || top == 127 || top >= 224) /* RFC 1122 3.2.1.3, */
        return true; /* RFC 5771 multicast, RFC 1112 4 reserved, 255.255.255.255 */
    return env->netmask && env->netmask != 0xffffffffu &&
           ((a ^ env->laddr) & env->netmask) == 0 && (a | env->netmask) == 0xffffffffu;
}

static enum sl_ctr check_state(const struct sl_tcb *t)
{
    switch (t->state) {
    case SL_TCP_SYN_RCVD: case SL_TCP_ESTABLISHED: case SL_TCP_FIN_WAIT_1:
    case SL_TCP_FIN_WAIT_2: case SL_TCP_CLOSE_WAIT: case SL_TCP_CLOSING: case SL_TCP_LAST_ACK:
        break;
    default: /* never stored: a flow in CLOSED/TIME-WAIT has its record deleted */
        return SL_CTR_restore_invalid_state;
    }
    if (t->cc > SL_CC_CUBIC)
        return SL_CTR_restore_invalid_state;
    /* a peer FIN is consumed exactly in the states after it (RFC 9293 3.10.7.4) */
    bool fin_rcvd = (t->flags & SL_TF_FIN_RCVD) != 0;
    bool after_fin = t->state == SL_TCP_CLOSE_WAIT || t->state == SL_TCP_CLOSING ||
                     t->state == SL_TCP_LAST_ACK;
    if (fin_rcvd != after_fin)
        return SL_CTR_restore_invalid_state;
    /* our FIN is queued in the states that follow a close */
    bool closing = t->state == SL_TCP_FIN_WAIT_1 || t->state == SL_TCP_FIN_WAIT_2 ||
                   t->state == SL_TCP_CLOSING || t->state == SL_TCP_LAST_ACK;
    if (closing && !(t->flags & SL_TF_FIN_QUEUED))
        return SL_CTR_restore_invalid_state;
    return SL_CTR_ok;
}

static enum sl_ctr check_mss(const struct sl_tcb *t, const struct sl_tcp_restore_env *env)
{
    uint32_t floor = SL_TCP_MSS_FLOOR - ((t->flags & SL_TF_TS_OK) ? 12u : 0u);
    uint32_t nego = tcp_min32(t->peer_mss, t->rcv_mss);
    if (t->path_mss)
        nego = tcp_min32(nego, t->path_mss);
    if (t->snd_mss < floor || t->snd_mss > env->mss || t->snd_mss > nego ||
        t->rcv_mss < SL_TCP_MSS_FLOOR || t->rcv_mss > env->mss ||
        t->peer_mss < SL_TCP_MSS_FLOOR ||
        (t->path_mss && (t->path_mss < 536 || t->path_mss > t->rcv_mss))) /* RFC 1191 */
        return SL_CTR_restore_invalid_mss;
    return SL_CTR_ok;
}

static enum sl_ctr check_send(const struct sl_tcb *t)
{
    uint32_t fin = (t->flags & SL_TF_FIN_QUEUED) ? 1u : 0u;
    if (t->state == SL_TCP_SYN_RCVD) {
        /* the SYN-ACK's ISS is the only thing that may be unacknowledged */
        if (t->snd_una != t->iss || t->snd_end - t->iss - 1u > t->snd_bufsz ||
            t->snd_max - t->iss > 1u || t->snd_nxt - t->iss > 1u)
            return SL_CTR_restore_invalid_sndseq;
        return SL_CTR_ok;
    }
    /* RFC 9293 3.3.1: SND.UNA <= SND.NXT <= SND.MAX, and nothing sent that
     * the application did not write (+1 for our FIN) */
    if (sl_seq_lt(t->snd_nxt, t->snd_una) || sl_seq_lt(t->snd_max, t->snd_nxt) ||
        sl_seq_gt(t->snd_max, t->snd_end + fin))
        return SL_CTR_restore_invalid_sndseq;
    /* unacknowledged + unsent bytes fit the ring (a FIN acknowledged
     * leaves SND.UNA one past SND.END) */
    if (sl_seq_gt(t->snd_una, t->snd_end + fin) ||
        (sl_seq_le(t->snd_una, t->snd_end) && t->snd_end - t->snd_una > t->snd_bufsz))
        return SL_CTR_restore_invalid_sndseq;
    if ((t->flags & SL_TF_SND_URG) &&
        (sl_seq_lt(t->snd_up, t->snd_una) || sl_seq_gt(t->snd_up, t->snd_end)))
        return SL_CTR_restore_invalid_sndseq;
    return SL_CTR_ok;
}

static enum sl_ctr check_recv(const struct sl_tcb *t)
{
    uint32_t fin = (t->flags & SL_TF_FIN_RCVD) ? 1u : 0u;
    uint32_t unread = t->rcv_nxt - t->rcv_read;
    if (sl_seq_lt(t->rcv_nxt, t->rcv_read) || unread > t->rcv_bufsz + fin)
        return SL_CTR_restore_invalid_rcvseq;
    /* the advertised right edge stays within the ring, one scaling step of
     * rounding allowed (RFC 7323 2.4); a FIN may sit one past it */
    uint32_t slack = (1u << t->rcv_wscale) + 1u;
    if (t->rcv_adv - t->rcv_read + 1u > t->rcv_bufsz + slack + 1u)
        return SL_CTR_restore_invalid_rcvseq;
    if (t->state == SL_TCP_SYN_RCVD && t->rcv_nxt != t->irs + 1u)
        return SL_CTR_restore_invalid_rcvseq;
    return SL_CTR_ok;
}

static enum sl_ctr check_window(const struct sl_tcb *t)
{
    if (t->snd_wscale > 14 || t->rcv_wscale > 14) /* RFC 7323 2.3 */
        return SL_CTR_restore_invalid_window;
    if (!(t->flags & SL_TF_WS_OK) && (t->snd_wscale || t->rcv_wscale))
        return SL_CTR_restore_invalid_window;
    uint32_t max = 0xffffu << t->snd_wscale;
    if (t->snd_wnd > max || t->max_snd_wnd > max)
        return SL_CTR_restore_invalid_window;
    return SL_CTR_ok;
}

static enum sl_ctr check_timers(const struct sl_tcb *t, uint64_t now)
{
    if (t->rto < SL_TCP_RTO_MIN_US || t->rto > SL_TCP_RTO_MAX_US) /* RFC 6298 2.4, 2.5 */
        return SL_CTR_restore_invalid_timer;
    if (t->n_sacked > SL_TCP_MAX_SACK || t->n_ooo > SL_TCP_MAX_OOO || t->ooo_last > t->n_ooo)
        return SL_CTR_restore_invalid_timer;
    /* The furthest deadline the engine sets: an RTO/persist/SYN timer is at
     * most RTO_MAX (backed off and capped), a delayed ACK DELACK, the third
     * timer keepalive idle (+ probes), FIN-WAIT-2 or 2MSL. 1 s of slack. */
    uint64_t keep = (uint64_t)(t->keepidle_s ? t->keepidle_s : SL_TCP_KEEPIDLE_DEFAULT_S) *
                    1000000u;
    keep = keep > SL_TCP_KEEPINTVL_US ? keep : SL_TCP_KEEPINTVL_US;
    keep = keep > 2ull * SL_TCP_MSL_US ? keep : 2ull * SL_TCP_MSL_US;
    keep = keep > SL_TCP_FIN_WAIT2_US ? keep : SL_TCP_FIN_WAIT2_US;
    const uint64_t slack = 1000000u;
    if ((t->t_rexmt && t->t_rexmt > now + SL_TCP_RTO_MAX_US + slack) ||
        (t->t_delack && t->t_delack > now + SL_TCP_DELACK_US + slack) ||
        (t->t_keep && t->t_keep > now + keep + slack))
        return SL_CTR_restore_invalid_timer;
    return SL_CTR_ok;
}

enum sl_ctr sl_tcp_validate_restored(const struct sl_tcb *t, const struct sl_tcp_restore_env *env)
{
    enum sl_ctr r = check_state(t);
    if (r)
        return r;
    if (t->laddr != env->laddr || !t->lport || !t->rport || bad_peer(t->raddr, env))
        return SL_CTR_restore_invalid_addr;
    if (t->snd_bufsz != env->sndbuf || t->rcv_bufsz != env->rcvbuf || !t->snd_bufsz ||
        (t->snd_bufsz & (t->snd_bufsz - 1)) || !t->rcv_bufsz ||
        (t->rcv_bufsz & (t->rcv_bufsz - 1)))
        return SL_CTR_restore_invalid_bufsz;
    if ((r = check_mss(t, env)) || (r = check_window(t)) || (r = check_send(t)) ||
        (r = check_recv(t)) || (r = check_timers(t, env->now)))
        return r;
    return SL_CTR_ok;
}
