/* Unit tests for the slhttpd request parser (apps/slhttpd/http_parse.c).
 *
 * Standalone: the parser is compiled in by including its source (the CMake
 * build makes each test from its one file). Its public names are renamed
 * first, so building with http_parse.c on the command line as well also
 * links:
 *   gcc -Iinclude -Iapps/slhttpd apps/slhttpd/http_parse.c apps/common/httptok.c tests/unit/test_http_parse.c
 */
#define http_parser_init t_http_parser_init
#define http_parser_reset t_http_parser_reset
#define http_parse t_http_parse
#define http_parser_started t_http_parser_started
#define http_method_name t_http_method_name
#define http_reason t_http_reason
#define http_range_resolve t_http_range_resolve
#define http_target_to_path t_http_target_to_path
#define http_field_split t_http_field_split
#define http_list_has t_http_list_has
#define http_eq_ci t_http_eq_ci
#define http_is_tchar t_http_is_tchar
#define http_is_ows t_http_is_ows
#include "../../apps/slhttpd/http_parse.h"
#include "../../apps/slhttpd/http_parse.c"
#include "../../apps/common/httptok.c"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_pass, g_fail;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (cond) {                                                                    \
            g_pass++;                                                                  \
        } else {                                                                       \
            g_fail++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

#define CHECK_STR(got, want)                                                           \
    do {                                                                               \
        const char *g_ = (got), *w_ = (want);                                          \
        if (strcmp(g_, w_) == 0) {                                                     \
            g_pass++;                                                                  \
        } else {                                                                       \
            g_fail++;                                                                  \
            fprintf(stderr, "%s:%d: got  \"%s\"\n%*s want \"%s\"\n", __FILE__, __LINE__, \
                    g_, (int)strlen(__FILE__) + 6, "", w_);                              \
        }                                                                              \
    } while (0)

/* ---- feeding helpers ---- */

/* Appends s to the summary in out; a summary that does not fit is a test
 * failure, never silently cut (and no snprintf, whose possible truncation
 * gcc -O2 reports as an error). */
static void append(char *out, size_t outlen, const char *s)
{
    size_t n = strlen(out), k = strlen(s);
    if (n + k >= outlen) {
        g_fail++;
        fprintf(stderr, "summary buffer of %zu bytes too small\n", outlen);
        return;
    }
    memcpy(out + n, s, k + 1);
}

static void summarize(const struct http_request *r, char *out, size_t outlen)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s %s %d.%d ka%d cl%" PRIu64 " r%d[%s] ir%d;", r->method_str,
             r->target, r->version_major, r->version_minor, r->keep_alive,
             r->has_content_length ? r->content_length : 0,
             r->has_range, r->range, r->has_if_range);
    append(out, outlen, tmp);
}

/* Feeds data[0, n) in chunks: mode 0 = all at once, 1 = byte by byte,
 * 2 = split at `split`. Records one summary per request, "E<status>;" on
 * error, "INCOMPLETE;" if a request was left half-parsed. */
static void run(const char *data, size_t n, int mode, size_t split, char *out, size_t outlen)
{
    struct http_parser *p = malloc(sizeof(*p));
    size_t cs = 0;
    out[0] = '\0';
    http_parser_init(p);
    while (cs < n) {
        size_t ce = mode == 1 ? cs + 1 : (mode == 2 && cs < split) ? split : n;
        /* copy the chunk to its own heap block so ASan catches over-reads */
        size_t len = ce - cs;
        char *chunk = malloc(len ? len : 1), *d = chunk;
        memcpy(chunk, data + cs, len);
        while (len > 0) {
            size_t used = (size_t)-1;
            enum http_result r = http_parse(p, d, len, &used);
            if (used > len) { /* invariant: counted only when broken */
                g_fail++;
                fprintf(stderr, "http_parse used %zu of %zu bytes\n", used, len);
                free(chunk);
                free(p);
                return;
            }
            d += used;
            len -= used;
            if (r == HTTP_PARSE_DONE) {
                summarize(&p->req, out, outlen);
                http_parser_reset(p);
                continue;
            }
            if (r == HTTP_PARSE_ERROR) {
                char tmp[32];
                snprintf(tmp, sizeof(tmp), "E%d;", p->status);
                append(out, outlen, tmp);
                free(chunk);
                free(p);
                return;
            }
            if (len != 0) { /* INCOMPLETE must take every byte */
                g_fail++;
                fprintf(stderr, "http_parse left %zu bytes while incomplete\n", len);
                break;
            }
        }
        free(chunk);
        cs = ce;
    }
    if (http_parser_started(p))
        append(out, outlen, "INCOMPLETE;");
    free(p);
}

