/* Tests of the C ABI's growth rules: options structs of an older header
 * (copies of the first versions' layouts) work with this library, a
 * struct_size of 0 or below the first version is refused and changes
 * nothing, a newer header's larger struct is taken when its extra bytes
 * are zero and refused otherwise; the _default macros pass the caller's
 * sizeof; the version macros agree with ringmq_version(); the old names
 * are the same calls as the new ones.
 *
 * Build: see scripts/test-c.sh (plain, under ASan+UBSan, against the
 * shared library). */
#define _POSIX_C_SOURCE 200809L
/* This file calls the deprecated aliases on purpose (scripts/test-c.sh,
 * which builds the tests with RINGMQ_WARN_DEPRECATED, checks separately
 * that they warn). */
#undef RINGMQ_WARN_DEPRECATED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ringmq.h"

/* ---- the first versions, as an older ringmq.h declared them ------------ */

/* DESIGN/1.0's fields, struct_size first: what a program built against the
 * first header with struct_size passes. */
typedef struct {
    uint32_t struct_size;
    uint32_t workers_min;
    uint32_t workers_max;
    uint64_t idle_timeout_ms;
} broker_options_v1;

typedef struct {
    uint32_t struct_size;
    size_t capacity;
    size_t slot_size;
    ringmq_overflow overflow;
    uint32_t max_attempts;
    uint64_t backoff_base_ms;
    uint64_t backoff_max_ms;
    uint64_t ack_timeout_ms;
} topic_options_v1;

typedef struct {
    uint32_t struct_size;
    uint32_t concurrency;
    bool ordered_by_key;
    bool lossy;
    ringmq_start start;
} sub_options_v1;

/* The fields keep their places: appended, never moved. */
_Static_assert(offsetof(broker_options_v1, idle_timeout_ms) ==
                   offsetof(ringmq_broker_options, idle_timeout_ms),
               "broker options v1 is a prefix");
_Static_assert(sizeof(broker_options_v1) < sizeof(ringmq_broker_options), "broker options grew");
_Static_assert(offsetof(topic_options_v1, ack_timeout_ms) ==
                   offsetof(ringmq_topic_options, ack_timeout_ms),
               "topic options v1 is a prefix");
_Static_assert(sizeof(topic_options_v1) < sizeof(ringmq_topic_options), "topic options grew");
_Static_assert(offsetof(sub_options_v1, start) == offsetof(ringmq_sub_options, start),
               "sub options v1 is a prefix");
_Static_assert(sizeof(sub_options_v1) < sizeof(ringmq_sub_options), "sub options grew");
_Static_assert(offsetof(ringmq_publish_options, struct_size) == 0, "struct_size first");

/* Each old struct with bytes after it that must be neither written nor
 * read: 0xff there would be a wild data_dir pointer, a NaN rate limit, a
 * huge retry_capacity if the library took them for fields. */
#define GUARD 64
static bool guard_intact(const unsigned char *g) {
    for (size_t i = 0; i < GUARD; i++)
        if (g[i] != 0xff) return false;
    return true;
}

/* ---- helpers ----------------------------------------------------------- */

static ringmq_broker *new_broker(void) {
    ringmq_broker *b = NULL;
    OK(ringmq_broker_new(NULL, &b));
    return b;
}

static uint64_t published(const ringmq_topic *t) {
    ringmq_topic_stats st;
    OK(ringmq_topic_get_stats(t, &st));
    return st.published;
}

static bool last_error_starts(const char *prefix) {
    return strncmp(ringmq_last_error(), prefix, strlen(prefix)) == 0;
}

/* ---- version ----------------------------------------------------------- */

static void test_version_macros_match_the_library(void) {
    CHECK(strcmp(ringmq_version(), RINGMQ_VERSION_STRING) == 0);
    char numbers[64];
    snprintf(numbers, sizeof numbers, "%d.%d.%d", RINGMQ_VERSION_MAJOR, RINGMQ_VERSION_MINOR,
             RINGMQ_VERSION_PATCH);
    /* "MAJOR.MINOR.PATCH", then nothing or a pre-release/build suffix. */
    size_t n = strlen(numbers);
    CHECK(strncmp(ringmq_version(), numbers, n) == 0);
    CHECK(ringmq_version()[n] == '\0' || ringmq_version()[n] == '-' || ringmq_version()[n] == '+');
}

