/* sl_io_open: pick a backend from a spec string.
 *
 *   "packet:IFACE"  AF_PACKET (TPACKET_V2 rx/tx rings, vnet header) on IFACE
 *   "tap:NAME"      /dev/net/tun TAP device NAME (created if absent)
 *
 * The in-memory pair and the impairment wrapper have their own
 * constructors (sl_io_mem_pair, sl_io_impair_wrap) because they need more
 * than a name. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io/io.h"

void sl_io_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int sl_io_open(const char *spec, struct sl_io **out, char *err, size_t errlen)
{
    return sl_io_open_opts(spec, NULL, out, err, errlen);
}

int sl_io_open_opts(const char *spec, const struct sl_io_opts *opts, struct sl_io **out, char *err,
                    size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!spec || !out) {
        sl_io_err(err, errlen, "io: no spec given");
        return -EINVAL;
    }
    *out = NULL;
    const char *colon = strchr(spec, ':');
    if (!colon || colon[1] == '\0') {
        sl_io_err(err, errlen, "io spec '%s': expected packet:IFACE or tap:NAME", spec);
        return -EINVAL;
    }
    size_t klen = (size_t)(colon - spec);
    const char *arg = colon + 1;
    if (klen == 6 && memcmp(spec, "packet", 6) == 0)
        return sl_io_packet_open(arg, opts, out, err, errlen);
    if (klen == 3 && memcmp(spec, "tap", 3) == 0)
        return sl_io_tap_open(arg, out, err, errlen);
    sl_io_err(err, errlen, "io spec '%s': unknown backend '%.*s' (expected packet or tap)", spec,
           (int)klen, spec);
    return -EINVAL;
}
