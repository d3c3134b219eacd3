/* io_echo: a tiny host on top of an sl_io backend, for integration tests of
 * the io layer without the rest of the stack. Frames are hand-crafted here
 * on purpose (no dependency on src/wire; byte order and clock from src/common).
 *
 *   io_echo [-t SECS] [-i IMPAIR_SPEC] IO_SPEC MY_IP
 *       answers ARP requests for MY_IP and ICMP echo requests to it, until
 *       SIGINT/SIGTERM or the -t deadline (default: none).
 *
 *   io_echo [-t SECS] [-i IMPAIR_SPEC] IO_SPEC MY_IP --tcp PEER_IP PORT SEND RECV
 *       additionally acts as a minimal TCP client: resolves PEER_IP by ARP,
 *       connects to PEER_IP:PORT, sends SEND bytes of the test pattern
 *       (byte k of a stream = k % 251) as TSO super-segments with checksum
 *       offload when the backend offers them, closes its side, expects
 *       exactly RECV pattern bytes and a FIN back. Exit status 0 only if
 *       everything arrived intact (default deadline 60 s).
 *
 * Output (stdout): "ready ..." once the backend is open, then at exit one
 * "ctr NAME VALUE" line per non-zero counter and "result ok" or
 * "result FAIL <why>".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/ctr.h"
#include "io/io.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static uint64_t g_ctr[SL_CTR__COUNT];
static struct sl_io *g_io;
static uint32_t g_ip; /* host order */


/* ---- checksums ---- */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += (uint64_t)(p[i] << 8 | p[i + 1]);
    if (i < len)
        sum += (uint64_t)p[i] << 8;
    return sum;
}
static uint16_t csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}
static uint64_t pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint32_t l4len)
{
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + l4len;
}
static uint8_t pattern(uint64_t k)
{
    return (uint8_t)(k % 251);
}

static void ctr_inc(enum sl_ctr c)
{
    g_ctr[c]++;
}

/* ---- transmit helpers ---- */
static uint8_t *tx_begin(uint32_t len)
{
    uint8_t *p = g_io->ops->tx_alloc(g_io, len);
    if (!p) {
        /* ring full (counted by the backend): push and retry once */
        g_io->ops->tx_flush(g_io);
        p = g_io->ops->tx_alloc(g_io, len);
    }
    return p;
}

static void ip_fill(uint8_t *ip, uint16_t totlen, uint16_t id, uint8_t proto, uint32_t src,
                    uint32_t dst)
{
    ip[0] = 0x45;
    ip[1] = 0;
    sl_put16(ip + 2, totlen);
    sl_put16(ip + 4, id);
    sl_put16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = proto;
    sl_put16(ip + 10, 0);
    sl_put32(ip + 12, src);
    sl_put32(ip + 16, dst);
    sl_put16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, 20)));
}

static void arp_send(int op, const uint8_t *tha, uint32_t tpa, const uint8_t *eth_dst)
{
    uint8_t *p = tx_begin(60);
    if (!p)
        return;
    memset(p, 0, 60);
    memcpy(p, eth_dst, 6);
    memcpy(p + 6, g_io->mac, 6);
    sl_put16(p + 12, 0x0806);
    uint8_t *a = p + 14;
    sl_put16(a, 1);
    sl_put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    sl_put16(a + 6, (uint16_t)op);
    memcpy(a + 8, g_io->mac, 6);
    sl_put32(a + 14, g_ip);
    if (tha)
        memcpy(a + 18, tha, 6);
    sl_put32(a + 24, tpa);
    if (g_io->ops->tx_commit(g_io, 60, NULL) == 0)
        ctr_inc(op == 1 ? SL_CTR_arp_request_tx : SL_CTR_arp_reply_tx);
}

/* ---- TCP client ---- */
enum { T_OFF, T_ARP, T_SYN, T_EST, T_DONE };
static struct {
    int state;
    uint32_t peer_ip;
    uint16_t port, lport;
    uint8_t peer_mac[6];
    uint32_t iss, snd_una, snd_nxt, snd_max, data_end; /* data_end = iss + 1 + send */
    uint32_t rcv_nxt;
    uint32_t peer_wnd;
    int peer_ws, my_ws;
    uint32_t mss;
    uint64_t send_total, expect_total, received;
    int fin_sent, peer_fin;
    uint64_t t_last_progress, t_last_ctl, t_start, t_est, t_send_done, t_recv_done;
    uint16_t ip_id;
    int bad;
    char why[128];
} T;

static const uint32_t RCV_WND = 4u << 20;