static char g_out[65536], g_out2[65536];

/* Parses in one go, compares with `want`, then checks that every split
 * point and byte-by-byte feeding give the same result. */
static void expect_n(const char *data, size_t n, const char *want)
{
    size_t k;
    int bad = 0;
    run(data, n, 0, 0, g_out, sizeof(g_out));
    CHECK_STR(g_out, want);
    run(data, n, 1, 0, g_out2, sizeof(g_out2));
    CHECK_STR(g_out2, want);
    for (k = 1; k < n; k++) {
        run(data, n, 2, k, g_out2, sizeof(g_out2));
        if (strcmp(g_out2, want) != 0) {
            if (!bad)
                fprintf(stderr, "split at %zu: got \"%s\" want \"%s\"\n", k, g_out2, want);
            bad = 1;
        }
    }
    CHECK(!bad);
}

static void expect(const char *data, const char *want)
{
    expect_n(data, strlen(data), want);
}

/* ---- tests ---- */

static void test_basic(void)
{
    expect("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / 1.1 ka1 cl0 r0[] ir0;");
    expect("HEAD /a/b.txt?x=1 HTTP/1.0\r\n\r\n", "HEAD /a/b.txt?x=1 1.0 ka0 cl0 r0[] ir0;");
    /* LF-only line ends, and mixed */
    expect("GET /lf HTTP/1.1\nHost: x\nRange: bytes=1-2\n\n",
           "GET /lf 1.1 ka1 cl0 r1[bytes=1-2] ir0;");
    expect("GET /mix HTTP/1.1\r\nHost: x\n\r\n", "GET /mix 1.1 ka1 cl0 r0[] ir0;");
    /* leading empty lines are skipped */
    expect("\r\n\nGET / HTTP/1.1\r\n\r\n", "GET / 1.1 ka1 cl0 r0[] ir0;");
    /* incomplete */
    expect("GET / HTTP/1.1\r\nHost: x\r\n", "INCOMPLETE;");
    expect("", "");
    /* absolute-form target is passed through */
    expect("GET http://h:80/p HTTP/1.1\r\n\r\n", "GET http://h:80/p 1.1 ka1 cl0 r0[] ir0;");
    /* higher 1.x minor accepted */
    expect("GET / HTTP/1.9\r\n\r\n", "GET / 1.9 ka1 cl0 r0[] ir0;");
    /* header value whitespace is trimmed, names are case-insensitive */
    expect("GET / HTTP/1.1\r\nrAnGe:   bytes=0-0 \t\r\n\r\n",
           "GET / 1.1 ka1 cl0 r1[bytes=0-0] ir0;");
    expect("GET / HTTP/1.1\r\nIf-Range: \"abc\"\r\nRange: bytes=0-\r\n\r\n",
           "GET / 1.1 ka1 cl0 r1[bytes=0-] ir1;");
    /* a repeated Range is ignored */
    expect("GET / HTTP/1.1\r\nRange: bytes=0-1\r\nRange: bytes=2-3\r\n\r\n",
           "GET / 1.1 ka1 cl0 r2[] ir0;");
    /* empty header value, unknown headers, obs-text in values */
    expect("GET / HTTP/1.1\r\nX-Empty:\r\nX-Utf8: \xc3\xa9t\xc3\xa9\r\n\r\n",
           "GET / 1.1 ka1 cl0 r0[] ir0;");
}

