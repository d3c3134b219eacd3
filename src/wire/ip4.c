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

/* ---- source routes (RFC 791 3.1, RFC 1122 3.2.1.8) ---- */

size_t sl_srcroute_optlen(const struct sl_srcroute *r)
{
    if (!r || !r->type || !r->n)
        return 0;
    return ((3u + 4u * (r->n)) + 3u) & ~3u; /* n - 1 hops + the destination */
}

int sl_ip4_return_route(const uint8_t *hdr, size_t ihl, struct sl_srcroute *ret)
{
    size_t i = SL_IP_HLEN;
    while (i < ihl) {
        uint8_t t = hdr[i];
        if (t == 0) /* end of option list */
            break;
        if (t == 1) { /* no-operation */
            i++;
            continue;
        }
        if (i + 1 >= ihl)
            return -(int)SL_CTR_drop_ip_bad_srcroute;
        uint8_t len = hdr[i + 1];
        if (len < 2 || i + len > ihl)
            return -(int)SL_CTR_drop_ip_bad_srcroute;
        if (t == SL_IPOPT_LSRR || t == SL_IPOPT_SSRR) {
            /* RFC 791: type, length, pointer (from 1, minimum 4), addresses */
            if (len < 3 || (len - 3) % 4 || hdr[i + 2] < 4)
                return -(int)SL_CTR_drop_ip_bad_srcroute;
            uint8_t ptr = hdr[i + 2];
            unsigned m = (unsigned)(len - 3) / 4;
            if (ptr <= len) /* not complete: we are not its final destination */
                return 0;
            if (m == 0 || m > SL_SRCROUTE_MAX)
                return -(int)SL_CTR_drop_ip_bad_srcroute;
            ret->type = t;
            ret->n = (uint8_t)m;
            for (unsigned k = 0; k < m; k++) /* recorded A1..Am -> hops Am..A1 */
                ret->hop[k] = sl_get32(hdr + i + 3 + 4 * (m - 1 - k));
            return 1;
        }
        i += len;
    }
    return 0;
}

size_t sl_ip4_build_routed(uint8_t *p, uint32_t src, uint32_t final_dst,
                           const struct sl_srcroute *r, uint8_t proto, uint16_t id, uint8_t ttl,
                           size_t payload_len)
{
    size_t ol = sl_srcroute_optlen(r);
    if (!ol)
        return sl_ip4_build(p, src, final_dst, proto, id, ttl, payload_len);
    if (payload_len + ol > 0xffffu - SL_IP_HLEN)
        return 0;
    sl_ip4_build(p, src, r->hop[0], proto, id, ttl, payload_len + ol);
    size_t ihl = SL_IP_HLEN + ol;
    p[0] = (uint8_t)(0x40 | (ihl / 4));
    uint8_t *o = p + SL_IP_HLEN;
    memset(o, 0, ol); /* trailing bytes: end of option list */
    o[0] = r->type;
    o[1] = (uint8_t)(3 + 4 * r->n);
    o[2] = 4; /* the first address is the next one to visit */
    for (unsigned k = 1; k < r->n; k++)
        sl_put32(o + 3 + 4 * (k - 1), r->hop[k]);
    sl_put32(o + 3 + 4 * (r->n - 1), final_dst);
    sl_put16(p + 10, 0);
    sl_put16(p + 10, sl_csum_fold(sl_csum_add(0, p, ihl)));
    return ihl;
}