static void tcp_send(uint32_t seq, uint8_t flags, uint32_t payload, int syn_opts)
{
    uint32_t thl = syn_opts ? 28 : 20;
    uint32_t len = 14 + 20 + thl + payload;
    uint8_t *p = tx_begin(len);
    if (!p)
        return;
    memcpy(p, T.peer_mac, 6);
    memcpy(p + 6, g_io->mac, 6);
    sl_put16(p + 12, 0x0800);
    uint8_t *ip = p + 14, *th = p + 34;
    uint32_t nsegs = payload > T.mss ? (payload + T.mss - 1) / T.mss : 1;
    ip_fill(ip, (uint16_t)(20 + thl + payload), T.ip_id, 6, g_ip, T.peer_ip);
    T.ip_id = (uint16_t)(T.ip_id + nsegs);
    sl_put16(th, T.lport);
    sl_put16(th + 2, T.port);
    sl_put32(th + 4, seq);
    sl_put32(th + 8, (flags & 0x10) ? T.rcv_nxt : 0);
    th[12] = (uint8_t)((thl / 4) << 4);
    th[13] = flags;
    uint32_t wnd = syn_opts ? 65535 : RCV_WND >> T.my_ws;
    sl_put16(th + 14, (uint16_t)(wnd > 65535 ? 65535 : wnd));
    sl_put16(th + 16, 0);
    sl_put16(th + 18, 0);
    if (syn_opts) {
        uint8_t *o = th + 20;
        o[0] = 2, o[1] = 4;
        sl_put16(o + 2, (uint16_t)(g_io->mtu - 40));
        o[4] = 1; /* NOP */
        o[5] = 3, o[6] = 3, o[7] = (uint8_t)T.my_ws;
    }
    uint8_t *pl = th + thl;
    uint64_t off = (uint64_t)(seq - (T.iss + 1));
    for (uint32_t i = 0; i < payload; i++)
        pl[i] = pattern(off + i);

    struct sl_tx_meta meta = {0};
    uint64_t ps = pseudo_sum(g_ip, T.peer_ip, 6, thl + payload);
    if (g_io->csum_offload) {
        sl_put16(th + 16, csum_fold(ps)); /* pseudo-header only; device completes */
        meta.csum_partial = 1;
        meta.l4_off = 34;
    } else {
        sl_put16(th + 16, (uint16_t)~csum_fold(csum_add(ps, th, thl + payload)));
    }
    if (payload > T.mss)
        meta.gso_size = (uint16_t)T.mss;
    int rc = g_io->ops->tx_commit(g_io, len, (meta.csum_partial || meta.gso_size) ? &meta : NULL);
    if (rc == 0) {
        ctr_inc(SL_CTR_tcp_tx_segs);
        if (payload)
            ctr_inc(SL_CTR_tcp_tx_data_segs);
    }
    T.t_last_ctl = sl_clock_us();
}

static void tcp_ack(void)
{
    tcp_send(T.snd_nxt, 0x10, 0, 0);
}

