/* AF_PACKET backend: one SOCK_RAW/ETH_P_ALL socket bound to an interface,
 * with a TPACKET_V2 mmap RX ring and TX ring and the virtio-net header
 * (PACKET_VNET_HDR) so that checksum offload and TSO/GSO cross the
 * user/kernel boundary in both directions.
 *
 * RX: the kernel writes each frame into a ring slot; rx_burst hands out
 *     views straight into the ring and gives the slots back to the kernel
 *     (TP_STATUS_KERNEL) on the next rx_burst / rx_release. Slots are
 *     ~68 KB so that the 64 KB GSO super-frames a local TSO sender pushes
 *     through veth arrive whole (they are larger than the MTU).
 *     PACKET_IGNORE_OUTGOING keeps our own transmissions out of the ring.
 * TX: tx_alloc hands out the next ring slot (after room for the vnet
 *     header), tx_commit fills the vnet header + tp_len and marks the slot
 *     TP_STATUS_SEND_REQUEST, tx_flush kicks the kernel with one
 *     sendto(MSG_DONTWAIT), which transmits every pending slot.
 *     PACKET_QDISC_BYPASS skips the qdisc layer (dev_direct_xmit).
 *
 * Kernel behaviours this code relies on (net/packet/af_packet.c, 6.x):
 *  - tpacket_snd does not cap frame size by the MTU when a vnet header is
 *    used, so GSO super-frames fit; frames past copylen (= vnet hdr_len)
 *    are attached as page frags of the ring, flagged zero-copy, so veth
 *    copies them before forwarding (no reuse hazard when the slot is
 *    marked available early by skb_orphan on the peer).
 *  - A transmit that fails *after* the skb was freed (e.g. veth backlog
 *    full) leaves the slot in SEND_REQUEST and returns an error: the frame
 *    is retried on the next kick.
 *  - A malformed frame (TP_STATUS_WRONG_FORMAT) stops the kernel at that
 *    slot; we count it and overwrite the slot with a harmless frame to our
 *    own MAC so the ring moves on (we do not use PACKET_LOSS, which would
 *    skip bad frames silently).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/io.h"

#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef TP_STATUS_CSUM_VALID
#define TP_STATUS_CSUM_VALID (1 << 7)
#endif

/* Ring geometry. Blocks are allocated by the kernel as power-of-two page
 * runs, so 1 MB blocks holding 15 frames of 69904 bytes waste < 1%.
 * Every frame takes a whole slot, so the slot count is what absorbs bursts
 * and scheduling hiccups on RX: 240 RX slots (16 MB), 120 TX slots (8 MB). */
#define PK_BLOCK_SIZE (1u << 20)
#define PK_FRAMES_PER_BLOCK 15u
#define PK_FRAME_SIZE ((PK_BLOCK_SIZE / PK_FRAMES_PER_BLOCK) & ~(unsigned)(TPACKET_ALIGNMENT - 1))
#define PK_RX_BLOCK_NR 16u
#define PK_TX_BLOCK_NR 8u
#define PK_RX_FRAME_NR (PK_RX_BLOCK_NR * PK_FRAMES_PER_BLOCK)
#define PK_TX_FRAME_NR (PK_TX_BLOCK_NR * PK_FRAMES_PER_BLOCK)

#define PK_ETH_HLEN 14u
#define PK_MAX_FRAME (PK_ETH_HLEN + 65535u) /* largest IPv4 packet + Ethernet */
/* Largest TCP payload of a super-segment: the skb (Ethernet included) must
 * stay below the device's gso_max_size (64 KB default) and the IPv4 total
 * length below 65536, with room for a 60-byte TCP header. */
#define PK_MAX_GSO (65536u - 1u - PK_ETH_HLEN - 20u - 60u)
/* Frames up to this size are copied whole into the skb head by the kernel
 * (vnet hdr_len = len): cheaper than page frags for small frames. */
#define PK_LINEAR_MAX 2048u

/* TPACKET_V2 TX data offset without PACKET_TX_HAS_OFF. */
#define PK_TX_DATA_OFF (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
#define PK_VNET_LEN ((uint32_t)sizeof(struct virtio_net_hdr))

_Static_assert(PK_TX_DATA_OFF + sizeof(struct virtio_net_hdr) + PK_MAX_FRAME <= PK_FRAME_SIZE,
               "tx frame too small");
