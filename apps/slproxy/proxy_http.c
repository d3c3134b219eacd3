/* slproxy: HTTP heads, validators, ranged recovery requests, object names
 * and the checkpoint codec (see proxy_http.h). */
#include "proxy_http.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t n = strlen(b);
    return alen == n && strncasecmp(a, b, n) == 0;
}

/* Token `tok` in a comma-separated list value (case-insensitive). */
static int has_token(const char *v, size_t vlen, const char *tok)
{
    size_t i = 0;
    while (i < vlen) {
        while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < vlen && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (ieq(v + s, e - s, tok))
            return 1;
    }
    return 0;
}

/* Decimal, no sign, at most 19 digits: 0 or -1. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 19)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Finds the end of the head: the index after the empty line, 0 if not
 * there yet. Lines end with CRLF (RFC 9112 2.2; a bare LF is accepted). */
static size_t head_end(const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (b[i] != '\n')
            continue;
        if (i + 1 < len && b[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && b[i + 1] == '\r' && b[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Splits header lines [p, end) into h[]. 0 or -400/-431. */
static int parse_fields(const char *p, const char *end, struct px_hdr *h, unsigned *nh)
{
    *nh = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return -400;
        const char *le = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        if (le == p)
            break; /* the empty line */
        if (*p == ' ' || *p == '\t')
            return -400; /* obs-fold: RFC 9112 5.2 lets us reject it */
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (!colon || colon == p)
            return -400;
        for (const char *q = p; q < colon; q++)
            if (*q <= ' ' || *q >= 127)
                return -400; /* no whitespace before the colon (5.1) */
        const char *v = colon + 1, *ve = le;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *q = v; q < ve; q++)
            if (*q == '\r' || *q == 0)
                return -400;
        if (*nh == PX_MAX_HDRS)
            return -431;
        h[*nh] = (struct px_hdr){p, v, (size_t)(colon - p), (size_t)(ve - v)};
        (*nh)++;
        p = eol + 1;
    }
    return 0;
}

int px_parse_request(const char *buf, size_t len, struct px_req *r)
{
    memset(r, 0, sizeof(*r));
    size_t off = 0;
    while (off < len && (buf[off] == '\r' || buf[off] == '\n'))
        off++; /* empty lines before a request line (RFC 9112 2.2) */
    size_t he = head_end(buf + off, len - off);
    if (!he)
        return len >= PX_MAX_HEAD ? -431 : 0;
    if (off + he > PX_MAX_HEAD)
        return -431;
    const char *p = buf + off, *end = buf + off + he;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *le = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
    const char *sp1 = memchr(p, ' ', (size_t)(le - p));
    if (!sp1 || sp1 == p)
        return -400;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(le - sp1 - 1));
    if (!sp2 || sp2 == sp1 + 1 || le - sp2 - 1 != 8)
        return -400;
    if (memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)sp2[8]))
        return memcmp(sp2 + 1, "HTTP/", 5) == 0 ? -505 : -400;
    r->method_str = p;
    r->method_len = (size_t)(sp1 - p);
    r->target = sp1 + 1;
    r->target_len = (size_t)(sp2 - sp1 - 1);
    r->minor = sp2[8] - '0';
    if (r->target[0] != '/')
        return -400; /* origin-form only: we are a reverse proxy */
    for (size_t i = 0; i < r->target_len; i++)
        if ((unsigned char)r->target[i] <= ' ')
            return -400;
    if (ieq(p, r->method_len, "GET"))
        r->method = PX_GET;
    else if (ieq(p, r->method_len, "HEAD"))
        r->method = PX_HEAD;
    else if (ieq(p, r->method_len, "POST"))
        r->method = PX_POST;
    else if (ieq(p, r->method_len, "PUT"))
        r->method = PX_PUT;
    int rc = parse_fields(eol + 1, end, r->h, &r->nh);
    if (rc < 0)
        return rc;
    int close = 0, keep = 0, hosts = 0;
    for (unsigned i = 0; i < r->nh; i++) {
        const struct px_hdr *h = &r->h[i];
        if (ieq(h->name, h->nlen, "host")) {
            r->host = h->val;
            r->host_len = h->vlen;
            hosts++;
        } else if (ieq(h->name, h->nlen, "content-length")) {
            uint64_t v;
            if (parse_u64(h->val, h->vlen, &v) < 0 || (r->has_cl && v != r->cl))
                return -400; /* RFC 9112 6.3 */
            r->has_cl = 1;
            r->cl = v;
        } else if (ieq(h->name, h->nlen, "transfer-encoding")) {
            r->chunked = 1;
        } else if (ieq(h->name, h->nlen, "connection")) {
            close |= has_token(h->val, h->vlen, "close");
            keep |= has_token(h->val, h->vlen, "keep-alive");
        } else if (ieq(h->name, h->nlen, "expect")) {
            r->expect_100 = has_token(h->val, h->vlen, "100-continue");
        } else if (ieq(h->name, h->nlen, "range")) {
            r->has_range = 1;
        }
    }
    if (hosts > 1 || (hosts == 0 && r->minor >= 1))
        return -400; /* RFC 9112 3.2 */
    if (r->chunked)
        return -501; /* request bodies are relayed with a Content-Length only */
    r->keep_alive = r->minor >= 1 ? !close : keep && !close;
    r->head_len = off + he;
    return (int)r->head_len;
}

