/* Unit tests for the wire layer (src/wire). One case per test_* function
 * (tests/lib/check.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

#include "check.h"

/* Parser verdicts, printed by name on mismatch. */
#define CHECK_CTR(a, b)                                                                  \
    do {                                                                                 \
        enum sl_ctr a_ = (a), b_ = (b);                                                  \
        if (a_ == b_)                                                                    \
            check_true(true, __FILE__, __LINE__, #a);                                    \
        else                                                                             \
            check_fail(__FILE__, __LINE__, "%s: got %s, want %s", #a, sl_ctr_names[a_], \
                       sl_ctr_names[b_]);                                                \
    } while (0)

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* ---- independent reference checksum: RFC 1071 4.1, byte by byte ---- */
static uint32_t ref_sum(uint32_t acc, const uint8_t *p, size_t len)
{
    uint64_t s = acc;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}
static uint16_t ref_csum(const uint8_t *p, size_t len) { return (uint16_t)~ref_sum(0, p, len); }
static uint16_t ref_tcp_csum(uint32_t s, uint32_t d, const uint8_t *p, size_t len)
{
    uint8_t ph[12];
    sl_put32(ph, s);
    sl_put32(ph + 4, d);
    ph[8] = 0;
    ph[9] = SL_IPPROTO_TCP;
    sl_put16(ph + 10, (uint16_t)len);
    return (uint16_t)~ref_sum(ref_sum(0, ph, 12), p, len);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static size_t unhex(uint8_t *out, const char *h)
{
    size_t n = 0;
    while (h[0] && h[1]) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
        h += 2;
    }
    return n;
}

/* ---- real frames captured from Linux (6.x) through a TAP device in a
 * private network namespace: the kernel computed every checksum. ---- */
/* 10.9.0.1:45678 -> 10.9.0.2:80 SYN: MSS 1460, SACK_PERM+TS, NOP, WS 10 */
static const char LINUX_SYN[] =
    "020000000002020000000001080045000"
    "03cca83400040065c240a0900010a090002b26e0050215e297400000000a002faf0b35c0000020405b40402080a4c"
    "203bea000000000103030a";
/* 10.9.0.1:8080 -> 10.9.0.2:40000 SYN-ACK */
static const char LINUX_SYNACK[] =
    "02000000000202000000000108004500003c00004000400626a80a0900010a0900021f909c40414e1b84000003e9"
    "a012fe88e8890000020405b40402080aae3d81fb000000010103030a";
/* Duplicate ACK with NOP,NOP,TS,NOP,NOP,SACK(1 block 1101..1151) */
static const char LINUX_ACK_SACK[] =
    "020000000002020000000001080045000040cdf04000400658b30a0900010a0900021f909c40414e1b85000003e9"
    "b0100040d65900000101080aae3d825f000000020101050a0000044d0000047f";
/* ICMP echo request (ping socket), 31-byte ICMP message: odd length */
static const char LINUX_ECHO[] =
    "0200000000020200000000010800450000337e1140004001a8a40a0900010a0900020800cc49bd940001736c7463"
    "702d70696e672d7061796c6f61642d32346279";
/* ARP who-has 10.9.0.2 tell 10.9.0.1 (unpadded, 42 bytes) */
static const char LINUX_ARP[] =
    "ffffffffffff020000000001080600010800060400010200000000010a0900010000000000000a090002";

/* ================= checksums ================= */
static void test_csum(void)
{
    /* RFC 1071 3 numerical example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
    static const uint8_t v1[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    CHECK_EQ(sl_csum_add(0, v1, sizeof v1), 0xddf2);
    CHECK_EQ(sl_csum_fold(sl_csum_add(0, v1, sizeof v1)), 0x220d);
    /* Chained in even pieces gives the same. */
    CHECK_EQ(sl_csum_add(sl_csum_add(0, v1, 2), v1 + 2, 6), 0xddf2);
    CHECK_EQ(sl_csum_add(sl_csum_add(0, v1, 4), v1 + 4, 4), 0xddf2);

    /* Classic IPv4 header example (checksum b861). */
    uint8_t ip[20];
    unhex(ip, "450000730000400040110000c0a80001c0a800c7");
    CHECK_EQ(sl_csum_fold(sl_csum_add(0, ip, 20)), 0xb861);
    sl_put16(ip + 10, 0xb861);
    CHECK_EQ(sl_csum_fold(sl_csum_add(0, ip, 20)), 0);

    /* Odd lengths: trailing byte is the high byte of a zero-padded word. */
    static const uint8_t odd[] = {0x12, 0x34, 0x56};
    CHECK_EQ(sl_csum_add(0, odd, 3), 0x1234 + 0x5600);
    CHECK_EQ(sl_csum_add(0, odd, 1), 0x1200);
    CHECK_EQ(sl_csum_add(0, odd, 0), 0);
    CHECK_EQ(sl_csum_add(0x1234, odd, 0), 0x1234);
    CHECK_EQ(sl_csum_fold(0), 0xffff);
    CHECK_EQ(sl_csum_fold(0xffff), 0);
    CHECK_EQ(sl_csum_fold(0x1ffff), ~(uint16_t)1 & 0xffff); /* carry folded */

    /* Pseudo header (RFC 9293 3.1) against the byte-wise reference. */
    uint8_t ph[12];
    sl_put32(ph, IP(192, 168, 1, 1));
    sl_put32(ph + 4, IP(10, 255, 0, 7));
    ph[8] = 0;
    ph[9] = 6;
    sl_put16(ph + 10, 1480);
    CHECK_EQ(sl_csum_pseudo(IP(192, 168, 1, 1), IP(10, 255, 0, 7), 6, 1480), ref_sum(0, ph, 12));
    CHECK(sl_csum_pseudo(0xffffffff, 0xffffffff, 0xff, 0xffff) <= 0xffff);

    /* Random buffers, every length 0..600 at every alignment 0..7, with a
     * random incoming acc, against the reference. */
    static uint8_t buf[65536 + 16];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rnd();
    int bad = 0;
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 600; len++) {
            uint32_t acc = rnd() & 0xffff;
            if (sl_csum_add(acc, buf + off, len) != ref_sum(acc, buf + off, len))
                bad++;
        }
    CHECK_EQ(bad, 0);
    /* Big segments: 64 KB random, 64 KB of 0xff (max carries), odd 65535. */
    CHECK_EQ(sl_csum_add(0, buf + 1, 65536), ref_sum(0, buf + 1, 65536));
    CHECK_EQ(sl_csum_add(0, buf + 3, 65535), ref_sum(0, buf + 3, 65535));
    memset(buf, 0xff, sizeof buf);
    CHECK_EQ(sl_csum_add(0xffff, buf, 65536), ref_sum(0xffff, buf, 65536));
    CHECK_EQ(sl_csum_add(0, buf, 65535), ref_sum(0, buf, 65535));
    /* Chaining at arbitrary even split points. */
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rnd();
    bad = 0;
    for (int k = 0; k < 200; k++) {
        size_t len = rnd() % 3000, cut = (rnd() % (len / 2 + 1)) * 2;
        if (sl_csum_add(sl_csum_add(0, buf, cut), buf + cut, len - cut) != ref_sum(0, buf, len))
            bad++;
    }
    CHECK_EQ(bad, 0);
}

