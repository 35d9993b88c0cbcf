/* Tests of waiting on a pull subscription from an event loop and of ending
 * a blocked poll: ringmq_sub_get_fd's descriptor in epoll (level- and
 * edge-triggered) is readable exactly when a poll can take something, no
 * wake-up is lost while producer threads publish, a close makes it readable;
 * ringmq_sub_wake ends one blocked poll (or the next one) with
 * RINGMQ_INTERRUPTED, taking nothing; ringmq_sub_requeue gives a message
 * back without counting an attempt; bad input changes nothing.
 *
 * Build: see scripts/test-c.sh (plain, under ASan+UBSan, against the
 * shared library). */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ringmq.h"

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ringmq_broker *new_broker(void) {
    ringmq_broker_options o;
    ringmq_broker_options_default(&o);
    o.workers_max = 2;
    ringmq_broker *b = NULL;
    OK(ringmq_broker_new(&o, &b));
    return b;
}

static ringmq_topic *new_topic(ringmq_broker *b, const char *name, size_t capacity) {
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.capacity = capacity;
    o.overflow = RINGMQ_OVERFLOW_BLOCK;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, name, &o, &t));
    return t;
}

static ringmq_sub *pull(ringmq_topic *t, const char *group) {
    ringmq_sub *s = NULL;
    OK(ringmq_topic_subscribe_pull(t, group, NULL, &s));
    return s;
}

/* An epoll instance watching `fd` for input, edge-triggered or not. */
static int watch(int fd, bool edge) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    struct epoll_event ev = {.events = EPOLLIN | (edge ? EPOLLET : 0u), .data = {.fd = fd}};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
    return ep;
}

/* Did the descriptor become readable within `ms`? */
static bool ready_within(int ep, int ms) {
    struct epoll_event ev;
    int n = epoll_wait(ep, &ev, 1, ms);
    CHECK(n >= 0);
    return n == 1;
}

static void test_fd_is_readable_when_a_poll_can_take(void) {
    ringmq_broker *b = new_broker();
    ringmq_topic *t = new_topic(b, "events", 16);
    ringmq_sub *s = pull(t, "loop");
    int fd = -1, again = -1;
    OK(ringmq_sub_get_fd(s, &fd));
    CHECK(fd >= 0);
    OK(ringmq_sub_get_fd(s, &again));
    CHECK(again == fd); /* one descriptor per subscription */
    int ep = watch(fd, false);

    CHECK(ready_within(ep, 100)); /* readable at first */
    ringmq_message m;
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_EMPTY);
    CHECK(!ready_within(ep, 50)); /* the empty poll re-armed it */

    OK(ringmq_topic_publish(t, "a", 1, 0, 0, NULL));
    CHECK(ready_within(ep, 2000));
    OK(ringmq_sub_poll(s, 0, &m));
    CHECK(m.len == 1 && memcmp(m.data, "a", 1) == 0);
    OK(ringmq_sub_ack(s, m.delivery_tag));
    CHECK(ready_within(ep, 0)); /* still set until a poll takes nothing */
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_EMPTY);
    CHECK(!ready_within(ep, 50));

    /* A nack with a delay: readable again when the retry falls due. */
    OK(ringmq_topic_publish(t, "b", 1, 0, 0, NULL));
    CHECK(ready_within(ep, 2000));
    OK(ringmq_sub_poll(s, 0, &m));
    OK(ringmq_sub_nack(s, m.delivery_tag, 150));
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_EMPTY);
    long long t0 = now_ms();
    CHECK(!ready_within(ep, 80));
    bool got = false;
    while (!got && now_ms() - t0 < 5000) {
        CHECK(ready_within(ep, 3000));
        ringmq_status st = ringmq_sub_poll(s, 0, &m);
        CHECK(st == RINGMQ_OK || st == RINGMQ_EMPTY);
        got = st == RINGMQ_OK;
    }
    CHECK(got);
    CHECK(now_ms() - t0 >= 100);
    CHECK_EQ_U64(m.attempt, 2);
    OK(ringmq_sub_ack(s, m.delivery_tag));

    /* The broker's close makes it readable; the poll then says CLOSED. */
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_EMPTY);
    CHECK(!ready_within(ep, 20));
    OK(ringmq_broker_close(b, 0));
    CHECK(ready_within(ep, 2000));
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_CLOSED);
    CHECK_ST(ringmq_sub_get_fd(s, &again), RINGMQ_CLOSED);
    close(ep);
    /* Closed already; the handle is freed all the same. */
    CHECK_ST(ringmq_sub_unsubscribe(s), RINGMQ_CLOSED);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

