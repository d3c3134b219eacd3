/* Unit tests for the impairment wrapper (src/io/io_impair.c), driven over
 * the in-memory pair with a virtual clock. One case per test_* function
 * (tests/lib/check.h). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "io/io.h"
#include "wire/wire.h"

#include "check.h"

/* ---- virtual clock ---- */
struct vclock {
    uint64_t now_us;
};
static uint64_t vclock_now(void *arg)
{
    return ((struct vclock *)arg)->now_us;
}

/* ---- frames carry a 32-bit id in bytes 0..3, then a pattern ---- */
#define FLEN 64u
static int send_id(struct sl_io *io, uint32_t id)
{
    uint8_t *p = io->ops->tx_alloc(io, FLEN);
    if (!p)
        return -1;
    memcpy(p, &id, 4);
    for (uint32_t i = 4; i < FLEN; i++)
        p[i] = (uint8_t)(id + i);
    return io->ops->tx_commit(io, FLEN, NULL);
}

static int frame_intact(const struct sl_frame *f, uint32_t *id)
{
    if (f->len != FLEN)
        return 0;
    memcpy(id, f->data, 4);
    for (uint32_t i = 4; i < FLEN; i++)
        if (f->data[i] != (uint8_t)(*id + i))
            return 0;
    return 1;
}

struct seq {
    uint32_t *v;
    size_t n, cap;
    int corrupt;
};
static void seq_add(struct seq *s, uint32_t id)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = id;
}
static void drain(struct sl_io *rx, struct seq *s, int burst)
{
    struct sl_frame f[64];
    int n;
    while ((n = rx->ops->rx_burst(rx, f, burst)) > 0) {
        for (int i = 0; i < n; i++) {
            uint32_t id = UINT32_MAX;
            if (!frame_intact(&f[i], &id))
                s->corrupt++;
            seq_add(s, id);
        }
    }
}

/* Send `count` frames through a pair where either the sender's tx (side 0)
 * or the receiver's rx (side 1) is impaired; record what arrives. The
 * clock advances 10 us per frame. Returns the counters of the wrapper. */
struct run {
    struct seq got;
    uint64_t ctr[SL_CTR__COUNT];
};
static int run_traffic(const char *spec, int side, uint32_t count, struct run *r)
{
    memset(r, 0, sizeof(*r));
    struct vclock clk = {.now_us = 1000000};
    struct sl_io *a, *b, *w;
    char err[256];
    if (sl_io_mem_pair(1500, 256, &a, &b))
        return -1;
    int rc = sl_io_impair_wrap(side == 0 ? a : b, spec, vclock_now, &clk, &w, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "wrap: %s\n", err);
        a->ops->destroy(a);
        b->ops->destroy(b);
        return rc;
    }
    w->ctr = r->ctr;
    struct sl_io *tx = side == 0 ? w : a;
    struct sl_io *rx = side == 0 ? b : w;
    for (uint32_t id = 0; id < count; id++) {
        send_id(tx, id);
        clk.now_us += 10;
        if (id % 32 == 31) {
            tx->ops->tx_flush(tx);
            drain(rx, &r->got, 64);
        }
    }
    /* let everything held come out */
    for (int i = 0; i < 4; i++) {
        clk.now_us += 1000000;
        tx->ops->tx_flush(tx);
        drain(rx, &r->got, 64);
    }
    w->ops->destroy(w); /* destroys the wrapped end too */
    (side == 0 ? b : a)->ops->destroy(side == 0 ? b : a);
    return 0;
}

