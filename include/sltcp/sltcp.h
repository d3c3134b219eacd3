/* sltcp public API.
 *
 * Error convention (the only one): functions returning int or ssize_t
 * return >= 0 on success and a negative errno value on failure
 * (-EAGAIN: would block, -EINVAL: bad argument, -ENOMEM, -ECONNRESET,
 * -ETIMEDOUT, -ENOTCONN, -EADDRINUSE, -EMFILE: connection limit, ...).
 * sl_strerror() renders them.
 *
 * Threading: a stack and everything it owns belong to the thread that
 * calls sl_run(). Callbacks run inside sl_run(), never inside another sl_*
 * call.
 *
 * Events are edge-triggered: a callback is told when readiness changes
 * (new data, freed send space, FIN, error), not again while it holds, so
 * an application reads until -EAGAIN and writes until -EAGAIN or until it
 * has nothing left, then waits for the next event.
 */
#ifndef SLTCP_H
#define SLTCP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* SL_API marks the functions the library exports. It is built with
 * -fvisibility=hidden, so nothing else leaves the shared object: every
 * function declared in this header carries SL_API (a test checks). */
#if defined(__GNUC__) || defined(__clang__)
#define SL_API __attribute__((visibility("default")))
#else
#define SL_API
#endif

typedef struct sl_stack sl_stack;
typedef struct sl_conn sl_conn;
typedef struct sl_listener sl_listener;

/* Congestion control algorithms. */
enum sl_cc { SL_CC_NEWRENO = 0, SL_CC_CUBIC = 1 };

struct sl_config {
    const char *dev;      /* "packet:IFACE" | "tap:NAME" (required) */
    uint32_t addr;        /* our IPv4 address, host byte order */
    uint8_t prefix_len;   /* e.g. 24 */
    uint32_t gateway;     /* 0 = none; host byte order */
    const char *impair;   /* NULL or "loss=P,dup=P,reorder=P,delay=MS,ce=P,seed=N" */
    uint32_t max_conns;   /* 0 = default (131072); beyond it SYNs get a RST */
    uint64_t max_buf_bytes; /* budget for all send + receive rings; 0 = no limit
                               beyond max_conns; beyond it SYNs get a RST */
    uint32_t sndbuf;      /* per-connection, power of two; 0 = default */
    uint32_t rcvbuf;      /* per-connection, power of two; 0 = default */
    enum sl_cc cc;
    int no_gso;           /* disable TSO/GSO on transmit even if available */
    uint32_t rx_ring;     /* receive ring slots (packet:), one frame each: the
                             most frames that can wait for the loop, about
                             three per connection opening at once; 0 = 32768
                             (fewer at a large MTU: 56 MB at most) */
    const uint8_t *isn_key; /* 16 bytes, NULL = random per process */
    uint8_t ttl;          /* IPv4 TTL of every segment; 0 = 64 (RFC 9293 MUST-49) */
    uint8_t tos;          /* IPv4 DS field / TOS byte (RFC 9293 MUST-48) */
    /* Externalized connection state (docs/externalized-state.md). */
    const char *store;    /* NULL = none; "mem:", "shm:NAME", "redis://HOST:PORT" */
    const uint8_t *store_key; /* 32-byte secret MAC key sealing every record;
                                 required with a store (sl_stack_create fails
                                 with -EINVAL without one). Also the fleet
                                 secret: the record MAC, ISN and SYN-cookie
                                 keys derive from it (unless isn_key is set),
                                 the same on every instance (docs/fleet.md) */
    /* Time source, microseconds from any fixed origin, never decreasing;
     * NULL = CLOCK_MONOTONIC. Simulations and tests pass a virtual clock
     * (sl_run() then never sleeps without a device fd). */
    uint64_t (*clock_us)(void *clock_arg);
    void *clock_arg;
    /* ECN (RFC 3168): a SYN that asks for it is answered with it, unless
     * no_ecn; active opens ask only with ecn_connect (as Linux's
     * net.ipv4.tcp_ecn = 2 and 1). */
    int no_ecn;
    int ecn_connect;
};

/* Durability of a listener's connections (needs sl_config.store). */
enum sl_durability {
    SL_DUR_OFF = 0,   /* the plain stack */
    SL_DUR_ASYNC = 1, /* write-behind: state is written once per loop
                         iteration, output is not held */
    SL_DUR_SYNC = 2,  /* output commit: no segment leaves before the state
                         that produced it is in the store */
};

