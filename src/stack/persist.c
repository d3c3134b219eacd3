/* Externalized connection state, stack side: the handle, per-connection
 * state, the dirty list, send-by-reference extents and checkpoints (the
 * other jobs: persist_int.h).
 *
 * What is written. One record per flow, key sl:{L:LP-R:RP}:rec, sealed by
 * record.c (magic, version, HMAC): the packed control block; the send
 * bytes of [SND.UNA, SND.END) that are NOT object content, concatenated in
 * sequence order; the receive bytes [RCV.READ, RCV.NXT) (RCV.READ is the
 * application's commit point: its read point at level 1, sl_conn_commit's
 * at level 2); and the metadata of src/state/meta.h (send-by-reference
 * extents, the application's checkpoint) in the record's checkpoint field.
 *
 * When. A connection that changed in an iteration is on the dirty list;
 * at the end of the iteration sl_persist_flush writes every dirty flow in
 * ONE store batch (group commit: one round trip for Redis, a memcpy per
 * flow for shm). The frames of a SL_DUR_SYNC connection are held by the
 * io_hold wrapper (each frame tagged by its connection's durability) and
 * only released once the batch succeeded (output commit); if it failed
 * they are discarded, the flows stay dirty
 * and the next iteration tries again: connections stall, none breaks, and
 * one log line says the store is away (another when it is back). With
 * SL_DUR_ASYNC and SL_DUR_OFF connections' frames are never held: async
 * is write-behind (a crash loses at most one iteration).
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stack/persist_int.h"

void sl_persist_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sltcp: store: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int sl_persist_create(struct sl_stack *s, const char *uri, const uint8_t *key,
                      struct sl_persist **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!uri || !*uri)
        return 0;
    if (!key) { /* no built-in key: a public key would let anyone forge records */
        char nk[256];
        snprintf(err, errlen, "store %s: no store key (sl_config.store_key): records "
                 "must be sealed with a secret 32-byte key",
                 sl_store_uri_redact(uri, nk, sizeof(nk)));
        return -EINVAL;
    }
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
    memcpy(p->key, key, SL_REC_KEY_LEN);
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
        sl_persist_log("%s does not answer yet (%s): connections wait for it", safe,
                       strerror(-rc));
    p->tokens = LOOKUP_PER_SEC;
    p->tok_ts = s->now;
    for (unsigned i = 0; i < SL_MAX_LISTENERS; i++)
        p->lru[i].port = 0;
    randombytes_buf(p->neg_key, sizeof(p->neg_key));
    p->uri = strdup(uri);
    *out = p;
    return 0;
}

void sl_persist_destroy(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    if (!p)
        return;
    sl_persist_offload_stop(p);
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

void sl_persist_pconn_free(struct sl_conn *c)
{
    if (!c->p)
        return;
    free(c->p->ckpt);
    free(c->p);
    c->p = NULL;
}

void sl_persist_drop(struct sl_conn *c) { sl_persist_pconn_free(c); }

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
    struct plru *lru = sl_persist_lru_of(s->persist, l->port);
    pc->lru = lru ? (uint8_t)(lru - s->persist->lru) : 0xff;
    c->p = pc;
    return 0;
}

void sl_persist_unlist(struct sl_persist *p, struct sl_conn *c)
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

void sl_persist_mark(struct sl_stack *s, struct sl_conn *c)
{
    struct sl_persist *p = s->persist;
    struct sl_pconn *pc = c->p;
    if (p && pc && !(pc->flags & (SL_PC_GONE | SL_PC_DONE)))
        sl_persist_lru_touch(s, c);
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

void sl_persist_conn_flow(const struct sl_conn *c, struct sl_flow *f)
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
        sl_persist_unlist(p, c);
        sl_persist_lru_unlink(p, c);
        if ((pc->flags & SL_PC_WRITTEN) && !(pc->flags & (SL_PC_GONE | SL_PC_EVICTED))) {
            if (!p->dels)
                p->dels = calloc(MAX_DELS, sizeof(*p->dels));
            if (p->dels && p->n_dels < MAX_DELS) {
                sl_persist_conn_flow(c, &p->dels[p->n_dels].flow);
                p->dels[p->n_dels++].epoch = pc->epoch;
            } else {
                SCTR(s, persist_store_errors); /* left for the owner's next restore */
            }
        }
    }
    sl_persist_pconn_free(c);
}

/* ---------------- references (send by reference) ---------------- */

void sl_persist_trim_refs(struct sl_conn *c)
{
    if (c->p)
        sl_meta_trim_refs(c->p->refs, &c->p->n_refs, c->tcb.snd_una);
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

int sl_persist_grow(uint8_t **b, size_t *cap, size_t need)
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


int sl_persist_listen(struct sl_stack *s, struct sl_listener *l)
{
    struct sl_persist *p = s->persist;
    if (!p || l->durability == SL_DUR_OFF)
        return 0;
    struct plru *lru = sl_persist_lru_of(p, l->port);
    if (lru)
        lru->idle_ms = l->evict_idle_ms;
    if (l->durability == SL_DUR_SYNC && !p->hold) {
        if (p->off) { /* sync output commit batches in the loop */
            sl_persist_drain(s);
            sl_persist_offload_stop(p);
        }
        struct sl_io *h;
        int r = sl_io_hold_wrap(s->io, &h);
        if (r < 0)
            return r;
        s->io = p->hold = h; /* output commit: sync frames wait for the store */
    }
    if (l->durability == SL_DUR_ASYNC && !p->hold)
        sl_persist_offload_start(s); /* failing that, writes stay in the loop */
    return 0;
}

void sl_persist_tx(struct sl_stack *s, const struct sl_conn *c)
{
    struct sl_persist *p = s->persist;
    if (p && p->hold) /* frames of no connection are held (conservative) */
        sl_io_hold_pass(p->hold, c && (!c->p || c->p->dur != SL_DUR_SYNC));
}

int sl_persist_synced(const struct sl_conn *c)
{
    if (!c->p)
        return -EINVAL;
    return !(c->p->flags & SL_PC_LISTED) && (c->p->flags & (SL_PC_WRITTEN | SL_PC_DONE)) != 0;
}
