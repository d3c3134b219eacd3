/* The steering XDP program run on crafted frames with BPF_PROG_TEST_RUN
 * (bpf_prog_test_run_opts), its maps written through the control library.
 * Needs root and a kernel that allows BPF: exits 77 (skipped) otherwise. */
#include <stdio.h>

#ifndef SL_HAVE_STEER
int main(void)
{
    printf("test_steer_bpf: skipped (built without clang/bpftool/libbpf)\n");
    return 77;
}
#else
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fleet/steer.h"

#define SVC 0xc612000au /* 198.18.0.10 */
#define TUN 0xc6120901u /* 198.18.9.1: the front */
#define HOSTB 0xc6120902u /* 198.18.9.2: another host */
#define SLOT_A 3u
#define SLOT_B 5u

static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0xa};
static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0xb};
static const uint8_t mac_f[6] = {0x02, 0, 0, 0, 0, 0xf};

static uint16_t csum(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(b[i] << 8 | b[i + 1]);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* Ethernet + IPv4 + TCP SYN (+ payload bytes); returns the frame length. */
static size_t frame(uint8_t *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                    uint8_t proto, size_t payload)
{
    size_t l4 = proto == 6 ? 20 : 8, n = 14 + 20 + l4 + payload;
    memset(f, 0, n);
    memcpy(f, mac_f, 6);
    f[6] = 0x02;
    f[11] = 0xc;
    f[12] = 0x08;
    f[14] = 0x45;
    f[15] = 0x10;
    uint16_t tl = htons((uint16_t)(n - 14));
    memcpy(f + 16, &tl, 2);
    f[20] = 0x40; /* DF */
    f[22] = 64;
    f[23] = proto;
    uint32_t s = htonl(src), d = htonl(dst);
    memcpy(f + 26, &s, 4);
    memcpy(f + 30, &d, 4);
    uint16_t c = htons(csum(f + 14, 20));
    memcpy(f + 24, &c, 2);
    uint16_t sp = htons(sport), dp = htons(dport);
    memcpy(f + 34, &sp, 2);
    memcpy(f + 36, &dp, 2);
    if (proto == 6) {
        f[46] = 0x50;
        f[47] = 0x02; /* SYN */
    }
    for (size_t i = 0; i < payload; i++)
        f[14 + 20 + l4 + i] = (uint8_t)i;
    return n;
}

static int run(int prog, const uint8_t *in, size_t n, uint8_t *out, uint32_t *outn)
{
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (uint32_t)n,
                .data_out = out, .data_size_out = 2048, .repeat = 1);
    int r = bpf_prog_test_run_opts(prog, &o);
    if (r < 0)
        return -errno;
    if (outn)
        *outn = o.data_size_out;
    return (int)o.retval;
}

static uint64_t ctr(struct sl_steer *s, unsigned w)
{
    uint64_t v = 0;
    CHECK(sl_steer_counter(s, w, &v) == 0);
    return v;
}

/* A client port whose flow the table gives to `slot`. */
static uint16_t port_for(struct sl_steer *s, uint32_t slot)
{
    for (uint16_t p = 40000; p < 60000; p++) {
        struct sl_steer_tuple t = {0xc6120101u, SVC, p, 80};
        uint32_t got;
        int ov;
        if (sl_steer_lookup(s, &t, &got, &ov) == 0 && got == slot && !ov)
            return p;
    }
    return 0;
}

static void set_two(struct sl_steer *s, int both)
{
    struct sl_steer_instance v[2] = {
        {.slot = SLOT_A, .name = "a", .weight = 1, .kind = SL_STEER_INST_LOCAL, .ifindex = 1},
        {.slot = SLOT_B, .name = "b", .weight = 1, .kind = SL_STEER_INST_REMOTE,
         .host_addr = HOSTB},
    };
    memcpy(v[0].dmac, mac_a, 6);
    memcpy(v[0].smac, mac_f, 6);
    memcpy(v[1].dmac, mac_b, 6);
    memcpy(v[1].smac, mac_f, 6);
    CHECK(sl_steer_set_instances(s, v, both ? 2 : 1) == 0);
}

