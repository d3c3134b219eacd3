/* AF_PACKET backend: one SOCK_RAW/ETH_P_ALL socket bound to an interface,
 * with a TPACKET_V2 mmap RX ring and TX ring and the virtio-net header
 * (PACKET_VNET_HDR) so that checksum offload and TSO/GSO cross the
 * user/kernel boundary in both directions.
 *
 * RX: the kernel writes each frame into a ring slot; rx_burst hands out
 *     views straight into the ring and gives the slots back to the kernel
 *     (TP_STATUS_KERNEL) on the next rx_burst / rx_release. Slots are
 *     sized for one MTU-sized frame, so that a ring of modest size holds
 *     many frames (a burst of thousands of SYNs); the number of slots is
 *     a parameter (sl_io_opts.rx_frames, slhttpd --rx-ring). Frames larger
 *     than a slot (the 64 KB GSO super-frames a local TSO sender pushes
 *     through veth, GRO aggregates) are written truncated, flagged
 *     TP_STATUS_COPY, and queued whole on the socket (PACKET_COPY_THRESH):
 *     rx_burst reads them with recv() into one of a few large buffers.
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
 *  - tpacket_rcv queues the whole copy of a truncated frame on the socket
 *    in ring order, under the same lock, and only if it got a slot: the
 *    n-th TP_STATUS_COPY slot matches the n-th queued frame. Without room
 *    in the socket's receive buffer there is no copy (no TP_STATUS_COPY):
 *    the frame is counted as truncated.
 *  - A malformed frame (TP_STATUS_WRONG_FORMAT) stops the kernel at that
 *    slot; we count it and overwrite the slot with a harmless frame to our
 *    own MAC so the ring moves on (we do not use PACKET_LOSS, which would
 *    skip bad frames silently).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "io/io.h"
#include "io/vnet.h"

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
 * runs. TX slots hold a whole super-frame: 15 slots of 69904 bytes per
 * 1 MB block (< 1% waste), 120 slots (8 MB). RX slots hold one frame of
 * the MTU (pk_rx_frame_size): at MTU 1500, 1664 bytes, 157 per 256 KB
 * block; PK_RX_FRAMES_DEFAULT of them unless asked otherwise (52 MB),
 * fewer at a larger MTU (PK_RX_BYTES_DEFAULT). A burst of N connections
 * opened at once brings about 3N frames (SYN, ACK, request). */
#define PK_BLOCK_SIZE (1u << 20)
#define PK_FRAMES_PER_BLOCK 15u
#define PK_FRAME_SIZE ((PK_BLOCK_SIZE / PK_FRAMES_PER_BLOCK) & ~(unsigned)(TPACKET_ALIGNMENT - 1))
#define PK_TX_BLOCK_NR 8u
#define PK_TX_FRAME_NR (PK_TX_BLOCK_NR * PK_FRAMES_PER_BLOCK)
#define PK_RX_BLOCK_SIZE (256u << 10)
#define PK_RX_FRAMES_DEFAULT 32768u
#define PK_RX_BYTES_DEFAULT (56u << 20) /* caps the default at a large MTU */
#define PK_RX_FRAMES_MIN 64u
#define PK_RX_FRAMES_MAX (1u << 20)
/* Large receive buffers for frames copied out of the socket queue; a
 * burst stops when they are all in use. */
#define PK_RX_BIG 16u
/* Receive buffer for those copies (the kernel makes none beyond it). */
#define PK_RX_COPY_BUF (64 << 20)

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
_Static_assert(PK_FRAMES_PER_BLOCK * PK_FRAME_SIZE <= PK_BLOCK_SIZE, "block too small");

/* Transmit offloads, named as in the kernel's ETH_SS_FEATURES string set
 * (`ethtool -k`); bit positions differ between kernels, names do not. */
enum { PK_F_TSO, PK_F_TSO_ECN, PK_F_SG, PK_F_CSUM_IP, PK_F_CSUM_HW, PK_F__N };
static const char *const pk_feat_names[PK_F__N] = {
    [PK_F_TSO] = "tx-tcp-segmentation",     [PK_F_TSO_ECN] = "tx-tcp-ecn-segmentation",
    [PK_F_SG] = "tx-scatter-gather",        [PK_F_CSUM_IP] = "tx-checksum-ipv4",
    [PK_F_CSUM_HW] = "tx-checksum-ip-generic",
};
#define PK_FEAT_ALL ((1u << PK_F__N) - 1u)
#define PK_FEAT_PERIOD_NS 1000000000ull /* without rtnetlink: read every second */
#define PK_NL_PERIOD_NS 10000000ull      /* look for link notifications every 10 ms */
#define PK_FEAT_ERR_GAP_NS 1000000ull   /* at most once a millisecond on refusals */
/* A refused frame: sent again after 50 us, 100 us, ... (doubling), at most
 * PK_TX_RETRIES times (~50 ms in all), then dropped. */
