/* The fleet secret (src/fleet/fleet_key.c): stacks created with the same
 * store key derive the same ISN key, SYN-cookie key and record MAC key, so
 * a handshake started on one instance can finish on another: the same SYN
 * gets the same ISN from either, and a SYN cookie sent by one is accepted
 * by the other (which never sent a cookie itself). A stack with another key
 * refuses it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fleet/fleet_key.h"
#include "io/io.h"
#include "stack/stack.h"
#include "wire/wire.h"

#define ME 0xc6120002u   /* 198.18.0.2 */
#define PEER 0xc6120001u /* 198.18.0.1 */

static uint64_t vnow = 5000000000ull;
static uint64_t vclock(void *arg)
{
    (void)arg;
    return vnow;
}

struct env {
    struct sl_io *a, *b;
    sl_stack *s;
    sl_listener *l;
};

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, zero6[6];

static void tx(struct env *e, const uint8_t *f, size_t n)
{
    size_t alen = n < 60 ? 60 : n;
    uint8_t *p = e->b->ops->tx_alloc(e->b, (uint32_t)alen);
    CHECK(p != NULL);
    if (!p)
        return;
    memset(p, 0, alen);
    memcpy(p, f, n);
    e->b->ops->tx_commit(e->b, (uint32_t)alen, NULL);
    e->b->ops->tx_flush(e->b);
}

/* Runs the stack; returns the SYN-ACK's or RST's segment if one was sent. */
static int step(struct env *e, struct sl_tcp_seg *got)
{
    sl_run(e->s, 0);
    struct sl_frame fr[16];
    int n, found = 0;
    static uint8_t keep[2048];
    while ((n = e->b->ops->rx_burst(e->b, fr, 16)) > 0) {
        for (int i = 0; i < n; i++) {
            struct sl_eth eth;
            struct sl_ip4 ip;
            if (sl_eth_parse(fr[i].data, fr[i].len, &eth) != SL_CTR_ok ||
                eth.type != SL_ETH_P_IP ||
                sl_ip4_parse(eth.payload, eth.payload_len, false, &ip) != SL_CTR_ok ||
                ip.proto != SL_IPPROTO_TCP || ip.payload_len > sizeof(keep))
                continue;
            memcpy(keep, ip.payload, ip.payload_len);
            if (got && sl_tcp_parse(keep, ip.payload_len, ip.src, ip.dst, false, got) == SL_CTR_ok)
                found = 1;
        }
        e->b->ops->rx_release(e->b);
    }
    return found;
}

static void peer_tcp(struct env *e, uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack)
{
    uint8_t f[128];
    struct sl_tcp_seg s;
    memset(&s, 0, sizeof(s));
    s.sport = sport;
    s.dport = 80;
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    s.wnd = 65535;
    if (flags & SL_TCP_SYN) {
        s.opts.has_mss = 1;
        s.opts.mss = 1460;
    }
    size_t n = sl_eth_build(f, e->a->mac, e->b->mac, SL_ETH_P_IP);
    size_t hl = sl_tcp_build(f + n + SL_IP_HLEN, &s);
    sl_tcp_csum_finish(f + n + SL_IP_HLEN, hl, PEER, ME);
    n += sl_ip4_build(f + n, PEER, ME, SL_IPPROTO_TCP, 1, 64, hl);
    tx(e, f, n + hl);
}

static void env_init(struct env *e, const uint8_t *store_key)
{
    memset(e, 0, sizeof(*e));
    CHECK(sl_io_mem_pair(1500, 64, &e->a, &e->b) == 0);
    struct sl_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.addr = ME;
    cfg.prefix_len = 24;
    cfg.store = "mem:";
    cfg.store_key = store_key;
    char err[128];
    CHECK(sl_stack_create_io(&cfg, e->a, vclock, NULL, &e->s, err, sizeof(err)) == 0);
    struct sl_listen_opts lo = {.backlog = 1}; /* the second SYN gets a cookie */
    CHECK(sl_listen(e->s, 80, &lo, NULL, NULL, &e->l) == 0);
    uint8_t f[64];
    size_t n = sl_eth_build(f, bcast, e->b->mac, SL_ETH_P_ARP);
    n += sl_arp_build(f + n, SL_ARP_REQUEST, e->b->mac, PEER, zero6, ME);
    tx(e, f, n);
    step(e, NULL);
}

