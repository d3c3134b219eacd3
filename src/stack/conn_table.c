/* Connection table (4-tuple hash, open addressing with linear probing and
 * backward-shift deletion) and timer heap (binary min-heap on each
 * connection's earliest deadline). Both are O(1)/O(log n) per operation,
 * so nothing ever scans every connection. */
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "stack/stack.h"

/* Keyed (SipHash-2-4, a random key per stack): a peer choosing 4-tuples
 * cannot aim them at one probe chain. */
static inline uint32_t tuple_hash(const struct sl_stack *s, uint32_t raddr, uint16_t rport,
                                  uint16_t lport)
{
    uint8_t in[8];
    sl_put32(in, raddr);
    sl_put16(in + 4, rport);
    sl_put16(in + 6, lport);
    return (uint32_t)sl_hash64(s->table_key, in, sizeof(in));
}

int sl_table_init(struct sl_stack *s, uint32_t max_conns)
{
    uint32_t n = 16;
    while (n < 2 * max_conns)
        n <<= 1;
    s->table = malloc((size_t)n * sizeof(*s->table)); /* zeroed below */
    s->heap_cap = max_conns + 16; /* each connection is in the heap at most once */
    s->heap = malloc(s->heap_cap * sizeof(*s->heap));
    if (!s->table || !s->heap)
        return -1;
    /* Touch both now: a flood of random 4-tuples would otherwise fault
     * in their pages one by one, and resident memory would grow under
     * attack instead of being what the limits say from the start. */
    memset(s->table, 0, (size_t)n * sizeof(*s->table));
    memset(s->heap, 0, (size_t)s->heap_cap * sizeof(*s->heap));
    s->table_mask = n - 1;
    sl_hash_key_new(s->table_key);
    return 0;
}

void sl_table_free(struct sl_stack *s)
{
    free(s->table);
    free(s->heap);
}

struct sl_conn *sl_table_find(struct sl_stack *s, uint32_t raddr, uint16_t rport, uint16_t lport)
{
    uint32_t i = tuple_hash(s, raddr, rport, lport) & s->table_mask;
    s->ctr[SL_CTR_table_lookups]++;
    for (;;) {
        struct sl_conn *c = s->table[i];
        s->ctr[SL_CTR_table_probes]++;
        if (!c)
            return NULL;
        if (c->tcb.raddr == raddr && c->tcb.rport == rport && c->tcb.lport == lport)
            return c;
        i = (i + 1) & s->table_mask;
    }
}

void sl_table_insert(struct sl_stack *s, struct sl_conn *c)
{
    uint32_t i = tuple_hash(s, c->tcb.raddr, c->tcb.rport, c->tcb.lport) & s->table_mask;
    while (s->table[i])
        i = (i + 1) & s->table_mask;
    s->table[i] = c;
    c->sflags |= SL_CF_IN_TABLE;
}

void sl_table_remove(struct sl_stack *s, struct sl_conn *c)
{
    if (!(c->sflags & SL_CF_IN_TABLE))
        return;
    c->sflags &= (uint8_t)~SL_CF_IN_TABLE;
    uint32_t i = tuple_hash(s, c->tcb.raddr, c->tcb.rport, c->tcb.lport) & s->table_mask;
    while (s->table[i] != c)
        i = (i + 1) & s->table_mask;
    /* backward-shift deletion keeps probe chains intact without tombstones */
    uint32_t j = i;
    for (;;) {
        s->table[i] = NULL;
        for (;;) {
            j = (j + 1) & s->table_mask;
            struct sl_conn *d = s->table[j];
            if (!d)
                return;
            uint32_t h = tuple_hash(s, d->tcb.raddr, d->tcb.rport, d->tcb.lport) & s->table_mask;
            /* can d move to slot i? only if h is not cyclically in (i, j] */
            if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
                s->table[i] = d;
                i = j;
                break;
            }
        }
    }
}

static void heap_swap(struct sl_stack *s, uint32_t a, uint32_t b)
{
    s->ctr[SL_CTR_timer_steps]++;
    struct sl_conn *t = s->heap[a];
    s->heap[a] = s->heap[b];
    s->heap[b] = t;
    s->heap[a]->heap_idx = a;
    s->heap[b]->heap_idx = b;
}

static void heap_up(struct sl_stack *s, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (s->heap[p]->deadline <= s->heap[i]->deadline)
            break;
        heap_swap(s, i, p);
        i = p;
    }
}

static void heap_down(struct sl_stack *s, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->heap_len && s->heap[l]->deadline < s->heap[m]->deadline)
            m = l;
        if (r < s->heap_len && s->heap[r]->deadline < s->heap[m]->deadline)
            m = r;
        if (m == i)
            return;
        heap_swap(s, i, m);
        i = m;
    }
}

void sl_heap_update(struct sl_stack *s, struct sl_conn *c, uint64_t deadline)
{
    if (c->deadline == deadline)
        return;
    s->ctr[SL_CTR_timer_updates]++;
    if (c->deadline && !deadline) { /* remove */
        uint32_t i = c->heap_idx;
        c->deadline = 0;
        s->heap_len--;
        if (i != s->heap_len) {
            s->heap[i] = s->heap[s->heap_len];
            s->heap[i]->heap_idx = i;
            heap_down(s, i);
            heap_up(s, i);
        }
        return;
    }
    if (!c->deadline) { /* insert */
        c->deadline = deadline;
        c->heap_idx = s->heap_len;
        s->heap[s->heap_len++] = c;
        heap_up(s, c->heap_idx);
        return;
    }
    uint64_t old = c->deadline;
    c->deadline = deadline;
    if (deadline < old)
        heap_up(s, c->heap_idx);
    else
        heap_down(s, c->heap_idx);
}

struct sl_conn *sl_heap_top(struct sl_stack *s) { return s->heap_len ? s->heap[0] : NULL; }
