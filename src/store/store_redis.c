/* "redis://HOST:PORT[?wait=N&wait_ms=W&timeout_ms=T&cluster=1]" store, on
 * hiredis.
 *
 * Data model (one flow = one hash tag, so a flow never spans Cluster slots):
 *   KEY                    hash {d: value bytes, v: version}
 *   ...{TAG}:epoch         string: the flow's owner epoch (absent = 0)
 * Conditional writes run in one Lua script (EVALSHA of LUA_BATCH, atomic
 * on the server) that checks the fence against the epoch key and the
 * expected version, then HSETs, DELs or sets the epoch.
 * Group commit (Stateless TCP, CoNEXT'19: one round trip for all flows of
 * an event-loop iteration): a batch becomes one pipeline of scripts, each
 * applying up to CHUNK_OPS ops (a script call costs ~7 us of server time
 * however little it does, so one call per op would cap a single server
 * near 130k writes/s); then all replies are read. With cluster=1 a script
 * never spans two flows (a Cluster refuses cross-slot scripts). With
 * ?wait=N a WAIT N W closes every write pipeline; if fewer replicas
 * acknowledge, the writes report -ETIMEDOUT.
 *
 * Never blocks forever: connect and every read/write have timeout_ms
 * (default 1000). A lost connection is dropped; the next op reconnects at
 * once, and while the server stays away reconnects back off exponentially
 * (10 ms .. 1 s) with ops failing fast with -ECONNREFUSED in between.
 * Authentication: "redis://USER:PASS@HOST:PORT" (an ACL user, Redis >= 6)
 * or "redis://:PASS@HOST:PORT" (requirepass); USER and PASS are
 * percent-decoded. Without a password in the URI, the environment
 * variable SLTCP_REDIS_PASSWORD is used if set (a command line is visible
 * to every local user in ps). AUTH is sent on every (re)connect, before
 * anything else. A refused AUTH (or NOAUTH: the server wants a password
 * we do not have) is -EPERM, and sl_store_redis_open already fails with
 * it when the server answers at open time. The password is never printed.
 * TLS: the Debian 12 hiredis (0.14) has no TLS support; run a local TLS
 * tunnel (stunnel, docs/security.md) and point the URI at it.
 * Not supported: Cluster redirections (MOVED/ASK: use one node or a proxy). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/kv.h"
#include "store/store.h"

/* Every write goes through this one script: it applies a run of ops in
 * order and returns {rc1, value1, rc2, value2, ...}. KEYS: key_i, epoch_key_i
 * per op; ARGV: code_i ('P' put, 'D' del, 'C' cas, 'T' take), data_i, a_i,
 * b_i as in struct sl_store_op ('' = SL_STORE_ANY; take: b_i is
 * "expected_epoch:desired_epoch", value = the epoch after the op). Epochs are compared as decimal
 * strings: no Lua number ever holds one (doubles would round above 2^53).
 * rc: 0 ok, -1 epoch mismatch (value = current epoch), -2 version mismatch,
 * -3 no such key, -4 a key holds a value of another type (-EBADMSG). */
