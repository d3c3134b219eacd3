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
            sl_persist_log("record %s refused: %zu bytes, more than any record (%zu)", key, len,
                           max);
            return -EMSGSIZE;
        }
        if (sl_persist_grow(&p->enc, &p->enc_cap, len) < 0)
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
        sl_persist_log("record %s refused: %s", key, strerror(-rc));
    }
    return rc;
}

/* 1 if the flow's epoch has been `epoch`, ahead of its record, for at
 * least STALE_US (its owner took it and died before writing). */
static int stale_owner(struct sl_persist *p, const struct sl_flow *f, uint64_t epoch,
                       uint64_t now)
{
    struct stale_ent *x = &p->stale[sl_persist_neg_slot(p, f->raddr, f->rport, f->lport) & (STALE_SLOTS - 1)];
    if (!memcmp(&x->f, f, sizeof(*f)) && x->epoch == epoch)
        return now - x->since >= STALE_US;
    x->f = *f;
    x->epoch = epoch;
    x->since = now;
    return 0;
}

enum sl_restore_why sl_persist_restore(struct sl_stack *s, struct sl_listener *l,
                                       const struct sl_flow *f, struct sl_conn **out)
{
    struct sl_persist *p = s->persist;
    char key[SL_STORE_KEY_MAX];
    *out = NULL;
    sl_flow_key(key, sizeof(key), f, "rec");
    if (sl_table_find(s, f->raddr, f->rport, f->lport))
        return SL_RESTORE_HELD;
    /* 1. the record, and who wrote it */
    struct sl_record r;
    uint64_t w = 0, cur = 0;
    int rc = load_record(s, key, f, &r);
    if (rc < 0)
        return load_why(rc); /* counted */
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
        return SL_RESTORE_ELSEWHERE;
    }
    if (rc < 0) {
        SCTR(s, restore_store_error);
        return SL_RESTORE_STORE;
    }
    uint64_t e = w; /* ours is e + 1 */
    /* 3. read it again: nobody can write it any more, so this copy is the
     * latest (the writer may have written between our read and our CAS) */
    if ((rc = load_record(s, key, f, &r)) < 0)
        return load_why(rc);
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
    pc->epoch = e + 1;
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
    SCTR(s, restore_ok);
    /* 5. go: the stack takes it and sends what is due (from SND.UNA) now;
     * it is marked dirty there, so the record carries our epoch */
    sl_stack_adopt(s, l, c,
                   (md.flags & SL_META_APP_CLOSED) ? SL_ADOPT_ORPHAN /* finishing its close */
                   : t->state == SL_TCP_SYN_RCVD ? SL_ADOPT_HALF_OPEN
                                                 : SL_ADOPT_ACCEPT);
    *out = c;
    return SL_RESTORE_OK;
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

int sl_persist_restore_all(struct sl_stack *s, struct sl_listener *l)
{
    struct sl_persist *p = s->persist;
    if (!p || l->durability == SL_DUR_OFF)
        return 0;
    char prefix[SL_STORE_KEY_MAX];
    sl_flow_prefix(prefix, sizeof(prefix), s->addr, l->port);
    struct list_ctx x = {0};
    int rc = sl_store_list(p->st, prefix, list_cb, &x);
    if (rc < 0) {
        sl_persist_log("listing %s* failed: %s (flows restore on their next segment)", prefix,
             strerror(-rc));
        SCTR(s, restore_store_error);
    }
    int n = 0;
    for (uint32_t i = 0; i < x.n; i++) {
        struct sl_conn *c;
        if (sl_persist_restore(s, l, &x.v[i], &c) == SL_RESTORE_OK) {
            SCTR(s, restore_startup);
            n++;
        }
    }
    free(x.v);
    if (x.n)
        sl_persist_log("restored %d of %u flow(s) on port %u", n, x.n, l->port);
    return n;
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
