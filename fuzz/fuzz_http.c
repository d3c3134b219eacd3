/* libFuzzer harness for the slhttpd request parser.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iapps/slhttpd \
 *       apps/slhttpd/http_parse.c fuzz/fuzz_http.c -o /tmp/fz
 *   /tmp/fz -max_total_time=60 fuzz/corpus/http
 *
 * Input: byte 0 picks a split point, byte 1 a chunk size for the rest, byte
 * 2 a file size for Range checks; the remainder is the request stream. The
 * stream is parsed once whole and once split into separately allocated
 * chunks (so ASan sees any read past a chunk); both must give the same
 * requests. Every parsed request is checked for sane fields and pushed
 * through http_range_resolve and http_target_to_path.
 */
#include "http_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 64

struct outcome {
    int n;
    int err;                 /* error status or 0 */
    int incomplete;          /* stream ended mid-request */
    uint32_t hash[MAX_EVENTS];
};

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    while (n--)
        h = (h ^ *s++) * 16777619u;
    return h;
}

static void check_path(const char *target)
{
    char out[HTTP_MAX_TARGET + 1];
    int rc = http_target_to_path(target, out, sizeof(out));
    size_t n, i, seg;
    if (rc != 0) {
        if (rc != -1 && rc != -2)
            abort();
        return;
    }
    n = strlen(out);
    if (n >= sizeof(out) || (n > 0 && (out[0] == '/' || out[n - 1] == '/')))
        abort();
    /* no empty, "." or ".." segments */
    for (seg = 0, i = 0; i <= n; i++) {
        if (i == n || out[i] == '/') {
            size_t len = i - seg;
            if (n > 0 && len == 0)
                abort();
            if (len == 1 && out[seg] == '.')
                abort();
            if (len == 2 && out[seg] == '.' && out[seg + 1] == '.')
                abort();
            seg = i + 1;
        }
    }
}

static void check_range(const char *v, uint64_t size)
{
    uint64_t f = 7, l = 7;
    enum http_range_result r = http_range_resolve(v, size, &f, &l);
    if (r == HTTP_RANGE_OK) {
        if (size == 0 || f > l || l >= size)
            abort();
    } else if (r != HTTP_RANGE_NONE && r != HTTP_RANGE_UNSATISFIABLE) {
        abort();
    }
}

static uint32_t check_request(const struct http_request *r, uint64_t size)
{
    uint32_t h = 2166136261u;
    size_t i;
    if (r->target == NULL || strlen(r->target) != r->target_len || r->target_len == 0 ||
        r->target_len > HTTP_MAX_TARGET)
        abort();
    for (i = 0; i < r->target_len; i++) {
        unsigned char c = (unsigned char)r->target[i];
        if (c <= 0x20 || c >= 0x7f)
            abort();
    }
    if (memchr(r->method_str, '\0', sizeof(r->method_str)) == NULL || r->method_str[0] == '\0')
        abort();
    if (r->version_major != 1 || r->version_minor < 0 || r->version_minor > 9)
        abort();
    if (r->has_range < 0 || r->has_range > 2 || strlen(r->range) > HTTP_MAX_RANGE)
        abort();
    if (r->has_range != 1 && r->range[0] != '\0')
        abort();
    if (strlen(r->if_range) > HTTP_MAX_IF_RANGE)
        abort();
    if (r->host_count > 1 || r->header_count > HTTP_MAX_HEADERS)
        abort();
    if (r->has_content_length == 0 && r->content_length != 0)
        abort();
    if (r->content_length > HTTP_DEFAULT_MAX_BODY)
        abort();
    if (r->keep_alive != (r->version_minor == 0 ? (r->conn_keep_alive && !r->conn_close)
                                                : !r->conn_close))
        abort();
    if (r->has_range == 1)
        check_range(r->range, size);
    check_path(r->target);

    h = fnv(h, r->method_str, strlen(r->method_str));
    h = fnv(h, r->target, r->target_len);
    h = fnv(h, &r->method, sizeof(r->method));
    h = fnv(h, &r->version_minor, sizeof(r->version_minor));
    h = fnv(h, &r->keep_alive, sizeof(r->keep_alive));
    h = fnv(h, &r->content_length, sizeof(r->content_length));
    h = fnv(h, &r->has_range, sizeof(r->has_range));
    h = fnv(h, r->range, strlen(r->range));
    h = fnv(h, &r->has_if_range, sizeof(r->has_if_range));
    h = fnv(h, &r->header_count, sizeof(r->header_count));
    return h;
}

/* Feeds the stream in chunks: [0, split) then pieces of `step` bytes
 * (step 0 = the rest at once). */
static void run(const uint8_t *data, size_t n, size_t split, size_t step, uint64_t size,
                struct outcome *o)
{
    static struct http_parser p;
    size_t cs = 0;
    memset(o, 0, sizeof(*o));
    http_parser_init(&p);
    while (cs < n) {
        size_t ce = cs < split ? split : (step == 0 || n - cs < step ? n : cs + step);
        size_t len = ce - cs;
        char *chunk = malloc(len), *d = chunk;
        memcpy(chunk, data + cs, len);
        while (len > 0) {
            size_t used = (size_t)-1;
            enum http_result r = http_parse(&p, d, len, &used);
            if (used > len)
                abort();
            d += used;
            len -= used;
            if (r == HTTP_PARSE_DONE) {
                uint32_t h = check_request(&p.req, size);
                if (o->n < MAX_EVENTS)
                    o->hash[o->n] = h;
                o->n++;
                http_parser_reset(&p);
            } else if (r == HTTP_PARSE_ERROR) {
                if (p.status != 400 && p.status != 413 && p.status != 414 && p.status != 431 &&
                    p.status != 505)
                    abort();
                if (p.error == NULL)
                    abort();
                o->err = p.status;
                free(chunk);
                return;
            } else if (len != 0) {
                abort(); /* INCOMPLETE must take everything */
            }
        }
        free(chunk);
        cs = ce;
    }
    o->incomplete = http_parser_started(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome whole, split;
    size_t n, sp, step;
    uint64_t fsize;
    if (size < 3)
        return 0;
    n = size - 3;
    sp = n ? (size_t)data[0] * n / 255 : 0;
    step = data[1] % 17; /* 0 = rest at once, else 1..16 bytes */
    if (data[2] < 200)
        fsize = data[2];
    else
        fsize = data[2] == 255 ? UINT64_MAX : (uint64_t)1 << (data[2] - 200);
    data += 3;

    run(data, n, 0, 0, fsize, &whole);
    run(data, n, sp, step, fsize, &split);
    if (whole.n != split.n || whole.err != split.err || whole.incomplete != split.incomplete)
        abort();
    if (memcmp(whole.hash, split.hash,
               sizeof(uint32_t) * (size_t)(whole.n < MAX_EVENTS ? whole.n : MAX_EVENTS)) != 0)
        abort();

    /* the whole input as a Range value and as a target */
    {
        char *s = malloc(n + 1);
        memcpy(s, data, n);
        s[n] = '\0';
        check_range(s, fsize);
        check_path(s);
        free(s);
    }
    return 0;
}