/* ---- _default and _init ------------------------------------------------ */

static void test_default_passes_the_callers_size(void) {
    ringmq_broker_options bo;
    ringmq_topic_options to;
    ringmq_sub_options so;
    ringmq_publish_options po;
    memset(&bo, 0xff, sizeof bo);
    memset(&to, 0xff, sizeof to);
    memset(&so, 0xff, sizeof so);
    memset(&po, 0xff, sizeof po);
    ringmq_broker_options_default(&bo);
    ringmq_topic_options_default(&to);
    ringmq_sub_options_default(&so);
    ringmq_publish_options_default(&po);
    CHECK_EQ_U64(bo.struct_size, sizeof bo);
    CHECK_EQ_U64(to.struct_size, sizeof to);
    CHECK_EQ_U64(so.struct_size, sizeof so);
    CHECK_EQ_U64(po.struct_size, sizeof po);
    CHECK_EQ_U64(to.capacity, 1024);
    CHECK_EQ_U64(po.timeout_ms, -1);

    /* The exported functions of the same names (the macro not expanded)
     * fill the library's own size, the same here. */
    memset(&to, 0, sizeof to);
    (ringmq_topic_options_default)(&to);
    CHECK_EQ_U64(to.struct_size, sizeof to);
    CHECK_EQ_U64(to.slot_size, 256);
    memset(&so, 0, sizeof so);
    (ringmq_sub_options_default)(&so);
    CHECK_EQ_U64(so.struct_size, sizeof so);
    CHECK_EQ_U64(so.concurrency, 1);

    /* NULL does nothing, through the macros and the functions. */
    ringmq_broker_options_default(NULL);
    ringmq_topic_options_default(NULL);
    ringmq_sub_options_default(NULL);
    ringmq_publish_options_default(NULL);
    (ringmq_publish_options_default)(NULL);
    ringmq_topic_options_init(NULL, sizeof to);

    /* _init never writes past the size it is given. */
    struct {
        ringmq_topic_options o;
        unsigned char guard[GUARD];
    } small;
    memset(&small, 0xff, sizeof small);
    ringmq_topic_options_init(&small.o, 2); /* no room even for struct_size */
    CHECK(((unsigned char *)&small.o)[0] == 0xff);
    ringmq_topic_options_init(&small.o, sizeof(topic_options_v1));
    CHECK_EQ_U64(small.o.struct_size, sizeof(topic_options_v1));
    CHECK_EQ_U64(small.o.ack_timeout_ms, 30000);
    const unsigned char *rest = (const unsigned char *)&small.o + sizeof(topic_options_v1);
    for (size_t i = 0; i < sizeof small.o - sizeof(topic_options_v1); i++) CHECK(rest[i] == 0xff);
}

/* ---- an older header --------------------------------------------------- */

