/* Maglev lookup table population (NSDI'16 section 3.4, Pseudocode 1). */
#include "fleet/maglev.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Two fixed, distinct SipHash keys: the offset and skip hashes must be
 * independent, and identical in every process of the fleet. */
static const uint8_t k_offset[crypto_shorthash_KEYBYTES] = "sltcp-maglev-off";
static const uint8_t k_skip[crypto_shorthash_KEYBYTES] = "sltcp-maglev-skp";

static uint64_t name_hash(const char *name, const uint8_t *key)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)name, strlen(name), key);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}

int sl_maglev_is_prime(uint32_t m)
{
    if (m < 2)
        return 0;
    for (uint32_t d = 2; (uint64_t)d * d <= m; d++)
        if (m % d == 0)
            return 0;
    return 1;
}

void sl_maglev_perm(const char *name, uint32_t m, uint32_t *offset, uint32_t *skip)
{
    *offset = (uint32_t)(name_hash(name, k_offset) % m);
    *skip = (uint32_t)(name_hash(name, k_skip) % (m - 1)) + 1;
}

int sl_maglev_build(const struct sl_maglev_backend *b, size_t n, uint32_t m, uint32_t *table)
{
    if (!sl_maglev_is_prime(m) || n >= SL_MAGLEV_EMPTY || (n > 0 && b == NULL) || table == NULL)
        return -EINVAL;
    for (uint32_t i = 0; i < m; i++)
        table[i] = SL_MAGLEV_EMPTY;
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i].name == NULL)
            return -EINVAL;
        live += b[i].weight > 0;
    }
    if (live == 0)
        return 0;
    uint32_t *off = calloc(n, sizeof(*off)), *skip = calloc(n, sizeof(*skip));
    uint32_t *next = calloc(n, sizeof(*next)); /* position in each permutation */
    if (!off || !skip || !next) {
        free(off);
        free(skip);
        free(next);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        sl_maglev_perm(b[i].name, m, &off[i], &skip[i]);
    uint32_t filled = 0;
    while (filled < m) {
        for (size_t i = 0; i < n && filled < m; i++) {
            for (uint32_t t = 0; t < b[i].weight && filled < m; t++) {
                /* permutation[i][j] = (offset + j * skip) mod M; claim the
                 * first entry of it that is still free */
                uint32_t c;
                do {
                    c = (uint32_t)((off[i] + (uint64_t)next[i] * skip[i]) % m);
                    next[i]++;
                } while (table[c] != SL_MAGLEV_EMPTY);
                table[c] = (uint32_t)i;
                filled++;
            }
        }
    }
    free(off);
    free(skip);
    free(next);
    return 0;
}
