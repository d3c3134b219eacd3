// FUZZ_SOURCES: src/common/*.c src/wire/*.c src/tcp/*.c src/stack/*.c src/io/*.c src/api/*.c src/state/*.c src/store/*.c src/fleet/fleet_key.c
// FUZZ_CFLAGS: -Isrc -Iinclude
// FUZZ_LIBS: -lsodium -lhiredis -lm
/* libFuzzer harness: arbitrary values under the store's key prefix, as
 * anyone who can write the store could leave them. Up to 8 values are put
 * under keys of the listener's prefix (flow records, other parts of a
 * flow, keys that only start like one), with owner epochs, some of them
 * resealed with the right MAC over the fuzzer's bytes (so they reach the
 * record decoder and the restore validation), some far larger than any
 * record. A durable listener then starts (restoring what it finds), each
 * flow is looked up as a segment for it would, and the stack runs. Then
 * a new client connects and exchanges data: whatever the store holds,
 * the server must keep serving (no crash, leak, UB, stall or refusal of
 * unrelated flows).
 *
 * Input: c0 (bits 0-2: values - 1; bit 3 async durability; bit 4 level-2
 * commit), then per value: sel (bits 0-1 the key's part: rec, epoch only,
 * another part, a key that is not a flow's; bits 2-4 the peer port; bit 5
 * the peer is our own address; bit 6 reseal as that flow's record; bit 7
 * a value of 2 MiB), u8 epoch, u16 length (little-endian, at most 4096),
 * the bytes.
 *
 * Run: fuzz/run.sh 60 store   (seeds: fuzz/corpus/store) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fleet/fleet_key.h"
#include "stack/persist.h"
#include "stack/stack.h"
#include "state/flow.h"
#include "state/record.h"
#include "store/store.h"

#define SRV 0xc6120002u /* 198.18.0.2 */
#define CLI 0xc6120001u
#define PORT 80

static const uint8_t KEY[SL_REC_KEY_LEN] = "fuzz key for records, 32 bytes!";
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

static void srv_cb(sl_conn *c, unsigned ev, void *user)
{
    (void)user;
    if (ev & SL_EV_CLOSED)
        return;
    uint8_t buf[2048];
    ssize_t n;
    while (sl_write_space(c) >= sizeof(buf) && (n = sl_read(c, buf, sizeof(buf))) > 0)
        sl_write(c, buf, (size_t)n);
}

static void listen_cb(sl_listener *l, void *user)
{
    sl_conn *c;
    while (sl_accept(l, &c) == 0)
        sl_conn_set_cb(c, srv_cb, user);
}

struct cli {
    int connected, echoed;
};
static void cli_cb(sl_conn *c, unsigned ev, void *user)
{
    struct cli *k = user;
    if (ev & SL_EV_CONNECTED) {
        k->connected = 1;
        sl_write(c, "ping", 4);
    }
    char b[16];
    if (sl_read(c, b, sizeof(b)) > 0)
        k->echoed = 1;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t val[2u << 20];
    if (size < 1)
        return 0;
    uint8_t c0 = data[0];
    size_t o = 1;
    vnow = 5000000;
    struct sl_io *a, *b;
    if (sl_io_mem_pair(1500, 64, &a, &b) < 0)
        return 0;
    char err[256];
    struct sl_config cfg = {.addr = SRV, .prefix_len = 24, .store = "mem:", .store_key = KEY,
                            .sndbuf = 16384, .rcvbuf = 16384, .max_conns = 64};
    struct sl_stack *s;
    if (sl_stack_create_io(&cfg, a, vclock, NULL, &s, err, sizeof(err)) < 0) {
        b->ops->destroy(b);
        return 0;
    }
    struct sl_store *st = sl_persist_store(s);
    struct sl_flow flows[8];
    unsigned nflows = 0, nv = (c0 & 7) + 1u;
    for (unsigned i = 0; i < nv && size - o >= 4; i++) {
        uint8_t sel = data[o], ep = data[o + 1];
        size_t len = (size_t)data[o + 2] | (size_t)data[o + 3] << 8;
        o += 4;
        if (len > 4096)
            len = 4096;
        if (len > size - o)
            len = size - o;
        struct sl_flow f = {SRV, (sel & 32) ? SRV : CLI, PORT, (uint16_t)(1000 + ((sel >> 2) & 7))};
        if (sel & 128) {
            len = sizeof(val);
            for (size_t k = 0; k < len; k++)
                val[k] = data[o + (size - o ? k % (size - o) : 0)];
        } else {
            memcpy(val, data + o, len);
        }
        o += (sel & 128) ? 0 : len;
        if ((sel & 64) && len >= SL_REC_HDR_LEN + SL_REC_MAC_LEN) {
            memcpy(val, "SLFR\x01", 5); /* the record's flow and a good MAC */
            le32(val + 8, f.laddr);
            le32(val + 12, f.raddr);
            val[16] = (uint8_t)f.lport;
            val[17] = (uint8_t)(f.lport >> 8);
            val[18] = (uint8_t)f.rport;
            val[19] = (uint8_t)(f.rport >> 8);
            struct sl_fleet_keys fk; /* the stack seals with the key derived from KEY */
            sl_fleet_keys_derive(KEY, &fk);
            crypto_auth(val + len - SL_REC_MAC_LEN, val, len - SL_REC_MAC_LEN, fk.record_mac);
        }
        static const char *const parts[4] = {"rec", NULL, "ckpt", NULL};
        char key[SL_STORE_KEY_MAX];
        if ((sel & 3) == 3)
            snprintf(key, sizeof(key), "sl:{198.18.0.2:80-%u", (unsigned)ep);
        else
            sl_flow_key(key, sizeof(key), &f, parts[sel & 3] ? parts[sel & 3] : "rec");
        if (ep)
            sl_store_cas_epoch(st, key, 0, ep, NULL);
        if ((sel & 3) != 1)
            sl_store_put(st, key, val, len, SL_STORE_ANY, SL_STORE_ANY, NULL);
        flows[nflows++] = f;
    }
    struct sl_listen_opts lo = {.durability = (c0 & 8) ? SL_DUR_ASYNC : SL_DUR_SYNC,
                                .commit = (c0 & 16) != 0};
    sl_listener *l;
    FUZZ_ASSERT(sl_listen(s, PORT, &lo, listen_cb, NULL, &l) == 0);
    for (unsigned i = 0; i < nflows; i++) {
        struct sl_conn *c = NULL;
        sl_persist_lookup(s, l, flows[i].raddr, flows[i].rport, &c);
    }
    /* a new client must still be served */
    struct sl_config ccfg = {.addr = CLI, .prefix_len = 24, .sndbuf = 16384, .rcvbuf = 16384,
                             .max_conns = 4};
    struct sl_stack *cs;
    FUZZ_ASSERT(sl_stack_create_io(&ccfg, b, vclock, NULL, &cs, err, sizeof(err)) == 0);
    sl_conn *cc;
    struct cli k = {0};
    FUZZ_ASSERT(sl_connect(cs, SRV, PORT, &cc) == 0);
    sl_conn_set_cb(cc, cli_cb, &k);
    for (int i = 0; i < 400 && !k.echoed; i++) {
        sl_run(s, 0);
        sl_run(cs, 0);
        vnow += 1000;
    }
    FUZZ_ASSERT(k.connected && k.echoed);
    sl_stack_destroy(s);
    sl_stack_destroy(cs);
    return 0;
}
