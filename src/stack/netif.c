/* Network interface: Ethernet demultiplexing, ARP (RFC 826) with a
 * neighbour cache, IPv4 input checks, ICMP echo and PTB, and the transmit
 * path that turns engine emits into frames. */
#include <stdlib.h>
#include <string.h>

#include "stack/stack.h"

static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero_mac[6] = {0};

/* ---------------- neighbour cache ---------------- */

static struct sl_arp_entry *arp_slot(struct sl_stack *s, uint32_t ip, int create)
{
    uint32_t h = (ip * 2654435761u) >> 24; /* 256 slots */
    for (unsigned k = 0; k < 16; k++) {
        struct sl_arp_entry *e = &s->arp[(h + k) & (SL_ARP_SLOTS - 1)];
        if (e->ip == ip)
            return e;
        if (e->ip == 0) {
            if (!create)
                return NULL;
            e->ip = ip;
            return e;
        }
    }
    return NULL;
}

static int in_subnet(const struct sl_stack *s, uint32_t ip)
{
    return (ip & s->netmask) == (s->addr & s->netmask);
}

static void arp_flush_queue(struct sl_stack *s, uint32_t ip, const uint8_t mac[6]);

static void arp_learn(struct sl_stack *s, uint32_t ip, const uint8_t mac[6])
{
    if (!ip || !(in_subnet(s, ip) || ip == s->gateway))
        return;
    struct sl_arp_entry *e = arp_slot(s, ip, 1);
    if (!e) {
        SCTR(s, drop_arp_table_full);
        return;
    }
    if (!e->valid || memcmp(e->mac, mac, 6) != 0) {
        memcpy(e->mac, mac, 6);
        e->valid = 1;
        SCTR(s, arp_learned);
        arp_flush_queue(s, ip, mac);
    }
}

static void arp_send(struct sl_stack *s, uint16_t op, const uint8_t dmac[6],
                     const uint8_t tha[6], uint32_t tpa)
{
    uint8_t *p = s->io->ops->tx_alloc(s->io, SL_ETH_HLEN + SL_ARP_LEN);
    if (!p) {
        SCTR(s, drop_tx_ring_full);
        return;
    }
    size_t n = sl_eth_build(p, dmac, s->mac, SL_ETH_P_ARP);
    n += sl_arp_build(p + n, op, s->mac, s->addr, tha, tpa);
    if (n < 60) { /* pad to the Ethernet minimum */
        memset(p + n, 0, 60 - n);
        n = 60;
    }
    s->io->ops->tx_commit(s->io, (uint32_t)n, NULL);
    s->ctr[op == SL_ARP_REPLY ? SL_CTR_arp_reply_tx : SL_CTR_arp_request_tx]++;
}

static void arp_resolve(struct sl_stack *s, uint32_t ip)
{
    struct sl_arp_entry *e = arp_slot(s, ip, 1);
    if (!e) {
        SCTR(s, drop_arp_table_full);
        return;
    }
    if (e->req_sent && s->now - e->req_sent < 200000)
        return; /* at most one request per 200 ms per neighbour */
    e->req_sent = s->now;
    arp_send(s, SL_ARP_REQUEST, bcast_mac, zero_mac, ip);
}

static void arp_rx(struct sl_stack *s, const uint8_t *p, size_t len)
{
    struct sl_arp a;
    enum sl_ctr r = sl_arp_parse(p, len, &a);
    if (r) {
        s->ctr[r]++;
        return;
    }
    SCTR(s, arp_rx);
    if (a.tpa != s->addr) {
        /* RFC 826 merge: refresh an entry we already have, learn nothing new */
        struct sl_arp_entry *e = arp_slot(s, a.spa, 0);
        if (e && e->valid)
            memcpy(e->mac, a.sha, 6);
        SCTR(s, drop_arp_not_for_us);
        return;
    }
    arp_learn(s, a.spa, a.sha);
    if (a.op == SL_ARP_REQUEST)
        arp_send(s, SL_ARP_REPLY, a.sha, a.sha, a.spa);
}

/* ---------------- transmit ---------------- */

static uint32_t next_hop(struct sl_stack *s, uint32_t dst)
{
    if (in_subnet(s, dst))
        return dst;
    return s->gateway;
}

/* Returns a buffer for a frame of `len` bytes with its Ethernet header
 * written, or NULL (counted). *queued says the frame waits for ARP, in
 * which case it must carry complete checksums. */
