#include "common/kv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int sl_kv_parse(const char *list, char sep, unsigned flags, size_t max, sl_kv_fn fn, void *arg)
{
    size_t n = strlen(list);
    if (max && n >= max)
        return -EINVAL;
    char *buf = malloc(n + 1);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, list, n + 1);
    int rc = 0;
    for (char *item = buf; item && !rc;) {
        char *next = strchr(item, sep);
        if (next)
            *next++ = '\0';
        if (flags & SL_KV_TRIM) {
            while (*item == ' ')
                item++;
            size_t l = strlen(item);
            while (l && item[l - 1] == ' ')
                item[--l] = '\0';
        }
        if (*item || (flags & SL_KV_EMPTY)) {
            char *eq = strchr(item, '=');
            if (eq)
                *eq++ = '\0';
            rc = fn(arg, item, eq);
        }
        item = next;
    }
    free(buf);
    return rc;
}
