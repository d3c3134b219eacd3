/* Wire layer: parse and build Ethernet, ARP, IPv4, ICMP and TCP.
 *
 * Pure: no I/O, no allocation, no global state. Parsers take a byte range
 * and return 0 (SL_CTR_ok) when the packet is acceptable, otherwise the
 * `enum sl_ctr` drop reason the caller must count. Parsed views point into
 * the caller's buffer. Builders write into a caller-provided buffer and
 * return the number of bytes written. All multi-byte fields in the parsed
 * structs are in host byte order; IPv4 addresses are host-order uint32_t.
 */
#ifndef SL_WIRE_H
#define SL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "common/ctr.h"

#define SL_ETH_HLEN 14
#define SL_ETH_P_IP 0x0800
#define SL_ETH_P_ARP 0x0806
#define SL_IP_HLEN 20
#define SL_TCP_HLEN 20
#define SL_IPPROTO_ICMP 1
#define SL_IPPROTO_TCP 6

/* ---- checksums (RFC 1071) ---- */
/* One's-complement sum of a byte range, folded, not inverted; `acc` lets
 * callers chain ranges. */
uint32_t sl_csum_add(uint32_t acc, const void *data, size_t len);
uint16_t sl_csum_fold(uint32_t acc); /* fold + invert -> value for header */
/* Pseudo-header sum for TCP/UDP over IPv4 (RFC 9293 3.1). */
uint32_t sl_csum_pseudo(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t len);

/* ---- Ethernet ---- */
struct sl_eth {
    uint8_t dst[6], src[6];
    uint16_t type;
    const uint8_t *payload;
    size_t payload_len;
};
enum sl_ctr sl_eth_parse(const uint8_t *p, size_t len, struct sl_eth *out);
size_t sl_eth_build(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], uint16_t type);

/* ---- ARP (RFC 826), Ethernet/IPv4 only ---- */
#define SL_ARP_LEN 28
#define SL_ARP_REQUEST 1
#define SL_ARP_REPLY 2
struct sl_arp {
    uint16_t op;
    uint8_t sha[6], tha[6];
    uint32_t spa, tpa;
};
enum sl_ctr sl_arp_parse(const uint8_t *p, size_t len, struct sl_arp *out);
/* Writes the 28-byte ARP body (no Ethernet header). */
size_t sl_arp_build(uint8_t *p, uint16_t op, const uint8_t sha[6], uint32_t spa,
                    const uint8_t tha[6], uint32_t tpa);

/* ---- IPv4 (RFC 791) ---- */
/* The ECN field, the low two bits of the TOS byte (RFC 3168 5). */
#define SL_IP_ECN_MASK 0x03
#define SL_IP_ECN_NOT_ECT 0x00
#define SL_IP_ECN_ECT1 0x01
#define SL_IP_ECN_ECT0 0x02
#define SL_IP_ECN_CE 0x03

struct sl_ip4 {
    uint8_t ihl_bytes; /* header length incl. options */
    uint8_t tos, ttl, proto;
    uint16_t tot_len, id;
    bool df, mf;
    uint16_t frag_off_bytes; /* fragment offset in bytes */
    uint32_t src, dst;
    const uint8_t *payload; /* after options */
    size_t payload_len;     /* tot_len - ihl (trailing padding ignored) */
};
/* Verifies version, header length, total length and (unless csum_trusted)
 * the header checksum. Options are skipped. Fragments are parsed (the
 * caller decides to count and drop them). */
enum sl_ctr sl_ip4_parse(const uint8_t *p, size_t len, bool csum_trusted, struct sl_ip4 *out);
/* Writes a 20-byte header with checksum; payload_len excludes the header. */
size_t sl_ip4_build(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto, uint16_t id,
                    uint8_t ttl, size_t payload_len);

/* Source routes (RFC 791 3.1 LSRR/SSRR, RFC 1122 3.2.1.8, RFC 9293
 * 3.9.2.1). A route to a final destination D through hops H1..Hn: the
 * datagram goes to H1 and carries [H2 .. Hn, D] in the option. */
#define SL_IPOPT_LSRR 131
#define SL_IPOPT_SSRR 137
#define SL_SRCROUTE_MAX 8 /* hops: with D, 9 addresses fill the 40 option bytes */
struct sl_srcroute {
    uint8_t type; /* SL_IPOPT_LSRR or SL_IPOPT_SSRR; 0 = none */
    uint8_t n;    /* hops, 1..SL_SRCROUTE_MAX */
    uint32_t hop[SL_SRCROUTE_MAX];
};
/* Option bytes (padded to 4) a route adds to the IPv4 header. */
size_t sl_srcroute_optlen(const struct sl_srcroute *r);
/* The return route of a received datagram (RFC 1122 3.2.1.8 c): if its
 * header holds a completed source route option (we are its final
 * destination), the recorded addresses in reverse order, to be used with
 * the datagram's source as the final destination. Returns 1 and *ret, 0
 * if there is none, or minus the drop counter of a malformed option. */
