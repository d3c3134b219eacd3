/* Externalized state through the whole stack, on the in-memory link and a
 * virtual clock (externalized state):
 *   - sync durability: frames leave only after their state is stored;
 *     with the store down they are discarded (counted), the connection
 *     stalls, and it resumes byte-exact when the store is back;
 *   - crash and restore: the server "dies" (sl_stack_crash: no final
 *     write) at many points of an echo transfer; a new stack on the same
 *     device and store restores the flow and the client's stream goes on
 *     byte-exact, without a RST, at level 1 (no application change) and
 *     level 2 (sl_conn_commit);
 *   - the store as untrusted input: a tampered, random or foreign record
 *     is refused and counted, never loaded;
 *   - the checkpoint comes back through on_restore;
 *   - a superseded owner drops the flow silently (no RST), and takes it
 *     back on demand when the client's segments still reach it.
 * The store is shm (a region per test run) so that two stacks share it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ---- server: echo, level 1 (read only what can be written back) or level
 * 2 (commit after writing back) ---- */
struct srv {
    struct sl_stack *s;
    struct sl_listener *l;
    sl_conn *c;
    int commit;
    int restored_cb;
    uint8_t ckpt[16];
    size_t ckpt_len;
};

static void srv_conn_cb(sl_conn *c, unsigned ev, void *user)
{
    struct srv *sv = user;
    if (ev & SL_EV_CLOSED) {
        if (sv->c == c)
            sv->c = NULL;
        return;
    }
    uint8_t buf[16384];
    for (;;) {
        size_t space = sl_write_space(c);
        if (space > sizeof(buf))
            space = sizeof(buf);
        if (!space)
            break;
        ssize_t n = sl_read(c, buf, space);
        if (n <= 0)
            break;
        CHECK(sl_write(c, buf, (size_t)n) == n);
        if (sv->commit)
            CHECK(sl_conn_commit(c, (size_t)n) == 0);
    }
}

static void srv_on_restore(sl_conn *c, const void *blob, size_t len, void *user)
{
    struct srv *sv = user;
    (void)c;
    sv->restored_cb++;
    sv->ckpt_len = len < sizeof(sv->ckpt) ? len : sizeof(sv->ckpt);
    if (blob)
        memcpy(sv->ckpt, blob, sv->ckpt_len);
}

static void srv_listen_cb(sl_listener *l, void *user)
{
    struct srv *sv = user;
    sl_conn *c;
    while (sl_accept(l, &c) == 0) {
        sv->c = c;
        sl_conn_set_cb(c, srv_conn_cb, sv);
        if (!sl_conn_restored(c) || sv->ckpt_len == 0) /* new, or restored half-open */
            CHECK(sl_conn_checkpoint(c, "hello", 5) == 0);
    }
}

static int srv_start(struct srv *sv, struct sl_io *io, int commit, enum sl_durability dur)
{
    char err[128];
    memset(sv, 0, sizeof(*sv));
    sv->commit = commit;
    struct sl_config cfg = {.addr = SRV_IP, .prefix_len = 24, .store = g_uri, .store_key = g_key,
                            .sndbuf = 65536, .rcvbuf = 65536};
    if (sl_stack_create_io(&cfg, io, vclock, NULL, &sv->s, err, sizeof(err)) < 0) {
        fprintf(stderr, "server stack: %s\n", err);
        return -1;
    }
    struct sl_listen_opts lo = {.durability = dur, .commit = commit,
                                .on_restore = srv_on_restore};
    return sl_listen(sv->s, PORT, &lo, srv_listen_cb, sv, &sv->l);
}

/* ---- client: writes a pattern, checks the echo ---- */
struct cli {
    struct sl_stack *s;
    sl_conn *c;
    uint64_t sent, rcvd;
    int bad, connected;
};

static uint8_t pat(uint64_t i) { return (uint8_t)(i * 131u + (i >> 9)); }

static void cli_cb(sl_conn *c, unsigned ev, void *user)
{
    struct cli *cl = user;
    if (ev & SL_EV_CONNECTED)
        cl->connected = 1;
    if (ev & SL_EV_CLOSED)
        return;
    uint8_t buf[8192];
    for (;;) {
        ssize_t n = sl_read(c, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pat(cl->rcvd + (uint64_t)i))
                cl->bad++;
        cl->rcvd += (uint64_t)n;
    }
    while (cl->sent < TOTAL) {
        uint32_t k = TOTAL - cl->sent < sizeof(buf) ? (uint32_t)(TOTAL - cl->sent) : sizeof(buf);
        for (uint32_t i = 0; i < k; i++)
            buf[i] = pat(cl->sent + i);
        ssize_t n = sl_write(c, buf, k);
        if (n <= 0)
            break;
        cl->sent += (uint64_t)n;
    }
}