static const char LUA_BATCH[] =
    "local function ep(ek) local e = redis.call('GET', ek) or '0' "
    "if not string.match(e, '^%d+$') then error('foreign epoch') end return e end "
    "local res = {} "
    "for i = 0, #ARGV / 4 - 1 do "
    "local c, k, ek = ARGV[i*4+1], KEYS[i*2+1], KEYS[i*2+2] "
    "local d, a, b = ARGV[i*4+2], ARGV[i*4+3], ARGV[i*4+4] "
    "local rc, val = 0, '' "
    /* a key of a foreign type (WRONGTYPE) fails its own op with -4, never
     * the script: one garbage value must not fail other flows' writes.
     * Every op reads (and so type-checks) its keys before it writes. */
    "local ok = pcall(function() "
    "if c == 'T' then "
    "local e = ep(ek) "
    "local v = redis.call('HGET', k, 'v') or '0' "
    "local ee, de = string.match(b, '^(%d+):(%d+)$') "
    "if e ~= ee then rc = -1 val = e elseif v ~= a then rc = -2 val = e "
    "else redis.call('HSET', k, 'd', d, 'v', tostring(tonumber(v) + 1)) "
    "redis.call('SET', ek, de) val = de end "
    "elseif c == 'C' then "
    "local e = ep(ek) "
    "if e ~= a then rc = -1 val = e "
    "else if b == '0' then redis.call('DEL', ek) else redis.call('SET', ek, b) end val = b end "
    "else "
    "local f = (c == 'P') and b or a "
    "if f ~= '' then local e = ep(ek) "
    "if e ~= f then rc = -1 val = e end end "
    "if rc == 0 and c == 'P' then "
    "local v = tonumber(redis.call('HGET', k, 'v') or '0') "
    "if a ~= '' and tostring(v) ~= a then rc = -2 val = tostring(v) "
    "else v = v + 1 redis.call('HSET', k, 'd', d, 'v', tostring(v)) val = tostring(v) end "
    "elseif rc == 0 then "
    "if redis.call('DEL', k) == 0 then rc = -3 end end "
    "end "
    "end) "
    "if not ok then rc = -4 val = '' end "
    "res[#res+1] = rc res[#res+1] = val "
    "end "
    "return res";

/* Reads a value only if it fits: KEYS[1] = key, ARGV[1] = the caller's
 * capacity. Returns {0, data, version}, {-3} (none), {-4} (not one of our
 * values: another type) or {-5, length, version} (too long: not sent).
 * So a huge foreign value never crosses the network or fills memory. */
static const char LUA_GET[] =
    "local t = redis.call('TYPE', KEYS[1]).ok "
    "if t == 'none' then return {-3} end "
    "if t ~= 'hash' then return {-4} end "
    "local v = redis.call('HGET', KEYS[1], 'v') or '0' "
    "local n = redis.call('HSTRLEN', KEYS[1], 'd') "
    "if n > tonumber(ARGV[1]) then return {-5, n, v} end "
    "local d = redis.call('HGET', KEYS[1], 'd') "
    "if not d then return {-3} end "
    "return {0, d, v}";

/* Ops per EVALSHA: bounds how long one script holds the server (about
 * 1 us per op) and the size of one command. */
#define CHUNK_OPS 256

enum { SC_BATCH, SC_GET, SC_N };

struct redis_store {
    struct sl_store base;
    char host[256];
    int port;
    char user[128], pass[256]; /* AUTH credentials; pass[0] == 0: no AUTH */
    bool auth_logged;          /* one line per run of refusals */
    redisContext *c;
    uint32_t timeout_ms, wait_n, wait_ms;
    bool cluster; /* one script per flow (hash tag), never across flows */
    uint64_t backoff_ms, next_try_ms;
    bool ever_connected;
    char sha[SC_N][41];
};

static const char *const scripts[SC_N] = {LUA_BATCH, LUA_GET};

static uint64_t now_ms(void) { return sl_clock_ms(); }

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

static bool is_auth_error(const redisReply *x)
{
    return x && x->type == REDIS_REPLY_ERROR &&
           (!strncmp(x->str, "NOAUTH", 6) || !strncmp(x->str, "WRONGPASS", 9) ||
            !strncmp(x->str, "NOPERM", 6) || strstr(x->str, "invalid password") ||
            strstr(x->str, "invalid username"));
}

/* Logs a refused AUTH once (until a connection succeeds again); the
 * password never appears, only the user and the server's error. */
static void auth_refused(struct redis_store *r, const char *why)
{
    if (r->auth_logged)
        return;
    r->auth_logged = true;
    fprintf(stderr, "sltcp: store: redis %s:%d refused authentication%s%s%s: %.200s\n", r->host,
            r->port, r->user[0] ? " as user '" : "", r->user, r->user[0] ? "'" : "", why);
}

