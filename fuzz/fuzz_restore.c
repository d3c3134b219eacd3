// FUZZ_SOURCES: src/common/*.c src/wire/*.c src/tcp/*.c src/stack/*.c src/io/*.c src/api/*.c src/state/*.c src/store/*.c src/fleet/fleet_key.c
// FUZZ_CFLAGS: -Isrc -Iinclude
// FUZZ_LIBS: -lsodium -lhiredis -lm
/* libFuzzer harness: the store as untrusted input, through the whole stack
 * (issue 4). The input is a flow record; its MAC is replaced by the correct
 * one under the stack's key, so the fuzzer reaches what an attacker who
 * holds the key (or a bug in a writer) could hand to a restoring instance:
 * any packed control block, streams, refs and checkpoint. The record is put
 * into a durable listener's store, the listener restores it (sl_listen),
 * and the stack then runs for a few simulated seconds (timers,
 * retransmissions, writes back to the store, eviction). Nothing may crash,
 * leak or trip UBSan; a restored connection must satisfy the ring bounds.
 *
 * Run: fuzz/run.sh 60 restore   (seeds: fuzz/corpus/restore) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fleet/fleet_key.h"
#include "stack/persist.h"
#include "stack/stack.h"
#include "state/flow.h"
#include "store/store.h"

static const uint8_t KEY[SL_REC_KEY_LEN] = "fuzz key for records, 32 bytes!";

/* Records are sealed with the key the stack derives from its store key
 * (the fleet secret, src/fleet/fleet_key.h). */
static const uint8_t *rec_key(void)
{
    static struct sl_fleet_keys fk;
    static int done;
    if (!done) {
        sl_fleet_keys_derive(KEY, &fk);
        done = 1;
    }
    return fk.record_mac;
}
static uint64_t vnow;
static uint64_t vclock(void *arg)
{
    (void)arg;
    return vnow;
}

#define FUZZ_ASSERT(c)                                                                \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

static ssize_t ref_read(void *user, const char *object, uint64_t off, void *buf, size_t len)
{
    (void)user;
    if (object[0] == 'x')
        return -5; /* an unreadable object */
    memset(buf, (int)(off & 0xff), len);
    return (ssize_t)len;
}

static void on_restore(sl_conn *c, const void *blob, size_t len, void *user)
{
    (void)c;
    (void)user;
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) /* ASan checks the blob's bounds */
        sum += ((const uint8_t *)blob)[i];
}

static void listen_cb(sl_listener *l, void *user)
{
    sl_conn *c;
    uint8_t buf[4096];
    (void)user;
    while (sl_accept(l, &c) == 0) {
        while (sl_read(c, buf, sizeof(buf)) > 0)
            ;
        sl_conn_commit(c, 1);
        sl_write(c, "hello", 5);
        if (c->tcb.snd_una & 1)
            sl_close(c);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t rec[1 << 18];
    if (size < SL_REC_HDR_LEN + SL_REC_MAC_LEN || size > sizeof(rec))
        return 0;
    memcpy(rec, data, size);
    crypto_auth(rec + size - SL_REC_MAC_LEN, rec, size - SL_REC_MAC_LEN, rec_key());
    struct sl_flow f;
    uint64_t epoch;
    if (sl_record_peek(rec, size, &f, &epoch) < 0 || !f.lport || !f.rport)
        return 0;
    vnow = 5000000;
    struct sl_record r;
    if (sl_record_decode(rec, size, rec_key(), &f, vnow, &r) < 0)
        return 0;
    /* the stack must have the record's buffer sizes (else it is refused;
     * that path is cheap and covered too when they differ) */
    uint32_t sb = r.tcb.snd_bufsz, rb = r.tcb.rcv_bufsz;
    if (sb < 4096 || sb > (1u << 18) || rb < 4096 || rb > (1u << 18)) {
        sb = 65536;
        rb = 65536;
    }
    int commit = (data[0] & 1) != 0;
    struct sl_io *a, *b;
    if (sl_io_mem_pair(1500, 64, &a, &b) < 0)
        return 0;
    char err[256];
    struct sl_config cfg = {.addr = f.laddr ? f.laddr : 1, .prefix_len = 8, .store = "mem:",
                            .store_key = KEY, .sndbuf = sb, .rcvbuf = rb, .max_conns = 8};
    struct sl_stack *s;
    if (sl_stack_create_io(&cfg, a, vclock, NULL, &s, err, sizeof(err)) < 0) {
        b->ops->destroy(b);
        return 0;
    }
    struct sl_store *st = sl_persist_store(s);
    char key[SL_STORE_KEY_MAX];
    sl_flow_key(key, sizeof(key), &f, "rec");
    if (epoch)
        sl_store_cas_epoch(st, key, 0, epoch, NULL);
    sl_store_put(st, key, rec, size, SL_STORE_ANY, SL_STORE_ANY, NULL);
    struct sl_listen_opts lo = {.durability = (data[0] & 2) ? SL_DUR_ASYNC : SL_DUR_SYNC,
                                .commit = commit,
                                .ref_read = (data[0] & 4) ? NULL : ref_read,
                                .on_restore = on_restore,
                                .evict_idle_ms = (data[0] & 8) ? 50 : 0};
    sl_listener *l;
    if (sl_listen(s, f.lport, &lo, listen_cb, NULL, &l) == 0) {
        for (int i = 0; i < 40; i++) {
            sl_run(s, 0);
            vnow += 97000;
            struct sl_frame fr[16];
            int n = b->ops->rx_burst(b, fr, 16); /* nobody answers */
            if (n > 0)
                b->ops->rx_release(b);
            struct sl_conn *c = sl_table_find(s, f.raddr, f.rport, f.lport);
            if (c && c->snd) {
                const struct sl_tcb *t = &c->tcb;
                FUZZ_ASSERT(t->snd_end - t->snd_una <= t->snd_bufsz);
                FUZZ_ASSERT(t->snd_bufsz == sb && t->rcv_bufsz == rb);
            }
        }
    }
    sl_stack_destroy(s);
    b->ops->destroy(b);
    return 0;
}
