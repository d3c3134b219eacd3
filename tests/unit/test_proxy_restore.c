/* The library pieces slproxy relies on, through the whole stack on the
 * in-memory link and a virtual clock, with an shm store:
 *   - a body sent by reference survives a server crash: the restore reads
 *     the unacknowledged bytes back through ref_read (TRODS) and the client
 *     gets every byte once, in order, without a RST;
 *   - when ref_read cannot give the bytes back (the object changed or no
 *     back end answers), the restored flow is reset: the client gets a RST
 *     and never a wrong byte, and the record is deleted;
 *   - sl_conn_synced says when a checkpoint is in the store (sync), and
 *     sl_poll_fd asks for an immediate sl_run when work is queued. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io.h"
#include "stack/stack.h"
#include "store/store.h"

#include "check.h"

#define SRV_IP 0xc6120002u
#define CLI_IP 0xc6120001u
#define PORT 80
#define TOTAL (16u * 1024u * 1024u)

static uint64_t vnow = 10000000;
static uint64_t vclock(void *arg)
{
    (void)arg;
    return vnow;
}

static char g_uri[224], g_name[64];
static const uint8_t g_key[32] = "0123456789abcdef0123456789abcde";
static int g_ref_fail;
static unsigned g_ref_calls;

static uint8_t pat(uint64_t i) { return (uint8_t)(i * 151u + (i >> 11)); }

struct srv {
    struct sl_stack *s;
    struct sl_listener *l;
    sl_conn *c;
    uint64_t off; /* object offset of the next byte written */
};

static ssize_t ref_read(void *user, const char *obj, uint64_t off, void *buf, size_t len)
{
    (void)user;
    g_ref_calls++;
    if (g_ref_fail || strcmp(obj, "obj") != 0)
        return -ESTALE;
    for (size_t i = 0; i < len; i++)
        ((uint8_t *)buf)[i] = pat(off + i);
    return (ssize_t)len;
}

static void srv_pump(struct srv *sv)
{
    uint8_t buf[16384];
    while (sv->c && sv->off < TOTAL) {
        size_t n = TOTAL - sv->off < sizeof(buf) ? (size_t)(TOTAL - sv->off) : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = pat(sv->off + i);
        ssize_t w = sl_write_ref(sv->c, "obj", sv->off, buf, n);
        if (w <= 0)
            break;
        sv->off += (uint64_t)w;
    }
}

static void srv_conn_cb(sl_conn *c, unsigned ev, void *user)
{
    struct srv *sv = user;
    if (ev & SL_EV_CLOSED) {
        if (sv->c == c)
            sv->c = NULL;
        return;
    }
    srv_pump(sv);
}

static void srv_on_restore(sl_conn *c, const void *blob, size_t len, void *user)
{
    struct srv *sv = user;
    uint64_t base = 0;
    uint32_t seq0 = 0;
    CHECK(blob && len == 12);
    if (blob && len == 12) {
        memcpy(&seq0, blob, 4);
        memcpy(&base, (const uint8_t *)blob + 4, 8);
    }
    sv->off = base + (uint32_t)((uint32_t)sl_conn_write_off(c) - seq0); /* TRODS: position - start */
}

static void srv_listen_cb(sl_listener *l, void *user)
{
    struct srv *sv = user;
    sl_conn *c;
    while (sl_accept(l, &c) == 0) {
        sv->c = c;
        sl_conn_set_cb(c, srv_conn_cb, sv);
        if (!sl_conn_restored(c)) {
            uint8_t blob[12];
            uint32_t seq0 = (uint32_t)sl_conn_write_off(c);
            uint64_t base = 0;
            memcpy(blob, &seq0, 4);
            memcpy(blob + 4, &base, 8);
            CHECK(sl_conn_synced(c) == 0 || sl_conn_synced(c) == 1);
            CHECK(sl_conn_checkpoint(c, blob, sizeof(blob)) == 0);
            CHECK(sl_conn_synced(c) == 0); /* not written yet */
        }
        srv_pump(sv);
    }
}

static int srv_start(struct srv *sv, struct sl_io *io)
{
    char err[128];
    memset(sv, 0, sizeof(*sv));
    struct sl_config cfg = {.addr = SRV_IP, .prefix_len = 24, .store = g_uri, .store_key = g_key,
                            .sndbuf = 65536, .rcvbuf = 65536};
    if (sl_stack_create_io(&cfg, io, vclock, NULL, &sv->s, err, sizeof(err)) < 0)
        return -1;
    struct sl_listen_opts lo = {.durability = SL_DUR_SYNC, .ref_read = ref_read,
                                .on_restore = srv_on_restore};
    return sl_listen(sv->s, PORT, &lo, srv_listen_cb, sv, &sv->l);
}

struct cli {
    struct sl_stack *s;
    sl_conn *c;
    uint64_t rcvd;
    int bad, err;
};

