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
#include "proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void pc_plog(const struct proxy *px, const char *fmt, const char *a, const char *b)
{
    if (!px->quiet)
        fprintf(stderr, fmt, a, b);
}

/* ---------------- positions (the one place that maps write positions) ----
 * The checkpoint holds (base_pos, base_off): the 64-bit stream offset of
 * object offset base_off, so the next body byte after a restore is
 * base_off + (write offset - base_pos), past 4 GiB too (TRODS). */

uint64_t pc_restored_pos(const struct pconn *p)
{
    return p->ck.base_off + (sl_conn_write_off(p->c) - p->ck.base_pos);
}

void pc_ckpt_save(struct pconn *p)
{
    uint8_t blob[PX_CKPT_MAX];
    if (!p->px->durable)
        return;
    size_t n = px_ckpt_encode(&p->ck, blob);
    sl_conn_checkpoint(p->c, blob, n);
}

/* The first n bytes of in[] are consumed for good. */
void pc_consume(struct pconn *p, size_t n)
{
    if (p->px->durable)
        sl_conn_commit(p->c, n);
    memmove(p->in, p->in + n, p->in_len - n);
    p->in_len -= n;
}

/* ---------------- connection lifetime ---------------- */

void pc_backend_close(struct pconn *p)
{
    if (p->bfd >= 0)
        close(p->bfd);
    p->bfd = -1;
    p->bst = B_NONE;
}

void pc_kill_conn(struct pconn *p, int rst)
{
    if (p->st == C_DEAD)
        return;
    pc_backend_close(p);
    if (rst) {
        p->px->aborts++;
        sl_abort(p->c);
    } else {
        sl_close(p->c);
    }
    p->st = C_DEAD;
}

void pc_go_closing(struct pconn *p)
{
    pc_backend_close(p);
    sl_shutdown(p->c, SHUT_WR);
    p->st = C_CLOSING;
    p->close_deadline = app_now_us() + PX_CLOSE_US;
    pc_client_read(p); /* drain until EOF, then close */
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
        pc_kill_conn(p, 1);
        return;
    }
    p->ck = (struct px_ckpt){.phase = PX_IDLE};
    pc_ckpt_save(p);
    pc_go_closing(p);
}

/* The exchange failed: an error answer if nothing of the response reached
 * the client yet, else a reset (a truncated body must not look complete). */
void pc_fail_exchange(struct pconn *p, int status)
{
    if (p->head_written)
        pc_kill_conn(p, 1);
    else
        send_error(p, status);
}

/* ---------------- requests ---------------- */

void pc_response_done(struct pconn *p)
{
    struct proxy *px = p->px;
    if (p->bkeep && p->bfd >= 0 && p->bst == B_BODY) { /* at a response boundary */
        backend_put_idle(&px->be, p->bidx, p->bfd);
        p->bfd = -1;
    }
    p->bkeep = 0;
    pc_backend_close(p);
    px->responses++;
    p->ck = (struct px_ckpt){.phase = PX_IDLE, .keep_alive = (uint8_t)p->resp_keep};
    pc_ckpt_save(p);
    p->st = C_IDLE;
    p->boff = p->blen = 0;
    p->head_written = 0;
    if (!p->resp_keep || (p->unsafe && p->fwd_left)) {
        pc_go_closing(p);
        return;
    }
    pc_client_read(p); /* the next (pipelined) request */
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
            pc_kill_conn(p, 0); /* EOF between (or inside) requests */
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
        pc_consume(p, p->req_head_len);
        p->ck = (struct px_ckpt){.phase = PX_UNSAFE, .keep_alive = (uint8_t)p->keep_alive};
        pc_ckpt_save(p);
        p->st = C_WAIT_SYNC;
        if (!px->durable)
            proxy_after_run(px);
        return;
    }
    p->st = C_BACKEND;
    pc_start_backend(p, -1);
}


/* ---------------- the client leg ---------------- */

/* Writes the response head, all of it or nothing, with the commit of its
 * request and the checkpoint of what follows: one record. */
static int write_head(struct pconn *p)
{
    if (sl_write_space(p->c) < p->hout_len)
        return 0;
    if (sl_write(p->c, p->hout, p->hout_len) != (ssize_t)p->hout_len) {
        pc_kill_conn(p, 1);
        return -1;
    }
    p->head_pending = 0;
    p->head_written = 1;
    if (!p->unsafe)
        pc_consume(p, p->req_head_len);
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
    pc_ckpt_save(p);
    return 1;
}

void pc_pump(struct pconn *p)
{
    if (p->st != C_BACKEND)
        return;
    if (p->head_pending) {
        int r = write_head(p);
        if (r <= 0)
            return;
        if (p->bm == BM_NONE) {
            pc_response_done(p);
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
            pc_kill_conn(p, 1);
            return;
        }
        p->boff += (size_t)n;
        p->pos += (uint64_t)n;
    }
    if (p->boff == p->blen)
        p->boff = p->blen = 0;
    if (p->bm == BM_LEN && p->pos == p->ck.end && !p->blen)
        pc_response_done(p);
}

void pc_client_read(struct pconn *p)
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
                pc_kill_conn(p, 0);
            return;
        }
        if (p->st == C_BACKEND && p->unsafe && p->fwd_left) {
            if (p->bst >= B_SENDING && p->breq_off == p->breq_len)
                pc_forward_body(p);
            return; /* else the body waits until the back end is connected */
        }
        if (p->in_len == sizeof(p->in) || p->client_eof)
            break;
        ssize_t r = sl_read(p->c, p->in + p->in_len, sizeof(p->in) - p->in_len);
        if (r == -EAGAIN)
            break;
        if (r < 0) {
            pc_kill_conn(p, 0);
            return;
        }
        if (r == 0)
            p->client_eof = 1;
        p->in_len += (size_t)r;
    }
    if (p->st == C_IDLE)
        next_request(p);
}

void pc_on_client(sl_conn *c, unsigned ev, void *user)
{
    struct pconn *p = user;
    (void)c;
    if (ev & SL_EV_CLOSED) {
        struct proxy *px = p->px;
        pc_backend_close(p);
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
        pc_kill_conn(p, 0);
        return;
    }
    if (ev & (SL_EV_READABLE | SL_EV_HUP))
        pc_client_read(p);
    if ((ev & SL_EV_WRITABLE) && p->st == C_BACKEND)
        pc_pump(p);
}

