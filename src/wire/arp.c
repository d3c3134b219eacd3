/* ARP for Ethernet / IPv4 (RFC 826). `p` is the ARP body after the
 * Ethernet header; trailing Ethernet padding (len > 28) is ignored. */
#include <string.h>

#include "wire/wire.h"

#define ARP_HRD_ETHER 1

enum sl_ctr sl_arp_parse(const uint8_t *p, size_t len, struct sl_arp *out)
{
    memset(out, 0, sizeof(*out));
    if (len < SL_ARP_LEN)
        return SL_CTR_drop_arp_malformed;
    /* RFC 826 "Packet Reception": only answer for a hardware type and
     * protocol we speak, with matching address lengths. */
    if (sl_get16(p) != ARP_HRD_ETHER || sl_get16(p + 2) != SL_ETH_P_IP || p[4] != 6 || p[5] != 4)
        return SL_CTR_drop_arp_malformed;
    out->op = sl_get16(p + 6);
    /* RFC 826 defines ares_op$REQUEST (1) and ares_op$REPLY (2); other
     * opcodes (RARP 3/4, InARP 8/9) are not ours. */
    if (out->op != SL_ARP_REQUEST && out->op != SL_ARP_REPLY)
        return SL_CTR_drop_arp_malformed;
    memcpy(out->sha, p + 8, 6);
    out->spa = sl_get32(p + 14);
    memcpy(out->tha, p + 18, 6);
    out->tpa = sl_get32(p + 24);
    return SL_CTR_ok;
}

size_t sl_arp_build(uint8_t *p, uint16_t op, const uint8_t sha[6], uint32_t spa,
                    const uint8_t tha[6], uint32_t tpa)
{
    /* RFC 826 "Packet format": hrd, pro, hln, pln, op, sha, spa, tha, tpa. */
    sl_put16(p, ARP_HRD_ETHER);
    sl_put16(p + 2, SL_ETH_P_IP);
    p[4] = 6;
    p[5] = 4;
    sl_put16(p + 6, op);
    memmove(p + 8, sha, 6);
    sl_put32(p + 14, spa);
    memmove(p + 18, tha, 6);
    sl_put32(p + 24, tpa);
    return SL_ARP_LEN;
}
