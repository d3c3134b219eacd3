/* slclient: connections, requests and responses. See client.h. */
#include "client.h"

#include "httptok.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char g_rbuf[RBUF];
static void conn_cb(sl_conn *c, unsigned events, void *user);

void fail(struct client *cl, const char *fmt, const char *arg)
{
    if (cl->failed)
        return;
    cl->failed = 1;
    snprintf(cl->why, sizeof(cl->why), fmt, arg);
}

static int start_connection(struct client *cl)
{
    int rc = sl_connect(cl->s, cl->daddr, cl->dport, &cl->c);
    if (rc < 0) {
        cl->c = NULL;
        fail(cl, "sl_connect: %s", sl_strerror(rc));
        return -1;
    }
    cl->connects++;
    cl->conn_done = 0;
    cl->connected = 0;
    cl->req_off = cl->req_len; /* nothing to send until connected */
    sl_conn_set_cb(cl->c, conn_cb, cl);
    return 0;
}

void drop_connection(struct client *cl)
{
    if (cl->c != NULL) {
        cl->closing = cl->c;
        sl_close(cl->c);
        cl->c = NULL;
    }
    cl->connected = 0;
}

static void begin_response(struct client *cl)
{
    cl->rstate = R_HEAD;
    cl->head_len = 0;
    cl->status = 0;
    cl->resp_close = 0;
    cl->mode = BODY_NONE;
    cl->body_left = 0;
    cl->body_bytes = 0;
}

static void send_pending(struct client *cl)
{
    while (cl->c != NULL && cl->connected && cl->req_off < cl->req_len) {
        ssize_t n = sl_write(cl->c, cl->req + cl->req_off, cl->req_len - cl->req_off);
        if (n == -EAGAIN || n == 0)
            return;
        if (n < 0) {
            fail(cl, "sl_write: %s", sl_strerror((int)n));
            return;
        }
        cl->req_off += (size_t)n;
    }
}

/* Queues the next request (connection permitting). */
void next_request(struct client *cl)
{
    begin_response(cl);
    if (cl->c == NULL) {
        if (start_connection(cl) < 0)
            return;
        return; /* sent on SL_EV_CONNECTED */
    }
    cl->req_off = 0;
    send_pending(cl);
}

static void body_data(struct client *cl, const char *p, size_t n)
{
    if (n == 0)
        return;
    crypto_hash_sha256_update(&cl->sha, (const unsigned char *)p, n);
    cl->body_bytes += n;
    cl->total_bytes += n;
    if (cl->out_fd >= 0) {
        while (n > 0) {
            ssize_t w = write(cl->out_fd, p, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                fail(cl, "write %s failed", cl->out_path);
                return;
            }
            p += w;
            n -= (size_t)w;
        }
    }
}

static void response_done(struct client *cl)
{
    crypto_hash_sha256_final(&cl->sha, cl->digest);
    cl->done++;
    cl->conn_done++;
    cl->retries = 0;
    cl->last_status = cl->status;
    if (!cl->any_status && (cl->status < 200 || cl->status > 299))
        cl->all_ok = 0;
    if (cl->verbose) {
        char hex[crypto_hash_sha256_BYTES * 2 + 1];
        sodium_bin2hex(hex, sizeof(hex), cl->digest, sizeof(cl->digest));
        fprintf(stderr, "slclient: response %u: status=%d bytes=%" PRIu64 " sha256=%s%s\n",
                cl->done, cl->status, cl->body_bytes, hex, cl->resp_close ? " (close)" : "");
    }
    if (cl->resp_close)
        drop_connection(cl);
    if (cl->done >= cl->requests) {
        cl->finished = 1;
        return;
    }
    next_request(cl);
}