_Static_assert(TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + sizeof(struct virtio_net_hdr) + PK_MAX_FRAME <=
                   PK_FRAME_SIZE,
               "rx frame too small");
_Static_assert(PK_FRAMES_PER_BLOCK * PK_FRAME_SIZE <= PK_BLOCK_SIZE, "block too small");

struct pk_io {
    struct sl_io io;
    int fd;
    int ifindex;
    int vnet;          /* PACKET_VNET_HDR active */
    uint32_t vnet_len; /* bytes in front of the Ethernet header on TX */
    uint8_t *map;
    size_t map_len;

    uint8_t *rx_fr[PK_RX_FRAME_NR];
    uint32_t rx_next;      /* next slot to look at */
    uint32_t rx_held_first; /* first slot handed to the caller / skipped */
    uint32_t rx_held_n;     /* slots not yet returned to the kernel */

    uint8_t *tx_fr[PK_TX_FRAME_NR];
    uint32_t tx_next;   /* slot tx_alloc hands out next */
    uint32_t tx_oldest; /* oldest committed slot not yet taken by the kernel */
    uint32_t tx_unsent; /* committed slots not yet taken by the kernel */
    int tx_allocated;

    uint64_t ctr_local[SL_CTR__COUNT];
};

static inline void ctr_add(struct sl_io *io, enum sl_ctr c, uint64_t n)
{
    if (io->ctr)
        io->ctr[c] += n;
}

static void pk_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static inline uint32_t st_load(const void *frame)
{
    const struct tpacket2_hdr *h = frame;
    return __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
}

static inline void st_store(void *frame, uint32_t st)
{
    struct tpacket2_hdr *h = frame;
    __atomic_store_n(&h->tp_status, st, __ATOMIC_RELEASE);
}

static inline uint32_t rx_inc(uint32_t i)
{
    return i + 1 == PK_RX_FRAME_NR ? 0 : i + 1;
}

static inline uint32_t tx_inc(uint32_t i)
{
    return i + 1 == PK_TX_FRAME_NR ? 0 : i + 1;
}

/* ---- receive ---------------------------------------------------------- */

static void pk_rx_release(struct sl_io *io)
{
    struct pk_io *p = (struct pk_io *)io;
    uint32_t i = p->rx_held_first;
    for (uint32_t n = 0; n < p->rx_held_n; n++) {
        st_store(p->rx_fr[i], TP_STATUS_KERNEL);
        i = rx_inc(i);
    }
    p->rx_held_n = 0;
    p->rx_held_first = p->rx_next;
}

static int pk_rx_burst(struct sl_io *io, struct sl_frame *frames, int max)
{
    struct pk_io *p = (struct pk_io *)io;
    pk_rx_release(io);

    int n = 0;
    while (n < max && p->rx_held_n < PK_RX_FRAME_NR) {
        uint8_t *fr = p->rx_fr[p->rx_next];
        uint32_t st = st_load(fr);
        if (!(st & TP_STATUS_USER))
            break;
        /* The slot is ours until the next release, whether we deliver it
         * or skip it; held slots are always contiguous. */
        p->rx_held_n++;
        p->rx_next = rx_inc(p->rx_next);

        const struct tpacket2_hdr *h = (const struct tpacket2_hdr *)fr;
        if (st & TP_STATUS_LOSING) {
            /* The kernel dropped frames because the ring was full: read
             * (and reset) its drop count so the loss is visible. */
            struct tpacket_stats ts;
            socklen_t tl = sizeof(ts);
            if (getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &ts, &tl) == 0)
                ctr_add(io, SL_CTR_drop_rx_ring_full, ts.tp_drops);
        }
        const struct sockaddr_ll *sll =
            (const struct sockaddr_ll *)(fr + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)));
        if (sll->sll_pkttype == PACKET_OUTGOING)
            continue; /* our own transmission (IGNORE_OUTGOING unsupported) */
        if (h->tp_snaplen < h->tp_len || h->tp_snaplen < PK_ETH_HLEN) {
            ctr_add(io, SL_CTR_drop_rx_truncated, 1);
            continue;
        }
        uint8_t *data = fr + h->tp_mac;
        uint32_t len = h->tp_snaplen;
        uint32_t flags = 0;
        int unverified = (st & TP_STATUS_CSUMNOTREADY) != 0;
        if (p->vnet) {
            const struct virtio_net_hdr *vh =
                (const struct virtio_net_hdr *)(data - sizeof(struct virtio_net_hdr));
            if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
                unverified = 1;
            else if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID)
                flags |= SL_FRAME_CSUM_TRUSTED;
        }
        if (st & TP_STATUS_CSUM_VALID)
            flags |= SL_FRAME_CSUM_TRUSTED;
        if (unverified) {
            flags |= SL_FRAME_CSUM_TRUSTED;
            ctr_add(io, SL_CTR_rx_csum_unverified, 1);
        }
        if (len > io->mtu + PK_ETH_HLEN)
            ctr_add(io, SL_CTR_rx_oversize_frames, 1);
        ctr_add(io, SL_CTR_rx_frames, 1);
        ctr_add(io, SL_CTR_rx_bytes, len);
        frames[n].data = data;
        frames[n].len = len;
        frames[n].flags = flags;
        n++;
    }
    return n;
}

