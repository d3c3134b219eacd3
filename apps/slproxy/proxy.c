/* slproxy: the HTTP relay and its recovery (docs/slproxy.md).
 *
 * A client connection is an sltcp connection with level-2 commit: a
 * request's bytes stay in the store until its response head is written,
 * so a crash before that simply brings the request back. The response
 * head is written by value in one piece, together with the commit and the
 * checkpoint that says what the body is: (object name = validator, host,
 * target; the write position of object offset base_off; the end). Body
 * bytes are written by reference (sl_write_ref), so the record never holds
 * them: after a crash the library asks proxy_ref_read for the bytes the
 * client has not acknowledged (object offset = ACK - start, TRODS), which
 * opens `Range: bytes=K-` + `If-Range` on a back end; on_restore then goes
 * on from the write position with the same fetch. A changed object (200)
 * or no answer resets the client: never a wrong byte. A back end that dies
 * mid-body is replaced the same way.
 *
 * Requests that are not safe to repeat (anything but GET/HEAD without a
 * body) are checkpointed as such and sent to a back end only once that
 * checkpoint is in the store (sl_conn_synced): a restored connection that
 * finds it answers 502 (or resets, if the response had begun) and never
 * sends the request again.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static void client_read(struct pconn *p);
static void pump(struct pconn *p);
static void start_backend(struct pconn *p, int avoid);
static void backend_error(struct pconn *p);

static void plog(const struct proxy *px, const char *fmt, const char *a, const char *b)
{
    if (!px->quiet)
        fprintf(stderr, fmt, a, b);
}

/* ---------------- positions (the one place that maps write positions) ----
 * The checkpoint holds (base_pos, base_off): the 64-bit stream offset of
 * object offset base_off, so the next body byte after a restore is
 * base_off + (write offset - base_pos), past 4 GiB too (TRODS). */

static uint64_t restored_pos(const struct pconn *p)
{
    return p->ck.base_off + (sl_conn_write_off(p->c) - p->ck.base_pos);
}

static void ckpt_save(struct pconn *p)
{
    uint8_t blob[PX_CKPT_MAX];
    if (!p->px->durable)
        return;
    size_t n = px_ckpt_encode(&p->ck, blob);
    sl_conn_checkpoint(p->c, blob, n);
}

/* The first n bytes of in[] are consumed for good. */
static void consume(struct pconn *p, size_t n)
{
    if (p->px->durable)
        sl_conn_commit(p->c, n);
    memmove(p->in, p->in + n, p->in_len - n);
    p->in_len -= n;
}

/* ---------------- connection lifetime ---------------- */

static void backend_close(struct pconn *p)
{
    if (p->bfd >= 0)
        close(p->bfd);
    p->bfd = -1;
    p->bst = B_NONE;
}

static void kill_conn(struct pconn *p, int rst)
{
    if (p->st == C_DEAD)
        return;
    backend_close(p);
    if (rst) {
        p->px->aborts++;
        sl_abort(p->c);
    } else {
        sl_close(p->c);
    }
    p->st = C_DEAD;
}

static void go_closing(struct pconn *p)
{
    backend_close(p);
    sl_shutdown(p->c, SHUT_WR);
    p->st = C_CLOSING;
    p->close_deadline = app_now_us() + PX_CLOSE_US;
    client_read(p); /* drain until EOF, then close */
}

/* An error the proxy answers itself; the connection then closes. */
static void send_error(struct pconn *p, int status)
{
    static const struct {
        int code;
        const char *text;
    } reasons[] = {{400, "Bad Request"},         {413, "Content Too Large"},
                   {431, "Request Header Fields Too Large"},
                   {501, "Not Implemented"},     {502, "Bad Gateway"},
                   {503, "Service Unavailable"}, {504, "Gateway Timeout"},
                   {505, "HTTP Version Not Supported"}};
    const char *text = "Error";
    char msg[160];
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == status)
            text = reasons[i].text;
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status,
                     text);
    p->px->errors_sent++;
    if (sl_write_space(p->c) < (size_t)n || sl_write(p->c, msg, (size_t)n) != n) {
        kill_conn(p, 1);
        return;
    }
    p->ck = (struct px_ckpt){.phase = PX_IDLE};
    ckpt_save(p);
    go_closing(p);
}