int sl_ip4_return_route(const uint8_t *hdr, size_t ihl, struct sl_srcroute *ret);
/* Like sl_ip4_build, with the route's option: the header goes to hop[0]
 * and is 20 + sl_srcroute_optlen(r) bytes. Returns the header length. */
size_t sl_ip4_build_routed(uint8_t *p, uint32_t src, uint32_t final_dst,
                           const struct sl_srcroute *r, uint8_t proto, uint16_t id, uint8_t ttl,
                           size_t payload_len);

/* ---- ICMP (RFC 792) ---- */
#define SL_ICMP_ECHO_REPLY 0
#define SL_ICMP_DEST_UNREACH 3
#define SL_ICMP_ECHO_REQUEST 8
#define SL_ICMP_FRAG_NEEDED 4 /* code under DEST_UNREACH */
#define SL_ICMP_TIME_EXCEEDED 11
#define SL_ICMP_PARAM_PROBLEM 12
struct sl_icmp {
    uint8_t type, code;
    uint16_t mtu; /* next-hop MTU for frag-needed (RFC 1191), else 0 */
    uint32_t rest; /* bytes 4..7 of the header (id/seq for echo) */
    const uint8_t *body; /* after the 8-byte header */
    size_t body_len;
    /* For DEST_UNREACH, TIME_EXCEEDED and PARAM_PROBLEM: the quoted original
     * IPv4 header + first 8 bytes of TCP, if long enough (RFC 792).
     * inner_ok is false otherwise. */
    bool inner_ok;
    uint32_t inner_src, inner_dst;
    uint8_t inner_proto;
    uint16_t inner_sport, inner_dport;
    uint32_t inner_seq;
};
enum sl_ctr sl_icmp_parse(const uint8_t *p, size_t len, bool csum_trusted, struct sl_icmp *out);
/* Builds an echo reply from a request's bytes (type 8 -> 0, checksum fixed);
 * `req` is the whole ICMP message. Returns its length. */
size_t sl_icmp_build_echo_reply(uint8_t *p, const uint8_t *req, size_t req_len);

/* ---- TCP (RFC 9293 3.1, RFC 7323, RFC 2018) ---- */
#define SL_TCP_FIN 0x01
#define SL_TCP_SYN 0x02
#define SL_TCP_RST 0x04
#define SL_TCP_PSH 0x08
#define SL_TCP_ACK 0x10
#define SL_TCP_URG 0x20
#define SL_TCP_ECE 0x40
#define SL_TCP_CWR 0x80

#define SL_TCP_MAX_SACK 4
struct sl_sack_block {
    uint32_t left, right;
};
struct sl_tcp_opts {
    uint8_t has_mss : 1, has_wscale : 1, sack_perm : 1, has_ts : 1;
    uint8_t wscale;  /* as received; caller clamps to 14 (RFC 7323 2.3) */
    uint8_t nsack;   /* number of SACK blocks */
    uint16_t mss;
    uint32_t tsval, tsecr;
    struct sl_sack_block sack[SL_TCP_MAX_SACK];
};
struct sl_tcp_seg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint8_t doff_bytes;
    uint16_t wnd; /* raw, unscaled */
    uint16_t urp;
    struct sl_tcp_opts opts;
    const uint8_t *payload;
    uint32_t len; /* payload length */
    uint8_t ecn;  /* the carrying IP header's ECN field (SL_IP_ECN_*); the
                     caller of sl_tcp_parse fills it in */
};
/* Parses a TCP segment of `len` bytes (header + payload). Verifies the
 * checksum against the pseudo header unless csum_trusted. Rejects data
 * offsets < 5 or beyond the segment, and options whose length overruns the
 * header or is < 2 (drop_tcp_opt_malformed). Unknown options are skipped.
 * SACK blocks with left >= right (seq arithmetic) are not reported. */
enum sl_ctr sl_tcp_parse(const uint8_t *p, size_t len, uint32_t saddr, uint32_t daddr,
                         bool csum_trusted, struct sl_tcp_seg *out);
/* Length in bytes (multiple of 4) of the options `o` will encode to. */
size_t sl_tcp_opts_len(const struct sl_tcp_opts *o);
/* Writes header + options (no payload). Checksum field is left 0: the
 * caller fills it with sl_tcp_csum_finish or offloads it. Returns the
 * header length. Order: MSS, SACK-perm, TS, WS, SACK blocks (NOP padded). */
size_t sl_tcp_build(uint8_t *p, const struct sl_tcp_seg *s);
/* Computes and stores the checksum of the TCP segment at p (header+payload
 * of tcp_len bytes). */
void sl_tcp_csum_finish(uint8_t *p, size_t tcp_len, uint32_t saddr, uint32_t daddr);

/* ---- sequence-number arithmetic (RFC 9293 3.4) ---- */
static inline bool sl_seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool sl_seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool sl_seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool sl_seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline uint32_t sl_seq_max(uint32_t a, uint32_t b) { return sl_seq_gt(a, b) ? a : b; }
static inline uint32_t sl_seq_min(uint32_t a, uint32_t b) { return sl_seq_lt(a, b) ? a : b; }

#endif
