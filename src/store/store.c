/* Store front end: URI dispatch, argument checks, batching (group commit),
 * counters and key helpers. Backends only implement struct sl_store_ops. */
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kv.h"

const char *const sl_store_stat_names[] = {
#define SL_STORE_STAT_NAME(n) #n,
    SL_STORE_STATS_LIST(SL_STORE_STAT_NAME)
#undef SL_STORE_STAT_NAME
};

/* ------------------------------------------------------------------ */
/* opening                                                             */

/* One option of "fault:OPTS/INNER" (sl_kv_fn; OPTS is comma-separated
 * key=value). */
static int fault_opt(void *arg, const char *key, const char *val)
{
    struct sl_store_fault_cfg *cfg = arg;
    const char *v = val ? val : "";
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);
    bool num = val && *v && end && !*end;
    if (!strcmp(key, "nth") && num)
        cfg->fail_nth = n;
    else if (!strcmp(key, "after") && num)
        cfg->fail_after = n;
    else if (!strcmp(key, "delay_ms") && num && n <= 600000)
        cfg->delay_ms = (uint32_t)n;
    else if (!strcmp(key, "lost_reply") && !val)
        cfg->lost_reply = true;
    else if (!strcmp(key, "down") && !val)
        cfg->down = true;
    else if (!strcmp(key, "err") && val) {
        static const struct { const char *n; int e; } errs[] = {
            {"EIO", EIO}, {"ETIMEDOUT", ETIMEDOUT}, {"ECONNREFUSED", ECONNREFUSED},
            {"ESTALE", ESTALE}, {"ENOENT", ENOENT}, {"EBADMSG", EBADMSG},
            {"ENOSPC", ENOSPC}};
        size_t i;
        for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
            if (!strcmp(v, errs[i].n))
                break;
        if (i == sizeof(errs) / sizeof(errs[0]))
            return -EINVAL;
        cfg->err = -errs[i].e;
    } else if (*key) {
        return -EINVAL;
    }
    return 0;
}

int sl_store_open(const char *uri, struct sl_store **out)
{
    if (!uri || !out)
        return -EINVAL;
    *out = NULL;
    if (!strncmp(uri, "mem:", 4))
        return sl_store_mem_open(uri + 4, out);
    if (!strncmp(uri, "shm:", 4))
        return sl_store_shm_open(uri + 4, out);
    if (!strncmp(uri, "redis://", 8))
        return sl_store_redis_open(uri + 8, out);
    if (!strncmp(uri, "rediss://", 9)) {
        /* Debian 12's hiredis (0.14) has no TLS: say what to do instead */
        fprintf(stderr, "sltcp: store: rediss:// (TLS) is not supported by this hiredis: "
                        "use a local TLS tunnel (stunnel, see docs/security.md) and "
                        "redis://127.0.0.1:PORT\n");
        return -EPROTONOSUPPORT;
    }
    if (!strncmp(uri, "fault:", 6)) {
        /* fault:OPTS/INNER: OPTS is comma-separated key=value */
        const char *slash = strchr(uri + 6, '/');
        if (!slash)
            return -EINVAL;
        struct sl_store_fault_cfg cfg = {.err = -EIO};
        char opts[256];
        size_t ol = (size_t)(slash - (uri + 6));
        if (ol >= sizeof(opts))
            return -EINVAL;
        memcpy(opts, uri + 6, ol);
        opts[ol] = 0;
        int rc = sl_kv_parse(opts, ',', 0, 0, fault_opt, &cfg);
        if (rc)
            return rc;
        struct sl_store *inner;
        rc = sl_store_open(slash + 1, &inner);
        if (rc)
            return rc;
        rc = sl_store_fault_wrap(inner, &cfg, out);
        if (rc)
            sl_store_close(inner);
        return rc;
    }
    return -EINVAL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sl_store_pct_decode(const char *in, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)in[i];
        if (c == '%') { /* RFC 3986 2.1 */
            int h = i + 2 < n ? hexval(in[i + 1]) : -1, l = h >= 0 ? hexval(in[i + 2]) : -1;
            if (h < 0 || l < 0)
                return -EINVAL;
            c = h << 4 | l;
            i += 2;
        }
        if (c == 0 || k + 1 >= cap)
            return -EINVAL;
        out[k++] = (char)c;
    }
    if (!cap)
        return -EINVAL;
    out[k] = 0;
    return (int)k;
}

