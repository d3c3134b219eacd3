/* Unit tests for software segmentation and checksum completion
 * (src/io/io_gso.c): crafted IPv4/TCP super-frames are cut and every
 * segment is read back with the wire parser (checksums verified). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/io.h"
#include "wire/wire.h"

static const uint32_t SRC = 0xc6120002u, DST = 0xc6120001u; /* 198.18.0.2 -> .1 */
static const uint8_t MAC_A[6] = {2, 0, 0, 0, 0, 1}, MAC_B[6] = {2, 0, 0, 0, 0, 2};
#define SEQ0 0xfffff000u /* wraps inside the frame */
#define ID0 0xfffeu      /* wraps too */

static uint8_t pat(uint32_t k) { return (uint8_t)(k * 131u + 7u); }

/* Ethernet + IPv4 + TCP (timestamps) super-frame with `payload` bytes;
 * the TCP checksum holds the pseudo-header sum (as the stack writes it
 * for offload). Returns the frame length. */
static uint32_t craft(uint8_t *f, uint32_t payload, uint8_t flags, uint16_t urp)
{
    struct sl_tcp_seg s;
    memset(&s, 0, sizeof(s));
    s.sport = 80;
    s.dport = 40000;
    s.seq = SEQ0;
    s.ack = 0x12345678u;
    s.flags = flags;
    s.wnd = 4321;
    s.urp = urp;
    s.opts.has_ts = 1;
    s.opts.tsval = 1000;
    s.opts.tsecr = 2000;
    size_t thl = SL_TCP_HLEN + sl_tcp_opts_len(&s.opts);
    size_t n = sl_eth_build(f, MAC_A, MAC_B, SL_ETH_P_IP);
    n += sl_ip4_build(f + n, SRC, DST, SL_IPPROTO_TCP, ID0, 64, thl + payload);
    f[SL_ETH_HLEN + 6] |= 0x40; /* DF */
    sl_put16(f + SL_ETH_HLEN + 10, 0);
    sl_put16(f + SL_ETH_HLEN + 10, sl_csum_fold(sl_csum_add(0, f + SL_ETH_HLEN, SL_IP_HLEN)));
    n += sl_tcp_build(f + n, &s);
    for (uint32_t k = 0; k < payload; k++)
        f[n + k] = pat(k);
    uint8_t *tcp = f + SL_ETH_HLEN + SL_IP_HLEN;
    sl_put16(tcp + 16, (uint16_t)~sl_csum_fold(sl_csum_pseudo(SRC, DST, SL_IPPROTO_TCP,
                                                               (uint16_t)(thl + payload))));
    return (uint32_t)(n + payload);
}

/* Parse one segment with checksums verified; 1 if it is well-formed. */
static int parse(const uint8_t *f, uint32_t len, struct sl_ip4 *ip, struct sl_tcp_seg *t)
{
    struct sl_eth e;
    if (sl_eth_parse(f, len, &e) != SL_CTR_ok || e.type != SL_ETH_P_IP)
        return 0;
    if (memcmp(e.dst, MAC_A, 6) || memcmp(e.src, MAC_B, 6))
        return 0;
    if (sl_ip4_parse(e.payload, e.payload_len, false, ip) != SL_CTR_ok)
        return 0;
    if (ip->tot_len != len - SL_ETH_HLEN)
        return 0;
    return sl_tcp_parse(ip->payload, ip->payload_len, ip->src, ip->dst, false, t) == SL_CTR_ok;
}

/* Cut a super-frame of `payload` bytes with segment size mss and check
 * every field of every segment. */
