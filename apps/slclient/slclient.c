/* slclient: a small HTTP/1.1 client on sltcp, used by tests to run sltcp as
 * the client against a kernel server.
 *
 * Sends GET (or HEAD) requests one after another on a keep-alive connection
 * (reconnecting if the server closes it), reads each response (Content-Length,
 * chunked, or delimited by the connection closing), hashes the body with
 * SHA-256, optionally writes it to a file, and prints one summary line:
 *
 *   status=200 bytes=N sha256=HEX secs=S MB/s=R [requests=N]
 *
 * With --requests N > 1, bytes is the total over all responses, sha256 and
 * --out are those of the last body. Exit: 0 if every response arrived
 * complete with a 2xx status (any status with --any-status), 1 otherwise,
 * 2 on a usage error.
 */
#include "appcommon.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <sltcp/sltcp.h>

#define HEAD_MAX 16384
#define REQ_MAX 8192
#define MAX_HEADERS 16
#define RBUF (256 * 1024)

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };
enum recv_state { R_HEAD, R_BODY };

struct client {
    sl_stack *s;
    sl_conn *c;          /* current connection or NULL */
    int connected;
    uint32_t daddr;
    uint16_t dport;
    int head_method;     /* HEAD: responses have no body */
    int verbose, quiet, any_status;

    char req[REQ_MAX];
    size_t req_len, req_off;

    /* response being received */
    enum recv_state rstate;
    char head[HEAD_MAX + 1];
    size_t head_len;
    int status;
    int resp_close;      /* server will close after this response */
    enum body_mode mode;
    uint64_t body_left;  /* BODY_LENGTH, or current chunk */
    enum chunk_state ch;
    char chline[128];
    size_t chline_len;
    uint64_t body_bytes;
    crypto_hash_sha256_state sha;
    unsigned char digest[crypto_hash_sha256_BYTES];

    /* totals */
    unsigned requests, done;
    uint64_t total_bytes;
    int last_status;
    int all_ok;
    int finished;        /* all requests done */
    int failed;
    char why[256];
    unsigned connects;
    unsigned conn_done;  /* responses completed on the current connection */
    unsigned retries;    /* consecutive keep-alive retries */
    sl_conn *closing;    /* last closed handle, until SL_EV_CLOSED */

    int out_fd;
    const char *out_path;
};

static volatile sig_atomic_t g_stop;
static char g_rbuf[RBUF];

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(struct client *cl, const char *fmt, const char *arg)
{
    if (cl->failed)
        return;
    cl->failed = 1;
    snprintf(cl->why, sizeof(cl->why), fmt, arg);
}

static void conn_cb(sl_conn *c, unsigned events, void *user);

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

static void drop_connection(struct client *cl)
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
static void next_request(struct client *cl)
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