static void test_fields(void)
{
    struct http_parser *p = malloc(sizeof(*p));
    const char *req = "GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nRange: bytes=5-\r\n\r\nZ";
    size_t used;
    enum http_result r;

    http_parser_init(p);
    CHECK(!http_parser_started(p));
    r = http_parse(p, req, 3, &used);
    CHECK(r == HTTP_PARSE_INCOMPLETE && used == 3);
    CHECK(http_parser_started(p));
    r = http_parse(p, req + 3, strlen(req) - 3, &used);
    CHECK(r == HTTP_PARSE_DONE);
    CHECK(used == strlen(req) - 4); /* "Z" is left over */
    CHECK(p->req.method == HTTP_METHOD_GET);
    CHECK_STR(p->req.target, "/x");
    CHECK(p->req.target_len == 2);
    CHECK(p->req.version_major == 1 && p->req.version_minor == 1);
    CHECK(p->req.has_content_length == 1 && p->req.content_length == 0);
    CHECK(p->req.has_range == 1);
    CHECK_STR(p->req.range, "bytes=5-");
    CHECK(p->req.host_count == 1);
    CHECK(p->req.keep_alive == 1);
    CHECK(p->req.header_count == 3);
    /* DONE is sticky until reset */
    r = http_parse(p, "GET", 3, &used);
    CHECK(r == HTTP_PARSE_DONE && used == 0);
    http_parser_reset(p);
    CHECK(!http_parser_started(p));
    CHECK(p->max_body == HTTP_DEFAULT_MAX_BODY);

    /* ERROR is sticky until reset */
    r = http_parse(p, "BAD\r\n", 5, &used);
    CHECK(r == HTTP_PARSE_ERROR && p->status == 400 && p->error != NULL);
    r = http_parse(p, "GET / HTTP/1.1\r\n\r\n", 18, &used);
    CHECK(r == HTTP_PARSE_ERROR && used == 0);
    http_parser_reset(p);
    r = http_parse(p, "GET / HTTP/1.1\r\n\r\n", 18, &used);
    CHECK(r == HTTP_PARSE_DONE && used == 18);

    /* max_body is configurable and survives reset */
    p->max_body = 4;
    http_parser_reset(p);
    r = http_parse(p, "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 37, &used);
    CHECK(r == HTTP_PARSE_ERROR && p->status == 413);
    free(p);
}

static void test_pipelined(void)
{
    expect("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
           "HEAD /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
           "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n"
           "GET /d HTTP/1.0\r\n\r\n",
           "GET /a 1.1 ka1 cl0 r0[] ir0;"
           "HEAD /b 1.0 ka1 cl0 r0[] ir0;"
           "GET /c 1.1 ka0 cl0 r0[] ir0;"
           "GET /d 1.0 ka0 cl0 r0[] ir0;");
    /* bodies are consumed, including body bytes that look like requests */
    expect("GET /a HTTP/1.1\r\nContent-Length: 18\r\n\r\nGET /evil HTTP/1.1"
           "GET /b HTTP/1.1\r\n\r\n",
           "GET /a 1.1 ka1 cl18 r0[] ir0;GET /b 1.1 ka1 cl0 r0[] ir0;");
    /* POST body then CRLF (tolerated) then the next request */
    expect("POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\r\nGET /n HTTP/1.1\r\n\r\n",
           "POST /p 1.1 ka1 cl3 r0[] ir0;GET /n 1.1 ka1 cl0 r0[] ir0;");
    /* a request after an error is never reached */
    expect("GET /a HTTP/1.1\r\n\r\nBROKEN\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
           "GET /a 1.1 ka1 cl0 r0[] ir0;E400;");
    /* a body cut short */
    expect("GET /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", "INCOMPLETE;");
    /* Connection token lists */
    expect("GET / HTTP/1.1\r\nConnection: foo, CLOSE\r\n\r\n", "GET / 1.1 ka0 cl0 r0[] ir0;");
    expect("GET / HTTP/1.1\r\nConnection: upgrade\r\nConnection: Close\r\n\r\n",
           "GET / 1.1 ka0 cl0 r0[] ir0;");
    expect("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET / 1.0 ka1 cl0 r0[] ir0;");
    expect("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
           "GET / 1.0 ka0 cl0 r0[] ir0;");
    expect("GET / HTTP/1.0\r\nConnection: keep-alivex\r\n\r\n",
           "GET / 1.0 ka0 cl0 r0[] ir0;");
    /* identical repeated Content-Length is fine */
    expect("GET / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n"
           "xGET / HTTP/1.1\r\n\r\n",
           "GET / 1.1 ka1 cl1 r0[] ir0;GET / 1.1 ka1 cl0 r0[] ir0;");
}

static void test_bad(void)
{
    static const char *const bad400[] = {
        "GET /\r\n\r\n",                 /* no version */
        "GET\r\n\r\n",                   /* method only */
        "GET  / HTTP/1.1\r\n\r\n",       /* double space */
        "GET / HTTP/1.1 \r\n\r\n",       /* trailing space */
        " GET / HTTP/1.1\r\n\r\n",       /* leading space */
        "GET / http/1.1\r\n\r\n",        /* lowercase version */
        "GET / HTTP/1.12\r\n\r\n",
        "GET / HTTP/1\r\n\r\n",
        "GET / HTTP/a.1\r\n\r\n",
        "GET / HTTX/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",        /* not a token */
        "GET /a\x01 HTTP/1.1\r\n\r\n",   /* CTL in target */
        "GET /a\x7f HTTP/1.1\r\n\r\n",   /* DEL in target */
        "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",/* non-ASCII target */
        "GET / HTTP/1.1\rX\r\n\r\n",     /* bare CR */
        "GET / HTTP/1.1\r\r\n\r\n",
        "GET\t/ HTTP/1.1\r\n\r\n",       /* tab separator */
        "GET / HTTP/1.1\r\nHost\r\n\r\n",       /* no colon */
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",   /* space before colon */
        "GET / HTTP/1.1\r\n: x\r\n\r\n",        /* empty name */
        "GET / HTTP/1.1\r\nHo(st: x\r\n\r\n",   /* not a token */
        "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", /* obs-fold */
        "GET / HTTP/1.1\r\n\tA: b\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",   /* CTL in value */
        "GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",    /* bare CR in value */
        "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    };
    size_t i;
    for (i = 0; i < sizeof(bad400) / sizeof(bad400[0]); i++)
        expect(bad400[i], "E400;");
    /* NUL anywhere in the header section */
    expect_n("GET /\0 HTTP/1.1\r\n\r\n", 19, "E400;");
    expect_n("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 24, "E400;");
    expect_n("\0\r\n", 3, "E400;");
    /* version */
    expect("GET / HTTP/2.0\r\n\r\n", "E505;");
    expect("GET / HTTP/0.9\r\n\r\n", "E505;");
    /* big body */
    expect("GET / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", "E413;");
}

static char *big(size_t n, char c)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_oversize(void)
{
    char *buf = malloc(3 * HTTP_MAX_HEADER_BYTES);
    char *fill;
    size_t base, i;

    /* header value too big */
    fill = big(9000, 'a');
    snprintf(buf, 3 * HTTP_MAX_HEADER_BYTES, "GET / HTTP/1.1\r\nX: %s\r\n\r\n", fill);
    expect(buf, "E431;");
    /* never-ending header line without LF */
    snprintf(buf, 3 * HTTP_MAX_HEADER_BYTES, "GET / HTTP/1.1\r\nX: %s", fill);
    expect(buf, "E431;");
    /* request line too long (beyond the header budget) */
    snprintf(buf, 3 * HTTP_MAX_HEADER_BYTES, "GET /%s HTTP/1.1\r\n\r\n", fill);
    expect(buf, "E414;");
    snprintf(buf, 3 * HTTP_MAX_HEADER_BYTES, "GET /%s", fill);
    expect(buf, "E414;");
    free(fill);
    /* target longer than HTTP_MAX_TARGET but within the header budget */
    fill = big(HTTP_MAX_TARGET, 'b');
    snprintf(buf, 3 * HTTP_MAX_HEADER_BYTES, "GET /%s HTTP/1.1\r\n\r\n", fill);
    expect(buf, "E414;");
    /* exactly HTTP_MAX_TARGET is fine */
    snprintf(buf, 3 * HTTP_MAX_HEADER_BYTES, "GET /%s HTTP/1.1\r\n\r\n", fill + 1);
    run(buf, strlen(buf), 0, 0, g_out, sizeof(g_out));
    CHECK(strncmp(g_out, "GET /bbb", 8) == 0);
    free(fill);

    /* exactly HTTP_MAX_HEADER_BYTES is accepted, one more is 431 */
    base = strlen("GET / HTTP/1.1\r\nX: \r\n\r\n");
    fill = big(HTTP_MAX_HEADER_BYTES - base, 'c');
    snprintf(buf, 3 * HTTP_MAX_HEADER_BYTES, "GET / HTTP/1.1\r\nX: %s\r\n\r\n", fill);
    CHECK(strlen(buf) == HTTP_MAX_HEADER_BYTES);
    expect(buf, "GET / 1.1 ka1 cl0 r0[] ir0;");
    free(fill);
    fill = big(HTTP_MAX_HEADER_BYTES - base + 1, 'c');
    snprintf(buf, 3 * HTTP_MAX_HEADER_BYTES, "GET / HTTP/1.1\r\nX: %s\r\n\r\n", fill);
    expect(buf, "E431;");
    free(fill);

    /* too many header fields */
    strcpy(buf, "GET / HTTP/1.1\r\n");
    for (i = 0; i < HTTP_MAX_HEADERS; i++)
        strcat(buf, "A: b\r\n");
    strcat(buf, "\r\n");
    expect(buf, "GET / 1.1 ka1 cl0 r0[] ir0;");
    strcpy(buf + strlen(buf) - 2, "A: b\r\n\r\n");
    expect(buf, "E431;");

    /* endless empty lines */
    fill = big(HTTP_MAX_HEADER_BYTES + 10, '\n');
    expect(fill, "E400;");
    free(fill);

    /* an over-long Range is ignored, not an error */
    fill = big(HTTP_MAX_RANGE + 1, '1');
    snprintf(buf, 3 * HTTP_MAX_HEADER_BYTES, "GET / HTTP/1.1\r\nRange: %s\r\n\r\n", fill);
    expect(buf, "GET / 1.1 ka1 cl0 r2[] ir0;");
    free(fill);
    free(buf);
}

static void test_methods(void)
{
    static const struct {
        const char *name;
        enum http_method m;
    } tab[] = {
        {"GET", HTTP_METHOD_GET},         {"HEAD", HTTP_METHOD_HEAD},
        {"POST", HTTP_METHOD_POST},       {"PUT", HTTP_METHOD_PUT},
        {"DELETE", HTTP_METHOD_DELETE},   {"OPTIONS", HTTP_METHOD_OPTIONS},
        {"TRACE", HTTP_METHOD_TRACE},     {"CONNECT", HTTP_METHOD_CONNECT},
        {"PATCH", HTTP_METHOD_PATCH},     {"BREW", HTTP_METHOD_OTHER},
        {"get", HTTP_METHOD_OTHER},       {"GETS", HTTP_METHOD_OTHER},
        {"GE", HTTP_METHOD_OTHER},        {"M-SEARCH", HTTP_METHOD_OTHER},
        {"AVERYVERYVERYLONGMETHODNAME", HTTP_METHOD_OTHER},
    };
    size_t i;
    for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        struct http_parser *p = malloc(sizeof(*p));
        char req[128];
        size_t used;
        int n = snprintf(req, sizeof(req), "%s * HTTP/1.1\r\n\r\n", tab[i].name);
        http_parser_init(p);
        CHECK(http_parse(p, req, (size_t)n, &used) == HTTP_PARSE_DONE);
        CHECK(p->req.method == tab[i].m);
        CHECK(strncmp(p->req.method_str, tab[i].name, sizeof(p->req.method_str) - 1) == 0);
        CHECK(strlen(p->req.method_str) < sizeof(p->req.method_str));
        CHECK_STR(p->req.target, "*");
        if (tab[i].m != HTTP_METHOD_OTHER)
            CHECK_STR(http_method_name(tab[i].m), tab[i].name);
        free(p);
    }
    CHECK_STR(http_reason(404), "Not Found");
    CHECK_STR(http_reason(416), "Range Not Satisfiable");
}

static void range_case(int line, const char *v, uint64_t size, enum http_range_result want,
                       uint64_t wf, uint64_t wl)
{
    uint64_t f = 12345, l = 12345;
    enum http_range_result r = http_range_resolve(v, size, &f, &l);
    int ok = r == want && (want != HTTP_RANGE_OK || (f == wf && l == wl));
    if (ok && want == HTTP_RANGE_OK)
        ok = f <= l && l < size;
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  line %d: range \"%s\" size %" PRIu64 ": got %d %" PRIu64 "-%" PRIu64
                "\n", line, v, size, (int)r, f, l);
}
#define RANGE(v, size, want, f, l) range_case(__LINE__, v, size, want, f, l)

static void test_range(void)
{
    const enum http_range_result OK = HTTP_RANGE_OK, NONE = HTTP_RANGE_NONE,
                                 UNSAT = HTTP_RANGE_UNSATISFIABLE;
    RANGE("bytes=0-0", 100, OK, 0, 0);
    RANGE("bytes=0-99", 100, OK, 0, 99);
    RANGE("bytes=0-100", 100, OK, 0, 99);          /* last beyond size: clamp */
    RANGE("bytes=10-", 100, OK, 10, 99);
    RANGE("bytes=99-", 100, OK, 99, 99);
    RANGE("bytes=100-", 100, UNSAT, 0, 0);          /* beyond size */
    RANGE("bytes=100-200", 100, UNSAT, 0, 0);
    RANGE("bytes=-1", 100, OK, 99, 99);
    RANGE("bytes=-100", 100, OK, 0, 99);
    RANGE("bytes=-1000", 100, OK, 0, 99);           /* suffix longer than the file */
    RANGE("bytes=-0", 100, UNSAT, 0, 0);
    RANGE("bytes=5-2", 100, NONE, 0, 0);            /* invalid: ignored */
    RANGE("bytes=99999999999999999999-", 100, UNSAT, 0, 0);
    RANGE("bytes=0-99999999999999999999", 100, OK, 0, 99);
    RANGE("bytes=-99999999999999999999", 100, OK, 0, 99);
    RANGE("bytes=18446744073709551615-", 100, UNSAT, 0, 0);
    RANGE("bytes=18446744073709551614-18446744073709551615", UINT64_MAX, OK,
          UINT64_MAX - 1, UINT64_MAX - 1);
    RANGE("bytes=0-", UINT64_MAX, OK, 0, UINT64_MAX - 1);
    RANGE("bytes=0-0", 0, UNSAT, 0, 0);             /* empty file */
    RANGE("bytes=-5", 0, NONE, 0, 0);
    RANGE("bytes=-0", 0, UNSAT, 0, 0);
    RANGE("BYTES=1-2", 100, OK, 1, 2);               /* unit is case-insensitive */
    RANGE("  bytes=1-2  ", 100, OK, 1, 2);
    RANGE("bytes= 1-2", 100, OK, 1, 2);
    RANGE("bytes=1-2,", 100, OK, 1, 2);              /* empty list elements */
    RANGE("bytes=,1-2", 100, OK, 1, 2);
    RANGE("bytes=0-1,5-6", 100, NONE, 0, 0);        /* several: full 200 */
    RANGE("bytes=0-1, 200-300", 100, NONE, 0, 0);
    RANGE("bytes=", 100, NONE, 0, 0);
    RANGE("bytes=,", 100, NONE, 0, 0);
    RANGE("bytes=-", 100, NONE, 0, 0);
    RANGE("bytes=a-b", 100, NONE, 0, 0);
    RANGE("bytes=1", 100, NONE, 0, 0);
    RANGE("bytes=1-2x", 100, NONE, 0, 0);
    RANGE("bytes=1 -2", 100, NONE, 0, 0);
    RANGE("bytes=--1", 100, NONE, 0, 0);
    RANGE("bytes=+1-2", 100, NONE, 0, 0);
    RANGE("bytes 1-2", 100, NONE, 0, 0);
    RANGE("bytes", 100, NONE, 0, 0);
    RANGE("byte=1-2", 100, NONE, 0, 0);
    RANGE("items=1-2", 100, NONE, 0, 0);
    RANGE("", 100, NONE, 0, 0);
    RANGE("by", 100, NONE, 0, 0);
    CHECK(http_range_resolve(NULL, 100, NULL, NULL) == HTTP_RANGE_NONE);
}

static void path_case(int line, const char *target, int want_rc, const char *want)
{
    char out[64];
    int rc = http_target_to_path(target, out, sizeof(out));
    int ok = rc == want_rc && (rc != 0 || strcmp(out, want) == 0);
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  line %d: \"%s\" -> %d \"%s\"\n", line, target, rc, rc == 0 ? out : "");
}
#define PATH(t, rc, want) path_case(__LINE__, t, rc, want)