static int cli_start(struct cli *cl, struct sl_io *io)
{
    char err[128];
    memset(cl, 0, sizeof(*cl));
    struct sl_config cfg = {.addr = CLI_IP, .prefix_len = 24, .sndbuf = 65536, .rcvbuf = 65536};
    if (sl_stack_create_io(&cfg, io, vclock, NULL, &cl->s, err, sizeof(err)) < 0)
        return -1;
    if (sl_connect(cl->s, SRV_IP, PORT, &cl->c) < 0)
        return -1;
    sl_conn_set_cb(cl->c, cli_cb, cl);
    return 0;
}

static void run(struct srv *sv, struct cli *cl, unsigned iters)
{
    for (unsigned i = 0; i < iters; i++) {
        if (sv && sv->s)
            sl_run(sv->s, 0);
        sl_run(cl->s, 0);
        vnow += 200; /* 0.2 ms per round */
        if (cl->c)
            cli_cb(cl->c, 0, cl); /* keep the pattern flowing */
    }
}

static uint64_t ctr(struct sl_stack *s, const char *name)
{
    for (unsigned i = 0; i < sl_stats_count(); i++)
        if (strcmp(sl_stats_name(i), name) == 0)
            return sl_stats_value(s, i);
    return ~0ull;
}

/* Crash the server every `every` rounds until the transfer is done. */
static void crash_restore(int commit, enum sl_durability dur, unsigned every, unsigned seed)
{
    struct sl_io *a, *b;
    struct srv sv;
    struct cli cl;
    sl_store_shm_unlink(g_name);
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    CHECK(srv_start(&sv, a, commit, dur) == 0);
    CHECK(cli_start(&cl, b) == 0);
    unsigned crashes = 0, restored = 0, ckpt_ok = 0;
    uint64_t rst_before = 0;
    srand(seed);
    for (unsigned round = 0; round < 400 && cl.rcvd < TOTAL; round++) {
        run(&sv, &cl, every / 2 + (unsigned)rand() % every);
        if (cl.rcvd >= TOTAL)
            break;
        struct sl_io *io;
        sl_stack_crash(sv.s, &io);
        crashes++;
        vnow += 50000; /* the restart takes 50 ms */
        run(NULL, &cl, 5);
        CHECK(srv_start(&sv, io, commit, dur) == 0);
        restored += (unsigned)ctr(sv.s, "restore_ok");
        run(&sv, &cl, 1);
        if (sv.restored_cb && sv.ckpt_len == 5 && memcmp(sv.ckpt, "hello", 5) == 0)
            ckpt_ok++;
    }
    run(&sv, &cl, 20000);
    printf("  commit=%d dur=%d every=%u: %u crashes, %u restores, checkpoint back %u times, "
           "%llu/%u bytes echoed, %d bad, client RSTs %llu\n",
           commit, (int)dur, every, crashes, restored, ckpt_ok, (unsigned long long)cl.rcvd, TOTAL,
           cl.bad, (unsigned long long)ctr(cl.s, "tcp_rst_rx"));
    CHECK(crashes >= (every > 10 ? 2u : 10u));
    if (dur == SL_DUR_SYNC) {
        CHECK(restored >= crashes - 1);
        CHECK(ckpt_ok >= crashes - 1);
        CHECK(cl.rcvd == TOTAL);
        CHECK(cl.bad == 0);
        CHECK(ctr(cl.s, "tcp_rst_rx") == rst_before);
        CHECK(sl_conn_error(cl.c) == 0);
        /* the 64-bit stream offset is part of the state: it counts every
         * byte the echo wrote, across all the instances */
        CHECK(sv.c != NULL && sl_conn_write_off(sv.c) == TOTAL);
    }
    sl_stack_destroy(sv.s);
    sl_stack_destroy(cl.s);
    sl_store_shm_unlink(g_name);
}

/* No built-in key: a store without a secret key is refused, with a message. */
static void no_key(void)
{
    struct sl_io *a, *b;
    struct sl_stack *s = NULL;
    char err[160] = "";
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    struct sl_config cfg = {.addr = SRV_IP, .prefix_len = 24, .store = "mem:"};
    CHECK(sl_stack_create_io(&cfg, a, vclock, NULL, &s, err, sizeof(err)) == -EINVAL);
    CHECK(s == NULL);
    CHECK(strstr(err, "key") != NULL);
    b->ops->destroy(b); /* `a` went with the failed stack */
}

