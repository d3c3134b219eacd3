/* Public API checks over a full stack on the in-memory link: option
 * defaults and bounds, invalid OPEN addresses, TTL/TOS on the wire. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "stack/stack.h"

#include "check.h"

static uint64_t vnow = 5000000;
static uint64_t vclock(void *arg)
{
    (void)arg;
    return vnow;
}

int main(void)
{
    struct sl_io *a, *b;
    CHECK(sl_io_mem_pair(1500, 64, &a, &b) == 0);
    char err[128];
    struct sl_config cfg = {.addr = 0xc6120101, .prefix_len = 24, .ttl = 17, .tos = 0x28};
    struct sl_stack *s;
    CHECK(sl_stack_create_io(&cfg, a, vclock, NULL, &s, err, sizeof(err)) == 0);

    /* RFC 9293 3.9.1.1 MUST-46: invalid remote addresses are refused. */
    static const uint32_t bad[] = {0, 0xffffffffu, 0xe0000001u, 0x7f000001u,
                                   0xc61201ffu /* subnet broadcast */, 0xf0000001u,
                                   0xc6120101u /* ourselves */};
    sl_conn *c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(sl_connect(s, bad[i], 80, &c) == -EINVAL);
    CHECK(sl_connect(s, 0xc6120102, 0, &c) == -EINVAL);
    CHECK(sl_connect(s, 0xc6120102, 80, &c) == 0);

    /* RFC 9293 3.8.4 MUST-27/28: keep-alive off by default, 7200 s idle
     * when turned on, configurable; R2 bounds (MUST-21). */
    CHECK(c->tcb.keepidle_s == 0);
    CHECK(sl_conn_setopt(c, SL_OPT_KEEPALIVE, 1) == 0);
    CHECK(c->tcb.keepidle_s == 7200);
    CHECK(sl_conn_setopt(c, SL_OPT_KEEPIDLE, 30) == 0);
    CHECK(c->tcb.keepidle_s == 30);
    CHECK(sl_conn_setopt(c, SL_OPT_KEEPIDLE, 0) == -EINVAL);
    CHECK(sl_conn_setopt(c, SL_OPT_KEEPALIVE, 0) == 0);
    CHECK(c->tcb.keepidle_s == 0);
    CHECK(sl_conn_setopt(c, SL_OPT_RETRIES, 5) == 0);
    CHECK(c->tcb.r2 == 5);
    CHECK(sl_conn_setopt(c, SL_OPT_RETRIES, 256) == -EINVAL);
    CHECK(sl_conn_setopt(c, (enum sl_opt)99, 1) == -EINVAL);

    /* RFC 9293 MUST-48/49: the SYN leaves with the configured TTL and DS
     * field (after ARP: answer the request from the peer end by hand). */
    sl_run(s, 0);
    struct sl_frame fr[8];
    int n = b->ops->rx_burst(b, fr, 8);
    CHECK(n >= 1);
    int saw_arp = 0;
    for (int i = 0; i < n; i++) {
        struct sl_eth eth;
        struct sl_arp arp;
        if (sl_eth_parse(fr[i].data, fr[i].len, &eth) == SL_CTR_ok && eth.type == SL_ETH_P_ARP &&
            sl_arp_parse(eth.payload, eth.payload_len, &arp) == SL_CTR_ok &&
            arp.op == SL_ARP_REQUEST && arp.tpa == 0xc6120102)
            saw_arp = 1;
    }
    b->ops->rx_release(b);
    CHECK(saw_arp);
    uint8_t *p = b->ops->tx_alloc(b, 60);
    size_t len = sl_eth_build(p, a->mac, b->mac, SL_ETH_P_ARP);
    len += sl_arp_build(p + len, SL_ARP_REPLY, b->mac, 0xc6120102, a->mac, 0xc6120101);
    memset(p + len, 0, 60 - len);
    b->ops->tx_commit(b, 60, NULL);
    b->ops->tx_flush(b);
    sl_run(s, 0);
    n = b->ops->rx_burst(b, fr, 8);
    int saw_syn = 0;
    for (int i = 0; i < n; i++) {
        struct sl_eth eth;
        struct sl_ip4 ip;
        if (sl_eth_parse(fr[i].data, fr[i].len, &eth) != SL_CTR_ok || eth.type != SL_ETH_P_IP)
            continue;
        CHECK(sl_ip4_parse(eth.payload, eth.payload_len, false, &ip) == SL_CTR_ok);
        CHECK(ip.ttl == 17);
        CHECK(ip.tos == 0x28);
        saw_syn = 1;
    }
    b->ops->rx_release(b);
    CHECK(saw_syn);

    /* The 4-tuple table is keyed per stack from randombytes (no rand()
     * seed): two stacks never share a key, so a peer cannot aim chosen
     * tuples at one probe chain of every stack. */
    struct sl_io *a2, *b2;
    struct sl_stack *s2;
    CHECK(sl_io_mem_pair(1500, 64, &a2, &b2) == 0);
    CHECK(sl_stack_create_io(&cfg, a2, vclock, NULL, &s2, err, sizeof(err)) == 0);
    static const uint8_t zero[sizeof(s->table_key)];
    CHECK(memcmp(s->table_key, zero, sizeof(zero)) != 0);
    CHECK(memcmp(s->table_key, s2->table_key, sizeof(zero)) != 0);
    sl_stack_destroy(s2);
    b2->ops->destroy(b2);

    sl_stack_destroy(s);
    b->ops->destroy(b);
    return check_finish("test_api");
}
