/* slproxy: back ends, health checks, recovery fetches (see backend.h). */
#include "backend.h"
#include "proxy_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int backend_add(struct backends *be, const char *spec)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    char *end;
    if (be->n == PX_MAX_BACKENDS || !colon || (size_t)(colon - spec) >= sizeof(host) ||
        strlen(spec) >= sizeof(be->b[0].name))
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    struct backend *b = &be->b[be->n];
    memset(b, 0, sizeof(*b));
    if (errno || *end || colon[1] < '0' || colon[1] > '9' || port == 0 || port > 65535 ||
        inet_pton(AF_INET, host, &b->sa.sin_addr) != 1)
        return -1;
    b->sa.sin_family = AF_INET;
    b->sa.sin_port = htons((uint16_t)port);
    snprintf(b->name, sizeof(b->name), "%s", spec);
    b->healthy = 1; /* until a check or a request says otherwise */
    b->hc_fd = -1;
    be->n++;
    return 0;
}

int backend_pick(struct backends *be, int avoid)
{
    for (unsigned k = 0; k < be->n; k++) {
        unsigned i = (be->rr + k) % be->n;
        if (be->b[i].healthy && (int)i != avoid) {
            be->rr = i + 1;
            return (int)i;
        }
    }
    /* nobody is known healthy: try in turn (a check may be behind) */
    for (unsigned k = 0; k < be->n; k++) {
        unsigned i = (be->rr + k) % be->n;
        if ((int)i != avoid || be->n == 1) {
            be->rr = i + 1;
            return (int)i;
        }
    }
    return -1;
}

void backend_failed(struct backends *be, int i, int quiet)
{
    if (i < 0 || (unsigned)i >= be->n)
        return;
    while (be->b[i].nidle) /* its pooled connections are suspect too */
        close(be->b[i].idle[--be->b[i].nidle]);
    if (be->b[i].healthy) {
        be->marked_down++;
        if (!quiet)
            fprintf(stderr, "slproxy: back end %s down (request failed)\n", be->b[i].name);
    }
    be->b[i].healthy = 0;
}

int backend_connect(struct backends *be, int i)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&be->b[i].sa, sizeof(be->b[i].sa)) < 0 &&
        errno != EINPROGRESS) {
        int e = -errno;
        close(fd);
        be->connect_fail++;
        return e;
    }
    return fd;
}

int backend_take_idle(struct backends *be, int i)
{
    struct backend *b = &be->b[i];
    while (b->nidle) {
        int fd = b->idle[--b->nidle];
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 0) == 0) { /* nothing to read: not closed by the server */
            be->pool_reused++;
            return fd;
        }
        be->pool_stale++;
        close(fd);
    }
    return -1;
}

void backend_put_idle(struct backends *be, int i, int fd)
{
    struct backend *b = &be->b[i];
    if (b->nidle == PX_POOL) {
        be->pool_full++;
        close(fd);
        return;
    }
    b->idle[b->nidle++] = fd;
}

static void hc_end(struct backends *be, struct backend *b, int ok, uint64_t now, int quiet)
{
    if (b->hc_fd >= 0)
        close(b->hc_fd);
    b->hc_fd = -1;
    b->hc_next_us = now + (uint64_t)be->interval_ms * 1000u;
    if (ok)
        be->hc_ok++;
    if (ok && !b->healthy) {
        be->marked_up++;
        if (!quiet)
            fprintf(stderr, "slproxy: back end %s up\n", b->name);
    } else if (!ok && b->healthy) {
        be->marked_down++;
        if (!quiet)
            fprintf(stderr, "slproxy: back end %s down (health check)\n", b->name);
    }
    b->healthy = ok;
}

unsigned backend_poll_add(struct backends *be, struct pollfd *p, unsigned cap, uint64_t now_us,
                          int *timeout_ms)
{
    unsigned n = 0;
    for (unsigned i = 0; i < be->n; i++) {
        struct backend *b = &be->b[i];
        uint64_t due = b->hc_fd >= 0 ? b->hc_deadline_us : b->hc_next_us;
        int ms = due > now_us ? (int)((due - now_us + 999) / 1000) : 0;
        if (*timeout_ms < 0 || ms < *timeout_ms)
            *timeout_ms = ms;
        if (b->hc_fd >= 0 && n < cap)
            p[n++] = (struct pollfd){b->hc_fd, (short)(b->hc_sent ? POLLIN : POLLOUT), 0};
    }
    return n;
}