/* AUTH [user] pass on a fresh connection (RFC-less: Redis AUTH command). */
static int authenticate(struct redis_store *r)
{
    if (!r->pass[0])
        return 0;
    const char *argv[3] = {"AUTH"};
    size_t al[3] = {4};
    int argc = 1;
    if (r->user[0]) {
        argv[argc] = r->user;
        al[argc++] = strlen(r->user);
    }
    argv[argc] = r->pass;
    al[argc++] = strlen(r->pass);
    redisReply *rep = redisCommandArgv(r->c, argc, argv, al);
    if (!rep) {
        int e = errno;
        return ctx_err(r->c, e);
    }
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        auth_refused(r, rep->str);
        rc = -EPERM;
    } else if (rep->type != REDIS_REPLY_STATUS) {
        rc = -EIO;
    }
    freeReplyObject(rep);
    return rc;
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
        } else if (is_auth_error(rep)) {
            auth_refused(r, rep->str);
            rc = -EPERM; /* NOAUTH: the server wants a password */
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
        rc = authenticate(r);
        if (!rc)
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
    r->auth_logged = false;
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

static bool same_tag(const char *a, const char *b)
{
    const char *ta, *tb;
    size_t la, lb;
    sl_store_key_tag(a, &ta, &la);
    sl_store_key_tag(b, &tb, &lb);
    return la == lb && !memcmp(ta, tb, la);
}

/* Formats ops[from, from+n) as one EVALSHA of LUA_BATCH; ops whose epoch
 * key cannot be built get res.rc and are skipped (*used = ops included). */
static int format_chunk(struct redis_store *r, const struct sl_store_op *ops, size_t n,
                        struct sl_store_result *res, size_t *idx, size_t *used, char **cmd)
{
    size_t argc_max = 3 + 6 * n;
    const char **argv = calloc(argc_max, sizeof(*argv));
    size_t *al = calloc(argc_max, sizeof(*al));
    char (*ek)[SL_STORE_KEY_MAX] = calloc(n ? n : 1, sizeof(*ek));
    char (*num)[2][48] = calloc(n ? n : 1, sizeof(*num));
    char nkeys[24];
    int l = -ENOMEM;
    if (!argv || !al || !ek || !num)
        goto out;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (sl_store_epoch_key(ek[k], sizeof(ek[k]), ops[i].key) < 0) {
            res[i].rc = -ENAMETOOLONG;
            continue;
        }
        idx[k++] = i;
    }
    *used = k;
    if (!k) {
        l = 0;
        goto out;
    }
    size_t c = 0;
    argv[c] = "EVALSHA", al[c++] = 7;
    argv[c] = r->sha[SC_BATCH], al[c++] = 40;
    snprintf(nkeys, sizeof(nkeys), "%zu", 2 * k);
    argv[c] = nkeys, al[c++] = strlen(nkeys);
    for (size_t j = 0; j < k; j++) {
        const struct sl_store_op *op = &ops[idx[j]];
        const char *key = op->code == SL_STORE_OP_CAS_EPOCH ? ek[j] : op->key;
        argv[c] = key, al[c++] = strlen(key);
        argv[c] = ek[j], al[c++] = strlen(ek[j]);
    }
    for (size_t j = 0; j < k; j++) {
        const struct sl_store_op *op = &ops[idx[j]];
        static const char codes[] = "?PDCT";
        bool data = op->code == SL_STORE_OP_PUT || op->code == SL_STORE_OP_TAKE;
        argv[c] = &codes[op->code], al[c++] = 1;
        argv[c] = data && op->len ? (const char *)op->data : "";
        al[c++] = data ? op->len : 0;
        bool cas = op->code == SL_STORE_OP_CAS_EPOCH || op->code == SL_STORE_OP_TAKE;
        num[j][0][0] = num[j][1][0] = 0;
        if (cas || op->a != SL_STORE_ANY)
            snprintf(num[j][0], sizeof(num[j][0]), "%llu", (unsigned long long)op->a);
        if (op->code == SL_STORE_OP_TAKE)
            snprintf(num[j][1], sizeof(num[j][1]), "%llu:%llu", (unsigned long long)op->b,
                     (unsigned long long)op->c);
        else if (op->code != SL_STORE_OP_DEL && (cas || op->b != SL_STORE_ANY))
            snprintf(num[j][1], sizeof(num[j][1]), "%llu", (unsigned long long)op->b);
        argv[c] = num[j][0], al[c++] = strlen(num[j][0]);
        argv[c] = num[j][1], al[c++] = strlen(num[j][1]);
    }
    l = redisFormatCommandArgv(cmd, (int)c, argv, al);
    if (l < 0)
        l = -ENOMEM;
out:
    free(argv);
    free(al);
    free(ek);
    free(num);
    return l;
}

