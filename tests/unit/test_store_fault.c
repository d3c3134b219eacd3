/* Fault wrapper (src/store/store_fault.c) and a failure sweep in the style
 * of SQLite's I/O-error tests: a recovery-shaped workload (take the epoch,
 * load, fenced writes, a group commit, a delete) is run once to count its
 * store operations, then once for every N with "fail the Nth op" (with
 * clean failures and with lost replies, where the failed write was in fact
 * applied). Each time the workload must stop with exactly the injected
 * error, and re-running it without faults must converge to the right final
 * state. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "store_suite.h"

#define NFLOWS 20

static void wkey(char *k, size_t cap, int flow, const char *part)
{
    snprintf(k, cap, "sl:{10.0.0.1:80-10.0.0.2:%d}:%s", 1000 + flow, part);
}

/* Idempotent, like the stack's recovery path: every step may be re-run. */
static int workload(struct sl_store *s)
{
    char k[SL_STORE_KEY_MAX], kt[SL_STORE_KEY_MAX];
    wkey(k, sizeof(k), 0, "rec");
    wkey(kt, sizeof(kt), 0, "tmp");
    uint64_t e, cur, nv, v;
    int rc = sl_store_epoch_get(s, k, &e);
    if (rc)
        return rc;
    if ((rc = sl_store_cas_epoch(s, k, e, e + 1, &cur)))
        return rc;
    e++;
    char buf[64];
    size_t len;
    rc = sl_store_get(s, k, buf, sizeof(buf), &len, &v);
    if (rc && rc != -ENOENT)
        return rc;
    for (int i = 0; i < 3; i++) {
        char val[24];
        snprintf(val, sizeof(val), "update-%d", i);
        if ((rc = sl_store_put(s, k, val, strlen(val), SL_STORE_ANY, e, &nv)))
            return rc;
    }
    if ((rc = sl_store_begin(s)))
        return rc;
    for (int j = 1; j <= NFLOWS; j++) {
        char fk[SL_STORE_KEY_MAX], val[24];
        wkey(fk, sizeof(fk), j, "rec");
        snprintf(val, sizeof(val), "flow-%d", j);
        if ((rc = sl_store_put(s, fk, val, strlen(val), SL_STORE_ANY, SL_STORE_ANY, &nv))) {
            sl_store_abort(s);
            return rc;
        }
    }
    struct sl_store_result res[NFLOWS];
    if ((rc = sl_store_commit(s, res, NFLOWS)))
        return rc;
    if ((rc = sl_store_put(s, kt, "t", 1, SL_STORE_ANY, e, &nv)))
        return rc;
    rc = sl_store_del(s, kt, e);
    if (rc && rc != -ENOENT) /* a lost reply may have deleted it already */
        return rc;
    return 0;
}

static int final_state_ok(struct sl_store *s)
{
    char k[SL_STORE_KEY_MAX], buf[64];
    size_t len;
    uint64_t v, e;
    int bad = 0;
    wkey(k, sizeof(k), 0, "rec");
    bad += sl_store_get(s, k, buf, sizeof(buf), &len, &v) != 0 || len != 8 ||
           memcmp(buf, "update-2", 8) != 0;
    bad += sl_store_epoch_get(s, k, &e) != 0 || e < 1;
    for (int j = 1; j <= NFLOWS; j++) {
        char want[24];
        snprintf(want, sizeof(want), "flow-%d", j);
        wkey(k, sizeof(k), j, "rec");
        bad += sl_store_get(s, k, buf, sizeof(buf), &len, &v) != 0 || len != strlen(want) ||
               memcmp(buf, want, len) != 0;
    }
    wkey(k, sizeof(k), 0, "tmp");
    bad += sl_store_get(s, k, buf, sizeof(buf), &len, &v) != -ENOENT;
    return bad == 0;
}