/* Parses the complete head in cl->head (NUL-terminated, lines split by LF). */
static int parse_head(struct client *cl)
{
    char *line = cl->head, *nl;
    int minor, have_len = 0, chunked = 0, keep_alive = 0, close_tok = 0;
    uint64_t clen = 0;

    nl = strchr(line, '\n');
    if (nl == NULL)
        return -1;
    *nl = '\0';
    if (nl > line && nl[-1] == '\r')
        nl[-1] = '\0';
    if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
        line[9] < '1' || line[9] > '9' || line[10] < '0' || line[10] > '9' || line[11] < '0' ||
        line[11] > '9' || (line[12] != ' ' && line[12] != '\0')) {
        fail(cl, "bad status line '%.100s'", line);
        return -1;
    }
    minor = line[7] - '0';
    cl->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');

    for (line = nl + 1; *line != '\0'; line = nl + 1) {
        struct http_field f;
        nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        *nl = '\0';
        if (nl > line && nl[-1] == '\r')
            nl[-1] = '\0';
        if (*line == '\0')
            break;
        if (http_field_split(line, strlen(line), &f) != HTTP_FIELD_OK) {
            fail(cl, "bad header line '%.100s'", line);
            return -1;
        }
        if (http_eq_ci(f.name, f.name_len, "content-length")) {
            uint64_t x = 0;
            size_t k;
            for (k = 0; k < f.value_len; k++) {
                unsigned d = (unsigned)(f.value[k] - '0');
                if (d > 9 || x > (UINT64_MAX - d) / 10)
                    break;
                x = x * 10 + d;
            }
            if (f.value_len == 0 || k < f.value_len || (have_len && x != clen)) {
                fail(cl, "bad Content-Length '%.100s'", f.value);
                return -1;
            }
            clen = x;
            have_len = 1;
        } else if (http_eq_ci(f.name, f.name_len, "transfer-encoding")) {
            if (http_list_has(f.value, f.value_len, "chunked"))
                chunked = 1;
            else if (!http_list_has(f.value, f.value_len, "identity")) {
                fail(cl, "unsupported Transfer-Encoding '%.100s'", f.value);
                return -1;
            }
        } else if (http_eq_ci(f.name, f.name_len, "connection")) {
            close_tok |= http_list_has(f.value, f.value_len, "close");
            keep_alive |= http_list_has(f.value, f.value_len, "keep-alive");
        }
    }
    cl->resp_close = close_tok || (minor == 0 && !keep_alive);

    if (cl->status >= 100 && cl->status < 200)
        return 1; /* interim response: skip, a final one follows */
    if (cl->head_method || cl->status == 204 || cl->status == 304)
        cl->mode = BODY_NONE;
    else if (chunked) {
        cl->mode = BODY_CHUNKED;
        cl->ch = CH_SIZE;
        cl->chline_len = 0;
    } else if (have_len) {
        cl->mode = BODY_LENGTH;
        cl->body_left = clen;
    } else {
        cl->mode = BODY_EOF;
        cl->resp_close = 1;
    }
    return 0;
}

static void start_body(struct client *cl)
{
    crypto_hash_sha256_init(&cl->sha);
    cl->body_bytes = 0;
    if (cl->out_fd >= 0) {
        if (ftruncate(cl->out_fd, 0) < 0 || lseek(cl->out_fd, 0, SEEK_SET) < 0)
            fail(cl, "truncate %s failed", cl->out_path);
    }
    cl->rstate = R_BODY;
}

/* Chunked decoding. Returns bytes used; sets done when the last chunk and
 * trailers are in. */
static size_t chunked_data(struct client *cl, const char *p, size_t n, int *done)
{
    size_t i = 0;
    while (i < n && !cl->failed) {
        if (cl->ch == CH_DATA) {
            size_t k = n - i;
            if ((uint64_t)k > cl->body_left)
                k = (size_t)cl->body_left;
            body_data(cl, p + i, k);
            i += k;
            cl->body_left -= k;
            if (cl->body_left == 0) {
                cl->ch = CH_DATA_END;
                cl->chline_len = 0;
            }
            continue;
        }
        /* line states: collect up to LF */
        {
            char ch = p[i++];
            if (ch != '\n') {
                if (cl->chline_len + 1 >= sizeof(cl->chline)) {
                    fail(cl, "%s", "chunk line too long");
                    return i;
                }
                cl->chline[cl->chline_len++] = ch;
                continue;
            }
            if (cl->chline_len > 0 && cl->chline[cl->chline_len - 1] == '\r')
                cl->chline_len--;
            cl->chline[cl->chline_len] = '\0';
            cl->chline_len = 0;
        }
        if (cl->ch == CH_DATA_END) {
            if (cl->chline[0] != '\0') {
                fail(cl, "%s", "missing CRLF after chunk data");
                return i;
            }
            cl->ch = CH_SIZE;
        } else if (cl->ch == CH_SIZE) {
            char *end;
            uint64_t sz;
            errno = 0;
            sz = strtoull(cl->chline, &end, 16);
            if (errno != 0 || end == cl->chline ||
                (*end != '\0' && *end != ';' && *end != ' ' && *end != '\t')) {
                fail(cl, "bad chunk size line '%.60s'", cl->chline);
                return i;
            }
            if (sz == 0) {
                cl->ch = CH_TRAILER;
            } else {
                cl->body_left = sz;
                cl->ch = CH_DATA;
            }
        } else { /* CH_TRAILER: until an empty line */
            if (cl->chline[0] == '\0') {
                *done = 1;
                return i;
            }
        }
    }
    return i;
}