static void cut_and_check(uint32_t payload, uint16_t mss, uint8_t flags, uint16_t urp)
{
    static uint8_t sup[70000], seg[70000];
    uint32_t len = craft(sup, payload, flags, urp);
    uint8_t before[70000];
    memcpy(before, sup, len);
    struct sl_gso g;
    CHECK(sl_gso_init(&g, sup, len, mss) == 0);
    uint32_t want = payload <= mss ? 1 : (payload + mss - 1) / mss;
    CHECK_EQ(g.nsegs, want);
    uint32_t off = 0;
    for (uint32_t i = 0; i < g.nsegs; i++) {
        uint32_t n = sl_gso_seg(&g, i, seg, 0);
        CHECK_EQ(n, sl_gso_seg_len(&g, i));
        struct sl_ip4 ip;
        struct sl_tcp_seg t;
        int ok = parse(seg, n, &ip, &t);
        CHECK(ok);
        if (!ok)
            return;
        uint32_t expect_len = payload - off < mss ? payload - off : mss;
        int last = i + 1 == g.nsegs;
        CHECK_EQ(t.len, expect_len);
        CHECK_EQ(ip.id, (uint16_t)(ID0 + i));
        CHECK(ip.df);
        CHECK_EQ(ip.ttl, 64);
        CHECK_EQ(ip.src, SRC);
        CHECK_EQ(ip.dst, DST);
        CHECK_EQ(t.seq, SEQ0 + off);
        CHECK_EQ(t.ack, 0x12345678u);
        CHECK_EQ(t.wnd, 4321);
        CHECK_EQ(t.sport, 80);
        CHECK_EQ(t.dport, 40000);
        CHECK(t.opts.has_ts && t.opts.tsval == 1000 && t.opts.tsecr == 2000);
        uint8_t f = flags;
        if (!last)
            f &= (uint8_t) ~(SL_TCP_FIN | SL_TCP_PSH);
        if (i > 0)
            f &= (uint8_t)~SL_TCP_CWR;
        if ((flags & SL_TCP_URG) && urp <= off)
            f &= (uint8_t)~SL_TCP_URG;
        CHECK_EQ(t.flags, f);
        if (f & SL_TCP_URG)
            CHECK_EQ(t.urp, urp - off);
        else
            CHECK_EQ(t.urp, 0);
        int same = 1;
        for (uint32_t k = 0; k < t.len; k++)
            same &= t.payload[k] == pat(off + k);
        CHECK(same);

        /* the same segment with only the pseudo-header sum, completed as
         * a device would, is the same frame */
        static uint8_t part[70000];
        CHECK_EQ(sl_gso_seg(&g, i, part, 1), n);
        uint32_t l4 = SL_ETH_HLEN + SL_IP_HLEN;
        uint16_t ps = (uint16_t)~sl_csum_fold(sl_csum_pseudo(SRC, DST, SL_IPPROTO_TCP,
                                                             (uint16_t)(n - l4)));
        CHECK_EQ(sl_get16(part + l4 + 16), ps);
        CHECK(sl_csum_complete(part, n, l4) == 0);
        CHECK(memcmp(part, seg, n) == 0);
        off += t.len;
    }
    CHECK_EQ(off, payload);
    CHECK_EQ(sl_gso_seg(&g, g.nsegs, seg, 0), 0);
    CHECK(memcmp(before, sup, len) == 0); /* the super-frame is left alone */
}

static void test_segments(void)
{
    cut_and_check(10 * 1448 + 100, 1448, SL_TCP_ACK | SL_TCP_PSH | SL_TCP_FIN, 0);
    cut_and_check(4 * 1448, 1448, SL_TCP_ACK | SL_TCP_PSH, 0); /* exact multiple */
    cut_and_check(65535 - 20 - 32, 1448, SL_TCP_ACK | SL_TCP_PSH, 0); /* largest */
    cut_and_check(7777, 1001, SL_TCP_ACK | SL_TCP_CWR | SL_TCP_ECE, 0); /* odd sizes */
    cut_and_check(5000, 536, SL_TCP_ACK | SL_TCP_URG, 1500); /* urgent in segment 2 */
    cut_and_check(900, 1448, SL_TCP_ACK | SL_TCP_FIN, 0);   /* fits: one segment */
    cut_and_check(0, 1448, SL_TCP_ACK, 0);                  /* no payload */
}

static void test_rejects(void)
{
    static uint8_t f[70000];
    struct sl_gso g;
    uint32_t len = craft(f, 3000, SL_TCP_ACK, 0);
    CHECK(sl_gso_init(&g, f, len, 0) < 0);          /* no segment size */
    CHECK(sl_gso_init(&g, f, len - 1, 1448) < 0);   /* IPv4 length disagrees */
    CHECK(sl_gso_init(&g, f, 40, 1448) < 0);        /* too short */
    f[SL_ETH_HLEN + 9] = 17;                        /* UDP */
    CHECK(sl_gso_init(&g, f, len, 1448) < 0);
    f[SL_ETH_HLEN + 9] = SL_IPPROTO_TCP;
    f[SL_ETH_HLEN + 6] |= 0x20;                     /* MF: a fragment */
    CHECK(sl_gso_init(&g, f, len, 1448) < 0);
    f[SL_ETH_HLEN + 6] &= (uint8_t)~0x20;
    f[12] = 0x86;                                   /* not IPv4 */
    CHECK(sl_gso_init(&g, f, len, 1448) < 0);
    f[12] = 0x08;
    CHECK(sl_gso_init(&g, f, len, 1448) == 0);
    CHECK(sl_csum_complete(f, len, 10) < 0);        /* TCP offset inside Ethernet+IP */
}

/* sl_csum_complete on a single small frame padded to the Ethernet
 * minimum: the checksum covers the IPv4 length, not the padding. */
static void test_csum_padded(void)
{
    static uint8_t f[128];
    uint32_t len = craft(f, 2, SL_TCP_ACK | SL_TCP_PSH, 0);
    memset(f + len, 0xee, 20);
    CHECK(sl_csum_complete(f, len + 20, SL_ETH_HLEN + SL_IP_HLEN) == 0);
    struct sl_ip4 ip;
    struct sl_tcp_seg t;
    CHECK(parse(f, len, &ip, &t));
    CHECK_EQ(t.len, 2);
}

int main(void)
{
    test_segments();
    test_rejects();
    test_csum_padded();
    printf("test_gso: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
