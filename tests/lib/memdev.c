/* In-memory device pair over the public device interface (memdev.h). */
#include "memdev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct memdev_ring {
    uint8_t *buf;  /* depth slots of slot bytes */
    uint32_t *len;
    uint64_t cons, vis, prod; /* cons <= vis <= prod <= cons + depth */
};

struct memdev_end {
    struct memdev_pair *pair;
    int side; /* sends on ring[side], receives from ring[!side] */
};

struct memdev_pair {
    struct memdev_ring ring[2];
    struct memdev_end end[2];
    uint32_t depth, slot;
};

static int md_recv(void *ctx, void *buf, size_t cap)
{
    struct memdev_end *e = ctx;
    struct memdev_ring *r = &e->pair->ring[!e->side];
    while (r->cons < r->vis) {
        uint64_t i = r->cons++ % e->pair->depth;
        if (r->len[i] > cap)
            continue; /* too long for the receiver: lost */
        memcpy(buf, r->buf + i * e->pair->slot, r->len[i]);
        return (int)r->len[i];
    }
    return 0;
}

static int md_send(void *ctx, const void *frame, size_t len)
{
    struct memdev_end *e = ctx;
    struct memdev_ring *r = &e->pair->ring[e->side];
    if (len > e->pair->slot)
        return -EMSGSIZE;
    if (r->prod - r->cons >= e->pair->depth)
        return -EAGAIN;
    uint64_t i = r->prod++ % e->pair->depth;
    memcpy(r->buf + i * e->pair->slot, frame, len);
    r->len[i] = (uint32_t)len;
    return 0;
}

static int md_flush(void *ctx)
{
    struct memdev_end *e = ctx;
    struct memdev_ring *r = &e->pair->ring[e->side];
    r->vis = r->prod;
    return 0;
}

static const struct sl_device_ops md_ops = {
    .recv = md_recv, .send = md_send, .flush = md_flush};

struct memdev_pair *memdev_pair(uint32_t mtu, uint32_t depth, struct sl_device *a,
                                struct sl_device *b)
{
    struct memdev_pair *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->depth = depth;
    p->slot = mtu + 14;
    for (int i = 0; i < 2; i++) {
        p->ring[i].buf = malloc((size_t)depth * p->slot);
        p->ring[i].len = calloc(depth, sizeof(uint32_t));
        if (!p->ring[i].buf || !p->ring[i].len) {
            memdev_free(p);
            return NULL;
        }
        p->end[i] = (struct memdev_end){p, i};
    }
    struct sl_device *d[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        *d[i] = (struct sl_device){.ops = &md_ops, .ctx = &p->end[i], .mtu = mtu};
        memcpy(d[i]->mac, (uint8_t[6]){0x02, 0, 0, 0, 0, (uint8_t)(i + 1)}, 6);
    }
    return p;
}

void memdev_free(struct memdev_pair *p)
{
    if (!p)
        return;
    for (int i = 0; i < 2; i++) {
        free(p->ring[i].buf);
        free(p->ring[i].len);
    }
    free(p);
}

unsigned memdev_queued(const struct memdev_pair *p, int side)
{
    const struct memdev_ring *r = &p->ring[!side];
    return (unsigned)(r->vis - r->cons);
}

void memdev_clear(struct memdev_pair *p, int side)
{
    struct memdev_ring *r = &p->ring[!side];
    r->cons = r->vis = r->prod;
}

uint64_t stat_get(const sl_stack *s, const char *name)
{
    for (unsigned i = 0; i < sl_stats_count(); i++)
        if (strcmp(sl_stats_name(i), name) == 0)
            return sl_stats_value(s, i);
    return ~0ull;
}
