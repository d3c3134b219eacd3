/* The "mem:" store: the conformance suite (tests/lib/store_suite.c) and
 * what is particular to mem: (URI checks, growth). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store_suite.h"

/* ---------------- mem-specific ---------------- */

static void test_mem_open(void)
{
    struct sl_store *s = NULL;
    CHECK_EQ(sl_store_open("mem:", &s), 0);
    CHECK(s && !strcmp(sl_store_name(s), "mem"));
    sl_store_close(s);
    CHECK_EQ(sl_store_open("mem:x", &s), -EINVAL);
    CHECK_EQ(sl_store_open("nope:", &s), -EINVAL);
    CHECK_EQ(sl_store_open("redis://nohost", &s), -EINVAL);
    CHECK_EQ(sl_store_open("redis://h:0", &s), -EINVAL);
    CHECK_EQ(sl_store_open("redis://h:1?bogus=1", &s), -EINVAL);
    CHECK_EQ(sl_store_open("shm:bad/name", &s), -EINVAL);
    CHECK_EQ(sl_store_open("fault:nth=1", &s), -EINVAL);
    CHECK_EQ(sl_store_open("fault:what=1/mem:", &s), -EINVAL);
}

/* Many keys: the table grows; everything stays reachable. */
static void test_mem_grow(void)
{
    struct sl_store *s;
    CHECK_EQ(sl_store_open("mem:", &s), 0);
    char k[64];
    uint64_t nv, v;
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof(k), "g:{%d}:r", i);
        CHECK_EQ(sl_store_put(s, k, &i, sizeof(i), SL_STORE_ANY, SL_STORE_ANY, &nv), 0);
    }
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        int x = -1;
        size_t len;
        snprintf(k, sizeof(k), "g:{%d}:r", i);
        bad += sl_store_get(s, k, &x, sizeof(x), &len, &v) != 0 || x != i;
    }
    CHECK_EQ(bad, 0);
    sl_store_close(s);
}

int main(void)
{
    struct sl_store *s = NULL;
    if (sl_store_open("mem:", &s)) {
        fprintf(stderr, "cannot open mem:\n");
        return 1;
    }
    suite_run(s, NULL);
    sl_store_close(s);
    RUN(test_mem_open);
    RUN(test_mem_grow);
    return check_finish("test_store_mem");
}
