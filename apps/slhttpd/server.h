/* slhttpd: static file serving over sltcp connections (single thread, runs
 * inside sl_run callbacks). */
#ifndef SLHTTPD_SERVER_H
#define SLHTTPD_SERVER_H

#include <stdint.h>

#include <sltcp/sltcp.h>

struct server_opts {
    const char *root;       /* canonical (realpath) document root */
    uint32_t max_conns;     /* 0 = unlimited at this level */
    uint32_t backlog;       /* listen backlog; 0 = stack default */
    int no_syncookies;      /* drop SYNs beyond the backlog instead */
    unsigned idle_timeout_s; /* idle keep-alive / stalled connections */
    int quiet;              /* only errors */
    int verbose;            /* one access-log line per request */
    int durability;         /* enum sl_durability: checkpoints, commits and
                               send by reference when not SL_DUR_OFF */
    const char *spool;      /* PUT target directory (canonical, not inside the
                               root), or NULL */
    uint64_t max_upload;    /* largest PUT body, bytes (413 beyond) */
    uint64_t spool_quota;   /* spool bytes plus uploads in progress (507 beyond) */
    unsigned part_timeout_s; /* parts not written for this long are removed */
    uint32_t evict_idle_ms; /* idle connections leave memory (0 = never) */
};

struct server;

/* Listens on `port`. Returns 0 or -errno (message on stderr). */
int server_start(sl_stack *s, uint16_t port, const struct server_opts *o, struct server **out);
/* Housekeeping: closes idle and stalled connections. Call about once a second. */
void server_tick(struct server *srv);
/* Stops accepting and closes every connection (queued data still goes
 * out). With durability the connections are left alone instead: their
 * state stays in the store for the next instance (a restart or deploy). */
void server_stop(struct server *srv);
/* Connections whose state is still held (until SL_EV_CLOSED). */
unsigned server_conns(const struct server *srv);
/* Appends "http_<name> <value>" lines. */
void server_dump_stats(const struct server *srv, int fd);
/* Frees the server and any connection state left; call after sl_stack_destroy. */
void server_free(struct server *srv);

#endif
