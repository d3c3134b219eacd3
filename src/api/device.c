/* A device from outside the library (struct sl_device, copy in and out)
 * as an I/O backend (struct sl_io, zero-copy bursts): received frames are
 * copied into a burst of slots that stay valid until the next burst, a
 * transmitted frame is built in one slot and handed to send(). No
 * offloads: the stack segments and checksums everything itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/device.h"

#define DEV_BURST 64 /* frames per rx_burst, as the stack asks */

struct dev_io {
    struct sl_io io;
    struct sl_device dev;
    uint8_t *rx;  /* DEV_BURST slots of max_frame bytes */
    uint8_t *tx;  /* one frame */
};

static void ctr_add(struct sl_io *io, enum sl_ctr c, uint64_t n)
{
    if (io->ctr)
        io->ctr[c] += n;
}

static int dev_rx_burst(struct sl_io *io, struct sl_frame *frames, int max)
{
    struct dev_io *d = (struct dev_io *)io;
    int n = 0;
    while (n < max && n < DEV_BURST) {
        uint8_t *slot = d->rx + (size_t)n * io->max_frame;
        int len = d->dev.ops->recv(d->dev.ctx, slot, io->max_frame);
        if (len <= 0)
            break;
        if ((uint32_t)len > io->max_frame) { /* the device broke its contract */
            ctr_add(io, SL_CTR_drop_rx_truncated, 1);
            continue;
        }
        frames[n].data = slot;
        frames[n].len = (uint32_t)len;
        frames[n].flags = 0;
        ctr_add(io, SL_CTR_rx_frames, 1);
        ctr_add(io, SL_CTR_rx_bytes, (uint64_t)len);
        n++;
    }
    return n;
}

static void dev_rx_release(struct sl_io *io) { (void)io; }

static uint8_t *dev_tx_alloc(struct sl_io *io, uint32_t len)
{
    struct dev_io *d = (struct dev_io *)io;
    return len <= io->max_frame ? d->tx : NULL;
}

static int dev_tx_commit(struct sl_io *io, uint32_t len, const struct sl_tx_meta *meta)
{
    struct dev_io *d = (struct dev_io *)io;
    if (len == 0 || len > io->max_frame || (meta && (meta->gso_size || meta->csum_partial)))
        return -EINVAL;
    int r = d->dev.ops->send(d->dev.ctx, d->tx, len);
    if (r == -EAGAIN) { /* a full link: lost like on the wire, retransmitted */
        ctr_add(io, SL_CTR_drop_tx_ring_full, 1);
        return 0;
    }
    if (r < 0)
        return r;
    ctr_add(io, SL_CTR_tx_frames, 1);
    ctr_add(io, SL_CTR_tx_bytes, len);
    return 0;
}

static int dev_tx_flush(struct sl_io *io)
{
    struct dev_io *d = (struct dev_io *)io;
    return d->dev.ops->flush ? d->dev.ops->flush(d->dev.ctx) : 0;
}

static int dev_poll_fd(struct sl_io *io)
{
    struct dev_io *d = (struct dev_io *)io;
    return d->dev.ops->poll_fd ? d->dev.ops->poll_fd(d->dev.ctx) : -1;
}

static void dev_destroy(struct sl_io *io)
{
    struct dev_io *d = (struct dev_io *)io;
    if (d->dev.ops->destroy)
        d->dev.ops->destroy(d->dev.ctx);
    free(d->rx);
    free(d->tx);
    free(d);
}

static const struct sl_io_ops dev_ops = {
    .name = "device",
    .rx_burst = dev_rx_burst,
    .rx_release = dev_rx_release,
    .tx_alloc = dev_tx_alloc,
    .tx_commit = dev_tx_commit,
    .tx_flush = dev_tx_flush,
    .poll_fd = dev_poll_fd,
    .destroy = dev_destroy,
};

int sl_device_io(const struct sl_device *dev, struct sl_io **out, char *err, size_t errlen)
{
    if (!dev || !dev->ops || !dev->ops->recv || !dev->ops->send) {
        snprintf(err, errlen, "a device needs recv and send");
        return -EINVAL;
    }
    uint32_t mtu = dev->mtu ? dev->mtu : 1500;
    if (mtu < 68 || mtu > 65535) {
        snprintf(err, errlen, "device MTU %u outside 68..65535", mtu);
        return -EINVAL;
    }
    struct dev_io *d = calloc(1, sizeof(*d));
    if (d) {
        d->io.max_frame = mtu + SL_ETH_HLEN;
        d->rx = malloc((size_t)DEV_BURST * d->io.max_frame);
        d->tx = malloc(d->io.max_frame);
    }
    if (!d || !d->rx || !d->tx) {
        if (d) {
            free(d->rx);
            free(d->tx);
        }
        free(d);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->dev = *dev;
    d->io.ops = &dev_ops;
    memcpy(d->io.mac, dev->mac, 6);
    d->io.mtu = mtu;
    *out = &d->io;
    return 0;
}
