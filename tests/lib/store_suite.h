/* Store conformance suite (store_suite.c): the contract of src/store/store.h,
 * run against any backend. */
#ifndef SL_TEST_STORE_SUITE_H
#define SL_TEST_STORE_SUITE_H

#include "check.h"
#include "store/store.h"

/* Runs every case of the suite against s; uri2 opens a second handle on
 * the same data (NULL when handles do not share data, as with "mem:"). */
void suite_run(struct sl_store *s, const char *uri2);

#endif