#define PK_TX_RETRIES 10u
#define PK_TX_BACKOFF_NS 50000ull

struct pk_io {
    struct sl_io io;
    int fd;
    int ifindex;
    int vnet;          /* PACKET_VNET_HDR active */
    uint32_t vnet_len; /* bytes in front of the Ethernet header on TX */
    uint8_t *map;
    size_t map_len;

    uint8_t **rx_fr;       /* rx_nr slots */
    uint32_t rx_nr;
    uint32_t rx_frame_size;
    size_t rx_len;         /* bytes of the mapping that are the RX ring */
    uint8_t *rx_big[PK_RX_BIG]; /* copies of frames larger than a slot */
    uint32_t rx_big_used;  /* handed out since the last release */
    uint32_t rx_next;      /* next slot to look at */
    uint32_t rx_held_first; /* first slot handed to the caller / skipped */
    uint32_t rx_held_n;     /* slots not yet returned to the kernel */

    uint8_t *tx_fr[PK_TX_FRAME_NR];
    uint8_t tx_hwgso[PK_TX_FRAME_NR]; /* slot holds a super-frame for the device */
    uint32_t tx_next;   /* slot tx_alloc hands out next */
    uint32_t tx_oldest; /* oldest committed slot not yet taken by the kernel */
    uint32_t tx_unsent; /* committed slots not yet taken by the kernel */
    int tx_allocated;

    /* The frame at the head of the TX ring that the kernel refused: it is
     * sent again after a backoff, PK_TX_RETRIES times at most, then
     * dropped, so that it never holds the frames behind it for long. */
    int stuck;
    uint32_t stuck_slot;
    uint32_t stuck_tries;
    uint64_t retry_ns; /* no kick before this time while stuck */

    /* The device's transmit offloads (ETHTOOL_GFEATURES), read at open,
     * when the kernel announces a change of the link (an rtnetlink
     * RTM_NEWLINK, looked for every PK_NL_PERIOD_NS while transmitting;
     * without rtnetlink, read every PK_FEAT_PERIOD_NS) and when a
     * super-frame is refused. The ioctl takes the kernel's rtnl lock,
     * which namespace teardown can hold for long: it is not polled. */
    char ifname[IFNAMSIZ];
    int nl_fd;             /* NETLINK_ROUTE, RTMGRP_LINK; -1 if none */
    int feat_bit[PK_F__N]; /* bit in the features string set, -1 unknown */
    uint32_t feat_words;   /* 0: cannot be read (all assumed present) */
    struct ethtool_gfeatures *feat_req;
    uint32_t feat;         /* PK_F_* bits the device has now */
    int feat_seen;         /* feat was read at least once */
    uint64_t feat_next_ns; /* next periodic read */
    uint64_t feat_err_ns;  /* last read caused by a refusal */
    int tso_refused;       /* the device refused super-frames although it
                              advertises TSO: segment in software until its
                              features change */
    uint8_t *gso_buf;      /* copy of the super-frame being segmented */

    uint64_t ctr_local[SL_CTR__COUNT];
};

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

static inline uint32_t rx_inc(const struct pk_io *p, uint32_t i)
{
    return i + 1 == p->rx_nr ? 0 : i + 1;
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
        i = rx_inc(p, i);
    }
    p->rx_held_n = 0;
    p->rx_held_first = p->rx_next;
    p->rx_big_used = 0;
}

