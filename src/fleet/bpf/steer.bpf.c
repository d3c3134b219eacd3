// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Steering data plane: XDP on the interface where client traffic enters the
 * front (a load-balancer tier, as Katran). Each TCP segment for the service
 * goes to one instance: the per-flow override map first (flows that were
 * moved), else the Maglev table bucket of the flow hash. Same-host instances
 * get the frame by bpf_redirect to their interface (destination MAC
 * rewritten); instances on other hosts get it IP-in-IP encapsulated
 * (RFC 2003 section 3) to the host's address. The instance answers the
 * client directly with the service address as source (direct server return),
 * so only client-to-service traffic passes here.
 *
 * Parsing follows Katran's balancer_kern.c: small inline helpers, every
 * header access bounds-checked against data_end.
 *
 * Also here: xdp_decap (on an instance host: strip the outer IPv4 header of
 * IP-in-IP so the instance sees the client's segment) and xdp_pass (on the
 * receiving end of a veth that frames are redirected to). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "steer_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct sl_steer_cfg);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} sl_cfg SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SL_STEER_M);
    __type(key, __u32);
    __type(value, __u32);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} sl_maglev SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SL_STEER_MAX_INST);
    __type(key, __u32);
    __type(value, struct sl_steer_inst);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} sl_inst SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, SL_STEER_OVERRIDES);
    __type(key, struct sl_steer_flow);
    __type(value, __u32);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} sl_override SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, SL_STEER_MAX_INST);
    __type(key, __u32);
    __type(value, struct sl_steer_stat);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} sl_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, SL_STEER_C_MAX);
    __type(key, __u32);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} sl_ctr SEC(".maps");

static __always_inline void count(__u32 which)
{
    __u64 *v = bpf_map_lookup_elem(&sl_ctr, &which);
    if (v)
        *v += 1;
}

static __always_inline int verdict(__u32 which, int action)
{
    count(which);
    return action;
}

/* Ethernet: returns the EtherType (network order) or 0 if truncated. */
static __always_inline __be16 parse_eth(void *data, void *data_end, struct ethhdr **eth)
{
    struct ethhdr *e = data;
    if ((void *)(e + 1) > data_end)
        return 0;
    *eth = e;
    return e->h_proto;
}

/* IPv4: 0 = ok, -1 = truncated or malformed. */
static __always_inline int parse_ip4(void *data, void *data_end, struct iphdr **ip)
{
    struct iphdr *h = data;
    if ((void *)(h + 1) > data_end)
        return -1;
    if (h->version != 4 || h->ihl < 5)
        return -1;
    if ((void *)h + h->ihl * 4 > data_end)
        return -1;
    *ip = h;
    return 0;
}

/* TCP ports: 0 = ok, -1 = truncated. Only the first 4 bytes (the ports)
 * are needed to steer; the whole fixed header must be present though. */
static __always_inline int parse_tcp(void *data, void *data_end, struct tcphdr **tcp)
{
    struct tcphdr *t = data;
    if ((void *)(t + 1) > data_end)
        return -1;
    *tcp = t;
    return 0;
}

static __always_inline void set_macs(struct ethhdr *eth, const struct sl_steer_inst *in)
{
    __builtin_memcpy(eth->h_dest, in->dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, in->smac, ETH_ALEN);
}

static __always_inline __u16 csum_fold_ip(struct iphdr *ip)
{
    __u32 sum = 0;
    __u16 *p = (__u16 *)ip;
#pragma unroll
    for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
        sum += p[i];
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (__u16)~sum;
}

/* RFC 2003 section 3: outer IPv4 header, protocol 4, TTL fresh, DF copied
 * from the inner header, TOS copied. Returns an XDP action. */
static __always_inline int encap(struct xdp_md *ctx, const struct sl_steer_inst *in,
                                 __be32 tun_src)
{
    void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
    struct iphdr *inner = data + sizeof(struct ethhdr);
    if ((void *)(inner + 1) > data_end)
        return verdict(SL_STEER_C_DROP_TRUNC, XDP_DROP);
    __u8 tos = inner->tos;
    __be16 frag = inner->frag_off & bpf_htons(0x4000); /* DF */
    __u16 inner_len = bpf_ntohs(inner->tot_len);
    if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct iphdr)))
        return verdict(SL_STEER_C_DROP_ENCAP, XDP_DROP);
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *outer = data + sizeof(struct ethhdr);
    if ((void *)(outer + 1) > data_end)
        return verdict(SL_STEER_C_DROP_ENCAP, XDP_DROP);
    eth->h_proto = bpf_htons(ETH_P_IP);
    set_macs(eth, in);
    outer->version = 4;
    outer->ihl = 5;
    outer->tos = tos;
    outer->tot_len = bpf_htons(inner_len + sizeof(struct iphdr));
    outer->id = 0;
    outer->frag_off = frag;
    outer->ttl = 64;
    outer->protocol = IPPROTO_IPIP;
    outer->check = 0;
    outer->saddr = tun_src;
    outer->daddr = in->host_addr;
    outer->check = csum_fold_ip(outer);
    count(SL_STEER_C_ENCAP);
    if (in->ifindex == 0 || in->ifindex == ctx->ingress_ifindex)
        return XDP_TX;
    return bpf_redirect(in->ifindex, 0);
}

