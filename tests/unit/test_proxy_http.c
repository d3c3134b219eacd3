/* slproxy's recovery decisions (apps/slproxy/proxy_http.c): which
 * validator may go in If-Range, the ranged request, the check of its
 * answer (206 spliced, 200 = changed, anything else = error), request and
 * response heads, object names and the checkpoint codec. */
#include "check.h"
#include "proxy_http.h"

#include <string.h>

static int resp(const char *s, struct px_resp *r) { return px_parse_response(s, strlen(s), r); }

static void test_validator(void)
{
    struct px_resp r;
    char v[PX_VALID_MAX];
    /* a strong ETag wins */
    CHECK(resp("HTTP/1.1 200 OK\r\nETag: \"5f3a-100\"\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 "
               "GMT\r\nDate: Sun, 06 Nov 1994 09:00:00 GMT\r\nContent-Length: 256\r\n\r\n",
               &r) > 0);
    CHECK(px_pick_validator(&r, v, sizeof(v)) == 1 && strcmp(v, "\"5f3a-100\"") == 0);
    /* a weak one must not be used (RFC 9110 13.1.5), nor a date instead */
    CHECK(resp("HTTP/1.1 200 OK\r\nETag: W/\"x\"\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 "
               "GMT\r\nDate: Sun, 06 Nov 1994 09:00:00 GMT\r\n\r\n",
               &r) > 0);
    CHECK(px_pick_validator(&r, v, sizeof(v)) == 0);
    /* Last-Modified alone: strong only if Date is at least 1 s later (8.8.2.2) */
    CHECK(resp("HTTP/1.1 200 OK\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
               "Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n\r\n",
               &r) > 0);
    CHECK(px_pick_validator(&r, v, sizeof(v)) == 1 &&
          strcmp(v, "Sun, 06 Nov 1994 08:49:37 GMT") == 0);
    CHECK(resp("HTTP/1.1 200 OK\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
               "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
               &r) > 0);
    CHECK(px_pick_validator(&r, v, sizeof(v)) == 0);
    CHECK(resp("HTTP/1.1 200 OK\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n", &r) > 0);
    CHECK(px_pick_validator(&r, v, sizeof(v)) == 0); /* no Date: not provably strong */
    CHECK(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", &r) > 0);
    CHECK(px_pick_validator(&r, v, sizeof(v)) == 0);
    CHECK(px_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29) == 784111777);
    CHECK(px_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 30) == -1);
}

static void test_range(void)
{
    char q[512];
    struct px_resp r;
    int n = px_build_range_req(q, sizeof(q), "h", "/f", 1000, PX_NO_END, "\"e\"");
    CHECK(n > 0 && strstr(q, "GET /f HTTP/1.1\r\n") == q && strstr(q, "Range: bytes=1000-\r\n") &&
          strstr(q, "If-Range: \"e\"\r\n") && strstr(q, "Host: h\r\n"));
    n = px_build_range_req(q, sizeof(q), "h", "/f", 5000000000ull, 5999999999ull, "\"e\"");
    CHECK(n > 0 && strstr(q, "Range: bytes=5000000000-5999999999\r\n")); /* 64-bit offsets */
    CHECK(px_build_range_req(q, 20, "h", "/f", 0, PX_NO_END, "\"e\"") == -1);
    /* the 206 for exactly the byte asked: spliced */
    CHECK(resp("HTTP/1.1 206 Partial Content\r\nETag: \"e\"\r\nContent-Range: bytes "
               "1000-1999/2000\r\nContent-Length: 1000\r\n\r\n",
               &r) > 0);
    CHECK(px_check_range_resp(&r, 1000, 2000, "\"e\"") == 1);
    CHECK(px_check_range_resp(&r, 1000, PX_NO_END, "\"e\"") == 1);
    CHECK(px_check_range_resp(&r, 999, 2000, "\"e\"") == -1);  /* another offset */
    CHECK(px_check_range_resp(&r, 1000, 3000, "\"e\"") == 0);  /* another length */
    CHECK(px_check_range_resp(&r, 1000, 2000, "\"f\"") == 0);  /* another ETag */
    /* If-Range did not match: the whole new object: changed */
    CHECK(resp("HTTP/1.1 200 OK\r\nETag: \"f\"\r\nContent-Length: 2000\r\n\r\n", &r) > 0);
    CHECK(px_check_range_resp(&r, 1000, 2000, "\"e\"") == 0);
    /* errors: try elsewhere */
    CHECK(resp("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\n\r\n", &r) > 0);
    CHECK(px_check_range_resp(&r, 1000, 2000, "\"e\"") == -1);
    CHECK(resp("HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\n\r\n", &r) > 0);
    CHECK(px_check_range_resp(&r, 1000, 2000, "\"e\"") == -1); /* no Content-Range */
    CHECK(resp("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 1000-1999/*\r\n"
               "Content-Length: 5\r\n\r\n",
               &r) > 0);
    CHECK(px_check_range_resp(&r, 1000, 2000, "\"e\"") == -1); /* length disagrees */
    /* malformed Content-Range: a bad response */
    CHECK(resp("HTTP/1.1 206 X\r\nContent-Range: bytes 9-1/20\r\n\r\n", &r) < 0);
    CHECK(resp("HTTP/1.1 206 X\r\nContent-Range: bytes 1-30/20\r\n\r\n", &r) < 0);
    CHECK(resp("HTTP/1.1 206 X\r\nContent-Range: items 1-3/20\r\n\r\n", &r) < 0);
}

