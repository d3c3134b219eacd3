/* The public seams, through the public header only: a device and a clock
 * from outside the library (sl_stack_create_dev, sl_config.clock_us), and
 * the restored checkpoint fetched by a call (sl_conn_restored_checkpoint)
 * after a restart onto the same device. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sltcp/sltcp.h>

#include "check.h"
#include "memdev.h"

#define SRV_IP 0xc6120002u /* 198.18.0.2 */
#define CLI_IP 0xc6120001u
#define PORT 7

static uint64_t vnow = 5000000;
static uint64_t vclock(void *arg)
{
    (*(unsigned *)arg)++;
    return vnow;
}
static unsigned clock_calls;

static int destroyed;
static int none_recv(void *ctx, void *buf, size_t cap) { return 0; }
static int none_send(void *ctx, const void *f, size_t len) { return 0; }
static void count_destroy(void *ctx) { destroyed++; }

static void create_checks(void)
{
    struct sl_config cfg = {.addr = SRV_IP, .prefix_len = 24};
    char err[128];
    sl_stack *s = NULL;
    /* a device without send: refused, and destroyed as promised */
    static const struct sl_device_ops no_send = {.recv = none_recv, .destroy = count_destroy};
    struct sl_device d = {.ops = &no_send};
    CHECK(sl_stack_create_dev(&cfg, &d, &s, err, sizeof(err)) == -EINVAL && !s);
    CHECK(destroyed == 1);
    static const struct sl_device_ops ok_ops = {
        .recv = none_recv, .send = none_send, .destroy = count_destroy};
    d = (struct sl_device){.ops = &ok_ops, .mtu = 40};
    CHECK(sl_stack_create_dev(&cfg, &d, &s, err, sizeof(err)) == -EINVAL && !s);
    CHECK(destroyed == 2);
    /* a bad configuration destroys the device too */
    struct sl_config bad = {.prefix_len = 24};
    d.mtu = 0;
    CHECK(sl_stack_create_dev(&bad, &d, &s, err, sizeof(err)) == -EINVAL && !s);
    CHECK(destroyed == 3);
    /* the clock: the stack's time is the injected one */
    cfg.clock_us = vclock;
    cfg.clock_arg = &clock_calls;
    CHECK(sl_stack_create_dev(&cfg, &d, &s, err, sizeof(err)) == 0 && s);
    vnow += 1234;
    CHECK(sl_run(s, 0) == 0);
    CHECK(sl_now_us(s) == vnow);
    CHECK(clock_calls > 0);
    sl_stack_destroy(s);
    CHECK(destroyed == 4); /* once, by sl_stack_destroy */
}

/* ---- a server that checkpoints "hello" and echoes ---- */
struct srv {
    sl_stack *s;
    sl_listener *l;
    sl_conn *c;
    int durable, restored, fresh_enoent, on_restore_calls;
    const void *cb_blob;
    char blob[16];
    size_t blob_len;
};

static void srv_cb(sl_conn *c, unsigned ev, void *u)
{
    struct srv *sv = u;
    if (ev & SL_EV_CLOSED) {
        sv->c = NULL;
        return;
    }
    char buf[512];
    ssize_t n;
    while ((n = sl_read(c, buf, sizeof(buf))) > 0)
        sl_write(c, buf, (size_t)n);
}

static void srv_on_restore(sl_conn *c, const void *blob, size_t len, void *u)
{
    struct srv *sv = u;
    sv->on_restore_calls++;
    sv->cb_blob = blob;
}

static void srv_accept(sl_listener *l, void *u)
{
    struct srv *sv = u;
    sl_conn *c;
    while (sl_accept(l, &c) == 0) {
        sv->c = c;
        sl_conn_set_cb(c, srv_cb, sv);
        const void *b;
        size_t len;
        int r = sl_conn_restored_checkpoint(c, &b, &len);
        if (r == -ENOENT && !sl_conn_restored(c)) {
            sv->fresh_enoent++;
            CHECK(b == NULL && len == 0);
            CHECK_EQ(sl_conn_checkpoint(c, "hello", 5), sv->durable ? 0 : -EINVAL);
        } else if (r == 0) {
            sv->restored++;
            CHECK(b == sv->cb_blob); /* the blob on_restore was given */
            sv->blob_len = len < sizeof(sv->blob) ? len : sizeof(sv->blob);
            memcpy(sv->blob, b, sv->blob_len);
        }
    }
}

static char g_store[96], g_shm[64];
static const uint8_t g_key[32] = "restored-checkpoint-test-key-32";

static int srv_start(struct srv *sv, const struct sl_device *dev)
{
    memset(sv, 0, sizeof(*sv));
    struct sl_config cfg = {.addr = SRV_IP, .prefix_len = 24, .store = g_store,
                            .store_key = g_key, .sndbuf = 4096, .rcvbuf = 4096,
                            .clock_us = vclock, .clock_arg = &clock_calls};
    char err[128];
    if (sl_stack_create_dev(&cfg, dev, &sv->s, err, sizeof(err)) < 0) {
        fprintf(stderr, "server: %s\n", err);
        return -1;
    }
    sv->durable = 1;
    struct sl_listen_opts lo = {.durability = SL_DUR_SYNC, .on_restore = srv_on_restore};
    return sl_listen(sv->s, PORT, &lo, srv_accept, sv, &sv->l);
}

