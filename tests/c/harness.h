/* A minimal test runner for the C API tests: CHECK macros that count
 * failures and a main loop that prints "N passed, M failed". */
#ifndef RINGMQ_TEST_HARNESS_H
#define RINGMQ_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

#include "ringmq.h"

/* Failed checks in the running test (the main thread only; worker threads
 * record their findings in their own structs). */
static int g_check_failures;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__,         \
                    __LINE__, #cond);                                        \
            g_check_failures++;                                              \
        }                                                                    \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                   \
    do {                                                                     \
        unsigned long long a_ = (unsigned long long)(a);                     \
        unsigned long long b_ = (unsigned long long)(b);                     \
        if (a_ != b_) {                                                      \
            fprintf(stderr, "  %s:%d: %s == %s failed: %llu != %llu\n",      \
                    __FILE__, __LINE__, #a, #b, a_, b_);                     \
            g_check_failures++;                                              \
        }                                                                    \
    } while (0)

/* The call must answer `want`. */
#define CHECK_ST(call, want)                                                 \
    do {                                                                     \
        ringmq_status st_ = (call);                                          \
        if (st_ != (want)) {                                                 \
            fprintf(stderr, "  %s:%d: %s -> %d (%s), want %s; last error: %s\n", \
                    __FILE__, __LINE__, #call, (int)st_,                     \
                    ringmq_status_str(st_), #want, ringmq_last_error());     \
            g_check_failures++;                                              \
        }                                                                    \
    } while (0)

#define OK(call) CHECK_ST(call, RINGMQ_OK)

/* The call must answer `want` and leave a last error mentioning `text`. */
#define CHECK_ERR(call, want, text)                                          \
    do {                                                                     \
        CHECK_ST(call, want);                                                \
        if (strstr(ringmq_last_error(), (text)) == NULL) {                   \
            fprintf(stderr, "  %s:%d: last error \"%s\" lacks \"%s\"\n",     \
                    __FILE__, __LINE__, ringmq_last_error(), (text));        \
            g_check_failures++;                                              \
        }                                                                    \
    } while (0)

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

/* Runs every case (or those whose name contains argv[1]) and prints the
 * closing "N passed, M failed" line. */
static int run_tests(const test_case *cases, size_t n, int argc, char **argv) {
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strstr(cases[i].name, argv[1]) == NULL) continue;
        g_check_failures = 0;
        fprintf(stderr, "test %s ...\n", cases[i].name);
        cases[i].fn();
        if (g_check_failures == 0) {
            printf("ok     %s\n", cases[i].name);
            passed++;
        } else {
            printf("FAILED %s (%d checks)\n", cases[i].name, g_check_failures);
            failed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}

#endif
