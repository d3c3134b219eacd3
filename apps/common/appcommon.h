/* Small helpers shared by the sltcp applications. */
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

/* The monotonic clock in microseconds. */
uint64_t app_now_us(void);

/* Little-endian stores and loads (the checkpoints the apps write). */
static inline void app_put_le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void app_put_le32(uint8_t *p, uint32_t v)
{
    app_put_le16(p, v);
    app_put_le16(p + 2, v >> 16);
}
static inline void app_put_le64(uint8_t *p, uint64_t v)
{
    app_put_le32(p, (uint32_t)v);
    app_put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t app_le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static inline uint32_t app_le32(const uint8_t *p) { return app_le16(p) | app_le16(p + 2) << 16; }
static inline uint64_t app_le64(const uint8_t *p)
{
    return app_le32(p) | (uint64_t)app_le32(p + 4) << 32;
}

#endif
