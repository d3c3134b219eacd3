/* Flows and their names in the store (state layer).
 *
 * The store (src/store/) knows keys, values and epochs only; this is where
 * a TCP 4-tuple becomes a key. Every key of a flow shares one Redis Cluster
 * hash tag, the braces: "sl:{198.18.0.2:80-198.18.0.1:41234}:rec", so the
 * store's per-tag owner epoch fences all of them. */
#ifndef SL_STATE_FLOW_H
#define SL_STATE_FLOW_H

#include <stddef.h>
#include <stdint.h>

/* A flow: the 4-tuple, host order, seen from our side. */
struct sl_flow {
    uint32_t laddr, raddr;
    uint16_t lport, rport;
};

#define SL_FLOW_KEY_MAX 128 /* == SL_STORE_KEY_MAX, including the NUL */

/* "sl:{L.L.L.L:LP-R.R.R.R:RP}:PART"; returns the length or -ENAMETOOLONG. */
int sl_flow_key(char *buf, size_t cap, const struct sl_flow *f, const char *part);
/* Prefix of all keys of flows on local address/port: "sl:{L.L.L.L:LP-"
 * (lport 0: every port of the address, "sl:{L.L.L.L:"). */
int sl_flow_prefix(char *buf, size_t cap, uint32_t laddr, uint16_t lport);
/* Parses a key built by sl_flow_key; *part points into key. */
int sl_flow_parse(const char *key, struct sl_flow *f, const char **part);

#endif
