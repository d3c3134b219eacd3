/* TAP backend: /dev/net/tun in IFF_TAP | IFF_NO_PI mode.
 *
 * The kernel side of the link is the tap interface NAME (created if it
 * does not exist, attached otherwise; brought up). Our side uses its own
 * locally administered MAC derived from the interface's MAC, so the
 * kernel can address us as a separate host on that link.
 *
 * With IFF_VNET_HDR (tried first) every frame carries a virtio_net_hdr and
 * TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4) tells the kernel we accept frames
 * with partial checksums and 64 KB TCPv4 GSO frames; in the other
 * direction the vnet header lets us send TSO super-frames and
 * NEEDS_CSUM frames (max_gso > 0, csum_offload = 1). Without it, plain
 * frames (max_gso 0, csum_offload 0).
 *
 * RX: rx_burst read()s up to TAP_RX_SLOTS frames into private buffers
 *     (one syscall per frame, nonblocking); views stay valid until the
 *     next rx_burst / rx_release.
 * TX: one staging buffer; tx_commit write()s the frame immediately (a tap
 *     write is one frame, there is no batching), tx_flush does nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/io.h"
#include "io/vnet.h"

#define TAP_RX_SLOTS 32u
#define TAP_ETH_HLEN 14u
#define TAP_MAX_FRAME (TAP_ETH_HLEN + 65535u)
#define TAP_MAX_GSO (65536u - 1u - TAP_ETH_HLEN - 20u - 60u)
#define TAP_VNET_LEN ((uint32_t)sizeof(struct virtio_net_hdr))
/* rx slot: vnet header + largest frame + a VLAN tag, rounded */
#define TAP_SLOT_SZ ((TAP_VNET_LEN + TAP_MAX_FRAME + 4u + 63u) & ~63u)

struct tap_io {
    struct sl_io io;
    int fd;
    int vnet;
    uint32_t vnet_len;
    uint8_t *rx_buf; /* TAP_RX_SLOTS * TAP_SLOT_SZ */
    uint8_t *tx_buf; /* TAP_SLOT_SZ */
    int tx_allocated;
    uint64_t ctr_local[SL_CTR__COUNT];
};

static void tap_rx_release(struct sl_io *io)
{
    (void)io; /* private buffers: nothing to hand back */
}

static int tap_rx_burst(struct sl_io *io, struct sl_frame *frames, int max)
{
    struct tap_io *t = (struct tap_io *)io;
    int n = 0;
    uint32_t slot = 0;
    while (n < max && slot < TAP_RX_SLOTS) {
        uint8_t *buf = t->rx_buf + (size_t)slot * TAP_SLOT_SZ;
        ssize_t r = read(t->fd, buf, TAP_SLOT_SZ);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break; /* EAGAIN, or device gone: nothing more now */
        }
        if (r == 0)
            break;
        slot++;
        if ((size_t)r >= TAP_SLOT_SZ || (uint32_t)r < t->vnet_len + TAP_ETH_HLEN) {
            sl_io_ctr_add(io, SL_CTR_drop_rx_truncated, 1);
            continue;
        }
        uint8_t *data = buf + t->vnet_len;
        uint32_t len = (uint32_t)r - t->vnet_len;
        uint32_t flags = 0;
        int unverified =
            t->vnet && sl_vnet_rx_unverified((const struct virtio_net_hdr *)buf, &flags);
        sl_vnet_rx_frame(io, &frames[n++], data, len, flags, unverified);
    }
    return n;
}

static uint8_t *tap_tx_alloc(struct sl_io *io, uint32_t len)
{
    struct tap_io *t = (struct tap_io *)io;
    if (len > io->max_frame) {
        t->tx_allocated = 0;
        sl_io_ctr_add(io, SL_CTR_drop_tx_error, 1);
        return NULL;
    }
    t->tx_allocated = 1;
    return t->tx_buf + t->vnet_len;
}

static int tap_tx_commit(struct sl_io *io, uint32_t len, const struct sl_tx_meta *meta)
{
    struct tap_io *t = (struct tap_io *)io;
    if (!t->tx_allocated)
        return -EINVAL;
    t->tx_allocated = 0;
    uint8_t *data = t->tx_buf + t->vnet_len;
    int gso = 0;
    if (len < TAP_ETH_HLEN || len > io->max_frame)
        goto bad;
    if (t->vnet) {
        struct virtio_net_hdr *vh = (struct virtio_net_hdr *)t->tx_buf;
        memset(vh, 0, sizeof(*vh));
        if (meta && meta->csum_partial) {
            if ((uint32_t)meta->l4_off + 18u > len || meta->l4_off < TAP_ETH_HLEN + 20u)
                goto bad;
            sl_vnet_tx_csum(vh, meta->l4_off);
        }
        if (meta && meta->gso_size) {
            uint32_t l4 = meta->l4_off;
            if (l4 < TAP_ETH_HLEN + 20u || l4 + 20u > len)
                goto bad;
            uint32_t thl = (uint32_t)(data[l4 + 12] >> 4) * 4u;
            uint32_t hl = l4 + thl;
            if (thl < 20 || hl > len || (hl - TAP_ETH_HLEN) + meta->gso_size > io->mtu)
                goto bad;
            if (len - hl > meta->gso_size) {
                if (len - hl > io->max_gso)
                    goto bad;
                sl_vnet_tx_gso(vh, data, l4, meta->gso_size);
                vh->hdr_len = (uint16_t)hl;
                gso = 1;
            }
        }
    } else if (meta && (meta->gso_size || meta->csum_partial)) {
        goto bad;
    }
    if (!gso && len > io->mtu + TAP_ETH_HLEN)
        goto bad;
    for (;;) {
        ssize_t w = write(t->fd, t->tx_buf, len + t->vnet_len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            sl_io_ctr_add(io, SL_CTR_drop_tx_error, 1);
            return -e;
        }
        break;
    }
    sl_io_ctr_add(io, SL_CTR_tx_frames, 1);
    sl_io_ctr_add(io, SL_CTR_tx_bytes, len);
    if (gso)
        sl_io_ctr_add(io, SL_CTR_tx_gso_frames, 1);
    return 0;
bad:
    sl_io_ctr_add(io, SL_CTR_drop_tx_error, 1);
    return -EINVAL;
}

