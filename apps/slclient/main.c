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

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
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

enum {
    O__FIRST = 256, O_URL, O_OUT, O_REQUESTS, O_TIMEOUT,
    O_METHOD, O_RANGE, O_HEADER, O_ANY, O_STATS, O_VERBOSE, O_QUIET, O_HELP
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        APP_STACK_OPTIONS,
        {"url", required_argument, NULL, O_URL},
        {"out", required_argument, NULL, O_OUT},
        {"requests", required_argument, NULL, O_REQUESTS},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"method", required_argument, NULL, O_METHOD},
        {"range", required_argument, NULL, O_RANGE},
        {"header", required_argument, NULL, O_HEADER},
        {"any-status", no_argument, NULL, O_ANY},
        {"stats-file", required_argument, NULL, O_STATS},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"quiet", no_argument, NULL, O_QUIET},
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
    int c, rc, n;
    double t0, secs;

    memset(&cfg, 0, sizeof(cfg));
    cfg.cc = SL_CC_NEWRENO;
    cl.requests = 1;
    cl.out_fd = -1;
    cl.all_ok = 1;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
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
        case O_TIMEOUT:
            if (app_parse_u32(optarg, 1, 86400, &timeout_s) < 0)
                return bad_usage("--timeout: expected seconds (1-86400), got '%s'", optarg);
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
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            if (app_opt_other(c, optarg, &cfg, argc, argv, err, sizeof(err)) > 0)
                break;
            return bad_usage("%s", err);
        }
    }
    if (app_opt_finish(&cfg, argc, argv, err, sizeof(err)) < 0)
        return bad_usage("%s", err);
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

    app_signals(on_stop);

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
