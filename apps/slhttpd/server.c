/* slhttpd: static file serving over sltcp. See server.h.
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
#include "server.h"

#include "http_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

static void conn_run(struct conn *cn);
static int restore_conn(struct conn *cn, const uint8_t *b, size_t n);
static void handle_put(struct conn *cn, const struct http_request *r);
static ssize_t srv_ref_read(void *user, const char *object, uint64_t off, void *buf, size_t len);
static void srv_on_restore(sl_conn *c, const void *blob, size_t len, void *user);

/* ---- helpers ---- */

static const char *ip_str(uint32_t a, char *buf)
{
    snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
    return buf;
}

static void http_date(time_t t, char *buf, size_t len)
{
    struct tm tm;
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday % 7], tm.tm_mday,
             mo[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *now_date(struct server *srv)
{
    time_t t = time(NULL);
    if (t != srv->date_t) {
        srv->date_t = t;
        http_date(t, srv->date, sizeof(srv->date));
    }
    return srv->date;
}

/* A last-file cache for Last-Modified (the same few files are hot). */
static const char *mtime_date(struct server *srv, time_t t)
{
    if (t != srv->lm_t || srv->lm[0] == '\0') {
        srv->lm_t = t;
        http_date(t, srv->lm, sizeof(srv->lm));
    }
    return srv->lm;
}

/* Response heads are built with plain appends (snprintf showed up in
 * profiles of small-file load). */
struct sbuf {
    char *p;
    size_t len, cap;
    int overflow;
};

static void sb_mem(struct sbuf *b, const char *s, size_t n)
{
    if (n > b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_mem(b, s, strlen(s));
}

static void sb_u64(struct sbuf *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    sb_mem(b, tmp + i, sizeof(tmp) - i);
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } tab[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"},
        {"css", "text/css"},
        {"js", "text/javascript"},
        {"json", "application/json"},
        {"xml", "application/xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"svg", "image/svg+xml"},
        {"ico", "image/x-icon"},
        {"webp", "image/webp"},
        {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
        {"mp4", "video/mp4"},
        {"gz", "application/gzip"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    char ext[5];
    size_t i, n;
    if (dot == NULL || (n = strlen(dot + 1)) == 0 || n >= sizeof(ext))
        return "application/octet-stream";
    for (i = 0; i <= n; i++) /* with the NUL */
        ext[i] = (char)((dot[1 + i] >= 'A' && dot[1 + i] <= 'Z') ? dot[1 + i] + 32 : dot[1 + i]);
    for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (strcmp(ext, tab[i].ext) == 0)
            return tab[i].type;
    return "application/octet-stream";
}

static uint64_t now_us(struct server *srv)
{
    return sl_now_us(srv->s);
}

/* ---- connection list / lifetime ---- */

static void release_body(struct conn *cn)
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
static void conn_close(struct conn *cn)
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

/* ---- responses ---- */

static void count_status(struct server *srv, int status)
{
    if (status < 300)
        srv->resp_2xx++;
    else if (status < 400)
        srv->resp_3xx++;
    else if (status < 500)
        srv->resp_4xx++;
    else
        srv->resp_5xx++;
}

static void access_log(struct conn *cn, const char *method, const char *target, uint64_t len)
{
    char ip[16];
    if (!cn->srv->o.verbose)
        return;
    fprintf(stderr, "slhttpd: %s:%u \"%s %.200s\" %d %" PRIu64 "\n", ip_str(cn->raddr, ip),
            cn->rport, method, target, cn->status, len);
}

/* The Connection field for the response being built ("" for 1.1 keep-alive). */
static const char *conn_field(const struct conn *cn)
{
    if (!cn->keep)
        return "Connection: close\r\n";
    return cn->v10 ? "Connection: keep-alive\r\n" : "";
}

/* Starts writing a head + short text body built here. */
static void respond_simple(struct conn *cn, int status, int head_only, const char *extra)
{
    struct server *srv = cn->srv;
    char body[96];
    int blen = snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
    int n = snprintf(cn->io->hdr, sizeof(cn->io->hdr),
                     "HTTP/1.1 %d %s\r\nServer: slhttpd\r\nDate: %s\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n%s%s\r\n",
                     status, http_reason(status), now_date(srv), blen, extra ? extra : "",
                     conn_field(cn));
    if (n < 0 || (size_t)n >= sizeof(cn->io->hdr)) /* cannot happen: extra is short */
        n = 0;
    if (!head_only && (size_t)n + (size_t)blen < sizeof(cn->io->hdr)) {
        memcpy(cn->io->hdr + n, body, (size_t)blen);
        n += blen;
    }
    cn->hdr_off = 0;
    cn->hdr_len = (size_t)n;
    cn->status = status;
    count_status(srv, status);
    cn->state = ST_WRITING;
}

static int errno_status(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
        return 403;
    case ENAMETOOLONG:
        return 414;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
        return 503;
    default:
        return 404; /* ENOENT, ENOTDIR, ELOOP, EXDEV (escapes the root), ... */
    }
}

/* openat2(RESOLVE_BENEATH): one syscall that refuses any path (".." or
 * symlink) leading outside the root directory. -errno on failure. */
static int open_beneath(struct server *srv, const char *rel)
{
    struct open_how how;
    long fd;
    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    fd = syscall(SYS_openat2, srv->root_fd, rel[0] ? rel : ".", &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

/* Fallback without openat2: realpath() and a prefix check. */
static int open_realpath(struct server *srv, const char *rel)
{
    char want[PATH_MAX], path[PATH_MAX];
    int fd;
    if ((size_t)snprintf(want, sizeof(want), "%s/%s", srv->o.root, rel) >= sizeof(want))
        return -ENAMETOOLONG;
    if (realpath(want, path) == NULL)
        return -errno;
    if (strncmp(path, srv->o.root, srv->root_len) != 0 ||
        (path[srv->root_len] != '/' && path[srv->root_len] != '\0' &&
         !(srv->root_len == 1 && srv->o.root[0] == '/')))
        return -EXDEV;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

static int open_in_root(struct server *srv, const char *rel)
{
    if (srv->use_openat2) {
        int fd = open_beneath(srv, rel);
        if (fd == -EXDEV) /* maybe an absolute symlink that stays inside: check */
            return open_realpath(srv, rel);
        if (fd != -ENOSYS && fd != -EPERM) /* EPERM: a seccomp filter, maybe */
            return fd;
        srv->use_openat2 = 0;
    }
    return open_realpath(srv, rel);
}

/* Opens `rel` (a directory means its index.html) below the root as a
 * regular file. Returns 0 or an HTTP status; `rel` may get "/index.html"
 * appended (it has PATH_MAX bytes). */
static int open_file(struct server *srv, char *rel, int *fd_out, struct stat *st)
{
    int fd = open_in_root(srv, rel);
    if (fd < 0)
        return errno_status(-fd);
    if (fstat(fd, st) < 0) {
        close(fd);
        return 404;
    }
    if (S_ISDIR(st->st_mode)) {
        size_t n = strlen(rel);
        close(fd);
        if (n + sizeof("/index.html") > PATH_MAX)
            return 414;
        memcpy(rel + n, n ? "/index.html" : "index.html", n ? 12 : 11);
        fd = open_in_root(srv, rel);
        if (fd < 0)
            return errno_status(-fd);
        if (fstat(fd, st) < 0) {
            close(fd);
            return 404;
        }
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return 404;
    }
    *fd_out = fd;
    return 0;
}

/* Sets up the body [first, last] of the open file. It is read with
 * pread as it is sent: no mapping, so a file that shrinks under us is a
 * short read (that response ends), never a SIGBUS (the server ends). */
static void setup_body(struct conn *cn, uint64_t first, uint64_t last)
{
    cn->body_off = first;
    cn->body_end = last + 1;
    posix_fadvise(cn->fd, (off_t)first, (off_t)(last + 1 - first), POSIX_FADV_SEQUENTIAL);
}

static void handle_request(struct conn *cn)
{
    struct server *srv = cn->srv;
    const struct http_request *r = &cn->io->parser.req;
    int head_only = r->method == HTTP_METHOD_HEAD;
    char rel[PATH_MAX], crange[96];
    const char *lm;
    struct stat st;
    struct sbuf b;
    int rc, status;
    uint64_t size, first = 0, last = 0, len;
    enum http_range_result rr = HTTP_RANGE_NONE;

    srv->requests++;
    cn->keep = r->keep_alive && !srv->stopping;
    cn->v10 = r->version_minor == 0;

    cn->obj[0] = '\0';
    if (r->version_minor >= 1 && r->host_count == 0) {
        /* RFC 9112 3.2: an HTTP/1.1 request without Host gets 400 */
        srv->no_host++;
        cn->keep = 0;
        respond_simple(cn, 400, 0, NULL);
        goto log;
    }
    if (r->method == HTTP_METHOD_PUT && srv->o.spool) {
        handle_put(cn, r);
        goto log;
    }
    if (r->method != HTTP_METHOD_GET && r->method != HTTP_METHOD_HEAD) {
        respond_simple(cn, 405, 0, srv->o.spool ? "Allow: GET, HEAD, PUT\r\n"
                                                : "Allow: GET, HEAD\r\n");
        goto log;
    }
    rc = http_target_to_path(r->target, rel, sizeof(rel));
    if (rc != 0) {
        respond_simple(cn, rc == -2 ? 414 : 400, head_only, NULL);
        goto log;
    }
    rc = open_file(srv, rel, &cn->fd, &st);
    if (rc != 0) {
        respond_simple(cn, rc, head_only, NULL);
        goto log;
    }
    size = (uint64_t)st.st_size;
    lm = mtime_date(srv, st.st_mtime);

    /* Range applies to GET only (RFC 9110 section 14.2); an If-Range that
     * does not match our Last-Modified exactly means "send it all". */
    if (r->method == HTTP_METHOD_GET && r->has_range == 1 &&
        (r->has_if_range == 0 || (r->has_if_range == 1 && strcmp(r->if_range, lm) == 0)))
        rr = http_range_resolve(r->range, size, &first, &last);

    if (rr == HTTP_RANGE_UNSATISFIABLE) {
        snprintf(crange, sizeof(crange), "Content-Range: bytes */%" PRIu64 "\r\n", size);
        release_body(cn);
        respond_simple(cn, 416, 0, crange);
        goto log;
    }
    if (rr != HTTP_RANGE_OK) {
        first = 0;
        last = size ? size - 1 : 0;
    }
    status = rr == HTTP_RANGE_OK ? 206 : 200;
    len = size ? last - first + 1 : 0;

    b.p = cn->io->hdr;
    b.len = 0;
    b.cap = sizeof(cn->io->hdr);
    b.overflow = 0;
    sb_str(&b, status == 206 ? "HTTP/1.1 206 Partial Content\r\n" : "HTTP/1.1 200 OK\r\n");
    sb_str(&b, "Server: slhttpd\r\nDate: ");
    sb_str(&b, now_date(srv));
    sb_str(&b, "\r\nContent-Type: ");
    sb_str(&b, content_type(rel));
    sb_str(&b, "\r\nContent-Length: ");
    sb_u64(&b, len);
    sb_str(&b, "\r\nLast-Modified: ");
    sb_str(&b, lm);
    sb_str(&b, "\r\nAccept-Ranges: bytes\r\n");
    if (status == 206) {
        sb_str(&b, "Content-Range: bytes ");
        sb_u64(&b, first);
        sb_str(&b, "-");
        sb_u64(&b, last);
        sb_str(&b, "/");
        sb_u64(&b, size);
        sb_str(&b, "\r\n");
    }
    sb_str(&b, conn_field(cn));
    sb_str(&b, "\r\n");
    if (b.overflow) { /* cannot happen: HDR_BUF has room for every field */
        release_body(cn);
        respond_simple(cn, 500, head_only, NULL);
        goto log;
    }
    cn->hdr_off = 0;
    cn->hdr_len = b.len;
    cn->status = status;
    count_status(srv, status);
    cn->state = ST_WRITING;
    if (head_only || len == 0) {
        release_body(cn);
    } else {
        setup_body(cn, first, last);
        if (strlen(rel) < OBJ_MAX)
            memcpy(cn->obj, rel, strlen(rel) + 1);
    }
    access_log(cn, r->method_str, r->target, head_only ? 0 : len);
    return;
log:
    access_log(cn, r->method_str, r->target, 0);
}

/* ---- externalized state (docs/externalized-state.md) ----
 *
 * With a durable listener every connection's state lives in the store.
 * slhttpd adds what only it knows, as a checkpoint saved atomically with
 * the stream positions (Migratory TCP's export):
 *
 *   response (kind 1): u8 2 | u8 1 | u8 keep | u8 v10 | u16 status |
 *     u16 hdr_len | u64 resp_off | u64 body_off | u64 body_end |
 *     u8 obj_len | obj | head bytes
 *   upload (kind 2):   u8 2 | u8 2 | u8 keep | u8 v10 | u64 len | u64 got |
 *     u64 part id | u8 name_len | name
 *
 * (the first byte is the layout version, CKPT_VERSION). Stream offsets
 * are 64-bit (sl_conn_write_off): a response may start or end past 4 GiB.
 *
 * Bodies are written by reference (sl_write_ref, object = the path below
 * the root), so the store never holds file bytes; on restore the stack
 * reads them back through srv_ref_read and slhttpd goes on from
 * (write offset - resp_off), TRODS's offset rule. Request bytes are
 * committed (level 2) only once the request they belong to is served or,
 * for an upload, written and fdatasync'ed: a restored connection gets
 * exactly the bytes nobody acted on yet. */

#define CKPT_VERSION 2
#define CKPT_RESP 33 /* fixed part of a response checkpoint */
#define CKPT_UP 29   /* fixed part of an upload checkpoint */

static int durable(const struct conn *cn)
{
    return cn->srv->o.durability != SL_DUR_OFF;
}

static void put_u16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) { put_u16(p, v); put_u16(p + 2, v >> 16); }
static void put_u64(uint8_t *p, uint64_t v) { put_u32(p, (uint32_t)v); put_u32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t get_u16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get_u32(const uint8_t *p) { return get_u16(p) | get_u16(p + 2) << 16; }
static uint64_t get_u64(const uint8_t *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* Commits every byte read so far that no request is still waiting for. */
static void commit_consumed(struct conn *cn)
{
    uint64_t pending = cn->in_len - cn->in_off;
    if (!durable(cn) || cn->rd_total - pending <= cn->committed)
        return;
    uint64_t n = cn->rd_total - pending - cn->committed;
    if (sl_conn_commit(cn->c, (size_t)n) == 0)
        cn->committed += n;
}

/* The response just set up (head in io->hdr, body [body_off, body_end) of
 * cn->obj) becomes the connection's checkpoint, with the request bytes. */
static void persist_response(struct conn *cn)
{
    uint8_t b[CKPT_RESP + OBJ_MAX + HDR_BUF];
    size_t ol = strlen(cn->obj);
    if (!durable(cn))
        return;
    cn->resp_off = sl_conn_write_off(cn->c);
    b[0] = CKPT_VERSION;
    b[1] = 1;
    b[2] = (uint8_t)cn->keep;
    b[3] = (uint8_t)cn->v10;
    put_u16(b + 4, (uint32_t)cn->status);
    put_u16(b + 6, (uint32_t)cn->hdr_len);
    put_u64(b + 8, cn->resp_off);
    put_u64(b + 16, cn->body_off);
    put_u64(b + 24, cn->body_end);
    b[32] = (uint8_t)ol;
    memcpy(b + CKPT_RESP, cn->obj, ol);
    memcpy(b + CKPT_RESP + ol, cn->io->hdr, cn->hdr_len);
    sl_conn_checkpoint(cn->c, b, CKPT_RESP + ol + cn->hdr_len);
    commit_consumed(cn);
}

static void persist_upload(struct conn *cn)
{
    uint8_t b[CKPT_UP + OBJ_MAX];
    size_t nl = strlen(cn->up_name);
    b[0] = CKPT_VERSION;
    b[1] = 2;
    b[2] = (uint8_t)cn->keep;
    b[3] = (uint8_t)cn->v10;
    put_u64(b + 4, cn->up_len);
    put_u64(b + 12, cn->up_got);
    put_u64(b + 20, cn->up_id);
    b[28] = (uint8_t)nl;
    memcpy(b + CKPT_UP, cn->up_name, nl);
    sl_conn_checkpoint(cn->c, b, CKPT_UP + nl);
}

/* ---- uploads (PUT into the spool) ----
 *
 * The spool is a directory outside the document root, reached only
 * through its descriptor: every file is opened with openat2 beneath it
 * with no symlink on the way (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), a new
 * part with O_CREAT | O_EXCL. Each upload writes its own part,
 * .NAME.ID.part (ID random, so two PUTs of one name never share a file;
 * a leading dot, which a PUT name cannot have, so a part never collides
 * with a finished name), renamed to NAME when complete and durable. Limits:
 * --max-upload per body (413), --spool-quota for the spool's files plus the
 * bytes uploads in progress still announce (507); parts nobody has written
 * for --part-timeout seconds are removed. */

static void part_name(const struct conn *cn, char *out, size_t len)
{
    snprintf(out, len, ".%s.%016" PRIx64 ".part", cn->up_name, cn->up_id);
}

static int spool_open(struct server *srv, const char *name, int flags)
{
    struct open_how how;
    long fd;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    how.mode = (flags & O_CREAT) ? 0644 : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    fd = syscall(SYS_openat2, srv->spool_fd, name, &how, sizeof(how));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) /* no openat2: one path element, */
        fd = openat(srv->spool_fd, name, (int)how.flags, 0644); /* O_NOFOLLOW is enough */
    return fd < 0 ? -1 : (int)fd;
}

/* Bytes the spool holds plus those uploads in progress still announce. */
static uint64_t spool_used(struct server *srv)
{
    uint64_t used = 0;
    int fd = openat(srv->spool_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    struct stat st;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return UINT64_MAX; /* unknown: over any quota */
    }
    while ((e = readdir(d)) != NULL)
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            used += (uint64_t)st.st_size;
    closedir(d);
    for (struct conn *cn = srv->open; cn != NULL; cn = cn->next)
        if (cn->state == ST_UPLOAD && cn->up_fd >= 0)
            used += cn->up_len - cn->up_got;
    return used;
}

/* Removes parts not written for part_timeout_s that no open upload owns
 * (their client went away, or their state never came back). */
static void spool_sweep(struct server *srv)
{
    char mine[OBJ_MAX + 32];
    time_t now = time(NULL);
    int fd = openat(srv->spool_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    struct stat st;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        int owned = 0;
        if (e->d_name[0] != '.' || n < 6 || strcmp(e->d_name + n - 5, ".part") != 0 ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            now - st.st_mtime < (time_t)srv->o.part_timeout_s)
            continue;
        for (struct conn *cn = srv->open; cn != NULL && !owned; cn = cn->next) {
            if (cn->up_fd < 0)
                continue;
            part_name(cn, mine, sizeof(mine));
            owned = strcmp(mine, e->d_name) == 0;
        }
        if (!owned && unlinkat(dirfd(d), e->d_name, 0) == 0)
            srv->parts_removed++;
    }
    closedir(d);
}

/* Makes the upload's bytes durable, then commits them (level 2). */
static int upload_sync(struct conn *cn)
{
    if (cn->up_got == cn->up_synced)
        return 0;
    if (fdatasync(cn->up_fd) < 0)
        return -1;
    cn->up_synced = cn->up_got;
    if (durable(cn)) {
        persist_upload(cn);
        commit_consumed(cn);
    }
    return 0;
}

static void upload_finish(struct conn *cn)
{
    struct server *srv = cn->srv;
    char part[OBJ_MAX + 32];
    int status = 201;
    if (cn->up_fd >= 0) {
        if (fsync(cn->up_fd) < 0)
            status = 500;
        close(cn->up_fd);
        cn->up_fd = -1;
        part_name(cn, part, sizeof(part));
        /* renameat replaces a symlink planted at NAME, never its target */
        if (status == 201 && renameat(srv->spool_fd, part, srv->spool_fd, cn->up_name) < 0)
            status = 500;
    }
    srv->uploads++;
    cn->obj[0] = '\0';
    respond_simple(cn, status, 0, NULL);
    persist_response(cn);
}

/* PUT /NAME: the body goes to SPOOL/.NAME.ID.part, renamed to NAME when
 * complete and durable. NAME is one path element of [A-Za-z0-9._-]. */
static void handle_put(struct conn *cn, const struct http_request *r)
{
    struct server *srv = cn->srv;
    char part[OBJ_MAX + 32];
    const char *name = r->target + 1;
    size_t nl = strlen(name);
    int ok = r->target[0] == '/' && nl > 0 && nl < OBJ_MAX - 8 && name[0] != '.';
    for (size_t i = 0; ok && i < nl; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
             (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' ||
             name[i] == '-';
    if (!ok) {
        respond_simple(cn, 400, 0, NULL);
        return;
    }
    if (!r->has_content_length) {
        respond_simple(cn, 411, 0, NULL);
        return;
    }
    if (r->content_length > srv->o.max_upload) {
        srv->upload_too_big++;
        cn->keep = 0; /* the body is not read */
        respond_simple(cn, 413, 0, NULL);
        return;
    }
    if (r->content_length > srv->o.spool_quota ||
        spool_used(srv) > srv->o.spool_quota - r->content_length) {
        srv->upload_over_quota++;
        cn->keep = 0;
        respond_simple(cn, 507, 0, NULL);
        return;
    }
    memcpy(cn->up_name, name, nl + 1);
    if (getrandom(&cn->up_id, sizeof(cn->up_id), 0) != (ssize_t)sizeof(cn->up_id)) {
        respond_simple(cn, 500, 0, NULL);
        return;
    }
    part_name(cn, part, sizeof(part));
    cn->up_fd = spool_open(srv, part, O_WRONLY | O_CREAT | O_EXCL);
    if (cn->up_fd < 0) {
        respond_simple(cn, 500, 0, NULL);
        return;
    }
    cn->up_len = r->content_length;
    cn->up_got = cn->up_synced = 0;
    cn->state = ST_UPLOAD;
    /* RFC 9110 10.1.1: the client waits for this before sending the body;
     * ST_UPLOAD writes it (all of it, across partial writes) first */
    cn->up_cont = 0;
    if (r->expect_continue && cn->up_len > 0) {
        memcpy(cn->io->hdr, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        cn->hdr_off = 0;
        cn->hdr_len = 25;
        cn->up_cont = 1;
    }
    if (durable(cn)) {
        persist_upload(cn);
        commit_consumed(cn); /* the request head */
    }
}

/* Object bytes for a restored connection (listener's ref_read). */
static ssize_t srv_ref_read(void *user, const char *object, uint64_t off, void *buf, size_t len)
{
    struct server *srv = user;
    char rel[PATH_MAX];
    struct stat st;
    int fd;
    size_t done = 0;
    if (strlen(object) >= sizeof(rel))
        return -EINVAL;
    strcpy(rel, object);
    if (open_file(srv, rel, &fd, &st) != 0)
        return -ENOENT;
    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    close(fd);
    return done == len ? (ssize_t)len : -EIO;
}

static void srv_on_restore(sl_conn *c, const void *blob, size_t len, void *user)
{
    struct server *srv = user;
    (void)c;
    srv->rblob = blob;
    srv->rlen = len;
}

/* Rebuilds a restored connection's state from its checkpoint. 0, or -1
 * if it cannot be continued (the connection is then closed). */
static int restore_conn(struct conn *cn, const uint8_t *b, size_t n)
{
    struct server *srv = cn->srv;
    char rel[PATH_MAX];
    struct stat st;
    srv->restored++;
    cn->state = ST_READING;
    if (b == NULL || n == 0)
        return 0; /* between requests */
    if (n < 4 || b[0] != CKPT_VERSION)
        goto bad;
    cn->keep = b[2];
    cn->v10 = b[3];
    if (b[1] == 1 && n >= CKPT_RESP) {
        uint32_t hl = get_u16(b + 6), ol = b[32];
        uint64_t boff = get_u64(b + 16), bend = get_u64(b + 24), total, start, pos, wr;
        if (hl > HDR_BUF || ol >= OBJ_MAX || n != CKPT_RESP + ol + hl || bend < boff)
            goto bad;
        cn->status = (int)get_u16(b + 4);
        cn->hdr_len = hl;
        cn->resp_off = get_u64(b + 8);
        memcpy(cn->obj, b + CKPT_RESP, ol);
        cn->obj[ol] = '\0';
        memcpy(cn->io->hdr, b + CKPT_RESP + ol, hl);
        wr = sl_conn_write_off(cn->c);
        if (wr < cn->resp_off)
            goto bad;
        pos = wr - cn->resp_off; /* TRODS: stream offset into the response */
        total = hl + (bend - boff);
        if (pos >= total) { /* the whole response was queued before */
            cn->obj[0] = '\0';
            if (!cn->keep) {
                sl_shutdown(cn->c, SHUT_WR); /* no-op if the FIN is queued already */
                cn->state = ST_LINGER;
            }
            return 0;
        }
        cn->state = ST_WRITING;
        cn->hdr_off = pos < hl ? pos : hl;
        start = pos < hl ? boff : boff + (pos - hl);
        if (start < bend) {
            strcpy(rel, cn->obj);
            if (!cn->obj[0] || open_file(srv, rel, &cn->fd, &st) != 0 ||
                (uint64_t)st.st_size < bend)
                goto bad;
            setup_body(cn, start, bend - 1);
        }
        return 0;
    }
    if (b[1] == 2 && n >= CKPT_UP) {
        uint32_t nl = b[28];
        char part[OBJ_MAX + 32];
        if (nl == 0 || nl >= OBJ_MAX || n != CKPT_UP + nl || !srv->o.spool)
            goto bad;
        memcpy(cn->up_name, b + CKPT_UP, nl);
        cn->up_name[nl] = '\0';
        if (strchr(cn->up_name, '/') || cn->up_name[0] == '.')
            goto bad;
        cn->up_len = get_u64(b + 4);
        cn->up_got = cn->up_synced = get_u64(b + 12);
        cn->up_id = get_u64(b + 20);
        if (cn->up_got > cn->up_len)
            goto bad;
        part_name(cn, part, sizeof(part));
        cn->up_fd = spool_open(srv, part, O_WRONLY);
        if (cn->up_got == cn->up_len) { /* complete: maybe renamed already */
            upload_finish(cn);
            return 0;
        }
        if (cn->up_fd < 0)
            goto bad;
        cn->state = ST_UPLOAD;
        return 0;
    }
bad:
    srv->restore_bad++;
    fprintf(stderr, "slhttpd: a restored connection's checkpoint cannot be continued\n");
    return -1;
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

static void conn_run(struct conn *cn)
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