/* Store down: held output is discarded, the flow stalls, then resumes. */
static void store_down(void)
{
    struct sl_io *a, *b;
    struct srv sv;
    struct cli cl;
    char uri[240];
    snprintf(uri, sizeof(uri), "fault:/%.200s", g_uri);
    char saved[224];
    memcpy(saved, g_uri, sizeof(saved));
    snprintf(g_uri, sizeof(g_uri), "%.200s", uri);
    sl_store_shm_unlink(g_name);
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    CHECK(srv_start(&sv, a, 0, SL_DUR_SYNC) == 0);
    CHECK(cli_start(&cl, b) == 0);
    run(&sv, &cl, 60);
    CHECK(cl.rcvd > 0);
    uint64_t at = cl.rcvd;
    CHECK(sl_store_fault_disconnect(sl_persist_store(sv.s), true) == 0);
    run(&sv, &cl, 2000);
    uint64_t frozen = cl.rcvd;
    CHECK(ctr(sv.s, "drop_tx_held_discard") > 0);
    CHECK(ctr(sv.s, "persist_store_errors") > 0);
    CHECK(frozen - at < 200000); /* at most what was in flight */
    CHECK(sl_store_fault_disconnect(sl_persist_store(sv.s), false) == 0);
    run(&sv, &cl, 60000);
    printf("  store down: %llu bytes before, %llu while down, %llu after; discarded frames %llu\n",
           (unsigned long long)at, (unsigned long long)(frozen - at),
           (unsigned long long)cl.rcvd, (unsigned long long)ctr(sv.s, "drop_tx_held_discard"));
    CHECK(cl.rcvd == TOTAL);
    CHECK(cl.bad == 0);
    CHECK(ctr(cl.s, "tcp_rst_rx") == 0);
    sl_stack_destroy(sv.s);
    sl_stack_destroy(cl.s);
    memcpy(g_uri, saved, sizeof(saved));
    sl_store_shm_unlink(g_name);
}

/* The store as untrusted input (hostile input). mode 0: one byte of the record
 * flipped; 1: the record replaced by random bytes; 2: the record copied
 * under another flow's key (a foreign record). A bad record is refused and
 * counted, never loaded; the flow is then unknown and the client's next
 * segment gets a RST (modes 0, 1). In mode 2 the real record still
 * restores and the transfer completes byte-exact. */
static void untrusted(int mode)
{
    static const char *const what[] = {"one byte flipped", "random bytes", "foreign record"};
    struct sl_io *a, *b;
    struct srv sv;
    struct cli cl;
    sl_store_shm_unlink(g_name);
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    CHECK(srv_start(&sv, a, 0, SL_DUR_SYNC) == 0);
    CHECK(cli_start(&cl, b) == 0);
    run(&sv, &cl, 60);
    CHECK(cl.rcvd > 0 && cl.rcvd < TOTAL);
    struct sl_io *io;
    sl_stack_crash(sv.s, &io);
    struct sl_store *st;
    CHECK(sl_store_open(g_uri, &st) == 0);
    char key[SL_STORE_KEY_MAX];
    struct sl_flow f = {SRV_IP, CLI_IP, PORT, cl.c->tcb.lport};
    sl_flow_key(key, sizeof(key), &f, "rec");
    static uint8_t rec[1 << 20];
    size_t len = 0;
    uint64_t ver, e = 0;
    CHECK(sl_store_get(st, key, rec, sizeof(rec), &len, &ver) == 0);
    CHECK(sl_store_epoch_get(st, key, &e) == 0);
    const char *dump = getenv("SL_DUMP_RECORD"); /* seeds for fuzz/fuzz_restore.c */
    if (dump && mode == 0) {
        FILE *df = fopen(dump, "wb");
        if (df) {
            fwrite(rec, 1, len, df);
            fclose(df);
        }
    }
    if (mode == 0) {
        rec[len / 2] ^= 0x40;
        CHECK(sl_store_put(st, key, rec, len, SL_STORE_ANY, e, NULL) == 0);
    } else if (mode == 1) {
        for (size_t i = 0; i < len; i++)
            rec[i] = (uint8_t)(i * 2654435761u >> 13);
        CHECK(sl_store_put(st, key, rec, len, SL_STORE_ANY, e, NULL) == 0);
    } else {
        struct sl_flow g = f;
        char gkey[SL_STORE_KEY_MAX];
        g.rport++;
        sl_flow_key(gkey, sizeof(gkey), &g, "rec");
        CHECK(sl_store_cas_epoch(st, gkey, 0, e, NULL) == 0);
        CHECK(sl_store_put(st, gkey, rec, len, SL_STORE_ANY, e, NULL) == 0);
    }
    sl_store_close(st);
    CHECK(srv_start(&sv, io, 0, SL_DUR_SYNC) == 0);
    CHECK(ctr(sv.s, "restore_bad_record") == 1);
    CHECK(ctr(sv.s, "restore_ok") == (mode == 2 ? 1u : 0u));
    vnow += 2000000;
    run(&sv, &cl, 40000);
    printf("  untrusted store, %s: refused %llu, restored %llu; client %llu/%u bytes, %d bad, "
           "RSTs %llu\n",
           what[mode], (unsigned long long)ctr(sv.s, "restore_bad_record"),
           (unsigned long long)ctr(sv.s, "restore_ok"), (unsigned long long)cl.rcvd, TOTAL,
           cl.bad, (unsigned long long)ctr(cl.s, "tcp_rst_rx"));
    CHECK(cl.bad == 0); /* never a wrong byte */
    if (mode == 2) {
        CHECK(cl.rcvd == TOTAL);
        CHECK(ctr(cl.s, "tcp_rst_rx") == 0);
    } else {
        /* the client retransmits; the flow is unknown: RST */
        CHECK(ctr(cl.s, "tcp_rst_rx") >= 1);
        CHECK(sl_conn_error(cl.c) == -ECONNRESET);
    }
    sl_stack_destroy(sv.s);
    sl_stack_destroy(cl.s);
    sl_store_shm_unlink(g_name);
}

