/* The secret key that seals connection records in the store (slhttpd,
 * slproxy). */
#ifndef SLHTTPD_KEYFILE_H
#define SLHTTPD_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_KEY_LEN 32
#define STATE_DIR_DEFAULT "/var/lib/sltcp"
#define STATE_KEY_NAME "store.key"

/* Reads the first 32 bytes of `path`. The file must be a regular file (not
 * a symlink) owned by the effective user, with no group or other access
 * (mode 0600 or stricter). 0, or -1 with a message in err. */
int key_load(const char *path, uint8_t key[STORE_KEY_LEN], char *err, size_t errlen);

/* The key kept in STATE_DIR/store.key: created (0600, random) on first use,
 * read again afterwards. The directory is created (0700) if missing and
 * must belong to the effective user or root and not be writable by group
 * or others. Sets *created. 0, or -1 with a message in err. */
int key_state(const char *dir, uint8_t key[STORE_KEY_LEN], int *created, char *err,
              size_t errlen);

#endif