/* Readiness events delivered to a connection callback. SL_EV_CLOSED is
 * delivered once, from sl_run(), after sl_close() or sl_abort() and after
 * the protocol is done with the connection (for an active closer that is
 * after TIME-WAIT); free per-connection state there. */
#define SL_EV_READABLE 0x01  /* data or EOF can be read */
#define SL_EV_WRITABLE 0x02  /* send space is available */
#define SL_EV_CONNECTED 0x04 /* active open completed */
#define SL_EV_HUP 0x08       /* peer sent FIN (read returns 0 once drained) */
#define SL_EV_ERROR 0x10     /* reset or timeout; sl_conn_error() says which */
#define SL_EV_CLOSED 0x20    /* handle is about to become invalid (after sl_close) */
#define SL_EV_SOFTERR 0x80   /* a soft error (RFC 9293 3.9.1.8): an ICMP error for
                                the connection, or R1 retransmissions without an
                                answer; sl_conn_soft_error() says which. The
                                connection goes on. */
#define SL_EV_URGENT 0x100   /* the peer sent urgent data (RFC 9293 3.8.5); it is
                                delivered inline, sl_conn_urgent() says how much
                                of what is left to read is urgent */
#define SL_EV_EVICTED 0x40   /* with SL_EV_CLOSED: the idle connection was moved
                                to the store (not closed); it comes back through
                                the accept queue and on_restore on its next segment */

typedef void (*sl_conn_cb)(sl_conn *c, unsigned events, void *user);
typedef void (*sl_listen_cb)(sl_listener *l, void *user);

SL_API int sl_stack_create(const struct sl_config *cfg, sl_stack **out, char *err, size_t errlen);
SL_API void sl_stack_destroy(sl_stack *s);

/* ---- devices from outside the library ---- */
/* A packet device the application provides (a simulator, a test harness,
 * a fuzzer, DPDK, a tunnel): it takes and gives whole Ethernet frames, the
 * shape of smoltcp's Device. The built-in ones are named in sl_config.dev.
 * Every callback gets the device's ctx and runs inside sl_run(). */
struct sl_device_ops {
    /* Copies the next received frame into buf (cap bytes, at least
     * mtu + 14): returns its length, 0 if none is waiting, or -errno.
     * A frame longer than cap is dropped by the device. */
    int (*recv)(void *ctx, void *buf, size_t cap);
    /* Transmits one frame (the bytes are only valid during the call):
     * 0, -EAGAIN when the device is full (the frame is lost, as on a full
     * link, and counted as drop_tx_ring_full), or another -errno
     * (drop_tx_error). */
    int (*send)(void *ctx, const void *frame, size_t len);
    /* Optional: pushes the frames sent so far out; once per loop step. */
    int (*flush)(void *ctx);
    /* Optional: a file descriptor that polls readable when frames wait;
     * without it (NULL or -1) sl_run() does not block on the device. */
    int (*poll_fd)(void *ctx);
    /* Optional: releases the device; called once, by sl_stack_destroy()
     * or by a failed sl_stack_create_dev(). */
    void (*destroy)(void *ctx);
};

struct sl_device {
    const struct sl_device_ops *ops;
    void *ctx;
    uint8_t mac[6];
    uint32_t mtu; /* IPv4 MTU, 68..65535; 0 = 1500 */
};

/* Creates a stack over `dev` (copied; cfg->dev is ignored). On failure
 * the device has been destroyed. */
SL_API int sl_stack_create_dev(const struct sl_config *cfg, const struct sl_device *dev,
                               sl_stack **out, char *err, size_t errlen);

/* Runs one iteration of the event loop: waits up to timeout_ms for
 * packets (0 = don't wait, -1 = until the next timer), processes them,
 * fires timers, flushes output. Returns 0 or -errno. */
SL_API int sl_run(sl_stack *s, int timeout_ms);
/* Current monotonic time of the stack, microseconds. */
SL_API uint64_t sl_now_us(sl_stack *s);
/* For an application that polls descriptors of its own with the stack's:
 * returns the descriptor that becomes readable when the device has packets
 * (-1 if there is none: poll with a short timeout), and sets *timeout_ms to
 * the longest wait before sl_run must run again (-1: no timer pending).
 * Loop: poll(that fd + yours, min(*timeout_ms, yours)); sl_run(s, 0). */
