/* store_redis_check: driver for tests/integration/test_store_redis.sh, and a
 * small benchmark for any store URI.
 *
 *   store_redis_check suite URI
 *       the store conformance suite (tests/lib/store_suite.c) against
 *       URI, with a second handle on the same URI.
 *   store_redis_check reconnect URI DIR
 *       writes/reads in a loop and walks through phases with the script,
 *       through files in DIR:
 *         driver writes DIR/phase1   after 200 good round trips
 *         script kills redis-server, writes DIR/killed
 *         driver writes DIR/errors   after >= 20 failed ops (each must fail
 *                                    fast: no op may block past the timeout)
 *         script restarts redis-server, writes DIR/restarted
 *         driver must recover (bounded), re-checks put/get/CAS/pipelining,
 *         writes DIR/recovered and exits 0.
 *   store_redis_check wait URI ok|timeout
 *       one fenced put through a "?wait=N" URI must succeed (replicas
 *       present) or fail with -ETIMEDOUT (none) and count wait_short.
 *   store_redis_check hostile URI
 *       foreign values under the key prefix (written with raw commands: a
 *       string where a record hash belongs, a huge hash, a non-numeric and
 *       a wrong-type epoch): each fails only its own key's op (-EBADMSG),
 *       a value longer than the caller's buffer is never transferred
 *       (-ENOBUFS and its length; the server's output byte count shows
 *       it), and the other ops of the same batch succeed.
 *   store_redis_check bench URI [N]
 *       put+get round-trip latency (p50/p99/p999 over N ops, 200-byte
 *       values) and group commit (batches of 1000 fenced puts).
 * Prints "store_redis_check MODE:" and "N passed, M failed", and exits nonzero on
 * failure. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "state/flow.h"
#include "store_suite.h"

#include <sys/stat.h>

#include <hiredis/hiredis.h>

static char g_dir[512];

static bool phase_exists(const char *name)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", g_dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static void phase_write(const char *name)
{
    char p[600], tmp[620];
    snprintf(p, sizeof(p), "%s/%s", g_dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fputs("1\n", f);
        fclose(f);
        rename(tmp, p);
    }
    printf("     phase %s\n", name);
}

static double ms_since_ns(uint64_t t0) { return (double)(sl_clock_ns() - t0) / 1e6; }

/* Waits (polling every millisecond, bounded) for the script's phase file. */
static bool wait_phase(const char *name, double timeout_ms)
{
    uint64_t t0 = sl_clock_ns();
    while (!phase_exists(name)) {
        if (ms_since_ns(t0) > timeout_ms)
            return false;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return true;
}

/* One put + get round trip on key k; returns 0 or the error. */
static int round_trip(struct sl_store *s, const char *k, uint64_t i)
{
    char val[64], back[64];
    int n = snprintf(val, sizeof(val), "value-%llu", (unsigned long long)i);
    uint64_t nv, v;
    size_t len;
    int rc = sl_store_put(s, k, val, (size_t)n, SL_STORE_ANY, SL_STORE_ANY, &nv);
    if (rc)
        return rc;
    rc = sl_store_get(s, k, back, sizeof(back), &len, &v);
    if (rc)
        return rc;
    return (len == (size_t)n && !memcmp(val, back, len) && v == nv) ? 0 : -EILSEQ;
}

static const char *g_uri;

static void test_reconnect(void)
{
    struct sl_store *s;
    CHECK_EQ(sl_store_open(g_uri, &s), 0);
    if (!s)
        return;
    char k[64];
    snprintf(k, sizeof(k), "rc:{%d}:rec", (int)getpid());
    uint64_t i = 0;
    /* phase 1: healthy */
    int bad = 0;
    for (; i < 200; i++)
        bad += round_trip(s, k, i) != 0;
    CHECK_EQ(bad, 0);
    phase_write("phase1");
    /* phase 2: the server is killed; every op fails, and fails fast */
    CHECK(wait_phase("killed", 30000));
    uint64_t t0;
    int errors = 0, n_io = 0, n_refused = 0, n_timeout = 0, unexpected = 0;
    double worst_ms = 0;
    t0 = sl_clock_ns();
    while (errors < 20 && ms_since_ns(t0) < 30000) {
        uint64_t t1 = sl_clock_ns();
        int rc = round_trip(s, k, i++);
        double d = ms_since_ns(t1);
        if (d > worst_ms)
            worst_ms = d;
        if (rc == 0)
            continue; /* (cannot happen: the server is gone) */
        errors++;
        if (rc == -EIO)
            n_io++;
        else if (rc == -ECONNREFUSED)
            n_refused++;
        else if (rc == -ETIMEDOUT)
            n_timeout++;
        else
            unexpected++;
    }
    /* a batch while down: every op reports the transport error */
    CHECK_EQ(sl_store_begin(s), 0);
    uint64_t nv;
    sl_store_put(s, k, "b", 1, SL_STORE_ANY, SL_STORE_ANY, &nv);
    sl_store_put(s, k, "c", 1, SL_STORE_ANY, SL_STORE_ANY, &nv);
    struct sl_store_result r2[2];
    int brc = sl_store_commit(s, r2, 2);
    CHECK(brc == -ECONNREFUSED || brc == -EIO || brc == -ETIMEDOUT);
    CHECK(r2[0].rc == brc && r2[1].rc == brc);
    printf("     while down: %d errors (EIO %d, ECONNREFUSED %d, ETIMEDOUT %d, other %d), "
           "slowest op %.1f ms\n", errors, n_io, n_refused, n_timeout, unexpected, worst_ms);
    CHECK_EQ(errors, 20);
    CHECK_EQ(unexpected, 0);
    CHECK(n_refused > 0);
    CHECK(worst_ms < 2500); /* bounded by timeout_ms (1000) plus slack */
    phase_write("errors");
    /* phase 3: the server is back: recover within the backoff bound */
    CHECK(wait_phase("restarted", 30000));
    uint64_t t2 = sl_clock_ns();
    int rc = -1, attempts = 0;
    while (rc != 0 && ms_since_ns(t2) < 10000) {
        rc = round_trip(s, k, i++);
        attempts++;
    }
    double rec_ms = ms_since_ns(t2);
    CHECK_EQ(rc, 0);
    printf("     recovered after %d attempts, %.1f ms after the restart was seen; reconnects=%llu\n",
           attempts, rec_ms, (unsigned long long)sl_store_stats(s)->reconnects);
    CHECK(sl_store_stats(s)->reconnects >= 1);
    /* everything works again: CAS (scripts reloaded), pipelining */
    uint64_t cur;
    CHECK_EQ(sl_store_cas_epoch(s, k, 0, 4, &cur), 0);
    CHECK_EQ(sl_store_put(s, k, "z", 1, SL_STORE_ANY, 3, &nv), -ESTALE);
    CHECK_EQ(sl_store_begin(s), 0);
    for (int j = 0; j < 100; j++)
        sl_store_put(s, k, "p", 1, SL_STORE_ANY, 4, &nv);
    struct sl_store_result r100[100];
    CHECK_EQ(sl_store_commit(s, r100, 100), 0);
    CHECK(r100[99].rc == 0 && r100[99].value == r100[0].value + 99);
    CHECK_EQ(sl_store_del(s, k, 4), 0);
    CHECK_EQ(sl_store_cas_epoch(s, k, 4, 0, &cur), 0);
    sl_store_stats_dump(s, stdout);
    phase_write("recovered");
    sl_store_close(s);
}

static const char *g_wait_expect;

static void test_wait(void)
{
    struct sl_store *s;
    CHECK_EQ(sl_store_open(g_uri, &s), 0);
    if (!s)
        return;
    char k[64];
    snprintf(k, sizeof(k), "w:{%d}:rec", (int)getpid());
    uint64_t nv, cur;
    int rc = sl_store_put(s, k, "durable", 7, SL_STORE_ANY, SL_STORE_ANY, &nv);
    if (!strcmp(g_wait_expect, "ok")) {
        CHECK_EQ(rc, 0);
        CHECK_EQ(sl_store_cas_epoch(s, k, 0, 1, &cur), 0);
        CHECK_EQ(sl_store_begin(s), 0);
        sl_store_put(s, k, "x", 1, SL_STORE_ANY, 1, &nv);
        CHECK_EQ(sl_store_commit(s, NULL, 0), 0);
        CHECK_EQ(sl_store_stats(s)->wait_short, 0);
        sl_store_del(s, k, 1);
        sl_store_cas_epoch(s, k, 1, 0, &cur);
    } else {
        CHECK_EQ(rc, -ETIMEDOUT); /* applied on the primary, not replicated */
        CHECK_EQ(sl_store_stats(s)->wait_short, 1);
        CHECK_EQ(sl_store_stats(s)->err_timeout, 1);
        sl_store_del(s, k, SL_STORE_ANY);
    }
    sl_store_close(s);
}

/* ---------------- benchmark ---------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t g_bench_n = 100000;

static void bench(void)
{
    struct sl_store *s;
    CHECK_EQ(sl_store_open(g_uri, &s), 0);
    if (!s)
        return;
    enum { FLOWS = 1000, VAL = 200 };
    uint8_t val[VAL], back[VAL];
    memset(val, 0x5a, sizeof(val));
    static char keys[FLOWS][SL_STORE_KEY_MAX];
    uint64_t cur, nv, v;
    size_t len;
    for (int i = 0; i < FLOWS; i++) {
        struct sl_flow f = {0xc6120002, 0xc6120001 + (uint32_t)(i >> 16), 80,
                            (uint16_t)(10000 + i)};
        sl_flow_key(keys[i], sizeof(keys[i]), &f, "rec");
        sl_store_cas_epoch(s, keys[i], 0, 1, &cur);
    }
    uint64_t n = g_bench_n;
    uint64_t *lat = malloc(n * sizeof(*lat));
    int errs = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *k = keys[i % FLOWS];
        val[0] = (uint8_t)i;
        uint64_t t0 = sl_clock_ns();
        errs += sl_store_put(s, k, val, VAL, SL_STORE_ANY, 1, &nv) != 0;
        errs += sl_store_get(s, k, back, sizeof(back), &len, &v) != 0;
        lat[i] = sl_clock_ns() - t0;
    }
    qsort(lat, n, sizeof(*lat), cmp_u64);
    printf("bench %s: put+get %dB fenced: n=%llu p50=%.1f us p99=%.1f us p99.9=%.1f us\n",
           sl_store_name(s), VAL, (unsigned long long)n, lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3,
           lat[n * 999 / 1000] / 1e3);
    /* group commit: one batch = 1000 flows, one fenced put each */
    uint64_t batches = n / FLOWS < 20 ? 20 : n / FLOWS;
    if (batches > 200)
        batches = 200;
    uint64_t *bl = malloc(batches * sizeof(*bl));
    struct sl_store_result *res = malloc(FLOWS * sizeof(*res));
    uint64_t tstart = sl_clock_ns();
    for (uint64_t b = 0; b < batches; b++) {
        uint64_t t0 = sl_clock_ns();
        sl_store_begin(s);
        for (int i = 0; i < FLOWS; i++)
            sl_store_put(s, keys[i], val, VAL, SL_STORE_ANY, 1, &nv);
        errs += sl_store_commit(s, res, FLOWS) != 0;
        bl[b] = sl_clock_ns() - t0;
    }
    double secs = (double)(sl_clock_ns() - tstart) / 1e9;
    qsort(bl, batches, sizeof(*bl), cmp_u64);
    printf("bench %s: group commit %d flows x %dB: %llu batches, batch p50=%.2f ms p99=%.2f ms, "
           "%.0f puts/s\n",
           sl_store_name(s), FLOWS, VAL, (unsigned long long)batches, bl[batches / 2] / 1e6,
           bl[batches * 99 / 100] / 1e6, (double)batches * FLOWS / secs);
    CHECK_EQ(errs, 0);
    for (int i = 0; i < FLOWS; i++) {
        sl_store_del(s, keys[i], 1);
        sl_store_cas_epoch(s, keys[i], 1, 0, &cur);
    }
    free(lat);
    free(bl);
    free(res);
    sl_store_close(s);
}