/* Maps one chunk's reply onto its ops' results. */
static void chunk_results(const redisReply *x, const struct sl_store_op *ops,
                          struct sl_store_result *res, const size_t *idx, size_t k)
{
    bool ok = x && x->type == REDIS_REPLY_ARRAY && x->elements == 2 * k;
    for (size_t j = 0; j < k; j++) {
        struct sl_store_result *rr = &res[idx[j]];
        *rr = (struct sl_store_result){-EIO, 0};
        if (!ok || x->element[2 * j]->type != REDIS_REPLY_INTEGER)
            continue;
        long long c = x->element[2 * j]->integer;
        rr->value = str_u64(x->element[2 * j + 1]);
        if (c == 0)
            rr->rc = 0;
        else if (c == -1 || c == -2)
            rr->rc = -ESTALE;
        else if (c == -3)
            rr->rc = -ENOENT;
        else if (c == -4)
            rr->rc = -EBADMSG;
        if (rr->rc == -ESTALE && ops[idx[j]].code != SL_STORE_OP_CAS_EPOCH &&
            ops[idx[j]].code != SL_STORE_OP_TAKE)
            rr->value = 0;
        if (rr->rc == -ENOENT)
            rr->value = 0;
    }
}

static int redis_exec(struct sl_store *s, const struct sl_store_op *ops, size_t n,
                      struct sl_store_result *res)
{
    struct redis_store *r = (struct redis_store *)s;
    for (size_t i = 0; i < n; i++)
        res[i] = (struct sl_store_result){-EIO, 0};
    if (!n)
        return 0;
    /* Connect first: the commands carry the script's SHA. */
    int rc = ensure_conn(r);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            res[i].rc = rc;
        return rc;
    }
    /* Chunks: runs of at most CHUNK_OPS ops (one flow each in cluster mode). */
    size_t nch = 0, *cstart = calloc(n + 1, sizeof(*cstart));
    size_t *idx = calloc(n, sizeof(*idx)), *cused = calloc(n + 1, sizeof(*cused));
    char **cmd = calloc(n + 1, sizeof(*cmd));
    size_t *len = calloc(n + 1, sizeof(*len));
    redisReply **rep = calloc(n + 1, sizeof(*rep));
    if (!cstart || !idx || !cused || !cmd || !len || !rep) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (i == cstart[nch] + CHUNK_OPS ||
            (r->cluster && i > cstart[nch] && !same_tag(ops[i].key, ops[cstart[nch]].key)))
            cstart[++nch] = i;
    cstart[++nch] = n;
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t k = 0;
        for (size_t c = 0; c < nch; c++) {
            int l = format_chunk(r, ops + cstart[c], cstart[c + 1] - cstart[c], res + cstart[c],
                                 idx + cstart[c], &cused[c], &cmd[k]);
            if (l < 0) {
                rc = l;
                goto out;
            }
            if (cused[c])
                len[k++] = (size_t)l;
        }
        size_t ncmd = k;
        if (r->wait_n && ncmd) {
            int l = redisFormatCommand(&cmd[k], "WAIT %u %u", r->wait_n, r->wait_ms);
            if (l < 0) {
                rc = -ENOMEM;
                goto out;
            }
            len[k++] = (size_t)l;
        }
        rc = k ? pipeline(r, cmd, len, k, rep) : 0;
        bool noscript = false;
        for (size_t c = 0, j = 0; c < nch; c++) {
            if (!cused[c])
                continue;
            noscript |= is_noscript(rep[j]);
            if (rep[j] && !is_noscript(rep[j])) {
                chunk_results(rep[j], ops + cstart[c], res + cstart[c], idx + cstart[c], cused[c]);
            } else {
                for (size_t q = 0; q < cused[c]; q++) /* sent or not: unknown outcome */
                    res[cstart[c] + idx[cstart[c] + q]].rc = rc ? rc : -EIO;
            }
            j++;
        }
        if (r->wait_n && ncmd && !rc) {
            redisReply *w = rep[ncmd];
            if (!w || w->type != REDIS_REPLY_INTEGER || w->integer < (long long)r->wait_n) {
                s->stats.wait_short++;
                for (size_t i = 0; i < n; i++)
                    if (res[i].rc == 0 && ops[i].code != 0)
                        res[i].rc = -ETIMEDOUT; /* applied, not replicated */
            }
        }
        free_replies(rep, k);
        for (size_t j = 0; j < k; j++) {
            redisFreeCommand(cmd[j]);
            cmd[j] = NULL;
            rep[j] = NULL;
        }
        /* NOSCRIPT (script cache flushed): nothing of that chunk ran. Reload
         * and run the whole batch's failed chunks once more. Chunks that did
         * run keep their results: re-running them would not be idempotent,
         * so only an all-NOSCRIPT pipeline is retried. */
        if (!noscript || rc || attempt)
            break;
        bool all = true;
        for (size_t i = 0; i < n; i++)
            all &= res[i].rc == -EIO;
        if (!all || (rc = load_scripts(r))) {
            if (rc)
                drop_conn(r);
            break;
        }
    }
