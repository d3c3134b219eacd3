/* Authentic but hostile records through the whole stack: records sealed
 * with the right key whose control block no engine could have produced
 * (a zero MSS that used to kill every restoring instance with SIGFPE, a
 * peer address that is our own, sequence numbers out of order, a window
 * scale without the option, a timer an hour away), and garbage values
 * under the key prefix. Each is refused with its own counter; the genuine
 * flow beside them is restored and its stream completes byte-exact,
 * without a RST. The store is shm, as in test_persist.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet/fleet_key.h"
#include "stack/persist.h"
#include "stack/stack.h"
#include "state/flow.h"
#include "store/store.h"

#include "check.h"

#define SRV_IP 0xc6120002u /* 198.18.0.2 */
#define CLI_IP 0xc6120001u
#define PORT 80
#define TOTAL (6u * 1024u * 1024u)

static uint64_t vnow = 10000000;
static uint64_t vclock(void *arg)
{
    (void)arg;
    return vnow;
}

static char g_uri[224], g_name[64];
static const uint8_t g_key[32] = "0123456789abcdef0123456789abcde";
/* Records are sealed with the record key derived from the store key (the
 * fleet secret, src/fleet/fleet_key.h). */
static const uint8_t *rec_key(void)
{
    static struct sl_fleet_keys k;
    sl_fleet_keys_derive(g_key, &k);
    return k.record_mac;
}

static uint8_t pat(uint64_t i) { return (uint8_t)(i * 131u + (i >> 9)); }

struct peer {
    struct sl_stack *s;
    sl_conn *c;
    uint64_t sent, rcvd;
    int bad;
};

/* server: echo */
static void srv_conn_cb(sl_conn *c, unsigned ev, void *user)
{
    (void)user;
    if (ev & SL_EV_CLOSED)
        return;
    uint8_t buf[16384];
    for (;;) {
        size_t space = sl_write_space(c);
        if (space > sizeof(buf))
            space = sizeof(buf);
        ssize_t n = space ? sl_read(c, buf, space) : 0;
        if (n <= 0)
            break;
        CHECK(sl_write(c, buf, (size_t)n) == n);
    }
}

static void srv_listen_cb(sl_listener *l, void *user)
{
    sl_conn *c;
    while (sl_accept(l, &c) == 0)
        sl_conn_set_cb(c, srv_conn_cb, user);
}

static struct sl_stack *srv_start(struct sl_io *io)
{
    char err[128];
    struct sl_stack *s;
    struct sl_config cfg = {.addr = SRV_IP, .prefix_len = 24, .store = g_uri, .store_key = g_key,
                            .sndbuf = 65536, .rcvbuf = 65536};
    if (sl_stack_create_io(&cfg, io, vclock, NULL, &s, err, sizeof(err)) < 0) {
        fprintf(stderr, "server stack: %s\n", err);
        return NULL;
    }
    struct sl_listen_opts lo = {.durability = SL_DUR_SYNC};
    sl_listener *l;
    if (sl_listen(s, PORT, &lo, srv_listen_cb, NULL, &l) < 0)
        return NULL;
    return s;
}