/* Two owners: the second restores the flow (epoch + 1); the first one's
 * next write fails with -ESTALE and it drops the flow without a RST. */
static void superseded(void)
{
    struct sl_io *a, *b, *a2, *b2;
    struct srv sv, sv2;
    struct cli cl;
    sl_store_shm_unlink(g_name);
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    CHECK(sl_io_mem_pair(1500, 4096, &a2, &b2) == 0);
    CHECK(srv_start(&sv, a, 0, SL_DUR_SYNC) == 0);
    CHECK(cli_start(&cl, b) == 0);
    run(&sv, &cl, 60);
    CHECK(srv_start(&sv2, a2, 0, SL_DUR_SYNC) == 0); /* restores the flow */
    CHECK(ctr(sv2.s, "restore_ok") == 1);
    sl_run(sv2.s, 0); /* the new owner writes its record */
    uint64_t rst = ctr(sv.s, "tcp_rst_tx");
    vnow += 300000;
    run(&sv, &cl, 2000); /* the old owner writes again: fenced out */
    CHECK(ctr(sv.s, "persist_superseded") == 1);
    CHECK(ctr(sv.s, "tcp_rst_tx") == rst);
    /* the client's traffic still reaches the old owner, which does not
     * hold the flow any more: it looks it up and takes it back (epoch + 2),
     * and the transfer completes without a RST */
    run(&sv, &cl, 60000);
    printf("  superseded: dropped silently %llu, taken back on demand %llu, %llu/%u bytes, "
           "client RSTs %llu\n",
           (unsigned long long)ctr(sv.s, "persist_superseded"),
           (unsigned long long)ctr(sv.s, "restore_on_demand"), (unsigned long long)cl.rcvd, TOTAL,
           (unsigned long long)ctr(cl.s, "tcp_rst_rx"));
    CHECK(ctr(sv.s, "restore_on_demand") == 1);
    CHECK(cl.rcvd == TOTAL && cl.bad == 0);
    CHECK(ctr(cl.s, "tcp_rst_rx") == 0);
    sl_stack_destroy(sv.s);
    sl_stack_destroy(sv2.s);
    sl_stack_destroy(cl.s);
    b2->ops->destroy(b2);
    sl_store_shm_unlink(g_name);
}

/* Fault sweep: the Nth store operation fails (or fails after being applied:
 * an ambiguous failure), then the server crashes mid-transfer and a new
 * one restores it. Every transfer must end byte-exact, without a RST. */
static void fault_sweep(void)
{
    char saved[224], uri[240];
    memcpy(saved, g_uri, sizeof(saved));
    unsigned ok = 0, runs = 0, discarded = 0;
    for (unsigned nth = 1; nth <= 48; nth++) {
        struct sl_io *a, *b, *io;
        struct srv sv;
        struct cli cl;
        sl_store_shm_unlink(g_name);
        snprintf(uri, sizeof(uri), "fault:nth=%u%s/%.200s", nth, nth % 3 == 0 ? ",lost_reply" : "",
                 saved);
        snprintf(g_uri, sizeof(g_uri), "%.220s", uri);
        CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
        CHECK(srv_start(&sv, a, nth % 2, SL_DUR_SYNC) == 0);
        CHECK(cli_start(&cl, b) == 0);
        run(&sv, &cl, 40);
        discarded += (unsigned)ctr(sv.s, "drop_tx_held_discard");
        sl_stack_crash(sv.s, &io);
        memcpy(g_uri, saved, sizeof(saved));
        vnow += 50000;
        CHECK(srv_start(&sv, io, nth % 2, SL_DUR_SYNC) == 0);
        run(&sv, &cl, 40000);
        runs++;
        if (cl.rcvd == TOTAL && cl.bad == 0 && ctr(cl.s, "tcp_rst_rx") == 0)
            ok++;
        else
            fprintf(stderr, "  fault nth=%u: %llu/%u bytes, %d bad, RSTs %llu\n", nth,
                    (unsigned long long)cl.rcvd, TOTAL, cl.bad,
                    (unsigned long long)ctr(cl.s, "tcp_rst_rx"));
        sl_stack_destroy(sv.s);
        sl_stack_destroy(cl.s);
    }
    printf("  fault sweep: %u/%u transfers byte-exact without a RST (store op 1..48 failed, "
           "every third applied anyway; %u held frames discarded)\n", ok, runs, discarded);
    CHECK(ok == runs);
    sl_store_shm_unlink(g_name);
}

/* Three processes restore the same flow at once (every store op delayed
 * 250 ms, so all of them read the record before any takes it, even on a
 * loaded machine): exactly one
 * wins, the others back off; the winner's record is intact and the flow
 * goes on byte-exact with the next owner. */