const char *sl_store_uri_redact(const char *uri, char *buf, size_t cap)
{
    if (!uri)
        return "";
    snprintf(buf, cap, "%s", uri);
    /* every "SCHEME://USERINFO@" (also inside fault:OPTS/INNER): hide what
     * follows the first ':' of the userinfo (RFC 3986 3.2.1) */
    for (char *p = strstr(buf, "://"); p; p = strstr(p, "://")) {
        p += 3;
        size_t auth = strcspn(p, "/?#");
        char *at = memrchr(p, '@', auth);
        if (!at)
            continue;
        char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            continue;
        size_t tail = strlen(at) + 1;
        if ((size_t)(colon + 1 - buf) + 3 + tail > cap)
            return "(store URI)";
        memmove(colon + 4, at, tail);
        memcpy(colon + 1, "***", 3);
        p = colon + 4;
    }
    return buf;
}

void sl_store_close(struct sl_store *s)
{
    if (!s)
        return;
    free(s->q);
    free(s->arena);
    s->q = NULL;
    s->arena = NULL;
    s->ops->close(s);
}

const char *sl_store_name(const struct sl_store *s) { return s ? s->ops->name : "none"; }

/* ------------------------------------------------------------------ */
/* counting                                                            */

static int count(struct sl_store *s, int rc)
{
    if (rc >= 0)
        return rc;
    struct sl_store_stats *st = &s->stats;
    switch (-rc) {
    case ENOENT: st->err_noent++; break;
    case ESTALE: st->err_stale++; break;
    case EBADMSG: st->err_badmsg++; break;
    case ECONNREFUSED: st->err_connrefused++; break;
    case ETIMEDOUT: st->err_timeout++; break;
    case EIO: st->err_io++; break;
    case ENOBUFS: st->err_nobufs++; break;
    case ENOSPC: st->err_nospc++; break;
    case EINVAL: case ENAMETOOLONG: st->err_inval++; break;
    case EPERM: st->err_perm++; break;
    default: st->err_other++; break;
    }
    return rc;
}

static bool key_ok(const char *key)
{
    if (!key || !*key)
        return false;
    size_t n = strnlen(key, SL_STORE_KEY_MAX);
    return n < SL_STORE_KEY_MAX;
}

/* Data keys: valid and not the reserved epoch key. */
static bool data_key_ok(const char *key) { return key_ok(key) && !sl_store_is_epoch_key(key); }

/* ------------------------------------------------------------------ */
/* operations                                                          */

int sl_store_get(struct sl_store *s, const char *key, void *buf, size_t cap, size_t *len,
                 uint64_t *version)
{
    s->stats.op_get++;
    if (!data_key_ok(key) || (cap && !buf))
        return count(s, -EINVAL);
    size_t l = 0;
    uint64_t v = 0;
    int rc = s->ops->get(s, key, buf, cap, &l, &v);
    if (len)
        *len = l;
    if (version)
        *version = v;
    if (rc == 0)
        s->stats.bytes_got += l;
    return count(s, rc);
}

static struct sl_store_op *queue(struct sl_store *s, uint8_t code, const char *key)
{
    if (s->qn == s->qcap) {
        size_t nc = s->qcap ? 2 * s->qcap : 64;
        struct sl_store_op *q = realloc(s->q, nc * sizeof(*q));
        if (!q)
            return NULL;
        s->q = q;
        s->qcap = nc;
    }
    struct sl_store_op *op = &s->q[s->qn++];
    memset(op, 0, sizeof(*op));
    op->code = code;
    strcpy(op->key, key); /* length checked by the caller */
    return op;
}

