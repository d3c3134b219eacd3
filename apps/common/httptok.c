/* HTTP header tokenizer. See httptok.h. */
#include "httptok.h"

#include <string.h>

int http_is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int http_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int tok_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

int http_eq_ci(const char *s, size_t n, const char *lit)
{
    for (size_t i = 0; i < n; i++)
        if (lit[i] == '\0' || tok_lower((unsigned char)s[i]) != lit[i])
            return 0;
    return lit[n] == '\0';
}

enum http_field_err http_field_split(const char *l, size_t n, struct http_field *f)
{
    size_t i = 0, vs, ve;
    if (n > 0 && http_is_ows(l[0]))
        return HTTP_FIELD_FOLDED;
    while (i < n && http_is_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i >= n || l[i] != ':')
        return HTTP_FIELD_BAD_NAME;
    f->name = l;
    f->name_len = i++;
    while (i < n && http_is_ows(l[i]))
        i++;
    vs = i;
    ve = n;
    while (ve > vs && http_is_ows(l[ve - 1]))
        ve--;
    for (i = vs; i < ve; i++) {
        unsigned char c = (unsigned char)l[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return HTTP_FIELD_CTL;
    }
    f->value = l + vs;
    f->value_len = ve - vs;
    return HTTP_FIELD_OK;
}

int http_list_has(const char *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i < n) {
        size_t s, e;
        while (i < n && (http_is_ows(v[i]) || v[i] == ','))
            i++;
        s = i;
        while (i < n && v[i] != ',')
            i++;
        e = i;
        while (e > s && http_is_ows(v[e - 1]))
            e--;
        if (e > s && http_eq_ci(v + s, e - s, tok))
            return 1;
    }
    return 0;
}
