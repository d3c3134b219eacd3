/* RFC 9293 MUST requirements that need the whole stack: the API, the IP
 * layer and ICMP. One sltcp stack on one end of the in-memory link, on a
 * virtual clock; the other end is a scripted peer that writes Ethernet
 * frames byte by byte (src/wire builders) and parses every frame the stack
 * sends (checksums verified). One test per MUST id of
 * docs/rfc9293-must.md; the engine-level ones are in test_tcp_must.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "stack/stack.h"
#include "tcp_harness.h"

#define ME 0xc6120101u    /* 198.18.1.1/24, the stack */
#define PEER 0xc6120102u  /* 198.18.1.2, on link */
#define GW 0xc61201feu    /* 198.18.1.254 */
#define FAR 0xcb007109u   /* 203.0.113.9, behind GW */
#define SUBNET_BCAST 0xc61201ffu
#define PISS 7000000u     /* the peer's ISS */

static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero_mac[6] = {0};

static uint64_t vnow = 1000 * TH_SEC;
static uint64_t vclock(void *arg)
{
    (void)arg;
    return vnow;
}

/* An environment: stack on end a, scripted peer on end b. */
struct env {
    struct sl_io *a, *b;
    sl_stack *s;
    uint16_t ip_id;
};

/* One frame the stack sent, parsed. seg.payload points into data[]. */
struct cap {
    bool arp, ip, tcp, icmp;
    uint8_t eth_dst[6];
    struct sl_ip4 ip4; /* payload pointer not valid */
    uint8_t ipopt[40]; /* IPv4 options as sent */
    uint8_t ipopt_len;
    uint32_t final_dst; /* the last address of a source route, else ip4.dst */
    struct sl_tcp_seg seg;
    uint8_t data[9200];
};
static struct cap caps[96];
static unsigned ncaps;

static struct sl_config base_cfg(void)
{
    struct sl_config c;
    memset(&c, 0, sizeof(c));
    c.addr = ME;
    c.prefix_len = 24;
    return c;
}

static void peer_arp_request(struct env *e, uint32_t spa)
{
    uint8_t *p = e->b->ops->tx_alloc(e->b, 60);
    CHECK(p != NULL);
    if (!p)
        return;
    size_t n = sl_eth_build(p, bcast_mac, e->b->mac, SL_ETH_P_ARP);
    n += sl_arp_build(p + n, SL_ARP_REQUEST, e->b->mac, spa, zero_mac, ME);
    memset(p + n, 0, 60 - n);
    e->b->ops->tx_commit(e->b, 60, NULL);
    e->b->ops->tx_flush(e->b);
}

/* Runs the stack once and parses what it sent; returns the number of TCP
 * frames. */
static unsigned step(struct env *e)
{
    sl_run(e->s, 0);
    ncaps = 0;
    struct sl_frame fr[64];
    int n;
    while ((n = e->b->ops->rx_burst(e->b, fr, 64)) > 0) {
        for (int i = 0; i < n && ncaps < sizeof(caps) / sizeof(caps[0]); i++) {
            struct cap *c = &caps[ncaps++];
            memset(c, 0, offsetof(struct cap, data));
            struct sl_eth eth;
            if (sl_eth_parse(fr[i].data, fr[i].len, &eth) != SL_CTR_ok) {
                CHECK(!"the stack sent an unparsable frame");
                continue;
            }
            memcpy(c->eth_dst, eth.dst, 6);
            if (eth.type == SL_ETH_P_ARP) {
                c->arp = true;
                continue;
            }
            CHECK_EQ(eth.type, SL_ETH_P_IP);
            if (sl_ip4_parse(eth.payload, eth.payload_len, false, &c->ip4) != SL_CTR_ok) {
                CHECK(!"the stack sent a bad IPv4 header");
                continue;
            }
            c->ip = true;
            c->ipopt_len = (uint8_t)(c->ip4.ihl_bytes - SL_IP_HLEN);
            memcpy(c->ipopt, eth.payload + SL_IP_HLEN, c->ipopt_len);
            c->final_dst = c->ip4.dst;
            if (c->ipopt_len >= 7 && (c->ipopt[0] == SL_IPOPT_LSRR || c->ipopt[0] == SL_IPOPT_SSRR))
                c->final_dst = sl_get32(c->ipopt + c->ipopt[1] - 4); /* RFC 9293 3.1 */
            if (c->ip4.proto == SL_IPPROTO_ICMP) {
                c->icmp = true;
                continue;
            }
            CHECK_EQ(c->ip4.proto, SL_IPPROTO_TCP);
            CHECK(c->ip4.payload_len <= sizeof(c->data));
            memcpy(c->data, c->ip4.payload, c->ip4.payload_len);
            /* checksums verified: what goes on the wire must be right */
            enum sl_ctr r = sl_tcp_parse(c->data, c->ip4.payload_len, c->ip4.src, c->final_dst,
                                         false, &c->seg);
            CHECK_EQ(r, SL_CTR_ok);
            c->tcp = r == SL_CTR_ok;
        }
        e->b->ops->rx_release(e->b);
    }
    unsigned t = 0;
    for (unsigned i = 0; i < ncaps; i++)
        t += caps[i].tcp;
    return t;
}

static void env_init(struct env *e, const struct sl_config *cfg, uint32_t mtu)
{
    memset(e, 0, sizeof(*e));
    CHECK_EQ(sl_io_mem_pair(mtu, 256, &e->a, &e->b), 0);
    char err[128];
    CHECK_EQ(sl_stack_create_io(cfg, e->a, vclock, NULL, &e->s, err, sizeof(err)), 0);
    e->ip_id = 1;
    /* The peer (and the gateway, if any) introduce themselves by ARP. */
    peer_arp_request(e, PEER);
    step(e);
    if (cfg->gateway) {
        peer_arp_request(e, cfg->gateway);
        step(e);
    }
}

static void env_free(struct env *e)
{
    sl_stack_destroy(e->s);
    e->b->ops->destroy(e->b);
}

/* An IPv4 datagram from the peer's end, in an Ethernet frame to dmac. */
static const uint8_t *g_peer_ipopt; /* IPv4 options of the next datagram (multiple of 4) */
static size_t g_peer_ipopt_len;
static void peer_ip(struct env *e, const uint8_t dmac[6], uint32_t src, uint32_t dst,
                    uint8_t proto, const uint8_t *l4, size_t l4len, uint16_t frag)
{
    size_t ol = g_peer_ipopt_len;
    size_t flen = SL_ETH_HLEN + SL_IP_HLEN + ol + l4len, alen = flen < 60 ? 60 : flen;
    uint8_t *p = e->b->ops->tx_alloc(e->b, (uint32_t)alen);
    CHECK(p != NULL);
    if (!p)
        return;
    sl_eth_build(p, dmac, e->b->mac, SL_ETH_P_IP);
    uint8_t *ip = p + SL_ETH_HLEN;
    sl_ip4_build(ip, src, dst, proto, e->ip_id++, 64, ol + l4len);
    if (ol) {
        ip[0] = (uint8_t)(0x40 | ((SL_IP_HLEN + ol) / 4));
        memcpy(ip + SL_IP_HLEN, g_peer_ipopt, ol);
    }
    if (frag) /* flags / fragment offset field */
        sl_put16(ip + 6, frag);
    sl_put16(ip + 10, 0);
    sl_put16(ip + 10, sl_csum_fold(sl_csum_add(0, ip, SL_IP_HLEN + ol)));
    memcpy(ip + SL_IP_HLEN + ol, l4, l4len);
    memset(p + flen, 0, alen - flen);
    CHECK_EQ(e->b->ops->tx_commit(e->b, (uint32_t)alen, NULL), 0);
    e->b->ops->tx_flush(e->b);
}

/* A TCP segment from src:sport to dst:dport, window 65535, payload bytes
 * (i & 0xff); SYNs carry MSS 1460 and window scale 0, no other option. */
static uint16_t g_peer_urp; /* urgent pointer of the next segment the peer sends */
static void peer_tcp_ex(struct env *e, const uint8_t dmac[6], uint32_t src, uint32_t dst,
                        uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
                        uint32_t ack, uint32_t len, uint16_t frag)
{
    static uint8_t buf[9200];
    struct sl_tcp_seg s;
    memset(&s, 0, sizeof(s));
    s.urp = g_peer_urp;
    s.sport = sport;
    s.dport = dport;
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    s.wnd = 65535;
    if (flags & SL_TCP_SYN) {
        s.opts.has_mss = 1;
        s.opts.mss = 1460;
        s.opts.has_wscale = 1; /* shift 0: our window fields unscaled */
    }
    size_t hl = sl_tcp_build(buf, &s);
    for (uint32_t i = 0; i < len; i++)
        buf[hl + i] = (uint8_t)i;
    sl_tcp_csum_finish(buf, hl + len, src, dst);
    peer_ip(e, dmac, src, dst, SL_IPPROTO_TCP, buf, hl + len, frag);
}

static void peer_tcp(struct env *e, uint32_t src, uint16_t sport, uint16_t dport, uint8_t flags,
                     uint32_t seq, uint32_t ack, uint32_t len)
{
    peer_tcp_ex(e, e->a->mac, src, ME, sport, dport, flags, seq, ack, len, 0);
}

/* ICMP error of type/code from `src` quoting our segment sport->dport
 * with sequence number seq (RFC 792: IP header + 8 bytes). */
