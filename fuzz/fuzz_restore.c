// FUZZ_SOURCES: src/common/*.c src/wire/*.c src/tcp/*.c src/stack/*.c src/io/*.c src/api/*.c src/state/*.c src/store/*.c src/fleet/fleet_key.c
// FUZZ_CFLAGS: -Isrc -Iinclude
// FUZZ_LIBS: -lsodium -lhiredis -lm
/* libFuzzer harness: the store as untrusted input, through the whole stack.
 * The input is 4 configuration bytes, then a flow record. The record's
 * MAC is replaced by the correct one under the stack's key (unless the
 * configuration says to keep it: the bad-MAC path), so the fuzzer reaches
 * what an attacker who holds the key (or a bug in a writer) could hand to
 * a restoring instance: any packed control block, streams, refs and
 * checkpoint. The record is put into a durable listener's store, the
 * listener restores it (sl_listen) or an on-demand lookup does, and the
 * stack then runs for a few simulated seconds (timers, retransmissions,
 * writes back to the store, eviction). Nothing may crash, leak or trip
 * UBSan; a restored connection must satisfy the ring bounds (records that
 * are authentic but impossible are refused by src/tcp/tcp_validate.c).
 *
 * Configuration (every combination is reachable; the record's first byte
 * is always 'S', so the configuration cannot come from it):
 *   c0  bit 0 level-2 commit, 1 async durability, 2 no ref_read callback,
 *       3 idle eviction, 4 keep the input's MAC, 5 restore on demand (a
 *       lookup, as for a segment) instead of at listen time, 6 our address
 *       is not the record's, 7 CUBIC
 *   c1  send ring (bits 0-2) and receive ring (3-5): the record's or one
 *       of 4 KiB .. 256 KiB; bits 6-7 the application (echo, silent,
 *       close at once, abort at once)
 *   c2  MTU (bits 0-1: 1500, 576, 9000, 1280); bits 2-7 rounds to run
 *   c3  the flow's epoch in the store (bits 0-1: the record's, none, a
 *       newer owner's, the record's + 1 with a stale-owner wait)
 *
 * Run: fuzz/run.sh 60 restore   (seeds: fuzz/corpus/restore) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fleet/fleet_key.h"
#include "state/flow.h"
#include "stack/persist.h"
#include "stack/stack.h"
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

static unsigned g_app; /* c1 bits 6-7 */

static void listen_cb(sl_listener *l, void *user)
{
    sl_conn *c;
    uint8_t buf[4096];
    (void)user;
    while (sl_accept(l, &c) == 0) {
        if (g_app == 2) {
            sl_close(c);
            continue;
        }
        if (g_app == 3) {
            sl_abort(c);
            continue;
        }
        if (g_app == 1)
            continue;
        while (sl_read(c, buf, sizeof(buf)) > 0)
            ;
        sl_conn_commit(c, 1);
        sl_write(c, "hello", 5);
        if (c->tcb.snd_una & 1)
            sl_close(c);
    }
}

#define CFG_LEN 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t rec[1 << 18];
    if (size < CFG_LEN + SL_REC_HDR_LEN + SL_REC_MAC_LEN || size - CFG_LEN > sizeof(rec))
        return 0;
    uint8_t c0 = data[0], c1 = data[1], c2 = data[2], c3 = data[3];
    data += CFG_LEN;
    size -= CFG_LEN;
    memcpy(rec, data, size);
    if (!(c0 & 16))
        crypto_auth(rec + size - SL_REC_MAC_LEN, rec, size - SL_REC_MAC_LEN, rec_key());
    struct sl_flow f;
    uint64_t epoch;
    if (sl_record_peek(rec, size, &f, &epoch) < 0 || !f.lport || !f.rport)
        return 0;
    vnow = 5000000;
    /* buffer sizes: the record's (when a stack may have them) or a choice */
    static const uint32_t BUFS[8] = {0, 4096, 8192, 16384, 32768, 65536, 131072, 262144};
    uint32_t sb = BUFS[c1 & 7], rb = BUFS[(c1 >> 3) & 7];
    struct sl_record r;
    if ((!sb || !rb) && sl_record_decode(rec, size, rec_key(), &f, vnow, &r) == 0) {
        if (!sb)
            sb = r.tcb.snd_bufsz;
        if (!rb)
            rb = r.tcb.rcv_bufsz;
    }
    if (sb < 4096 || sb > (1u << 18) || (sb & (sb - 1)))
        sb = 65536;
    if (rb < 4096 || rb > (1u << 18) || (rb & (rb - 1)))
        rb = 65536;
    g_app = c1 >> 6;
    static const uint32_t MTUS[4] = {1500, 576, 9000, 1280};
    struct sl_io *a, *b;
    if (sl_io_mem_pair(MTUS[c2 & 3], 64, &a, &b) < 0)
        return 0;
    char err[256];
    uint32_t laddr = f.laddr ? f.laddr : 1;
    if (c0 & 64)
        laddr ^= 0x100; /* another instance's address */
    struct sl_config cfg = {.addr = laddr, .prefix_len = 8, .store = "mem:", .store_key = KEY,
                            .sndbuf = sb, .rcvbuf = rb, .max_conns = 8,
                            .cc = (c0 & 128) ? SL_CC_CUBIC : SL_CC_NEWRENO};
    struct sl_stack *s;
    if (sl_stack_create_io(&cfg, a, vclock, NULL, &s, err, sizeof(err)) < 0) {
        b->ops->destroy(b);
        return 0;
    }
    struct sl_store *st = sl_persist_store(s);
    struct sl_listen_opts lo = {.durability = (c0 & 2) ? SL_DUR_ASYNC : SL_DUR_SYNC,
                                .commit = (c0 & 1) != 0,
                                .ref_read = (c0 & 4) ? NULL : ref_read,
                                .on_restore = on_restore,
                                .evict_idle_ms = (c0 & 8) ? 50 : 0};
    sl_listener *l = NULL;
    /* on demand: the record arrives after the listener started, and a
     * lookup (as for a segment of the flow) restores it */
    bool lazy = (c0 & 32) != 0;
    if (lazy && sl_listen(s, f.lport, &lo, listen_cb, NULL, &l) < 0)
        l = NULL;
    char key[SL_STORE_KEY_MAX];
    sl_flow_key(key, sizeof(key), &f, "rec");
    switch (c3 & 3) {
    case 0: if (epoch) sl_store_cas_epoch(st, key, 0, epoch, NULL); break;
    case 1: break;
    case 2: sl_store_cas_epoch(st, key, 0, epoch + 7, NULL); break;
    default: sl_store_cas_epoch(st, key, 0, epoch + 1, NULL); break;
    }
    sl_store_put(st, key, rec, size, SL_STORE_ANY, SL_STORE_ANY, NULL);
    if (lazy && l) {
        struct sl_conn *c = NULL;
        sl_persist_lookup(s, l, f.raddr, f.rport, &c);
    } else if (!lazy && sl_listen(s, f.lport, &lo, listen_cb, NULL, &l) < 0) {
        l = NULL;
    }
    if (l) {
        unsigned rounds = 8 + (c2 >> 2);
        for (unsigned i = 0; i < rounds; i++) {
            sl_run(s, 0);
            vnow += (c3 & 4) ? 1000000 : 97000;
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
