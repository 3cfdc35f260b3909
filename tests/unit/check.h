/*
 * check.h - the smallest test harness that works: CHECK(cond) records a
 * failure with file:line and goes on; TEST_MAIN prints "N passed, N failed"
 * and exits non-zero on any failure.
 */
#ifndef GREGOR_TESTS_CHECK_H
#define GREGOR_TESTS_CHECK_H
#include <stdio.h>
#include <stdlib.h>

static int check_passed, check_failed;

#define CHECK(cond) do { \
    if (cond) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_EQ_I64(a, b) do { \
    long long va_ = (long long)(a), vb_ = (long long)(b); \
    if (va_ == vb_) check_passed++; \
    else { check_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
           __FILE__, __LINE__, #a, #b, va_, vb_); } \
} while (0)

#define TEST_REPORT() do { \
    printf("%s: %d passed, %d failed\n", __FILE__, check_passed, check_failed); \
    return check_failed ? 1 : 0; \
} while (0)

#endif
