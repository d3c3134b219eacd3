/* ICMP for IPv4 (RFC 792, RFC 1122 3.2.2, RFC 1191 4). */
#include <string.h>

#include "wire/wire.h"

#define ICMP_HLEN 8

enum sl_ctr sl_icmp_parse(const uint8_t *p, size_t len, bool csum_trusted, struct sl_icmp *out)
{
    memset(out, 0, sizeof(*out));
    /* RFC 792: every message has type, code, checksum and 4 more bytes. */
    if (len < ICMP_HLEN)
        return SL_CTR_drop_icmp_short;
    /* RFC 792 "Checksum ... of the ICMP message starting with the ICMP
     * Type"; odd lengths are padded with a zero byte. */
    if (!csum_trusted && sl_csum_fold(sl_csum_add(0, p, len)) != 0)
        return SL_CTR_drop_icmp_csum;

    out->type = p[0];
    out->code = p[1];
    out->rest = sl_get32(p + 4);
    out->body = p + ICMP_HLEN;
    out->body_len = len - ICMP_HLEN;

    if (out->type == SL_ICMP_DEST_UNREACH) {
        /* RFC 1191 4: Fragmentation Needed carries the Next-Hop MTU in the
         * low-order 16 bits of the second word (old routers send 0). */
        if (out->code == SL_ICMP_FRAG_NEEDED)
            out->mtu = sl_get16(p + 6);
    }
    if (out->type == SL_ICMP_DEST_UNREACH || out->type == SL_ICMP_TIME_EXCEEDED ||
        out->type == SL_ICMP_PARAM_PROBLEM) {
        /* RFC 792 Destination Unreachable, Time Exceeded, Parameter
         * Problem: "Internet Header + 64 bits of Original Data Datagram";
         * RFC 1122 3.2.2 the quoted header is used to find the transport
         * connection. */
        const uint8_t *in = out->body;
        size_t in_len = out->body_len;
        if (in_len >= SL_IP_HLEN && (in[0] >> 4) == 4) {
            size_t ihl = (size_t)(in[0] & 0x0f) * 4;
            if (ihl >= SL_IP_HLEN && in_len >= ihl + 8) {
                const uint8_t *t = in + ihl;
                out->inner_ok = true;
                out->inner_proto = in[9];
                out->inner_src = sl_get32(in + 12);
                out->inner_dst = sl_get32(in + 16);
                out->inner_sport = sl_get16(t);
                out->inner_dport = sl_get16(t + 2);
                out->inner_seq = sl_get32(t + 4); /* RFC 9293 3.1 Sequence Number */
            }
        }
    }
    return SL_CTR_ok;
}

size_t sl_icmp_build_echo_reply(uint8_t *p, const uint8_t *req, size_t req_len)
{
    if (req_len < ICMP_HLEN)
        return 0;
    /* RFC 792 Echo: "the source and destination addresses are simply
     * reversed, the type code changed to 0, and the checksum recomputed";
     * identifier, sequence number and data are returned unchanged.
     * memmove: replying in place (p == req) is allowed. */
    memmove(p, req, req_len);
    p[0] = SL_ICMP_ECHO_REPLY;
    p[1] = 0;
    sl_put16(p + 2, 0);
    sl_put16(p + 2, sl_csum_fold(sl_csum_add(0, p, req_len)));
    return req_len;
}
