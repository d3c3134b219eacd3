/* The assertion of the unit tests: counts, reports the failing expression
 * with its place, never aborts (a test prints "N passed, M failed" and
 * exits 1 if any failed). Include once per test program. */
#ifndef SL_TEST_CHECK_H
#define SL_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;
#define CHECK(c)                                                                 \
    do {                                                                         \
        if (c) {                                                                 \
            passed++;                                                            \
        } else {                                                                 \
            failed++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
        }                                                                        \
    } while (0)

#endif