static uint8_t *tx_begin(struct sl_stack *s, uint32_t dst, uint32_t len, int *queued)
{
    uint32_t nh = next_hop(s, dst);
    if (!nh) {
        SCTR(s, drop_ip_no_route);
        return NULL;
    }
    struct sl_arp_entry *e = arp_slot(s, nh, 0);
    if (e && e->valid) {
        uint8_t *p = s->io->ops->tx_alloc(s->io, len);
        if (!p) {
            SCTR(s, drop_tx_ring_full);
            return NULL;
        }
        sl_eth_build(p, e->mac, s->mac, SL_ETH_P_IP);
        *queued = 0;
        return p;
    }
    arp_resolve(s, nh);
    /* any frame, super-segments too (with their offload metadata): the
     * first frames of a restored connection are its retransmission, and
     * its peer's MAC is not known yet after a restart or a move */
    if (len > s->io->max_frame || s->arpq_len >= SL_ARP_QUEUE) {
        SCTR(s, drop_arp_unresolved);
        return NULL;
    }
    uint8_t *buf = malloc(len);
    if (!buf) {
        SCTR(s, drop_arp_unresolved);
        return NULL;
    }
    s->arpq[s->arpq_len].nh = nh;
    s->arpq[s->arpq_len].buf = buf;
    s->arpq[s->arpq_len].len = 0;
    sl_eth_build(buf, zero_mac, s->mac, SL_ETH_P_IP);
    *queued = 1;
    return buf;
}

static void tx_end(struct sl_stack *s, uint32_t len, const struct sl_tx_meta *meta, int queued)
{
    if (queued) {
        s->arpq[s->arpq_len].has_meta = meta != NULL;
        if (meta)
            s->arpq[s->arpq_len].meta = *meta;
        s->arpq[s->arpq_len++].len = len;
        return;
    }
    if (s->io->ops->tx_commit(s->io, len, meta) < 0)
        SCTR(s, drop_tx_error);
}

static void arp_flush_queue(struct sl_stack *s, uint32_t ip, const uint8_t mac[6])
{
    unsigned k = 0;
    for (unsigned i = 0; i < s->arpq_len; i++) {
        if (s->arpq[i].nh != ip) {
            s->arpq[k++] = s->arpq[i];
            continue;
        }
        uint8_t *p = s->io->ops->tx_alloc(s->io, s->arpq[i].len);
        if (p) {
            memcpy(p, s->arpq[i].buf, s->arpq[i].len);
            memcpy(p, mac, 6);
            s->io->ops->tx_commit(s->io, s->arpq[i].len,
                                  s->arpq[i].has_meta ? &s->arpq[i].meta : NULL);
        } else {
            SCTR(s, drop_tx_ring_full);
        }
        free(s->arpq[i].buf);
    }
    s->arpq_len = k;
}

static void build_tcp(struct sl_stack *s, uint32_t dst, uint16_t sport, uint16_t dport,
                      const struct sl_tcp_emit *e, const struct sl_tcb *t, const uint8_t *snd,
                      uint8_t tos, const struct sl_srcroute *route)
{
    size_t ol = route ? sl_srcroute_optlen(route) : 0;
    struct sl_tcp_seg seg;
    memset(&seg, 0, sizeof(seg));
    seg.sport = sport;
    seg.dport = dport;
    seg.seq = e->seq;
    seg.ack = e->ack;
    seg.flags = e->flags;
    seg.wnd = e->wnd;
    seg.urp = e->urp;
    seg.opts = e->opts;
    size_t thl = SL_TCP_HLEN + sl_tcp_opts_len(&e->opts);
    uint32_t plen = e->len;
    uint32_t flen = (uint32_t)(SL_ETH_HLEN + SL_IP_HLEN + ol + thl + plen);
    int queued;
    /* source-routed: the frame goes to the first hop (RFC 791 3.1) */
    uint8_t *p = tx_begin(s, ol ? route->hop[0] : dst, flen, &queued);
    if (!p)
        return;
    uint8_t *ip = p + SL_ETH_HLEN, *tcp = ip + SL_IP_HLEN + ol;
    if (ol)
        sl_ip4_build_routed(ip, s->addr, dst, route, SL_IPPROTO_TCP, s->ip_id++, s->ttl,
                            thl + plen);
    else
        sl_ip4_build(ip, s->addr, dst, SL_IPPROTO_TCP, s->ip_id++, s->ttl, thl + plen);
    /* RFC 9293 MUST-48: the application's DS field; the ECN field is the
     * engine's (RFC 3168 5: ECT(0) on new data of an ECN connection) */
    tos = (uint8_t)((tos & ~SL_IP_ECN_MASK) | e->ecn);
    if (tos) {
        ip[1] = tos;
        sl_put16(ip + 10, 0);
        sl_put16(ip + 10, sl_csum_fold(sl_csum_add(0, ip, SL_IP_HLEN + ol)));
    }
    sl_tcp_build(tcp, &seg);
    if (plen)
        sl_tcp_copy_out(t, snd, e->seq, tcp + thl, plen);
    struct sl_tx_meta meta = {0};
    uint32_t tcp_len = (uint32_t)(thl + plen);
    /* queued frames (waiting for ARP) keep their offload metadata too:
     * arp_flush_queue hands it to the device with the frame */
    if (!ol && e->gso && plen > e->gso && s->io->max_gso) {
        meta.gso_size = e->gso;
    }
    if (s->io->csum_offload || meta.gso_size) {
        /* Pseudo-header sum only; the kernel completes it (NEEDS_CSUM).
         * With a source route the pseudo-header holds the final
         * destination (RFC 9293 3.1), which is dst. */
        uint16_t ps = (uint16_t)~sl_csum_fold(sl_csum_pseudo(s->addr, dst, SL_IPPROTO_TCP,
                                                             (uint16_t)tcp_len));
        sl_put16(tcp + 16, ps);
        meta.csum_partial = 1;
        meta.l4_off = (uint16_t)(SL_ETH_HLEN + SL_IP_HLEN + ol);
    } else {
        sl_tcp_csum_finish(tcp, tcp_len, s->addr, dst);
    }
    tx_end(s, flen, &meta, queued);
}