int px_parse_response(const char *buf, size_t len, struct px_resp *r)
{
    memset(r, 0, sizeof(*r));
    size_t he = head_end(buf, len);
    if (!he)
        return len >= PX_MAX_HEAD ? -431 : 0;
    if (he > PX_MAX_HEAD)
        return -431;
    const char *end = buf + he;
    const char *eol = memchr(buf, '\n', he);
    const char *le = eol > buf && eol[-1] == '\r' ? eol - 1 : eol;
    /* HTTP/1.x SP 3DIGIT [SP reason] (RFC 9112 4) */
    if (le - buf < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)buf[7]) ||
        buf[8] != ' ' || !isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
        !isdigit((unsigned char)buf[11]) || (le - buf > 12 && buf[12] != ' '))
        return -400;
    r->minor = buf[7] - '0';
    r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (r->status < 100)
        return -400;
    int rc = parse_fields(eol + 1, end, r->h, &r->nh);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < r->nh; i++) {
        const struct px_hdr *h = &r->h[i];
        if (ieq(h->name, h->nlen, "content-length")) {
            uint64_t v;
            if (parse_u64(h->val, h->vlen, &v) < 0 || (r->has_cl && v != r->cl))
                return -400;
            r->has_cl = 1;
            r->cl = v;
        } else if (ieq(h->name, h->nlen, "transfer-encoding")) {
            r->chunked = 1;
        } else if (ieq(h->name, h->nlen, "connection")) {
            r->conn_close |= has_token(h->val, h->vlen, "close");
        } else if (ieq(h->name, h->nlen, "etag")) {
            r->etag = h->val;
            r->etag_len = h->vlen;
        } else if (ieq(h->name, h->nlen, "last-modified")) {
            r->last_mod = h->val;
            r->last_mod_len = h->vlen;
        } else if (ieq(h->name, h->nlen, "date")) {
            r->date = h->val;
            r->date_len = h->vlen;
        } else if (ieq(h->name, h->nlen, "content-range")) {
            /* bytes FIRST-LAST/TOTAL|* (RFC 9110 14.4) */
            const char *v = h->val, *ve = h->val + h->vlen;
            if (h->vlen < 6 || strncasecmp(v, "bytes ", 6) != 0)
                return -400;
            v += 6;
            const char *dash = memchr(v, '-', (size_t)(ve - v));
            const char *slash = dash ? memchr(dash, '/', (size_t)(ve - dash)) : NULL;
            if (!dash || !slash || parse_u64(v, (size_t)(dash - v), &r->cr_first) < 0 ||
                parse_u64(dash + 1, (size_t)(slash - dash - 1), &r->cr_last) < 0 ||
                r->cr_last < r->cr_first)
                return -400;
            if (ve - slash == 2 && slash[1] == '*')
                r->cr_total = PX_NO_END;
            else if (parse_u64(slash + 1, (size_t)(ve - slash - 1), &r->cr_total) < 0 ||
                     r->cr_last >= r->cr_total)
                return -400;
            r->has_crange = 1;
        }
    }
    if (r->chunked)
        r->has_cl = 0; /* Transfer-Encoding overrides Content-Length (RFC 9112 6.3) */
    r->head_len = he;
    return (int)he;
}

int px_resp_bodyless(enum px_method method, int status)
{
    return method == PX_HEAD || (status >= 100 && status < 200) || status == 204 ||
           status == 304;
}

int64_t px_http_date(const char *s, size_t len)
{
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes) */
    char tmp[32];
    struct tm tm;
    if (len != 29)
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    memset(&tm, 0, sizeof(tm));
    const char *e = strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!e || *e)
        return -1;
    return (int64_t)timegm(&tm);
}