static int pk_rx_burst(struct sl_io *io, struct sl_frame *frames, int max)
{
    struct pk_io *p = (struct pk_io *)io;
    pk_rx_release(io);

    int n = 0;
    while (n < max && p->rx_held_n < p->rx_nr) {
        uint8_t *fr = p->rx_fr[p->rx_next];
        uint32_t st = st_load(fr);
        if (!(st & TP_STATUS_USER))
            break;
        if ((st & TP_STATUS_COPY) && p->rx_big_used == PK_RX_BIG)
            break; /* no buffer left for its copy: next burst */
        /* The slot is ours until the next release, whether we deliver it
         * or skip it; held slots are always contiguous. */
        p->rx_held_n++;
        p->rx_next = rx_inc(p, p->rx_next);

        const struct tpacket2_hdr *h = (const struct tpacket2_hdr *)fr;
        if (st & TP_STATUS_LOSING) {
            /* The kernel dropped frames because the ring was full: read
             * (and reset) its drop count so the loss is visible. */
            struct tpacket_stats ts;
            socklen_t tl = sizeof(ts);
            if (getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &ts, &tl) == 0)
                sl_io_ctr_add(io, SL_CTR_drop_rx_ring_full, ts.tp_drops);
        }
        uint8_t *data = fr + h->tp_mac;
        uint32_t len = h->tp_snaplen;
        if (st & TP_STATUS_COPY) {
            /* the whole frame waits on the socket: take it (always, to
             * keep slots and copies in step) */
            uint8_t *b = p->rx_big[p->rx_big_used];
            ssize_t r = recv(p->fd, b, p->vnet_len + PK_MAX_FRAME, MSG_DONTWAIT | MSG_TRUNC);
            if (r < (ssize_t)(p->vnet_len + PK_ETH_HLEN) ||
                r > (ssize_t)(p->vnet_len + PK_MAX_FRAME)) {
                sl_io_ctr_add(io, SL_CTR_drop_rx_truncated, 1);
                continue;
            }
            p->rx_big_used++;
            data = b + p->vnet_len;
            len = (uint32_t)r - p->vnet_len;
            sl_io_ctr_add(io, SL_CTR_rx_copied_frames, 1);
        } else if (h->tp_snaplen < h->tp_len || h->tp_snaplen < PK_ETH_HLEN) {
            sl_io_ctr_add(io, SL_CTR_drop_rx_truncated, 1);
            continue;
        }
        const struct sockaddr_ll *sll =
            (const struct sockaddr_ll *)(fr + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)));
        if (sll->sll_pkttype == PACKET_OUTGOING)
            continue; /* our own transmission (IGNORE_OUTGOING unsupported) */
        uint32_t flags = 0;
        int unverified = (st & TP_STATUS_CSUMNOTREADY) != 0;
        if (p->vnet && sl_vnet_rx_unverified((const struct virtio_net_hdr *)(data - PK_VNET_LEN),
                                             &flags))
            unverified = 1;
        if (st & TP_STATUS_CSUM_VALID)
            flags |= SL_FRAME_CSUM_TRUSTED;
        sl_vnet_rx_frame(io, &frames[n++], data, len, flags, unverified);
    }
    return n;
}

/* ---- device offloads --------------------------------------------------- */

static uint64_t pk_now_ns(void) { return sl_clock_coarse_ns(); }