static uint64_t count_ops(void)
{
    struct sl_store *s;
    CHECK_EQ(sl_store_open("fault:/mem:", &s), 0);
    CHECK_EQ(workload(s), 0);
    uint64_t n = sl_store_fault_ops(s);
    CHECK(final_state_ok(s));
    CHECK_EQ(sl_store_fault_injected(s), 0);
    sl_store_close(s);
    return n;
}

static void sweep(bool lost_reply)
{
    static const int errs[3] = {-EIO, -ETIMEDOUT, -ECONNREFUSED};
    uint64_t n = count_ops();
    CHECK(n >= NFLOWS + 8);
    int wrong_rc = 0, not_converged = 0, not_injected = 0;
    for (uint64_t i = 1; i <= n; i++) {
        struct sl_store *mem, *s;
        CHECK_EQ(sl_store_open("mem:", &mem), 0);
        struct sl_store_fault_cfg cfg = {.fail_nth = i, .err = errs[i % 3],
                                         .lost_reply = lost_reply};
        CHECK_EQ(sl_store_fault_wrap(mem, &cfg, &s), 0);
        int rc = workload(s);
        if (rc != cfg.err) {
            wrong_rc++;
            fprintf(stderr, "  op %llu: workload rc %d, injected %d\n", (unsigned long long)i, rc,
                    cfg.err);
        }
        not_injected += sl_store_fault_injected(s) != 1;
        /* the failure was counted as what it was */
        const struct sl_store_stats *st = sl_store_stats(s);
        not_injected += (cfg.err == -EIO && !st->err_io) ||
                        (cfg.err == -ETIMEDOUT && !st->err_timeout) ||
                        (cfg.err == -ECONNREFUSED && !st->err_connrefused);
        /* recovery: run again without faults; it converges */
        sl_store_fault_set(s, NULL);
        if (workload(s) != 0 || !final_state_ok(s)) {
            not_converged++;
            fprintf(stderr, "  op %llu: did not converge\n", (unsigned long long)i);
        }
        sl_store_close(s);
    }
    printf("     sweep%s: %llu ops, each failed once\n", lost_reply ? " (lost replies)" : "",
           (unsigned long long)n);
    CHECK_EQ(wrong_rc, 0);
    CHECK_EQ(not_converged, 0);
    CHECK_EQ(not_injected, 0);
}

static void test_fault_sweep(void) { sweep(false); }
static void test_fault_sweep_lost_reply(void) { sweep(true); }

static struct sl_store *g_plain; /* not a fault wrapper: the fault calls refuse it */

