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
#include "appopts.h"
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
APP_STACK_HELP_REQUIRED
"  --url http://IP[:PORT]/path   what to fetch (IPv4 literal; port 80 default)\n"
"options:\n"
APP_STACK_HELP_OPTIONS
"  --out FILE                    write the body here (default: discard)\n"
"  --requests N                  N requests on a keep-alive connection (default 1;\n"
"                                reconnects if the server closes)\n"
"  --method GET|HEAD             request method (default GET)\n"
"  --range SPEC                  send 'Range: bytes=SPEC' (e.g. 0-99, 100-, -10)\n"
"  --header 'Name: value'        extra request header (repeatable, up to %d)\n"
"  --any-status                  succeed on any complete response, not only 2xx\n"
"  --timeout S                   give up after S seconds (default 60)\n"
"  --stats-file PATH             write stack counters here at exit\n"
"  --verbose                     log progress to stderr\n"
"  --quiet                       don't log errors to stderr\n"
APP_HELP_HELP
"\n"
"Exit status: 0 when every response arrived complete with a 2xx status\n"
"(any status with --any-status), 1 on failure or timeout, 2 on usage error.\n",
            MAX_HEADERS);
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
    if (app_parse_ip(host, addr) < 0)
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

enum { O_URL = 256, O_OUT, O_REQUESTS, O_TIMEOUT, O_METHOD, O_RANGE, O_HEADER, O_ANY };

/* What slclient's own options fill. */
struct own {
    struct client *cl;
    const char *url, *range;
    const char *headers[MAX_HEADERS];
    unsigned nheaders;
    uint32_t timeout_s;
};

