/* Ethernet II framing (IEEE 802.3 / RFC 894). No VLAN tags: a tagged frame
 * reports type 0x8100 and the caller counts drop_eth_type. */
#include <string.h>

#include "wire/wire.h"

enum sl_ctr sl_eth_parse(const uint8_t *p, size_t len, struct sl_eth *out)
{
    memset(out, 0, sizeof(*out));
    if (len < SL_ETH_HLEN)
        return SL_CTR_drop_eth_short;
    memcpy(out->dst, p, 6);
    memcpy(out->src, p + 6, 6);
    out->type = sl_get16(p + 12);
    out->payload = p + SL_ETH_HLEN;
    out->payload_len = len - SL_ETH_HLEN;
    return SL_CTR_ok;
}

size_t sl_eth_build(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
    memmove(p, dst, 6);
    memmove(p + 6, src, 6);
    sl_put16(p + 12, type);
    return SL_ETH_HLEN;
}