static void test_structs_of_an_older_header_work(void) {
    /* What ringmq_broker_options_default(&o) did in a program built against
     * the first header: _init with that header's sizeof. */
    struct {
        broker_options_v1 o;
        unsigned char guard[GUARD];
    } bo;
    memset(&bo, 0xff, sizeof bo);
    ringmq_broker_options_init((ringmq_broker_options *)&bo.o, sizeof bo.o);
    CHECK_EQ_U64(bo.o.struct_size, sizeof bo.o);
    CHECK_EQ_U64(bo.o.workers_min, 1);
    CHECK_EQ_U64(bo.o.idle_timeout_ms, 30000);
    CHECK(guard_intact(bo.guard));
    bo.o.workers_max = 2;
    ringmq_broker *b = NULL;
    /* data_dir (0xff…ff past the old struct) is not read: no data dir. */
    OK(ringmq_broker_new((const ringmq_broker_options *)&bo.o, &b));
    CHECK(b != NULL);

    struct {
        topic_options_v1 o;
        unsigned char guard[GUARD];
    } to;
    memset(&to, 0xff, sizeof to);
    ringmq_topic_options_init((ringmq_topic_options *)&to.o, sizeof to.o);
    CHECK(guard_intact(to.guard));
    CHECK_EQ_U64(to.o.capacity, 1024);
    CHECK_EQ_U64(to.o.max_attempts, 4);
    to.o.capacity = 8;
    to.o.slot_size = 64;
    to.o.overflow = RINGMQ_OVERFLOW_REJECT;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "old", (const ringmq_topic_options *)&to.o, &t));
    ringmq_topic_stats ts;
    OK(ringmq_topic_get_stats(t, &ts));
    CHECK_EQ_U64(ts.capacity, 8);
    /* The old fields were read: slot_size 64 and the reject policy. */
    char big[65] = {0};
    CHECK_ST(ringmq_topic_publish(t, big, 65, 0, 0, NULL), RINGMQ_TOO_LARGE);
    /* A field the old header lacks has its default: max_header_bytes 1024. */
    static uint8_t value[1000];
    ringmq_header h = {"h", 1, value, sizeof value};
    ringmq_publish_options po;
    ringmq_publish_options_default(&po);
    po.headers = &h;
    po.header_count = 1;
    po.timeout_ms = 0;
    /* A subscription that holds the ring, so that it fills. */
    ringmq_sub *holder = NULL;
    OK(ringmq_topic_subscribe_pull(t, "holder", NULL, &holder));
    uint64_t first_id = 99;
    OK(ringmq_topic_publish_ex(t, "m0", 2, &po, &first_id));
    for (int i = 1; i < 8; i++) OK(ringmq_topic_publish(t, "m", 1, 0, 0, NULL));
    CHECK_ST(ringmq_topic_publish(t, "m", 1, 0, 0, NULL), RINGMQ_FULL);

    struct {
        sub_options_v1 o;
        unsigned char guard[GUARD];
    } so;
    memset(&so, 0xff, sizeof so);
    ringmq_sub_options_init((ringmq_sub_options *)&so.o, sizeof so.o);
    CHECK(guard_intact(so.guard));
    CHECK_EQ_U64(so.o.concurrency, 1);
    CHECK(!so.o.lossy && so.o.start == RINGMQ_START_LATEST);
    so.o.start = RINGMQ_START_EARLIEST;
    ringmq_sub *s = NULL;
    /* rate_limit (a NaN of 0xff bytes past the old struct) is not read. */
    OK(ringmq_topic_subscribe_pull(t, "audit", (const ringmq_sub_options *)&so.o, &s));
    ringmq_message m;
    OK(ringmq_sub_poll(s, 1000, &m));
    CHECK_EQ_U64(m.id, first_id); /* start: earliest, from the old struct */
    CHECK_EQ_U64(m.header_count, 1);
    OK(ringmq_sub_ack(s, m.delivery_tag));

    OK(ringmq_sub_unsubscribe(s));
    OK(ringmq_sub_unsubscribe(holder));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static int32_t ack_all(const ringmq_message *m, void *user_data) {
    (void)m;
    (void)user_data;
    return 0;
}

static int32_t ack_all_ex(const ringmq_message *m, void *user_data, uint32_t *retry_after_ms) {
    (void)m;
    (void)user_data;
    (void)retry_after_ms;
    return RINGMQ_HANDLER_ACK;
}

/* ---- bad sizes ----------------------------------------------------------- */

