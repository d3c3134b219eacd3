/* libFuzzer harness for the wire layer. Build and run (from the repo root):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -Iinclude
 *     src/common/ctr.c src/wire/[a-z]*.c fuzz/fuzz_wire.c -o /tmp/fuzz_wire
 *   /tmp/fuzz_wire -max_total_time=60 fuzz/corpus/wire
 *
 * (src/wire/[a-z]*.c stands for all C files in src/wire.)
 *
 * The input is an Ethernet frame. It goes through sl_eth_parse and, by
 * ethertype, the ARP or IPv4 parser, then ICMP / TCP on the IP payload,
 * each with csum_trusted true and false. The raw input is also fed to each
 * parser directly so the fuzzer can reach option parsing without building
 * valid outer headers. Everything that parses is rebuilt and re-parsed and
 * must come back equal; the checksum is cross-checked against a byte-wise
 * RFC 1071 reference. Any mismatch aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

#define FUZZ_ASSERT(c)                                                         \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                           \
        }                                                                      \
    } while (0)

static uint8_t scratch[65536 + 128];

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

static void check_verdict(enum sl_ctr r) { FUZZ_ASSERT((unsigned)r < SL_CTR__COUNT); }

static void opts_equal(const struct sl_tcp_opts *a, const struct sl_tcp_opts *b)
{
    FUZZ_ASSERT(a->has_mss == b->has_mss);
    FUZZ_ASSERT(a->has_wscale == b->has_wscale);
    FUZZ_ASSERT(a->sack_perm == b->sack_perm);
    FUZZ_ASSERT(a->has_ts == b->has_ts);
    FUZZ_ASSERT(a->nsack == b->nsack);
    if (a->has_mss)
        FUZZ_ASSERT(a->mss == b->mss);
    if (a->has_wscale)
        FUZZ_ASSERT(a->wscale == b->wscale);
    if (a->has_ts)
        FUZZ_ASSERT(a->tsval == b->tsval && a->tsecr == b->tsecr);
    for (unsigned i = 0; i < a->nsack; i++) {
        FUZZ_ASSERT(a->sack[i].left == b->sack[i].left);
        FUZZ_ASSERT(a->sack[i].right == b->sack[i].right);
        FUZZ_ASSERT(sl_seq_lt(a->sack[i].left, a->sack[i].right));
    }
}

static void fuzz_tcp(const uint8_t *p, size_t len, uint32_t sa, uint32_t da)
{
    for (int trusted = 0; trusted < 2; trusted++) {
        struct sl_tcp_seg s;
        enum sl_ctr r = sl_tcp_parse(p, len, sa, da, trusted, &s);
        check_verdict(r);
        if (r != SL_CTR_ok)
            continue;
        FUZZ_ASSERT(s.doff_bytes >= SL_TCP_HLEN && s.doff_bytes <= 60);
        FUZZ_ASSERT((size_t)s.doff_bytes + s.len == len);
        FUZZ_ASSERT(s.payload == p + s.doff_bytes);
        FUZZ_ASSERT(s.opts.nsack <= SL_TCP_MAX_SACK);

        /* Round trip: rebuild header + options, checksum, parse again. */
        uint8_t b[64];
        memset(b, 0xa5, sizeof b);
        size_t hl = sl_tcp_build(b, &s);
        FUZZ_ASSERT(hl == SL_TCP_HLEN + sl_tcp_opts_len(&s.opts));
        FUZZ_ASSERT(hl % 4 == 0 && hl <= 60);
        FUZZ_ASSERT(b[60] == 0xa5);
        sl_tcp_csum_finish(b, hl, sa, da);
        FUZZ_ASSERT(ref_sum(ref_sum(0, (const uint8_t[]){(uint8_t)(sa >> 24), (uint8_t)(sa >> 16),
                                                         (uint8_t)(sa >> 8), (uint8_t)sa,
                                                         (uint8_t)(da >> 24), (uint8_t)(da >> 16),
                                                         (uint8_t)(da >> 8), (uint8_t)da, 0,
                                                         SL_IPPROTO_TCP, 0, (uint8_t)hl},
                                    12),
                            b, hl) == 0xffff);
        struct sl_tcp_seg t;
        FUZZ_ASSERT(sl_tcp_parse(b, hl, sa, da, false, &t) == SL_CTR_ok);
        FUZZ_ASSERT(t.sport == s.sport && t.dport == s.dport);
        FUZZ_ASSERT(t.seq == s.seq && t.ack == s.ack);
        FUZZ_ASSERT(t.flags == s.flags && t.wnd == s.wnd && t.urp == s.urp);
        FUZZ_ASSERT(t.len == 0 && t.doff_bytes == hl);
        opts_equal(&s.opts, &t.opts);
    }
}

