/* Output-commit hold: a wrapper that keeps every transmitted frame until
 * the stack says the state that produced it is durable (sync
 * durability; the "output commit" of Stateless TCP and of Rio/Vista).
 *
 * tx_alloc hands out space in a private staging arena; tx_commit records
 * the frame; tx_flush does nothing. sl_io_hold_release() copies the staged
 * frames, in order, into the inner backend and kicks it;
 * sl_io_hold_discard() throws them away (counted: drop_tx_held_discard).
 * When the arena is full tx_alloc returns NULL and counts
 * drop_tx_hold_full: the frame is lost like any frame on a full ring and
 * TCP repairs it (the stack commits and releases every iteration, so this
 * only happens when one iteration produces more than SL_HOLD_ARENA bytes).
 * Frames transmitted while sl_io_hold_pass(io, 1) is in force (those of
 * connections whose state need not be durable first) go straight to the
 * inner backend and are never discarded.
 * Receive, poll_fd and the advertised capabilities are the inner
 * backend's, unchanged. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

#define SL_HOLD_ARENA (16u << 20)
#define SL_HOLD_MAX_FRAMES 16384u

struct hold_frame {
    uint32_t off, len;
    struct sl_tx_meta meta;
    uint8_t has_meta;
};

struct hold_io {
    struct sl_io io;
    struct sl_io *inner;
    uint8_t *arena;
    uint32_t used;      /* bytes of the arena in use */
    uint32_t alloc_off; /* offset handed out by the last tx_alloc */
    uint32_t alloc_len;
    int allocated;      /* 1: in the arena; 2: handed out by the inner backend */
    int pass;           /* frames go to the inner backend at once */
    int passed;         /* frames passed since the inner backend was kicked */
    struct hold_frame *fr;
    uint32_t n;
};

static int h_rx_burst(struct sl_io *io, struct sl_frame *f, int max)
{
    struct hold_io *h = (struct hold_io *)io;
    h->inner->ctr = io->ctr;
    return h->inner->ops->rx_burst(h->inner, f, max);
}

static void h_rx_release(struct sl_io *io)
{
    struct hold_io *h = (struct hold_io *)io;
    h->inner->ops->rx_release(h->inner);
}

static uint8_t *h_tx_alloc(struct sl_io *io, uint32_t len)
{
    struct hold_io *h = (struct hold_io *)io;
    if (h->pass) {
        h->inner->ctr = io->ctr;
        uint8_t *p = h->inner->ops->tx_alloc(h->inner, len);
        h->allocated = p ? 2 : 0;
        return p;
    }
    /* callers may commit a little more than they asked for (Ethernet
     * padding to 60 bytes): reserve at least 128 */
    uint32_t need = ((len < 128 ? 128 : len) + 63u) & ~63u;
    if (len > io->max_frame || h->n >= SL_HOLD_MAX_FRAMES || need > SL_HOLD_ARENA - h->used) {
        sl_io_ctr_add(io, SL_CTR_drop_tx_hold_full, 1);
        h->allocated = 0;
        return NULL;
    }
    h->alloc_off = h->used;
    h->alloc_len = need;
    h->allocated = 1;
    return h->arena + h->used;
}

static int h_tx_commit(struct sl_io *io, uint32_t len, const struct sl_tx_meta *meta)
{
    struct hold_io *h = (struct hold_io *)io;
    if (h->allocated == 2) {
        h->allocated = 0;
        h->passed++;
        return h->inner->ops->tx_commit(h->inner, len, meta);
    }
    if (!h->allocated || len > h->alloc_len)
        return -EINVAL;
    h->allocated = 0;
    struct hold_frame *f = &h->fr[h->n++];
    f->off = h->alloc_off;
    f->len = len;
    f->has_meta = meta != NULL;
    if (meta)
        f->meta = *meta;
    h->used += h->alloc_len;
    return 0;
}

static int h_tx_flush(struct sl_io *io)
{
    struct hold_io *h = (struct hold_io *)io;
    if (!h->passed)
        return 0; /* held frames wait for sl_io_hold_release */
    h->passed = 0;
    return h->inner->ops->tx_flush(h->inner);
}

static int h_poll_fd(struct sl_io *io)
{
    struct hold_io *h = (struct hold_io *)io;
    return h->inner->ops->poll_fd(h->inner);
}

static void h_destroy(struct sl_io *io)
{
    struct hold_io *h = (struct hold_io *)io;
    if (!h)
        return;
    /* frames still held were never made durable: they do not leave */
    h->inner->ops->destroy(h->inner);
    free(h->arena);
    free(h->fr);
    free(h);
}

static const struct sl_io_ops hold_ops = {
    .name = "hold",
    .rx_burst = h_rx_burst,
    .rx_release = h_rx_release,
    .tx_alloc = h_tx_alloc,
    .tx_commit = h_tx_commit,
    .tx_flush = h_tx_flush,
    .poll_fd = h_poll_fd,
    .destroy = h_destroy,
};

int sl_io_hold_wrap(struct sl_io *inner, struct sl_io **out)
{
    struct hold_io *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->arena = malloc(SL_HOLD_ARENA);
    h->fr = calloc(SL_HOLD_MAX_FRAMES, sizeof(*h->fr));
    if (!h->arena || !h->fr) {
        free(h->arena);
        free(h->fr);
        free(h);
        return -ENOMEM;
    }
    h->inner = inner;
    h->io = *inner; /* mac, mtu, max_frame, max_gso, csum_offload, ctr */
    h->io.ops = &hold_ops;
    *out = &h->io;
    return 0;
}

int sl_io_is_hold(const struct sl_io *io) { return io && io->ops == &hold_ops; }

int sl_io_hold_release(struct sl_io *io)
{
    if (!sl_io_is_hold(io))
        return io->ops->tx_flush(io);
    struct hold_io *h = (struct hold_io *)io;
    struct sl_io *in = h->inner;
    in->ctr = io->ctr;
    for (uint32_t i = 0; i < h->n; i++) {
        struct hold_frame *f = &h->fr[i];
        uint8_t *p = in->ops->tx_alloc(in, f->len);
        if (!p)
            continue; /* counted by the inner backend (ring full) */
        memcpy(p, h->arena + f->off, f->len);
        in->ops->tx_commit(in, f->len, f->has_meta ? &f->meta : NULL);
    }
    h->n = 0;
    h->used = 0;
    h->passed = 0;
    return in->ops->tx_flush(in);
}

void sl_io_hold_discard(struct sl_io *io)
{
    if (!sl_io_is_hold(io))
        return;
    struct hold_io *h = (struct hold_io *)io;
    sl_io_ctr_add(io, SL_CTR_drop_tx_held_discard, h->n);
    h->n = 0;
    h->used = 0;
    h_tx_flush(io); /* passed frames leave */
}

void sl_io_hold_pass(struct sl_io *io, int pass)
{
    if (sl_io_is_hold(io))
        ((struct hold_io *)io)->pass = pass != 0;
}

struct sl_io *sl_io_hold_unwrap(struct sl_io *io)
{
    if (!sl_io_is_hold(io))
        return io;
    struct hold_io *h = (struct hold_io *)io;
    struct sl_io *in = h->inner;
    free(h->arena);
    free(h->fr);
    free(h);
    return in;
}
