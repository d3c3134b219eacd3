/* Flow keys: how a flow is named in the store; see flow.h. */
#include "state/flow.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int fmt_ip(char *b, size_t cap, uint32_t a)
{
    return snprintf(b, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

int sl_flow_key(char *buf, size_t cap, const struct sl_flow *f, const char *part)
{
    char l[16], r[16];
    fmt_ip(l, sizeof(l), f->laddr);
    fmt_ip(r, sizeof(r), f->raddr);
    int n = snprintf(buf, cap, "sl:{%s:%u-%s:%u}:%s", l, f->lport, r, f->rport,
                     part ? part : "");
    if (n < 0 || (size_t)n >= cap || (size_t)n >= SL_FLOW_KEY_MAX)
        return -ENAMETOOLONG;
    return n;
}

int sl_flow_prefix(char *buf, size_t cap, uint32_t laddr, uint16_t lport)
{
    char l[16];
    fmt_ip(l, sizeof(l), laddr);
    int n = lport ? snprintf(buf, cap, "sl:{%s:%u-", l, lport) : snprintf(buf, cap, "sl:{%s:", l);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    return n;
}

static const char *parse_ipport(const char *p, uint32_t *a, uint16_t *port, char end)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        if (*p < '0' || *p > '9')
            return NULL;
        unsigned o = 0;
        int d = 0;
        while (*p >= '0' && *p <= '9' && d < 4) {
            o = o * 10 + (unsigned)(*p++ - '0');
            d++;
        }
        if (o > 255 || d > 3)
            return NULL;
        v = v << 8 | o;
        if (i < 3 && *p++ != '.')
            return NULL;
    }
    if (*p++ != ':')
        return NULL;
    unsigned pv = 0;
    int d = 0;
    while (*p >= '0' && *p <= '9' && d < 6) {
        pv = pv * 10 + (unsigned)(*p++ - '0');
        d++;
    }
    if (!d || pv > 65535 || *p++ != end)
        return NULL;
    *a = v;
    *port = (uint16_t)pv;
    return p;
}

int sl_flow_parse(const char *key, struct sl_flow *f, const char **part)
{
    if (!key || strncmp(key, "sl:{", 4))
        return -EINVAL;
    struct sl_flow x;
    const char *p = parse_ipport(key + 4, &x.laddr, &x.lport, '-');
    if (!p)
        return -EINVAL;
    p = parse_ipport(p, &x.raddr, &x.rport, '}');
    if (!p || *p != ':')
        return -EINVAL;
    if (f)
        *f = x;
    if (part)
        *part = p + 1;
    return 0;
}

