/* Store URIs: credentials in redis:// URIs are parsed (percent-decoded)
 * and never shown (sl_store_uri_redact); rediss:// says what to do. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "store/store.h"

#define ST_CHECK(c) CHECK(c)
#define ST_EQ(a, b) CHECK((long long)(a) == (long long)(b))

static void test_redact(void)
{
    char b[256];
    ST_CHECK(!strcmp(sl_store_uri_redact("redis://u:secret@h:6379", b, sizeof(b)),
                     "redis://u:***@h:6379"));
    ST_CHECK(!strcmp(sl_store_uri_redact("redis://:secret@h:6379?wait=1", b, sizeof(b)),
                     "redis://:***@h:6379?wait=1"));
    ST_CHECK(!strcmp(sl_store_uri_redact("redis://:p@ss@h:1", b, sizeof(b)),
                     "redis://:***@h:1"));
    ST_CHECK(!strcmp(sl_store_uri_redact("fault:nth=3/redis://a:b@h:1", b, sizeof(b)),
                     "fault:nth=3/redis://a:***@h:1"));
    ST_CHECK(!strcmp(sl_store_uri_redact("redis://h:6379", b, sizeof(b)), "redis://h:6379"));
    ST_CHECK(!strcmp(sl_store_uri_redact("shm:x?slots=8", b, sizeof(b)), "shm:x?slots=8"));
    /* too small a buffer: never a truncated password */
    char s[12];
    const char *r = sl_store_uri_redact("redis://u:secretsecret@h:1", s, sizeof(s));
    ST_CHECK(strstr(r, "secret") == NULL);
}

static void test_pct_decode(void)
{
    char o[16];
    ST_EQ(sl_store_pct_decode("a%40b%3a", 8, o, sizeof(o)), 4);
    ST_CHECK(!strcmp(o, "a@b:"));
    ST_EQ(sl_store_pct_decode("a%4", 3, o, sizeof(o)), -EINVAL);
    ST_EQ(sl_store_pct_decode("a%zz", 4, o, sizeof(o)), -EINVAL);
    ST_EQ(sl_store_pct_decode("%00", 3, o, sizeof(o)), -EINVAL);
    ST_EQ(sl_store_pct_decode("0123456789abcdefg", 17, o, sizeof(o)), -EINVAL);
}

static void test_redis_uris(void)
{
    struct sl_store *s = NULL;
    /* parse errors come before any connection attempt */
    ST_EQ(sl_store_open("redis://user@127.0.0.1:1", &s), -EINVAL); /* user, no password */
    ST_EQ(sl_store_open("redis://user:@127.0.0.1:1", &s), -EINVAL);
    ST_EQ(sl_store_open("redis://:p%4@127.0.0.1:1", &s), -EINVAL);
    ST_EQ(sl_store_open("redis://:pw@127.0.0.1", &s), -EINVAL);
    ST_EQ(sl_store_open("rediss://:pw@127.0.0.1:6379", &s), -EPROTONOSUPPORT);
    /* well-formed, nothing listening on port 1: opens (the store may come later) */
    ST_EQ(sl_store_open("redis://user:p%40ss@127.0.0.1:1?timeout_ms=200", &s), 0);
    if (s) {
        uint64_t e;
        ST_EQ(sl_store_epoch_get(s, "sl:{x}:rec", &e), -ECONNREFUSED);
        sl_store_close(s);
    }
}

int main(void)
{
    test_redact();
    test_pct_decode();
    test_redis_uris();
    printf("test_store_uri: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