/* ---- transmit --------------------------------------------------------- */

/* Replace a frame the kernel refused with a minimal frame addressed to our
 * own MAC (peers drop it as PACKET_OTHERHOST), so the ring can advance. */
static void pk_tx_neutralize(struct pk_io *p, uint8_t *fr)
{
    uint8_t *d = fr + PK_TX_DATA_OFF;
    if (p->vnet) {
        memset(d, 0, PK_VNET_LEN);
        d += PK_VNET_LEN;
    }
    memset(d, 0, 60);
    memcpy(d, p->io.mac, 6);
    memcpy(d + 6, p->io.mac, 6);
    d[12] = 0x88; /* IEEE 802 local experimental ethertype */
    d[13] = 0xb5;
    ((struct tpacket2_hdr *)fr)->tp_len = p->vnet_len + 60;
    st_store(fr, TP_STATUS_SEND_REQUEST);
}

/* Walk committed slots the kernel has taken. Returns 1 if a refused slot
 * was neutralised (the caller should kick again). */
static int pk_tx_reap(struct pk_io *p)
{
    while (p->tx_unsent) {
        uint8_t *fr = p->tx_fr[p->tx_oldest];
        uint32_t st = st_load(fr);
        if (st & TP_STATUS_WRONG_FORMAT) {
            ctr_add(&p->io, SL_CTR_drop_tx_error, 1);
            pk_tx_neutralize(p, fr);
            return 1;
        }
        if (st & TP_STATUS_SEND_REQUEST)
            return 0; /* kernel stopped here (no buffer space / error) */
        p->tx_oldest = tx_inc(p->tx_oldest);
        p->tx_unsent--;
    }
    return 0;
}

static int pk_kick(struct pk_io *p)
{
    for (int tries = 0; tries < 8; tries++) {
        ssize_t r = sendto(p->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
        int e = r < 0 ? errno : 0;
        int fixed = pk_tx_reap(p);
        if (!p->tx_unsent)
            return 0;
        if (fixed)
            continue;
        if (e == 0 || e == EAGAIN || e == ENOBUFS || e == EINTR)
            return -EAGAIN; /* frames stay queued; retried on the next kick */
        ctr_add(&p->io, SL_CTR_drop_tx_error, 1);
        return -e;
    }
    return -EAGAIN;
}

static uint8_t *pk_tx_alloc(struct sl_io *io, uint32_t len)
{
    struct pk_io *p = (struct pk_io *)io;
    if (len > io->max_frame) {
        ctr_add(io, SL_CTR_drop_tx_error, 1);
        return NULL;
    }
    uint8_t *fr = p->tx_fr[p->tx_next];
    uint32_t st = st_load(fr);
    if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING | TP_STATUS_WRONG_FORMAT)) {
        /* Ring full of our own unsent frames: push them out and retry. */
        if (p->tx_unsent && (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_WRONG_FORMAT))) {
            pk_kick(p);
            st = st_load(fr);
        }
        if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING | TP_STATUS_WRONG_FORMAT)) {
            p->tx_allocated = 0;
            ctr_add(io, SL_CTR_drop_tx_ring_full, 1);
            return NULL;
        }
    }
    p->tx_allocated = 1;
    return fr + PK_TX_DATA_OFF + p->vnet_len;
}

