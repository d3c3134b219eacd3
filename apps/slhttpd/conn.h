/* slhttpd: what the server's files share (private to apps/slhttpd).
 *
 *   server.c   connections: accept, callbacks, the state machine, writing
 *              responses, housekeeping, the public calls of server.h
 *   respond.c  requests to responses: files below the root, heads, ranges
 *   upload.c   PUT into the spool
 *   ckpt.c     externalized state: checkpoints, commits, restore
 */
#ifndef SLHTTPD_CONN_H
#define SLHTTPD_CONN_H

#include "server.h"

#include "http_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define IN_BUF 4096          /* per-connection input buffer */
#define HDR_BUF 1024         /* response head (+ small error body) */
#define SCRATCH (256 * 1024) /* shared pread buffer */
#define LINGER_US (5 * 1000000ull)

enum conn_state { ST_READING, ST_WRITING, ST_LINGER, ST_CLOSED, ST_UPLOAD };

#define OBJ_MAX 112 /* object names for sl_write_ref (relative paths) */
#define UP_SYNC_BYTES (1u << 20) /* PUT: fdatasync + commit at least this often */

/* The bulky part of a connection, released as soon as it is closed. */
struct conn_io {
    char hdr[HDR_BUF];
    char in[IN_BUF];
    struct http_parser parser;
};

struct conn {
    struct conn *prev, *next; /* srv->open or srv->closing list */
    struct server *srv;
    sl_conn *c;
    enum conn_state state;
    int keep;        /* keep the connection after this response */
    int v10;         /* the request was HTTP/1.0 */
    uint64_t last_us; /* last progress (read, write, state change) */
    uint64_t req_us;  /* when the first byte of the current request was parsed */
    uint32_t raddr;
    uint16_t rport;

    /* input */
    size_t in_off, in_len;

    /* response in progress */
    size_t hdr_off, hdr_len;
    int fd;             /* -1 when unused */
    uint64_t body_off, body_end; /* file offsets still to send */
    int status;          /* for the access log */

    /* externalized state (durable listeners) */
    char obj[OBJ_MAX];   /* body's object name (path below the root), "" = none */
    uint64_t resp_off;   /* stream offset where the response starts */
    uint64_t rd_total;   /* bytes read from the connection */
    uint64_t committed;  /* bytes committed (sl_conn_commit) */
    /* PUT upload in progress */
    int up_fd;
    uint64_t up_len, up_got, up_synced;
    uint64_t up_id;      /* the part file is .NAME.ID.part (ID: 16 hex digits) */
    int up_cont;         /* "100 Continue" still (partly) to write, in io->hdr */
    char up_name[OBJ_MAX];

    struct conn_io *io;  /* NULL once closed */
};

struct server {
    sl_stack *s;
    sl_listener *l;
    struct server_opts o;
    size_t root_len;
    int root_fd;         /* O_PATH descriptor of the root, for openat2 */
    int spool_fd;        /* O_PATH descriptor of the spool, or -1 */
    uint64_t last_sweep_us; /* last scan for abandoned parts */
    int use_openat2;
    struct conn *open;    /* connections we still serve */
    struct conn *closing; /* sl_close called, waiting for SL_EV_CLOSED */
    unsigned nopen, nclosing;
    int stopping;
    long page;

    /* counters */
    uint64_t accepted, refused, requests, resp_2xx, resp_3xx, resp_4xx, resp_5xx;
    uint64_t parse_errors, body_bytes, idle_closed, conn_errors, read_errors, no_host;
    uint64_t restored, restore_bad, uploads, upload_bytes, evicted, evicted_trimmed;
    uint64_t upload_too_big, upload_over_quota, parts_removed;
    /* on_restore hands the checkpoint to listen_cb through these */
    const uint8_t *rblob;
    size_t rlen;

    time_t date_t;
    char date[40];
    time_t lm_t;
    char lm[40];
    char scratch[SCRATCH];
};

static inline uint64_t now_us(struct server *srv)
{
    return sl_now_us(srv->s);
}

static inline int durable(const struct conn *cn)
{
    return cn->srv->o.durability != SL_DUR_OFF;
}

static inline const char *ip_str(uint32_t a, char *buf)
{
    snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
    return buf;
}

/* server.c */
void release_body(struct conn *cn);
/* Closes the handle. `cn` may be freed before this returns (if the stack
 * delivers SL_EV_CLOSED synchronously): callers must not touch it after. */
void conn_close(struct conn *cn);
void conn_run(struct conn *cn);

/* respond.c */
/* Starts writing a head + short text body built here. */
void respond_simple(struct conn *cn, int status, int head_only, const char *extra);
/* Opens `rel` (a directory means its index.html) below the root as a
 * regular file. Returns 0 or an HTTP status; `rel` may get "/index.html"
 * appended (it has PATH_MAX bytes). */
int open_file(struct server *srv, char *rel, int *fd_out, struct stat *st);
/* The body [first, last] of the open file cn->fd. */
void setup_body(struct conn *cn, uint64_t first, uint64_t last);
/* The parsed request in cn->io->parser: sets up the response (or upload). */
void handle_request(struct conn *cn);

/* upload.c */
void part_name(const struct conn *cn, char *out, size_t len);
/* Opens `name` in the spool: beneath it, no symlinks. fd or -1. */
int spool_open(struct server *srv, const char *name, int flags);
void spool_sweep(struct server *srv);
/* Makes the upload's bytes durable, then commits them (level 2). */
int upload_sync(struct conn *cn);
void upload_finish(struct conn *cn);
void handle_put(struct conn *cn, const struct http_request *r);

/* ckpt.c */
/* Commits every byte read so far that no request is still waiting for. */
void commit_consumed(struct conn *cn);
/* The response just set up becomes the connection's checkpoint. */
void persist_response(struct conn *cn);
void persist_upload(struct conn *cn);
ssize_t srv_ref_read(void *user, const char *object, uint64_t off, void *buf, size_t len);
void srv_on_restore(sl_conn *c, const void *blob, size_t len, void *user);
/* Rebuilds a restored connection's state from its checkpoint. 0, or -1
 * if it cannot be continued (the connection is then closed). */
int restore_conn(struct conn *cn, const uint8_t *b, size_t n);

#endif
