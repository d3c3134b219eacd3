/* TCP header and options (RFC 9293 3.1, RFC 7323, RFC 2018, RFC 6691). */
#include <string.h>

#include "wire/wire.h"

#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOPT_WS 3
#define TCPOPT_SACK_PERM 4
#define TCPOPT_SACK 5
#define TCPOPT_TS 8

#define TCPOLEN_MSS 4
#define TCPOLEN_WS 3
#define TCPOLEN_SACK_PERM 2
#define TCPOLEN_SACK_BASE 2
#define TCPOLEN_SACK_BLOCK 8
#define TCPOLEN_TS 10

/* RFC 9293 3.1: Data Offset is 4 bits, so the header is at most 60 bytes
 * and options at most 40. */
#define TCP_MAX_OPTLEN 40

/* ---- parse ---- */

static enum sl_ctr parse_opts(const uint8_t *o, size_t olen, struct sl_tcp_opts *out)
{
    size_t i = 0;
    while (i < olen) {
        uint8_t kind = o[i];
        /* RFC 9293 3.1 "End of Option List" */
        if (kind == TCPOPT_EOL)
            break;
        /* RFC 9293 3.1 "No-Operation" */
        if (kind == TCPOPT_NOP) {
            i++;
            continue;
        }
        /* RFC 9293 3.1 case 2: kind, length (counting kind and length
         * bytes), data. RFC 9293 3.2 / RFC 1122 4.2.2.5: a length that
         * cannot be right must not make us read past the header. */
        if (olen - i < 2)
            return SL_CTR_drop_tcp_opt_malformed;
        size_t l = o[i + 1];
        if (l < 2 || l > olen - i)
            return SL_CTR_drop_tcp_opt_malformed;
        const uint8_t *d = o + i + 2;
        switch (kind) {
        case TCPOPT_MSS: /* RFC 9293 3.2, RFC 6691 */
            if (l != TCPOLEN_MSS)
                return SL_CTR_drop_tcp_opt_malformed;
            out->has_mss = 1;
            out->mss = sl_get16(d);
            break;
        case TCPOPT_WS: /* RFC 7323 2.2 */
            if (l != TCPOLEN_WS)
                return SL_CTR_drop_tcp_opt_malformed;
            out->has_wscale = 1;
            out->wscale = d[0]; /* clamped to 14 by the caller (RFC 7323 2.3) */
            break;
        case TCPOPT_SACK_PERM: /* RFC 2018 2 */
            if (l != TCPOLEN_SACK_PERM)
                return SL_CTR_drop_tcp_opt_malformed;
            out->sack_perm = 1;
            break;
        case TCPOPT_SACK: { /* RFC 2018 3: length 2 + 8n */
            size_t n = (l - TCPOLEN_SACK_BASE) / TCPOLEN_SACK_BLOCK;
            if (l < TCPOLEN_SACK_BASE + TCPOLEN_SACK_BLOCK ||
                (l - TCPOLEN_SACK_BASE) % TCPOLEN_SACK_BLOCK != 0 || n > SL_TCP_MAX_SACK)
                return SL_CTR_drop_tcp_opt_malformed;
            /* A later SACK option replaces an earlier one. Blocks whose
             * left edge is not below the right edge (RFC 9293 3.4 sequence
             * arithmetic) describe nothing and are not reported. */
            out->nsack = 0;
            for (size_t b = 0; b < n; b++) {
                uint32_t left = sl_get32(d + b * TCPOLEN_SACK_BLOCK);
                uint32_t right = sl_get32(d + b * TCPOLEN_SACK_BLOCK + 4);
                if (!sl_seq_lt(left, right))
                    continue;
                out->sack[out->nsack].left = left;
                out->sack[out->nsack].right = right;
                out->nsack++;
            }
            break;
        }
        case TCPOPT_TS: /* RFC 7323 3.2 */
            if (l != TCPOLEN_TS)
                return SL_CTR_drop_tcp_opt_malformed;
            out->has_ts = 1;
            out->tsval = sl_get32(d);
            out->tsecr = sl_get32(d + 4);
            break;
        default:
            /* RFC 9293 3.2 / RFC 1122 4.2.2.5: ignore unknown options. */
            break;
        }
        i += l;
    }
    return SL_CTR_ok;
}