static void peer_icmp_error(struct env *e, uint32_t src, uint8_t type, uint8_t code,
                            uint16_t sport, uint32_t dst, uint16_t dport, uint32_t seq)
{
    uint8_t m[8 + 20 + 8];
    memset(m, 0, sizeof(m));
    m[0] = type;
    m[1] = code;
    sl_ip4_build(m + 8, ME, dst, SL_IPPROTO_TCP, 1234, 63, 40);
    sl_put16(m + 28, sport);
    sl_put16(m + 30, dport);
    sl_put32(m + 32, seq);
    sl_put16(m + 2, sl_csum_fold(sl_csum_add(0, m, sizeof(m))));
    peer_ip(e, e->a->mac, src, ME, SL_IPPROTO_ICMP, m, sizeof(m), 0);
}

/* The scripted peer's view of one connection. */
struct pc {
    uint32_t raddr;   /* the peer's address */
    uint16_t pport;   /* the peer's port */
    uint16_t lport;   /* the stack's port */
    uint32_t snd_nxt; /* peer's next sequence number */
    uint32_t rcv_nxt; /* next sequence number the peer expects from us */
    sl_conn *c;
};

/* The first captured TCP frame of connection p, or NULL. */
static const struct cap *cap_of(const struct pc *p)
{
    for (unsigned i = 0; i < ncaps; i++)
        if (caps[i].tcp && caps[i].seg.sport == p->lport && caps[i].seg.dport == p->pport &&
            caps[i].ip4.dst == p->raddr)
            return &caps[i];
    return NULL;
}

/* The last captured SYN to port dport, or NULL. */
static const struct cap *cap_of_dport(uint16_t dport)
{
    const struct cap *syn = NULL;
    for (unsigned i = 0; i < ncaps; i++)
        if (caps[i].tcp && caps[i].seg.dport == dport && (caps[i].seg.flags & SL_TCP_SYN))
            syn = &caps[i];
    return syn;
}

static unsigned caps_of(const struct pc *p)
{
    unsigned n = 0;
    for (unsigned i = 0; i < ncaps; i++)
        n += caps[i].tcp && caps[i].seg.sport == p->lport && caps[i].seg.dport == p->pport &&
             caps[i].ip4.dst == p->raddr;
    return n;
}

/* sl_connect to PEER:dport, the peer answers with a SYN-ACK (MSS 1460,
 * WS 0). Returns true when ESTABLISHED and the ACK went out. */
static bool open_active(struct env *e, uint16_t dport, struct pc *p)
{
    memset(p, 0, sizeof(*p));
    p->raddr = PEER;
    p->pport = dport;
    if (sl_connect(e->s, PEER, dport, &p->c) != 0)
        return false;
    step(e);
    const struct cap *syn = cap_of_dport(dport);
    CHECK(syn != NULL);
    if (!syn)
        return false;
    p->lport = syn->seg.sport;
    p->rcv_nxt = syn->seg.seq + 1;
    p->snd_nxt = PISS + 1;
    peer_tcp(e, PEER, dport, p->lport, SL_TCP_SYN | SL_TCP_ACK, PISS, p->rcv_nxt, 0);
    step(e);
    const struct cap *a = cap_of(p);
    CHECK(a != NULL && a->seg.flags == SL_TCP_ACK && a->seg.ack == p->snd_nxt);
    return a && p->c->tcb.state == SL_TCP_ESTABLISHED;
}

/* sl_connect to PEER:dport, and the peer's own SYN crosses ours
 * (simultaneous open, RFC 9293 3.5 figure 8): the connection is in
 * SYN-RECEIVED (active) and has sent its SYN-ACK. */
static bool simultaneous_syn(struct env *e, uint16_t dport, struct pc *p)
{
    memset(p, 0, sizeof(*p));
    p->raddr = PEER;
    p->pport = dport;
    if (sl_connect(e->s, PEER, dport, &p->c) != 0)
        return false;
    step(e);
    const struct cap *syn = cap_of_dport(dport);
    CHECK(syn && syn->seg.flags == SL_TCP_SYN);
    if (!syn)
        return false;
    p->lport = syn->seg.sport;
    p->rcv_nxt = syn->seg.seq + 1;
    p->snd_nxt = PISS + 1;
    peer_tcp(e, PEER, dport, p->lport, SL_TCP_SYN, PISS, 0, 0);
    step(e);
    const struct cap *sa = cap_of(p);
    CHECK(sa && sa->seg.flags == (SL_TCP_SYN | SL_TCP_ACK) && sa->seg.ack == PISS + 1);
    return sa && p->c->tcb.state == SL_TCP_SYN_RCVD;
}

/* A SYN from raddr:pport to lport: the stack answers with a SYN-ACK, the
 * peer ACKs it (unless !complete); the connection is accepted from l. */
static bool open_passive(struct env *e, sl_listener *l, uint32_t raddr, uint16_t pport,
                         uint16_t lport, struct pc *p, bool complete)
{
    memset(p, 0, sizeof(*p));
    p->raddr = raddr;
    p->pport = pport;
    p->lport = lport;
    peer_tcp(e, raddr, pport, lport, SL_TCP_SYN, PISS, 0, 0);
    step(e);
    const struct cap *sa = cap_of(p);
    CHECK(sa != NULL && sa->seg.flags == (SL_TCP_SYN | SL_TCP_ACK) && sa->seg.ack == PISS + 1);
    if (!sa)
        return false;
    p->rcv_nxt = sa->seg.seq + 1;
    p->snd_nxt = PISS + 1;
    if (!complete)
        return true;
    peer_tcp(e, raddr, pport, lport, SL_TCP_ACK, p->snd_nxt, p->rcv_nxt, 0);
    step(e);
    int r = sl_accept(l, &p->c);
    CHECK_EQ(r, 0);
    return r == 0 && p->c->tcb.state == SL_TCP_ESTABLISHED;
}

/* The peer sends n bytes on p and ACKs what it has from us. */
static void peer_send(struct env *e, struct pc *p, uint32_t n)
{
    peer_tcp(e, p->raddr, p->pport, p->lport, SL_TCP_ACK | SL_TCP_PSH, p->snd_nxt, p->rcv_nxt, n);
    p->snd_nxt += n;
}

/* Data flows both ways on p: the peer sends 100 bytes, the application
 * reads them, writes 200, and the peer receives them (then ACKs). */
static bool exchange(struct env *e, struct pc *p)
{
    peer_send(e, p, 100);
    step(e);
    uint8_t buf[512];
    ssize_t r = sl_read(p->c, buf, sizeof(buf));
    CHECK_EQ(r, 100);
    memset(buf, 0x5a, 200);
    CHECK_EQ(sl_write(p->c, buf, 200), 200);
    step(e);
    uint32_t got = 0;
    for (unsigned i = 0; i < ncaps; i++)
        if (caps[i].tcp && caps[i].seg.sport == p->lport && caps[i].seg.dport == p->pport &&
            caps[i].seg.seq == p->rcv_nxt)
            got += caps[i].seg.len;
    CHECK_EQ(got, 200);
    p->rcv_nxt += got;
    peer_tcp(e, p->raddr, p->pport, p->lport, SL_TCP_ACK, p->snd_nxt, p->rcv_nxt, 0);
    step(e);
    return r == 100 && got == 200;
}

static uint64_t ctr(const struct env *e, enum sl_ctr c) { return sl_stats_value(e->s, c); }

/* ------------------------------------------------------------------ */

/* RFC 9293 3.4.1 (MUST-8): "A TCP implementation MUST use the above type of
 * 'clock' for clock-driven selection of initial sequence numbers." The
 * stack draws every ISN, active and passive, from sl_tcp_isn at its
 * current clock: with a known key the SYN and the SYN-ACK carry exactly
 * M + F, and a new incarnation of the same 4-tuple 1 s + 8 us later starts
 * 250002 higher (one per 4 us). The clock arithmetic itself is
 * test_tcp_must.c:test_must_8_isn_clock. */
static void test_must_8_isn_clock_on_the_wire(void)
{
    static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    struct sl_config cfg = base_cfg();
    cfg.isn_key = key;
    struct env e;
    vnow = 5000 * TH_SEC + 12344;
    env_init(&e, &cfg, 1500);

    vnow += 777;
    sl_conn *c;
    CHECK_EQ(sl_connect(e.s, PEER, 80, &c), 0);
    step(&e);
    const struct cap *syn = caps[0].tcp ? &caps[0] : NULL;
    CHECK(syn && syn->seg.flags == SL_TCP_SYN);
    if (syn)
        CHECK_EQ(syn->seg.seq, sl_tcp_isn(key, ME, syn->seg.sport, PEER, 80, vnow));

    sl_listener *l;
    CHECK_EQ(sl_listen(e.s, 80, NULL, NULL, NULL, &l), 0);
    vnow += TH_SEC;
    struct pc p;
    CHECK(open_passive(&e, l, PEER, 40000, 80, &p, false));
    uint32_t iss1 = p.rcv_nxt - 1;
    CHECK_EQ(iss1, sl_tcp_isn(key, ME, 80, PEER, 40000, vnow));
    /* The peer resets the half-open connection; the same 4-tuple opens
     * again 1 s + 8 us later. */
    peer_tcp(&e, PEER, 40000, 80, SL_TCP_RST, PISS + 1, 0, 0);
    step(&e);
    CHECK_EQ(sl_conn_count(e.s), 1); /* only the active one is left */
    vnow += TH_SEC + 8;
    CHECK(open_passive(&e, l, PEER, 40000, 80, &p, false));
    CHECK_EQ(p.rcv_nxt - 1 - iss1, 250002);
    env_free(&e);
}