static void cli_cb(sl_conn *c, unsigned ev, void *user)
{
    struct peer *cl = user;
    if (ev & SL_EV_CLOSED)
        return;
    uint8_t buf[8192];
    ssize_t n;
    while ((n = sl_read(c, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            cl->bad += buf[i] != pat(cl->rcvd + (uint64_t)i);
        cl->rcvd += (uint64_t)n;
    }
    while (cl->sent < TOTAL) {
        uint32_t k = TOTAL - cl->sent < sizeof(buf) ? (uint32_t)(TOTAL - cl->sent) : sizeof(buf);
        for (uint32_t i = 0; i < k; i++)
            buf[i] = pat(cl->sent + i);
        n = sl_write(c, buf, k);
        if (n <= 0)
            break;
        cl->sent += (uint64_t)n;
    }
}

static void run(struct sl_stack *srv, struct peer *cl, unsigned iters)
{
    for (unsigned i = 0; i < iters; i++) {
        if (srv)
            sl_run(srv, 0);
        sl_run(cl->s, 0);
        vnow += 200;
        cli_cb(cl->c, 0, cl);
    }
}

static uint64_t ctr(struct sl_stack *s, const char *name)
{
    for (unsigned i = 0; i < sl_stats_count(); i++)
        if (strcmp(sl_stats_name(i), name) == 0)
            return sl_stats_value(s, i);
    return ~0ull;
}

/* One forged variant of the genuine record: a phantom flow (rport) whose
 * control block is changed by `edit`, sealed with the right key. */
struct forge {
    const char *what, *counter;
    void (*edit)(struct sl_tcb *t);
};
static void ed_mss0(struct sl_tcb *t) { t->snd_mss = 0; }
static void ed_self(struct sl_tcb *t) { t->raddr = SRV_IP; }
static void ed_seq(struct sl_tcb *t) { t->snd_nxt = t->snd_una - 1000; }
static void ed_ws(struct sl_tcb *t)
{
    t->flags &= ~(uint32_t)SL_TF_WS_OK;
    t->snd_wscale = 14;
}
static void ed_timer(struct sl_tcb *t) { t->t_keep = vnow + 3600ull * 24 * 365 * 1000000; }
static void ed_rcv(struct sl_tcb *t) { t->rcv_read = t->rcv_nxt + 1; }
static const struct forge FORGED[] = {
    {"zero MSS", "restore_invalid_mss", ed_mss0},
    {"our own address as the peer", "restore_invalid_addr", ed_self},
    {"SND.NXT behind SND.UNA", "restore_invalid_sndseq", ed_seq},
    {"window scale without the option", "restore_invalid_window", ed_ws},
    {"a keepalive a year away", "restore_invalid_timer", ed_timer},
    {"RCV.READ past RCV.NXT", "restore_invalid_rcvseq", ed_rcv},
};
#define NFORGED (sizeof(FORGED) / sizeof(FORGED[0]))

static void put_forged(struct sl_store *st, const struct sl_record *r, const struct forge *fg,
                       uint16_t rport)
{
    struct sl_tcb t = r->tcb;
    t.rport = rport;
    fg->edit(&t);
    struct sl_record_in in = {.tcb = &t, .now_us = vnow, .epoch = 3, .gen = r->gen,
                              .snd_seq = r->snd_seq, .snd = sl_rec_flat(r->snd, r->snd_len),
                              .rcv_seq = r->rcv_seq, .rcv = sl_rec_flat(r->rcv, r->rcv_len),
                              .ckpt = r->ckpt, .ckpt_len = r->ckpt_len};
    static uint8_t out[1 << 19];
    ssize_t n = sl_record_encode(&in, rec_key(), out, sizeof(out));
    CHECK(n > 0);
    struct sl_flow f = {t.laddr, t.raddr, t.lport, t.rport};
    char key[SL_STORE_KEY_MAX];
    sl_flow_key(key, sizeof(key), &f, "rec");
    CHECK(sl_store_cas_epoch(st, key, 0, 3, NULL) == 0);
    CHECK(sl_store_put(st, key, out, (size_t)n, SL_STORE_ANY, 3, NULL) == 0);
}

static void put_garbage(struct sl_store *st, const char *key, const void *v, size_t n)
{
    CHECK(sl_store_cas_epoch(st, key, 0, 5, NULL) == 0);
    CHECK(sl_store_put(st, key, v, n, SL_STORE_ANY, 5, NULL) == 0);
}

static void hostile_records(void)
{
    struct sl_io *a, *b;
    struct peer cl = {0};
    char err[128];
    sl_store_shm_unlink(g_name);
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    struct sl_stack *srv = srv_start(a);
    CHECK(srv != NULL);
    struct sl_config ccfg = {.addr = CLI_IP, .prefix_len = 24, .sndbuf = 65536, .rcvbuf = 65536};
    CHECK(sl_stack_create_io(&ccfg, b, vclock, NULL, &cl.s, err, sizeof(err)) == 0);
    CHECK(sl_connect(cl.s, SRV_IP, PORT, &cl.c) == 0);
    sl_conn_set_cb(cl.c, cli_cb, &cl);
    run(srv, &cl, 60);
    CHECK(cl.rcvd > 0 && cl.rcvd < TOTAL);
    struct sl_io *io;
    sl_stack_crash(srv, &io);

    /* the genuine record, decoded with the key */
    struct sl_store *st;
    CHECK(sl_store_open(g_uri, &st) == 0);
    struct sl_flow f = {SRV_IP, CLI_IP, PORT, cl.c->tcb.lport};
    char key[SL_STORE_KEY_MAX];
    sl_flow_key(key, sizeof(key), &f, "rec");
    static uint8_t rec[1 << 19];
    size_t len = 0;
    uint64_t ver;
    CHECK(sl_store_get(st, key, rec, sizeof(rec), &len, &ver) == 0);
    struct sl_record r;
    CHECK(sl_record_decode(rec, len, rec_key(), &f, vnow, &r) == 0);
    for (unsigned i = 0; i < NFORGED; i++)
        put_forged(st, &r, &FORGED[i], (uint16_t)(50000 + i));
    /* garbage and a foreign value under the prefix, each with an owner */
    char gk[SL_STORE_KEY_MAX];
    struct sl_flow g = {SRV_IP, 0xc6120007u, PORT, 4242};
    sl_flow_key(gk, sizeof(gk), &g, "rec");
    put_garbage(st, gk, "not a record at all", 19);
    g.rport = 4343;
    sl_flow_key(gk, sizeof(gk), &g, "rec");
    put_garbage(st, gk, "{\"json\": \"from another application\"}", 36);
    sl_store_close(st);

    /* a new instance: refuses each forged record with its reason, restores
     * the genuine flow, and serves it to the end */
    srv = srv_start(io);
    CHECK(srv != NULL);
    if (!srv)
        return;
    for (unsigned i = 0; i < NFORGED; i++) {
        uint64_t v = ctr(srv, FORGED[i].counter);
        printf("  forged record, %s: %s %llu\n", FORGED[i].what, FORGED[i].counter,
               (unsigned long long)v);
        CHECK(v == 1);
    }
    printf("  garbage values: restore_bad_record %llu\n",
           (unsigned long long)ctr(srv, "restore_bad_record"));
    CHECK(ctr(srv, "restore_bad_record") == 2);
    CHECK(ctr(srv, "restore_ok") == 1);
    vnow += 1000000;
    run(srv, &cl, 40000);
    printf("  genuine flow: %llu/%u bytes echoed, %d wrong, RSTs %llu\n",
           (unsigned long long)cl.rcvd, TOTAL, cl.bad, (unsigned long long)ctr(cl.s, "tcp_rst_rx"));
    CHECK(cl.rcvd == TOTAL);
    CHECK(cl.bad == 0);
    CHECK(ctr(cl.s, "tcp_rst_rx") == 0);
    sl_stack_destroy(srv);
    sl_stack_destroy(cl.s);
    sl_store_shm_unlink(g_name);
}

/* A value far larger than any record under a flow key: refused by its
 * length alone, never read into memory (the store counts the bytes it
 * handed out), and the listener starts. */
static void oversized_value(void)
{
    struct sl_io *a, *b;
    char err[128];
    CHECK(sl_io_mem_pair(1500, 64, &a, &b) == 0);
    struct sl_config cfg = {.addr = SRV_IP, .prefix_len = 24, .store = "mem:",
                            .store_key = g_key, .sndbuf = 65536, .rcvbuf = 65536};
    struct sl_stack *s;
    CHECK(sl_stack_create_io(&cfg, a, vclock, NULL, &s, err, sizeof(err)) == 0);
    struct sl_store *st = sl_persist_store(s);
    size_t n = 64u << 20;
    uint8_t *v = calloc(1, n);
    CHECK(v != NULL);
    struct sl_flow f = {SRV_IP, CLI_IP, PORT, 999};
    char key[SL_STORE_KEY_MAX];
    sl_flow_key(key, sizeof(key), &f, "rec");
    CHECK(sl_store_cas_epoch(st, key, 0, 1, NULL) == 0);
    CHECK(sl_store_put(st, key, v, n, SL_STORE_ANY, 1, NULL) == 0);
    free(v);
    uint64_t got0 = sl_store_stats(st)->bytes_got;
    struct sl_listen_opts lo = {.durability = SL_DUR_SYNC};
    sl_listener *l;
    CHECK(sl_listen(s, PORT, &lo, srv_listen_cb, NULL, &l) == 0);
    uint64_t got = sl_store_stats(st)->bytes_got - got0;
    printf("  a %zu-byte value under a flow key: restore_oversize %llu, %llu bytes read\n", n,
           (unsigned long long)ctr(s, "restore_oversize"), (unsigned long long)got);
    CHECK(ctr(s, "restore_oversize") == 1);
    CHECK(ctr(s, "restore_ok") == 0);
    CHECK(got < (2u << 20));
    sl_stack_destroy(s);
    b->ops->destroy(b);
}

int main(void)
{
    snprintf(g_name, sizeof(g_name), "sltest-hostile-%d", (int)getpid());
    snprintf(g_uri, sizeof(g_uri), "shm:%s?slots=256&max=262144", g_name);
    hostile_records();
    oversized_value();
    printf("test_restore_hostile: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