int px_pick_validator(const struct px_resp *r, char *out, size_t outlen)
{
    /* a strong entity tag: DQUOTE *etagc DQUOTE, no W/ (RFC 9110 8.8.3) */
    if (r->etag && r->etag_len >= 2 && r->etag[0] == '"' && r->etag[r->etag_len - 1] == '"' &&
        r->etag_len < outlen) {
        for (size_t i = 1; i + 1 < r->etag_len; i++)
            if (r->etag[i] == '"' || (unsigned char)r->etag[i] < 0x21)
                return 0;
        memcpy(out, r->etag, r->etag_len);
        out[r->etag_len] = 0;
        return 1;
    }
    if (r->etag)
        return 0; /* weak or malformed: and a date must not stand in for it */
    if (r->last_mod && r->date && r->last_mod_len < outlen) {
        int64_t lm = px_http_date(r->last_mod, r->last_mod_len);
        int64_t d = px_http_date(r->date, r->date_len);
        if (lm >= 0 && d >= 0 && d - lm >= 1) { /* strong: 8.8.2.2 */
            memcpy(out, r->last_mod, r->last_mod_len);
            out[r->last_mod_len] = 0;
            return 1;
        }
    }
    return 0;
}

int px_build_range_req(char *out, size_t cap, const char *host, const char *target,
                       uint64_t first, uint64_t last, const char *validator)
{
    char range[48];
    if (last == PX_NO_END)
        snprintf(range, sizeof(range), "%llu-", (unsigned long long)first);
    else
        snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)first,
                 (unsigned long long)last);
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%s\r\nIf-Range: %s\r\n"
                     "Connection: close\r\n\r\n",
                     target, host, range, validator);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int px_check_range_resp(const struct px_resp *r, uint64_t first, uint64_t total,
                        const char *validator)
{
    if (r->status == 200)
        return 0; /* If-Range did not match: the representation changed */
    if (r->status != 206 || !r->has_crange || r->cr_first != first || r->chunked)
        return -1;
    if (total != PX_NO_END && r->cr_total != PX_NO_END && r->cr_total != total)
        return 0; /* another length: another representation */
    if (r->has_cl && r->cl != r->cr_last - r->cr_first + 1)
        return -1;
    if (validator[0] == '"' && r->etag &&
        (strlen(validator) != r->etag_len || memcmp(validator, r->etag, r->etag_len) != 0))
        return 0;
    return 1;
}