static int own_opt(int c, const char *arg, struct app_opts *o, void *user)
{
    struct own *w = user;
    switch (c) {
    case O_URL:
        w->url = arg;
        return 0;
    case O_OUT:
        w->cl->out_path = arg;
        return 0;
    case O_REQUESTS:
        if (app_parse_u32(arg, 1, 100000000, &w->cl->requests) < 0)
            return app_bad_usage(o, "--requests: expected a positive number, got '%s'", arg);
        return 0;
    case O_TIMEOUT:
        if (app_parse_u32(arg, 1, 86400, &w->timeout_s) < 0)
            return app_bad_usage(o, "--timeout: expected seconds (1-86400), got '%s'", arg);
        return 0;
    case O_METHOD:
        if (strcmp(arg, "GET") != 0 && strcmp(arg, "HEAD") != 0)
            return app_bad_usage(o, "--method: expected GET or HEAD, got '%s'", arg);
        w->cl->head_method = arg[0] == 'H';
        return 0;
    case O_RANGE:
        if (strpbrk(arg, "\r\n") != NULL)
            return app_bad_usage(o, "--range: bad value '%s'", arg);
        w->range = arg;
        return 0;
    case O_HEADER:
        if (w->nheaders >= MAX_HEADERS || strchr(arg, ':') == NULL ||
            strpbrk(arg, "\r\n") != NULL)
            return app_bad_usage(o, "--header: expected 'Name: value' (at most 16), got '%s'", arg);
        w->headers[w->nheaders++] = arg;
        return 0;
    default: /* O_ANY */
        w->cl->any_status = 1;
        return 0;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        APP_STACK_OPTIONS,
        APP_VERBOSE_OPTION,
        APP_ARG("url", O_URL),
        APP_ARG("out", O_OUT),
        APP_ARG("requests", O_REQUESTS),
        APP_ARG("timeout", O_TIMEOUT),
        APP_ARG("method", O_METHOD),
        APP_ARG("range", O_RANGE),
        APP_ARG("header", O_HEADER),
        APP_FLAG("any-status", O_ANY),
        {NULL, 0, NULL, 0},
    };
    static struct client cl;
    static struct app_opts o;
    struct own w;
    const char *url, *path = NULL;
    unsigned i;
    char hostport[64], hex[crypto_hash_sha256_BYTES * 2 + 1];
    int rc, n;
    uint64_t t0, secs_us;
    double secs;

    app_opts_init(&o, "slclient", usage);
    memset(&w, 0, sizeof(w));
    w.cl = &cl;
    w.timeout_s = 60;
    cl.requests = 1;
    cl.out_fd = -1;
    cl.all_ok = 1;
    if ((rc = app_parse(&o, argc, argv, opts, own_opt, &w)) != APP_GO)
        return rc;
    cl.verbose = o.verbose;
    cl.quiet = o.quiet;
    url = w.url;
    if (url == NULL)
        return app_bad_usage(&o, "%s", "--url is required");
    if (parse_url(url, &cl.daddr, &cl.dport, &path, hostport, sizeof(hostport)) < 0)
        return app_bad_usage(&o, "--url: expected http://A.B.C.D[:PORT]/path, got '%s'", url);

    /* the request, identical for every repetition */
    {
        size_t plen = strcspn(path, "#");
        const char *slash = path[0] == '/' ? "" : "/"; /* "http://h?q" -> "/?q" */
        size_t k;
        for (k = 0; k < plen; k++) {
            unsigned char ch = (unsigned char)path[k];
            if (ch <= 0x20 || ch >= 0x7f)
                return app_bad_usage(&o, "--url: bad character in path of '%s'", url);
        }
        n = snprintf(cl.req, sizeof(cl.req),
                     "%s %s%.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: slclient\r\nAccept: */*\r\n",
                     cl.head_method ? "HEAD" : "GET", slash, (int)plen, path, hostport);
        if (w.range != NULL && n >= 0 && (size_t)n < sizeof(cl.req))
            n += snprintf(cl.req + n, sizeof(cl.req) - (size_t)n, "Range: bytes=%s\r\n", w.range);
        for (i = 0; i < w.nheaders && n >= 0 && (size_t)n < sizeof(cl.req); i++)
            n += snprintf(cl.req + n, sizeof(cl.req) - (size_t)n, "%s\r\n", w.headers[i]);
        if (n >= 0 && (size_t)n < sizeof(cl.req))
            n += snprintf(cl.req + n, sizeof(cl.req) - (size_t)n, "\r\n");
        if (n < 0 || (size_t)n >= sizeof(cl.req))
            return app_bad_usage(&o, "%s", "request too long");
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

    app_signals(0);
    if (app_stack_create(&o, &cl.s) < 0)
        return 1;

    t0 = app_now_us();
    next_request(&cl);
    while (!cl.finished && !cl.failed) {
        rc = sl_run(cl.s, 50);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
            fail(&cl, "sl_run: %s", sl_strerror(rc));
            break;
        }
        if (app_stop) {
            fail(&cl, "%s", "interrupted");
            break;
        }
        if (app_now_us() - t0 > (uint64_t)w.timeout_s * 1000000u) {
            char ts[32];
            snprintf(ts, sizeof(ts), "%u", w.timeout_s);
            fail(&cl, "timeout after %s s", ts);
            break;
        }
    }
    secs_us = app_now_us() - t0;

    /* close politely and let the FIN go out */
    drop_connection(&cl);
    {
        uint64_t t1 = app_now_us();
        while (cl.closing != NULL && app_now_us() - t1 < 200000 && !app_stop) {
            rc = sl_run(cl.s, 20);
            if (rc < 0 && rc != -EINTR && rc != -EAGAIN)
                break;
        }
    }
    if (o.stats_file != NULL)
        app_write_stats(&o, cl.s, NULL, NULL);
    sl_stack_destroy(cl.s);
    if (cl.out_fd >= 0 && close(cl.out_fd) < 0)
        fail(&cl, "close %s failed", cl.out_path);

    if (cl.done > 0)
        sodium_bin2hex(hex, sizeof(hex), cl.digest, sizeof(cl.digest));
    else
        snprintf(hex, sizeof(hex), "none");
    secs = secs_us > 0 ? (double)secs_us / 1e6 : 1e-9;
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