static void test_path(void)
{
    char small[4];
    PATH("/", 0, "");
    PATH("/index.html", 0, "index.html");
    PATH("/a/b/c.txt", 0, "a/b/c.txt");
    PATH("//a///b/", 0, "a/b");
    PATH("/./a/./b/.", 0, "a/b");
    PATH("/.", 0, "");
    PATH("/a?x=/../../etc", 0, "a");
    PATH("/a#frag", 0, "a");
    PATH("/?q", 0, "");
    PATH("/%41%62c", 0, "Abc");
    PATH("/a%20b", 0, "a b");
    PATH("/%2e%2E%2e", 0, "...");
    PATH("/..a/a..", 0, "..a/a..");
    PATH("/.hidden", 0, ".hidden");
    PATH("http://host:8080/x/y", 0, "x/y");
    PATH("HTTP://host", 0, "");
    PATH("https://host?q", 0, "");
    PATH("/..", -1, "");
    PATH("/../etc/passwd", -1, "");
    PATH("/a/../b", -1, "");
    PATH("/a/..", -1, "");
    PATH("/%2e%2e/x", -1, "");
    PATH("/.%2E", -1, "");
    PATH("/a%2f..%2fb", -1, "");
    PATH("/a%2Fb", -1, "");
    PATH("/a%00b", -1, "");
    PATH("/a%", -1, "");
    PATH("/a%4", -1, "");
    PATH("/a%4g", -1, "");
    PATH("/a%g4", -1, "");
    PATH("*", -1, "");
    PATH("a/b", -1, "");
    PATH("", -1, "");
    PATH("hxxp://x/", -1, "");
    PATH("http:/x", -1, "");
    PATH("http://x/../a", -1, "");
    CHECK(http_target_to_path("/abcd", small, sizeof(small)) == -2);
    CHECK(http_target_to_path("/abc", small, sizeof(small)) == 0 && strcmp(small, "abc") == 0);
    CHECK(http_target_to_path("/a/b", small, sizeof(small)) == 0 && strcmp(small, "a/b") == 0);
    CHECK(http_target_to_path("/ab/c", small, sizeof(small)) == -2);
    CHECK(http_target_to_path("/", small, 0) == -2);
}

