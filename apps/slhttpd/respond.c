/* slhttpd: requests to responses: files below the root (openat2),
 * response heads, ranges. */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

/* ---- helpers ---- */

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
void respond_simple(struct conn *cn, int status, int head_only, const char *extra)
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
int open_file(struct server *srv, char *rel, int *fd_out, struct stat *st)
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
void setup_body(struct conn *cn, uint64_t first, uint64_t last)
{
    cn->body_off = first;
    cn->body_end = last + 1;
    posix_fadvise(cn->fd, (off_t)first, (off_t)(last + 1 - first), POSIX_FADV_SEQUENTIAL);
}

void handle_request(struct conn *cn)
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
