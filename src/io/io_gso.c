/* Software segmentation (GSO) and checksum completion for backends whose
 * device does not do it: what a TSO device does to an IPv4/TCP
 * super-frame, done in user space.
 *
 * A super-frame is one Ethernet + IPv4 + TCP frame whose payload is longer
 * than the segment size. Segment i carries payload bytes
 * [i * mss, min((i + 1) * mss, total)) and
 *  - the same Ethernet header and IPv4 header (options included), with
 *    total length = its own, identification = id + i (consecutive ids, as
 *    a TSO device assigns them; RFC 6864 4.1 lets atomic datagrams carry
 *    any id) and a recomputed header checksum (RFC 791 3.1);
 *  - the same TCP header and options, with sequence number = seq + i * mss
 *    (RFC 9293 3.4); FIN and PSH only on the last segment, CWR only on the
 *    first (RFC 3168 6.1.2: CWR is set on one new data segment); URG and
 *    the urgent pointer only while the urgent byte lies beyond the
 *    segment's first byte (RFC 9293 3.8.5, pointer relative to each
 *    segment's sequence number);
 *  - a complete TCP checksum over the pseudo header (RFC 9293 3.1), or,
 *    when the device completes checksums, the pseudo-header sum alone
 *    (the CHECKSUM_PARTIAL convention of the virtio-net header).
 *
 * Pure: no I/O, no allocation. Calls only the checksum helpers of
 * src/wire/ (docs/architecture.md). */
#include <errno.h>
#include <string.h>

#include "io/io.h"
#include "wire/wire.h"

#define GSO_ETH_HLEN 14u

int sl_gso_init(struct sl_gso *g, const uint8_t *frame, uint32_t len, uint16_t mss)
{
    memset(g, 0, sizeof(*g));
    if (!frame || mss == 0 || len < GSO_ETH_HLEN + SL_IP_HLEN + SL_TCP_HLEN)
        return -EINVAL;
    if (sl_get16(frame + 12) != SL_ETH_P_IP)
        return -EINVAL;
    const uint8_t *ip = frame + GSO_ETH_HLEN;
    uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4u;
    if ((ip[0] >> 4) != 4 || ihl < SL_IP_HLEN || ip[9] != SL_IPPROTO_TCP)
        return -EINVAL;
    /* a fragment cannot be segmented (MF or an offset) */
    if (sl_get16(ip + 6) & 0x3fff)
        return -EINVAL;
    uint32_t l4 = GSO_ETH_HLEN + ihl;
    if (l4 + SL_TCP_HLEN > len)
        return -EINVAL;
    uint32_t thl = (uint32_t)(frame[l4 + 12] >> 4) * 4u;
    if (thl < SL_TCP_HLEN || l4 + thl > len)
        return -EINVAL;
    if (sl_get16(ip + 2) != len - GSO_ETH_HLEN)
        return -EINVAL; /* the IPv4 total length must cover the frame exactly */
    g->frame = frame;
    g->len = len;
    g->l4_off = l4;
    g->hdr_len = l4 + thl;
    g->mss = mss;
    uint32_t payload = len - g->hdr_len;
    g->nsegs = payload <= mss ? 1u : (payload + mss - 1u) / mss;
    return 0;
}

uint32_t sl_gso_seg_len(const struct sl_gso *g, uint32_t i)
{
    uint32_t payload = g->len - g->hdr_len;
    uint32_t off = i * g->mss;
    if (i >= g->nsegs)
        return 0;
    uint32_t n = payload - off < g->mss ? payload - off : g->mss;
    return g->hdr_len + n;
}

/* Fill the checksum of the TCP segment of tlen bytes at out + l4: the full
 * sum, or the pseudo-header sum only (partial). */
static void tcp_csum(uint8_t *out, uint32_t l4, uint16_t tlen, int partial)
{
    const uint8_t *ip = out + GSO_ETH_HLEN;
    uint32_t saddr = sl_get32(ip + 12), daddr = sl_get32(ip + 16);
    uint8_t *tcp = out + l4;
    if (partial) {
        sl_put16(tcp + 16, (uint16_t)~sl_csum_fold(sl_csum_pseudo(saddr, daddr,
                                                                  SL_IPPROTO_TCP, tlen)));
        return;
    }
    sl_put16(tcp + 16, 0);
    uint32_t acc = sl_csum_pseudo(saddr, daddr, SL_IPPROTO_TCP, tlen);
    sl_put16(tcp + 16, sl_csum_fold(sl_csum_add(acc, tcp, tlen)));
}

uint32_t sl_gso_seg(const struct sl_gso *g, uint32_t i, uint8_t *out, int csum_partial)
{
    uint32_t flen = sl_gso_seg_len(g, i);
    if (!flen)
        return 0;
    uint32_t off = i * g->mss;
    uint32_t n = flen - g->hdr_len;
    memcpy(out, g->frame, g->hdr_len);
    memcpy(out + g->hdr_len, g->frame + g->hdr_len + off, n);

    uint8_t *ip = out + GSO_ETH_HLEN;
    uint32_t ihl = g->l4_off - GSO_ETH_HLEN;
    sl_put16(ip + 2, (uint16_t)(flen - GSO_ETH_HLEN));
    sl_put16(ip + 4, (uint16_t)(sl_get16(g->frame + GSO_ETH_HLEN + 4) + i));
    sl_put16(ip + 10, 0);
    sl_put16(ip + 10, sl_csum_fold(sl_csum_add(0, ip, ihl)));

    uint8_t *tcp = out + g->l4_off;
    sl_put32(tcp + 4, sl_get32(g->frame + g->l4_off + 4) + off);
    uint8_t flags = g->frame[g->l4_off + 13];
    if (i + 1 < g->nsegs)
        flags &= (uint8_t) ~(SL_TCP_FIN | SL_TCP_PSH);
    if (i > 0)
        flags &= (uint8_t)~SL_TCP_CWR;
    if (flags & SL_TCP_URG) {
        uint32_t urp = sl_get16(g->frame + g->l4_off + 18);
        if (urp > off) {
            sl_put16(tcp + 18, (uint16_t)(urp - off));
        } else {
            flags &= (uint8_t)~SL_TCP_URG;
            sl_put16(tcp + 18, 0);
        }
    }
    tcp[13] = flags;
    tcp_csum(out, g->l4_off, (uint16_t)(flen - g->l4_off), csum_partial);
    return flen;
}

int sl_csum_complete(uint8_t *frame, uint32_t len, uint32_t l4_off)
{
    if (l4_off < GSO_ETH_HLEN + SL_IP_HLEN || l4_off + SL_TCP_HLEN > len)
        return -EINVAL;
    const uint8_t *ip = frame + GSO_ETH_HLEN;
    if (sl_get16(frame + 12) != SL_ETH_P_IP || ip[9] != SL_IPPROTO_TCP)
        return -EINVAL;
    /* the IPv4 total length, not the frame: a short frame may be padded */
    uint32_t end = GSO_ETH_HLEN + sl_get16(ip + 2);
    if (end > len || end < l4_off + SL_TCP_HLEN)
        return -EINVAL;
    tcp_csum(frame, l4_off, (uint16_t)(end - l4_off), 0);
    return 0;
}