static int pk_tx_commit(struct sl_io *io, uint32_t len, const struct sl_tx_meta *meta)
{
    struct pk_io *p = (struct pk_io *)io;
    if (!p->tx_allocated)
        return -EINVAL;
    p->tx_allocated = 0;
    uint8_t *fr = p->tx_fr[p->tx_next];
    uint8_t *data = fr + PK_TX_DATA_OFF + p->vnet_len;
    int gso = 0;

    if (len < PK_ETH_HLEN || len > io->max_frame)
        goto bad;
    if (p->vnet) {
        struct virtio_net_hdr *vh = (struct virtio_net_hdr *)(fr + PK_TX_DATA_OFF);
        memset(vh, 0, sizeof(*vh));
        uint32_t hdr_len = len <= PK_LINEAR_MAX ? len : PK_ETH_HLEN;
        if (meta && meta->csum_partial) {
            if ((uint32_t)meta->l4_off + 18u > len || meta->l4_off < PK_ETH_HLEN + 20u)
                goto bad;
            vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
            vh->csum_start = meta->l4_off;
            vh->csum_offset = 16; /* offsetof(struct tcphdr, check) */
        }
        if (meta && meta->gso_size) {
            uint32_t l4 = meta->l4_off;
            if (l4 < PK_ETH_HLEN + 20u || l4 + 20u > len)
                goto bad;
            uint32_t thl = (uint32_t)(data[l4 + 12] >> 4) * 4u;
            uint32_t hl = l4 + thl;
            if (thl < 20 || hl > len || (hl - PK_ETH_HLEN) + meta->gso_size > io->mtu)
                goto bad;
            if (len - hl > meta->gso_size) {
                if (len - hl > io->max_gso)
                    goto bad;
                vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
                if (data[l4 + 13] & 0x80) /* CWR */
                    vh->gso_type |= VIRTIO_NET_HDR_GSO_ECN;
                vh->gso_size = meta->gso_size;
                gso = 1;
            }
            if (len > PK_LINEAR_MAX)
                hdr_len = hl;
        }
        vh->hdr_len = (uint16_t)hdr_len;
    } else if (meta && (meta->gso_size || meta->csum_partial)) {
        goto bad; /* not advertised without the vnet header */
    }
    if (!gso && len > io->mtu + PK_ETH_HLEN)
        goto bad; /* would be dropped by the peer as too big */

    ((struct tpacket2_hdr *)fr)->tp_len = len + p->vnet_len;
    st_store(fr, TP_STATUS_SEND_REQUEST);
    p->tx_next = tx_inc(p->tx_next);
    p->tx_unsent++;
    ctr_add(io, SL_CTR_tx_frames, 1);
    ctr_add(io, SL_CTR_tx_bytes, len);
    if (gso)
        ctr_add(io, SL_CTR_tx_gso_frames, 1);
    return 0;
bad:
    ctr_add(io, SL_CTR_drop_tx_error, 1);
    return -EINVAL;
}

static int pk_tx_flush(struct sl_io *io)
{
    struct pk_io *p = (struct pk_io *)io;
    if (!p->tx_unsent)
        return 0;
    return pk_kick(p);
}

static int pk_poll_fd(struct sl_io *io)
{
    return ((struct pk_io *)io)->fd;
}

static void pk_destroy(struct sl_io *io)
{
    struct pk_io *p = (struct pk_io *)io;
    if (!p)
        return;
    if (p->tx_unsent)
        pk_kick(p);
    if (p->map && p->map != MAP_FAILED)
        munmap(p->map, p->map_len);
    if (p->fd >= 0)
        close(p->fd);
    free(p);
}

static const struct sl_io_ops pk_ops = {
    .name = "packet",
    .rx_burst = pk_rx_burst,
    .rx_release = pk_rx_release,
    .tx_alloc = pk_tx_alloc,
    .tx_commit = pk_tx_commit,
    .tx_flush = pk_tx_flush,
    .poll_fd = pk_poll_fd,
    .destroy = pk_destroy,
};

