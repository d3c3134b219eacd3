/* The assertions of the unit tests, one header for every test program
 * (implemented in check.c, in the sltest library).
 *
 * A check never aborts: a failure prints "file:line: [case] what" on
 * stderr and is counted. Tests are organised in named cases,
 * CHECK_RUN(fn) / RUN(fn), each printing "ok   name" or "FAIL name".
 * check_finish() prints the summary alone on a line,
 *
 *   N passed, M failed
 *
 * (cases; a check made outside any case counts as a case of its own) and
 * returns the exit status: nonzero iff something failed.
 *
 * CHECK_ONLY=name in the environment runs only the case called name. */
#ifndef SL_TEST_CHECK_H
#define SL_TEST_CHECK_H

#include <stdbool.h>
#include <stdint.h>

extern int check_passed, check_failed;
/* Older tests print these two themselves. */
#define passed check_passed
#define failed check_failed

void check_true(bool ok, const char *file, int line, const char *expr);
void check_eq(uint64_t got, uint64_t want, const char *file, int line, const char *ga,
              const char *wa);
void check_eq_str(const char *got, const char *want, const char *file, int line,
                  const char *ga, const char *wa);
void check_range(double v, double lo, double hi, const char *file, int line, const char *ve);
/* A failure described by the caller (printf format), at file:line. */
void check_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A bug that was found and fixed: its check is a regression test. */
bool check_fixed_bug(bool ok, const char *file, int line, const char *what);

void check_run(const char *name, void (*fn)(void));
/* The running case's name, or NULL. */
const char *check_case(void);
/* Called after every case (e.g. to free what a harness allocated). */
void check_on_case_end(void (*fn)(void));
/* Prints the summary line; returns the exit status. `binary` names the
 * program on the line before it. */
int check_finish(const char *binary);

#define CHECK(c) check_true(!!(c), __FILE__, __LINE__, #c)
#define CHECK_EQ(a, b) check_eq((uint64_t)(a), (uint64_t)(b), __FILE__, __LINE__, #a, #b)
#define CHECK_STR(a, b) check_eq_str((a), (b), __FILE__, __LINE__, #a, #b)
#define CHECK_RANGE(v, lo, hi) check_range((double)(v), (double)(lo), (double)(hi), __FILE__, __LINE__, #v)
#define FIXED_BUG(ok, what) check_fixed_bug(!!(ok), __FILE__, __LINE__, what)
#define CHECK_RUN(fn) check_run(#fn, fn)
#define RUN(fn) check_run(#fn, fn)

#endif
