/* One parser for "key=value" lists: the store URIs' query strings
 * ("shm:NAME?slots=N&max=B", "redis://HOST:PORT?wait=1"), the fault
 * store's options ("fault:nth=3,down/INNER") and the impairment spec
 * ("loss=1,delay=20"). */
#ifndef SL_COMMON_KV_H
#define SL_COMMON_KV_H

#include <stddef.h>

/* flags */
#define SL_KV_TRIM 0x1  /* drop spaces around each item */
#define SL_KV_EMPTY 0x2 /* hand empty items to fn (else skipped) */

/* key and val are NUL-terminated; val is NULL when the item has no '='.
 * Non-zero stops the walk and is returned. */
typedef int (*sl_kv_fn)(void *arg, const char *key, const char *val);

/* Calls fn for each item of `list` (items separated by sep), in order.
 * Returns 0, -EINVAL if max is non-zero and strlen(list) >= max, -ENOMEM,
 * or the first non-zero result of fn. */
int sl_kv_parse(const char *list, char sep, unsigned flags, size_t max, sl_kv_fn fn, void *arg);

#endif
