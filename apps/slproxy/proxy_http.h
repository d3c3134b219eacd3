/* slproxy: the HTTP pieces that decide what can be recovered (pure: no
 * I/O, no sltcp), unit-tested in tests/unit/test_proxy_http.c.
 *
 * - request and response heads (HTTP/1.x, RFC 9112), parsed in place;
 * - the validator a recovery may use in If-Range (RFC 9110 13.1.5: a
 *   strong entity tag, else a strong Last-Modified date);
 * - the ranged request a recovery sends and the check of its answer;
 * - the object name recorded with every body byte sent by reference
 *   (validator, host, target), and the per-connection checkpoint.
 */
#ifndef SLPROXY_PROXY_HTTP_H
#define SLPROXY_PROXY_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define PX_MAX_HEAD 16384  /* request or response head, bytes */
#define PX_MAX_HDRS 100
#define PX_OBJ_MAX 112     /* object name incl. NUL (the library's limit) */
#define PX_VALID_MAX 96    /* validator incl. NUL */
#define PX_NO_END UINT64_MAX

struct px_hdr {
    const char *name, *val;
    size_t nlen, vlen;
};

enum px_method { PX_OTHER = 0, PX_GET, PX_HEAD, PX_POST, PX_PUT };

struct px_req {
    enum px_method method;
    const char *method_str, *target;
    size_t method_len, target_len;
    int minor;          /* HTTP/1.minor */
    const char *host;   /* NULL if absent */
    size_t host_len;
    int has_cl;
    uint64_t cl;
    int chunked;        /* Transfer-Encoding present (not relayed: 501) */
    int keep_alive;     /* 1.1 unless "close"; 1.0 only with "keep-alive" */
    int expect_100;
    int has_range;      /* the client asked for a range itself */
    size_t head_len;    /* request line + headers + empty line */
    unsigned nh;
    struct px_hdr h[PX_MAX_HDRS];
};

struct px_resp {
    int status, minor;
    int has_cl;
    uint64_t cl;
    int chunked;
    int conn_close;
    const char *etag, *last_mod, *date; /* NULL if absent */
    size_t etag_len, last_mod_len, date_len;
    int has_crange;     /* Content-Range: bytes FIRST-LAST/TOTAL */
    uint64_t cr_first, cr_last, cr_total; /* total PX_NO_END for '*' */
    size_t head_len;
    unsigned nh;
    struct px_hdr h[PX_MAX_HDRS];
};

/* Parse a head in buf[0..len): > 0 its length when complete, 0 when more
 * bytes are needed, or -STATUS (400, 431, 501, 505) for a bad one. */
int px_parse_request(const char *buf, size_t len, struct px_req *r);
int px_parse_response(const char *buf, size_t len, struct px_resp *r);

/* 1 if the response to a request with `method` carries no body. */
int px_resp_bodyless(enum px_method method, int status);

/* Parses an IMF-fixdate (RFC 9110 5.6.7): seconds since the epoch or -1. */
int64_t px_http_date(const char *s, size_t len);

/* The validator a recovery may send in If-Range, written to out as a
 * C string: a strong ETag (RFC 9110 13.1.5 MUST NOT send a weak one), else
 * Last-Modified if it is strong (Date at least one second later, 8.8.2.2).
 * Returns 1, or 0 if the response has none (its body cannot be recovered). */
int px_pick_validator(const struct px_resp *r, char *out, size_t outlen);

/* The request a recovery sends for bytes [first, last] (last PX_NO_END:
 * to the end) of `target` on `host`, conditional on `validator`.
 * Returns its length, or -1 if it does not fit. */
int px_build_range_req(char *out, size_t cap, const char *host, const char *target,
                       uint64_t first, uint64_t last, const char *validator);

/* Checks the answer to px_build_range_req: 1 if it is a 206 for exactly
 * [first, ...] of the same representation (Content-Range starts at first,
 * same total if known, no other validator), 0 if the object changed (200,
 * or another ETag), -1 for any other answer (an error: try elsewhere). */
int px_check_range_resp(const struct px_resp *r, uint64_t first, uint64_t total,
                        const char *validator);

/* The request forwarded to a back end: request line and headers minus the
 * hop-by-hop ones (RFC 9110 7.6.1), plus X-Forwarded-For and Connection:
 * keep-alive (keep: the connection goes back to the pool) or close.
 * Returns the length or -1 if it does not fit. */
int px_build_backend_req(char *out, size_t cap, const struct px_req *r, const char *client_ip,
                         int keep);

/* The response head relayed to the client: status line and headers minus
 * hop-by-hop ones, plus Connection: keep-alive|close. Length or -1. */
int px_build_client_head(char *out, size_t cap, const char *head, const struct px_resp *r,
                         int keep_alive, int client_minor);

/* Object name = validator "\n" host "\n" target (fits PX_OBJ_MAX or -1). */
int px_obj_name(char *out, size_t cap, const char *validator, const char *host, size_t host_len,
                const char *target, size_t target_len);
/* Splits a name into its three parts (copies, NUL-terminated): 0 or -1. */
int px_obj_split(const char *name, char *validator, size_t vcap, char *host, size_t hcap,
                 char *target, size_t tcap);

/* Per-connection checkpoint (saved with sl_conn_checkpoint). Positions
 * are absolute, so the blob stays true whatever is written after it: the
 * next body byte is base_off + (write offset - base_pos). */
enum px_phase {
    PX_IDLE = 0,     /* between requests (uncommitted requests come back) */
    PX_BODY_REF = 1, /* relaying a body recorded by reference: resumable */
    PX_BODY_VAL = 2, /* relaying a body by value: not resumable */
    PX_UNSAFE = 3,   /* a POST/PUT was (maybe) sent: never again */
};
struct px_ckpt {
    uint8_t phase;
    uint8_t keep_alive;
    uint8_t head_sent;   /* PX_UNSAFE: the response head reached the client */
    uint64_t base_pos;   /* stream offset (sl_conn_write_off) of object offset base_off */
    uint64_t base_off;
    uint64_t end;        /* object offset one past the last body byte */
    uint64_t total;      /* representation length (PX_NO_END if unknown) */
    char obj[PX_OBJ_MAX];
};
#define PX_CKPT_MAX (1 + 1 + 1 + 8 + 8 + 8 + 8 + 1 + PX_OBJ_MAX)
size_t px_ckpt_encode(const struct px_ckpt *k, uint8_t *out);
int px_ckpt_decode(const uint8_t *in, size_t len, struct px_ckpt *k);

#endif
