/* Unit tests for the in-memory io pair (src/io/io_mem.c). One case per
 * test_* function (tests/lib/check.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

#include "check.h"

/* Frame k: length 60 + k % 200, byte i = (k * 7 + i) & 0xff, first 4
 * bytes = k (little endian). */
static uint32_t frame_len(uint32_t k)
{
    return 60 + k % 200;
}

static void fill(uint8_t *p, uint32_t k)
{
    uint32_t len = frame_len(k);
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)(k * 7 + i);
    memcpy(p, &k, 4);
}

static int frame_ok(const struct sl_frame *f, uint32_t k)
{
    if (f->len != frame_len(k))
        return 0;
    uint32_t got;
    memcpy(&got, f->data, 4);
    if (got != k)
        return 0;
    for (uint32_t i = 4; i < f->len; i++)
        if (f->data[i] != (uint8_t)(k * 7 + i))
            return 0;
    return 1;
}

static int send_one(struct sl_io *io, uint32_t k)
{
    uint8_t *p = io->ops->tx_alloc(io, frame_len(k));
    if (!p)
        return -1;
    fill(p, k);
    return io->ops->tx_commit(io, frame_len(k), NULL);
}

static void test_basics(void)
{
    struct sl_io *a, *b;
    CHECK_EQ(sl_io_mem_pair(1500, 8, &a, &b), 0);
    CHECK_EQ(a->mtu, 1500);
    CHECK_EQ(a->max_frame, 1514);
    CHECK_EQ(b->max_frame, 1514);
    CHECK_EQ(a->max_gso, 0);
    CHECK_EQ(a->csum_offload, 0);
    CHECK_EQ(a->ops->poll_fd(a), -1);
    CHECK(memcmp(a->mac, b->mac, 6) != 0);
    CHECK(!(a->mac[0] & 1));          /* unicast */
    CHECK((a->mac[0] & 2) != 0);      /* locally administered */
    CHECK(a->ops->name && strcmp(a->ops->name, "mem") == 0);
    a->ops->destroy(a);
    b->ops->destroy(b);

    CHECK(sl_io_mem_pair(1500, 0, &a, &b) < 0);
    CHECK(sl_io_mem_pair(10, 4, &a, &b) < 0);
    CHECK_EQ(sl_io_mem_pair(9000, 4, &a, &b), 0);
    CHECK_EQ(a->max_frame, 9014);
    a->ops->destroy(a);
    b->ops->destroy(b);
}

static void test_order_and_flush(void)
{
    uint64_t ca[SL_CTR__COUNT] = {0}, cb[SL_CTR__COUNT] = {0};
    struct sl_io *a, *b;
    CHECK_EQ(sl_io_mem_pair(1500, 16, &a, &b), 0);
    a->ctr = ca;
    b->ctr = cb;
    struct sl_frame f[32];

    for (uint32_t k = 0; k < 5; k++)
        CHECK_EQ(send_one(a, k), 0);
    /* committed but not flushed: invisible */
    CHECK_EQ(b->ops->rx_burst(b, f, 32), 0);
    CHECK_EQ(a->ops->tx_flush(a), 0);
    /* a's own rx stays empty: directions are independent */
    CHECK_EQ(a->ops->rx_burst(a, f, 32), 0);
    int n = b->ops->rx_burst(b, f, 3); /* burst limit */
    CHECK_EQ(n, 3);
    for (int i = 0; i < n; i++) {
        CHECK(frame_ok(&f[i], (uint32_t)i));
        CHECK_EQ(f[i].flags, 0);
    }
    n = b->ops->rx_burst(b, f, 32);
    CHECK_EQ(n, 2);
    CHECK(frame_ok(&f[0], 3));
    CHECK(frame_ok(&f[1], 4));
    CHECK_EQ(b->ops->rx_burst(b, f, 32), 0);

    /* reverse direction */
    CHECK_EQ(send_one(b, 100), 0);
    CHECK_EQ(b->ops->tx_flush(b), 0);
    CHECK_EQ(a->ops->rx_burst(a, f, 32), 1);
    CHECK(frame_ok(&f[0], 100));

    /* long run, many wraps, in order */
    uint32_t next_tx = 1000, next_rx = 1000;
    int bad = 0;
    for (int round = 0; round < 500; round++) {
        int burst = 1 + round % 16;
        for (int i = 0; i < burst; i++)
            if (send_one(a, next_tx) == 0)
                next_tx++;
        a->ops->tx_flush(a);
        n = b->ops->rx_burst(b, f, 1 + round % 7);
        for (int i = 0; i < n; i++)
            if (!frame_ok(&f[i], next_rx++))
                bad++;
    }
    while ((n = b->ops->rx_burst(b, f, 32)) > 0)
        for (int i = 0; i < n; i++)
            if (!frame_ok(&f[i], next_rx++))
                bad++;
    CHECK_EQ(bad, 0);
    CHECK_EQ(next_rx, next_tx);
    CHECK_EQ(ca[SL_CTR_tx_frames], 5 + (next_tx - 1000));
    CHECK_EQ(cb[SL_CTR_rx_frames], 5 + (next_rx - 1000));
    CHECK_EQ(cb[SL_CTR_tx_frames], 1);
    CHECK_EQ(ca[SL_CTR_rx_frames], 1);
    CHECK(ca[SL_CTR_drop_tx_ring_full] > 0); /* the run above overran the ring */
    a->ops->destroy(a);
    b->ops->destroy(b);
}

