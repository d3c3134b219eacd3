/* Scale: 100,000 connections between two in-process stacks on a virtual
 * clock. Checks that the 4-tuple table and the timer heap stay O(1)/O(log n)
 * by counting their work (table slots visited per lookup, heap levels moved
 * per timer update; wall time is printed, never asserted), at 100 and at
 * 100,000 open connections, and that 100,000 keep-alive timers all fire
 * (each connection probes once) without scanning. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sltcp/sltcp.h>

#include "check.h"
#include "memdev.h"

#define NCONN 100000u
#define NPORTS 8u /* 8 listeners x 16384 ephemeral ports > NCONN */

static uint64_t vnow = 1000000;
static uint64_t vclock(void *arg)
{
    (void)arg;
    return vnow;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static sl_conn **srv_conns;
static unsigned n_srv, echoed;

static void srv_cb(sl_conn *c, unsigned ev, void *u)
{
    (void)u;
    if (ev & SL_EV_READABLE) {
        char buf[64];
        ssize_t r;
        while ((r = sl_read(c, buf, sizeof(buf))) > 0) {
            sl_write(c, buf, (size_t)r);
            echoed++;
        }
    }
}

static void on_accept(sl_listener *l, void *u)
{
    (void)u;
    sl_conn *c;
    while (sl_accept(l, &c) == 0) {
        sl_conn_set_cb(c, srv_cb, NULL);
        srv_conns[n_srv++] = c;
    }
}

static unsigned got;
static void cli_cb(sl_conn *c, unsigned ev, void *u)
{
    (void)u;
    if (ev & SL_EV_READABLE) {
        char buf[64];
        ssize_t r;
        while ((r = sl_read(c, buf, sizeof(buf))) > 0)
            got += (unsigned)r;
    }
}

static sl_stack *S, *C;
static void pump(int rounds)
{
    for (int i = 0; i < rounds; i++) {
        sl_run(S, 0);
        sl_run(C, 0);
        vnow += 20;
    }
}

/* Work of `k` echo round trips: slots the 4-tuple table visits per
 * lookup and levels the timer heap moves per update, on both stacks.
 * Operations, not wall time, so a busy machine (ctest -j) cannot fail it. */
struct cost {
    double probes_per_lookup, steps_per_update;
};

static uint64_t ctr2(const char *name) { return stat_get(S, name) + stat_get(C, name); }

static struct cost echo_cost(sl_conn **cli, unsigned n, unsigned k)
{
    uint64_t l0 = ctr2("table_lookups"), p0 = ctr2("table_probes");
    uint64_t u0 = ctr2("timer_updates"), s0 = ctr2("timer_steps");
    unsigned want = got;
    for (unsigned j = 0; j < k; j++) {
        sl_conn *c = cli[(j * 7919u) % n];
        sl_write(c, "ping", 4);
        want += 4;
        int guard = 0;
        while (got < want && guard++ < 1000)
            pump(1);
    }
    uint64_t l = ctr2("table_lookups") - l0, p = ctr2("table_probes") - p0;
    uint64_t u = ctr2("timer_updates") - u0, st = ctr2("timer_steps") - s0;
    return (struct cost){l ? (double)p / l : 0, u ? (double)st / u : 0};
}

static unsigned log2u(unsigned n)
{
    unsigned r = 0;
    while (n >>= 1)
        r++;
    return r;
}

int main(void)
{
    struct sl_device a, b;
    struct memdev_pair *mp = memdev_pair(1500, 4096, &a, &b);
    if (!mp)
        return 1;
    char err[128];
    /* small rings: this is about the table and the timers, not buffers */
    struct sl_config sc = {.addr = 0xc6120102, .prefix_len = 24, .max_conns = NCONN + 16,
                           .sndbuf = 4096, .rcvbuf = 4096, .clock_us = vclock};
    struct sl_config cc = sc;
    cc.addr = 0xc6120101;
    if (sl_stack_create_dev(&sc, &a, &S, err, sizeof(err)) ||
        sl_stack_create_dev(&cc, &b, &C, err, sizeof(err))) {
        fprintf(stderr, "create: %s\n", err);
        return 1;
    }
    srv_conns = calloc(NCONN + 16, sizeof(*srv_conns));
    sl_conn **cli = calloc(NCONN, sizeof(*cli));
    for (unsigned p = 0; p < NPORTS; p++) {
        sl_listener *l;
        struct sl_listen_opts lo = {.backlog = 65536};
        if (sl_listen(S, (uint16_t)(8000 + p), &lo, on_accept, NULL, &l) != 0)
            return 1;
    }

    double t0 = wall();
    struct cost small = {0, 0};
    unsigned n = 0;
    while (n < NCONN) {
        unsigned batch = n < 100 ? 100 : 1000;
        for (unsigned i = 0; i < batch && n < NCONN; i++, n++) {
            if (sl_connect(C, 0xc6120102, (uint16_t)(8000 + n % NPORTS), &cli[n]) != 0) {
                fprintf(stderr, "connect %u failed\n", n);
                return 1;
            }
            sl_conn_set_cb(cli[n], cli_cb, NULL);
        }
        for (int r = 0; r < 200 && n_srv < n; r++)
            pump(1);
        if (n == 100)
            small = echo_cost(cli, n, 2000);
    }
    double t_open = wall() - t0;
    int ok = n_srv == NCONN && sl_conn_count(S) == NCONN && sl_conn_count(C) == NCONN;
    printf("opened %u connections in %.2f s wall (%.1f us each); server holds %u\n", NCONN,
           t_open, t_open / NCONN * 1e6, sl_conn_count(S));
    CHECK(ok);

    struct cost large = echo_cost(cli, NCONN, 2000);
    printf("echo: table slots per lookup %.2f with 100 connections, %.2f with %u\n",
           small.probes_per_lookup, large.probes_per_lookup, NCONN);
    printf("echo: heap levels per timer update %.2f with 100 connections, %.2f with %u\n",
           small.steps_per_update, large.steps_per_update, NCONN);
    /* O(1) table: the table is sized for max_conns at load <= 1/2, where
     * linear probing visits about 1.5 slots (2.5 for a miss); a scan would
     * visit thousands. */
    CHECK(large.probes_per_lookup > 0 && large.probes_per_lookup < 3);
    /* O(log n) heap: an update moves at most log2(n) levels */
    CHECK(large.steps_per_update <= log2u(2 * NCONN));

    /* 100,000 keep-alive timers: every connection probes exactly once. */
    /* armed over one virtual second, so the probes spread like real ones */
    uint64_t probes0 = stat_get(S, "tcp_keepalive_tx");
    uint64_t tu0 = stat_get(S, "timer_updates"), ts0 = stat_get(S, "timer_steps");
    uint64_t answers0 = stat_get(C, "tcp_rx_segs"), drops0 = stat_get(S, "drop_tx_ring_full");
    for (unsigned i = 0; i < n_srv; i++) {
        sl_conn_setopt(srv_conns[i], SL_OPT_KEEPIDLE, 60);
        sl_conn_setopt(srv_conns[i], SL_OPT_KEEPALIVE, 1);
        if (i % 1000 == 999)
            pump(500); /* 10 ms */
    }
    double t1 = wall();
    uint64_t end = vnow + 61 * 1000000ull;
    while (vnow < end)
        pump(100); /* 20 us per round, as everywhere in this simulation */
    pump(50);
    double t_keep = wall() - t1;
    uint64_t probes = stat_get(S, "tcp_keepalive_tx") - probes0;
    printf("keep-alive: %llu probes from %u timers in %.2f s wall (61 s virtual, 20 us rounds)\n",
           (unsigned long long)probes, n_srv, t_keep);
    /* Every timer firing re-arms through the heap: O(log n) levels each,
     * never a walk over all connections. */
    uint64_t tu = stat_get(S, "timer_updates") - tu0, ts = stat_get(S, "timer_steps") - ts0;
    printf("keep-alive: %llu timer updates, %.2f heap levels each\n", (unsigned long long)tu,
           tu ? (double)ts / tu : 0.0);
    CHECK(tu >= NCONN && ts <= tu * log2u(2 * NCONN));
    CHECK_EQ(probes, NCONN);
    uint64_t answers = stat_get(C, "tcp_rx_segs") - answers0;
    uint64_t drops = stat_get(S, "drop_tx_ring_full") - drops0;
    printf("keep-alive: the client received %llu probes, %llu lost to a full link\n",
           (unsigned long long)answers, (unsigned long long)drops);
    CHECK(answers >= NCONN && drops == 0);
    CHECK_EQ(sl_conn_count(S), NCONN);

    sl_stack_destroy(S);
    sl_stack_destroy(C);
    memdev_free(mp);
    free(srv_conns);
    free(cli);
    return check_finish("sim_scale");
}