static void test_bad_struct_sizes_are_refused_and_change_nothing(void) {
    /* Broker: no broker, out set to NULL. */
    ringmq_broker_options bo;
    ringmq_broker_options_default(&bo);
    bo.struct_size = 0;
    ringmq_broker *b = (ringmq_broker *)&bo;
    CHECK_ERR(ringmq_broker_new(&bo, &b), RINGMQ_INVALID_ARGUMENT,
              "ringmq_broker_new: ringmq_broker_options.struct_size is 0");
    CHECK(b == NULL);
    CHECK(strstr(ringmq_last_error(), "ringmq_broker_options_default") != NULL);
    bo.struct_size = 8;
    CHECK_ERR(ringmq_broker_new(&bo, &b), RINGMQ_INVALID_ARGUMENT, "below 24");
    CHECK(b == NULL);

    b = new_broker();
    ringmq_topic_options to;
    ringmq_topic_options_default(&to);
    ringmq_topic *t = (ringmq_topic *)&to;
    to.struct_size = 0;
    CHECK_ERR(ringmq_topic_create(b, "zero", &to, &t), RINGMQ_INVALID_ARGUMENT,
              "ringmq_topic_options.struct_size is 0");
    CHECK(t == NULL);
    to.struct_size = 4;
    CHECK_ERR(ringmq_topic_create(b, "zero", &to, &t), RINGMQ_INVALID_ARGUMENT,
              "is below 56, the size of the first version");
    /* A size no version ever had: inside a field, or absurdly large. */
    to.struct_size = (uint32_t)(offsetof(ringmq_topic_options, retry_capacity) + 4);
    CHECK_ERR(ringmq_topic_create(b, "zero", &to, &t), RINGMQ_INVALID_ARGUMENT,
              "ends inside field retry_capacity");
    to.struct_size = 1u << 20;
    CHECK_ERR(ringmq_topic_create(b, "zero", &to, &t), RINGMQ_INVALID_ARGUMENT, "is over 4096");
    ringmq_topic *none = NULL;
    CHECK_ST(ringmq_topic_open(b, "zero", &none), RINGMQ_NOT_FOUND);
    CHECK_ST(ringmq_topic_open(b, "zero.dlq", &none), RINGMQ_NOT_FOUND);

    OK(ringmq_topic_create(b, "ok", NULL, &t));
    ringmq_sub_options so;
    ringmq_sub_options_default(&so);
    so.struct_size = 0;
    ringmq_sub *s = (ringmq_sub *)&so;
    CHECK_ERR(ringmq_topic_subscribe_pull(t, "g", &so, &s), RINGMQ_INVALID_ARGUMENT,
              "ringmq_sub_options.struct_size is 0");
    CHECK(s == NULL);
    CHECK_ERR(ringmq_topic_subscribe(t, "g", ack_all, NULL, &so, &s), RINGMQ_INVALID_ARGUMENT,
              "ringmq_topic_subscribe: ringmq_sub_options.struct_size is 0");
    CHECK_ERR(ringmq_topic_subscribe_ex(t, "g", ack_all_ex, NULL, &so, &s),
              RINGMQ_INVALID_ARGUMENT, "ringmq_topic_subscribe_ex: ringmq_sub_options.struct_size");
    so.struct_size = 12;
    CHECK_ERR(ringmq_topic_subscribe_pull(t, "g", &so, &s), RINGMQ_INVALID_ARGUMENT, "below 16");
    so.struct_size = (uint32_t)offsetof(ringmq_sub_options, max_in_flight_per_key) + 2;
    CHECK_ERR(ringmq_topic_subscribe_pull(t, "g", &so, &s), RINGMQ_INVALID_ARGUMENT,
              "ends inside field max_in_flight_per_key");
    /* Nothing was made: the group name is free. */
    OK(ringmq_topic_subscribe_pull(t, "g", NULL, &s));

    ringmq_publish_options po;
    ringmq_publish_options_default(&po);
    po.struct_size = 0;
    uint64_t id = 77;
    CHECK_ERR(ringmq_topic_publish_ex(t, "x", 1, &po, &id), RINGMQ_INVALID_ARGUMENT,
              "ringmq_topic_publish_ex: ringmq_publish_options.struct_size is 0");
    CHECK_EQ_U64(id, 77);
    CHECK_EQ_U64(published(t), 0);
    ringmq_message m;
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_EMPTY);

    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* ---- a newer header ------------------------------------------------------ */

