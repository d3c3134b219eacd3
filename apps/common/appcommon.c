#include "appcommon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int app_parse_ip(const char *str, uint32_t *out)
{
    struct in_addr a;
    if (!str || inet_pton(AF_INET, str, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

int app_parse_cidr(const char *str, uint32_t *addr, uint8_t *len)
{
    char buf[32];
    const char *slash = str ? strchr(str, '/') : NULL;
    uint32_t l;
    if (!slash || (size_t)(slash - str) >= sizeof(buf))
        return -1;
    memcpy(buf, str, (size_t)(slash - str));
    buf[slash - str] = 0;
    if (app_parse_u32(slash + 1, 1, 32, &l) < 0 || app_parse_ip(buf, addr) < 0)
        return -1;
    *len = (uint8_t)l;
    return 0;
}

int app_impair_ok(const char *spec)
{
    char err[128];
    return sl_impair_check(spec, err, sizeof(err)) == 0;
}

uint64_t app_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
