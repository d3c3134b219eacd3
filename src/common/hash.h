/* Keyed hashing for tables whose keys an outsider chooses (4-tuples, flow
 * keys): SipHash-2-4 from libsodium (crypto_shorthash) under a key from
 * randombytes_buf, so colliding inputs cannot be precomputed (hash
 * flooding). One key per table. */
#ifndef SL_COMMON_HASH_H
#define SL_COMMON_HASH_H

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#define SL_HASH_KEYLEN crypto_shorthash_KEYBYTES /* 16 */

static inline void sl_hash_key_new(uint8_t key[SL_HASH_KEYLEN]) { randombytes_buf(key, SL_HASH_KEYLEN); }

static inline uint64_t sl_hash64(const uint8_t key[SL_HASH_KEYLEN], const void *in, size_t len)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)in, len, key);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}

#endif