static void test_structs_of_a_newer_header_need_a_zero_tail(void) {
    /* A newer header's structs: this one's and fields after it. Its
     * _default (here _init with its sizeof) zeroes what this library does
     * not know. */
    struct {
        ringmq_broker_options o;
        uint64_t future[3];
    } bo;
    memset(&bo, 0xff, sizeof bo);
    ringmq_broker_options_init(&bo.o, sizeof bo);
    CHECK_EQ_U64(bo.o.struct_size, sizeof bo);
    CHECK(bo.future[0] == 0 && bo.future[1] == 0 && bo.future[2] == 0);
    CHECK(bo.o.data_dir == NULL && !bo.o.repair);
    bo.o.workers_max = 2;
    ringmq_broker *b = NULL;
    OK(ringmq_broker_new(&bo.o, &b));
    bo.future[2] = 1;
    ringmq_broker *b2 = NULL;
    CHECK_ERR(ringmq_broker_new(&bo.o, &b2), RINGMQ_INVALID_ARGUMENT, "is from a newer ringmq.h");
    CHECK(b2 == NULL);

    struct {
        ringmq_topic_options o;
        uint32_t future_flag;
        uint32_t future_count;
    } to;
    memset(&to, 0xff, sizeof to);
    ringmq_topic_options_init(&to.o, sizeof to);
    CHECK(to.future_flag == 0 && to.future_count == 0);
    to.o.capacity = 16;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "newer", &to.o, &t));
    ringmq_topic_stats ts;
    OK(ringmq_topic_get_stats(t, &ts));
    CHECK_EQ_U64(ts.capacity, 16);
    to.future_count = 3;
    ringmq_topic *t2 = NULL;
    char want[128];
    snprintf(want, sizeof want, "byte %zu is set", sizeof to.o + 4);
    CHECK_ERR(ringmq_topic_create(b, "newer2", &to.o, &t2), RINGMQ_INVALID_ARGUMENT, want);
    CHECK(t2 == NULL);
    CHECK_ST(ringmq_topic_open(b, "newer2", &t2), RINGMQ_NOT_FOUND);

    struct {
        ringmq_sub_options o;
        unsigned char future[8];
    } so;
    memset(&so, 0xff, sizeof so);
    ringmq_sub_options_init(&so.o, sizeof so);
    so.o.start = RINGMQ_START_EARLIEST;
    ringmq_sub *s = NULL;
    OK(ringmq_topic_subscribe_pull(t, "g", &so.o, &s));
    so.future[7] = 0x80;
    ringmq_sub *s2 = NULL;
    CHECK_ERR(ringmq_topic_subscribe_pull(t, "g2", &so.o, &s2), RINGMQ_INVALID_ARGUMENT,
              "sets options this library does not have");
    CHECK(s2 == NULL);
    OK(ringmq_topic_subscribe_pull(t, "g2", NULL, &s2)); /* the name is free */

    struct {
        ringmq_publish_options o;
        uint64_t future;
    } po;
    memset(&po, 0xff, sizeof po);
    ringmq_publish_options_init(&po.o, sizeof po);
    CHECK_EQ_U64(po.future, 0);
    po.o.key = 9;
    uint64_t id = 0;
    OK(ringmq_topic_publish_ex(t, "a", 1, &po.o, &id));
    ringmq_message m;
    OK(ringmq_sub_poll(s, 1000, &m));
    CHECK_EQ_U64(m.key, 9);
    OK(ringmq_sub_ack(s, m.delivery_tag));
    po.future = 1;
    CHECK_ERR(ringmq_topic_publish_ex(t, "b", 1, &po.o, &id), RINGMQ_INVALID_ARGUMENT,
              "ringmq_publish_options.struct_size");
    CHECK_EQ_U64(published(t), 1);

    OK(ringmq_sub_unsubscribe(s2));
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* ---- the old names ------------------------------------------------------- */

/* Each old name does what its new name does, and its errors name the
 * function called. */
