/* Fault-injecting wrapper around any store, for failure sweeps in the style
 * of SQLite's I/O-error tests: run a workload once to count its store ops,
 * then once per N with "fail the Nth op", and check that every outcome is
 * handled. Also: fail every op after N, delay ops, and a "down" mode in
 * which every op fails with -ECONNREFUSED until sl_store_reconnect (or
 * sl_store_fault_disconnect(s, false)).
 *
 * Counting: every get/put/del/epoch_get/cas_epoch/list is one op; in a
 * batch every queued op is one op (counted at commit, in queue order) and
 * the delay applies once per batch, like one round trip. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

struct fault_store {
    struct sl_store base;
    struct sl_store *inner;
    struct sl_store_fault_cfg cfg;
    uint64_t nops, injected;
};

static const struct sl_store_ops fault_ops;

static void delay(struct fault_store *f)
{
    if (!f->cfg.delay_ms)
        return;
    struct timespec ts = {f->cfg.delay_ms / 1000, (long)(f->cfg.delay_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* Decides the fate of the next op: 0 = pass, else the error to report. */
static int next_fault(struct fault_store *f)
{
    uint64_t n = ++f->nops;
    int err = 0;
    if (f->cfg.down)
        err = -ECONNREFUSED;
    else if (f->cfg.fail_nth && n == f->cfg.fail_nth)
        err = f->cfg.err ? f->cfg.err : -EIO;
    else if (f->cfg.fail_after && n > f->cfg.fail_after)
        err = f->cfg.err ? f->cfg.err : -EIO;
    if (err)
        f->injected++;
    return err;
}

/* A failed write is applied anyway only in lost_reply mode, and never when
 * the store is "down" (nothing reaches it then). */
static bool apply_failed(const struct fault_store *f) { return f->cfg.lost_reply && !f->cfg.down; }

/* The start of every read: the delay, then the error to report (0: pass). */
static int read_fault(struct fault_store *f)
{
    delay(f);
    return next_fault(f);
}

/* The start of every write: the delay and the error to report in *err.
 * True if the write stops there (not applied to the inner store). */
static bool write_stops(struct fault_store *f, int *err)
{
    delay(f);
    *err = next_fault(f);
    return *err && !apply_failed(f);
}

static int f_get(struct sl_store *s, const char *key, void *buf, size_t cap, size_t *len,
                 uint64_t *version)
{
    struct fault_store *f = (struct fault_store *)s;
    int err = read_fault(f);
    if (err)
        return err;
    return sl_store_get(f->inner, key, buf, cap, len, version);
}

static int f_put(struct sl_store *s, const char *key, const void *data, size_t len,
                 uint64_t expected_version, uint64_t fence, uint64_t *new_version)
{
    struct fault_store *f = (struct fault_store *)s;
    int err;
    if (write_stops(f, &err))
        return err;
    int rc = sl_store_put(f->inner, key, data, len, expected_version, fence, new_version);
    return err ? err : rc;
}

static int f_take(struct sl_store *s, const char *key, const void *data, size_t len,
                  uint64_t expected_version, uint64_t expected_epoch, uint64_t desired_epoch,
                  uint64_t *current)
{
    struct fault_store *f = (struct fault_store *)s;
    int err;
    if (write_stops(f, &err))
        return err;
    int rc = sl_store_take(f->inner, key, data, len, expected_version, expected_epoch,
                           desired_epoch, current);
    return err ? err : rc;
}

static int f_del(struct sl_store *s, const char *key, uint64_t fence)
{
    struct fault_store *f = (struct fault_store *)s;
    int err;
    if (write_stops(f, &err))
        return err;
    int rc = sl_store_del(f->inner, key, fence);
    return err ? err : rc;
}

static int f_epoch_get(struct sl_store *s, const char *key, uint64_t *epoch)
{
    struct fault_store *f = (struct fault_store *)s;
    int err = read_fault(f);
    if (err)
        return err;
    return sl_store_epoch_get(f->inner, key, epoch);
}

static int f_cas_epoch(struct sl_store *s, const char *key, uint64_t expected, uint64_t desired,
                       uint64_t *current)
{
    struct fault_store *f = (struct fault_store *)s;
    int err;
    if (write_stops(f, &err))
        return err;
    int rc = sl_store_cas_epoch(f->inner, key, expected, desired, current);
    return err ? err : rc;
}