typedef struct producer {
    ringmq_topic *t;
    uint32_t id;
    uint32_t count;
    int failures;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    for (uint32_t i = 0; i < p->count; i++) {
        uint64_t v = ((uint64_t)p->id << 32) | i;
        if (ringmq_topic_publish(p->t, &v, sizeof v, 0, -1, NULL) != RINGMQ_OK) p->failures++;
        if (i % 2000 == 0) sleep_ms(1);
    }
    return NULL;
}

/* One edge-triggered event loop, three producer threads: every message
 * is taken exactly once, and the loop never waits 5 s with messages there
 * (which a lost wake-up would cause). */
static void test_an_event_loop_loses_no_wake_up(void) {
    enum { PRODUCERS = 3, PER = 20000 };
    ringmq_broker *b = new_broker();
    ringmq_topic *t = new_topic(b, "stream", 64);
    ringmq_sub *s = pull(t, "loop");
    int fd = -1;
    OK(ringmq_sub_get_fd(s, &fd));
    int ep = watch(fd, true);
    uint8_t *seen = calloc((size_t)PRODUCERS * PER, 1);
    CHECK(seen != NULL);
    producer ps[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        ps[i] = (producer){.t = t, .id = i, .count = PER, .failures = 0};
        CHECK(pthread_create(&th[i], NULL, produce, &ps[i]) == 0);
    }
    size_t taken = 0, twice = 0, lost_waits = 0;
    ringmq_message batch[32];
    while (taken < (size_t)PRODUCERS * PER && lost_waits == 0) {
        if (!ready_within(ep, 5000)) {
            lost_waits++;
            break;
        }
        for (;;) {
            size_t n = 0;
            ringmq_status st = ringmq_sub_poll_batch(s, 32, 0, batch, &n);
            if (st == RINGMQ_EMPTY) break;
            CHECK_ST(st, RINGMQ_OK);
            if (st != RINGMQ_OK) break;
            for (size_t i = 0; i < n; i++) {
                uint64_t v;
                memcpy(&v, batch[i].data, sizeof v);
                size_t idx = (size_t)(v >> 32) * PER + (uint32_t)v;
                if (seen[idx]) twice++;
                seen[idx] = 1;
                OK(ringmq_sub_ack(s, batch[i].delivery_tag));
            }
            taken += n;
        }
    }
    CHECK_EQ_U64(lost_waits, 0);
    if (lost_waits) OK(ringmq_broker_close(b, 0)); /* unblock the producers */
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
        if (!lost_waits) CHECK_EQ_U64(ps[i].failures, 0);
    }
    CHECK_EQ_U64(taken, (size_t)PRODUCERS * PER);
    CHECK_EQ_U64(twice, 0);
    free(seen);
    close(ep);
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

typedef struct blocked_poll {
    ringmq_sub *s;
    int32_t timeout_ms;
    ringmq_status status;
    atomic_bool done;
} blocked_poll;

static void *poll_blocked(void *arg) {
    blocked_poll *p = arg;
    ringmq_message m;
    p->status = ringmq_sub_poll(p->s, p->timeout_ms, &m);
    atomic_store(&p->done, true);
    return NULL;
}

static void test_wake_ends_one_blocked_poll(void) {
    ringmq_broker *b = new_broker();
    ringmq_topic *t = new_topic(b, "wakes", 16);
    ringmq_sub *s = pull(t, "g");

    /* Two threads blocked for ever: each wake ends one of them. */
    blocked_poll ps[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        ps[i] = (blocked_poll){.s = s, .timeout_ms = -1, .status = RINGMQ_OK};
        atomic_init(&ps[i].done, false);
        CHECK(pthread_create(&th[i], NULL, poll_blocked, &ps[i]) == 0);
    }
    sleep_ms(150);
    CHECK(!atomic_load(&ps[0].done) && !atomic_load(&ps[1].done));
    OK(ringmq_sub_wake(s));
    long long t0 = now_ms();
    while (!atomic_load(&ps[0].done) && !atomic_load(&ps[1].done) && now_ms() - t0 < 5000)
        sleep_ms(1);
    sleep_ms(50);
    CHECK_EQ_U64((int)atomic_load(&ps[0].done) + (int)atomic_load(&ps[1].done), 1);
    OK(ringmq_sub_wake(s));
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK_ST(ps[i].status, RINGMQ_INTERRUPTED);
    }

    /* A wake before the poll ends the next poll that would block; a poll
     * that finds a message, or does not wait, leaves it. */
    OK(ringmq_sub_wake(s));
    OK(ringmq_topic_publish(t, "m", 1, 0, 0, NULL));
    ringmq_message m;
    OK(ringmq_sub_poll(s, 1000, &m));
    OK(ringmq_sub_ack(s, m.delivery_tag));
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_EMPTY);
    t0 = now_ms();
    CHECK_ERR(ringmq_sub_poll(s, 30000, &m), RINGMQ_INTERRUPTED, "interrupted");
    CHECK(now_ms() - t0 < 5000);
    size_t n = 99;
    ringmq_message batch[4];
    CHECK_ST(ringmq_sub_poll_batch(s, 4, 50, batch, &n), RINGMQ_EMPTY); /* used up */
    CHECK_EQ_U64(n, 0);
    OK(ringmq_sub_wake(s));
    CHECK_ST(ringmq_sub_poll_batch(s, 4, 30000, batch, &n), RINGMQ_INTERRUPTED);
    CHECK_EQ_U64(n, 0);

    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* What a consumer does with a message it will not handle: back at once,
 * same attempt, however often; a nack then counts. */