int sl_store_put(struct sl_store *s, const char *key, const void *data, size_t len,
                 uint64_t expected_version, uint64_t fence, uint64_t *new_version)
{
    s->stats.op_put++;
    if (!data_key_ok(key) || (len && !data) || len > SIZE_MAX / 4)
        return count(s, -EINVAL);
    if (s->in_batch) {
        if (s->an + len > s->acap) {
            size_t nc = s->acap ? s->acap : 65536;
            while (nc < s->an + len)
                nc *= 2;
            uint8_t *a = realloc(s->arena, nc);
            if (!a)
                return count(s, -ENOMEM);
            s->arena = a;
            s->acap = nc;
        }
        struct sl_store_op *op = queue(s, SL_STORE_OP_PUT, key);
        if (!op)
            return count(s, -ENOMEM);
        if (len)
            memcpy(s->arena + s->an, data, len);
        op->data = (const void *)(uintptr_t)s->an; /* offset: the arena may move */
        op->len = len;
        op->a = expected_version;
        op->b = fence;
        s->an += len;
        return 0;
    }
    uint64_t v = 0;
    int rc = s->ops->put(s, key, data, len, expected_version, fence, &v);
    if (rc == 0) {
        s->stats.bytes_put += len;
        if (new_version)
            *new_version = v;
    }
    return count(s, rc);
}

int sl_store_del(struct sl_store *s, const char *key, uint64_t fence)
{
    s->stats.op_del++;
    if (!data_key_ok(key))
        return count(s, -EINVAL);
    if (s->in_batch) {
        struct sl_store_op *op = queue(s, SL_STORE_OP_DEL, key);
        if (!op)
            return count(s, -ENOMEM);
        op->a = fence;
        return 0;
    }
    return count(s, s->ops->del(s, key, fence));
}

int sl_store_epoch_get(struct sl_store *s, const char *key, uint64_t *epoch)
{
    s->stats.op_epoch_get++;
    if (!key_ok(key) || !epoch)
        return count(s, -EINVAL);
    *epoch = 0;
    return count(s, s->ops->epoch_get(s, key, epoch));
}

int sl_store_cas_epoch(struct sl_store *s, const char *key, uint64_t expected, uint64_t desired,
                       uint64_t *current)
{
    s->stats.op_cas_epoch++;
    if (!key_ok(key) || expected == SL_STORE_ANY || desired == SL_STORE_ANY)
        return count(s, -EINVAL);
    if (s->in_batch) {
        struct sl_store_op *op = queue(s, SL_STORE_OP_CAS_EPOCH, key);
        if (!op)
            return count(s, -ENOMEM);
        op->a = expected;
        op->b = desired;
        return 0;
    }
    uint64_t cur = 0;
    int rc = s->ops->cas_epoch(s, key, expected, desired, &cur);
    if (current)
        *current = cur;
    return count(s, rc);
}

int sl_store_take(struct sl_store *s, const char *key, const void *data, size_t len,
                  uint64_t expected_version, uint64_t expected_epoch, uint64_t desired_epoch,
                  uint64_t *current)
{
    s->stats.op_take++;
    if (!data_key_ok(key) || (len && !data) || expected_version == SL_STORE_ANY ||
        expected_epoch == SL_STORE_ANY || desired_epoch == SL_STORE_ANY || desired_epoch == 0)
        return count(s, -EINVAL);
    if (s->in_batch)
        return count(s, -EBUSY);
    if (!s->ops->take)
        return count(s, -EOPNOTSUPP);
    uint64_t cur = 0;
    int rc = s->ops->take(s, key, data, len, expected_version, expected_epoch, desired_epoch,
                          &cur);
    if (current)
        *current = cur;
    return count(s, rc);
}

int sl_store_list(struct sl_store *s, const char *prefix, sl_store_list_fn fn, void *arg)
{
    s->stats.op_list++;
    if (!prefix || !fn || strnlen(prefix, SL_STORE_KEY_MAX) >= SL_STORE_KEY_MAX)
        return count(s, -EINVAL);
    return count(s, s->ops->list(s, prefix, fn, arg));
}

int sl_store_reconnect(struct sl_store *s)
{
    if (!s->ops->reconnect)
        return 0;
    return count(s, s->ops->reconnect(s));
}

/* ------------------------------------------------------------------ */
/* group commit                                                        */

int sl_store_begin(struct sl_store *s)
{
    if (s->in_batch)
        return count(s, -EBUSY);
    s->in_batch = true;
    s->qn = 0;
    s->an = 0;
    return 0;
}

size_t sl_store_pending(const struct sl_store *s) { return s->in_batch ? s->qn : 0; }

void sl_store_abort(struct sl_store *s)
{
    s->in_batch = false;
    s->qn = 0;
    s->an = 0;
}

