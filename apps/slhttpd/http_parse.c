/* slhttpd: resumable HTTP/1.x request parser. See http_parse.h. */
#include "http_parse.h"

#include "../common/httptok.h"

#include <string.h>

enum { S_LINE_REQ = 0, S_LINE_HDR, S_BODY, S_DONE, S_ERROR };

void http_parser_reset(struct http_parser *p)
{
    uint64_t max_body = p->max_body;
    int put_body = p->put_body_to_caller;
    memset(&p->req, 0, sizeof(p->req));
    p->req.target = "";
    p->status = 0;
    p->error = NULL;
    p->max_body = max_body;
    p->put_body_to_caller = put_body;
    p->state = S_LINE_REQ;
    p->total = 0;
    p->len = 0;
    p->line_start = 0;
    p->body_left = 0;
    p->buf[0] = '\0';
}

void http_parser_init(struct http_parser *p)
{
    p->max_body = HTTP_DEFAULT_MAX_BODY;
    p->put_body_to_caller = 0;
    http_parser_reset(p);
}

int http_parser_started(const struct http_parser *p)
{
    return p->total > 0 || p->state != S_LINE_REQ;
}

static enum http_result fail(struct http_parser *p, int status, const char *why)
{
    p->state = S_ERROR;
    p->status = status;
    p->error = why;
    return HTTP_PARSE_ERROR;
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

#define is_tchar http_is_tchar
#define is_ows http_is_ows
#define eq_ci http_eq_ci

const char *http_method_name(enum http_method m)
{
    switch (m) {
    case HTTP_METHOD_GET: return "GET";
    case HTTP_METHOD_HEAD: return "HEAD";
    case HTTP_METHOD_POST: return "POST";
    case HTTP_METHOD_PUT: return "PUT";
    case HTTP_METHOD_DELETE: return "DELETE";
    case HTTP_METHOD_OPTIONS: return "OPTIONS";
    case HTTP_METHOD_TRACE: return "TRACE";
    case HTTP_METHOD_CONNECT: return "CONNECT";
    case HTTP_METHOD_PATCH: return "PATCH";
    case HTTP_METHOD_OTHER: break;
    }
    return "OTHER";
}

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static enum http_method method_from(const char *s, size_t n)
{
    static const struct {
        const char *name;
        enum http_method m;
    } tab[] = {
        {"GET", HTTP_METHOD_GET},         {"HEAD", HTTP_METHOD_HEAD},
        {"POST", HTTP_METHOD_POST},       {"PUT", HTTP_METHOD_PUT},
        {"DELETE", HTTP_METHOD_DELETE},   {"OPTIONS", HTTP_METHOD_OPTIONS},
        {"TRACE", HTTP_METHOD_TRACE},     {"CONNECT", HTTP_METHOD_CONNECT},
        {"PATCH", HTTP_METHOD_PATCH},
    };
    size_t i;
    for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        /* methods are case-sensitive */
        if (strlen(tab[i].name) == n && memcmp(tab[i].name, s, n) == 0)
            return tab[i].m;
    }
    return HTTP_METHOD_OTHER;
}

/* "METHOD SP request-target SP HTTP/D.D" in buf[0, n). On success the
 * target is moved to buf[0] and NUL-terminated. */
static enum http_result parse_request_line(struct http_parser *p, size_t n)
{
    char *l = p->buf;
    size_t i = 0, m_end, t_start, t_end;
    struct http_request *r = &p->req;

