/* Seeded in-process simulation: two full sltcp stacks (ARP, IP, TCP) joined
 * by the in-memory link, on a virtual clock, with the impairment layer
 * dropping, duplicating, reordering and delaying frames. Each scenario
 * moves a request upstream and a response downstream and checks every
 * byte. Deterministic for a given seed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sltcp/sltcp.h>

#include "check.h"
#include "memdev.h"

static uint64_t vnow = 1000000;
static uint64_t vclock(void *arg)
{
    (void)arg;
    return vnow;
}

/* Deterministic stream content: byte i of stream k. */
static uint8_t pat(uint32_t k, uint64_t i)
{
    uint64_t x = (i / 8) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)k << 56);
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 32;
    return (uint8_t)(x >> ((i % 8) * 8));
}

struct side {
    sl_conn *c;
    uint64_t up_sent, up_rcvd, down_sent, down_rcvd;
    uint64_t up_len, down_len;
    int bad, eof, closed, err;
    uint64_t done_at;
};

static struct side srv, cli;
static sl_listener *lst;

static void pump_write(sl_conn *c, uint64_t *sent, uint64_t total, uint32_t k)
{
    uint8_t buf[16384];
    while (*sent < total) {
        size_t n = sizeof(buf);
        if (n > total - *sent)
            n = (size_t)(total - *sent);
        for (size_t i = 0; i < n; i++)
            buf[i] = pat(k, *sent + i);
        ssize_t w = sl_write(c, buf, n);
        if (w <= 0)
            return;
        *sent += (uint64_t)w;
    }
}

static void pump_read(sl_conn *c, struct side *sd, uint64_t *rcvd, uint32_t k)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t r = sl_read(c, buf, sizeof(buf));
        if (r == -EAGAIN)
            return;
        if (r == 0) {
            if (!sd->eof)
                sd->done_at = vnow;
            sd->eof = 1;
            return;
        }
        if (r < 0) {
            sd->err = (int)r;
            return;
        }
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != pat(k, *rcvd + (uint64_t)i))
                sd->bad++;
        *rcvd += (uint64_t)r;
    }
}

static void srv_cb(sl_conn *c, unsigned ev, void *u)
{
    (void)u;
    if (ev & SL_EV_CLOSED) {
        srv.closed = 1;
        return;
    }
    if (ev & SL_EV_READABLE)
        pump_read(c, &srv, &srv.up_rcvd, 1);
    if (srv.up_rcvd == srv.up_len)
        pump_write(c, &srv.down_sent, srv.down_len, 2);
    if (srv.down_sent == srv.down_len && srv.eof && srv.c) {
        sl_close(c);
        srv.c = NULL;
    }
}

static void on_accept(sl_listener *l, void *u)
{
    (void)u;
    sl_conn *c;
    while (sl_accept(l, &c) == 0) {
        srv.c = c;
        sl_conn_set_cb(c, srv_cb, NULL);
    }
}

static void cli_cb(sl_conn *c, unsigned ev, void *u)
{
    (void)u;
    if (ev & SL_EV_CLOSED) {
        cli.closed = 1;
        return;
    }
    if (ev & SL_EV_WRITABLE) {
        pump_write(c, &cli.up_sent, cli.up_len, 1);
        if (cli.up_sent == cli.up_len && !cli.eof)
            sl_shutdown(c, SHUT_WR);
    }
    if (ev & SL_EV_READABLE)
        pump_read(c, &cli, &cli.down_rcvd, 2);
    if (cli.eof && cli.c) {
        sl_close(c);
        cli.c = NULL;
    }
}