static void env_free(struct env *e)
{
    sl_stack_destroy(e->s);
    e->b->ops->destroy(e->b);
}

int main(void)
{
    uint8_t key[32], other[32];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(i * 7 + 1);
        other[i] = (uint8_t)(i * 7 + 2);
    }
    struct sl_fleet_keys k1, k2;
    sl_fleet_keys_derive(key, &k1);
    sl_fleet_keys_derive(key, &k2);
    CHECK(memcmp(&k1, &k2, sizeof(k1)) == 0);
    CHECK(memcmp(k1.isn, k1.cookie, 16) != 0 && memcmp(k1.record_mac, key, 32) != 0);

    struct env a, b, c;
    env_init(&a, key);
    env_init(&b, key);
    env_init(&c, other);
    CHECK(a.s->fleet_keyed && memcmp(a.s->isn_key, k1.isn, 16) == 0);
    CHECK(memcmp(a.s->cookie_key, k1.cookie, 16) == 0);

    /* The same SYN, at the same time, gets the same ISN from A and B, and
     * another from C. */
    struct sl_tcp_seg sa, sb, sc;
    peer_tcp(&a, 40000, SL_TCP_SYN, 1000, 0);
    peer_tcp(&b, 40000, SL_TCP_SYN, 1000, 0);
    peer_tcp(&c, 40000, SL_TCP_SYN, 1000, 0);
    CHECK(step(&a, &sa) && step(&b, &sb) && step(&c, &sc));
    CHECK(sa.flags == (SL_TCP_SYN | SL_TCP_ACK) && sa.seq == sb.seq);
    CHECK(sa.seq != sc.seq);
    printf("ISN of the same SYN: A %u, B %u, other key %u\n", sa.seq, sb.seq, sc.seq);

    /* A's backlog is full: the next SYN gets a cookie. Its ACK goes to B
     * (a steering change in between): B completes the handshake. */
    vnow += 1000;
    peer_tcp(&a, 40001, SL_TCP_SYN, 7000, 0);
    struct sl_tcp_seg ck;
    CHECK(step(&a, &ck) && ck.flags == (SL_TCP_SYN | SL_TCP_ACK));
    CHECK(sl_stats_value(a.s, SL_CTR_tcp_syncookies_sent) == 1);
    vnow += 2000;
    sl_conn *conn = NULL;
    peer_tcp(&b, 40001, SL_TCP_ACK, 7001, ck.seq + 1);
    step(&b, NULL);
    CHECK(sl_stats_value(b.s, SL_CTR_tcp_syncookies_ok) == 1);
    CHECK(sl_accept(b.l, &conn) == 0 && conn != NULL);
    /* C, with another key, does not. */
    peer_tcp(&c, 40001, SL_TCP_ACK, 7001, ck.seq + 1);
    struct sl_tcp_seg rst;
    CHECK(step(&c, &rst) && (rst.flags & SL_TCP_RST));
    CHECK(sl_stats_value(c.s, SL_CTR_tcp_syncookies_ok) == 0);
    CHECK(sl_stats_value(c.s, SL_CTR_drop_tcp_syncookie_bad) == 1);
    printf("cookie from A: accepted by B (same key) %llu, by C (other key) %llu\n",
           (unsigned long long)sl_stats_value(b.s, SL_CTR_tcp_syncookies_ok),
           (unsigned long long)sl_stats_value(c.s, SL_CTR_tcp_syncookies_ok));
    env_free(&a);
    env_free(&b);
    env_free(&c);

    printf("test_fleet_key: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