static void test_heads(void)
{
    struct px_req q;
    struct px_resp r;
    const char *a = "GET /a?b HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\nGET /next";
    CHECK(px_parse_request(a, strlen(a), &q) == (int)(strlen(a) - 9));
    CHECK(q.method == PX_GET && q.keep_alive && q.target_len == 4 && q.host_len == 1);
    CHECK(px_parse_request(a, 20, &q) == 0); /* incomplete */
    const char *b = "POST /p HTTP/1.0\r\nContent-Length: 5\r\n\r\n";
    CHECK(px_parse_request(b, strlen(b), &q) > 0 && q.method == PX_POST && q.has_cl &&
          q.cl == 5 && !q.keep_alive);
    const char *c = "GET /a HTTP/1.1\r\n\r\n"; /* no Host in 1.1 */
    CHECK(px_parse_request(c, strlen(c), &q) == -400);
    const char *d = "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    CHECK(px_parse_request(d, strlen(d), &q) == -400);
    const char *e = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(px_parse_request(e, strlen(e), &q) == -501);
    const char *f = "GET /a HTTP/2.0\r\nHost: x\r\n\r\n";
    CHECK(px_parse_request(f, strlen(f), &q) == -505);
    const char *g = "GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(px_parse_request(g, strlen(g), &q) == -400);
    /* forwarded request: hop-by-hop fields dropped, ours added */
    const char *h = "GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\n"
                    "Range: bytes=0-9\r\nX-A: 1\r\n\r\n";
    char out[1024];
    CHECK(px_parse_request(h, strlen(h), &q) > 0 && q.has_range);
    CHECK(px_build_backend_req(out, sizeof(out), &q, "198.18.0.1", 1) > 0);
    CHECK(strstr(out, "Connection: keep-alive\r\n\r\n") != NULL);
    CHECK(px_build_backend_req(out, sizeof(out), &q, "198.18.0.1", 0) > 0);
    CHECK(strstr(out, "Keep-Alive") == NULL && strstr(out, "keep-alive") == NULL &&
          strstr(out, "Range: bytes=0-9\r\n") && strstr(out, "X-A: 1\r\n") &&
          strstr(out, "X-Forwarded-For: 198.18.0.1\r\nConnection: close\r\n\r\n"));
    /* relayed response */
    const char *s = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\nETag: \"e\"\r\n\r\n";
    CHECK(resp(s, &r) > 0 && r.has_cl && r.cl == 3 && r.conn_close);
    CHECK(px_build_client_head(out, sizeof(out), s, &r, 1, 1) > 0);
    CHECK(strcmp(out, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nETag: \"e\"\r\n\r\n") == 0);
    CHECK(px_build_client_head(out, sizeof(out), s, &r, 1, 0) > 0 &&
          strstr(out, "HTTP/1.0 200 OK\r\n") == out && strstr(out, "Connection: keep-alive\r\n"));
    CHECK(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n", &r) >
              0 &&
          r.chunked && !r.has_cl);
    CHECK(resp("HTTP/1.1 200 OK\r\n", &r) == 0);
    CHECK(resp("HTTX/1.1 200 OK\r\n\r\n", &r) < 0);
    CHECK(px_resp_bodyless(PX_HEAD, 200) && px_resp_bodyless(PX_GET, 304) &&
          !px_resp_bodyless(PX_GET, 200));
}

static void test_names_ckpt(void)
{
    char n[PX_OBJ_MAX], v[PX_VALID_MAX], h[PX_OBJ_MAX], t[PX_OBJ_MAX];
    CHECK(px_obj_name(n, sizeof(n), "\"e\"", "host", 4, "/a/b", 4) > 0);
    CHECK(px_obj_split(n, v, sizeof(v), h, sizeof(h), t, sizeof(t)) == 0 &&
          strcmp(v, "\"e\"") == 0 && strcmp(h, "host") == 0 && strcmp(t, "/a/b") == 0);
    char longt[200];
    memset(longt, 'a', sizeof(longt));
    longt[0] = '/';
    CHECK(px_obj_name(n, sizeof(n), "\"e\"", "h", 1, longt, sizeof(longt)) == -1);
    CHECK(px_obj_split("no-newlines", v, sizeof(v), h, sizeof(h), t, sizeof(t)) == -1);

    struct px_ckpt k = {.phase = PX_BODY_REF, .keep_alive = 1, .base_pos = 0x1fffffff0ull,
                        .base_off = 5000000000ull, .end = 9000000000ull, .total = 9000000000ull};
    strcpy(k.obj, n);
    uint8_t blob[PX_CKPT_MAX];
    size_t len = px_ckpt_encode(&k, blob);
    struct px_ckpt d;
    CHECK(px_ckpt_decode(blob, len, &d) == 0 && d.phase == PX_BODY_REF && d.keep_alive &&
          d.base_pos == 0x1fffffff0ull && d.base_off == 5000000000ull && d.end == 9000000000ull &&
          strcmp(d.obj, n) == 0);
    CHECK(px_ckpt_decode(blob, len - 1, &d) == -1);
    blob[1] = 9;
    CHECK(px_ckpt_decode(blob, len, &d) == -1);
}

int main(void)
{
    RUN(test_validator);
    RUN(test_range);
    RUN(test_heads);
    RUN(test_names_ckpt);
    return check_finish("test_proxy_http");
}
