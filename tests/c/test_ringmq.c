/* Tests of the C API against the built library: concurrency with exact
 * accounting, push and pull, retries and dead letters, the overflow
 * policies, stats and metrics, headers, msg_id, delays, ttl, pausing,
 * handler outcomes and the error callback, and every kind of bad input.
 *
 * Build: see scripts/test-c.sh (plain and under ASan+UBSan). */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ringmq.h"
#include "timing.h"

/* ---- helpers ---------------------------------------------------------- */

static ringmq_broker *new_broker(uint32_t workers_max) {
    ringmq_broker_options o;
    ringmq_broker_options_default(&o);
    o.workers_max = workers_max;
    ringmq_broker *b = NULL;
    OK(ringmq_broker_new(&o, &b));
    return b;
}

static ringmq_topic *new_topic(ringmq_broker *b, const char *name, size_t capacity,
                               ringmq_overflow overflow) {
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.capacity = capacity;
    o.overflow = overflow;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 5;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, name, &o, &t));
    return t;
}

static ringmq_sub *pull(ringmq_topic *t, const char *group) {
    ringmq_sub *s = NULL;
    OK(ringmq_topic_subscribe_pull(t, group, NULL, &s));
    return s;
}

static ringmq_sub_stats sub_stats(const ringmq_sub *s) {
    ringmq_sub_stats st;
    memset(&st, 0xff, sizeof st);
    OK(ringmq_sub_get_stats(s, &st));
    return st;
}

static ringmq_topic_stats topic_stats(const ringmq_topic *t) {
    ringmq_topic_stats st;
    memset(&st, 0xff, sizeof st);
    OK(ringmq_topic_get_stats(t, &st));
    return st;
}

/* A push subscription's stats once its counters reach the given values
 * (handlers return before the engine records their outcome), or after 10 s. */
static ringmq_sub_stats push_stats_after(const ringmq_sub *s, uint64_t acked, uint64_t nacked,
                                         uint64_t dead) {
    ringmq_sub_stats st = sub_stats(s);
    for (int waited = 0; waited < 10000; waited += 2) {
        if (st.acked >= acked && st.nacked >= nacked && st.dead_lettered >= dead) break;
        sleep_ms(2);
        st = sub_stats(s);
    }
    return st;
}

/* Polls one message and checks its payload is the text `want`. */
static ringmq_message poll_text(ringmq_sub *s, const char *want) {
    ringmq_message m;
    OK(ringmq_sub_poll(s, 5000, &m));
    CHECK_EQ_U64(m.len, strlen(want));
    CHECK(m.data != NULL && memcmp(m.data, want, m.len) == 0);
    return m;
}

/* ---- version, statuses, defaults ------------------------------------- */

static void test_version_and_statuses(void) {
    char header_version[64];
    snprintf(header_version, sizeof header_version, "%d.%d.%d", RINGMQ_VERSION_MAJOR,
             RINGMQ_VERSION_MINOR, RINGMQ_VERSION_PATCH);
    CHECK(strcmp(ringmq_version(), header_version) == 0);

    /* Fixed numbers: never renumbered. */
    CHECK(RINGMQ_OK == 0 && RINGMQ_INVALID_ARGUMENT == 1 && RINGMQ_FULL == 2 &&
          RINGMQ_TIMEOUT == 3 && RINGMQ_TOO_LARGE == 4 && RINGMQ_NOT_FOUND == 5 &&
          RINGMQ_EXISTS == 6 && RINGMQ_CLOSED == 7 && RINGMQ_EMPTY == 8 &&
          RINGMQ_INTERNAL == 9 && RINGMQ_INTERRUPTED == 10);
    CHECK(strcmp(ringmq_status_str(RINGMQ_OK), "ok") == 0);
    CHECK(strcmp(ringmq_status_str(RINGMQ_FULL), "full") == 0);
    CHECK(strcmp(ringmq_status_str(RINGMQ_INTERNAL), "internal error") == 0);
    CHECK(strcmp(ringmq_status_str((ringmq_status)77), "unknown status") == 0);
    CHECK(strcmp(ringmq_status_str((ringmq_status)-1), "unknown status") == 0);
    CHECK(strcmp(ringmq_status_str(RINGMQ_INTERRUPTED), "interrupted") == 0);
    CHECK(strcmp(ringmq_status_str(RINGMQ_IO), "i/o error") == 0);
    for (int s = 0; s <= 11; s++) CHECK(strcmp(ringmq_status_str((ringmq_status)s), "unknown status") != 0);
}

static void test_option_defaults(void) {
    ringmq_broker_options bo;
    memset(&bo, 0, sizeof bo);
    ringmq_broker_options_default(&bo);
    CHECK_EQ_U64(bo.workers_min, 1);
    CHECK(bo.workers_max >= 1);
    CHECK_EQ_U64(bo.idle_timeout_ms, 30000);

    ringmq_topic_options to;
    memset(&to, 0, sizeof to);
    ringmq_topic_options_default(&to);
    CHECK_EQ_U64(to.capacity, 1024);
    CHECK_EQ_U64(to.slot_size, 256);
    CHECK(to.overflow == RINGMQ_OVERFLOW_BLOCK);
    CHECK_EQ_U64(to.max_attempts, 4);
    CHECK_EQ_U64(to.backoff_base_ms, 100);
    CHECK_EQ_U64(to.backoff_max_ms, 10000);
    CHECK_EQ_U64(to.ack_timeout_ms, 30000);
    CHECK_EQ_U64(to.retry_capacity, 0);

    ringmq_sub_options so;
    memset(&so, 0xff, sizeof so);
    ringmq_sub_options_default(&so);
    CHECK_EQ_U64(so.concurrency, 1);
    CHECK(!so.ordered_by_key && !so.lossy);
    CHECK(so.start == RINGMQ_START_LATEST);

    /* NULL does nothing (and does not crash). */
    ringmq_broker_options_default(NULL);
    ringmq_topic_options_default(NULL);
    ringmq_sub_options_default(NULL);
}

/* ---- 4 publishing threads, two subscriptions, exact accounting -------- */

#define PUBLISHERS 4
#define PER_PUBLISHER 5000
#define TOTAL (PUBLISHERS * PER_PUBLISHER)

typedef struct {
    uint32_t publisher;
    uint32_t seq;
} payload;

typedef struct {
    ringmq_topic *t;
    uint32_t index;
    int failures;
    uint64_t first_id, last_id;
} publisher_arg;

static void *publisher(void *p) {
    publisher_arg *a = p;
    for (uint32_t i = 0; i < PER_PUBLISHER; i++) {
        payload pl = {a->index, i};
        uint64_t id = UINT64_MAX;
        ringmq_status st = ringmq_topic_publish(a->t, &pl, sizeof pl, a->index, -1, &id);
        if (st != RINGMQ_OK) {
            a->failures++;
            continue;
        }
        if (i == 0) a->first_id = id;
        if (i > 0 && id <= a->last_id) a->failures++; /* ids increase per thread */
        a->last_id = id;
    }
    return NULL;
}

typedef struct {
    ringmq_sub *s;
    atomic_int *remaining; /* messages this subscription still expects */
    uint8_t *ids_seen;     /* indexed by id */
    uint8_t *payloads_seen; /* indexed by publisher * PER_PUBLISHER + seq */
    int errors;
    int out_of_order;
    size_t taken;
} consumer_arg;

static void *consumer(void *p) {
    consumer_arg *a = p;
    uint32_t last_seq[PUBLISHERS];
    int seen_any[PUBLISHERS] = {0};
    uint64_t last_id = 0;
    while (atomic_load(a->remaining) > 0) {
        ringmq_message m;
        ringmq_status st = ringmq_sub_poll(a->s, 50, &m);
        if (st == RINGMQ_EMPTY) continue;
        if (st != RINGMQ_OK || m.len != sizeof(payload) || m.id >= TOTAL || m.attempt != 1) {
            a->errors++;
            break;
        }
        payload pl;
        memcpy(&pl, m.data, sizeof pl);
        if (pl.publisher >= PUBLISHERS || pl.seq >= PER_PUBLISHER || m.key != pl.publisher) {
            a->errors++;
            break;
        }
        a->ids_seen[m.id]++;
        a->payloads_seen[pl.publisher * PER_PUBLISHER + pl.seq]++;
        /* Seen by one consumer, each publisher's messages keep their order
         * and ids increase. */
        if (seen_any[pl.publisher] && pl.seq <= last_seq[pl.publisher]) a->out_of_order++;
        if (a->taken > 0 && m.id <= last_id) a->out_of_order++;
        seen_any[pl.publisher] = 1;
        last_seq[pl.publisher] = pl.seq;
        last_id = m.id;
        a->taken++;
        if (ringmq_sub_ack(a->s, m.delivery_tag) != RINGMQ_OK) a->errors++;
        atomic_fetch_sub(a->remaining, 1);
    }
    return NULL;
}

static void test_four_publishers_two_subscriptions_exact(void) {
    ringmq_broker *b = new_broker(2);
    /* A ring far smaller than the traffic: publishers block on the slower
     * subscription and wait for room. */
    ringmq_topic *t = new_topic(b, "telemetry", 256, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *subs[2] = {pull(t, "store"), pull(t, "alerts")};
    atomic_int remaining[2];
    /* "store" has one consumer; "alerts" has two competing ones. */
    consumer_arg cons[3];
    pthread_t cons_threads[3];
    for (int i = 0; i < 3; i++) {
        int sub = i == 0 ? 0 : 1;
        memset(&cons[i], 0, sizeof cons[i]);
        cons[i].s = subs[sub];
        cons[i].remaining = &remaining[sub];
        cons[i].ids_seen = calloc(TOTAL, 1);
        cons[i].payloads_seen = calloc(TOTAL, 1);
    }
    atomic_init(&remaining[0], TOTAL);
    atomic_init(&remaining[1], TOTAL);
    for (int i = 0; i < 3; i++) pthread_create(&cons_threads[i], NULL, consumer, &cons[i]);

    publisher_arg pubs[PUBLISHERS];
    pthread_t pub_threads[PUBLISHERS];
    for (uint32_t i = 0; i < PUBLISHERS; i++) {
        memset(&pubs[i], 0, sizeof pubs[i]);
        pubs[i].t = t;
        pubs[i].index = i;
        pthread_create(&pub_threads[i], NULL, publisher, &pubs[i]);
    }
    for (int i = 0; i < PUBLISHERS; i++) {
        pthread_join(pub_threads[i], NULL);
        CHECK_EQ_U64(pubs[i].failures, 0);
    }
    /* A consumer that failed leaves `remaining` above 0: bound the wait. */
    for (int waited = 0; waited < 30000 && (atomic_load(&remaining[0]) > 0 || atomic_load(&remaining[1]) > 0); waited += 10)
        sleep_ms(10);
    CHECK_EQ_U64(atomic_load(&remaining[0]), 0);
    CHECK_EQ_U64(atomic_load(&remaining[1]), 0);
    atomic_store(&remaining[0], 0);
    atomic_store(&remaining[1], 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(cons_threads[i], NULL);
        CHECK_EQ_U64(cons[i].errors, 0);
    }
    CHECK_EQ_U64(cons[0].out_of_order, 0);
    CHECK_EQ_U64(cons[0].taken, TOTAL);
    CHECK_EQ_U64(cons[1].taken + cons[2].taken, TOTAL);

    /* Every id and every payload exactly once per subscription. */
    size_t bad_store = 0, bad_alerts = 0;
    for (size_t i = 0; i < TOTAL; i++) {
        if (cons[0].ids_seen[i] != 1 || cons[0].payloads_seen[i] != 1) bad_store++;
        if (cons[1].ids_seen[i] + cons[2].ids_seen[i] != 1 ||
            cons[1].payloads_seen[i] + cons[2].payloads_seen[i] != 1)
            bad_alerts++;
    }
    CHECK_EQ_U64(bad_store, 0);
    CHECK_EQ_U64(bad_alerts, 0);

    ringmq_topic_stats ts = topic_stats(t);
    CHECK_EQ_U64(ts.published, TOTAL);
    CHECK_EQ_U64(ts.rejected, 0);
    CHECK_EQ_U64(ts.dropped, 0);
    CHECK_EQ_U64(ts.depth, 0);
    CHECK_EQ_U64(ts.subscriptions, 2);
    for (int i = 0; i < 2; i++) {
        ringmq_sub_stats ss = sub_stats(subs[i]);
        CHECK_EQ_U64(ss.delivered, TOTAL);
        CHECK_EQ_U64(ss.acked, TOTAL);
        CHECK_EQ_U64(ss.nacked, 0);
        CHECK_EQ_U64(ss.in_flight, 0);
        CHECK_EQ_U64(ss.lag, 0);
        CHECK_EQ_U64(ss.latency_count, TOTAL);
        CHECK(ss.latency_p50_ns > 0);
        CHECK(ss.latency_p50_ns <= ss.latency_p99_ns);
        CHECK(ss.latency_p99_ns <= ss.latency_p999_ns);
        CHECK(ss.latency_p999_ns <= ss.latency_max_ns);
    }
    for (int i = 0; i < 3; i++) {
        free(cons[i].ids_seen);
        free(cons[i].payloads_seen);
    }
    OK(ringmq_sub_unsubscribe(subs[0]));
    OK(ringmq_sub_unsubscribe(subs[1]));
    ringmq_topic_release(t);
    OK(ringmq_broker_close(b, 1000));
    ringmq_broker_free(b);
}

/* ---- push and pull on one topic --------------------------------------- */

#define PUSH_N 200

typedef struct {
    atomic_int calls;
    atomic_int acked;           /* calls that returned 0 */
    atomic_int second_attempts; /* calls with attempt 2 */
    atomic_int bad;             /* wrong user_data, payload or attempt */
    atomic_uchar acked_ids[PUSH_N];
    void *self;
} push_state;

/* Fails the first delivery of every fifth message; acks the rest. */
static int32_t push_handler(const ringmq_message *m, void *user_data) {
    push_state *st = user_data;
    atomic_fetch_add(&st->calls, 1);
    if (st->self != user_data || m == NULL || m->id >= PUSH_N || m->len != sizeof(uint64_t) ||
        m->delivery_tag != 0) {
        atomic_fetch_add(&st->bad, 1);
        return 0;
    }
    uint64_t v;
    memcpy(&v, m->data, sizeof v);
    if (v != m->id * 10 || m->key != m->id % 3) atomic_fetch_add(&st->bad, 1);
    if (m->attempt == 2) atomic_fetch_add(&st->second_attempts, 1);
    if (m->id % 5 == 0 && m->attempt == 1) return 42;
    if (m->attempt > 2) atomic_fetch_add(&st->bad, 1);
    atomic_fetch_add(&st->acked_ids[m->id], 1);
    atomic_fetch_add(&st->acked, 1);
    return 0;
}

static void test_push_and_pull(void) {
    ringmq_broker *b = new_broker(2);
    ringmq_topic *t = new_topic(b, "orders", 1024, RINGMQ_OVERFLOW_BLOCK);
    static push_state st; /* zero-initialised */
    memset(&st, 0, sizeof st);
    st.self = &st;
    ringmq_sub_options so;
    ringmq_sub_options_default(&so);
    so.concurrency = 2;
    ringmq_sub *push = NULL;
    OK(ringmq_topic_subscribe(t, "billing", push_handler, &st, &so, &push));
    CHECK(push != NULL);
    ringmq_sub *audit = pull(t, "audit");

    for (uint64_t i = 0; i < PUSH_N; i++) {
        uint64_t v = i * 10, id = 99999;
        OK(ringmq_topic_publish(t, &v, sizeof v, i % 3, -1, &id));
        CHECK_EQ_U64(id, i);
    }
    for (int waited = 0; waited < 20000 && atomic_load(&st.acked) < PUSH_N; waited += 5) sleep_ms(5);
    CHECK_EQ_U64(atomic_load(&st.acked), PUSH_N);
    CHECK_EQ_U64(atomic_load(&st.bad), 0);
    CHECK_EQ_U64(atomic_load(&st.second_attempts), PUSH_N / 5);
    CHECK_EQ_U64(atomic_load(&st.calls), PUSH_N + PUSH_N / 5);
    for (int i = 0; i < PUSH_N; i++) CHECK_EQ_U64(atomic_load(&st.acked_ids[i]), 1);

    ringmq_sub_stats ps = push_stats_after(push, PUSH_N, PUSH_N / 5, 0);
    CHECK_EQ_U64(ps.acked, PUSH_N);
    CHECK_EQ_U64(ps.nacked, PUSH_N / 5);
    CHECK_EQ_U64(ps.retried, PUSH_N / 5);
    CHECK_EQ_U64(ps.dead_lettered, 0);

    /* The pull subscription gets the same messages, in order. */
    for (uint64_t i = 0; i < PUSH_N; i++) {
        ringmq_message m;
        OK(ringmq_sub_poll(audit, 5000, &m));
        uint64_t v = 0;
        CHECK_EQ_U64(m.len, sizeof v);
        memcpy(&v, m.data, sizeof v);
        CHECK_EQ_U64(m.id, i);
        CHECK_EQ_U64(v, i * 10);
        CHECK_EQ_U64(m.key, i % 3);
        CHECK_EQ_U64(m.attempt, 1);
        CHECK(m.timestamp_ns > 1600000000LL * 1000000000LL); /* wall clock */
        OK(ringmq_sub_ack(audit, m.delivery_tag));
    }
    ringmq_message m;
    CHECK_ST(ringmq_sub_poll(audit, 0, &m), RINGMQ_EMPTY);
    CHECK(m.data == NULL && m.len == 0 && m.delivery_tag == 0);

    /* Settling calls do not apply to a push subscription. */
    CHECK_ERR(ringmq_sub_poll(push, 0, &m), RINGMQ_INVALID_ARGUMENT, "push subscription");
    CHECK_ERR(ringmq_sub_ack(push, 1), RINGMQ_INVALID_ARGUMENT, "push subscription");

    OK(ringmq_sub_unsubscribe(push));
    int calls = atomic_load(&st.calls);
    OK(ringmq_topic_publish(t, &(uint64_t){0}, sizeof(uint64_t), 0, -1, NULL));
    sleep_ms(50);
    CHECK_EQ_U64(atomic_load(&st.calls), calls); /* no call after unsubscribe */
    OK(ringmq_sub_unsubscribe(audit));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* ---- retries and the dead-letter topic -------------------------------- */

static void test_pull_retries_and_dlq(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.max_attempts = 3;
    o.backoff_base_ms = 5;
    o.backoff_max_ms = 20;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "jobs", &o, &t));
    ringmq_topic *dlq = NULL;
    OK(ringmq_topic_open(b, "jobs.dlq", &dlq));
    ringmq_sub *dead = pull(dlq, "inspect");
    ringmq_sub *work = pull(t, "workers");

    uint64_t id = 0;
    OK(ringmq_topic_publish(t, "poison", 6, 77, -1, &id));
    ringmq_message m = poll_text(work, "poison");
    CHECK_EQ_U64(m.attempt, 1);
    CHECK_EQ_U64(m.id, id);
    OK(ringmq_sub_nack(work, m.delivery_tag, 1)); /* an explicit delay */
    CHECK_ERR(ringmq_sub_ack(work, m.delivery_tag), RINGMQ_INVALID_ARGUMENT, "unknown or already settled");
    m = poll_text(work, "poison");
    CHECK_EQ_U64(m.attempt, 2);
    CHECK_EQ_U64(m.id, id);
    OK(ringmq_sub_in_progress(work, m.delivery_tag));
    OK(ringmq_sub_nack(work, m.delivery_tag, 0)); /* the topic's backoff */
    m = poll_text(work, "poison");
    CHECK_EQ_U64(m.attempt, 3);
    OK(ringmq_sub_nack(work, m.delivery_tag, 0)); /* third delivery: dead */

    ringmq_message d = poll_text(dead, "poison");
    CHECK_EQ_U64(d.id, id); /* dead letters keep id, key and attempts */
    CHECK_EQ_U64(d.key, 77);
    CHECK_EQ_U64(d.attempt, 3); /* a dead letter keeps its attempt count */
    OK(ringmq_sub_ack(dead, d.delivery_tag));

    /* term: straight to the DLQ on the first attempt. */
    OK(ringmq_topic_publish(t, "bad-format", 10, 0, -1, &id));
    m = poll_text(work, "bad-format");
    OK(ringmq_sub_term(work, m.delivery_tag));
    d = poll_text(dead, "bad-format");
    CHECK_EQ_U64(d.id, id);
    CHECK_EQ_U64(d.attempt, 1);
    OK(ringmq_sub_ack(dead, d.delivery_tag));

    /* Nothing more anywhere. */
    CHECK_ST(ringmq_sub_poll(work, 50, &m), RINGMQ_EMPTY);
    CHECK_ST(ringmq_sub_poll(dead, 0, &m), RINGMQ_EMPTY);

    ringmq_sub_stats ss = sub_stats(work);
    CHECK_EQ_U64(ss.delivered, 4);
    CHECK_EQ_U64(ss.nacked, 3);
    CHECK_EQ_U64(ss.retried, 2);
    CHECK_EQ_U64(ss.dead_lettered, 2);
    CHECK_EQ_U64(ss.termed, 1);
    CHECK_EQ_U64(ss.acked, 0);
    CHECK_EQ_U64(ss.in_flight, 0);
    CHECK_EQ_U64(ss.waiting_retry, 0);
    CHECK_EQ_U64(topic_stats(dlq).published, 2);

    OK(ringmq_sub_unsubscribe(work));
    OK(ringmq_sub_unsubscribe(dead));
    ringmq_topic_release(dlq);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static int32_t always_fail(const ringmq_message *m, void *user_data) {
    (void)m;
    atomic_fetch_add((atomic_int *)user_data, 1);
    return -1;
}

static void test_push_failures_reach_the_dlq(void) {
    ringmq_broker *b = new_broker(2);
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.max_attempts = 2;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 2;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "uploads", &o, &t));
    ringmq_topic *dlq = NULL;
    OK(ringmq_topic_open(b, "uploads.dlq", &dlq));
    ringmq_sub *dead = pull(dlq, "dead");
    static atomic_int calls;
    atomic_store(&calls, 0);
    ringmq_sub *push = NULL;
    OK(ringmq_topic_subscribe(t, "uploader", always_fail, &calls, NULL, &push));
    uint64_t ids[3];
    const char *texts[3] = {"a", "bb", "ccc"};
    for (int i = 0; i < 3; i++) OK(ringmq_topic_publish(t, texts[i], strlen(texts[i]), (uint64_t)i, -1, &ids[i]));
    int seen[3] = {0};
    for (int i = 0; i < 3; i++) {
        ringmq_message d;
        OK(ringmq_sub_poll(dead, 5000, &d));
        CHECK_EQ_U64(d.attempt, 2);
        for (int j = 0; j < 3; j++)
            if (d.id == ids[j] && d.len == strlen(texts[j]) && memcmp(d.data, texts[j], d.len) == 0) seen[j]++;
        OK(ringmq_sub_ack(dead, d.delivery_tag));
    }
    CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    ringmq_sub_stats ss = push_stats_after(push, 0, 6, 3);
    CHECK_EQ_U64(ss.nacked, 6);
    CHECK_EQ_U64(ss.dead_lettered, 3);
    CHECK_EQ_U64(atomic_load(&calls), 6);
    OK(ringmq_sub_unsubscribe(push));
    OK(ringmq_sub_unsubscribe(dead));
    ringmq_topic_release(dlq);
    ringmq_topic_release(t);
    OK(ringmq_broker_close(b, 100));
    ringmq_broker_free(b);
}