int sl_io_packet_open(const char *ifname, struct sl_io **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!ifname || !*ifname || strlen(ifname) >= IFNAMSIZ) {
        pk_err(err, errlen, "packet: bad interface name '%s'", ifname ? ifname : "");
        return -EINVAL;
    }
    struct pk_io *p = calloc(1, sizeof(*p));
    if (!p) {
        pk_err(err, errlen, "packet: out of memory");
        return -ENOMEM;
    }
    p->fd = -1;
    p->io.ops = &pk_ops;
    p->io.ctr = p->ctr_local;
    int rc;
    const char *what;

    p->ifindex = (int)if_nametoindex(ifname);
    if (!p->ifindex) {
        rc = -errno;
        pk_err(err, errlen, "packet: interface '%s': %s", ifname, strerror(errno));
        goto fail;
    }
    /* Protocol 0: receive nothing until bound to the interface below. */
    p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (p->fd < 0) {
        what = "socket(AF_PACKET)";
        goto sys_fail;
    }

    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, ifname, strlen(ifname));
    if (ioctl(p->fd, SIOCGIFHWADDR, &ifr) < 0) {
        what = "SIOCGIFHWADDR";
        goto sys_fail;
    }
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
        rc = -EINVAL;
        pk_err(err, errlen, "packet: '%s' is not an Ethernet interface (hw type %d)", ifname,
               ifr.ifr_hwaddr.sa_family);
        goto fail;
    }
    memcpy(p->io.mac, ifr.ifr_hwaddr.sa_data, 6);
    if (ioctl(p->fd, SIOCGIFMTU, &ifr) < 0) {
        what = "SIOCGIFMTU";
        goto sys_fail;
    }
    p->io.mtu = (uint32_t)ifr.ifr_mtu;

    int v = TPACKET_V2;
    if (setsockopt(p->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0) {
        what = "PACKET_VERSION(TPACKET_V2)";
        goto sys_fail;
    }
    int one = 1;
    /* SL_IO_PACKET_NO_VNET=1 forces the plain-frame fallback (for tests). */
    const char *novnet = getenv("SL_IO_PACKET_NO_VNET");
    if (!(novnet && *novnet && strcmp(novnet, "0") != 0))
        p->vnet = setsockopt(p->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) == 0;
    p->vnet_len = p->vnet ? PK_VNET_LEN : 0;
    /* Best effort: performance options. */
    (void)setsockopt(p->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
    (void)setsockopt(p->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
    /* Every in-flight TX skb is charged to the socket send buffer; let the
     * whole TX ring be in flight. */
    int sndbuf = (int)(PK_BLOCK_SIZE * PK_TX_BLOCK_NR * 2);
    if (setsockopt(p->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
        (void)setsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

    struct tpacket_req req = {
        .tp_block_size = PK_BLOCK_SIZE,
        .tp_block_nr = PK_RX_BLOCK_NR,
        .tp_frame_size = PK_FRAME_SIZE,
        .tp_frame_nr = PK_RX_FRAME_NR,
    };
    if (setsockopt(p->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
        what = "PACKET_RX_RING";
        goto sys_fail;
    }
    req.tp_block_nr = PK_TX_BLOCK_NR;
    req.tp_frame_nr = PK_TX_FRAME_NR;
    if (setsockopt(p->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) < 0) {
        what = "PACKET_TX_RING";
        goto sys_fail;
    }
    /* one mapping: RX ring first, TX ring right after */
    size_t rx_len = (size_t)PK_BLOCK_SIZE * PK_RX_BLOCK_NR;
    p->map_len = rx_len + (size_t)PK_BLOCK_SIZE * PK_TX_BLOCK_NR;
    p->map = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, p->fd, 0);
    if (p->map == MAP_FAILED) {
        p->map = NULL;
        what = "mmap(rings)";
        goto sys_fail;
    }
    for (uint32_t i = 0; i < PK_RX_FRAME_NR; i++)
        p->rx_fr[i] = p->map + (size_t)(i / PK_FRAMES_PER_BLOCK) * PK_BLOCK_SIZE +
                      (size_t)(i % PK_FRAMES_PER_BLOCK) * PK_FRAME_SIZE;
    for (uint32_t i = 0; i < PK_TX_FRAME_NR; i++)
        p->tx_fr[i] = p->map + rx_len + (size_t)(i / PK_FRAMES_PER_BLOCK) * PK_BLOCK_SIZE +
                      (size_t)(i % PK_FRAMES_PER_BLOCK) * PK_FRAME_SIZE;

    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = p->ifindex;
    if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        what = "bind";
        goto sys_fail;
    }

    p->io.max_frame = p->vnet ? PK_MAX_FRAME : p->io.mtu + PK_ETH_HLEN;
    p->io.max_gso = p->vnet ? PK_MAX_GSO : 0;
    p->io.csum_offload = p->vnet;
    *out = &p->io;
    return 0;

sys_fail:
    rc = -errno;
    pk_err(err, errlen, "packet: %s on '%s': %s", what, ifname, strerror(errno));
fail:
    pk_destroy(&p->io);
    return rc;
}
