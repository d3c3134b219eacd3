/* sl_tcp_validate_restored: a control block the engine produced is
 * accepted (in every state a record can hold); each field broken alone is
 * refused with its own reason. */
#include "tcp/tcp_validate.h"
#include "tcp_harness.h"

static struct sl_tcp_restore_env env_of(const struct th *h)
{
    struct sl_tcp_restore_env e = {TH_LADDR, 0xffffff00u, h->cfg.mss, h->cfg.sndbuf,
                                   h->cfg.rcvbuf, h->now};
    return e;
}

/* An ESTABLISHED connection with data in flight both ways, made by the engine. */
static struct th *busy_n(uint32_t n)
{
    struct sl_tcp_cfg cfg = th_cfg();
    struct th *h = th_new(&cfg);
    struct th_peer p = th_peer_full();
    CHECK(th_open_passive(h, &p, 10 * TH_MS));
    th_write(h, n);
    th_output(h);
    struct sl_tcp_seg d = th_data(h, 0, 1000);
    th_input(h, &d);
    return h;
}
static struct th *busy(void) { return busy_n(20000); }

#define REFUSED(h, field_change, why)                                                   \
    do {                                                                                \
        struct sl_tcb t_ = (h)->t;                                                      \
        struct sl_tcb *t = &t_;                                                         \
        struct sl_tcp_restore_env e_ = env_of(h);                                       \
        struct sl_tcp_restore_env *env = &e_;                                           \
        (void)env;                                                                      \
        field_change;                                                                   \
        CHECK_EQ(sl_tcp_validate_restored(t, env), SL_CTR_restore_invalid_##why);       \
    } while (0)

static void test_engine_tcbs_accepted(void)
{
    struct th *h = busy();
    struct sl_tcp_restore_env e = env_of(h);
    CHECK_EQ(h->t.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(sl_tcp_validate_restored(&h->t, &e), SL_CTR_ok);
    /* CLOSE-WAIT (peer FIN), LAST-ACK (then our close) */
    struct sl_tcp_seg f = th_seg(h, TH_F_ACK | TH_F_FIN, TH_RCV(1000), h->t.snd_una, 0);
    th_input(h, &f);
    CHECK_EQ(h->t.state, SL_TCP_CLOSE_WAIT);
    e = env_of(h);
    CHECK_EQ(sl_tcp_validate_restored(&h->t, &e), SL_CTR_ok);
    th_begin(h);
    sl_tcp_close(&h->t, h->now, &h->out);
    sl_tcp_output(&h->t, &h->b, h->now, &h->out);
    CHECK_EQ(h->t.state, SL_TCP_LAST_ACK);
    CHECK_EQ(sl_tcp_validate_restored(&h->t, &e), SL_CTR_ok);
    /* FIN-WAIT-1, FIN-WAIT-2 */
    h = busy_n(1000);
    th_begin(h);
    sl_tcp_close(&h->t, h->now, &h->out);
    sl_tcp_output(&h->t, &h->b, h->now, &h->out);
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_1);
    e = env_of(h);
    CHECK_EQ(sl_tcp_validate_restored(&h->t, &e), SL_CTR_ok);
    struct sl_tcp_seg a = th_ack(h, h->t.snd_max);
    th_input(h, &a);
    CHECK_EQ(h->t.state, SL_TCP_FIN_WAIT_2);
    e = env_of(h);
    CHECK_EQ(sl_tcp_validate_restored(&h->t, &e), SL_CTR_ok);
    /* SYN-RECEIVED */
    struct sl_tcp_cfg cfg = th_cfg();
    h = th_new(&cfg);
    struct sl_tcp_seg syn = th_syn(h, TH_F_SYN, TH_IRS, 0);
    th_accept(h, &syn);
    CHECK_EQ(h->t.state, SL_TCP_SYN_RCVD);
    e = env_of(h);
    CHECK_EQ(sl_tcp_validate_restored(&h->t, &e), SL_CTR_ok);
}

static void test_state(void)
{
    struct th *h = busy();
    REFUSED(h, t->state = SL_TCP_CLOSED, state);
    REFUSED(h, t->state = SL_TCP_LISTEN, state);
    REFUSED(h, t->state = SL_TCP_SYN_SENT, state);
    REFUSED(h, t->state = SL_TCP_TIME_WAIT, state);
    REFUSED(h, t->state = 77, state);
    REFUSED(h, t->cc = 9, state);
    REFUSED(h, t->flags |= SL_TF_FIN_RCVD, state);     /* ESTABLISHED with a peer FIN */
    REFUSED(h, t->state = SL_TCP_CLOSE_WAIT, state);   /* ... or without one */
    REFUSED(h, t->state = SL_TCP_FIN_WAIT_2, state);   /* closed without a FIN queued */
}

static void test_addr(void)
{
    struct th *h = busy();
    REFUSED(h, t->laddr = 0xc6120009u, addr);             /* not our address */
    REFUSED(h, t->raddr = TH_LADDR, addr);                /* ourselves */
    REFUSED(h, t->raddr = 0, addr);
    REFUSED(h, t->raddr = 0x00000005u, addr);             /* 0.0.0.5: "this network" */
    REFUSED(h, t->raddr = 0x7f000001u, addr);             /* loopback */
    REFUSED(h, t->raddr = 0xe0000001u, addr);             /* multicast */
    REFUSED(h, t->raddr = 0xf0000001u, addr);             /* reserved */
    REFUSED(h, t->raddr = 0xffffffffu, addr);             /* limited broadcast */
    REFUSED(h, t->raddr = 0xc61200ffu, addr);             /* our subnet's broadcast */
    REFUSED(h, t->lport = 0, addr);
    REFUSED(h, t->rport = 0, addr);
}

static void test_mss(void)
{
    struct th *h = busy();
    REFUSED(h, t->snd_mss = 0, mss); /* the SIGFPE of a forged record */
    REFUSED(h, t->snd_mss = 40, mss);
    REFUSED(h, t->snd_mss = (uint16_t)(env->mss + 1), mss);
    REFUSED(h, t->snd_mss = 65535, mss);
    REFUSED(h, (t->peer_mss = 536, t->snd_mss = 1000), mss); /* above what was negotiated */
    REFUSED(h, t->rcv_mss = 0, mss);
    REFUSED(h, t->rcv_mss = 9000, mss);
    REFUSED(h, t->peer_mss = 10, mss);
    REFUSED(h, t->path_mss = 100, mss);
}

static void test_bufsz(void)
{
    struct th *h = busy();
    REFUSED(h, t->snd_bufsz = 1u << 20, bufsz);
    REFUSED(h, t->rcv_bufsz = 4096, bufsz);
    REFUSED(h, (t->snd_bufsz = 0, env->sndbuf = 0), bufsz);
    REFUSED(h, (t->rcv_bufsz = 65535, env->rcvbuf = 65535), bufsz);
}

static void test_sndseq(void)
{
    struct th *h = busy();
    REFUSED(h, t->snd_nxt = t->snd_una - 1, sndseq);       /* NXT < UNA */
    REFUSED(h, t->snd_max = t->snd_nxt - 1, sndseq);       /* MAX < NXT */
    REFUSED(h, (t->snd_max = t->snd_end + 1, t->snd_nxt = t->snd_max), sndseq); /* sent unwritten */
    REFUSED(h, t->snd_una = t->snd_end + 5, sndseq);       /* acked beyond the stream */
    REFUSED(h, t->snd_end = t->snd_una + t->snd_bufsz + 1, sndseq); /* more than the ring */
    REFUSED(h, t->snd_una = t->snd_nxt + 0x80000000u, sndseq); /* wrapped */
    REFUSED(h, (t->flags |= SL_TF_SND_URG, t->snd_up = t->snd_end + 10), sndseq);
    struct sl_tcp_cfg cfg = th_cfg();
    h = th_new(&cfg);
    struct sl_tcp_seg syn = th_syn(h, TH_F_SYN, TH_IRS, 0);
    th_accept(h, &syn);
    REFUSED(h, t->snd_una = t->iss + 1, sndseq);           /* SYN-RECEIVED, SYN acked? */
    REFUSED(h, t->snd_max = t->iss + 100, sndseq);
}

static void test_rcvseq(void)
{
    struct th *h = busy();
    REFUSED(h, t->rcv_read = t->rcv_nxt + 1, rcvseq);      /* read what never came */
    REFUSED(h, t->rcv_read = t->rcv_nxt - t->rcv_bufsz - 2, rcvseq); /* more than the ring */
    REFUSED(h, t->rcv_adv = t->rcv_read + t->rcv_bufsz + (1u << t->rcv_wscale) + 5, rcvseq);
    REFUSED(h, t->rcv_adv = t->rcv_read - 100, rcvseq);
    struct sl_tcp_cfg cfg = th_cfg();
    h = th_new(&cfg);
    struct sl_tcp_seg syn = th_syn(h, TH_F_SYN, TH_IRS, 0);
    th_accept(h, &syn);
    REFUSED(h, (t->rcv_nxt += 10, t->rcv_read += 10, t->rcv_adv += 10), rcvseq);
}

static void test_window(void)
{
    struct th *h = busy();
    REFUSED(h, t->snd_wscale = 15, window); /* RFC 7323 2.3 */
    REFUSED(h, t->rcv_wscale = 200, window);
    REFUSED(h, (t->flags &= ~(uint32_t)SL_TF_WS_OK, t->snd_wscale = 3), window);
    REFUSED(h, t->snd_wnd = (0xffffu << t->snd_wscale) + 1, window);
    REFUSED(h, t->max_snd_wnd = 0xffffffffu, window);
}

static void test_timer(void)
{
    struct th *h = busy();
    REFUSED(h, t->rto = 0, timer);
    REFUSED(h, t->rto = SL_TCP_RTO_MAX_US + 1, timer);
    REFUSED(h, t->t_rexmt = env->now + 3600 * TH_SEC, timer);
    REFUSED(h, t->t_rexmt = UINT64_MAX, timer);
    REFUSED(h, t->t_delack = env->now + 10 * TH_SEC, timer);
    REFUSED(h, t->t_keep = env->now + 30 * 24 * 3600 * TH_SEC, timer);
    REFUSED(h, t->n_sacked = SL_TCP_MAX_SACK + 1, timer);
    REFUSED(h, t->n_ooo = SL_TCP_MAX_OOO + 1, timer);
    /* an application's long keepalive idle time is honoured */
    struct sl_tcb t = h->t;
    struct sl_tcp_restore_env e = env_of(h);
    t.keepidle_s = 30 * 24 * 3600;
    t.t_keep = e.now + 30ull * 24 * 3600 * TH_SEC;
    CHECK_EQ(sl_tcp_validate_restored(&t, &e), SL_CTR_ok);
}

int main(void)
{
    RUN(test_engine_tcbs_accepted);
    RUN(test_state);
    RUN(test_addr);
    RUN(test_mss);
    RUN(test_bufsz);
    RUN(test_sndseq);
    RUN(test_rcvseq);
    RUN(test_window);
    RUN(test_timer);
    return check_finish("test_tcp_validate");
}