static int seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}
static int seq_le(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

static void tcp_fail(const char *why)
{
    if (!T.bad) {
        T.bad = 1;
        snprintf(T.why, sizeof(T.why), "%s", why);
    }
}

static void tcp_output(uint64_t now)
{
    if (T.state == T_ARP) {
        if (now - T.t_last_ctl > 200000) {
            static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
            arp_send(1, NULL, T.peer_ip, bcast);
            T.t_last_ctl = now;
        }
        return;
    }
    if (T.state == T_SYN) {
        if (now - T.t_last_ctl > 500000)
            tcp_send(T.iss, 0x02, 0, 1);
        return;
    }
    if (T.state != T_EST)
        return;
    /* retransmission: go back to snd_una after 300 ms without progress */
    if (T.snd_una != T.snd_max && now - T.t_last_progress > 300000) {
        T.snd_nxt = T.snd_una;
        if (seq_le(T.snd_una, T.data_end))
            T.fin_sent = 0;
        T.t_last_progress = now;
        ctr_inc(SL_CTR_tcp_retransmits);
    }
    uint32_t max_payload = T.mss;
    if (g_io->max_gso >= 2 * T.mss)
        max_payload = (g_io->max_gso / T.mss) * T.mss;
    while (seq_lt(T.snd_nxt, T.data_end)) {
        uint32_t inflight = T.snd_nxt - T.snd_una;
        if (inflight >= T.peer_wnd)
            break;
        uint32_t seg = T.data_end - T.snd_nxt;
        if (seg > T.peer_wnd - inflight)
            seg = T.peer_wnd - inflight;
        if (seg > max_payload)
            seg = max_payload;
        if (seg < T.mss && seg < T.data_end - T.snd_nxt && inflight)
            break; /* wait for a bigger window */
        tcp_send(T.snd_nxt, 0x18, seg, 0);
        T.snd_nxt += seg;
        if (seq_lt(T.snd_max, T.snd_nxt))
            T.snd_max = T.snd_nxt;
    }
    if (T.snd_una == T.data_end && !T.fin_sent) {
        if (!T.t_send_done)
            T.t_send_done = now;
        tcp_send(T.data_end, 0x11, 0, 0);
        T.fin_sent = 1;
        T.snd_nxt = T.data_end + 1;
        T.snd_max = T.snd_nxt;
    }
    if (T.snd_una == T.data_end + 1 && T.peer_fin && T.received == T.expect_total)
        T.state = T_DONE;
}

static void tcp_input(const uint8_t *ip, uint32_t ihl, uint32_t totlen, int trusted)
{
    const uint8_t *th = ip + ihl;
    uint32_t l4len = totlen - ihl;
    if (l4len < 20)
        return;
    uint32_t thl = (uint32_t)(th[12] >> 4) * 4;
    if (thl < 20 || thl > l4len)
        return;
    if (sl_get16(th) != T.port || sl_get16(th + 2) != T.lport)
        return;
    if (!trusted &&
        csum_fold(csum_add(pseudo_sum(sl_get32(ip + 12), sl_get32(ip + 16), 6, l4len), th, l4len)) !=
            0xffff) {
        ctr_inc(SL_CTR_drop_tcp_csum);
        return;
    }
    ctr_inc(SL_CTR_tcp_rx_segs);
    uint8_t flags = th[13];
    uint32_t seq = sl_get32(th + 4), ack = sl_get32(th + 8);
    uint32_t plen = l4len - thl;
    const uint8_t *pl = th + thl;
    uint64_t now = sl_clock_us();
    if (flags & 0x04) {
        tcp_fail("connection reset by peer");
        T.state = T_DONE;
        return;
    }
    if (T.state == T_SYN) {
        if ((flags & 0x12) != 0x12 || ack != T.iss + 1)
            return;
        T.rcv_nxt = seq + 1;
        T.snd_una = T.snd_nxt = T.snd_max = T.iss + 1;
        T.peer_ws = -1;
        uint32_t peer_mss = 536;
        for (uint32_t i = 20; i < thl;) {
            uint8_t kind = th[i];
            if (kind == 0)
                break;
            if (kind == 1) {
                i++;
                continue;
            }
            if (i + 1 >= thl || th[i + 1] < 2 || i + th[i + 1] > thl)
                break;
            if (kind == 2 && th[i + 1] == 4)
                peer_mss = sl_get16(th + i + 2);
            if (kind == 3 && th[i + 1] == 3)
                T.peer_ws = th[i + 2] > 14 ? 14 : th[i + 2];
            i += th[i + 1];
        }
        if (T.peer_ws < 0)
            T.peer_ws = T.my_ws = 0;
        T.mss = peer_mss < g_io->mtu - 40 ? peer_mss : g_io->mtu - 40;
        T.peer_wnd = sl_get16(th + 14); /* not scaled in SYN-ACK */
        T.state = T_EST;
        T.t_est = now;
        T.t_last_progress = now;
        ctr_inc(SL_CTR_tcp_established);
        tcp_ack();
        return;
    }
    if (T.state != T_EST && T.state != T_DONE)
        return;
    if (flags & 0x10) {
        if (seq_lt(T.snd_una, ack) && seq_le(ack, T.snd_max)) {
            T.snd_una = ack;
            if (seq_lt(T.snd_nxt, ack))
                T.snd_nxt = ack;
            T.t_last_progress = now;
        }
        T.peer_wnd = (uint32_t)sl_get16(th + 14) << T.peer_ws;
    }
    int need_ack = 0;
    if (plen) {
        need_ack = 1;
        uint32_t skip = 0;
        if (seq_lt(seq, T.rcv_nxt)) {
            skip = T.rcv_nxt - seq;
            if (skip >= plen)
                skip = plen;
        } else if (seq != T.rcv_nxt) {
            skip = plen; /* out of order: drop, dup-ack */
            ctr_inc(SL_CTR_tcp_ooo_segs);
        }
        if (skip < plen) {
            for (uint32_t i = skip; i < plen; i++)
                if (pl[i] != pattern(T.received + (i - skip))) {
                    tcp_fail("received data does not match the pattern");
                    break;
                }
            T.received += plen - skip;
            T.rcv_nxt += plen - skip;
            if (T.received > T.expect_total)
                tcp_fail("received more data than expected");
            if (T.received == T.expect_total && !T.t_recv_done)
                T.t_recv_done = now;
        }
    }
    if ((flags & 0x01) && seq + plen == T.rcv_nxt && !T.peer_fin) {
        T.peer_fin = 1;
        T.rcv_nxt++;
        need_ack = 1;
    } else if ((flags & 0x01) && T.peer_fin) {
        need_ack = 1; /* retransmitted FIN */
    }
    if (need_ack)
        tcp_ack();
}

/* ---- frame dispatch ---- */
static void handle_frame(const struct sl_frame *f)
{
    const uint8_t *p = f->data;
    if (f->len < 14)
        return;
    uint16_t type = sl_get16(p + 12);
    if (type == 0x0806) {
        if (f->len < 42)
            return;
        const uint8_t *a = p + 14;
        if (sl_get16(a) != 1 || sl_get16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4)
            return;
        ctr_inc(SL_CTR_arp_rx);
        uint16_t op = sl_get16(a + 6);
        uint32_t spa = sl_get32(a + 14), tpa = sl_get32(a + 24);
        if (op == 1 && tpa == g_ip)
            arp_send(2, a + 8, spa, a + 8);
        if (T.state == T_ARP && spa == T.peer_ip) {
            memcpy(T.peer_mac, a + 8, 6);
            T.state = T_SYN;
            T.t_last_ctl = 0;
            ctr_inc(SL_CTR_arp_learned);
        }
        return;
    }
    if (type != 0x0800 || f->len < 34)
        return;
    if (memcmp(p, g_io->mac, 6) != 0)
        return;
    const uint8_t *ip = p + 14;
    uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
    uint32_t totlen = sl_get16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < 20 || totlen < ihl || totlen > f->len - 14)
        return;
    if (csum_fold(csum_add(0, ip, ihl)) != 0xffff) {
        ctr_inc(SL_CTR_drop_ip_csum);
        return;
    }
    if (sl_get32(ip + 16) != g_ip)
        return;
    if (sl_get16(ip + 6) & 0x3fff) {
        ctr_inc(SL_CTR_drop_ip_frag);
        return;
    }
    int trusted = (f->flags & SL_FRAME_CSUM_TRUSTED) != 0;
    if (ip[9] == 1) {
        const uint8_t *ic = ip + ihl;
        uint32_t iclen = totlen - ihl;
        if (iclen < 8 || ic[0] != 8)
            return;
        if (!trusted && csum_fold(csum_add(0, ic, iclen)) != 0xffff) {
            ctr_inc(SL_CTR_drop_icmp_csum);
            return;
        }
        ctr_inc(SL_CTR_icmp_echo_rx);
        uint32_t len = 14 + totlen;
        uint8_t *r = tx_begin(len);
        if (!r)
            return;
        memcpy(r, p + 6, 6);
        memcpy(r + 6, g_io->mac, 6);
        sl_put16(r + 12, 0x0800);
        memcpy(r + 14, ip, totlen);
        uint8_t *rip = r + 14;
        rip[8] = 64;
        memcpy(rip + 12, ip + 16, 4);
        memcpy(rip + 16, ip + 12, 4);
        sl_put16(rip + 10, 0);
        sl_put16(rip + 10, (uint16_t)~csum_fold(csum_add(0, rip, ihl)));
        uint8_t *ric = rip + ihl;
        ric[0] = 0;
        sl_put16(ric + 2, 0);
        sl_put16(ric + 2, (uint16_t)~csum_fold(csum_add(0, ric, iclen)));
        if (g_io->ops->tx_commit(g_io, len, NULL) == 0)
            ctr_inc(SL_CTR_icmp_echo_tx);
        return;
    }
    if (ip[9] == 6 && T.state != T_OFF && sl_get32(ip + 12) == T.peer_ip)
        tcp_input(ip, ihl, totlen, trusted);
}

