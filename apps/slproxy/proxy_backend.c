/* slproxy: the back-end leg of a client connection (see proxy_int.h). */
#include "proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void pc_start_backend(struct pconn *p, int avoid)
{
    struct proxy *px = p->px;
    for (;;) {
        if (p->btries >= (int)(2 * px->be.n + 1)) {
            if (p->resuming) {
                px->resume_failed++;
                pc_kill_conn(p, 1);
            } else {
                pc_fail_exchange(p, 502);
            }
            return;
        }
        if (p->btries++)
            px->backend_retries++;
        int i = backend_pick(&px->be, avoid);
        int fd = -1;
        p->breused = 0;
        p->bkeep = 0;
        if (i >= 0 && !p->unsafe && !p->resuming && (fd = backend_take_idle(&px->be, i)) >= 0)
            p->breused = 1; /* never for unsafe requests: a stale one could be a repeat */
        if (fd < 0)
            fd = i < 0 ? -1 : backend_connect(&px->be, i);
        if (fd < 0) {
            backend_failed(&px->be, i, px->quiet);
            avoid = i;
            continue;
        }
        p->bfd = fd;
        p->bidx = i;
        p->bst = p->breused ? B_SENDING : B_CONNECTING;
        p->breq_off = 0;
        p->rhead_len = 0;
        p->bdeadline = app_now_us() + (uint64_t)px->be.timeout_ms * 1000u;
        return;
    }
}

/* Ask a back end for the rest of the current object: bytes [pos, end) if
 * it is still the same representation (RFC 9110 13.1.5 If-Range). */
void pc_resume(struct pconn *p, int avoid)
{
    struct proxy *px = p->px;
    char validator[PX_VALID_MAX];
    pc_backend_close(p);
    if (px_obj_split(p->ck.obj, validator, sizeof(validator), p->host, sizeof(p->host),
                     p->target, sizeof(p->target)) < 0 ||
        (!p->breq && !(p->breq = malloc(PX_MAX_HEAD + 512)))) {
        px->resume_failed++;
        pc_kill_conn(p, 1);
        return;
    }
    snprintf(p->validator, sizeof(p->validator), "%s", validator);
    int n = px_build_range_req(p->breq, PX_MAX_HEAD + 512, p->host, p->target, p->pos,
                               p->ck.end - 1, validator);
    if (n < 0) {
        px->resume_failed++;
        pc_kill_conn(p, 1);
        return;
    }
    p->breq_len = (size_t)n;
    p->resuming = 1;
    p->unsafe = 0;
    p->fwd_left = 0;
    p->boff = p->blen = 0;
    p->st = C_BACKEND;
    pc_start_backend(p, avoid);
}

void pc_backend_error(struct pconn *p)
{
    struct proxy *px = p->px;
    int failed = p->bidx, had_body = p->bst == B_BODY;
    if (p->breused && !had_body && !p->resuming && !p->unsafe) {
        /* a pooled connection the server had closed: not the server's fault */
        px->be.pool_stale++;
        pc_backend_close(p);
        pc_start_backend(p, -1);
        return;
    }
    px->backend_errors++;
    backend_failed(&px->be, failed, px->quiet);
    pc_backend_close(p);
    if (p->resuming || (had_body && p->by_ref)) {
        if (!p->resuming)
            px->resume_backend++;
        pc_resume(p, failed);
    } else if (!had_body && (!p->unsafe || !p->sent_any)) {
        pc_start_backend(p, failed); /* nothing was sent, or it is safe to repeat */
    } else {
        pc_fail_exchange(p, 502);
    }
}

/* Forwards request body bytes (unsafe requests only). 0, or -1 if the
 * connection went away. */