/* ================= Ethernet ================= */
static void test_eth(void)
{
    uint8_t f[64];
    struct sl_eth e;
    const uint8_t a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {0xa, 0xb, 0xc, 0xd, 0xe, 0xf};
    CHECK_EQ(sl_eth_build(f, a, b, SL_ETH_P_ARP), 14);
    memset(f + 14, 0x55, 10);
    CHECK_CTR(sl_eth_parse(f, 24, &e), SL_CTR_ok);
    CHECK(memcmp(e.dst, a, 6) == 0 && memcmp(e.src, b, 6) == 0);
    CHECK_EQ(e.type, SL_ETH_P_ARP);
    CHECK(e.payload == f + 14);
    CHECK_EQ(e.payload_len, 10);
    CHECK_CTR(sl_eth_parse(f, 14, &e), SL_CTR_ok);
    CHECK_EQ(e.payload_len, 0);
    for (size_t l = 0; l < 14; l++)
        CHECK_CTR(sl_eth_parse(f, l, &e), SL_CTR_drop_eth_short);
}

/* ================= ARP ================= */
static void test_arp(void)
{
    uint8_t f[64];
    size_t n = unhex(f, LINUX_ARP);
    struct sl_eth e;
    struct sl_arp a;
    CHECK_CTR(sl_eth_parse(f, n, &e), SL_CTR_ok);
    CHECK_EQ(e.type, SL_ETH_P_ARP);
    CHECK_CTR(sl_arp_parse(e.payload, e.payload_len, &a), SL_CTR_ok);
    CHECK_EQ(a.op, SL_ARP_REQUEST);
    CHECK_EQ(a.spa, IP(10, 9, 0, 1));
    CHECK_EQ(a.tpa, IP(10, 9, 0, 2));
    static const uint8_t kmac[6] = {2, 0, 0, 0, 0, 1}, zero[6] = {0};
    CHECK(memcmp(a.sha, kmac, 6) == 0 && memcmp(a.tha, zero, 6) == 0);

    /* Rebuilding the captured request gives the same bytes. */
    uint8_t b[28];
    CHECK_EQ(sl_arp_build(b, a.op, a.sha, a.spa, a.tha, a.tpa), SL_ARP_LEN);
    CHECK(memcmp(b, e.payload, 28) == 0);

    /* Reply round trip, with Ethernet padding after the body. */
    uint8_t pad[46] = {0};
    const uint8_t m2[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
    sl_arp_build(pad, SL_ARP_REPLY, m2, IP(10, 9, 0, 2), kmac, IP(10, 9, 0, 1));
    CHECK_CTR(sl_arp_parse(pad, sizeof pad, &a), SL_CTR_ok);
    CHECK_EQ(a.op, SL_ARP_REPLY);
    CHECK(memcmp(a.sha, m2, 6) == 0 && memcmp(a.tha, kmac, 6) == 0);
    CHECK_EQ(a.spa, IP(10, 9, 0, 2));
    CHECK_EQ(a.tpa, IP(10, 9, 0, 1));

    /* Malformed (RFC 826: only Ethernet/IPv4, 6/4 lengths, op 1/2). */
    for (size_t l = 0; l < SL_ARP_LEN; l++)
        CHECK_CTR(sl_arp_parse(pad, l, &a), SL_CTR_drop_arp_malformed);
    static const struct { size_t off; uint8_t v; } bad[] = {
        {1, 6}, /* htype IEEE 802 */ {2, 0x86}, /* ptype IPv6 */
        {4, 8}, /* hlen */           {5, 16},   /* plen */
        {7, 0}, /* op 0 */           {7, 3},    /* RARP request */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t c[28];
        memcpy(c, pad, 28);
        c[bad[i].off] = bad[i].v;
        CHECK_CTR(sl_arp_parse(c, 28, &a), SL_CTR_drop_arp_malformed);
    }
}

/* ================= IPv4 ================= */
static void ip_fix_csum(uint8_t *p)
{
    size_t ihl = (size_t)(p[0] & 15) * 4;
    sl_put16(p + 10, 0);
    sl_put16(p + 10, ref_csum(p, ihl));
}

static void test_ip4(void)
{
    uint8_t f[128];
    size_t n = unhex(f, LINUX_SYN);
    struct sl_ip4 ip;
    const uint8_t *h = f + 14;
    size_t hl = n - 14;
    CHECK_CTR(sl_ip4_parse(h, hl, false, &ip), SL_CTR_ok);
    CHECK_EQ(ip.ihl_bytes, 20);
    CHECK_EQ(ip.tot_len, 60);
    CHECK_EQ(ip.ttl, 64);
    CHECK_EQ(ip.proto, SL_IPPROTO_TCP);
    CHECK_EQ(ip.id, 0xca83);
    CHECK(ip.df && !ip.mf);
    CHECK_EQ(ip.frag_off_bytes, 0);
    CHECK_EQ(ip.src, IP(10, 9, 0, 1));
    CHECK_EQ(ip.dst, IP(10, 9, 0, 2));
    CHECK(ip.payload == h + 20);
    CHECK_EQ(ip.payload_len, 40);
    /* The kernel's checksum agrees with the reference. */
    CHECK_EQ(ref_csum(h, 20), 0);

    /* Builder reproduces the captured header exactly (DF, tos 0). */
    uint8_t b[20];
    CHECK_EQ(sl_ip4_build(b, ip.src, ip.dst, ip.proto, ip.id, ip.ttl, 40), 20);
    CHECK(memcmp(b, h, 20) == 0);
    CHECK_EQ(sl_ip4_build(b, 1, 2, 6, 0, 64, 65515), 20);
    CHECK_EQ(sl_get16(b + 2), 65535);
    CHECK_EQ(ref_csum(b, 20), 0);
    CHECK_EQ(sl_ip4_build(b, 1, 2, 6, 0, 64, 65516), 0); /* tot_len overflow */

    /* Ethernet padding beyond tot_len is ignored. */
    uint8_t g[128];
    memcpy(g, h, hl);
    memset(g + hl, 0xee, 20);
    CHECK_CTR(sl_ip4_parse(g, hl + 20, false, &ip), SL_CTR_ok);
    CHECK_EQ(ip.payload_len, 40);

    /* Options are skipped; header checksum covers them. */
    uint8_t o[64] = {0};
    sl_ip4_build(o, IP(1, 2, 3, 4), IP(5, 6, 7, 8), 6, 7, 64, 12);
    memmove(o + 24, o + 20, 12);
    o[0] = 0x46;
    o[20] = 1; o[21] = 1; o[22] = 1; o[23] = 0; /* NOP NOP NOP EOL */
    sl_put16(o + 2, 36);
    ip_fix_csum(o);
    CHECK_CTR(sl_ip4_parse(o, 36, false, &ip), SL_CTR_ok);
    CHECK_EQ(ip.ihl_bytes, 24);
    CHECK(ip.payload == o + 24);
    CHECK_EQ(ip.payload_len, 12);

    /* Fragment fields (RFC 791 3.1): MF + offset 5*8. */
    memcpy(g, h, 20);
    sl_put16(g + 6, 0x2005);
    ip_fix_csum(g);
    CHECK_CTR(sl_ip4_parse(g, hl, false, &ip), SL_CTR_ok);
    CHECK(ip.mf && !ip.df);
    CHECK_EQ(ip.frag_off_bytes, 40);
    sl_put16(g + 6, 0x5fff); /* DF + max offset */
    ip_fix_csum(g);
    CHECK_CTR(sl_ip4_parse(g, hl, false, &ip), SL_CTR_ok);
    CHECK(ip.df && !ip.mf);
    CHECK_EQ(ip.frag_off_bytes, 8191 * 8);

    /* ---- malformed ---- */
    for (size_t l = 0; l < 20; l++)
        CHECK_CTR(sl_ip4_parse(h, l, false, &ip), SL_CTR_drop_ip_short);
    memcpy(g, h, hl);
    g[0] = 0x65; /* version 6 */
    CHECK_CTR(sl_ip4_parse(g, hl, true, &ip), SL_CTR_drop_ip_version);
    g[0] = 0x44; /* ihl 4 */
    CHECK_CTR(sl_ip4_parse(g, hl, true, &ip), SL_CTR_drop_ip_hdrlen);
    g[0] = 0x40; /* ihl 0 */
    CHECK_CTR(sl_ip4_parse(g, hl, true, &ip), SL_CTR_drop_ip_hdrlen);
    g[0] = 0x4f; /* ihl 60 > 56 bytes available */
    CHECK_CTR(sl_ip4_parse(g, 56, true, &ip), SL_CTR_drop_ip_hdrlen);
    g[0] = 0x46; /* ihl 24 > 22 bytes available */
    CHECK_CTR(sl_ip4_parse(g, 22, true, &ip), SL_CTR_drop_ip_hdrlen);
    g[0] = 0x45;
    CHECK_CTR(sl_ip4_parse(g, hl - 1, true, &ip), SL_CTR_drop_ip_totlen); /* tot_len > len */
    sl_put16(g + 2, 19); /* tot_len < ihl */
    ip_fix_csum(g);
    CHECK_CTR(sl_ip4_parse(g, hl, false, &ip), SL_CTR_drop_ip_totlen);
    sl_put16(g + 2, 20); /* tot_len == ihl: empty payload is fine */
    ip_fix_csum(g);
    CHECK_CTR(sl_ip4_parse(g, hl, false, &ip), SL_CTR_ok);
    CHECK_EQ(ip.payload_len, 0);
    memcpy(g, h, hl);
    g[11] ^= 1; /* bad checksum */
    CHECK_CTR(sl_ip4_parse(g, hl, false, &ip), SL_CTR_drop_ip_csum);
    CHECK_CTR(sl_ip4_parse(g, hl, true, &ip), SL_CTR_ok);
    memcpy(g, h, hl);
    g[15] ^= 0x80; /* corrupt source address */
    CHECK_CTR(sl_ip4_parse(g, hl, false, &ip), SL_CTR_drop_ip_csum);
}

/* ================= ICMP ================= */
static void test_icmp(void)
{
    uint8_t f[128];
    size_t n = unhex(f, LINUX_ECHO);
    struct sl_ip4 ip;
    struct sl_icmp ic;
    CHECK_CTR(sl_ip4_parse(f + 14, n - 14, false, &ip), SL_CTR_ok);
    CHECK_EQ(ip.proto, SL_IPPROTO_ICMP);
    CHECK_EQ(ip.payload_len, 31);
    CHECK_CTR(sl_icmp_parse(ip.payload, ip.payload_len, false, &ic), SL_CTR_ok);
    CHECK_EQ(ic.type, SL_ICMP_ECHO_REQUEST);
    CHECK_EQ(ic.code, 0);
    CHECK_EQ(ic.rest, 0xbd940001u);
    CHECK_EQ(ic.mtu, 0);
    CHECK(!ic.inner_ok);
    CHECK_EQ(ic.body_len, 23);
    CHECK(memcmp(ic.body, "sltcp-ping-payload-24by", 23) == 0);

    /* Echo reply (odd length): type 0, id/seq/data kept, valid checksum. */
    uint8_t r[64];
    CHECK_EQ(sl_icmp_build_echo_reply(r, ip.payload, 31), 31);
    CHECK_EQ(r[0], SL_ICMP_ECHO_REPLY);
    CHECK(memcmp(r + 4, ip.payload + 4, 27) == 0);
    CHECK_EQ(ref_csum(r, 31), 0);
    CHECK_CTR(sl_icmp_parse(r, 31, false, &ic), SL_CTR_ok);
    CHECK_EQ(ic.type, SL_ICMP_ECHO_REPLY);
    CHECK_EQ(ic.rest, 0xbd940001u);
    /* In place. */
    uint8_t inpl[31];
    memcpy(inpl, ip.payload, 31);
    CHECK_EQ(sl_icmp_build_echo_reply(inpl, inpl, 31), 31);
    CHECK(memcmp(inpl, r, 31) == 0);
    CHECK_EQ(sl_icmp_build_echo_reply(r, ip.payload, 7), 0);
    /* Minimal 8-byte echo. */
    uint8_t e8[8] = {8, 0, 0, 0, 0x12, 0x34, 0, 1};
    sl_put16(e8 + 2, ref_csum(e8, 8));
    CHECK_CTR(sl_icmp_parse(e8, 8, false, &ic), SL_CTR_ok);
    CHECK_EQ(ic.body_len, 0);
    CHECK_EQ(sl_icmp_build_echo_reply(r, e8, 8), 8);
    CHECK_CTR(sl_icmp_parse(r, 8, false, &ic), SL_CTR_ok);

    /* Malformed. */
    for (size_t l = 0; l < 8; l++)
        CHECK_CTR(sl_icmp_parse(ip.payload, l, false, &ic), SL_CTR_drop_icmp_short);
    uint8_t c[64];
    memcpy(c, ip.payload, 31);
    c[30] ^= 0x40;
    CHECK_CTR(sl_icmp_parse(c, 31, false, &ic), SL_CTR_drop_icmp_csum);
    CHECK_CTR(sl_icmp_parse(c, 31, true, &ic), SL_CTR_ok);
    CHECK_CTR(sl_icmp_parse(ip.payload, 30, false, &ic), SL_CTR_drop_icmp_csum);

    /* Destination unreachable / fragmentation needed (RFC 1191 4) quoting
     * the captured SYN: IP header + first 8 bytes of TCP. */
    uint8_t syn[128];
    unhex(syn, LINUX_SYN);
    uint8_t d[128] = {0};
    d[0] = SL_ICMP_DEST_UNREACH;
    d[1] = SL_ICMP_FRAG_NEEDED;
    sl_put16(d + 6, 1400);
    memcpy(d + 8, syn + 14, 28);
    sl_put16(d + 2, ref_csum(d, 36));
    CHECK_CTR(sl_icmp_parse(d, 36, false, &ic), SL_CTR_ok);
    CHECK_EQ(ic.mtu, 1400);
    CHECK(ic.inner_ok);
    CHECK_EQ(ic.inner_src, IP(10, 9, 0, 1));
    CHECK_EQ(ic.inner_dst, IP(10, 9, 0, 2));
    CHECK_EQ(ic.inner_proto, SL_IPPROTO_TCP);
    CHECK_EQ(ic.inner_sport, 45678);
    CHECK_EQ(ic.inner_dport, 80);
    CHECK_EQ(ic.inner_seq, 0x215e2974u);
    /* One byte short of the 8 transport bytes: no inner info. */
    CHECK_CTR(sl_icmp_parse(d, 35, true, &ic), SL_CTR_ok);
    CHECK(!ic.inner_ok);
    CHECK_EQ(ic.mtu, 1400);
    /* Other code (port unreachable): mtu stays 0, inner still parsed. */
    d[1] = 3;
    CHECK_CTR(sl_icmp_parse(d, 36, true, &ic), SL_CTR_ok);
    CHECK_EQ(ic.mtu, 0);
    CHECK(ic.inner_ok);
    /* Quoted header with options (ihl 6): transport starts at 24. */
    uint8_t d2[128] = {0};
    d2[0] = 3;
    d2[1] = 4;
    sl_put16(d2 + 6, 1280);
    memcpy(d2 + 8, syn + 14, 20);
    d2[8] = 0x46;
    memcpy(d2 + 8 + 24, syn + 34, 8);
    CHECK_CTR(sl_icmp_parse(d2, 40, true, &ic), SL_CTR_ok);
    CHECK(ic.inner_ok);
    CHECK_EQ(ic.inner_sport, 45678);
    CHECK_EQ(ic.inner_seq, 0x215e2974u);
    CHECK_CTR(sl_icmp_parse(d2, 39, true, &ic), SL_CTR_ok);
    CHECK(!ic.inner_ok);
    d2[8] = 0x44; /* quoted ihl 4: garbage */
    CHECK_CTR(sl_icmp_parse(d2, 40, true, &ic), SL_CTR_ok);
    CHECK(!ic.inner_ok);
    d2[8] = 0x65; /* quoted version 6 */
    CHECK_CTR(sl_icmp_parse(d2, 40, true, &ic), SL_CTR_ok);
    CHECK(!ic.inner_ok);
    /* Inner fields for types 3, 11 and 12 (RFC 792: they all quote the
     * datagram; RFC 9293 3.9.2.2); the MTU only for 3/4; none for echo. */
    d[0] = 11;
    CHECK_CTR(sl_icmp_parse(d, 36, true, &ic), SL_CTR_ok);
    CHECK(ic.inner_ok);
    CHECK_EQ(ic.mtu, 0);
    d[0] = 12;
    CHECK_CTR(sl_icmp_parse(d, 36, true, &ic), SL_CTR_ok);
    CHECK(ic.inner_ok);
    d[0] = 5; /* redirect: not handed to TCP */
    CHECK_CTR(sl_icmp_parse(d, 36, true, &ic), SL_CTR_ok);
    CHECK(!ic.inner_ok);
}

/* RFC 791 3.1 source routes, RFC 1122 3.2.1.8 c: build a routed header
 * (first hop as destination, the rest and the final destination in the
 * option, pointer 4), then play the routers: each hop records itself at
 * the pointer and advances it; at the end the reversed route is the
 * recorded hops backwards. Malformed options are refused. */
static void test_ip4_source_route(void)
{
    uint8_t p[60];
    struct sl_srcroute r = {.type = SL_IPOPT_LSRR, .n = 3, .hop = {0x0a000001, 0x0a000002, 0x0a000003}};
    CHECK_EQ(sl_srcroute_optlen(&r), 16);
    size_t hl = sl_ip4_build_routed(p, 0xc6120001, 0xc6120009, &r, SL_IPPROTO_TCP, 7, 64, 100);
    CHECK_EQ(hl, 36);
    struct sl_ip4 ip;
    CHECK_CTR(sl_ip4_parse(p, hl, true, &ip), SL_CTR_drop_ip_totlen); /* payload missing */
    static uint8_t big[200];
    memcpy(big, p, hl);
    CHECK_CTR(sl_ip4_parse(big, hl + 100, false, &ip), SL_CTR_ok); /* checksum over options */
    CHECK_EQ(ip.ihl_bytes, 36);
    CHECK_EQ(ip.dst, 0x0a000001u);
    CHECK_EQ(big[20], SL_IPOPT_LSRR);
    CHECK_EQ(big[21], 15);
    CHECK_EQ(big[22], 4);
    CHECK_EQ(sl_get32(big + 23), 0x0a000002u);
    CHECK_EQ(sl_get32(big + 31), 0xc6120009u);
    struct sl_srcroute back;
    CHECK_EQ(sl_ip4_return_route(big, 36, &back), 0); /* not complete yet */
    /* the routers: hop 1 forwards to .2 recording its address, and so on */
    uint32_t rec[3] = {0x0b000001, 0x0b000002, 0x0b000003};
    for (int k = 0; k < 3; k++) {
        uint8_t ptr = big[22];
        sl_put32(big + 20 + ptr - 1, rec[k]);
        big[22] = (uint8_t)(ptr + 4);
    }
    CHECK_EQ(sl_ip4_return_route(big, 36, &back), 1);
    CHECK_EQ(back.type, SL_IPOPT_LSRR);
    CHECK_EQ(back.n, 3);
    CHECK_EQ(back.hop[0], 0x0b000003u);
    CHECK_EQ(back.hop[2], 0x0b000001u);
    /* malformed: length not 3 + 4k, pointer < 4, overrunning the header */
    big[21] = 14;
    CHECK(sl_ip4_return_route(big, 36, &back) < 0);
    big[21] = 15;
    big[22] = 3;
    CHECK(sl_ip4_return_route(big, 36, &back) < 0);
    big[22] = 16;
    big[21] = 19;
    CHECK(sl_ip4_return_route(big, 36, &back) < 0);
    /* other options are skipped: NOP, then a timestamp-like option */
    uint8_t o2[24] = {0};
    o2[20] = 1;
    o2[21] = 68;
    o2[22] = 2;
    CHECK_EQ(sl_ip4_return_route(o2, 24, &back), 0);
}

/* ================= TCP ================= */
static bool opts_eq(const struct sl_tcp_opts *a, const struct sl_tcp_opts *b)
{
    if (a->has_mss != b->has_mss || a->has_wscale != b->has_wscale ||
        a->sack_perm != b->sack_perm || a->has_ts != b->has_ts || a->nsack != b->nsack)
        return false;
    if (a->has_mss && a->mss != b->mss)
        return false;
    if (a->has_wscale && a->wscale != b->wscale)
        return false;
    if (a->has_ts && (a->tsval != b->tsval || a->tsecr != b->tsecr))
        return false;
    for (unsigned i = 0; i < a->nsack; i++)
        if (a->sack[i].left != b->sack[i].left || a->sack[i].right != b->sack[i].right)
            return false;
    return true;
}

/* Captured kernel segments: parse, check, rebuild byte for byte. */
static void test_tcp_linux(void)
{
    uint8_t f[128], b[128];
    struct sl_ip4 ip;
    struct sl_tcp_seg s;
    size_t n;

    /* --- SYN --- */
    n = unhex(f, LINUX_SYN);
    CHECK_CTR(sl_ip4_parse(f + 14, n - 14, false, &ip), SL_CTR_ok);
    /* Independent check of the kernel's TCP checksum (0xb35c). */
    CHECK_EQ(sl_get16(ip.payload + 16), 0xb35c);
    CHECK_EQ(ref_tcp_csum(ip.src, ip.dst, ip.payload, ip.payload_len), 0);
    CHECK_CTR(sl_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, false, &s), SL_CTR_ok);
    CHECK_EQ(s.sport, 45678);
    CHECK_EQ(s.dport, 80);
    CHECK_EQ(s.seq, 0x215e2974u);
    CHECK_EQ(s.ack, 0);
    CHECK_EQ(s.flags, SL_TCP_SYN);
    CHECK_EQ(s.doff_bytes, 40);
    CHECK_EQ(s.wnd, 64240);
    CHECK_EQ(s.urp, 0);
    CHECK_EQ(s.len, 0);
    CHECK(s.opts.has_mss && s.opts.mss == 1460);
    CHECK(s.opts.sack_perm);
    CHECK(s.opts.has_ts && s.opts.tsval == 0x4c203beau && s.opts.tsecr == 0);
    CHECK(s.opts.has_wscale && s.opts.wscale == 10);
    CHECK_EQ(s.opts.nsack, 0);
    CHECK_EQ(sl_tcp_opts_len(&s.opts), 20);
    /* Rebuild: identical bytes, identical checksum (our layout is Linux's). */
    memset(b, 0xaa, sizeof b);
    CHECK_EQ(sl_tcp_build(b, &s), 40);
    CHECK_EQ(sl_get16(b + 16), 0);
    sl_tcp_csum_finish(b, 40, ip.src, ip.dst);
    CHECK(memcmp(b, ip.payload, 40) == 0);
    /* Wrong pseudo header -> checksum drop. */
    CHECK_CTR(sl_tcp_parse(ip.payload, 40, ip.src, ip.dst + 1, false, &s), SL_CTR_drop_tcp_csum);
    CHECK_CTR(sl_tcp_parse(ip.payload, 40, ip.dst, ip.src, false, &s), SL_CTR_ok); /* symmetric */

    /* --- SYN-ACK --- */
    n = unhex(f, LINUX_SYNACK);
    CHECK_CTR(sl_ip4_parse(f + 14, n - 14, false, &ip), SL_CTR_ok);
    CHECK_CTR(sl_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, false, &s), SL_CTR_ok);
    CHECK_EQ(s.flags, SL_TCP_SYN | SL_TCP_ACK);
    CHECK_EQ(s.ack, 1001);
    CHECK(s.opts.has_mss && s.opts.sack_perm && s.opts.has_ts && s.opts.has_wscale);
    CHECK_EQ(s.opts.tsecr, 1);
    CHECK_EQ(s.opts.wscale, 10);
    CHECK_EQ(sl_tcp_build(b, &s), 40);
    sl_tcp_csum_finish(b, 40, ip.src, ip.dst);
    CHECK(memcmp(b, ip.payload, 40) == 0);

    /* --- ACK with TS + 1 SACK block --- */
    n = unhex(f, LINUX_ACK_SACK);
    CHECK_CTR(sl_ip4_parse(f + 14, n - 14, false, &ip), SL_CTR_ok);
    CHECK_CTR(sl_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, false, &s), SL_CTR_ok);
    CHECK_EQ(s.flags, SL_TCP_ACK);
    CHECK_EQ(s.doff_bytes, 44);
    CHECK(!s.opts.has_mss && !s.opts.sack_perm && !s.opts.has_wscale && s.opts.has_ts);
    CHECK_EQ(s.opts.nsack, 1);
    CHECK_EQ(s.opts.sack[0].left, 1101);
    CHECK_EQ(s.opts.sack[0].right, 1151);
    CHECK_EQ(sl_tcp_build(b, &s), 44);
    sl_tcp_csum_finish(b, 44, ip.src, ip.dst);
    CHECK(memcmp(b, ip.payload, 44) == 0);
}