/* Hop-by-hop fields (RFC 9110 7.6.1), never forwarded either way. */
static int hop_by_hop(const struct px_hdr *h)
{
    static const char *const names[] = {"connection", "keep-alive", "proxy-connection", "te",
                                        "trailer", "upgrade", "proxy-authorization",
                                        "proxy-authenticate", "expect"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (ieq(h->name, h->nlen, names[i]))
            return 1;
    return 0;
}

/* Appends into out[*n..cap): 0 or -1 if it does not fit. */
static int put(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
    if (cap - *n < len + 1)
        return -1;
    memcpy(out + *n, s, len);
    *n += len;
    out[*n] = 0;
    return 0;
}

static int put_fields(char *out, size_t cap, size_t *n, const struct px_hdr *h, unsigned nh)
{
    for (unsigned i = 0; i < nh; i++) {
        if (hop_by_hop(&h[i]))
            continue;
        if (put(out, cap, n, h[i].name, h[i].nlen) < 0 || put(out, cap, n, ": ", 2) < 0 ||
            put(out, cap, n, h[i].val, h[i].vlen) < 0 || put(out, cap, n, "\r\n", 2) < 0)
            return -1;
    }
    return 0;
}

int px_build_backend_req(char *out, size_t cap, const struct px_req *r, const char *client_ip,
                         int keep)
{
    size_t n = 0;
    char tail[96];
    if (put(out, cap, &n, r->method_str, r->method_len) < 0 || put(out, cap, &n, " ", 1) < 0 ||
        put(out, cap, &n, r->target, r->target_len) < 0)
        return -1;
    snprintf(tail, sizeof(tail), " HTTP/1.%d\r\n", r->minor ? 1 : 0);
    if (put(out, cap, &n, tail, strlen(tail)) < 0 || put_fields(out, cap, &n, r->h, r->nh) < 0)
        return -1;
    snprintf(tail, sizeof(tail), "X-Forwarded-For: %s\r\nConnection: %s\r\n\r\n", client_ip,
             keep ? "keep-alive" : "close");
    if (put(out, cap, &n, tail, strlen(tail)) < 0)
        return -1;
    return (int)n;
}

int px_build_client_head(char *out, size_t cap, const char *head, const struct px_resp *r,
                         int keep_alive, int client_minor)
{
    size_t n = 0;
    const char *eol = memchr(head, '\n', r->head_len);
    const char *le = eol > head && eol[-1] == '\r' ? eol - 1 : eol;
    /* our own version in the status line (RFC 9110 6.2), the server's code */
    char ver[16];
    snprintf(ver, sizeof(ver), "HTTP/1.%d", client_minor ? 1 : 0);
    if (put(out, cap, &n, ver, strlen(ver)) < 0 ||
        put(out, cap, &n, head + 8, (size_t)(le - head - 8)) < 0 ||
        put(out, cap, &n, "\r\n", 2) < 0 || put_fields(out, cap, &n, r->h, r->nh) < 0)
        return -1;
    const char *c = keep_alive ? (client_minor ? "" : "Connection: keep-alive\r\n")
                               : "Connection: close\r\n";
    if (put(out, cap, &n, c, strlen(c)) < 0 || put(out, cap, &n, "\r\n", 2) < 0)
        return -1;
    return (int)n;
}

int px_obj_name(char *out, size_t cap, const char *validator, const char *host, size_t host_len,
                const char *target, size_t target_len)
{
    size_t vl = strlen(validator);
    if (cap > PX_OBJ_MAX)
        cap = PX_OBJ_MAX;
    if (vl + 1 + host_len + 1 + target_len + 1 > cap || memchr(validator, '\n', vl) ||
        memchr(host, '\n', host_len) || memchr(target, '\n', target_len) ||
        memchr(host, 0, host_len) || memchr(target, 0, target_len))
        return -1;
    memcpy(out, validator, vl);
    out[vl] = '\n';
    memcpy(out + vl + 1, host, host_len);
    out[vl + 1 + host_len] = '\n';
    memcpy(out + vl + 2 + host_len, target, target_len);
    out[vl + 2 + host_len + target_len] = 0;
    return (int)(vl + 2 + host_len + target_len);
}

static int copy_part(const char *s, size_t len, char *out, size_t cap)
{
    if (len >= cap)
        return -1;
    memcpy(out, s, len);
    out[len] = 0;
    return 0;
}

int px_obj_split(const char *name, char *validator, size_t vcap, char *host, size_t hcap,
                 char *target, size_t tcap)
{
    const char *a = strchr(name, '\n');
    const char *b = a ? strchr(a + 1, '\n') : NULL;
    if (!a || !b || a == name || b[1] != '/' || strchr(b + 1, '\n'))
        return -1;
    if (copy_part(name, (size_t)(a - name), validator, vcap) < 0 ||
        copy_part(a + 1, (size_t)(b - a - 1), host, hcap) < 0 ||
        copy_part(b + 1, strlen(b + 1), target, tcap) < 0)
        return -1;
    return 0;
}

#define CKPT_VERSION 2

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

size_t px_ckpt_encode(const struct px_ckpt *k, uint8_t *out)
{
    size_t ol = strnlen(k->obj, PX_OBJ_MAX - 1);
    out[0] = CKPT_VERSION;
    out[1] = k->phase;
    out[2] = (uint8_t)((k->keep_alive ? 1 : 0) | (k->head_sent ? 2 : 0));
    put64(out + 3, k->base_pos);
    put64(out + 11, k->base_off);
    put64(out + 19, k->end);
    put64(out + 27, k->total);
    out[35] = (uint8_t)ol;
    memcpy(out + 36, k->obj, ol);
    return 36 + ol;
}

int px_ckpt_decode(const uint8_t *in, size_t len, struct px_ckpt *k)
{
    memset(k, 0, sizeof(*k));
    if (len < 36 || in[0] != CKPT_VERSION || in[1] > PX_UNSAFE || in[35] >= PX_OBJ_MAX ||
        len != 36u + in[35] || (in[2] & ~3u))
        return -1;
    k->phase = in[1];
    k->keep_alive = in[2] & 1;
    k->head_sent = (in[2] >> 1) & 1;
    k->base_pos = get64(in + 3);
    k->base_off = get64(in + 11);
    k->end = get64(in + 19);
    k->total = get64(in + 27);
    memcpy(k->obj, in + 36, in[35]);
    k->obj[in[35]] = 0;
    if (memchr(k->obj, 0, in[35]) || k->base_off > k->end)
        return -1;
    return 0;
}