static void test_old_names_are_the_same_calls(void) {
    ringmq_broker *b = new_broker();
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "names", NULL, &t));
    ringmq_sub *pull = NULL, *push = NULL, *push_ex = NULL;
    OK(ringmq_subscribe_pull(t, "pull", NULL, &pull));
    OK(ringmq_subscribe(t, "push", ack_all, NULL, NULL, &push));
    OK(ringmq_subscribe_ex(t, "push_ex", ack_all_ex, NULL, NULL, &push_ex));
    uint64_t id = 0;
    OK(ringmq_publish(t, "a", 1, 1, -1, &id));
    OK(ringmq_publish_ex(t, "b", 1, NULL, NULL));
    ringmq_buf bufs[2] = {{"c", 1}, {"d", 1}};
    OK(ringmq_publish_batch(t, bufs, 2, 0, -1, NULL));
    CHECK_EQ_U64(published(t), 4);

    ringmq_message m[4];
    size_t n = 0;
    OK(ringmq_poll(pull, 1000, &m[0]));
    CHECK_EQ_U64(m[0].id, id);
    OK(ringmq_in_progress(pull, m[0].delivery_tag));
    OK(ringmq_ack(pull, m[0].delivery_tag));
    OK(ringmq_poll_batch(pull, 1, 1000, &m[1], &n));
    CHECK_EQ_U64(n, 1);
    OK(ringmq_nack(pull, m[1].delivery_tag, 1));
    OK(ringmq_sub_poll_batch(pull, 3, 1000, &m[1], &n));
    uint64_t tags[3];
    for (size_t i = 0; i < n; i++) tags[i] = m[1 + i].delivery_tag;
    /* The nacked one comes back after 1 ms; term whatever is first. */
    OK(ringmq_term(pull, tags[0]));
    if (n > 1) OK(ringmq_ack_batch(pull, tags + 1, n - 1));

    size_t needed = 0;
    CHECK_ST(ringmq_metrics_text(b, NULL, 0, &needed), RINGMQ_TOO_LARGE);
    CHECK(needed > 1);
    size_t needed2 = 0;
    CHECK_ST(ringmq_broker_metrics_text(b, NULL, 0, &needed2), RINGMQ_TOO_LARGE);
    CHECK(needed2 > 1);

    /* Errors name the function called. */
    CHECK_ST(ringmq_poll(NULL, 0, &m[0]), RINGMQ_INVALID_ARGUMENT);
    CHECK(last_error_starts("ringmq_poll: s is NULL"));
    CHECK_ST(ringmq_sub_poll(NULL, 0, &m[0]), RINGMQ_INVALID_ARGUMENT);
    CHECK(last_error_starts("ringmq_sub_poll: s is NULL"));
    CHECK_ST(ringmq_publish(NULL, "x", 1, 0, 0, NULL), RINGMQ_INVALID_ARGUMENT);
    CHECK(last_error_starts("ringmq_publish: "));
    CHECK_ST(ringmq_topic_publish(NULL, "x", 1, 0, 0, NULL), RINGMQ_INVALID_ARGUMENT);
    CHECK(last_error_starts("ringmq_topic_publish: "));
    CHECK_ST(ringmq_ack(pull, 12345), RINGMQ_INVALID_ARGUMENT);
    CHECK(last_error_starts("ringmq_ack: "));
    CHECK_ST(ringmq_metrics_text(NULL, NULL, 0, &needed), RINGMQ_INVALID_ARGUMENT);
    CHECK(last_error_starts("ringmq_metrics_text: "));

    /* Function pointers of both names work alike (the aliases are real
     * exported functions, not macros). */
    ringmq_status (*old_ack)(ringmq_sub *, uint64_t) = ringmq_ack;
    ringmq_status (*new_ack)(ringmq_sub *, uint64_t) = ringmq_sub_ack;
    CHECK(old_ack != new_ack);
    CHECK_ST(old_ack(pull, 1), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(new_ack(pull, 1), RINGMQ_INVALID_ARGUMENT);

    OK(ringmq_unsubscribe(pull));
    OK(ringmq_sub_unsubscribe(push));
    OK(ringmq_unsubscribe(push_ex));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

int main(int argc, char **argv) {
    static const test_case cases[] = {
        {"version_macros_match_the_library", test_version_macros_match_the_library},
        {"default_passes_the_callers_size", test_default_passes_the_callers_size},
        {"structs_of_an_older_header_work", test_structs_of_an_older_header_work},
        {"bad_struct_sizes_are_refused_and_change_nothing",
         test_bad_struct_sizes_are_refused_and_change_nothing},
        {"structs_of_a_newer_header_need_a_zero_tail",
         test_structs_of_a_newer_header_need_a_zero_tail},
        {"old_names_are_the_same_calls", test_old_names_are_the_same_calls},
    };
    return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