/* Every combination of options x 0..4 SACK blocks: build -> parse. */
static void test_tcp_roundtrip(void)
{
    const uint32_t sa = IP(192, 0, 2, 1), da = IP(198, 51, 100, 7);
    for (unsigned mask = 0; mask < 16; mask++) {
        for (unsigned ns = 0; ns <= SL_TCP_MAX_SACK; ns++) {
            for (unsigned plen = 0; plen <= 3; plen++) {
                struct sl_tcp_seg s;
                memset(&s, 0, sizeof s);
                s.sport = 0xfedc;
                s.dport = 443;
                s.seq = 0xfffffff0u + mask;
                s.ack = 0x80000000u + ns;
                s.flags = (uint8_t)(SL_TCP_ACK | SL_TCP_PSH | (mask << 4 & 0xc0));
                s.wnd = 0xffff;
                s.urp = (uint16_t)(plen * 3);
                s.opts.has_mss = mask & 1;
                s.opts.has_wscale = (mask >> 1) & 1;
                s.opts.sack_perm = (mask >> 2) & 1;
                s.opts.has_ts = (mask >> 3) & 1;
                s.opts.mss = 1460;
                s.opts.wscale = 14;
                s.opts.tsval = 0xdeadbeef;
                s.opts.tsecr = 0x01020304;
                s.opts.nsack = (uint8_t)ns;
                for (unsigned i = 0; i < ns; i++) {
                    s.opts.sack[i].left = 0xfffffc00u + i * 0x1000;
                    s.opts.sack[i].right = s.opts.sack[i].left + 500; /* last wraps */
                }
                uint8_t b[60 + 3 + 8];
                memset(b, 0xcc, sizeof b);
                size_t hl = sl_tcp_build(b, &s);
                size_t ol = sl_tcp_opts_len(&s.opts);
                CHECK_EQ(hl, SL_TCP_HLEN + ol);
                CHECK_EQ(hl % 4, 0);
                CHECK(hl <= 60);
                CHECK_EQ(b[60 + 3 + 7], 0xcc); /* no write past the header */
                if (hl < 60)
                    CHECK_EQ(b[hl], 0xcc);
                memcpy(b + hl, "xyz", plen);
                sl_tcp_csum_finish(b, hl + plen, sa, da);
                CHECK_EQ(ref_tcp_csum(sa, da, b, hl + plen), 0);
                struct sl_tcp_seg r;
                CHECK_CTR(sl_tcp_parse(b, hl + plen, sa, da, false, &r), SL_CTR_ok);
                CHECK_EQ(r.sport, s.sport);
                CHECK_EQ(r.dport, s.dport);
                CHECK_EQ(r.seq, s.seq);
                CHECK_EQ(r.ack, s.ack);
                CHECK_EQ(r.flags, s.flags);
                CHECK_EQ(r.wnd, s.wnd);
                CHECK_EQ(r.urp, s.urp);
                CHECK_EQ(r.doff_bytes, hl);
                CHECK_EQ(r.len, plen);
                CHECK(r.payload == b + hl);
                /* Expected SACK count: as many as fit in 40 bytes. */
                struct sl_tcp_opts want = s.opts;
                unsigned fixed = (s.opts.has_mss ? 4u : 0) + (s.opts.sack_perm ? 2u : 0) +
                                 (s.opts.has_ts ? 10u : 0) + (s.opts.has_wscale ? 3u : 0);
                while (want.nsack > 0 && fixed + 2 + 8u * want.nsack > 40)
                    want.nsack--;
                CHECK(opts_eq(&r.opts, &want));
                if (!opts_eq(&r.opts, &want))
                    fprintf(stderr, "  mask %u ns %u: got nsack %u want %u\n", mask, ns,
                            r.opts.nsack, want.nsack);
            }
        }
    }

    /* Layout details. */
    struct sl_tcp_seg s;
    uint8_t b[64];
    memset(&s, 0, sizeof s);
    CHECK_EQ(sl_tcp_opts_len(&s.opts), 0);
    CHECK_EQ(sl_tcp_build(b, &s), 20);
    CHECK_EQ(b[12], 0x50);
    /* TS only: NOP,NOP,TS (RFC 7323 Appendix A layout). */
    s.opts.has_ts = 1;
    s.opts.tsval = 1;
    s.opts.tsecr = 2;
    CHECK_EQ(sl_tcp_build(b, &s), 32);
    CHECK_EQ(b[12], 0x80);
    static const uint8_t ts_only[] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
    CHECK(memcmp(b + 20, ts_only, 12) == 0);
    /* TS + 4 SACK blocks: only 3 fit (RFC 2018 3). */
    s.opts.nsack = 4;
    for (unsigned i = 0; i < 4; i++) {
        s.opts.sack[i].left = 100 * i + 1;
        s.opts.sack[i].right = 100 * i + 50;
    }
    CHECK_EQ(sl_tcp_opts_len(&s.opts), 40);
    CHECK_EQ(sl_tcp_build(b, &s), 60);
    CHECK_EQ(b[12], 0xf0);
    static const uint8_t ts_sack3[] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 26};
    CHECK(memcmp(b + 20, ts_sack3, sizeof ts_sack3) == 0);
    CHECK_EQ(sl_get32(b + 56), 250);
    struct sl_tcp_seg r;
    CHECK_CTR(sl_tcp_parse(b, 60, 0, 0, true, &r), SL_CTR_ok);
    CHECK_EQ(r.opts.nsack, 3);
    CHECK_EQ(r.opts.sack[2].left, 201);
    /* No TS: 4 SACK blocks, NOP,NOP,SACK(34). */
    s.opts.has_ts = 0;
    CHECK_EQ(sl_tcp_opts_len(&s.opts), 36);
    CHECK_EQ(sl_tcp_build(b, &s), 56);
    CHECK_EQ(b[22], 5);
    CHECK_EQ(b[23], 34);
    /* More than SL_TCP_MAX_SACK requested: clamped. */
    s.opts.nsack = 200;
    CHECK_EQ(sl_tcp_opts_len(&s.opts), 36);
    /* MSS + SACK-perm + 4 SACK: aligned layout would be 44, packed is 40
     * and keeps all four blocks. */
    s.opts.nsack = 4;
    s.opts.has_mss = 1;
    s.opts.mss = 536;
    s.opts.sack_perm = 1;
    CHECK_EQ(sl_tcp_opts_len(&s.opts), 40);
    CHECK_EQ(sl_tcp_build(b, &s), 60);
    static const uint8_t packed[] = {2, 4, 2, 24, 4, 2, 5, 34};
    CHECK(memcmp(b + 20, packed, sizeof packed) == 0);
    CHECK_CTR(sl_tcp_parse(b, 60, 0, 0, true, &r), SL_CTR_ok);
    CHECK(opts_eq(&r.opts, &s.opts));
    /* Everything: MSS, SP, TS, WS + 4 SACK -> 2 blocks fit (19+2+16=37). */
    s.opts.has_ts = 1;
    s.opts.has_wscale = 1;
    s.opts.wscale = 7;
    CHECK_EQ(sl_tcp_opts_len(&s.opts), 40);
    CHECK_EQ(sl_tcp_build(b, &s), 60);
    CHECK_CTR(sl_tcp_parse(b, 60, 0, 0, true, &r), SL_CTR_ok);
    CHECK_EQ(r.opts.nsack, 2);
    CHECK(r.opts.has_mss && r.opts.sack_perm && r.opts.has_ts && r.opts.has_wscale);
    /* WS only: NOP,WS. SACK-perm only: NOP,NOP,SACKOK. */
    memset(&s, 0, sizeof s);
    s.opts.has_wscale = 1;
    s.opts.wscale = 3;
    CHECK_EQ(sl_tcp_build(b, &s), 24);
    CHECK(memcmp(b + 20, "\x01\x03\x03\x03", 4) == 0);
    memset(&s, 0, sizeof s);
    s.opts.sack_perm = 1;
    CHECK_EQ(sl_tcp_build(b, &s), 24);
    CHECK(memcmp(b + 20, "\x01\x01\x04\x02", 4) == 0);
}