static void fuzz_icmp(const uint8_t *p, size_t len)
{
    for (int trusted = 0; trusted < 2; trusted++) {
        struct sl_icmp ic;
        enum sl_ctr r = sl_icmp_parse(p, len, trusted, &ic);
        check_verdict(r);
        if (r != SL_CTR_ok)
            continue;
        FUZZ_ASSERT(len >= 8 && ic.body == p + 8 && ic.body_len == len - 8);
        if (ic.mtu)
            FUZZ_ASSERT(ic.type == SL_ICMP_DEST_UNREACH && ic.code == SL_ICMP_FRAG_NEEDED);
        if (ic.inner_ok) /* the errors that quote a datagram (RFC 792) */
            FUZZ_ASSERT((ic.type == SL_ICMP_DEST_UNREACH || ic.type == SL_ICMP_TIME_EXCEEDED ||
                         ic.type == SL_ICMP_PARAM_PROBLEM) &&
                        ic.body_len >= 28);
        if (ic.type == SL_ICMP_ECHO_REQUEST && len <= sizeof scratch) {
            FUZZ_ASSERT(sl_icmp_build_echo_reply(scratch, p, len) == len);
            struct sl_icmp rep;
            FUZZ_ASSERT(sl_icmp_parse(scratch, len, false, &rep) == SL_CTR_ok);
            FUZZ_ASSERT(rep.type == SL_ICMP_ECHO_REPLY && rep.code == 0 && rep.rest == ic.rest);
            FUZZ_ASSERT(memcmp(scratch + 8, p + 8, len - 8) == 0);
        }
    }
}

static void fuzz_arp(const uint8_t *p, size_t len)
{
    struct sl_arp a, b;
    enum sl_ctr r = sl_arp_parse(p, len, &a);
    check_verdict(r);
    if (r != SL_CTR_ok)
        return;
    uint8_t w[SL_ARP_LEN];
    FUZZ_ASSERT(sl_arp_build(w, a.op, a.sha, a.spa, a.tha, a.tpa) == SL_ARP_LEN);
    FUZZ_ASSERT(memcmp(w, p, SL_ARP_LEN) == 0);
    FUZZ_ASSERT(sl_arp_parse(w, SL_ARP_LEN, &b) == SL_CTR_ok);
}