static int run(const char *name, const char *impair, int cc, uint64_t up, uint64_t down,
               uint64_t vlimit_s)
{
    memset(&srv, 0, sizeof(srv));
    memset(&cli, 0, sizeof(cli));
    srv.up_len = cli.up_len = up;
    srv.down_len = cli.down_len = down;
    struct sl_device a, b;
    struct memdev_pair *mp = memdev_pair(1500, 512, &a, &b);
    if (!mp)
        return 1;
    char err[256];
    struct sl_config sc = {.addr = 0xc6120102, .prefix_len = 24, .impair = impair, .cc = cc,
                           .clock_us = vclock};
    struct sl_config cc_ = sc;
    cc_.addr = 0xc6120101;
    sl_stack *S, *C;
    if (sl_stack_create_dev(&sc, &a, &S, err, sizeof(err)) ||
        sl_stack_create_dev(&cc_, &b, &C, err, sizeof(err))) {
        fprintf(stderr, "%s: create: %s\n", name, err);
        return 1;
    }
    if (sl_listen(S, 80, NULL, on_accept, NULL, &lst) != 0)
        return 1;
    if (sl_connect(C, 0xc6120102, 80, &cli.c) != 0)
        return 1;
    sl_conn_set_cb(cli.c, cli_cb, NULL);
    uint64_t start = vnow, limit = vnow + vlimit_s * 1000000u;
    while (vnow < limit && !(srv.closed && cli.closed)) {
        sl_run(S, 0);
        sl_run(C, 0);
        vnow += 50; /* 50 us per round: the link's latency floor */
    }
    int fail = 0;
    if (!(srv.closed && cli.closed)) {
        fprintf(stderr, "%s: did not finish: up %llu/%llu down %llu/%llu\n", name,
                (unsigned long long)srv.up_rcvd, (unsigned long long)up,
                (unsigned long long)cli.down_rcvd, (unsigned long long)down);
        fail = 1;
    }
    if (srv.bad || cli.bad || srv.up_rcvd != up || cli.down_rcvd != down || srv.err || cli.err) {
        fprintf(stderr, "%s: corrupt or short: bad %d/%d up %llu down %llu err %d/%d\n", name,
                srv.bad, cli.bad, (unsigned long long)srv.up_rcvd,
                (unsigned long long)cli.down_rcvd, srv.err, cli.err);
        fail = 1;
    }
    printf("%-28s %s  transfer %.2fs  rexmit srv %llu cli %llu  rto %llu  impaired %llu/%llu\n",
           name, fail ? "FAIL" : "ok  ", (double)(cli.done_at - start) / 1e6,
           (unsigned long long)stat_get(S, "tcp_retransmits"),
           (unsigned long long)stat_get(C, "tcp_retransmits"),
           (unsigned long long)(stat_get(S, "tcp_rto_fired") + stat_get(C, "tcp_rto_fired")),
           (unsigned long long)stat_get(S, "impair_dropped"),
           (unsigned long long)stat_get(C, "impair_dropped"));
    for (int i = 0; fail && i < 2; i++) {
        sl_conn *c = i ? cli.c : srv.c;
        if (!c)
            continue;
        struct sl_conn_info ci;
        if (sl_conn_info(c, &ci) == 0)
            fprintf(stderr,
                    "%s: state %s srtt %u us rto %u us cwnd %u ssthresh %u mss %u "
                    "retransmits %llu error %d\n",
                    i ? "cli" : "srv", sl_state_name(ci.state), ci.srtt_us, ci.rto_us, ci.cwnd,
                    ci.ssthresh, ci.snd_mss, (unsigned long long)ci.retransmits,
                    sl_conn_error(c));
    }
    if (fail || getenv("SIM_VERBOSE")) {
        fprintf(stderr, "server counters:\n");
        sl_stats_dump(S, 2, 0);
        fprintf(stderr, "client counters:\n");
        sl_stats_dump(C, 2, 0);
    }
    sl_stack_destroy(S);
    sl_stack_destroy(C);
    memdev_free(mp);
    return fail;
}

int main(void)
{
    struct {
        const char *name, *impair;
        int cc;
        uint64_t up, down;
    } sc[] = {
        {"clean newreno", NULL, SL_CC_NEWRENO, 100000, 4000000},
        {"clean cubic", NULL, SL_CC_CUBIC, 100000, 4000000},
        {"loss1 seed1", "loss=1,seed=1", SL_CC_NEWRENO, 300000, 2000000},
        {"loss1 cubic seed2", "loss=1,seed=2", SL_CC_CUBIC, 300000, 2000000},
        {"loss5 seed3", "loss=5,seed=3", SL_CC_NEWRENO, 200000, 1000000},
        {"loss5 dup reorder seed4", "loss=5,dup=2,reorder=3,seed=4", SL_CC_NEWRENO, 200000, 1000000},
        {"reorder10 seed5", "reorder=10,seed=5", SL_CC_CUBIC, 200000, 2000000},
        {"dup10 seed6", "dup=10,seed=6", SL_CC_NEWRENO, 200000, 2000000},
        {"delay5 loss2 seed7", "loss=2,delay=5,seed=7", SL_CC_CUBIC, 200000, 2000000},
        {"loss20 seed8", "loss=20,seed=8", SL_CC_NEWRENO, 20000, 100000},
    };
    for (size_t i = 0; i < sizeof(sc) / sizeof(sc[0]); i++)
        CHECK(run(sc[i].name, sc[i].impair, sc[i].cc, sc[i].up, sc[i].down, 900) == 0);
    return check_finish("sim_transfer");
}