void backend_health_run(struct backends *be, const struct pollfd *p, unsigned np,
                        uint64_t now_us, int quiet)
{
    for (unsigned i = 0; i < be->n; i++) {
        struct backend *b = &be->b[i];
        if (b->hc_fd < 0) {
            if (now_us < b->hc_next_us)
                continue;
            int fd = backend_connect(be, (int)i);
            if (fd < 0) {
                be->hc_fail++;
                hc_end(be, b, 0, now_us, quiet);
                continue;
            }
            b->hc_fd = fd;
            b->hc_sent = 0;
            b->hc_len = 0;
            b->hc_deadline_us = now_us + (uint64_t)be->timeout_ms * 1000u;
            continue;
        }
        short rev = 0;
        for (unsigned k = 0; k < np; k++)
            if (p[k].fd == b->hc_fd)
                rev = p[k].revents;
        if (!b->hc_sent && (rev & (POLLOUT | POLLERR | POLLHUP))) {
            static const char req[] = "HEAD / HTTP/1.0\r\n\r\n";
            if (send(b->hc_fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
                be->hc_fail++;
                hc_end(be, b, 0, now_us, quiet);
                continue;
            }
            b->hc_sent = 1;
        } else if (b->hc_sent && (rev & (POLLIN | POLLERR | POLLHUP))) {
            ssize_t r = recv(b->hc_fd, b->hc_buf + b->hc_len, sizeof(b->hc_buf) - b->hc_len, 0);
            if (r > 0)
                b->hc_len += (size_t)r;
            if (b->hc_len >= 12) { /* any status line: the server answers */
                int ok = memcmp(b->hc_buf, "HTTP/1.", 7) == 0;
                if (!ok)
                    be->hc_fail++;
                hc_end(be, b, ok, now_us, quiet);
                continue;
            }
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                be->hc_fail++;
                hc_end(be, b, 0, now_us, quiet);
                continue;
            }
        }
        if (b->hc_fd >= 0 && now_us >= b->hc_deadline_us) {
            be->hc_timeout++;
            hc_end(be, b, 0, now_us, quiet);
        }
    }
}

void backend_close_all(struct backends *be)
{
    for (unsigned i = 0; i < be->n; i++) {
        while (be->b[i].nidle)
            close(be->b[i].idle[--be->b[i].nidle]);
    }
    for (unsigned i = 0; i < be->n; i++)
        if (be->b[i].hc_fd >= 0) {
            close(be->b[i].hc_fd);
            be->b[i].hc_fd = -1;
        }
}

/* Waits for `ev` on fd until deadline: 0 or -ETIMEDOUT. */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
    for (;;) {
        uint64_t now = app_now_us();
        if (now >= deadline)
            return -ETIMEDOUT;
        struct pollfd p = {fd, ev, 0};
        int r = poll(&p, 1, (int)((deadline - now + 999) / 1000));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

/* One attempt at back end i: 0, -ESTALE (changed) or -EIO. */
static int fetch_try(struct backends *be, int i, struct fetch *f, const char *validator,
                     const char *host, const char *target, uint64_t off)
{
    char req[1024];
    int n = px_build_range_req(req, sizeof(req), host, target, off, PX_NO_END, validator);
    if (n < 0)
        return -EIO;
    uint64_t deadline = app_now_us() + (uint64_t)be->timeout_ms * 1000u;
    int fd = backend_connect(be, i);
    if (fd < 0)
        return -EIO;
    int err = 0;
    socklen_t el = sizeof(err);
    if (wait_fd(fd, POLLOUT, deadline) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err ||
        send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -EIO;
    }
    size_t len = 0;
    struct px_resp r;
    int hl = 0;
    while (hl == 0) {
        if (wait_fd(fd, POLLIN, deadline) < 0) {
            close(fd);
            return -EIO;
        }
        ssize_t got = recv(fd, f->buf + len, sizeof(f->buf) - len, 0);
        if (got <= 0) {
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            close(fd);
            return -EIO;
        }
        len += (size_t)got;
        hl = px_parse_response(f->buf, len, &r);
        if (hl < 0) {
            close(fd);
            return -EIO;
        }
    }
    int ok = px_check_range_resp(&r, off, PX_NO_END, validator);
    if (ok <= 0) {
        close(fd);
        return ok == 0 ? -ESTALE : -EIO;
    }
    f->fd = fd;
    f->backend = i;
    f->next = off;
    f->total = r.cr_total;
    f->off = (size_t)hl;
    f->len = len;
    return 0;
}

int fetch_open(struct backends *be, struct fetch *f, const char *obj, uint64_t off, int quiet)
{
    char validator[PX_VALID_MAX], host[PX_OBJ_MAX], target[PX_OBJ_MAX];
    if (px_obj_split(obj, validator, sizeof(validator), host, sizeof(host), target,
                     sizeof(target)) < 0)
        return -EIO;
    snprintf(f->obj, sizeof(f->obj), "%s", obj);
    f->fd = -1;
    int avoid = -1;
    for (unsigned k = 0; k < be->n; k++) { /* bounded: each back end once */
        int i = backend_pick(be, avoid);
        if (i < 0)
            break;
        int rc = fetch_try(be, i, f, validator, host, target, off);
        if (rc == 0)
            return 0;
        if (rc == -ESTALE) {
            if (!quiet)
                fprintf(stderr, "slproxy: %s %s changed on %s: not resumable\n", host, target,
                        be->b[i].name);
            return -ESTALE;
        }
        backend_failed(be, i, quiet);
        avoid = i;
    }
    return -EIO;
}

int fetch_read(struct backends *be, struct fetch *f, void *dst, size_t n)
{
    uint8_t *d = dst;
    uint64_t deadline = app_now_us() + (uint64_t)be->timeout_ms * 1000u;
    while (n) {
        if (f->off < f->len) {
            size_t a = f->len - f->off < n ? f->len - f->off : n;
            memcpy(d, f->buf + f->off, a);
            f->off += a;
            d += a;
            n -= a;
            f->next += a;
            continue;
        }
        if (wait_fd(f->fd, POLLIN, deadline) < 0)
            return -EIO;
        ssize_t got = recv(f->fd, d, n, 0);
        if (got <= 0) {
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            return -EIO;
        }
        d += got;
        n -= (size_t)got;
        f->next += (uint64_t)got;
    }
    return 0;
}