static void test_requeue_is_not_an_attempt(void) {
    ringmq_broker *b = new_broker();
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.max_attempts = 2;
    o.backoff_base_ms = 60000;
    o.backoff_max_ms = 60000;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "requeue", &o, &t));
    ringmq_sub *s = pull(t, "g");
    OK(ringmq_topic_publish(t, "r", 1, 0, 0, NULL));
    ringmq_message m;
    for (int i = 0; i < 5; i++) {
        OK(ringmq_sub_poll(s, 1000, &m));
        CHECK_EQ_U64(m.attempt, 1);
        OK(ringmq_sub_requeue(s, m.delivery_tag));
        CHECK_ERR(ringmq_sub_requeue(s, m.delivery_tag), RINGMQ_INVALID_ARGUMENT, "unknown or already settled");
    }
    OK(ringmq_sub_poll(s, 1000, &m));
    CHECK_EQ_U64(m.attempt, 1);
    OK(ringmq_sub_ack(s, m.delivery_tag));
    ringmq_sub_stats st;
    OK(ringmq_sub_get_stats(s, &st));
    CHECK_EQ_U64(st.acked, 1);
    CHECK_EQ_U64(st.in_flight, 0);
    CHECK_EQ_U64(st.dead_lettered, 0);
    CHECK_ERR(ringmq_sub_requeue(NULL, 1), RINGMQ_INVALID_ARGUMENT, "s");
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static int32_t ack_all(const ringmq_message *m, void *user_data) {
    (void)m;
    (void)user_data;
    return 0;
}

static void test_bad_input_is_refused(void) {
    ringmq_broker *b = new_broker();
    ringmq_topic *t = new_topic(b, "bad", 16);
    ringmq_sub *s = pull(t, "g");
    int fd = -7;
    CHECK_ERR(ringmq_sub_get_fd(NULL, &fd), RINGMQ_INVALID_ARGUMENT, "s");
    CHECK(fd == -7);
    CHECK_ERR(ringmq_sub_get_fd(s, NULL), RINGMQ_INVALID_ARGUMENT, "fd_out");
    CHECK_ERR(ringmq_sub_wake(NULL), RINGMQ_INVALID_ARGUMENT, "s");
    ringmq_sub *push = NULL;
    OK(ringmq_topic_subscribe(t, "push", ack_all, NULL, NULL, &push));
    CHECK_ERR(ringmq_sub_get_fd(push, &fd), RINGMQ_INVALID_ARGUMENT, "push subscription");
    CHECK(fd == -7);
    CHECK_ERR(ringmq_sub_wake(push), RINGMQ_INVALID_ARGUMENT, "push subscription");
    /* Nothing changed: a message still reaches the pull subscription. */
    OK(ringmq_topic_publish(t, "x", 1, 0, 0, NULL));
    ringmq_message m;
    OK(ringmq_sub_poll(s, 1000, &m));
    OK(ringmq_sub_ack(s, m.delivery_tag));
    OK(ringmq_sub_unsubscribe(push));
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

int main(int argc, char **argv) {
    static const test_case cases[] = {
        {"fd_is_readable_when_a_poll_can_take", test_fd_is_readable_when_a_poll_can_take},
        {"an_event_loop_loses_no_wake_up", test_an_event_loop_loses_no_wake_up},
        {"wake_ends_one_blocked_poll", test_wake_ends_one_blocked_poll},
        {"requeue_is_not_an_attempt", test_requeue_is_not_an_attempt},
        {"bad_input_is_refused", test_bad_input_is_refused},
    };
    return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