static void fuzz_ip4(const uint8_t *p, size_t len, bool deep)
{
    for (int trusted = 0; trusted < 2; trusted++) {
        struct sl_ip4 ip;
        enum sl_ctr r = sl_ip4_parse(p, len, trusted, &ip);
        check_verdict(r);
        if (r != SL_CTR_ok)
            continue;
        FUZZ_ASSERT(ip.ihl_bytes >= SL_IP_HLEN && ip.ihl_bytes <= 60);
        FUZZ_ASSERT(ip.payload == p + ip.ihl_bytes);
        FUZZ_ASSERT(ip.ihl_bytes + ip.payload_len == ip.tot_len && ip.tot_len <= len);

        /* Rebuild an option-less header; it must parse with a valid sum. */
        if (ip.payload_len + SL_IP_HLEN <= sizeof scratch) {
            FUZZ_ASSERT(sl_ip4_build(scratch, ip.src, ip.dst, ip.proto, ip.id, ip.ttl,
                                     ip.payload_len) == SL_IP_HLEN);
            memcpy(scratch + SL_IP_HLEN, ip.payload, ip.payload_len);
            struct sl_ip4 q;
            FUZZ_ASSERT(sl_ip4_parse(scratch, SL_IP_HLEN + ip.payload_len, false, &q) ==
                        SL_CTR_ok);
            FUZZ_ASSERT(q.src == ip.src && q.dst == ip.dst && q.proto == ip.proto &&
                        q.id == ip.id && q.ttl == ip.ttl && q.payload_len == ip.payload_len);
            FUZZ_ASSERT(q.df && !q.mf && q.frag_off_bytes == 0);
        }
        {
            /* source routes in the options: a return route, none, or a
             * counted refusal; what is returned builds a header that
             * parses and names the same hops (RFC 791 3.1) */
            struct sl_srcroute rr;
            int v = sl_ip4_return_route(p, ip.ihl_bytes, &rr);
            if (v < 0)
                check_verdict((enum sl_ctr)(-v));
            FUZZ_ASSERT(v == 0 || v == 1 || v == -(int)SL_CTR_drop_ip_bad_srcroute);
            if (v == 1) {
                FUZZ_ASSERT(rr.n >= 1 && rr.n <= SL_SRCROUTE_MAX &&
                            (rr.type == SL_IPOPT_LSRR || rr.type == SL_IPOPT_SSRR));
                size_t hl = sl_ip4_build_routed(scratch, ip.dst, ip.src, &rr, ip.proto, ip.id,
                                                ip.ttl, 0);
                FUZZ_ASSERT(hl == SL_IP_HLEN + sl_srcroute_optlen(&rr) && hl <= 60);
                struct sl_ip4 q;
                FUZZ_ASSERT(sl_ip4_parse(scratch, hl, false, &q) == SL_CTR_ok);
                FUZZ_ASSERT(q.dst == rr.hop[0] && q.ihl_bytes == hl);
                FUZZ_ASSERT(sl_get32(scratch + SL_IP_HLEN + 3 + 4 * (rr.n - 1)) == ip.src);
                struct sl_srcroute again;
                FUZZ_ASSERT(sl_ip4_return_route(scratch, hl, &again) == 0); /* not complete */
            }
        }
        if (!deep || trusted)
            continue; /* upper layers once per frame: trusted and untrusted inside */
        if (ip.proto == SL_IPPROTO_TCP)
            fuzz_tcp(ip.payload, ip.payload_len, ip.src, ip.dst);
        else if (ip.proto == SL_IPPROTO_ICMP)
            fuzz_icmp(ip.payload, ip.payload_len);
    }
    /* A bad header checksum would hide the upper layers: go deep with the
     * trusted parse too when the untrusted one failed. */
    struct sl_ip4 ip;
    if (deep && sl_ip4_parse(p, len, false, &ip) != SL_CTR_ok &&
        sl_ip4_parse(p, len, true, &ip) == SL_CTR_ok) {
        if (ip.proto == SL_IPPROTO_TCP)
            fuzz_tcp(ip.payload, ip.payload_len, ip.src, ip.dst);
        else if (ip.proto == SL_IPPROTO_ICMP)
            fuzz_icmp(ip.payload, ip.payload_len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Checksum: fast path vs byte-wise reference, whole and chained at an
     * even split point chosen by the data. */
    uint32_t ref = ref_sum(0, data, size);
    FUZZ_ASSERT(sl_csum_add(0, data, size) == ref);
    if (size > 2) {
        size_t cut = (data[0] % (size / 2)) * 2;
        FUZZ_ASSERT(sl_csum_add(sl_csum_add(0, data, cut), data + cut, size - cut) == ref);
    }

    struct sl_eth e;
    enum sl_ctr r = sl_eth_parse(data, size, &e);
    check_verdict(r);
    if (r == SL_CTR_ok) {
        FUZZ_ASSERT(e.payload == data + SL_ETH_HLEN && e.payload_len == size - SL_ETH_HLEN);
        uint8_t h[SL_ETH_HLEN];
        sl_eth_build(h, e.dst, e.src, e.type);
        FUZZ_ASSERT(memcmp(h, data, SL_ETH_HLEN) == 0);
        if (e.type == SL_ETH_P_ARP)
            fuzz_arp(e.payload, e.payload_len);
        else if (e.type == SL_ETH_P_IP)
            fuzz_ip4(e.payload, e.payload_len, true);
    }

    /* Raw input straight into each parser. */
    fuzz_arp(data, size);
    fuzz_ip4(data, size, false);
    fuzz_icmp(data, size);
    fuzz_tcp(data, size, 0xc6120001, 0xc6120002); /* 198.18.0.1 -> .2 */
    return 0;
}
