/* Externalized connection state, stack side (issue 3).
 *
 * What is written. One record per flow, key sl:{L:LP-R:RP}:rec, sealed by
 * record.c (magic, version, HMAC): the packed control block; the send
 * bytes of [SND.UNA, SND.END) that are NOT object content, concatenated in
 * sequence order; the receive bytes [RCV.READ, RCV.NXT) (RCV.READ is the
 * application's commit point: its read point at level 1, sl_conn_commit's
 * at level 2); and a "meta" blob in the record's checkpoint field:
 *
 *   u8 version (1) | u8 flags (META_APP_CLOSED, META_COMMIT) | u8 n_refs |
 *   u8 reserved | u32 app checkpoint length |
 *   n_refs x { u32 seq | u32 len | u64 object offset | u8 name length | name } |
 *   app checkpoint bytes
 *
 * The refs are send-by-reference extents (TRODS): their bytes are read
 * back through the listener's ref_read callback on restore, so a bulk
 * download stores a few hundred bytes per flow, not its payload.
 *
 * When. A connection that changed in an iteration is on the dirty list;
 * at the end of the iteration sl_persist_flush writes every dirty flow in
 * ONE store batch (group commit: one round trip for Redis, a memcpy per
 * flow for shm). With SL_DUR_SYNC the frames of that iteration are held
 * by the io_hold wrapper and only released once the batch succeeded
 * (output commit); if it failed they are discarded, the flows stay dirty
 * and the next iteration tries again: connections stall, none breaks, and
 * one log line says the store is away (another when it is back). With
 * SL_DUR_ASYNC frames leave first and the batch follows in the same
 * iteration (write-behind; a crash loses at most one iteration).
 *
 * Ownership. Every flow has an owner epoch in the store. A new flow takes
 * epoch 1 with compare-and-set from 0; a restore takes e+1 from e. Every
 * put and delete is fenced by our epoch, so once another instance took
 * over, our writes fail with -ESTALE atomically: we then drop the flow
 * silently (no RST, which would kill it on its new owner). A flow that
 * ends (TIME-WAIT, CLOSED) has its record deleted and its epoch reset
 * to 0, fenced.
 *
 * Recovery. At listen time every record of the listener's address and
 * port is restored; a segment for an unknown flow triggers a lookup
 * (token bucket + negative cache, so a storm of random 4-tuples cannot
 * become a store storm). Restore = CAS the epoch first (so no one else can
 * write after we read), then read and verify the record, rebuild rings
 * and control block, hand the connection to the application through the
 * accept queue (on_restore gets the checkpoint), and retransmit from
 * SND.UNA at once (sl_tcp_restored). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stack/persist.h"
#include "store/store.h"
#include "tcp/tcp_validate.h"

#define META_VERSION 1
#define META_APP_CLOSED 0x01
#define META_COMMIT 0x02
#define META_HDR 8
#define LOOKUP_PER_SEC 2000u
#define NEGCACHE_SLOTS 4096u
#define NEGCACHE_US 1000000u
#define MAX_DELS 4096u

#define STALE_SLOTS 256u
#define STALE_US 2000000u

struct stale_ent {
    uint32_t h;
    uint64_t epoch, since;
};

static uint32_t flow_hash(uint32_t raddr, uint16_t rport, uint16_t lport);

struct pdel {
    struct sl_flow flow;
    uint64_t epoch;
};

/* What one queued op of a batch belongs to. */
struct pop {
    struct sl_conn *c; /* NULL for a deletion */
    uint8_t kind;      /* 0 cas, 1 put, 2 del, 3 epoch reset */
    struct sl_flow flow; /* to find the connection again (offloaded batches) */
    uint64_t epoch;    /* deletions: to queue them again after a failure */
};

/* The asynchronous offloader (Stateless TCP): a worker thread with its
 * own store handle commits one batch while the loop goes on; the loop
 * builds the next batch from the flows that changed meanwhile (a flow's
 * queue holds its latest state only) once the worker is done. */
struct offload {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sl_store *st;
    int has_job, done, stop, busy;
    uint32_t k, nflows;
    size_t total;
};

struct sl_persist {
    struct sl_store *st;
    uint8_t key[SL_REC_KEY_LEN];
    struct sl_conn *dirty_head;
    struct pdel *dels;
    uint32_t n_dels;
    /* batch scratch */
    struct pop *ops;
    struct sl_store_result *res;
    uint32_t ops_cap;
    uint8_t *enc, *val, *meta;
    size_t enc_cap, val_cap, meta_cap;
    /* store health, for the log */
    int down;            /* last batch failed */
    uint64_t down_since;
    uint64_t down_logged;
    /* unknown-flow lookups */
    uint64_t tok_ts;
    uint32_t tokens;
    struct { uint32_t h; uint64_t until; } neg[NEGCACHE_SLOTS];
    struct sl_conn *lru_head, *lru_tail;
    char *uri;
    struct offload *off; /* async durability: the worker, or NULL (inline) */
    struct stale_ent stale[STALE_SLOTS];
};

static void plog(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sltcp: store: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const uint8_t dev_key[SL_REC_KEY_LEN] = "sltcp development key, not safe";

int sl_persist_create(struct sl_stack *s, const char *uri, const uint8_t *key,
                      struct sl_persist **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!uri || !*uri)
        return 0;
    struct sl_persist *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    char safe[256]; /* the URI as logged: never a password */
    sl_store_uri_redact(uri, safe, sizeof(safe));
    int rc = sl_store_open(uri, &p->st);
    if (rc < 0) {
        snprintf(err, errlen, "store %s: %s", safe,
                 rc == -EPERM ? "not ours or authentication refused" : strerror(-rc));
        free(p);
        return rc;
    }
    if (key) {
        memcpy(p->key, key, SL_REC_KEY_LEN);
    } else {
        memcpy(p->key, dev_key, SL_REC_KEY_LEN);
        plog("no store key given: records are sealed with the built-in development "
             "key and are NOT protected against tampering");
    }
    /* The largest record a flow can need (every send and receive byte by
     * value, a checkpoint) must fit the store, or a flow would one day be
     * impossible to make durable: find out now, with a clear error. */
    size_t need = (size_t)s->tcfg.sndbuf + s->tcfg.rcvbuf + 16384;
    uint8_t *probe = calloc(1, need);
    char pkey[64];
    snprintf(pkey, sizeof(pkey), "sltcp:probe:%d", (int)getpid());
    rc = probe ? sl_store_put(p->st, pkey, probe, need, SL_STORE_ANY, SL_STORE_ANY, NULL)
               : -ENOMEM;
    free(probe);
    if (rc == 0)
        sl_store_del(p->st, pkey, SL_STORE_ANY);
    if (rc == -ENOSPC || rc == -EMSGSIZE || rc == -EINVAL) {
        snprintf(err, errlen,
                 "store %s cannot hold a record of %zu bytes (send + receive buffers + "
                 "checkpoint): give it room (shm: ?max=%zu) or use smaller --sndbuf/--rcvbuf",
                 safe, need, need);
        sl_store_close(p->st);
        free(p);
        return -EMSGSIZE;
    }
    if (rc < 0)
        plog("%s does not answer yet (%s): connections wait for it", safe, strerror(-rc));
    p->tokens = LOOKUP_PER_SEC;
    p->tok_ts = s->now;
    p->uri = strdup(uri);
    *out = p;
    return 0;
}