static void cli_cb(sl_conn *c, unsigned ev, void *user)
{
    struct cli *cl = user;
    if (ev & SL_EV_CLOSED)
        return;
    uint8_t buf[8192];
    for (;;) {
        ssize_t n = sl_read(c, buf, sizeof(buf));
        if (n < 0 && n != -EAGAIN)
            cl->err = (int)n;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pat(cl->rcvd + (uint64_t)i))
                cl->bad++;
        cl->rcvd += (uint64_t)n;
    }
}

static void run(struct srv *sv, struct cli *cl, unsigned iters)
{
    for (unsigned i = 0; i < iters; i++) {
        if (sv && sv->s)
            sl_run(sv->s, 0);
        sl_run(cl->s, 0);
        vnow += 200;
    }
}

static uint64_t ctr(struct sl_stack *s, const char *name)
{
    for (unsigned i = 0; i < sl_stats_count(); i++)
        if (strcmp(sl_stats_name(i), name) == 0)
            return sl_stats_value(s, i);
    return ~0ull;
}

static void crash_once(int fail)
{
    struct sl_io *a, *b, *io;
    struct srv sv;
    struct cli cl;
    char err[128];
    sl_store_shm_unlink(g_name);
    g_ref_fail = 0;
    g_ref_calls = 0;
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    CHECK(srv_start(&sv, a) == 0);
    memset(&cl, 0, sizeof(cl));
    struct sl_config cc = {.addr = CLI_IP, .prefix_len = 24, .sndbuf = 65536, .rcvbuf = 65536};
    CHECK(sl_stack_create_io(&cc, b, vclock, NULL, &cl.s, err, sizeof(err)) == 0);
    CHECK(sl_connect(cl.s, SRV_IP, PORT, &cl.c) == 0);
    sl_conn_set_cb(cl.c, cli_cb, &cl);
    for (int i = 0; i < 200 && cl.rcvd < 300000; i++)
        run(&sv, &cl, 1);
    CHECK(sv.c && sl_conn_synced(sv.c) == 1); /* the checkpoint is in the store */
    CHECK(cl.rcvd > 0 && cl.rcvd < TOTAL);
    uint64_t at_crash = cl.rcvd;
    sl_stack_crash(sv.s, &io);
    vnow += 50000;
    run(NULL, &cl, 5);
    g_ref_fail = fail;
    CHECK(srv_start(&sv, io) == 0);
    CHECK(g_ref_calls > 0); /* the unacknowledged bytes were read back */
    run(&sv, &cl, 200000);
    printf("  ref_read %s: %llu bytes before the crash, %llu after, %d bad, client error %d\n",
           fail ? "fails" : "works", (unsigned long long)at_crash, (unsigned long long)cl.rcvd,
           cl.bad, sl_conn_error(cl.c));
    CHECK(cl.bad == 0); /* never a wrong byte */
    if (!fail) {
        CHECK(cl.rcvd == TOTAL);
        CHECK(ctr(cl.s, "tcp_rst_rx") == 0);
        CHECK(ctr(sv.s, "restore_ok") == 1);
    } else {
        CHECK(ctr(sv.s, "restore_ref_error") == 1);
        CHECK(ctr(cl.s, "tcp_rst_rx") >= 1); /* told at once, not left to time out */
        CHECK(sl_conn_error(cl.c) == -ECONNRESET);
        CHECK(ctr(sv.s, "persist_deletes") >= 1); /* the record is gone */
    }
    sl_stack_destroy(sv.s);
    sl_stack_destroy(cl.s);
    sl_store_shm_unlink(g_name);
}

static void poll_fd(void)
{
    struct sl_io *a, *b;
    struct sl_stack *s;
    char err[128];
    CHECK(sl_io_mem_pair(1500, 64, &a, &b) == 0);
    struct sl_config cfg = {.addr = CLI_IP, .prefix_len = 24};
    CHECK(sl_stack_create_io(&cfg, a, vclock, NULL, &s, err, sizeof(err)) == 0);
    int to = 5;
    sl_poll_fd(s, &to);
    CHECK(to == -1); /* nothing pending, no timer */
    sl_conn *c;
    CHECK(sl_connect(s, SRV_IP, PORT, &c) == 0);
    sl_poll_fd(s, &to);
    CHECK(to >= 0); /* the SYN is queued or its timer runs */
    sl_run(s, 0);
    sl_poll_fd(s, &to);
    CHECK(to > 0 && to <= 1000); /* the SYN's retransmission timer (RTO 1 s) */
    CHECK(sl_conn_synced(c) == -EINVAL); /* no durability */
    sl_stack_destroy(s);
    b->ops->destroy(b);
}

int main(void)
{
    snprintf(g_name, sizeof(g_name), "sltest-pxr-%d", (int)getpid());
    snprintf(g_uri, sizeof(g_uri), "shm:%s?slots=64&max=262144", g_name);
    printf("a body sent by reference, server crashed:\n");
    crash_once(0);
    crash_once(1);
    poll_fd();
    printf("test_proxy_restore: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
