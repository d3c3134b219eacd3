/* slproxy's relay, private to its files: a client connection (struct
 * pconn), its states, and the calls between the relay's parts:
 *   proxy.c          the client leg: requests, the response written to the
 *                    client, a connection's lifetime, checkpoint positions
 *   proxy_backend.c  the back-end leg: connect, send, read the response,
 *                    retry on another back end, resume with Range/If-Range
 *   proxy_restore.c  accepting, and restoring a connection from the store
 *                    (ref_read, the fetch it leaves, on_restore)
 *   proxy_loop.c     the event loop's side: poll sets, timers, stats,
 *                    shutdown */
#ifndef SLPROXY_PROXY_INT_H
#define SLPROXY_PROXY_INT_H

#include "proxy.h"

#include <sys/types.h>

enum cst { C_IDLE, C_WAIT_SYNC, C_BACKEND, C_CLOSING, C_DEAD };
enum bst { B_NONE, B_CONNECTING, B_SENDING, B_HEAD, B_BODY };
enum bm { BM_NONE, BM_LEN, BM_EOF };

#define PX_BUF 65536
#define PX_TARGET_MAX 4096
#define PX_HOST_MAX 256
#define PX_CLOSE_US 5000000u   /* a closing connection drains input this long */
#define PX_STASH_US 5000000u   /* an unclaimed recovery fetch lives this long */

struct pconn {
    struct proxy *px;
    sl_conn *c;
    struct pconn *prev, *next;
    int st;
    char ip[16];
    char in[PX_MAX_HEAD]; /* read from the client, not yet committed */
    size_t in_len;
    int client_eof;
    /* the request being served */
    enum px_method method;
    int keep_alive, minor, unsafe, expect_100, sent_any;
    size_t req_head_len;
    uint64_t fwd_left;    /* request body bytes still to forward */
    char host[PX_HOST_MAX], target[PX_TARGET_MAX];
    size_t host_len, target_len;
    char *breq;           /* the request for the back end */
    size_t breq_len, breq_off;
    /* the back end */
    int bfd, bidx, btries, bst, resuming;
    int breused, bkeep;   /* a pooled connection; it can go back to the pool */
    uint64_t bdeadline;
    char rhead[PX_MAX_HEAD];
    size_t rhead_len;
    /* the response */
    int bm, by_ref, head_pending, head_written, resp_keep;
    char hout[PX_MAX_HEAD + 64];
    size_t hout_len;
    struct px_ckpt ck;
    char validator[PX_VALID_MAX];
    uint64_t pos;         /* object offset of the next body byte */
    char buf[PX_BUF];     /* back-end bytes not yet written to the client */
    size_t boff, blen;
    uint64_t close_deadline;
};

/* proxy.c */
void pc_plog(const struct proxy *px, const char *fmt, const char *a, const char *b);
/* The object offset of the next body byte of a restored connection. */
uint64_t pc_restored_pos(const struct pconn *p);
/* Stores the checkpoint p->ck (with a store only). */
void pc_ckpt_save(struct pconn *p);
/* The first n bytes of in[] are consumed for good (committed). */
void pc_consume(struct pconn *p, size_t n);
void pc_backend_close(struct pconn *p);
/* Closes the client connection (with a reset if rst). */
void pc_kill_conn(struct pconn *p, int rst);
/* Half-closes, then drains the client's input until EOF or a deadline. */
void pc_go_closing(struct pconn *p);
/* An error answer if nothing of the response reached the client yet,
 * else a reset. */
void pc_fail_exchange(struct pconn *p, int status);
void pc_response_done(struct pconn *p);
/* Writes what the back end gave to the client. */
void pc_pump(struct pconn *p);
/* Reads the client: the next request, or body bytes to forward. */
void pc_client_read(struct pconn *p);
void pc_on_client(sl_conn *c, unsigned ev, void *user);

/* proxy_backend.c */
/* Picks a back end other than `avoid` (if it can) and connects. */
void pc_start_backend(struct pconn *p, int avoid);
/* Asks a back end for the rest of the current object (Range/If-Range). */
void pc_resume(struct pconn *p, int avoid);
void pc_backend_error(struct pconn *p);
/* Forwards request body bytes: 0, or -1 if the connection went away. */
int pc_forward_body(struct pconn *p);
void pc_backend_writable(struct pconn *p);
void pc_read_head(struct pconn *p);
void pc_read_body(struct pconn *p);

#endif
