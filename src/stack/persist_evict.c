/* Persistence: idle eviction. Connections of a listener with
 * evict_idle_ms leave memory once idle that long (their record is current
 * and stays); one LRU per listener port, oldest at the head, so nothing
 * scans the others and a listener without eviction never blocks one with
 * it. A segment of an evicted flow restores it on demand. */
#include <errno.h>

#include "stack/persist_int.h"

struct plru *sl_persist_lru_of(struct sl_persist *p, uint16_t port)
{
    struct plru *free_slot = NULL;
    for (unsigned i = 0; i < SL_MAX_LISTENERS; i++) {
        if (p->lru[i].port == port)
            return &p->lru[i];
        if (!p->lru[i].port && !free_slot)
            free_slot = &p->lru[i];
    }
    if (free_slot)
        free_slot->port = port;
    return free_slot;
}

void sl_persist_lru_unlink(struct sl_persist *p, struct sl_conn *c)
{
    struct sl_pconn *pc = c->p;
    if (pc->lru >= SL_MAX_LISTENERS)
        return;
    struct plru *q = &p->lru[pc->lru];
    if (pc->lru_prev)
        pc->lru_prev->p->lru_next = pc->lru_next;
    else if (q->head == c)
        q->head = pc->lru_next;
    if (pc->lru_next)
        pc->lru_next->p->lru_prev = pc->lru_prev;
    else if (q->tail == c)
        q->tail = pc->lru_prev;
    pc->lru_prev = pc->lru_next = NULL;
}

/* Most recently active at the tail. */
void sl_persist_lru_touch(struct sl_stack *s, struct sl_conn *c)
{
    struct sl_persist *p = s->persist;
    struct sl_pconn *pc = c->p;
    pc->last_active = s->now;
    if (pc->lru >= SL_MAX_LISTENERS)
        return;
    struct plru *q = &p->lru[pc->lru];
    if (q->tail == c)
        return;
    sl_persist_lru_unlink(p, c);
    pc->lru_prev = q->tail;
    if (q->tail)
        q->tail->p->lru_next = c;
    else
        q->head = c;
    q->tail = c;
}

static int quiet(const struct sl_conn *c)
{
    const struct sl_pconn *pc = c->p;
    const struct sl_tcb *t = &c->tcb;
    return t->state == SL_TCP_ESTABLISHED && (pc->flags & SL_PC_WRITTEN) &&
           !(pc->flags & (SL_PC_LISTED | SL_PC_GONE | SL_PC_DONE)) &&
           (c->sflags & SL_CF_ACCEPTED) && !(c->sflags & SL_CF_APP_CLOSED) &&
           t->snd_una == t->snd_max && t->snd_max == t->snd_end && !t->t_rexmt &&
           !t->t_delack && !(t->flags & SL_TF_ACK_NOW);
}

/* Evicts from one listener's LRU; returns the budget left. */
static unsigned evict_one_lru(struct sl_stack *s, struct plru *q, unsigned budget)
{
    struct sl_persist *p = s->persist;
    uint64_t idle = (uint64_t)q->idle_ms * 1000u;
    while (q->head && budget) {
        budget--;
        struct sl_conn *c = q->head;
        struct sl_pconn *pc = c->p;
        if (s->now - pc->last_active < idle)
            break; /* the oldest is not idle enough: nobody is */
        if (!quiet(c)) {
            sl_persist_lru_touch(s, c); /* busy after all: look again later */
            if (q->head == c)
                break;
            continue;
        }
        /* its record is current (not dirty): drop it from memory only */
        pc->flags |= SL_PC_EVICTED;
        sl_persist_lru_unlink(p, c);
        SCTR(s, persist_evicted);
        sl_stack_evict(s, c);
    }
    return budget;
}

void sl_persist_evict(struct sl_stack *s)
{
    struct sl_persist *p = s->persist;
    if (!p || p->down)
        return;
    unsigned budget = 256; /* per iteration: eviction never stalls the loop */
    for (unsigned i = 0; i < SL_MAX_LISTENERS && budget; i++)
        if (p->lru[i].port && p->lru[i].idle_ms)
            budget = evict_one_lru(s, &p->lru[i], budget);
}