void sl_netif_tx_tcp(struct sl_stack *s, const struct sl_tcb *t, const uint8_t *snd,
                     const struct sl_tcp_emit *e, uint8_t tos, const struct sl_srcroute *route)
{
    build_tcp(s, t->raddr, t->lport, t->rport, e, t, snd, tos,
              route && route->type ? route : NULL);
}

void sl_netif_arp_forget(struct sl_stack *s, uint32_t dst)
{
    uint32_t nh = next_hop(s, dst);
    struct sl_arp_entry *e = nh ? arp_slot(s, nh, 0) : NULL;
    /* Ask again (a new owner of the address answers, arp_learn takes its
     * MAC), but keep using the known MAC meanwhile: the next hop carries
     * every other flow too (thousands behind one gateway), which must not
     * wait for the answer because one flow went unanswered (RFC 1122
     * 2.3.2.1: a link-layer "poll" of the neighbour, not a flush). */
    if (e && e->valid)
        arp_resolve(s, nh);
}

void sl_netif_tx_reply(struct sl_stack *s, uint32_t raddr, const struct sl_tcp_seg *seg,
                       const struct sl_tcp_emit *e)
{
    /* a reply to a source-routed segment goes back the same way */
    build_tcp(s, raddr, seg->dport, seg->sport, e, NULL, NULL, s->tos,
              s->rx_route.type ? &s->rx_route : NULL);
}

/* ---------------- receive ---------------- */

static void icmp_rx(struct sl_stack *s, const struct sl_ip4 *ip, int trusted)
{
    struct sl_icmp ic;
    enum sl_ctr r = sl_icmp_parse(ip->payload, ip->payload_len, trusted, &ic);
    if (r) {
        s->ctr[r]++;
        return;
    }
    if (ic.type == SL_ICMP_ECHO_REQUEST && ic.code == 0) {
        SCTR(s, icmp_echo_rx);
        uint32_t flen = (uint32_t)(SL_ETH_HLEN + SL_IP_HLEN + ip->payload_len);
        int queued;
        uint8_t *p = tx_begin(s, ip->src, flen, &queued);
        if (!p)
            return;
        sl_ip4_build(p + SL_ETH_HLEN, s->addr, ip->src, SL_IPPROTO_ICMP, s->ip_id++, 64,
                     ip->payload_len);
        sl_icmp_build_echo_reply(p + SL_ETH_HLEN + SL_IP_HLEN, ip->payload, ip->payload_len);
        tx_end(s, flen, NULL, queued);
        SCTR(s, icmp_echo_tx);
        return;
    }
    if (ic.type == SL_ICMP_DEST_UNREACH && ic.code == SL_ICMP_FRAG_NEEDED) {
        sl_stack_icmp_ptb(s, &ic);
        return;
    }
    if (ic.type == SL_ICMP_DEST_UNREACH || ic.type == SL_ICMP_TIME_EXCEEDED ||
        ic.type == SL_ICMP_PARAM_PROBLEM) {
        sl_stack_icmp_error(s, &ic); /* RFC 9293 3.9.2.2 MUST-54 */
        return;
    }
    SCTR(s, drop_icmp_type);
}

