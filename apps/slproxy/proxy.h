/* slproxy: the relay between sltcp client connections and kernel-TCP back
 * ends (proxy*.c, parts in proxy_int.h), driven by main.c's event loop. */
#ifndef SLPROXY_PROXY_H
#define SLPROXY_PROXY_H

#include "backend.h"
#include "proxy_http.h"

#include <poll.h>
#include <sltcp/sltcp.h>

#define PX_MAX_STASH 64

struct pconn;

struct proxy {
    sl_stack *s;
    sl_listener *l;
    struct backends be;
    int durable;          /* the listener keeps state in a store */
    int quiet, verbose;
    uint32_t max_conns;
    struct pconn *head;   /* every live client connection */
    unsigned nconns;
    /* on_restore hands the checkpoint to the accept loop through these */
    int rest_have;
    size_t rest_len;
    uint8_t rest_blob[PX_CKPT_MAX];
    /* recovery fetches opened by ref_read, claimed by on_restore */
    struct fetch *stash[PX_MAX_STASH];
    /* counters (written with the stack's on SIGUSR1 and at exit) */
    uint64_t accepted, requests, responses, bad_requests, resp_by_ref, resp_by_value,
        unsafe_requests, backend_errors, backend_retries, resume_backend, resume_restore,
        resume_ok, resume_changed, resume_failed, ref_fetches, ref_fetch_fail, ref_changed,
        restored, restored_idle, restored_body, restored_aborted, unsafe_cut, aborts,
        errors_sent, stash_adopted, stash_expired, timeouts;
};

void proxy_listen_cb(sl_listener *l, void *user);
void proxy_on_restore(sl_conn *c, const void *blob, size_t len, void *user);
ssize_t proxy_ref_read(void *user, const char *object, uint64_t off, void *buf, size_t len);

/* One pass of the loop: fills p[] with the back-end descriptors to wait
 * on (returns how many) and lowers *timeout_ms to the next deadline. */
unsigned proxy_poll_add(struct proxy *px, struct pollfd *p, struct pconn **who, unsigned cap,
                        int *timeout_ms);
/* Handles what poll() reported for them, and per-connection timers. */
void proxy_poll_run(struct proxy *px, struct pollfd *p, struct pconn **who, unsigned n);
/* After sl_run: unsafe requests whose checkpoint is stored go out;
 * unclaimed recovery fetches expire. */
void proxy_after_run(struct proxy *px);
void proxy_dump_stats(const struct proxy *px, int fd);
/* Closes the back-end side (the client side is left to the store or closed
 * with the stack). */
void proxy_shutdown(struct proxy *px, int close_clients);

#endif