static int pk_ethtool(struct pk_io *p, void *cmd)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, p->ifname, sizeof(ifr.ifr_name));
    ifr.ifr_data = cmd;
    return ioctl(p->fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

/* Find where the kernel keeps each feature we use (ETHTOOL_GSSET_INFO +
 * ETHTOOL_GSTRINGS on ETH_SS_FEATURES). Without them (feat_words == 0)
 * every offload is assumed, and a refused super-frame turns TSO off. */
static void pk_feat_init(struct pk_io *p)
{
    for (int k = 0; k < PK_F__N; k++)
        p->feat_bit[k] = -1;
    p->feat = PK_FEAT_ALL;
    /* struct ethtool_sset_info ends in a flexible array: one u32 here */
    union {
        struct ethtool_sset_info hdr;
        uint8_t raw[sizeof(struct ethtool_sset_info) + sizeof(uint32_t)];
    } ss;
    memset(&ss, 0, sizeof(ss));
    ss.hdr.cmd = ETHTOOL_GSSET_INFO;
    ss.hdr.sset_mask = 1ull << ETH_SS_FEATURES;
    if (pk_ethtool(p, &ss) < 0 || !(ss.hdr.sset_mask & (1ull << ETH_SS_FEATURES)))
        return;
    uint32_t n;
    memcpy(&n, ss.raw + sizeof(struct ethtool_sset_info), sizeof(n));
    if (!n || n > 4096)
        return;
    struct ethtool_gstrings *gs = calloc(1, sizeof(*gs) + (size_t)n * ETH_GSTRING_LEN);
    if (!gs)
        return;
    gs->cmd = ETHTOOL_GSTRINGS;
    gs->string_set = ETH_SS_FEATURES;
    gs->len = n;
    if (pk_ethtool(p, gs) == 0) {
        for (uint32_t i = 0; i < n && i < gs->len; i++) {
            const char *name = (const char *)gs->data + (size_t)i * ETH_GSTRING_LEN;
            for (int k = 0; k < PK_F__N; k++)
                if (strncmp(name, pk_feat_names[k], ETH_GSTRING_LEN) == 0)
                    p->feat_bit[k] = (int)i;
        }
        uint32_t words = (n + 31) / 32;
        p->feat_req = calloc(1, sizeof(*p->feat_req) + words * sizeof(p->feat_req->features[0]));
        if (p->feat_req)
            p->feat_words = words;
    }
    free(gs);
}

/* Read the active offloads (one ETHTOOL_GFEATURES ioctl). */
static void pk_feat_read(struct pk_io *p, uint64_t now)
{
    p->feat_next_ns = now + (p->nl_fd >= 0 ? PK_NL_PERIOD_NS : PK_FEAT_PERIOD_NS);
    if (!p->feat_words)
        return;
    memset(p->feat_req, 0, sizeof(*p->feat_req));
    p->feat_req->cmd = ETHTOOL_GFEATURES;
    p->feat_req->size = p->feat_words;
    if (pk_ethtool(p, p->feat_req) < 0)
        return; /* keep what we knew */
    uint32_t f = 0;
    for (int k = 0; k < PK_F__N; k++) {
        int b = p->feat_bit[k];
        if (b >= 0 && (p->feat_req->features[b / 32].active >> (b % 32)) & 1u)
            f |= 1u << k;
    }
    if (f != p->feat && p->feat_seen) {
        sl_io_ctr_add(&p->io, SL_CTR_tx_offload_changes, 1);
        p->tso_refused = 0; /* a new configuration: try the device again */
    }
    p->feat = f;
    p->feat_seen = 1;
}

/* Subscribe to link notifications (best effort: -1 means poll). */
static int pk_nl_open(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (fd < 0)
        return -1;
    struct sockaddr_nl sa;
    memset(&sa, 0, sizeof(sa));
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_LINK;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Drain pending link notifications; 1 if one may concern our device (or
 * some were lost: the socket overflowed). */
static int pk_nl_changed(struct pk_io *p)
{
    uint8_t buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
    int changed = 0;
    for (int k = 0; k < 64; k++) {
        ssize_t n = recv(p->nl_fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0)
            return changed || errno == ENOBUFS;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type != RTM_NEWLINK ||
                h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
                continue;
            const struct ifinfomsg *ifi = NLMSG_DATA(h);
            if (ifi->ifi_index == p->ifindex)
                changed = 1;
        }
    }
    return 1;
}

/* Called on every flush: cheap (a clock read) except every
 * PK_NL_PERIOD_NS (one recv) or PK_FEAT_PERIOD_NS (one ioctl). */
static void pk_feat_tick(struct pk_io *p)
{
    uint64_t now = pk_now_ns();
    if (now < p->feat_next_ns)
        return;
    if (p->nl_fd >= 0 && !pk_nl_changed(p)) {
        p->feat_next_ns = now + PK_NL_PERIOD_NS;
        return;
    }
    pk_feat_read(p, now);
}

/* The device cuts this super-frame itself (TSO needs scatter-gather and
 * checksum offload too; a CWR-marked one needs TSO-ECN). */
static int pk_hw_gso(const struct pk_io *p, int cwr)
{
    uint32_t need = 1u << PK_F_TSO | 1u << PK_F_SG;
    if (cwr)
        need |= 1u << PK_F_TSO_ECN;
    return !p->tso_refused && (p->feat & need) == need &&
           (p->feat & (1u << PK_F_CSUM_IP | 1u << PK_F_CSUM_HW));
}

static int pk_hw_csum(const struct pk_io *p)
{
    return (p->feat & (1u << PK_F_CSUM_IP | 1u << PK_F_CSUM_HW)) != 0;
}

/* ---- transmit --------------------------------------------------------- */

/* Replace a frame the kernel refused with a minimal frame addressed to our
 * own MAC (peers drop it as PACKET_OTHERHOST), so the ring can advance. */
static void pk_tx_neutralize(struct pk_io *p, uint32_t slot)
{
    uint8_t *fr = p->tx_fr[slot];
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
    p->tx_hwgso[slot] = 0;
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
            sl_io_ctr_add(&p->io, SL_CTR_drop_tx_error, 1);
            pk_tx_neutralize(p, p->tx_oldest);
            return 1;
        }
        if (st & TP_STATUS_SEND_REQUEST)
            break; /* kernel stopped here (no buffer space / error) */
        p->tx_oldest = tx_inc(p->tx_oldest);
        p->tx_unsent--;
    }
    if (p->stuck && (!p->tx_unsent || p->stuck_slot != p->tx_oldest))
        p->stuck = 0; /* the refused frame went out */
    return 0;
}