static long long net_out(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "INFO stats");
    long long v = -1;
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "total_net_output_bytes:")
                                                        : NULL;
    if (p)
        v = atoll(p + strlen("total_net_output_bytes:"));
    if (r)
        freeReplyObject(r);
    return v;
}

static void raw(redisContext *rc, const char *fmt, const char *key, const char *val, size_t vl)
{
    redisReply *r = redisCommand(rc, fmt, key, val, vl);
    CHECK(r && r->type != REDIS_REPLY_ERROR);
    if (r)
        freeReplyObject(r);
}

static void test_hostile(void)
{
    char host[64];
    int port = 0;
    CHECK(sscanf(g_uri, "redis://%63[^:]:%d", host, &port) == 2);
    redisContext *rc = redisConnect(host, port);
    CHECK(rc && !rc->err);
    struct sl_store *s = NULL;
    CHECK_EQ(sl_store_open(g_uri, &s), 0);
    if (!rc || rc->err || !s)
        return;
    const char *kstr = "sl:{198.18.0.2:80-198.18.0.9:1}:rec";
    const char *kbig = "sl:{198.18.0.2:80-198.18.0.9:2}:rec";
    const char *knum = "sl:{198.18.0.2:80-198.18.0.9:3}:rec";
    const char *ktyp = "sl:{198.18.0.2:80-198.18.0.9:4}:rec";
    const char *good1 = "sl:{198.18.0.2:80-198.18.0.9:5}:rec";
    const char *good2 = "sl:{198.18.0.2:80-198.18.0.9:6}:rec";
    size_t big = 8u << 20;
    char *bigv = malloc(big);
    CHECK(bigv != NULL);
    if (!bigv)
        return;
    memset(bigv, 'x', big);
    raw(rc, "SET %s %b", kstr, "not a record", 12);
    raw(rc, "HSET %s d %b v 1", kbig, bigv, big);
    raw(rc, "SET sl:{198.18.0.2:80-198.18.0.9:3}:epoch%s %b", "", "12abc", 5);
    raw(rc, "HSET sl:{198.18.0.2:80-198.18.0.9:4}:epoch%s f %b", "", "1", 1);
    static char buf[65536];
    size_t len = 0;
    uint64_t v = 0, e = 0;
    CHECK_EQ(sl_store_get(s, kstr, buf, sizeof(buf), &len, &v), -EBADMSG);
    long long o0 = net_out(rc);
    CHECK_EQ(sl_store_get(s, kbig, buf, sizeof(buf), &len, &v), -ENOBUFS);
    long long o1 = net_out(rc);
    CHECK_EQ(len, big);
    printf("     a %zu-byte value with a %zu-byte buffer: %lld bytes sent by the server\n", big,
           sizeof(buf), o1 - o0);
    CHECK(o0 >= 0 && o1 - o0 < 65536);
    char *all = malloc(big);
    if (all) {
        CHECK_EQ(sl_store_get(s, kbig, all, big, &len, &v), 0); /* a cap, not a ban */
        CHECK_EQ(len, big);
        free(all);
    }
    CHECK_EQ(sl_store_epoch_get(s, ktyp, &e), -EBADMSG);
    /* one batch: the foreign keys fail alone */
    struct sl_store_result res[6];
    CHECK_EQ(sl_store_begin(s), 0);
    sl_store_put(s, good1, "one", 3, SL_STORE_ANY, SL_STORE_ANY, NULL);
    sl_store_put(s, kstr, "two", 3, SL_STORE_ANY, SL_STORE_ANY, NULL);
    sl_store_put(s, knum, "three", 5, SL_STORE_ANY, 12, NULL);
    sl_store_cas_epoch(s, ktyp, 1, 2, NULL);
    sl_store_del(s, ktyp, 1);
    sl_store_put(s, good2, "six", 3, SL_STORE_ANY, SL_STORE_ANY, NULL);
    CHECK_EQ(sl_store_commit(s, res, 6), -EBADMSG);
    CHECK_EQ(res[0].rc, 0);
    CHECK_EQ(res[1].rc, -EBADMSG);
    CHECK_EQ(res[2].rc, -EBADMSG);
    CHECK_EQ(res[3].rc, -EBADMSG);
    CHECK_EQ(res[4].rc, -EBADMSG);
    CHECK_EQ(res[5].rc, 0);
    CHECK_EQ(sl_store_get(s, good2, buf, sizeof(buf), &len, &v), 0);
    CHECK(len == 3 && !memcmp(buf, "six", 3));
    CHECK(sl_store_stats(s)->err_badmsg >= 6);
    const char *keys[] = {kstr, kbig, knum, ktyp, good1, good2};
    for (unsigned i = 0; i < 6; i++) {
        redisReply *r = redisCommand(rc, "DEL %s", keys[i]);
        if (r)
            freeReplyObject(r);
    }
    redisReply *r = redisCommand(rc, "DEL sl:{198.18.0.2:80-198.18.0.9:3}:epoch "
                                     "sl:{198.18.0.2:80-198.18.0.9:4}:epoch");
    if (r)
        freeReplyObject(r);
    free(bigv);
    redisFree(rc);
    sl_store_close(s);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s suite|reconnect|wait|hostile|bench URI [DIR|ok|timeout|N]\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    g_uri = argv[2];
    char name[64];
    snprintf(name, sizeof(name), "store_redis_check %s", mode);
    if (!strcmp(mode, "suite")) {
        struct sl_store *s = NULL;
        int rc = sl_store_open(g_uri, &s);
        if (rc) {
            fprintf(stderr, "cannot open %s: %d\n", g_uri, rc);
            return 1;
        }
        suite_run(s, g_uri);
        sl_store_close(s);
    } else if (!strcmp(mode, "reconnect") && argc >= 4) {
        snprintf(g_dir, sizeof(g_dir), "%s", argv[3]);
        RUN(test_reconnect);
    } else if (!strcmp(mode, "wait") && argc >= 4) {
        g_wait_expect = argv[3];
        RUN(test_wait);
    } else if (!strcmp(mode, "hostile")) {
        RUN(test_hostile);
    } else if (!strcmp(mode, "bench")) {
        if (argc >= 4)
            g_bench_n = strtoull(argv[3], NULL, 10);
        if (g_bench_n < 1000)
            g_bench_n = 1000;
        RUN(bench);
    } else {
        fprintf(stderr, "bad mode %s\n", mode);
        return 2;
    }
    return check_finish(name);
}