int main(void)
{
    char name[64], err[256];
    snprintf(name, sizeof(name), "unit-%d", (int)getpid());
    struct sl_steer *s;
    int r = sl_steer_load(name, &s, err, sizeof(err));
    if (r == -EPERM || r == -ENOSYS || r == -EACCES || r == -ENOENT || r == -EROFS) {
        printf("test_steer_bpf: skipped (%s)\n", err);
        sl_steer_unpin(name);
        return 77;
    }
    CHECK(r == 0);
    if (r < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int steer = sl_steer_prog_fd(s, "xdp_steer"), decap = sl_steer_prog_fd(s, "xdp_decap");
    CHECK(steer >= 0 && decap >= 0);
    CHECK(sl_steer_set_service(s, SVC, 80, TUN) == 0);
    set_two(s, 1);

    uint8_t in[256], out[2048];
    uint32_t on = 0;
    size_t n;

    /* Balance across the two slots through the real table. */
    unsigned on_a = 0, on_b = 0;
    for (uint16_t p = 1000; p < 3000; p++) {
        struct sl_steer_tuple t = {0xc6120101u, SVC, p, 80};
        uint32_t got;
        int ov;
        CHECK(sl_steer_lookup(s, &t, &got, &ov) == 0);
        on_a += got == SLOT_A;
        on_b += got == SLOT_B;
    }
    printf("2000 flows: %u to slot A, %u to slot B\n", on_a, on_b);
    CHECK(on_a > 800 && on_b > 800 && on_a + on_b == 2000);

    /* A SYN to the service goes to its bucket's instance: same host, redirect
     * with the instance's MAC. */
    uint16_t pa = port_for(s, SLOT_A), pb = port_for(s, SLOT_B);
    CHECK(pa && pb);
    n = frame(in, 0xc6120101u, pa, SVC, 80, 6, 0);
    uint64_t pk0, by0, pk1, by1;
    CHECK(sl_steer_stats(s, SLOT_A, &pk0, &by0) == 0);
    CHECK(run(steer, in, n, out, &on) == XDP_REDIRECT);
    CHECK(on == n && memcmp(out, mac_a, 6) == 0 && memcmp(out + 6, mac_f, 6) == 0);
    CHECK(memcmp(out + 12, in + 12, n - 12) == 0); /* only the MACs change */
    CHECK(sl_steer_stats(s, SLOT_A, &pk1, &by1) == 0);
    CHECK(pk1 == pk0 + 1 && by1 == by0 + n);
    CHECK(ctr(s, SL_STEER_C_REDIRECT) == 1 && ctr(s, SL_STEER_C_MAGLEV) == 1);

    /* Other host: IP-in-IP, outer header to the host, back out (XDP_TX). */
    n = frame(in, 0xc6120101u, pb, SVC, 80, 6, 100);
    CHECK(run(steer, in, n, out, &on) == XDP_TX);
    CHECK(on == n + 20);
    const uint8_t *oip = out + 14;
    uint32_t osrc, odst;
    uint16_t otl;
    memcpy(&osrc, oip + 12, 4);
    memcpy(&odst, oip + 16, 4);
    memcpy(&otl, oip + 2, 2);
    CHECK(memcmp(out, mac_b, 6) == 0 && out[12] == 0x08 && out[13] == 0x00);
    CHECK(oip[0] == 0x45 && oip[9] == 4 /* IPPROTO_IPIP */ && oip[8] == 64);
    CHECK(oip[1] == 0x10 && (oip[6] & 0x40)); /* TOS and DF copied (RFC 2003 3.1) */
    CHECK(ntohl(osrc) == TUN && ntohl(odst) == HOSTB && ntohs(otl) == n - 14 + 20);
    CHECK(csum(oip, 20) == 0); /* valid header checksum */
    CHECK(memcmp(out + 34, in + 14, n - 14) == 0); /* inner packet intact */
    CHECK(ctr(s, SL_STEER_C_ENCAP) == 1);

    /* The instance host's xdp_decap gives back the client's segment. */
    uint8_t dec[2048];
    uint32_t dn = 0;
    CHECK(run(decap, out, on, dec, &dn) == XDP_PASS);
    CHECK(dn == n && memcmp(dec + 12, in + 12, n - 12) == 0 && memcmp(dec, mac_b, 6) == 0);
    CHECK(ctr(s, SL_STEER_C_DECAP) == 1);
    n = frame(in, 0xc6120101u, pa, SVC, 80, 6, 0); /* not IP-in-IP: untouched */
    CHECK(run(decap, in, n, dec, &dn) == XDP_PASS && dn == n && memcmp(dec, in, n) == 0);

    /* Cost per packet of the program (kernel-measured, informational). */
    {
        n = frame(in, 0xc6120101u, pa, SVC, 80, 6, 0);
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (uint32_t)n,
                    .repeat = 200000);
        CHECK(bpf_prog_test_run_opts(steer, &o) == 0 && o.retval == XDP_REDIRECT);
        printf("xdp_steer, Maglev lookup + redirect: %u ns per packet (BPF_PROG_TEST_RUN, "
               "200000 runs)\n", o.duration);
        /* (IP-in-IP is not timed this way: repeated runs share one buffer,
         * and each would push another outer header into its headroom.) */
        n = frame(in, 0xc6120101u, pa, SVC, 80, 6, 0);
    }

    /* An override wins over the table, and goes away when deleted. */
    struct sl_steer_tuple ta = {0xc6120101u, SVC, pa, 80};
    uint32_t got;
    int ov;
    CHECK(sl_steer_override_set(s, &ta, SLOT_B) == 0);
    CHECK(sl_steer_lookup(s, &ta, &got, &ov) == 0 && got == SLOT_B && ov);
    CHECK(run(steer, in, n, out, &on) == XDP_TX && on == n + 20);
    CHECK(ctr(s, SL_STEER_C_OVERRIDE) == 1);
    CHECK(sl_steer_override_del(s, &ta) == 0);
    CHECK(run(steer, in, n, out, &on) == XDP_REDIRECT);
    CHECK(sl_steer_override_del(s, &ta) == -ENOENT);

    /* Not for the service: passed to the kernel, counted. */
    uint64_t ns0 = ctr(s, SL_STEER_C_PASS_NOT_SVC);
    n = frame(in, 0xc6120101u, pa, SVC, 80, 17, 10); /* UDP */
    CHECK(run(steer, in, n, out, &on) == XDP_PASS);
    n = frame(in, 0xc6120101u, pa, SVC + 1, 80, 6, 0); /* other address */
    CHECK(run(steer, in, n, out, &on) == XDP_PASS);
    n = frame(in, 0xc6120101u, pa, SVC, 81, 6, 0); /* other port */
    CHECK(run(steer, in, n, out, &on) == XDP_PASS);
    CHECK(ctr(s, SL_STEER_C_PASS_NOT_SVC) == ns0 + 3);
    n = frame(in, 0xc6120101u, pa, SVC, 80, 6, 0);
    in[12] = 0x08;
    in[13] = 0x06; /* ARP */
    CHECK(run(steer, in, n, out, &on) == XDP_PASS && ctr(s, SL_STEER_C_PASS_NOT_IP) == 1);
    n = frame(in, 0xc6120101u, pa, SVC, 80, 6, 0);
    in[20] = 0x20; /* MF: a first fragment */
    CHECK(run(steer, in, n, out, &on) == XDP_PASS && ctr(s, SL_STEER_C_PASS_FRAG) == 1);

    /* Truncated frames: dropped, counted, never read past the end. */
    n = frame(in, 0xc6120101u, pa, SVC, 80, 6, 0);
    CHECK(run(steer, in, 14 + 10, out, &on) == XDP_DROP); /* IP header cut */
    CHECK(run(steer, in, 14 + 20 + 8, out, &on) == XDP_DROP); /* TCP header cut */
    in[14] = 0x4f; /* IHL 60 bytes, frame shorter */
    CHECK(run(steer, in, n, out, &on) == XDP_DROP);
    in[14] = 0x44; /* IHL below 5 */
    CHECK(run(steer, in, n, out, &on) == XDP_DROP);
    CHECK(ctr(s, SL_STEER_C_DROP_TRUNC) == 4);

    /* An instance leaves: all buckets to the other; an override naming the
     * gone instance drops (counted) instead of sending to nobody. */
    set_two(s, 0);
    unsigned still_a = 0;
    for (uint16_t p = 1000; p < 1500; p++) {
        struct sl_steer_tuple t = {0xc6120101u, SVC, p, 80};
        still_a += sl_steer_lookup(s, &t, &got, &ov) == 0 && got == SLOT_A;
    }
    CHECK(still_a == 500);
    CHECK(sl_steer_override_set(s, &ta, SLOT_B) == 0);
    n = frame(in, 0xc6120101u, pa, SVC, 80, 6, 0);
    CHECK(run(steer, in, n, out, &on) == XDP_DROP && ctr(s, SL_STEER_C_DROP_NO_INST) == 1);
    CHECK(sl_steer_lookup(s, &ta, &got, &ov) == -ENOENT);
    CHECK(sl_steer_override_set(s, &ta, SL_STEER_MAX_INST) == -EINVAL);

    /* The maps are pinned: they outlive the loader's handle, and a second
     * process (here a second handle) opening them sees the same state. */
    CHECK(sl_steer_stats(s, SLOT_A, &pk0, &by0) == 0 && pk0 > 2);
    sl_steer_close(s);
    struct sl_steer *c;
    CHECK(sl_steer_open(name, &c, err, sizeof(err)) == 0);
    CHECK(sl_steer_lookup(c, &ta, &got, &ov) == -ENOENT && ov); /* override still there */
    CHECK(sl_steer_stats(c, SLOT_A, &pk1, &by1) == 0 && pk1 == pk0 && by1 == by0);
    uint64_t rx = 0;
    CHECK(sl_steer_counter(c, SL_STEER_C_RX, &rx) == 0 && rx > 10);
    sl_steer_close(c);
    CHECK(sl_steer_unpin(name) == 0);
    CHECK(sl_steer_open(name, &c, err, sizeof(err)) == -ENOENT);
    CHECK(sl_steer_open("../x", &c, err, sizeof(err)) == -EINVAL);

    printf("test_steer_bpf: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
#endif