static void *offload_main(void *arg)
{
    struct sl_persist *p = arg;
    struct offload *w = p->off;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->has_job && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->has_job)
            break;
        pthread_mutex_unlock(&w->mu);
        /* the batch was queued on w->st by the loop while we were idle */
        sl_store_commit(w->st, p->res, w->k);
        pthread_mutex_lock(&w->mu);
        w->has_job = 0;
        w->done = 1;
        pthread_cond_broadcast(&w->cv); /* a draining loop may wait for it */
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int sl_persist_offload_start(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    if (!p || p->off || !p->uri || !strncmp(p->uri, "mem:", 4))
        return 0; /* mem: is one in-process table: writes stay in the loop */
    struct offload *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    int rc = sl_store_open(p->uri, &w->st);
    if (rc < 0) {
        free(w);
        return rc;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    p->off = w;
    if (pthread_create(&w->th, NULL, offload_main, p) != 0) {
        sl_store_close(w->st);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        p->off = NULL;
        return -EAGAIN;
    }
    return 0;
}

static void offload_stop(struct sl_persist *p)
{
    struct offload *w = p->off;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL); /* finishes the batch in flight first */
    sl_store_close(w->st);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    p->off = NULL;
}

void sl_persist_destroy(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    if (!p)
        return;
    offload_stop(p);
    sl_store_close(p->st);
    free(p->uri);
    free(p->dels);
    free(p->ops);
    free(p->res);
    free(p->enc);
    free(p->val);
    free(p->meta);
    free(p);
    s->persist = NULL;
}

static void pconn_free(struct sl_conn *c)
{
    if (!c->p)
        return;
    free(c->p->ckpt);
    free(c->p);
    c->p = NULL;
}

void sl_persist_drop(struct sl_conn *c) { pconn_free(c); }

struct sl_store *sl_persist_store(struct sl_stack *s) { return s->persist ? s->persist->st : NULL; }

int sl_persist_attach(struct sl_stack *s, struct sl_conn *c, struct sl_listener *l)
{
    if (!s->persist || !l || l->durability == SL_DUR_OFF || c->p)
        return 0;
    struct sl_pconn *pc = calloc(1, sizeof(*pc));
    if (!pc)
        return -ENOMEM;
    pc->dur = l->durability;
    if (l->commit)
        pc->flags |= SL_PC_COMMIT;
    pc->app_read = c->tcb.rcv_read; /* set by the open (passive or cookie) */
    c->p = pc;
    return 0;
}

static void list_unlink(struct sl_persist *p, struct sl_conn *c)
{
    struct sl_pconn *pc = c->p;
    if (!(pc->flags & SL_PC_LISTED))
        return;
    if (pc->prev)
        pc->prev->p->next = pc->next;
    else
        p->dirty_head = pc->next;
    if (pc->next)
        pc->next->p->prev = pc->prev;
    pc->prev = pc->next = NULL;
    pc->flags &= (uint8_t)~SL_PC_LISTED;
}

static void lru_unlink(struct sl_persist *p, struct sl_conn *c)
{
    struct sl_pconn *pc = c->p;
    if (pc->lru_prev)
        pc->lru_prev->p->lru_next = pc->lru_next;
    else if (p->lru_head == c)
        p->lru_head = pc->lru_next;
    if (pc->lru_next)
        pc->lru_next->p->lru_prev = pc->lru_prev;
    else if (p->lru_tail == c)
        p->lru_tail = pc->lru_prev;
    pc->lru_prev = pc->lru_next = NULL;
}

/* Most recently active at the tail. */
static void lru_touch(struct sl_stack *s, struct sl_conn *c)
{
    struct sl_persist *p = s->persist;
    struct sl_pconn *pc = c->p;
    pc->last_active = s->now;
    if (p->lru_tail == c)
        return;
    lru_unlink(p, c);
    pc->lru_prev = p->lru_tail;
    if (p->lru_tail)
        p->lru_tail->p->lru_next = c;
    else
        p->lru_head = c;
    p->lru_tail = c;
}

void sl_persist_mark(struct sl_stack *s, struct sl_conn *c)
{
    struct sl_persist *p = s->persist;
    struct sl_pconn *pc = c->p;
    if (p && pc && !(pc->flags & (SL_PC_GONE | SL_PC_DONE)))
        lru_touch(s, c);
    if (!p || !pc || (pc->flags & (SL_PC_LISTED | SL_PC_GONE)))
        return;
    if ((pc->flags & SL_PC_DONE) && !(pc->flags & SL_PC_WRITTEN))
        return;
    pc->flags |= SL_PC_LISTED;
    pc->prev = NULL;
    pc->next = p->dirty_head;
    if (p->dirty_head)
        p->dirty_head->p->prev = c;
    p->dirty_head = c;
}

static void conn_flow(const struct sl_conn *c, struct sl_flow *f)
{
    f->laddr = c->tcb.laddr;
    f->raddr = c->tcb.raddr;
    f->lport = c->tcb.lport;
    f->rport = c->tcb.rport;
}

void sl_persist_forget(struct sl_stack *s, struct sl_conn *c)
{
    struct sl_persist *p = s->persist;
    struct sl_pconn *pc = c->p;
    if (!pc)
        return;
    if (p) {
        list_unlink(p, c);
        lru_unlink(p, c);
        if ((pc->flags & SL_PC_WRITTEN) && !(pc->flags & (SL_PC_GONE | SL_PC_EVICTED))) {
            if (!p->dels)
                p->dels = calloc(MAX_DELS, sizeof(*p->dels));
            if (p->dels && p->n_dels < MAX_DELS) {
                conn_flow(c, &p->dels[p->n_dels].flow);
                p->dels[p->n_dels++].epoch = pc->epoch;
            } else {
                SCTR(s, persist_store_errors); /* left for the owner's next restore */
            }
        }
    }
    pconn_free(c);
}

