/* Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable
 * Software Network Load Balancer", NSDI'16, section 3.4).
 *
 * A lookup table of prime size M maps a flow hash (hash % M) to a backend.
 * Each backend has a permutation of 0..M-1 given by two independent hashes
 * of its name: offset = h1 % M, skip = h2 % (M - 1) + 1 (M prime, so every
 * skip generates the whole table). Backends take turns claiming their next
 * preferred free entry until the table is full (the paper's Pseudocode 1).
 * A backend of weight w takes w turns per round (weights as in the paper's
 * section 3.4 remark and Cilium's weighted Maglev).
 *
 * Balance: every backend holds floor(M/N) or ceil(M/N) entries (equal weights).
 * Disruption: when one backend of N joins or leaves, about 1/N of the table
 * changes owner, a little more than the optimum (the paper's figure 11).
 *
 * Pure: no I/O; the name hashes are SipHash-2-4 (libsodium crypto_shorthash)
 * under two fixed, distinct keys so that every process computes the same
 * table from the same backend list. */
#ifndef SL_FLEET_MAGLEV_H
#define SL_FLEET_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

#define SL_MAGLEV_M_DEFAULT 65537u /* prime */
#define SL_MAGLEV_EMPTY 0xffffffffu /* table entry with no backend (N = 0) */

struct sl_maglev_backend {
    const char *name; /* stable identity: the permutation depends only on it */
    uint32_t weight;  /* turns per round; 0 = out of the table (drained) */
};

/* 1 if m is prime (m >= 2). */
int sl_maglev_is_prime(uint32_t m);

/* Fill table[0..m-1] with backend indices 0..n-1 (SL_MAGLEV_EMPTY everywhere
 * when no backend has a weight). m must be prime. Returns 0, -EINVAL (m not
 * prime, n too large, a NULL name) or -ENOMEM. */
int sl_maglev_build(const struct sl_maglev_backend *b, size_t n, uint32_t m, uint32_t *table);

/* The two permutation parameters of a backend name for table size m. */
void sl_maglev_perm(const char *name, uint32_t m, uint32_t *offset, uint32_t *skip);

#endif
