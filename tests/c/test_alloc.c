/* Proves that publishing (ringmq_topic_publish, ringmq_topic_publish_ex without and
 * with a few headers), polling, reading headers and acking through the C
 * API allocate nothing per message in steady state: the allocation
 * functions the static library calls are wrapped (-Wl,--wrap=...) and
 * counted on this thread while it runs thousands of messages.
 *
 * Build: see scripts/test-c.sh (static library only, no sanitizer). */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ringmq.h"

static _Thread_local int counting;
static _Thread_local unsigned long allocations;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

void *__wrap_malloc(size_t n) {
    allocations += counting;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
    allocations += counting;
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
    allocations += counting;
    return __real_realloc(p, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n) {
    allocations += counting;
    return __real_posix_memalign(p, align, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n) {
    allocations += counting;
    return __real_aligned_alloc(align, n);
}

#define MESSAGES 20000

/* One round of every per-message call: publish, poll, ack; a batch publish,
 * poll_batch, ack_batch; nack and a redelivery. */
static int one_round(ringmq_topic *t, ringmq_sub *s, uint64_t i) {
    char payload[64];
    memset(payload, (int)(i & 0x7f), sizeof payload);
    ringmq_message m;
    if (ringmq_topic_publish(t, payload, sizeof payload, i, -1, NULL) != RINGMQ_OK) return 0;
    if (ringmq_sub_poll(s, 1000, &m) != RINGMQ_OK || m.len != sizeof payload) return 0;
    if (ringmq_sub_ack(s, m.delivery_tag) != RINGMQ_OK) return 0;

    ringmq_buf items[4] = {{payload, 8}, {payload, 16}, {payload, 32}, {payload, 64}};
    if (ringmq_topic_publish_batch(t, items, 4, i, -1, NULL) != RINGMQ_OK) return 0;
    ringmq_message ms[4];
    uint64_t tags[4];
    size_t got = 0;
    while (got < 4) {
        size_t n = 0;
        if (ringmq_sub_poll_batch(s, 4 - got, 1000, ms, &n) != RINGMQ_OK) return 0;
        for (size_t k = 0; k < n; k++) tags[got + k] = ms[k].delivery_tag;
        got += n;
    }
    if (ringmq_sub_ack_batch(s, tags, 4) != RINGMQ_OK) return 0;
    return 1;
}

/* One round through ringmq_topic_publish_ex: without headers, msg_id or delay
 * (NULL options, then filled options with a key and a timeout), and, when
 * `headers` is set, with two headers read back in place. */
static int one_round_ex(ringmq_topic *t, ringmq_sub *s, uint64_t i, int headers) {
    char payload[64];
    memset(payload, (int)(i & 0x7f), sizeof payload);
    ringmq_message m;
    if (ringmq_topic_publish_ex(t, payload, sizeof payload, NULL, NULL) != RINGMQ_OK) return 0;
    if (ringmq_sub_poll(s, 1000, &m) != RINGMQ_OK || m.header_count != 0) return 0;
    if (ringmq_sub_ack(s, m.delivery_tag) != RINGMQ_OK) return 0;
    ringmq_publish_options po;
    ringmq_publish_options_default(&po);
    po.key = i;
    po.timeout_ms = 1000;
    static const ringmq_header two[2] = {
        {"traceparent", 11, (const uint8_t *)"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 55},
        {"tenant", 6, (const uint8_t *)"acme", 4},
    };
    if (headers) {
        po.headers = two;
        po.header_count = 2;
    }
    if (ringmq_topic_publish_ex(t, payload, 32, &po, NULL) != RINGMQ_OK) return 0;
    if (ringmq_sub_poll(s, 1000, &m) != RINGMQ_OK || m.key != i || m.len != 32) return 0;
    if (headers) {
        const uint8_t *v = NULL;
        size_t vl = 0;
        if (m.header_count != 2) return 0;
        if (ringmq_message_header_get(&m, "tenant", 6, &v, &vl) != RINGMQ_OK || vl != 4) return 0;
        if (ringmq_message_header(&m, 0, NULL, NULL, &v, &vl) != RINGMQ_OK || vl != 55) return 0;
        /* A header that is not there costs nothing either. */
        if (ringmq_message_header_get(&m, "absent", 6, &v, &vl) != RINGMQ_NOT_FOUND) return 0;
    }
    if (ringmq_sub_ack(s, m.delivery_tag) != RINGMQ_OK) return 0;
    return 1;
}

static void test_publish_ex_allocates_nothing(void) {
    ringmq_broker *b = NULL;
    OK(ringmq_broker_new(NULL, &b));
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.slot_size = 64;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "alloc-ex", &o, &t));
    ringmq_sub *s = NULL;
    OK(ringmq_topic_subscribe_pull(t, "g", NULL, &s));

    for (int headers = 0; headers < 2; headers++) {
        int ok = 1;
        for (uint64_t i = 0; i < 2000 && ok; i++) ok = one_round_ex(t, s, i, headers); /* warm-up */
        CHECK(ok);
        allocations = 0;
        counting = 1;
        for (uint64_t i = 0; i < MESSAGES && ok; i++) ok = one_round_ex(t, s, i, headers);
        counting = 0;
        CHECK(ok);
        fprintf(stderr, "  %lu allocations in %d rounds of ringmq_topic_publish_ex/poll/ack %s headers\n",
                allocations, MESSAGES, headers ? "with two" : "without");
        CHECK_EQ_U64(allocations, 0);
    }
    ringmq_sub_stats ss;
    OK(ringmq_sub_get_stats(s, &ss));
    CHECK_EQ_U64(ss.acked, 2 * 2 * (MESSAGES + 2000));

    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static void test_no_allocation_per_message(void) {
    ringmq_broker *b = NULL;
    OK(ringmq_broker_new(NULL, &b));
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.slot_size = 64;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "alloc", &o, &t));
    ringmq_sub *s = NULL;
    OK(ringmq_topic_subscribe_pull(t, "g", NULL, &s));
    ringmq_topic_stats ts;
    ringmq_sub_stats ss;

    int ok = 1;
    for (uint64_t i = 0; i < 2000 && ok; i++) ok = one_round(t, s, i); /* warm-up */
    CHECK(ok);
    counting = 1;
    for (uint64_t i = 0; i < MESSAGES && ok; i++) ok = one_round(t, s, i);
    counting = 0;
    CHECK(ok);
    OK(ringmq_topic_get_stats(t, &ts));
    OK(ringmq_sub_get_stats(s, &ss));
    fprintf(stderr, "  %lu allocations in %d rounds of publish/poll/ack and batch publish/poll/ack\n",
            allocations, MESSAGES);
    CHECK_EQ_U64(allocations, 0);
    CHECK_EQ_U64(ss.acked, 5 * (MESSAGES + 2000));

    /* The counter does count: a failing call allocates its error text. */
    ringmq_topic *missing = NULL;
    counting = 1;
    CHECK_ST(ringmq_topic_open(b, "no-such-topic", &missing), RINGMQ_NOT_FOUND);
    counting = 0;
    CHECK(allocations > 0);
    CHECK_EQ_U64(ts.published, 5 * (MESSAGES + 2000));

    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

int main(int argc, char **argv) {
    static const test_case cases[] = {
        {"no_allocation_per_message", test_no_allocation_per_message},
        {"publish_ex_allocates_nothing", test_publish_ex_allocates_nothing},
    };
    return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
