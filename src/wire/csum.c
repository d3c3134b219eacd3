/* Internet checksum (RFC 1071, RFC 1624 folding rules).
 *
 * The one's-complement sum is byte-order independent (RFC 1071 2.(B)): we
 * add the buffer as native-endian 32-bit words into a 64-bit accumulator,
 * fold to 16 bits, and swap bytes once at the end on little-endian hosts.
 * All loads go through memcpy, so any alignment is fine.
 *
 * Values crossing the API (acc, return of sl_csum_add / sl_csum_pseudo)
 * are host-order 16-bit sums of the big-endian 16-bit words of the data,
 * folded into the range 0..0xffff.
 *
 * Chaining: a range of odd length is padded with one zero byte (RFC 1071
 * 4.1), so every range except the last one of a chain must have an even
 * length for the chained sum to equal the sum of the concatenation.
 */
#include <string.h>

#include "wire/wire.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define SL_CSUM_LE 0
#else
#define SL_CSUM_LE 1
#endif

static inline uint32_t fold32(uint64_t s)
{
    /* RFC 1071 2.(C): add the carries back in until none remain. */
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    return (uint32_t)s;
}

uint32_t sl_csum_add(uint32_t acc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t s = 0;
    uint64_t s2 = 0;

    /* 16 bytes per iteration, two independent accumulators. Each adds at
     * most 2^33 per step, so 2^30 iterations cannot overflow 64 bits; the
     * largest buffer we ever see is ~64 KB. */
    while (len >= 16) {
        uint64_t a, b;
        memcpy(&a, p, 8);
        memcpy(&b, p + 8, 8);
        s += (a & 0xffffffffu) + (a >> 32);
        s2 += (b & 0xffffffffu) + (b >> 32);
        p += 16;
        len -= 16;
    }
    s += s2;
    while (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        s += w;
        p += 4;
        len -= 4;
    }
    if (len) {
        /* Tail of 1..3 bytes, zero-padded (RFC 1071 4.1): loading it from a
         * zeroed word keeps the bytes at the same native lanes. */
        uint8_t tail[4] = {0, 0, 0, 0};
        memcpy(tail, p, len);
        uint32_t w;
        memcpy(&w, tail, 4);
        s += w;
    }

    uint32_t r = fold32(s);
#if SL_CSUM_LE
    r = (uint32_t)(((r & 0xffu) << 8) | (r >> 8));
#endif
    return fold32((uint64_t)r + acc);
}

uint16_t sl_csum_fold(uint32_t acc)
{
    return (uint16_t)~fold32(acc);
}

/* RFC 9293 3.1: the TCP pseudo header is source address, destination
 * address, zero, protocol, TCP length (header + data). */
uint32_t sl_csum_pseudo(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t len)
{
    uint64_t s = (uint64_t)(saddr >> 16) + (saddr & 0xffffu) + (daddr >> 16) + (daddr & 0xffffu) +
                 proto + len;
    return fold32(s);
}