/* RFC 9293 3.4.1 (MUST-9): "F() MUST NOT be computable from the outside."
 * F is keyed with a secret: unless the application supplies one, every
 * stack draws its own at random (src/api/api.c:sl_stack_create_io). Two
 * stacks with the same configuration, at the same time, answering the same
 * SYN (same 4-tuple) choose different ISNs; with the same explicit key they
 * choose the same one, so the key is the only difference. */
static uint32_t synack_iss(const struct sl_config *cfg)
{
    struct env e;
    vnow = 9000 * TH_SEC;
    env_init(&e, cfg, 1500);
    sl_listener *l;
    CHECK_EQ(sl_listen(e.s, 80, NULL, NULL, NULL, &l), 0);
    struct pc p;
    vnow = 9001 * TH_SEC;
    CHECK(open_passive(&e, l, PEER, 40000, 80, &p, false));
    env_free(&e);
    return p.rcv_nxt - 1;
}

static void test_must_9_isn_secret_per_stack(void)
{
    struct sl_config cfg = base_cfg();
    uint32_t a = synack_iss(&cfg), b = synack_iss(&cfg), c = synack_iss(&cfg);
    CHECK(a != b && b != c && a != c);
    static const uint8_t zero[16];
    CHECK(a != sl_tcp_isn(zero, ME, 80, PEER, 40000, 9001 * TH_SEC));
    static const uint8_t key[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
    cfg.isn_key = key;
    CHECK_EQ(synack_iss(&cfg), synack_iss(&cfg));
}

/* ------------------------------------------------------------------ */

/* A keep-alive probe of p among the captured frames: <SEQ=SND.NXT-1>
 * <ACK=RCV.NXT><CTL=ACK>, no data (RFC 9293 3.8.4). */
static bool probe_of(const struct pc *p)
{
    const struct cap *k = cap_of(p);
    return caps_of(p) == 1 && k->seg.flags == SL_TCP_ACK && k->seg.len == 0 &&
           k->seg.seq == p->rcv_nxt - 1 && k->seg.ack == p->snd_nxt;
}

/* Advances the virtual clock by `us` in steps of at most `stepus`, running
 * the stack at each; returns the number of TCP frames sent. */
static unsigned idle(struct env *e, uint64_t us, uint64_t stepus)
{
    unsigned n = 0;
    for (uint64_t t = 0; t < us;) {
        uint64_t d = us - t < stepus ? us - t : stepus;
        vnow += d;
        t += d;
        n += step(e);
    }
    return n;
}

/* RFC 9293 3.8.4 (MUST-24): "if keep-alives are included, the application
 * MUST be able to turn them on or off for each TCP connection." Two
 * connections; SL_OPT_KEEPALIVE on for the first only: it alone probes,
 * on time; turned off again, nothing more for hours, traffic or not;
 * turned on for the second, the second alone probes (at the 7200 s
 * default idle time). */
static void test_must_24_keepalive_on_off_per_connection(void)
{
    struct sl_config cfg = base_cfg();
    struct env e;
    env_init(&e, &cfg, 1500);
    struct pc p1, p2;
    CHECK(open_active(&e, 80, &p1));
    CHECK(open_active(&e, 81, &p2));
    CHECK_EQ(sl_conn_setopt(p1.c, SL_OPT_KEEPIDLE, 20), 0);
    CHECK_EQ(sl_conn_setopt(p1.c, SL_OPT_KEEPALIVE, 1), 0);
    CHECK_EQ(idle(&e, 20 * TH_SEC - 1, TH_SEC), 0);
    vnow += 1;
    CHECK_EQ(step(&e), 1);
    CHECK(probe_of(&p1));
    /* answered: the next one 20 s after the answer */
    peer_tcp(&e, PEER, 80, p1.lport, SL_TCP_ACK, p1.snd_nxt, p1.rcv_nxt, 0);
    CHECK_EQ(step(&e), 0);
    CHECK_EQ(idle(&e, 20 * TH_SEC - 1, TH_SEC), 0);
    vnow += 1;
    CHECK_EQ(step(&e), 1);
    CHECK(probe_of(&p1));
    peer_tcp(&e, PEER, 80, p1.lport, SL_TCP_ACK, p1.snd_nxt, p1.rcv_nxt, 0);
    step(&e);

    /* off again: silence on both connections, also after traffic */
    CHECK_EQ(sl_conn_setopt(p1.c, SL_OPT_KEEPALIVE, 0), 0);
    CHECK_EQ(idle(&e, 3600 * TH_SEC, 60 * TH_SEC), 0);
    CHECK(exchange(&e, &p1));
    vnow += 200 * TH_MS; /* past the delayed ACK */
    step(&e);
    CHECK_EQ(idle(&e, 3 * 3600 * TH_SEC, 60 * TH_SEC), 0);
    CHECK_EQ(p1.c->tcb.state, SL_TCP_ESTABLISHED);

    /* on for the second connection only */
    CHECK_EQ(sl_conn_setopt(p2.c, SL_OPT_KEEPALIVE, 1), 0);
    CHECK_EQ(idle(&e, 7200 * TH_SEC - 1, 60 * TH_SEC), 0);
    vnow += 1;
    CHECK_EQ(step(&e), 1);
    CHECK(probe_of(&p2));
    CHECK_EQ(caps_of(&p1), 0);
    env_free(&e);
}

/* RFC 9293 3.8.4 (MUST-25): keep-alives "MUST default to off." A new
 * connection, active or accepted, idles for three hours without sending
 * anything. */
static void test_must_25_keepalive_default_off_api(void)
{
    struct sl_config cfg = base_cfg();
    struct env e;
    env_init(&e, &cfg, 1500);
    struct pc p1, p2;
    CHECK(open_active(&e, 80, &p1));
    sl_listener *l;
    CHECK_EQ(sl_listen(e.s, 8080, NULL, NULL, NULL, &l), 0);
    CHECK(open_passive(&e, l, PEER, 40000, 8080, &p2, true));
    CHECK(exchange(&e, &p1));
    CHECK(exchange(&e, &p2));
    vnow += 200 * TH_MS; /* past any delayed ACK */
    step(&e);
    CHECK_EQ(idle(&e, 3 * 3600 * TH_SEC, 60 * TH_SEC), 0);
    CHECK_EQ(p1.c->tcb.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(p2.c->tcb.state, SL_TCP_ESTABLISHED);
    env_free(&e);
}

/* RFC 9293 3.8.4 (MUST-27): keep-alives are sent "only ... within an
 * interval ... This interval MUST be configurable". SL_OPT_KEEPIDLE sets it
 * per connection: 30 s on one (set before turning keep-alive on), 100 s on
 * another (set while on: re-armed from that moment); changing it to 45 s
 * moves the next probe of the first. Each probe comes exactly on time. */
static void test_must_27_keepalive_interval_configurable(void)
{
    struct sl_config cfg = base_cfg();
    struct env e;
    env_init(&e, &cfg, 1500);
    struct pc p1, p2;
    CHECK(open_active(&e, 80, &p1));
    CHECK(open_active(&e, 81, &p2));
    CHECK_EQ(sl_conn_setopt(p1.c, SL_OPT_KEEPIDLE, 30), 0);
    CHECK_EQ(sl_conn_setopt(p1.c, SL_OPT_KEEPALIVE, 1), 0);
    CHECK_EQ(sl_conn_setopt(p2.c, SL_OPT_KEEPALIVE, 1), 0);
    CHECK_EQ(sl_conn_setopt(p2.c, SL_OPT_KEEPIDLE, 100), 0);

    CHECK_EQ(idle(&e, 30 * TH_SEC - 1, TH_SEC), 0);
    vnow += 1; /* t = 30 s */
    CHECK_EQ(step(&e), 1);
    CHECK(probe_of(&p1));
    peer_tcp(&e, PEER, 80, p1.lport, SL_TCP_ACK, p1.snd_nxt, p1.rcv_nxt, 0);
    CHECK_EQ(step(&e), 0);
    CHECK_EQ(sl_conn_setopt(p1.c, SL_OPT_KEEPIDLE, 45), 0);

    CHECK_EQ(idle(&e, 45 * TH_SEC - 1, TH_SEC), 0);
    vnow += 1; /* t = 75 s */
    CHECK_EQ(step(&e), 1);
    CHECK(probe_of(&p1));
    CHECK_EQ(idle(&e, 25 * TH_SEC - 1, TH_SEC), 0);
    vnow += 1; /* t = 100 s */
    CHECK_EQ(step(&e), 1);
    CHECK(probe_of(&p2));
    env_free(&e);
}

/* ------------------------------------------------------------------ */

/* RFC 9293 3.9.1.1 (MUST-41): "Every passive OPEN call either creates a new
 * connection record in LISTEN state, or it returns an error; it MUST NOT
 * affect any previously created connection record." Existing records: a
 * listener on 80 with an accepted connection, one waiting in its accept
 * queue and one half-open, and an active connection from port P. Then
 * sl_listen on 80 (in use: error; sltcp's choice between the two
 * outcomes), on P (the active connection's port: a new listener), on the
 * port of a connection in SYN-RECEIVED after a simultaneous open (a new
 * listener) and on new ports until the table is full (error). Every
 * connection's control block is byte-identical afterwards and each still
 * works (the SYN-RECEIVED one completes its handshake); the old listener
 * still gets the new SYNs for 80. */
static void test_must_41_passive_open_no_side_effect(void)
{
    struct sl_config cfg = base_cfg();
    struct env e;
    env_init(&e, &cfg, 1500);
    sl_listener *l80;
    CHECK_EQ(sl_listen(e.s, 80, NULL, NULL, NULL, &l80), 0);
    struct pc acc, queued, half, act, so;
    CHECK(open_passive(&e, l80, PEER, 40000, 80, &acc, true));
    CHECK(open_passive(&e, l80, PEER, 40001, 80, &queued, false));
    peer_tcp(&e, PEER, 40001, 80, SL_TCP_ACK, queued.snd_nxt, queued.rcv_nxt, 0);
    step(&e); /* established, not accepted */
    CHECK(open_passive(&e, l80, PEER, 40002, 80, &half, false));
    CHECK(open_active(&e, 8080, &act));
    CHECK(simultaneous_syn(&e, 9090, &so)); /* SYN-RECEIVED, active */
    CHECK_EQ(sl_conn_count(e.s), 5);

    /* Every connection record, as it is now. */
    const struct pc *all[5] = {&acc, &queued, &half, &act, &so};
    struct sl_conn *rec[5];
    struct sl_tcb before[5];
    for (int i = 0; i < 5; i++) {
        rec[i] = sl_table_find(e.s, all[i]->raddr, all[i]->pport, all[i]->lport);
        CHECK(rec[i] != NULL);
        if (rec[i])
            before[i] = rec[i]->tcb;
    }

    sl_listener *l, *lp = NULL, *lso = NULL;
    int r = sl_listen(e.s, 80, NULL, NULL, NULL, &l);
    CHECK(r == -EADDRINUSE);
    CHECK_EQ(sl_listen(e.s, act.lport, NULL, NULL, NULL, &lp), 0);
    CHECK_EQ(sl_listen(e.s, so.lport, NULL, NULL, NULL, &lso), 0);
    int added = 0;
    for (uint16_t port = 1000; port < 1100; port++) {
        r = sl_listen(e.s, port, NULL, NULL, NULL, &l);
        if (r < 0)
            break;
        added++;
    }
    CHECK(r == -ENOSPC);
    CHECK(added > 0);
    CHECK_EQ(sl_conn_count(e.s), 5);
    for (int i = 0; i < 5; i++)
        CHECK(rec[i] && sl_table_find(e.s, all[i]->raddr, all[i]->pport, all[i]->lport) == rec[i] &&
              memcmp(&before[i], &rec[i]->tcb, sizeof(before[i])) == 0);
    CHECK_EQ(step(&e), 0); /* nothing sent because of a LISTEN */

    /* Everything still works. */
    CHECK(exchange(&e, &acc));
    CHECK(exchange(&e, &act));
    CHECK_EQ(sl_accept(l80, &queued.c), 0); /* the queued one */
    CHECK(queued.c && queued.c->tcb.state == SL_TCP_ESTABLISHED);
    if (queued.c)
        CHECK(exchange(&e, &queued));
    peer_tcp(&e, PEER, 40002, 80, SL_TCP_ACK, half.snd_nxt, half.rcv_nxt, 0);
    step(&e);
    CHECK_EQ(sl_accept(l80, &half.c), 0); /* the half-open one completed */
    peer_tcp(&e, PEER, 9090, so.lport, SL_TCP_ACK, so.snd_nxt, so.rcv_nxt, 0);
    step(&e);
    CHECK_EQ(so.c->tcb.state, SL_TCP_ESTABLISHED); /* so did the simultaneous open */
    CHECK(exchange(&e, &so));
    struct pc fresh;
    CHECK(open_passive(&e, l80, PEER, 40003, 80, &fresh, true)); /* the old listener */
    sl_conn *none;
    if (lp) /* the new listeners took nothing from the connections */
        CHECK_EQ(sl_accept(lp, &none), -EAGAIN);
    if (lso)
        CHECK_EQ(sl_accept(lso, &none), -EAGAIN);
    env_free(&e);
}

/* RFC 9293 3.9.1.1 (MUST-42): "A TCP implementation MUST provide an OPEN
 * call that will functionally allow an application to LISTEN on a port
 * while a connection block with the same local port is in SYN-SENT or
 * SYN-RECEIVED state."
 * SYN-SENT: sl_listen on the local port of an active open still waiting
 * for its SYN-ACK succeeds; the SYN-ACK still completes the active open
 * (not taken by the listener) and the listener accepts other peers.
 * SYN-RECEIVED: the same for an active open in SYN-RECEIVED after a
 * simultaneous open; a listener keeps listening while its own connections
 * are half-open (a second SYN is answered while the first is in
 * SYN-RECEIVED: the LISTEN does not turn into the connection as in the
 * RFC 793 model); and after the listener is closed a new LISTEN on the
 * same port succeeds while a half-open connection on that port exists. */
static void test_must_42_listen_while_synsent_synrcvd(void)
{
    struct sl_config cfg = base_cfg();
    struct env e;
    env_init(&e, &cfg, 1500);

    sl_conn *c;
    CHECK_EQ(sl_connect(e.s, PEER, 8080, &c), 0);
    step(&e);
    const struct cap *syn = caps[0].tcp ? &caps[0] : NULL;
    CHECK(syn && syn->seg.flags == SL_TCP_SYN);
    if (!syn) {
        env_free(&e);
        return;
    }
    struct pc act = {.raddr = PEER, .pport = 8080, .lport = syn->seg.sport,
                     .snd_nxt = PISS + 1, .rcv_nxt = syn->seg.seq + 1, .c = c};
    CHECK_EQ(c->tcb.state, SL_TCP_SYN_SENT);
    sl_listener *lp;
    int r = sl_listen(e.s, act.lport, NULL, NULL, NULL, &lp);
    CHECK_EQ(r, 0);
    if (r) {
        env_free(&e);
        return;
    }
    peer_tcp(&e, PEER, 8080, act.lport, SL_TCP_SYN | SL_TCP_ACK, PISS, act.rcv_nxt, 0);
    step(&e);
    CHECK_EQ(c->tcb.state, SL_TCP_ESTABLISHED);
    const struct cap *a = cap_of(&act);
    CHECK(a && a->seg.flags == SL_TCP_ACK && a->seg.ack == PISS + 1);
    sl_conn *none;
    CHECK_EQ(sl_accept(lp, &none), -EAGAIN);
    struct pc other;
    CHECK(open_passive(&e, lp, PEER, 40010, act.lport, &other, true));
    CHECK(exchange(&e, &act));
    CHECK(exchange(&e, &other));

    /* SYN-RECEIVED after a simultaneous open: the same. */
    struct pc so, other2;
    CHECK(simultaneous_syn(&e, 9090, &so));
    sl_listener *lso;
    r = sl_listen(e.s, so.lport, NULL, NULL, NULL, &lso);
    CHECK_EQ(r, 0);
    if (r) {
        env_free(&e);
        return;
    }
    CHECK_EQ(so.c->tcb.state, SL_TCP_SYN_RCVD);
    peer_tcp(&e, PEER, 9090, so.lport, SL_TCP_ACK, so.snd_nxt, so.rcv_nxt, 0);
    step(&e);
    CHECK_EQ(so.c->tcb.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(sl_accept(lso, &none), -EAGAIN);
    CHECK(open_passive(&e, lso, PEER, 40011, so.lport, &other2, true));
    CHECK(exchange(&e, &so));
    CHECK(exchange(&e, &other2));

    sl_listener *l80;
    CHECK_EQ(sl_listen(e.s, 80, NULL, NULL, NULL, &l80), 0);
    struct pc h1, h2;
    CHECK(open_passive(&e, l80, PEER, 40000, 80, &h1, false));
    CHECK(open_passive(&e, l80, PEER, 40001, 80, &h2, false)); /* h1 in SYN-RECEIVED */
    peer_tcp(&e, PEER, 40001, 80, SL_TCP_ACK, h2.snd_nxt, h2.rcv_nxt, 0);
    peer_tcp(&e, PEER, 40000, 80, SL_TCP_ACK, h1.snd_nxt, h1.rcv_nxt, 0);
    step(&e);
    CHECK_EQ(sl_accept(l80, &h2.c), 0);
    CHECK_EQ(sl_accept(l80, &h1.c), 0);
    CHECK(h1.c && exchange(&e, &h1));

    struct pc h3, h4;
    CHECK(open_passive(&e, l80, PEER, 40002, 80, &h3, false));
    sl_listener_close(l80);
    r = sl_listen(e.s, 80, NULL, NULL, NULL, &l80); /* h3 is SYN-RECEIVED */
    CHECK_EQ(r, 0);
    if (r) {
        env_free(&e);
        return;
    }
    CHECK(open_passive(&e, l80, PEER, 40003, 80, &h4, true));
    CHECK(h4.c && exchange(&e, &h4));
    env_free(&e);
}

/* RFC 9293 3.9.1.1 (MUST-45): "At all other times, a previous segment has
 * either been sent or received on this connection, and TCP MUST use the
 * same local address that was used in those previous segments." With one
 * address this holds by construction; the test pins it: every segment of
 * an active and of a passive connection, over its whole life (SYN or
 * SYN-ACK, ACKs, data, a retransmission, a keep-alive probe, FIN, the
 * TIME-WAIT ACK, a RST from sl_abort), leaves from the address the first
 * segment used (ours, the destination of the peer's SYN) to the peer, from
 * the same port. */
/* Frames of p in the last step, or -1 if one of them did not come from
 * laddr and p's port. */
static int sent_from(const struct pc *p, uint32_t laddr)
{
    int n = 0;
    for (unsigned i = 0; i < ncaps; i++) {
        if (!caps[i].tcp || caps[i].ip4.dst != p->raddr || caps[i].seg.dport != p->pport)
            continue;
        if (caps[i].ip4.src != laddr || caps[i].seg.sport != p->lport)
            return -1;
        n++;
    }
    return n;
}

static void test_must_45_same_local_address(void)
{
    struct sl_config cfg = base_cfg();
    struct env e;
    env_init(&e, &cfg, 1500);
    struct pc act, pas;
    CHECK(open_active(&e, 8080, &act));
    CHECK_EQ(sent_from(&act, ME), 1); /* the handshake ACK */
    sl_listener *l;
    CHECK_EQ(sl_listen(e.s, 80, NULL, NULL, NULL, &l), 0);
    peer_tcp(&e, PEER, 40000, 80, SL_TCP_SYN, PISS, 0, 0);
    step(&e);
    pas.raddr = PEER;
    pas.pport = 40000;
    pas.lport = 80;
    CHECK_EQ(sent_from(&pas, ME), 1); /* SYN-ACK from the SYN's destination */
    const struct cap *sa = cap_of(&pas);
    CHECK(sa != NULL);
    if (!sa) {
        env_free(&e);
        return;
    }
    pas.snd_nxt = PISS + 1;
    pas.rcv_nxt = sa->seg.seq + 1;
    peer_tcp(&e, PEER, 40000, 80, SL_TCP_ACK, pas.snd_nxt, pas.rcv_nxt, 0);
    step(&e);
    CHECK_EQ(sl_accept(l, &pas.c), 0);

    struct pc *ps[2] = {&act, &pas};
    for (int k = 0; k < 2; k++) {
        struct pc *p = ps[k];
        /* data both ways, delayed ACK */
        peer_send(&e, p, 300);
        step(&e);
        CHECK(sent_from(p, ME) >= 0);
        vnow += 200 * TH_MS;
        step(&e);
        CHECK_EQ(sent_from(p, ME), 1); /* delayed ACK */
        uint8_t buf[512];
        CHECK_EQ(sl_read(p->c, buf, sizeof(buf)), 300);
        memset(buf, 1, 100);
        CHECK_EQ(sl_write(p->c, buf, 100), 100);
        step(&e);
        CHECK_EQ(sent_from(p, ME), 1); /* data */
        vnow += 3 * TH_SEC;
        step(&e);
        CHECK_EQ(sent_from(p, ME), 1); /* unacknowledged: retransmitted */
        p->rcv_nxt += 100;
        peer_tcp(&e, PEER, p->pport, p->lport, SL_TCP_ACK, p->snd_nxt, p->rcv_nxt, 0);
        step(&e);
        CHECK_EQ(sl_conn_setopt(p->c, SL_OPT_KEEPIDLE, 5), 0);
        CHECK_EQ(sl_conn_setopt(p->c, SL_OPT_KEEPALIVE, 1), 0);
        vnow += 5 * TH_SEC; /* keep-alive probe */
        step(&e);
        CHECK(probe_of(p));
        CHECK_EQ(sent_from(p, ME), 1);
    }
    /* The active side closes: FIN, then TIME-WAIT's ACK of the peer's FIN. */
    CHECK_EQ(sl_shutdown(act.c, SHUT_WR), 0);
    step(&e);
    CHECK_EQ(sent_from(&act, ME), 1); /* FIN */
    act.rcv_nxt++;
    peer_tcp(&e, PEER, act.pport, act.lport, SL_TCP_ACK | SL_TCP_FIN, act.snd_nxt, act.rcv_nxt, 0);
    step(&e);
    CHECK_EQ(sent_from(&act, ME), 1); /* ACK of the peer's FIN */
    CHECK_EQ(act.c->tcb.state, SL_TCP_TIME_WAIT);
    /* The passive side is aborted: RST. */
    CHECK_EQ(sl_abort(pas.c), 0);
    step(&e);
    CHECK_EQ(sent_from(&pas, ME), 1); /* RST */
    env_free(&e);
}

/* ------------------------------------------------------------------ */

/* RFC 9293 3.9.2.2 (MUST-55): "TCP implementations MUST silently discard
 * any received ICMP Source Quench messages." An established connection
 * with data in flight, and a connection in SYN-SENT, each get a Source
 * Quench quoting one of their segments: nothing is sent in reply, the
 * control blocks (cwnd, ssthresh, timers, state) are byte-identical, the
 * message is only counted; then the transfer goes on. */
static void test_must_55_source_quench_ignored(void)
{
    struct sl_config cfg = base_cfg();
    cfg.gateway = GW;
    struct env e;
    env_init(&e, &cfg, 1500);
    struct pc p;
    CHECK(open_active(&e, 80, &p));
    static uint8_t buf[20000];
    CHECK_EQ(sl_write(p.c, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    CHECK(step(&e) >= 2); /* the initial window is in flight */
    sl_conn *syn_sent;
    CHECK_EQ(sl_connect(e.s, PEER, 81, &syn_sent), 0);
    step(&e);
    uint16_t sport2 = caps[0].seg.sport;
    uint32_t iss2 = caps[0].seg.seq;
    struct sl_tcb t1 = p.c->tcb, t2 = syn_sent->tcb;
    uint64_t dropped = ctr(&e, SL_CTR_drop_icmp_type);

    peer_icmp_error(&e, GW, 4, 0, p.lport, PEER, 80, p.rcv_nxt);
    peer_icmp_error(&e, PEER, 4, 0, sport2, PEER, 81, iss2);
    sl_run(e.s, 0);
    CHECK_EQ(step(&e), 0);
    CHECK_EQ(ncaps, 0); /* silently: no ICMP, no TCP, nothing */
    CHECK(memcmp(&t1, &p.c->tcb, sizeof(t1)) == 0);
    CHECK(memcmp(&t2, &syn_sent->tcb, sizeof(t2)) == 0);
    CHECK_EQ(ctr(&e, SL_CTR_drop_icmp_type) - dropped, 2);

    /* The window is ACKed: slow start goes on from the same cwnd. */
    uint32_t cwnd = p.c->tcb.cwnd, flight = p.c->tcb.snd_nxt - p.c->tcb.snd_una;
    p.rcv_nxt += flight;
    peer_tcp(&e, PEER, 80, p.lport, SL_TCP_ACK, p.snd_nxt, p.rcv_nxt, 0);
    step(&e);
    CHECK_EQ(p.c->tcb.cwnd, cwnd + flight);
    env_free(&e);
}

/* RFC 9293 3.9.2.2 (MUST-56): Destination Unreachable codes 0, 1, 5, Time
 * Exceeded and Parameter Problem are soft errors: "a TCP implementation
 * MUST NOT abort the connection". Each of them, quoting a segment of an
 * established connection and the SYN of a connection in SYN-SENT, leaves
 * both alive: no error, no SL_EV_ERROR, state unchanged; afterwards the
 * first exchanges data and the second completes its handshake. */
static unsigned ev56[2];
static void cb56(sl_conn *c, unsigned ev, void *user)
{
    (void)c;
    *(unsigned *)user |= ev;
}

static void test_must_56_soft_icmp_no_abort(void)
{
    struct sl_config cfg = base_cfg();
    cfg.gateway = GW;
    struct env e;
    env_init(&e, &cfg, 1500);
    struct pc p;
    CHECK(open_active(&e, 80, &p));
    ev56[0] = ev56[1] = 0;
    sl_conn_set_cb(p.c, cb56, &ev56[0]);
    sl_conn *c2;
    CHECK_EQ(sl_connect(e.s, PEER, 81, &c2), 0);
    sl_conn_set_cb(c2, cb56, &ev56[1]);
    step(&e);
    struct pc q = {.raddr = PEER, .pport = 81, .lport = caps[0].seg.sport,
                   .snd_nxt = PISS + 1, .rcv_nxt = caps[0].seg.seq + 1, .c = c2};
    CHECK_EQ(c2->tcb.state, SL_TCP_SYN_SENT);

    static const uint8_t tc[][2] = {{3, 0}, {3, 1}, {3, 5}, {11, 0}, {11, 1}, {12, 0}, {12, 2}};
    for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
        peer_icmp_error(&e, GW, tc[i][0], tc[i][1], p.lport, PEER, 80, p.rcv_nxt);
        peer_icmp_error(&e, GW, tc[i][0], tc[i][1], q.lport, PEER, 81, q.rcv_nxt - 1);
        step(&e);
        CHECK_EQ(p.c->tcb.state, SL_TCP_ESTABLISHED);
        CHECK_EQ(c2->tcb.state, SL_TCP_SYN_SENT);
    }
    CHECK_EQ(sl_conn_error(p.c), 0);
    CHECK_EQ(sl_conn_error(c2), 0);
    CHECK_EQ(ev56[0] & SL_EV_ERROR, 0);
    CHECK_EQ(ev56[1] & SL_EV_ERROR, 0);
    CHECK(exchange(&e, &p));
    peer_tcp(&e, PEER, 81, q.lport, SL_TCP_SYN | SL_TCP_ACK, PISS, q.rcv_nxt, 0);
    step(&e);
    CHECK_EQ(c2->tcb.state, SL_TCP_ESTABLISHED);
    CHECK(ev56[1] & SL_EV_CONNECTED);
    CHECK(exchange(&e, &q));
    env_free(&e);
}

/* RFC 9293 3.9.1.8 (MUST-47) and 3.9.2.2 (MUST-54, SHLD-25): ICMP errors
 * go to the connection that caused them and are reported to the
 * application as soft errors. With 200 bytes in flight on an established
 * connection: a host unreachable quoting SND.UNA raises SL_EV_SOFTERR and
 * sl_conn_soft_error() says -EHOSTUNREACH (then 0: it is cleared); a time
 * exceeded says -EHOSTDOWN; one quoting a sequence number outside the
 * flight (RFC 5927 4.1) is counted and ignored; the connection stays
 * ESTABLISHED and carries data afterwards. A connection in SYN-SENT hears
 * of an error quoting its ISS the same way. */
static unsigned ev47;
static void cb47(sl_conn *c, unsigned ev, void *user)
{
    (void)c;
    *(unsigned *)user |= ev;
}

static void test_must_47_54_soft_errors_reported(void)
{
    struct sl_config cfg = base_cfg();
    cfg.gateway = GW;
    struct env e;
    env_init(&e, &cfg, 1500);
    struct pc p;
    CHECK(open_active(&e, 80, &p));
    ev47 = 0;
    sl_conn_set_cb(p.c, cb47, &ev47);
    uint8_t buf[200];
    memset(buf, 1, sizeof(buf));
    CHECK_EQ(sl_write(p.c, buf, sizeof(buf)), 200);
    step(&e); /* 200 bytes in flight, not acknowledged */
    ev47 = 0;
    peer_icmp_error(&e, GW, 3, 1, p.lport, PEER, 80, p.rcv_nxt);
    step(&e);
    CHECK(ev47 & SL_EV_SOFTERR);
    CHECK_EQ(sl_conn_soft_error(p.c), -EHOSTUNREACH);
    CHECK_EQ(sl_conn_soft_error(p.c), 0);
    CHECK_EQ(ctr(&e, SL_CTR_icmp_soft_error), 1);
    ev47 = 0;
    peer_icmp_error(&e, GW, 11, 0, p.lport, PEER, 80, p.rcv_nxt + 100);
    step(&e);
    CHECK(ev47 & SL_EV_SOFTERR);
    CHECK_EQ(sl_conn_soft_error(p.c), -EHOSTDOWN);
    ev47 = 0;
    peer_icmp_error(&e, GW, 3, 1, p.lport, PEER, 80, p.rcv_nxt + 5000); /* not in flight */
    step(&e);
    CHECK_EQ(ev47 & SL_EV_SOFTERR, 0);
    CHECK_EQ(ctr(&e, SL_CTR_drop_icmp_err_bad_seq), 1);
    CHECK_EQ(sl_conn_soft_error(p.c), 0);
    CHECK_EQ(p.c->tcb.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(sl_conn_error(p.c), 0);
    p.rcv_nxt += 200;
    peer_tcp(&e, PEER, 80, p.lport, SL_TCP_ACK, p.snd_nxt, p.rcv_nxt, 0);
    step(&e);
    CHECK(exchange(&e, &p));
    /* SYN-SENT: the error quotes the ISS */
    sl_conn *c2;
    unsigned ev2 = 0;
    CHECK_EQ(sl_connect(e.s, PEER, 81, &c2), 0);
    sl_conn_set_cb(c2, cb47, &ev2);
    step(&e);
    const struct cap *syn = cap_of_dport(81);
    CHECK(syn != NULL);
    if (syn) {
        peer_icmp_error(&e, GW, 3, 3, syn->seg.sport, PEER, 81, syn->seg.seq);
        step(&e);
        CHECK(ev2 & SL_EV_SOFTERR);
        CHECK_EQ(sl_conn_soft_error(c2), -ECONNREFUSED);
        CHECK_EQ(c2->tcb.state, SL_TCP_SYN_SENT);
    }
    env_free(&e);
}

/* RFC 9293 3.8.3 (MUST-20, and MUST-22 for SYNs): at R1 retransmissions
 * the IP layer gets negative advice and the application is told; at R2
 * the connection is closed. Data in flight and no answer: after the third
 * retransmission (R1 = 3) the stack forgets the next hop's neighbour entry
 * and sends an ARP request before the next segment, counts tcp_r1_advice,
 * and raises SL_EV_SOFTERR with -ETIMEDOUT; the connection lives on until
 * R2. A SYN that is never answered gets the same advice. */
static void test_must_20_22_r1_negative_advice(void)
{
    struct sl_config cfg = base_cfg();
    struct env e;
    env_init(&e, &cfg, 1500);
    struct pc p;
    CHECK(open_active(&e, 80, &p));
    unsigned ev = 0;
    sl_conn_set_cb(p.c, cb47, &ev);
    uint8_t buf[100] = {0};
    CHECK_EQ(sl_write(p.c, buf, sizeof(buf)), 100);
    step(&e);
    ev = 0;
    int arp_seen = 0;
    for (int i = 0; i < 400 && !(ev & SL_EV_SOFTERR); i++) {
        vnow += 50 * 1000;
        step(&e);
        for (unsigned k = 0; k < ncaps; k++)
            arp_seen |= caps[k].arp;
    }
    CHECK(ev & SL_EV_SOFTERR);
    CHECK_EQ(p.c->tcb.backoff, SL_TCP_R1);
    CHECK_EQ(sl_conn_soft_error(p.c), -ETIMEDOUT);
    CHECK_EQ(ctr(&e, SL_CTR_tcp_r1_advice), 1);
    /* the neighbour is resolved again before the next retransmission */
    for (int i = 0; i < 200 && !arp_seen; i++) {
        vnow += 50 * 1000;
        step(&e);
        for (unsigned k = 0; k < ncaps; k++)
            arp_seen |= caps[k].arp;
    }
    CHECK(arp_seen);
    CHECK_EQ(p.c->tcb.state, SL_TCP_ESTABLISHED);
    CHECK_EQ(sl_conn_error(p.c), 0);
    /* SYNs (MUST-22) */
    sl_conn *c2;
    unsigned ev2 = 0;
    CHECK_EQ(sl_connect(e.s, PEER, 81, &c2), 0);
    sl_conn_set_cb(c2, cb47, &ev2);
    for (int i = 0; i < 400 && !(ev2 & SL_EV_SOFTERR); i++) {
        vnow += 100 * 1000;
        step(&e);
    }
    CHECK(ev2 & SL_EV_SOFTERR);
    CHECK_EQ(sl_conn_soft_error(c2), -ETIMEDOUT);
    CHECK_EQ(c2->tcb.state, SL_TCP_SYN_SENT);
    CHECK_EQ(ctr(&e, SL_CTR_tcp_r1_advice), 2);
    env_free(&e);
}

/* RFC 9293 3.8.5 (MUST-30..33) through the API and on the wire (the
 * engine side is test_tcp_must.c:test_must_30_urgent): the peer's segment
 * with URG and SEG.UP = 40 raises SL_EV_URGENT, the data is read inline
 * and sl_conn_urgent() counts the urgent bytes still unread (40, then 10,
 * then 0); sl_write_urgent() sends a frame with URG and the pointer to the
 * octet after the urgent data. */
static void test_must_30_33_urgent_api(void)
{
    struct sl_config cfg = base_cfg();
    struct env e;
    env_init(&e, &cfg, 1500);
    struct pc p;
    CHECK(open_active(&e, 80, &p));
    unsigned ev = 0;
    sl_conn_set_cb(p.c, cb47, &ev);
    g_peer_urp = 40;
    peer_tcp(&e, PEER, 80, p.lport, SL_TCP_ACK | SL_TCP_PSH | SL_TCP_URG, p.snd_nxt, p.rcv_nxt,
             100);
    g_peer_urp = 0;
    p.snd_nxt += 100;
    step(&e);
    CHECK(ev & SL_EV_URGENT);
    CHECK_EQ(sl_conn_urgent(p.c), 40);
    uint8_t buf[100];
    CHECK_EQ(sl_read(p.c, buf, 30), 30);
    CHECK_EQ(sl_conn_urgent(p.c), 10);
    CHECK_EQ(sl_read(p.c, buf, 70), 70);
    CHECK_EQ(sl_conn_urgent(p.c), 0);
    memset(buf, 7, 50);
    CHECK_EQ(sl_write_urgent(p.c, buf, 50), 50);
    step(&e);
    const struct cap *k = cap_of(&p);
    CHECK(k != NULL);
    if (k) {
        CHECK(k->seg.flags & SL_TCP_URG);
        CHECK_EQ(k->seg.urp, 50);
        CHECK_EQ(k->seg.len, 50);
    }
    env_free(&e);
}

/* RFC 9293 3.9.2.1 (MUST-51, 52, 53): source routes.
 * MUST-53: a SYN arrives with a completed loose source route that recorded
 * the gateway: the SYN-ACK, and every later segment of that connection,
 * goes back through it (IP destination = the gateway, LSRR option naming
 * the peer, TCP checksum over the final destination, the MSS reduced by
 * the option); a RST for a routed segment goes back the same way.
 * MUST-51: sl_connect_route() sends the SYN through the application's
 * route. MUST-52: the peer's SYN-ACK carries a different route; the
 * application's stays in use. */
static const uint8_t *route_opt_of(const struct cap *k, uint8_t type)
{
    return k->ipopt_len >= 7 && k->ipopt[0] == type ? k->ipopt : NULL;
}

static void test_must_51_53_source_route(void)
{
    struct sl_config cfg = base_cfg();
    cfg.gateway = GW;
    struct env e;
    env_init(&e, &cfg, 1500);
    sl_listener *l;
    CHECK_EQ(sl_listen(e.s, 80, NULL, NULL, NULL, &l), 0);
    /* the peer's SYN, source-routed through GW (recorded, completed) */
    static const uint8_t via_gw[8] = {SL_IPOPT_LSRR, 7, 8, 0xc6, 0x12, 0x01, 0xfe, 0};
    g_peer_ipopt = via_gw;
    g_peer_ipopt_len = 8;
    peer_tcp(&e, PEER, 40001, 80, SL_TCP_SYN, PISS, 0, 0);
    g_peer_ipopt_len = 0;
    step(&e);
    CHECK_EQ(ctr(&e, SL_CTR_ip_srcroute_rx), 1);
    const struct cap *k = cap_of_dport(40001);
    CHECK(k != NULL);
    if (k) {
        const uint8_t *o = route_opt_of(k, SL_IPOPT_LSRR);
        CHECK(k->seg.flags == (SL_TCP_SYN | SL_TCP_ACK));
        CHECK_EQ(k->ip4.dst, GW);
        CHECK(o != NULL);
        if (o) {
            CHECK_EQ(o[1], 7);
            CHECK_EQ(o[2], 4);
            CHECK_EQ(sl_get32(o + 3), PEER);
        }
        CHECK_EQ(k->final_dst, PEER); /* and the TCP checksum verified over PEER */
        uint32_t iss = k->seg.seq;
        /* the handshake completes; data goes back routed too */
        peer_tcp(&e, PEER, 40001, 80, SL_TCP_ACK, PISS + 1, iss + 1, 0);
        step(&e);
        sl_conn *c;
        CHECK_EQ(sl_accept(l, &c), 0);
        CHECK(c->tcb.route.type == SL_IPOPT_LSRR && !c->tcb.route_app);
        CHECK(c->tcb.snd_mss <= 1460 - 8);
        CHECK_EQ(c->tcb.flags & SL_TF_GSO, 0);
        uint8_t buf[3000];
        memset(buf, 3, sizeof(buf));
        CHECK_EQ(sl_write(c, buf, sizeof(buf)), 3000);
        step(&e);
        unsigned routed = 0, data = 0;
        for (unsigned i = 0; i < ncaps; i++)
            if (caps[i].tcp && caps[i].seg.len) {
                data++;
                routed += caps[i].ip4.dst == GW && route_opt_of(&caps[i], SL_IPOPT_LSRR) &&
                          caps[i].ip4.tot_len <= 1500;
            }
        CHECK(data >= 2);
        CHECK_EQ(routed, data);
        sl_abort(c);
        step(&e);
    }
    /* MUST-51: the application's route for an active open */
    const uint32_t hops[1] = {GW};
    sl_conn *a;
    CHECK_EQ(sl_connect_route(e.s, PEER, 81, hops, 1, 0, &a), 0);
    CHECK_EQ(sl_connect_route(e.s, PEER, 81, hops, 0, 0, &a), -EINVAL);
    CHECK_EQ(sl_connect_route(e.s, PEER, 81, hops, 9, 0, &a), -EINVAL);
    step(&e);
    k = cap_of_dport(81);
    CHECK(k != NULL);
    if (k) {
        CHECK_EQ(k->ip4.dst, GW);
        CHECK(route_opt_of(k, SL_IPOPT_LSRR) != NULL);
        CHECK_EQ(k->final_dst, PEER);
        /* MUST-52: the SYN-ACK comes with another route; ours stays */
        static const uint8_t via_other[8] = {SL_IPOPT_LSRR, 7, 8, 0xc6, 0x12, 0x01, 0xfd, 0};
        g_peer_ipopt = via_other;
        g_peer_ipopt_len = 8;
        peer_tcp(&e, PEER, 81, k->seg.sport, SL_TCP_SYN | SL_TCP_ACK, PISS, k->seg.seq + 1, 0);
        g_peer_ipopt_len = 0;
        step(&e);
        const struct cap *ack = NULL;
        for (unsigned i = 0; i < ncaps; i++)
            if (caps[i].tcp && caps[i].seg.dport == 81)
                ack = &caps[i];
        CHECK(ack != NULL);
        if (ack) {
            const uint8_t *o = route_opt_of(ack, SL_IPOPT_LSRR);
            CHECK_EQ(ack->ip4.dst, GW);
            CHECK(o && sl_get32(o + 3) == PEER);
        }
        CHECK(a->tcb.route_app && a->tcb.route.hop[0] == GW);
    }
    /* a malformed route option is counted and the datagram dropped */
    static const uint8_t bad[8] = {SL_IPOPT_LSRR, 6, 8, 0xc6, 0x12, 0x01, 0xfe, 0};
    g_peer_ipopt = bad;
    g_peer_ipopt_len = 8;
    peer_tcp(&e, PEER, 40002, 80, SL_TCP_SYN, PISS, 0, 0);
    g_peer_ipopt_len = 0;
    step(&e);
    CHECK_EQ(ctr(&e, SL_CTR_drop_ip_bad_srcroute), 1);
    CHECK(cap_of_dport(40002) == NULL);
    env_free(&e);
}

/* RFC 9293 3.10.7.4 (MUST-59): "if the TCP endpoint is processing a series
 * of queued segments, it MUST process them all before sending any ACK
 * segments." Five segments reach the stack in one burst: the first in
 * order, then a gap, then three out of order, then the one that fills the
 * gap. Exactly one ACK leaves, after all of them, acknowledging all five
 * (no duplicate ACK per out-of-order segment in between). A burst of only
 * out-of-order segments gets one duplicate ACK. */
static void test_must_59_ack_after_queued_segments(void)
{
    struct sl_config cfg = base_cfg();
    struct env e;
    env_init(&e, &cfg, 1500);
    struct pc p;
    CHECK(open_active(&e, 80, &p));
    uint32_t s0 = p.snd_nxt;
    peer_tcp(&e, PEER, 80, p.lport, SL_TCP_ACK, s0, p.rcv_nxt, 100);        /* in order */
    peer_tcp(&e, PEER, 80, p.lport, SL_TCP_ACK, s0 + 200, p.rcv_nxt, 100);  /* gap at 100 */
    peer_tcp(&e, PEER, 80, p.lport, SL_TCP_ACK, s0 + 300, p.rcv_nxt, 100);
    peer_tcp(&e, PEER, 80, p.lport, SL_TCP_ACK, s0 + 400, p.rcv_nxt, 100);
    peer_tcp(&e, PEER, 80, p.lport, SL_TCP_ACK, s0 + 100, p.rcv_nxt, 100);  /* fills it */
    step(&e);
    CHECK_EQ(caps_of(&p), 1);
    const struct cap *k = cap_of(&p);
    if (k)
        CHECK_EQ(k->seg.ack, s0 + 500);
    /* only out-of-order segments: one duplicate ACK for the burst */
    p.snd_nxt = s0 + 500;
    peer_tcp(&e, PEER, 80, p.lport, SL_TCP_ACK, s0 + 600, p.rcv_nxt, 100);
    peer_tcp(&e, PEER, 80, p.lport, SL_TCP_ACK, s0 + 700, p.rcv_nxt, 100);
    peer_tcp(&e, PEER, 80, p.lport, SL_TCP_ACK, s0 + 800, p.rcv_nxt, 100);
    step(&e);
    CHECK_EQ(caps_of(&p), 1);
    k = cap_of(&p);
    if (k)
        CHECK_EQ(k->seg.ack, s0 + 500);
    env_free(&e);
}

/* RFC 9293 3.6.1 (MUST-13): "it MUST linger in the TIME-WAIT state for a
 * time 2xMSL", MSL = 2 minutes (3.4.2). Five connections are closed
 * actively with max_conns = 3: each enters TIME-WAIT with a deadline of
 * 240 s; TIME-WAIT connections do not count against max_conns (the 4th and
 * 5th open although 3 are lingering), and at most max_conns of them are
 * kept: the oldest are cut short (tcp_timewait_recycled). After 240 s none
 * is left. */
static void test_must_13_time_wait_2msl(void)
{
    struct sl_config cfg = base_cfg();
    cfg.max_conns = 3;
    struct env e;
    env_init(&e, &cfg, 1500);
    for (int i = 0; i < 5; i++) {
        struct pc p;
        CHECK(open_active(&e, (uint16_t)(80 + i), &p));
        CHECK_EQ(sl_close(p.c), 0);
        step(&e); /* our FIN */
        peer_tcp(&e, PEER, p.pport, p.lport, SL_TCP_ACK | SL_TCP_FIN, p.snd_nxt, p.rcv_nxt + 1, 0);
        step(&e); /* the ACK of the peer's FIN: TIME-WAIT */
        struct sl_conn *c = sl_table_find(e.s, PEER, p.pport, p.lport);
        CHECK(c != NULL);
        if (c) {
            CHECK_EQ(c->tcb.state, SL_TCP_TIME_WAIT);
            CHECK_EQ(c->tcb.t_keep, vnow + 240ull * 1000000u);
        }
    }
    CHECK_EQ(e.s->n_tw, 3);
    CHECK_EQ(ctr(&e, SL_CTR_tcp_timewait_recycled), 2);
    CHECK_EQ(ctr(&e, SL_CTR_drop_tcp_max_conns), 0);
    idle(&e, 239ull * 1000000u, 1000000u);
    CHECK_EQ(e.s->n_tw, 3);
    idle(&e, 2ull * 1000000u, 1000000u);
    CHECK_EQ(e.s->n_tw, 0);
    env_free(&e);
}

/* RFC 9293 3.9.1.9 (MUST-48): "The application layer MUST be able to
 * specify the Differentiated Services field for segments that are sent on
 * a connection." SL_OPT_TOS on one of two connections: its segments carry
 * that DS byte, the other's carry the stack default (sl_config.tos). */
static void test_must_48_tos_per_connection(void)
{
    struct sl_config cfg = base_cfg();
    cfg.tos = 0x20;
    struct env e;
    env_init(&e, &cfg, 1500);
    struct pc p, q;
    CHECK(open_active(&e, 80, &p));
    CHECK(open_active(&e, 81, &q));
    CHECK_EQ(sl_conn_setopt(p.c, SL_OPT_TOS, 0xb8), 0); /* EF */
    CHECK_EQ(sl_conn_setopt(p.c, SL_OPT_TOS, 256), -EINVAL);
    uint8_t buf[10] = {0};
    CHECK_EQ(sl_write(p.c, buf, 10), 10);
    CHECK_EQ(sl_write(q.c, buf, 10), 10);
    step(&e);
    const struct cap *a = cap_of(&p), *b = cap_of(&q);
    CHECK(a && b);
    if (a && b) {
        CHECK_EQ(a->ip4.tos, 0xb8);
        CHECK_EQ(b->ip4.tos, 0x20);
    }
    env_free(&e);
}

/* ------------------------------------------------------------------ */

/* RFC 9293 3.9.2.3 (MUST-57): "A TCP implementation MUST silently discard
 * an incoming SYN segment that is addressed to a broadcast or multicast
 * address." SYNs to a listening port addressed to the limited broadcast,
 * the subnet broadcast and multicast addresses, in unicast and in
 * broadcast/multicast link frames (and our unicast address in a link-layer
 * broadcast, RFC 1122 3.3.6), draw no reply of any kind and create no
 * connection; the same SYN to our address is answered. */
static void test_must_57_syn_to_broadcast_multicast(void)
{
    struct sl_config cfg = base_cfg();
    struct env e;
    env_init(&e, &cfg, 1500);
    sl_listener *l;
    CHECK_EQ(sl_listen(e.s, 80, NULL, NULL, NULL, &l), 0);
    static const uint8_t mcast_mac[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    struct {
        uint32_t dst;
        const uint8_t *mac; /* NULL: our MAC */
    } cases[] = {
        {0xffffffffu, bcast_mac}, {SUBNET_BCAST, bcast_mac}, {0xe0000001u, mcast_mac},
        {0xffffffffu, NULL},      {SUBNET_BCAST, NULL},      {0xe0000001u, NULL},
        {0xeffffffau, NULL},      {ME, bcast_mac},
    };
    uint64_t opens = ctr(&e, SL_CTR_tcp_passive_opens);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        peer_tcp_ex(&e, cases[i].mac ? cases[i].mac : e.a->mac, PEER, cases[i].dst,
                    (uint16_t)(41000 + i), 80, SL_TCP_SYN, PISS, 0, 0, 0);
        step(&e);
        CHECK_EQ(ncaps, 0);
        CHECK_EQ(sl_conn_count(e.s), 0);
    }
    CHECK_EQ(ctr(&e, SL_CTR_tcp_passive_opens), opens);
    struct pc p;
    CHECK(open_passive(&e, l, PEER, 41999, 80, &p, true)); /* control */
    env_free(&e);
}

/* RFC 9293 3.9.2.3 (MUST-63): "An incoming SYN with an invalid source
 * address MUST be ignored either by TCP or by the IP layer" (RFC 1122
 * 3.2.1.3). With a gateway configured (so that off-link sources are
 * routable), SYNs from 0.0.0.0, the limited and the subnet broadcast,
 * multicast, loopback and our own address draw nothing and create no
 * connection; a SYN from a valid off-link address is answered. */
static void test_must_63_syn_invalid_source(void)
{
    struct sl_config cfg = base_cfg();
    cfg.gateway = GW;
    struct env e;
    env_init(&e, &cfg, 1500);
    sl_listener *l;
    CHECK_EQ(sl_listen(e.s, 80, NULL, NULL, NULL, &l), 0);
    static const uint32_t bad[] = {0, 0xffffffffu, SUBNET_BCAST, 0xe0000005u, 0xeffffffau,
                                   0x7f000001u, 0x7f0a0b0cu, ME};
    uint64_t opens = ctr(&e, SL_CTR_tcp_passive_opens);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        peer_tcp(&e, bad[i], (uint16_t)(42000 + i), 80, SL_TCP_SYN, PISS, 0, 0);
        step(&e);
        CHECK_EQ(ncaps, 0);
        CHECK_EQ(sl_conn_count(e.s), 0);
    }
    CHECK_EQ(ctr(&e, SL_CTR_tcp_passive_opens), opens);
    struct pc p;
    CHECK(open_passive(&e, l, FAR, 42999, 80, &p, true)); /* control, via GW */
    /* {0, <Host-number>} (0.0.0.0/8 other than 0.0.0.0) "MUST NOT be sent,
     * except as a source address as part of an initialization procedure"
     * (RFC 1122 3.2.1.3 (b)), so it is no valid source for a SYN. */
    peer_tcp(&e, 0x00010203u, 42998, 80, SL_TCP_SYN, PISS, 0, 0);
    step(&e);
    CHECK_EQ(sl_conn_count(e.s), 1);
    env_free(&e);
}

/* ------------------------------------------------------------------ */

/* RFC 9293 3.7.1 (MUST-67): the MSS value to be sent in an MSS option
 * "must be less than or equal to: MMS_R - 20", MMS_R = EMTU_R - 20 (IPv4
 * header), where EMTU_R is the largest datagram that can be received.
 * sltcp does not reassemble (a fragment is dropped), so EMTU_R is the link
 * MTU. For several MTUs the SYN and the SYN-ACK offer MTU - 40, and a
 * segment of exactly that many bytes (a datagram of MTU bytes) is
 * received and read. */
static void test_must_67_mss_option_le_mms_r(void)
{
    static const uint32_t mtus[] = {576, 1280, 1500, 9000};
    static uint8_t buf[9000];
    for (size_t i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++) {
        uint32_t mtu = mtus[i], mms_r = mtu - 20;
        struct sl_config cfg = base_cfg();
        struct env e;
        env_init(&e, &cfg, mtu);
        sl_conn *c;
        CHECK_EQ(sl_connect(e.s, PEER, 80, &c), 0);
        step(&e);
        CHECK(caps[0].tcp && caps[0].seg.opts.has_mss);
        CHECK(caps[0].seg.opts.mss <= mms_r - 20);
        CHECK_EQ(caps[0].seg.opts.mss, mtu - 40);

        sl_listener *l;
        CHECK_EQ(sl_listen(e.s, 80, NULL, NULL, NULL, &l), 0);
        struct pc p;
        CHECK(open_passive(&e, l, PEER, 40000, 80, &p, false));
        const struct cap *sa = &caps[0];
        CHECK(sa->tcp && sa->seg.opts.has_mss && sa->seg.opts.mss <= mms_r - 20);
        CHECK_EQ(sa->seg.opts.mss, mtu - 40);
        peer_tcp(&e, PEER, 40000, 80, SL_TCP_ACK, p.snd_nxt, p.rcv_nxt, 0);
        step(&e);
        CHECK_EQ(sl_accept(l, &p.c), 0);
        if (!p.c) {
            env_free(&e);
            continue;
        }
        /* a full-sized segment: MSS bytes, an MTU-sized datagram */
        peer_send(&e, &p, mtu - 40);
        step(&e);
        CHECK_EQ(sl_read(p.c, buf, sizeof(buf)), (ssize_t)(mtu - 40));
        /* a fragment is not reassembled: EMTU_R is the MTU */
        uint64_t frags = ctr(&e, SL_CTR_drop_ip_frag);
        peer_tcp_ex(&e, e.a->mac, PEER, ME, 40000, 80, SL_TCP_ACK, p.snd_nxt, p.rcv_nxt, 8,
                    0x2000 /* MF */);
        step(&e);
        CHECK_EQ(ctr(&e, SL_CTR_drop_ip_frag) - frags, 1);
        CHECK_EQ(sl_read(p.c, buf, sizeof(buf)), -EAGAIN);
        env_free(&e);
    }
}

int main(void)
{
    RUN(test_must_8_isn_clock_on_the_wire);
    RUN(test_must_9_isn_secret_per_stack);
    RUN(test_must_24_keepalive_on_off_per_connection);
    RUN(test_must_25_keepalive_default_off_api);
    RUN(test_must_27_keepalive_interval_configurable);
    RUN(test_must_41_passive_open_no_side_effect);
    RUN(test_must_42_listen_while_synsent_synrcvd);
    RUN(test_must_45_same_local_address);
    RUN(test_must_55_source_quench_ignored);
    RUN(test_must_56_soft_icmp_no_abort);
    RUN(test_must_47_54_soft_errors_reported);
    RUN(test_must_20_22_r1_negative_advice);
    RUN(test_must_48_tos_per_connection);
    RUN(test_must_30_33_urgent_api);
    RUN(test_must_51_53_source_route);
    RUN(test_must_59_ack_after_queued_segments);
    RUN(test_must_13_time_wait_2msl);
    RUN(test_must_57_syn_to_broadcast_multicast);
    RUN(test_must_63_syn_invalid_source);
    RUN(test_must_67_mss_option_le_mms_r);
    return check_finish("test_api_must");
}
