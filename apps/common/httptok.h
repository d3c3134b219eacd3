/* HTTP/1.x header tokenizer shared by slhttpd (requests) and slclient
 * (responses): field lines (RFC 9112 5, RFC 9110 5.1/5.5) and comma-
 * separated token lists (RFC 9110 5.6.1). Pure: no allocation, no I/O. */
#ifndef SL_HTTPTOK_H
#define SL_HTTPTOK_H

#include <stddef.h>

struct http_field {
    const char *name, *value; /* inside the line given */
    size_t name_len, value_len; /* the value without surrounding OWS */
};

enum http_field_err {
    HTTP_FIELD_OK = 0,
    HTTP_FIELD_FOLDED = -1,  /* starts with whitespace: obs-fold (RFC 9112 5.2) */
    HTTP_FIELD_BAD_NAME = -2, /* empty name, not a token, or no ':' right after it */
    HTTP_FIELD_CTL = -3,     /* control character in the value */
};

/* Splits one field line [line, line+n) (its CRLF or LF already removed). */
enum http_field_err http_field_split(const char *line, size_t n, struct http_field *f);
/* 1 if the comma-separated list [v, v+n) holds `tok` (lowercase literal),
 * compared case-insensitively. */
int http_list_has(const char *v, size_t n, const char *tok);
/* 1 if [s, s+n) equals the lowercase literal `lit`, case-insensitively. */
int http_eq_ci(const char *s, size_t n, const char *lit);
/* tchar (RFC 9110 5.6.2) and OWS (5.6.3). */
int http_is_tchar(unsigned char c);
int http_is_ows(char c);

#endif
