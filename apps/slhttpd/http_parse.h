/* slhttpd: resumable HTTP/1.x request parser (pure: no I/O, no sltcp).
 *
 * Feed bytes in any split (down to one byte at a time) with http_parse().
 * The parser copies at most HTTP_MAX_HEADER_BYTES of request line + header
 * lines into its own buffer and never reads outside the span it is given.
 *
 * One http_parser holds one request at a time:
 *
 *   http_parser_init(&p);
 *   for (;;) {
 *       size_t used;
 *       enum http_result r = http_parse(&p, data, len, &used);
 *       data += used; len -= used;
 *       if (r == HTTP_PARSE_DONE)  { serve(&p.req); http_parser_reset(&p); continue; }
 *       if (r == HTTP_PARSE_ERROR) { reply(p.status); close; }
 *       break; // INCOMPLETE: all bytes were used, feed more later
 *   }
 *
 * On DONE, `used` stops right after the request (headers and any body), so
 * leftover bytes are the start of the next pipelined request. A request
 * body (Content-Length) is consumed and discarded before DONE.
 * Transfer-Encoding in a request is rejected with 400.
 *
 * Line ends may be CRLF or a bare LF; a bare CR anywhere else is an error.
 * Empty lines before a request line are skipped (RFC 9112 section 2.2).
 */
#ifndef SLHTTPD_HTTP_PARSE_H
#define SLHTTPD_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Request line + header lines + terminating empty line (and any empty lines
 * before the request line). Exceeding it: 414 while still in the request
 * line, 431 in the headers. */
#define HTTP_MAX_HEADER_BYTES 8192
/* Longer request-targets: 414. */
#define HTTP_MAX_TARGET 4096
/* More header field lines: 431. */
#define HTTP_MAX_HEADERS 100
/* Range values longer than this are ignored (full 200 response). */
#define HTTP_MAX_RANGE 255
#define HTTP_MAX_IF_RANGE 127
/* Default limit for a request body that is read and discarded: 413. */
#define HTTP_DEFAULT_MAX_BODY (1u << 20)

enum http_method {
    HTTP_METHOD_OTHER = 0, /* any other token: see req.method_str */
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_OPTIONS,
    HTTP_METHOD_TRACE,
    HTTP_METHOD_CONNECT,
    HTTP_METHOD_PATCH,
};

enum http_result {
    HTTP_PARSE_INCOMPLETE = 0, /* every byte given was used; need more */
    HTTP_PARSE_DONE = 1,       /* p->req is complete */
    HTTP_PARSE_ERROR = -1,     /* p->status / p->error say why; close after replying */
};

struct http_request {
    enum http_method method;
    char method_str[16];   /* NUL-terminated, truncated copy of the method token */
    const char *target;    /* NUL-terminated, inside the parser; valid until reset */
    size_t target_len;
    int version_major;     /* always 1 for an accepted request */
    int version_minor;     /* 0 or 1 (a higher 1.x minor is reported as is) */

    int has_content_length;
    uint64_t content_length;

    /* Range: 0 absent, 1 present (value in `range`), 2 present but ignored
     * (too long or repeated): serve the full representation. */
    int has_range;
    char range[HTTP_MAX_RANGE + 1];
    /* If-Range: 0 absent, 1 present (value in `if_range`), 2 too long. */
    int has_if_range;
    char if_range[HTTP_MAX_IF_RANGE + 1];

    int conn_close;        /* "close" token in Connection */
    int conn_keep_alive;   /* "keep-alive" token in Connection */
    int keep_alive;        /* result: 1.1 unless close; 1.0 only with keep-alive */
    int host_count;        /* number of Host fields (2+ is rejected) */
    int expect_continue;   /* "Expect: 100-continue" (RFC 9110 10.1.1) */
    unsigned header_count;
};

struct http_parser {
    /* results */
    struct http_request req;
    int status;            /* on ERROR: 400, 413, 414, 431 or 505 */
    const char *error;     /* on ERROR: short static reason, for logs */
    /* settings (http_parser_init sets the defaults; kept across resets) */
    uint64_t max_body;
    int put_body_to_caller; /* PUT: DONE right after the headers, the body
                               (any size) is left to the caller */

    /* private */
    int state;
    size_t total;          /* header-section bytes seen so far */
    size_t len;            /* bytes used in buf */
    size_t line_start;     /* start of the line being collected in buf */
    uint64_t body_left;
    char buf[HTTP_MAX_HEADER_BYTES + 1];
};

void http_parser_init(struct http_parser *p);
/* Prepares for the next request (keeps max_body). */
void http_parser_reset(struct http_parser *p);
/* Parses up to `len` bytes; *used says how many were taken (all of them
 * unless DONE). After DONE or ERROR, further calls take nothing and return
 * the same result until reset. */
enum http_result http_parse(struct http_parser *p, const char *data, size_t len, size_t *used);
/* Whether a request is in progress (some bytes seen, not DONE yet). */
int http_parser_started(const struct http_parser *p);

const char *http_method_name(enum http_method m);
const char *http_reason(int status);

/* ---- Range (RFC 9110 section 14) ---- */
enum http_range_result {
    HTTP_RANGE_NONE = 0,      /* absent, invalid, unknown unit or several ranges: 200 */
    HTTP_RANGE_OK = 1,        /* 206 for [*first, *last] (inclusive) */
    HTTP_RANGE_UNSATISFIABLE = 2, /* 416 with "Content-Range: bytes * /size" */
};
/* Resolves a Range field value against a representation of `size` bytes.
 * Numbers too big for 64 bits saturate (so "bytes=99999999999999999999-"
 * is unsatisfiable and "bytes=0-99999999999999999999" is the whole file). */
enum http_range_result http_range_resolve(const char *value, uint64_t size, uint64_t *first,
                                          uint64_t *last);

/* ---- request-target to file path ---- */
/* Maps an origin-form ("/a/b?q") or absolute-form ("http://h:p/a/b")
 * target to a relative path "a/b" (possibly "" for the root): drops the
 * query and fragment, decodes %XX, collapses empty and "." segments.
 * Returns 0, -1 for a malformed or unsafe target (no leading '/', bad %
 * escape, %00, %2F, a ".." segment), -2 if `out` (outlen bytes incl. NUL) is too
 * small. The result never contains a NUL, never starts with '/', and has no
 * "." or ".." segment. */
int http_target_to_path(const char *target, char *out, size_t outlen);

#endif
