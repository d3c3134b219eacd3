/* Public-API test helpers: an in-memory device pair (struct sl_device, as
 * an outside adapter would write one) and counters by name. Nothing here
 * needs a private header. */
#ifndef SL_TEST_MEMDEV_H
#define SL_TEST_MEMDEV_H

#include <sltcp/sltcp.h>

struct memdev_pair;

/* Two devices wired back to back: a frame sent on one is received on the
 * other after the sender's flush, in order; up to `depth` frames in flight
 * each way (beyond: send says -EAGAIN). The devices have no destroy
 * callback: stacks can be destroyed and created again on them (a restart);
 * memdev_free releases both once no stack uses them. */
struct memdev_pair *memdev_pair(uint32_t mtu, uint32_t depth, struct sl_device *a,
                                struct sl_device *b);
void memdev_free(struct memdev_pair *p);
/* Frames waiting to be received by side 0 or 1 (dropped by memdev_clear). */
unsigned memdev_queued(const struct memdev_pair *p, int side);
void memdev_clear(struct memdev_pair *p, int side);

/* The counter called `name`; ~0 if there is none. */
uint64_t stat_get(const sl_stack *s, const char *name);

#endif
