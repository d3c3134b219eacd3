/* In-memory pair of links for tests.
 *
 * Each direction is a ring of `depth` slots of max_frame (= mtu + 14)
 * bytes, allocated up front. A frame's life in the ring:
 *
 *   tx_alloc   sender gets the next free slot to write into (NULL and
 *              drop_tx_ring_full when `depth` frames are in flight)
 *   tx_commit  frame queued, not yet visible to the receiver
 *   tx_flush   every committed frame becomes visible to the peer
 *   rx_burst   receiver gets views of visible frames, in order
 *   rx_burst / rx_release (next call)  slots return to the sender
 *
 * "In flight" is everything from commit until the receiver releases it,
 * so a receiver that holds frames back-pressures the sender. The sender
 * writes the frame once into a slot only it could reach; after commit the
 * slot belongs to the ring and the next tx_alloc hands out a different one,
 * so a frame the receiver sees never aliases a buffer the sender can still
 * write (copy semantics). tx_alloc twice without a commit returns the same
 * slot (the first frame is abandoned, nothing is sent).
 *
 * Frames are delivered with flags = 0 (receivers verify checksums);
 * max_gso = 0, csum_offload = 0, poll_fd = -1. Single-threaded: both ends
 * must be driven from the same thread. The shared state is freed when both
 * ends are destroyed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

struct mem_ring {
    uint8_t *buf;  /* depth * slot_sz */
    uint32_t *len; /* per slot */
    /* Monotonic counters: rel <= cons <= vis <= prod <= rel + depth. */
    uint64_t rel;  /* first slot still held by the receiver */
    uint64_t cons; /* next slot to deliver */
    uint64_t vis;  /* end of flushed (visible) frames */
    uint64_t prod; /* end of committed frames */
};

struct mem_pair;

struct mem_end {
    struct sl_io io;
    struct mem_pair *pair;
    int side; /* 0 = a, 1 = b; transmits into ring[side] */
    int tx_allocated;
    uint64_t ctr_local[SL_CTR__COUNT];
};

struct mem_pair {
    uint32_t depth;
    uint32_t slot_sz;
    struct mem_ring ring[2];
    struct mem_end end[2];
    int refs;
};

static inline uint8_t *slot_ptr(struct mem_pair *mp, struct mem_ring *r, uint64_t i)
{
    return r->buf + (size_t)(i % mp->depth) * mp->slot_sz;
}

static void mem_rx_release(struct sl_io *io)
{
    struct mem_end *e = (struct mem_end *)io;
    struct mem_ring *r = &e->pair->ring[!e->side];
    r->rel = r->cons;
}

static int mem_rx_burst(struct sl_io *io, struct sl_frame *frames, int max)
{
    struct mem_end *e = (struct mem_end *)io;
    struct mem_pair *mp = e->pair;
    struct mem_ring *r = &mp->ring[!e->side];
    r->rel = r->cons;
    int n = 0;
    while (n < max && r->cons < r->vis) {
        uint32_t len = r->len[r->cons % mp->depth];
        frames[n].data = slot_ptr(mp, r, r->cons);
        frames[n].len = len;
        frames[n].flags = 0;
        sl_io_ctr_add(io, SL_CTR_rx_frames, 1);
        sl_io_ctr_add(io, SL_CTR_rx_bytes, len);
        r->cons++;
        n++;
    }
    return n;
}

static uint8_t *mem_tx_alloc(struct sl_io *io, uint32_t len)
{
    struct mem_end *e = (struct mem_end *)io;
    struct mem_pair *mp = e->pair;
    struct mem_ring *r = &mp->ring[e->side];
    if (len > io->max_frame) {
        e->tx_allocated = 0;
        sl_io_ctr_add(io, SL_CTR_drop_tx_error, 1);
        return NULL;
    }
    if (r->prod - r->rel >= mp->depth) {
        e->tx_allocated = 0;
        sl_io_ctr_add(io, SL_CTR_drop_tx_ring_full, 1);
        return NULL;
    }
    e->tx_allocated = 1;
    return slot_ptr(mp, r, r->prod);
}

static int mem_tx_commit(struct sl_io *io, uint32_t len, const struct sl_tx_meta *meta)
{
    struct mem_end *e = (struct mem_end *)io;
    struct mem_pair *mp = e->pair;
    struct mem_ring *r = &mp->ring[e->side];
    if (!e->tx_allocated)
        return -EINVAL;
    e->tx_allocated = 0;
    if (len == 0 || len > io->max_frame || (meta && (meta->gso_size || meta->csum_partial))) {
        sl_io_ctr_add(io, SL_CTR_drop_tx_error, 1);
        return -EINVAL;
    }
    r->len[r->prod % mp->depth] = len;
    r->prod++;
    sl_io_ctr_add(io, SL_CTR_tx_frames, 1);
    sl_io_ctr_add(io, SL_CTR_tx_bytes, len);
    return 0;
}

static int mem_tx_flush(struct sl_io *io)
{
    struct mem_end *e = (struct mem_end *)io;
    struct mem_ring *r = &e->pair->ring[e->side];
    r->vis = r->prod;
    return 0;
}

static int mem_poll_fd(struct sl_io *io)
{
    (void)io;
    return -1;
}

static void mem_pair_free(struct mem_pair *mp)
{
    for (int i = 0; i < 2; i++) {
        free(mp->ring[i].buf);
        free(mp->ring[i].len);
    }
    free(mp);
}

static void mem_destroy(struct sl_io *io)
{
    if (!io)
        return;
    struct mem_end *e = (struct mem_end *)io;
    struct mem_pair *mp = e->pair;
    e->io.ops = NULL;
    if (--mp->refs == 0)
        mem_pair_free(mp);
}

static const struct sl_io_ops mem_ops = {
    .name = "mem",
    .rx_burst = mem_rx_burst,
    .rx_release = mem_rx_release,
    .tx_alloc = mem_tx_alloc,
    .tx_commit = mem_tx_commit,
    .tx_flush = mem_tx_flush,
    .poll_fd = mem_poll_fd,
    .destroy = mem_destroy,
};

int sl_io_mem_pair(uint32_t mtu, uint32_t depth, struct sl_io **a, struct sl_io **b)
{
    if (!a || !b || mtu < 68 || mtu > 65535 || depth == 0 || depth > (1u << 20))
        return -EINVAL;
    struct mem_pair *mp = calloc(1, sizeof(*mp));
    if (!mp)
        return -ENOMEM;
    mp->depth = depth;
    mp->slot_sz = (mtu + 14 + 15) & ~15u;
    for (int i = 0; i < 2; i++) {
        mp->ring[i].buf = malloc((size_t)depth * mp->slot_sz);
        mp->ring[i].len = calloc(depth, sizeof(uint32_t));
        if (!mp->ring[i].buf || !mp->ring[i].len) {
            mem_pair_free(mp);
            return -ENOMEM;
        }
    }
    for (int i = 0; i < 2; i++) {
        struct mem_end *e = &mp->end[i];
        e->io.ops = &mem_ops;
        e->io.mtu = mtu;
        e->io.max_frame = mtu + 14;
        e->io.max_gso = 0;
        e->io.csum_offload = 0;
        e->io.ctr = e->ctr_local;
        /* locally administered, unicast: 02:00:00:00:00:0a / :0b */
        const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, (uint8_t)(0x0a + i)};
        memcpy(e->io.mac, mac, 6);
        e->pair = mp;
        e->side = i;
    }
    mp->refs = 2;
    *a = &mp->end[0].io;
    *b = &mp->end[1].io;
    return 0;
}