static void test_spec(void)
{
    static const char *bad[] = {
        "loss=abc", "foo=1",     "loss=101",   "loss=-1",  "loss=",     "loss",
        "seed=-1",  "loss=1,,",  ",loss=1",    "delay=1x", "dup=1e2",   "reorder=nan",
        "delay=-5", "seed=0x",   "loss=1%",    "LOSS=1",   "loss=1,x=2", "seed=99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_io *a, *b, *w = (struct sl_io *)0x1;
        char err[256] = "";
        CHECK_EQ(sl_io_mem_pair(1500, 4, &a, &b), 0);
        int rc = sl_io_impair_wrap(a, bad[i], NULL, NULL, &w, err, sizeof(err));
        if (rc != -EINVAL || err[0] == '\0')
            fprintf(stderr, "spec '%s' not rejected properly (rc %d, err '%s')\n", bad[i], rc, err);
        CHECK_EQ(rc, -EINVAL);
        CHECK(err[0] != '\0');
        /* inner still ours on failure */
        a->ops->destroy(a);
        b->ops->destroy(b);
    }
    static const char *good[] = {
        "",          "loss=0",    "loss=100",  "loss=0.25,dup=1.5", " loss=1 , seed=7 ",
        "delay=0.5", "seed=0x2a", "reorder=3,delay=10,dup=1,loss=2,seed=9", "ce=2.5",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct sl_io *a, *b, *w;
        char err[256] = "";
        CHECK_EQ(sl_io_mem_pair(1500, 4, &a, &b), 0);
        int rc = sl_io_impair_wrap(a, good[i], NULL, NULL, &w, err, sizeof(err));
        if (rc)
            fprintf(stderr, "spec '%s' rejected: %s\n", good[i], err);
        CHECK_EQ(rc, 0);
        if (!rc)
            w->ops->destroy(w);
        b->ops->destroy(b);
    }
    /* NULL spec = no impairment; err may be NULL */
    struct sl_io *a, *b, *w;
    CHECK_EQ(sl_io_mem_pair(1500, 4, &a, &b), 0);
    CHECK_EQ(sl_io_impair_wrap(a, NULL, NULL, NULL, &w, NULL, 0), 0);
    CHECK_EQ(memcmp(w->mac, a->mac, 6), 0);
    CHECK_EQ(w->mtu, a->mtu);
    CHECK_EQ(w->max_frame, a->max_frame);
    CHECK_EQ(w->max_gso, a->max_gso);
    CHECK_EQ(w->csum_offload, a->csum_offload);
    CHECK_EQ(w->ops->poll_fd(w), -1); /* inner has none */
    w->ops->destroy(w);
    b->ops->destroy(b);
}

static void test_passthrough(void)
{
    for (int side = 0; side < 2; side++) {
        struct run r;
        CHECK_EQ(run_traffic("", side, 5000, &r), 0);
        CHECK_EQ(r.got.n, 5000);
        CHECK_EQ(r.got.corrupt, 0);
        int inorder = 1;
        for (size_t i = 0; i < r.got.n; i++)
            if (r.got.v[i] != i)
                inorder = 0;
        CHECK(inorder);
        free(r.got.v);
    }
}

static void test_determinism(void)
{
    for (int side = 0; side < 2; side++) {
        struct run r1, r2, r3;
        const char *s1 = "loss=10,dup=3,reorder=5,seed=42";
        CHECK_EQ(run_traffic(s1, side, 20000, &r1), 0);
        CHECK_EQ(run_traffic(s1, side, 20000, &r2), 0);
        CHECK_EQ(run_traffic("loss=10,dup=3,reorder=5,seed=43", side, 20000, &r3), 0);
        CHECK_EQ(r1.got.n, r2.got.n);
        CHECK(r1.got.n == r2.got.n && memcmp(r1.got.v, r2.got.v, r1.got.n * 4) == 0);
        CHECK(r1.got.n != r3.got.n || memcmp(r1.got.v, r3.got.v, r1.got.n * 4) != 0);
        CHECK_EQ(r1.ctr[SL_CTR_impair_dropped], r2.ctr[SL_CTR_impair_dropped]);
        CHECK_EQ(r1.ctr[SL_CTR_impair_reordered], r2.ctr[SL_CTR_impair_reordered]);
        CHECK_EQ(r1.got.corrupt + r2.got.corrupt + r3.got.corrupt, 0);
        free(r1.got.v);
        free(r2.got.v);
        free(r3.got.v);
    }
}

static void test_loss_rate(void)
{
    const uint32_t N = 100000;
    for (int side = 0; side < 2; side++) {
        struct run r;
        CHECK_EQ(run_traffic("loss=10,seed=1", side, N, &r), 0);
        /* binomial sd ~95: +-1000 is > 10 sd */
        CHECK_RANGE(r.got.n, 89000, 91000);
        CHECK_EQ(r.ctr[SL_CTR_impair_dropped], N - r.got.n);
        CHECK_EQ(r.got.corrupt, 0);
        /* survivors in order, no duplicates */
        int ok = 1;
        for (size_t i = 1; i < r.got.n; i++)
            if (r.got.v[i] <= r.got.v[i - 1])
                ok = 0;
        CHECK(ok);
        free(r.got.v);

        CHECK_EQ(run_traffic("loss=0.5,seed=77", side, N, &r), 0);
        CHECK_RANGE(N - r.got.n, 350, 650); /* expect 500, sd ~22 */
        free(r.got.v);
        CHECK_EQ(run_traffic("loss=100", side, 1000, &r), 0);
        CHECK_EQ(r.got.n, 0);
        CHECK_EQ(r.ctr[SL_CTR_impair_dropped], 1000);
        free(r.got.v);
    }
}

