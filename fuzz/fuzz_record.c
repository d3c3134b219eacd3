/* libFuzzer harness for the flow record codec (src/state/record.c). Build
 * and run (from the repo root):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -Iinclude
 *     src/state/record.c fuzz/fuzz_record.c -lsodium -o /tmp/fuzz_record
 *   /tmp/fuzz_record -max_total_time=60 fuzz/corpus/record
 *
 * The input is treated as an encoded record, three ways:
 *   1. as is: sl_record_decode and sl_record_peek must not crash (almost
 *      everything fails the MAC, which is the point of the MAC);
 *   2. re-sealed: the last 32 bytes are replaced with the correct MAC under
 *      the test key, so the fuzzer reaches what lies behind it (packed tcb,
 *      stream consistency checks). Whatever decodes must re-encode, decode
 *      to the same record, and encode to the same bytes again (a fixed
 *      point; the first re-encoding may differ only where a clock value
 *      saturates);
 *   3. as a packed control block: sl_tcb_unpack; what unpacks must pack,
 *      and that packing must be a fixed point.
 * Any mismatch aborts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "state/record.h"

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
            ssize_t n = sl_record_size(&in);
            FUZZ_ASSERT(n > 0);
            uint8_t *out = malloc((size_t)n), *out2 = malloc((size_t)n);
            FUZZ_ASSERT(out && out2);
            FUZZ_ASSERT(sl_record_encode(&in, KEY, out, (size_t)n) == n);
            /* decode(encode(decode(x))) == decode(x); encode is then a fixed point */
            struct sl_record r2;
            FUZZ_ASSERT(sl_record_decode(out, (size_t)n, KEY, &r.flow, NOW, &r2) == 0);
            FUZZ_ASSERT(r2.epoch == r.epoch && r2.gen == r.gen && r2.snd_seq == r.snd_seq &&
                        r2.snd_len == r.snd_len && r2.rcv_seq == r.rcv_seq &&
                        r2.rcv_len == r.rcv_len && r2.ckpt_len == r.ckpt_len);
            FUZZ_ASSERT(!r.snd_len || !memcmp(r2.snd, r.snd, r.snd_len));
            FUZZ_ASSERT(!r.rcv_len || !memcmp(r2.rcv, r.rcv, r.rcv_len));
            FUZZ_ASSERT(!r.ckpt_len || !memcmp(r2.ckpt, r.ckpt, r.ckpt_len));
            in.tcb = &r2.tcb;
            in.snd = sl_rec_flat(r2.snd, r2.snd_len);
            in.rcv = sl_rec_flat(r2.rcv, r2.rcv_len);
            in.ckpt = r2.ckpt;
            FUZZ_ASSERT(sl_record_encode(&in, KEY, out2, (size_t)n) == n);
            FUZZ_ASSERT(memcmp(out, out2, (size_t)n) == 0);
            struct sl_flow other = r.flow;
            other.rport ^= 1;
            FUZZ_ASSERT(sl_record_decode(buf, size, KEY, &other, NOW, &r) == -EXDEV);
            free(out);
            free(out2);
        }
        free(buf);
    }

    /* 3. as a packed control block */
    struct sl_tcb t;
    struct sl_flow zero = {0};
    rc = sl_tcb_unpack(data, size, &zero, NOW, &t);
    FUZZ_ASSERT(rc == 0 || rc == -EMSGSIZE || rc == -EINVAL || rc == -EPROTONOSUPPORT);
    if (rc == 0) { /* packs again, and that packing is a fixed point */
        uint8_t p[SL_TCB_PACKED_MAX], p2[SL_TCB_PACKED_MAX];
        struct sl_tcb t2;
        int n = sl_tcb_pack(&t, NOW, p, sizeof(p));
        FUZZ_ASSERT(n > 0);
        FUZZ_ASSERT(sl_tcb_unpack(p, (size_t)n, &zero, NOW, &t2) == 0);
        FUZZ_ASSERT(sl_tcb_pack(&t2, NOW, p2, sizeof(p2)) == n && !memcmp(p, p2, (size_t)n));
    }
    return 0;
}
