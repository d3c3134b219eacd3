/* The interface between the steering data plane (bpf/steer.bpf.c) and its
 * control library (steer.c): map value layouts, counter indices and the
 * flow hash. Maps are the only interface between the two (as in Katran).
 * Included by BPF C (clang -target bpf) and by user-space C. */
#ifndef SL_FLEET_STEER_MAPS_H
#define SL_FLEET_STEER_MAPS_H

#include <linux/types.h>

#define SL_STEER_M 65537u      /* Maglev table size (prime) */
#define SL_STEER_MAX_INST 64u  /* instance slots */
#define SL_STEER_NO_INST 0xffffffffu
#define SL_STEER_OVERRIDES 65536u /* LRU entries for moved flows */

/* The service (one address and port; port 0 = every TCP port). Map
 * "sl_cfg", one entry. Addresses and ports in network byte order. */
struct sl_steer_cfg {
    __be32 svc_addr;
    __be16 svc_port;
    __u16 pad;
    __be32 tun_src; /* outer source address of IP-in-IP (the front's address) */
    __u32 m;        /* Maglev table size in use (SL_STEER_M) */
};

/* How to deliver to one instance. Map "sl_inst", SL_STEER_MAX_INST slots. */
#define SL_STEER_INST_LOCAL 1u  /* same host: bpf_redirect to ifindex */
#define SL_STEER_INST_REMOTE 2u /* other host: IP-in-IP to host_addr */
struct sl_steer_inst {
    __u32 kind;     /* 0 = slot unused, else SL_STEER_INST_* */
    __u32 ifindex;  /* egress interface; REMOTE: 0 = XDP_TX out the ingress one */
    __be32 host_addr; /* REMOTE: the host's address (outer destination) */
    __u8 dmac[6];   /* LOCAL: the instance's MAC; REMOTE: next hop's MAC */
    __u8 smac[6];   /* MAC of the egress interface */
};

/* A flow, as the client sends it (map "sl_override" key). */
struct sl_steer_flow {
    __be32 saddr; /* client */
    __be32 daddr; /* service */
    __be16 sport;
    __be16 dport;
    __u8 proto;
    __u8 pad[3];
};

/* Per-instance traffic (map "sl_stats", per-CPU, SL_STEER_MAX_INST). */
struct sl_steer_stat {
    __u64 packets;
    __u64 bytes;
};

/* Global counters (map "sl_ctr", per-CPU): every packet the program does not
 * steer is counted under the reason. */
enum sl_steer_ctr {
    SL_STEER_C_RX = 0,       /* frames seen */
    SL_STEER_C_PASS_NOT_IP,  /* not IPv4 (ARP, IPv6, VLAN): XDP_PASS */
    SL_STEER_C_PASS_NOT_SVC, /* IPv4 not for the service (or not TCP): XDP_PASS */
    SL_STEER_C_PASS_FRAG,    /* IPv4 fragment for the service: XDP_PASS */
    SL_STEER_C_DROP_TRUNC,   /* headers cut short or bad IHL: XDP_DROP */
    SL_STEER_C_DROP_NO_INST, /* bucket or override names no live instance: XDP_DROP */
    SL_STEER_C_DROP_ENCAP,   /* no headroom for the outer header: XDP_DROP */
    SL_STEER_C_OVERRIDE,     /* steered by the override map */
    SL_STEER_C_MAGLEV,       /* steered by the Maglev table */
    SL_STEER_C_REDIRECT,     /* delivered to a same-host instance */
    SL_STEER_C_ENCAP,        /* delivered IP-in-IP to another host */
    SL_STEER_C_DECAP,        /* xdp_decap: outer header removed */
    SL_STEER_C_MAX
};

/* The flow hash: a murmur3-style mix of the 5-tuple words as they sit in
 * the packet (network byte order); the same in the program and in user
 * space, so the control library can tell which bucket a flow falls in. */
static inline __u32 sl_steer_rotl(__u32 x, int r) { return (x << r) | (x >> (32 - r)); }
static inline __u32 sl_steer_mix(__u32 h, __u32 k)
{
    k *= 0xcc9e2d51u;
    k = sl_steer_rotl(k, 15);
    k *= 0x1b873593u;
    h ^= k;
    h = sl_steer_rotl(h, 13);
    return h * 5u + 0xe6546b64u;
}
static inline __u32 sl_steer_hash(__be32 saddr, __be32 daddr, __be16 sport, __be16 dport)
{
    __u32 h = 0x5eed5eedu;
    h = sl_steer_mix(h, (__u32)saddr);
    h = sl_steer_mix(h, (__u32)daddr);
    h = sl_steer_mix(h, (__u32)sport << 16 | (__u32)dport);
    h ^= 12;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

#endif