/* Build a raw TCP header with the given option bytes (padded with EOL to
 * a 4-byte multiple) and a valid checksum. Returns its length. */
static size_t raw_tcp(uint8_t *b, const uint8_t *opt, size_t olen)
{
    size_t ol = (olen + 3) & ~(size_t)3;
    memset(b, 0, SL_TCP_HLEN + ol);
    sl_put16(b, 1234);
    sl_put16(b + 2, 80);
    sl_put32(b + 4, 1000);
    b[12] = (uint8_t)(((SL_TCP_HLEN + ol) / 4) << 4);
    b[13] = SL_TCP_ACK;
    if (olen)
        memcpy(b + SL_TCP_HLEN, opt, olen);
    sl_tcp_csum_finish(b, SL_TCP_HLEN + ol, IP(10, 0, 0, 1), IP(10, 0, 0, 2));
    return SL_TCP_HLEN + ol;
}

static enum sl_ctr parse_opts_raw(const uint8_t *opt, size_t olen, struct sl_tcp_seg *s)
{
    uint8_t b[64];
    size_t n = raw_tcp(b, opt, olen);
    /* Exact-size heap copy so ASan sees any overread. */
    uint8_t *h = malloc(n);
    memcpy(h, b, n);
    enum sl_ctr r = sl_tcp_parse(h, n, IP(10, 0, 0, 1), IP(10, 0, 0, 2), false, s);
    free(h);
    return r;
}