SL_API int sl_poll_fd(sl_stack *s, int *timeout_ms);

/* ---- passive open ---- */
struct sl_listen_opts {
    uint32_t backlog;  /* half-open + unaccepted connections; 0 = default (1024) */
    int no_syncookies; /* drop SYNs beyond the backlog instead of answering
                          with SYN cookies (RFC 4987) */
    enum sl_durability durability;
    /* Level-2 recovery: received bytes the application read stay in the
     * store (and are re-delivered after a restore) until sl_conn_commit. */
    int commit;
    /* Send by reference: reads `len` bytes of object `object` at `off`
     * back after a restore (sl_write_ref). Returns the bytes read or -errno. */
    ssize_t (*ref_read)(void *user, const char *object, uint64_t off, void *buf, size_t len);
    /* Called by sl_accept for a connection rebuilt from the store, before
     * it is returned, with the blob of its last sl_conn_checkpoint (NULL, 0
     * if none). Migratory TCP's import. sl_conn_restored_checkpoint gives
     * the same blob without a callback. */
    void (*on_restore)(sl_conn *c, const void *blob, size_t len, void *user);
    /* Idle eviction: an established connection with nothing in flight and
     * no activity for this long leaves memory (its state stays in the
     * store); 0 = never. */
    uint32_t evict_idle_ms;
};
SL_API int sl_listen(sl_stack *s, uint16_t port, const struct sl_listen_opts *opts, sl_listen_cb cb,
              void *user, sl_listener **out);
/* Returns 0 and a connection in *out, or -EAGAIN when the queue is empty. */
SL_API int sl_accept(sl_listener *l, sl_conn **out);
SL_API void sl_listener_close(sl_listener *l);

/* ---- active open ---- */
SL_API int sl_connect(sl_stack *s, uint32_t daddr, uint16_t dport, sl_conn **out);

/* Active open with a source route (RFC 9293 3.9.2.1, RFC 791 LSRR, or
 * SSRR if strict): every segment goes through hops[0..nhops-1] (1..8
 * addresses) to daddr. This route is kept even when the peer's segments
 * carry one of their own (MUST-52). */
SL_API int sl_connect_route(sl_stack *s, uint32_t daddr, uint16_t dport, const uint32_t *hops,
                     unsigned nhops, int strict, sl_conn **out);

/* ---- per connection ---- */
/* Sets the callback and user pointer; pending readiness is delivered on
 * the next sl_run(). */
SL_API void sl_conn_set_cb(sl_conn *c, sl_conn_cb cb, void *user);
SL_API void *sl_conn_user(const sl_conn *c);
/* >0 bytes read, 0 at EOF, -EAGAIN, or the connection error. */
SL_API ssize_t sl_read(sl_conn *c, void *buf, size_t len);
/* Bytes queued (may be short), -EAGAIN when the buffer is full, or -EPIPE /
 * the connection error. */
SL_API ssize_t sl_write(sl_conn *c, const void *buf, size_t len);
/* Like sl_write, and marks everything written so far as urgent data (RFC
 * 9293 3.8.5: SEND with the URGENT flag; the peer learns where it ends). */
SL_API ssize_t sl_write_urgent(sl_conn *c, const void *buf, size_t len);
/* Bytes of urgent data still to be read (0: none), MUST-33. */
SL_API size_t sl_conn_urgent(const sl_conn *c);
/* Free space in the send buffer, bytes. */
SL_API size_t sl_write_space(const sl_conn *c);
/* how: SHUT_RD, SHUT_WR or SHUT_RDWR from <sys/socket.h>. SHUT_WR sends
 * FIN after queued data. SHUT_RD discards further input. */
SL_API int sl_shutdown(sl_conn *c, int how);
/* Closes the handle: queued data is still delivered, then FIN. The handle
 * must not be used after this call; the callback gets SL_EV_CLOSED.
 * If received data is still unread, the connection is reset instead
 * (RFC 1122 4.2.2.13): a server that wants a graceful close after a
 * response shuts down writing, drains input until EOF, then closes. */
SL_API int sl_close(sl_conn *c);
/* Hard close: sends RST, discards queues. */
SL_API int sl_abort(sl_conn *c);
/* 0 or the negative errno that ended the connection. */
SL_API int sl_conn_error(const sl_conn *c);
/* The last soft error (negative errno) or 0, and clears it:
 * -EHOSTUNREACH / -ENETUNREACH / -ECONNREFUSED / -EPROTO (ICMP destination
 * unreachable codes), -EHOSTDOWN (time exceeded), -EPROTO (parameter
 * problem), -ETIMEDOUT (R1 retransmissions). */
