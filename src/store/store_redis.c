/* "redis://HOST:PORT[?wait=N&wait_ms=W&timeout_ms=T]" store, on hiredis.
 *
 * Data model (one flow = one hash tag, so a flow never spans Cluster slots):
 *   KEY                    hash {d: value bytes, v: version}
 *   ...{TAG}:epoch         string: the flow's owner epoch (absent = 0)
 * Conditional writes are small Lua scripts (EVALSHA; atomic on the server,
 * and legal in a Cluster because both keys share the tag):
 *   put: check fence against the epoch key, check the expected version,
 *        HSET d/v; del: check fence, DEL; cas: compare and SET/DEL epoch.
 * Group commit (Stateless TCP, CoNEXT'19: one round trip for all flows of
 * an event-loop iteration): a batch is written as one pipeline, then all
 * replies are read. With ?wait=N a WAIT N W closes every write pipeline;
 * if fewer replicas acknowledge, the writes report -ETIMEDOUT.
 *
 * Never blocks forever: connect and every read/write have timeout_ms
 * (default 1000). A lost connection is dropped; the next op reconnects at
 * once, and while the server stays away reconnects back off exponentially
 * (10 ms .. 1 s) with ops failing fast with -ECONNREFUSED in between.
 * Not supported: Cluster redirections (MOVED/ASK: use one node or a proxy),
 * AUTH/TLS. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "store/store.h"

static const char LUA_PUT[] =
    "if ARGV[3] ~= '' then "
    "local e = redis.call('GET', KEYS[2]) or '0' "
    "if e ~= ARGV[3] then return {-1, e} end end "
    "local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0') "
    "if ARGV[2] ~= '' and tostring(v) ~= ARGV[2] then return {-2, tostring(v)} end "
    "v = v + 1 "
    "redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', tostring(v)) "
    "return {0, tostring(v)}";
static const char LUA_DEL[] =
    "if ARGV[1] ~= '' then "
    "local e = redis.call('GET', KEYS[2]) or '0' "
    "if e ~= ARGV[1] then return {-1, e} end end "
    "if redis.call('DEL', KEYS[1]) == 0 then return {-3, ''} end "
    "return {0, ''}";
static const char LUA_CAS[] =
    "local e = redis.call('GET', KEYS[1]) or '0' "
    "if e ~= ARGV[1] then return {-1, e} end "
    "if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) "
    "else redis.call('SET', KEYS[1], ARGV[2]) end "
    "return {0, ARGV[2]}";

enum { SC_PUT, SC_DEL, SC_CAS, SC_N };

struct redis_store {
    struct sl_store base;
    char host[256];
    int port;
    redisContext *c;
    uint32_t timeout_ms, wait_n, wait_ms;
    uint64_t backoff_ms, next_try_ms;
    bool ever_connected;
    char sha[SC_N][41];
};

static const char *const scripts[SC_N] = {LUA_PUT, LUA_DEL, LUA_CAS};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Maps a hiredis context error to our convention. */
static int ctx_err(const redisContext *c, int saved_errno)
{
    if (!c)
        return -ENOMEM;
    if (c->err == REDIS_ERR_IO) {
        if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT ||
            strstr(c->errstr, "temporarily unavailable") || strstr(c->errstr, "timed out"))
            return -ETIMEDOUT;
        if (saved_errno == ECONNREFUSED || strstr(c->errstr, "refused"))
            return -ECONNREFUSED;
        return -EIO;
    }
    return -EIO; /* EOF, protocol, OOM, other */
}

static void drop_conn(struct redis_store *r)
{
    if (r->c) {
        redisFree(r->c);
        r->c = NULL;
    }
    /* First reconnect attempt at once: the server may be back already. */
    r->next_try_ms = 0;
}

static int load_scripts(struct redis_store *r)
{
    for (int i = 0; i < SC_N; i++)
        if (redisAppendCommand(r->c, "SCRIPT LOAD %s", scripts[i]) != REDIS_OK)
            return -EIO;
    int rc = 0;
    for (int i = 0; i < SC_N; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(r->c, (void **)&rep) != REDIS_OK) {
            int e = errno;
            return ctx_err(r->c, e);
        }
        if (rep->type == REDIS_REPLY_STRING && rep->len == 40) {
            memcpy(r->sha[i], rep->str, 40);
            r->sha[i][40] = 0;
        } else if (!rc) {
            rc = -EIO;
        }
        freeReplyObject(rep);
    }
    return rc;
}