static int tap_tx_flush(struct sl_io *io)
{
    (void)io;
    return 0;
}

static int tap_poll_fd(struct sl_io *io)
{
    return ((struct tap_io *)io)->fd;
}

static void tap_destroy(struct sl_io *io)
{
    struct tap_io *t = (struct tap_io *)io;
    if (!t)
        return;
    if (t->fd >= 0)
        close(t->fd);
    free(t->rx_buf);
    free(t->tx_buf);
    free(t);
}

static const struct sl_io_ops tap_ops = {
    .name = "tap",
    .rx_burst = tap_rx_burst,
    .rx_release = tap_rx_release,
    .tx_alloc = tap_tx_alloc,
    .tx_commit = tap_tx_commit,
    .tx_flush = tap_tx_flush,
    .poll_fd = tap_poll_fd,
    .destroy = tap_destroy,
};

static int tap_attach(const char *name, short flags)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = flags;
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int sl_io_tap_open(const char *name, struct sl_io **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!name || !*name || strlen(name) >= IFNAMSIZ) {
        sl_io_err(err, errlen, "tap: bad interface name '%s'", name ? name : "");
        return -EINVAL;
    }
    struct tap_io *t = calloc(1, sizeof(*t));
    if (!t) {
        sl_io_err(err, errlen, "tap: out of memory");
        return -ENOMEM;
    }
    t->fd = -1;
    t->io.ops = &tap_ops;
    t->io.ctr = t->ctr_local;
    int rc;
    t->rx_buf = malloc((size_t)TAP_RX_SLOTS * TAP_SLOT_SZ);
    t->tx_buf = malloc(TAP_SLOT_SZ);
    if (!t->rx_buf || !t->tx_buf) {
        rc = -ENOMEM;
        sl_io_err(err, errlen, "tap: out of memory");
        goto fail;
    }

    /* SL_IO_TAP_NO_VNET=1 forces the plain-frame fallback (for tests). */
    const char *novnet = getenv("SL_IO_TAP_NO_VNET");
    int want_vnet = !(novnet && *novnet && strcmp(novnet, "0") != 0);
    t->fd = want_vnet ? tap_attach(name, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) : -EINVAL;
    if (t->fd >= 0) {
        t->vnet = 1;
    } else {
        t->fd = tap_attach(name, IFF_TAP | IFF_NO_PI);
        if (t->fd < 0) {
            rc = t->fd;
            sl_io_err(err, errlen, "tap: TUNSETIFF '%s': %s", name, strerror(-rc));
            goto fail;
        }
    }
    if (t->vnet) {
        int sz = (int)TAP_VNET_LEN;
        unsigned off = TUN_F_CSUM | TUN_F_TSO4;
        if (ioctl(t->fd, TUNSETVNETHDRSZ, &sz) < 0 ||
            ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)off) < 0) {
            /* Without offloads the kernel still parses our vnet header,
             * but we would rather keep things simple: plain frames. */
            close(t->fd);
            t->vnet = 0;
            t->fd = tap_attach(name, IFF_TAP | IFF_NO_PI);
            if (t->fd < 0) {
                rc = t->fd;
                sl_io_err(err, errlen, "tap: TUNSETIFF '%s': %s", name, strerror(-rc));
                goto fail;
            }
        }
    }
    t->vnet_len = t->vnet ? TAP_VNET_LEN : 0;

    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        rc = -errno;
        sl_io_err(err, errlen, "tap: socket: %s", strerror(errno));
        goto fail;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, name, strlen(name));
    const char *what = NULL;
    if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
        what = "SIOCGIFHWADDR";
    else {
        const uint8_t *km = (const uint8_t *)ifr.ifr_hwaddr.sa_data;
        /* our MAC: locally administered unicast, distinct from the
         * kernel's end of the link */
        uint8_t mac[6] = {0x02, 0x53, 0x4c, km[3], km[4], (uint8_t)(km[5] ^ 0x5a)};
        memcpy(t->io.mac, mac, 6);
        if (ioctl(s, SIOCGIFMTU, &ifr) < 0)
            what = "SIOCGIFMTU";
        else {
            t->io.mtu = (uint32_t)ifr.ifr_mtu;
            if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                what = "SIOCGIFFLAGS";
            else if (!(ifr.ifr_flags & IFF_UP)) {
                ifr.ifr_flags |= IFF_UP;
                if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                    what = "SIOCSIFFLAGS(up)";
            }
        }
    }
    if (what) {
        rc = -errno;
        sl_io_err(err, errlen, "tap: %s on '%s': %s", what, name, strerror(errno));
        close(s);
        goto fail;
    }
    close(s);

    t->io.max_frame = t->vnet ? TAP_MAX_FRAME : t->io.mtu + TAP_ETH_HLEN;
    t->io.max_gso = t->vnet ? TAP_MAX_GSO : 0;
    t->io.csum_offload = t->vnet;
    *out = &t->io;
    return 0;
fail:
    tap_destroy(&t->io);
    return rc;
}