static void test_dup(void)
{
    const uint32_t N = 100000;
    for (int side = 0; side < 2; side++) {
        struct run r;
        CHECK_EQ(run_traffic("dup=5,seed=3", side, N, &r), 0);
        uint64_t dups = r.ctr[SL_CTR_impair_duplicated];
        CHECK_RANGE(dups, 4300, 5700); /* expect 5000, sd ~69 */
        CHECK_EQ(r.got.n, N + dups);
        CHECK_EQ(r.got.corrupt, 0);
        /* each id once or twice, duplicates right after the original */
        int ok = 1;
        uint32_t expect = 0;
        for (size_t i = 0; i < r.got.n; i++) {
            if (r.got.v[i] == expect)
                expect++;
            else if (!(i > 0 && r.got.v[i] == r.got.v[i - 1] && (i < 2 || r.got.v[i - 2] != r.got.v[i])))
                ok = 0;
        }
        CHECK(ok);
        CHECK_EQ(expect, N);
        free(r.got.v);
    }
}

static void test_reorder(void)
{
    const uint32_t N = 100000;
    for (int side = 0; side < 2; side++) {
        struct run r;
        CHECK_EQ(run_traffic("reorder=10,seed=5", side, N, &r), 0);
        uint64_t held = r.ctr[SL_CTR_impair_reordered];
        CHECK_RANGE(held, 9000, 11000);
        CHECK_EQ(r.got.n, N); /* nothing lost */
        CHECK_EQ(r.got.corrupt, 0);
        /* every id exactly once */
        uint8_t *seen = calloc(N, 1);
        int ok = 1;
        for (size_t i = 0; i < r.got.n; i++) {
            if (r.got.v[i] >= N || seen[r.got.v[i]]++)
                ok = 0;
        }
        CHECK(ok);
        free(seen);
        /* late frames: arrive after a higher id; displacement stays small */
        size_t late = 0, maxdisp = 0;
        uint32_t hi = 0;
        for (size_t i = 0; i < r.got.n; i++) {
            uint32_t id = r.got.v[i];
            if (i && id < hi) {
                late++;
                size_t d = (size_t)(i > id ? i - id : id - i);
                if (d > maxdisp)
                    maxdisp = d;
            }
            if (id > hi)
                hi = id;
        }
        CHECK_RANGE(late, held * 9 / 10, held);
        CHECK(maxdisp <= 16);
        CHECK_EQ(r.ctr[SL_CTR_impair_dropped], 0);
        free(r.got.v);
    }
}

/* A lone held frame is released by the 2 ms bound even with no traffic. */
static void test_reorder_time_bound(void)
{
    for (int side = 0; side < 2; side++) {
        struct vclock clk = {.now_us = 5000};
        struct sl_io *a, *b, *w;
        uint64_t ctr[SL_CTR__COUNT] = {0};
        CHECK_EQ(sl_io_mem_pair(1500, 16, &a, &b), 0);
        CHECK_EQ(sl_io_impair_wrap(side == 0 ? a : b, "reorder=100", vclock_now, &clk, &w, NULL, 0),
                 0);
        w->ctr = ctr;
        struct sl_io *tx = side == 0 ? w : a, *rx = side == 0 ? b : w;
        struct sl_frame f[4];
        CHECK_EQ(send_id(tx, 77), 0);
        tx->ops->tx_flush(tx);
        CHECK_EQ(rx->ops->rx_burst(rx, f, 4), 0);
        clk.now_us += 1999;
        tx->ops->tx_flush(tx);
        CHECK_EQ(rx->ops->rx_burst(rx, f, 4), 0);
        clk.now_us += 1;
        tx->ops->tx_flush(tx);
        CHECK_EQ(rx->ops->rx_burst(rx, f, 4), 1);
        uint32_t id = 0;
        CHECK(frame_intact(&f[0], &id) && id == 77);
        CHECK_EQ(ctr[SL_CTR_impair_reordered], 1);
        w->ops->destroy(w);
        (side == 0 ? b : a)->ops->destroy(side == 0 ? b : a);
    }
}