out:
    if (rc == -ENOMEM)
        for (size_t i = 0; i < n; i++)
            res[i].rc = -ENOMEM;
    if (cmd)
        for (size_t j = 0; j <= n; j++)
            if (cmd[j])
                redisFreeCommand(cmd[j]);
    free(cstart);
    free(idx);
    free(cused);
    free(cmd);
    free(len);
    free(rep);
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

static int redis_take(struct sl_store *s, const char *key, const void *data, size_t len,
                      uint64_t expected_version, uint64_t expected_epoch, uint64_t desired_epoch,
                      uint64_t *current)
{
    struct sl_store_op op = {.code = SL_STORE_OP_TAKE, .data = data, .len = len,
                             .a = expected_version, .b = expected_epoch, .c = desired_epoch};
    strcpy(op.key, key);
    return one_op((struct redis_store *)s, &op, current);
}

static int redis_get(struct sl_store *s, const char *key, void *buf, size_t cap, size_t *len,
                     uint64_t *version)
{
    struct redis_store *r = (struct redis_store *)s;
    int rc = ensure_conn(r); /* the command carries the script's SHA */
    if (rc)
        return rc;
    char capstr[24];
    snprintf(capstr, sizeof(capstr), "%zu", cap);
    redisReply *rep = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *argv[] = {"EVALSHA", r->sha[SC_GET], "1", key, capstr};
        size_t al[] = {7, 40, 1, strlen(key), strlen(capstr)};
        if ((rc = command(r, 5, argv, al, &rep)))
            return rc;
        if (!is_noscript(rep) || attempt)
            break;
        freeReplyObject(rep); /* script cache flushed: load it again, once */
        rep = NULL;
        if ((rc = load_scripts(r))) {
            drop_conn(r);
            return rc;
        }
    }
    long long code = rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
                             rep->element[0]->type == REDIS_REPLY_INTEGER
                         ? rep->element[0]->integer
                         : 1;
    if (code == -3) {
        rc = -ENOENT;
    } else if (code == -4) {
        rc = -EBADMSG; /* not a value we wrote: its own flow fails, nothing else */
    } else if (code == -5 && rep->elements == 3 && rep->element[1]->type == REDIS_REPLY_INTEGER) {
        *len = (size_t)rep->element[1]->integer;
        *version = str_u64(rep->element[2]);
        rc = -ENOBUFS; /* too long for the caller: never transferred */
    } else if (code == 0 && rep->elements == 3 && rep->element[1]->type == REDIS_REPLY_STRING &&
               rep->element[1]->len <= cap) {
        *len = rep->element[1]->len;
        *version = str_u64(rep->element[2]);
        if (*len)
            memcpy(buf, rep->element[1]->str, *len);
    } else {
        rc = -EIO; /* an error reply, or a script that does not keep its word */
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
    else if (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "WRONGTYPE", 9))
        rc = -EBADMSG; /* a foreign value under the flow's epoch key */
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
    explicit_bzero(r->pass, sizeof(r->pass));
    free(r);
}