/* The device no longer segments: drop the super-frames still waiting in
 * the ring for it (TCP sends their data again, in software-cut frames). */
static void pk_tx_drop_hwgso(struct pk_io *p)
{
    uint32_t i = p->tx_oldest, n = 0;
    for (uint32_t k = 0; k < p->tx_unsent; k++, i = tx_inc(i)) {
        if (p->tx_hwgso[i] && st_load(p->tx_fr[i]) == TP_STATUS_SEND_REQUEST) {
            pk_tx_neutralize(p, i);
            n++;
        }
    }
    sl_io_ctr_add(&p->io, SL_CTR_drop_tx_gso_refused, n);
}

/* The kernel refused the frame at the head of the ring (it stays there in
 * SEND_REQUEST). Returns 1 if it was dropped (kick again), 0 to back off. */
static int pk_tx_refused(struct pk_io *p, uint64_t now)
{
    uint32_t slot = p->tx_oldest;
    if (!p->stuck || p->stuck_slot != slot) {
        p->stuck = 1;
        p->stuck_slot = slot;
        p->stuck_tries = 0;
    }
    if (p->tx_hwgso[slot]) {
        /* a device that stopped segmenting refuses super-frames: look */
        if (now - p->feat_err_ns >= PK_FEAT_ERR_GAP_NS) {
            p->feat_err_ns = now;
            pk_feat_read(p, now);
        }
        if (!pk_hw_gso(p, 0)) {
            pk_tx_drop_hwgso(p);
            p->stuck = 0;
            return 1;
        }
    }
    if (++p->stuck_tries > PK_TX_RETRIES) {
        if (p->tx_hwgso[slot]) {
            /* the device says it segments but refuses: cut in software
             * until its features change */
            p->tso_refused = 1;
            sl_io_ctr_add(&p->io, SL_CTR_drop_tx_gso_refused, 1);
        } else {
            sl_io_ctr_add(&p->io, SL_CTR_drop_tx_retry_exhausted, 1);
        }
        pk_tx_neutralize(p, slot);
        p->stuck = 0;
        return 1;
    }
    sl_io_ctr_add(&p->io, SL_CTR_tx_retries, 1);
    p->retry_ns = now + (PK_TX_BACKOFF_NS << (p->stuck_tries - 1));
    return 0;
}

static int pk_kick(struct pk_io *p)
{
    uint64_t now = pk_now_ns();
    if (p->stuck && now < p->retry_ns)
        return -EAGAIN; /* backing off a refused frame */
    for (int tries = 0; tries < 8; tries++) {
        ssize_t r = sendto(p->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
        int e = r < 0 ? errno : 0;
        int fixed = pk_tx_reap(p);
        if (!p->tx_unsent)
            return 0;
        if (fixed)
            continue;
        /* Nothing refused: the socket's send buffer is full (in-flight
         * frames not yet completed) or a signal came; next kick. */
        if (e == 0 || e == EAGAIN || e == EINTR)
            return -EAGAIN;
        /* The device is down or gone: frames wait (the ring bounds them). */
        if (e == ENETDOWN || e == ENXIO || e == ENODEV)
            return -e;
        /* The head frame was refused (ENOBUFS: dropped by the device or
         * its queue, e.g. a super-frame it cannot segment). */
        if (!pk_tx_refused(p, now))
            return -EAGAIN;
    }
    return -EAGAIN;
}

/* Next free TX slot (kicking the kernel once if the ring is full of our
 * own unsent frames), or NULL. */
static uint8_t *pk_tx_slot(struct pk_io *p)
{
    uint8_t *fr = p->tx_fr[p->tx_next];
    uint32_t st = st_load(fr);
    const uint32_t busy = TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING | TP_STATUS_WRONG_FORMAT;
    if (st & busy) {
        if (p->tx_unsent && (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_WRONG_FORMAT))) {
            pk_kick(p);
            st = st_load(fr);
        }
        if (st & busy)
            return NULL;
    }
    return fr + PK_TX_DATA_OFF + p->vnet_len;
}