static void test_delay(void)
{
    for (int side = 0; side < 2; side++) {
        struct vclock clk = {.now_us = 1000};
        struct sl_io *a, *b, *w;
        uint64_t ctr[SL_CTR__COUNT] = {0};
        CHECK_EQ(sl_io_mem_pair(1500, 64, &a, &b), 0);
        CHECK_EQ(sl_io_impair_wrap(side == 0 ? a : b, "delay=50", vclock_now, &clk, &w, NULL, 0), 0);
        w->ctr = ctr;
        struct sl_io *tx = side == 0 ? w : a, *rx = side == 0 ? b : w;
        struct sl_frame f[32];
        for (uint32_t id = 0; id < 10; id++) {
            CHECK_EQ(send_id(tx, id), 0);
            if (side == 1) { /* rx side: the delay starts when rx_burst sees it */
                tx->ops->tx_flush(tx);
                CHECK_EQ(rx->ops->rx_burst(rx, f, 32), 0);
            }
            clk.now_us += 100; /* frame id sent at 1000 + 100 * id */
        }
        tx->ops->tx_flush(tx);
        CHECK_EQ(rx->ops->rx_burst(rx, f, 32), 0);
        clk.now_us = 1000 + 50000 - 1;
        tx->ops->tx_flush(tx);
        CHECK_EQ(rx->ops->rx_burst(rx, f, 32), 0);
        clk.now_us = 1000 + 50000; /* first one due */
        tx->ops->tx_flush(tx);
        int n = rx->ops->rx_burst(rx, f, 32);
        CHECK_EQ(n, 1);
        clk.now_us = 1000 + 50000 + 450;  /* ids 1..4 due */
        tx->ops->tx_flush(tx);
        n = rx->ops->rx_burst(rx, f, 32);
        CHECK_EQ(n, 4);
        uint32_t id = UINT32_MAX;
        CHECK(n == 4 && frame_intact(&f[0], &id) && id == 1);
        CHECK(n == 4 && frame_intact(&f[3], &id) && id == 4);
        clk.now_us += 1000000;
        tx->ops->tx_flush(tx);
        n = rx->ops->rx_burst(rx, f, 32);
        CHECK_EQ(n, 5);
        CHECK(n == 5 && frame_intact(&f[4], &id) && id == 9);
        CHECK_EQ(ctr[SL_CTR_impair_delayed], 10);
        w->ops->destroy(w);
        (side == 0 ? b : a)->ops->destroy(side == 0 ? b : a);
    }
    /* fractional milliseconds */
    struct vclock clk = {.now_us = 0};
    struct sl_io *a, *b, *w;
    struct sl_frame f[4];
    CHECK_EQ(sl_io_mem_pair(1500, 8, &a, &b), 0);
    CHECK_EQ(sl_io_impair_wrap(a, "delay=0.5", vclock_now, &clk, &w, NULL, 0), 0);
    w->ctr = NULL; /* counters optional */
    CHECK_EQ(send_id(w, 1), 0);
    w->ops->tx_flush(w);
    clk.now_us = 499;
    w->ops->tx_flush(w);
    CHECK_EQ(b->ops->rx_burst(b, f, 4), 0);
    clk.now_us = 500;
    /* rx_burst on the wrapper also pushes due tx frames */
    CHECK_EQ(w->ops->rx_burst(w, f, 4), 0);
    CHECK_EQ(b->ops->rx_burst(b, f, 4), 1);
    w->ops->destroy(w);
    b->ops->destroy(b);
}