/* ---------------- references (send by reference) ---------------- */

void sl_persist_trim_refs(struct sl_conn *c)
{
    struct sl_pconn *pc = c->p;
    if (!pc)
        return;
    uint32_t una = c->tcb.snd_una;
    unsigned j = 0;
    for (unsigned i = 0; i < pc->n_refs; i++) {
        struct sl_ref *r = &pc->refs[i];
        if (sl_seq_le(r->seq + r->len, una))
            continue; /* fully acknowledged */
        if (sl_seq_lt(r->seq, una)) { /* TRODS: offset = ack - start */
            uint32_t d = una - r->seq;
            r->seq += d;
            r->off += d;
            r->len -= d;
        }
        if (j != i)
            pc->refs[j] = *r;
        j++;
    }
    pc->n_refs = (uint8_t)j;
}

void sl_persist_add_ref(struct sl_conn *c, uint32_t seq, uint32_t len, const char *obj,
                        uint64_t off)
{
    struct sl_pconn *pc = c->p;
    if (!pc || !len)
        return;
    size_t nl = strlen(obj);
    if (nl >= SL_REF_NAME)
        return; /* kept by value */
    sl_persist_trim_refs(c);
    if (pc->n_refs) {
        struct sl_ref *last = &pc->refs[pc->n_refs - 1];
        if (last->seq + last->len == seq && last->off + last->len == off &&
            strcmp(last->obj, obj) == 0) {
            last->len += len;
            return;
        }
    }
    if (pc->n_refs >= SL_REF_MAX)
        return; /* by value: correct, only costlier */
    struct sl_ref *r = &pc->refs[pc->n_refs++];
    r->seq = seq;
    r->len = len;
    r->off = off;
    memcpy(r->obj, obj, nl + 1);
}

int sl_persist_checkpoint(struct sl_stack *s, struct sl_conn *c, const void *blob, size_t len)
{
    struct sl_pconn *pc = c->p;
    if (!pc)
        return -EINVAL;
    if (len > SL_REC_MAX_CKPT / 2)
        return -EMSGSIZE;
    uint8_t *n = NULL;
    if (len) {
        n = malloc(len);
        if (!n)
            return -ENOMEM;
        memcpy(n, blob, len);
    }
    free(pc->ckpt);
    pc->ckpt = n;
    pc->ckpt_len = (uint32_t)len;
    sl_persist_mark(s, c);
    return 0;
}

/* ---------------- encoding ---------------- */

