/* Packet I/O backends behind one small table of function pointers
 * (the shape of nginx's ngx_event_actions_t / Redis' connection.h).
 *
 * A backend moves whole Ethernet frames. It never parses beyond what the
 * kernel interface needs (vnet header / tpacket status).
 *
 * Receive is zero-copy in bursts: rx_burst fills up to `max` frame views
 * that stay valid until the next rx_burst or rx_release call.
 * Transmit is zero-copy: tx_alloc hands out a writable slot of at least
 * `len` bytes (NULL if the ring is full: the caller counts
 * drop_tx_ring_full), tx_commit queues it, tx_flush kicks the kernel.
 */
#ifndef SL_IO_H
#define SL_IO_H

#include <stddef.h>
#include <stdint.h>

#include "common/ctr.h"

/* sl_frame.flags */
#define SL_FRAME_CSUM_TRUSTED 0x1 /* L3/L4 checksum not (yet) filled in by a
                                     local sender (TP_STATUS_CSUMNOTREADY /
                                     VIRTIO_NET_HDR_F_NEEDS_CSUM) or already
                                     verified (DATA_VALID): skip verification */

struct sl_frame {
    uint8_t *data; /* starts at the Ethernet header */
    uint32_t len;
    uint32_t flags;
};

/* Transmit metadata for one frame. */
struct sl_tx_meta {
    /* If non-zero, the frame is one IPv4/TCP super-segment whose payload
     * the device (or kernel) cuts into gso_size pieces (TSO/GSO). Only set
     * when the backend advertises max_gso > 0. */
    uint16_t gso_size;
    /* If non-zero, the TCP checksum field holds only the pseudo-header sum
     * and the backend/kernel must complete it (NEEDS_CSUM). Only set when
     * the backend advertises csum_offload. l4_off is the TCP header offset
     * from the start of the frame. */
    uint8_t csum_partial;
    uint16_t l4_off;
};

struct sl_io;

struct sl_io_ops {
    const char *name;
    int (*rx_burst)(struct sl_io *io, struct sl_frame *frames, int max);
    void (*rx_release)(struct sl_io *io);
    uint8_t *(*tx_alloc)(struct sl_io *io, uint32_t len);
    /* Queue the frame written into the last tx_alloc slot. Returns 0 or -errno. */
    int (*tx_commit)(struct sl_io *io, uint32_t len, const struct sl_tx_meta *meta);
    int (*tx_flush)(struct sl_io *io);
    /* fd to poll for readability, or -1 (then the loop spins / sleeps). */
    int (*poll_fd)(struct sl_io *io);
    void (*destroy)(struct sl_io *io);
};

struct sl_io {
    const struct sl_io_ops *ops;
    uint8_t mac[6];
    uint32_t mtu;       /* L3 MTU, e.g. 1500 */
    uint32_t max_frame; /* largest frame rx may deliver / tx may accept */
    uint32_t max_gso;   /* largest super-segment payload, 0 = no GSO */
    int csum_offload;   /* tx may use csum_partial */
    uint64_t *ctr;      /* counter array (SL_CTR__COUNT), set by the stack */
};

/* Backend options; zero means the default. */
struct sl_io_opts {
    /* Receive ring slots (packet backend): one frame each, so the most
     * frames that can wait for the loop; about three per connection
     * opening at once. Default 32768 (fewer at a large MTU). */
    uint32_t rx_frames;
};

/* Backend helpers: count n on counter c if the stack gave a counter array;
 * write a printf-style reason into err (may be NULL / 0-sized). */
static inline void sl_io_ctr_add(struct sl_io *io, enum sl_ctr c, uint64_t n)
{
    if (io->ctr)
        io->ctr[c] += n;
}
void sl_io_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Open a backend from a spec: "packet:IFACE", "tap:NAME". opts may be
 * NULL. Returns 0 or -errno and writes a human-readable reason into err. */
int sl_io_open(const char *spec, struct sl_io **out, char *err, size_t errlen);
int sl_io_open_opts(const char *spec, const struct sl_io_opts *opts, struct sl_io **out, char *err,
                    size_t errlen);

