/* IPv4 header (RFC 791 3.1, RFC 1122 3.2.1). */
#include <string.h>

#include "wire/wire.h"

#define IP_RF 0x8000u /* reserved flag bit */
#define IP_DF 0x4000u
#define IP_MF 0x2000u
#define IP_OFFMASK 0x1fffu

enum sl_ctr sl_ip4_parse(const uint8_t *p, size_t len, bool csum_trusted, struct sl_ip4 *out)
{
    memset(out, 0, sizeof(*out));
    if (len < SL_IP_HLEN)
        return SL_CTR_drop_ip_short;
    /* RFC 791 3.1 "Version: 4 bits"; RFC 1122 3.2.1.1 silently discard
     * any other version. */
    if ((p[0] >> 4) != 4)
        return SL_CTR_drop_ip_version;
    /* RFC 791 3.1 "IHL ... minimum value for a correct header is 5";
     * RFC 1122 3.2.1.2 header must fit in the datagram. */
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    if (ihl < SL_IP_HLEN || ihl > len)
        return SL_CTR_drop_ip_hdrlen;
    /* RFC 791 3.1 "Total Length ... including internet header and data".
     * Bytes past tot_len are link-layer padding and are ignored. */
    size_t tot = sl_get16(p + 2);
    if (tot < ihl || tot > len)
        return SL_CTR_drop_ip_totlen;
    /* RFC 791 3.1 "Header Checksum"; RFC 1122 3.2.1.2 discard on
     * failure. A header including its own checksum sums to 0xffff. */
    if (!csum_trusted && sl_csum_fold(sl_csum_add(0, p, ihl)) != 0)
        return SL_CTR_drop_ip_csum;

    out->ihl_bytes = (uint8_t)ihl;
    out->tos = p[1];
    out->tot_len = (uint16_t)tot;
    out->id = sl_get16(p + 4);
    uint16_t fo = sl_get16(p + 6);
    out->df = (fo & IP_DF) != 0;
    out->mf = (fo & IP_MF) != 0;
    /* RFC 791 3.1 "Fragment Offset ... measured in units of 8 octets". */
    out->frag_off_bytes = (uint16_t)((fo & IP_OFFMASK) * 8u);
    out->ttl = p[8];
    out->proto = p[9];
    out->src = sl_get32(p + 12);
    out->dst = sl_get32(p + 16);
    /* Options (RFC 791 3.1 "Options") are skipped, not interpreted. */
    out->payload = p + ihl;
    out->payload_len = tot - ihl;
    return SL_CTR_ok;
}

size_t sl_ip4_build(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto, uint16_t id,
                    uint8_t ttl, size_t payload_len)
{
    /* Total Length is 16 bits (RFC 791 3.1): refuse what cannot be encoded. */
    if (payload_len > 0xffffu - SL_IP_HLEN)
        return 0;
    p[0] = 0x45; /* version 4, IHL 5: no options */
    p[1] = 0;    /* TOS / DSCP+ECN */
    sl_put16(p + 2, (uint16_t)(SL_IP_HLEN + payload_len));
    sl_put16(p + 4, id);
    /* DF set: we do Path MTU Discovery (RFC 1191 3) and never fragment. */
    sl_put16(p + 6, IP_DF);
    p[8] = ttl;
    p[9] = proto;
    sl_put16(p + 10, 0);
    sl_put32(p + 12, src);
    sl_put32(p + 16, dst);
    sl_put16(p + 10, sl_csum_fold(sl_csum_add(0, p, SL_IP_HLEN)));
    return SL_IP_HLEN;
}