static int grow(uint8_t **b, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    uint8_t *q = realloc(*b, n);
    if (!q)
        return -ENOMEM;
    *b = q;
    *cap = n;
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Builds the record of c, sealed, into p->enc. Returns its length or -errno. */
static ssize_t encode_conn(struct sl_stack *s, struct sl_conn *c, uint64_t epoch)
{
    struct sl_persist *p = s->persist;
    struct sl_pconn *pc = c->p;
    const struct sl_tcb *t = &c->tcb;
    sl_persist_trim_refs(c);

    /* meta */
    size_t mlen = META_HDR + pc->ckpt_len;
    for (unsigned i = 0; i < pc->n_refs; i++)
        mlen += 17 + strlen(pc->refs[i].obj);
    if (grow(&p->meta, &p->meta_cap, mlen) < 0)
        return -ENOMEM;
    uint8_t *m = p->meta;
    m[0] = META_VERSION;
    m[1] = (uint8_t)(((c->sflags & SL_CF_APP_CLOSED) ? META_APP_CLOSED : 0) |
                     ((pc->flags & SL_PC_COMMIT) ? META_COMMIT : 0));
    m[2] = pc->n_refs;
    m[3] = 0;
    put32(m + 4, pc->ckpt_len);
    size_t o = META_HDR;
    for (unsigned i = 0; i < pc->n_refs; i++) {
        const struct sl_ref *r = &pc->refs[i];
        size_t nl = strlen(r->obj);
        put32(m + o, r->seq);
        put32(m + o + 4, r->len);
        put64(m + o + 8, r->off);
        m[o + 16] = (uint8_t)nl;
        memcpy(m + o + 17, r->obj, nl);
        o += 17 + nl;
    }
    if (pc->ckpt_len)
        memcpy(m + o, pc->ckpt, pc->ckpt_len);

    struct sl_record_in in = {.tcb = t, .now_us = s->now, .epoch = epoch, .gen = ++pc->gen};
    /* send bytes by value: [snd_una, snd_end) minus the refs */
    in.snd_seq = t->snd_una;
    if (c->snd && t->state >= SL_TCP_ESTABLISHED && sl_seq_lt(t->snd_una, t->snd_end)) {
        uint32_t span = t->snd_end - t->snd_una, vlen = 0;
        if (grow(&p->val, &p->val_cap, span) < 0)
            return -ENOMEM;
        uint32_t seq = t->snd_una;
        for (unsigned i = 0; i <= pc->n_refs; i++) {
            uint32_t stop = i < pc->n_refs ? pc->refs[i].seq : t->snd_end;
            if (sl_seq_lt(seq, stop)) {
                sl_tcp_copy_out(t, c->snd, seq, p->val + vlen, stop - seq);
                vlen += stop - seq;
            }
            if (i < pc->n_refs)
                seq = pc->refs[i].seq + pc->refs[i].len;
        }
        in.snd = sl_rec_flat(p->val, vlen);
    }
    /* receive bytes not committed: [rcv_read, rcv_nxt minus a FIN) */
    in.rcv_seq = t->rcv_read;
    if (c->rcv && t->state >= SL_TCP_ESTABLISHED) {
        uint32_t end = t->rcv_nxt - ((t->flags & SL_TF_FIN_RCVD) ? 1u : 0u);
        if (sl_seq_lt(t->rcv_read, end))
            in.rcv = sl_rec_ring(c->rcv, t->rcv_bufsz, t->rcv_read, end - t->rcv_read);
    }
    in.ckpt = p->meta;
    in.ckpt_len = (uint32_t)mlen;
    ssize_t need = sl_record_size(&in);
    if (need < 0)
        return need;
    if (grow(&p->enc, &p->enc_cap, (size_t)need) < 0)
        return -ENOMEM;
    return sl_record_encode(&in, p->key, p->enc, p->enc_cap);
}

/* ---------------- the batch ---------------- */

static int ops_reserve(struct sl_persist *p, uint32_t n)
{
    if (n <= p->ops_cap)
        return 0;
    uint32_t cap = p->ops_cap ? p->ops_cap : 256;
    while (cap < n)
        cap *= 2;
    struct pop *o = realloc(p->ops, cap * sizeof(*o));
    if (!o)
        return -ENOMEM;
    p->ops = o;
    struct sl_store_result *r = realloc(p->res, cap * sizeof(*r));
    if (!r)
        return -ENOMEM;
    p->res = r;
    p->ops_cap = cap;
    return 0;
}

/* The flow was taken over by another instance: drop it here, silently. */
static void superseded(struct sl_stack *s, struct sl_conn *c)
{
    SCTR(s, persist_superseded);
    c->p->flags |= SL_PC_GONE;
    struct sl_tcp_out *out = sl_out_reset(s);
    c->tcb.err = -ESTALE;
    c->tcb.state = SL_TCP_CLOSED;
    out->events |= SL_TEV_ERROR | SL_TEV_CLOSED;
    sl_conn_after(s, c);
}

static void note_down(struct sl_stack *s, int rc, unsigned nflows)
{
    struct sl_persist *p = s->persist;
    if (!p->down) {
        p->down = 1;
        p->down_since = s->now;
        p->down_logged = s->now;
        plog("%s unreachable (%s): %u connection(s) stalled until it answers again",
             sl_store_name(p->st), strerror(-rc), nflows);
    } else if (s->now - p->down_logged > 5000000u) {
        p->down_logged = s->now;
        plog("%s still unreachable (%s) after %" PRIu64 " ms", sl_store_name(p->st),
             strerror(-rc), (s->now - p->down_since) / 1000);
    }
}

/* Queues one batch on `st` for every dirty flow and the pending
 * deletions; fills p->ops. Returns the number of ops. */
static uint32_t build_batch(struct sl_stack *s, struct sl_store *st, uint32_t *nflows,
                            size_t *total)
{
    struct sl_persist *p = s->persist;
    uint32_t nops = 0;
    *nflows = 0;
    *total = 0;
    for (struct sl_conn *c = p->dirty_head; c; c = c->p->next) {
        (*nflows)++;
        nops += 2;
    }
    nops += 2 * p->n_dels;
    if (ops_reserve(p, nops) < 0)
        return 0;
    sl_store_begin(st);
    uint32_t k = 0;
    for (struct sl_conn *c = p->dirty_head; c; c = c->p->next) {
        struct sl_pconn *pc = c->p;
        const struct sl_tcb *t = &c->tcb;
        char key[SL_STORE_KEY_MAX];
        struct sl_flow f;
        conn_flow(c, &f);
        sl_store_flow_key(key, sizeof(key), &f, "rec");
        int done = (pc->flags & SL_PC_DONE) || t->state == SL_TCP_TIME_WAIT ||
                   t->state == SL_TCP_CLOSED;
        if (done) {
            pc->flags |= SL_PC_DONE;
            if (pc->flags & SL_PC_WRITTEN) {
                sl_store_del(st, key, pc->epoch);
                p->ops[k++] = (struct pop){c, 2, f, pc->epoch};
                sl_store_cas_epoch(st, key, pc->epoch, 0, NULL);
                p->ops[k++] = (struct pop){c, 3, f, pc->epoch};
            }
            continue;
        }
        if (!(pc->flags & SL_PC_OWNED)) {
            uint64_t want = pc->epoch + 1;
            sl_store_cas_epoch(st, key, pc->epoch, want, NULL);
            p->ops[k++] = (struct pop){c, 0, f, 0};
        }
        uint64_t fence = (pc->flags & SL_PC_OWNED) ? pc->epoch : pc->epoch + 1;
        ssize_t n = encode_conn(s, c, fence);
        if (n < 0) {
            SCTR(s, persist_too_big);
            continue;
        }
        sl_store_put(st, key, p->enc, (size_t)n, SL_STORE_ANY, fence, NULL);
        p->ops[k++] = (struct pop){c, 1, f, 0};
        *total += (size_t)n;
    }
    for (uint32_t i = 0; i < p->n_dels; i++) {
        char key[SL_STORE_KEY_MAX];
        sl_store_flow_key(key, sizeof(key), &p->dels[i].flow, "rec");
        sl_store_del(st, key, p->dels[i].epoch);
        p->ops[k++] = (struct pop){NULL, 2, p->dels[i].flow, p->dels[i].epoch};
        sl_store_cas_epoch(st, key, p->dels[i].epoch, 0, NULL);
        p->ops[k++] = (struct pop){NULL, 3, p->dels[i].flow, p->dels[i].epoch};
    }
    return k;
}

/* Applies the results of a committed batch of k ops. `deferred`: the batch
 * was committed by the offloader while the loop went on, so connections
 * are looked up again by their 4-tuple (they may have gone meanwhile), and
 * on a failure they are marked dirty again (they left the list at
 * hand-off). Returns 1 if the batch failed (*first_err set). */
static int apply_results(struct sl_stack *s, uint32_t k, int deferred, int *first_err,
                         int *fenced)
{
    struct sl_persist *p = s->persist;
    int failed = 0;
    *first_err = 0;
    *fenced = 0;
    for (uint32_t i = 0; i < k; i++) {
        struct pop *o = &p->ops[i];
        int r = p->res[i].rc;
        struct sl_conn *c = o->c;
        if (deferred && c) {
            c = sl_table_find(s, o->flow.raddr, o->flow.rport, o->flow.lport);
            if (c && (!c->p || (c->p->flags & SL_PC_GONE)))
                c = NULL;
        }
        if (o->kind == 2 || o->kind == 3) {
            if (r == 0 && o->kind == 2)
                SCTR(s, persist_deletes);
            if (c && o->kind == 2 && (r == 0 || r == -ENOENT))
                c->p->flags &= (uint8_t)~SL_PC_WRITTEN;
            if (r == -EBADMSG) /* a foreign value there: nothing of ours to delete */
                SCTR(s, persist_foreign_value);
            else if (r < 0 && r != -ENOENT && r != -ESTALE) {
                failed = 1;
                *first_err = *first_err ? *first_err : r;
                if (deferred && !o->c && o->kind == 2 && p->dels && p->n_dels < MAX_DELS) {
                    p->dels[p->n_dels].flow = o->flow; /* try again */
                    p->dels[p->n_dels++].epoch = o->epoch;
                }
            }
            continue;
        }
        if (!c)
            continue; /* gone meanwhile (offloaded batch) */
        struct sl_pconn *pc = c->p;
        if (r == -EBADMSG) { /* its keys hold a foreign value: this flow ends, alone */
            SCTR(s, persist_foreign_value);
            pc->flags |= SL_PC_DONE;
            sl_tcp_abort(&c->tcb, s->now, sl_out_reset(s));
            sl_conn_after(s, c);
            continue;
        }
        if (o->kind == 0) {
            if (r == 0) {
                pc->flags |= SL_PC_OWNED;
                pc->epoch++;
            } else if (r == -ESTALE && !(pc->flags & SL_PC_RESTORED)) {
                /* a leftover epoch of an earlier flow with this 4-tuple:
                 * take over from it on the next iteration */
                pc->epoch = p->res[i].value;
                failed = 1;
                *first_err = *first_err ? *first_err : r;
            } else if (r == -ESTALE) {
                superseded(s, c);
                *fenced = 1;
            } else {
                failed = 1;
                *first_err = *first_err ? *first_err : r;
            }
            continue;
        }
        /* put */
        if (r == 0) {
            pc->flags |= SL_PC_WRITTEN;
            SCTR(s, persist_records);
            continue;
        }
        if (r == -ESTALE && (pc->flags & SL_PC_OWNED)) {
            char key[SL_STORE_KEY_MAX];
            uint64_t cur = 1;
            sl_store_flow_key(key, sizeof(key), &o->flow, "rec");
            if (sl_store_epoch_get(p->st, key, &cur) == 0 && cur == 0) {
                /* nobody owns it: the store lost its data (a restart
                 * without persistence). Own it again from scratch. */
                SCTR(s, persist_reowned);
                pc->flags &= (uint8_t)~SL_PC_OWNED;
                pc->epoch = 0;
                failed = 1;
                *first_err = *first_err ? *first_err : -ENOENT;
                continue;
            }
            superseded(s, c);
            *fenced = 1;
            continue;
        }
        if (r == -ENOSPC || r == -EMSGSIZE) {
            /* the store is full (no slot for a new flow): refuse the new
             * connection cleanly; a flow already stored always fits (the
             * size was checked at start-up) */
            SCTR(s, persist_too_big);
            failed = 1;
            *first_err = *first_err ? *first_err : r;
            if (!(pc->flags & SL_PC_WRITTEN)) {
                pc->flags |= SL_PC_DONE;
                sl_tcp_abort(&c->tcb, s->now, sl_out_reset(s));
                sl_conn_after(s, c);
            }
            continue;
        }
        failed = 1;
        *first_err = *first_err ? *first_err : r;
    }
    if (failed && deferred) /* everything of the batch goes again */
        for (uint32_t i = 0; i < k; i++)
            if (p->ops[i].c && p->ops[i].kind <= 1) {
                struct sl_conn *c = sl_table_find(s, p->ops[i].flow.raddr, p->ops[i].flow.rport,
                                                  p->ops[i].flow.lport);
                if (c && c->p && !(c->p->flags & SL_PC_GONE))
                    sl_persist_mark(s, c);
            }
    return failed;
}

static void store_back(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    if (p->down) {
        plog("%s answers again after %" PRIu64 " ms; stalled connections resume",
             sl_store_name(p->st), (s->now - p->down_since) / 1000);
        p->down = 0;
    }
}

static void unlink_all_dirty(struct sl_persist *p)
{
    while (p->dirty_head)
        list_unlink(p, p->dirty_head);
}

/* Async durability through the offloader: take the results of the batch
 * in flight if it is done, then hand the next batch over. Never waits
 * (unless `wait`: shutdown). */
static int offload_flush(struct sl_stack *s, int wait)
{
    struct sl_persist *p = s->persist;
    struct offload *w = p->off;
    int work = 0;
    if (w->busy) {
        pthread_mutex_lock(&w->mu);
        while (wait && !w->done)
            pthread_cond_wait(&w->cv, &w->mu);
        int done = w->done;
        pthread_mutex_unlock(&w->mu);
        if (!done)
            return 0;
        w->busy = 0;
        w->done = 0;
        SCTR(s, persist_batches);
        int err, fenced;
        if (apply_results(s, w->k, 1, &err, &fenced)) {
            SCTR(s, persist_store_errors);
            note_down(s, err, w->nflows);
        } else {
            s->ctr[SL_CTR_persist_bytes] += w->total;
            store_back(s);
        }
        work = 1;
    }
    if (!p->dirty_head && !p->n_dels)
        return work;
    w->k = build_batch(s, w->st, &w->nflows, &w->total);
    p->n_dels = 0;
    unlink_all_dirty(p); /* their latest state is in the batch */
    pthread_mutex_lock(&w->mu);
    w->busy = 1;
    w->has_job = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 1;
}

int sl_persist_flush(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    struct sl_io *io = s->io;
    if (p && p->off && !sl_io_is_hold(io)) {
        io->ops->tx_flush(io); /* write-behind: frames go first */
        return offload_flush(s, 0);
    }
    if (!p || (!p->dirty_head && !p->n_dels)) {
        sl_io_hold_release(io); /* nothing to make durable */
        return 0;
    }
    int async_first = !sl_io_is_hold(io);
    if (async_first)
        io->ops->tx_flush(io); /* write-behind: frames go first */

    uint32_t nflows;
    size_t total;
    uint32_t k = build_batch(s, p->st, &nflows, &total);
    sl_store_commit(p->st, p->res, k); /* every op's own result says what happened */
    SCTR(s, persist_batches);
    int first_err, fenced;
    if (apply_results(s, k, 0, &first_err, &fenced)) {
        SCTR(s, persist_store_errors);
        if (sl_io_is_hold(io)) {
            SCTR(s, persist_stalled_iters);
            sl_io_hold_discard(io);
        }
        note_down(s, first_err, nflows);
        /* everything stays dirty: written again on the next iteration
         * (the loop polls at most 10 ms apart meanwhile) */
        return 0;
    }
    if (fenced && sl_io_is_hold(io)) {
        /* frames built from a flow's state that is not durable (its new
         * owner has another) must not leave; the other flows' frames of
         * this iteration go too, and TCP sends them again */
        sl_io_hold_discard(io);
    }
    s->ctr[SL_CTR_persist_bytes] += total;
    store_back(s);
    p->n_dels = 0;
    unlink_all_dirty(p);
    if (!async_first)
        sl_io_hold_release(io);
    return 1;
}

void sl_persist_drain(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    if (!p)
        return;
    if (p->off && !sl_io_is_hold(s->io)) {
        offload_flush(s, 1); /* results of the batch in flight, hand the rest over */
        offload_flush(s, 1); /* and wait for that one too */
        return;
    }
    sl_persist_flush(s);
}

int sl_persist_busy(const struct sl_stack *s)
{
    const struct sl_persist *p = s->persist;
    return p && (p->down || (p->off && (p->off->busy || p->dirty_head)));
}

/* ---------------- restore ---------------- */

static int parse_meta(const uint8_t *m, uint32_t len, struct sl_pconn *pc, uint8_t *mflags,
                      const uint8_t **ckpt, uint32_t *ckpt_len)
{
    if (len < META_HDR || m[0] != META_VERSION || m[3] != 0 || m[2] > SL_REF_MAX ||
        (m[1] & ~(META_APP_CLOSED | META_COMMIT)))
        return -EINVAL;
    *mflags = m[1];
    uint32_t cl = get32(m + 4);
    size_t o = META_HDR;
    pc->n_refs = 0;
    for (unsigned i = 0; i < m[2]; i++) {
        if (len - o < 17)
            return -EINVAL;
        struct sl_ref *r = &pc->refs[pc->n_refs++];
        r->seq = get32(m + o);
        r->len = get32(m + o + 4);
        r->off = get64(m + o + 8);
        uint8_t nl = m[o + 16];
        if (nl >= SL_REF_NAME || len - o - 17 < nl)
            return -EINVAL;
        memcpy(r->obj, m + o + 17, nl);
        r->obj[nl] = 0;
        if (memchr(r->obj, 0, nl))
            return -EINVAL;
        o += 17 + nl;
    }
    if (len - o != cl)
        return -EINVAL;
    *ckpt = m + o;
    *ckpt_len = cl;
    return 0;
}

/* Reads object bytes into the send ring at seq (wrapping). */
static int fill_ref(struct sl_listener *l, struct sl_conn *c, const struct sl_ref *r)
{
    struct sl_tcb *t = &c->tcb;
    uint32_t done = 0;
    while (done < r->len) {
        uint32_t idx = (r->seq + done) & (t->snd_bufsz - 1);
        uint32_t n = r->len - done;
        if (n > t->snd_bufsz - idx)
            n = t->snd_bufsz - idx;
        ssize_t got = l->ref_read(l->user, r->obj, r->off + done, c->snd + idx, n);
        if (got <= 0)
            return got < 0 ? (int)got : -EIO;
        done += (uint32_t)got;
    }
    return 0;
}

static void ring_put(uint8_t *ring, uint32_t size, uint32_t seq, const uint8_t *src, uint32_t n)
{
    uint32_t idx = seq & (size - 1);
    uint32_t a = n < size - idx ? n : size - idx;
    memcpy(ring + idx, src, a);
    memcpy(ring, src + a, n - a);
}

/* Validates the rebuilt streams against the control block and the rings. */
static int check_streams(const struct sl_tcb *t, const struct sl_pconn *pc, uint32_t snd_len,
                         uint32_t sndbuf, uint32_t rcvbuf)
{
    if (t->snd_bufsz != sndbuf || t->rcv_bufsz != rcvbuf)
        return -EINVAL;
    uint32_t span = t->snd_end - t->snd_una;
    if (t->state >= SL_TCP_ESTABLISHED && span > sndbuf)
        return -EINVAL;
    uint32_t seq = t->snd_una, vbytes = 0;
    for (unsigned i = 0; i < pc->n_refs; i++) {
        const struct sl_ref *r = &pc->refs[i];
        if (sl_seq_lt(r->seq, seq) || sl_seq_gt(r->seq + r->len, t->snd_end) ||
            r->len > sndbuf)
            return -EINVAL;
        vbytes += r->seq - seq;
        seq = r->seq + r->len;
    }
    if (t->state >= SL_TCP_ESTABLISHED)
        vbytes += t->snd_end - seq;
    else
        vbytes = 0;
    return vbytes == snd_len ? 0 : -EINVAL;
}

/* Reads and verifies the flow's record into p->enc / r. 0 or -errno (counted). */
static int load_record(struct sl_stack *s, const char *key, const struct sl_flow *f,
                       struct sl_record *r)
{
    struct sl_persist *p = s->persist;
    size_t len = 0;
    uint64_t ver;
    int rc = sl_store_get(p->st, key, p->enc, p->enc_cap, &len, &ver);
    if (rc == -ENOBUFS) {
        /* never read (nor allocate for) more than any record of ours */
        size_t max = SL_REC_HDR_LEN + SL_TCB_PACKED_MAX + (size_t)s->tcfg.sndbuf +
                     s->tcfg.rcvbuf + SL_REC_MAX_CKPT + SL_REC_MAC_LEN;
        if (len > max) {
            SCTR(s, restore_oversize);
            plog("record %s refused: %zu bytes, more than any record (%zu)", key, len, max);
            return -EMSGSIZE;
        }
        if (grow(&p->enc, &p->enc_cap, len) < 0)
            return -ENOMEM;
        rc = sl_store_get(p->st, key, p->enc, p->enc_cap, &len, &ver);
    }
    if (rc == -ENOENT) {
        SCTR(s, restore_lookup_miss);
        return rc;
    }
    if (rc == -EBADMSG) { /* the stored bytes are not a value we wrote */
        SCTR(s, restore_bad_record);
        return rc;
    }
    if (rc < 0) {
        SCTR(s, restore_store_error);
        return rc;
    }
    rc = sl_record_decode(p->enc, len, p->key, f, s->now, r);
    if (rc < 0) {
        SCTR(s, restore_bad_record);
        plog("record %s refused: %s", key, strerror(-rc));
    }
    return rc;
}

/* 1 if the flow's epoch has been `epoch`, ahead of its record, for at
 * least STALE_US (its owner took it and died before writing). */
static int stale_owner(struct sl_persist *p, const struct sl_flow *f, uint64_t epoch,
                       uint64_t now)
{
    uint32_t h = flow_hash(f->raddr, f->rport, f->lport);
    struct stale_ent *x = &p->stale[h & (STALE_SLOTS - 1)];
    if (x->h == h && x->epoch == epoch)
        return now - x->since >= STALE_US;
    x->h = h;
    x->epoch = epoch;
    x->since = now;
    return 0;
}

/* Restores one flow. Returns the connection or NULL (counted). */
static struct sl_conn *restore_flow(struct sl_stack *s, struct sl_listener *l,
                                    const struct sl_flow *f)
{
    struct sl_persist *p = s->persist;
    char key[SL_STORE_KEY_MAX];
    sl_store_flow_key(key, sizeof(key), f, "rec");
    if (sl_table_find(s, f->raddr, f->rport, f->lport))
        return NULL;
    /* 1. the record, and who wrote it */
    struct sl_record r;
    uint64_t w = 0, cur = 0;
    int rc = load_record(s, key, f, &r);
    if (rc < 0)
        return NULL; /* counted */
    w = r.epoch;
    /* 2. ownership: take it from the WRITER's epoch. If the epoch moved past
     * the writer, another instance restored the flow first: back off (two
     * instances restoring at once, exactly one wins). An owner that took
     * the epoch and died before writing is taken over once that epoch has
     * stayed unchanged for STALE_US. */
    rc = sl_store_cas_epoch(p->st, key, w, w + 1, &cur);
    if (rc == -ESTALE && cur > w && stale_owner(p, f, cur, s->now))
        rc = sl_store_cas_epoch(p->st, key, cur, (w = cur) + 1, &cur);
    if (rc == -ESTALE) {
        SCTR(s, restore_lost_race);
        return NULL;
    }
    if (rc < 0) {
        SCTR(s, restore_store_error);
        return NULL;
    }
    uint64_t e = w; /* ours is e + 1 */
    /* 3. read it again: nobody can write it any more, so this copy is the
     * latest (the writer may have written between our read and our CAS) */
    if (load_record(s, key, f, &r) < 0)
        return NULL;
    struct sl_pconn tmp = {0};
    uint8_t mflags = 0;
    const uint8_t *ckpt = NULL;
    uint32_t ckpt_len = 0;
    if (parse_meta(r.ckpt, r.ckpt_len, &tmp, &mflags, &ckpt, &ckpt_len) < 0 ||
        check_streams(&r.tcb, &tmp, r.snd_len, s->tcfg.sndbuf, s->tcfg.rcvbuf) < 0 ||
        r.tcb.laddr != s->addr || r.tcb.state == SL_TCP_CLOSED ||
        r.tcb.state == SL_TCP_LISTEN || r.tcb.state == SL_TCP_TIME_WAIT ||
        ((mflags & META_COMMIT) != 0) != l->commit) {
        SCTR(s, restore_bad_record);
        plog("record %s refused: inconsistent with this listener", key);
        return NULL;
    }
    struct sl_tcp_restore_env env = {s->addr, s->netmask, s->tcfg.mss, s->tcfg.sndbuf,
                                     s->tcfg.rcvbuf, s->now};
    enum sl_ctr invalid = sl_tcp_validate_restored(&r.tcb, &env); /* the MAC is not enough */
    if (invalid) {
        s->ctr[invalid]++;
        plog("record %s refused: %s", key, sl_ctr_names[invalid]);
        return NULL;
    }
    if (r.tcb.state >= SL_TCP_ESTABLISHED && !l->ref_read && tmp.n_refs) {
        SCTR(s, restore_ref_error);
        return NULL;
    }
    /* 4. rebuild */
    int rings = r.tcb.state >= SL_TCP_ESTABLISHED;
    struct sl_conn *c = sl_conn_new(s, rings);
    if (!c)
        return NULL; /* counted (limits) */
    c->tcb = r.tcb;
    if (sl_persist_attach(s, c, l) < 0) {
        sl_conn_release(s, c);
        c->sflags |= SL_CF_DEAD;
        return NULL;
    }
    struct sl_pconn *pc = c->p;
    pc->epoch = e + 1;
    pc->flags |= SL_PC_OWNED | SL_PC_WRITTEN | SL_PC_RESTORED;
    pc->n_refs = tmp.n_refs;
    memcpy(pc->refs, tmp.refs, sizeof(tmp.refs));
    if (ckpt_len) {
        pc->ckpt = malloc(ckpt_len); /* on_restore gets it at sl_accept */
        if (pc->ckpt) {
            memcpy(pc->ckpt, ckpt, ckpt_len);
            pc->ckpt_len = ckpt_len;
        }
    }
    struct sl_tcb *t = &c->tcb;
    if (rings) {
        uint32_t seq = t->snd_una, v = 0;
        for (unsigned i = 0; i <= pc->n_refs; i++) {
            uint32_t stop = i < pc->n_refs ? pc->refs[i].seq : t->snd_end;
            if (sl_seq_lt(seq, stop)) {
                ring_put(c->snd, t->snd_bufsz, seq, r.snd + v, stop - seq);
                v += stop - seq;
            }
            if (i < pc->n_refs) {
                if (fill_ref(l, c, &pc->refs[i]) < 0) {
                    SCTR(s, restore_ref_error);
                    plog("record %s: object %s unreadable: flow dropped", key,
                         pc->refs[i].obj);
                    pconn_free(c);
                    c->sflags |= SL_CF_DEAD | SL_CF_APP_CLOSED;
                    sl_conn_release(s, c);
                    return NULL;
                }
                seq = pc->refs[i].seq + pc->refs[i].len;
            }
        }
        if (r.rcv_len)
            ring_put(c->rcv, t->rcv_bufsz, r.rcv_seq, r.rcv, r.rcv_len);
        t->rcv_read = r.rcv_seq + 0; /* the commit point */
        if (!r.rcv_len)
            t->rcv_read = t->rcv_nxt - ((t->flags & SL_TF_FIN_RCVD) ? 1u : 0u);
        pc->app_read = t->rcv_read;
    }
    SCTR(s, restore_ok);
    sl_table_insert(s, c);
    if (mflags & META_APP_CLOSED) {
        c->sflags |= SL_CF_APP_CLOSED | SL_CF_ACCEPTED; /* an orphan finishing its close */
    } else if (t->state == SL_TCP_SYN_RCVD) {
        c->listener = l;
        l->pending++;
    } else {
        sl_conn_enqueue_accept(s, l, c);
    }
    /* 5. go: retransmit from SND.UNA now */
    struct sl_tcp_out *out = sl_out_reset(s);
    struct sl_tcp_bufs b = {c->snd, c->rcv};
    sl_tcp_restored(t, &b, s->now, out);
    sl_conn_after(s, c);
    sl_persist_mark(s, c); /* the record now carries our epoch */
    return c;
}

struct list_ctx {
    struct sl_flow *v;
    uint32_t n, cap;
};

static int list_cb(void *arg, const char *key)
{
    struct list_ctx *x = arg;
    struct sl_flow f;
    const char *part;
    if (sl_store_flow_parse(key, &f, &part) < 0 || strcmp(part, "rec") != 0)
        return 0;
    if (x->n == x->cap) {
        uint32_t cap = x->cap ? x->cap * 2 : 64;
        struct sl_flow *v = realloc(x->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        x->v = v;
        x->cap = cap;
    }
    x->v[x->n++] = f;
    return 0;
}

int sl_persist_restore_all(struct sl_stack *s, struct sl_listener *l)
{
    struct sl_persist *p = s->persist;
    if (!p || l->durability == SL_DUR_OFF)
        return 0;
    char prefix[SL_STORE_KEY_MAX];
    sl_store_listener_prefix(prefix, sizeof(prefix), s->addr, l->port);
    struct list_ctx x = {0};
    int rc = sl_store_list(p->st, prefix, list_cb, &x);
    if (rc < 0) {
        plog("listing %s* failed: %s (flows restore on their next segment)", prefix,
             strerror(-rc));
        SCTR(s, restore_store_error);
    }
    int n = 0;
    for (uint32_t i = 0; i < x.n; i++)
        if (restore_flow(s, l, &x.v[i])) {
            SCTR(s, restore_startup);
            n++;
        }
    free(x.v);
    if (x.n)
        plog("restored %d of %u flow(s) on port %u", n, x.n, l->port);
    return n;
}

static uint32_t flow_hash(uint32_t raddr, uint16_t rport, uint16_t lport)
{
    uint32_t h = raddr * 0x9e3779b1u ^ ((uint32_t)rport << 16 | lport) * 0x85ebca77u;
    return h ^ (h >> 15);
}

int sl_persist_lookup(struct sl_stack *s, struct sl_listener *l, uint32_t raddr, uint16_t rport,
                      struct sl_conn **out)
{
    struct sl_persist *p = s->persist;
    *out = NULL;
    if (!p || l->durability == SL_DUR_OFF)
        return 0;
    uint32_t h = flow_hash(raddr, rport, l->port);
    uint32_t slot = h & (NEGCACHE_SLOTS - 1);
    if (p->neg[slot].h == h && p->neg[slot].until > s->now) {
        SCTR(s, restore_negcache_hit);
        return 0;
    }
    /* token bucket: LOOKUP_PER_SEC */
    uint64_t el = s->now - p->tok_ts;
    if (el >= 1000) {
        uint64_t add = el * LOOKUP_PER_SEC / 1000000u;
        if (add) {
            p->tokens = (uint32_t)(p->tokens + add > LOOKUP_PER_SEC ? LOOKUP_PER_SEC
                                                                    : p->tokens + add);
            p->tok_ts = s->now;
        }
    }
    if (!p->tokens) {
        SCTR(s, restore_lookup_limited);
        return 0;
    }
    p->tokens--;
    struct sl_flow f = {s->addr, raddr, l->port, rport};
    char key[SL_STORE_KEY_MAX];
    sl_store_flow_key(key, sizeof(key), &f, "rec");
    uint64_t e = 0;
    int rc = sl_store_epoch_get(p->st, key, &e);
    if ((rc == 0 && e == 0) || rc == -EBADMSG) { /* none, or a foreign value */
        s->ctr[rc ? SL_CTR_restore_bad_record : SL_CTR_restore_lookup_miss]++;
        p->neg[slot].h = h;
        p->neg[slot].until = s->now + NEGCACHE_US;
        return 0;
    }
    if (rc < 0)
        return -EAGAIN; /* the store is away: drop, the peer retransmits */
    uint64_t lost = s->ctr[SL_CTR_restore_lost_race] + s->ctr[SL_CTR_restore_store_error];
    struct sl_conn *c = restore_flow(s, l, &f);
    if (c) {
        SCTR(s, restore_on_demand);
        *out = c;
        return 1;
    }
    if (s->ctr[SL_CTR_restore_lost_race] + s->ctr[SL_CTR_restore_store_error] != lost)
        return -EAGAIN; /* the flow lives elsewhere (or may): never a RST */
    p->neg[slot].h = h;
    p->neg[slot].until = s->now + NEGCACHE_US;
    return 0;
}

/* ---------------- idle eviction ---------------- */

void sl_persist_evict(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    if (!p || p->down)
        return;
    unsigned budget = 256; /* per iteration: eviction never stalls the loop */
    while (p->lru_head && budget--) {
        struct sl_conn *c = p->lru_head;
        struct sl_pconn *pc = c->p;
        struct sl_listener *l = sl_find_listener(s, c->tcb.lport);
        uint64_t idle = l && l->evict_idle_ms ? (uint64_t)l->evict_idle_ms * 1000u : 0;
        if (!idle || s->now - pc->last_active < idle)
            return; /* the oldest is not idle enough: nobody is */
        const struct sl_tcb *t = &c->tcb;
        int quiet = t->state == SL_TCP_ESTABLISHED && (pc->flags & SL_PC_WRITTEN) &&
                    !(pc->flags & (SL_PC_LISTED | SL_PC_GONE | SL_PC_DONE)) &&
                    (c->sflags & SL_CF_ACCEPTED) && !(c->sflags & SL_CF_APP_CLOSED) &&
                    t->snd_una == t->snd_max && t->snd_max == t->snd_end && !t->t_rexmt &&
                    !t->t_delack && !(t->flags & SL_TF_ACK_NOW);
        if (!quiet) {
            lru_touch(s, c); /* busy after all: look again later */
            if (p->lru_head == c)
                return;
            continue;
        }
        /* its record is current (not dirty): drop it from memory only */
        pc->flags |= SL_PC_EVICTED;
        lru_unlink(p, c);
        SCTR(s, persist_evicted);
        sl_table_remove(s, c);
        sl_heap_update(s, c, 0);
        c->sflags |= SL_CF_DEAD | SL_CF_APP_CLOSED;
        c->ev |= SL_EV_EVICTED;
        sl_conn_release(s, c); /* SL_EV_CLOSED | SL_EV_EVICTED, then freed */
    }
}