    while (i < n && is_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i >= n || l[i] != ' ')
        return fail(p, 400, "bad method");
    m_end = i;
    t_start = ++i;
    while (i < n && l[i] != ' ') {
        unsigned char c = (unsigned char)l[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail(p, 400, "bad character in request-target");
        i++;
    }
    t_end = i;
    if (t_end == t_start)
        return fail(p, 400, "empty request-target");
    if (i >= n)
        return fail(p, 400, "missing HTTP version");
    i++; /* SP */
    if (n - i != 8 || memcmp(l + i, "HTTP/", 5) != 0 || l[i + 5] < '0' || l[i + 5] > '9' ||
        l[i + 6] != '.' || l[i + 7] < '0' || l[i + 7] > '9')
        return fail(p, 400, "bad HTTP version");
    r->version_major = l[i + 5] - '0';
    r->version_minor = l[i + 7] - '0';
    if (r->version_major != 1)
        return fail(p, 505, "unsupported HTTP version");
    if (t_end - t_start > HTTP_MAX_TARGET)
        return fail(p, 414, "request-target too long");

    r->method = method_from(l, m_end);
    {
        size_t k = m_end < sizeof(r->method_str) - 1 ? m_end : sizeof(r->method_str) - 1;
        memcpy(r->method_str, l, k);
        r->method_str[k] = '\0';
    }
    r->target_len = t_end - t_start;
    memmove(p->buf, l + t_start, r->target_len);
    p->buf[r->target_len] = '\0';
    r->target = p->buf;
    p->line_start = p->len = r->target_len + 1;
    p->state = S_LINE_HDR;
    return HTTP_PARSE_INCOMPLETE;
}

/* One header field line in buf[line_start, line_start + n). */
static enum http_result parse_header_line(struct http_parser *p, size_t n)
{
    const char *l = p->buf + p->line_start;
    struct http_request *r = &p->req;
    struct http_field f;
    size_t i, name_len;
    const char *v;

    switch (http_field_split(l, n, &f)) {
    case HTTP_FIELD_FOLDED:
        return fail(p, 400, "obsolete line folding");
    case HTTP_FIELD_BAD_NAME:
        return fail(p, 400, "bad header field name");
    case HTTP_FIELD_CTL:
        return fail(p, 400, "control character in header value");
    case HTTP_FIELD_OK:
        break;
    }
    name_len = f.name_len;
    v = f.value;
    n = f.value_len; /* value length from here on */

    if (++r->header_count > HTTP_MAX_HEADERS)
        return fail(p, 431, "too many header fields");

    if (eq_ci(l, name_len, "content-length")) {
        uint64_t val = 0;
        if (n == 0)
            return fail(p, 400, "empty Content-Length");
        for (i = 0; i < n; i++) {
            unsigned d;
            if (v[i] < '0' || v[i] > '9')
                return fail(p, 400, "bad Content-Length");
            d = (unsigned)(v[i] - '0');
            if (val > (UINT64_MAX - d) / 10)
                return fail(p, 400, "Content-Length overflow");
            val = val * 10 + d;
        }
        if (r->has_content_length && r->content_length != val)
            return fail(p, 400, "conflicting Content-Length");
        r->has_content_length = 1;
        r->content_length = val;
        if (val > p->max_body &&
            !(p->put_body_to_caller && r->method == HTTP_METHOD_PUT))
            return fail(p, 413, "request body too large");
    } else if (eq_ci(l, name_len, "transfer-encoding")) {
        return fail(p, 400, "Transfer-Encoding in request not supported");
    } else if (eq_ci(l, name_len, "range")) {
        if (r->has_range || n > HTTP_MAX_RANGE) {
            r->has_range = 2;
            r->range[0] = '\0';
        } else {
            memcpy(r->range, v, n);
            r->range[n] = '\0';
            r->has_range = 1;
        }
    } else if (eq_ci(l, name_len, "if-range")) {
        if (r->has_if_range || n > HTTP_MAX_IF_RANGE) {
            r->has_if_range = 2;
            r->if_range[0] = '\0';
        } else {
            memcpy(r->if_range, v, n);
            r->if_range[n] = '\0';
            r->has_if_range = 1;
        }
    } else if (eq_ci(l, name_len, "connection")) {
        r->conn_close |= http_list_has(v, n, "close");
        r->conn_keep_alive |= http_list_has(v, n, "keep-alive");
    } else if (eq_ci(l, name_len, "expect")) {
        if (eq_ci(v, n, "100-continue"))
            r->expect_continue = 1;
    } else if (eq_ci(l, name_len, "host")) {
        if (++r->host_count > 1)
            return fail(p, 400, "multiple Host fields");
    }
    p->len = p->line_start; /* drop the line */
    return HTTP_PARSE_INCOMPLETE;
}

static enum http_result end_of_headers(struct http_parser *p)
{
    struct http_request *r = &p->req;
    if (r->version_minor == 0)
        r->keep_alive = r->conn_keep_alive && !r->conn_close;
    else
        r->keep_alive = !r->conn_close;
    if (r->has_content_length && r->content_length > 0 &&
        !(p->put_body_to_caller && r->method == HTTP_METHOD_PUT)) {
        p->body_left = r->content_length;
        p->state = S_BODY;
        return HTTP_PARSE_INCOMPLETE;
    }
    p->state = S_DONE;
    return HTTP_PARSE_DONE;
}

/* A complete line is in buf[line_start, len) without its '\n'. */
static enum http_result line_done(struct http_parser *p)
{
    size_t n = p->len - p->line_start;
    const char *l = p->buf + p->line_start;

