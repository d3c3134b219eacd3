/* Store conformance suite, a library every store backend's test links
 * (test_store_mem, test_store_shm, test_store_fault, store_redis_check).
 *
 * It checks the contract written in src/store/store.h: versions, expected
 * versions, owner epochs and fencing, the atomic take, reserved keys, listing, group commit
 * with per-op results, error codes and the counters that go with them.
 * Every part is a named case of tests/lib/check.h. */
#include "state/flow.h"
#include "store_suite.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"

/* ---------------- the suite ---------------- */

/* The store under test; suite_uri opens a second handle on the same data
 * (NULL when handles do not share data, as with "mem:"). */
static struct sl_store *su_s;
static const char *su_uri2;
static char su_ns[32]; /* key namespace of this run: keys never collide across runs */

static void su_key(char *buf, size_t cap, const char *flow, const char *part)
{
    snprintf(buf, cap, "t%s:{%s}:%s", su_ns, flow, part);
}

static void suite_basic(void)
{
    struct sl_store *s = su_s;
    char k[SL_STORE_KEY_MAX], buf[64];
    su_key(k, sizeof(k), "basic", "rec");
    size_t len = 99;
    uint64_t v = 99;
    CHECK_EQ(sl_store_get(s, k, buf, sizeof(buf), &len, &v), -ENOENT);
    uint64_t nv = 0;
    CHECK_EQ(sl_store_put(s, k, "hello", 5, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    CHECK_EQ(nv, 1);
    CHECK_EQ(sl_store_get(s, k, buf, sizeof(buf), &len, &v), 0);
    CHECK_EQ(len, 5);
    CHECK_EQ(v, 1);
    CHECK(!memcmp(buf, "hello", 5));
    CHECK_EQ(sl_store_put(s, k, "world!", 6, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    CHECK_EQ(nv, 2);
    /* too small a buffer: -ENOBUFS and the size needed */
    CHECK_EQ(sl_store_get(s, k, buf, 3, &len, &v), -ENOBUFS);
    CHECK_EQ(len, 6);
    CHECK_EQ(sl_store_get(s, k, buf, sizeof(buf), &len, &v), 0);
    CHECK(len == 6 && !memcmp(buf, "world!", 6) && v == 2);
    /* zero-length value */
    CHECK_EQ(sl_store_put(s, k, NULL, 0, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    CHECK_EQ(sl_store_get(s, k, buf, sizeof(buf), &len, &v), 0);
    CHECK_EQ(len, 0);
    CHECK_EQ(v, 3);
    /* binary data with NULs */
    uint8_t bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    CHECK_EQ(sl_store_put(s, k, bin, sizeof(bin), SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    uint8_t back[256];
    CHECK_EQ(sl_store_get(s, k, back, sizeof(back), &len, &v), 0);
    CHECK(len == 256 && !memcmp(bin, back, 256));
    CHECK_EQ(sl_store_del(s, k, SL_STORE_ANY), 0);
    CHECK_EQ(sl_store_get(s, k, buf, sizeof(buf), &len, &v), -ENOENT);
    CHECK_EQ(sl_store_del(s, k, SL_STORE_ANY), -ENOENT);
}

static void suite_large(void)
{
    struct sl_store *s = su_s;
    char k[SL_STORE_KEY_MAX];
    su_key(k, sizeof(k), "large", "rec");
    size_t n = 200 * 1024;
    uint8_t *a = malloc(n), *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        a[i] = (uint8_t)(i * 7 + (i >> 9));
    uint64_t nv, v;
    size_t len;
    CHECK_EQ(sl_store_put(s, k, a, n, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    CHECK_EQ(sl_store_get(s, k, b, n, &len, &v), 0);
    CHECK(len == n && !memcmp(a, b, n));
    CHECK_EQ(sl_store_del(s, k, SL_STORE_ANY), 0);
    free(a);
    free(b);
}

static void suite_expected_version(void)
{
    struct sl_store *s = su_s;
    char k[SL_STORE_KEY_MAX];
    su_key(k, sizeof(k), "ver", "rec");
    uint64_t nv = 0;
    CHECK_EQ(sl_store_put(s, k, "a", 1, 0, SL_STORE_ANY, &nv), 0); /* create only */
    CHECK_EQ(nv, 1);
    CHECK_EQ(sl_store_put(s, k, "b", 1, 0, SL_STORE_ANY, &nv), -ESTALE);
    CHECK_EQ(sl_store_put(s, k, "b", 1, 5, SL_STORE_ANY, &nv), -ESTALE);
    CHECK_EQ(sl_store_put(s, k, "b", 1, 1, SL_STORE_ANY, &nv), 0);
    CHECK_EQ(nv, 2);
    char buf[4];
    size_t len;
    uint64_t v;
    CHECK_EQ(sl_store_get(s, k, buf, sizeof(buf), &len, &v), 0);
    CHECK(len == 1 && buf[0] == 'b' && v == 2);
    char k2[SL_STORE_KEY_MAX];
    su_key(k2, sizeof(k2), "ver", "absent");
    CHECK_EQ(sl_store_put(s, k2, "x", 1, 3, SL_STORE_ANY, &nv), -ESTALE); /* absent = version 0 */
    CHECK_EQ(sl_store_get(s, k2, buf, sizeof(buf), &len, &v), -ENOENT);
    CHECK_EQ(sl_store_del(s, k, SL_STORE_ANY), 0);
}

static void suite_epoch_fencing(void)
{
    struct sl_store *s = su_s;
    char k[SL_STORE_KEY_MAX], k2[SL_STORE_KEY_MAX], ek[SL_STORE_KEY_MAX];
    su_key(k, sizeof(k), "fence", "rec");
    su_key(k2, sizeof(k2), "fence", "ckpt");
    su_key(ek, sizeof(ek), "fence", "epoch");
    uint64_t e = 99, cur = 99, nv;
    CHECK_EQ(sl_store_epoch_get(s, k, &e), 0);
    CHECK_EQ(e, 0);
    /* unfenced writes work without an owner; a fenced write needs the epoch */
    CHECK_EQ(sl_store_put(s, k, "x", 1, SL_STORE_ANY, 1, &nv), -ESTALE);
    CHECK_EQ(sl_store_put(s, k, "x", 1, SL_STORE_ANY, 0, &nv), 0);
    CHECK_EQ(sl_store_cas_epoch(s, k, 0, 5, &cur), 0);
    CHECK_EQ(cur, 5);
    CHECK_EQ(sl_store_cas_epoch(s, k2, 0, 6, &cur), -ESTALE); /* same flow, same epoch */
    CHECK_EQ(cur, 5);
    CHECK_EQ(sl_store_epoch_get(s, k2, &e), 0);
    CHECK_EQ(e, 5);
    CHECK_EQ(sl_store_epoch_get(s, ek, &e), 0); /* the epoch key itself names the flow too */
    CHECK_EQ(e, 5);
    CHECK_EQ(sl_store_put(s, k, "y", 1, SL_STORE_ANY, 5, &nv), 0);
    CHECK_EQ(sl_store_put(s, k2, "c", 1, SL_STORE_ANY, 5, &nv), 0);
    CHECK_EQ(sl_store_put(s, k, "z", 1, SL_STORE_ANY, 4, &nv), -ESTALE);
    CHECK_EQ(sl_store_del(s, k2, 4), -ESTALE);
    /* takeover: the old owner (5) is fenced off for every key of the flow */
    CHECK_EQ(sl_store_cas_epoch(s, k, 5, 9, &cur), 0);
    CHECK_EQ(sl_store_put(s, k, "old", 3, SL_STORE_ANY, 5, &nv), -ESTALE);
    CHECK_EQ(sl_store_del(s, k2, 5), -ESTALE);
    char buf[8];
    size_t len;
    uint64_t v;
    CHECK_EQ(sl_store_get(s, k, buf, sizeof(buf), &len, &v), 0);
    CHECK(len == 1 && buf[0] == 'y');
    CHECK_EQ(sl_store_put(s, k, "new", 3, v, 9, &nv), 0); /* both conditions at once */
    CHECK_EQ(sl_store_put(s, k, "new", 3, v, 9, &nv), -ESTALE);
    CHECK_EQ(sl_store_del(s, k2, 9), 0);
    CHECK_EQ(sl_store_del(s, k, 9), 0);
    /* epochs need not be consecutive; desired 0 releases the flow */
    CHECK_EQ(sl_store_cas_epoch(s, k, 9, 0, &cur), 0);
    CHECK_EQ(sl_store_epoch_get(s, k, &e), 0);
    CHECK_EQ(e, 0);
    CHECK_EQ(sl_store_cas_epoch(s, k, 9, 10, &cur), -ESTALE);
    CHECK_EQ(cur, 0);
    /* big epochs survive the trip (redis: strings; no Lua number rounding) */
    uint64_t big = 0xfedcba9876543210ull;
    CHECK_EQ(sl_store_cas_epoch(s, k, 0, big, &cur), 0);
    CHECK_EQ(sl_store_epoch_get(s, k, &e), 0);
    CHECK(e == big);
    CHECK_EQ(sl_store_put(s, k, "b", 1, SL_STORE_ANY, big, &nv), 0);
    CHECK_EQ(sl_store_put(s, k, "b", 1, SL_STORE_ANY, big - 1, &nv), -ESTALE);
    CHECK_EQ(sl_store_del(s, k, big), 0);
    CHECK_EQ(sl_store_cas_epoch(s, k, big, 0, &cur), 0);
}

/* Take: ownership and the record carrying it in one operation, only from
 * the expected epoch and version; never a state where one moved alone. */
static void suite_take(void)
{
    struct sl_store *s = su_s;
    char k[SL_STORE_KEY_MAX];
    su_key(k, sizeof(k), "take", "rec");
    uint64_t nv, cur = 99, e, v;
    char buf[8];
    size_t len;
    CHECK_EQ(sl_store_cas_epoch(s, k, 0, 3, &cur), 0);
    CHECK_EQ(sl_store_put(s, k, "w3", 2, SL_STORE_ANY, 3, &nv), 0);
    CHECK_EQ(sl_store_take(s, k, "w4", 2, nv, 2, 4, &cur), -ESTALE); /* not the epoch */
    CHECK_EQ(cur, 3);
    CHECK_EQ(sl_store_take(s, k, "w4", 2, nv + 1, 3, 4, &cur), -ESTALE); /* not the version */
    CHECK_EQ(cur, 3);
    CHECK_EQ(sl_store_get(s, k, buf, sizeof(buf), &len, &v), 0);
    CHECK(len == 2 && !memcmp(buf, "w3", 2) && v == nv); /* nothing moved */
    CHECK_EQ(sl_store_epoch_get(s, k, &e), 0);
    CHECK_EQ(e, 3);
    CHECK_EQ(sl_store_take(s, k, "w4", 2, nv, 3, 4, &cur), 0);
    CHECK_EQ(cur, 4);
    CHECK_EQ(sl_store_get(s, k, buf, sizeof(buf), &len, &v), 0);
    CHECK(len == 2 && !memcmp(buf, "w4", 2) && v == nv + 1);
    CHECK_EQ(sl_store_epoch_get(s, k, &e), 0);
    CHECK_EQ(e, 4);
    CHECK_EQ(sl_store_put(s, k, "w3", 2, SL_STORE_ANY, 3, &nv), -ESTALE); /* old owner fenced */
    CHECK_EQ(sl_store_take(s, k, "x", 1, 0, 3, 0, &cur), -EINVAL);
    CHECK_EQ(sl_store_del(s, k, 4), 0);
    CHECK_EQ(sl_store_cas_epoch(s, k, 4, 0, &cur), 0);
}

static void suite_invalid(void)
{
    struct sl_store *s = su_s;
    char k[SL_STORE_KEY_MAX + 10], ek[SL_STORE_KEY_MAX];
    uint64_t nv, cur;
    su_key(ek, sizeof(ek), "inval", "epoch");
    CHECK_EQ(sl_store_put(s, ek, "1", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), -EINVAL); /* reserved */
    CHECK_EQ(sl_store_del(s, ek, SL_STORE_ANY), -EINVAL);
    memset(k, 'a', sizeof(k) - 1);
    k[sizeof(k) - 1] = 0;
    CHECK_EQ(sl_store_put(s, k, "1", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), -EINVAL);
    CHECK_EQ(sl_store_put(s, "", "1", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), -EINVAL);
    CHECK_EQ(sl_store_cas_epoch(s, ek, SL_STORE_ANY, 1, &cur), -EINVAL);
    CHECK_EQ(sl_store_commit(s, NULL, 0), -EINVAL); /* no batch open */
}

struct su_list {
    int n, bad;
    const char *prefix;
};
static int su_list_cb(void *arg, const char *key)
{
    struct su_list *l = arg;
    if (strncmp(key, l->prefix, strlen(l->prefix)))
        l->bad++;
    l->n++;
    return 0;
}
static int su_list_stop(void *arg, const char *key)
{
    (*(int *)arg)++;
    return 42;
}

static void suite_list(void)
{
    struct sl_store *s = su_s;
    char k[SL_STORE_KEY_MAX], p1[96], p2[96];
    uint64_t nv, cur;
    snprintf(p1, sizeof(p1), "t%s:{lst-A-", su_ns);
    snprintf(p2, sizeof(p2), "t%s:{lst-B-", su_ns);
    for (int i = 0; i < 30; i++) {
        char flow[32];
        snprintf(flow, sizeof(flow), "lst-%c-%d", i % 3 ? 'A' : 'B', i);
        su_key(k, sizeof(k), flow, "rec");
        CHECK_EQ(sl_store_put(s, k, "r", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
        if (i < 4) /* epochs are listed too (flows with an owner) */
            CHECK_EQ(sl_store_cas_epoch(s, k, 0, 1, &cur), 0);
    }
    struct su_list la = {0, 0, p1}, lb = {0, 0, p2};
    CHECK_EQ(sl_store_list(s, p1, su_list_cb, &la), 0);
    CHECK_EQ(sl_store_list(s, p2, su_list_cb, &lb), 0);
    /* A: i%3 != 0 -> 20 records, epochs for i=1,2; B: 10 records, epochs i=0,3 */
    CHECK_EQ(la.n, 22);
    CHECK_EQ(lb.n, 12);
    CHECK_EQ(la.bad + lb.bad, 0);
    int calls = 0;
    CHECK_EQ(sl_store_list(s, p1, su_list_stop, &calls), 42);
    CHECK_EQ(calls, 1);
    for (int i = 0; i < 30; i++) {
        char flow[32];
        snprintf(flow, sizeof(flow), "lst-%c-%d", i % 3 ? 'A' : 'B', i);
        su_key(k, sizeof(k), flow, "rec");
        CHECK_EQ(sl_store_del(s, k, SL_STORE_ANY), 0);
        if (i < 4)
            CHECK_EQ(sl_store_cas_epoch(s, k, 1, 0, &cur), 0);
    }
    la.n = 0;
    CHECK_EQ(sl_store_list(s, p1, su_list_cb, &la), 0);
    CHECK_EQ(la.n, 0);
}

static void suite_batch(void)
{
    struct sl_store *s = su_s;
    enum { N = 1000 };
    char k[SL_STORE_KEY_MAX];
    uint64_t nv, cur;
    CHECK_EQ(sl_store_begin(s), 0);
    CHECK_EQ(sl_store_begin(s), -EBUSY);
    uint8_t val[100];
    for (int i = 0; i < N; i++) {
        char flow[32];
        snprintf(flow, sizeof(flow), "b-%d", i);
        su_key(k, sizeof(k), flow, "rec");
        memset(val, i & 0xff, sizeof(val));
        /* data is copied at queue time: reuse of val must not matter */
        CHECK_EQ(sl_store_put(s, k, val, (size_t)(i % 100), SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    }
    CHECK_EQ(sl_store_pending(s), N);
    /* nothing is applied before commit (redis/mem/shm alike would differ
     * otherwise; the contract only promises results at commit) */
    static struct sl_store_result res[N];
    CHECK_EQ(sl_store_commit(s, res, N), 0);
    CHECK_EQ(sl_store_pending(s), 0);
    int okc = 0;
    for (int i = 0; i < N; i++)
        okc += res[i].rc == 0 && res[i].value == 1;
    CHECK_EQ(okc, N);
    for (int i = 0; i < N; i += 97) {
        char flow[32], buf[128];
        size_t len;
        uint64_t v;
        snprintf(flow, sizeof(flow), "b-%d", i);
        su_key(k, sizeof(k), flow, "rec");
        CHECK_EQ(sl_store_get(s, k, buf, sizeof(buf), &len, &v), 0);
        CHECK_EQ(len, (size_t)(i % 100));
        CHECK(len == 0 || (uint8_t)buf[len - 1] == (uint8_t)(i & 0xff));
    }
    /* mixed batch: per-op results in queue order */
    char kf[SL_STORE_KEY_MAX];
    su_key(kf, sizeof(kf), "b-0", "rec");
    CHECK_EQ(sl_store_begin(s), 0);
    CHECK_EQ(sl_store_cas_epoch(s, kf, 0, 7, &cur), 0);          /* 0: ok */
    CHECK_EQ(sl_store_put(s, kf, "A", 1, SL_STORE_ANY, 7, &nv), 0); /* 1: ok (after 0) */
    CHECK_EQ(sl_store_put(s, kf, "B", 1, SL_STORE_ANY, 6, &nv), 0); /* 2: stale fence */
    CHECK_EQ(sl_store_cas_epoch(s, kf, 0, 8, &cur), 0);          /* 3: stale, cur 7 */
    su_key(k, sizeof(k), "b-nope", "rec");
    CHECK_EQ(sl_store_del(s, k, SL_STORE_ANY), 0);               /* 4: -ENOENT */
    CHECK_EQ(sl_store_put(s, kf, "C", 1, 2, 7, &nv), 0);         /* 5: ok: version 1 -> 2 -> 3 */
    struct sl_store_result r6[6];
    CHECK_EQ(sl_store_commit(s, r6, 6), -ESTALE); /* the first failure */
    CHECK_EQ(r6[0].rc, 0);
    CHECK_EQ(r6[0].value, 7);
    CHECK_EQ(r6[1].rc, 0);
    CHECK_EQ(r6[1].value, 2);
    CHECK_EQ(r6[2].rc, -ESTALE);
    CHECK_EQ(r6[3].rc, -ESTALE);
    CHECK_EQ(r6[3].value, 7);
    CHECK_EQ(r6[4].rc, -ENOENT);
    CHECK_EQ(r6[5].rc, 0);
    CHECK_EQ(r6[5].value, 3);
    /* abort drops the queue; an empty commit is fine */
    CHECK_EQ(sl_store_begin(s), 0);
    CHECK_EQ(sl_store_put(s, kf, "Z", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    sl_store_abort(s);
    char b1[4];
    size_t len;
    uint64_t v;
    CHECK_EQ(sl_store_get(s, kf, b1, sizeof(b1), &len, &v), 0);
    CHECK(len == 1 && b1[0] == 'C');
    CHECK_EQ(sl_store_begin(s), 0);
    CHECK_EQ(sl_store_commit(s, NULL, 0), 0);
    /* reads inside a batch run at once */
    CHECK_EQ(sl_store_begin(s), 0);
    CHECK_EQ(sl_store_get(s, kf, b1, sizeof(b1), &len, &v), 0);
    CHECK_EQ(sl_store_commit(s, NULL, 0), 0);
    /* clean up with one batch */
    CHECK_EQ(sl_store_begin(s), 0);
    for (int i = 0; i < N; i++) {
        char flow[32];
        snprintf(flow, sizeof(flow), "b-%d", i);
        su_key(k, sizeof(k), flow, "rec");
        sl_store_del(s, k, SL_STORE_ANY);
    }
    sl_store_cas_epoch(s, kf, 7, 0, &cur);
    CHECK_EQ(sl_store_commit(s, NULL, 0), 0);
    CHECK_EQ(sl_store_epoch_get(s, kf, &cur), 0);
    CHECK_EQ(cur, 0);
}

static void suite_stats(void)
{
    struct sl_store *s = su_s;
    struct sl_store_stats a = *sl_store_stats(s);
    char k[SL_STORE_KEY_MAX], buf[4];
    size_t len;
    uint64_t v, nv;
    su_key(k, sizeof(k), "stats", "rec");
    CHECK_EQ(sl_store_get(s, k, buf, sizeof(buf), &len, &v), -ENOENT);
    CHECK_EQ(sl_store_put(s, k, "x", 1, SL_STORE_ANY, 3, &nv), -ESTALE);
    CHECK_EQ(sl_store_put(s, k, "x", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    CHECK_EQ(sl_store_get(s, k, buf, 0, &len, &v), -ENOBUFS);
    CHECK_EQ(sl_store_del(s, k, SL_STORE_ANY), 0);
    const struct sl_store_stats *b = sl_store_stats(s);
    CHECK_EQ(b->op_get - a.op_get, 2);
    CHECK_EQ(b->op_put - a.op_put, 2);
    CHECK_EQ(b->op_del - a.op_del, 1);
    CHECK_EQ(b->err_noent - a.err_noent, 1);
    CHECK_EQ(b->err_stale - a.err_stale, 1);
    CHECK_EQ(b->err_nobufs - a.err_nobufs, 1);
    CHECK_EQ(b->bytes_put - a.bytes_put, 1);
    char dump[4096];
    FILE *f = fmemopen(dump, sizeof(dump), "w");
    sl_store_stats_dump(s, f);
    fclose(f);
    CHECK(strstr(dump, "store_op_put ") != NULL);
    CHECK(strstr(dump, "store_err_stale ") != NULL);
}

/* A second handle on the same store sees the first one's writes and
 * epochs (shm: another mapping; redis: another connection). */
static void suite_second_handle(void)
{
    if (!su_uri2)
        return;
    struct sl_store *s2 = NULL;
    CHECK_EQ(sl_store_open(su_uri2, &s2), 0);
    if (!s2)
        return;
    char k[SL_STORE_KEY_MAX], buf[8];
    size_t len;
    uint64_t v, nv, cur;
    su_key(k, sizeof(k), "two", "rec");
    CHECK_EQ(sl_store_put(su_s, k, "one", 3, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    CHECK_EQ(sl_store_get(s2, k, buf, sizeof(buf), &len, &v), 0);
    CHECK(len == 3 && !memcmp(buf, "one", 3) && v == nv);
    CHECK_EQ(sl_store_cas_epoch(s2, k, 0, 3, &cur), 0);
    CHECK_EQ(sl_store_put(su_s, k, "two", 3, SL_STORE_ANY, 2, &nv), -ESTALE);
    CHECK_EQ(sl_store_put(su_s, k, "two", 3, SL_STORE_ANY, 3, &nv), 0);
    CHECK_EQ(sl_store_get(s2, k, buf, sizeof(buf), &len, &v), 0);
    CHECK(len == 3 && !memcmp(buf, "two", 3));
    CHECK_EQ(sl_store_del(s2, k, 3), 0);
    CHECK_EQ(sl_store_cas_epoch(su_s, k, 3, 0, &cur), 0);
    sl_store_close(s2);
}

static void suite_keys(void)
{
    struct sl_flow f = {.laddr = 0xc6120002, .raddr = 0xc6120001, .lport = 80, .rport = 41234};
    char k[SL_STORE_KEY_MAX], ek[SL_STORE_KEY_MAX], p[64];
    CHECK(sl_flow_key(k, sizeof(k), &f, "tcb") > 0);
    CHECK(!strcmp(k, "sl:{198.18.0.2:80-198.18.0.1:41234}:tcb"));
    struct sl_flow g;
    const char *part;
    CHECK_EQ(sl_flow_parse(k, &g, &part), 0);
    CHECK(!memcmp(&f, &g, sizeof(f)) && !strcmp(part, "tcb"));
    CHECK_EQ(sl_flow_parse("sl:{1.2.3.4:5-6.7.8.9:70000}:x", &g, &part), -EINVAL);
    CHECK_EQ(sl_flow_parse("sl:{1.2.3:5-6.7.8.9:7}:x", &g, &part), -EINVAL);
    CHECK_EQ(sl_flow_parse("sl:{1.2.3.256:5-6.7.8.9:7}:x", &g, &part), -EINVAL);
    CHECK(sl_store_epoch_key(ek, sizeof(ek), k) > 0);
    CHECK(!strcmp(ek, "sl:{198.18.0.2:80-198.18.0.1:41234}:epoch"));
    CHECK(sl_store_is_epoch_key(ek));
    CHECK(!sl_store_is_epoch_key(k));
    CHECK(!sl_store_is_epoch_key("sl:{a}:x:epoch"));
    CHECK(sl_flow_prefix(p, sizeof(p), f.laddr, 80) > 0);
    CHECK(!strncmp(k, p, strlen(p)) && !strcmp(p, "sl:{198.18.0.2:80-"));
    const char *tag;
    size_t tl;
    sl_store_key_tag(k, &tag, &tl);
    CHECK(tl == strlen("{198.18.0.2:80-198.18.0.1:41234}") && tag[0] == '{');
    sl_store_key_tag("plain", &tag, &tl);
    CHECK(tl == 5);
    CHECK_EQ(sl_flow_key(k, 10, &f, "tcb"), -ENAMETOOLONG);
}

/* Runs the whole suite against s (uri2: see su_uri2). */
void suite_run(struct sl_store *s, const char *uri2)
{
    su_s = s;
    su_uri2 = uri2;
    snprintf(su_ns, sizeof(su_ns), "%d-%llu", (int)getpid(), (unsigned long long)(sl_clock_ns() % 1000000));
    RUN(suite_basic);
    RUN(suite_large);
    RUN(suite_expected_version);
    RUN(suite_epoch_fencing);
    RUN(suite_take);
    RUN(suite_invalid);
    RUN(suite_list);
    RUN(suite_batch);
    RUN(suite_stats);
    RUN(suite_second_handle);
    RUN(suite_keys);
}