static void usage(void)
{
    fprintf(stderr, "usage: io_echo [-t SECS] [-i IMPAIR_SPEC] IO_SPEC MY_IP "
                    "[--tcp PEER_IP PORT SEND_BYTES RECV_BYTES]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double timeout_s = 0;
    const char *impair = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "+t:i:")) != -1) {
        if (opt == 't')
            timeout_s = atof(optarg);
        else if (opt == 'i')
            impair = optarg;
        else
            usage();
    }
    if (argc - optind != 2 && argc - optind != 7)
        usage();
    const char *spec = argv[optind];
    struct in_addr a;
    if (inet_pton(AF_INET, argv[optind + 1], &a) != 1)
        usage();
    g_ip = ntohl(a.s_addr);
    if (argc - optind == 7) {
        if (strcmp(argv[optind + 2], "--tcp") != 0 ||
            inet_pton(AF_INET, argv[optind + 3], &a) != 1)
            usage();
        T.peer_ip = ntohl(a.s_addr);
        T.port = (uint16_t)atoi(argv[optind + 4]);
        T.send_total = strtoull(argv[optind + 5], NULL, 0);
        T.expect_total = strtoull(argv[optind + 6], NULL, 0);
        if (T.send_total > 1000000000ull)
            usage();
        T.state = T_ARP;
        T.lport = (uint16_t)(40000 + getpid() % 20000);
        T.iss = (uint32_t)sl_clock_us() * 2654435761u;
        T.data_end = T.iss + 1 + (uint32_t)T.send_total;
        T.my_ws = 7;
        T.ip_id = (uint16_t)getpid();
        if (!timeout_s)
            timeout_s = 60;
    }

    char err[256];
    int rc = sl_io_open(spec, &g_io, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "io_echo: %s\n", err);
        return 1;
    }
    if (impair) {
        struct sl_io *w;
        rc = sl_io_impair_wrap(g_io, impair, NULL, NULL, &w, err, sizeof(err));
        if (rc) {
            fprintf(stderr, "io_echo: %s\n", err);
            return 1;
        }
        g_io = w;
    }
    g_io->ctr = g_ctr;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    const uint8_t *m = g_io->mac;
    printf("ready backend=%s mac=%02x:%02x:%02x:%02x:%02x:%02x mtu=%u max_frame=%u max_gso=%u "
           "csum_offload=%d\n",
           g_io->ops->name, m[0], m[1], m[2], m[3], m[4], m[5], g_io->mtu, g_io->max_frame,
           g_io->max_gso, g_io->csum_offload);
    fflush(stdout);

    uint64_t t0 = sl_clock_us();
    T.t_start = t0;
    uint64_t deadline = timeout_s > 0 ? t0 + (uint64_t)(timeout_s * 1e6) : UINT64_MAX;
    int fd = g_io->ops->poll_fd(g_io);
    struct sl_frame frames[64];
    int timed_out = 0;
    while (!g_stop) {
        uint64_t now = sl_clock_us();
        if (now >= deadline) {
            timed_out = 1;
            break;
        }
        int n = g_io->ops->rx_burst(g_io, frames, 64);
        for (int i = 0; i < n; i++)
            handle_frame(&frames[i]);
        if (T.state != T_OFF)
            tcp_output(sl_clock_us());
        g_io->ops->tx_flush(g_io);
        if (T.state == T_DONE)
            break;
        if (n == 64)
            continue;
        g_io->ops->rx_release(g_io);
        if (fd >= 0) {
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            poll(&pf, 1, T.state != T_OFF ? 5 : 50);
        } else {
            usleep(200);
        }
    }
    g_io->ops->tx_flush(g_io);

    int ok = 1;
    const char *why = "";
    if (T.state != T_OFF) {
        uint64_t t_end = sl_clock_us();
        double est = T.t_est ? (double)(t_end - T.t_est) / 1e6 : 0;
        printf("tcp state=%d sent=%llu acked=%llu received=%llu/%llu peer_fin=%d mss=%u "
               "peer_wnd=%u elapsed=%.3fs\n",
               T.state, (unsigned long long)T.send_total,
               (unsigned long long)(T.state >= T_EST ? (uint32_t)(T.snd_una - T.iss - 1) : 0),
               (unsigned long long)T.received, (unsigned long long)T.expect_total, T.peer_fin,
               T.mss, T.peer_wnd, est);
        if (T.t_send_done && T.t_est)
            printf("tcp send %.1f Mbit/s\n",
                   (double)T.send_total * 8 / ((double)(T.t_send_done - T.t_est) + 1) );
        if (T.t_recv_done && T.t_send_done)
            printf("tcp recv %.1f Mbit/s\n",
                   (double)T.expect_total * 8 / ((double)(T.t_recv_done - T.t_send_done) + 1));
        if (T.bad) {
            ok = 0;
            why = T.why;
        } else if (T.state != T_DONE) {
            ok = 0;
            why = timed_out ? "tcp exchange timed out" : "tcp exchange interrupted";
        }
    }
    for (int i = 1; i < SL_CTR__COUNT; i++)
        if (g_ctr[i])
            printf("ctr %s %llu\n", sl_ctr_names[i], (unsigned long long)g_ctr[i]);
    if (ok)
        printf("result ok\n");
    else
        printf("result FAIL %s\n", why);
    fflush(stdout);
    g_io->ops->destroy(g_io);
    return ok ? 0 : 1;
}