/* The reasons and groups of up to three dead letters. */
typedef struct dead_notes {
    char reason[3][128];
    char group[3][32];
} dead_notes;

/* What the DLQ's push handler saw of each dead letter. */
typedef struct dead_seen {
    atomic_int calls;
    atomic_int bad; /* a field that was not as documented */
    dead_notes notes;
} dead_seen;

static int32_t fail_with_3(const ringmq_message *m, void *user_data) {
    (void)m;
    (void)user_data;
    return 3;
}

static int32_t record_dead_letter(const ringmq_message *m, void *user_data) {
    dead_seen *s = user_data;
    if (m->dead_letter_reason == NULL || m->dead_letter_group == NULL ||
        strlen(m->dead_letter_reason) != m->dead_letter_reason_len ||
        strlen(m->dead_letter_group) != m->dead_letter_group_len) {
        atomic_fetch_add(&s->bad, 1);
        return 0;
    }
    int i = atomic_fetch_add(&s->calls, 1);
    if (i < 3) {
        snprintf(s->notes.reason[i], sizeof s->notes.reason[i], "%s", m->dead_letter_reason);
        snprintf(s->notes.group[i], sizeof s->notes.group[i], "%s", m->dead_letter_group);
    }
    return 0;
}

/* The reason of the dead letter from `group` among the first n, or NULL. */
static const char *reason_of(const dead_notes *d, int n, const char *group) {
    for (int i = 0; i < n; i++)
        if (strcmp(d->group[i], group) == 0) return d->reason[i];
    return NULL;
}

static int same_text(const char *got, const char *want) {
    return got != NULL && strcmp(got, want) == 0;
}

static void test_dead_letters_say_why_and_which_group(void) {
    ringmq_broker *b = new_broker(2);
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.max_attempts = 2;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 2;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "payments", &o, &t));
    ringmq_topic *dlq = NULL;
    OK(ringmq_topic_open(b, "payments.dlq", &dlq));
    ringmq_sub *dead = pull(dlq, "dead");
    static dead_seen seen;
    memset(&seen, 0, sizeof seen);
    ringmq_sub *pager = NULL;
    OK(ringmq_topic_subscribe(dlq, "pager", record_dead_letter, &seen, NULL, &pager));
    ringmq_sub *ledger = pull(t, "ledger");
    ringmq_sub *fraud = pull(t, "fraud");
    ringmq_sub *mailer = NULL;
    OK(ringmq_topic_subscribe(t, "mailer", fail_with_3, NULL, NULL, &mailer));

    /* Three groups give up on one message, each its own way. */
    uint64_t id = 0;
    OK(ringmq_topic_publish(t, "pay 7", 5, 0, -1, &id));
    ringmq_message m = poll_text(ledger, "pay 7");
    CHECK(m.dead_letter_reason == NULL && m.dead_letter_reason_len == 0);
    CHECK(m.dead_letter_group == NULL && m.dead_letter_group_len == 0);
    OK(ringmq_sub_term(ledger, m.delivery_tag));
    for (int i = 0; i < 2; i++) {
        m = poll_text(fraud, "pay 7");
        OK(ringmq_sub_nack(fraud, m.delivery_tag, 0));
    }

    dead_notes polled;
    memset(&polled, 0, sizeof polled);
    for (int i = 0; i < 3; i++) {
        ringmq_message d = poll_text(dead, "pay 7");
        CHECK_EQ_U64(d.id, id);
        CHECK(d.dead_letter_reason != NULL && d.dead_letter_group != NULL);
        if (d.dead_letter_reason == NULL || d.dead_letter_group == NULL) break;
        /* NUL-terminated, with the length given too. */
        CHECK_EQ_U64(strlen(d.dead_letter_reason), d.dead_letter_reason_len);
        CHECK_EQ_U64(strlen(d.dead_letter_group), d.dead_letter_group_len);
        snprintf(polled.reason[i], sizeof polled.reason[i], "%s", d.dead_letter_reason);
        snprintf(polled.group[i], sizeof polled.group[i], "%s", d.dead_letter_group);
        OK(ringmq_sub_ack(dead, d.delivery_tag));
    }
    CHECK(same_text(reason_of(&polled, 3, "ledger"), "termed"));
    CHECK(same_text(reason_of(&polled, 3, "fraud"), "failed 2 deliveries (max_attempts 2): nacked"));
    CHECK(same_text(reason_of(&polled, 3, "mailer"),
                    "failed 2 deliveries (max_attempts 2): handler returned 3"));

    /* A push handler on the dead-letter topic sees the same. */
    for (int waited = 0; waited < 10000 && atomic_load(&seen.calls) < 3; waited += 2) sleep_ms(2);
    CHECK_EQ_U64(atomic_load(&seen.calls), 3);
    CHECK_EQ_U64(atomic_load(&seen.bad), 0);
    CHECK(same_text(reason_of(&seen.notes, 3, "fraud"),
                    "failed 2 deliveries (max_attempts 2): nacked"));
    CHECK(same_text(reason_of(&seen.notes, 3, "ledger"), "termed"));
    CHECK(same_text(reason_of(&seen.notes, 3, "mailer"),
                    "failed 2 deliveries (max_attempts 2): handler returned 3"));

    /* A message published into the dead-letter topic itself has no note. */
    OK(ringmq_topic_publish(dlq, "direct", 6, 0, -1, NULL));
    m = poll_text(dead, "direct");
    CHECK(m.dead_letter_reason == NULL && m.dead_letter_group == NULL);
    OK(ringmq_sub_ack(dead, m.delivery_tag));

    OK(ringmq_sub_unsubscribe(mailer));
    OK(ringmq_sub_unsubscribe(pager));
    OK(ringmq_sub_unsubscribe(ledger));
    OK(ringmq_sub_unsubscribe(fraud));
    OK(ringmq_sub_unsubscribe(dead));
    ringmq_topic_release(dlq);
    ringmq_topic_release(t);
    OK(ringmq_broker_close(b, 100));
    ringmq_broker_free(b);
}

static void test_ack_timeout_redelivers(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.ack_timeout_ms = 100;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 1;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "slow", &o, &t));
    ringmq_sub *s = pull(t, "g");
    OK(ringmq_topic_publish(t, "x", 1, 0, -1, NULL));
    ringmq_message first = poll_text(s, "x");
    /* Not settled: it comes back with the next attempt. */
    ringmq_message again = poll_text(s, "x");
    CHECK_EQ_U64(again.id, first.id);
    CHECK_EQ_U64(again.attempt, 2);
    CHECK_ERR(ringmq_sub_ack(s, first.delivery_tag), RINGMQ_INVALID_ARGUMENT, "expired");
    OK(ringmq_sub_ack(s, again.delivery_tag));
    CHECK_ERR(ringmq_sub_ack(s, again.delivery_tag), RINGMQ_INVALID_ARGUMENT, "already settled");
    ringmq_sub_stats ss = sub_stats(s);
    CHECK_EQ_U64(ss.expired, 1);
    CHECK_EQ_U64(ss.acked, 1);
    CHECK_EQ_U64(ss.in_flight, 0);
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* A delivery polled and never settled frees its slot at the ack timeout:
 * producers come round the ring as usual (one forgotten delivery used to
 * wedge the topic for good, with stats saying in_flight 0, lag 0). */
static void test_forgotten_delivery_never_wedges_producers(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.capacity = 4;
    o.ack_timeout_ms = 50;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 1;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "forgetful", &o, &t));
    ringmq_sub *s = pull(t, "g");
    OK(ringmq_topic_publish(t, "x", 1, 0, -1, NULL));
    ringmq_message forgotten = poll_text(s, "x");
    (void)forgotten; /* never settled */
    ringmq_message again = poll_text(s, "x");
    CHECK_EQ_U64(again.attempt, 2);
    OK(ringmq_sub_ack(s, again.delivery_tag));
    for (int lap = 0; lap < 4; lap++) {
        for (int i = 0; i < 4; i++) OK(ringmq_topic_publish(t, "y", 1, 0, 2000, NULL));
        for (int i = 0; i < 4; i++) {
            ringmq_message m = poll_text(s, "y");
            OK(ringmq_sub_ack(s, m.delivery_tag));
        }
    }
    ringmq_sub_stats ss = sub_stats(s);
    CHECK_EQ_U64(ss.in_flight, 0);
    CHECK_EQ_U64(ss.acked, 17);
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* A poll on a lossy subscription whose every credit is held by unsettled
 * deliveries ends by its deadline (it used to spin for ever). */