/* Every split point of a realistic request, byte by byte, and all three-way
 * splits of a pipelined pair (exhaustive for a short input). */
static void test_splits(void)
{
    const char *pair = "GET /a HTTP/1.1\r\nRange: bytes=1-\r\n\r\nHEAD /b HTTP/1.0\n\n";
    const char *want = "GET /a 1.1 ka1 cl0 r1[bytes=1-] ir0;HEAD /b 1.0 ka0 cl0 r0[] ir0;";
    size_t n = strlen(pair), a, b;
    int bad = 0;

    expect("GET /big/file.bin HTTP/1.1\r\nHost: 198.18.0.1:8080\r\nUser-Agent: curl/8.0\r\n"
           "Accept: */*\r\nRange: bytes=100-199\r\nConnection: keep-alive\r\n\r\n",
           "GET /big/file.bin 1.1 ka1 cl0 r1[bytes=100-199] ir0;");
    for (a = 1; a < n; a++) {
        for (b = a + 1; b < n; b++) {
            struct http_parser *p = malloc(sizeof(*p));
            size_t cuts[4] = {0, a, b, n}, k;
            char out[512] = "";
            http_parser_init(p);
            for (k = 0; k < 3; k++) {
                const char *d = pair + cuts[k];
                size_t len = cuts[k + 1] - cuts[k];
                while (len > 0) {
                    size_t used;
                    enum http_result r = http_parse(p, d, len, &used);
                    d += used;
                    len -= used;
                    if (r == HTTP_PARSE_DONE) {
                        summarize(&p->req, out, sizeof(out));
                        http_parser_reset(p);
                    } else if (r == HTTP_PARSE_ERROR || len != 0) {
                        append(out, sizeof(out), "ERR;");
                        len = 0;
                    }
                }
            }
            if (strcmp(out, want) != 0 && !bad) {
                fprintf(stderr, "3-way split %zu/%zu: %s\n", a, b, out);
                bad = 1;
            }
            free(p);
        }
    }
    CHECK(!bad);
}

