/* Persistence: restore. At listen time every record of the listener's
 * address and port is restored; a segment for an unknown flow triggers a
 * lookup (token bucket + negative cache, so a storm of random 4-tuples
 * cannot become a store storm; a spent budget drops the segment, never a
 * RST). A restore takes ownership, reads and verifies the record, rebuilds
 * rings and control block and hands the connection to the stack
 * (sl_stack_adopt), which retransmits from SND.UNA at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack/persist_int.h"
#include "tcp/tcp_validate.h"

static enum sl_restore_why load_why(int rc)
{
    return rc == -ENOENT ? SL_RESTORE_ABSENT
           : rc == -ENOMEM ? SL_RESTORE_LIMIT
           : (rc == -EBADMSG || rc == -EINVAL || rc == -EMSGSIZE || rc == -ENOMSG ||
              rc == -EPROTONOSUPPORT || rc == -EXDEV)
               ? SL_RESTORE_BAD
               : SL_RESTORE_STORE;
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

/* Reads and verifies the flow's record into p->enc / r. 0 or -errno (counted). */
static int load_record(struct sl_stack *s, const char *key, const struct sl_flow *f,
                       struct sl_record *r, uint64_t *ver)
{
    struct sl_persist *p = s->persist;
    size_t len = 0;
    int rc = sl_store_get(p->st, key, p->enc, p->enc_cap, &len, ver);
    if (rc == -ENOBUFS) {
        /* never read (nor allocate for) more than any record of ours */
        size_t max = SL_REC_HDR_LEN + SL_TCB_PACKED_MAX + (size_t)s->tcfg.sndbuf +
                     s->tcfg.rcvbuf + SL_REC_MAX_CKPT + SL_REC_MAC_LEN;
        if (len > max) {
            SCTR(s, restore_oversize);
            sl_persist_log("record %s refused: %zu bytes, more than any record (%zu)", key, len,
                           max);
            return -EMSGSIZE;
        }
        if (sl_persist_grow(&p->enc, &p->enc_cap, len) < 0)
            return -ENOMEM;
        rc = sl_store_get(p->st, key, p->enc, p->enc_cap, &len, ver);
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
        sl_persist_log("record %s refused: %s", key, strerror(-rc));
    }
    return rc;
}

