/* Persistence: the batch. A connection that changed in an iteration is on
 * the dirty list; at the end of the iteration every dirty flow goes in ONE
 * store batch (group commit), with the pending deletions; the results are
 * applied flow by flow (fenced out: superseded; store away: everything
 * stays dirty). Sync connections' frames of the iteration leave only once
 * the batch succeeded (output commit). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "stack/persist_int.h"

ssize_t sl_persist_encode(struct sl_stack *s, struct sl_conn *c, uint64_t epoch,
                          uint8_t meta_flags)
{
    struct sl_persist *p = s->persist;
    struct sl_pconn *pc = c->p;
    const struct sl_tcb *t = &c->tcb;
    sl_persist_trim_refs(c);

    /* metadata: refs, flags, the application's checkpoint */
    struct sl_meta md = {
        .flags = (uint8_t)(meta_flags | ((c->sflags & SL_CF_APP_CLOSED) ? SL_META_APP_CLOSED : 0) |
                           ((pc->flags & SL_PC_COMMIT) ? SL_META_COMMIT : 0)),
        .n_refs = pc->n_refs, .ckpt = pc->ckpt, .ckpt_len = pc->ckpt_len};
    memcpy(md.refs, pc->refs, sizeof(md.refs));
    size_t mlen = sl_meta_size(&md);
    if (sl_persist_grow(&p->meta, &p->meta_cap, mlen) < 0)
        return -ENOMEM;
    sl_meta_encode(&md, p->meta);

    struct sl_record_in in = {.tcb = t, .now_us = s->now, .epoch = epoch, .gen = ++pc->gen};
    /* send bytes by value: [snd_una, snd_end) minus the refs */
    in.snd_seq = t->snd_una;
    if (c->snd && t->state >= SL_TCP_ESTABLISHED && sl_seq_lt(t->snd_una, t->snd_end)) {
        uint32_t span = t->snd_end - t->snd_una, vlen = 0;
        if (sl_persist_grow(&p->val, &p->val_cap, span) < 0)
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
    if (sl_persist_grow(&p->enc, &p->enc_cap, (size_t)need) < 0)
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
    sl_stack_retire(s, c, -ESTALE);
}

void sl_persist_note_down(struct sl_stack *s, int rc, unsigned nflows)
{
    struct sl_persist *p = s->persist;
    if (!p->down) {
        p->down = 1;
        p->down_since = s->now;
        p->down_logged = s->now;
        sl_persist_log("%s unreachable (%s): %u connection(s) stalled until it answers again",
             sl_store_name(p->st), strerror(-rc), nflows);
    } else if (s->now - p->down_logged > 5000000u) {
        p->down_logged = s->now;
        sl_persist_log("%s still unreachable (%s) after %" PRIu64 " ms", sl_store_name(p->st),
             strerror(-rc), (s->now - p->down_since) / 1000);
    }
}

/* Queues one batch on `st` for every dirty flow and the pending
 * deletions; fills p->ops. Returns the number of ops. */
uint32_t sl_persist_build(struct sl_stack *s, struct sl_store *st, uint32_t *nflows,
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
        sl_persist_conn_flow(c, &f);
        sl_flow_key(key, sizeof(key), &f, "rec");
        int done = (pc->flags & SL_PC_DONE) || t->state == SL_TCP_TIME_WAIT ||
                   t->state == SL_TCP_CLOSED;
        if (done) {
            pc->flags |= SL_PC_DONE;
            if (pc->flags & SL_PC_WRITTEN) {
                sl_store_del(st, key, pc->epoch);
                p->ops[k++] = (struct pop){c, POP_DEL, f, pc->epoch};
                sl_store_cas_epoch(st, key, pc->epoch, 0, NULL);
                p->ops[k++] = (struct pop){c, POP_EPOCH_RESET, f, pc->epoch};
            }
            continue;
        }
        if (!(pc->flags & SL_PC_OWNED)) {
            uint64_t want = pc->epoch + 1;
            sl_store_cas_epoch(st, key, pc->epoch, want, NULL);
            p->ops[k++] = (struct pop){c, POP_CAS, f, 0};
        }
        uint64_t fence = (pc->flags & SL_PC_OWNED) ? pc->epoch : pc->epoch + 1;
        ssize_t n = sl_persist_encode(s, c, fence, 0);
        if (n < 0) {
            SCTR(s, persist_too_big);
            continue;
        }
        sl_store_put(st, key, p->enc, (size_t)n, SL_STORE_ANY, fence, NULL);
        p->ops[k++] = (struct pop){c, POP_PUT, f, 0};
        *total += (size_t)n;
    }
    for (uint32_t i = 0; i < p->n_dels; i++) {
        char key[SL_STORE_KEY_MAX];
        sl_flow_key(key, sizeof(key), &p->dels[i].flow, "rec");
        sl_store_del(st, key, p->dels[i].epoch);
        p->ops[k++] = (struct pop){NULL, POP_DEL, p->dels[i].flow, p->dels[i].epoch};
        sl_store_cas_epoch(st, key, p->dels[i].epoch, 0, NULL);
        p->ops[k++] = (struct pop){NULL, POP_EPOCH_RESET, p->dels[i].flow, p->dels[i].epoch};
    }
    return k;
}