int sl_store_commit(struct sl_store *s, struct sl_store_result *res, size_t n)
{
    if (!s->in_batch)
        return count(s, -EINVAL);
    s->in_batch = false;
    s->stats.batches++;
    size_t qn = s->qn;
    s->qn = 0;
    if (!qn) {
        s->an = 0;
        return 0;
    }
    for (size_t i = 0; i < qn; i++)
        if (s->q[i].code == SL_STORE_OP_PUT)
            s->q[i].data = s->arena + (uintptr_t)s->q[i].data;
    struct sl_store_result stackres[64];
    struct sl_store_result *r = qn <= 64 ? stackres : malloc(qn * sizeof(*r));
    if (!r) {
        s->an = 0;
        return count(s, -ENOMEM);
    }
    for (size_t i = 0; i < qn; i++)
        r[i] = (struct sl_store_result){-EIO, 0};
    int trc = 0;
    if (s->ops->exec) {
        trc = s->ops->exec(s, s->q, qn, r);
    } else {
        for (size_t i = 0; i < qn; i++) {
            const struct sl_store_op *op = &s->q[i];
            switch (op->code) {
            case SL_STORE_OP_PUT:
                r[i].rc = s->ops->put(s, op->key, op->data, op->len, op->a, op->b, &r[i].value);
                break;
            case SL_STORE_OP_DEL:
                r[i].rc = s->ops->del(s, op->key, op->a);
                break;
            default:
                r[i].rc = s->ops->cas_epoch(s, op->key, op->a, op->b, &r[i].value);
                break;
            }
        }
    }
    int first = 0;
    s->stats.batch_ops += qn;
    for (size_t i = 0; i < qn; i++) {
        if (r[i].rc == 0 && s->q[i].code == SL_STORE_OP_PUT)
            s->stats.bytes_put += s->q[i].len;
        count(s, r[i].rc);
        if (r[i].rc && !first)
            first = r[i].rc;
        if (res && i < n)
            res[i] = r[i];
    }
    if (r != stackres)
        free(r);
    s->an = 0;
    if (!first && trc)
        first = count(s, trc);
    return first;
}

/* ------------------------------------------------------------------ */
/* stats                                                               */

const struct sl_store_stats *sl_store_stats(const struct sl_store *s) { return &s->stats; }

void sl_store_stats_dump(const struct sl_store *s, FILE *f)
{
    const uint64_t *v = (const uint64_t *)&s->stats;
    for (size_t i = 0; i < SL_STORE_NSTATS; i++)
        if (v[i])
            fprintf(f, "store_%s %" PRIu64 "\n", sl_store_stat_names[i], v[i]);
}

/* ------------------------------------------------------------------ */
/* keys                                                                */

void sl_store_key_tag(const char *key, const char **tag, size_t *len)
{
    const char *o = strchr(key, '{');
    const char *c = o ? strchr(o + 1, '}') : NULL;
    if (o && c && c > o + 1) { /* Redis Cluster: an empty tag "{}" does not count */
        *tag = o;
        *len = (size_t)(c - o) + 1;
    } else {
        *tag = key;
        *len = strlen(key);
    }
}

int sl_store_epoch_key(char *buf, size_t cap, const char *key)
{
    const char *tag;
    size_t tl;
    sl_store_key_tag(key, &tag, &tl);
    size_t pre = (size_t)(tag - key) + tl; /* everything up to the end of the tag */
    size_t sl = sizeof(SL_STORE_EPOCH_SUFFIX) - 1;
    if (sl_store_is_epoch_key(key)) { /* already the epoch key */
        pre = strlen(key) - sl;
    }
    if (pre + sl + 1 > cap || pre + sl + 1 > SL_STORE_KEY_MAX)
        return -ENAMETOOLONG;
    memcpy(buf, key, pre);
    memcpy(buf + pre, SL_STORE_EPOCH_SUFFIX, sl + 1);
    return (int)(pre + sl);
}

bool sl_store_is_epoch_key(const char *key)
{
    size_t n = strlen(key), sl = sizeof(SL_STORE_EPOCH_SUFFIX) - 1;
    if (n < sl || strcmp(key + n - sl, SL_STORE_EPOCH_SUFFIX))
        return false;
    /* only the reserved form: the suffix directly after the tag */
    const char *tag;
    size_t tl;
    sl_store_key_tag(key, &tag, &tl);
    if (tag == key && tl == n) /* no tag: "<key>:epoch" is the key's epoch */
        return true;
    return (size_t)(tag - key) + tl == n - sl;
}