static void restore_race(void)
{
    struct sl_io *a, *b, *io;
    struct srv sv;
    struct cli cl;
    char saved[224];
    memcpy(saved, g_uri, sizeof(saved));
    sl_store_shm_unlink(g_name);
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    CHECK(srv_start(&sv, a, 0, SL_DUR_SYNC) == 0);
    CHECK(cli_start(&cl, b) == 0);
    run(&sv, &cl, 60);
    sl_stack_crash(sv.s, &io);
    int go[2];
    CHECK(pipe(go) == 0);
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0)
                _exit(99);
            struct sl_io *x, *y;
            struct srv k;
            snprintf(g_uri, sizeof(g_uri), "fault:delay_ms=250/%.200s", saved);
            if (sl_io_mem_pair(1500, 64, &x, &y) < 0 || srv_start(&k, x, 0, SL_DUR_SYNC) < 0)
                _exit(98);
            sl_run(k.s, 0); /* the winner writes its record */
            int code = (int)ctr(k.s, "restore_ok") | (int)ctr(k.s, "restore_lost_race") << 2;
            _exit(code);
        }
    }
    close(go[0]);
    close(go[1]); /* all three start now */
    int won = 0, lost = 0;
    for (int i = 0; i < 3; i++) {
        int st = 0;
        waitpid(kids[i], &st, 0);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 100;
        won += code & 3;
        lost += (code >> 2) & 3;
    }
    printf("  restore race: 3 processes, %d restored, %d backed off\n", won, lost);
    CHECK(won == 1);
    CHECK(lost == 2);
    /* the flow moves on to a fourth instance, from the winner's record */
    vnow += 100000;
    CHECK(srv_start(&sv, io, 0, SL_DUR_SYNC) == 0);
    CHECK(ctr(sv.s, "restore_ok") == 1);
    run(&sv, &cl, 60000);
    CHECK(cl.rcvd == TOTAL && cl.bad == 0);
    CHECK(ctr(cl.s, "tcp_rst_rx") == 0);
    sl_stack_destroy(sv.s);
    sl_stack_destroy(cl.s);
    sl_store_shm_unlink(g_name);
}

/* A server whose listener starts while the store is down: the flow of the
 * crashed instance is not restored at start-up and waits in the store for
 * its next segment (as an evicted flow does). */
static int srv_start_unrestored(struct srv *sv, struct sl_io *io)
{
    char err[128];
    memset(sv, 0, sizeof(*sv));
    char uri[240];
    snprintf(uri, sizeof(uri), "fault:/%.200s", g_uri);
    struct sl_config cfg = {.addr = SRV_IP, .prefix_len = 24, .gateway = SRV_IP + 1,
                            .store = uri, .store_key = g_key, .sndbuf = 65536, .rcvbuf = 65536};
    if (sl_stack_create_io(&cfg, io, vclock, NULL, &sv->s, err, sizeof(err)) < 0)
        return -1;
    sl_store_fault_disconnect(sl_persist_store(sv->s), true);
    struct sl_listen_opts lo = {.durability = SL_DUR_SYNC, .on_restore = srv_on_restore};
    int rc = sl_listen(sv->s, PORT, &lo, srv_listen_cb, sv, &sv->l);
    sl_store_fault_disconnect(sl_persist_store(sv->s), false);
    return rc;
}

/* A bare ACK from raddr:rport to the server's port, straight into the stack. */
static void spoof_ack(struct sl_stack *s, uint32_t raddr, uint16_t rport, uint32_t seq,
                      uint32_t ack)
{
    struct sl_tcp_seg seg = {.sport = rport, .dport = PORT, .seq = seq, .ack = ack,
                             .flags = SL_TCP_ACK, .doff_bytes = 20, .wnd = 1000};
    sl_stack_tcp_rx(s, raddr, SRV_IP, &seg);
}

/* Crash mid-transfer; the next instance starts with the flow left in the
 * store. mode 0: a storm of unknown 4-tuples spends the lookup budget
 * before the client's next segment arrives: that segment must be dropped
 * and counted, not answered with a RST (the flow is in the store). mode 1:
 * a spoofed tuple whose 32-bit hash under the former unkeyed negative-cache
 * hash equals the live flow's is looked up (a miss, cached) first: the live
 * flow must still be looked up, not reset. Both end byte-exact. */
