/* slhttpd: connections and their state machine. See server.h and conn.h.
 *
 * Each connection is a small state machine driven from its sltcp callback:
 *
 *   READING  feed buffered/read bytes to the parser until a request is done
 *   WRITING  push the response head, then the body (pread, never a
 *            mapping: a file that shrinks while served ends that response
 *            with a read error instead of a SIGBUS for the whole server) as
 *            send space allows; then READING again
 *            for keep-alive (pipelined bytes already buffered come first),
 *            or LINGER
 *   LINGER   response sent and FIN queued (SHUT_WR); discard input until the
 *            peer closes too, so unread input cannot turn into a reset that
 *            destroys the response in flight; then sl_close
 *   CLOSED   sl_close called; buffers and file are released at once, the
 *            small struct conn is freed on SL_EV_CLOSED (which may come
 *            much later, e.g. after TIME_WAIT)
 *
 * While a response is being written no input is read (pipelined requests
 * wait in the socket), and nothing relies on a readiness edge: after each
 * response the input is read again directly.
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include <sys/socket.h>

/* ---- connection list / lifetime ---- */

void release_body(struct conn *cn)
{
    if (cn->fd >= 0) {
        close(cn->fd);
        cn->fd = -1;
    }
    cn->body_off = cn->body_end = 0;
    if (cn->up_fd >= 0) {
        close(cn->up_fd);
        cn->up_fd = -1;
    }
}

static void list_add(struct conn **head, struct conn *cn)
{
    cn->prev = NULL;
    cn->next = *head;
    if (*head)
        (*head)->prev = cn;
    *head = cn;
}

static void list_del(struct conn **head, struct conn *cn)
{
    if (cn->prev)
        cn->prev->next = cn->next;
    else
        *head = cn->next;
    if (cn->next)
        cn->next->prev = cn->prev;
    cn->prev = cn->next = NULL;
}

static void conn_free(struct conn *cn)
{
    struct server *srv = cn->srv;
    release_body(cn);
    free(cn->io);
    if (cn->state == ST_CLOSED) {
        list_del(&srv->closing, cn);
        srv->nclosing--;
    } else {
        list_del(&srv->open, cn);
        srv->nopen--;
    }
    free(cn);
}

/* Closes the handle. `cn` may be freed before this returns (if the stack
 * delivers SL_EV_CLOSED synchronously): callers must not touch it after. */
void conn_close(struct conn *cn)
{
    struct server *srv = cn->srv;
    sl_conn *c = cn->c;
    int rc;
    if (cn->state == ST_CLOSED)
        return;
    release_body(cn);
    free(cn->io);
    cn->io = NULL;
    list_del(&srv->open, cn);
    srv->nopen--;
    cn->state = ST_CLOSED;
    list_add(&srv->closing, cn);
    srv->nclosing++;
    rc = sl_close(c);
    if (rc < 0)
        fprintf(stderr, "slhttpd: sl_close: %s\n", sl_strerror(rc));
}

static void orphan_cb(sl_conn *c, unsigned events, void *user)
{
    (void)c;
    (void)events;
    (void)user;
}

static void conn_cb(sl_conn *c, unsigned events, void *user)
{
    struct conn *cn = user;
    (void)c;
    if (events & SL_EV_EVICTED)
        cn->srv->evicted++; /* its state is in the store; it comes back */
    if (events & SL_EV_CLOSED) {
        conn_free(cn);
        return;
    }
    if (cn->state == ST_CLOSED)
        return;
    if (events & SL_EV_ERROR) {
        int err = sl_conn_error(cn->c);
        cn->srv->conn_errors++;
        if (cn->srv->o.verbose) {
            char ip[16];
            fprintf(stderr, "slhttpd: %s:%u: connection error: %s\n", ip_str(cn->raddr, ip),
                    cn->rport, sl_strerror(err));
        }
        conn_close(cn);
        return;
    }
    /* READABLE, WRITABLE, HUP: do whatever work is possible now. A FIN
     * (HUP) is seen as sl_read() == 0 once buffered requests are served. */
    conn_run(cn);
}