/* "fail every op after N" and the "down" mode, then reconnect. */
static void test_fault_after_and_down(void)
{
    struct sl_store *s;
    CHECK_EQ(sl_store_open("fault:after=3,err=ETIMEDOUT/mem:", &s), 0);
    uint64_t nv, e;
    char buf[8];
    size_t len;
    CHECK_EQ(sl_store_put(s, "a:{x}:r", "1", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    CHECK_EQ(sl_store_put(s, "a:{x}:r", "2", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    CHECK_EQ(sl_store_get(s, "a:{x}:r", buf, sizeof(buf), &len, &nv), 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(sl_store_epoch_get(s, "a:{x}:r", &e), -ETIMEDOUT);
    CHECK_EQ(sl_store_fault_injected(s), 5);
    CHECK_EQ(sl_store_stats(s)->err_timeout, 5);
    CHECK_EQ(sl_store_fault_set(s, NULL), 0);
    CHECK_EQ(sl_store_get(s, "a:{x}:r", buf, sizeof(buf), &len, &nv), 0);

    CHECK_EQ(sl_store_fault_disconnect(s, true), 0);
    CHECK_EQ(sl_store_get(s, "a:{x}:r", buf, sizeof(buf), &len, &nv), -ECONNREFUSED);
    CHECK_EQ(sl_store_put(s, "a:{x}:r", "3", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), -ECONNREFUSED);
    CHECK_EQ(sl_store_begin(s), 0);
    CHECK_EQ(sl_store_put(s, "a:{x}:r", "4", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    struct sl_store_result r[1];
    CHECK_EQ(sl_store_commit(s, r, 1), -ECONNREFUSED);
    CHECK_EQ(r[0].rc, -ECONNREFUSED);
    CHECK(sl_store_stats(s)->err_connrefused >= 3);
    CHECK_EQ(sl_store_reconnect(s), 0); /* back */
    CHECK_EQ(sl_store_get(s, "a:{x}:r", buf, sizeof(buf), &len, &nv), 0);
    CHECK(len == 1 && buf[0] == '2'); /* nothing written while down */
    CHECK_EQ(sl_store_fault_disconnect(g_plain, true), -EINVAL);
    sl_store_close(s);
}

/* Delays apply per op, and once per batch (one round trip). */
static void test_fault_delay(void)
{
    struct sl_store *s;
    CHECK_EQ(sl_store_open("fault:delay_ms=20/mem:", &s), 0);
    uint64_t nv;
    uint64_t t0 = sl_clock_ns();
    CHECK_EQ(sl_store_put(s, "d:{x}:r", "1", 1, SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    uint64_t one = sl_clock_ns() - t0;
    CHECK(one >= 20000000ull);
    CHECK_EQ(sl_store_begin(s), 0);
    for (int i = 0; i < 50; i++) {
        char k[32];
        snprintf(k, sizeof(k), "d:{%d}:r", i);
        sl_store_put(s, k, "v", 1, SL_STORE_ANY, SL_STORE_ANY, &nv);
    }
    t0 = sl_clock_ns();
    CHECK_EQ(sl_store_commit(s, NULL, 0), 0);
    uint64_t batch = sl_clock_ns() - t0;
    CHECK(batch >= 20000000ull && batch < 20000000ull * 10);
    sl_store_close(s);
}

/* nth with a batch: exactly the Nth queued op fails, the rest apply. */
static void test_fault_nth_in_batch(void)
{
    struct sl_store *s;
    CHECK_EQ(sl_store_open("fault:nth=3,err=EIO/mem:", &s), 0);
    uint64_t nv;
    CHECK_EQ(sl_store_begin(s), 0);
    for (int i = 0; i < 5; i++) {
        char k[32];
        snprintf(k, sizeof(k), "n:{%d}:r", i);
        sl_store_put(s, k, "v", 1, SL_STORE_ANY, SL_STORE_ANY, &nv);
    }
    struct sl_store_result r[5];
    CHECK_EQ(sl_store_commit(s, r, 5), -EIO);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(r[i].rc, i == 2 ? -EIO : 0);
    char buf[4];
    size_t len;
    CHECK_EQ(sl_store_get(s, "n:{2}:r", buf, sizeof(buf), &len, &nv), -ENOENT);
    CHECK_EQ(sl_store_get(s, "n:{3}:r", buf, sizeof(buf), &len, &nv), 0);
    CHECK_EQ(sl_store_stats(s)->err_io, 1);
    sl_store_close(s);
    CHECK_EQ(sl_store_open("fault:nth=1,err=EWHAT/mem:", &s), -EINVAL);
}

int main(void)
{
    /* the conformance suite through a pass-through wrapper */
    struct sl_store *s = NULL;
    if (sl_store_open("fault:/mem:", &s)) {
        fprintf(stderr, "cannot open fault:/mem:\n");
        return 1;
    }
    suite_run(s, NULL);
    sl_store_close(s);
    sl_store_open("mem:", &g_plain);
    RUN(test_fault_sweep);
    RUN(test_fault_sweep_lost_reply);
    RUN(test_fault_after_and_down);
    RUN(test_fault_delay);
    RUN(test_fault_nth_in_batch);
    sl_store_close(g_plain);
    return check_finish("test_store_fault");
}
