/* Test bookkeeping behind check.h. */
#include "check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int check_passed, check_failed;

static const char *g_case;   /* running case */
static int g_case_failed;    /* failures in the running case */
static void (*g_case_end)(void);

const char *check_case(void) { return g_case; }

void check_on_case_end(void (*fn)(void)) { g_case_end = fn; }

static void count(bool ok)
{
    if (g_case) {
        g_case_failed += !ok;
        return;
    }
    ok ? check_passed++ : check_failed++;
}

void check_fail(const char *file, int line, const char *fmt, ...)
{
    fprintf(stderr, "%s:%d: [%s] ", file, line, g_case ? g_case : "-");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    count(false);
}

void check_true(bool ok, const char *file, int line, const char *expr)
{
    if (ok)
        count(true);
    else
        check_fail(file, line, "CHECK failed: %s", expr);
}

void check_eq(uint64_t got, uint64_t want, const char *file, int line, const char *ga,
              const char *wa)
{
    if (got == want)
        count(true);
    else
        check_fail(file, line,
                   "CHECK_EQ failed: %s == %s\n    got  %" PRIu64 " (%" PRId64 ", 0x%" PRIx64
                   ")\n    want %" PRIu64 " (%" PRId64 ", 0x%" PRIx64 ")",
                   ga, wa, got, (int64_t)got, got, want, (int64_t)want, want);
}

void check_eq_str(const char *got, const char *want, const char *file, int line,
                  const char *ga, const char *wa)
{
    if (got && want && strcmp(got, want) == 0)
        count(true);
    else
        check_fail(file, line, "CHECK_STR failed: %s == %s\n    got  \"%s\"\n    want \"%s\"", ga,
                   wa, got ? got : "(null)", want ? want : "(null)");
}

void check_range(double v, double lo, double hi, const char *file, int line, const char *ve)
{
    if (v >= lo && v <= hi)
        count(true);
    else
        check_fail(file, line, "CHECK_RANGE failed: %s = %g not in [%g, %g]", ve, v, lo, hi);
}

bool check_fixed_bug(bool ok, const char *file, int line, const char *what)
{
    if (ok)
        count(true);
    else
        check_fail(file, line, "regression of a fixed bug: %s", what);
    return ok;
}

void check_run(const char *name, void (*fn)(void))
{
    static int once;
    if (!once) { /* keep check messages (stderr) in order with case lines */
        setvbuf(stdout, NULL, _IONBF, 0);
        once = 1;
    }
    const char *only = getenv("CHECK_ONLY");
    if (only && *only && strcmp(only, name) != 0)
        return;
    g_case = name;
    g_case_failed = 0;
    fn();
    if (g_case_end)
        g_case_end();
    if (g_case_failed) {
        check_failed++;
        printf("FAIL %s\n", name);
    } else {
        check_passed++;
        printf("ok   %s\n", name);
    }
    g_case = NULL;
}

int check_finish(const char *binary)
{
    printf("%s:\n%d passed, %d failed\n", binary, check_passed, check_failed);
    fflush(stdout);
    return check_failed ? 1 : 0;
}