static void test_bounds(void)
{
    uint64_t ca[SL_CTR__COUNT] = {0};
    struct sl_io *a, *b;
    CHECK_EQ(sl_io_mem_pair(1500, 4, &a, &b), 0);
    a->ctr = ca;
    b->ctr = NULL; /* counters are optional */
    struct sl_frame f[8];

    /* too big for the link */
    CHECK(a->ops->tx_alloc(a, 1515) == NULL);
    CHECK_EQ(ca[SL_CTR_drop_tx_error], 1);
    CHECK(a->ops->tx_alloc(a, 1514) != NULL);
    CHECK_EQ(a->ops->tx_commit(a, 1515, NULL), -22);
    CHECK_EQ(ca[SL_CTR_drop_tx_error], 2);
    /* commit without alloc */
    CHECK_EQ(a->ops->tx_commit(a, 60, NULL), -22);
    /* offloads are not advertised, so they are refused */
    struct sl_tx_meta meta = {.gso_size = 1000, .csum_partial = 1, .l4_off = 34};
    CHECK(a->ops->tx_alloc(a, 60) != NULL);
    CHECK_EQ(a->ops->tx_commit(a, 60, &meta), -22);

    /* depth 4: the fifth frame in flight is refused */
    for (uint32_t k = 0; k < 4; k++)
        CHECK_EQ(send_one(a, k), 0);
    CHECK(a->ops->tx_alloc(a, 60) == NULL);
    CHECK_EQ(ca[SL_CTR_drop_tx_ring_full], 1);
    a->ops->tx_flush(a);
    CHECK(a->ops->tx_alloc(a, 60) == NULL); /* flushed is still in flight */
    /* frames held by the receiver are still in flight */
    CHECK_EQ(b->ops->rx_burst(b, f, 2), 2);
    CHECK(a->ops->tx_alloc(a, 60) == NULL);
    /* the next rx_burst releases the first two */
    CHECK_EQ(b->ops->rx_burst(b, f, 1), 1);
    CHECK(frame_ok(&f[0], 2));
    CHECK_EQ(send_one(a, 4), 0);
    CHECK_EQ(send_one(a, 5), 0);
    CHECK(a->ops->tx_alloc(a, 60) == NULL);
    /* rx_release gives back without receiving more */
    b->ops->rx_release(b);
    CHECK_EQ(send_one(a, 6), 0);
    CHECK(a->ops->tx_alloc(a, 60) == NULL);
    a->ops->tx_flush(a);
    CHECK_EQ(b->ops->rx_burst(b, f, 8), 4);
    for (uint32_t i = 0; i < 4; i++)
        CHECK(frame_ok(&f[i], 3 + i));
    CHECK_EQ(ca[SL_CTR_drop_tx_ring_full], 5);
    /* zero-size burst is harmless */
    CHECK_EQ(b->ops->rx_burst(b, f, 0), 0);
    a->ops->destroy(a);
    b->ops->destroy(b);
}

static void test_copy_semantics(void)
{
    struct sl_io *a, *b;
    CHECK_EQ(sl_io_mem_pair(1500, 8, &a, &b), 0);
    struct sl_frame f[8];

    /* alloc without commit sends nothing; the slot is reused */
    uint8_t *p1 = a->ops->tx_alloc(a, 100);
    CHECK(p1 != NULL);
    memset(p1, 0xee, 100);
    uint8_t *p2 = a->ops->tx_alloc(a, 100);
    CHECK(p2 == p1);
    fill(p2, 1);
    CHECK_EQ(a->ops->tx_commit(a, frame_len(1), NULL), 0);
    /* after commit the sender gets a different buffer; scribbling on it
     * (and on the old pointer's neighbours) does not change the frame */
    uint8_t *p3 = a->ops->tx_alloc(a, 100);
    CHECK(p3 != NULL && p3 != p1);
    memset(p3, 0x55, 100);
    CHECK_EQ(a->ops->tx_commit(a, 100, NULL), 0);
    a->ops->tx_flush(a);
    CHECK_EQ(b->ops->rx_burst(b, f, 1), 1);
    CHECK(frame_ok(&f[0], 1));
    uint8_t *held = f[0].data;
    /* while b holds the view, a keeps transmitting: the view is intact */
    for (uint32_t k = 10; k < 30; k++) {
        uint8_t *p = a->ops->tx_alloc(a, 200);
        if (p) {
            memset(p, 0xaa, 200);
            a->ops->tx_commit(a, 200, NULL);
        }
    }
    a->ops->tx_flush(a);
    struct sl_frame still = {.data = held, .len = frame_len(1)};
    CHECK(frame_ok(&still, 1));
    /* the receiver may edit its view in place; the next frame is separate */
    memset(held, 0, frame_len(1));
    CHECK_EQ(b->ops->rx_burst(b, f, 8), 7); /* 1 + 6 that fit in depth 8 */
    CHECK_EQ(f[0].len, 100);
    CHECK(f[0].data[0] == 0x55 && f[0].data[99] == 0x55);
    CHECK(f[1].data[0] == 0xaa && f[1].data[199] == 0xaa);
    a->ops->destroy(a);
    b->ops->destroy(b);
}

static void test_destroy_order(void)
{
    struct sl_io *a, *b;
    CHECK_EQ(sl_io_mem_pair(1500, 4, &a, &b), 0);
    CHECK_EQ(send_one(a, 1), 0);
    a->ops->tx_flush(a);
    b->ops->destroy(b);
    /* the surviving end keeps working on its own */
    CHECK_EQ(send_one(a, 2), 0);
    a->ops->tx_flush(a);
    a->ops->destroy(a);
}

int main(void)
{
    RUN(test_basics);
    RUN(test_order_and_flush);
    RUN(test_bounds);
    RUN(test_copy_semantics);
    RUN(test_destroy_order);
    return check_finish("test_io_mem");
}
