/* The monotonic clock, in one place: CLOCK_MONOTONIC in nanoseconds,
 * microseconds and milliseconds. The stack reads time through its own clock callback
 * (sl_config.clock_us), whose default is sl_clock_us. */
#ifndef SL_COMMON_CLOCK_H
#define SL_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t sl_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC_COARSE: the last tick (a few ms old), cheaper to read. */
static inline uint64_t sl_clock_coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t sl_clock_us(void) { return sl_clock_ns() / 1000u; }
static inline uint64_t sl_clock_ms(void) { return sl_clock_ns() / 1000000u; }

#endif