static void test_tcp_malformed(void)
{
    struct sl_tcp_seg s;
    uint8_t b[128];
    size_t n;

#define OPT(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
    /* Well formed corner cases first. */
    CHECK_CTR(parse_opts_raw(OPT(0, 2, 1, 2), &s), SL_CTR_ok); /* EOL stops: garbage after */
    CHECK(!s.opts.has_mss);
    CHECK_CTR(parse_opts_raw(OPT(1, 1, 1, 1), &s), SL_CTR_ok);
    CHECK_CTR(parse_opts_raw(OPT(30, 6, 9, 9, 9, 9, 2, 4, 1, 0), &s), SL_CTR_ok); /* unknown skipped */
    CHECK(s.opts.has_mss && s.opts.mss == 256);
    CHECK_CTR(parse_opts_raw(OPT(254, 2), &s), SL_CTR_ok); /* unknown, len 2, no data */
    CHECK_CTR(parse_opts_raw(OPT(19, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), &s),
              SL_CTR_ok); /* MD5 sig option: ignored */
    /* Option exactly filling the option area. */
    CHECK_CTR(parse_opts_raw(OPT(1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6), &s), SL_CTR_ok);
    CHECK(s.opts.has_ts && s.opts.tsval == 5 && s.opts.tsecr == 6);

    /* Length 0 and 1: would loop forever / overlap the kind byte. */
    CHECK_CTR(parse_opts_raw(OPT(30, 0), &s), SL_CTR_drop_tcp_opt_malformed);
    CHECK_CTR(parse_opts_raw(OPT(30, 1), &s), SL_CTR_drop_tcp_opt_malformed);
    CHECK_CTR(parse_opts_raw(OPT(2, 0), &s), SL_CTR_drop_tcp_opt_malformed);
    CHECK_CTR(parse_opts_raw(OPT(1, 1, 1, 8), &s), SL_CTR_drop_tcp_opt_malformed); /* no length byte */
    /* Overruns. */
    CHECK_CTR(parse_opts_raw(OPT(1, 1, 2, 4), &s), SL_CTR_drop_tcp_opt_malformed);
    CHECK_CTR(parse_opts_raw(OPT(1, 1, 1, 1, 1, 1, 2, 4), &s), SL_CTR_drop_tcp_opt_malformed);
    CHECK_CTR(parse_opts_raw(OPT(1, 1, 1, 1, 2, 4, 5, 0xb4), &s), SL_CTR_ok); /* fits exactly */
    CHECK_CTR(parse_opts_raw(OPT(30, 5), &s), SL_CTR_drop_tcp_opt_malformed); /* 4-byte area */
    CHECK_CTR(parse_opts_raw(OPT(1, 1, 8, 10, 0, 0, 0, 0), &s), SL_CTR_drop_tcp_opt_malformed);
    CHECK_CTR(parse_opts_raw(OPT(1, 1, 8, 255, 0, 0, 0, 0), &s), SL_CTR_drop_tcp_opt_malformed);
    /* Known options with wrong lengths. */
    CHECK_CTR(parse_opts_raw(OPT(2, 3, 5, 1), &s), SL_CTR_drop_tcp_opt_malformed);       /* MSS 3 */
    CHECK_CTR(parse_opts_raw(OPT(2, 6, 5, 1, 0, 0, 1, 1), &s), SL_CTR_drop_tcp_opt_malformed);
    CHECK_CTR(parse_opts_raw(OPT(3, 4, 7, 1), &s), SL_CTR_drop_tcp_opt_malformed);       /* WS 4 */
    CHECK_CTR(parse_opts_raw(OPT(3, 2, 1, 1), &s), SL_CTR_drop_tcp_opt_malformed);       /* WS 2 */
    CHECK_CTR(parse_opts_raw(OPT(4, 3, 0, 1), &s), SL_CTR_drop_tcp_opt_malformed);       /* SACKOK 3 */
    CHECK_CTR(parse_opts_raw(OPT(8, 8, 0, 0, 0, 0, 0, 0), &s), SL_CTR_drop_tcp_opt_malformed);
    CHECK_CTR(parse_opts_raw(OPT(8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), &s),
              SL_CTR_drop_tcp_opt_malformed);                                          /* TS 12 */
    CHECK_CTR(parse_opts_raw(OPT(5, 2, 1, 1), &s), SL_CTR_drop_tcp_opt_malformed);       /* SACK 0 blocks */
    CHECK_CTR(parse_opts_raw(OPT(5, 6, 0, 0, 0, 1), &s), SL_CTR_drop_tcp_opt_malformed); /* 2+4 */
    {
        uint8_t o[16] = {5, 14};
        sl_put32(o + 2, 1);
        sl_put32(o + 6, 2);
        CHECK_CTR(parse_opts_raw(o, 16, &s), SL_CTR_drop_tcp_opt_malformed); /* 2+12 */
        o[1] = 11;
        CHECK_CTR(parse_opts_raw(o, 16, &s), SL_CTR_drop_tcp_opt_malformed); /* 2+9 */
        o[1] = 10;
        CHECK_CTR(parse_opts_raw(o, 16, &s), SL_CTR_ok);
        CHECK_EQ(s.opts.nsack, 1);
    }
    {
        /* SACK 2+40 = 42 bytes cannot fit a 40-byte area. */
        uint8_t o[40] = {5, 42};
        CHECK_CTR(parse_opts_raw(o, 40, &s), SL_CTR_drop_tcp_opt_malformed);
        /* 4 blocks, 34 bytes, ok; 5 valid blocks are impossible. */
        o[0] = 1;
        o[1] = 1;
        o[2] = 5;
        o[3] = 34;
        for (unsigned i = 0; i < 4; i++) {
            sl_put32(o + 4 + 8 * i, 10 * i);
            sl_put32(o + 8 + 8 * i, 10 * i + 5);
        }
        CHECK_CTR(parse_opts_raw(o, 36, &s), SL_CTR_ok);
        CHECK_EQ(s.opts.nsack, 4);
    }
    /* A malformed option after good ones still drops and clears opts. */
    CHECK_CTR(parse_opts_raw(OPT(2, 4, 5, 0xb4, 3, 3, 7, 30, 7), &s), SL_CTR_drop_tcp_opt_malformed);
    CHECK(!s.opts.has_mss && !s.opts.has_wscale);

    /* SACK blocks with left >= right are skipped (RFC 2018 3, seq math). */
    {
        uint8_t o[36] = {1, 1, 5, 34};
        const uint32_t e[4][2] = {
            {100, 200}, {300, 300}, {500, 400}, {0xfffffff0u, 0x10}, /* last wraps: valid */
        };
        for (unsigned i = 0; i < 4; i++) {
            sl_put32(o + 4 + 8 * i, e[i][0]);
            sl_put32(o + 8 + 8 * i, e[i][1]);
        }
        CHECK_CTR(parse_opts_raw(o, 36, &s), SL_CTR_ok);
        CHECK_EQ(s.opts.nsack, 2);
        CHECK_EQ(s.opts.sack[0].left, 100);
        CHECK_EQ(s.opts.sack[0].right, 200);
        CHECK_EQ(s.opts.sack[1].left, 0xfffffff0u);
        CHECK_EQ(s.opts.sack[1].right, 0x10);
        /* right - left == 2^31: sl_seq_lt is true both ways (RFC 1982
         * undefined case); the parser follows sl_seq_lt and reports it, the
         * engine must bound blocks by snd_una..snd_nxt anyway. */
        sl_put32(o + 4, 0);
        sl_put32(o + 8, 0x80000000u);
        o[3] = 10;
        CHECK_CTR(parse_opts_raw(o, 12, &s), SL_CTR_ok);
        CHECK_EQ(s.opts.nsack, 1);
        sl_put32(o + 4, 0x80000001u); /* left == right + 1: skipped */
        CHECK_CTR(parse_opts_raw(o, 12, &s), SL_CTR_ok);
        CHECK_EQ(s.opts.nsack, 0);
    }
    /* A second SACK option replaces the first. */
    {
        uint8_t o[20] = {5, 10};
        sl_put32(o + 2, 1);
        sl_put32(o + 6, 2);
        o[10] = 5;
        o[11] = 10;
        sl_put32(o + 12, 7);
        sl_put32(o + 16, 9);
        CHECK_CTR(parse_opts_raw(o, 20, &s), SL_CTR_ok);
        CHECK_EQ(s.opts.nsack, 1);
        CHECK_EQ(s.opts.sack[0].left, 7);
    }
#undef OPT

    /* ---- header checks ---- */
    n = raw_tcp(b, NULL, 0);
    CHECK_EQ(n, 20);
    for (size_t l = 0; l < 20; l++)
        CHECK_CTR(sl_tcp_parse(b, l, 0, 0, true, &s), SL_CTR_drop_tcp_short);
    b[12] = 0x40; /* doff 4 */
    CHECK_CTR(sl_tcp_parse(b, 20, 0, 0, true, &s), SL_CTR_drop_tcp_doff);
    b[12] = 0x00; /* doff 0 */
    CHECK_CTR(sl_tcp_parse(b, 20, 0, 0, true, &s), SL_CTR_drop_tcp_doff);
    b[12] = 0x60; /* doff 6 with only 20 bytes */
    CHECK_CTR(sl_tcp_parse(b, 20, 0, 0, true, &s), SL_CTR_drop_tcp_doff);
    memset(b + 20, 1, 40);
    b[12] = 0xf0; /* doff 15 with 59 bytes */
    CHECK_CTR(sl_tcp_parse(b, 59, 0, 0, true, &s), SL_CTR_drop_tcp_doff);
    CHECK_CTR(sl_tcp_parse(b, 60, 0, 0, true, &s), SL_CTR_ok); /* 40 NOPs */
    CHECK_EQ(s.len, 0);
    b[12] = 0x5f; /* reserved bits / NS are ignored */
    CHECK_CTR(sl_tcp_parse(b, 60, 0, 0, true, &s), SL_CTR_ok);
    CHECK_EQ(s.doff_bytes, 20);
    CHECK_EQ(s.len, 40);

    /* Checksum: flip one payload bit; trusted skips the check. */
    n = raw_tcp(b, NULL, 0);
    memcpy(b + 20, "hello", 5);
    sl_tcp_csum_finish(b, 25, IP(10, 0, 0, 1), IP(10, 0, 0, 2));
    CHECK_CTR(sl_tcp_parse(b, 25, IP(10, 0, 0, 1), IP(10, 0, 0, 2), false, &s), SL_CTR_ok);
    CHECK_EQ(s.len, 5);
    CHECK(memcmp(s.payload, "hello", 5) == 0);
    b[24] ^= 1;
    CHECK_CTR(sl_tcp_parse(b, 25, IP(10, 0, 0, 1), IP(10, 0, 0, 2), false, &s), SL_CTR_drop_tcp_csum);
    CHECK_CTR(sl_tcp_parse(b, 25, IP(10, 0, 0, 1), IP(10, 0, 0, 2), true, &s), SL_CTR_ok);
    b[24] ^= 1;
    CHECK_CTR(sl_tcp_parse(b, 24, IP(10, 0, 0, 1), IP(10, 0, 0, 2), false, &s), SL_CTR_drop_tcp_csum);
    /* Checksum is verified before options: a corrupt segment whose option
     * area became garbage counts as a checksum drop. */
    n = raw_tcp(b, (const uint8_t[]){2, 4, 5, 0xb4}, 4);
    b[21] = 0;
    CHECK_CTR(sl_tcp_parse(b, n, IP(10, 0, 0, 1), IP(10, 0, 0, 2), false, &s), SL_CTR_drop_tcp_csum);
    CHECK_CTR(sl_tcp_parse(b, n, IP(10, 0, 0, 1), IP(10, 0, 0, 2), true, &s),
              SL_CTR_drop_tcp_opt_malformed);
}