enum sl_ctr sl_tcp_parse(const uint8_t *p, size_t len, uint32_t saddr, uint32_t daddr,
                         bool csum_trusted, struct sl_tcp_seg *out)
{
    memset(out, 0, sizeof(*out));
    if (len < SL_TCP_HLEN)
        return SL_CTR_drop_tcp_short;
    /* RFC 9293 3.1 "Data Offset: ... number of 32-bit words in the TCP
     * header"; at least 5, and the header must fit in the segment. */
    size_t doff = (size_t)(p[12] >> 4) * 4;
    if (doff < SL_TCP_HLEN || doff > len)
        return SL_CTR_drop_tcp_doff;
    /* RFC 9293 3.1 "Checksum": one's complement sum over pseudo header,
     * header and data; a segment including its checksum sums to 0xffff
     * (RFC 1071). */
    if (!csum_trusted) {
        uint32_t acc = sl_csum_pseudo(saddr, daddr, SL_IPPROTO_TCP, (uint16_t)len);
        if (sl_csum_fold(sl_csum_add(acc, p, len)) != 0)
            return SL_CTR_drop_tcp_csum;
    }
    enum sl_ctr r = parse_opts(p + SL_TCP_HLEN, doff - SL_TCP_HLEN, &out->opts);
    if (r != SL_CTR_ok) {
        memset(&out->opts, 0, sizeof(out->opts));
        return r;
    }
    out->sport = sl_get16(p);
    out->dport = sl_get16(p + 2);
    out->seq = sl_get32(p + 4);
    out->ack = sl_get32(p + 8);
    out->flags = p[13];
    out->doff_bytes = (uint8_t)doff;
    out->wnd = sl_get16(p + 14);
    out->urp = sl_get16(p + 18);
    out->payload = p + doff;
    out->len = (uint32_t)(len - doff);
    return SL_CTR_ok;
}

/* ---- build ----
 *
 * Two layouts, both in the order MSS, SACK-permitted, TS, WS, SACK:
 *  - aligned (what Linux sends, preferred): every option starts on the
 *    4-byte boundary its fast-path parsers expect:
 *      MSS(4) | SACKOK,TS(12) or NOP,NOP,TS(12) or NOP,NOP,SACKOK(4) |
 *      NOP,WS(4) | NOP,NOP,SACK(4+8n)
 *  - packed (only when the aligned one would exceed the 40 bytes of option
 *    space, e.g. MSS + SACK-permitted + 4 SACK blocks): options back to
 *    back, NOP-padded at the end to a 4-byte multiple (RFC 9293 3.1: "An
 *    option may begin on any octet boundary").
 * SACK blocks that fit in neither are dropped from the end (RFC 2018 3:
 * with timestamps at most 3 blocks fit).
 */
struct opt_plan {
    unsigned nsack;
    bool packed;
    size_t len;
};

static size_t aligned_len(const struct sl_tcp_opts *o, unsigned n)
{
    size_t l = 0;
    if (o->has_mss)
        l += 4;
    if (o->has_ts)
        l += 12;
    else if (o->sack_perm)
        l += 4;
    if (o->has_wscale)
        l += 4;
    if (n)
        l += 4 + (size_t)TCPOLEN_SACK_BLOCK * n;
    return l;
}

static size_t packed_len(const struct sl_tcp_opts *o, unsigned n)
{
    size_t l = 0;
    if (o->has_mss)
        l += TCPOLEN_MSS;
    if (o->sack_perm)
        l += TCPOLEN_SACK_PERM;
    if (o->has_ts)
        l += TCPOLEN_TS;
    if (o->has_wscale)
        l += TCPOLEN_WS;
    if (n)
        l += TCPOLEN_SACK_BASE + (size_t)TCPOLEN_SACK_BLOCK * n;
    return (l + 3) & ~(size_t)3;
}

static struct opt_plan plan_opts(const struct sl_tcp_opts *o)
{
    struct opt_plan pl;
    unsigned n = o->nsack > SL_TCP_MAX_SACK ? SL_TCP_MAX_SACK : o->nsack;
    /* packed_len <= aligned_len, so the packed layout bounds n. */
    while (n > 0 && packed_len(o, n) > TCP_MAX_OPTLEN)
        n--;
    pl.nsack = n;
    pl.len = aligned_len(o, n);
    pl.packed = pl.len > TCP_MAX_OPTLEN;
    if (pl.packed)
        pl.len = packed_len(o, n);
    return pl;
}

size_t sl_tcp_opts_len(const struct sl_tcp_opts *o)
{
    return plan_opts(o).len;
}

