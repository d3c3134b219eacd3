#include "appcommon.h"

#include <errno.h>
#include <stdlib.h>

#include "sltcp/sltcp.h"

int app_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    unsigned long v;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int app_impair_ok(const char *spec)
{
    char err[128];
    return sl_impair_check(spec, err, sizeof(err)) == 0;
}