static void listen_cb(sl_listener *l, void *user)
{
    struct server *srv = user;
    for (;;) {
        sl_conn *c;
        struct conn *cn;
        struct sl_conn_info info;
        const uint8_t *rblob;
        size_t rlen;
        int rc = sl_accept(l, &c);
        if (rc == -EAGAIN)
            break;
        rblob = srv->rblob; /* set by srv_on_restore inside sl_accept */
        rlen = srv->rlen;
        srv->rblob = NULL;
        srv->rlen = 0;
        if (rc < 0) {
            fprintf(stderr, "slhttpd: sl_accept: %s\n", sl_strerror(rc));
            break;
        }
        cn = NULL;
        if (srv->stopping || (srv->o.max_conns && srv->nopen >= srv->o.max_conns) ||
            (cn = calloc(1, sizeof(*cn))) == NULL ||
            (cn->io = malloc(sizeof(*cn->io))) == NULL) {
            free(cn);
            srv->refused++;
            sl_conn_set_cb(c, orphan_cb, NULL);
            sl_close(c);
            continue;
        }
        srv->accepted++;
        cn->srv = srv;
        cn->c = c;
        cn->fd = -1;
        cn->up_fd = -1;
        cn->state = ST_READING;
        cn->last_us = now_us(srv);
        http_parser_init(&cn->io->parser);
        cn->io->parser.put_body_to_caller = srv->o.spool != NULL;
        if (sl_conn_info(c, &info) == 0) {
            cn->raddr = info.raddr;
            cn->rport = info.rport;
        }
        list_add(&srv->open, cn);
        srv->nopen++;
        sl_conn_setopt(c, SL_OPT_NODELAY, 1);
        sl_conn_set_cb(c, conn_cb, cn);
        if (sl_conn_restored(c) && restore_conn(cn, rblob, rlen) < 0) {
            conn_close(cn);
            continue;
        }
        conn_run(cn); /* the request may already be here; may close (and free) cn */
    }
}

/* Writes as much of the response as fits. 1 = done, 0 = wait for space,
 * -1 = connection or file error. */
static int flush(struct conn *cn)
{
    struct server *srv = cn->srv;
    while (cn->hdr_off < cn->hdr_len) {
        ssize_t n =
            sl_write(cn->c, cn->io->hdr + cn->hdr_off, cn->hdr_len - cn->hdr_off);
        if (n == -EAGAIN || n == 0)
            return 0;
        if (n < 0)
            return -1;
        cn->hdr_off += (size_t)n;
        cn->last_us = now_us(srv);
    }
    while (cn->body_off < cn->body_end) {
        uint64_t left = cn->body_end - cn->body_off;
        ssize_t n;
        size_t space = sl_write_space(cn->c);
        size_t want = sizeof(srv->scratch);
        ssize_t r;
        if (space == 0)
            want = 4096; /* expect -EAGAIN; keeps edge-triggered readiness armed */
        else if (space < want)
            want = space;
        if (left < want)
            want = (size_t)left;
        r = pread(cn->fd, srv->scratch, want, (off_t)cn->body_off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) { /* ends this response only */
            srv->read_errors++;
            if (!srv->o.quiet)
                fprintf(stderr, "slhttpd: %s: read error or the file shrank at offset %" PRIu64
                        "\n", cn->obj[0] ? cn->obj : "(file)", cn->body_off);
            return -1;
        }
        if (cn->obj[0] && durable(cn))
            n = sl_write_ref(cn->c, cn->obj, cn->body_off, srv->scratch, (size_t)r);
        else
            n = sl_write(cn->c, srv->scratch, (size_t)r);
        if (n == -EAGAIN || n == 0)
            return 0;
        if (n < 0)
            return -1;
        cn->body_off += (uint64_t)n;
        srv->body_bytes += (uint64_t)n;
        cn->last_us = now_us(srv);
    }
    return 1;
}

/* Response fully queued and no keep-alive: send FIN, then wait for the peer. */
static int start_linger(struct conn *cn)
{
    if (sl_shutdown(cn->c, SHUT_WR) < 0)
        return -1;
    cn->state = ST_LINGER;
    cn->last_us = now_us(cn->srv);
    return 0;
}