/* Applies the results of a committed batch of k ops. `deferred`: the batch
 * was committed by the offloader while the loop went on, so connections
 * are looked up again by their 4-tuple (they may have gone meanwhile), and
 * on a failure they are marked dirty again (they left the list at
 * hand-off). Returns 1 if the batch failed (*first_err set). */
int sl_persist_apply(struct sl_stack *s, uint32_t k, int deferred, int *first_err,
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
            sl_stack_refuse(s, c);
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
            sl_flow_key(key, sizeof(key), &o->flow, "rec");
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
                sl_stack_refuse(s, c);
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

void sl_persist_note_up(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    if (p->down) {
        sl_persist_log("%s answers again after %" PRIu64 " ms; stalled connections resume",
             sl_store_name(p->st), (s->now - p->down_since) / 1000);
        p->down = 0;
    }
}

void sl_persist_unlist_all(struct sl_persist *p)
{
    while (p->dirty_head)
        sl_persist_unlist(p, p->dirty_head);
}

/* End of an iteration: one batch for every changed flow; then the held
 * (sync) frames go out, or are discarded if the store did not take the
 * batch. Frames of async and non-durable connections were never held. */
int sl_persist_flush(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    struct sl_io *io = s->io;
    if (p && p->off && !p->hold) {
        io->ops->tx_flush(io); /* write-behind: frames go first */
        return sl_persist_offload_flush(s, 0);
    }
    if (!p || (!p->dirty_head && !p->n_dels)) {
        sl_io_hold_release(io); /* nothing to make durable (a plain flush without a hold) */
        return 0;
    }
    if (!p->hold)
        io->ops->tx_flush(io); /* write-behind: frames go first */

    uint32_t nflows;
    size_t total;
    uint32_t k = sl_persist_build(s, p->st, &nflows, &total);
    sl_store_commit(p->st, p->res, k); /* every op's own result says what happened */
    SCTR(s, persist_batches);
    int first_err, fenced;
    if (sl_persist_apply(s, k, 0, &first_err, &fenced)) {
        SCTR(s, persist_store_errors);
        if (p->hold) {
            SCTR(s, persist_stalled_iters);
            sl_io_hold_discard(p->hold); /* sync frames only */
        }
        sl_persist_note_down(s, first_err, nflows);
        /* everything stays dirty: written again on the next iteration
         * (the loop polls at most 10 ms apart meanwhile) */
        return 0;
    }
    if (fenced && p->hold) {
        /* frames built from a flow's state that is not durable (its new
         * owner has another) must not leave; the other sync flows' frames
         * of this iteration go too, and TCP sends them again */
        sl_io_hold_discard(p->hold);
    }
    s->ctr[SL_CTR_persist_bytes] += total;
    sl_persist_note_up(s);
    p->n_dels = 0;
    sl_persist_unlist_all(p);
    if (p->hold)
        sl_io_hold_release(p->hold);
    return 1;
}

void sl_persist_drain(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    if (!p)
        return;
    if (p->off && !p->hold) {
        sl_persist_offload_flush(s, 1); /* results of the batch in flight, hand the rest over */
        sl_persist_offload_flush(s, 1); /* and wait for that one too */
        return;
    }
    sl_persist_flush(s);
}

int sl_persist_busy(const struct sl_stack *s)
{
    const struct sl_persist *p = s->persist;
    if (!p)
        return 0;
    for (unsigned i = 0; i < SL_MAX_LISTENERS; i++)
        if (p->lru[i].retry_due)
            return 1; /* a restore to try again soon */
    return p->down || (p->off && (p->off->busy || p->dirty_head));
}