SEC("xdp")
int xdp_steer(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
    __u32 zero = 0, len = (__u32)(data_end - data);
    struct ethhdr *eth;
    struct iphdr *ip;
    struct tcphdr *tcp;

    count(SL_STEER_C_RX);
    __be16 proto = parse_eth(data, data_end, &eth);
    if (proto == 0)
        return verdict(SL_STEER_C_DROP_TRUNC, XDP_DROP);
    if (proto != bpf_htons(ETH_P_IP))
        return verdict(SL_STEER_C_PASS_NOT_IP, XDP_PASS);
    if (parse_ip4(eth + 1, data_end, &ip) < 0)
        return verdict(SL_STEER_C_DROP_TRUNC, XDP_DROP);

    struct sl_steer_cfg *cfg = bpf_map_lookup_elem(&sl_cfg, &zero);
    if (!cfg || ip->protocol != IPPROTO_TCP || ip->daddr != cfg->svc_addr)
        return verdict(SL_STEER_C_PASS_NOT_SVC, XDP_PASS);
    if (ip->frag_off & bpf_htons(0x3fff)) /* MF or an offset: no ports here */
        return verdict(SL_STEER_C_PASS_FRAG, XDP_PASS);
    if (parse_tcp((void *)ip + ip->ihl * 4, data_end, &tcp) < 0)
        return verdict(SL_STEER_C_DROP_TRUNC, XDP_DROP);
    if (cfg->svc_port && tcp->dest != cfg->svc_port)
        return verdict(SL_STEER_C_PASS_NOT_SVC, XDP_PASS);

    struct sl_steer_flow f = {
        .saddr = ip->saddr, .daddr = ip->daddr,
        .sport = tcp->source, .dport = tcp->dest, .proto = IPPROTO_TCP,
    };
    __u32 idx, *o = bpf_map_lookup_elem(&sl_override, &f);
    if (o) {
        idx = *o;
        count(SL_STEER_C_OVERRIDE);
    } else {
        __u32 m = cfg->m ? cfg->m : SL_STEER_M;
        __u32 bucket = sl_steer_hash(f.saddr, f.daddr, f.sport, f.dport) % m;
        __u32 *t = bpf_map_lookup_elem(&sl_maglev, &bucket);
        if (!t)
            return verdict(SL_STEER_C_DROP_NO_INST, XDP_DROP);
        idx = *t;
        count(SL_STEER_C_MAGLEV);
    }
    struct sl_steer_inst *in = bpf_map_lookup_elem(&sl_inst, &idx);
    if (!in || in->kind == 0)
        return verdict(SL_STEER_C_DROP_NO_INST, XDP_DROP);
    struct sl_steer_stat *st = bpf_map_lookup_elem(&sl_stats, &idx);
    if (st) {
        st->packets += 1;
        st->bytes += len;
    }
    if (in->kind == SL_STEER_INST_REMOTE)
        return encap(ctx, in, cfg->tun_src);
    set_macs(eth, in);
    count(SL_STEER_C_REDIRECT);
    return bpf_redirect(in->ifindex, 0);
}

/* On an instance host: IP-in-IP for us loses its outer header, so the
 * instance (which reads frames from the interface) sees the client's
 * segment as the client sent it. Everything else passes untouched. */
SEC("xdp")
int xdp_decap(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth;
    struct iphdr *ip;
    if (parse_eth(data, data_end, &eth) != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    if (parse_ip4(eth + 1, data_end, &ip) < 0 || ip->protocol != IPPROTO_IPIP)
        return XDP_PASS;
    if (ip->ihl != 5)
        return XDP_PASS;
    /* Move the Ethernet header forward over the outer IPv4 header. */
    struct ethhdr e = *eth;
    if (bpf_xdp_adjust_head(ctx, (int)sizeof(struct iphdr)))
        return XDP_PASS;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    eth = data;
    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    *eth = e;
    count(SL_STEER_C_DECAP);
    return XDP_PASS;
}

/* The receiving end of a veth pair that frames are XDP-redirected to must
 * run an XDP program (the veth driver delivers redirected frames through
 * its XDP path). */
SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
    return XDP_PASS;
}
