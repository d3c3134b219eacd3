/* slproxy: the back ends (unmodified servers over kernel TCP): the list,
 * health checks, round robin over the healthy ones, and the blocking
 * ranged fetch that rebuilds a restored connection's unacknowledged bytes. */
#ifndef SLPROXY_BACKEND_H
#define SLPROXY_BACKEND_H

#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "appcommon.h"

#define PX_MAX_BACKENDS 16
#define PX_POOL 64 /* idle keep-alive connections kept per back end */

struct backend {
    char name[64];          /* HOST:PORT as given */
    struct sockaddr_in sa;
    int healthy;
    /* health check in flight: connect, "HEAD / HTTP/1.0", a status line */
    int hc_fd;
    int hc_sent;
    uint64_t hc_deadline_us, hc_next_us;
    char hc_buf[16];
    size_t hc_len;
    /* idle keep-alive connections, most recent last */
    int idle[PX_POOL];
    unsigned nidle;
};

struct backends {
    struct backend b[PX_MAX_BACKENDS];
    unsigned n, rr;
    uint32_t interval_ms;   /* between health checks */
    uint32_t timeout_ms;    /* of a health check, a connect, a recovery fetch */
    /* counters */
    uint64_t hc_ok, hc_fail, hc_timeout, marked_down, marked_up, connect_fail;
    uint64_t pool_reused, pool_stale, pool_full;
};

/* Parses HOST:PORT (HOST an IPv4 address) into be->b[be->n++]: 0 or -1. */
int backend_add(struct backends *be, const char *spec);
/* Index of the next healthy back end other than `avoid` (-1: any), round
 * robin; if none is healthy, the next one anyway (the checks may lag). */
int backend_pick(struct backends *be, int avoid);
/* A request to back end i failed (connect or mid-response): it is out of
 * the rotation until a health check succeeds. */
void backend_failed(struct backends *be, int i, int quiet);
/* Non-blocking connect to back end i: the socket or -errno. */
int backend_connect(struct backends *be, int i);
/* An idle keep-alive connection to back end i (one the server closed
 * meanwhile is dropped: counted stale), or -1. */
int backend_take_idle(struct backends *be, int i);
/* Back into the pool after a complete response (closed if full). */
void backend_put_idle(struct backends *be, int i, int fd);

/* Health checks: adds the descriptors of checks in flight to p[] (returns
 * how many), and the time until the next check is due to *timeout_ms. */
unsigned backend_poll_add(struct backends *be, struct pollfd *p, unsigned cap, uint64_t now_us,
                          int *timeout_ms);
/* Advances the checks (starts due ones, reads answers, expires them). */
void backend_health_run(struct backends *be, const struct pollfd *p, unsigned np,
                        uint64_t now_us, int quiet);
void backend_close_all(struct backends *be);

/* A recovery fetch on blocking sockets with deadlines: GET `target` with
 * Range: bytes=off- and If-Range: validator from a healthy back end. On
 * success (a 206 for exactly that object), the socket and the body bytes
 * already read are left in *f. Returns 0, -ESTALE if the object changed
 * (no retry: never a wrong byte), or -EIO if no back end answered. */
struct fetch {
    int fd;
    int backend;
    uint64_t next;          /* object offset of the next byte from fd/buf */
    uint64_t total;         /* representation length (Content-Range) */
    char obj[112];
    size_t off, len;        /* unread bytes buf[off, len) */
    char buf[65536];
    uint64_t used_us;       /* for expiry of unclaimed fetches */
};
int fetch_open(struct backends *be, struct fetch *f, const char *obj, uint64_t off, int quiet);
/* Reads exactly n bytes (blocking, deadline): 0 or -EIO. */
int fetch_read(struct backends *be, struct fetch *f, void *dst, size_t n);



#endif
