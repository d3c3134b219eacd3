/* The fleet secret: ISN, SYN-cookie and record MAC keys from one key. */
#include "fleet/fleet_key.h"

#include <sodium.h>

_Static_assert(SL_FLEET_KEY_BYTES == crypto_kdf_KEYBYTES, "master key size");

void sl_fleet_keys_derive(const uint8_t master[SL_FLEET_KEY_BYTES], struct sl_fleet_keys *k)
{
    /* Subkey ids and contexts are part of the fleet's wire contract: every
     * instance must use the same ones. Never renumber. */
    crypto_kdf_derive_from_key(k->isn, sizeof(k->isn), 1, "sltcpisn", master);
    crypto_kdf_derive_from_key(k->cookie, sizeof(k->cookie), 2, "sltcpsyn", master);
    crypto_kdf_derive_from_key(k->record_mac, sizeof(k->record_mac), 3, "sltcprec", master);
}