/* Consumes received bytes. */
static void feed(struct client *cl, sl_conn *c, const char *p, size_t n)
{
    while (n > 0 && !cl->failed && !cl->finished) {
        if (cl->rstate == R_HEAD) {
            /* copy until the end of the head (empty line) */
            size_t i = 0;
            int end = 0;
            while (i < n) {
                char ch = p[i++];
                if (cl->head_len >= HEAD_MAX) {
                    fail(cl, "%s", "response head too large");
                    return;
                }
                cl->head[cl->head_len++] = ch;
                if (ch == '\n' && cl->head_len >= 2 &&
                    (cl->head[cl->head_len - 2] == '\n' ||
                     (cl->head_len >= 3 && cl->head[cl->head_len - 2] == '\r' &&
                      cl->head[cl->head_len - 3] == '\n'))) {
                    end = 1;
                    break;
                }
                /* ignore empty lines before the status line */
                if (ch == '\n' && (cl->head_len == 1 ||
                                   (cl->head_len == 2 && cl->head[0] == '\r')))
                    cl->head_len = 0;
            }
            p += i;
            n -= i;
            if (!end)
                continue;
            cl->head[cl->head_len] = '\0';
            {
                int rc = parse_head(cl);
                if (rc < 0) {
                    if (!cl->failed)
                        fail(cl, "%s", "bad response head");
                    return;
                }
                if (rc == 1) { /* 1xx */
                    cl->head_len = 0;
                    continue;
                }
            }
            start_body(cl);
            if (cl->mode == BODY_NONE || (cl->mode == BODY_LENGTH && cl->body_left == 0)) {
                response_done(cl);
                if (cl->c != c)
                    return; /* connection dropped; leftovers are meaningless */
            }
            continue;
        }
        /* R_BODY */
        if (cl->mode == BODY_LENGTH) {
            size_t k = n;
            if ((uint64_t)k > cl->body_left)
                k = (size_t)cl->body_left;
            body_data(cl, p, k);
            p += k;
            n -= k;
            cl->body_left -= k;
            if (cl->body_left == 0) {
                response_done(cl);
                if (cl->c != c)
                    return;
            }
        } else if (cl->mode == BODY_CHUNKED) {
            int done = 0;
            size_t k = chunked_data(cl, p, n, &done);
            p += k;
            n -= k;
            if (done) {
                response_done(cl);
                if (cl->c != c)
                    return;
            }
        } else { /* BODY_EOF */
            body_data(cl, p, n);
            n = 0;
        }
    }
}

static void on_eof(struct client *cl)
{
    drop_connection(cl);
    if (cl->finished || cl->failed)
        return;
    if (cl->rstate == R_BODY && cl->mode == BODY_EOF) {
        response_done(cl);
        return;
    }
    if (cl->rstate == R_HEAD && cl->head_len == 0 && cl->retries < 3 &&
        (cl->req_off == 0 || cl->conn_done > 0)) {
        /* A kept-alive connection closed before any of our next response
         * arrived (the usual keep-alive race): GET is idempotent, retry on
         * a new connection. */
        cl->retries++;
        next_request(cl);
        return;
    }
    fail(cl, "%s", cl->rstate == R_HEAD ? "connection closed before the response head"
                                        : "connection closed mid-body");
}

static void conn_cb(sl_conn *c, unsigned events, void *user)
{
    struct client *cl = user;
    if (c != cl->c) { /* an old connection: only SL_EV_CLOSED is expected */
        if ((events & SL_EV_CLOSED) && c == cl->closing)
            cl->closing = NULL;
        return;
    }
    if (events & SL_EV_CLOSED) {
        cl->c = NULL;
        return;
    }
    if (events & SL_EV_ERROR) {
        int err = sl_conn_error(c);
        const char *what = cl->connected ? "connection error: %s" : "connect failed: %s";
        drop_connection(cl);
        if (!cl->finished)
            fail(cl, what, sl_strerror(err));
        return;
    }
    if (events & SL_EV_CONNECTED) {
        if (!cl->connected) {
            cl->connected = 1;
            cl->req_off = 0;
            if (cl->verbose)
                fprintf(stderr, "slclient: connected (connection %u)\n", cl->connects);
        }
    }
    if (!cl->connected)
        return;
    send_pending(cl);
    /* read everything available */
    while (cl->c == c && !cl->failed && !cl->finished) {
        ssize_t n = sl_read(c, g_rbuf, sizeof(g_rbuf));
        if (n > 0) {
            feed(cl, c, g_rbuf, (size_t)n);
            if (cl->c == c)
                send_pending(cl);
            continue;
        }
        if (n == -EAGAIN)
            break;
        if (n == 0) {
            on_eof(cl);
            break;
        }
        drop_connection(cl);
        fail(cl, "sl_read: %s", sl_strerror((int)n));
        break;
    }
}