static const struct sl_store_ops redis_ops = {
    .name = "redis",
    .get = redis_get,
    .put = redis_put,
    .del = redis_del,
    .epoch_get = redis_epoch_get,
    .cas_epoch = redis_cas_epoch,
    .take = redis_take,
    .list = redis_list,
    .exec = redis_exec,
    .reconnect = redis_reconnect,
    .close = redis_close,
};

/* One option of the query string "?wait=N&wait_ms=MS&timeout_ms=MS&cluster=0|1"
 * (sl_kv_fn). */
static int redis_opt(void *arg, const char *key, const char *val)
{
    struct redis_store *r = arg;
    char *end;
    if (!val || !*val)
        return -EINVAL;
    unsigned long v = strtoul(val, &end, 10);
    if (*end || v > 600000)
        return -EINVAL;
    if (!strcmp(key, "wait"))
        r->wait_n = (uint32_t)v;
    else if (!strcmp(key, "wait_ms"))
        r->wait_ms = (uint32_t)v;
    else if (!strcmp(key, "timeout_ms") && v > 0)
        r->timeout_ms = (uint32_t)v;
    else if (!strcmp(key, "cluster") && v <= 1)
        r->cluster = v == 1;
    else
        return -EINVAL;
    return 0;
}

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
    /* [USER[:PASS]@]: the last '@' before the options ends the userinfo */
    const char *at = memrchr(spec, '@', hl);
    if (at) {
        const char *ui = spec, *pc = memchr(ui, ':', (size_t)(at - ui));
        size_t ul = (size_t)((pc ? pc : at) - ui);
        if (sl_store_pct_decode(ui, ul, r->user, sizeof(r->user)) < 0)
            goto bad;
        if (pc && sl_store_pct_decode(pc + 1, (size_t)(at - pc - 1), r->pass,
                                      sizeof(r->pass)) < 0)
            goto bad;
        if (pc && !r->pass[0]) /* "user:@host": an empty password is none */
            goto bad;
        hl -= (size_t)(at + 1 - spec);
        spec = at + 1;
    }
    if (!r->pass[0]) {
        const char *env = getenv("SLTCP_REDIS_PASSWORD");
        if (env && *env) {
            if (strlen(env) >= sizeof(r->pass))
                goto bad;
            strcpy(r->pass, env);
        }
    }
    if (r->user[0] && !r->pass[0])
        goto bad; /* an ACL user needs its password */
    const char *colon = memrchr(spec, ':', hl);
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(r->host) ||
        end != spec + hl || port <= 0 || port > 65535)
        goto bad;
    memcpy(r->host, spec, (size_t)(colon - spec));
    r->port = (int)port;
    if (q && sl_kv_parse(q + 1, '&', 0, 256, redis_opt, r))
        goto bad;
    /* A store that is down at start-up is an ordinary -ECONNREFUSED for
     * the first ops, not a failed open; but one that answers and refuses
     * our credentials is a configuration error the operator must see now. */
    {
        int rc = ensure_conn(r);
        if (rc == -EPERM) {
            redis_close(&r->base);
            return -EPERM;
        }
        r->backoff_ms = 0;
        r->next_try_ms = 0;
    }
    *out = &r->base;
    return 0;
bad:
    explicit_bzero(r->pass, sizeof(r->pass));
    free(r);
    return -EINVAL;
}