static int f_list(struct sl_store *s, const char *prefix, sl_store_list_fn fn, void *arg)
{
    struct fault_store *f = (struct fault_store *)s;
    int err = read_fault(f);
    if (err)
        return err;
    return sl_store_list(f->inner, prefix, fn, arg);
}

static int f_exec(struct sl_store *s, const struct sl_store_op *ops, size_t n,
                  struct sl_store_result *res)
{
    struct fault_store *f = (struct fault_store *)s;
    delay(f);
    int *inj = calloc(n ? n : 1, sizeof(*inj));
    size_t *idx = calloc(n ? n : 1, sizeof(*idx));
    if (!inj || !idx) {
        free(inj);
        free(idx);
        return -ENOMEM;
    }
    size_t fw = 0;
    int rc = sl_store_begin(f->inner);
    for (size_t i = 0; !rc && i < n; i++) {
        inj[i] = next_fault(f);
        if (inj[i] && !apply_failed(f))
            continue;
        const struct sl_store_op *op = &ops[i];
        int q;
        if (op->code == SL_STORE_OP_PUT)
            q = sl_store_put(f->inner, op->key, op->data, op->len, op->a, op->b, NULL);
        else if (op->code == SL_STORE_OP_DEL)
            q = sl_store_del(f->inner, op->key, op->a);
        else
            q = sl_store_cas_epoch(f->inner, op->key, op->a, op->b, NULL);
        if (q) { /* rejected at queue time (e.g. -ENOMEM) */
            res[i].rc = q;
            continue;
        }
        idx[fw++] = i;
    }
    if (rc) {
        free(inj);
        free(idx);
        return rc;
    }
    struct sl_store_result *ir = calloc(fw ? fw : 1, sizeof(*ir));
    if (!ir) {
        sl_store_abort(f->inner);
        free(inj);
        free(idx);
        return -ENOMEM;
    }
    sl_store_commit(f->inner, ir, fw);
    for (size_t k = 0; k < fw; k++)
        res[idx[k]] = ir[k];
    for (size_t i = 0; i < n; i++)
        if (inj[i])
            res[i] = (struct sl_store_result){inj[i], 0};
    free(ir);
    free(inj);
    free(idx);
    return 0;
}

static int f_reconnect(struct sl_store *s)
{
    struct fault_store *f = (struct fault_store *)s;
    f->cfg.down = false;
    return sl_store_reconnect(f->inner);
}

static void f_close(struct sl_store *s)
{
    struct fault_store *f = (struct fault_store *)s;
    sl_store_close(f->inner);
    free(f);
}

static const struct sl_store_ops fault_ops = {
    .name = "fault",
    .get = f_get,
    .put = f_put,
    .del = f_del,
    .epoch_get = f_epoch_get,
    .cas_epoch = f_cas_epoch,
    .take = f_take,
    .list = f_list,
    .exec = f_exec,
    .reconnect = f_reconnect,
    .close = f_close,
};

int sl_store_fault_wrap(struct sl_store *inner, const struct sl_store_fault_cfg *cfg,
                        struct sl_store **out)
{
    if (!inner || !out)
        return -EINVAL;
    struct fault_store *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->base.ops = &fault_ops;
    f->inner = inner;
    if (cfg)
        f->cfg = *cfg;
    if (!f->cfg.err)
        f->cfg.err = -EIO;
    *out = &f->base;
    return 0;
}

int sl_store_fault_set(struct sl_store *s, const struct sl_store_fault_cfg *cfg)
{
    if (!s || s->ops != &fault_ops)
        return -EINVAL;
    struct fault_store *f = (struct fault_store *)s;
    struct sl_store_fault_cfg c = {.err = -EIO};
    if (cfg)
        c = *cfg;
    if (!c.err)
        c.err = -EIO;
    f->cfg = c;
    f->nops = 0;
    f->injected = 0;
    return 0;
}

uint64_t sl_store_fault_ops(const struct sl_store *s)
{
    return s && s->ops == &fault_ops ? ((const struct fault_store *)s)->nops : 0;
}

uint64_t sl_store_fault_injected(const struct sl_store *s)
{
    return s && s->ops == &fault_ops ? ((const struct fault_store *)s)->injected : 0;
}

int sl_store_fault_disconnect(struct sl_store *s, bool down)
{
    if (!s || s->ops != &fault_ops)
        return -EINVAL;
    ((struct fault_store *)s)->cfg.down = down;
    return 0;
}