    if (n > 0 && l[n - 1] == '\r')
        n--;
    if (memchr(l, '\r', n) != NULL)
        return fail(p, 400, "bare CR");
    if (memchr(l, '\0', n) != NULL)
        return fail(p, 400, "NUL in header section");

    if (p->state == S_LINE_REQ) {
        if (n == 0) { /* empty line before the request line: skip */
            p->len = p->line_start;
            return HTTP_PARSE_INCOMPLETE;
        }
        return parse_request_line(p, n);
    }
    if (n == 0)
        return end_of_headers(p);
    return parse_header_line(p, n);
}

enum http_result http_parse(struct http_parser *p, const char *data, size_t len, size_t *used)
{
    size_t i = 0;
    enum http_result res = HTTP_PARSE_INCOMPLETE;

    if (p->state == S_DONE || p->state == S_ERROR) {
        *used = 0;
        return p->state == S_DONE ? HTTP_PARSE_DONE : HTTP_PARSE_ERROR;
    }
    while (i < len) {
        if (p->state == S_BODY) {
            size_t k = len - i;
            if ((uint64_t)k > p->body_left)
                k = (size_t)p->body_left;
            i += k;
            p->body_left -= k;
            if (p->body_left == 0) {
                p->state = S_DONE;
                res = HTTP_PARSE_DONE;
                break;
            }
            continue;
        }
        /* S_LINE_REQ / S_LINE_HDR: collect up to and including '\n' */
        {
            const char *nl = memchr(data + i, '\n', len - i);
            size_t take = nl ? (size_t)(nl - (data + i)) + 1 : len - i;
            size_t copy = nl ? take - 1 : take;

            if (take > HTTP_MAX_HEADER_BYTES - p->total) {
                i += HTTP_MAX_HEADER_BYTES - p->total;
                if (p->state == S_LINE_HDR)
                    res = fail(p, 431, "header section too large");
                else if (p->len > p->line_start || copy > 0)
                    res = fail(p, 414, "request line too long");
                else
                    res = fail(p, 400, "too many empty lines");
                break;
            }
            /* total <= HTTP_MAX_HEADER_BYTES and buf holds at most the
             * target (a part of what total counted) + this line. */
            memcpy(p->buf + p->len, data + i, copy);
            p->len += copy;
            p->total += take;
            i += take;
            if (nl) {
                res = line_done(p);
                if (res != HTTP_PARSE_INCOMPLETE)
                    break;
            }
        }
    }
    *used = i;
    return res;
}

/* ---- Range ---- */

/* Parses 1*DIGIT at s[*i], saturating at UINT64_MAX. Returns 0 if none. */
static int parse_num(const char *s, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = *i;
    while (s[*i] >= '0' && s[*i] <= '9') {
        unsigned d = (unsigned)(s[*i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            v = UINT64_MAX;
        else
            v = v * 10 + d;
        (*i)++;
    }
    *out = v;
    return *i > start;
}

enum http_range_result http_range_resolve(const char *value, uint64_t size, uint64_t *first,
                                          uint64_t *last)
{
    size_t i = 0, nspec = 0, spec = 0, k;
    uint64_t a = 0, b = 0;
    int has_a, has_b;

    if (value == NULL)
        return HTTP_RANGE_NONE;
    while (is_ows(value[i]))
        i++;
    if (!eq_ci(value + i, 5, "bytes") || value[i + 5] != '=')
        return HTTP_RANGE_NONE; /* unknown unit (or garbage): ignore */
    i += 6;

    /* range-set = 1#range-spec: count the non-empty list elements */
    for (k = i;;) {
        size_t s;
        while (is_ows(value[k]) || value[k] == ',')
            k++;
        if (value[k] == '\0')
            break;
        s = k;
        while (value[k] != '\0' && value[k] != ',')
            k++;
        if (nspec++ == 0)
            spec = s;
    }
    if (nspec != 1)
        return HTTP_RANGE_NONE; /* none (invalid) or several: full 200 */

    i = spec;
    has_a = parse_num(value, &i, &a);
    if (value[i] != '-')
        return HTTP_RANGE_NONE;
    i++;
    has_b = parse_num(value, &i, &b);
    while (is_ows(value[i]))
        i++;
    if (value[i] != '\0' && value[i] != ',')
        return HTTP_RANGE_NONE;

    if (!has_a) {
        if (!has_b)
            return HTTP_RANGE_NONE; /* "bytes=-" */
        /* suffix-range */
        if (b == 0)
            return HTTP_RANGE_UNSATISFIABLE;
        if (size == 0)
            return HTTP_RANGE_NONE; /* nothing to cut from: serve the empty body */
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return HTTP_RANGE_OK;
    }
    if (has_b && b < a)
        return HTTP_RANGE_NONE; /* invalid range-spec: ignore */
    if (a >= size)
        return HTTP_RANGE_UNSATISFIABLE;
    *first = a;
    *last = (!has_b || b >= size) ? size - 1 : b;
    return HTTP_RANGE_OK;
}

/* ---- target to path ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int http_target_to_path(const char *target, char *out, size_t outlen)
{
    const char *path = target;
    size_t o = 0;

    if (outlen == 0)
        return -2;
    out[0] = '\0';
    /* absolute-form: scheme "://" authority path */
    if (lower((unsigned char)target[0]) == 'h') {
        size_t s = 0;
        if (eq_ci(target, 7, "http://"))
            s = 7;
        else if (eq_ci(target, 8, "https://"))
            s = 8;
        else
            return -1;
        path = target + s;
        while (*path != '\0' && *path != '/' && *path != '?' && *path != '#')
            path++;
        if (*path != '/') {
            return 0; /* empty path: the root */
        }
    }
    if (path[0] != '/')
        return -1;

    /* Walk segments; decode each into out, then judge it. */
    while (*path != '\0' && *path != '?' && *path != '#') {
        size_t seg_start;
        while (*path == '/')
            path++;
        if (*path == '\0' || *path == '?' || *path == '#')
            break;
        seg_start = o;
        if (o > 0) {
            if (o + 1 >= outlen)
                return -2;
            out[o++] = '/';
            seg_start = o;
        }
        while (*path != '\0' && *path != '/' && *path != '?' && *path != '#') {
            int c = (unsigned char)*path;
            if (c == '%') {
                int h = hexval((unsigned char)path[1]), lo;
                if (h < 0)
                    return -1;
                lo = hexval((unsigned char)path[2]);
                if (lo < 0)
                    return -1;
                c = h * 16 + lo;
                if (c == 0)
                    return -1;
                path += 3;
            } else {
                path++;
            }
            if (c == '/') /* an encoded '/' is still a separator: judge it too */
                return -1;
            if (o + 1 >= outlen)
                return -2;
            out[o++] = (char)c;
        }
        /* judge the decoded segment out[seg_start, o) */
        if (o - seg_start == 1 && out[seg_start] == '.') {
            o = seg_start > 0 ? seg_start - 1 : 0; /* drop "." and its '/' */
        } else if (o - seg_start == 2 && out[seg_start] == '.' && out[seg_start + 1] == '.') {
            return -1;
        }
    }
    out[o] = '\0';
    return 0;
}