/* One attempt; SL_RESTORE_RETRY: the live owner wrote meanwhile. */
#define SL_RESTORE_RETRY ((enum sl_restore_why)100)
static enum sl_restore_why restore_once(struct sl_stack *s, struct sl_listener *l,
                                        const struct sl_flow *f, const char *key,
                                        struct sl_conn **out)
{
    struct sl_persist *p = s->persist;
    /* 1. who owns it, then the record (its version is the take's condition) */
    uint64_t cur = 0, ver = 0;
    int rc = sl_store_epoch_get(p->st, key, &cur);
    if (rc < 0) {
        SCTR(s, restore_store_error);
        return SL_RESTORE_STORE;
    }
    struct sl_record r;
    if ((rc = load_record(s, key, f, &r, &ver)) < 0)
        return load_why(rc); /* counted */
    /* 2. ownership is taken below together with the write of the record
     * carrying it (sl_store_take: one atomic store operation), so no
     * instant exists where the epoch is ahead of the record: an instance
     * killed while restoring leaves either the old owner's record and
     * epoch or ours, never a stranded flow. From the epoch read in the
     * store (cur): the writer's own (a live or dead owner, or cur 0 once
     * the store lost its epochs) or, from a version that moved the epoch
     * first, one ahead of its record, whose holder has nothing durable
     * beyond the record. If someone moves it meanwhile, the take fails:
     * exactly one of several instances restoring at once wins. */
    uint64_t e = cur > r.epoch ? cur : r.epoch; /* ours is e + 1 */
    struct sl_meta md = {0};
    if (sl_meta_parse(r.ckpt, r.ckpt_len, &md) < 0 ||
        sl_meta_check_streams(&r.tcb, &md, r.snd_len, s->tcfg.sndbuf, s->tcfg.rcvbuf) < 0 ||
        r.tcb.laddr != s->addr || r.tcb.state == SL_TCP_CLOSED ||
        r.tcb.state == SL_TCP_LISTEN || r.tcb.state == SL_TCP_TIME_WAIT ||
        ((md.flags & SL_META_COMMIT) != 0) != l->commit) {
        SCTR(s, restore_bad_record);
        sl_persist_log("record %s refused: inconsistent with this listener", key);
        return SL_RESTORE_BAD;
    }
    /* a good MAC is not enough: every field is checked before the engine
     * sees it (a forged or buggy record refuses only its own flow) */
    struct sl_tcp_restore_env env = {s->addr, s->netmask, s->tcfg.mss, s->tcfg.sndbuf,
                                     s->tcfg.rcvbuf, s->now};
    enum sl_ctr invalid = sl_tcp_validate_restored(&r.tcb, &env);
    if (invalid) {
        s->ctr[invalid]++;
        sl_persist_log("record %s refused: %s", key, sl_ctr_names[invalid]);
        return SL_RESTORE_BAD;
    }
    if (r.tcb.state >= SL_TCP_ESTABLISHED && !l->ref_read && md.n_refs) {
        SCTR(s, restore_ref_error);
        return SL_RESTORE_REF;
    }
    /* 4. rebuild */
    int rings = r.tcb.state >= SL_TCP_ESTABLISHED;
    struct sl_conn *c = sl_conn_new(s, rings);
    if (!c)
        return SL_RESTORE_LIMIT; /* counted (limits) */
    c->tcb = r.tcb;
    if (sl_persist_attach(s, c, l) < 0) {
        sl_stack_discard(s, c);
        return SL_RESTORE_LIMIT;
    }
    struct sl_pconn *pc = c->p;
    pc->epoch = e + 1; /* ours once the take below succeeds */
    pc->flags |= SL_PC_OWNED | SL_PC_WRITTEN | SL_PC_RESTORED;
    pc->n_refs = md.n_refs;
    memcpy(pc->refs, md.refs, sizeof(md.refs));
    if (md.ckpt_len) {
        pc->ckpt = malloc(md.ckpt_len); /* on_restore gets it at sl_accept */
        if (pc->ckpt) {
            memcpy(pc->ckpt, md.ckpt, md.ckpt_len);
            pc->ckpt_len = md.ckpt_len;
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
                    /* The stream cannot go on without a wrong byte (the
                     * object changed or is gone): reset it (RFC 9293
                     * 3.10.5 ABORT); its record is deleted, fenced. */
                    SCTR(s, restore_ref_error);
                    sl_persist_log("record %s: object %s unreadable: flow reset", key,
                                   pc->refs[i].obj);
                    /* the record goes now, fenced by the epoch read (nothing
                     * was taken), so the flow's next segments find it gone */
                    if (sl_store_del(p->st, key, cur) == 0) {
                        SCTR(s, persist_deletes);
                        sl_store_cas_epoch(p->st, key, cur, 0, NULL);
                    }
                    pc->flags &= (uint8_t)~SL_PC_WRITTEN;
                    sl_stack_reset_restored(s, c);
                    return SL_RESTORE_REF;
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
    /* 5. take it: ownership and the record carrying it, at once */
    ssize_t n = sl_persist_encode(s, c, e + 1, md.flags & SL_META_APP_CLOSED);
    uint64_t now_epoch = 0;
    rc = n < 0 ? (int)n : sl_store_take(p->st, key, p->enc, (size_t)n, ver, cur, e + 1, &now_epoch);
    if (rc < 0) {
        sl_persist_pconn_free(c); /* nothing of ours is in the store */
        sl_stack_discard(s, c);
        if (rc == -ESTALE && now_epoch == cur)
            return SL_RESTORE_RETRY; /* the owner wrote a newer record: read it */
        if (rc == -ESTALE) {
            SCTR(s, restore_lost_race);
            return SL_RESTORE_ELSEWHERE;
        }
        SCTR(s, restore_store_error);
        return n < 0 ? SL_RESTORE_LIMIT : SL_RESTORE_STORE;
    }
    SCTR(s, restore_ok);
    /* 6. go: the stack takes it and sends what is due (from SND.UNA) now;
     * it is marked dirty there, so the record carries our epoch */
    sl_stack_adopt(s, l, c,
                   (md.flags & SL_META_APP_CLOSED) ? SL_ADOPT_ORPHAN /* finishing its close */
                   : t->state == SL_TCP_SYN_RCVD ? SL_ADOPT_HALF_OPEN
                                                 : SL_ADOPT_ACCEPT);
    *out = c;
    return SL_RESTORE_OK;
}

enum sl_restore_why sl_persist_restore(struct sl_stack *s, struct sl_listener *l,
                                       const struct sl_flow *f, struct sl_conn **out)
{
    char key[SL_STORE_KEY_MAX];
    *out = NULL;
    sl_flow_key(key, sizeof(key), f, "rec");
    if (sl_table_find(s, f->raddr, f->rport, f->lport))
        return SL_RESTORE_HELD;
    for (unsigned i = 0; i < 3; i++) { /* bounded: a live owner writes every iteration */
        enum sl_restore_why why = restore_once(s, l, f, key, out);
        if (why != SL_RESTORE_RETRY)
            return why;
    }
    SCTR(s, restore_lost_race); /* its owner is alive and busy: it keeps it */
    return SL_RESTORE_ELSEWHERE;
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
    if (sl_flow_parse(key, &f, &part) < 0 || strcmp(part, "rec") != 0)
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

/* Restores every flow of l found in the store; *failed: the listing or
 * some restore failed for a reason that may pass (store, limits). */
static int restore_listed(struct sl_stack *s, struct sl_listener *l, int *failed)
{
    struct sl_persist *p = s->persist;
    char prefix[SL_STORE_KEY_MAX];
    sl_flow_prefix(prefix, sizeof(prefix), s->addr, l->port);
    struct list_ctx x = {0};
    *failed = 0;
    int rc = sl_store_list(p->st, prefix, list_cb, &x);
    if (rc < 0) {
        sl_persist_log("listing %s* failed: %s (retried from a timer; flows also restore "
                       "on their next segment)", prefix, strerror(-rc));
        SCTR(s, restore_store_error);
        *failed = 1;
    }
    int n = 0;
    for (uint32_t i = 0; i < x.n; i++) {
        struct sl_conn *c;
        enum sl_restore_why why = sl_persist_restore(s, l, &x.v[i], &c);
        if (why == SL_RESTORE_OK) {
            SCTR(s, restore_startup);
            n++;
        } else if (why == SL_RESTORE_STORE || why == SL_RESTORE_LIMIT) {
            *failed = 1;
        }
    }
    free(x.v);
    if (x.n)
        sl_persist_log("restored %d of %u flow(s) on port %u", n, x.n, l->port);
    return n;
}

#define RETRY_FIRST_US 10000u  /* 10 ms, doubling */
#define RETRY_MAX_US 1000000u  /* to 1 s */
#define RETRY_TRIES 12         /* about 7 s in all */

static void retry_schedule(struct sl_stack *s, struct plru *q, int failed)
{
    if (!failed) {
        q->retry_due = 0;
        q->retry_tries = 0;
        return;
    }
    if (q->retry_tries >= RETRY_TRIES) {
        sl_persist_log("port %u: flows still not restored after %u tries: they restore on "
                       "their next segment", q->port, q->retry_tries);
        q->retry_due = 0;
        q->retry_tries = 0;
        return;
    }
    uint64_t back = (uint64_t)RETRY_FIRST_US << q->retry_tries;
    q->retry_due = s->now + (back > RETRY_MAX_US ? RETRY_MAX_US : back);
    q->retry_tries++;
}

int sl_persist_restore_all(struct sl_stack *s, struct sl_listener *l)
{
    struct sl_persist *p = s->persist;
    if (!p || l->durability == SL_DUR_OFF)
        return 0;
    int failed;
    int n = restore_listed(s, l, &failed);
    struct plru *q = sl_persist_lru_of(p, l->port);
    if (q) {
        q->retry_tries = 0;
        retry_schedule(s, q, failed);
    }
    return n;
}

void sl_persist_retry(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    if (!p)
        return;
    for (unsigned i = 0; i < SL_MAX_LISTENERS; i++) {
        struct plru *q = &p->lru[i];
        if (!q->port || !q->retry_due || s->now < q->retry_due)
            continue;
        struct sl_listener *l = sl_find_listener(s, q->port);
        if (!l || l->durability == SL_DUR_OFF) {
            q->retry_due = 0;
            continue;
        }
        SCTR(s, restore_retries);
        int failed;
        restore_listed(s, l, &failed);
        retry_schedule(s, q, failed);
    }
}

uint32_t sl_persist_neg_slot(const struct sl_persist *p, uint32_t raddr, uint16_t rport,
                         uint16_t lport)
{
    uint8_t in[8], h[crypto_shorthash_BYTES];
    memcpy(in, &raddr, 4);
    memcpy(in + 4, &rport, 2);
    memcpy(in + 6, &lport, 2);
    crypto_shorthash(h, in, sizeof(in), p->neg_key);
    uint32_t v;
    memcpy(&v, h, sizeof(v));
    return v & (NEGCACHE_SLOTS - 1);
}

static int neg_hit(const struct sl_persist *p, uint32_t slot, uint32_t raddr, uint16_t rport,
                   uint16_t lport, uint64_t now)
{
    return p->neg[slot].raddr == raddr && p->neg[slot].rport == rport &&
           p->neg[slot].lport == lport && p->neg[slot].until > now;
}

static void neg_put(struct sl_persist *p, uint32_t slot, uint32_t raddr, uint16_t rport,
                    uint16_t lport, uint64_t now)
{
    p->neg[slot].raddr = raddr;
    p->neg[slot].rport = rport;
    p->neg[slot].lport = lport;
    p->neg[slot].until = now + NEGCACHE_US;
}

int sl_persist_lookup(struct sl_stack *s, struct sl_listener *l, uint32_t raddr, uint16_t rport,
                      struct sl_conn **out)
{
    struct sl_persist *p = s->persist;
    *out = NULL;
    if (!p || l->durability == SL_DUR_OFF)
        return 0;
    uint32_t slot = sl_persist_neg_slot(p, raddr, rport, l->port);
    if (neg_hit(p, slot, raddr, rport, l->port, s->now)) {
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
        /* the flow may be in the store: a RST could kill a live flow, so
         * drop the segment (the peer retransmits once the budget refills) */
        SCTR(s, restore_lookup_limited);
        return -EAGAIN;
    }
    p->tokens--;
    struct sl_flow f = {s->addr, raddr, l->port, rport};
    char key[SL_STORE_KEY_MAX];
    sl_flow_key(key, sizeof(key), &f, "rec");
    uint64_t e = 0;
    int rc = sl_store_epoch_get(p->st, key, &e);
    if ((rc == 0 && e == 0) || rc == -EBADMSG) { /* none, or a foreign value */
        s->ctr[rc ? SL_CTR_restore_bad_record : SL_CTR_restore_lookup_miss]++;
        neg_put(p, slot, raddr, rport, l->port, s->now);
        return 0;
    }
    if (rc < 0)
        return -EAGAIN; /* the store is away: drop, the peer retransmits */
    switch (sl_persist_restore(s, l, &f, out)) {
    case SL_RESTORE_OK:
        SCTR(s, restore_on_demand);
        return 1;
    case SL_RESTORE_ABSENT:
    case SL_RESTORE_BAD: /* unknown to us for good: answered as such */
        neg_put(p, slot, raddr, rport, l->port, s->now);
        return 0;
    default: /* the flow lives elsewhere (or may): never a RST */
        return -EAGAIN;
    }
}
