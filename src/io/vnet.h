/* The virtio_net_hdr in front of every frame, as the AF_PACKET
 * (PACKET_VNET_HDR) and TAP (IFF_VNET_HDR) backends read and write it. */
#ifndef SL_IO_VNET_H
#define SL_IO_VNET_H

#include <linux/virtio_net.h>
#include <stdint.h>

#include "io/io.h"

/* Receive: 1 if the checksum is not filled in yet (NEEDS_CSUM: a local
 * sender's frame); DATA_VALID (already verified) sets
 * SL_FRAME_CSUM_TRUSTED in *flags. */
static inline int sl_vnet_rx_unverified(const struct virtio_net_hdr *vh, uint32_t *flags)
{
    if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
        return 1;
    if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID)
        *flags |= SL_FRAME_CSUM_TRUSTED;
    return 0;
}

/* Receive: hands the frame at data (len bytes, Ethernet header first) to
 * the caller as *f and counts it. unverified: its checksum is not filled
 * in yet (a local sender's): trusted, counted rx_csum_unverified. A frame
 * longer than the MTU allows (GRO, LRO) is counted rx_oversize_frames. */
static inline void sl_vnet_rx_frame(struct sl_io *io, struct sl_frame *f, uint8_t *data,
                                    uint32_t len, uint32_t flags, int unverified)
{
    if (unverified) {
        flags |= SL_FRAME_CSUM_TRUSTED;
        sl_io_ctr_add(io, SL_CTR_rx_csum_unverified, 1);
    }
    if (len > io->mtu + 14u) /* Ethernet header */
        sl_io_ctr_add(io, SL_CTR_rx_oversize_frames, 1);
    sl_io_ctr_add(io, SL_CTR_rx_frames, 1);
    sl_io_ctr_add(io, SL_CTR_rx_bytes, len);
    f->data = data;
    f->len = len;
    f->flags = flags;
}

/* Transmit: the device completes the TCP checksum of the header at l4_off. */
static inline void sl_vnet_tx_csum(struct virtio_net_hdr *vh, uint32_t l4_off)
{
    vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh->csum_start = (uint16_t)l4_off;
    vh->csum_offset = 16; /* offsetof(struct tcphdr, check) */
}

/* Transmit: the device cuts the IPv4/TCP super-frame `frame` (TCP header at
 * l4_off) into gso_size-byte segments; CWR set asks for ECN handling. */
static inline void sl_vnet_tx_gso(struct virtio_net_hdr *vh, const uint8_t *frame, uint32_t l4_off,
                                  uint16_t gso_size)
{
    vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    if (frame[l4_off + 13] & 0x80) /* CWR */
        vh->gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    vh->gso_size = gso_size;
}

#endif
