/* The fleet secret: every key an instance needs to continue another
 * instance's flows, derived from one 32-byte key (the --store-key file), so
 * that a handshake started on one instance finishes on another and a record
 * written by one is accepted by all:
 *
 *   ISN key      (RFC 6528 F())  = KDF(key, id 1, "sltcpisn"), 16 bytes
 *   SYN-cookie key (RFC 4987 3.6) = KDF(key, id 2, "sltcpsyn"), 16 bytes
 *   record MAC key (HMAC of every record) = KDF(key, id 3, "sltcprec"), 32 bytes
 *
 * KDF = libsodium crypto_kdf_derive_from_key (BLAKE2b keyed by the master
 * key, salted with the subkey id and personalised with the context): the
 * subkeys are independent, and none reveals the master key or another.
 * Pure; the stack calls it from sl_stack_create when a store key is given. */
#ifndef SL_FLEET_KEY_H
#define SL_FLEET_KEY_H

#include <stdint.h>

#define SL_FLEET_KEY_BYTES 32

struct sl_fleet_keys {
    uint8_t isn[16];
    uint8_t cookie[16];
    uint8_t record_mac[32];
};

void sl_fleet_keys_derive(const uint8_t master[SL_FLEET_KEY_BYTES], struct sl_fleet_keys *k);

#endif