static void unknown_flow_no_rst(int mode)
{
    struct sl_io *a, *b, *io;
    struct srv sv;
    struct cli cl;
    sl_store_shm_unlink(g_name);
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    CHECK(srv_start(&sv, a, 0, SL_DUR_SYNC) == 0);
    CHECK(cli_start(&cl, b) == 0);
    run(&sv, &cl, 60);
    CHECK(cl.rcvd > 0 && cl.rcvd < TOTAL);
    sl_stack_crash(sv.s, &io);
    CHECK(srv_start_unrestored(&sv, io) == 0);
    CHECK(ctr(sv.s, "restore_ok") == 0);
    sv.s->now = vnow; /* no step yet: the client's frames wait in the device */
    uint16_t rport = cl.c->tcb.lport;
    if (mode == 0) {
        for (uint32_t i = 0; i < 5000; i++) /* more than a second's budget */
            spoof_ack(sv.s, 0x0b000000u + i, (uint16_t)(1024 + i), 1000, 2000);
        CHECK(ctr(sv.s, "restore_lookup_limited") > 0);
    } else {
        /* the hash the negative cache used to compare (32 bits, no key) */
#define OLD_HASH(ra, rp, lp)                                                                      \
    ((((ra) * 0x9e3779b1u) ^ (((uint32_t)(rp) << 16 | (lp)) * 0x85ebca77u)) ^                     \
     ((((ra) * 0x9e3779b1u) ^ (((uint32_t)(rp) << 16 | (lp)) * 0x85ebca77u)) >> 15))
        uint32_t want = OLD_HASH(CLI_IP, rport, PORT);
        uint32_t binv = 0x85ebca77u; /* inverse of the odd multiplier mod 2^32 (Newton) */
        for (int i = 0; i < 5; i++)
            binv *= 2u - 0x85ebca77u * binv;
        uint32_t x = want ^ (want >> 15) ^ (want >> 30); /* undo h ^= h >> 15 */
        uint32_t found = 0, fport = 0;
        for (uint32_t ra = 0x0b000001u; ra < 0x0c000000u && !found; ra++) {
            uint32_t v = (x ^ ra * 0x9e3779b1u) * binv;
            if ((v & 0xffffu) == PORT) {
                found = ra;
                fport = v >> 16;
            }
        }
        CHECK(found != 0);
        CHECK(OLD_HASH(found, fport, PORT) == want);
        spoof_ack(sv.s, found, (uint16_t)fport, 1000, 2000);
        CHECK(ctr(sv.s, "restore_lookup_miss") == 1);
    }
    /* the client's next segment, as it is on the wire, at once */
    spoof_ack(sv.s, CLI_IP, rport, cl.c->tcb.snd_nxt, cl.c->tcb.rcv_nxt);
    /* budget spent: dropped, restored later; collision: restored now */
    CHECK(ctr(sv.s, "restore_on_demand") == (mode == 0 ? 0u : 1u));
    run(&sv, &cl, 20);
    uint64_t rst = ctr(cl.s, "tcp_rst_rx");
    vnow += 2000000; /* the budget refills */
    run(&sv, &cl, 60000);
    printf("  unknown flow, %s: lookups limited %llu, negative-cache hits %llu, restored on "
           "demand %llu; %llu/%u bytes, client RSTs %llu\n",
           mode ? "colliding spoofed tuple" : "lookup budget spent",
           (unsigned long long)ctr(sv.s, "restore_lookup_limited"),
           (unsigned long long)ctr(sv.s, "restore_negcache_hit"),
           (unsigned long long)ctr(sv.s, "restore_on_demand"), (unsigned long long)cl.rcvd, TOTAL,
           (unsigned long long)ctr(cl.s, "tcp_rst_rx"));
    CHECK(rst == 0);
    CHECK(ctr(cl.s, "tcp_rst_rx") == 0);
    CHECK(ctr(sv.s, "restore_ok") == 1); /* on demand, or by the retry timer */
    CHECK(cl.rcvd == TOTAL && cl.bad == 0);
    sl_stack_destroy(sv.s);
    sl_stack_destroy(cl.s);
    sl_store_shm_unlink(g_name);
}

static void plain_listen_cb(sl_listener *l, void *user)
{
    sl_conn *c;
    while (sl_accept(l, &c) == 0)
        sl_conn_set_cb(c, srv_conn_cb, user);
}

/* Durability is per listener: one sync and one non-durable listener on one
 * stack. With the store down the sync connection stalls (its frames are
 * held, then discarded), while the other one keeps flowing: its frames are
 * never held. Both end byte-exact once the store is back. */
