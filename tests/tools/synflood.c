/* SYN flood generator for the SYN-flood test and benchmark: spoofed SYNs
 * from random sources in 198.19.0.0/16 (inside the benchmarking range
 * 198.18.0.0/15, never elsewhere) sent as fast as possible through an
 * AF_PACKET socket (kernel TCP is not involved), for a bounded time.
 *
 * usage: synflood IFACE DST_MAC DST_IP DST_PORT SECONDS [MAX_PPS]
 * Prints "sent N in S s (R pps)". */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "wire/wire.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: synflood IFACE DST_MAC DST_IP DST_PORT SECONDS [MAX_PPS]\n");
        return 2;
    }
    uint8_t dmac[6];
    uint32_t dip;
    struct in_addr a;
    if (sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2], &dmac[3],
               &dmac[4], &dmac[5]) != 6 ||
        inet_pton(AF_INET, argv[3], &a) != 1) {
        fprintf(stderr, "synflood: bad MAC or IP\n");
        return 2;
    }
    dip = ntohl(a.s_addr);
    if ((dip >> 17) != (0xc6120000u >> 17)) {
        fprintf(stderr, "synflood: destination must be in 198.18.0.0/15\n");
        return 2;
    }
    uint16_t dport = (uint16_t)atoi(argv[4]);
    double secs = atof(argv[5]);
    double max_pps = argc > 6 ? atof(argv[6]) : 0;
    if (secs <= 0 || secs > 120) {
        fprintf(stderr, "synflood: SECONDS must be in (0, 120]\n");
        return 2;
    }
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        perror("ioctl");
        return 1;
    }
    uint8_t smac[6];
    memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
    ioctl(fd, SIOCGIFINDEX, &ifr);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = ifr.ifr_ifindex,
                              .sll_halen = 6};
    memcpy(sll.sll_addr, dmac, 6);
    int one = 1;
    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
    rng ^= sl_clock_us();

    enum { BATCH = 64 };
    static uint8_t frames[BATCH][128];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    uint64_t sent = 0, t0 = sl_clock_us(), end = t0 + (uint64_t)(secs * 1e6);
    for (;;) {
        uint64_t t = sl_clock_us();
        if (t >= end)
            break;
        if (max_pps > 0 && (double)sent > max_pps * (double)(t - t0) / 1e6) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        for (int i = 0; i < BATCH; i++) {
            uint8_t *p = frames[i];
            uint32_t src = 0xc6130000u | (uint32_t)(next() & 0xffff); /* 198.19.x.y */
            struct sl_tcp_seg s;
            memset(&s, 0, sizeof(s));
            s.sport = (uint16_t)(1024 + next() % 60000);
            s.dport = dport;
            s.seq = (uint32_t)next();
            s.flags = SL_TCP_SYN;
            s.wnd = 64240;
            s.opts.has_mss = 1;
            s.opts.mss = 1460;
            s.opts.sack_perm = 1;
            s.opts.has_ts = 1;
            s.opts.tsval = (uint32_t)next();
            s.opts.has_wscale = 1;
            s.opts.wscale = 7;
            size_t n = sl_eth_build(p, dmac, smac, SL_ETH_P_IP);
            size_t thl = sl_tcp_opts_len(&s.opts) + SL_TCP_HLEN;
            sl_ip4_build(p + n, src, dip, SL_IPPROTO_TCP, (uint16_t)next(), 64, thl);
            sl_tcp_build(p + n + SL_IP_HLEN, &s);
            sl_tcp_csum_finish(p + n + SL_IP_HLEN, thl, src, dip);
            iov[i].iov_base = p;
            iov[i].iov_len = n + SL_IP_HLEN + thl;
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &sll;
            msgs[i].msg_hdr.msg_namelen = sizeof(sll);
        }
        int r = sendmmsg(fd, msgs, BATCH, 0);
        if (r > 0)
            sent += (uint64_t)r;
        else if (errno != ENOBUFS && errno != EAGAIN) {
            perror("sendmmsg");
            return 1;
        }
    }
    double el = (double)(sl_clock_us() - t0) / 1e6;
    printf("sent %llu in %.2f s (%.0f pps)\n", (unsigned long long)sent, el, (double)sent / el);
    return 0;
}