int pc_forward_body(struct pconn *p)
{
    while (p->fwd_left) {
        if (p->in_len == 0) {
            ssize_t r = sl_read(p->c, p->in, sizeof(p->in));
            if (r == -EAGAIN)
                return 0;
            if (r <= 0) {
                pc_kill_conn(p, r < 0);
                return -1;
            }
            p->in_len = (size_t)r;
        }
        size_t n = p->in_len < p->fwd_left ? p->in_len : (size_t)p->fwd_left;
        ssize_t s = send(p->bfd, p->in, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (s < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            pc_backend_error(p);
            return -1;
        }
        p->sent_any = 1;
        pc_consume(p, (size_t)s);
        p->fwd_left -= (uint64_t)s;
    }
    return 0;
}

void pc_backend_writable(struct pconn *p)
{
    if (p->bst == B_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt(p->bfd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            p->px->be.connect_fail++;
            pc_backend_error(p);
            return;
        }
        p->bst = B_SENDING;
        if (p->unsafe && p->expect_100) { /* RFC 9110 10.1.1 */
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (sl_write_space(p->c) >= sizeof(cont) - 1)
                sl_write(p->c, cont, sizeof(cont) - 1);
            p->expect_100 = 0;
        }
    }
    while (p->breq_off < p->breq_len) {
        ssize_t s = send(p->bfd, p->breq + p->breq_off, p->breq_len - p->breq_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (s < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            pc_backend_error(p);
            return;
        }
        p->sent_any = 1;
        p->breq_off += (size_t)s;
    }
    if (pc_forward_body(p) < 0)
        return;
    if (!p->fwd_left && p->bst == B_SENDING)
        p->bst = B_HEAD;
}

/* The response head is in p->rhead[0..hl): decide how to relay it. */
static void on_head(struct pconn *p, const struct px_resp *r, size_t hl)
{
    struct proxy *px = p->px;
    size_t extra = p->rhead_len - hl;
    if (p->resuming) {
        int ok = px_check_range_resp(r, p->pos, p->ck.total, p->validator);
        if (ok == 0) {
            px->resume_changed++;
            pc_plog(px, "slproxy: %s%s changed: client reset\n", p->host, p->target);
            pc_kill_conn(p, 1);
            return;
        }
        if (ok < 0) {
            pc_backend_error(p);
            return;
        }
        px->resume_ok++;
        p->resuming = 0;
        p->bst = B_BODY;
        if (extra > p->ck.end - p->pos)
            extra = (size_t)(p->ck.end - p->pos);
        memcpy(p->buf, p->rhead + hl, extra);
        p->boff = 0;
        p->blen = extra;
        pc_pump(p);
        return;
    }
    int bodyless = px_resp_bodyless(p->method, r->status);
    p->bm = bodyless ? BM_NONE : r->chunked ? BM_EOF : r->has_cl ? BM_LEN : BM_EOF;
    /* the back-end connection can serve another request if this response
     * ends where its length says and nothing follows it */
    p->bkeep = !p->unsafe && r->minor >= 1 && !r->conn_close &&
               ((p->bm == BM_NONE && extra == 0) || (p->bm == BM_LEN && extra <= r->cl));
    p->resp_keep = p->keep_alive && p->bm != BM_EOF; /* our leg to the back end closes, not theirs */
    uint64_t first = 0, end = r->has_cl ? r->cl : PX_NO_END, total = end;
    if (r->status == 206 && r->has_crange) {
        first = r->cr_first;
        end = r->cr_last + 1;
        total = r->cr_total;
    }
    p->by_ref = 0;
    memset(&p->ck, 0, sizeof(p->ck));
    if (p->method == PX_GET && !p->unsafe && p->bm == BM_LEN &&
        (r->status == 200 || (r->status == 206 && r->has_crange)) &&
        end - first == r->cl && px_pick_validator(r, p->validator, sizeof(p->validator)) &&
        px_obj_name(p->ck.obj, sizeof(p->ck.obj), p->validator, p->host, p->host_len,
                    p->target, p->target_len) >= 0)
        p->by_ref = 1;
    if (!p->by_ref) {
        first = 0;
        end = p->bm == BM_LEN ? r->cl : PX_NO_END;
        p->ck.obj[0] = 0;
    }
    p->pos = first;
    p->ck.end = end;
    p->ck.total = total;
    int n = px_build_client_head(p->hout, sizeof(p->hout), p->rhead, r, p->resp_keep, p->minor);
    if (n < 0) {
        pc_backend_error(p);
        return;
    }
    p->hout_len = (size_t)n;
    if (p->bm == BM_LEN && extra > end - first)
        extra = (size_t)(end - first);
    if (p->bm == BM_NONE)
        extra = 0;
    memcpy(p->buf, p->rhead + hl, extra);
    p->boff = 0;
    p->blen = extra;
    p->bst = B_BODY;
    p->head_pending = 1;
    if (p->by_ref)
        px->resp_by_ref++;
    else
        px->resp_by_value++;
    pc_pump(p);
}

void pc_read_head(struct pconn *p)
{
    for (;;) {
        if (p->rhead_len == sizeof(p->rhead)) {
            pc_backend_error(p);
            return;
        }
        ssize_t n = recv(p->bfd, p->rhead + p->rhead_len, sizeof(p->rhead) - p->rhead_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            pc_backend_error(p);
            return;
        }
        p->rhead_len += (size_t)n;
        for (;;) {
            struct px_resp r;
            int hl = px_parse_response(p->rhead, p->rhead_len, &r);
            if (hl == 0)
                break;
            if (hl < 0) {
                pc_backend_error(p);
                return;
            }
            if (r.status >= 100 && r.status < 200) { /* interim: not relayed */
                memmove(p->rhead, p->rhead + hl, p->rhead_len - (size_t)hl);
                p->rhead_len -= (size_t)hl;
                continue;
            }
            on_head(p, &r, (size_t)hl);
            return;
        }
    }
}

void pc_read_body(struct pconn *p)
{
    if (p->blen)
        return; /* the client has not taken the last read yet */
    size_t want = sizeof(p->buf);
    if (p->bm == BM_LEN && p->ck.end - p->pos < want)
        want = (size_t)(p->ck.end - p->pos);
    if (want == 0) {
        pc_response_done(p);
        return;
    }
    ssize_t n = recv(p->bfd, p->buf, want, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n == 0 && p->bm == BM_EOF) {
        pc_response_done(p);
        return;
    }
    if (n <= 0) {
        pc_backend_error(p);
        return;
    }
    p->boff = 0;
    p->blen = (size_t)n;
    pc_pump(p);
}

