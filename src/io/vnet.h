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
