/* SYN cookies (RFC 4987 3.6): a stateless handshake under pressure.
 *
 * ISS layout (32 bits):  [ 24-bit MAC | 5-bit time slot | 3-bit MSS index ]
 *   MAC  = SipHash-2-4(key, 4-tuple, slot) >> 40 (libsodium crypto_shorthash)
 *   slot = (now / 64 s) mod 32; a cookie is valid in its slot and the next,
 *          so for 64 to 128 s.
 * When the SYN carried timestamps, the low 5 bits of our SYN-ACK's TSval
 * carry the negotiated options back to us in the peer's TSecr (as Linux
 * does): 4 bits of window scale (15 = none) and 1 bit of SACK-permitted.
 * Without timestamps, window scaling and SACK are not offered (RFC 7323
 * allows neither side to depend on them).
 *
 * Pure: the caller passes the clock and the key; nothing is stored. */
#include <sodium.h>

#include "tcp/tcp_int.h"

static const uint16_t cookie_mss[8] = {536, 1200, 1300, 1400, 1440, 1460, 4312, 8960};

static uint32_t cookie_mac(const uint8_t key[16], uint32_t laddr, uint16_t lport,
                           uint32_t raddr, uint16_t rport, uint32_t slot)
{
    uint8_t in[17], h[crypto_shorthash_BYTES];
    memcpy(in, &laddr, 4);
    memcpy(in + 4, &raddr, 4);
    memcpy(in + 8, &lport, 2);
    memcpy(in + 10, &rport, 2);
    memcpy(in + 12, &slot, 4);
    in[16] = 0xc5; /* domain separation from the ISN hash */
    crypto_shorthash(h, in, sizeof(in), key);
    uint64_t v;
    memcpy(&v, h, 8);
    return (uint32_t)(v >> 40); /* 24 bits */
}

static uint32_t slot_of(uint64_t now_us) { return (uint32_t)(now_us / 64000000u) & 31u; }

uint32_t sl_tcp_cookie_make(const uint8_t key[16], uint32_t laddr, uint16_t lport,
                            uint32_t raddr, uint16_t rport, uint16_t peer_mss, uint64_t now)
{
    unsigned idx = 0;
    for (unsigned i = 0; i < 8; i++) /* largest table MSS not above the peer's */
        if (cookie_mss[i] <= peer_mss)
            idx = i;
    uint32_t slot = slot_of(now);
    return cookie_mac(key, laddr, lport, raddr, rport, slot) << 8 | slot << 3 | idx;
}

int sl_tcp_cookie_check(const uint8_t key[16], uint32_t laddr, uint16_t lport, uint32_t raddr,
                        uint16_t rport, uint32_t cookie, uint64_t now, uint16_t *mss)
{
    uint32_t slot = (cookie >> 3) & 31u, cur = slot_of(now);
    if (slot != cur && slot != ((cur - 1) & 31u))
        return 0; /* expired */
    if ((cookie >> 8) != cookie_mac(key, laddr, lport, raddr, rport, slot))
        return 0;
    *mss = cookie_mss[cookie & 7u];
    return 1;
}

/* The SYN-ACK for a cookie: a throw-away TCB runs the normal passive open
 * (same options, same window), with TSval's low 5 bits encoding WS/SACK. */
void sl_tcp_cookie_synack(const struct sl_tcp_cfg *cfg, uint64_t now, uint32_t laddr,
                          uint32_t raddr, const struct sl_tcp_seg *syn, uint32_t cookie,
                          struct sl_tcp_out *out)
{
    struct sl_tcb tmp;
    struct sl_tcp_cfg c = *cfg;
    c.no_ecn = true; /* the cookie has no bit for it: never agree to ECN */
    if (!syn->opts.has_ts) {
        c.no_ws = true;
        c.no_sack = true;
    }
    uint32_t now_ms = (uint32_t)(now / 1000);
    uint32_t enc = 0;
    if (syn->opts.has_ts) {
        uint32_t ws = syn->opts.has_wscale && !c.no_ws ? (syn->opts.wscale > 14 ? 14 : syn->opts.wscale) : 15;
        enc = ws << 1 | (syn->opts.sack_perm && !c.no_sack ? 1u : 0u);
    }
    uint32_t tsval = (now_ms & ~31u) | enc;
    unsigned before = out->n;
    sl_tcp_open_passive(&tmp, &c, now, laddr, raddr, syn, cookie, tsval - now_ms, out);
    /* the throw-away TCB counted a passive open; the caller counts cookies */
    if (out->ctr)
        out->ctr[SL_CTR_tcp_passive_opens]--;
    (void)before;
}

/* Rebuilds the connection from a valid cookie ACK: a synthetic SYN carrying
 * what the cookie and the TSecr preserved goes through the normal passive
 * open, then the ACK itself through the normal input path. */
void sl_tcp_cookie_open(struct sl_tcb *t, const struct sl_tcp_cfg *cfg, uint64_t now,
                        uint32_t laddr, uint32_t raddr, const struct sl_tcp_seg *ack,
                        uint16_t mss, const struct sl_tcp_bufs *b, struct sl_tcp_out *out)
{
    struct sl_tcp_seg syn;
    memset(&syn, 0, sizeof(syn));
    syn.sport = ack->sport;
    syn.dport = ack->dport;
    syn.seq = ack->seq - 1;
    syn.flags = SL_TCP_SYN;
    syn.wnd = ack->wnd;
    syn.opts.has_mss = 1;
    syn.opts.mss = mss;
    struct sl_tcp_cfg c = *cfg;
    c.no_ecn = true; /* the SYN-ACK offered none */
    uint32_t now_ms = (uint32_t)(now / 1000);
    if (ack->opts.has_ts) {
        uint32_t enc = ack->opts.tsecr & 31u, ws = enc >> 1;
        syn.opts.has_ts = 1;
        syn.opts.tsval = ack->opts.tsval;
        if (ws <= 14) {
            syn.opts.has_wscale = 1;
            syn.opts.wscale = (uint8_t)ws;
        }
        syn.opts.sack_perm = enc & 1u;
    } else {
        c.no_ws = true;
        c.no_sack = true;
        c.no_ts = true;
    }
    /* TSval continues from the TSecr the peer echoed */
    uint32_t ts_offset = ack->opts.has_ts ? ack->opts.tsecr - now_ms : 0;
    unsigned n0 = out->n;
    sl_tcp_open_passive(t, &c, now, laddr, raddr, &syn, ack->ack - 1, ts_offset, out);
    out->n = n0; /* the SYN-ACK went out long ago, statelessly */
    t->flags &= ~(uint32_t)SL_TF_RTT_VALID; /* no RTT sample from a cookie */
    sl_tcp_input(t, b, now, ack, out);
}