static uint8_t *pk_tx_alloc(struct sl_io *io, uint32_t len)
{
    struct pk_io *p = (struct pk_io *)io;
    p->tx_allocated = 0;
    if (len > io->max_frame) {
        sl_io_ctr_add(io, SL_CTR_drop_tx_error, 1);
        return NULL;
    }
    uint8_t *d = pk_tx_slot(p);
    if (!d) {
        sl_io_ctr_add(io, SL_CTR_drop_tx_ring_full, 1);
        return NULL;
    }
    p->tx_allocated = 1;
    return d;
}

/* Queue the frame of len bytes written into slot tx_next. csum_l4: TCP
 * header offset if the device completes the checksum (else 0); gso_size /
 * hdr_len: a super-frame the device segments. */
static void pk_tx_queue(struct pk_io *p, uint32_t len, uint32_t csum_l4, uint16_t gso_size,
                        uint32_t hdr_len)
{
    uint32_t slot = p->tx_next;
    uint8_t *fr = p->tx_fr[slot];
    uint8_t *data = fr + PK_TX_DATA_OFF + p->vnet_len;
    if (p->vnet) {
        struct virtio_net_hdr *vh = (struct virtio_net_hdr *)(fr + PK_TX_DATA_OFF);
        memset(vh, 0, sizeof(*vh));
        /* Small frames (and every frame when the device cannot gather) are
         * copied whole into the skb head; larger ones stay in the ring as
         * page fragments after their headers. */
        uint32_t lin = len;
        if (len > PK_LINEAR_MAX && (p->feat & (1u << PK_F_SG)))
            lin = hdr_len ? hdr_len : PK_ETH_HLEN;
        vh->hdr_len = (uint16_t)lin;
        if (csum_l4)
            sl_vnet_tx_csum(vh, csum_l4);
        if (gso_size)
            sl_vnet_tx_gso(vh, data, csum_l4, gso_size);
    }
    p->tx_hwgso[slot] = gso_size != 0;
    ((struct tpacket2_hdr *)fr)->tp_len = len + p->vnet_len;
    st_store(fr, TP_STATUS_SEND_REQUEST);
    p->tx_next = tx_inc(p->tx_next);
    p->tx_unsent++;
    sl_io_ctr_add(&p->io, SL_CTR_tx_frames, 1);
    sl_io_ctr_add(&p->io, SL_CTR_tx_bytes, len);
    if (gso_size)
        sl_io_ctr_add(&p->io, SL_CTR_tx_gso_frames, 1);
}

/* Cut the super-frame in slot tx_next into gso_size segments, one slot
 * each (software GSO, io_gso.c). Segments that find the ring full are
 * dropped and counted; TCP sends them again. */
static int pk_tx_soft_gso(struct pk_io *p, uint32_t len, uint16_t gso_size)
{
    uint8_t *data = p->tx_fr[p->tx_next] + PK_TX_DATA_OFF + p->vnet_len;
    memcpy(p->gso_buf, data, len);
    struct sl_gso g;
    if (sl_gso_init(&g, p->gso_buf, len, gso_size) < 0)
        return -EINVAL;
    int partial = pk_hw_csum(p);
    sl_io_ctr_add(&p->io, SL_CTR_tx_sw_gso_frames, 1);
    for (uint32_t i = 0; i < g.nsegs; i++) {
        uint8_t *d = i == 0 ? data : pk_tx_slot(p);
        if (!d) {
            sl_io_ctr_add(&p->io, SL_CTR_drop_tx_ring_full, g.nsegs - i);
            break;
        }
        uint32_t n = sl_gso_seg(&g, i, d, partial);
        pk_tx_queue(p, n, partial ? g.l4_off : 0, 0, 0);
    }
    if (!partial)
        sl_io_ctr_add(&p->io, SL_CTR_tx_sw_csum, g.nsegs);
    return 0;
}