static int ensure_conn(struct redis_store *r)
{
    if (r->c)
        return 0;
    uint64_t t = now_ms();
    if (t < r->next_try_ms)
        return -ECONNREFUSED; /* backing off: fail fast */
    struct timeval tv = {r->timeout_ms / 1000, (suseconds_t)(r->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
    int rc = 0;
    if (!c || c->err) {
        int e = errno;
        rc = ctx_err(c, e);
        if (rc == -EIO)
            rc = -ECONNREFUSED; /* could not connect: unreachable */
    } else {
        /* Both the read and write side, plus the WAIT budget. */
        uint32_t ms = r->timeout_ms + r->wait_ms;
        struct timeval otv = {ms / 1000, (suseconds_t)(ms % 1000) * 1000};
        if (redisSetTimeout(c, otv) != REDIS_OK)
            rc = -EIO;
        redisEnableKeepAlive(c);
    }
    if (!rc) {
        r->c = c;
        rc = load_scripts(r);
        if (rc) {
            redisFree(r->c);
            r->c = NULL;
            c = NULL;
        }
    } else if (c) {
        redisFree(c);
    }
    if (rc) {
        r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : 10;
        if (r->backoff_ms > 1000)
            r->backoff_ms = 1000;
        r->next_try_ms = now_ms() + r->backoff_ms;
        return rc;
    }
    r->backoff_ms = 0;
    if (r->ever_connected)
        r->base.stats.reconnects++;
    r->ever_connected = true;
    return 0;
}

/* Sends n formatted commands in one pipeline and reads the n replies.
 * On a transport error, the connection is dropped, the replies not read
 * stay NULL and the error is returned. */
static int pipeline(struct redis_store *r, char **cmd, const size_t *len, size_t n,
                    redisReply **rep)
{
    for (size_t i = 0; i < n; i++)
        rep[i] = NULL;
    int rc = ensure_conn(r);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (redisAppendFormattedCommand(r->c, cmd[i], len[i]) != REDIS_OK) {
            drop_conn(r);
            return -ENOMEM;
        }
    for (size_t i = 0; i < n; i++) {
        if (redisGetReply(r->c, (void **)&rep[i]) != REDIS_OK) {
            int e = errno;
            rc = ctx_err(r->c, e);
            rep[i] = NULL;
            drop_conn(r);
            return rc;
        }
    }
    return 0;
}

static void free_replies(redisReply **rep, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rep[i])
            freeReplyObject(rep[i]);
}

/* A single command, formatted from argv. */
static int command(struct redis_store *r, int argc, const char **argv, const size_t *argvlen,
                   redisReply **rep)
{
    char *cmd = NULL;
    int l = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (l < 0)
        return -ENOMEM;
    size_t len = (size_t)l;
    int rc = pipeline(r, &cmd, &len, 1, rep);
    redisFreeCommand(cmd);
    return rc;
}

static uint64_t str_u64(const redisReply *x)
{
    if (!x)
        return 0;
    if (x->type == REDIS_REPLY_INTEGER)
        return (uint64_t)x->integer;
    if (x->type != REDIS_REPLY_STRING || !x->len || x->len > 20)
        return 0;
    char b[24];
    memcpy(b, x->str, x->len);
    b[x->len] = 0;
    return strtoull(b, NULL, 10);
}

static bool is_noscript(const redisReply *x)
{
    return x && x->type == REDIS_REPLY_ERROR && !strncmp(x->str, "NOSCRIPT", 8);
}

/* Script reply {code, value} -> result. */
static struct sl_store_result script_result(const redisReply *x, uint8_t code)
{
    struct sl_store_result res = {-EIO, 0};
    if (!x || x->type != REDIS_REPLY_ARRAY || x->elements != 2 ||
        x->element[0]->type != REDIS_REPLY_INTEGER)
        return res;
    long long c = x->element[0]->integer;
    res.value = str_u64(x->element[1]);
    if (c == 0)
        res.rc = 0;
    else if (c == -1 || c == -2)
        res.rc = -ESTALE;
    else if (c == -3)
        res.rc = -ENOENT;
    if (code != SL_STORE_OP_CAS_EPOCH && res.rc == -ESTALE)
        res.value = 0;
    return res;
}

static int format_op(struct redis_store *r, const struct sl_store_op *op, char **cmd)
{
    char ek[SL_STORE_KEY_MAX], a[24] = "", b[24] = "";
    if (sl_store_epoch_key(ek, sizeof(ek), op->key) < 0)
        return -ENAMETOOLONG;
    const char *argv[8];
    size_t al[8];
    int argc = 0;
#define ARG(p, l) (argv[argc] = (p), al[argc] = (l), argc++)
    ARG("EVALSHA", 7);
    switch (op->code) {
    case SL_STORE_OP_PUT:
        if (op->a != SL_STORE_ANY)
            snprintf(a, sizeof(a), "%llu", (unsigned long long)op->a);
        if (op->b != SL_STORE_ANY)
            snprintf(b, sizeof(b), "%llu", (unsigned long long)op->b);
        ARG(r->sha[SC_PUT], 40);
        ARG("2", 1);
        ARG(op->key, strlen(op->key));
        ARG(ek, strlen(ek));
        ARG(op->len ? (const char *)op->data : "", op->len);
        ARG(a, strlen(a));
        ARG(b, strlen(b));
        break;
    case SL_STORE_OP_DEL:
        if (op->a != SL_STORE_ANY)
            snprintf(a, sizeof(a), "%llu", (unsigned long long)op->a);
        ARG(r->sha[SC_DEL], 40);
        ARG("2", 1);
        ARG(op->key, strlen(op->key));
        ARG(ek, strlen(ek));
        ARG(a, strlen(a));
        break;
    default:
        snprintf(a, sizeof(a), "%llu", (unsigned long long)op->a);
        snprintf(b, sizeof(b), "%llu", (unsigned long long)op->b);
        ARG(r->sha[SC_CAS], 40);
        ARG("1", 1);
        ARG(ek, strlen(ek));
        ARG(a, strlen(a));
        ARG(b, strlen(b));
        break;
    }
#undef ARG
    int l = redisFormatCommandArgv(cmd, argc, argv, al);
    return l < 0 ? -ENOMEM : l;
}

static int redis_exec(struct sl_store *s, const struct sl_store_op *ops, size_t n,
                      struct sl_store_result *res)
{
    struct redis_store *r = (struct redis_store *)s;
    for (size_t i = 0; i < n; i++)
        res[i] = (struct sl_store_result){-EIO, 0};
    /* Connect first: the commands carry the script SHAs. */
    int rc = ensure_conn(r);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            res[i].rc = rc;
        return rc;
    }
    size_t m = n + (r->wait_n ? 1 : 0);
    char **cmd = calloc(m, sizeof(*cmd));
    size_t *len = calloc(m, sizeof(*len));
    redisReply **rep = calloc(m, sizeof(*rep));
    size_t *redo = calloc(n ? n : 1, sizeof(*redo));
    if (!cmd || !len || !rep || !redo) {
        rc = -ENOMEM;
        goto out;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        /* attempt 1 re-runs only the ops that met NOSCRIPT (never ran) */
        size_t k = 0, nredo = 0;
        for (size_t i = 0; i < n; i++) {
            if (attempt && res[i].rc != -ENOEXEC)
                continue;
            int l = format_op(r, &ops[i], &cmd[k]);
            if (l < 0) {
                res[i].rc = l;
                continue;
            }
            len[k] = (size_t)l;
            redo[k++] = i;
        }
        size_t nops = k;
        if (r->wait_n && nops) {
            char *wc = NULL;
            int l = redisFormatCommand(&wc, "WAIT %u %u", r->wait_n, r->wait_ms);
            if (l < 0) {
                rc = -ENOMEM;
                goto out;
            }
            cmd[k] = wc;
            len[k++] = (size_t)l;
        }
        rc = k ? pipeline(r, cmd, len, k, rep) : 0;
        for (size_t j = 0; j < nops; j++) {
            size_t i = redo[j];
            if (rep[j] && is_noscript(rep[j])) {
                res[i].rc = -ENOEXEC; /* marker: retry after SCRIPT LOAD */
                nredo++;
            } else if (rep[j]) {
                res[i] = script_result(rep[j], ops[i].code);
            } else {
                res[i].rc = rc ? rc : -EIO; /* sent or not: unknown outcome */
            }
        }
        if (r->wait_n && nops && !rc) {
            redisReply *w = rep[nops];
            if (!w || w->type != REDIS_REPLY_INTEGER || w->integer < (long long)r->wait_n) {
                s->stats.wait_short++;
                for (size_t j = 0; j < nops; j++)
                    if (res[redo[j]].rc == 0)
                        res[redo[j]].rc = -ETIMEDOUT; /* applied, not replicated */
            }
        }
        free_replies(rep, k);
        for (size_t j = 0; j < k; j++) {
            redisFreeCommand(cmd[j]);
            cmd[j] = NULL;
        }
        if (!nredo || rc)
            break;
        if (attempt == 0 && (rc = load_scripts(r))) {
            drop_conn(r);
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (res[i].rc == -ENOEXEC)
            res[i].rc = rc ? rc : -EIO;
out:
    if (rc == -ENOMEM)
        for (size_t i = 0; i < n; i++)
            res[i].rc = -ENOMEM;
    free(cmd);
    free(len);
    free(rep);
    free(redo);
    return rc;
}

static int one_op(struct redis_store *r, const struct sl_store_op *op, uint64_t *value)
{
    struct sl_store_result res;
    redis_exec(&r->base, op, 1, &res);
    if (value)
        *value = res.value;
    return res.rc;
}

static int redis_put(struct sl_store *s, const char *key, const void *data, size_t len,
                     uint64_t expected_version, uint64_t fence, uint64_t *new_version)
{
    struct sl_store_op op = {.code = SL_STORE_OP_PUT, .data = data, .len = len,
                             .a = expected_version, .b = fence};
    strcpy(op.key, key);
    return one_op((struct redis_store *)s, &op, new_version);
}

static int redis_del(struct sl_store *s, const char *key, uint64_t fence)
{
    struct sl_store_op op = {.code = SL_STORE_OP_DEL, .a = fence};
    strcpy(op.key, key);
    return one_op((struct redis_store *)s, &op, NULL);
}

static int redis_cas_epoch(struct sl_store *s, const char *key, uint64_t expected,
                           uint64_t desired, uint64_t *current)
{
    struct sl_store_op op = {.code = SL_STORE_OP_CAS_EPOCH, .a = expected, .b = desired};
    strcpy(op.key, key);
    return one_op((struct redis_store *)s, &op, current);
}

static int redis_get(struct sl_store *s, const char *key, void *buf, size_t cap, size_t *len,
                     uint64_t *version)
{
    struct redis_store *r = (struct redis_store *)s;
    const char *argv[] = {"HMGET", key, "d", "v"};
    size_t al[] = {5, strlen(key), 1, 1};
    redisReply *rep;
    int rc = command(r, 4, argv, al, &rep);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
        rc = -EIO; /* WRONGTYPE and friends */
    } else if (rep->element[0]->type != REDIS_REPLY_STRING) {
        rc = -ENOENT;
    } else {
        *len = rep->element[0]->len;
        *version = str_u64(rep->element[1]);
        if (*len > cap)
            rc = -ENOBUFS;
        else if (*len)
            memcpy(buf, rep->element[0]->str, *len);
    }
    freeReplyObject(rep);
    return rc;
}

static int redis_epoch_get(struct sl_store *s, const char *key, uint64_t *epoch)
{
    struct redis_store *r = (struct redis_store *)s;
    char ek[SL_STORE_KEY_MAX];
    if (sl_store_epoch_key(ek, sizeof(ek), key) < 0)
        return -ENAMETOOLONG;
    const char *argv[] = {"GET", ek};
    size_t al[] = {3, strlen(ek)};
    redisReply *rep;
    int rc = command(r, 2, argv, al, &rep);
    if (rc)
        return rc;
    if (rep->type == REDIS_REPLY_NIL)
        *epoch = 0;
    else if (rep->type == REDIS_REPLY_STRING)
        *epoch = str_u64(rep);
    else
        rc = -EIO;
    freeReplyObject(rep);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int redis_list(struct sl_store *s, const char *prefix, sl_store_list_fn fn, void *arg)
{
    struct redis_store *r = (struct redis_store *)s;
    /* Escape the glob characters of the prefix, then match "prefix*". */
    char pat[2 * SL_STORE_KEY_MAX + 2];
    size_t k = 0;
    for (const char *p = prefix; *p; p++) {
        if (strchr("*?[]\\", *p))
            pat[k++] = '\\';
        pat[k++] = *p;
    }
    pat[k++] = '*';
    pat[k] = 0;
    char **keys = NULL;
    size_t nk = 0, ck = 0;
    char cursor[32] = "0";
    int rc = 0;
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", pat, "COUNT", "1000"};
        size_t al[] = {4, strlen(cursor), 5, strlen(pat), 5, 4};
        redisReply *rep;
        if ((rc = command(r, 6, argv, al, &rep)))
            break;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING || rep->element[0]->len >= sizeof(cursor) ||
            rep->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(rep);
            rc = -EIO;
            break;
        }
        memcpy(cursor, rep->element[0]->str, rep->element[0]->len);
        cursor[rep->element[0]->len] = 0;
        redisReply *arr = rep->element[1];
        for (size_t i = 0; i < arr->elements && !rc; i++) {
            redisReply *e = arr->element[i];
            if (e->type != REDIS_REPLY_STRING || e->len >= SL_STORE_KEY_MAX)
                continue;
            if (nk == ck) {
                size_t nc = ck ? 2 * ck : 256;
                char **nkeys = realloc(keys, nc * sizeof(*keys));
                if (!nkeys) {
                    rc = -ENOMEM;
                    break;
                }
                keys = nkeys;
                ck = nc;
            }
            keys[nk] = strndup(e->str, e->len);
            if (!keys[nk])
                rc = -ENOMEM;
            else
                nk++;
        }
        freeReplyObject(rep);
    } while (!rc && strcmp(cursor, "0"));
    if (!rc && nk) {
        qsort(keys, nk, sizeof(*keys), cmp_str); /* SCAN may repeat a key */
        for (size_t i = 0; i < nk && !rc; i++)
            if (i == 0 || strcmp(keys[i], keys[i - 1]))
                rc = fn(arg, keys[i]);
    }
    for (size_t i = 0; i < nk; i++)
        free(keys[i]);
    free(keys);
    return rc;
}

