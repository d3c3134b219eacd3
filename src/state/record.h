/* Flow records: the bytes a store holds for one TCP connection (externalized state).
 *
 * A record is (flow key, owner epoch, packed control block, unacknowledged
 * send bytes, uncommitted receive bytes, application checkpoint), framed by
 * a magic and a format version and sealed with a keyed MAC (libsodium
 * crypto_auth = HMAC-SHA512-256, RFC 4868 truncation). Like the Stateless
 * TCP design (Kablan et al., "Stateless Network Functions", and the
 * Stateless TCP offloader of CoNEXT'19) the receive bytes are indexed by
 * sequence number, so a restored connection re-delivers exactly
 * [rcv_seq, rcv_seq + rcv_len) to the application.
 *
 * Wire format, version 1 (all integers little-endian):
 *
 *   off  size  field
 *     0     4  magic "SLFR" (0x53 0x4c 0x46 0x52)
 *     4     1  format version (1)
 *     5     1  flags, reserved: must be 0
 *     6     2  tcb_len: bytes of packed control block (<= SL_TCB_PACKED_MAX);
 *              its high byte was "reserved, 0" before control blocks
 *              could exceed 255 bytes, so older records read the same
 *     8     4  laddr (IPv4, host order value)
 *    12     4  raddr
 *    16     2  lport
 *    18     2  rport
 *    20     8  owner epoch of the writer
 *    28     8  gen: writer's record counter (monotonic per owner, for tracing)
 *    36     4  snd_seq: sequence number of the first send byte
 *    40     4  snd_len
 *    44     4  rcv_seq: sequence number of the first receive byte
 *    48     4  rcv_len
 *    52     4  ckpt_len
 *    56     .  tcb bytes, send bytes, receive bytes, checkpoint bytes
 *   end-32 32  MAC: crypto_auth(key, bytes [0, end-32))
 *
 * Decoding treats its input as hostile: every length is bounds-checked in
 * 64-bit arithmetic, the total must match exactly, and nothing past the
 * fixed header is interpreted before the MAC verifies. Distinct errors:
 *   -EMSGSIZE         truncated, trailing bytes, or a length over its limit
 *   -ENOMSG           bad magic (not a flow record)
 *   -EPROTONOSUPPORT  unknown format version or non-zero reserved bits
 *   -EBADMSG          MAC mismatch: tampered, or sealed with another key
 *   -EINVAL           authentic but inconsistent (bad packed tcb, streams
 *                     that disagree with the tcb)
 *   -EXDEV            authentic record of another flow than the one expected
 */
#ifndef SL_STATE_RECORD_H
#define SL_STATE_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "state/flow.h"
#include "tcp/tcp.h"

#define SL_REC_MAGIC 0x52464c53u /* "SLFR" read as little-endian u32 */
#define SL_REC_VERSION 1
#define SL_REC_HDR_LEN 56
#define SL_REC_MAC_LEN 32 /* crypto_auth_BYTES */
#define SL_REC_KEY_LEN 32 /* crypto_auth_KEYBYTES */
#define SL_REC_MAX_STREAM (1u << 30) /* per stream; rings are at most 2^30 */
#define SL_REC_MAX_CKPT (1u << 20)

/* A byte range that may wrap around a ring: up to two fragments. */
struct sl_rec_bytes {
    const uint8_t *p[2];
    uint32_t n[2];
};

/* What to encode. The tcb is packed with sl_tcb_pack at `now`. */
struct sl_record_in {
    const struct sl_tcb *tcb;
    uint64_t now_us;      /* engine clock of the writer (timers are stored relative to it) */
    uint64_t epoch, gen;
    uint32_t snd_seq;     /* normally tcb->snd_una (+1 while the SYN is unacked) */
    struct sl_rec_bytes snd;
    uint32_t rcv_seq;     /* first byte the application has not committed */
    struct sl_rec_bytes rcv;
    const void *ckpt;
    uint32_t ckpt_len;
};

/* A decoded record: zero-copy views into the encoded buffer. */
struct sl_record {
    struct sl_flow flow;
    uint64_t epoch, gen;
    struct sl_tcb tcb;    /* unpacked at the decoder's `now` */
    uint32_t tcb_len;     /* packed size, bytes */
    uint32_t snd_seq, snd_len;
    const uint8_t *snd;
    uint32_t rcv_seq, rcv_len;
    const uint8_t *rcv;
    uint32_t ckpt_len;
    const uint8_t *ckpt;
};

/* View of ring bytes [seq, seq+len) of a power-of-two ring (index = seq &
 * (size-1)), as the engine addresses them. len must be <= size. */
struct sl_rec_bytes sl_rec_ring(const uint8_t *ring, uint32_t size, uint32_t seq, uint32_t len);
struct sl_rec_bytes sl_rec_flat(const void *p, uint32_t len);

/* Exact encoded size, or -EMSGSIZE if a part exceeds its limit. */
ssize_t sl_record_size(const struct sl_record_in *in);
/* Encodes and seals; returns the length, -ENOBUFS if cap is too small,
 * -EMSGSIZE / -EINVAL for bad input. */
ssize_t sl_record_encode(const struct sl_record_in *in, const uint8_t key[SL_REC_KEY_LEN],
                         uint8_t *out, size_t cap);
/* Verifies and decodes `len` bytes at `buf` (which must stay alive while
 * `r` is used). `expect` may be NULL; otherwise a record of another flow
 * is refused with -EXDEV. The tcb is unpacked at `now_us` (the reader's
 * clock). Returns 0 or one of the errors listed above. */
int sl_record_decode(const uint8_t *buf, size_t len, const uint8_t key[SL_REC_KEY_LEN],
                     const struct sl_flow *expect, uint64_t now_us, struct sl_record *r);
/* Peek at the header without verifying the MAC (routing, diagnostics):
 * checks magic, version and lengths only. */
int sl_record_peek(const uint8_t *buf, size_t len, struct sl_flow *flow, uint64_t *epoch);

/* ---- compact control block (aim: <= 128 bytes) ----
 *
 * sl_tcb_pack writes a versioned, varint/delta encoding of the fields of
 * struct sl_tcb that a restored connection needs. The 4-tuple is NOT part
 * of it (the record header carries it); sl_tcb_unpack takes it from `flow`.
 * Absolute clocks are stored relative to the writer's `now` and rebased
 * onto the reader's `now`, so a flow can move between processes and hosts
 * whose clocks differ. What is kept and what is dropped, and why, is
 * declared with each field in SL_TCB_FIELDS (src/tcp/tcp.h). */
#define SL_TCB_PACKED_MAX 288 /* bound (every varint at its widest, an 8-hop route: 273); real tcbs: see tests */
/* Returns the packed length, or -ENOBUFS. */
int sl_tcb_pack(const struct sl_tcb *t, uint64_t now_us, uint8_t *out, size_t cap);
/* Returns 0, -EMSGSIZE (truncated/trailing), -EPROTONOSUPPORT (unknown
 * packing version) or -EINVAL (values a real tcb cannot have). */
int sl_tcb_unpack(const uint8_t *in, size_t len, const struct sl_flow *flow, uint64_t now_us,
                  struct sl_tcb *t);

#endif