SL_API int sl_conn_soft_error(sl_conn *c);

/* ---- externalized state (listeners with durability != OFF) ---- */
/* 1 if the connection was rebuilt from the store (a restart or a move). */
SL_API int sl_conn_restored(const sl_conn *c);
/* The checkpoint a restored connection came back with: 0 and the blob of
 * its last sl_conn_checkpoint before the restart (*blob NULL, *len 0 if it
 * had none), or -ENOENT for a connection that was not restored. The blob
 * belongs to the connection and stays valid until the first
 * sl_conn_checkpoint on it, or until it is closed; copy what must outlive
 * that. The same blob on_restore receives. */
SL_API int sl_conn_restored_checkpoint(const sl_conn *c, const void **blob, size_t *len);
/* Saves `blob` with the connection's stream positions, atomically, at the
 * next write of its state (at most 1 MiB). -EINVAL without durability. */
SL_API int sl_conn_checkpoint(sl_conn *c, const void *blob, size_t len);
/* Level 2: the application consumed and persisted the next `n` bytes it
 * read; they are never re-delivered. -EINVAL if n exceeds what was read. */
SL_API int sl_conn_commit(sl_conn *c, size_t n);
/* Like sl_write, and records that the bytes are [off, off+n) of immutable
 * object `object` (a name of up to 111 bytes): the store then keeps the
 * reference, not the bytes (TRODS: object offset = ACK - start). */
SL_API ssize_t sl_write_ref(sl_conn *c, const char *object, uint64_t off, const void *buf,
                           size_t len);
/* Bytes written so far on the connection's send stream (accepted by
 * sl_write and friends): the 64-bit stream offset of the next byte
 * written. Part of the connection's state, so it continues after a
 * restore: differences give positions for checkpoints, past 4 GiB too. */
SL_API uint64_t sl_conn_write_off(const sl_conn *c);
/* 1 if the connection's state, with its last checkpoint and commit, has
 * been written (sync: it is in the store; async: handed to the writer),
 * 0 if a write is still due, -EINVAL without durability. An application
 * that acts outside the connection (a request relayed to another server)
 * waits for 1 after checkpointing that it is about to. */
SL_API int sl_conn_synced(const sl_conn *c);

enum sl_opt {
    SL_OPT_NODELAY = 1,   /* disable Nagle (int 0/1) */
    SL_OPT_KEEPALIVE = 2, /* keep-alive probes on/off (int 0/1), off by default */
    SL_OPT_KEEPIDLE = 3,  /* seconds idle before the first probe; default 7200 */
    SL_OPT_RETRIES = 4,   /* retransmissions before giving up (R2), 1..255; 0 = default 15 */
    SL_OPT_TOS = 5,       /* IPv4 DS field / TOS byte of this connection's segments,
                             0..255 (RFC 9293 MUST-48); default sl_config.tos */
};
SL_API int sl_conn_setopt(sl_conn *c, enum sl_opt opt, int value);

struct sl_conn_info {
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    uint8_t state; /* RFC 9293 state, see sl_state_name() */
    uint32_t srtt_us, rto_us, cwnd, ssthresh, snd_mss;
    uint64_t retransmits;
};
SL_API int sl_conn_info(const sl_conn *c, struct sl_conn_info *out);
SL_API const char *sl_state_name(uint8_t state);

/* ---- stats ---- */
/* Number of named counters, and name/value by index. */
SL_API unsigned sl_stats_count(void);
SL_API const char *sl_stats_name(unsigned i);
SL_API uint64_t sl_stats_value(const sl_stack *s, unsigned i);
/* Writes "name value\n" for every non-zero counter (all if `all`). */
SL_API void sl_stats_dump(const sl_stack *s, int fd, int all);
SL_API unsigned sl_conn_count(const sl_stack *s);

SL_API const char *sl_strerror(int err);

/* Validates an impairment spec ("loss=P,dup=P,reorder=P,delay=MS,seed=N")
 * with the stack's own parser: 0, or -EINVAL and a reason in err. (Public
 * so that a program can refuse a bad flag before it opens a device; the
 * parser itself belongs to the stack's impairment wrapper.) */
SL_API int sl_impair_check(const char *spec, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