static int redis_reconnect(struct sl_store *s)
{
    struct redis_store *r = (struct redis_store *)s;
    drop_conn(r);
    r->backoff_ms = 0;
    return ensure_conn(r);
}

static void redis_close(struct sl_store *s)
{
    struct redis_store *r = (struct redis_store *)s;
    if (r->c)
        redisFree(r->c);
    free(r);
}

static const struct sl_store_ops redis_ops = {
    .name = "redis",
    .get = redis_get,
    .put = redis_put,
    .del = redis_del,
    .epoch_get = redis_epoch_get,
    .cas_epoch = redis_cas_epoch,
    .list = redis_list,
    .exec = redis_exec,
    .reconnect = redis_reconnect,
    .close = redis_close,
};

int sl_store_redis_open(const char *spec, struct sl_store **out)
{
    struct redis_store *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->base.ops = &redis_ops;
    r->timeout_ms = 1000;
    r->wait_ms = 100;
    const char *q = strchr(spec, '?');
    size_t hl = q ? (size_t)(q - spec) : strlen(spec);
    const char *colon = memrchr(spec, ':', hl);
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(r->host) ||
        end != spec + hl || port <= 0 || port > 65535)
        goto bad;
    memcpy(r->host, spec, (size_t)(colon - spec));
    r->port = (int)port;
    if (q) {
        char opts[256];
        if (strlen(q + 1) >= sizeof(opts))
            goto bad;
        strcpy(opts, q + 1);
        char *save = NULL;
        for (char *tok = strtok_r(opts, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(tok, '=');
            if (!eq || !eq[1])
                goto bad;
            *eq = 0;
            unsigned long v = strtoul(eq + 1, &end, 10);
            if (*end || v > 600000)
                goto bad;
            if (!strcmp(tok, "wait"))
                r->wait_n = (uint32_t)v;
            else if (!strcmp(tok, "wait_ms"))
                r->wait_ms = (uint32_t)v;
            else if (!strcmp(tok, "timeout_ms") && v > 0)
                r->timeout_ms = (uint32_t)v;
            else
                goto bad;
        }
    }
    /* Not connecting here: the first op does, so a store that is down at
     * start-up is an ordinary -ECONNREFUSED, not a failed open. */
    *out = &r->base;
    return 0;
bad:
    free(r);
    return -EINVAL;
}