/* Backends. */
int sl_io_packet_open(const char *ifname, const struct sl_io_opts *opts, struct sl_io **out,
                      char *err, size_t errlen);
int sl_io_tap_open(const char *name, struct sl_io **out, char *err, size_t errlen);

/* In-memory pair for tests: frames transmitted on one end are received on
 * the other (after tx_flush), in order. Up to `depth` frames in flight. */
int sl_io_mem_pair(uint32_t mtu, uint32_t depth, struct sl_io **a, struct sl_io **b);

/* Impairment layer wrapping any backend (applies on receive and on
 * transmit): loss, duplication, reordering, delay; seeded, deterministic.
 * Spec: "loss=P,dup=P,reorder=P,delay=MS,seed=N" (P in percent, 0..100,
 * fractional allowed). Takes ownership of `inner`. The delay queue needs a
 * clock: `now_us` is read through the callback so tests can use a virtual
 * clock. */
typedef uint64_t (*sl_clock_fn)(void *arg);
/* Validates an impairment spec without opening anything: 0 or -EINVAL. */
int sl_io_impair_check(const char *spec, char *err, size_t errlen);
int sl_io_impair_wrap(struct sl_io *inner, const char *spec, sl_clock_fn clock, void *clock_arg,
                      struct sl_io **out, char *err, size_t errlen);

/* Software segmentation and checksums (io_gso.c), for backends whose
 * device lacks TSO or transmit checksum offload. Pure. */
struct sl_gso {
    const uint8_t *frame; /* the super-frame (Ethernet + IPv4 + TCP) */
    uint32_t len;
    uint32_t l4_off;  /* TCP header offset */
    uint32_t hdr_len; /* Ethernet + IPv4 + TCP headers, options included */
    uint32_t mss;     /* payload bytes per segment */
    uint32_t nsegs;   /* >= 1 */
};
/* Checks that `frame` is one unfragmented IPv4/TCP frame whose IPv4 total
 * length covers it exactly, and prepares to cut its payload into mss-byte
 * segments. Returns 0 or -EINVAL. */
int sl_gso_init(struct sl_gso *g, const uint8_t *frame, uint32_t len, uint16_t mss);
/* Length of segment i (0 past the last). */
uint32_t sl_gso_seg_len(const struct sl_gso *g, uint32_t i);
/* Writes segment i (sl_gso_seg_len(g, i) bytes) into out, which must not
 * overlap the super-frame: headers fixed up, TCP checksum complete, or
 * only the pseudo-header sum if csum_partial (the device completes it).
 * Returns its length, 0 if i is past the last. */
uint32_t sl_gso_seg(const struct sl_gso *g, uint32_t i, uint8_t *out, int csum_partial);
/* Replaces the pseudo-header sum in the TCP checksum field of an IPv4/TCP
 * frame (TCP header at l4_off) by the complete checksum. 0 or -EINVAL. */
int sl_csum_complete(uint8_t *frame, uint32_t len, uint32_t l4_off);

/* Output-commit hold (io_hold.c): frames are staged until
 * sl_io_hold_release() hands them to `inner` (and kicks it) or
 * sl_io_hold_discard() drops them. Takes ownership of inner. */
int sl_io_hold_wrap(struct sl_io *inner, struct sl_io **out);
int sl_io_is_hold(const struct sl_io *io);
/* Not a hold wrapper: just tx_flush. */
int sl_io_hold_release(struct sl_io *io);
void sl_io_hold_discard(struct sl_io *io);
/* pass != 0: the frames transmitted next are not held: they go to `inner`
 * at once (in its own batch, kicked at the next flush, release or
 * discard). The stack sets it per connection (only sync connections'
 * frames wait for their state to be durable). */
void sl_io_hold_pass(struct sl_io *io, int pass);
/* Frees the wrapper (held frames are dropped) and returns inner. */
struct sl_io *sl_io_hold_unwrap(struct sl_io *io);

#endif