static uint8_t *put_ts(uint8_t *w, const struct sl_tcp_opts *o)
{
    /* RFC 7323 3.2: Kind 8, Length 10, TSval, TSecr. */
    w[0] = TCPOPT_TS;
    w[1] = TCPOLEN_TS;
    sl_put32(w + 2, o->tsval);
    sl_put32(w + 6, o->tsecr);
    return w + TCPOLEN_TS;
}

static uint8_t *put_sack(uint8_t *w, const struct sl_tcp_opts *o, unsigned n)
{
    /* RFC 2018 3: Kind 5, Length 2 + 8n, n pairs of left/right edges. */
    w[0] = TCPOPT_SACK;
    w[1] = (uint8_t)(TCPOLEN_SACK_BASE + TCPOLEN_SACK_BLOCK * n);
    w += 2;
    for (unsigned b = 0; b < n; b++) {
        sl_put32(w, o->sack[b].left);
        sl_put32(w + 4, o->sack[b].right);
        w += TCPOLEN_SACK_BLOCK;
    }
    return w;
}

static void write_opts(uint8_t *w, const struct sl_tcp_opts *o, const struct opt_plan *pl)
{
    uint8_t *start = w;
    if (o->has_mss) { /* RFC 9293 3.2: Kind 2, Length 4 */
        w[0] = TCPOPT_MSS;
        w[1] = TCPOLEN_MSS;
        sl_put16(w + 2, o->mss);
        w += TCPOLEN_MSS;
    }
    if (!pl->packed) {
        if (o->has_ts) {
            if (o->sack_perm) {
                w[0] = TCPOPT_SACK_PERM;
                w[1] = TCPOLEN_SACK_PERM;
            } else {
                w[0] = TCPOPT_NOP;
                w[1] = TCPOPT_NOP;
            }
            w = put_ts(w + 2, o);
        } else if (o->sack_perm) {
            w[0] = TCPOPT_NOP;
            w[1] = TCPOPT_NOP;
            w[2] = TCPOPT_SACK_PERM;
            w[3] = TCPOLEN_SACK_PERM;
            w += 4;
        }
        if (o->has_wscale) { /* RFC 7323 2.2: Kind 3, Length 3, shift.cnt */
            w[0] = TCPOPT_NOP;
            w[1] = TCPOPT_WS;
            w[2] = TCPOLEN_WS;
            w[3] = o->wscale;
            w += 4;
        }
        if (pl->nsack) {
            w[0] = TCPOPT_NOP;
            w[1] = TCPOPT_NOP;
            w = put_sack(w + 2, o, pl->nsack);
        }
    } else {
        if (o->sack_perm) { /* RFC 2018 2: Kind 4, Length 2 */
            w[0] = TCPOPT_SACK_PERM;
            w[1] = TCPOLEN_SACK_PERM;
            w += 2;
        }
        if (o->has_ts)
            w = put_ts(w, o);
        if (o->has_wscale) {
            w[0] = TCPOPT_WS;
            w[1] = TCPOLEN_WS;
            w[2] = o->wscale;
            w += 3;
        }
        if (pl->nsack)
            w = put_sack(w, o, pl->nsack);
        while ((size_t)(w - start) < pl->len)
            *w++ = TCPOPT_NOP;
    }
}

size_t sl_tcp_build(uint8_t *p, const struct sl_tcp_seg *s)
{
    struct opt_plan pl = plan_opts(&s->opts);
    size_t hlen = SL_TCP_HLEN + pl.len;
    /* RFC 9293 3.1 header format. */
    sl_put16(p, s->sport);
    sl_put16(p + 2, s->dport);
    sl_put32(p + 4, s->seq);
    sl_put32(p + 8, s->ack);
    p[12] = (uint8_t)((hlen / 4) << 4); /* Data Offset; reserved bits 0 */
    p[13] = s->flags;
    sl_put16(p + 14, s->wnd);
    sl_put16(p + 16, 0); /* checksum: sl_tcp_csum_finish or offload */
    sl_put16(p + 18, s->urp);
    write_opts(p + SL_TCP_HLEN, &s->opts, &pl);
    return hlen;
}

void sl_tcp_csum_finish(uint8_t *p, size_t tcp_len, uint32_t saddr, uint32_t daddr)
{
    /* RFC 9293 3.1: checksum field is zero while computing; the pseudo
     * header carries the TCP length (header + data). */
    sl_put16(p + 16, 0);
    uint32_t acc = sl_csum_pseudo(saddr, daddr, SL_IPPROTO_TCP, (uint16_t)tcp_len);
    sl_put16(p + 16, sl_csum_fold(sl_csum_add(acc, p, tcp_len)));
}
