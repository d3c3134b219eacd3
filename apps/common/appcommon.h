/* Small helpers shared by the sltcp applications (slhttpd, slclient). */
#ifndef SL_APPCOMMON_H
#define SL_APPCOMMON_H

#include <stdint.h>

/* Parses a decimal number in [min, max]: 0, or -1 if it is not one. */
int app_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
/* 1 if spec is a valid --impair value (the stack's own parser decides). */
int app_impair_ok(const char *spec);
/* "A.B.C.D": 0 and the host-order address, or -1. */
int app_parse_ip(const char *str, uint32_t *out);
/* "A.B.C.D/LEN" with LEN 1..32: 0, or -1. */
int app_parse_cidr(const char *str, uint32_t *addr, uint8_t *len);

#endif