static void mixed_durability(void)
{
    struct sl_io *a, *b;
    struct srv sv, sv_off;
    struct cli c80, c81;
    char saved[224];
    memcpy(saved, g_uri, sizeof(saved));
    snprintf(g_uri, sizeof(g_uri), "fault:/%.200s", saved);
    sl_store_shm_unlink(g_name);
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    CHECK(srv_start(&sv, a, 0, SL_DUR_SYNC) == 0);
    memset(&sv_off, 0, sizeof(sv_off));
    struct sl_listener *l81;
    CHECK(sl_listen(sv.s, PORT + 1, NULL, plain_listen_cb, &sv_off, &l81) == 0);
    CHECK(cli_start(&c80, b) == 0);
    memset(&c81, 0, sizeof(c81));
    c81.s = c80.s;
    CHECK(sl_connect(c81.s, SRV_IP, PORT + 1, &c81.c) == 0);
    sl_conn_set_cb(c81.c, cli_cb, &c81);
    for (unsigned i = 0; i < 60; i++) {
        run(&sv, &c80, 1);
        cli_cb(c81.c, 0, &c81);
    }
    CHECK(c80.rcvd > 0 && c81.rcvd > 0);
    uint64_t at80 = c80.rcvd, at81 = c81.rcvd;
    CHECK(sl_store_fault_disconnect(sl_persist_store(sv.s), true) == 0);
    for (unsigned i = 0; i < 3000; i++) {
        run(&sv, &c80, 1);
        cli_cb(c81.c, 0, &c81);
    }
    uint64_t down80 = c80.rcvd - at80, down81 = c81.rcvd - at81;
    CHECK(ctr(sv.s, "persist_store_errors") > 0);
    CHECK(ctr(sv.s, "drop_tx_held_discard") > 0);
    CHECK(down80 < 200000);   /* the sync flow stalls: at most what was in flight */
    CHECK(c81.rcvd == TOTAL); /* the other one does not wait for the store */
    CHECK(sl_store_fault_disconnect(sl_persist_store(sv.s), false) == 0);
    run(&sv, &c80, 60000);
    printf("  mixed durability, store down: sync listener %llu bytes, non-durable listener "
           "%llu bytes while down; after: %llu and %llu of %u\n",
           (unsigned long long)down80, (unsigned long long)down81,
           (unsigned long long)c80.rcvd, (unsigned long long)c81.rcvd, TOTAL);
    CHECK(c80.rcvd == TOTAL && c80.bad == 0 && c81.bad == 0);
    CHECK(ctr(c80.s, "tcp_rst_rx") == 0);
    sl_stack_destroy(sv.s);
    sl_stack_destroy(c80.s);
    memcpy(g_uri, saved, sizeof(saved));
    sl_store_shm_unlink(g_name);
}

/* A restored connection keeps every option the application set:
 * NODELAY, KEEPALIVE, KEEPIDLE, RETRIES (R2, MUST-21) and TOS (MUST-48). */
static void options_survive(void)
{
    struct sl_io *a, *b, *io;
    struct srv sv;
    struct cli cl;
    sl_store_shm_unlink(g_name);
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    CHECK(srv_start(&sv, a, 0, SL_DUR_SYNC) == 0);
    CHECK(cli_start(&cl, b) == 0);
    run(&sv, &cl, 40);
    CHECK(sv.c != NULL);
    CHECK(sl_conn_setopt(sv.c, SL_OPT_NODELAY, 1) == 0);
    CHECK(sl_conn_setopt(sv.c, SL_OPT_KEEPALIVE, 1) == 0);
    CHECK(sl_conn_setopt(sv.c, SL_OPT_KEEPIDLE, 33) == 0);
    CHECK(sl_conn_setopt(sv.c, SL_OPT_RETRIES, 7) == 0);
    CHECK(sl_conn_setopt(sv.c, SL_OPT_TOS, 0xb8) == 0);
    run(&sv, &cl, 20);
    sl_stack_crash(sv.s, &io);
    vnow += 50000;
    CHECK(srv_start(&sv, io, 0, SL_DUR_SYNC) == 0);
    CHECK(ctr(sv.s, "restore_ok") == 1);
    run(&sv, &cl, 1);
    CHECK(sv.c != NULL && sl_conn_restored(sv.c));
    if (sv.c) {
        const struct sl_tcb *t = &sv.c->tcb;
        printf("  options after a restore: nodelay %d, keep-alive idle %u s (configured %u), "
               "R2 %u, TOS %#x\n", !!(t->flags & SL_TF_NODELAY), t->keepidle_s,
               t->keepidle_cfg, t->r2, t->tos);
        CHECK(t->flags & SL_TF_NODELAY);
        CHECK(t->keepidle_s == 33 && t->keepidle_cfg == 33 && t->t_keep != 0);
        CHECK(t->r2 == 7);
        CHECK(t->tos == 0xb8);
    }
    run(&sv, &cl, 60000);
    CHECK(cl.rcvd == TOTAL && cl.bad == 0);
    sl_stack_destroy(sv.s);
    sl_stack_destroy(cl.s);
    sl_store_shm_unlink(g_name);
}

/* The restore window. An instance restores the flow through a store slowed
 * down on purpose and is SIGKILLed right after its restore, before its
 * first loop iteration writes anything (a two-step restore had then taken
 * the epoch without writing the record carrying it, and the flow stayed
 * stranded until a timer in someone's memory ran out). Taking ownership
 * and writing the record are one store operation, so the next instance
 * restores the flow at once and it goes on byte-exact without a RST. */