static int pk_tx_commit(struct sl_io *io, uint32_t len, const struct sl_tx_meta *meta)
{
    struct pk_io *p = (struct pk_io *)io;
    if (!p->tx_allocated)
        return -EINVAL;
    p->tx_allocated = 0;
    uint8_t *data = p->tx_fr[p->tx_next] + PK_TX_DATA_OFF + p->vnet_len;
    uint32_t csum_l4 = 0, hl = 0;
    uint16_t gso = 0;

    if (len < PK_ETH_HLEN || len > io->max_frame)
        goto bad;
    if (!p->vnet && meta && (meta->gso_size || meta->csum_partial))
        goto bad; /* not advertised without the vnet header */
    if (meta && meta->csum_partial) {
        if ((uint32_t)meta->l4_off + 18u > len || meta->l4_off < PK_ETH_HLEN + 20u)
            goto bad;
        csum_l4 = meta->l4_off;
    }
    if (meta && meta->gso_size) {
        uint32_t l4 = meta->l4_off;
        if (l4 < PK_ETH_HLEN + 20u || l4 + 20u > len || !csum_l4)
            goto bad;
        uint32_t thl = (uint32_t)(data[l4 + 12] >> 4) * 4u;
        hl = l4 + thl;
        if (thl < 20 || hl > len || (hl - PK_ETH_HLEN) + meta->gso_size > io->mtu)
            goto bad;
        if (len - hl > meta->gso_size) {
            if (len - hl > io->max_gso)
                goto bad;
            if (!pk_hw_gso(p, data[l4 + 13] & 0x80)) {
                if (pk_tx_soft_gso(p, len, meta->gso_size) < 0)
                    goto bad;
                return 0;
            }
            gso = meta->gso_size;
        }
    }
    if (!gso && len > io->mtu + PK_ETH_HLEN)
        goto bad; /* would be dropped by the peer as too big */
    if (csum_l4 && !pk_hw_csum(p)) {
        if (sl_csum_complete(data, len, csum_l4) < 0)
            goto bad;
        csum_l4 = 0;
        sl_io_ctr_add(io, SL_CTR_tx_sw_csum, 1);
    }
    pk_tx_queue(p, len, csum_l4, gso, gso ? hl : 0);
    return 0;
bad:
    sl_io_ctr_add(io, SL_CTR_drop_tx_error, 1);
    return -EINVAL;
}