void conn_run(struct conn *cn)
{
    struct server *srv = cn->srv;
    for (;;) {
        switch (cn->state) {
        case ST_WRITING: {
            int rc = flush(cn);
            if (rc == 0)
                return;
            if (rc < 0) {
                conn_close(cn);
                return;
            }
            release_body(cn);
            cn->last_us = now_us(srv);
            if (!cn->keep) {
                if (start_linger(cn) < 0) {
                    conn_close(cn);
                    return;
                }
            } else {
                cn->state = ST_READING;
            }
            break;
        }
        case ST_READING: {
            ssize_t n;
            if (cn->in_off < cn->in_len) {
                size_t used = 0;
                enum http_result r;
                if (!http_parser_started(&cn->io->parser))
                    cn->req_us = now_us(srv);
                r = http_parse(&cn->io->parser, cn->io->in + cn->in_off,
                                                cn->in_len - cn->in_off, &used);
                cn->in_off += used;
                if (r == HTTP_PARSE_DONE) {
                    handle_request(cn);
                    http_parser_reset(&cn->io->parser);
                    if (cn->state == ST_WRITING)
                        persist_response(cn);
                    break;
                }
                if (r == HTTP_PARSE_ERROR) {
                    char ip[16];
                    srv->parse_errors++;
                    if (srv->o.verbose)
                        fprintf(stderr, "slhttpd: %s:%u: bad request: %s\n",
                                ip_str(cn->raddr, ip), cn->rport, cn->io->parser.error);
                    cn->keep = 0;
                    cn->obj[0] = '\0';
                    respond_simple(cn, cn->io->parser.status, 0, NULL);
                    cn->in_off = cn->in_len; /* nothing after a bad request is read */
                    persist_response(cn);
                    break;
                }
                /* INCOMPLETE: every buffered byte was used */
            }
            n = sl_read(cn->c, cn->io->in, sizeof(cn->io->in));
            if (n > 0) {
                cn->in_off = 0;
                cn->in_len = (size_t)n;
                cn->rd_total += (uint64_t)n;
                cn->last_us = now_us(srv);
                break;
            }
            if (n == -EAGAIN)
                return;
            /* EOF (with or without a partial request) or an error */
            conn_close(cn);
            return;
        }
        case ST_LINGER:
            for (;;) {
                ssize_t n = sl_read(cn->c, srv->scratch, sizeof(srv->scratch));
                if (n > 0) {
                    cn->rd_total += (uint64_t)n;
                    continue;
                }
                cn->in_off = cn->in_len;
                commit_consumed(cn); /* discarded input is consumed input */
                if (n == -EAGAIN)
                    return;
                conn_close(cn);
                return;
            }
        case ST_UPLOAD: {
            ssize_t n;
            while (cn->up_cont && cn->hdr_off < cn->hdr_len) { /* 100 Continue */
                n = sl_write(cn->c, cn->io->hdr + cn->hdr_off, cn->hdr_len - cn->hdr_off);
                if (n == -EAGAIN || n == 0)
                    return; /* WRITABLE brings us back */
                if (n < 0) {
                    conn_close(cn);
                    return;
                }
                cn->hdr_off += (size_t)n;
            }
            cn->up_cont = 0;
            if (cn->in_off < cn->in_len && cn->up_got < cn->up_len) {
                size_t k = cn->in_len - cn->in_off;
                if (k > cn->up_len - cn->up_got)
                    k = (size_t)(cn->up_len - cn->up_got);
                ssize_t w = pwrite(cn->up_fd, cn->io->in + cn->in_off, k, (off_t)cn->up_got);
                if (w <= 0) {
                    fprintf(stderr, "slhttpd: spool write: %s\n", strerror(errno));
                    conn_close(cn);
                    return;
                }
                cn->in_off += (size_t)w;
                cn->up_got += (uint64_t)w;
                srv->upload_bytes += (uint64_t)w;
                cn->last_us = now_us(srv);
                break;
            }
            if (cn->up_got == cn->up_len) {
                upload_finish(cn);
                break;
            }
            if (cn->up_got - cn->up_synced >= UP_SYNC_BYTES && upload_sync(cn) < 0) {
                conn_close(cn);
                return;
            }
            n = sl_read(cn->c, cn->io->in, sizeof(cn->io->in));
            if (n > 0) {
                cn->in_off = 0;
                cn->in_len = (size_t)n;
                cn->rd_total += (uint64_t)n;
                break;
            }
            if (n == -EAGAIN) {
                /* idle: make what arrived durable, which also reopens the
                 * receive window (level 2 holds it until the commit) */
                if (upload_sync(cn) < 0)
                    conn_close(cn);
                return;
            }
            conn_close(cn); /* EOF before the whole body: the .part stays */
            return;
        }
        case ST_CLOSED:
            return;
        }
    }
}

/* ---- public ---- */

