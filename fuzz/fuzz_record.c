/* libFuzzer harness for the flow record codec (src/store/record.c). Build
 * and run (from the repo root):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -Iinclude
 *     src/store/record.c fuzz/fuzz_record.c -lsodium -o /tmp/fuzz_record
 *   /tmp/fuzz_record -max_total_time=60 fuzz/corpus/record
 *
 * The input is treated as an encoded record, three ways:
 *   1. as is: sl_record_decode and sl_record_peek must not crash (almost
 *      everything fails the MAC, which is the point of the MAC);
 *   2. re-sealed: the last 32 bytes are replaced with the correct MAC under
 *      the test key, so the fuzzer reaches what lies behind it (packed tcb,
 *      stream consistency checks). Whatever decodes must re-encode to the
 *      very same bytes (the format is canonical);
 *   3. as a packed control block: sl_tcb_unpack; what unpacks must pack
 *      back to the same bytes.
 * Any mismatch aborts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/record.h"

#define FUZZ_ASSERT(c)                                                                \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

static const uint8_t KEY[SL_REC_KEY_LEN] = "fuzz key for records, 32 bytes!";
#define NOW 1000000000ull

static int known(int rc)
{
    return rc == 0 || rc == -EMSGSIZE || rc == -ENOMSG || rc == -EPROTONOSUPPORT ||
           rc == -EBADMSG || rc == -EINVAL || rc == -EXDEV;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        if (sodium_init() < 0)
            abort();
        init = 1;
    }
    if (size > (1u << 20))
        return 0;
    struct sl_record r;
    struct sl_flow f;
    uint64_t e;

    /* 1. as is */
    int rc = sl_record_decode(data, size, KEY, NULL, NOW, &r);
    FUZZ_ASSERT(known(rc));
    rc = sl_record_peek(data, size, &f, &e);
    FUZZ_ASSERT(known(rc));

    /* 2. re-sealed */
    if (size >= SL_REC_MAC_LEN) {
        uint8_t *buf = malloc(size);
        FUZZ_ASSERT(buf);
        memcpy(buf, data, size);
        crypto_auth(buf + size - SL_REC_MAC_LEN, buf, size - SL_REC_MAC_LEN, KEY);
        rc = sl_record_decode(buf, size, KEY, NULL, NOW, &r);
        FUZZ_ASSERT(known(rc) && rc != -EBADMSG && rc != -EXDEV);
        if (rc == 0) {
            FUZZ_ASSERT(r.flow.laddr == r.tcb.laddr && r.flow.rport == r.tcb.rport);
            FUZZ_ASSERT(r.snd_len <= r.tcb.snd_bufsz && r.rcv_len <= r.tcb.rcv_bufsz);
            struct sl_record_in in = {.tcb = &r.tcb, .now_us = NOW, .epoch = r.epoch,
                                      .gen = r.gen, .snd_seq = r.snd_seq,
                                      .snd = sl_rec_flat(r.snd, r.snd_len),
                                      .rcv_seq = r.rcv_seq,
                                      .rcv = sl_rec_flat(r.rcv, r.rcv_len), .ckpt = r.ckpt,
                                      .ckpt_len = r.ckpt_len};
            FUZZ_ASSERT(sl_record_size(&in) == (ssize_t)size);
            uint8_t *out = malloc(size);
            FUZZ_ASSERT(out);
            FUZZ_ASSERT(sl_record_encode(&in, KEY, out, size) == (ssize_t)size);
            FUZZ_ASSERT(memcmp(out, buf, size) == 0);
            struct sl_flow other = r.flow;
            other.rport ^= 1;
            FUZZ_ASSERT(sl_record_decode(buf, size, KEY, &other, NOW, &r) == -EXDEV);
            free(out);
        }
        free(buf);
    }

    /* 3. as a packed control block */
    struct sl_tcb t;
    struct sl_flow zero = {0};
    rc = sl_tcb_unpack(data, size, &zero, NOW, &t);
    FUZZ_ASSERT(rc == 0 || rc == -EMSGSIZE || rc == -EINVAL || rc == -EPROTONOSUPPORT);
    if (rc == 0) {
        uint8_t p[SL_TCB_PACKED_MAX];
        int n = sl_tcb_pack(&t, NOW, p, sizeof(p));
        FUZZ_ASSERT(n == (int)size && memcmp(p, data, size) == 0);
    }
    return 0;
}