/* The shared header tokenizer (apps/common/httptok.c), as slclient uses it. */
static void test_tokenizer(void)
{
    struct http_field f;
    const char *l = "Content-Length: \t 42 \t";
    CHECK(http_field_split(l, strlen(l), &f) == HTTP_FIELD_OK);
    CHECK(f.name_len == 14 && memcmp(f.name, "Content-Length", 14) == 0);
    CHECK(f.value_len == 2 && memcmp(f.value, "42", 2) == 0);
    l = "X-Empty:";
    CHECK(http_field_split(l, strlen(l), &f) == HTTP_FIELD_OK && f.value_len == 0);
    l = " folded: x";
    CHECK(http_field_split(l, strlen(l), &f) == HTTP_FIELD_FOLDED);
    l = "Bad Name: x";
    CHECK(http_field_split(l, strlen(l), &f) == HTTP_FIELD_BAD_NAME);
    l = "Name : x"; /* no whitespace before the colon (RFC 9112 5.1) */
    CHECK(http_field_split(l, strlen(l), &f) == HTTP_FIELD_BAD_NAME);
    l = "NoColon";
    CHECK(http_field_split(l, strlen(l), &f) == HTTP_FIELD_BAD_NAME);
    CHECK(http_field_split("", 0, &f) == HTTP_FIELD_BAD_NAME);
    l = "X: a\x01b";
    CHECK(http_field_split(l, strlen(l), &f) == HTTP_FIELD_CTL);
    l = "foo, Keep-Alive ,close";
    CHECK(http_list_has(l, strlen(l), "keep-alive"));
    CHECK(http_list_has(l, strlen(l), "close"));
    CHECK(http_list_has(l, strlen(l), "foo"));
    CHECK(!http_list_has(l, strlen(l), "keep"));
    CHECK(!http_list_has(l, 3, "close")); /* only within the span */
    CHECK(!http_list_has(",, ,", 4, "close"));
    CHECK(http_list_has("chunked", 7, "chunked"));
}

int main(void)
{
    test_basic();
    test_tokenizer();
    test_fields();
    test_pipelined();
    test_bad();
    test_oversize();
    test_methods();
    test_range();
    test_path();
    test_splits();
    printf("test_http_parse: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