int server_start(sl_stack *s, uint16_t port, const struct server_opts *o, struct server **out)
{
    struct server *srv = calloc(1, sizeof(*srv));
    int rc;
    if (srv == NULL)
        return -ENOMEM;
    srv->s = s;
    srv->o = *o;
    srv->root_len = strlen(o->root);
    srv->root_fd = open(o->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    srv->use_openat2 = srv->root_fd >= 0;
    srv->spool_fd = -1;
    if (o->spool != NULL) {
        srv->spool_fd = open(o->spool, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (srv->spool_fd < 0) {
            fprintf(stderr, "slhttpd: spool %s: %s\n", o->spool, strerror(errno));
            if (srv->root_fd >= 0)
                close(srv->root_fd);
            free(srv);
            return -errno;
        }
    }
    srv->page = sysconf(_SC_PAGESIZE);
    if (srv->page <= 0)
        srv->page = 4096;
    struct sl_listen_opts lo = {.backlog = o->backlog, .no_syncookies = o->no_syncookies};
    if (o->durability != SL_DUR_OFF) {
        lo.durability = (enum sl_durability)o->durability;
        lo.commit = 1; /* level 2: requests are committed once served */
        lo.ref_read = srv_ref_read;
        lo.on_restore = srv_on_restore;
        lo.evict_idle_ms = o->evict_idle_ms;
    }
    rc = sl_listen(s, port, &lo, listen_cb, srv, &srv->l);
    if (rc < 0) {
        fprintf(stderr, "slhttpd: listen on port %u: %s\n", port, sl_strerror(rc));
        if (srv->root_fd >= 0)
            close(srv->root_fd);
        if (srv->spool_fd >= 0)
            close(srv->spool_fd);
        free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

void server_tick(struct server *srv)
{
    uint64_t now = now_us(srv);
    /* connections left memory (evicted or closed): give the freed heap
     * back to the system, so resident memory follows what is open */
    if (srv->evicted != srv->evicted_trimmed) {
        srv->evicted_trimmed = srv->evicted;
        malloc_trim(0);
    }
    uint64_t idle = (uint64_t)srv->o.idle_timeout_s * 1000000u;
    struct conn *cn = srv->open, *next;
    if (srv->spool_fd >= 0 && srv->o.part_timeout_s &&
        now - srv->last_sweep_us >= (uint64_t)srv->o.part_timeout_s * 500000u) {
        srv->last_sweep_us = now;
        spool_sweep(srv);
    }
    for (; cn != NULL; cn = next) {
        next = cn->next;
        if ((cn->state == ST_LINGER && now - cn->last_us > LINGER_US) ||
            (cn->state != ST_LINGER && idle > 0 && now - cn->last_us > idle) ||
            /* a request trickling in (slowloris) gets the same budget */
            (cn->state == ST_READING && idle > 0 && http_parser_started(&cn->io->parser) &&
             now - cn->req_us > idle)) {
            srv->idle_closed++;
            conn_close(cn);
        }
    }
}

void server_stop(struct server *srv)
{
    struct conn *cn, *next;
    srv->stopping = 1;
    if (srv->l != NULL) {
        sl_listener_close(srv->l);
        srv->l = NULL;
    }
    if (srv->o.durability != SL_DUR_OFF)
        return; /* handover: the next instance restores them from the store */
    for (cn = srv->open; cn != NULL; cn = next) {
        next = cn->next;
        conn_close(cn);
    }
}

unsigned server_conns(const struct server *srv)
{
    return srv->nopen;
}

void server_dump_stats(const struct server *srv, int fd)
{
    dprintf(fd,
            "http_accepted %" PRIu64 "\nhttp_refused %" PRIu64 "\nhttp_requests %" PRIu64
            "\nhttp_resp_2xx %" PRIu64 "\nhttp_resp_3xx %" PRIu64 "\nhttp_resp_4xx %" PRIu64
            "\nhttp_resp_5xx %" PRIu64 "\nhttp_parse_errors %" PRIu64
            "\nhttp_body_bytes %" PRIu64 "\nhttp_idle_closed %" PRIu64
            "\nhttp_conn_errors %" PRIu64 "\nhttp_read_errors %" PRIu64 "\nhttp_no_host %" PRIu64
            "\nhttp_conns_open %u\nhttp_conns_closing %u\nhttp_restored %" PRIu64
            "\nhttp_restore_bad %" PRIu64 "\nhttp_uploads %" PRIu64 "\nhttp_upload_bytes %" PRIu64
            "\nhttp_evicted %" PRIu64 "\nhttp_upload_too_big %" PRIu64
            "\nhttp_upload_over_quota %" PRIu64 "\nhttp_parts_removed %" PRIu64 "\n",
            srv->accepted, srv->refused, srv->requests, srv->resp_2xx, srv->resp_3xx,
            srv->resp_4xx, srv->resp_5xx, srv->parse_errors, srv->body_bytes, srv->idle_closed,
            srv->conn_errors, srv->read_errors, srv->no_host, srv->nopen, srv->nclosing,
            srv->restored, srv->restore_bad, srv->uploads, srv->upload_bytes, srv->evicted,
            srv->upload_too_big, srv->upload_over_quota, srv->parts_removed);
}

void server_free(struct server *srv)
{
    while (srv->open != NULL)
        conn_free(srv->open);
    while (srv->closing != NULL)
        conn_free(srv->closing);
    if (srv->root_fd >= 0)
        close(srv->root_fd);
    if (srv->spool_fd >= 0)
        close(srv->spool_fd);
    free(srv);
}