static void restore_window(void)
{
    struct sl_io *a, *b, *io;
    struct srv sv;
    struct cli cl;
    char saved[224];
    memcpy(saved, g_uri, sizeof(saved));
    sl_store_shm_unlink(g_name);
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    CHECK(srv_start(&sv, a, 0, SL_DUR_SYNC) == 0);
    CHECK(cli_start(&cl, b) == 0);
    run(&sv, &cl, 60);
    CHECK(cl.rcvd > 0 && cl.rcvd < TOTAL);
    sl_stack_crash(sv.s, &io);
    pid_t kid = fork();
    if (kid == 0) {
        struct sl_io *x, *y;
        struct srv k;
        snprintf(g_uri, sizeof(g_uri), "fault:delay_ms=50/%.200s", saved);
        if (sl_io_mem_pair(1500, 64, &x, &y) < 0 || srv_start(&k, x, 0, SL_DUR_SYNC) < 0)
            _exit(98);
        if (ctr(k.s, "restore_ok") != 1)
            _exit(97);
        raise(SIGKILL); /* between taking the flow and its first write */
        _exit(96);
    }
    int st = 0;
    waitpid(kid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    vnow += 50000;
    CHECK(srv_start(&sv, io, 0, SL_DUR_SYNC) == 0);
    uint64_t at_start = ctr(sv.s, "restore_ok");
    run(&sv, &cl, 60000);
    printf("  restore window: restorer killed after taking the flow; next instance restored "
           "%llu flow(s) at start, %llu/%u bytes, client RSTs %llu\n",
           (unsigned long long)at_start, (unsigned long long)cl.rcvd, TOTAL,
           (unsigned long long)ctr(cl.s, "tcp_rst_rx"));
    CHECK(at_start == 1);
    CHECK(cl.rcvd == TOTAL && cl.bad == 0);
    CHECK(ctr(cl.s, "tcp_rst_rx") == 0);
    sl_stack_destroy(sv.s);
    sl_stack_destroy(cl.s);
    sl_store_shm_unlink(g_name);
}

/* Failed restores are retried from a timer: the listener starts while the
 * store is down, so nothing is restored; once the store is back the flow
 * is restored by the retry timer, before the client sends anything (the
 * server alone runs), and it retransmits what is due at once. */
static void restore_retry(void)
{
    struct sl_io *a, *b, *io;
    struct srv sv;
    struct cli cl;
    sl_store_shm_unlink(g_name);
    CHECK(sl_io_mem_pair(1500, 4096, &a, &b) == 0);
    CHECK(srv_start(&sv, a, 0, SL_DUR_SYNC) == 0);
    CHECK(cli_start(&cl, b) == 0);
    run(&sv, &cl, 60);
    sl_stack_crash(sv.s, &io);
    CHECK(srv_start_unrestored(&sv, io) == 0);
    CHECK(ctr(sv.s, "restore_ok") == 0);
    sl_store_fault_disconnect(sl_persist_store(sv.s), true); /* still away for a while */
    for (unsigned i = 0; i < 5; i++) {
        vnow += 20000;
        sl_run(sv.s, 0);
    }
    CHECK(ctr(sv.s, "restore_ok") == 0);
    sl_store_fault_disconnect(sl_persist_store(sv.s), false);
    unsigned rounds = 0;
    for (; rounds < 400 && ctr(sv.s, "restore_ok") == 0; rounds++) {
        vnow += 5000;
        sl_run(sv.s, 0); /* the server alone: no client segment */
    }
    printf("  restore retried from a timer: %llu retries, restored after %u ms of store, "
           "on demand %llu\n", (unsigned long long)ctr(sv.s, "restore_retries"), rounds * 5,
           (unsigned long long)ctr(sv.s, "restore_on_demand"));
    CHECK(ctr(sv.s, "restore_ok") == 1);
    CHECK(ctr(sv.s, "restore_on_demand") == 0);
    CHECK(ctr(sv.s, "restore_retries") >= 2);
    run(&sv, &cl, 60000);
    CHECK(cl.rcvd == TOTAL && cl.bad == 0);
    CHECK(ctr(cl.s, "tcp_rst_rx") == 0);
    sl_stack_destroy(sv.s);
    sl_stack_destroy(cl.s);
    sl_store_shm_unlink(g_name);
}

int main(void)
{
    snprintf(g_name, sizeof(g_name), "sltest-persist-%d", (int)getpid());
    snprintf(g_uri, sizeof(g_uri), "shm:%s?slots=256&max=262144", g_name);
    printf("crash and restore, level 1, sync:\n");
    crash_restore(0, SL_DUR_SYNC, 40, 1);
    crash_restore(0, SL_DUR_SYNC, 7, 2);
    printf("crash and restore, level 2, sync:\n");
    crash_restore(1, SL_DUR_SYNC, 40, 3);
    crash_restore(1, SL_DUR_SYNC, 7, 4);
    printf("crash and restore, async (may lose the last iteration: no byte checks):\n");
    crash_restore(0, SL_DUR_ASYNC, 40, 5);
    no_key();
    store_down();
    mixed_durability();
    options_survive();
    untrusted(0);
    untrusted(1);
    untrusted(2);
    superseded();
    restore_race();
    restore_window();
    restore_retry();
    printf("unknown flows:\n");
    unknown_flow_no_rst(0);
    unknown_flow_no_rst(1);
    printf("fault sweep:\n");
    fault_sweep();
    printf("test_persist: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