/* Duplicates beyond the burst size wait for the next call, in order. */
static void test_ready_queue(void)
{
    struct vclock clk = {.now_us = 0};
    struct sl_io *a, *b, *w;
    CHECK_EQ(sl_io_mem_pair(1500, 64, &a, &b), 0);
    CHECK_EQ(sl_io_impair_wrap(b, "dup=100", vclock_now, &clk, &w, NULL, 0), 0);
    for (uint32_t id = 0; id < 10; id++)
        CHECK_EQ(send_id(a, id), 0);
    a->ops->tx_flush(a);
    struct seq s = {0};
    struct sl_frame f[4];
    int n, calls = 0;
    while ((n = w->ops->rx_burst(w, f, 3)) > 0) {
        calls++;
        for (int i = 0; i < n; i++) {
            uint32_t id = UINT32_MAX;
            if (!frame_intact(&f[i], &id))
                s.corrupt++;
            seq_add(&s, id);
            memset(f[i].data, 0, f[i].len); /* receivers may scribble */
        }
    }
    CHECK_EQ(s.n, 20);
    CHECK_EQ(s.corrupt, 0);
    int ok = 1;
    for (size_t i = 0; i < s.n; i++)
        if (s.v[i] != i / 2)
            ok = 0;
    CHECK(ok);
    CHECK(calls >= 7);
    free(s.v);
    w->ops->destroy(w);
    a->ops->destroy(a);
}

/* A fake backend recording what it is asked to transmit (with metadata),
 * advertising offloads and a real poll fd. */
struct fake {
    struct sl_io io;
    uint8_t buf[70000];
    int pipefd[2];
    int n;
    struct sl_tx_meta meta[16];
    int had_meta[16];
    uint32_t len[16];
    uint8_t first[16];
};
static int fake_rx_burst(struct sl_io *io, struct sl_frame *f, int max)
{
    return 0;
}
static void fake_rx_release(struct sl_io *io)
{
}
static uint8_t *fake_tx_alloc(struct sl_io *io, uint32_t len)
{
    return ((struct fake *)io)->buf;
}
static int fake_tx_commit(struct sl_io *io, uint32_t len, const struct sl_tx_meta *meta)
{
    struct fake *fk = (struct fake *)io;
    if (fk->n < 16) {
        fk->len[fk->n] = len;
        fk->first[fk->n] = fk->buf[0];
        fk->had_meta[fk->n] = meta != NULL;
        if (meta)
            fk->meta[fk->n] = *meta;
        fk->n++;
    }
    return 0;
}
static int fake_tx_flush(struct sl_io *io)
{
    return 0;
}
static int fake_poll_fd(struct sl_io *io)
{
    return ((struct fake *)io)->pipefd[0];
}
static void fake_destroy(struct sl_io *io)
{
    struct fake *fk = (struct fake *)io;
    close(fk->pipefd[0]);
    close(fk->pipefd[1]);
}
static const struct sl_io_ops fake_ops = {"fake",         fake_rx_burst, fake_rx_release,
                                          fake_tx_alloc,  fake_tx_commit, fake_tx_flush,
                                          fake_poll_fd,   fake_destroy};

static void test_meta_and_wakeup(void)
{
    static struct fake fk;
    memset(&fk, 0, sizeof(fk));
    CHECK_EQ(pipe(fk.pipefd), 0);
    fk.io.ops = &fake_ops;
    fk.io.mtu = 1500;
    fk.io.max_frame = 65549;
    fk.io.max_gso = 65440;
    fk.io.csum_offload = 1;
    struct sl_io *w;
    /* real clock (NULL): held frames wake the poll fd */
    CHECK_EQ(sl_io_impair_wrap(&fk.io, "delay=5", NULL, NULL, &w, NULL, 0), 0);
    CHECK_EQ(w->max_gso, 65440);
    CHECK_EQ(w->csum_offload, 1);
    CHECK_EQ(w->max_frame, 65549);
    int pfd = w->ops->poll_fd(w);
    CHECK(pfd >= 0);

    uint8_t *p = w->ops->tx_alloc(w, 30000);
    CHECK(p != NULL);
    memset(p, 0x42, 30000);
    struct sl_tx_meta m = {.gso_size = 1448, .csum_partial = 1, .l4_off = 34};
    CHECK_EQ(w->ops->tx_commit(w, 30000, &m), 0);
    p = w->ops->tx_alloc(w, 100);
    memset(p, 0x43, 100);
    CHECK_EQ(w->ops->tx_commit(w, 100, NULL), 0);
    CHECK_EQ(w->ops->tx_flush(w), 0);
    CHECK_EQ(fk.n, 0); /* delayed */

    /* Sleep in poll like an event loop would; each wake-up runs rx_burst
     * (which pumps tx). The two frames were committed a few microseconds
     * apart, so this may take one or two wake-ups. */
    struct pollfd pf = {.fd = pfd, .events = POLLIN};
    struct sl_frame f[4];
    uint64_t t0 = sl_clock_ns();
    int wakeups = 0, delivered = 0;
    double ms = 0;
    while (fk.n < 2 && ms < 2000) {
        if (poll(&pf, 1, 2000) == 1)
            wakeups++;
        delivered += w->ops->rx_burst(w, f, 4); /* inner has no rx: stays 0 */
        ms = (double)(sl_clock_ns() - t0) / 1e6;
    }
    CHECK_EQ(delivered, 0);
    CHECK(wakeups >= 1 && wakeups <= 3);
    CHECK(ms >= 3.0 && ms < 1000.0);
    CHECK_EQ(fk.n, 2);
    CHECK_EQ(fk.len[0], 30000);
    CHECK_EQ(fk.first[0], 0x42);
    CHECK(fk.had_meta[0] && fk.meta[0].gso_size == 1448 && fk.meta[0].csum_partial == 1 &&
          fk.meta[0].l4_off == 34);
    CHECK_EQ(fk.len[1], 100);
    CHECK_EQ(fk.first[1], 0x43);
    CHECK(!fk.had_meta[1]);
    /* nothing held any more: the poll fd goes quiet */
    pf.revents = 0;
    CHECK_EQ(poll(&pf, 1, 30), 0);
    /* inner readiness shows through */
    CHECK_EQ(write(fk.pipefd[1], "x", 1), 1);
    CHECK_EQ(poll(&pf, 1, 1000), 1);
    w->ops->destroy(w);
}