static int pk_tx_flush(struct sl_io *io)
{
    struct pk_io *p = (struct pk_io *)io;
    if (!p->tx_unsent)
        return 0;
    if (p->vnet)
        pk_feat_tick(p);
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
    if (p->nl_fd >= 0)
        close(p->nl_fd);
    free(p->feat_req);
    free(p->gso_buf);
    free(p->rx_fr);
    for (uint32_t i = 0; i < PK_RX_BIG; i++)
        free(p->rx_big[i]);
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

/* One RX slot: the tpacket header, the sockaddr_ll, the vnet header and
 * one frame of the MTU (a VLAN tag included), 64-byte aligned. */
static uint32_t pk_rx_frame_size(uint32_t mtu)
{
    uint32_t need = (uint32_t)TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + PK_VNET_LEN + PK_ETH_HLEN + 4u +
                    mtu;
    return (need + 63u) & ~63u;
}

int sl_io_packet_open(const char *ifname, const struct sl_io_opts *opts, struct sl_io **out,
                      char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!ifname || !*ifname || strlen(ifname) >= IFNAMSIZ) {
        sl_io_err(err, errlen, "packet: bad interface name '%s'", ifname ? ifname : "");
        return -EINVAL;
    }
    struct pk_io *p = calloc(1, sizeof(*p));
    if (!p) {
        sl_io_err(err, errlen, "packet: out of memory");
        return -ENOMEM;
    }
    p->fd = -1;
    p->nl_fd = -1;
    memcpy(p->ifname, ifname, strlen(ifname));
    p->io.ops = &pk_ops;
    p->io.ctr = p->ctr_local;
    int rc;
    const char *what;

    p->ifindex = (int)if_nametoindex(ifname);
    if (!p->ifindex) {
        rc = -errno;
        sl_io_err(err, errlen, "packet: interface '%s': %s", ifname, strerror(errno));
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
        sl_io_err(err, errlen, "packet: '%s' is not an Ethernet interface (hw type %d)", ifname,
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

    /* Frames larger than an RX slot are queued whole on the socket (see
     * the top of this file); its receive buffer bounds them. */
    (void)setsockopt(p->fd, SOL_PACKET, PACKET_COPY_THRESH, &one, sizeof(one));
    int rcvbuf = PK_RX_COPY_BUF;
    if (setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
        (void)setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

    p->rx_frame_size = pk_rx_frame_size(p->io.mtu);
    uint32_t want = opts && opts->rx_frames ? opts->rx_frames : PK_RX_FRAMES_DEFAULT;
    if (!(opts && opts->rx_frames) && want > PK_RX_BYTES_DEFAULT / p->rx_frame_size)
        want = PK_RX_BYTES_DEFAULT / p->rx_frame_size;
    if (want < PK_RX_FRAMES_MIN)
        want = PK_RX_FRAMES_MIN;
    if (want > PK_RX_FRAMES_MAX)
        want = PK_RX_FRAMES_MAX;
    uint32_t rx_block = PK_RX_BLOCK_SIZE;
    while (rx_block < p->rx_frame_size)
        rx_block <<= 1;
    uint32_t fpb = rx_block / p->rx_frame_size;
    uint32_t rx_blocks = (want + fpb - 1) / fpb;
    p->rx_nr = rx_blocks * fpb;
    p->rx_fr = calloc(p->rx_nr, sizeof(*p->rx_fr));
    int oom = !p->rx_fr;
    for (uint32_t i = 0; i < PK_RX_BIG; i++)
        oom |= !(p->rx_big[i] = malloc(PK_VNET_LEN + PK_MAX_FRAME));
    if (oom) {
        rc = -ENOMEM;
        sl_io_err(err, errlen, "packet: out of memory for %u receive slots", p->rx_nr);
        goto fail;
    }
    struct tpacket_req req = {
        .tp_block_size = rx_block,
        .tp_block_nr = rx_blocks,
        .tp_frame_size = p->rx_frame_size,
        .tp_frame_nr = p->rx_nr,
    };
    if (setsockopt(p->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
        what = "PACKET_RX_RING";
        goto sys_fail;
    }
    req.tp_block_size = PK_BLOCK_SIZE;
    req.tp_frame_size = PK_FRAME_SIZE;
    req.tp_block_nr = PK_TX_BLOCK_NR;
    req.tp_frame_nr = PK_TX_FRAME_NR;
    if (setsockopt(p->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) < 0) {
        what = "PACKET_TX_RING";
        goto sys_fail;
    }
    /* one mapping: RX ring first, TX ring right after */
    p->rx_len = (size_t)rx_block * rx_blocks;
    p->map_len = p->rx_len + (size_t)PK_BLOCK_SIZE * PK_TX_BLOCK_NR;
    p->map = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, p->fd, 0);
    if (p->map == MAP_FAILED) {
        p->map = NULL;
        what = "mmap(rings)";
        goto sys_fail;
    }
    for (uint32_t i = 0; i < p->rx_nr; i++)
        p->rx_fr[i] = p->map + (size_t)(i / fpb) * rx_block + (size_t)(i % fpb) * p->rx_frame_size;
    for (uint32_t i = 0; i < PK_TX_FRAME_NR; i++)
        p->tx_fr[i] = p->map + p->rx_len + (size_t)(i / PK_FRAMES_PER_BLOCK) * PK_BLOCK_SIZE +
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

    /* With the vnet header we take super-frames and partial checksums
     * whatever the device has: what it cannot do, we do (io_gso.c). */
    if (p->vnet) {
        p->gso_buf = malloc(PK_MAX_FRAME);
        if (!p->gso_buf) {
            rc = -ENOMEM;
            sl_io_err(err, errlen, "packet: out of memory");
            goto fail;
        }
        /* subscribe first: a change after the read is not missed */
        p->nl_fd = pk_nl_open();
        pk_feat_init(p);
        pk_feat_read(p, pk_now_ns());
    }
    p->io.max_frame = p->vnet ? PK_MAX_FRAME : p->io.mtu + PK_ETH_HLEN;
    p->io.max_gso = p->vnet ? PK_MAX_GSO : 0;
    p->io.csum_offload = p->vnet;
    *out = &p->io;
    return 0;

sys_fail:
    rc = -errno;
    sl_io_err(err, errlen, "packet: %s on '%s': %s", what, ifname, strerror(errno));
fail:
    pk_destroy(&p->io);
    return rc;
}