static void test_lossy_poll_with_every_credit_held_ends_by_its_deadline(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "dash", 4, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub_options so;
    ringmq_sub_options_default(&so);
    so.lossy = true;
    ringmq_sub *s = NULL;
    OK(ringmq_topic_subscribe_pull(t, "dash", &so, &s));
    ringmq_message held[4];
    for (int i = 0; i < 4; i++) OK(ringmq_topic_publish(t, "h", 1, 0, 0, NULL));
    for (int i = 0; i < 4; i++) OK(ringmq_sub_poll(s, 1000, &held[i]));
    OK(ringmq_topic_publish(t, "n", 1, 0, 0, NULL));
    ringmq_message m;
    uint64_t t0 = now_ms();
    CHECK_ST(ringmq_sub_poll(s, 100, &m), RINGMQ_EMPTY);
    uint64_t waited = now_ms() - t0;
    CHECK(waited >= 90 && waited < 2000);
    OK(ringmq_sub_ack(s, held[0].delivery_tag));
    m = poll_text(s, "n");
    OK(ringmq_sub_ack(s, m.delivery_tag));
    for (int i = 1; i < 4; i++) OK(ringmq_sub_ack(s, held[i].delivery_tag));
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

typedef struct {
    ringmq_broker *b;
    _Atomic(ringmq_sub *) self;
    atomic_int calls;
    atomic_int closed_status; /* -1 until the handler's close returned */
} handler_ctl;

static int32_t unsubscribe_myself(const ringmq_message *m, void *user_data) {
    (void)m;
    handler_ctl *c = user_data;
    atomic_fetch_add(&c->calls, 1);
    ringmq_sub *me;
    while ((me = atomic_load(&c->self)) == NULL) sleep_ms(1);
    if (atomic_exchange(&c->self, (ringmq_sub *)(uintptr_t)1) != (ringmq_sub *)(uintptr_t)1)
        CHECK_ST(ringmq_sub_unsubscribe(me), RINGMQ_OK);
    return 0;
}

/* A handler that unsubscribes its own subscription is not called again
 * (it was called for the rest of its batch). */
static void test_a_handler_that_unsubscribes_itself_is_not_called_again(void) {
    ringmq_broker *b = new_broker(2);
    ringmq_topic *t = new_topic(b, "selfish", 64, RINGMQ_OVERFLOW_BLOCK);
    static handler_ctl c;
    atomic_store(&c.calls, 0);
    atomic_store(&c.self, NULL);
    ringmq_sub *s = NULL;
    OK(ringmq_topic_subscribe(t, "self", unsubscribe_myself, &c, NULL, &s));
    ringmq_buf items[32];
    for (int i = 0; i < 32; i++) items[i] = (ringmq_buf){"x", 1};
    OK(ringmq_topic_publish_batch(t, items, 32, 0, -1, NULL));
    atomic_store(&c.self, s);
    for (int waited = 0; atomic_load(&c.calls) == 0 && waited < 5000; waited++) sleep_ms(1);
    sleep_ms(200); /* time for the rest of the batch, were it still called */
    CHECK_EQ_U64(atomic_load(&c.calls), 1);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static int32_t close_from_handler(const ringmq_message *m, void *user_data) {
    (void)m;
    handler_ctl *c = user_data;
    if (atomic_fetch_add(&c->calls, 1) == 0)
        atomic_store(&c->closed_status, (int)ringmq_broker_close(c->b, 1000));
    return 0;
}

/* A close from a push handler while the main thread closes too: neither
 * hangs (they used to deadlock); the handler's answers OK or CLOSED. */
static void test_close_from_a_handler_while_another_close_runs(void) {
    for (int round = 0; round < 10; round++) {
        static handler_ctl c;
        c.b = new_broker(2);
        atomic_store(&c.calls, 0);
        atomic_store(&c.closed_status, -1);
        ringmq_topic *t = new_topic(c.b, "closing", 8, RINGMQ_OVERFLOW_BLOCK);
        ringmq_sub *s = NULL;
        OK(ringmq_topic_subscribe(t, "closer", close_from_handler, &c, NULL, &s));
        OK(ringmq_topic_publish(t, "x", 1, 0, -1, NULL));
        if (round % 2) sleep_ms(1);
        OK(ringmq_broker_close(c.b, 1000));
        for (int waited = 0; atomic_load(&c.closed_status) == -1 && waited < 5000; waited++) sleep_ms(1);
        int st = atomic_load(&c.closed_status);
        CHECK(st == RINGMQ_OK || st == RINGMQ_CLOSED);
        CHECK_ST(ringmq_sub_unsubscribe(s), RINGMQ_CLOSED);
        ringmq_topic_release(t);
        ringmq_broker_free(c.b);
    }
}

static void test_in_progress_extends_the_ack_timer(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.ack_timeout_ms = 1000;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 1;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "long-work", &o, &t));
    ringmq_sub *s = pull(t, "g");
    OK(ringmq_topic_publish(t, "kept", 4, 0, -1, NULL));
    OK(ringmq_topic_publish(t, "lost", 4, 0, -1, NULL));
    ringmq_message kept = poll_text(s, "kept");
    ringmq_message lost = poll_text(s, "lost");
    sleep_ms(600);
    OK(ringmq_sub_in_progress(s, kept.delivery_tag)); /* restarts its timer */
    sleep_ms(600);
    /* 1.2 s after delivery: only the one without in_progress came back. */
    ringmq_message again = poll_text(s, "lost");
    CHECK_EQ_U64(again.id, lost.id);
    CHECK_EQ_U64(again.attempt, 2);
    CHECK(kept.len == 4 && memcmp(kept.data, "kept", 4) == 0); /* still valid */
    OK(ringmq_sub_ack(s, kept.delivery_tag));
    CHECK_ST(ringmq_sub_ack(s, lost.delivery_tag), RINGMQ_INVALID_ARGUMENT);
    OK(ringmq_sub_ack(s, again.delivery_tag));
    ringmq_message none;
    CHECK_ST(ringmq_sub_poll(s, 0, &none), RINGMQ_EMPTY);
    CHECK_EQ_U64(sub_stats(s).expired, 1);
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static void test_sub_options_start_and_lossy(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "opts", 4, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *first = pull(t, "first");
    for (int i = 0; i < 3; i++) OK(ringmq_topic_publish(t, "e", 1, (uint64_t)i, -1, NULL));
    ringmq_sub_options so;
    ringmq_sub_options_default(&so);
    so.start = RINGMQ_START_EARLIEST; /* sees what "first" still holds */
    ringmq_sub *early = NULL;
    OK(ringmq_topic_subscribe_pull(t, "early", &so, &early));
    ringmq_sub *late = pull(t, "late"); /* default: only what comes next */
    ringmq_message m;
    for (uint64_t i = 0; i < 3; i++) {
        OK(ringmq_sub_poll(early, 1000, &m));
        CHECK_EQ_U64(m.id, i);
        OK(ringmq_sub_ack(early, m.delivery_tag));
    }
    CHECK_ST(ringmq_sub_poll(late, 0, &m), RINGMQ_EMPTY);
    OK(ringmq_sub_unsubscribe(first));
    OK(ringmq_sub_unsubscribe(early));
    OK(ringmq_sub_unsubscribe(late));

    /* A lossy subscription never holds producers back. */
    ringmq_sub_options_default(&so);
    so.lossy = true;
    ringmq_sub *dash = NULL;
    OK(ringmq_topic_subscribe_pull(t, "dash", &so, &dash));
    for (int i = 0; i < 12; i++) OK(ringmq_topic_publish(t, "l", 1, 0, 0, NULL));
    int got = 0;
    while (ringmq_sub_poll(dash, 0, &m) == RINGMQ_OK) {
        CHECK(m.id >= 3 + 12 - 4); /* only the newest ring's worth */
        OK(ringmq_sub_ack(dash, m.delivery_tag));
        got++;
    }
    CHECK(got >= 1 && got <= 4);
    CHECK_EQ_U64(sub_stats(dash).dropped, 12 - (uint64_t)got);
    OK(ringmq_sub_unsubscribe(dash));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

#define KEYS 4
#define PER_KEY 60

typedef struct {
    atomic_int running, max_running;
    atomic_int acked;
    atomic_int overtaken; /* a message handled before an earlier one of its key */
    atomic_int next_seq[KEYS];
} ordered_state;

/* Fails the first try of every 7th message; with ordered_by_key the
 * messages after it (same key) must wait for its retry. */
static int32_t ordered_handler(const ringmq_message *m, void *user_data) {
    ordered_state *st = user_data;
    int now = atomic_fetch_add(&st->running, 1) + 1;
    int max = atomic_load(&st->max_running);
    while (now > max && !atomic_compare_exchange_weak(&st->max_running, &max, now)) {
    }
    uint32_t seq;
    memcpy(&seq, m->data, sizeof seq);
    int32_t rc = 0;
    if (m->key >= KEYS || (int)seq != atomic_load(&st->next_seq[m->key])) {
        atomic_fetch_add(&st->overtaken, 1);
    } else if (seq % 7 == 3 && m->attempt == 1) {
        rc = 1;
    } else {
        atomic_fetch_add(&st->next_seq[m->key], 1);
        atomic_fetch_add(&st->acked, 1);
    }
    sleep_ms(seq % 3 == 0 ? 1 : 0);
    atomic_fetch_sub(&st->running, 1);
    return rc;
}

static void test_push_ordered_by_key_and_concurrency(void) {
    ringmq_broker *b = new_broker(4);
    ringmq_topic *t = new_topic(b, "ordered", 1024, RINGMQ_OVERFLOW_BLOCK);
    static ordered_state st;
    memset(&st, 0, sizeof st);
    ringmq_sub_options so;
    ringmq_sub_options_default(&so);
    so.concurrency = 3;
    so.ordered_by_key = true;
    ringmq_sub *s = NULL;
    OK(ringmq_topic_subscribe(t, "ordered", ordered_handler, &st, &so, &s));
    for (uint32_t seq = 0; seq < PER_KEY; seq++)
        for (uint64_t k = 0; k < KEYS; k++) OK(ringmq_topic_publish(t, &seq, sizeof seq, k, -1, NULL));
    for (int waited = 0; waited < 20000 && atomic_load(&st.acked) < KEYS * PER_KEY; waited += 5) sleep_ms(5);
    CHECK_EQ_U64(atomic_load(&st.acked), KEYS * PER_KEY);
    CHECK_EQ_U64(atomic_load(&st.overtaken), 0);
    CHECK(atomic_load(&st.max_running) <= 3);
    ringmq_sub_stats ss = push_stats_after(s, KEYS * PER_KEY, KEYS * ((PER_KEY + 3) / 7), 0);
    CHECK_EQ_U64(ss.acked, KEYS * PER_KEY);
    CHECK_EQ_U64(ss.nacked, KEYS * ((PER_KEY + 3) / 7));
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

#define CHURN_PUBLISHED 20000

typedef struct {
    ringmq_topic *t;
    atomic_int *stop;
    int index;
    int failures;
    int rounds;
    uint64_t taken;
} churn_arg;

static void *churn_publisher(void *p) {
    churn_arg *a = p;
    for (int i = 0; i < CHURN_PUBLISHED / 2; i++) {
        uint32_t v = (uint32_t)i;
        /* Abandoned subscriptions must never hold the ring: a stuck
         * publisher would time out here. */
        if (ringmq_topic_publish(a->t, &v, sizeof v, 0, 10000, NULL) != RINGMQ_OK) a->failures++;
    }
    return NULL;
}

/* Subscribes, takes a few messages (acking some, nacking some, leaving the
 * rest unsettled) and unsubscribes, over and over. */
static void *churn_consumer(void *p) {
    churn_arg *a = p;
    char name[32];
    while (!atomic_load(a->stop)) {
        snprintf(name, sizeof name, "churn-%d-%d", a->index, a->rounds++);
        ringmq_sub *s = NULL;
        ringmq_sub_options o;
        ringmq_sub_options_default(&o);
        o.lossy = a->rounds % 3 == 0;
        if (ringmq_topic_subscribe_pull(a->t, name, &o, &s) != RINGMQ_OK) {
            a->failures++;
            break;
        }
        for (int i = 0; i < 8; i++) {
            ringmq_message m;
            ringmq_status st = ringmq_sub_poll(s, 2, &m);
            if (st == RINGMQ_EMPTY) continue;
            if (st != RINGMQ_OK || m.len != sizeof(uint32_t)) {
                a->failures++;
                break;
            }
            uint32_t v;
            memcpy(&v, m.data, sizeof v); /* readable until settled */
            a->taken++;
            if (i % 3 == 0) {
                if (ringmq_sub_ack(s, m.delivery_tag) != RINGMQ_OK) a->failures++;
            } else if (i % 3 == 1) {
                if (ringmq_sub_nack(s, m.delivery_tag, 1) != RINGMQ_OK) a->failures++;
            } /* else: left unsettled, abandoned by the unsubscribe */
        }
        if (ringmq_sub_unsubscribe(s) != RINGMQ_OK) a->failures++;
    }
    return NULL;
}

static void test_subscription_churn_while_publishing(void) {
    ringmq_broker *b = new_broker(2);
    ringmq_topic *t = new_topic(b, "churn", 64, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *steady = pull(t, "steady");
    atomic_int stop;
    atomic_init(&stop, 0);
    churn_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].t = t;
        args[i].stop = &stop;
        args[i].index = i;
        pthread_create(&th[i], NULL, i < 2 ? churn_publisher : churn_consumer, &args[i]);
    }
    /* A steady consumer takes everything, exactly once. */
    uint64_t got = 0;
    int bad = 0;
    while (got < CHURN_PUBLISHED) {
        ringmq_message m;
        ringmq_status st = ringmq_sub_poll(steady, 10000, &m);
        if (st != RINGMQ_OK) {
            bad++;
            break;
        }
        if (m.id != got || m.attempt != 1) bad++;
        got++;
        if (ringmq_sub_ack(steady, m.delivery_tag) != RINGMQ_OK) bad++;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_U64(args[i].failures, 0);
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(got, CHURN_PUBLISHED);
    CHECK(args[2].rounds > 0 && args[3].rounds > 0);
    CHECK_EQ_U64(topic_stats(t).subscriptions, 1);
    fprintf(stderr, "  churn: %d + %d subscriptions came and went, taking %llu messages\n",
            args[2].rounds, args[3].rounds, (unsigned long long)(args[2].taken + args[3].taken));
    OK(ringmq_sub_unsubscribe(steady));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* ---- overflow policies ------------------------------------------------- */

static void test_overflow_reject(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "r", 4, RINGMQ_OVERFLOW_REJECT);
    ringmq_sub *s = pull(t, "g");
    for (int i = 0; i < 4; i++) OK(ringmq_topic_publish(t, "m", 1, 0, -1, NULL));
    /* Even with "wait for ever", reject answers FULL at once. */
    CHECK_ERR(ringmq_topic_publish(t, "m", 1, 0, -1, NULL), RINGMQ_FULL, "full");
    CHECK_ST(ringmq_topic_publish(t, "m", 1, 0, 0, NULL), RINGMQ_FULL);
    ringmq_buf two[2] = {{"a", 1}, {"b", 1}};
    CHECK_ST(ringmq_topic_publish_batch(t, two, 2, 0, -1, NULL), RINGMQ_FULL);
    ringmq_topic_stats ts = topic_stats(t);
    CHECK_EQ_U64(ts.published, 4);
    CHECK_EQ_U64(ts.rejected, 4);
    CHECK_EQ_U64(ts.depth, 4);
    ringmq_message m;
    OK(ringmq_sub_poll(s, 1000, &m));
    OK(ringmq_sub_ack(s, m.delivery_tag));
    OK(ringmq_topic_publish(t, "m", 1, 0, 0, NULL)); /* room again */
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

typedef struct {
    ringmq_topic *t;
    ringmq_status st;
} blocked_publish;

static void *publish_waiting(void *p) {
    blocked_publish *a = p;
    a->st = ringmq_topic_publish(a->t, "late", 4, 0, 10000, NULL);
    return NULL;
}

static void test_overflow_block(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "bl", 4, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *s = pull(t, "g");
    for (int i = 0; i < 4; i++) OK(ringmq_topic_publish(t, "m", 1, 0, -1, NULL));
    CHECK_ERR(ringmq_topic_publish(t, "m", 1, 0, 30, NULL), RINGMQ_TIMEOUT, "stayed full");
    CHECK_ST(ringmq_topic_publish(t, "m", 1, 0, 0, NULL), RINGMQ_TIMEOUT);
    CHECK_EQ_U64(topic_stats(t).timed_out, 2);
    /* A blocked publisher proceeds once a slot is acked. */
    blocked_publish bp = {t, RINGMQ_INTERNAL};
    pthread_t th;
    pthread_create(&th, NULL, publish_waiting, &bp);
    sleep_ms(20);
    ringmq_message m;
    OK(ringmq_sub_poll(s, 1000, &m));
    OK(ringmq_sub_ack(s, m.delivery_tag));
    pthread_join(th, NULL);
    CHECK_ST(bp.st, RINGMQ_OK);
    CHECK_EQ_U64(topic_stats(t).published, 5);
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static void test_overflow_drop_oldest(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "d", 4, RINGMQ_OVERFLOW_DROP_OLDEST);
    ringmq_sub *s = pull(t, "dash");
    for (int i = 0; i < 10; i++) {
        char c = (char)('0' + i);
        OK(ringmq_topic_publish(t, &c, 1, 0, 0, NULL)); /* never waits */
    }
    /* The newest 4 are kept; the 6 before them were overwritten. */
    for (int i = 6; i < 10; i++) {
        ringmq_message m;
        OK(ringmq_sub_poll(s, 1000, &m));
        CHECK_EQ_U64(m.id, (uint64_t)i);
        CHECK(m.len == 1 && m.data[0] == '0' + i);
        OK(ringmq_sub_ack(s, m.delivery_tag));
    }
    ringmq_message m;
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_EMPTY);
    CHECK_EQ_U64(sub_stats(s).dropped, 6);
    ringmq_topic_stats ts = topic_stats(t);
    CHECK_EQ_U64(ts.dropped, 6);
    CHECK_EQ_U64(ts.published, 10);
    CHECK_EQ_U64(ts.rejected, 0);
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* ---- batches, stats, metrics ------------------------------------------ */

static void test_batch_publish_and_poll(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "batch", 64, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *s = pull(t, "g");
    OK(ringmq_topic_publish(t, NULL, 0, 0, -1, NULL)); /* an empty payload is fine */
    ringmq_buf items[5] = {{"one", 3}, {"two", 3}, {NULL, 0}, {"four", 4}, {"five", 4}};
    uint64_t first = 0;
    OK(ringmq_topic_publish_batch(t, items, 5, 9, -1, &first));
    CHECK_EQ_U64(first, 1);
    OK(ringmq_topic_publish_batch(t, NULL, 0, 0, -1, NULL)); /* empty batch */
    ringmq_message ms[8];
    uint64_t tags[9];
    size_t n = 0, got = 0;
    while (got < 6) {
        OK(ringmq_sub_poll_batch(s, 8, 1000, ms, &n));
        CHECK(n >= 1 && n <= 6 - got);
        if (n == 0) break;
        for (size_t i = 0; i < n; i++) {
            CHECK_EQ_U64(ms[i].id, got + i);
            if (ms[i].id >= 1) {
                const ringmq_buf *want = &items[ms[i].id - 1];
                CHECK_EQ_U64(ms[i].len, want->len);
                CHECK(want->len == 0 || memcmp(ms[i].data, want->data, want->len) == 0);
                CHECK_EQ_U64(ms[i].key, 9);
            } else {
                CHECK_EQ_U64(ms[i].len, 0);
            }
            tags[i + 1] = ms[i].delivery_tag;
        }
        /* One bogus tag first: it fails, the rest are still acked. */
        tags[0] = 987654321;
        CHECK_ERR(ringmq_sub_ack_batch(s, tags, n + 1), RINGMQ_INVALID_ARGUMENT, "tags[0]");
        CHECK_ERR(ringmq_sub_ack_batch(s, tags + 1, n), RINGMQ_INVALID_ARGUMENT, "already settled");
        got += n;
    }
    CHECK_EQ_U64(got, 6);
    CHECK_EQ_U64(sub_stats(s).acked, 6);
    CHECK_EQ_U64(sub_stats(s).in_flight, 0);
    OK(ringmq_sub_ack_batch(s, NULL, 0));
    CHECK_ERR(ringmq_sub_ack_batch(s, NULL, 2), RINGMQ_INVALID_ARGUMENT, "tags");
    CHECK_ST(ringmq_sub_ack_batch(NULL, tags, 1), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_poll_batch(s, 8, 0, ms, &n), RINGMQ_EMPTY);
    CHECK_EQ_U64(n, 0);
    CHECK_ERR(ringmq_sub_poll_batch(s, 0, 0, ms, &n), RINGMQ_INVALID_ARGUMENT, "max 0");
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static void test_stats_and_metrics(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "metered", 16, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *s = pull(t, "reader");
    for (int i = 0; i < 5; i++) OK(ringmq_topic_publish(t, "abc", 3, 0, -1, NULL));
    ringmq_topic_stats ts = topic_stats(t);
    CHECK_EQ_U64(ts.published, 5);
    CHECK_EQ_U64(ts.depth, 5);
    CHECK_EQ_U64(ts.capacity, 16);
    CHECK_EQ_U64(ts.subscriptions, 1);
    ringmq_sub_stats ss = sub_stats(s);
    CHECK_EQ_U64(ss.lag, 5);
    CHECK_EQ_U64(ss.delivered, 0);
    ringmq_message m[3];
    for (int i = 0; i < 3; i++) OK(ringmq_sub_poll(s, 1000, &m[i]));
    ss = sub_stats(s);
    CHECK_EQ_U64(ss.delivered, 3);
    CHECK_EQ_U64(ss.in_flight, 3);
    CHECK_EQ_U64(ss.lag, 2);
    sleep_ms(2);
    for (int i = 0; i < 3; i++) OK(ringmq_sub_ack(s, m[i].delivery_tag));
    ss = sub_stats(s);
    CHECK_EQ_U64(ss.acked, 3);
    CHECK_EQ_U64(ss.in_flight, 0);
    CHECK_EQ_U64(ss.latency_count, 3);
    CHECK(ss.latency_p50_ns >= 1000000); /* at least the 2 ms slept */
    CHECK(ss.latency_max_ns >= ss.latency_p99_ns && ss.latency_sum_ns >= 3 * 1000000ULL);
    CHECK_EQ_U64(topic_stats(t).depth, 2);

    ringmq_pool_stats ps;
    OK(ringmq_broker_get_pool_stats(b, &ps));
    CHECK_EQ_U64(ps.panics, 0);
    CHECK(ps.utilisation >= 0.0 && ps.utilisation <= 1.0);

    /* Ask for the size, then fetch. */
    size_t needed = 0;
    CHECK_ERR(ringmq_broker_metrics_text(b, NULL, 0, &needed), RINGMQ_TOO_LARGE, "bytes");
    CHECK(needed > 100);
    char small[8] = "unused";
    size_t needed2 = 0;
    CHECK_ST(ringmq_broker_metrics_text(b, small, sizeof small, &needed2), RINGMQ_TOO_LARGE);
    CHECK_EQ_U64(needed2, needed);
    CHECK(strcmp(small, "unused") == 0); /* left untouched */
    char *buf = malloc(needed + 64);
    size_t needed3 = 0;
    OK(ringmq_broker_metrics_text(b, buf, needed + 64, &needed3));
    CHECK_EQ_U64(strlen(buf) + 1, needed3);
    CHECK(strstr(buf, "metered") != NULL);
    CHECK(strstr(buf, "reader") != NULL);
    CHECK(strstr(buf, "# TYPE") != NULL);
    free(buf);
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static void test_unsubscribe_releases_the_ring(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "held", 4, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *s = pull(t, "slow");
    for (int i = 0; i < 4; i++) OK(ringmq_topic_publish(t, "m", 1, 0, -1, NULL));
    ringmq_message m;
    OK(ringmq_sub_poll(s, 1000, &m)); /* left unsettled */
    CHECK_ST(ringmq_topic_publish(t, "m", 1, 0, 0, NULL), RINGMQ_TIMEOUT);
    OK(ringmq_sub_unsubscribe(s)); /* abandons the delivery */
    OK(ringmq_topic_publish(t, "m", 1, 0, 0, NULL));
    CHECK_EQ_U64(topic_stats(t).subscriptions, 0);
    /* The group name is free again. */
    s = pull(t, "slow");
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* ---- bad input ---------------------------------------------------------- */

static int32_t noop_handler(const ringmq_message *m, void *user_data) {
    (void)m;
    (void)user_data;
    return 0;
}

static void test_bad_input(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.slot_size = 8;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "bad", &o, &t));
    ringmq_sub *s = pull(t, "g");
    ringmq_topic *tx = (ringmq_topic *)1; /* must be reset on failure */
    ringmq_sub *sx = (ringmq_sub *)1;
    ringmq_broker *bx = (ringmq_broker *)1;
    ringmq_message m;
    uint64_t id;
    size_t n;

    /* NULL handles and out pointers. */
    CHECK_ERR(ringmq_broker_new(NULL, NULL), RINGMQ_INVALID_ARGUMENT, "out is NULL");
    CHECK_ERR(ringmq_broker_close(NULL, 0), RINGMQ_INVALID_ARGUMENT, "b is NULL");
    CHECK_ST(ringmq_topic_create(NULL, "x", NULL, &tx), RINGMQ_INVALID_ARGUMENT);
    CHECK(tx == NULL);
    CHECK_ST(ringmq_topic_create(b, "x", NULL, NULL), RINGMQ_INVALID_ARGUMENT);
    CHECK_ERR(ringmq_topic_open(b, "x", NULL), RINGMQ_INVALID_ARGUMENT, "out is NULL");
    CHECK_ST(ringmq_topic_open(NULL, "bad", &tx), RINGMQ_INVALID_ARGUMENT);
    CHECK_ERR(ringmq_topic_publish(NULL, "a", 1, 0, 0, NULL), RINGMQ_INVALID_ARGUMENT, "t is NULL");
    CHECK_ERR(ringmq_topic_publish(t, NULL, 3, 0, 0, NULL), RINGMQ_INVALID_ARGUMENT, "data");
    CHECK_ERR(ringmq_topic_publish_batch(t, NULL, 2, 0, 0, NULL), RINGMQ_INVALID_ARGUMENT, "items");
    ringmq_buf holes[2] = {{"a", 1}, {NULL, 5}};
    CHECK_ERR(ringmq_topic_publish_batch(t, holes, 2, 0, 0, NULL), RINGMQ_INVALID_ARGUMENT, "items[1]");
    CHECK_ST(ringmq_topic_subscribe_pull(NULL, "g2", NULL, &sx), RINGMQ_INVALID_ARGUMENT);
    CHECK(sx == NULL);
    CHECK_ST(ringmq_topic_subscribe_pull(t, "g2", NULL, NULL), RINGMQ_INVALID_ARGUMENT);
    CHECK_ERR(ringmq_topic_subscribe(t, "g3", NULL, NULL, NULL, &sx), RINGMQ_INVALID_ARGUMENT, "h is NULL");
    CHECK_ST(ringmq_topic_subscribe(NULL, "g3", noop_handler, NULL, NULL, &sx), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_topic_subscribe(t, "g3", noop_handler, NULL, NULL, NULL), RINGMQ_INVALID_ARGUMENT);
    CHECK_ERR(ringmq_sub_poll(NULL, 0, &m), RINGMQ_INVALID_ARGUMENT, "s is NULL");
    CHECK_ERR(ringmq_sub_poll(s, 0, NULL), RINGMQ_INVALID_ARGUMENT, "out is NULL");
    CHECK_ST(ringmq_sub_poll_batch(s, 4, 0, NULL, &n), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_poll_batch(s, 4, 0, &m, NULL), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_ack(NULL, 1), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_nack(NULL, 1, 0), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_term(NULL, 1), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_in_progress(NULL, 1), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_unsubscribe(NULL), RINGMQ_INVALID_ARGUMENT);
    ringmq_topic_stats ts;
    ringmq_sub_stats ss;
    ringmq_pool_stats ps;
    CHECK_ST(ringmq_topic_get_stats(NULL, &ts), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_topic_get_stats(t, NULL), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_get_stats(NULL, &ss), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_get_stats(s, NULL), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_broker_get_pool_stats(NULL, &ps), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_broker_get_pool_stats(b, NULL), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_broker_metrics_text(NULL, NULL, 0, &n), RINGMQ_INVALID_ARGUMENT);
    CHECK_ERR(ringmq_broker_metrics_text(b, NULL, 0, NULL), RINGMQ_INVALID_ARGUMENT, "needed is NULL");
    CHECK_ERR(ringmq_broker_metrics_text(b, NULL, 10, &n), RINGMQ_INVALID_ARGUMENT, "buf is NULL");
    ringmq_broker_free(NULL);
    ringmq_topic_release(NULL);

    /* Oversize payloads. */
    CHECK_ERR(ringmq_topic_publish(t, "123456789", 9, 0, 0, NULL), RINGMQ_TOO_LARGE, "slot_size 8");
    OK(ringmq_topic_publish(t, "12345678", 8, 0, 0, NULL));
    ringmq_buf big[2] = {{"ok", 2}, {"123456789", 9}};
    CHECK_ST(ringmq_topic_publish_batch(t, big, 2, 0, 0, NULL), RINGMQ_TOO_LARGE);

    /* Bad options. */
    ringmq_topic_options bad = o;
    bad.capacity = 0;
    CHECK_ERR(ringmq_topic_create(b, "c0", &bad, &tx), RINGMQ_INVALID_ARGUMENT, "capacity 0");
    bad.capacity = 1000;
    CHECK_ERR(ringmq_topic_create(b, "c1000", &bad, &tx), RINGMQ_INVALID_ARGUMENT, "power of two");
    CHECK(tx == NULL);
    bad = o;
    bad.overflow = (ringmq_overflow)7;
    CHECK_ERR(ringmq_topic_create(b, "ov", &bad, &tx), RINGMQ_INVALID_ARGUMENT, "overflow 7");
    bad = o;
    bad.max_attempts = 0;
    CHECK_ERR(ringmq_topic_create(b, "ma", &bad, &tx), RINGMQ_INVALID_ARGUMENT, "max_attempts");
    bad = o;
    bad.slot_size = 0;
    CHECK_ERR(ringmq_topic_create(b, "ss", &bad, &tx), RINGMQ_INVALID_ARGUMENT, "slot_size");
    ringmq_sub_options so;
    ringmq_sub_options_default(&so);
    so.start = (ringmq_start)5;
    CHECK_ERR(ringmq_topic_subscribe_pull(t, "st", &so, &sx), RINGMQ_INVALID_ARGUMENT, "start 5");
    ringmq_sub_options_default(&so);
    so.concurrency = 0;
    CHECK_ERR(ringmq_topic_subscribe(t, "cc", noop_handler, NULL, &so, &sx), RINGMQ_INVALID_ARGUMENT, "concurrency");
    ringmq_broker_options bo;
    ringmq_broker_options_default(&bo);
    bo.workers_max = 0;
    CHECK_ERR(ringmq_broker_new(&bo, &bx), RINGMQ_INVALID_ARGUMENT, "workers_max");
    CHECK(bx == NULL);
    ringmq_broker_options_default(&bo);
    bo.workers_min = bo.workers_max + 1;
    CHECK_ST(ringmq_broker_new(&bo, &bx), RINGMQ_INVALID_ARGUMENT);
    CHECK_ERR(ringmq_topic_publish(t, "a", 1, 0, -2, NULL), RINGMQ_INVALID_ARGUMENT, "timeout_ms -2");
    CHECK_ST(ringmq_sub_poll(s, -5, &m), RINGMQ_INVALID_ARGUMENT);

    /* Names: NULL, empty, too long, invalid UTF-8, control characters. */
    char long_name[300];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK_ERR(ringmq_topic_create(b, NULL, NULL, &tx), RINGMQ_INVALID_ARGUMENT, "topic name is NULL");
    CHECK_ERR(ringmq_topic_create(b, "", NULL, &tx), RINGMQ_INVALID_ARGUMENT, "empty");
    CHECK_ERR(ringmq_topic_create(b, long_name, NULL, &tx), RINGMQ_INVALID_ARGUMENT, "longer than");
    long_name[252] = '\0'; /* 252 bytes: its ".dlq" would be 256 */
    CHECK_ERR(ringmq_topic_create(b, long_name, NULL, &tx), RINGMQ_INVALID_ARGUMENT, "dead-letter");
    long_name[251] = '\0'; /* 251 bytes: the longest that fits */
    OK(ringmq_topic_create(b, long_name, NULL, &tx));
    ringmq_topic_release(tx);
    CHECK_ERR(ringmq_topic_create(b, "caf\xc3", NULL, &tx), RINGMQ_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERR(ringmq_topic_create(b, "\xff\xfe", NULL, &tx), RINGMQ_INVALID_ARGUMENT, "UTF-8");
    CHECK_ERR(ringmq_topic_create(b, "tab\there", NULL, &tx), RINGMQ_INVALID_ARGUMENT, "control");
    OK(ringmq_topic_create(b, "caf\xc3\xa9", NULL, &tx)); /* valid UTF-8 */
    ringmq_topic_release(tx);
    CHECK_ERR(ringmq_topic_open(b, "", &tx), RINGMQ_INVALID_ARGUMENT, "empty");
    CHECK_ERR(ringmq_topic_subscribe_pull(t, NULL, NULL, &sx), RINGMQ_INVALID_ARGUMENT, "group name is NULL");
    CHECK_ERR(ringmq_topic_subscribe_pull(t, "", NULL, &sx), RINGMQ_INVALID_ARGUMENT, "group name is empty");
    memset(long_name, 'g', 256);
    long_name[256] = '\0';
    CHECK_ERR(ringmq_topic_subscribe_pull(t, long_name, NULL, &sx), RINGMQ_INVALID_ARGUMENT, "longer than");
    CHECK_ERR(ringmq_topic_subscribe(t, "\xc0\x80", noop_handler, NULL, NULL, &sx), RINGMQ_INVALID_ARGUMENT, "UTF-8");
    long_name[255] = '\0';
    OK(ringmq_topic_subscribe_pull(t, long_name, NULL, &sx)); /* 255 bytes is fine */
    OK(ringmq_sub_unsubscribe(sx));

    /* Unknown and duplicate names. */
    CHECK_ERR(ringmq_topic_open(b, "nope", &tx), RINGMQ_NOT_FOUND, "nope");
    CHECK(tx == NULL);
    CHECK_ERR(ringmq_topic_create(b, "bad", NULL, &tx), RINGMQ_EXISTS, "already exists");
    CHECK_ERR(ringmq_topic_create(b, "bad.dlq", NULL, &tx), RINGMQ_EXISTS, "already exists");
    CHECK_ERR(ringmq_topic_subscribe_pull(t, "g", NULL, &sx), RINGMQ_EXISTS, "already exists");
    CHECK_ST(ringmq_topic_subscribe(t, "g", noop_handler, NULL, NULL, &sx), RINGMQ_EXISTS);

    /* Settling tags that are unknown or settled. */
    CHECK_ERR(ringmq_sub_ack(s, 12345), RINGMQ_INVALID_ARGUMENT, "unknown");
    CHECK_ST(ringmq_sub_nack(s, 12345, 0), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_term(s, 12345), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_in_progress(s, 12345), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_ack(s, UINT64_MAX), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_nack(s, (1ULL << 63) | 5, 0), RINGMQ_INVALID_ARGUMENT);
    OK(ringmq_sub_poll(s, 1000, &m));
    OK(ringmq_sub_ack(s, m.delivery_tag));
    CHECK_ST(ringmq_sub_ack(s, m.delivery_tag), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_nack(s, m.delivery_tag, 0), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_sub_term(s, m.delivery_tag), RINGMQ_INVALID_ARGUMENT);

    /* Nothing above changed anything. */
    ringmq_topic_stats after = topic_stats(t);
    CHECK_EQ_U64(after.published, 1);
    CHECK_EQ_U64(after.subscriptions, 1);
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_EMPTY);

    /* The last error is per thread and kept across successes. */
    CHECK_ST(ringmq_topic_open(b, "missing-topic", &tx), RINGMQ_NOT_FOUND);
    OK(ringmq_topic_publish(t, "ok", 2, 0, 0, &id));
    CHECK(strstr(ringmq_last_error(), "ringmq_topic_open") != NULL);
    CHECK(strstr(ringmq_last_error(), "missing-topic") != NULL);

    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static void *last_error_elsewhere(void *p) {
    (void)p;
    /* A fresh thread has no last error yet. */
    return (void *)(uintptr_t)(ringmq_last_error()[0] == '\0');
}

static void test_last_error_is_per_thread(void) {
    CHECK_ST(ringmq_broker_close(NULL, 0), RINGMQ_INVALID_ARGUMENT);
    pthread_t th;
    void *fresh = NULL;
    pthread_create(&th, NULL, last_error_elsewhere, NULL);
    pthread_join(th, &fresh);
    CHECK(fresh == (void *)1);
    CHECK(strstr(ringmq_last_error(), "ringmq_broker_close") != NULL);
}

static void test_calls_after_close(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "closing", 8, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *s = pull(t, "g");
    static atomic_int calls;
    ringmq_sub *push = NULL;
    OK(ringmq_topic_subscribe(t, "p", always_fail, &calls, NULL, &push));
    OK(ringmq_topic_publish(t, "x", 1, 0, -1, NULL));
    ringmq_message m;
    OK(ringmq_sub_poll(s, 1000, &m));
    OK(ringmq_broker_close(b, 50));
    OK(ringmq_broker_close(b, 50)); /* idempotent */
    ringmq_topic *tx = NULL;
    ringmq_sub *sx = NULL;
    CHECK_ERR(ringmq_topic_publish(t, "x", 1, 0, -1, NULL), RINGMQ_CLOSED, "closed");
    ringmq_buf one = {"x", 1};
    CHECK_ST(ringmq_topic_publish_batch(t, &one, 1, 0, -1, NULL), RINGMQ_CLOSED);
    CHECK_ST(ringmq_topic_create(b, "new", NULL, &tx), RINGMQ_CLOSED);
    CHECK_ST(ringmq_topic_open(b, "closing", &tx), RINGMQ_CLOSED);
    CHECK_ST(ringmq_topic_subscribe_pull(t, "g2", NULL, &sx), RINGMQ_CLOSED);
    CHECK_ST(ringmq_topic_subscribe(t, "p2", noop_handler, NULL, NULL, &sx), RINGMQ_CLOSED);
    uint64_t tag = m.delivery_tag;
    CHECK_ST(ringmq_sub_poll(s, 100, &m), RINGMQ_CLOSED);
    /* A settle after close answers CLOSED and changes no counter; so does a
     * made-up tag. */
    CHECK_ST(ringmq_sub_ack(s, tag), RINGMQ_CLOSED);
    CHECK_ST(ringmq_sub_nack(s, tag + 1000, 0), RINGMQ_CLOSED);
    ringmq_sub_stats after = sub_stats(s);
    CHECK_EQ_U64(after.acked, 0);
    CHECK_EQ_U64(after.nacked, 0);
    /* Stats and metrics stay readable. */
    ringmq_topic_stats ts = topic_stats(t);
    CHECK_EQ_U64(ts.published, 1);
    size_t needed = 0;
    CHECK_ST(ringmq_broker_metrics_text(b, NULL, 0, &needed), RINGMQ_TOO_LARGE);
    /* After close, unsubscribe answers CLOSED (and still frees the handle). */
    CHECK_ST(ringmq_sub_unsubscribe(s), RINGMQ_CLOSED);
    CHECK_ST(ringmq_sub_unsubscribe(push), RINGMQ_CLOSED);
    ringmq_broker_free(b);
    /* A topic handle outlives its broker safely. */
    CHECK_ST(ringmq_topic_publish(t, "x", 1, 0, 0, NULL), RINGMQ_CLOSED);
    ringmq_topic_release(t);
}

/* ---- durable topics ----------------------------------------------------- */

static ringmq_broker *durable_broker(const char *dir, ringmq_status *st) {
    ringmq_broker_options o;
    ringmq_broker_options_default(&o);
    CHECK(o.data_dir == NULL && !o.repair);
    o.workers_max = 2;
    o.data_dir = dir;
    ringmq_broker *b = NULL;
    *st = ringmq_broker_new(&o, &b);
    return b;
}

static void durable_options(ringmq_topic_options *o) {
    ringmq_topic_options_default(o);
    CHECK(!o->durable && o->fsync == RINGMQ_FSYNC_BATCH && o->fsync_interval_ms == 50);
    CHECK(o->segment_bytes == 64u << 20 && o->max_bytes == 0);
    o->capacity = 16;
    o->durable = true;
    o->segment_bytes = 4096;
}

static void test_durable_topic_survives_its_broker(void) {
    char dir[] = "/tmp/ringmq-c-durable-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    ringmq_status st;
    ringmq_broker *b = durable_broker(dir, &st);
    OK(st);
    ringmq_topic_options o;
    durable_options(&o);
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "jobs", &o, &t));
    ringmq_sub *g = pull(t, "workers");
    /* A second broker on the same directory is refused. */
    ringmq_status st2;
    ringmq_broker *b2 = durable_broker(dir, &st2);
    CHECK(b2 == NULL);
    CHECK_ST(st2, RINGMQ_EXISTS);
    CHECK(strstr(ringmq_last_error(), "in use") != NULL);
    /* 100 messages, more than the ring holds, with a header each. */
    for (int i = 0; i < 100; i++) {
        char body[16], hv[16];
        snprintf(body, sizeof body, "job %d", i);
        snprintf(hv, sizeof hv, "h%d", i);
        ringmq_header h = {"n", 1, (const uint8_t *)hv, strlen(hv)};
        ringmq_publish_options po;
        ringmq_publish_options_default(&po);
        po.key = (uint64_t)i;
        po.headers = &h;
        po.header_count = 1;
        uint64_t id = 0;
        OK(ringmq_topic_publish_ex(t, body, strlen(body), &po, &id));
        CHECK_EQ_U64(id, (uint64_t)i);
    }
    /* The group acks the first 30 and holds the 31st. */
    for (int i = 0; i < 30; i++) {
        ringmq_message m;
        OK(ringmq_sub_poll(g, 5000, &m));
        CHECK_EQ_U64(m.id, (uint64_t)i);
        OK(ringmq_sub_ack(g, m.delivery_tag));
    }
    ringmq_message held;
    OK(ringmq_sub_poll(g, 5000, &held));
    CHECK_EQ_U64(held.id, 30);
    ringmq_topic_stats ts = topic_stats(t);
    CHECK(ts.log_bytes > 4096 && ts.log_segments >= 2);
    /* A delayed message is refused on a durable topic. */
    ringmq_publish_options later;
    ringmq_publish_options_default(&later);
    later.delay_ms = 10;
    CHECK_ERR(ringmq_topic_publish_ex(t, "x", 1, &later, NULL), RINGMQ_INVALID_ARGUMENT, "delay");
    OK(ringmq_broker_close(b, 0));
    CHECK_ST(ringmq_sub_unsubscribe(g), RINGMQ_CLOSED);
    ringmq_topic_release(t);
    ringmq_broker_free(b);

    /* Reopened: the topic is back; the group resumes at the held one. */
    b = durable_broker(dir, &st);
    OK(st);
    OK(ringmq_topic_open(b, "jobs", &t));
    g = pull(t, "workers");
    for (int i = 30; i < 100; i++) {
        ringmq_message m;
        OK(ringmq_sub_poll(g, 5000, &m));
        CHECK_EQ_U64(m.id, (uint64_t)i);
        CHECK_EQ_U64(m.key, (uint64_t)i);
        CHECK(m.attempt == (i == 30 ? 2u : 1u));
        char want[16], hv[16];
        snprintf(want, sizeof want, "job %d", i);
        snprintf(hv, sizeof hv, "h%d", i);
        CHECK(m.len == strlen(want) && memcmp(m.data, want, m.len) == 0);
        const uint8_t *v = NULL;
        size_t vlen = 0;
        OK(ringmq_message_header_get(&m, "n", 1, &v, &vlen));
        CHECK(vlen == strlen(hv) && memcmp(v, hv, vlen) == 0);
        OK(ringmq_sub_ack(g, m.delivery_tag));
    }
    ringmq_message none;
    CHECK_ST(ringmq_sub_poll(g, 50, &none), RINGMQ_EMPTY);
    uint64_t id = 0;
    OK(ringmq_topic_publish(t, "next", 4, 0, -1, &id));
    CHECK_EQ_U64(id, 100);
    /* Bad durable options: refused, nothing made. */
    ringmq_topic *bad = NULL;
    durable_options(&o);
    o.fsync = 9;
    CHECK_ERR(ringmq_topic_create(b, "bad", &o, &bad), RINGMQ_INVALID_ARGUMENT, "RINGMQ_FSYNC_");
    durable_options(&o);
    o.max_bytes = 4096;
    CHECK_ERR(ringmq_topic_create(b, "bad", &o, &bad), RINGMQ_INVALID_ARGUMENT, "max_bytes");
    CHECK(bad == NULL);
    CHECK_ST(ringmq_topic_open(b, "bad", &bad), RINGMQ_NOT_FOUND);
    OK(ringmq_broker_close(b, 0));
    CHECK_ST(ringmq_sub_unsubscribe(g), RINGMQ_CLOSED);
    ringmq_topic_release(t);
    ringmq_broker_free(b);

    /* Without a data_dir, a durable topic is refused. */
    b = new_broker(1);
    durable_options(&o);
    CHECK_ERR(ringmq_topic_create(b, "d", &o, &bad), RINGMQ_INVALID_ARGUMENT, "data_dir");
    ringmq_broker_free(b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_handles_outlive_their_broker(void) {
    ringmq_broker *b = new_broker(2);
    ringmq_topic *t = new_topic(b, "orphan", 8, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *s = pull(t, "pull");
    static atomic_int calls;
    ringmq_sub *push = NULL;
    OK(ringmq_topic_subscribe(t, "push", always_fail, &calls, NULL, &push));
    OK(ringmq_topic_publish(t, "x", 1, 0, -1, NULL));
    ringmq_message m;
    OK(ringmq_sub_poll(s, 1000, &m)); /* held, unsettled */
    ringmq_broker_free(b);      /* closes without a drain */
    int after_free = atomic_load(&calls);
    sleep_ms(20);
    CHECK_EQ_U64(atomic_load(&calls), after_free); /* no handler runs any more */
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_CLOSED);
    ringmq_sub_stats ss = sub_stats(s);
    CHECK_EQ_U64(ss.delivered, 1);
    ringmq_status us = ringmq_sub_unsubscribe(push);
    CHECK(us == RINGMQ_OK || us == RINGMQ_CLOSED);
    us = ringmq_sub_unsubscribe(s);
    CHECK(us == RINGMQ_OK || us == RINGMQ_CLOSED);
    CHECK_ST(ringmq_topic_publish(t, "x", 1, 0, 0, NULL), RINGMQ_CLOSED);
    ringmq_topic_release(t);
}

/* ---- messages v2: headers, msg_id, delay, ttl, pause, outcomes --------- */

#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static const uint8_t BIN_VALUE[3] = {0x00, 0xff, 0x7f};

/* The headers every v2 test publishes: a W3C traceparent, a binary value,
 * an empty value (NULL pointer, length 0) and a repeated name. */
static const ringmq_header TEST_HEADERS[5] = {
    {"traceparent", 11, (const uint8_t *)TRACEPARENT, sizeof TRACEPARENT - 1},
    {"bin", 3, BIN_VALUE, sizeof BIN_VALUE},
    {"empty", 5, NULL, 0},
    {"a", 1, (const uint8_t *)"1", 1},
    {"a", 1, (const uint8_t *)"2", 1},
};

static ringmq_publish_options with_headers(const char *msg_id) {
    ringmq_publish_options po;
    ringmq_publish_options_default(&po);
    po.key = 9;
    po.headers = TEST_HEADERS;
    po.header_count = 5;
    if (msg_id != NULL) {
        po.msg_id = (const uint8_t *)msg_id;
        po.msg_id_len = strlen(msg_id);
    }
    return po;
}

/* How many ways `m` differs from what with_headers(msg_id) published. */
static int header_mismatches(const ringmq_message *m, const char *msg_id) {
    int bad = 0;
    if (m->header_count != 5) return 100;
    for (uint32_t i = 0; i < 5; i++) {
        const char *name = NULL;
        const uint8_t *value = NULL;
        size_t name_len = 99, value_len = 99;
        if (ringmq_message_header(m, i, &name, &name_len, &value, &value_len) != RINGMQ_OK) {
            bad++;
            continue;
        }
        const ringmq_header *want = &TEST_HEADERS[i];
        if (name_len != want->name_len || memcmp(name, want->name, name_len) != 0) bad++;
        if (value_len != want->value_len || value == NULL ||
            (value_len > 0 && memcmp(value, want->value, value_len) != 0))
            bad++;
    }
    const uint8_t *v = NULL;
    size_t vl = 0;
    /* First match of a repeated name; the traceparent untouched. */
    if (ringmq_message_header_get(m, "a", 1, &v, &vl) != RINGMQ_OK || vl != 1 || v[0] != '1') bad++;
    if (ringmq_message_header_get(m, "traceparent", 11, &v, &vl) != RINGMQ_OK ||
        vl != strlen(TRACEPARENT) || memcmp(v, TRACEPARENT, vl) != 0)
        bad++;
    if (ringmq_message_header_get(m, "empty", 5, &v, &vl) != RINGMQ_OK || vl != 0) bad++;
    if (ringmq_message_header_get(m, "missing", 7, &v, &vl) != RINGMQ_NOT_FOUND) bad++;
    if (ringmq_message_header_get(m, "A", 1, NULL, NULL) != RINGMQ_NOT_FOUND) bad++;
    if (ringmq_message_header(m, 5, NULL, NULL, NULL, NULL) != RINGMQ_NOT_FOUND) bad++;
    if (msg_id == NULL) {
        if (m->msg_id != NULL || m->msg_id_len != 0) bad++;
    } else if (m->msg_id == NULL || m->msg_id_len != strlen(msg_id) ||
               memcmp(m->msg_id, msg_id, m->msg_id_len) != 0) {
        bad++;
    }
    return bad;
}

typedef struct {
    atomic_int calls;
    atomic_int bad;
    atomic_int plain; /* calls for a message without headers */
} header_seen;

static int32_t check_headers_handler(const ringmq_message *m, void *user_data) {
    header_seen *s = user_data;
    if (m->len == 5 && memcmp(m->data, "plain", 5) == 0) {
        if (m->header_count != 0 || m->msg_id != NULL ||
            ringmq_message_header(m, 0, NULL, NULL, NULL, NULL) != RINGMQ_NOT_FOUND)
            atomic_fetch_add(&s->bad, 1);
        atomic_fetch_add(&s->plain, 1);
        return 0;
    }
    atomic_fetch_add(&s->bad, header_mismatches(m, "order-42"));
    /* A copy of the struct reads the same during the call. */
    ringmq_message copy = *m;
    atomic_fetch_add(&s->bad, header_mismatches(&copy, "order-42"));
    atomic_fetch_add(&s->calls, 1);
    return 0;
}

static void test_headers_round_trip_pull_push_and_dlq(void) {
    ringmq_broker *b = new_broker(2);
    ringmq_topic *t = new_topic(b, "traced", 64, RINGMQ_OVERFLOW_BLOCK);
    ringmq_topic *dlq = NULL;
    OK(ringmq_topic_open(b, "traced.dlq", &dlq));
    ringmq_sub *dead = pull(dlq, "dead");
    ringmq_sub *work = pull(t, "work");
    static header_seen seen;
    memset(&seen, 0, sizeof seen);
    ringmq_sub *push = NULL;
    OK(ringmq_topic_subscribe(t, "push", check_headers_handler, &seen, NULL, &push));

    ringmq_publish_options po = with_headers("order-42");
    uint64_t id = 999;
    OK(ringmq_topic_publish_ex(t, "payload", 7, &po, &id));
    CHECK_EQ_U64(id, 0);
    OK(ringmq_topic_publish_ex(t, "plain", 5, NULL, &id)); /* NULL options: plain */
    CHECK_EQ_U64(id, 1);

    /* Pulled: every header, in order, and the msg_id. */
    ringmq_message m = poll_text(work, "payload");
    CHECK_EQ_U64(m.key, 9);
    CHECK_EQ_U64(header_mismatches(&m, "order-42"), 0);
    ringmq_message p = poll_text(work, "plain");
    CHECK(p.header_count == 0 && p.msg_id == NULL && p.msg_id_len == 0);
    CHECK_ERR(ringmq_message_header(&p, 0, NULL, NULL, NULL, NULL), RINGMQ_NOT_FOUND, "no header at index 0");
    OK(ringmq_sub_ack(work, p.delivery_tag));

    /* Push: the same, during the call. */
    for (int waited = 0; waited < 10000 && (atomic_load(&seen.calls) < 1 || atomic_load(&seen.plain) < 1);
         waited += 2)
        sleep_ms(2);
    CHECK_EQ_U64(atomic_load(&seen.calls), 1);
    CHECK_EQ_U64(atomic_load(&seen.plain), 1);
    CHECK_EQ_U64(atomic_load(&seen.bad), 0);

    /* Dead-lettered: the headers and msg_id go along. */
    OK(ringmq_sub_term(work, m.delivery_tag));
    ringmq_message d = poll_text(dead, "payload");
    CHECK_EQ_U64(d.id, 0);
    CHECK(same_text(d.dead_letter_reason, "termed"));
    CHECK_EQ_U64(header_mismatches(&d, "order-42"), 0);
    OK(ringmq_sub_ack(dead, d.delivery_tag));

    /* poll_batch fills them too, and a retry from the store keeps them. */
    po = with_headers(NULL);
    OK(ringmq_topic_publish_ex(t, "b1", 2, &po, NULL));
    OK(ringmq_topic_publish_ex(t, "b2", 2, &po, NULL));
    ringmq_message ms[2];
    size_t got = 0, n = 0;
    while (got < 2 && ringmq_sub_poll_batch(work, 2 - got, 5000, ms + got, &n) == RINGMQ_OK) got += n;
    CHECK_EQ_U64(got, 2);
    for (size_t i = 0; i < got; i++) {
        CHECK_EQ_U64(header_mismatches(&ms[i], NULL), 0);
        OK(ringmq_sub_nack(work, ms[i].delivery_tag, 1));
    }
    for (int i = 0; i < 2; i++) {
        OK(ringmq_sub_poll(work, 5000, &m));
        CHECK_EQ_U64(m.attempt, 2);
        CHECK_EQ_U64(header_mismatches(&m, NULL), 0);
        OK(ringmq_sub_ack(work, m.delivery_tag));
    }

    OK(ringmq_sub_unsubscribe(push));
    OK(ringmq_sub_unsubscribe(work));
    OK(ringmq_sub_unsubscribe(dead));
    ringmq_topic_release(dlq);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static void test_msg_id_dedupe_answers_the_first_id(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "dedupe", 16, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *s = pull(t, "g");
    ringmq_publish_options po;
    ringmq_publish_options_default(&po);
    po.msg_id = (const uint8_t *)"pay-1";
    po.msg_id_len = 5;
    uint64_t first = 99, again = 99, other = 99;
    OK(ringmq_topic_publish_ex(t, "one", 3, &po, &first));
    OK(ringmq_topic_publish_ex(t, "one again", 9, &po, &again));
    CHECK_EQ_U64(again, first);
    po.msg_id = (const uint8_t *)"pay-2";
    OK(ringmq_topic_publish_ex(t, "two", 3, &po, &other));
    CHECK(other != first);
    ringmq_topic_stats ts = topic_stats(t);
    CHECK_EQ_U64(ts.duplicates, 1);
    CHECK_EQ_U64(ts.published, 2);
    ringmq_message m = poll_text(s, "one");
    CHECK_EQ_U64(m.id, first);
    CHECK(m.msg_id_len == 5 && memcmp(m.msg_id, "pay-1", 5) == 0);
    CHECK_EQ_U64(m.header_count, 0);
    OK(ringmq_sub_ack(s, m.delivery_tag));
    m = poll_text(s, "two");
    CHECK_EQ_U64(m.id, other);
    OK(ringmq_sub_ack(s, m.delivery_tag));
    CHECK_ST(ringmq_sub_poll(s, 50, &m), RINGMQ_EMPTY);
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* ringmq_sub_why_idle into a buffer; "" when it failed. */
static const char *why_idle(const ringmq_sub *s, char *buf, size_t cap) {
    size_t needed = 0;
    buf[0] = '\0';
    ringmq_status st = ringmq_sub_why_idle(s, buf, cap, &needed);
    CHECK_ST(st, RINGMQ_OK);
    if (st == RINGMQ_OK) CHECK_EQ_U64(strlen(buf) + 1, needed);
    return buf;
}

static void test_delay_holds_a_message_back(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "later", 16, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *s = pull(t, "g");
    ringmq_publish_options po;
    ringmq_publish_options_default(&po);
    po.delay_ms = 300;
    uint64_t id = 99;
    uint64_t start = now_ms();
    OK(ringmq_topic_publish_ex(t, "soon", 4, &po, &id));
    ringmq_message m;
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_EMPTY);
    CHECK_EQ_U64(topic_stats(t).delayed, 1);
    char buf[256];
    CHECK(strstr(why_idle(s, buf, sizeof buf), "delayed") != NULL);
    m = poll_text(s, "soon");
    uint64_t waited = now_ms() - start;
    CHECK(waited >= 250);
    CHECK(waited < 2000);
    CHECK_EQ_U64(m.id, id);
    OK(ringmq_sub_ack(s, m.delivery_tag));
    CHECK_EQ_U64(topic_stats(t).delayed, 0);
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static void test_ttl_expires_to_the_dlq(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "perishable", 16, RINGMQ_OVERFLOW_BLOCK);
    ringmq_topic *dlq = NULL;
    OK(ringmq_topic_open(b, "perishable.dlq", &dlq));
    ringmq_sub *dead = pull(dlq, "dead");
    ringmq_sub *s = pull(t, "g");
    ringmq_publish_options po = with_headers(NULL);
    po.ttl_ms = 30;
    uint64_t short_id = 99, fresh_id = 99;
    OK(ringmq_topic_publish_ex(t, "stale", 5, &po, &short_id));
    sleep_ms(120);
    OK(ringmq_topic_publish_ex(t, "fresh", 5, NULL, &fresh_id));
    ringmq_message m = poll_text(s, "fresh"); /* the expired one is passed over */
    CHECK_EQ_U64(m.id, fresh_id);
    OK(ringmq_sub_ack(s, m.delivery_tag));
    ringmq_message d = poll_text(dead, "stale");
    CHECK_EQ_U64(d.id, short_id);
    CHECK(same_text(d.dead_letter_reason, "expired"));
    CHECK(same_text(d.dead_letter_group, "g"));
    CHECK_EQ_U64(header_mismatches(&d, NULL), 0);
    OK(ringmq_sub_ack(dead, d.delivery_tag));
    ringmq_sub_stats ss = sub_stats(s);
    CHECK_EQ_U64(ss.expired_messages, 1);
    CHECK_EQ_U64(ss.delivered, 1);
    OK(ringmq_sub_unsubscribe(s));
    OK(ringmq_sub_unsubscribe(dead));
    ringmq_topic_release(dlq);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static int32_t count_calls(const ringmq_message *m, void *user_data) {
    (void)m;
    atomic_fetch_add((atomic_int *)user_data, 1);
    return 0;
}

static void test_pause_resume_and_why_idle(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic *t = new_topic(b, "pausable", 16, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *s = pull(t, "g");
    char buf[256];
    size_t needed = 0;

    /* The size protocol of ringmq_broker_metrics_text. */
    CHECK_ST(ringmq_sub_why_idle(s, NULL, 0, &needed), RINGMQ_TOO_LARGE);
    CHECK_EQ_U64(needed, strlen("nothing published") + 1);
    memset(buf, 'x', sizeof buf);
    CHECK_ERR(ringmq_sub_why_idle(s, buf, 5, &needed), RINGMQ_TOO_LARGE, "needs 18 bytes");
    CHECK(buf[0] == 'x'); /* untouched */
    CHECK(strcmp(why_idle(s, buf, sizeof buf), "nothing published") == 0);

    OK(ringmq_topic_publish(t, "x", 1, 0, -1, NULL));
    CHECK(strcmp(why_idle(s, buf, sizeof buf), "") == 0); /* a message is there */
    OK(ringmq_sub_pause(s));
    OK(ringmq_sub_pause(s)); /* idempotent */
    CHECK(strstr(why_idle(s, buf, sizeof buf), "paused") != NULL);
    CHECK_EQ_U64(sub_stats(s).paused, 1);
    ringmq_message m;
    CHECK_ST(ringmq_sub_poll(s, 50, &m), RINGMQ_EMPTY);
    OK(ringmq_sub_resume(s));
    CHECK_EQ_U64(sub_stats(s).paused, 0);
    m = poll_text(s, "x");
    OK(ringmq_sub_ack(s, m.delivery_tag));

    /* A push subscription: its handler is not called while paused. */
    static atomic_int calls;
    atomic_store(&calls, 0);
    ringmq_sub *push = NULL;
    OK(ringmq_topic_subscribe(t, "push", count_calls, &calls, NULL, &push));
    OK(ringmq_sub_pause(push));
    OK(ringmq_topic_publish(t, "y", 1, 0, -1, NULL));
    sleep_ms(100);
    CHECK_EQ_U64(atomic_load(&calls), 0);
    CHECK(strstr(why_idle(push, buf, sizeof buf), "paused") != NULL);
    OK(ringmq_sub_resume(push));
    for (int waited = 0; waited < 5000 && atomic_load(&calls) < 1; waited += 2) sleep_ms(2);
    CHECK_EQ_U64(atomic_load(&calls), 1);
    m = poll_text(s, "y");
    OK(ringmq_sub_ack(s, m.delivery_tag));

    /* After close: CLOSED, and the reason says so. */
    OK(ringmq_broker_close(b, 100));
    CHECK_ST(ringmq_sub_pause(s), RINGMQ_CLOSED);
    CHECK_ST(ringmq_sub_resume(push), RINGMQ_CLOSED);
    CHECK(strcmp(why_idle(s, buf, sizeof buf), "closed") == 0);
    CHECK_ST(ringmq_sub_unsubscribe(push), RINGMQ_CLOSED);
    CHECK_ST(ringmq_sub_unsubscribe(s), RINGMQ_CLOSED);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* What a ringmq_handler_ex did: attempts and times per payload. */
typedef struct {
    atomic_int term_calls, retry_calls, nack_calls, odd_calls, bad;
    atomic_uint_fast64_t retry_first_ms, retry_second_ms;
} outcome_seen;

static int32_t outcome_handler(const ringmq_message *m, void *user_data, uint32_t *retry_after_ms) {
    outcome_seen *s = user_data;
    if (retry_after_ms == NULL || *retry_after_ms != 0) atomic_fetch_add(&s->bad, 1);
    if (m->len == 4 && memcmp(m->data, "term", 4) == 0) {
        atomic_fetch_add(&s->term_calls, 1);
        return RINGMQ_HANDLER_TERM;
    }
    if (m->len == 5 && memcmp(m->data, "retry", 5) == 0) {
        atomic_fetch_add(&s->retry_calls, 1);
        if (m->attempt == 1) {
            atomic_store(&s->retry_first_ms, now_ms());
            *retry_after_ms = 200;
            return RINGMQ_HANDLER_RETRY_AFTER;
        }
        atomic_store(&s->retry_second_ms, now_ms());
        return RINGMQ_HANDLER_ACK;
    }
    if (m->len == 4 && memcmp(m->data, "nack", 4) == 0) {
        atomic_fetch_add(&s->nack_calls, 1);
        return RINGMQ_HANDLER_NACK;
    }
    atomic_fetch_add(&s->odd_calls, 1);
    return 77;
}

static void test_handler_ex_outcomes(void) {
    ringmq_broker *b = new_broker(2);
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.max_attempts = 2;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 2;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "outcomes", &o, &t));
    ringmq_topic *dlq = NULL;
    OK(ringmq_topic_open(b, "outcomes.dlq", &dlq));
    ringmq_sub *dead = pull(dlq, "dead");
    static outcome_seen seen;
    memset(&seen, 0, sizeof seen);
    ringmq_sub *h = NULL;
    OK(ringmq_topic_subscribe_ex(t, "h", outcome_handler, &seen, NULL, &h));
    OK(ringmq_topic_publish(t, "term", 4, 0, -1, NULL));
    OK(ringmq_topic_publish(t, "retry", 5, 0, -1, NULL));
    OK(ringmq_topic_publish(t, "nack", 4, 0, -1, NULL));
    OK(ringmq_topic_publish(t, "odd", 3, 0, -1, NULL));

    int found = 0;
    for (int i = 0; i < 3; i++) {
        ringmq_message d;
        OK(ringmq_sub_poll(dead, 5000, &d));
        if (d.len == 4 && memcmp(d.data, "term", 4) == 0) {
            CHECK_EQ_U64(d.attempt, 1); /* straight there */
            CHECK(same_text(d.dead_letter_reason, "termed"));
            found |= 1;
        } else if (d.len == 4 && memcmp(d.data, "nack", 4) == 0) {
            CHECK_EQ_U64(d.attempt, 2);
            CHECK(same_text(d.dead_letter_reason, "failed 2 deliveries (max_attempts 2): nacked"));
            found |= 2;
        } else if (d.len == 3 && memcmp(d.data, "odd", 3) == 0) {
            CHECK_EQ_U64(d.attempt, 2);
            CHECK(same_text(d.dead_letter_reason, "failed 2 deliveries (max_attempts 2): handler returned 77"));
            found |= 4;
        }
        CHECK(same_text(d.dead_letter_group, "h"));
        OK(ringmq_sub_ack(dead, d.delivery_tag));
    }
    CHECK_EQ_U64(found, 7);
    for (int waited = 0; waited < 5000 && atomic_load(&seen.retry_calls) < 2; waited += 2) sleep_ms(2);
    CHECK_EQ_U64(atomic_load(&seen.term_calls), 1);
    CHECK_EQ_U64(atomic_load(&seen.retry_calls), 2);
    CHECK_EQ_U64(atomic_load(&seen.nack_calls), 2);
    CHECK_EQ_U64(atomic_load(&seen.odd_calls), 2);
    CHECK_EQ_U64(atomic_load(&seen.bad), 0);
    /* The retry came after the handler's delay, not the 1 ms backoff. */
    CHECK(atomic_load(&seen.retry_second_ms) >= atomic_load(&seen.retry_first_ms) + 150);
    ringmq_sub_stats ss = push_stats_after(h, 1, 5, 3);
    CHECK_EQ_U64(ss.acked, 1);
    CHECK_EQ_U64(ss.dead_lettered, 3);
    CHECK_EQ_U64(ss.nacked, 5); /* retry once, nack and 77 twice each */
    CHECK_EQ_U64(ss.termed, 1);
    CHECK_ST(ringmq_sub_poll(dead, 50, &(ringmq_message){0}), RINGMQ_EMPTY);

    OK(ringmq_sub_unsubscribe(h));
    OK(ringmq_sub_unsubscribe(dead));
    ringmq_topic_release(dlq);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* The failures an error callback heard. */
typedef struct {
    pthread_mutex_t lock;
    int n;
    struct {
        char topic[32], group[32], error[96];
        uint64_t id;
        uint32_t attempt;
        bool dead_lettered;
    } calls[8];
    void *self;
    int bad;
} failures_heard;

static void on_failure(const char *topic, const char *group, uint64_t id, uint32_t attempt,
                       const char *error, bool dead_lettered, void *user_data) {
    failures_heard *f = user_data;
    pthread_mutex_lock(&f->lock);
    if (f->self != user_data || topic == NULL || group == NULL || error == NULL) {
        f->bad++;
    } else if (f->n < 8) {
        snprintf(f->calls[f->n].topic, sizeof f->calls[0].topic, "%s", topic);
        snprintf(f->calls[f->n].group, sizeof f->calls[0].group, "%s", group);
        snprintf(f->calls[f->n].error, sizeof f->calls[0].error, "%s", error);
        f->calls[f->n].id = id;
        f->calls[f->n].attempt = attempt;
        f->calls[f->n].dead_lettered = dead_lettered;
        f->n++;
    }
    pthread_mutex_unlock(&f->lock);
}

static int heard(failures_heard *f) {
    pthread_mutex_lock(&f->lock);
    int n = f->n;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static int32_t term_poison_nack_rest(const ringmq_message *m, void *user_data, uint32_t *retry_after_ms) {
    (void)user_data;
    (void)retry_after_ms;
    return m->len == 6 && memcmp(m->data, "poison", 6) == 0 ? RINGMQ_HANDLER_TERM : RINGMQ_HANDLER_NACK;
}

static void test_error_callback_hears_failures(void) {
    ringmq_broker *b = new_broker(1);
    static failures_heard f;
    memset(&f, 0, sizeof f);
    pthread_mutex_init(&f.lock, NULL);
    f.self = &f;
    OK(ringmq_broker_set_error_callback(b, on_failure, &f));
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.max_attempts = 2;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 2;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "failing", &o, &t));
    ringmq_sub *h = NULL;
    OK(ringmq_topic_subscribe_ex(t, "worker", term_poison_nack_rest, NULL, NULL, &h));
    uint64_t poison = 0, flaky = 0;
    OK(ringmq_topic_publish(t, "poison", 6, 0, -1, &poison));
    for (int waited = 0; waited < 5000 && heard(&f) < 1; waited += 2) sleep_ms(2);
    OK(ringmq_topic_publish(t, "flaky", 5, 0, -1, &flaky));
    for (int waited = 0; waited < 5000 && heard(&f) < 3; waited += 2) sleep_ms(2);
    CHECK_EQ_U64(heard(&f), 3);
    CHECK_EQ_U64(f.bad, 0);
    if (heard(&f) == 3) {
        CHECK(strcmp(f.calls[0].topic, "failing") == 0);
        CHECK(strcmp(f.calls[0].group, "worker") == 0);
        CHECK(strcmp(f.calls[0].error, "termed") == 0);
        CHECK_EQ_U64(f.calls[0].id, poison);
        CHECK_EQ_U64(f.calls[0].attempt, 1);
        CHECK(f.calls[0].dead_lettered);
        CHECK_EQ_U64(f.calls[1].id, flaky);
        CHECK_EQ_U64(f.calls[1].attempt, 1);
        CHECK(strcmp(f.calls[1].error, "nacked") == 0);
        CHECK(!f.calls[1].dead_lettered); /* retried */
        CHECK_EQ_U64(f.calls[2].id, flaky);
        CHECK_EQ_U64(f.calls[2].attempt, 2);
        CHECK(f.calls[2].dead_lettered); /* the last attempt */
    }

    /* Removed: later failures are not reported. */
    OK(ringmq_broker_set_error_callback(b, NULL, NULL));
    OK(ringmq_topic_publish(t, "poison", 6, 0, -1, NULL));
    ringmq_sub_stats ss = push_stats_after(h, 0, 2, 3);
    CHECK_EQ_U64(ss.dead_lettered, 3);
    CHECK_EQ_U64(ss.termed, 2);
    CHECK_EQ_U64(heard(&f), 3);

    OK(ringmq_sub_unsubscribe(h));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
    pthread_mutex_destroy(&f.lock);
}

static void test_v2_bad_input(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.slot_size = 8;
    o.max_header_bytes = 32;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "bad2", &o, &t));
    ringmq_sub *s = pull(t, "g");
    ringmq_sub *sx = (ringmq_sub *)1;
    ringmq_publish_options po;
    uint64_t id = 12345;

    ringmq_publish_options_default(NULL); /* does nothing */
    memset(&po, 0xff, sizeof po);
    ringmq_publish_options_default(&po);
    CHECK(po.key == 0 && po.timeout_ms == -1 && po.headers == NULL && po.header_count == 0 &&
          po.msg_id == NULL && po.msg_id_len == 0 && po.delay_ms == 0 && po.ttl_ms == 0);

    CHECK_ERR(ringmq_topic_publish_ex(NULL, "a", 1, NULL, &id), RINGMQ_INVALID_ARGUMENT, "t is NULL");
    CHECK_ERR(ringmq_topic_publish_ex(t, NULL, 3, NULL, &id), RINGMQ_INVALID_ARGUMENT, "data");
    CHECK_ERR(ringmq_topic_publish_ex(t, "123456789", 9, NULL, &id), RINGMQ_TOO_LARGE, "slot_size 8");

    /* Headers: NULL array, NULL name or value with a length, bad names. */
    po.header_count = 2;
    CHECK_ERR(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_INVALID_ARGUMENT, "headers (with header_count 2) is NULL");
    ringmq_header h[2] = {{"ok", 2, (const uint8_t *)"v", 1}, {NULL, 3, NULL, 0}};
    po.headers = h;
    CHECK_ERR(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_INVALID_ARGUMENT, "headers[1].name");
    h[1] = (ringmq_header){"x", 1, NULL, 4};
    CHECK_ERR(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_INVALID_ARGUMENT, "headers[1].value");
    h[1] = (ringmq_header){"caf\xc3", 4, NULL, 0};
    CHECK_ERR(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_INVALID_ARGUMENT, "headers[1].name is not valid UTF-8");
    h[1] = (ringmq_header){"", 0, NULL, 0};
    CHECK_ERR(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_INVALID_ARGUMENT, "empty name");
    h[1] = (ringmq_header){"a\nb", 3, NULL, 0};
    CHECK_ERR(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_INVALID_ARGUMENT, "control character");
    /* Over max_header_bytes 32: 2 + 1 + 4 + 1 + 30 + 4 = 42. */
    static const uint8_t big[30] = {0};
    h[1] = (ringmq_header){"b", 1, big, sizeof big};
    CHECK_ERR(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_TOO_LARGE, "max_header_bytes");
    po.header_count = 100000; /* refused before the array is read */
    CHECK_ERR(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_TOO_LARGE, "header_count 100000");
    ringmq_publish_options_default(&po);

    /* msg_id: NULL with a length, over 128 bytes. */
    po.msg_id_len = 5;
    CHECK_ERR(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_INVALID_ARGUMENT, "msg_id");
    static const uint8_t long_id[129] = {1};
    po.msg_id = long_id;
    po.msg_id_len = 129;
    CHECK_ERR(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_TOO_LARGE, "msg_id is 129 bytes");
    ringmq_publish_options_default(&po);
    po.timeout_ms = -2;
    CHECK_ERR(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_INVALID_ARGUMENT, "timeout_ms -2");
    ringmq_publish_options_default(&po);
    po.delay_ms = UINT64_MAX;
    CHECK_ST(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_INVALID_ARGUMENT);
    ringmq_publish_options_default(&po);
    po.ttl_ms = UINT64_MAX;
    CHECK_ST(ringmq_topic_publish_ex(t, "a", 1, &po, &id), RINGMQ_INVALID_ARGUMENT);
    CHECK_EQ_U64(id, 12345); /* never written on failure */

    /* Reading headers. */
    CHECK_ERR(ringmq_message_header(NULL, 0, NULL, NULL, NULL, NULL), RINGMQ_INVALID_ARGUMENT, "m is NULL");
    CHECK_ERR(ringmq_message_header_get(NULL, "a", 1, NULL, NULL), RINGMQ_INVALID_ARGUMENT, "m is NULL");
    ringmq_message zero;
    memset(&zero, 0, sizeof zero);
    CHECK_ERR(ringmq_message_header(&zero, 0, NULL, NULL, NULL, NULL), RINGMQ_NOT_FOUND, "has 0");
    CHECK_ERR(ringmq_message_header_get(&zero, NULL, 3, NULL, NULL), RINGMQ_INVALID_ARGUMENT, "name");
    CHECK_ERR(ringmq_message_header_get(&zero, "a", 1, NULL, NULL), RINGMQ_NOT_FOUND, "no header named \"a\"");
    po = with_headers(NULL);
    po.header_count = 1;
    h[0] = (ringmq_header){"k", 1, (const uint8_t *)"v", 1};
    po.headers = h;
    OK(ringmq_topic_publish_ex(t, "ok", 2, &po, &id));
    ringmq_message m;
    OK(ringmq_sub_poll(s, 1000, &m));
    const char *name = (const char *)1;
    size_t name_len = 77;
    CHECK_ERR(ringmq_message_header(&m, 1, &name, &name_len, NULL, NULL), RINGMQ_NOT_FOUND, "no header at index 1");
    CHECK_ST(ringmq_message_header(&m, UINT32_MAX, &name, &name_len, NULL, NULL), RINGMQ_NOT_FOUND);
    CHECK(name == (const char *)1 && name_len == 77); /* untouched */
    CHECK_ST(ringmq_message_header_get(&m, "k\xff", 2, NULL, NULL), RINGMQ_NOT_FOUND);
    OK(ringmq_message_header(&m, 0, &name, &name_len, NULL, NULL));
    CHECK(name_len == 1 && name[0] == 'k');
    OK(ringmq_sub_ack(s, m.delivery_tag));

    /* Subscriptions. */
    CHECK_ERR(ringmq_sub_pause(NULL), RINGMQ_INVALID_ARGUMENT, "s is NULL");
    CHECK_ERR(ringmq_sub_resume(NULL), RINGMQ_INVALID_ARGUMENT, "s is NULL");
    char buf[64];
    size_t needed = 0;
    CHECK_ERR(ringmq_sub_why_idle(NULL, buf, sizeof buf, &needed), RINGMQ_INVALID_ARGUMENT, "s is NULL");
    CHECK_ERR(ringmq_sub_why_idle(s, buf, sizeof buf, NULL), RINGMQ_INVALID_ARGUMENT, "needed is NULL");
    CHECK_ERR(ringmq_sub_why_idle(s, NULL, 10, &needed), RINGMQ_INVALID_ARGUMENT, "buf is NULL");
    CHECK_ERR(ringmq_topic_subscribe_ex(t, "x", NULL, NULL, NULL, &sx), RINGMQ_INVALID_ARGUMENT, "h is NULL");
    CHECK(sx == NULL);
    CHECK_ST(ringmq_topic_subscribe_ex(NULL, "x", outcome_handler, NULL, NULL, &sx), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_topic_subscribe_ex(t, "g", outcome_handler, NULL, NULL, &sx), RINGMQ_EXISTS);
    CHECK_ST(ringmq_topic_subscribe_ex(t, "", outcome_handler, NULL, NULL, &sx), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_topic_subscribe_ex(t, "x", outcome_handler, NULL, NULL, NULL), RINGMQ_INVALID_ARGUMENT);
    CHECK_ERR(ringmq_broker_set_error_callback(NULL, on_failure, NULL), RINGMQ_INVALID_ARGUMENT, "b is NULL");

    /* Nothing above changed anything. */
    ringmq_topic_stats ts = topic_stats(t);
    CHECK_EQ_U64(ts.published, 1);
    CHECK_EQ_U64(ts.delayed, 0);
    CHECK_EQ_U64(ts.duplicates, 0);
    CHECK_EQ_U64(ts.subscriptions, 1);
    CHECK_EQ_U64(sub_stats(s).paused, 0);
    CHECK_ST(ringmq_sub_poll(s, 0, &m), RINGMQ_EMPTY);

    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* ---- unsubscribe, stale tags, fork ----------------------------------- */

#define UNSUB_ROUNDS 100
#define UNSUB_MAGIC 0x5eed5eedu

/* One round's user_data, on the heap: freed as soon as ringmq_sub_unsubscribe
 * returns, so a handler still running (or started) afterwards reads freed
 * memory (ASan reports it; the magic or round check catches it plainly). */
typedef struct {
    uint32_t magic;
    int round;
    atomic_int calls;
} unsub_data;

/* g_unsubscribed[r]: ringmq_sub_unsubscribe of round r has returned. */
static atomic_int g_unsubscribed[UNSUB_ROUNDS];
static atomic_int g_late_calls;

static int32_t ordered_touching_handler(const ringmq_message *m, void *user_data) {
    (void)m;
    unsub_data *d = user_data;
    int r = d->round;
    if (d->magic != UNSUB_MAGIC || r < 0 || r >= UNSUB_ROUNDS || atomic_load(&g_unsubscribed[r]))
        atomic_fetch_add(&g_late_calls, 1);
    if (atomic_fetch_add(&d->calls, 1) % 16 == 0) sleep_ms(1); /* widen the window */
    if (d->magic != UNSUB_MAGIC) atomic_fetch_add(&g_late_calls, 1);
    return 0;
}

typedef struct {
    ringmq_topic *t;
    atomic_int stop;
    int failures;
    uint64_t published;
} unsub_publisher;

static void *unsub_publish_loop(void *p) {
    unsub_publisher *a = p;
    for (uint64_t i = 0; !atomic_load(&a->stop); i++) {
        ringmq_status st = ringmq_topic_publish(a->t, &i, sizeof i, i % 7, 100, NULL);
        if (st == RINGMQ_OK) a->published++;
        else if (st != RINGMQ_TIMEOUT) a->failures++;
    }
    return NULL;
}

/* An ordered_by_key push subscription, unsubscribed while a publisher
 * keeps it busy: once ringmq_sub_unsubscribe returns no handler call of it is
 * running or starts, so its user_data may be freed at once. */
static void test_ordered_handler_never_runs_after_unsubscribe(void) {
    ringmq_broker *b = new_broker(4);
    ringmq_topic *t = new_topic(b, "ordered-unsub", 1024, RINGMQ_OVERFLOW_BLOCK);
    unsub_publisher pub = {.t = t};
    atomic_store(&pub.stop, 0);
    atomic_store(&g_late_calls, 0);
    for (int r = 0; r < UNSUB_ROUNDS; r++) atomic_store(&g_unsubscribed[r], 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, unsub_publish_loop, &pub) == 0);
    uint64_t calls = 0;
    for (int r = 0; r < UNSUB_ROUNDS; r++) {
        unsub_data *d = malloc(sizeof *d);
        CHECK(d != NULL);
        if (d == NULL) break;
        d->magic = UNSUB_MAGIC;
        d->round = r;
        atomic_store(&d->calls, 0);
        ringmq_sub_options so;
        ringmq_sub_options_default(&so);
        so.ordered_by_key = true;
        so.concurrency = 3;
        char name[32];
        snprintf(name, sizeof name, "round-%d", r);
        ringmq_sub *s = NULL;
        OK(ringmq_topic_subscribe(t, name, ordered_touching_handler, d, &so, &s));
        /* Let it get going: handlers running when the unsubscribe comes. */
        for (int waited = 0; waited < 2000 && atomic_load(&d->calls) < 1 + r % 5; waited++) sleep_ms(1);
        OK(ringmq_sub_unsubscribe(s));
        atomic_store(&g_unsubscribed[r], 1);
        calls += (uint64_t)atomic_load(&d->calls);
        d->magic = 0;
        free(d);
    }
    sleep_ms(20); /* time for a late call to show itself */
    atomic_store(&pub.stop, 1);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_EQ_U64(atomic_load(&g_late_calls), 0);
    CHECK_EQ_U64(pub.failures, 0);
    CHECK(calls >= UNSUB_ROUNDS); /* every round's handler ran */
    CHECK_EQ_U64(topic_stats(t).subscriptions, 0);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* Every way of using a stale tag; each must be refused as unknown or
 * already settled, never as "expired" (the delivery was nacked, not
 * forgotten). */
static void refuse_stale_tag(ringmq_sub *s, uint64_t stale) {
    CHECK_ERR(ringmq_sub_ack(s, stale), RINGMQ_INVALID_ARGUMENT, "already settled");
    CHECK(strstr(ringmq_last_error(), "expired") == NULL);
    CHECK_ST(ringmq_sub_nack(s, stale, 0), RINGMQ_INVALID_ARGUMENT);
    CHECK(strstr(ringmq_last_error(), "expired") == NULL);
    CHECK_ST(ringmq_sub_term(s, stale), RINGMQ_INVALID_ARGUMENT);
    CHECK(strstr(ringmq_last_error(), "expired") == NULL);
    CHECK_ST(ringmq_sub_in_progress(s, stale), RINGMQ_INVALID_ARGUMENT);
    CHECK(strstr(ringmq_last_error(), "expired") == NULL);
    CHECK_ST(ringmq_sub_ack_batch(s, &stale, 1), RINGMQ_INVALID_ARGUMENT);
    CHECK(strstr(ringmq_last_error(), "expired") == NULL);
}

/* A nacked message lives in the retry store, its old tag settled: acking,
 * nacking, terming it again or marking it in progress is refused as
 * "already settled" (not "expired") and changes nothing — neither while
 * the message waits for its retry nor once it is redelivered into the
 * same ring slot (the held redelivery keeps its payload and its tag), the
 * counters stay, and with retry_capacity 1 (one credit) the subscription
 * still takes the next message: no credit lost or given twice. */
static void test_stale_retry_store_tag_changes_nothing(void) {
    ringmq_broker *b = new_broker(1);
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.capacity = 8;
    o.retry_capacity = 1;
    o.max_attempts = 10;
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, "stale", &o, &t));
    ringmq_topic *dlq = NULL;
    OK(ringmq_topic_open(b, "stale.dlq", &dlq));
    ringmq_sub *s = pull(t, "g");
    OK(ringmq_topic_publish(t, "retried", 7, 0, -1, NULL));
    ringmq_message a = poll_text(s, "retried");
    uint64_t stale = a.delivery_tag;
    OK(ringmq_sub_nack(s, stale, 300)); /* into the retry store for 300 ms */
    ringmq_sub_stats before = sub_stats(s);
    CHECK_EQ_U64(before.waiting_retry, 1);
    CHECK_EQ_U64(before.in_flight, 0);

    /* While it waits for its retry. */
    refuse_stale_tag(s, stale);
    ringmq_sub_stats after = sub_stats(s);
    CHECK_EQ_U64(after.acked, 0);
    CHECK_EQ_U64(after.nacked, 1);
    CHECK_EQ_U64(after.termed, 0);
    CHECK_EQ_U64(after.retried, before.retried);
    CHECK_EQ_U64(after.in_flight, 0);
    CHECK_EQ_U64(after.waiting_retry, 1);

    /* Once it is redelivered, held: the stale tag does not reach it. */
    ringmq_message held = poll_text(s, "retried");
    CHECK_EQ_U64(held.attempt, 2);
    CHECK(held.delivery_tag != stale);
    refuse_stale_tag(s, stale);
    CHECK(held.len == 7 && memcmp(held.data, "retried", 7) == 0);
    after = sub_stats(s);
    CHECK_EQ_U64(after.acked, 0);
    CHECK_EQ_U64(after.nacked, 1);
    CHECK_EQ_U64(after.in_flight, 1);
    CHECK_EQ_U64(after.waiting_retry, 0);
    CHECK_EQ_U64(topic_stats(dlq).published, 0); /* the terms were refused */
    OK(ringmq_sub_in_progress(s, held.delivery_tag));
    OK(ringmq_sub_ack(s, held.delivery_tag));
    refuse_stale_tag(s, stale);

    /* The one credit is back: new messages are taken, failed and retried
     * as usual, each once. */
    for (int i = 0; i < 2; i++) {
        OK(ringmq_topic_publish(t, "next", 4, 0, -1, NULL));
        ringmq_message next = poll_text(s, "next");
        OK(ringmq_sub_nack(s, next.delivery_tag, 1));
        next = poll_text(s, "next");
        CHECK_EQ_U64(next.attempt, 2);
        OK(ringmq_sub_ack(s, next.delivery_tag));
    }
    ringmq_message none;
    CHECK_ST(ringmq_sub_poll(s, 50, &none), RINGMQ_EMPTY);
    ringmq_sub_stats end = sub_stats(s);
    CHECK_EQ_U64(end.acked, 3);
    CHECK_EQ_U64(end.nacked, 3);
    CHECK_EQ_U64(end.delivered, 6);
    CHECK_EQ_U64(end.in_flight, 0);
    CHECK_EQ_U64(end.waiting_retry, 0);
    CHECK_EQ_U64(end.dead_lettered, 0);
    CHECK_EQ_U64(topic_stats(dlq).published, 0);

    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(dlq);
    ringmq_topic_release(t);

    /* Two credits: another delivery held beside the nacked one keeps its
     * payload and its tag through the stale settles. */
    o.retry_capacity = 2;
    OK(ringmq_topic_create(b, "stale2", &o, &t));
    s = pull(t, "g");
    OK(ringmq_topic_publish(t, "retried", 7, 0, -1, NULL));
    OK(ringmq_topic_publish(t, "held-payload", 12, 0, -1, NULL));
    a = poll_text(s, "retried");
    held = poll_text(s, "held-payload");
    stale = a.delivery_tag;
    OK(ringmq_sub_nack(s, stale, 60000)); /* waits in the retry store */
    refuse_stale_tag(s, stale);
    CHECK(held.len == 12 && memcmp(held.data, "held-payload", 12) == 0);
    end = sub_stats(s);
    CHECK_EQ_U64(end.in_flight, 1);
    CHECK_EQ_U64(end.waiting_retry, 1);
    CHECK_EQ_U64(end.acked, 0);
    CHECK_EQ_U64(end.nacked, 1);
    OK(ringmq_sub_ack(s, held.delivery_tag));
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static ringmq_broker *g_inherited_broker;

/* The child of test_forked_child_gets_closed: its exit status says which
 * step failed. */
static int forked_child(ringmq_broker *pb, ringmq_topic *pt, ringmq_sub *ps) {
    ringmq_message m;
    if (ringmq_topic_publish(pt, "c", 1, 0, 1000, NULL) != RINGMQ_CLOSED) return 10;
    if (strstr(ringmq_last_error(), "parent process") == NULL) return 14;
    if (ringmq_sub_poll(ps, 1000, &m) != RINGMQ_CLOSED) return 11;
    if (ringmq_broker_close(pb, 1000) != RINGMQ_CLOSED) return 12;
    /* the inherited handles are freed without waiting for threads the
     * child does not have */
    ringmq_status st = ringmq_sub_unsubscribe(ps);
    if (st != RINGMQ_OK && st != RINGMQ_CLOSED) return 13;
    ringmq_topic_release(pt);
    /* Freeing the parent's broker here would leak it by design (it cannot
     * join threads the child does not have); kept reachable instead, so
     * that valgrind, which follows the child, finds no leak. */
    g_inherited_broker = pb;
    /* a broker of its own works */
    ringmq_broker *b = NULL;
    ringmq_topic *t = NULL;
    ringmq_sub *s = NULL;
    if (ringmq_broker_new(NULL, &b) != RINGMQ_OK) return 20;
    if (ringmq_topic_create(b, "child", NULL, &t) != RINGMQ_OK) return 21;
    if (ringmq_topic_subscribe_pull(t, "g", NULL, &s) != RINGMQ_OK) return 22;
    if (ringmq_topic_publish(t, "hi", 2, 0, 1000, NULL) != RINGMQ_OK) return 23;
    if (ringmq_sub_poll(s, 1000, &m) != RINGMQ_OK || m.len != 2 || memcmp(m.data, "hi", 2) != 0) return 24;
    if (ringmq_sub_ack(s, m.delivery_tag) != RINGMQ_OK) return 25;
    if (ringmq_sub_unsubscribe(s) != RINGMQ_OK) return 26;
    ringmq_topic_release(t);
    if (ringmq_broker_close(b, 1000) != RINGMQ_OK) return 27;
    ringmq_broker_free(b);
    return 0;
}

/* ---- named brokers shared by threads ---------------------------------- */

/* A thread that opens the named broker itself and publishes N messages
 * through its own handle, then frees that handle. */
#define SHARED_N 2000
static void *shared_publisher(void *arg) {
    int *failures = arg;
    ringmq_broker *b = NULL;
    ringmq_topic *t = NULL;
    if (ringmq_broker_open("c-shared", &b) != RINGMQ_OK ||
        ringmq_topic_open(b, "jobs", &t) != RINGMQ_OK) {
        (*failures)++;
        ringmq_broker_free(b);
        return NULL;
    }
    for (uint64_t i = 0; i < SHARED_N; i++) {
        if (ringmq_topic_publish(t, &i, sizeof i, i % 4, 5000, NULL) != RINGMQ_OK) (*failures)++;
    }
    ringmq_topic_release(t);
    ringmq_broker_free(b);
    return NULL;
}

static void test_named_broker_is_shared_by_threads(void) {
    ringmq_broker_options o;
    ringmq_broker_options_default(&o);
    CHECK(o.name == NULL);
    o.name = "c-shared";
    ringmq_broker *b = NULL;
    CHECK_ST(ringmq_broker_new(&o, &b), RINGMQ_OK);
    /* A name in use is refused and nothing is made. */
    ringmq_broker *dup = (ringmq_broker *)1;
    CHECK_ST(ringmq_broker_new(&o, &dup), RINGMQ_EXISTS);
    CHECK(dup == NULL);
    /* Unknown and bad names. */
    ringmq_broker *h = (ringmq_broker *)1;
    CHECK_ST(ringmq_broker_open("no-such-broker", &h), RINGMQ_NOT_FOUND);
    CHECK(h == NULL);
    CHECK_ST(ringmq_broker_open("", &h), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_broker_open(NULL, &h), RINGMQ_INVALID_ARGUMENT);
    CHECK_ST(ringmq_broker_open("c-shared", NULL), RINGMQ_INVALID_ARGUMENT);
    o.name = "bad\nname";
    CHECK_ST(ringmq_broker_new(&o, &dup), RINGMQ_INVALID_ARGUMENT);

    ringmq_topic *t = NULL;
    ringmq_sub *s = NULL;
    CHECK_ST(ringmq_topic_create(b, "jobs", NULL, &t), RINGMQ_OK);
    CHECK_ST(ringmq_topic_subscribe_pull(t, "workers", NULL, &s), RINGMQ_OK);
    int failures[2] = {0, 0};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, shared_publisher, &failures[i]);
    /* Each message once, whichever handle published it. */
    static unsigned char seen[2][SHARED_N];
    memset(seen, 0, sizeof seen);
    uint64_t got = 0, twice = 0;
    while (got < 2 * SHARED_N) {
        ringmq_message m;
        ringmq_status st = ringmq_sub_poll(s, 5000, &m);
        if (st != RINGMQ_OK) {
            CHECK_ST(st, RINGMQ_OK);
            break;
        }
        uint64_t v;
        memcpy(&v, m.data, sizeof v);
        /* Two publishers send the same values: count each value twice. */
        unsigned char *c = &seen[0][v] ;
        if (*c) c = &seen[1][v];
        if (*c) twice++;
        *c = 1;
        got++;
        CHECK_ST(ringmq_sub_ack(s, m.delivery_tag), RINGMQ_OK);
    }
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK_EQ_U64(failures[0] + failures[1], 0);
    CHECK_EQ_U64(got, 2 * SHARED_N);
    CHECK_EQ_U64(twice, 0);
    /* Another handle keeps the engine: closing the first only releases it. */
    CHECK_ST(ringmq_broker_open("c-shared", &h), RINGMQ_OK);
    CHECK_ST(ringmq_broker_close(b, 1000), RINGMQ_OK);
    ringmq_topic *t2 = NULL;
    CHECK_ST(ringmq_topic_open(h, "jobs", &t2), RINGMQ_OK);
    CHECK_ST(ringmq_topic_publish(t2, "x", 1, 0, 1000, NULL), RINGMQ_OK);
    ringmq_topic_release(t2);
    ringmq_sub_unsubscribe(s);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
    /* The last handle's close stops the engine and frees the name. */
    CHECK_ST(ringmq_broker_close(h, 1000), RINGMQ_OK);
    ringmq_broker_free(h);
    CHECK_ST(ringmq_broker_open("c-shared", &h), RINGMQ_NOT_FOUND);
    o.name = "c-shared";
    CHECK_ST(ringmq_broker_new(&o, &b), RINGMQ_OK);
    ringmq_broker_free(b);
}

/* After fork() the child cannot use its parent's broker (its threads did
 * not come along): publish, poll and close answer RINGMQ_CLOSED (saying
 * the broker belongs to the parent process), with no panic and no hang,
 * its topic and subscription handles can be freed, and the child can make and
 * use a broker of its own (under valgrind, a leak in the child fails its
 * exit status).
 * The parent's broker is unharmed. */
static void test_forked_child_gets_closed(void) {
    ringmq_broker *b = new_broker(2);
    ringmq_topic *t = new_topic(b, "forked", 16, RINGMQ_OVERFLOW_BLOCK);
    ringmq_sub *s = pull(t, "g");
    OK(ringmq_topic_publish(t, "before", 6, 0, -1, NULL));
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2); /* the child's stderr, read by the parent */
        _exit(forked_child(b, t, s));
    }
    close(fds[1]);
    int status = 0;
    pid_t got = 0;
    for (uint64_t deadline = now_ms() + 20000; pid > 0;) {
        got = waitpid(pid, &status, WNOHANG);
        if (got != 0) break;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "  the forked child did not finish in 20 s\n");
            break;
        }
        sleep_ms(5);
    }
    CHECK(got == pid);
    CHECK(WIFEXITED(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "  forked child: %s %d (10-14: the parent's broker did not answer CLOSED; "
                        "20-27: a broker of its own did not work)\n",
                WIFEXITED(status) ? "exit" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    CHECK_EQ_U64(WIFEXITED(status) ? WEXITSTATUS(status) : 255, 0);
    char err[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof err - 1 && (r = read(fds[0], err + n, sizeof err - 1 - n)) > 0) n += (size_t)r;
    err[n] = '\0';
    close(fds[0]);
    if (strstr(err, "panic") != NULL) fprintf(stderr, "  the child wrote: %s\n", err);
    CHECK(strstr(err, "panic") == NULL);

    /* The parent's broker still works. */
    ringmq_message m = poll_text(s, "before");
    OK(ringmq_sub_ack(s, m.delivery_tag));
    OK(ringmq_topic_publish(t, "after", 5, 0, -1, NULL));
    m = poll_text(s, "after");
    OK(ringmq_sub_ack(s, m.delivery_tag));
    OK(ringmq_sub_unsubscribe(s));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

int main(int argc, char **argv) {
    static const test_case cases[] = {
        {"version_and_statuses", test_version_and_statuses},
        {"option_defaults", test_option_defaults},
        {"four_publishers_two_subscriptions_exact", test_four_publishers_two_subscriptions_exact},
        {"push_and_pull", test_push_and_pull},
        {"pull_retries_and_dlq", test_pull_retries_and_dlq},
        {"push_failures_reach_the_dlq", test_push_failures_reach_the_dlq},
        {"dead_letters_say_why_and_which_group", test_dead_letters_say_why_and_which_group},
        {"ack_timeout_redelivers", test_ack_timeout_redelivers},
        {"forgotten_delivery_never_wedges_producers", test_forgotten_delivery_never_wedges_producers},
        {"lossy_poll_with_every_credit_held_ends_by_its_deadline",
         test_lossy_poll_with_every_credit_held_ends_by_its_deadline},
        {"a_handler_that_unsubscribes_itself_is_not_called_again",
         test_a_handler_that_unsubscribes_itself_is_not_called_again},
        {"close_from_a_handler_while_another_close_runs", test_close_from_a_handler_while_another_close_runs},
        {"in_progress_extends_the_ack_timer", test_in_progress_extends_the_ack_timer},
        {"sub_options_start_and_lossy", test_sub_options_start_and_lossy},
        {"push_ordered_by_key_and_concurrency", test_push_ordered_by_key_and_concurrency},
        {"subscription_churn_while_publishing", test_subscription_churn_while_publishing},
        {"overflow_reject", test_overflow_reject},
        {"overflow_block", test_overflow_block},
        {"overflow_drop_oldest", test_overflow_drop_oldest},
        {"batch_publish_and_poll", test_batch_publish_and_poll},
        {"stats_and_metrics", test_stats_and_metrics},
        {"unsubscribe_releases_the_ring", test_unsubscribe_releases_the_ring},
        {"bad_input", test_bad_input},
        {"last_error_is_per_thread", test_last_error_is_per_thread},
        {"calls_after_close", test_calls_after_close},
        {"durable_topic_survives_its_broker", test_durable_topic_survives_its_broker},
        {"handles_outlive_their_broker", test_handles_outlive_their_broker},
        {"headers_round_trip_pull_push_and_dlq", test_headers_round_trip_pull_push_and_dlq},
        {"msg_id_dedupe_answers_the_first_id", test_msg_id_dedupe_answers_the_first_id},
        {"delay_holds_a_message_back", test_delay_holds_a_message_back},
        {"ttl_expires_to_the_dlq", test_ttl_expires_to_the_dlq},
        {"pause_resume_and_why_idle", test_pause_resume_and_why_idle},
        {"handler_ex_outcomes", test_handler_ex_outcomes},
        {"error_callback_hears_failures", test_error_callback_hears_failures},
        {"v2_bad_input", test_v2_bad_input},
        {"ordered_handler_never_runs_after_unsubscribe", test_ordered_handler_never_runs_after_unsubscribe},
        {"stale_retry_store_tag_changes_nothing", test_stale_retry_store_tag_changes_nothing},
        {"forked_child_gets_closed", test_forked_child_gets_closed},
        {"named_broker_is_shared_by_threads", test_named_broker_is_shared_by_threads},
    };
    return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
