/* Sleeping and reading the monotonic clock, for the C tests, the fuzzer
 * and the soak (define _POSIX_C_SOURCE before including). */
#ifndef RINGMQ_TEST_TIMING_H
#define RINGMQ_TEST_TIMING_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

/* Sleeps `ms` milliseconds, through signal interruptions. */
static inline void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