int sl_netif_routable(const struct sl_stack *s, uint32_t dst)
{
    return in_subnet(s, dst) || s->gateway != 0;
}

int sl_netif_bad_addr(const struct sl_stack *s, uint32_t src)
{
    /* RFC 1122 3.2.1.3: {0, 0} and {0, <Host-number>} (0.0.0.0/8) are
     * sources only while a host learns its address, never for TCP. */
    if ((src >> 24) == 0 || src == 0xffffffffu || (src >> 28) == 0xe || (src >> 24) == 127)
        return 1;
    /* the subnet's broadcast address */
    if (in_subnet(s, src) && (src | s->netmask) == 0xffffffffu && s->netmask != 0xffffffffu)
        return 1;
    return 0;
}

static void ip_rx(struct sl_stack *s, const struct sl_eth *eth, int trusted, int link_bcast)
{
    struct sl_ip4 ip;
    enum sl_ctr r = sl_ip4_parse(eth->payload, eth->payload_len, trusted, &ip);
    if (r) {
        s->ctr[r]++;
        return;
    }
    if (ip.dst != s->addr || link_bcast) {
        /* RFC 1122 3.3.6: a unicast datagram in a link-layer broadcast is
         * discarded (and we have no broadcast or multicast listeners). */
        SCTR(s, drop_ip_not_for_us);
        return;
    }
    if (ip.src == s->addr) { /* LAND: our own address as the source */
        s->ctr[ip.proto == SL_IPPROTO_TCP ? SL_CTR_drop_tcp_land : SL_CTR_drop_ip_bad_src]++;
        return;
    }
    if (sl_netif_bad_addr(s, ip.src)) {
        SCTR(s, drop_ip_bad_src);
        return;
    }
    if (ip.mf || ip.frag_off_bytes) {
        SCTR(s, drop_ip_frag); /* no reassembly: fragments are counted and dropped */
        return;
    }
    s->rx_route.type = 0;
    if (ip.ihl_bytes > SL_IP_HLEN) {
        /* RFC 9293 3.9.2.1 MUST-53: a completed source route is saved (as
         * its return route) by the connection it reaches; other options
         * are skipped */
        int rr = sl_ip4_return_route(eth->payload, ip.ihl_bytes, &s->rx_route);
        if (rr < 0) {
            s->ctr[-rr]++;
            return;
        }
        if (rr == 0)
            SCTR(s, ip_options_skipped);
    }
    if (in_subnet(s, ip.src)) { /* glean the neighbour from a valid packet */
        struct sl_arp_entry *e = arp_slot(s, ip.src, 0);
        if (!e || !e->valid)
            arp_learn(s, ip.src, eth->src);
    }
    if (ip.proto == SL_IPPROTO_TCP) {
        struct sl_tcp_seg seg;
        r = sl_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, trusted, &seg);
        if (r) {
            s->ctr[r]++;
            return;
        }
        seg.ecn = ip.tos & SL_IP_ECN_MASK; /* RFC 3168: CE marks reach the engine */
        sl_stack_tcp_rx(s, ip.src, ip.dst, &seg);
        s->rx_route.type = 0;
        return;
    }
    if (ip.proto == SL_IPPROTO_ICMP) {
        icmp_rx(s, &ip, trusted);
        return;
    }
    SCTR(s, drop_ip_proto);
}

void sl_netif_rx(struct sl_stack *s, const struct sl_frame *f)
{
    struct sl_eth eth;
    enum sl_ctr r = sl_eth_parse(f->data, f->len, &eth);
    if (r) {
        s->ctr[r]++;
        return;
    }
    if (memcmp(eth.dst, s->mac, 6) != 0 && memcmp(eth.dst, bcast_mac, 6) != 0) {
        SCTR(s, drop_eth_not_for_us);
        return;
    }
    int trusted = (f->flags & SL_FRAME_CSUM_TRUSTED) != 0;
    switch (eth.type) {
    case SL_ETH_P_ARP:
        arp_rx(s, eth.payload, eth.payload_len);
        return;
    case SL_ETH_P_IP:
        ip_rx(s, &eth, trusted, memcmp(eth.dst, bcast_mac, 6) == 0);
        return;
    default:
        SCTR(s, drop_eth_type);
        return;
    }
}