/* Does the comma-separated list `v` contain token `tok` (case-insensitive)? */
static int has_token(const char *v, const char *tok)
{
    size_t n = strlen(tok);
    while (*v) {
        const char *e;
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        e = v;
        while (*e && *e != ',')
            e++;
        {
            const char *t = e;
            while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
                t--;
            if ((size_t)(t - v) == n && strncasecmp(v, tok, n) == 0)
                return 1;
        }
        v = e;
    }
    return 0;
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
        char *v;
        nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        *nl = '\0';
        if (nl > line && nl[-1] == '\r')
            nl[-1] = '\0';
        if (*line == '\0')
            break;
        v = strchr(line, ':');
        if (v == NULL) {
            fail(cl, "bad header line '%.100s'", line);
            return -1;
        }
        *v++ = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        {
            size_t vl = strlen(v);
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                v[--vl] = '\0';
        }
        if (strcasecmp(line, "content-length") == 0) {
            char *end;
            uint64_t x;
            errno = 0;
            x = strtoull(v, &end, 10);
            if (errno != 0 || end == v || *end != '\0' || *v < '0' || *v > '9' ||
                (have_len && x != clen)) {
                fail(cl, "bad Content-Length '%.100s'", v);
                return -1;
            }
            clen = x;
            have_len = 1;
        } else if (strcasecmp(line, "transfer-encoding") == 0) {
            if (has_token(v, "chunked"))
                chunked = 1;
            else if (!has_token(v, "identity")) {
                fail(cl, "unsupported Transfer-Encoding '%.100s'", v);
                return -1;
            }
        } else if (strcasecmp(line, "connection") == 0) {
            if (has_token(v, "close"))
                close_tok = 1;
            if (has_token(v, "keep-alive"))
                keep_alive = 1;
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

static void usage(FILE *f)
{
    fprintf(f,
"usage: slclient --dev packet:IFACE|tap:NAME --addr A.B.C.D/LEN [--gateway IP]\n"
"                --url http://IP[:PORT]/path [options]\n"
"\n"
"HTTP/1.1 client on the sltcp user-space TCP/IP stack. Prints\n"
"  status=CODE bytes=N sha256=HEX secs=S MB/s=R [requests=N]\n"
"(with --requests N > 1: bytes summed over all responses, sha256 and --out\n"
"of the last body; MB = 10^6 bytes).\n"
"\n"
"required:\n"
"  --dev packet:IFACE|tap:NAME   network device to own\n"
"  --addr A.B.C.D/LEN            our IPv4 address and prefix length\n"
"  --url http://IP[:PORT]/path   what to fetch (IPv4 literal; port 80 default)\n"
"options:\n"
"  --gateway IP                  default gateway\n"
"  --out FILE                    write the body here (default: discard)\n"
"  --requests N                  N requests on a keep-alive connection (default 1;\n"
"                                reconnects if the server closes)\n"
"  --method GET|HEAD             request method (default GET)\n"
"  --range SPEC                  send 'Range: bytes=SPEC' (e.g. 0-99, 100-, -10)\n"
"  --header 'Name: value'        extra request header (repeatable, up to %d)\n"
"  --any-status                  succeed on any complete response, not only 2xx\n"
"  --timeout S                   give up after S seconds (default 60)\n"
"  --impair loss=P,dup=P,reorder=P,delay=MS,seed=N\n"
"  --cc newreno|cubic            congestion control (default newreno)\n"
"  --sndbuf BYTES, --rcvbuf BYTES  per-connection buffers (power of two)\n"
"  --no-gso                      don't use TSO/GSO on transmit\n"
"  --stats-file PATH             write stack counters here at exit\n"
"  --verbose                     log progress to stderr\n"
"  --quiet                       don't log errors to stderr\n"
"  --help                        this text\n"
"\n"
"Exit status: 0 when every response arrived complete with a 2xx status\n"
"(any status with --any-status), 1 on failure or timeout, 2 on usage error.\n",
            MAX_HEADERS);
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "slclient: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    usage(stderr);
    return 2;
}


/* http://A.B.C.D[:PORT][/path] */
static int parse_url(const char *url, uint32_t *addr, uint16_t *port, const char **path,
                     char *hostport, size_t hplen)
{
    const char *h, *e, *colon;
    char host[32];
    uint32_t p = 80;
    if (strncasecmp(url, "http://", 7) != 0)
        return -1;
    h = url + 7;
    e = h + strcspn(h, "/?#");
    colon = memchr(h, ':', (size_t)(e - h));
    if ((colon ? colon : e) - h >= (long)sizeof(host) || (colon ? colon : e) == h)
        return -1;
    memcpy(host, h, (size_t)((colon ? colon : e) - h));
    host[(colon ? colon : e) - h] = '\0';
    if (sl_parse_ip(host, addr) < 0)
        return -1;
    if (colon) {
        char num[8];
        if (e - colon - 1 <= 0 || e - colon - 1 >= (long)sizeof(num))
            return -1;
        memcpy(num, colon + 1, (size_t)(e - colon - 1));
        num[e - colon - 1] = '\0';
        if (app_parse_u32(num, 1, 65535, &p) < 0)
            return -1;
    }
    *port = (uint16_t)p;
    *path = e; /* "/a/b?q", "?q", "#f" or "" */
    snprintf(hostport, hplen, "%s:%u", host, p);
    return 0;
}

enum {
    O_DEV = 256, O_ADDR, O_GATEWAY, O_URL, O_OUT, O_REQUESTS, O_IMPAIR, O_CC, O_TIMEOUT,
    O_NOGSO, O_METHOD, O_RANGE, O_HEADER, O_ANY, O_STATS, O_VERBOSE, O_QUIET, O_SNDBUF,
    O_RCVBUF, O_HELP
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, O_DEV},
        {"addr", required_argument, NULL, O_ADDR},
        {"gateway", required_argument, NULL, O_GATEWAY},
        {"url", required_argument, NULL, O_URL},
        {"out", required_argument, NULL, O_OUT},
        {"requests", required_argument, NULL, O_REQUESTS},
        {"impair", required_argument, NULL, O_IMPAIR},
        {"cc", required_argument, NULL, O_CC},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"no-gso", no_argument, NULL, O_NOGSO},
        {"method", required_argument, NULL, O_METHOD},
        {"range", required_argument, NULL, O_RANGE},
        {"header", required_argument, NULL, O_HEADER},
        {"any-status", no_argument, NULL, O_ANY},
        {"stats-file", required_argument, NULL, O_STATS},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"quiet", no_argument, NULL, O_QUIET},
        {"sndbuf", required_argument, NULL, O_SNDBUF},
        {"rcvbuf", required_argument, NULL, O_RCVBUF},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    static struct client cl;
    struct sl_config cfg;
    const char *url = NULL, *path = NULL, *range = NULL, *stats_file = NULL;
    const char *headers[MAX_HEADERS];
    unsigned nheaders = 0, i;
    char hostport[64], err[256], hex[crypto_hash_sha256_BYTES * 2 + 1];
    uint32_t v, timeout_s = 60;
    int have_addr = 0, c, rc, n;
    double t0, secs;
    struct sigaction sa;

    memset(&cfg, 0, sizeof(cfg));
    cfg.cc = SL_CC_NEWRENO;
    cl.requests = 1;
    cl.out_fd = -1;
    cl.all_ok = 1;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_DEV:
            if ((strncmp(optarg, "packet:", 7) != 0 && strncmp(optarg, "tap:", 4) != 0) ||
                strchr(optarg, ':')[1] == '\0')
                return bad_usage("--dev: expected packet:IFACE or tap:NAME, got '%s'", optarg);
            cfg.dev = optarg;
            break;
        case O_ADDR:
            if (sl_parse_cidr(optarg, &cfg.addr, &cfg.prefix_len) < 0 || cfg.prefix_len == 0 ||
                cfg.addr == 0)
                return bad_usage("--addr: expected A.B.C.D/LEN, got '%s'", optarg);
            have_addr = 1;
            break;
        case O_GATEWAY:
            if (sl_parse_ip(optarg, &cfg.gateway) < 0)
                return bad_usage("--gateway: expected A.B.C.D, got '%s'", optarg);
            break;
        case O_URL:
            url = optarg;
            break;
        case O_OUT:
            cl.out_path = optarg;
            break;
        case O_REQUESTS:
            if (app_parse_u32(optarg, 1, 100000000, &v) < 0)
                return bad_usage("--requests: expected a positive number, got '%s'", optarg);
            cl.requests = v;
            break;
        case O_IMPAIR:
            if (!app_impair_ok(optarg))
                return bad_usage("--impair: expected loss=P,dup=P,reorder=P,delay=MS,seed=N "
                                 "(P: percent 0-100), got '%s'", optarg);
            cfg.impair = optarg;
            break;
        case O_CC:
            if (strcmp(optarg, "newreno") == 0)
                cfg.cc = SL_CC_NEWRENO;
            else if (strcmp(optarg, "cubic") == 0)
                cfg.cc = SL_CC_CUBIC;
            else
                return bad_usage("--cc: expected newreno or cubic, got '%s'", optarg);
            break;
        case O_TIMEOUT:
            if (app_parse_u32(optarg, 1, 86400, &timeout_s) < 0)
                return bad_usage("--timeout: expected seconds (1-86400), got '%s'", optarg);
            break;
        case O_NOGSO:
            cfg.no_gso = 1;
            break;
        case O_METHOD:
            if (strcmp(optarg, "GET") == 0)
                cl.head_method = 0;
            else if (strcmp(optarg, "HEAD") == 0)
                cl.head_method = 1;
            else
                return bad_usage("--method: expected GET or HEAD, got '%s'", optarg);
            break;
        case O_RANGE:
            if (strpbrk(optarg, "\r\n") != NULL)
                return bad_usage("--range: bad value '%s'", optarg);
            range = optarg;
            break;
        case O_HEADER:
            if (nheaders >= MAX_HEADERS || strchr(optarg, ':') == NULL ||
                strpbrk(optarg, "\r\n") != NULL)
                return bad_usage("--header: expected 'Name: value' (at most 16), got '%s'",
                                 optarg);
            headers[nheaders++] = optarg;
            break;
        case O_ANY:
            cl.any_status = 1;
            break;
        case O_STATS:
            stats_file = optarg;
            break;
        case O_VERBOSE:
            cl.verbose = 1;
            break;
        case O_QUIET:
            cl.quiet = 1;
            break;
        case O_SNDBUF:
        case O_RCVBUF:
            if (app_parse_u32(optarg, 4096, 1u << 30, &v) < 0 || (v & (v - 1)) != 0)
                return bad_usage("--sndbuf/--rcvbuf: expected a power of two 4096..2^30, got '%s'",
                                 optarg);
            if (c == O_SNDBUF)
                cfg.sndbuf = v;
            else
                cfg.rcvbuf = v;
            break;
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            if (optind > 0 && optind - 1 < argc)
                return bad_usage("bad option or missing value: '%s'", argv[optind - 1]);
            return bad_usage("%s", "bad option");
        }
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    if (cfg.dev == NULL)
        return bad_usage("%s", "--dev is required");
    if (!have_addr)
        return bad_usage("%s", "--addr is required");
    if (url == NULL)
        return bad_usage("%s", "--url is required");
    if (parse_url(url, &cl.daddr, &cl.dport, &path, hostport, sizeof(hostport)) < 0)
        return bad_usage("--url: expected http://A.B.C.D[:PORT]/path, got '%s'", url);

    /* the request, identical for every repetition */
    {
        size_t plen = strcspn(path, "#");
        const char *slash = path[0] == '/' ? "" : "/"; /* "http://h?q" -> "/?q" */
        size_t k;
        for (k = 0; k < plen; k++) {
            unsigned char ch = (unsigned char)path[k];
            if (ch <= 0x20 || ch >= 0x7f)
                return bad_usage("--url: bad character in path of '%s'", url);
        }
        n = snprintf(cl.req, sizeof(cl.req),
                     "%s %s%.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: slclient\r\nAccept: */*\r\n",
                     cl.head_method ? "HEAD" : "GET", slash, (int)plen, path, hostport);
        if (range != NULL && n >= 0 && (size_t)n < sizeof(cl.req))
            n += snprintf(cl.req + n, sizeof(cl.req) - (size_t)n, "Range: bytes=%s\r\n", range);
        for (i = 0; i < nheaders && n >= 0 && (size_t)n < sizeof(cl.req); i++)
            n += snprintf(cl.req + n, sizeof(cl.req) - (size_t)n, "%s\r\n", headers[i]);
        if (n >= 0 && (size_t)n < sizeof(cl.req))
            n += snprintf(cl.req + n, sizeof(cl.req) - (size_t)n, "\r\n");
        if (n < 0 || (size_t)n >= sizeof(cl.req))
            return bad_usage("%s", "request too long");
        cl.req_len = (size_t)n;
    }

    if (cl.out_path != NULL) {
        cl.out_fd = open(cl.out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (cl.out_fd < 0) {
            fprintf(stderr, "slclient: %s: %s\n", cl.out_path, strerror(errno));
            return 1;
        }
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "slclient: sodium_init failed\n");
        return 1;
    }

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    err[0] = '\0';
    rc = sl_stack_create(&cfg, &cl.s, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "slclient: %s: %s\n", cfg.dev, err[0] ? err : sl_strerror(rc));
        return 1;
    }

    t0 = mono();
    next_request(&cl);
    while (!cl.finished && !cl.failed) {
        rc = sl_run(cl.s, 50);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
            fail(&cl, "sl_run: %s", sl_strerror(rc));
            break;
        }
        if (g_stop) {
            fail(&cl, "%s", "interrupted");
            break;
        }
        if (mono() - t0 > (double)timeout_s) {
            char ts[32];
            snprintf(ts, sizeof(ts), "%u", timeout_s);
            fail(&cl, "timeout after %s s", ts);
            break;
        }
    }
    secs = mono() - t0;

    /* close politely and let the FIN go out */
    drop_connection(&cl);
    {
        double t1 = mono();
        while (cl.closing != NULL && mono() - t1 < 0.2 && !g_stop) {
            rc = sl_run(cl.s, 20);
            if (rc < 0 && rc != -EINTR && rc != -EAGAIN)
                break;
        }
    }
    if (stats_file != NULL) {
        int fd = open(stats_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            sl_stats_dump(cl.s, fd, 0);
            close(fd);
        } else {
            fprintf(stderr, "slclient: %s: %s\n", stats_file, strerror(errno));
        }
    }
    sl_stack_destroy(cl.s);
    if (cl.out_fd >= 0 && close(cl.out_fd) < 0)
        fail(&cl, "close %s failed", cl.out_path);

    if (cl.done > 0)
        sodium_bin2hex(hex, sizeof(hex), cl.digest, sizeof(cl.digest));
    else
        snprintf(hex, sizeof(hex), "none");
    if (secs <= 0)
        secs = 1e-9;
    printf("status=%d bytes=%" PRIu64 " sha256=%s secs=%.3f MB/s=%.2f", cl.done ? cl.last_status
                                                                                  : cl.status,
           cl.total_bytes, hex, secs, (double)cl.total_bytes / secs / 1e6);
    if (cl.requests > 1)
        printf(" requests=%u", cl.done);
    printf("\n");
    fflush(stdout);
    if (cl.failed) {
        if (!cl.quiet)
            fprintf(stderr, "slclient: error: %s (%u of %u responses complete)\n", cl.why,
                    cl.done, cl.requests);
        return 1;
    }
    if (!cl.all_ok) {
        if (!cl.quiet)
            fprintf(stderr, "slclient: error: status %d\n", cl.last_status);
        return 1;
    }
    return 0;
}