/* The exchange failed: an error answer if nothing of the response reached
 * the client yet, else a reset (a truncated body must not look complete). */
static void fail_exchange(struct pconn *p, int status)
{
    if (p->head_written)
        kill_conn(p, 1);
    else
        send_error(p, status);
}

/* ---------------- requests ---------------- */

static void response_done(struct pconn *p)
{
    struct proxy *px = p->px;
    if (p->bkeep && p->bfd >= 0 && p->bst == B_BODY) { /* at a response boundary */
        backend_put_idle(&px->be, p->bidx, p->bfd);
        p->bfd = -1;
    }
    p->bkeep = 0;
    backend_close(p);
    px->responses++;
    p->ck = (struct px_ckpt){.phase = PX_IDLE, .keep_alive = (uint8_t)p->resp_keep};
    ckpt_save(p);
    p->st = C_IDLE;
    p->boff = p->blen = 0;
    p->head_written = 0;
    if (!p->resp_keep || (p->unsafe && p->fwd_left)) {
        go_closing(p);
        return;
    }
    client_read(p); /* the next (pipelined) request */
}

static int copy_field(char *dst, size_t cap, const char *src, size_t len, size_t *out_len)
{
    if (len >= cap)
        return -1;
    memcpy(dst, src, len);
    dst[len] = 0;
    *out_len = len;
    return 0;
}

static void next_request(struct pconn *p)
{
    struct proxy *px = p->px;
    struct px_req r;
    if (p->st != C_IDLE)
        return;
    int rc = px_parse_request(p->in, p->in_len, &r);
    if (rc == 0) {
        if (p->client_eof)
            kill_conn(p, 0); /* EOF between (or inside) requests */
        return;
    }
    if (rc < 0) {
        px->bad_requests++;
        send_error(p, -rc);
        return;
    }
    px->requests++;
    const char *host = r.host ? r.host : "";
    if (copy_field(p->host, sizeof(p->host), host, r.host ? r.host_len : 0, &p->host_len) < 0 ||
        copy_field(p->target, sizeof(p->target), r.target, r.target_len, &p->target_len) < 0) {
        px->bad_requests++;
        send_error(p, 431);
        return;
    }
    p->method = r.method;
    p->keep_alive = r.keep_alive;
    p->minor = r.minor;
    p->req_head_len = (size_t)rc;
    p->fwd_left = r.has_cl ? r.cl : 0;
    p->unsafe = !(r.method == PX_GET || r.method == PX_HEAD) || p->fwd_left > 0;
    p->expect_100 = r.expect_100;
    p->sent_any = 0;
    p->btries = 0;
    p->resuming = 0;
    p->head_written = 0;
    p->head_pending = 0;
    if (!p->breq)
        p->breq = malloc(PX_MAX_HEAD + 512);
    int n = p->breq ? px_build_backend_req(p->breq, PX_MAX_HEAD + 512, &r, p->ip, !p->unsafe)
                    : -1;
    if (n < 0) {
        send_error(p, 431);
        return;
    }
    p->breq_len = (size_t)n;
    if (p->unsafe) {
        /* never twice: the request is consumed, and the checkpoint saying
         * so must be stored before a byte of it leaves (proxy_after_run) */
        px->unsafe_requests++;
        consume(p, p->req_head_len);
        p->ck = (struct px_ckpt){.phase = PX_UNSAFE, .keep_alive = (uint8_t)p->keep_alive};
        ckpt_save(p);
        p->st = C_WAIT_SYNC;
        if (!px->durable)
            proxy_after_run(px);
        return;
    }
    p->st = C_BACKEND;
    start_backend(p, -1);
}

/* ---------------- the back-end leg ---------------- */