/* ce=100 marks every ECT packet CE and keeps its header checksum valid;
 * Not-ECT packets and non-IP frames pass untouched. */
static void test_ce_mark(void)
{
    struct vclock clk = {.now_us = 1000000};
    struct sl_io *a, *b, *w;
    uint64_t ctr[SL_CTR__COUNT] = {0};
    CHECK_EQ(sl_io_mem_pair(1500, 16, &a, &b), 0);
    CHECK_EQ(sl_io_impair_wrap(a, "ce=100", vclock_now, &clk, &w, NULL, 0), 0);
    w->ctr = ctr;
    static const uint8_t tos[4] = {0xb8 | SL_IP_ECN_ECT0, 0xb8, SL_IP_ECN_ECT1, SL_IP_ECN_CE};
    for (int i = 0; i < 4; i++) {
        uint8_t *p = w->ops->tx_alloc(w, 14 + 40);
        memset(p, 0, 14 + 40);
        p[12] = 0x08;
        sl_ip4_build(p + 14, 0xc6120001u, 0xc6120002u, SL_IPPROTO_TCP, (uint16_t)i, 64, 20);
        p[15] = tos[i];
        sl_put16(p + 24, 0);
        sl_put16(p + 24, sl_csum_fold(sl_csum_add(0, p + 14, 20)));
        CHECK_EQ(w->ops->tx_commit(w, 14 + 40, NULL), 0);
    }
    send_id(w, 7); /* not IPv4 */
    w->ops->tx_flush(w);
    struct sl_frame f[8];
    int n = b->ops->rx_burst(b, f, 8);
    CHECK_EQ(n, 5);
    static const uint8_t want[4] = {0xb8 | SL_IP_ECN_CE, 0xb8, SL_IP_ECN_CE, SL_IP_ECN_CE};
    for (int i = 0; i < 4 && i < n; i++) {
        struct sl_ip4 ip;
        CHECK_EQ(sl_ip4_parse(f[i].data + 14, f[i].len - 14, false, &ip), SL_CTR_ok);
        CHECK_EQ(ip.tos, want[i]);
    }
    uint32_t id = 0;
    CHECK(n == 5 && frame_intact(&f[4], &id) && id == 7);
    CHECK_EQ(ctr[SL_CTR_impair_ce_marked], 2);
    w->ops->destroy(w);
    b->ops->destroy(b);
}

int main(void)
{
    RUN(test_spec);
    RUN(test_passthrough);
    RUN(test_determinism);
    RUN(test_loss_rate);
    RUN(test_dup);
    RUN(test_reorder);
    RUN(test_reorder_time_bound);
    RUN(test_delay);
    RUN(test_ready_queue);
    RUN(test_meta_and_wakeup);
    RUN(test_ce_mark);
    return check_finish("test_impair");
}