static unsigned got;
static void cli_cb(sl_conn *c, unsigned ev, void *u)
{
    char buf[512];
    ssize_t n;
    while ((n = sl_read(c, buf, sizeof(buf))) > 0)
        got += (unsigned)n;
}

static void pump(sl_stack *a, sl_stack *b, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        if (a)
            sl_run(a, 0);
        sl_run(b, 0);
        vnow += 100;
    }
}

static void restart_checks(void)
{
    struct sl_device da, db;
    struct memdev_pair *mp = memdev_pair(1500, 256, &da, &db);
    CHECK(mp != NULL);
    struct srv sv;
    CHECK(srv_start(&sv, &da) == 0);
    struct sl_config cc = {.addr = CLI_IP, .prefix_len = 24, .sndbuf = 4096, .rcvbuf = 4096,
                           .clock_us = vclock, .clock_arg = &clock_calls};
    sl_stack *C;
    char err[128];
    CHECK(sl_stack_create_dev(&cc, &db, &C, err, sizeof(err)) == 0);
    sl_conn *c;
    CHECK(sl_connect(C, SRV_IP, PORT, &c) == 0);
    sl_conn_set_cb(c, cli_cb, NULL);
    pump(sv.s, C, 50);
    CHECK(sv.fresh_enoent == 1 && sv.c);
    CHECK(sl_write(c, "ping", 4) == 4);
    pump(sv.s, C, 50);
    CHECK(got == 4);

    /* the server stops (its flows' last state goes to the store) and a new
     * instance starts on the same device */
    sl_stack_destroy(sv.s);
    memdev_clear(mp, 0);
    CHECK(srv_start(&sv, &da) == 0);
    CHECK(sl_write(c, "pong", 4) == 4);
    pump(sv.s, C, 200);
    printf("  restarted: restore_ok %llu, accepted %d restored, on_restore %d, echoed %u\n",
           (unsigned long long)stat_get(sv.s, "restore_ok"), sv.restored, sv.on_restore_calls,
           got);
    CHECK(sv.restored == 1 && sv.on_restore_calls == 1);
    CHECK(sv.blob_len == 5 && memcmp(sv.blob, "hello", 5) == 0);
    CHECK(got == 8);
    CHECK(sl_conn_error(c) == 0);
    /* a new checkpoint replaces the restored one */
    if (sv.c) {
        const void *b;
        size_t len;
        CHECK(sl_conn_checkpoint(sv.c, "x", 1) == 0);
        CHECK(sl_conn_restored_checkpoint(sv.c, &b, &len) == 0 && len == 1);
        CHECK(sl_conn_restored_checkpoint(sv.c, NULL, &len) == -EINVAL);
    }
    sl_stack_destroy(sv.s);
    sl_stack_destroy(C);
    memdev_free(mp);
}

/* A device that is full (-EAGAIN) loses the frame like a full link: counted,
 * and TCP retransmits. */
static void full_device_checks(void)
{
    struct sl_device da, db;
    struct memdev_pair *mp = memdev_pair(1500, 3, &da, &db);
    struct sl_config sc = {.addr = SRV_IP, .prefix_len = 24, .clock_us = vclock,
                           .clock_arg = &clock_calls};
    struct sl_config cc = sc;
    cc.addr = CLI_IP;
    sl_stack *S, *C;
    char err[128];
    CHECK(sl_stack_create_dev(&sc, &da, &S, err, sizeof(err)) == 0);
    CHECK(sl_stack_create_dev(&cc, &db, &C, err, sizeof(err)) == 0);
    struct srv sv = {.s = S};
    CHECK(sl_listen(S, PORT, NULL, srv_accept, &sv, &sv.l) == 0);
    sl_conn *c;
    got = 0;
    CHECK(sl_connect(C, SRV_IP, PORT, &c) == 0);
    sl_conn_set_cb(c, cli_cb, NULL);
    pump(S, C, 50);
    static char big[40000];
    CHECK(sl_write(c, big, sizeof(big)) > 0);
    for (int i = 0; i < 2000 && got < sizeof(big); i++)
        pump(S, C, 10), vnow += 20000;
    printf("  full device: %llu frames refused, %u of %zu bytes echoed\n",
           (unsigned long long)(stat_get(S, "drop_tx_ring_full") +
                                stat_get(C, "drop_tx_ring_full")),
           got, sizeof(big));
    CHECK(stat_get(C, "drop_tx_ring_full") + stat_get(S, "drop_tx_ring_full") > 0);
    CHECK(got == sizeof(big));
    sl_stack_destroy(S);
    sl_stack_destroy(C);
    memdev_free(mp);
}

int main(void)
{
    snprintf(g_shm, sizeof(g_shm), "sltest-apidev-%d", (int)getpid());
    snprintf(g_store, sizeof(g_store), "shm:%s?slots=64&max=65536", g_shm);
    RUN(create_checks);
    RUN(restart_checks);
    RUN(full_device_checks);
    char path[80];
    snprintf(path, sizeof(path), "/%s", g_shm);
    shm_unlink(path);
    return check_finish("test_api_device");
}