static void start_backend(struct pconn *p, int avoid)
{
    struct proxy *px = p->px;
    for (;;) {
        if (p->btries >= (int)(2 * px->be.n + 1)) {
            if (p->resuming) {
                px->resume_failed++;
                kill_conn(p, 1);
            } else {
                fail_exchange(p, 502);
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
static void resume(struct pconn *p, int avoid)
{
    struct proxy *px = p->px;
    char validator[PX_VALID_MAX];
    backend_close(p);
    if (px_obj_split(p->ck.obj, validator, sizeof(validator), p->host, sizeof(p->host),
                     p->target, sizeof(p->target)) < 0 ||
        (!p->breq && !(p->breq = malloc(PX_MAX_HEAD + 512)))) {
        px->resume_failed++;
        kill_conn(p, 1);
        return;
    }
    snprintf(p->validator, sizeof(p->validator), "%s", validator);
    int n = px_build_range_req(p->breq, PX_MAX_HEAD + 512, p->host, p->target, p->pos,
                               p->ck.end - 1, validator);
    if (n < 0) {
        px->resume_failed++;
        kill_conn(p, 1);
        return;
    }
    p->breq_len = (size_t)n;
    p->resuming = 1;
    p->unsafe = 0;
    p->fwd_left = 0;
    p->boff = p->blen = 0;
    p->st = C_BACKEND;
    start_backend(p, avoid);
}

static void backend_error(struct pconn *p)
{
    struct proxy *px = p->px;
    int failed = p->bidx, had_body = p->bst == B_BODY;
    if (p->breused && !had_body && !p->resuming && !p->unsafe) {
        /* a pooled connection the server had closed: not the server's fault */
        px->be.pool_stale++;
        backend_close(p);
        start_backend(p, -1);
        return;
    }
    px->backend_errors++;
    backend_failed(&px->be, failed, px->quiet);
    backend_close(p);
    if (p->resuming || (had_body && p->by_ref)) {
        if (!p->resuming)
            px->resume_backend++;
        resume(p, failed);
    } else if (!had_body && (!p->unsafe || !p->sent_any)) {
        start_backend(p, failed); /* nothing was sent, or it is safe to repeat */
    } else {
        fail_exchange(p, 502);
    }
}

/* Forwards request body bytes (unsafe requests only). 0, or -1 if the
 * connection went away. */
static int forward_body(struct pconn *p)
{
    while (p->fwd_left) {
        if (p->in_len == 0) {
            ssize_t r = sl_read(p->c, p->in, sizeof(p->in));
            if (r == -EAGAIN)
                return 0;
            if (r <= 0) {
                kill_conn(p, r < 0);
                return -1;
            }
            p->in_len = (size_t)r;
        }
        size_t n = p->in_len < p->fwd_left ? p->in_len : (size_t)p->fwd_left;
        ssize_t s = send(p->bfd, p->in, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (s < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            backend_error(p);
            return -1;
        }
        p->sent_any = 1;
        consume(p, (size_t)s);
        p->fwd_left -= (uint64_t)s;
    }
    return 0;
}

static void backend_writable(struct pconn *p)
{
    if (p->bst == B_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt(p->bfd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            p->px->be.connect_fail++;
            backend_error(p);
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
            backend_error(p);
            return;
        }
        p->sent_any = 1;
        p->breq_off += (size_t)s;
    }
    if (forward_body(p) < 0)
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
            plog(px, "slproxy: %s%s changed: client reset\n", p->host, p->target);
            kill_conn(p, 1);
            return;
        }
        if (ok < 0) {
            backend_error(p);
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
        pump(p);
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
        backend_error(p);
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
    pump(p);
}

static void read_head(struct pconn *p)
{
    for (;;) {
        if (p->rhead_len == sizeof(p->rhead)) {
            backend_error(p);
            return;
        }
        ssize_t n = recv(p->bfd, p->rhead + p->rhead_len, sizeof(p->rhead) - p->rhead_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            backend_error(p);
            return;
        }
        p->rhead_len += (size_t)n;
        for (;;) {
            struct px_resp r;
            int hl = px_parse_response(p->rhead, p->rhead_len, &r);
            if (hl == 0)
                break;
            if (hl < 0) {
                backend_error(p);
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

static void read_body(struct pconn *p)
{
    if (p->blen)
        return; /* the client has not taken the last read yet */
    size_t want = sizeof(p->buf);
    if (p->bm == BM_LEN && p->ck.end - p->pos < want)
        want = (size_t)(p->ck.end - p->pos);
    if (want == 0) {
        response_done(p);
        return;
    }
    ssize_t n = recv(p->bfd, p->buf, want, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n == 0 && p->bm == BM_EOF) {
        response_done(p);
        return;
    }
    if (n <= 0) {
        backend_error(p);
        return;
    }
    p->boff = 0;
    p->blen = (size_t)n;
    pump(p);
}

/* ---------------- the client leg ---------------- */

/* Writes the response head, all of it or nothing, with the commit of its
 * request and the checkpoint of what follows: one record. */
static int write_head(struct pconn *p)
{
    if (sl_write_space(p->c) < p->hout_len)
        return 0;
    if (sl_write(p->c, p->hout, p->hout_len) != (ssize_t)p->hout_len) {
        kill_conn(p, 1);
        return -1;
    }
    p->head_pending = 0;
    p->head_written = 1;
    if (!p->unsafe)
        consume(p, p->req_head_len);
    uint64_t end = p->ck.end, total = p->ck.total;
    if (p->unsafe)
        p->ck = (struct px_ckpt){.phase = PX_UNSAFE, .head_sent = 1};
    else if (p->bm == BM_NONE)
        p->ck = (struct px_ckpt){.phase = PX_IDLE};
    else
        p->ck.phase = p->by_ref ? PX_BODY_REF : PX_BODY_VAL;
    p->ck.keep_alive = (uint8_t)p->resp_keep;
    p->ck.base_pos = sl_conn_write_off(p->c);
    p->ck.base_off = p->pos;
    p->ck.end = end;
    p->ck.total = total;
    ckpt_save(p);
    return 1;
}

static void pump(struct pconn *p)
{
    if (p->st != C_BACKEND)
        return;
    if (p->head_pending) {
        int r = write_head(p);
        if (r <= 0)
            return;
        if (p->bm == BM_NONE) {
            response_done(p);
            return;
        }
    }
    while (p->boff < p->blen) {
        ssize_t n = p->by_ref
                        ? sl_write_ref(p->c, p->ck.obj, p->pos, p->buf + p->boff, p->blen - p->boff)
                        : sl_write(p->c, p->buf + p->boff, p->blen - p->boff);
        if (n == -EAGAIN)
            break;
        if (n <= 0) {
            kill_conn(p, 1);
            return;
        }
        p->boff += (size_t)n;
        p->pos += (uint64_t)n;
    }
    if (p->boff == p->blen)
        p->boff = p->blen = 0;
    if (p->bm == BM_LEN && p->pos == p->ck.end && !p->blen)
        response_done(p);
}

static void client_read(struct pconn *p)
{
    for (;;) {
        if (p->st == C_DEAD)
            return;
        if (p->st == C_CLOSING) {
            char tmp[4096];
            ssize_t r = sl_read(p->c, tmp, sizeof(tmp));
            if (r > 0)
                continue;
            if (r != -EAGAIN)
                kill_conn(p, 0);
            return;
        }
        if (p->st == C_BACKEND && p->unsafe && p->fwd_left) {
            if (p->bst >= B_SENDING && p->breq_off == p->breq_len)
                forward_body(p);
            return; /* else the body waits until the back end is connected */
        }
        if (p->in_len == sizeof(p->in) || p->client_eof)
            break;
        ssize_t r = sl_read(p->c, p->in + p->in_len, sizeof(p->in) - p->in_len);
        if (r == -EAGAIN)
            break;
        if (r < 0) {
            kill_conn(p, 0);
            return;
        }
        if (r == 0)
            p->client_eof = 1;
        p->in_len += (size_t)r;
    }
    if (p->st == C_IDLE)
        next_request(p);
}

static void on_client(sl_conn *c, unsigned ev, void *user)
{
    struct pconn *p = user;
    (void)c;
    if (ev & SL_EV_CLOSED) {
        struct proxy *px = p->px;
        backend_close(p);
        if (p->prev)
            p->prev->next = p->next;
        else
            px->head = p->next;
        if (p->next)
            p->next->prev = p->prev;
        px->nconns--;
        free(p->breq);
        free(p);
        return;
    }
    if (p->st == C_DEAD)
        return;
    if (ev & SL_EV_ERROR) {
        kill_conn(p, 0);
        return;
    }
    if (ev & (SL_EV_READABLE | SL_EV_HUP))
        client_read(p);
    if ((ev & SL_EV_WRITABLE) && p->st == C_BACKEND)
        pump(p);
}

/* ---------------- restore ---------------- */

static struct fetch *stash_take(struct proxy *px, const char *obj, uint64_t next)
{
    for (unsigned i = 0; i < PX_MAX_STASH; i++) {
        struct fetch *f = px->stash[i];
        if (f && f->next == next && strcmp(f->obj, obj) == 0) {
            px->stash[i] = NULL;
            return f;
        }
    }
    return NULL;
}

static void stash_put(struct proxy *px, struct fetch *f)
{
    unsigned slot = 0;
    for (unsigned i = 0; i < PX_MAX_STASH; i++) {
        if (!px->stash[i]) {
            slot = i;
            break;
        }
        if (px->stash[i]->used_us < px->stash[slot]->used_us)
            slot = i;
    }
    if (px->stash[slot]) {
        px->stash_expired++;
        close(px->stash[slot]->fd);
        free(px->stash[slot]);
    }
    px->stash[slot] = f;
}

ssize_t proxy_ref_read(void *user, const char *object, uint64_t off, void *buf, size_t len)
{
    struct proxy *px = user;
    struct fetch *f = stash_take(px, object, off);
    if (!f) {
        f = malloc(sizeof(*f));
        if (!f)
            return -ENOMEM;
        px->ref_fetches++;
        int rc = fetch_open(&px->be, f, object, off, px->quiet);
        if (rc < 0) {
            if (rc == -ESTALE)
                px->ref_changed++;
            else
                px->ref_fetch_fail++;
            free(f);
            return rc;
        }
    }
    if (fetch_read(&px->be, f, buf, len) < 0) {
        px->ref_fetch_fail++;
        close(f->fd);
        free(f);
        return -EIO;
    }
    f->used_us = app_now_us();
    stash_put(px, f); /* on_restore goes on from here */
    return (ssize_t)len;
}

void proxy_on_restore(sl_conn *c, const void *blob, size_t len, void *user)
{
    struct proxy *px = user;
    (void)c;
    px->rest_have = blob && len <= sizeof(px->rest_blob);
    if (px->rest_have) {
        memcpy(px->rest_blob, blob, len);
        px->rest_len = len;
    }
}

static void apply_restore(struct pconn *p, const uint8_t *blob, size_t len)
{
    struct proxy *px = p->px;
    px->restored++;
    if (!blob || px_ckpt_decode(blob, len, &p->ck) < 0)
        p->ck = (struct px_ckpt){.phase = PX_IDLE};
    switch (p->ck.phase) {
    case PX_BODY_REF:
    case PX_BODY_VAL: {
        uint64_t pos = restored_pos(p);
        p->resp_keep = p->ck.keep_alive;
        if (p->ck.end != PX_NO_END && pos >= p->ck.end) {
            px->restored_idle++;
            p->ck = (struct px_ckpt){.phase = PX_IDLE, .keep_alive = (uint8_t)p->resp_keep};
            if (!p->resp_keep)
                go_closing(p);
            return;
        }
        if (p->ck.phase == PX_BODY_VAL) {
            px->restored_aborted++; /* no validator: the rest cannot be trusted */
            kill_conn(p, 1);
            return;
        }
        px->restored_body++;
        p->pos = pos;
        p->method = PX_GET;
        p->by_ref = 1;
        p->bm = BM_LEN;
        p->head_written = 1;
        p->btries = 0;
        p->st = C_BACKEND;
        struct fetch *f = stash_take(px, p->ck.obj, pos);
        if (f) { /* the fetch that rebuilt the unacknowledged bytes goes on */
            char validator[PX_VALID_MAX];
            px->stash_adopted++;
            px_obj_split(p->ck.obj, validator, sizeof(validator), p->host, sizeof(p->host),
                         p->target, sizeof(p->target));
            snprintf(p->validator, sizeof(p->validator), "%s", validator);
            p->bfd = f->fd;
            p->bidx = f->backend;
            p->bst = B_BODY;
            p->bdeadline = app_now_us() + (uint64_t)px->be.timeout_ms * 1000u;
            size_t n = f->len - f->off;
            if (n > p->ck.end - pos)
                n = (size_t)(p->ck.end - pos);
            memcpy(p->buf, f->buf + f->off, n);
            p->boff = 0;
            p->blen = n;
            free(f);
            pump(p);
        } else {
            px->resume_restore++;
            resume(p, -1);
        }
        return;
    }
    case PX_UNSAFE:
        px->unsafe_cut++; /* it may have reached a back end: never again */
        p->head_written = p->ck.head_sent;
        fail_exchange(p, 502);
        return;
    default:
        px->restored_idle++;
        return;
    }
}

void proxy_listen_cb(sl_listener *l, void *user)
{
    struct proxy *px = user;
    sl_conn *c;
    for (;;) {
        px->rest_have = 0;
        if (sl_accept(l, &c) < 0)
            return;
        struct pconn *p = px->nconns < px->max_conns ? calloc(1, sizeof(*p)) : NULL;
        if (!p) {
            sl_abort(c);
            continue;
        }
        p->px = px;
        p->c = c;
        p->bfd = -1;
        p->bidx = -1;
        struct sl_conn_info ci;
        struct in_addr a;
        sl_conn_info(c, &ci);
        a.s_addr = htonl(ci.raddr);
        inet_ntop(AF_INET, &a, p->ip, sizeof(p->ip));
        p->next = px->head;
        if (px->head)
            px->head->prev = p;
        px->head = p;
        px->nconns++;
        sl_conn_set_cb(c, on_client, p);
        sl_conn_setopt(c, SL_OPT_NODELAY, 1);
        if (sl_conn_restored(c))
            apply_restore(p, px->rest_have ? px->rest_blob : NULL, px->rest_len);
        else
            px->accepted++;
        if (p->st == C_IDLE)
            client_read(p); /* re-delivered requests, or the first bytes */
    }
}

/* ---------------- the loop's side ---------------- */

unsigned proxy_poll_add(struct proxy *px, struct pollfd *p, struct pconn **who, unsigned cap,
                        int *timeout_ms)
{
    unsigned n = 0;
    uint64_t now = app_now_us();
    for (struct pconn *c = px->head; c; c = c->next) {
        uint64_t dl = 0;
        if (c->st == C_CLOSING)
            dl = c->close_deadline;
        if (c->st == C_BACKEND && c->bfd >= 0) {
            short ev = 0;
            if (c->bst == B_CONNECTING)
                ev = POLLOUT;
            else if (c->bst == B_SENDING)
                ev = (short)((c->breq_off < c->breq_len || c->in_len ? POLLOUT : 0) | POLLIN);
            else if (c->bst == B_HEAD || (c->bst == B_BODY && !c->blen && !c->head_pending))
                ev = POLLIN;
            if (ev && n < cap) {
                p[n] = (struct pollfd){c->bfd, ev, 0};
                who[n++] = c;
            }
            dl = c->bdeadline;
        }
        if (dl) {
            int ms = dl > now ? (int)((dl - now + 999) / 1000) : 0;
            if (*timeout_ms < 0 || ms < *timeout_ms)
                *timeout_ms = ms;
        }
    }
    return n;
}

void proxy_poll_run(struct proxy *px, struct pollfd *p, struct pconn **who, unsigned n)
{
    uint64_t now = app_now_us();
    for (unsigned i = 0; i < n; i++) {
        struct pconn *c = who[i];
        if (!p[i].revents || c->st != C_BACKEND || c->bfd != p[i].fd)
            continue;
        c->bdeadline = now + (uint64_t)px->be.timeout_ms * 1000u;
        if (c->bst == B_CONNECTING || c->bst == B_SENDING) {
            if (p[i].revents & (POLLOUT | POLLERR | POLLHUP))
                backend_writable(c);
            if (c->st == C_BACKEND && c->bfd == p[i].fd && c->bst == B_SENDING &&
                (p[i].revents & POLLIN))
                read_head(c);
        } else if (c->bst == B_HEAD) {
            read_head(c);
        } else if (c->bst == B_BODY) {
            read_body(c);
        }
    }
    for (struct pconn *c = px->head; c; c = c->next) {
        if (c->st == C_CLOSING && now >= c->close_deadline) {
            px->timeouts++;
            kill_conn(c, 0);
        } else if (c->st == C_BACKEND && c->bfd >= 0 && now >= c->bdeadline) {
            px->timeouts++;
            backend_error(c);
        }
    }
}

void proxy_after_run(struct proxy *px)
{
    uint64_t now = app_now_us();
    for (struct pconn *c = px->head; c; c = c->next)
        if (c->st == C_WAIT_SYNC && (!px->durable || sl_conn_synced(c->c) == 1)) {
            c->st = C_BACKEND;
            start_backend(c, -1);
        }
    for (unsigned i = 0; i < PX_MAX_STASH; i++) {
        struct fetch *f = px->stash[i];
        if (f && now - f->used_us > PX_STASH_US) {
            px->stash_expired++;
            close(f->fd);
            free(f);
            px->stash[i] = NULL;
        }
    }
}

void proxy_dump_stats(const struct proxy *px, int fd)
{
    const struct backends *be = &px->be;
    dprintf(fd,
            "px_accepted %llu\npx_requests %llu\npx_responses %llu\npx_bad_requests %llu\n"
            "px_resp_by_ref %llu\npx_resp_by_value %llu\npx_unsafe_requests %llu\n"
            "px_backend_errors %llu\npx_backend_retries %llu\npx_resume_backend %llu\n"
            "px_resume_restore %llu\npx_resume_ok %llu\npx_resume_changed %llu\n"
            "px_resume_failed %llu\npx_ref_fetches %llu\npx_ref_fetch_fail %llu\n"
            "px_ref_changed %llu\npx_restored %llu\npx_restored_idle %llu\n"
            "px_restored_body %llu\npx_restored_aborted %llu\npx_unsafe_cut %llu\n"
            "px_aborts %llu\npx_errors_sent %llu\npx_stash_adopted %llu\n"
            "px_stash_expired %llu\npx_timeouts %llu\npx_health_ok %llu\n"
            "px_health_fail %llu\npx_health_timeout %llu\npx_backend_marked_down %llu\n"
            "px_backend_marked_up %llu\npx_backend_connect_fail %llu\npx_pool_reused %llu\n"
            "px_pool_stale %llu\npx_pool_full %llu\n",
            (unsigned long long)px->accepted, (unsigned long long)px->requests,
            (unsigned long long)px->responses, (unsigned long long)px->bad_requests,
            (unsigned long long)px->resp_by_ref, (unsigned long long)px->resp_by_value,
            (unsigned long long)px->unsafe_requests, (unsigned long long)px->backend_errors,
            (unsigned long long)px->backend_retries, (unsigned long long)px->resume_backend,
            (unsigned long long)px->resume_restore, (unsigned long long)px->resume_ok,
            (unsigned long long)px->resume_changed, (unsigned long long)px->resume_failed,
            (unsigned long long)px->ref_fetches, (unsigned long long)px->ref_fetch_fail,
            (unsigned long long)px->ref_changed, (unsigned long long)px->restored,
            (unsigned long long)px->restored_idle, (unsigned long long)px->restored_body,
            (unsigned long long)px->restored_aborted, (unsigned long long)px->unsafe_cut,
            (unsigned long long)px->aborts, (unsigned long long)px->errors_sent,
            (unsigned long long)px->stash_adopted, (unsigned long long)px->stash_expired,
            (unsigned long long)px->timeouts, (unsigned long long)be->hc_ok,
            (unsigned long long)be->hc_fail, (unsigned long long)be->hc_timeout,
            (unsigned long long)be->marked_down, (unsigned long long)be->marked_up,
            (unsigned long long)be->connect_fail, (unsigned long long)be->pool_reused,
            (unsigned long long)be->pool_stale, (unsigned long long)be->pool_full);
}

void proxy_shutdown(struct proxy *px, int close_clients)
{
    for (struct pconn *c = px->head; c; c = c->next) {
        backend_close(c);
        if (close_clients && c->st != C_DEAD)
            kill_conn(c, c->st == C_BACKEND);
    }
    for (unsigned i = 0; i < PX_MAX_STASH; i++)
        if (px->stash[i]) {
            close(px->stash[i]->fd);
            free(px->stash[i]);
            px->stash[i] = NULL;
        }
    backend_close_all(&px->be);
}