/* Every prefix of every captured frame, through every parser, from an
 * exact-size heap buffer (ASan catches any read past len), plus random
 * garbage. No crash, and verdicts are always a valid counter. */
static void test_no_overread(void)
{
    static const char *const frames[] = {LINUX_SYN, LINUX_SYNACK, LINUX_ACK_SACK, LINUX_ECHO,
                                         LINUX_ARP};
    uint8_t f[256];
    int bad = 0;
    for (size_t k = 0; k < sizeof frames / sizeof frames[0]; k++) {
        size_t n = unhex(f, frames[k]);
        for (size_t l = 0; l <= n; l++) {
            for (size_t off = 0; off <= 34 && off <= l; off += 14) {
                uint8_t *h = malloc(l - off + 1);
                memcpy(h, f + off, l - off);
                struct sl_eth e;
                struct sl_arp a;
                struct sl_ip4 ip;
                struct sl_icmp ic;
                struct sl_tcp_seg s;
                if (sl_eth_parse(h, l - off, &e) >= SL_CTR__COUNT) bad++;
                if (sl_arp_parse(h, l - off, &a) >= SL_CTR__COUNT) bad++;
                if (sl_ip4_parse(h, l - off, false, &ip) >= SL_CTR__COUNT) bad++;
                if (sl_icmp_parse(h, l - off, true, &ic) >= SL_CTR__COUNT) bad++;
                if (sl_tcp_parse(h, l - off, 0, 0, true, &s) >= SL_CTR__COUNT) bad++;
                free(h);
            }
        }
    }
    for (int it = 0; it < 200000; it++) {
        size_t l = rnd() % 80;
        uint8_t *h = malloc(l + 1);
        for (size_t i = 0; i < l; i++)
            h[i] = (uint8_t)rnd();
        /* Bias towards plausible headers to get past the first checks. */
        if (l > 12 && (it & 1))
            h[12] = (uint8_t)(0x50 + (rnd() % 11) * 0x10);
        if (l > 0 && (it & 2))
            h[0] = (uint8_t)(0x45 + rnd() % 11);
        struct sl_ip4 ip;
        struct sl_icmp ic;
        struct sl_tcp_seg s;
        struct sl_arp a;
        if (sl_tcp_parse(h, l, 0, 0, true, &s) == SL_CTR_ok) {
            if (s.doff_bytes + s.len != l || s.opts.nsack > SL_TCP_MAX_SACK) bad++;
            uint8_t r[60];
            size_t hl = sl_tcp_build(r, &s);
            struct sl_tcp_seg s2;
            if (hl > 60 || sl_tcp_parse(r, hl, 0, 0, true, &s2) != SL_CTR_ok ||
                !opts_eq(&s.opts, &s2.opts))
                bad++;
        }
        if (sl_ip4_parse(h, l, true, &ip) == SL_CTR_ok &&
            (ip.payload + ip.payload_len > h + l || ip.payload < h + 20))
            bad++;
        if (sl_icmp_parse(h, l, true, &ic) == SL_CTR_ok && ic.body + ic.body_len != h + l)
            bad++;
        sl_arp_parse(h, l, &a);
        free(h);
    }
    CHECK_EQ(bad, 0);
}

int main(void)
{
    RUN(test_csum);
    RUN(test_eth);
    RUN(test_arp);
    RUN(test_ip4);
    RUN(test_ip4_source_route);
    RUN(test_icmp);
    RUN(test_tcp_linux);
    RUN(test_tcp_roundtrip);
    RUN(test_tcp_malformed);
    RUN(test_no_overread);
    return check_finish("test_wire");
}
